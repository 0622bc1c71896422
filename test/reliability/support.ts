// What the reliability tests share: the CLI run in the background with the BPF objects it holds
// watched from /proc, checks that nothing of ours stays in the kernel after it ends (bpftool and
// /proc/*/fdinfo), the many-stacks workload, and small parsers.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliPath, repoRoot, runCli, sleep } from '../helpers.js';

export const BPFTOOL = existsSync('/usr/sbin/bpftool') ? '/usr/sbin/bpftool' : 'bpftool';

/** Names of the BPF programs our objects define (bpf/*.bpf.c). */
export const OUR_PROGRAM = /^(cpuprofile_|offcpu_|biolatency_|tcprtt_|probe_)/;

// ---------------------------------------------------------------------------------------------
// BPF objects in the kernel and who holds them

export interface HeldIds {
  progs: Set<number>;
  links: Set<number>;
  maps: Set<number>;
}

export function emptyHeld(): HeldIds {
  return { progs: new Set(), links: new Set(), maps: new Set() };
}

/** The BPF programs, links and maps a process holds open (through fds; a link's program counts). */
export function heldBy(pid: number, into: HeldIds = emptyHeld()): HeldIds {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fdinfo`);
  } catch {
    return into;
  }
  for (const fd of fds) {
    let info: string;
    try {
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue;
    }
    for (const m of info.matchAll(/^(prog_id|link_id|map_id):\s*(\d+)$/gm)) {
      const id = Number(m[2]);
      if (m[1] === 'prog_id') into.progs.add(id);
      else if (m[1] === 'link_id') into.links.add(id);
      else into.maps.add(id);
    }
  }
  return into;
}

/** Everything every live process holds. */
export function heldByAnyone(): HeldIds {
  const all = emptyHeld();
  for (const entry of readdirSync('/proc')) if (/^\d+$/.test(entry)) heldBy(Number(entry), all);
  return all;
}

interface BpftoolProg {
  id: number;
  name?: string;
  type?: string;
  pids?: { pid: number; comm: string }[];
}

function bpftool<T>(...args: string[]): T[] {
  const out = execFileSync(BPFTOOL, [...args, '-j'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return (out.trim() === '' ? [] : JSON.parse(out)) as T[];
}

export function programs(): BpftoolProg[] {
  return bpftool<BpftoolProg>('prog', 'show');
}

export function linkIds(): Set<number> {
  return new Set(bpftool<{ id: number }>('link', 'show').map((l) => l.id));
}

export function mapIds(): Set<number> {
  return new Set(bpftool<{ id: number }>('map', 'show').map((m) => m.id));
}

/** Ids of the programs of ours loaded now (anyone's: other tests may run at the same time). */
export function ourPrograms(): Set<number> {
  return new Set(programs().filter((p) => OUR_PROGRAM.test(p.name ?? '')).map((p) => p.id));
}

/**
 * Waits (at most `timeoutMs`; the kernel frees programs after an RCU grace period) until nothing
 * `seen` held is in the kernel any more, and no program of ours loaded since `before` is left
 * without a live holder. Programs of ours that another live process holds belong to someone else
 * (tests run side by side) and are not ours to judge; bpftool's `pids`, when it reports them,
 * say the same.
 */
export async function assertReleased(what: string, seen: HeldIds, before: Set<number>, exitedPids: number[] = [], timeoutMs = 8000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const progs = programs();
    const progIds = new Set(progs.map((p) => p.id));
    const links = linkIds();
    const maps = mapIds();
    const held = heldByAnyone();
    const problems: string[] = [];
    const stillProgs = [...seen.progs].filter((id) => progIds.has(id));
    const stillLinks = [...seen.links].filter((id) => links.has(id));
    const stillMaps = [...seen.maps].filter((id) => maps.has(id));
    if (stillProgs.length) problems.push(`programs ${stillProgs.join(', ')} it held are still loaded`);
    if (stillLinks.length) problems.push(`links ${stillLinks.join(', ')} it held still exist`);
    if (stillMaps.length) problems.push(`maps ${stillMaps.join(', ')} it held still exist`);
    const orphans = progs.filter(
      (p) =>
        OUR_PROGRAM.test(p.name ?? '') &&
        !before.has(p.id) &&
        (!held.progs.has(p.id) || (p.pids ?? []).some((o) => exitedPids.includes(o.pid))),
    );
    if (orphans.length) problems.push(`programs of ours with no live holder: ${orphans.map((p) => `${p.name} (id ${p.id})`).join(', ')}`);
    if (problems.length === 0) return;
    if (Date.now() > end) assert.fail(`${what}: left behind in the kernel: ${problems.join('; ')}`);
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------
// The CLI in the background

export interface RunResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Run {
  child: ChildProcess;
  pid: number;
  /** BPF objects the process was seen holding (polled from /proc while it runs). */
  seen: HeldIds;
  stdout(): string;
  stderr(): string;
  done: Promise<RunResult>;
  exited(): boolean;
}

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  /** Do not read standard output until `resumeStdout` is called: the tool's writes block once the pipe fills. */
  pausedStdout?: boolean;
}

/** Starts `ebpf-otel ARGS...` and watches which BPF objects it holds until it exits. */
export function startCli(args: string[], options: StartOptions = {}): Run {
  const child = spawn(process.execPath, [cliPath, ...args], {
    env: { ...process.env, NO_COLOR: '1', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid!;
  const seen = emptyHeld();
  let stdout = '';
  let stderr = '';
  let exited = false;
  const poll = setInterval(() => heldBy(pid, seen), 5);
  const onOut = (d: string) => (stdout += d);
  if (options.pausedStdout) child.stdout.pause();
  else child.stdout.setEncoding('utf8').on('data', onOut);
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<RunResult>((resolve) =>
    child.on('close', (status, signal) => {
      clearInterval(poll);
      exited = true;
      resolve({ status, signal, stdout, stderr });
    }),
  );
  child.on('exit', () => clearInterval(poll));
  return { child, pid, seen, stdout: () => stdout, stderr: () => stderr, done, exited: () => exited };
}

/** Reads the rest of a run started with `pausedStdout`, from now on. */
export function resumeStdout(run: Run): void {
  run.child.stdout!.setEncoding('utf8');
  run.child.stdout!.resume();
}

export async function until(what: string, cond: () => boolean, timeoutMs = 15_000, run?: Run): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (run?.exited()) assert.fail(`waiting for ${what}: the tool exited first; stderr: ${run.stderr()}`);
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}${run ? `; stderr: ${run.stderr()}` : ''}`);
    await sleep(10);
  }
}

/**
 * Spins (blocking this process: nothing else must happen meanwhile) until `pid` holds its first
 * BPF map or program, i.e. it is loading its object. Returns false if it exited or never did.
 */
export function spinUntilLoading(pid: number, timeoutMs = 15_000): boolean {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      return false;
    }
    for (const fd of fds) {
      try {
        if (/^anon_inode:bpf[-_](map|prog)$/.test(readlinkSync(`/proc/${pid}/fd/${fd}`))) return true;
      } catch {
        // closed meanwhile
      }
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Output checks

/** No JavaScript stack trace, no `internal error`. */
export function assertNoStackTrace(stderr: string, what: string): void {
  assert.doesNotMatch(stderr, /\n\s+at .+[(:]\d+/, `${what}: a stack trace on stderr:\n${stderr}`);
  assert.doesNotMatch(stderr, /internal error|Unhandled|node:internal|throw er/, `${what}: an internal error on stderr:\n${stderr}`);
}

/** The last non-empty line of stderr. */
export function lastLine(text: string): string {
  return text.trimEnd().split('\n').at(-1) ?? '';
}

export interface FoldedLine {
  frames: string[];
  count: number;
}

/** Strict folded-stack parser: every line must be `frame;frame;... COUNT`. */
export function parseFolded(text: string): FoldedLine[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((line, i) => {
      const m = /^(\S(?:.*\S)?) (\d+)$/.exec(line);
      assert.ok(m, `line ${i + 1} is not folded: ${JSON.stringify(line.slice(0, 200))}`);
      const frames = m[1]!.split(';');
      assert.ok(frames.every((f) => f.length > 0), `line ${i + 1} has an empty frame`);
      return { frames, count: Number(m[2]) };
    });
}

export interface JsonStack {
  pid: number;
  tid: number;
  comm: string;
  value: number;
  count: number | null;
  frames: { name: string; kind: string }[];
}

export interface JsonProfile {
  kind: string;
  unit: string;
  total: number;
  stacks: JsonStack[];
}

// ---------------------------------------------------------------------------------------------
// Workloads

let manystacks: string | undefined;

/** test/reliability/workloads/manystacks.c, built once with frame pointers. */
export function manystacksPath(): string {
  if (!manystacks) {
    const dir = mkdtempSync(join(tmpdir(), 'ebpf-otel-rel-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    const out = join(dir, 'manystacks');
    execFileSync('gcc', ['-O0', '-fno-omit-frame-pointer', '-o', out, join(repoRoot, 'test', 'reliability', 'workloads', 'manystacks.c')], { stdio: 'inherit' });
    manystacks = out;
  }
  return manystacks;
}

const WALK_FRAME = /^(walk|step|leaf|f[0-7])$/;

/**
 * Checks user frames of a manystacks stack (root first, after the process name) against the
 * shape every real one has: ..., main, walk, (step, fN)*, step?, leaf?. Anything above main is
 * libc's start code; a frame after the walk that is not ours may only be the last (vdso).
 */
export function assertManystacksShape(frames: readonly string[], context: string): void {
  const main = frames.indexOf('main');
  if (main < 0) return; // a stack cut short above main ([unknown] frames): nothing to check
  const walk = frames.slice(main + 1);
  let i = 0;
  const ours = walk.filter((f) => WALK_FRAME.test(f));
  const tail = walk.slice(ours.length);
  assert.ok(tail.length <= 1 && walk.slice(0, ours.length).every((f) => WALK_FRAME.test(f)), `${context}: not a manystacks path: ${frames.join(';')}`);
  if (ours.length === 0) return;
  assert.equal(ours[i++], 'walk', `${context}: ${frames.join(';')}`);
  while (i < ours.length) {
    assert.equal(ours[i], 'step', `${context}: step expected at ${i}: ${frames.join(';')}`);
    i++;
    if (i < ours.length) {
      assert.match(ours[i]!, /^(f[0-7]|leaf)$/, `${context}: ${frames.join(';')}`);
      if (ours[i] === 'leaf') assert.equal(i, ours.length - 1, `${context}: leaf is the last frame: ${frames.join(';')}`);
      i++;
    }
  }
}

const unwindOption = new Map<string, boolean>();

/**
 * `--unwind fp` where the tool has that option: user stacks walked by the kernel into the stack
 * map (the map --stack-storage-size sizes), rather than copied and unwound in user space.
 */
export function fpUnwind(tool: 'cpuprofile' | 'offcpu'): string[] {
  if (!unwindOption.has(tool)) unwindOption.set(tool, /--unwind <mode>/.test(runCli([tool, '--help']).stdout));
  return unwindOption.get(tool) ? ['--unwind', 'fp'] : [];
}
