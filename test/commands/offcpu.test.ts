// offcpu end to end, for real: a sleeper that blocks a known number of times for a known time in a
// named function, traced through the CLI; and the BPF side's stacks checked raw, for every hook of
// the fallback chain.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { buildWorkload, requireRoot, runCli, sleep, spawnCli, parseFoldedStrict } from '../helpers.js';
import { BpfTool, type HookChoice } from '../../src/bpf/object.js';
import { KernelSymbols } from '../../src/symbolize/kallsyms.js';
import { findSchedulerText, offcpuGlobals, offcpuHooks, type OffcpuConfig } from '../../src/commands/offcpu.js';
import { readKernelSkip, readOffcpu } from '../../src/commands/offcpu-reader.js';

const runTool = runCli;
const spawnTool = spawnCli;

function collect(child: ChildProcess): { out: () => string; err: () => string; done: Promise<number | null> } {
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  const done = new Promise<number | null>((resolve) => child.on('close', (status) => resolve(status)));
  return { out: () => out, err: () => err, done };
}

async function until(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

// ---------------------------------------------------------------------------------------------
// The sleeper: COUNT blocks of MS ms in block_in_named_function, after a "go" on stdin.

const NAMED = 'block_in_named_function';
/** The kernel frame of a nanosleep, as folded output prints it. */
const SLEEP_K = 'do_nanosleep_[k]';
let sleeperBin: string | undefined;
function sleeperPath(): string {
  sleeperBin ??= buildWorkload('offcpu-sleeper');
  return sleeperBin;
}

interface Traced {
  status: number | null;
  stdout: string;
  stderr: string;
  /** Nanoseconds the sleeper measured around its blocks. */
  truthNs: number;
  pid: number;
}

/**
 * Starts the sleeper, starts the tool with `args(pid)` and -v, waits until the tool says it is
 * attached, lets the sleeper run, then ends the tool with Ctrl-C (SIGINT): the Ctrl-C path is
 * what prints every result here.
 */
async function traceSleeper(count: number, ms: number, args: (pid: number) => string[]): Promise<Traced> {
  const sleeper = spawn(sleeperPath(), [String(count), String(ms)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const s = collect(sleeper);
  const pid = sleeper.pid!;
  const tool = spawnTool(['-v', 'offcpu', ...args(pid), '15']);
  const t = collect(tool);
  try {
    await until('the tool to attach', () => /attached with/.test(t.err()) || tool.exitCode !== null, 10_000);
    assert.match(t.err(), /attached with/, `tool did not attach: ${t.err()}`);
    sleeper.stdin!.end('g');
    const code = await s.done;
    assert.equal(code, 0, 'sleeper failed');
    await sleep(100);
    tool.kill('SIGINT');
    const status = await t.done;
    return { status, stdout: t.out(), stderr: t.err(), truthNs: Number(s.out().trim()), pid };
  } finally {
    sleeper.kill();
    tool.kill('SIGKILL');
  }
}

interface JsonStack {
  pid: number;
  tid: number;
  comm: string;
  value: number;
  count: number | null;
  frames: { name: string; kind: string }[];
}

const TRACING_FRAME = /^(bpf_|__bpf_|__traceiter_|bpf_trace_run|perf_)/;

test('offcpu -p: the named function holds the known blocked time, blocks counted exactly, no tracing frames', async (t) => {
  if (!requireRoot(t)) return;
  // --state S: the 20 sleeps are the thread's only interruptible blocks. Under load, schedule()
  // sometimes switches the thread out once more right after a wakeup, still runnable, in the same
  // stack (do_nanosleep -> schedule): a real block too, but not one of the 20.
  const sleepsOf = (p: { stacks: JsonStack[] }) =>
    p.stacks.filter((s) => s.frames.some((f) => f.name === 'do_nanosleep')).reduce((n, s) => n + (s.count ?? 0), 0);
  const r = await traceSleeper(20, 50, (pid) => ['-p', String(pid), '--state', 'S', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const profile = JSON.parse(r.stdout) as { kind: string; unit: string; stacks: JsonStack[] };
  assert.equal(profile.kind, 'offcpu');
  assert.equal(profile.unit, 'nanoseconds');
  assert.ok(profile.stacks.every((s) => s.pid === r.pid), 'only the target process is traced');

  for (const s of profile.stacks) {
    for (const f of s.frames) assert.doesNotMatch(f.name, TRACING_FRAME, `tracing frame in ${s.frames.map((x) => x.name).join(';')}`);
  }
  const named = profile.stacks.filter((s) => s.frames.some((f) => f.name === NAMED));
  assert.ok(named.length > 0, `no stack has ${NAMED}: ${JSON.stringify(profile.stacks.map((s) => s.frames.map((f) => f.name)))}`);
  const main = named.reduce((a, b) => (b.value > a.value ? b : a));
  const names = main.frames.map((f) => f.name);
  // Every nanosleep is counted, exactly once. Under load one block's user stack is sometimes
  // unwound only to a marker frame (seen in about one full loaded run in three: a stack copy the
  // unwinder stops on, `[truncated: bad frame]`): that block keeps its time and kernel stack and
  // the tool warns; it must never go missing silently or merge into another stack. The gap itself
  // is tracked in the issue notes.
  const sleeps = profile.stacks.filter((s) => s.frames.some((f) => f.name === 'do_nanosleep'));
  assert.equal(sleepsOf(profile), sleeps.reduce((n, s) => n + (s.count ?? 0), 0));
  const described = sleeps.map((s) => `${s.count}x ${s.frames.map((f) => f.name).join(';')}`).join(' | ');
  assert.equal(
    sleeps.reduce((n, s) => n + (s.count ?? 0), 0),
    20,
    `20 nanosleep blocks in all: ${described}; the tool said: ${r.stderr}`,
  );
  assert.ok(main.count !== null && main.count >= 19, `the blocks in one stack: ${described}; the tool said: ${r.stderr}`);
  for (const s of sleeps) {
    if (s === main) continue;
    assert.ok(s.frames.some((f) => f.name.startsWith('[truncated')), `a block outside the main stack ends in a marker frame: ${described}`);
  }
  if (main.count !== 20) assert.match(r.stderr, /have user stacks that end early/, 'and the tool said so');
  t.diagnostic(`blocks in the main stack: ${main.count} of 20`);
  assert.ok(names.indexOf('main') >= 0 && names.indexOf('main') < names.indexOf(NAMED), `main is above ${NAMED}: ${names.join(';')}`);
  // Kernel stacks start exactly at the tracepoint's caller: nothing of ours, nothing of the
  // scheduler skipped.
  assert.equal(main.frames.at(-1)?.kind, 'kernel');
  assert.equal(main.frames.at(-1)?.name, '__schedule', `leaf frame: ${names.join(';')}`);

  const total = named.reduce((sum, s) => sum + s.value, 0);
  const error = Math.abs(total - r.truthNs) / r.truthNs;
  t.diagnostic(`off-CPU in ${NAMED}: ${(total / 1e6).toFixed(2)} ms, truth ${(r.truthNs / 1e6).toFixed(2)} ms, error ${(error * 100).toFixed(2)}%`);
  assert.ok(error < 0.1, `measured ${total} ns vs truth ${r.truthNs} ns (${(error * 100).toFixed(1)}% off)`);
  assert.match(r.stderr, /attached with (tp_btf|raw_tp)/);
});

test('offcpu -m above the block time drops the blocks (counted as outside the bounds); -M below it too', async (t) => {
  if (!requireRoot(t)) return;
  // The sleeps last 50 ms and never less; on a loaded machine a wakeup can come tens of ms late,
  // so the bound above is twice the block time.
  for (const bound of [['-m', '100000'], ['-M', '45000']]) {
    const r = await traceSleeper(6, 50, (pid) => ['-p', String(pid), ...bound, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const profile = JSON.parse(r.stdout) as { stacks: JsonStack[] };
    const named = profile.stacks.filter((s) => s.frames.some((f) => f.name === NAMED));
    assert.deepEqual(named, [], `${bound.join(' ')} keeps no block of ${NAMED}`);
    const m = /(\d+) blocks counted, (\d+) outside the -m\/-M bounds/.exec(r.stderr);
    assert.ok(m, r.stderr);
    assert.ok(Number(m[2]) >= 6, `${bound.join(' ')}: the 6 blocks were seen and dropped: ${m[0]}`);
  }
  // and a window around the block time keeps all of them
  const r = await traceSleeper(6, 50, (pid) => ['-p', String(pid), '-m', '45000', '-M', '1000000', '--json']);
  const profile = JSON.parse(r.stdout) as { stacks: JsonStack[] };
  const count = profile.stacks.filter((s) => s.frames.some((f) => f.name === NAMED)).reduce((n, s) => n + (s.count ?? 0), 0);
  assert.equal(count, 6);
});

test('offcpu -f prints folded stacks in microseconds; -d puts "-" between user and kernel frames; -t traces one thread', async (t) => {
  if (!requireRoot(t)) return;
  const r = await traceSleeper(10, 30, (pid) => ['-t', String(pid), '-f', '-d']);
  assert.equal(r.status, 0, r.stderr);
  const lines = parseFoldedStrict(r.stdout);
  // (a rare preemption inside the named function would be a second stack: not a sleep)
  const named = lines.filter((l) => l.frames.includes(NAMED) && l.frames.includes(SLEEP_K));
  assert.equal(named.length, 1, r.stdout);
  const line = named[0]!;
  assert.equal(line.frames[0], 'offcpu-sleeper');
  const dash = line.frames.indexOf('-');
  assert.ok(dash > line.frames.indexOf(NAMED), `"-" after the user frames: ${line.frames.join(';')}`);
  assert.ok(line.frames.slice(dash + 1).every((f) => f.endsWith('_[k]')), 'kernel frames after "-"');
  assert.ok(line.frames.slice(1, dash).every((f) => !f.endsWith('_[k]')), 'user frames before "-"');
  const us = r.truthNs / 1000;
  assert.ok(Math.abs(line.count - us) / us < 0.1, `folded value ${line.count} us vs truth ${us.toFixed(0)} us`);
});

test('offcpu --state: S keeps the sleeps (interruptible), D drops them', async (t) => {
  if (!requireRoot(t)) return;
  const blocks = async (state: string) => {
    const r = await traceSleeper(5, 30, (pid) => ['-p', String(pid), '--state', state, '-f']);
    assert.equal(r.status, 0, r.stderr);
    return parseFoldedStrict(r.stdout).filter((l) => l.frames.includes(NAMED) && l.frames.includes(SLEEP_K)).length;
  };
  assert.equal(await blocks('S'), 1);
  assert.equal(await blocks('2'), 0);
});

test('offcpu -U keeps only user frames, -K only kernel frames; --stacks prints the BCC listing', async (t) => {
  if (!requireRoot(t)) return;
  const u = await traceSleeper(5, 20, (pid) => ['-p', String(pid), '-U', '-f']);
  assert.equal(u.status, 0, u.stderr);
  const ul = parseFoldedStrict(u.stdout);
  assert.ok(ul.some((l) => l.frames.includes(NAMED)));
  for (const l of ul) assert.ok(l.frames.every((f) => !f.endsWith('_[k]')), l.frames.join(';'));

  const k = await traceSleeper(5, 20, (pid) => ['-p', String(pid), '-K', '-f']);
  assert.equal(k.status, 0, k.stderr);
  const kl = parseFoldedStrict(k.stdout);
  assert.ok(kl.length > 0);
  for (const l of kl) assert.ok(l.frames.slice(1).every((f) => f.endsWith('_[k]')), l.frames.join(';'));

  const s = await traceSleeper(5, 20, (pid) => ['-p', String(pid), '--stacks']);
  assert.equal(s.status, 0, s.stderr);
  const blocks = s.stdout.split('\n\n').filter((b) => b.includes(NAMED) && b.includes('do_nanosleep [k]'));
  assert.equal(blocks.length, 1, s.stdout);
  const block = blocks[0]!;
  assert.match(block, /^ {4}__schedule \[k\]$/m, 'leaf first');
  assert.ok(block.indexOf('__schedule') < block.indexOf(NAMED) && block.indexOf(NAMED) < block.indexOf('    main'), block);
  assert.match(block, new RegExp(`^ {4}- +offcpu-sleeper \\(${s.pid}\\)$`, 'm'));
  const us = Number(/^ {8}(\d+) us /m.exec(block)?.[1]);
  assert.ok(Math.abs(us - s.truthNs / 1000) / (s.truthNs / 1000) < 0.1, `${us} us vs ${s.truthNs / 1000}`);
});

test('offcpu -k traces kernel threads only (no user frames), -u user threads only', (t) => {
  if (!requireRoot(t)) return;
  const k = runTool(['offcpu', '-k', '-f', '1']);
  assert.equal(k.status, 0, k.stderr);
  const kl = parseFoldedStrict(k.stdout);
  assert.ok(kl.length > 0, 'kernel threads (kworkers, rcu) block within a second');
  for (const l of kl) assert.ok(l.frames.slice(1).every((f) => f.endsWith('_[k]')), l.frames.join(';'));
  const u = runTool(['offcpu', '-u', '-K', '-f', '1']);
  assert.equal(u.status, 0, u.stderr);
  for (const l of parseFoldedStrict(u.stdout)) assert.doesNotMatch(l.frames[0]!, /^(kworker\/|ksoftirqd\/|rcu_|migration\/)/);
});

// ---------------------------------------------------------------------------------------------
// The BPF side alone, for each hook of the fallback chain.

const baseConfig: OffcpuConfig = {
  pids: [],
  tids: [],
  userThreadsOnly: false,
  kernelThreadsOnly: false,
  userStacksOnly: false,
  kernelStacksOnly: true,
  minBlockUs: 1,
  stackStorageSize: 4096,
  threadStorageSize: 32768,
  countStorageSize: 40960,
  verbose: false,
};

test('every hook of the chain loads, finds its frame skip, and its raw kernel stacks start in the scheduler', async (t) => {
  if (!requireRoot(t)) return;
  const kallsyms = readFileSync('/proc/kallsyms', 'utf8');
  const sched = findSchedulerText(kallsyms);
  assert.ok(sched, '/proc/kallsyms has __sched_text_start/__sched_text_end');
  const ksyms = KernelSymbols.parse(kallsyms);
  const chain = offcpuHooks();
  assert.deepEqual(chain.map((c) => c.name), ['tp_btf', 'raw_tp']);
  const open = (choice: HookChoice) => BpfTool.open('offcpu', [choice], { globals: offcpuGlobals(baseConfig, sched) });
  const skips: number[] = [];
  const check = (round: string, tool: BpfTool) => {
    tool.detach();
    const skip = readKernelSkip(tool);
    const data = readOffcpu(tool);
    tool.close();
    assert.ok(skip !== undefined && skip >= 1, `${round} ${tool.hook}: a skip was found (${skip})`);
    skips.push(skip);
    const kernelStacks = data.stacks.map((s) => s.kernel).filter((k): k is bigint[] => Array.isArray(k) && k.length > 0);
    assert.ok(kernelStacks.length > 0, `${round} ${tool.hook}: stacks collected`);
    let iter = 0;
    for (const k of kernelStacks) {
      const leaf = ksyms.lookup(k[0]!)?.name ?? '?';
      const inSched = k[0]! >= sched.schedTextStart && k[0]! < sched.schedTextEnd;
      // The iterator frame is there whenever the tracepoint has several probes: both hooks
      // together, or a hook "alone" while something else on the machine (an ftrace instance,
      // another BPF tool) also probes sched_switch. Either way it is the leaf, under __schedule,
      // and the skip must come out the same (checked below).
      if (leaf === '__traceiter_sched_switch') {
        iter++;
        assert.equal(ksyms.lookup(k[1]!)?.name, '__schedule', `${round} ${tool.hook}: the iterator's caller`);
      } else {
        // __schedule calls the tracepoint: it is the leaf, not a tracing frame below it, not its caller
        assert.ok(inSched && leaf === '__schedule', `${round} ${tool.hook}: leaf ${leaf} is __schedule`);
      }
    }
    t.diagnostic(
      `${round} ${tool.hook}: skip ${skip}, ${kernelStacks.length} kernel stacks, ${iter} with the iterator frame` +
        (round === 'alone' && iter > 0 ? ' (another probe shares sched_switch on this machine)' : ''),
    );
  };
  // Both hooks at once: each sees the other's probe on the tracepoint, so the kernel calls them
  // through __traceiter_sched_switch (on kernels with static calls), and whichever calibrates
  // first may see that frame: it must not count it. Then each hook alone.
  const both = chain.map(open);
  await sleep(300);
  for (const tool of both) check('together', tool);
  for (const choice of chain) {
    const tool = open(choice);
    assert.equal(tool.hook, choice.name);
    await sleep(200);
    check('alone', tool);
  }
  assert.ok(skips.every((s) => s === skips[0]), `the same skip every time: ${skips.join(', ')}`);
});

test('with another probe sharing sched_switch, the iterator frame is dropped and the blocks stay in one stack', async (t) => {
  if (!requireRoot(t)) return;
  // A second program on the tracepoint makes the kernel call both through
  // __traceiter_sched_switch, before the tool under test attaches and calibrates.
  const other = BpfTool.open('offcpu', [offcpuHooks()[1]!], { globals: offcpuGlobals({ ...baseConfig, pids: [1], kernelStacksOnly: false }, undefined) });
  try {
    const r = await traceSleeper(10, 30, (pid) => ['-p', String(pid), '--json']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /kernel stacks skip \d+ tracing frames/);
    const profile = JSON.parse(r.stdout) as { stacks: JsonStack[] };
    for (const s of profile.stacks) for (const f of s.frames) assert.doesNotMatch(f.name, TRACING_FRAME);
    const named = profile.stacks.filter((s) => s.frames.some((f) => f.name === NAMED));
    assert.equal(named.length, 1, JSON.stringify(named.map((s) => s.frames.map((f) => f.name))));
    assert.equal(named[0]!.count, 10);
    assert.equal(named[0]!.frames.at(-1)?.name, '__schedule');
  } finally {
    other.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Errors

test('bad input: one line on stderr, non-zero exit, no stack trace', (t) => {
  if (!requireRoot(t)) return;
  const cases: [string[], RegExp][] = [
    [['offcpu', '-p', '999999999', '1'], /no process with PID 999999999/],
    [['offcpu', '-t', '999999999', '1'], /no thread with TID 999999999/],
    [['offcpu', '-m', 'abc', '1'], /min block time must be a non-negative integer/],
    [['offcpu', '-M', '-5', '1'], /max block time must be a non-negative integer|unknown option/],
    [['offcpu', '-m', '100', '-M', '10', '1'], /--min-block-time 100 is above --max-block-time 10/],
    [['offcpu', '-U', '-K', '1'], /cannot be used with/],
    [['offcpu', '-u', '-k', '1'], /cannot be used with/],
    [['offcpu', '-p', '1', '-t', '1', '1'], /cannot be used with/],
    [['offcpu', '-f', '--json', '1'], /cannot be used with/],
    [['offcpu', '--state', 'sleepy', '1'], /state must be 0 \(runnable\)/],
    [['offcpu', '--stack-storage-size', '0', '1'], /stack storage size must be a positive integer/],
    [['offcpu', 'soon'], /duration must be a positive number/],
    [['offcpu', '--no-such-option'], /unknown option/],
  ];
  for (const [args, expected] of cases) {
    const r = runTool(args);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.match(r.stderr.split('\n')[0]!, expected, `${args.join(' ')}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});

test('without root privileges: one line saying to use sudo, exit code 1', (t) => {
  if (!requireRoot(t)) return;
  const r = runTool(['offcpu', '1'], { wrapper: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all'] });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^ebpf-otel: offcpu needs root .*sudo\n$/);
});
