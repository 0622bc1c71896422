// Node built-in modules loaded on first use. node:zlib and node:net each bring node:stream along,
// ~8 ms of CPU: more than biolatency or tcprtt spend on anything of their own at start-up, for
// modules only some runs touch (a compressed debug section, a gzip-compressed OTLP export, the
// checksum of a large cache file; an address filter given on the command line). An `import`
// would load them whenever the importing module loads, in every run.
//
// They are fetched with process.getBuiltinModule, which loads the one module asked for. Not with
// createRequire: node:module loads Node's ES module loader with it, and under the V8 flags that
// bin/ebpf-otel.cjs passes (they change V8's flag hash, so V8 refuses the code cache Node ships for
// its own modules and each one compiles from source) that is ~1.4 ms of every start; node:os is
// ~0.5 ms more, for a hostname or a signal number only some runs need.

type BuiltinGetter = (id: string) => unknown;

let getBuiltin: BuiltinGetter | undefined;

function builtin(id: string): unknown {
  if (getBuiltin === undefined) {
    const fromProcess = (process as { getBuiltinModule?: BuiltinGetter }).getBuiltinModule;
    if (typeof fromProcess === 'function') getBuiltin = (name) => fromProcess.call(process, name);
    else {
      // Node 20 before 20.16 has no getBuiltinModule: the require of the main module, which for
      // the CLI is bin/ebpf-otel.cjs (CommonJS).
      const main = process.mainModule;
      if (main === undefined) throw new Error(`cannot load ${id}: this Node has no process.getBuiltinModule and no CommonJS main module`);
      getBuiltin = (name) => main.require(name);
    }
  }
  return getBuiltin(id);
}

export const zlib = (): typeof import('node:zlib') => builtin('node:zlib') as typeof import('node:zlib');

export const net = (): typeof import('node:net') => builtin('node:net') as typeof import('node:net');

export const os = (): typeof import('node:os') => builtin('node:os') as typeof import('node:os');

export const nodeModule = (): typeof import('node:module') => builtin('node:module') as typeof import('node:module');
