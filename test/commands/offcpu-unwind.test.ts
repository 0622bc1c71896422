// offcpu --unwind, for real: a program built with the distro's default flags (gcc -O2, no frame
// pointers) naps 20 x 100 ms in nap_100ms() through libc's nanosleep(). With CFI (the default,
// auto) the naps are attributed to nap_100ms under main; with frame pointers they are not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { buildWorkload, requireRoot, sleep, spawnCli } from '../helpers.js';

const NAMED = 'nap_100ms';
let napBin: string | undefined;

interface JsonStack {
  value: number;
  count: number | null;
  frames: { name: string; kind: string }[];
}

async function until(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Starts the napper, traces it with `offcpu -p PID --json ARGS`, lets it nap, stops the tool with Ctrl-C. */
async function traceNaps(args: string[]): Promise<{ stacks: JsonStack[]; truthNs: number; stderr: string }> {
  napBin ??= buildWorkload('offcpu-nap', ['-O2']);
  const nap = spawn(napBin, ['20'], { stdio: ['pipe', 'pipe', 'inherit'] });
  let napOut = '';
  nap.stdout.setEncoding('utf8').on('data', (d: string) => (napOut += d));
  const napDone = new Promise<number | null>((resolve) => nap.on('close', (c) => resolve(c)));
  const tool = spawnCli(['-v', 'offcpu', '-p', String(nap.pid), '--json', ...args, '15']);
  let out = '';
  let err = '';
  tool.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  tool.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const toolDone = new Promise<number | null>((resolve) => tool.on('close', (c) => resolve(c)));
  try {
    await until('the tool to attach', () => /attached with/.test(err) || tool.exitCode !== null, 10_000);
    assert.match(err, /attached with/, err);
    nap.stdin!.end('g');
    assert.equal(await napDone, 0, 'the napper failed');
    await sleep(100);
    tool.kill('SIGINT');
    assert.equal(await toolDone, 0, err);
    const profile = JSON.parse(out) as { stacks: JsonStack[] };
    return { stacks: profile.stacks, truthNs: Number(napOut.trim()), stderr: err };
  } finally {
    nap.kill();
    tool.kill('SIGKILL');
  }
}

/** Nanoseconds in stacks that have NAMED with main above it. */
function underMain(stacks: JsonStack[]): number {
  return stacks
    .filter((s) => {
      const names = s.frames.map((f) => f.name);
      const at = names.indexOf(NAMED);
      return at > 0 && names.lastIndexOf('main', at) >= 0;
    })
    .reduce((sum, s) => sum + s.value, 0);
}

test('offcpu --unwind auto attributes 2.0 s of naps through libc nanosleep to nap_100ms under main', async (t) => {
  if (!requireRoot(t)) return;
  const r = await traceNaps(['--unwind', 'auto']);
  const ns = underMain(r.stacks);
  t.diagnostic(`${NAMED} under main: ${(ns / 1e9).toFixed(3)} s, measured by the program ${(r.truthNs / 1e9).toFixed(3)} s`);
  assert.ok(Math.abs(ns - 2e9) / 2e9 <= 0.1, `${ns} ns attributed, expected 2.0 s +-10%`);
  assert.ok(Math.abs(ns - r.truthNs) / r.truthNs <= 0.1, `${ns} ns vs measured ${r.truthNs} ns`);
  const main = r.stacks.find((s) => s.frames.some((f) => f.name === NAMED))!;
  const names = main.frames.map((f) => f.name);
  // The user part runs from _start through libc's wrappers, with nothing invented between.
  assert.ok(names.indexOf('nanosleep') > names.indexOf(NAMED) || names.indexOf('__nanosleep') > names.indexOf(NAMED), names.join(';'));
  assert.equal(main.count, 20, `20 naps in one stack: ${names.join(';')}`);
  assert.match(r.stderr, /attached with \S+, stack copies, kernel walk/);
  // After the first nap's copy taught the kernel its rules, the kernel walked the others itself:
  // the attribution above is mostly theirs, merged with the copied one into one stack.
  const walked = /(\d+) walked in the kernel by (\d+) learned rules/.exec(r.stderr);
  assert.ok(walked, r.stderr);
  assert.ok(Number(walked[1]) >= 15, `most naps walked in the kernel: ${walked[0]}`);
});

test('offcpu --unwind fp loses the naps\' callers (the difference is visible); dwarf finds them', async (t) => {
  if (!requireRoot(t)) return;
  const fp = await traceNaps(['--unwind', 'fp']);
  const fpNs = underMain(fp.stacks);
  const dwarf = await traceNaps(['--unwind', 'dwarf']);
  const dNs = underMain(dwarf.stacks);
  t.diagnostic(`${NAMED} under main: fp ${(fpNs / 1e9).toFixed(3)} s, dwarf ${(dNs / 1e9).toFixed(3)} s`);
  assert.ok(fpNs < 0.5 * fp.truthNs, `frame pointers cannot walk through libc: ${fpNs} ns attributed`);
  assert.ok(Math.abs(dNs - dwarf.truthNs) / dwarf.truthNs <= 0.1, `dwarf: ${dNs} vs ${dwarf.truthNs}`);
  assert.doesNotMatch(fp.stderr, /stack copies/, 'fp mode copies nothing');
});
