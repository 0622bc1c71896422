// cpuprofile end to end, for real: a burner whose CPU split is known, profiled through the CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { buildWorkload, finished, requireRoot, runCli, sleep, spawnCli, parseFoldedStrict, type FoldedLine } from '../helpers.js';

function share(lines: FoldedLine[], leaf: string): number {
  const total = lines.reduce((s, l) => s + l.count, 0);
  return lines.filter((l) => l.frames[l.frames.length - 1] === leaf).reduce((s, l) => s + l.count, 0) / total;
}

let burner: string | undefined;
function burnerPath(): string {
  burner ??= buildWorkload('burner');
  return burner;
}

test('cpuprofile -p attributes the known CPU split to the named functions, under main', async (t) => {
  if (!requireRoot(t)) return;
  const child = spawn(burnerPath(), ['6'], { stdio: 'ignore' });
  try {
    await sleep(200);
    const r = runCli(['cpuprofile', '-p', String(child.pid), '-F', '199', '-f', '3']);
    assert.equal(r.status, 0, r.stderr);
    const lines = parseFoldedStrict(r.stdout);
    const total = lines.reduce((s, l) => s + l.count, 0);
    assert.ok(total > 300, `expected ~600 samples of a busy process at 199 Hz for 3 s, got ${total}`);
    assert.ok(lines.every((l) => l.frames[0] === 'burner'), 'only the target process is sampled');
    const three = share(lines, 'hot_three');
    const one = share(lines, 'hot_one');
    assert.ok(Math.abs(three - 0.75) < 0.08, `hot_three share ${three.toFixed(3)}, expected 0.75`);
    assert.ok(Math.abs(one - 0.25) < 0.08, `hot_one share ${one.toFixed(3)}, expected 0.25`);
    for (const l of lines.filter((x) => x.frames.at(-1) === 'hot_three')) {
      assert.ok(l.frames.includes('main'), `main is above hot_three: ${l.frames.join(';')}`);
    }
  } finally {
    child.kill();
  }
});

test('cpuprofile table and JSON name the hot function; a process that exits mid-profile still resolves', async (t) => {
  if (!requireRoot(t)) return;
  const child = spawn(burnerPath(), ['1'], { stdio: 'ignore' });
  await sleep(100);
  const r = runCli(['cpuprofile', '-p', String(child.pid), '-F', '99', '--json', '2']);
  assert.equal(r.status, 0, r.stderr);
  const profile = JSON.parse(r.stdout) as { kind: string; stacks: { pid: number; value: number; frames: { name: string }[] }[] };
  assert.equal(profile.kind, 'cpu');
  assert.ok(profile.stacks.length > 0);
  assert.ok(profile.stacks.every((s) => s.pid === child.pid));
  assert.ok(profile.stacks.some((s) => s.frames.some((f) => f.name === 'hot_three')), 'hot_three resolved after exit');

  const child2 = spawn(burnerPath(), ['4'], { stdio: 'ignore' });
  try {
    await sleep(100);
    const table = runCli(['cpuprofile', '-p', String(child2.pid), '2']);
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /hot_three/);
    assert.doesNotMatch(table.stdout, /\x1b\[/, 'no colour codes when stdout is not a terminal');
  } finally {
    child2.kill();
  }
});

test('cpuprofile -K keeps only kernel frames, -U only user frames', async (t) => {
  if (!requireRoot(t)) return;
  const child = spawn(burnerPath(), ['5'], { stdio: 'ignore' });
  try {
    await sleep(100);
    const k = runCli(['cpuprofile', '-p', String(child.pid), '-K', '-f', '1']);
    assert.equal(k.status, 0, k.stderr);
    for (const l of parseFoldedStrict(k.stdout)) assert.ok(l.frames.slice(1).every((f) => f.endsWith('_[k]')), l.frames.join(';'));
    const u = runCli(['cpuprofile', '-p', String(child.pid), '-U', '-f', '1']);
    assert.equal(u.status, 0, u.stderr);
    const lines = parseFoldedStrict(u.stdout);
    assert.ok(lines.length > 0);
    for (const l of lines) assert.ok(l.frames.every((f) => !f.endsWith('_[k]')), l.frames.join(';'));
  } finally {
    child.kill();
  }
});

test('Ctrl-C ends collection early and still prints the profile', async (t) => {
  if (!requireRoot(t)) return;
  const child = spawn(burnerPath(), ['6'], { stdio: 'ignore' });
  try {
    await sleep(100);
    const cli = spawnCli(['cpuprofile', '-p', String(child.pid), '-f']);
    const done = finished(cli);
    await sleep(1500);
    cli.kill('SIGINT');
    const r = await done;
    assert.equal(r.status, 0, r.stderr);
    assert.ok(parseFoldedStrict(r.stdout).some((l) => l.frames.includes('hot_three')));
  } finally {
    child.kill();
  }
});

test('bad input: one line on stderr, non-zero exit, no stack trace', (t) => {
  if (!requireRoot(t)) return;
  const cases: [string[], RegExp][] = [
    [['cpuprofile', '-p', '999999999', '1'], /no process with PID 999999999/],
    [['cpuprofile', '-F', 'abc', '1'], /frequency must be a positive integer/],
    [['cpuprofile', '-p', '1', '-U', '-K', '1'], /cannot be used with/],
    [['cpuprofile', 'soon'], /duration must be a positive number/],
    [['cpuprofile', '--no-such-option'], /unknown option/],
  ];
  for (const [args, expected] of cases) {
    const r = runCli(args);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.match(r.stderr, expected);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});

test('without root privileges: one line saying to use sudo, exit code 1', (t) => {
  if (!requireRoot(t)) return;
  const r = runCli(['cpuprofile', '1'], { wrapper: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all'] });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^ebpf-otel: cpuprofile needs root .*sudo\n$/);
});
