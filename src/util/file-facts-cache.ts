// Boot-scoped cache of facts derived from a binary's bytes alone, so that a binary seen by an
// earlier run is not analysed again: the symbol index of an ELF file (symbolize/elf.ts: ~13 ms of
// CPU for libc, far more for a large C++ binary) and the frame-pointer census of --unwind auto
// (unwind/census.ts: 4-10 ms per binary); and one fact of the running kernel, offcpu's scheduler
// text (commands/offcpu.ts), kept as a fact of /proc/kallsyms under the boot id, which reading
// /proc/kallsyms whole would cost ~50-100 ms of system time at every start. This module owns the key, the container format and
// the storage; what a fact's bytes mean is up to its owner, which names the kind and versions it.
//
// An entry is keyed by the file's identity (util/cache-dir.ts FileIdentity: a rebuilt, rewritten
// or replaced binary misses) plus whatever else the fact depends on (`detail`: say, the identity
// of a separate debug file). One file per fact and binary, `elf-KIND-HASH.bin`, in the root-only
// cache directory (tmpfs under /run: gone at reboot), read and written only through its safe
// helpers, and their number and total size bounded (pruneCacheFiles). Every failure is a miss.
import { closeSync } from 'node:fs';
import {
  checkedHeader,
  identityText,
  openCacheDir,
  pruneCacheFiles,
  readCacheFile,
  writeCacheFile,
  type CacheBudget,
  type FileIdentity,
} from './cache-dir.js';
import { crc32 } from './crc32.js';

/**
 * Bump when the container layout below changes. A change in what a kind's payload means is
 * versioned by its owner (FactKind.version), so that only that kind's entries miss.
 */
export const FILE_FACTS_FORMAT_VERSION = 1;

/** Every file of this cache starts with it (pruning counts them as one family). */
export const FILE_FACTS_PREFIX = 'elf-';

/**
 * Sized for a system-wide profile's binaries and then some: libc's symbol index is ~110 KB,
 * /usr/bin/node's ~3.5 MB. A fact above MAX_ENTRY_BYTES (a symbol index of ~500k functions) is
 * not stored: it alone would crowd out everything else.
 */
export const FILE_FACTS_BUDGET: CacheBudget = { files: 512, bytes: 96 << 20 };
const MAX_ENTRY_BYTES = 24 << 20;

/** Which fact, and the version of its payload's meaning. */
export interface FactKind {
  /** Lowercase letters and '-': part of the file name. */
  name: string;
  version: number;
}

// Layout (little-endian): 0 magic "EOFILFCT", 8 u32 container version, 12 u32 key bytes,
// 16 u32 payload bytes, 20 u32 CRC-32 of everything from 32 on, 24..31 zero; then the key
// (UTF-8) zero-padded to a multiple of 8, then the payload. The payload thus starts 8-byte
// aligned in the file, and readCacheFile returns a fresh buffer, so a kind may lay typed arrays
// (Float64Array included) over it in place.
const MAGIC = Buffer.from('EOFILFCT', 'latin1');
const HEADER_SIZE = 32;

const align8 = (n: number): number => (n + 7) & ~7;

/** Everything an entry must match, as text: kind and version, the file's identity, `detail`. */
function factKey(kind: FactKind, identity: FileIdentity, detail: string): string {
  return `${kind.name} v${kind.version} ${identityText(identity)} ${detail}`;
}

/**
 * The entry's file name. The hash only spreads entries over names: the full key inside the file
 * decides, so two keys with one hash evict each other's entry but never read it.
 */
export function factFileName(kind: FactKind, identity: FileIdentity, detail = ''): string {
  const hash = crc32(Buffer.from(`${identityText(identity)} ${detail}`, 'utf8')).toString(16).padStart(8, '0');
  return `${FILE_FACTS_PREFIX}${kind.name}-${hash}.bin`;
}

/** The file holding `payload` under `key`, as parts for writeCacheFile. */
export function encodeFact(key: string, payload: Uint8Array): Uint8Array[] {
  const keyBytes = Buffer.from(key, 'utf8');
  const paddedKey = new Uint8Array(align8(keyBytes.length));
  paddedKey.set(keyBytes);
  const header = Buffer.alloc(HEADER_SIZE);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(FILE_FACTS_FORMAT_VERSION, 8);
  header.writeUInt32LE(keyBytes.length, 12);
  header.writeUInt32LE(payload.length, 16);
  header.writeUInt32LE(crc32(payload, crc32(paddedKey)), 20);
  return [header, paddedKey, payload];
}

/** The payload of `file` if it is an intact entry for `key` (a view on `file`), else null. */
export function decodeFact(file: Uint8Array, key: string): Uint8Array | null {
  const buf = checkedHeader(file, MAGIC, FILE_FACTS_FORMAT_VERSION, HEADER_SIZE);
  if (buf === null) return null;
  const keyBytes = buf.readUInt32LE(12);
  const payloadBytes = buf.readUInt32LE(16);
  const payloadAt = HEADER_SIZE + align8(keyBytes);
  if (payloadAt + payloadBytes !== file.length) return null;
  if (buf.toString('utf8', HEADER_SIZE, HEADER_SIZE + keyBytes) !== key) return null;
  if (crc32(buf.subarray(HEADER_SIZE)) !== buf.readUInt32LE(20)) return null;
  return file.subarray(payloadAt);
}

/**
 * The payload stored for `kind` of the file with `identity` (and `detail`), or null: no cache
 * directory (`dir` null), none usable, no entry, another file's or version's entry, damage.
 */
export function readFact(dir: string | null, kind: FactKind, identity: FileIdentity, detail = ''): Uint8Array | null {
  if (dir === null) return null;
  const dirFd = openCacheDir(dir, false);
  if (dirFd === null) return null;
  try {
    const file = readCacheFile(dirFd, factFileName(kind, identity, detail), HEADER_SIZE, MAX_ENTRY_BYTES);
    return file === null ? null : decodeFact(file, factKey(kind, identity, detail));
  } catch {
    return null;
  } finally {
    closeSync(dirFd);
  }
}

/**
 * Stores `payload` (the fact's bytes, as a kind lays them out) for `kind` of the file with
 * `identity`, replacing any earlier entry atomically, then trims the family to its budget.
 * Returns false on any failure, silent: the facts are computed again next time.
 */
export function writeFact(dir: string | null, kind: FactKind, identity: FileIdentity, payload: Uint8Array, detail = ''): boolean {
  if (dir === null) return false;
  const parts = encodeFact(factKey(kind, identity, detail), payload);
  if (parts.reduce((n, p) => n + p.length, 0) > MAX_ENTRY_BYTES) return false;
  const dirFd = openCacheDir(dir, true);
  if (dirFd === null) return false;
  try {
    const name = factFileName(kind, identity, detail);
    if (!writeCacheFile(dirFd, name, parts)) return false;
    pruneCacheFiles(dirFd, FILE_FACTS_PREFIX, FILE_FACTS_BUDGET, name);
    return true;
  } catch {
    return false;
  } finally {
    closeSync(dirFd);
  }
}
