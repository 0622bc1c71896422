import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import type { HistogramSet, Log2Histogram } from '../../src/aggregate/model.js';
import { fromBccSlots } from '../../src/aggregate/log2.js';
import {
  defaultGroupHeader,
  extendedSummary,
  renderBccLog2,
  renderHistogramSet,
  renderLog2Histogram,
} from '../../src/render/histogram.js';

// The runqlat example from BCC's documentation (libbpf-tools header spacing: `count    distribution`).
const RUNQLAT_BCC_SLOTS = [233, 742, 203, 173, 24, 0, 30, 6, 3, 5, 27, 30, 20, 29, 809, 64];
const RUNQLAT_TEXT = [
  '     usecs               : count    distribution',
  '         0 -> 1          : 233      |***********                             |',
  '         2 -> 3          : 742      |************************************    |',
  '         4 -> 7          : 203      |**********                              |',
  '         8 -> 15         : 173      |********                                |',
  '        16 -> 31         : 24       |*                                       |',
  '        32 -> 63         : 0        |                                        |',
  '        64 -> 127        : 30       |*                                       |',
  '       128 -> 255        : 6        |                                        |',
  '       256 -> 511        : 3        |                                        |',
  '       512 -> 1023       : 5        |                                        |',
  '      1024 -> 2047       : 27       |*                                       |',
  '      2048 -> 4095       : 30       |*                                       |',
  '      4096 -> 8191       : 20       |                                        |',
  '      8192 -> 16383      : 29       |*                                       |',
  '     16384 -> 32767      : 809      |****************************************|',
  '     32768 -> 65535      : 64       |***                                     |',
  '',
].join('\n');

describe('renderBccLog2 (print_log2_hist layout)', () => {
  it('reproduces the BCC runqlat example byte for byte', () => {
    assert.equal(renderBccLog2([...RUNQLAT_BCC_SLOTS, 0, 0, 0], 'usecs'), RUNQLAT_TEXT);
  });

  it('model histograms print the same (model slots 0 and 1 share the 0 -> 1 row)', () => {
    const model = fromBccSlots(RUNQLAT_BCC_SLOTS);
    model[0] = 100; // 100 zeros and 133 ones
    model[1] = 133;
    assert.equal(renderLog2Histogram(model, 'usecs'), RUNQLAT_TEXT);
    const h: Log2Histogram = { labels: {}, counts: model, total: 2398 };
    assert.equal(renderLog2Histogram(h, 'usecs'), RUNQLAT_TEXT);
  });

  it('trims leading empty rows by default, keeps them with trimLeading=false', () => {
    const counts = [0, 0, 0, 4, 0, 8];
    assert.equal(
      renderBccLog2(counts, 'msecs'),
      [
        '     msecs               : count    distribution',
        '         8 -> 15         : 4        |********************                    |',
        '        16 -> 31         : 0        |                                        |',
        '        32 -> 63         : 8        |****************************************|',
        '',
      ].join('\n'),
    );
    const full = renderBccLog2(counts, 'msecs', { trimLeading: false }).split('\n');
    assert.equal(full[1], '         0 -> 1          : 0        |                                        |');
    assert.equal(full.length, 1 + 6 + 1);
  });

  it('prints nothing for an empty histogram', () => {
    assert.equal(renderBccLog2([], 'usecs'), '');
    assert.equal(renderBccLog2([0, 0, 0], 'usecs'), '');
  });

  it('stays narrow up to BCC slot 32 and widens past it, like print_log2_hist', () => {
    const narrow = new Array<number>(33).fill(0);
    narrow[32] = 1;
    assert.equal(
      renderBccLog2(narrow, 'nsecs'),
      '     nsecs               : count    distribution\n' +
        '4294967296 -> 8589934591 : 1        |****************************************|\n',
    );
    const wide = new Array<number>(34).fill(0);
    wide[32] = 1;
    wide[33] = 2;
    assert.equal(
      renderBccLog2(wide, 'nsecs'),
      '               nsecs                         : count    distribution\n' +
        '          4294967296 -> 8589934591           : 1        |**********          |\n' +
        '          8589934592 -> 17179869183          : 2        |********************|\n',
    );
  });

  it('widens the count column only when a count needs more than 8 digits', () => {
    const out = renderBccLog2([123456789, 1], 'usecs').split('\n');
    assert.equal(out[1], '         0 -> 1          : 123456789 |****************************************|');
    assert.equal(out[2], '         2 -> 3          : 1        |                                        |');
  });

  it('colors only the bar, and only when asked', () => {
    const plain = renderBccLog2([1, 2], 'usecs');
    assert.ok(!plain.includes('\x1b'));
    const colored = renderBccLog2([1, 2], 'usecs', { color: true });
    assert.ok(colored.includes('\x1b['));
    assert.equal(colored.replace(/\x1b\[[0-9;]*m/g, ''), plain);
    // 16-color cyan around the stars only; a row without stars gets no codes.
    assert.ok(colored.includes(`|\x1b[36m${'*'.repeat(40)}\x1b[39m|`), colored);
    assert.ok(colored.includes(`|\x1b[36m${'*'.repeat(20)}\x1b[39m${' '.repeat(20)}|`), colored);
    const withEmptyRow = renderBccLog2([1, 0, 4], 'usecs', { color: true }).split('\n');
    assert.equal(withEmptyRow[2], `         2 -> 3          : 0        |${' '.repeat(40)}|`);
  });

  it('sanitizes the unit label', () => {
    assert.ok(!renderBccLog2([1], 'us\x1b[2Jecs').includes('\x1b'));
  });
});

describe('renderHistogramSet', () => {
  const base = { title: 'block I/O latency', startTimeNs: 0n, endTimeNs: 1n } as const;

  it('ungrouped: the histogram alone, plus BCC -e summary', () => {
    const set: HistogramSet = {
      ...base,
      unit: 'usecs',
      histograms: [{ labels: {}, counts: [0, 1, 2, 1], total: 4, sum: 11 }],
    };
    assert.equal(
      renderHistogramSet(set, { extended: true }),
      [
        '     usecs               : count    distribution',
        '         0 -> 1          : 1        |********************                    |',
        '         2 -> 3          : 2        |****************************************|',
        '         4 -> 7          : 1        |********************                    |',
        '',
        'avg = 2 usecs, total: 11 usecs, count: 4',
        '',
      ].join('\n'),
    );
  });

  it('grouped by disk: blank line, `disk = sda`, histogram; empty groups skipped', () => {
    const set: HistogramSet = {
      ...base,
      unit: 'usecs',
      groupBy: 'disk',
      histograms: [
        { labels: { disk: 'sda' }, counts: [0, 0, 3], total: 3 },
        { labels: { disk: 'sdb' }, counts: [], total: 0 },
        { labels: { disk: 'nvme0n1' }, counts: [0, 0, 0, 1], total: 1 },
      ],
    };
    assert.equal(
      renderHistogramSet(set),
      [
        '',
        'disk = sda',
        '     usecs               : count    distribution',
        '         2 -> 3          : 3        |****************************************|',
        '',
        'disk = nvme0n1',
        '     usecs               : count    distribution',
        '         4 -> 7          : 1        |****************************************|',
        '',
      ].join('\n'),
    );
    assert.ok(renderHistogramSet(set, { showEmpty: true }).includes('\ndisk = sdb\n'));
  });

  it('custom group headers (tcprtt style) are sanitized', () => {
    const set: HistogramSet = {
      ...base,
      unit: 'msecs',
      groupBy: 'raddr',
      histograms: [
        { labels: { raddr: '::1' }, counts: [0, 1], total: 1 },
        { labels: { raddr: 'evil\n\x1b[31m' }, counts: [0, 1], total: 1 },
      ],
    };
    const out = renderHistogramSet(set, { groupHeader: (h) => `Remote Address: = ${h.labels.raddr}` });
    assert.ok(out.startsWith('\nRemote Address: = ::1\n     msecs '));
    assert.ok(out.includes('\nRemote Address: = evil\\x0a\\x1b[31m\n'));
    assert.ok(!out.includes('\x1b'));
  });

  it('flags grouping uses the default header, labels without groupBy are listed', () => {
    const h: Log2Histogram = { labels: { flags: 'Write' }, counts: [1], total: 1 };
    assert.equal(defaultGroupHeader(h, { ...base, unit: 'usecs', groupBy: 'flags', histograms: [h] }), 'flags = Write');
    const h2: Log2Histogram = { labels: { b: '2', a: '1' }, counts: [1], total: 1 };
    assert.equal(defaultGroupHeader(h2, { ...base, unit: 'usecs', histograms: [h2] }), 'a=1, b=2');
  });

  it('extendedSummary without a kept sum prints the count only; truncates like %ld', () => {
    assert.equal(extendedSummary({ labels: {}, counts: [1], total: 1 }, 'usecs'), 'count: 1');
    assert.equal(extendedSummary({ labels: {}, counts: [0, 0, 3], total: 3, sum: 8.9 }, 'msecs'), 'avg = 2 msecs, total: 8 msecs, count: 3');
  });
});
