// Where output goes: files that exist, symbolic links (never followed by root), directories that
// cannot be written, a disk that is full, a reader that goes away, and a million lines streamed
// through a pipe. Each ends in a correct result or one line and a non-zero exit, and what was
// recorded is never lost silently.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildWorkload, cliPath, requireRoot, runCli, sleep } from '../helpers.js';
import { closedPort } from '../otlp/receiver.js';
import { assertNoStackTrace, assertReleased, lastLine, manystacksPath, ourPrograms, startCli, until } from './support.js';

const work = mkdtempSync(join(tmpdir(), 'ebpf-otel-rel-out-'));
chmodSync(work, 0o755);
after(() => rmSync(work, { recursive: true, force: true }));

const FOLDED = 'app;main;work 30\napp;main;idle 10\n';
const folded = join(work, 'in.folded');
writeFileSync(folded, FOLDED, { mode: 0o644 });

function pageTotal(html: string): number {
  const m = /<script type="application\/json" id="flame-data">([\s\S]*?)<\/script>/.exec(html);
  assert.ok(m, 'a flame page');
  return (JSON.parse(m[1]!) as { tree: { v: number } }).tree.v;
}

let burner: string | undefined;
const burnerPath = () => (burner ??= buildWorkload('burner'));

test('an output file that exists is replaced whole: the new result, its mode and owner kept, other hard links untouched', (t) => {
  if (!requireRoot(t)) return;
  const out = join(work, 'existing.html');
  const other = join(work, 'other-link.html');
  writeFileSync(out, 'old content');
  linkSync(out, other);
  chmodSync(out, 0o640);
  chownSync(out, 65534, 65534);
  const r = runCli(['flame', folded, '-o', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(pageTotal(readFileSync(out, 'utf8')), 40);
  const st = statSync(out);
  assert.equal(st.mode & 0o777, 0o640, 'mode kept');
  assert.deepEqual([st.uid, st.gid], [65534, 65534], 'owner kept');
  assert.equal(readFileSync(other, 'utf8'), 'old content', 'a second hard link to the old file is not written through');
  assert.deepEqual(readdirSync(work).filter((f) => f.endsWith('.tmp')), [], 'no temporary file left');

  const ss = join(work, 'existing.json');
  writeFileSync(ss, 'old');
  const s = runCli(['flame', folded, '--speedscope', ss]);
  assert.equal(s.status, 0, s.stderr);
  assert.equal((JSON.parse(readFileSync(ss, 'utf8')) as { profiles: { endValue: number }[] }).profiles[0]!.endValue, 40);
});

test('a symbolic link as the output is never written through by root (-o, --speedscope, dangling or not)', (t) => {
  if (!requireRoot(t)) return;
  const victim = join(work, 'victim.txt');
  writeFileSync(victim, 'precious');
  const link = join(work, 'planted.html');
  symlinkSync(victim, link);
  const absent = join(work, 'would-be-created');
  const dangling = join(work, 'dangling.json');
  symlinkSync(absent, dangling);
  for (const args of [
    [folded, '-o', link],
    [folded, '--speedscope', link],
    [folded, '-o', join(work, 'fine.html'), '--speedscope', dangling],
  ]) {
    const r = runCli(['flame', ...args]);
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^ebpf-otel: not writing (the flame graph|speedscope JSON) to \S+: it is a symbolic link, and as root ebpf-otel never writes through one \(remove it or choose another path\)\n$/);
  }
  assert.equal(readFileSync(victim, 'utf8'), 'precious');
  assert.ok(lstatSync(link).isSymbolicLink());
  assert.equal(existsSync(absent), false, 'the dangling link target was not created');
  assert.equal(existsSync(join(work, 'fine.html')), false, 'checked before anything is written');
  // Links the kernel provides for standard streams are fine.
  // (through a shell pipe: the test runner's own pipes are sockets, which /dev/stdout cannot reopen)
  const viaStdout = spawnSync('sh', ['-c', '"$0" "$1" flame "$2" -o /dev/stdout | cat', process.execPath, cliPath, folded], { encoding: 'utf8' });
  assert.equal(viaStdout.status, 0, viaStdout.stderr);
  assert.equal(pageTotal(viaStdout.stdout), 40);
});

test('flame cpu: a bad output path fails before recording; a write that fails after recording saves the graph elsewhere and says where', async (t) => {
  if (!requireRoot(t)) return;
  const target = spawn(burnerPath(), ['30'], { stdio: 'ignore' });
  const saved: string[] = [];
  try {
    await sleep(100);
    const pid = String(target.pid);
    const link = join(work, 'cpu-link.html');
    symlinkSync(join(work, 'cpu-victim.html'), link);
    for (const [out, reason] of [
      [join(work, 'no', 'such', 'dir', 'cpu.html'), /no such directory: \S+\/no\/such\/dir/],
      ['/proc/ebpf-otel-cpu.html', /no such file or directory|permission denied/],
      [link, /it is a symbolic link/],
      [work, /is a directory/],
    ] as const) {
      const before = ourPrograms();
      const run = startCli(['-v', 'flame', 'cpu', '-p', pid, '1', '-o', out]);
      const r = await run.done;
      assert.equal(r.status, 1, `${out}: ${r.stderr}`);
      assert.match(r.stderr, reason);
      assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /attached with/, 'nothing was recorded');
      assert.equal(run.seen.progs.size, 0, 'nothing was loaded');
      await assertReleased(`flame cpu -o ${out}`, run.seen, before, [run.pid]);
    }
    assert.equal(existsSync(join(work, 'cpu-victim.html')), false);

    // /dev/full passes every check and fails on write (a full disk): the graph is kept.
    const ss = join(work, 'cpu.speedscope.json');
    const r = runCli(['flame', 'cpu', '-p', pid, '-F', '199', '1', '-o', '/dev/full', '--speedscope', ss]);
    assert.equal(r.status, 1, r.stderr);
    const m = /^ebpf-otel: cannot write the flame graph to \/dev\/full: no space left on device; saved to (\S+\.html) instead$/.exec(lastLine(r.stderr));
    assert.ok(m, r.stderr);
    saved.push(m[1]!);
    const page = readFileSync(m[1]!, 'utf8');
    assert.ok(pageTotal(page) > 0);
    assert.match(page, /hot_three/);
    assert.equal(statSync(m[1]!).mode & 0o777, 0o600);
    assert.match(r.stderr, /wrote speedscope JSON to /, 'the other output was still written');
    assert.ok(readFileSync(ss, 'utf8').includes('hot_three'));
  } finally {
    target.kill();
    for (const f of saved) rmSync(f, { force: true });
  }
});

test('an unwritable output directory: one line and exit 1 for a user (permission denied) and for root (read-only mount)', (t) => {
  if (!requireRoot(t)) return;
  const locked = join(work, 'locked');
  mkdirSync(locked, { mode: 0o555 });
  chmodSync(locked, 0o555);
  const nobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'];
  const user = runCli(['flame', folded, '-o', join(locked, 'x.html')], { wrapper: nobody });
  assert.equal(user.status, 1, user.stderr);
  assert.match(user.stderr, /^ebpf-otel: cannot write the flame graph to \S+\/locked\/x\.html: permission denied\n$/);
  // ... while an existing file there that the user may write is rewritten in place.
  writeFileSync(join(locked, 'mine.html'), 'old');
  chownSync(join(locked, 'mine.html'), 65534, 65534);
  const mine = runCli(['flame', folded, '-o', join(locked, 'mine.html')], { wrapper: nobody });
  assert.equal(mine.status, 0, mine.stderr);
  assert.equal(pageTotal(readFileSync(join(locked, 'mine.html'), 'utf8')), 40);

  // Root is refused only by the file system: a read-only bind mount, in a mount namespace of its own.
  const ro = join(work, 'ro');
  mkdirSync(ro);
  const script = `mount --bind -o ro "$1" "$1" && mount -o remount,bind,ro "$1" && exec "$2" "$3" flame "$4" -o "$1/x.html"`;
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', ro, process.execPath, cliPath, folded], { encoding: 'utf8' });
  if (/unshare failed|Operation not permitted/.test(r.stderr ?? '')) {
    t.diagnostic(`no mount namespace here (${r.stderr.trim()}): read-only case not run`);
    return;
  }
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^ebpf-otel: cannot write the flame graph to \S+\/ro\/x\.html: read-only file system\n$/);
});

test('OTLP failed payloads: saved where TMPDIR says, or the error says it could not be saved; the printed output stays', async (t) => {
  if (!requireRoot(t)) return;
  const port = await closedPort();
  const dir = join(work, 'payloads');
  mkdirSync(dir);
  for (const [tmp, re] of [
    [dir, /payload saved to (\S+)$/],
    ['/proc', /the payload could not be saved either \((?:ENOENT|EACCES)\)$/],
  ] as const) {
    const r = runCli(['tcprtt', '--json', '-d', '0.3', '--otlp', `http://127.0.0.1:${port}`], { env: { TMPDIR: tmp } });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /^\{"schema":"ebpf-otel\/histograms@1"/, 'printed first');
    const m = re.exec(lastLine(r.stderr));
    assert.ok(m, r.stderr);
    if (m[1]) {
      assert.ok(m[1].startsWith(`${dir}/ebpf-otel-metrics-`), m[1]);
      assert.equal(statSync(m[1]).mode & 0o777, 0o600);
    }
  }
});

test('standard output that fails: a full disk is one line and exit 1; a reader that goes away stops the tool quietly', async (t) => {
  if (!requireRoot(t)) return;
  for (const args of [
    ['flame', folded],
    ['tcprtt', '--json', '-d', '0.3'],
  ]) {
    const r = spawnSync('sh', ['-c', `exec "$0" "$@" > /dev/full`, process.execPath, cliPath, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(lastLine(r.stderr), /^ebpf-otel: cannot write to standard output: no space left on device/);
    assertNoStackTrace(r.stderr, args.join(' '));
  }

  // biolatency printing every 0.2 s into a reader that takes one line and leaves: the next print
  // finds the pipe broken, and the tool stops (exit 141, as a filter killed by SIGPIPE) instead
  // of tracing on.
  const before = ourPrograms();
  const run = startCli(['biolatency', '-T', '0.2']);
  const out = run.child.stdout!;
  await until('a first print', () => run.stdout().includes('\n'), 20_000, run);
  out.destroy();
  const r = await run.done;
  assert.equal(r.status, 141, r.stderr);
  assertNoStackTrace(r.stderr, 'biolatency | head');
  assert.doesNotMatch(r.stderr, /ebpf-otel:/, 'quietly');
  await assertReleased('biolatency with its reader gone', run.seen, before, [run.pid]);

  // A stack tool printing megabytes to a reader that takes the first chunk and leaves.
  const target = spawn(manystacksPath(), ['cpu', '30'], { stdio: 'ignore' });
  try {
    await sleep(100);
    const cpu = startCli(['cpuprofile', '-p', String(target.pid), '-F', '999', '-f', '1']);
    await until('the first chunk of the profile', () => cpu.stdout().length > 0, 20_000, cpu);
    cpu.child.stdout!.destroy();
    const c = await cpu.done;
    assert.ok(c.status === 141 || c.status === 0, `status ${c.status}: ${c.stderr}`);
    assertNoStackTrace(c.stderr, 'cpuprofile | head -c 1');
    assert.doesNotMatch(c.stderr, /ebpf-otel:/, 'quietly');
  } finally {
    target.kill();
  }
});

test('a million folded lines streamed through a pipe, drawn to a pipe, in bounded memory', async (t) => {
  if (!requireRoot(t)) return;
  // The generator writes as fast as the pipe takes it; the input never exists as a file.
  const gen = `let i=0;const w=()=>{let ok=true;while(i<1e6&&ok){let b='';for(let j=0;j<1000;j++,i++)b+='p'+(i%3)+';main;f'+(i%50)+';leaf'+(i%7)+'_[k] '+(1+i%4)+'\\n';ok=process.stdout.write(b);}if(i<1e6)process.stdout.once('drain',w);};w();`;
  const r = spawnSync('sh', ['-c', `"$0" -e "$1" | NODE_OPTIONS=--max-old-space-size=64 "$0" "$2" flame --countname us -o - --speedscope "$3"`, process.execPath, gen, cliPath, join(work, 'million.json')], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  assert.equal(r.status, 0, r.stderr);
  let total = 0;
  for (let i = 0; i < 1e6; i++) total += 1 + (i % 4);
  assert.equal(pageTotal(r.stdout), total);
  const ss = JSON.parse(readFileSync(join(work, 'million.json'), 'utf8')) as { profiles: { endValue: number }[] };
  assert.equal(ss.profiles[0]!.endValue, total);
});
