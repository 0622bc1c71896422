// --unwind auto's frame-pointer census on real binaries: a build with frame pointers keeps them,
// one without and Debian's libc do not; the early stop decides from a part of the sample only
// when the share is far from the threshold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildWorkload } from '../helpers.js';
import { ElfFile } from '../../src/symbolize/elf.js';
import { fpCensus } from '../../src/unwind/census.js';

test('the census tells frame-pointer builds from the others, libc included, and stops early on clear cases', () => {
  const withFp = fpCensus(ElfFile.open(buildWorkload('unwind-burner', ['-O2', '-fno-omit-frame-pointer'])));
  const without = fpCensus(ElfFile.open(buildWorkload('unwind-burner', ['-O2', '-fomit-frame-pointer'])));
  const libc = fpCensus(ElfFile.open('/lib/x86_64-linux-gnu/libc.so.6'));
  assert.equal(withFp.keepsFramePointers, true, JSON.stringify(withFp));
  assert.equal(without.keepsFramePointers, false, JSON.stringify(without));
  assert.equal(libc.keepsFramePointers, false, JSON.stringify(libc));
  // libc has thousands of functions; its share (~0.02) is decided well before the sample of 600 ends
  assert.ok(libc.withFrame >= 64 && libc.functions < 300, `early stop: ${JSON.stringify(libc)}`);
  assert.ok(libc.rbpBased / libc.withFrame < 0.35, JSON.stringify(libc));
});
