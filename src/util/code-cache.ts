// A V8 code cache for the CLI bundle. Node 20 compiles the 540 KB bundle at every start (~15 ms),
// and then every function the run calls on its first call; Node 22's module.enableCompileCache
// is not there. So bin/ebpf-otel.cjs loads the bundle through here: compiled as CommonJS would
// compile it (the same wrapper, the bundle's own file name, so stack traces still name the
// bundle and its lines) with vm.Script and the cached data from the last run, and at exit the
// cache is written again with what this run compiled (functions compiled lazily included) when
// it was missing, stale or rejected, or when it was written by a run of its command that failed.
//
// The cache lives in the root-only cache directory (util/cache-dir.ts: /run/ebpf-otel, tmpfs, so
// boot-scoped), one file per Node version, architecture and command, keyed by the bundle file's
// identity (device, inode, size, mtime, ctime: any rewrite or replacement of the bundle changes
// one) and checked with a checksum before V8 sees it (V8 release builds do not checksum code
// caches). Every failure is silent and ends in a plain require of the bundle.
//
// This module is bundled on its own (scripts/build.mjs: dist/bundle/code-cache.cjs) and runs
// before the CLI bundle: node:fs and node:vm only. Not node:zlib (CRC-32): loading it brings
// node:stream, ~8 ms of CPU at every start (util/word-checksum.ts); not node:module, ~1.4 ms
// (util/lazy-builtins.ts): the caller hands over CommonJS's Module class (`module.constructor`).
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { Module } from 'node:module';
import { dirname } from 'node:path';
import * as vm from 'node:vm';
import { cacheDirFromEnv, checkedHeader, fileIdentity, identityText, openCacheDir, readCacheFile, writeCacheFile } from './cache-dir.js';
import { nodeModule } from './lazy-builtins.js';
import { wordChecksum } from './word-checksum.js';

/** Bump when the layout below changes: an old file then reads as a miss. */
export const CODE_CACHE_FORMAT_VERSION = 2;

// Layout (little-endian): 0 magic "EOV8CODE", 8 u32 format version, 12 u32 key bytes,
// 16 u32 labels bytes, 20 u32 V8 data bytes, 24 u32 wordChecksum of everything from 32 on, 28 u32
// flags (AFTER_REJECT); then the key (UTF-8), the labels ('\n'-separated) and V8's cached data.
const MAGIC = Buffer.from('EOV8CODE', 'latin1');
const HEADER_SIZE = 32;
const MAX_FILE_SIZE = 64 << 20;
/**
 * Flag: this file was written because V8 rejected the one before. If V8 rejects it too, it would
 * reject every rewrite as well (something of this process's V8 set-up differs from the writer's
 * in a way the file name does not capture), so the file is left alone rather than rewritten, at
 * ~10 ms, at every run.
 */
const AFTER_REJECT = 1;

/**
 * The cache file of this Node, these Node options and this command (`label`): V8 rejects data
 * made by another version or under other V8 flags (measured: with and without
 * --max-semi-space-size=1, which the shebang passes and `node bin/ebpf-otel.cjs` does not), so
 * runs started both ways would otherwise reject and rewrite each other's file at every run. The
 * options go into the name as a checksum. One file per command: V8 deserializes every function of
 * a cache at load, and a file shared by every command had grown to ~460 KB, ~10-15 ms of CPU at
 * each start (biolatency: median 86 -> 72 ms of task-clock with its own ~200 KB file).
 */
export function codeCacheFileName(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? '', label = ''): string {
  const flags = [...execArgv, nodeOptions].join('\0');
  const tag = flags === '' ? '' : `-${wordChecksum(Buffer.from(flags, 'utf8')).toString(16).padStart(8, '0')}`;
  return `code-cache-${process.version}-${process.arch}${tag}${label === '' ? '' : `-${label}`}.bin`;
}

/** What happened to the cache on load. */
export type CodeCacheState =
  | 'miss' // no usable file: absent, another bundle, damaged
  | 'rejected' // a well-formed file V8 would not use (other flags, say)
  | 'hit';

export interface CachedModule {
  /** The bundle's module.exports. */
  exports: unknown;
  state: CodeCacheState;
  /**
   * Writes the cache if this run has something to add: the file was not a hit, or `label` (the
   * command) never contributed to it and the run succeeded (`exitCode` 0). Labels are recorded
   * only for successful runs: a run that failed on its options compiled little of its command.
   * A file V8 rejected although it was itself written after a rejection is left alone.
   * Returns whether a file was written; never throws.
   */
  save(exitCode: number): boolean;
}

export interface CodeCacheOptions {
  /** The cache directory; default from EBPF_OTEL_CACHE_DIR (cacheDirFromEnv). null: no cache. */
  cacheDir?: string | null;
  /** Which part of the program this run exercises (the subcommand); '' for none. */
  label?: string;
  /**
   * CommonJS's Module class, from a CommonJS caller (`module.constructor`); default: node:module's,
   * loaded for the purpose.
   */
  moduleClass?: typeof Module;
}

interface Source {
  text: string;
  key: string;
}

/** The bundle's text and identity, read through one fd so both describe the same file. */
function readSource(file: string): Source {
  const fd = openSync(file, 'r');
  try {
    const st = fstatSync(fd, { bigint: true });
    const bytes = Buffer.allocUnsafe(Number(st.size));
    let total = 0;
    while (total < bytes.length) {
      const got = readSync(fd, bytes, total, bytes.length - total, total);
      if (got <= 0) throw new Error(`${file}: short read`);
      total += got;
    }
    const key = [file, process.version, process.arch, identityText(fileIdentity(st))].join(' ');
    return { text: bytes.toString('utf8'), key };
  } finally {
    closeSync(fd);
  }
}

interface Parsed {
  labels: string[];
  data: Buffer;
  /** Written after V8 rejected the previous file (AFTER_REJECT). */
  afterReject: boolean;
}

/** The labels and V8 data of cache file `file` for `key`, or null if anything about it is off. */
export function parseCodeCache(file: Uint8Array, key: string): Parsed | null {
  const buf = checkedHeader(file, MAGIC, CODE_CACHE_FORMAT_VERSION, HEADER_SIZE);
  if (buf === null) return null;
  const keyBytes = buf.readUInt32LE(12);
  const labelBytes = buf.readUInt32LE(16);
  const dataBytes = buf.readUInt32LE(20);
  if (HEADER_SIZE + keyBytes + labelBytes + dataBytes !== file.length || dataBytes === 0) return null;
  if (buf.toString('utf8', HEADER_SIZE, HEADER_SIZE + keyBytes) !== key) return null;
  if (wordChecksum(buf.subarray(HEADER_SIZE)) !== buf.readUInt32LE(24)) return null;
  const labelsAt = HEADER_SIZE + keyBytes;
  const labels = buf.toString('utf8', labelsAt, labelsAt + labelBytes).split('\n').filter((l) => l !== '');
  return { labels, data: buf.subarray(labelsAt + labelBytes), afterReject: (buf.readUInt32LE(28) & AFTER_REJECT) !== 0 };
}

/** The file parseCodeCache reads back. */
export function encodeCodeCache(key: string, labels: readonly string[], data: Uint8Array, afterReject = false): Uint8Array[] {
  const keyBuf = Buffer.from(key, 'utf8');
  const labelBuf = Buffer.from(labels.join('\n'), 'utf8');
  const header = Buffer.alloc(HEADER_SIZE);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(CODE_CACHE_FORMAT_VERSION, 8);
  header.writeUInt32LE(keyBuf.length, 12);
  header.writeUInt32LE(labelBuf.length, 16);
  header.writeUInt32LE(data.length, 20);
  const body = Buffer.concat([keyBuf, labelBuf, data]);
  header.writeUInt32LE(wordChecksum(body), 24);
  header.writeUInt32LE(afterReject ? AFTER_REJECT : 0, 28);
  return [header, body];
}

/**
 * The cache file's content for `key` (null: none usable), or undefined when the directory is not
 * one we can use (cannot be created, or not safe): then there is nothing to gain from this loader.
 */
function readCodeCache(dir: string, name: string, key: string): Parsed | null | undefined {
  const dirFd = openCacheDir(dir, true);
  if (dirFd === null) return undefined;
  try {
    const file = readCacheFile(dirFd, name, HEADER_SIZE, MAX_FILE_SIZE);
    return file === null ? null : parseCodeCache(file, key);
  } finally {
    closeSync(dirFd);
  }
}

function writeCodeCache(dir: string, name: string, key: string, labels: readonly string[], data: Uint8Array, afterReject: boolean): boolean {
  if (data.length === 0 || HEADER_SIZE + data.length > MAX_FILE_SIZE) return false;
  const dirFd = openCacheDir(dir, true);
  if (dirFd === null) return false;
  try {
    return writeCacheFile(dirFd, name, encodeCodeCache(key, labels, data, afterReject));
  } finally {
    closeSync(dirFd);
  }
}

/**
 * Loads CommonJS file `file` (absolute path) with the code cache, runs it, and returns its exports
 * and what to call at exit. Null, before the file ran, when there is no cache directory to use
 * (EBPF_OTEL_CACHE_DIR empty; a directory that cannot be created, as for a user who is not root,
 * or that is not safe) or the cache machinery failed: the caller then requires the file as usual,
 * which costs less than compiling it here without cached data (measured: ~5-10 ms). An exception
 * thrown by the file's own top level propagates, as it would from require.
 */
export function loadWithCodeCache(file: string, options: CodeCacheOptions = {}): CachedModule | null {
  let run: () => unknown;
  let state: CodeCacheState;
  let save: (exitCode: number) => boolean;
  try {
    const dir = options.cacheDir === undefined ? cacheDirFromEnv() : options.cacheDir;
    if (dir === null) return null;
    const label = options.label ?? '';
    const source = readSource(file);
    const name = codeCacheFileName(process.execArgv, process.env.NODE_OPTIONS ?? '', label);
    const cached = readCodeCache(dir, name, source.key);
    if (cached === undefined) return null;
    const ModuleClass = options.moduleClass ?? nodeModule().Module;
    const script = new vm.Script(ModuleClass.wrap(source.text), {
      filename: file,
      ...(cached ? { cachedData: cached.data } : {}),
      // No importModuleDynamically: an import() in a vm.Script without it throws, so
      // scripts/build.mjs refuses a bundle that contains one (esbuild turns ours into require).
      // Passing vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER costs ~2 ms of every start.
    });
    state = cached === null ? 'miss' : script.cachedDataRejected ? 'rejected' : 'hit';
    const mod = new ModuleClass(file);
    mod.filename = file;
    const require = ModuleClass.createRequire(file);
    run = () => {
      const fn = script.runInThisContext({ displayErrors: true }) as (...args: unknown[]) => void;
      fn.call(mod.exports, mod.exports, require, mod, file, dirname(file));
      mod.loaded = true;
      return mod.exports;
    };
    save = (exitCode: number): boolean => {
      if (state === 'rejected' && cached?.afterReject) return false;
      const known = state === 'hit' && cached !== null ? cached.labels : [];
      const succeeded = exitCode === 0 && label !== '';
      if (state === 'hit' && (!succeeded || known.includes(label))) return false;
      try {
        const labels = succeeded && !known.includes(label) ? [...known, label] : known;
        return writeCodeCache(dir, name, source.key, labels, script.createCachedData(), state === 'rejected');
      } catch {
        return false;
      }
    };
  } catch {
    return null;
  }
  return { exports: run(), state, save };
}
