// Typed reader of bpf/biolatency.h: the `hists` key and value layouts, the op and flag
// encodings, the `stats` slots; plus the names of block devices from sysfs. The test
// test/commands/biolatency-reader.test.ts compiles bpf/biolatency.h and checks these numbers.
import { existsSync, readFileSync, readdirSync, realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { BpfTool } from '../bpf/object.js';
import { records } from '../bpf/object.js';

export const BIOLATENCY_MAX_SLOTS = 40;

export const BIOLATENCY_KEY = { size: 8, dev: 0, flags: 4 } as const;

export const BIOLATENCY_HIST = {
  size: BIOLATENCY_MAX_SLOTS * 8 + 16,
  slots: 0,
  count: BIOLATENCY_MAX_SLOTS * 8,
  sumNs: BIOLATENCY_MAX_SLOTS * 8 + 8,
} as const;

/** enum biolatency_op: the low 8 bits of a key's flags. */
export const BiolatencyOp = {
  Read: 0,
  Write: 1,
  Flush: 2,
  Discard: 3,
  SecureErase: 4,
  WriteZeroes: 5,
  WriteSame: 6,
  ZoneAppend: 7,
  ZoneOpen: 8,
  ZoneClose: 9,
  ZoneFinish: 10,
  ZoneReset: 11,
  ZoneResetAll: 12,
  DrvIn: 13,
  DrvOut: 14,
  Unknown: 255,
} as const;

/** enum biolatency_flag: bits above the op. */
export const BiolatencyFlag = {
  Sync: 1 << 8,
  Meta: 1 << 9,
  Prio: 1 << 10,
  NoMerge: 1 << 11,
  Idle: 1 << 12,
  Integrity: 1 << 13,
  Fua: 1 << 14,
  PreFlush: 1 << 15,
  ReadAhead: 1 << 16,
  Background: 1 << 17,
  NoWait: 1 << 18,
  Polled: 1 << 19,
  Atomic: 1 << 20,
} as const;

/** Slots of the per-CPU `stats` map (enum biolatency_stat). */
export const BiolatencyStat = { completions: 0, startFull: 1, histsFull: 2 } as const;
export const BIOLATENCY_STAT_COUNT = 3;

const OP_NAMES = new Map<number, string>(Object.entries(BiolatencyOp).map(([name, v]) => [v, name]));

/**
 * Flag prefixes in BCC biolatency -F order: BCC builds the text by prepending each flag it finds
 * (Sync first, NoWait last), so NoWait comes first on the line. PreFlush, Integrity, Polled and
 * Atomic, which BCC does not decode, are placed among them.
 */
const FLAG_TEXT: [number, string][] = [
  [BiolatencyFlag.NoWait, 'NoWait'],
  [BiolatencyFlag.Background, 'Background'],
  [BiolatencyFlag.ReadAhead, 'ReadAhead'],
  [BiolatencyFlag.Polled, 'Polled'],
  [BiolatencyFlag.Idle, 'Idle'],
  [BiolatencyFlag.NoMerge, 'NoMerge'],
  [BiolatencyFlag.Prio, 'Priority'],
  [BiolatencyFlag.Integrity, 'Integrity'],
  [BiolatencyFlag.Atomic, 'Atomic'],
  [BiolatencyFlag.PreFlush, 'PreFlush'],
  [BiolatencyFlag.Fua, 'ForcedUnitAccess'],
  [BiolatencyFlag.Meta, 'Metadata'],
  [BiolatencyFlag.Sync, 'Sync'],
];

/** The operation of a flags value: `Read`, `Write`, `Flush`, ..., `Unknown`. */
export function opName(flags: number): string {
  return OP_NAMES.get(flags & 0xff) ?? 'Unknown';
}

/** BCC's text for a flag set: `Sync-Write`, `NoWait-Idle-Sync-Write`, `Read`. */
export function describeFlags(flags: number): string {
  const parts: string[] = [];
  for (const [bit, text] of FLAG_TEXT) if (flags & bit) parts.push(text);
  parts.push(opName(flags));
  return parts.join('-');
}

export interface BiolatencyKey {
  /** Kernel dev_t: major << 20 | minor. */
  dev: number;
  flags: number;
}

export function decodeBiolatencyKey(key: Buffer): BiolatencyKey {
  return { dev: key.readUInt32LE(BIOLATENCY_KEY.dev), flags: key.readUInt32LE(BIOLATENCY_KEY.flags) };
}

export interface DecodedHist {
  /** Model slot counts, trailing zeros trimmed. */
  counts: number[];
  count: number;
  /** Exact sum of the recorded values: nanoseconds for biolatency, microseconds for tcprtt. */
  sum: number;
}

/** Decodes a log2 histogram value: `slotCount` u64 slots, then count and sum (u64 each). */
export function decodeHistValue(value: Buffer, slotCount: number): DecodedHist {
  const counts: number[] = [];
  let last = -1;
  for (let i = 0; i < slotCount; i++) {
    const c = Number(value.readBigUInt64LE(i * 8));
    counts.push(c);
    if (c !== 0) last = i;
  }
  counts.length = last + 1;
  return {
    counts,
    count: Number(value.readBigUInt64LE(slotCount * 8)),
    sum: Number(value.readBigUInt64LE(slotCount * 8 + 8)),
  };
}

export interface BiolatencyEntry extends BiolatencyKey, DecodedHist {}

export interface BiolatencyStats {
  completions: number;
  startFull: number;
  histsFull: number;
}

export interface BiolatencyData {
  entries: BiolatencyEntry[];
  stats: BiolatencyStats;
}

export function readBiolatency(tool: BpfTool): BiolatencyData {
  const entries: BiolatencyEntry[] = [];
  for (const [key, value] of records(tool.entries('hists'))) {
    entries.push({ ...decodeBiolatencyKey(key), ...decodeHistValue(value, BIOLATENCY_MAX_SLOTS) });
  }
  const s = tool.perCpuCounters('stats', BIOLATENCY_STAT_COUNT);
  return {
    entries,
    stats: {
      completions: s[BiolatencyStat.completions] ?? 0,
      startFull: s[BiolatencyStat.startFull] ?? 0,
      histsFull: s[BiolatencyStat.histsFull] ?? 0,
    },
  };
}

/** The kernel's internal dev_t (MINORBITS = 20), as block tracepoints and gendisk use it. */
export function kernelDev(major: number, minor: number): number {
  return major * 2 ** 20 + (minor & 0xfffff);
}

export function devMajorMinor(dev: number): string {
  return `${Math.floor(dev / 2 ** 20)}:${dev % 2 ** 20}`;
}

export interface BlockDevice {
  name: string;
  /** Kernel dev_t. */
  dev: number;
  partition: boolean;
  /** The whole disk of a partition. */
  disk?: string;
}

/** Every disk and partition, from /sys/class/block/NAME/dev (`major:minor`). */
export function readBlockDevices(root = '/sys/class/block'): BlockDevice[] {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return [];
  }
  const out: BlockDevice[] = [];
  for (const name of names) {
    try {
      const m = /^(\d+):(\d+)/.exec(readFileSync(join(root, name, 'dev'), 'utf8'));
      if (!m) continue;
      const partition = existsSync(join(root, name, 'partition'));
      const dev: BlockDevice = { name, dev: kernelDev(Number(m[1]), Number(m[2])), partition };
      if (partition) dev.disk = basename(dirname(realpathSync(join(root, name))));
      out.push(dev);
    } catch {
      // a device that went away while we looked
    }
  }
  return out;
}

/** dev_t -> name; an unknown device prints as `major:minor`. */
export function deviceNamer(devices: readonly BlockDevice[]): (dev: number) => string {
  const names = new Map(devices.map((d) => [d.dev, d.name]));
  return (dev) => names.get(dev) ?? devMajorMinor(dev);
}
