// The symbolization stage: raw addresses from the kernel's stack maps -> Frames. User space goes
// through /proc/PID/maps and the mapped ELF files (read through /proc/PID/root, so processes in
// containers resolve), JIT code through /tmp/perf-PID.map, kernel space through /proc/kallsyms.
// Nothing is guessed: an address no symbol covers prints as `module+0xoffset` or `[unknown]`.
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import type { Frame } from '../aggregate/model.js';
import { AddressMap } from './address-map.js';
import { demangle } from './demangle.js';
import { ElfError, ElfFile, parseBuildIdNote } from './elf.js';
import { KernelSymbols } from './kallsyms.js';
import { LivePerfMap } from './perfmap.js';
import { elfVaddrOf, fileOffsetOf, findMapping, mergeMaps, readProcMaps, type LoadSegment, type MapEntry } from './procmaps.js';

export { demangle } from './demangle.js';
export { ElfError, ElfFile } from './elf.js';
export { KernelSymbols } from './kallsyms.js';
export { PerfMap } from './perfmap.js';
export { parseMaps, readProcMaps, type MapEntry } from './procmaps.js';

export interface SymbolizerOptions {
  /** procfs root; tests point it at a fake tree. Default `/proc`. */
  procRoot?: string;
  /** sysfs root, for the kernel's and modules' build-ids. Default `/sys`. */
  sysRoot?: string;
  /** Where runtimes write `perf-PID.map`. Default `/tmp`. */
  perfMapDir?: string;
  /** Default `<procRoot>/kallsyms`. */
  kallsymsPath?: string;
  /** Default `<procRoot>/modules`. */
  modulesPath?: string;
  /** Demangle C++ and Rust names (default true). */
  demangle?: boolean;
  /** Searched for `.build-id/xx/yyyy.debug` when a binary has no .symtab. Default `/usr/lib/debug`. */
  debugDirs?: string[];
}

export interface SymbolizerStats {
  /** ELF files whose headers were parsed (one per distinct binary, however many processes map it). */
  elfFilesOpened: number;
  /** Mappings that reused an already parsed binary (same device and inode, or same build-id). */
  elfCacheHits: number;
  /** Reads of /proc/PID/maps. */
  mapsReads: number;
  /** Addresses resolved without the cache, user and kernel. */
  lookups: number;
}

/** A parsed binary shared by every mapping of it. */
interface Module {
  elf: ElfFile;
  /** Separate debug file (by build-id) used for symbols when `elf` has no .symtab. */
  debug: ElfFile | null;
  buildId?: string;
  loads: LoadSegment[];
  /**
   * Printed (demangled) names by symbol index entry, of `elf` and of `debug` (allocated on first
   * use): each symbol is named once however many addresses fall in it.
   */
  elfNames: (string | undefined)[] | null;
  debugNames: (string | undefined)[] | null;
}

interface ProcState {
  maps: MapEntry[];
  /** Per mapping: the module backing it (null: not readable / not ELF). */
  modules: Map<MapEntry, Module | null>;
  /**
   * Lookup address -> its frame. The frame reports the lookup address, or (made for a call site
   * by userStackFrames, and the same object as in callFrames) the return address one above it:
   * exactFrame replaces such an entry with a copy when the lookup address itself is asked for.
   */
  frames: AddressMap<Frame>;
  /**
   * Sampled return address -> its frame for userStackFrames: looked up at `address - 1`,
   * reporting the address as sampled. Only frames that resolved to something: `[unknown]` ones
   * are retried after a maps re-read, which this cache must not outlive.
   */
  callFrames: AddressMap<Frame>;
  /** Addresses that resolved to nothing; retried after the maps are re-read. */
  unresolved: Set<bigint>;
  perfMap: LivePerfMap;
  /** True once reading the maps failed (the process is gone). */
  gone: boolean;
  /** Never had maps: exited before any snapshot. */
  neverRead: boolean;
}

const UNKNOWN = '[unknown]';

/** Per symbolizeUser / userStackFrames call: whether it already re-read the maps. */
interface CallState {
  refreshed: boolean;
}

/**
 * What is mapped at a code address of a process, for stack unwinding (src/unwind): a binary
 * (file, memfd or the vDSO) with the address as its ELF virtual address, executable memory
 * backed by no binary (JIT code), or a file that cannot be read.
 */
export type CodeAt =
  | { kind: 'elf'; elf: ElfFile; debug: ElfFile | null; vaddr: bigint; path: string; buildId?: string }
  | { kind: 'anon'; path: string }
  | { kind: 'unreadable'; path: string };

/** Re-read a process's maps for an unknown code address at most this often. */
const CODE_REFRESH_MS = 100;

/**
 * `clock_gettime@@GLIBC_2.17` -> `clock_gettime`: the version tag of a .symtab/.dynsym name
 * says which ABI a definition serves, not which function runs; perf and BCC print the bare name,
 * and one function must fold into one frame whichever alias named it.
 */
export function withoutSymbolVersion(name: string): string {
  const at = name.indexOf('@');
  return at > 0 ? name.slice(0, at) : name;
}
const MAX_VDSO = 1 << 20;

function hex(v: bigint): string {
  return '0x' + v.toString(16);
}

export class Symbolizer {
  private readonly procRoot: string;
  private readonly sysRoot: string;
  private readonly perfMapDir: string;
  private readonly kallsymsPath: string;
  private readonly modulesPath: string;
  private readonly doDemangle: boolean;
  private readonly debugDirs: string[];

  private readonly procs = new Map<number, ProcState>();
  private readonly byInode = new Map<string, Module>();
  private readonly byBuildId = new Map<string, Module>();
  private vdso: Module | null = null;
  private readonly demangled = new Map<string, string>();
  private kernel: KernelSymbols | null | undefined;
  private kernelError: string | null = null;
  private kernelBuildId: string | null | undefined;
  private readonly moduleBuildIds = new Map<string, string | null>();
  private readonly kernelFrames = new Map<bigint, Frame>();
  private readonly unreadable = new Set<string>();
  private readonly exitedPids = new Set<number>();
  private readonly codeRefreshAt = new Map<number, number>();
  private readonly counters: SymbolizerStats = { elfFilesOpened: 0, elfCacheHits: 0, mapsReads: 0, lookups: 0 };

  constructor(options: SymbolizerOptions = {}) {
    this.procRoot = options.procRoot ?? '/proc';
    this.sysRoot = options.sysRoot ?? '/sys';
    this.perfMapDir = options.perfMapDir ?? '/tmp';
    this.kallsymsPath = options.kallsymsPath ?? `${this.procRoot}/kallsyms`;
    this.modulesPath = options.modulesPath ?? `${this.procRoot}/modules`;
    this.doDemangle = options.demangle ?? true;
    this.debugDirs = options.debugDirs ?? ['/usr/lib/debug'];
  }

  /**
   * Reads the process's maps now and opens the binaries of its executable mappings, so that its
   * addresses still resolve after it exits. Call at profile start and again before symbolizing;
   * later reads merge with earlier ones. Returns false when the process cannot be read.
   */
  snapshot(pid: number): boolean {
    const st = this.state(pid);
    if (!this.refreshMaps(pid, st)) return false;
    for (const m of st.maps) {
      if (!m.executable) continue;
      if (m.kind === 'file' || m.kind === 'memfd') this.moduleFor(pid, st, m);
      else if (m.kind === 'vdso') this.vdsoFor(pid, m);
    }
    return true;
  }

  /** One Frame per address, in the order given. */
  symbolizeUser(pid: number, addresses: readonly bigint[]): Frame[] {
    const st = this.state(pid);
    if (st.maps.length === 0 && !st.gone) this.refreshMaps(pid, st);
    if (st.neverRead && addresses.length > 0) this.exitedPids.add(pid);
    const call: CallState = { refreshed: false };
    const out: Frame[] = [];
    for (const addr of addresses) out.push({ ...this.exactFrame(pid, st, addr, call) });
    return out;
  }

  /**
   * The frames of one sampled user stack (`ips`, leaf first), as resolveStacks needs them:
   * every address but the leaf (index 0), a zero address and the `exact` indices is a return
   * address, looked up at `address - 1` (the call instruction) and reported as sampled. Written
   * root first into `out` from index `start` (the leaf last). Names, side effects and maps
   * re-reads are those of `symbolizeUser` on the looked-up addresses (looked up leaf first, as
   * it does); but the Frame objects are cached per sampled address and shared between stacks
   * and calls (a profile repeats a few thousand frames hundreds of thousands of times; a copy
   * each was most of the time and memory of symbolizing it). Callers must not mutate them.
   */
  userStackFrames(pid: number, ips: readonly bigint[], exact: readonly number[] | undefined, out: Frame[], start: number): void {
    const st = this.state(pid);
    if (st.maps.length === 0 && !st.gone) this.refreshMaps(pid, st);
    if (st.neverRead && ips.length > 0) this.exitedPids.add(pid);
    const call: CallState = { refreshed: false };
    const last = start + ips.length - 1;
    for (let i = 0; i < ips.length; i++) {
      const ip = ips[i]!;
      if (i === 0 || ip === 0n || (exact !== undefined && exact.includes(i))) {
        // Looked up as sampled.
        out[last - i] = this.exactFrame(pid, st, ip, call);
        continue;
      }
      let f = st.callFrames.get(ip);
      if (f === undefined) {
        const at = this.userFrame(pid, st, ip - 1n, call, ip);
        f = at.address === undefined || at.address === ip ? at : { ...at, address: ip };
        if (at.name !== UNKNOWN) st.callFrames.set(ip, f);
      }
      out[last - i] = f;
    }
  }

  /**
   * The (cached) frame for lookup address `addr`; re-reads the maps at most once per call. A
   * frame made now reports address `shown` (userStackFrames: the return address whose call site
   * `addr` is, so that one object serves both caches); one found in the cache may report another
   * address than `addr`: exactFrame corrects that.
   */
  private userFrame(pid: number, st: ProcState, addr: bigint, call: CallState, shown: bigint): Frame {
    let f = st.frames.get(addr);
    if (!f) {
      let map = findMapping(st.maps, addr);
      if (!map && !call.refreshed && !st.gone) {
        // Maybe mapped since the last read (dlopen, new JIT region).
        call.refreshed = true;
        if (this.refreshMaps(pid, st)) map = findMapping(st.maps, addr);
      }
      f = this.resolveUser(pid, st, map, addr, shown);
      st.frames.set(addr, f);
      if (f.name === UNKNOWN) st.unresolved.add(addr);
    }
    return f;
  }

  /** The frame for lookup address `addr`, reporting `addr` (the cache then holds that one). */
  private exactFrame(pid: number, st: ProcState, addr: bigint, call: CallState): Frame {
    const f = this.userFrame(pid, st, addr, call, addr);
    if (f.address === addr) return f;
    const own: Frame = { ...f, address: addr };
    st.frames.set(addr, own);
    return own;
  }

  /**
   * The code mapped at `addr` in `pid` (see CodeAt); undefined when no executable mapping holds
   * it. Re-reads the maps (at most every 100 ms) for an address they do not cover yet.
   */
  codeAt(pid: number, addr: bigint): CodeAt | undefined {
    const st = this.state(pid);
    if (st.maps.length === 0 && !st.gone) this.refreshMaps(pid, st);
    let map = findMapping(st.maps, addr);
    if ((!map || !map.executable) && !st.gone) {
      const now = Date.now();
      if (now - (this.codeRefreshAt.get(pid) ?? 0) >= CODE_REFRESH_MS) {
        this.codeRefreshAt.set(pid, now);
        if (this.refreshMaps(pid, st)) map = findMapping(st.maps, addr);
      }
    }
    if (!map || !map.executable) return undefined;
    return this.codeIn(pid, st, map, addr);
  }

  /** True once the maps of `pid` have been read (false: it exited before they could be). */
  mapsKnown(pid: number): boolean {
    const st = this.state(pid);
    if (st.maps.length === 0 && !st.gone) this.refreshMaps(pid, st);
    return st.maps.length > 0;
  }

  /** Every executable mapping of `pid` with what backs it (the frame-pointer census of --unwind auto). */
  executableCode(pid: number): CodeAt[] {
    const st = this.state(pid);
    if (st.maps.length === 0 && !st.gone) this.refreshMaps(pid, st);
    return st.maps.filter((m) => m.executable && m.kind !== 'vsyscall').map((m) => this.codeIn(pid, st, m, m.start));
  }

  private codeIn(pid: number, st: ProcState, map: MapEntry, addr: bigint): CodeAt {
    const mod = map.kind === 'vdso' ? this.vdsoFor(pid, map) : map.kind === 'file' || map.kind === 'memfd' ? this.moduleFor(pid, st, map) : undefined;
    if (mod === undefined) return { kind: 'anon', path: map.path };
    if (mod === null) return { kind: 'unreadable', path: map.path };
    const vaddr = elfVaddrOf(map, addr, mod.loads);
    if (vaddr === undefined) return { kind: 'unreadable', path: map.path };
    const code: CodeAt = { kind: 'elf', elf: mod.elf, debug: mod.debug, vaddr, path: map.path };
    if (mod.buildId) code.buildId = mod.buildId;
    return code;
  }

  /** One Frame per kernel address, in the order given. */
  symbolizeKernel(addresses: readonly bigint[]): Frame[] {
    const ks = this.kernelSymbols();
    const out: Frame[] = [];
    for (const addr of addresses) {
      let f = this.kernelFrames.get(addr);
      if (!f) {
        this.counters.lookups++;
        const sym = ks && !ks.addressesHidden ? ks.lookup(addr) : null;
        if (sym) {
          f = { name: sym.name, kind: 'kernel', address: addr, module: sym.module ? `[${sym.module}]` : '[kernel.kallsyms]' };
          const id = sym.module ? this.moduleBuildId(sym.module) : this.kernelImageBuildId();
          if (id) f.buildId = id;
        } else {
          f = { name: UNKNOWN, kind: 'kernel', address: addr };
        }
        this.kernelFrames.set(addr, f);
      }
      out.push({ ...f });
    }
    return out;
  }

  /** True when /proc/kallsyms lists only zero addresses (not root, or kernel.kptr_restrict). */
  get kernelAddressesHidden(): boolean {
    const ks = this.kernelSymbols();
    return ks ? ks.addressesHidden : false;
  }

  /** What the user should know about frames that could not be resolved. */
  warnings(): string[] {
    const w: string[] = [];
    if (this.kernel?.addressesHidden) {
      w.push('kernel addresses are hidden (/proc/kallsyms shows zeros): kernel frames print as [unknown]; run as root, or set sysctl kernel.kptr_restrict=0');
    } else if (this.kernelError) {
      w.push(`cannot read kernel symbols (${this.kernelError}): kernel frames print as [unknown]`);
    }
    const exited = [...this.exitedPids];
    if (exited.length > 0) {
      w.push(
        `${exited.length} process(es) exited before their memory maps could be read (PID ${exited.slice(0, 5).join(', ')}${exited.length > 5 ? ', ...' : ''}): ` +
          'their user frames print as [unknown]; profile them by PID (-p) so their maps are read at start',
      );
    }
    if (this.unreadable.size > 0) {
      const list = [...this.unreadable];
      w.push(`cannot read ${list.length} mapped file(s) (${list.slice(0, 3).join(', ')}${list.length > 3 ? ', ...' : ''}): their frames print as module+offset`);
    }
    return w;
  }

  stats(): SymbolizerStats {
    return { ...this.counters };
  }

  /** Drops what is cached for `pid` (its binaries stay cached for other processes). */
  forget(pid: number): void {
    this.procs.delete(pid);
  }

  /** Closes every open binary. */
  close(): void {
    const seen = new Set<ElfFile>();
    for (const m of [...this.byInode.values(), ...this.byBuildId.values(), ...(this.vdso ? [this.vdso] : [])]) {
      for (const e of [m.elf, m.debug]) {
        if (e && !seen.has(e)) {
          seen.add(e);
          e.close();
        }
      }
    }
    this.byInode.clear();
    this.byBuildId.clear();
    this.vdso = null;
    this.procs.clear();
  }

  // ---- user space ----

  private state(pid: number): ProcState {
    let st = this.procs.get(pid);
    if (!st) {
      st = {
        maps: [],
        modules: new Map(),
        frames: new AddressMap(),
        callFrames: new AddressMap(),
        unresolved: new Set(),
        perfMap: new LivePerfMap(`${this.perfMapDir}/perf-${pid}.map`),
        gone: false,
        neverRead: true,
      };
      this.procs.set(pid, st);
    }
    return st;
  }

  /** Re-reads the maps, merging with what was known; false when the process is gone. */
  private refreshMaps(pid: number, st: ProcState): boolean {
    this.counters.mapsReads++;
    const fresh = readProcMaps(pid, this.procRoot);
    if (!fresh) {
      st.gone = true;
      return false;
    }
    st.maps = st.maps.length ? mergeMaps(st.maps, fresh) : fresh;
    st.neverRead = false;
    // Addresses that found nothing before may be covered now.
    for (const a of st.unresolved) st.frames.delete(a);
    st.unresolved.clear();
    return true;
  }

  /** The frame for `addr` (reporting address `shown`). */
  private resolveUser(pid: number, st: ProcState, map: MapEntry | undefined, addr: bigint, shown: bigint): Frame {
    this.counters.lookups++;
    const unknown: Frame = { name: UNKNOWN, kind: 'user', address: shown };
    if (!map) return this.jitFrame(st, addr, shown) ?? unknown;
    switch (map.kind) {
      case 'vdso': {
        const mod = this.vdsoFor(pid, map);
        return this.elfFrame(mod, map, addr, '[vdso]', shown) ?? { name: '[vdso]', kind: 'user', address: shown, module: '[vdso]' };
      }
      case 'vsyscall':
        return { name: '[vsyscall]', kind: 'user', address: shown, module: '[vsyscall]' };
      case 'file':
      case 'memfd': {
        const mod = this.moduleFor(pid, st, map);
        if (mod) return this.elfFrame(mod, map, addr, map.path, shown)!;
        return this.jitFrame(st, addr, shown) ?? { name: `${basename(map.path)}+${hex(fileOffsetOf(map, addr))}`, kind: 'user', address: shown, module: map.path };
      }
      default:
        // Anonymous, heap, stack: code there is JIT-compiled; only the runtime's perf map names it.
        return this.jitFrame(st, addr, shown) ?? unknown;
    }
  }

  private jitFrame(st: ProcState, addr: bigint, shown: bigint): Frame | null {
    const e = st.perfMap.lookup(addr);
    return e ? { name: e.name, kind: 'jit', address: shown } : null;
  }

  /** The frame for `addr` in an ELF-backed mapping (reporting `shown`): symbol, or `module+0xvaddr`. */
  private elfFrame(mod: Module | null, map: MapEntry, addr: bigint, modulePath: string, shown: bigint): Frame | null {
    if (!mod) return null;
    const frame: Frame = { name: '', kind: 'user', address: shown, module: modulePath };
    if (mod.buildId) frame.buildId = mod.buildId;
    const vaddr = elfVaddrOf(map, addr, mod.loads);
    if (vaddr === undefined) {
      frame.name = `${basename(modulePath)}+${hex(fileOffsetOf(map, addr))}`;
      return frame;
    }
    // The separate debug file's symbols first, then the binary's own.
    let name: string | undefined;
    const dbg = mod.debug;
    const dj = dbg ? dbg.symbolAt(vaddr) : -1;
    if (dj >= 0) name = this.symbolDisplayName(dbg!, dj, (mod.debugNames ??= new Array<string | undefined>(dbg!.symbolCount)));
    else {
      const j = mod.elf.symbolAt(vaddr);
      if (j >= 0) name = this.symbolDisplayName(mod.elf, j, (mod.elfNames ??= new Array<string | undefined>(mod.elf.symbolCount)));
    }
    frame.name = name ?? `${basename(modulePath)}+${hex(vaddr)}`;
    return frame;
  }

  /** The printed name of symbol entry `j` of `elf`, memoized in `names`. */
  private symbolDisplayName(elf: ElfFile, j: number, names: (string | undefined)[]): string {
    let name = names[j];
    if (name === undefined) {
      name = this.demangleCached(withoutSymbolVersion(elf.symbolName(j)));
      names[j] = name;
    }
    return name;
  }

  private demangleCached(raw: string): string {
    // Only mangled names (`_Z...`, `_R...`) change: the others need no demangling and no entry.
    if (!this.doDemangle || raw.charCodeAt(0) !== 0x5f || (raw.charCodeAt(1) !== 0x5a && raw.charCodeAt(1) !== 0x52)) return raw;
    let d = this.demangled.get(raw);
    if (d === undefined) {
      d = demangle(raw);
      this.demangled.set(raw, d);
    }
    return d;
  }

  /** The module backing a file mapping, parsed once per (device, inode) and per build-id. */
  private moduleFor(pid: number, st: ProcState, map: MapEntry): Module | null {
    const known = st.modules.get(map);
    if (known !== undefined) return known;
    const key = map.inode !== 0n ? `${map.dev}:${map.inode}` : null;
    let mod = key ? this.byInode.get(key) : undefined;
    if (mod) {
      this.counters.elfCacheHits++;
    } else {
      mod = this.openModule(pid, map) ?? undefined;
      if (mod && key) this.byInode.set(key, mod);
    }
    st.modules.set(map, mod ?? null);
    return mod ?? null;
  }

  /** Paths to try for a mapped file, most faithful first. */
  private candidatePaths(pid: number, map: MapEntry): string[] {
    const mapFile = `${this.procRoot}/${pid}/map_files/${map.start.toString(16)}-${map.end.toString(16)}`;
    const rooted = map.path.startsWith('/') ? [`${this.procRoot}/${pid}/root${map.path}`, map.path] : [];
    // A deleted file or a memfd is only reachable through map_files.
    return map.deleted || map.kind === 'memfd' ? [mapFile, ...rooted] : [...rooted, mapFile];
  }

  private openModule(pid: number, map: MapEntry): Module | null {
    let lastError = '';
    for (const path of this.candidatePaths(pid, map)) {
      try {
        const st = statSync(path, { bigint: true });
        // Only regular files (never open a device or FIFO), and only the one that was mapped:
        // the file at that path now may be another (upgraded, or another root's).
        if (!st.isFile()) continue;
        if (map.inode !== 0n && st.ino !== map.inode) continue;
      } catch {
        continue;
      }
      let elf: ElfFile;
      try {
        elf = ElfFile.open(path);
      } catch (e) {
        lastError = e instanceof ElfError ? e.message : String(e);
        if (e instanceof ElfError && (e.code === 'ENOTELF' || e.code === 'EUNSUPPORTED')) return null; // readable, just not ELF
        continue;
      }
      this.counters.elfFilesOpened++;
      const id = elf.buildId;
      if (id) {
        const same = this.byBuildId.get(id);
        if (same) {
          // Same binary reached through another device/inode (another container's copy).
          elf.close();
          this.counters.elfFilesOpened--;
          this.counters.elfCacheHits++;
          return same;
        }
      }
      const mod: Module = { elf, debug: null, loads: elf.loadSegments, elfNames: null, debugNames: null };
      if (id) {
        mod.buildId = id;
        this.byBuildId.set(id, mod);
        if (!elf.hasSymtab) mod.debug = this.openDebugFile(pid, id);
      }
      return mod;
    }
    if (lastError || map.path) this.unreadable.add(map.path || `${hex(map.start)}-${hex(map.end)}`);
    return null;
  }

  /** A separate debug file for build-id `id` (`<debugdir>/.build-id/ab/cdef....debug`). */
  private openDebugFile(pid: number, id: string): ElfFile | null {
    if (id.length < 3) return null;
    for (const dir of this.debugDirs) {
      const rel = `${dir}/.build-id/${id.slice(0, 2)}/${id.slice(2)}.debug`;
      for (const path of [`${this.procRoot}/${pid}/root${rel}`, rel]) {
        try {
          const dbg = ElfFile.open(path);
          if (dbg.buildId === id && dbg.hasSymtab) return dbg;
          dbg.close();
        } catch {
          // not there
        }
      }
    }
    return null;
  }

  /** The vDSO image, read from the process's memory (it is the same for every process). */
  private vdsoFor(pid: number, map: MapEntry): Module | null {
    if (this.vdso) return this.vdso;
    const len = Number(map.end - map.start);
    if (len <= 0 || len > MAX_VDSO) return null;
    let fd: number | null = null;
    try {
      fd = openSync(`${this.procRoot}/${pid}/mem`, 'r');
      const buf = Buffer.alloc(len);
      const n = readSync(fd, buf, 0, len, map.start);
      const elf = ElfFile.fromBuffer(buf.subarray(0, n));
      const mod: Module = { elf, debug: null, loads: elf.loadSegments, elfNames: null, debugNames: null };
      if (elf.buildId) mod.buildId = elf.buildId;
      this.vdso = mod;
      return mod;
    } catch {
      return null;
    } finally {
      if (fd !== null) closeSync(fd);
    }
  }

  // ---- kernel ----

  private kernelSymbols(): KernelSymbols | null {
    if (this.kernel === undefined) {
      try {
        this.kernel = KernelSymbols.load(this.kallsymsPath, this.modulesPath);
      } catch (e) {
        this.kernel = null;
        this.kernelError = (e as Error).message;
      }
    }
    return this.kernel;
  }

  private kernelImageBuildId(): string | null {
    if (this.kernelBuildId === undefined) this.kernelBuildId = this.readNotes(`${this.sysRoot}/kernel/notes`);
    return this.kernelBuildId;
  }

  private moduleBuildId(mod: string): string | null {
    let id = this.moduleBuildIds.get(mod);
    if (id === undefined) {
      id = /^[\w-]+$/.test(mod) ? this.readNotes(`${this.sysRoot}/module/${mod}/notes/.note.gnu.build-id`) : null;
      this.moduleBuildIds.set(mod, id);
    }
    return id;
  }

  private readNotes(path: string): string | null {
    try {
      return parseBuildIdNote(readFileSync(path)) ?? null;
    } catch {
      return null;
    }
  }
}
