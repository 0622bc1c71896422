// tcprtt side by side with libbpf-tools `tcprtt` (which cannot attach on kernels without kprobes
// and fentry: run anyway, its error recorded) and a bpftrace equivalent on the tcp_probe
// tracepoint, under a loopback ping-pong of small messages.
import {
  buildWorkload,
  cli,
  fmt,
  partialFailures,
  runTool,
  say,
  series,
  Workload,
  hookStartup,
  cpuAtMostPeerPlusIdle,
  nodeIdleSpec,
  NODE_IDLE,
  type SeriesTool,
  type ToolSpec,
  standardMetrics,
} from './lib.js';
import { agreement, agreementTable, parseBpftrace, parseOurs, type AgreementRun } from './histograms.js';
import { HIST_METRICS } from './biolatency.js';
import type { SectionResult, ToolResult } from './report-model.js';

const OURS = 'ebpf-otel tcprtt';
const LIBBPF = 'libbpf-tools tcprtt';
const BPFTRACE = 'bpftrace (tcp_probe)';
/** Issue 3's CPU yardstick where libbpf-tools tcprtt cannot attach: its sibling biolatency, run
 * like a tool under the same load (it traces block I/O, of which the ping-pong makes none). */
const LIBBPF_BIO = 'libbpf-tools biolatency (CPU reference)';

function specs(port: number, collectSec: number): ToolSpec[] {
  return [
    {
      label: OURS,
      argv: [cli, '-v', 'tcprtt', '-p', String(port), '--json'],
      ready: { line: /Tracing TCP RTT/ },
      collectSec,
    },
    {
      label: BPFTRACE,
      // tcp_probe fires in tcp_rcv_established; sport is the receiving socket's local port and
      // srtt is srtt_us >> 3, the value tcprtt reads.
      argv: [
        'bpftrace',
        '-e',
        `BEGIN { printf("Attached %llu\\n", nsecs); } tracepoint:tcp:tcp_probe /args->sport == ${port}/ { @usecs = hist(args->srtt); }`,
      ],
      ready: { stamped: /Attached (\d+)/ },
      collectSec,
    },
    nodeIdleSpec(collectSec),
    {
      label: LIBBPF_BIO,
      argv: ['stdbuf', '-oL', '/usr/sbin/biolatency'],
      ready: { line: /Tracing block device I\/O/ },
      collectSec,
    },
  ];
}

async function port(w: Workload): Promise<number> {
  await w.onInfo();
  const m = /^port (\d+)/.exec(w.info[0] ?? '');
  if (!m) throw new Error(`tcp workload printed no port: ${w.info.join(' ')}`);
  return Number(m[1]);
}

export async function benchTcprtt(reps: number, collectSec: number, agreementRuns: number): Promise<SectionResult> {
  const tcp = buildWorkload('tcp');

  say('tcprtt: libbpf-tools tcprtt, once (it needs kprobes or fentry)');
  const w0 = Workload.start([tcp, '20']);
  const p0 = await port(w0);
  w0.go();
  const libbpf = await runTool({
    label: LIBBPF,
    argv: ['stdbuf', '-oL', '/usr/sbin/tcprtt', '-p', String(p0)],
    ready: { line: /Tracing TCP RTT|Tracing/ },
    collectSec,
    readyTimeoutMs: 15_000,
  });
  await w0.stop();

  say(`tcprtt: loopback ping-pong; ${reps} runs per tool of ${collectSec} s, interleaved`);
  const w = Workload.start([tcp, '600']);
  const p = await port(w);
  w.go();
  let byTool;
  try {
    const tools: SeriesTool[] = specs(p, collectSec).map((s) => ({ label: s.label, spec: () => s }));
    byTool = await series(w, tools, reps);
  } finally {
    await w.stop();
  }

  say('tcprtt: start-up with the whole fallback chain and with --hook tp_btf');
  const hooks = await hookStartup(['tcprtt', '-d', '5'], 'tp_btf', /Tracing TCP RTT/, reps);

  say(`tcprtt: ${agreementRuns} runs of ebpf-otel and bpftrace at once on a bounded ping-pong`);
  const agreements: AgreementRun[] = [];
  const trips = 20000;
  for (let i = 0; i < agreementRuns; i++) {
    const bounded = Workload.start([tcp, '60', String(trips)]);
    const bp = await port(bounded);
    const [ours, bt] = specs(bp, 0);
    agreements.push(
      await agreement(
        [
          { label: OURS, spec: ours!, parse: parseOurs },
          { label: BPFTRACE, spec: bt!, parse: parseBpftrace },
        ],
        async () => {
          bounded.go();
          return bounded.finished;
        },
      ),
    );
  }
  const agree = agreementTable(agreements, 'round trips');

  const results: ToolResult[] = [OURS, LIBBPF, BPFTRACE, NODE_IDLE, LIBBPF_BIO].map((label) => {
    if (label === LIBBPF) {
      const r: ToolResult = { label, ours: false, metrics: {} };
      if (!libbpf.ok) r.error = libbpf.error ?? 'failed';
      else r.metrics = { startupMs: undefined, cpuS: undefined };
      return r;
    }
    const runs = byTool.get(label);
    const partial = partialFailures(runs);
    return {
      label,
      ours: label === OURS,
      ...(partial ? { notes: [partial] } : {}),
      metrics: standardMetrics(runs),
    };
  });
  const ours = results[0]!.metrics;
  return {
    id: 'tcprtt',
    title: 'tcprtt vs libbpf-tools tcprtt and bpftrace, loopback ping-pong',
    workload:
      'bench/workloads/tcp.c: a client sends 32 bytes over loopback TCP (TCP_NODELAY), a forked server echoes them, round trip after round trip, both pinned to one CPU. ' +
      `Every tool is filtered to the server's port (\`-p PORT\`; bpftrace \`args->sport == PORT\` on tcp:tcp_probe). Each traces ${collectSec} s, stopped with SIGINT; ${reps} runs each, interleaved.`,
    metrics: HIST_METRICS('round trips per second'),
    tools: results,
    extra: [
      `ebpf-otel tcprtt launch to attached with its fallback chain (tp_btf comes first and attaches here): ${fmt(hooks.chain)} ms; ` +
        `with \`--hook tp_btf\` only: ${fmt(hooks.direct)} ms (${reps} runs each, no traffic).`,
      `### Histograms of ebpf-otel and bpftrace run at the same time\n\nBoth attached, then exactly ${trips} round trips, then both stopped together. ` +
        `Both count every segment the server's socket receives (tcp_probe, inside tcp_rcv_established), so the totals can exceed the round trips (pure ACKs).\n\n${agree.table}`,
    ],
    targets: [
      { what: 'tcprtt attaches where libbpf-tools tcprtt cannot', target: 'ours works', measured: ours.tp ? 'works' : 'failed', met: ours.tp !== undefined },
      cpuAtMostPeerPlusIdle(
        'tcprtt CPU ≤ libbpf-tools biolatency + idle Node (issue 3; libbpf-tools tcprtt cannot attach here)',
        byTool.get(OURS),
        byTool.get(LIBBPF_BIO),
        byTool.get(NODE_IDLE),
      ),
      {
        what: 'tcprtt histogram agrees with bpftrace (same time)',
        target: 'totals within 3 %',
        measured: `worst ${(agree.worstDiff * 100).toFixed(2)} %`,
        met: agreements.every((a) => a.results.every((r) => r.hist)) ? agree.worstDiff <= 0.03 : false,
      },
      { what: 'tcprtt peak RSS', target: '≤ 70 MB', measured: `${fmt(ours.rssMb)} MB`, met: ours.rssMb ? ours.rssMb.median <= 70 : undefined },
    ],
  };
}
