// The CFI parser against GNU readelf's own interpretation of the same tables
// (`readelf --debug-dump=frames-interp`): every row of every FDE of libc, of a program built here
// without frame pointers, and of a .debug_frame.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ElfFile } from '../../src/symbolize/elf.js';
import { CfiSection, fdeRows, rowFor, type Row, type RegRule } from '../../src/unwind/cfi.js';
import { CfiTable } from '../../src/unwind/table.js';
import { readelfFrames, type ReadelfFde } from './readelf.js';
import { buildWorkload } from '../helpers.js';

const REG_NAMES = ['rax', 'rdx', 'rcx', 'rbx', 'rsi', 'rdi', 'rbp', 'rsp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'ra'];

function regName(n: number): string {
  return REG_NAMES[n] ?? `r${n}`;
}

function cfaCell(row: Row): string {
  if (row.cfa.kind === 'expression') return 'exp';
  const o = row.cfa.offset;
  return `${regName(row.cfa.reg)}${o >= 0 ? '+' : ''}${o}`;
}

function ruleCell(r: RegRule | undefined): string {
  if (!r) return 'u';
  switch (r.kind) {
    case 'undefined':
      return 'u';
    case 'same':
      return 's';
    case 'offset':
      return `c${r.n >= 0 ? '+' : ''}${r.n}`;
    case 'valOffset':
      return `v${r.n >= 0 ? '+' : ''}${r.n}`;
    case 'register':
      return `r${r.reg}`; // readelf: `r1 (rdx)`, the name dropped by the parser
    case 'expression':
      return 'exp';
    case 'valExpression':
      return 'vexp';
  }
}

/** Compares our rows with readelf's for one FDE; returns a description of the first difference. */
function compare(ours: Row[], theirs: ReadelfFde): string | undefined {
  const cellsOf = (row: Row): Record<string, string> => {
    const c: Record<string, string> = { CFA: cfaCell(row) };
    for (const col of theirs.columns) {
      if (col === 'CFA') continue;
      const n = REG_NAMES.indexOf(col);
      c[col] = ruleCell(n >= 0 ? row.regs.get(n) : undefined);
    }
    return c;
  };
  for (const r of theirs.rows) {
    const mine = rowFor(ours, r.loc);
    if (!mine) return `no row at 0x${r.loc.toString(16)}`;
    const c = cellsOf(mine);
    for (const col of theirs.columns) {
      if (c[col] !== r.cells[col]) return `0x${r.loc.toString(16)} ${col}: ours ${c[col]}, readelf ${r.cells[col]}`;
    }
  }
  // And every row of ours starts where readelf's table says the same.
  for (const row of ours) {
    let last: ReadelfFde['rows'][number] | undefined;
    for (const r of theirs.rows) if (r.loc <= row.start) last = r;
    if (!last) return `our row at 0x${row.start.toString(16)} precedes readelf's table`;
    const c = cellsOf(row);
    for (const col of theirs.columns) {
      if (c[col] !== last.cells[col]) return `our row at 0x${row.start.toString(16)} ${col}: ${c[col]} vs ${last.cells[col]}`;
    }
  }
  return undefined;
}

function checkAgainstReadelf(path: string, section: 'eh' | 'debug'): { fdes: number; rows: number } {
  const elf = ElfFile.open(path);
  try {
    const name = section === 'eh' ? '.eh_frame' : '.debug_frame';
    const sh = elf.section(name)!;
    const data = elf.sectionContents(name)!;
    const cfi = new CfiSection(data, section === 'eh' ? Number(sh.addr) : 0, section === 'eh' ? 'eh_frame' : 'debug_frame');
    const ours = new Map<number, Row[]>();
    for (const fde of cfi.fdes()) ours.set(fde.pcBegin, fdeRows(fde));
    const theirs = readelfFrames(path, section);
    assert.ok(theirs.length > 0, `readelf lists FDEs in ${path}`);
    let rows = 0;
    for (const t of theirs) {
      const mine = ours.get(t.pcBegin);
      assert.ok(mine, `${path}: FDE at 0x${t.pcBegin.toString(16)} parsed`);
      if (t.rows.length === 0) continue; // readelf prints no table for an FDE without instructions past the CIE's
      const diff = compare(mine, t);
      assert.equal(diff, undefined, `${path} FDE 0x${t.pcBegin.toString(16)}..0x${t.pcEnd.toString(16)}: ${diff}`);
      rows += t.rows.length;
    }
    assert.equal(ours.size, new Set(theirs.map((t) => t.pcBegin)).size, 'as many FDEs as readelf');
    return { fdes: theirs.length, rows };
  } finally {
    elf.close();
  }
}

function libcPath(): string {
  const maps = readFileSync('/proc/self/maps', 'utf8');
  const m = /\s(\/\S*libc\.so\.6)$/m.exec(maps);
  assert.ok(m, 'node maps libc');
  return m[1]!;
}

test('every row of every FDE in libc .eh_frame matches readelf', (t) => {
  const r = checkAgainstReadelf(libcPath(), 'eh');
  t.diagnostic(`libc: ${r.fdes} FDEs, ${r.rows} rows compared`);
  assert.ok(r.fdes > 1000);
});

test('a -O2 -fomit-frame-pointer program and its .debug_frame match readelf', (t) => {
  const bin = buildWorkload('unwind-burner', ['-O2', '-fomit-frame-pointer', '-g']);
  const eh = checkAgainstReadelf(bin, 'eh');
  t.diagnostic(`.eh_frame: ${eh.fdes} FDEs`);
  // -fno-asynchronous-unwind-tables -g: gcc writes .debug_frame instead of .eh_frame
  const dbg = buildWorkload('unwind-burner', ['-O2', '-fomit-frame-pointer', '-g', '-fno-asynchronous-unwind-tables', '-fno-exceptions']);
  const elf = ElfFile.open(dbg);
  const hasDebug = elf.hasDebugFrame;
  elf.close();
  assert.ok(hasDebug, 'gcc wrote .debug_frame');
  const d = checkAgainstReadelf(dbg, 'debug');
  t.diagnostic(`.debug_frame: ${d.fdes} FDEs`);
});

test('CfiTable finds each function\'s FDE through .eh_frame_hdr, and .debug_frame where .eh_frame has none', () => {
  const path = libcPath();
  const elf = ElfFile.open(path);
  const table = new CfiTable(elf);
  const theirs = readelfFrames(path, 'eh');
  let checked = 0;
  for (const f of theirs.filter((_, i) => i % 7 === 0)) {
    for (const pc of [f.pcBegin, f.pcEnd - 1]) {
      const m = table.lookup(pc);
      assert.ok(m, `FDE for 0x${pc.toString(16)}`);
      assert.ok(m.fde.pcBegin <= pc && pc < m.fde.pcEnd);
      checked++;
    }
  }
  assert.ok(checked > 100);
  assert.equal(table.lookup(0), undefined, 'nothing covers address 0');
  elf.close();

  const dbg = buildWorkload('unwind-burner', ['-O2', '-g', '-fno-asynchronous-unwind-tables', '-fno-exceptions']);
  const delf = ElfFile.open(dbg);
  const dt = new CfiTable(delf);
  const main = delf.functionSymbols().find((s) => s.name === 'main')!;
  const m = dt.lookup(Number(main.value));
  assert.ok(m, 'main found');
  assert.equal(m.source, 'debug_frame');
  delf.close();
});

test('a hand-written .eh_frame: CIE augmentations, DW_CFA_remember/restore_state, expressions', () => {
  // Assemble a function whose CFI uses the less common instructions, then compare with readelf.
  const dir = mkdtempSync(join(tmpdir(), 'cfi-'));
  const src = join(dir, 'cfi.s');
  writeFileSync(
    src,
    `
	.text
	.globl f
	.type f, @function
f:
	.cfi_startproc
	pushq %rbp
	.cfi_def_cfa_offset 16
	.cfi_offset %rbp, -16
	movq %rsp, %rbp
	.cfi_def_cfa_register %rbp
	pushq %rbx
	.cfi_offset %rbx, -24
	.cfi_remember_state
	popq %rbx
	.cfi_restore %rbx
	leave
	.cfi_def_cfa %rsp, 8
	ret
	.cfi_restore_state
	.cfi_escape 0x10, 0x0c, 0x02, 0x76, 0x78
	.cfi_val_offset %r13, -48
	.cfi_register %r14, %r15
	.cfi_undefined %r10
	.cfi_same_value %r11
	nop
	.cfi_escape 0x0f, 0x03, 0x77, 0x08, 0x06
	nop
	ret
	.cfi_endproc
	.size f, .-f
	.globl main
	.type main, @function
main:
	.cfi_startproc
	.cfi_signal_frame
	nop
	ret
	.cfi_endproc
`,
  );
  const bin = join(dir, 'cfi');
  execFileSync('gcc', ['-nostdlib', '-static', '-Wl,-e,main', '-o', bin, src]);
  const r = checkAgainstReadelf(bin, 'eh');
  assert.equal(r.fdes, 2);
  const elf = ElfFile.open(bin);
  const table = new CfiTable(elf);
  const main = elf.functionSymbols().find((s) => s.name === 'main')!;
  assert.equal(table.lookup(Number(main.value))?.fde.cie.signal, true, 'the S augmentation marks signal frames');
  elf.close();
});
