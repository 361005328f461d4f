/**
 * get_user_pages / pin_user_pages as the kernel's own callers (drivers, KVM,
 * io_uring, scenarios) use them. These are kernel functions, not syscalls:
 * they return a page count or a negative errno (-22 for -EINVAL), and fill
 * `pages` with pfns, the model's struct page pointers. The Process argument is
 * `current` (or the remote task for the _remote variants).
 */
import * as G from './mm/gup.js';
import type { Host } from './mm/host.js';
import { NO_SITE } from './mm/pin_policy.js';
import type { Process } from './process.js';

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
  constructor(private readonly host: Host) {}

  // A task that has exited has no mm: GUP on it fails with -EFAULT (-14).

  /** get_user_pages(start, nr_pages, gup_flags, pages) */
  get_user_pages(p: Process, start: number, nr_pages: number, gup_flags: number, pages: number[] | null): number {
    if (p.mm === null) return -14;
    return G.getUserPages(this.host, p.mm, start, nr_pages, gup_flags, pages);
  }

  /** get_user_pages_remote(mm, start, nr_pages, gup_flags, pages, NULL) */
  get_user_pages_remote(p: Process, start: number, nr_pages: number, gup_flags: number, pages: number[] | null): number {
    if (p.mm === null) return -14;
    return G.getUserPagesRemote(this.host, p.mm, start, nr_pages, gup_flags, pages);
  }

  /** get_user_pages_fast(start, nr_pages, gup_flags, pages) */
  get_user_pages_fast(p: Process, start: number, nr_pages: number, gup_flags: number, pages: number[]): number {
    if (p.mm === null) return -14;
    return G.getUserPagesFast(this.host, p.mm, start, nr_pages, gup_flags, pages);
  }

  /** get_user_pages_fast_only(start, nr_pages, gup_flags, pages): never falls back to the slow path. */
  get_user_pages_fast_only(p: Process, start: number, nr_pages: number, gup_flags: number, pages: number[]): number {
    if (p.mm === null) return -14;
    return G.getUserPagesFastOnly(this.host, p.mm, start, nr_pages, gup_flags, pages);
  }

  /** pin_user_pages(start, nr_pages, gup_flags, pages): invalid flags give 0, not -EINVAL. */
  pin_user_pages(p: Process, start: number, nr_pages: number, gup_flags: number, pages: number[]): number {
    if (p.mm === null) return -14;
    return G.pinUserPages(this.host, p.mm, start, nr_pages, gup_flags, pages);
  }

  /** pin_user_pages_fast(start, nr_pages, gup_flags, pages) */
  pin_user_pages_fast(p: Process, start: number, nr_pages: number, gup_flags: number, pages: number[]): number {
    if (p.mm === null) return -14;
    return G.pinUserPagesFast(this.host, p.mm, start, nr_pages, gup_flags, pages);
  }

  /** pin_user_pages_remote(mm, start, nr_pages, gup_flags, pages, NULL) */
  pin_user_pages_remote(p: Process, start: number, nr_pages: number, gup_flags: number, pages: number[]): number {
    if (p.mm === null) return -14;
    return G.pinUserPagesRemote(this.host, p.mm, start, nr_pages, gup_flags, pages);
  }

  unpin_user_page(pfn: number): void {
    G.unpinUserPage(this.host, pfn);
  }

  unpin_user_pages(pages: readonly number[], npages: number): void {
    G.unpinUserPages(this.host, pages, npages);
  }

  unpin_user_pages_dirty_lock(pages: readonly number[], npages: number, make_dirty: boolean): void {
    G.unpinUserPagesDirtyLock(this.host, pages, npages, make_dirty);
  }

  /** unpin_exc_pages (exclusive-pin RFC): drop exclusive pins. */
  unpin_exc_pages(pages: readonly number[], npages: number): void {
    G.unpinUserPages(this.host, pages, npages, FOLL_PIN | FOLL_EXCLUSIVE);
  }

  /** unpin_exc_pages_dirty_lock (exclusive-pin RFC). */
  unpin_exc_pages_dirty_lock(pages: readonly number[], npages: number, make_dirty: boolean): void {
    G.unpinUserPagesDirtyLock(this.host, pages, npages, make_dirty, FOLL_PIN | FOLL_EXCLUSIVE);
  }

  /** unexc_user_page (exclusive-pin RFC): keep one normal pin. 0 or -EINVAL. */
  unexc_user_page(pfn: number): number {
    return G.unexcUserPage(this.host, pfn);
  }

  /** reexc_user_page (exclusive-pin RFC): 0, -EINVAL (off, or not PageAnonExclusive) or -EBUSY (not exactly one pin). */
  reexc_user_page(pfn: number): number {
    return G.reexcUserPage(this.host, pfn);
  }

  /** Is the folio holding pfn exclusively pinned? */
  folio_exclusively_pinned(pfn: number): boolean {
    const f = this.host.pfnFolio(pfn);
    return f !== 0 && this.host.pins.exclusivelyPinned(this.host, f);
  }

  folio_add_pin(pfn: number): void {
    G.folioAddPin(this.host, pfn);
  }

  /** Release a FOLL_GET reference. */
  put_page(pfn: number): void {
    G.putPage(this.host, pfn);
  }

  /** folio_maybe_dma_pinned(page_folio(pfn)) under the configured pin accounting. */
  folio_maybe_dma_pinned(pfn: number): boolean {
    const f = this.host.pfnFolio(pfn);
    return f !== 0 && this.host.pins.maybePinned(this.host, f, pfn - this.host.ft.pfn[f]!, 1, NO_SITE);
  }
}
