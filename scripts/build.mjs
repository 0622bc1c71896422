#!/usr/bin/env node
// Build steps, each skippable by naming the others: `node scripts/build.mjs [bpf] [native] [ts]`.
//   bpf:    bpf/*.bpf.c -> bpf/*.bpf.o with clang (CO-RE, BTF kept, DWARF stripped)
//   native: the Node-API addon with node-gyp, copied to prebuilds/linux-<arch>/ for the tarball
//   ts:     tsc
// Nothing here runs at tool run time: users get the objects and the addon prebuilt.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const steps = process.argv.slice(2);
const want = (s) => steps.length === 0 || steps.includes(s);

function run(cmd, args, opts = {}) {
  execFileSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
}

function newer(src, deps, out) {
  if (!existsSync(out)) return true;
  const t = statSync(out).mtimeMs;
  return [src, ...deps].some((f) => statSync(f).mtimeMs > t);
}

function archDefine() {
  const map = { x64: 'x86', arm64: 'arm64', arm: 'arm', ppc64: 'powerpc', s390x: 's390', riscv64: 'riscv' };
  return `-D__TARGET_ARCH_${map[process.arch] ?? process.arch}`;
}

// Debian keeps the arch-specific UAPI headers (asm/) in a multiarch folder clang -target bpf does
// not search by itself.
function multiarchInclude() {
  try {
    const triple = execFileSync('gcc', ['-print-multiarch'], { encoding: 'utf8' }).trim();
    if (triple && existsSync(`/usr/include/${triple}`)) return [`-I/usr/include/${triple}`];
  } catch {
    // no gcc: rely on clang's defaults
  }
  return [];
}

if (want('bpf')) {
  const dir = join(root, 'bpf');
  const headers = readdirSync(dir).filter((f) => f.endsWith('.h')).map((f) => join(dir, f));
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.bpf.c'))) {
    const src = join(dir, file);
    const out = join(dir, file.replace(/\.c$/, '.o'));
    if (!newer(src, headers, out)) continue;
    console.error(`  BPF     ${file}`);
    run('clang', ['-g', '-O2', '-Wall', '-target', 'bpf', archDefine(), ...multiarchInclude(), `-I${dir}`, '-c', src, '-o', out]);
    run('llvm-strip', ['-g', out]);
  }
}

if (want('native')) {
  const out = join(root, 'build', 'Release', 'ebpf_otel.node');
  if (newer(join(root, 'native', 'ebpf_otel.cc'), [join(root, 'binding.gyp')], out)) {
    console.error('  NATIVE  ebpf_otel.node');
    const gyp = join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
    // Build against the headers of the Node running us when they are installed (Debian's nodejs,
    // the official tarball): node-gyp would otherwise try to download them.
    const prefix = dirname(dirname(process.execPath));
    const nodedir = process.env.npm_config_nodedir ??
      (existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined);
    run(process.execPath, [gyp, 'rebuild', '--silent', ...(nodedir ? [`--nodedir=${nodedir}`] : [])]);
  }
  const prebuilt = join(root, 'prebuilds', `linux-${process.arch}`);
  mkdirSync(prebuilt, { recursive: true });
  copyFileSync(out, join(prebuilt, 'node.napi.node'));
}

if (want('ts')) {
  console.error('  TSC');
  run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json']);
}
