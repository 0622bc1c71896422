// Standard output that fails under us. Node turns a failed write to stdout into an unhandled
// 'error' event: a stack trace, and a tool that goes on tracing. Instead:
//  - EPIPE (the reader went away: `| head`): stop quietly, as a Unix filter killed by SIGPIPE does
//    (exit 141); the kernel frees our BPF objects with our fds.
//  - anything else (ENOSPC on a full disk, EIO, ...): one line saying so, exit 1.
// A failing stderr is ignored: there is nowhere left to report to.

import { messageOf } from './errors.js';

const EXIT_SIGPIPE = 141;

const REASONS: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EIO: 'input/output error',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large',
  EBADF: 'standard output is closed',
};

let installed = false;

export function guardStandardStreams(): void {
  if (installed) return;
  installed = true;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT_SIGPIPE);
    const reason = (err.code && REASONS[err.code]) ?? messageOf(err);
    try {
      process.stderr.write(`ebpf-otel: cannot write to standard output: ${reason}${err.code && !reason.includes(err.code) ? ` (${err.code})` : ''}\n`);
    } finally {
      process.exit(1);
    }
  });
  process.stderr.on('error', () => {});
}
