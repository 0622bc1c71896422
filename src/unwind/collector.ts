// The user-space half of --unwind dwarf|auto: drains the ring buffer of stack copies while the
// tool runs, unwinds each copy at once, and aggregates by (thread, unwound stack, kernel stack),
// so identical stacks cost one entry however many samples share them, and no copy is kept.
import type { BpfTool } from '../bpf/object.js';
import type { RawStack, StackTraceReader } from '../bpf/stacks.js';
import { decodeUnwindRecord, splitRecords } from './records.js';
import { STOP_MARKERS, type StopReason, type UnwoundStack, type Unwinder } from './unwinder.js';

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

  /** Weight (samples or blocks) of the stacks that stopped early, by reason. */
  truncated(): Map<Exclude<StopReason, 'end'>, number> {
    const out = new Map<Exclude<StopReason, 'end'>, number>();
    for (const s of this.agg.values()) {
      if (s.user.stop === 'end') continue;
      out.set(s.user.stop, (out.get(s.user.stop) ?? 0) + (this.kind === 'cpu' ? s.value : s.count));
    }
    return out;
  }

  /** Total weight (samples or blocks) collected through copies. */
  total(): number {
    let n = 0;
    for (const s of this.agg.values()) n += this.kind === 'cpu' ? s.value : s.count;
    return n;
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

/** One line for stderr about stacks that stopped early, or nothing. */
export function truncationWarning(c: StackCopyCollector, what: 'samples' | 'blocks'): string[] {
  const t = c.truncated();
  if (t.size === 0) return [];
  const total = c.total();
  const parts = [...t.entries()].sort((a, b) => b[1] - a[1]).map(([reason, n]) => `${n} ${STOP_MARKERS[reason]}`);
  const sum = [...t.values()].reduce((a, b) => a + b, 0);
  const hints: string[] = [];
  if (t.has('stack copy')) hints.push('deep stacks need more than the copied bytes');
  if (t.has('no CFI')) hints.push('code without unwind tables');
  return [
    `${sum} of ${total} ${what} have user stacks that end early (${parts.join(', ')})` + (hints.length ? `: ${hints.join('; ')}` : ''),
  ];
}

/** Drains the tool's ring buffer into the collector every `intervalMs` until stopped. */
export class RingPump {
  private timer: NodeJS.Timeout | undefined;
  private error: unknown;

  constructor(
    private readonly tool: BpfTool,
    private readonly map: string,
    private readonly collector: StackCopyCollector,
    intervalMs = 50,
  ) {
    this.timer = setInterval(() => this.drain(), intervalMs);
    this.timer.unref();
  }

  drain(): void {
    if (this.error) return;
    try {
      // A few rounds: records keep arriving while we unwind.
      for (let i = 0; i < 4; i++) {
        const buf = this.tool.ringConsume(this.map);
        if (buf.length === 0) break;
        this.collector.ingest(buf);
      }
    } catch (e) {
      this.error = e;
    }
  }

  /** Stops the timer and drains what is left; rethrows a failure met on the way. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.drain();
    if (this.error) throw this.error;
  }
}
