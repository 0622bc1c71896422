// Stack trace maps (BPF_MAP_TYPE_STACK_TRACE) and the raw stacks tools read from the kernel
// before symbolization.
import type { BpfTool } from './object.js';
import type { LearnedStack } from '../unwind/learned.js';

/** Stack id values the BPF side stores instead of a real id. */
export const STACK_NOT_COLLECTED = -1; // not asked for (-U / -K)
export const STACK_NONE = -14; // -EFAULT: no such stack (kernel thread's user stack, user-mode sample's kernel stack)
/** A user stack the kernel walked by learned rules, kept in `user_stacks` (CPUPROFILE_STACK_UNWOUND, OFFCPU_STACK_UNWOUND). */
export const STACK_UNWOUND = -4;

/** One distinct (thread, user stack, kernel stack) with its weight, addresses leaf first. */
export interface RawStack {
  pid: number;
  tid: number;
  comm: string;
  /** User addresses, leaf first; null when not collected or absent; 'lost' when the map dropped it. */
  user: bigint[] | null | 'lost';
  kernel: bigint[] | null | 'lost';
  value: number;
  count?: number;
  /**
   * Indices of `user` (besides 0, always exact) holding an exact instruction address rather than
   * a return address: frames interrupted by a signal, found by CFI unwinding.
   */
  userExact?: number[];
  /** The marker frame ending a user stack that unwinding stopped early (`[truncated: no CFI]`). */
  userStop?: string;
}

/** Where the stacks of --unwind dwarf|auto come from (src/unwind/session.ts): unwound in user space from copies, or walked by the kernel by learned rules. */
export interface CopiedStacks {
  rawStacks(traces: StackTraceReader): RawStack[];
  /** A user stack the kernel walked by learned rules, by its hash. */
  learnedStack(hash: bigint): LearnedStack | undefined;
}

/** A stack trace map value: u64 instruction pointers, leaf first, zero-terminated. */
export function decodeStackTrace(value: Buffer): bigint[] {
  const ips: bigint[] = [];
  for (let off = 0; off + 8 <= value.length; off += 8) {
    const ip = value.readBigUInt64LE(off);
    if (ip === 0n) break;
    ips.push(ip);
  }
  return ips;
}

/** Decodes a NUL-terminated fixed-size char array (task comm). */
export function decodeCString(buf: Buffer): string {
  const end = buf.indexOf(0);
  return buf.toString('utf8', 0, end < 0 ? buf.length : end);
}

/** Reads stacks by id from a stack trace map, each id once. */
export class StackTraceReader {
  private readonly cache = new Map<number, bigint[] | null>();
  private readonly key = Buffer.alloc(4);

  constructor(
    private readonly tool: BpfTool,
    private readonly map: string,
  ) {}

  /** The stack for an id as stored by the BPF side: addresses, null for none, 'lost' for dropped. */
  get(id: number): bigint[] | null | 'lost' {
    if (id === STACK_NOT_COLLECTED || id === STACK_NONE) return null;
    if (id < 0) return 'lost';
    let ips = this.cache.get(id);
    if (ips === undefined) {
      this.key.writeUInt32LE(id);
      const value = this.tool.lookup(this.map, this.key);
      ips = value ? decodeStackTrace(value) : null;
      this.cache.set(id, ips);
    }
    return ips ?? 'lost';
  }
}

/** The key both stack tools count by: thread and its two stack ids (bpf/cpuprofile.h, bpf/offcpu.h). */
export interface StackKey {
  tgid: number;
  pid: number;
  userStackId: number;
  kernelStackId: number;
  comm: string;
  /** The user stack's key in `user_stacks` when the kernel walked it by learned rules (src/unwind/learned.ts). */
  userStackHash: bigint;
}

/** Where each StackKey field sits in one tool's key struct (the tool's reader checks it against its header). */
export interface StackKeyLayout {
  tgid: number;
  pid: number;
  userStackId: number;
  kernelStackId: number;
  comm: number;
  commLength: number;
  userStackHash: number;
}

export function decodeStackKey(key: Buffer, k: StackKeyLayout): StackKey {
  return {
    tgid: key.readUInt32LE(k.tgid),
    pid: key.readUInt32LE(k.pid),
    userStackId: key.readInt32LE(k.userStackId),
    kernelStackId: key.readInt32LE(k.kernelStackId),
    comm: decodeCString(key.subarray(k.comm, k.comm + k.commLength)),
    userStackHash: key.readBigUInt64LE(k.userStackHash),
  };
}

/** The user part of a RawStack for a counts key: from the stack map, or from the stacks the kernel walked by learned rules. */
export function userStackOf(
  k: StackKey,
  traces: StackTraceReader,
  learned: ((hash: bigint) => LearnedStack | undefined) | undefined,
): Pick<RawStack, 'user' | 'userStop'> {
  if (k.userStackId !== STACK_UNWOUND) return { user: traces.get(k.userStackId) };
  const s = learned?.(k.userStackHash);
  if (!s) return { user: 'lost' };
  return s.stop ? { user: s.pcs, userStop: s.stop } : { user: s.pcs };
}
