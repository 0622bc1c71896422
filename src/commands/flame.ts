// `ebpf-otel flame`: a flame graph a person can open, search and share. Reads folded stacks (a
// file, standard input, or BEFORE and AFTER with --diff), streamed into a call tree, or records
// them first (`flame cpu`, with cpuprofile's options), then writes one self-contained HTML page
// and/or speedscope's JSON format.
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type { Readable } from 'node:stream';
import { Command } from 'commander';
import type { StackProfile } from '../aggregate/model.js';
import { runCpuprofile, cpuprofileCommand, cpuprofileConfig, type CpuprofileFlags } from './cpuprofile.js';
import { addOffcpuOptions, runOffcpu, toOffcpuConfig, type OffcpuFlags } from './offcpu.js';
import { seconds } from './options.js';
import { readFoldedStream, MalformedFoldedLine } from '../render/flame-input.js';
import { diffTrees, treeFromProfile, treeStats, type FlameTree } from '../render/flame-tree.js';
import { renderFlameHtml, type FlameHtmlOptions } from '../render/flame-html.js';
import { renderSpeedscope, speedscopeJson, type SpeedscopeProfileInput } from '../render/speedscope.js';
import { formatDurationNs } from '../render/format.js';
import { sanitizeTerminal } from '../render/sanitize.js';
import { UserError, messageOf } from '../util/errors.js';
import { checkOutputPath, fsReason, saveAside, writeOutputFile } from '../util/files.js';
import { packageVersion } from '../util/paths.js';
import { stderr, stdout } from '../util/stdio.js';

/** Options every flame variant takes: where the output goes and how the page starts. */
export interface FlameRenderFlags {
  output?: string;
  speedscope?: string;
  title?: string;
  inverted?: boolean;
}

interface FoldedFlags extends FlameRenderFlags {
  diff?: boolean;
  normalize?: boolean;
  strict?: boolean;
  countname?: string;
}

/** Where each output goes: a path, `-` for standard output, or nowhere (undefined). */
export interface FlameTargets {
  html?: string;
  speedscope?: string;
}

/** Malformed lines printed one by one before the rest are only counted. */
const MAX_REPORTED = 20;

function addRenderOptions(cmd: Command): Command {
  return cmd
    .option('-o, --output <file>', 'write the HTML page to FILE ("-" or default: standard output, unless only --speedscope is given)')
    .option('--speedscope <file>', 'write speedscope JSON to FILE ("-": standard output); without -o, no HTML is written')
    .option('--title <text>', 'page title')
    .option('--inverted', 'open as an icicle graph (root at the top); the page can switch either way');
}

const EXAMPLES = `
Examples:
  ebpf-otel cpuprofile -p 1234 -f 10 > cpu.folded
  ebpf-otel flame cpu.folded -o cpu.html             # open cpu.html in a browser
  perf script | stackcollapse-perf.pl | ebpf-otel flame > perf.html
  ebpf-otel flame cpu -p 1234 -F 99 10 -o cpu.html   # record and draw in one go
  ebpf-otel flame --diff before.folded after.folded --normalize -o diff.html
  ebpf-otel flame cpu.folded --speedscope cpu.speedscope.json`;

export function flameCommand(): Command {
  const cmd = new Command('flame')
    .description('draw folded stacks as an interactive flame graph (one self-contained HTML file), or record and draw: flame cpu')
    .argument('[files...]', 'folded stacks to read (default: standard input, also "-"); with --diff: BEFORE AFTER')
    .option('--diff', 'differential flame graph of BEFORE and AFTER: widths from AFTER, red grew, blue shrank')
    .option('--normalize', 'with --diff: scale BEFORE to the total of AFTER before comparing')
    .option('--strict', 'fail on the first malformed input line (default: report it with its line number and skip it)')
    .option('--countname <name>', 'what the counts are: samples (default), ns, us, ms, s, bytes or any label');
  addRenderOptions(cmd);
  cmd.addHelpText('after', EXAMPLES);
  cmd.action(async (files: string[], flags: FoldedFlags) => {
    await runFlameFolded(files, flags);
  });
  for (const recorder of FLAME_RECORDERS) cmd.addCommand(recorderCommand(recorder));
  return cmd;
}

// ---------------------------------------------------------------------------------------------
// Folded input

interface FoldedInput {
  /** Path, or undefined for standard input. */
  path?: string;
  /** How messages name it. */
  label: string;
}

/** The folded recipe: check the targets, stream each input into a tree, diff if asked, write. */
export async function runFlameFolded(files: string[], flags: FoldedFlags): Promise<void> {
  const inputs = foldedInputs(files, Boolean(flags.diff));
  if (flags.normalize && !flags.diff) throw new UserError('--normalize applies to --diff only');
  const targets = flameTargets(flags);
  const trees: FlameTree[] = [];
  for (const input of inputs) trees.push(await readFoldedInput(input, flags));
  const inverted = Boolean(flags.inverted);

  if (!flags.diff) {
    const [input, tree] = [inputs[0]!, trees[0]!];
    await writeFlame(targets, tree, [{ name: input.label, tree }], { title: flags.title ?? 'Flame graph', subtitle: input.label, inverted });
    return;
  }
  const [before, after] = [trees[0]!, trees[1]!];
  const [beforeLabel, afterLabel] = [inputs[0]!.label, inputs[1]!.label];
  const tree = diffTrees(before, after, { normalize: Boolean(flags.normalize) });
  const profiles = [
    { name: `before: ${beforeLabel}`, tree: before },
    { name: `after: ${afterLabel}`, tree: after },
  ];
  const page = { title: flags.title ?? 'Differential flame graph', subtitle: `before: ${beforeLabel}, after: ${afterLabel}`, inverted };
  await writeFlame(targets, tree, profiles, page, 1);
}

function foldedInputs(files: string[], diff: boolean): FoldedInput[] {
  if (diff && files.length !== 2) throw new UserError(`--diff needs two folded files, BEFORE and AFTER (got ${files.length})`);
  if (!diff && files.length > 1) throw new UserError(`one input at a time (got ${files.length}); to compare two, use --diff BEFORE AFTER`);
  const names = files.length === 0 ? ['-'] : files;
  if (names.filter((f) => f === '-').length > 1) throw new UserError('standard input ("-") can be read only once');
  const inputs = names.map((f): FoldedInput => (f === '-' ? { label: 'standard input' } : { path: f, label: sanitizeTerminal(f) }));
  if (inputs.some((i) => i.path === undefined) && process.stdin.isTTY) {
    throw new UserError('no input: give a folded-stacks FILE, or pipe folded stacks into standard input');
  }
  return inputs;
}

async function openInput(input: FoldedInput): Promise<Readable> {
  if (input.path === undefined) return process.stdin;
  try {
    const handle = await open(input.path, 'r');
    return handle.createReadStream();
  } catch (err) {
    throw new UserError(`cannot read ${input.label}: ${ioReason(err)}`);
  }
}

function ioReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory';
  return messageOf(err);
}

async function readFoldedInput(input: FoldedInput, flags: FoldedFlags): Promise<FlameTree> {
  const stream = await openInput(input);
  let reported = 0;
  let result;
  try {
    result = await readFoldedStream(stream, {
      strict: Boolean(flags.strict),
      countName: flags.countname ?? 'samples',
      onMalformed: (e) => {
        if (++reported <= MAX_REPORTED) stderr.write(`warning: ${input.label}:${e.line}: malformed line skipped (${e.reason}): ${e.text}\n`);
      },
    });
  } catch (err) {
    if (err instanceof MalformedFoldedLine) {
      const e = err.detail;
      throw new UserError(`${input.label}:${e.line}: malformed line (${e.reason}): ${e.text}`);
    }
    if ((err as NodeJS.ErrnoException | undefined)?.code !== undefined) throw new UserError(`cannot read ${input.label}: ${ioReason(err)}`);
    throw err;
  }
  if (result.malformed > MAX_REPORTED) {
    stderr.write(`warning: ${input.label}: ${result.malformed - MAX_REPORTED} more malformed lines skipped (${result.malformed} in all)\n`);
  }
  if (result.records === 0) {
    throw new UserError(
      result.malformed > 0
        ? `${input.label}: no valid folded stacks (${result.malformed} malformed lines)`
        : `${input.label}: no folded stacks: the input is empty`,
    );
  }
  if (result.tree.root.value === 0) throw new UserError(`${input.label}: every stack has a count of 0: nothing to draw`);
  return result.tree;
}

// ---------------------------------------------------------------------------------------------
// Output

/**
 * Where the outputs go, checked before any input is read or any profile recorded: a file that
 * cannot be written (missing or read-only directory, a symbolic link as root, a directory) fails
 * now, not after a recording.
 */
export function flameTargets(flags: FlameRenderFlags): FlameTargets {
  const html = flags.output ?? (flags.speedscope === undefined ? '-' : undefined);
  const speedscope = flags.speedscope;
  if (html === '-' && speedscope === '-') throw new UserError('the HTML page and --speedscope cannot both go to standard output: give -o FILE');
  if (html !== undefined && html !== '-' && html === speedscope) throw new UserError(`-o and --speedscope name the same file: ${sanitizeTerminal(html)}`);
  for (const [target, what] of [[html, 'the HTML page'], [speedscope, 'speedscope JSON']] as const) {
    if (target === '-' && stdout.isTTY) {
      throw new UserError(`not writing ${what} to a terminal: use ${what === 'the HTML page' ? '-o FILE' : '--speedscope FILE'} or redirect standard output`);
    }
  }
  if (html !== undefined && html !== '-') checkOutputPath(html, 'the flame graph');
  if (speedscope !== undefined && speedscope !== '-') checkOutputPath(speedscope, 'speedscope JSON');
  const t: FlameTargets = {};
  if (html !== undefined) t.html = html;
  if (speedscope !== undefined) t.speedscope = speedscope;
  return t;
}

function exporter(): string {
  const version = packageVersion();
  return version ? `ebpf-otel ${version}` : 'ebpf-otel';
}

/** Writes one output: standard output (its failures are util/stdio.ts's), or a file (util/files.ts). */
function writeTarget(target: string, text: string, what: string): void {
  if (target === '-') {
    stdout.write(text);
    return;
  }
  writeOutputFile(target, text, what);
  stderr.write(`wrote ${what} to ${sanitizeTerminal(target)}\n`);
}

/**
 * Render and write: the page from `tree`, speedscope from `profiles` (one speedscope profile
 * each; `activeProfile` is the one speedscope shows first). With `keep` (a recorded profile,
 * which exists nowhere else), an output that cannot be written where asked is saved in the
 * temporary directory and the error says where; the other output is still written.
 */
export async function writeFlame(
  targets: FlameTargets,
  tree: FlameTree,
  profiles: readonly SpeedscopeProfileInput[],
  page: FlameHtmlOptions,
  activeProfile = 0,
  keep = false,
): Promise<void> {
  const failures: string[] = [];
  const write = (target: string, render: () => string, what: string, ext: string) => {
    const text = render();
    try {
      writeTarget(target, text, what);
    } catch (err) {
      if (!keep || !(err instanceof UserError)) throw err;
      try {
        failures.push(`${err.message}; saved to ${saveAside(text, 'ebpf-otel-flame', ext)} instead`);
      } catch (saveErr) {
        failures.push(`${err.message}, nor saved in ${tmpdir()} (${fsReason(saveErr)})`);
      }
    }
  };
  if (targets.html !== undefined) write(targets.html, () => renderFlameHtml(tree, page), 'the flame graph', '.html');
  if (targets.speedscope !== undefined) {
    const render = () => speedscopeJson(renderSpeedscope(profiles, { name: page.title, activeProfileIndex: activeProfile, exporter: exporter() }));
    write(targets.speedscope, render, 'speedscope JSON', '.speedscope.json');
  }
  if (failures.length) throw new UserError(failures.join('; '));
}

/** Draw a recorded profile (on-CPU samples, or off-CPU nanoseconds) to the targets. */
export async function writeProfileFlame(targets: FlameTargets, profile: StackProfile, page: FlameHtmlOptions): Promise<void> {
  const tree = treeFromProfile(profile);
  if (tree.root.value === 0 || treeStats(tree).frames === 0) throw new UserError('no stacks were recorded: nothing to draw (is the target busy? try a longer duration)');
  await writeFlame(targets, tree, [{ name: page.title, tree }], page, 0, true);
}

// ---------------------------------------------------------------------------------------------
// Recording: `flame cpu` (and `flame offcpu` once that tool exists) reuse a profiler's options
// and pipeline, then draw its StackProfile.

/**
 * A profiler that `flame` can run. Its options must not reuse a `flame` option name: commander
 * lets `flame` parse its own options anywhere on the line, also after `flame cpu`.
 */
export interface FlameRecorder {
  /** Subcommand name: `cpu`. */
  name: string;
  description: string;
  /** Add the profiler's own arguments and options to the subcommand. */
  configure(cmd: Command): void;
  /** Record with what commander parsed on the subcommand; resolves to the profile (printing nothing). */
  record(cmd: Command, verbose: boolean): Promise<StackProfile>;
  /** Title and subtitle of the page for a profile. */
  describe(profile: StackProfile, cmd: Command): { title: string; subtitle: string };
}

/** Copy options (by long name) and the positional arguments of a profiler's own command, so both stay in step. */
export function copyProfilerOptions(from: Command, to: Command, longs: readonly string[]): void {
  for (const arg of from.registeredArguments) to.addArgument(arg);
  for (const long of longs) {
    const option = from.options.find((o) => o.long === long);
    if (!option) throw new Error(`${from.name()} has no ${long} option`);
    to.addOption(option);
  }
}

function recorderCommand(recorder: FlameRecorder): Command {
  const sub = new Command(recorder.name).description(recorder.description);
  recorder.configure(sub);
  addRenderOptions(sub);
  sub.action(async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    const all = cmd.optsWithGlobals<FoldedFlags & { verbose?: boolean }>();
    for (const [key, flag] of [['diff', '--diff'], ['normalize', '--normalize'], ['strict', '--strict'], ['countname', '--countname']] as const) {
      if (all[key] !== undefined) throw new UserError(`${flag} applies to folded input, not to flame ${recorder.name}`);
    }
    const targets = flameTargets(all);
    const profile = await recorder.record(cmd, Boolean(all.verbose));
    for (const w of profile.warnings) stderr.write(`warning: ${sanitizeTerminal(w)}\n`);
    const page = recorder.describe(profile, cmd);
    await writeProfileFlame(targets, profile, {
      title: all.title ?? page.title,
      subtitle: page.subtitle,
      inverted: Boolean(all.inverted),
    });
  });
  return sub;
}

/** cpuprofile's collection options; its output options (-f, -d, --json, --top) do not apply here. */
const CPU_OPTIONS = [
  '--pid',
  '--tid',
  '--user-stacks-only',
  '--kernel-stacks-only',
  '--frequency',
  '--count',
  '--duration',
  '--include-idle',
  '--stack-storage-size',
  '--unwind',
] as const;

function windowText(profile: StackProfile): string {
  const start = new Date(Number(profile.startTimeNs / 1_000_000n)).toISOString().replace(/\.\d+Z$/, 'Z');
  return `${formatDurationNs(profile.endTimeNs - profile.startTimeNs)} from ${start}`;
}

export const cpuRecorder: FlameRecorder = {
  name: 'cpu',
  description: 'sample on-CPU stacks as `ebpf-otel cpuprofile` does (same options), then draw them',
  configure(cmd) {
    copyProfilerOptions(cpuprofileCommand(), cmd, CPU_OPTIONS);
  },
  async record(cmd, verbose) {
    const config = cpuprofileConfig(cmd.processedArgs[0] as number | undefined, cmd.opts<CpuprofileFlags>(), verbose);
    delete config.output; // flame draws the profile instead of printing it
    return runCpuprofile(config);
  },
  describe(profile, cmd) {
    const f = cmd.opts<CpuprofileFlags>();
    const target = f.pid?.length ? `PID ${f.pid.join(', ')}` : f.tid?.length ? `TID ${f.tid.join(', ')}` : 'all processes';
    const rate = profile.samplePeriod ? `every ${profile.samplePeriod} ns of CPU` : `${profile.frequencyHz ?? f.frequency} Hz`;
    return { title: 'CPU flame graph', subtitle: `on-CPU samples of ${target} at ${rate}, ${windowText(profile)}` };
  },
};

export const offcpuRecorder: FlameRecorder = {
  name: 'offcpu',
  description: 'trace off-CPU time by stack as `ebpf-otel offcpu` does (same options), then draw it',
  configure(cmd) {
    addOffcpuOptions(cmd.argument('[duration]', 'seconds to trace (default: until Ctrl-C)', seconds('duration')));
  },
  async record(cmd, verbose) {
    const config = toOffcpuConfig(cmd.processedArgs[0] as number | undefined, cmd.opts<OffcpuFlags>(), verbose);
    delete config.output; // flame draws the profile instead of printing it
    return runOffcpu(config);
  },
  describe(profile, cmd) {
    const f = cmd.opts<OffcpuFlags>();
    const target = f.pid?.length ? `PID ${f.pid.join(', ')}` : f.tid?.length ? `TID ${f.tid.join(', ')}` : 'all threads';
    return { title: 'Off-CPU flame graph', subtitle: `time blocked, by stack, of ${target}, ${windowText(profile)}` };
  },
};

/** `flame` subcommands that record first. */
export const FLAME_RECORDERS: readonly FlameRecorder[] = [cpuRecorder, offcpuRecorder];
