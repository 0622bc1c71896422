// The TypeScript reader of bpf/offcpu.h must agree with the C layout the BPF side writes: compile
// the header with the host compiler and compare every offset, size and constant.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../helpers.js';
import {
  OFFCPU_COMM_LEN,
  OFFCPU_KEY,
  OFFCPU_MAX_STACK_DEPTH,
  OFFCPU_STACK_COPIED,
  OFFCPU_STACK_DROPPED,
  OFFCPU_STACK_UNWOUND,
  OFFCPU_START,
  OFFCPU_STAT_COUNT,
  OFFCPU_VALUE,
  OffcpuStat,
  decodeOffcpuKey,
  decodeOffcpuValue,
} from '../../src/commands/offcpu-reader.js';

function cLayout(): Record<string, Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'layout-'));
  const src = join(dir, 'layout.c');
  writeFileSync(
    src,
    `#include <stdio.h>
#include <stddef.h>
#include "offcpu.h"
#define F(s, f) offsetof(struct s, f)
int main(void) {
  printf("{\\"key\\":{\\"size\\":%zu,\\"tgid\\":%zu,\\"pid\\":%zu,\\"userStackId\\":%zu,\\"kernelStackId\\":%zu,\\"comm\\":%zu,\\"commLength\\":%zu,\\"userStackHash\\":%zu},",
    sizeof(struct offcpu_key), F(offcpu_key, tgid), F(offcpu_key, pid), F(offcpu_key, user_stack_id),
    F(offcpu_key, kernel_stack_id), F(offcpu_key, comm), sizeof(((struct offcpu_key *)0)->comm), F(offcpu_key, user_stack_hash));
  printf("\\"value\\":{\\"size\\":%zu,\\"totalNs\\":%zu,\\"count\\":%zu},",
    sizeof(struct offcpu_value), F(offcpu_value, total_ns), F(offcpu_value, count));
  printf("\\"start\\":{\\"size\\":%zu,\\"startNs\\":%zu,\\"key\\":%zu,\\"copied\\":%zu,\\"oncpuNs\\":%zu,\\"taskStartNs\\":%zu},",
    sizeof(struct offcpu_start), F(offcpu_start, start_ns), F(offcpu_start, key), F(offcpu_start, copied),
    F(offcpu_start, oncpu_ns), F(offcpu_start, task_start_ns));
  printf("\\"ids\\":{\\"copied\\":%d,\\"dropped\\":%d,\\"unwound\\":%d},", OFFCPU_STACK_COPIED, OFFCPU_STACK_DROPPED, OFFCPU_STACK_UNWOUND);
  printf("\\"consts\\":{\\"depth\\":%d,\\"commLen\\":%d,\\"statCount\\":%d},",
    OFFCPU_MAX_STACK_DEPTH, OFFCPU_COMM_LEN, OFFCPU_STAT_COUNT);
  printf("\\"stats\\":{\\"blocks\\":%d,\\"userLost\\":%d,\\"kernelLost\\":%d,\\"startFull\\":%d,\\"countsFull\\":%d,\\"outOfRange\\":%d,\\"copyDropped\\":%d,\\"unwound\\":%d,\\"switchInUnseen\\":%d}}",
    OFFCPU_STAT_BLOCKS, OFFCPU_STAT_USER_LOST, OFFCPU_STAT_KERNEL_LOST, OFFCPU_STAT_START_FULL,
    OFFCPU_STAT_COUNTS_FULL, OFFCPU_STAT_OUT_OF_RANGE, OFFCPU_STAT_COPY_DROPPED, OFFCPU_STAT_UNWOUND,
    OFFCPU_STAT_SWITCH_IN_UNSEEN);
  return 0;
}
`,
  );
  const bin = join(dir, 'layout');
  execFileSync('gcc', ['-Wall', '-Werror', '-I', join(repoRoot, 'bpf'), '-o', bin, src]);
  return JSON.parse(execFileSync(bin, { encoding: 'utf8' })) as Record<string, Record<string, number>>;
}

test('offcpu key, value, start and stats layouts match bpf/offcpu.h', () => {
  const c = cLayout();
  assert.deepEqual(c.key, { ...OFFCPU_KEY });
  assert.deepEqual(c.value, { ...OFFCPU_VALUE });
  assert.deepEqual(c.start, { ...OFFCPU_START });
  assert.deepEqual(c.ids, { copied: OFFCPU_STACK_COPIED, dropped: OFFCPU_STACK_DROPPED, unwound: OFFCPU_STACK_UNWOUND });
  assert.deepEqual(c.stats, { ...OffcpuStat });
  assert.deepEqual(c.consts, { depth: OFFCPU_MAX_STACK_DEPTH, commLen: OFFCPU_COMM_LEN, statCount: OFFCPU_STAT_COUNT });
});

test('decodeOffcpuKey reads every field, negative stack ids included; a full comm has no NUL', () => {
  const b = Buffer.alloc(OFFCPU_KEY.size);
  b.writeUInt32LE(4242, OFFCPU_KEY.tgid);
  b.writeUInt32LE(4243, OFFCPU_KEY.pid);
  b.writeInt32LE(-14, OFFCPU_KEY.userStackId);
  b.writeInt32LE(77, OFFCPU_KEY.kernelStackId);
  b.write('offcpu-sleeper', OFFCPU_KEY.comm);
  b.writeBigUInt64LE(0x0123456789abcdefn, OFFCPU_KEY.userStackHash);
  assert.deepEqual(decodeOffcpuKey(b), {
    tgid: 4242,
    pid: 4243,
    userStackId: -14,
    kernelStackId: 77,
    comm: 'offcpu-sleeper',
    userStackHash: 0x0123456789abcdefn,
  });
  b.write('abcdefghijklmnop', OFFCPU_KEY.comm);
  assert.equal(decodeOffcpuKey(b).comm, 'abcdefghijklmnop');
  b.writeInt32LE(-1, OFFCPU_KEY.userStackId);
  b.writeInt32LE(-17, OFFCPU_KEY.kernelStackId);
  assert.equal(decodeOffcpuKey(b).userStackId, -1);
  assert.equal(decodeOffcpuKey(b).kernelStackId, -17);
});

test('decodeOffcpuValue reads the 64-bit sum and count', () => {
  const v = Buffer.alloc(OFFCPU_VALUE.size);
  v.writeBigUInt64LE(5_000_000_000_123n, OFFCPU_VALUE.totalNs);
  v.writeBigUInt64LE(20n, OFFCPU_VALUE.count);
  assert.deepEqual(decodeOffcpuValue(v), { totalNs: 5_000_000_000_123, count: 20 });
});
