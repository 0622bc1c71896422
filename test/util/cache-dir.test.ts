// The root-only cache directory's helpers, shared by the kallsyms and code caches, and the
// unique names every temporary file ebpf-otel creates is given.
import assert from 'node:assert/strict';
import { chmodSync, closeSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { openCacheDir, pruneCacheFiles, readCacheFile, uniqueSuffix, writeCacheFile } from '../../src/util/cache-dir.js';
import { createExclusiveFile, saveAside, writeOutputFile } from '../../src/util/files.js';

test('uniqueSuffix: a different name at every call, pid first', () => {
  const names = new Set<string>();
  for (let i = 0; i < 1000; i++) names.add(uniqueSuffix());
  assert.equal(names.size, 1000);
  assert.ok([...names].every((n) => n.startsWith(`${process.pid}.`) && /^[0-9a-z.]+$/.test(n)));
});

/** A temp dir (removed after the test) and a cache directory opened in it. */
function tempCacheDir(t: TestContext, prefix: string): { dir: string; cache: string; fd: number } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cache = join(dir, 'c');
  const fd = openCacheDir(cache, true);
  assert.ok(fd !== null);
  return { dir, cache, fd };
}

test('writeCacheFile replaces atomically with a 0600 file and leaves no temporary file; readCacheFile reads it back', (t) => {
  const { dir, cache, fd } = tempCacheDir(t, 'ebpf-otel-cachedir-');
  try {
    assert.equal(statSync(cache).mode & 0o777, 0o700);
    assert.ok(writeCacheFile(fd, 'f.bin', [Buffer.from('ab'), Buffer.from('cd')]));
    assert.ok(writeCacheFile(fd, 'f.bin', [Buffer.from('efgh')]));
    assert.deepEqual(readdirSync(cache), ['f.bin']);
    assert.equal(statSync(join(cache, 'f.bin')).mode & 0o777, 0o600);
    assert.equal(Buffer.from(readCacheFile(fd, 'f.bin', 0, 100)!).toString(), 'efgh');
    assert.equal(readCacheFile(fd, 'f.bin', 5, 100), null, 'shorter than the minimum');
    assert.equal(readCacheFile(fd, 'f.bin', 0, 3), null, 'longer than the maximum');
    assert.equal(readCacheFile(fd, 'absent', 0, 100), null);
    writeFileSync(join(dir, 'target'), 'x');
    symlinkSync(join(dir, 'target'), join(cache, 'link'));
    assert.equal(readCacheFile(fd, 'link', 0, 100), null, 'a symlink is not followed');
    writeFileSync(join(cache, 'open'), 'x', { mode: 0o666 });
    chmodSync(join(cache, 'open'), 0o666);
    assert.equal(readCacheFile(fd, 'open', 0, 100), null, 'a file others can write is not trusted');
  } finally {
    closeSync(fd);
  }
  chmodSync(cache, 0o775);
  assert.equal(openCacheDir(cache, false), null, 'a group-writable directory is refused');
  mkdirSync(join(dir, 'real'), { mode: 0o700 });
  symlinkSync(join(dir, 'real'), join(dir, 'linked'));
  assert.equal(openCacheDir(join(dir, 'linked'), true), null, 'a symlinked directory is refused');
});

test('pruneCacheFiles keeps a family within its budget of files and bytes, oldest out first, the new file kept', (t) => {
  const { dir, cache, fd } = tempCacheDir(t, 'ebpf-otel-prune-');
  try {
    const now = Date.now() / 1000;
    // f0 oldest ... f4 newest, 100 bytes each; f0 is the one just written (kept whatever its age).
    for (let i = 0; i < 5; i++) {
      writeFileSync(join(cache, `fam-${i}`), Buffer.alloc(100), { mode: 0o600 });
      utimesSync(join(cache, `fam-${i}`), now - 100 + i, now - 100 + i);
    }
    writeFileSync(join(cache, 'other'), Buffer.alloc(5000), { mode: 0o600 });
    writeFileSync(join(dir, 'outside'), Buffer.alloc(5000));
    symlinkSync(join(dir, 'outside'), join(cache, 'fam-link'));
    assert.equal(pruneCacheFiles(fd, 'fam-', { files: 5, bytes: 500 }, 'fam-0'), 0, 'within budget: nothing removed');
    assert.equal(pruneCacheFiles(fd, 'fam-', { files: 3, bytes: 10000 }, 'fam-0'), 2);
    assert.deepEqual(readdirSync(cache).sort(), ['fam-0', 'fam-3', 'fam-4', 'fam-link', 'other']);
    assert.equal(pruneCacheFiles(fd, 'fam-', { files: 10, bytes: 150 }, 'fam-0'), 2, 'bytes count too');
    assert.deepEqual(readdirSync(cache).sort(), ['fam-0', 'fam-link', 'other'], 'other families and symlinks untouched');
  } finally {
    closeSync(fd);
  }
});

test('output files and files set aside get fresh names, never reuse one, and leave no temporary behind', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-otel-names-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const a = saveAside('one', 'ebpf-otel-test', '.txt', dir);
  const b = saveAside('two', 'ebpf-otel-test', '.txt', dir);
  assert.notEqual(a, b);
  assert.match(a, /\/ebpf-otel-test-\d{8}T\d{6}Z-\d+-[0-9a-f]{8}\.txt$/);
  assert.equal(readFileSync(a, 'utf8'), 'one');
  assert.equal(statSync(a).mode & 0o777, 0o600);
  assert.throws(() => createExclusiveFile(dir, a.slice(dir.length + 1), 'again'), /EEXIST/, 'an existing name is an error, never overwritten');
  const out = join(dir, 'out.txt');
  writeOutputFile(out, 'first', 'the output');
  writeOutputFile(out, 'second', 'the output');
  assert.equal(readFileSync(out, 'utf8'), 'second');
  assert.deepEqual(readdirSync(dir).filter((n) => n.endsWith('.tmp')), [], 'no temporary file left');
});
