// What the histogram tools (biolatency, tcprtt, ...) share after attaching: the collection loop
// (once at the end, or every interval with the maps cleared in between), and printing a
// HistogramSet as BCC does (optional `HH:MM:SS` line, log2 histograms, `-e` summaries) or as one
// JSON document per print. Losses go to stderr so piped output stays clean.
import type { HistogramSet } from '../aggregate/model.js';
import { renderHistogramSet, type HistogramSetOptions } from '../render/histogram.js';
import { renderHistogramSetJson } from '../render/json.js';
import { shouldUseColor } from '../render/color.js';
import { sanitizeTerminal } from '../render/sanitize.js';
import { announcement, waitForEnd } from '../util/collect.js';
import { abortInFlight } from '../util/signals.js';
import { UserError } from '../util/errors.js';
import type { HookChoice } from '../bpf/object.js';
import type { OtlpConfig } from '../otlp/config.js';
import { messageOf } from '../util/errors.js';
import { stderr as standardError, stdout as standardOutput, type TextOutput } from '../util/stdio.js';

export interface HistogramPrintOptions {
  json: boolean;
  /** -e: `avg = ..., total: ..., count: ...` after each histogram. */
  extended: boolean;
  /** -T: a `HH:MM:SS` line (local time) before each print; JSON carries its own times. */
  timestamp: boolean;
  groupHeader?: HistogramSetOptions['groupHeader'];
}

/** `HH:MM:SS` in local time, as BCC's strftime("%H:%M:%S"). */
export function clockTime(d: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** The text of one print. */
export function formatHistogramSet(set: HistogramSet, options: HistogramPrintOptions, color = false, now = new Date()): string {
  if (options.json) return renderHistogramSetJson(set);
  let out = options.timestamp ? `${clockTime(now)}\n` : '';
  const opts: HistogramSetOptions = { extended: options.extended, color };
  if (options.groupHeader) opts.groupHeader = options.groupHeader;
  out += renderHistogramSet(set, opts);
  return out;
}

/** One read of the kernel's maps. */
export interface HistogramSnapshot {
  set: HistogramSet;
  /** Losses the user must hear about, phrased with what to do. */
  warnings: string[];
}

export interface HistogramSource {
  /** Reads what was collected between `startTimeNs` and `endTimeNs` (wall clock). */
  read(startTimeNs: bigint, endTimeNs: bigint): HistogramSnapshot;
  /** Empties the maps for the next interval. */
  clear(): void;
  /** The last read is done: detach and close the BPF side (before a final export that may take long). */
  release?(): void;
  /** Wall-clock nanoseconds now. */
  now(): bigint;
}

export interface CollectOptions {
  /** Print (and clear) every so many seconds; undefined prints once at the end. */
  intervalSec?: number;
  /** Stop after this many interval prints. */
  count?: number;
  /** Stop after this many seconds in all. */
  durationSec?: number;
  /** What is traced, e.g. `Tracing block device I/O`. */
  label: string;
  print: HistogramPrintOptions;
  stdout?: TextOutput;
  stderr?: TextOutput;
  /** --otlp: also send each printed set as OTLP metrics, under this metric name. */
  otlp?: { config: OtlpConfig; metricName: string; verbose: boolean };
}

/**
 * Sends a printed set to the OTLP endpoint. The print already happened, so a failure loses
 * nothing: the payload is saved and the error names its file. In interval mode a failed
 * interval is reported and collection goes on (the exit code says it failed); once, it ends the run.
 */
async function exportSet(set: HistogramSet, options: CollectOptions, continueOnError: boolean): Promise<void> {
  if (!options.otlp) return;
  const stderr = options.stderr ?? standardError;
  // The OpenTelemetry SDK is loaded only when asked for: it costs start-up time.
  const { exportHistograms, describeExport } = await import('../otlp/index.js');
  try {
    const result = await exportHistograms(set, options.otlp.config, { name: options.otlp.metricName });
    if (options.otlp.verbose || result.partialSuccess) stderr.write(`${describeExport(result)}\n`);
  } catch (err) {
    if (!continueOnError) throw err;
    stderr.write(`ebpf-otel: ${messageOf(err)}\n`);
    process.exitCode = err instanceof UserError ? err.exitCode : 1;
  }
}

function emit(source: HistogramSource, startNs: bigint, options: CollectOptions, clear: boolean): { set: HistogramSet; end: bigint } {
  const stdout = options.stdout ?? standardOutput;
  const stderr = options.stderr ?? standardError;
  const end = source.now();
  const snap = source.read(startNs, end);
  if (clear) source.clear();
  stdout.write(formatHistogramSet(snap.set, options.print, !options.print.json && shouldUseColor(stdout)));
  for (const w of snap.warnings) stderr.write(`warning: ${sanitizeTerminal(w)}\n`);
  return { set: snap.set, end };
}

/**
 * A promise settled by the first SIGINT/SIGTERM, and a way to stop listening. A signal also
 * aborts an export in flight (it saves its payload): the interval loop then prints what the
 * current interval holds and ends.
 */
function signalWatch(): { promise: Promise<'signal'>; dispose(): void } {
  let onSignal: (signal: NodeJS.Signals) => void = () => {};
  const promise = new Promise<'signal'>((resolve) => {
    onSignal = (signal) => {
      abortInFlight(signal);
      resolve('signal');
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  return {
    promise,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

function delay(ms: number): { promise: Promise<'timer'>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<'timer'>((resolve) => {
    timer = setTimeout(() => resolve('timer'), Math.max(0, ms));
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

/**
 * Collects and prints. Without an interval: waits for the duration or Ctrl-C, then prints once.
 * With one: prints and clears every interval until `count` prints, the duration, or Ctrl-C
 * (which prints what the current interval holds first). Returns every set printed.
 */
export async function collectHistograms(source: HistogramSource, options: CollectOptions): Promise<HistogramSet[]> {
  const stderr = options.stderr ?? standardError;
  const printed: HistogramSet[] = [];
  let windowStart = source.now();
  const started = Date.now();

  if (options.intervalSec === undefined) {
    // On a terminal waitForEnd shows a countdown; otherwise it says once that tracing has begun.
    await waitForEnd({ label: options.label, announce: true, ...(options.durationSec !== undefined ? { durationSec: options.durationSec } : {}), stream: stderr });
    const { set } = emit(source, windowStart, options, false);
    printed.push(set);
    source.release?.();
    await exportSet(set, options, false);
    return printed;
  }

  // Listening before the line: a reader that sends SIGINT on seeing it must find it handled.
  const signal = signalWatch();
  stderr.write(announcement(options.label));
  try {
    for (let n = 1; ; n++) {
      const nextAt = started + n * options.intervalSec * 1000;
      const endAt = options.durationSec !== undefined ? started + options.durationSec * 1000 : Infinity;
      const wait = delay(Math.min(nextAt, endAt) - Date.now());
      const why = await Promise.race([wait.promise, signal.promise]);
      wait.cancel();
      const { set, end } = emit(source, windowStart, options, true);
      printed.push(set);
      windowStart = end;
      const last = why === 'signal' || (options.count !== undefined && n >= options.count) || Date.now() >= endAt - 1;
      if (last) source.release?.();
      await exportSet(set, options, true);
      if (last) break;
    }
  } finally {
    signal.dispose();
  }
  return printed;
}

/** The chain, or only the hook the hidden `--hook NAME` option names (to test each fallback). */
export function selectHooks(chain: HookChoice[], hook: string | undefined): HookChoice[] {
  if (hook === undefined) return chain;
  const picked = chain.filter((c) => c.name === hook);
  if (picked.length === 0) throw new UserError(`unknown hook '${hook}': one of ${chain.map((c) => `'${c.name}'`).join(', ')}`);
  return picked;
}
