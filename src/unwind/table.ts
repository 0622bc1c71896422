// The unwind rules of one binary, found by address: .eh_frame through its .eh_frame_hdr binary
// search table (no scan of the whole section), .debug_frame (of the binary or of its separate
// debug file) where .eh_frame has no entry. Everything is read on first use and kept.
import type { ElfFile } from '../symbolize/elf.js';
import { CfiSection, fdeRows, rowFor, type Fde, type Row } from './cfi.js';
import { ByteReader, DW_EH_PE_datarel, DW_EH_PE_omit, DW_EH_PE_sdata4, encodedSize } from './reader.js';

/** A sorted index of FDEs: pc starts and the FDE offsets, for sections without a usable header. */
interface ScannedIndex {
  starts: Float64Array;
  ends: Float64Array;
  offsets: Float64Array;
}

/** .eh_frame_hdr's table, read in place: `count` entries of two sdata4 relative to the header. */
interface HdrIndex {
  data: Buffer;
  addr: number;
  tableOff: number;
  count: number;
}

function scan(section: CfiSection): ScannedIndex {
  const all: Fde[] = [];
  for (const fde of section.fdes()) if (fde.pcEnd > fde.pcBegin && Number.isFinite(fde.pcBegin)) all.push(fde);
  all.sort((a, b) => a.pcBegin - b.pcBegin);
  const starts = new Float64Array(all.length);
  const ends = new Float64Array(all.length);
  const offsets = new Float64Array(all.length);
  all.forEach((f, i) => {
    starts[i] = f.pcBegin;
    ends[i] = f.pcEnd;
    offsets[i] = f.offset;
  });
  return { starts, ends, offsets };
}

function findScanned(ix: ScannedIndex, pc: number): number | undefined {
  let lo = 0;
  let hi = ix.starts.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (ix.starts[mid]! <= pc) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  if (found < 0 || pc >= ix.ends[found]!) return undefined;
  return ix.offsets[found]!;
}

function parseHdr(data: Buffer, addr: number): HdrIndex | undefined {
  if (data.length < 4 || data[0] !== 1) return undefined;
  const ptrEnc = data[1]!;
  const countEnc = data[2]!;
  const tableEnc = data[3]!;
  if (countEnc === DW_EH_PE_omit || tableEnc !== (DW_EH_PE_datarel | DW_EH_PE_sdata4)) return undefined;
  try {
    const r = new ByteReader(data, 4, addr);
    if (ptrEnc !== DW_EH_PE_omit) r.pointer(ptrEnc, addr);
    const count = r.pointer(countEnc, addr);
    if (!Number.isSafeInteger(count) || count < 0 || r.pos + count * 8 > data.length) return undefined;
    if (encodedSize(tableEnc) !== 4) return undefined;
    return { data, addr, tableOff: r.pos, count };
  } catch {
    return undefined;
  }
}

/** Where a lookup found its rule. */
export interface CfiMatch {
  row: Row;
  fde: Fde;
  source: 'eh_frame' | 'debug_frame';
}

/** Lookup statistics, for --verbose and the design figures. */
export interface CfiTableStats {
  fdesParsed: number;
}

export class CfiTable {
  private eh: CfiSection | null | undefined;
  private hdr: HdrIndex | null | undefined;
  private ehScanned: ScannedIndex | undefined;
  private debugFrames: { section: CfiSection; index: ScannedIndex | undefined }[] | undefined;
  private readonly rows = new Map<string, Row[]>();
  readonly stats: CfiTableStats = { fdesParsed: 0 };

  /**
   * @param elf the mapped binary (its .eh_frame, .eh_frame_hdr, .debug_frame)
   * @param debug its separate debug file, searched for .debug_frame too
   */
  constructor(
    private readonly elf: ElfFile,
    private readonly debug: ElfFile | null = null,
  ) {}

  /** True when the binary has any call frame information at all. */
  get hasCfi(): boolean {
    return this.ehSection() !== null || this.debugSections().length > 0;
  }

  /** The rule row for file virtual address `pc`, or undefined when no FDE covers it. */
  lookup(pc: number): CfiMatch | undefined {
    const eh = this.ehSection();
    if (eh) {
      const off = this.ehFdeOffset(eh, pc);
      if (off !== undefined) {
        const m = this.match(eh, off, pc, 'eh_frame');
        if (m) return m;
      }
    }
    for (const d of this.debugSections()) {
      d.index ??= scan(d.section);
      const off = findScanned(d.index, pc);
      if (off !== undefined) {
        const m = this.match(d.section, off, pc, 'debug_frame');
        if (m) return m;
      }
    }
    return undefined;
  }

  /** Every FDE of .eh_frame (then .debug_frame), for the frame-pointer census and the tests. */
  *fdes(): Generator<Fde> {
    const eh = this.ehSection();
    if (eh) yield* eh.fdes();
    for (const d of this.debugSections()) yield* d.section.fdes();
  }

  /**
   * About `n` FDEs spread evenly over the binary (the frame-pointer census). Through
   * .eh_frame_hdr's table only the chosen FDEs are decoded: libc has thousands, and decoding them
   * all cost --unwind auto ~10 ms per binary. Without the table, every k-th of a full scan.
   */
  *sampledFdes(n: number): Generator<Fde> {
    const eh = this.ehSection();
    const h = eh ? this.hdrIndex() : null;
    if (eh && h) {
      const step = Math.max(1, Math.floor(h.count / n));
      for (let i = 0; i < h.count; i += step) {
        const fdeAddr = h.data.readInt32LE(h.tableOff + i * 8 + 4) + h.addr;
        const fde = eh.fdeAt(fdeAddr - eh.addr);
        if (fde) yield fde;
      }
      return;
    }
    const all = [...this.fdes()];
    const step = Math.max(1, Math.floor(all.length / n));
    for (let i = 0; i < all.length; i += step) yield all[i]!;
  }

  private match(section: CfiSection, offset: number, pc: number, source: CfiMatch['source']): CfiMatch | undefined {
    const fde = section.fdeAt(offset);
    if (!fde || pc < fde.pcBegin || pc >= fde.pcEnd) return undefined;
    const key = `${source}:${offset}`;
    let rows = this.rows.get(key);
    if (!rows) {
      rows = fdeRows(fde);
      this.stats.fdesParsed++;
      this.rows.set(key, rows);
    }
    const row = rowFor(rows, pc);
    return row ? { row, fde, source } : undefined;
  }

  private ehSection(): CfiSection | null {
    if (this.eh === undefined) {
      const s = this.elf.section('.eh_frame');
      const data = s ? this.elf.sectionContents('.eh_frame') : undefined;
      this.eh = s && data ? new CfiSection(data, Number(s.addr), 'eh_frame') : null;
    }
    return this.eh;
  }

  private hdrIndex(): HdrIndex | null {
    if (this.hdr === undefined) {
      const s = this.elf.section('.eh_frame_hdr');
      const data = s ? this.elf.sectionContents('.eh_frame_hdr') : undefined;
      this.hdr = (s && data && parseHdr(data, Number(s.addr))) || null;
    }
    return this.hdr;
  }

  private ehFdeOffset(eh: CfiSection, pc: number): number | undefined {
    const h = this.hdrIndex();
    if (!h) {
      this.ehScanned ??= scan(eh);
      return findScanned(this.ehScanned, pc);
    }
    // Last entry whose initial location is <= pc.
    let lo = 0;
    let hi = h.count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const loc = h.data.readInt32LE(h.tableOff + mid * 8) + h.addr;
      if (loc <= pc) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0) return undefined;
    const fdeAddr = h.data.readInt32LE(h.tableOff + found * 8 + 4) + h.addr;
    return fdeAddr - eh.addr;
  }

  private debugSections(): { section: CfiSection; index: ScannedIndex | undefined }[] {
    if (!this.debugFrames) {
      this.debugFrames = [];
      for (const f of [this.elf, this.debug]) {
        if (!f) continue;
        const s = f.section('.debug_frame');
        const data = s ? f.sectionContents('.debug_frame') : undefined;
        if (data) this.debugFrames.push({ section: new CfiSection(data, 0, 'debug_frame'), index: undefined });
      }
    }
    return this.debugFrames;
  }
}

const tables = new WeakMap<ElfFile, CfiTable>();

/** The table of a binary, built once per parsed ElfFile however many processes map it. */
export function cfiTableOf(elf: ElfFile, debug: ElfFile | null = null): CfiTable {
  let t = tables.get(elf);
  if (!t) {
    t = new CfiTable(elf, debug);
    tables.set(elf, t);
  }
  return t;
}
