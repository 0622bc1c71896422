#!/usr/bin/env node
// npm `install` hook. Users get the prebuilt addon from prebuilds/ and nothing happens here.
// Only when no prebuild fits this machine do we try a build from source (needs libbpf-dev and a
// C++ compiler); if that fails too, installation still succeeds and the tool explains at run time.
// In a git checkout the build belongs to `npm run build` / `npm test`, so this does nothing there.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (existsSync(join(root, '.git'))) process.exit(0);

const require = createRequire(import.meta.url);
try {
  require('node-gyp-build').path(root);
  process.exit(0);
} catch {
  // no prebuild for this platform: fall through to a source build
}
try {
  execFileSync('node-gyp', ['rebuild'], { cwd: root, stdio: 'inherit' });
} catch {
  console.error('ebpf-otel: no prebuilt addon for this platform and the source build failed; install libbpf-dev and a C++ compiler, then run `npm rebuild ebpf-otel`');
}
