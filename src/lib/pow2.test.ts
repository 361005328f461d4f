import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { modPow2, pow2 } from './pow2.js';

describe('pow2 and modPow2', () => {
  it('pow2(n) is 2 ** n for every order a folio, entry or offset can have', () => {
    for (let n = 0; n < 64; n++) expect(pow2(n)).toBe(2 ** n);
  });

  it('modPow2 agrees with % for non-negative integers below 2^53 and power-of-two divisors', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), fc.integer({ min: 0, max: 52 }), (a, n) => {
        expect(modPow2(a, 2 ** n)).toBe(a % 2 ** n);
      }),
    );
  });

  it('modPow2 of a negative integer is the non-negative residue (an alignment test reads the same)', () => {
    expect(modPow2(-1, 4096)).toBe(4095);
    expect(modPow2(-4096, 4096)).toBe(0);
    expect(modPow2(-4097, 512)).toBe(511);
  });
});
