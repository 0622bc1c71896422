import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ElfError, ElfFile, parseBuildIdNote, sortByAddressRankIndex } from '../../src/symbolize/elf.js';
import { buildC, buildIdOf, nmFunctions, readelfLoads, readelfSections, type NmSymbol } from './fixtures.js';

/** nm's function symbols grouped by address: every alias is an acceptable answer there. */
function aliasesByAddress(syms: NmSymbol[]): Map<bigint, Set<string>> {
  const m = new Map<bigint, Set<string>>();
  for (const s of syms) {
    let set = m.get(s.value);
    if (!set) m.set(s.value, (set = new Set()));
    set.add(s.name);
  }
  return m;
}

for (const kind of ['pie', 'nonPie', 'lib'] as const) {
  test(`every nm function symbol of the ${kind} fixture resolves at its start, middle and last byte`, () => {
    const b = buildC();
    const file = b[kind];
    const elf = ElfFile.open(file);
    try {
      const nm = nmFunctions(file);
      assert.ok(nm.length > 5, 'nm found the fixture functions');
      const aliases = aliasesByAddress(nm);
      // The parser lists every symbol nm lists (names and addresses).
      const ours = new Set(elf.functionSymbols().map((s) => `${s.name}@${s.value}`));
      for (const s of nm) assert.ok(ours.has(`${s.name}@${s.value}`), `${s.name} at 0x${s.value.toString(16)} missing`);
      let checked = 0;
      for (const s of nm) {
        if (s.size === 0n) continue;
        // Another symbol starting inside this one (a nested label) legitimately wins there.
        const nested = nm.some((o) => o.value > s.value && o.value < s.value + s.size);
        for (const addr of nested ? [s.value] : [s.value, s.value + s.size / 2n, s.value + s.size - 1n]) {
          const hit = elf.lookup(addr);
          assert.ok(hit, `no symbol at 0x${addr.toString(16)} (${s.name})`);
          assert.ok(aliases.get(s.value)!.has(hit.name), `0x${addr.toString(16)}: got ${hit.name}, nm says ${[...aliases.get(s.value)!].join('/')}`);
          assert.equal(hit.start, s.value);
          assert.equal(hit.offset, addr - s.value);
          checked++;
        }
      }
      assert.ok(checked >= 3 * 3, `checked ${checked} addresses`);
      for (const name of kind === 'lib' ? ['lib_function_alpha', 'lib_function_beta', 'lib_static_gamma'] : ['prog_function_one', 'prog_static_three', 'main']) {
        const s = nm.find((x) => x.name === name);
        assert.ok(s, `${name} in nm output`);
        assert.equal(elf.lookup(s.value + 1n)?.name, name);
      }
    } finally {
      elf.close();
    }
  });
}

test('GNU IFUNC symbols are function symbols', () => {
  const elf = ElfFile.open(buildC().pie);
  try {
    const ifunc = elf.functionSymbols().find((s) => s.name === 'prog_ifunc');
    assert.ok(ifunc);
    assert.equal(ifunc.type, 'ifunc');
    assert.equal(elf.lookup(ifunc.value)?.name, 'prog_ifunc', 'the global ifunc name wins over its local resolver alias');
  } finally {
    elf.close();
  }
});

test('build-id matches readelf -n; PT_LOAD segments match readelf -l', () => {
  const b = buildC();
  for (const file of [b.pie, b.nonPie, b.lib, b.stripped]) {
    const elf = ElfFile.open(file);
    try {
      assert.equal(elf.buildId, buildIdOf(file), file);
      const ours = elf.loadSegments.map((p) => `${p.offset}:${p.vaddr}:${p.filesz}`);
      const theirs = readelfLoads(file).map((p) => `${p.offset}:${p.vaddr}:${p.filesz}`);
      assert.deepEqual(ours, theirs);
    } finally {
      elf.close();
    }
  }
});

test('PIE and non-PIE types, and the segment that holds a file offset', () => {
  const b = buildC();
  const pie = ElfFile.open(b.pie);
  const nonPie = ElfFile.open(b.nonPie);
  try {
    assert.equal(pie.type, 3); // ET_DYN
    assert.equal(nonPie.type, 2); // ET_EXEC
    const text = readelfLoads(b.nonPie).find((l) => l.flags.includes('E'))!;
    const seg = nonPie.loadSegmentForOffset(text.offset + 4n);
    assert.ok(seg);
    assert.equal(seg.vaddr, text.vaddr);
    assert.equal(nonPie.loadSegmentForOffset(10n ** 12n), undefined);
  } finally {
    pie.close();
    nonPie.close();
  }
});

test('unwind sections are reported: .eh_frame always, .debug_frame only when compiled for it', () => {
  const b = buildC();
  const plain = ElfFile.open(b.pie);
  const dbg = ElfFile.open(b.debugFrame);
  try {
    assert.equal(plain.hasEhFrame, true);
    assert.equal(plain.hasDebugFrame, false);
    assert.equal(dbg.hasDebugFrame, true);
    assert.equal(plain.hasSymtab, true);
  } finally {
    plain.close();
    dbg.close();
  }
});

test('a stripped binary keeps only .dynsym: static functions are not found, never guessed', () => {
  const b = buildC();
  const elf = ElfFile.open(b.stripped);
  try {
    assert.equal(elf.hasSymtab, false);
    const three = nmFunctions(b.pie).find((s) => s.name === 'prog_static_three')!;
    const hit = elf.lookup(three.value);
    assert.notEqual(hit?.name, 'prog_static_three');
    assert.equal(hit, undefined, 'nothing in .dynsym covers a static function');
  } finally {
    elf.close();
  }
});

test('size-0 symbols cover up to the next symbol, but never past the end of their section', () => {
  const b = buildC();
  const elf = ElfFile.open(b.asmLib);
  try {
    const nm = new Map(nmFunctions(b.asmLib).map((s) => [s.name, s]));
    const text = readelfSections(b.asmLib).find((s) => s.name === '.text')!;
    const other = readelfSections(b.asmLib).find((s) => s.name === '.othertext')!;
    const a = nm.get('asm_nosize_a')!.value;
    const bb = nm.get('asm_nosize_b')!.value;
    const outer = nm.get('outer_fn')!;
    const inner = nm.get('inner_fn')!;
    const last = nm.get('asm_nosize_last')!.value;
    assert.equal(nm.get('asm_nosize_a')!.size, 0n);
    assert.equal(elf.lookup(a + 3n)?.name, 'asm_nosize_a');
    assert.equal(elf.lookup(bb)?.name, 'asm_nosize_b');
    assert.equal(elf.lookup(bb + 1n)?.name, 'asm_nosize_b');
    // Nested symbol: inner wins inside itself, the enclosing one after it.
    assert.equal(elf.lookup(inner.value + 1n)?.name, 'inner_fn');
    assert.equal(elf.lookup(inner.value + inner.size)?.name, 'outer_fn');
    assert.equal(elf.lookup(outer.value + outer.size - 1n)?.name, 'outer_fn');
    // Past the end of .text (the gap before .othertext): nothing, even though a size-0 symbol
    // is the nearest one below and asm_nosize_last is the next one above.
    assert.ok(other.addr > text.addr + text.size, 'the fixture leaves a gap between the sections');
    assert.equal(elf.lookup(text.addr + text.size), undefined);
    assert.equal(elf.lookup(other.addr - 1n), undefined);
    // The last symbol of .othertext stops at that section's end.
    assert.equal(elf.lookup(last + 1n)?.name, 'asm_nosize_last');
    assert.equal(elf.lookup(other.addr + other.size), undefined);
    assert.equal(elf.lookup(0n), undefined);
  } finally {
    elf.close();
  }
});

test('non-ELF and unsupported inputs throw ElfError with a code', () => {
  const b = buildC();
  const notElf = join(b.dir, 'not-elf.txt');
  writeFileSync(notElf, 'hello, this is not an ELF file at all, but it is long enough to hold a header................');
  assert.throws(() => ElfFile.open(notElf), (e: unknown) => e instanceof ElfError && e.code === 'ENOTELF');
  assert.throws(() => ElfFile.open(join(b.dir, 'does-not-exist')), (e: unknown) => e instanceof ElfError && e.code === 'EIO');
  assert.throws(() => ElfFile.fromBuffer(Buffer.alloc(10)), (e: unknown) => e instanceof ElfError && e.code === 'ENOTELF');
  const elf32 = Buffer.from(readFileSync(b.pie).subarray(0, 4096));
  elf32[4] = 1; // ELFCLASS32
  assert.throws(() => ElfFile.fromBuffer(elf32), (e: unknown) => e instanceof ElfError && e.code === 'EUNSUPPORTED');
  const bigEndian = Buffer.from(readFileSync(b.pie).subarray(0, 4096));
  bigEndian[5] = 2;
  assert.throws(() => ElfFile.fromBuffer(bigEndian), (e: unknown) => e instanceof ElfError && e.code === 'EUNSUPPORTED');
});

/** Exercises every reader on `buf`; any failure must be an ElfError. Returns what was readable. */
function probe(buf: Buffer): { ok: boolean; symbols: number } {
  try {
    const elf = ElfFile.fromBuffer(buf);
    void elf.buildId;
    void elf.hasEhFrame;
    void elf.loadSegments;
    const syms = elf.functionSymbols();
    for (const s of syms.slice(0, 50)) elf.lookup(s.value);
    elf.lookup(0x1000n);
    elf.loadSegmentForOffset(0x1000n);
    return { ok: true, symbols: syms.length };
  } catch (e) {
    assert.ok(e instanceof ElfError, `non-ElfError thrown: ${(e as Error)?.stack ?? String(e)}`);
    return { ok: false, symbols: 0 };
  }
}

test('truncated files: headers-only prefixes fail cleanly, longer prefixes keep what is valid', () => {
  const full = readFileSync(buildC().pie);
  const complete = probe(full);
  assert.ok(complete.ok && complete.symbols > 5);
  const lengths = new Set<number>([0, 1, 4, 16, 63, 64, 65, 100]);
  for (let n = 128; n < full.length; n += Math.max(1, Math.floor(full.length / 300))) lengths.add(n);
  for (const n of [...lengths].sort((x, y) => x - y)) probe(full.subarray(0, n));
  // Cut in the middle of the section header table (at the end of the file): still an ELF.
  const cut = full.subarray(0, full.length - 100);
  const r = probe(cut);
  assert.equal(r.ok, true);
  const elf = ElfFile.fromBuffer(cut);
  assert.ok(elf.problems.some((p) => /truncated/.test(p)), `problems recorded: ${elf.problems.join('; ')}`);
});

test('corrupted headers and tables (seeded random byte flips) never throw anything but ElfError', () => {
  const full = readFileSync(buildC().pie);
  // The interesting bytes: ELF header, program headers, and the section header table at the end.
  const shoff = Number(full.readBigUInt64LE(40));
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  let parsed = 0;
  for (let iter = 0; iter < 400; iter++) {
    const buf = Buffer.from(full);
    const flips = 1 + rand(8);
    for (let k = 0; k < flips; k++) {
      const region = rand(3);
      const pos = region === 0 ? rand(64) : region === 1 ? 64 + rand(56 * 13) : shoff + rand(full.length - shoff);
      buf[pos] = rand(256);
    }
    if (probe(buf).ok) parsed++;
  }
  assert.ok(parsed > 0, 'some corrupted files still parse');
});

test('huge counts and offsets in the header do not allocate absurd buffers', () => {
  const buf = Buffer.from(readFileSync(buildC().pie));
  buf.writeUInt16LE(0xffff, 60); // e_shnum
  buf.writeBigUInt64LE(0x7fffffffffffffffn, 40); // e_shoff far past EOF
  buf.writeBigUInt64LE(0xfffffffffffn, 32); // e_phoff
  const elf = ElfFile.fromBuffer(buf);
  assert.equal(elf.sections.length, 0);
  assert.equal(elf.lookup(0x1000n), undefined);
  assert.equal(elf.functionSymbols().length, 0);
});

test('parseBuildIdNote reads GNU notes and rejects garbage', () => {
  const note = Buffer.alloc(16 + 20);
  note.writeUInt32LE(4, 0);
  note.writeUInt32LE(20, 4);
  note.writeUInt32LE(3, 8);
  note.write('GNU\0', 12, 'latin1');
  for (let i = 0; i < 20; i++) note[16 + i] = i * 11;
  assert.equal(parseBuildIdNote(note), Buffer.from(note.subarray(16)).toString('hex'));
  // Another note type first, then the build-id.
  const other = Buffer.alloc(12 + 8);
  other.writeUInt32LE(4, 0);
  other.writeUInt32LE(4, 4);
  other.writeUInt32LE(1, 8);
  other.write('GNU\0', 12, 'latin1');
  assert.equal(parseBuildIdNote(Buffer.concat([other, note])), Buffer.from(note.subarray(16)).toString('hex'));
  const bad = Buffer.from(note);
  bad.writeUInt32LE(0xffffffff, 4);
  assert.equal(parseBuildIdNote(bad), undefined);
  assert.equal(parseBuildIdNote(Buffer.alloc(3)), undefined);
});

test('sortByAddressRankIndex: the order of a (address, rank, table index) comparator sort, packed keys or not', () => {
  let seed = 11;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const check = (n: number, spread: number, distinct: number): void => {
    const vals = new Float64Array(n);
    const rank = new Uint8Array(n);
    const base = 0x400000;
    const points = Array.from({ length: distinct }, () => base + Math.floor(rnd() * spread));
    for (let i = 0; i < n; i++) {
      vals[i] = points[Math.floor(rnd() * distinct)]!;
      rank[i] = Math.floor(rnd() * 6);
    }
    let min = Infinity;
    let max = -Infinity;
    for (const v of vals) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    const want = Array.from({ length: n }, (_, i) => i).sort((a, b) => vals[a]! - vals[b]! || rank[a]! - rank[b]! || a - b);
    assert.deepEqual([...sortByAddressRankIndex(vals, rank, n, min, max)], want, `n=${n} spread=${spread}`);
  };
  check(0, 1, 1);
  check(1, 1, 1);
  check(5000, 2 ** 24, 1500); // aliases at most addresses: packed 64-bit keys
  check(5000, 2 ** 40, 5000);
  check(1 << 17, 2 ** 50, 40000); // spread too wide for packed keys: the comparator sort
});

/** A minimal ELF64 LE shared object: .text, and .symtab/.dynsym with the given function symbols. */
function syntheticElf(symtab: SynthSym[], dynsym: SynthSym[]): Buffer {
  const strtab = (syms: SynthSym[]): { buf: Buffer; offs: number[] } => {
    const parts: Buffer[] = [Buffer.from([0])];
    const offs: number[] = [];
    let off = 1;
    for (const s of syms) {
      offs.push(off);
      const b = Buffer.from(`${s.name}\0`, 'latin1');
      parts.push(b);
      off += b.length;
    }
    return { buf: Buffer.concat(parts), offs };
  };
  const symbols = (syms: SynthSym[], offs: number[]): Buffer => {
    const b = Buffer.alloc(24 * (syms.length + 1));
    syms.forEach((s, i) => {
      const o = 24 * (i + 1);
      b.writeUInt32LE(offs[i]!, o);
      b[o + 4] = ({ local: 0, global: 1, weak: 2 }[s.bind] << 4) | 2; // STT_FUNC
      b.writeUInt16LE(1, o + 6); // .text
      b.writeBigUInt64LE(s.value, o + 8);
      b.writeBigUInt64LE(s.size, o + 16);
    });
    return b;
  };
  const st = strtab(symtab);
  const ds = strtab(dynsym);
  const names = ['', '.text', '.symtab', '.strtab', '.dynsym', '.dynstr', '.shstrtab'];
  const shstr = strtab(names.slice(1).map((name) => ({ name, value: 0n, size: 0n, bind: 'local' as const })));
  const blobs = [Buffer.alloc(16), symbols(symtab, st.offs), st.buf, symbols(dynsym, ds.offs), ds.buf, shstr.buf];
  let off = 64;
  const offsets = blobs.map((b) => {
    const at = off;
    off += b.length + ((8 - (b.length % 8)) % 8);
    return at;
  });
  const shoff = off;
  const out = Buffer.alloc(shoff + 64 * names.length);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  out.writeUInt16LE(3, 16); // ET_DYN
  out.writeUInt16LE(62, 18);
  out.writeUInt32LE(1, 20);
  out.writeBigUInt64LE(BigInt(shoff), 40);
  out.writeUInt16LE(64, 52);
  out.writeUInt16LE(56, 54);
  out.writeUInt16LE(64, 58);
  out.writeUInt16LE(names.length, 60);
  out.writeUInt16LE(names.length - 1, 62);
  blobs.forEach((b, i) => out.set(b, offsets[i]!));
  // name, type, flags, addr, offset, size, link, info, entsize
  const sh: [number, number, bigint, bigint, number, number, number, number, number][] = [
    [0, 0, 0n, 0n, 0, 0, 0, 0, 0],
    [shstr.offs[0]!, 1, 6n, 0x1000n, offsets[0]!, 0x10000, 0, 0, 0],
    [shstr.offs[1]!, 2, 0n, 0n, offsets[1]!, blobs[1]!.length, 3, 1, 24],
    [shstr.offs[2]!, 3, 0n, 0n, offsets[2]!, blobs[2]!.length, 0, 0, 0],
    [shstr.offs[3]!, 11, 2n, 0n, offsets[3]!, blobs[3]!.length, 5, 1, 24],
    [shstr.offs[4]!, 3, 2n, 0n, offsets[4]!, blobs[4]!.length, 0, 0, 0],
    [shstr.offs[5]!, 3, 0n, 0n, offsets[5]!, blobs[5]!.length, 0, 0, 0],
  ];
  sh.forEach(([name, type, flags, addr, offset, size, link, info, entsize], i) => {
    const o = shoff + 64 * i;
    out.writeUInt32LE(name, o);
    out.writeUInt32LE(type, o + 4);
    out.writeBigUInt64LE(flags, o + 8);
    out.writeBigUInt64LE(addr, o + 16);
    out.writeBigUInt64LE(BigInt(offset), o + 24);
    out.writeBigUInt64LE(BigInt(size), o + 32);
    out.writeUInt32LE(link, o + 40);
    out.writeUInt32LE(info, o + 44);
    out.writeBigUInt64LE(BigInt(entsize), o + 56);
  });
  return out;
}

interface SynthSym {
  name: string;
  value: bigint;
  size: bigint;
  bind: 'local' | 'global' | 'weak';
}

test('aliases at one address: global over weak over local, .symtab over .dynsym, then table order; the largest size of any alias', () => {
  const sym = (name: string, value: bigint, size: bigint, bind: SynthSym['bind']): SynthSym => ({ name, value, size, bind });
  const elf = ElfFile.fromBuffer(
    syntheticElf(
      [
        sym('l1', 0x1100n, 0x10n, 'local'),
        sym('w1', 0x1100n, 0x40n, 'weak'),
        sym('g2', 0x1100n, 0x20n, 'global'),
        sym('first', 0x1200n, 0x10n, 'global'),
        sym('second', 0x1200n, 0x10n, 'global'),
        sym('weak3', 0x1300n, 0x10n, 'weak'),
        sym('local4', 0x1400n, 0x8n, 'local'),
      ],
      [sym('g1', 0x1100n, 0x20n, 'global'), sym('dynglobal', 0x1300n, 0x30n, 'global'), sym('dynlocal4', 0x1400n, 0x8n, 'local')],
    ),
  );
  try {
    assert.equal(elf.symbolCount, 4);
    const at = (a: bigint) => {
      const m = elf.lookup(a);
      const j = elf.symbolAt(a);
      assert.equal(j >= 0 ? elf.symbolName(j) : undefined, m?.name, `symbolAt agrees with lookup at 0x${a.toString(16)}`);
      return m ? `${m.name} ${m.start.toString(16)}-${m.end.toString(16)}` : 'none';
    };
    assert.equal(at(0x1100n), 'g2 1100-1140', 'global in .symtab; the weak alias gives the size');
    assert.equal(at(0x113fn), 'g2 1100-1140');
    assert.equal(at(0x1140n), 'none');
    assert.equal(at(0x1205n), 'first 1200-1210', 'equal ranks: the first in the table');
    assert.equal(at(0x1300n), 'dynglobal 1300-1330', 'a global in .dynsym beats a weak one in .symtab');
    assert.equal(at(0x1404n), 'local4 1400-1408', 'equal bindings: .symtab first');
    assert.equal(at(0x10ffn), 'none');
  } finally {
    elf.close();
  }
});
