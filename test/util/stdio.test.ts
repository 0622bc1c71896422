// Standard output and error as the commands write them (src/util/stdio.ts), in a child process
// whose descriptors the test chooses: a pipe nobody reads (the writer keeps answering, and every
// byte arrives in order once the reader reads), a file, /dev/full, a reader that went away; and
// the histogram tools, end to end, without loading Node's stream modules.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { cliPath, requireRoot, runCli } from '../helpers.js';

const lastLine = (text: string): string => text.trimEnd().split('\n').at(-1) ?? '';

const stdioUrl = new URL('../../src/util/stdio.js', import.meta.url).href;

/** A child that imports stdio.js and runs `body` (an async function body with `stdout`, `stderr`). */
function script(body: string): string[] {
  return ['--input-type=module', '-e', `import { stdout, stderr } from ${JSON.stringify(stdioUrl)};\n${body}`];
}

/** Lines of ~100 bytes, numbered: order and completeness are checkable. */
const LINES = `const line = (i) => String(i).padStart(8, '0') + ' ' + 'x'.repeat(90) + '\\n';`;

function checkLines(text: string, count: number): void {
  const lines = text.split('\n');
  assert.equal(lines.pop(), '');
  assert.equal(lines.length, count);
  lines.forEach((l, i) => assert.equal(l.slice(0, 8), String(i).padStart(8, '0')));
}

test('a pipe nobody reads: writes queue, timers and signals still run, and all of it arrives in order', async () => {
  const count = 20_000; // ~2 MB: far beyond a pipe's 64 KB
  const child = spawn(
    process.execPath,
    script(`${LINES}
for (let i = 0; i < ${count}; i++) stdout.write(line(i));
stderr.write('queued ' + stdout.pendingBytes + '\\n');
setTimeout(() => stderr.write('timer ran, pending ' + stdout.pendingBytes + '\\n'), 100);
process.on('SIGUSR2', () => stderr.write('signal handled\\n'));`),
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.pause();
  try {
    // The reader takes nothing for a while: the writer is not blocked in write(2).
    for (let i = 0; i < 100 && !err.includes('timer ran'); i++) await sleep(20);
    assert.match(err, /^queued (\d+)\n/);
    assert.ok(Number(/^queued (\d+)/.exec(err)![1]) > 1_000_000, err);
    assert.match(err, /timer ran, pending \d+/);
    child.kill('SIGUSR2');
    for (let i = 0; i < 100 && !err.includes('signal handled'); i++) await sleep(20);
    assert.match(err, /signal handled/);
  } finally {
    child.stdout!.resume();
  }
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(status, 0, err);
  checkLines(out, count);
});

test('a file and /dev/null: written synchronously and in order', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-otel-stdio-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'out.txt');
  const fd = openSync(file, 'w');
  try {
    const r = spawnSync(
      process.execPath,
      script(`${LINES}
for (let i = 0; i < 1000; i++) stdout.write(line(i));
stderr.write('isTTY ' + stdout.isTTY + ' pending ' + stdout.pendingBytes + '\\n');`),
      { stdio: ['ignore', fd, 'pipe'], encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, 'isTTY false pending 0\n');
  } finally {
    closeSync(fd);
  }
  checkLines(readFileSync(file, 'utf8'), 1000);

  const devNull = spawnSync(process.execPath, script(`stdout.write('gone\\n'); stderr.write('ok\\n');`), { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  assert.equal(devNull.status, 0, devNull.stderr);
  assert.equal(devNull.stderr, 'ok\n');
});

test('the histogram tools, writing to pipes, never load node:stream, net, tty, zlib, module or os', (t) => {
  if (!requireRoot(t)) return;
  // Loading them is ~12 ms of CPU at every start (src/util/stdio.ts, src/util/lazy-builtins.ts):
  // a preload reports, at exit, which of them the run loaded.
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-otel-stdio-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const preload = join(dir, 'loaded.cjs');
  writeFileSync(
    preload,
    `process.on('exit', () => require('node:fs').writeSync(2, 'loaded [' + process.moduleLoadList.filter((m) => /^NativeModule (stream|net|tty|zlib|module|os)$/.test(m)).join(',') + ']\\n'));\n`,
  );
  for (const args of [
    ['biolatency', '--json', '--duration', '0.2'],
    ['tcprtt', '--json', '--duration', '0.2'],
  ]) {
    runCli(args); // the first run writes the code cache; the second is a start like every other
    const r = spawnSync(process.execPath, ['-r', preload, cliPath, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^\{"schema":"ebpf-otel\/histograms@1"/);
    assert.match(r.stderr, /Hit Ctrl-C to end\.\n/);
    assert.equal(lastLine(r.stderr), 'loaded []', `${args[0]}: ${r.stderr}`);
  }
});

test('standard output that fails: /dev/full is one line and exit 1; a reader gone is exit 141, quietly', async () => {
  const full = spawnSync('sh', ['-c', `exec "$0" "$@" > /dev/full`, process.execPath, ...script(`stdout.write('x\\n'); stderr.write('not reached\\n');`)], {
    encoding: 'utf8',
  });
  assert.equal(full.status, 1, full.stderr);
  assert.match(full.stderr, /^ebpf-otel: cannot write to standard output: no space left on device \(ENOSPC\)\n$/);

  const child = spawn(
    process.execPath,
    script(`${LINES}
let i = 0;
const more = () => { for (let k = 0; k < 100; k++) stdout.write(line(i++)); setTimeout(more, 5); };
more();`),
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise((resolve) => child.stdout!.once('data', resolve));
  child.stdout!.destroy();
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(status, 141, err);
  assert.equal(err, '');
});
