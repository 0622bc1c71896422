// /proc/PID/maps: which file (and which offset of it) backs each address of a process, and how an
// absolute address becomes a virtual address of the ELF file (PIE and shared-library bias).
import { readFileSync } from 'node:fs';

export type MapKind = 'file' | 'anon' | 'heap' | 'stack' | 'vdso' | 'vvar' | 'vsyscall' | 'memfd' | 'special';

export interface MapEntry {
  start: bigint;
  /** Exclusive. */
  end: bigint;
  /** As printed, e.g. `r-xp`. */
  perms: string;
  readable: boolean;
  writable: boolean;
  executable: boolean;
  shared: boolean;
  /** File offset of `start`. */
  offset: bigint;
  /** `major:minor` as printed (hex). */
  dev: string;
  inode: bigint;
  /** Path without the ` (deleted)` suffix; '' for anonymous mappings; `[vdso]` etc. as printed. */
  path: string;
  deleted: boolean;
  kind: MapKind;
}

const LINE = /^([0-9a-fA-F]+)-([0-9a-fA-F]+)\s+(\S{4})\s+([0-9a-fA-F]+)\s+([0-9a-fA-F]+:[0-9a-fA-F]+)\s+(\d+)(?:\s(.*))?$/;
const DELETED = ' (deleted)';

function classify(path: string, inode: bigint): MapKind {
  if (path === '') return 'anon';
  if (path === '[heap]') return 'heap';
  if (path === '[stack]' || path.startsWith('[stack:')) return 'stack';
  if (path === '[vdso]') return 'vdso';
  if (path === '[vvar]' || path === '[vvar_vclock]') return 'vvar';
  if (path === '[vsyscall]') return 'vsyscall';
  if (path.startsWith('/memfd:')) return 'memfd';
  if (path.startsWith('[anon') || path === '/dev/zero' || path.startsWith('/SYSV')) return 'anon';
  if (path.startsWith('[')) return 'special';
  return inode === 0n && !path.startsWith('/') ? 'special' : 'file';
}

/** Parses one maps line; null when it is not one. Paths may contain spaces. */
export function parseMapsLine(line: string): MapEntry | null {
  const m = LINE.exec(line.replace(/\r$/, ''));
  if (!m) return null;
  let path = (m[7] ?? '').replace(/^\s+/, '');
  let deleted = false;
  if (path.endsWith(DELETED)) {
    deleted = true;
    path = path.slice(0, -DELETED.length);
  }
  const perms = m[3]!;
  const start = BigInt('0x' + m[1]!);
  const end = BigInt('0x' + m[2]!);
  if (end <= start) return null;
  const inode = BigInt(m[6]!);
  return {
    start,
    end,
    perms,
    readable: perms[0] === 'r',
    writable: perms[1] === 'w',
    executable: perms[2] === 'x',
    shared: perms[3] === 's',
    offset: BigInt('0x' + m[4]!),
    dev: m[5]!,
    inode,
    path,
    deleted,
    kind: classify(path, inode),
  };
}

/** Parses a whole maps file, sorted by start address (the kernel already prints them sorted). */
export function parseMaps(text: string): MapEntry[] {
  const out: MapEntry[] = [];
  for (const line of text.split('\n')) {
    const e = parseMapsLine(line);
    if (e) out.push(e);
  }
  out.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  return out;
}

/** Reads /proc/PID/maps; null when the process is gone or unreadable. */
export function readProcMaps(pid: number, procRoot = '/proc'): MapEntry[] | null {
  try {
    return parseMaps(readFileSync(`${procRoot}/${pid}/maps`, 'utf8'));
  } catch {
    return null;
  }
}

/** The mapping containing `addr` in `maps` (sorted, non-overlapping), by binary search. */
export function findMapping(maps: readonly MapEntry[], addr: bigint): MapEntry | undefined {
  let lo = 0;
  let hi = maps.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const m = maps[mid]!;
    if (addr < m.start) hi = mid - 1;
    else if (addr >= m.end) lo = mid + 1;
    else return m;
  }
  return undefined;
}

/** Offset in the backing file of an address inside mapping `map`. */
export function fileOffsetOf(map: MapEntry, addr: bigint): bigint {
  return addr - map.start + map.offset;
}

/** The fields of an ELF PT_LOAD program header the address translation needs. */
export interface LoadSegment {
  offset: bigint;
  vaddr: bigint;
  filesz: bigint;
}

/**
 * The ELF virtual address of absolute address `addr` inside `map`:
 * `addr - map.start + map.offset - load.offset + load.vaddr`, using the PT_LOAD segment whose
 * file bytes contain that file offset. This is right for non-PIE executables (bias 0), PIE
 * executables and shared libraries alike. Undefined when no segment contains the offset.
 */
export function elfVaddrOf(map: MapEntry, addr: bigint, loads: readonly LoadSegment[]): bigint | undefined {
  if (addr < map.start || addr >= map.end) return undefined;
  const off = fileOffsetOf(map, addr);
  for (const l of loads) {
    if (off >= l.offset && off < l.offset + l.filesz) return off - l.offset + l.vaddr;
  }
  return undefined;
}

/**
 * Merges a fresh read of the maps into an older snapshot: the fresh entries win, older entries
 * they do not overlap are kept (code unmapped since, which samples taken earlier may still hit).
 */
export function mergeMaps(older: readonly MapEntry[], fresh: readonly MapEntry[]): MapEntry[] {
  const out = [...fresh];
  for (const o of older) {
    const m = findMapping(fresh, o.start);
    let overlaps = m !== undefined;
    if (!overlaps) {
      // Any fresh entry starting inside o?
      let lo = 0;
      let hi = fresh.length - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        const f = fresh[mid]!;
        if (f.start < o.start) lo = mid + 1;
        else if (f.start >= o.end) hi = mid - 1;
        else {
          overlaps = true;
          break;
        }
      }
    }
    if (!overlaps) out.push(o);
  }
  out.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  return out;
}
