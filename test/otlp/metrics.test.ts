import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import type { HistogramSet, Log2Histogram } from '../../src/aggregate/model.js';
import { histogramFromValues, lastNonZero, log2Slot, slotBounds } from '../../src/aggregate/log2.js';
import { histogramToJson } from '../../src/render/json.js';
import { defaultMetricName, encodeHistogramSet, log2ToExponential, nsToHrTime, ucumUnit } from '../../src/otlp/metrics.js';
import { attributesOf, decodeMetricsRequest, type DExpPoint } from './receiver.js';
import { biolatency } from './fixtures.js';

const resource = { 'service.name': 'svc', 'host.name': 'h1', 'os.type': 'linux', 'process.command_args': ['a', 'b c'] };

/** Model counts back from a decoded point (slot 0 = zero_count, slot k = positive index k - 1). */
function countsFromPoint(p: DExpPoint): number[] {
  const out = [Number(p.zero_count)];
  const off = p.positive?.offset ?? 0;
  const bc = p.positive?.bucket_counts ?? [];
  for (let i = 0; i < bc.length; i++) out[off + i + 1] = Number(bc[i]);
  for (let i = 0; i < out.length; i++) out[i] ??= 0;
  out.length = lastNonZero(out) + 1;
  return out;
}

function trimmed(counts: readonly number[]): number[] {
  const c = [...counts];
  c.length = lastNonZero(c) + 1;
  return c;
}

describe('HistogramSet -> OTLP metrics (decoded by protobufjs from the vendored proto)', () => {
  const decoded = decodeMetricsRequest(encodeHistogramSet(biolatency, resource, { name: 'ebpf_otel.biolatency' }));

  it('has one resource, one scope, one exponential-histogram metric with UCUM unit and delta temporality', () => {
    assert.equal(decoded.resource_metrics.length, 1);
    const rm = decoded.resource_metrics[0]!;
    assert.deepEqual(attributesOf(rm.resource.attributes), resource);
    assert.equal(rm.scope_metrics.length, 1);
    assert.equal(rm.scope_metrics[0]!.scope.name, 'ebpf-otel');
    assert.match(rm.scope_metrics[0]!.scope.version, /^\d+\.\d+\.\d+/);
    const metrics = rm.scope_metrics[0]!.metrics;
    assert.equal(metrics.length, 1);
    const m = metrics[0]!;
    assert.equal(m.name, 'ebpf_otel.biolatency');
    assert.equal(m.description, 'block I/O latency');
    assert.equal(m.unit, 'us');
    assert.equal(m.data, 'exponential_histogram');
    assert.equal(m.exponential_histogram!.aggregation_temporality, 1, 'AGGREGATION_TEMPORALITY_DELTA');
    assert.equal(m.exponential_histogram!.data_points.length, biolatency.histograms.length);
  });

  it('carries every bucket count, count, sum, labels and the exact window per group', () => {
    const points = decoded.resource_metrics[0]!.scope_metrics[0]!.metrics[0]!.exponential_histogram!.data_points;
    biolatency.histograms.forEach((h: Log2Histogram, i) => {
      const p = points[i]!;
      assert.deepEqual(attributesOf(p.attributes), h.labels);
      assert.equal(p.start_time_unix_nano, biolatency.startTimeNs.toString());
      assert.equal(p.time_unix_nano, biolatency.endTimeNs.toString());
      assert.equal(p.scale, 0);
      assert.equal(p.zero_threshold, 0);
      assert.equal(p.count, String(h.total));
      assert.deepEqual(countsFromPoint(p), trimmed(h.counts));
      if (h.sum === undefined) assert.equal(p.sum, undefined, 'sum absent when unknown');
      else assert.equal(p.sum, h.sum);
      assert.equal(p.min, undefined);
      assert.equal(p.max, undefined);
      assert.deepEqual(p.negative?.bucket_counts ?? [], []);
      // count = zero_count + sum(positive)
      const bucketSum = Number(p.zero_count) + (p.positive?.bucket_counts ?? []).reduce((a, b) => a + Number(b), 0);
      assert.equal(bucketSum, Number(p.count));
    });
  });

  it('matches what --json prints, bucket for bucket: [low, high] -> zero_count or index log2(low)', () => {
    const points = decoded.resource_metrics[0]!.scope_metrics[0]!.metrics[0]!.exponential_histogram!.data_points;
    biolatency.histograms.forEach((h, i) => {
      const p = points[i]!;
      const json = histogramToJson(h);
      for (const b of json.buckets) {
        if (b.low === 0) {
          assert.equal(b.high, 0);
          assert.equal(Number(p.zero_count), b.count);
          continue;
        }
        const index = Math.log2(b.low);
        assert.ok(Number.isInteger(index));
        assert.equal(b.high, 2 ** (index + 1) - 1);
        const off = p.positive!.offset;
        assert.equal(Number(p.positive!.bucket_counts[index - off] ?? 0), b.count, `bucket ${b.low}-${b.high}`);
      }
    });
  });

  it('puts a truncated value in the OTLP bucket (base^i, base^(i+1)] containing the true value', () => {
    for (const x of [0.4, 1, 1.5, 2.2, 3.99, 4.01, 7.5, 1000.3, 2 ** 40 + 0.5]) {
      const recorded = Math.floor(x);
      const h = histogramFromValues([recorded]);
      const e = log2ToExponential(h);
      if (recorded === 0) {
        assert.equal(e.zeroCount, 1, `x=${x}`);
        continue;
      }
      assert.deepEqual(e.positive.bucketCounts, [1]);
      const i = e.positive.offset;
      const slot = log2Slot(recorded);
      assert.equal(i, slot - 1);
      // The model slot's half-open range of true values [2^(k-1), 2^k) vs OTLP's (2^i, 2^(i+1)]: same
      // interval up to its end points.
      assert.ok(x >= 2 ** i && x < 2 ** (i + 1), `x=${x} in [2^${i}, 2^${i + 1})`);
      const b = slotBounds(slot);
      assert.equal(Number(b.low), 2 ** i);
      assert.equal(Number(b.high) + 1, 2 ** (i + 1));
    }
  });

  it('maps the units to UCUM and builds exact HrTimes and default names', () => {
    assert.equal(ucumUnit('nsecs'), 'ns');
    assert.equal(ucumUnit('usecs'), 'us');
    assert.equal(ucumUnit('msecs'), 'ms');
    assert.deepEqual(nsToHrTime(1_700_000_000_123_456_789n), [1_700_000_000, 123_456_789]);
    assert.equal(defaultMetricName('TCP smoothed RTT'), 'ebpf_otel.tcp_smoothed_rtt');
    const d = decodeMetricsRequest(encodeHistogramSet({ ...biolatency, unit: 'msecs', title: 'TCP smoothed RTT' }, {}));
    const m = d.resource_metrics[0]!.scope_metrics[0]!.metrics[0]!;
    assert.equal(m.name, 'ebpf_otel.tcp_smoothed_rtt');
    assert.equal(m.unit, 'ms');
  });

  it('an ungrouped set has one point with no attributes', () => {
    const set: HistogramSet = { ...biolatency, groupBy: undefined, histograms: [histogramFromValues([0, 1, 5, 5, 900])] };
    delete set.groupBy;
    const p = decodeMetricsRequest(encodeHistogramSet(set, resource)).resource_metrics[0]!.scope_metrics[0]!.metrics[0]!.exponential_histogram!
      .data_points;
    assert.equal(p.length, 1);
    assert.deepEqual(p[0]!.attributes, []);
    assert.equal(p[0]!.count, '5');
    assert.equal(p[0]!.sum, 911);
    assert.deepEqual(countsFromPoint(p[0]!), [1, 1, 0, 2, 0, 0, 0, 0, 0, 0, 1]);
  });
});
