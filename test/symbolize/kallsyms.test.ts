import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { skipOutsideCi } from '../helpers.js';
import { KernelSymbols, parseModules } from '../../src/symbolize/kallsyms.js';

const TEXT = `ffffffff81000000 T _stext
ffffffff81000000 T startup_64
ffffffff81000100 t secondary_startup
ffffffff81000200 D some_data
ffffffff81000300 W weak_function
ffffffff81000400 T schedule
ffffffffc0001000 t ext4_fill_super\t[ext4]
ffffffffc0001200 T ext4_read\t[ext4]
ffffffffc0100000 t bpf_prog_6deef7357e7b4530_do_sample\t[bpf]
`;

test('text symbols only, binary-search lookup up to the next symbol, module names', () => {
  const ks = KernelSymbols.parse(TEXT);
  assert.equal(ks.addressesHidden, false);
  assert.equal(ks.size, 7, 'data symbol dropped, one alias collapsed');
  assert.equal(ks.lookup(0xffffffff81000000n)?.name, 'startup_64', 'the alias without a leading underscore wins');
  assert.equal(ks.lookup(0xffffffff810000ffn)?.name, 'startup_64');
  assert.deepEqual(ks.lookup(0xffffffff81000104n), { name: 'secondary_startup', address: 0xffffffff81000100n, offset: 4n });
  // The data symbol is not text: the preceding text symbol extends over it.
  assert.equal(ks.lookup(0xffffffff81000200n)?.name, 'secondary_startup');
  assert.equal(ks.lookup(0xffffffff81000300n)?.name, 'weak_function');
  assert.equal(ks.lookup(0xffffffff81000456n)?.name, 'schedule');
  assert.equal(ks.lookup(0xffffffff80ffffffn), null, 'below the first symbol');
  const m = ks.lookup(0xffffffffc0001210n);
  assert.deepEqual(m, { name: 'ext4_read', address: 0xffffffffc0001200n, offset: 0x10n, module: 'ext4' });
  assert.equal(ks.lookup(0xffffffffc0100010n)?.module, 'bpf');
  // The last symbol of a group covers a bounded span, not the rest of the address space.
  assert.equal(ks.lookup(0xffffffffc0100000n + 0x100000n), null);
  assert.equal(ks.lookup(0xffffffff81000400n + 0x800000n), null);
  assert.equal(ks.addressOf('schedule'), 0xffffffff81000400n);
});

test('module ranges from /proc/modules bound a module\'s last symbol', () => {
  const mods = parseModules('ext4 4096 1 - Live 0xffffffffc0001000\nbad line\nxfs 100 0 - Loading 0x0000000000000000\n');
  assert.deepEqual(mods, [{ name: 'ext4', start: 0xffffffffc0001000n, size: 4096n }]);
  const ks = KernelSymbols.parse(TEXT, mods);
  assert.equal(ks.lookup(0xffffffffc0001ff0n)?.name, 'ext4_read');
  assert.equal(ks.lookup(0xffffffffc0002000n), null, 'past the module end');
});

test('all-zero addresses (not root, kptr_restrict) are detected and resolve nothing', () => {
  const hidden = TEXT.replace(/^[0-9a-f]{16}/gm, '0000000000000000');
  const ks = KernelSymbols.parse(hidden);
  assert.equal(ks.addressesHidden, true);
  assert.equal(ks.size, 0);
  assert.equal(ks.lookup(0xffffffff81000456n), null);
  assert.equal(KernelSymbols.parse('').addressesHidden, false, 'an empty file is not "hidden"');
});

test('real /proc/kallsyms: symbols resolve at their address and inside them', (t) => {
  let text: string;
  try {
    text = readFileSync('/proc/kallsyms', 'utf8');
  } catch (e) {
    skipOutsideCi(t, `cannot read /proc/kallsyms: ${(e as Error).message}`);
    return;
  }
  const ks = KernelSymbols.load();
  if (process.getuid?.() !== 0) {
    if (ks.addressesHidden) {
      skipOutsideCi(t, 'not root: kernel addresses are hidden');
      return;
    }
  }
  assert.equal(ks.addressesHidden, false);
  assert.ok(ks.size > 1000, `${ks.size} text symbols`);
  // Truth: the file itself. Pick text symbols that are alone at their address, with room after.
  const rows = text
    .split('\n')
    .map((l) => /^([0-9a-f]+) ([tTwW]) (\S+)(?:\s+\[(\S+)\])?$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ addr: BigInt('0x' + m[1]!), name: m[3]!, module: m[4] }));
  const allAddrs = text
    .split('\n')
    .map((l) => /^([0-9a-f]+) [tTwW] /.exec(l)?.[1])
    .filter((x): x is string => x !== undefined)
    .map((x) => BigInt('0x' + x))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const count = new Map<bigint, number>();
  for (const a of allAddrs) count.set(a, (count.get(a) ?? 0) + 1);
  const next = (a: bigint): bigint | undefined => {
    let lo = 0;
    let hi = allAddrs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (allAddrs[mid]! <= a) lo = mid + 1;
      else hi = mid;
    }
    return allAddrs[lo];
  };
  const unique = rows.filter((r) => count.get(r.addr) === 1 && (next(r.addr) ?? r.addr + 2n) > r.addr + 1n);
  assert.ok(unique.length > 100);
  const step = Math.max(1, Math.floor(unique.length / 500));
  let checked = 0;
  for (let i = 0; i < unique.length; i += step) {
    const r = unique[i]!;
    for (const a of [r.addr, r.addr + 1n]) {
      const hit = ks.lookup(a);
      assert.equal(hit?.name, r.name, `0x${a.toString(16)}`);
      assert.equal(hit?.module, r.module);
    }
    checked++;
  }
  assert.ok(checked >= 100);
  for (const name of ['schedule', 'do_nanosleep']) {
    const r = rows.find((x) => x.name === name);
    if (r && count.get(r.addr) === 1) assert.equal(ks.lookup(r.addr + 2n)?.name, name);
  }
});
