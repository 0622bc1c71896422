// Node built-in modules loaded on first use. node:zlib and node:net each bring node:stream along,
// ~8 ms of CPU: more than biolatency or tcprtt spend on anything of their own at start-up, for
// modules only some runs touch (a compressed debug section, a gzip-compressed OTLP export, the
// checksum of a large cache file; an address filter given on the command line). An `import`
// would load them whenever the importing module loads, in every run.
import { createRequire } from 'node:module';

type Zlib = typeof import('node:zlib');
type Net = typeof import('node:net');

const requireBuiltin = createRequire(import.meta.url);

let zlibModule: Zlib | undefined;
let netModule: Net | undefined;

export function zlib(): Zlib {
  zlibModule ??= requireBuiltin('node:zlib') as Zlib;
  return zlibModule;
}

export function net(): Net {
  netModule ??= requireBuiltin('node:net') as Net;
  return netModule;
}
