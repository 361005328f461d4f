import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Clock } from './clock.js';

describe('Clock', () => {
  it('hands events out by time, ties in the order they were scheduled', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 200 }), (times) => {
        const c = new Clock<number>();
        times.forEach((t, i) => c.at(t, i));
        const out: { t: number; i: number }[] = [];
        for (let e = c.next(); e !== undefined; e = c.next()) out.push({ t: e.t, i: e.item });
        const want = times.map((t, i) => ({ t, i })).sort((a, b) => a.t - b.t || a.i - b.i);
        expect(out).toEqual(want);
      }),
    );
  });

  it('never schedules into the past', () => {
    const c = new Clock<string>();
    c.at(10, 'a');
    c.next();
    c.at(3, 'late');
    const e = c.next()!;
    expect(e.t).toBe(10);
    expect(c.now).toBe(10);
  });
});
