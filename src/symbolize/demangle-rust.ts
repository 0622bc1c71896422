// Rust symbol demangling, printed like rustc-demangle's alternate form (`{:#}`: no hashes, no
// crate disambiguators): legacy `_ZN...17h<hash>E` and v0 `_R...`.

class Fail extends Error {}
const fail = (): never => {
  throw new Fail();
};

const MAX_DEPTH = 200;
const MAX_OUTPUT = 1 << 16;
const MAX_STEPS = 1 << 20;

/** Strips an LLVM `.llvm.<hex>` suffix (ignored by rustc-demangle and c++filt). */
function stripLlvmSuffix(s: string): string {
  const i = s.indexOf('.llvm.');
  if (i >= 0 && /^[0-9A-F@]+$/.test(s.slice(i + 6))) return s.slice(0, i);
  return s;
}

function isRustHash(component: string): boolean {
  return component.length === 17 && component[0] === 'h' && /^[0-9a-f]{16}$/.test(component.slice(1));
}

function unescapeLegacy(id: string): string {
  let rest = id.startsWith('_$') ? id.slice(1) : id;
  let out = '';
  while (rest.length > 0) {
    if (rest.startsWith('.')) {
      if (rest[1] === '.') {
        out += '::';
        rest = rest.slice(2);
      } else {
        out += '.';
        rest = rest.slice(1);
      }
    } else if (rest.startsWith('$')) {
      const end = rest.indexOf('$', 1);
      if (end < 0) break;
      const esc = rest.slice(1, end);
      const simple: Record<string, string> = { SP: '@', BP: '*', RF: '&', LT: '<', GT: '>', LP: '(', RP: ')', C: ',' };
      let rep = simple[esc];
      if (rep === undefined && esc.startsWith('u') && /^[0-9a-f]+$/.test(esc.slice(1))) {
        const cp = parseInt(esc.slice(1), 16);
        if (cp <= 0x10ffff && cp >= 0x20 && !(cp >= 0x7f && cp < 0xa0)) rep = String.fromCodePoint(cp);
      }
      if (rep === undefined) break;
      out += rep;
      rest = rest.slice(end + 1);
    } else {
      const m = /[$.]/.exec(rest);
      if (!m) break;
      out += rest.slice(0, m.index);
      rest = rest.slice(m.index);
    }
  }
  return out + rest;
}

const LEGACY_HASH = /17h[0-9a-f]{16}E(?:\.|$)/;

/** Legacy Rust: `_ZN` components ending in a `h<16 hex>` hash component, `E`, optional suffix. */
export function demangleRustLegacy(mangled: string): string | null {
  if (!mangled.startsWith('_ZN') || !LEGACY_HASH.test(mangled)) return null;
  const s = stripLlvmSuffix(mangled);
  let i = 3;
  const parts: string[] = [];
  while (i < s.length && s[i] !== 'E') {
    const m = /^[0-9]+/.exec(s.slice(i, i + 10));
    if (!m) return null;
    const len = Number(m[0]);
    i += m[0].length;
    if (len === 0 || i + len > s.length) return null;
    parts.push(s.slice(i, i + len));
    i += len;
  }
  if (s[i] !== 'E' || parts.length < 2 || !isRustHash(parts[parts.length - 1]!)) return null;
  const suffix = s.slice(i + 1);
  if (suffix !== '' && !suffix.startsWith('.')) return null;
  // Compiler suffixes (`.123`, `.llvm.N`) are dropped, as c++filt does, so copies merge.
  return parts.slice(0, -1).map(unescapeLegacy).join('::');
}

const BASIC: Record<string, string> = {
  a: 'i8',
  b: 'bool',
  c: 'char',
  d: 'f64',
  e: 'str',
  f: 'f32',
  h: 'u8',
  i: 'isize',
  j: 'usize',
  l: 'i32',
  m: 'u32',
  n: 'i128',
  o: 'u128',
  s: 'i16',
  t: 'u16',
  u: '()',
  v: '...',
  x: 'i64',
  y: 'u64',
  z: '!',
  p: '_',
};
const SIGNED = new Set(['a', 's', 'l', 'x', 'n', 'i']);
const UNSIGNED = new Set(['h', 't', 'm', 'y', 'o', 'j']);

/** RFC 3492 punycode decoding (Rust v0 uses `_` instead of `-` as the delimiter). */
function punycodeDecode(ascii: string, encoded: string): string {
  const out = [...ascii].map((c) => c.codePointAt(0)!);
  let n = 128;
  let bias = 72;
  let i = 0;
  let pos = 0;
  const digit = (c: string): number => {
    if (c >= 'a' && c <= 'z') return c.charCodeAt(0) - 97;
    if (c >= '0' && c <= '9') return c.charCodeAt(0) - 48 + 26;
    return fail();
  };
  while (pos < encoded.length) {
    const oldi = i;
    let w = 1;
    for (let k = 36; ; k += 36) {
      if (pos >= encoded.length) fail();
      const d = digit(encoded[pos++]!);
      i += d * w;
      const t = k <= bias ? 1 : k >= bias + 26 ? 26 : k - bias;
      if (d < t) break;
      w *= 36 - t;
      if (i > 0x10ffff * 64) fail();
    }
    const len = out.length + 1;
    let delta = oldi === 0 ? Math.floor((i - oldi) / 700) : Math.floor((i - oldi) / 2);
    delta += Math.floor(delta / len);
    let k = 0;
    while (delta > ((36 - 1) * 26) >> 1) {
      delta = Math.floor(delta / 35);
      k += 36;
    }
    bias = k + Math.floor((36 * delta) / (delta + 38));
    n += Math.floor(i / len);
    i %= len;
    if (n > 0x10ffff) fail();
    out.splice(i, 0, n);
    i++;
  }
  return String.fromCodePoint(...out);
}

class V0 {
  i = 0;
  depth = 0;
  steps = 0;
  /** Lifetimes bound by enclosing `for<...>` binders. */
  boundLifetimes = 0;
  constructor(readonly s: string) {}

  peek(): string | undefined {
    return this.s[this.i];
  }
  eat(c: string): boolean {
    if (this.s[this.i] === c) {
      this.i++;
      return true;
    }
    return false;
  }
  next(): string {
    const c = this.s[this.i];
    if (c === undefined) fail();
    this.i++;
    return c!;
  }
  /** Bounds recursion depth, total work (backrefs can repeat subtrees) and output size. */
  guard<T>(f: () => T): T {
    if (++this.depth > MAX_DEPTH || ++this.steps > MAX_STEPS) fail();
    try {
      const r = f();
      if (typeof r === 'string' && r.length > MAX_OUTPUT) fail();
      return r;
    } finally {
      this.depth--;
    }
  }

  /** <base-62-number>: `_` is 0, else digits then `_` is value + 1. */
  int62(): number {
    if (this.eat('_')) return 0;
    let x = 0;
    for (;;) {
      const c = this.next();
      if (c === '_') break;
      let d: number;
      if (c >= '0' && c <= '9') d = c.charCodeAt(0) - 48;
      else if (c >= 'a' && c <= 'z') d = c.charCodeAt(0) - 97 + 10;
      else if (c >= 'A' && c <= 'Z') d = c.charCodeAt(0) - 65 + 36;
      else return fail();
      // Crate disambiguators are 64-bit hashes: precision may go, only backrefs need exact values
      // (and those are small, checked against the position).
      x = x * 62 + d;
    }
    return x + 1;
  }

  optInt62(tag: string): number {
    if (!this.eat(tag)) return 0;
    return this.int62() + 1;
  }

  decimal(): number {
    const start = this.i;
    if (this.peek() === '0') {
      this.i++;
      return 0;
    }
    while (this.peek() !== undefined && this.peek()! >= '0' && this.peek()! <= '9') this.i++;
    if (this.i === start || this.i - start > 9) fail();
    return Number(this.s.slice(start, this.i));
  }

  ident(): { name: string; dis: number } {
    const dis = this.optInt62('s');
    const puny = this.eat('u');
    const len = this.decimal();
    this.eat('_');
    if (this.i + len > this.s.length) fail();
    const raw = this.s.slice(this.i, this.i + len);
    this.i += len;
    if (!puny) return { name: raw, dis };
    const cut = raw.lastIndexOf('_');
    return { name: cut >= 0 ? punycodeDecode(raw.slice(0, cut), raw.slice(cut + 1)) : punycodeDecode('', raw), dis };
  }

  backref<T>(f: () => T): T {
    const start = this.i - 1;
    const target = this.int62();
    if (target >= start) fail();
    const saved = this.i;
    this.i = target;
    try {
      return f();
    } finally {
      this.i = saved;
    }
  }

  path(inValue: boolean): string {
    return this.guard(() => {
      const c = this.next();
      switch (c) {
        case 'C':
          return this.ident().name;
        case 'M': {
          this.optInt62('s');
          this.path(false);
          return `<${this.type()}>`;
        }
        case 'X': {
          this.optInt62('s');
          this.path(false);
          const t = this.type();
          return `<${t} as ${this.path(false)}>`;
        }
        case 'Y': {
          const t = this.type();
          return `<${t} as ${this.path(false)}>`;
        }
        case 'N': {
          const ns = this.next();
          const inner = this.path(inValue);
          const { name, dis } = this.ident();
          if (ns >= 'A' && ns <= 'Z') {
            const kind = ns === 'C' ? 'closure' : ns === 'S' ? 'shim' : ns;
            return `${inner}::{${kind}${name ? ':' + name : ''}#${dis}}`;
          }
          if (ns < 'a' || ns > 'z') fail();
          return name ? `${inner}::${name}` : inner;
        }
        case 'I': {
          const p = this.path(inValue);
          const args: string[] = [];
          while (!this.eat('E')) args.push(this.genericArg());
          return `${p}${inValue ? '::' : ''}<${args.join(', ')}>`;
        }
        case 'B':
          return this.backref(() => this.path(inValue));
        default:
          return fail();
      }
    });
  }

  genericArg(): string {
    if (this.eat('L')) return this.lifetime(this.int62());
    if (this.eat('K')) return this.konst();
    return this.type();
  }

  lifetime(i: number): string {
    if (i === 0) return "'_";
    const depth = this.boundLifetimes - i;
    if (depth < 0) fail();
    return depth < 26 ? `'${String.fromCharCode(97 + depth)}` : `'_${depth}`;
  }

  /** `[G <n>] body`: prints `for<'a, ...> ` before what `body` prints, with the lifetimes bound. */
  binder(body: () => string): string {
    const n = this.optInt62('G');
    if (n === 0) return body();
    this.boundLifetimes += n;
    try {
      const names: string[] = [];
      for (let i = 0; i < n; i++) names.push(this.lifetime(n - i));
      return `for<${names.join(', ')}> ${body()}`;
    } finally {
      this.boundLifetimes -= n;
    }
  }

  type(): string {
    return this.guard(() => {
      const c = this.peek();
      if (c === undefined) return fail();
      const b = BASIC[c];
      if (b !== undefined) {
        this.i++;
        return b;
      }
      this.i++;
      switch (c) {
        case 'R':
        case 'Q': {
          let lt = '';
          if (this.eat('L')) {
            const l = this.int62();
            if (l !== 0) lt = this.lifetime(l) + ' ';
          }
          return `&${lt}${c === 'Q' ? 'mut ' : ''}${this.type()}`;
        }
        case 'P':
          return `*const ${this.type()}`;
        case 'O':
          return `*mut ${this.type()}`;
        case 'A': {
          const t = this.type();
          return `[${t}; ${this.konst()}]`;
        }
        case 'S':
          return `[${this.type()}]`;
        case 'T': {
          const ts: string[] = [];
          while (!this.eat('E')) ts.push(this.type());
          return ts.length === 1 ? `(${ts[0]},)` : `(${ts.join(', ')})`;
        }
        case 'F':
          return this.binder(() => {
            const unsafe = this.eat('U');
            let abi = '';
            if (this.eat('K')) {
              if (this.eat('C')) abi = 'C';
              else abi = this.ident().name.replace(/_/g, '-');
            }
            const params: string[] = [];
            while (!this.eat('E')) params.push(this.type());
            const ret = this.type();
            return `${unsafe ? 'unsafe ' : ''}${abi ? `extern "${abi}" ` : ''}fn(${params.join(', ')})${ret === '()' ? '' : ' -> ' + ret}`;
          });
        case 'D': {
          const bounds = this.binder(() => {
            const traits: string[] = [];
            while (!this.eat('E')) traits.push(this.dynTrait());
            return traits.join(' + ');
          });
          if (!this.eat('L')) fail();
          const l = this.int62();
          return `dyn ${bounds}${l !== 0 ? ' + ' + this.lifetime(l) : ''}`;
        }
        case 'B':
          return this.backref(() => this.type());
        default:
          this.i--;
          return this.path(false);
      }
    });
  }

  dynTrait(): string {
    let p = this.path(false);
    const bindings: string[] = [];
    while (this.eat('p')) {
      const { name } = this.ident();
      bindings.push(`${name} = ${this.type()}`);
    }
    if (bindings.length) p = p.endsWith('>') ? `${p.slice(0, -1)}, ${bindings.join(', ')}>` : `${p}<${bindings.join(', ')}>`;
    return p;
  }

  konst(): string {
    return this.guard(() => {
      if (this.eat('p')) return '_';
      if (this.eat('B')) return this.backref(() => this.konst());
      const t = this.next();
      if (SIGNED.has(t) || UNSIGNED.has(t)) {
        const neg = this.eat('n');
        if (neg && !SIGNED.has(t)) fail();
        return (neg ? '-' : '') + this.hexData().toString();
      }
      if (t === 'b') {
        const v = this.hexData();
        if (v > 1n) fail();
        return v === 1n ? 'true' : 'false';
      }
      if (t === 'c') {
        const v = this.hexData();
        if (v > 0x10ffffn) fail();
        return `'${String.fromCodePoint(Number(v))}'`;
      }
      return fail();
    });
  }

  hexData(): bigint {
    const start = this.i;
    while (this.peek() !== '_') {
      const c = this.next();
      if (!/[0-9a-f]/.test(c)) fail();
    }
    const hex = this.s.slice(start, this.i);
    this.i++;
    return hex === '' ? 0n : BigInt('0x' + hex);
  }
}

/** Rust v0 (`_R...`); null when malformed. */
export function demangleRustV0(mangled: string): string | null {
  const s0 = stripLlvmSuffix(mangled);
  if (!s0.startsWith('_R') || s0.length > 8192) return null;
  const body = s0.slice(2);
  const p = new V0(body);
  try {
    if (p.peek() !== undefined && p.peek()! >= '0' && p.peek()! <= '9') return null; // unknown encoding version
    const path = p.path(true);
    // Optional instantiating crate.
    if (p.peek() !== undefined && /[A-Z]/.test(p.peek()!)) p.path(false);
    const rest = body.slice(p.i);
    if (rest !== '' && !rest.startsWith('.') && !rest.startsWith('$')) return null;
    // Vendor suffixes (`.cold`, `.llvm.N`) are dropped, as c++filt does, so copies merge.
    return path;
  } catch (e) {
    if (e instanceof Fail || e instanceof RangeError) return null;
    throw e;
  }
}
