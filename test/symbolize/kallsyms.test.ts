import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { skipOutsideCi } from '../helpers.js';
import { KernelSymbols, parseModules, type KernelSymbol, type ModuleRange } from '../../src/symbolize/kallsyms.js';

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

/**
 * The parse's rules written the slow, obvious way (regexes, BigInt, a stable sort of objects):
 * the reference the byte-level parse must agree with.
 */
function referenceLookup(text: string, modules: readonly ModuleRange[]): { lookup: (a: bigint) => KernelSymbol | null; hidden: boolean; size: number } {
  interface Sym {
    addr: bigint;
    name: string;
    module?: string;
    end: bigint;
  }
  const all: Sym[] = [];
  let listed = 0;
  for (const line of text.split('\n')) {
    const m = /^([0-9a-fA-F]+) ([tTwW]) ([^\t]*)(\t.*)?$/.exec(line);
    if (!m || m[1]!.length > 16) continue;
    const name = m[3]!.replace(/^[ \t]+/, '').replace(/[ \r]+$/, '');
    if (name === '') continue;
    listed++;
    const addr = BigInt('0x' + m[1]!);
    if (addr === 0n) continue;
    const sym: Sym = { addr, name, end: 0n };
    const rest = m[4] ?? '';
    const open = rest.indexOf('[');
    const close = open >= 0 ? rest.indexOf(']', open) : -1;
    if (close > open) sym.module = rest.slice(open + 1, close);
    all.push(sym);
  }
  all.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0)); // stable: file order on ties
  const syms: Sym[] = [];
  for (const s of all) {
    const last = syms[syms.length - 1];
    if (last && last.addr === s.addr) {
      if (last.name.startsWith('_') && !s.name.startsWith('_')) syms[syms.length - 1] = s;
      continue;
    }
    syms.push(s);
  }
  const modEnd = new Map<string, bigint>();
  for (const r of modules) modEnd.set(r.name, r.start + r.size);
  syms.forEach((s, i) => {
    const next = syms[i + 1];
    if (next && next.module === s.module) s.end = next.addr;
    else {
      const me = s.module !== undefined ? modEnd.get(s.module) : undefined;
      let end = me !== undefined && me > s.addr ? me : s.addr + 0x1000n;
      if (next && next.addr < end) end = next.addr;
      s.end = end > 0xffffffffffffffffn ? 0xffffffffffffffffn : end;
    }
  });
  return {
    hidden: listed > 0 && all.length === 0,
    size: syms.length,
    lookup: (a) => {
      let found: Sym | undefined;
      for (const s of syms) if (s.addr <= a) found = s;
      if (!found || a >= found.end) return null;
      const r: KernelSymbol = { name: found.name, address: found.addr, offset: a - found.addr };
      if (found.module !== undefined) r.module = found.module;
      return r;
    },
  };
}

test('random kallsyms texts (unsorted tails, aliases, odd widths, junk lines): the parse equals the reference', () => {
  let seed = 0x2545f491;
  const rnd = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const names = ['_stext', 'startup_64', '_text', 'a', 'foo', '_bar', 'baz_', '__x', 'y'];
  const modNames = ['ext4', 'xfs', 'bpf', '__builtin__ftrace'];
  const show = (s: KernelSymbol | null): string => JSON.stringify(s, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString(16) : v));
  let probes = 0;
  for (let iter = 0; iter < 1500; iter++) {
    // High halves: the usual one, another near it (packed sort), and far ones (comparator sort).
    const his = iter % 3 === 0 ? [0xffffffff, 0x00000001, 0] : [0xffffffff, 0xffff8000];
    const count = 1 + rnd(50);
    const lines: string[] = [];
    const probe: bigint[] = [];
    let base = 0x81000000;
    for (let k = 0; k < count; k++) {
      const inOrder = k < count / 2;
      const hi = inOrder ? 0xffffffff : his[rnd(his.length)]!;
      const lo = inOrder ? (base += rnd(3) * 0x10) : 0x81000000 * rnd(2) + rnd(8) * 0x100;
      const addr = (BigInt(hi) << 32n) | BigInt(lo >>> 0);
      const hex = rnd(10) === 0 ? (addr & 0xffffffffn).toString(16).padStart(8, '0') : addr.toString(16).padStart(16, '0');
      const mod = !inOrder && rnd(2) ? `\t[${modNames[rnd(modNames.length)]}]` : '';
      const line = `${hex} ${'tTwWdDbr'[rnd(8)]} ${names[rnd(names.length)]}${rnd(2) ? k : ''}${mod}`;
      const junk = ['', 'garbage', `${hex}T x`, `${hex} T `, `${hex} T \t[m]`, `zz${hex} T q`, `${hex} T name \r`, `${hex} T  lead`, `${hex} T name\t[unclosed`, `1${hex} T long`];
      lines.push(rnd(25) === 0 ? junk[rnd(junk.length)]! : line);
      for (const d of [-1n, 0n, 1n, 0x10n, 0xfffn, 0x1000n, 0x100000n]) if (addr + d >= 0n) probe.push(addr + d);
    }
    const modsText = modNames
      .filter(() => rnd(2))
      .map((m) => `${m} ${rnd(3) * 4096 + 100} 0 - Live 0xffffffff${(0x81000000 + rnd(16) * 0x100).toString(16)}`)
      .join('\n');
    const text = lines.join('\n') + (rnd(2) ? '\n' : '');
    const mods = parseModules(modsText);
    const ks = KernelSymbols.parse(text, mods);
    const ref = referenceLookup(text, mods);
    const ctx = `case ${iter}:\n${text}\n-- modules:\n${modsText}`;
    assert.equal(ks.size, ref.size, ctx);
    assert.equal(ks.addressesHidden, ref.hidden, ctx);
    for (const a of probe) assert.equal(show(ks.lookup(a)), show(ref.lookup(a)), `0x${a.toString(16)} in ${ctx}`);
    probes += probe.length;
  }
  assert.ok(probes > 10000);
});

test('modules listed after the core, unsorted: sorted, ties going to the earlier line', () => {
  const text = [
    'ffffffff81000000 T _stext',
    'ffffffff81000100 T core_a',
    'ffffffff81000200 T core_b',
    'ffffffffc0002200 t m_c\t[m]',
    'ffffffffc0002000 t m_a\t[m]',
    'ffffffffc0002100 t _m_b\t[m]',
    'ffffffffc0002100 t m_b_alias\t[m]',
    'ffffffff81000100 t late_alias\t[n]', // same address as core_a, later in the file
    'ffffffff81000180 t n_x\t[n]',
  ].join('\n');
  const ks = KernelSymbols.parse(text);
  assert.equal(ks.size, 7, 'one address per alias group');
  assert.deepEqual(ks.lookup(0xffffffff81000104n), { name: 'core_a', address: 0xffffffff81000100n, offset: 4n });
  assert.deepEqual(ks.lookup(0xffffffff81000184n), { name: 'n_x', address: 0xffffffff81000180n, offset: 4n, module: 'n' });
  assert.equal(ks.lookup(0xffffffff81000204n)?.name, 'core_b');
  assert.equal(ks.lookup(0xffffffffc0002004n)?.name, 'm_a');
  assert.equal(ks.lookup(0xffffffffc0002104n)?.name, 'm_b_alias', 'an alias without _ wins, in the tail too');
  assert.equal(ks.lookup(0xffffffffc0002204n)?.name, 'm_c');
  assert.equal(ks.lookup(0xffffffffc0003200n), null, 'm_c spans LAST_SYMBOL_SPAN');
});

test('real /proc/kallsyms: symbols resolve at their address and inside them', (t) => {
  // The parse itself, not the boot-scoped cache (kallsyms-cache.test.ts covers that).
  const saved = process.env.EBPF_OTEL_CACHE_DIR;
  process.env.EBPF_OTEL_CACHE_DIR = '';
  t.after(() => {
    if (saved === undefined) delete process.env.EBPF_OTEL_CACHE_DIR;
    else process.env.EBPF_OTEL_CACHE_DIR = saved;
  });
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
