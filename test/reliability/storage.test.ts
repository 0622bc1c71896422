// Kernel maps that fill up, and sizes the kernel refuses. A full stack map loses stacks: the loss
// is reported on stderr with the option that fixes it, lost stacks show as markers (never as
// someone else's frames), and every stack kept is a real one.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { requireRoot, runCli, sleep } from '../helpers.js';
import { assertManystacksShape, assertNoStackTrace, fpUnwind, assertReleased, manystacksPath, ourPrograms, startCli, type JsonProfile } from './support.js';

let cpuTarget: ChildProcess | undefined;
let offTarget: ChildProcess | undefined;

before(async () => {
  if (process.getuid?.() !== 0) return;
  cpuTarget = spawn(manystacksPath(), ['cpu', '600'], { stdio: 'ignore' });
  offTarget = spawn(manystacksPath(), ['sleep', '600'], { stdio: 'ignore' });
  await sleep(100);
});
after(() => {
  cpuTarget?.kill('SIGKILL');
  offTarget?.kill('SIGKILL');
});

const MISSED_USER = '[Missed User Stack]';

/** Checks a profile taken with an 8-entry stack map; returns how many stacks were lost. */
function checkKept(name: string, profile: JsonProfile, stderr: string, pid: number): number {
  const warning = /^warning: (\d+) user and (\d+) kernel stacks were lost \(.*\): raise --stack-storage-size \(now 8\)$/m.exec(stderr);
  assert.ok(warning, `${name}: the loss is reported with the option that fixes it:\n${stderr}`);
  const lost = Number(warning[1]) + Number(warning[2]);
  assert.ok(lost > 0);
  assert.equal(profile.stacks.reduce((n, s) => n + s.value, 0), profile.total, `${name}: the total is the sum of what is printed`);
  assert.ok(profile.stacks.every((s) => s.pid === pid), `${name}: only the target`);
  const missed = profile.stacks.filter((s) => s.frames.some((f) => f.name === MISSED_USER));
  assert.ok(missed.length > 0, `${name}: lost user stacks show as a marker`);
  for (const s of missed) assert.ok(s.frames.every((f) => f.kind === 'marker' || f.kind === 'kernel'), `${name}: a marker, never frames: ${s.frames.map((f) => f.name).join(';')}`);
  const kept = new Set<string>();
  for (const s of profile.stacks) {
    const user = s.frames.filter((f) => f.kind === 'user').map((f) => f.name);
    if (user.length === 0) continue;
    kept.add(user.join(';'));
    assertManystacksShape(user, name);
  }
  // User and kernel stacks share the 8 slots; merging by name can only make fewer.
  assert.ok(kept.size >= 1 && kept.size <= 8, `${name}: ${kept.size} distinct user stacks kept in an 8-entry map`);
  return lost;
}

test('cpuprofile with a full stack map: loss reported, lost stacks marked, kept stacks intact', async (t) => {
  if (!requireRoot(t)) return;
  const before = ourPrograms();
  const run = startCli(['cpuprofile', '-p', String(cpuTarget!.pid), ...fpUnwind('cpuprofile'), '-F', '499', '--stack-storage-size', '8', '--json', '1']);
  const r = await run.done;
  assert.equal(r.status, 0, r.stderr);
  checkKept('cpuprofile', JSON.parse(r.stdout) as JsonProfile, r.stderr, cpuTarget!.pid!);
  assertNoStackTrace(r.stderr, 'cpuprofile');
  await assertReleased('cpuprofile with a full stack map', run.seen, before, [run.pid]);
});

test('offcpu with a full stack map, and with a full counts map: losses reported, what was kept is right', async (t) => {
  if (!requireRoot(t)) return;
  const pid = String(offTarget!.pid);
  const r = runCli(['offcpu', '-p', pid, ...fpUnwind('offcpu'), '--stack-storage-size', '8', '--json', '1']);
  assert.equal(r.status, 0, r.stderr);
  checkKept('offcpu', JSON.parse(r.stdout) as JsonProfile, r.stderr, offTarget!.pid!);

  const c = runCli(['offcpu', '-p', pid, ...fpUnwind('offcpu'), '--count-storage-size', '4', '--json', '1']);
  assert.equal(c.status, 0, c.stderr);
  assert.match(c.stderr, /^warning: \d+ blocks were dropped because the counts map was full: raise --count-storage-size \(now 4\)$/m);
  const p = JSON.parse(c.stdout) as JsonProfile;
  assert.ok(p.stacks.length >= 1 && p.stacks.length <= 4, `at most 4 counted stacks, got ${p.stacks.length}`);
  for (const s of p.stacks) assertManystacksShape(s.frames.filter((f) => f.kind === 'user').map((f) => f.name), 'offcpu counts');
  assertNoStackTrace(r.stderr + c.stderr, 'offcpu');
});

test('map sizes the kernel refuses: one line naming the sizes, exit 1, nothing left loaded', async (t) => {
  if (!requireRoot(t)) return;
  const before = ourPrograms();
  const cases: [string[], RegExp][] = [
    [['cpuprofile', '--stack-storage-size', '4294967296', '1'], /^ebpf-otel: cpuprofile: map 'stacks' cannot have 4294967296 entries \(a BPF map holds 1 to 4294967295\): choose a smaller storage size\n$/],
    [['offcpu', '--count-storage-size', '4294967296', '1'], /^ebpf-otel: offcpu: map 'counts' cannot have 4294967296 entries/],
    [['offcpu', '--thread-storage-size', '3000000000', '1'], /^ebpf-otel: offcpu: the kernel cannot create its maps at the sizes asked for \(.*start: 3000000000.*\): .*; choose smaller storage sizes\n$/],
    [['cpuprofile', '--stack-storage-size', '100000000', '1'], /^ebpf-otel: cpuprofile: the kernel cannot create its maps at the sizes asked for \(.*stacks: 100000000.*\): .*; choose smaller storage sizes\n$/],
  ];
  for (const [args, re] of cases) {
    const run = startCli(args);
    const r = await run.done;
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
    assert.equal(r.stdout, '');
    await assertReleased(args.join(' '), run.seen, before, [run.pid]);
  }
});
