// Itanium C++ ABI demangler (`_Z...`), printing the way binutils' c++filt does (libiberty's
// cp-demangle with DMGL_PARAMS | DMGL_ANSI | DMGL_VERBOSE). Parsing builds a small tree (needed
// for substitutions and C declarator syntax); printing walks it. Failure anywhere yields null.

type Node =
  | { k: 'name'; s: string } // identifier: simple in expressions
  | { k: 'atom'; s: string } // builtin type, literal text: not simple
  | { k: 'nested'; q: Node; n: Node }
  | { k: 'tmpl'; n: Node; args: Node[] }
  | { k: 'abi'; n: Node; tag: string }
  | { k: 'ctor'; n: Node; dtor: boolean }
  | { k: 'conv'; t: Node }
  | { k: 'qual'; t: Node; q: string } // postfix qualifiers: ' const', ' _Complex', ' __vector(4)'
  | { k: 'ptr'; t: Node }
  | { k: 'ref'; t: Node; rv: boolean }
  | { k: 'fn'; ret: Node | null; params: Node[]; cv: string; ref: string; exc: Node | null }
  | { k: 'arr'; t: Node; dim: Node | null }
  | { k: 'pm'; c: Node; m: Node }
  | { k: 'enc'; n: Node; fn: FnNode | null }
  | { k: 'special'; pre: string; c: Node }
  | { k: 'ctorvt'; a: Node; b: Node }
  | { k: 'local'; enc: Node; ent: Node }
  | { k: 'clone'; c: Node; suffix: string }
  | { k: 'tparam'; idx: number } // resolved when printed, against the enclosing function template
  | { k: 'lambda'; params: Node[]; num: number }
  | { k: 'pack'; elems: Node[] }
  | { k: 'expand'; t: Node }
  | { k: 'seq'; parts: (string | Node)[] }
  | { k: 'list'; items: Node[] }
  | { k: 'fparam'; s: string }
  | { k: 'sizeofpack'; t: Node };

type FnNode = Extract<Node, { k: 'fn' }>;

class Fail extends Error {}
const fail = (): never => {
  throw new Fail();
};

const MAX_DEPTH = 200;
const MAX_OUTPUT = 1 << 16;

const BUILTINS: Record<string, string> = {
  v: 'void',
  w: 'wchar_t',
  b: 'bool',
  c: 'char',
  a: 'signed char',
  h: 'unsigned char',
  s: 'short',
  t: 'unsigned short',
  i: 'int',
  j: 'unsigned int',
  l: 'long',
  m: 'unsigned long',
  x: 'long long',
  y: 'unsigned long long',
  n: '__int128',
  o: 'unsigned __int128',
  f: 'float',
  d: 'double',
  e: 'long double',
  g: '__float128',
  z: '...',
};
const D_BUILTINS: Record<string, string> = {
  d: 'decimal64',
  e: 'decimal128',
  f: 'decimal32',
  h: 'half',
  i: 'char32_t',
  s: 'char16_t',
  u: 'char8_t',
  a: 'auto',
  c: 'decltype(auto)',
  n: 'decltype(nullptr)',
};
/** Literal suffixes for integer template arguments (`5u`, `5ul`); absent: printed as `(type)v`. */
const LITERAL_SUFFIX: Record<string, string> = {
  int: '',
  'unsigned int': 'u',
  long: 'l',
  'unsigned long': 'ul',
  'long long': 'll',
  'unsigned long long': 'ull',
};
const FLOAT_TYPES = new Set(['float', 'double', 'long double']);

/** Operator codes: printed name and arity (for expressions). */
const OPERATORS: Record<string, [string, number]> = {
  nw: ['new', 3],
  na: ['new[]', 3],
  dl: ['delete', 1],
  da: ['delete[]', 1],
  ps: ['+', 1],
  ng: ['-', 1],
  ad: ['&', 1],
  de: ['*', 1],
  co: ['~', 1],
  pl: ['+', 2],
  mi: ['-', 2],
  ml: ['*', 2],
  dv: ['/', 2],
  rm: ['%', 2],
  an: ['&', 2],
  or: ['|', 2],
  eo: ['^', 2],
  aS: ['=', 2],
  pL: ['+=', 2],
  mI: ['-=', 2],
  mL: ['*=', 2],
  dV: ['/=', 2],
  rM: ['%=', 2],
  aN: ['&=', 2],
  oR: ['|=', 2],
  eO: ['^=', 2],
  ls: ['<<', 2],
  rs: ['>>', 2],
  lS: ['<<=', 2],
  rS: ['>>=', 2],
  eq: ['==', 2],
  ne: ['!=', 2],
  lt: ['<', 2],
  gt: ['>', 2],
  le: ['<=', 2],
  ge: ['>=', 2],
  ss: ['<=>', 2],
  nt: ['!', 1],
  aa: ['&&', 2],
  oo: ['||', 2],
  pp: ['++', 1],
  mm: ['--', 1],
  cm: [',', 2],
  pm: ['->*', 2],
  pt: ['->', 2],
  cl: ['()', 2],
  ix: ['[]', 2],
  qu: ['?', 3],
  st: ['sizeof ', 1],
  sz: ['sizeof ', 1],
  at: ['alignof ', 1],
  az: ['alignof ', 1],
  dt: ['.', 2],
  ds: ['.*', 2],
};

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isLower = (c: string | undefined): boolean => c !== undefined && c >= 'a' && c <= 'z';
const oneOf = (c: string | undefined, set: string): boolean => c !== undefined && set.includes(c);

const stdName = (s: string): Node => ({ k: 'nested', q: { k: 'name', s: 'std' }, n: { k: 'name', s } });
const CHAR: Node = { k: 'atom', s: 'char' };
const CHAR_TRAITS: Node = { k: 'tmpl', n: stdName('char_traits'), args: [CHAR] };
/** The abbreviations Sa Sb Ss Si So Sd (printed expanded, as c++filt does) and their ctor names. */
const STD_SUBS: Record<string, { node: Node; last: Node }> = {
  a: { node: stdName('allocator'), last: { k: 'name', s: 'allocator' } },
  b: { node: stdName('basic_string'), last: { k: 'name', s: 'basic_string' } },
  s: {
    node: { k: 'tmpl', n: stdName('basic_string'), args: [CHAR, CHAR_TRAITS, { k: 'tmpl', n: stdName('allocator'), args: [CHAR] }] },
    last: { k: 'name', s: 'basic_string' },
  },
  i: { node: { k: 'tmpl', n: stdName('basic_istream'), args: [CHAR, CHAR_TRAITS] }, last: { k: 'name', s: 'basic_istream' } },
  o: { node: { k: 'tmpl', n: stdName('basic_ostream'), args: [CHAR, CHAR_TRAITS] }, last: { k: 'name', s: 'basic_ostream' } },
  d: { node: { k: 'tmpl', n: stdName('basic_iostream'), args: [CHAR, CHAR_TRAITS] }, last: { k: 'name', s: 'basic_iostream' } },
};

interface NameState {
  endsWithTemplateArgs: boolean;
  ctorDtorConv: boolean;
  cv: string;
  ref: string;
}

class Parser {
  i = 0;
  subs: Node[] = [];
  depth = 0;
  /** Inside a conversion operator's type: template args there belong to the operator. */
  noTemplateArgsInType = false;
  /**
   * The last source name read outside template arguments: constructors and destructors are
   * named after it (libiberty's rule, which c++filt output follows).
   */
  lastName: Node | null = null;

  constructor(readonly s: string) {}

  peek(o = 0): string | undefined {
    return this.s[this.i + o];
  }
  eat(c: string): boolean {
    if (this.s.startsWith(c, this.i)) {
      this.i += c.length;
      return true;
    }
    return false;
  }
  expect(c: string): void {
    if (!this.eat(c)) fail();
  }
  enter(): void {
    if (++this.depth > MAX_DEPTH) fail();
  }

  number(): number {
    const s = this.s;
    const start = this.i;
    let i = start;
    let v = 0;
    for (; i < s.length; i++) {
      const d = s.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      v = v * 10 + d;
    }
    if (i === start || i - start > 9) fail();
    this.i = i;
    return v;
  }

  /** `<seq-id>`: base-36 with upper-case letters. */
  seqId(): number {
    const start = this.i;
    let v = 0;
    for (;;) {
      const c = this.peek();
      if (isDigit(c)) v = v * 36 + (c!.charCodeAt(0) - 48);
      else if (c !== undefined && c >= 'A' && c <= 'Z') v = v * 36 + (c.charCodeAt(0) - 55);
      else break;
      this.i++;
      if (this.i - start > 6) fail();
    }
    if (this.i === start) fail();
    return v;
  }

  // <mangled-name> ::= _Z <encoding> [.<clone-suffix>]*
  mangled(): Node {
    this.expect('_Z');
    let n = this.encoding();
    while (this.peek() === '.' && (isLower(this.peek(1)) || this.peek(1) === '_' || isDigit(this.peek(1)))) {
      const start = this.i;
      this.i += 2;
      while (isLower(this.peek()) || isDigit(this.peek()) || this.peek() === '_') this.i++;
      while (this.peek() === '.' && isDigit(this.peek(1))) {
        this.i += 2;
        while (isDigit(this.peek())) this.i++;
      }
      n = { k: 'clone', c: n, suffix: this.s.slice(start, this.i) };
    }
    if (this.i !== this.s.length) fail();
    return n;
  }

  encoding(): Node {
    this.enter();
    try {
      const c = this.peek();
      if (c === 'T' || (c === 'G' && oneOf(this.peek(1), 'VRATt'))) return this.specialName();
      const st: NameState = { endsWithTemplateArgs: false, ctorDtorConv: false, cv: '', ref: '' };
      const name = this.name(st);
      const at = this.peek();
      // (A data name followed by a clone suffix is not demangled, as libiberty does not.)
      if (at === undefined || at === 'E') return name;
      let ret: Node | null = null;
      if (st.endsWithTemplateArgs && !st.ctorDtorConv) ret = this.type();
      const params = this.bareParams();
      return { k: 'enc', n: name, fn: { k: 'fn', ret, params, cv: st.cv, ref: st.ref, exc: null } };
    } finally {
      this.depth--;
    }
  }

  /** Parameter types up to the end of the input, an 'E' or a clone suffix; `v` alone is (). */
  bareParams(): Node[] {
    const params: Node[] = [];
    while (this.i < this.s.length && this.peek() !== 'E' && this.peek() !== '.') params.push(this.type());
    if (params.length === 0) fail();
    if (params.length === 1 && params[0]!.k === 'atom' && params[0]!.s === 'void') return [];
    return params;
  }

  specialName(): Node {
    if (this.eat('TV')) return { k: 'special', pre: 'vtable for ', c: this.type() };
    if (this.eat('TT')) return { k: 'special', pre: 'VTT for ', c: this.type() };
    if (this.eat('TI')) return { k: 'special', pre: 'typeinfo for ', c: this.type() };
    if (this.eat('TS')) return { k: 'special', pre: 'typeinfo name for ', c: this.type() };
    if (this.eat('TH')) return { k: 'special', pre: 'TLS init function for ', c: this.name(null) };
    if (this.eat('TW')) return { k: 'special', pre: 'TLS wrapper function for ', c: this.name(null) };
    if (this.eat('TA')) return { k: 'special', pre: 'template parameter object for ', c: this.templateArg() };
    if (this.eat('Th')) {
      this.callOffset('h');
      return { k: 'special', pre: 'non-virtual thunk to ', c: this.encoding() };
    }
    if (this.eat('Tv')) {
      this.callOffset('v');
      return { k: 'special', pre: 'virtual thunk to ', c: this.encoding() };
    }
    if (this.eat('Tc')) {
      this.callOffset(this.eatOne('hv'));
      this.callOffset(this.eatOne('hv'));
      return { k: 'special', pre: 'covariant return thunk to ', c: this.encoding() };
    }
    if (this.eat('TC')) {
      const a = this.type();
      this.number();
      this.expect('_');
      const b = this.type();
      return { k: 'ctorvt', a, b };
    }
    if (this.eat('GV')) return { k: 'special', pre: 'guard variable for ', c: this.name(null) };
    if (this.eat('GR')) {
      const n = this.name(null);
      const num = isDigit(this.peek()) ? this.number() : 0;
      return { k: 'special', pre: `reference temporary #${num} for `, c: n };
    }
    if (this.eat('GA')) return { k: 'special', pre: 'hidden alias for ', c: this.encoding() };
    if (this.eat('GTt')) return { k: 'special', pre: 'transaction clone for ', c: this.encoding() };
    if (this.eat('GTn')) return { k: 'special', pre: 'non-transaction clone for ', c: this.encoding() };
    return fail();
  }

  eatOne(chars: string): string {
    const c = this.peek();
    if (c === undefined || !chars.includes(c)) fail();
    this.i++;
    return c!;
  }

  /** h <nv-offset> _ | v <v-offset> _ <virtual offset> _ (the leading letter already eaten). */
  callOffset(kind: string): void {
    const num = (): void => {
      this.eat('n');
      this.number();
      this.expect('_');
    };
    num();
    if (kind === 'v') num();
  }

  name(st: NameState | null): Node {
    this.enter();
    try {
      const c = this.peek();
      if (c === 'N') return this.nestedName(st);
      if (c === 'Z') return this.localName(st);
      let n: Node;
      let isSubst = false;
      if (c === 'S' && this.peek(1) !== 't') {
        n = this.substitution();
        isSubst = true;
      } else {
        n = this.unscopedName(st);
      }
      if (this.peek() === 'I') {
        if (!isSubst) this.subs.push(n);
        const args = this.templateArgs();
        if (st) st.endsWithTemplateArgs = true;
        n = { k: 'tmpl', n, args };
      } else if (isSubst) fail();
      return n;
    } finally {
      this.depth--;
    }
  }

  unscopedName(st: NameState | null): Node {
    if (this.eat('St')) return { k: 'nested', q: { k: 'name', s: 'std' }, n: this.unqualifiedName(st, null) };
    return this.unqualifiedName(st, null);
  }

  nestedName(st: NameState | null): Node {
    this.expect('N');
    const cv = this.cvQualifiers();
    let ref = '';
    if (this.eat('R')) ref = ' &';
    else if (this.eat('O')) ref = ' &&';
    if (st) {
      st.cv = cv;
      st.ref = ref;
    }
    let soFar: Node | null = null;
    let pushed = 0;
    while (!this.eat('E')) {
      if (st) st.endsWithTemplateArgs = false;
      const c = this.peek();
      if (c === undefined) fail();
      if (c === 'T') {
        if (soFar) fail();
        soFar = this.templateParam();
      } else if (c === 'I') {
        if (!soFar || soFar.k === 'tmpl') fail();
        const args = this.templateArgs();
        if (st) st.endsWithTemplateArgs = true;
        soFar = { k: 'tmpl', n: soFar!, args };
      } else if (c === 'D' && (this.peek(1) === 't' || this.peek(1) === 'T')) {
        if (soFar) fail();
        soFar = this.decltype();
      } else if (c === 'S' && this.peek(1) === 't') {
        if (soFar) fail();
        this.i += 2;
        soFar = { k: 'name', s: 'std' };
        continue;
      } else if (c === 'S') {
        if (soFar) fail();
        soFar = this.substitution();
        continue;
      } else {
        const u = this.unqualifiedName(st, soFar);
        soFar = soFar ? { k: 'nested', q: soFar, n: u } : u;
      }
      this.subs.push(soFar!);
      pushed++;
      this.eat('M');
    }
    if (!soFar || pushed === 0) fail();
    this.subs.pop();
    return soFar!;
  }

  localName(st: NameState | null): Node {
    this.expect('Z');
    const enc = this.encoding();
    this.expect('E');
    if (this.eat('s')) {
      this.discriminator();
      return { k: 'local', enc: elideReturnType(enc), ent: { k: 'name', s: 'string literal' } };
    }
    if (this.eat('d')) {
      const num = isDigit(this.peek()) ? this.number() + 1 : 0;
      this.expect('_');
      const ent: Node = { k: 'nested', q: { k: 'name', s: `{default arg#${num + 1}}` }, n: this.name(st) };
      return { k: 'local', enc: elideReturnType(enc), ent };
    }
    const ent = this.name(st);
    this.discriminator();
    return { k: 'local', enc: elideReturnType(enc), ent };
  }

  /** `_ <digits>` or `__ <digits> _` (as libiberty reads it: a lone `_` is accepted too). */
  discriminator(): void {
    if (!this.eat('_')) return;
    const two = this.eat('_');
    let n = 0;
    if (isDigit(this.peek())) n = this.number();
    if (two && n >= 10) this.expect('_');
  }

  sourceName(): Node {
    const len = this.number();
    if (len <= 0 || this.i + len > this.s.length) fail();
    const id = this.s.slice(this.i, this.i + len);
    this.i += len;
    const n: Node = len >= 10 && id.startsWith('_GLOBAL_') && '._$'.includes(id[8]!) && id[9] === 'N' ? { k: 'name', s: '(anonymous namespace)' } : { k: 'name', s: id };
    this.lastName = n;
    return n;
  }

  unqualifiedName(st: NameState | null, scope: Node | null): Node {
    let n: Node;
    const c = this.peek();
    if (isDigit(c)) n = this.sourceName();
    else if (c === 'L' && isDigit(this.peek(1))) {
      this.i++;
      n = this.sourceName();
      this.discriminator();
    } else if (c === 'C' || (c === 'D' && isDigit(this.peek(1)))) {
      n = this.ctorDtor(st, scope);
    } else if (c === 'U') n = this.unnamedType();
    else if (c === 'D' && this.peek(1) === 'C') {
      this.i += 2;
      const names: string[] = [];
      while (!this.eat('E')) names.push((this.sourceName() as { s: string }).s);
      n = { k: 'name', s: `[${names.join(', ')}]` };
    } else if (isLower(c)) n = this.operatorName(st);
    else return fail();
    while (this.peek() === 'B') {
      this.i++;
      const held = this.lastName;
      n = { k: 'abi', n, tag: (this.sourceName() as { s: string }).s };
      this.lastName = held;
    }
    return n;
  }

  ctorDtor(st: NameState | null, scope: Node | null): Node {
    if (!scope || !this.lastName) fail();
    const base = this.lastName!;
    if (st) st.ctorDtorConv = true;
    if (this.eat('C')) {
      const inheriting = this.eat('I');
      this.eatOne('12345');
      if (inheriting) this.type();
      return { k: 'ctor', n: base, dtor: false };
    }
    this.expect('D');
    this.eatOne('01245');
    return { k: 'ctor', n: base, dtor: true };
  }

  unnamedType(): Node {
    if (this.eat('Ut')) {
      const n = isDigit(this.peek()) ? this.number() + 2 : 1;
      this.expect('_');
      return { k: 'name', s: `{unnamed type#${n}}` };
    }
    if (this.eat('Ul')) {
      const params: Node[] = [];
      if (this.peek() === 'T' && oneOf(this.peek(1), 'ynt')) fail(); // explicit template params: unsupported
      while (!this.eat('E')) {
        if (this.i >= this.s.length) fail();
        params.push(this.type());
      }
      if (params.length === 0) fail();
      const ps = params.length === 1 && params[0]!.k === 'atom' && params[0]!.s === 'void' ? [] : params;
      const num = isDigit(this.peek()) ? this.number() + 2 : 1;
      this.expect('_');
      return { k: 'lambda', params: ps, num };
    }
    return fail();
  }

  operatorName(st: NameState | null): Node {
    const code = this.s.slice(this.i, this.i + 2);
    if (code === 'cv') {
      this.i += 2;
      const saved = this.noTemplateArgsInType;
      this.noTemplateArgsInType = true;
      const t = this.type();
      this.noTemplateArgsInType = saved;
      if (st) st.ctorDtorConv = true;
      return { k: 'conv', t };
    }
    if (code === 'li') {
      this.i += 2;
      return { k: 'name', s: `operator"" ${(this.sourceName() as { s: string }).s}` };
    }
    if (code[0] === 'v' && isDigit(code[1])) {
      this.i += 2;
      return { k: 'name', s: `operator ${(this.sourceName() as { s: string }).s}` };
    }
    const op = OPERATORS[code];
    if (!op || code === 'dt' || code === 'ds' || code === 'st' || code === 'sz' || code === 'at' || code === 'az') return fail();
    this.i += 2;
    const nm = op[0];
    return { k: 'name', s: isLower(nm[0]) ? `operator ${nm}` : `operator${nm}` };
  }

  cvQualifiers(): string {
    let q = '';
    if (this.eat('r')) q = ' restrict';
    if (this.eat('V')) q = ' volatile' + q;
    if (this.eat('K')) q = ' const' + q;
    return q;
  }

  substitution(): Node {
    this.expect('S');
    const c = this.peek();
    const std = c === undefined ? undefined : STD_SUBS[c];
    if (std) {
      this.i++;
      this.lastName = std.last;
      return std.node;
    }
    switch (c) {
      case '_':
        this.i++;
        return this.subs[0] ?? fail();
      default: {
        const id = this.seqId();
        this.expect('_');
        return this.subs[id + 1] ?? fail();
      }
    }
  }

  templateParam(): Node {
    this.expect('T');
    let idx = 0;
    if (!this.eat('_')) {
      if (this.peek() === 'L') fail(); // nested lambda template parameter levels: unsupported
      idx = this.number() + 1;
      this.expect('_');
    }
    return { k: 'tparam', idx };
  }

  templateArgs(): Node[] {
    this.expect('I');
    const heldLastName = this.lastName;
    const args: Node[] = [];
    while (!this.eat('E')) {
      if (this.i >= this.s.length) fail();
      args.push(this.templateArg());
    }
    this.lastName = heldLastName;
    return args;
  }

  templateArg(): Node {
    this.enter();
    try {
      const c = this.peek();
      if (c === 'X') {
        this.i++;
        const e = this.expression();
        this.expect('E');
        return e;
      }
      if (c === 'J') {
        this.i++;
        const elems: Node[] = [];
        while (!this.eat('E')) {
          if (this.i >= this.s.length) fail();
          elems.push(this.templateArg());
        }
        return { k: 'pack', elems };
      }
      if (c === 'L') return this.exprPrimary();
      return this.type();
    } finally {
      this.depth--;
    }
  }

  decltype(): Node {
    this.expect('D');
    this.eatOne('tT');
    const e = this.expression();
    this.expect('E');
    return { k: 'seq', parts: ['decltype (', e, ')'] };
  }

  functionType(cv: string): FnNode {
    let exc: Node | null = null;
    for (;;) {
      if (this.eat('Do')) exc = { k: 'atom', s: ' noexcept' };
      else if (this.eat('DO')) {
        const e = this.expression();
        this.expect('E');
        exc = { k: 'seq', parts: [' noexcept(', e, ')'] };
      } else if (this.eat('Dw')) {
        const ts: Node[] = [];
        while (!this.eat('E')) ts.push(this.type());
        exc = { k: 'seq', parts: [' throw(', list(ts), ')'] };
      } else if (this.eat('Dx')) {
        // transaction_safe: not printed
      } else break;
    }
    this.expect('F');
    this.eat('Y');
    const ret = this.type();
    const params: Node[] = [];
    let ref = '';
    for (;;) {
      if (this.eat('E')) break;
      if (this.eat('RE')) {
        ref = ' &';
        break;
      }
      if (this.eat('OE')) {
        ref = ' &&';
        break;
      }
      if (this.peek() === 'v' && this.peek(1) === 'E') {
        this.i++;
        continue;
      }
      if (this.i >= this.s.length) fail();
      params.push(this.type());
    }
    return { k: 'fn', ret, params, cv, ref, exc };
  }

  type(): Node {
    this.enter();
    try {
      return this.typeInner();
    } finally {
      this.depth--;
    }
  }

  private typeInner(): Node {
    const c = this.peek();
    if (c === undefined) return fail();
    const b = BUILTINS[c];
    if (b !== undefined) {
      this.i++;
      return { k: 'atom', s: b };
    }
    let r: Node;
    switch (c) {
      case 'u': {
        this.i++;
        r = this.sourceName();
        break;
      }
      case 'D': {
        const d = this.peek(1);
        const db = d !== undefined ? D_BUILTINS[d] : undefined;
        if (db !== undefined) {
          this.i += 2;
          return { k: 'atom', s: db };
        }
        if (d === 'F') {
          this.i += 2;
          const n = this.number();
          if (this.eat('x')) return { k: 'atom', s: `_Float${n}x` };
          this.expect('_');
          return { k: 'atom', s: `_Float${n}` };
        }
        if (d === 'B' || d === 'U') {
          this.i += 2;
          const n = this.number();
          this.expect('_');
          return { k: 'atom', s: `${d === 'U' ? 'unsigned ' : ''}_BitInt(${n})` };
        }
        if (d === 't' || d === 'T') {
          r = this.decltype();
          break;
        }
        if (d === 'p') {
          this.i += 2;
          r = { k: 'expand', t: this.type() };
          break;
        }
        if (d === 'v') {
          this.i += 2;
          let dim: string;
          if (isDigit(this.peek())) dim = String(this.number());
          else {
            this.expect('_');
            dim = printNode(this.expression());
          }
          this.expect('_');
          r = { k: 'qual', t: this.type(), q: ` __vector(${dim})` };
          break;
        }
        if (d === 'x' || d === 'o' || d === 'O' || d === 'w') {
          r = this.functionType('');
          break;
        }
        return fail();
      }
      case 'r':
      case 'V':
      case 'K': {
        const q = this.cvQualifiers();
        const n = this.peek();
        if (n === 'F' || (n === 'D' && oneOf(this.peek(1), 'xoOw'))) r = this.functionType(q);
        else r = { k: 'qual', t: this.type(), q };
        break;
      }
      case 'U': {
        this.i++;
        const vq = (this.sourceName() as { s: string }).s;
        let q = ` ${vq}`;
        if (this.peek() === 'I') q += printTemplateArgs(this.templateArgs());
        r = { k: 'qual', t: this.type(), q };
        break;
      }
      case 'F':
        r = this.functionType('');
        break;
      case 'A': {
        this.i++;
        let dim: Node | null = null;
        if (isDigit(this.peek())) dim = { k: 'atom', s: String(this.number()) };
        else if (this.peek() !== '_') dim = this.expression();
        this.expect('_');
        r = { k: 'arr', t: this.type(), dim };
        break;
      }
      case 'M': {
        this.i++;
        const cls = this.type();
        r = { k: 'pm', c: cls, m: this.type() };
        break;
      }
      case 'T': {
        const n = this.peek(1);
        if (n === 's' || n === 'u' || n === 'e') {
          this.i += 2;
          r = this.name(null);
          break;
        }
        r = this.templateParam();
        if (this.peek() === 'I') {
          if (!this.noTemplateArgsInType) {
            this.subs.push(r);
            r = { k: 'tmpl', n: r, args: this.templateArgs() };
          } else {
            // In a conversion operator's type, T_<args> is a template template parameter only
            // when another <template-args> follows (libiberty's rule); otherwise the args belong
            // to the operator.
            const at = this.i;
            const nsubs = this.subs.length;
            const args = this.templateArgs();
            if (this.peek() === 'I') {
              this.subs.push(r);
              r = { k: 'tmpl', n: r, args };
            } else {
              this.i = at;
              this.subs.length = nsubs;
            }
          }
        }
        break;
      }
      case 'P':
        this.i++;
        r = { k: 'ptr', t: this.type() };
        break;
      case 'R':
      case 'O':
        this.i++;
        r = { k: 'ref', t: this.type(), rv: c === 'O' };
        break;
      case 'C':
        this.i++;
        r = { k: 'qual', t: this.type(), q: ' _Complex' };
        break;
      case 'G':
        this.i++;
        r = { k: 'qual', t: this.type(), q: ' _Imaginary' };
        break;
      case 'S': {
        if (this.peek(1) === 't') {
          r = this.name(null);
          break;
        }
        const sub = this.substitution();
        if (this.peek() === 'I') {
          r = { k: 'tmpl', n: sub, args: this.templateArgs() };
          break;
        }
        return sub;
      }
      default:
        if (isDigit(c) || c === 'N' || c === 'Z') {
          r = this.name(null);
          break;
        }
        return fail();
    }
    this.subs.push(r);
    return r;
  }

  // ---- expressions (template arguments, decltype) ----

  exprPrimary(): Node {
    this.expect('L');
    if (this.eat('_Z') || this.eat('Z')) {
      const e = this.encoding();
      this.expect('E');
      return e;
    }
    const t = this.type();
    // `LDnE`: the null pointer literal prints as its type.
    if (t.k === 'atom' && t.s === 'decltype(nullptr)' && this.eat('E')) return t;
    const neg = this.eat('n');
    const start = this.i;
    while (this.peek() !== 'E') {
      if (this.i >= this.s.length) fail();
      this.i++;
    }
    const v = this.s.slice(start, this.i);
    this.i++;
    const tn = t.k === 'atom' ? t.s : null;
    if (tn !== null && LITERAL_SUFFIX[tn] !== undefined && v !== '') return { k: 'atom', s: (neg ? '-' : '') + v + LITERAL_SUFFIX[tn] };
    if (tn === 'bool' && !neg && (v === '0' || v === '1')) return { k: 'atom', s: v === '1' ? 'true' : 'false' };
    if (tn !== null && FLOAT_TYPES.has(tn)) return { k: 'seq', parts: ['(', t, ')', neg ? '-' : '', `[${v}]`] };
    return { k: 'seq', parts: ['(', t, ')', neg ? '-' : '', v] };
  }

  functionParam(): Node {
    // fp <cv> _ | fp <cv> <number> _ | fL <number> p <cv> [<number>] _
    if (this.eat('fL')) {
      this.number();
      this.expect('p');
    } else {
      this.expect('fp');
      if (this.eat('T')) return { k: 'fparam', s: 'this' };
    }
    this.cvQualifiers();
    let n = 1;
    if (isDigit(this.peek())) n = this.number() + 2;
    this.expect('_');
    return { k: 'fparam', s: `{parm#${n}}` };
  }

  exprList(end: string): Node[] {
    const out: Node[] = [];
    while (!this.eat(end)) {
      if (this.i >= this.s.length) fail();
      out.push(this.expression());
    }
    return out;
  }

  /** <unresolved-name> (after an optional `gs`), as printed: a qualified name. */
  unresolvedName(): Node {
    if (!this.eat('sr')) return this.baseUnresolvedName();
    // As libiberty: `sr <type> <unqualified-name>`, or the newer `sr <prefix levels> E <name>`.
    let q: Node;
    const c = this.peek();
    if (isDigit(c)) {
      // New syntax (`sr1AE1x`) first; on failure the old one (`sr1A1x`), as libiberty retries.
      const start = this.i;
      const nsubs = this.subs.length;
      try {
        q = this.simpleId();
        while (!this.eat('E')) q = { k: 'nested', q, n: this.simpleId() };
        return qualify(q, this.baseUnresolvedName());
      } catch (e) {
        if (!(e instanceof Fail)) throw e;
        this.i = start;
        this.subs.length = nsubs;
        q = this.type();
      }
    } else {
      // Includes `srN ... E`, which reads (with its substitutions) exactly as a nested type.
      q = this.type();
    }
    return qualify(q, this.baseUnresolvedName());
  }

  unresolvedType(): Node {
    const c = this.peek();
    if (c === 'T') {
      const t = this.templateParam();
      this.subs.push(t);
      return t;
    }
    if (c === 'D') {
      const t = this.decltype();
      this.subs.push(t);
      return t;
    }
    if (c === 'S') return this.substitution();
    return this.type();
  }

  simpleId(): Node {
    const n = this.sourceName();
    if (this.peek() === 'I') return { k: 'tmpl', n, args: this.templateArgs() };
    return n;
  }

  baseUnresolvedName(): Node {
    if (isDigit(this.peek())) return this.simpleId();
    if (this.eat('dn')) {
      const t = isDigit(this.peek()) ? this.simpleId() : this.unresolvedType();
      return { k: 'seq', parts: ['~', t] };
    }
    this.eat('on');
    const op = this.operatorName(null);
    if (this.peek() === 'I') return { k: 'tmpl', n: op, args: this.templateArgs() };
    return op;
  }

  expression(): Node {
    this.enter();
    try {
      return this.expressionInner();
    } finally {
      this.depth--;
    }
  }

  private expressionInner(): Node {
    const c = this.peek();
    if (c === undefined) return fail();
    if (c === 'L') return this.exprPrimary();
    if (c === 'T') return this.templateParam();
    if (c === 'f' && (this.peek(1) === 'p' || this.peek(1) === 'L')) return this.functionParam();
    const two = this.s.slice(this.i, this.i + 2);
    const global = two === 'gs';
    if (global) this.i += 2;
    const code = this.s.slice(this.i, this.i + 2);
    const gs = global ? '::' : '';
    switch (code) {
      case 'cl': {
        this.i += 2;
        let f = this.expression();
        // A called function's parameter types are not printed, only its name.
        if (f.k === 'enc' && f.fn) f = f.n;
        const args = this.exprList('E');
        return { k: 'seq', parts: [sub(f), '(', list(args), ')'] };
      }
      case 'cv': {
        this.i += 2;
        const saved = this.noTemplateArgsInType;
        const t = this.type();
        this.noTemplateArgsInType = saved;
        if (this.eat('_')) {
          const args = this.exprList('E');
          return { k: 'seq', parts: ['(', t, ')(', list(args), ')'] };
        }
        return { k: 'seq', parts: ['(', t, ')', sub(this.expression())] };
      }
      case 'sc':
      case 'dc':
      case 'cc':
      case 'rc': {
        this.i += 2;
        const name = { sc: 'static_cast', dc: 'dynamic_cast', cc: 'const_cast', rc: 'reinterpret_cast' }[code];
        const t = this.type();
        const e = this.expression();
        return { k: 'seq', parts: [`${name}<`, t, '>(', e, ')'] };
      }
      case 'st':
      case 'at':
        this.i += 2;
        return { k: 'seq', parts: [OPERATORS[code]![0], '(', this.type(), ')'] };
      case 'ti':
        this.i += 2;
        return { k: 'seq', parts: ['typeid ', sub(this.type())] };
      case 'te':
        this.i += 2;
        return { k: 'seq', parts: ['typeid ', sub(this.expression())] };
      case 'tw':
        this.i += 2;
        return { k: 'seq', parts: ['throw ', sub(this.expression())] };
      case 'tr':
        this.i += 2;
        return { k: 'atom', s: 'throw' };
      case 'sZ': {
        this.i += 2;
        const t = this.peek() === 'T' ? this.templateParam() : this.functionParam();
        return { k: 'sizeofpack', t };
      }
      case 'sP': {
        this.i += 2;
        const args: Node[] = [];
        while (!this.eat('E')) args.push(this.templateArg());
        return { k: 'atom', s: String(args.length) };
      }
      case 'sp':
        this.i += 2;
        return { k: 'expand', t: this.expression() };
      case 'il':
        this.i += 2;
        return { k: 'seq', parts: ['{', list(this.exprList('E')), '}'] };
      case 'tl': {
        this.i += 2;
        const t = this.type();
        return { k: 'seq', parts: [t, '{', list(this.exprList('E')), '}'] };
      }
      case 'dt':
      case 'pt': {
        this.i += 2;
        const e = this.expression();
        const n = this.unresolvedName();
        return { k: 'seq', parts: [sub(e), code === 'dt' ? '.' : '->', n] };
      }
      case 'nw':
      case 'na': {
        this.i += 2;
        const place = this.exprList('_');
        const t = this.type();
        const parts: (string | Node)[] = [`${gs}new `];
        if (place.length) parts.push('(', list(place), ') ');
        parts.push(t);
        if (this.eat('pi')) parts.push('(', list(this.exprList('E')), ')');
        else if (this.peek() === 'i' && this.peek(1) === 'l') parts.push(this.expression());
        this.expect('E');
        return { k: 'seq', parts };
      }
      case 'dl':
      case 'da':
        this.i += 2;
        return { k: 'seq', parts: [`${gs}${code === 'dl' ? 'delete ' : 'delete[] '}`, sub(this.expression())] };
      case 'pp':
      case 'mm': {
        this.i += 2;
        const name = OPERATORS[code]![0];
        if (this.eat('_')) return { k: 'seq', parts: [name, sub(this.expression())] };
        return { k: 'seq', parts: [sub(this.expression()), name] };
      }
      case 'sr':
        return this.unresolvedName();
      default:
        break;
    }
    if (isDigit(c) || code === 'on' || code === 'dn') return this.unresolvedName();
    const op = OPERATORS[code];
    if (op) {
      this.i += 2;
      const [name, arity] = op;
      if (arity === 1) {
        let e = this.expression();
        // &A::f: libiberty drops the parameter list of a qualified function whose address is taken.
        if (code === 'ad' && e.k === 'enc' && e.fn && e.n.k === 'nested' && !e.fn.cv && !e.fn.ref) e = e.n;
        return { k: 'seq', parts: [name, sub(e)] };
      }
      if (arity === 2) {
        const a = this.expression();
        const b = this.expression();
        if (code === 'ix') return { k: 'seq', parts: [sub(a), '[', b, ']'] };
        const parts: (string | Node)[] = [sub(a), name, sub(b)];
        return name === '>' ? { k: 'seq', parts: ['(', ...parts, ')'] } : { k: 'seq', parts };
      }
      if (arity === 3 && code === 'qu') {
        const a = this.expression();
        const b = this.expression();
        const d = this.expression();
        return { k: 'seq', parts: [sub(a), '?', sub(b), ' : ', sub(d)] };
      }
    }
    return fail();
  }
}

/** `q::name<args>` as libiberty builds it: template args outside the qualified name. */
function qualify(q: Node, base: Node): Node {
  if (base.k === 'tmpl') return { k: 'tmpl', n: { k: 'nested', q, n: base.n }, args: base.args };
  return { k: 'nested', q, n: base };
}

/** libiberty omits the enclosing function's return type in local names (`f()::x`). */
function elideReturnType(enc: Node): Node {
  if (enc.k === 'enc' && enc.fn && enc.fn.ret) return { k: 'enc', n: enc.n, fn: { ...enc.fn, ret: null } };
  return enc;
}

/** A comma-separated list node (printed with libiberty's empty-element rule). */
function list(items: Node[]): Node {
  return { k: 'list', items };
}

/** A subexpression: parenthesized unless it is a plain name or function parameter. */
function sub(n: Node): Node {
  if (n.k === 'name' || n.k === 'nested' || n.k === 'fparam' || (n.k === 'seq' && n.parts[0] === '{')) return n;
  return { k: 'seq', parts: ['(', n, ')'] };
}

class Printer {
  /**
   * The output so far, as pieces joined once at the end (`text()`): appending to a string makes
   * V8 build a tree of concatenations, garbage a cold symbolizer pays for in collections.
   */
  parts: string[] = [];
  /** Total length of `parts`. */
  length = 0;
  /** Last character appended; like libiberty's, it is not rewound when a trailing ", " is dropped. */
  last = '';
  /** Element of a template argument pack that a parameter stands for (set by pack expansions). */
  packIndex = 0;
  /** Template arguments of the function templates being printed, innermost last. */
  templates: Node[][] = [];
  /** Inside a lambda's parameter list, template parameters print as `auto:N`. */
  lambdaDepth = 0;
  /**
   * libiberty quirk kept for identical output: a reference to a template parameter remembers the
   * template scope it was first printed in, and a later substitution of it prints in that scope.
   */
  refScopes = new Map<Node, Node[][]>();
  activeRefs = new Set<Node>();

  inRefScope(n: Extract<Node, { k: 'ref' }>, f: () => void): void {
    if (n.t.k !== 'tparam' || this.lambdaDepth > 0) return f();
    const saved = this.refScopes.get(n.t);
    if (!saved) {
      this.refScopes.set(n.t, [...this.templates]);
      return f();
    }
    if (this.activeRefs.has(n)) return f();
    const current = this.templates;
    this.templates = saved;
    this.activeRefs.add(n);
    try {
      f();
    } finally {
      this.activeRefs.delete(n);
      this.templates = current;
    }
  }

  leftPtr(n: Extract<Node, { k: 'ptr' | 'ref' }>): void {
    let t = n.t;
    let sym = n.k === 'ptr' ? '*' : n.rv ? '&&' : '&';
    if (n.k === 'ref') {
      // Reference collapsing: T& & -> T&, T&& & -> T&, T& && -> T&, T&& && -> T&&.
      for (let r = this.resolve(t), guard = 0; r.k === 'ref' && guard < 64; r = this.resolve(t), guard++) {
        if (!r.rv) sym = '&';
        t = r.t;
      }
    }
    const af = this.isArrOrFn(t);
    this.left(t);
    if (af === 'arr') this.emit(' ');
    if (af) this.emit('(');
    this.emit(sym);
  }

  rightPtr(n: Extract<Node, { k: 'ptr' | 'ref' }>): void {
    let t = n.t;
    if (n.k === 'ref') for (let r = this.resolve(t), g = 0; r.k === 'ref' && g < 64; r = this.resolve(t), g++) t = r.t;
    if (this.isArrOrFn(t)) this.emit(')');
    this.right(t);
  }

  emit(s: string): void {
    if (s === '') return;
    this.parts.push(s);
    this.length += s.length;
    this.last = s[s.length - 1]!;
    if (this.length > MAX_OUTPUT) fail();
  }

  text(): string {
    return this.parts.join('');
  }

  /** The template argument a parameter refers to (a whole pack stays a pack). */
  templateArg(n: Extract<Node, { k: 'tparam' }>): Node {
    const args = this.templates[this.templates.length - 1];
    if (!args) return fail();
    return args[n.idx] ?? fail();
  }

  /** Follows template parameters (to the current pack element) to what they stand for. */
  resolve(n: Node): Node {
    for (let guard = 0; guard < 64; guard++) {
      if (n.k !== 'tparam' || this.lambdaDepth > 0) return n;
      let a = this.templateArg(n);
      if (a.k === 'pack') a = a.elems[this.packIndex] ?? fail();
      n = a;
    }
    return fail();
  }

  print(n: Node): void {
    // Most nodes are plain names: print them without the two dispatches (nothing on the right).
    if (n.k === 'name' || n.k === 'atom') {
      this.emit(n.s);
      return;
    }
    this.left(n);
    this.right(n);
  }

  /**
   * Comma-separated list, as libiberty prints its right-recursive argument lists: elements that
   * print nothing (empty packs) keep their comma unless everything after them is empty too.
   */
  printList(nodes: Node[]): void {
    // Where the ", " after the last non-empty element starts: as a piece index and a length.
    let commaAt = -1;
    let commaLength = 0;
    let lastNonEmpty = -1;
    for (let i = 0; i < nodes.length; i++) {
      const before = this.parts.length;
      const beforeLength = this.length;
      if (i > 0) this.emit(', ');
      const start = this.length;
      this.print(nodes[i]!);
      if (this.length > start) {
        lastNonEmpty = i;
        commaAt = -1;
      } else if (commaAt < 0 && i > 0) {
        commaAt = before;
        commaLength = beforeLength;
      }
    }
    if (lastNonEmpty < nodes.length - 1 && nodes.length > 1) {
      // Trailing elements printed nothing: drop them with their commas (libiberty keeps `last`).
      if (commaAt >= 0) {
        this.parts.length = commaAt;
        this.length = commaLength;
      }
      this.last = ' ';
    }
  }

  /** Whether printing `n` puts something after the declarator (function parameters, array bounds). */
  hasRight(n: Node): boolean {
    const r = this.resolve(n);
    switch (r.k) {
      case 'fn':
      case 'arr':
        return true;
      case 'ptr':
      case 'ref':
      case 'qual':
        return this.hasRight(r.t);
      case 'pm':
        return this.hasRight(r.m);
      default:
        return false;
    }
  }

  /** Whether `n` is (cv-qualified) array or function type: pointers to it need parentheses. */
  isArrOrFn(n: Node): 'arr' | 'fn' | null {
    const r = this.resolve(n);
    if (r.k === 'arr') return 'arr';
    if (r.k === 'fn') return 'fn';
    if (r.k === 'qual') return this.isArrOrFn(r.t);
    return null;
  }

  /**
   * cv-qualifiers: a qualifier already pending from an enclosing qualifier of the same chain is
   * not printed twice (`KT_` with T = `int const` prints `int const`).
   */
  leftQual(n: Extract<Node, { k: 'qual' }>, pending: Set<string> | null): void {
    const words = cvWords(n.q);
    const inner = this.resolve(n.t);
    if (words && inner.k === 'qual' && cvWords(inner.q)) {
      this.leftQual(inner, new Set(pending ? [...pending, ...words] : words));
    } else {
      this.left(n.t);
    }
    if (inner.k === 'fn') return;
    if (words && pending) {
      const own = words.filter((w) => !pending.has(w));
      if (own.length) this.emit(' ' + own.join(' '));
    } else this.emit(n.q); // nothing pending: all words print, which is `n.q` itself
  }

  left(n: Node): void {
    switch (n.k) {
      case 'name':
      case 'atom':
      case 'fparam':
        this.emit(n.s);
        return;
      case 'nested':
        this.print(n.q);
        this.emit('::');
        this.print(n.n);
        return;
      case 'tmpl':
        this.print(n.n);
        if (this.last === '<') this.emit(' ');
        this.emit('<');
        this.printList(n.args);
        if (this.last === '>') this.emit(' ');
        this.emit('>');
        return;
      case 'abi':
        this.print(n.n);
        this.emit(`[abi:${n.tag}]`);
        return;
      case 'ctor':
        if (n.dtor) this.emit('~');
        this.print(n.n);
        return;
      case 'conv':
        this.emit('operator ');
        this.print(n.t);
        return;
      case 'qual':
        this.leftQual(n, null);
        return;
      case 'ref':
        this.inRefScope(n, () => this.leftPtr(n));
        return;
      case 'ptr':
        this.leftPtr(n);
        return;
      case 'pm': {
        const af = this.isArrOrFn(n.m);
        this.left(n.m);
        this.emit(af ? '(' : ' ');
        this.print(n.c);
        this.emit('::*');
        return;
      }
      case 'fn':
        if (n.ret) {
          this.left(n.ret);
          if (!this.hasRight(n.ret)) this.emit(' ');
        }
        return;
      case 'arr':
        this.left(n.t);
        return;
      case 'enc': {
        const fn = n.fn;
        // A function template's parameters resolve against its own template arguments.
        const args = fn ? templateArgsOf(n.n) : null;
        if (args) this.templates.push(args);
        if (fn?.ret) {
          this.left(fn.ret);
          if (!this.hasRight(fn.ret)) this.emit(' ');
        }
        this.print(n.n);
        if (fn) {
          this.emit('(');
          this.printList(fn.params);
          this.emit(')');
          if (fn.ret) this.right(fn.ret);
          this.emit(fn.cv + fn.ref);
          if (fn.exc) this.print(fn.exc);
        }
        if (args) this.templates.pop();
        return;
      }
      case 'special':
        this.emit(n.pre);
        this.print(n.c);
        return;
      case 'ctorvt':
        this.emit('construction vtable for ');
        this.print(n.b);
        this.emit('-in-');
        this.print(n.a);
        return;
      case 'local':
        this.print(n.enc);
        this.emit('::');
        this.print(n.ent);
        return;
      case 'clone':
        this.print(n.c);
        this.emit(` [clone ${n.suffix}]`);
        return;
      case 'tparam':
        if (this.lambdaDepth > 0) {
          this.emit(`auto:${n.idx + 1}`);
          return;
        }
        this.left(this.resolve(n));
        return;
      case 'lambda':
        this.emit('{lambda(');
        this.lambdaDepth++;
        this.printList(n.params);
        this.lambdaDepth--;
        this.emit(`)#${n.num}}`);
        return;
      case 'pack':
        this.printList(n.elems);
        return;
      case 'expand': {
        const pack = this.findPack(n.t);
        if (!pack) {
          this.print(sub(n.t));
          this.emit('...');
          return;
        }
        const saved = this.packIndex;
        for (let i = 0; i < pack.elems.length; i++) {
          if (i > 0) this.emit(', ');
          this.packIndex = i;
          this.print(n.t);
        }
        this.packIndex = saved;
        return;
      }
      case 'sizeofpack': {
        const r = this.findPack(n.t);
        this.emit(String(r ? r.elems.length : 0));
        return;
      }
      case 'seq':
        for (const p of n.parts) {
          if (typeof p === 'string') this.emit(p);
          else this.print(p);
        }
        return;
      case 'list':
        this.printList(n.items);
        return;
    }
  }

  right(n: Node): void {
    switch (n.k) {
      case 'qual':
        this.right(n.t);
        if (this.resolve(n.t).k === 'fn') this.emit(n.q);
        return;
      case 'ref':
        this.inRefScope(n, () => this.rightPtr(n));
        return;
      case 'ptr':
        this.rightPtr(n);
        return;
      case 'pm':
        if (this.isArrOrFn(n.m)) this.emit(')');
        this.right(n.m);
        return;
      case 'fn':
        this.emit('(');
        this.printList(n.params);
        this.emit(')');
        if (n.ret) this.right(n.ret);
        this.emit(n.cv + n.ref);
        if (n.exc) this.print(n.exc);
        return;
      case 'arr':
        if (this.last !== ']') this.emit(' ');
        this.emit('[');
        if (n.dim) this.print(n.dim);
        this.emit(']');
        this.right(n.t);
        return;
      case 'tparam':
        if (this.lambdaDepth === 0) this.right(this.resolve(n));
        return;
      default:
        return;
    }
  }

  /** The first template argument pack that `n` refers to (for a pack expansion). */
  findPack(n: Node, depth = 0): Extract<Node, { k: 'pack' }> | null {
    if (depth > 64) return null;
    switch (n.k) {
      case 'tparam': {
        if (this.lambdaDepth > 0) return null;
        const a = this.templates[this.templates.length - 1]?.[n.idx];
        return a?.k === 'pack' ? a : null;
      }
      case 'ptr':
      case 'ref':
      case 'qual':
      case 'arr':
      case 'expand':
        return this.findPack(n.t, depth + 1);
      case 'pm':
        return this.findPack(n.c, depth + 1) ?? this.findPack(n.m, depth + 1);
      case 'fn':
        for (const p of [...(n.ret ? [n.ret] : []), ...n.params]) {
          const f = this.findPack(p, depth + 1);
          if (f) return f;
        }
        return null;
      case 'tmpl':
        for (const a of n.args) {
          const f = this.findPack(a, depth + 1);
          if (f) return f;
        }
        return this.findPack(n.n, depth + 1);
      case 'nested':
        return this.findPack(n.q, depth + 1) ?? this.findPack(n.n, depth + 1);
      case 'seq':
        for (const p of n.parts) {
          if (typeof p === 'string') continue;
          const f = this.findPack(p, depth + 1);
          if (f) return f;
        }
        return null;
      case 'list':
        for (const p of n.items) {
          const f = this.findPack(p, depth + 1);
          if (f) return f;
        }
        return null;
      default:
        return null;
    }
  }
}

const CV_WORDS = /^( (const|volatile|restrict))+$/;
const cvWordsOf = new Map<string, string[] | null>();

/** The words of a cv-qualifier string (` const volatile`), null for other qualifiers; memoized. */
function cvWords(q: string): string[] | null {
  let w = cvWordsOf.get(q);
  if (w === undefined) {
    w = CV_WORDS.test(q) ? q.trim().split(' ') : null;
    if (cvWordsOf.size < 1024) cvWordsOf.set(q, w);
  }
  return w;
}

/** The template arguments of a function's name (through a local name to its entity), if any. */
function templateArgsOf(name: Node): Node[] | null {
  const n = name.k === 'local' ? name.ent : name;
  return n.k === 'tmpl' ? n.args : null;
}

function printNode(n: Node): string {
  const p = new Printer();
  p.print(n);
  return p.text();
}

function printTemplateArgs(args: Node[]): string {
  const p = new Printer();
  p.emit('<');
  p.printList(args);
  if (p.last === '>') p.emit(' ');
  p.emit('>');
  return p.text();
}

// ---------------------------------------------------------------------------------------------
// Fast path. A profile of a large C++ binary demangles thousands of names once each, in a cold
// process where the parser and printer above run mostly unoptimized (~30 µs a name, most of a
// symbolizing run). Most names are of a plain shape: a function (or function template) in
// namespaces and classes, with built-in types, names, class template instances (type, integer
// and pack arguments), pointers, references, `const`, function types and pack expansions for
// parameters, maybe a thunk or clone suffix. SimpleDemangler reads that subset in one pass and
// prints as it reads, with the same substitution table and the same printing rules (template
// parameters resolve against the function's own template arguments, as the printer resolves
// them, since nothing in the subset opens another template scope); it gives up (undefined: the
// full demangler decides) on anything else: arrays, member pointers, expressions, lambdas and
// local names, special names but thunks, volatile, conversion operators. 97% of the function
// names of node's binary take it; the tests hold it to the full demangler.

const C_0 = 48;
const C_9 = 57;
const C_A = 65;
const C_Z = 90;
const C_a = 97;
const C_z = 122;
const C_UNDERSCORE = 95;

/** What a fast-path type, name or template argument prints as, and what printing around it needs. */
interface SimpleType {
  /**
   * The printed text; for types that print around a declarator (function types, pointers and
   * references to them: `void (*)(int)`), the part before it (Printer.left).
   */
  s: string;
  /** The part after the declarator (Printer.right): '' but for function types and what wraps them. */
  right: string;
  /** A function type (Printer.isArrOrFn): pointers and references to it need parentheses. */
  fn: boolean;
  /**
   * `atom`: a built-in type; `name`: a name (usable as a nested-name prefix); `ref`: a
   * reference; `qual`: a const type; `other`: pointers and literals; `pack`: a template argument
   * pack or a pack expansion (`elems`; `s` unused: it prints as a list, see printArgs);
   * `poison`: a substitution candidate the fast path cannot print (see expansion).
   */
  kind: 'atom' | 'name' | 'ref' | 'qual' | 'other' | 'pack' | 'poison';
  /** References: the type referred to, nested references collapsed away. */
  base: SimpleType | null;
  /** References: every reference of the collapsed chain is an rvalue reference (prints `&&`). */
  rv: boolean;
  /** Names: ends in template arguments. */
  tmpl: boolean;
  /**
   * The last character printed (of `right`, or of `s` when `right` is empty), kept alongside:
   * the text is usually a tree of concatenations, and reading a character of one makes V8
   * flatten (copy) it, name after name.
   */
  last: string;
  /** Packs: the elements. */
  elems: SimpleType[] | null;
}

function simple(s: string, kind: SimpleType['kind'], last: string, tmpl = false): SimpleType {
  return { s, right: '', fn: false, kind, base: null, rv: false, tmpl, last, elems: null };
}

function packOf(elems: SimpleType[]): SimpleType {
  const p = simple('', 'pack', '');
  p.elems = elems;
  return p;
}

/** The whole printed text of a type (Printer.print: left, then right). */
function fullText(t: SimpleType): string {
  return t.right === '' ? t.s : t.s + t.right;
}

const POISON: SimpleType = simple('', 'poison', '');

function unpoisoned(t: SimpleType | undefined): SimpleType | undefined {
  return t === undefined || t.kind === 'poison' ? undefined : t;
}

/**
 * `t` under one `P`, `R`, `O` or `K` (`c`: its character code), printed as the printer does:
 * references collapse (Printer.leftPtr: `&&` only when every reference of the chain is one);
 * const of a const type (qualifiers merge) and anything around a pack are left to the full
 * demangler.
 */
function wrapSimple(c: number, t: SimpleType): SimpleType | undefined {
  if (t.kind === 'pack' || t.kind === 'poison') return undefined;
  if (c === 75 /* K */) {
    // Printer.leftQual/right: the qualifier goes after a function type's parameters; not here.
    if (t.kind === 'qual' || t.fn) return undefined;
    return { s: `${t.s} const`, right: t.right, fn: false, kind: 'qual', base: null, rv: false, tmpl: false, last: t.right === '' ? 't' : t.last, elems: null };
  }
  // Printer.leftPtr/rightPtr: around a function type, `(*` before the declarator and `)` after.
  if (c === 80 /* P */) return pointerTo(t, '*', 'other', null, false);
  const base = t.kind === 'ref' ? t.base! : t;
  const rv = c === 79 /* O */ && (t.kind !== 'ref' || t.rv);
  return pointerTo(base, rv ? '&&' : '&', 'ref', base, rv);
}

function pointerTo(t: SimpleType, sym: string, kind: 'other' | 'ref', base: SimpleType | null, rv: boolean): SimpleType {
  const right = t.fn ? `)${t.right}` : t.right;
  const s = t.fn ? `${t.s}(${sym}` : `${t.s}${sym}`;
  return { s, right, fn: false, kind, base, rv, tmpl: false, last: right === '' ? sym.charAt(sym.length - 1) : t.last, elems: null };
}

/** The last character of a string known to be flat (a literal or a slice of the input). */
function lastOfFlat(s: string): string {
  return s.charAt(s.length - 1);
}

/** Built-in types (one letter), by character code below 128 (shared: they are never mutated). */
const SIMPLE_BUILTINS: (SimpleType | undefined)[] = new Array<SimpleType | undefined>(128).fill(undefined);
for (const [code, name] of Object.entries(BUILTINS)) SIMPLE_BUILTINS[code.charCodeAt(0)] = simple(name, 'atom', lastOfFlat(name));
/** Two-letter built-in types after `D`. */
const SIMPLE_D_BUILTINS = new Map(Object.entries(D_BUILTINS).map(([code, name]) => [code, simple(name, 'atom', lastOfFlat(name))]));

/**
 * Deepest nesting (types in types, template arguments in template arguments) the fast path
 * follows: its levels count at most three of the full parser's (MAX_DEPTH), which must fail
 * where it would.
 */
const SIMPLE_MAX_DEPTH = 40;

/** The std abbreviations, printed (by the full printer, once). */
let stdSubsPrinted: Map<string, SimpleType> | null = null;
function stdSub(c: string): SimpleType | undefined {
  if (!stdSubsPrinted) {
    stdSubsPrinted = new Map();
    for (const [k, v] of Object.entries(STD_SUBS)) {
      const text = printNode(v.node);
      stdSubsPrinted.set(k, simple(text, 'name', lastOfFlat(text), v.node.k === 'tmpl'));
    }
  }
  return stdSubsPrinted.get(c);
}

/** What reading a name found out (as Parser's NameState). */
interface SimpleName {
  s: string;
  cv: string;
  ref: string;
  /** The function's template arguments when the name ends in them (parameters refer to them). */
  args: SimpleType[] | null;
  ctorDtorConv: boolean;
}

class SimpleDemangler {
  i = 2;
  readonly subs: SimpleType[] = [];
  /** As Parser.lastName: the last source name read, which constructors are named after. */
  lastName: string | null = null;
  /** The template arguments `T_` refers to, once the function's name is read. */
  fnArgs: SimpleType[] | null = null;
  /** Whether the nested name nestedRest last read ends in template arguments, and its last character. */
  nestedTmpl = false;
  nestedLast = '';
  /** The last character of the name unqualified last read. */
  uLast = '';

  constructor(readonly s: string) {}

  /**
   * The character code at `k`, -1 past the end: optimized code that has only seen reads in
   * bounds deoptimizes on the first read past the end (every name ends), and recompiling the
   * parser costs more than the check.
   */
  at(k: number): number {
    return k < this.s.length ? this.s.charCodeAt(k) : -1;
  }

  /** The whole name, or undefined when it is not in the subset. */
  run(): string | undefined {
    const s = this.s;
    let prefix = '';
    if (this.at(2) === 84 /* T */) {
      // Thunks: h <offset> _ | v <offset> _ <offset> _, then the function.
      const k = this.at(3);
      this.i = 4;
      if (k === 104 /* h */) {
        if (!this.callOffset()) return undefined;
        prefix = 'non-virtual thunk to ';
      } else if (k === 118 /* v */) {
        if (!this.callOffset() || !this.callOffset()) return undefined;
        prefix = 'virtual thunk to ';
      } else return undefined;
    }
    const enc = this.encoding();
    if (enc === undefined) return undefined;
    let out = prefix + enc;
    // Clone suffixes (`.constprop.0`, `.cold`, `.isra.0.part.1`), as Parser.mangled reads them.
    while (this.at(this.i) === 46 /* . */ && isCloneChar(this.at(this.i + 1))) {
      const start = this.i;
      this.i += 2;
      while (isCloneChar(this.at(this.i))) this.i++;
      while (this.at(this.i) === 46 && isDigitCode(this.at(this.i + 1))) {
        this.i += 2;
        while (isDigitCode(this.at(this.i))) this.i++;
      }
      out += ` [clone ${s.slice(start, this.i)}]`;
    }
    if (this.i !== s.length) return undefined;
    return out.length > MAX_OUTPUT ? undefined : out;
  }

  /** `[n] <number> _` */
  callOffset(): boolean {
    if (this.at(this.i) === 110 /* n */) this.i++;
    if (this.number() === undefined || this.at(this.i) !== C_UNDERSCORE) return false;
    this.i++;
    return true;
  }

  number(): number | undefined {
    const s = this.s;
    let i = this.i;
    let v = 0;
    for (; i < s.length; i++) {
      const d = this.at(i) - C_0;
      if (d < 0 || d > 9) break;
      v = v * 10 + d;
    }
    if (i === this.i || i - this.i > 9) return undefined;
    this.i = i;
    return v;
  }

  encoding(): string | undefined {
    const s = this.s;
    const name = this.name();
    if (name === undefined) return undefined;
    // A data name: no parameters (and no qualifiers, which the full parser would drop).
    if (this.i === s.length) return name.cv === '' && name.ref === '' ? name.s : undefined;
    this.fnArgs = name.args;
    // A function template's return type: its left part before the name (and a space unless a
    // right part follows the parameters, as for a returned function pointer), its right part after.
    let ret = '';
    let retRight = '';
    if (name.args !== null && !name.ctorDtorConv) {
      const t = this.type(0);
      if (t === undefined || t.kind === 'pack') return undefined;
      ret = t.right === '' ? `${t.s} ` : t.s;
      retRight = t.right;
    }
    const params: SimpleType[] = [];
    let onlyVoid = false;
    while (this.i < s.length && this.at(this.i) !== 46 /* . */) {
      onlyVoid = params.length === 0 && this.at(this.i) === 118; /* v */
      const t = this.type(0);
      if (t === undefined) return undefined;
      params.push(t);
    }
    if (params.length === 0) return undefined; // a return type and no parameters: not a name
    // Printer.printList: an expansion of an empty pack prints nothing, and keeps its comma only
    // when something follows it.
    const o: SimpleOut = { out: `${ret}${name.s}(`, last: '(' };
    if (!(onlyVoid && params.length === 1)) printArgs(o, params);
    return `${o.out})${retRight}${name.cv}${name.ref}`;
  }

  /** A function's name: nested, or unscoped (possibly `std::`), with template arguments. */
  name(): SimpleName | undefined {
    const c = this.at(this.i);
    if (c === 78 /* N */) {
      this.i++;
      const cv = this.cvQualifiers();
      let ref = '';
      if (this.at(this.i) === 82 /* R */) {
        ref = ' &';
        this.i++;
      } else if (this.at(this.i) === 79 /* O */) {
        ref = ' &&';
        this.i++;
      }
      const st: SimpleName = { s: '', cv, ref, args: null, ctorDtorConv: false };
      const n = this.nestedRest(st, 0);
      if (n === undefined) return undefined;
      st.s = n;
      return st;
    }
    const n = this.unscoped(0);
    if (n === undefined) return undefined;
    return { s: n.s, cv: '', ref: '', args: n.args, ctorDtorConv: false };
  }

  /** `[St] <unqualified-name> [<template-args>]` (Parser.name for an unscoped name). */
  unscoped(depth: number): { s: string; last: string; args: SimpleType[] | null } | undefined {
    let n: string | undefined;
    if (this.at(this.i) === 83 /* S */ && this.at(this.i + 1) === 116 /* t */) {
      this.i += 2;
      const u = this.unqualified(null, null);
      if (u === undefined) return undefined;
      n = `std::${u}`;
    } else {
      n = this.unqualified(null, null);
    }
    if (n === undefined) return undefined;
    const last = this.uLast;
    if (this.at(this.i) !== 73 /* I */) return { s: n, last, args: null };
    this.subs.push(simple(n, 'name', last));
    const args = this.templateArgs(depth + 1);
    if (args === undefined) return undefined;
    return { s: withArgs(n, last, args), last: '>', args };
  }

  /** `r`, `V`, `K` in that order, as Parser.cvQualifiers prints them. */
  cvQualifiers(): string {
    let q = '';
    if (this.at(this.i) === 114 /* r */) {
      q = ' restrict';
      this.i++;
    }
    if (this.at(this.i) === 86 /* V */) {
      q = ' volatile' + q;
      this.i++;
    }
    if (this.at(this.i) === 75 /* K */) {
      q = ' const' + q;
      this.i++;
    }
    return q;
  }

  /** `<number> <identifier>`, printed (the anonymous namespace by its name); sets lastName. */
  sourceName(): string | undefined {
    const s = this.s;
    const start = this.i;
    const len = this.number();
    if (len === undefined || len <= 0 || this.i + len > s.length) {
      this.i = start;
      return undefined;
    }
    let id = s.slice(this.i, this.i + len);
    if (len >= 10 && id.startsWith('_GLOBAL_') && '._$'.includes(id[8]!) && id[9] === 'N') id = '(anonymous namespace)';
    this.i += len;
    this.lastName = id;
    return id;
  }

  /**
   * Parser.unqualifiedName for source names (also `L`-prefixed ones without a discriminator),
   * operator names and, in a function's nested name (`st`), constructors and destructors; with
   * ABI tags.
   */
  unqualified(st: SimpleName | null, scope: string | null): string | undefined {
    const s = this.s;
    const c = this.at(this.i);
    let n: string | undefined;
    let last = '';
    if (c >= C_0 && c <= C_9) {
      n = this.sourceName();
      if (n !== undefined) last = lastOfFlat(n);
    } else if (c === 76 /* L */ && isDigitCode(this.at(this.i + 1))) {
      this.i++;
      n = this.sourceName();
      if (n === undefined || this.at(this.i) === C_UNDERSCORE) return undefined; // a discriminator
      last = lastOfFlat(n);
    } else if (c === 67 /* C */ || (c === 68 /* D */ && isDigitCode(this.at(this.i + 1)))) {
      // Constructor (C1..C5, not inheriting) or destructor (D0 D1 D2 D4 D5) of lastName.
      if (st === null || scope === null || this.lastName === null) return undefined;
      // (Reads stay in bounds here: an out-of-bounds read deoptimizes V8's optimized code.)
      const kind = s.charAt(this.i + 1);
      if (kind === '' || !(c === 67 ? '12345' : '01245').includes(kind)) return undefined;
      this.i += 2;
      st.ctorDtorConv = true;
      n = c === 68 ? `~${this.lastName}` : this.lastName;
      last = lastOfFlat(this.lastName);
    } else if (c >= C_a && c <= C_z) {
      const code = s.slice(this.i, this.i + 2);
      const op = OPERATORS[code];
      // Conversion operators, literal operators, vendor operators and the expression-only codes.
      if (!op || code === 'cv' || code === 'li' || code === 'dt' || code === 'ds' || code === 'st' || code === 'sz' || code === 'at' || code === 'az') return undefined;
      this.i += 2;
      const nm = op[0];
      n = isLower(nm[0]) ? `operator ${nm}` : `operator${nm}`;
      last = lastOfFlat(nm);
    }
    if (n === undefined) return undefined;
    while (this.at(this.i) === 66 /* B */) {
      this.i++;
      const held = this.lastName;
      const tag = this.sourceName();
      if (tag === undefined) return undefined;
      this.lastName = held;
      n = `${n}[abi:${tag}]`;
      last = ']';
    }
    this.uLast = last;
    return n;
  }

  /**
   * The components of a nested name after `N` and its qualifiers, up to its `E`. As
   * Parser.nestedName: every component is a substitution candidate except the last, which
   * `type` adds itself for a type, and which a function's own name never is. `st`: reading a
   * function's name (its template arguments and constructor-ness are recorded there).
   */
  nestedRest(st: SimpleName | null, depth: number): string | undefined {
    let soFar: string | null = null;
    let soFarTmpl = false;
    let soFarLast = '';
    let pushed = 0;
    for (;;) {
      const c = this.at(this.i);
      if (c === 69 /* E */) {
        this.i++;
        break;
      }
      if (st) st.args = null;
      if (c === 73 /* I */) {
        if (soFar === null || soFarTmpl) return undefined;
        const args = this.templateArgs(depth + 1);
        if (args === undefined) return undefined;
        soFar = withArgs(soFar, soFarLast, args);
        soFarTmpl = true;
        soFarLast = '>';
        if (st) st.args = args;
      } else if (c === 83 /* S */) {
        if (soFar !== null) return undefined;
        if (this.at(this.i + 1) === 116 /* t */) {
          this.i += 2;
          soFar = 'std';
          soFarLast = 'd';
          continue;
        }
        const sub = this.substitution();
        if (sub === undefined || sub.kind !== 'name') return undefined;
        soFar = sub.s;
        soFarTmpl = sub.tmpl;
        soFarLast = sub.last;
        continue;
      } else {
        const u = this.unqualified(st, soFar);
        if (u === undefined) return undefined;
        soFar = soFar === null ? u : `${soFar}::${u}`;
        soFarTmpl = false;
        soFarLast = this.uLast;
      }
      if (soFar.length > MAX_OUTPUT || this.at(this.i) === 77 /* M */) return undefined; // data-member prefixes
      this.subs.push(simple(soFar, 'name', soFarLast, soFarTmpl));
      pushed++;
    }
    if (soFar === null || pushed === 0) return undefined;
    this.subs.pop();
    this.nestedTmpl = soFarTmpl;
    this.nestedLast = soFarLast;
    return soFar;
  }

  /** `S_`, `S <seq-id> _` or a std abbreviation (`Sa`, `Ss`, ...). */
  substitution(): SimpleType | undefined {
    const s = this.s;
    let i = this.i + 1;
    let c = this.at(i);
    if (c === C_UNDERSCORE) {
      this.i = i + 1;
      return this.sub(0);
    }
    if (c >= C_a && c <= C_z) {
      const letter = s.charAt(i);
      const std = stdSub(letter);
      if (std === undefined) return undefined;
      this.i = i + 1;
      this.lastName = (STD_SUBS[letter]!.last as { s: string }).s;
      return std;
    }
    let v = 0;
    const start = i;
    for (;;) {
      if (c >= C_0 && c <= C_9) v = v * 36 + (c - C_0);
      else if (c >= C_A && c <= C_Z) v = v * 36 + (c - 55);
      else break;
      i++;
      if (i - start > 6) return undefined;
      c = this.at(i);
    }
    if (i === start || c !== C_UNDERSCORE) return undefined;
    this.i = i + 1;
    return this.sub(v + 1);
  }

  /** Substitution candidate `k`, if there is one the fast path can print. */
  sub(k: number): SimpleType | undefined {
    return k < this.subs.length ? unpoisoned(this.subs[k]) : undefined;
  }

  /** The function's template argument `idx` (what `T_`, `T0_`... refer to), if there is one. */
  fnArg(idx: number): SimpleType | undefined {
    const args = this.fnArgs;
    return args !== null && idx < args.length ? args[idx] : undefined;
  }

  /** `I <template-arg>* E` (lastName is kept, as Parser.templateArgs does). */
  templateArgs(depth: number): SimpleType[] | undefined {
    this.i++;
    const held = this.lastName;
    const args = this.argList(depth);
    if (args === undefined) return undefined;
    this.lastName = held;
    return args;
  }

  /** Template arguments up to and including their `E`: types, literals and packs (`J ... E`). */
  argList(depth: number): SimpleType[] | undefined {
    if (depth > SIMPLE_MAX_DEPTH) return undefined;
    const s = this.s;
    const args: SimpleType[] = [];
    for (;;) {
      const c = this.at(this.i);
      if (c === 69 /* E */) break;
      if (this.i >= s.length) return undefined;
      let a: SimpleType | undefined;
      if (c === 76 /* L */) a = this.literal(depth + 1);
      else if (c === 74 /* J */) {
        this.i++;
        const elems = this.argList(depth + 1);
        if (elems !== undefined) a = packOf(elems);
      } else a = this.type(depth + 1);
      if (a === undefined) return undefined;
      args.push(a);
    }
    this.i++;
    return args;
  }

  /** `L <type> [n] <value> E` (Parser.exprPrimary for integer, bool and enum literals). */
  literal(depth: number): SimpleType | undefined {
    const s = this.s;
    this.i++;
    const c = this.at(this.i);
    if (c === C_UNDERSCORE || c === 90 /* Z */ || c === 68 /* D */ || c === 84 /* T */) return undefined; // encodings, nullptr, parameters
    const t = this.type(depth);
    if (t === undefined || t.kind === 'pack' || t.right !== '') return undefined;
    const neg = this.at(this.i) === 110; /* n */
    if (neg) this.i++;
    const start = this.i;
    const end = s.indexOf('E', start);
    if (end < 0) return undefined;
    const v = s.slice(start, end);
    this.i = end + 1;
    const tn = t.kind === 'atom' ? t.s : null;
    const suffix = tn !== null ? LITERAL_SUFFIX[tn] : undefined;
    if (suffix !== undefined && v !== '') return simple((neg ? '-' : '') + v + suffix, 'other', lastOfFlat(suffix === '' ? v : suffix));
    if (tn === 'bool' && !neg && (v === '0' || v === '1')) return simple(v === '1' ? 'true' : 'false', 'other', 'e');
    if (tn !== null && FLOAT_TYPES.has(tn)) return undefined;
    return simple(`(${t.s})${neg ? '-' : ''}${v}`, 'other', v !== '' ? lastOfFlat(v) : neg ? '-' : ')');
  }

  /** After a `T`: the `[number] _` of a template parameter, as an argument index (`T_` is 0). */
  private templateParamIndex(): number | undefined {
    let idx = 0;
    if (this.at(this.i) !== C_UNDERSCORE) {
      const n = this.number();
      if (n === undefined) return undefined;
      idx = n + 1;
    }
    if (this.at(this.i) !== C_UNDERSCORE) return undefined;
    this.i++;
    return idx;
  }

  /**
   * `Dp <type>` after its `Dp`: a pack expansion, in the subset `(P|R|O|K)* T_` where the
   * template parameter is an argument pack of the function: the type once per element (the
   * printer resolves the parameter to each element in turn), as a pack (printed as a list;
   * nothing when empty). What the full parser pushes as substitutions here (the parameter, each
   * wrapped type, the expansion) prints per expansion element: the fast path gives up if one is
   * used.
   */
  expansion(): SimpleType | undefined {
    const start = this.i;
    let j = start;
    for (let c = this.at(j); c === 80 || c === 82 || c === 79 || c === 75; c = this.at(++j));
    if (this.at(j) !== 84 /* T */) return undefined;
    this.i = j + 1;
    const idx = this.templateParamIndex();
    if (idx === undefined) return undefined;
    const pack = this.fnArg(idx);
    if (pack === undefined || pack.kind !== 'pack' || this.at(this.i) === 73 /* I */) return undefined;
    const elems: SimpleType[] = [];
    for (const e of pack.elems!) {
      if (e.kind === 'pack' || e.kind === 'poison') return undefined;
      let t: SimpleType | undefined = e;
      for (let w = j - 1; w >= start && t !== undefined; w--) t = wrapSimple(this.at(w), t);
      if (t === undefined) return undefined;
      elems.push(t);
    }
    for (let k = start; k <= j + 1; k++) this.subs.push(POISON);
    return packOf(elems);
  }

  type(depth: number): SimpleType | undefined {
    if (depth > SIMPLE_MAX_DEPTH) return undefined;
    const s = this.s;
    const c = this.at(this.i);
    const builtin = c >= 0 && c < 128 ? SIMPLE_BUILTINS[c] : undefined;
    if (builtin !== undefined) {
      this.i++;
      return builtin;
    }
    let r: SimpleType;
    switch (c) {
      case 68 /* D */: {
        if (this.at(this.i + 1) === 112 /* p */) {
          this.i += 2;
          return this.expansion();
        }
        const db = SIMPLE_D_BUILTINS.get(s.charAt(this.i + 1));
        if (db === undefined) return undefined;
        this.i += 2;
        return db;
      }
      case 80 /* P */:
      case 82 /* R */:
      case 79 /* O */:
      case 75 /* K */: {
        this.i++;
        if (c === 75) {
          const n = this.at(this.i);
          // volatile and restrict; function types (`KF`, `KDx`...).
          if (n === 86 || n === 114 || n === 70) return undefined;
          if (n === 68 && !SIMPLE_D_BUILTINS.has(s.charAt(this.i + 1))) return undefined;
        }
        const t = this.type(depth + 1);
        if (t === undefined) return undefined;
        const w = wrapSimple(c, t);
        if (w === undefined) return undefined;
        r = w;
        break;
      }
      case 70 /* F */: {
        // Parser.functionType: F [Y] <return type> <parameter types> [R|O] E, where a `v` just
        // before the end stands for no parameters. Printed around the declarator: the return
        // type's left part before it, the parameters (and the return type's right part) after.
        this.i++;
        if (this.at(this.i) === 89 /* Y */) this.i++;
        const ret = this.type(depth + 1);
        if (ret === undefined || ret.kind === 'pack') return undefined;
        const params: SimpleType[] = [];
        let ref = '';
        for (;;) {
          const p = this.at(this.i);
          if (p === 69 /* E */) {
            this.i++;
            break;
          }
          if ((p === 82 /* R */ || p === 79 /* O */) && this.at(this.i + 1) === 69) {
            ref = p === 82 ? ' &' : ' &&';
            this.i += 2;
            break;
          }
          if (p === 118 /* v */ && this.at(this.i + 1) === 69) {
            this.i++;
            continue;
          }
          if (p < 0) return undefined;
          const t = this.type(depth + 1);
          if (t === undefined) return undefined;
          params.push(t);
        }
        const o: SimpleOut = { out: '(', last: '(' };
        printArgs(o, params);
        r = {
          s: ret.right === '' ? `${ret.s} ` : ret.s,
          right: `${o.out})${ret.right}${ref}`,
          fn: true,
          kind: 'other',
          base: null,
          rv: false,
          tmpl: false,
          last: ref !== '' ? '&' : ret.right !== '' ? ret.last : ')',
          elems: null,
        };
        break;
      }
      case 78 /* N */: {
        this.i++;
        const n = this.at(this.i);
        if (n === 75 || n === 86 || n === 114 || n === 82 || n === 79) return undefined;
        const name = this.nestedRest(null, depth + 1);
        if (name === undefined) return undefined;
        r = simple(name, 'name', this.nestedLast, this.nestedTmpl);
        break;
      }
      case 83 /* S */: {
        if (this.at(this.i + 1) === 116 /* t */) {
          const n = this.unscoped(depth + 1);
          if (n === undefined) return undefined;
          r = simple(n.s, 'name', n.last, n.args !== null);
          break;
        }
        const sub = this.substitution();
        if (sub === undefined) return undefined;
        if (this.at(this.i) !== 73 /* I */) return sub;
        if (sub.tmpl || sub.kind !== 'name') return undefined;
        const args = this.templateArgs(depth + 1);
        if (args === undefined) return undefined;
        r = simple(withArgs(sub.s, sub.last, args), 'name', '>', true);
        break;
      }
      case 84 /* T */: {
        // A template parameter: the function's template argument, as the printer resolves it.
        this.i++;
        const idx = this.templateParamIndex();
        if (idx === undefined) return undefined;
        const a = this.fnArg(idx);
        // Packs (which resolve per expansion element) and template template parameters.
        if (a === undefined || a.kind === 'pack' || this.at(this.i) === 73 /* I */) return undefined;
        // Never an `atom` (a literal's type must be one to print as a plain number), as in the
        // full parser, where it stays a template parameter node.
        r = a.kind === 'atom' ? simple(a.s, 'other', a.last) : a;
        break;
      }
      default: {
        if (!isDigitCode(c)) return undefined; // functions, arrays, member pointers, local names, ...
        const n = this.unscoped(depth + 1);
        if (n === undefined) return undefined;
        r = simple(n.s, 'name', n.last, n.args !== null);
        break;
      }
    }
    if (r.s.length > MAX_OUTPUT) return undefined;
    this.subs.push(r);
    return r;
  }
}

/** Printer state for printArgs: the text, and the last character emitted (Printer.last). */
interface SimpleOut {
  out: string;
  last: string;
}

/** Printer.emit: `last` is `s`'s last character (passed: reading it could flatten `s`). */
function emitSimple(o: SimpleOut, s: string, last: string): void {
  if (s === '') return;
  o.out += s;
  o.last = last;
}

/** Printer.printList over template arguments, packs printing their elements in place. */
function printArgs(o: SimpleOut, items: readonly SimpleType[]): void {
  let commaAt = -1;
  let lastNonEmpty = -1;
  for (let i = 0; i < items.length; i++) {
    const before = o.out.length;
    if (i > 0) emitSimple(o, ', ', ' ');
    const start = o.out.length;
    const it = items[i]!;
    if (it.kind === 'pack') printArgs(o, it.elems!);
    else emitSimple(o, fullText(it), it.last);
    if (o.out.length > start) {
      lastNonEmpty = i;
      commaAt = -1;
    } else if (commaAt < 0 && i > 0) commaAt = before;
  }
  if (lastNonEmpty < items.length - 1 && items.length > 1) {
    if (commaAt >= 0) o.out = o.out.slice(0, commaAt);
    o.last = ' ';
  }
}

/** `name<args>`, spaced as the printer does after `<` (operator<) and before `>` (`A<B<int> >`). */
function withArgs(name: string, nameLast: string, args: readonly SimpleType[]): string {
  const o: SimpleOut = { out: name, last: nameLast };
  if (o.last === '<') emitSimple(o, ' ', ' ');
  emitSimple(o, '<', '<');
  printArgs(o, args);
  if (o.last === '>') emitSimple(o, ' ', ' ');
  emitSimple(o, '>', '>');
  return o.out;
}

function isDigitCode(c: number): boolean {
  return c >= C_0 && c <= C_9;
}

/** Characters of a clone suffix's name: lower-case letters, digits, `_`. */
function isCloneChar(c: number): boolean {
  return (c >= C_a && c <= C_z) || (c >= C_0 && c <= C_9) || c === C_UNDERSCORE;
}

/**
 * The fast path alone: the demangled name when `mangled` is in its subset, undefined when the
 * full demangler must decide. Exported for the tests that hold it to the full demangler.
 */
export function demangleItaniumSimple(mangled: string): string | undefined {
  if (!mangled.startsWith('_Z') || mangled.length > 8192) return undefined;
  return new SimpleDemangler(mangled).run();
}

/** The full demangler alone (parse tree and printer), without the fast path. */
export function demangleItaniumFull(mangled: string): string | null {
  if (!mangled.startsWith('_Z') || mangled.length > 8192) return null;
  try {
    const p = new Parser(mangled);
    return printNode(p.mangled());
  } catch (e) {
    if (e instanceof Fail || e instanceof RangeError) return null;
    throw e;
  }
}

/** Demangles an Itanium C++ symbol (`_Z...`, with clone suffixes); null when it cannot. */
export function demangleItanium(mangled: string): string | null {
  return demangleItaniumSimple(mangled) ?? demangleItaniumFull(mangled);
}
