// Test-side OTLP receiver: an HTTP server on 127.0.0.1 (random port) that records every request,
// and decoders built by protobufjs from the vendored opentelemetry-proto files
// (test/fixtures/otlp/proto), independent of our encoder. Not a test file itself.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import protobuf from 'protobufjs';
import { repoRoot } from '../helpers.js';

export const protoDir = join(repoRoot, 'test', 'fixtures', 'otlp', 'proto');

let root: protobuf.Root | undefined;

/** The proto definitions, parsed by protobufjs at test time (field names kept in snake_case). */
export function protoRoot(): protobuf.Root {
  if (!root) {
    const r = new protobuf.Root();
    r.resolvePath = (_origin: string, target: string) => join(protoDir, target);
    r.loadSync(
      [
        'opentelemetry/proto/collector/metrics/v1/metrics_service.proto',
        'opentelemetry/proto/collector/profiles/v1development/profiles_service.proto',
      ],
      { keepCase: true },
    );
    r.resolveAll();
    root = r;
  }
  return root;
}

const CONVERSION: protobuf.IConversionOptions = { longs: String, bytes: Array, defaults: true, arrays: true, oneofs: true };

function decode<T>(typeName: string, bytes: Uint8Array): T {
  const type = protoRoot().lookupType(typeName);
  const msg = type.decode(bytes);
  return type.toObject(msg, CONVERSION) as T;
}

// ---- decoded shapes (only the fields the tests read) -------------------------------------------

export interface DAnyValue {
  value?: string;
  string_value?: string;
  bool_value?: boolean;
  int_value?: string;
  double_value?: number;
  array_value?: { values: DAnyValue[] };
  string_value_strindex?: number;
}
export interface DKeyValue {
  key: string;
  value: DAnyValue | null;
  key_strindex: number;
}
export interface DResource {
  attributes: DKeyValue[];
}
export interface DScope {
  name: string;
  version: string;
}
export interface DBuckets {
  offset: number;
  bucket_counts: string[];
}
export interface DExpPoint {
  attributes: DKeyValue[];
  start_time_unix_nano: string;
  time_unix_nano: string;
  count: string;
  sum?: number;
  scale: number;
  zero_count: string;
  zero_threshold: number;
  positive: DBuckets | null;
  negative: DBuckets | null;
  min?: number;
  max?: number;
}
export interface DMetric {
  name: string;
  description: string;
  unit: string;
  data?: string;
  exponential_histogram?: { data_points: DExpPoint[]; aggregation_temporality: number };
}
export interface DMetricsRequest {
  resource_metrics: { resource: DResource; scope_metrics: { scope: DScope; metrics: DMetric[] }[] }[];
}

export interface DValueType {
  type_strindex: number;
  unit_strindex: number;
}
export interface DSample {
  stack_index: number;
  attribute_indices: number[];
  link_index: number;
  values: string[];
  timestamps_unix_nano: string[];
}
export interface DProfile {
  sample_type: DValueType | null;
  samples: DSample[];
  time_unix_nano: string;
  duration_nano: string;
  period_type: DValueType | null;
  period: string;
  profile_id: number[];
  attribute_indices: number[];
}
export interface DMapping {
  memory_start: string;
  memory_limit: string;
  file_offset: string;
  filename_strindex: number;
  attribute_indices: number[];
}
export interface DLocation {
  mapping_index: number;
  address: string;
  lines: { function_index: number; line: string; column: string }[];
  attribute_indices: number[];
}
export interface DFunction {
  name_strindex: number;
  system_name_strindex: number;
  filename_strindex: number;
  start_line: string;
}
export interface DKeyValueAndUnit {
  key_strindex: number;
  value: DAnyValue | null;
  unit_strindex: number;
}
export interface DDictionary {
  mapping_table: DMapping[];
  location_table: DLocation[];
  function_table: DFunction[];
  link_table: { trace_id: number[]; span_id: number[] }[];
  string_table: string[];
  attribute_table: DKeyValueAndUnit[];
  stack_table: { location_indices: number[] }[];
}
export interface DProfilesRequest {
  resource_profiles: { resource: DResource; scope_profiles: { scope: DScope; profiles: DProfile[] }[] }[];
  dictionary: DDictionary;
}

export function decodeMetricsRequest(bytes: Uint8Array): DMetricsRequest {
  return decode<DMetricsRequest>('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest', bytes);
}

export function decodeProfilesRequest(bytes: Uint8Array): DProfilesRequest {
  return decode<DProfilesRequest>('opentelemetry.proto.collector.profiles.v1development.ExportProfilesServiceRequest', bytes);
}

/** An AnyValue as a plain JS value (string, number for ints, boolean, array). */
export function anyValue(v: DAnyValue | null | undefined, strings?: readonly string[]): unknown {
  if (!v || !v.value) return undefined;
  switch (v.value) {
    case 'string_value':
      return v.string_value;
    case 'bool_value':
      return v.bool_value;
    case 'int_value':
      return Number(v.int_value);
    case 'double_value':
      return v.double_value;
    case 'array_value':
      return (v.array_value?.values ?? []).map((x) => anyValue(x, strings));
    case 'string_value_strindex':
      return strings?.[v.string_value_strindex ?? 0];
    default:
      return `<${v.value}>`;
  }
}

/** Resource/data-point attributes as an object (duplicate keys are an error). */
export function attributesOf(kvs: readonly DKeyValue[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of kvs) {
    if (kv.key in out) throw new Error(`duplicate attribute key ${kv.key}`);
    out[kv.key] = anyValue(kv.value);
  }
  return out;
}

// ---- the server ---------------------------------------------------------------------------------

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The body as sent (compressed when content-encoding is gzip). */
  raw: Buffer;
  /** The body after undoing content-encoding. */
  body: Buffer;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
}

/** Decides the answer to request number `n` (0-based): a reply, or `hang` (never answer). */
export type Responder = (req: ReceivedRequest, n: number) => Reply | 'hang';

export interface Receiver {
  /** http://127.0.0.1:PORT (no trailing slash). */
  base: string;
  requests: ReceivedRequest[];
  close(): Promise<void>;
}

export async function startReceiver(responder: Responder = () => ({ status: 200 })): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
      const r: ReceivedRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, raw, body };
      const n = requests.length;
      requests.push(r);
      const reply = responder(r, n);
      if (reply === 'hang') return;
      res.writeHead(reply.status, reply.headers ?? {});
      res.end(reply.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

// ---- reading a decoded profiles request back into stacks ---------------------------------------

export interface ReadFrame {
  name: string;
  type: string;
  address: bigint;
  module: string | undefined;
  buildId: string | undefined;
}

export interface ReadSample {
  tid: number;
  comm: string;
  value: number;
  /** Root first (the request's stacks are leaf first; reversed here). */
  frames: ReadFrame[];
}

export interface ReadProfile {
  resource: Record<string, unknown>;
  scope: DScope;
  profile: DProfile;
  sampleType: [string, string];
  periodType: [string, string] | undefined;
  samples: ReadSample[];
}

function check(cond: boolean, what: string): void {
  if (!cond) throw new Error(`invalid profiles request: ${what}`);
}

/** Attributes referenced by indices into attribute_table, as an object (keys must be unique). */
export function dictAttributes(dict: DDictionary, indices: readonly number[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const i of indices) {
    check(i > 0 && i < dict.attribute_table.length, `attribute index ${i} out of range`);
    const a = dict.attribute_table[i]!;
    const key = dict.string_table[a.key_strindex];
    check(key !== undefined && key !== '', `attribute ${i} has no key`);
    check(!(key! in out), `duplicate attribute key ${key}`);
    out[key!] = anyValue(a.value, dict.string_table);
  }
  return out;
}

/**
 * Resolves every sample of every profile through the dictionary, checking references and the
 * zero entries the proto requires at index 0 of every table.
 */
export function readProfiles(req: DProfilesRequest): ReadProfile[] {
  const d = req.dictionary;
  check(d !== null && d !== undefined, 'no dictionary');
  const str = (i: number): string => {
    check(i >= 0 && i < d.string_table.length, `string index ${i} out of range`);
    return d.string_table[i]!;
  };
  // Index 0 of every table is the zero value.
  check(d.string_table[0] === '', 'string_table[0] is not ""');
  const m0 = d.mapping_table[0];
  check(m0 !== undefined && m0.memory_start === '0' && m0.memory_limit === '0' && m0.file_offset === '0' && m0.filename_strindex === 0 && m0.attribute_indices.length === 0, 'mapping_table[0] is not Mapping{}');
  const l0 = d.location_table[0];
  check(l0 !== undefined && l0.mapping_index === 0 && l0.address === '0' && l0.lines.length === 0 && l0.attribute_indices.length === 0, 'location_table[0] is not Location{}');
  const f0 = d.function_table[0];
  check(f0 !== undefined && f0.name_strindex === 0 && f0.system_name_strindex === 0 && f0.filename_strindex === 0 && f0.start_line === '0', 'function_table[0] is not Function{}');
  const k0 = d.link_table[0];
  check(k0 !== undefined && k0.trace_id.every((b) => b === 0) && k0.span_id.every((b) => b === 0), 'link_table[0] is not a zero Link');
  const a0 = d.attribute_table[0];
  check(a0 !== undefined && a0.key_strindex === 0 && a0.unit_strindex === 0 && (a0.value === null || !a0.value.value), 'attribute_table[0] is not KeyValueAndUnit{}');
  const s0 = d.stack_table[0];
  check(s0 !== undefined && s0.location_indices.length === 0, 'stack_table[0] is not Stack{}');

  const frame = (li: number): ReadFrame => {
    check(li > 0 && li < d.location_table.length, `location index ${li} out of range`);
    const loc = d.location_table[li]!;
    check(loc.lines.length <= 1, 'more than one line in a location');
    let name = '';
    if (loc.lines.length === 1) {
      const fi = loc.lines[0]!.function_index;
      check(fi > 0 && fi < d.function_table.length, `function index ${fi} out of range`);
      name = str(d.function_table[fi]!.name_strindex);
    }
    const attrs = dictAttributes(d, loc.attribute_indices);
    let module: string | undefined;
    let buildId: string | undefined;
    if (loc.mapping_index !== 0) {
      check(loc.mapping_index > 0 && loc.mapping_index < d.mapping_table.length, `mapping index ${loc.mapping_index} out of range`);
      const m = d.mapping_table[loc.mapping_index]!;
      module = str(m.filename_strindex);
      const mattrs = dictAttributes(d, m.attribute_indices);
      const id = mattrs['process.executable.build_id.gnu'];
      if (id !== undefined) buildId = String(id);
    }
    return { name, type: String(attrs['profile.frame.type']), address: BigInt(loc.address), module, buildId };
  };

  const out: ReadProfile[] = [];
  for (const rp of req.resource_profiles) {
    for (const sp of rp.scope_profiles) {
      for (const p of sp.profiles) {
        check(p.sample_type !== null, 'no sample_type');
        const samples = p.samples.map((s): ReadSample => {
          check(s.stack_index >= 0 && s.stack_index < d.stack_table.length, `stack index ${s.stack_index} out of range`);
          check(s.link_index === 0, 'unexpected link');
          check(s.values.length === 1 && s.timestamps_unix_nano.length === 0, 'expected one aggregated value per sample');
          const attrs = dictAttributes(d, s.attribute_indices);
          const frames = d.stack_table[s.stack_index]!.location_indices.map(frame).reverse();
          return { tid: Number(attrs['thread.id']), comm: String(attrs['thread.name']), value: Number(s.values[0]), frames };
        });
        out.push({
          resource: attributesOf(rp.resource.attributes),
          scope: sp.scope,
          profile: p,
          sampleType: [str(p.sample_type!.type_strindex), str(p.sample_type!.unit_strindex)],
          periodType: p.period_type ? [str(p.period_type.type_strindex), str(p.period_type.unit_strindex)] : undefined,
          samples,
        });
      }
    }
  }
  return out;
}

/** Dictionary tables must hold no duplicate items (the proto: SHOULD NOT). Returns the offending table, if any. */
export function duplicateInDictionary(d: DDictionary): string | undefined {
  const tables: [string, unknown[]][] = [
    ['string_table', d.string_table],
    ['mapping_table', d.mapping_table],
    ['location_table', d.location_table],
    ['function_table', d.function_table],
    ['attribute_table', d.attribute_table],
    ['stack_table', d.stack_table],
  ];
  for (const [name, t] of tables) {
    const seen = new Set(t.map((x) => JSON.stringify(x)));
    if (seen.size !== t.length) return name;
  }
  return undefined;
}
