/**
 * Page faults and unmapping (mirrors mm/memory.c): handle_mm_fault and its
 * anonymous, COW and file paths; zapping page ranges; unmap_mapping_range.
 *
 * Reference rule (include/linux/mm.h): a present PTE or PMD mapping a folio
 * holds one folio reference. A newly allocated folio's first reference becomes
 * its first mapping's; a ->fault lookup reference becomes the new PTE's.
 */
import { modPow2, pow2 } from '../lib/pow2.js';
import { Ev } from '../cost/counters.js';
import {
  PG,
  folioMapped,
  folioNrPages,
  folioTestAnon,
  pageAnonExclusive,
  setPageAnonExclusive,
} from './folio.js';
import { FaultFlag, VmFault, type AddressSpace, type VmFaultArgs } from './fs_types.js';
import type { Host } from './host.js';
import {
  addMmCounter,
  doHugePmdAnonymousPage,
  doHugePmdWpPage,
  doSetPmd,
  maybeMkwrite,
  mmCounterFile,
  splitHugePmd,
  TVA_ENFORCE_SYSFS,
  TVA_IN_PF,
  highestOrder,
  thpVmaAllowable,
  thpVmaAllowableOrders,
  thpVmaSuitableOrders,
  zapHugePmd,
} from './huge_memory.js';
import { MmCounter, VM, type Vma, linearPageIndex, vmaIsAnonymous, vmaPages } from './mm_types.js';
import { khugepagedEnterVma } from './khugepaged.js';
import { MmuNotifyEvent, invalidateEnd, invalidateStart } from './mmu_notifier.js';
import { hugetlbFault, unmapHugepageRangeLocked } from './hugetlb.js';
import { GFP_HIGHUSER_MOVABLE } from './page_alloc.js';
import { MthpStat, modMthpStat } from './vmstat.js';
import { HPAGE_PMD_ORDER, Level, PAGE_SIZE, PGDIR_SIZE, PMD_SIZE, PTRS_PER_TABLE, PUD_SIZE, alignDown, tableIndex } from './page.js';
import { MARKER_UFFD_WP, MKDIRTY, type PageTable, Pte, allocChild, clearEntry, isPteMarker, isSwapEntry, pteMarkerUffdWp, setEntry, tableAlloc } from './pgtable.js';
import { RMAP_EXCLUSIVE, RMAP_NONE, anonVmaPrepare, folioAddAnonRmap, folioAddFileRmap, folioAddLru, folioAddNewAnonRmap, folioMoveAnonRmap, folioRemoveRmap } from './rmap.js';
import { SWP, addToSwapCache, folioFreeSwap, folioSwapped, swapFreeNr, swapReadFolio, swpOffset } from './swapfile.js';
import { flushTlbRange } from './tlb.js';
import { handleUserfault, uffdDisableFaultAround, userfaultfdArmed, userfaultfdMissing, userfaultfdPteWp, userfaultfdWp } from './userfaultfd_k.js';

/** vmf->real_address of the fault being handled: the faulting byte, for UFFD_FEATURE_EXACT_ADDRESS. */
let $realAddress = 0;

/**
 * The folio a present entry maps, or 0 for special mappings (the zero page,
 * PFN maps) that have no refcounted page. Sets $page to the page index in it.
 */
// mirrors mm/memory.c:vm_normal_page
export function vmNormalPage(host: Host, pfn: number, fl: number): number {
  if (fl & Pte.SPECIAL) return 0;
  return host.pfnFolio(pfn);
}

/** Page index of pfn within folio f (folio_page_idx). */
export function folioPageIdx(host: Host, f: number, pfn: number): number {
  return pfn - host.ft.pfn[f]!;
}

// mirrors mm/memory.c:vmf_anon_prepare
function anonPrepare(host: Host, vma: Vma): void {
  anonVmaPrepare(host, vma);
}

/** The PTE table under PMD entry i, allocating it when the PMD is none (pte_alloc). */
function pteAlloc(host: Host, vma: Vma, pmdT: PageTable, i: number): PageTable | null {
  const fl = pmdT.fl[i]!;
  if (fl === 0) return allocChild(host, vma.mm, pmdT, i);
  if (fl & Pte.PSE) return null;
  return pmdT.kids![i]!;
}

/**
 * Handle a fault at address in vma: the access was not allowed by the page
 * tables, and the VMA permits it (the arch fault handler has checked). Returns
 * VM_FAULT bits; 0 means the access can be retried. address may be any byte of
 * the page: like __handle_mm_fault's vmf->address, every path below sees it
 * page aligned (rmap indices, ->fault and ->page_mkwrite arguments derive from it).
 */
// mirrors mm/memory.c:handle_mm_fault (and __handle_mm_fault)
export function handleMmFault(host: Host, vma: Vma, realAddress: number, flags: number): number {
  const address = realAddress - modPow2(realAddress, PAGE_SIZE);
  $realAddress = realAddress;
  host.ev[Ev.FAULT]++;
  if (vma.flags & VM.HUGETLB) return hugetlbFault(host, vma, realAddress, flags);
  const mm = vma.mm;
  const pmdT = tableAlloc(host, mm, mm.pgd, address, Level.PMD);
  if (pmdT === null) return VmFault.OOM;
  const i = tableIndex(address, Level.PMD);
  const write = (flags & FaultFlag.WRITE) !== 0;
  const fl = pmdT.fl[i]!;
  if (fl === 0 && thpVmaAllowable(host, vma, address)) {
    const ret = doHugePmdAnonymousPage(host, vma, pmdT, i, address, write, () => {
      anonPrepare(host, vma);
      khugepagedEnterVma(host, vma, vma.flags);
    }, realAddress, flags);
    if (!(ret & VmFault.FALLBACK)) return ret;
  } else if (fl & Pte.PSE) {
    if (flags & (FaultFlag.WRITE | FaultFlag.UNSHARE) && !(fl & Pte.RW)) {
      const ret = wpHugePmd(host, vma, pmdT, i, address, flags);
      if (!(ret & VmFault.FALLBACK)) return ret;
    } else {
      // huge_pmd_set_accessed
      setEntry(host, pmdT, i, pmdT.pfn[i]!, fl | Pte.ACCESSED | (write ? MKDIRTY : 0));
      return VmFault.OK;
    }
  }
  return handlePteFault(host, vma, pmdT, i, address, flags);
}

// mirrors mm/memory.c:wp_huge_pmd
function wpHugePmd(host: Host, vma: Vma, pmdT: PageTable, i: number, address: number, flags: number): number {
  if (vmaIsAnonymous(vma)) {
    const unshare = (flags & FaultFlag.UNSHARE) !== 0;
    if (!unshare && userfaultfdWp(vma) && pmdT.fl[i]! & Pte.UFFD_WP) return handleUserfault(vma, address, $realAddress, flags, VM.UFFD_WP);
    return doHugePmdWpPage(host, vma, pmdT, i, address, unshare);
  }
  // COW or write-notify of a file THP is handled at PTE level.
  splitHugePmd(host, vma, pmdT, i, alignDown(address, PMD_SIZE));
  return VmFault.FALLBACK;
}

// mirrors mm/memory.c:handle_pte_fault
function handlePteFault(host: Host, vma: Vma, pmdT: PageTable, i: number, address: number, flags: number): number {
  if (pmdT.fl[i] === 0) return doPteMissing(host, vma, pmdT, i, address, flags, 0);
  const pt = pmdT.kids![i]!;
  const j = tableIndex(address, Level.PTE);
  let fl = pt.fl[j]!;
  if (fl === 0) return doPteMissing(host, vma, pmdT, i, address, flags, 0);
  if (!(fl & (Pte.PRESENT | Pte.PROTNONE))) {
    if (isPteMarker(fl)) return handlePteMarker(host, vma, pmdT, i, pt, j, address, flags, fl);
    if (isSwapEntry(fl)) return doSwapPage(host, vma, pt, j, address, flags, fl);
    return VmFault.SIGBUS;
  }
  if (flags & (FaultFlag.WRITE | FaultFlag.UNSHARE)) {
    if (!(fl & Pte.RW)) return doWpPage(host, vma, pt, j, address, flags);
    if (flags & FaultFlag.WRITE) fl |= MKDIRTY;
  }
  setEntry(host, pt, j, pt.pfn[j]!, fl | Pte.ACCESSED);
  return VmFault.OK;
}

/**
 * A fault on a PTE marker: a poisoned one is SIGBUS (VM_FAULT_HWPOISON); a
 * uffd-wp one is a missing page that was write-protected, faulted in as such
 * (or just cleared if the VMA is no longer registered WP).
 */
// mirrors mm/memory.c:handle_pte_marker (with pte_marker_handle_uffd_wp and pte_marker_clear)
function handlePteMarker(host: Host, vma: Vma, pmdT: PageTable, i: number, pt: PageTable, j: number, address: number, flags: number, orig: number): number {
  if (orig & Pte.MARKER_POISONED) return VmFault.HWPOISON;
  if (!pteMarkerUffdWp(orig)) return VmFault.SIGBUS;
  if (!userfaultfdWp(vma)) {
    clearEntry(host, pt, j);
    return VmFault.OK;
  }
  return doPteMissing(host, vma, pmdT, i, address, flags, orig);
}

/**
 * A fault on a swap entry: find the page in the swap cache, or read it into
 * a new page (skipping the swap cache when this entry is the slot's only
 * reference on a SWP_SYNCHRONOUS_IO device such as zram; a swap file's page
 * always joins the swap cache, as swapin_readahead does), drop the
 * entry's count and map the page. It is mapped exclusive (and writable if
 * the VMA is) when the entry was exclusive, when the page is new and private
 * to this fault, or when nothing else references it; a write fault on a
 * page still shared goes on to do_wp_page. A run of swap entries that an
 * allowed mTHP order covers comes back as one large folio (alloc_swap_folio,
 * doSwapPageLarge). Simplified: no readahead; a large folio found in the
 * swap cache is mapped page by page; no KSM.
 */
// mirrors mm/memory.c:do_swap_page
function doSwapPage(host: Host, vma: Vma, pt: PageTable, j: number, address: number, flags: number, orig: number, tryLarge = true): number {
  const ft = host.ft;
  const st = host.swap;
  const val = pt.pfn[j]!;
  const si = st.si(val);
  // get_swap_device fails for an entry of an area swapped off meanwhile: retry.
  if (si === null) return VmFault.OK;
  let ret: number = VmFault.OK;
  let f = st.cacheFolio.get(val) ?? 0;
  let swapcache = f;
  let page = 0;
  if (f !== 0) {
    host.folioGet(f);
    page = val - st.folioSwap.get(f)!;
  } else {
    // SWP_SYNCHRONOUS_IO with one reference: skip the swap cache, and bring a whole mTHP back where one fits.
    const skipCache = (si.flags & SWP.SYNCHRONOUS_IO) !== 0 && st.count(val) === 1;
    if (tryLarge && skipCache) {
      const orders = swapinOrders(host, vma, pt, j, address, val, orig);
      if (orders !== 0) return doSwapPageLarge(host, vma, pt, j, address, flags, orig, orders);
    }
    f = host.folioAlloc(0, GFP_HIGHUSER_MOVABLE);
    if (f === 0) return VmFault.OOM;
    ft.flags[f]! |= PG.SWAPBACKED;
    if (!skipCache) {
      // swapin_readahead (read_swap_cache_async): the new page joins the swap cache first.
      si.cache[swpOffset(val)] = 1;
      addToSwapCache(st, ft, f, val);
      swapcache = f;
    }
    swapReadFolio(st, host.content, f, 1, val);
    ft.flags[f]! |= PG.UPTODATE;
    folioAddLru(host, f);
    ret = VmFault.MAJOR;
  }
  // A page fresh from the device that no swap-cache user can see is certainly exclusive.
  const exclusive = f !== swapcache || (orig & Pte.SWP_EXCLUSIVE) !== 0;
  swapFreeNr(st, val, 1);
  if (shouldTryToFreeSwap(host, f, vma, flags)) {
    const refs = folioFreeSwap(st, ft, f);
    if (refs > 0) host.folioPut(f, refs);
  }
  addMmCounter(vma.mm, MmCounter.ANONPAGES, 1);
  addMmCounter(vma.mm, MmCounter.SWAPENTS, -1);
  let fl = vma.pageProt | (orig & (Pte.SOFT_DIRTY | Pte.UFFD_WP));
  let write = (flags & FaultFlag.WRITE) !== 0;
  let rmapFlags = RMAP_NONE;
  // Same test as do_wp_page's, short-cut for pages certainly not shared.
  if (exclusive || ft.refcount[f] === 1) {
    if (vma.flags & VM.WRITE && !userfaultfdPteWp(vma, fl)) {
      fl |= Pte.RW;
      if (write) {
        fl |= MKDIRTY;
        write = false;
      }
    }
    rmapFlags = RMAP_EXCLUSIVE;
  }
  if (!folioTestAnon(ft, f)) folioAddNewAnonRmap(host, f, vma, address, rmapFlags);
  else folioAddAnonRmap(host, f, page, 1, vma, rmapFlags, Level.PTE);
  setEntry(host, pt, j, ft.pfn[f]! + page, fl);
  if (write) {
    ret |= doWpPage(host, vma, pt, j, address, flags);
    if (ret & VmFault.ERROR) ret &= VmFault.ERROR;
  }
  return ret;
}

/**
 * The orders of the large folio to swap in at address (a mask; 0: none): of the mTHP
 * orders the per-size controls allow for the VMA (below PMD size) whose
 * aligned block lies inside it and whose swap offsets are aligned as the
 * addresses are, the highest whose PTEs are one run of consecutive swap
 * entries with the same bits, all in the zeromap or none, none in the swap
 * cache, with the orders below it (their blocks lie inside its run). Not
 * under userfaultfd. zswap is never enabled (Debian's default).
 */
// mirrors mm/memory.c:alloc_swap_folio (thp_swap_suitable_orders, can_swapin_thp; the allocation is doSwapPageLarge's)
function swapinOrders(host: Host, vma: Vma, pt: PageTable, j: number, address: number, val: number, orig: number): number {
  if (userfaultfdArmed(vma)) return 0;
  let orders = thpVmaAllowableOrders(host, vma, vma.flags, TVA_IN_PF | TVA_ENFORCE_SYSFS, (1 << HPAGE_PMD_ORDER) - 1);
  if (orders !== 0) orders = thpVmaSuitableOrders(vma, address, orders);
  const off = swpOffset(val);
  const pageIdx = Math.floor(address / PAGE_SIZE);
  let order = highestOrder(orders);
  // thp_swap_suitable_orders: the first order whose offset alignment matches keeps it and all below.
  while (orders !== 0 && modPow2(pageIdx, pow2(order)) !== modPow2(off, pow2(order))) {
    orders &= ~(1 << order);
    order = highestOrder(orders);
  }
  const si = host.swap.si(val)!;
  while (orders !== 0) {
    const nr = pow2(order);
    const idx = modPow2(pageIdx, nr);
    const j0 = j - idx;
    const off0 = off - idx;
    let ok = j0 >= 0 && j0 + nr <= PTRS_PER_TABLE && off0 > 0;
    for (let k = 0; ok && k < nr; k++) {
      ok = pt.fl[j0 + k] === orig && pt.pfn[j0 + k] === val - idx + k && si.cache[off0 + k] === 0 && si.zeromap[off0 + k] === si.zeromap[off0];
    }
    if (ok) return orders;
    orders &= ~(1 << order);
    order = highestOrder(orders);
  }
  return 0;
}

/**
 * do_swap_page with a large folio for SWP_SYNCHRONOUS_IO: the nr swap
 * entries around address come back as one new exclusive folio (falling back
 * order by order when none is free, to order 0 through do_swap_page's
 * single-page path), mapped by one batch of PTEs.
 */
// mirrors mm/memory.c:do_swap_page (the alloc_swap_folio large-folio path)
function doSwapPageLarge(host: Host, vma: Vma, pt: PageTable, j: number, address: number, flags: number, orig: number, orders: number): number {
  const ft = host.ft;
  const st = host.swap;
  const val = pt.pfn[j]!;
  let f = 0;
  let order = highestOrder(orders);
  while (orders !== 0) {
    f = host.folioAlloc(order, GFP_HIGHUSER_MOVABLE);
    if (f !== 0) break;
    orders &= ~(1 << order);
    order = highestOrder(orders);
  }
  // Nothing large was free: __alloc_swap_folio, the single page.
  if (f === 0) return doSwapPage(host, vma, pt, j, address, flags, orig, false);
  const nr = pow2(order);
  const idx = modPow2(Math.floor(address / PAGE_SIZE), nr);
  const j0 = j - idx;
  const val0 = val - idx;
  const addr0 = address - idx * PAGE_SIZE;
  ft.flags[f]! |= PG.SWAPBACKED;
  swapReadFolio(st, host.content, f, nr, val0);
  ft.flags[f]! |= PG.UPTODATE;
  folioAddLru(host, f);
  swapFreeNr(st, val0, nr);
  addMmCounter(vma.mm, MmCounter.ANONPAGES, nr);
  addMmCounter(vma.mm, MmCounter.SWAPENTS, -nr);
  let fl = vma.pageProt | (orig & (Pte.SOFT_DIRTY | Pte.UFFD_WP));
  if (vma.flags & VM.WRITE && !userfaultfdPteWp(vma, fl)) {
    fl |= Pte.RW;
    if (flags & FaultFlag.WRITE) fl |= MKDIRTY;
  }
  host.folioGet(f, nr - 1);
  folioAddNewAnonRmap(host, f, vma, addr0, RMAP_EXCLUSIVE);
  setPtes(host, pt, j0, ft.pfn[f]!, fl, nr);
  return VmFault.MAJOR;
}

/** After swap-in, drop the page from the swap cache now? (when mapping it writable needs the refcount to say "exclusive") */
// mirrors mm/memory.c:should_try_to_free_swap (no memcg: mem_cgroup_swap_full is vm_swap_full)
function shouldTryToFreeSwap(host: Host, f: number, vma: Vma, flags: number): boolean {
  const ft = host.ft;
  if (!(ft.flags[f]! & PG.SWAPCACHE)) return false;
  if (host.swap.full() || vma.flags & VM.LOCKED || ft.flags[f]! & PG.MLOCKED) return true;
  return (flags & FaultFlag.WRITE) !== 0 && ft.refcount[f] === 1 + folioNrPages(ft, f);
}

/** Was the faulting PTE a uffd-wp marker of a WP-registered VMA (the new PTE stays write-protected)? */
// mirrors mm/memory.c:vmf_orig_pte_uffd_wp
function vmfOrigPteUffdWp(vma: Vma, orig: number): boolean {
  return userfaultfdWp(vma) && pteMarkerUffdWp(orig);
}

/** orig: the PTE as the fault found it (0: none; else a uffd-wp marker). */
// mirrors mm/memory.c:do_pte_missing
function doPteMissing(host: Host, vma: Vma, pmdT: PageTable, i: number, address: number, flags: number, orig: number): number {
  return vmaIsAnonymous(vma) ? doAnonymousPage(host, vma, pmdT, i, address, flags, orig) : doFault(host, vma, pmdT, i, address, flags, orig);
}

/**
 * Read faults map the shared zero page; write faults a new zeroed, exclusive
 * folio: a large one (mTHP) where the per-size controls allow and it fits
 * (allocAnonFolio), mapped by one batch of PTEs. In a MISSING-registered VMA
 * the fault goes to userfaultfd instead.
 */
// mirrors mm/memory.c:do_anonymous_page
function doAnonymousPage(host: Host, vma: Vma, pmdT: PageTable, i: number, address: number, flags: number, orig: number): number {
  if (vma.flags & VM.SHARED) return VmFault.SIGBUS;
  const pt = pteAlloc(host, vma, pmdT, i);
  if (pt === null) return VmFault.OOM;
  if (!(flags & FaultFlag.WRITE)) {
    if (userfaultfdMissing(vma)) return handleUserfault(vma, address, $realAddress, flags, VM.UFFD_MISSING);
    const zpfn = host.ft.pfn[host.zeroPage]!;
    // pte_mkuffd_wp keeps it write-protected (the zero page is anyway).
    setEntry(host, pt, tableIndex(address, Level.PTE), zpfn, (vma.pageProt & ~Pte.RW) | Pte.SPECIAL | (vmfOrigPteUffdWp(vma, orig) ? Pte.UFFD_WP : 0));
    return VmFault.OK;
  }
  anonPrepare(host, vma);
  const ft = host.ft;
  const f = allocAnonFolio(host, vma, pt, address);
  if (f === 0) return VmFault.OOM;
  const order = ft.order[f]!;
  const nr = pow2(order);
  const addr = order === 0 ? address : alignDown(address, nr * PAGE_SIZE);
  const j = tableIndex(addr, Level.PTE);
  ft.flags[f]! |= PG.UPTODATE;
  // Still all none (nothing else runs in the model between the check and here, but the kernel rechecks under the PTE lock).
  if (nr > 1 && !pteRangeNone(pt, j, nr)) {
    host.folioPut(f);
    return VmFault.OK;
  }
  if (userfaultfdMissing(vma)) {
    host.folioPut(f);
    return handleUserfault(vma, address, $realAddress, flags, VM.UFFD_MISSING);
  }
  let fl = vma.pageProt;
  if (vma.flags & VM.WRITE) fl |= Pte.RW | MKDIRTY;
  if (vmfOrigPteUffdWp(vma, orig)) fl = (fl | Pte.UFFD_WP) & ~Pte.RW;
  if (nr > 1) {
    host.folioGet(f, nr - 1);
    modMthpStat(host.mthpStats, order, MthpStat.ANON_FAULT_ALLOC, 1);
  }
  addMmCounter(vma.mm, MmCounter.ANONPAGES, nr);
  folioAddNewAnonRmap(host, f, vma, addr, RMAP_EXCLUSIVE);
  folioAddLru(host, f);
  setPtes(host, pt, j, ft.pfn[f]!, fl, nr);
  return VmFault.OK;
}

/** Are the nr PTEs from index j all none? */
// mirrors mm/memory.c:pte_range_none
function pteRangeNone(pt: PageTable, j: number, nr: number): boolean {
  for (let k = j; k < j + nr; k++) if (pt.fl[k] !== 0) return false;
  return true;
}

/** Map nr consecutive pages from pfn with the same entry bits (one batch). */
// mirrors include/linux/pgtable.h:set_ptes
function setPtes(host: Host, pt: PageTable, j: number, pfn: number, fl: number, nr: number): void {
  for (let k = 0; k < nr; k++) setEntry(host, pt, j + k, pfn + k, fl);
}

/**
 * The zeroed folio for an anonymous write fault at address: of the orders
 * below PMD size that the per-size `enabled` files allow for the VMA and
 * whose naturally aligned block around address lies inside it, the highest
 * whose block has only none PTEs; if the allocator has no free block of that
 * order, the next lower one (each failure counted in anon_fault_fallback),
 * then a single page. No large folio under userfaultfd (per-page fault
 * fidelity). Returns 0 when even a page cannot be had. No memcg: no
 * charge failures (anon_fault_fallback_charge stays 0).
 */
// mirrors mm/memory.c:alloc_anon_folio (and folio_prealloc for order 0)
function allocAnonFolio(host: Host, vma: Vma, pt: PageTable, address: number): number {
  // Cheap first test, for the 4 KiB fault path: is any size below the PMD size enabled at all?
  const o = host.cfg.thp.anonOrders;
  if (((o.always | o.madvise | o.inherit) & ((1 << HPAGE_PMD_ORDER) - 1)) !== 0 && !userfaultfdArmed(vma)) {
    let orders = thpVmaAllowableOrders(host, vma, vma.flags, TVA_IN_PF | TVA_ENFORCE_SYSFS, (1 << HPAGE_PMD_ORDER) - 1);
    if (orders !== 0) orders = thpVmaSuitableOrders(vma, address, orders);
    let order = highestOrder(orders);
    while (orders !== 0) {
      const nr = pow2(order);
      if (pteRangeNone(pt, tableIndex(alignDown(address, nr * PAGE_SIZE), Level.PTE), nr)) break;
      orders &= ~(1 << order);
      order = highestOrder(orders);
    }
    while (orders !== 0) {
      const f = host.folioAlloc(order, GFP_HIGHUSER_MOVABLE);
      if (f !== 0) {
        host.zeroFolio(f); // folio_zero_user
        return f;
      }
      modMthpStat(host.mthpStats, order, MthpStat.ANON_FAULT_FALLBACK, 1);
      orders &= ~(1 << order);
      order = highestOrder(orders);
    }
  }
  const f = host.folioAlloc(0, GFP_HIGHUSER_MOVABLE);
  if (f !== 0) host.zeroFolio(f);
  return f;
}

/**
 * Can a private write fault reuse this non-exclusive anon folio? Only a small
 * one that nothing else references: 6.12 never reuses a page of a large
 * folio (it gives the large folio back sooner instead), even when every
 * other mapping of it is gone.
 */
// mirrors mm/memory.c:wp_can_reuse_anon_folio (no KSM, no LRU caches to drain)
function wpCanReuseAnonFolio(host: Host, f: number, vma: Vma): boolean {
  const ft = host.ft;
  if (ft.order[f]! > 0) return false;
  const cached = ft.flags[f]! & PG.SWAPCACHE ? 1 : 0;
  if (ft.refcount[f]! > 1 + cached) return false;
  // The swap cache's reference goes if no swap entry still names the page.
  if (cached) {
    const refs = folioFreeSwap(host.swap, ft, f);
    if (refs > 0) host.folioPut(f, refs);
  }
  if (ft.refcount[f] !== 1) return false;
  folioMoveAnonRmap(host, f, vma);
  return true;
}

/** Write (or unshare) fault on a present, non-writable PTE. */
// mirrors mm/memory.c:do_wp_page
function doWpPage(host: Host, vma: Vma, pt: PageTable, j: number, address: number, flags: number): number {
  const ft = host.ft;
  const unshare = (flags & FaultFlag.UNSHARE) !== 0;
  // A write to a page userfaultfd write-protected goes to the monitor (WP_ASYNC is not offered).
  if (!unshare && userfaultfdPteWp(vma, pt.fl[j]!)) return handleUserfault(vma, address, $realAddress, flags, VM.UFFD_WP);
  const pfn = pt.pfn[j]!;
  const f = vmNormalPage(host, pfn, pt.fl[j]!);
  if (vma.flags & (VM.SHARED | VM.MAYSHARE)) {
    // Shared mappings never COW: make the page writable (after ->page_mkwrite).
    if (f === 0) return wpPageReuse(host, vma, pt, j);
    return wpPageShared(host, vma, pt, j, address, f, flags);
  }
  if (f !== 0 && folioTestAnon(ft, f)) {
    const page = folioPageIdx(host, f, pfn);
    if (pageAnonExclusive(ft, f, page) || wpCanReuseAnonFolio(host, f, vma)) {
      if (!pageAnonExclusive(ft, f, page)) setPageAnonExclusive(ft, f, page);
      if (unshare) return VmFault.OK;
      return wpPageReuse(host, vma, pt, j);
    }
  }
  if (f !== 0) host.folioGet(f);
  return wpPageCopy(host, vma, pt, j, address, f, unshare);
}

// mirrors mm/memory.c:wp_page_reuse
function wpPageReuse(host: Host, vma: Vma, pt: PageTable, j: number): number {
  setEntry(host, pt, j, pt.pfn[j]!, maybeMkwrite(pt.fl[j]! | MKDIRTY | Pte.ACCESSED, vma));
  host.ev[Ev.COW_REUSE]++;
  return VmFault.OK;
}

// mirrors mm/memory.c:wp_page_shared
function wpPageShared(host: Host, vma: Vma, pt: PageTable, j: number, address: number, f: number, flags: number): number {
  host.folioGet(f);
  if (vma.ops?.pageMkwrite) {
    const ret = vma.ops.pageMkwrite({ vma, address, pgoff: linearPageIndex(vma, address), flags }, f);
    if (ret & VmFault.ERROR) {
      host.folioPut(f);
      return ret;
    }
  }
  wpPageReuse(host, vma, pt, j);
  host.ft.flags[f]! |= PG.DIRTY; // fault_dirty_shared_page
  host.folioPut(f);
  return VmFault.OK;
}

/**
 * Break COW: map a new exclusive copy of the page (or a zeroed page for the
 * zero page). oldF carries a reference taken by the caller, or is 0.
 */
// mirrors mm/memory.c:wp_page_copy
function wpPageCopy(host: Host, vma: Vma, pt: PageTable, j: number, address: number, oldF: number, unshare: boolean): number {
  const ft = host.ft;
  anonPrepare(host, vma);
  const oldPfn = pt.pfn[j]!;
  const oldFl = pt.fl[j]!;
  const nf = host.folioAlloc(0, GFP_HIGHUSER_MOVABLE);
  if (nf === 0) {
    if (oldF !== 0) host.folioPut(oldF);
    return VmFault.OOM;
  }
  if (oldF === 0) host.zeroFolio(nf);
  else {
    // The pinning process's view and the pin part ways: the pin keeps the old page.
    if (host.pinnedPages(oldF, folioPageIdx(host, oldF, oldPfn)) > 0 && folioTestAnon(ft, oldF)) host.pins.metrics.pinnedPagesLostToCow++;
    host.content.copyPage(nf, 1, 0, oldF, folioPageIdx(host, oldF, oldPfn));
    host.ev[Ev.COPY_BYTES] += PAGE_SIZE;
  }
  ft.flags[nf]! |= PG.UPTODATE;
  const range = invalidateStart(host, vma.mm, MmuNotifyEvent.CLEAR, address, address + PAGE_SIZE);
  // Anon replaces anon: no change. A page-cache page or the zero page becomes anon.
  if (oldF === 0 || !folioTestAnon(ft, oldF)) {
    if (oldF !== 0) addMmCounter(vma.mm, mmCounterFile(host, oldF), -1);
    addMmCounter(vma.mm, MmCounter.ANONPAGES, 1);
  }
  let fl = vma.pageProt;
  if (unshare) fl |= oldFl & (Pte.SOFT_DIRTY | Pte.UFFD_WP);
  else fl = maybeMkwrite(fl | MKDIRTY, vma);
  // ptep_clear_flush, then the new entry.
  clearEntry(host, pt, j);
  flushTlbRange(host, vma.mm);
  folioAddNewAnonRmap(host, nf, vma, address, RMAP_EXCLUSIVE);
  folioAddLru(host, nf);
  setEntry(host, pt, j, ft.pfn[nf]!, fl);
  if (oldF !== 0) folioRemoveRmap(host, oldF, folioPageIdx(host, oldF, oldPfn), 1, vma, Level.PTE);
  invalidateEnd(range);
  if (oldF !== 0) {
    host.folioPut(oldF); // the old mapping's reference
    host.folioPut(oldF); // ours
  }
  host.ev[Ev.COW_COPY]++;
  return VmFault.OK;
}

// ---------------------------------------------------------------------------
// File-backed faults.

// mirrors mm/memory.c:do_fault
function doFault(host: Host, vma: Vma, pmdT: PageTable, i: number, address: number, flags: number, orig: number): number {
  const vmf: VmFaultArgs = { vma, address, pgoff: linearPageIndex(vma, address), flags, realAddress: $realAddress, origPte: orig };
  if (!(flags & FaultFlag.WRITE)) return doReadFault(host, vmf, pmdT, i);
  if (!(vma.flags & VM.SHARED)) return doCowFault(host, vmf, pmdT, i);
  return doSharedFault(host, vmf, pmdT, i);
}

/** Call ->fault: a referenced folio slot, or -VM_FAULT bits. */
function doFaultOps(vmf: VmFaultArgs): number {
  return vmf.vma.ops!.fault(vmf);
}

// mirrors mm/memory.c:should_fault_around
function shouldFaultAround(host: Host, vma: Vma): boolean {
  if (!vma.ops!.mapPages) return false;
  if (uffdDisableFaultAround(vma)) return false;
  return host.cfg.faultAroundBytes >> 12 > 1;
}

// mirrors mm/memory.c:do_read_fault
function doReadFault(host: Host, vmf: VmFaultArgs, pmdT: PageTable, i: number): number {
  if (shouldFaultAround(host, vmf.vma)) {
    const ret = doFaultAround(host, vmf, pmdT, i);
    if (ret !== VmFault.OK) return ret;
  }
  const f = doFaultOps(vmf);
  if (f < 0) return -f;
  const ret = finishFault(host, vmf, pmdT, i, f, vmf.pgoff - host.ft.index[f]!, false);
  if (ret & (VmFault.ERROR | VmFault.NOPAGE)) host.folioPut(f);
  return ret;
}

// mirrors mm/memory.c:do_cow_fault
function doCowFault(host: Host, vmf: VmFaultArgs, pmdT: PageTable, i: number): number {
  anonPrepare(host, vmf.vma);
  const nf = host.folioAlloc(0, GFP_HIGHUSER_MOVABLE);
  if (nf === 0) return VmFault.OOM;
  const f = doFaultOps(vmf);
  if (f < 0) {
    host.folioPut(nf);
    return -f;
  }
  host.content.copyPage(nf, 1, 0, f, vmf.pgoff - host.ft.index[f]!);
  host.ev[Ev.COPY_BYTES] += PAGE_SIZE;
  host.ft.flags[nf]! |= PG.UPTODATE;
  const ret = finishFault(host, vmf, pmdT, i, nf, 0, true);
  host.folioPut(f);
  if (ret & (VmFault.ERROR | VmFault.NOPAGE)) host.folioPut(nf);
  return ret;
}

// mirrors mm/memory.c:do_shared_fault
function doSharedFault(host: Host, vmf: VmFaultArgs, pmdT: PageTable, i: number): number {
  const f = doFaultOps(vmf);
  if (f < 0) return -f;
  if (vmf.vma.ops!.pageMkwrite) {
    const tmp = vmf.vma.ops!.pageMkwrite(vmf, f);
    if (tmp & VmFault.ERROR) {
      host.folioPut(f);
      return tmp;
    }
  }
  const ret = finishFault(host, vmf, pmdT, i, f, vmf.pgoff - host.ft.index[f]!, false);
  if (ret & (VmFault.ERROR | VmFault.NOPAGE)) {
    host.folioPut(f);
    return ret;
  }
  host.ft.flags[f]! |= PG.DIRTY; // fault_dirty_shared_page
  return ret;
}

/**
 * Map the faulting page: the page-cache page (read, shared write) or the new
 * anonymous COW page (private write). A PMD-order page-cache folio is mapped
 * by a PMD where the PMD is none and do_set_pmd allows; shared anonymous
 * memory maps a whole large folio by PTEs when it fits the VMA and the PTE
 * table (and no userfaultfd is armed); otherwise the one page.
 */
// mirrors mm/memory.c:finish_fault (no large non-shmem page-cache folios exist, so needs_fallback is never set for i_size)
function finishFault(host: Host, vmf: VmFaultArgs, pmdT: PageTable, i: number, f: number, page: number, cow: boolean): number {
  const vma = vmf.vma;
  const ft = host.ft;
  const write = (vmf.flags & FaultFlag.WRITE) !== 0;
  // A HugeTLB folio outside a HugeTLB VMA (guest_memfd 'no-longterm-pin') only ever maps page by page.
  if (pmdT.fl[i] === 0 && !cow && ft.order[f]! > 0 && !(ft.flags[f]! & PG.HUGETLB)) {
    const ret = doSetPmd(host, vma, pmdT, i, vmf.address, f, write);
    if (ret !== VmFault.FALLBACK) return ret;
  }
  const pt = pteAlloc(host, vma, pmdT, i);
  if (pt === null) return VmFault.OOM;
  const j = tableIndex(vmf.address, Level.PTE);
  const orig = vmf.origPte ?? 0;
  let nr = folioNrPages(ft, f);
  if (cow || !vma.ops?.shmem?.anon || userfaultfdArmed(vma)) nr = 1;
  else if (nr > 1) {
    // The whole folio, if it lies inside the VMA and the PTE table, and every PTE for it is none.
    const vmaOff = vmf.pgoff - vma.pgoff;
    if (vmaOff < page || vmaOff + (nr - page) > vmaPages(vma) || j < page || j + (nr - page) > PTRS_PER_TABLE) nr = 1;
    else for (let k = j - page; k < j - page + nr && nr > 1; k++) if (pt.fl[k] !== 0) nr = 1;
  }
  if (nr > 1) {
    host.folioGet(f, nr - 1);
    setPteRange(host, vma, pt, j - page, f, 0, nr, vmf.address - page * PAGE_SIZE, write, false);
    addMmCounter(vma.mm, mmCounterFile(host, f), nr);
    return VmFault.OK;
  }
  // vmf_pte_changed: still none (or still the marker the fault found)?
  if (pt.fl[j] !== orig) return VmFault.NOPAGE;
  setPteRange(host, vma, pt, j, f, page, 1, vmf.address, write, vmfOrigPteUffdWp(vma, orig));
  addMmCounter(vma.mm, cow ? MmCounter.ANONPAGES : mmCounterFile(host, f), 1);
  return VmFault.OK;
}

/**
 * ->fault of a VM_PFNMAP mapping: map pfn at address with a special PTE (no
 * struct page refcount or mapcount), writable on a write fault if the VMA
 * is. Returns VM_FAULT_NOPAGE (the entry is in place), or OOM.
 */
// mirrors mm/memory.c:vmf_insert_pfn_prot (-> insert_pfn; mkwrite as vmf_insert_mixed_mkwrite does for a write fault)
export function vmfInsertPfn(host: Host, vma: Vma, address: number, pfn: number, write: boolean): number {
  const mm = vma.mm;
  const pmdT = tableAlloc(host, mm, mm.pgd, address, Level.PMD);
  if (pmdT === null) return VmFault.OOM;
  const pt = pteAlloc(host, vma, pmdT, tableIndex(address, Level.PMD));
  if (pt === null) return VmFault.OOM;
  const j = tableIndex(address, Level.PTE);
  const old = pt.fl[j]!;
  // Someone else mapped it (or this is a write to the same read-only entry: upgrade it).
  if (old !== 0 && !(write && pt.pfn[j] === pfn)) return VmFault.NOPAGE;
  let fl = vma.pageProt | Pte.SPECIAL;
  if (write) fl = maybeMkwrite(fl | MKDIRTY, vma);
  setEntry(host, pt, j, pfn, fl);
  return VmFault.NOPAGE;
}

/** Install PTEs for nr pages of f starting at page (the caller holds their references). */
// mirrors mm/memory.c:set_pte_range
function setPteRange(host: Host, vma: Vma, pt: PageTable, j: number, f: number, page: number, nr: number, addr: number, write: boolean, uffdWp: boolean): void {
  let fl = vma.pageProt;
  if (write) fl = maybeMkwrite(fl | MKDIRTY, vma);
  if (uffdWp) fl = (fl | Pte.UFFD_WP) & ~Pte.RW;
  if (write && !(vma.flags & VM.SHARED)) {
    folioAddNewAnonRmap(host, f, vma, addr, RMAP_EXCLUSIVE);
    folioAddLru(host, f);
  } else {
    folioAddFileRmap(host, f, page, nr, vma, Level.PTE);
  }
  const pfn = host.ft.pfn[f]! + page;
  for (let k = 0; k < nr; k++) setEntry(host, pt, j + k, pfn + k, fl);
}

/** The first folio in mapping's page cache over [start, end) that is uptodate and not poisoned, or 0. */
// mirrors mm/filemap.c:next_uptodate_folio (the search only)
function nextUptodateFolio(host: Host, mapping: AddressSpace, start: number, end: number): number {
  $uptodate.ft = host.ft;
  $uptodate.found = 0;
  mapping.pages.forEach(start, end, uptodateVisit);
  return $uptodate.found;
}
const $uptodate = { ft: null as unknown as Host['ft'], found: 0 };
/** A module-level visitor (fault-around runs on every file fault: no closure per call). */
function uptodateVisit(_index: number, _order: number, f: number): boolean {
  const fl = $uptodate.ft.flags[f]!;
  if (!(fl & PG.UPTODATE) || fl & PG.HWPOISON) return false;
  $uptodate.found = f;
  return true;
}

/**
 * Map the uptodate page-cache pages around the fault (up to fault_around_bytes,
 * within the VMA, the PTE table and EOF). Returns NOPAGE if the faulting page
 * itself was mapped.
 */
// mirrors mm/memory.c:do_fault_around and mm/filemap.c:filemap_map_pages
function doFaultAround(host: Host, vmf: VmFaultArgs, pmdT: PageTable, i: number): number {
  const vma = vmf.vma;
  const nrPages = host.cfg.faultAroundBytes >> 12;
  const pteOff = tableIndex(vmf.address, Level.PTE);
  const vmaOff = vmf.pgoff - vma.pgoff;
  const fromPte = Math.max(Math.floor(pteOff / nrPages) * nrPages, pteOff - Math.min(pteOff, vmaOff));
  const toPte = Math.min(fromPte + nrPages, PTRS_PER_TABLE, pteOff + vmaPages(vma) - vmaOff) - 1;
  const mapping = vma.mapping!;
  // DIV_ROUND_UP(i_size, PAGE_SIZE) - 1, without bigint arithmetic.
  const fileEnd = mapping.host.sizePages - 1;
  const start = vmf.pgoff + fromPte - pteOff;
  const end = Math.min(vmf.pgoff + toPte - pteOff, fileEnd);
  if (end < start) return VmFault.OK;
  const ft = host.ft;
  // next_uptodate_folio: the first folio to map; none, and no PTE table is installed.
  const first = nextUptodateFolio(host, mapping, start, end + 1);
  if (first === 0) return VmFault.OK;
  // filemap_map_pmd: a PMD-order folio is mapped by a PMD if it can be.
  if (pmdT.fl[i] === 0 && ft.order[first] === HPAGE_PMD_ORDER) {
    host.folioGet(first);
    if (doSetPmd(host, vma, pmdT, i, vmf.address, first, false) === VmFault.OK) return VmFault.NOPAGE;
    host.folioPut(first);
  }
  const pt = pteAlloc(host, vma, pmdT, i);
  if (pt === null) return VmFault.OOM;
  let ret: number = VmFault.OK;
  let rss = 0;
  let type = MmCounter.FILEPAGES;
  mapping.pages.forEach(start, end + 1, (index, order, f) => {
    // next_uptodate_folio: skip !uptodate (e.g. fallocated) and poisoned folios.
    if (!(ft.flags[f]! & PG.UPTODATE) || ft.flags[f]! & PG.HWPOISON) return;
    type = mmCounterFile(host, f);
    const first = Math.max(index, start);
    const last = Math.min(index + (1 << order) - 1, end);
    for (let pg = first; pg <= last; pg++) {
      const addr = vma.start + (pg - vma.pgoff) * PAGE_SIZE;
      const j = tableIndex(addr, Level.PTE);
      if (pt.fl[j] !== 0) continue;
      if (addr === vmf.address) ret = VmFault.NOPAGE;
      host.folioGet(f);
      setPteRange(host, vma, pt, j, f, pg - index, 1, addr, false, false);
      rss++;
    }
  });
  if (rss > 0) addMmCounter(vma.mm, type, rss);
  return ret;
}

// ---------------------------------------------------------------------------
// Zapping.

/** struct zap_details: which pages to zap when unmapping a file range. */
export interface ZapDetails {
  /** Also zap private anonymous COW copies (truncate does, hole punch does not). */
  readonly evenCows: boolean;
}
/** The two zap_details unmap_mapping_pages passes (frozen: shared by every call). */
const ZAP_EVEN_COWS: ZapDetails = Object.freeze({ evenCows: true });
const ZAP_KEEP_COWS: ZapDetails = Object.freeze({ evenCows: false });

// mirrors mm/memory.c:should_zap_folio
function shouldZapFolio(host: Host, details: ZapDetails | null, f: number): boolean {
  if (details === null || details.evenCows) return true;
  return !folioTestAnon(host.ft, f);
}

/** Zap private COW copies too (details null: everything)? */
// mirrors mm/memory.c:should_zap_cows
function shouldZapCows(details: ZapDetails | null): boolean {
  return details === null || details.evenCows;
}

/**
 * Drop file mappings' uffd-wp markers too (ZAP_FLAG_DROP_MARKER)? The model's
 * null details are unmap_vmas' (munmap, exit), which pass that flag.
 */
// mirrors mm/memory.c:zap_drop_file_uffd_wp
function zapDropMarkers(details: ZapDetails | null): boolean {
  return details === null;
}

/**
 * A zapped PTE of a WP-registered file mapping that was write-protected (or
 * a uffd-wp marker) leaves a uffd-wp marker: the protection outlives the page.
 */
// mirrors mm/memory.c:zap_install_uffd_wp_if_needed (and pte_install_uffd_wp_if_needed)
function zapInstallUffdWpIfNeeded(host: Host, vma: Vma, pt: PageTable, j: number, details: ZapDetails | null, old: number): void {
  if (vmaIsAnonymous(vma) || zapDropMarkers(details) || !userfaultfdWp(vma)) return;
  if (old & Pte.UFFD_WP) setEntry(host, pt, j, 0, MARKER_UFFD_WP);
}

/**
 * A swap PTE went: drop its count, and when that was the slot's last one
 * and the swap cache still holds a page nobody maps (or swap is over half
 * full), drop the page from the swap cache too.
 */
// mirrors mm/swapfile.c:free_swap_and_cache_nr (with __try_to_reclaim_swap, TTRS_UNMAPPED | TTRS_FULL)
function freeSwapAndCache(host: Host, val: number): void {
  const st = host.swap;
  const ft = host.ft;
  swapFreeNr(st, val, 1);
  if (st.count(val) !== 0) return;
  const f = st.cacheFolio.get(val);
  if (f === undefined) return;
  if (folioMapped(ft, f) && !st.full()) return;
  if (folioSwapped(st, ft, f)) return;
  const refs = folioFreeSwap(st, ft, f);
  if (refs > 0) host.folioPut(f, refs);
}

/** Zap the PTEs of one PTE table for [addr, end). Returns entries cleared. */
// mirrors mm/memory.c:zap_pte_range (with zap_present_ptes)
function zapPteRange(host: Host, vma: Vma, pt: PageTable, addr: number, end: number, details: ZapDetails | null): number {
  const ft = host.ft;
  const mm = vma.mm;
  let cleared = 0;
  for (let a = addr; a < end; a += PAGE_SIZE) {
    const j = tableIndex(a, Level.PTE);
    const fl = pt.fl[j]!;
    if (fl === 0) continue;
    if (!(fl & (Pte.PRESENT | Pte.PROTNONE))) {
      if (isSwapEntry(fl)) {
        // zap_nonpresent_ptes: private COW copies that went to swap go with them.
        if (!shouldZapCows(details)) continue;
        addMmCounter(mm, MmCounter.SWAPENTS, -1);
        freeSwapAndCache(host, pt.pfn[j]!);
        clearEntry(host, pt, j);
        zapInstallUffdWpIfNeeded(host, vma, pt, j, details, fl);
        continue;
      }
      // PTE markers: nothing to flush or free.
      if (!isPteMarker(fl)) continue;
      if (fl & Pte.MARKER_POISONED) {
        if (!shouldZapCows(details)) continue;
      } else if (!vmaIsAnonymous(vma) && !zapDropMarkers(details)) {
        // A file mapping keeps its uffd-wp markers unless they are dropped explicitly.
        continue;
      }
      clearEntry(host, pt, j);
      zapInstallUffdWpIfNeeded(host, vma, pt, j, details, fl);
      continue;
    }
    const pfn = pt.pfn[j]!;
    const f = vmNormalPage(host, pfn, fl);
    if (f === 0) {
      clearEntry(host, pt, j);
      cleared++;
      if (userfaultfdPteWp(vma, fl)) zapInstallUffdWpIfNeeded(host, vma, pt, j, details, fl);
      continue;
    }
    if (!shouldZapFolio(host, details, f)) continue;
    clearEntry(host, pt, j);
    cleared++;
    if (userfaultfdPteWp(vma, fl)) zapInstallUffdWpIfNeeded(host, vma, pt, j, details, fl);
    if (!folioTestAnon(ft, f)) {
      if (fl & Pte.DIRTY) ft.flags[f]! |= PG.DIRTY;
      addMmCounter(mm, mmCounterFile(host, f), -1);
    } else {
      addMmCounter(mm, MmCounter.ANONPAGES, -1);
    }
    folioRemoveRmap(host, f, folioPageIdx(host, f, pfn), 1, vma, Level.PTE);
    // free_pages_and_swap_cache: an unmapped page leaves the swap cache if no swap entry needs it.
    if (ft.flags[f]! & PG.SWAPCACHE && !folioMapped(ft, f)) {
      const refs = folioFreeSwap(host.swap, ft, f);
      if (refs > 0) host.folioPut(f, refs);
    }
    host.folioPut(f);
  }
  return cleared;
}

/** Zap [addr, end) of vma below one PMD table. */
// mirrors mm/memory.c:zap_pmd_range
function zapPmdRange(host: Host, vma: Vma, pmdT: PageTable, addr: number, end: number, details: ZapDetails | null): number {
  let cleared = 0;
  while (addr < end) {
    const i = tableIndex(addr, Level.PMD);
    const next = Math.min(alignDown(addr, PMD_SIZE) + PMD_SIZE, end);
    const fl = pmdT.fl[i]!;
    if (fl & Pte.PSE) {
      if (next - addr !== PMD_SIZE) {
        splitHugePmd(host, vma, pmdT, i, alignDown(addr, PMD_SIZE));
      } else {
        const f = host.pfnFolio(pmdT.pfn[i]!);
        if (f === 0 || shouldZapFolio(host, details, f) || f === host.hugeZeroFolio) {
          const put = zapHugePmd(host, vma, pmdT, i);
          if (put !== 0) host.folioPut(put);
          cleared++;
        }
        addr = next;
        continue;
      }
    }
    if (pmdT.fl[i] !== 0) cleared += zapPteRange(host, vma, pmdT.kids![i]!, addr, next, details);
    addr = next;
  }
  return cleared;
}

/** Zap [start, end) of vma without notifier or TLB accounting. */
// mirrors mm/memory.c:unmap_page_range
function unmapPageRange(host: Host, vma: Vma, start: number, end: number, details: ZapDetails | null): number {
  // unmap_single_vma: HugeTLB VMAs have their own walk (private COW pages go too).
  if (vma.flags & VM.HUGETLB) return unmapHugepageRangeLocked(host, vma, start, end, 0, zapDropMarkers(details));
  return zapUpperRange(host, vma, vma.mm.pgd, start, end, details);
}

/** zap_p4d_range / zap_pud_range: descend through the PGD and PUD tables over [a, e) to the PMD tables; returns PTEs cleared. */
// mirrors mm/memory.c:zap_pud_range (and zap_p4d_range, folded)
function zapUpperRange(host: Host, vma: Vma, t: PageTable, a: number, e: number, details: ZapDetails | null): number {
  if (t.level === Level.PMD) return zapPmdRange(host, vma, t, a, e, details);
  const span = t.level === Level.PGD ? PGDIR_SIZE : PUD_SIZE;
  let cleared = 0;
  while (a < e) {
    const i = tableIndex(a, t.level);
    const next = Math.min(alignDown(a, span) + span, e);
    if (t.fl[i] !== 0 && !(t.fl[i]! & Pte.PSE)) cleared += zapUpperRange(host, vma, t.kids![i]!, a, next, details);
    a = next;
  }
  return cleared;
}

/**
 * Zap user mappings of [start, end) inside one VMA, bracketed by MMU notifiers
 * (CLEAR), with one TLB flush if anything was unmapped.
 */
// mirrors mm/memory.c:zap_page_range_single
export function zapPageRangeSingle(host: Host, vma: Vma, start: number, end: number, details: ZapDetails | null): void {
  const range = invalidateStart(host, vma.mm, MmuNotifyEvent.CLEAR, start, end);
  if (unmapPageRange(host, vma, start, end, details) > 0) flushTlbRange(host, vma.mm);
  invalidateEnd(range);
}

/** Zap whole VMAs being unmapped (munmap, exit), with an UNMAP notification. */
// mirrors mm/memory.c:unmap_vmas
export function unmapVmas(host: Host, vmas: readonly Vma[], start: number, end: number): void {
  if (vmas.length === 0) return;
  const mm = vmas[0]!.mm;
  const range = invalidateStart(host, mm, MmuNotifyEvent.UNMAP, start, end);
  let cleared = 0;
  for (const v of vmas) cleared += unmapPageRange(host, v, Math.max(v.start, start), Math.min(v.end, end), null);
  if (cleared > 0) flushTlbRange(host, mm);
  invalidateEnd(range);
}

/**
 * Unmap the pages of file range [holebegin, holebegin + holelen) from every VMA
 * mapping the file (holelen 0 means to the end of the file). Private COW copies
 * are zapped too only if evenCows (truncate) and left alone otherwise (hole punch).
 */
// mirrors mm/memory.c:unmap_mapping_range
export function unmapMappingRange(host: Host, mapping: AddressSpace, holebegin: number, holelen: number, evenCows: boolean): void {
  const first = Math.floor(holebegin / PAGE_SIZE);
  const last = holelen === 0 ? Number.MAX_SAFE_INTEGER : first + Math.ceil(holelen / PAGE_SIZE) - 1;
  unmapMappingPages(host, mapping, first, last, evenCows);
}

/** unmap_mapping_pages: as unmapMappingRange, in page indices [first, last]. */
// mirrors mm/memory.c:unmap_mapping_pages
export function unmapMappingPages(host: Host, mapping: AddressSpace, first: number, last: number, evenCows: boolean): void {
  const details: ZapDetails = evenCows ? ZAP_EVEN_COWS : ZAP_KEEP_COWS;
  // (Zapping changes no VMA: the set is walked as it is, as Linux walks i_mmap under its lock.)
  for (const vma of mapping.iMmap) {
    const vba = vma.pgoff;
    const vea = vba + vmaPages(vma) - 1;
    if (last < vba || first > vea) continue;
    const zba = Math.max(first, vba);
    const zea = Math.min(last, vea);
    zapPageRangeSingle(host, vma, vma.start + (zba - vba) * PAGE_SIZE, vma.start + (zea - vba + 1) * PAGE_SIZE, details);
  }
}

/** Folio size in bytes. */
export function folioSize(host: Host, f: number): number {
  return folioNrPages(host.ft, f) * PAGE_SIZE;
}
