import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';

import type { StackProfile } from '../../src/aggregate/model.js';
import { parseFolded } from '../../src/render/folded.js';
import {
  FlameTreeBuilder,
  diffTrees,
  forEachStack,
  sortedChildren,
  treeFromFolded,
  treeFromProfile,
  treeStats,
  type FlameNode,
  type FlameTree,
} from '../../src/render/flame-tree.js';
import { MalformedFoldedLine, readFoldedStream } from '../../src/render/flame-input.js';

function tree(text: string): FlameTree {
  const { records, errors } = parseFolded(text);
  assert.deepEqual(errors, []);
  return treeFromFolded(records);
}

/** The node at a path of names below the root. */
function at(t: FlameTree, ...names: string[]): FlameNode {
  let n = t.root;
  for (const name of names) {
    const next = sortedChildren(n).find((c) => c.name === name);
    assert.ok(next, `no frame ${name} under ${n.name}`);
    n = next;
  }
  return n;
}

/** Every stack as `a;b;c self`, in visiting order. */
function stacks(t: FlameTree): string[] {
  const out: string[] = [];
  forEachStack(t, (path, self) => out.push(`${path.map((n) => n.name).join(';')} ${self}`));
  return out;
}

const SAMPLE = [
  'burner;_start;main;hot_three 300',
  'burner;_start;main;hot_one 100',
  'burner;_start;main;hot_three 5', // same path again: merged
  'burner;_start;main;write;-;entry_SYSCALL_64_[k];ksys_write_[k] 20',
  'node;LazyCompile:*fib_[j];uv_run 7',
  'idle 0',
  '',
].join('\n');

describe('flame tree from folded stacks', () => {
  it('merges identical paths and keeps inclusive and self values', () => {
    const t = tree(SAMPLE);
    assert.equal(t.root.name, 'all');
    assert.equal(t.root.value, 432);
    assert.equal(t.countName, 'samples');
    assert.equal(at(t, 'burner').value, 425);
    assert.equal(at(t, 'burner', '_start', 'main').value, 425);
    assert.equal(at(t, 'burner', '_start', 'main').self, 0);
    assert.equal(at(t, 'burner', '_start', 'main', 'hot_three').value, 305);
    assert.equal(at(t, 'burner', '_start', 'main', 'hot_three').self, 305);
    assert.deepEqual(sortedChildren(t.root).map((n) => n.name), ['burner', 'node'], 'a zero count adds nothing');
  });

  it('reads the kind from the _[k] / _[j] suffix and drops the BCC "-" delimiter before kernel frames', () => {
    const t = tree(SAMPLE);
    const write = at(t, 'burner', '_start', 'main', 'write');
    assert.deepEqual(sortedChildren(write).map((n) => [n.name, n.kind]), [['entry_SYSCALL_64', 'kernel']]);
    assert.equal(at(t, 'burner', '_start', 'main', 'write', 'entry_SYSCALL_64', 'ksys_write').kind, 'kernel');
    assert.equal(at(t, 'node', 'LazyCompile:*fib').kind, 'jit');
    assert.equal(at(t, 'node', 'LazyCompile:*fib', 'uv_run').kind, 'user');
    assert.equal(at(t, 'node').kind, 'user');
  });

  it('keeps a user frame and a kernel frame of the same name apart', () => {
    const t = tree('p;f 1\np;f_[k] 2\n');
    assert.deepEqual(sortedChildren(at(t, 'p')).map((n) => [n.name, n.kind, n.value]), [
      ['f', 'kernel', 2],
      ['f', 'user', 1],
    ]);
  });

  it('makes names terminal-safe but leaves HTML characters alone (the page escapes them)', () => {
    const t = tree('p;evil\u202eexe;<b>"A&B"</b> 1\n');
    assert.equal(at(t, 'p').children.size, 1);
    const evil = sortedChildren(at(t, 'p'))[0]!;
    assert.equal(evil.name, 'evil\\u{202e}exe');
    assert.equal(sortedChildren(evil)[0]!.name, '<b>"A&B"</b>');
  });

  it('visits every stack once, sorted, with its self value', () => {
    assert.deepEqual(stacks(tree(SAMPLE)), [
      'burner;_start;main;hot_one 100',
      'burner;_start;main;hot_three 305',
      'burner;_start;main;write;entry_SYSCALL_64;ksys_write 20',
      'node;LazyCompile:*fib;uv_run 7',
    ]);
    assert.deepEqual(treeStats(tree(SAMPLE)), { frames: 11, maxDepth: 6 });
  });

  it('ignores non-positive and non-finite values', () => {
    const b = new FlameTreeBuilder();
    b.add([{ name: 'a', kind: 'user' }], 0);
    b.add([{ name: 'a', kind: 'user' }], -3);
    b.add([{ name: 'a', kind: 'user' }], Number.NaN);
    assert.equal(b.total, 0);
    assert.equal(b.build().root.children.size, 0);
  });
});

describe('flame tree from a profile', () => {
  const profile: StackProfile = {
    kind: 'offcpu',
    unit: 'nanoseconds',
    startTimeNs: 0n,
    endTimeNs: 1n,
    warnings: [],
    stacks: [
      { pid: 1, tid: 1, comm: 'app', value: 1500, frames: [{ name: 'main', kind: 'user', module: '/usr/bin/app' }, { name: 'schedule', kind: 'kernel' }] },
      { pid: 1, tid: 2, comm: 'app', value: 500, frames: [{ name: 'main', kind: 'user', module: '/usr/bin/app' }] },
      { pid: 2, tid: 2, comm: '', value: 7, frames: [] },
    ],
  };

  it('puts the thread name first, keeps modules, and counts in the profile unit', () => {
    const t = treeFromProfile(profile);
    assert.equal(t.countName, 'nanoseconds');
    assert.equal(t.root.value, 2007);
    const main = at(t, 'app', 'main');
    assert.equal(main.module, '/usr/bin/app');
    assert.equal(main.value, 2000);
    assert.equal(main.self, 500);
    assert.equal(at(t, 'app', 'main', 'schedule').kind, 'kernel');
    assert.equal(at(t, '[unknown]').self, 7, 'an empty thread name shows as [unknown]');
  });
});

describe('differential tree', () => {
  const before = tree('p;main;a 100\np;main;b 100\np;main;gone 50\n');
  const after = tree('p;main;a 300\np;main;b 50\np;main;new 10\n');

  it('takes widths from AFTER and carries BEFORE on every node', () => {
    const d = diffTrees(before, after);
    assert.equal(d.root.value, 360);
    assert.equal(d.root.before, 250);
    assert.equal(at(d, 'p', 'main', 'a').value, 300);
    assert.equal(at(d, 'p', 'main', 'a').before, 100);
    assert.equal(at(d, 'p', 'main', 'b').before, 100);
    assert.equal(at(d, 'p', 'main', 'new').before, 0);
    assert.equal(at(d, 'p', 'main', 'gone').value, 0, 'a path only in BEFORE has no width');
    assert.equal(at(d, 'p', 'main', 'gone').before, 50);
    assert.deepEqual(d.diff, { normalized: false, beforeTotal: 250, maxDelta: 200 });
    assert.equal(before.root.before, undefined, 'inputs are not modified');
  });

  it('normalises BEFORE to the total of AFTER', () => {
    const d = diffTrees(before, after, { normalize: true });
    const scale = 360 / 250;
    assert.equal(d.root.before, 360);
    assert.ok(Math.abs(at(d, 'p', 'main', 'a').before! - 100 * scale) < 1e-9);
    assert.equal(d.diff?.normalized, true);
    assert.equal(d.diff?.beforeTotal, 250);
    assert.ok(Math.abs(d.diff!.maxDelta - (300 - 100 * scale)) < 1e-9);
  });
});

describe('readFoldedStream', () => {
  it('streams chunks split anywhere, even inside a UTF-8 character, and skips a byte order mark', async () => {
    const text = '\ufeffp;caf\u00e9;x 2\np;caf\u00e9;y 3\r\np;z 1';
    const bytes = Buffer.from(text, 'utf8');
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 3) chunks.push(bytes.subarray(i, i + 3));
    const r = await readFoldedStream(Readable.from(chunks));
    assert.equal(r.lines, 3);
    assert.equal(r.records, 3);
    assert.equal(r.malformed, 0);
    assert.equal(at(r.tree, 'p', 'caf\u00e9').value, 5);
    assert.equal(r.tree.root.value, 6);
  });

  it('reports malformed lines with their line numbers and skips them', async () => {
    const seen: Array<[number, string]> = [];
    const r = await readFoldedStream(Readable.from(['p;a 1\n', 'no count here\n', '\n', 'p;;b 2\np;c x\np;d 4\n']), {
      onMalformed: (e) => seen.push([e.line, e.reason]),
    });
    assert.deepEqual(seen.map(([line]) => line), [2, 4, 5]);
    assert.match(seen[1]![1], /empty frame/);
    assert.equal(r.malformed, 3);
    assert.equal(r.records, 2);
    assert.equal(r.lines, 6);
    assert.equal(r.tree.root.value, 5);
  });

  it('stops at the first malformed line when strict', async () => {
    await assert.rejects(
      readFoldedStream(Readable.from(['p;a 1\np;b 2\nbroken\np;c 3\nalso broken\n']), { strict: true }),
      (err: unknown) => err instanceof MalformedFoldedLine && err.detail.line === 3 && err.detail.text === 'broken',
    );
  });
});
