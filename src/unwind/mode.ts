// The --unwind option and the ring size: what a command needs before it attaches. Kept apart
// from the unwinding machinery (session.ts), which loads after attach so start-up stays short.
import { InvalidArgumentError } from 'commander';
import { UNWIND_STACK_COPY_MAX, UNWIND_STACK_RECORD } from './layout.js';

export type UnwindMode = 'fp' | 'dwarf' | 'auto';
export const UNWIND_MODES: readonly UnwindMode[] = ['fp', 'dwarf', 'auto'];

export const UNWIND_OPTION_HELP =
  'how user stacks are walked: fp (frame pointers, in the kernel), dwarf (copy the stack, unwind with .eh_frame CFI), ' +
  'auto (frame pointers for processes whose code keeps them, CFI for the others)';

export function parseUnwindMode(value: string): UnwindMode {
  const v = value.trim() as UnwindMode;
  if (!UNWIND_MODES.includes(v)) throw new InvalidArgumentError(`unwind mode must be one of fp, dwarf, auto; got '${value}'`);
  return v;
}

/** Stack copies are unwound for x86-64 only (the registers the BPF side copies are x86-64's). */
export function stackCopySupported(): boolean {
  return process.arch === 'x64';
}

/**
 * Ring buffer bytes for `eventsPerSec` stack copies a second: a quarter second of full-size
 * records (the ring is drained every 50 ms), as a power of two between 256 KiB and 64 MiB.
 */
export function ringBytes(eventsPerSec: number): number {
  const want = eventsPerSec * (UNWIND_STACK_COPY_MAX + UNWIND_STACK_RECORD.size + 8) * 0.25;
  let size = 256 * 1024;
  while (size < want && size < 64 * 1024 * 1024) size *= 2;
  return size;
}

