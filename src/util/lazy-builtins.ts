// Node built-in modules loaded on first use. node:zlib and node:net each bring node:stream along,
// ~8 ms of CPU: more than biolatency or tcprtt spend on anything of their own at start-up, for
// modules only some runs touch (a compressed debug section, a gzip-compressed OTLP export, the
// checksum of a large cache file; an address filter given on the command line). An `import`
// would load them whenever the importing module loads, in every run. (require caches them.)
import { createRequire } from 'node:module';

const requireBuiltin = createRequire(import.meta.url);

export const zlib = (): typeof import('node:zlib') => requireBuiltin('node:zlib') as typeof import('node:zlib');

export const net = (): typeof import('node:net') => requireBuiltin('node:net') as typeof import('node:net');
