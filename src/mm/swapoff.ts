/**
 * swapoff's work: bring every page of an area back in (mirrors
 * mm/swapfile.c:try_to_unuse, unuse_mm, unuse_pte) and retire the area.
 *
 * Each mm on the mmlist (every mm that ever had a swap entry) is walked;
 * each swap entry of the area is read through the swap cache (so processes
 * sharing the slot after fork share the page again) and mapped read-only,
 * exclusive if the entry was; then the swap cache lets the pages go.
 * Simplified: no vm_enough_memory check before (the model's overcommit
 * heuristic is not asked), no readahead; an allocation failure stops with
 * ENOMEM and leaves the area active, as try_to_unuse's failure does.
 */
import type { ErrnoName } from '../uapi/errno.js';
import { PG, folioTestAnon } from './folio.js';
import type { Host } from './host.js';
import { addMmCounter } from './huge_memory.js';
import { MmCounter, type MmStruct, type Vma } from './mm_types.js';
import { Level, PAGE_SIZE, tableIndex } from './page.js';
import { GFP_HIGHUSER_MOVABLE } from './page_alloc.js';
import { Pte, isSwapEntry, setEntry, tableLookup } from './pgtable.js';
import { RMAP_EXCLUSIVE, RMAP_NONE, folioAddAnonRmap, folioAddLru, folioAddNewAnonRmap } from './rmap.js';
import { addToSwapCache, delSwapInfo, folioFreeSwap, reinsertSwapInfo, swapFreeNr, swapReadFolio, swpOffset, swpType } from './swapfile.js';

/** Bring in every page of area type and turn it off. Returns an errno, or null. */
// mirrors mm/swapfile.c:SYSCALL_DEFINE1(swapoff) (after the lookup: try_to_unuse, then the area is torn down)
export function swapoffArea(host: Host, type: number): ErrnoName | null {
  const st = host.swap;
  const si = st.info[type]!;
  // Off the lists first: no new slot comes from it while its pages come back.
  delSwapInfo(st, si);
  for (const mm of [...st.mmlist]) {
    for (const vma of mm.vmas) {
      if (vma.anonVma === null) continue;
      if (unuseVma(host, mm, vma, type) !== null) {
        reinsertSwapInfo(st, si);
        return 'ENOMEM';
      }
    }
  }
  // What is left in the swap cache is named by no swap entry: let it go.
  for (const [f, val] of [...st.folioSwap]) {
    if (swpType(val) !== type) continue;
    const refs = folioFreeSwap(st, host.ft, f);
    if (refs > 0) host.folioPut(f, refs);
  }
  st.info[type] = null;
  return null;
}

// mirrors mm/swapfile.c:unuse_vma (unuse_p4d_range ... unuse_pte_range)
function unuseVma(host: Host, mm: MmStruct, vma: Vma, type: number): ErrnoName | null {
  for (let a = vma.start; a < vma.end; ) {
    const pt = tableLookup(mm.pgd, a, Level.PTE);
    const next = Math.min(vma.end, (Math.floor(a / 2 ** 21) + 1) * 2 ** 21);
    if (pt === null || pt.level !== Level.PTE) {
      a = next;
      continue;
    }
    for (; a < next; a += PAGE_SIZE) {
      const j = tableIndex(a, Level.PTE);
      const fl = pt.fl[j]!;
      if (!isSwapEntry(fl) || swpType(pt.pfn[j]!) !== type) continue;
      const e = unusePte(host, vma, a, pt.pfn[j]!, fl, (nfl, pfn) => setEntry(host, pt, j, pfn, nfl));
      if (e !== null) return e;
    }
  }
  return null;
}

/** Map the page of swap entry val (from the swap cache, reading it in if needed) where the entry was. */
// mirrors mm/swapfile.c:unuse_pte (with read_swap_cache_async for the page)
function unusePte(host: Host, vma: Vma, addr: number, val: number, fl: number, set: (fl: number, pfn: number) => void): ErrnoName | null {
  const st = host.swap;
  const ft = host.ft;
  let f = st.cacheFolio.get(val) ?? 0;
  let page = 0;
  if (f === 0) {
    f = host.folioAlloc(0, GFP_HIGHUSER_MOVABLE);
    if (f === 0) return 'ENOMEM';
    ft.flags[f]! |= PG.SWAPBACKED;
    st.si(val)!.cache[swpOffset(val)] = 1;
    addToSwapCache(st, ft, f, val);
    swapReadFolio(st, host.content, f, 1, val);
    ft.flags[f]! |= PG.UPTODATE;
    folioAddLru(host, f);
    // The allocation's reference becomes the new mapping's.
  } else {
    page = val - st.folioSwap.get(f)!;
    host.folioGet(f);
  }
  addMmCounter(vma.mm, MmCounter.SWAPENTS, -1);
  addMmCounter(vma.mm, MmCounter.ANONPAGES, 1);
  const flags = fl & Pte.SWP_EXCLUSIVE ? RMAP_EXCLUSIVE : RMAP_NONE;
  if (!folioTestAnon(ft, f)) folioAddNewAnonRmap(host, f, vma, addr, flags);
  else folioAddAnonRmap(host, f, page, 1, vma, flags, Level.PTE);
  // mk_pte with vm_page_prot, old: read-only until the next write fault.
  set((vma.pageProt & ~(Pte.RW | Pte.ACCESSED)) | (fl & (Pte.SOFT_DIRTY | Pte.UFFD_WP)), ft.pfn[f]! + page);
  swapFreeNr(st, val, 1);
  return null;
}
