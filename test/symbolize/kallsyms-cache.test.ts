// The boot-scoped kallsyms cache: what it stores, when it is used, and when it must not be.
// Most tests run on fake /proc files (a kallsyms text, /proc/modules, boot_id, kptr_restrict)
// through KernelSymbols.loadFrom, with a kallsyms reader that counts its calls: a warm load that
// calls it zero times did not read kallsyms.
import assert from 'node:assert/strict';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import * as zlib from 'node:zlib';
import { requireRoot, skipOutsideCi } from '../helpers.js';
import { CACHE_FILE, cacheDirFromEnv, crc32Js, DEFAULT_CACHE_DIR } from '../../src/symbolize/kallsyms-cache.js';
import { KernelSymbols, parseModules, type KallsymsSources, type KernelSymbol } from '../../src/symbolize/kallsyms.js';

// Core kernel in order; modules' blocks unsorted inside; a BPF program, an ftrace trampoline and
// a module that /proc/modules does not list.
const CORE = `ffffffff81000000 T _stext
ffffffff81000000 T startup_64
ffffffff81000100 t secondary_startup
ffffffff81000200 D some_data
ffffffff81000400 T schedule
ffffffff81001000 T do_nanosleep
ffffffff81002000 T _etext
`;
const EXT4 = `ffffffffc0002200 t ext4_read\t[ext4]
ffffffffc0002000 t ext4_fill_super\t[ext4]
ffffffffc0002100 T ext4_write\t[ext4]
`;
const XFS = `ffffffffc0005400 t xfs_b\t[xfs]
ffffffffc0005000 t xfs_a\t[xfs]
ffffffffc0005200 t xfs_c\t[xfs]
`;
const TRANSIENT = `ffffffffc0100000 t bpf_prog_6deef7357e7b4530_do_sample\t[bpf]
ffffffffc0003000 t ftrace_trampoline\t[__builtin__ftrace]
ffffffffc0009000 t gone_fn\t[gone]
ffffffffc0009100 t gone_fn2\t[gone]
`;
const KALLSYMS = CORE + EXT4 + XFS + TRANSIENT;
const MODULES = 'ext4 4096 1 - Live 0xffffffffc0002000\nxfs 8192 0 - Live 0xffffffffc0005000\n';
const BOOT_ID = 'd2820395-b860-4076-9fa4-01c11c06e666\n';

/** What the cache must answer for, by construction of the text above: core, and each listed module up to its last symbol. */
const COVERED: Array<[bigint, bigint]> = [
  [0xffffffff81000000n, 0xffffffff81003000n], // to _etext's end (LAST_SYMBOL_SPAN)
  [0xffffffffc0002000n, 0xffffffffc0002200n],
  [0xffffffffc0005000n, 0xffffffffc0005400n],
];

interface Fake {
  dir: string;
  cacheDir: string;
  src: KallsymsSources;
  /** Calls of the kallsyms reader since the last reset. */
  reads: () => number;
  resetReads: () => void;
  write: (files: { kallsyms?: string; modules?: string; bootId?: string; kptr?: string }) => void;
}

function fake(t: TestContext, files: { kallsyms?: string; modules?: string; bootId?: string; kptr?: string } = {}): Fake {
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-otel-kcache-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const write = (f: { kallsyms?: string; modules?: string; bootId?: string; kptr?: string }): void => {
    if (f.kallsyms !== undefined) writeFileSync(join(dir, 'kallsyms'), f.kallsyms);
    if (f.modules !== undefined) writeFileSync(join(dir, 'modules'), f.modules);
    if (f.bootId !== undefined) writeFileSync(join(dir, 'boot_id'), f.bootId);
    if (f.kptr !== undefined) writeFileSync(join(dir, 'kptr_restrict'), f.kptr);
  };
  write({ kallsyms: KALLSYMS, modules: MODULES, bootId: BOOT_ID, kptr: '0\n', ...files });
  let reads = 0;
  const cacheDir = join(dir, 'cache');
  return {
    dir,
    cacheDir,
    src: {
      kallsymsPath: join(dir, 'kallsyms'),
      modulesPath: join(dir, 'modules'),
      bootIdPath: join(dir, 'boot_id'),
      kptrRestrictPath: join(dir, 'kptr_restrict'),
      cacheDir,
      readKallsyms: (path) => {
        reads++;
        return readFileSync(path);
      },
    },
    reads: () => reads,
    resetReads: () => (reads = 0),
    write,
  };
}

/** What a full parse of the fake files, as they are now, answers. */
function truth(f: Fake): KernelSymbols {
  return KernelSymbols.parse(readFileSync(f.src.kallsymsPath), parseModules(readFileSync(f.src.modulesPath, 'latin1')));
}

const show = (s: KernelSymbol | null): string => JSON.stringify(s, (_k, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v));

/** Every 0x20 bytes of each covered range, and its edges. */
function coveredProbes(): bigint[] {
  const out: bigint[] = [];
  for (const [a, b] of COVERED) {
    for (let x = a; x < b; x += 0x20n) out.push(x);
    out.push(a + 1n, b - 1n);
  }
  return out;
}

test('cold run writes the cache (dir 0700, file 0600); warm run answers from it without reading kallsyms', (t) => {
  const f = fake(t);
  const cold = KernelSymbols.loadFrom(f.src);
  assert.equal(f.reads(), 1);
  assert.equal(cold.lookup(0xffffffff81000404n)?.name, 'schedule');
  const file = join(f.cacheDir, CACHE_FILE);
  assert.ok(existsSync(file), 'cache written');
  assert.equal(statSync(f.cacheDir).mode & 0o777, 0o700);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(f.cacheDir), [CACHE_FILE], 'no temp file left behind');
  // Only name bytes, not the file: none of the transient symbols' names, no addresses as text.
  const bytes = readFileSync(file).toString('latin1');
  for (const absent of ['bpf_prog_6deef7357e7b4530_do_sample', 'ftrace_trampoline', 'gone_fn', 'ffffffff81000400', 'some_data']) {
    assert.ok(!bytes.includes(absent), `${absent} not in the cache`);
  }
  assert.ok(bytes.includes('ext4_fill_super') && bytes.includes('do_nanosleep'));

  f.resetReads();
  const warm = KernelSymbols.loadFrom(f.src);
  const full = truth(f);
  for (const a of coveredProbes()) assert.equal(show(warm.lookup(a)), show(full.lookup(a)), `0x${a.toString(16)}`);
  assert.equal(f.reads(), 0, 'warm load and covered lookups never read kallsyms');
  assert.equal(warm.addressesHidden, false);
  assert.equal(warm.lookup(0xffffffff81000000n)?.name, 'startup_64', 'alias rule kept');
  assert.deepEqual(warm.lookup(0xffffffffc0002104n), { name: 'ext4_write', address: 0xffffffffc0002100n, offset: 4n, module: 'ext4' });
  assert.equal(f.reads(), 0);
});

test('an address outside core text and listed modules falls back to one full read, of the file as it is now', (t) => {
  const f = fake(t);
  KernelSymbols.loadFrom(f.src);
  // After the cache was written, a BPF program is loaded inside ext4's listed range (since Linux
  // 6.4 that range adds up text, data and rodata, which are separate allocations).
  f.write({ kallsyms: KALLSYMS + 'ffffffffc0002800 t bpf_prog_new\t[bpf]\n' });
  f.resetReads();
  const warm = KernelSymbols.loadFrom(f.src);
  assert.equal(f.reads(), 0);
  const full = truth(f);
  const outside = [
    0xffffffffc0100010n, // [bpf]
    0xffffffffc0003004n, // [__builtin__ftrace]
    0xffffffffc0009104n, // a module /proc/modules does not list
    0xffffffffc0002900n, // the new program, inside ext4's listed range
    0xffffffffc0002204n, // ext4's last symbol: its end is not ext4's to know
    0xffffffffc0005404n, // xfs's last symbol
    0xffffffff80ffffffn, // below the kernel
    0x10n,
  ];
  for (const a of outside) assert.equal(show(warm.lookup(a)), show(full.lookup(a)), `0x${a.toString(16)}`);
  assert.equal(f.reads(), 1, 'one full read for all of them');
  assert.equal(warm.lookup(0xffffffffc0002900n)?.name, 'bpf_prog_new');
  assert.equal(warm.lookup(0xffffffffc0002204n)?.name, 'ext4_read');
  assert.equal(warm.lookup(0xffffffffc0100010n)?.module, 'bpf');
  assert.equal(warm.addressOf('gone_fn2'), 0xffffffffc0009100n, 'addressOf falls back too');
  assert.equal(f.reads(), 1);

  // The first uncovered lookup is what triggers the read.
  f.resetReads();
  const again = KernelSymbols.loadFrom(f.src);
  assert.equal(again.lookup(0xffffffff81000404n)?.name, 'schedule');
  assert.equal(f.reads(), 0);
  assert.equal(again.lookup(0xffffffffc0002204n)?.name, 'ext4_read');
  assert.equal(f.reads(), 1);
});

test('the key: a new boot id, kptr_restrict, or module address/size/set invalidates; refcounts and states do not', (t) => {
  const f = fake(t);
  KernelSymbols.loadFrom(f.src);
  const warmReads = (): number => {
    f.resetReads();
    KernelSymbols.loadFrom(f.src);
    return f.reads();
  };
  assert.equal(warmReads(), 0);
  f.write({ modules: 'ext4 4096 7 jbd2, Live 0xffffffffc0002000 (E)\nxfs 8192 3 - Unloading 0xffffffffc0005000\n' });
  assert.equal(warmReads(), 0, 'refcount, dependency, state and taint columns are not part of the key');
  f.write({ modules: MODULES });
  f.write({ bootId: 'aaaaaaaa-b860-4076-9fa4-01c11c06e666\n' });
  assert.equal(warmReads(), 1, 'new boot');
  assert.equal(warmReads(), 0, 'rewritten for the new boot');
  f.write({ kptr: '1\n' });
  assert.equal(warmReads(), 1, 'kptr_restrict changed');
  f.write({ modules: 'ext4 4096 1 - Live 0xffffffffc0012000\nxfs 8192 0 - Live 0xffffffffc0005000\n' });
  assert.equal(warmReads(), 1, 'a module moved');
  f.write({ modules: 'ext4 8192 1 - Live 0xffffffffc0012000\nxfs 8192 0 - Live 0xffffffffc0005000\n' });
  assert.equal(warmReads(), 1, 'a module changed size');
  f.write({ modules: 'ext4 8192 1 - Live 0xffffffffc0012000\n' });
  assert.equal(warmReads(), 1, 'a module unloaded');
  rmSync(f.src.modulesPath);
  assert.equal(warmReads(), 1, 'no /proc/modules at all is a key of its own');
  assert.equal(warmReads(), 0);
});

test('a module loading or unloading at write time: no cache written', (t) => {
  const f = fake(t, { modules: 'ext4 4096 1 - Live 0xffffffffc0002000\nxfs 8192 0 - Loading 0xffffffffc0005000\n' });
  KernelSymbols.loadFrom(f.src);
  assert.equal(existsSync(join(f.cacheDir, CACHE_FILE)), false);
});

test('a truncated, corrupt or foreign-version cache file is ignored, never thrown, and replaced', (t) => {
  const f = fake(t);
  KernelSymbols.loadFrom(f.src);
  const file = join(f.cacheDir, CACHE_FILE);
  const good = readFileSync(file);
  const damages: Array<[string, (b: Buffer) => Buffer]> = [
    ['empty', () => Buffer.alloc(0)],
    ['header only', (b) => b.subarray(0, 128)],
    ['half', (b) => b.subarray(0, b.length >> 1)],
    ['one word short', (b) => b.subarray(0, b.length - 4)],
    ['a byte more', (b) => Buffer.concat([b, Buffer.from([0])])],
    ['format version', (b) => flip(b, 8)],
    ['symbol count', (b) => flip(b, 96)],
    ['an address', (b) => flip(b, 130)],
    ['a name byte', (b) => flip(b, b.length - 6)],
    ['random noise', (b) => Buffer.from(b.map((x, i) => (i >= 128 ? (x * 31 + i) & 0xff : x)))],
  ];
  const full = truth(f);
  for (const [what, damage] of damages) {
    writeFileSync(file, damage(good), { mode: 0o600 });
    f.resetReads();
    const ks = KernelSymbols.loadFrom(f.src);
    assert.equal(f.reads(), 1, `${what}: kallsyms read instead`);
    for (const a of coveredProbes()) assert.equal(show(ks.lookup(a)), show(full.lookup(a)), `${what}: 0x${a.toString(16)}`);
    assert.ok(readFileSync(file).equals(good), `${what}: a good cache written again`);
  }
  // Truncated in place (a crash mid-write cannot do this: writes go to a temp file and rename).
  truncateSync(file, good.length - 100);
  f.resetReads();
  KernelSymbols.loadFrom(f.src);
  assert.equal(f.reads(), 1);
});

function flip(b: Buffer, at: number): Buffer {
  const c = Buffer.from(b);
  c[at] = c[at]! ^ 0x5a;
  return c;
}

test('a symlinked or group/world-writable cache dir, or a symlinked cache file, is refused', (t) => {
  // A valid cache file, made in a proper directory.
  const f = fake(t);
  KernelSymbols.loadFrom(f.src);
  const valid = join(f.cacheDir, CACHE_FILE);

  // The cache dir is a symlink to a directory holding a valid cache: neither read nor written.
  const target = join(f.dir, 'elsewhere');
  mkdirSync(target, { mode: 0o700 });
  copyFileSync(valid, join(target, CACHE_FILE));
  const viaLink = join(f.dir, 'link');
  symlinkSync(target, viaLink);
  const linked: KallsymsSources = { ...f.src, cacheDir: viaLink };
  f.resetReads();
  KernelSymbols.loadFrom(linked);
  KernelSymbols.loadFrom(linked);
  assert.equal(f.reads(), 2, 'a symlinked dir is never read');
  assert.ok(lstatSync(viaLink).isSymbolicLink(), 'and not replaced');

  // A group-writable dir: same.
  chmodSync(target, 0o770);
  const open: KallsymsSources = { ...f.src, cacheDir: target };
  f.resetReads();
  KernelSymbols.loadFrom(open);
  assert.equal(f.reads(), 1, 'a group-writable dir is never read');
  chmodSync(target, 0o703);
  f.resetReads();
  KernelSymbols.loadFrom(open);
  assert.equal(f.reads(), 1, 'a world-writable dir is never read');
  chmodSync(target, 0o700);
  f.resetReads();
  KernelSymbols.loadFrom(open);
  assert.equal(f.reads(), 0, 'the same dir, once private, is used');

  // The cache file is a symlink to a valid cache: not followed; the writer replaces the link.
  const dir2 = join(f.dir, 'cache2');
  mkdirSync(dir2, { mode: 0o700 });
  symlinkSync(valid, join(dir2, CACHE_FILE));
  const withLink: KallsymsSources = { ...f.src, cacheDir: dir2 };
  f.resetReads();
  KernelSymbols.loadFrom(withLink);
  assert.equal(f.reads(), 1, 'a symlinked cache file is never read');
  assert.ok(lstatSync(join(dir2, CACHE_FILE)).isFile(), 'replaced by a regular file');
  assert.ok(lstatSync(valid).isFile(), 'the link target untouched');
});

test('a cache dir or file owned by another user is refused (root)', (t) => {
  if (!requireRoot(t)) return;
  const f = fake(t);
  KernelSymbols.loadFrom(f.src);
  const file = join(f.cacheDir, CACHE_FILE);
  chownSync(file, 65534, 65534);
  f.resetReads();
  KernelSymbols.loadFrom(f.src);
  assert.equal(f.reads(), 1, "someone else's file is never read");
  assert.equal(statSync(file).uid, 0, 'and is replaced by ours');
  chownSync(f.cacheDir, 65534, 65534);
  f.resetReads();
  KernelSymbols.loadFrom(f.src);
  KernelSymbols.loadFrom(f.src);
  assert.equal(f.reads(), 2, "someone else's dir is neither read nor written");
});

test('core text outside the image markers (_stext.._etext), or no markers: no cache written', (t) => {
  // A core symbol above the module area would stretch the core's range over it (no module
  // symbols here to split the core into two groups, which alone would also refuse the cache).
  const stray = fake(t, { kallsyms: CORE + 'ffffffffff600000 T stray_text\n', modules: '' });
  assert.equal(KernelSymbols.loadFrom(stray.src).lookup(0xffffffff81000404n)?.name, 'schedule');
  assert.equal(existsSync(join(stray.cacheDir, CACHE_FILE)), false);
  const noEnd = fake(t, { kallsyms: KALLSYMS.replace(' T _etext\n', ' T not_the_end\n') });
  KernelSymbols.loadFrom(noEnd.src);
  assert.equal(existsSync(join(noEnd.cacheDir, CACHE_FILE)), false);
  const moduleMarker = fake(t, { kallsyms: KALLSYMS.replace(' T _etext\n', ' T not_the_end\n') + 'ffffffffc0009200 t _etext\t[gone]\n' });
  KernelSymbols.loadFrom(moduleMarker.src);
  assert.equal(existsSync(join(moduleMarker.cacheDir, CACHE_FILE)), false, "a module's _etext is not the kernel's");
});

test('hidden (all-zero) addresses are never cached', (t) => {
  const f = fake(t, { kallsyms: KALLSYMS.replace(/^[0-9a-f]{16}/gm, '0000000000000000') });
  const ks = KernelSymbols.loadFrom(f.src);
  assert.equal(ks.addressesHidden, true);
  assert.equal(existsSync(join(f.cacheDir, CACHE_FILE)), false);
});

test('no cache dir parent, a cache path that is a file, or no boot id: no cache, same answers', (t) => {
  const f = fake(t);
  const missingParent: KallsymsSources = { ...f.src, cacheDir: join(f.dir, 'no', 'such', 'dir') };
  assert.equal(KernelSymbols.loadFrom(missingParent).lookup(0xffffffff81000404n)?.name, 'schedule');
  assert.equal(existsSync(join(f.dir, 'no')), false, 'no chain of directories made');
  const notADir = join(f.dir, 'plainfile');
  writeFileSync(notADir, 'x');
  assert.equal(KernelSymbols.loadFrom({ ...f.src, cacheDir: notADir }).lookup(0xffffffff81000404n)?.name, 'schedule');
  const noBootId: KallsymsSources = { ...f.src, bootIdPath: join(f.dir, 'no-boot-id') };
  KernelSymbols.loadFrom(noBootId);
  assert.equal(existsSync(join(f.cacheDir, CACHE_FILE)), false, 'no boot id: nothing to scope a cache to');
  assert.throws(() => KernelSymbols.loadFrom({ ...f.src, kallsymsPath: join(f.dir, 'no-kallsyms') }), /ENOENT/);
});

test('EBPF_OTEL_CACHE_DIR: unset means /run/ebpf-otel, empty means no cache; fake kallsyms paths are never cached', (t) => {
  assert.equal(cacheDirFromEnv({}), DEFAULT_CACHE_DIR);
  assert.equal(DEFAULT_CACHE_DIR, '/run/ebpf-otel');
  assert.equal(cacheDirFromEnv({ EBPF_OTEL_CACHE_DIR: '' }), null);
  assert.equal(cacheDirFromEnv({ EBPF_OTEL_CACHE_DIR: '/x/y' }), '/x/y');
  const f = fake(t);
  const saved = process.env.EBPF_OTEL_CACHE_DIR;
  process.env.EBPF_OTEL_CACHE_DIR = f.cacheDir;
  try {
    const ks = KernelSymbols.load(f.src.kallsymsPath, f.src.modulesPath);
    assert.equal(ks.lookup(0xffffffff81000404n)?.name, 'schedule');
    assert.equal(existsSync(f.cacheDir), false, 'the key describes the running kernel, not a fake file');
  } finally {
    if (saved === undefined) delete process.env.EBPF_OTEL_CACHE_DIR;
    else process.env.EBPF_OTEL_CACHE_DIR = saved;
  }
});

test('the JS CRC-32 (Node before 20.15) equals zlib.crc32, so either reads what the other wrote', () => {
  const native = (zlib as Partial<typeof zlib>).crc32;
  const data = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) & 0xff));
  assert.equal(crc32Js(Buffer.from('123456789')), 0xcbf43926, 'the CRC-32 check value');
  assert.equal(crc32Js(data.subarray(100), crc32Js(data.subarray(0, 100))), crc32Js(data), 'continues like zlib');
  if (native) assert.equal(crc32Js(data), native(data));
});

test('real /proc/kallsyms (root): cold writes, warm reads nothing and equals the full parse', (t) => {
  if (!requireRoot(t)) return;
  let text: Buffer;
  try {
    text = readFileSync('/proc/kallsyms');
  } catch (e) {
    skipOutsideCi(t, `cannot read /proc/kallsyms: ${(e as Error).message}`);
    return;
  }
  const cacheDir = join(mkdtempSync(join(tmpdir(), 'ebpf-otel-kcache-real-')), 'cache');
  t.after(() => rmSync(join(cacheDir, '..'), { recursive: true, force: true }));
  let reads = 0;
  const src: KallsymsSources = {
    kallsymsPath: '/proc/kallsyms',
    modulesPath: '/proc/modules',
    bootIdPath: '/proc/sys/kernel/random/boot_id',
    kptrRestrictPath: '/proc/sys/kernel/kptr_restrict',
    cacheDir,
    readKallsyms: (p) => {
      reads++;
      return readFileSync(p);
    },
  };
  const cold = KernelSymbols.loadFrom(src);
  assert.equal(cold.addressesHidden, false, 'root sees kernel addresses');
  assert.equal(reads, 1);
  assert.ok(existsSync(join(cacheDir, CACHE_FILE)), 'cache written');

  reads = 0;
  const warm = KernelSymbols.loadFrom(src);
  assert.equal(reads, 0, 'warm load reads no kallsyms');
  let modulesText = '';
  try {
    modulesText = readFileSync('/proc/modules', 'latin1');
  } catch {
    // no loadable modules: core kernel only
  }
  const listed = new Set(parseModules(modulesText).map((m) => m.name));
  const full = KernelSymbols.parse(text, parseModules(modulesText));
  // A sample of real addresses: every 97th text symbol of the core kernel and of listed modules,
  // at its start, one byte in, and halfway to the next line's address. Modules' last symbols
  // are left out: those are answered by the full read by design (see the fallback test).
  const rows = text
    .toString('latin1')
    .split('\n')
    .map((l) => /^([0-9a-f]{16}) [tTwW] (\S+)(?:\t\[(\S+)\])?$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null && (m[3] === undefined || listed.has(m[3])))
    .map((m) => ({ addr: BigInt('0x' + m[1]!), module: m[3] }));
  const lastOfModule = new Map<string, bigint>();
  for (const r of rows) if (r.module && r.addr > (lastOfModule.get(r.module) ?? 0n)) lastOfModule.set(r.module, r.addr);
  let checked = 0;
  for (let i = 0; i < rows.length; i += 97) {
    const r = rows[i]!;
    if (r.module && r.addr >= lastOfModule.get(r.module)!) continue;
    const n = rows[i + 1];
    const half = n !== undefined && n.module === r.module && n.addr > r.addr ? (n.addr - r.addr) / 2n : 0n;
    for (const a of [r.addr, r.addr + 1n, r.addr + half]) {
      assert.equal(show(warm.lookup(a)), show(full.lookup(a)), `0x${a.toString(16)}`);
    }
    checked++;
  }
  assert.ok(checked > 500, `${checked} symbols checked`);
  assert.equal(reads, 0, 'all answered from the cache');
  for (const name of ['schedule', 'do_nanosleep']) {
    const a = full.addressOf(name);
    if (a !== undefined) assert.equal(warm.lookup(a + 2n)?.name, full.lookup(a + 2n)?.name);
  }
  assert.equal(reads, 0);

  // KernelSymbols.load() (what the Symbolizer calls) uses EBPF_OTEL_CACHE_DIR for the real files.
  const viaEnv = join(cacheDir, '..', 'env');
  const saved = process.env.EBPF_OTEL_CACHE_DIR;
  process.env.EBPF_OTEL_CACHE_DIR = viaEnv;
  try {
    assert.equal(KernelSymbols.load().addressesHidden, false);
    assert.ok(existsSync(join(viaEnv, CACHE_FILE)), 'load() wrote the cache where the variable says');
  } finally {
    if (saved === undefined) delete process.env.EBPF_OTEL_CACHE_DIR;
    else process.env.EBPF_OTEL_CACHE_DIR = saved;
  }
});
