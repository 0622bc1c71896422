// log2 histograms: slot arithmetic, bounds, summing and regrouping.
//
// Two slot conventions exist and must not be mixed up:
//
//  * The model's (model.ts, `Log2Histogram.counts`): slot = bit length of v, i.e.
//      slot 0 = {0}, slot 1 = {1}, slot k = [2^(k-1), 2^k - 1] for k >= 1.
//    This is BCC python's `bpf_log2l(v)` (= floor(log2 v) + 1) for v >= 1, with 0 kept apart.
//    `log2Slot` computes it; a BPF program gets it as `v ? 64 - __builtin_clzll(v) : 0`.
//
//  * libbpf-tools' (`bits.bpf.h` log2l): slot = floor(log2 v), with 0 and 1 both in slot 0:
//      slot 0 = {0, 1}, slot k = [2^k, 2^(k+1) - 1].
//    This is what `print_log2_hist` prints, one row per slot: `0 -> 1`, `2 -> 3`, `4 -> 7`, ...
//    `bccLog2l` computes it; `toBccSlots`/`fromBccSlots` convert whole count arrays.
//
// The BCC text layout therefore shows model slots 0 and 1 together in its first row `0 -> 1`,
// and model slot k (k >= 2) in row k - 1. Bounds below are inclusive, as BCC prints them.

import type { HistogramSet, Log2Histogram } from './model.js';

/** Number of model slots that can ever be non-empty for 64-bit values (0..64). */
export const MAX_SLOTS = 65;

function toBigIntValue(v: number | bigint): bigint {
  if (typeof v === 'bigint') return v < 0n ? 0n : v;
  if (!Number.isFinite(v) || v < 1) return 0n;
  return BigInt(Math.floor(v));
}

/** Model slot of a value: 0 for 0, 1 for 1, k for 2^(k-1) <= v < 2^k. Negative/NaN count as 0; fractions are floored. */
export function log2Slot(v: number | bigint): number {
  if (typeof v === 'number' && v >= 1 && v <= 0xffffffff) return 32 - Math.clz32(Math.floor(v));
  const b = toBigIntValue(v);
  return b === 0n ? 0 : b.toString(2).length;
}

/** libbpf-tools `log2l`: floor(log2 v), with log2l(0) = log2l(1) = 0. */
export function bccLog2l(v: number | bigint): number {
  const s = log2Slot(v);
  return s === 0 ? 0 : s - 1;
}

export interface SlotBounds {
  /** Smallest value in the slot (inclusive). */
  low: bigint;
  /** Largest value in the slot (inclusive). */
  high: bigint;
}

/** Exact inclusive bounds of a model slot: 0 -> [0,0], 1 -> [1,1], k -> [2^(k-1), 2^k - 1]. */
export function slotBounds(slot: number): SlotBounds {
  if (!Number.isInteger(slot) || slot < 0) throw new RangeError(`bad log2 slot ${slot}`);
  if (slot === 0) return { low: 0n, high: 0n };
  return { low: 1n << BigInt(slot - 1), high: (1n << BigInt(slot)) - 1n };
}

/** Inclusive bounds of a BCC/libbpf-tools slot (= printed row): 0 -> [0,1], k -> [2^k, 2^(k+1) - 1]. */
export function bccSlotBounds(slot: number): SlotBounds {
  if (!Number.isInteger(slot) || slot < 0) throw new RangeError(`bad log2 slot ${slot}`);
  if (slot === 0) return { low: 0n, high: 1n };
  return { low: 1n << BigInt(slot), high: (1n << BigInt(slot + 1)) - 1n };
}

/** Model counts -> libbpf-tools counts (slots 0 and 1 add up in BCC slot 0; slot k moves to k - 1). */
export function toBccSlots(counts: readonly number[]): number[] {
  if (counts.length === 0) return [];
  const out = new Array<number>(Math.max(1, counts.length - 1)).fill(0);
  out[0] = (counts[0] ?? 0) + (counts[1] ?? 0);
  for (let k = 2; k < counts.length; k++) out[k - 1] = counts[k] ?? 0;
  return out;
}

/**
 * libbpf-tools counts (slot = `log2l(v)`, e.g. read from a map filled by a BPF program that uses
 * bits.bpf.h) -> model counts. BCC slot 0 mixes values 0 and 1; they are put in model slot 1
 * (the distinction is lost, and the BCC text layout prints both as `0 -> 1` anyway).
 */
export function fromBccSlots(bccCounts: readonly number[]): number[] {
  if (bccCounts.length === 0) return [];
  const out = new Array<number>(bccCounts.length + 1).fill(0);
  for (let k = 0; k < bccCounts.length; k++) out[k + 1] = bccCounts[k] ?? 0;
  return out;
}

/** Index of the last non-zero slot, or -1 when every slot is 0. */
export function lastNonZero(counts: readonly number[]): number {
  for (let i = counts.length - 1; i >= 0; i--) if ((counts[i] ?? 0) !== 0) return i;
  return -1;
}

/** Index of the first non-zero slot, or -1. */
export function firstNonZero(counts: readonly number[]): number {
  for (let i = 0; i < counts.length; i++) if ((counts[i] ?? 0) !== 0) return i;
  return -1;
}

/** Element-wise sum of count arrays (per-CPU copies of one histogram, or several groups). Result is trimmed of trailing zeros. */
export function sumCounts(arrays: Iterable<readonly number[]>): number[] {
  const out: number[] = [];
  for (const a of arrays) {
    for (let i = 0; i < a.length; i++) out[i] = (out[i] ?? 0) + (a[i] ?? 0);
  }
  for (let i = 0; i < out.length; i++) if (out[i] === undefined) out[i] = 0;
  out.length = lastNonZero(out) + 1;
  return out;
}

/**
 * Sum several histograms into one with the given labels. `total` is summed; `sum` is summed when
 * every input has it, otherwise left out (a partial sum would understate the average).
 */
export function sumHistograms(hs: readonly Log2Histogram[], labels: Record<string, string> = {}): Log2Histogram {
  const out: Log2Histogram = { labels: { ...labels }, counts: sumCounts(hs.map((h) => h.counts)), total: 0 };
  let sum = 0;
  let sumKnown = hs.length > 0;
  for (const h of hs) {
    out.total += h.total;
    if (h.sum === undefined) sumKnown = false;
    else sum += h.sum;
  }
  if (sumKnown) out.sum = sum;
  return out;
}

/** Build a histogram from raw values (tests, and user-space aggregation of events). */
export function histogramFromValues(values: Iterable<number | bigint>, labels: Record<string, string> = {}): Log2Histogram {
  const counts: number[] = [];
  let total = 0;
  let sum = 0;
  for (const v of values) {
    const s = log2Slot(v);
    while (counts.length <= s) counts.push(0);
    counts[s] = (counts[s] ?? 0) + 1;
    total += 1;
    sum += Number(v);
  }
  return { labels: { ...labels }, counts, total, sum };
}

/** Stable string identity of a label set (keys sorted), for maps and sorting. */
export function labelKey(labels: Record<string, string>): string {
  return JSON.stringify(Object.keys(labels).sort().map((k) => [k, labels[k]]));
}

/**
 * Regroup histograms by a subset of their labels, summing those that agree on `keep`
 * (`keep = []` merges everything into one ungrouped histogram). Groups come out in
 * first-appearance order.
 */
export function regroupHistograms(hs: readonly Log2Histogram[], keep: readonly string[]): Log2Histogram[] {
  const groups = new Map<string, { labels: Record<string, string>; members: Log2Histogram[] }>();
  for (const h of hs) {
    const labels: Record<string, string> = {};
    for (const k of keep) {
      const v = h.labels[k];
      if (v !== undefined) labels[k] = v;
    }
    const id = labelKey(labels);
    let g = groups.get(id);
    if (!g) {
      g = { labels, members: [] };
      groups.set(id, g);
    }
    g.members.push(h);
  }
  return [...groups.values()].map((g) => sumHistograms(g.members, g.labels));
}

/** Merge histograms with identical labels (e.g. the same set read twice, or several runs). */
export function mergeByLabels(hs: readonly Log2Histogram[]): Log2Histogram[] {
  const groups = new Map<string, Log2Histogram[]>();
  for (const h of hs) {
    const id = labelKey(h.labels);
    const g = groups.get(id);
    if (g) g.push(h);
    else groups.set(id, [h]);
  }
  return [...groups.values()].map((g) => sumHistograms(g, g[0]!.labels));
}

/** Sort histograms by one label (numeric-aware when both values are numbers), then by all labels. */
export function sortHistograms(hs: readonly Log2Histogram[], by?: string): Log2Histogram[] {
  const cmpStr = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  return [...hs].sort((a, b) => {
    if (by !== undefined) {
      const va = a.labels[by] ?? '';
      const vb = b.labels[by] ?? '';
      const na = Number(va);
      const nb = Number(vb);
      if (va !== '' && vb !== '' && Number.isFinite(na) && Number.isFinite(nb) && na !== nb) return na - nb;
      const c = cmpStr(va, vb);
      if (c !== 0) return c;
    }
    return cmpStr(labelKey(a.labels), labelKey(b.labels));
  });
}

/** Merge two sets measuring the same thing (window widened to cover both; same-label groups summed). */
export function mergeHistogramSets(a: HistogramSet, b: HistogramSet): HistogramSet {
  if (a.unit !== b.unit) throw new Error(`cannot merge histograms in ${a.unit} with histograms in ${b.unit}`);
  const out: HistogramSet = {
    title: a.title,
    unit: a.unit,
    startTimeNs: a.startTimeNs < b.startTimeNs ? a.startTimeNs : b.startTimeNs,
    endTimeNs: a.endTimeNs > b.endTimeNs ? a.endTimeNs : b.endTimeNs,
    histograms: mergeByLabels([...a.histograms, ...b.histograms]),
  };
  const groupBy = a.groupBy ?? b.groupBy;
  if (groupBy !== undefined) out.groupBy = groupBy;
  return out;
}

/** Mean recorded value in the histogram's unit, when the exact sum was kept. */
export function histogramAverage(h: Log2Histogram): number | undefined {
  if (h.sum === undefined || h.total <= 0) return undefined;
  return h.sum / h.total;
}

export type TimeUnit = 'nsecs' | 'usecs' | 'msecs' | 'secs';

const NS_PER: Record<TimeUnit, number> = { nsecs: 1, usecs: 1e3, msecs: 1e6, secs: 1e9 };

/** Convert a value between time units (floating point). */
export function convertTime(v: number, from: TimeUnit, to: TimeUnit): number {
  return (v * NS_PER[from]) / NS_PER[to];
}

/**
 * A model slot's bounds expressed in another time unit, as floats: `low` inclusive and `high`
 * exclusive (the next slot's low), which is what explicit-bucket exporters such as OTLP want.
 * The kernel already bucketed the values in `from` (BCC divides usecs->msecs before log2), so
 * this only re-labels the edges; it never moves counts between slots.
 */
export function slotRangeIn(slot: number, from: TimeUnit, to: TimeUnit): { low: number; highExclusive: number } {
  const b = slotBounds(slot);
  return { low: convertTime(Number(b.low), from, to), highExclusive: convertTime(Number(b.high + 1n), from, to) };
}

/** Human text for a slot: `4 -> 7 usecs` (exact, inclusive, as BCC prints), or `0 usecs` for a one-value slot. */
export function describeSlot(slot: number, unit: string): string {
  const b = slotBounds(slot);
  return b.low === b.high ? `${b.low} ${unit}` : `${b.low} -> ${b.high} ${unit}`;
}
