// The user-space half of --unwind dwarf|auto: drains the ring buffer of stack copies while the
// tool runs, unwinds each copy at once, and aggregates by (thread, unwound stack, kernel stack),
// so identical stacks cost one entry however many samples share them, and no copy is kept.
import type { BpfTool } from '../bpf/object.js';
import type { RawStack, StackTraceReader } from '../bpf/stacks.js';
import { decodeUnwindRecord, splitRecords } from './records.js';
import { STOP_MARKERS, type UnwoundStack, type Unwinder } from './unwinder.js';

/** One aggregated stack of the copy path. */
export interface CopiedStack {
  pid: number;
  tid: number;
  comm: string;
  kernelStackId: number;
  user: UnwoundStack;
  /** Samples (cpu) or nanoseconds off-CPU (offcpu). */
  value: number;
  /** offcpu: blocks summed. */
  count: number;
}

export interface CollectorStats {
  records: number;
  /** Bytes of stack received. */
  stackBytes: number;
  /** offcpu: blocks whose switch-out copy was never seen (should stay 0). */
  unmatchedDeltas: number;
  /** Milliseconds spent unwinding and aggregating. */
  unwindMs: number;
}

interface Pending {
  seq: bigint;
  key: string;
  proto: Omit<CopiedStack, 'value' | 'count'>;
}

export class StackCopyCollector {
  private readonly agg = new Map<string, CopiedStack>();
  private readonly pending = new Map<number, Pending>();
  private readonly seen = new Set<number>();
  readonly stats: CollectorStats = { records: 0, stackBytes: 0, unmatchedDeltas: 0, unwindMs: 0 };

  /**
   * @param kind cpu: each stack record is one sample; offcpu: a stack record is a switch-out
   *   whose time comes with the delta record of the same (thread, seq)
   * @param onProcess called once per process the first time one of its stacks arrives (auto
   *   mode decides there whether the process keeps frame pointers)
   */
  constructor(
    private readonly kind: 'cpu' | 'offcpu',
    private readonly unwinder: Unwinder,
    private readonly onProcess?: (pid: number) => void,
  ) {}

  /** Takes a buffer of framed records (ringConsume's format). */
  ingest(buf: Buffer): void {
    if (buf.length === 0) return;
    const t0 = performance.now();
    for (const raw of splitRecords(buf)) {
      const rec = decodeUnwindRecord(raw);
      if (!rec) continue;
      this.stats.records++;
      if (rec.kind === 'stack') {
        if (!this.seen.has(rec.tgid)) {
          this.seen.add(rec.tgid);
          this.onProcess?.(rec.tgid);
        }
        this.stats.stackBytes += rec.stack.length;
        const user = this.unwinder.unwind(rec.tgid, { regs: rec.regs, stack: rec.stack, capped: rec.capped });
        const key = `${rec.tgid},${rec.tid},${rec.kernelStackId},${rec.comm}|${user.pcs.join(',')}|${user.exact.join(',')}|${user.stop}`;
        const proto = { pid: rec.tgid, tid: rec.tid, comm: rec.comm, kernelStackId: rec.kernelStackId, user };
        if (this.kind === 'cpu') this.add(key, proto, 1, 1);
        else this.pending.set(rec.tid, { seq: rec.seq, key, proto });
      } else {
        const p = this.pending.get(rec.tid);
        if (!p || p.seq !== rec.seq) {
          this.stats.unmatchedDeltas++;
          continue;
        }
        this.pending.delete(rec.tid);
        this.add(p.key, p.proto, rec.deltaNs, 1);
      }
    }
    this.stats.unwindMs += performance.now() - t0;
  }

  private add(key: string, proto: Omit<CopiedStack, 'value' | 'count'>, value: number, count: number): void {
    const e = this.agg.get(key);
    if (e) {
      e.value += value;
      e.count += count;
    } else {
      this.agg.set(key, { ...proto, value, count });
    }
  }

  /** Distinct stacks so far. */
  get size(): number {
    return this.agg.size;
  }

  stacks(): CopiedStack[] {
    return [...this.agg.values()];
  }

  /** The stacks as the symbolization pipeline takes them, kernel stacks read from the tool's map. */
  rawStacks(traces: StackTraceReader): RawStack[] {
    return this.stacks().map((s) => {
      const raw: RawStack = {
        pid: s.pid,
        tid: s.tid,
        comm: s.comm,
        user: s.user.pcs.map((pc) => BigInt(pc)),
        kernel: traces.get(s.kernelStackId),
        value: s.value,
      };
      if (this.kind === 'offcpu') raw.count = s.count;
      if (s.user.exact.length) raw.userExact = s.user.exact;
      if (s.user.stop !== 'end') raw.userStop = STOP_MARKERS[s.user.stop];
      return raw;
    });
  }
}

/**
 * One line for stderr about user stacks that stopped early, or nothing: those unwound here from
 * copies and those the kernel walked by learned rules alike (both end in a marker frame).
 */
export function truncationWarning(stacks: readonly RawStack[], what: 'samples' | 'blocks'): string[] {
  const byMarker = new Map<string, number>();
  let total = 0;
  for (const s of stacks) {
    const weight = what === 'samples' ? s.value : (s.count ?? 0);
    total += weight;
    if (s.userStop) byMarker.set(s.userStop, (byMarker.get(s.userStop) ?? 0) + weight);
  }
  if (byMarker.size === 0) return [];
  const parts = [...byMarker.entries()].sort((a, b) => b[1] - a[1]).map(([marker, n]) => `${n} ${marker}`);
  const sum = [...byMarker.values()].reduce((a, b) => a + b, 0);
  const hints: string[] = [];
  if (byMarker.has(STOP_MARKERS['stack copy'])) hints.push('deep stacks need more than the copied bytes');
  if (byMarker.has(STOP_MARKERS['no CFI'])) hints.push('code without unwind tables');
  return [
    `${sum} of ${total} ${what} have user stacks that end early (${parts.join(', ')})` + (hints.length ? `: ${hints.join('; ')}` : ''),
  ];
}

/**
 * Drains the tool's ring buffer into the collector until stopped. The first drain comes 5 ms
 * after attach and the next ones twice as late each time, up to every 50 ms while copies arrive:
 * the first copies teach the kernel the rules of the hot stacks (learned.ts), and until they are
 * unwound every switch-out or sample of those stacks is another copy, which a context-switch
 * storm (60k+ a second) turns into a full ring within 50 ms. While no copies arrive the pump backs
 * off to every 200 ms: once the kernel walks stacks itself, an idle tick is most of what the
 * profiler costs. 200 ms stays inside the quarter second of full-size records the ring is sized
 * for (mode.ts ringBytes).
 */
export class RingPump {
  static readonly FIRST_MS = 5;
  static readonly FAST_MS = 50;
  static readonly SLOW_MS = 200;
  static readonly ROUND_BYTES = 1 << 20;
  private timer: NodeJS.Timeout | undefined;
  private error: unknown;
  private delayMs: number;
  private stopped = false;

  /** @param afterFirstDrain runs once, after the first drain (work that can wait that long) */
  constructor(
    private readonly tool: BpfTool,
    private readonly map: string,
    private readonly collector: StackCopyCollector,
    private afterFirstDrain?: () => void,
    private readonly fastMs = RingPump.FAST_MS,
    private readonly slowMs = RingPump.SLOW_MS,
  ) {
    this.delayMs = Math.min(RingPump.FIRST_MS, fastMs);
    this.schedule();
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      const got = this.drain();
      const after = this.afterFirstDrain;
      this.afterFirstDrain = undefined;
      after?.();
      // twice as late each time, up to every FAST ms while copies arrive, every SLOW ms while none do
      this.delayMs = Math.min(this.delayMs * 2, got > 0 ? this.fastMs : this.slowMs);
      if (!this.stopped) this.schedule();
    }, this.delayMs);
    this.timer.unref();
  }

  /** Drains what the ring holds now; returns the bytes taken. */
  drain(): number {
    if (this.error) return 0;
    let taken = 0;
    try {
      // A few rounds of at most 1 MiB each: records keep arriving while we unwind, and a bounded
      // round lets the first copies be unwound (and their rules taught) while a storm goes on.
      for (let i = 0; i < 4; i++) {
        const buf = this.tool.ringConsume(this.map, RingPump.ROUND_BYTES);
        if (buf.length === 0) break;
        taken += buf.length;
        this.collector.ingest(buf);
      }
    } catch (e) {
      this.error = e;
    }
    return taken;
  }

  /** Stops the timer and drains what is left; rethrows a failure met on the way. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.afterFirstDrain = undefined; // nothing left to decide for: the programs are detached
    this.drain();
    if (this.error) throw this.error;
  }
}
