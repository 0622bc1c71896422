import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import type { StackProfile } from '../../src/aggregate/model.js';
import { stackProfileToJson } from '../../src/render/json.js';
import { buildProfilesRequest, encodeProfilesRequest, encodeStackProfile, frameType, jitFrameType, profileTypes } from '../../src/otlp/profiles.js';
import { baseResource, cpuProfile, CONTAINER_ID, expectedSamples, offcpuProfile, processes, sampleSortKey, type SeenSample } from './fixtures.js';
import { decodeProfilesRequest, duplicateInDictionary, readProfiles, type ReadProfile } from './receiver.js';

const fixedId = (pid: number): Uint8Array => {
  const b = new Uint8Array(16);
  b[0] = 0xa5;
  b[15] = pid & 0xff;
  return b;
};

function encode(profile: StackProfile): ReadProfile[] {
  const bytes = encodeStackProfile(profile, { resource: baseResource, processes, readProc: false, profileId: fixedId });
  const decoded = decodeProfilesRequest(bytes);
  assert.equal(duplicateInDictionary(decoded.dictionary), undefined, 'no duplicate dictionary entries');
  return readProfiles(decoded);
}

const sorted = (s: readonly SeenSample[]): string[] => s.map(sampleSortKey).sort();

describe('StackProfile -> OTLP profiles (decoded by protobufjs from the vendored proto)', () => {
  const got = encode(cpuProfile);
  const byPid = new Map(got.map((p) => [Number(p.resource['process.pid'] ?? 0), p]));

  it('has one ResourceProfiles per process (pid 0 without process attributes), pids ascending', () => {
    assert.deepEqual(
      got.map((p) => p.resource['process.pid']),
      [undefined, 100, 200, 300],
    );
    for (const p of got) {
      assert.equal(p.scope.name, 'ebpf-otel');
      assert.match(p.scope.version, /^\d+\.\d+\.\d+/);
    }
  });

  it('carries the resource attributes of the host and of each process', () => {
    assert.deepEqual(byPid.get(0)!.resource, baseResource);
    assert.deepEqual(byPid.get(100)!.resource, {
      ...baseResource,
      'process.pid': 100,
      'process.executable.name': 'burner',
      'process.executable.path': '/usr/bin/burner',
      'process.command_line': '/usr/bin/burner --spin 3 s',
      'process.command_args': ['/usr/bin/burner', '--spin', '3 s'],
      'container.id': CONTAINER_ID,
    });
    assert.deepEqual(byPid.get(200)!.resource, {
      ...baseResource,
      'process.pid': 200,
      'process.executable.name': 'node',
      'process.executable.path': '/usr/bin/node',
      'process.command_line': 'node app.js',
      'process.command_args': ['node', 'app.js'],
    });
    // Nothing captured and /proc not read: the pid and the comm seen in its stacks.
    assert.deepEqual(byPid.get(300)!.resource, { ...baseResource, 'process.pid': 300, 'process.executable.name': 'empty' });
  });

  it('sets sample type samples/count, period type cpu/nanoseconds, period 1e9/frequency, the window and an id', () => {
    for (const p of got) {
      assert.deepEqual(p.sampleType, ['samples', 'count']);
      assert.deepEqual(p.periodType, ['cpu', 'nanoseconds']);
      assert.equal(p.profile.period, String(Math.round(1e9 / 49)));
      assert.equal(p.profile.time_unix_nano, '1700000000123456789');
      assert.equal(p.profile.duration_nano, '5000000000');
      assert.equal(p.profile.profile_id.length, 16);
      assert.equal(p.profile.profile_id[0], 0xa5);
    }
  });

  it('delivers every stack, root first, with names, frame types, addresses, modules, build ids and values', () => {
    const want = expectedSamples(cpuProfile, () => 'v8js');
    assert.deepEqual([...byPid.keys()].sort(), [...want.keys()].sort());
    for (const [pid, samples] of want) {
      assert.deepEqual(sorted(byPid.get(pid)!.samples), sorted(samples), `pid ${pid}`);
    }
    // the duplicate record of thread 100 was summed (30 + 2), thread 101 kept apart
    const burner = byPid.get(100)!.samples.filter((s) => s.frames.length === 4);
    assert.deepEqual(burner.map((s) => [s.tid, s.comm, s.value]).sort(), [
      [100, 'burner', 32],
      [101, 'worker', 5],
    ]);
    // marker frame
    const marker = byPid.get(100)!.samples.find((s) => s.frames[0]?.name === '[Missed User Stack]')!;
    assert.equal(marker.frames[0]!.type, 'abort-marker');
    assert.equal(marker.frames[0]!.module, undefined);
    // an empty stack is stack_table[0]
    const empty = byPid.get(300)!;
    assert.equal(empty.profile.samples[0]!.stack_index, 0);
    assert.equal(empty.samples[0]!.value, 4);
  });

  it('encodes stacks leaf first in the request (the proto: "The first location is the leaf frame")', () => {
    const req = decodeProfilesRequest(encodeStackProfile(cpuProfile, { resource: baseResource, processes, readProc: false }));
    const p100 = req.resource_profiles.find((rp) => rp.resource.attributes.some((a) => a.key === 'process.pid' && a.value?.int_value === '100'))!;
    const s = p100.scope_profiles[0]!.profiles[0]!.samples[0]!;
    const locs = req.dictionary.stack_table[s.stack_index]!.location_indices;
    const name = (li: number): string => {
      const fi = req.dictionary.location_table[li]!.lines[0]!.function_index;
      return req.dictionary.string_table[req.dictionary.function_table[fi]!.name_strindex]!;
    };
    assert.equal(name(locs[0]!), 'asm_sysvec_apic_timer_interrupt', 'leaf first');
    assert.equal(name(locs[locs.length - 1]!), '_start', 'root last');
  });

  it('agrees with what --json prints: same stacks (names, root first) and the same total', () => {
    const json = stackProfileToJson(cpuProfile);
    const printed = new Map<string, number>();
    for (const s of json.stacks) {
      const k = JSON.stringify([s.pid, s.tid, s.comm, s.frames.map((f) => f.name)]);
      printed.set(k, (printed.get(k) ?? 0) + s.value);
    }
    const arrived = new Map<string, number>();
    let total = 0;
    for (const p of got) {
      const pid = Number(p.resource['process.pid'] ?? 0);
      for (const s of p.samples) {
        const k = JSON.stringify([pid, s.tid, s.comm, s.frames.map((f) => f.name)]);
        arrived.set(k, (arrived.get(k) ?? 0) + s.value);
        total += s.value;
      }
    }
    assert.deepEqual(arrived, printed);
    assert.equal(total, json.total);
  });

  it('types JIT frames by runtime (node -> v8js) and shares one mapping per module with its build id', () => {
    const node = byPid.get(200)!.samples[0]!;
    assert.deepEqual(
      node.frames.map((f) => f.type),
      ['native', 'v8js', 'native'],
    );
    assert.equal(node.frames[1]!.module, undefined);
    const req = decodeProfilesRequest(encodeStackProfile(cpuProfile, { resource: baseResource, processes, readProc: false }));
    const modules = req.dictionary.mapping_table.slice(1).map((m) => req.dictionary.string_table[m.filename_strindex]);
    assert.deepEqual([...modules].sort(), ['/usr/bin/burner', '/usr/bin/node', '/usr/lib/x86_64-linux-gnu/libc.so.6', '[kernel.kallsyms]'].sort());
  });

  it('encodes off-CPU as off_cpu/nanoseconds with blocked ns as values (beyond 2^32) and no period', () => {
    const off = encode(offcpuProfile);
    assert.equal(off.length, 1);
    const p = off[0]!;
    assert.deepEqual(p.sampleType, ['off_cpu', 'nanoseconds']);
    assert.equal(p.periodType, undefined);
    assert.equal(p.profile.period, '0');
    assert.equal(p.profile.time_unix_nano, '1700000100000000000');
    assert.equal(p.profile.duration_nano, '2500000000');
    assert.deepEqual(sorted(p.samples), sorted(expectedSamples(offcpuProfile, () => 'v8js').get(100)!));
    assert.ok(p.samples.some((s) => s.value === 9_000_000_000));
  });

  it('uses -c periods as-is and leaves the period out when unknown', () => {
    assert.deepEqual(profileTypes({ kind: 'cpu', unit: 'samples', samplePeriod: 1_000_000 }), {
      sampleType: ['samples', 'count'],
      periodType: ['cpu', 'nanoseconds'],
      period: 1_000_000,
    });
    assert.deepEqual(profileTypes({ kind: 'cpu', unit: 'samples' }), { sampleType: ['samples', 'count'] });
    assert.deepEqual(profileTypes({ kind: 'cpu', unit: 'samples', frequencyHz: 99 }).period, 10_101_010);
    assert.throws(() => profileTypes({ kind: 'offcpu', unit: 'samples' }), TypeError);
  });

  it('maps frame kinds to profile.frame.type', () => {
    assert.equal(frameType('kernel'), 'kernel');
    assert.equal(frameType('user'), 'native');
    assert.equal(frameType('marker'), 'abort-marker');
    assert.equal(frameType('jit', 'node'), 'v8js');
    assert.equal(jitFrameType('java'), 'jvm');
    assert.equal(jitFrameType('dotnet'), 'dotnet');
    assert.equal(jitFrameType(undefined), 'v8js');
  });

  it('an empty profile still encodes a valid request with the zero entries', () => {
    const req = buildProfilesRequest({ ...cpuProfile, stacks: [] }, { resource: baseResource, readProc: false });
    assert.equal(req.resourceProfiles.length, 0);
    const decoded = decodeProfilesRequest(encodeProfilesRequest(req));
    assert.deepEqual(readProfiles(decoded), []);
    assert.deepEqual(decoded.dictionary.string_table, ['']);
  });
});
