import assert from 'node:assert/strict';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { LivePerfMap, PerfMap, parsePerfMapLine } from '../../src/symbolize/perfmap.js';
import { fixtureDir } from './fixtures.js';

test('parses node --perf-basic-prof lines: hex without 0x, names with spaces', () => {
  assert.deepEqual(parsePerfMapLine('3ef414c0 5c LazyCompile:~hot /app/server.js:10:3'), {
    start: 0x3ef414c0n,
    size: 0x5cn,
    name: 'LazyCompile:~hot /app/server.js:10:3',
  });
  assert.deepEqual(parsePerfMapLine('0x7f00aa000000 0x20 Builtin: ArgumentsAdaptorTrampoline'), {
    start: 0x7f00aa000000n,
    size: 0x20n,
    name: 'Builtin: ArgumentsAdaptorTrampoline',
  });
  assert.equal(parsePerfMapLine(''), null);
  assert.equal(parsePerfMapLine('zz 10 name'), null);
  assert.equal(parsePerfMapLine('1000 0 zero-size'), null);
  assert.equal(parsePerfMapLine('1000 10'), null, 'no name');
});

test('lookup: inside entries only, later lines win where code was re-JITted', () => {
  const map = PerfMap.parse(
    [
      '1000 100 first',
      '1100 10 second',
      'garbage line',
      '2000 1000 big old',
      '2400 10 small new',
      '1000 80 recompiled',
    ].join('\n'),
  );
  assert.equal(map.size, 5);
  assert.equal(map.lookup(0xfffn), null);
  assert.equal(map.lookup(0x1000n)?.name, 'recompiled');
  assert.equal(map.lookup(0x1090n)?.name, 'first', 'beyond the recompiled entry, the older one still covers');
  assert.equal(map.lookup(0x1105n)?.name, 'second');
  assert.equal(map.lookup(0x1110n), null, 'end is exclusive');
  assert.equal(map.lookup(0x2405n)?.name, 'small new');
  assert.equal(map.lookup(0x2fffn)?.name, 'big old');
  assert.equal(map.lookup(0x3000n), null);
});

test('LivePerfMap re-reads the file when the runtime appended to it', () => {
  const path = join(fixtureDir(), 'perf-999999.map');
  writeFileSync(path, '1000 10 one\n');
  const live = new LivePerfMap(path);
  assert.equal(live.lookup(0x1004n)?.name, 'one');
  assert.equal(live.lookup(0x5004n), null);
  appendFileSync(path, '5000 10 appended later\n');
  assert.equal(live.lookup(0x5004n)?.name, 'appended later');
  assert.equal(new LivePerfMap(join(fixtureDir(), 'perf-missing.map')).lookup(0x1000n), null);
  assert.equal(PerfMap.load(join(fixtureDir(), 'perf-missing.map')), null);
});
