// ASCII log2 histograms in the BCC layout (libbpf-tools trace_helpers.c `print_log2_hist`):
//
//      usecs               : count    distribution
//          0 -> 1          : 0        |                                        |
//          2 -> 3          : 4        |*****                                   |
//          4 -> 7          : 30       |****************************************|
//
// Rows are BCC slots (model slots 0 and 1 share the first row `0 -> 1`, model slot k >= 2 is row
// k - 1; see aggregate/log2.ts). The bar is 40 characters, scaled so the largest count fills it
// (stars = floor(count * 40 / max)). When the last non-empty row is above BCC slot 32 (values
// beyond 2^33), value columns widen from 10 to 20 characters, the header indent from 5 to 15,
// the unit field from 19 to 29 and the bar shrinks to 20, exactly as print_log2_hist does.
// Trailing empty rows are never printed; leading empty rows are trimmed unless `trimLeading`
// is false (libbpf-tools itself prints from 0).

import type { HistogramSet, Log2Histogram } from '../aggregate/model.js';
import { bccSlotBounds, firstNonZero, histogramAverage, lastNonZero, toBccSlots } from '../aggregate/log2.js';
import { sanitizeTerminal } from './sanitize.js';

/**
 * The bar's color as 16-color SGR codes (what chalk's cyan writes at level 1), written here: chalk
 * costs the histogram tools ~10 ms of start-up CPU to load for one color.
 */
function cyan(text: string): string {
  return `\x1b[36m${text}\x1b[39m`;
}

export interface HistogramOptions {
  /** Drop empty rows before the first non-empty one (default true). */
  trimLeading?: boolean;
  /** Color the bar (default false). */
  color?: boolean;
}

/**
 * Render BCC-slot counts (row i = [2^i, 2^(i+1)-1], row 0 = [0,1]) exactly as print_log2_hist.
 * Returns '' when every count is 0 (print_log2_hist prints nothing then), else lines each ending in `\n`.
 */
export function renderBccLog2(bccCounts: readonly number[], unitLabel: string, opts: HistogramOptions = {}): string {
  const idxMax = lastNonZero(bccCounts);
  if (idxMax < 0) return '';
  let valMax = 0;
  for (let i = 0; i <= idxMax; i++) valMax = Math.max(valMax, bccCounts[i] ?? 0);
  const narrow = idxMax <= 32;
  const width = narrow ? 10 : 20;
  const stars = narrow ? 40 : 20;
  let out = `${' '.repeat(narrow ? 5 : 15)}${sanitizeTerminal(unitLabel).padEnd(narrow ? 19 : 29)} : count    distribution\n`;
  const from = (opts.trimLeading ?? true) ? firstNonZero(bccCounts) : 0;
  for (let i = from; i <= idxMax; i++) {
    const b = bccSlotBounds(i);
    const val = bccCounts[i] ?? 0;
    const n = valMax > 0 ? Math.floor((Math.min(val, valMax) * stars) / valMax) : 0;
    const bar = (opts.color && n > 0 ? cyan('*'.repeat(n)) : '*'.repeat(n)) + ' '.repeat(stars - n);
    out += `${b.low.toString().padStart(width)} -> ${b.high.toString().padEnd(width)} : ${String(val).padEnd(8)} |${bar}|\n`;
  }
  return out;
}

/** Render one model histogram (see model.ts) in the BCC layout. '' when it is empty. */
export function renderLog2Histogram(h: Log2Histogram | readonly number[], unitLabel: string, opts: HistogramOptions = {}): string {
  const counts = Array.isArray(h) ? (h as readonly number[]) : (h as Log2Histogram).counts;
  return renderBccLog2(toBccSlots(counts), unitLabel, opts);
}

/** `avg = 123 usecs, total: 45678 usecs, count: 370` (BCC `-e`), integer-truncated like BCC's %ld. */
export function extendedSummary(h: Log2Histogram, unit: string): string {
  const avg = histogramAverage(h);
  if (h.sum === undefined || avg === undefined) return `count: ${h.total}`;
  return `avg = ${Math.trunc(avg)} ${unit}, total: ${Math.trunc(h.sum)} ${unit}, count: ${h.total}`;
}

export interface HistogramSetOptions extends HistogramOptions {
  /**
   * The line printed above each group's histogram. Default: `<groupBy> = <value>` (BCC's
   * `disk = sda`, `flags = Write`); pass e.g. `(h) => \`Remote Address: = ${h.labels.raddr}\``
   * for tcprtt's style. Its result is sanitized. Not used for a single ungrouped histogram.
   */
  groupHeader?: (h: Log2Histogram, set: HistogramSet) => string;
  /** After each histogram print `avg = ..., total: ..., count: ...` (BCC `-e`). */
  extended?: boolean;
  /** Print groups whose histogram is empty (header only). Default false. */
  showEmpty?: boolean;
}

/** Default group header: `groupBy = value`, or `k=v, k=v` for labels without a declared groupBy. */
export function defaultGroupHeader(h: Log2Histogram, set: HistogramSet): string {
  if (set.groupBy !== undefined) return `${set.groupBy} = ${h.labels[set.groupBy] ?? '[unknown]'}`;
  return Object.keys(h.labels)
    .sort()
    .map((k) => `${k}=${h.labels[k]}`)
    .join(', ');
}

/**
 * A whole set. Ungrouped (one histogram with no labels and no groupBy): the histogram alone.
 * Grouped: for each group, a blank line, the header line, then the histogram (BCC's
 * `print("\n%s = %s" % ...)`). With `extended`, each histogram is followed by a blank line and
 * the summary line. Groups are printed in the set's order (sort with `sortHistograms` first).
 */
export function renderHistogramSet(set: HistogramSet, opts: HistogramSetOptions = {}): string {
  const grouped =
    set.groupBy !== undefined || set.histograms.length > 1 || set.histograms.some((h) => Object.keys(h.labels).length > 0);
  const header = opts.groupHeader ?? defaultGroupHeader;
  let out = '';
  for (const h of set.histograms) {
    const body = renderLog2Histogram(h, set.unit, opts);
    if (body === '' && !opts.showEmpty) continue;
    if (grouped) out += `\n${sanitizeTerminal(header(h, set))}\n`;
    out += body;
    if (opts.extended && h.total > 0) out += `\n${extendedSummary(h, set.unit)}\n`;
  }
  return out;
}
