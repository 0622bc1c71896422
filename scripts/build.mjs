#!/usr/bin/env node
// Build steps, each skippable by naming the others: `node scripts/build.mjs [bpf] [native] [ts] [bundle]`.
//   bpf:    bpf/*.bpf.c -> bpf/*.bpf.o with clang (CO-RE, BTF kept, DWARF stripped)
//   native: the Node-API addon with node-gyp, copied to prebuilds/linux-<arch>/ for the tarball
//   ts:     tsc
//   bundle: dist/src (tsc's output) -> dist/bundle/ebpf-otel.cjs (every command) and
//           dist/bundle/commands/NAME.cjs (one command each), which bin/ runs
// Nothing here runs at tool run time: users get the objects and the addon prebuilt.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

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

// Start-up is what stands between launch and the first sample. Node loads one CommonJS file much
// faster than ~60 ES modules (the ESM loader alone costs ~15 ms, each module a resolution and a
// read): measured on cpuprofile, attached 100 ms -> 72 ms after launch. Our code and commander
// go in; the OpenTelemetry packages and cli-table3 stay external (required from node_modules only
// by the runs that export, or print a table with characters whose width needs measuring), so the
// file stays small to parse.
// node:child_process (and the net and stream modules under it) costs ~4 ms to load, and nothing
// on the way to a tool's first sample uses it: commander only spawns for executable subcommands
// (we have none), preflight only to mount tracefs. Both get it on first call instead.
const lazyChildProcess = {
  name: 'lazy-child-process',
  setup(b) {
    b.onResolve({ filter: /^(node:)?child_process$/ }, (args) =>
      args.namespace === 'lazy-child-process'
        ? { path: 'node:child_process', external: true } // the real module, from inside the stand-in
        : { path: 'child_process', namespace: 'lazy-child-process' });
    b.onLoad({ filter: /.*/, namespace: 'lazy-child-process' }, () => ({
      loader: 'js',
      contents: ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork']
        .map((f) => `export function ${f}(...args) { return require('node:child_process').${f}(...args); }`)
        .join('\n'),
    }));
  },
};

if (want('bundle')) {
  const { build } = await import('esbuild');
  const options = {
    entryPoints: [join(root, 'dist', 'src', 'cli.js')],
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    minifySyntax: true,
    external: ['node-gyp-build', 'cli-table3', '@opentelemetry/*'],
    // import.meta.url has no CommonJS equivalent esbuild fills in: give it this file's URL.
    define: { 'import.meta.url': '__bundle_url' },
    banner: { js: "const __bundle_url = require('node:url').pathToFileURL(__filename).href;" },
    plugins: [lazyChildProcess],
    logLevel: 'warning',
  };
  // The loader below runs a bundle as a vm.Script, where import() has no loader to call: every
  // dynamic import must have become a require (esbuild does that for bundled modules; an
  // external ESM-only package would stay an import() and break at run time, so not here).
  const checkNoImport = (file) => {
    if (/\bimport\s*\(/.test(readFileSync(file, 'utf8'))) {
      throw new Error(`${file} contains a dynamic import(): src/util/code-cache.ts cannot run it; bundle the module or require it`);
    }
  };
  console.error('  BUNDLE  dist/bundle/ebpf-otel.cjs');
  const full = join(root, 'dist', 'bundle', 'ebpf-otel.cjs');
  await build({ ...options, outfile: full });
  checkNoImport(full);
  // One bundle per command, holding only that command (src/cli.ts, EBPF_OTEL_COMMAND): the code
  // cache V8 deserializes at every start shrinks with the script. Stale ones (a command renamed)
  // go first: bin/ would run whatever it finds there.
  const commandsDir = join(root, 'dist', 'bundle', 'commands');
  rmSync(commandsDir, { recursive: true, force: true });
  mkdirSync(commandsDir, { recursive: true });
  const { commandNames } = await import(pathToFileURL(join(root, 'dist', 'src', 'cli.js')).href);
  for (const name of commandNames()) {
    console.error(`  BUNDLE  dist/bundle/commands/${name}.cjs`);
    const file = join(commandsDir, `${name}.cjs`);
    await build({ ...options, outfile: file, define: { ...options.define, EBPF_OTEL_COMMAND: JSON.stringify(name) } });
    checkNoImport(file);
  }
  // The loader bin/ebpf-otel.cjs runs first: it compiles the bundle above with a V8 code cache
  // (src/util/code-cache.ts). Its own file, small, so that Node compiles little before it.
  console.error('  BUNDLE  dist/bundle/code-cache.cjs');
  await build({
    entryPoints: [join(root, 'dist', 'src', 'util', 'code-cache.js')],
    outfile: join(root, 'dist', 'bundle', 'code-cache.cjs'),
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    minifySyntax: true,
    logLevel: 'warning',
  });
}
