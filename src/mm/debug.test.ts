import { describe, expect, it } from 'vitest';
import { printkPointer } from './debug.js';

describe('printkPointer', () => {
  it('prints %p as no_hash_pointers does: 16 zero-padded hex digits, no 0x', () => {
    expect(printkPointer(0xffffea0000008000n)).toBe('ffffea0000008000');
    expect(printkPointer(0x1000n)).toBe('0000000000001000');
  });
});
