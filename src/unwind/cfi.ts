// DWARF call frame information (.eh_frame and .debug_frame): CIEs, FDEs, and the table of rules
// their instructions describe (DWARF 5 section 6.4). For each address of a function the table
// says how to find the Canonical Frame Address (the caller's stack pointer before the call) and
// where each of the caller's registers, the return address among them, was saved.
import { ByteReader, CfiError, DW_EH_PE_absptr, DW_EH_PE_omit } from './reader.js';

export type RegRule =
  | { kind: 'undefined' }
  | { kind: 'same' }
  /** saved at CFA + n */
  | { kind: 'offset'; n: number }
  /** the value is CFA + n */
  | { kind: 'valOffset'; n: number }
  /** in another register */
  | { kind: 'register'; reg: number }
  /** saved at the address the expression computes (CFA pushed first) */
  | { kind: 'expression'; expr: Buffer }
  /** the value is what the expression computes (CFA pushed first) */
  | { kind: 'valExpression'; expr: Buffer };

export type CfaRule = { kind: 'reg'; reg: number; offset: number } | { kind: 'expression'; expr: Buffer };

export interface Cie {
  offset: number;
  version: number;
  augmentation: string;
  codeAlign: number;
  dataAlign: number;
  raReg: number;
  fdeEncoding: number;
  lsdaEncoding: number;
  /** 'S' augmentation: frames of this CIE are signal trampolines (their pc is not a return address). */
  signal: boolean;
  addressSize: number;
  initialInstructions: Buffer;
}

export interface Fde {
  offset: number;
  cie: Cie;
  pcBegin: number;
  /** Exclusive. */
  pcEnd: number;
  instructions: Buffer;
}

/** One row of the table: the rules in force for start <= pc < end. */
export interface Row {
  start: number;
  end: number;
  cfa: CfaRule;
  /** Registers with a rule; absent ones keep the CIE's default (on x86-64: same value). */
  regs: Map<number, RegRule>;
}

export type CfiFormat = 'eh_frame' | 'debug_frame';

/** A .eh_frame or .debug_frame section: its bytes and the address they are loaded at. */
export class CfiSection {
  private readonly cies = new Map<number, Cie>();

  constructor(
    readonly data: Buffer,
    /** sh_addr of the section (pc-relative pointers are relative to it). */
    readonly addr: number,
    readonly format: CfiFormat,
  ) {}

  /** The CIE at `offset` (cached). */
  cieAt(offset: number): Cie {
    let cie = this.cies.get(offset);
    if (!cie) {
      const e = this.entryAt(offset);
      if (!e || e.type !== 'cie') throw new CfiError(`no CIE at 0x${offset.toString(16)}`);
      cie = e.cie;
      this.cies.set(offset, cie);
    }
    return cie;
  }

  /** The FDE at `offset`; undefined when the entry there is a CIE or the terminator. */
  fdeAt(offset: number): Fde | undefined {
    const e = this.entryAt(offset);
    return e && e.type === 'fde' ? e.fde : undefined;
  }

  /** Every FDE of the section, in section order. Entries that do not parse are skipped. */
  *fdes(): Generator<Fde> {
    let off = 0;
    while (off + 4 <= this.data.length) {
      const len = this.data.readUInt32LE(off);
      if (len === 0) {
        // .eh_frame ends with a zero terminator; .debug_frame has none but may be padded.
        if (this.format === 'eh_frame') return;
        off += 4;
        continue;
      }
      const next = len === 0xffffffff ? off + 12 + Number(this.data.readBigUInt64LE(off + 4)) : off + 4 + len;
      if (next > this.data.length || next <= off) return;
      try {
        const e = this.entryAt(off);
        if (e?.type === 'fde') yield e.fde;
      } catch {
        // a malformed entry: skip it, keep the others
      }
      off = next;
    }
  }

  private entryAt(offset: number): { type: 'cie'; cie: Cie } | { type: 'fde'; fde: Fde } | undefined {
    const r = new ByteReader(this.data, offset, this.addr);
    let length = r.u32();
    if (length === 0) return undefined;
    let idSize = 4;
    if (length === 0xffffffff) {
      length = r.u64();
      idSize = 8;
    }
    const end = r.pos + length;
    if (end > this.data.length) throw new CfiError(`entry at 0x${offset.toString(16)} runs past the section`);
    const idPos = r.pos;
    const id = idSize === 4 ? r.u32() : r.u64();
    const isCie = this.format === 'eh_frame' ? id === 0 : idSize === 4 ? id === 0xffffffff : id === 2 ** 64 - 1 || Number.isNaN(id);
    if (isCie) return { type: 'cie', cie: this.parseCie(offset, r, end) };
    const cieOffset = this.format === 'eh_frame' ? idPos - id : id;
    const cie = this.cieAt(cieOffset);
    return { type: 'fde', fde: this.parseFde(offset, r, end, cie) };
  }

  private parseCie(offset: number, r: ByteReader, end: number): Cie {
    const version = r.u8();
    if (version !== 1 && version !== 3 && version !== 4) throw new CfiError(`CIE version ${version}`);
    const augmentation = r.cstring();
    let addressSize = 8;
    if (this.format === 'debug_frame' && version === 4) {
      addressSize = r.u8();
      r.u8(); // segment selector size
    }
    if (augmentation.includes('eh')) r.pos += 8;
    const codeAlign = r.uleb();
    const dataAlign = r.sleb();
    const raReg = version === 1 ? r.u8() : r.uleb();
    let fdeEncoding = DW_EH_PE_absptr;
    let lsdaEncoding = DW_EH_PE_omit;
    let signal = false;
    if (augmentation.startsWith('z')) {
      const augLen = r.uleb();
      const augEnd = r.pos + augLen;
      for (const c of augmentation.slice(1)) {
        if (c === 'R') fdeEncoding = r.u8();
        else if (c === 'L') lsdaEncoding = r.u8();
        else if (c === 'P') {
          const enc = r.u8();
          r.pointer(enc & 0x7f); // the personality routine: not needed to unwind
        } else if (c === 'S') signal = true;
        else if (c === 'B' || c === 'G') continue;
        else break; // unknown: the length lets us skip the rest
      }
      r.pos = augEnd;
    } else if (augmentation !== '' && augmentation !== 'eh') {
      throw new CfiError(`unknown CIE augmentation "${augmentation}"`);
    }
    return {
      offset,
      version,
      augmentation,
      codeAlign,
      dataAlign,
      raReg,
      fdeEncoding,
      lsdaEncoding,
      signal,
      addressSize,
      initialInstructions: this.data.subarray(r.pos, end),
    };
  }

  private parseFde(offset: number, r: ByteReader, end: number, cie: Cie): Fde {
    let pcBegin: number;
    let pcRange: number;
    if (this.format === 'eh_frame') {
      pcBegin = r.pointer(cie.fdeEncoding);
      pcRange = r.pointer(cie.fdeEncoding & 0x0f);
    } else {
      pcBegin = cie.addressSize === 4 ? r.u32() : r.u64();
      pcRange = cie.addressSize === 4 ? r.u32() : r.u64();
    }
    if (cie.augmentation.startsWith('z')) {
      const augLen = r.uleb();
      r.pos += augLen;
    }
    if (r.pos > end) throw new CfiError(`FDE at 0x${offset.toString(16)} is truncated`);
    return { offset, cie, pcBegin, pcEnd: pcBegin + pcRange, instructions: this.data.subarray(r.pos, end) };
  }
}

// DW_CFA_* opcodes
const DW_CFA_advance_loc = 0x40;
const DW_CFA_offset = 0x80;
const DW_CFA_restore = 0xc0;

/**
 * Executes the CIE's initial instructions and the FDE's instructions: the FDE's whole table,
 * rows in address order covering [pcBegin, pcEnd). `stopAt`: stop once a row covers that pc
 * (the rows after it are not needed).
 */
export function fdeRows(fde: Fde, stopAt?: number): Row[] {
  const cie = fde.cie;
  let cfa: CfaRule = { kind: 'reg', reg: 7, offset: 8 };
  let regs = new Map<number, RegRule>();
  const run = (code: Buffer, initial: boolean, rows: Row[], state: { loc: number }): void => {
    const r = new ByteReader(code);
    const stack: { cfa: CfaRule; regs: Map<number, RegRule> }[] = [];
    const initialRegs = initial ? null : cieRegs;
    const emit = (newLoc: number) => {
      if (!initial && newLoc > state.loc) {
        rows.push({ start: state.loc, end: newLoc, cfa, regs: new Map(regs) });
      }
      state.loc = newLoc;
    };
    while (r.remaining > 0) {
      if (!initial && stopAt !== undefined && state.loc > stopAt) return;
      const op = r.u8();
      const high = op & 0xc0;
      const low = op & 0x3f;
      if (high === DW_CFA_advance_loc) {
        emit(state.loc + low * cie.codeAlign);
        continue;
      }
      if (high === DW_CFA_offset) {
        regs.set(low, { kind: 'offset', n: r.uleb() * cie.dataAlign });
        continue;
      }
      if (high === DW_CFA_restore) {
        restore(low, initialRegs);
        continue;
      }
      switch (op) {
        case 0x00: // nop
          break;
        case 0x01: // set_loc
          emit(readSetLoc(r));
          break;
        case 0x02:
          emit(state.loc + r.u8() * cie.codeAlign);
          break;
        case 0x03:
          emit(state.loc + r.u16() * cie.codeAlign);
          break;
        case 0x04:
          emit(state.loc + r.u32() * cie.codeAlign);
          break;
        case 0x05: {
          const reg = r.uleb();
          regs.set(reg, { kind: 'offset', n: r.uleb() * cie.dataAlign });
          break;
        }
        case 0x06:
          restore(r.uleb(), initialRegs);
          break;
        case 0x07:
          regs.set(r.uleb(), { kind: 'undefined' });
          break;
        case 0x08:
          regs.set(r.uleb(), { kind: 'same' });
          break;
        case 0x09: {
          const reg = r.uleb();
          regs.set(reg, { kind: 'register', reg: r.uleb() });
          break;
        }
        case 0x0a: // remember_state
          stack.push({ cfa, regs: new Map(regs) });
          break;
        case 0x0b: {
          // restore_state
          const s = stack.pop();
          if (!s) throw new CfiError('DW_CFA_restore_state without remember_state');
          cfa = s.cfa;
          regs = s.regs;
          break;
        }
        case 0x0c: {
          const reg = r.uleb();
          cfa = { kind: 'reg', reg, offset: r.uleb() };
          break;
        }
        case 0x0d: {
          const reg = r.uleb();
          cfa = { kind: 'reg', reg, offset: cfa.kind === 'reg' ? cfa.offset : 0 };
          break;
        }
        case 0x0e: {
          const offset = r.uleb();
          cfa = { kind: 'reg', reg: cfa.kind === 'reg' ? cfa.reg : 7, offset };
          break;
        }
        case 0x0f:
          cfa = { kind: 'expression', expr: r.bytes(r.uleb()) };
          break;
        case 0x10: {
          const reg = r.uleb();
          regs.set(reg, { kind: 'expression', expr: r.bytes(r.uleb()) });
          break;
        }
        case 0x11: {
          const reg = r.uleb();
          regs.set(reg, { kind: 'offset', n: r.sleb() * cie.dataAlign });
          break;
        }
        case 0x12: {
          const reg = r.uleb();
          cfa = { kind: 'reg', reg, offset: r.sleb() * cie.dataAlign };
          break;
        }
        case 0x13: {
          const offset = r.sleb() * cie.dataAlign;
          cfa = { kind: 'reg', reg: cfa.kind === 'reg' ? cfa.reg : 7, offset };
          break;
        }
        case 0x14: {
          const reg = r.uleb();
          regs.set(reg, { kind: 'valOffset', n: r.uleb() * cie.dataAlign });
          break;
        }
        case 0x15: {
          const reg = r.uleb();
          regs.set(reg, { kind: 'valOffset', n: r.sleb() * cie.dataAlign });
          break;
        }
        case 0x16: {
          const reg = r.uleb();
          regs.set(reg, { kind: 'valExpression', expr: r.bytes(r.uleb()) });
          break;
        }
        case 0x2d: // GNU_window_save / AArch64 negate_ra_state: nothing to track on x86-64
          break;
        case 0x2e: // GNU_args_size
          r.uleb();
          break;
        case 0x2f: {
          const reg = r.uleb();
          regs.set(reg, { kind: 'offset', n: -r.uleb() * cie.dataAlign });
          break;
        }
        default:
          throw new CfiError(`unknown CFA instruction 0x${op.toString(16)}`);
      }
    }
  };
  // DW_CFA_set_loc: an address in the CIE's FDE pointer encoding (.eh_frame; compilers do not
  // emit it there) or of the CIE's address size (.debug_frame).
  const readSetLoc = (r: ByteReader): number => {
    if (fde.cie.augmentation.includes('R')) {
      if ((fde.cie.fdeEncoding & 0x70) !== 0) throw new CfiError('DW_CFA_set_loc with a relative encoding');
      return r.pointer(fde.cie.fdeEncoding);
    }
    return fde.cie.addressSize === 4 ? r.u32() : r.u64();
  };
  let cieRegs: Map<number, RegRule> = new Map();
  const restore = (reg: number, initial: Map<number, RegRule> | null) => {
    const rule = initial?.get(reg);
    if (rule) regs.set(reg, rule);
    else regs.delete(reg);
  };
  const rows: Row[] = [];
  run(cie.initialInstructions, true, rows, { loc: fde.pcBegin });
  cieRegs = new Map(regs);
  const state = { loc: fde.pcBegin };
  run(fde.instructions, false, rows, state);
  if (state.loc < fde.pcEnd && !(stopAt !== undefined && state.loc > stopAt)) {
    rows.push({ start: state.loc, end: fde.pcEnd, cfa, regs: new Map(regs) });
  }
  return rows;
}

/** The row of `rows` covering `pc`. */
export function rowFor(rows: readonly Row[], pc: number): Row | undefined {
  let lo = 0;
  let hi = rows.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const row = rows[mid]!;
    if (pc < row.start) hi = mid - 1;
    else if (pc >= row.end) lo = mid + 1;
    else return row;
  }
  return undefined;
}
