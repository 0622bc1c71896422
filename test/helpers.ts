// Shared by the tests: running the CLI as a user would, building workloads, root checks.
import { execFileSync, spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { native } from '../src/bpf/native.js';
import { bpfObjectPath } from '../src/util/paths.js';

/** dist/test/helpers.js -> the repository root. */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const cliPath = join(repoRoot, 'bin', 'ebpf-otel.cjs');
export const workloadsDir = join(repoRoot, 'test', 'workloads');

const isRoot = process.getuid?.() === 0;

/**
 * Kernel tests need root. In CI (CI=true) that is a failure, never a skip: the CI machine is
 * root and BPF works there. Elsewhere the test is skipped with the reason.
 */
export function requireRoot(t: TestContext): boolean {
  if (isRoot) return true;
  skipOutsideCi(t, 'needs root to load BPF programs (run npm test with sudo)');
  return false;
}

/**
 * A test that cannot run here (a tool missing, a privilege lacking) is skipped with the reason,
 * except in CI (CI=true), where everything it needs is installed: there it fails.
 */
export function skipOutsideCi(t: TestContext, reason: string): void {
  if (process.env.CI) throw new Error(`cannot run in CI: ${reason}`);
  t.skip(reason);
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `ebpf-otel ARGS...` to completion. */
export function runCli(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; wrapper?: string[] } = {},
): CliResult {
  const argv = [...(options.wrapper ?? []), process.execPath, cliPath, ...args];
  const r: SpawnSyncReturns<string> = spawnSync(argv[0]!, argv.slice(1), {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', ...options.env },
    timeout: options.timeoutMs ?? 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs the CLI in the background, e.g. to send it SIGINT. */
export function spawnCli(args: string[]): ChildProcess {
  return spawn(process.execPath, [cliPath, ...args], { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Collects a child's stdout/stderr and waits for it to exit. */
export function finished(child: ChildProcess): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}

/** Compiles test/workloads/NAME.c with gcc and the given flags into a temp dir; returns the path. */
export function buildWorkload(name: string, flags: string[] = ['-O0', '-fno-omit-frame-pointer']): string {
  const out = join(mkdtempSync(join(tmpdir(), 'ebpf-otel-')), name);
  execFileSync('gcc', [...flags, '-o', out, join(workloadsDir, `${name}.c`)], { stdio: 'inherit' });
  return out;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Compiles a program printing `name value` lines for each C expression, runs it, parses them. */
export function cValues(header: string, exprs: Record<string, string>): Record<string, number> {
  const dir = mkdtempSync(join(tmpdir(), 'layout-'));
  const src = join(dir, 'layout.c');
  const lines = Object.entries(exprs).map(([k, e]) => `  printf("%s %lld\\n", "${k}", (long long)(${e}));`);
  writeFileSync(src, `#include <stdio.h>\n#include <stddef.h>\n#include "${header}"\nint main(void) {\n${lines.join('\n')}\n  return 0;\n}\n`);
  const bin = join(dir, 'layout');
  execFileSync('gcc', ['-Wall', '-Werror', '-I', join(repoRoot, 'bpf'), '-o', bin, src]);
  const out: Record<string, number> = {};
  for (const line of execFileSync(bin, { encoding: 'utf8' }).trim().split('\n')) {
    const [k, v] = line.split(' ');
    out[k!] = Number(v);
  }
  return out;
}

/** Program names in a tool's compiled object (opening it needs no privilege). */
export function programsOf(tool: string): string[] {
  const obj = new (native().BpfObject)(bpfObjectPath(tool));
  try {
    return obj.programs().map((p) => p.name);
  } finally {
    obj.close();
  }
}

export interface FoldedLine {
  frames: string[];
  count: number;
}

/**
 * Strict folded-stack parser for what the tools print (independent of src/render/folded.ts, which
 * it checks): every line must be `frame;frame;... COUNT` with no empty frame.
 */
export function parseFoldedStrict(text: string): FoldedLine[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((line, i) => {
      const m = /^(\S(?:.*\S)?) (\d+)$/.exec(line);
      assert.ok(m, `line ${i + 1} is not folded: ${JSON.stringify(line)}`);
      const frames = m[1]!.split(';');
      assert.ok(frames.every((f) => f.length > 0), `line ${i + 1} has an empty frame`);
      return { frames, count: Number(m[2]) };
    });
}
