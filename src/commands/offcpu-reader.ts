// Typed reader of bpf/offcpu.h: the `counts` key and value layouts, the `start` value and the
// `stats` slots. The test test/commands/offcpu-reader.test.ts compiles bpf/offcpu.h and checks
// these offsets.
import type { BpfTool } from '../bpf/object.js';
import { records } from '../bpf/object.js';
import { decodeStackKey, StackTraceReader, userStackOf, STACK_UNWOUND, type CopiedStacks, type RawStack, type StackKey } from '../bpf/stacks.js';

export const OFFCPU_KEY = {
  size: 40,
  tgid: 0,
  pid: 4,
  userStackId: 8,
  kernelStackId: 12,
  comm: 16,
  commLength: 16,
  userStackHash: 32,
} as const;

export const OFFCPU_VALUE = { size: 16, totalNs: 0, count: 8 } as const;

/** Value of the `start` map (thread id -> switch-out time and the key it will be counted under). */
export const OFFCPU_START = { size: 72, startNs: 0, key: 8, copied: 48, oncpuNs: 56, taskStartNs: 64 } as const;

/** user_stack_id values of the copy path (OFFCPU_STACK_COPIED, OFFCPU_STACK_DROPPED). */
export const OFFCPU_STACK_COPIED = -3;
export const OFFCPU_STACK_DROPPED = -2;
/** user_stack_id of a block whose user stack the kernel walked by learned rules (OFFCPU_STACK_UNWOUND). */
export const OFFCPU_STACK_UNWOUND = STACK_UNWOUND;

export const OFFCPU_MAX_STACK_DEPTH = 127;
export const OFFCPU_COMM_LEN = 16;

/** Slots of the per-CPU `stats` map (enum offcpu_stat). */
export const OffcpuStat = {
  blocks: 0,
  userLost: 1,
  kernelLost: 2,
  startFull: 3,
  countsFull: 4,
  outOfRange: 5,
  copyDropped: 6,
  unwound: 7,
  switchInUnseen: 8,
} as const;
export const OFFCPU_STAT_COUNT = 9;

/** The global the BPF side sets at its first switch: kernel frames skipped, plus one. */
export const OFFCPU_SKIP_SECTION = '.data.offcpu_skip';

export type OffcpuKey = StackKey;

export interface OffcpuValue {
  totalNs: number;
  count: number;
}

export function decodeOffcpuKey(key: Buffer): OffcpuKey {
  return decodeStackKey(key, OFFCPU_KEY);
}

export function decodeOffcpuValue(value: Buffer): OffcpuValue {
  return {
    totalNs: Number(value.readBigUInt64LE(OFFCPU_VALUE.totalNs)),
    count: Number(value.readBigUInt64LE(OFFCPU_VALUE.count)),
  };
}

export interface OffcpuStats {
  /** Blocks accounted (every filter passed). */
  blocks: number;
  userLost: number;
  kernelLost: number;
  /** Switch-outs not recorded: the start-time map was full. */
  startFull: number;
  /** Blocks dropped: the counts map was full. */
  countsFull: number;
  /** Blocks shorter than -m or longer than -M. */
  outOfRange: number;
  /** --unwind dwarf|auto: stack copies or delta records the ring buffer had no room for. */
  copyDropped: number;
  /** --unwind dwarf|auto: switch-outs whose user stack the kernel walked by learned rules. */
  unwound: number;
  /** Blocks whose switch-in the kernel never reported, counted at the thread's next switch-out. */
  switchInUnseen: number;
}

export interface OffcpuData {
  /** One per (thread, user stack, kernel stack): value = nanoseconds off-CPU, count = blocks. */
  stacks: RawStack[];
  stats: OffcpuStats;
}

/** Reads everything the offcpu program counted, plus the stacks unwound from its copies. */
export function readOffcpu(tool: BpfTool, copies?: CopiedStacks): OffcpuData {
  const traces = new StackTraceReader(tool, 'stacks');
  const stacks: RawStack[] = copies ? copies.rawStacks(traces) : [];
  for (const [key, value] of records(tool.entries('counts'))) {
    const k = decodeOffcpuKey(key);
    const v = decodeOffcpuValue(value);
    if (v.count === 0) continue;
    stacks.push({
      pid: k.tgid,
      tid: k.pid,
      comm: k.comm,
      ...userStackOf(k, traces, copies && ((hash) => copies.learnedStack(hash))),
      kernel: traces.get(k.kernelStackId),
      value: v.totalNs,
      count: v.count,
    });
  }
  const s = tool.perCpuCounters('stats', OFFCPU_STAT_COUNT);
  return {
    stacks,
    stats: {
      blocks: s[OffcpuStat.blocks] ?? 0,
      userLost: s[OffcpuStat.userLost] ?? 0,
      kernelLost: s[OffcpuStat.kernelLost] ?? 0,
      startFull: s[OffcpuStat.startFull] ?? 0,
      countsFull: s[OffcpuStat.countsFull] ?? 0,
      outOfRange: s[OffcpuStat.outOfRange] ?? 0,
      copyDropped: s[OffcpuStat.copyDropped] ?? 0,
      unwound: s[OffcpuStat.unwound] ?? 0,
      switchInUnseen: s[OffcpuStat.switchInUnseen] ?? 0,
    },
  };
}

/** How many kernel frames the BPF side skips, as found at its first switch; undefined before one. */
export function readKernelSkip(tool: BpfTool): number | undefined {
  const value = tool.lookup(OFFCPU_SKIP_SECTION, Buffer.alloc(4));
  const found = value ? value.readUInt32LE(0) : 0;
  return found > 0 ? found - 1 : undefined;
}
