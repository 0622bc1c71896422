// `--json` output. The schemas are stable: every key is always present (null when unknown), key
// order is fixed, and 64-bit quantities (nanosecond times, addresses) are strings so no JSON
// parser rounds them. Names are not altered (JSON.stringify escapes control characters); the
// serialized text additionally escapes `<`, `>`, `&`, DEL, C1 controls and bidi/line-separator
// characters as \uXXXX, so the output is inert on a terminal and safe to embed in HTML.

import type { Frame, HistogramSet, Log2Histogram, StackProfile, StackRecord } from '../aggregate/model.js';
import { firstNonZero, histogramAverage, lastNonZero, slotBounds } from '../aggregate/log2.js';
import { compareStacks, totalCount, totalValue } from '../aggregate/stacks.js';

export const STACK_PROFILE_SCHEMA = 'ebpf-otel/stack-profile@1';
export const HISTOGRAMS_SCHEMA = 'ebpf-otel/histograms@1';

export interface FrameJson {
  name: string;
  kind: Frame['kind'];
  module: string | null;
  /** `0x`-prefixed lowercase hex, or null. */
  address: string | null;
  buildId: string | null;
}

export interface StackJson {
  pid: number;
  tid: number;
  comm: string;
  value: number;
  /** Off-CPU blocks summed into `value`, or null. */
  count: number | null;
  /** Root first, leaf last. */
  frames: FrameJson[];
}

export interface StackProfileJson {
  schema: typeof STACK_PROFILE_SCHEMA;
  kind: StackProfile['kind'];
  unit: StackProfile['unit'];
  frequencyHz: number | null;
  samplePeriod: number | null;
  /** ISO 8601 UTC, millisecond precision. */
  start: string;
  end: string;
  /** Exact nanoseconds since the Unix epoch, decimal strings. */
  startTimeNs: string;
  endTimeNs: string;
  durationNs: string;
  /** Sum of all stack values. */
  total: number;
  /** Sum of all stack counts, or null when records carry none. */
  totalCount: number | null;
  /** Heaviest first (value desc, then pid, tid, comm, frames). */
  stacks: StackJson[];
  warnings: string[];
}

export interface BucketJson {
  /** Inclusive bounds in `unit`. Numbers: exact up to 2^53, which no time in usecs reaches. */
  low: number;
  high: number;
  count: number;
}

export interface HistogramJson {
  labels: Record<string, string>;
  total: number;
  /** Exact sum of recorded values in `unit`, or null when not kept. */
  sum: number | null;
  /** sum / total, or null. */
  average: number | null;
  /** Model slots from the first to the last non-empty one (slot 0 = {0}, 1 = {1}, k = [2^(k-1), 2^k-1]). */
  buckets: BucketJson[];
}

export interface HistogramSetJson {
  schema: typeof HISTOGRAMS_SCHEMA;
  title: string;
  unit: HistogramSet['unit'];
  groupBy: string | null;
  start: string;
  end: string;
  startTimeNs: string;
  endTimeNs: string;
  durationNs: string;
  histograms: HistogramJson[];
}

/** Epoch nanoseconds as ISO 8601 (UTC, ms precision); out-of-range times give `invalid`. */
export function nsToIso(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? 'invalid' : d.toISOString();
}

function frameJson(f: Frame): FrameJson {
  return {
    name: f.name,
    kind: f.kind,
    module: f.module ?? null,
    address: f.address !== undefined ? `0x${f.address.toString(16)}` : null,
    buildId: f.buildId ?? null,
  };
}

function stackJson(r: StackRecord): StackJson {
  return { pid: r.pid, tid: r.tid, comm: r.comm, value: r.value, count: r.count ?? null, frames: r.frames.map(frameJson) };
}

function durationOf(start: bigint, end: bigint): string {
  return (end > start ? end - start : 0n).toString();
}

export function stackProfileToJson(profile: StackProfile): StackProfileJson {
  return {
    schema: STACK_PROFILE_SCHEMA,
    kind: profile.kind,
    unit: profile.unit,
    frequencyHz: profile.frequencyHz ?? null,
    samplePeriod: profile.samplePeriod ?? null,
    start: nsToIso(profile.startTimeNs),
    end: nsToIso(profile.endTimeNs),
    startTimeNs: profile.startTimeNs.toString(),
    endTimeNs: profile.endTimeNs.toString(),
    durationNs: durationOf(profile.startTimeNs, profile.endTimeNs),
    total: totalValue(profile.stacks),
    totalCount: totalCount(profile.stacks) ?? null,
    stacks: [...profile.stacks].sort(compareStacks).map(stackJson),
    warnings: [...profile.warnings],
  };
}

export function histogramToJson(h: Log2Histogram): HistogramJson {
  const buckets: BucketJson[] = [];
  const first = firstNonZero(h.counts);
  const last = lastNonZero(h.counts);
  if (first >= 0) {
    for (let i = first; i <= last; i++) {
      const b = slotBounds(i);
      buckets.push({ low: Number(b.low), high: Number(b.high), count: h.counts[i] ?? 0 });
    }
  }
  return { labels: { ...h.labels }, total: h.total, sum: h.sum ?? null, average: histogramAverage(h) ?? null, buckets };
}

export function histogramSetToJson(set: HistogramSet): HistogramSetJson {
  return {
    schema: HISTOGRAMS_SCHEMA,
    title: set.title,
    unit: set.unit,
    groupBy: set.groupBy ?? null,
    start: nsToIso(set.startTimeNs),
    end: nsToIso(set.endTimeNs),
    startTimeNs: set.startTimeNs.toString(),
    endTimeNs: set.endTimeNs.toString(),
    durationNs: durationOf(set.startTimeNs, set.endTimeNs),
    histograms: set.histograms.map(histogramToJson),
  };
}

const UNSAFE_JSON = /[<>&\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/g;

/** JSON.stringify plus escaping of characters that are unsafe on a terminal or inside HTML. */
export function safeStringify(value: unknown, pretty = false): string {
  const text = JSON.stringify(value, null, pretty ? 2 : undefined) ?? 'null';
  return text.replace(UNSAFE_JSON, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `--json` text for a stack profile, with a trailing newline. */
export function renderStackProfileJson(profile: StackProfile, opts: { pretty?: boolean } = {}): string {
  return `${safeStringify(stackProfileToJson(profile), opts.pretty ?? false)}\n`;
}

/** `--json` text for a histogram set, with a trailing newline. */
export function renderHistogramSetJson(set: HistogramSet, opts: { pretty?: boolean } = {}): string {
  return `${safeStringify(histogramSetToJson(set), opts.pretty ?? false)}\n`;
}
