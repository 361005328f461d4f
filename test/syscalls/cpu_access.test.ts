/**
 * CPU accesses through the MMU: Process.read(addr, len), write(addr, bytes),
 * fill(addr, len, byte). These are loads and stores, not syscalls: a bad
 * address is a fault (SignalError SIGSEGV, or SIGBUS beyond EOF of a shared
 * file mapping). The model's own arguments that have no address meaning (a
 * length, a byte, the bytes to store) are checked first and refused with a
 * SyscallError (EINVAL for a length or byte, EFAULT for the bytes), never with
 * a TypeError.
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { MAP_SHARED, PROT_NONE, PROT_READ, PROT_WRITE } from '../../src/uapi/index.js';
import { A_ADDR, A_LEN, PA, RW, env } from './env.js';
import { PAGE, TASK_SIZE, WEIRD, attempt, checkKernelsAfterEach, checkOutcome, expectErrno, expectSignal, SignalError } from './helpers.js';

checkKernelsAfterEach();

describe('CPU accesses: faults', () => {
  it('unmapped addresses: SIGSEGV for read, write and fill', () => {
    const e = env();
    for (const a of [0, PAGE, 0x50000000, A_ADDR + A_LEN, TASK_SIZE - PAGE, TASK_SIZE, 2 ** 52]) {
      expectSignal(() => e.p.read(a, 1), 'SIGSEGV');
      expectSignal(() => e.p.write(a, new Uint8Array([1])), 'SIGSEGV');
      expectSignal(() => e.p.fill(a, 1, 1), 'SIGSEGV');
    }
    expect(e.k.check()).toEqual([]);
  });

  it('protection faults: PROT_NONE read, PROT_READ write, write-only read works', () => {
    const e = env();
    const n = e.p.mmap(0, PAGE, PROT_NONE, PA, -1, 0);
    expectSignal(() => e.p.read(n, 1), 'SIGSEGV');
    const r = e.p.mmap(0, PAGE, PROT_READ, PA, -1, 0);
    expect(e.p.read(r, 1)[0]).toBe(0);
    expectSignal(() => e.p.write(r, new Uint8Array([1])), 'SIGSEGV');
    expectSignal(() => e.p.fill(r, 1, 1), 'SIGSEGV');
    // x86 has no write-only pages: a PROT_WRITE mapping is readable.
    const w = e.p.mmap(0, PAGE, PROT_WRITE, PA, -1, 0);
    e.p.fill(w, 1, 5);
    expect(e.p.read(w, 1)[0]).toBe(5);
  });

  it('an access running off the end of a mapping stores the first part, then SIGSEGV', () => {
    const e = env();
    const s = expectSignal(() => e.p.fill(A_ADDR + A_LEN - 2, 4, 0xee), 'SIGSEGV');
    expect(s.addr).toBe(A_ADDR + A_LEN);
    expect([...e.p.read(A_ADDR + A_LEN - 2, 2)]).toEqual([0xee, 0xee]);
  });

  it('a shared memfd mapping beyond EOF: SIGBUS', () => {
    const e = env();
    const m = e.p.mmap(0, 32 * PAGE, RW, MAP_SHARED, e.fd, 0);
    expect(e.p.read(m + 15 * PAGE, 1)[0]).toBe(0);
    expectSignal(() => e.p.read(m + 16 * PAGE, 1), 'SIGBUS');
    expectSignal(() => e.p.write(m + 20 * PAGE, new Uint8Array([1])), 'SIGBUS');
  });

  it('length checks: read of more than 1 GiB, negative and fractional lengths -> EINVAL', () => {
    const e = env();
    expectErrno(() => e.p.read(A_ADDR, 2 ** 30 + 1), 'EINVAL', 'read');
    expectErrno(() => e.p.read(A_ADDR, -1), 'EINVAL', 'read');
    expectErrno(() => e.p.fill(A_ADDR, 1.5, 0), 'EINVAL', 'fill');
    expectErrno(() => e.p.fill(A_ADDR, 2 ** 40 + 1, 0), 'EINVAL', 'fill');
  });

  it('ORDER: a bad length beats a bad address (the length is the model argument, checked first)', () => {
    const e = env();
    expectErrno(() => e.p.read(NaN, -1), 'EINVAL', 'read');
    expectErrno(() => e.p.fill(NaN, NaN, 0), 'EINVAL', 'fill');
    expectErrno(() => e.p.fill(0, 1, 0.5), 'EINVAL', 'fill');
    expectErrno(() => e.p.write(0, 'bytes'), 'EFAULT', 'write');
  });

  it('zero-length accesses touch nothing and succeed, whatever the address', () => {
    const e = env();
    expect(e.p.read(0, 0)).toEqual(new Uint8Array(0));
    expect(e.p.read(NaN, 0)).toEqual(new Uint8Array(0));
    e.p.write(TASK_SIZE + 1, new Uint8Array(0));
    e.p.fill('x', 0, 1);
  });

  it('fill byte: an integer is taken modulo 256', () => {
    const e = env();
    e.p.fill(A_ADDR, 2, -1);
    expect([...e.p.read(A_ADDR, 2)]).toEqual([255, 255]);
    e.p.fill(A_ADDR, 2, 256 + 7);
    expect([...e.p.read(A_ADDR, 2)]).toEqual([7, 7]);
  });

  it('exited process: ESRCH', () => {
    const e = env();
    e.p.exit();
    expectErrno(() => e.p.read(A_ADDR, 1), 'ESRCH', 'read');
    expectErrno(() => e.p.write(A_ADDR, new Uint8Array(1)), 'ESRCH', 'write');
    expectErrno(() => e.p.fill(A_ADDR, 1, 0), 'ESRCH', 'fill');
  });

  // do_anonymous_page gives the new folio the index of vmf->address, which
  // __handle_mm_fault has masked with PAGE_MASK: a store at any byte of the page
  // yields the page's own (integral) index.
  it('a first store at an unaligned address in untouched anonymous memory keeps the kernel consistent', () => {
    const e = env();
    e.p.write(A_ADDR + 1, new Uint8Array([1]));
    expect(e.k.check()).toEqual([]);
    e.p.fill(A_ADDR + 2 * PAGE - 2, 4, 0xee);
    expect(e.k.check()).toEqual([]);
    expect([...e.p.read(A_ADDR + 2 * PAGE - 2, 4)]).toEqual([0xee, 0xee, 0xee, 0xee]);
  });

  // Any JS value gets an errno (EFAULT), never a TypeError: the probe must not
  // run a revoked proxy's getPrototypeOf trap (as `instanceof` would).
  it('write with a revoked Proxy as bytes -> EFAULT, not a TypeError', () => {
    const e = env();
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    expectErrno(() => e.p.write(A_ADDR, proxy), 'EFAULT', 'write');
  });

  it('bytes are probed by their internal slots, never by running the caller\'s code', () => {
    const e = env();
    // A Uint8Array lying about its length, or with a throwing method, still stores its real bytes.
    const liar = new Uint8Array([1, 2, 3]);
    Object.defineProperty(liar, 'length', { get: () => 1000 });
    Object.defineProperty(liar, 'subarray', { value: () => { throw new Error('caller code ran'); } });
    e.p.write(A_ADDR, liar);
    expect([...e.p.read(A_ADDR, 4)]).toEqual([1, 2, 3, 0]);
    // A view into the middle of a larger buffer stores exactly its own bytes.
    const big = new Uint8Array([9, 8, 7, 6, 5]);
    e.p.write(A_ADDR + PAGE, big.subarray(1, 3));
    expect([...e.p.read(A_ADDR + PAGE, 3)]).toEqual([8, 7, 0]);
    // Objects dressed up as a Uint8Array are not one; neither are other typed arrays.
    for (const fake of [Object.create(Uint8Array.prototype), new Uint8ClampedArray(4), new Int8Array(4), { length: 4 }]) {
      expectErrno(() => e.p.write(A_ADDR, fake), 'EFAULT', 'write');
    }
    // A detached buffer has no bytes: nothing to store.
    const gone = new Uint8Array(4).fill(1);
    structuredClone(gone.buffer, { transfer: [gone.buffer] });
    e.p.write(A_ADDR + 2 * PAGE, gone);
    expect(e.p.read(A_ADDR + 2 * PAGE, 1)[0]).toBe(0);
    expect(e.k.check()).toEqual([]);
  });
});

// ---------------------------------------------------------------------------
// Values of every type: an address that is not a safe non-negative integer
// number is SIGSEGV; lengths, bytes and byte values get a SyscallError.

function expectSegv(fn: () => unknown, label: string): void {
  const r = attempt(fn);
  expect(r.ok, `${label} should fault`).toBe(false);
  if (r.ok) return;
  if (!(r.error instanceof SignalError)) throw new Error(`${label}: expected SIGSEGV, got ${String(r.error)}`);
  expect(r.error.signal).toBe('SIGSEGV');
}

describe('CPU accesses: a value of every type in every position', () => {
  it.each(WEIRD.map((w) => ({ ...w })))('address = $label -> SIGSEGV', ({ label, v }) => {
    const e = env();
    expectSegv(() => e.p.read(v, 4), `read(${label})`);
    expectSegv(() => e.p.write(v, new Uint8Array(4)), `write(${label})`);
    expectSegv(() => e.p.fill(v, 4, 1), `fill(${label})`);
    expect(e.k.check()).toEqual([]);
  });

  it.each(WEIRD.map((w) => ({ ...w })))('read len = $label', ({ label, v }) => {
    const e = env();
    const r = attempt(() => e.p.read(A_ADDR, v));
    // -0 is a length of 0; everything else is not a length the model accepts.
    checkOutcome(r, label === '-0' ? 'ok' : 'EINVAL', 'read', `len ${label}`);
  });

  it.each(WEIRD.map((w) => ({ ...w })))('fill len = $label', ({ label, v }) => {
    const e = env();
    const r = attempt(() => e.p.fill(A_ADDR, v, 1));
    checkOutcome(r, label === '-0' ? 'ok' : 'EINVAL', 'fill', `len ${label}`);
  });

  it.each(WEIRD.map((w) => ({ ...w })))('fill byte = $label', ({ label, v }) => {
    const e = env();
    const r = attempt(() => e.p.fill(A_ADDR, 4, v));
    // Integer numbers (including -1, -0, 2^53, 2^64, -(2^63)) are bytes modulo 256; bigints are not numbers.
    const ok = typeof v === 'number' && Number.isInteger(v);
    checkOutcome(r, ok ? 'ok' : 'EINVAL', 'fill', `byte ${label}`);
  });

  it.each(WEIRD.map((w) => ({ ...w })))('write bytes = $label -> EFAULT', ({ label, v }) => {
    const e = env();
    const r = attempt(() => e.p.write(A_ADDR, v));
    checkOutcome(r, 'EFAULT', 'write', `bytes ${label}`);
  });

  it('typed arrays other than Uint8Array are not byte buffers (EFAULT); Uint8Array views and Buffers are', () => {
    const e = env();
    expectErrno(() => e.p.write(A_ADDR, new Int8Array(4)), 'EFAULT', 'write');
    expectErrno(() => e.p.write(A_ADDR, new DataView(new ArrayBuffer(4))), 'EFAULT', 'write');
    e.p.write(A_ADDR, new Uint8Array(new ArrayBuffer(8), 4, 2).fill(3));
    e.p.write(A_ADDR + 2, Buffer.from([4, 4]));
    expect([...e.p.read(A_ADDR, 4)]).toEqual([3, 3, 4, 4]);
  });
});
