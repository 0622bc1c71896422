import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { skipOutsideCi } from '../helpers.js';
import { demangle, demangleItanium, demangleRustLegacy, demangleRustV0 } from '../../src/symbolize/demangle.js';
import { demangleItaniumFull, demangleItaniumSimple } from '../../src/symbolize/demangle-itanium.js';
import { buildCxx, cxxfilt, hasTool, nmFunctions } from './fixtures.js';

/** Expected outputs, checked against GNU c++filt 2.40 (which prints C++ this way). */
const CXX_CASES: [string, string][] = [
  ['_Z3foov', 'foo()'],
  ['_ZN1A1fEv', 'A::f()'],
  ['_ZNK1A1fEv', 'A::f() const'],
  ['_ZNR1A1fEv', 'A::f() &'],
  ['_ZNO1A1fEv', 'A::f() &&'],
  ['_ZN5Outer5InnerIiE1fEv', 'Outer::Inner<int>::f()'],
  ['_ZN12_GLOBAL__N_13fooEv', '(anonymous namespace)::foo()'],
  ['_ZN1A1fEiz', 'A::f(int, ...)'],
  // constructors, destructors
  ['_ZN1AC2ERKS_', 'A::A(A const&)'],
  ['_ZN1AD0Ev', 'A::~A()'],
  ['_ZN1AIiEC2Ev', 'A<int>::A()'],
  ['_ZNSt8ios_base4InitC1Ev', 'std::ios_base::Init::Init()'],
  ['_ZNSt8ios_base7failureB5cxx11D0Ev', 'std::ios_base::failure[abi:cxx11]::~failure()'],
  // operators
  ['_ZplRK1AS1_', 'operator+(A const&, A const&)'],
  ['_ZN1AaSERKS_', 'A::operator=(A const&)'],
  ['_ZN1AixEi', 'A::operator[](int)'],
  ['_ZN1AclEv', 'A::operator()()'],
  ['_ZN1AptEv', 'A::operator->()'],
  ['_ZNK1AcvbEv', 'A::operator bool() const'],
  ['_ZN1AcviEv', 'A::operator int()'],
  ['_Znwm', 'operator new(unsigned long)'],
  ['_ZdaPvm', 'operator delete[](void*, unsigned long)'],
  ['_ZnamSt11align_val_t', 'operator new[](unsigned long, std::align_val_t)'],
  ['_ZlsIcERSoS0_PKc', 'std::basic_ostream<char, std::char_traits<char> >& operator<< <char>(std::basic_ostream<char, std::char_traits<char> >&, char const*)'],
  // templates, return types, template parameters, packs
  ['_Z1fIiEvT_', 'void f<int>(int)'],
  ['_ZN1AIiE1fIcEET_v', 'char A<int>::f<char>()'],
  ['_Z1fIJidEEvDpT_', 'void f<int, double>(int, double)'],
  ['_Z1fIJEEvDpT_', 'void f<>()'],
  ['_Z1fIiEvT_S_', 'void f<int>(int, f)'],
  ['_Z1fIPFvvEEvv', 'void f<void (*)()>()'],
  ['_Z1fIA3_iEvv', 'void f<int [3]>()'],
  ['_Z1fILi5EEvv', 'void f<5>()'],
  ['_Z1fILb1EEvv', 'void f<true>()'],
  ['_Z1fILc65EEvv', 'void f<(char)65>()'],
  ['_Z1fILj5EEvv', 'void f<5u>()'],
  ['_Z1fILin5EEvv', 'void f<-5>()'],
  ['_Z1fILm5EEvv', 'void f<5ul>()'],
  ['_Z1fILDnEEvv', 'void f<decltype(nullptr)>()'],
  ['_Z1fIXadL_Z3barvEEEvv', 'void f<&(bar())>()'],
  ['_Z1fIiEPFvvEv', 'void (*f<int>())()'],
  ['_ZNSt6vectorIiSaIiEE12emplace_backIJiEEERiDpOT_', 'int& std::vector<int, std::allocator<int> >::emplace_back<int>(int&&)'],
  ['_ZNSt6vectorIiSaIiEE12emplace_backIJRiEEES3_DpOT_', 'int& std::vector<int, std::allocator<int> >::emplace_back<int&>(int&)'],
  ['_ZN1AIiEcvT_IcEEv', 'A<int>::operator char<char>()'],
  // std:: substitutions (c++filt prints them expanded)
  ['_Z1fSs', 'f(std::basic_string<char, std::char_traits<char>, std::allocator<char> >)'],
  ['_ZNSsC1Ev', 'std::basic_string<char, std::char_traits<char>, std::allocator<char> >::basic_string()'],
  ['_Z1fSi', 'f(std::basic_istream<char, std::char_traits<char> >)'],
  ['_ZNSo3putEc', 'std::basic_ostream<char, std::char_traits<char> >::put(char)'],
  ['_ZNSdD0Ev', 'std::basic_iostream<char, std::char_traits<char> >::~basic_iostream()'],
  ['_Z1fSaIcE', 'f(std::allocator<char>)'],
  ['_ZNSaIcEC1Ev', 'std::allocator<char>::allocator()'],
  ['_Z1fSbIwE', 'f(std::basic_string<wchar_t>)'],
  ['_ZSt4cout', 'std::cout'],
  ['_ZNSt6vectorIiSaIiEE9push_backERKi', 'std::vector<int, std::allocator<int> >::push_back(int const&)'],
  ['_ZNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEC1EPKcRKS3_', 'std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >::basic_string(char const*, std::allocator<char> const&)'],
  // cv-qualifiers, pointers, references, functions, arrays, members
  ['_Z1fPVKi', 'f(int const volatile*)'],
  ['_Z1fPrVKi', 'f(int const volatile restrict*)'],
  ['_Z1fPKPKc', 'f(char const* const*)'],
  ['_Z1fOi', 'f(int&&)'],
  ['_Z1fPFviE', 'f(void (*)(int))'],
  ['_Z1fPFPFivEvE', 'f(int (*(*)())())'],
  ['_Z1fRA3_i', 'f(int (&) [3])'],
  ['_Z1fRKA3_i', 'f(int const (&) [3])'],
  ['_Z1fPA3_A4_i', 'f(int (*) [3][4])'],
  ['_Z1fM1AKFvvE', 'f(void (A::*)() const)'],
  ['_Z1fM1Ai', 'f(int A::*)'],
  ['_Z1fPDoFvvE', 'f(void (*)() noexcept)'],
  ['_Z1fCd', 'f(double _Complex)'],
  ['_Z1fDv4_f', 'f(float __vector(4))'],
  ['_Z1fDn', 'f(decltype(nullptr))'],
  ['_Z1fDF16_', 'f(_Float16)'],
  ['_ZNKSt8functionIFviEEclEi', 'std::function<void (int)>::operator()(int) const'],
  ['_ZN15SearchStringRawIKhKtEElPKT_PKT0_', 'long SearchStringRaw<unsigned char const, unsigned short const>(unsigned char const*, unsigned short const*)'],
  // local names, lambdas, unnamed types, abi tags
  ['_ZZ3foovE1x', 'foo()::x'],
  ['_ZZ3foovEs', 'foo()::string literal'],
  ['_ZZ3foovENKUliE_clEi', 'foo()::{lambda(int)#1}::operator()(int) const'],
  ['_ZZ3foovENKUlvE0_clEv', 'foo()::{lambda()#2}::operator()() const'],
  ['_ZN1AUt0_E', 'A::{unnamed type#2}'],
  ['_Z3fooB5cxx11v', 'foo[abi:cxx11]()'],
  // expressions (decltype return types)
  ['_Z1fIiEDTplfp_Li1EET_', 'decltype ({parm#1}+(1)) f<int>(int)'],
  ['_Z1fIiEDTcl1gfp_EET_', 'decltype (g({parm#1})) f<int>(int)'],
  ['_Z1fIiEDTgtfp_fp_ET_', 'decltype (({parm#1}>{parm#1})) f<int>(int)'],
  ['_Z1fIiEvDTscT_Li1EE', 'void f<int>(decltype (static_cast<int>(1)))'],
  ['_Z1fIiEvDTstT_E', 'void f<int>(decltype (sizeof (int)))'],
  ['_Z1fIJiiEEDTsZT_EDpT_', 'decltype (2) f<int, int>(int, int)'],
  // special names
  ['_ZTV1A', 'vtable for A'],
  ['_ZTI1A', 'typeinfo for A'],
  ['_ZTS1A', 'typeinfo name for A'],
  ['_ZTT1A', 'VTT for A'],
  ['_ZThn8_N1A1fEv', 'non-virtual thunk to A::f()'],
  ['_ZTv0_n24_N1AD1Ev', 'virtual thunk to A::~A()'],
  ['_ZTcv0_n24_h8_N1A1fEv', 'covariant return thunk to A::f()'],
  ['_ZTC1A0_1B', 'construction vtable for B-in-A'],
  ['_ZGVZ3foovE1x', 'guard variable for foo()::x'],
  ['_ZTW1x', 'TLS wrapper function for x'],
  ['_ZGTtN1A1fEv', 'transaction clone for A::f()'],
  // clone suffixes
  ['_ZN1A1fEv.cold', 'A::f() [clone .cold]'],
  ['_Z3foov.isra.0', 'foo() [clone .isra.0]'],
  ['_Z3foov.constprop.0.isra.0', 'foo() [clone .constprop.0] [clone .isra.0]'],
  ['_Z1fv.cold.1', 'f() [clone .cold.1]'],
  ['_ZN1AIiE1fEv.part.0', 'A<int>::f() [clone .part.0]'],
];

test('C++ (Itanium) demangling: fixed cases, as c++filt prints them', () => {
  for (const [mangled, expected] of CXX_CASES) assert.equal(demangle(mangled), expected, mangled);
});

test('Rust legacy: hash stripped, escapes decoded, compiler suffixes dropped', () => {
  assert.equal(demangle('_ZN4core3ptr13drop_in_place17h0123456789abcdefE'), 'core::ptr::drop_in_place');
  assert.equal(demangle('_ZN36_$LT$T$u20$as$u20$core..any..Any$GT$7type_id17h18d70cef67ea0dc4E'), '<T as core::any::Any>::type_id');
  assert.equal(
    demangle('_ZN100_$LT$core..iter..adapters..take..Take$LT$I$GT$$u20$as$u20$core..iter..traits..iterator..Iterator$GT$3nth17h636cbd9beba5dbcaE'),
    '<core::iter::adapters::take::Take<I> as core::iter::traits::iterator::Iterator>::nth',
  );
  assert.equal(demangle('_ZN3std2io5error5Error4kind17hc4b0a47b200688b5E.2379'), 'std::io::error::Error::kind');
  assert.equal(demangle('_ZN3foo3bar17h0123456789abcdefE.llvm.1234567'), 'foo::bar');
  assert.equal(demangleRustLegacy('_ZN3foo3barE'), null, 'no hash: C++, not Rust');
  assert.equal(demangle('_ZN3foo3barE'), 'foo::bar');
});

test('Rust v0: paths, generics, closures, impls, consts, fn pointers and binders', () => {
  const cases: [string, string][] = [
    ['_RNvNtNtCs1I33n4nKwkQ_13rustc_session7options6dbopts8polonius', 'rustc_session::options::dbopts::polonius'],
    ['_RINvNtCsgEmfK2I1SDS_4core6escape14escape_unicodeKja_ECs2wjhYK9GGsd_16rustc_proc_macro', 'core::escape::escape_unicode::<10>'],
    ['_RNCNCNvNtNtCshek8c565Rq6_18rustc_attr_parsing7context4late17ATTRIBUTE_PARSERS0s5D_0B9_', 'rustc_attr_parsing::context::late::ATTRIBUTE_PARSERS::{closure#0}::{closure#351}'],
    ['_RNvNtCs3806BPX2ENI_20rustc_builtin_macros6assert13expand_assert.cold', 'rustc_builtin_macros::assert::expand_assert'],
    ['_RNvMs2_NtNtNtCs5wpeUTfK1SV_14regex_automata3nfa8thompson8compilerNtB5_8Compiler1c.cold', '<regex_automata::nfa::thompson::compiler::Compiler>::c'],
    ['_RINvCsj5wP2yJ1zDM_6blake321compress_subtree_wideNtNtB2_4join10SerialJoinEB2_', 'blake3::compress_subtree_wide::<blake3::join::SerialJoin>'],
    ['_RNvMs_CsfuIt0HfWOwz_3urlNtB4_3Url8set_host', '<url::Url>::set_host'],
    [
      '_RINvMNtNtNtCsiDnBiUdckdf_10gix_config4file6access3rawNtNtB9_5types4File19raw_value_filter_byReB1s_QFG_RL0_NtB7_8MetadataEbECs26ezDKuLN16_5cargo',
      "<gix_config::types::File>::raw_value_filter_by::<&str, &str, &mut for<'a> fn(&'a gix_config::file::Metadata) -> bool>",
    ],
    ['_RINvCs6BHtpee92oz_8smallvec10deallocateNtNtCskzSwQwhDNZd_18rustc_mir_dataflow10move_paths9InitIndexEBF_', 'smallvec::deallocate::<rustc_mir_dataflow::move_paths::InitIndex>'],
    ['_RNvXs_NtCs3mSbOeLENLV_4test5statsSdNtB4_5Stats10percentile', '<[f64] as test::stats::Stats>::percentile'],
    ['_RNvCs1234_7mycrate3foo', 'mycrate::foo'],
  ];
  for (const [mangled, expected] of cases) assert.equal(demangle(mangled), expected, mangled);
  assert.equal(demangleRustV0('_RNvB_3foo'), null, 'a backref must point backwards');
});

test('anything else comes back unchanged; malformed input never throws or hangs', () => {
  for (const s of ['main', 'printf', '_start', '', 'foo.cold', '__libc_start_main', 'Builtins_ArgumentsAdaptorTrampoline', '_GLOBAL__sub_I_main.cpp']) {
    assert.equal(demangle(s), s);
  }
  for (const s of ['_Z', '_ZN', '_ZNE', '_Z1', '_Z9abc', '_ZSt', '_ZTV', '_Z1fI', '_Z1fS_', '_Z1fT_', '_R', '_RN', '_RB_', '_ZN3FooIiEcvT_Ev', '_ZL10BTFKindStr.rel']) {
    assert.equal(demangle(s), s, s);
  }
  // Deep nesting is bounded (no stack overflow): returned unchanged.
  const deep = '_Z1f' + 'P'.repeat(5000) + 'i';
  assert.equal(demangle(deep), deep);
  const deepRust = '_RNv' + 'Nv'.repeat(3000) + 'C3foo3bar';
  assert.equal(demangle(deepRust), deepRust);
  // Seeded random mutations of real names: only strings come back.
  let seed = 7;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const alphabet = 'NESIJTLXZ_0123456789abcdefghijklmnopqrstuvwxyzKVRPOFDCMUB.';
  for (let i = 0; i < 3000; i++) {
    const base = CXX_CASES[rand(CXX_CASES.length)]![0];
    const chars = base.split('');
    for (let k = 0; k < 1 + rand(4); k++) chars[2 + rand(chars.length - 2)] = alphabet[rand(alphabet.length)]!;
    const out = demangle(chars.join(''));
    assert.equal(typeof out, 'string');
  }
  assert.equal(demangleItanium('not mangled'), null);
});

test('a g++-compiled program: every symbol demangles exactly as c++filt prints it', (t) => {
  const exe = buildCxx();
  if (!exe || !hasTool('c++filt')) {
    skipOutsideCi(t, 'g++ or c++filt missing');
    return;
  }
  const names = [...new Set(nmFunctions(exe).map((s) => s.name))].filter((n) => n.startsWith('_Z'));
  assert.ok(names.length > 8, `${names.length} mangled symbols`);
  const expected = cxxfilt(names);
  const wrong = names.filter((n, i) => demangle(n) !== expected[i]).map((n) => `${n}: ${demangle(n)} != ${expected[names.indexOf(n)]}`);
  assert.deepEqual(wrong, []);
  // The fixture's own functions are there, demangled.
  const all = names.map((n) => demangle(n));
  for (const want of [
    'outer::inner::Widget::compute(std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> > const&, double) const',
    'int outer::inner::convert<int, double>(double, int*)',
    'int outer::inner::count_args<int, char, double>(int&&, char&&, double&&)',
    '(anonymous namespace)::anon_helper(char const*, unsigned long)',
    'outer::inner::Widget::make(std::vector<int, std::allocator<int> >*)',
  ]) {
    assert.ok(all.includes(want), `missing ${want}`);
  }
});

test('libstdc++ exported symbols: agreement with c++filt', (t) => {
  const lib = '/usr/lib/x86_64-linux-gnu/libstdc++.so.6';
  if (!hasTool('c++filt') || !existsSync(lib)) {
    skipOutsideCi(t, 'c++filt or libstdc++ missing: comparison skipped');
    return;
  }
  const out = execFileSync('nm', ['-D', '--defined-only', lib], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const names = [...new Set(out.split('\n').map((l) => l.trim().split(/\s+/)[2]?.replace(/@.*$/, '')).filter((n): n is string => !!n && n.startsWith('_Z')))];
  assert.ok(names.length > 1000);
  const expected = cxxfilt(names);
  let agree = 0;
  const diffs: string[] = [];
  names.forEach((n, i) => {
    const d = demangle(n);
    if (d === expected[i]) agree++;
    else diffs.push(`${n}\n  ours:     ${d}\n  c++filt:  ${expected[i]}`);
  });
  const rate = agree / names.length;
  t.diagnostic(`libstdc++: ${agree}/${names.length} symbols demangle exactly as c++filt (${(rate * 100).toFixed(2)}%)`);
  assert.ok(rate >= 0.99, `agreement ${(rate * 100).toFixed(2)}%; first differences:\n${diffs.slice(0, 10).join('\n')}`);
});

test('symbol version tags are dropped before demangling', async () => {
  const { withoutSymbolVersion } = await import('../../src/symbolize/index.js');
  assert.equal(withoutSymbolVersion('clock_gettime@@GLIBC_2.17'), 'clock_gettime');
  assert.equal(withoutSymbolVersion('memcpy@GLIBC_2.2.5'), 'memcpy');
  assert.equal(withoutSymbolVersion('_ZNSt6thread4joinEv@@GLIBCXX_3.4.11'), '_ZNSt6thread4joinEv');
  assert.equal(withoutSymbolVersion('plain'), 'plain');
});

// The fast path (demangle-itanium.ts: SimpleDemangler) must print every name it takes exactly
// as the full demangler does, and leave everything else to it.

/** Names around the fast path's edges: packs, expansions, references through T_, function types, clones. */
const FAST_PATH_EDGES = [
  '_Z3fooIJEEvv', '_Z3fooIJiEEvv', '_Z3fooIiJEEvv', '_Z3fooIJEiEvv', '_Z3fooIJEJEEvv', '_Z3fooIiJEcEvv',
  '_Z1fIJEEvDpT_', '_Z1fIJiEEviDpT_', '_Z1fIJEEvDpT_i', '_Z1fIJicEEvDpRKT_', '_Z1fIJRiOcEEvDpOT_', '_Z1fIJKiEEvDpKT_',
  '_Z1fIJicEEvDpT_S_', '_Z1fIJicEEvDpT_S0_', '_Z1fIiJcEEvT_DpT0_', '_Z1fIJEEvN1AIJiDpT_EEE', '_Z1fIJiEEvT_',
  '_Z1fIRiEvOT_', '_Z1fIOiEvRT_', '_Z1fIOiEvOT_', '_Z1fIKiEvKT_', '_Z1fIiEvPKT_', '_Z1fIcEvLT_1E', '_Z1fIN1E1XEEvv',
  '_Z1fILN1E1XE3EEvv', '_ZltIiEbRK1AIT_ES4_', '_Z3fooIiE', '_ZN1A1BB5cxx11Ev', '_ZTv0_n24_N1A1fEv.cold',
  '_Z1fPFvvE', '_Z1fRFvvE', '_Z1fOFvvE', '_Z1fPPFvvE', '_Z1fKPFvvE', '_Z1fRKPFvvE', '_Z1fPFPFviEcE', '_Z1fFvvE',
  '_Z1fPFvvREE', '_Z1fPFvvOE', '_Z1fPFviES0_', '_Z1fPFviES_', '_Z1fIFviEEvPT_', '_Z1fIFviEEvKT_', '_Z1fPFvDpiE',
  '_Z1fIJFviEEEvDpPT_', '_Z1fPFvivE', '_Z1fPFvvvE', '_ZL3fooi', '_ZL3fooi_1', '_ZN1AC2IiEET_', '_ZNKSs4sizeEv',
  '_ZNSt6vectorIiSaIiEE9push_backEOi', '_Z1fIiEvT_v', '_Z1fIiE', '_ZN1AIiE1fE', '_ZNK1A1fE', '_Z1fKDs', '_Z1fKDn',
];

/** Seeded mutations of `names`: characters and mangling fragments inserted, dropped, replaced. */
function mutations(names: readonly string[], count: number, seed: number): string[] {
  let s = seed;
  const rnd = (): number => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pieces = ['S_', 'S0_', 'S1_', 'T_', 'T0_', 'RT_', 'OT_', 'KT_', 'IiE', 'IJEE', 'IJicEE', 'DpT_', 'DpRKT_', 'PFviE', 'FvvE', 'Li5E', 'St', 'Sa', 'Ss', 'B5cxx11', 'C1', 'D0', 'E', 'I', 'v', 'N1AE', '.cold'];
  const chars = 'NEIKVrROPSTLDCBMJFXZ_0123456789abcdijlmstvxyz';
  const out: string[] = [];
  for (let k = 0; k < count; k++) {
    let n = names[Math.floor(rnd() * names.length)]!;
    for (let m = 0; m < 1 + Math.floor(rnd() * 3); m++) {
      const at = 2 + Math.floor(rnd() * Math.max(1, n.length - 2));
      const ins = rnd() < 0.5 ? chars[Math.floor(rnd() * chars.length)]! : pieces[Math.floor(rnd() * pieces.length)]!;
      const r = rnd();
      n = r < 0.4 ? n.slice(0, at) + ins + n.slice(at) : r < 0.7 ? n.slice(0, at) + n.slice(at + 1) : n.slice(0, at) + ins + n.slice(at + ins.length);
    }
    out.push(n);
  }
  return out;
}

test('C++ fast path: every name it takes prints exactly as the full demangler prints it', () => {
  const base = [...CXX_CASES.map(([m]) => m), ...FAST_PATH_EDGES];
  let taken = 0;
  for (const n of [...base, ...mutations(base, 20000, 1)]) {
    const fast = demangleItaniumSimple(n);
    if (fast === undefined) continue;
    taken++;
    assert.equal(fast, demangleItaniumFull(n), n);
  }
  assert.ok(taken > 2000, `fast path taken ${taken} times`);
});

test('C++ fast path: libstdc++ exported symbols agree with the full demangler (and most take it)', (t) => {
  const lib = '/usr/lib/x86_64-linux-gnu/libstdc++.so.6';
  if (!existsSync(lib) || !hasTool('nm')) {
    skipOutsideCi(t, 'nm or libstdc++ missing');
    return;
  }
  const out = execFileSync('nm', ['-D', '--defined-only', lib], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const names = [...new Set(out.split('\n').map((l) => l.trim().split(/\s+/)[2]?.replace(/@.*$/, '')).filter((n): n is string => !!n && n.startsWith('_Z')))];
  let taken = 0;
  for (const n of names) {
    const fast = demangleItaniumSimple(n);
    if (fast === undefined) continue;
    taken++;
    assert.equal(fast, demangleItaniumFull(n), n);
  }
  t.diagnostic(`libstdc++: fast path took ${taken} of ${names.length} names`);
  assert.ok(taken > names.length / 2);
});
