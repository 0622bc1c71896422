import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import type { Frame, StackProfile } from '../../src/aggregate/model.js';
import { formatStack, renderTable, summaryLine } from '../../src/render/table.js';

const u = (name: string): Frame => ({ name, kind: 'user' });
const k = (name: string): Frame => ({ name, kind: 'kernel' });

const ESC = '\x1b';

function cpuProfile(): StackProfile {
  return {
    kind: 'cpu',
    unit: 'samples',
    frequencyHz: 99,
    startTimeNs: 1_700_000_000_000_000_000n,
    endTimeNs: 1_700_000_010_000_000_000n,
    warnings: ['12 samples lost: raise --stack-storage-size'],
    stacks: [
      { pid: 10, tid: 10, comm: 'burn', frames: [u('main'), u('work'), u('spin')], value: 50 },
      { pid: 10, tid: 11, comm: 'burn', frames: [u('main'), u('work'), k('entry_SYSCALL_64'), k('do_syscall_64')], value: 30 },
      {
        pid: 66,
        tid: 66,
        comm: 'evil\x1b[31m',
        frames: [u('a;b\nc'), u('\x1b]0;pwned\x07'), u('<img src=x onerror=alert(1)>')],
        value: 20,
      },
    ],
  };
}

function offcpuProfile(): StackProfile {
  return {
    kind: 'offcpu',
    unit: 'nanoseconds',
    startTimeNs: 0n,
    endTimeNs: 5_000_000_000n,
    warnings: [],
    stacks: [
      { pid: 7, tid: 7, comm: 'sleeper', frames: [u('main'), u('nanosleep'), k('schedule')], value: 1_230_000_000, count: 3 },
      { pid: 7, tid: 8, comm: 'reader', frames: [u('main'), u('read'), k('schedule')], value: 45_600_000, count: 40 },
    ],
  };
}

/** Data rows of a cli-table3 table: cells split on the vertical bar, trimmed. */
function tableRows(text: string, title: string): string[][] {
  const start = text.indexOf(title);
  assert.ok(start >= 0, `missing section ${title}`);
  const lines = text.slice(start).split('\n');
  const rows: string[][] = [];
  let seenHeader = false;
  for (const l of lines.slice(1)) {
    if (l.startsWith('└')) break;
    if (!l.startsWith('│')) continue;
    const cells = l.split('│').slice(1, -1).map((c) => c.trim());
    if (!seenHeader) {
      seenHeader = true;
      continue;
    }
    rows.push(cells);
  }
  return rows;
}

describe('renderTable (cpuprofile)', () => {
  it('has no escape sequences at all with color=false', () => {
    const out = renderTable(cpuProfile(), { color: false });
    assert.ok(!out.includes(ESC), 'no ESC byte');
    assert.ok(!/[\x00-\x09\x0b-\x1f\x7f-\x9f]/.test(out), 'no control characters except newline');
  });

  it('uses ANSI colors only when color=true, and the text is otherwise the same', () => {
    const plain = renderTable(cpuProfile(), { color: false });
    const colored = renderTable(cpuProfile(), { color: true });
    assert.ok(colored.includes(`${ESC}[`));
    // cli-table3 pads by visible width, so removing SGR codes gives the plain output back.
    assert.equal(colored.replace(/\x1b\[[0-9;]*m/g, ''), plain);
  });

  it('summary line: samples, frequency, duration, processes', () => {
    assert.equal(summaryLine(cpuProfile()), '100 samples at 99 Hz over 10.0 s, 2 processes, 3 threads, 3 distinct stacks');
    const out = renderTable(cpuProfile(), { color: false });
    assert.ok(out.startsWith('100 samples at 99 Hz over 10.0 s, 2 processes, 3 threads, 3 distinct stacks\n'));
    assert.ok(out.includes('\nwarning: 12 samples lost: raise --stack-storage-size\n'));
  });

  it('self and total tables with correct percentages', () => {
    const out = renderTable(cpuProfile(), { color: false });
    assert.deepEqual(tableRows(out, 'Top functions by self samples'), [
      ['50', '50.00%', '50', '50.00%', 'spin'],
      ['30', '30.00%', '30', '30.00%', 'do_syscall_64 [k]'],
      ['20', '20.00%', '20', '20.00%', '<img src=x onerror=alert(1)>'],
    ]);
    const total = tableRows(out, 'Top functions by total samples');
    assert.deepEqual(total[0], ['0', '0.00%', '80', '80.00%', 'main']);
    assert.deepEqual(total[1], ['0', '0.00%', '80', '80.00%', 'work']);
    assert.equal(total.length, 8);
  });

  it('hostile names are shown escaped, never raw', () => {
    const out = renderTable(cpuProfile(), { color: false });
    assert.ok(out.includes('evil\\x1b[31m (66)'));
    assert.ok(out.includes('    a;b\\x0ac\n'));
    assert.ok(out.includes('    \\x1b]0;pwned\\x07\n'));
    assert.ok(out.includes('<img src=x onerror=alert(1)>'));
  });

  it('respects topFunctions/topStacks limits and long-name truncation', () => {
    const p = cpuProfile();
    p.stacks.push({ pid: 1, tid: 1, comm: 'cpp', frames: [u(`ns::${'x'.repeat(300)}`)], value: 1 });
    const out = renderTable(p, { color: false, topFunctions: 1, topStacks: 1, maxNameWidth: 20, functionTables: ['self'] });
    assert.deepEqual(tableRows(out, 'Top functions by self samples'), [['50', '49.50%', '50', '49.50%', 'spin']]);
    assert.ok(!out.includes('Top functions by total'));
    assert.ok(out.includes('Top 1 stack by samples:'));
    assert.equal(out.match(/^ {4}- {16}\S/gm)?.length, 1);
    const all = renderTable(p, { color: false, topFunctions: 10, maxNameWidth: 20 });
    assert.ok(all.includes(`ns::${'x'.repeat(15)}…`));
    assert.ok(all.includes(`ns::${'x'.repeat(300)}\n`), 'stacks are not truncated');
  });

  it('says so when there are no stacks', () => {
    const p = cpuProfile();
    p.stacks = [];
    p.warnings = [];
    assert.equal(renderTable(p, { color: false }), '0 samples at 99 Hz over 10.0 s, 0 processes, 0 threads, 0 distinct stacks\n\nNo stacks were collected.\n');
  });
});

describe('formatStack (BCC profile layout)', () => {
  const rec = { pid: 10, tid: 11, comm: 'burn', frames: [u('main'), u('write'), k('entry_SYSCALL_64'), k('ksys_write')], value: 30 };

  it('leaf first, `-  comm (pid)`, then the value', () => {
    assert.equal(
      formatStack(rec, 12.5, { color: false }),
      [
        '    ksys_write [k]',
        '    entry_SYSCALL_64 [k]',
        '    write',
        '    main',
        '    -                burn (10)',
        '        30 (12.50%)',
        '',
        '',
      ].join('\n'),
    );
  });

  it('root first with the BCC -d delimiter', () => {
    assert.equal(
      formatStack(rec, 100, { color: false, stackOrder: 'root-first', delimiter: true }),
      '    main\n    write\n    --\n    entry_SYSCALL_64 [k]\n    ksys_write [k]\n    -                burn (10)\n        30 (100.00%)\n\n',
    );
  });
});

describe('renderTable (offcpu reuse)', () => {
  it('uses off-CPU time columns, human durations and block counts', () => {
    const out = renderTable(offcpuProfile(), { color: false });
    assert.ok(out.startsWith('1.28 s off-CPU in 43 blocks over 5.00 s, 1 process, 2 threads, 2 distinct stacks\n'));
    const rows = tableRows(out, 'Top functions by self off-CPU time');
    assert.deepEqual(rows, [['1.28 s', '100.00%', '43', '1.28 s', '100.00%', '43', 'schedule [k]']]);
    const header = out.split('\n').find((l) => l.startsWith('│') && l.includes('self off-CPU time'));
    assert.match(header!, /self off-CPU time .* self % .* self blocks .* total off-CPU time .* total % .* total blocks .* function/);
    const totals = tableRows(out, 'Top functions by total off-CPU time');
    assert.deepEqual(totals[3], ['0 ns', '0.00%', '0', '45.6 ms', '3.57%', '40', 'read']);
    assert.ok(out.includes('    -                reader (7)\n        45.6 ms (3.57%), 40 blocks\n'));
    assert.ok(!out.includes(ESC));
  });

  it('accepts custom labels and formatters', () => {
    const out = renderTable(offcpuProfile(), {
      color: false,
      valueLabel: 'wait',
      formatValue: (v) => `${v / 1e6}ms`,
      countLabel: 'waits',
      topStacks: 0,
    });
    assert.ok(out.includes('self wait'));
    assert.ok(out.includes('total waits'));
    assert.ok(out.includes('1230ms'));
    assert.ok(!out.includes('Top 2 stacks'));
  });
});
