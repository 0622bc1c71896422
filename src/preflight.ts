// Checks made before loading anything, each failing with one line that says what to do.
import { existsSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { UserError } from './util/errors.js';

const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

/** Effective capabilities of this process, from /proc/self/status. */
export function effectiveCapabilities(status = readFileSync('/proc/self/status', 'utf8')): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

export function hasBpfPrivileges(caps = effectiveCapabilities()): boolean {
  const has = (c: bigint) => (caps >> c) & 1n;
  return Boolean(has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON)));
}

/** Root (or CAP_BPF + CAP_PERFMON) and a kernel with BTF: what every tool needs. */
export function preflight(tool: string): void {
  if (!hasBpfPrivileges()) {
    throw new UserError(`${tool} needs root (CAP_BPF and CAP_PERFMON) to load BPF programs: run it with sudo`);
  }
  if (!existsSync('/sys/kernel/btf/vmlinux')) {
    throw new UserError('this kernel lacks BTF (/sys/kernel/btf/vmlinux): CO-RE programs need a kernel built with CONFIG_DEBUG_INFO_BTF=y');
  }
}

export const TRACEFS = '/sys/kernel/tracing';

export function tracefsMounted(mounts = readFileSync('/proc/mounts', 'utf8')): boolean {
  return mounts.split('\n').some((line) => line.split(' ')[2] === 'tracefs');
}

/** Classic tracepoints need tracefs: mount it (we are root by now) or say how. */
export function ensureTracefs(): void {
  if (tracefsMounted()) return;
  try {
    execFileSync('mount', ['-t', 'tracefs', 'nodev', TRACEFS], { stdio: 'ignore' });
  } catch {
    throw new UserError(`tracefs is not mounted: mount it with \`sudo mount -t tracefs nodev ${TRACEFS}\``);
  }
}
