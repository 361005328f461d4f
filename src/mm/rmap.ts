/**
 * Reverse mapping: the folio counters that track page-table mappings, and the
 * anon_vma / i_mmap structures that find every mapping of a folio
 * (mirrors mm/rmap.c and include/linux/rmap.h, CONFIG_PAGE_MAPCOUNT + CONFIG_MM_ID).
 *
 * Contract (include/linux/mm.h): every present user page-table entry that maps a
 * folio holds exactly one folio reference, taken before the mapcount is raised
 * and dropped after it is lowered. These functions change mapcounts and vmstat;
 * callers handle references and rss counters, as in Linux.
 */
import { Ev } from '../cost/counters.js';
import {
  ENTIRELY_MAPPED,
  FOLIO_PAGES_MAPPED,
  MM_ID_DUMMY,
  PG,
  folioNrPages,
  folioTestAnon,
  pageAnonExclusive,
  pageMapcounts,
  pageStateTrim,
  setPageAnonExclusive,
  clearPageAnonExclusive,
  type FolioTable,
} from './folio.js';
import type { Host } from './host.js';
import { AnonVma, MMF, MmCounter, VM, type MmStruct, type Vma, linearPageIndex } from './mm_types.js';
import { Level, PAGE_SIZE, tableIndex } from './page.js';
import { Pte, clearEntry, setEntry, tableLookup } from './pgtable.js';
import { MmuNotifyEvent, invalidateEnd, invalidateStart } from './mmu_notifier.js';
import { MthpStat, NodeStat, modMthpStat } from './vmstat.js';
import type { AddressSpace } from './fs_types.js';
import { folioMaybeDmaPinnedP } from './pin_policy.js';
import { flushTlbRange } from './tlb.js';

/** Must fork copy this anon folio for the child rather than share it? */
// mirrors include/linux/mm.h:folio_needs_cow_for_dma
export function folioNeedsCowForDma(host: Host, vma: Vma, f: number, page: number, nr: number, addr: number): boolean {
  return (vma.mm.flags & MMF.HAS_PINNED) !== 0 && folioMaybeDmaPinnedP(host, f, page, nr, { mm: vma.mm, addr });
}

/** rmap_t flags. */
export const RMAP_NONE = 0;
export const RMAP_EXCLUSIVE = 1;

// mirrors mm/rmap.c:__folio_mod_stat
function folioModStat(host: Host, f: number, nr: number, nrPmdmapped: number): void {
  const ft = host.ft;
  const anon = (ft.flags[f]! & PG.ANON) !== 0;
  if (nr !== 0) host.stat[anon ? NodeStat.NR_ANON_MAPPED : NodeStat.NR_FILE_MAPPED] += nr;
  if (nrPmdmapped !== 0) {
    if (anon) host.stat[NodeStat.NR_ANON_THPS] += nrPmdmapped;
    else if (ft.flags[f]! & PG.SWAPBACKED) host.stat[NodeStat.NR_SHMEM_PMDMAPPED] += nrPmdmapped;
    else host.stat[NodeStat.NR_FILE_PMDMAPPED] += nrPmdmapped;
  }
}

// ---------------------------------------------------------------------------
// _large_mapcount with MM owner tracking (include/linux/rmap.h, CONFIG_MM_ID).

// mirrors include/linux/rmap.h:folio_set_large_mapcount
function folioSetLargeMapcount(ft: FolioTable, f: number, mapcount: number, mm: MmStruct): void {
  ft.mapcount[f] = mapcount - 1;
  ft.mmCnt0[f] = mapcount - 1;
  ft.mmId0[f] = mm.id;
}

// mirrors include/linux/rmap.h:folio_add_return_large_mapcount
function folioAddLargeMapcount(host: Host, f: number, diff: number, mm: MmStruct): number {
  const ft = host.ft;
  const id = mm.id;
  const val = (ft.mapcount[f] = ft.mapcount[f]! + diff);
  host.ev[Ev.ATOMIC_MAPCOUNT]++;
  if (ft.mmId0[f] === id) ft.mmCnt0[f] = ft.mmCnt0[f]! + diff;
  else if (ft.mmId1[f] === id) ft.mmCnt1[f] = ft.mmCnt1[f]! + diff;
  else if (ft.mmId0[f] === MM_ID_DUMMY) {
    ft.mmId0[f] = id;
    ft.mmCnt0[f] = diff - 1;
    // There may be other mappings already.
    if (val !== diff - 1) ft.flags[f]! |= PG.MM_IDS_SHARED;
  } else if (ft.mmId1[f] === MM_ID_DUMMY) {
    ft.mmId1[f] = id;
    ft.mmCnt1[f] = diff - 1;
    // Slot 0 certainly has mappings as well.
    ft.flags[f]! |= PG.MM_IDS_SHARED;
  }
  return val + 1;
}

// mirrors include/linux/rmap.h:folio_sub_return_large_mapcount
function folioSubLargeMapcount(host: Host, f: number, diff: number, mm: MmStruct): number {
  const ft = host.ft;
  const id = mm.id;
  const val = (ft.mapcount[f] = ft.mapcount[f]! - diff);
  host.ev[Ev.ATOMIC_MAPCOUNT]++;
  if (ft.mmId0[f] === id) {
    ft.mmCnt0[f] = ft.mmCnt0[f]! - diff;
    if (ft.mmCnt0[f]! >= 0) return val + 1;
    ft.mmCnt0[f] = -1;
    ft.mmId0[f] = MM_ID_DUMMY;
  } else if (ft.mmId1[f] === id) {
    ft.mmCnt1[f] = ft.mmCnt1[f]! - diff;
    if (ft.mmCnt1[f]! >= 0) return val + 1;
    ft.mmCnt1[f] = -1;
    ft.mmId1[f] = MM_ID_DUMMY;
  }
  // If one MM slot owns all mappings, the folio is mapped exclusively.
  if (ft.mmCnt0[f] === val || ft.mmCnt1[f] === val) ft.flags[f]! &= ~PG.MM_IDS_SHARED;
  return val + 1;
}

// ---------------------------------------------------------------------------
// Adding and removing mappings.

/**
 * A HugeTLB folio mapped by 4 KiB PTEs outside a HugeTLB VMA (guest_memfd's
 * gmemHugeShared 'no-longterm-pin': its shared pages are mapped one by one,
 * the folio stays whole): only the folio-wide _large_mapcount moves, no
 * per-page _mapcount, no _nr_pages_mapped and no mapped-page statistics,
 * as HugeTLB rmap never keeps them. Beyond 6.12: that is the folio-only
 * accounting of CONFIG_NO_PAGE_MAPCOUNT (6.15+), without which HVO's
 * read-only tail struct pages could not hold the per-page counts.
 */
function hugetlbPteMapcount(host: Host, f: number, nrPages: number, vma: Vma, sign: 1 | -1): void {
  if (sign > 0) folioAddLargeMapcount(host, f, nrPages, vma.mm);
  else folioSubLargeMapcount(host, f, nrPages, vma.mm);
  host.ev[Ev.ATOMIC_MAPCOUNT]++;
}

// mirrors mm/rmap.c:__folio_add_rmap
function addRmap(host: Host, f: number, page: number, nrPages: number, vma: Vma, level: Level): void {
  const ft = host.ft;
  let nr = 0;
  let nrPmdmapped = 0;
  if (level === Level.PTE) {
    if (ft.order[f] === 0) {
      ft.mapcount[f] = ft.mapcount[f]! + 1;
      host.ev[Ev.ATOMIC_MAPCOUNT]++;
      nr = ft.mapcount[f] === 0 ? 1 : 0;
    } else if (ft.flags[f]! & PG.HUGETLB) {
      hugetlbPteMapcount(host, f, nrPages, vma, 1);
      return;
    } else {
      const mc = pageMapcounts(ft, f);
      let first = 0;
      for (let i = page; i < page + nrPages; i++) if (++mc[i]! === 0) first++;
      host.ev[Ev.ATOMIC_MAPCOUNT] += nrPages;
      if (first !== 0) {
        ft.nrMapped[f] = ft.nrMapped[f]! + first;
        if (ft.nrMapped[f]! < ENTIRELY_MAPPED) nr = first;
      }
      folioAddLargeMapcount(host, f, nrPages, vma.mm);
    }
  } else {
    ft.entire[f] = ft.entire[f]! + 1;
    host.ev[Ev.ATOMIC_MAPCOUNT]++;
    if (ft.entire[f] === 0) {
      const mapped = (ft.nrMapped[f] = ft.nrMapped[f]! + ENTIRELY_MAPPED);
      if (mapped < ENTIRELY_MAPPED + ENTIRELY_MAPPED) {
        const total = folioNrPages(ft, f);
        if (level === Level.PMD) nrPmdmapped = total;
        nr = Math.max(0, total - (mapped & FOLIO_PAGES_MAPPED));
      }
    }
    folioAddLargeMapcount(host, f, 1, vma.mm);
  }
  folioModStat(host, f, nr, nrPmdmapped);
}

// mirrors mm/rmap.c:__folio_remove_rmap
function removeRmap(host: Host, f: number, page: number, nrPages: number, vma: Vma, level: Level): void {
  const ft = host.ft;
  let nr = 0;
  let nrPmdmapped = 0;
  let partiallyMapped = false;
  if (level === Level.PTE) {
    if (ft.order[f] === 0) {
      ft.mapcount[f] = ft.mapcount[f]! - 1;
      host.ev[Ev.ATOMIC_MAPCOUNT]++;
      nr = ft.mapcount[f]! < 0 ? 1 : 0;
    } else if (ft.flags[f]! & PG.HUGETLB) {
      hugetlbPteMapcount(host, f, nrPages, vma, -1);
      return;
    } else {
      folioSubLargeMapcount(host, f, nrPages, vma.mm);
      const mc = pageMapcounts(ft, f);
      let last = 0;
      for (let i = page; i < page + nrPages; i++) if (--mc[i]! < 0) last++;
      host.ev[Ev.ATOMIC_MAPCOUNT] += nrPages;
      if (last !== 0) {
        ft.nrMapped[f] = ft.nrMapped[f]! - last;
        if (ft.nrMapped[f]! < ENTIRELY_MAPPED) nr = last;
      }
      partiallyMapped = nr !== 0 && ft.nrMapped[f] !== 0;
      pageStateTrim(ft, f);
    }
  } else {
    folioSubLargeMapcount(host, f, 1, vma.mm);
    ft.entire[f] = ft.entire[f]! - 1;
    host.ev[Ev.ATOMIC_MAPCOUNT]++;
    if (ft.entire[f]! < 0) {
      const mapped = (ft.nrMapped[f] = ft.nrMapped[f]! - ENTIRELY_MAPPED);
      if (mapped < ENTIRELY_MAPPED) {
        const total = folioNrPages(ft, f);
        if (level === Level.PMD) nrPmdmapped = total;
        nr = Math.max(0, total - mapped);
      }
    }
    partiallyMapped = nr !== 0 && nr < nrPmdmapped;
  }
  // Queue a partially mapped anon large folio for deferred split.
  if (partiallyMapped && (ft.flags[f]! & (PG.ANON | PG.PARTIALLY_MAPPED)) === PG.ANON) deferredSplitFolio(host, f);
  folioModStat(host, f, -nr, -nrPmdmapped);
}

/**
 * Queue a partially mapped anonymous folio for deferred split: the model's
 * queue is the PG.PARTIALLY_MAPPED flag (the shrinker that would split it
 * under memory pressure is not modelled). Order-1 folios have no room for
 * the list and are never queued.
 */
// mirrors mm/huge_memory.c:deferred_split_folio (partially_mapped true; no swap cache to exclude)
export function deferredSplitFolio(host: Host, f: number): void {
  const ft = host.ft;
  const order = ft.order[f]!;
  if (order <= 1 || ft.flags[f]! & PG.PARTIALLY_MAPPED) return;
  ft.flags[f]! |= PG.PARTIALLY_MAPPED;
  modMthpStat(host.mthpStats, order, MthpStat.SPLIT_DEFERRED, 1);
  modMthpStat(host.mthpStats, order, MthpStat.NR_ANON_PARTIALLY_MAPPED, 1);
}

// mirrors mm/rmap.c:__folio_set_anon
function folioSetAnon(host: Host, f: number, vma: Vma, address: number, exclusive: boolean): void {
  let av = vma.anonVma!;
  // A folio that is not exclusive must use the oldest possible anon_vma.
  if (!exclusive) av = av.root;
  host.ft.owner[f] = av;
  host.ft.flags[f]! |= PG.ANON;
  host.ft.index[f] = linearPageIndex(vma, address);
}

// mirrors mm/rmap.c:folio_add_new_anon_rmap
export function folioAddNewAnonRmap(host: Host, f: number, vma: Vma, address: number, flags: number): void {
  const ft = host.ft;
  const exclusive = (flags & RMAP_EXCLUSIVE) !== 0;
  let nr = 1;
  let nrPmdmapped = 0;
  // Droppable memory is never swapped: it is dropped under pressure instead.
  if (!(vma.flags & VM.DROPPABLE)) ft.flags[f]! |= PG.SWAPBACKED;
  folioSetAnon(host, f, vma, address, exclusive);
  if (ft.order[f] === 0) {
    ft.mapcount[f] = 0;
    if (exclusive) setPageAnonExclusive(ft, f, 0);
  } else if (ft.order[f]! < 9) {
    nr = folioNrPages(ft, f);
    const mc = pageMapcounts(ft, f);
    mc.fill(0);
    if (exclusive) for (let i = 0; i < nr; i++) setPageAnonExclusive(ft, f, i);
    folioSetLargeMapcount(ft, f, nr, vma.mm);
    ft.nrMapped[f] = nr;
  } else {
    nr = folioNrPages(ft, f);
    ft.entire[f] = 0;
    folioSetLargeMapcount(ft, f, 1, vma.mm);
    ft.nrMapped[f] = ENTIRELY_MAPPED;
    if (exclusive) setPageAnonExclusive(ft, f, 0);
    nrPmdmapped = nr;
  }
  host.ev[Ev.ATOMIC_MAPCOUNT]++;
  folioModStat(host, f, nr, nrPmdmapped);
  if (ft.order[f]! > 0) modMthpStat(host.mthpStats, ft.order[f]!, MthpStat.NR_ANON, 1);
}

// mirrors mm/rmap.c:__folio_add_anon_rmap (folio_add_anon_rmap_ptes / _pmd)
export function folioAddAnonRmap(host: Host, f: number, page: number, nrPages: number, vma: Vma, flags: number, level: Level): void {
  addRmap(host, f, page, nrPages, vma, level);
  if (flags & RMAP_EXCLUSIVE) {
    if (level === Level.PTE) for (let i = page; i < page + nrPages; i++) setPageAnonExclusive(host.ft, f, i);
    else setPageAnonExclusive(host.ft, f, page);
  }
}

// mirrors mm/rmap.c:folio_add_file_rmap_ptes / folio_add_file_rmap_pmd / folio_add_file_rmap_pud
export function folioAddFileRmap(host: Host, f: number, page: number, nrPages: number, vma: Vma, level: Level): void {
  addRmap(host, f, page, nrPages, vma, level);
}

// mirrors mm/rmap.c:folio_remove_rmap_ptes / folio_remove_rmap_pmd / folio_remove_rmap_pud
export function folioRemoveRmap(host: Host, f: number, page: number, nrPages: number, vma: Vma, level: Level): void {
  removeRmap(host, f, page, nrPages, vma, level);
}

// mirrors include/linux/rmap.h:__folio_dup_file_rmap (CONFIG_PAGE_MAPCOUNT)
export function folioDupFileRmap(host: Host, f: number, page: number, nrPages: number, dst: Vma, level: Level): void {
  const ft = host.ft;
  if (level === Level.PTE) {
    if (ft.order[f] === 0) {
      ft.mapcount[f] = ft.mapcount[f]! + 1;
      host.ev[Ev.ATOMIC_MAPCOUNT]++;
      return;
    }
    if (ft.flags[f]! & PG.HUGETLB) {
      hugetlbPteMapcount(host, f, nrPages, dst, 1);
      return;
    }
    const mc = pageMapcounts(ft, f);
    for (let i = page; i < page + nrPages; i++) mc[i]!++;
    host.ev[Ev.ATOMIC_MAPCOUNT] += nrPages;
    folioAddLargeMapcount(host, f, nrPages, dst.mm);
    return;
  }
  ft.entire[f] = ft.entire[f]! + 1;
  host.ev[Ev.ATOMIC_MAPCOUNT]++;
  folioAddLargeMapcount(host, f, 1, dst.mm);
}

/**
 * Try to duplicate mappings of an anon folio into a child at fork. Fails with
 * -EBUSY (returns false) if the folio may be pinned and any page in the batch is
 * exclusive: the caller must then copy. On success exclusivity is cleared and the
 * mapcounts raised; both PTEs must become R/O.
 */
// mirrors include/linux/rmap.h:__folio_try_dup_anon_rmap (CONFIG_PAGE_MAPCOUNT)
export function folioTryDupAnonRmap(host: Host, f: number, page: number, nrPages: number, dst: Vma, level: Level, maybePinned: boolean): boolean {
  const ft = host.ft;
  if (level === Level.PTE) {
    if (maybePinned) for (let i = page; i < page + nrPages; i++) if (pageAnonExclusive(ft, f, i)) return false;
    if (ft.order[f] === 0) {
      clearPageAnonExclusive(ft, f, 0);
      ft.mapcount[f] = ft.mapcount[f]! + 1;
      host.ev[Ev.ATOMIC_MAPCOUNT]++;
      return true;
    }
    const mc = pageMapcounts(ft, f);
    for (let i = page; i < page + nrPages; i++) {
      clearPageAnonExclusive(ft, f, i);
      mc[i]!++;
    }
    host.ev[Ev.ATOMIC_MAPCOUNT] += nrPages;
    folioAddLargeMapcount(host, f, nrPages, dst.mm);
    pageStateTrim(ft, f);
    return true;
  }
  if (pageAnonExclusive(ft, f, page)) {
    if (maybePinned) return false;
    clearPageAnonExclusive(ft, f, page);
  }
  ft.entire[f] = ft.entire[f]! + 1;
  host.ev[Ev.ATOMIC_MAPCOUNT]++;
  folioAddLargeMapcount(host, f, 1, dst.mm);
  return true;
}

/**
 * Mark an exclusive anon page possibly shared before temporarily unmapping it
 * (migration, KSM). Fails (false, -EBUSY) while the folio may be DMA-pinned.
 */
// mirrors include/linux/rmap.h:__folio_try_share_anon_rmap
export function folioTryShareAnonRmap(host: Host, f: number, page: number, maybePinned: boolean): boolean {
  if (maybePinned) return false;
  clearPageAnonExclusive(host.ft, f, page);
  return true;
}

// mirrors mm/rmap.c:folio_move_anon_rmap
export function folioMoveAnonRmap(host: Host, f: number, vma: Vma): void {
  host.ft.owner[f] = vma.anonVma;
}

/** Mark the folio on an LRU list (the lists themselves are not modelled). */
// mirrors mm/swap.c:folio_add_lru_vma
export function folioAddLru(host: Host, f: number): void {
  host.ft.flags[f]! |= PG.LRU;
}

// ---------------------------------------------------------------------------
// anon_vma lifecycle (mm/rmap.c).

function anonVmaLink(vma: Vma, av: AnonVma): void {
  vma.avc.push(av);
  av.vmas.add(vma);
}

/** Can a and b share an anon_vma (anon_vma_compatible)? */
function anonVmaCompatible(a: Vma, b: Vma): boolean {
  return (
    a.end === b.start &&
    a.file === b.file &&
    ((a.flags ^ b.flags) & ~(VM.ACCESS_FLAGS | VM.SOFTDIRTY)) === 0 &&
    b.pgoff === a.pgoff + (a.end - a.start) / 4096
  );
}

// mirrors mm/rmap.c:__anon_vma_prepare (with find_mergeable_anon_vma)
export function anonVmaPrepare(host: Host, vma: Vma): AnonVma {
  if (vma.anonVma !== null) return vma.anonVma;
  const vmas = vma.mm.vmas;
  const i = vmas.indexOf(vma);
  const near = [vmas[i - 1], vmas[i + 1]];
  let av: AnonVma | null = null;
  for (const n of near) {
    if (n === undefined || n.anonVma === null || n.avc.length !== 1) continue;
    if (n === vmas[i - 1] ? anonVmaCompatible(n, vma) : anonVmaCompatible(vma, n)) {
      av = n.anonVma;
      break;
    }
  }
  if (av === null) {
    av = new AnonVma(host.newId(), null);
    // A new root is its own parent.
    av.numChildren++;
  }
  anonVmaLink(vma, av);
  vma.anonVma = av;
  av.numActiveVmas++;
  return av;
}

/** A VMA made from src (split, mremap's copy, a merge): it joins every anon_vma of src and shares src's own. */
// mirrors mm/rmap.c:anon_vma_clone (dst->anon_vma already set, as vm_area_dup and dup_anon_vma leave it)
export function anonVmaClone(dst: Vma, src: Vma): void {
  for (const av of src.avc) anonVmaLink(dst, av);
  dst.anonVma = src.anonVma;
  if (dst.anonVma !== null) dst.anonVma.numActiveVmas++;
}

/**
 * At fork: the child VMA joins the parent's anon_vmas (so rmap of old folios
 * finds it). For folios it creates it reuses the oldest of them that no VMA
 * has as its own and that has at most one child (never a root: it is its own
 * parent and has a child), or gets a new one: without that reuse, a process
 * that forks, exits and leaves its child to fork again would grow every
 * VMA's chain by one anon_vma per generation.
 */
// mirrors mm/rmap.c:anon_vma_fork (with anon_vma_clone's reuse)
export function anonVmaFork(host: Host, child: Vma, parent: Vma): void {
  child.avc = [];
  child.anonVma = null;
  if (parent.anonVma === null) return;
  for (const av of parent.avc) {
    anonVmaLink(child, av);
    if (child.anonVma === null && av.numChildren < 2 && av.numActiveVmas === 0) child.anonVma = av;
  }
  if (child.anonVma !== null) {
    child.anonVma.numActiveVmas++;
    return;
  }
  const own = new AnonVma(host.newId(), parent.anonVma);
  anonVmaLink(child, own);
  child.anonVma = own;
  own.numActiveVmas++;
  parent.anonVma.numChildren++;
}

// mirrors mm/rmap.c:unlink_anon_vmas
export function unlinkAnonVmas(vma: Vma): void {
  for (const av of vma.avc) {
    av.vmas.delete(vma);
    // An anon_vma no VMA links to any more is freed: its parent has one child less.
    if (av.vmas.size === 0) (av.parent ?? av).numChildren--;
  }
  if (vma.anonVma !== null) vma.anonVma.numActiveVmas--;
  vma.avc = [];
}

// ---------------------------------------------------------------------------
// Finding the mappings of a folio.

/**
 * Visit every VMA that may map folio f, with the user address of the folio's
 * first page in that VMA (which may lie outside it for a partly mapped large
 * folio). Return true from visit to stop.
 */
// mirrors mm/rmap.c:rmap_walk (rmap_walk_anon / rmap_walk_file)
export function rmapWalk(host: Host, f: number, visit: (vma: Vma, address: number) => boolean | void): void {
  const ft = host.ft;
  const owner = ft.owner[f];
  if (owner === null || owner === undefined) return;
  const first = ft.index[f]!;
  const last = first + folioNrPages(ft, f) - 1;
  const vmas: Iterable<Vma> = folioTestAnon(ft, f) ? (owner as AnonVma).vmas : (owner as AddressSpace).iMmap;
  for (const vma of [...vmas]) {
    const vfirst = vma.pgoff;
    const vlast = vma.pgoff + (vma.end - vma.start) / 4096 - 1;
    if (last < vfirst || first > vlast) continue;
    if (visit(vma, vma.start + (first - vfirst) * 4096) === true) return;
  }
}

/**
 * Write-protect and clean every shared mapping of folio f, so that the next
 * write through any of them faults (and calls ->page_mkwrite) again. Private
 * mappings are skipped: their page-cache PTEs are never writable. Returns the
 * number of entries that were dirty or writable.
 */
// mirrors mm/rmap.c:folio_mkclean (page_mkclean_one, page_vma_mkclean_one; PTE-mapped folios only)
export function folioMkclean(host: Host, f: number): number {
  const ft = host.ft;
  if (ft.mapcount[f]! < 0 && ft.entire[f]! < 0) return 0; // !folio_mapped
  const owner = ft.owner[f];
  if (owner === null || owner === undefined || owner.kind !== 'file') return 0;
  const nr = folioNrPages(ft, f);
  const pfn0 = ft.pfn[f]!;
  let cleaned = 0;
  rmapWalk(host, f, (vma, address) => {
    if (!(vma.flags & VM.SHARED)) return; // invalid_mkclean_vma
    const start = Math.max(address, vma.start);
    const end = Math.min(address + nr * PAGE_SIZE, vma.end);
    const range = invalidateStart(host, vma.mm, MmuNotifyEvent.PROTECTION_PAGE, start, end);
    for (let a = start; a < end; a += PAGE_SIZE) {
      const pt = tableLookup(vma.mm.pgd, a, Level.PTE);
      if (pt === null || pt.level !== Level.PTE) continue;
      const j = tableIndex(a, Level.PTE);
      const fl = pt.fl[j]!;
      if (!(fl & (Pte.PRESENT | Pte.PROTNONE)) || pt.pfn[j] !== pfn0 + (a - address) / PAGE_SIZE) continue;
      if (!(fl & (Pte.DIRTY | Pte.RW))) continue;
      // ptep_clear_flush, pte_wrprotect, pte_mkclean, set_pte_at.
      setEntry(host, pt, j, pt.pfn[j]!, fl & ~(Pte.RW | Pte.DIRTY));
      flushTlbRange(host, vma.mm);
      cleaned++;
    }
    invalidateEnd(range);
  });
  return cleaned;
}

/**
 * Unmap every PTE mapping of the small page-cache folio f (collapse_file's
 * use): clear the PTEs, fold their dirty bits into the folio, drop the rmap,
 * the RSS counters and each mapping's reference. Private COW copies are other
 * folios and stay.
 */
// mirrors mm/rmap.c:try_to_unmap (try_to_unmap_one for a PTE-mapped file folio; TTU_IGNORE_MLOCK)
export function tryToUnmap(host: Host, f: number): void {
  const ft = host.ft;
  const nr = folioNrPages(ft, f);
  const pfn0 = ft.pfn[f]!;
  const counter = ft.flags[f]! & PG.SWAPBACKED ? MmCounter.SHMEMPAGES : MmCounter.FILEPAGES;
  rmapWalk(host, f, (vma, address) => {
    const start = Math.max(address, vma.start);
    const end = Math.min(address + nr * PAGE_SIZE, vma.end);
    if (end <= start) return;
    let unmapped = 0;
    const range = invalidateStart(host, vma.mm, MmuNotifyEvent.CLEAR, start, end);
    for (let a = start; a < end; a += PAGE_SIZE) {
      const pt = tableLookup(vma.mm.pgd, a, Level.PTE);
      if (pt === null || pt.level !== Level.PTE) continue;
      const j = tableIndex(a, Level.PTE);
      const fl = pt.fl[j]!;
      const page = (a - address) / PAGE_SIZE;
      if (!(fl & (Pte.PRESENT | Pte.PROTNONE)) || fl & Pte.SPECIAL || pt.pfn[j] !== pfn0 + page) continue;
      clearEntry(host, pt, j);
      if (fl & Pte.DIRTY) ft.flags[f]! |= PG.DIRTY;
      removeRmap(host, f, page, 1, vma, Level.PTE);
      vma.mm.rss[counter] -= 1;
      host.folioPut(f);
      unmapped++;
    }
    if (unmapped > 0) flushTlbRange(host, vma.mm);
    invalidateEnd(range);
  });
}
