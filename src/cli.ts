// Entry point: one commander program, one subcommand per file in src/commands/.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { packageRoot } from './util/paths.js';
import { UserError, messageOf } from './util/errors.js';
import { closeAllObjects } from './bpf/object.js';
import { guardStandardStreams } from './util/stdio.js';
import { cpuprofileCommand } from './commands/cpuprofile.js';
import { doctorCommand } from './commands/doctor.js';
import { biolatencyCommand } from './commands/biolatency.js';
import { tcprttCommand } from './commands/tcprtt.js';
import { offcpuCommand } from './commands/offcpu.js';
import { flameCommand } from './commands/flame.js';

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

function program(): Command {
  return new Command('ebpf-otel')
    .description('BCC-style eBPF profiling tools with OpenTelemetry export')
    .version(packageVersion(), '-V, --version')
    .option('-v, --verbose', 'show libbpf messages and the hook each tool chose')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .addCommand(cpuprofileCommand())
    .addCommand(offcpuCommand())
    .addCommand(biolatencyCommand())
    .addCommand(tcprttCommand())
    .addCommand(flameCommand())
    .addCommand(doctorCommand());
}

export async function main(argv: string[]): Promise<void> {
  process.on('exit', closeAllObjects);
  guardStandardStreams();
  const verbose = argv.includes('-v') || argv.includes('--verbose');
  try {
    await program().parseAsync(argv);
  } catch (err) {
    closeAllObjects();
    if (err instanceof CommanderError) {
      // commander already printed its one-line message (or the help/version text)
      process.exitCode = err.exitCode;
      return;
    }
    if (err instanceof UserError) {
      process.stderr.write(`ebpf-otel: ${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    process.stderr.write(`ebpf-otel: internal error: ${messageOf(err)}\n`);
    if (verbose && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    process.exitCode = 2;
  }
}
