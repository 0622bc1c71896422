// The root-only directory where ebpf-otel keeps what it can rebuild but would rather not pay for
// at every run: the kernel symbol table (symbolize/kallsyms-cache.ts), the V8 code cache of the
// bundle (util/code-cache.ts) and facts about binaries (util/file-facts-cache.ts). They only
// read or write through the functions here.
//
// The tool runs as root, so the directory and its files are trusted only when they are what we
// would have created ourselves: a real directory owned by our euid and writable by nobody else,
// and regular files in it owned by us, opened without following symlinks. Every failure is
// silent (null/false): a cache is an optimisation, the tools work without one.
//
// Only node:fs here: this module is loaded before the CLI bundle (bin/ebpf-otel.cjs), where every
// other module costs start-up time.
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readSync, renameSync, unlinkSync, writeSync, type BigIntStats } from 'node:fs';

/** tmpfs on systemd and most distributions: gone at reboot. */
export const DEFAULT_CACHE_DIR = '/run/ebpf-otel';

/** `EBPF_OTEL_CACHE_DIR`: unset -> the default, empty -> no cache. */
export function cacheDirFromEnv(env: NodeJS.ProcessEnv = process.env): string | null {
  const dir = env.EBPF_OTEL_CACHE_DIR;
  if (dir === undefined) return DEFAULT_CACHE_DIR;
  return dir === '' ? null : dir;
}

/**
 * Opens `dir` if it is safe to read and write: a real directory (lstat: not a symlink) owned by
 * our euid and not writable by group or others. With `create`, a missing directory is made with
 * mode 0700 first (its parent must exist: we do not create chains of directories as root).
 * Returns a directory fd, or null. The fd is opened with O_NOFOLLOW and must be the inode lstat
 * checked; files are then named through /proc/self/fd/FD/ (inDir), which resolves to that very
 * directory, so swapping the path for a symlink after the checks (possible when an ancestor is
 * writable by someone else) redirects nothing.
 */
export function openCacheDir(dir: string, create: boolean): number | null {
  const euid = process.geteuid?.();
  if (euid === undefined) return null;
  if (create) {
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch {
      // exists already (checked below), or cannot be made: then the checks below fail
    }
  }
  let fd: number | undefined;
  try {
    const st = lstatSync(dir);
    if (!st.isDirectory() || st.uid !== euid || (st.mode & 0o022) !== 0) return null;
    fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    const opened = fstatSync(fd);
    if (opened.dev !== st.dev || opened.ino !== st.ino || opened.uid !== euid || (opened.mode & 0o022) !== 0) {
      closeSync(fd);
      return null;
    }
    return fd;
  } catch {
    if (fd !== undefined) closeSync(fd);
    return null;
  }
}

/**
 * What tells one version of a file from another without reading it: any rewrite changes the
 * mtime or the size, any replacement (rename over it, a package upgrade) the inode, and even a
 * rewrite that restored the old mtime changes the ctime. Taken from an fstat of the fd the file
 * is read through, so it describes the bytes read.
 */
export interface FileIdentity {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

export function fileIdentity(st: BigIntStats): FileIdentity {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
}

/** The identity as text, for a cache key: `dev ino size mtimeNs ctimeNs`. */
export function identityText(id: FileIdentity): string {
  return `${id.dev} ${id.ino} ${id.size} ${id.mtimeNs} ${id.ctimeNs}`;
}

/** `name` inside the directory open as `dirFd`. */
export const inDir = (dirFd: number, name: string): string => `/proc/self/fd/${dirFd}/${name}`;

let tempCounter = 0;

/**
 * A name no other live process or earlier call of ours uses: pid, a nanosecond clock and a
 * counter. Not secret, and need not be: every file made with it is created with O_EXCL|O_NOFOLLOW,
 * so a name someone guessed and planted first is an error, never a file written through.
 * (node:crypto's randomBytes would cost ~10 ms of start-up to load for this.)
 */
export function uniqueSuffix(): string {
  tempCounter += 1;
  return `${process.pid}.${process.hrtime.bigint().toString(36)}.${tempCounter}`;
}

/**
 * The whole of regular file `name` in the cache directory `dirFd`, in a fresh ArrayBuffer (offset
 * 0: typed views on it are aligned), or null: missing, a symlink, not ours, writable by others,
 * shorter than `minSize` or longer than `maxSize`, or unreadable.
 */
export function readCacheFile(dirFd: number, name: string, minSize: number, maxSize: number): Uint8Array | null {
  let fd: number;
  try {
    fd = openSync(inDir(dirFd, name), constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return null;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.uid !== process.geteuid?.() || (st.mode & 0o022) !== 0) return null;
    if (st.size < minSize || st.size > maxSize) return null;
    // Its own ArrayBuffer, not zero-filled (every byte is read into it before it is returned):
    // zeroing and then overwriting a file of megabytes costs a copy for nothing.
    const file: Uint8Array = Buffer.allocUnsafeSlow(st.size);
    let total = 0;
    while (total < file.length) {
      const got = readSync(fd, file, total, file.length - total, total);
      if (got <= 0) return null;
      total += got;
    }
    return file;
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

/**
 * `file` (a cache file's bytes) as a Buffer on the same memory if it is at least `headerSize`
 * bytes and starts with `magic` followed by `version` (u32 LE), else null: the opening check
 * of every cache format here, which all put their magic and version there.
 */
export function checkedHeader(file: Uint8Array, magic: Buffer, version: number, headerSize: number): Buffer | null {
  if (file.length < headerSize || headerSize < magic.length + 4) return null;
  const buf = Buffer.from(file.buffer, file.byteOffset, file.length);
  if (!buf.subarray(0, magic.length).equals(magic) || buf.readUInt32LE(magic.length) !== version) return null;
  return buf;
}

/**
 * Replaces file `name` in the cache directory `dirFd` atomically: a new file (O_EXCL|O_NOFOLLOW,
 * mode 0600: nothing pre-planted can be written through) renamed over the old one, so a reader
 * sees the old file or the new one, never half of one. Returns false on any failure.
 */
export function writeCacheFile(dirFd: number, name: string, parts: readonly Uint8Array[]): boolean {
  const tmp = inDir(dirFd, `.${name}.${uniqueSuffix()}`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    for (const data of parts) {
      let off = 0;
      while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    }
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, inDir(dirFd, name));
    return true;
  } catch {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // already failing: nothing more to do
      }
    }
    try {
      unlinkSync(tmp);
    } catch {
      // never created
    }
    return false;
  }
}

/** How much one family of cache files may hold, in files and in bytes. */
export interface CacheBudget {
  files: number;
  bytes: number;
}

/**
 * Keeps the files of the cache directory `dirFd` whose names start with `prefix` within `budget`
 * by removing the oldest (by mtime: the time they were written) first; `keep` (the file just
 * written) is never removed. For families with one file per something that keeps coming (a file
 * per binary): the directory is usually a tmpfs, held in memory until reboot. Only regular files
 * of ours are counted and removed; failures are silent. Returns how many files were removed.
 */
export function pruneCacheFiles(dirFd: number, prefix: string, budget: CacheBudget, keep: string): number {
  const euid = process.geteuid?.();
  let names: string[];
  try {
    names = readdirSync(inDir(dirFd, '')).filter((n) => n.startsWith(prefix));
  } catch {
    return 0;
  }
  const files: { name: string; size: number; mtimeMs: number }[] = [];
  let total = 0;
  for (const name of names) {
    try {
      const st = lstatSync(inDir(dirFd, name));
      if (!st.isFile() || st.uid !== euid) continue;
      files.push({ name, size: st.size, mtimeMs: st.mtimeMs });
      total += st.size;
    } catch {
      // removed meanwhile
    }
  }
  if (files.length <= budget.files && total <= budget.bytes) return 0;
  files.sort((a, b) => a.mtimeMs - b.mtimeMs);
  let count = files.length;
  let removed = 0;
  for (const f of files) {
    if (count <= budget.files && total <= budget.bytes) break;
    if (f.name === keep) continue;
    try {
      unlinkSync(inDir(dirFd, f.name));
      removed++;
      count--;
      total -= f.size;
    } catch {
      // removed meanwhile
    }
  }
  return removed;
}
