import { describe, expect, it } from 'vitest';
import { ExprError, evaluate, substitute } from './expr.js';

describe('scenario expressions', () => {
  it('reads sizes with binary units and arithmetic', () => {
    expect(evaluate('2MiB', 'size')).toBe(2 * 2 ** 20);
    expect(evaluate('256MiB - 2MiB + 28KiB', 'size')).toBe(254 * 2 ** 20 + 28 * 1024);
    expect(evaluate('(1GiB + 1GiB) / 4', 'size')).toBe(2 ** 29);
    expect(evaluate('0x1000', 'size')).toBe(4096);
    expect(evaluate(4096, 'size')).toBe(4096);
  });

  it('reads durations in ns', () => {
    expect(evaluate('200us', 'duration')).toBe(200_000);
    expect(evaluate('1.5ms', 'duration')).toBe(1_500_000);
    expect(evaluate('2 * 3s', 'duration')).toBe(6e9);
  });

  it('rejects units of the wrong kind, with the offset of the culprit', () => {
    const e = (() => {
      try {
        evaluate('1MiB + 5ms', 'size');
      } catch (x) {
        return x as ExprError;
      }
      return null;
    })();
    expect(e).toBeInstanceOf(ExprError);
    expect(e!.message).toContain("unknown unit 'ms'");
    expect(e!.message).toContain('MiB');
    expect(e!.offset).toBe(7);
    expect(() => evaluate('4 KiB', 'count')).toThrow(/a plain number/);
    expect(() => evaluate('1 / 0', 'count')).toThrow(/division by zero/);
    expect(() => evaluate('(1 + 2', 'count')).toThrow(/expected '\)'/);
    expect(() => evaluate(true, 'count')).toThrow(ExprError);
  });

  it('substitutes parameters, keeping a whole reference typed', () => {
    const p = { guest: '256MiB', n: 4, on: true };
    expect(substitute('${guest} - 2MiB', p)).toBe('256MiB - 2MiB');
    expect(substitute('${n}', p)).toBe(4);
    expect(substitute('${on}', p)).toBe(true);
    expect(() => substitute('${gust} + 1', p)).toThrow(/unknown parameter \$\{gust\}; parameters: guest, n, on/);
  });
});
