/**
 * Copying struct iovec arrays in from the caller (lib/iov_iter.c's
 * copy_iovec_from_user), for vmsplice and io_uring buffer registration. Not
 * part of the public uapi surface (the constants are in uio.ts).
 */
import type { ErrnoName } from './errno.js';
import { cLong, cULong } from './ctypes.js';

/**
 * One copied-in iovec: the base as an unsigned long (null: a value no C
 * caller could pass, a bad pointer wherever the kernel checks it), the length
 * as a non-negative ssize_t.
 */
export interface KIovec {
  base: bigint | null;
  len: bigint;
}

/**
 * copy_iovec_from_user for nr segments of a user iovec array: reads each
 * element's fields once. Returns the segments, or EFAULT (the array or an
 * element is not readable: not an object, a throwing getter, beyond the end
 * of the array) or EINVAL (an iov_len that is negative as a ssize_t, or has
 * no C value). An iov_base with no C value comes back as null (EFAULT
 * later, where the kernel checks the pointer).
 */
// mirrors lib/iov_iter.c:copy_iovec_from_user (first: the array index to start at, for callers that step through it)
export function copyIovecFromUser(uvec: unknown, nr: number, first = 0): KIovec[] | ErrnoName {
  if (uvec === null || (typeof uvec !== 'object' && typeof uvec !== 'function')) return 'EFAULT';
  const out: KIovec[] = [];
  let isArray: boolean;
  try {
    isArray = Array.isArray(uvec);
  } catch {
    return 'EFAULT'; // a revoked Proxy
  }
  for (let k = first; k < first + nr; k++) {
    let el: unknown;
    let base: unknown;
    let len: unknown;
    try {
      el = isArray ? (uvec as unknown[])[k] : k === 0 ? uvec : undefined;
      if (el === null || (typeof el !== 'object' && typeof el !== 'function')) return 'EFAULT';
      // unsafe_get_user(len, &uiov->iov_len), then the base.
      len = (el as Record<string, unknown>).iov_len ?? 0;
      base = (el as Record<string, unknown>).iov_base ?? 0;
    } catch {
      return 'EFAULT';
    }
    const l = cLong(len);
    // Check for size_t not fitting in ssize_t.
    if (l === null || l < 0n) return 'EINVAL';
    out.push({ base: cULong(base), len: l });
  }
  return out;
}
