import { readFileSync } from 'node:fs';

/** Parses a kernel CPU list such as `0-3,5,7-8`. */
export function parseCpuList(text: string): number[] {
  const cpus: number[] = [];
  for (const part of text.trim().split(',')) {
    if (!part) continue;
    const [lo, hi] = part.split('-').map((s) => Number.parseInt(s, 10));
    if (lo === undefined || Number.isNaN(lo)) continue;
    for (let c = lo; c <= (hi ?? lo); c++) cpus.push(c);
  }
  return cpus;
}

/** CPUs a perf event can be opened on now. */
export function onlineCpus(): number[] {
  return parseCpuList(readFileSync('/sys/devices/system/cpu/online', 'utf8'));
}
