// A loaded BPF object of one tool: opens bpf/<tool>.bpf.o through the addon, sets its
// configuration globals, picks the first hook of a fallback chain that loads and attaches on
// this kernel, and reads its maps. Every open object is closed on exit and on SIGINT/SIGTERM.
import { existsSync } from 'node:fs';
import { native, type MapEntries, type NativeBpfObject } from './native.js';
import { bpfObjectPath } from '../util/paths.js';
import { UserError, errnoOf, messageOf } from '../util/errors.js';

const ENOMEM = 12;
const E2BIG = 7;
/** max_entries is a u32. */
const MAX_ENTRIES_LIMIT = 0xffffffff;

function describeSizes(maxEntries: Record<string, number>): string {
  return Object.entries(maxEntries)
    .map(([map, n]) => `${map}: ${n}`)
    .join(', ');
}

const openObjects = new Set<NativeBpfObject>();

/** Detaches and closes every object still open. Safe to call more than once. */
export function closeAllObjects(): void {
  for (const obj of openObjects) {
    try {
      obj.close();
    } catch {
      // closing is best effort: the kernel frees links and maps when our fds close anyway
    }
  }
  openObjects.clear();
}

/** A global variable value, encoded to the width the BPF side declared. */
export type GlobalValue =
  | { bool: boolean }
  | { u8: number }
  | { u32: number }
  | { s32: number }
  | { u64: bigint };

function encodeGlobal(value: GlobalValue): Buffer {
  if ('bool' in value) return Buffer.from([value.bool ? 1 : 0]);
  if ('u8' in value) return Buffer.from([value.u8 & 0xff]);
  const b = Buffer.alloc('u64' in value ? 8 : 4);
  if ('u32' in value) b.writeUInt32LE(value.u32 >>> 0);
  else if ('s32' in value) b.writeInt32LE(value.s32);
  else b.writeBigUInt64LE(value.u64);
  return b;
}

/** One way of hooking a tool into the kernel: which programs load and how they attach. */
export interface HookChoice {
  /** Short name shown by `doctor` and --verbose: `perf_event`, `tp_btf`, `raw_tp`, `tracepoint`, ... */
  name: string;
  /** Programs of the object that this choice loads; every other program is left unloaded. */
  programs: string[];
  /** Globals this choice sets on top of OpenOptions.globals (a feature the kernel may lack, turned on). */
  globals?: Record<string, GlobalValue>;
  /** Attaches the loaded programs, returning the link ids; throws on failure. */
  attach(obj: NativeBpfObject): number[];
  /**
   * A part of this hook loaded only once it is attached (BpfTool.loadDeferred), because loading
   * it would delay the first event: named after the hook's name once it is in.
   */
  deferred?: { name: string; load(tool: BpfTool): void };
}

export interface OpenOptions {
  /** Globals (`const volatile` config) to set before load. */
  globals?: Record<string, GlobalValue>;
  /** Map sizes to set before load. */
  maxEntries?: Record<string, number>;
  /** Runs after load and before attach: fill filter maps so no event slips through unfiltered. */
  prepare?: (tool: BpfTool) => void;
  verbose?: boolean;
}

/** What was tried before the chosen hook, for --verbose and doctor. */
export interface HookFailure {
  hook: string;
  error: string;
}

export class BpfTool {
  private hookName: string;
  readonly failures: HookFailure[];
  private readonly obj: NativeBpfObject;
  /** Second instances of the object, sharing its maps, that hold programs added by addTailCall. */
  private readonly extras: NativeBpfObject[] = [];
  private links: number[] = [];
  private closed = false;

  private constructor(
    obj: NativeBpfObject,
    private readonly path: string,
    hook: string,
    failures: HookFailure[],
    private deferred: HookChoice['deferred'],
  ) {
    this.obj = obj;
    this.hookName = hook;
    this.failures = failures;
  }

  /** The hook in use: the chosen HookChoice's name, and its deferred part's once loaded. */
  get hook(): string {
    return this.hookName;
  }

  /**
   * Loads the chosen hook's deferred part (HookChoice.deferred), if it has one and it is not in
   * yet. Returns why the kernel refused it (the tool goes on without it), or undefined.
   */
  loadDeferred(): string | undefined {
    const part = this.deferred;
    if (!part) return undefined;
    this.deferred = undefined;
    try {
      part.load(this);
      this.hookName += `, ${part.name}`;
      return undefined;
    } catch (err) {
      return messageOf(err);
    }
  }

  /**
   * Opens bpf/<tool>.bpf.o and tries each hook of `chain` in order, on a fresh copy of the object
   * each time (a failed load cannot be retried on the same object). The first that loads and
   * attaches wins; if none does, throws a UserError naming each failure.
   */
  static open(tool: string, chain: HookChoice[], options: OpenOptions = {}): BpfTool {
    const path = bpfObjectPath(tool);
    if (!existsSync(path)) throw new UserError(`BPF object ${path} is missing: run \`npm run build:bpf\` (needs clang)`);
    for (const [map, n] of Object.entries(options.maxEntries ?? {})) {
      if (!Number.isInteger(n) || n < 1 || n > MAX_ENTRIES_LIMIT) {
        throw new UserError(`${tool}: map '${map}' cannot have ${n} entries (a BPF map holds 1 to ${MAX_ENTRIES_LIMIT}): choose a smaller storage size`);
      }
    }
    const addon = native();
    addon.setLogLevel(options.verbose ? 1 : 0);
    const failures: HookFailure[] = [];
    const mapSizeFailures: string[] = [];
    const configured = (choice: HookChoice): NativeBpfObject => {
      const obj = new addon.BpfObject(path);
      openObjects.add(obj);
      for (const prog of obj.programs()) obj.setAutoload(prog.name, choice.programs.includes(prog.name));
      for (const [name, value] of Object.entries({ ...options.globals, ...choice.globals })) obj.setGlobal(name, encodeGlobal(value));
      for (const [name, entries] of Object.entries(options.maxEntries ?? {})) obj.setMaxEntries(name, entries);
      return obj;
    };
    for (const choice of chain) {
      let obj: NativeBpfObject | undefined;
      try {
        obj = configured(choice);
        // In the kernel first: libbpf would otherwise parse the kernel's BTF here (~13 ms of CPU,
        // most of a histogram tool's start-up). Where that cannot be, libbpf's load, which also
        // says why a program is refused.
        const inKernel = obj.loadInKernel();
        if (inKernel === 'spent') {
          obj.close();
          openObjects.delete(obj);
          obj = configured(choice);
        }
        try {
          if (inKernel !== 'loaded') obj.load();
        } catch (err) {
          const errno = errnoOf(err);
          if (errno === ENOMEM || errno === E2BIG) mapSizeFailures.push(messageOf(err).replace(/^.*load failed(?: \(program '[^']*'\))?: /, ''));
          throw err;
        }
        const tool = new BpfTool(obj, path, choice.name, failures, choice.deferred);
        options.prepare?.(tool);
        tool.links = choice.attach(obj);
        return tool;
      } catch (err) {
        failures.push({ hook: choice.name, error: messageOf(err) });
        if (obj) {
          obj.close();
          openObjects.delete(obj);
        }
        if (err instanceof UserError) throw err;
      }
    }
    const log = addon.takeLog().trim();
    // Maps are created before programs load: when every hook failed there, the sizes asked for
    // (--stack-storage-size and the like) are what the kernel refused, not the hooks.
    const sizes = options.maxEntries ?? {};
    if (Object.keys(sizes).length > 0 && mapSizeFailures.length === failures.length && failures.length > 0) {
      throw new UserError(
        `${tool}: the kernel cannot create its maps at the sizes asked for (${describeSizes(sizes)} entries): ${mapSizeFailures[0]}; choose smaller storage sizes`,
      );
    }
    const detail = failures.map((f) => `${f.hook}: ${f.error}`).join('; ');
    throw new UserError(
      `${tool}: no way to attach on this kernel (${detail})` + (options.verbose && log ? `\nlibbpf log:\n${log}` : ''),
    );
  }

  /**
   * Loads `program` from a second instance of this tool's object that shares every map of this
   * one, and stores it at `index` of program array `progArray`, which the attached programs tail
   * call: a program whose verification takes long starts serving once it is ready, without
   * delaying the attach (and the first event). Throws (the tool goes on as it was) when the
   * kernel refuses it.
   */
  addTailCall(progArray: string, index: number, program: string): void {
    const extra = new (native().BpfObject)(this.path);
    openObjects.add(extra);
    try {
      for (const prog of extra.programs()) extra.setAutoload(prog.name, prog.name === program);
      extra.shareMaps(this.obj);
      extra.load();
      const key = Buffer.alloc(4);
      key.writeUInt32LE(index);
      const fd = Buffer.alloc(4);
      fd.writeUInt32LE(extra.programFd(program));
      this.obj.mapUpdate(progArray, key, fd);
      this.extras.push(extra);
    } catch (err) {
      extra.close();
      openObjects.delete(extra);
      throw err;
    }
  }

  /** Stops the events (detaches every link) while keeping the maps readable. */
  detach(): void {
    for (const link of this.links) this.obj.detach(link);
    this.links = [];
  }

  entries(map: string): MapEntries {
    return this.obj.mapEntries(map);
  }

  /** The records now in a ring buffer map (up to about `maxBytes`), each as the BPF side wrote it (see NativeBpfObject.ringConsume). */
  ringConsume(map: string, maxBytes?: number): Buffer {
    return maxBytes === undefined ? this.obj.ringConsume(map) : this.obj.ringConsume(map, maxBytes);
  }

  lookup(map: string, key: Buffer): Buffer | null {
    return this.obj.mapLookup(map, key);
  }

  update(map: string, key: Buffer, value: Buffer): void {
    this.obj.mapUpdate(map, key, value);
  }

  /** Stores many entries (keys and values laid end to end) in one system call; returns how many were stored. */
  updateBatch(map: string, keys: Buffer, values: Buffer): number {
    return this.obj.mapUpdateBatch(map, keys, values);
  }

  /** Fills a set map (u32 key -> u8 1), such as a tool's target_tgids/target_tids filter. */
  fillIdSet(map: string, ids: readonly number[]): void {
    const one = Buffer.from([1]);
    for (const id of ids) {
      const key = Buffer.alloc(4);
      key.writeUInt32LE(id);
      this.update(map, key, one);
    }
  }

  clear(map: string): number {
    return this.obj.mapClear(map);
  }

  /** Per-CPU array of u64 counters: the sum over CPUs of each slot. */
  perCpuCounters(map: string, slots: number): number[] {
    const ncpu = native().numPossibleCpus();
    const out: number[] = [];
    const key = Buffer.alloc(4);
    for (let slot = 0; slot < slots; slot++) {
      key.writeUInt32LE(slot);
      const value = this.obj.mapLookup(map, key);
      let sum = 0n;
      if (value) for (let cpu = 0; cpu < ncpu; cpu++) sum += value.readBigUInt64LE(cpu * 8);
      out.push(Number(sum));
    }
    return out;
  }

  /** Detaches and frees everything; safe to call more than once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.links = [];
    for (const obj of [this.obj, ...this.extras]) {
      obj.close();
      openObjects.delete(obj);
    }
  }
}

/** Iterates fixed-size records of a MapEntries as (key, value) views without copying. */
export function* records(entries: MapEntries): Generator<[Buffer, Buffer]> {
  for (let i = 0; i < entries.count; i++) {
    yield [
      entries.keys.subarray(i * entries.keySize, (i + 1) * entries.keySize),
      entries.values.subarray(i * entries.valueSize, (i + 1) * entries.valueSize),
    ];
  }
}
