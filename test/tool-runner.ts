// Running tools that trace until stopped (the histogram tools): to completion, or in the
// background until they say they are tracing, then Ctrl-C.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cliPath } from './helpers.js';
import type { HistogramSetJson } from '../src/render/json.js';

export interface ToolResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function entryArgv(): { argv: string[]; env: NodeJS.ProcessEnv } {
  return { argv: [cliPath], env: { ...process.env, NO_COLOR: '1' } };
}

/** Runs `ebpf-otel ARGS...` to completion. */
export function runTool(args: string[], timeoutMs = 30_000): ToolResult {
  const { argv, env } = entryArgv();
  const r = spawnSync(process.execPath, [...argv, ...args], { encoding: 'utf8', env, timeout: timeoutMs, maxBuffer: 64 << 20 });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

export interface RunningTool {
  child: ChildProcess;
  /** Sends SIGINT (Ctrl-C) and waits for the tool to print and exit. */
  stop(): Promise<ToolResult>;
  /** Waits for the tool to exit by itself. */
  done: Promise<ToolResult>;
}

/** Starts `ebpf-otel ARGS...` and resolves once it is tracing (its `Hit Ctrl-C` line on stderr). */
export function startTool(args: string[], readyTimeoutMs = 20_000): Promise<RunningTool> {
  const { argv, env } = entryArgv();
  const child = spawn(process.execPath, [...argv, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  const done = new Promise<ToolResult>((resolve) =>
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr })),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')}: not tracing after ${readyTimeoutMs} ms; stderr: ${stderr}`));
    }, readyTimeoutMs);
    const running: RunningTool = {
      child,
      done,
      stop: () => {
        child.kill('SIGINT');
        return done;
      },
    };
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (stderr.includes('Hit Ctrl-C to end.')) {
        clearTimeout(timer);
        resolve(running);
      }
    });
    void done.then((r) => {
      clearTimeout(timer);
      if (!stderr.includes('Hit Ctrl-C to end.')) reject(new Error(`${args.join(' ')} exited (${r.status}) before tracing: ${r.stderr}`));
    });
  });
}

/** The histogram JSON documents a tool printed, one per line. */
export function parseJsonLines(stdout: string): HistogramSetJson[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as HistogramSetJson);
}

/** Total count of the histograms whose labels satisfy `match`. */
export function totalWhere(set: HistogramSetJson, match: (labels: Record<string, string>) => boolean = () => true): number {
  return set.histograms.filter((h) => match(h.labels)).reduce((s, h) => s + h.total, 0);
}
