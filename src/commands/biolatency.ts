// `ebpf-otel biolatency`: BCC `biolatency` semantics. Block I/O latency (issue -> completion, or
// insert -> completion with -Q) as log2 histograms aggregated in the kernel, per disk (-D) and/or
// per flag set (-F), printed once at the end or every interval.
import { Command, Option } from 'commander';
import { BpfTool, type HookChoice } from '../bpf/object.js';
import type { NativeBpfObject } from '../bpf/native.js';
import { native } from '../bpf/native.js';
import type { HistogramSet, Log2Histogram } from '../aggregate/model.js';
import { sortHistograms } from '../aggregate/log2.js';
import { ensureTracefs, preflight } from '../preflight.js';
import { UserError, errnoOf, messageOf } from '../util/errors.js';
import { wallClock } from '../util/clock.js';
import { positiveInt, seconds } from './options.js';
import {
  deviceNamer,
  describeFlags,
  readBiolatency,
  readBlockDevices,
  type BiolatencyData,
  type BlockDevice,
} from './biolatency-reader.js';
import { collectHistograms, selectHooks } from './histogram-output.js';
import { otlpRequested, resolveOtlpConfig, type OtlpConfig } from '../otlp/config.js';
import { stderr } from '../util/stdio.js';

export interface BiolatencyConfig {
  /** --otlp: also send each printed histogram set as OTLP metrics. */
  otlp?: OtlpConfig;
  /** Print every so many seconds (positional `interval`). */
  intervalSec?: number;
  /** Number of interval prints (positional `count`). */
  count?: number;
  durationSec?: number;
  timestamp: boolean;
  /** -Q: include time queued in the OS (from block_rq_insert). */
  queued: boolean;
  milliseconds: boolean;
  perDisk: boolean;
  perFlags: boolean;
  /** --disk: only this disk (a name from /sys/block). */
  disk?: string;
  extended: boolean;
  json: boolean;
  verbose: boolean;
  /** Use only the hook of this name (testing; hidden --hook). */
  hook?: string;
}

type AttachOne = (obj: NativeBpfObject, program: string, tracepoint: string) => number;

const EINVAL = 22;

/**
 * How many arguments the kernel passes to a raw tracepoint: 1, 2, or 3 for three or more. Attaches
 * the biolatency_nargs_* programs (they read ctx[1] / ctx[2]): the kernel refuses with EINVAL a
 * program that reads past the last argument, so whether each attaches is the answer. They are
 * detached at once and never see an event that matters.
 */
export function tracepointArgCount(obj: NativeBpfObject, tracepoint: string): 1 | 2 | 3 {
  const attaches = (program: string): boolean => {
    let link: number;
    try {
      link = obj.attachRawTracepoint(program, tracepoint);
    } catch (err) {
      if (errnoOf(err) === EINVAL) return false;
      throw new Error(`cannot count the arguments of ${tracepoint}: ${messageOf(err)}`);
    }
    obj.detach(link);
    return true;
  };
  if (attaches('biolatency_nargs_3')) return 3;
  return attaches('biolatency_nargs_2') ? 2 : 1;
}

/** The argument-counting programs a tp_btf or raw_tp variant loads beside its own. */
export const ARG_COUNT_PROGRAMS = ['biolatency_nargs_2', 'biolatency_nargs_3'];

/** What decides which programs of a hook load (see bpf/biolatency.bpf.c). */
export interface BiolatencyHookConfig {
  /** -Q: also block_rq_insert. */
  queued?: boolean;
  /** --disk: the insert/issue programs read the request's disk. */
  filterDev?: boolean;
  /** -D / -F: the completion program reads the disk / the flags. */
  perDisk?: boolean;
  perFlags?: boolean;
}

/**
 * The hooks biolatency can use, best first. fentry/kprobe are not in the chain: the functions
 * BCC kprobed (blk_account_io_start/done, blk_mq_start_request) are inlined or renamed on current
 * kernels, while the block tracepoints are a stable interface that fires for every request.
 *
 * block_rq_insert/issue pass (request) since 5.11 and (request_queue, request) before; the
 * `(pre-5.11 args)` variants read the request from the second argument. The verifier does not
 * tell the layouts apart (a one-argument program loads on an old kernel and would key requests
 * by their queue), so every tp_btf and raw_tp variant counts the tracepoint's arguments before it
 * attaches and refuses a layout that is not its own. The current layout comes first: on a current
 * kernel the first load is the one that attaches (each load parses the kernel's BTF again, the
 * bulk of start-up CPU); an older kernel pays one extra load. Each tp_btf/raw_tp program comes in
 * variants that read the disk or flags or not, and only what the options need is loaded.
 */
export function biolatencyHooks(config: BiolatencyHookConfig = {}): HookChoice[] {
  const variant = (name: string, suffix: string, legacyArgs: boolean, attachOne: AttachOne, before?: () => void): HookChoice => {
    // The classic tracepoint reads its tracefs record, whose layout CO-RE checks: nothing to count,
    // and its record carries the disk, so it has one program per tracepoint.
    const counted = suffix !== 'tp';
    const start = (tp: string) =>
      counted ? `biolatency_${tp}_${suffix}${legacyArgs ? '_q' : ''}${config.filterDev ? '_dev' : ''}` : `biolatency_${tp}_${suffix}`;
    const done = counted ? `biolatency_complete_${suffix}${config.perDisk ? '_dev' : ''}${config.perFlags ? '_flags' : ''}` : `biolatency_complete_${suffix}`;
    const progs: [string, string][] = [
      [done, 'block_rq_complete'],
      [start('issue'), 'block_rq_issue'],
    ];
    if (config.queued) progs.push([start('insert'), 'block_rq_insert']);
    return {
      name,
      programs: [...progs.map(([p]) => p), ...(counted ? ARG_COUNT_PROGRAMS : [])],
      attach: (obj) => {
        before?.();
        if (counted) {
          const want = legacyArgs ? 2 : 1;
          for (const [, tp] of progs.slice(1)) {
            const n = tracepointArgCount(obj, tp);
            if (n !== want) throw new Error(`${tp} takes ${n}${n === 3 ? ' or more' : ''} argument${n > 1 ? 's' : ''} here, this variant expects ${want}`);
          }
        }
        return progs.map(([p, tp]) => attachOne(obj, p, tp));
      },
    };
  };
  const trace: AttachOne = (obj, p) => obj.attachTrace(p);
  const raw: AttachOne = (obj, p, tp) => obj.attachRawTracepoint(p, tp);
  const classic: AttachOne = (obj, p, tp) => obj.attachTracepoint(p, 'block', tp);
  return [
    variant('tp_btf', 'btf', false, trace),
    variant('tp_btf (pre-5.11 args)', 'btf', true, trace),
    variant('raw_tp', 'raw', false, raw),
    variant('raw_tp (pre-5.11 args)', 'raw', true, raw),
    variant('tracepoint', 'tp', false, classic, ensureTracefs),
  ];
}

/** --disk NAME (or /dev/NAME) -> the kernel dev_t of that whole disk. */
export function resolveDisk(name: string, devices: readonly BlockDevice[]): number {
  const bare = name.replace(/^\/dev\//, '');
  const dev = devices.find((d) => d.name === bare);
  if (!dev) throw new UserError(`no block device named '${bare}' (see /sys/block)`);
  if (dev.partition) {
    throw new UserError(`'${bare}' is a partition: block I/O requests are counted per disk, use --disk ${dev.disk ?? 'DISK'}`);
  }
  return dev.dev;
}

/** Kernel data -> the histogram model, labelled by disk name and/or flag text. */
export function biolatencySet(
  data: BiolatencyData,
  config: Pick<BiolatencyConfig, 'milliseconds' | 'perDisk' | 'perFlags'>,
  devName: (dev: number) => string,
  startTimeNs: bigint,
  endTimeNs: bigint,
): HistogramSet {
  const nsPerUnit = config.milliseconds ? 1e6 : 1e3;
  const histograms: Log2Histogram[] = data.entries
    .filter((e) => e.count > 0)
    .map((e) => {
      const labels: Record<string, string> = {};
      if (config.perDisk) labels.disk = devName(e.dev);
      if (config.perFlags) labels.flags = describeFlags(e.flags);
      return { labels, counts: e.counts, total: e.count, sum: e.sum / nsPerUnit };
    });
  const groupBy = config.perDisk && !config.perFlags ? 'disk' : config.perFlags && !config.perDisk ? 'flags' : undefined;
  const set: HistogramSet = {
    title: 'block I/O latency',
    unit: config.milliseconds ? 'msecs' : 'usecs',
    startTimeNs,
    endTimeNs,
    histograms: sortHistograms(histograms, groupBy ?? 'disk'),
  };
  if (groupBy !== undefined) set.groupBy = groupBy;
  return set;
}

function lossWarnings(data: BiolatencyData): string[] {
  const w: string[] = [];
  if (data.stats.startFull) w.push(`${data.stats.startFull} I/O requests were not timed: more than 10240 were in flight at once`);
  if (data.stats.histsFull) w.push(`${data.stats.histsFull} completions were dropped: too many distinct disk/flag groups`);
  return w;
}

export async function runBiolatency(config: BiolatencyConfig): Promise<HistogramSet[]> {
  preflight('biolatency');
  const targetDev = config.disk !== undefined ? resolveDisk(config.disk, readBlockDevices()) : undefined;
  const clock = wallClock(native());
  const hookConfig = { queued: config.queued, filterDev: targetDev !== undefined, perDisk: config.perDisk, perFlags: config.perFlags };
  const tool = BpfTool.open('biolatency', selectHooks(biolatencyHooks(hookConfig), config.hook), {
    globals: {
      per_disk: { bool: config.perDisk },
      per_flags: { bool: config.perFlags },
      queued: { bool: config.queued },
      milliseconds: { bool: config.milliseconds },
      filter_dev: { bool: targetDev !== undefined },
      target_dev: { u32: targetDev ?? 0 },
    },
    verbose: config.verbose,
  });
  if (config.verbose) {
    for (const f of tool.failures) stderr.write(`biolatency: ${f.hook} unavailable: ${f.error}\n`);
    stderr.write(`biolatency: attached with ${tool.hook}\n`);
  }
  try {
    return await collectHistograms(
      {
        now: () => clock.now(),
        read: (start, end) => {
          const data = readBiolatency(tool);
          // Names are read at each print: disks come and go (loop devices, hot plug). Only -D
          // labels histograms by disk.
          const names = config.perDisk ? deviceNamer(readBlockDevices()) : () => '';
          const set = biolatencySet(data, config, names, start, end);
          return { set, warnings: lossWarnings(data) };
        },
        clear: () => {
          tool.clear('hists');
          tool.clear('stats');
        },
        release: () => tool.close(),
      },
      {
        ...(config.intervalSec !== undefined ? { intervalSec: config.intervalSec } : {}),
        ...(config.count !== undefined ? { count: config.count } : {}),
        ...(config.durationSec !== undefined ? { durationSec: config.durationSec } : {}),
        label: `Tracing block device I/O${config.disk !== undefined ? ` on ${config.disk.replace(/^\/dev\//, '')}` : ''}`,
        print: { json: config.json, extended: config.extended, timestamp: config.timestamp },
        ...(config.otlp ? { otlp: { config: config.otlp, metricName: 'ebpf_otel.biolatency', verbose: config.verbose } } : {}),
      },
    );
  } finally {
    tool.close();
  }
}

interface BiolatencyFlags {
  timestamp?: boolean;
  queued?: boolean;
  milliseconds?: boolean;
  disks?: boolean;
  flags?: boolean;
  extension?: boolean;
  disk?: string;
  duration?: number;
  json?: boolean;
  otlp?: string | boolean;
  hook?: string;
}

export function biolatencyCommand(): Command {
  return new Command('biolatency')
    .description('summarize block device I/O latency as a histogram (BCC biolatency)')
    .argument('[interval]', 'print (and reset) the histograms every INTERVAL seconds', seconds('interval'))
    .argument('[count]', 'number of interval prints', positiveInt('count'))
    .option('-T, --timestamp', 'print a timestamp before each histogram')
    .option('-Q, --queued', 'include time queued in the OS (from block_rq_insert)')
    .option('-m, --milliseconds', 'histogram in milliseconds')
    .option('-D, --disks', 'one histogram per disk')
    .option('-F, --flags', 'one histogram per I/O flag set (Read, Write, Sync-Write, ...)')
    .option('-e, --extension', 'print the count, average and total latency of each histogram')
    .option('-d, --disk <name>', 'trace this disk only (a name from /sys/block, e.g. sda or nvme0n1)')
    .option('--duration <seconds>', 'stop after this many seconds (default: until Ctrl-C)', seconds('duration'))
    .option('--json', 'print each histogram set as one line of JSON')
    .option('--otlp [url]', 'also send each printed histogram set to an OTLP/HTTP endpoint as metrics (default: $OTEL_EXPORTER_OTLP_ENDPOINT or http://localhost:4318)')
    .addOption(new Option('--hook <name>', 'use only this hook of the fallback chain').hideHelp())
    .action(async (interval: number | undefined, count: number | undefined, flags: BiolatencyFlags, cmd: Command) => {
      const verbose = Boolean(cmd.optsWithGlobals<{ verbose?: boolean }>().verbose);
      await runBiolatency(toConfig(interval, count, flags, verbose));
    });
}

function toConfig(interval: number | undefined, count: number | undefined, f: BiolatencyFlags, verbose: boolean): BiolatencyConfig {
  const config: BiolatencyConfig = {
    timestamp: Boolean(f.timestamp),
    queued: Boolean(f.queued),
    milliseconds: Boolean(f.milliseconds),
    perDisk: Boolean(f.disks),
    perFlags: Boolean(f.flags),
    extended: Boolean(f.extension),
    json: Boolean(f.json),
    verbose,
  };
  if (interval !== undefined) config.intervalSec = interval;
  if (count !== undefined) config.count = count;
  if (f.duration !== undefined) config.durationSec = f.duration;
  if (f.disk !== undefined) config.disk = f.disk;
  if (f.hook !== undefined) config.hook = f.hook;
  // Resolved before anything loads, so a bad OTEL_* setting fails at once.
  if (otlpRequested(f.otlp)) config.otlp = resolveOtlpConfig(f.otlp);
  return config;
}
