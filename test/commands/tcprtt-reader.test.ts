// The TypeScript reader of bpf/tcprtt.h must agree with the C layout the BPF side writes
// (compiled here with gcc); plus the pure parts of the command: addresses as the kernel compares
// them, the model it builds, option parsing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  TCPRTT_HIST,
  TCPRTT_KEY,
  TCPRTT_MAX_SLOTS,
  TCPRTT_STAT_COUNT,
  TcprttFamily,
  TcprttGroup,
  TcprttStat,
  addressGlobals,
  formatAddress,
  isV4Mapped,
  parseAddress,
} from '../../src/commands/tcprtt-reader.js';
import { ipAddress, knownUnattachable, portNumber, tcprttGroupHeader, tcprttHooks, tcprttSet } from '../../src/commands/tcprtt.js';
import { formatHistogramSet } from '../../src/commands/histogram-output.js';
import { cValues, programsOf } from '../helpers.js';

test('tcprtt key, histogram, enums and stats match bpf/tcprtt.h', () => {
  const c = cValues('tcprtt.h', {
    maxSlots: 'TCPRTT_MAX_SLOTS',
    keySize: 'sizeof(struct tcprtt_key)',
    keyAddr: 'offsetof(struct tcprtt_key, addr)',
    keyAddrLength: 'sizeof(((struct tcprtt_key *)0)->addr)',
    histSize: 'sizeof(struct tcprtt_hist)',
    histSlots: 'offsetof(struct tcprtt_hist, slots)',
    histCount: 'offsetof(struct tcprtt_hist, count)',
    histSum: 'offsetof(struct tcprtt_hist, sum_us)',
    groupNone: 'TCPRTT_GROUP_NONE',
    groupLaddr: 'TCPRTT_GROUP_LADDR',
    groupRaddr: 'TCPRTT_GROUP_RADDR',
    famAny: 'TCPRTT_FAMILY_ANY',
    famV4: 'TCPRTT_FAMILY_IPV4',
    famV6: 'TCPRTT_FAMILY_IPV6',
    samples: 'TCPRTT_STAT_SAMPLES',
    histsFull: 'TCPRTT_STAT_HISTS_FULL',
    statCount: 'TCPRTT_STAT_COUNT',
  });
  assert.equal(c.maxSlots, TCPRTT_MAX_SLOTS);
  assert.deepEqual({ size: c.keySize, addr: c.keyAddr, addrLength: c.keyAddrLength }, { ...TCPRTT_KEY });
  assert.deepEqual({ size: c.histSize, slots: c.histSlots, count: c.histCount, sumUs: c.histSum }, { ...TCPRTT_HIST });
  assert.deepEqual({ none: c.groupNone, laddr: c.groupLaddr, raddr: c.groupRaddr }, { ...TcprttGroup });
  assert.deepEqual({ any: c.famAny, ipv4: c.famV4, ipv6: c.famV6 }, { ...TcprttFamily });
  assert.deepEqual({ samples: c.samples, histsFull: c.histsFull }, { ...TcprttStat });
  assert.equal(c.statCount, TCPRTT_STAT_COUNT);
});

const hex = (b: Buffer | undefined) => b?.toString('hex');

test('parseAddress: IPv4 becomes v4-mapped, IPv6 in every spelling', () => {
  assert.equal(hex(parseAddress('127.0.0.5')), '00000000000000000000ffff7f000005');
  assert.equal(hex(parseAddress('::ffff:127.0.0.5')), '00000000000000000000ffff7f000005');
  assert.equal(hex(parseAddress('::ffff:7f00:5')), '00000000000000000000ffff7f000005');
  assert.equal(hex(parseAddress('::1')), '00000000000000000000000000000001');
  assert.equal(hex(parseAddress('[::1]')), '00000000000000000000000000000001');
  assert.equal(hex(parseAddress('::')), '00000000000000000000000000000000');
  assert.equal(hex(parseAddress('fe80::1:2')), 'fe800000000000000000000000010002');
  assert.equal(hex(parseAddress('2001:DB8:0:0:1:0:0:1')), '20010db8000000000001000000000001');
  assert.equal(hex(parseAddress('1:2:3:4:5:6:7:8')), '00010002000300040005000600070008');
  assert.equal(hex(parseAddress('1::')), '00010000000000000000000000000000');
  assert.equal(hex(parseAddress('64:ff9b::192.0.2.33')), '0064ff9b0000000000000000c0000221');
  assert.equal(hex(parseAddress('1:2:3:4:5:6:1.2.3.4')), '00010002000300040005000601020304');
  for (const bad of ['', 'localhost', '256.1.1.1', '1.2.3', '1:2:3:4:5:6:7:8:9', '::1::2', 'fe80::1%eth0', '10.0.0.0/8', '1::2::3', 'g::1']) {
    assert.equal(parseAddress(bad), undefined, bad);
  }
});

test('formatAddress: dotted IPv4 for v4-mapped, RFC 5952 for IPv6; round trips', () => {
  const cases: [string, string][] = [
    ['127.0.0.5', '127.0.0.5'],
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['::1', '::1'],
    ['::', '::'],
    ['2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['fe80:0:0:0:0:0:0:0', 'fe80::'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
  ];
  for (const [input, text] of cases) {
    const b = parseAddress(input)!;
    assert.equal(formatAddress(b), text, input);
    assert.equal(hex(parseAddress(text)), hex(b), `round trip ${text}`);
  }
  assert.ok(isV4Mapped(parseAddress('1.2.3.4')!));
  assert.ok(!isV4Mapped(parseAddress('::1')!));
});

test('addressGlobals: the two u64 halves as the BPF side reads the 16 bytes (little-endian host)', () => {
  const { lo, hi } = addressGlobals(parseAddress('127.0.0.5')!);
  assert.equal(lo, 0n);
  assert.equal(hi, 0x0500007fffff0000n);
  const b = Buffer.alloc(16);
  b.writeBigUInt64LE(lo, 0);
  b.writeBigUInt64LE(hi, 8);
  assert.equal(formatAddress(b), '127.0.0.5');
});

test('option parsers: ports 1-65535, addresses checked', () => {
  const port = portNumber('local port');
  assert.equal(port('8080'), 8080);
  for (const bad of ['0', '65536', '-1', '80a', '']) assert.throws(() => port(bad), /local port must be a port number/, bad);
  const addr = ipAddress('remote address');
  assert.equal(addr('::1'), '::1');
  assert.throws(() => addr('example.com'), /remote address must be an IPv4 or IPv6 address/);
});

test('the model: ungrouped, per remote address, msecs; BCC section headers', () => {
  const v4 = parseAddress('10.0.0.2')!;
  const v6 = parseAddress('2001:db8::2')!;
  const data = {
    entries: [
      { addr: v6, counts: [0, 0, 0, 0, 0, 0, 0, 2], count: 2, sum: 200 },
      { addr: v4, counts: [0, 0, 0, 0, 0, 0, 0, 0, 1], count: 1, sum: 150 },
    ],
    stats: { samples: 3, histsFull: 0 },
  };
  const byR = tcprttSet(data, { milliseconds: false, groupBy: 'raddr' }, 1n, 2n);
  assert.equal(byR.groupBy, 'raddr');
  assert.deepEqual(byR.histograms.map((h) => [h.labels, h.total, h.sum]), [
    [{ raddr: '10.0.0.2' }, 1, 150],
    [{ raddr: '2001:db8::2' }, 2, 200],
  ]);
  const text = formatHistogramSet(byR, { json: false, extended: true, timestamp: false, groupHeader: tcprttGroupHeader });
  assert.match(text, /^Remote Address = 10\.0\.0\.2$/m);
  assert.match(text, /^Remote Address = 2001:db8::2$/m);
  assert.match(text, /^avg = 100 usecs, total: 200 usecs, count: 2$/m);
  const ms = tcprttSet({ entries: [{ addr: Buffer.alloc(16), counts: [1], count: 1, sum: 1500 }], stats: data.stats }, { milliseconds: true, groupBy: 'none' }, 1n, 2n);
  assert.equal(ms.unit, 'msecs');
  assert.equal(ms.groupBy, undefined);
  assert.deepEqual(ms.histograms, [{ labels: {}, counts: [1], total: 1, sum: 1.5 }]);
  assert.doesNotMatch(formatHistogramSet(ms, { json: false, extended: false, timestamp: false }), /Address/);
});

test('hook chain: tp_btf, fentry, kprobe, raw_tp, tracepoint; every program exists in bpf/tcprtt.bpf.o', () => {
  const chain = tcprttHooks();
  assert.deepEqual(chain.map((c) => c.name), ['tp_btf', 'fentry', 'kprobe', 'raw_tp', 'tracepoint']);
  const programs = programsOf('tcprtt');
  for (const c of chain) for (const p of c.programs) assert.ok(programs.includes(p), `${c.name}: no program ${p}`);
});

test('knownUnattachable: kprobes only, skipped when neither the kprobe PMU nor tracefs kprobe_events exists', () => {
  const only = (...paths: string[]) => (p: string) => paths.includes(p);
  assert.match(knownUnattachable('kprobe', only()) ?? '', /no kprobes/);
  assert.match(knownUnattachable('kprobe', only('/sys/kernel/tracing/available_events')) ?? '', /no kprobes/);
  assert.equal(knownUnattachable('kprobe', only('/sys/bus/event_source/devices/kprobe/type')), undefined);
  assert.equal(knownUnattachable('kprobe', only('/sys/kernel/tracing/kprobe_events')), undefined);
  assert.equal(knownUnattachable('kprobe', only('/sys/kernel/debug/tracing/kprobe_events')), undefined);
  // Every other hook only trying tells.
  for (const hook of ['fentry', 'tp_btf', 'raw_tp', 'tracepoint']) assert.equal(knownUnattachable(hook, only()), undefined);
});
