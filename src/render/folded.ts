// Folded stacks, the input of flamegraph.pl, inferno and speedscope:
//
//   comm;root_frame;...;leaf_frame COUNT
//
// one line per distinct stack, root first, kernel frames suffixed `_[k]` (JIT frames `_[j]`,
// as flamegraph.pl's colour palettes expect), identical lines merged (values summed), lines
// sorted by the folded string (code-unit order, i.e. byte order for ASCII).
//
// Names are made safe with `sanitizeFoldedName`: `;` becomes `:`, control characters (newline,
// tab, ESC, ...) become the visible text `\xNN`, bidi controls `\u{XXXX}`, empty names
// `[unknown]`. The count is always the last space-separated field, so names may contain spaces
// and even end in digits without ambiguity.

import type { Frame, FrameKind, StackProfile, StackRecord } from '../aggregate/model.js';
import { sanitizeFoldedName, sanitizeTerminal } from './sanitize.js';

export interface FoldedOptions {
  /** Start each line with the thread name (default true). */
  includeComm?: boolean;
  /** Make the first field `comm-PID` (stackcollapse-perf `--pid` style; default false). */
  includePid?: boolean;
  /**
   * A frame inserted between the user part and the kernel part of a stack (where a user or JIT
   * frame is directly followed by a kernel frame). BCC `profile -d` uses `-`. Default: none.
   */
  delimiter?: string;
  /** Suffix kernel frames with `_[k]` and JIT frames with `_[j]` (default true). */
  annotate?: boolean;
  /**
   * Divide each merged value by this and round to the nearest integer; lines that round to 0 are
   * dropped. Default for `renderFolded`: 1000 when the profile unit is nanoseconds (off-CPU
   * output weighted in microseconds, as BCC offcputime -f), else 1.
   */
  divisor?: number;
}

export interface FoldedEntry {
  /** The folded stack: `comm;frame;...;leaf`, already sanitized. */
  stack: string;
  /** Its (scaled, rounded) value; always > 0. */
  value: number;
}

// The same few thousand names recur across every stack of a profile: sanitize each once.
const sanitizedNames = new Map<string, string>();
function sanitizedName(name: string): string {
  let s = sanitizedNames.get(name);
  if (s === undefined) {
    s = sanitizeFoldedName(name);
    if (sanitizedNames.size >= 1 << 18) sanitizedNames.clear();
    sanitizedNames.set(name, s);
  }
  return s;
}

/** Frame as it appears in a folded line (sanitized, annotated). */
export function foldedFrameName(f: Frame, annotate = true): string {
  const name = sanitizedName(f.name);
  if (!annotate) return name;
  if (f.kind === 'kernel') return `${name}_[k]`;
  if (f.kind === 'jit') return `${name}_[j]`;
  return name;
}

/** The folded stack string of one record (no count). */
export function foldStack(r: StackRecord, opts: FoldedOptions = {}): string {
  const annotate = opts.annotate ?? true;
  const parts: string[] = [];
  if (opts.includeComm ?? true) {
    const comm = sanitizeFoldedName(r.comm);
    parts.push(opts.includePid ? `${comm}-${r.pid}` : comm);
  }
  const delim = opts.delimiter !== undefined && opts.delimiter !== '' ? sanitizeFoldedName(opts.delimiter) : undefined;
  let prev: FrameKind | undefined;
  for (const f of r.frames) {
    if (delim !== undefined && f.kind === 'kernel' && (prev === 'user' || prev === 'jit')) parts.push(delim);
    parts.push(foldedFrameName(f, annotate));
    prev = f.kind;
  }
  if (parts.length === 0) parts.push('[unknown]');
  return parts.join(';');
}

function byStack(a: FoldedEntry, b: FoldedEntry): number {
  return a.stack < b.stack ? -1 : a.stack > b.stack ? 1 : 0;
}

/** Fold, merge identical lines (summing raw values), then scale, round, drop zeros and sort. */
export function foldStacks(stacks: readonly StackRecord[], opts: FoldedOptions = {}): FoldedEntry[] {
  const divisor = opts.divisor ?? 1;
  if (!(divisor > 0) || !Number.isFinite(divisor)) throw new RangeError(`folded divisor must be a positive number, got ${divisor}`);
  const sums = new Map<string, number>();
  for (const r of stacks) {
    const key = foldStack(r, opts);
    sums.set(key, (sums.get(key) ?? 0) + r.value);
  }
  const out: FoldedEntry[] = [];
  for (const [stack, raw] of sums) {
    const value = Math.round(raw / divisor);
    if (value > 0) out.push({ stack, value });
  }
  return out.sort(byStack);
}

/** Default divisor for a profile: 1000 for nanosecond values (folded output in microseconds), else 1. */
export function defaultFoldedDivisor(profile: StackProfile): number {
  return profile.unit === 'nanoseconds' ? 1000 : 1;
}

/** One `stack COUNT` line (no newline). */
export function formatFoldedLine(e: FoldedEntry): string {
  return `${e.stack} ${e.value}`;
}

/** Whole folded output for a profile: one line per stack, each ending in `\n` ('' when empty). */
export function renderFolded(profile: StackProfile, opts: FoldedOptions = {}): string {
  const o: FoldedOptions = { ...opts, divisor: opts.divisor ?? defaultFoldedDivisor(profile) };
  let s = '';
  for (const e of foldStacks(profile.stacks, o)) s += `${formatFoldedLine(e)}\n`;
  return s;
}

// ---------------------------------------------------------------------------------------------
// Strict parser

export interface FoldedRecord {
  /** Fields between `;`, in order (the first is the comm when the producer included it). */
  frames: string[];
  value: number;
  /** 1-based line number in the input. */
  line: number;
}

export interface FoldedParseError {
  line: number;
  reason: string;
  /** The offending line, sanitized for printing and cut to 200 characters. */
  text: string;
}

export type FoldedLineResult =
  | { kind: 'record'; record: FoldedRecord }
  | { kind: 'blank' }
  | { kind: 'error'; error: FoldedParseError };

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
const COUNT = /^[0-9]+$/;

function errorAt(line: number, reason: string, text: string): FoldedLineResult {
  const shown = sanitizeTerminal(text);
  return { kind: 'error', error: { line, reason, text: shown.length > 200 ? `${shown.slice(0, 199)}…` : shown } };
}

/**
 * Parse one line of folded output. A trailing `\r` (and `\n`) is ignored; an empty or
 * whitespace-only line is `blank`. Strict: the count must be a non-negative integer (safe
 * integer range) after the last space; the stack must be non-empty, with no empty frame
 * (`;;`, leading or trailing `;`) and no control character (tab included).
 */
export function parseFoldedLine(text: string, line: number): FoldedLineResult {
  let s = text;
  if (s.endsWith('\n')) s = s.slice(0, -1);
  if (s.endsWith('\r')) s = s.slice(0, -1);
  if (s.trim() === '') return { kind: 'blank' };
  const sp = s.lastIndexOf(' ');
  if (sp < 0) return errorAt(line, 'no count: expected "stack COUNT"', s);
  const stack = s.slice(0, sp);
  const countText = s.slice(sp + 1);
  if (!COUNT.test(countText)) return errorAt(line, `count is not a non-negative integer: "${sanitizeFoldedName(countText)}"`, s);
  const value = Number(countText);
  if (!Number.isSafeInteger(value)) return errorAt(line, 'count is too large', s);
  if (stack === '') return errorAt(line, 'empty stack', s);
  if (CONTROL.test(stack)) return errorAt(line, 'control character in stack', s);
  const frames = stack.split(';');
  for (const f of frames) if (f === '') return errorAt(line, 'empty frame name', s);
  return { kind: 'record', record: { frames, value, line } };
}

/**
 * Line-by-line parser: feed lines (or arbitrary text chunks with `write`) and collect records
 * and errors. Memory grows only with what the caller keeps: pass `onRecord` to stream records
 * out instead of accumulating them.
 */
export class FoldedParser {
  readonly records: FoldedRecord[] = [];
  readonly errors: FoldedParseError[] = [];
  private lineNo = 0;
  private pending = '';
  private readonly onRecord: ((r: FoldedRecord) => void) | undefined;

  constructor(onRecord?: (r: FoldedRecord) => void) {
    this.onRecord = onRecord;
  }

  /** Feed exactly one line (without or with its newline). */
  line(text: string): void {
    this.lineNo += 1;
    const r = parseFoldedLine(text, this.lineNo);
    if (r.kind === 'record') {
      if (this.onRecord) this.onRecord(r.record);
      else this.records.push(r.record);
    } else if (r.kind === 'error') {
      this.errors.push(r.error);
    }
  }

  /** Feed a chunk of text that may contain several lines or end mid-line. */
  write(chunk: string): void {
    let start = 0;
    const text = this.pending + chunk;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      this.line(text.slice(start, nl));
      start = nl + 1;
    }
    this.pending = text.slice(start);
  }

  /** Flush a final line that had no newline. */
  end(): void {
    if (this.pending !== '') {
      const last = this.pending;
      this.pending = '';
      this.line(last);
    }
  }

  /** Lines seen so far. */
  get lines(): number {
    return this.lineNo;
  }
}

export interface FoldedParseResult {
  records: FoldedRecord[];
  errors: FoldedParseError[];
}

/** Parse a whole text, or an iterable of lines (e.g. an array, or a generator reading a file). */
export function parseFolded(input: string | Iterable<string>): FoldedParseResult {
  const p = new FoldedParser();
  if (typeof input === 'string') {
    p.write(input);
    p.end();
  } else {
    for (const l of input) p.line(l);
  }
  return { records: p.records, errors: p.errors };
}

/** Same as `parseFolded` for an async stream of lines (e.g. `readline.createInterface({input})`). */
export async function parseFoldedAsync(lines: AsyncIterable<string>, onRecord?: (r: FoldedRecord) => void): Promise<FoldedParseResult> {
  const p = new FoldedParser(onRecord);
  for await (const l of lines) p.line(l);
  return { records: p.records, errors: p.errors };
}

export interface ToStacksOptions {
  /** The first field of each line is the comm (default true, as our output and BCC's). */
  hasComm?: boolean;
  /** Frame name that separates user and kernel parts and is dropped (default `-`). */
  delimiter?: string;
}

/**
 * Turn parsed folded records back into stack records (pid/tid 0: folded text does not carry
 * them). `name_[k]` becomes a kernel frame, `name_[j]` a JIT frame, anything else a user frame;
 * a delimiter frame directly followed by a kernel frame is dropped.
 */
export function foldedToStacks(records: readonly FoldedRecord[], opts: ToStacksOptions = {}): StackRecord[] {
  const hasComm = opts.hasComm ?? true;
  const delim = opts.delimiter ?? '-';
  return records.map((rec) => {
    const fields = hasComm ? rec.frames.slice(1) : rec.frames;
    const frames: Frame[] = [];
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      if (f === delim && i + 1 < fields.length && fields[i + 1]!.endsWith('_[k]')) continue;
      if (f.endsWith('_[k]') && f.length > 4) frames.push({ name: f.slice(0, -4), kind: 'kernel' });
      else if (f.endsWith('_[j]') && f.length > 4) frames.push({ name: f.slice(0, -4), kind: 'jit' });
      else frames.push({ name: f, kind: 'user' });
    }
    return { pid: 0, tid: 0, comm: hasComm ? rec.frames[0]! : '', frames, value: rec.value };
  });
}
