/**
 * Transparent huge pages mapped by PMDs (mirrors mm/huge_memory.c): the
 * anonymous THP fault, the huge zero page, write faults on huge PMDs, PMD
 * splitting and zapping, mapping a PMD-order page-cache folio (shmem THP) by
 * a PMD, splitting large folios (anonymous and page-cache) of any order, and
 * which anonymous orders (multi-size THP, 16 KiB to 2 MiB) a VMA may use.
 *
 * Every anonymous or huge-zero PMD leaf has a PTE table deposited with it
 * (pgtable_trans_huge_deposit): it is allocated at fault time, counted in
 * PageTables, and becomes the PTE table when the PMD is split. File (shmem)
 * PMD leaves have none, as on x86 (arch_needs_pgtable_deposit() is false):
 * splitting one zaps it and later faults map PTEs.
 */
import { pow2 } from '../lib/pow2.js';
import { Ev } from '../cost/counters.js';
import { FOLIO_PAGES_MAPPED, type FolioOwner, type FolioTable, PG, folioMapcount, folioNrPages, folioTestAnon, folioTestPmdMappable, isZeroFolio, pageAnonExclusive, setPageAnonExclusive } from './folio.js';
import { type AddressSpace, VmFault } from './fs_types.js';
import type { Host } from './host.js';
import { MMF, MmCounter, type MmStruct, VM, type Vma, vmaIsAnonymous } from './mm_types.js';
import { MmuNotifyEvent, invalidateEnd, invalidateStart } from './mmu_notifier.js';
import { GFP_HIGHUSER_MOVABLE } from './page_alloc.js';
import { HPAGE_PMD_NR, HPAGE_PMD_ORDER, Level, PAGE_SIZE, PMD_SIZE, PTRS_PER_TABLE, alignDown } from './page.js';
import { MKDIRTY, type PageTable, Pte, type Walk, clearEntry, linkChild, newPageTable, setEntry, walk } from './pgtable.js';
import {
  RMAP_EXCLUSIVE,
  RMAP_NONE,
  folioAddAnonRmap,
  folioAddFileRmap,
  folioAddLru,
  folioAddNewAnonRmap,
  folioMoveAnonRmap,
  folioRemoveRmap,
  folioTryDupAnonRmap,
  rmapWalk,
} from './rmap.js';
import { flushTlbRange } from './tlb.js';
import { MthpStat, NodeStat, modMthpStat, mthpStat } from './vmstat.js';
import { handleUserfault, userfaultfdMissing } from './userfaultfd_k.js';

/** add_mm_counter, keeping the RSS high-water mark. */
export function addMmCounter(mm: MmStruct, type: MmCounter, n: number): void {
  mm.rss[type] += n;
  if (n > 0) {
    const rss = mm.rssPages();
    if (rss > mm.hiwaterRss) mm.hiwaterRss = rss;
  }
}

/** MM_SHMEMPAGES for swap-backed (shmem) folios, MM_FILEPAGES otherwise (mm_counter_file). */
export function mmCounterFile(host: Host, f: number): MmCounter {
  return host.ft.flags[f]! & PG.SWAPBACKED ? MmCounter.SHMEMPAGES : MmCounter.FILEPAGES;
}

/** maybe_mkwrite: RW only if the VMA is writable. */
export function maybeMkwrite(fl: number, vma: Vma): number {
  return vma.flags & VM.WRITE ? fl | Pte.RW : fl;
}

/**
 * THP_ORDERS_ALL_ANON: the anonymous large-folio orders, 16 KiB (order 2)
 * to PMD size. Order 1 has no room for the deferred-split list.
 */
export const THP_ORDERS_ALL_ANON = ((1 << (HPAGE_PMD_ORDER + 1)) - 1) & ~3;

/**
 * The orders a page-cache (shmem) folio may have: 8 KiB (order 1) up to
 * MAX_PAGECACHE_ORDER, which is the PMD order on x86-64.
 */
// mirrors include/linux/huge_mm.h:THP_ORDERS_ALL_FILE_DEFAULT
export const THP_ORDERS_ALL_FILE_DEFAULT = ((1 << (HPAGE_PMD_ORDER + 1)) - 1) & ~1;

/** thp_vma_allowable_orders' tva_flags (include/linux/huge_mm.h). */
export const TVA_SMAPS = 1 << 0;
export const TVA_IN_PF = 1 << 1;
export const TVA_ENFORCE_SYSFS = 1 << 2;

/** The highest order set in an order bitmask (-1 for none). */
// mirrors include/linux/huge_mm.h:highest_order
export function highestOrder(orders: number): number {
  return 31 - Math.clz32(orders);
}

/**
 * The anonymous orders the per-size `enabled` files allow for a VMA with
 * vmFlags: "always" sizes, "madvise" sizes under MADV_HUGEPAGE, and
 * "inherit" sizes as the top-level `enabled` says.
 */
// mirrors include/linux/huge_mm.h:thp_vma_allowable_orders (its TVA_ENFORCE_SYSFS mask for anonymous VMAs)
export function hugeAnonOrdersAllowed(host: Host, vmFlags: number): number {
  const thp = host.cfg.thp;
  const hugepage = (vmFlags & VM.HUGEPAGE) !== 0;
  let mask = thp.anonOrders.always;
  if (hugepage) mask |= thp.anonOrders.madvise;
  if (thp.enabled === 'always' || (hugepage && thp.enabled === 'madvise')) mask |= thp.anonOrders.inherit;
  return mask;
}

/**
 * The orders of `orders` that may back the anonymous VMA vma (with vmFlags):
 * the sysfs controls (with TVA_ENFORCE_SYSFS), MADV_NOHUGEPAGE and
 * PR_SET_THP_DISABLE, VM_NO_KHUGEPAGED (not in a fault or for smaps), and,
 * outside a fault, whether an order-aligned block fits at the VMA's end. A
 * VMA no fault has prepared yet qualifies only for a fault or smaps.
 * Anonymous VMAs only: file and shmem VMAs have their own checks (doSetPmd,
 * khugepaged's thpVmaAllowableOrder).
 */
// mirrors mm/huge_memory.c:__thp_vma_allowable_orders (anonymous VMAs; temporary stacks are not modelled)
export function thpVmaAllowableOrders(host: Host, vma: Vma, vmFlags: number, tvaFlags: number, orders: number): number {
  if (tvaFlags & TVA_ENFORCE_SYSFS) orders &= hugeAnonOrdersAllowed(host, vmFlags);
  orders &= THP_ORDERS_ALL_ANON;
  if (orders === 0 || !vmaIsAnonymous(vma)) return 0;
  if (vmaThpDisabled(vma, vmFlags)) return 0;
  const inPf = (tvaFlags & TVA_IN_PF) !== 0;
  if (!inPf && !(tvaFlags & TVA_SMAPS) && vmFlags & (VM.SPECIAL | VM.HUGETLB)) return 0;
  if (!inPf) {
    // The largest order whose aligned block ends inside the VMA; smaller ones then fit too.
    let order = highestOrder(orders);
    while (orders !== 0 && !thpVmaSuitableOrder(vma, vma.end - PAGE_SIZE * pow2(order), order)) {
      orders &= ~(1 << order);
      order = highestOrder(orders);
    }
    if (orders === 0) return 0;
  }
  if (vma.anonVma === null) return inPf || tvaFlags & TVA_SMAPS ? orders : 0;
  return orders;
}

/** The orders of `orders` whose naturally aligned block around addr lies inside vma. */
// mirrors include/linux/huge_mm.h:thp_vma_suitable_orders
export function thpVmaSuitableOrders(vma: Vma, addr: number, orders: number): number {
  let order = highestOrder(orders);
  let out = orders;
  while (order >= 0) {
    if (!thpVmaSuitableOrder(vma, addr, order)) out &= ~(1 << order);
    orders &= ~(1 << order);
    order = highestOrder(orders);
  }
  return out;
}

/**
 * Is a PMD-sized THP allowed for this fault (thp_vma_allowable_order with
 * TVA_IN_PF | TVA_ENFORCE_SYSFS for PMD order), and does the aligned 2 MiB
 * fit the VMA (do_huge_pmd_anonymous_page's thp_vma_suitable_order)?
 * Anonymous private VMAs only in this model.
 */
// mirrors mm/memory.c:__handle_mm_fault (its PMD-order check) and mm/huge_memory.c:do_huge_pmd_anonymous_page (suitability)
export function thpVmaAllowable(host: Host, vma: Vma, addr: number): boolean {
  if (thpVmaAllowableOrders(host, vma, vma.flags, TVA_IN_PF | TVA_ENFORCE_SYSFS, 1 << HPAGE_PMD_ORDER) === 0) return false;
  return thpVmaSuitableOrder(vma, addr);
}

/**
 * Does the naturally aligned block of 2^order pages around addr lie inside
 * vma, at a file offset a mapping of that size can map?
 */
// mirrors include/linux/huge_mm.h:thp_vma_suitable_order
export function thpVmaSuitableOrder(vma: Vma, addr: number, order = HPAGE_PMD_ORDER): boolean {
  const nr = pow2(order);
  if (!vmaIsAnonymous(vma) && (vma.start / PAGE_SIZE - vma.pgoff) % nr !== 0) return false;
  const size = nr * PAGE_SIZE;
  const haddr = Math.floor(addr / size) * size;
  return haddr >= vma.start && haddr + size <= vma.end;
}

/** MADV_NOHUGEPAGE or PR_SET_THP_DISABLE: no THP of any kind here. */
// mirrors include/linux/huge_mm.h:vma_thp_disabled
export function vmaThpDisabled(vma: Vma, vmFlags: number): boolean {
  return (vmFlags & VM.NOHUGEPAGE) !== 0 || (vma.mm.flags & MMF.DISABLE_THP) !== 0;
}

/**
 * Map the PMD-order page-cache folio f by a PMD at the 2 MiB around address
 * (the PMD entry i of pmdTable is none). The caller's reference on f becomes
 * the PMD's. VM_FAULT_FALLBACK when a PMD cannot map it here: THP disabled
 * for the VMA, the VMA range or file offset not PMD-aligned, a small folio,
 * a poisoned page, or the PMD no longer none.
 */
// mirrors mm/memory.c:do_set_pmd (no deposit: x86)
export function doSetPmd(host: Host, vma: Vma, pmdTable: PageTable, i: number, address: number, f: number, write: boolean): number {
  const ft = host.ft;
  if (vmaThpDisabled(vma, vma.flags)) return VmFault.FALLBACK;
  const haddr = alignDown(address, PMD_SIZE);
  if (!thpVmaSuitableOrder(vma, haddr)) return VmFault.FALLBACK;
  if (ft.order[f] !== HPAGE_PMD_ORDER) return VmFault.FALLBACK;
  // folio_test_has_hwpoisoned: a poisoned page must stay behind its own PTE.
  if (ft.flags[f]! & PG.HWPOISON) return VmFault.FALLBACK;
  if (pmdTable.fl[i] !== 0) return VmFault.FALLBACK;
  let fl = vma.pageProt | Pte.PSE;
  if (write) fl = maybeMkwrite(fl | MKDIRTY, vma);
  addMmCounter(vma.mm, mmCounterFile(host, f), HPAGE_PMD_NR);
  folioAddFileRmap(host, f, 0, HPAGE_PMD_NR, vma, Level.PMD);
  setEntry(host, pmdTable, i, ft.pfn[f]!, fl);
  return VmFault.OK;
}

/** The PTE table deposited with PMD leaf i, as a folio slot. */
function depositedSlot(pmdTable: PageTable, i: number): number {
  return pmdTable.deposit === null ? 0 : pmdTable.deposit[i]!;
}

// mirrors mm/pgtable-generic.c:pgtable_trans_huge_deposit
export function pgtableTransHugeDeposit(pmdTable: PageTable, i: number, ptSlot: number, mm: MmStruct): void {
  if (pmdTable.deposit === null) pmdTable.deposit = new Int32Array(PTRS_PER_TABLE);
  pmdTable.deposit[i] = ptSlot;
  mm.pgtablesBytes += 4096; // mm_inc_nr_ptes
}

// mirrors mm/pgtable-generic.c:pgtable_trans_huge_withdraw
function withdraw(pmdTable: PageTable, i: number, mm: MmStruct): number {
  const s = depositedSlot(pmdTable, i);
  pmdTable.deposit![i] = 0;
  mm.pgtablesBytes -= 4096;
  return s;
}

// mirrors mm/huge_memory.c:zap_deposited_table
export function zapDepositedTable(host: Host, pmdTable: PageTable, i: number, mm: MmStruct): void {
  const s = withdraw(pmdTable, i, mm);
  if (s !== 0) host.ptFree(s);
}

/** Map a new anon THP with a PMD (map_anon_folio_pmd). The deposited table must be in place. */
function mapAnonFolioPmd(host: Host, f: number, pmdTable: PageTable, i: number, vma: Vma, haddr: number): void {
  const fl = maybeMkwrite(vma.pageProt | Pte.PSE | MKDIRTY | Pte.ACCESSED, vma);
  folioAddNewAnonRmap(host, f, vma, haddr, RMAP_EXCLUSIVE);
  folioAddLru(host, f);
  setEntry(host, pmdTable, i, host.ft.pfn[f]!, fl);
  addMmCounter(vma.mm, MmCounter.ANONPAGES, HPAGE_PMD_NR);
  host.ev[Ev.THP_FAULT_ALLOC]++;
  modMthpStat(host.mthpStats, HPAGE_PMD_ORDER, MthpStat.ANON_FAULT_ALLOC, 1);
}

/** Allocate and zero a PMD-sized anonymous folio (vma_alloc_anon_folio_pmd), or 0. */
function allocAnonFolioPmd(host: Host): number {
  const f = host.folioAlloc(HPAGE_PMD_ORDER, GFP_HIGHUSER_MOVABLE);
  if (f === 0) {
    host.ev[Ev.THP_FAULT_FALLBACK]++;
    modMthpStat(host.mthpStats, HPAGE_PMD_ORDER, MthpStat.ANON_FAULT_FALLBACK, 1);
    return 0;
  }
  host.zeroFolio(f);
  host.ft.flags[f]! |= PG.UPTODATE;
  return f;
}

/**
 * Fault on a none PMD of an eligible anonymous VMA: map the huge zero page for
 * a read (if use_zero_page), else a new zeroed THP. VM_FAULT_FALLBACK sends the
 * caller to the PTE path.
 */
// mirrors mm/huge_memory.c:do_huge_pmd_anonymous_page
export function doHugePmdAnonymousPage(
  host: Host,
  vma: Vma,
  pmdTable: PageTable,
  i: number,
  address: number,
  write: boolean,
  anonPrepare: () => void,
  realAddress: number,
  flags: number,
): number {
  const haddr = alignDown(address, PMD_SIZE);
  anonPrepare();
  const mm = vma.mm;
  if (!write && host.cfg.thp.useZeroPage) {
    const pt = host.ptAlloc();
    if (pt === 0) return VmFault.OOM;
    const zf = host.getHugeZeroFolio();
    if (zf === 0) {
      host.ptFree(pt);
      host.ev[Ev.THP_FAULT_FALLBACK]++;
      return VmFault.FALLBACK;
    }
    mm.flags |= MMF.HUGE_ZERO_FOLIO;
    // A MISSING-registered range gets nothing mapped: userfaultfd resolves the fault.
    if (userfaultfdMissing(vma)) {
      host.ptFree(pt);
      return handleUserfault(vma, address, realAddress, flags, VM.UFFD_MISSING);
    }
    // set_huge_zero_folio: read-only, special, with a deposited table.
    pgtableTransHugeDeposit(pmdTable, i, pt, mm);
    setEntry(host, pmdTable, i, host.ft.pfn[zf]!, (vma.pageProt & ~Pte.RW) | Pte.PSE | Pte.SPECIAL);
    return VmFault.OK;
  }
  const f = allocAnonFolioPmd(host);
  if (f === 0) return VmFault.FALLBACK;
  const pt = host.ptAlloc();
  if (pt === 0) {
    host.folioPut(f);
    return VmFault.OOM;
  }
  if (userfaultfdMissing(vma)) {
    host.folioPut(f);
    host.ptFree(pt);
    return handleUserfault(vma, address, realAddress, flags, VM.UFFD_MISSING);
  }
  pgtableTransHugeDeposit(pmdTable, i, pt, mm);
  mapAnonFolioPmd(host, f, pmdTable, i, vma, haddr);
  return VmFault.OK;
}

/** Is the PMD leaf i the huge zero page? */
export function isHugeZeroPmd(host: Host, pmdTable: PageTable, i: number): boolean {
  return host.hugeZeroFolio !== 0 && pmdTable.pfn[i] === host.ft.pfn[host.hugeZeroFolio] && (pmdTable.fl[i]! & Pte.PSE) !== 0;
}

/**
 * Write (or unshare) fault on a present huge PMD without write permission.
 * Reuses the THP when it is exclusive to us, replaces the huge zero page with a
 * new THP, and otherwise splits the PMD and falls back to PTE-level COW.
 */
// mirrors mm/huge_memory.c:do_huge_pmd_wp_page (with do_huge_zero_wp_pmd)
export function doHugePmdWpPage(host: Host, vma: Vma, pmdTable: PageTable, i: number, address: number, unshare: boolean): number {
  const haddr = alignDown(address, PMD_SIZE);
  const ft = host.ft;
  if (isHugeZeroPmd(host, pmdTable, i)) {
    // do_huge_zero_wp_pmd: replace the huge zero page by a fresh THP.
    const f = allocAnonFolioPmd(host);
    if (f !== 0) {
      const range = invalidateStart(host, vma.mm, MmuNotifyEvent.CLEAR, haddr, haddr + PMD_SIZE);
      clearEntry(host, pmdTable, i);
      flushTlbRange(host, vma.mm);
      mapAnonFolioPmd(host, f, pmdTable, i, vma, haddr);
      invalidateEnd(range);
      return VmFault.OK;
    }
    splitHugePmd(host, vma, pmdTable, i, haddr);
    return VmFault.FALLBACK;
  }
  const f = host.pfnFolio(pmdTable.pfn[i]!);
  let reuse = pageAnonExclusive(ft, f, 0);
  if (!reuse && ft.refcount[f] === 1) {
    folioMoveAnonRmap(host, f, vma);
    setPageAnonExclusive(ft, f, 0);
    reuse = true;
  }
  if (reuse) {
    if (unshare) return VmFault.OK;
    setEntry(host, pmdTable, i, pmdTable.pfn[i]!, maybeMkwrite(pmdTable.fl[i]! | MKDIRTY | Pte.ACCESSED, vma));
    host.ev[Ev.COW_REUSE]++;
    return VmFault.OK;
  }
  splitHugePmd(host, vma, pmdTable, i, haddr);
  return VmFault.FALLBACK;
}

/**
 * Replace the PMD leaf i (mapping [haddr, haddr + 2 MiB)) by a PTE table mapping
 * the same pages. Anonymous THPs keep their folio (refcount and per-page
 * mapcounts move to PTE granularity, exclusivity is propagated to every page);
 * the huge zero page becomes 512 zero-page PTEs; file THP PMDs are zapped.
 */
// mirrors mm/huge_memory.c:__split_huge_pmd (and __split_huge_pmd_locked)
export function splitHugePmd(host: Host, vma: Vma, pmdTable: PageTable, i: number, haddr: number): void {
  const range = invalidateStart(host, vma.mm, MmuNotifyEvent.CLEAR, haddr, haddr + PMD_SIZE);
  splitHugePmdLocked(host, vma, pmdTable, i);
  invalidateEnd(range);
}

function splitHugePmdLocked(host: Host, vma: Vma, pmdTable: PageTable, i: number): void {
  const ft = host.ft;
  const mm = vma.mm;
  const old = pmdTable.fl[i]!;
  const pfn = pmdTable.pfn[i]!;
  host.ev[Ev.THP_SPLIT_PMD]++;
  if (isHugeZeroPmd(host, pmdTable, i)) {
    // __split_huge_zero_page_pmd
    clearEntry(host, pmdTable, i);
    flushTlbRange(host, mm);
    const pt = newPageTable(Level.PTE, withdraw(pmdTable, i, mm));
    mm.pgtablesBytes += 4096;
    const zpfn = host.ft.pfn[host.zeroPage]!;
    const fl = (vma.pageProt & ~Pte.RW) | Pte.SPECIAL;
    for (let k = 0; k < PTRS_PER_TABLE; k++) setEntry(host, pt, k, zpfn, fl);
    linkChild(host, pmdTable, i, pt);
    return;
  }
  const f = host.pfnFolio(pfn);
  if (!vmaIsAnonymous(vma)) {
    // File THP: just zap the PMD; later faults map PTEs.
    clearEntry(host, pmdTable, i);
    flushTlbRange(host, mm);
    if (old & Pte.DIRTY) ft.flags[f]! |= PG.DIRTY;
    folioRemoveRmap(host, f, 0, HPAGE_PMD_NR, vma, Level.PMD);
    addMmCounter(mm, mmCounterFile(host, f), -HPAGE_PMD_NR);
    host.folioPut(f);
    return;
  }
  // pmdp_invalidate, then hand the mapping to 512 PTEs.
  clearEntry(host, pmdTable, i);
  flushTlbRange(host, mm);
  if (old & Pte.DIRTY) ft.flags[f]! |= PG.DIRTY;
  const anonExclusive = pageAnonExclusive(ft, f, 0);
  host.folioGet(f, HPAGE_PMD_NR - 1);
  folioAddAnonRmap(host, f, 0, HPAGE_PMD_NR, vma, anonExclusive ? RMAP_EXCLUSIVE : RMAP_NONE, Level.PTE);
  const pt = newPageTable(Level.PTE, withdraw(pmdTable, i, mm));
  mm.pgtablesBytes += 4096;
  let fl = vma.pageProt;
  if (old & Pte.RW) fl |= Pte.RW;
  // The software bits go to every PTE (the pte-bit design's PINNED with soft-dirty and uffd-wp).
  fl |= old & (Pte.ACCESSED | Pte.DIRTY | Pte.SOFT_DIRTY | Pte.UFFD_WP | Pte.PINNED);
  for (let k = 0; k < PTRS_PER_TABLE; k++) setEntry(host, pt, k, pfn + k, fl);
  folioRemoveRmap(host, f, 0, HPAGE_PMD_NR, vma, Level.PMD);
  linkChild(host, pmdTable, i, pt);
}

/**
 * Zap a PMD leaf covering a whole 2 MiB of the range being unmapped.
 * Returns the folio slot whose mapping reference the caller must drop, or 0.
 */
// mirrors mm/huge_memory.c:zap_huge_pmd
export function zapHugePmd(host: Host, vma: Vma, pmdTable: PageTable, i: number): number {
  const mm = vma.mm;
  const fl = pmdTable.fl[i]!;
  if (isHugeZeroPmd(host, pmdTable, i)) {
    clearEntry(host, pmdTable, i);
    zapDepositedTable(host, pmdTable, i, mm);
    return 0;
  }
  const f = host.pfnFolio(pmdTable.pfn[i]!);
  clearEntry(host, pmdTable, i);
  folioRemoveRmap(host, f, 0, folioNrPages(host.ft, f), vma, Level.PMD);
  if (folioTestAnon(host.ft, f)) {
    zapDepositedTable(host, pmdTable, i, mm);
    addMmCounter(mm, MmCounter.ANONPAGES, -HPAGE_PMD_NR);
  } else {
    if (fl & Pte.DIRTY) host.ft.flags[f]! |= PG.DIRTY;
    addMmCounter(mm, mmCounterFile(host, f), -HPAGE_PMD_NR);
  }
  return f;
}

/**
 * At fork, copy one anonymous (or huge zero) PMD leaf into the child: share the
 * THP read-only in both, or split it and return -EAGAIN ("retry at PTE level")
 * when the THP may be pinned.
 */
// mirrors mm/huge_memory.c:copy_huge_pmd
export function copyHugePmd(
  host: Host,
  dst: Vma,
  src: Vma,
  dstPmd: PageTable,
  srcPmd: PageTable,
  i: number,
  addr: number,
  maybePinned: (f: number) => boolean,
): 'ok' | 'again' | 'skip' | 'oom' {
  if (!vmaIsAnonymous(dst)) return 'skip';
  const pt = host.ptAlloc();
  if (pt === 0) return 'oom';
  const fl = srcPmd.fl[i]!;
  const pfn = srcPmd.pfn[i]!;
  if (isHugeZeroPmd(host, srcPmd, i)) {
    dst.mm.flags |= MMF.HUGE_ZERO_FOLIO;
    pgtableTransHugeDeposit(dstPmd, i, pt, dst.mm);
    setEntry(host, dstPmd, i, pfn, fl & ~Pte.ACCESSED);
    return 'ok';
  }
  const f = host.pfnFolio(pfn);
  host.folioGet(f);
  if (!folioTryDupAnonRmap(host, f, 0, HPAGE_PMD_NR, dst, Level.PMD, maybePinned(f))) {
    host.folioPut(f);
    host.ptFree(pt);
    splitHugePmd(host, src, srcPmd, i, addr);
    return 'again';
  }
  addMmCounter(dst.mm, MmCounter.ANONPAGES, HPAGE_PMD_NR);
  pgtableTransHugeDeposit(dstPmd, i, pt, dst.mm);
  // pmdp_set_wrprotect on the parent, and a write-protected, old copy for the child.
  if (fl & Pte.RW) setEntry(host, srcPmd, i, pfn, fl & ~Pte.RW);
  // The child did not pin through its copy: no PINNED (the pte-bit design).
  let cfl = fl & ~(Pte.RW | Pte.ACCESSED | Pte.PINNED);
  if (!(dst.flags & VM.UFFD_WP)) cfl &= ~Pte.UFFD_WP;
  setEntry(host, dstPmd, i, pfn, cfl);
  return 'ok';
}

/** True if folio f is the huge zero folio (is_huge_zero_folio). */
export function isHugeZeroFolio(host: Host, f: number): boolean {
  return f !== 0 && f === host.hugeZeroFolio && isZeroFolio(host.ft, f);
}

// ---------------------------------------------------------------------------
// Splitting a large folio into smaller ones.

/** One PTE mapping of a page of a folio being split. */
interface SplitMapping {
  vma: Vma;
  page: number;
}

/**
 * Split the large folio f (anonymous or page cache) into folios of order
 * newOrder. The caller holds one reference on f, which stays with the new
 * folio holding f's first page. Fails with -EINVAL (the huge zero folio is
 * -EBUSY; bad orders), -EBUSY (no anon_vma; a page-cache folio already
 * truncated), or -EAGAIN when references other than the mappings, the page
 * cache's and the caller's exist (can_split_folio: the refcount cannot
 * freeze): a GUP pin or reference, a pipe holding the page, ...
 *
 * Linux unmaps every mapping into migration entries, freezes the refcount,
 * splits and maps the pieces back. The model splits PMD mappings first (an
 * anonymous PMD becomes PTEs; a file PMD is zapped, as __split_huge_pmd does
 * for file VMAs), then moves each page's PTE mappings from the old folio's
 * counters to its new folio's (the PTEs themselves do not change: the pfns
 * stay), which ends in the same state. A page-cache folio's multi-index
 * entry becomes one entry per piece, each piece holding the cache's
 * references to its pages. New folios that nothing maps or caches are freed,
 * as free_folio_and_swap_cache does. Simplified: pieces beyond EOF stay in
 * the page cache (Linux drops them here; truncation, the only caller that
 * leaves such pieces, removes them next).
 */
// mirrors mm/huge_memory.c:split_huge_page_to_list_to_order (__folio_split, uniform split)
export function splitFolio(host: Host, f: number, newOrder: number): number {
  const ft = host.ft;
  const order = ft.order[f]!;
  if (isHugeZeroFolio(host, f)) return -EBUSY_;
  if (ft.flags[f]! & PG.HUGETLB || order === 0) return -EINVAL_;
  if (!Number.isInteger(newOrder) || newOrder < 0 || newOrder >= order) return -EINVAL_;
  const anon = folioTestAnon(ft, f);
  // Anonymous memory has no order-1 folios (no room for the deferred-split list).
  if (anon && newOrder === 1) return -EINVAL_;
  // No anon_vma, or a page-cache folio truncated meanwhile (folio->mapping NULL).
  if (ft.owner[f] === null) return splitFailed(host, order, -EBUSY_);
  const nr = folioNrPages(ft, f);
  if (!canSplitFolio(host, f, 1)) return splitFailed(host, order, -EAGAIN_);
  // Linux unmaps a PMD mapping straight into migration entries; the model's detour through PTEs must not queue the folio.
  const onlyPmdMapped = (ft.nrMapped[f]! & FOLIO_PAGES_MAPPED) === 0;
  const deferredBefore = mthpStat(host.mthpStats, order, MthpStat.SPLIT_DEFERRED);
  const head = ft.pfn[f]!;
  // unmap_folio (TTU_SPLIT_HUGE_PMD): PMD mappings become PTE mappings (anon) or go (file) first.
  const mappings = collectSplitMappings(host, f, true);
  const excl = new Uint8Array(anon ? nr : 0);
  for (let i = 0; i < excl.length; i++) excl[i] = pageAnonExclusive(ft, f, i) ? 1 : 0;
  for (const m of mappings) folioRemoveRmap(host, f, m.page, 1, m.vma, Level.PTE);
  if (anon) {
    // Unmapping page by page queued a PTE-mapped folio for deferred split (counted in split_deferred, as in Linux).
    if (onlyPmdMapped && ft.flags[f]! & PG.PARTIALLY_MAPPED) {
      ft.flags[f]! &= ~PG.PARTIALLY_MAPPED;
      modMthpStat(host.mthpStats, order, MthpStat.NR_ANON_PARTIALLY_MAPPED, -1);
      modMthpStat(host.mthpStats, order, MthpStat.SPLIT_DEFERRED, deferredBefore - mthpStat(host.mthpStats, order, MthpStat.SPLIT_DEFERRED));
    }
    // Frozen: off the deferred-split queue; the pieces are counted in nr_anon.
    if (ft.flags[f]! & PG.PARTIALLY_MAPPED) modMthpStat(host.mthpStats, order, MthpStat.NR_ANON_PARTIALLY_MAPPED, -1);
    modMthpStat(host.mthpStats, order, MthpStat.NR_ANON, -1);
    modMthpStat(host.mthpStats, newOrder, MthpStat.NR_ANON, pow2(order - newOrder));
  }
  // __split_unmapped_folio: the pieces, each unmapped and with no references yet.
  const per = 1 << newOrder;
  const flags = ft.flags[f]! & (PG.ANON | PG.SWAPBACKED | PG.UPTODATE | PG.DIRTY | PG.REFERENCED | PG.LRU | PG.UNEVICTABLE | PG.MLOCKED);
  const owner = ft.owner[f]!;
  const index = ft.index[f]!;
  const mapping = anon ? null : (owner as AddressSpace);
  const wasPmdMappable = folioTestPmdMappable(ft, f);
  host.memmap.delete(head, order);
  ft.pages.delete(f);
  if (mapping !== null) mapping.pages.delete(index, order);
  const slots: number[] = [f];
  resetSplitSlot(ft, f, head, newOrder, flags, owner, index);
  for (let k = 1; k < nr / per; k++) {
    const g = ft.alloc(head + k * per, newOrder);
    resetSplitSlot(ft, g, head + k * per, newOrder, flags, owner, index + k * per);
    slots.push(g);
  }
  for (let k = 0; k < slots.length; k++) host.memmap.set(head + k * per, newOrder, slots[k]!);
  host.content.splitInto(f, slots, per);
  if (mapping !== null) {
    // The page cache: one entry per piece, each with the cache's references to its pages.
    for (let k = 0; k < slots.length; k++) mapping.pages.set(index + k * per, newOrder, slots[k]!);
    if (flags & PG.SWAPBACKED && wasPmdMappable && newOrder < HPAGE_PMD_ORDER) host.stat[NodeStat.NR_SHMEM_THPS] -= nr;
  }
  // remap_page: every mapping back, on its new folio; each holds one reference.
  for (let k = 0; k < slots.length; k++) {
    const g = slots[k]!;
    ft.refcount[g] = (k === 0 ? 1 : 0) + (mapping !== null ? per : 0);
    for (let i = 0; i < per && anon; i++) if (excl[k * per + i]) setPageAnonExclusive(ft, g, i);
  }
  for (const m of mappings) {
    const g = slots[Math.floor(m.page / per)]!;
    const i = m.page % per;
    if (anon) folioAddAnonRmap(host, g, i, 1, m.vma, excl[m.page] ? RMAP_EXCLUSIVE : RMAP_NONE, Level.PTE);
    else folioAddFileRmap(host, g, i, 1, m.vma, Level.PTE);
    ft.refcount[g] = ft.refcount[g]! + 1;
  }
  host.ev[Ev.THP_SPLIT_PAGE]++;
  modMthpStat(host.mthpStats, order, MthpStat.SPLIT, 1);
  // free_folio_and_swap_cache: pieces nothing maps go back to the allocator.
  for (let k = 1; k < slots.length; k++) {
    const g = slots[k]!;
    if (ft.refcount[g] === 0) {
      ft.refcount[g] = 1;
      host.folioPut(g);
    }
  }
  return 0;
}

/** Every PTE mapping of a page of f (splitting PMD mappings into PTEs first if asked). */
function collectSplitMappings(host: Host, f: number, splitPmds: boolean): SplitMapping[] {
  const ft = host.ft;
  const nr = folioNrPages(ft, f);
  const head = ft.pfn[f]!;
  const out: SplitMapping[] = [];
  const w: Walk = { table: null as never, idx: 0, level: Level.PTE, parent: null, pidx: 0 };
  rmapWalk(host, f, (vma, address) => {
    for (let k = 0; k < nr; k++) {
      const a = address + k * PAGE_SIZE;
      if (a < vma.start || a >= vma.end) continue;
      walk(vma.mm.pgd, a, w);
      if (w.level === Level.PMD && w.table.fl[w.idx]! & Pte.PSE && w.table.pfn[w.idx] === head) {
        if (!splitPmds) continue;
        splitHugePmd(host, vma, w.table, w.idx, alignDown(a, PMD_SIZE));
        walk(vma.mm.pgd, a, w);
      }
      if (w.level === Level.PTE && w.table.fl[w.idx]! & (Pte.PRESENT | Pte.PROTNONE) && w.table.pfn[w.idx] === head + k) out.push({ vma, page: k });
    }
  });
  return out;
}

/** A fresh, unmapped, unreferenced folio header for one piece of a split. */
function resetSplitSlot(ft: FolioTable, g: number, pfn: number, order: number, flags: number, owner: FolioOwner, index: number): void {
  ft.init(g, pfn, order);
  ft.refcount[g] = 0;
  ft.flags[g] = flags;
  ft.owner[g] = owner;
  ft.index[g] = index;
}

/** Only the mappings, the page cache and the caller's callerPins references hold f: its refcount could freeze. */
// mirrors mm/huge_memory.c:can_split_folio
export function canSplitFolio(host: Host, f: number, callerPins: number): boolean {
  const ft = host.ft;
  // The page cache or the swap cache holds one reference per page.
  const extraPins = folioTestAnon(ft, f) && !(ft.flags[f]! & PG.SWAPCACHE) ? 0 : folioNrPages(ft, f);
  return ft.refcount[f] === folioMapcount(ft, f) + extraPins + callerPins;
}

/** A split that got as far as taking the folio's locks failed: split_failed counts it. */
function splitFailed(host: Host, order: number, err: number): number {
  modMthpStat(host.mthpStats, order, MthpStat.SPLIT_FAILED, 1);
  return err;
}

const EINVAL_ = 22;
const EBUSY_ = 16;
const EAGAIN_ = 11;

/**
 * debugfs split_huge_pages for one mm: split every large folio mapped in
 * [start, end) to newOrder. Returns how many were split (the kernel logs
 * "%lu of %lu THP split").
 */
// mirrors mm/huge_memory.c:split_huge_pages_pid
export function splitHugePagesPid(host: Host, mm: MmStruct, start: number, end: number, newOrder: number): { split: number; total: number } {
  let split = 0;
  let total = 0;
  const w: Walk = { table: null as never, idx: 0, level: Level.PTE, parent: null, pidx: 0 };
  for (let addr = start; addr < end; addr += PAGE_SIZE) {
    const vma = vmaLookupForSplit(mm, addr);
    if (vma === null) break;
    walk(mm.pgd, addr, w);
    const fl = w.table.fl[w.idx]!;
    const leaf = w.level === Level.PTE ? fl !== 0 : (fl & Pte.PSE) !== 0;
    if (!leaf || !(fl & (Pte.PRESENT | Pte.PROTNONE)) || fl & Pte.SPECIAL) continue;
    const f = host.pfnFolio(w.table.pfn[w.idx]!);
    if (f === 0 || host.ft.order[f] === 0 || isHugeZeroFolio(host, f) || !folioTestAnon(host.ft, f)) continue;
    // Already at or below the target order: not counted.
    if (newOrder >= host.ft.order[f]!) continue;
    total++;
    // can_split_folio without a caller reference: a pinned or otherwise referenced folio is not tried.
    if (!canSplitFolio(host, f, 0)) continue;
    host.folioGet(f);
    if (splitFolio(host, f, newOrder) === 0) split++;
    host.folioPut(f);
  }
  return { split, total };
}

function vmaLookupForSplit(mm: MmStruct, addr: number): Vma | null {
  for (const v of mm.vmas) if (addr >= v.start && addr < v.end) return v;
  return null;
}
