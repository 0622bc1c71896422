// Parses `readelf --debug-dump=frames-interp` (GNU binutils): per FDE, its pc range and the rows
// readelf computed, as text cells (`rsp+8`, `c-16`, `u`, `exp`, ...). The oracle of the CFI tests.
import { spawnSync } from 'node:child_process';

export interface ReadelfFde {
  pcBegin: number;
  pcEnd: number;
  /** Column names: CFA, then registers (rbx, rbp, ..., ra). */
  columns: string[];
  rows: { loc: number; cells: Record<string, string> }[];
}

export function readelfFrames(path: string, section: 'eh' | 'debug' = 'eh'): ReadelfFde[] {
  // readelf exits 1 over warnings about other sections (libc's); its table is still complete.
  const r = spawnSync('readelf', ['-W', '--debug-dump=frames-interp', path], { encoding: 'utf8', maxBuffer: 512 << 20 });
  if (r.error || !r.stdout) throw new Error(`readelf failed on ${path}: ${r.error?.message ?? r.stderr}`);
  const text = r.stdout;
  const out: ReadelfFde[] = [];
  let inSection = false;
  let cur: ReadelfFde | undefined;
  for (const line of text.split('\n')) {
    const sec = /^Contents of the (\.eh_frame|\.debug_frame) section/.exec(line);
    if (sec) {
      inSection = (sec[1] === '.eh_frame') === (section === 'eh');
      cur = undefined;
      continue;
    }
    if (!inSection) continue;
    const fde = /^[0-9a-f]+ [0-9a-f]+ [0-9a-f]+ FDE cie=[0-9a-f]+ pc=([0-9a-f]+)\.\.([0-9a-f]+)/.exec(line);
    if (fde) {
      cur = { pcBegin: parseInt(fde[1]!, 16), pcEnd: parseInt(fde[2]!, 16), columns: [], rows: [] };
      out.push(cur);
      continue;
    }
    if (/ CIE | ZERO terminator/.test(line) || line.trim() === '') {
      if (/ CIE | ZERO terminator/.test(line)) cur = undefined;
      continue;
    }
    if (!cur) continue;
    // A register rule prints as `r15 (r15)`: one cell.
    const parts = line.trim().replace(/ \(\w+\)/g, '').split(/\s+/);
    if (parts[0] === 'LOC') {
      cur.columns = parts.slice(1);
      continue;
    }
    if (/^[0-9a-f]{16}$/.test(parts[0]!)) {
      const cells: Record<string, string> = {};
      cur.columns.forEach((c, i) => (cells[c] = parts[i + 1] ?? ''));
      cur.rows.push({ loc: parseInt(parts[0]!, 16), cells });
    }
  }
  return out;
}
