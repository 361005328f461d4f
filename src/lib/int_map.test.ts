import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IntMap } from './int_map.js';

/** Keys that collide in a small table (clustered), spread wide, and near 2^53. */
const key = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 2 ** 52, max: Number.MAX_SAFE_INTEGER }), fc.integer({ min: 0, max: 2000 }).map((x) => x * 2 ** 27));

describe('IntMap', () => {
  it('agrees with Map under random set/delete/get, across growth and backward-shift deletion', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('set', 'delete', 'get', 'clear'), key, fc.integer()), { maxLength: 400 }), (ops) => {
        const m = new IntMap<number>();
        const ref = new Map<number, number>();
        for (const [op, k, v] of ops) {
          if (op === 'set') {
            m.set(k, v);
            ref.set(k, v);
          } else if (op === 'delete') expect(m.delete(k)).toBe(ref.delete(k));
          else if (op === 'clear') {
            m.clear();
            ref.clear();
          } else expect(m.get(k)).toBe(ref.get(k));
          expect(m.size).toBe(ref.size);
        }
        // Every key still present is found, and iteration yields exactly the map's entries.
        for (const [k, v] of ref) expect(m.get(k)).toBe(v);
        const got = [...m].sort((a, b) => a[0] - b[0]);
        expect(got).toEqual([...ref].sort((a, b) => a[0] - b[0]));
        expect(m.keys().sort((a, b) => a - b)).toEqual([...ref.keys()].sort((a, b) => a - b));
        expect(m.values().length).toBe(ref.size);
      }),
    );
  });

  it('a delete during iteration does not disturb the walk (it walks a snapshot)', () => {
    const m = new IntMap<string>();
    for (let k = 0; k < 100; k++) m.set(k * 8, `v${k}`);
    const seen: number[] = [];
    for (const [k] of m) {
      seen.push(k);
      m.delete(k);
      m.delete(k + 8);
    }
    expect(seen.length).toBe(100);
    expect(m.size).toBe(0);
  });

  it('rejects keys that are not non-negative safe integers', () => {
    const m = new IntMap<number>();
    for (const bad of [-1, 0.5, NaN, Infinity, 2 ** 53]) expect(() => m.set(bad, 1)).toThrow(RangeError);
    expect(m.get(-1)).toBeUndefined();
    expect(m.has(-1)).toBe(false);
    expect(m.delete(-1)).toBe(false);
    expect(m.size).toBe(0);
  });
});
