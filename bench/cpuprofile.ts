// cpuprofile side by side with `perf record -g` and bpftrace `profile:hz`, on the CPU burner:
// launch to first sample, workload throughput at 49, 99 and 999 Hz, the tool's own CPU and peak
// RSS over 10 s at 99 Hz, and end of collection to output; and, for the two BPF profilers, the
// time their programs run in the kernel (kernel.bpf_stats_enabled), which the throughput measure
// is too noisy on a shared machine to resolve at 1 %.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  buildWorkload,
  cli,
  firstEventNs,
  fmt,
  monoNs,
  msBetween,
  over,
  partialFailures,
  runTool,
  say,
  series,
  stat,
  timedSync,
  work,
  Workload,
  nodeIdleSpec,
  NODE_IDLE,
  onCleanup,
  type Measured,
  type SeriesTool,
  type ToolSpec,
} from './lib.js';
import type { MetricDef, SectionResult, ToolResult } from './report-model.js';
import { execFileSync, spawnSync } from 'node:child_process';

export const HZ = [49, 99, 999] as const;
/** Seconds collected at each frequency; 99 Hz runs 10 s, the span of the own-CPU target. */
const SECONDS: Record<(typeof HZ)[number], number> = { 49: 3, 99: 10, 999: 3 };

const OURS = 'ebpf-otel cpuprofile';
const PERF = 'perf record -g';
const BPFTRACE = 'bpftrace profile:hz';

let perfFiles = 0;

function profileTools(pid: number, hz: number, seconds: number): SeriesTool[] {
  // At 999 Hz also a process that profiles nothing: the noise floor of the throughput measure.
  const reference: SeriesTool[] = hz === 999 ? [{ label: NODE_IDLE, spec: () => nodeIdleSpec(seconds) }] : [];
  return [
    ...reference,
    {
      label: OURS,
      spec: () => ({
        label: OURS,
        argv: [cli, '-v', 'cpuprofile', '-p', String(pid), '-F', String(hz), '-f'],
        ready: { line: /cpuprofile: attached with/ },
        collectSec: seconds,
      }),
    },
    {
      label: PERF,
      spec: () => ({
        label: PERF,
        argv: ['perf', 'record', '-q', '-g', '-F', String(hz), '-p', String(pid), '-o', join(work, `perf-${perfFiles}.data`)],
        // perf prints nothing once it samples; its first sample comes ~120 ms after launch (measured below).
        ready: { afterMs: 400 },
        collectSec: seconds - 0.4,
      }),
      after: () => {
        const file = join(work, `perf-${perfFiles++}.data`);
        const r = timedSync(['perf', 'report', '-q', '--stdio', '-i', file]);
        rmSync(file, { force: true });
        rmSync(`${file}.old`, { force: true });
        return r;
      },
    },
    {
      label: BPFTRACE,
      spec: () => ({
        label: BPFTRACE,
        argv: ['bpftrace', '-e', `BEGIN { printf("Attached %llu\\n", nsecs); } profile:hz:${hz} /pid == ${pid}/ { @[kstack, ustack, comm] = count(); }`],
        ready: { stamped: /Attached (\d+)/ },
        collectSec: seconds,
      }),
    },
  ];
}

/** Launch to first sample in ms, each tool timestamping its own first sample (CLOCK_MONOTONIC). */
async function firstSample(tool: string, pid: number): Promise<{ ms?: number; attachedMs?: number; error?: string }> {
  if (tool === OURS) {
    const run = await runTool({
      label: tool,
      argv: [cli, '-v', 'cpuprofile', '-p', String(pid), '-F', '999', '-f'],
      ready: { line: /cpuprofile: attached with/ },
      collectSec: 0.3,
    });
    const m = /first sample ([\d.]+) ms after launch/.exec(run.stderr);
    const abs = firstEventNs(run.stderr);
    const out: { ms?: number; attachedMs?: number; error?: string } = {};
    if (run.readyNs !== undefined) out.attachedMs = msBetween(run.launchNs, run.readyNs);
    if (abs !== undefined) out.ms = msBetween(run.launchNs, abs);
    else if (m) out.ms = Number(m[1]);
    else out.error = run.error ?? 'no first-sample line';
    return out;
  }
  if (tool === BPFTRACE) {
    const run = await runTool({
      label: tool,
      argv: ['bpftrace', '-e', `profile:hz:999 /pid == ${pid}/ { printf("first %llu\\n", nsecs); }`],
      ready: { stamped: /first (\d+)/ },
      collectSec: 0,
    });
    return run.readyNs !== undefined ? { ms: msBetween(run.launchNs, run.readyNs) } : { error: run.error ?? 'no sample' };
  }
  const file = join(work, 'first.data');
  const run = await runTool({
    label: tool,
    argv: ['perf', 'record', '-q', '-k', 'CLOCK_MONOTONIC', '-F', '999', '-p', String(pid), '-o', file],
    // Long enough to be sampling even on a loaded machine; the first sample's own time is what counts.
    ready: { afterMs: 1000 },
    collectSec: 0,
  });
  const s = spawnSync('perf', ['script', '-i', file, '-F', 'time'], { encoding: 'utf8' });
  rmSync(file, { force: true });
  const first = s.stdout.trim().split('\n')[0]?.trim().replace(/:$/, '');
  if (!first) return { error: run.error ?? 'no perf sample' };
  const [whole, frac = ''] = first.split('.');
  const ns = BigInt(whole!) * 1_000_000_000n + BigInt(frac.padEnd(9, '0').slice(0, 9));
  return { ms: msBetween(run.launchNs, ns) };
}

/** Frequencies at which the BPF profilers' in-kernel time is measured. */
const BPF_COST_HZ = [99, 999] as const;
const BPF_STATS = '/proc/sys/kernel/bpf_stats_enabled';

interface ProgCost {
  runs: number;
  ns: number;
}

/** perf_event programs loaded now, by id, with their run counts and times (bpftool; times need bpf_stats). */
function perfEventPrograms(): Map<number, ProgCost> {
  const list = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' })) as { id: number; type: string; run_cnt?: number; run_time_ns?: number }[];
  return new Map(list.filter((p) => p.type === 'perf_event').map((p) => [p.id, { runs: p.run_cnt ?? 0, ns: p.run_time_ns ?? 0 }]));
}

/**
 * How long a tool's perf_event programs run in the kernel while it profiles for `seconds` (the
 * rate is in `spec`): run time and count summed over the programs that were not loaded before it
 * started, read just before it is stopped. Every CPU's runs count (the tools sample every CPU and
 * filter by PID in the program), and so do runs between load and "attached", so the share of one
 * CPU is an upper bound of what the profiled process loses to the program. The sampling
 * interrupt itself, common to every sampling profiler (perf included), is not in it.
 */
async function bpfCost(spec: ToolSpec, seconds: number): Promise<{ usPerRun: number; sharePct: number } | undefined> {
  const before = new Set(perfEventPrograms().keys());
  let cost: ProgCost | undefined;
  let release!: () => void;
  const stopWhen = new Promise<void>((r) => (release = r));
  const run = await runTool({
    ...spec,
    collectSec: seconds + 30,
    stopWhen,
    onReady: () => {
      setTimeout(() => {
        cost = { runs: 0, ns: 0 };
        for (const [id, c] of perfEventPrograms()) {
          if (before.has(id)) continue;
          cost.runs += c.runs;
          cost.ns += c.ns;
        }
        release();
      }, seconds * 1000);
    },
  });
  if (!run.ok || !cost || cost.runs === 0) return undefined;
  return { usPerRun: cost.ns / cost.runs / 1000, sharePct: (cost.ns / (seconds * 1e9)) * 100 };
}

export const CPUPROFILE_METRICS: MetricDef[] = [
  { key: 'startupMs', label: 'launch to first sample, ms', digits: 1, lowerIsBetter: true, headline: true },
  ...HZ.map((hz) => ({ key: `tp${hz}`, label: `workload throughput at ${hz} Hz (fraction of unprofiled)`, digits: 3, lowerIsBetter: false, headline: hz === 999 })),
  ...HZ.map((hz) => ({ key: `tpcpu${hz}`, label: `… per workload CPU-second at ${hz} Hz`, digits: 3, lowerIsBetter: false })),
  { key: 'cpuS', label: 'tool CPU (user+sys), 10 s at 99 Hz, s', digits: 3, lowerIsBetter: true, headline: true },
  { key: 'userS', label: '… of which user, s', digits: 3, lowerIsBetter: true },
  { key: 'postMs', label: 'end of collection to output, ms (10 s at 99 Hz)', digits: 0, lowerIsBetter: true, headline: true },
  { key: 'rssMb', label: 'peak RSS, MB (10 s at 99 Hz)', digits: 1, lowerIsBetter: true, headline: true },
  ...BPF_COST_HZ.map((hz) => ({ key: `bpfUs${hz}`, label: `BPF program time per run at ${hz} Hz (bpf_stats), µs`, digits: 2, lowerIsBetter: true })),
  ...BPF_COST_HZ.map((hz) => ({ key: `bpfShare${hz}`, label: `BPF program time at ${hz} Hz, all CPUs, % of one CPU`, digits: 3, lowerIsBetter: true })),
];

export async function benchCpuprofile(reps: number, startupRuns: number): Promise<SectionResult> {
  const spin = buildWorkload('spin', ['-O0', '-fno-omit-frame-pointer']);
  const w = Workload.start([spin, '600']);
  w.go();
  const tools = [OURS, PERF, BPFTRACE];
  try {
    say(`cpuprofile: launch to first sample (${startupRuns} runs per tool, interleaved)`);
    const first = new Map<string, number[]>(tools.map((t) => [t, []]));
    const attached: number[] = [];
    const errors = new Map<string, string>();
    for (let i = 0; i < startupRuns; i++) {
      for (const t of tools) {
        const r = await firstSample(t, w.pid);
        if (r.ms !== undefined) first.get(t)!.push(r.ms);
        if (r.attachedMs !== undefined) attached.push(r.attachedMs);
        if (r.error) errors.set(t, r.error);
      }
    }

    const byHz = new Map<number, Map<string, Measured[]>>();
    for (const hz of HZ) {
      say(`cpuprofile: ${hz} Hz for ${SECONDS[hz]} s, ${reps} runs per tool, interleaved`);
      byHz.set(hz, await series(w, profileTools(w.pid, hz, SECONDS[hz]), reps));
    }

    say(`cpuprofile: BPF program time (kernel.bpf_stats_enabled) at ${BPF_COST_HZ.join(' and ')} Hz, ${reps} runs per BPF tool`);
    const previousStats = readFileSync(BPF_STATS, 'utf8').trim();
    const restoreStats = () => writeFileSync(BPF_STATS, previousStats);
    onCleanup(restoreStats);
    writeFileSync(BPF_STATS, '1');
    const bpfCosts = new Map<string, Map<number, { usPerRun: number; sharePct: number }[]>>();
    try {
      for (const hz of BPF_COST_HZ) {
        for (let i = 0; i < reps; i++) {
          for (const t of profileTools(w.pid, hz, 5).filter((x) => x.label === OURS || x.label === BPFTRACE)) {
            const c = await bpfCost(t.spec(), 5);
            if (!c) continue;
            const byHzCost = bpfCosts.get(t.label) ?? new Map<number, { usPerRun: number; sharePct: number }[]>();
            byHzCost.set(hz, [...(byHzCost.get(hz) ?? []), c]);
            bpfCosts.set(t.label, byHzCost);
          }
        }
      }
    } finally {
      restoreStats();
    }

    say('cpuprofile: start-up decomposition (node -e 0, ebpf-otel --version)');
    const bare: number[] = [];
    const version: number[] = [];
    for (let i = 0; i < startupRuns; i++) {
      bare.push(timedSync([process.execPath, '-e', '0']).wallMs);
      version.push(timedSync([cli, '--version']).wallMs);
    }

    const results: ToolResult[] = [...tools, NODE_IDLE].map((t) => {
      const at99 = byHz.get(99)!.get(t);
      const metrics: ToolResult['metrics'] = {
        startupMs: stat(first.get(t) ?? []),
        cpuS: over(at99, (m) => m.cpuS),
        userS: over(at99, (m) => m.userS),
        postMs: over(at99, (m) => m.postMs),
        rssMb: over(at99, (m) => m.rssMb),
      };
      for (const hz of HZ) {
        metrics[`tp${hz}`] = over(byHz.get(hz)!.get(t), (m) => m.throughput?.wall);
        metrics[`tpcpu${hz}`] = over(byHz.get(hz)!.get(t), (m) => m.throughput?.cpu);
      }
      for (const hz of BPF_COST_HZ) {
        const costs = bpfCosts.get(t)?.get(hz) ?? [];
        metrics[`bpfUs${hz}`] = stat(costs.map((c) => c.usPerRun));
        metrics[`bpfShare${hz}`] = stat(costs.map((c) => c.sharePct));
      }
      const r: ToolResult = { label: t, ours: t === OURS, metrics };
      const all = HZ.flatMap((hz) => byHz.get(hz)!.get(t) ?? []);
      if (all.length > 0 && !all.some((m) => m.run.ok)) r.error = all[0]!.run.error ?? 'failed';
      else if (errors.has(t) && !metrics.startupMs) r.error = errors.get(t)!;
      const partial = partialFailures(all);
      if (partial && !r.error) r.notes = [partial];
      return r;
    });

    const ours = results[0]!.metrics;
    const extra = [
      `ebpf-otel's own first-sample figure is measured from its process start (\`-v\` prints it; Node's clock starts after the exec of the node binary); ` +
        `from the benchmark's launch to its "attached" line: ${fmt(stat(attached))} ms. perf and bpftrace timestamp their first sample on CLOCK_MONOTONIC and are measured from the benchmark's launch.`,
      `For scale (wall, ${startupRuns} runs each, taken right after the first-sample runs): \`node -e 0\` ${fmt(stat(bare))} ms; ` +
        `\`ebpf-otel --version\` (Node plus loading the CLI's modules, no BPF at all) ${fmt(stat(version))} ms. ` +
        'What cpuprofile adds to that before its first sample: preflight, opening and loading the BPF object (libbpf parses the kernel BTF), attaching on every CPU, the target\'s maps snapshot.',
      'The idle-node row ("no profiler") is a Node process started and stopped like the profilers that does nothing: its throughput ratio is the noise of the measure.',
      'BPF program time: with `kernel.bpf_stats_enabled`, the run time and count of the perf_event programs each BPF profiler loaded, read by bpftool just before it is stopped (5 s at each rate, ' +
        `${reps} runs each; perf loads no BPF program). Every CPU's runs count, so the share of one CPU bounds from above what the profiled process loses to the program; the sampling ` +
        'interrupt that every sampling profiler (perf included) pays is not in it.',
    ];
    const tp999 = ours.tp999;
    return {
      id: 'cpuprofile',
      title: 'cpuprofile vs perf record -g and bpftrace profile:hz',
      workload:
        'bench/workloads/spin.c (the burner of test/workloads/burner.c: `hot_three` 3/4 and `hot_one` 1/4 of its CPU, -O0 with frame pointers), one busy thread, ' +
        'running throughout; each tool profiles it by PID with user and kernel stacks and is stopped with SIGINT (Ctrl-C). ' +
        `Throughput: rounds per second while the tool collects, divided by the rate in the 1 s gaps just before and after the tool's run. ` +
        `Collection: ${HZ.map((hz) => `${SECONDS[hz]} s at ${hz} Hz`).join(', ')}; perf's figures include \`perf report --stdio\` (its output step).`,
      metrics: CPUPROFILE_METRICS,
      tools: results,
      extra,
      targets: [
        { what: 'cpuprofile launch to first sample', target: '< 100 ms', measured: `${fmt(ours.startupMs)} ms`, met: ours.startupMs ? ours.startupMs.median < 100 : undefined },
        { what: 'cpuprofile peak RSS', target: '≤ 70 MB', measured: `${fmt(ours.rssMb)} MB`, met: ours.rssMb ? ours.rssMb.median <= 70 : undefined },
        { what: 'cpuprofile own CPU, 10 s at 99 Hz', target: '≤ 0.15 s', measured: `${fmt(ours.cpuS, 3)} s`, met: ours.cpuS ? ours.cpuS.median <= 0.15 : undefined },
        { what: 'workload throughput at 999 Hz', target: '≥ 0.99', measured: fmt(tp999, 3), met: tp999 ? tp999.median >= 0.99 : undefined },
        {
          what: '… what the BPF program takes at 999 Hz (bpf_stats, all CPUs)',
          target: '< 1 % of one CPU',
          measured: `${fmt(ours.bpfShare999, 3)} % (${fmt(ours.bpfUs999, 2)} µs per run)`,
          met: ours.bpfShare999 ? ours.bpfShare999.median < 1 : undefined,
        },
        {
          what: '… per workload CPU-second (blind to other processes)',
          target: '≥ 0.99',
          measured: fmt(ours.tpcpu999, 3),
          met: ours.tpcpu999 ? ours.tpcpu999.median >= 0.99 : undefined,
        },
        { what: 'overhead at 99 Hz (issue 2)', target: '< 1 % (≥ 0.99)', measured: fmt(ours.tp99, 3), met: ours.tp99 ? ours.tp99.median >= 0.99 : undefined },
        {
          what: '… of it, the BPF program\'s own time at 99 Hz (bpf_stats, all CPUs)',
          target: '< 1 % of one CPU',
          measured: `${fmt(ours.bpfShare99, 3)} % (${fmt(ours.bpfUs99, 2)} µs per run)`,
          met: ours.bpfShare99 ? ours.bpfShare99.median < 1 : undefined,
        },
        { what: 'attached (issue 2)', target: '< 300 ms', measured: `${fmt(ours.startupMs)} ms`, met: ours.startupMs ? ours.startupMs.median < 300 : undefined },
        { what: 'RSS (issue 2)', target: '< 150 MB', measured: `${fmt(ours.rssMb)} MB`, met: ours.rssMb ? ours.rssMb.median < 150 : undefined },
      ],
    };
  } finally {
    await w.stop();
  }
}

/** `node -e 0`, wall ms, median of n: the floor any Node tool starts from. */
export function bareNodeMs(n: number): ReturnType<typeof stat> {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = monoNs();
    spawnSync(process.execPath, ['-e', '0']);
    xs.push(msBetween(t0, monoNs()));
  }
  return stat(xs);
}
