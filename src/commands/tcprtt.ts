// `ebpf-otel tcprtt`: BCC `tcprtt` semantics. The smoothed RTT of TCP connections each time they
// receive a segment (tcp_rcv_established), as log2 histograms aggregated in the kernel, filtered
// there by port, address and family, optionally one per local (-b) or remote (-B) address.
import { existsSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { BpfTool, type HookChoice } from '../bpf/object.js';
import { native } from '../bpf/native.js';
import type { HistogramSet, Log2Histogram } from '../aggregate/model.js';
import { sortHistograms } from '../aggregate/log2.js';
import { ensureTracefs, preflight } from '../preflight.js';
import { UserError } from '../util/errors.js';
import { wallClock } from '../util/clock.js';
import { seconds } from './options.js';
import {
  addressGlobals,
  formatAddress,
  isV4Mapped,
  parseAddress,
  readTcprtt,
  TcprttFamily,
  TcprttGroup,
  type TcprttData,
} from './tcprtt-reader.js';
import { collectHistograms, selectHooks } from './histogram-output.js';
import { otlpRequested, resolveOtlpConfig, type OtlpConfig } from '../otlp/config.js';
import { stderr } from '../util/stdio.js';

export interface TcprttConfig {
  /** --otlp: also send each printed histogram set as OTLP metrics. */
  otlp?: OtlpConfig;
  intervalSec?: number;
  durationSec?: number;
  timestamp: boolean;
  milliseconds: boolean;
  /** Host-order ports; undefined matches any. */
  lport?: number;
  rport?: number;
  /** Address filters as typed (IPv4 or IPv6). */
  laddr?: string;
  raddr?: string;
  groupBy: 'none' | 'laddr' | 'raddr';
  family: 'any' | 'ipv4' | 'ipv6';
  extended: boolean;
  json: boolean;
  verbose: boolean;
  /** Use only the hook of this name (testing; hidden --hook). */
  hook?: string;
}

/**
 * The hooks tcprtt can use, best first. The tcp_probe tracepoint fires at the top of
 * tcp_rcv_established with the same socket, so its tp_btf program sees exactly the segments that
 * fentry or a kprobe on the function (what BCC and libbpf-tools use) would see, and tp_btf is
 * there on every kernel where fentry is (both came with BTF in 5.5). It comes first: where fentry
 * is refused (at load: EPERM on some kernels), trying it first costs a whole object load (libbpf
 * reads and parses the kernel's BTF again: 20-30 ms of CPU, as much as the rest of the run), and
 * a tracepoint needs no trampoline to attach. fentry and kprobe follow for a kernel without
 * tcp_probe, then raw_tp and the classic tracepoint on tcp_probe for kernels before BTF
 * tracepoints (the libbpf-tools tool has no such fallback and fails where kprobes and fentry are
 * missing).
 */
export function tcprttHooks(): HookChoice[] {
  return [
    { name: 'tp_btf', programs: ['tcprtt_tp_btf'], attach: (o) => [o.attachTrace('tcprtt_tp_btf')] },
    { name: 'fentry', programs: ['tcprtt_fentry'], attach: (o) => [o.attachTrace('tcprtt_fentry')] },
    { name: 'kprobe', programs: ['tcprtt_kprobe'], attach: (o) => [o.attach('tcprtt_kprobe')] },
    { name: 'raw_tp', programs: ['tcprtt_raw_tp'], attach: (o) => [o.attachRawTracepoint('tcprtt_raw_tp', 'tcp_probe')] },
    {
      name: 'tracepoint',
      programs: ['tcprtt_tracepoint'],
      attach: (o) => {
        ensureTracefs();
        return [o.attachTracepoint('tcprtt_tracepoint', 'tcp', 'tcp_probe')];
      },
    },
  ];
}

/**
 * Why a hook of the chain cannot attach on this kernel, when that shows without loading anything
 * (a failed load costs as much CPU as the one that works); undefined when
 * only trying tells. kprobes: libbpf attaches through the kprobe PMU, or without one through
 * tracefs' kprobe_events (under /sys/kernel/tracing, else debugfs); with neither (a kernel built
 * without CONFIG_KPROBES) the attach can only fail, so the load is skipped.
 */
export function knownUnattachable(hook: string, exists: (path: string) => boolean = existsSync): string | undefined {
  if (hook !== 'kprobe') return undefined;
  const ways = ['/sys/bus/event_source/devices/kprobe/type', '/sys/kernel/tracing/kprobe_events', '/sys/kernel/debug/tracing/kprobe_events'];
  if (ways.some((p) => exists(p))) return undefined;
  return 'this kernel has no kprobes (no kprobe PMU in /sys/bus/event_source/devices, no kprobe_events in tracefs)';
}

/** commander parser for -p/-P. */
export function portNumber(what: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || n < 1 || n > 65535) throw new InvalidArgumentError(`${what} must be a port number (1-65535), got '${value}'`);
    return n;
  };
}

/** commander parser for -a/-A: checks the text, keeps it as typed. */
export function ipAddress(what: string) {
  return (value: string): string => {
    if (!parseAddress(value)) throw new InvalidArgumentError(`${what} must be an IPv4 or IPv6 address, got '${value}'`);
    return value;
  };
}

function addressFilter(text: string | undefined, family: TcprttConfig['family'], what: string): Buffer | undefined {
  if (text === undefined) return undefined;
  const addr = parseAddress(text);
  if (!addr) throw new UserError(`${what} must be an IPv4 or IPv6 address, got '${text}'`);
  if (family === 'ipv4' && !isV4Mapped(addr)) throw new UserError(`${what} ${text} is an IPv6 address, and -4 traces IPv4 only`);
  if (family === 'ipv6' && isV4Mapped(addr)) throw new UserError(`${what} ${text} is an IPv4 address, and -6 traces IPv6 only`);
  return addr;
}

/** Kernel data -> the histogram model, labelled by address when grouped. */
export function tcprttSet(
  data: TcprttData,
  config: Pick<TcprttConfig, 'milliseconds' | 'groupBy'>,
  startTimeNs: bigint,
  endTimeNs: bigint,
): HistogramSet {
  const usPerUnit = config.milliseconds ? 1000 : 1;
  const label = config.groupBy === 'none' ? undefined : config.groupBy;
  const histograms: Log2Histogram[] = data.entries
    .filter((e) => e.count > 0)
    .map((e) => ({
      labels: label ? { [label]: formatAddress(e.addr) } : {},
      counts: e.counts,
      total: e.count,
      sum: e.sum / usPerUnit,
    }));
  const set: HistogramSet = {
    title: 'TCP smoothed RTT',
    unit: config.milliseconds ? 'msecs' : 'usecs',
    startTimeNs,
    endTimeNs,
    histograms: sortHistograms(histograms, label),
  };
  if (label) set.groupBy = label;
  return set;
}

/** BCC's section headers: `Local Address = 10.0.0.1`, `Remote Address = ::1`. */
export function tcprttGroupHeader(h: Log2Histogram, set: HistogramSet): string {
  if (set.groupBy === 'laddr') return `Local Address = ${h.labels.laddr ?? '[unknown]'}`;
  if (set.groupBy === 'raddr') return `Remote Address = ${h.labels.raddr ?? '[unknown]'}`;
  return 'All Addresses';
}

function describe(config: TcprttConfig): string {
  const parts: string[] = [];
  if (config.family !== 'any') parts.push(config.family === 'ipv4' ? 'IPv4' : 'IPv6');
  if (config.lport !== undefined) parts.push(`local port ${config.lport}`);
  if (config.rport !== undefined) parts.push(`remote port ${config.rport}`);
  if (config.laddr !== undefined) parts.push(`local address ${config.laddr}`);
  if (config.raddr !== undefined) parts.push(`remote address ${config.raddr}`);
  return `Tracing TCP RTT${parts.length ? ` (${parts.join(', ')})` : ''}`;
}

export async function runTcprtt(config: TcprttConfig): Promise<HistogramSet[]> {
  preflight('tcprtt');
  const laddr = addressFilter(config.laddr, config.family, 'local address');
  const raddr = addressFilter(config.raddr, config.family, 'remote address');
  const l = laddr ? addressGlobals(laddr) : { lo: 0n, hi: 0n };
  const r = raddr ? addressGlobals(raddr) : { lo: 0n, hi: 0n };
  const clock = wallClock(native());
  const selected = selectHooks(tcprttHooks(), config.hook);
  const skipped = new Map<string, string>();
  for (const c of selected) {
    const why = knownUnattachable(c.name);
    if (why !== undefined) skipped.set(c.name, why);
  }
  const chain = selected.filter((c) => !skipped.has(c.name));
  if (chain.length === 0) {
    throw new UserError(`tcprtt: no way to attach on this kernel (${[...skipped].map(([hook, why]) => `${hook}: ${why}`).join('; ')})`);
  }
  const tool = BpfTool.open('tcprtt', chain, {
    globals: {
      group_by: { u32: TcprttGroup[config.groupBy] },
      family: { u32: TcprttFamily[config.family] },
      milliseconds: { bool: config.milliseconds },
      lport: { u32: config.lport ?? 0 },
      rport: { u32: config.rport ?? 0 },
      filter_laddr: { bool: laddr !== undefined },
      laddr_lo: { u64: l.lo },
      laddr_hi: { u64: l.hi },
      filter_raddr: { bool: raddr !== undefined },
      raddr_lo: { u64: r.lo },
      raddr_hi: { u64: r.hi },
    },
    verbose: config.verbose,
  });
  if (config.verbose) {
    // The hooks before the chosen one, in chain order, whether skipped or failed to load or attach.
    for (const c of selected.slice(0, selected.findIndex((h) => h.name === tool.hook))) {
      const why = skipped.get(c.name) ?? tool.failures.find((f) => f.hook === c.name)?.error;
      if (why !== undefined) stderr.write(`tcprtt: ${c.name} unavailable: ${why}\n`);
    }
    stderr.write(`tcprtt: attached with ${tool.hook}\n`);
  }
  try {
    return await collectHistograms(
      {
        now: () => clock.now(),
        read: (start, end) => {
          const data = readTcprtt(tool);
          const warnings = data.stats.histsFull
            ? [`${data.stats.histsFull} RTT samples were dropped: more than 10240 distinct addresses`]
            : [];
          return { set: tcprttSet(data, config, start, end), warnings };
        },
        clear: () => {
          tool.clear('hists');
          tool.clear('stats');
        },
        release: () => tool.close(),
      },
      {
        ...(config.intervalSec !== undefined ? { intervalSec: config.intervalSec } : {}),
        ...(config.durationSec !== undefined ? { durationSec: config.durationSec } : {}),
        label: describe(config),
        print: { json: config.json, extended: config.extended, timestamp: config.timestamp, groupHeader: tcprttGroupHeader },
        ...(config.otlp ? { otlp: { config: config.otlp, metricName: 'ebpf_otel.tcprtt', verbose: config.verbose } } : {}),
      },
    );
  } finally {
    tool.close();
  }
}

interface TcprttFlags {
  interval?: number;
  duration?: number;
  timestamp?: boolean;
  milliseconds?: boolean;
  lport?: number;
  rport?: number;
  laddr?: string;
  raddr?: string;
  byladdr?: boolean;
  byraddr?: boolean;
  extension?: boolean;
  ipv4?: boolean;
  ipv6?: boolean;
  json?: boolean;
  otlp?: string | boolean;
  hook?: string;
}

export function tcprttCommand(): Command {
  return new Command('tcprtt')
    .description('summarize TCP round-trip time (smoothed RTT on receive) as a histogram (BCC tcprtt)')
    .option('-i, --interval <seconds>', 'print (and reset) the histograms every INTERVAL seconds', seconds('interval'))
    .option('-d, --duration <seconds>', 'stop after this many seconds (default: until Ctrl-C)', seconds('duration'))
    .option('-T, --timestamp', 'print a timestamp before each histogram')
    .option('-m, --milliseconds', 'histogram in milliseconds')
    .option('-p, --lport <port>', 'only connections with this local port', portNumber('local port'))
    .option('-P, --rport <port>', 'only connections with this remote port', portNumber('remote port'))
    .option('-a, --laddr <address>', 'only connections with this local address (IPv4 or IPv6)', ipAddress('local address'))
    .option('-A, --raddr <address>', 'only connections with this remote address (IPv4 or IPv6)', ipAddress('remote address'))
    .addOption(new Option('-b, --byladdr', 'one histogram per local address').conflicts('byraddr'))
    .option('-B, --byraddr', 'one histogram per remote address')
    .option('-e, --extension', 'print the count, average and total RTT of each histogram')
    .addOption(new Option('-4, --ipv4', 'IPv4 traffic only (v4-mapped peers of IPv6 sockets included)').conflicts('ipv6'))
    .option('-6, --ipv6', 'IPv6 traffic only')
    .option('--json', 'print each histogram set as one line of JSON')
    .option('--otlp [url]', 'also send each printed histogram set to an OTLP/HTTP endpoint as metrics (default: $OTEL_EXPORTER_OTLP_ENDPOINT or http://localhost:4318)')
    .addOption(new Option('--hook <name>', 'use only this hook of the fallback chain').hideHelp())
    .action(async (flags: TcprttFlags, cmd: Command) => {
      const verbose = Boolean(cmd.optsWithGlobals<{ verbose?: boolean }>().verbose);
      await runTcprtt(toConfig(flags, verbose));
    });
}

function toConfig(f: TcprttFlags, verbose: boolean): TcprttConfig {
  const config: TcprttConfig = {
    timestamp: Boolean(f.timestamp),
    milliseconds: Boolean(f.milliseconds),
    groupBy: f.byladdr ? 'laddr' : f.byraddr ? 'raddr' : 'none',
    family: f.ipv4 ? 'ipv4' : f.ipv6 ? 'ipv6' : 'any',
    extended: Boolean(f.extension),
    json: Boolean(f.json),
    verbose,
  };
  if (f.interval !== undefined) config.intervalSec = f.interval;
  if (f.duration !== undefined) config.durationSec = f.duration;
  if (f.lport !== undefined) config.lport = f.lport;
  if (f.rport !== undefined) config.rport = f.rport;
  if (f.laddr !== undefined) config.laddr = f.laddr;
  if (f.raddr !== undefined) config.raddr = f.raddr;
  if (f.hook !== undefined) config.hook = f.hook;
  // Resolved before anything loads, so a bad OTEL_* setting fails at once.
  if (otlpRequested(f.otlp)) config.otlp = resolveOtlpConfig(f.otlp);
  return config;
}
