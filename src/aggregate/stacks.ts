// Pure functions over stack records: merging, totals, top-N functions and stacks, frame filters.
// Nothing here formats text; renderers (table, folded, json, ...) build on these.

import type { Frame, FrameKind, StackProfile, StackRecord } from './model.js';

/** Which record fields make two stacks "the same" when merging (frame names+kinds always do). */
export interface MergeKey {
  /** Key by process id (default true). */
  pid?: boolean;
  /** Key by thread id (default false: threads of one process merge). */
  tid?: boolean;
  /** Key by thread name (default true). */
  comm?: boolean;
}

/** Identity of a frame for merging and function statistics: its printed name and its kind. */
export function frameKey(f: Frame): string {
  return `${f.kind}\u0000${f.name}`;
}

/** One map per frame kind: frames are looked up by kind, then by name (a property load, then one Map lookup). */
function byFrameKind<V>(): Record<FrameKind, Map<string, V>> {
  return { user: new Map(), kernel: new Map(), jit: new Map(), marker: new Map() };
}

/**
 * Numbers for frames by (kind, name), so that a stack's key is a short string: one map per kind,
 * looked up by a name string the symbolizer shares between frames (its hash is computed once).
 * Keying by the JSON of every name (kilobytes a stack for deep C++ stacks) cost more than the
 * rest of merging and ranking together.
 */
class FrameIds {
  private next = 0;
  private readonly byKind = byFrameKind<number>();

  id(f: Frame): number {
    const names = this.byKind[f.kind];
    let id = names.get(f.name);
    if (id === undefined) {
      id = this.next++;
      names.set(f.name, id);
    }
    return id;
  }
}

/**
 * The key fields of `r` (JSON: self-delimiting), then its frame ids as UTF-16 code units (below
 * 0x8000 one unit, larger ones two, the first with the top bit set): equal exactly when the key
 * fields and the frames' kinds and names are.
 */
function stackKey(r: StackRecord, key: Required<MergeKey>, ids: FrameIds, units: number[]): string {
  const head = JSON.stringify([key.pid ? r.pid : '', key.tid ? r.tid : '', key.comm ? r.comm : '']);
  units.length = 0;
  const frames = r.frames;
  for (let i = 0; i < frames.length; i++) {
    const id = ids.id(frames[i]!);
    if (id < 0x8000) units.push(id);
    else units.push(0x8000 | (id >>> 15), id & 0x7fff);
  }
  let tail = '';
  for (let i = 0; i < units.length; i += 4096) tail += String.fromCharCode.apply(null, units.slice(i, i + 4096));
  return head + tail;
}

/** Sum of `value` over all records (the profile total percentages are relative to). */
export function totalValue(stacks: readonly StackRecord[]): number {
  let t = 0;
  for (const r of stacks) t += r.value;
  return t;
}

/** Sum of `count` (off-CPU blocks) over all records, or undefined when no record carries one. */
export function totalCount(stacks: readonly StackRecord[]): number | undefined {
  let t = 0;
  let any = false;
  for (const r of stacks) {
    if (r.count !== undefined) {
      any = true;
      t += r.count;
    }
  }
  return any ? t : undefined;
}

/** `part` as a percentage of `whole` (0 when `whole` is 0). */
export function percent(part: number, whole: number): number {
  return whole > 0 ? (part * 100) / whole : 0;
}

/**
 * Merge records whose key fields and frame names/kinds are identical, summing `value` and
 * `count`. Default key: (pid, comm, frames), i.e. threads of one process with the same name merge.
 *
 * Fields that are not part of the key keep the first record's value, except:
 *   - `tid` (when not keyed): becomes the `pid` if the merged records came from several threads;
 *   - `pid` (when not keyed): becomes 0 if the merged records came from several processes;
 *   - `comm` (when not keyed): the comm of the first record whose tid === pid (the main thread),
 *     else the first record's comm.
 * Frames (addresses, modules, build ids) are those of the first record of each group.
 * Output order is first-appearance order of each group (stable, deterministic).
 */
export function mergeStacks(stacks: readonly StackRecord[], key: MergeKey = {}): StackRecord[] {
  const k: Required<MergeKey> = { pid: key.pid ?? true, tid: key.tid ?? false, comm: key.comm ?? true };
  const groups = new Map<string, { rec: StackRecord; mainComm: boolean }>();
  const ids = new FrameIds();
  const units: number[] = [];
  for (const r of stacks) {
    const id = stackKey(r, k, ids, units);
    const g = groups.get(id);
    if (!g) {
      const rec: StackRecord = { pid: r.pid, tid: r.tid, comm: r.comm, frames: r.frames, value: r.value };
      if (r.count !== undefined) rec.count = r.count;
      groups.set(id, { rec, mainComm: r.tid === r.pid });
      continue;
    }
    const m = g.rec;
    m.value += r.value;
    if (r.count !== undefined) m.count = (m.count ?? 0) + r.count;
    if (!k.pid && m.pid !== r.pid) m.pid = 0;
    if (!k.tid && m.tid !== r.tid) m.tid = m.pid;
    if (!k.comm && !g.mainComm && r.tid === r.pid) {
      m.comm = r.comm;
      g.mainComm = true;
    }
  }
  const out: StackRecord[] = [];
  for (const g of groups.values()) out.push(g.rec);
  return out;
}

/** Total order used wherever stacks are ranked: value desc, then pid, tid, comm, frames (code-unit order). */
export function compareStacks(a: StackRecord, b: StackRecord): number {
  if (a.value !== b.value) return b.value - a.value;
  if (a.pid !== b.pid) return a.pid - b.pid;
  if (a.tid !== b.tid) return a.tid - b.tid;
  if (a.comm !== b.comm) return a.comm < b.comm ? -1 : 1;
  const n = Math.min(a.frames.length, b.frames.length);
  for (let i = 0; i < n; i++) {
    const fa = a.frames[i]!;
    const fb = b.frames[i]!;
    if (fa.name !== fb.name) return fa.name < fb.name ? -1 : 1;
    if (fa.kind !== fb.kind) return fa.kind < fb.kind ? -1 : 1;
  }
  return a.frames.length - b.frames.length;
}

export interface RankedStack {
  record: StackRecord;
  /** Share of the profile total, 0..100. */
  percent: number;
}

/** The `n` heaviest stacks (all when n is undefined), heaviest first, with their share of the total. */
export function topStacks(stacks: readonly StackRecord[], n?: number): RankedStack[] {
  const total = totalValue(stacks);
  const sorted = [...stacks].sort(compareStacks);
  const top = n === undefined ? sorted : sorted.slice(0, Math.max(0, n));
  return top.map((record) => ({ record, percent: percent(record.value, total) }));
}

export interface FunctionStat {
  name: string;
  kind: FrameKind;
  /** Module of the first frame seen with this name and kind. */
  module?: string;
  /** Value of stacks where this function is the leaf. */
  self: number;
  /** Value of stacks containing this function anywhere (once per stack, even if recursive). */
  total: number;
  selfPercent: number;
  totalPercent: number;
  /** Off-CPU blocks (sum of record `count`) for self / total; present only when records carry `count`. */
  selfCount?: number;
  totalCount?: number;
}

/**
 * Self and inclusive value of every function (identified by name and kind) over all stacks.
 * Percentages are relative to the profile total (sum of all record values, including records
 * with no frames). Sorted by `by` (default 'self') descending, ties by total, then name.
 */
export function functionStats(stacks: readonly StackRecord[], by: 'self' | 'total' = 'self'): FunctionStat[] {
  return collectFunctionStats(stacks).sort(byMeasure(by));
}

/** functionStats, unsorted. */
function collectFunctionStats(stacks: readonly StackRecord[]): FunctionStat[] {
  const total = totalValue(stacks);
  const haveCount = stacks.some((r) => r.count !== undefined);
  // By kind, then by name (the identity frameKey spells): no key string to build and hash per
  // frame. `seenIn`: the last record that counted the function, for "once per stack".
  const byKind = byFrameKind<{ stat: FunctionStat; seenIn: number }>();
  const out: FunctionStat[] = [];
  const get = (f: Frame): { stat: FunctionStat; seenIn: number } => {
    const names = byKind[f.kind];
    let e = names.get(f.name);
    if (e === undefined) {
      const s: FunctionStat = { name: f.name, kind: f.kind, self: 0, total: 0, selfPercent: 0, totalPercent: 0 };
      if (f.module !== undefined) s.module = f.module;
      if (haveCount) {
        s.selfCount = 0;
        s.totalCount = 0;
      }
      e = { stat: s, seenIn: -1 };
      names.set(f.name, e);
      out.push(s);
    }
    return e;
  };
  for (let n = 0; n < stacks.length; n++) {
    const r = stacks[n]!;
    const frames = r.frames;
    if (frames.length === 0) continue;
    const c = r.count ?? 0;
    for (let i = 0; i < frames.length; i++) {
      const e = get(frames[i]!);
      if (e.seenIn === n) continue;
      e.seenIn = n;
      const s = e.stat;
      s.total += r.value;
      if (haveCount) s.totalCount = (s.totalCount ?? 0) + c;
    }
    const leaf = get(frames[frames.length - 1]!).stat;
    leaf.self += r.value;
    if (haveCount) leaf.selfCount = (leaf.selfCount ?? 0) + c;
  }
  for (const s of out) {
    s.selfPercent = percent(s.self, total);
    s.totalPercent = percent(s.total, total);
  }
  return out;
}

/** The ranking order of function statistics: a total order (no two share name and kind). */
function byMeasure(by: 'self' | 'total'): (a: FunctionStat, b: FunctionStat) => number {
  return (a, b) => {
    const pa = by === 'self' ? a.self : a.total;
    const pb = by === 'self' ? b.self : b.total;
    if (pa !== pb) return pb - pa;
    const sa = by === 'self' ? a.total : a.self;
    const sb = by === 'self' ? b.total : b.self;
    if (sa !== sb) return sb - sa;
    if (a.name !== b.name) return a.name < b.name ? -1 : 1;
    return a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0;
  };
}

/** The top `n` functions by self (leaf) or total (inclusive) value; functions with 0 in that measure are left out. */
export function topFunctions(stacks: readonly StackRecord[], n: number, by: 'self' | 'total'): FunctionStat[] {
  const candidates = collectFunctionStats(stacks).filter((s) => (by === 'self' ? s.self : s.total) > 0);
  const cmp = byMeasure(by);
  const want = Math.max(0, n);
  if (want === 0) return [];
  if (want >= candidates.length) return candidates.sort(cmp);
  // The first `want` of the sorted list (the order is total), without sorting tens of
  // thousands of functions for a table of twenty: kept sorted, a candidate goes in only when it
  // beats the last one kept.
  const top: FunctionStat[] = [];
  for (const s of candidates) {
    if (top.length === want && !(cmp(s, top[want - 1]!) < 0)) continue;
    let lo = 0;
    let hi = top.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cmp(top[mid]!, s) < 0) lo = mid + 1;
      else hi = mid;
    }
    top.splice(lo, 0, s);
    if (top.length > want) top.pop();
  }
  return top;
}

export interface FrameFilter {
  /** Keep user frames (and JIT frames). Default true. */
  user?: boolean;
  /** Keep kernel frames. Default true. */
  kernel?: boolean;
  /** Keep marker frames (`[Missed User Stack]` and the like). Default true. */
  markers?: boolean;
  /** Drop records left with no frames (default false: their value still counts, as BCC does). */
  dropEmpty?: boolean;
}

/**
 * Keep only some kinds of frames, for `-U` (user only: `{kernel: false}`) and `-K` (kernel only:
 * `{user: false}`) views. Records are not merged afterwards: call `mergeStacks` if two records now
 * look identical and you want one line each.
 */
export function filterFrames(stacks: readonly StackRecord[], filter: FrameFilter): StackRecord[] {
  const keepUser = filter.user ?? true;
  const keepKernel = filter.kernel ?? true;
  const keepMarkers = filter.markers ?? true;
  const keep = (f: Frame): boolean =>
    f.kind === 'kernel' ? keepKernel : f.kind === 'marker' ? keepMarkers : keepUser;
  const out: StackRecord[] = [];
  for (const r of stacks) {
    const frames = r.frames.filter(keep);
    if (frames.length === 0 && filter.dropEmpty) continue;
    out.push({ ...r, frames });
  }
  return out;
}

export interface ProfileSummary {
  /** Sum of values (samples, or nanoseconds off-CPU). */
  total: number;
  /** Sum of `count` (off-CPU blocks), when records carry it. */
  count?: number;
  /** Number of distinct stack records. */
  stacks: number;
  processes: number;
  threads: number;
  /** Collection window in nanoseconds (0 if end precedes start). */
  durationNs: bigint;
}

export function summarize(profile: StackProfile): ProfileSummary {
  const pids = new Set<number>();
  const tids = new Set<string>();
  for (const r of profile.stacks) {
    pids.add(r.pid);
    tids.add(`${r.pid}/${r.tid}`);
  }
  const d = profile.endTimeNs - profile.startTimeNs;
  const s: ProfileSummary = {
    total: totalValue(profile.stacks),
    stacks: profile.stacks.length,
    processes: pids.size,
    threads: tids.size,
    durationNs: d > 0n ? d : 0n,
  };
  const c = totalCount(profile.stacks);
  if (c !== undefined) s.count = c;
  return s;
}
