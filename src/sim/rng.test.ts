import { describe, expect, it } from 'vitest';
import { Rng } from './rng.js';

describe('Rng', () => {
  it('is a function of the seed', () => {
    const a = Rng.seeded(7);
    const b = Rng.seeded(7);
    const xs = Array.from({ length: 20 }, () => a.int(0, 1000));
    expect(Array.from({ length: 20 }, () => b.int(0, 1000))).toEqual(xs);
    const c = Rng.seeded(8);
    expect(Array.from({ length: 20 }, () => c.int(0, 1000))).not.toEqual(xs);
  });

  it("gives each stream its own sequence, unaffected by another stream's draws", () => {
    const root = Rng.seeded(1);
    const s0 = root.stream(0);
    const s1 = root.stream(1);
    const first = Array.from({ length: 5 }, () => s1.int(0, 1e6));
    for (let i = 0; i < 100; i++) s0.int(0, 1e6);
    const again = Rng.seeded(1).stream(1);
    expect(Array.from({ length: 5 }, () => again.int(0, 1e6))).toEqual(first);
    expect(Rng.seeded(1).stream(0).int(0, 1e9)).not.toBe(Rng.seeded(1).stream(1).int(0, 1e9));
  });

  it('draws exponential intervals with the requested mean', () => {
    const r = Rng.seeded(3);
    let sum = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) sum += r.exp(100);
    expect(sum / n).toBeGreaterThan(95);
    expect(sum / n).toBeLessThan(105);
  });
});
