// Standard output and error, as every command writes them.
//
// Not through process.stdout/process.stderr when we can help it: those are streams (a net.Socket
// on a pipe, a SyncWriteStream on a file), and the first touch of either loads node:stream and
// node:net, ~8-10 ms of CPU at every start: as much as biolatency or tcprtt spend on anything of
// their own. So, by what the descriptor is (fstat):
//  - a regular file, or /dev/null and its kin (character devices of major 1): plain synchronous
//    writes, which is what Node's SyncWriteStream does for files;
//  - a pipe: writes on a second, non-blocking descriptor of the same pipe (/proc/self/fd/N opened
//    with O_NONBLOCK, which leaves the shared one, and the reader's, as they were). What the pipe
//    does not take now waits in a queue retried on a timer, as a net.Socket queues it: the process
//    keeps answering signals while a reader is not reading (util/signals.ts reports what was left
//    unwritten), and the queue keeps the event loop alive until it is written;
//  - a socket (what Node's child_process gives a child for 'pipe', and systemd for the journal):
//    its first few small writes synchronously, which a socket's send buffer (~200 KB by default)
//    takes without blocking even when nobody reads; after that, Node's stream. A short run
//    (biolatency: a line or two on stderr, one result on stdout) never loads it; a long one pays
//    once, after its first prints;
//  - anything else (a terminal, another device): Node's own stream, which knows about terminals
//    (isTTY, width).
//
// Failures of standard output are handled here, the same for every kind:
//  - EPIPE (the reader went away: `| head`): stop quietly, as a Unix filter killed by SIGPIPE does
//    (exit 141); the kernel frees our BPF objects with our fds.
//  - anything else (ENOSPC on a full disk, EIO, ...): one line saying so, exit 1.
// A failing stderr is ignored: there is nowhere left to report to.
import { closeSync, constants, fstatSync, openSync, writeSync } from 'node:fs';
import { messageOf } from './errors.js';

/** What commands write text to: standard output or error here, a stand-in in tests. */
export interface TextOutput {
  write(text: string): unknown;
  readonly isTTY?: boolean | undefined;
}

const EXIT_SIGPIPE = 141;

const REASONS: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EIO: 'input/output error',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large',
  EBADF: 'standard output is closed',
};

/** The retry delays of a queue the pipe would not take, in ms: quick at first, then ~15 a second. */
const RETRY_MS = [1, 2, 4, 8, 16, 32, 64];

/**
 * What a socket is written synchronously before Node's stream takes over: well inside the smallest
 * send buffer a default system has (net.core.wmem_default, 208 KB), each write's own overhead
 * (~1 KB of kernel accounting) included.
 */
const SOCKET_SYNC_WRITES = 16;
const SOCKET_SYNC_BYTES = 32 * 1024;

type Kind = 'sync' | 'pipe' | 'socket' | 'node';

function kindOf(fd: number): Kind {
  let st;
  try {
    st = fstatSync(fd);
  } catch {
    return 'sync'; // closed: the write says so (EBADF)
  }
  if (st.isFile()) return 'sync';
  // /dev/null, /dev/full, /dev/zero: memory devices, major 1 (never a terminal).
  if (st.isCharacterDevice() && Math.floor(st.rdev / 256) % 4096 === 1) return 'sync';
  if (st.isFIFO()) return 'pipe';
  if (st.isSocket()) return 'socket';
  return 'node';
}

class StandardOutput implements TextOutput {
  private kind: Kind | undefined;
  /** The non-blocking descriptor of a pipe. */
  private pipeFd = -1;
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private retry: NodeJS.Timeout | undefined;
  private retries = 0;
  private failed = false;
  /** Writes and bytes a socket took synchronously so far. */
  private socketWrites = 0;
  private socketBytes = 0;

  constructor(
    private readonly fd: 1 | 2,
    private readonly nodeStream: () => NodeJS.WriteStream,
    private readonly onError: (err: NodeJS.ErrnoException) => void,
  ) {}

  get isTTY(): boolean {
    return this.resolve() === 'node' && this.nodeStream().isTTY === true;
  }

  /** Terminal width when writing to one. */
  get columns(): number | undefined {
    return this.resolve() === 'node' ? this.nodeStream().columns : undefined;
  }

  /** Bytes handed to write() and not yet written. */
  get pendingBytes(): number {
    if (this.kind === 'node') return this.nodeStream().writableLength;
    return this.queued;
  }

  write(text: string): boolean {
    if (this.failed || text === '') return true;
    const kind = this.resolve();
    if (kind === 'node') return this.nodeStream().write(text);
    const bytes = Buffer.from(text, 'utf8');
    switch (kind) {
      case 'sync':
        return this.writeNow(bytes);
      case 'socket':
        return this.socketTakes(bytes.length) ? this.writeNow(bytes) : this.useNodeStream().write(text);
      case 'pipe':
        return this.writeToPipe(bytes);
    }
  }

  private resolve(): Kind {
    if (this.kind !== undefined) return this.kind;
    let kind = kindOf(this.fd);
    if (kind === 'pipe') {
      try {
        this.pipeFd = openSync(`/proc/self/fd/${this.fd}`, constants.O_WRONLY | constants.O_NONBLOCK);
      } catch {
        kind = 'node'; // no /proc, or no reader left (ENXIO): Node's stream finds out and says so
      }
    }
    if (kind === 'node') this.useNodeStream();
    else this.kind = kind;
    return kind;
  }

  /** From now on Node's stream, with our failure handling. */
  private useNodeStream(): NodeJS.WriteStream {
    const stream = this.nodeStream();
    if (this.kind !== 'node') stream.on('error', (err: NodeJS.ErrnoException) => this.fail(err));
    this.kind = 'node';
    return stream;
  }

  /** Whether a socket is still within what it takes synchronously, counting this write. */
  private socketTakes(length: number): boolean {
    this.socketWrites += 1;
    this.socketBytes += length;
    return this.socketWrites <= SOCKET_SYNC_WRITES && this.socketBytes <= SOCKET_SYNC_BYTES;
  }

  private writeNow(bytes: Buffer): boolean {
    const { error } = writeAll(this.fd, bytes);
    if (error) this.fail(error);
    return true;
  }

  /** Behind a queue if one is waiting; otherwise now, queueing what the pipe does not take. */
  private writeToPipe(bytes: Buffer): boolean {
    if (this.queued > 0) {
      this.enqueue(bytes);
      return false;
    }
    const rest = this.tryWrite(bytes);
    if (rest !== undefined) this.enqueue(rest);
    return rest === undefined;
  }

  /** Writes what the pipe takes now; returns the rest, if any. */
  private tryWrite(bytes: Buffer): Buffer | undefined {
    const { done, error } = writeAll(this.pipeFd, bytes);
    if (error?.code === 'EAGAIN') return bytes.subarray(done);
    if (error) this.fail(error);
    return undefined;
  }

  private enqueue(bytes: Buffer): void {
    this.queue.push(bytes);
    this.queued += bytes.length;
    if (this.retry === undefined) this.schedule();
  }

  private schedule(): void {
    const delay = RETRY_MS[Math.min(this.retries, RETRY_MS.length - 1)]!;
    this.retry = setTimeout(() => this.flush(), delay);
  }

  private flush(): void {
    this.retry = undefined;
    let progressed = false;
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      const rest = this.tryWrite(head);
      if (this.failed) return; // fail() emptied the queue
      const written = head.length - (rest?.length ?? 0);
      this.queued -= written;
      if (written > 0) progressed = true;
      if (rest === undefined) {
        this.queue.shift();
        continue;
      }
      this.queue[0] = rest;
      break;
    }
    if (this.queue.length === 0) return;
    this.retries = progressed ? 0 : this.retries + 1;
    this.schedule();
  }

  private fail(err: NodeJS.ErrnoException): void {
    this.failed = true;
    this.queue.length = 0;
    this.queued = 0;
    if (this.retry !== undefined) clearTimeout(this.retry);
    if (this.pipeFd >= 0) {
      try {
        closeSync(this.pipeFd);
      } catch {
        // already gone
      }
      this.pipeFd = -1;
    }
    this.onError(err);
  }
}

/** Writes all of `bytes` to `fd`, or until write(2) fails: how many were written, and the error. */
function writeAll(fd: number, bytes: Buffer): { done: number; error?: NodeJS.ErrnoException } {
  let done = 0;
  try {
    while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
  } catch (err) {
    return { done, error: err as NodeJS.ErrnoException };
  }
  return { done };
}

function stdoutFailed(err: NodeJS.ErrnoException): void {
  if (err.code === 'EPIPE') process.exit(EXIT_SIGPIPE);
  const reason = (err.code && REASONS[err.code]) ?? messageOf(err);
  try {
    stderr.write(`ebpf-otel: cannot write to standard output: ${reason}${err.code && !reason.includes(err.code) ? ` (${err.code})` : ''}\n`);
  } finally {
    process.exit(1);
  }
}

/** Standard output (fd 1). */
export const stdout = new StandardOutput(1, () => process.stdout, stdoutFailed);

/** Standard error (fd 2); its failures are ignored. */
export const stderr = new StandardOutput(2, () => process.stderr, () => {});
