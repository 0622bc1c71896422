import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import type { HistogramSet, StackProfile } from '../../src/aggregate/model.js';
import {
  histogramSetToJson,
  nsToIso,
  renderHistogramSetJson,
  renderStackProfileJson,
  safeStringify,
  stackProfileToJson,
} from '../../src/render/json.js';

const profile: StackProfile = {
  kind: 'cpu',
  unit: 'samples',
  frequencyHz: 49,
  startTimeNs: 1_700_000_000_123_456_789n,
  endTimeNs: 1_700_000_005_123_456_789n,
  warnings: ['lost 3 samples'],
  stacks: [
    { pid: 1, tid: 1, comm: 'small', frames: [{ name: 'f', kind: 'user' }], value: 1 },
    {
      pid: 2,
      tid: 3,
      comm: 'big',
      value: 9,
      frames: [
        { name: 'main', kind: 'user', address: 0x55d0c0ffee00n, module: '/usr/bin/big', buildId: 'abc123' },
        { name: 'schedule', kind: 'kernel', address: 0xffffffff81000000n, module: '[kernel.kallsyms]' },
      ],
    },
  ],
};

describe('stack profile JSON', () => {
  it('has the stable schema: all keys, strings for 64-bit values, heaviest stack first', () => {
    const j = stackProfileToJson(profile);
    assert.deepEqual(Object.keys(j), [
      'schema',
      'kind',
      'unit',
      'frequencyHz',
      'samplePeriod',
      'start',
      'end',
      'startTimeNs',
      'endTimeNs',
      'durationNs',
      'total',
      'totalCount',
      'stacks',
      'warnings',
    ]);
    assert.equal(j.schema, 'ebpf-otel/stack-profile@1');
    assert.equal(j.start, '2023-11-14T22:13:20.123Z');
    assert.equal(j.end, '2023-11-14T22:13:25.123Z');
    assert.equal(j.startTimeNs, '1700000000123456789');
    assert.equal(j.durationNs, '5000000000');
    assert.equal(j.samplePeriod, null);
    assert.equal(j.total, 10);
    assert.equal(j.totalCount, null);
    assert.deepEqual(j.stacks[0], {
      pid: 2,
      tid: 3,
      comm: 'big',
      value: 9,
      count: null,
      frames: [
        { name: 'main', kind: 'user', module: '/usr/bin/big', address: '0x55d0c0ffee00', buildId: 'abc123' },
        { name: 'schedule', kind: 'kernel', module: '[kernel.kallsyms]', address: '0xffffffff81000000', buildId: null },
      ],
    });
    assert.deepEqual(j.stacks[1]!.frames[0], { name: 'f', kind: 'user', module: null, address: null, buildId: null });
    assert.deepEqual(j.warnings, ['lost 3 samples']);
  });

  it('parses back, one line with a trailing newline (or pretty)', () => {
    const text = renderStackProfileJson(profile);
    assert.ok(text.endsWith('}\n'));
    assert.equal(text.split('\n').length, 2);
    assert.deepEqual(JSON.parse(text), JSON.parse(JSON.stringify(stackProfileToJson(profile))));
    assert.ok(renderStackProfileJson(profile, { pretty: true }).includes('\n  "kind": "cpu",\n'));
  });

  it('hostile names survive exactly but reach the terminal/HTML inert', () => {
    const evil = '\x1b[31m<img src=x onerror=alert(1)>;\n\u202e\u009b';
    const p: StackProfile = { ...profile, stacks: [{ pid: 1, tid: 1, comm: evil, frames: [{ name: evil, kind: 'user' }], value: 1 }] };
    const text = renderStackProfileJson(p);
    assert.ok(!/[\x00-\x09\x0b-\x1f\x7f-\x9f<>&\u202e]/.test(text), 'no raw control, bidi or HTML-special characters');
    const back = JSON.parse(text) as { comm: string; stacks: Array<{ comm: string; frames: Array<{ name: string }> }> };
    assert.equal(back.stacks[0]!.comm, evil);
    assert.equal(back.stacks[0]!.frames[0]!.name, evil);
    assert.equal(safeStringify('</script>'), '"\\u003c/script\\u003e"');
  });

  it('nsToIso', () => {
    assert.equal(nsToIso(0n), '1970-01-01T00:00:00.000Z');
    assert.equal(nsToIso(10n ** 30n), 'invalid');
  });
});

describe('histogram set JSON', () => {
  const set: HistogramSet = {
    title: 'block I/O latency',
    unit: 'usecs',
    groupBy: 'disk',
    startTimeNs: 0n,
    endTimeNs: 2_000_000_000n,
    histograms: [
      { labels: { disk: 'sda' }, counts: [0, 2, 0, 5, 0, 0], total: 7, sum: 30 },
      { labels: { disk: 'vda' }, counts: [], total: 0 },
    ],
  };

  it('explicit inclusive bucket bounds from the first to the last non-empty slot', () => {
    const j = histogramSetToJson(set);
    assert.equal(j.schema, 'ebpf-otel/histograms@1');
    assert.equal(j.groupBy, 'disk');
    assert.equal(j.durationNs, '2000000000');
    assert.deepEqual(j.histograms[0], {
      labels: { disk: 'sda' },
      total: 7,
      sum: 30,
      average: 30 / 7,
      buckets: [
        { low: 1, high: 1, count: 2 },
        { low: 2, high: 3, count: 0 },
        { low: 4, high: 7, count: 5 },
      ],
    });
    assert.deepEqual(j.histograms[1], { labels: { disk: 'vda' }, total: 0, sum: null, average: null, buckets: [] });
    const { groupBy: _ignored, ...ungroupedSet } = set;
    assert.equal(histogramSetToJson(ungroupedSet).groupBy, null);
  });

  it('renders parseable text', () => {
    const back = JSON.parse(renderHistogramSetJson(set)) as { histograms: Array<{ buckets: unknown[] }> };
    assert.equal(back.histograms[0]!.buckets.length, 3);
  });
});
