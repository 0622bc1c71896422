// offcpu's pure parts: option parsing, the BPF globals a config becomes, the kallsyms scan that
// feeds the BPF side's frame skip, the removal of tracing frames, loss warnings, the BCC listing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommanderError } from 'commander';
import type { Frame, StackProfile, StackRecord } from '../../src/aggregate/model.js';
import {
  dropTracingFrames,
  findSchedulerText,
  offcpuCommand,
  offcpuGlobals,
  offcpuHooks,
  offcpuLossWarnings,
  parseState,
  toOffcpuConfig,
  type OffcpuConfig,
  type OffcpuFlags,
} from '../../src/commands/offcpu.js';
import { renderOffcpuStacks } from '../../src/render/offcpu-stacks.js';

const config = (over: Partial<OffcpuConfig> = {}): OffcpuConfig => ({
  pids: [],
  tids: [],
  userThreadsOnly: false,
  kernelThreadsOnly: false,
  userStacksOnly: false,
  kernelStacksOnly: false,
  minBlockUs: 1,
  stackStorageSize: 16384,
  threadStorageSize: 32768,
  countStorageSize: 40960,
  verbose: false,
  ...over,
});

/** Parses argv with the real offcpu command (its action replaced) and returns the config it would run. */
function parse(argv: string[]): OffcpuConfig {
  let out: OffcpuConfig | undefined;
  offcpuCommand()
    .exitOverride()
    .configureOutput({ writeErr: () => {} })
    .action((duration: number | undefined, flags: OffcpuFlags) => {
      out = toOffcpuConfig(duration, flags, false);
    })
    .parse(argv, { from: 'user' });
  return out!;
}

test('options become the config: BCC defaults, lists, bounds, state names', () => {
  const c = parse([]);
  assert.equal(c.minBlockUs, 1);
  assert.equal(c.maxBlockUs, undefined);
  assert.equal(c.state, undefined);
  assert.deepEqual(c.output, { format: 'table', delimiter: false, top: 20 });
  const d = parse(['-p', '1,2', '-p', '3', '-m', '0', '-M', '500', '--state', 'D', '-f', '-d', '5']);
  assert.deepEqual(d.pids, [1, 2, 3]);
  assert.equal(d.minBlockUs, 0);
  assert.equal(d.maxBlockUs, 500);
  assert.equal(d.state, 2);
  assert.equal(d.durationSec, 5);
  assert.deepEqual(d.output, { format: 'folded', delimiter: true, top: 20 });
  assert.deepEqual(parse(['--stacks', '-d']).output, { format: 'stacks', delimiter: true });
  assert.equal(parse(['-t', '7', '-U']).userStacksOnly, true);
  assert.throws(() => parse(['-m', '10', '-M', '9']), /--min-block-time 10 is above --max-block-time 9/);
  assert.throws(() => parse(['-u', '-k']), CommanderError);
  assert.throws(() => parse(['-p', '1', '-t', '2']), CommanderError);
  assert.throws(() => parse(['-U', '-K']), CommanderError);
  assert.throws(() => parse(['--json', '--stacks']), CommanderError);
  assert.throws(() => parse(['-f', '--json']), CommanderError);
  assert.throws(() => parse(['-m', 'x']), CommanderError);
});

test('parseState: numbers and R/S/D, anything else is a one-line error', () => {
  assert.equal(parseState('0'), 0);
  assert.equal(parseState('R'), 0);
  assert.equal(parseState('S'), 1);
  assert.equal(parseState('uninterruptible'), 2);
  assert.equal(parseState('1026'), 1026);
  assert.throws(() => parseState('-1'), /state must be/);
  assert.throws(() => parseState('Z'), /state must be/);
});

test('offcpuGlobals: -m/-M in whole microseconds as BCC compares them, filters, stack choice', () => {
  const g = offcpuGlobals(config({ minBlockUs: 60000, maxBlockUs: 70000, pids: [3], state: 2, kernelStacksOnly: true }), undefined);
  assert.deepEqual(g.min_block_ns, { u64: 60_000_000n });
  // a block of d ns passes when floor(d / 1000) <= 70000, i.e. d <= 70_000_999
  assert.deepEqual(g.max_block_ns, { u64: 70_000_999n });
  assert.deepEqual(g.filter_tgid, { bool: true });
  assert.deepEqual(g.filter_tid, { bool: false });
  assert.deepEqual(g.filter_state, { bool: true });
  assert.deepEqual(g.state_filter, { u64: 2n });
  assert.deepEqual(g.collect_user, { bool: false });
  assert.deepEqual(g.collect_kernel, { bool: true });
  assert.equal(g.sched_text_start, undefined, 'no kallsyms: the BPF side skips nothing itself');
  const open = offcpuGlobals(config(), { schedTextStart: 10n, schedTextEnd: 20n, traceiterStart: 3n, traceiterEnd: 4n });
  assert.deepEqual(open.max_block_ns, { u64: (1n << 64n) - 1n });
  assert.deepEqual(open.filter_state, { bool: false });
  assert.deepEqual([open.sched_text_start, open.sched_text_end, open.traceiter_start, open.traceiter_end], [{ u64: 10n }, { u64: 20n }, { u64: 3n }, { u64: 4n }]);
});

const KALLSYMS = `ffffffff81000000 T _stext
ffffffff813a50b0 T __traceiter_sched_switch
ffffffff813a50b0 T __SCT__tp_func_alias
ffffffff813a5120 T __pfx___probestub_sched_switch
ffffffff82265800 T __sched_text_start
ffffffff822658a0 t __schedule
ffffffff8226e522 T __sched_text_end
ffffffffc0a01000 t helper\t[ext4]
`;

test('findSchedulerText: .sched.text and the iterator bounded by the next higher address', () => {
  assert.deepEqual(findSchedulerText(KALLSYMS), {
    schedTextStart: 0xffffffff82265800n,
    schedTextEnd: 0xffffffff8226e522n,
    traceiterStart: 0xffffffff813a50b0n,
    traceiterEnd: 0xffffffff813a5120n,
  });
  // hidden addresses (not root, kptr_restrict): nothing usable
  assert.equal(findSchedulerText(KALLSYMS.replace(/^[0-9a-f]{16}/gm, '0000000000000000')), undefined);
  // no iterator (kernels before static calls): the scheduler text alone
  assert.deepEqual(findSchedulerText(KALLSYMS.split('\n').filter((l) => !l.includes('traceiter')).join('\n')), {
    schedTextStart: 0xffffffff82265800n,
    schedTextEnd: 0xffffffff8226e522n,
  });
  // a module symbol with the same name does not count
  assert.equal(findSchedulerText('ffffffffc0000000 t __sched_text_start\t[mod]\nffffffffc0001000 t __sched_text_end\t[mod]\n'), undefined);
  assert.equal(findSchedulerText(''), undefined);
});

const k = (name: string): Frame => ({ name, kind: 'kernel' });
const u = (name: string): Frame => ({ name, kind: 'user' });
const rec = (frames: Frame[], value: number, count = 1): StackRecord => ({ pid: 10, tid: 11, comm: 'app', frames, value, count });

test('dropTracingFrames strips only the tracing frames at the kernel leaf, then merges what became equal', () => {
  const base = [u('main'), u('work'), k('do_syscall_64'), k('schedule'), k('__schedule')];
  const out = dropTracingFrames([
    rec([...base, k('__traceiter_sched_switch')], 100, 2),
    rec(base, 50, 1),
    rec([...base, k('__traceiter_sched_switch'), k('bpf_trace_run4'), k('bpf_prog_7b8fa485f5e0baba_offcpu_switch_btf')], 7, 1),
    rec([u('bpf_prog_0123456789abcdef_user_named')], 3, 1),
    rec([k('bpf_map_lookup_elem'), k('__schedule')], 1, 1),
  ]);
  assert.equal(out.length, 3);
  assert.deepEqual(out[0]!.frames, base);
  assert.equal(out[0]!.value, 157);
  assert.equal(out[0]!.count, 4);
  assert.deepEqual(out[1]!.frames, [u('bpf_prog_0123456789abcdef_user_named')], 'user frames are never touched');
  assert.deepEqual(out[2]!.frames, [k('bpf_map_lookup_elem'), k('__schedule')], 'only the leaf run is stripped');
});

test('loss warnings name the option that fixes each loss', () => {
  const none = { blocks: 5, userLost: 0, kernelLost: 0, startFull: 0, countsFull: 0, outOfRange: 9, copyDropped: 0, unwound: 0, switchInUnseen: 0 };
  assert.deepEqual(offcpuLossWarnings(none, config()), []);
  const w = offcpuLossWarnings({ ...none, userLost: 1, kernelLost: 2, startFull: 3, countsFull: 4 }, config({ stackStorageSize: 8 }));
  assert.equal(w.length, 3);
  assert.match(w[0]!, /1 user and 2 kernel stacks were lost.*--stack-storage-size \(now 8\)/);
  assert.match(w[1]!, /3 blocks were not timed.*--thread-storage-size \(now 32768\)/);
  assert.match(w[2]!, /4 blocks were dropped.*--count-storage-size \(now 40960\)/);
});

test('renderOffcpuStacks: BCC layout, leaf first, microseconds, heaviest last', () => {
  const profile: StackProfile = {
    kind: 'offcpu',
    unit: 'nanoseconds',
    startTimeNs: 0n,
    endTimeNs: 1_000_000_000n,
    stacks: [rec([u('main'), u('big'), k('__schedule')], 3_000_000, 3), rec([u('main'), u('small'), k('__schedule')], 1_000_000, 1)],
    warnings: [],
  };
  const text = renderOffcpuStacks(profile, { delimiter: true, color: false });
  assert.ok(text.indexOf('small') < text.indexOf('big'), 'ascending, as BCC prints');
  assert.match(text, /^ {4}__schedule \[k\]\n {4}--\n {4}big\n {4}main\n {4}- +app \(10\)\n {8}3000 us \(75\.00%\), 3 blocks\n\n$/m);
  assert.equal(renderOffcpuStacks({ ...profile, stacks: [] }, { delimiter: false, color: false }), 'No stacks were collected.\n');
});

test('the command and its hook chain are what doctor and cli.ts expect', () => {
  const cmd = offcpuCommand();
  assert.equal(cmd.name(), 'offcpu');
  const flags = cmd.options.map((o) => o.short ?? o.long);
  for (const f of ['-p', '-t', '-u', '-k', '-U', '-K', '-m', '-M', '--state', '-f', '-d', '--json', '--stacks', '--stack-storage-size']) {
    assert.ok(flags.includes(f), `${f} is an option`);
  }
  assert.deepEqual(offcpuHooks().map((h) => [h.name, h.programs]), [
    ['tp_btf', ['offcpu_switch_btf']],
    ['raw_tp', ['offcpu_switch_raw']],
  ]);
});
