// The default text output of cpuprofile (and offcpu): a summary line, the top functions by self
// and by total value, then the heaviest stacks in BCC `profile` layout:
//
//     leaf_function
//     caller
//     ...
//     -                comm (pid)
//         42 (12.50%)
//
// Color is decided by the caller (`color`), never detected here; with color=false the output
// contains no escape sequences at all. Every comm and frame name goes through sanitizeTerminal.

import { Chalk, type ChalkInstance } from 'chalk';
import Table from 'cli-table3';

import type { FrameKind, StackProfile, StackRecord } from '../aggregate/model.js';
import { summarize, topFunctions, topStacks, type FunctionStat } from '../aggregate/stacks.js';
import { formatCount, formatDurationNs, formatPercent } from './format.js';
import { sanitizeTerminal, truncateEnd } from './sanitize.js';

export interface TableOptions {
  /** Emit ANSI colors (the caller decides: TTY, NO_COLOR, --color). */
  color: boolean;
  /** How many functions per table (default 20; 0 leaves the function tables out). */
  topFunctions?: number;
  /** How many stacks (default 10; 0 leaves the stacks out). */
  topStacks?: number;
  /** Which function tables to show (default both, self first). */
  functionTables?: ReadonlyArray<'self' | 'total'>;
  /** BCC prints stacks leaf first (default); 'root-first' prints them as a call path. */
  stackOrder?: 'leaf-first' | 'root-first';
  /** Print `--` between the kernel and the user part of a stack (BCC `-d`). */
  delimiter?: boolean;
  /** What a value is, for column titles and the summary: default `samples` or `off-CPU time` by unit. */
  valueLabel?: string;
  /** Formats a value: default plain integer for samples, human duration (`1.23 s`) for nanoseconds. */
  formatValue?: (v: number) => string;
  /** Name of the per-record `count` (default `blocks` when records carry a count, else not shown). */
  countLabel?: string;
  /** Longest function name shown in the tables before cutting with `…` (default 100). Stacks are never cut. */
  maxNameWidth?: number;
  /** Print the profile's warnings after the summary (default true). */
  warnings?: boolean;
}

interface Resolved {
  c: ChalkInstance;
  valueLabel: string;
  fmt: (v: number) => string;
  countLabel: string | undefined;
  maxName: number;
}

function resolve(profile: StackProfile, opts: TableOptions): Resolved {
  const ns = profile.unit === 'nanoseconds';
  const hasCount = profile.stacks.some((r) => r.count !== undefined);
  return {
    c: new Chalk({ level: opts.color ? 1 : 0 }),
    valueLabel: opts.valueLabel ?? (ns ? 'off-CPU time' : 'samples'),
    fmt: opts.formatValue ?? (ns ? (v: number) => formatDurationNs(v) : formatCount),
    countLabel: opts.countLabel ?? (hasCount ? 'blocks' : undefined),
    maxName: opts.maxNameWidth ?? 100,
  };
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The one-line summary: `1234 samples at 99 Hz over 10.0 s, 3 processes, 5 threads, 812 distinct stacks`. */
export function summaryLine(profile: StackProfile, opts: Pick<TableOptions, 'formatValue' | 'valueLabel' | 'countLabel'> = {}): string {
  const s = summarize(profile);
  const ns = profile.unit === 'nanoseconds';
  const parts: string[] = [];
  if (ns) {
    const fmt = opts.formatValue ?? ((v: number) => formatDurationNs(v));
    let head = `${fmt(s.total)} ${opts.valueLabel ?? 'off-CPU'}`;
    if (s.count !== undefined) head += ` in ${plural(s.count, opts.countLabel ?? 'block', opts.countLabel ?? 'blocks')}`;
    parts.push(head);
  } else {
    let head = plural(s.total, 'sample', 'samples');
    if (profile.frequencyHz !== undefined) head += ` at ${profile.frequencyHz} Hz`;
    else if (profile.samplePeriod !== undefined) head += ` every ${profile.samplePeriod} events`;
    parts.push(head);
  }
  let line = `${parts[0]} over ${formatDurationNs(s.durationNs)}`;
  line += `, ${plural(s.processes, 'process', 'processes')}, ${plural(s.threads, 'thread', 'threads')}`;
  line += `, ${plural(s.stacks, 'distinct stack', 'distinct stacks')}`;
  return line;
}

function kindTag(kind: FrameKind): string {
  return kind === 'kernel' ? ' [k]' : kind === 'jit' ? ' [j]' : '';
}

function colorFrame(c: ChalkInstance, kind: FrameKind, text: string): string {
  if (kind === 'kernel') return c.cyan(text);
  if (kind === 'jit') return c.yellow(text);
  if (kind === 'marker') return c.dim(text);
  return text;
}

function functionTable(stats: FunctionStat[], by: 'self' | 'total', r: Resolved): string {
  const head: string[] = [`self ${r.valueLabel}`, 'self %'];
  if (r.countLabel !== undefined) head.push(`self ${r.countLabel}`);
  head.push(`total ${r.valueLabel}`, 'total %');
  if (r.countLabel !== undefined) head.push(`total ${r.countLabel}`);
  head.push('function');
  const t = new Table({
    head: head.map((h) => r.c.bold(h)),
    style: { head: [], border: [], 'padding-left': 1, 'padding-right': 1, compact: true },
    colAligns: [...head.slice(0, -1).map(() => 'right' as const), 'left' as const],
    wordWrap: false,
  });
  for (const s of stats) {
    const name = truncateEnd(sanitizeTerminal(s.name), r.maxName) + kindTag(s.kind);
    const row: string[] = [r.fmt(s.self), formatPercent(s.selfPercent)];
    if (r.countLabel !== undefined) row.push(formatCount(s.selfCount ?? 0));
    row.push(r.fmt(s.total), formatPercent(s.totalPercent));
    if (r.countLabel !== undefined) row.push(formatCount(s.totalCount ?? 0));
    row.push(colorFrame(r.c, s.kind, name));
    t.push(row);
  }
  const title = by === 'self' ? `Top functions by self ${r.valueLabel} (leaf):` : `Top functions by total ${r.valueLabel} (inclusive):`;
  return `${r.c.bold(title)}\n${t.toString()}\n`;
}

/** One stack in BCC `profile` layout (4-space indented frames, `-  comm (pid)`, value line), ending with a blank line. */
export function formatStack(
  rec: StackRecord,
  pct: number,
  opts: Pick<TableOptions, 'color' | 'stackOrder' | 'delimiter' | 'formatValue' | 'countLabel'> & { unit?: StackProfile['unit'] },
): string {
  const c = new Chalk({ level: opts.color ? 1 : 0 });
  const fmt = opts.formatValue ?? (opts.unit === 'nanoseconds' ? (v: number) => formatDurationNs(v) : formatCount);
  const frames = opts.stackOrder === 'root-first' ? rec.frames : [...rec.frames].reverse();
  let out = '';
  let prev: FrameKind | undefined;
  for (const f of frames) {
    if (opts.delimiter && prev !== undefined && (prev === 'kernel') !== (f.kind === 'kernel') && prev !== 'marker' && f.kind !== 'marker') {
      out += '    --\n';
    }
    out += `    ${colorFrame(c, f.kind, sanitizeTerminal(f.name) + kindTag(f.kind))}\n`;
    prev = f.kind;
  }
  if (frames.length === 0) out += `    ${c.dim('[no stack]')}\n`;
  out += `    ${c.dim('-'.padEnd(16))} ${c.bold(sanitizeTerminal(rec.comm))} (${rec.pid})\n`;
  let val = `        ${fmt(rec.value)} (${formatPercent(pct)})`;
  if (rec.count !== undefined) val += `, ${plural(rec.count, opts.countLabel ?? 'block', opts.countLabel ?? 'blocks')}`;
  out += `${val}\n\n`;
  return out;
}

/** cpuprofile/offcpu default output. Ends with a newline. */
export function renderTable(profile: StackProfile, opts: TableOptions): string {
  const r = resolve(profile, opts);
  let out = `${r.c.bold(summaryLine(profile, opts))}\n`;
  if (opts.warnings ?? true) {
    for (const w of profile.warnings) out += `${r.c.yellow(`warning: ${sanitizeTerminal(w)}`)}\n`;
  }
  if (profile.stacks.length === 0) return `${out}\nNo stacks were collected.\n`;
  const nf = opts.topFunctions ?? 20;
  if (nf > 0) {
    for (const by of opts.functionTables ?? (['self', 'total'] as const)) {
      out += `\n${functionTable(topFunctions(profile.stacks, nf, by), by, r)}`;
    }
  }
  const ns = opts.topStacks ?? 10;
  if (ns > 0) {
    const top = topStacks(profile.stacks, ns);
    out += `\n${r.c.bold(`Top ${top.length} ${top.length === 1 ? 'stack' : 'stacks'} by ${r.valueLabel}:`)}\n\n`;
    for (const s of top) {
      out += formatStack(s.record, s.percent, {
        color: opts.color,
        stackOrder: opts.stackOrder ?? 'leaf-first',
        delimiter: opts.delimiter ?? false,
        formatValue: r.fmt,
        ...(opts.countLabel !== undefined ? { countLabel: opts.countLabel } : {}),
        unit: profile.unit,
      });
    }
  }
  return out;
}
