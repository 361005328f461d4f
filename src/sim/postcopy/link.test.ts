import { describe, expect, it } from 'vitest';
import { Link } from './link.js';

describe('Link', () => {
  it('a lone fetch costs the round trip plus its bytes over the bandwidth', () => {
    const l = new Link(40_000, 5);
    expect(l.fetch(1000, 4096)).toBeCloseTo(1000 + 40_000 + 4096 / 5, 6);
  });

  it('transfers queue behind each other; round trips overlap', () => {
    const l = new Link(10_000, 1);
    const a = l.fetch(0, 2 ** 21);
    const b = l.fetch(0, 2 ** 21);
    expect(b - a).toBeCloseTo(2 ** 21, 6);
    // After the queue drains, a fetch costs its lone time again.
    const later = a + b;
    expect(l.fetch(later, 4096)).toBeCloseTo(later + 10_000 + 4096, 6);
    expect(l.bytes).toBe(2 ** 22 + 4096);
  });

  it('refuses a bandwidth of zero', () => {
    expect(() => new Link(1, 0)).toThrow(RangeError);
  });
});
