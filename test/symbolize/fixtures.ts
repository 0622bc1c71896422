// Test fixtures for the symbolization tests: tiny C, C++ and assembly programs compiled with the
// system toolchain into a temp dir, programs that print their own function addresses, and truth
// taken from binutils (nm, readelf, c++filt), never from the code under test.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

let dir: string | null = null;

/** One temp dir per test process, removed at exit. */
export function fixtureDir(): string {
  if (!dir) {
    dir = mkdtempSync(join(tmpdir(), 'ebpf-otel-symbolize-'));
    const d = dir;
    process.on('exit', () => rmSync(d, { recursive: true, force: true }));
  }
  return dir;
}

export function hasTool(tool: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
}

const LIB_C = `
#include <stdio.h>
__attribute__((noinline)) int lib_function_alpha(int x) { volatile int y = x; for (int i = 0; i < 5; i++) y += i; return y; }
__attribute__((noinline)) int lib_function_beta(int x) { return lib_function_alpha(x) * 2; }
static __attribute__((noinline)) int lib_static_gamma(int x) { volatile int z = x; return z - 1; }
/* Called (not address-taken) by the program, so the addresses printed are the library's own. */
void lib_report(void) {
  printf("lib_function_alpha %p\\n", (void *)lib_function_alpha);
  printf("lib_function_beta %p\\n", (void *)lib_function_beta);
  printf("lib_static_gamma %p\\n", (void *)lib_static_gamma);
  (void)lib_static_gamma(1);
}
`;

const PROG_C = `
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/auxv.h>
#include <sys/mman.h>
extern void lib_report(void);
extern int lib_function_beta(int);
__attribute__((noinline)) int prog_function_one(int x) { volatile int y = x * 3; for (int i = 0; i < 10; i++) y += i; return y; }
__attribute__((noinline)) int prog_function_two(int x) { return prog_function_one(x) + 7; }
static __attribute__((noinline)) int prog_static_three(int x) { volatile int z = x; return z * 2 + 1; }
static int ifunc_impl(void) { return 42; }
static void *resolve_prog_ifunc(void) { return (void *)ifunc_impl; }
int prog_ifunc(void) __attribute__((ifunc("resolve_prog_ifunc")));
int main(int argc, char **argv) {
  (void)argv;
  void *jit = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  memset(jit, 0xc3, 4096);
  printf("prog_function_one %p\\n", (void *)prog_function_one);
  printf("prog_function_two %p\\n", (void *)prog_function_two);
  printf("prog_static_three %p\\n", (void *)prog_static_three);
  printf("main %p\\n", (void *)main);
  lib_report();
  printf("jit %p\\n", jit);
  printf("vdso 0x%lx\\n", getauxval(AT_SYSINFO_EHDR));
  printf("ready\\n");
  fflush(stdout);
  char buf[64];
  while (read(0, buf, sizeof buf) > 0) {}
  return prog_function_two(argc) + prog_static_three(argc) + lib_function_beta(argc) + prog_ifunc();
}
`;

const ASM_S = `
    .text
    .globl asm_nosize_a
    .type asm_nosize_a,@function
asm_nosize_a:
    nop
    nop
    nop
    ret
    .globl asm_nosize_b
    .type asm_nosize_b,@function
asm_nosize_b:
    nop
    ret
    .globl outer_fn
    .type outer_fn,@function
outer_fn:
    .fill 4, 1, 0x90
    .globl inner_fn
    .type inner_fn,@function
inner_fn:
    .fill 4, 1, 0x90
    .size inner_fn, 4
    .fill 24, 1, 0x90
    .size outer_fn, 32
    .section .othertext,"ax",@progbits
    .p2align 12
    .globl asm_nosize_last
    .type asm_nosize_last,@function
asm_nosize_last:
    nop
    ret
`;

export const CXX_SRC = `
#include <cstdio>
#include <map>
#include <string>
#include <vector>
#include <functional>
#include <unistd.h>
namespace outer { namespace inner {
struct Widget {
  int v;
  explicit Widget(int x) : v(x) {}
  ~Widget() { v = 0; }
  __attribute__((noinline)) int compute(const std::string &s, double d) const { return v + (int)s.size() + (int)d; }
  Widget &operator+=(const Widget &o) { v += o.v; return *this; }
  bool operator<(const Widget &o) const { return v < o.v; }
  static __attribute__((noinline)) Widget *make(std::vector<int> *xs) { return new Widget((int)xs->size()); }
};
template <typename T, typename U> __attribute__((noinline)) T convert(U u, T *) { return static_cast<T>(u); }
template <typename... Ts> __attribute__((noinline)) int count_args(Ts &&...) { return (int)sizeof...(Ts); }
} }
namespace {
__attribute__((noinline)) long anon_helper(const char *p, unsigned long n) { return (long)(p[0] + n); }
}
__attribute__((noinline)) int free_function(std::map<std::string, std::vector<int>> &m, int (*cb)(int)) { return (int)m.size() + cb(1); }
static int cb_impl(int x) { return x + 1; }
int main(int argc, char **) {
  outer::inner::Widget w(argc);
  std::vector<int> xs{1, 2, 3};
  std::map<std::string, std::vector<int>> m;
  std::function<int(int)> lam = [&](int y) { return y + w.v; };
  int r = w.compute("abc", 1.5) + outer::inner::convert<int, double>(2.5, (int *)nullptr) + outer::inner::count_args(1, 'c', 2.0) +
          (int)anon_helper("x", 1) + free_function(m, cb_impl) + lam(3);
  outer::inner::Widget *p = outer::inner::Widget::make(&xs);
  w += *p;
  r += (w < *p);
  delete p;
  std::printf("compute %p\\n", (void *)&outer::inner::Widget::compute);
  std::printf("free_function %p\\n", (void *)&free_function);
  std::printf("anon_helper %p\\n", (void *)&anon_helper);
  std::printf("ready\\n");
  std::fflush(stdout);
  char buf[64];
  while (read(0, buf, sizeof buf) > 0) {}
  return r & 1;
}
`;

export interface Built {
  dir: string;
  lib: string;
  pie: string;
  nonPie: string;
  /** -g without unwind tables: has .debug_frame. */
  debugFrame: string;
  /** `pie` with .symtab stripped; its symbols live in `debugDir`. */
  stripped: string;
  debugDir: string;
  asmLib: string;
}

let built: Built | null = null;

/** Compiles the C and assembly fixtures once per test process. */
export function buildC(): Built {
  if (built) return built;
  const d = fixtureDir();
  writeFileSync(join(d, 'lib.c'), LIB_C);
  writeFileSync(join(d, 'prog.c'), PROG_C);
  writeFileSync(join(d, 'asm.s'), ASM_S);
  const lib = join(d, 'libfix.so');
  run('gcc', ['-O1', '-fPIC', '-shared', '-Wl,-Bsymbolic', '-Wl,--build-id=sha1', '-o', lib, join(d, 'lib.c')]);
  const common = [join(d, 'prog.c'), `-L${d}`, '-lfix', `-Wl,-rpath,${d}`, '-Wl,--build-id=sha1'];
  const pie = join(d, 'prog-pie');
  run('gcc', ['-O1', '-fPIE', '-pie', '-o', pie, ...common]);
  const nonPie = join(d, 'prog-nopie');
  run('gcc', ['-O1', '-fno-pie', '-no-pie', '-o', nonPie, ...common]);
  const debugFrame = join(d, 'prog-debugframe');
  run('gcc', ['-O1', '-g', '-fno-asynchronous-unwind-tables', '-fno-unwind-tables', '-fPIE', '-pie', '-o', debugFrame, ...common]);
  const asmLib = join(d, 'libasm.so');
  run('gcc', ['-shared', '-nostdlib', '-Wl,--build-id=sha1', '-o', asmLib, join(d, 'asm.s')]);
  // A stripped copy and its separate debug file under <debugDir>/.build-id/xx/yyyy.debug.
  const stripped = join(d, 'prog-stripped');
  run('strip', ['-o', stripped, pie]);
  const debugDir = join(d, 'debug');
  const id = buildIdOf(pie);
  execFileSync('mkdir', ['-p', join(debugDir, '.build-id', id.slice(0, 2))]);
  run('objcopy', ['--only-keep-debug', pie, join(debugDir, '.build-id', id.slice(0, 2), `${id.slice(2)}.debug`)]);
  built = { dir: d, lib, pie, nonPie, debugFrame, stripped, debugDir, asmLib };
  return built;
}

let cxx: string | null = null;

/** Compiles the C++ fixture once (null when g++ is missing). */
export function buildCxx(): string | null {
  if (cxx) return cxx;
  if (!hasTool('g++')) return null;
  const d = fixtureDir();
  writeFileSync(join(d, 'prog.cpp'), CXX_SRC);
  const out = join(d, 'prog-cxx');
  run('g++', ['-O1', '-std=c++17', '-Wno-pmf-conversions', '-fPIE', '-pie', '-Wl,--build-id=sha1', '-o', out, join(d, 'prog.cpp')]);
  cxx = out;
  return cxx;
}

export interface NmSymbol {
  name: string;
  value: bigint;
  size: bigint;
  type: string;
}

/**
 * Defined function symbols per `nm` (names, addresses, sizes), keeping those `readelf -s` types as
 * FUNC or IFUNC (nm's W/w letters also cover weak data and untyped labels).
 */
export function nmFunctions(file: string, dynamic = false): NmSymbol[] {
  const funcs = new Set<string>();
  for (const line of run('readelf', ['-sW', ...(dynamic ? ['--dyn-syms'] : []), file]).split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 8 && (f[3] === 'FUNC' || f[3] === 'IFUNC') && f[6] !== 'UND' && f[6] !== 'ABS') {
      funcs.add(`${BigInt('0x' + f[1]!)}:${f[7]!.replace(/@.*$/, '')}`);
    }
  }
  const out = run('nm', ['--defined-only', '-S', ...(dynamic ? ['-D'] : []), file]);
  const syms: NmSymbol[] = [];
  for (const line of out.split('\n')) {
    const f = line.trim().split(/\s+/);
    let value: string, size: string, type: string, name: string;
    if (f.length === 4) [value, size, type, name] = f as [string, string, string, string];
    else if (f.length === 3) {
      [value, type, name] = f as [string, string, string];
      size = '0';
    } else continue;
    if (!/^[TtWwi]$/.test(type)) continue;
    const sym = { name: name.replace(/@.*$/, ''), value: BigInt('0x' + value), size: BigInt('0x' + size), type };
    if (funcs.has(`${sym.value}:${sym.name}`)) syms.push(sym);
  }
  return syms;
}

/** GNU build-id per `readelf -n`. */
export function buildIdOf(file: string): string {
  const m = /Build ID: ([0-9a-f]+)/.exec(run('readelf', ['-n', file]));
  if (!m) throw new Error(`no build-id in ${file}`);
  return m[1]!;
}

export interface ReadelfSection {
  name: string;
  addr: bigint;
  offset: bigint;
  size: bigint;
}

export function readelfSections(file: string): ReadelfSection[] {
  const out: ReadelfSection[] = [];
  for (const line of run('readelf', ['-SW', file]).split('\n')) {
    const m = /^\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)/.exec(line);
    if (m) out.push({ name: m[1]!, addr: BigInt('0x' + m[2]!), offset: BigInt('0x' + m[3]!), size: BigInt('0x' + m[4]!) });
  }
  return out;
}

export interface ReadelfLoad {
  offset: bigint;
  vaddr: bigint;
  filesz: bigint;
  flags: string;
}

export function readelfLoads(file: string): ReadelfLoad[] {
  const out: ReadelfLoad[] = [];
  for (const line of run('readelf', ['-lW', file]).split('\n')) {
    const m = /^\s*LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+(.+?)\s+0x[0-9a-f]+$/.exec(line);
    if (m) out.push({ offset: BigInt('0x' + m[1]!), vaddr: BigInt('0x' + m[2]!), filesz: BigInt('0x' + m[3]!), flags: m[4]!.replace(/\s+/g, '') });
  }
  return out;
}

export interface Running {
  child: ChildProcess;
  pid: number;
  /** `name 0x...` lines the program printed before `ready`. */
  addrs: Map<string, bigint>;
  /** Closes stdin (the program then exits) and waits for the exit. */
  stop(): Promise<void>;
}

/** Starts a fixture program and waits until it has printed its addresses. */
export function startProgram(path: string): Promise<Running> {
  if (!existsSync(path)) throw new Error(`missing ${path}`);
  const child = spawn(path, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const addrs = new Map<string, bigint>();
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error(`${path} did not become ready`)), 20_000);
    child.on('error', reject);
    rl.on('line', (line) => {
      if (line === 'ready') {
        clearTimeout(timer);
        resolve({
          child,
          pid: child.pid!,
          addrs,
          stop: async () => {
            child.stdin!.end();
            await exited;
          },
        });
        return;
      }
      const m = /^(\S+) (0x[0-9a-f]+)$/.exec(line);
      if (m) addrs.set(m[1]!, BigInt(m[2]!));
    });
  });
}

/** c++filt's demangling of each name, in order (names are passed on stdin, one per line). */
export function cxxfilt(names: string[]): string[] {
  const out = execFileSync('c++filt', { input: names.join('\n') + '\n', encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  return out.split('\n').slice(0, names.length);
}
