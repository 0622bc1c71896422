// Names that reach our output come from binaries we did not build (ELF symbols, JIT maps, thread
// names set with prctl). None of them may smuggle control sequences to the user's terminal or
// break a line-oriented format. Every renderer sends comm and frame names through one of these.
//
// What is replaced, and with what (visible, never silently dropped):
//   - C0 controls U+0000..U+001F (newline, tab, ESC, ...), DEL U+007F and C1 controls
//     U+0080..U+009F  ->  `\xNN` (two lowercase hex digits), so `\x1b[31m` prints as the literal
//     text `\x1b[31m`;
//   - bidirectional overrides/isolates and marks (U+061C, U+200E, U+200F, U+202A..U+202E,
//     U+2066..U+2069) and the line/paragraph separators U+2028/U+2029  ->  `\u{XXXX}`
//     (they reorder or break what the terminal shows: "Trojan Source");
//   - lone UTF-16 surrogates (not representable in UTF-8)  ->  `\u{XXXX}`.
// Everything else (including `<`, `>`, `&`, quotes and non-ASCII letters) is left alone: HTML
// escaping belongs to the HTML renderers, JSON escaping to JSON.stringify.

// eslint-disable-next-line no-control-regex
const UNSAFE =
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * Printable ASCII: nothing in it is replaced (by either function below, `;` aside). Names are
 * almost always this; one test of it is far cheaper than the replacements' scans.
 */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

function escapeChar(ch: string): string {
  const cp = ch.charCodeAt(0);
  if (cp <= 0x9f) return `\\x${cp.toString(16).padStart(2, '0')}`;
  return `\\u{${cp.toString(16).padStart(4, '0')}}`;
}

/** True when `s` contains nothing `sanitizeTerminal` would replace. */
export function isTerminalSafe(s: string): boolean {
  UNSAFE.lastIndex = 0;
  const unsafe = UNSAFE.test(s);
  UNSAFE.lastIndex = 0;
  return !unsafe;
}

/** Make a name safe to print on a terminal: control, bidi and separator characters are escaped visibly. */
export function sanitizeTerminal(s: string): string {
  if (PRINTABLE_ASCII.test(s)) return s;
  return s.replace(UNSAFE, escapeChar);
}

/**
 * Make a frame or comm name safe inside a folded-stacks line: everything `sanitizeTerminal`
 * escapes, plus `;` (the frame separator) becomes `:` as stackcollapse-perf.pl does. An empty
 * name becomes `[unknown]` so no empty frame appears. Spaces are kept: the count is always the
 * last space-separated field, so a name with spaces (or ending in ` 123`) cannot be mistaken for it.
 */
export function sanitizeFoldedName(s: string): string {
  if (s.length === 0) return '[unknown]';
  if (PRINTABLE_ASCII.test(s)) return s.includes(';') ? s.replace(/;/g, ':') : s;
  return sanitizeTerminal(s).replace(/;/g, ':');
}

/**
 * Shorten to at most `max` UTF-16 units, ending in `…` when cut. Never splits a surrogate pair.
 * Apply after sanitizing so the result stays safe.
 */
export function truncateEnd(s: string, max: number): string {
  if (max < 1 || s.length <= max) return s;
  let cut = max - 1;
  const last = s.charCodeAt(cut - 1);
  if (cut > 0 && last >= 0xd800 && last <= 0xdbff) cut -= 1;
  return `${s.slice(0, cut)}…`;
}
