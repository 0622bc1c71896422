// StackProfile -> OTLP profiles (ExportProfilesServiceRequest, the `v1development` signal), built
// against opentelemetry-proto v1.11.0 (profiles.proto unchanged up to commit ac2c4b5 on main).
// There is no official JS encoder for this signal, so the request is built as a plain typed tree
// (`buildProfilesRequest`, testable) and then written with our protobuf writer
// (`encodeProfilesRequest`). Field numbers are next to each write, as in the proto.
//
// Layout (see MAPPING.md):
//   - one ProfilesDictionary shared by the whole request; every table starts with its zero entry;
//   - one ResourceProfiles per process (pid), its resource = base attributes + process.*;
//     samples of pid 0 (the idle task, or records merged across processes) get a resource
//     without process.* attributes;
//   - each holds one ScopeProfiles (scope `ebpf-otel`) with one Profile;
//   - a Sample per distinct (stack, thread.id, thread.name), with one value (samples or ns).
//   - Stacks are leaf first (the proto's Stack.location_indices), our frames root first: reversed.

import { randomBytes } from 'node:crypto';
import type { Frame, FrameKind, StackProfile, StackRecord } from '../aggregate/model.js';
import { ProtoWriter } from './protobuf.js';
import { processResourceAttributes, readProcessInfo, SCOPE_NAME, type OtlpAttributeValue, type OtlpAttributes, type ProcessInfo } from './resource.js';
import { packageVersion } from '../util/paths.js';

// ---- the request as a typed tree (proto field names in camelCase) ------------------------------

export interface PValueType {
  typeStrindex: number;
  unitStrindex: number;
}
export interface PSample {
  stackIndex: number;
  attributeIndices: number[];
  values: number[];
}
export interface PProfile {
  sampleType: PValueType;
  samples: PSample[];
  timeUnixNano: bigint;
  durationNano: bigint;
  periodType?: PValueType;
  period?: number;
  profileId: Uint8Array;
}
export interface PResourceProfiles {
  resource: OtlpAttributes;
  scope: { name: string; version?: string };
  profiles: PProfile[];
}
export interface PMapping {
  filenameStrindex: number;
  attributeIndices: number[];
}
export interface PLocation {
  mappingIndex: number;
  address: bigint;
  /** One line per location: we have no inlining information. */
  functionIndex: number;
  attributeIndices: number[];
}
export interface PFunction {
  nameStrindex: number;
}
export interface PKeyValueAndUnit {
  keyStrindex: number;
  value: OtlpAttributeValue;
}
export interface PLink {
  traceId: Uint8Array;
  spanId: Uint8Array;
}
export interface PDictionary {
  mappingTable: PMapping[];
  locationTable: PLocation[];
  functionTable: PFunction[];
  linkTable: PLink[];
  stringTable: string[];
  attributeTable: (PKeyValueAndUnit | null)[];
  stackTable: number[][];
}
export interface ProfilesRequest {
  resourceProfiles: PResourceProfiles[];
  dictionary: PDictionary;
}

// ---- semantic-convention names ----------------------------------------------------------------

export const ATTR_FRAME_TYPE = 'profile.frame.type';
export const ATTR_BUILD_ID_GNU = 'process.executable.build_id.gnu';
export const ATTR_THREAD_ID = 'thread.id';
export const ATTR_THREAD_NAME = 'thread.name';

/** `profile.frame.type` of marker frames (`[Missed User Stack]`): the OTel eBPF profiler's name for a frame where unwinding stopped. */
export const MARKER_FRAME_TYPE = 'abort-marker';

/**
 * `profile.frame.type` for JIT frames (from /tmp/perf-PID.map): guessed from the process's
 * executable name (java -> jvm, dotnet -> dotnet, beam.smp -> beam), else `v8js` (node's
 * --perf-basic-prof is the usual source of perf maps).
 */
export function jitFrameType(executableName: string | undefined): string {
  const n = (executableName ?? '').toLowerCase();
  if (n === 'java' || n.startsWith('java-')) return 'jvm';
  if (n === 'dotnet') return 'dotnet';
  if (n.startsWith('beam')) return 'beam';
  return 'v8js';
}

export function frameType(kind: FrameKind, executableName?: string): string {
  switch (kind) {
    case 'kernel':
      return 'kernel';
    case 'user':
      return 'native';
    case 'jit':
      return jitFrameType(executableName);
    case 'marker':
      return MARKER_FRAME_TYPE;
  }
}

/** sample_type and period of a profile. */
export function profileTypes(profile: Pick<StackProfile, 'kind' | 'unit' | 'frequencyHz' | 'samplePeriod'>): {
  sampleType: [string, string];
  periodType?: [string, string];
  period?: number;
} {
  if (profile.kind === 'cpu') {
    if (profile.unit !== 'samples') throw new TypeError(`an on-CPU profile must count samples, not ${profile.unit}`);
    let period: number | undefined;
    if (profile.frequencyHz !== undefined && profile.frequencyHz > 0) period = Math.round(1e9 / profile.frequencyHz);
    else if (profile.samplePeriod !== undefined && profile.samplePeriod > 0) period = Math.round(profile.samplePeriod);
    return period !== undefined
      ? { sampleType: ['samples', 'count'], periodType: ['cpu', 'nanoseconds'], period }
      : { sampleType: ['samples', 'count'] };
  }
  if (profile.unit !== 'nanoseconds') throw new TypeError(`an off-CPU profile must measure nanoseconds, not ${profile.unit}`);
  return { sampleType: ['off_cpu', 'nanoseconds'] };
}

// ---- building ---------------------------------------------------------------------------------

class Dictionary {
  readonly d: PDictionary = {
    mappingTable: [{ filenameStrindex: 0, attributeIndices: [] }],
    locationTable: [{ mappingIndex: 0, address: 0n, functionIndex: 0, attributeIndices: [] }],
    functionTable: [{ nameStrindex: 0 }],
    // link_table[0]: the proto recommends 16 and 8 zero bytes over empty ids.
    linkTable: [{ traceId: new Uint8Array(16), spanId: new Uint8Array(8) }],
    stringTable: [''],
    attributeTable: [null],
    stackTable: [[]],
  };
  private strings = new Map<string, number>([['', 0]]);
  private attrs = new Map<string, number>();
  private functions = new Map<number, number>();
  private mappings = new Map<string, number>();
  private locations = new Map<string, number>();
  private stacks = new Map<string, number>([['', 0]]);

  str(s: string): number {
    let i = this.strings.get(s);
    if (i === undefined) {
      i = this.d.stringTable.length;
      this.d.stringTable.push(s);
      this.strings.set(s, i);
    }
    return i;
  }

  attr(key: string, value: string | number): number {
    const id = JSON.stringify([key, typeof value, value]);
    let i = this.attrs.get(id);
    if (i === undefined) {
      i = this.d.attributeTable.length;
      this.d.attributeTable.push({ keyStrindex: this.str(key), value });
      this.attrs.set(id, i);
    }
    return i;
  }

  func(name: string): number {
    if (name === '') return 0;
    const s = this.str(name);
    let i = this.functions.get(s);
    if (i === undefined) {
      i = this.d.functionTable.length;
      this.d.functionTable.push({ nameStrindex: s });
      this.functions.set(s, i);
    }
    return i;
  }

  mapping(module: string | undefined, buildId: string | undefined): number {
    if (!module && !buildId) return 0;
    const id = JSON.stringify([module ?? '', buildId ?? '']);
    let i = this.mappings.get(id);
    if (i === undefined) {
      i = this.d.mappingTable.length;
      this.d.mappingTable.push({
        filenameStrindex: this.str(module ?? ''),
        attributeIndices: buildId !== undefined && buildId !== '' ? [this.attr(ATTR_BUILD_ID_GNU, buildId)] : [],
      });
      this.mappings.set(id, i);
    }
    return i;
  }

  location(f: Frame, type: string): number {
    const mappingIndex = this.mapping(f.module, f.buildId);
    const functionIndex = this.func(f.name);
    const typeAttr = this.attr(ATTR_FRAME_TYPE, type);
    const address = f.address ?? 0n;
    const id = `${mappingIndex}:${address}:${functionIndex}:${typeAttr}`;
    let i = this.locations.get(id);
    if (i === undefined) {
      i = this.d.locationTable.length;
      this.d.locationTable.push({ mappingIndex, address, functionIndex, attributeIndices: [typeAttr] });
      this.locations.set(id, i);
    }
    return i;
  }

  /** Frames root first (the model) -> a stack_table index whose locations run leaf first. */
  stack(frames: readonly Frame[], executableName: string | undefined): number {
    const locs: number[] = [];
    for (let k = frames.length - 1; k >= 0; k--) {
      const f = frames[k]!;
      locs.push(this.location(f, frameType(f.kind, executableName)));
    }
    const id = locs.join(',');
    let i = this.stacks.get(id);
    if (i === undefined) {
      i = this.d.stackTable.length;
      this.d.stackTable.push(locs);
      this.stacks.set(id, i);
    }
    return i;
  }
}

export interface BuildProfilesOptions {
  /** Resource attributes every ResourceProfiles carries (see baseResourceAttributes). */
  resource: OtlpAttributes;
  /** What was captured about the processes (e.g. at start, before they could exit), by pid. */
  processes?: ReadonlyMap<number, ProcessInfo> | readonly ProcessInfo[];
  /** Read /proc for pids missing from `processes` (default true; tests turn it off). */
  readProc?: boolean;
  /** 16-byte profile ids, one per process, for tests; default random. */
  profileId?: (pid: number) => Uint8Array;
}

function toProcessMap(p: BuildProfilesOptions['processes']): Map<number, ProcessInfo> {
  if (p === undefined) return new Map();
  if (p instanceof Map) return new Map(p);
  return new Map((p as readonly ProcessInfo[]).map((i) => [i.pid, i]));
}

/** The main thread's comm (tid === pid), else the first record's, for a process whose exe is unknown. */
function commOf(records: readonly StackRecord[]): string | undefined {
  return (records.find((r) => r.tid === r.pid) ?? records[0])?.comm;
}

/** Builds the request tree: one ResourceProfiles per pid (ascending), one shared dictionary. */
export function buildProfilesRequest(profile: StackProfile, opts: BuildProfilesOptions): ProfilesRequest {
  const types = profileTypes(profile);
  const dict = new Dictionary();
  const known = toProcessMap(opts.processes);
  const version = packageVersion();
  const scope = version !== undefined ? { name: SCOPE_NAME, version } : { name: SCOPE_NAME };
  const duration = profile.endTimeNs > profile.startTimeNs ? profile.endTimeNs - profile.startTimeNs : 0n;

  const byPid = new Map<number, StackRecord[]>();
  for (const r of profile.stacks) {
    const list = byPid.get(r.pid);
    if (list) list.push(r);
    else byPid.set(r.pid, [r]);
  }

  const resourceProfiles: PResourceProfiles[] = [];
  for (const pid of [...byPid.keys()].sort((a, b) => a - b)) {
    const records = byPid.get(pid)!;
    let resource: OtlpAttributes = { ...opts.resource };
    let executableName: string | undefined;
    if (pid > 0) {
      const prev = known.get(pid);
      let info: ProcessInfo = opts.readProc === false ? (prev ?? { pid }) : readProcessInfo(pid, prev ? { previous: prev } : {});
      if (info.executableName === undefined) {
        const comm = commOf(records);
        if (comm) info = { ...info, executableName: comm };
      }
      executableName = info.executableName;
      resource = { ...resource, ...processResourceAttributes(info) };
    }

    const samples: PSample[] = [];
    const sampleIndex = new Map<string, number>();
    for (const r of records) {
      const stackIndex = dict.stack(r.frames, executableName);
      const attributeIndices = [dict.attr(ATTR_THREAD_ID, r.tid), dict.attr(ATTR_THREAD_NAME, r.comm)];
      const id = `${stackIndex}/${attributeIndices.join(',')}`;
      const at = sampleIndex.get(id);
      // Samples with the same identity SHOULD be combined (profiles.proto): sum their values.
      const value = Math.round(r.value);
      if (at !== undefined) samples[at]!.values[0]! += value;
      else {
        sampleIndex.set(id, samples.length);
        samples.push({ stackIndex, attributeIndices, values: [value] });
      }
    }

    const p: PProfile = {
      sampleType: { typeStrindex: dict.str(types.sampleType[0]), unitStrindex: dict.str(types.sampleType[1]) },
      samples,
      timeUnixNano: profile.startTimeNs > 0n ? profile.startTimeNs : 0n,
      durationNano: duration,
      profileId: opts.profileId ? opts.profileId(pid) : randomBytes(16),
    };
    if (types.periodType && types.period !== undefined) {
      p.periodType = { typeStrindex: dict.str(types.periodType[0]), unitStrindex: dict.str(types.periodType[1]) };
      p.period = types.period;
    }
    resourceProfiles.push({ resource, scope, profiles: [p] });
  }
  return { resourceProfiles, dictionary: dict.d };
}

// ---- encoding ---------------------------------------------------------------------------------

/** common.v1.AnyValue: string_value = 1, bool_value = 2, int_value = 3, double_value = 4, array_value = 5 (ArrayValue.values = 1). */
function writeAnyValue(w: ProtoWriter, v: OtlpAttributeValue): void {
  if (typeof v === 'string') w.string(1, v);
  else if (typeof v === 'boolean') w.varint(2, v);
  else if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) w.varint(3, v);
    else w.double(4, v);
  } else w.message(5, (a) => {
    for (const item of v) a.message(1, (x) => writeAnyValue(x, item));
  });
}

/** common.v1.KeyValue: key = 1, value = 2. */
function writeKeyValue(w: ProtoWriter, field: number, key: string, v: OtlpAttributeValue): void {
  w.message(field, (kv) => {
    kv.string(1, key);
    kv.message(2, (av) => writeAnyValue(av, v));
  });
}

function writeValueType(w: ProtoWriter, field: number, t: PValueType): void {
  // ValueType: type_strindex = 1, unit_strindex = 2.
  w.message(field, (m) => m.optVarint(1, t.typeStrindex).optVarint(2, t.unitStrindex));
}

function writeProfile(w: ProtoWriter, p: PProfile): void {
  // Profile: sample_type = 1, samples = 2, time_unix_nano = 3 (fixed64), duration_nano = 4,
  // period_type = 5, period = 6, profile_id = 7, dropped_attributes_count = 8,
  // original_payload_format = 9, original_payload = 10, attribute_indices = 11.
  writeValueType(w, 1, p.sampleType);
  for (const s of p.samples) {
    // Sample: stack_index = 1, attribute_indices = 2 (packed), link_index = 3, values = 4 (packed int64),
    // timestamps_unix_nano = 5.
    w.message(2, (m) => {
      m.optVarint(1, s.stackIndex);
      m.packedVarint(2, s.attributeIndices);
      m.packedVarint(4, s.values);
    });
  }
  w.fixed64(3, p.timeUnixNano);
  w.optVarint(4, p.durationNano);
  if (p.periodType) writeValueType(w, 5, p.periodType);
  if (p.period !== undefined) w.optVarint(6, p.period);
  w.bytes(7, p.profileId);
}

function writeDictionary(w: ProtoWriter, d: PDictionary): void {
  // ProfilesDictionary: mapping_table = 1, location_table = 2, function_table = 3, link_table = 4,
  // string_table = 5, attribute_table = 6, stack_table = 7. Entry 0 of each is the zero value.
  for (const m of d.mappingTable) {
    // Mapping: memory_start = 1, memory_limit = 2, file_offset = 3 (unknown: 0),
    // filename_strindex = 4, attribute_indices = 5.
    w.message(1, (x) => x.optVarint(4, m.filenameStrindex).packedVarint(5, m.attributeIndices));
  }
  for (const l of d.locationTable) {
    // Location: mapping_index = 1, address = 2, lines = 3 (Line: function_index = 1), attribute_indices = 4.
    w.message(2, (x) => {
      x.optVarint(1, l.mappingIndex).optVarint(2, l.address);
      if (l.functionIndex !== 0) x.message(3, (line) => line.optVarint(1, l.functionIndex));
      x.packedVarint(4, l.attributeIndices);
    });
  }
  for (const f of d.functionTable) {
    // Function: name_strindex = 1, system_name_strindex = 2, filename_strindex = 3, start_line = 4.
    w.message(3, (x) => x.optVarint(1, f.nameStrindex));
  }
  for (const l of d.linkTable) {
    // Link: trace_id = 1, span_id = 2.
    w.message(4, (x) => x.bytes(1, l.traceId).bytes(2, l.spanId));
  }
  for (const s of d.stringTable) w.string(5, s);
  for (const a of d.attributeTable) {
    // KeyValueAndUnit: key_strindex = 1, value = 2 (AnyValue), unit_strindex = 3.
    w.message(6, (x) => {
      if (a === null) return;
      x.optVarint(1, a.keyStrindex);
      x.message(2, (av) => writeAnyValue(av, a.value));
    });
  }
  for (const s of d.stackTable) {
    // Stack: location_indices = 1 (packed int32), leaf first.
    w.message(7, (x) => x.packedVarint(1, s));
  }
}

/** ExportProfilesServiceRequest bytes: resource_profiles = 1, dictionary = 2. */
export function encodeProfilesRequest(req: ProfilesRequest): Uint8Array {
  const w = new ProtoWriter(4096);
  for (const rp of req.resourceProfiles) {
    // ResourceProfiles: resource = 1, scope_profiles = 2, schema_url = 3.
    w.message(1, (x) => {
      // Resource: attributes = 1 (KeyValue), dropped_attributes_count = 2.
      x.message(1, (res) => {
        for (const [k, v] of Object.entries(rp.resource)) writeKeyValue(res, 1, k, v);
      });
      // ScopeProfiles: scope = 1 (InstrumentationScope: name = 1, version = 2), profiles = 2, schema_url = 3.
      x.message(2, (sp) => {
        sp.message(1, (sc) => sc.string(1, rp.scope.name).optString(2, rp.scope.version));
        for (const p of rp.profiles) sp.message(2, (pw) => writeProfile(pw, p));
      });
    });
  }
  w.message(2, (x) => writeDictionary(x, req.dictionary));
  return w.finish();
}

/** Convenience: build and encode. */
export function encodeStackProfile(profile: StackProfile, opts: BuildProfilesOptions): Uint8Array {
  return encodeProfilesRequest(buildProfilesRequest(profile, opts));
}
