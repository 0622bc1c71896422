// Small, locale-independent number formatting shared by the text renderers.

/** Three significant digits, trailing zeros kept: 1.23, 45.6, 789, 1234. */
function sig3(v: number): string {
  const a = Math.abs(v);
  if (a >= 100) return Math.round(v).toString();
  if (a >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/**
 * Nanoseconds as a human duration with three significant digits: `1.23 s`, `45.6 ms`, `789 us`,
 * `512 ns`. Values that would round up to 1000 of a unit move to the next unit (`1.00 ms`, not `1000 us`).
 */
export function formatDurationNs(ns: number | bigint): string {
  const v = typeof ns === 'bigint' ? Number(ns) : ns;
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) < 999.5) return `${Math.round(v)} ns`;
  const units: Array<[number, string]> = [
    [1e3, 'us'],
    [1e6, 'ms'],
    [1e9, 's'],
  ];
  for (const [scale, name] of units) {
    const text = sig3(v / scale);
    if (name === 's' || Math.abs(Number(text)) < 1000) return `${text} ${name}`;
  }
  return `${v} ns`; // unreachable: the 's' unit always returns
}

/** A percentage with two decimals: `12.50%`. */
export function formatPercent(p: number): string {
  return `${p.toFixed(2)}%`;
}

/** An integer count as plain digits (no grouping, so output is easy to parse and locale-independent). */
export function formatCount(n: number): string {
  return Number.isInteger(n) ? n.toString() : n.toFixed(2);
}
