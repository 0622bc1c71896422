// DWARF expressions as call frame information uses them (DW_CFA_def_cfa_expression,
// DW_CFA_expression, DW_CFA_val_expression): a stack machine over 64-bit values whose inputs
// are registers and memory. The PLT's CFA and the signal trampoline's saved registers are
// written this way. Memory reads go to the copied stack only: anything else is unknown.
import { ByteReader, CfiError } from './reader.js';

const MASK = (1n << 64n) - 1n;
const SIGN = 1n << 63n;
const MAX_STEPS = 1000;

export interface ExprContext {
  /** Value of DWARF register `n`, undefined when unknown. */
  reg(n: number): bigint | undefined;
  /** `size` bytes at `addr` as an unsigned integer, undefined when not readable. */
  read(addr: bigint, size: number): bigint | undefined;
}

/** Why an expression produced no value. */
export class ExprUnknown extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExprUnknown';
  }
}

const signed = (v: bigint): bigint => (v & SIGN ? v - (1n << 64n) : v);

/** Evaluates `expr` with `initial` pushed first; the result is the top of the stack. */
export function evaluate(expr: Buffer, ctx: ExprContext, initial: bigint[] = []): bigint {
  const r = new ByteReader(expr);
  const st: bigint[] = [...initial];
  const pop = (): bigint => {
    const v = st.pop();
    if (v === undefined) throw new CfiError('DWARF expression stack underflow');
    return v;
  };
  const push = (v: bigint) => st.push(v & MASK);
  const reg = (n: number): bigint => {
    const v = ctx.reg(n);
    if (v === undefined) throw new ExprUnknown(`register ${n} unknown`);
    return v;
  };
  const read = (addr: bigint, size: number): bigint => {
    const v = ctx.read(addr, size);
    if (v === undefined) throw new ExprUnknown(`memory at 0x${addr.toString(16)} not available`);
    return v;
  };
  for (let steps = 0; r.remaining > 0; steps++) {
    if (steps > MAX_STEPS) throw new CfiError('DWARF expression does not end');
    const op = r.u8();
    if (op >= 0x30 && op <= 0x4f) {
      push(BigInt(op - 0x30)); // lit0..lit31
      continue;
    }
    if (op >= 0x50 && op <= 0x6f) {
      push(reg(op - 0x50)); // reg0..reg31: the register's value (location descriptions)
      continue;
    }
    if (op >= 0x70 && op <= 0x8f) {
      push(reg(op - 0x70) + BigInt(r.sleb())); // breg0..breg31
      continue;
    }
    switch (op) {
      case 0x03: // addr
        push(r.u64Big());
        break;
      case 0x06: // deref
        push(read(pop(), 8));
        break;
      case 0x08:
        push(BigInt(r.u8()));
        break;
      case 0x09:
        push(BigInt(r.s8()));
        break;
      case 0x0a:
        push(BigInt(r.u16()));
        break;
      case 0x0b:
        push(BigInt(r.s16()));
        break;
      case 0x0c:
        push(BigInt(r.u32()));
        break;
      case 0x0d:
        push(BigInt(r.s32()));
        break;
      case 0x0e:
      case 0x0f:
        push(r.u64Big());
        break;
      case 0x10:
        push(BigInt(r.uleb()));
        break;
      case 0x11:
        push(BigInt(r.sleb()));
        break;
      case 0x12: {
        const v = pop();
        push(v);
        push(v);
        break;
      }
      case 0x13:
        pop();
        break;
      case 0x14: {
        const b = pop();
        const a = pop();
        push(a);
        push(b);
        push(a);
        break;
      }
      case 0x15: {
        const i = r.u8();
        const v = st[st.length - 1 - i];
        if (v === undefined) throw new CfiError('DW_OP_pick out of range');
        push(v);
        break;
      }
      case 0x16: {
        const b = pop();
        const a = pop();
        push(b);
        push(a);
        break;
      }
      case 0x17: {
        const c = pop();
        const b = pop();
        const a = pop();
        push(c);
        push(a);
        push(b);
        break;
      }
      case 0x19: {
        const v = signed(pop());
        push(v < 0n ? -v : v);
        break;
      }
      case 0x1a: {
        const b = pop();
        push(pop() & b);
        break;
      }
      case 0x1b: {
        const b = signed(pop());
        const a = signed(pop());
        if (b === 0n) throw new CfiError('DW_OP_div by zero');
        push(a / b);
        break;
      }
      case 0x1c: {
        const b = pop();
        push(pop() - b);
        break;
      }
      case 0x1d: {
        const b = pop();
        const a = pop();
        if (b === 0n) throw new CfiError('DW_OP_mod by zero');
        push(a % b);
        break;
      }
      case 0x1e: {
        const b = pop();
        push(pop() * b);
        break;
      }
      case 0x1f:
        push(-pop());
        break;
      case 0x20:
        push(~pop());
        break;
      case 0x21: {
        const b = pop();
        push(pop() | b);
        break;
      }
      case 0x22: {
        const b = pop();
        push(pop() + b);
        break;
      }
      case 0x23:
        push(pop() + BigInt(r.uleb()));
        break;
      case 0x24: {
        const b = pop();
        const a = pop();
        push(b >= 64n ? 0n : a << b);
        break;
      }
      case 0x25: {
        const b = pop();
        const a = pop();
        push(b >= 64n ? 0n : a >> b);
        break;
      }
      case 0x26: {
        const b = pop();
        const a = signed(pop());
        push(a >> (b >= 64n ? 63n : b));
        break;
      }
      case 0x27: {
        const b = pop();
        push(pop() ^ b);
        break;
      }
      case 0x28: {
        // bra
        const off = r.s16();
        if (pop() !== 0n) r.pos += off;
        break;
      }
      case 0x29:
      case 0x2a:
      case 0x2b:
      case 0x2c:
      case 0x2d:
      case 0x2e: {
        const b = signed(pop());
        const a = signed(pop());
        const res = op === 0x29 ? a === b : op === 0x2a ? a >= b : op === 0x2b ? a > b : op === 0x2c ? a <= b : op === 0x2d ? a < b : a !== b;
        push(res ? 1n : 0n);
        break;
      }
      case 0x2f: {
        // skip
        const off = r.s16();
        r.pos += off;
        break;
      }
      case 0x90: // regx
        push(reg(r.uleb()));
        break;
      case 0x92: {
        // bregx
        const n = r.uleb();
        push(reg(n) + BigInt(r.sleb()));
        break;
      }
      case 0x94: {
        // deref_size
        const size = r.u8();
        if (size < 1 || size > 8) throw new CfiError(`DW_OP_deref_size ${size}`);
        push(read(pop(), size));
        break;
      }
      case 0x96: // nop
        break;
      default:
        throw new CfiError(`unsupported DWARF expression op 0x${op.toString(16)}`);
    }
    if (r.pos < 0 || r.pos > expr.length) throw new CfiError('DWARF expression branch out of range');
  }
  const top = st.pop();
  if (top === undefined) throw new CfiError('DWARF expression left nothing');
  return top;
}
