// The TypeScript reader of bpf/cpuprofile.h must agree with the C layout the BPF side writes:
// compile the header with the host compiler and compare every offset, size and constant.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cValues } from '../helpers.js';
import {
  CPUPROFILE_KEY,
  CPUPROFILE_MAX_STACK_DEPTH,
  CPUPROFILE_STACK_DROPPED,
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
    depth: 'CPUPROFILE_MAX_STACK_DEPTH',
    samples: 'CPUPROFILE_STAT_SAMPLES',
    userLost: 'CPUPROFILE_STAT_USER_LOST',
    kernelLost: 'CPUPROFILE_STAT_KERNEL_LOST',
    countsFull: 'CPUPROFILE_STAT_COUNTS_FULL',
    copied: 'CPUPROFILE_STAT_COPIED',
    copyDropped: 'CPUPROFILE_STAT_COPY_DROPPED',
    statCount: 'CPUPROFILE_STAT_COUNT',
    dropped: 'CPUPROFILE_STACK_DROPPED',
  });
  const { depth, samples, userLost, kernelLost, countsFull, copied, copyDropped, statCount, dropped, ...key } = c;
  assert.deepEqual(key, { ...CPUPROFILE_KEY });
  assert.equal(depth, CPUPROFILE_MAX_STACK_DEPTH);
  assert.equal(dropped, CPUPROFILE_STACK_DROPPED);
  assert.deepEqual({ samples, userLost, kernelLost, countsFull, copied, copyDropped }, { ...CpuprofileStat });
  assert.equal(statCount, CPUPROFILE_STAT_COUNT);
});

test('decodeCpuprofileKey reads every field, negative stack ids included', () => {
  const b = Buffer.alloc(CPUPROFILE_KEY.size);
  b.writeUInt32LE(4242, CPUPROFILE_KEY.tgid);
  b.writeUInt32LE(4243, CPUPROFILE_KEY.pid);
  b.writeInt32LE(-14, CPUPROFILE_KEY.userStackId);
  b.writeInt32LE(77, CPUPROFILE_KEY.kernelStackId);
  b.write('burner', CPUPROFILE_KEY.comm);
  assert.deepEqual(decodeCpuprofileKey(b), { tgid: 4242, pid: 4243, userStackId: -14, kernelStackId: 77, comm: 'burner' });
});
