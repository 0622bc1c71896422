// biolatency side by side with libbpf-tools `biolatency` and a bpftrace equivalent, under a
// direct-I/O storm on a loop device of the benchmark's own (so every tool can be told to watch
// exactly that disk and nothing else the shared machine does): startup, the storm's write rate
// while each tool traces, the tools' CPU and RSS (with an idle Node process as the floor every
// Node tool starts from), and the histograms of all three run at the same time.
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  buildWorkload,
  cli,
  fmt,
  onCleanup,
  partialFailures,
  say,
  series,
  work,
  Workload,
  hookStartup,
  cpuAtMostPeerPlusIdle,
  nodeIdleSpec,
  NODE_IDLE,
  type SeriesTool,
  type ToolSpec,
  standardMetrics,
} from './lib.js';
import { agreement, agreementTable, parseBcc, parseBpftrace, parseOurs, type AgreementRun } from './histograms.js';
import type { MetricDef, SectionResult, ToolResult } from './report-model.js';

export const OURS = 'ebpf-otel biolatency';
export const LIBBPF = 'libbpf-tools biolatency';
export const BPFTRACE = 'bpftrace (block tracepoints)';

const SPAN = 64 << 20;

/** A loop device over a file in the work directory; detached at exit. */
function loopDevice(): { dev: string; name: string; devt: number; backing: string } {
  // Backed by tmpfs when there is one: the loop device's own writes then never reach a real disk,
  // whose other traffic (the shared machine's) would make the storm's rate jitter.
  const shm = /^\S+ \/dev\/shm tmpfs /m.test(readFileSync('/proc/mounts', 'utf8'));
  const img = shm ? `/dev/shm/ebpf-otel-bench-${process.pid}.img` : join(work, 'loop.img');
  onCleanup(() => rmSync(img, { force: true }));
  writeFileSync(img, '');
  execFileSync('truncate', ['-s', String(SPAN), img]);
  const dev = execFileSync('losetup', ['-f', '--show', img], { encoding: 'utf8' }).trim();
  onCleanup(() => execFileSync('losetup', ['-d', dev], { stdio: 'ignore' }));
  const name = dev.replace(/^\/dev\//, '');
  const [major, minor] = readFileSync(`/sys/block/${name}/dev`, 'utf8').trim().split(':').map(Number);
  return { dev, name, devt: (major! << 20) | minor!, backing: shm ? 'tmpfs' : 'a file on the root file system' };
}

function tools(disk: { name: string; devt: number }, collectSec: number): SeriesTool[] {
  const specs: ToolSpec[] = [
    {
      label: OURS,
      argv: [cli, '-v', 'biolatency', '--disk', disk.name, '--json'],
      ready: { line: /Tracing block device I\/O/ },
      collectSec,
    },
    {
      label: LIBBPF,
      // Its "Tracing..." line goes to stdout, block-buffered on a pipe: stdbuf makes it a line.
      argv: ['stdbuf', '-oL', '/usr/sbin/biolatency', '-d', disk.name],
      ready: { line: /Tracing block device I\/O/ },
      collectSec,
    },
    {
      label: BPFTRACE,
      argv: [
        'bpftrace',
        '-e',
        `BEGIN { printf("Attached %llu\\n", nsecs); }
tracepoint:block:block_rq_issue /args->dev == ${disk.devt}/ { @start[args->dev, args->sector] = nsecs; }
tracepoint:block:block_rq_complete /@start[args->dev, args->sector]/ {
  @usecs = hist((nsecs - @start[args->dev, args->sector]) / 1000); delete(@start[args->dev, args->sector]); }
END { clear(@start); }`,
      ],
      ready: { stamped: /Attached (\d+)/ },
      collectSec,
    },
    nodeIdleSpec(collectSec),
  ];
  return specs.map((s) => ({ label: s.label, spec: () => s }));
}

export const HIST_METRICS = (eventUnit: string): MetricDef[] => [
  { key: 'startupMs', label: 'launch to attached ("Tracing..." line; bpftrace: BEGIN), ms', digits: 1, lowerIsBetter: true, headline: true },
  { key: 'tp', label: `workload ${eventUnit} while tracing (fraction of untraced)`, digits: 3, lowerIsBetter: false, headline: true },
  { key: 'tpcpu', label: `… per CPU-second of the workload's processes`, digits: 3, lowerIsBetter: false },
  { key: 'cpuS', label: 'tool CPU (user+sys), s', digits: 3, lowerIsBetter: true, headline: true },
  { key: 'userS', label: '… of which user, s', digits: 3, lowerIsBetter: true },
  { key: 'postMs', label: 'end of collection to output, ms', digits: 0, lowerIsBetter: true, headline: true },
  { key: 'rssMb', label: 'peak RSS, MB', digits: 1, lowerIsBetter: true, headline: true },
];

export async function benchBiolatency(reps: number, collectSec: number, agreementRuns: number): Promise<SectionResult> {
  const dio = buildWorkload('dio');
  const disk = loopDevice();
  say(`biolatency: direct-I/O storm on ${disk.dev}; ${reps} runs per tool of ${collectSec} s, interleaved`);
  const w = Workload.start([dio, disk.dev, String(SPAN), '600']);
  w.go();
  let byTool;
  try {
    byTool = await series(w, tools(disk, collectSec), reps);
  } finally {
    await w.stop();
  }

  say('biolatency: start-up with the whole fallback chain and with --hook tp_btf');
  const hooks = await hookStartup(['biolatency', '--disk', disk.name], 'tp_btf', /Tracing block device I\/O/, reps);

  say(`biolatency: ${agreementRuns} runs of all three tools at once on a bounded storm`);
  const agreements: AgreementRun[] = [];
  const writes = 20000;
  for (let i = 0; i < agreementRuns; i++) {
    const t = tools(disk, 0);
    agreements.push(
      await agreement(
        [
          { label: OURS, spec: t[0]!.spec(), parse: parseOurs },
          { label: LIBBPF, spec: t[1]!.spec(), parse: parseBcc },
          { label: BPFTRACE, spec: t[2]!.spec(), parse: parseBpftrace },
        ],
        async () => {
          const storm = Workload.start([dio, disk.dev, String(SPAN), '60', String(writes)]);
          storm.go();
          return storm.finished;
        },
      ),
    );
  }
  const agree = agreementTable(agreements, 'writes issued');

  const results: ToolResult[] = [OURS, LIBBPF, BPFTRACE, NODE_IDLE].map((label) => {
    const runs = byTool.get(label);
    const r: ToolResult = {
      label,
      ours: label === OURS,
      metrics: standardMetrics(runs),
    };
    const failed = runs?.find((m) => !m.run.ok);
    if (failed?.run.error && !runs?.some((m) => m.run.ok)) r.error = failed.run.error;
    else {
      const partial = partialFailures(runs);
      if (partial) r.notes = [partial];
    }
    return r;
  });
  const [ours] = results.map((r) => r.metrics);
  return {
    id: 'biolatency',
    title: 'biolatency vs libbpf-tools biolatency and bpftrace, direct-I/O storm',
    workload:
      `bench/workloads/dio.c: 4 KiB O_DIRECT writes, one at a time, to a 64 MiB loop device (${disk.dev}, backed by ${disk.backing}) the benchmark attaches, so each write is one block request ` +
      `and every tool is filtered to that disk (\`--disk\`, \`-d\`, a dev_t predicate for bpftrace) and sees nothing else of the shared machine. ` +
      `Each tool traces ${collectSec} s and is stopped with SIGINT; ${reps} runs each, interleaved. The idle node row is \`node -e\` waiting for SIGINT: Node's own floor.`,
    metrics: HIST_METRICS('writes per second'),
    tools: results,
    extra: [
      `ebpf-otel biolatency launch to attached with its fallback chain (tp_btf, first, counts block_rq_issue's arguments and attaches here): ${fmt(hooks.chain)} ms; ` +
        `with \`--hook tp_btf\` only: ${fmt(hooks.direct)} ms (${reps} runs each, no storm).`,
      `### Histograms of the three tools run at the same time\n\nAll three attached, then exactly ${writes} direct writes, then all stopped together. ` +
        `Buckets compared by power of two (each tool labels its log2 buckets a little differently).\n\n${agree.table}`,
    ],
    targets: [
      cpuAtMostPeerPlusIdle('biolatency CPU ≤ libbpf-tools + idle Node (issue 3)', byTool.get(OURS), byTool.get(LIBBPF), byTool.get(NODE_IDLE)),
      {
        what: 'biolatency histogram agrees with libbpf-tools and bpftrace (same time)',
        target: 'totals within 3 %',
        measured: `worst ${(agree.worstDiff * 100).toFixed(2)} %`,
        met: agreements.every((a) => a.results.every((r) => r.hist)) ? agree.worstDiff <= 0.03 : false,
      },
      { what: 'biolatency peak RSS', target: '≤ 70 MB', measured: `${fmt(ours!.rssMb)} MB`, met: ours!.rssMb ? ours!.rssMb.median <= 70 : undefined },
    ],
  };
}
