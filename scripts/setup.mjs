#!/usr/bin/env node
// One-step set-up on a fresh Debian/Ubuntu machine: system packages the build needs, tracefs,
// npm dependencies, the build; then (without --for-tests) a first profile, so the user sees the
// tool work. `npm test` runs this with --for-tests before the tests.
// Only Node built-ins here: this runs before node_modules exists.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const forTests = process.argv.includes('--for-tests');
const isRoot = process.getuid?.() === 0;

const say = (msg) => console.error(`setup: ${msg}`);

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

// What the build (and, with --for-tests, the test suite) needs from the system, as
// [check, Debian package]. The run-time needs only libbpf1, which iproute2 already brings.
const needs = [
  [() => have('clang'), 'clang'],
  [() => have('llvm-strip'), 'llvm'],
  [() => existsSync('/usr/include/bpf/libbpf.h'), 'libbpf-dev'],
  [() => existsSync('/usr/include/linux/bpf.h'), 'linux-libc-dev'],
  [() => have('g++') && have('make'), 'build-essential'],
  [() => have('python3'), 'python3'],
];
if (forTests) {
  needs.push([() => have('bpftool'), 'bpftool']);
  needs.push([() => have('gcc'), 'gcc']);
  // The flame graph page is tested in a real headless browser (playwright-core drives it).
  needs.push([() => existsSync('/usr/bin/chromium'), 'chromium']);
}

const missing = needs.filter(([ok]) => !ok()).map(([, pkg]) => pkg);
if (missing.length > 0) {
  const cmd = `apt-get update && apt-get install -y ${missing.join(' ')}`;
  if (!isRoot || !have('apt-get')) {
    say(`missing system packages: ${missing.join(', ')}. Install them with:\n  sudo sh -c '${cmd}'`);
    process.exit(1);
  }
  say(`installing ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'], env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env,
  });
}

// Classic tracepoints (the last fallback of several tools) need tracefs.
const mounts = readFileSync('/proc/mounts', 'utf8');
if (!/ \/sys\/kernel\/tracing tracefs /.test(mounts) && isRoot) {
  try {
    execFileSync('mount', ['-t', 'tracefs', 'nodev', '/sys/kernel/tracing'], { stdio: 'ignore' });
    say('mounted tracefs at /sys/kernel/tracing');
  } catch {
    say('could not mount tracefs at /sys/kernel/tracing; tools fall back to BTF tracepoints');
  }
}

if (!existsSync(join(root, 'node_modules', 'typescript'))) {
  say('installing npm dependencies (npm ci)');
  execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--ignore-scripts'], { stdio: 'inherit', cwd: root });
}

execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'inherit', cwd: root });

if (!forTests) {
  // A first profile: a node process computing Fibonacci numbers with its JIT frames named
  // (perf map), profiled for three seconds. It runs in a scratch folder: --perf-basic-prof also
  // makes V8 write an isolate log into the working directory.
  const scratch = mkdtempSync(join(tmpdir(), 'ebpf-otel-demo-'));
  const burner = spawn(process.execPath, ['--perf-basic-prof', '-e',
    'function fib(n){return n<2?n:fib(n-1)+fib(n-2)} const end=Date.now()+6000; while(Date.now()<end) fib(25)'],
    { stdio: 'ignore', cwd: scratch });
  await new Promise((r) => setTimeout(r, 300));
  say(`profiling a demo process (pid ${burner.pid}) for 3 seconds: ebpf-otel cpuprofile -p ${burner.pid} 3`);
  const r = spawnSync(process.execPath, [join(root, 'bin', 'ebpf-otel.cjs'), 'cpuprofile', '-p', String(burner.pid), '3'], { stdio: 'inherit' });
  burner.kill();
  rmSync(scratch, { recursive: true, force: true });
  rmSync(join(tmpdir(), `perf-${burner.pid}.map`), { force: true });
  process.exit(r.status ?? 1);
}
