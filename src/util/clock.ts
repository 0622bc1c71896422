// Kernel timestamps (bpf_ktime_get_ns) are CLOCK_MONOTONIC; OTLP and JSON want UTC wall-clock
// nanoseconds. The offset between the two clocks is taken once per run.
export interface ClockSource {
  clockPair(): { monotonic: bigint; realtime: bigint };
}

export interface WallClock {
  /** Wall-clock nanoseconds since the Unix epoch, now. */
  now(): bigint;
  /** Converts a CLOCK_MONOTONIC nanosecond timestamp to wall-clock nanoseconds. */
  fromMonotonic(ns: bigint): bigint;
}

export function wallClock(source: ClockSource): WallClock {
  const { monotonic, realtime } = source.clockPair();
  const offset = realtime - monotonic;
  return {
    now: () => source.clockPair().realtime,
    fromMonotonic: (ns) => ns + offset,
  };
}

/** CLOCK_MONOTONIC nanoseconds at which this process started (libuv's hrtime is CLOCK_MONOTONIC). */
export function processStartMonotonicNs(): bigint {
  return process.hrtime.bigint() - BigInt(Math.round(process.uptime() * 1e9));
}
