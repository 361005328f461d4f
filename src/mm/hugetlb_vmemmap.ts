/**
 * HugeTLB Vmemmap Optimization, HVO (mirrors mm/hugetlb_vmemmap.c).
 *
 * A struct page is 64 bytes, so one 4 KiB vmemmap page describes 64 base
 * pages: a 2 MiB HugeTLB folio has 8 vmemmap pages, a 1 GiB one 4,096. Only
 * the head's first struct pages carry information; HVO keeps one vmemmap page
 * (HUGETLB_VMEMMAP_RESERVE_SIZE), maps every other one read-only onto it and
 * frees the rest: 7 pages per 2 MiB, 4,095 per 1 GiB. Restoring (before the
 * folio goes back to the buddy allocator: shrink, dissolve, demote, split)
 * allocates 7 / 4,095 pages again and can fail with ENOMEM.
 *
 * The model keeps no struct pages, only where each vmemmap page lives:
 *
 *   bootGone  vmemmap page indices (pfn / 64) whose boot-memmap page was freed
 *             (free_bootmem_page: the page joined the buddy allocator and
 *             MemTotal); such an index is now backed by a buddy page, or by
 *             nothing while its folio is optimized
 *   buddy     pfns the buddy allocator gave to the vmemmap (the new head page
 *             of an optimization, restored pages); which pfn backs which index
 *             does not matter to anything the model reports, so a freed buddy
 *             vmemmap page is any of them
 *
 * Both are extent sets: they grow with the number of optimized folios' runs,
 * not with memory. Boot memmap page i is pfn totalPages + i (page_alloc.ts).
 * Counters: nr_memmap_boot_pages, nr_memmap_pages (/proc/vmstat), and the cost
 * counters vmemmap_optimize / vmemmap_restore (vmemmap pages saved / brought
 * back: 7 or 4,095 per folio) and synchronize_rcu (once per batch).
 *
 * Simplifications: the vmemmap PMD split (vmemmap_remap_split, one page-table
 * page) is not modelled, and optimizing allocates the new head page before
 * freeing the old pages, so it fails only when not one page is free.
 */
import { pow2 } from '../lib/pow2.js';
import { ExtentSet } from '../lib/extent_set.js';
import { Ev } from '../cost/counters.js';
import { PG } from './folio.js';
import type { Host } from './host.js';
import { GFP_KERNEL, MEMMAP_PAGES_PER_PAGE } from './page_alloc.js';

/** HUGETLB_VMEMMAP_RESERVE_PAGES: vmemmap pages an optimized folio keeps. */
export const HUGETLB_VMEMMAP_RESERVE_PAGES = 1;
/** sizeof(struct page) on x86-64. */
export const STRUCT_PAGE_SIZE = 64;

/** Where the vmemmap lives (see the file comment). One per Host. */
export class VmemmapState {
  readonly bootGone = new ExtentSet();
  readonly buddy = new ExtentSet();
  /** nr_memmap_boot_pages: vmemmap pages still from the boot allocator. */
  bootPages: number;
  /** nr_memmap_pages: vmemmap pages from the buddy allocator. */
  buddyPages = 0;

  constructor(bootPages: number) {
    this.bootPages = bootPages;
  }
}

/** Vmemmap pages describing a folio of 2^order pages (hugetlb_vmemmap_size / PAGE_SIZE). */
export function hugetlbVmemmapPages(order: number): number {
  return Math.max(1, pow2(order) / MEMMAP_PAGES_PER_PAGE);
}

/** Vmemmap pages HVO frees for a folio of 2^order pages (hugetlb_vmemmap_optimizable_size / PAGE_SIZE). */
// mirrors mm/hugetlb_vmemmap.h:hugetlb_vmemmap_optimizable_size
export function hugetlbVmemmapOptimizablePages(order: number): number {
  const n = hugetlbVmemmapPages(order) - HUGETLB_VMEMMAP_RESERVE_PAGES;
  return n > 0 ? n : 0;
}

/** Vmemmap bytes of a HugeTLB folio of 2^order pages, with or without HVO. */
export function hugetlbVmemmapBytes(order: number, optimized: boolean): number {
  return (optimized ? HUGETLB_VMEMMAP_RESERVE_PAGES : hugetlbVmemmapPages(order)) * 4096;
}

/**
 * Are the folio's tail struct pages shared read-only (HVO)? Then nothing may
 * write per-subpage state (a per-page _mapcount, PageAnonExclusive of a tail,
 * HWPoison of a subpage) until the vmemmap is restored.
 */
// mirrors include/linux/page-flags.h:folio_test_hugetlb_vmemmap_optimized
export function folioVmemmapOptimized(host: Host, f: number): boolean {
  return (host.ft.flags[f]! & PG.VMEMMAP_OPTIMIZED) !== 0;
}

/** Batch flags (VMEMMAP_SYNCHRONIZE_RCU: wait for a grace period before remapping). */
export const VMEMMAP_SYNCHRONIZE_RCU = 1;

/** Free the vmemmap pages of indices [lo, hi): boot pages to the buddy allocator, buddy pages back to it. */
// mirrors mm/hugetlb_vmemmap.c:free_vmemmap_page_list (free_vmemmap_page per page)
function freeVmemmapRange(host: Host, lo: number, hi: number): void {
  const v = host.vmemmap;
  const pa = host.pa;
  // Buddy-backed indices (their boot page went earlier) and boot-backed ones, as flat [start, end) pairs.
  const gone: number[] = [];
  v.bootGone.collect(lo, hi, gone);
  let buddyBacked = 0;
  let at = lo;
  for (let i = 0; i < gone.length; i += 2) {
    const s = gone[i]!;
    const e = gone[i + 1]!;
    buddyBacked += e - s;
    if (s > at) freeBootVmemmap(host, at, s);
    at = e;
  }
  if (at < hi) freeBootVmemmap(host, at, hi);
  // Any buddy vmemmap pages will do (which pfn backs which index is not modelled): the lowest.
  const taken: number[] = [];
  if (buddyBacked > 0) v.buddy.collect(0, Number.MAX_SAFE_INTEGER, taken, buddyBacked);
  for (let i = 0; i < taken.length; i += 2) {
    v.buddy.remove(taken[i]!, taken[i + 1]!);
    pa.freePagesRange(taken[i]!, taken[i + 1]!);
  }
  v.buddyPages -= buddyBacked;
}

/** Boot-memmap vmemmap pages of indices [s, e) join the buddy allocator (free_bootmem_page). */
function freeBootVmemmap(host: Host, s: number, e: number): void {
  const v = host.vmemmap;
  host.pa.freeReservedPages(host.pa.totalPages + s, host.pa.totalPages + e);
  v.bootGone.add(s, e);
  v.bootPages -= e - s;
}

/**
 * Optimize folio f's vmemmap if HVO is on (vm.hugetlb_optimize_vmemmap) and it
 * is not already. Returns 0, or -ENOMEM (-12) when not even the new head page
 * can be allocated (the folio then stays unoptimized, as in Linux).
 */
// mirrors mm/hugetlb_vmemmap.c:__hugetlb_vmemmap_optimize_folio
export function hugetlbVmemmapOptimizeFolio(host: Host, f: number, flags: number, enabled: boolean): number {
  const ft = host.ft;
  if (ft.flags[f]! & PG.VMEMMAP_OPTIMIZED || !enabled) return 0;
  const order = ft.order[f]!;
  const freed = hugetlbVmemmapOptimizablePages(order);
  if (freed === 0) return 0;
  if (flags & VMEMMAP_SYNCHRONIZE_RCU) host.ev[Ev.SYNCHRONIZE_RCU]++;
  // The new head vmemmap page (a copy of the old one).
  const head = host.pa.allocPages(0, GFP_KERNEL);
  if (head < 0) return -12;
  const lo = ft.pfn[f]! / MEMMAP_PAGES_PER_PAGE;
  freeVmemmapRange(host, lo, lo + hugetlbVmemmapPages(order));
  host.vmemmap.buddy.add(head, head + 1);
  host.vmemmap.buddyPages++;
  ft.flags[f]! |= PG.VMEMMAP_OPTIMIZED;
  host.ev[Ev.VMEMMAP_OPTIMIZE] += freed;
  return 0;
}

/**
 * Bring back folio f's vmemmap: allocate the 7 / 4,095 pages HVO freed.
 * Returns 0, or -ENOMEM (-12) with nothing changed.
 */
// mirrors mm/hugetlb_vmemmap.c:__hugetlb_vmemmap_restore_folio (vmemmap_remap_alloc + alloc_vmemmap_page_list)
export function hugetlbVmemmapRestoreFolio(host: Host, f: number, flags: number): number {
  const ft = host.ft;
  if (!(ft.flags[f]! & PG.VMEMMAP_OPTIMIZED)) return 0;
  if (flags & VMEMMAP_SYNCHRONIZE_RCU) host.ev[Ev.SYNCHRONIZE_RCU]++;
  const n = hugetlbVmemmapOptimizablePages(ft.order[f]!);
  // The pages alloc_vmemmap_page_list takes one by one, as runs (all or none).
  const runs: number[] = [];
  if (host.pa.allocPagesBulk(n, GFP_KERNEL, runs) < 0) return -12;
  for (let r = 0; r < runs.length; r += 2) host.vmemmap.buddy.add(runs[r]!, runs[r + 1]!);
  host.vmemmap.buddyPages += n;
  ft.flags[f]! &= ~PG.VMEMMAP_OPTIMIZED;
  host.ev[Ev.VMEMMAP_RESTORE] += n;
  return 0;
}

/**
 * Restore the vmemmap of every optimized folio in the list, one grace period
 * for the batch. Returns the number restored, or -ENOMEM at the first
 * failure (the folios before it stay restored).
 */
// mirrors mm/hugetlb_vmemmap.c:hugetlb_vmemmap_restore_folios
export function hugetlbVmemmapRestoreFolios(host: Host, folios: readonly number[]): number {
  let flags = VMEMMAP_SYNCHRONIZE_RCU;
  let restored = 0;
  for (const f of folios) {
    if (!(host.ft.flags[f]! & PG.VMEMMAP_OPTIMIZED)) continue;
    const r = hugetlbVmemmapRestoreFolio(host, f, flags);
    // Only one synchronize_rcu() per batch.
    flags &= ~VMEMMAP_SYNCHRONIZE_RCU;
    if (r !== 0) return r;
    restored++;
  }
  return restored;
}

/** Optimize a batch of new pool folios, one grace period for all. */
// mirrors mm/hugetlb_vmemmap.c:hugetlb_vmemmap_optimize_folios
export function hugetlbVmemmapOptimizeFolios(host: Host, folios: readonly number[], enabled: boolean): void {
  let flags = VMEMMAP_SYNCHRONIZE_RCU;
  for (const f of folios) {
    if (host.ft.flags[f]! & PG.VMEMMAP_OPTIMIZED || !enabled) continue;
    hugetlbVmemmapOptimizeFolio(host, f, flags, enabled);
    flags &= ~VMEMMAP_SYNCHRONIZE_RCU;
  }
}
