// Malformed options for every subcommand (the cases the per-tool tests do not already have):
// each is one line on stderr (commander may add its `--help` hint), a non-zero exit, nothing on
// stdout, no stack trace, and nothing loaded into the kernel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { requireRoot } from '../helpers.js';
import { checkProcesses, checkThreads, tgidOf } from '../../src/util/targets.js';
import { UserError } from '../../src/util/errors.js';
import { assertNoStackTrace, startCli } from './support.js';

const CASES: [string[], RegExp][] = [
  // cpuprofile
  [['cpuprofile', '-F', '0', '1'], /frequency must be a positive integer, got '0'/],
  [['cpuprofile', '-F', '200000', '1'], /frequency 200000 Hz is too high \(at most 100000\)/],
  [['cpuprofile', '-F'], /option '-F, --frequency <hz>' argument missing/],
  [['cpuprofile', '-c', 'abc', '1'], /count must be a positive integer, got 'abc'/],
  [['cpuprofile', '--top', '0', '1'], /top must be a positive integer, got '0'/],
  [['cpuprofile', '--stack-storage-size', '-1', '1'], /stack storage size must be a positive integer, got '-1'/],
  [['cpuprofile', '-f', '--json', '1'], /choose one of --folded and --json/],
  [['cpuprofile', '1', '--duration', '2'], /two different durations given \(1 and --duration 2\)/],
  [['cpuprofile', '--duration', '1e3'], /duration must be a positive number of seconds, got '1e3'/],
  [['cpuprofile', '-p', '', '1'], /PID needs at least one id/],
  [['cpuprofile', '-p', '1.5', '1'], /PID must be a positive integer, got '1.5'/],
  [['cpuprofile', '-L', '0', '1'], /TID must be a positive integer, got '0'/],
  [['cpuprofile', '--otlp', 'ftp://collector', '1'], /--otlp: unsupported scheme "ftp:"/],
  [['cpuprofile', '1', '2'], /too many arguments for 'cpuprofile'/],
  // offcpu
  [['offcpu', '--thread-storage-size', '0', '1'], /thread storage size must be a positive integer, got '0'/],
  [['offcpu', '--count-storage-size', 'abc', '1'], /count storage size must be a positive integer, got 'abc'/],
  [['offcpu', '--top', '0', '1'], /top must be a positive integer, got '0'/],
  [['offcpu', '-p', '1,,x', '1'], /PID must be a positive integer, got 'x'/],
  [['offcpu', '--duration', '0'], /duration must be a positive number of seconds, got '0'/],
  [['offcpu', '--stacks', '--json', '1'], /cannot be used with/],
  [['offcpu', '1', '2'], /too many arguments for 'offcpu'/],
  // biolatency
  [['biolatency', '--duration', '0'], /duration must be a positive number of seconds, got '0'/],
  [['biolatency', '1', '0'], /count must be a positive integer, got '0'/],
  [['biolatency', '1', '2', '3'], /too many arguments for 'biolatency'/],
  [['biolatency', '--disk', '/dev/', '1'], /no block device named ''/],
  [['biolatency', '--otlp', 'http://[', '1'], /--otlp/],
  [['biolatency', '--bogus'], /unknown option '--bogus'/],
  // tcprtt
  [['tcprtt', '-d', '0'], /duration must be a positive number of seconds, got '0'/],
  [['tcprtt', '-i', '0'], /interval must be a positive number of seconds, got '0'/],
  [['tcprtt', '-P', 'abc'], /remote port must be a port number \(1-65535\), got 'abc'/],
  [['tcprtt', '-p', '65536'], /local port must be a port number \(1-65535\), got '65536'/],
  [['tcprtt', '-a', '1.2.3'], /local address must be an IPv4 or IPv6 address, got '1.2.3'/],
  [['tcprtt', '-A', ''], /remote address must be an IPv4 or IPv6 address, got ''/],
  [['tcprtt', 'extra'], /too many arguments for 'tcprtt'/],
  [['tcprtt', '--hook', 'kprobe2', '-d', '1'], /unknown hook 'kprobe2'/],
  // flame
  [['flame', '--title'], /option '--title <text>' argument missing/],
  [['flame', '-o'], /option '-o, --output <file>' argument missing/],
  [['flame', '--countname'], /option '--countname <name>' argument missing/],
  [['flame', '--bogus'], /unknown option '--bogus'/],
  [['flame', '/'], /cannot read \/: is a directory/],
  [['flame', 'cpu', '-F', 'abc'], /frequency must be a positive integer, got 'abc'/],
  [['flame', 'cpu', '-f', '1'], /unknown option '-f'/],
  [['flame', 'cpu', '1', '2'], /too many arguments for 'cpu'/],
  [['flame', 'cpu', '--normalize', '1'], /--normalize applies to folded input, not to flame cpu/],
  // doctor
  [['doctor', 'extra'], /too many arguments for 'doctor'/],
  [['doctor', '--bogus'], /unknown option '--bogus'/],
  // the program itself
  [['bogus'], /unknown command 'bogus'/],
  [['--bogus'], /unknown option '--bogus'/],
];

async function checkCases(cases: [string[], RegExp][]): Promise<void> {
  const failures: string[] = [];
  // A few at a time: each is a short-lived process.
  for (let i = 0; i < cases.length; i += 4) {
    await Promise.all(
      cases.slice(i, i + 4).map(async ([args, re]) => {
        const run = startCli(args);
        const r = await run.done;
        const what = args.map((a) => (a === '' ? "''" : a)).join(' ');
        try {
          assert.equal(r.status, 1, `status ${r.status}`);
          assert.equal(r.stdout, '', 'nothing on stdout');
          const lines = r.stderr.trimEnd().split('\n');
          assert.match(lines[0]!, /^(error|ebpf-otel): /, 'one line, the tool or commander speaking');
          assert.match(lines[0]!, re);
          assert.ok(lines.length === 1 || (lines.length === 2 && lines[1] === '(run with --help for usage)'), 'one line');
          assertNoStackTrace(r.stderr, what);
          assert.equal(run.seen.progs.size + run.seen.maps.size, 0, 'nothing loaded');
        } catch (err) {
          failures.push(`${what}: ${(err as Error).message.split('\n')[0]}\n    stderr: ${JSON.stringify(r.stderr)}`);
        }
      }),
    );
  }
  assert.deepEqual(failures, [], failures.join('\n'));
}

const SUBCOMMANDS = ['cpuprofile', 'offcpu', 'biolatency', 'tcprtt', 'flame', 'doctor'];

for (const sub of [...SUBCOMMANDS, 'the program itself']) {
  test(`malformed options: ${sub}: one line, non-zero exit, nothing loaded`, async (t) => {
    if (!requireRoot(t)) return;
    await checkCases(CASES.filter(([args]) => (SUBCOMMANDS.includes(args[0]!) ? args[0] === sub : sub === 'the program itself')));
  });
}

test('target checks: a thread id is not a process id, and says which process it belongs to', () => {
  assert.equal(tgidOf(process.pid), process.pid);
  assert.equal(tgidOf(999_999_999), undefined);
  assert.doesNotThrow(() => checkProcesses([process.pid], '-L'));
  assert.doesNotThrow(() => checkThreads([process.pid]));
  assert.throws(() => checkProcesses([999_999_999], '-L'), (e: unknown) => e instanceof UserError && e.message === 'no process with PID 999999999');
  assert.throws(() => checkThreads([999_999_999]), (e: unknown) => e instanceof UserError && e.message === 'no thread with TID 999999999');
  // This test process has threads besides the main one (libuv, V8).
  const tid = readdirSync(`/proc/${process.pid}/task`).map(Number).find((id) => id !== process.pid);
  assert.ok(tid, 'a second thread');
  assert.equal(tgidOf(tid), process.pid);
  assert.doesNotThrow(() => checkThreads([tid]));
  assert.throws(
    () => checkProcesses([tid], '-t'),
    (e: unknown) => e instanceof UserError && e.message === `${tid} is a thread of process ${process.pid}, not a process: use -t ${tid} for that thread, or -p ${process.pid}`,
  );
});
