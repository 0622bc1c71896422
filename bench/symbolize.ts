// cpuprofile's "symbolize 10,000 distinct stacks in a large binary under 1 s": 10,000 stacks of
// real function addresses of the node binary (~100 MB, ~150,000 function symbols), in a live node
// process, through Symbolizer + resolveStacks + the folded renderer, in a fresh process. And, for
// comparison with perf on the same input, cpuprofile and `perf record -g` profiling the same busy
// node process at the same time: end of collection to output for each.
import { readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ElfFile } from '../src/symbolize/elf.js';
import { parseMaps } from '../src/symbolize/procmaps.js';
import { cli, fmt, msBetween, runTool, say, sleep, stat, timedSync, work, Workload, type Stat, type ToolRun } from './lib.js';
import type { MetricDef, SectionResult, ToolResult } from './report-model.js';

const STACKS = 10_000;
const DEPTH = 24;
/** Root-side frames come from a small shared pool (as real stacks share their callers). */
const SHARED_DEPTH = 10;
const SHARED_POOL = 400;

/** Deterministic pseudo-random numbers (same stacks every run). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Runtime addresses inside function symbols of the executable, as the live process maps it. */
function functionAddresses(pid: number): { exe: string; addrs: bigint[]; symbols: number } {
  const exe = realpathSync(`/proc/${pid}/exe`);
  const maps = parseMaps(readFileSync(`/proc/${pid}/maps`, 'utf8')).filter((m) => m.executable && m.path === exe);
  const elf = ElfFile.open(exe);
  try {
    const segs = elf.loadSegments.filter((p) => (p.flags & 1) !== 0);
    const addrs: bigint[] = [];
    const syms = elf.functionSymbols().filter((s) => s.type === 'func' && s.size >= 16n);
    const rand = rng(7);
    for (const s of syms) {
      const seg = segs.find((p) => s.value >= p.vaddr && s.value < p.vaddr + p.filesz);
      if (!seg) continue;
      const fileOff = seg.offset + (s.value - seg.vaddr) + BigInt(1 + Math.floor(rand() * Number(s.size - 1n)));
      const m = maps.find((x) => fileOff >= x.offset && fileOff < x.offset + (x.end - x.start));
      if (m) addrs.push(m.start + (fileOff - m.offset));
    }
    return { exe, addrs, symbols: syms.length };
  } finally {
    elf.close();
  }
}

/**
 * 10,000 distinct stacks, leaf first. `pool`: how many distinct addresses the non-root frames are
 * drawn from (the root-side frames always come from a small shared pool, as real stacks share
 * their callers); the per-address cost (lookup, demangling) scales with it, the per-frame cost
 * (copying, rendering) does not.
 */
function buildStacks(addrs: bigint[], pool: number): { stacks: string[][]; distinct: number } {
  const rand = rng(42 + pool);
  const pick = () => addrs[Math.floor(rand() * addrs.length)]!;
  const shared = Array.from({ length: SHARED_POOL }, pick);
  const leafPool = pool >= addrs.length ? addrs : Array.from({ length: pool }, pick);
  const stacks: string[][] = [];
  const seen = new Set<string>();
  while (stacks.length < STACKS) {
    const leafFirst: bigint[] = [];
    for (let i = 0; i < DEPTH - SHARED_DEPTH; i++) leafFirst.push(leafPool[Math.floor(rand() * leafPool.length)]!);
    for (let i = 0; i < SHARED_DEPTH; i++) leafFirst.push(shared[Math.floor(rand() * SHARED_POOL)]!);
    const key = leafFirst.join(',');
    if (seen.has(key)) continue;
    seen.add(key);
    stacks.push(leafFirst.map((a) => `0x${a.toString(16)}`));
  }
  return { stacks, distinct: new Set(stacks.flat()).size };
}

interface ChildResult {
  snapshotMs: number;
  resolveMs: number;
  renderMs: number;
  totalMs: number;
  stacks: number;
  frames: number;
  unnamed: number;
  sample: string;
}

const BUSY_NODE = `
const zlib = require('zlib'), crypto = require('crypto');
const end = Date.now() + Number(process.argv[1]) * 1000;
let n = 0;
while (Date.now() < end) {
  const o = { a: [1, 2, 3, n], b: 'x'.repeat(200), c: { d: Math.random() } };
  const s = JSON.stringify(o);
  JSON.parse(s);
  crypto.createHash('sha256').update(s).digest('hex');
  zlib.deflateSync(Buffer.from(s));
  /(\\w+)\\s(\\d+)/.exec('abc ' + n);
  [5, 3, 1, 4, n].sort();
  n += new Date().toISOString().length;
}`;

async function sameProfile(seconds: number): Promise<{ ours: ToolRun; perf: ToolRun; reportMs: number; reportCpuS: number; reportRssMb: number; oursStacks: number }> {
  const w = Workload.start([process.execPath, '--perf-basic-prof', '-e', BUSY_NODE, String(seconds + 20)]);
  try {
    await sleep(300);
    const file = join(work, 'node-perf.data');
    let release!: () => void;
    const stopAll = new Promise<void>((r) => (release = r));
    const oursP = runTool({
      label: 'ours',
      argv: [cli, '-v', 'cpuprofile', '-p', String(w.pid), '-F', '999', '-f'],
      ready: { line: /cpuprofile: attached with/ },
      collectSec: 0,
      stopWhen: stopAll,
    });
    const perfP = runTool({
      label: 'perf',
      argv: ['perf', 'record', '-q', '-g', '-F', '999', '-p', String(w.pid), '-o', file],
      ready: { afterMs: 400 },
      collectSec: 0,
      stopWhen: stopAll,
    });
    await sleep(seconds * 1000 + 500);
    release();
    const [ours, perf] = await Promise.all([oursP, perfP]);
    const rep = timedSync(['perf', 'report', '-q', '--stdio', '-i', file]);
    rmSync(file, { force: true });
    rmSync(`${file}.old`, { force: true });
    return { ours, perf, reportMs: rep.wallMs, reportCpuS: rep.userS + rep.sysS, reportRssMb: rep.maxRssMb, oursStacks: ours.stdout.trim().split('\n').filter((l) => l).length };
  } finally {
    await w.stop();
    rmSync(`/tmp/perf-${w.pid}.map`, { force: true });
  }
}

export const SYMBOLIZE_METRICS: MetricDef[] = [
  { key: 'postMs', label: 'end of collection to output, ms', digits: 0, lowerIsBetter: true, headline: true },
  { key: 'cpuS', label: 'CPU, s (ours: the whole run; perf: perf report only)', digits: 3, lowerIsBetter: true },
  { key: 'rssMb', label: 'peak RSS, MB (perf: record or report)', digits: 1, lowerIsBetter: true },
];

interface Scenario {
  name: string;
  pool: number;
  distinct: number;
  runs: ReturnType<typeof timedSync>[];
  results: ChildResult[];
}

/** Typical: ~10,000 distinct addresses under the 10,000 stacks; worst: nearly every frame its own address. */
const SCENARIOS = [
  { name: 'typical', pool: 10_000 },
  { name: 'worst case', pool: Infinity },
];

export async function benchSymbolize(runs: number, profileRuns: number): Promise<SectionResult> {
  say(`symbolize: ${STACKS} distinct stacks of node's own functions, ${runs} fresh processes per shape`);
  const idle = Workload.start([process.execPath, '-e', 'setTimeout(() => {}, 120000)']);
  const scenarios: Scenario[] = [];
  let exe = '';
  let symbols = 0;
  try {
    await sleep(300);
    const fa = functionAddresses(idle.pid);
    exe = fa.exe;
    symbols = fa.symbols;
    const script = join(cliDir(), 'symbolize-child.js');
    for (const sc of SCENARIOS) {
      const { stacks, distinct } = buildStacks(fa.addrs, sc.pool);
      const file = join(work, `stacks-${scenarios.length}.json`);
      writeFileSync(file, JSON.stringify({ pid: idle.pid, stacks }));
      const scenario: Scenario = { name: sc.name, pool: sc.pool, distinct, runs: [], results: [] };
      // The worst case takes several seconds a run: one run fewer.
      const n = sc.pool === Infinity ? Math.max(1, runs - 1) : runs;
      for (let i = 0; i < n; i++) {
        const r = timedSync([process.execPath, script, file]);
        scenario.runs.push(r);
        try {
          scenario.results.push(JSON.parse(r.stdout.trim().split('\n').at(-1)!) as ChildResult);
        } catch {
          say(`symbolize child failed (status ${r.status})`);
        }
      }
      scenarios.push(scenario);
    }
  } finally {
    await idle.stop();
  }
  const sstat = (sc: Scenario, f: (c: ChildResult) => number): Stat | undefined => stat(sc.results.map(f));
  const typical = scenarios[0]!;
  const total = sstat(typical, (c) => c.totalMs);

  say(`symbolize: cpuprofile and perf record -g on the same busy node process, ${profileRuns} runs of 4 s at 999 Hz`);
  const same = [];
  for (let i = 0; i < profileRuns; i++) same.push(await sameProfile(4));
  const oursPost = stat(same.filter((x) => x.ours.ok && x.ours.stopNs).map((x) => msBetween(x.ours.stopNs!, x.ours.exitNs)));
  const perfPost = stat(same.filter((x) => x.perf.ok && x.perf.stopNs).map((x) => msBetween(x.perf.stopNs!, x.perf.exitNs) + x.reportMs));
  const perfRecordTail = stat(same.filter((x) => x.perf.ok && x.perf.stopNs).map((x) => msBetween(x.perf.stopNs!, x.perf.exitNs)));
  const tools: ToolResult[] = [
    {
      label: 'ebpf-otel cpuprofile',
      ours: true,
      metrics: { postMs: oursPost, cpuS: stat(same.map((x) => x.ours.userS + x.ours.sysS)), rssMb: stat(same.map((x) => x.ours.maxRssMb)) },
    },
    {
      label: 'perf record -g + perf report',
      ours: false,
      metrics: { postMs: perfPost, cpuS: stat(same.map((x) => x.reportCpuS)), rssMb: stat(same.map((x) => Math.max(x.perf.maxRssMb, x.reportRssMb))) },
    },
  ];
  const oursFail = same.find((x) => !x.ours.ok);
  if (oursFail) tools[0]!.error = oursFail.ours.error!;
  const row = (label: string, f: (sc: Scenario) => string) => `| ${label} | ${scenarios.map(f).join(' | ')} |`;
  const first = typical.results[0];
  return {
    id: 'symbolize',
    title: 'Symbolizing in a large binary (cpuprofile)',
    workload:
      `Synthetic: ${STACKS} distinct user stacks of depth ${DEPTH} (${SHARED_DEPTH} root-side frames from a shared pool of ${SHARED_POOL} addresses), ` +
      `made of addresses inside real functions of ${exe} (${symbols} function symbols of 16 bytes or more), mapped in a live node process. ` +
      `Two shapes: *typical*, the other frames drawn from 10,000 addresses; *worst case*, drawn from all functions (almost every frame a new address). ` +
      `A fresh Node process runs \`new Symbolizer()\`, \`snapshot(pid)\`, \`resolveStacks\` and \`renderFolded\` (dist/src, as cpuprofile -f does) and times each phase; ${runs} runs (worst case ${Math.max(1, runs - 1)}). ` +
      `Then, on the same input for both: cpuprofile -F 999 -f and perf record -g -F 999 profile one busy node process (JSON, sha256, zlib, regexp; --perf-basic-prof) ` +
      `at the same time for 4 s and are stopped together; ${profileRuns} runs. The table below is that comparison.`,
    metrics: SYMBOLIZE_METRICS,
    tools,
    extra: [
      [
        `| phase, ms (fresh process, median [min–max]) | ${scenarios.map((sc) => `${sc.name}: ${sc.distinct} distinct addresses`).join(' | ')} |`,
        `| --- | ${scenarios.map(() => '---').join(' | ')} |`,
        row('Symbolizer + snapshot (maps, ELF headers of node)', (sc) => fmt(sstat(sc, (c) => c.snapshotMs), 0)),
        row(`resolveStacks (${first?.frames ?? '?'} frames)`, (sc) => fmt(sstat(sc, (c) => c.resolveMs), 0)),
        row('renderFolded + write', (sc) => fmt(sstat(sc, (c) => c.renderMs), 0)),
        row('**total**', (sc) => `**${fmt(sstat(sc, (c) => c.totalMs), 0)}**`),
        row('whole process (node start, imports, reading the input, the above), wall', (sc) => fmt(stat(sc.runs.map((r) => r.wallMs)), 0)),
        row('peak RSS of that process, MB', (sc) => fmt(stat(sc.runs.map((r) => r.maxRssMb)), 1)),
        row('frames left unnamed', (sc) => (sc.results[0] ? `${sc.results[0].unnamed} of ${sc.results[0].frames}` : 'n/a')),
        '',
        `First folded line (typical): \`${(first?.sample ?? '').replace(/`/g, "'").slice(0, 200)}…\``,
        '',
        `Same busy node process: ebpf-otel printed ${fmt(stat(same.map((x) => x.oursStacks)), 0)} distinct folded stacks; ` +
          `perf record's own exit after SIGINT took ${fmt(perfRecordTail, 0)} ms and \`perf report --stdio\` ${fmt(stat(same.map((x) => x.reportMs)), 0)} ms.`,
      ].join('\n'),
    ],
    targets: [
      { what: 'symbolize 10,000 distinct stacks in a large binary (typical shape)', target: '< 1 s', measured: `${fmt(total, 0)} ms`, met: total ? total.median < 1000 : undefined },
      {
        what: '… worst case (every frame a new address)',
        target: '< 1 s',
        measured: `${fmt(sstat(scenarios[1]!, (c) => c.totalMs), 0)} ms`,
        met: scenarios[1]!.results.length ? sstat(scenarios[1]!, (c) => c.totalMs)!.median < 1000 : undefined,
      },
    ],
  };
}

/** dist/bench, where the compiled child script lives. */
function cliDir(): string {
  return join(cli, '..', '..', 'dist', 'bench');
}
