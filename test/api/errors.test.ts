/**
 * Building an error never throws, whatever the caller passed: the message
 * formats its arguments without running their code (issue 11 section 1: a
 * Symbol made `new SyscallError` throw a TypeError).
 */
import { describe, expect, it } from 'vitest';
import { CostModel, SignalError, SyscallError, UffdFault, UnknownCostError } from '../../src/index.js';
import { describeValue } from '../../src/lib/describe.js';

const userError = new Error('user code ran');
const throwing = {
  valueOf(): never {
    throw userError;
  },
  toString(): never {
    throw userError;
  },
  [Symbol.toPrimitive](): never {
    throw userError;
  },
};
const revocable = Proxy.revocable({}, {});
revocable.revoke();
const trap = new Proxy({}, { get() { throw userError; }, getPrototypeOf() { throw userError; }, ownKeys() { throw userError; } });
const symbolWithToString = Symbol('s');

const HOSTILE: [string, unknown][] = [
  ['Symbol', Symbol('x')],
  ['Symbol()', Symbol()],
  ['BigInt', 1n << 70n],
  ['negative BigInt', -5n],
  ['throwing valueOf/toString', throwing],
  ['revoked Proxy', revocable.proxy],
  ['trapping Proxy', trap],
  ['null-prototype object', Object.create(null) as unknown],
  ['function', () => 0],
  ['undefined', undefined],
  ['null', null],
  ['NaN', NaN],
  ['-0', -0],
  ['Infinity', Infinity],
  ['long string', 'x'.repeat(10_000)],
  ['lone surrogate', '\ud800'],
  ['array', [1, 2]],
  ['symbol with toString replaced on the prototype', symbolWithToString],
];

describe('describeValue', () => {
  it.each(HOSTILE)('formats %s without throwing or running its code', (_label, v) => {
    const s = describeValue(v);
    expect(typeof s).toBe('string');
    expect(s.length).toBeLessThan(100);
  });

  it('names primitives as they are written', () => {
    expect(describeValue(-0)).toBe('-0');
    expect(describeValue(5n)).toBe('5n');
    expect(describeValue(Symbol('x'))).toBe('Symbol(x)');
    expect(describeValue('a"b')).toBe('"a\\"b"');
    expect(describeValue(null)).toBe('null');
    expect(describeValue({})).toBe('an object');
  });
});

describe('error constructors never throw', () => {
  it.each(HOSTILE)('SyscallError with %s in every argument', (_label, v) => {
    for (const args of [[v, 'mmap'], ['EINVAL', v], ['EINVAL', 'mmap', v], [v, v, v]] as const) {
      const e = new SyscallError(...(args as unknown as ['EINVAL', string, string]));
      expect(e).toBeInstanceOf(SyscallError);
      expect(typeof e.message).toBe('string');
      expect(typeof e.code).toBe('string');
      expect(typeof e.syscall).toBe('string');
    }
  });

  it('a known errno keeps its number and strerror text; an unknown code has errno 0', () => {
    const e = new SyscallError('EFAULT', 'read', 'buf');
    expect([e.code, e.errno, e.syscall, e.message]).toEqual(['EFAULT', 14, 'read', 'EFAULT: bad address, read (buf)']);
    const u = new SyscallError(Symbol('x') as unknown as 'EINVAL', 'mmap');
    expect([u.code, u.errno]).toEqual(['Symbol(x)', 0]);
    // An inherited name such as toString is not an errno.
    expect(new SyscallError('toString' as 'EINVAL', 'x').errno).toBe(0);
  });

  it.each(HOSTILE)('SignalError and UffdFault with %s', (_label, v) => {
    expect(new SignalError(v as 'SIGSEGV', v as number, v as string)).toBeInstanceOf(SignalError);
    expect(new SignalError('SIGBUS', v as number).addr).toBe(v);
    expect(new UffdFault(v as number, v as never)).toBeInstanceOf(UffdFault);
  });

  it('addresses print in hex, negative ones with a sign', () => {
    expect(new SignalError('SIGSEGV', 0x1000).message).toBe('SIGSEGV at 0x1000');
    expect(new SignalError('SIGSEGV', -16).message).toBe('SIGSEGV at -0x10');
  });

  it.each(HOSTILE)('CostModel overrides naming %s fail with a RangeError that formats it', (_label, v) => {
    let thrown: unknown;
    try {
      new CostModel({ ipi: v as number });
    } catch (e) {
      thrown = e;
    }
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) expect(thrown).toBeUndefined();
    else expect(thrown).toBeInstanceOf(RangeError);
    expect(new UnknownCostError(v as string)).toBeInstanceOf(UnknownCostError);
  });
});
