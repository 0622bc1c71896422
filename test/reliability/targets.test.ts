// The processes a tool is pointed at: one that exits mid-profile, one that never existed, a thread
// id given where a process id belongs, a kernel thread.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildWorkload, finished, requireRoot, runCli, sleep, spawnCli } from '../helpers.js';
import { decodeProfilesRequest, readProfiles, startReceiver } from '../otlp/receiver.js';
import { assertNoStackTrace, assertReleased, ourPrograms, parseFolded, startCli, until, type JsonProfile } from './support.js';

let burner: string | undefined;
const burnerPath = () => (burner ??= buildWorkload('burner'));

function pageData(html: string): { tree: { n: string; v: number; c?: unknown[] } } {
  const m = /<script type="application\/json" id="flame-data">([\s\S]*?)<\/script>/.exec(html);
  assert.ok(m, 'the page carries its data');
  return JSON.parse(m[1]!) as { tree: { n: string; v: number } };
}

test('targets that exit mid-profile keep their stacks, names and OTLP resource; the one still running too', async (t) => {
  if (!requireRoot(t)) return;
  const receiver = await startReceiver();
  const leaving = spawn(burnerPath(), ['30'], { stdio: 'ignore' });
  const staying = spawn(burnerPath(), ['30'], { stdio: 'ignore' });
  try {
    await sleep(100);
    const before = ourPrograms();
    const run = startCli(['-v', 'cpuprofile', '-p', `${leaving.pid},${staying.pid}`, '-F', '199', '--json', '--otlp', receiver.base, '2']);
    await until('cpuprofile to attach', () => /attached with/.test(run.stderr()), 20_000, run);
    await sleep(500);
    leaving.kill('SIGKILL');
    const r = await run.done;
    assert.equal(leaving.signalCode, 'SIGKILL', 'the first target ended during the profile');
    assert.equal(r.status, 0, r.stderr);
    const profile = JSON.parse(r.stdout) as JsonProfile;
    for (const pid of [leaving.pid!, staying.pid!]) {
      const mine = profile.stacks.filter((s) => s.pid === pid);
      assert.ok(mine.length > 0, `PID ${pid} has stacks`);
      assert.ok(mine.every((s) => s.comm === 'burner'));
      assert.ok(mine.some((s) => s.frames.some((f) => f.name === 'hot_three')), `PID ${pid}: its user frames resolved`);
    }
    assert.equal(receiver.requests.length, 1);
    const exported = readProfiles(decodeProfilesRequest(receiver.requests[0]!.body));
    const gone = exported.find((p) => p.resource['process.pid'] === leaving.pid);
    assert.ok(gone, 'the exited process has its resource');
    assert.equal(gone.resource['process.executable.name'], 'burner', 'captured while it ran');
    assert.match(String(gone.resource['process.executable.path']), /\/burner$/);
    assert.ok(gone.samples.some((s) => s.frames.some((f) => f.name === 'hot_three')));
    assertNoStackTrace(r.stderr, 'cpuprofile');
    await assertReleased('cpuprofile with a target that exited', run.seen, before, [run.pid]);
  } finally {
    leaving.kill();
    staying.kill();
    await receiver.close();
  }
});

test('flame cpu: a target that exits mid-recording is still drawn', async (t) => {
  if (!requireRoot(t)) return;
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-otel-rel-'));
  const target = spawn(burnerPath(), ['30'], { stdio: 'ignore' });
  try {
    await sleep(100);
    const out = join(dir, 'gone.html');
    const run = startCli(['-v', 'flame', 'cpu', '-p', String(target.pid), '-F', '199', '2', '-o', out]);
    await until('flame cpu to attach', () => /attached with/.test(run.stderr()), 20_000, run);
    await sleep(500);
    target.kill('SIGKILL');
    const r = await run.done;
    assert.equal(r.status, 0, r.stderr);
    const data = pageData(readFileSync(out, 'utf8'));
    assert.ok(data.tree.v > 0);
    assert.match(readFileSync(out, 'utf8'), /hot_three/);
  } finally {
    target.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a PID or TID that does not exist: one line, exit 1, before anything is loaded, for every tool that takes one', async (t) => {
  if (!requireRoot(t)) return;
  const cases: [string[], RegExp][] = [
    [['cpuprofile', '-L', '999999999', '1'], /^ebpf-otel: no thread with TID 999999999\n$/],
    [['cpuprofile', '-p', '1,999999999', '1'], /^ebpf-otel: no process with PID 999999999\n$/],
    [['flame', 'cpu', '-p', '999999999', '1', '-o', '-'], /^ebpf-otel: no process with PID 999999999\n$/],
    [['flame', 'cpu', '-L', '999999999', '1', '-o', '-'], /^ebpf-otel: no thread with TID 999999999\n$/],
    [['offcpu', '-t', '1,999999999', '1'], /^ebpf-otel: no thread with TID 999999999\n$/],
  ];
  for (const [args, re] of cases) {
    const run = startCli(args);
    const r = await run.done;
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
    assert.equal(r.stdout, '');
    assert.equal(run.seen.progs.size + run.seen.maps.size, 0, `${args.join(' ')}: nothing was loaded`);
  }
});

test('a thread id given as -p is refused, naming its process (not an empty profile)', async (t) => {
  if (!requireRoot(t)) return;
  // Node has threads besides its main one (libuv, V8): their ids are in /proc but are not processes.
  const proc = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  try {
    await sleep(300);
    const tid = readdirSync(`/proc/${proc.pid}/task`).map(Number).find((id) => id !== proc.pid);
    assert.ok(tid, 'a second thread');
    for (const [tool, threadOption] of [
      ['cpuprofile', '-L'],
      ['offcpu', '-t'],
    ] as const) {
      const r = runCli([tool, '-p', String(tid), '1']);
      assert.equal(r.status, 1, `${tool} -p ${tid} (a thread of ${proc.pid}): status ${r.status}, stdout ${r.stdout.slice(0, 200)}`);
      assert.equal(r.stderr, `ebpf-otel: ${tid} is a thread of process ${proc.pid}, not a process: use ${threadOption} ${tid} for that thread, or -p ${proc.pid}\n`);
    }
    // ... and the same id as a thread is fine.
    const ok = runCli(['cpuprofile', '-L', String(tid), '-f', '0.5']);
    assert.equal(ok.status, 0, ok.stderr);
  } finally {
    proc.kill();
  }
});

/** A kernel thread that blocks often: rcu_preempt / rcu_sched, else any kthreadd child. */
function kernelThread(): { pid: number; comm: string } {
  const threads: { pid: number; comm: string; ppid: number }[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      threads.push({ pid: Number(e), comm, ppid });
    } catch {
      // gone
    }
  }
  const kthreads = threads.filter((p) => p.ppid === 2);
  const pick = kthreads.find((p) => /^rcu_(preempt|sched)$/.test(p.comm)) ?? kthreads.find((p) => p.comm.startsWith('ksoftirqd/')) ?? kthreads[0];
  assert.ok(pick, 'a kernel thread');
  return pick;
}

test('a kernel thread as the target: its kernel stacks, no user frames, no bogus warnings', async (t) => {
  if (!requireRoot(t)) return;
  const k = kernelThread();
  // On an idle machine rcu_preempt can sleep through seconds (seen in CI): give it work while
  // the tool traces. Every process that exits frees its task through call_rcu, so a few short
  // ones make the grace-period thread run, and block again.
  const tracing = finished(spawnCli(['offcpu', '-p', String(k.pid), '-f', '2']));
  for (let i = 0; i < 30; i++) {
    spawnSync('/bin/true');
    await sleep(50);
  }
  const off = await tracing;
  assert.equal(off.status, 0, off.stderr);
  const lines = parseFolded(off.stdout);
  for (const l of lines) {
    assert.equal(l.frames[0], k.comm);
    assert.ok(l.frames.slice(1).every((f) => f.endsWith('_[k]')), `only kernel frames: ${l.frames.join(';')}`);
  }
  assert.doesNotMatch(off.stderr, /exited before|memory maps/, 'a kernel thread has no maps to read: not an error');
  if (/^rcu_/.test(k.comm)) assert.ok(lines.length > 0, `${k.comm} blocks within two seconds`);

  const cpu = runCli(['cpuprofile', '-p', String(k.pid), '--json', '1']);
  assert.equal(cpu.status, 0, cpu.stderr);
  const profile = JSON.parse(cpu.stdout) as JsonProfile;
  for (const s of profile.stacks) {
    assert.equal(s.pid, k.pid);
    assert.ok(s.frames.every((f) => f.kind === 'kernel'), JSON.stringify(s.frames.map((f) => f.name)));
  }
  assert.doesNotMatch(cpu.stderr, /exited before|memory maps/);
  assertNoStackTrace(cpu.stderr + off.stderr, 'kernel thread');
});
