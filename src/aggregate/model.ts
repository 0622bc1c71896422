// The two data models every renderer consumes. Collection (kernel maps) and symbolization
// produce them; renderers (table, folded, json, flame, speedscope, otlp) take them and nothing
// else, so each renderer is testable with plain data.

/** Where a frame's code lives; decides the `_[k]` suffix, flame colours and OTLP frame type. */
export type FrameKind = 'kernel' | 'user' | 'jit' | 'marker';

/** One resolved stack frame. */
export interface Frame {
  /** Function name as printed: demangled symbol, `module+0xoffset`, or `[unknown]`. */
  name: string;
  kind: FrameKind;
  /** Instruction address as sampled (absolute, in the process's address space). */
  address?: bigint;
  /** File the code was mapped from (`/usr/lib/x86_64-linux-gnu/libc.so.6`, `[kernel.kallsyms]`). */
  module?: string;
  /** GNU build-id of `module`, lowercase hex, when known. */
  buildId?: string;
}

/** One distinct stack of one thread with its weight. Frames run root first, leaf last. */
export interface StackRecord {
  pid: number; // process (tgid)
  tid: number; // thread
  comm: string; // thread name at sample time
  frames: Frame[];
  /** Samples (on-CPU) or nanoseconds blocked (off-CPU). */
  value: number;
  /** Off-CPU only: how many separate blocks were summed into `value`. */
  count?: number;
}

export type StackValueUnit = 'samples' | 'nanoseconds';

/** What one profiling run collected. */
export interface StackProfile {
  /** `cpu` for on-CPU sampling, `offcpu` for blocked time. */
  kind: 'cpu' | 'offcpu';
  unit: StackValueUnit;
  /** On-CPU: sampling frequency in Hz (period = 1e9 / frequencyHz ns), when sampling by frequency. */
  frequencyHz?: number;
  /** On-CPU: sample period in events when `-c` was used instead of a frequency. */
  samplePeriod?: number;
  /** Collection window, wall-clock nanoseconds since the Unix epoch. */
  startTimeNs: bigint;
  endTimeNs: bigint;
  stacks: StackRecord[];
  /** Losses the user must be told about, already phrased with the option that fixes them. */
  warnings: string[];
}

/** A log2 histogram: slot i counts values v with 2^(i-1) <= v < 2^i (slot 0 holds v = 0). */
export interface Log2Histogram {
  /** Group label values, e.g. { disk: 'sda' } or { flags: 'Write' } or { raddr: '::1' }; {} when ungrouped. */
  labels: Record<string, string>;
  /** counts[i] for slot i; trailing zeros may be absent. */
  counts: number[];
  /** Exact sum of the recorded values, in `unit`, when the kernel kept it. */
  sum?: number;
  /** Exact number of recorded values (the sum of counts). */
  total: number;
}

export interface HistogramSet {
  /** What was measured, e.g. `block I/O latency`, `TCP smoothed RTT`. */
  title: string;
  /** Unit of the slot bounds as printed: `usecs`, `msecs`, `nsecs`. */
  unit: 'nsecs' | 'usecs' | 'msecs';
  /** Name of the grouping label, when grouped (`disk`, `flags`, `laddr`, `raddr`). */
  groupBy?: string;
  startTimeNs: bigint;
  endTimeNs: bigint;
  histograms: Log2Histogram[];
}
