/**
 * A sparse map from non-negative integer keys (< 2^53) to int32 values, with
 * multi-order entries: one store covers an aligned run of 2^order keys.
 *
 * It plays the role of both the kernel's memmap (pfn -> struct page -> folio)
 * and the page-cache xarray (index -> folio). Like the xarray it stores a large
 * folio once at the level whose span matches its order, so a 1 GiB folio costs
 * one slot and a 2 MiB folio costs one slot, whatever the key space.
 *
 * Layout (9 bits per level, like a 4-level page table):
 *
 *   top: IntMap<key >> 27, Upper>  (an IntMap: a V8 Map emptied and refilled per call allocates)
 *   Upper.vals[i]  covers 2^18 keys   (value stored here for order >= 18)
 *   Upper.kids[i]  -> Middle
 *   Middle.vals[j] covers 2^9 keys    (value stored here for 9 <= order < 18)
 *   Middle.kids[j] -> Int32Array(512) leaf, one slot per key (order < 9)
 *
 * Values are stored +1 so that 0 means "empty"; callers store values >= 0.
 * Entries that touch must hold different values (a folio slot, a pfn):
 * iteration tells a small multi-order entry by its run of equal slots.
 * An entry of order o occupies every slot it spans at the level below 2^9 / 2^18
 * granularity, so lookups never search: each is at most three array reads.
 */

import { IntMap } from './int_map.js';
import { modPow2, pow2 } from './pow2.js';

const FANOUT = 512;
const L0_SHIFT = 9;
const L1_SHIFT = 18;
const TOP_SPAN = 2 ** 27;

interface Middle {
  vals: Int32Array;
  kids: (Int32Array | undefined)[];
  used: number; // slots in use: vals set or kid present
}

interface Upper {
  vals: Int32Array;
  kids: (Middle | undefined)[];
  used: number;
}

/**
 * Nodes that emptied, kept for reuse (every slot zero, every kid absent): a
 * page-cache entry added and removed in an otherwise empty 1 GiB range makes
 * and frees a leaf and a middle node each time, and their typed arrays were
 * the garbage collector's main work. Shared by all trees, bounded.
 */
const NODE_POOL_MAX = 64;
const leafPool: Int32Array[] = [];
const middlePool: Middle[] = [];
const upperPool: Upper[] = [];

/** Callback for iteration: the first key of the entry, its order and value. */
export type RadixVisitor = (key: number, order: number, value: number) => boolean | void;

export class SparseRadix {
  private readonly top = new IntMap<Upper>();
  /** The keys of top in ascending order (kept on insert and delete, both rare), for ordered walks. */
  private readonly topKeys: number[] = [];
  /**
   * Walks in progress. A node emptied during a walk stays out of the pool: the
   * walk may still read it (as zeros), and a reused node would show it another
   * part of the tree.
   */
  private walking = 0;
  /** Number of stored entries (a multi-order entry counts once per slot it fills). */
  private slots = 0;

  get size(): number {
    return this.slots;
  }

  /** One-leaf cache: the leaf array of the last 512-key block touched (a hot-path shortcut). */
  private cacheBlock = -1;
  private cacheLeaf: Int32Array | null = null;

  /** Value stored at key, or -1 if none. */
  get(key: number): number {
    if (this.cacheLeaf !== null && Math.floor(key / FANOUT) === this.cacheBlock) return this.cacheLeaf[modPow2(key, FANOUT)]! - 1;
    return this.lookup(key);
  }

  private lookup(key: number): number {
    const hi = Math.floor(key / TOP_SPAN);
    const up = this.top.get(hi);
    if (up === undefined) return -1;
    const lo = key - hi * TOP_SPAN;
    const i = lo >>> L1_SHIFT;
    const v1 = up.vals[i]!;
    if (v1 !== 0) return v1 - 1;
    const mid = up.kids[i];
    if (mid === undefined) return -1;
    const j = (lo >>> L0_SHIFT) & (FANOUT - 1);
    const v2 = mid.vals[j]!;
    if (v2 !== 0) return v2 - 1;
    const leaf = mid.kids[j];
    if (leaf === undefined) return -1;
    // Remember the leaf: the next lookups are likely in the same 512 keys.
    this.cacheBlock = Math.floor(key / FANOUT);
    this.cacheLeaf = leaf;
    return leaf[lo & (FANOUT - 1)]! - 1;
  }

  /**
   * Store value for the aligned run [key, key + 2^order). The run must be empty;
   * storing over an existing entry is a caller bug and throws.
   */
  set(key: number, order: number, value: number): void {
    this.store(key, order, value + 1);
  }

  /**
   * out[k] = get(key + k) for k < n, a leaf at a time where keys sit in leaves
   * (the pieces of a split 1 GiB page: 262,144 lookups).
   */
  getRun(key: number, n: number, out: Int32Array): void {
    for (let done = 0; done < n; ) {
      const k0 = key + done;
      const first = modPow2(k0, FANOUT);
      const cnt = Math.min(FANOUT - first, n - done);
      // One lookup finds the leaf (and caches it); a key not in a leaf is read alone.
      this.get(k0);
      const leaf = this.cacheLeaf;
      if (leaf !== null && Math.floor(k0 / FANOUT) === this.cacheBlock) {
        for (let k = 0; k < cnt; k++) out[done + k] = leaf[first + k]! - 1;
      } else for (let k = 0; k < cnt; k++) out[done + k] = this.get(k0 + k);
      done += cnt;
    }
  }

  /**
   * Store n order-0 entries: values[k] at key + k (what n set(key + k, 0,
   * values[k]) calls store, a leaf at a time). Every key must be empty.
   */
  setRun(key: number, values: ArrayLike<number>, n: number): void {
    this.storeRun(key, values, n, true);
  }

  /** Remove the n order-0 entries at key .. key + n - 1 (each must be there). */
  deleteRun(key: number, n: number): void {
    this.storeRun(key, null, n, false);
  }

  private storeRun(key: number, values: ArrayLike<number> | null, n: number, add: boolean): void {
    for (let done = 0; done < n; ) {
      const k0 = key + done;
      const mid = this.middle(k0, add);
      if (mid === undefined) throw new RangeError(`radix: delete of absent key ${k0}`);
      const j = (k0 >>> L0_SHIFT) & (FANOUT - 1);
      let leaf = mid.kids[j];
      if (leaf === undefined) {
        if (!add) throw new RangeError(`radix: delete of absent key ${k0}`);
        if (mid.vals[j] !== 0) throw new RangeError(`radix: key ${k0} inside a larger entry`);
        leaf = leafPool.pop() ?? new Int32Array(FANOUT + 1);
        mid.kids[j] = leaf;
        mid.used++;
      }
      const first = k0 & (FANOUT - 1);
      const last = Math.min(FANOUT, first + (n - done));
      // Check the whole span first, so that a caller bug changes nothing in this leaf.
      let bad = -1;
      for (let k = first; k < last; k++) {
        if ((leaf[k] !== 0) === add) {
          bad = k;
          break;
        }
      }
      if (bad >= 0) this.checkTransition(add, add ? 1 : 0, k0 + bad - first);
      if (values !== null) for (let k = first, v = done; k < last; k++, v++) leaf[k] = values[v]! + 1;
      else leaf.fill(0, first, last);
      const cnt = last - first;
      leaf[FANOUT] = leaf[FANOUT]! + (add ? cnt : -cnt);
      this.slots += add ? cnt : -cnt;
      done += cnt;
      if (leaf[FANOUT] === 0) this.releaseLeaf(mid, j, leaf);
    }
  }

  /** The leaf at slot j of mid (the cursor's middle node) emptied: free it (to the pool unless a walk may read it), and mid if that empties. */
  private releaseLeaf(mid: Middle, j: number, leaf: Int32Array): void {
    if (this.cacheLeaf === leaf) {
      this.cacheLeaf = null;
      this.cacheBlock = -1;
    }
    mid.kids[j] = undefined;
    if (this.walking === 0 && leafPool.length < NODE_POOL_MAX) leafPool.push(leaf);
    mid.used--;
    if (mid.used === 0) this.releaseMiddle(this.curUp!, this.curHi, this.curI);
  }

  /** Remove the entry of the given order at key (the exact run that was set). */
  delete(key: number, order: number): void {
    this.store(key, order, 0);
  }

  private store(key: number, order: number, enc: number): void {
    const n = pow2(order);
    if (modPow2(key, n) !== 0) throw new RangeError(`radix: key ${key} not aligned to order ${order}`);
    if (order >= L1_SHIFT) {
      const step = 2 ** L1_SHIFT;
      for (let k = key; k < key + n; k += step) this.storeUpper(k, enc);
    } else if (order >= L0_SHIFT) {
      const step = 2 ** L0_SHIFT;
      for (let k = key; k < key + n; k += step) this.storeMiddle(k, enc);
    } else {
      for (let k = key; k < key + n; k++) this.storeLeaf(k, enc);
    }
  }

  private upper(hi: number, create: boolean): Upper | undefined {
    let up = this.top.get(hi);
    if (up === undefined && create) {
      up = upperPool.pop() ?? { vals: new Int32Array(FANOUT), kids: new Array(FANOUT), used: 0 };
      this.top.set(hi, up);
      // Insert in order by shifting (splice costs more on these few-element arrays).
      const keys = this.topKeys;
      let at = keys.length;
      keys.push(hi);
      for (; at > 0 && keys[at - 1]! > hi; at--) keys[at] = keys[at - 1]!;
      keys[at] = hi;
    }
    return up;
  }

  private storeUpper(key: number, enc: number): void {
    const hi = Math.floor(key / TOP_SPAN);
    const up = this.upper(hi, enc !== 0);
    if (up === undefined) throw new RangeError(`radix: delete of absent key ${key}`);
    const i = (key - hi * TOP_SPAN) >>> L1_SHIFT;
    this.checkTransition(up.vals[i]! !== 0 || up.kids[i] !== undefined, enc, key);
    up.vals[i] = enc;
    this.account(enc);
    up.used += enc !== 0 ? 1 : -1;
    if (up.used === 0) this.dropUpper(hi, up);
  }

  private dropUpper(hi: number, up: Upper): void {
    this.top.delete(hi);
    const keys = this.topKeys;
    for (let at = keys.indexOf(hi); at < keys.length - 1; at++) keys[at] = keys[at + 1]!;
    keys.pop();
    if (this.walking === 0 && upperPool.length < NODE_POOL_MAX) upperPool.push(up);
  }

  /** Where the last middle() found its node: its upper node, top key and slot there (a cursor, not an object per call). */
  private curUp: Upper | null = null;
  private curHi = 0;
  private curI = 0;

  /** The middle node holding key (made if create), with the cursor set to it; undefined if absent. */
  private middle(key: number, create: boolean): Middle | undefined {
    const hi = Math.floor(key / TOP_SPAN);
    const up = this.upper(hi, create);
    if (up === undefined) return undefined;
    const i = (key - hi * TOP_SPAN) >>> L1_SHIFT;
    let mid = up.kids[i];
    if (mid === undefined) {
      if (!create) return undefined;
      if (up.vals[i] !== 0) throw new RangeError(`radix: key ${key} inside a larger entry`);
      mid = middlePool.pop() ?? { vals: new Int32Array(FANOUT), kids: new Array(FANOUT), used: 0 };
      up.kids[i] = mid;
      up.used++;
    }
    this.curUp = up;
    this.curHi = hi;
    this.curI = i;
    return mid;
  }

  private releaseMiddle(up: Upper, hi: number, i: number): void {
    const mid = up.kids[i]!;
    up.kids[i] = undefined;
    if (this.walking === 0 && middlePool.length < NODE_POOL_MAX) middlePool.push(mid);
    up.used--;
    if (up.used === 0) this.dropUpper(hi, up);
  }

  private storeMiddle(key: number, enc: number): void {
    const mid = this.middle(key, enc !== 0);
    if (mid === undefined) throw new RangeError(`radix: delete of absent key ${key}`);
    const j = (key >>> L0_SHIFT) & (FANOUT - 1);
    this.checkTransition(mid.vals[j]! !== 0 || mid.kids[j] !== undefined, enc, key);
    mid.vals[j] = enc;
    this.account(enc);
    mid.used += enc !== 0 ? 1 : -1;
    if (mid.used === 0) this.releaseMiddle(this.curUp!, this.curHi, this.curI);
  }

  private storeLeaf(key: number, enc: number): void {
    const block = Math.floor(key / FANOUT);
    const c = this.cacheLeaf;
    if (c !== null && block === this.cacheBlock) {
      const k = key - block * FANOUT;
      const occupied = c[k]! !== 0;
      // Fast path: the leaf stays alive (not the last entry going away).
      if (enc !== 0 ? !occupied : occupied && c[FANOUT]! > 1) {
        c[k] = enc;
        this.account(enc);
        c[FANOUT] = c[FANOUT]! + (enc !== 0 ? 1 : -1);
        return;
      }
    }
    const mid = this.middle(key, enc !== 0);
    if (mid === undefined) throw new RangeError(`radix: delete of absent key ${key}`);
    const j = (key >>> L0_SHIFT) & (FANOUT - 1);
    let leaf = mid.kids[j];
    if (leaf === undefined) {
      if (enc === 0) throw new RangeError(`radix: delete of absent key ${key}`);
      if (mid.vals[j] !== 0) throw new RangeError(`radix: key ${key} inside a larger entry`);
      leaf = leafPool.pop() ?? new Int32Array(FANOUT + 1); // last slot counts used entries
      mid.kids[j] = leaf;
      mid.used++;
    }
    const k = key & (FANOUT - 1);
    this.checkTransition(leaf[k]! !== 0, enc, key);
    leaf[k] = enc;
    this.account(enc);
    leaf[FANOUT] = leaf[FANOUT]! + (enc !== 0 ? 1 : -1);
    this.cacheBlock = Math.floor(key / FANOUT);
    this.cacheLeaf = leaf;
    if (leaf[FANOUT] === 0) this.releaseLeaf(mid, j, leaf);
  }

  private checkTransition(occupied: boolean, enc: number, key: number): void {
    if (enc !== 0 && occupied) throw new RangeError(`radix: key ${key} already occupied`);
    if (enc === 0 && !occupied) throw new RangeError(`radix: delete of absent key ${key}`);
  }

  private account(enc: number): void {
    this.slots += enc !== 0 ? 1 : -1;
  }

  /**
   * Visit every entry overlapping [start, end) in key order, once per entry
   * (a multi-order entry is reported with its first key and its order).
   * Return true from the visitor to stop early.
   */
  forEach(start: number, end: number, visit: RadixVisitor): void {
    if (end <= start) return;
    // One key (a 4 KiB hole punched, a page converted): the entry holding it, found as get() finds it.
    if (end - start === 1) {
      this.visitKey(start, visit);
      return;
    }
    // Nodes a visitor empties are not pooled while a walk may still hold them (see `walking`).
    this.walking++;
    try {
      this.walk(start, end, visit);
    } finally {
      this.walking--;
    }
  }

  /** forEach over [key, key + 1): the entry holding key, by its first key and order as walk reports it. */
  private visitKey(key: number, visit: RadixVisitor): void {
    const hi = Math.floor(key / TOP_SPAN);
    const up = this.top.get(hi);
    if (up === undefined) return;
    const lo = key - hi * TOP_SPAN;
    const i = lo >>> L1_SHIFT;
    const b1 = hi * TOP_SPAN + i * 2 ** L1_SHIFT;
    if (up.vals[i] !== 0) {
      visit(b1, L1_SHIFT, up.vals[i]! - 1);
      return;
    }
    const mid = up.kids[i];
    if (mid === undefined) return;
    const j = (lo >>> L0_SHIFT) & (FANOUT - 1);
    const b2 = b1 + j * 2 ** L0_SHIFT;
    if (mid.vals[j] !== 0) {
      visit(b2, L0_SHIFT, mid.vals[j]! - 1);
      return;
    }
    const leaf = mid.kids[j];
    if (leaf === undefined) return;
    // (No node is read after the visit, so one the visitor empties may be pooled at once: no `walking` count.)
    let k = lo & (FANOUT - 1);
    const v = leaf[k]!;
    if (v === 0) return;
    // A small multi-order entry is a run of equal slots: its first key and its length.
    while (k > 0 && leaf[k - 1] === v) k--;
    let n = 1;
    while (k + n < FANOUT && leaf[k + n] === v) n++;
    visit(b2 + k, 31 - Math.clz32(n), v - 1);
  }

  private walk(start: number, end: number, visit: RadixVisitor): void {
    // Top-level blocks in key order; a visitor may add or drop blocks, so each step looks for the next key.
    for (let prev = -1; ; ) {
      let hi = -1;
      for (const k of this.topKeys) {
        if (k > prev) {
          hi = k;
          break;
        }
      }
      if (hi < 0) return;
      prev = hi;
      const base = hi * TOP_SPAN;
      if (base >= end) return;
      if (base + TOP_SPAN <= start) continue;
      const up = this.top.get(hi)!;
      // Start at the slot holding start (a one-page range looks at one slot per level, not 512).
      for (let i = start > base ? Math.floor((start - base) / 2 ** L1_SHIFT) : 0; i < FANOUT; i++) {
        const b1 = base + i * 2 ** L1_SHIFT;
        if (b1 >= end) return;
        if (up.vals[i] !== 0) {
          if (visit(b1, L1_SHIFT, up.vals[i]! - 1) === true) return;
          continue;
        }
        const mid = up.kids[i];
        if (mid === undefined) continue;
        for (let j = start > b1 ? Math.floor((start - b1) / 2 ** L0_SHIFT) : 0; j < FANOUT; j++) {
          const b2 = b1 + j * 2 ** L0_SHIFT;
          if (b2 >= end) return;
          if (mid.vals[j] !== 0) {
            if (visit(b2, L0_SHIFT, mid.vals[j]! - 1) === true) return;
            continue;
          }
          const leaf = mid.kids[j];
          if (leaf === undefined) continue;
          const k1 = Math.min(FANOUT, end - b2);
          let k = Math.max(0, start - b2);
          // An entry of order 1..8 fills 2^order consecutive leaf slots with one value (values
          // are unique per entry): report it once, by its first key, even if start is inside it.
          while (k > 0 && leaf[k] !== 0 && leaf[k - 1] === leaf[k]) k--;
          while (k < k1) {
            const v = leaf[k]!;
            if (v === 0) {
              k++;
              continue;
            }
            let n = 1;
            while (k + n < FANOUT && leaf[k + n] === v) n++;
            if (visit(b2 + k, 31 - Math.clz32(n), v - 1) === true) return;
            k += n;
          }
        }
      }
    }
  }

  /** First key >= start that holds an entry (the entry's first key if it started earlier), or -1. */
  nextKey(start: number, end = Number.MAX_SAFE_INTEGER): number {
    let found = -1;
    this.forEach(start, end, (key) => {
      found = key;
      return true;
    });
    return found;
  }

  /** Bytes of model memory used by the structure (for PERFORMANCE.md honesty). */
  approxBytes(): number {
    let bytes = 0;
    for (const up of this.top.values()) {
      bytes += FANOUT * 4 + FANOUT * 8;
      for (const mid of up.kids) {
        if (mid === undefined) continue;
        bytes += FANOUT * 4 + FANOUT * 8;
        for (const leaf of mid.kids) if (leaf !== undefined) bytes += (FANOUT + 1) * 4;
      }
    }
    return bytes;
  }
}
