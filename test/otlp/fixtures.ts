// Models the OTLP tests encode, and what a receiver must find for them. Not a test file itself.
import type { Frame, HistogramSet, StackProfile, StackRecord } from '../../src/aggregate/model.js';
import type { ProcessInfo } from '../../src/otlp/resource.js';

export const biolatency: HistogramSet = {
  title: 'block I/O latency',
  unit: 'usecs',
  groupBy: 'disk',
  startTimeNs: 1_700_000_000_123_456_789n,
  endTimeNs: 1_700_000_010_987_654_321n,
  histograms: [
    // slots: 0 -> {0}, 1 -> {1}, 2 -> [2,3], 5 -> [16,31], 12 -> [2048,4095]; trailing zeros kept on purpose
    { labels: { disk: 'sda' }, counts: [3, 1, 4, 0, 0, 9, 0, 0, 0, 0, 0, 0, 2, 0, 0], total: 19, sum: 1 + 4 * 2 + 9 * 20 + 2 * 3000 },
    // no exact sum kept; a count beyond 2^32
    { labels: { disk: 'nvme0n1' }, counts: [0, 0, 0, 7, 5_000_000_000], total: 5_000_000_007 },
    // nothing recorded
    { labels: { disk: 'sdb' }, counts: [], total: 0, sum: 0 },
  ],
};

const BURNER = '/usr/bin/burner';
const NODE = '/usr/bin/node';
const LIBC = '/usr/lib/x86_64-linux-gnu/libc.so.6';
const KERNEL = '[kernel.kallsyms]';
const BURNER_ID = '0123456789abcdef0123456789abcdef01234567';
const NODE_ID = 'fedcba9876543210fedcba9876543210fedcba98';
export const CONTAINER_ID = 'c0ffee'.padEnd(64, '0');

const burnerStack: Frame[] = [
  { name: '_start', kind: 'user', address: 0x55d0c0ffe000n, module: BURNER, buildId: BURNER_ID },
  { name: 'main', kind: 'user', address: 0x55d0c0ffee00n, module: BURNER, buildId: BURNER_ID },
  { name: 'burn_cpu', kind: 'user', address: 0x55d0c0ffef10n, module: BURNER, buildId: BURNER_ID },
  { name: 'asm_sysvec_apic_timer_interrupt', kind: 'kernel', address: 0xffffffff82000e00n, module: KERNEL },
];

const records: StackRecord[] = [
  { pid: 100, tid: 100, comm: 'burner', frames: burnerStack, value: 30 },
  // another thread, same stack: same stack_index, other thread attributes
  { pid: 100, tid: 101, comm: 'worker', frames: burnerStack, value: 5 },
  // same identity as the first record (e.g. two records the aggregation kept apart): summed
  { pid: 100, tid: 100, comm: 'burner', frames: burnerStack.map((f) => ({ ...f })), value: 2 },
  {
    pid: 100,
    tid: 100,
    comm: 'burner',
    frames: [
      { name: '[Missed User Stack]', kind: 'marker' },
      { name: 'schedule', kind: 'kernel', address: 0xffffffff81c3a2b0n, module: KERNEL },
    ],
    value: 1,
  },
  {
    pid: 200,
    tid: 201,
    comm: 'node',
    frames: [
      { name: 'main', kind: 'user', address: 0x5600000012a0n, module: NODE, buildId: NODE_ID },
      { name: 'LazyCompile:*hot /app.js:3', kind: 'jit', address: 0x3f0a00001234n },
      { name: '[unknown]', kind: 'user', address: 0x7f00deadbeefn, module: LIBC },
    ],
    value: 7,
  },
  {
    pid: 0,
    tid: 0,
    comm: 'swapper/0',
    frames: [
      { name: 'cpu_startup_entry', kind: 'kernel', address: 0xffffffff810f5e10n, module: KERNEL },
      { name: 'do_idle', kind: 'kernel', address: 0xffffffff810f5b00n, module: KERNEL },
    ],
    value: 11,
  },
  // a record left without frames (e.g. -K on a user-only stack): counted, empty stack
  { pid: 300, tid: 300, comm: 'empty', frames: [], value: 4 },
];

export const cpuProfile: StackProfile = {
  kind: 'cpu',
  unit: 'samples',
  frequencyHz: 49,
  startTimeNs: 1_700_000_000_123_456_789n,
  endTimeNs: 1_700_000_005_123_456_789n,
  stacks: records,
  warnings: [],
};

export const offcpuProfile: StackProfile = {
  kind: 'offcpu',
  unit: 'nanoseconds',
  startTimeNs: 1_700_000_100_000_000_000n,
  endTimeNs: 1_700_000_102_500_000_000n,
  stacks: [
    {
      pid: 100,
      tid: 100,
      comm: 'burner',
      frames: [
        { name: 'main', kind: 'user', address: 0x55d0c0ffee00n, module: BURNER, buildId: BURNER_ID },
        { name: 'nanosleep', kind: 'user', address: 0x7f00aaaa0000n, module: LIBC },
        { name: 'schedule', kind: 'kernel', address: 0xffffffff81c3a2b0n, module: KERNEL },
      ],
      value: 2_000_000_123,
      count: 20,
    },
    // beyond 2^32 ns
    { pid: 100, tid: 102, comm: 'io', frames: [{ name: 'io_schedule', kind: 'kernel', address: 0xffffffff81c3b000n, module: KERNEL }], value: 9_000_000_000, count: 3 },
  ],
  warnings: [],
};

export const processes: ProcessInfo[] = [
  { pid: 100, executablePath: BURNER, executableName: 'burner', commandArgs: [BURNER, '--spin', '3 s'], containerId: CONTAINER_ID },
  { pid: 200, executablePath: NODE, executableName: 'node', commandArgs: ['node', 'app.js'] },
];

export const baseResource = {
  'service.name': 'ebpf-otel-test',
  'host.name': 'testhost',
  'host.arch': 'amd64',
  'os.type': 'linux',
  'os.version': '6.1.0-test',
};

/** A frame as a receiver sees it, root first. */
export interface SeenFrame {
  name: string;
  type: string;
  address: bigint;
  module: string | undefined;
  buildId: string | undefined;
}

export interface SeenSample {
  tid: number;
  comm: string;
  value: number;
  frames: SeenFrame[];
}

const FRAME_TYPE = { kernel: 'kernel', user: 'native', marker: 'abort-marker' } as const;

/**
 * What must arrive for a profile, by pid: the records of each (pid, tid, comm, frames) summed,
 * frames root first with their OTLP frame type. `jitType` gives the type of JIT frames per pid.
 */
export function expectedSamples(profile: StackProfile, jitType: (pid: number) => string): Map<number, SeenSample[]> {
  const out = new Map<number, Map<string, SeenSample>>();
  for (const r of profile.stacks) {
    const frames: SeenFrame[] = r.frames.map((f) => ({
      name: f.name,
      type: f.kind === 'jit' ? jitType(r.pid) : FRAME_TYPE[f.kind],
      address: f.address ?? 0n,
      module: f.module,
      buildId: f.buildId,
    }));
    const key = JSON.stringify([r.tid, r.comm, frames.map((f) => [f.name, f.type, String(f.address), f.module, f.buildId])]);
    let byKey = out.get(r.pid);
    if (!byKey) out.set(r.pid, (byKey = new Map()));
    const seen = byKey.get(key);
    if (seen) seen.value += r.value;
    else byKey.set(key, { tid: r.tid, comm: r.comm, value: r.value, frames });
  }
  return new Map([...out].map(([pid, m]) => [pid, [...m.values()]]));
}

/** Order-independent comparison key for samples. */
export function sampleSortKey(s: SeenSample): string {
  return JSON.stringify([s.tid, s.comm, s.value, s.frames.map((f) => [f.name, f.type, String(f.address), f.module ?? null, f.buildId ?? null])]);
}
