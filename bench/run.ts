// `npm run bench`: each ebpf-otel tool measured side by side with its peers on the same generated
// workload, in one run: cpuprofile vs perf record -g and bpftrace profile:hz (CPU burner), offcpu
// vs libbpf-tools offcputime (pipe ping-pong), biolatency vs libbpf-tools biolatency and bpftrace
// (direct-I/O storm), tcprtt vs libbpf-tools tcprtt and bpftrace (loopback TCP ping-pong),
// symbolizing 10,000 stacks in the node binary, and cpuprofile --unwind dwarf vs perf record
// --call-graph dwarf and --unwind fp (burner without frame pointers). Writes bench/results/latest.{md,svg,json} and a
// copy under bench/results/runs/<time>/. Not part of `npm test`: timings on a shared machine
// belong in a report, not in assertions.
//
// BENCH_REPS=n (default 3) sets the runs per measurement; BENCH_ONLY=cpuprofile,offcpu,... runs
// only those sections (the report then holds only them, so it is written under runs/<time>/ only
// and latest.* keeps the last full run); `--render runs/<time>/data.json` writes
// that run's report and chart again from its figures, without measuring.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { dirname, join } from 'node:path';
import { benchBiolatency } from './biolatency.js';
import { bareNodeMs, benchCpuprofile } from './cpuprofile.js';
import { cleanupAll, ensureDir, installPeers, loadAverage, repo, say, versionOf } from './lib.js';
import { benchOffcpu } from './offcpu.js';
import { markdown, ratioRows, svgChart, type RunMeta } from './report.js';
import type { SectionResult } from './report-model.js';
import { benchSymbolize } from './symbolize.js';
import { benchTcprtt } from './tcprtt.js';
import { benchUnwind } from './unwind.js';

/** `node dist/bench/run.js --render FILE.json`: writes FILE's report.md and chart.svg again from its data. */
function render(file: string): void {
  const { meta, sections } = JSON.parse(readFileSync(file, 'utf8')) as { meta: RunMeta; sections: SectionResult[] };
  const dir = dirname(file);
  writeFileSync(join(dir, 'chart.svg'), svgChart(ratioRows(sections), `ebpf-otel benchmark ${meta.date.slice(0, 10)}`));
  writeFileSync(join(dir, 'report.md'), markdown(meta, sections, 'chart.svg'));
  say(`rendered ${join(dir, 'report.md')}`);
}

async function main(): Promise<void> {
  const at = process.argv.indexOf('--render');
  if (at > 0) return render(process.argv[at + 1] ?? join(repo, 'bench', 'results', 'latest.json'));
  if (process.getuid?.() !== 0) throw new Error('the benchmark loads BPF programs: run it as root');
  // Users run the tools under sudo, which drops NODE_EXTRA_CA_CERTS; some sandboxes set it, and
  // then every Node start (ours, and the bare `node -e 0` reference) reads a certificate bundle
  // first: +30 ms measured here. Measure what a sudo user gets, for every tool alike.
  delete process.env.NODE_EXTRA_CA_CERTS;
  const started = Date.now();
  installPeers();
  const reps = Number(process.env.BENCH_REPS ?? 3);
  const only = process.env.BENCH_ONLY?.split(',');
  const want = (id: string) => !only || only.includes(id);
  const loadBefore = loadAverage();
  const bareNode = bareNodeMs(5);
  say(`load average ${loadBefore}; bare node -e 0: ${bareNode?.median.toFixed(1)} ms`);

  // The histogram tools' CPU target is a difference of a few ms in ~60 ms of start-up, which
  // varies by ±5-10 ms from run to run on this shared machine: their sections take at least 7 runs.
  const histogramReps = Math.max(reps, 7);
  const plan: [string, () => Promise<SectionResult>][] = [
    ['cpuprofile', () => benchCpuprofile(reps, 5)],
    ['symbolize', () => benchSymbolize(reps, 2)],
    ['offcpu', () => benchOffcpu(reps, 3)],
    ['biolatency', () => benchBiolatency(histogramReps, 3, 2)],
    ['tcprtt', () => benchTcprtt(histogramReps, 3, 2)],
    ['unwind', () => benchUnwind(reps)],
  ];
  const sections: SectionResult[] = [];
  const failures: string[] = [];
  for (const [id, f] of plan) {
    if (!want(id)) continue;
    const t0 = Date.now();
    try {
      sections.push(await f());
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      failures.push(`${id}: ${msg}`);
      say(`${id} failed: ${msg}`);
    }
    say(`${id}: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }

  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const meta: RunMeta = {
    date: new Date().toISOString(),
    machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`,
    kernel: release(),
    node: process.version,
    peers: [
      versionOf(['perf', '--version']),
      versionOf(['bpftrace', '--version']),
      `libbpf-tools ${versionOf(['dpkg-query', '-W', '-f', '${Version}', 'libbpf-tools'])}`,
    ],
    loadBefore,
    loadAfter: loadAverage(),
    bareNode,
    elapsedS: (Date.now() - started) / 1000,
    reps,
    // What reproduces this run: the sections and the repetitions, when not the defaults.
    command: [only ? `BENCH_ONLY=${only.join(',')}` : '', process.env.BENCH_REPS ? `BENCH_REPS=${reps}` : '', 'npm run bench'].filter((w) => w !== '').join(' '),
    failures,
  };
  const results = ensureDir(join(repo, 'bench', 'results'));
  const runDir = ensureDir(join(results, 'runs', stamp));
  const chart = svgChart(ratioRows(sections), `ebpf-otel benchmark ${meta.date.slice(0, 10)}`);
  writeFileSync(join(runDir, 'chart.svg'), chart);
  writeFileSync(join(runDir, 'report.md'), markdown(meta, sections, 'chart.svg'));
  writeFileSync(join(runDir, 'data.json'), `${JSON.stringify({ meta, sections }, null, 1)}\n`);
  if (only) {
    // A partial run would replace the last full report with a few sections: it stays in runs/.
    process.stdout.write(markdown(meta, sections, 'chart.svg'));
    say(`report: bench/results/runs/${stamp}/report.md (BENCH_ONLY: latest.* left as they were), ${meta.elapsedS.toFixed(0)} s`);
  } else {
    copyFileSync(join(runDir, 'chart.svg'), join(results, 'latest.svg'));
    copyFileSync(join(runDir, 'data.json'), join(results, 'latest.json'));
    const report = markdown(meta, sections, 'latest.svg');
    writeFileSync(join(results, 'latest.md'), report);
    process.stdout.write(report);
    say(`report: bench/results/latest.md (this run also in bench/results/runs/${stamp}/), ${meta.elapsedS.toFixed(0)} s`);
  }
  if (failures.length) process.exitCode = 1;
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    cleanupAll();
    process.exit(130);
  });
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(cleanupAll);
