// Typed reader of bpf/tcprtt.h: the `hists` key and value layouts and the `stats` slots, plus
// the 16-byte address form the BPF side compares and groups by (IPv4 v4-mapped). The test
// test/commands/tcprtt-reader.test.ts compiles bpf/tcprtt.h and checks these numbers.
import type { BpfTool } from '../bpf/object.js';
import { records } from '../bpf/object.js';
import { decodeHistValue, type DecodedHist } from './biolatency-reader.js';
import { net } from '../util/lazy-builtins.js';

export const TCPRTT_MAX_SLOTS = 34;

export const TCPRTT_KEY = { size: 16, addr: 0, addrLength: 16 } as const;

export const TCPRTT_HIST = {
  size: TCPRTT_MAX_SLOTS * 8 + 16,
  slots: 0,
  count: TCPRTT_MAX_SLOTS * 8,
  sumUs: TCPRTT_MAX_SLOTS * 8 + 8,
} as const;

export const TcprttGroup = { none: 0, laddr: 1, raddr: 2 } as const;
export const TcprttFamily = { any: 0, ipv4: 4, ipv6: 6 } as const;
export const TcprttStat = { samples: 0, histsFull: 1 } as const;
export const TCPRTT_STAT_COUNT = 2;

function parseIPv4(text: string): number[] | undefined {
  if (!net().isIPv4(text)) return undefined;
  return text.split('.').map((p) => Number(p));
}

/**
 * An IPv4 or IPv6 address as the 16 bytes the BPF side compares: IPv4 as ::ffff:a.b.c.d.
 * Accepts `[::1]`; rejects zone ids, prefixes and host names. Undefined when not an address.
 */
export function parseAddress(input: string): Buffer | undefined {
  let text = input.trim();
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  const out = Buffer.alloc(16);
  const v4 = parseIPv4(text);
  if (v4) {
    out[10] = 0xff;
    out[11] = 0xff;
    out.set(v4, 12);
    return out;
  }
  if (!net().isIPv6(text) || text.includes('%')) return undefined;
  // A trailing dotted quad fills the last two groups.
  let groupsText = text;
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  const dotted = parseIPv4(text.slice(lastColon + 1));
  if (dotted) {
    tail = [(dotted[0]! << 8) | dotted[1]!, (dotted[2]! << 8) | dotted[3]!];
    groupsText = text.slice(0, lastColon + 1);
    if (!groupsText.endsWith('::')) groupsText = groupsText.slice(0, -1);
  }
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((g) => Number.parseInt(g, 16)));
  const want = 8 - tail.length;
  let groups: number[];
  const dbl = groupsText.indexOf('::');
  if (dbl >= 0) {
    const head = parse(groupsText.slice(0, dbl));
    const rest = parse(groupsText.slice(dbl + 2));
    if (head.length + rest.length >= want) return undefined;
    groups = [...head, ...new Array<number>(want - head.length - rest.length).fill(0), ...rest];
  } else {
    groups = parse(groupsText);
  }
  groups = [...groups, ...tail];
  if (groups.length !== 8 || groups.some((g) => !Number.isInteger(g) || g < 0 || g > 0xffff)) return undefined;
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

export function isV4Mapped(addr: Buffer): boolean {
  for (let i = 0; i < 10; i++) if (addr[i] !== 0) return false;
  return addr[10] === 0xff && addr[11] === 0xff;
}

/** The text of a 16-byte address: IPv4 (v4-mapped) dotted, IPv6 in RFC 5952 form. */
export function formatAddress(addr: Buffer): string {
  if (isV4Mapped(addr)) return `${addr[12]}.${addr[13]}.${addr[14]}.${addr[15]}`;
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(addr.readUInt16BE(i * 2));
  // The longest run of two or more zero groups (the first of equals) becomes `::`.
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  if (bestAt < 0) return hex(groups);
  return `${hex(groups.slice(0, bestAt))}::${hex(groups.slice(bestAt + bestLen))}`;
}

/** The two u64 globals (`*_lo`, `*_hi`) the BPF side compares an address with, read from memory
 * in host (little-endian) order exactly as the program reads its 16 bytes. */
export function addressGlobals(addr: Buffer): { lo: bigint; hi: bigint } {
  return { lo: addr.readBigUInt64LE(0), hi: addr.readBigUInt64LE(8) };
}

/** A histogram whose `sum` is in microseconds. */
export interface TcprttEntry extends DecodedHist {
  /** 16 bytes; all zero when not grouped. */
  addr: Buffer;
}

export interface TcprttStats {
  samples: number;
  histsFull: number;
}

export interface TcprttData {
  entries: TcprttEntry[];
  stats: TcprttStats;
}

export function readTcprtt(tool: BpfTool): TcprttData {
  const entries: TcprttEntry[] = [];
  for (const [key, value] of records(tool.entries('hists'))) {
    const addr = Buffer.from(key.subarray(TCPRTT_KEY.addr, TCPRTT_KEY.addr + TCPRTT_KEY.addrLength));
    entries.push({ addr, ...decodeHistValue(value, TCPRTT_MAX_SLOTS) });
  }
  const s = tool.perCpuCounters('stats', TCPRTT_STAT_COUNT);
  return { entries, stats: { samples: s[TcprttStat.samples] ?? 0, histsFull: s[TcprttStat.histsFull] ?? 0 } };
}
