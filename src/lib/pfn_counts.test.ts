import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PfnCounts } from './pfn_counts.js';

describe('PfnCounts', () => {
  it('matches a Map under random range adds, across chunk boundaries and sweeps', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 70 * 4096 }), fc.integer({ min: 1, max: 9000 }), fc.constantFrom(1, -1)), { maxLength: 60 }),
        (ops) => {
          const c = new PfnCounts();
          const ref = new Map<number, number>();
          const held: [number, number][] = [];
          for (const [key, n, d] of ops) {
            // Only release what was added, as the ledger does.
            if (d < 0) {
              const h = held.pop();
              if (h === undefined) continue;
              c.add(h[0], h[1], -1);
              for (let k = h[0]; k < h[0] + h[1]; k++) ref.set(k, ref.get(k)! - 1);
              continue;
            }
            c.add(key, n, 1);
            held.push([key, n]);
            for (let k = key; k < key + n; k++) ref.set(k, (ref.get(k) ?? 0) + 1);
          }
          const want = [...ref].filter(([, v]) => v !== 0).sort((a, b) => a[0] - b[0]);
          const got: [number, number][] = [];
          c.forEach((k, v) => got.push([k, v]));
          got.sort((a, b) => a[0] - b[0]);
          expect(got).toEqual(want);
          expect(c.size).toBe(want.length);
          for (const [k, v] of want.slice(0, 20)) expect(c.get(k)).toBe(v);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('drops empty chunks, so memory follows what is counted', () => {
    const c = new PfnCounts();
    for (let i = 0; i < 200; i++) {
      c.add(i * 4096, 1, 1);
      c.add(i * 4096, 1, -1);
    }
    expect(c.size).toBe(0);
    expect((c as unknown as { chunks: Map<number, unknown> }).chunks.size).toBeLessThanOrEqual(65);
  });
});
