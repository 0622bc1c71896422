// Boot-scoped cache of the kernel symbol table, so that only the first profile after a boot (or
// after a module load/unload) pays for reading /proc/kallsyms: the kernel formats 120k-200k lines
// for that read (70-125 ms of system time) and parsing them costs half as much again; reading
// this table back costs ~15 ms. This module owns
// the cache's key, its file format and its safe storage; what goes into it (and what must not)
// is decided by KernelSymbols in kallsyms.ts.
//
// The file lives in the root-only cache directory of util/cache-dir.ts (tmpfs under /run: gone at
// reboot, which is when the key changes anyway), read and written only through its safe helpers.
import { closeSync } from 'node:fs';
import { cacheDirFromEnv, DEFAULT_CACHE_DIR, openCacheDir, readCacheFile, writeCacheFile } from '../util/cache-dir.js';
import { crc32, crc32Js } from '../util/crc32.js';

export { cacheDirFromEnv, crc32Js, DEFAULT_CACHE_DIR };
export const CACHE_FILE = 'kallsyms.bin';

/**
 * Bump whenever the layout below or the meaning of what is stored changes (how ends are computed,
 * LAST_SYMBOL_SPAN, alias rules, what is covered): an old file then reads as a miss, never as
 * a table built by other rules.
 */
export const CACHE_FORMAT_VERSION = 2;

/** The symbol table exactly as KernelSymbols keeps it in memory. */
export interface SymbolTable {
  startHi: Uint32Array;
  startLo: Uint32Array;
  /** Exclusive end of each symbol, as computed by the full parse. */
  endHi: Uint32Array;
  endLo: Uint32Array;
  nameAt: Uint32Array;
  nameLength: Uint16Array;
  /** Index into `modules`, -1 for the core kernel. */
  moduleOf: Int32Array;
  /** Latin-1 name bytes, addressed by nameAt/nameLength. */
  names: Buffer;
  modules: string[];
}

/**
 * What a cache file holds: the table, and the address ranges it answers for. Ranges are
 * [startHi, startLo, endHi, endLo] quadruples (end exclusive), ascending and disjoint.
 */
export interface CachedTable {
  table: SymbolTable;
  covered: Uint32Array;
}

/** The facts that make a cached table valid: same boot, same modules, same visibility. */
export interface CacheKey {
  /** /proc/sys/kernel/random/boot_id: changes at every boot, and with it KASLR's offsets. */
  bootId: string;
  /**
   * The name, size and address columns of /proc/modules (modulesIdentity), compared byte for
   * byte: exact, and no node:crypto to load (~10 ms of start-up) for a digest.
   */
  modulesHash: Buffer;
  /** kernel.kptr_restrict: raising it to 2 hides addresses from root too; the cache must not. */
  kptrRestrict: number;
}

export interface ModulesIdentity {
  /** `name size address\n` of each line, in file order (kept whole: a few KB, compared exactly). */
  hash: Buffer;
  /** Every listed module is `Live` (none is loading or unloading, when its symbols are in flux). */
  allLive: boolean;
}

/**
 * Identity of the loaded modules. Only name, size and address: the refcount and dependency
 * columns change whenever a module is used, and would invalidate the cache for nothing.
 * Known limit: a module rebuilt and reloaded within one boot at the same address with the same
 * size (often page-rounded) keeps the key, and its old symbols, until the next change.
 * `null` (no /proc/modules: no loadable module support) is an identity of its own.
 */
export function modulesIdentity(text: string | null): ModulesIdentity {
  let identity = '';
  let allLive = true;
  if (text === null) identity = 'no-modules\n';
  else {
    for (const line of text.split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f.length < 6) continue;
      identity += `${f[0]} ${f[1]} ${f[5]}\n`;
      if (f[4] !== 'Live') allLive = false;
    }
  }
  return { hash: Buffer.from(identity, 'latin1'), allLive };
}

/**
 * The key from the boot id and kptr_restrict files' texts and the modules' identity hash; null
 * when a part is missing or malformed (no boot id: nothing to scope the cache to).
 */
export function cacheKey(bootIdText: string | null, modulesHash: Buffer, kptrRestrictText: string | null): CacheKey | null {
  if (bootIdText === null || kptrRestrictText === null) return null;
  const bootId = bootIdText.trim();
  const kptr = kptrRestrictText.trim();
  if (!/^[0-9a-f-]{8,48}$/i.test(bootId) || !/^\d{1,9}$/.test(kptr)) return null;
  return { bootId, modulesHash, kptrRestrict: Number(kptr) };
}

export function sameKey(a: CacheKey, b: CacheKey): boolean {
  return a.bootId === b.bootId && a.kptrRestrict === b.kptrRestrict && a.modulesHash.equals(b.modulesHash);
}

// ---- file format ----
//
// Header (128 bytes, little-endian):
//   0  magic "EOKALSYM"         8  u32 version            12 u32 kptr_restrict
//   16 boot id, ASCII, 0-padded to 48 bytes                64 u32 modules identity bytes, 68..95 zero
//   96 u32 symbol count         100 u32 covered range count
//   104 u32 module-names bytes  108 u32 name bytes
//   112 u32 CRC-32 of the rest of the file   116 u32 total file size   120..127 zero
// Body, every part starting 4-byte aligned, typed arrays in the machine's byte order (the file
// never leaves the machine and boot that wrote it): startHi, startLo, endHi, endLo, nameAt,
// moduleOf (count u32 each), covered (4 u32 per range), nameLength (count u16), module names
// ('\n'-separated), modules identity (the key's modulesHash, Latin-1), names.
// Version 1 held a SHA-256 of the modules identity at 64; version 2 the identity itself.

const MAGIC = Buffer.from('EOKALSYM', 'latin1');
const HEADER_SIZE = 128;
const CHECKSUM_AT = 112;
const BOOT_ID_BYTES = 48;
/** Far beyond any kernel (~200k text symbols); a count above it is corruption, not a table. */
const MAX_SYMBOLS = 1 << 24;
const MAX_FILE_SIZE = 1 << 30;

interface Layout {
  u32Arrays: number;
  covered: number;
  nameLength: number;
  moduleNames: number;
  identity: number;
  names: number;
  total: number;
}

const align4 = (n: number): number => (n + 3) & ~3;

function layout(count: number, ranges: number, moduleNamesBytes: number, identityBytes: number, namesBytes: number): Layout {
  const u32Arrays = HEADER_SIZE;
  const covered = u32Arrays + 6 * 4 * count;
  const nameLength = covered + 16 * ranges;
  const moduleNames = align4(nameLength + 2 * count);
  const identity = align4(moduleNames + moduleNamesBytes);
  const names = align4(identity + identityBytes);
  return { u32Arrays, covered, nameLength, moduleNames, identity, names, total: align4(names + namesBytes) };
}

/**
 * The file's checksum: CRC-32 of everything but the checksum field. Catches truncation that kept
 * the size field consistent, bit rot and stray writes, so that reading trusts the layout the
 * writer verified (wellFormed) without walking every symbol again. Not a defence against an
 * attacker, who would need to own the root-only directory first.
 */
function checksum(file: Uint8Array): number {
  return crc32(file.subarray(CHECKSUM_AT + 4), crc32(file.subarray(0, CHECKSUM_AT)));
}

function encode(key: CacheKey, cached: CachedTable): Uint8Array {
  const { table, covered } = cached;
  const n = table.startHi.length;
  const ranges = covered.length / 4;
  const moduleNames = Buffer.from(table.modules.join('\n'), 'latin1');
  const at = layout(n, ranges, moduleNames.length, key.modulesHash.length, table.names.length);
  // A fresh ArrayBuffer: offset 0, so every typed view below is aligned.
  const file = new Uint8Array(at.total);
  const buf = Buffer.from(file.buffer, 0, at.total);
  MAGIC.copy(buf, 0);
  buf.writeUInt32LE(CACHE_FORMAT_VERSION, 8);
  buf.writeUInt32LE(key.kptrRestrict, 12);
  buf.write(key.bootId, 16, BOOT_ID_BYTES, 'latin1');
  buf.writeUInt32LE(key.modulesHash.length, 64);
  buf.writeUInt32LE(n, 96);
  buf.writeUInt32LE(ranges, 100);
  buf.writeUInt32LE(moduleNames.length, 104);
  buf.writeUInt32LE(table.names.length, 108);
  buf.writeUInt32LE(at.total, 116);
  const u32 = new Uint32Array(file.buffer, at.u32Arrays, 6 * n);
  u32.set(table.startHi, 0);
  u32.set(table.startLo, n);
  u32.set(table.endHi, 2 * n);
  u32.set(table.endLo, 3 * n);
  u32.set(table.nameAt, 4 * n);
  new Int32Array(file.buffer, at.u32Arrays + 20 * n, n).set(table.moduleOf);
  new Uint32Array(file.buffer, at.covered, 4 * ranges).set(covered);
  new Uint16Array(file.buffer, at.nameLength, n).set(table.nameLength);
  moduleNames.copy(buf, at.moduleNames);
  key.modulesHash.copy(buf, at.identity);
  table.names.copy(buf, at.names);
  buf.writeUInt32LE(checksum(file), CHECKSUM_AT);
  return file;
}

/** The table in `file`, or null if anything about it is off. Views share `file`'s memory. */
function decode(file: Uint8Array, key: CacheKey): CachedTable | null {
  if (file.byteOffset % 4 !== 0 || file.length < HEADER_SIZE) return null;
  const buf = Buffer.from(file.buffer, file.byteOffset, file.length);
  if (!buf.subarray(0, 8).equals(MAGIC)) return null;
  if (buf.readUInt32LE(8) !== CACHE_FORMAT_VERSION) return null;
  if (buf.readUInt32LE(12) !== key.kptrRestrict) return null;
  const bootId = buf.toString('latin1', 16, 16 + BOOT_ID_BYTES).replace(/\0+$/, '');
  if (bootId !== key.bootId) return null;
  if (buf.readUInt32LE(64) !== key.modulesHash.length) return null;
  const n = buf.readUInt32LE(96);
  const ranges = buf.readUInt32LE(100);
  const moduleNamesBytes = buf.readUInt32LE(104);
  const namesBytes = buf.readUInt32LE(108);
  if (n === 0 || n > MAX_SYMBOLS || ranges === 0 || ranges > MAX_SYMBOLS) return null;
  const at = layout(n, ranges, moduleNamesBytes, key.modulesHash.length, namesBytes);
  if (at.total !== file.length || buf.readUInt32LE(116) !== at.total) return null;
  if (!buf.subarray(at.identity, at.identity + key.modulesHash.length).equals(key.modulesHash)) return null;
  if (checksum(file) !== buf.readUInt32LE(CHECKSUM_AT)) return null;
  const base = file.byteOffset;

  const modules = moduleNamesBytes === 0 ? [] : buf.toString('latin1', at.moduleNames, at.moduleNames + moduleNamesBytes).split('\n');
  const table: SymbolTable = {
    startHi: new Uint32Array(file.buffer, base + at.u32Arrays, n),
    startLo: new Uint32Array(file.buffer, base + at.u32Arrays + 4 * n, n),
    endHi: new Uint32Array(file.buffer, base + at.u32Arrays + 8 * n, n),
    endLo: new Uint32Array(file.buffer, base + at.u32Arrays + 12 * n, n),
    nameAt: new Uint32Array(file.buffer, base + at.u32Arrays + 16 * n, n),
    moduleOf: new Int32Array(file.buffer, base + at.u32Arrays + 20 * n, n),
    nameLength: new Uint16Array(file.buffer, base + at.nameLength, n),
    names: buf.subarray(at.names, at.names + namesBytes),
    modules,
  };
  return { table, covered: new Uint32Array(file.buffer, base + at.covered, 4 * ranges) };
}

/**
 * The invariants lookup relies on: ascending starts, non-empty symbols, names and modules in
 * bounds, ascending disjoint non-empty ranges. Checked before writing (once per boot) rather than
 * at every read: the checksum then vouches for them.
 */
function wellFormed(t: SymbolTable, covered: Uint32Array): boolean {
  const n = t.startHi.length;
  const namesLength = t.names.length;
  const moduleCount = t.modules.length;
  let ph = -1;
  let pl = 0;
  for (let j = 0; j < n; j++) {
    const sh = t.startHi[j]!;
    const sl = t.startLo[j]!;
    const eh = t.endHi[j]!;
    if (sh < ph || (sh === ph && sl <= pl)) return false;
    if (eh < sh || (eh === sh && t.endLo[j]! <= sl)) return false;
    if (t.nameAt[j]! + t.nameLength[j]! > namesLength || t.nameLength[j] === 0) return false;
    const m = t.moduleOf[j]!;
    if (m < -1 || m >= moduleCount) return false;
    ph = sh;
    pl = sl;
  }
  let eh = -1;
  let el = 0;
  for (let r = 0; r < covered.length; r += 4) {
    const sh = covered[r]!;
    const sl = covered[r + 1]!;
    if (sh < eh || (sh === eh && sl < el)) return false;
    eh = covered[r + 2]!;
    el = covered[r + 3]!;
    if (eh < sh || (eh === sh && el <= sl)) return false;
  }
  return true;
}

/**
 * Reads the cache in `dir` for `key`. Any problem (no file, a symlink, someone else's file, a
 * different key, truncation, corruption) is a miss: null, never an exception.
 */
export function readCache(dir: string, key: CacheKey): CachedTable | null {
  const dirFd = openCacheDir(dir, false);
  if (dirFd === null) return null;
  try {
    // A fresh ArrayBuffer (not Node's pooled slab) so the typed views are 4-byte aligned.
    const file = readCacheFile(dirFd, CACHE_FILE, HEADER_SIZE, MAX_FILE_SIZE);
    return file === null ? null : decode(file, key);
  } catch {
    return null;
  } finally {
    closeSync(dirFd);
  }
}

/**
 * Writes the cache atomically (writeCacheFile: a new 0600 file renamed over the old one).
 * Returns false on any failure, which is silent: the tool works without.
 */
export function writeCache(dir: string, key: CacheKey, cached: CachedTable): boolean {
  if (cached.covered.length === 0 || !wellFormed(cached.table, cached.covered)) return false;
  const dirFd = openCacheDir(dir, true);
  if (dirFd === null) return false;
  try {
    return writeCacheFile(dirFd, CACHE_FILE, [encode(key, cached)]);
  } catch {
    return false;
  } finally {
    closeSync(dirFd);
  }
}
