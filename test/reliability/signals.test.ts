// SIGINT and SIGTERM at every phase of every collecting tool: while it loads its BPF object,
// while it collects, while it prints (a big output to a reader that stopped reading), while it
// exports (to an OTLP receiver that never answers). Each run must end in a defined way and
// leave no BPF program, link or map of its own in the kernel.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { constants } from 'node:os';
import { requireRoot, sleep } from '../helpers.js';
import { decodeMetricsRequest, decodeProfilesRequest, startReceiver } from '../otlp/receiver.js';
import {
  assertNoStackTrace,
  assertReleased,
  heldBy,
  lastLine,
  manystacksPath,
  ourPrograms,
  spinUntilLoading,
  startCli,
  until,
  type JsonProfile,
  type Run,
  type RunResult,
} from './support.js';

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;
type Sig = (typeof SIGNALS)[number];
const exitCodeOf = (sig: Sig) => 128 + constants.signals[sig];

interface ToolCase {
  name: string;
  /** Arguments for a run that collects until stopped (or for `seconds`), printing JSON. */
  args(seconds: number): string[];
  /** stderr text that says the tool is collecting (and its signal handlers are in place). */
  ready: RegExp;
  /** Checks what a finished run printed. */
  checkOutput(stdout: string): void;
  signal: 'profiles' | 'metrics';
}

let cpuTarget: ChildProcess | undefined;
let offTarget: ChildProcess | undefined;

function stackTool(name: 'cpuprofile' | 'offcpu', target: () => ChildProcess): ToolCase {
  return {
    name,
    args: (seconds) => ['-v', name, '-p', String(target().pid), '--json', String(seconds)],
    ready: /attached with/,
    checkOutput(stdout) {
      const p = JSON.parse(stdout) as JsonProfile;
      assert.equal(p.kind, name === 'cpuprofile' ? 'cpu' : 'offcpu');
      assert.ok(p.stacks.every((s) => s.pid === target().pid), 'only the target');
    },
    signal: 'profiles',
  };
}

function histogramTool(name: 'biolatency' | 'tcprtt'): ToolCase {
  return {
    name,
    args: (seconds) => [name, '--json', name === 'tcprtt' ? '-d' : '--duration', String(seconds)],
    ready: /Hit Ctrl-C to end\./,
    checkOutput(stdout) {
      const lines = stdout.trim().split('\n');
      assert.equal(lines.length, 1, stdout);
      const set = JSON.parse(lines[0]!) as { schema: string; histograms: unknown[] };
      assert.equal(set.schema, 'ebpf-otel/histograms@1');
    },
    signal: 'metrics',
  };
}

const TOOLS: ToolCase[] = [
  stackTool('cpuprofile', () => cpuTarget!),
  stackTool('offcpu', () => offTarget!),
  histogramTool('biolatency'),
  histogramTool('tcprtt'),
];

function describeRun(r: RunResult): string {
  return `status ${r.status}, signal ${r.signal}, stderr:\n${r.stderr}`;
}

before(() => {
  if (process.getuid?.() !== 0) return;
  cpuTarget = spawn(manystacksPath(), ['cpu', '600'], { stdio: 'ignore' });
  offTarget = spawn(manystacksPath(), ['sleep', '600'], { stdio: 'ignore' });
});
after(() => {
  cpuTarget?.kill('SIGKILL');
  offTarget?.kill('SIGKILL');
});

describe('a signal while the tool loads its BPF object', () => {
  for (const tool of TOOLS) {
    for (const sig of SIGNALS) {
      it(`${tool.name}, ${sig}: the tool stops, nothing stays loaded`, async (t) => {
        if (!requireRoot(t)) return;
        const before = ourPrograms();
        const run = startCli(tool.args(30));
        // Blocks this process until the tool holds its first map: it is inside the load.
        const loading = spinUntilLoading(run.pid);
        run.child.kill(sig);
        const r = await run.done;
        assert.ok(loading, `the tool never started loading: ${describeRun(r)}`);
        assertNoStackTrace(r.stderr, `${tool.name} ${sig} at load`);
        if (r.status === 0) {
          // The signal landed after attach: collection ended at once, and what little was
          // collected is printed in full.
          tool.checkOutput(r.stdout);
        } else {
          assert.ok(r.signal === sig || r.status === exitCodeOf(sig), describeRun(r));
          assert.equal(r.stdout, '', 'nothing printed');
        }
        await assertReleased(`${tool.name} ${sig} at load`, run.seen, before, [run.pid]);
      });
    }
  }
});

describe('a signal while doctor or flame cpu loads', () => {
  const cases: [string, () => string[]][] = [
    ['doctor', () => ['doctor']],
    ['flame cpu', () => ['flame', 'cpu', '-p', String(cpuTarget!.pid), '30', '-o', '-']],
  ];
  for (const [name, args] of cases) {
    for (const sig of SIGNALS) {
      it(`${name}, ${sig}: the tool stops, nothing stays loaded`, async (t) => {
        if (!requireRoot(t)) return;
        const before = ourPrograms();
        const run = startCli(args());
        const loading = spinUntilLoading(run.pid);
        run.child.kill(sig);
        const r = await run.done;
        assert.ok(loading, `never started loading: ${describeRun(r)}`);
        assert.ok(r.signal === sig || r.status === exitCodeOf(sig), describeRun(r));
        assertNoStackTrace(r.stderr, `${name} ${sig} at load`);
        await assertReleased(`${name} ${sig} at load`, run.seen, before, [run.pid]);
      });
    }
  }
});

describe('a signal while the tool collects ends the collection and prints', () => {
  for (const tool of TOOLS) {
    for (const sig of SIGNALS) {
      it(`${tool.name}, ${sig}: exit 0, the result printed, nothing stays loaded`, async (t) => {
        if (!requireRoot(t)) return;
        const before = ourPrograms();
        const run = startCli(tool.args(30));
        await until(`${tool.name} to collect`, () => tool.ready.test(run.stderr()), 20_000, run);
        assert.ok(heldBy(run.pid).links.size > 0, 'attached: it holds BPF links');
        await sleep(300);
        run.child.kill(sig);
        const r = await run.done;
        assert.equal(r.status, 0, describeRun(r));
        tool.checkOutput(r.stdout);
        assertNoStackTrace(r.stderr, `${tool.name} ${sig} at collect`);
        await assertReleased(`${tool.name} ${sig} at collect`, run.seen, before, [run.pid]);
      });
    }
  }
});

/**
 * Runs a stack tool for a second on the many-stacks workload at a high rate, so that it prints
 * megabytes of JSON, and reads one chunk of it: the tool is printing and its writes are stuck.
 */
async function stuckInPrint(args: string[]): Promise<{ run: Run; firstChunk: string }> {
  const run = startCli(args, { pausedStdout: true });
  const stdout = run.child.stdout!;
  const firstChunk = await new Promise<string>((resolve, reject) => {
    stdout.once('data', (d: Buffer) => {
      stdout.pause();
      resolve(d.toString('utf8'));
    });
    stdout.resume();
    void run.done.then((r) => reject(new Error(`exited before printing: ${describeRun(r)}`)));
  });
  // Still running with output pending: the reader (this test) is not reading.
  await sleep(200);
  assert.equal(run.exited(), false, 'the tool waits for its reader');
  return { run, firstChunk };
}

describe('a signal while the tool prints to a reader that stopped reading', () => {
  const cases: [string, () => string[]][] = [
    ['cpuprofile', () => ['cpuprofile', '-p', String(cpuTarget!.pid), '-F', '2999', '--json', '1']],
    ['offcpu', () => ['offcpu', '-p', String(offTarget!.pid), '--json', '1']],
  ];
  for (const [name, args] of cases) {
    for (const sig of SIGNALS) {
      it(`${name}, ${sig}: stops at once, says the output is incomplete, nothing stays loaded`, async (t) => {
        if (!requireRoot(t)) return;
        const before = ourPrograms();
        const { run, firstChunk } = await stuckInPrint(args());
        assert.match(firstChunk, /^\{"schema":"ebpf-otel\/stack-profile@1"/);
        assert.equal(heldBy(run.pid).progs.size, 0, 'the BPF side is released before printing');
        run.child.kill(sig);
        run.child.stdout!.resume(); // drain whatever it had written
        const r = await run.done;
        assert.equal(r.status, exitCodeOf(sig), describeRun(r));
        assert.match(lastLine(r.stderr), new RegExp(`^ebpf-otel: stopped by ${sig}: \\d+ bytes of output were not written$`), r.stderr);
        assertNoStackTrace(r.stderr, `${name} ${sig} at print`);
        await assertReleased(`${name} ${sig} at print`, run.seen, before, [run.pid]);
      });
    }
  }
});

describe('a signal while the tool exports to an OTLP receiver that never answers', () => {
  for (const tool of TOOLS) {
    for (const sig of SIGNALS) {
      it(`${tool.name}, ${sig}: the result printed, the payload saved and named, exit ${exitCodeOf(sig)}`, async (t) => {
        if (!requireRoot(t)) return;
        const receiver = await startReceiver(() => 'hang');
        const before = ourPrograms();
        let saved: string | undefined;
        try {
          const run = startCli([...tool.args(1), '--otlp', receiver.base], { env: { OTEL_EXPORTER_OTLP_TIMEOUT: '120000' } });
          await until('the export request', () => receiver.requests.length === 1, 20_000, run);
          assert.equal(heldBy(run.pid).progs.size, 0, 'the BPF side is released before exporting');
          run.child.kill(sig);
          const r = await run.done;
          assert.equal(r.status, exitCodeOf(sig), describeRun(r));
          tool.checkOutput(r.stdout);
          const m = new RegExp(`^ebpf-otel: OTLP ${tool.signal} export to http://127\\.0\\.0\\.1:\\d+/\\S+ failed: interrupted by ${sig}; payload saved to (\\S+)$`).exec(
            lastLine(r.stderr),
          );
          assert.ok(m, r.stderr);
          saved = m[1]!;
          assert.ok(existsSync(saved));
          const bytes = readFileSync(saved);
          assert.deepEqual(bytes, receiver.requests[0]!.body, 'the saved payload is what was being sent');
          if (tool.signal === 'profiles') decodeProfilesRequest(bytes);
          else decodeMetricsRequest(bytes);
          assertNoStackTrace(r.stderr, `${tool.name} ${sig} at export`);
          await assertReleased(`${tool.name} ${sig} at export`, run.seen, before, [run.pid]);
        } finally {
          if (saved) rmSync(saved, { force: true });
          await receiver.close();
        }
      });
    }
  }
});
