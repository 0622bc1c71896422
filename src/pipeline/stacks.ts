// Raw kernel stacks (addresses) -> symbolized StackRecords, shared by cpuprofile and offcpu.
import type { Frame, StackRecord } from '../aggregate/model.js';
import type { RawStack } from '../bpf/stacks.js';
import type { Symbolizer } from '../symbolize/index.js';

const MISSED_USER: Frame = { name: '[Missed User Stack]', kind: 'marker' };
const MISSED_KERNEL: Frame = { name: '[Missed Kernel Stack]', kind: 'marker' };

/**
 * Every address but the leaf is a return address: the call that made the frame is the
 * instruction before it, and when that call ends a function (a noreturn callee) the return
 * address already belongs to the next function. Look up `address - 1`, report the address as
 * sampled.
 */
function callSites(ips: readonly bigint[], exact?: readonly number[]): bigint[] {
  return ips.map((ip, i) => (i === 0 || ip === 0n || exact?.includes(i) ? ip : ip - 1n));
}

function withAddresses(frames: Frame[], ips: readonly bigint[]): Frame[] {
  return frames.map((f, i) => (f.address === undefined || f.address === ips[i] ? f : { ...f, address: ips[i]! }));
}

/**
 * Symbolizes every stack, root first: user frames (outermost caller first), then kernel frames.
 * A stack the kernel dropped (map full, collision) shows as a marker frame, never as a guess.
 */
export function resolveStacks(raw: RawStack[], symbolizer: Symbolizer): StackRecord[] {
  return raw.map((s) => {
    const frames: Frame[] = [];
    // A user stack that unwinding stopped early starts (root end) with a marker saying why.
    if (s.userStop && s.user !== 'lost') frames.push({ name: s.userStop, kind: 'marker' });
    if (s.user === 'lost') frames.push(MISSED_USER);
    else if (s.user) frames.push(...withAddresses(symbolizer.symbolizeUser(s.pid, callSites(s.user, s.userExact)), s.user).reverse());
    if (s.kernel === 'lost') frames.push(MISSED_KERNEL);
    else if (s.kernel) frames.push(...withAddresses(symbolizer.symbolizeKernel(callSites(s.kernel)), s.kernel).reverse());
    const record: StackRecord = { pid: s.pid, tid: s.tid, comm: s.comm, frames, value: s.value };
    if (s.count !== undefined) record.count = s.count;
    return record;
  });
}
