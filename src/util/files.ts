// Every file ebpf-otel writes goes through here. The tools run as root, often in shared places
// (/tmp), so a path given to them may be a symbolic link someone else planted, or a name that
// already exists:
//  - a symbolic link is never written through by root (a link to /etc/shadow stays a link);
//    the streams the kernel itself provides (/dev/stdout, /dev/fd/N, /proc/self/fd/N) are fine;
//  - an existing file is replaced whole: the new content goes to a fresh file beside it (created
//    with O_EXCL|O_NOFOLLOW) that is renamed over it, so a reader never sees half a file, a
//    failed write leaves the old one as it was, and another hard link to it is never touched;
//  - a device or FIFO (/dev/null, a named pipe) is written in place;
//  - files that hold data nobody asked to keep (failed OTLP payloads, output that could not go
//    where asked) are new files with fresh unique names, mode 0600.
// Temporary and aside names are unique (pid, nanosecond clock, counter: uniqueSuffix), not random:
// every one is created with O_EXCL|O_NOFOLLOW, so a guessed name planted first fails the create
// (and is retried or reported), it is never written through. node:crypto would cost ~10 ms of
// start-up to load for random names.
// Failures are one-line UserErrors naming the file and the reason.

import {
  accessSync,
  closeSync,
  constants as fs,
  fchmodSync,
  fchownSync,
  lstatSync,
  openSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { os } from './lazy-builtins.js';
import { basename, dirname, join, resolve } from 'node:path';
import { uniqueSuffix } from './cache-dir.js';
import { UserError, messageOf } from './errors.js';
import { sanitizeTerminal } from '../render/sanitize.js';

const FS_REASONS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a component of the path is not a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  EISDIR: 'is a directory',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EEXIST: 'file exists',
  ELOOP: 'is a symbolic link',
  EIO: 'input/output error',
  EPIPE: 'broken pipe (the reader went away)',
  ENAMETOOLONG: 'file name too long',
};

/** The human reason of a file system error: `permission denied`, `read-only file system`, ... */
export function fsReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return (code && FS_REASONS[code]) ?? messageOf(err);
}

const isRoot = (): boolean => process.geteuid?.() === 0;

/** Paths to streams the kernel provides: following these links is safe. */
function isKernelStream(path: string): boolean {
  return /^\/dev\/(stdout|stderr|fd\/\d+)$|^\/proc\/(self|\d+)\/fd\/\d+$/.test(resolve(path));
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function symlinkRefusal(path: string, what: string): UserError {
  return new UserError(
    `not writing ${what} to ${sanitizeTerminal(path)}: it is a symbolic link, and as root ebpf-otel never writes through one (remove it or choose another path)`,
  );
}

type Plan = { kind: 'replace'; existing?: Stats } | { kind: 'in-place' };

/** How `path` will be written, or a UserError saying why it cannot be. */
function plan(path: string, what: string): Plan {
  const fail = (reason: string) => new UserError(`cannot write ${what} to ${sanitizeTerminal(path)}: ${reason}`);
  let st: Stats | undefined;
  try {
    st = lstatOrUndefined(path);
  } catch (err) {
    throw fail(fsReason(err));
  }
  if (st?.isSymbolicLink()) {
    if (isKernelStream(path)) return { kind: 'in-place' };
    if (isRoot()) throw symlinkRefusal(path, what);
    // Not root: a link is the user's own business; write where it points, in place.
    return { kind: 'in-place' };
  }
  if (st?.isDirectory()) throw fail('is a directory');
  if (st && !st.isFile()) return { kind: 'in-place' };
  return st ? { kind: 'replace', existing: st } : { kind: 'replace' };
}

/**
 * Checks, before any work is done, that `path` can be written: fails (one line) on a symbolic
 * link as root, a directory, a missing or unwritable directory. The write itself can still fail
 * (a full disk); callers that hold data nobody else has then save it with `saveAside`.
 */
export function checkOutputPath(path: string, what: string): void {
  const fail = (reason: string) => new UserError(`cannot write ${what} to ${sanitizeTerminal(path)}: ${reason}`);
  const p = plan(path, what);
  try {
    if (p.kind === 'in-place') {
      accessSync(path, fs.W_OK);
      return;
    }
    const dir = dirname(resolve(path));
    let dirStat: Stats;
    try {
      dirStat = statSync(dir);
    } catch (err) {
      throw fail((err as NodeJS.ErrnoException).code === 'ENOENT' ? `no such directory: ${sanitizeTerminal(dir)}` : fsReason(err));
    }
    if (!dirStat.isDirectory()) throw fail(`${sanitizeTerminal(dir)} is not a directory`);
    // What writing will do first: create a new file beside the target. access(2) would not do:
    // root passes it on a directory it still cannot create files in (/proc, a read-only mount).
    const probe = tempBeside(path);
    closeSync(openSync(probe, fs.O_WRONLY | fs.O_CREAT | fs.O_EXCL | fs.O_NOFOLLOW, 0o600));
    unlinkSync(probe);
  } catch (err) {
    if (err instanceof UserError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    // An existing file may still be writable in a directory that is not (not root).
    if (p.kind === 'replace' && p.existing && (code === 'EACCES' || code === 'EPERM')) {
      try {
        accessSync(path, fs.W_OK);
        return;
      } catch {
        // fall through to the directory's reason
      }
    }
    throw fail(fsReason(err));
  }
}

/** A fresh hidden name in the target's directory. */
function tempBeside(path: string): string {
  return join(dirname(path), `.${basename(path)}.${uniqueSuffix()}.tmp`);
}

function writeAll(fd: number, data: string | Uint8Array): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let off = 0;
  while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
}

function writeInPlace(path: string, data: string | Uint8Array, flags: number): void {
  const fd = openSync(path, flags);
  try {
    writeAll(fd, data);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes `data` to `path` as described at the top of this file. Synchronous: a signal cannot
 * stop it half way and leave a temporary file behind. Throws a one-line UserError on failure.
 */
export function writeOutputFile(path: string, data: string | Uint8Array, what: string): void {
  const fail = (err: unknown) => new UserError(`cannot write ${what} to ${sanitizeTerminal(path)}: ${fsReason(err)}`);
  const p = plan(path, what);
  if (p.kind === 'in-place') {
    try {
      // Root opens a device or FIFO without following a link (a kernel stream aside).
      const follow = isKernelStream(path) || !isRoot();
      writeInPlace(path, data, fs.O_WRONLY | fs.O_TRUNC | (follow ? 0 : fs.O_NOFOLLOW));
    } catch (err) {
      throw fail(err);
    }
    return;
  }
  const temp = tempBeside(path);
  let fd: number;
  try {
    fd = openSync(temp, fs.O_WRONLY | fs.O_CREAT | fs.O_EXCL | fs.O_NOFOLLOW, 0o666);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (p.existing && (code === 'EACCES' || code === 'EPERM')) {
      // The directory is not ours to write, the file is: rewrite it in place, never through a link.
      try {
        writeInPlace(path, data, fs.O_WRONLY | fs.O_TRUNC | fs.O_NOFOLLOW);
        return;
      } catch (inPlace) {
        throw fail(inPlace);
      }
    }
    throw fail(err);
  }
  try {
    try {
      if (p.existing) {
        fchmodSync(fd, p.existing.mode & 0o777);
        if (isRoot()) fchownSync(fd, p.existing.uid, p.existing.gid);
      }
      writeAll(fd, data);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (err) {
    try {
      unlinkSync(temp);
    } catch {
      // already gone
    }
    throw fail(err);
  }
}

/**
 * Creates the new file `dir/name` (O_CREAT|O_EXCL|O_NOFOLLOW: an existing file or link of that
 * name is an error, never followed or overwritten) holding `data`. Throws the file system error.
 */
export function createExclusiveFile(dir: string, name: string, data: string | Uint8Array, mode = 0o600): string {
  const path = join(dir, name);
  const fd = openSync(path, fs.O_WRONLY | fs.O_CREAT | fs.O_EXCL | fs.O_NOFOLLOW, mode);
  try {
    writeAll(fd, data);
  } catch (err) {
    closeSync(fd);
    try {
      unlinkSync(path);
    } catch {
      // leave it
    }
    throw err;
  }
  closeSync(fd);
  return path;
}

/** `20260125T101112Z`: for file names. */
export function fileTimestamp(d = new Date()): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

let asideCounter = 0;

/**
 * Eight hex digits that differ between calls of this process (the low bits of a nanosecond clock,
 * mixed with a counter): the time and pid before them tell processes apart.
 */
function uniqueHex8(): string {
  asideCounter += 1;
  const v = (Number(process.hrtime.bigint() & 0xffffffffn) ^ Math.imul(asideCounter, 0x9e3779b1)) >>> 0;
  return v.toString(16).padStart(8, '0');
}

/**
 * Saves data that could not go where it was meant to in a new file of the temporary directory:
 * `<prefix>-<time>-<pid>-<8 hex digits><ext>`, mode 0600. Returns its path; throws the file system error.
 */
export function saveAside(data: string | Uint8Array, prefix: string, ext: string, dir = os().tmpdir()): string {
  for (let tries = 0; ; tries++) {
    const name = `${prefix}-${fileTimestamp()}-${process.pid}-${uniqueHex8()}${ext}`;
    try {
      return createExclusiveFile(dir, name, data);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && tries < 5) continue;
      throw err;
    }
  }
}
