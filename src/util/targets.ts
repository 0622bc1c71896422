// -p PID / -t TID checks shared by the stack tools, made before anything loads. /proc/N exists
// for every thread id too (hidden from listings, but there): a thread id given as a PID would
// pass an existence check and then match nothing (the BPF side filters processes by tgid), so
// the tool would print an empty profile as if the process had been idle.
import { readFileSync } from 'node:fs';
import { UserError } from './errors.js';

/** The process (tgid) thread `tid` belongs to; undefined when there is no such thread. */
export function tgidOf(tid: number, procRoot = '/proc'): number | undefined {
  try {
    const m = /^Tgid:\s*(\d+)$/m.exec(readFileSync(`${procRoot}/${tid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Every id of `pids` must be a running process: one line otherwise, naming the process a thread
 * id belongs to and the option (`threadOption`, e.g. `-L` or `-t`) that takes thread ids.
 */
export function checkProcesses(pids: readonly number[], threadOption: string, procRoot = '/proc'): void {
  for (const pid of pids) {
    const tgid = tgidOf(pid, procRoot);
    if (tgid === undefined) throw new UserError(`no process with PID ${pid}`);
    if (tgid !== pid) throw new UserError(`${pid} is a thread of process ${tgid}, not a process: use ${threadOption} ${pid} for that thread, or -p ${tgid}`);
  }
}

/** Every id of `tids` must be a running thread. */
export function checkThreads(tids: readonly number[], procRoot = '/proc'): void {
  for (const tid of tids) if (tgidOf(tid, procRoot) === undefined) throw new UserError(`no thread with TID ${tid}`);
}
