// /proc/kallsyms: kernel text symbols (and loaded modules' and BPF programs'), sorted for
// binary-search lookup. Without root (or with kptr_restrict) every address reads as zero; that is
// detected and reported rather than resolving every frame to the first symbol.
//
// Reading the file is the expensive part (the kernel formats its 120k-200k lines at every read:
// 70-125 ms of system time), so the parsed table of the running kernel is cached per boot
// (kallsyms-cache.ts) and later runs only read that back.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import {
  cacheDirFromEnv,
  cacheKey,
  modulesIdentity,
  readCache,
  sameKey,
  writeCache,
  type CachedTable,
  type SymbolTable,
} from './kallsyms-cache.js';

export interface KernelSymbol {
  name: string;
  address: bigint;
  /** Module name (`ext4`, `bpf`) for symbols outside the core kernel image. */
  module?: string;
  /** Distance of the looked-up address from `address`. */
  offset: bigint;
}

/** How far past the last symbol of a group (the kernel image, or one module) an address may lie. */
const LAST_SYMBOL_SPAN = 0x1000;

export const PROC_KALLSYMS = '/proc/kallsyms';
export const PROC_MODULES = '/proc/modules';
export const PROC_BOOT_ID = '/proc/sys/kernel/random/boot_id';
export const PROC_KPTR_RESTRICT = '/proc/sys/kernel/kptr_restrict';

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

/** Where KernelSymbols.loadFrom reads from; tests point these at their own files. */
export interface KallsymsSources {
  kallsymsPath: string;
  modulesPath: string;
  bootIdPath: string;
  kptrRestrictPath: string;
  /** Cache directory; null: no cache. */
  cacheDir: string | null;
  /** Reads the whole kallsyms file. Default: one procfs-friendly read loop. Tests count calls. */
  readKallsyms?: (path: string) => Buffer;
}

/**
 * Kernel text symbols, kept compact: /proc/kallsyms lists ~150k text symbols in ~5 MB, and a
 * profiler that parses them into objects and strings pays tens of MB of RSS and half a second.
 * Here each symbol is an address split in two u32 halves (no BigInt per symbol) and the offset
 * of its name in one buffer of name bytes, decoded only when a lookup returns it.
 *
 * A table read from the cache holds only the core kernel's and /proc/modules' modules' symbols,
 * and answers only inside `covered`; any other address (a BPF program, an ftrace trampoline, a
 * module loaded since) is answered by reading /proc/kallsyms in full, once.
 */
export class KernelSymbols {
  /** True when the file listed symbols but every address was zero (not root, or kptr_restrict). */
  readonly addressesHidden: boolean;
  private readonly t: SymbolTable;
  /** Ranges this table answers for (cache only); null: it answers for everything. */
  private readonly covered: Uint32Array | null;
  private readonly readFull: (() => KernelSymbols) | null;
  private full: KernelSymbols | null | undefined;

  private constructor(table: SymbolTable, hidden: boolean, covered: Uint32Array | null = null, readFull: (() => KernelSymbols) | null = null) {
    this.t = table;
    this.addressesHidden = hidden;
    this.covered = covered;
    this.readFull = readFull;
  }

  /** Parses kallsyms text (and optionally /proc/modules ranges to bound modules' last symbols). */
  static parse(text: string | Buffer, modules: readonly ModuleRange[] = []): KernelSymbols {
    const parsed = parseKallsyms(typeof text === 'string' ? Buffer.from(text, 'latin1') : text, modules);
    return new KernelSymbols(parsed.table, parsed.hidden);
  }

  /**
   * Reads /proc/kallsyms (and /proc/modules when present). Throws when kallsyms is unreadable.
   * Uses the boot-scoped cache (`EBPF_OTEL_CACHE_DIR`, default /run/ebpf-otel) only for the real
   * /proc files: the cache key (boot id, /proc/modules, kptr_restrict) describes the running
   * kernel and nothing else, so a fake file (tests, another root) has no key that could tell a
   * stale table from a current one; those are read and parsed every time.
   */
  static load(path = PROC_KALLSYMS, modulesPath = PROC_MODULES): KernelSymbols {
    const real = path === PROC_KALLSYMS && modulesPath === PROC_MODULES;
    return KernelSymbols.loadFrom({
      kallsymsPath: path,
      modulesPath,
      bootIdPath: PROC_BOOT_ID,
      kptrRestrictPath: PROC_KPTR_RESTRICT,
      cacheDir: real ? cacheDirFromEnv() : null,
    });
  }

  /** `load` with every source explicit (tests). */
  static loadFrom(src: KallsymsSources): KernelSymbols {
    const read = src.readKallsyms ?? readProcFile;
    const modulesText = readText(src.modulesPath);
    const modules = modulesText === null ? [] : parseModules(modulesText);
    const parseNow = (mods: readonly ModuleRange[]): KernelSymbols => KernelSymbols.parse(read(src.kallsymsPath), mods);
    if (src.cacheDir === null) return parseNow(modules);

    const identity = modulesIdentity(modulesText);
    const key = cacheKey(readText(src.bootIdPath), identity.hash, readText(src.kptrRestrictPath));
    if (key !== null) {
      const hit = readCache(src.cacheDir, key);
      if (hit !== null) {
        // The fallback re-reads /proc/modules too: it describes the kernel as it is then.
        const readFull = (): KernelSymbols => parseNow(parseModules(readText(src.modulesPath) ?? ''));
        return new KernelSymbols(hit.table, false, hit.covered, readFull);
      }
    }
    const text = read(src.kallsymsPath);
    const ks = KernelSymbols.parse(text, modules);
    // Never cache hidden (all-zero) addresses, nor a table taken while a module was loading or
    // unloading (its init symbols come and go without changing the key), nor one whose key
    // changed while kallsyms was being read (the table could mix two module sets).
    if (key !== null && !ks.addressesHidden && identity.allLive) {
      const after = cacheKey(readText(src.bootIdPath), modulesIdentity(readText(src.modulesPath)).hash, readText(src.kptrRestrictPath));
      const cached = after !== null && sameKey(key, after) ? ks.cacheable(modules, text) : null;
      if (cached !== null) writeCache(src.cacheDir, key, cached);
    }
    return ks;
  }

  /** Number of distinct text symbol addresses (in a cached table: core and modules only). */
  get size(): number {
    return this.t.startHi.length;
  }

  /** The symbol covering `addr`, or null (also always null when addresses are hidden). */
  lookup(addr: bigint): KernelSymbol | null {
    const ah = Number(addr >> 32n);
    const al = Number(addr & 0xffffffffn);
    if (this.covered !== null && !inRanges(this.covered, ah, al)) return this.fullTable()?.lookup(addr) ?? null;
    const t = this.t;
    const sh = t.startHi;
    const sl = t.startLo;
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
    const eh = t.endHi[i]!;
    if (ah > eh || (ah === eh && al >= t.endLo[i]!)) return null;
    const start = this.start(i);
    const sym: KernelSymbol = { name: this.name(i), address: start, offset: addr - start };
    const m = t.moduleOf[i]!;
    if (m >= 0) sym.module = t.modules[m]!;
    return sym;
  }

  /** Address of the first symbol named `name` (for tests and diagnostics). */
  addressOf(name: string): bigint | undefined {
    for (let j = 0; j < this.t.startHi.length; j++) if (this.name(j) === name) return this.start(j);
    return this.covered !== null ? this.fullTable()?.addressOf(name) : undefined;
  }

  private start(j: number): bigint {
    return (BigInt(this.t.startHi[j]!) << 32n) | BigInt(this.t.startLo[j]!);
  }

  private name(j: number): string {
    const at = this.t.nameAt[j]!;
    return this.t.names.toString('latin1', at, at + this.t.nameLength[j]!);
  }

  /** The whole of /proc/kallsyms, read on the first address the cached table does not cover. */
  private fullTable(): KernelSymbols | null {
    if (this.full === undefined) {
      try {
        this.full = this.readFull!();
      } catch {
        // kallsyms unreadable now: such addresses stay unresolved, as they would without a cache
        this.full = null;
      }
    }
    return this.full;
  }

  /**
   * The part of this (full) table that stays true for the rest of the boot while /proc/modules
   * stays the same, with the ranges it answers for; null when there is none to trust.
   *
   * - The core kernel: the image is one fixed mapping; BPF programs, trampolines and kprobe slots
   *   are allocated in the module area, never inside it. Its range runs from its first symbol to
   *   the end of its last one, as the full parse computes it, and is trusted only if all of its
   *   symbols lie between the image's text markers (_text/_stext to _etext/_einittext): a core
   *   symbol elsewhere would stretch the range over memory where transient code may appear.
   * - Each module listed in /proc/modules whose symbols are contiguous in address order and
   *   inside its listed range, from its first symbol to the start of its last one. Not the whole
   *   listed range: since Linux 6.4 a module's size there adds up its text, data and rodata,
   *   which are separate allocations, so the span after its text may hold a BPF program loaded
   *   later; nor the last symbol's tail, whose end the full parse may cut at such a program.
   * - Nothing else ([bpf], [__builtin__ftrace], [__builtin__kprobes], ...): those come and go.
   */
  private cacheable(listed: readonly ModuleRange[], text: Buffer): CachedTable | null {
    const t = this.t;
    const n = t.startHi.length;
    const image = imageTextSpan(text);
    if (image === null) return null;
    const groups = t.modules.length + 1; // group g = moduleOf + 1; 0 is the core kernel
    const first = new Int32Array(groups).fill(-1);
    const last = new Int32Array(groups);
    const count = new Int32Array(groups);
    for (let j = 0; j < n; j++) {
      const g = t.moduleOf[j]! + 1;
      if (first[g] === -1) first[g] = j;
      last[g] = j;
      count[g]!++;
    }
    const contiguous = (g: number): boolean => first[g] !== -1 && last[g]! - first[g]! + 1 === count[g];
    if (!contiguous(0)) return null;
    if (this.start(first[0]!) < image.start || this.start(last[0]!) > image.end) return null;

    const listedByName = new Map<string, ModuleRange>();
    for (const r of listed) listedByName.set(r.name, r);
    const keep = new Uint8Array(groups);
    keep[0] = 1;
    for (let g = 1; g < groups; g++) {
      const r = listedByName.get(t.modules[g - 1]!);
      if (r === undefined || !contiguous(g) || count[g]! < 2) continue;
      if (this.start(first[g]!) < r.start || this.start(last[g]!) >= r.start + r.size) continue;
      keep[g] = 1;
    }

    // Kept groups are runs in address order: copy them, renumbering modules and packing names.
    const runs = [...keep.keys()].filter((g) => keep[g] === 1).sort((a, b) => first[a]! - first[b]!);
    let m = 0;
    for (const g of runs) m += count[g]!;
    const { startHi, startLo, endHi, endLo, nameAt, nameLength, names } = t;
    const out: SymbolTable = {
      startHi: new Uint32Array(m),
      startLo: new Uint32Array(m),
      endHi: new Uint32Array(m),
      endLo: new Uint32Array(m),
      nameAt: new Uint32Array(m),
      nameLength: new Uint16Array(m),
      moduleOf: new Int32Array(m),
      // Packed names are never longer than the text they come from; trimmed below.
      names: Buffer.allocUnsafe(names.length),
      modules: [],
    };
    const covered = new Uint32Array(4 * runs.length);
    let o = 0;
    let at = 0;
    let r = 0;
    for (const g of runs) {
      const mod = g === 0 ? -1 : out.modules.push(t.modules[g - 1]!) - 1;
      const a = first[g]!;
      const b = last[g]! + 1;
      covered[r] = startHi[a]!;
      covered[r + 1] = startLo[a]!;
      covered[r + 2] = g === 0 ? endHi[b - 1]! : startHi[b - 1]!;
      covered[r + 3] = g === 0 ? endLo[b - 1]! : startLo[b - 1]!;
      r += 4;
      out.startHi.set(startHi.subarray(a, b), o);
      out.startLo.set(startLo.subarray(a, b), o);
      out.endHi.set(endHi.subarray(a, b), o);
      out.endLo.set(endLo.subarray(a, b), o);
      out.nameLength.set(nameLength.subarray(a, b), o);
      out.moduleOf.fill(mod, o, o + b - a);
      at = packNames(names, nameAt, nameLength, a, b, out.names, out.nameAt, o, at);
      o += b - a;
    }
    out.names = out.names.subarray(0, at);
    return { table: out, covered };
  }
}

/**
 * Copies the names of symbols [a, b) into `out` from `at` on, recording where each went; returns
 * the next free offset. A small function of its own so V8 optimizes it early: it moves ~3 MB.
 */
function packNames(
  names: Uint8Array,
  nameAt: Uint32Array,
  nameLength: Uint16Array,
  a: number,
  b: number,
  out: Uint8Array,
  outNameAt: Uint32Array,
  o: number,
  at: number,
): number {
  for (let j = a; j < b; j++, o++) {
    const length = nameLength[j]!;
    const from = nameAt[j]!;
    outNameAt[o] = at;
    for (let q = 0; q < length; q++) out[at + q] = names[from + q]!;
    at += length;
  }
  return at;
}

/**
 * The kernel image's text, from the markers every kallsyms lists for it (scripts/kallsyms keeps
 * core text symbols to _stext.._etext and _sinittext.._einittext): the lowest of _text/_stext to
 * the highest of _etext/_einittext. Found in the raw text (the alias rule may have dropped
 * `_stext` from the table); module and BPF lines end in `\t[...]`, so only core lines match.
 * null when a marker is missing.
 */
function imageTextSpan(text: Buffer): { start: bigint; end: bigint } | null {
  const markerAddress = (name: string): bigint | undefined => {
    // Global ('T') in every kernel seen; local only as a fallback, since a miss scans all 5 MB.
    for (const type of ['T', 't']) {
      const at = text.indexOf(` ${type} ${name}\n`);
      if (at < 0) continue;
      const line = text.lastIndexOf(10, at) + 1;
      const hex = text.toString('latin1', line, at);
      if (!/^[0-9a-fA-F]{1,16}$/.test(hex)) continue;
      const a = BigInt('0x' + hex);
      if (a !== 0n) return a;
    }
    return undefined;
  };
  const starts = [markerAddress('_text'), markerAddress('_stext')].filter((a): a is bigint => a !== undefined);
  const ends = [markerAddress('_etext'), markerAddress('_einittext')].filter((a): a is bigint => a !== undefined);
  if (starts.length === 0 || ends.length === 0) return null;
  const start = starts.reduce((a, b) => (a < b ? a : b));
  const end = ends.reduce((a, b) => (a > b ? a : b));
  return start <= end ? { start, end } : null;
}

/** True when [ah:al] lies in one of the [start, end) quadruples of `ranges` (ascending). */
function inRanges(ranges: Uint32Array, ah: number, al: number): boolean {
  let lo = 0;
  let hi = ranges.length / 4 - 1;
  let i = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const sh = ranges[4 * mid]!;
    if (sh < ah || (sh === ah && ranges[4 * mid + 1]! <= al)) {
      i = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  if (i < 0) return false;
  const eh = ranges[4 * i + 2]!;
  return ah < eh || (ah === eh && al < ranges[4 * i + 3]!);
}

/** Hex digit value per byte, -1 for anything else. */
const HEX = (() => {
  const t = new Int8Array(256).fill(-1);
  for (let c = 0; c < 10; c++) t[48 + c] = c;
  for (let c = 0; c < 6; c++) {
    t[97 + c] = 10 + c;
    t[65 + c] = 10 + c;
  }
  return t;
})();

const TWO_32 = 0x100000000;

/**
 * One pass over the bytes: each line's address (as u32 halves), type, name and module. Only text
 * symbols (t T w W) with a name are kept; zero addresses are counted (to report hiding) but not
 * kept. Names stay in `text`, addressed by offset. The kernel lists the core image in address
 * order and appends modules' and BPF's symbols unsorted: while the lines come in order, aliases
 * (equal addresses, adjacent) are merged on the way, and only a tail out of order is sorted and
 * merged afterwards (sortTail), instead of sorting all symbols with a comparator.
 */
function parseKallsyms(text: Buffer, moduleRanges: readonly ModuleRange[]): { table: SymbolTable; hidden: boolean } {
  const len = text.length;
  const moduleIds = new Map<string, number>();
  const modules: string[] = [];
  // ~44 bytes a line on real kernels: start big enough to rarely grow.
  let capacity = Math.max(1024, Math.ceil(len / 32));
  let hi = new Uint32Array(capacity);
  let lo = new Uint32Array(capacity);
  let nameAt = new Uint32Array(capacity);
  let nameLength = new Uint16Array(capacity);
  let mods = new Int32Array(capacity);
  let n = 0;
  let listed = 0;
  /** Index of the first symbol below its predecessor; n while all are in order. */
  let unsortedFrom = -1;
  // The module of the previous module line: modules' lines come in blocks, so most module names
  // are recognised by comparing bytes, without making a string.
  let lastModAt = -1;
  let lastModLength = 0;
  let lastMod = -1;
  // Where the next tab is: core kernel lines have none, so their names are never scanned in JS;
  // the end of each line is found by the native (memchr) indexOf.
  let nextTab = -1;
  let pos = 0;
  while (pos < len) {
    // "ffffffff81000000 T _stext" or "ffffffffc0a01000 t name\t[module]"
    let i = pos;
    let h = 0;
    let l = 0;
    let bad = -1;
    if (text[pos + 16] === 32) {
      // 64-bit kernels: 16 digits, 8 per half, no carrying between halves
      bad = 0;
      for (; i < pos + 8; i++) {
        const v = HEX[text[i]!]!;
        bad |= v;
        h = (h << 4) | (v & 15);
      }
      for (; i < pos + 16; i++) {
        const v = HEX[text[i]!]!;
        bad |= v;
        l = (l << 4) | (v & 15);
      }
      h >>>= 0;
      l >>>= 0;
    }
    if (bad < 0) {
      // any other width (32-bit kernels), or not 16 digits after all
      i = pos;
      h = 0;
      l = 0;
      for (; i < len; i++) {
        const v = HEX[text[i]!]!;
        if (v < 0) break;
        h = ((h << 4) | (l >>> 28)) >>> 0;
        l = ((l << 4) | v) >>> 0;
      }
    }
    const digits = i - pos;
    const type = text[i + 1];
    let nl = text.indexOf(10, i);
    if (nl < 0) nl = len;
    pos = nl + 1;
    if (
      digits === 0 ||
      digits > 16 ||
      text[i] !== 32 ||
      text[i + 2] !== 32 ||
      (type !== 116 && type !== 84 && type !== 119 && type !== 87) // t T w W
    )
      continue;
    let nameStart = i + 3;
    let nameEnd = nl;
    let mod = -1;
    if (nextTab < nameStart && nextTab !== len) {
      nextTab = text.indexOf(9, nameStart);
      if (nextTab < 0) nextTab = len;
    }
    if (nextTab < nl) {
      nameEnd = nextTab;
      // "\t[module]": the first '[' after the tab and the first ']' after it, on this line
      let e = nextTab;
      while (e < nl && text[e] !== 91) e++;
      if (e < nl) {
        const open = e + 1;
        while (e < nl && text[e] !== 93) e++;
        if (e < nl) mod = moduleId(open, e);
      }
    }
    while (nameStart < nameEnd && (text[nameStart] === 32 || text[nameStart] === 9)) nameStart++;
    while (nameEnd > nameStart && (text[nameEnd - 1] === 32 || text[nameEnd - 1] === 13)) nameEnd--;
    if (nameEnd === nameStart) continue;
    listed++;
    if (h === 0 && l === 0) continue;
    if (unsortedFrom < 0 && n > 0) {
      const ph = hi[n - 1]!;
      const pl = lo[n - 1]!;
      if (h === ph && l === pl) {
        // An alias of the previous symbol (`_text`/`_stext`/`startup_64`): keep the first in file
        // order, unless a later one does not start with '_' where the kept one does.
        if (text[nameAt[n - 1]!] === 95 && text[nameStart] !== 95) {
          nameAt[n - 1] = nameStart;
          nameLength[n - 1] = Math.min(nameEnd - nameStart, 0xffff);
          mods[n - 1] = mod;
        }
        continue;
      }
      if (h < ph || (h === ph && l < pl)) unsortedFrom = n;
    }
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

  function moduleId(from: number, to: number): number {
    const length = to - from;
    if (lastModAt >= 0 && length === lastModLength) {
      let q = 0;
      while (q < length && text[from + q] === text[lastModAt + q]) q++;
      if (q === length) return lastMod;
    }
    const name = text.toString('latin1', from, to);
    let id = moduleIds.get(name);
    if (id === undefined) {
      id = modules.length;
      modules.push(name);
      moduleIds.set(name, id);
    }
    lastModAt = from;
    lastModLength = length;
    lastMod = id;
    return id;
  }

  let table: SymbolTable;
  if (unsortedFrom < 0) {
    // In order, aliases merged: the arrays are the table (trimmed to size: slice is a memcpy).
    table = {
      startHi: hi.slice(0, n),
      startLo: lo.slice(0, n),
      endHi: new Uint32Array(n),
      endLo: new Uint32Array(n),
      nameAt: nameAt.slice(0, n),
      nameLength: nameLength.slice(0, n),
      moduleOf: mods.slice(0, n),
      names: text,
      modules,
    };
  } else {
    // Address order (file order breaking ties), merging the aliases the tail brings.
    const order = sortTail(hi, lo, n, unsortedFrom);
    const startHi = new Uint32Array(n);
    const startLo = new Uint32Array(n);
    const outNameAt = new Uint32Array(n);
    const outNameLength = new Uint16Array(n);
    const moduleOf = new Int32Array(n);
    let m = 0;
    for (let p = 0; p < n; p++) {
      const k = order[p]!;
      if (m > 0 && startHi[m - 1] === hi[k] && startLo[m - 1] === lo[k]) {
        if (text[outNameAt[m - 1]!] !== 95 || text[nameAt[k]!] === 95) continue;
        m--; // the kept one starts with '_' and this one does not: this one replaces it
      }
      startHi[m] = hi[k]!;
      startLo[m] = lo[k]!;
      outNameAt[m] = nameAt[k]!;
      outNameLength[m] = nameLength[k]!;
      moduleOf[m] = mods[k]!;
      m++;
    }
    table = {
      startHi: startHi.slice(0, m),
      startLo: startLo.slice(0, m),
      endHi: new Uint32Array(m),
      endLo: new Uint32Array(m),
      nameAt: outNameAt.slice(0, m),
      nameLength: outNameLength.slice(0, m),
      moduleOf: moduleOf.slice(0, m),
      names: text,
      modules,
    };
  }
  computeEnds(table, moduleIds, moduleRanges);
  return { table, hidden: listed > 0 && n === 0 };
}

/**
 * Each symbol ends where the next one starts; the last of its group (the core kernel, or one
 * module) at its module's end from /proc/modules when known, else LAST_SYMBOL_SPAN past its
 * start, and never past the next symbol. All in u32 halves: no BigInt per symbol.
 */
function computeEnds(t: SymbolTable, moduleIds: ReadonlyMap<string, number>, moduleRanges: readonly ModuleRange[]): void {
  const groups = t.modules.length;
  const hasEnd = new Uint8Array(groups);
  const modEndHi = new Float64Array(groups);
  const modEndLo = new Float64Array(groups);
  for (const r of moduleRanges) {
    const id = moduleIds.get(r.name);
    if (id === undefined) continue;
    let end = r.start + r.size;
    if (end > 0xffffffffffffffffn) end = 0xffffffffffffffffn;
    hasEnd[id] = 1;
    modEndHi[id] = Number(end >> 32n);
    modEndLo[id] = Number(end & 0xffffffffn);
  }
  const { startHi, startLo, endHi, endLo, moduleOf } = t;
  const m = startHi.length;
  // Most symbols end where the next starts: one memcpy. Then only the last of each group.
  endHi.set(startHi.subarray(1));
  endLo.set(startLo.subarray(1));
  for (let j = 0; j + 1 < m; j++) if (moduleOf[j] !== moduleOf[j + 1]) endOfGroup(j);
  if (m > 0) endOfGroup(m - 1);

  function endOfGroup(j: number): void {
    const sh = startHi[j]!;
    const sl = startLo[j]!;
    const mod = moduleOf[j]!;
    let eh: number;
    let el: number;
    if (mod >= 0 && hasEnd[mod] === 1 && (modEndHi[mod]! > sh || (modEndHi[mod] === sh && modEndLo[mod]! > sl))) {
      eh = modEndHi[mod]!;
      el = modEndLo[mod]!;
    } else {
      eh = sh;
      el = sl + LAST_SYMBOL_SPAN;
      if (el >= TWO_32) {
        el -= TWO_32;
        eh++;
        if (eh >= TWO_32) {
          // past the top of the address space: stop at its last byte
          eh = TWO_32 - 1;
          el = TWO_32 - 1;
        }
      }
    }
    if (j + 1 < m) {
      const nh = startHi[j + 1]!;
      const nl = startLo[j + 1]!;
      if (nh < eh || (nh === eh && nl < el)) {
        eh = nh;
        el = nl;
      }
    }
    endHi[j] = eh;
    endLo[j] = el;
  }
}

/**
 * The permutation putting [0, n) in address order when [0, from) already is: sorts the tail
 * (modules' and BPF's symbols, usually a few thousand) and merges. The tail sorts as packed
 * float64 keys (address relative to the tail's lowest high half, then file position) with the
 * engine's native typed-array sort when that fits in 53 bits, as it does for any kernel whose
 * addresses share one high half; otherwise with a comparator.
 */
function sortTail(hi: Uint32Array, lo: Uint32Array, n: number, from: number): Int32Array {
  const t = n - from;
  const tail = new Int32Array(t);
  let minHi = hi[from]!;
  let maxHi = minHi;
  for (let k = from; k < n; k++) {
    const h = hi[k]!;
    if (h < minHi) minHi = h;
    if (h > maxHi) maxHi = h;
  }
  const indexBits = 32 - Math.clz32(t - 1);
  const spreadBits = 32 - Math.clz32(maxHi - minHi);
  if (spreadBits + 32 + indexBits <= 53) {
    const scale = 2 ** indexBits;
    const keys = new Float64Array(t);
    for (let q = 0; q < t; q++) keys[q] = ((hi[from + q]! - minHi) * TWO_32 + lo[from + q]!) * scale + q;
    keys.sort();
    for (let q = 0; q < t; q++) tail[q] = from + (keys[q]! % scale);
  } else {
    const idx = Array.from({ length: t }, (_, q) => from + q);
    idx.sort((a, b) => hi[a]! - hi[b]! || lo[a]! - lo[b]! || a - b);
    tail.set(idx);
  }
  // Merge; on equal addresses the head (earlier in the file) goes first.
  const order = new Int32Array(n);
  let a = 0;
  let b = 0;
  let o = 0;
  while (a < from && b < t) {
    const x = tail[b]!;
    if (hi[x]! < hi[a]! || (hi[x] === hi[a] && lo[x]! < lo[a]!)) {
      order[o++] = x;
      b++;
    } else order[o++] = a++;
  }
  while (a < from) order[o++] = a++;
  while (b < t) order[o++] = tail[b++]!;
  return order;
}

function grow<T extends Uint32Array | Uint16Array | Int32Array>(a: T, capacity: number): T {
  const b = new (a.constructor as new (n: number) => T)(capacity);
  b.set(a);
  return b;
}

/** A small file's text, or null when it cannot be read (absent, no permission). */
function readText(path: string): string | null {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return null;
  }
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
