// `ebpf-otel cpuprofile`: BCC `profile` semantics. Sample on-CPU stacks with a cpu-clock perf
// event on every CPU, count them by stack in the kernel, symbolize, print.
import { checkProcesses, checkThreads } from '../util/targets.js';
import { Command, Option } from 'commander';
import { BpfTool, type HookChoice } from '../bpf/object.js';
import { onlineCpus } from '../bpf/cpus.js';
import { native } from '../bpf/native.js';
import { readCpuprofile, type CpuprofileStats } from './cpuprofile-reader.js';
import { preflight } from '../preflight.js';
import { waitForEnd } from '../util/collect.js';
import { UserError } from '../util/errors.js';
import { idList, positiveInt, seconds } from './options.js';
import type { StackProfile } from '../aggregate/model.js';
import type { StackOutputOptions } from './stack-output.js';
import { otlpRequested, resolveOtlpConfig, type OtlpConfig } from '../otlp/config.js';
import { readProcessInfo, type ProcessInfo } from '../otlp/resource.js';
import { processStartMonotonicNs, wallClock } from '../util/clock.js';
import { parseUnwindMode, ringBytes, stackCopySupported, UNWIND_OPTION_HELP, type UnwindMode } from '../unwind/mode.js';
import { stderr } from '../util/stdio.js';

const PERF_TYPE_SOFTWARE = 1;
const PERF_COUNT_SW_CPU_CLOCK = 0;

export interface CpuprofileConfig {
  pids: number[];
  tids: number[];
  userOnly: boolean;
  kernelOnly: boolean;
  frequency: number;
  /** -c: sample every N cpu-clock events (nanoseconds) instead of at a frequency. */
  period?: number;
  durationSec?: number;
  includeIdle: boolean;
  stackStorageSize: number;
  /** How to print the profile; omitted, the profile is only returned (flame cpu draws it). */
  output?: StackOutputOptions;
  /** --otlp: also send the profile as OTLP profiles. */
  otlp?: OtlpConfig;
  /** --unwind: how user stacks are walked (default auto). */
  unwind?: UnwindMode;
  verbose: boolean;
}

/** How user stacks are walked in the end: by the kernel's frame-pointer walk, or copied. */
export function effectiveUnwind(config: Pick<CpuprofileConfig, 'unwind'> & { kernelOnly?: boolean }): UnwindMode {
  const mode = config.unwind ?? 'auto';
  if (config.kernelOnly) return 'fp'; // no user stacks at all
  if (mode === 'auto' && !stackCopySupported()) return 'fp';
  return mode;
}

/**
 * The hooks cpuprofile can use, best first. The software cpu-clock event works everywhere,
 * including VMs without hardware counters. With --unwind dwarf|auto the program that copies user
 * stacks comes first (it needs bpf_task_pt_regs and ring buffers, 5.15+); auto falls back to the
 * frame-pointer program.
 */
export function cpuprofileHooks(config: Pick<CpuprofileConfig, 'frequency' | 'period' | 'unwind'> & { kernelOnly?: boolean }): HookChoice[] {
  const choice = (name: string, program: string, deferred?: HookChoice['deferred']): HookChoice => ({
    name,
    programs: [program],
    ...(deferred ? { deferred } : {}),
    attach: (obj) =>
      obj.attachPerfEvent(program, {
        type: PERF_TYPE_SOFTWARE,
        config: PERF_COUNT_SW_CPU_CLOCK,
        ...(config.period ? { period: config.period } : { frequency: config.frequency }),
        cpus: onlineCpus(),
      }),
  });
  const fp = choice('perf_event cpu-clock', 'cpuprofile_sample');
  // Stacks copied (5.15+), and once sampling runs, walked in the kernel by the rules user space
  // learned (bpf_loop, 5.17+): the walk program joins after attach, as its verification takes
  // ~15-25 ms, which would stand between launch and the first sample, and it has nothing to walk
  // before the first copies taught user space some rules. auto falls back to frame pointers.
  const copy = choice(COPY_HOOK, 'cpuprofile_sample_copy', {
    name: 'kernel walk',
    load: (tool) => tool.addTailCall('walker', 0, 'cpuprofile_sample_walk'),
  });
  const mode = effectiveUnwind(config);
  return mode === 'fp' ? [fp] : mode === 'dwarf' ? [copy] : [copy, fp];
}

const COPY_HOOK = 'perf_event cpu-clock, stack copies';

export interface CpuprofileFlags {
  pid?: number[];
  tid?: number[];
  userStacksOnly?: boolean;
  kernelStacksOnly?: boolean;
  frequency: number;
  count?: number;
  duration?: number;
  includeIdle?: boolean;
  folded?: boolean;
  delimited?: boolean;
  stackStorageSize: number;
  json?: boolean;
  top: number;
  otlp?: string | boolean;
  unwind?: UnwindMode;
}

export function cpuprofileCommand(): Command {
  return new Command('cpuprofile')
    .description('sample on-CPU stack traces at a timed interval (BCC profile)')
    .argument('[duration]', 'seconds to profile (default: until Ctrl-C)', seconds('duration'))
    .option('-p, --pid <pids>', 'profile these processes only (comma-separated or repeated)', idList('PID'))
    .option('-L, --tid <tids>', 'profile these threads only (comma-separated or repeated)', idList('TID'))
    .addOption(new Option('-U, --user-stacks-only', 'show stacks from user space only').conflicts('kernelStacksOnly'))
    .option('-K, --kernel-stacks-only', 'show stacks from kernel space only')
    .option('-F, --frequency <hz>', 'sample frequency in Hz', positiveInt('frequency'), 49)
    .option('-c, --count <n>', 'sample period: one sample every N cpu-clock nanoseconds', positiveInt('count'))
    .option('--duration <seconds>', 'seconds to profile (same as the positional argument)', seconds('duration'))
    .option('-I, --include-idle', 'include CPU idle stacks')
    .option('-f, --folded', 'print folded stacks (flamegraph.pl, inferno, speedscope input)')
    .option('-d, --delimited', 'insert a "-" frame between user and kernel stacks in folded output')
    .option('--stack-storage-size <n>', 'number of distinct stacks the kernel can keep', positiveInt('stack storage size'), 16384)
    .option('--json', 'print the profile as JSON')
    .option('--top <n>', 'rows in the default table output', positiveInt('top'), 20)
    .option('--otlp [url]', 'also send the profile to an OTLP/HTTP endpoint (default: $OTEL_EXPORTER_OTLP_ENDPOINT or http://localhost:4318)')
    .addOption(new Option('--unwind <mode>', UNWIND_OPTION_HELP).argParser(parseUnwindMode).default('auto'))
    .action(async (duration: number | undefined, flags: CpuprofileFlags, cmd: Command) => {
      const verbose = Boolean(cmd.optsWithGlobals<{ verbose?: boolean }>().verbose);
      await runCpuprofile(cpuprofileConfig(duration, flags, verbose));
    });
}

/** Checks the flags as a user typed them and turns them into a config. */
export function cpuprofileConfig(duration: number | undefined, f: CpuprofileFlags, verbose: boolean): CpuprofileConfig {
  if (f.frequency > 100_000) throw new UserError(`frequency ${f.frequency} Hz is too high (at most 100000)`);
  if (f.folded && f.json) throw new UserError('choose one of --folded and --json');
  if (duration !== undefined && f.duration !== undefined && duration !== f.duration) {
    throw new UserError(`two different durations given (${duration} and --duration ${f.duration})`);
  }
  const config: CpuprofileConfig = {
    pids: f.pid ?? [],
    tids: f.tid ?? [],
    userOnly: Boolean(f.userStacksOnly),
    kernelOnly: Boolean(f.kernelStacksOnly),
    frequency: f.frequency,
    includeIdle: Boolean(f.includeIdle),
    stackStorageSize: f.stackStorageSize,
    output: {
      format: f.folded ? 'folded' : f.json ? 'json' : 'table',
      delimiter: Boolean(f.delimited),
      top: f.top,
    },
    verbose,
  };
  if (f.count !== undefined) config.period = f.count;
  config.unwind = f.unwind ?? 'auto';
  if (config.unwind === 'dwarf' && !stackCopySupported()) {
    throw new UserError(`--unwind dwarf unwinds x86-64 stacks only (this is ${process.arch}): use --unwind fp`);
  }
  const d = duration ?? f.duration;
  if (d !== undefined) config.durationSec = d;
  // Resolved before anything loads, so a bad OTEL_* setting fails at once.
  if (otlpRequested(f.otlp)) config.otlp = resolveOtlpConfig(f.otlp);
  return config;
}

function describeTarget(config: CpuprofileConfig): string {
  if (config.pids.length) return `PID ${config.pids.join(', ')}`;
  if (config.tids.length) return `TID ${config.tids.join(', ')}`;
  return 'all processes';
}

function lossWarnings(stats: CpuprofileStats, config: CpuprofileConfig): string[] {
  const warnings: string[] = [];
  if (stats.userLost || stats.kernelLost) {
    warnings.push(
      `${stats.userLost} user and ${stats.kernelLost} kernel stacks were lost (stack map full or hash collisions): ` +
        `raise --stack-storage-size (now ${config.stackStorageSize})`,
    );
  }
  if (stats.countsFull) warnings.push(`${stats.countsFull} samples were dropped because the counts map was full: profile fewer processes or a shorter time`);
  if (stats.copyDropped) {
    warnings.push(
      `${stats.copyDropped} samples lost their user stack because the stack-copy ring buffer was full (shown as [Missed User Stack]): ` +
        'lower the frequency, or use --unwind fp',
    );
  }
  return warnings;
}

export async function runCpuprofile(config: CpuprofileConfig): Promise<StackProfile> {
  preflight('cpuprofile');
  checkProcesses(config.pids, '-L');
  checkThreads(config.tids);

  const clock = wallClock(native());
  const unwind = effectiveUnwind(config);
  const eventsPerSec = (config.period ? 1e9 / config.period : config.frequency) * onlineCpus().length;
  const tool = BpfTool.open('cpuprofile', cpuprofileHooks(config), {
    globals: {
      filter_tgid: { bool: config.pids.length > 0 },
      filter_tid: { bool: config.tids.length > 0 },
      include_idle: { bool: config.includeIdle },
      collect_user: { bool: !config.kernelOnly },
      collect_kernel: { bool: !config.userOnly },
      unwind_auto: { bool: unwind === 'auto' },
    },
    maxEntries: {
      stacks: config.stackStorageSize,
      ...(unwind !== 'fp'
        ? { stack_copies: ringBytes(eventsPerSec), user_stacks: config.stackStorageSize }
        : { user_stacks: 1, unwind_rules: 1 }),
      // only auto mode lists processes that keep frame pointers
      ...(unwind !== 'auto' ? { fp_tgids: 1 } : {}),
    },
    prepare: (t) => {
      t.fillIdSet('target_tgids', config.pids);
      t.fillIdSet('target_tids', config.tids);
    },
    verbose: config.verbose,
  });
  const startTimeNs = clock.now();
  // Nothing but attaching stands between launch and the first sample: the kernel walk, and what
  // symbolizes, unwinds and prints, load now, while the kernel samples.
  const copying = tool.hook === COPY_HOOK && unwind !== 'fp';
  const walkFailure = tool.loadDeferred();
  const [{ Symbolizer }, { resolveStacks }, { printStackProfile, exportStackProfile }, session] = await Promise.all([
    import('../symbolize/index.js'),
    import('../pipeline/stacks.js'),
    import('./stack-output.js'),
    copying ? import('../unwind/session.js') : undefined,
  ]);
  const symbolizer = new Symbolizer();
  // Read the targets' mappings now: a process that exits mid-profile still resolves.
  for (const pid of config.pids) symbolizer.snapshot(pid);
  const captured = new Map<number, ProcessInfo>();
  if (config.otlp) for (const pid of config.pids) captured.set(pid, readProcessInfo(pid));
  // Copies are unwound while sampling goes on; binaries' unwind tables are read on first use.
  const copies = session && unwind !== 'fp' ? new session.CopySession(tool, symbolizer, 'cpu', unwind) : undefined;
  copies?.start(config.pids);
  if (config.verbose) {
    for (const f of tool.failures) stderr.write(`cpuprofile: ${f.hook} failed: ${f.error}\n`);
    if (walkFailure !== undefined) stderr.write(`cpuprofile: no kernel walk by learned rules (${walkFailure}): every stack copied\n`);
    stderr.write(`cpuprofile: attached with ${tool.hook}\n`);
  }

  const rate = config.period ? `every ${config.period} ns of CPU` : `${config.frequency} Hz`;
  await waitForEnd({ label: `Sampling ${describeTarget(config)} at ${rate}`, ...(config.durationSec !== undefined ? { durationSec: config.durationSec } : {}) });

  tool.detach();
  const endTimeNs = clock.now();
  copies?.stop();
  const data = readCpuprofile(tool, copies);
  tool.close();
  if (config.verbose && copies) stderr.write(`cpuprofile: ${copies.describe(data.stats.unwound)}\n`);
  if (config.verbose && data.firstSampleNs) {
    const ms = Number(data.firstSampleNs - processStartMonotonicNs()) / 1e6;
    stderr.write(`cpuprofile: first sample ${ms.toFixed(1)} ms after launch\n`);
  }

  for (const pid of new Set(data.stacks.map((s) => s.pid))) symbolizer.snapshot(pid);
  const profile: StackProfile = {
    kind: 'cpu',
    unit: 'samples',
    startTimeNs,
    endTimeNs,
    stacks: resolveStacks(data.stacks, symbolizer),
    warnings: [
      ...lossWarnings(data.stats, config),
      ...(copies ? copies.warnings('samples', data.stacks) : []),
      ...(unwind !== 'fp' && !copies ? ['stack copies are not supported by this kernel (needs 5.15+): user stacks were walked by frame pointers'] : []),
      ...symbolizer.warnings(),
    ],
  };
  if (config.period) profile.samplePeriod = config.period;
  else profile.frequencyHz = config.frequency;

  if (config.output) await printStackProfile(profile, config.output);
  if (config.otlp) await exportStackProfile(profile, captured, config.otlp, config.verbose);
  return profile;
}
