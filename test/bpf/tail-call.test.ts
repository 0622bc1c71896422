// A program added after attach (BpfTool.addTailCall): a second instance of the object that shares
// every map of the first loads only that program and goes into a program array the attached one
// tail calls. cpuprofile's kernel walk is added this way (bpf/cpuprofile.bpf.c `walker`); that
// the walk then serves (most samples walked in the kernel) is checked end to end in
// test/commands/cpuprofile-unwind.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { buildWorkload, requireRoot, sleep } from '../helpers.js';
import { native } from '../../src/bpf/native.js';
import { BpfTool } from '../../src/bpf/object.js';
import { bpfObjectPath } from '../../src/util/paths.js';
import { cpuprofileHooks } from '../../src/commands/cpuprofile.js';
import { CpuprofileStat, readCpuprofile } from '../../src/commands/cpuprofile-reader.js';

function openCopyTool(pid: number): BpfTool {
  const [copy] = cpuprofileHooks({ frequency: 499, unwind: 'dwarf' });
  assert.ok(copy && /stack copies$/.test(copy.name), copy?.name);
  return BpfTool.open('cpuprofile', [copy], {
    globals: { filter_tgid: { bool: true }, collect_user: { bool: true }, collect_kernel: { bool: false }, unwind_auto: { bool: false } },
    prepare: (t) => t.fillIdSet('target_tgids', [pid]),
  });
}

test('a program added to a program array of a running tool: sampling goes on, counted in the shared maps', async (t) => {
  if (!requireRoot(t)) return;
  const burner = spawn(buildWorkload('burner'), ['3'], { stdio: 'ignore' });
  try {
    await sleep(100);
    const tool = openCopyTool(burner.pid!);
    try {
      await sleep(300);
      // Before: the copy program samples (its copies fill the ring, which nobody reads here).
      const before = tool.perCpuCounters('stats', Object.keys(CpuprofileStat).length);
      assert.ok(before[CpuprofileStat.samples]! > 0, `samples before: ${before}`);
      tool.addTailCall('walker', 0, 'cpuprofile_sample_walk');
      // The walk program counts in the same `stats` map (with no rules learned it copies every
      // stack, as the copy program did): the counts go on from where they were.
      await sleep(300);
      const after = tool.perCpuCounters('stats', Object.keys(CpuprofileStat).length);
      assert.ok(after[CpuprofileStat.samples]! > before[CpuprofileStat.samples]!, `${before} -> ${after}`);
      tool.detach();
      const data = readCpuprofile(tool, undefined);
      assert.ok(data.stats.samples >= after[CpuprofileStat.samples]!);
    } finally {
      tool.close();
    }
  } finally {
    burner.kill();
  }
});

test('a program that does not exist, a map that is not a program array, an object not loaded: one error naming it', async (t) => {
  if (!requireRoot(t)) return;
  const tool = openCopyTool(process.pid);
  try {
    assert.throws(() => tool.addTailCall('walker', 0, 'no_such_program'), /program 'no_such_program'/);
    assert.throws(() => tool.addTailCall('stats', 0, 'cpuprofile_sample_walk'), /map 'stats'/);
    const unloaded = new (native().BpfObject)(bpfObjectPath('cpuprofile'));
    const other = new (native().BpfObject)(bpfObjectPath('cpuprofile'));
    try {
      assert.throws(() => other.shareMaps(unloaded), /not loaded, no maps to share/);
    } finally {
      unloaded.close();
      other.close();
    }
  } finally {
    tool.close();
  }
});
