// /tmp/perf-PID.map: JIT code symbols written by runtimes (node --perf-basic-prof, JVM agents,
// .NET). One `START SIZE name` line per code object, hex without 0x; names may contain spaces.
import { readFileSync, statSync } from 'node:fs';

export interface PerfMapEntry {
  start: bigint;
  size: bigint;
  name: string;
}

const HEX = /^(?:0[xX])?([0-9a-fA-F]+)$/;

/** Parses one line; null when it is not a well-formed entry. */
export function parsePerfMapLine(line: string): PerfMapEntry | null {
  const m = /^\s*(\S+)\s+(\S+)\s+(.*?)\s*$/.exec(line);
  if (!m) return null;
  const a = HEX.exec(m[1]!);
  const b = HEX.exec(m[2]!);
  if (!a || !b || m[3] === '') return null;
  const size = BigInt('0x' + b[1]!);
  if (size === 0n) return null;
  return { start: BigInt('0x' + a[1]!), size, name: m[3]! };
}

export class PerfMap {
  private readonly starts: BigUint64Array;
  private readonly ends: BigUint64Array;
  private readonly maxEnds: BigUint64Array;
  /** Line order: code re-JITted at a recycled address appears later and wins. */
  private readonly order: Uint32Array;
  private readonly names: string[];

  private constructor(entries: PerfMapEntry[]) {
    const idx = entries.map((_, i) => i);
    idx.sort((x, y) => {
      const a = entries[x]!.start;
      const b = entries[y]!.start;
      return a < b ? -1 : a > b ? 1 : x - y;
    });
    const n = idx.length;
    this.starts = new BigUint64Array(n);
    this.ends = new BigUint64Array(n);
    this.maxEnds = new BigUint64Array(n);
    this.order = new Uint32Array(n);
    this.names = new Array<string>(n);
    for (let k = 0; k < n; k++) {
      const e = entries[idx[k]!]!;
      this.starts[k] = e.start;
      const end = e.start + e.size;
      this.ends[k] = end;
      this.maxEnds[k] = k > 0 && this.maxEnds[k - 1]! > end ? this.maxEnds[k - 1]! : end;
      this.order[k] = idx[k]!;
      this.names[k] = e.name;
    }
  }

  static parse(text: string): PerfMap {
    const entries: PerfMapEntry[] = [];
    for (const line of text.split('\n')) {
      const e = parsePerfMapLine(line);
      if (e) entries.push(e);
    }
    return new PerfMap(entries);
  }

  /** Reads `path` (e.g. /tmp/perf-1234.map); null when it does not exist or cannot be read. */
  static load(path: string): PerfMap | null {
    try {
      return PerfMap.parse(readFileSync(path, 'utf8'));
    } catch {
      return null;
    }
  }

  get size(): number {
    return this.starts.length;
  }

  /** The most recently written entry covering `addr`, or null. */
  lookup(addr: bigint): PerfMapEntry | null {
    const s = this.starts;
    let lo = 0;
    let hi = s.length - 1;
    let i = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid]! <= addr) {
        i = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    let best = -1;
    for (let j = i, steps = 0; j >= 0 && this.maxEnds[j]! > addr && steps < 100_000; j--, steps++) {
      if (this.ends[j]! > addr && (best < 0 || this.order[j]! > this.order[best]!)) best = j;
    }
    if (best < 0) return null;
    return { start: s[best]!, size: this.ends[best]! - s[best]!, name: this.names[best]! };
  }
}

/** A perf map that re-reads its file when it has grown (the runtime keeps appending to it). */
export class LivePerfMap {
  private map: PerfMap | null = null;
  private seenSize = -1;
  private seenMtime = -1;

  constructor(readonly path: string) {}

  /** Re-reads the file if it changed since the last read; returns the current map or null. */
  refresh(): PerfMap | null {
    try {
      const st = statSync(this.path);
      if (st.size !== this.seenSize || st.mtimeMs !== this.seenMtime) {
        const next = PerfMap.load(this.path);
        if (next) {
          this.map = next;
          this.seenSize = st.size;
          this.seenMtime = st.mtimeMs;
        }
      }
    } catch {
      // gone: keep what was read before
    }
    return this.map;
  }

  lookup(addr: bigint): PerfMapEntry | null {
    let hit = this.map?.lookup(addr) ?? null;
    if (!hit && this.refresh()) hit = this.map!.lookup(addr);
    return hit;
  }
}
