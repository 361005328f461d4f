/**
 * Shared helpers for the syscall argument-validation tests.
 *
 * Every test boots its own small kernel; `boot()` records it so that the
 * `afterEach` hook registered by `checkKernelsAfterEach()` can assert that
 * every kernel used by a test is still consistent (kernel.check() is []):
 * a failed syscall must not leave the model half-updated.
 */
import { afterEach, expect } from 'vitest';
import { Kernel, type KernelOptions, type Process, SignalError, SyscallError } from '../../src/index.js';
import { errno, type ErrnoName } from '../../src/uapi/index.js';

export const PAGE = 4096;
export const HPAGE = 2 * 1024 * 1024;
export const TASK_SIZE = 0x7ffffffff000;
export const MMAP_MIN_ADDR = 65536;

const live: Kernel[] = [];

/** A fresh kernel (256 MiB unless overridden) and one process in it. */
export function boot(opts: KernelOptions = {}): { k: Kernel; p: Process } {
  const k = new Kernel({ memory: '256MiB', ...opts });
  live.push(k);
  return { k, p: k.spawn() };
}

/** Register the after-each consistency check (call once per test file). */
export function checkKernelsAfterEach(): void {
  afterEach(() => {
    const ks = live.splice(0);
    for (const k of ks) expect(k.check()).toEqual([]);
  });
}

/** What a call did: returned a value, or threw. */
export type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export function attempt(fn: () => unknown): Outcome {
  try {
    return { ok: true, value: fn() };
  } catch (error) {
    return { ok: false, error };
  }
}

function describeError(e: unknown): string {
  if (e instanceof Error) return `${e.constructor.name}: ${e.message}`;
  return `non-Error throw: ${String(e)}`;
}

/** Assert that a thrown value is a well-formed SyscallError (code, errno and syscall agree). */
export function assertSyscallError(e: unknown, syscall?: string): asserts e is SyscallError {
  if (!(e instanceof SyscallError)) throw new Error(`expected a SyscallError, got ${describeError(e)}`);
  expect(Object.prototype.hasOwnProperty.call(errno, e.code), `unknown errno name ${e.code}`).toBe(true);
  expect(e.errno).toBe(errno[e.code]);
  expect(typeof e.syscall).toBe('string');
  if (syscall !== undefined) expect(e.syscall).toBe(syscall);
}

/** Run fn and assert it fails with exactly this errno from this syscall. */
export function expectErrno(fn: () => unknown, code: ErrnoName, syscall: string): SyscallError {
  const r = attempt(fn);
  if (r.ok) throw new Error(`expected ${code} from ${syscall}, but the call returned ${String(r.value)}`);
  assertSyscallError(r.error);
  expect({ code: r.error.code, errno: r.error.errno, syscall: r.error.syscall }).toEqual({ code, errno: errno[code], syscall });
  return r.error;
}

/** Run fn and assert it raised this signal. */
export function expectSignal(fn: () => unknown, signal: 'SIGSEGV' | 'SIGBUS' | 'SIGKILL'): SignalError {
  const r = attempt(fn);
  if (r.ok) throw new Error(`expected ${signal}, but the call returned ${String(r.value)}`);
  if (!(r.error instanceof SignalError)) throw new Error(`expected a SignalError, got ${describeError(r.error)}`);
  expect(r.error.signal).toBe(signal);
  return r.error;
}

/**
 * An expectation for one call: 'ok' (returns), an errno name, a list of
 * acceptable errnos (with 'ok' allowed in the list), or 'syscallerror' (any
 * well-formed SyscallError, or success).
 */
export type Expect = 'ok' | ErrnoName | readonly ('ok' | ErrnoName)[] | 'any';

/** Check an outcome against an expectation; never accept a non-SyscallError throw. */
export function checkOutcome(r: Outcome, want: Expect, syscall: string, label: string): void {
  if (!r.ok) assertSyscallError(r.error, syscall);
  const got: 'ok' | ErrnoName = r.ok ? 'ok' : (r.error as SyscallError).code;
  if (want === 'any') return;
  const allowed = typeof want === 'string' ? [want] : want;
  expect(allowed, `${syscall} with ${label}: got ${got}`).toContain(got);
}

/**
 * Values of every JS type, each with a label. The integers among them have a
 * C value (they wrap modulo 2^64); the rest have none.
 */
export interface Weird {
  label: string;
  v: unknown;
}

/** An object whose coercion throws: passing it must never call valueOf/toString. */
const poison = {
  valueOf(): never {
    throw new Error('internal coerced a syscall argument with valueOf');
  },
  toString(): never {
    throw new Error('internal coerced a syscall argument with toString');
  },
  [Symbol.toPrimitive](): never {
    throw new Error('internal coerced a syscall argument with Symbol.toPrimitive');
  },
};

export const WEIRD: readonly Weird[] = [
  { label: 'NaN', v: NaN },
  { label: 'Infinity', v: Infinity },
  { label: '-Infinity', v: -Infinity },
  { label: '-1', v: -1 },
  { label: '-0', v: -0 },
  { label: '0.5', v: 0.5 },
  { label: '2**53', v: 2 ** 53 },
  { label: '2**53+2', v: 2 ** 53 + 2 },
  { label: '2**64', v: 2 ** 64 },
  { label: '-(2**63)', v: -(2 ** 63) },
  { label: '1n<<64n', v: 1n << 64n },
  { label: '-1n', v: -1n },
  { label: "'4096'", v: '4096' },
  { label: "''", v: '' },
  { label: 'undefined', v: undefined },
  { label: 'null', v: null },
  { label: '{}', v: {} },
  { label: '[]', v: [] },
  { label: 'true', v: true },
  { label: "Symbol('x')", v: Symbol('x') },
  { label: 'poison object', v: poison },
  { label: 'new Number(4096)', v: Object(4096) as unknown },
  { label: '() => 0', v: () => 0 },
];

/** The labels of WEIRD values that have a C value (integers and bigints). */
export const INTEGER_LABELS = new Set(['-1', '-0', '2**53', '2**53+2', '2**64', '-(2**63)', '1n<<64n', '-1n']);

/**
 * Build the per-value expectation for one argument position: `noC` is the
 * errno for values with no C equivalent; `ints` gives the expectation for each
 * integer value (by label).
 */
export function expectations(noC: Expect, ints: Record<string, Expect>): (label: string) => Expect {
  for (const l of INTEGER_LABELS) if (!(l in ints)) throw new Error(`missing expectation for ${l}`);
  return (label) => (INTEGER_LABELS.has(label) ? ints[label]! : noC);
}

export { Kernel, SignalError, SyscallError };
export type { Process };
