/**
 * 2^n for an integer n in [0, 63], exact as a double. `2 ** n` with a
 * variable n compiles to a call of the C library's pow (about 50 ns in V8,
 * against a few for a load), and the model computes folio and entry sizes
 * on every fault, map and page-cache store. Orders below 31 may also use
 * `1 << n`; this covers the wider ones (file offsets, 1 GiB spans in pages).
 */
const POW2 = Float64Array.from({ length: 64 }, (_, i) => 2 ** i);

export function pow2(n: number): number {
  return POW2[n]!;
}

/**
 * a mod b for b a power of two (a and b integers below 2^53; the result is
 * in [0, b), also for a negative a). A `%` of doubles (every value loaded
 * from a Float64Array, every pfn and file offset) compiles to a call of the
 * C library's fmod in V8, about 12 ns; this is a divide, a floor and a
 * multiply. The model takes page offsets and alignments on every fault,
 * lookup and map.
 */
export function modPow2(a: number, b: number): number {
  return a - Math.floor(a / b) * b;
}
