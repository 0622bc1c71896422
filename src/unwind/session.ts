// What cpuprofile and offcpu share for --unwind: the option, the ring buffer size, and the
// collection session that runs beside the BPF program (drain, unwind, aggregate, and for auto
// mode tell the kernel which processes keep frame pointers).
import type { BpfTool } from '../bpf/object.js';
import type { RawStack, StackTraceReader } from '../bpf/stacks.js';
import type { Symbolizer } from '../symbolize/index.js';
import { processKeepsFramePointers } from './census.js';
import { RingPump, StackCopyCollector, truncationWarning } from './collector.js';
import { LearnedStackReader, RuleTeacher, type LearnedStack } from './learned.js';
import { Unwinder } from './unwinder.js';

export { parseUnwindMode, ringBytes, stackCopySupported, UNWIND_MODES, UNWIND_OPTION_HELP, type UnwindMode } from './mode.js';

/** The user-space side of a tool run with stack copies. */
export class CopySession {
  readonly collector: StackCopyCollector;
  readonly unwinder: Unwinder;
  private readonly teacher: RuleTeacher;
  private learned: LearnedStackReader | undefined;
  private pump: RingPump | undefined;
  private readonly fpProcesses = new Set<number>();

  constructor(
    private readonly tool: BpfTool,
    private readonly symbolizer: Symbolizer,
    kind: 'cpu' | 'offcpu',
    private readonly mode: 'dwarf' | 'auto',
  ) {
    // Every rule compiled while unwinding a copy is offered to the kernel, which walks the
    // stacks it has rules for by itself from then on (learned.ts).
    this.teacher = new RuleTeacher(tool);
    this.unwinder = new Unwinder(
      { codeAt: (pid, addr) => symbolizer.codeAt(pid, addr), mapsKnown: (pid) => symbolizer.mapsKnown(pid) },
      { onRule: (pid, pc, rule) => this.teacher.learn(pid, pc, rule) },
    );
    this.collector = new StackCopyCollector(kind, this.unwinder, mode === 'auto' ? (pid) => this.classify(pid) : undefined);
  }

  /**
   * Starts draining the ring; in auto mode, decides for the processes named on the command line
   * right after the first drain: the first copies teach the kernel their rules, and until then a
   * context-switch storm fills the ring, so they come before the frame-pointer census (~20 ms).
   */
  start(targets: readonly number[]): void {
    this.pump = new RingPump(this.tool, 'stack_copies', this.collector, () => {
      if (this.mode === 'auto') for (const pid of targets) this.classify(pid);
    });
  }

  /** Stops and drains what is left (call after detaching the programs). */
  stop(): void {
    this.pump?.stop();
    this.pump = undefined;
  }

  /** auto: a process whose code all keeps frame pointers is walked by the kernel from now on. */
  private classify(pid: number): void {
    try {
      if (!processKeepsFramePointers(this.symbolizer.executableCode(pid))) return;
      const key = Buffer.alloc(4);
      key.writeUInt32LE(pid);
      this.tool.update('fp_tgids', key, Buffer.from([1]));
      this.fpProcesses.add(pid);
    } catch {
      // the process is gone or its map is full: it stays on the copy path
    }
  }

  rawStacks(traces: StackTraceReader): RawStack[] {
    return this.collector.rawStacks(traces);
  }

  /** A user stack the kernel walked by learned rules (read before the tool closes). */
  learnedStack(hash: bigint): LearnedStack | undefined {
    this.learned ??= new LearnedStackReader(this.tool);
    return this.learned.get(hash);
  }

  /** Warnings about the user stacks of the profile: `stacks` is all of it, copied or walked by the kernel. */
  warnings(what: 'samples' | 'blocks', stacks: readonly RawStack[]): string[] {
    const w = truncationWarning(stacks, what);
    if (this.collector.stats.unmatchedDeltas) w.push(`${this.collector.stats.unmatchedDeltas} blocks arrived without their stack copy and were dropped`);
    return w;
  }

  /** One line for --verbose; `unwound`: samples or blocks the kernel walked by learned rules. */
  describe(unwound: number): string {
    const c = this.collector.stats;
    const u = this.unwinder.stats;
    const t = this.teacher.stats;
    const failed = this.teacher.firstError;
    return (
      `${c.records} stack copies (${(c.stackBytes / 1024 / 1024).toFixed(1)} MiB), ${u.frames} frames unwound in ${c.unwindMs.toFixed(0)} ms, ` +
      `${this.collector.size} distinct stacks; ${unwound} walked in the kernel by ${t.taught} learned rules (${t.unfit} not learnable` +
      (t.failed ? `, ${t.failed} not stored: ${failed instanceof Error ? failed.message : String(failed)}` : '') +
      ')' +
      (this.mode === 'auto' ? `, ${this.fpProcesses.size} process(es) walked by frame pointers` : '')
    );
  }
}
