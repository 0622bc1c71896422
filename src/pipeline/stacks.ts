// Raw kernel stacks (addresses) -> symbolized StackRecords, shared by cpuprofile and offcpu.
import type { Frame, StackRecord } from '../aggregate/model.js';
import type { RawStack } from '../bpf/stacks.js';
import type { Symbolizer } from '../symbolize/index.js';

const MISSED_USER: Frame = { name: '[Missed User Stack]', kind: 'marker' };
const MISSED_KERNEL: Frame = { name: '[Missed Kernel Stack]', kind: 'marker' };
const UNKNOWN = '[unknown]';

/**
 * Kernel frames of one resolveStacks call by sampled address: `at` for addresses looked up as
 * sampled (the leaf), `call` for return addresses (looked up at `address - 1`). Frames are
 * shared between the stacks of the result, as the user frames are (Symbolizer.userStackFrames).
 */
interface KernelCache {
  at: Map<bigint, Frame>;
  call: Map<bigint, Frame>;
}

/**
 * Kernel frames of one stack (`ips`, leaf first), written root first into `out` from `start`.
 * Every address but the leaf is a return address: the call that made the frame is the
 * instruction before it, and when that call ends a function (a noreturn callee) the return
 * address already belongs to the next function. Look up `address - 1`, report the address as
 * sampled. Addresses not cached yet go to the symbolizer in one call per stack (an empty one
 * included, as it loads the kernel symbols on first use); `[unknown]` frames are never cached,
 * so they are asked for again, as before.
 */
function kernelFrames(ips: readonly bigint[], symbolizer: Symbolizer, cache: KernelCache, out: Frame[], start: number): void {
  const last = start + ips.length - 1;
  const missAt: number[] = [];
  const missAddr: bigint[] = [];
  for (let i = 0; i < ips.length; i++) {
    const ip = ips[i]!;
    const isCall = i !== 0 && ip !== 0n;
    const f = (isCall ? cache.call : cache.at).get(ip);
    if (f !== undefined) out[last - i] = f;
    else {
      missAt.push(i);
      missAddr.push(isCall ? ip - 1n : ip);
    }
  }
  const got = symbolizer.symbolizeKernel(missAddr);
  for (let k = 0; k < missAt.length; k++) {
    const i = missAt[k]!;
    const ip = ips[i]!;
    const f = got[k]!;
    const shown = f.address === undefined || f.address === ip ? f : { ...f, address: ip };
    if (f.name !== UNKNOWN) (i !== 0 && ip !== 0n ? cache.call : cache.at).set(ip, shown);
    out[last - i] = shown;
  }
}

/**
 * Symbolizes every stack, root first: user frames (outermost caller first), then kernel frames.
 * A stack the kernel dropped (map full, collision) shows as a marker frame, never as a guess.
 * Frame objects are shared between records (one per distinct sampled address and kind of
 * lookup): treat them as read-only.
 */
export function resolveStacks(raw: RawStack[], symbolizer: Symbolizer): StackRecord[] {
  const kernel: KernelCache = { at: new Map(), call: new Map() };
  const out = new Array<StackRecord>(raw.length);
  for (let n = 0; n < raw.length; n++) {
    const s = raw[n]!;
    const { user, kernel: kips } = s;
    // Sized once; each part writes its frames root first at its own offset.
    const marker = s.userStop && user !== 'lost' ? 1 : 0;
    const nUser = user === 'lost' ? 1 : user ? user.length : 0;
    const nKernel = kips === 'lost' ? 1 : kips ? kips.length : 0;
    const frames = new Array<Frame>(marker + nUser + nKernel);
    // A user stack that unwinding stopped early starts (root end) with a marker saying why.
    if (marker) frames[0] = { name: s.userStop!, kind: 'marker' };
    if (user === 'lost') frames[marker] = MISSED_USER;
    else if (user) symbolizer.userStackFrames(s.pid, user, s.userExact, frames, marker);
    if (kips === 'lost') frames[marker + nUser] = MISSED_KERNEL;
    else if (kips) kernelFrames(kips, symbolizer, kernel, frames, marker + nUser);
    const record: StackRecord = { pid: s.pid, tid: s.tid, comm: s.comm, frames, value: s.value };
    if (s.count !== undefined) record.count = s.count;
    out[n] = record;
  }
  return out;
}
