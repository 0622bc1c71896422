import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import type { HistogramSet, Log2Histogram } from '../../src/aggregate/model.js';
import {
  bccLog2l,
  bccSlotBounds,
  convertTime,
  describeSlot,
  fromBccSlots,
  histogramAverage,
  histogramFromValues,
  labelKey,
  log2Slot,
  mergeByLabels,
  mergeHistogramSets,
  regroupHistograms,
  slotBounds,
  slotRangeIn,
  sortHistograms,
  sumCounts,
  sumHistograms,
  toBccSlots,
} from '../../src/aggregate/log2.js';

describe('log2Slot (model convention: bit length)', () => {
  it('puts 0 in slot 0, 1 in slot 1 and 2^(k-1)..2^k-1 in slot k', () => {
    const cases: Array<[number, number]> = [
      [0, 0],
      [1, 1],
      [2, 2],
      [3, 2],
      [4, 3],
      [7, 3],
      [8, 4],
      [1023, 10],
      [1024, 11],
      [0xffffffff, 32],
      [0x100000000, 33],
      [2 ** 40 - 1, 40],
      [2 ** 40, 41],
    ];
    for (const [v, s] of cases) assert.equal(log2Slot(v), s, `log2Slot(${v})`);
  });

  it('handles bigint up to 2^64-1 and clamps junk to slot 0', () => {
    assert.equal(log2Slot(0n), 0);
    assert.equal(log2Slot((1n << 63n) - 1n), 63);
    assert.equal(log2Slot(1n << 63n), 64);
    assert.equal(log2Slot((1n << 64n) - 1n), 64);
    assert.equal(log2Slot(-5), 0);
    assert.equal(log2Slot(Number.NaN), 0);
    assert.equal(log2Slot(0.5), 0);
    assert.equal(log2Slot(3.9), 2);
  });

  it('every value lies within the bounds of its slot', () => {
    for (let v = 0; v < 5000; v += 7) {
      const b = slotBounds(log2Slot(v));
      assert.ok(b.low <= BigInt(v) && BigInt(v) <= b.high, `${v} in [${b.low}, ${b.high}]`);
    }
  });
});

describe('bccLog2l (libbpf-tools bits.bpf.h log2l)', () => {
  it('matches floor(log2 v) with 0 and 1 both in slot 0', () => {
    const cases: Array<[number | bigint, number]> = [
      [0, 0],
      [1, 0],
      [2, 1],
      [3, 1],
      [4, 2],
      [7, 2],
      [8, 3],
      [0xffffffff, 31],
      [0x100000000, 32],
      [(1n << 64n) - 1n, 63],
    ];
    for (const [v, s] of cases) assert.equal(bccLog2l(v), s, `bccLog2l(${v})`);
  });
});

describe('slot bounds', () => {
  it('model slots are exact and inclusive', () => {
    assert.deepEqual(slotBounds(0), { low: 0n, high: 0n });
    assert.deepEqual(slotBounds(1), { low: 1n, high: 1n });
    assert.deepEqual(slotBounds(2), { low: 2n, high: 3n });
    assert.deepEqual(slotBounds(3), { low: 4n, high: 7n });
    assert.deepEqual(slotBounds(64), { low: 1n << 63n, high: (1n << 64n) - 1n });
    assert.throws(() => slotBounds(-1), RangeError);
    assert.throws(() => slotBounds(1.5), RangeError);
  });

  it('BCC slots print as 0 -> 1, 2 -> 3, 4 -> 7', () => {
    assert.deepEqual(bccSlotBounds(0), { low: 0n, high: 1n });
    assert.deepEqual(bccSlotBounds(1), { low: 2n, high: 3n });
    assert.deepEqual(bccSlotBounds(2), { low: 4n, high: 7n });
    assert.deepEqual(bccSlotBounds(10), { low: 1024n, high: 2047n });
  });

  it('describeSlot and slotRangeIn', () => {
    assert.equal(describeSlot(0, 'usecs'), '0 usecs');
    assert.equal(describeSlot(3, 'usecs'), '4 -> 7 usecs');
    assert.deepEqual(slotRangeIn(3, 'usecs', 'msecs'), { low: 0.004, highExclusive: 0.008 });
    assert.deepEqual(slotRangeIn(11, 'usecs', 'secs'), { low: 0.001024, highExclusive: 0.002048 });
    assert.equal(convertTime(1500, 'usecs', 'msecs'), 1.5);
    assert.equal(convertTime(2, 'secs', 'nsecs'), 2e9);
  });
});

describe('BCC slot conversion', () => {
  it('toBccSlots merges model slots 0 and 1 and shifts the rest down', () => {
    assert.deepEqual(toBccSlots([]), []);
    assert.deepEqual(toBccSlots([5]), [5]);
    assert.deepEqual(toBccSlots([1, 2, 3, 4]), [3, 3, 4]);
  });

  it('fromBccSlots puts BCC slot k in model slot k+1 and round-trips through toBccSlots', () => {
    assert.deepEqual(fromBccSlots([3, 3, 4]), [0, 3, 3, 4]);
    assert.deepEqual(toBccSlots(fromBccSlots([9, 0, 7, 1])), [9, 0, 7, 1]);
  });

  it('a value lands in the same printed row either way', () => {
    for (const v of [0, 1, 2, 3, 4, 100, 65535, 65536, 2 ** 33]) {
      const model = log2Slot(v);
      const row = model === 0 ? 0 : model - 1;
      assert.equal(row, bccLog2l(v), `value ${v}`);
    }
  });
});

describe('summing and regrouping', () => {
  const a: Log2Histogram = { labels: { disk: 'sda', flags: 'Read' }, counts: [1, 0, 2], total: 3, sum: 10 };
  const b: Log2Histogram = { labels: { disk: 'sda', flags: 'Write' }, counts: [0, 1, 0, 4], total: 5, sum: 40 };
  const c: Log2Histogram = { labels: { disk: 'vda', flags: 'Read' }, counts: [0, 0, 1], total: 1 };

  it('sumCounts adds per-CPU arrays element-wise and trims trailing zeros', () => {
    assert.deepEqual(sumCounts([[1, 2, 0, 0], [0, 1, 0], [3]]), [4, 3]);
    assert.deepEqual(sumCounts([]), []);
    assert.deepEqual(sumCounts([[0, 0]]), []);
  });

  it('sumHistograms keeps sum only when every input has it', () => {
    assert.deepEqual(sumHistograms([a, b]), { labels: {}, counts: [1, 1, 2, 4], total: 8, sum: 50 });
    const s = sumHistograms([a, c], { disk: 'x' });
    assert.equal(s.sum, undefined);
    assert.equal(s.total, 4);
    assert.deepEqual(s.labels, { disk: 'x' });
  });

  it('regroupHistograms by disk merges flags', () => {
    const r = regroupHistograms([a, b, c], ['disk']);
    assert.equal(r.length, 2);
    assert.deepEqual(r[0], { labels: { disk: 'sda' }, counts: [1, 1, 2, 4], total: 8, sum: 50 });
    assert.deepEqual(r[1]!.labels, { disk: 'vda' });
    const all = regroupHistograms([a, b, c], []);
    assert.equal(all.length, 1);
    assert.equal(all[0]!.total, 9);
  });

  it('mergeByLabels sums identical label sets regardless of key order', () => {
    const a2: Log2Histogram = { labels: { flags: 'Read', disk: 'sda' }, counts: [1], total: 1, sum: 0 };
    const r = mergeByLabels([a, c, a2]);
    assert.equal(r.length, 2);
    assert.deepEqual(r[0]!.counts, [2, 0, 2]);
    assert.equal(r[0]!.sum, 10);
    assert.equal(labelKey({ x: '1', y: '2' }), labelKey({ y: '2', x: '1' }));
  });

  it('sortHistograms is numeric-aware on the chosen label', () => {
    const h = (port: string): Log2Histogram => ({ labels: { port }, counts: [1], total: 1 });
    const sorted = sortHistograms([h('443'), h('80'), h('8080'), h('abc')], 'port').map((x) => x.labels.port);
    assert.deepEqual(sorted, ['80', '443', '8080', 'abc']);
  });

  it('mergeHistogramSets widens the window and refuses mixed units', () => {
    const s1: HistogramSet = { title: 't', unit: 'usecs', startTimeNs: 10n, endTimeNs: 20n, histograms: [a] };
    const s2: HistogramSet = { title: 't', unit: 'usecs', startTimeNs: 5n, endTimeNs: 15n, histograms: [a, c] };
    const m = mergeHistogramSets(s1, s2);
    assert.equal(m.startTimeNs, 5n);
    assert.equal(m.endTimeNs, 20n);
    assert.equal(m.histograms.length, 2);
    assert.deepEqual(m.histograms[0]!.counts, [2, 0, 4]);
    assert.throws(() => mergeHistogramSets(s1, { ...s2, unit: 'msecs' }));
  });

  it('histogramFromValues and histogramAverage', () => {
    const h = histogramFromValues([0, 1, 1, 5, 6, 100]);
    assert.deepEqual(h.counts, [1, 2, 0, 2, 0, 0, 0, 1]);
    assert.equal(h.total, 6);
    assert.equal(h.sum, 113);
    assert.equal(histogramAverage(h), 113 / 6);
    assert.equal(histogramAverage({ labels: {}, counts: [], total: 0, sum: 0 }), undefined);
  });
});
