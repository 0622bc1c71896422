// The TypeScript reader of bpf/biolatency.h must agree with the C layout the BPF side writes:
// compile the header with the host compiler and compare every offset, size and constant. Plus
// the pure parts of the command: flag texts, device names, the model it builds, hook selection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cValues, programsOf } from '../helpers.js';
import {
  BIOLATENCY_HIST,
  BIOLATENCY_KEY,
  BIOLATENCY_MAX_SLOTS,
  BIOLATENCY_STAT_COUNT,
  BiolatencyFlag,
  BiolatencyOp,
  BiolatencyStat,
  decodeBiolatencyKey,
  decodeHistValue,
  describeFlags,
  deviceNamer,
  devMajorMinor,
  kernelDev,
  readBlockDevices,
} from '../../src/commands/biolatency-reader.js';
import { biolatencyHooks, biolatencySet, resolveDisk } from '../../src/commands/biolatency.js';
import { formatHistogramSet, selectHooks } from '../../src/commands/histogram-output.js';

test('biolatency key, histogram and stats layouts match bpf/biolatency.h', () => {
  const c = cValues('biolatency.h', {
    maxSlots: 'BIOLATENCY_MAX_SLOTS',
    keySize: 'sizeof(struct biolatency_key)',
    keyDev: 'offsetof(struct biolatency_key, dev)',
    keyFlags: 'offsetof(struct biolatency_key, flags)',
    histSize: 'sizeof(struct biolatency_hist)',
    histSlots: 'offsetof(struct biolatency_hist, slots)',
    histCount: 'offsetof(struct biolatency_hist, count)',
    histSum: 'offsetof(struct biolatency_hist, sum_ns)',
    completions: 'BIOLATENCY_STAT_COMPLETIONS',
    startFull: 'BIOLATENCY_STAT_START_FULL',
    histsFull: 'BIOLATENCY_STAT_HISTS_FULL',
    statCount: 'BIOLATENCY_STAT_COUNT',
  });
  assert.equal(c.maxSlots, BIOLATENCY_MAX_SLOTS);
  assert.deepEqual({ size: c.keySize, dev: c.keyDev, flags: c.keyFlags }, { ...BIOLATENCY_KEY });
  assert.deepEqual({ size: c.histSize, slots: c.histSlots, count: c.histCount, sumNs: c.histSum }, { ...BIOLATENCY_HIST });
  assert.deepEqual({ completions: c.completions, startFull: c.startFull, histsFull: c.histsFull }, { ...BiolatencyStat });
  assert.equal(c.statCount, BIOLATENCY_STAT_COUNT);
});

test('biolatency op and flag encodings match bpf/biolatency.h', () => {
  const ops: Record<keyof typeof BiolatencyOp, string> = {
    Read: 'READ', Write: 'WRITE', Flush: 'FLUSH', Discard: 'DISCARD', SecureErase: 'SECURE_ERASE',
    WriteZeroes: 'WRITE_ZEROES', WriteSame: 'WRITE_SAME', ZoneAppend: 'ZONE_APPEND', ZoneOpen: 'ZONE_OPEN',
    ZoneClose: 'ZONE_CLOSE', ZoneFinish: 'ZONE_FINISH', ZoneReset: 'ZONE_RESET', ZoneResetAll: 'ZONE_RESET_ALL',
    DrvIn: 'DRV_IN', DrvOut: 'DRV_OUT', Unknown: 'UNKNOWN',
  };
  const flags: Record<keyof typeof BiolatencyFlag, string> = {
    Sync: 'SYNC', Meta: 'META', Prio: 'PRIO', NoMerge: 'NOMERGE', Idle: 'IDLE', Integrity: 'INTEGRITY', Fua: 'FUA',
    PreFlush: 'PREFLUSH', ReadAhead: 'RAHEAD', Background: 'BACKGROUND', NoWait: 'NOWAIT', Polled: 'POLLED', Atomic: 'ATOMIC',
  };
  const exprs: Record<string, string> = {};
  for (const [k, c] of Object.entries(ops)) exprs[`op${k}`] = `BIOLATENCY_OP_${c}`;
  for (const [k, c] of Object.entries(flags)) exprs[`f${k}`] = `BIOLATENCY_F_${c}`;
  const c = cValues('biolatency.h', exprs);
  for (const [k, v] of Object.entries(BiolatencyOp)) assert.equal(c[`op${k}`], v, `op ${k}`);
  for (const [k, v] of Object.entries(BiolatencyFlag)) assert.equal(c[`f${k}`], v, `flag ${k}`);
});

test('decoding a key and a histogram value', () => {
  const key = Buffer.alloc(BIOLATENCY_KEY.size);
  key.writeUInt32LE(kernelDev(259, 3), BIOLATENCY_KEY.dev);
  key.writeUInt32LE(BiolatencyOp.Write | BiolatencyFlag.Sync, BIOLATENCY_KEY.flags);
  assert.deepEqual(decodeBiolatencyKey(key), { dev: 259 * 2 ** 20 + 3, flags: 0x101 });

  const value = Buffer.alloc(BIOLATENCY_HIST.size);
  value.writeBigUInt64LE(4n, BIOLATENCY_HIST.slots + 5 * 8);
  value.writeBigUInt64LE(1n, BIOLATENCY_HIST.slots + 7 * 8);
  value.writeBigUInt64LE(5n, BIOLATENCY_HIST.count);
  value.writeBigUInt64LE(123_456_789n, BIOLATENCY_HIST.sumNs);
  assert.deepEqual(decodeHistValue(value, BIOLATENCY_MAX_SLOTS), { counts: [0, 0, 0, 0, 0, 4, 0, 1], count: 5, sum: 123_456_789 });
  assert.deepEqual(decodeHistValue(Buffer.alloc(BIOLATENCY_HIST.size), BIOLATENCY_MAX_SLOTS).counts, []);
});

test('flag sets print as BCC biolatency -F does', () => {
  assert.equal(describeFlags(BiolatencyOp.Read), 'Read');
  assert.equal(describeFlags(BiolatencyOp.Write | BiolatencyFlag.Sync), 'Sync-Write');
  assert.equal(describeFlags(BiolatencyOp.Write | BiolatencyFlag.Sync | BiolatencyFlag.Idle), 'Idle-Sync-Write');
  assert.equal(describeFlags(BiolatencyOp.Read | BiolatencyFlag.ReadAhead), 'ReadAhead-Read');
  assert.equal(describeFlags(BiolatencyOp.Write | BiolatencyFlag.Fua | BiolatencyFlag.Meta | BiolatencyFlag.Sync), 'ForcedUnitAccess-Metadata-Sync-Write');
  assert.equal(describeFlags(BiolatencyOp.Flush | BiolatencyFlag.PreFlush), 'PreFlush-Flush');
  assert.equal(describeFlags(BiolatencyOp.Discard | BiolatencyFlag.NoWait | BiolatencyFlag.Background), 'NoWait-Background-Discard');
  assert.equal(describeFlags(BiolatencyOp.WriteZeroes), 'WriteZeroes');
  assert.equal(describeFlags(BiolatencyOp.Unknown | BiolatencyFlag.Sync), 'Sync-Unknown');
  assert.equal(describeFlags(99), 'Unknown');
});

test('block devices from sysfs: disks, partitions, names by dev_t', () => {
  const root = mkdtempSync(join(tmpdir(), 'sysblock-'));
  const devices = join(root, 'devices', 'virtual', 'block');
  const disk = join(devices, 'vdb');
  const part = join(disk, 'vdb1');
  mkdirSync(part, { recursive: true });
  writeFileSync(join(disk, 'dev'), '254:16\n');
  writeFileSync(join(part, 'dev'), '254:17\n');
  writeFileSync(join(part, 'partition'), '1\n');
  const cls = join(root, 'class');
  mkdirSync(cls);
  symlinkSync(disk, join(cls, 'vdb'));
  symlinkSync(part, join(cls, 'vdb1'));
  mkdirSync(join(cls, 'broken')); // no dev file: skipped

  const found = readBlockDevices(cls).sort((a, b) => a.name.localeCompare(b.name));
  assert.deepEqual(found, [
    { name: 'vdb', dev: kernelDev(254, 16), partition: false },
    { name: 'vdb1', dev: kernelDev(254, 17), partition: true, disk: 'vdb' },
  ]);
  const name = deviceNamer(found);
  assert.equal(name(kernelDev(254, 16)), 'vdb');
  assert.equal(name(kernelDev(8, 0)), '8:0');
  assert.equal(devMajorMinor(kernelDev(4095, 0xfffff)), '4095:1048575');

  assert.equal(resolveDisk('vdb', found), kernelDev(254, 16));
  assert.equal(resolveDisk('/dev/vdb', found), kernelDev(254, 16));
  assert.throws(() => resolveDisk('vdb1', found), /partition.*--disk vdb/);
  assert.throws(() => resolveDisk('sdz', found), /no block device named 'sdz'/);
  assert.deepEqual(readBlockDevices(join(root, 'nothing-here')), []);
});

test('the model: labels per disk and flag set, sums converted to the printed unit', () => {
  const name = (dev: number) => (dev === kernelDev(7, 0) ? 'loop0' : 'vda');
  const data = {
    entries: [
      { dev: kernelDev(254, 0), flags: BiolatencyOp.Read, counts: [0, 0, 3], count: 3, sum: 9000 },
      { dev: kernelDev(7, 0), flags: BiolatencyOp.Write | BiolatencyFlag.Sync, counts: [0, 1], count: 1, sum: 1500 },
      { dev: kernelDev(7, 0), flags: BiolatencyOp.Write, counts: [], count: 0, sum: 0 },
    ],
    stats: { completions: 4, startFull: 0, histsFull: 0 },
  };
  const perDisk = biolatencySet(data, { milliseconds: false, perDisk: true, perFlags: false }, name, 1n, 2n);
  assert.equal(perDisk.groupBy, 'disk');
  assert.equal(perDisk.unit, 'usecs');
  assert.deepEqual(perDisk.histograms.map((h) => [h.labels, h.total, h.sum]), [
    [{ disk: 'loop0' }, 1, 1.5],
    [{ disk: 'vda' }, 3, 9],
  ]);
  const both = biolatencySet(data, { milliseconds: true, perDisk: true, perFlags: true }, name, 1n, 2n);
  assert.equal(both.groupBy, undefined);
  assert.equal(both.unit, 'msecs');
  assert.deepEqual(both.histograms.map((h) => h.labels), [{ disk: 'loop0', flags: 'Sync-Write' }, { disk: 'vda', flags: 'Read' }]);
  const text = formatHistogramSet(both, { json: false, extended: true, timestamp: false });
  assert.match(text, /^disk=loop0, flags=Sync-Write$/m);
  assert.match(text, /^avg = 0 msecs, total: 0 msecs, count: 1$/m);
  const stamped = formatHistogramSet(perDisk, { json: false, extended: false, timestamp: true }, false, new Date(2024, 0, 2, 3, 4, 5));
  assert.match(stamped, /^03:04:05\n\ndisk = loop0\n/);
  const json = JSON.parse(formatHistogramSet(perDisk, { json: true, extended: false, timestamp: true })) as { groupBy: string; histograms: { total: number }[] };
  assert.equal(json.groupBy, 'disk');
  assert.deepEqual(json.histograms.map((h) => h.total), [1, 3]);
});

test('hook chains: the current argument layout first, then pre-5.11, tp_btf before raw_tp before tracepoint; --hook picks one', () => {
  const chain = biolatencyHooks();
  assert.deepEqual(chain.map((c) => c.name), ['tp_btf', 'tp_btf (pre-5.11 args)', 'raw_tp', 'raw_tp (pre-5.11 args)', 'tracepoint']);
  // tp_btf and raw_tp variants load the argument counters beside their own programs.
  const counters = ['biolatency_nargs_2', 'biolatency_nargs_3'];
  assert.deepEqual(chain[0]!.programs, ['biolatency_complete_btf', 'biolatency_issue_btf', ...counters]);
  assert.deepEqual(chain[3]!.programs, ['biolatency_complete_raw', 'biolatency_issue_raw_q', ...counters]);
  assert.deepEqual(chain[4]!.programs, ['biolatency_complete_tp', 'biolatency_issue_tp']);
  assert.deepEqual(selectHooks(chain, 'raw_tp').map((c) => c.name), ['raw_tp']);
  assert.equal(selectHooks(chain, undefined), chain);
  assert.throws(() => selectHooks(chain, 'kprobe'), /unknown hook 'kprobe'/);
});

test('hook programs: only what the options read is loaded (-Q insert, --disk the disk at issue, -D/-F at completion)', () => {
  const progs = (config: Parameters<typeof biolatencyHooks>[0], hook: number) => biolatencyHooks(config)[hook]!.programs.filter((p) => !p.includes('nargs'));
  assert.deepEqual(progs({ queued: true }, 1), ['biolatency_complete_btf', 'biolatency_issue_btf_q', 'biolatency_insert_btf_q']);
  assert.deepEqual(progs({ filterDev: true }, 0), ['biolatency_complete_btf', 'biolatency_issue_btf_dev']);
  assert.deepEqual(progs({ queued: true, filterDev: true }, 3), ['biolatency_complete_raw', 'biolatency_issue_raw_q_dev', 'biolatency_insert_raw_q_dev']);
  assert.deepEqual(progs({ perDisk: true }, 0), ['biolatency_complete_btf_dev', 'biolatency_issue_btf']);
  assert.deepEqual(progs({ perFlags: true }, 2), ['biolatency_complete_raw_flags', 'biolatency_issue_raw']);
  assert.deepEqual(progs({ perDisk: true, perFlags: true, filterDev: true }, 0), ['biolatency_complete_btf_dev_flags', 'biolatency_issue_btf_dev']);
  // The classic tracepoint's record carries the disk and the flags: one program per tracepoint.
  assert.deepEqual(progs({ queued: true, filterDev: true, perDisk: true, perFlags: true }, 4), ['biolatency_complete_tp', 'biolatency_issue_tp', 'biolatency_insert_tp']);
});

test('every program a hook names exists in bpf/biolatency.bpf.o', () => {
  const programs = programsOf('biolatency');
  for (let bits = 0; bits < 16; bits++) {
    const config = { queued: Boolean(bits & 1), filterDev: Boolean(bits & 2), perDisk: Boolean(bits & 4), perFlags: Boolean(bits & 8) };
    for (const choice of biolatencyHooks(config)) {
      for (const p of choice.programs) assert.ok(programs.includes(p), `${choice.name}: no program ${p} in the object`);
    }
  }
});
