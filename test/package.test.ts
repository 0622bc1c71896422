// What a user gets: the packed tarball installed into an empty folder, with no compiler on PATH,
// runs a tool. Proves the .bpf.o objects and the prebuilt addon ship and that nothing builds at
// install or run time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, realpathSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildWorkload, repoRoot, requireRoot, sleep } from './helpers.js';
import { commandNames } from '../src/cli.js';

function npmCli(): string {
  const npm = realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim());
  return npm; // .../lib/node_modules/npm/bin/npm-cli.js
}

test('npm pack ships the BPF objects and the prebuilt addon, and the tarball runs without a compiler', async (t) => {
  if (!requireRoot(t)) return;
  const work = mkdtempSync(join(tmpdir(), 'ebpf-otel-pack-'));
  const listing = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }),
  ) as { filename: string; files: { path: string }[] }[];
  const files = listing[0]!.files.map((f) => f.path);
  assert.ok(files.includes('bpf/cpuprofile.bpf.o'), 'cpuprofile.bpf.o is packed');
  assert.ok(files.some((f) => /^prebuilds\/linux-x64\/.+\.node$/.test(f)), 'the prebuilt addon is packed');
  assert.ok(files.includes('dist/bundle/ebpf-otel.cjs'), 'the bundled CLI is packed');
  assert.ok(files.includes('dist/bundle/code-cache.cjs'), 'the loader bin/ebpf-otel.cjs compiles the bundle with is packed');
  for (const name of commandNames()) assert.ok(files.includes(`dist/bundle/commands/${name}.cjs`), `the ${name} bundle is packed`);
  assert.ok(!files.some((f) => f.startsWith('dist/src/')), 'only the bundle is packed, not the modules it was made of');
  assert.ok(!files.some((f) => f.startsWith('test/') || f.startsWith('dist/test/')), 'tests are not packed');

  // A PATH with node and sh only: no clang, gcc, make or python.
  const bin = join(work, 'bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  symlinkSync('/bin/sh', join(bin, 'sh'));
  const env = { ...process.env, PATH: bin, NO_COLOR: '1' };
  assert.notEqual(spawnSync('sh', ['-c', 'command -v clang || command -v cc'], { env }).status, 0, 'no compiler on the stripped PATH');

  const app = join(work, 'app');
  mkdirSync(app);
  execFileSync(process.execPath, [npmCli(), 'init', '-y'], { cwd: app, env, stdio: 'ignore' });
  execFileSync(
    process.execPath,
    [npmCli(), 'install', '--prefer-offline', '--no-audit', '--no-fund', join(work, listing[0]!.filename)],
    { cwd: app, env, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const tool = join(app, 'node_modules', '.bin', 'ebpf-otel');
  assert.ok(existsSync(tool));
  assert.ok(!existsSync(join(app, 'node_modules', 'ebpf-otel', 'build')), 'nothing was compiled at install');

  const burner = spawn(buildWorkload('burner'), ['4'], { stdio: 'ignore' });
  try {
    await sleep(100);
    const r = spawnSync(tool, ['cpuprofile', '-p', String(burner.pid), '-f', '1'], { env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^burner;.*hot_three \d+$/m);
  } finally {
    burner.kill();
  }
});
