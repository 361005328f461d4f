import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SparseRadix } from './radix.js';

describe('SparseRadix', () => {
  it('setRun and deleteRun act as the order-0 set and delete calls they stand for', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 20 }), fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 0, max: 1999 }), fc.integer({ min: 1, max: 600 }), (key, n, off, m) => {
        const a = new SparseRadix();
        const b = new SparseRadix();
        const values = Array.from({ length: n }, (_, k) => 7 * k + 3);
        a.setRun(key, values, n);
        for (let k = 0; k < n; k++) b.set(key + k, 0, values[k]!);
        const dump = (r: SparseRadix) => {
          const out: number[][] = [];
          r.forEach(0, Number.MAX_SAFE_INTEGER, (k, o, v) => void out.push([k, o, v]));
          return out;
        };
        expect(dump(a)).toEqual(dump(b));
        expect(a.size).toBe(n);
        const s = Math.min(off, n - 1);
        const len = Math.min(m, n - s);
        a.deleteRun(key + s, len);
        for (let k = s; k < s + len; k++) b.delete(key + k, 0);
        expect(dump(a)).toEqual(dump(b));
        expect(a.size).toBe(n - len);
        for (let k = -1; k <= n; k++) expect(a.get(key + k)).toBe(b.get(key + k));
        // getRun reads what get reads, around a larger entry too.
        a.set(2 ** 22, 9, 5);
        const out = new Int32Array(n + 1100);
        a.getRun(key - 1, out.length, out);
        expect(Array.from(out)).toEqual(Array.from(out, (_, k) => a.get(key - 1 + k)));
        const big = new Int32Array(1000);
        a.getRun(2 ** 22 - 300, 1000, big);
        expect(Array.from(big)).toEqual(Array.from(big, (_, k) => a.get(2 ** 22 - 300 + k)));
        // A key already there, or one missing, is a caller bug.
        if (s > 0) expect(() => a.setRun(key, [1], 1)).toThrow(RangeError);
        expect(() => a.deleteRun(key + s, 1)).toThrow(RangeError);
      }),
      { numRuns: 200 },
    );
  });

  it('a one-key forEach reports the entry holding the key exactly as a walk of a wider range does', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 2 ** 12 }), fc.constantFrom(0, 1, 3, 8, 9, 12, 18, 19)), { maxLength: 30 }), fc.array(fc.integer({ min: 0, max: 2 ** 31 }), { minLength: 1, maxLength: 40 }), (stores, probes) => {
        const r = new SparseRadix();
        // Aligned entries of several orders, skipping any that would overlap one already there.
        stores.forEach(([slot, order], i) => {
          const key = slot * 2 ** order;
          try {
            r.set(key, order, i);
          } catch {
            /* overlaps */
          }
        });
        const all: [number, number, number][] = [];
        r.forEach(0, Number.MAX_SAFE_INTEGER, (k, o, v) => void all.push([k, o, v]));
        for (const e of all) probes.push(e[0], e[0] + 2 ** e[1] - 1);
        for (const key of probes) {
          const one: [number, number, number][] = [];
          r.forEach(key, key + 1, (k, o, v) => void one.push([k, o, v]));
          expect(one).toEqual(all.filter(([k, o]) => k <= key && key < k + 2 ** o));
        }
      }),
      { numRuns: 200 },
    );
  });

  it('a visitor that empties the node being walked and fills new ones elsewhere: the walk still sees each entry once, at its own key', () => {
    const r = new SparseRadix();
    // Entries in two leaves, two middles and two top-level blocks.
    const keys = [5, 7, 600, 2 ** 18 + 1, 2 ** 27 + 9, 2 ** 27 + 2 ** 20];
    keys.forEach((k, i) => r.set(k, 0, 100 + i));
    const seen: [number, number][] = [];
    let next = 1000;
    r.forEach(0, 2 ** 28, (k, _o, v) => {
      seen.push([k, v]);
      // Remove what was visited (emptying leaves, middles and blocks) and store new entries beyond the range.
      r.delete(k, 0);
      r.set(2 ** 29 + next * 512 + 300, 0, next++);
    });
    expect(seen).toEqual(keys.map((k, i) => [k, 100 + i]));
    expect(r.size).toBe(keys.length);
    for (let i = 0; i < keys.length; i++) expect(r.get(2 ** 29 + (1000 + i) * 512 + 300)).toBe(1000 + i);
  });

  it('stores and finds entries of every order, once per entry', () => {
    const r = new SparseRadix();
    r.set(0, 0, 7);
    r.set(512, 9, 8);
    r.set(2 ** 18, 18, 9);
    r.set(2 ** 40 + 3, 0, 10);
    expect(r.get(0)).toBe(7);
    expect(r.get(1)).toBe(-1);
    expect(r.get(512)).toBe(8);
    expect(r.get(1023)).toBe(8);
    expect(r.get(1024)).toBe(-1);
    expect(r.get(2 ** 18 + 12345)).toBe(9);
    expect(r.get(2 ** 40 + 3)).toBe(10);
    const seen: [number, number, number][] = [];
    r.forEach(0, Number.MAX_SAFE_INTEGER, (k, o, v) => {
      seen.push([k, o, v]);
    });
    expect(seen).toEqual([
      [0, 0, 7],
      [512, 9, 8],
      [2 ** 18, 18, 9],
      [2 ** 40 + 3, 0, 10],
    ]);
    expect(r.nextKey(1)).toBe(512);
  });

  it('refuses overlapping stores and deletes of absent keys', () => {
    const r = new SparseRadix();
    r.set(512, 9, 1);
    expect(() => r.set(600, 0, 2)).toThrow(RangeError);
    expect(() => r.delete(0, 0)).toThrow(RangeError);
    expect(() => r.set(3, 1, 1)).toThrow(/aligned/);
  });

  it('agrees with a Map over random order-0/9 stores and deletes', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 4095 }), fc.boolean()), { maxLength: 300 }), (ops) => {
        const r = new SparseRadix();
        const m = new Map<number, number>(); // block start (order 9) or key (order 0) -> value
        const order = new Map<number, number>();
        const covered = (k: number): number | undefined => {
          if (m.has(k) && order.get(k) === 0) return k;
          const b = k - (k % 512);
          return m.has(b) && order.get(b) === 9 ? b : undefined;
        };
        ops.forEach(([isSet, key, big], i) => {
          const o = big ? 9 : 0;
          const k = big ? key - (key % 512) : key;
          if (isSet) {
            const free = big ? [...Array(512).keys()].every((j) => covered(k + j) === undefined) : covered(k) === undefined;
            if (!free) return;
            r.set(k, o, i);
            m.set(k, i);
            order.set(k, o);
          } else if (m.has(k) && order.get(k) === o) {
            r.delete(k, o);
            m.delete(k);
            order.delete(k);
          }
        });
        const want = new Int32Array(4096);
        const have = new Int32Array(4096);
        for (let k = 0; k < 4096; k++) {
          const c = covered(k);
          want[k] = c === undefined ? -1 : m.get(c)!;
          have[k] = r.get(k);
        }
        expect(have).toEqual(want);
        expect(r.size).toBe(m.size);
      }),
      { numRuns: 60 },
    );
  });
});
