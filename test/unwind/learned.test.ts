// Learned rules (src/unwind/learned.ts): the layouts shared with bpf/unwind.h, the translation of
// compiled CFI rules into the kernel's form, and, on a real stack without frame pointers, that
// following the translated rules the way bpf/unwind.bpf.h does reproduces the unwinder's stack.
// The kernel's own walk is tested for real in test/commands/*-unwind.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildWorkload, cValues, requireRoot, sleep } from '../helpers.js';
import { BpfTool } from '../../src/bpf/object.js';
import { cpuprofileHooks } from '../../src/commands/cpuprofile.js';
import { Symbolizer } from '../../src/symbolize/index.js';
import { RBP, RIP, RSP, regsFrom, Unwinder, type Rule, type StackSnapshot } from '../../src/unwind/unwinder.js';
import { decodeLearnedStack, kernelRule, RuleTeacher, ruleKey } from '../../src/unwind/learned.js';
import {
  UNWIND_DELTA_RECORD,
  UNWIND_KSTACK_MAX,
  UNWIND_RULE,
  UNWIND_RULE_CFA_RBP,
  UNWIND_RULE_KEY,
  UNWIND_RULE_RBP_SAVED,
  UNWIND_STACK_RECORD,
  UNWIND_USER_STACK,
  UnwindRuleKind,
  UnwindStop,
} from '../../src/unwind/layout.js';
import { u64At } from '../../src/unwind/reader.js';

/** Offsets and sizes of one struct of bpf/unwind.h, named as in the TypeScript layout. */
function cStruct(struct: string, fields: Record<string, string>): Record<string, number> {
  const exprs: Record<string, string> = { size: `sizeof(struct ${struct})` };
  for (const [name, field] of Object.entries(fields)) {
    exprs[name] = field.startsWith('sizeof:') ? `sizeof(((struct ${struct} *)0)->${field.slice(7)})` : `offsetof(struct ${struct}, ${field})`;
  }
  return cValues('unwind.h', exprs);
}

test('record, rule and learned-stack layouts match bpf/unwind.h', () => {
  assert.deepEqual(
    cStruct('unwind_stack_record', {
      kind: 'kind',
      tgid: 'tgid',
      pid: 'pid',
      kernelStackId: 'kernel_stack_id',
      stackLen: 'stack_len',
      flags: 'flags',
      seq: 'seq',
      comm: 'comm',
      commLength: 'sizeof:comm',
      regs: 'regs',
    }),
    { ...UNWIND_STACK_RECORD },
  );
  assert.deepEqual(cStruct('unwind_delta_record', { kind: 'kind', pid: 'pid', seq: 'seq', deltaNs: 'delta_ns' }), { ...UNWIND_DELTA_RECORD });
  assert.deepEqual(cStruct('unwind_rule_key', { tgid: 'tgid', pc: 'pc' }), { ...UNWIND_RULE_KEY });
  assert.deepEqual(cStruct('unwind_rule', { kind: 'kind', flags: 'flags', cfaOff: 'cfa_off', rbpOff: 'rbp_off' }), { ...UNWIND_RULE });
  assert.deepEqual(cStruct('unwind_user_stack', { len: 'len', stop: 'stop', pcs: 'pcs' }), { ...UNWIND_USER_STACK });
  assert.deepEqual(
    cValues('unwind.h', {
      cfa: 'UNWIND_RULE_CFA',
      fp: 'UNWIND_RULE_FP',
      end: 'UNWIND_RULE_END',
      nocfi: 'UNWIND_RULE_NOCFI',
      stopEnd: 'UNWIND_STOP_END',
      stopNocfi: 'UNWIND_STOP_NOCFI',
      stopDepth: 'UNWIND_STOP_DEPTH',
      max: 'UNWIND_KSTACK_MAX',
      cfaRbp: 'UNWIND_RULE_CFA_RBP',
      rbpSaved: 'UNWIND_RULE_RBP_SAVED',
    }),
    {
      ...UnwindRuleKind,
      stopEnd: UnwindStop.end,
      stopNocfi: UnwindStop.nocfi,
      stopDepth: UnwindStop.depth,
      max: UNWIND_KSTACK_MAX,
      cfaRbp: UNWIND_RULE_CFA_RBP,
      rbpSaved: UNWIND_RULE_RBP_SAVED,
    },
  );
});

const cfi = (over: Partial<Extract<Rule, { t: 'cfi' }>> = {}): Rule => ({
  t: 'cfi',
  cfa: { kind: 'reg', reg: RSP, offset: 16 },
  regs: [[RIP, { kind: 'offset', n: -8 }]],
  ra: { kind: 'offset', n: -8 },
  signal: false,
  start: 0x401000,
  end: 0x401100,
  ...over,
});

function decoded(b: Buffer | undefined): { kind: number; flags: number; cfaOff: number; rbpOff: number } | undefined {
  if (!b) return undefined;
  return { kind: b[UNWIND_RULE.kind]!, flags: b[UNWIND_RULE.flags]!, cfaOff: b.readInt32LE(UNWIND_RULE.cfaOff), rbpOff: b.readInt32LE(UNWIND_RULE.rbpOff) };
}

test('kernelRule keeps what the kernel can follow exactly and refuses the rest', () => {
  assert.deepEqual(decoded(kernelRule(cfi())), { kind: UnwindRuleKind.cfa, flags: 0, cfaOff: 16, rbpOff: 0 });
  assert.deepEqual(
    decoded(kernelRule(cfi({ cfa: { kind: 'reg', reg: RBP, offset: 16 }, regs: [[RIP, { kind: 'offset', n: -8 }], [RBP, { kind: 'offset', n: -16 }], [3, { kind: 'offset', n: -24 }]] }))),
    { kind: UnwindRuleKind.cfa, flags: UNWIND_RULE_CFA_RBP | UNWIND_RULE_RBP_SAVED, cfaOff: 16, rbpOff: -16 },
    'rbp-based CFA, rbp saved; rbx is not tracked and needs nothing',
  );
  assert.deepEqual(decoded(kernelRule(cfi({ ra: { kind: 'undefined' } }))), { kind: UnwindRuleKind.end, flags: 0, cfaOff: 0, rbpOff: 0 });
  assert.deepEqual(decoded(kernelRule({ t: 'fp' })), { kind: UnwindRuleKind.fp, flags: 0, cfaOff: 0, rbpOff: 0 });
  assert.deepEqual(decoded(kernelRule({ t: 'nocfi' })), { kind: UnwindRuleKind.nocfi, flags: 0, cfaOff: 0, rbpOff: 0 });
  assert.equal(kernelRule({ t: 'unmapped' }), undefined, 'no code there: the copy path decides');
  assert.equal(kernelRule(cfi({ signal: true })), undefined, 'signal frames restore every register');
  assert.equal(kernelRule(cfi({ cfa: { kind: 'expression', expr: Buffer.from([0x77, 0x08]) } })), undefined, 'PLT-style CFA expression');
  assert.equal(kernelRule(cfi({ cfa: { kind: 'reg', reg: 10, offset: 0 } })), undefined, 'CFA from r10 (stack realignment)');
  assert.equal(kernelRule(cfi({ ra: { kind: 'offset', n: -16 } })), undefined, 'return address elsewhere than CFA - 8');
  assert.equal(kernelRule(cfi({ regs: [[RBP, { kind: 'register', reg: 3 }]] })), undefined, 'rbp kept in another register');
  assert.equal(kernelRule(cfi({ regs: [[RSP, { kind: 'valOffset', n: 0 }]] })), undefined, 'a rule for rsp itself');
});

for (const batch of [true, false]) {
  test(`the teacher teaches a CFI rule for its row around the pc, each address once, and stops at a full map (${batch ? 'batch updates' : 'one update per address'})`, () => {
    const stored = new Map<string, Buffer>();
    let room = Infinity;
    let calls = 0;
    const store = (key: Buffer, value: Buffer): void => {
      if (stored.size >= room) throw new Error("map 'unwind_rules': update failed: E2BIG");
      stored.set(key.toString('hex'), Buffer.from(value));
    };
    const tool = {
      update(map: string, key: Buffer, value: Buffer): void {
        assert.equal(map, 'unwind_rules');
        calls++;
        store(key, value);
      },
      updateBatch(map: string, keys: Buffer, values: Buffer): number {
        assert.equal(map, 'unwind_rules');
        calls++;
        if (!batch) throw new Error("map 'unwind_rules': batch update failed: EINVAL");
        const n = keys.length / 16;
        let i = 0;
        for (; i < n && stored.size < room; i++) store(keys.subarray(i * 16, i * 16 + 16), values.subarray(i * 16, i * 16 + 16));
        if (i === 0 && n > 0) throw new Error("map 'unwind_rules': batch update failed: E2BIG");
        return i;
      },
    } as unknown as BpfTool;
    const teacher = new RuleTeacher(tool);
    const rule = cfi({ start: 0x401000, end: 0x401100 });
    teacher.learn(7, 0x401010, rule);
    // the row starts 16 bytes before the pc and goes on past the window after it
    assert.equal(stored.size, 16 + 1 + RuleTeacher.NEAR);
    if (batch) assert.equal(calls, 1, 'one call for the row');
    assert.deepEqual(decoded(stored.get(ruleKey(7, 0x401000).toString('hex'))), decoded(kernelRule(rule)));
    assert.ok(stored.has(ruleKey(7, 0x401010 + RuleTeacher.NEAR).toString('hex')));
    assert.ok(!stored.has(ruleKey(7, 0x400fff).toString('hex')), 'nothing outside the row');
    teacher.learn(7, 0x401020, rule);
    assert.equal(stored.size, 16 + 1 + RuleTeacher.NEAR + 16, 'addresses already taught are not sent again');
    teacher.learn(7, 0x7f0000001000, { t: 'fp' });
    assert.ok(stored.has(ruleKey(7, 0x7f0000001000).toString('hex')), 'a frame-pointer rule holds for its pc alone');
    assert.equal(teacher.stats.taught, stored.size);
    teacher.learn(8, 0x401010, cfi({ signal: true }));
    assert.equal(teacher.stats.unfit, 1);
    room = stored.size + 3;
    teacher.learn(9, 0x401080, rule);
    assert.equal(stored.size, room, 'a full map: what fit is kept');
    assert.equal(teacher.stats.taught, stored.size);
    assert.equal(teacher.stats.failed, 1, 'one failure for the rule, not one per address');
    assert.ok(teacher.firstError, 'kept for -v');
  });
}

test('ruleKey and decodeLearnedStack follow the C layout', () => {
  const k = ruleKey(4242, 0x7f12_3456_789a);
  assert.equal(k.length, UNWIND_RULE_KEY.size);
  assert.equal(k.readUInt32LE(UNWIND_RULE_KEY.tgid), 4242);
  assert.equal(k.readBigUInt64LE(UNWIND_RULE_KEY.pc), 0x7f123456789an);
  const v = Buffer.alloc(UNWIND_USER_STACK.size);
  v.writeUInt32LE(3, UNWIND_USER_STACK.len);
  v.writeUInt32LE(UnwindStop.nocfi, UNWIND_USER_STACK.stop);
  [0x401000n, 0x401100n, 0x7f0000001234n, 0xdeadn].forEach((pc, i) => v.writeBigUInt64LE(pc, UNWIND_USER_STACK.pcs + 8 * i));
  assert.deepEqual(decodeLearnedStack(v), { pcs: [0x401000n, 0x401100n, 0x7f0000001234n], stop: '[truncated: no CFI]' });
  v.writeUInt32LE(UnwindStop.end, UNWIND_USER_STACK.stop);
  assert.deepEqual(decodeLearnedStack(v), { pcs: [0x401000n, 0x401100n, 0x7f0000001234n] });
  v.writeUInt32LE(UnwindStop.depth, UNWIND_USER_STACK.stop);
  assert.equal(decodeLearnedStack(v)!.stop, '[truncated: depth]');
  assert.equal(decodeLearnedStack(v.subarray(0, 100)), undefined, 'a short value is not a stack');
});

/**
 * The walk of bpf/unwind.bpf.h (unwind_step) over a stack snapshot, from translated rules only:
 * the pcs, or undefined where the kernel would fall back to a copy.
 */
function walkLikeTheKernel(rules: Map<string, Buffer>, pid: number, snap: StackSnapshot): number[] | undefined {
  let pc = snap.regs[RIP]!;
  let sp = snap.regs[RSP]!;
  let bp = snap.regs[RBP]!;
  const sp0 = sp;
  const read = (addr: number): number | undefined => {
    const off = addr - sp0;
    return off >= 0 && off + 8 <= snap.stack.length ? u64At(snap.stack, off) : undefined;
  };
  const pcs: number[] = [];
  for (let i = 0; i <= UNWIND_KSTACK_MAX; i++) {
    if (pc === 0) return i === 0 ? undefined : pcs;
    if (i >= UNWIND_KSTACK_MAX) return pcs;
    const r = decoded(rules.get(ruleKey(pid, i === 0 ? pc : pc - 1).toString('hex')));
    if (!r) return undefined;
    pcs.push(pc);
    if (r.kind === UnwindRuleKind.end || r.kind === UnwindRuleKind.nocfi) return pcs;
    if (r.kind === UnwindRuleKind.fp) {
      const saved = read(bp);
      const ra = read(bp + 8);
      if (bp < sp || bp % 8 || saved === undefined || ra === undefined) return pcs;
      [sp, bp, pc] = [bp + 16, saved, ra];
      continue;
    }
    const cfa = ((r.flags & UNWIND_RULE_CFA_RBP) ? bp : sp) + r.cfaOff;
    const ra = read(cfa - 8);
    if (cfa <= sp || ra === undefined) return undefined;
    if (r.flags & UNWIND_RULE_RBP_SAVED) {
      const saved = read(cfa + r.rbpOff);
      if (saved === undefined) return undefined;
      bp = saved;
    }
    [sp, pc] = [cfa, ra];
  }
  return pcs;
}

test('on a real -O2 stack through libc, every frame gets a kernel rule, and following them gives the unwinder\'s stack', async () => {
  const bin = buildWorkload('unwind-snapshot', ['-O2', '-fomit-frame-pointer']);
  const file = join(mkdtempSync(join(tmpdir(), 'snap-')), 'snap.bin');
  const child = spawn(bin, ['direct', file], { stdio: ['ignore', 'pipe', 'inherit'] });
  const sym = new Symbolizer();
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (d: string) => d.includes('ready') && resolve());
      child.on('exit', (code) => reject(new Error(`snapshot program exited (${code})`)));
    });
    const raw = readFileSync(file);
    const snap: StackSnapshot = { regs: regsFrom(raw, 0), stack: raw.subarray(17 * 8), capped: false };
    const rules = new Map<string, Buffer>();
    const unfit: number[] = [];
    const u = new Unwinder(
      { codeAt: (pid, a) => sym.codeAt(pid, a) },
      {
        onRule: (pid, pc, rule) => {
          const b = kernelRule(rule);
          if (b) rules.set(ruleKey(pid, pc).toString('hex'), b);
          else unfit.push(pc);
        },
      },
    );
    const r = u.unwind(child.pid!, snap);
    assert.equal(r.stop, 'end');
    assert.ok(r.pcs.length >= 6, `a deep enough stack: ${r.pcs.length} frames`);
    assert.deepEqual(unfit, [], 'main, the -O2 callers and libc\'s start-up frames all have plain CFA rules');
    assert.deepEqual(walkLikeTheKernel(rules, child.pid!, snap), r.pcs);
    // Without the leaf's rule the kernel does not guess: it falls back to the copy.
    rules.delete(ruleKey(child.pid!, r.pcs[0]!).toString('hex'));
    assert.equal(walkLikeTheKernel(rules, child.pid!, snap), undefined);
  } finally {
    child.kill('SIGKILL');
    sym.close();
  }
});

test('a ring drained in bounded rounds gives up at the byte budget and leaves the rest for the next round', async (t) => {
  if (!requireRoot(t)) return;
  // Every sample of a busy process copied (the kernel walk off), at 999 Hz for 300 ms.
  const burner = spawn(buildWorkload('burner'), ['3'], { stdio: 'ignore' });
  try {
    const copyOnly = cpuprofileHooks({ frequency: 999, unwind: 'dwarf' }).find((c) => !c.globals);
    assert.ok(copyOnly, 'the chain has a copy-only choice');
    const tool = BpfTool.open('cpuprofile', [copyOnly], {
      globals: { filter_tgid: { bool: true } },
      maxEntries: { stack_copies: 8 << 20 },
      prepare: (tl) => tl.fillIdSet('target_tgids', [burner.pid!]),
    });
    try {
      await sleep(300);
      tool.detach();
      const budget = 4096;
      const first = tool.ringConsume('stack_copies', budget);
      const rest = tool.ringConsume('stack_copies');
      /** Bytes each framed record takes in a round (length word, record, padding). */
      const sizes = (b: Buffer): number[] => {
        const out: number[] = [];
        for (let off = 0; off + 4 <= b.length; off += out[out.length - 1]!) out.push(4 + ((b.readUInt32LE(off) + 3) & ~3));
        return out;
      };
      const firstSizes = sizes(first);
      t.diagnostic(`first round ${first.length} bytes (${firstSizes.length} records), then ${rest.length} bytes (${sizes(rest).length} records)`);
      assert.ok(first.length >= budget, `the round takes at least the budget: ${first.length}`);
      assert.ok(first.length - firstSizes.at(-1)! < budget, `and stops at the record that reaches it: ${firstSizes.join(', ')}`);
      assert.ok(sizes(rest).length > 10, 'the rest stayed in the ring for the next round');
      assert.equal(tool.ringConsume('stack_copies').length, 0, 'and is consumed once taken');
    } finally {
      tool.close();
    }
  } finally {
    burner.kill();
  }
});
