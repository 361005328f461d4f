import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ExtentSet } from './extent_set.js';

describe('ExtentSet', () => {
  it('coalesces neighbours and splits on removal', () => {
    const s = new ExtentSet();
    s.add(0, 10);
    s.add(20, 30);
    s.add(10, 20);
    expect(s.ranges).toBe(1);
    expect(s.length).toBe(30);
    s.remove(5, 6);
    expect(s.ranges).toBe(2);
    expect(s.has(5)).toBe(false);
    expect(s.has(6)).toBe(true);
    expect(s.covers(6, 30)).toBe(true);
    expect(s.overlaps(4, 6)).toBe(true);
    expect(() => s.add(1, 2)).toThrow(RangeError);
    expect(() => s.remove(4, 7)).toThrow(RangeError);
  });

  it('union and subtract tolerate overlap, and agree with a bitmap; forEach clips to [lo, hi)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 600 })), { maxLength: 60 }), fc.integer({ min: 0, max: 3000 }), (ops, lo) => {
        const s = new ExtentSet();
        const bits = new Uint8Array(4000);
        for (const [on, a, n] of ops) {
          if (on) s.union(a, a + n);
          else expect(s.subtract(a, a + n)).toBe(bits.subarray(a, a + n).reduce((x, y) => x + y, 0));
          bits.fill(on ? 1 : 0, a, a + n);
        }
        expect(s.length).toBe(bits.reduce((x, y) => x + y, 0));
        for (let i = 0; i < 4000; i += 37) expect(s.has(i)).toBe(bits[i] === 1);
        const seen: number[] = [];
        s.forEach((a, b) => {
          for (let i = a; i < b; i++) seen.push(i);
        }, lo, lo + 500);
        const want: number[] = [];
        for (let i = lo; i < lo + 500; i++) if (bits[i]) want.push(i);
        expect(seen).toEqual(want);
        // collect: the same units as pairs, the first max of them.
        const max = (lo * 7) % 300;
        const pairs: number[] = [];
        const got = s.collect(lo, lo + 500, pairs, max);
        const units: number[] = [];
        for (let i = 0; i < pairs.length; i += 2) for (let u = pairs[i]!; u < pairs[i + 1]!; u++) units.push(u);
        expect(units).toEqual(want.slice(0, max));
        expect(got).toBe(units.length);
        // collectGaps: exactly the units of [lo, lo + 500) not in the set.
        const gapPairs: number[] = [];
        const gapCount = s.collectGaps(lo, lo + 500, gapPairs);
        const gapUnits: number[] = [];
        for (let i = 0; i < gapPairs.length; i += 2) for (let u = gapPairs[i]!; u < gapPairs[i + 1]!; u++) gapUnits.push(u);
        const wantGaps: number[] = [];
        for (let i = lo; i < lo + 500; i++) if (!bits[i]) wantGaps.push(i);
        expect(gapUnits).toEqual(wantGaps);
        expect(gapCount).toBe(wantGaps.length);
      }),
      { numRuns: 200 },
    );
  });

  it('union, subtract, collectGaps, overlaps and allocOne across many chunks agree with a bitmap, with touching ranges merged', () => {
    // 3,000 two-unit ranges with one-unit gaps: six chunks of ranges, so spans cross chunk boundaries.
    const N = 9000;
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: N }), fc.integer({ min: 0, max: 2500 })), { maxLength: 40 }), fc.integer({ min: 0, max: N }), (ops, lo) => {
        const s = new ExtentSet();
        const bits = new Uint8Array(N + 2600);
        for (let i = 0; i < 3000; i++) {
          s.add(i * 3, i * 3 + 2);
          bits.fill(1, i * 3, i * 3 + 2);
        }
        for (const [on, a, n] of ops) {
          if (on) s.union(a, a + n);
          else expect(s.subtract(a, a + n)).toBe(bits.subarray(a, a + n).reduce((x, y) => x + y, 0));
          bits.fill(on ? 1 : 0, a, a + n);
        }
        const want: number[] = [];
        for (let i = 0; i < bits.length; i++) if (bits[i] && !bits[i - 1]) want.push(i);
        const starts: number[] = [];
        let units = 0;
        s.forEach((a, b) => {
          starts.push(a);
          units += b - a;
          expect(bits.subarray(a, b).every((x) => x === 1)).toBe(true);
        });
        // Every run of the bitmap is exactly one range: nothing missing, nothing split.
        expect(starts).toEqual(want);
        expect(s.ranges).toBe(want.length);
        expect(units).toBe(s.length);
        expect(s.length).toBe(bits.reduce((x, y) => x + y, 0));
        // collectGaps over a window: every unit not in the set, as maximal runs.
        const gaps: number[] = [];
        const hi = Math.min(lo + 2000, bits.length);
        const got = s.collectGaps(lo, hi, gaps);
        const wantGaps: number[] = [];
        for (let i = lo; i < hi; i++) if (!bits[i] && (i === lo || bits[i - 1])) wantGaps.push(i);
        expect(gaps.filter((_, i) => i % 2 === 0)).toEqual(wantGaps);
        let gapUnits = 0;
        for (let i = 0; i < gaps.length; i += 2) {
          expect(bits.subarray(gaps[i]!, gaps[i + 1]!).every((x) => x === 0)).toBe(true);
          gapUnits += gaps[i + 1]! - gaps[i]!;
        }
        expect(got).toBe(gapUnits);
        expect(gapUnits).toBe(hi - lo - bits.subarray(lo, hi).reduce((x, y) => x + y, 0));
        // overlaps and allocOne over windows of 1 to 7 units from lo, against the bitmap.
        for (let w = 1; w <= 7; w++) {
          const a = Math.min(lo + w * 13, bits.length - w);
          expect(s.overlaps(a, a + w)).toBe(bits.subarray(a, a + w).includes(1));
          const first = bits.subarray(a, a + w).indexOf(1);
          const want = first < 0 ? -1 : a + first;
          expect(s.allocOne(a, a + w)).toBe(want);
          if (want >= 0) bits[want] = 0;
        }
        expect(s.length).toBe(bits.reduce((x, y) => x + y, 0));
      }),
      { numRuns: 150 },
    );
  });

  it('allocates the lowest naturally aligned block', () => {
    const s = new ExtentSet();
    s.add(3, 2000);
    expect(s.allocAligned(512, 512)).toBe(512);
    expect(s.allocAligned(512, 512)).toBe(1024);
    expect(s.allocAligned(1024, 1024)).toBe(-1);
    expect(s.allocOne(0, 100)).toBe(3);
    expect(s.allocOne(600, 700)).toBe(-1);
  });

  it('matches a bitmap over random adds, removes and allocations', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('add', 'remove', 'alloc'), fc.integer({ min: 0, max: 2999 }), fc.integer({ min: 1, max: 64 })), { maxLength: 400 }),
        (ops) => {
          const N = 3000;
          const s = new ExtentSet();
          const free = new Uint8Array(N);
          for (const [op, at, len] of ops) {
            const e = Math.min(N, at + len);
            if (op === 'add') {
              if (free.subarray(at, e).some((b) => b === 1)) continue;
              s.add(at, e);
              free.fill(1, at, e);
            } else if (op === 'remove') {
              if (!free.subarray(at, e).every((b) => b === 1)) continue;
              s.remove(at, e);
              free.fill(0, at, e);
            } else {
              const size = 2 ** (len % 7);
              const got = s.allocAligned(size, size);
              let want = -1;
              for (let a = 0; a + size <= N; a += size) {
                if (free.subarray(a, a + size).every((b) => b === 1)) {
                  want = a;
                  break;
                }
              }
              expect(got).toBe(want);
              if (got >= 0) free.fill(0, got, got + size);
            }
          }
          const have = new Uint8Array(N);
          s.forEach((a, b) => have.fill(1, a, b));
          expect(have).toEqual(free);
          expect(s.length).toBe(free.reduce((x, y) => x + y, 0));
          for (let i = 0; i < N; i += 97) expect(s.has(i)).toBe(free[i] === 1);
        },
      ),
      { numRuns: 60 },
    );
  });
});
