/**
 * get_user_pages / pin_user_pages as the kernel's own callers (drivers, KVM,
 * io_uring, scenarios) use them. These are kernel functions, not syscalls:
 * they return a page count or a negative errno (-22 for -EINVAL), and fill
 * `pages` with pfns, the model's struct page pointers. The Process argument is
 * `current` (or the remote task for the _remote variants).
 */
import * as G from './mm/gup.js';
import { warn } from './mm/debug.js';
import { isZeroFolio } from './mm/folio.js';
import type { Host } from './mm/host.js';
import { NO_SITE } from './mm/pin_policy.js';
import type { MmStruct } from './mm/mm_types.js';
import { type Process, taskMm } from './process.js';

/** FOLL_* values (include/linux/mm_types.h): the flags callers may pass. */
export const FOLL_WRITE = 1 << 0;
export const FOLL_GET = 1 << 1;
export const FOLL_DUMP = 1 << 2;
export const FOLL_FORCE = 1 << 3;
export const FOLL_NOWAIT = 1 << 4;
export const FOLL_NOFAULT = 1 << 5;
export const FOLL_HWPOISON = 1 << 6;
export const FOLL_ANON = 1 << 7;
export const FOLL_LONGTERM = 1 << 8;
export const FOLL_SPLIT_PMD = 1 << 9;
export const FOLL_PCI_P2PDMA = 1 << 10;
export const FOLL_INTERRUPTIBLE = 1 << 11;
export const FOLL_HONOR_NUMA_FAULT = 1 << 12;
/** The exclusive-pin RFC's flag (not upstream; needs the exclusivePin policy). */
export const FOLL_EXCLUSIVE = 1 << 13;
/** Internal flags (mm/internal.h): refused when passed in. */
export const FOLL_TOUCH = 1 << 16;
export const FOLL_PIN = 1 << 19;

/** The GUP API of one kernel. */
export class KernelGup {
  readonly #host: Host;
  #scratch: number[] | null = [];

  /** @internal Made by the Kernel (kernel.gup). */
  constructor(host: Host) {
    this.#host = host;
  }

  /**
   * One call of the GUP family. A task that has exited has no mm, and
   * anything that is not a Process is no task: -EFAULT. The other arguments
   * are checked by mm/gup.c's code, in its order. The pfns are gathered into
   * an array of the model's own and stored into pages at the end: if pages is
   * not an extensible array (or null, where the function takes null), or a
   * store fails (a Proxy's trap throws), what was taken is released and the
   * answer is -EFAULT, as a fault on the kernel's store into pages would be.
   */
  #gup(fn: GupFn, p: unknown, start: unknown, nrPages: unknown, gupFlags: unknown, pages: unknown): number {
    const mm = taskMm(p);
    if (mm === undefined || mm === null) return -EFAULT;
    // A scratch array of this instance, unless a nested call (a userfaultfd monitor pinning) holds it.
    const scratch = this.#scratch !== null && pages !== null ? this.#scratch : null;
    const out: number[] | null = pages === null ? null : (scratch ?? []);
    if (scratch !== null) {
      this.#scratch = null;
      scratch.length = 0;
    }
    let ret: number;
    try {
      ret = fn(this.#host, mm, start, nrPages, gupFlags, out as number[]);
    } finally {
      if (scratch !== null) this.#scratch = scratch;
    }
    if (out === null || ret <= 0) return ret;
    try {
      if (!Array.isArray(pages) || !Object.isExtensible(pages)) throw new RangeError('pages');
      for (let i = 0; i < ret; i++) (pages as number[])[i] = out[i]!;
    } catch {
      const pin = fn === G.pinUserPages || fn === G.pinUserPagesFast || fn === G.pinUserPagesRemote;
      if (pin) G.unpinUserPages(this.#host, out, ret, FOLL_PIN | (typeof gupFlags === 'number' ? gupFlags & FOLL_EXCLUSIVE : 0));
      else for (let i = 0; i < ret; i++) G.putPage(this.#host, out[i]!);
      return -EFAULT;
    }
    return ret;
  }

  /** get_user_pages(start, nr_pages, gup_flags, pages) */
  get_user_pages(p: Process, start: number, nr_pages: number, gup_flags: number, pages: number[] | null): number {
    return this.#gup(G.getUserPages, p, start, nr_pages, gup_flags, pages);
  }

  /** get_user_pages_remote(mm, start, nr_pages, gup_flags, pages, NULL) */
  get_user_pages_remote(p: Process, start: number, nr_pages: number, gup_flags: number, pages: number[] | null): number {
    return this.#gup(G.getUserPagesRemote, p, start, nr_pages, gup_flags, pages);
  }

  /** get_user_pages_fast(start, nr_pages, gup_flags, pages) */
  get_user_pages_fast(p: Process, start: number, nr_pages: number, gup_flags: number, pages: number[]): number {
    return this.#gup(G.getUserPagesFast, p, start, nr_pages, gup_flags, pages);
  }

  /** get_user_pages_fast_only(start, nr_pages, gup_flags, pages): never falls back to the slow path. */
  get_user_pages_fast_only(p: Process, start: number, nr_pages: number, gup_flags: number, pages: number[]): number {
    return this.#gup(G.getUserPagesFastOnly, p, start, nr_pages, gup_flags, pages);
  }

  /** pin_user_pages(start, nr_pages, gup_flags, pages): invalid flags give 0, not -EINVAL. */
  pin_user_pages(p: Process, start: number, nr_pages: number, gup_flags: number, pages: number[]): number {
    return this.#gup(G.pinUserPages, p, start, nr_pages, gup_flags, pages);
  }

  /** pin_user_pages_fast(start, nr_pages, gup_flags, pages) */
  pin_user_pages_fast(p: Process, start: number, nr_pages: number, gup_flags: number, pages: number[]): number {
    return this.#gup(G.pinUserPagesFast, p, start, nr_pages, gup_flags, pages);
  }

  /** pin_user_pages_remote(mm, start, nr_pages, gup_flags, pages, NULL) */
  pin_user_pages_remote(p: Process, start: number, nr_pages: number, gup_flags: number, pages: number[]): number {
    return this.#gup(G.pinUserPagesRemote, p, start, nr_pages, gup_flags, pages);
  }

  /**
   * Does the caller hold a pin (or a FOLL_GET reference) on pfn, by the GUP
   * ledger? Releasing one it does not hold would, in Linux, underflow the
   * refcount and free a page still mapped (a VM_BUG_ON_FOLIO with
   * CONFIG_DEBUG_VM); the model refuses it with a WARN in dmesg instead, so a
   * caller's bug cannot corrupt the state the oracle checks. The zero page
   * is never pinned (its release is a no-op).
   */
  #held(pfn: unknown, pin: boolean, fn: string): boolean {
    if (!isPfn(pfn)) return false;
    const h = this.#host;
    const f = h.pfnFolio(pfn);
    if (f === 0) return false;
    const page = pfn - h.ft.pfn[f]!;
    const held = pin ? h.pinnedPages(f, page) > 0 || isZeroFolio(h.ft, f) : (h.ft.order[f] === 0 ? h.ft.ledgerGets[f]! : h.getLedger.get(pfn)) > 0;
    return !warn(h, !held, `${fn}: pfn ${pfn} holds no ${pin ? 'pin' : 'reference'} from GUP`, `mm/gup.c:${fn}`);
  }

  /** Release the entries of pages one at a time, each only if still held (see #held; a pfn listed twice with one pin is released once). */
  #releaseEach(pages: readonly number[], fn: string, release: (one: number[]) => void): void {
    for (const pfn of pages) if (pfn !== undefined && this.#held(pfn, true, fn)) release([pfn]);
  }

  // The release side takes pfns (the model's struct page pointers). A value
  // that is no pfn (not a non-negative safe integer) points at no page: it is
  // skipped, as a NULL entry is.

  unpin_user_page(pfn: number): void {
    if (this.#held(pfn, true, 'unpin_user_page')) G.unpinUserPage(this.#host, pfn);
  }

  unpin_user_pages(pages: readonly number[], npages: number): void {
    const got = pageArray(pages, npages);
    if (got !== null) this.#releaseEach(got, 'unpin_user_pages', (one) => G.unpinUserPages(this.#host, one, 1));
  }

  unpin_user_pages_dirty_lock(pages: readonly number[], npages: number, make_dirty: boolean): void {
    const got = pageArray(pages, npages);
    if (got !== null) this.#releaseEach(got, 'unpin_user_pages_dirty_lock', (one) => G.unpinUserPagesDirtyLock(this.#host, one, 1, Boolean(make_dirty)));
  }

  /** unpin_exc_pages (exclusive-pin RFC): drop exclusive pins. */
  unpin_exc_pages(pages: readonly number[], npages: number): void {
    const got = pageArray(pages, npages);
    if (got !== null) this.#releaseEach(got, 'unpin_exc_pages', (one) => G.unpinUserPages(this.#host, one, 1, FOLL_PIN | FOLL_EXCLUSIVE));
  }

  /** unpin_exc_pages_dirty_lock (exclusive-pin RFC). */
  unpin_exc_pages_dirty_lock(pages: readonly number[], npages: number, make_dirty: boolean): void {
    const got = pageArray(pages, npages);
    if (got !== null) this.#releaseEach(got, 'unpin_exc_pages_dirty_lock', (one) => G.unpinUserPagesDirtyLock(this.#host, one, 1, Boolean(make_dirty), FOLL_PIN | FOLL_EXCLUSIVE));
  }

  /** unexc_user_page (exclusive-pin RFC): keep one normal pin. 0 or -EINVAL. */
  unexc_user_page(pfn: number): number {
    return isPfn(pfn) ? G.unexcUserPage(this.#host, pfn) : -EINVAL;
  }

  /** reexc_user_page (exclusive-pin RFC): 0, -EINVAL (off, or not PageAnonExclusive) or -EBUSY (not exactly one pin). */
  reexc_user_page(pfn: number): number {
    return isPfn(pfn) ? G.reexcUserPage(this.#host, pfn) : -EINVAL;
  }

  /** Is the folio holding pfn exclusively pinned? */
  folio_exclusively_pinned(pfn: number): boolean {
    const f = isPfn(pfn) ? this.#host.pfnFolio(pfn) : 0;
    return f !== 0 && this.#host.pins.exclusivelyPinned(this.#host, f);
  }

  folio_add_pin(pfn: number): void {
    if (this.#held(pfn, true, 'folio_add_pin')) G.folioAddPin(this.#host, pfn);
  }

  /** Release a FOLL_GET reference. */
  put_page(pfn: number): void {
    if (this.#held(pfn, false, 'put_page')) G.putPage(this.#host, pfn);
  }

  /** folio_maybe_dma_pinned(page_folio(pfn)) under the configured pin accounting. */
  folio_maybe_dma_pinned(pfn: number): boolean {
    const f = isPfn(pfn) ? this.#host.pfnFolio(pfn) : 0;
    return f !== 0 && this.#host.pins.maybePinned(this.#host, f, pfn - this.#host.ft.pfn[f]!, 1, NO_SITE);
  }
}

type GupFn = (host: Host, mm: MmStruct, start: unknown, nrPages: unknown, gupFlags: unknown, pages: number[]) => number;

const EFAULT = 14;
const EINVAL = 22;

function isPfn(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * The first npages entries of a pages array, read once; entries that are no
 * pfn become NULL (skipped). An npages that is not a count or an array that
 * cannot be read releases nothing (Linux would WARN or oops).
 */
function pageArray(pages: unknown, npages: unknown): number[] | null {
  const n = typeof npages === 'bigint' ? Number(BigInt.asIntN(64, npages)) : npages;
  if (typeof n !== 'number' || !(n > 0)) return null;
  try {
    if (!Array.isArray(pages)) return null;
    const arr = pages as unknown[];
    const len = Math.min(n, arr.length);
    const out: (number | undefined)[] = [];
    for (let i = 0; i < len; i++) {
      const v = arr[i];
      out.push(isPfn(v) ? v : undefined);
    }
    // undefined entries are NULL pages, which mm/gup.ts skips.
    return out as number[];
  } catch {
    return null;
  }
}

