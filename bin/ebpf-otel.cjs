#!/usr/bin/env -S node --max-semi-space-size=1 --no-memory-reducer --interrupt-budget=540672
// A 1 MB young generation: the tools allocate in short bursts (reading maps, symbolizing), and
// V8's default lets the new space grow to tens of MB that stay resident. Measured on cpuprofile
// (10 s at 99 Hz): peak RSS 85 MB -> 66 MB, and less CPU, not more.
// No memory reducer: V8 runs a full mark-compact ~8 s after start-up once the process is idle,
// which is exactly when a tool sits collecting; it shrinks a ~6 MB heap for nothing. Measured on
// cpuprofile (10 s at 99 Hz): ~25 ms less CPU, peak RSS unchanged (59 MB).
// An 8x interrupt budget: V8 sends a function to TurboFan after three budgets' worth of
// bytecode; a tool's run is a string of short cold passes (census, CFI decoding, ELF index,
// symbolizing a few stacks) that each tripped it, and optimizing them cost a quarter of a short
// run's CPU (perf, 1 s cpuprofile: 25 % of samples in compiler::) for code that ran once. Long
// loops (symbolizing 10k stacks, unwinding at 999 Hz) still reach it within milliseconds.
// Measured on cpuprofile -F 99 -f 10 against a burner, 7 interleaved runs each: own CPU median
// 0.17 s -> 0.13 s; on a busy node process at 999 Hz (~900 stacks), end of collection to output
// unchanged (1.42-1.99 s vs 1.52-1.85 s), while --max-opt=2 (no TurboFan) made it 20-30 % slower.
// CommonJS, and one bundled file (scripts/build.mjs): Node starts a CommonJS entry without its
// ES module loader, which is most of what stood between launch and the first sample. A command
// runs from its own bundle (dist/bundle/commands/NAME.cjs, only that command's code); everything
// else (help, --version, a word that is no command) from dist/bundle/ebpf-otel.cjs, which has all.
// The bundle is loaded with a V8 code cache (dist/bundle/code-cache.cjs, built from
// src/util/code-cache.ts; kept in /run/ebpf-otel, root only; EBPF_OTEL_CACHE_DIR moves it, empty
// turns it off): compiling the bundle and its functions costs ~25 ms of CPU at every run
// otherwise. Any failure of the cache itself ends in the plain require below.
'use strict';
const { join } = require('node:path');
const { existsSync } = require('node:fs');
// The subcommand: the first word that is not an option (no program option takes a value).
const word = process.argv.slice(2).find((a) => !a.startsWith('-')) ?? '';
const label = /^[a-z][a-z0-9-]{0,31}$/.test(word) ? word : '';
const commandBundle = label === '' ? '' : join(__dirname, '..', 'dist', 'bundle', 'commands', `${label}.cjs`);
const bundle = commandBundle !== '' && existsSync(commandBundle) ? commandBundle : join(__dirname, '..', 'dist', 'bundle', 'ebpf-otel.cjs');
let loader;
try {
  loader = require('../dist/bundle/code-cache.cjs');
} catch {
  // no loader (a partial build): the plain require
}
// Returns null, before the bundle ran, when there is no usable cache directory (not root, or
// EBPF_OTEL_CACHE_DIR empty) or the cache failed; an exception of the bundle's own top level
// propagates from here as it would from require, and is not run twice. The subcommand labels
// what this run adds to the cache.
const loaded = loader ? loader.loadWithCodeCache(bundle, { label, moduleClass: module.constructor }) : null;
if (loaded) process.on('exit', (code) => loaded.save(code));
(loaded ? loaded.exports : require(bundle)).main(process.argv);
