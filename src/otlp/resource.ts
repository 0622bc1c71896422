// Resource attributes: who sent the data (the host, the tool) and, for profiles, which process
// the stacks belong to. Attribute names follow the OpenTelemetry semantic conventions.
//
// Precedence, lowest first:
//   detected host attributes (host.name, host.arch, os.type, os.version)
//   < OTEL_RESOURCE_ATTRIBUTES
//   < service.name (OTEL_SERVICE_NAME, else service.name from OTEL_RESOURCE_ATTRIBUTES, else `ebpf-otel`)
//   < per-process attributes (process.*, container.id when found), which describe one process and
//     so are never taken from the environment.

import { readFileSync, readlinkSync } from 'node:fs';
import { os } from '../util/lazy-builtins.js';
import { basename } from 'node:path';
import type { OtlpConfig } from './config.js';

/** An OTLP attribute value as we emit it (AnyValue string/int/double/bool/array of strings). */
export type OtlpAttributeValue = string | number | boolean | string[];
/** Attributes in insertion order; the order is kept on the wire. */
export type OtlpAttributes = Record<string, OtlpAttributeValue>;

export const SCOPE_NAME = 'ebpf-otel';

export interface HostInfo {
  hostName: string;
  /** Kernel release (`uname -r`). */
  kernelRelease: string;
  /** Node's `os.arch()`, mapped to semantic-convention values (amd64, arm64, ...). */
  arch: string;
}

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm32', ia32: 'x86', ppc64: 'ppc64', s390x: 's390x' };

export function hostInfo(): HostInfo {
  const { arch, hostname, release } = os();
  return { hostName: hostname(), kernelRelease: release(), arch: ARCH[arch()] ?? arch() };
}

/**
 * Attributes every resource carries: service.name, host.name, host.arch, os.type, os.version
 * (kernel release), then OTEL_RESOURCE_ATTRIBUTES (which may override the detected host values).
 */
export function baseResourceAttributes(config: Pick<OtlpConfig, 'serviceName' | 'resourceAttributes'>, host: HostInfo = hostInfo()): OtlpAttributes {
  const attrs: OtlpAttributes = {
    'service.name': config.serviceName,
    'host.name': host.hostName,
    'host.arch': host.arch,
    'os.type': 'linux',
    'os.version': host.kernelRelease,
  };
  for (const [k, v] of Object.entries(config.resourceAttributes)) if (k !== 'service.name') attrs[k] = v;
  attrs['service.name'] = config.serviceName;
  return attrs;
}

/** What we know about one profiled process. Read early (`readProcessInfo`) so an exit mid-run loses nothing. */
export interface ProcessInfo {
  pid: number;
  /** Target of /proc/PID/exe (` (deleted)` suffix removed). */
  executablePath?: string;
  /** Base name of executablePath; else /proc/PID/comm; else the main thread's comm seen in the stacks. */
  executableName?: string;
  /** /proc/PID/cmdline split at NULs. */
  commandArgs?: string[];
  /** Container id found in /proc/PID/cgroup. */
  containerId?: string;
}

function tryRead(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * The container id in a /proc/PID/cgroup text, if any: a 64-hex-digit path segment, possibly with
 * a runtime prefix or a `.scope` suffix (docker, containerd/cri, cri-o, podman/libpod, kubepods).
 * Checks each line's path from the innermost segment outwards.
 */
export function containerIdFromCgroup(text: string): string | undefined {
  for (const line of text.split('\n')) {
    const parts = line.split(':');
    if (parts.length < 3) continue;
    const path = parts.slice(2).join(':');
    const segments = path.split('/').filter((s) => s !== '');
    for (let i = segments.length - 1; i >= 0; i--) {
      const m = /(?:^|[-:_])([0-9a-f]{64})(?:\.scope)?$/.exec(segments[i]!);
      if (m) return m[1];
    }
  }
  return undefined;
}

/**
 * Reads what /proc says about `pid`. Never throws: a process that exited (or that we may not
 * inspect) yields what could be read, merged over `previous` (an earlier capture), so calling it
 * once at start and again at export time keeps the best of both.
 */
export function readProcessInfo(pid: number, opts: { procRoot?: string; previous?: ProcessInfo } = {}): ProcessInfo {
  const root = opts.procRoot ?? '/proc';
  const prev = opts.previous && opts.previous.pid === pid ? opts.previous : undefined;
  const info: ProcessInfo = { pid, ...prev };
  if (!Number.isInteger(pid) || pid <= 0) return info;
  const dir = `${root}/${pid}`;

  if (info.executablePath === undefined) {
    try {
      const exe = readlinkSync(`${dir}/exe`).replace(/ \(deleted\)$/, '');
      if (exe !== '') info.executablePath = exe;
    } catch {
      // kernel thread, exited, or not ours to read
    }
  }
  if (info.executablePath !== undefined) info.executableName = basename(info.executablePath);
  else if (info.executableName === undefined) {
    const comm = tryRead(`${dir}/comm`)?.replace(/\n$/, '');
    if (comm) info.executableName = comm;
  }
  if (info.commandArgs === undefined) {
    const cmdline = tryRead(`${dir}/cmdline`);
    if (cmdline) {
      const args = cmdline.split('\0');
      if (args[args.length - 1] === '') args.pop();
      if (args.length > 0) info.commandArgs = args;
    }
  }
  if (info.containerId === undefined) {
    const cg = tryRead(`${dir}/cgroup`);
    const id = cg !== undefined ? containerIdFromCgroup(cg) : undefined;
    if (id !== undefined) info.containerId = id;
  }
  return info;
}

/**
 * process.pid, process.executable.name, process.executable.path, process.command_line (the
 * arguments joined with spaces, as `ps` shows them), process.command_args (the exact argv), and
 * container.id when known.
 */
export function processResourceAttributes(info: ProcessInfo): OtlpAttributes {
  const attrs: OtlpAttributes = { 'process.pid': info.pid };
  if (info.executableName !== undefined) attrs['process.executable.name'] = info.executableName;
  if (info.executablePath !== undefined) attrs['process.executable.path'] = info.executablePath;
  if (info.commandArgs !== undefined) {
    attrs['process.command_line'] = info.commandArgs.join(' ');
    attrs['process.command_args'] = [...info.commandArgs];
  }
  if (info.containerId !== undefined) attrs['container.id'] = info.containerId;
  return attrs;
}
