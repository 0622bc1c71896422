// The TypeScript reader of bpf/cpuprofile.h must agree with the C layout the BPF side writes:
// compile the header with the host compiler and compare every offset, size and constant.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cValues } from '../helpers.js';
import {
  CPUPROFILE_KEY,
  CPUPROFILE_MAX_STACK_DEPTH,
  CPUPROFILE_STACK_DROPPED,
  CPUPROFILE_STACK_UNWOUND,
  CPUPROFILE_STAT_COUNT,
  CpuprofileStat,
  decodeCpuprofileKey,
} from '../../src/commands/cpuprofile-reader.js';

test('cpuprofile key layout matches bpf/cpuprofile.h', () => {
  const c = cValues('cpuprofile.h', {
    size: 'sizeof(struct cpuprofile_key)',
    tgid: 'offsetof(struct cpuprofile_key, tgid)',
    pid: 'offsetof(struct cpuprofile_key, pid)',
    userStackId: 'offsetof(struct cpuprofile_key, user_stack_id)',
    kernelStackId: 'offsetof(struct cpuprofile_key, kernel_stack_id)',
    comm: 'offsetof(struct cpuprofile_key, comm)',
    commLength: 'sizeof(((struct cpuprofile_key *)0)->comm)',
    userStackHash: 'offsetof(struct cpuprofile_key, user_stack_hash)',
    depth: 'CPUPROFILE_MAX_STACK_DEPTH',
    samples: 'CPUPROFILE_STAT_SAMPLES',
    userLost: 'CPUPROFILE_STAT_USER_LOST',
    kernelLost: 'CPUPROFILE_STAT_KERNEL_LOST',
    countsFull: 'CPUPROFILE_STAT_COUNTS_FULL',
    copied: 'CPUPROFILE_STAT_COPIED',
    copyDropped: 'CPUPROFILE_STAT_COPY_DROPPED',
    unwound: 'CPUPROFILE_STAT_UNWOUND',
    statCount: 'CPUPROFILE_STAT_COUNT',
    dropped: 'CPUPROFILE_STACK_DROPPED',
    unwoundId: 'CPUPROFILE_STACK_UNWOUND',
  });
  const { depth, samples, userLost, kernelLost, countsFull, copied, copyDropped, unwound, statCount, dropped, unwoundId, ...key } = c;
  assert.deepEqual(key, { ...CPUPROFILE_KEY });
  assert.equal(depth, CPUPROFILE_MAX_STACK_DEPTH);
  assert.equal(dropped, CPUPROFILE_STACK_DROPPED);
  assert.equal(unwoundId, CPUPROFILE_STACK_UNWOUND);
  assert.deepEqual({ samples, userLost, kernelLost, countsFull, copied, copyDropped, unwound }, { ...CpuprofileStat });
  assert.equal(statCount, CPUPROFILE_STAT_COUNT);
});

test('decodeCpuprofileKey reads every field, negative stack ids included', () => {
  const b = Buffer.alloc(CPUPROFILE_KEY.size);
  b.writeUInt32LE(4242, CPUPROFILE_KEY.tgid);
  b.writeUInt32LE(4243, CPUPROFILE_KEY.pid);
  b.writeInt32LE(-14, CPUPROFILE_KEY.userStackId);
  b.writeInt32LE(77, CPUPROFILE_KEY.kernelStackId);
  b.write('burner', CPUPROFILE_KEY.comm);
  b.writeBigUInt64LE(0xfedcba9876543210n, CPUPROFILE_KEY.userStackHash);
  assert.deepEqual(decodeCpuprofileKey(b), { tgid: 4242, pid: 4243, userStackId: -14, kernelStackId: 77, comm: 'burner', userStackHash: 0xfedcba9876543210n });
});
