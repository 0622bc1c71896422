// src/util/lazy-builtins.ts: built-in modules fetched on first use, on a Node with
// process.getBuiltinModule (20.16 on) and on one without (20.0-20.15, through the CommonJS main
// module, as the CLI runs).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as zlibModule from 'node:zlib';
import { net, nodeModule, os, zlib } from '../../src/util/lazy-builtins.js';

test('each getter returns the built-in module itself', () => {
  assert.equal(zlib().inflateSync, zlibModule.inflateSync);
  assert.equal(net().isIPv6('::1'), true);
  assert.equal(typeof os().hostname(), 'string');
  assert.equal(typeof nodeModule().createRequire, 'function');
});

test('without process.getBuiltinModule, the modules come through the CommonJS main module', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-otel-builtins-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const main = join(dir, 'main.cjs');
  const url = new URL('../../src/util/lazy-builtins.js', import.meta.url).href;
  writeFileSync(
    main,
    `delete process.getBuiltinModule;
import(${JSON.stringify(url)}).then((m) => {
  console.log([m.zlib().gzipSync('x').length > 0, m.net().isIPv4('127.0.0.1'), typeof m.os().tmpdir()].join(' '));
});\n`,
  );
  const r = spawnSync(process.execPath, [main], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'true true string\n');
});
