// The report: markdown tables (targets, ratios against each peer, one section per tool) and an SVG
// bar chart of the ratios, written by the benchmark itself (no dependencies).
import type { Stat } from './lib.js';
import { fmt } from './lib.js';
import type { MetricDef, SectionResult, ToolResult } from './report-model.js';

export interface RunMeta {
  date: string;
  machine: string;
  kernel: string;
  node: string;
  peers: string[];
  loadBefore: string;
  loadAfter: string;
  bareNode: Stat | undefined;
  elapsedS: number;
  reps: number;
  command: string;
  failures: string[];
}

export interface RatioRow {
  section: string;
  metric: MetricDef;
  peer: string;
  ours: number;
  theirs: number;
  /** ebpf-otel ÷ peer, on medians. */
  ratio: number;
  /** True when that ratio favours ebpf-otel. */
  better: boolean;
}

function ratioOf(metric: MetricDef, ours: Stat | undefined, theirs: Stat | undefined): { ratio: number; better: boolean } | undefined {
  if (!ours || !theirs || theirs.median === 0) return undefined;
  const ratio = ours.median / theirs.median;
  return { ratio, better: metric.lowerIsBetter ? ratio <= 1 : ratio >= 1 };
}

/** Peers: every tool of a section but ours and the idle-node reference. */
const peersOf = (s: SectionResult): ToolResult[] => s.tools.filter((t) => !t.ours && !/reference/.test(t.label));

export function ratioRows(sections: SectionResult[]): RatioRow[] {
  const rows: RatioRow[] = [];
  for (const s of sections) {
    const ours = s.tools.find((t) => t.ours);
    if (!ours) continue;
    for (const m of s.metrics.filter((x) => x.headline)) {
      for (const p of peersOf(s)) {
        const r = ratioOf(m, ours.metrics[m.key], p.metrics[m.key]);
        if (r) rows.push({ section: s.id, metric: m, peer: p.label, ours: ours.metrics[m.key]!.median, theirs: p.metrics[m.key]!.median, ...r });
      }
    }
  }
  return rows;
}

const esc = (s: string) => s.replace(/\|/g, '\\|');

function sectionTable(s: SectionResult): string {
  const peers = peersOf(s);
  const head = ['metric (median [min–max])', ...s.tools.map((t) => t.label), ...peers.map((p) => `ebpf-otel ÷ ${p.label}`)];
  const lines = [`| ${head.map(esc).join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`];
  const ours = s.tools.find((t) => t.ours);
  for (const m of s.metrics) {
    const cells = s.tools.map((t) => (t.error ? 'fails' : fmt(t.metrics[m.key], m.digits)));
    const ratios = peers.map((p) => {
      const r = ratioOf(m, ours?.metrics[m.key], p.metrics[m.key]);
      return r ? `${r.ratio.toFixed(m.lowerIsBetter ? 2 : 3)}${r.better ? '' : ' ⚠'}` : '—';
    });
    lines.push(`| ${esc(m.label)} | ${[...cells, ...ratios].join(' | ')} |`);
  }
  const errors = s.tools.filter((t) => t.error).map((t) => `- **${t.label}** could not run here: \`${t.error!.replace(/`/g, "'").slice(0, 400)}\``);
  for (const t of s.tools) for (const n of t.notes ?? []) errors.push(`- **${t.label}**: ${n.replace(/`/g, "'").slice(0, 400)}`);
  return [lines.join('\n'), ...(errors.length ? ['', ...errors] : [])].join('\n');
}

/** What the reference row (a process that traces nothing) says about the throughput measure's noise. */
function noiseNote(s: SectionResult): string | undefined {
  const ref = s.tools.find((t) => /reference/.test(t.label));
  if (!ref) return undefined;
  const parts: string[] = [];
  for (const m of s.metrics.filter((x) => x.key.startsWith('tp'))) {
    const st = ref.metrics[m.key];
    if (!st || st.n < 2) continue;
    const spread = Math.max(Math.abs(st.max - 1), Math.abs(st.min - 1));
    parts.push(`${m.label.replace(/^… /, '')}: ${fmt(st, 3)}${spread > 0.1 ? ' — **too unsteady here for that row to rank the tools**' : ''}`);
  }
  if (parts.length === 0) return undefined;
  return `Noise floor of the throughput rows: the reference, which traces nothing, measured ${parts.join('; ')}. Differences within that spread are noise.`;
}

export function markdown(meta: RunMeta, sections: SectionResult[], chartFile: string): string {
  const out: string[] = [];
  const rows = ratioRows(sections);
  out.push('# ebpf-otel benchmark: side by side with perf, bpftrace and libbpf-tools');
  out.push('');
  out.push(`Run ${meta.date} on ${meta.machine}, kernel ${meta.kernel}, Node ${meta.node}, ${meta.elapsedS.toFixed(0)} s in all. Peers: ${meta.peers.join('; ')}.`);
  out.push('');
  out.push(`Reproduce: \`${meta.command}\` (as root). Each figure is the median of ${meta.reps} runs unless stated, with [min–max] beside it.`);
  out.push('');
  const bare = meta.bareNode ? `${fmt(meta.bareNode)} ms` : 'n/a';
  const paired =
    'throughput ratios are paired (each tool run is compared with the gaps just before and after it) so slow drifts cancel, and each section\'s idle-node row (a process that traces nothing, run like the tools) shows the noise floor of its throughput rows: differences within that spread are noise.';
  const where = `load average ${meta.loadBefore} before, ${meta.loadAfter} after (the benchmark's own workloads included); bare \`node -e 0\` took ${bare} here against 43 ms measured earlier on an idle machine`;
  out.push(
    machineWasBusy(meta)
      ? `**The machine was shared and noisy** (${where}): start-up times and CPU figures are inflated by that, ${paired}`
      : `The machine was quiet when the run started (${where}); ${paired}`,
  );
  if (meta.failures.length) {
    out.push('');
    out.push(`Sections that failed: ${meta.failures.join('; ')}`);
  }
  out.push('');
  out.push('## Targets');
  out.push('');
  out.push('| what | target | measured | met |');
  out.push('| --- | --- | --- | --- |');
  for (const s of sections) {
    for (const t of s.targets) out.push(`| ${esc(t.what)} | ${esc(t.target)} | ${esc(t.measured)} | ${t.met === undefined ? 'n/a' : t.met ? 'yes' : '**no**'} |`);
  }
  out.push('');
  out.push('## ebpf-otel ÷ peer (medians)');
  out.push('');
  out.push('Times, CPU and memory: below 1 is better for ebpf-otel. Throughput (fraction of the unprofiled rate): above 1 is better. ⚠ marks a ratio in the peer\'s favour.');
  out.push('');
  out.push(`![ebpf-otel ÷ peer](${chartFile})`);
  out.push('');
  out.push('| tool | metric | peer | ebpf-otel | peer | ratio |');
  out.push('| --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    const d = r.metric.digits;
    out.push(`| ${r.section} | ${esc(r.metric.label)} | ${esc(r.peer)} | ${r.ours.toFixed(d)} | ${r.theirs.toFixed(d)} | ${r.ratio.toFixed(r.metric.lowerIsBetter ? 2 : 3)}${r.better ? '' : ' ⚠'} |`);
  }
  for (const s of sections) {
    out.push('');
    out.push(`## ${s.title}`);
    out.push('');
    out.push(s.workload);
    out.push('');
    out.push(sectionTable(s));
    const noise = noiseNote(s);
    if (noise) {
      out.push('');
      out.push(noise);
    }
    for (const e of s.extra) {
      out.push('');
      out.push(e);
    }
  }
  out.push('');
  out.push('## How it is measured');
  out.push('');
  out.push(
    [
      '- Every tool runs as a user runs it, in its own process group under a timing wrapper (bench/workloads/rusage.c: what GNU time\'s `%e %U %S %M` reports, to the microsecond where GNU time truncates CPU times to hundredths): its user and system CPU and peak RSS, children included, so perf\'s figures add `perf report`.',
      '- Collection ends with SIGINT, as Ctrl-C (the wrapper ignores it; the tool prints what it collected). "End of collection to output" is from that signal to the tool\'s exit with its output written.',
      '- Launch to attached: from the benchmark\'s spawn to the tool\'s own "Tracing…"/"attached" line (read as it arrives on the pipe; libbpf-tools under `stdbuf -oL`, as it prints to stdout), or to a CLOCK_MONOTONIC timestamp the tool prints itself (bpftrace: `nsecs` in BEGIN, or at the first sample; perf: the first sample\'s time from `perf record -k CLOCK_MONOTONIC` + `perf script`).',
      '- Workloads (bench/workloads/*.c, built by the benchmark, bounded in time, pinned to the last CPU with taskset) print `monotonic-ns units cpu-ns` every 50 ms. Throughput while a tool collects = units per second from 250 ms after it attached to its stop, divided by the mean rate in the 1 s gaps before its launch and after its exit. ' +
        'The "per CPU-second" rows divide the units by the CPU time of the workload\'s processes instead of wall time (ping-pongs: both partners, from /proc/PID/schedstat): blind to time other processes of the shared machine take from the workload\'s CPU, it still counts what the BPF programs cost in the workload\'s context (sampling interrupts, tracepoints, stack walks), so it is the steadier of the two here. The direct-I/O storm\'s loop-device worker is not in it.',
      '- Tools are interleaved (A, B, C, A, B, C, ...) so that the machine\'s load drifts hit all alike.',
      '- Histogram agreement: all tools attached at once, then a bounded workload (a fixed number of writes or round trips), then all stopped with one signal; totals and per-power-of-two shares compared.',
    ].join('\n'),
  );
  out.push('');
  return out.join('\n');
}

function xml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const SHORT: Record<string, string> = {
  startupMs: 'start-up',
  cpuS: 'own CPU',
  postMs: 'end → output',
  rssMb: 'peak RSS',
  tp: 'workload throughput',
  tp999: 'throughput @999 Hz',
};

/** Horizontal bars of ebpf-otel ÷ peer on a log scale centred on 1, green when it favours us. */
export function svgChart(rows: RatioRow[], title: string): string {
  const rowH = 22;
  const labelW = 450;
  const plotW = 380;
  const valueW = 80;
  const top = 64;
  const width = labelW + plotW + valueW + 20;
  const height = top + rows.length * rowH + 40;
  const maxLog = 6; // 1/64 .. 64
  const x = (r: number) => {
    const l = Math.max(-maxLog, Math.min(maxLog, Math.log2(r)));
    return labelW + plotW / 2 + (l / maxLog) * (plotW / 2);
  };
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  parts.push(`<text x="10" y="20" font-size="15" font-weight="bold">${xml(title)}</text>`);
  parts.push(
    `<text x="10" y="38" fill="#555">ebpf-otel ÷ peer, medians, log scale. Green: favours ebpf-otel (lower time/CPU/RSS, higher throughput). Red: favours the peer.</text>`,
  );
  for (const t of [-6, -4, -2, 0, 2, 4, 6]) {
    const px = x(2 ** t);
    parts.push(`<line x1="${px}" y1="${top - 6}" x2="${px}" y2="${top + rows.length * rowH}" stroke="${t === 0 ? '#333' : '#ddd'}" stroke-width="${t === 0 ? 1.5 : 1}"/>`);
    const label = t === 0 ? '1' : t > 0 ? `${2 ** t}` : `1/${2 ** -t}`;
    parts.push(`<text x="${px}" y="${top - 10}" text-anchor="middle" fill="#555">${label}</text>`);
  }
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    const name = `${r.section} · ${SHORT[r.metric.key] ?? r.metric.key} vs ${r.peer}`;
    parts.push(`<text x="${labelW - 8}" y="${y + 15}" text-anchor="end">${xml(name)}</text>`);
    const x0 = x(1);
    const x1 = x(r.ratio);
    const w = Math.max(1.5, Math.abs(x1 - x0));
    parts.push(`<rect x="${Math.min(x0, x1)}" y="${y + 4}" width="${w}" height="${rowH - 8}" fill="${r.better ? '#2e9d5b' : '#d0453b'}"/>`);
    parts.push(`<text x="${labelW + plotW + 8}" y="${y + 15}">${r.ratio >= 10 || r.ratio < 0.1 ? r.ratio.toPrecision(2) : r.ratio.toFixed(r.metric.lowerIsBetter ? 2 : 3)}</text>`);
  });
  parts.push(`<text x="${labelW}" y="${height - 14}" fill="#555">← smaller than the peer</text>`);
  parts.push(`<text x="${labelW + plotW}" y="${height - 14}" text-anchor="end" fill="#555">larger than the peer →</text>`);
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/**
 * Busy: something else ran before the benchmark started (1-minute load above 0.5 on a machine
 * whose benchmark then adds its own), or Node itself started 25 % slower than on the idle machine.
 */
export function machineWasBusy(meta: Pick<RunMeta, 'loadBefore' | 'bareNode'>): boolean {
  const load = Number(meta.loadBefore.split(' ')[0]);
  return !(load <= 0.5) || (meta.bareNode !== undefined && meta.bareNode.median > 43 * 1.25);
}
