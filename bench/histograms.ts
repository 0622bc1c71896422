// Reading the log2 histograms each tool prints, to check that tools run at the same time agree.
// Buckets are compared by power of two: ebpf-otel's slots {0}, {1}, [2,3], [4,7], ...; BCC's
// `0 -> 1`, `2 -> 3`, `4 -> 7`, ...; bpftrace's [0], [1], [2, 4), [4, 8), ... all map to
// index floor(log2(low)) with 0 and 1 together in index 0.
import { lastLines, runTool, sleep, type ToolRun, type ToolSpec } from './lib.js';

export interface ParsedHistogram {
  total: number;
  /** Count per power-of-two index. */
  buckets: Map<number, number>;
}

const index = (low: number) => (low <= 1 ? 0 : Math.floor(Math.log2(low)));

function add(h: ParsedHistogram, low: number, count: number): void {
  h.total += count;
  const i = index(low);
  h.buckets.set(i, (h.buckets.get(i) ?? 0) + count);
}

/** ebpf-otel `--json`: the last JSON document printed, all its histograms summed. */
export function parseOurs(stdout: string): ParsedHistogram | undefined {
  const line = stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .at(-1);
  if (!line) return undefined;
  const doc = JSON.parse(line) as { histograms: { buckets: { low: number; count: number }[] }[] };
  const h: ParsedHistogram = { total: 0, buckets: new Map() };
  for (const hist of doc.histograms) for (const b of hist.buckets) add(h, b.low, b.count);
  return h;
}

/** BCC / libbpf-tools text: `     8 -> 15         : 4401     |****  |`. */
export function parseBcc(stdout: string): ParsedHistogram | undefined {
  const h: ParsedHistogram = { total: 0, buckets: new Map() };
  let seen = false;
  for (const m of stdout.matchAll(/^\s*(\d+) -> (\d+)\s*: (\d+)/gm)) {
    seen = true;
    add(h, Number(m[1]), Number(m[3]));
  }
  return seen ? h : undefined;
}

const SUFFIX: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** bpftrace hist(): `[4, 8)   123 |@@@@   |`, `[1K, 2K)`, `[0]`. */
export function parseBpftrace(stdout: string): ParsedHistogram | undefined {
  const h: ParsedHistogram = { total: 0, buckets: new Map() };
  let seen = false;
  for (const m of stdout.matchAll(/^\[(\d+)([KMGT]?)(?:, [^\]\)]+[\)\]])?\]?\s+(\d+) \|/gm)) {
    seen = true;
    add(h, Number(m[1]) * SUFFIX[m[2]!]!, Number(m[3]));
  }
  return seen ? h : undefined;
}

/** Shared mass of two distributions: 1 when the shares per bucket are identical, 0 when disjoint. */
export function overlap(a: ParsedHistogram, b: ParsedHistogram): number {
  if (a.total === 0 || b.total === 0) return NaN;
  let s = 0;
  for (const i of new Set([...a.buckets.keys(), ...b.buckets.keys()])) {
    s += Math.min((a.buckets.get(i) ?? 0) / a.total, (b.buckets.get(i) ?? 0) / b.total);
  }
  return s;
}

export interface AgreementTool {
  label: string;
  spec: ToolSpec;
  parse: (stdout: string) => ParsedHistogram | undefined;
}

export interface AgreementRun {
  /** Events the workload caused (writes issued, round trips). */
  issued: number;
  results: { label: string; run: ToolRun; hist?: ParsedHistogram }[];
}

/**
 * Starts every tool, waits until all are attached, runs a bounded workload, waits `tailMs` for the
 * last completions, then stops all tools at the same moment: each saw exactly the same events.
 */
export async function agreement(tools: AgreementTool[], workload: () => Promise<number>, tailMs = 300): Promise<AgreementRun> {
  let release!: () => void;
  const stopAll = new Promise<void>((r) => (release = r));
  let readyCount = 0;
  let allReady!: () => void;
  const ready = new Promise<void>((r) => (allReady = r));
  const runs = tools.map((t) =>
    runTool({
      ...t.spec,
      stopWhen: stopAll,
      onReady: () => {
        if (++readyCount === tools.length) allReady();
      },
    }),
  );
  await ready;
  await sleep(200);
  const issued = await workload();
  await sleep(tailMs);
  release();
  const done = await Promise.all(runs);
  return {
    issued,
    results: done.map((run, i) => {
      const hist = run.ok ? tools[i]!.parse(run.stdout) : undefined;
      const r: AgreementRun['results'][number] = { label: tools[i]!.label, run };
      if (hist) r.hist = hist;
      return r;
    }),
  };
}

/** Markdown table of an agreement run: totals, their difference from ebpf-otel's, the overlap. */
export function agreementTable(runs: AgreementRun[], issuedLabel: string): { table: string; worstDiff: number } {
  const rows: string[] = [
    `| run | ${issuedLabel} | tool | total count | vs ebpf-otel | distribution overlap with ebpf-otel |`,
    '| --- | --- | --- | --- | --- | --- |',
  ];
  let worstDiff = 0;
  runs.forEach((a, i) => {
    const ours = a.results[0]?.hist;
    for (const r of a.results) {
      if (!r.hist) {
        rows.push(`| ${i + 1} | ${a.issued} | ${r.label} | failed: ${r.run.error ?? lastLines(r.run.stderr, 2)} | | |`);
        continue;
      }
      const diff = ours && ours.total > 0 ? (r.hist.total - ours.total) / ours.total : NaN;
      if (r !== a.results[0] && Number.isFinite(diff)) worstDiff = Math.max(worstDiff, Math.abs(diff));
      const ov = ours && r !== a.results[0] ? overlap(ours, r.hist) : NaN;
      rows.push(
        `| ${i + 1} | ${a.issued} | ${r.label} | ${r.hist.total} | ${r === a.results[0] ? '—' : `${(diff * 100).toFixed(2)} %`} | ${Number.isFinite(ov) ? ov.toFixed(3) : '—'} |`,
      );
    }
  });
  return { table: rows.join('\n'), worstDiff };
}
