/**
 * A map from non-negative integer keys (< 2^53) to values, for long-lived maps
 * whose entries come and go on hot paths (the split HugeTLB pages, the
 * subpool of each in-use HugeTLB folio, a radix tree's top level).
 *
 * Why not Map: V8's Map is an ordered hash table that appends every insert
 * and leaves a hole for every delete. Once the table is tenured, each refill
 * (every few inserts when the map holds a handful of entries) and each shrink
 * (when it empties) allocates a replacement in the old generation. A map that
 * goes 0 -> 1 -> 0 entries per guest_memfd conversion cost ~300 ns a
 * round trip that way, plus the major collections its garbage brought on.
 *
 * Layout: open addressing with linear probing in a power-of-two table.
 *
 *   keys  Float64Array(cap)   the key, or -1 for an empty slot
 *   vals  (V | undefined)[]   the value of the key in the same slot
 *
 * Deletion shifts the following probe run back (no tombstones), so a
 * delete-then-insert cycle allocates nothing; the table only grows (at a load
 * of 1/2) and never shrinks except on clear(). Iteration is in slot order:
 * deterministic for a given history, not insertion order, and over a
 * snapshot, so the map may change while it is walked.
 */

const EMPTY = -1;
const MIN_BITS = 3;

export class IntMap<V> {
  // Set by clear(), which the constructor calls.
  private keysArr!: Float64Array;
  private vals!: (V | undefined)[];
  private bits!: number;
  private n!: number;

  constructor() {
    this.clear();
  }

  get size(): number {
    return this.n;
  }

  /** The home slot of key: Fibonacci hashing of both 32-bit halves. */
  private home(key: number): number {
    const lo = key | 0;
    const hi = (key / 4294967296) | 0;
    return Math.imul(lo ^ Math.imul(hi, 0x85ebca6b), 0x9e3779b1) >>> (32 - this.bits);
  }

  /** The slot holding key, or -1. */
  private find(key: number): number {
    const keys = this.keysArr;
    const mask = keys.length - 1;
    for (let i = this.home(key); ; i = (i + 1) & mask) {
      const k = keys[i]!;
      if (k === EMPTY) return -1;
      if (k === key) return i;
    }
  }

  get(key: number): V | undefined {
    const i = this.find(key);
    return i < 0 ? undefined : this.vals[i];
  }

  has(key: number): boolean {
    return this.find(key) >= 0;
  }

  set(key: number, value: V): this {
    if (!(Number.isSafeInteger(key) && key >= 0)) throw new RangeError(`IntMap: key ${key} is not a non-negative safe integer`);
    const keys = this.keysArr;
    const mask = keys.length - 1;
    let i = this.home(key);
    for (;;) {
      const k = keys[i]!;
      if (k === key) {
        this.vals[i] = value;
        return this;
      }
      if (k === EMPTY) break;
      i = (i + 1) & mask;
    }
    keys[i] = key;
    this.vals[i] = value;
    if (++this.n * 2 > keys.length) this.rehash(this.bits + 1);
    return this;
  }

  delete(key: number): boolean {
    let i = this.find(key);
    if (i < 0) return false;
    const keys = this.keysArr;
    const vals = this.vals;
    const mask = keys.length - 1;
    // Backward shift: move each later entry of the probe run into the hole if its home allows.
    for (let j = (i + 1) & mask; keys[j] !== EMPTY; j = (j + 1) & mask) {
      const h = this.home(keys[j]!);
      // The entry at j may fill the hole at i unless its home lies cyclically in (i, j].
      if (i <= j ? h <= i || h > j : h <= i && h > j) {
        keys[i] = keys[j]!;
        vals[i] = vals[j];
        i = j;
      }
    }
    keys[i] = EMPTY;
    vals[i] = undefined;
    this.n--;
    return true;
  }

  clear(): void {
    this.n = 0;
    this.bits = MIN_BITS;
    this.keysArr = new Float64Array(1 << MIN_BITS).fill(EMPTY);
    this.vals = new Array<V | undefined>(1 << MIN_BITS).fill(undefined);
  }

  private rehash(bits: number): void {
    const oldKeys = this.keysArr;
    const oldVals = this.vals;
    this.bits = bits;
    this.keysArr = new Float64Array(1 << bits).fill(EMPTY);
    this.vals = new Array<V | undefined>(1 << bits).fill(undefined);
    const keys = this.keysArr;
    const mask = keys.length - 1;
    for (let j = 0; j < oldKeys.length; j++) {
      const k = oldKeys[j]!;
      if (k === EMPTY) continue;
      let i = this.home(k);
      while (keys[i] !== EMPTY) i = (i + 1) & mask;
      keys[i] = k;
      this.vals[i] = oldVals[j];
    }
  }

  /** The keys, in slot order (a snapshot). */
  keys(): number[] {
    const out: number[] = [];
    const keys = this.keysArr;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== EMPTY) out.push(keys[i]!);
    return out;
  }

  /** The values, in slot order (a snapshot). */
  values(): V[] {
    const out: V[] = [];
    const keys = this.keysArr;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== EMPTY) out.push(this.vals[i] as V);
    return out;
  }

  /** [key, value] pairs, in slot order (a snapshot). */
  entries(): [number, V][] {
    const out: [number, V][] = [];
    const keys = this.keysArr;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== EMPTY) out.push([keys[i]!, this.vals[i] as V]);
    return out;
  }

  [Symbol.iterator](): IterableIterator<[number, V]> {
    return this.entries()[Symbol.iterator]();
  }
}
