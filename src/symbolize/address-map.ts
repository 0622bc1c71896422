// A map keyed by code addresses (bigint), for the symbolizer's per-address caches. A profile
// looks every sampled frame up in one (hundreds of thousands of lookups, tens of thousands of
// distinct addresses), and a Map with BigInt keys spent ~250 ns a lookup once it held 100k+
// entries. Addresses below 2^53 (all of user space) are exact as doubles: they go in an
// open-addressing table over typed arrays; anything larger (the vsyscall page, kernel addresses,
// garbage from a broken unwind) goes in a plain Map.

const EMPTY = -1;
const DELETED = -2;
const SAFE_LIMIT = 2 ** 53;
const MIN_CAPACITY = 64;

export class AddressMap<V> {
  /** Keys as doubles (EMPTY, DELETED or an address), and their values, by slot. */
  private keys: Float64Array;
  private values: (V | undefined)[];
  private mask: number;
  /** Slots holding a key or a DELETED mark (what probing walks over). */
  private used = 0;
  private live = 0;
  private big: Map<bigint, V> | null = null;

  constructor(capacity = MIN_CAPACITY) {
    let cap = MIN_CAPACITY;
    while (cap < capacity * 2) cap *= 2;
    this.keys = new Float64Array(cap).fill(EMPTY);
    this.values = new Array<V | undefined>(cap).fill(undefined);
    this.mask = cap - 1;
  }

  /** Number of entries. */
  get size(): number {
    return this.live + (this.big ? this.big.size : 0);
  }

  /** The value for `addr` (values are never undefined). */
  get(addr: bigint): V | undefined {
    const x = Number(addr);
    if (!(x < SAFE_LIMIT) || x < 0) return this.big?.get(addr);
    const keys = this.keys;
    const mask = this.mask;
    for (let i = slotOf(x) & mask; ; i = (i + 1) & mask) {
      const k = keys[i]!;
      if (k === x) return this.values[i];
      if (k === EMPTY) return undefined;
    }
  }

  set(addr: bigint, value: V): this {
    const x = Number(addr);
    if (!(x < SAFE_LIMIT) || x < 0) {
      (this.big ??= new Map()).set(addr, value);
      return this;
    }
    const keys = this.keys;
    const mask = this.mask;
    let free = -1;
    for (let i = slotOf(x) & mask; ; i = (i + 1) & mask) {
      const k = keys[i]!;
      if (k === x) {
        this.values[i] = value;
        return this;
      }
      if (k === DELETED) {
        if (free < 0) free = i;
      } else if (k === EMPTY) {
        if (free < 0) {
          free = i;
          this.used++;
        }
        break;
      }
    }
    keys[free] = x;
    this.values[free] = value;
    this.live++;
    // At most half full (DELETED marks included), so probes stay short and always end.
    if (this.used * 2 > keys.length) this.rehash(this.live * 2 > keys.length / 2 ? keys.length * 2 : keys.length);
    return this;
  }

  delete(addr: bigint): boolean {
    const x = Number(addr);
    if (!(x < SAFE_LIMIT) || x < 0) return this.big?.delete(addr) ?? false;
    const keys = this.keys;
    const mask = this.mask;
    for (let i = slotOf(x) & mask; ; i = (i + 1) & mask) {
      const k = keys[i]!;
      if (k === x) {
        keys[i] = DELETED;
        this.values[i] = undefined;
        this.live--;
        return true;
      }
      if (k === EMPTY) return false;
    }
  }

  private rehash(capacity: number): void {
    const oldKeys = this.keys;
    const oldValues = this.values;
    this.keys = new Float64Array(capacity).fill(EMPTY);
    this.values = new Array<V | undefined>(capacity).fill(undefined);
    this.mask = capacity - 1;
    this.used = this.live;
    const keys = this.keys;
    const mask = this.mask;
    for (let j = 0; j < oldKeys.length; j++) {
      const x = oldKeys[j]!;
      if (x < 0) continue;
      let i = slotOf(x) & mask;
      while (keys[i] !== EMPTY) i = (i + 1) & mask;
      keys[i] = x;
      this.values[i] = oldValues[j];
    }
  }
}

/** A well-mixed 32-bit hash of an integral double below 2^53 (both halves matter: code is spread over megabytes). */
function slotOf(x: number): number {
  const lo = x >>> 0;
  const hi = (x / 4294967296) >>> 0;
  let h = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}
