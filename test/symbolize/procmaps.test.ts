import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { elfVaddrOf, fileOffsetOf, findMapping, mergeMaps, parseMaps, parseMapsLine, readProcMaps } from '../../src/symbolize/procmaps.js';
import { buildC, nmFunctions, readelfLoads, startProgram } from './fixtures.js';

const SAMPLE = `55d4c7a00000-55d4c7a02000 r--p 00000000 fd:01 1234                       /usr/bin/cat
55d4c7a02000-55d4c7a07000 r-xp 00002000 fd:01 1234                       /usr/bin/cat
55d4c8b3e000-55d4c8b5f000 rw-p 00000000 00:00 0                          [heap]
7f1e2c000000-7f1e2c021000 rw-p 00000000 00:00 0 
7f1e30000000-7f1e30001000 r-xp 00000000 00:00 0
7f1e31000000-7f1e31002000 r-xs 00000000 00:01 4242                       /memfd:jit-code (deleted)
7f1e32000000-7f1e32010000 r-xp 00001000 08:02 99                         /opt/My App/bin/my app (deleted)
7f1e33000000-7f1e33001000 rw-p 00000000 00:00 0                          [anon:v8 heap]
7ffd1a3f0000-7ffd1a411000 rw-p 00000000 00:00 0                          [stack]
7ffd1a5e2000-7ffd1a5e6000 r--p 00000000 00:00 0                          [vvar]
7ffd1a5e6000-7ffd1a5e8000 r-xp 00000000 00:00 0                          [vdso]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
not a maps line
`;

test('parses every field and classifies the mapping kinds', () => {
  const maps = parseMaps(SAMPLE);
  assert.equal(maps.length, 12);
  const [ro, text, heap, anon1, anonX, memfd, spaced, named, stack, vvar, vdso, vsys] = maps;
  assert.deepEqual(
    { start: text!.start, end: text!.end, perms: text!.perms, offset: text!.offset, dev: text!.dev, inode: text!.inode, path: text!.path },
    { start: 0x55d4c7a02000n, end: 0x55d4c7a07000n, perms: 'r-xp', offset: 0x2000n, dev: 'fd:01', inode: 1234n, path: '/usr/bin/cat' },
  );
  assert.equal(text!.executable, true);
  assert.equal(ro!.executable, false);
  assert.equal(text!.kind, 'file');
  assert.equal(heap!.kind, 'heap');
  assert.equal(anon1!.kind, 'anon');
  assert.equal(anon1!.path, '');
  assert.equal(anonX!.kind, 'anon');
  assert.equal(anonX!.executable, true);
  assert.equal(memfd!.kind, 'memfd');
  assert.equal(memfd!.deleted, true);
  assert.equal(memfd!.path, '/memfd:jit-code');
  assert.equal(memfd!.shared, true);
  assert.equal(spaced!.path, '/opt/My App/bin/my app');
  assert.equal(spaced!.deleted, true);
  assert.equal(spaced!.kind, 'file');
  assert.equal(named!.kind, 'anon');
  assert.equal(stack!.kind, 'stack');
  assert.equal(vvar!.kind, 'vvar');
  assert.equal(vdso!.kind, 'vdso');
  assert.equal(vsys!.kind, 'vsyscall');
  assert.equal(vsys!.start, 0xffffffffff600000n);
  assert.equal(parseMapsLine('garbage'), null);
  assert.equal(parseMapsLine('2000-1000 r-xp 00000000 00:00 0'), null, 'end before start');
});

test('findMapping: binary search, exclusive ends, gaps', () => {
  const maps = parseMaps(SAMPLE);
  assert.equal(findMapping(maps, 0x55d4c7a02000n)?.perms, 'r-xp');
  assert.equal(findMapping(maps, 0x55d4c7a06fffn)?.perms, 'r-xp');
  assert.equal(findMapping(maps, 0x55d4c7a07000n), undefined);
  assert.equal(findMapping(maps, 0x55d4c7a01fffn)?.perms, 'r--p');
  assert.equal(findMapping(maps, 0n), undefined);
  assert.equal(findMapping(maps, 0xffffffffff600010n)?.kind, 'vsyscall');
  assert.equal(findMapping([], 5n), undefined);
});

test('elfVaddrOf applies the bias of the PT_LOAD segment holding the file offset', () => {
  // A PIE whose text segment has p_offset 0x1000, p_vaddr 0x1000, loaded at 0x5555_5555_4000.
  const map = parseMapsLine('555555555000-555555556000 r-xp 00001000 fd:01 7 /bin/x')!;
  const loads = [
    { offset: 0n, vaddr: 0n, filesz: 0x630n },
    { offset: 0x1000n, vaddr: 0x1000n, filesz: 0x189n },
  ];
  assert.equal(fileOffsetOf(map, 0x555555555040n), 0x1040n);
  assert.equal(elfVaddrOf(map, 0x555555555040n, loads), 0x1040n);
  // A shared library whose segment vaddr differs from its offset (p_vaddr = p_offset + 0x200000).
  const lib = parseMapsLine('7f0000010000-7f0000020000 r-xp 00010000 fd:01 8 /lib/y.so')!;
  const libLoads = [{ offset: 0x10000n, vaddr: 0x210000n, filesz: 0x10000n }];
  assert.equal(elfVaddrOf(lib, 0x7f0000010123n, libLoads), 0x210123n);
  // A non-PIE executable: bias 0, vaddr equals the absolute address.
  const exe = parseMapsLine('401000-402000 r-xp 00001000 fd:01 9 /bin/z')!;
  assert.equal(elfVaddrOf(exe, 0x401234n, [{ offset: 0x1000n, vaddr: 0x401000n, filesz: 0x1000n }]), 0x401234n);
  // No segment holds the offset (e.g. past p_filesz): undefined, never a guess.
  assert.equal(elfVaddrOf(map, 0x555555555200n, loads), undefined);
  assert.equal(elfVaddrOf(map, 0x555555557000n, loads), undefined, 'outside the mapping');
});

test('mergeMaps keeps unmapped old entries and lets fresh ones win', () => {
  const old = parseMaps('1000-2000 r-xp 00000000 fd:01 1 /a\n3000-4000 r-xp 00000000 fd:01 2 /b\n');
  const fresh = parseMaps('1000-2000 r-xp 00000000 fd:01 3 /a2\n5000-6000 r-xp 00000000 fd:01 4 /c\n');
  const merged = mergeMaps(old, fresh);
  assert.deepEqual(
    merged.map((m) => m.path),
    ['/a2', '/b', '/c'],
  );
  // An old entry overlapping a fresh one (not at its start) is dropped too.
  const m2 = mergeMaps(parseMaps('1000-3000 r-xp 00000000 fd:01 1 /big\n'), parseMaps('2000-2800 r-xp 00000000 fd:01 2 /in\n'));
  assert.deepEqual(
    m2.map((m) => m.path),
    ['/in'],
  );
});

test('real process: resolving the PIE and the library from /proc/PID/maps gives nm addresses', async () => {
  const b = buildC();
  const prog = await startProgram(b.pie);
  try {
    const maps = readProcMaps(prog.pid);
    assert.ok(maps && maps.length > 5);
    assert.ok(maps.some((m) => m.kind === 'vdso'));
    for (const [file, names] of [
      [b.pie, ['prog_function_one', 'prog_function_two', 'prog_static_three', 'main']],
      [b.lib, ['lib_function_alpha', 'lib_function_beta', 'lib_static_gamma']],
    ] as const) {
      const nm = nmFunctions(file);
      const loads = readelfLoads(file);
      for (const name of names) {
        const addr = prog.addrs.get(name);
        assert.ok(addr, `${name} printed`);
        const map = findMapping(maps, addr);
        assert.ok(map, `${name} mapped`);
        assert.equal(map.path, file);
        assert.equal(map.executable, true);
        assert.equal(elfVaddrOf(map, addr, loads), nm.find((s) => s.name === name)!.value, name);
      }
    }
    // The vDSO base the program read from its auxiliary vector is the [vdso] mapping.
    assert.equal(findMapping(maps, prog.addrs.get('vdso')!)?.kind, 'vdso');
    assert.equal(findMapping(maps, prog.addrs.get('jit')!)?.kind, 'anon');
    assert.equal(readProcMaps(prog.pid, '/nonexistent'), null);
  } finally {
    await prog.stop();
  }
});

test('parses this process\'s own maps', () => {
  const text = readFileSync('/proc/self/maps', 'utf8');
  const maps = parseMaps(text);
  assert.equal(maps.length, text.trim().split('\n').length);
  for (let i = 1; i < maps.length; i++) assert.ok(maps[i - 1]!.end <= maps[i]!.start, 'sorted and disjoint');
});
