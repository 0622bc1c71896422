// Entry point: one commander program, one subcommand per file in src/commands/.
import { Command, CommanderError } from 'commander';
import { packageVersion } from './util/paths.js';
import { UserError, messageOf } from './util/errors.js';
import { closeAllObjects } from './bpf/object.js';
import { stderr, stdout } from './util/stdio.js';

/**
 * The one subcommand a command bundle holds: scripts/build.mjs bundles this file once for every
 * command (dist/bundle/commands/NAME.cjs, which bin/ebpf-otel.cjs runs for `ebpf-otel NAME`) with
 * this name defined, and once without it (every command: help, unknown words). Where it is
 * defined, the conditions below are constants and the bundler drops the other commands' modules:
 * V8 then deserializes a code cache for a script of ~200 KB instead of ~600 KB, ~3 ms less CPU at
 * every start (measured on biolatency). Undefined here, in tests and in the full bundle.
 */
declare const EBPF_OTEL_COMMAND: string | undefined;

/**
 * Each subcommand's module, loaded on demand: a run loads only the command it runs (start-up is
 * what stands between launch and the first sample); help and unknown commands load them all.
 * (Each condition is spelt out: the bundler folds `EBPF_OTEL_COMMAND === 'x'`, not a call.)
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  ...(typeof EBPF_OTEL_COMMAND !== 'string' || EBPF_OTEL_COMMAND === 'cpuprofile'
    ? { cpuprofile: async () => (await import('./commands/cpuprofile.js')).cpuprofileCommand() }
    : {}),
  ...(typeof EBPF_OTEL_COMMAND !== 'string' || EBPF_OTEL_COMMAND === 'offcpu' ? { offcpu: async () => (await import('./commands/offcpu.js')).offcpuCommand() } : {}),
  ...(typeof EBPF_OTEL_COMMAND !== 'string' || EBPF_OTEL_COMMAND === 'biolatency'
    ? { biolatency: async () => (await import('./commands/biolatency.js')).biolatencyCommand() }
    : {}),
  ...(typeof EBPF_OTEL_COMMAND !== 'string' || EBPF_OTEL_COMMAND === 'tcprtt' ? { tcprtt: async () => (await import('./commands/tcprtt.js')).tcprttCommand() } : {}),
  ...(typeof EBPF_OTEL_COMMAND !== 'string' || EBPF_OTEL_COMMAND === 'flame' ? { flame: async () => (await import('./commands/flame.js')).flameCommand() } : {}),
  ...(typeof EBPF_OTEL_COMMAND !== 'string' || EBPF_OTEL_COMMAND === 'doctor' ? { doctor: async () => (await import('./commands/doctor.js')).doctorCommand() } : {}),
};

/** The subcommands this program has (all of them, but in a command bundle). */
export function commandNames(): string[] {
  return Object.keys(COMMANDS);
}

/** The subcommand named on the command line: the first word that is not an option (no program option takes a value). */
function requestedCommand(argv: string[]): string | undefined {
  return argv.slice(2).find((a) => !a.startsWith('-'));
}

/** Help and usage errors go out as every other line does (util/stdio.ts), with its failure handling. */
function configureOutput(command: Command): Command {
  return command.configureOutput({
    writeOut: (text) => void stdout.write(text),
    writeErr: (text) => void stderr.write(text),
    getOutHelpWidth: () => stdout.columns ?? 80,
    getErrHelpWidth: () => stderr.columns ?? 80,
  });
}

async function program(argv: string[]): Promise<Command> {
  const program = new Command('ebpf-otel')
    .description('BCC-style eBPF profiling tools with OpenTelemetry export')
    .version(packageVersion() ?? 'unknown', '-V, --version')
    .option('-v, --verbose', 'show libbpf messages and the hook each tool chose')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  configureOutput(program);
  const wanted = requestedCommand(argv);
  const names = wanted !== undefined && wanted in COMMANDS ? [wanted] : Object.keys(COMMANDS);
  for (const command of await Promise.all(names.map((name) => COMMANDS[name]!()))) program.addCommand(configureOutput(command));
  return program;
}

export async function main(argv: string[]): Promise<void> {
  process.on('exit', closeAllObjects);
  const verbose = argv.includes('-v') || argv.includes('--verbose');
  try {
    await (await program(argv)).parseAsync(argv);
  } catch (err) {
    closeAllObjects();
    if (err instanceof CommanderError) {
      // commander already printed its one-line message (or the help/version text)
      process.exitCode = err.exitCode;
      return;
    }
    if (err instanceof UserError) {
      stderr.write(`ebpf-otel: ${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    stderr.write(`ebpf-otel: internal error: ${messageOf(err)}\n`);
    if (verbose && err instanceof Error && err.stack) stderr.write(`${err.stack}\n`);
    process.exitCode = 2;
  }
}
