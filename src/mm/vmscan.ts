/**
 * Reclaim of anonymous folios to swap (mirrors mm/vmscan.c:shrink_folio_list
 * as reclaim_pages drives it for MADV_PAGEOUT, and mm/rmap.c:try_to_unmap_one
 * for anonymous folios).
 *
 * A folio is reclaimed when it is anonymous and swap-backed, not maybe
 * DMA-pinned, gets swap slots (a large one whole where the device has a free
 * aligned run, else it is split and its pages go one by one), every mapping
 * of it becomes a swap entry, its contents are written, and nothing else
 * holds it. What fails at a step stays resident ("activated"). The model's
 * devices complete writes at once (zram), so a written folio leaves the swap
 * cache and is freed unless someone still holds a reference (a FOLL_GET
 * pin such as vmsplice's): then it stays in the swap cache, unmapped.
 * Simplified: no LRU lists or aging (MADV_PAGEOUT ignores references
 * anyway), no file folios (page-cache writeback is not modelled: they stay),
 * no lazyfree (MADV_FREE) folios.
 */
import { PG, folioMapcount, folioNrPages, folioTestAnon, pageAnonExclusive } from './folio.js';
import type { Host } from './host.js';
import { addMmCounter, canSplitFolio, splitFolio, splitHugePmd } from './huge_memory.js';
import { MmCounter, VM } from './mm_types.js';
import { MmuNotifyEvent, invalidateEnd, invalidateStart } from './mmu_notifier.js';
import { HPAGE_PMD_ORDER, Level, PAGE_SIZE, PMD_SIZE, alignDown, tableIndex } from './page.js';
import { Pte, setEntry, tableLookup } from './pgtable.js';
import { NO_SITE, folioMaybeDmaPinnedP } from './pin_policy.js';
import { folioRemoveRmap, folioTryShareAnonRmap, rmapWalk } from './rmap.js';
import { addToSwapCache, deleteFromSwapCache, folioAllocSwap, swapDuplicate, swapWriteFolio } from './swapfile.js';
import { flushTlbRange } from './tlb.js';
import { MthpStat, modMthpStat } from './vmstat.js';

/** Reclaim each folio of the list (the caller isolated them: MADV_PAGEOUT). Returns pages reclaimed. */
// mirrors mm/vmscan.c:reclaim_pages (reclaim_folio_list with ignore_references)
export function reclaimPages(host: Host, folios: number[]): number {
  let reclaimed = 0;
  // Holding each folio while the list is worked on, as isolation does.
  for (const f of folios) host.folioGet(f);
  for (let n = 0; n < folios.length; n++) reclaimed += shrinkFolio(host, folios[n]!, folios);
  return reclaimed;
}

/**
 * One folio of shrink_folio_list. The caller's isolation reference is
 * dropped here. Split-off pages are appended to list (split_folio_to_list)
 * with a reference each, and take their own pass.
 */
// mirrors mm/vmscan.c:shrink_folio_list (the anonymous, swap-backed path)
function shrinkFolio(host: Host, f: number, list: number[]): number {
  const ft = host.ft;
  const st = host.swap;
  const keep = (): number => {
    host.folioPut(f);
    return 0;
  };
  if (!folioTestAnon(ft, f) || !(ft.flags[f]! & PG.SWAPBACKED)) return keep();
  if (!(ft.flags[f]! & PG.SWAPCACHE)) {
    if (folioMaybeDmaPinnedP(host, f, 0, folioNrPages(ft, f), NO_SITE)) return keep();
    if (ft.order[f]! > 0) {
      // The isolation reference is the caller's one extra.
      if (!canSplitFolio(host, f, 1)) return keep();
      if (ft.flags[f]! & PG.PARTIALLY_MAPPED && !splitToList(host, f, list)) return keep();
    }
    let val = folioAllocSwap(st, ft, f);
    if (val < 0) {
      const order = ft.order[f]!;
      if (order === 0) return keep();
      if (!splitToList(host, f, list)) return keep();
      if (order >= HPAGE_PMD_ORDER) st.thpSwpoutFallback++;
      modMthpStat(host.mthpStats, order, MthpStat.SWPOUT_FALLBACK, 1);
      val = folioAllocSwap(st, ft, f);
      if (val < 0) return keep();
    }
    addToSwapCache(st, ft, f, val);
    // add_to_swap marks the folio dirty: its only copy is memory until written.
    ft.flags[f]! |= PG.DIRTY;
  }
  const nr = folioNrPages(ft, f);
  if (folioMapcount(ft, f) > 0) {
    tryToUnmapAnon(host, f);
    if (folioMapcount(ft, f) > 0) return keep();
  }
  // Unmapped now, so it cannot be newly pinned.
  if (folioMaybeDmaPinnedP(host, f, 0, nr, NO_SITE)) return keep();
  if (ft.flags[f]! & PG.DIRTY) {
    // pageout: swap_writepage; a zram write completes before it returns.
    // A zero-filled folio goes to the zeromap and is not counted as swapped out.
    if (swapWriteFolio(st, ft, host.content, f)) countSwpoutVmEvent(host, ft.order[f]!);
    ft.flags[f]! &= ~PG.DIRTY;
  }
  // __remove_mapping: only the swap cache's references and ours may remain.
  if (ft.refcount[f] !== nr + 1) return keep();
  const refs = deleteFromSwapCache(st, ft, f);
  host.folioPut(f, refs);
  host.folioPut(f);
  return nr;
}

/** split_folio_to_list: split f to order 0; the new pages join the list with an isolation reference each. */
function splitToList(host: Host, f: number, list: number[]): boolean {
  const ft = host.ft;
  const pfn = ft.pfn[f]!;
  const nr = folioNrPages(ft, f);
  if (splitFolio(host, f, 0) !== 0) return false;
  for (let k = 1; k < nr; k++) {
    const g = host.pfnFolio(pfn + k);
    // A page nothing mapped was freed by the split.
    if (g === 0) continue;
    host.folioGet(g);
    list.push(g);
  }
  return host.pfnFolio(pfn) === f;
}

// mirrors mm/vmscan.c:count_swpout_vm_event
function countSwpoutVmEvent(host: Host, order: number): void {
  if (order >= HPAGE_PMD_ORDER) host.swap.thpSwpout++;
  modMthpStat(host.mthpStats, order, MthpStat.SWPOUT, 1);
}

/**
 * Replace every mapping of swap-cache folio f by swap entries: a PMD mapping
 * is split first (TTU_SPLIT_HUGE_PMD), then each PTE naming a page of f
 * becomes that page's entry, exclusive if the page was PageAnonExclusive.
 * Stops, leaving the folio mapped, at a page that may be pinned (it cannot
 * be made shared) or in an mlocked VMA.
 */
// mirrors mm/rmap.c:try_to_unmap (try_to_unmap_one, anonymous folios, TTU_SPLIT_HUGE_PMD)
function tryToUnmapAnon(host: Host, f: number): void {
  const ft = host.ft;
  const st = host.swap;
  const val = st.folioSwap.get(f)!;
  const nr = folioNrPages(ft, f);
  const pfn0 = ft.pfn[f]!;
  rmapWalk(host, f, (vma, address) => {
    const start = Math.max(address, vma.start);
    const end = Math.min(address + nr * PAGE_SIZE, vma.end);
    if (end <= start) return false;
    if (vma.flags & VM.LOCKED) return true;
    const range = invalidateStart(host, vma.mm, MmuNotifyEvent.CLEAR, start, end);
    let stop = false;
    let unmapped = 0;
    for (let a = start; a < end && !stop; a += PAGE_SIZE) {
      const pmdT = tableLookup(vma.mm.pgd, a, Level.PMD);
      if (pmdT === null) continue;
      const i = tableIndex(a, Level.PMD);
      if (pmdT.fl[i]! & Pte.PSE) {
        if (pmdT.pfn[i] !== pfn0) continue;
        splitHugePmd(host, vma, pmdT, i, alignDown(a, PMD_SIZE));
      }
      if (pmdT.fl[i] === 0) continue;
      const pt = pmdT.kids![i]!;
      const j = tableIndex(a, Level.PTE);
      const fl = pt.fl[j]!;
      const page = (a - address) / PAGE_SIZE;
      if (!(fl & (Pte.PRESENT | Pte.PROTNONE)) || fl & Pte.SPECIAL || pt.pfn[j] !== pfn0 + page) continue;
      const exclusive = pageAnonExclusive(ft, f, page);
      // See folio_try_share_anon_rmap: a pinned exclusive page cannot become shared.
      if (exclusive && !folioTryShareAnonRmap(host, f, page, folioMaybeDmaPinnedP(host, f, page, 1, { mm: vma.mm, addr: a }))) {
        stop = true;
        break;
      }
      if (fl & Pte.DIRTY) ft.flags[f]! |= PG.DIRTY;
      swapDuplicate(st, val + page);
      st.mmlist.add(vma.mm);
      let sfl = Pte.SWAP | (fl & (Pte.SOFT_DIRTY | Pte.UFFD_WP));
      if (exclusive) sfl |= Pte.SWP_EXCLUSIVE;
      setEntry(host, pt, j, val + page, sfl);
      addMmCounter(vma.mm, MmCounter.ANONPAGES, -1);
      addMmCounter(vma.mm, MmCounter.SWAPENTS, 1);
      folioRemoveRmap(host, f, page, 1, vma, Level.PTE);
      host.folioPut(f);
      unmapped++;
    }
    if (unmapped > 0) flushTlbRange(host, vma.mm);
    invalidateEnd(range);
    return stop;
  });
}
