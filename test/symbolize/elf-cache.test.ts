// The symbol index and the frame-pointer census kept in the file-facts cache: read back, they
// answer exactly as the freshly computed ones; a changed file, a damaged or foreign entry and a
// missing or untrusted cache directory all fall back to computing, never to other answers.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { ElfFile, type ElfSymbolMatch, type IndexedSymbols } from '../../src/symbolize/elf.js';
import { SYMBOL_INDEX_FACT } from '../../src/symbolize/elf-symbol-cache.js';
import { FP_CENSUS_FACT, fpCensus } from '../../src/unwind/census.js';
import { factFileName, writeFact } from '../../src/util/file-facts-cache.js';
import { buildWorkload } from '../helpers.js';
import { buildC, buildCxx, fixtureDir } from './fixtures.js';

const LIBC = '/lib/x86_64-linux-gnu/libc.so.6';
const NODE = '/usr/bin/node';

/** A fresh cache directory for this test, made the one EBPF_OTEL_CACHE_DIR names. */
function useCacheDir(t: TestContext): string {
  const root = mkdtempSync(join(tmpdir(), 'ebpf-otel-elfcache-'));
  const dir = join(root, 'cache');
  const before = process.env.EBPF_OTEL_CACHE_DIR;
  process.env.EBPF_OTEL_CACHE_DIR = dir;
  t.after(() => {
    if (before === undefined) delete process.env.EBPF_OTEL_CACHE_DIR;
    else process.env.EBPF_OTEL_CACHE_DIR = before;
    rmSync(root, { recursive: true, force: true });
  });
  return dir;
}

/** The symbol index of `path` from a freshly opened file, and the file (closed by the caller). */
function indexOf(path: string): { elf: ElfFile; ix: IndexedSymbols } {
  const elf = ElfFile.open(path);
  return { elf, ix: elf.indexedSymbols() };
}

const bytesOf = (a: ArrayBufferView): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** Every array of two indexes byte for byte, every name, and lookups in and around entries. */
function assertSameIndex(built: ElfFile, cached: ElfFile, what: string, lookupEvery = 1): void {
  const a = built.indexedSymbols();
  const b = cached.indexedSymbols();
  assert.equal(a.fromCache, false, `${what}: built`);
  assert.equal(b.fromCache, true, `${what}: read from the cache`);
  assert.equal(b.base, a.base, `${what}: base`);
  for (const key of ['starts', 'ends', 'maxEnds', 'strtabOf', 'nameOff', 'strtabSections'] as const) {
    assert.equal(b[key].length, a[key].length, `${what}: ${key} length`);
    assert.ok(bytesOf(b[key]).equals(bytesOf(a[key])), `${what}: ${key} bytes`);
  }
  const m = a.starts.length;
  for (let j = 0; j < m; j++) {
    const name = built.symbolName(j);
    if (cached.symbolName(j) !== name) assert.fail(`${what}: entry ${j}: ${cached.symbolName(j)} != ${name}`);
  }
  const probe = (addr: bigint): void => {
    const x: ElfSymbolMatch | undefined = built.lookup(addr);
    const y: ElfSymbolMatch | undefined = cached.lookup(addr);
    if (x?.name !== y?.name || x?.start !== y?.start || x?.end !== y?.end || x?.offset !== y?.offset) {
      assert.fail(`${what}: lookup 0x${addr.toString(16)}: ${JSON.stringify(y, (_, v: unknown) => (typeof v === 'bigint' ? v.toString(16) : v))}`);
    }
  };
  for (let j = 0; j < m; j += lookupEvery) {
    const start = a.base + BigInt(a.starts[j]!);
    const end = a.base + BigInt(a.ends[j]!);
    for (const addr of [start, start + (end - start) / 2n, end - 1n, end]) probe(addr);
    if (start > 0n) probe(start - 1n);
  }
  for (const addr of [0n, 1n, a.base, 0xffffffffffffffffn]) probe(addr);
}

/** Opens `path` twice: the first builds (and stores) the index, the second reads it back. */
function roundTrip(path: string, what: string, lookupEvery = 1): void {
  const first = indexOf(path);
  const second = indexOf(path);
  try {
    assertSameIndex(first.elf, second.elf, what, lookupEvery);
  } finally {
    first.elf.close();
    second.elf.close();
  }
}

/** A shared object linked at the top of the address space: its index needs a non-zero base. */
function highAddressLibrary(): string {
  const dir = fixtureDir();
  const src = join(dir, 'high.s');
  writeFileSync(src, '.text\n.globl hi_a\n.type hi_a,@function\nhi_a: nop\nnop\nret\n.size hi_a,3\n.globl hi_b\n.type hi_b,@function\nhi_b: ret\n');
  const out = join(dir, 'libhigh.so');
  execFileSync('gcc', ['-shared', '-nostdlib', '-Wl,-Ttext-segment=0xffffffffff700000', '-o', out, src]);
  return out;
}

test('a cached symbol index is the computed one: arrays byte for byte, names, lookups (libc, node, fixtures)', (t) => {
  const dir = useCacheDir(t);
  const b = buildC();
  roundTrip(LIBC, 'libc');
  roundTrip(b.pie, 'pie fixture');
  roundTrip(b.lib, 'library fixture');
  roundTrip(b.asmLib, 'assembly fixture (size-0 symbols, nested symbols, two sections)');
  roundTrip(b.stripped, 'stripped fixture (.dynsym only)');
  const high = highAddressLibrary();
  assert.notEqual(indexOf(high).ix.base, 0n, 'the high fixture needs a base');
  rmSync(dir, { recursive: true, force: true });
  roundTrip(high, 'high-address fixture');
  const cxx = buildCxx();
  if (cxx) roundTrip(cxx, 'C++ fixture');
  if (existsSync(NODE)) roundTrip(NODE, 'node', 7);
  const files = readdirSync(dir);
  assert.ok(files.every((f) => /^elf-symbols-[0-9a-f]{8}\.bin$/.test(f)), files.join(' '));
  assert.ok(files.every((f) => (statSync(join(dir, f)).mode & 0o777) === 0o600));
});

test('a changed binary misses: new mtime, new content with the old mtime (ctime), a replacement (inode)', (t) => {
  useCacheDir(t);
  const work = mkdtempSync(join(tmpdir(), 'ebpf-otel-elfcache-bin-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const b = buildC();
  const path = join(work, 'prog');
  copyFileSync(b.pie, path);
  const fresh = (): boolean => {
    const { elf, ix } = indexOf(path);
    elf.close();
    return ix.fromCache;
  };
  assert.equal(fresh(), false);
  assert.equal(fresh(), true, 'the same file hits');

  const old = statSync(path);
  utimesSync(path, old.atime, new Date(old.mtimeMs + 5000));
  assert.equal(fresh(), false, 'a new mtime misses');
  assert.equal(fresh(), true);

  // Same size, one symbol renamed in place, the mtime put back: only the ctime tells.
  const kept = statSync(path);
  const bytes = readFileSync(path);
  const at = bytes.indexOf('prog_function_one\0');
  assert.ok(at > 0);
  bytes.write('prog_function_ONE', at, 'latin1');
  writeFileSync(path, bytes);
  utimesSync(path, kept.atime, kept.mtime);
  const changed = statSync(path, { bigint: true });
  assert.equal(changed.size, BigInt(kept.size));
  assert.equal(changed.ino, BigInt(kept.ino));
  const { elf, ix } = indexOf(path);
  try {
    assert.equal(ix.fromCache, false, 'rewritten contents miss');
    const nm = execFileSync('nm', ['--defined-only', path], { encoding: 'utf8' });
    const line = nm.split('\n').find((l) => / prog_function_ONE$/.test(l))!;
    assert.equal(elf.lookup(BigInt(`0x${line.split(' ')[0]!}`))?.name, 'prog_function_ONE', 'and name the new contents');
  } finally {
    elf.close();
  }

  // A replacement by rename (what package managers do): another inode.
  const next = join(work, 'prog.new');
  copyFileSync(path, next);
  renameSync(next, path);
  assert.equal(fresh(), false, 'a replaced file misses');
});

test('a truncated, corrupted, foreign or misplaced entry reads as a miss and the index is computed', (t) => {
  const dir = useCacheDir(t);
  const b = buildC();
  const truth = indexOf(b.pie);
  t.after(() => truth.elf.close());
  const entry = join(dir, factFileName(SYMBOL_INDEX_FACT, truth.elf.identity!));
  assert.ok(existsSync(entry), 'written by the first build');
  const good = readFileSync(entry);

  const damage: [string, (f: Buffer) => Buffer][] = [
    ['truncated by a byte', (f) => f.subarray(0, f.length - 1)],
    ['truncated to its header', (f) => f.subarray(0, 32)],
    ['empty', () => Buffer.alloc(0)],
    ['a byte of the payload flipped', (f) => Buffer.from(f).fill(f[f.length - 9]! ^ 0x10, f.length - 9, f.length - 8)],
    ['a byte of the key flipped', (f) => Buffer.from(f).fill(f[40]! ^ 0x01, 40, 41)],
    ['another format version', (f) => Buffer.from(f).fill(9, 8, 9)],
    ['random bytes', (f) => Buffer.from(Array.from({ length: f.length }, (_, i) => (i * 7919) & 0xff))],
  ];
  for (const [what, change] of damage) {
    writeFileSync(entry, change(good), { mode: 0o600 });
    const again = indexOf(b.pie);
    try {
      assert.equal(again.ix.fromCache, false, `${what}: a miss`);
      for (let j = 0; j < truth.ix.starts.length; j++) {
        const addr = truth.ix.base + BigInt(truth.ix.starts[j]!);
        assert.deepEqual(again.elf.lookup(addr), truth.elf.lookup(addr), `${what}: entry ${j}`);
      }
    } finally {
      again.elf.close();
    }
    assert.ok(readFileSync(entry).equals(good), `${what}: rewritten by the fallback`);
  }

  // Another binary's intact entry under this binary's name: its key does not match.
  const other = indexOf(b.lib);
  other.elf.close();
  writeFileSync(entry, readFileSync(join(dir, factFileName(SYMBOL_INDEX_FACT, other.elf.identity!))), { mode: 0o600 });
  const misplaced = indexOf(b.pie);
  misplaced.elf.close();
  assert.equal(misplaced.ix.fromCache, false, 'another file’s entry is a miss');
  assert.ok(bytesOf(misplaced.ix.starts).equals(bytesOf(truth.ix.starts)));
});

test('without a usable cache directory the index is computed every time: disabled, not ours, a buffer', (t) => {
  const dir = useCacheDir(t);
  const b = buildC();
  process.env.EBPF_OTEL_CACHE_DIR = '';
  for (let i = 0; i < 2; i++) {
    const { elf, ix } = indexOf(b.pie);
    assert.equal(ix.fromCache, false, 'EBPF_OTEL_CACHE_DIR empty: no cache');
    assert.equal(elf.lookup(BigInt(ix.starts[0]!))?.start, BigInt(ix.starts[0]!));
    elf.close();
  }
  assert.equal(existsSync(dir), false, 'nothing created');

  // Owned by someone else, as root's /run/ebpf-otel is for any other user: neither read nor written.
  process.env.EBPF_OTEL_CACHE_DIR = dir;
  indexOf(b.pie).elf.close();
  assert.equal(readdirSync(dir).length, 1);
  if (process.geteuid?.() === 0) {
    chownSync(dir, 65534, 65534);
    for (let i = 0; i < 2; i++) {
      const { elf, ix } = indexOf(b.pie);
      assert.equal(ix.fromCache, false, 'a directory of another user is not trusted');
      assert.ok(elf.symbolCount > 5);
      elf.close();
    }
    indexOf(b.lib).elf.close();
    assert.equal(readdirSync(dir).length, 1, 'nor written to');
    chownSync(dir, 0, 0);
  }

  rmSync(dir, { recursive: true, force: true });
  const elf = ElfFile.fromBuffer(readFileSync(b.pie));
  assert.equal(elf.identity, undefined);
  assert.equal(elf.indexedSymbols().fromCache, false);
  assert.equal(existsSync(dir), false, 'a buffer is never cached');
});

test('the frame-pointer census is read back from the cache, keyed by the binary and its debug file', (t) => {
  const dir = useCacheDir(t);
  const withFp = buildWorkload('unwind-burner', ['-O2', '-fno-omit-frame-pointer']);
  const first = fpCensus(ElfFile.open(withFp));
  assert.equal(first.keepsFramePointers, true);
  const libc = fpCensus(ElfFile.open(LIBC));
  assert.deepEqual(fpCensus(ElfFile.open(withFp)), first, 'the stored census is the computed one');
  assert.deepEqual(fpCensus(ElfFile.open(LIBC)), libc);
  assert.ok(readdirSync(dir).filter((f) => f.startsWith('elf-fp-census-')).length === 2);

  // An entry that says otherwise is what a later census answers: it does come from the cache.
  const elf = ElfFile.open(withFp);
  const fake = Buffer.alloc(16);
  fake.writeUInt32LE(77, 0);
  assert.ok(writeFact(dir, FP_CENSUS_FACT, elf.identity!, fake, 'no-debug'));
  assert.deepEqual(fpCensus(elf), { functions: 77, withFrame: 0, rbpBased: 0, keepsFramePointers: false });

  // With a debug file the key differs: the census is taken again, and stored beside.
  const b = buildC();
  const debugPath = readdirSync(join(b.debugDir, '.build-id')).flatMap((d) => readdirSync(join(b.debugDir, '.build-id', d)).map((f) => join(b.debugDir, '.build-id', d, f)))[0]!;
  const withDebug = fpCensus(ElfFile.open(withFp), ElfFile.open(debugPath));
  assert.notEqual(withDebug.functions, 77);
  assert.equal(readdirSync(dir).filter((f) => f.startsWith('elf-fp-census-')).length, 3);

  // A damaged entry is a miss.
  const entry = join(dir, factFileName(FP_CENSUS_FACT, elf.identity!, 'no-debug'));
  truncateSync(entry, 20);
  assert.deepEqual(fpCensus(ElfFile.open(withFp)), first);
});
