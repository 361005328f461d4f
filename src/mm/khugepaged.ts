/**
 * Collapsing small pages into PMD-mapped THPs (mirrors mm/khugepaged.c):
 * MADV_COLLAPSE and the khugepaged scan, over anonymous memory and shmem.
 *
 * Both run the same machinery with different limits (struct collapse_control):
 *
 *   hpage_collapse_scan_pmd   looks at the 512 PTEs under one PMD and says
 *                             whether they may be collapsed (enum scan_result)
 *   collapse_huge_page        allocates a PMD-order folio, unhooks the PTE
 *                             table (pmdp_collapse_flush inside an MMU-notifier
 *                             invalidation), isolates the pages again, copies
 *                             them (zeroing the holes), frees the small pages
 *                             and maps the new folio by a PMD with the old
 *                             table deposited under it
 *   hpage_collapse_scan_file  (shmem) looks at the page cache of the 2 MiB
 *   collapse_file             replaces its small folios by one PMD-order folio
 *                             (copying them, holes become zeroes), unmapping
 *                             them everywhere and retracting empty PTE tables
 *   collapse_pte_mapped_thp   maps a PMD-order page-cache folio mapped by PTEs
 *                             (or not at all) in one mm by a PMD instead
 *
 * MADV_COLLAPSE ignores khugepaged's max_ptes_none/swap/shared and the sysfs
 * `enabled` setting (it honours VM_NOHUGEPAGE and PR_SET_THP_DISABLE); its
 * errno is the last failure's, mapped by madvise_collapse_errno. khugepaged
 * enforces the sysfs setting and its limits, and wants young pages.
 *
 * Semantics are Linux 6.12's (checked against real 6.12 under QEMU, see
 * khugepaged.test.ts), with one 6.15 change the model already makes:
 * sharing is judged by folio_maybe_mapped_shared (6.12: folio_likely_mapped_shared).
 *
 * Simplifications (also in docs/ARCHITECTURE.md):
 * - Single-threaded: mmap_lock is never dropped for real, so the revalidation
 *   after the allocation always finds the same VMA, and no page is ever locked
 *   or off the LRU by someone else (SCAN_PAGE_LOCK cannot happen).
 * - No swap: a non-present, non-none PTE (only a uffd-wp marker could be one)
 *   is counted as a swap entry, and collapse_huge_page, which cannot swap it
 *   in, fails at isolation with SCAN_PTE_NON_PRESENT.
 * - No NUMA, no memcg: the node checks and SCAN_CGROUP_CHARGE_FAIL never fire.
 * - Regular (non-shmem) files are EINVAL as in a kernel built without
 *   CONFIG_READ_ONLY_THP_FOR_FS: collapse_file's read-only file path is not
 *   modelled. shmem has no swap, so collapse_file never swaps a page in.
 * - khugepaged has no thread: Kernel.khugepagedScan() runs one wake-up of it
 *   (khugepaged_do_scan) when a test or a simulated-time scenario asks.
 */
import { Ev } from '../cost/counters.js';
import { PG, folioMapcount, folioMapped, folioMaybeMappedShared, folioNrPages, folioTestAnon } from './folio.js';
import type { AddressSpace } from './fs_types.js';
import type { Host } from './host.js';
import { addMmCounter, doSetPmd, hugeAnonOrdersAllowed, maybeMkwrite, mmCounterFile, pgtableTransHugeDeposit, thpVmaSuitableOrder, vmaThpDisabled } from './huge_memory.js';
import { MMF, MmCounter, type MmStruct, VM, type Vma, linearPageIndex, vmaIsAnonymous, vmaIsShmem } from './mm_types.js';
import { MmuNotifyEvent, invalidateEnd, invalidateStart, mmuNotifierTestYoung } from './mmu_notifier.js';
import { GFP_HIGHUSER_MOVABLE } from './page_alloc.js';
import { HPAGE_PMD_NR, HPAGE_PMD_ORDER, Level, PAGE_SIZE, PMD_SIZE, alignDown, alignUp, tableIndex } from './page.js';
import { MKDIRTY, type PageTable, Pte, clearEntry, freeChild, linkChild, setEntry, tableLookup } from './pgtable.js';
import { RMAP_EXCLUSIVE, folioAddLru, folioAddNewAnonRmap, folioRemoveRmap, tryToUnmap } from './rmap.js';
import { flushTlbRange } from './tlb.js';
import { NodeStat } from './vmstat.js';
import { userfaultfdArmed, userfaultfdMissing, userfaultfdWp } from './userfaultfd_k.js';
import { findVma, vmaIsDax, vmaLookup } from './vma.js';

/** enum scan_result (mm/khugepaged.c), in Linux's order. */
export const enum Scan {
  FAIL,
  SUCCEED,
  PMD_NULL,
  PMD_NONE,
  PMD_MAPPED,
  EXCEED_NONE_PTE,
  EXCEED_SWAP_PTE,
  EXCEED_SHARED_PTE,
  PTE_NON_PRESENT,
  PTE_UFFD_WP,
  PTE_MAPPED_HUGEPAGE,
  PAGE_RO,
  LACK_REFERENCED_PAGE,
  PAGE_NULL,
  SCAN_ABORT,
  PAGE_COUNT,
  PAGE_LRU,
  PAGE_LOCK,
  PAGE_ANON,
  PAGE_COMPOUND,
  ANY_PROCESS,
  VMA_NULL,
  VMA_CHECK,
  ADDRESS_RANGE,
  DEL_PAGE_LRU,
  ALLOC_HUGE_PAGE_FAIL,
  CGROUP_CHARGE_FAIL,
  TRUNCATED,
  PAGE_HAS_PRIVATE,
  STORE_FAILED,
  COPY_MC,
  PAGE_FILLED,
}

/** The names the mm_khugepaged_scan_pmd tracepoint prints, by Scan value. */
export const SCAN_NAMES = [
  'failed',
  'succeeded',
  'pmd_null',
  'pmd_none',
  'page_pmd_mapped',
  'exceed_none_pte',
  'exceed_swap_pte',
  'exceed_shared_pte',
  'pte_non_present',
  'pte_uffd_wp',
  'pte_mapped_hugepage',
  'no_writable_page',
  'lack_referenced_page',
  'page_null',
  'scan_aborted',
  'not_suitable_page_count',
  'page_not_in_lru',
  'page_locked',
  'page_not_anon',
  'page_compound',
  'no_process_for_page',
  'vma_null',
  'vma_check_failed',
  'not_suitable_address_range',
  'could_not_delete_page_from_lru',
  'alloc_huge_page_failed',
  'ccgroup_charge_failed',
  'truncated',
  'page_has_private',
  'store_failed',
  'copy_mc',
  'page_filled',
] as const;

/** struct collapse_control: who asked (khugepaged's limits apply only to khugepaged). */
interface CollapseControl {
  readonly isKhugepaged: boolean;
}

const MADVISE_CC: CollapseControl = { isKhugepaged: false };
const KHUGEPAGED_CC: CollapseControl = { isKhugepaged: true };

// ---------------------------------------------------------------------------
// khugepaged's global state (the file-scope variables of mm/khugepaged.c).

/**
 * The tunables under /sys/kernel/mm/transparent_hugepage/khugepaged/, the
 * statistics it shows, the registered mms (mm_slots, in list order) and the
 * scan cursor (struct khugepaged_scan).
 */
export class KhugepagedState {
  /** max_ptes_none: HPAGE_PMD_NR - 1. */
  maxPtesNone = HPAGE_PMD_NR - 1;
  /** max_ptes_swap: HPAGE_PMD_NR / 8. */
  maxPtesSwap = HPAGE_PMD_NR / 8;
  /** max_ptes_shared: HPAGE_PMD_NR / 2. */
  maxPtesShared = HPAGE_PMD_NR / 2;
  /** pages_to_scan: HPAGE_PMD_NR * 8. */
  pagesToScan = HPAGE_PMD_NR * 8;
  scanSleepMillisecs = 10000;
  allocSleepMillisecs = 60000;
  /** khugepaged/defrag (TRANSPARENT_HUGEPAGE_DEFRAG_KHUGEPAGED_FLAG, on by default). */
  defrag = true;
  pagesCollapsed = 0;
  fullScans = 0;
  /** The mm_slots list: registered mms, oldest first (mm_slots_hash + khugepaged_scan.mm_head). */
  readonly slots: MmStruct[] = [];
  /** khugepaged_scan.mm_slot and .address. */
  scanMm: MmStruct | null = null;
  scanAddress = 0;
}

const states = new WeakMap<Host, KhugepagedState>();

/** khugepaged's state on this host (created on first use). */
export function khugepagedState(host: Host): KhugepagedState {
  let s = states.get(host);
  if (s === undefined) states.set(host, (s = new KhugepagedState()));
  return s;
}

// ---------------------------------------------------------------------------
// Eligibility.

/** thp_vma_allowable_order's tva_flags. */
export const enum Tva {
  /** TVA_ENFORCE_SYSFS: khugepaged; MADV_COLLAPSE passes 0. */
  ENFORCE_SYSFS = 1 << 2,
}

/**
 * May a PMD-sized THP back this VMA outside the fault path (collapse)? With
 * Tva.ENFORCE_SYSFS (khugepaged) the sysfs `enabled` setting applies to
 * anonymous VMAs, and shmem_enabled / the tmpfs huge= option to shmem ones;
 * MADV_COLLAPSE ignores them (even "never"), except shmem_enabled=deny.
 */
// mirrors include/linux/huge_mm.h:thp_vma_allowable_order and mm/huge_memory.c:__thp_vma_allowable_orders (PMD order; not in a fault, not for smaps)
export function thpVmaAllowableOrder(host: Host, vma: Vma, vmFlags: number, tvaFlags: number): boolean {
  const enforceSysfs = (tvaFlags & Tva.ENFORCE_SYSFS) !== 0;
  const anon = vmaIsAnonymous(vma);
  // The PMD size's own `enabled` (hugepages-2048kB/enabled, "inherit" by default).
  if (enforceSysfs && anon && !(hugeAnonOrdersAllowed(host, vmFlags) & (1 << HPAGE_PMD_ORDER))) return false;
  if (vmaThpDisabled(vma, vmFlags)) return false;
  // khugepaged does not collapse DAX; this is not the fault path.
  if (vmaIsDax(vma)) return false;
  // VM_NO_KHUGEPAGED
  if (vmFlags & (VM.SPECIAL | VM.HUGETLB)) return false;
  if (!thpVmaSuitableOrder(vma, vma.end - PMD_SIZE)) return false;
  // shmem_allowable_huge_orders (from the VMA's first page): a forced collapse unless shmem_enabled=deny.
  // As in 6.12, any allowed order admits the PMD collapse (the mask is not narrowed to PMD order).
  if (vmaIsShmem(vma)) return (vma.ops?.shmem?.hugeOrders(vma, vma.pgoff, !enforceSysfs) ?? 0) !== 0;
  // vma_can_map_huge_file -> file_thp_enabled: CONFIG_READ_ONLY_THP_FOR_FS is not set.
  if (!anon) return false;
  // An anonymous VMA no fault has prepared has nothing to collapse.
  return vma.anonVma !== null;
}

// ---------------------------------------------------------------------------
// mm registration.

/**
 * hugepage_pmd_enabled: may khugepaged collapse anything at all? Only the
 * anonymous PMD size decides, by its per-size `enabled` (which may inherit
 * `enabled`): 6.12 has no shmem term (shmem_hpage_pmd_enabled came in 6.13),
 * so with anonymous THP off khugepaged does not run for shmem either, whatever
 * shmem_enabled or huge= say.
 */
// mirrors mm/khugepaged.c:hugepage_pmd_enabled (6.12.118; CONFIG_READ_ONLY_THP_FOR_FS is not set, as in Debian's config)
function hugepagePmdEnabled(host: Host): boolean {
  const thp = host.cfg.thp;
  const pmd = 1 << HPAGE_PMD_ORDER;
  if ((thp.anonOrders.always | thp.anonOrders.madvise) & pmd) return true;
  return (thp.anonOrders.inherit & pmd) !== 0 && thp.enabled !== 'never';
}

// mirrors mm/khugepaged.c:__khugepaged_enter
function khugepagedEnter(host: Host, mm: MmStruct): void {
  const s = khugepagedState(host);
  if (s.slots.includes(mm)) return; // MMF_VM_HUGEPAGE already set
  s.slots.push(mm);
}

/**
 * Register vma's mm with khugepaged if it could collapse there under the sysfs
 * settings. Called where Linux calls it: the anonymous THP fault, MADV_HUGEPAGE.
 */
// mirrors mm/khugepaged.c:khugepaged_enter_vma
export function khugepagedEnterVma(host: Host, vma: Vma, vmFlags: number): void {
  if (!hugepagePmdEnabled(host)) return;
  if (thpVmaAllowableOrder(host, vma, vmFlags, Tva.ENFORCE_SYSFS)) khugepagedEnter(host, vma.mm);
}

/** At fork, a child of a registered mm is registered too. */
// mirrors include/linux/khugepaged.h:khugepaged_fork
export function khugepagedFork(host: Host, mm: MmStruct, oldmm: MmStruct): void {
  if (khugepagedState(host).slots.includes(oldmm)) khugepagedEnter(host, mm);
}

/** The mm is exiting: forget it (unless the scan is on it; collect_mm_slot then drops it). */
// mirrors mm/khugepaged.c:__khugepaged_exit
export function khugepagedExit(host: Host, mm: MmStruct): void {
  const s = states.get(host);
  if (s === undefined) return;
  const i = s.slots.indexOf(mm);
  if (i >= 0 && s.scanMm !== mm) s.slots.splice(i, 1);
}

/** Is the mm registered with khugepaged (MMF_VM_HUGEPAGE)? */
export function khugepagedRegistered(host: Host, mm: MmStruct): boolean {
  return states.get(host)?.slots.includes(mm) ?? false;
}

// ---------------------------------------------------------------------------
// The checks.

/** A PTE that maps nothing or the shared zero page (pte_none_or_zero). */
function pteNoneOrZero(host: Host, fl: number, pfn: number): boolean {
  if (fl === 0) return true;
  return (fl & (Pte.PRESENT | Pte.PROTNONE)) !== 0 && pfn === host.ft.pfn[host.zeroPage];
}

/** Only the mappings (and a page-cache or private reference) hold the folio: no GUP pin or other user. */
// mirrors mm/khugepaged.c:is_refcount_suitable (no swap cache in the model)
function isRefcountSuitable(host: Host, f: number): boolean {
  const ft = host.ft;
  let expected = folioMapcount(ft, f);
  if (!folioTestAnon(ft, f)) expected += folioNrPages(ft, f);
  if (ft.flags[f]! & PG.PRIVATE) expected++;
  return ft.refcount[f] === expected;
}

interface PmdLookup {
  result: Scan;
  table: PageTable | null;
  idx: number;
}

/** The PMD entry covering address: a page table under it (SUCCEED), none, or a huge leaf. */
// mirrors mm/khugepaged.c:find_pmd_or_thp_or_none (mm_find_pmd: no PMD table at all is PMD_NULL)
function findPmdOrThpOrNone(mm: MmStruct, address: number): PmdLookup {
  const table = tableLookup(mm.pgd, address, Level.PMD);
  if (table === null) return { result: Scan.PMD_NULL, table: null, idx: 0 };
  const idx = tableIndex(address, Level.PMD);
  const fl = table.fl[idx]!;
  if (fl === 0) return { result: Scan.PMD_NONE, table, idx };
  if (fl & Pte.PSE) return { result: Scan.PMD_MAPPED, table, idx };
  return { result: Scan.SUCCEED, table, idx };
}

/**
 * Look at the 512 PTEs under the PMD at address (PMD aligned) and collapse them
 * if nothing forbids it. Returns the scan result, or collapse_huge_page's.
 */
// mirrors mm/khugepaged.c:hpage_collapse_scan_pmd (no NUMA node checks)
function hpageCollapseScanPmd(host: Host, mm: MmStruct, vma: Vma, address: number, cc: CollapseControl): Scan {
  $scan.mmapLocked = true;
  const pmd = findPmdOrThpOrNone(mm, address);
  if (pmd.result !== Scan.SUCCEED) return pmd.result;
  const ft = host.ft;
  const kh = khugepagedState(host);
  const pt = pmd.table!.kids![pmd.idx]!;
  let referenced = 0;
  let noneOrZero = 0;
  let shared = 0;
  let unmapped = 0;
  let writable = false;
  for (let k = 0; k < HPAGE_PMD_NR; k++) {
    const fl = pt.fl[k]!;
    const pfn = pt.pfn[k]!;
    if (fl !== 0 && !(fl & (Pte.PRESENT | Pte.PROTNONE))) {
      // is_swap_pte: a swap entry or a PTE marker.
      ++unmapped;
      if (cc.isKhugepaged && unmapped > kh.maxPtesSwap) return Scan.EXCEED_SWAP_PTE;
      // Always strict with uffd-wp swap entries (pte_swp_uffd_wp_any).
      if (fl & Pte.UFFD_WP) return Scan.PTE_UFFD_WP;
      continue;
    }
    if (pteNoneOrZero(host, fl, pfn)) {
      ++noneOrZero;
      if (!userfaultfdArmed(vma) && (!cc.isKhugepaged || noneOrZero <= kh.maxPtesNone)) continue;
      return Scan.EXCEED_NONE_PTE;
    }
    // Collapsing would drop the uffd-wp bit of this PTE.
    if (fl & Pte.UFFD_WP) return Scan.PTE_UFFD_WP;
    if (fl & Pte.RW) writable = true;
    // vm_normal_page: special PTEs have no page.
    const f = fl & Pte.SPECIAL ? 0 : host.pfnFolio(pfn);
    if (f === 0) return Scan.PAGE_NULL;
    if (!folioTestAnon(ft, f)) return Scan.PAGE_ANON;
    // A page counts as shared if any part of its folio is.
    if (folioMaybeMappedShared(ft, f)) {
      ++shared;
      if (cc.isKhugepaged && shared > kh.maxPtesShared) return Scan.EXCEED_SHARED_PTE;
    }
    if (!(ft.flags[f]! & PG.LRU)) return Scan.PAGE_LRU;
    // A GUP pin, a pipe buffer or any other reference beyond the mappings.
    if (!isRefcountSuitable(host, f)) return Scan.PAGE_COUNT;
    if (cc.isKhugepaged && (fl & Pte.ACCESSED || ft.flags[f]! & PG.REFERENCED || mmuNotifierTestYoung(mm, address + k * PAGE_SIZE))) referenced++;
  }
  if (!writable) return Scan.PAGE_RO;
  if (cc.isKhugepaged && (referenced === 0 || (unmapped !== 0 && referenced < HPAGE_PMD_NR / 2))) return Scan.LACK_REFERENCED_PAGE;
  // collapse_huge_page returns with mmap_lock released.
  $scan.mmapLocked = false;
  return collapseHugePage(host, mm, address, cc);
}

/** hpage_collapse_scan_pmd's *mmap_locked: cleared when it went on to collapse_huge_page. */
const $scan = { mmapLocked: true };

/**
 * The second look, with the PTE table already unhooked: every page must still
 * qualify (and is isolated from the LRU in Linux; the model has no LRU lists).
 */
// mirrors mm/khugepaged.c:__collapse_huge_page_isolate
function collapseHugePageIsolate(host: Host, vma: Vma, address: number, pt: PageTable, cc: CollapseControl): Scan {
  const ft = host.ft;
  const kh = khugepagedState(host);
  let noneOrZero = 0;
  let shared = 0;
  let referenced = 0;
  let writable = false;
  let lastLarge = 0;
  for (let k = 0; k < HPAGE_PMD_NR; k++) {
    const fl = pt.fl[k]!;
    const pfn = pt.pfn[k]!;
    if (pteNoneOrZero(host, fl, pfn)) {
      ++noneOrZero;
      if (!userfaultfdArmed(vma) && (!cc.isKhugepaged || noneOrZero <= kh.maxPtesNone)) continue;
      return Scan.EXCEED_NONE_PTE;
    }
    if (!(fl & (Pte.PRESENT | Pte.PROTNONE))) return Scan.PTE_NON_PRESENT;
    if (fl & Pte.UFFD_WP) return Scan.PTE_UFFD_WP;
    const f = fl & Pte.SPECIAL ? 0 : host.pfnFolio(pfn);
    if (f === 0) return Scan.PAGE_NULL;
    if (folioMaybeMappedShared(ft, f)) {
      ++shared;
      if (cc.isKhugepaged && shared > kh.maxPtesShared) return Scan.EXCEED_SHARED_PTE;
    }
    // A large folio is checked once (the compound_pagelist); its pages are usually consecutive PTEs.
    if (ft.order[f] === 0 || f !== lastLarge) {
      if (!isRefcountSuitable(host, f)) return Scan.PAGE_COUNT;
      if (!(ft.flags[f]! & PG.LRU)) return Scan.DEL_PAGE_LRU;
      if (ft.order[f]! > 0) lastLarge = f;
    }
    if (cc.isKhugepaged && (fl & Pte.ACCESSED || ft.flags[f]! & PG.REFERENCED || mmuNotifierTestYoung(vma.mm, address + k * PAGE_SIZE))) referenced++;
    if (fl & Pte.RW) writable = true;
  }
  if (!writable) return Scan.PAGE_RO;
  if (cc.isKhugepaged && referenced === 0) return Scan.LACK_REFERENCED_PAGE;
  return Scan.SUCCEED;
}

/**
 * Copy the pages the PTEs map into the new folio nf (holes and zero-page PTEs
 * become zeroes), then clear the PTEs and drop the old pages.
 */
// mirrors mm/khugepaged.c:__collapse_huge_page_copy and __collapse_huge_page_copy_succeeded (copies cannot hit poison here)
function collapseHugePageCopy(host: Host, vma: Vma, pt: PageTable, nf: number): void {
  const ft = host.ft;
  const content = host.content;
  const mm = vma.mm;
  // A PTE-mapped THP mapped in order is one folio copy.
  const first = pt.fl[0] !== 0 && !(pt.fl[0]! & Pte.SPECIAL) ? host.pfnFolio(pt.pfn[0]!) : 0;
  let whole = first !== 0 && ft.order[first] === HPAGE_PMD_ORDER && pt.pfn[0] === ft.pfn[first];
  for (let k = 1; whole && k < HPAGE_PMD_NR; k++) whole = pt.fl[k] !== 0 && pt.pfn[k] === pt.pfn[0]! + k;
  if (whole) {
    content.copyFolio(nf, first);
    host.ev[Ev.COPY_BYTES] += PMD_SIZE;
  } else {
    for (let k = 0; k < HPAGE_PMD_NR; k++) {
      const fl = pt.fl[k]!;
      const pfn = pt.pfn[k]!;
      if (pteNoneOrZero(host, fl, pfn)) {
        // clear_user_highpage
        content.fill(nf, HPAGE_PMD_NR, k * PAGE_SIZE, PAGE_SIZE, 0);
        host.ev[Ev.ZERO_BYTES] += PAGE_SIZE;
      } else {
        // copy_mc_user_highpage
        const f = host.pfnFolio(pfn);
        content.copyPage(nf, HPAGE_PMD_NR, k, f, pfn - ft.pfn[f]!);
        host.ev[Ev.COPY_BYTES] += PAGE_SIZE;
      }
    }
  }
  for (let k = 0; k < HPAGE_PMD_NR; k++) {
    const fl = pt.fl[k]!;
    const pfn = pt.pfn[k]!;
    if (pteNoneOrZero(host, fl, pfn)) {
      addMmCounter(mm, MmCounter.ANONPAGES, 1);
      if (fl !== 0) clearEntry(host, pt, k);
      continue;
    }
    const f = host.pfnFolio(pfn);
    clearEntry(host, pt, k);
    folioRemoveRmap(host, f, pfn - ft.pfn[f]!, 1, vma, Level.PTE);
    // free_page_and_swap_cache: the PTE's reference.
    host.folioPut(f);
  }
}

/**
 * Revalidate the VMA at address after mmap_lock was retaken (the model never
 * drops it, but the checks are the same).
 */
// mirrors mm/khugepaged.c:hugepage_vma_revalidate
function hugepageVmaRevalidate(host: Host, mm: MmStruct, address: number, expectAnon: boolean, cc: CollapseControl): { result: Scan; vma: Vma | null } {
  if (mm.flags & MMF.DISABLE_THP || mm.users === 0) return { result: Scan.ANY_PROCESS, vma: null };
  const vma = findVma(mm, address);
  if (vma === null) return { result: Scan.VMA_NULL, vma };
  if (!thpVmaSuitableOrder(vma, address)) return { result: Scan.ADDRESS_RANGE, vma };
  if (!thpVmaAllowableOrder(host, vma, vma.flags, cc.isKhugepaged ? Tva.ENFORCE_SYSFS : 0)) return { result: Scan.VMA_CHECK, vma };
  if (expectAnon && (vma.anonVma === null || !vmaIsAnonymous(vma))) return { result: Scan.PAGE_ANON, vma };
  return { result: Scan.SUCCEED, vma };
}

/**
 * Replace the PTE table under the PMD at address by one PMD-mapped THP holding
 * a copy of its pages. The new folio is exclusive to this mm (a private copy),
 * whatever the old pages were.
 */
// mirrors mm/khugepaged.c:collapse_huge_page (with alloc_charge_folio; no memcg, and no swap-in: swap entries fail isolation)
function collapseHugePage(host: Host, mm: MmStruct, address: number, cc: CollapseControl): Scan {
  const ft = host.ft;
  // alloc_charge_folio: GFP_TRANSHUGE (khugepaged without defrag: GFP_TRANSHUGE_LIGHT; no reclaim either way).
  const nf = host.folioAlloc(HPAGE_PMD_ORDER, GFP_HIGHUSER_MOVABLE);
  if (nf === 0) {
    host.ev[Ev.THP_COLLAPSE_ALLOC_FAILED]++;
    return Scan.ALLOC_HUGE_PAGE_FAIL;
  }
  host.ev[Ev.THP_COLLAPSE_ALLOC]++;
  const rv = hugepageVmaRevalidate(host, mm, address, true, cc);
  let result = rv.result;
  const pmd = result === Scan.SUCCEED ? findPmdOrThpOrNone(mm, address) : null;
  if (pmd !== null) result = pmd.result;
  if (result !== Scan.SUCCEED) {
    host.folioPut(nf);
    return result;
  }
  const vma = rv.vma!;
  const pmdT = pmd!.table!;
  const i = pmd!.idx;
  const pt = pmdT.kids![i]!;
  // pmdp_collapse_flush inside an invalidation: no CPU or secondary MMU may use the PTEs from here on.
  const range = invalidateStart(host, mm, MmuNotifyEvent.CLEAR, address, address + PMD_SIZE);
  pmdT.kids![i] = undefined;
  clearEntry(host, pmdT, i);
  mm.pgtablesBytes -= PAGE_SIZE; // (the table is still the mm's: it is deposited or put back below)
  flushTlbRange(host, mm);
  invalidateEnd(range);
  // tlb_remove_table_sync_one: GUP-fast walkers of the old table are gone.
  host.ptGen++;
  result = collapseHugePageIsolate(host, vma, address, pt, cc);
  if (result !== Scan.SUCCEED) {
    // pmd_populate: put the PTE table back.
    linkChild(host, pmdT, i, pt);
    mm.pgtablesBytes += PAGE_SIZE;
    host.folioPut(nf);
    return result;
  }
  collapseHugePageCopy(host, vma, pt, nf);
  ft.flags[nf]! |= PG.UPTODATE;
  const fl = maybeMkwrite(vma.pageProt | Pte.PSE | MKDIRTY, vma);
  folioAddNewAnonRmap(host, nf, vma, address, RMAP_EXCLUSIVE);
  folioAddLru(host, nf);
  pgtableTransHugeDeposit(pmdT, i, pt.folio, mm);
  setEntry(host, pmdT, i, ft.pfn[nf]!, fl);
  // deferred_split_folio(folio, false): the model has no split queue for fully mapped folios.
  return Scan.SUCCEED;
}

// ---------------------------------------------------------------------------
// shmem: collapsing the page cache (collapse_file) and mapping the result.

/**
 * Look at the page cache of [start, start + HPAGE_PMD_NR) of a shmem file and
 * collapse it if nothing forbids it: a PMD-order folio already there is
 * SCAN_PTE_MAPPED_HUGEPAGE (the caller maps it), a folio off the LRU or with
 * extra references (a GUP pin) fails. khugepaged wants at least
 * HPAGE_PMD_NR - max_ptes_none pages present; MADV_COLLAPSE one.
 */
// mirrors mm/khugepaged.c:hpage_collapse_scan_file (no swap entries, no NUMA)
function hpageCollapseScanFile(host: Host, vma: Vma, start: number, cc: CollapseControl): Scan {
  const ft = host.ft;
  const mapping = vma.file!.inode.mapping;
  let present = 0;
  let result = Scan.SUCCEED;
  mapping.pages.forEach(start, start + HPAGE_PMD_NR, (index, order, f) => {
    if (order === HPAGE_PMD_ORDER && index === start) {
      // Maybe PMD-mapped: the caller goes on to collapse_pte_mapped_thp.
      result = Scan.PTE_MAPPED_HUGEPAGE;
      return true;
    }
    if (!(ft.flags[f]! & PG.LRU)) {
      result = Scan.PAGE_LRU;
      return true;
    }
    if (!isRefcountSuitable(host, f)) {
      result = Scan.PAGE_COUNT;
      return true;
    }
    present += 1 << order;
    return false;
  });
  if (result !== Scan.SUCCEED) return result;
  if (cc.isKhugepaged && present < HPAGE_PMD_NR - khugepagedState(host).maxPtesNone) return Scan.EXCEED_NONE_PTE;
  return collapseFile(host, vma, start, cc);
}

/**
 * Replace the small folios of [start, start + HPAGE_PMD_NR) of a shmem file
 * by one new PMD-order folio holding their contents (holes become zeroes and
 * are charged to the file): each old folio is unmapped everywhere first and
 * must then be held by nothing but the page cache and us. On success the
 * emptied PTE tables are retracted from the VMAs that map the range aligned,
 * and MADV_COLLAPSE gets SCAN_PTE_MAPPED_HUGEPAGE to map the folio by a PMD.
 * On failure the old folios stay in the page cache (unmapped ones refault).
 */
// mirrors mm/khugepaged.c:collapse_file (shmem; no swap-in, single-threaded: the holes cannot fill meanwhile)
function collapseFile(host: Host, vma: Vma, start: number, cc: CollapseControl): Scan {
  const ft = host.ft;
  const file = vma.file!;
  const inode = file.inode;
  const mapping = inode.mapping;
  const shmem = vma.ops!.shmem!;
  const end = start + HPAGE_PMD_NR;
  // alloc_charge_folio
  const nf = host.folioAlloc(HPAGE_PMD_ORDER, GFP_HIGHUSER_MOVABLE);
  if (nf === 0) {
    host.ev[Ev.THP_COLLAPSE_ALLOC_FAILED]++;
    return Scan.ALLOC_HUGE_PAGE_FAIL;
  }
  host.ev[Ev.THP_COLLAPSE_ALLOC]++;
  const olds: number[] = [];
  let nrNone = 0;
  let result = Scan.SUCCEED;
  for (let index = start; index < end; ) {
    let f = mapping.pages.get(index);
    if (f < 0) {
      // Stop if the extent is now completely empty (truncated or hole-punched).
      if (index === start && mapping.pages.nextKey(start, end) === -1) {
        result = Scan.TRUNCATED;
        break;
      }
      nrNone++;
      index++;
      continue;
    }
    if (!(ft.flags[f]! & PG.UPTODATE)) {
      // shmem_get_folio(SGP_NOALLOC): instantiate a fallocated page.
      f = shmem.getFolioNoalloc(inode, index);
      if (f <= 0) {
        result = Scan.FAIL;
        break;
      }
    } else {
      host.folioGet(f);
    }
    // If the file was truncated and extended, a THP may be here already.
    if (ft.order[f] === HPAGE_PMD_ORDER && ft.index[f] === start) result = Scan.PTE_MAPPED_HUGEPAGE;
    else if (ft.owner[f] !== mapping) result = Scan.TRUNCATED;
    else if (!(ft.flags[f]! & PG.LRU)) result = Scan.DEL_PAGE_LRU;
    if (result !== Scan.SUCCEED) {
      host.folioPut(f);
      break;
    }
    if (folioMapped(ft, f)) tryToUnmap(host, f);
    // Ours, the page cache's, and (in Linux) the LRU isolation's: anything else is a user.
    if (ft.refcount[f] !== 1 + folioNrPages(ft, f)) {
      result = Scan.PAGE_COUNT;
      host.folioPut(f);
      break;
    }
    olds.push(f);
    index += folioNrPages(ft, f);
  }
  if (result === Scan.SUCCEED && nrNone > 0 && !shmem.charge(inode, nrNone)) result = Scan.FAIL;
  else if (result === Scan.SUCCEED && nrNone > 0) {
    // A hole a MISSING-registered VMA has seen must still raise its fault: roll back.
    for (const v of mapping.iMmap) {
      if (v.pgoff < end && v.pgoff + (v.end - v.start) / PAGE_SIZE > start && userfaultfdMissing(v)) result = Scan.EXCEED_NONE_PTE;
    }
    if (result !== Scan.SUCCEED) shmem.uncharge(inode, nrNone);
  }
  if (result !== Scan.SUCCEED) {
    // rollback: the old folios stay in the page cache.
    for (const f of olds) host.folioPut(f);
    host.folioPut(nf);
    return result;
  }
  collapseFileCopy(host, nf, start, olds);
  ft.flags[nf]! |= PG.UPTODATE | PG.DIRTY;
  folioAddLru(host, nf);
  collapseFileReplace(host, mapping, start, nf, olds, nrNone);
  retractPageTables(host, mapping, start);
  return cc.isKhugepaged ? Scan.SUCCEED : Scan.PTE_MAPPED_HUGEPAGE;
}

/** Copy the old folios into the new one at their offsets; the holes between them become zeroes. */
// mirrors mm/khugepaged.c:collapse_file (the copy loop: copy_mc_highpage, clear_highpage)
function collapseFileCopy(host: Host, nf: number, start: number, olds: readonly number[]): void {
  const ft = host.ft;
  const content = host.content;
  let index = start;
  const zero = (upTo: number): void => {
    if (upTo <= index) return;
    content.fill(nf, HPAGE_PMD_NR, (index - start) * PAGE_SIZE, (upTo - index) * PAGE_SIZE, 0);
    host.ev[Ev.ZERO_BYTES] += (upTo - index) * PAGE_SIZE;
    index = upTo;
  };
  for (const f of olds) {
    zero(ft.index[f]!);
    const n = folioNrPages(ft, f);
    for (let i = 0; i < n; i++) content.copyPage(nf, HPAGE_PMD_NR, index - start + i, f, i);
    host.ev[Ev.COPY_BYTES] += n * PAGE_SIZE;
    index += n;
  }
  zero(start + HPAGE_PMD_NR);
}

/**
 * The page-cache swap: the old folios (unmapped, each held by us) leave and
 * nf takes the range as one multi-index entry, nrNone of its pages filling
 * holes. The old folios' page counts pass to nf; the holes are added. nf's
 * allocation reference becomes one of the cache's; the old folios lose the
 * cache's references and ours, and are freed.
 */
// mirrors mm/khugepaged.c:collapse_file (shmem_charge's nrpages, the xas_store of the new folio, freeing the old ones)
function collapseFileReplace(host: Host, mapping: AddressSpace, start: number, nf: number, olds: readonly number[], nrNone: number): void {
  const ft = host.ft;
  const nr = folioNrPages(ft, nf);
  for (const f of olds) {
    const n = folioNrPages(ft, f);
    mapping.pages.delete(ft.index[f]!, ft.order[f]!);
    ft.owner[f] = null;
    host.folioPut(f, n + 1);
  }
  ft.owner[nf] = mapping;
  ft.index[nf] = start;
  ft.flags[nf]! |= PG.SWAPBACKED;
  mapping.pages.set(start, HPAGE_PMD_ORDER, nf);
  // folio_ref_add(new_folio, HPAGE_PMD_NR - 1): with the allocation's, one per page for the cache.
  host.folioGet(nf, nr - 1);
  mapping.nrpages += nrNone;
  host.stat[NodeStat.NR_FILE_PAGES] += nrNone;
  host.stat[NodeStat.NR_SHMEM] += nrNone;
  host.stat[NodeStat.NR_SHMEM_THPS] += nr;
}

/**
 * After a collapse, free the (now empty) PTE tables of the range in every VMA
 * that maps it PMD-aligned, so that the next fault maps the new folio by a
 * PMD. Skipped: private VMAs with an anon_vma (COWed pages may be there),
 * uffd-wp VMAs (their tables may hold markers), and exiting mms.
 */
// mirrors mm/khugepaged.c:retract_page_tables
function retractPageTables(host: Host, mapping: AddressSpace, pgoff: number): void {
  for (const vma of [...mapping.iMmap]) {
    if (pgoff < vma.pgoff || pgoff >= vma.pgoff + (vma.end - vma.start) / PAGE_SIZE) continue;
    if (vma.anonVma !== null) continue;
    const addr = vma.start + (pgoff - vma.pgoff) * PAGE_SIZE;
    if (addr % PMD_SIZE !== 0 || vma.end < addr + PMD_SIZE) continue;
    const mm = vma.mm;
    const pmd = findPmdOrThpOrNone(mm, addr);
    if (pmd.result !== Scan.SUCCEED) continue;
    if (mm.users === 0) continue;
    if (userfaultfdWp(vma)) continue;
    // PTEs were notified when unmapped; this is for the PMD.
    const range = invalidateStart(host, mm, MmuNotifyEvent.CLEAR, addr, addr + PMD_SIZE);
    // pmdp_collapse_flush, then pte_free_defer.
    freeChild(host, mm, pmd.table!, pmd.idx);
    flushTlbRange(host, mm);
    invalidateEnd(range);
  }
}

/**
 * The page cache holds a PMD-order folio at the 2 MiB around addr: remove its
 * PTE mappings in this mm (every present PTE must map its own page of the
 * folio: a COWed or foreign page aborts) and the PTE table, inside one
 * MMU-notifier invalidation; then, with installPmd, map the folio by a PMD.
 */
// mirrors mm/khugepaged.c:collapse_pte_mapped_thp (with set_huge_pmd)
export function collapsePteMappedThp(host: Host, mm: MmStruct, addr: number, installPmd: boolean): Scan {
  const ft = host.ft;
  const haddr = alignDown(addr, PMD_SIZE);
  const vma = vmaLookup(mm, haddr);
  if (vma === null || vma.file === null || haddr < vma.start || haddr + PMD_SIZE > vma.end) return Scan.VMA_CHECK;
  let pmd = findPmdOrThpOrNone(mm, haddr);
  if (pmd.result === Scan.PMD_MAPPED) return pmd.result;
  // A fault would map the folio by a PMD whatever the sysfs settings: so may we.
  if (!thpVmaAllowableOrder(host, vma, vma.flags, 0)) return Scan.VMA_CHECK;
  // Keep the page table for uffd-wp: it may hold markers.
  if (userfaultfdWp(vma)) return Scan.PTE_UFFD_WP;
  const f = vma.file.inode.mapping.pages.get(linearPageIndex(vma, haddr));
  if (f < 0) return Scan.PAGE_NULL;
  host.folioGet(f);
  const done = (r: Scan): Scan => {
    host.folioPut(f);
    return r;
  };
  if (ft.order[f] !== HPAGE_PMD_ORDER) return done(Scan.PAGE_COMPOUND);
  pmd = findPmdOrThpOrNone(mm, haddr);
  if (pmd.result !== Scan.SUCCEED && pmd.result !== Scan.PMD_NONE) return done(pmd.result);
  const pmdT = pmd.table!;
  const i = pmd.idx;
  if (pmd.result === Scan.SUCCEED) {
    const pt = pmdT.kids![i]!;
    const head = ft.pfn[f]!;
    // Step 1: every mapped PTE maps the right page of the folio.
    for (let k = 0; k < HPAGE_PMD_NR; k++) {
      const fl = pt.fl[k]!;
      if (fl === 0) continue;
      if (!(fl & (Pte.PRESENT | Pte.PROTNONE))) return done(Scan.PTE_NON_PRESENT);
      if (fl & Pte.SPECIAL || pt.pfn[k] !== head + k) return done(Scan.FAIL);
    }
    const range = invalidateStart(host, mm, MmuNotifyEvent.CLEAR, haddr, haddr + PMD_SIZE);
    // Step 2: clear the PTEs and their rmap; step 3: their references and RSS.
    let nrPtes = 0;
    for (let k = 0; k < HPAGE_PMD_NR; k++) {
      if (pt.fl[k] === 0) continue;
      clearEntry(host, pt, k);
      folioRemoveRmap(host, f, k, 1, vma, Level.PTE);
      nrPtes++;
    }
    if (nrPtes > 0) {
      host.folioPut(f, nrPtes);
      addMmCounter(mm, mmCounterFile(host, f), -nrPtes);
    }
    // Step 4: pmdp_collapse_flush and pte_free_defer of the empty table.
    freeChild(host, mm, pmdT, i);
    flushTlbRange(host, mm);
    invalidateEnd(range);
  }
  // Step 5: set_huge_pmd, which takes the PMD's reference.
  if (!installPmd) return done(Scan.SUCCEED);
  if (doSetPmd(host, vma, pmdT, i, haddr, f, false) !== 0) return done(Scan.FAIL);
  host.folioGet(f);
  return done(Scan.SUCCEED);
}

// ---------------------------------------------------------------------------
// MADV_COLLAPSE.

/** The errno MADV_COLLAPSE reports for a scan result. */
// mirrors mm/khugepaged.c:madvise_collapse_errno
export function madviseCollapseErrno(r: Scan): 'ENOMEM' | 'EBUSY' | 'EAGAIN' | 'EINVAL' {
  switch (r) {
    case Scan.ALLOC_HUGE_PAGE_FAIL:
      return 'ENOMEM';
    case Scan.CGROUP_CHARGE_FAIL:
    case Scan.EXCEED_NONE_PTE:
      return 'EBUSY';
    // Resource temporarily unavailable: trying again might succeed.
    case Scan.PAGE_COUNT:
    case Scan.PAGE_LOCK:
    case Scan.PAGE_LRU:
    case Scan.DEL_PAGE_LRU:
    case Scan.PAGE_FILLED:
      return 'EAGAIN';
    default:
      return 'EINVAL';
  }
}

/**
 * MADV_COLLAPSE on [start, end) of one VMA: collapse every PMD-aligned 2 MiB
 * inside it. Succeeds (null) if each one was collapsed or already PMD-mapped
 * (also when the range holds no aligned 2 MiB but starts on a PMD boundary);
 * otherwise the last failure's errno. Some failures end the walk at once
 * (a PMD that maps no page table, an allocation failure, ...); the others
 * (a pinned page, read-only pages, ...) let the remaining PMDs be tried.
 */
// mirrors mm/khugepaged.c:madvise_collapse
export function madviseCollapse(host: Host, vma: Vma, start: number, end: number): 'ENOMEM' | 'EBUSY' | 'EAGAIN' | 'EINVAL' | null {
  const mm = vma.mm;
  if (!thpVmaAllowableOrder(host, vma, vma.flags, 0)) return 'EINVAL';
  const hstart = alignUp(start, PMD_SIZE);
  let hend = alignDown(end, PMD_SIZE);
  let thps = 0;
  let lastFail = Scan.FAIL;
  // The file path drops mmap_lock; the next PMD revalidates the VMA first.
  let mmapLocked = true;
  out: for (let addr = hstart; addr < hend; addr += PMD_SIZE) {
    if (!mmapLocked) {
      mmapLocked = true;
      const rv = hugepageVmaRevalidate(host, mm, addr, false, MADVISE_CC);
      if (rv.result !== Scan.SUCCEED) {
        lastFail = rv.result;
        break;
      }
      vma = rv.vma!;
      hend = Math.min(hend, alignDown(vma.end, PMD_SIZE));
    }
    let result: Scan;
    if (!vmaIsAnonymous(vma)) {
      mmapLocked = false;
      result = hpageCollapseScanFile(host, vma, linearPageIndex(vma, addr), MADVISE_CC);
      if (result === Scan.PTE_MAPPED_HUGEPAGE) result = collapsePteMappedThp(host, mm, addr, true);
    } else {
      result = hpageCollapseScanPmd(host, mm, vma, addr, MADVISE_CC);
    }
    switch (result) {
      case Scan.SUCCEED:
      case Scan.PMD_MAPPED:
        ++thps;
        break;
      // The results after which trying the next PMD makes sense.
      case Scan.PMD_NULL:
      case Scan.PTE_NON_PRESENT:
      case Scan.PTE_UFFD_WP:
      case Scan.PAGE_RO:
      case Scan.LACK_REFERENCED_PAGE:
      case Scan.PAGE_NULL:
      case Scan.PAGE_COUNT:
      case Scan.PAGE_LOCK:
      case Scan.PAGE_COMPOUND:
      case Scan.PAGE_LRU:
      case Scan.DEL_PAGE_LRU:
        lastFail = result;
        break;
      default:
        lastFail = result;
        break out;
    }
  }
  // (hend - hstart) >> HPAGE_PMD_SHIFT is unsigned: a range inside one PMD but not starting on its boundary never matches.
  const want = hend >= hstart ? (hend - hstart) / PMD_SIZE : -1;
  return thps === want ? null : madviseCollapseErrno(lastFail);
}

// ---------------------------------------------------------------------------
// khugepaged.

/** Is there anything for khugepaged to do (khugepaged_has_work)? */
function khugepagedHasWork(host: Host): boolean {
  return khugepagedState(host).slots.length > 0 && hugepagePmdEnabled(host);
}

/** khugepaged_scan_mm_slot's outcome: pages of progress, and the last result. */
interface SlotScan {
  progress: number;
  result: Scan;
}

/** Drop an exiting mm's slot (its VMAs are gone). */
// mirrors mm/khugepaged.c:collect_mm_slot
function collectMmSlot(s: KhugepagedState, mm: MmStruct): void {
  if (mm.users !== 0) return;
  const i = s.slots.indexOf(mm);
  if (i >= 0) s.slots.splice(i, 1);
}

/**
 * Scan the current mm from the cursor, up to `pages` of progress: each
 * eligible VMA (anonymous, or shmem by its page cache), each aligned 2 MiB in it. Moves the cursor on, to
 * the next mm when this one is done (one full scan when the list wraps).
 */
// mirrors mm/khugepaged.c:khugepaged_scan_mm_slot
function khugepagedScanMmSlot(host: Host, pages: number): SlotScan {
  const s = khugepagedState(host);
  let result = Scan.FAIL;
  if (s.scanMm === null) {
    s.scanMm = s.slots[0]!;
    s.scanAddress = 0;
  }
  const mm = s.scanMm;
  let progress = 1;
  // hpage_collapse_test_exit
  const exited = mm.users === 0;
  let done = true; // every VMA scanned ("vma == NULL" at the end of the loop)
  if (!exited && !(mm.flags & MMF.DISABLE_THP)) {
    outer: for (const vma of [...mm.vmas]) {
      if (vma.end <= s.scanAddress) continue;
      if (!thpVmaAllowableOrder(host, vma, vma.flags, Tva.ENFORCE_SYSFS)) {
        progress++;
        continue;
      }
      const hstart = alignUp(vma.start, PMD_SIZE);
      const hend = alignDown(vma.end, PMD_SIZE);
      if (s.scanAddress > hend) {
        progress++;
        continue;
      }
      if (s.scanAddress < hstart) s.scanAddress = hstart;
      while (s.scanAddress < hend) {
        if (!vmaIsAnonymous(vma)) {
          // shmem: collapse the page cache; a THP already there has its PTE table retracted (mapped by PMD at the next fault).
          $scan.mmapLocked = false;
          result = hpageCollapseScanFile(host, vma, linearPageIndex(vma, s.scanAddress), KHUGEPAGED_CC);
          if (result === Scan.PTE_MAPPED_HUGEPAGE) {
            result = collapsePteMappedThp(host, mm, s.scanAddress, false);
            if (result === Scan.PMD_MAPPED) result = Scan.SUCCEED;
          }
        } else {
          result = hpageCollapseScanPmd(host, mm, vma, s.scanAddress, KHUGEPAGED_CC);
        }
        if (result === Scan.SUCCEED) s.pagesCollapsed++;
        s.scanAddress += PMD_SIZE;
        progress += HPAGE_PMD_NR;
        // A collapse attempt released mmap_lock: this round ends there.
        if (!$scan.mmapLocked || progress >= pages) {
          done = false;
          break outer;
        }
      }
    }
  }
  if (exited || done) {
    const i = s.slots.indexOf(mm);
    if (i >= 0 && i + 1 < s.slots.length) {
      s.scanMm = s.slots[i + 1]!;
      s.scanAddress = 0;
    } else {
      s.scanMm = null;
      s.fullScans++;
    }
    collectMmSlot(s, mm);
  }
  return { progress, result };
}

/** What one khugepaged wake-up did. */
export interface KhugepagedScanReport {
  /** PMD ranges collapsed during this pass. */
  readonly collapsed: number;
  /** khugepaged/full_scans after it. */
  readonly fullScans: number;
  /** The progress made, in khugepaged's units (pages, plus one per VMA and mm looked at). */
  readonly progress: number;
}

/**
 * One wake-up of khugepaged: scan registered mms from the cursor until
 * pages_to_scan units of progress are made or the list has been passed once.
 * An allocation failure ends the pass (Linux sleeps alloc_sleep_millisecs,
 * then gives up the pass on a second failure; the model does not sleep).
 */
// mirrors mm/khugepaged.c:khugepaged_do_scan
export function khugepagedDoScan(host: Host): KhugepagedScanReport {
  const s = khugepagedState(host);
  const pages = s.pagesToScan;
  const before = s.pagesCollapsed;
  let progress = 0;
  let passThroughHead = 0;
  let wait = true;
  for (;;) {
    if (s.scanMm === null) passThroughHead++;
    let result = Scan.SUCCEED;
    if (khugepagedHasWork(host) && passThroughHead < 2) {
      const r = khugepagedScanMmSlot(host, pages - progress);
      progress += r.progress;
      result = r.result;
    } else {
      progress = pages;
    }
    if (progress >= pages) break;
    if (result === Scan.ALLOC_HUGE_PAGE_FAIL) {
      if (!wait) break;
      wait = false;
    }
  }
  return { collapsed: s.pagesCollapsed - before, fullScans: s.fullScans, progress };
}

// ---------------------------------------------------------------------------
// sysfs: /sys/kernel/mm/transparent_hugepage/khugepaged/.

type Attr = 'defrag' | 'max_ptes_none' | 'max_ptes_swap' | 'max_ptes_shared' | 'pages_to_scan' | 'pages_collapsed' | 'full_scans' | 'scan_sleep_millisecs' | 'alloc_sleep_millisecs';

const ATTRS: readonly Attr[] = ['defrag', 'max_ptes_none', 'max_ptes_swap', 'max_ptes_shared', 'pages_to_scan', 'pages_collapsed', 'full_scans', 'scan_sleep_millisecs', 'alloc_sleep_millisecs'];

/** The directory of khugepaged's attributes. */
export const KHUGEPAGED_SYSFS = '/sys/kernel/mm/transparent_hugepage/khugepaged/';

function attrOf(path: string): Attr | null {
  if (!path.startsWith(KHUGEPAGED_SYSFS)) return null;
  const name = path.slice(KHUGEPAGED_SYSFS.length);
  return (ATTRS as readonly string[]).includes(name) ? (name as Attr) : null;
}

/** Is path one of khugepaged's sysfs attributes? */
export function isKhugepagedSysfs(path: string): boolean {
  return attrOf(path) !== null;
}

/** Read an attribute (its _show function), without the trailing newline. */
// mirrors mm/khugepaged.c:max_ptes_none_show and the other _show functions
export function khugepagedSysfsRead(host: Host, path: string): string {
  const s = khugepagedState(host);
  switch (attrOf(path)) {
    case 'defrag':
      return s.defrag ? '1' : '0';
    case 'max_ptes_none':
      return String(s.maxPtesNone);
    case 'max_ptes_swap':
      return String(s.maxPtesSwap);
    case 'max_ptes_shared':
      return String(s.maxPtesShared);
    case 'pages_to_scan':
      return String(s.pagesToScan);
    case 'pages_collapsed':
      return String(s.pagesCollapsed);
    case 'full_scans':
      return String(s.fullScans);
    case 'scan_sleep_millisecs':
      return String(s.scanSleepMillisecs);
    case 'alloc_sleep_millisecs':
      return String(s.allocSleepMillisecs);
    default:
      return 'ENOENT';
  }
}

/** kstrtoul/kstrtouint in base 10: an optional '+', digits; null if invalid or above max. */
function parseUnsigned(v: string, max: number): number | null {
  if (!/^\+?[0-9]+$/.test(v)) return null;
  const n = Number(v.replace(/^\+/, ''));
  return Number.isSafeInteger(n) && n <= max ? n : null;
}

const UINT_MAX = 0xffffffff;

/**
 * Write an attribute (its _store function): null on success, EINVAL for a
 * bad value, EACCES for the read-only statistics.
 */
// mirrors mm/khugepaged.c:max_ptes_none_store and the other _store functions
export function khugepagedSysfsWrite(host: Host, path: string, v: string): 'EINVAL' | 'EACCES' | null {
  const s = khugepagedState(host);
  const attr = attrOf(path);
  switch (attr) {
    case 'pages_collapsed':
    case 'full_scans':
      return 'EACCES';
    case 'defrag':
      // single_hugepage_flag_store
      if (v !== '0' && v !== '1') return 'EINVAL';
      s.defrag = v === '1';
      return null;
    case 'max_ptes_none':
    case 'max_ptes_swap':
    case 'max_ptes_shared': {
      const n = parseUnsigned(v, HPAGE_PMD_NR - 1);
      if (n === null) return 'EINVAL';
      if (attr === 'max_ptes_none') s.maxPtesNone = n;
      else if (attr === 'max_ptes_swap') s.maxPtesSwap = n;
      else s.maxPtesShared = n;
      return null;
    }
    case 'pages_to_scan': {
      const n = parseUnsigned(v, UINT_MAX);
      if (n === null || n === 0) return 'EINVAL';
      s.pagesToScan = n;
      return null;
    }
    case 'scan_sleep_millisecs':
    case 'alloc_sleep_millisecs': {
      const n = parseUnsigned(v, UINT_MAX);
      if (n === null) return 'EINVAL';
      if (attr === 'scan_sleep_millisecs') s.scanSleepMillisecs = n;
      else s.allocSleepMillisecs = n;
      return null;
    }
    default:
      return 'EINVAL';
  }
}
