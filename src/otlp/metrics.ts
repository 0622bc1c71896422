// HistogramSet -> OTLP metrics (ExportMetricsServiceRequest), encoded by the official serializer
// (ProtobufMetricsSerializer from @opentelemetry/otlp-transformer) from the sdk-metrics
// ResourceMetrics shape. Nothing here talks to the network.
//
// Bucket mapping (see MAPPING.md): a model log2 histogram is an OTLP exponential histogram at
// scale 0 (base 2), bucket for bucket:
//   model slot 0 (value 0)                   -> zero_count
//   model slot k >= 1 (2^(k-1) <= v < 2^k)   -> positive bucket index k - 1, i.e. (2^(k-1), 2^k]
// The recorded integers are truncated from finer measurements (a 5.7 us latency is recorded as 5),
// so slot k holds true values in [2^(k-1), 2^k): the same interval as OTLP bucket k - 1 except
// for which side of each power of two is closed. Slot 0 holds true values in [0, 1), i.e. values
// "rounded to zero", which is what zero_count with zero_threshold 0 means in the proto.

import { ValueType } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, DataPointType, type ExponentialHistogram, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import type { HistogramSet, Log2Histogram } from '../aggregate/model.js';
import { SCOPE_NAME, type OtlpAttributes } from './resource.js';
import { packageVersion } from '../util/paths.js';

export type UcumTimeUnit = 'ns' | 'us' | 'ms';

const UCUM: Readonly<Record<HistogramSet['unit'], UcumTimeUnit>> = { nsecs: 'ns', usecs: 'us', msecs: 'ms' };

/** The UCUM unit of a histogram set (`usecs` -> `us`). */
export function ucumUnit(unit: HistogramSet['unit']): UcumTimeUnit {
  const u = UCUM[unit];
  if (u === undefined) throw new TypeError(`no UCUM unit for histogram unit ${String(unit)}`);
  return u;
}

export interface HistogramMetricOptions {
  /** Metric name; default `ebpf_otel.` + the title in snake case (`block I/O latency` -> `ebpf_otel.block_i_o_latency`). */
  name?: string;
  /** Metric description; default the set's title. */
  description?: string;
}

/** Default metric name derived from a title. */
export function defaultMetricName(title: string): string {
  const slug = title
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  return `ebpf_otel.${slug || 'histogram'}`;
}

/** Epoch nanoseconds -> HrTime [seconds, nanoseconds], exactly (negative times clamp to 0). */
export function nsToHrTime(ns: bigint): [number, number] {
  const v = ns < 0n ? 0n : ns;
  return [Number(v / 1_000_000_000n), Number(v % 1_000_000_000n)];
}

/**
 * One model log2 histogram as an scale-0 exponential histogram value. `count` is the number of
 * values in the buckets (which the model guarantees equals `total`); `sum` is present only when
 * the model has it. min/max are not sent: the model does not keep them exactly.
 */
export function log2ToExponential(h: Log2Histogram): ExponentialHistogram {
  const counts = h.counts;
  let first = -1;
  let last = -1;
  let count = 0;
  for (let k = 0; k < counts.length; k++) {
    const c = counts[k] ?? 0;
    if (!Number.isInteger(c) || c < 0) throw new RangeError(`histogram slot ${k} has a bad count ${c}`);
    count += c;
    if (k >= 1 && c > 0) {
      if (first < 0) first = k;
      last = k;
    }
  }
  const bucketCounts = first < 0 ? [] : counts.slice(first, last + 1).map((c) => c ?? 0);
  const out: ExponentialHistogram = {
    count,
    scale: 0,
    zeroCount: counts[0] ?? 0,
    positive: { offset: first < 0 ? 0 : first - 1, bucketCounts },
    negative: { offset: 0, bucketCounts: [] },
  };
  if (h.sum !== undefined) out.sum = count === 0 ? 0 : h.sum;
  return out;
}

/** The sdk-metrics ResourceMetrics for one set: one metric, one data point per histogram (group). */
export function histogramSetToResourceMetrics(set: HistogramSet, resource: OtlpAttributes, opts: HistogramMetricOptions = {}): ResourceMetrics {
  const startTime = nsToHrTime(set.startTimeNs);
  const endTime = nsToHrTime(set.endTimeNs > set.startTimeNs ? set.endTimeNs : set.startTimeNs);
  const version = packageVersion();
  return {
    resource: resourceFromAttributes({ ...resource }),
    scopeMetrics: [
      {
        scope: version !== undefined ? { name: SCOPE_NAME, version } : { name: SCOPE_NAME },
        metrics: [
          {
            descriptor: {
              name: opts.name ?? defaultMetricName(set.title),
              description: opts.description ?? set.title,
              unit: ucumUnit(set.unit),
              valueType: ValueType.INT,
            },
            aggregationTemporality: AggregationTemporality.DELTA,
            dataPointType: DataPointType.EXPONENTIAL_HISTOGRAM,
            dataPoints: set.histograms.map((h) => ({
              startTime,
              endTime,
              attributes: { ...h.labels },
              value: log2ToExponential(h),
            })),
          },
        ],
      },
    ],
  };
}

/** ExportMetricsServiceRequest bytes (application/x-protobuf) for one histogram set. */
export function encodeHistogramSet(set: HistogramSet, resource: OtlpAttributes, opts: HistogramMetricOptions = {}): Uint8Array {
  const bytes = ProtobufMetricsSerializer.serializeRequest(histogramSetToResourceMetrics(set, resource, opts));
  if (bytes === undefined) throw new Error('the OTLP metrics serializer produced no bytes');
  return bytes;
}
