// Typed view of the native addon (native/ebpf_otel.cc): the only file that loads it.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../util/paths.js';
import { UserError } from '../util/errors.js';
import { nodeModule } from '../util/lazy-builtins.js';

export interface ProgramInfo {
  name: string;
  section: string;
  type: number;
  autoload: boolean;
}

export interface MapInfo {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  internal: boolean;
}

/** All entries of a map, fixed-size records laid end to end. */
export interface MapEntries {
  count: number;
  keys: Buffer;
  values: Buffer;
  keySize: number;
  /** Per-CPU maps: 8-byte-aligned value size times the number of possible CPUs. */
  valueSize: number;
}

export interface PerfEventOptions {
  type?: number;
  config?: number;
  frequency?: number;
  period?: number;
  cpus: number[];
  pid?: number;
}

export interface UprobeOptions {
  path: string;
  offset: number;
  pid?: number;
  retprobe?: boolean;
}

export interface NativeBpfObject {
  programs(): ProgramInfo[];
  maps(): MapInfo[];
  setGlobal(name: string, value: Buffer): void;
  setAutoload(program: string, on: boolean): void;
  setMaxEntries(map: string, entries: number): void;
  /** Before load: every map that loaded object `other` has by the same name is shared with it, not created; returns how many. */
  shareMaps(other: NativeBpfObject): number;
  load(): void;
  /**
   * Loads the object in the kernel, as a light skeleton does (native/ebpf_otel.cc): no parse of
   * the kernel's BTF in this process. 'untouched': it has a program type only load() attaches;
   * call load(). 'spent': it could not (an older kernel, a program refused); open the object again
   * and load() it, for libbpf's own diagnosis.
   */
  loadInKernel(): 'loaded' | 'untouched' | 'spent';
  /** The fd of a loaded program (the value of a program array entry). */
  programFd(program: string): number;
  attach(program: string): number;
  attachTrace(program: string): number;
  attachRawTracepoint(program: string, tracepoint: string): number;
  attachTracepoint(program: string, category: string, name: string): number;
  attachUprobe(program: string, options: UprobeOptions): number;
  attachPerfEvent(program: string, options: PerfEventOptions): number[];
  detach(link: number): void;
  mapLookup(map: string, key: Buffer): Buffer | null;
  mapUpdate(map: string, key: Buffer, value: Buffer, flags?: number): void;
  /** Keys and values laid end to end, stored in one system call; returns how many were stored (throws if none). */
  mapUpdateBatch(map: string, keys: Buffer, values: Buffer): number;
  mapDelete(map: string, key: Buffer): boolean;
  mapEntries(map: string): MapEntries;
  mapClear(map: string): number;
  /**
   * The records now in a ring buffer map, without waiting: each as a u32 LE length, the record,
   * padding to 4 bytes. Empty when there is none. With `maxBytes`, returns once at least that
   * much is taken (the rest stays in the ring).
   */
  ringConsume(map: string, maxBytes?: number): Buffer;
  close(): void;
}

export interface NativeAddon {
  BpfObject: new (path: string) => NativeBpfObject;
  setLogLevel(level: 0 | 1 | 2): void;
  takeLog(): string;
  libbpfVersion(): string;
  numPossibleCpus(): number;
  probeProgType(type: number): boolean;
  probeMapType(type: number): boolean;
  clockPair(): { monotonic: bigint; realtime: bigint };
}

let addon: NativeAddon | undefined;

function dlopen(path: string): unknown {
  const module = { exports: {} };
  process.dlopen(module, path);
  return module.exports;
}

/** Loads the prebuilt addon (prebuilds/linux-x64) or, failing that, one built from source. */
export function native(): NativeAddon {
  if (addon) return addon;
  try {
    // Where node-gyp-build would look first (a source build, then this platform's prebuild),
    // loaded directly: node-gyp-build itself costs ~5 ms of every start to get there. With
    // process.dlopen, which is what require does with a .node file, not createRequire: that
    // would load node:module (util/lazy-builtins.ts).
    const direct = [join(packageRoot, 'build', 'Release', 'ebpf_otel.node'), join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`, 'node.napi.node')].find(
      (p) => existsSync(p),
    );
    addon = (direct ? dlopen(direct) : (nodeModule().createRequire(import.meta.url)('node-gyp-build') as (dir: string) => unknown)(packageRoot)) as NativeAddon;
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    if (/libbpf\.so/.test(String(why))) {
      throw new UserError('the system libbpf (libbpf.so.1) is missing: install it with `apt-get install libbpf1` (it comes with iproute2)');
    }
    throw new UserError(`cannot load the native addon (${why}); build it with \`npm run build:native\` (needs libbpf-dev and a C++ compiler)`);
  }
  return addon;
}
