/**
 * Kernel accesses to user memory: copy_to_user / copy_from_user as drivers
 * use them. They go through the MMU like a CPU access (faulting pages in), but
 * a fault that cannot be resolved ends the copy short instead of signalling:
 * the exception-table fixup. The return value is Linux's: the bytes NOT
 * copied (0 on success).
 */
import { Ev } from '../cost/counters.js';
import { SignalError } from '../uapi/errors.js';
import { OomKill, cpuAccess } from './access.js';
import type { Host } from './host.js';
import type { MmStruct } from './mm_types.js';
import { TASK_SIZE } from './page.js';

/** Is [addr, addr + len) a user range at all (access_ok)? */
// mirrors arch/x86/include/asm/uaccess_64.h:__access_ok
export function accessOkRange(addr: number, len: number): boolean {
  return Number.isSafeInteger(addr) && Number.isSafeInteger(len) && addr >= 0 && len >= 0 && addr + len <= TASK_SIZE;
}

/** Run a user access; the number of bytes not done if it faulted. */
function uaccess(host: Host, mm: MmStruct, addr: number, len: number, write: boolean, visit: (f: number, off: number, n: number, at: number) => void): number {
  if (len === 0) return 0;
  if (!accessOkRange(addr, len)) return len;
  let done = 0;
  try {
    cpuAccess(
      host,
      mm,
      addr,
      len,
      write,
      (f, off, n, at) => {
        visit(f, off, n, at);
        done = at + n;
      },
      false,
    );
  } catch (e) {
    // The fixup: an unresolvable fault (or OOM) ends the copy short.
    if (e instanceof SignalError || e instanceof OomKill) return len - done;
    throw e;
  }
  return 0;
}

/** Copy src into user memory at addr; returns the bytes not copied. */
// mirrors include/linux/uaccess.h:copy_to_user
export function copyToUser(host: Host, mm: MmStruct, addr: number, src: Uint8Array): number {
  const left = uaccess(host, mm, addr, src.length, true, (f, off, n, at) => host.content.write(f, 1 << host.ft.order[f]!, off, src, at, n));
  host.ev[Ev.COPY_BYTES] += src.length - left;
  return left;
}

/** Copy len bytes of user memory at addr into dst; returns the bytes not copied. */
// mirrors include/linux/uaccess.h:copy_from_user
export function copyFromUser(host: Host, mm: MmStruct, dst: Uint8Array, addr: number, len: number): number {
  const n = Math.min(len, dst.length);
  const left = uaccess(host, mm, addr, n, false, (f, off, k, at) => host.content.read(f, off, dst, at, k));
  host.ev[Ev.COPY_BYTES] += n - left;
  return left;
}
