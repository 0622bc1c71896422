// `ebpf-otel offcpu`: BCC `offcputime` semantics. At each context switch record when a thread
// left the CPU and its stacks; when it runs again, add the time it spent away to those stacks.
// The sums are kept in the kernel; at the end they are symbolized and printed.
import { readFileSync, statSync } from 'node:fs';
import { cacheDirFromEnv, fileIdentity, type FileIdentity } from '../util/cache-dir.js';
import { readFact, writeFact, type FactKind } from '../util/file-facts-cache.js';
import { checkProcesses, checkThreads, tgidOf } from '../util/targets.js';
import { Command, InvalidArgumentError, Option } from 'commander';
import { BpfTool, type GlobalValue, type HookChoice } from '../bpf/object.js';
import { native } from '../bpf/native.js';
import { readKernelSkip, readOffcpu, type OffcpuStats } from './offcpu-reader.js';
import { preflight } from '../preflight.js';
import { waitForEnd } from '../util/collect.js';
import { UserError } from '../util/errors.js';
import { idList, positiveInt, seconds } from './options.js';
import { Symbolizer } from '../symbolize/index.js';
import { PROC_BOOT_ID, PROC_KALLSYMS, PROC_KPTR_RESTRICT } from '../symbolize/kallsyms.js';
import { resolveStacks } from '../pipeline/stacks.js';
import type { StackProfile, StackRecord } from '../aggregate/model.js';
import { mergeStacks } from '../aggregate/stacks.js';
import { exportStackProfile, printStackProfile, type StackOutputOptions } from './stack-output.js';
import { otlpRequested, resolveOtlpConfig, type OtlpConfig } from '../otlp/config.js';
import { readProcessInfo, type ProcessInfo } from '../otlp/resource.js';
import { sanitizeTerminal } from '../render/sanitize.js';
import { shouldUseColor } from '../render/color.js';
import { wallClock } from '../util/clock.js';
import { CopySession, parseUnwindMode, ringBytes, stackCopySupported, UNWIND_OPTION_HELP, type UnwindMode } from '../unwind/session.js';
import { stderr, stdout } from '../util/stdio.js';

/** How the collected profile is printed: the shared stack outputs, or BCC's listing of every stack. */
export type OffcpuOutput = StackOutputOptions | { format: 'stacks'; delimiter: boolean };

export interface OffcpuConfig {
  /** -p: only these processes (tgids). */
  pids: number[];
  /** -t: only these threads. */
  tids: number[];
  /** -u: user threads only. */
  userThreadsOnly: boolean;
  /** -k: kernel threads only. */
  kernelThreadsOnly: boolean;
  /** -U: collect user stacks only. */
  userStacksOnly: boolean;
  /** -K: collect kernel stacks only. */
  kernelStacksOnly: boolean;
  /** -m: blocks shorter than this many microseconds are not counted (BCC default 1). */
  minBlockUs: number;
  /** -M: blocks longer than this many microseconds are not counted. */
  maxBlockUs?: number;
  /** --state: only blocks of threads switched out in this state (0 exactly, else a bitmask). */
  state?: number;
  durationSec?: number;
  stackStorageSize: number;
  /** Threads that can be off-CPU and timed at the same time (the start-time map). */
  threadStorageSize: number;
  /** Distinct (thread, user stack, kernel stack) entries the kernel can count. */
  countStorageSize: number;
  /** What to print at the end; undefined prints nothing (callers such as `flame offcpu` render the profile themselves). */
  output?: OffcpuOutput;
  /** --otlp: also send the profile as OTLP profiles (off_cpu / nanoseconds). */
  otlp?: OtlpConfig;
  /** --unwind: how user stacks are walked (default auto). */
  unwind?: UnwindMode;
  verbose: boolean;
}

/**
 * offcpu unwinds user stacks like cpuprofile: auto, frame pointers for processes that keep them
 * and CFI for the others. Switch-outs come at the workload's rate, not at a rate we choose, so a
 * stack copy per switch-out would be too dear (it halved a pipe ping-pong's throughput); the copy
 * only teaches the kernel the rules of a stack's code, and from then on the kernel walks such
 * stacks itself (src/unwind/learned.ts) at about frame-pointer cost (bench/results).
 */
export const OFFCPU_DEFAULT_UNWIND: UnwindMode = 'auto';

export const OFFCPU_DEFAULTS = {
  minBlockUs: 1,
  stackStorageSize: 16384,
  threadStorageSize: 32768,
  countStorageSize: 40960,
  top: 20,
} as const;

/** At most this many ids per -p / -t (the size of the kernel's filter maps). */
const MAX_TARGETS = 1024;

/**
 * The hooks offcpu can use, best first: the BTF-typed sched_switch tracepoint, then the raw
 * tracepoint (same arguments, read through bpf_probe_read). Both see (preempt, prev, next).
 */
export function offcpuHooks(): HookChoice[] {
  return [
    { name: 'tp_btf', programs: ['offcpu_switch_btf'], attach: (obj) => [obj.attachTrace('offcpu_switch_btf')] },
    {
      name: 'raw_tp',
      programs: ['offcpu_switch_raw'],
      attach: (obj) => [obj.attachRawTracepoint('offcpu_switch_raw', 'sched_switch')],
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// Where the sched_switch tracepoint is called from, for the BPF side's frame skip.

/** Addresses from /proc/kallsyms the BPF side needs to find where its kernel stacks start. */
export interface SchedulerText {
  /** `.sched.text` (`__schedule`, `schedule`, ...): the first frame kept is the first one in here. */
  schedTextStart: bigint;
  schedTextEnd: bigint;
  /** `__traceiter_sched_switch`, on the stack only while the tracepoint has several probes. */
  traceiterStart?: bigint;
  traceiterEnd?: bigint;
}

function symbolAt(text: string, name: string): { address: bigint; lineEnd: number } | undefined {
  const needle = ` ${name}\n`;
  for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + 1)) {
    const lineStart = text.lastIndexOf('\n', at) + 1;
    const m = /^([0-9a-fA-F]+) [A-Za-z]$/.exec(text.slice(lineStart, at));
    if (m) return { address: BigInt(`0x${m[1]}`), lineEnd: at + needle.length };
  }
  return undefined;
}

/**
 * Finds the scheduler's text section and the sched_switch iterator in /proc/kallsyms text.
 * Undefined when the addresses are hidden (all zero) or the symbols are absent: the BPF side then
 * skips no frame itself and the tracing frames are removed by name after symbolization.
 */
export function findSchedulerText(kallsyms: string): SchedulerText | undefined {
  const text = kallsyms.endsWith('\n') ? kallsyms : `${kallsyms}\n`;
  const start = symbolAt(text, '__sched_text_start');
  const end = symbolAt(text, '__sched_text_end');
  if (!start || !end || start.address === 0n || end.address <= start.address) return undefined;
  const found: SchedulerText = { schedTextStart: start.address, schedTextEnd: end.address };
  const iter = symbolAt(text, '__traceiter_sched_switch');
  if (iter && iter.address !== 0n) {
    // The core kernel's symbols are listed in address order: the iterator ends where the next
    // higher address begins. A bound further than a page away means the order is not what we
    // expect; then leave the iterator out (user space still removes it by name).
    let pos = iter.lineEnd;
    for (let lines = 0; lines < 64 && pos < text.length; lines++) {
      const nl = text.indexOf('\n', pos);
      const m = /^([0-9a-fA-F]+) /.exec(text.slice(pos, nl));
      pos = nl + 1;
      if (!m) continue;
      const addr = BigInt(`0x${m[1]}`);
      if (addr <= iter.address) continue;
      if (addr - iter.address <= 0x1000n) {
        found.traceiterStart = iter.address;
        found.traceiterEnd = addr;
      }
      break;
    }
  }
  return found;
}

/**
 * The scheduler text of this boot, kept as a fact of /proc/kallsyms (util/file-facts-cache.ts)
 * under the boot id and kptr_restrict: the core kernel's addresses are fixed until reboot (module
 * loads do not move them), and finding them means reading /proc/kallsyms whole, which the kernel
 * formats line by line: ~6 MB here, ~50-100 ms of system time between launch and attach.
 */
const SCHED_TEXT_FACT: FactKind = { name: 'sched-text', version: 1 };

/** The four addresses as little-endian u64s (0: no iterator found). */
export function encodeSchedulerText(t: SchedulerText): Uint8Array {
  const words = new BigUint64Array([t.schedTextStart, t.schedTextEnd, t.traceiterStart ?? 0n, t.traceiterEnd ?? 0n]);
  return new Uint8Array(words.buffer);
}

export function decodeSchedulerText(payload: Uint8Array | null): SchedulerText | undefined {
  if (payload === null || payload.length !== 32) return undefined;
  const v = Buffer.from(payload.buffer, payload.byteOffset, payload.length);
  const [start, end, iterStart, iterEnd] = [0, 8, 16, 24].map((o) => v.readBigUInt64LE(o)) as [bigint, bigint, bigint, bigint];
  if (start === 0n || end <= start) return undefined;
  const t: SchedulerText = { schedTextStart: start, schedTextEnd: end };
  if (iterStart !== 0n && iterEnd > iterStart) {
    t.traceiterStart = iterStart;
    t.traceiterEnd = iterEnd;
  }
  return t;
}

export interface SchedulerTextSources {
  kallsymsPath: string;
  /** Reads the kallsyms text (default: the file at kallsymsPath; tests count the reads). */
  readKallsyms?: () => string;
  bootIdPath: string;
  kptrRestrictPath: string;
  cacheDir: string | null;
}

const PROC_SOURCES: SchedulerTextSources = {
  kallsymsPath: PROC_KALLSYMS,
  bootIdPath: PROC_BOOT_ID,
  kptrRestrictPath: PROC_KPTR_RESTRICT,
  cacheDir: null,
};

/** The scheduler text, from the cache when this boot's is there; undefined when unknowable. */
export function loadSchedulerText(src: SchedulerTextSources = { ...PROC_SOURCES, cacheDir: cacheDirFromEnv() }): SchedulerText | undefined {
  let key: { identity: FileIdentity; detail: string } | undefined;
  try {
    const bootId = readFileSync(src.bootIdPath, 'latin1').trim();
    const kptr = readFileSync(src.kptrRestrictPath, 'latin1').trim();
    key = { identity: fileIdentity(statSync(src.kallsymsPath, { bigint: true })), detail: `boot ${bootId} kptr_restrict ${kptr}` };
  } catch {
    // no boot id or kptr_restrict to scope the fact to: read every time
  }
  const stored = key ? decodeSchedulerText(readFact(src.cacheDir, SCHED_TEXT_FACT, key.identity, key.detail)) : undefined;
  if (stored) return stored;
  let found: SchedulerText | undefined;
  try {
    found = findSchedulerText(src.readKallsyms ? src.readKallsyms() : readFileSync(src.kallsymsPath, 'utf8'));
  } catch {
    return undefined;
  }
  if (found && key) writeFact(src.cacheDir, SCHED_TEXT_FACT, key.identity, encodeSchedulerText(found), key.detail);
  return found;
}

/** Frames of the BPF program and of the tracepoint machinery that calls it. */
const TRACING_FRAME = /^(bpf_prog_[0-9a-f]{16}|bpf_trace_run\d+\b|__bpf_trace_run\b|__bpf_trace_sched_switch\b|__traceiter_sched_switch\b)/;

/**
 * Removes the tracing frames left at the leaf end of kernel stacks, then merges stacks that became
 * identical. The BPF side skips the frames that are always there; `__traceiter_sched_switch` is
 * there only while another probe shares the tracepoint, so it can appear in some stacks of a run.
 */
export function dropTracingFrames(stacks: readonly StackRecord[]): StackRecord[] {
  const out = stacks.map((r) => {
    let n = r.frames.length;
    while (n > 0 && r.frames[n - 1]!.kind === 'kernel' && TRACING_FRAME.test(r.frames[n - 1]!.name)) n--;
    return n === r.frames.length ? r : { ...r, frames: r.frames.slice(0, n) };
  });
  return mergeStacks(out, { pid: true, tid: true, comm: true });
}

// ---------------------------------------------------------------------------------------------
// Options

export interface OffcpuFlags {
  pid?: number[];
  tid?: number[];
  userThreadsOnly?: boolean;
  kernelThreadsOnly?: boolean;
  userStacksOnly?: boolean;
  kernelStacksOnly?: boolean;
  minBlockTime: number;
  maxBlockTime?: number;
  state?: number;
  duration?: number;
  folded?: boolean;
  delimited?: boolean;
  json?: boolean;
  stacks?: boolean;
  top: number;
  otlp?: string | boolean;
  stackStorageSize: number;
  threadStorageSize: number;
  countStorageSize: number;
  unwind?: UnwindMode;
}

function nonNegativeInt(what: string) {
  return (value: string): number => {
    const n = Number(value.trim());
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) {
      throw new InvalidArgumentError(`${what} must be a non-negative integer, got '${value}'`);
    }
    return n;
  };
}

const STATE_NAMES: Record<string, number> = {
  R: 0,
  running: 0,
  S: 1,
  interruptible: 1,
  D: 2,
  uninterruptible: 2,
};

/** `--state`: a number (0 = runnable/preempted, else a TASK_* bitmask) or R, S, D. */
export function parseState(value: string): number {
  const v = value.trim();
  const named = STATE_NAMES[v];
  if (named !== undefined) return named;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 0x7fffffff) {
    throw new InvalidArgumentError(
      `state must be 0 (runnable), a bitmask of task states (1 interruptible, 2 uninterruptible, ...) or one of R, S, D; got '${value}'`,
    );
  }
  return n;
}

/** Adds the options that choose what is traced and how much the kernel keeps (shared with `flame offcpu`). */
export function addOffcpuOptions(cmd: Command): Command {
  // -p, -t, -u and -k exclude each other, as in BCC.
  const pid = new Option('-p, --pid <pids>', 'trace these processes only (comma-separated or repeated)')
    .argParser(idList('PID'))
    .conflicts(['tid', 'userThreadsOnly', 'kernelThreadsOnly']);
  const tid = new Option('-t, --tid <tids>', 'trace these threads only (comma-separated or repeated)')
    .argParser(idList('TID'))
    .conflicts(['userThreadsOnly', 'kernelThreadsOnly']);
  const userThreads = new Option('-u, --user-threads-only', 'user threads only (no kernel threads)').conflicts('kernelThreadsOnly');
  const userStacks = new Option('-U, --user-stacks-only', 'show stacks from user space only (no kernel space stacks)').conflicts('kernelStacksOnly');
  return cmd
    .addOption(pid)
    .addOption(tid)
    .addOption(userThreads)
    .option('-k, --kernel-threads-only', 'kernel threads only (no user threads)')
    .addOption(userStacks)
    .option('-K, --kernel-stacks-only', 'show stacks from kernel space only (no user space stacks)')
    .option('-m, --min-block-time <us>', 'count only blocks of at least this many microseconds', nonNegativeInt('min block time'), OFFCPU_DEFAULTS.minBlockUs)
    .option('-M, --max-block-time <us>', 'count only blocks of at most this many microseconds', nonNegativeInt('max block time'))
    .option(
      '--state <state>',
      'only threads switched out in this state: 0 or R (runnable: preempted), or a bitmask: 1 or S (sleeping), 2 or D (uninterruptible), ...',
      parseState,
    )
    .option('--duration <seconds>', 'seconds to trace (same as the positional argument)', seconds('duration'))
    .option('--stack-storage-size <n>', 'number of distinct stacks the kernel can keep', positiveInt('stack storage size'), OFFCPU_DEFAULTS.stackStorageSize)
    .option(
      '--thread-storage-size <n>',
      'number of threads that can be off-CPU and timed at once',
      positiveInt('thread storage size'),
      OFFCPU_DEFAULTS.threadStorageSize,
    )
    .option(
      '--count-storage-size <n>',
      'number of distinct (thread, stack) sums the kernel can keep',
      positiveInt('count storage size'),
      OFFCPU_DEFAULTS.countStorageSize,
    )
    .addOption(new Option('--unwind <mode>', UNWIND_OPTION_HELP).argParser(parseUnwindMode).default(OFFCPU_DEFAULT_UNWIND));
}

export function offcpuCommand(): Command {
  const cmd = new Command('offcpu')
    .description('summarize off-CPU time by stack: where threads block, and for how long (BCC offcputime)')
    .argument('[duration]', 'seconds to trace (default: until Ctrl-C)', seconds('duration'));
  addOffcpuOptions(cmd)
    .addOption(new Option('-f, --folded', 'print folded stacks weighted in microseconds (flamegraph.pl, inferno, speedscope input)').conflicts(['json', 'stacks']))
    .option('-d, --delimited', 'insert a delimiter between the user and the kernel part of each stack')
    .addOption(new Option('--json', 'print the profile as JSON (values in nanoseconds)').conflicts(['stacks']))
    .option('--stacks', 'list every stack BCC-style, leaf first, with its off-CPU time in microseconds')
    .option('--top <n>', 'rows in the function tables of the default output', positiveInt('top'), OFFCPU_DEFAULTS.top)
    .option('--otlp [url]', 'also send the profile to an OTLP/HTTP endpoint (default: $OTEL_EXPORTER_OTLP_ENDPOINT or http://localhost:4318)')
    .action(async (duration: number | undefined, flags: OffcpuFlags, c: Command) => {
      const verbose = Boolean(c.optsWithGlobals<{ verbose?: boolean }>().verbose);
      await runOffcpu(toOffcpuConfig(duration, flags, verbose));
    });
  return cmd;
}

/** Checks and turns parsed options into a config; every problem is a one-line UserError. */
export function toOffcpuConfig(duration: number | undefined, f: OffcpuFlags, verbose: boolean): OffcpuConfig {
  if (duration !== undefined && f.duration !== undefined && duration !== f.duration) {
    throw new UserError(`two different durations given (${duration} and --duration ${f.duration})`);
  }
  if (f.maxBlockTime !== undefined && f.minBlockTime > f.maxBlockTime) {
    throw new UserError(`--min-block-time ${f.minBlockTime} is above --max-block-time ${f.maxBlockTime}: no block could be counted`);
  }
  if ((f.pid?.length ?? 0) > MAX_TARGETS) throw new UserError(`at most ${MAX_TARGETS} PIDs can be traced at once`);
  if ((f.tid?.length ?? 0) > MAX_TARGETS) throw new UserError(`at most ${MAX_TARGETS} TIDs can be traced at once`);
  const output: OffcpuOutput = f.stacks
    ? { format: 'stacks', delimiter: Boolean(f.delimited) }
    : { format: f.folded ? 'folded' : f.json ? 'json' : 'table', delimiter: Boolean(f.delimited), top: f.top };
  const config: OffcpuConfig = {
    pids: f.pid ?? [],
    tids: f.tid ?? [],
    userThreadsOnly: Boolean(f.userThreadsOnly),
    kernelThreadsOnly: Boolean(f.kernelThreadsOnly),
    userStacksOnly: Boolean(f.userStacksOnly),
    kernelStacksOnly: Boolean(f.kernelStacksOnly),
    minBlockUs: f.minBlockTime,
    stackStorageSize: f.stackStorageSize,
    threadStorageSize: f.threadStorageSize,
    countStorageSize: f.countStorageSize,
    output,
    verbose,
  };
  if (f.maxBlockTime !== undefined) config.maxBlockUs = f.maxBlockTime;
  if (f.state !== undefined) config.state = f.state;
  config.unwind = f.unwind ?? OFFCPU_DEFAULT_UNWIND;
  if (config.unwind === 'dwarf' && !stackCopySupported()) {
    throw new UserError(`--unwind dwarf unwinds x86-64 stacks only (this is ${process.arch}): use --unwind fp`);
  }
  const d = duration ?? f.duration;
  if (d !== undefined) config.durationSec = d;
  // Resolved before anything loads, so a bad OTEL_* setting fails at once.
  if (otlpRequested(f.otlp)) config.otlp = resolveOtlpConfig(f.otlp);
  return config;
}

// ---------------------------------------------------------------------------------------------
// Collection

const U64_MAX = (1n << 64n) - 1n;

/** The BPF globals for a config. -m/-M bound the block time in whole microseconds, as BCC does:
 * a block of d ns passes when min <= floor(d / 1000) <= max. */
export function offcpuGlobals(config: OffcpuConfig, sched: SchedulerText | undefined): Record<string, GlobalValue> {
  const globals: Record<string, GlobalValue> = {
    filter_tgid: { bool: config.pids.length > 0 },
    filter_tid: { bool: config.tids.length > 0 },
    user_threads_only: { bool: config.userThreadsOnly },
    kernel_threads_only: { bool: config.kernelThreadsOnly },
    collect_user: { bool: !config.kernelStacksOnly },
    collect_kernel: { bool: !config.userStacksOnly },
    filter_state: { bool: config.state !== undefined },
    state_filter: { u64: BigInt(config.state ?? 0) },
    min_block_ns: { u64: BigInt(config.minBlockUs) * 1000n },
    max_block_ns: { u64: config.maxBlockUs === undefined ? U64_MAX : (BigInt(config.maxBlockUs) + 1n) * 1000n - 1n },
  };
  if (sched) {
    globals.sched_text_start = { u64: sched.schedTextStart };
    globals.sched_text_end = { u64: sched.schedTextEnd };
    if (sched.traceiterStart !== undefined && sched.traceiterEnd !== undefined) {
      globals.traceiter_start = { u64: sched.traceiterStart };
      globals.traceiter_end = { u64: sched.traceiterEnd };
    }
  }
  return globals;
}

function describeTarget(config: OffcpuConfig): string {
  if (config.pids.length) return `PID ${config.pids.join(', ')}`;
  if (config.tids.length) return `TID ${config.tids.join(', ')}`;
  if (config.userThreadsOnly) return 'user threads';
  if (config.kernelThreadsOnly) return 'kernel threads';
  return 'all threads';
}

/** How user stacks are walked in the end (fp when none are collected, or copies are unsupported). */
export function effectiveOffcpuUnwind(config: Pick<OffcpuConfig, 'unwind' | 'kernelStacksOnly' | 'kernelThreadsOnly'>): UnwindMode {
  const mode = config.unwind ?? OFFCPU_DEFAULT_UNWIND;
  if (config.kernelStacksOnly || config.kernelThreadsOnly) return 'fp';
  if (mode === 'auto' && !stackCopySupported()) return 'fp';
  return mode;
}

export function offcpuLossWarnings(stats: OffcpuStats, config: Pick<OffcpuConfig, 'stackStorageSize' | 'threadStorageSize' | 'countStorageSize'>): string[] {
  const warnings: string[] = [];
  if (stats.copyDropped) {
    warnings.push(
      `${stats.copyDropped} blocks lost their user stack because the stack-copy ring buffer was full (shown as [Missed User Stack]): ` +
        'trace fewer threads (-p, -t), or use --unwind fp',
    );
  }
  if (stats.userLost || stats.kernelLost) {
    warnings.push(
      `${stats.userLost} user and ${stats.kernelLost} kernel stacks were lost (stack map full or hash collisions): ` +
        `raise --stack-storage-size (now ${config.stackStorageSize})`,
    );
  }
  if (stats.startFull) {
    warnings.push(
      `${stats.startFull} blocks were not timed because the start-time map was full: ` +
        `raise --thread-storage-size (now ${config.threadStorageSize})`,
    );
  }
  if (stats.countsFull) {
    warnings.push(
      `${stats.countsFull} blocks were dropped because the counts map was full: ` +
        `raise --count-storage-size (now ${config.countStorageSize})`,
    );
  }
  return warnings;
}

/** Collects off-CPU time, symbolizes it and, when `config.output` is set, prints it. */
export async function runOffcpu(config: OffcpuConfig): Promise<StackProfile> {
  preflight('offcpu');
  checkProcesses(config.pids, '-t');
  checkThreads(config.tids);

  const symbolizer = new Symbolizer();
  // Read the targets' mappings now: a process that exits mid-trace still resolves.
  const targets = new Set(config.pids);
  for (const tid of config.tids) {
    const tgid = tgidOf(tid);
    if (tgid !== undefined) targets.add(tgid);
  }
  for (const pid of targets) symbolizer.snapshot(pid);
  const captured = new Map<number, ProcessInfo>();
  if (config.otlp) for (const pid of targets) captured.set(pid, readProcessInfo(pid));

  const clock = wallClock(native());
  const sched = config.userStacksOnly ? undefined : loadSchedulerText();
  const unwind = effectiveOffcpuUnwind(config);
  // How user stacks are taken, best first: stacks the kernel has learned rules for walked there
  // (bpf_loop, 5.17+) and the others copied; every stack copied (5.15+); frame pointers (auto).
  type Walk = 'kernel walk' | 'copy' | 'fp';
  const open = (how: Walk) => {
    const copy = how !== 'fp';
    return BpfTool.open('offcpu', offcpuHooks(), {
      globals: {
        ...offcpuGlobals(config, sched),
        ...(copy ? { copy_user_stacks: { bool: true }, unwind_auto: { bool: unwind === 'auto' } } : {}),
        ...(how === 'kernel walk' ? { walk_learned_rules: { bool: true } } : {}),
      },
      maxEntries: {
        stacks: config.stackStorageSize,
        start: config.threadStorageSize,
        counts: config.countStorageSize,
        // With the kernel walk, copies come only while rules are learned: a quarter of the ring
        // every-stack copying needs (whose pages, once touched, count in our RSS: 8 MiB of it).
        ...(copy
          ? { stack_copies: ringBytes((targets.size > 0 ? 1000 : 4000) / (how === 'kernel walk' ? 4 : 1)), user_stacks: config.stackStorageSize }
          : { user_stacks: 1, unwind_rules: 1 }),
        ...(copy && unwind === 'auto' ? {} : { fp_tgids: 1 }),
      },
      prepare: (t) => {
        t.fillIdSet('target_tgids', config.pids);
        t.fillIdSet('target_tids', config.tids);
      },
      verbose: config.verbose,
    });
  };
  const ways: Walk[] = unwind === 'fp' ? ['fp'] : unwind === 'dwarf' ? ['kernel walk', 'copy'] : ['kernel walk', 'copy', 'fp'];
  const refused = new Map<Walk, string>();
  const attempt = (i: number): { tool: BpfTool; way: Walk } => {
    const w = ways[i]!;
    try {
      return { tool: open(w), way: w };
    } catch (err) {
      // a kernel without bpf_loop still copies; one without stack copies (before 5.15) still
      // gets frame-pointer stacks in auto mode
      if (i === ways.length - 1 || !(err instanceof UserError)) throw err;
      refused.set(w, err.message);
      return attempt(i + 1);
    }
  };
  const { tool, way } = attempt(0);
  const copying = way !== 'fp';
  const copyFailure = way === 'fp' ? refused.get('copy') : undefined;
  const startTimeNs = clock.now();
  const copies = copying && unwind !== 'fp' ? new CopySession(tool, symbolizer, 'offcpu', unwind) : undefined;
  copies?.start([...targets]);
  if (config.verbose) {
    if (copyFailure) stderr.write(`offcpu: stack copies unavailable (${copyFailure}): frame pointers\n`);
    else if (refused.has('kernel walk')) stderr.write(`offcpu: no walk by learned rules (${refused.get('kernel walk')}): every stack copied\n`);
    for (const f of tool.failures) stderr.write(`offcpu: ${f.hook} failed: ${f.error}\n`);
    stderr.write(`offcpu: attached with ${tool.hook}${copies ? (way === 'kernel walk' ? ', stack copies, kernel walk' : ', stack copies') : ''}\n`);
  }

  const bounds =
    config.maxBlockUs !== undefined ? `, blocks of ${config.minBlockUs} to ${config.maxBlockUs} us` : config.minBlockUs !== 1 ? `, blocks of at least ${config.minBlockUs} us` : '';
  await waitForEnd({
    label: `Tracing off-CPU time of ${describeTarget(config)}${bounds}`,
    ...(config.durationSec !== undefined ? { durationSec: config.durationSec } : {}),
  });

  tool.detach();
  const endTimeNs = clock.now();
  copies?.stop();
  const data = readOffcpu(tool, copies);
  const skip = readKernelSkip(tool);
  tool.close();
  if (config.verbose && copies) stderr.write(`offcpu: ${copies.describe(data.stats.unwound)}\n`);
  if (config.verbose) {
    const s = data.stats;
    stderr.write(
      `offcpu: ${s.blocks} blocks counted, ${s.outOfRange} outside the -m/-M bounds` +
        // threads the kernel switched in without a sched_switch event (offcpu.bpf.c close_unseen_block)
        (s.switchInUnseen ? `, ${s.switchInUnseen} ended without a switch-in event (timed to the next switch-out, less the CPU time between)` : '') +
        '; ' +
        (config.userStacksOnly
          ? 'no kernel stacks collected\n'
          : !sched
            ? 'kernel frame skip unknown (no /proc/kallsyms addresses): tracing frames removed by name\n'
            : skip !== undefined
              ? `kernel stacks skip ${skip} tracing frames\n`
              : 'no kernel stack was taken\n'),
    );
  }

  for (const pid of new Set(data.stacks.map((s) => s.pid))) symbolizer.snapshot(pid);
  const stacks = dropTracingFrames(resolveStacks(data.stacks, symbolizer));
  const profile: StackProfile = {
    kind: 'offcpu',
    unit: 'nanoseconds',
    startTimeNs,
    endTimeNs,
    stacks,
    warnings: [
      ...offcpuLossWarnings(data.stats, config),
      ...(copies ? copies.warnings('blocks', data.stacks) : []),
      ...(copyFailure ? ['stack copies are not supported by this kernel (needs 5.15+): user stacks were walked by frame pointers'] : []),
      ...symbolizer.warnings(),
    ],
  };
  symbolizer.close();
  if (config.output) await printOffcpu(profile, config.output);
  if (config.otlp) await exportStackProfile(profile, captured, config.otlp, config.verbose);
  return profile;
}

// ---------------------------------------------------------------------------------------------
// Printing

export async function printOffcpu(profile: StackProfile, output: OffcpuOutput): Promise<void> {
  if (output.format !== 'stacks') {
    await printStackProfile(profile, output);
    return;
  }
  // Loaded only for this listing: the table renderer brings chalk and cli-table3.
  const { renderOffcpuStacks } = await import('../render/offcpu-stacks.js');
  stdout.write(renderOffcpuStacks(profile, { delimiter: output.delimiter, color: shouldUseColor(stdout) }));
  for (const w of profile.warnings) stderr.write(`warning: ${sanitizeTerminal(w)}\n`);
}
