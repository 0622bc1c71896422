// Typed reader of bpf/cpuprofile.h: the `counts` key layout and the `stats` slots. The test
// test/commands/cpuprofile-reader.test.ts compiles bpf/cpuprofile.h and checks these offsets.
import type { BpfTool } from '../bpf/object.js';
import { records } from '../bpf/object.js';
import { decodeStackKey, StackTraceReader, userStackOf, STACK_UNWOUND, type CopiedStacks, type RawStack, type StackKey } from '../bpf/stacks.js';

export const CPUPROFILE_KEY = {
  size: 40,
  tgid: 0,
  pid: 4,
  userStackId: 8,
  kernelStackId: 12,
  comm: 16,
  commLength: 16,
  userStackHash: 32,
} as const;

export const CPUPROFILE_MAX_STACK_DEPTH = 127;

/** Slots of the per-CPU `stats` map (enum cpuprofile_stat). */
export const CpuprofileStat = { samples: 0, userLost: 1, kernelLost: 2, countsFull: 3, copied: 4, copyDropped: 5, unwound: 6 } as const;
export const CPUPROFILE_STAT_COUNT = 7;

/** user_stack_id of a sample whose stack copy could not be sent (CPUPROFILE_STACK_DROPPED). */
export const CPUPROFILE_STACK_DROPPED = -2;
/** user_stack_id of a sample whose user stack the kernel walked by learned rules (CPUPROFILE_STACK_UNWOUND). */
export const CPUPROFILE_STACK_UNWOUND = STACK_UNWOUND;

export type CpuprofileKey = StackKey;

export function decodeCpuprofileKey(key: Buffer): CpuprofileKey {
  return decodeStackKey(key, CPUPROFILE_KEY);
}

export interface CpuprofileStats {
  samples: number;
  userLost: number;
  kernelLost: number;
  countsFull: number;
  /** --unwind dwarf|auto: samples sent to user space as stack copies. */
  copied: number;
  /** Stack copies that did not fit in the ring buffer (counted without their user stack). */
  copyDropped: number;
  /** --unwind dwarf|auto: samples whose user stack the kernel walked by learned rules. */
  unwound: number;
}

export interface CpuprofileData {
  stacks: RawStack[];
  stats: CpuprofileStats;
  /** CLOCK_MONOTONIC ns of the first counted sample; undefined when there was none. */
  firstSampleNs?: bigint;
}

/** Reads everything the cpuprofile program counted, plus the stacks unwound from its copies. */
export function readCpuprofile(tool: BpfTool, copies?: CopiedStacks): CpuprofileData {
  const traces = new StackTraceReader(tool, 'stacks');
  const stacks: RawStack[] = copies ? copies.rawStacks(traces) : [];
  for (const [key, value] of records(tool.entries('counts'))) {
    const k = decodeCpuprofileKey(key);
    stacks.push({
      pid: k.tgid,
      tid: k.pid,
      comm: k.comm,
      ...userStackOf(k, traces, copies && ((hash) => copies.learnedStack(hash))),
      kernel: traces.get(k.kernelStackId),
      value: Number(value.readBigUInt64LE(0)),
    });
  }
  const s = tool.perCpuCounters('stats', CPUPROFILE_STAT_COUNT);
  const first = tool.lookup('first_sample', Buffer.alloc(4))?.readBigUInt64LE(0) ?? 0n;
  return {
    ...(first ? { firstSampleNs: first } : {}),
    stacks,
    stats: {
      samples: s[CpuprofileStat.samples] ?? 0,
      userLost: s[CpuprofileStat.userLost] ?? 0,
      kernelLost: s[CpuprofileStat.kernelLost] ?? 0,
      countsFull: s[CpuprofileStat.countsFull] ?? 0,
      copied: s[CpuprofileStat.copied] ?? 0,
      copyDropped: s[CpuprofileStat.copyDropped] ?? 0,
      unwound: s[CpuprofileStat.unwound] ?? 0,
    },
  };
}
