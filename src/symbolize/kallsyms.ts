// /proc/kallsyms: kernel text symbols (and loaded modules' and BPF programs'), sorted for
// binary-search lookup. Without root (or with kptr_restrict) every address reads as zero; that is
// detected and reported rather than resolving every frame to the first symbol.
import { readFileSync } from 'node:fs';

export interface KernelSymbol {
  name: string;
  address: bigint;
  /** Module name (`ext4`, `bpf`) for symbols outside the core kernel image. */
  module?: string;
  /** Distance of the looked-up address from `address`. */
  offset: bigint;
}

const HEX = /^[0-9a-fA-F]{1,16}$/;
const MODULE = /\s+\[([^\]]+)\]\s*$/;

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

export class KernelSymbols {
  /** True when the file listed symbols but every address was zero (not root, or kptr_restrict). */
  readonly addressesHidden: boolean;
  private readonly starts: BigUint64Array;
  private readonly ends: BigUint64Array;
  private readonly names: string[];
  private readonly moduleOf: Int32Array;
  private readonly modules: string[];

  private constructor(text: string, moduleRanges: readonly ModuleRange[]) {
    const moduleIds = new Map<string, number>();
    const modules: string[] = [];
    const raw: { addr: bigint; name: string; mod: number }[] = [];
    let listed = 0;
    let pos = 0;
    while (pos < text.length) {
      let nl = text.indexOf('\n', pos);
      if (nl < 0) nl = text.length;
      const line = text.slice(pos, nl);
      pos = nl + 1;
      // "ffffffff81000000 T _stext" or "ffffffffc0a01000 t name\t[module]"
      const sp1 = line.indexOf(' ');
      if (sp1 <= 0 || line.length < sp1 + 4 || line[sp1 + 2] !== ' ') continue;
      const type = line[sp1 + 1];
      if (type !== 't' && type !== 'T' && type !== 'w' && type !== 'W') continue;
      const hex = line.slice(0, sp1);
      if (!HEX.test(hex)) continue;
      let rest = line.slice(sp1 + 3);
      let mod = -1;
      const m = rest.includes('[') ? MODULE.exec(rest) : null;
      if (m) {
        const modName = m[1]!;
        rest = rest.slice(0, m.index);
        let id = moduleIds.get(modName);
        if (id === undefined) {
          id = modules.length;
          modules.push(modName);
          moduleIds.set(modName, id);
        }
        mod = id;
      }
      rest = rest.trim();
      if (rest === '') continue;
      listed++;
      const addr = BigInt('0x' + hex);
      if (addr === 0n) continue;
      raw.push({ addr, name: rest, mod });
    }
    this.addressesHidden = listed > 0 && raw.length === 0;
    raw.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
    // Aliases at one address (`_text`/`_stext`/`startup_64`): the first in file order, unless a
    // later one does not start with '_' where the kept one does.
    const uniq: typeof raw = [];
    for (const r of raw) {
      const last = uniq[uniq.length - 1];
      if (last && last.addr === r.addr) {
        if (last.name.startsWith('_') && !r.name.startsWith('_')) uniq[uniq.length - 1] = r;
        continue;
      }
      uniq.push(r);
    }
    const n = uniq.length;
    this.starts = new BigUint64Array(n);
    this.ends = new BigUint64Array(n);
    this.moduleOf = new Int32Array(n);
    this.names = new Array<string>(n);
    this.modules = modules;
    const moduleEnd = new Map<string, bigint>();
    for (const m of moduleRanges) moduleEnd.set(m.name, m.start + m.size);
    for (let i = 0; i < n; i++) {
      const r = uniq[i]!;
      this.starts[i] = r.addr;
      this.names[i] = r.name;
      this.moduleOf[i] = r.mod;
      const next = uniq[i + 1];
      let end: bigint;
      if (next && next.mod === r.mod) end = next.addr;
      else {
        // Last symbol of its group: bounded by the module's end when known, else a small span.
        const modEnd = r.mod >= 0 ? moduleEnd.get(modules[r.mod]!) : undefined;
        end = modEnd !== undefined && modEnd > r.addr ? modEnd : r.addr + LAST_SYMBOL_SPAN;
        if (next && next.addr < end) end = next.addr;
      }
      this.ends[i] = end;
    }
  }

  /** Parses kallsyms text (and optionally /proc/modules ranges to bound modules' last symbols). */
  static parse(text: string, modules: readonly ModuleRange[] = []): KernelSymbols {
    return new KernelSymbols(text, modules);
  }

  /** Reads /proc/kallsyms (and /proc/modules when present). Throws when kallsyms is unreadable. */
  static load(path = '/proc/kallsyms', modulesPath = '/proc/modules'): KernelSymbols {
    const text = readFileSync(path, 'utf8');
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
    return this.starts.length;
  }

  /** The symbol covering `addr`, or null (also always null when addresses are hidden). */
  lookup(addr: bigint): KernelSymbol | null {
    const s = this.starts;
    let lo = 0;
    let hi = s.length - 1;
    let i = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid]! <= addr) {
        i = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (i < 0 || addr >= this.ends[i]!) return null;
    const sym: KernelSymbol = { name: this.names[i]!, address: s[i]!, offset: addr - s[i]! };
    const m = this.moduleOf[i]!;
    if (m >= 0) sym.module = this.modules[m]!;
    return sym;
  }

  /** Address of the first symbol named `name` (for tests and diagnostics). */
  addressOf(name: string): bigint | undefined {
    const i = this.names.indexOf(name);
    return i < 0 ? undefined : this.starts[i];
  }
}
