import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { isTerminalSafe, sanitizeFoldedName, sanitizeTerminal, truncateEnd } from '../../src/render/sanitize.js';
import { formatCount, formatDurationNs, formatPercent } from '../../src/render/format.js';
import { shouldUseColor } from '../../src/render/color.js';

describe('sanitizeTerminal', () => {
  it('escapes C0, DEL and C1 controls visibly', () => {
    assert.equal(sanitizeTerminal('\x1b[31mred\x1b[0m'), '\\x1b[31mred\\x1b[0m');
    assert.equal(sanitizeTerminal('a\nb\rc\td\x00e\x7ff\u009bg'), 'a\\x0ab\\x0dc\\x09d\\x00e\\x7ff\\x9bg');
  });

  it('escapes bidi overrides, line separators and lone surrogates', () => {
    assert.equal(sanitizeTerminal('abc\u202Edef\u2066'), 'abc\\u{202e}def\\u{2066}');
    assert.equal(sanitizeTerminal('x\u2028y'), 'x\\u{2028}y');
    assert.equal(sanitizeTerminal('lone\ud800'), 'lone\\u{d800}');
    assert.equal(sanitizeTerminal('\udc00x'), '\\u{dc00}x');
  });

  it('leaves ordinary text, C++ and non-ASCII names alone', () => {
    for (const s of ['std::vector<int>::push_back(int const&)', 'Grüße', '函数', 'emoji 🔥', '<img src=x onerror=alert(1)>']) {
      assert.equal(sanitizeTerminal(s), s);
      assert.ok(isTerminalSafe(s));
    }
    assert.ok(!isTerminalSafe('\x1b'));
  });
});

describe('sanitizeFoldedName', () => {
  it('replaces ; with : and escapes controls; empty becomes [unknown]', () => {
    assert.equal(sanitizeFoldedName('a;b'), 'a:b');
    assert.equal(sanitizeFoldedName('x\ny'), 'x\\x0ay');
    assert.equal(sanitizeFoldedName(''), '[unknown]');
    assert.equal(sanitizeFoldedName('with space 12'), 'with space 12');
  });

  it('printable ASCII (the common case, tested first) and everything else give the same answers', () => {
    assert.equal(sanitizeFoldedName('std::map<int, int>::at(int const&) const;x;y'), 'std::map<int, int>::at(int const&) const:x:y');
    assert.equal(sanitizeFoldedName(' ~!@#$%^&*()_+`-={}|[]\\:"\'<>?,./'), ' ~!@#$%^&*()_+`-={}|[]\\:"\'<>?,./');
    assert.equal(sanitizeFoldedName('Grüße;x'), 'Grüße:x');
    assert.equal(sanitizeFoldedName('a;\x7f;b'), 'a:\\x7f:b');
    assert.equal(sanitizeTerminal('tab\there;'), 'tab\\x09here;');
    assert.equal(sanitizeTerminal('plain ascii;'), 'plain ascii;');
  });
});

describe('truncateEnd', () => {
  it('cuts with an ellipsis and never splits a surrogate pair', () => {
    assert.equal(truncateEnd('abcdef', 10), 'abcdef');
    assert.equal(truncateEnd('abcdef', 4), 'abc…');
    assert.equal(truncateEnd('ab🔥cd', 4), 'ab…');
    assert.equal(truncateEnd('ab🔥cd', 5), 'ab🔥…');
  });
});

describe('format', () => {
  it('formatDurationNs: three significant digits, unit rollover', () => {
    const cases: Array<[number | bigint, string]> = [
      [0, '0 ns'],
      [512, '512 ns'],
      [999, '999 ns'],
      [1_000, '1.00 us'],
      [789_000, '789 us'],
      [999_600, '1.00 ms'],
      [45_600_000, '45.6 ms'],
      [1_230_000_000, '1.23 s'],
      [12_345_000_000, '12.3 s'],
      [3_600_000_000_000n, '3600 s'],
    ];
    for (const [ns, text] of cases) assert.equal(formatDurationNs(ns), text, `${ns}`);
  });

  it('formatPercent and formatCount', () => {
    assert.equal(formatPercent(12.5), '12.50%');
    assert.equal(formatPercent(100), '100.00%');
    assert.equal(formatCount(1234567), '1234567');
    assert.equal(formatCount(1.5), '1.50');
  });
});

describe('shouldUseColor', () => {
  it('follows --color, NO_COLOR, FORCE_COLOR, then TTY', () => {
    const tty = { isTTY: true };
    const pipe = { isTTY: false };
    assert.equal(shouldUseColor(tty, {}), true);
    assert.equal(shouldUseColor(pipe, {}), false);
    assert.equal(shouldUseColor({}, {}), false);
    assert.equal(shouldUseColor(tty, { TERM: 'dumb' }), false);
    assert.equal(shouldUseColor(tty, { NO_COLOR: '1' }), false);
    assert.equal(shouldUseColor(tty, { NO_COLOR: '' }), true);
    assert.equal(shouldUseColor(pipe, { FORCE_COLOR: '1' }), true);
    assert.equal(shouldUseColor(tty, { FORCE_COLOR: '0' }), false);
    assert.equal(shouldUseColor(tty, { NO_COLOR: '1' }, 'always'), true);
    assert.equal(shouldUseColor(tty, {}, 'never'), false);
  });
});
