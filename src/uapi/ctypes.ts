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
  // The common case, an address or length below 2^53, needs no wrapping (one bigint, not two).
  if (v >= 0 && v <= Number.MAX_SAFE_INTEGER) return BigInt(v);
  return BigInt.asUintN(U64, BigInt(v));
}

/** unsigned long / size_t. */
export function cULong(v: unknown): bigint | null {
  return bits64(v);
}

/**
 * A u64 (unsigned long, __u64 struct field) as a JS number, for validators
 * whose every bound is below 2^53 (an offset into a file, a page count): the
 * exact value while it is at most Number.MAX_SAFE_INTEGER, Infinity above it
 * (no such value can pass a bound check), null for a value with no C value.
 * The common case, a small non-negative integer, makes no bigint.
 */
export function cU64Bounded(v: unknown): number | null {
  if (typeof v === 'number' && v >= 0 && v <= Number.MAX_SAFE_INTEGER && Number.isInteger(v)) return v;
  const b = bits64(v);
  if (b === null) return null;
  return b <= MAX_SAFE ? Number(b) : Infinity;
}

/** long / loff_t / off_t / ssize_t. */
export function cLong(v: unknown): bigint | null {
  const b = bits64(v);
  return b === null ? null : BigInt.asIntN(U64, b);
}

const TWO32 = 2 ** 32;

/** The low 32 bits of a safe integer, unsigned (exact in doubles: no bigint for the common case). */
function low32(v: number): number {
  const r = v % TWO32;
  return r < 0 ? r + TWO32 : r + 0; // + 0: -0 becomes 0, as Number(0n)
}

/** int. */
export function cInt(v: unknown): number | null {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return low32(v) | 0;
  const b = bits64(v);
  return b === null ? null : Number(BigInt.asIntN(32, b));
}

/** unsigned int. */
export function cUInt(v: unknown): number | null {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return low32(v);
  const b = bits64(v);
  return b === null ? null : Number(BigInt.asUintN(32, b));
}

/** A bigint known to be small enough, as a JS number. */
export function num(b: bigint): number {
  return Number(b);
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * A 64-bit size, offset or address in a result (st_size, an smaps offset): a
 * number, as Node's fs.fstatSync gives, while it is exact (at most
 * Number.MAX_SAFE_INTEGER, 2^53 - 1); the exact bigint above that, where a
 * number would be rounded (a tmpfs file can be 2^63 - 1 bytes long).
 */
export function resultSize(b: bigint): number | bigint {
  return b <= MAX_SAFE && b >= -MAX_SAFE ? Number(b) : b;
}

// ---------------------------------------------------------------------------
// User buffers.
//
// A buffer argument (void __user *buf) is a Uint8Array: its bytes are the user
// memory the kernel copies to or from. Probing an arbitrary JS value with
// `instanceof` or property reads can run user code (Proxy traps, getters,
// Symbol.hasInstance) and throw a TypeError, e.g. for a revoked Proxy. The
// intrinsic %TypedArray%.prototype getters below never do: they read internal
// slots and answer undefined (toStringTag) for anything that is not a typed
// array, so the probe cannot throw and cannot be lied to (an own `length`
// property or a swapped prototype does not change what they report).

const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype) as object;

function intrinsicGetter(name: PropertyKey): (this: unknown) => unknown {
  const get = Object.getOwnPropertyDescriptor(TypedArrayPrototype, name)?.get;
  if (get === undefined) throw new Error(`internal: %TypedArray%.prototype has no ${String(name)} getter`);
  return get as (this: unknown) => unknown;
}

const typedArrayName = intrinsicGetter(Symbol.toStringTag);
const typedArrayBuffer = intrinsicGetter('buffer');
const typedArrayByteOffset = intrinsicGetter('byteOffset');
const typedArrayLength = intrinsicGetter('length');

/**
 * The user memory a buffer argument names: a fresh Uint8Array view of the
 * same bytes as a Uint8Array argument (so the kernel never calls methods of
 * the caller's object), or null for any other value (no C pointer: EFAULT
 * where the kernel copies). A detached or out-of-bounds array is an empty
 * buffer (every byte "unmapped").
 */
/** The kind ('Float64Array', ...) and length of a typed array, read from its internal slots (no getter or Proxy trap runs); null for anything else. */
export function typedArrayInfo(v: unknown): { kind: string; length: number } | null {
  const kind = typedArrayName.call(v);
  return typeof kind === 'string' ? { kind, length: typedArrayLength.call(v) as number } : null;
}

export function cUserBuffer(v: unknown): Uint8Array | null {
  if (typedArrayName.call(v) !== 'Uint8Array') return null;
  const length = typedArrayLength.call(v) as number;
  if (length === 0) return new Uint8Array(0);
  return new Uint8Array(typedArrayBuffer.call(v) as ArrayBufferLike, typedArrayByteOffset.call(v) as number, length);
}

// ---------------------------------------------------------------------------
// Structs passed by pointer (ioctl arguments).
//
// The caller passes an object with the C struct's field names. copy_from_user
// reads each field once (an absent field is 0, as in a zeroed struct); an
// argument that is not an object, or whose reading throws (a getter, a revoked
// Proxy), is a bad pointer: EFAULT. copy_to_user writes the out-fields back;
// a write that throws (a frozen object) is EFAULT too.

/** The fields of a struct argument, each read once; null means EFAULT. */
export function copyStructFromUser(arg: unknown, fields: readonly string[]): Record<string, unknown> | null {
  if (arg === null || (typeof arg !== 'object' && typeof arg !== 'function')) return null;
  const out: Record<string, unknown> = {};
  try {
    for (const k of fields) out[k] = (arg as Record<string, unknown>)[k] ?? 0;
  } catch {
    return null;
  }
  return out;
}

/** Write out-fields back into a struct argument; false means EFAULT. */
export function copyStructToUser(arg: unknown, values: Readonly<Record<string, unknown>>): boolean {
  try {
    for (const k of Object.keys(values)) (arg as Record<string, unknown>)[k] = values[k];
    return true;
  } catch {
    return false;
  }
}
