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

/** A distinct field text: its id, and the ids of its `_[k]` and `_[j]` forms (-1: not made yet). */
interface FieldEntry {
  plain: number;
  kernel: number;
  jit: number;
}

/**
 * The fields of folded lines, numbered: one id per distinct field text (so two records fold to
 * the same line exactly when their id sequences are equal: no field is empty or contains `;`).
 * A frame's id is found with one Map lookup by its name, a string the symbolizer shares between
 * frames (its hash is computed once).
 */
class FieldIds {
  readonly texts: string[] = [];
  /**
   * Field texts, and frame names -> the entry of their sanitized text. A name sanitizing leaves
   * alone (nearly all) is its own text: one entry serves both. A name it changes holds `;` or
   * an unsafe character, so it is never some other field's text.
   */
  private readonly entries = new Map<string, FieldEntry>();

  constructor(private readonly annotate: boolean) {}

  /** The id of `text`, already sanitized. */
  id(text: string): number {
    return this.entryOf(text).plain;
  }

  private entryOf(text: string): FieldEntry {
    let e = this.entries.get(text);
    if (e === undefined) {
      e = { plain: this.texts.length, kernel: -1, jit: -1 };
      this.texts.push(text);
      this.entries.set(text, e);
    }
    return e;
  }

  frame(f: Frame): number {
    let e = this.entries.get(f.name);
    if (e === undefined) {
      const text = sanitizeFoldedName(f.name);
      e = this.entryOf(text);
      if (text !== f.name) this.entries.set(f.name, e);
    }
    if (!this.annotate) return e.plain;
    if (f.kind === 'kernel') return e.kernel >= 0 ? e.kernel : (e.kernel = this.id(`${this.texts[e.plain]!}_[k]`));
    if (f.kind === 'jit') return e.jit >= 0 ? e.jit : (e.jit = this.id(`${this.texts[e.plain]!}_[j]`));
    return e.plain;
  }
}

/** One distinct folded line: its fields (ids, see FieldIds) and its scaled value. */
interface FoldedGroup {
  fields: number[];
  raw: number;
  value: number;
}

/**
 * Fold, merge identical lines (summing raw values), then scale, round, drop zeros and sort, as
 * `foldStacks` specifies, without joining the lines: records merge by their sequence of field
 * ids (a short key) and sort by comparing fields (see compareFields). Keying a Map by the whole
 * folded strings (kilobytes each for deep C++ stacks) and keeping a string per line cost more
 * than everything else here.
 */
function foldGroups(stacks: readonly StackRecord[], opts: FoldedOptions): { groups: FoldedGroup[]; texts: string[] } {
  const divisor = opts.divisor ?? 1;
  if (!(divisor > 0) || !Number.isFinite(divisor)) throw new RangeError(`folded divisor must be a positive number, got ${divisor}`);
  const includeComm = opts.includeComm ?? true;
  const ids = new FieldIds(opts.annotate ?? true);
  const delimId = opts.delimiter !== undefined && opts.delimiter !== '' ? ids.id(sanitizeFoldedName(opts.delimiter)) : -1;
  const unknownId = ids.id('[unknown]');
  const comms = new Map<string, string>();
  const byKey = new Map<string, FoldedGroup>();
  // The key: field ids as UTF-16 code units, ids below 0x8000 as one unit, larger ones as two
  // (the first with the top bit set), so no two id sequences share a key.
  const units: number[] = [];
  const fields: number[] = [];
  const order: FoldedGroup[] = [];
  // Indexed loops: unoptimized code (all of this runs once, cold) allocates a result object per
  // step of a for-of.
  for (let n = 0; n < stacks.length; n++) {
    const r = stacks[n]!;
    fields.length = 0;
    if (includeComm) {
      let comm = comms.get(r.comm);
      if (comm === undefined) {
        comm = sanitizeFoldedName(r.comm);
        comms.set(r.comm, comm);
      }
      fields.push(ids.id(opts.includePid ? `${comm}-${r.pid}` : comm));
    }
    let prev: FrameKind | undefined;
    const frames = r.frames;
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i]!;
      if (delimId >= 0 && f.kind === 'kernel' && (prev === 'user' || prev === 'jit')) fields.push(delimId);
      fields.push(ids.frame(f));
      prev = f.kind;
    }
    if (fields.length === 0) fields.push(unknownId);
    units.length = 0;
    for (let i = 0; i < fields.length; i++) {
      const id = fields[i]!;
      if (id < 0x8000) units.push(id);
      else units.push(0x8000 | (id >>> 15), id & 0x7fff);
    }
    const key = codeUnits(units);
    const g = byKey.get(key);
    if (g === undefined) {
      const created: FoldedGroup = { fields: fields.slice(), raw: r.value, value: 0 };
      byKey.set(key, created);
      order.push(created);
    } else g.raw += r.value;
  }
  const groups: FoldedGroup[] = [];
  for (let k = 0; k < order.length; k++) {
    const g = order[k]!;
    g.value = Math.round(g.raw / divisor);
    if (g.value > 0) groups.push(g);
  }
  const texts = ids.texts;
  groups.sort((a, b) => compareFields(a.fields, b.fields, texts));
  return { groups, texts };
}

const SEMICOLON = 0x3b;

/**
 * Orders two lines as their folded strings (`fields joined by ;`) compare in code-unit order,
 * from the fields alone: equal ids are equal texts; at the first differing field, the texts
 * decide unless one is a prefix of the other, where the shorter line's next character (`;`, or
 * its end) is what the longer text's next character meets. No field contains `;`.
 */
function compareFields(a: readonly number[], b: readonly number[], texts: readonly string[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    const tx = texts[x]!;
    const ty = texts[y]!;
    if (tx.length < ty.length && ty.startsWith(tx)) {
      // a continues with `;` (or ends: then it is a prefix of b).
      if (i + 1 === a.length) return -1;
      return SEMICOLON < ty.charCodeAt(tx.length) ? -1 : 1;
    }
    if (ty.length < tx.length && tx.startsWith(ty)) {
      if (i + 1 === b.length) return 1;
      return tx.charCodeAt(ty.length) < SEMICOLON ? -1 : 1;
    }
    return tx < ty ? -1 : 1;
  }
  return a.length - b.length;
}

/** The folded stack string of a group. */
function groupStack(g: FoldedGroup, texts: readonly string[]): string {
  const parts = new Array<string>(g.fields.length);
  for (let i = 0; i < g.fields.length; i++) parts[i] = texts[g.fields[i]!]!;
  return parts.join(';');
}

/** Fold, merge identical lines (summing raw values), then scale, round, drop zeros and sort. */
export function foldStacks(stacks: readonly StackRecord[], opts: FoldedOptions = {}): FoldedEntry[] {
  const { groups, texts } = foldGroups(stacks, opts);
  return groups.map((g) => ({ stack: groupStack(g, texts), value: g.value }));
}

/** String.fromCharCode over an array, in slices small enough for the argument limit. */
function codeUnits(units: readonly number[]): string {
  if (units.length <= 4096) return String.fromCharCode.apply(null, units as number[]);
  let s = '';
  for (let i = 0; i < units.length; i += 4096) s += String.fromCharCode.apply(null, units.slice(i, i + 4096));
  return s;
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
  const { groups, texts } = foldGroups(profile.stacks, o);
  // One join over every field and count: a single flat string, without a string per line (tens
  // of MB for deep stacks, which the garbage collector would copy around), and that the caller's
  // write does not have to flatten first. Fields after the first go in with their `;` (made once
  // per distinct field): join's cost is per piece.
  const withSemi = new Array<string | undefined>(texts.length);
  const pieces: string[] = [];
  for (let k = 0; k < groups.length; k++) {
    const f = groups[k]!.fields;
    pieces.push(texts[f[0]!]!);
    for (let i = 1; i < f.length; i++) {
      const id = f[i]!;
      let t = withSemi[id];
      if (t === undefined) {
        t = `;${texts[id]!}`;
        t.charCodeAt(0); // flattens it in place: join then copies it directly
        withSemi[id] = t;
      }
      pieces.push(t);
    }
    pieces.push(` ${groups[k]!.value}\n`);
  }
  return pieces.join('');
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
