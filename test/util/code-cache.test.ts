// The V8 code cache bin/ebpf-otel.cjs loads the bundle with: used when valid, ignored (and
// rewritten) when stale, damaged or rejected by V8, never read or written in an unsafe directory,
// and invisible to what the loaded file does (exports, require, __filename, stack traces, errors).
import assert from 'node:assert/strict';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { runCli } from '../helpers.js';
import { codeCacheFileName, encodeCodeCache, loadWithCodeCache, parseCodeCache, type CodeCacheState } from '../../src/util/code-cache.js';

const loaderUrl = new URL('../../src/util/code-cache.js', import.meta.url).href;

interface Fixture {
  dir: string;
  cacheDir: string;
  file: string;
  cacheFile: string;
}

// A CommonJS file with enough functions for V8 to cache, a relative require, and a function that
// throws from a known line (4) so stack traces can be checked.
const SOURCE = (tag: string): string => `'use strict';
const helper = require('./helper.cjs');
globalThis.__codeCacheRuns = (globalThis.__codeCacheRuns ?? 0) + 1;
function fail() { throw new Error('boom ${tag}'); }
function sum(n) { let s = 0; for (let i = 0; i < n; i++) s += helper.twice(i); return s; }
module.exports = { sum, fail, file: __filename, dir: __dirname, tag: '${tag}' };
`;

function fixture(t: TestContext, tag = 'a'): Fixture {
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-otel-ccache-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'helper.cjs'), 'exports.twice = (x) => 2 * x;\n');
  const file = join(dir, 'mod.cjs');
  writeFileSync(file, SOURCE(tag));
  const cacheDir = join(dir, 'cache');
  return { dir, cacheDir, file, cacheFile: join(cacheDir, codeCacheFileName(process.execArgv, process.env.NODE_OPTIONS ?? '', 'cpuprofile')) };
}

interface Mod {
  sum(n: number): number;
  fail(): never;
  file: string;
  dir: string;
  tag: string;
}

function load(f: Fixture, label = 'cpuprofile', cacheDir: string | null = f.cacheDir) {
  const loaded = loadWithCodeCache(f.file, { cacheDir, label });
  assert.ok(loaded, 'the loader itself never fails on these fixtures');
  return { ...loaded, mod: loaded.exports as Mod };
}

interface ChildRun {
  state: CodeCacheState;
  saved: boolean;
  sum: number;
  tag: string;
}

/**
 * load() and save(exitCode) in a fresh process, as bin/ebpf-otel.cjs does: in this process V8
 * would answer a second compile of the same text from its own in-memory cache, without ever
 * looking at (or rejecting) the cached data.
 */
function run(f: Fixture, label = 'cpuprofile', exitCode = 0, cacheDir: string | null = f.cacheDir): ChildRun {
  const script = join(f.dir, 'run.mjs');
  writeFileSync(
    script,
    `import { loadWithCodeCache } from ${JSON.stringify(loaderUrl)};
const [file, dir, label, code] = process.argv.slice(2);
const l = loadWithCodeCache(file, { cacheDir: dir === '' ? null : dir, label });
const saved = l.save(Number(code));
process.stdout.write(JSON.stringify({ state: l.state, saved, sum: l.exports.sum(5), tag: l.exports.tag }));`,
  );
  // This process's Node options, so that the child uses the cache file this process names.
  const r = spawnSync(process.execPath, [...process.execArgv, script, f.file, cacheDir ?? '', label, String(exitCode)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as ChildRun;
}

/** The key string a cache file was written with (bytes 32.. of the header's key length). */
function keyOf(file: Buffer): string {
  return file.toString('utf8', 32, 32 + file.readUInt32LE(12));
}

test('cold: a miss that runs the file and writes the cache (dir 0700, file 0600); warm: a hit with the same behaviour', (t) => {
  const f = fixture(t);
  const cold = load(f);
  assert.equal(cold.state, 'miss');
  assert.equal(cold.mod.sum(10), 90, 'the file ran, and required its neighbour');
  assert.equal(cold.mod.file, f.file, '__filename is the file');
  assert.equal(cold.mod.dir, f.dir, '__dirname is its folder');
  assert.equal(cold.save(0), true);
  assert.equal(statSync(f.cacheDir).mode & 0o777, 0o700);
  assert.equal(statSync(f.cacheFile).mode & 0o777, 0o600);
  const parsed = parseCodeCache(readFileSync(f.cacheFile), keyOf(readFileSync(f.cacheFile)));
  assert.deepEqual(parsed?.labels, ['cpuprofile']);

  assert.deepEqual(run(f), { state: 'hit', saved: false, sum: 20, tag: 'a' }, 'V8 took the data; nothing new to add, so not rewritten');
});

test('stack traces and errors name the file and its lines, with or without the cache', (t) => {
  const f = fixture(t);
  for (const expected of ['miss', 'hit']) {
    const l = load(f);
    assert.equal(l.state, expected);
    l.save(0);
    assert.throws(
      () => l.mod.fail(),
      (err: Error) => {
        assert.equal(err.message, 'boom a');
        assert.match(err.stack ?? '', new RegExp(`at (Object\\.)?fail \\(${f.file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4:\\d+\\)`));
        return true;
      },
    );
  }
});

test('each command has a file of its own: another command neither loads nor rewrites it', (t) => {
  const f = fixture(t);
  assert.equal(run(f, 'cpuprofile').saved, true);
  const cpuprofileFile = readFileSync(f.cacheFile);
  const offcpuFile = join(f.cacheDir, codeCacheFileName(process.execArgv, process.env.NODE_OPTIONS ?? '', 'offcpu'));
  assert.deepEqual(run(f, 'offcpu', 2), { state: 'miss', saved: true, sum: 20, tag: 'a' }, 'its own file: a miss, even with cpuprofile cached');
  assert.deepEqual(parseCodeCache(readFileSync(offcpuFile), keyOf(readFileSync(offcpuFile)))?.labels, [], 'a failed run does not record its command');
  assert.equal(run(f, 'offcpu', 0).saved, true, 'the first successful run of the command rewrites its file');
  assert.deepEqual(parseCodeCache(readFileSync(offcpuFile), keyOf(readFileSync(offcpuFile)))?.labels, ['offcpu']);
  assert.deepEqual(run(f, 'offcpu'), { state: 'hit', saved: false, sum: 20, tag: 'a' });
  assert.ok(readFileSync(f.cacheFile).equals(cpuprofileFile), "cpuprofile's file untouched");
  assert.equal(run(f, '').saved, true, 'no command: a file of its own too');
  assert.equal(run(f, '').saved, false, 'and nothing to add once it hits');
});

test('a miss writes even after a failed run, without recording its command', (t) => {
  const f = fixture(t);
  assert.equal(run(f, 'cpuprofile', 1).saved, true);
  const written = readFileSync(f.cacheFile);
  assert.deepEqual(parseCodeCache(written, keyOf(written))?.labels, []);
  assert.deepEqual(run(f, 'cpuprofile'), { state: 'hit', saved: true, sum: 20, tag: 'a' }, 'the first successful run adds its command');
});

test('a changed file (same length) misses and is cached anew: the key is the file, not its length', (t) => {
  const f = fixture(t, 'a');
  run(f);
  writeFileSync(f.file, SOURCE('b'));
  assert.deepEqual(run(f), { state: 'miss', saved: true, sum: 20, tag: 'b' }, 'the new text ran, not the old cached code');
  assert.equal(run(f).state, 'hit');
});

test('a damaged cache file is a miss, never an exception, and is rewritten', (t) => {
  const f = fixture(t);
  load(f).save(0);
  const good = readFileSync(f.cacheFile);
  const damages: Array<[string, (b: Buffer) => Buffer]> = [
    ['empty', () => Buffer.alloc(0)],
    ['header only', (b) => b.subarray(0, 32)],
    ['truncated', (b) => b.subarray(0, b.length - 1)],
    ['a byte more', (b) => Buffer.concat([b, Buffer.from([0])])],
    ['magic', (b) => flip(b, 0)],
    ['format version', (b) => flip(b, 8)],
    ['data length', (b) => flip(b, 20)],
    ['checksum', (b) => flip(b, 24)],
    ['a byte of V8 data', (b) => flip(b, b.length - 100)],
    ['V8 data noise', (b) => Buffer.from(b.map((x, i) => (i >= b.length - 4096 ? (x * 31 + i) & 0xff : x)))],
  ];
  for (const [what, damage] of damages) {
    writeFileSync(f.cacheFile, damage(good), { mode: 0o600 });
    assert.deepEqual(run(f), { state: 'miss', saved: true, sum: 20, tag: 'a' }, `${what}: the file ran, and the cache was rewritten`);
    assert.equal(run(f).state, 'hit', `${what}: the rewritten cache is used`);
  }
});

test('a well-formed file whose data V8 rejects is rewritten with data it accepts', (t) => {
  const f = fixture(t);
  run(f);
  const key = keyOf(readFileSync(f.cacheFile));
  const parts = encodeCodeCache(key, ['cpuprofile'], Buffer.alloc(4096, 0x5a));
  writeFileSync(f.cacheFile, Buffer.concat(parts), { mode: 0o600 });
  assert.deepEqual(run(f, 'cpuprofile', 1), { state: 'rejected', saved: true, sum: 20, tag: 'a' }, 'rewritten even by a failed run');
  const rewritten = readFileSync(f.cacheFile);
  assert.equal(parseCodeCache(rewritten, key)?.afterReject, true, 'marked as written after a rejection');
  assert.deepEqual(parseCodeCache(rewritten, key)?.labels, [], 'without its command: the run failed');
  assert.deepEqual(run(f), { state: 'hit', saved: true, sum: 20, tag: 'a' }, 'a rewrite after a hit: the first successful run adds its command');
  assert.equal(parseCodeCache(readFileSync(f.cacheFile), key)?.afterReject, false, 'clears the mark');
});

test('V8 rejecting a file written after a rejection: left alone, not rewritten at every run', (t) => {
  // V8 refusing the data of its own rewrite would refuse every rewrite: rewriting would only add cost.
  const f = fixture(t);
  run(f);
  const key = keyOf(readFileSync(f.cacheFile));
  const stubborn = Buffer.concat(encodeCodeCache(key, ['cpuprofile'], Buffer.alloc(4096, 0x5a), true));
  writeFileSync(f.cacheFile, stubborn, { mode: 0o600 });
  assert.deepEqual(run(f), { state: 'rejected', saved: false, sum: 20, tag: 'a' });
  assert.ok(readFileSync(f.cacheFile).equals(stubborn));
});

test('an unsafe cache directory is neither read nor written (the caller requires); a planted symlink is never followed', (t) => {
  const f = fixture(t);
  // Group/world-writable directory.
  mkdirSync(f.cacheDir);
  chmodSync(f.cacheDir, 0o777);
  assert.equal(loadWithCodeCache(f.file, { cacheDir: f.cacheDir, label: 'cpuprofile' }), null, 'not used: the caller requires the file');
  assert.equal(existsSync(f.cacheFile), false, 'nothing written into a directory others can write');
  // A good cache made elsewhere, then reached through a symlinked directory.
  rmSync(f.cacheDir, { recursive: true });
  const real = join(f.dir, 'real-cache');
  load(f, 'cpuprofile', real).save(0);
  symlinkSync(real, f.cacheDir);
  assert.equal(loadWithCodeCache(f.file, { cacheDir: f.cacheDir, label: 'cpuprofile' }), null, 'a symlinked directory is not used');
  // No parent to create the directory in (as /run for a user who is not root): not used either.
  assert.equal(loadWithCodeCache(f.file, { cacheDir: join(f.dir, 'no', 'such'), label: 'cpuprofile' }), null);
  // A symlink planted as the cache file: not read, and replaced (not written through) by a save.
  rmSync(f.cacheDir);
  mkdirSync(f.cacheDir, { mode: 0o700 });
  const victim = join(f.dir, 'victim');
  writeFileSync(victim, 'precious');
  symlinkSync(victim, f.cacheFile);
  const planted = load(f);
  assert.equal(planted.state, 'miss');
  assert.equal(planted.save(0), true);
  assert.equal(readFileSync(victim, 'utf8'), 'precious', 'the link target is untouched');
  assert.ok(lstatSync(f.cacheFile).isFile(), 'the link was replaced by a file of ours');
  assert.equal(run(f).state, 'hit');
});

test('one cache file per Node version, architecture, set of Node options (V8 rejects the data of others) and command', () => {
  const plain = codeCacheFileName([], '');
  assert.equal(plain, `code-cache-${process.version}-${process.arch}.bin`);
  const shebang = codeCacheFileName(['--max-semi-space-size=1'], '');
  assert.match(shebang, new RegExp(`^code-cache-${process.version.replace(/\./g, '\\.')}-${process.arch}-[0-9a-f]{8}\\.bin$`));
  assert.notEqual(codeCacheFileName([], '--max-semi-space-size=1'), plain, 'NODE_OPTIONS count too');
  assert.equal(codeCacheFileName(['--max-semi-space-size=1'], ''), shebang, 'the same options, the same file');
  assert.equal(codeCacheFileName(['--max-semi-space-size=1'], '', 'tcprtt'), shebang.replace(/\.bin$/, '-tcprtt.bin'), 'and one per command');
});

test('no cache directory (EBPF_OTEL_CACHE_DIR empty): null before anything ran; a missing file: null, no exception', (t) => {
  const f = fixture(t);
  const g = globalThis as { __codeCacheRuns?: number };
  const runs = g.__codeCacheRuns ?? 0;
  assert.equal(loadWithCodeCache(f.file, { cacheDir: null, label: 'cpuprofile' }), null, 'the caller requires the file');
  assert.equal(g.__codeCacheRuns ?? 0, runs, 'the file did not run');
  assert.equal(existsSync(f.cacheDir), false);
  assert.equal(loadWithCodeCache(join(f.dir, 'absent.cjs'), { cacheDir: f.cacheDir }), null, 'the caller then requires it as usual');
});

test('an exception of the file itself propagates, once, as from require', (t) => {
  const f = fixture(t);
  writeFileSync(f.file, `globalThis.__codeCacheThrows = (globalThis.__codeCacheThrows ?? 0) + 1;\nthrow new Error('top level');\n`);
  const g = globalThis as { __codeCacheThrows?: number };
  const before = g.__codeCacheThrows ?? 0;
  assert.throws(() => loadWithCodeCache(f.file, { cacheDir: f.cacheDir }), /top level/);
  assert.equal(g.__codeCacheThrows, before + 1);
});

test('the CLI: same output and one-line errors with the cache cold, warm, damaged or off', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-otel-ccache-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cacheDir = join(dir, 'cache');
  // bin/ebpf-otel.cjs as runCli starts it: node, no options.
  const cacheFile = join(cacheDir, codeCacheFileName([], process.env.NODE_OPTIONS ?? ''));
  const run = (args: string[], env: NodeJS.ProcessEnv = { EBPF_OTEL_CACHE_DIR: cacheDir }) => runCli(args, { env });
  const plain = { version: run(['--version'], { EBPF_OTEL_CACHE_DIR: '' }), bad: run(['cpuprofile', '--no-such-option'], { EBPF_OTEL_CACHE_DIR: '' }) };
  assert.equal(plain.version.status, 0);
  assert.equal(plain.bad.status, 1);
  assert.match(plain.bad.stderr, /^error: unknown option '--no-such-option'\n/);
  assert.equal(existsSync(cacheDir), false, 'EBPF_OTEL_CACHE_DIR empty: no cache');

  const cold = run(['--version']);
  assert.deepEqual(cold, plain.version);
  assert.ok(existsSync(cacheFile), 'written at exit');
  assert.deepEqual(run(['--version']), plain.version, 'warm');
  assert.deepEqual(run(['cpuprofile', '--no-such-option']), plain.bad, 'a one-line error, as without the cache');
  writeFileSync(cacheFile, flip(readFileSync(cacheFile), 200), { mode: 0o600 });
  assert.deepEqual(run(['--version']), plain.version, 'damaged');
  const rewritten = readFileSync(cacheFile);
  assert.ok(parseCodeCache(rewritten, keyOf(rewritten)) !== null, 'and rewritten whole');
});

function flip(b: Buffer, at: number): Buffer {
  const c = Buffer.from(b);
  c[at] = c[at]! ^ 0x5a;
  return c;
}
