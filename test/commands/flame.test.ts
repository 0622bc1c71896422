// `ebpf-otel flame` as a user runs it: files and standard input, bad input, a million lines in
// bounded memory, --diff, --speedscope, and (as root) `flame cpu` recording a known workload.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { buildWorkload, cliPath, finished, repoRoot, requireRoot, sleep, type CliResult } from '../helpers.js';

const work = mkdtempSync(join(tmpdir(), 'ebpf-otel-flame-cli-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** `ebpf-otel flame ARGS...`, with optional standard input and environment. */
function flame(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): CliResult {
  const argv = [cliPath, 'flame', ...args];
  const r = spawnSync(process.execPath, argv, {
    cwd: repoRoot,
    input: opts.input ?? '',
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', ...opts.env },
    timeout: 120_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface PageNode {
  n: string;
  v: number;
  t?: string;
  b?: number;
  c?: PageNode[];
}
interface PageData {
  countName: string;
  diff: { normalized: boolean; beforeTotal: number; maxDelta: number } | null;
  tree: PageNode;
}

function pageData(html: string): PageData {
  assert.match(html, /^<!DOCTYPE html>/);
  const m = /<script type="application\/json" id="flame-data">([\s\S]*?)<\/script>/.exec(html);
  assert.ok(m, 'the page carries its data');
  return JSON.parse(m[1]!) as PageData;
}

function node(data: PageData, ...path: string[]): PageNode {
  let n = data.tree;
  for (const name of path) {
    const next = n.c?.find((c) => c.n === name);
    assert.ok(next, `no frame ${name} under ${n.n}`);
    n = next;
  }
  return n;
}

function file(name: string, text: string): string {
  const p = join(work, name);
  writeFileSync(p, text);
  return p;
}

const FOLDED = [
  'burner;_start;main;hot_three 300',
  'burner;_start;main;hot_one 100',
  'burner;_start;main;write;entry_SYSCALL_64_[k];ksys_write_[k] 20',
  'node;LazyCompile:*fib_[j];uv_run 7',
  '',
].join('\n');

describe('flame on folded stacks', () => {
  it('FILE -o out.html writes one page with the stacks as data', () => {
    const out = join(work, 'cpu.html');
    const r = flame([file('cpu.folded', FOLDED), '-o', out, '--title', 'Burner <3']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '', 'nothing on standard output when writing a file');
    assert.match(r.stderr, /wrote the flame graph to .*cpu\.html/);
    const html = readFileSync(out, 'utf8');
    assert.match(html, /<title>Burner &lt;3<\/title>/);
    const data = pageData(html);
    assert.equal(data.tree.v, 427);
    assert.equal(node(data, 'burner', '_start', 'main', 'hot_three').v, 300);
    assert.equal(node(data, 'burner', '_start', 'main', 'write', 'entry_SYSCALL_64', 'ksys_write').t, 'k');
    assert.equal(node(data, 'node', 'LazyCompile:*fib').t, 'j');
    assert.equal(data.countName, 'samples');
  });

  it('reads standard input ("-" too) and writes the page to standard output', () => {
    for (const args of [[], ['-'], ['--countname', 'us']]) {
      const r = flame(args, { input: FOLDED });
      assert.equal(r.status, 0, r.stderr);
      const data = pageData(r.stdout);
      assert.equal(data.tree.v, 427);
      assert.equal(data.countName, args[0] === '--countname' ? 'us' : 'samples');
      assert.match(r.stdout, /<\/html>\n$/);
    }
  });

  it('reports each malformed line with its line number, skips it, and draws the rest', () => {
    const input = ['p;a 1', 'no count', 'p;b 2', '', 'p;;c 3', 'p;d x', 'p;e 4'].join('\n');
    const r = flame([], { input });
    assert.equal(r.status, 0, r.stderr);
    const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning:'));
    assert.deepEqual(
      warnings.map((l) => /^warning: standard input:(\d+): malformed line skipped \(/.exec(l)?.[1]),
      ['2', '5', '6'],
      r.stderr,
    );
    assert.match(warnings[1]!, /empty frame name\): p.*c 3$/);
    const data = pageData(r.stdout);
    assert.deepEqual(node(data, 'p').c!.map((n) => n.n), ['a', 'b', 'e']);
    assert.equal(data.tree.v, 7);
  });

  it('--strict fails on the first malformed line and writes nothing', () => {
    const out = join(work, 'strict.html');
    const r = flame(['--strict', file('strict.folded', 'p;a 1\np;b 2\np;c three\np;d\n'), '-o', out]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^ebpf-otel: \S+strict\.folded:3: malformed line \(count is not a non-negative integer: "three"\): p.c three\n$/);
    assert.equal(existsSync(out), false);
  });

  it('empty input, or nothing valid in it, is a one-line error', () => {
    for (const [input, re] of [
      ['', /^ebpf-otel: standard input: no folded stacks: the input is empty\n$/],
      ['\n  \n\n', /^ebpf-otel: standard input: no folded stacks: the input is empty\n$/],
      ['p;a 0\n', /^ebpf-otel: standard input: every stack has a count of 0: nothing to draw\n$/],
    ] as const) {
      const r = flame([], { input });
      assert.equal(r.status, 1, `input ${JSON.stringify(input)}`);
      assert.match(r.stderr, re);
      assert.equal(r.stdout, '');
    }
    const r = flame([], { input: 'junk\nmore junk\n' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /\nebpf-otel: standard input: no valid folded stacks \(2 malformed lines\)\n$/);
  });

  it('a missing file or a bad combination of arguments is a one-line error', () => {
    const missing = flame([join(work, 'nope.folded')]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /^ebpf-otel: cannot read .*nope\.folded: no such file or directory\n$/);
    const a = file('a.folded', FOLDED);
    for (const [args, re] of [
      [['--diff', a], /--diff needs two folded files/],
      [[a, a], /one input at a time/],
      [['--normalize', a], /--normalize applies to --diff only/],
      [['--diff', '-', '-'], /standard input \("-"\) can be read only once/],
      [['-o', '-', '--speedscope', '-', a], /cannot both go to standard output/],
      [['cpu', '--diff'], /--diff applies to folded input, not to flame cpu/],
      [['--strict', 'cpu'], /--strict applies to folded input, not to flame cpu/],
    ] as const) {
      const r = flame([...args]);
      assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split('\n').length <= 2, true, r.stderr);
    }
  });

  it('--speedscope alone writes only speedscope JSON; with -o both', () => {
    const json = join(work, 'cpu.speedscope.json');
    const r = flame([file('s.folded', FOLDED), '--speedscope', json]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '', 'no HTML without -o');
    const doc = JSON.parse(readFileSync(json, 'utf8')) as {
      $schema: string;
      exporter: string;
      shared: { frames: { name: string }[] };
      profiles: { type: string; unit: string; endValue: number; samples: number[][]; weights: number[] }[];
    };
    assert.equal(doc.$schema, 'https://www.speedscope.app/file-format-schema.json');
    assert.match(doc.exporter, /^ebpf-otel \d/);
    assert.equal(doc.profiles.length, 1);
    assert.equal(doc.profiles[0]!.endValue, 427);
    const names = doc.profiles[0]!.samples.map((s) => s.map((i) => doc.shared.frames[i]!.name).join(';'));
    assert.ok(names.includes('burner;_start;main;write;entry_SYSCALL_64_[k];ksys_write_[k]'), names.join('\n'));

    const both = flame([file('s2.folded', FOLDED), '--speedscope', '-', '-o', join(work, 'both.html')]);
    assert.equal(both.status, 0, both.stderr);
    assert.equal((JSON.parse(both.stdout) as { profiles: unknown[] }).profiles.length, 1);
    assert.ok(existsSync(join(work, 'both.html')));
  });

  it('--diff BEFORE AFTER colours by change; --normalize scales BEFORE to the total of AFTER', () => {
    const before = file('before.folded', 'p;main;a 100\np;main;b 100\np;main;gone 50\n');
    const afterFile = file('after.folded', 'p;main;a 300\np;main;b 50\np;main;new 10\n');
    const r = flame(['--diff', before, afterFile, '--speedscope', join(work, 'diff.json'), '-o', '-']);
    assert.equal(r.status, 0, r.stderr);
    const data = pageData(r.stdout);
    assert.deepEqual(data.diff, { normalized: false, beforeTotal: 250, maxDelta: 200 });
    assert.deepEqual(node(data, 'p', 'main').c, [
      { n: 'a', v: 300, b: 100 },
      { n: 'b', v: 50, b: 100 },
      { n: 'new', v: 10, b: 0 },
    ]);
    assert.match(r.stdout, /<title>Differential flame graph<\/title>/);
    const ss = JSON.parse(readFileSync(join(work, 'diff.json'), 'utf8')) as { activeProfileIndex: number; profiles: { name: string; endValue: number }[] };
    assert.deepEqual(ss.profiles.map((p) => [p.name, p.endValue]), [
      [`before: ${before}`, 250],
      [`after: ${afterFile}`, 360],
    ]);
    assert.equal(ss.activeProfileIndex, 1);

    const n = flame(['--diff', '--normalize', before, afterFile]);
    assert.equal(n.status, 0, n.stderr);
    const nd = pageData(n.stdout);
    assert.equal(nd.diff?.normalized, true);
    assert.equal(node(nd, 'p', 'main', 'a').b, 144, 'BEFORE 100 scaled by 360/250');
  });

  it('names land in the page as data, never as markup', () => {
    const hostile = 'app;<img src=x onerror=alert(1)>;</script><script>alert(2)</script> 5\n';
    const r = flame(['--title', '<script>alert(3)</script>'], { input: hostile });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.includes('<img src=x onerror'), false);
    assert.equal(r.stdout.includes('<script>alert('), false);
    assert.equal(node(pageData(r.stdout), 'app', '<img src=x onerror=alert(1)>', '</script><script>alert(2)</script>').v, 5);
  });

  it('streams a million lines in bounded memory, reporting bad lines by number', () => {
    const big = join(work, 'big.folded');
    const fd = openSync(big, 'w');
    let total = 0;
    let batch: string[] = [];
    for (let i = 0; i < 1_000_000; i++) {
      if (i === 123_456 || i === 999_999) batch.push('this line is broken');
      else {
        batch.push(`proc${i % 4};main;mid${i % 100};leaf${i % 37}_[k] ${1 + (i % 5)}`);
        total += 1 + (i % 5);
      }
      if (batch.length === 20_000) {
        writeSync(fd, `${batch.join('\n')}\n`);
        batch = [];
      }
    }
    closeSync(fd);
    const out = join(work, 'big.html');
    // The 30 MB input split into lines would need far more than 64 MB of heap; streamed, it fits.
    const r = flame([big, '-o', out], { env: { NODE_OPTIONS: '--max-old-space-size=64' } });
    assert.equal(r.status, 0, r.stderr);
    const bad = r.stderr.split('\n').filter((l) => l.includes('malformed line skipped'));
    assert.equal(bad.length, 2, r.stderr);
    assert.match(bad[0]!, /big\.folded:123457: /);
    assert.match(bad[1]!, /big\.folded:1000000: /);
    const data = pageData(readFileSync(out, 'utf8'));
    assert.equal(data.tree.v, total);
    assert.equal(data.tree.c!.length, 4);
    assert.equal(node(data, 'proc0', 'main').c!.length, 25, 'mid0, mid4, ... under proc0');
  });
});

let burner: string | undefined;

describe('flame cpu', () => {
  it('records the burner with cpuprofile and draws its hot functions at their CPU share', async (t) => {
    if (!requireRoot(t)) return;
    burner ??= buildWorkload('burner');
    const child = spawn(burner, ['8'], { stdio: 'ignore' });
    try {
      await sleep(200);
      const html = join(work, 'cpu-live.html');
      const ss = join(work, 'cpu-live.json');
      const r = flame(['cpu', '-p', String(child.pid), '-F', '199', '2', '-o', html, '--speedscope', ss]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, '', 'the profile is drawn, not printed');
      const page = readFileSync(html, 'utf8');
      assert.match(page, /<title>CPU flame graph<\/title>/);
      assert.match(page, new RegExp(`on-CPU samples of PID ${child.pid} at 199 Hz`));
      const data = pageData(page);
      assert.ok(data.tree.v > 200, `expected ~400 samples at 199 Hz for 2 s, got ${data.tree.v}`);
      const top = data.tree.c!;
      assert.deepEqual(top.map((n) => n.n), ['burner'], 'only the target process');
      // Each hot function's width: summed over every path it appears on (unwinding decides the frames above it).
      const hot: Record<string, number> = {};
      const walk = (n: PageNode) => {
        if (n.n === 'hot_three' || n.n === 'hot_one') hot[n.n] = (hot[n.n] ?? 0) + n.v;
        else for (const c of n.c ?? []) walk(c);
      };
      walk(data.tree);
      const three = (hot.hot_three ?? 0) / data.tree.v;
      const one = (hot.hot_one ?? 0) / data.tree.v;
      assert.ok(Math.abs(three - 0.75) < 0.1, `hot_three share ${three.toFixed(3)}, expected 0.75`);
      assert.ok(Math.abs(one - 0.25) < 0.1, `hot_one share ${one.toFixed(3)}, expected 0.25`);
      const doc = JSON.parse(readFileSync(ss, 'utf8')) as { shared: { frames: { name: string }[] }; profiles: { unit: string }[] };
      assert.ok(doc.shared.frames.some((f) => f.name === 'hot_three'));
      assert.equal(doc.profiles[0]!.unit, 'none');
    } finally {
      child.kill();
    }
  });
});

describe('flame offcpu', () => {
  it('records a sleeper with offcpu and draws its blocked time under the named function', async (t) => {
    if (!requireRoot(t)) return;
    const sleeper = buildWorkload('offcpu-sleeper');
    // 10 blocks of 50 ms, started at once (the byte on stdin is the "go").
    const child = spawn(sleeper, ['10', '50'], { stdio: ['pipe', 'ignore', 'ignore'] });
    try {
      const html = join(work, 'offcpu-live.html');
      const run = spawn(process.execPath, [cliPath, 'flame', 'offcpu', '-p', String(child.pid), '2', '-o', html], { stdio: ['ignore', 'pipe', 'pipe'] });
      const done = finished(run);
      await sleep(1000);
      child.stdin!.end('g');
      const r = await done;
      assert.equal(r.status, 0, r.stderr);
      const page = readFileSync(html, 'utf8');
      assert.match(page, /<title>Off-CPU flame graph<\/title>/);
      const data = pageData(page);
      let blocked = 0;
      const walk = (n: PageNode) => {
        if (n.n === 'block_in_named_function') blocked += n.v;
        else for (const c of n.c ?? []) walk(c);
      };
      walk(data.tree);
      // 10 x 50 ms = 0.5 s blocked in the named function; the page carries nanoseconds.
      assert.ok(Math.abs(blocked - 0.5e9) / 0.5e9 < 0.2, `blocked ${blocked} ns under block_in_named_function, expected ~0.5 s`);
    } finally {
      child.kill();
    }
  });
});
