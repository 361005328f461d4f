/**
 * Converting JS values into the C types of syscall arguments.
 *
 * A syscall argument arrives as any JS value. The kernel sees a C value of the
 * argument's declared type, so we convert the way a C caller's value would
 * arrive: integers wrap modulo 2^64 (two's complement for negatives) and are
 * then read as the parameter's width and signedness. A bigint converts the same
 * way. A value no C caller could pass (NaN, Infinity, a fraction, a string,
 * undefined, an object) has no C value: the converters return null and the
 * syscall's validator picks the errno (EINVAL for numbers, EBADF for fds,
 * EFAULT for pointers), at the point where the kernel would look at it.
 *
 * Results are bigints so that validation arithmetic (overflow, alignment,
 * TASK_SIZE checks) is exact for all 64-bit values; validators convert to a JS
 * number once a value is known to be below 2^53.
 */

const U64 = 64;

/** The 64-bit pattern a C caller would pass for v, or null if v has no C value. */
function bits64(v: unknown): bigint | null {
  if (typeof v === 'bigint') return BigInt.asUintN(U64, v);
  if (typeof v !== 'number' || !Number.isInteger(v)) return null;
  return BigInt.asUintN(U64, BigInt(v));
}

/** unsigned long / size_t. */
export function cULong(v: unknown): bigint | null {
  return bits64(v);
}

/** long / loff_t / off_t / ssize_t. */
export function cLong(v: unknown): bigint | null {
  const b = bits64(v);
  return b === null ? null : BigInt.asIntN(U64, b);
}

/** int. */
export function cInt(v: unknown): number | null {
  const b = bits64(v);
  return b === null ? null : Number(BigInt.asIntN(32, b));
}

/** unsigned int. */
export function cUInt(v: unknown): number | null {
  const b = bits64(v);
  return b === null ? null : Number(BigInt.asUintN(32, b));
}

/** A bigint known to be small enough, as a JS number. */
export function num(b: bigint): number {
  return Number(b);
}
