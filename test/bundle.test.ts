// The bundles bin/ebpf-otel.cjs runs (scripts/build.mjs): one with every command, and one per
// command holding only that command's code, which is what makes its start-up cheaper.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { commandNames } from '../src/cli.js';
import { cliPath, repoRoot } from './helpers.js';

const bundleDir = join(repoRoot, 'dist', 'bundle');

/** Commands whose modules another command imports: flame records with cpuprofile and offcpu. */
const USES: Record<string, string[]> = { flame: ['cpuprofile', 'offcpu'] };

test('every command has a bundle of its own, without the other commands', () => {
  const names = commandNames();
  assert.deepEqual([...names].sort(), ['biolatency', 'cpuprofile', 'doctor', 'flame', 'offcpu', 'tcprtt']);
  const full = readFileSync(join(bundleDir, 'ebpf-otel.cjs'), 'utf8');
  for (const name of names) {
    // Each command module defines NAMECommand(): the full bundle has them all, a command's
    // bundle its own only.
    assert.match(full, new RegExp(`function ${name}Command\\(`), `the full bundle has ${name}`);
    const own = readFileSync(join(bundleDir, 'commands', `${name}.cjs`), 'utf8');
    assert.match(own, new RegExp(`function ${name}Command\\(`), `${name}.cjs has ${name}`);
    for (const other of names.filter((n) => n !== name && !(USES[name] ?? []).includes(n))) {
      assert.doesNotMatch(own, new RegExp(`function ${other}Command\\(`), `${name}.cjs has no ${other}`);
    }
    assert.ok(own.length < full.length, `${name}.cjs is smaller than the full bundle`);
  }
});

test('a command runs from its own bundle; help, --version and unknown words from the full one', () => {
  // The usage line names the command's bundle through commander: the command bundle has no other
  // command, so `ebpf-otel --help` (full) lists all and `ebpf-otel biolatency --help` (own) works.
  const own = spawnSync(process.execPath, [cliPath, 'biolatency', '--help'], { encoding: 'utf8' });
  assert.equal(own.status, 0, own.stderr);
  assert.match(own.stdout, /^Usage: ebpf-otel biolatency /);
  const all = spawnSync(process.execPath, [cliPath, '--help'], { encoding: 'utf8' });
  assert.equal(all.status, 0, all.stderr);
  for (const name of commandNames()) assert.match(all.stdout, new RegExp(`^  ${name} `, 'm'));
  const unknown = spawnSync(process.execPath, [cliPath, 'biolatenc'], { encoding: 'utf8' });
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /unknown command 'biolatenc'/);
  // The word names a file under dist/bundle/commands only when it is a command: the loader's own
  // file is no command.
  const loaderWord = spawnSync(process.execPath, [cliPath, 'code-cache'], { encoding: 'utf8' });
  assert.equal(loaderWord.status, 1);
  assert.match(loaderWord.stderr, /unknown command 'code-cache'/);
});
