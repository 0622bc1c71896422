// SIGINT and SIGTERM over a run, phase by phase:
//  - load (before collection starts): no handler of ours; the signal ends the process at once
//    (even inside a long synchronous load) and the kernel frees what it had loaded with its fds.
//  - collection: the first signal ends collection; what was collected is printed and exported
//    (util/collect.ts, commands/histogram-output.ts).
//  - after collection (symbolize, print, export): a signal aborts an export in flight, which
//    then saves its payload and says where (exit 128+signal); with nothing to abort, or at the
//    next signal, the process stops at once, saying so when output was left unwritten.

import { os } from './lazy-builtins.js';
import { stderr, stdout } from './stdio.js';

export type StopSignal = 'SIGINT' | 'SIGTERM';

/** The conventional exit status of a process stopped by `signal`: 130 for SIGINT, 143 for SIGTERM. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (os().constants.signals[signal] ?? 0);
}

const inFlight = new Set<AbortController>();

/**
 * Runs `op` with an AbortSignal that a SIGINT/SIGTERM after collection aborts (the reason is the
 * signal's name). `op` must then settle soon: reject with a one-line error, having saved its data.
 */
export async function abortableBySignal<T>(op: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  inFlight.add(controller);
  try {
    return await op(controller.signal);
  } finally {
    inFlight.delete(controller);
  }
}

/** Aborts every operation in flight; true when there was one. */
export function abortInFlight(signal: NodeJS.Signals): boolean {
  if (inFlight.size === 0) return false;
  for (const c of inFlight) c.abort(signal);
  inFlight.clear();
  return true;
}

/** Ends the process now, as `signal` asked, with one line if standard output was left unwritten. */
export function stopNow(signal: NodeJS.Signals): never {
  const pending = stdout.pendingBytes;
  if (pending > 0) stderr.write(`ebpf-otel: stopped by ${signal}: ${pending} bytes of output were not written\n`);
  process.exit(signalExitCode(signal));
}

let armed = false;

function onLateSignal(signal: NodeJS.Signals): void {
  if (abortInFlight(signal)) return;
  stopNow(signal);
}

/** Collection is over: from now on a signal aborts what is in flight, or stops the process. Idempotent. */
export function armAfterCollection(): void {
  if (armed) return;
  armed = true;
  process.on('SIGINT', onLateSignal);
  process.on('SIGTERM', onLateSignal);
}
