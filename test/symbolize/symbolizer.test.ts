import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, openSync, readFileSync, readSync, realpathSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Frame } from '../../src/aggregate/model.js';
import { skipOutsideCi } from '../helpers.js';
import { demangle } from '../../src/symbolize/demangle.js';
import { Symbolizer } from '../../src/symbolize/index.js';
import { findMapping, readProcMaps } from '../../src/symbolize/procmaps.js';
import { buildC, buildCxx, buildIdOf, cxxfilt, fixtureDir, nmFunctions, readelfLoads, startProgram, type ReadelfLoad } from './fixtures.js';

const PROG_FUNCS = ['prog_function_one', 'prog_function_two', 'prog_static_three', 'main'];
const LIB_FUNCS = ['lib_function_alpha', 'lib_function_beta', 'lib_static_gamma'];

test('a running PIE and its shared library: names, modules, build-ids, order kept', async () => {
  const b = buildC();
  const prog = await startProgram(b.pie);
  const sym = new Symbolizer();
  try {
    assert.equal(sym.snapshot(prog.pid), true);
    const names = [...PROG_FUNCS, ...LIB_FUNCS];
    // Function starts, and addresses a few bytes in (as return addresses are).
    const addrs = names.flatMap((n) => [prog.addrs.get(n)!, prog.addrs.get(n)! + 3n]);
    const frames = sym.symbolizeUser(prog.pid, addrs);
    assert.equal(frames.length, addrs.length);
    frames.forEach((f, i) => {
      const name = names[Math.floor(i / 2)]!;
      const isLib = LIB_FUNCS.includes(name);
      assert.deepEqual(f, {
        name,
        kind: 'user',
        address: addrs[i],
        module: isLib ? b.lib : b.pie,
        buildId: buildIdOf(isLib ? b.lib : b.pie),
      });
    });
    // libc resolves too (its symbols come from .dynsym at least).
    const maps = readProcMaps(prog.pid)!;
    const libc = maps.find((m) => m.executable && /libc[.-]/.test(m.path));
    assert.ok(libc, 'libc mapped');
    const libcFrame = sym.symbolizeUser(prog.pid, [libc.start + 0x100n])[0]!;
    assert.equal(libcFrame.module, libc.path);
    assert.ok(libcFrame.name.length > 0);
  } finally {
    sym.close();
    await prog.stop();
  }
});

test('a non-PIE executable (no load bias) resolves the same way', async () => {
  const b = buildC();
  const prog = await startProgram(b.nonPie);
  const sym = new Symbolizer();
  try {
    sym.snapshot(prog.pid);
    const nm = nmFunctions(b.nonPie);
    for (const name of PROG_FUNCS) {
      const addr = prog.addrs.get(name)!;
      assert.equal(addr, nm.find((s) => s.name === name)!.value, 'non-PIE: runtime address is the link address');
      assert.equal(sym.symbolizeUser(prog.pid, [addr + 1n])[0]!.name, name);
    }
  } finally {
    sym.close();
    await prog.stop();
  }
});

test('addresses no symbol covers print as module+0xoffset; unmapped ones as [unknown]', async () => {
  const b = buildC();
  const prog = await startProgram(b.pie);
  const sym = new Symbolizer();
  try {
    sym.snapshot(prog.pid);
    const maps = readProcMaps(prog.pid)!;
    // The first (read-only, headers) mapping of the program: code-less, but the module is known.
    const head = maps.find((m) => m.path === b.pie && m.offset === 0n)!;
    const f = sym.symbolizeUser(prog.pid, [head.start + 0x10n])[0]!;
    assert.equal(f.name, 'prog-pie+0x10');
    assert.equal(f.module, b.pie);
    const unknown = sym.symbolizeUser(prog.pid, [0x10n])[0]!;
    assert.deepEqual(unknown, { name: '[unknown]', kind: 'user', address: 0x10n });
    const vsyscall = maps.find((m) => m.kind === 'vsyscall');
    if (vsyscall) assert.equal(sym.symbolizeUser(prog.pid, [vsyscall.start])[0]!.name, '[vsyscall]');
  } finally {
    sym.close();
    await prog.stop();
  }
});

test('a process that exits after its snapshot still resolves; one never snapshotted does not', async () => {
  const b = buildC();
  const prog = await startProgram(b.pie);
  const sym = new Symbolizer();
  sym.snapshot(prog.pid);
  const pid = prog.pid;
  const addrs = PROG_FUNCS.map((n) => prog.addrs.get(n)! + 2n);
  await prog.stop();
  assert.equal(readProcMaps(pid), null, 'the process is gone');
  try {
    assert.deepEqual(
      sym.symbolizeUser(pid, addrs).map((f) => f.name),
      PROG_FUNCS,
    );
    assert.equal(sym.snapshot(pid), false);
    assert.deepEqual(sym.warnings(), []);
  } finally {
    sym.close();
  }
  const late = new Symbolizer();
  try {
    assert.deepEqual(
      late.symbolizeUser(pid, addrs).map((f) => f.name),
      PROG_FUNCS.map(() => '[unknown]'),
    );
    const w = late.warnings();
    assert.equal(w.length, 1);
    assert.match(w[0]!, new RegExp(`exited before their memory maps could be read \\(PID ${pid}\\)`));
  } finally {
    late.close();
  }
});

test('a deleted binary resolves through /proc/PID/map_files', async () => {
  const b = buildC();
  const copy = join(b.dir, 'prog-deleted');
  copyFileSync(b.pie, copy);
  const prog = await startProgram(copy);
  unlinkSync(copy);
  const sym = new Symbolizer();
  try {
    const maps = readProcMaps(prog.pid)!;
    assert.ok(maps.some((m) => m.path === copy && m.deleted), 'maps show (deleted)');
    sym.snapshot(prog.pid);
    const frames = sym.symbolizeUser(prog.pid, PROG_FUNCS.map((n) => prog.addrs.get(n)!));
    assert.deepEqual(
      frames.map((f) => [f.name, f.module]),
      PROG_FUNCS.map((n) => [n, copy]),
    );
  } finally {
    sym.close();
    await prog.stop();
  }
});

test('container paths: the binary is read through /proc/PID/root, and only if its inode matches', () => {
  const b = buildC();
  // A fake procfs with one process whose root holds the binary at /opt/app (absent on the host).
  const proc = join(fixtureDir(), 'fakeproc');
  const pid = 4242;
  const inRoot = join(proc, String(pid), 'root', 'opt', 'app');
  mkdirSync(inRoot, { recursive: true });
  const exe = join(inRoot, 'prog-nopie');
  copyFileSync(b.nonPie, exe);
  const ino = statSync(exe).ino;
  const text = readelfLoads(b.nonPie).find((l) => l.flags.includes('E'))!;
  const start = text.vaddr & ~0xfffn;
  const end = (text.vaddr + text.filesz + 0xfffn) & ~0xfffn;
  const line = (inode: number | bigint) =>
    `${start.toString(16)}-${end.toString(16)} r-xp ${(text.offset & ~0xfffn).toString(16).padStart(8, '0')} fd:01 ${inode}   /opt/app/prog-nopie\n`;
  const nm = nmFunctions(b.nonPie);
  const one = nm.find((s) => s.name === 'prog_function_one')!.value;

  writeFileSync(join(proc, String(pid), 'maps'), line(ino));
  const sym = new Symbolizer({ procRoot: proc });
  try {
    const f = sym.symbolizeUser(pid, [one + 1n])[0]!;
    assert.deepEqual(f, { name: 'prog_function_one', kind: 'user', address: one + 1n, module: '/opt/app/prog-nopie', buildId: buildIdOf(b.nonPie) });
  } finally {
    sym.close();
  }
  // The same path, but the maps name another inode: the file there is not the one mapped.
  writeFileSync(join(proc, String(pid), 'maps'), line(BigInt(ino) + 1000n));
  const other = new Symbolizer({ procRoot: proc });
  try {
    const f = other.symbolizeUser(pid, [one + 1n])[0]!;
    assert.equal(f.name, `prog-nopie+0x${(one + 1n - start + (text.offset & ~0xfffn)).toString(16)}`);
    assert.equal(f.buildId, undefined);
    assert.ok(other.warnings().some((w) => w.includes('/opt/app/prog-nopie')));
  } finally {
    other.close();
  }
});

test('each binary is parsed once: by device and inode, and by build-id across copies', async () => {
  const b = buildC();
  const copy = join(b.dir, 'prog-copy');
  copyFileSync(b.pie, copy);
  const p1 = await startProgram(b.pie);
  const p2 = await startProgram(b.pie);
  const p3 = await startProgram(copy);
  const sym = new Symbolizer();
  try {
    sym.snapshot(p1.pid);
    const after1 = sym.stats();
    assert.ok(after1.elfFilesOpened >= 3, 'program, libfix, libc, ld.so');
    sym.snapshot(p2.pid);
    const after2 = sym.stats();
    assert.equal(after2.elfFilesOpened, after1.elfFilesOpened, 'the second process of the same binary parses nothing new');
    assert.ok(after2.elfCacheHits >= after1.elfCacheHits + 3);
    sym.snapshot(p3.pid);
    const after3 = sym.stats();
    assert.equal(after3.elfFilesOpened, after1.elfFilesOpened, 'a copy (other inode, same build-id) is not parsed again');
    for (const p of [p1, p2, p3]) {
      assert.equal(sym.symbolizeUser(p.pid, [p.addrs.get('prog_function_two')!])[0]!.name, 'prog_function_two');
    }
    assert.equal(sym.symbolizeUser(p3.pid, [p3.addrs.get('main')!])[0]!.module, copy);
  } finally {
    sym.close();
    await Promise.all([p1.stop(), p2.stop(), p3.stop()]);
  }
});

test('[vdso] resolves from the image in the process memory (truth: nm -D of a dump)', async () => {
  const b = buildC();
  const prog = await startProgram(b.pie);
  const sym = new Symbolizer();
  try {
    const maps = readProcMaps(prog.pid)!;
    const vdso = maps.find((m) => m.kind === 'vdso')!;
    assert.equal(vdso.start, prog.addrs.get('vdso'));
    // Dump it independently of the code under test and ask binutils what is in it.
    const len = Number(vdso.end - vdso.start);
    const buf = Buffer.alloc(len);
    const fd = openSync(`/proc/${prog.pid}/mem`, 'r');
    try {
      readSync(fd, buf, 0, len, vdso.start);
    } finally {
      closeSync(fd);
    }
    const dump = join(b.dir, 'vdso.so');
    writeFileSync(dump, buf);
    const load = readelfLoads(dump)[0]!;
    const syms = nmFunctions(dump, true);
    assert.ok(syms.length > 0, 'the vDSO exports functions');
    const byAddr = new Map<bigint, Set<string>>();
    for (const s of syms) {
      const set = byAddr.get(s.value) ?? new Set<string>();
      set.add(s.name);
      byAddr.set(s.value, set);
    }
    for (const s of syms) {
      const addr = vdso.start + (s.value - load.vaddr + load.offset) + 1n;
      const f = sym.symbolizeUser(prog.pid, [addr])[0]!;
      assert.ok(byAddr.get(s.value)!.has(f.name), `${f.name} should be one of ${[...byAddr.get(s.value)!].join('/')}`);
      assert.equal(f.module, '[vdso]');
      assert.equal(f.kind, 'user');
    }
  } finally {
    sym.close();
    await prog.stop();
  }
});

test('anonymous executable memory resolves through /tmp/perf-PID.map as jit frames', async () => {
  const b = buildC();
  const prog = await startProgram(b.pie);
  const perfDir = join(fixtureDir(), 'perfmaps');
  mkdirSync(perfDir, { recursive: true });
  const jit = prog.addrs.get('jit')!;
  writeFileSync(
    join(perfDir, `perf-${prog.pid}.map`),
    `${jit.toString(16)} 40 LazyCompile:*hotLoop /app/server.js:12:5\n${(jit + 0x40n).toString(16)} 20 Builtin: CallFunction\n`,
  );
  const sym = new Symbolizer({ perfMapDir: perfDir });
  try {
    sym.snapshot(prog.pid);
    const frames = sym.symbolizeUser(prog.pid, [jit + 0x10n, jit + 0x45n, jit + 0x100n, prog.addrs.get('main')!]);
    assert.deepEqual(frames[0], { name: 'LazyCompile:*hotLoop /app/server.js:12:5', kind: 'jit', address: jit + 0x10n });
    assert.equal(frames[1]!.name, 'Builtin: CallFunction');
    assert.deepEqual(frames[2], { name: '[unknown]', kind: 'user', address: jit + 0x100n }, 'not in the map: never guessed');
    assert.equal(frames[3]!.name, 'main');
  } finally {
    sym.close();
    await prog.stop();
  }
});

test('a stripped binary resolves through its separate debug file (by build-id)', async () => {
  const b = buildC();
  const prog = await startProgram(b.stripped);
  const withDebug = new Symbolizer({ debugDirs: [b.debugDir] });
  const without = new Symbolizer({ debugDirs: [] });
  try {
    const addrs = PROG_FUNCS.map((n) => prog.addrs.get(n)! + 1n);
    assert.deepEqual(
      withDebug.symbolizeUser(prog.pid, addrs).map((f) => f.name),
      PROG_FUNCS,
    );
    const nm = nmFunctions(b.pie);
    assert.deepEqual(
      without.symbolizeUser(prog.pid, addrs).map((f) => f.name),
      PROG_FUNCS.map((n) => `prog-stripped+0x${(nm.find((s) => s.name === n)!.value + 1n).toString(16)}`),
    );
  } finally {
    withDebug.close();
    without.close();
    await prog.stop();
  }
});

test('C++ frames come out demangled, as c++filt prints them', async (t) => {
  const exe = buildCxx();
  if (!exe) {
    skipOutsideCi(t, 'g++ missing');
    return;
  }
  const exePath: string = exe;
  const prog = await startProgram(exePath);
  const sym = new Symbolizer();
  try {
    const nm = nmFunctions(exePath);
    for (const key of ['compute', 'free_function', 'anon_helper']) {
      const addr = prog.addrs.get(key)!;
      const f = sym.symbolizeUser(prog.pid, [addr + 1n])[0]!;
      const maps = readProcMaps(prog.pid)!;
      const map = findMapping(maps, addr)!;
      const loads: ReadelfLoad[] = readelfLoads(exePath);
      const load: ReadelfLoad = loads.find((l) => map.offset >= l.offset && map.offset < l.offset + l.filesz)!;
      const vaddr: bigint = addr - map.start + map.offset - load.offset + load.vaddr;
      const mangled: string = nm.find((s) => s.value === vaddr)!.name;
      assert.equal(f.name, cxxfilt([mangled])[0], key);
      assert.equal(f.name, demangle(mangled));
    }
  } finally {
    sym.close();
    await prog.stop();
  }
});

test('kernel addresses resolve from /proc/kallsyms, with module and build-id', (t) => {
  const sym = new Symbolizer();
  if (sym.kernelAddressesHidden) {
    if (process.env.CI) assert.fail('kernel addresses are hidden: CI runs as root and must see them');
    skipOutsideCi(t, 'kernel addresses hidden (not root)');
    return;
  }
  const text = readFileSync('/proc/kallsyms', 'utf8');
  const pick = (name: string): bigint | undefined => {
    const m = new RegExp(`^([0-9a-f]+) [tT] ${name}$`, 'm').exec(text);
    return m ? BigInt('0x' + m[1]!) : undefined;
  };
  const schedule = pick('schedule')!;
  const nanosleep = pick('do_nanosleep')!;
  assert.ok(schedule && nanosleep);
  const frames = sym.symbolizeKernel([schedule + 4n, nanosleep, 0x10n]);
  assert.equal(frames[0]!.name, 'schedule');
  assert.equal(frames[0]!.kind, 'kernel');
  assert.equal(frames[0]!.module, '[kernel.kallsyms]');
  assert.equal(frames[0]!.address, schedule + 4n);
  assert.equal(frames[1]!.name, 'do_nanosleep');
  assert.deepEqual(frames[2], { name: '[unknown]', kind: 'kernel', address: 0x10n });
  // The kernel's build-id, from /sys/kernel/notes, as readelf would print it.
  let notes: Buffer | null = null;
  try {
    notes = readFileSync('/sys/kernel/notes');
  } catch {
    // no notes: no build-id expected
  }
  if (notes) {
    assert.match(frames[0]!.buildId ?? '', /^[0-9a-f]{40}$/);
    assert.ok(notes.toString('hex').includes(frames[0]!.buildId!));
  }
  assert.deepEqual(sym.warnings(), []);
});

test('hidden kernel addresses: [unknown] frames and a warning that says how to fix it', () => {
  const fake = join(fixtureDir(), 'kallsyms-hidden');
  writeFileSync(fake, '0000000000000000 T _stext\n0000000000000000 T schedule\n0000000000000000 t ext4_read\t[ext4]\n');
  const sym = new Symbolizer({ kallsymsPath: fake });
  assert.equal(sym.kernelAddressesHidden, true);
  assert.deepEqual(sym.symbolizeKernel([0xffffffff81000000n]), [{ name: '[unknown]', kind: 'kernel', address: 0xffffffff81000000n }]);
  const w = sym.warnings();
  assert.equal(w.length, 1);
  assert.match(w[0]!, /kptr_restrict/);
  const missing = new Symbolizer({ kallsymsPath: join(fixtureDir(), 'no-such-kallsyms') });
  assert.equal(missing.symbolizeKernel([1n])[0]!.name, '[unknown]');
  assert.match(missing.warnings()[0]!, /cannot read kernel symbols/);
});

test('10,000 distinct addresses in the node binary (this process): all resolved, checked against nm', (t) => {
  const exe = realpathSync(process.execPath);
  const sym = new Symbolizer();
  try {
    sym.snapshot(process.pid);
    const maps = readProcMaps(process.pid)!;
    const text = maps.filter((m) => m.executable && m.path === exe);
    assert.ok(text.length > 0, `${exe} mapped executable`);
    const span = text.reduce((n, m) => n + (m.end - m.start), 0n);
    const addrs: bigint[] = [];
    for (const m of text) {
      const count = Number(((m.end - m.start) * 10_000n) / span);
      const step = (m.end - m.start) / BigInt(count + 1);
      for (let i = 1; i <= count; i++) addrs.push(m.start + step * BigInt(i));
    }
    const t0 = process.hrtime.bigint();
    const frames = sym.symbolizeUser(process.pid, addrs);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    // Second pass: all cached.
    const t1 = process.hrtime.bigint();
    sym.symbolizeUser(process.pid, addrs);
    const ms2 = Number(process.hrtime.bigint() - t1) / 1e6;
    t.diagnostic(`${addrs.length} addresses in ${exe}: ${ms.toFixed(0)} ms cold (parse + lookups), ${ms2.toFixed(1)} ms cached`);
    assert.equal(frames.length, addrs.length);
    const resolved = frames.filter((f) => !f.name.startsWith(`${exe.split('/').pop()}+0x`));
    assert.ok(resolved.length > addrs.length * 0.9, `${resolved.length} of ${addrs.length} named by a symbol`);
    for (const f of frames) assert.equal(f.module, exe);

    // Truth for a sample: nm's sized symbols of the binary, at addresses no other symbol shares.
    const nm = execFileSync('nm', ['--defined-only', '-S', exe], { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
    const rows = nm
      .split('\n')
      .map((l) => /^([0-9a-f]+) ([0-9a-f]+) [Tt] (\S+)$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ value: BigInt('0x' + m[1]!), size: BigInt('0x' + m[2]!), name: m[3]! }));
    const starts = new Map<bigint, number>();
    for (const r of rows) starts.set(r.value, (starts.get(r.value) ?? 0) + 1);
    const sample = rows.filter((r) => r.size > 8n && starts.get(r.value) === 1).filter((_, i) => i % 997 === 0);
    assert.ok(sample.length > 20);
    const loads = readelfLoads(exe);
    const toAbs = (vaddr: bigint): bigint | undefined => {
      for (const m of text) {
        const l = loads.find((x) => m.offset >= x.offset && m.offset < x.offset + x.filesz);
        if (!l) continue;
        const abs = vaddr - l.vaddr + l.offset - m.offset + m.start;
        if (abs >= m.start && abs < m.end) return abs;
      }
      return undefined;
    };
    let checked = 0;
    for (const r of sample) {
      const abs = toAbs(r.value + r.size / 2n);
      if (abs === undefined) continue;
      const f = sym.symbolizeUser(process.pid, [abs])[0]!;
      assert.equal(f.name, demangle(r.name), `0x${r.value.toString(16)} ${r.name}`);
      checked++;
    }
    assert.ok(checked > 20, `${checked} nm symbols checked`);
  } finally {
    sym.close();
  }
});

test('userStackFrames: what symbolizeUser gives for the call sites, reported as sampled, root first, shared between stacks', async () => {
  const b = buildC();
  const prog = await startProgram(b.pie);
  const sym = new Symbolizer();
  const ref = new Symbolizer();
  try {
    sym.snapshot(prog.pid);
    ref.snapshot(prog.pid);
    const at = (n: string, off: bigint): bigint => prog.addrs.get(n)! + off;
    // Leaf first, as stacks are sampled: the leaf and index 3 (exact) are looked up as given,
    // the others at address - 1 (a call site: address 1 past a function start is still in it,
    // the start itself falls in whatever precedes it); 0 stays 0; 0x10 is unmapped.
    const ips = [at('prog_function_one', 0n), at('prog_function_two', 1n), at('lib_function_beta', 5n), at('main', 0n), 0n, 0x10n, at('main', 3n)];
    const exact = [3];
    const lookups = ips.map((ip, i) => (i === 0 || ip === 0n || exact.includes(i) ? ip : ip - 1n));
    const expected = ref
      .symbolizeUser(prog.pid, lookups)
      .map((f, i) => ({ ...f, address: ips[i]! }))
      .reverse();
    const out = new Array<Frame>(ips.length + 2);
    sym.userStackFrames(prog.pid, ips, exact, out, 1);
    assert.deepEqual(out.slice(1, 1 + ips.length), expected);
    assert.equal(out[0], undefined, 'nothing written before start');
    assert.equal(out[ips.length + 1], undefined, 'nothing written after the stack');
    // A second stack through the same addresses reuses the frame objects.
    const again = new Array<Frame>(ips.length);
    sym.userStackFrames(prog.pid, ips, exact, again, 0);
    again.forEach((f, i) => {
      if (f.name !== '[unknown]') assert.equal(f, out[i + 1], `frame ${i} shared`);
    });
    // symbolizeUser of a call site's own address still reports that address (the cache holds a
    // frame made for the return address).
    const callSite = ips[2]! - 1n;
    assert.deepEqual(sym.symbolizeUser(prog.pid, [callSite]), ref.symbolizeUser(prog.pid, [callSite]));
    assert.deepEqual(sym.warnings(), ref.warnings());
  } finally {
    sym.close();
    ref.close();
    await prog.stop();
  }
});
