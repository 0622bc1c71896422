// offcpu side by side with libbpf-tools `offcputime` on a pipe ping-pong between two processes (a
// context-switch storm): the ping-pong's rate while each traces, the tool's CPU and peak RSS, and
// the time from the end of collection to the printed stacks (symbolize and print).
import { buildWorkload, cli, fmt, nodeIdleSpec, NODE_IDLE, over, partialFailures, say, series, Workload, type SeriesTool, type ToolSpec, standardMetrics } from './lib.js';
import type { MetricDef, SectionResult, ToolResult } from './report-model.js';

const OURS = 'ebpf-otel offcpu';
/** Our frame-pointer mode beside the default (auto: kernel walk by learned rules, copies until then). */
const OURS_FP = 'ebpf-otel offcpu --unwind fp';
const LIBBPF = 'libbpf-tools offcputime';

export const OFFCPU_METRICS: MetricDef[] = [
  { key: 'startupMs', label: 'launch to attached (`-v` "attached" line), ms', digits: 1, lowerIsBetter: true, headline: true },
  { key: 'tp', label: 'ping-pong round trips while tracing (fraction of untraced)', digits: 3, lowerIsBetter: false, headline: true },
  { key: 'tpcpu', label: '… per CPU-second of the two ping-pong processes', digits: 3, lowerIsBetter: false },
  { key: 'cpuS', label: 'tool CPU (user+sys), s', digits: 3, lowerIsBetter: true, headline: true },
  { key: 'userS', label: '… of which user, s', digits: 3, lowerIsBetter: true },
  { key: 'postMs', label: 'end of collection to output (symbolize + print), ms', digits: 0, lowerIsBetter: true, headline: true },
  { key: 'rssMb', label: 'peak RSS, MB', digits: 1, lowerIsBetter: true, headline: true },
];

export async function benchOffcpu(reps: number, collectSec: number): Promise<SectionResult> {
  const pipe = buildWorkload('pipe');
  say(`offcpu: pipe ping-pong; ${reps} runs per tool of ${collectSec} s, interleaved`);
  const w = Workload.start([pipe, '600']);
  w.go();
  const specs: ToolSpec[] = [
    {
      label: OURS,
      argv: [cli, '-v', 'offcpu', '-p', String(w.pid), '--stacks'],
      ready: { line: /offcpu: attached with/ },
      collectSec,
    },
    {
      label: OURS_FP,
      argv: [cli, '-v', 'offcpu', '-p', String(w.pid), '--stacks', '--unwind', 'fp'],
      ready: { line: /offcpu: attached with/ },
      collectSec,
    },
    {
      label: LIBBPF,
      argv: ['/usr/sbin/offcputime', '-p', String(w.pid)],
      // offcputime prints nothing once attached: assume it is by then (startup not measured).
      ready: { afterMs: 600 },
      collectSec,
    },
    nodeIdleSpec(collectSec),
  ];
  let byTool;
  try {
    byTool = await series(w, specs.map((s): SeriesTool => ({ label: s.label, spec: () => s })), reps);
  } finally {
    await w.stop();
  }
  const results: ToolResult[] = [OURS, LIBBPF, NODE_IDLE, OURS_FP].map((label) => {
    const runs = byTool.get(label);
    const r: ToolResult = {
      label,
      ours: label === OURS,
      metrics: { ...standardMetrics(runs), startupMs: label === LIBBPF ? undefined : over(runs, (m) => m.startupMs) },
    };
    if (runs && !runs.some((m) => m.run.ok)) r.error = runs[0]?.run.error ?? 'failed';
    else {
      const partial = partialFailures(runs);
      if (partial) r.notes = [partial];
    }
    return r;
  });
  const ours = results[0]!.metrics;
  const peer = results[1]!.metrics;
  return {
    id: 'offcpu',
    title: 'offcpu vs libbpf-tools offcputime, pipe ping-pong',
    workload:
      'bench/workloads/pipe.c: a one-byte ping-pong over two pipes between a process and its forked child, both pinned to one CPU, so each round trip blocks both once: two context switches (a context-switch storm). ' +
      `Both tools trace the parent's PID (\`-p\`; libbpf-tools takes one PID) with user and kernel stacks and print BCC's stack listing (ours: \`--stacks\`). ` +
      `Each traces ${collectSec} s, stopped with SIGINT; ${reps} runs each, interleaved. offcputime prints nothing once attached, so its launch-to-attached time is not measured ` +
      '(its throughput window starts 600 ms after launch).',
    metrics: OFFCPU_METRICS,
    tools: results,
    extra: [],
    targets: [
      {
        what: "offcpu's overhead on the ping-pong ≤ offcputime's (issue 4)",
        target: `throughput ≥ ${fmt(peer.tp, 3)}`,
        measured: fmt(ours.tp, 3),
        met: ours.tp && peer.tp ? ours.tp.median >= peer.tp.median : undefined,
      },
      { what: 'offcpu peak RSS', target: '≤ 70 MB', measured: `${fmt(ours.rssMb)} MB`, met: ours.rssMb ? ours.rssMb.median <= 70 : undefined },
    ],
  };
}
