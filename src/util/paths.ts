import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// dist/bundle/ebpf-otel.cjs (what bin/ runs), dist/src/util/paths.js or src/util/paths.ts: walk up to the folder holding
// package.json, which is the package root both in a checkout and in an installed tarball.
function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('ebpf-otel: cannot find its package root');
    dir = parent;
  }
}

export const packageRoot = findPackageRoot();

/** Path of a compiled BPF object shipped in the package, e.g. bpfObjectPath('cpuprofile'). */
export function bpfObjectPath(tool: string): string {
  return join(packageRoot, 'bpf', `${tool}.bpf.o`);
}

let version: string | null | undefined;

/** This package's version (from package.json), or undefined when it cannot be read. */
export function packageVersion(): string | undefined {
  if (version === undefined) {
    version = null;
    try {
      const pkg: unknown = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8'));
      if (pkg && typeof pkg === 'object' && 'version' in pkg && typeof pkg.version === 'string') version = pkg.version;
    } catch {
      // best effort: callers print the name alone
    }
  }
  return version ?? undefined;
}
