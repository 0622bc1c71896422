// /proc/kallsyms: kernel text symbols (and loaded modules' and BPF programs'), sorted for
// binary-search lookup. Without root (or with kptr_restrict) every address reads as zero; that is
// detected and reported rather than resolving every frame to the first symbol.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';

export interface KernelSymbol {
  name: string;
  address: bigint;
  /** Module name (`ext4`, `bpf`) for symbols outside the core kernel image. */
  module?: string;
  /** Distance of the looked-up address from `address`. */
  offset: bigint;
}


/** How far past the last symbol of a group (the kernel image, or one module) an address may lie. */
const LAST_SYMBOL_SPAN = 0x1000n;

export interface ModuleRange {
  name: string;
  start: bigint;
  size: bigint;
}

/** Parses /proc/modules (`name size refs deps state address ...`) into address ranges. */
export function parseModules(text: string): ModuleRange[] {
  const out: ModuleRange[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6 || !/^\d+$/.test(f[1]!) || !/^0x[0-9a-fA-F]+$/.test(f[5]!)) continue;
    const start = BigInt(f[5]!);
    if (start === 0n) continue;
    out.push({ name: f[0]!, start, size: BigInt(f[1]!) });
  }
  return out;
}

/**
 * Kernel text symbols, kept compact: /proc/kallsyms lists ~150k text symbols in ~5 MB, and a
 * profiler that parses them into objects and strings pays tens of MB of RSS and half a second.
 * Here the file stays one byte buffer; each symbol is an address split in two u32 halves (no
 * BigInt per symbol) and the offset of its name, decoded only when a lookup returns it.
 */
export class KernelSymbols {
  /** True when the file listed symbols but every address was zero (not root, or kptr_restrict). */
  readonly addressesHidden: boolean;
  private readonly text: Buffer;
  private readonly startHi: Uint32Array;
  private readonly startLo: Uint32Array;
  private readonly endHi: Uint32Array;
  private readonly endLo: Uint32Array;
  private readonly nameAt: Uint32Array;
  private readonly nameLength: Uint16Array;
  private readonly moduleOf: Int32Array;
  private readonly modules: string[];

  private constructor(text: Buffer, moduleRanges: readonly ModuleRange[]) {
    this.text = text;
    const moduleIds = new Map<string, number>();
    const modules: string[] = [];
    let capacity = 1024;
    let hi = new Uint32Array(capacity);
    let lo = new Uint32Array(capacity);
    let nameAt = new Uint32Array(capacity);
    let nameLength = new Uint16Array(capacity);
    let mods = new Int32Array(capacity);
    let n = 0;
    let listed = 0;
    const len = text.length;
    let pos = 0;
    while (pos < len) {
      let nl = text.indexOf(10, pos);
      if (nl < 0) nl = len;
      const line = pos;
      pos = nl + 1;
      // "ffffffff81000000 T _stext" or "ffffffffc0a01000 t name\t[module]"
      let i = line;
      let h = 0;
      let l = 0;
      let digits = 0;
      for (; i < nl; i++, digits++) {
        const c = text[i]!;
        const v = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
        if (v < 0) break;
        h = ((h << 4) | (l >>> 28)) >>> 0;
        l = ((l << 4) | v) >>> 0;
      }
      if (digits === 0 || digits > 16 || i + 3 > nl || text[i] !== 32 || text[i + 2] !== 32) continue;
      const type = text[i + 1];
      if (type !== 116 && type !== 84 && type !== 119 && type !== 87) continue; // t T w W
      let nameStart = i + 3;
      let nameEnd = nl;
      let mod = -1;
      let tab = nameStart;
      while (tab < nl && text[tab] !== 9) tab++;
      if (tab < nl) {
        nameEnd = tab;
        const open = text.indexOf(91, tab); // '['
        const close = open >= 0 && open < nl ? text.indexOf(93, open) : -1; // ']'
        if (close > open && close <= nl) {
          const modName = text.toString('latin1', open + 1, close);
          let id = moduleIds.get(modName);
          if (id === undefined) {
            id = modules.length;
            modules.push(modName);
            moduleIds.set(modName, id);
          }
          mod = id;
        }
      }
      while (nameStart < nameEnd && (text[nameStart] === 32 || text[nameStart] === 9)) nameStart++;
      while (nameEnd > nameStart && (text[nameEnd - 1] === 32 || text[nameEnd - 1] === 13)) nameEnd--;
      if (nameEnd === nameStart) continue;
      listed++;
      if (h === 0 && l === 0) continue;
      if (n === capacity) {
        capacity *= 2;
        hi = grow(hi, capacity);
        lo = grow(lo, capacity);
        nameAt = grow(nameAt, capacity);
        nameLength = grow(nameLength, capacity);
        mods = grow(mods, capacity);
      }
      hi[n] = h;
      lo[n] = l;
      nameAt[n] = nameStart;
      nameLength[n] = Math.min(nameEnd - nameStart, 0xffff);
      mods[n] = mod;
      n++;
    }
    this.addressesHidden = listed > 0 && n === 0;

    // Sort by address; file order breaks ties (the file is sorted but for modules, so this is cheap).
    const order = Array.from({ length: n }, (_, k) => k);
    order.sort((a, b) => hi[a]! - hi[b]! || lo[a]! - lo[b]! || a - b);
    // Aliases at one address (`_text`/`_stext`/`startup_64`): the first in file order, unless a
    // later one does not start with '_' where the kept one does.
    const kept: number[] = [];
    for (const k of order) {
      const last = kept[kept.length - 1];
      if (last !== undefined && hi[last] === hi[k] && lo[last] === lo[k]) {
        if (text[nameAt[last]!] === 95 && text[nameAt[k]!] !== 95) kept[kept.length - 1] = k;
        continue;
      }
      kept.push(k);
    }
    const m = kept.length;
    this.startHi = new Uint32Array(m);
    this.startLo = new Uint32Array(m);
    this.endHi = new Uint32Array(m);
    this.endLo = new Uint32Array(m);
    this.nameAt = new Uint32Array(m);
    this.nameLength = new Uint16Array(m);
    this.moduleOf = new Int32Array(m);
    this.modules = modules;
    for (let j = 0; j < m; j++) {
      const k = kept[j]!;
      this.startHi[j] = hi[k]!;
      this.startLo[j] = lo[k]!;
      this.nameAt[j] = nameAt[k]!;
      this.nameLength[j] = nameLength[k]!;
      this.moduleOf[j] = mods[k]!;
    }
    // Ends, computed once with BigInt over the kept symbols only.
    const moduleEnd = new Map<string, bigint>();
    for (const r of moduleRanges) moduleEnd.set(r.name, r.start + r.size);
    for (let j = 0; j < m; j++) {
      const addr = this.start(j);
      const mod = this.moduleOf[j]!;
      const nextAddr = j + 1 < m ? this.start(j + 1) : undefined;
      let end: bigint;
      if (nextAddr !== undefined && this.moduleOf[j + 1] === mod) end = nextAddr;
      else {
        // Last symbol of its group: bounded by the module's end when known, else a small span.
        const modEnd = mod >= 0 ? moduleEnd.get(modules[mod]!) : undefined;
        end = modEnd !== undefined && modEnd > addr ? modEnd : addr + LAST_SYMBOL_SPAN;
        if (nextAddr !== undefined && nextAddr < end) end = nextAddr;
      }
      this.endHi[j] = Number(end >> 32n);
      this.endLo[j] = Number(end & 0xffffffffn);
    }
  }

  private start(j: number): bigint {
    return (BigInt(this.startHi[j]!) << 32n) | BigInt(this.startLo[j]!);
  }

  private name(j: number): string {
    return this.text.toString('latin1', this.nameAt[j]!, this.nameAt[j]! + this.nameLength[j]!);
  }

  /** Parses kallsyms text (and optionally /proc/modules ranges to bound modules' last symbols). */
  static parse(text: string | Buffer, modules: readonly ModuleRange[] = []): KernelSymbols {
    return new KernelSymbols(typeof text === 'string' ? Buffer.from(text, 'latin1') : text, modules);
  }

  /** Reads /proc/kallsyms (and /proc/modules when present). Throws when kallsyms is unreadable. */
  static load(path = '/proc/kallsyms', modulesPath = '/proc/modules'): KernelSymbols {
    const text = readProcFile(path);
    let modules: ModuleRange[] = [];
    try {
      modules = parseModules(readFileSync(modulesPath, 'utf8'));
    } catch {
      // no modules file (no loadable module support): fine
    }
    return new KernelSymbols(text, modules);
  }

  /** Number of distinct text symbol addresses. */
  get size(): number {
    return this.startHi.length;
  }

  /** The symbol covering `addr`, or null (also always null when addresses are hidden). */
  lookup(addr: bigint): KernelSymbol | null {
    const ah = Number(addr >> 32n);
    const al = Number(addr & 0xffffffffn);
    const sh = this.startHi;
    const sl = this.startLo;
    let lo = 0;
    let hi = sh.length - 1;
    let i = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (sh[mid]! < ah || (sh[mid] === ah && sl[mid]! <= al)) {
        i = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (i < 0) return null;
    const eh = this.endHi[i]!;
    if (ah > eh || (ah === eh && al >= this.endLo[i]!)) return null;
    const start = this.start(i);
    const sym: KernelSymbol = { name: this.name(i), address: start, offset: addr - start };
    const m = this.moduleOf[i]!;
    if (m >= 0) sym.module = this.modules[m]!;
    return sym;
  }

  /** Address of the first symbol named `name` (for tests and diagnostics). */
  addressOf(name: string): bigint | undefined {
    for (let j = 0; j < this.startHi.length; j++) if (this.name(j) === name) return this.start(j);
    return undefined;
  }
}

function grow<T extends Uint32Array | Uint16Array | Int32Array>(a: T, capacity: number): T {
  const b = new (a.constructor as new (n: number) => T)(capacity);
  b.set(a);
  return b;
}

/**
 * Reads a procfs file of unknown size (stat says 0) into one buffer sized to the content.
 * readFileSync would grow its buffer by doubling, costing several times the file in RSS.
 */
function readProcFile(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    // procfs hands out about a page per read: read straight into one buffer, doubling it when full.
    let buf = Buffer.allocUnsafe(8 << 20);
    let total = 0;
    for (;;) {
      if (total === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, total);
        buf = bigger;
      }
      const n = readSync(fd, buf, total, buf.length - total, null);
      if (n <= 0) break;
      total += n;
    }
    return buf.subarray(0, total);
  } finally {
    closeSync(fd);
  }
}
