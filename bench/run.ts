// `npm run bench`: cpuprofile measured side by side with `perf record -g` and bpftrace's
// `profile:hz` on the same CPU-bound workload, in one run. Writes bench/results/cpuprofile.md.
// Not part of `npm test`: timings on a shared two-core machine belong here, not in assertions.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus, release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = join(repo, 'bin', 'ebpf-otel.js');
const work = mkdtempSync(join(tmpdir(), 'ebpf-otel-bench-'));
const say = (s: string) => process.stderr.write(`bench: ${s}\n`);

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** The peers and GNU time (for peak RSS and CPU of each tool), from apt. */
function installPeers(): void {
  const wanted: [string, string][] = [
    ['perf', 'linux-perf'],
    ['bpftrace', 'bpftrace'],
    ['/usr/bin/time', 'time'],
  ];
  const missing = wanted.filter(([cmd]) => !(cmd.startsWith('/') ? existsSync(cmd) : have(cmd))).map(([, pkg]) => pkg);
  if (missing.length === 0) return;
  say(`installing ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'ignore', env });
}

function buildBurner(): string {
  const out = join(work, 'burner');
  execFileSync('gcc', ['-O0', '-fno-omit-frame-pointer', '-o', out, join(repo, 'test', 'workloads', 'burner.c')]);
  return out;
}

interface Measured {
  wallS: number;
  userS: number;
  sysS: number;
  maxRssMb: number;
  stdout: string;
  stderr: string;
}

/** Runs a command under GNU time: wall, user and system CPU, peak RSS of the command itself. */
function timed(argv: string[]): Measured {
  const fmt = join(work, 'time.out');
  const r = spawnSync('/usr/bin/time', ['-o', fmt, '-f', '%e %U %S %M', ...argv], { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr.slice(-500)}`);
  const [wall, user, sys, rss] = readFileSync(fmt, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number);
  return { wallS: wall!, userS: user!, sysS: sys!, maxRssMb: rss! / 1024, stdout: r.stdout, stderr: r.stderr };
}

/** Starts the burner for `seconds` and returns its pid and a promise of its completed work units. */
function startBurner(burner: string, seconds: number): { pid: number; units: Promise<number> } {
  const child = spawn(burner, [String(seconds)], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const units = new Promise<number>((resolve) => child.on('close', () => resolve(Number(out.trim()))));
  return { pid: child.pid!, units };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const monoNs = () => process.hrtime.bigint();

type Tool = 'ebpf-otel' | 'perf' | 'bpftrace';
const tools: Tool[] = ['ebpf-otel', 'perf', 'bpftrace'];

/** The command that profiles `pid` at `hz` for `seconds` with stacks, as each tool spells it. */
function profileCommand(tool: Tool, pid: number, hz: number, seconds: number): string[] {
  switch (tool) {
    case 'ebpf-otel':
      return [process.execPath, cli, 'cpuprofile', '-p', String(pid), '-F', String(hz), '-f', String(seconds)];
    case 'perf':
      return ['sh', '-c', `perf record -q -g -F ${hz} -p ${pid} -o ${work}/perf.data -- sleep ${seconds} && perf report -q -i ${work}/perf.data --stdio > /dev/null`];
    case 'bpftrace':
      return ['bpftrace', '-q', '-e', `profile:hz:${hz} /pid == ${pid}/ { @[kstack, ustack, comm] = count(); } interval:s:${seconds} { exit(); }`];
  }
}

/** Launch to first sample, in ms: each tool timestamps its first sample with CLOCK_MONOTONIC. */
async function launchToFirstSample(tool: Tool, burner: string): Promise<number> {
  const b = startBurner(burner, 3);
  await new Promise((r) => setTimeout(r, 200));
  let firstNs: bigint;
  const t0 = monoNs();
  if (tool === 'ebpf-otel') {
    const r = spawnSync(process.execPath, [cli, '-v', 'cpuprofile', '-p', String(b.pid), '-F', '999', '0.3'], { encoding: 'utf8' });
    const m = /first sample ([\d.]+) ms after launch/.exec(r.stderr);
    if (!m) throw new Error(`no first-sample line: ${r.stderr}`);
    await b.units;
    return Number(m[1]);
  } else if (tool === 'bpftrace') {
    const r = spawnSync('bpftrace', ['-q', '-e', `profile:hz:999 /pid == ${b.pid}/ { printf("%llu\\n", nsecs); exit(); }`], { encoding: 'utf8' });
    firstNs = BigInt(r.stdout.trim().split('\n')[0]!);
  } else {
    spawnSync('perf', ['record', '-q', '-k', 'CLOCK_MONOTONIC', '-F', '999', '-p', String(b.pid), '-o', `${work}/first.data`, '--', 'sleep', '0.3']);
    const s = spawnSync('perf', ['script', '-i', `${work}/first.data`, '-F', 'time'], { encoding: 'utf8' });
    const sec = s.stdout.trim().split('\n')[0]!.trim().replace(/:$/, '');
    const [whole, frac = ''] = sec.split('.');
    firstNs = BigInt(whole!) * 1_000_000_000n + BigInt(frac.padEnd(9, '0').slice(0, 9));
  }
  await b.units;
  return Number(firstNs - t0) / 1e6;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the benchmark loads BPF programs: run it as root');
  installPeers();
  const burner = buildBurner();
  const rows: string[] = [];
  const note = (s: string) => rows.push(s);

  say('launch to first sample (5 runs each, median)');
  const nodeBare = median([0, 1, 2, 3, 4].map(() => timed([process.execPath, '-e', '0']).wallS * 1000));
  const startup: Record<string, number> = {};
  for (const tool of tools) {
    const runs: number[] = [];
    for (let i = 0; i < 5; i++) runs.push(await launchToFirstSample(tool, burner));
    startup[tool] = median(runs);
  }

  say('overhead on the burner at 49, 99 and 999 Hz (5 s each)');
  const seconds = 5;
  const baseline = async () => (await startBurner(burner, seconds).units);
  const base = [await baseline()];
  const overhead: Record<string, Record<number, number>> = {};
  const own: Record<string, Measured> = {};
  for (const hz of [49, 99, 999]) {
    for (const tool of tools) {
      const b = startBurner(burner, seconds + 1);
      await new Promise((r) => setTimeout(r, 100));
      const m = timed(profileCommand(tool, b.pid, hz, seconds));
      const units = await b.units;
      (overhead[tool] ??= {})[hz] = units / (seconds + 1);
      if (hz === 99) own[tool] = m;
    }
    base.push(await baseline());
  }
  const unprofiled = median(base) / seconds;

  say('our own CPU for 10 s at 99 Hz');
  const b10 = startBurner(burner, 11);
  await new Promise((r) => setTimeout(r, 100));
  const ten: Record<string, Measured> = {};
  for (const tool of ['ebpf-otel'] as Tool[]) ten[tool] = timed(profileCommand(tool, b10.pid, 99, 10));
  await b10.units;

  const fmt = (x: number, d = 1) => x.toFixed(d);
  note(`# cpuprofile benchmark`);
  note('');
  note(`Measured ${new Date().toISOString()} on ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, kernel ${release()}, node ${process.version}.`);
  note(`Workload: test/workloads/burner.c (-O0, frame pointers), one busy thread. Reproduce: \`sudo npm run bench\`.`);
  note('');
  note('## Launch to first sample (ms, median of 5; lower is better)');
  note('');
  note('| ebpf-otel | perf record | bpftrace | bare `node -e 0` (wall) |');
  note('| --- | --- | --- | --- |');
  note(`| ${fmt(startup['ebpf-otel']!)} | ${fmt(startup.perf!)} | ${fmt(startup.bpftrace!)} | ${fmt(nodeBare)} |`);
  note('');
  note(`## Workload throughput while profiled (fraction of unprofiled; higher is better)`);
  note('');
  note('| Hz | ebpf-otel | perf record -g | bpftrace |');
  note('| --- | --- | --- | --- |');
  for (const hz of [49, 99, 999]) {
    note(`| ${hz} | ${tools.map((t) => fmt(overhead[t]![hz]! / unprofiled, 3)).join(' | ')} |`);
  }
  note('');
  note('## The tool itself, profiling for 5 s at 99 Hz (perf: record + report)');
  note('');
  note('| tool | user CPU s | system CPU s | peak RSS MB | wall s |');
  note('| --- | --- | --- | --- | --- |');
  for (const t of tools) note(`| ${t} | ${fmt(own[t]!.userS, 2)} | ${fmt(own[t]!.sysS, 2)} | ${fmt(own[t]!.maxRssMb)} | ${fmt(own[t]!.wallS, 2)} |`);
  note('');
  note(`ebpf-otel for 10 s at 99 Hz: ${fmt(ten['ebpf-otel']!.userS + ten['ebpf-otel']!.sysS, 2)} s CPU, peak RSS ${fmt(ten['ebpf-otel']!.maxRssMb)} MB, ` +
    `end of collection to output ${fmt((ten['ebpf-otel']!.wallS - 10) * 1000, 0)} ms (wall minus duration, start-up included).`);
  note('');
  note('Targets: first sample < 100 ms; peak RSS <= 70 MB; own CPU for 10 s at 99 Hz <= 0.15 s; throughput at 999 Hz >= 0.99.');

  const dir = join(repo, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const report = `${rows.join('\n')}\n`;
  writeFileSync(join(dir, 'cpuprofile.md'), report);
  process.stdout.write(report);
  rmSync(work, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
