/**
 * HugeTLB high-granularity mapping (HGM): James Houghton's series (RFC v1
 * June 2022 ... v2 `20230218002819.1486479-1`, Feb 2023), never merged. Only
 * with the Kernel option policy.hgmMapcount other than 'off'.
 *
 * MADV_SPLIT marks a MAP_SHARED HugeTLB VMA VM_HUGETLB_HGM (irreversibly,
 * changing no mapping). In such a VMA an hstate-level entry may point to a
 * page table instead of mapping the whole page, and the pieces of the
 * HugeTLB folio are mapped below it: 4 KiB PTEs, and for a 1 GiB page 2 MiB
 * PMD leaves too. The folio is never split. UFFDIO_CONTINUE (and POISON)
 * take PAGE_SIZE-aligned ranges and map each piece with the largest entry
 * that fits (hugetlb_alloc_largest_pte); only none entries are split into
 * tables. Userfaultfd fault messages carry PAGE_SIZE-rounded addresses.
 * MADV_COLLAPSE (v2 34/46) turns a table back into one leaf.
 *
 * Every walker of HugeTLB page tables handles the tables: faults, zap,
 * fork, mprotect and uffd-wp, mremap, the page-table teardown of munmap
 * and exit; CPU accesses, GUP and /proc walk generic leaves at any level.
 * How pieces are counted is the policy's (src/mm/hgm_mapcount.ts).
 *
 * Simplifications: no PMD sharing exists in the model, so MADV_SPLIT has
 * none to unshare; x86-64 only, as v2; no hwpoison (the collapse's skip of a
 * poisoned page is kept for the flag the model has); no HugeTLB migration,
 * so collapse never meets a migration entry (EBUSY in v2). Zaps, mprotect
 * and uffd-wp always cover whole hstate pages (their ranges are huge-page
 * aligned in HGM VMAs too); only CONTINUE and POISON work on pieces.
 */
import { pow2 } from '../lib/pow2.js';
import { Ev } from '../cost/counters.js';
import type { ErrnoName } from '../uapi/errno.js';
import { PG, folioEntireMapcount, folioPrecisePageMapcount } from './folio.js';
import { FaultFlag, VmFault } from './fs_types.js';
import type { Host } from './host.js';
import type { Hstate } from './hugetlb.js';
import { type MmStruct, VM, type Vma } from './mm_types.js';
import { MmuNotifyEvent, invalidateEnd, invalidateStart, mmuNotifierPostCollapse } from './mmu_notifier.js';
import { LEVEL_SPAN, Level, PAGE_SIZE, alignDown, tableIndex } from './page.js';
import {
  MKDIRTY,
  type PageTable,
  Pte,
  TABLE_BITS,
  allocChild,
  clearEntry,
  freeChild,
  isPteMarker,
  linkChild,
  pteMarkerUffdWp,
  pteNoneMostly,
  setEntry,
  settleClears,
  tableAlloc,
  tableLookup,
} from './pgtable.js';
import { flushTlbRange } from './tlb.js';
import { handleUserfault, userfaultfdMinor, userfaultfdMissing, userfaultfdWp } from './userfaultfd_k.js';
import { vmaModify } from './vma.js';

const ENOMEM = -12;
const EEXIST = -17;
const EFAULT = -14;
const EIO = -5;

/** Is vma a HugeTLB VMA with high-granularity mapping enabled (hugetlb_hgm_enabled)? */
// mirrors (HGM v2) include/linux/hugetlb.h:hugetlb_hgm_enabled
export function hugetlbHgmEnabled(vma: Vma): boolean {
  return (vma.flags & VM.HUGETLB_HGM) !== 0;
}

/** May vma use HGM: a shared HugeTLB mapping (v2: x86-64 only, which the model is). */
// mirrors (HGM v2) mm/hugetlb.c:hugetlb_hgm_eligible
export function hugetlbHgmEligible(vma: Vma): boolean {
  return (vma.flags & VM.HUGETLB) !== 0 && (vma.flags & VM.MAYSHARE) !== 0;
}

/**
 * folio_precise_page_mapcount with HGM: a HugeTLB page's count is the
 * whole-mapping count plus, under thp-like, its own _mapcount (what
 * kpagecount, pagemap's PM_MMAP_EXCLUSIVE and the folio view report). Under
 * head-per-pte the head count includes every piece (v1 changed
 * page_mapcount so); under pgtable and special-bit the tables'.
 */
// mirrors fs/proc/internal.h:folio_precise_page_mapcount (HGM v2's hugetlb page_mapcount)
export function hgmPrecisePageMapcount(host: Host, f: number, i: number): number {
  const ft = host.ft;
  if (!(ft.flags[f]! & PG.HUGETLB)) return folioPrecisePageMapcount(ft, f, i);
  return folioEntireMapcount(ft, f) + host.hgm.subpageMapcount(f, i);
}

/** hstate_vma without importing hugetlb.ts (which imports this module). */
function hstateOf(host: Host, vma: Vma): Hstate {
  return host.hugetlb.inodes.get(vma.file!.inode.mapping)!.hstate;
}

/** The page-cache folio of huge-page index idx, or 0. */
function pagecacheFolio(vma: Vma, h: Hstate, idx: number): number {
  const f = vma.mapping!.pages.get(idx * h.nrPages);
  return f < 0 ? 0 : f;
}

/** Huge-page index in the file of the huge page holding addr (vma_hugecache_offset of the aligned address). */
function hugecacheIndex(h: Hstate, vma: Vma, addr: number): number {
  return Math.floor((addr - vma.start) / h.size) + Math.floor(vma.pgoff / h.nrPages);
}

/**
 * MADV_SPLIT on [start, end) of vma: set VM_HUGETLB_HGM. EINVAL for a VMA
 * that is not a shared HugeTLB one, and for a range that would split the VMA
 * off a huge page boundary (hugetlb_vm_op_split). Existing mappings stay.
 */
// mirrors (HGM v2 09/46) mm/madvise.c:madvise_split
export function madviseSplit(host: Host, vma: Vma, start: number, end: number): ErrnoName | null {
  if (!hugetlbHgmEligible(vma)) return 'EINVAL';
  // hugetlb_unshare_all_pmds: the model has no PMD sharing.
  if (hugetlbHgmEnabled(vma)) return null;
  const r = vmaModify(host, vma, start, end, vma.flags | VM.HUGETLB_HGM);
  if (typeof r === 'string') return r === 'ENOMEM' ? 'EAGAIN' : r;
  return null;
}

/** Entry bits of a present piece (make_huge_pte at a smaller level: PSE only on PMD/PUD leaves). */
function makePiecePte(vma: Vma, level: Level, writable: boolean): number {
  let fl = vma.pageProt | Pte.ACCESSED | (level > Level.PTE ? Pte.PSE : 0);
  if (writable) fl |= Pte.RW | MKDIRTY;
  else fl &= ~Pte.RW;
  return fl;
}

/** A marker at level (HugeTLB markers above PTE level carry PSE, as hugetlb.ts writes them). */
function markerAt(level: Level, bits: number): number {
  return Pte.MARKER | bits | (level > Level.PTE ? Pte.PSE : 0);
}

/** Where hgmAllocLargest / hgmWalk stopped: the entry, its level, and the hstate-level entry above it. */
interface HgmPte {
  t: PageTable;
  i: number;
  level: Level;
  hs: PageTable;
  hi: number;
}

const $p: HgmPte = { t: null as never, i: 0, level: Level.PTE, hs: null as never, hi: 0 };

/**
 * Walk to the entry mapping addr below the hstate-level entry: the first
 * leaf, marker or none entry. Returns false when no hstate-level table exists.
 */
// mirrors (HGM v2) mm/hugetlb.c:hugetlb_hgm_walk
function hgmWalk(mm: MmStruct, h: Hstate, addr: number, p: HgmPte): boolean {
  const hs = tableLookup(mm.pgd, addr, h.level);
  if (hs === null) return false;
  p.hs = hs;
  p.hi = tableIndex(addr, h.level);
  let t = hs;
  let i = p.hi;
  while (t.level > Level.PTE && t.fl[i] !== 0 && !(t.fl[i]! & Pte.PSE)) {
    t = t.kids![i]!;
    i = tableIndex(addr, t.level);
  }
  p.t = t;
  p.i = i;
  p.level = t.level;
  return true;
}

/**
 * Find or make the entry for a piece at addr of at most max bytes: the
 * largest level whose entry is aligned at addr and fits, splitting none
 * entries above it into tables (only none entries are split). Stops early at
 * a leaf or marker too large to fit (the caller answers EEXIST). false: no
 * memory for a table.
 */
// mirrors (HGM v2) mm/hugetlb.c:hugetlb_alloc_largest_pte
function hgmAllocLargest(host: Host, mm: MmStruct, h: Hstate, addr: number, max: number, p: HgmPte): boolean {
  const hs = tableAlloc(host, mm, mm.pgd, addr, h.level);
  if (hs === null) return false;
  p.hs = hs;
  p.hi = tableIndex(addr, h.level);
  let t = hs;
  for (;;) {
    const i = tableIndex(addr, t.level);
    const size = LEVEL_SPAN[t.level]!;
    const fl = t.fl[i]!;
    const fits = size <= max && addr % size === 0;
    if (fits || t.level === Level.PTE || (fl !== 0 && (fl & Pte.PSE) !== 0)) {
      p.t = t;
      p.i = i;
      p.level = t.level;
      return true;
    }
    if (fl === 0) {
      const c = allocChild(host, mm, t, i);
      if (c === null) return false;
      t = c;
    } else t = t.kids![i]!;
  }
}

/**
 * UFFDIO_CONTINUE or UFFDIO_POISON of one piece in an HGM VMA: [addr, addr +
 * at most max), mapped with the largest entry that fits. Returns the bytes
 * done, or a negative errno: EFAULT (no page in the file), EIO (poisoned
 * page), EEXIST (something is mapped there), ENOMEM (no table; a counter
 * would overflow).
 */
// mirrors (HGM v2) mm/hugetlb.c:hugetlb_mfill_atomic_pte (the high-granularity part)
export function hgmMfillPiece(host: Host, vma: Vma, h: Hstate, addr: number, max: number, poison: boolean, wp: boolean): number {
  const ft = host.ft;
  const mm = vma.mm;
  let f = 0;
  if (!poison) {
    f = pagecacheFolio(vma, h, hugecacheIndex(h, vma, addr));
    if (f === 0) return EFAULT;
    if (ft.flags[f]! & PG.HWPOISON) return EIO;
  }
  const p = $p;
  if (!hgmAllocLargest(host, mm, h, addr, max, p)) return ENOMEM;
  const size = LEVEL_SPAN[p.level]!;
  const fl = p.t.fl[p.i]!;
  if (size > max || addr % size !== 0) return EEXIST;
  if (poison) {
    if (fl !== 0) return EEXIST;
    setEntry(host, p.t, p.i, 0, markerAt(p.level, Pte.MARKER_POISONED));
    return size;
  }
  // A marker may be filled; a table at this level means something below is mapped.
  if (!pteNoneMostly(fl) || (p.level > Level.PTE && fl !== 0 && !(fl & Pte.PSE))) return EEXIST;
  const nr = size / PAGE_SIZE;
  const page = (addr - vma.start) / PAGE_SIZE + vma.pgoff - ft.index[f]!;
  if (p.level === h.level) return EEXIST; // whole pages go through hugetlbMfillAtomicPte
  const e = host.hgm.mapPiece(host, p.hs, p.hi, f, page, nr);
  if (e !== 0) return e;
  let nfl = makePiecePte(vma, p.level, !wp && (vma.flags & (VM.WRITE | VM.SHARED)) === (VM.WRITE | VM.SHARED)) | MKDIRTY;
  if (wp) nfl = (nfl | Pte.UFFD_WP) & ~Pte.RW;
  setEntry(host, p.t, p.i, ft.pfn[f]! + page, nfl);
  vma.mm.hugetlbUsage += nr;
  return size;
}

/** Userfaultfd messages of an HGM VMA carry the 4 KiB page, not the huge page. */
export function hgmFaultAddress(vma: Vma, hugeAddress: number, realAddress: number): number {
  return hugetlbHgmEnabled(vma) ? alignDown(realAddress, PAGE_SIZE) : hugeAddress;
}

/**
 * A fault below an hstate-level table (HGM VMA): map the piece the walk
 * ends at, at its level, or resolve a write / uffd-wp fault on a mapped
 * piece. newPage allocates a fresh page for the file when it has none at
 * this index (truncated since the table was built), or returns VM_FAULT bits.
 */
// mirrors (HGM v2) mm/hugetlb.c:hugetlb_fault / hugetlb_no_page (high-granularity entries)
export function hgmFault(host: Host, vma: Vma, h: Hstate, realAddress: number, flags: number, newPage: (idx: number) => number): number {
  const ft = host.ft;
  const p = $p;
  if (!hgmWalk(vma.mm, h, realAddress, p)) return VmFault.SIGBUS;
  const { t, i, level, hs, hi } = p;
  const fl = t.fl[i]!;
  const size = LEVEL_SPAN[level]!;
  const base = alignDown(realAddress, size);
  const msgAddr = alignDown(realAddress, PAGE_SIZE);
  if (isPteMarker(fl) && fl & Pte.MARKER_POISONED) return VmFault.HWPOISON_LARGE;
  if (pteNoneMostly(fl)) {
    const idx = hugecacheIndex(h, vma, base);
    let fresh = false;
    let f = pagecacheFolio(vma, h, idx);
    if (f === 0) {
      if (idx >= Number(vma.mapping!.host.size / BigInt(h.size))) return VmFault.SIGBUS;
      if (userfaultfdMissing(vma)) return handleUserfault(vma, msgAddr, realAddress, flags, VM.UFFD_MISSING);
      f = newPage(idx);
      if (f < 0) return -f;
      fresh = true;
    } else {
      if (userfaultfdMinor(vma)) return handleUserfault(vma, msgAddr, realAddress, flags, VM.UFFD_MINOR);
      if (ft.flags[f]! & PG.HWPOISON) return VmFault.HWPOISON_LARGE;
    }
    const nr = size / PAGE_SIZE;
    const page = (base - vma.start) / PAGE_SIZE + vma.pgoff - ft.index[f]!;
    // A counter that would overflow: the mapping fails as an allocation would (SIGBUS, as hugetlb_no_page's errors).
    const e = host.hgm.mapPiece(host, hs, hi, f, page, nr);
    // The allocation's reference: the page cache holds the new page now, the piece its own.
    if (fresh) host.folioPut(f);
    if (e !== 0) return VmFault.SIGBUS;
    let nfl = makePiecePte(vma, level, (vma.flags & (VM.WRITE | VM.SHARED)) === (VM.WRITE | VM.SHARED));
    if (pteMarkerUffdWp(fl)) nfl = (nfl | Pte.UFFD_WP) & ~Pte.RW;
    setEntry(host, t, i, ft.pfn[f]! + page, nfl);
    vma.mm.hugetlbUsage += nr;
    return VmFault.OK;
  }
  let nfl = fl;
  const write = (flags & FaultFlag.WRITE) !== 0;
  if (userfaultfdWp(vma) && fl & Pte.UFFD_WP && write && !(fl & Pte.RW)) return handleUserfault(vma, msgAddr, realAddress, flags, VM.UFFD_WP);
  // A stale uffd-wp bit (registered again without WP) is dropped, as for whole pages.
  if (fl & Pte.UFFD_WP && !userfaultfdWp(vma) && write) nfl &= ~Pte.UFFD_WP;
  // hugetlb_wp on a shared mapping: make it writable.
  if (write && !(nfl & Pte.RW)) {
    if (!(vma.flags & VM.WRITE)) return VmFault.SIGSEGV;
    if (nfl & Pte.UFFD_WP) return VmFault.OK;
    nfl |= Pte.RW | MKDIRTY;
  }
  setEntry(host, t, i, t.pfn[i]!, nfl | Pte.ACCESSED | (write ? MKDIRTY : 0));
  return VmFault.OK;
}

// ---------------------------------------------------------------------------
// Walkers of the whole table below an hstate-level entry.

/**
 * Zap every leaf below the table at hs[hi] (the whole hstate page: zaps of
 * HugeTLB ranges are huge-page aligned). Leaves only: the tables stay, as in
 * unmap_mapping_folio. A uffd-wp entry leaves a marker unless dropMarkers.
 * Returns the present entries cleared.
 */
// mirrors (HGM v2) mm/hugetlb.c:__unmap_hugepage_range (high-granularity entries)
export function hgmZapRegion(host: Host, vma: Vma, hs: PageTable, hi: number, dropMarkers: boolean): number {
  const cleared = zapTable(host, vma, hs, hi, hs.kids![hi]!, dropMarkers);
  host.hgm.regionZapped(host, hs, hi);
  return cleared;
}

/** Entry bits a zap batch may differ in (the CPU's and software's dirty and accessed bits). */
const RUN_IGNORED = Pte.DIRTY | Pte.ACCESSED | Pte.SOFT_DIRTY;

/**
 * Do all 512 entries have bits (but for RUN_IGNORED) and map pfn0 + i? The OR
 * of their bits if so, else -1. Kept tiny: V8 optimizes it within one call.
 */
function uniformRun(fl: Uint32Array, pfn: Float64Array, bits: number, pfn0: number): number {
  let any = 0;
  for (let i = 0; i < 512; i++) {
    const e = fl[i]!;
    if ((e & ~RUN_IGNORED) !== bits || pfn[i] !== pfn0 + i) return -1;
    any |= e;
  }
  return any;
}

/**
 * A full PTE table mapping 512 consecutive pages of one folio with the same
 * bits but for DIRTY/ACCESSED (what 4 KiB CONTINUEs leave): clear it in bulk.
 * The same clears, counts and unmap as zapTable's loop, in a small function
 * that is fast from its first call (a 1 GiB collapse runs it 512 times, once).
 * Returns false, having changed nothing, for any other table.
 */
// mirrors mm/memory.c:zap_present_ptes (one folio's batch of PTEs)
function zapFullRun(host: Host, vma: Vma, hs: PageTable, hi: number, t: PageTable): boolean {
  if (t.used !== 512) return false;
  const fl = t.fl;
  const pfn = t.pfn;
  const bits = fl[0]! & ~RUN_IGNORED;
  // Present leaves with no uffd-wp bit to turn into a marker.
  if (!(bits & Pte.PRESENT) || bits & (Pte.UFFD_WP | Pte.MARKER)) return false;
  const pfn0 = pfn[0]!;
  const dirty = uniformRun(fl, pfn, bits, pfn0);
  if (dirty < 0) return false;
  const ft = host.ft;
  const f = host.pfnFolio(pfn0);
  const page = pfn0 - ft.pfn[f]!;
  if (page + 512 > pow2(ft.order[f]!)) return false;
  fl.fill(0);
  pfn.fill(0);
  settleClears(host, t, 512);
  if (dirty & Pte.DIRTY) ft.flags[f]! |= PG.DIRTY;
  host.hgm.unmapPieces(host, hs, hi, f, page, 1, 512);
  vma.mm.hugetlbUsage -= 512;
  return true;
}

function zapTable(host: Host, vma: Vma, hs: PageTable, hi: number, t: PageTable, dropMarkers: boolean): number {
  const ft = host.ft;
  const level = t.level;
  if (level === Level.PTE && zapFullRun(host, vma, hs, hi, t)) return 512;
  const nr = LEVEL_SPAN[level]! / PAGE_SIZE;
  let cleared = 0;
  let mine = 0;
  let zeroed = 0;
  // A run of leaves mapping consecutive pages of one folio, uncounted yet (zap_present_ptes' batch).
  let runF = 0;
  let runPage = 0;
  let runCount = 0;
  // The folio of the last leaf: pieces of one HugeTLB folio come in long runs.
  let f = 0;
  let fBase = 0;
  let fEnd = 0;
  for (let i = 0; i < 512; i++) {
    if (t.used === zeroed) break;
    const fl = t.fl[i]!;
    if (fl === 0) continue;
    if (level > Level.PTE && !(fl & Pte.PSE)) {
      cleared += zapTable(host, vma, hs, hi, t.kids![i]!, dropMarkers);
      continue;
    }
    if (isPteMarker(fl)) {
      if (!(fl & Pte.UFFD_WP) || dropMarkers) clearEntry(host, t, i);
      else if (fl & Pte.MARKER_POISONED) setEntry(host, t, i, 0, markerAt(level, Pte.UFFD_WP));
      continue;
    }
    const pfn = t.pfn[i]!;
    if (pfn < fBase || pfn >= fEnd) {
      f = host.pfnFolio(pfn);
      fBase = ft.pfn[f]!;
      fEnd = fBase + pow2(ft.order[f]!);
    }
    // clear_pte, settled in bulk below.
    t.fl[i] = 0;
    t.pfn[i] = 0;
    zeroed++;
    if (fl & Pte.UFFD_WP && !dropMarkers) {
      settleClears(host, t, zeroed);
      zeroed = 0;
      setEntry(host, t, i, 0, markerAt(level, Pte.UFFD_WP));
    }
    if (fl & Pte.DIRTY) ft.flags[f]! |= PG.DIRTY;
    const page = pfn - fBase;
    if (f === runF && page === runPage + runCount * nr) runCount++;
    else {
      if (runCount > 0) host.hgm.unmapPieces(host, hs, hi, runF, runPage, nr, runCount);
      runF = f;
      runPage = page;
      runCount = 1;
    }
    mine++;
  }
  settleClears(host, t, zeroed);
  if (runCount > 0) host.hgm.unmapPieces(host, hs, hi, runF, runPage, nr, runCount);
  vma.mm.hugetlbUsage -= mine * nr;
  return cleared + mine;
}

/** Free the (empty) tables below t[i] and clear t[i]. */
function freeSubtree(host: Host, mm: MmStruct, t: PageTable, i: number): void {
  const c = t.kids![i]!;
  if (c.kids !== null) {
    for (let j = 0; j < 512 && c.used > 0; j++) {
      const fl = c.fl[j]!;
      if (fl !== 0 && !(fl & Pte.PSE)) freeSubtree(host, mm, c, j);
      // Only markers can remain below a zapped table (zaps keep uffd-wp ones); they go with it.
      else if (fl !== 0) clearEntry(host, c, j);
    }
  } else if (c.used > 0) for (let j = 0; j < 512; j++) if (c.fl[j] !== 0) clearEntry(host, c, j);
  freeChild(host, mm, t, i);
}

/**
 * munmap and exit: free the tables below the hstate-level entries of
 * [start, end) of an HGM VMA (already zapped), before the generic
 * free_pgd_range sees them. The designs that count tables drop their count.
 */
// mirrors (HGM v2) mm/hugetlb.c:hugetlb_free_pgd_range (via free_pgtables)
export function hgmFreeTables(host: Host, vma: Vma, start: number, end: number): void {
  const h = hstateOf(host, vma);
  const mm = vma.mm;
  const span = h.size * 512;
  for (let addr = start; addr < end; addr += h.size) {
    const hs = tableLookup(mm.pgd, addr, h.level);
    if (hs === null) {
      addr = Math.floor(addr / span) * span + span - h.size;
      continue;
    }
    const hi = tableIndex(addr, h.level);
    const fl = hs.fl[hi]!;
    if (fl === 0 || fl & Pte.PSE) continue;
    zapTable(host, vma, hs, hi, hs.kids![hi]!, true);
    host.hgm.tableFreed(host, hs, hi, 0);
    freeSubtree(host, mm, hs, hi);
  }
}

/**
 * fork: copy the table below src's hs[hi] into dst (shared mappings only:
 * no COW), every piece counted for the child. 0 or -ENOMEM.
 */
// mirrors (HGM v2) mm/hugetlb.c:copy_hugetlb_page_range (high-granularity entries)
export function hgmCopyRegion(host: Host, dst: Vma, h: Hstate, hs: PageTable, hi: number, addr: number): number {
  const dhs = tableAlloc(host, dst.mm, dst.mm.pgd, addr, h.level);
  if (dhs === null) return ENOMEM;
  if (dhs.fl[hi] !== 0) return 0;
  if (allocChild(host, dst.mm, dhs, hi) === null) return ENOMEM;
  return copyTable(host, dst, hs.kids![hi]!, dhs.kids![hi]!, dhs, hi);
}

function copyTable(host: Host, dst: Vma, st: PageTable, dt: PageTable, dhs: PageTable, dhi: number): number {
  const ft = host.ft;
  const nr = LEVEL_SPAN[st.level]! / PAGE_SIZE;
  for (let i = 0; i < 512; i++) {
    let fl = st.fl[i]!;
    if (fl === 0) continue;
    if (st.level > Level.PTE && !(fl & Pte.PSE)) {
      const c = allocChild(host, dst.mm, dt, i);
      if (c === null) return ENOMEM;
      const e = copyTable(host, dst, st.kids![i]!, c, dhs, dhi);
      if (e !== 0) return e;
      continue;
    }
    if (isPteMarker(fl)) {
      // copy_pte_marker: poison always, uffd-wp only into a WP-registered child.
      const m = fl & ~(dst.flags & VM.UFFD_WP ? 0 : Pte.UFFD_WP);
      if (m & (Pte.UFFD_WP | Pte.MARKER_POISONED)) setEntry(host, dt, i, 0, m);
      continue;
    }
    const pfn = st.pfn[i]!;
    const f = host.pfnFolio(pfn);
    if (host.hgm.mapPiece(host, dhs, dhi, f, pfn - ft.pfn[f]!, nr) !== 0) return ENOMEM;
    if (!(dst.flags & VM.UFFD_WP)) fl &= ~Pte.UFFD_WP;
    // The child did not pin through its copy (the pte-bit design's software bit).
    setEntry(host, dt, i, pfn, fl & ~Pte.PINNED);
    dst.mm.hugetlbUsage += nr;
  }
  return 0;
}

/**
 * mprotect / uffd-wp of the pieces below hs[hi] (the whole hstate page):
 * apply pageProt, set (uffdWp; none entries take markers) or clear
 * (uffdWpResolve) userfaultfd write protection. Returns base pages changed.
 */
// mirrors (HGM v2) mm/hugetlb.c:hugetlb_change_protection (high-granularity entries)
export function hgmChangeProtection(host: Host, vma: Vma, t: PageTable, uffdWp: boolean, uffdWpResolve: boolean): number {
  const keep = Pte.SPECIAL | Pte.ACCESSED | Pte.DIRTY | Pte.SOFT_DIRTY | Pte.UFFD_WP | Pte.PINNED | Pte.PSE;
  const nr = LEVEL_SPAN[t.level]! / PAGE_SIZE;
  let pages = 0;
  for (let i = 0; i < 512; i++) {
    const fl = t.fl[i]!;
    if (t.level > Level.PTE && fl !== 0 && !(fl & Pte.PSE)) {
      pages += hgmChangeProtection(host, vma, t.kids![i]!, uffdWp, uffdWpResolve);
      continue;
    }
    if (isPteMarker(fl)) {
      if (pteMarkerUffdWp(fl) && uffdWpResolve) {
        if (fl & Pte.MARKER_POISONED) setEntry(host, t, i, 0, fl & ~Pte.UFFD_WP);
        else clearEntry(host, t, i);
      }
      continue;
    }
    if (fl === 0) {
      if (uffdWp) setEntry(host, t, i, 0, markerAt(t.level, Pte.UFFD_WP));
      continue;
    }
    let nfl = (fl & keep) | (vma.pageProt & ~keep);
    if (uffdWp) nfl = (nfl | Pte.UFFD_WP) & ~Pte.RW;
    else if (uffdWpResolve) nfl &= ~Pte.UFFD_WP;
    setEntry(host, t, i, t.pfn[i]!, nfl);
    pages += nr;
  }
  return pages;
}

/**
 * mremap: move the table below the old hstate-level entry os[oi] to the new
 * one ns[ni] as a whole (counts do not change); drop uffd-wp from its
 * entries if the new VMA is not WP-registered.
 */
// mirrors (HGM v2) mm/hugetlb.c:move_hugetlb_page_tables (move_hugetlb_pte of a non-leaf entry)
export function hgmMoveRegion(host: Host, os: PageTable, oi: number, ns: PageTable, ni: number, clearUffdWp: boolean): void {
  const child = os.kids![oi]!;
  const special = os.fl[oi]! & Pte.SPECIAL;
  os.kids![oi] = undefined;
  clearEntry(host, os, oi);
  linkChild(host, ns, ni, child);
  if (special) setEntry(host, ns, ni, ns.pfn[ni]!, TABLE_BITS | special);
  if (clearUffdWp) dropUffdWp(host, child);
}

function dropUffdWp(host: Host, t: PageTable): void {
  for (let i = 0; i < 512; i++) {
    const fl = t.fl[i]!;
    if (!(fl & Pte.UFFD_WP)) {
      if (t.level > Level.PTE && fl !== 0 && !(fl & Pte.PSE)) dropUffdWp(host, t.kids![i]!);
      continue;
    }
    // A marker that said only uffd-wp goes with the bit.
    if (isPteMarker(fl) && !(fl & Pte.MARKER_POISONED)) clearEntry(host, t, i);
    else setEntry(host, t, i, t.pfn[i]!, fl & ~Pte.UFFD_WP);
  }
}

// ---------------------------------------------------------------------------
// MADV_COLLAPSE.

/** One region a collapse turns into one leaf: the entry pointing to its table, and the leaf's level. */
interface CollapseTarget {
  addr: number;
  level: Level;
}

/**
 * Would collapsing the table below t[i] (mapping [addr, addr + size) of
 * folio f, pieces at page offset `page`) change nothing a secondary MMU
 * sees: every piece present, mapping the same PFNs with the permissions the
 * new leaf gets (James' condition for the post-collapse notifier)?
 */
function collapseIsInPlace(host: Host, t: PageTable, f: number, pfn0: number, writable: boolean): boolean {
  if (f === 0) return false;
  const span = LEVEL_SPAN[t.level]! / PAGE_SIZE;
  for (let i = 0; i < 512; i++) {
    const fl = t.fl[i]!;
    if (fl === 0 || isPteMarker(fl)) return false;
    if (t.level > Level.PTE && !(fl & Pte.PSE)) {
      if (!collapseIsInPlace(host, t.kids![i]!, f, pfn0 + i * span, writable)) return false;
      continue;
    }
    if (t.pfn[i] !== pfn0 + i * span) return false;
    if (((fl & Pte.RW) !== 0) !== writable || fl & Pte.UFFD_WP) return false;
  }
  return true;
}

/**
 * MADV_COLLAPSE on [start, end) of a HugeTLB VMA under HGM. Each whole hstate
 * page in the range whose entry points to a table becomes one hstate-level
 * leaf; inside a 1 GiB page the range does not cover, each whole 2 MiB whose
 * PMD entry points to a PTE table becomes a 2 MiB leaf (so 4K -> 2M -> 1G
 * works in two steps). Per region: the page-cache folio is looked up (none:
 * the region is just cleared; hwpoisoned: skipped), the small entries are
 * zapped (uffd-wp markers dropped), the tables freed and one leaf installed:
 * holes are filled and UFFDIO_WRITEPROTECT undone. Secondary MMUs hear of it
 * by the invalidate pair around the whole call, or, under policy
 * collapseNotifier 'post-collapse', by one notification afterwards when no
 * region changes PFNs or permissions or fills holes (else the invalidate pair).
 * EINVAL for a private VMA.
 */
// mirrors (HGM v2 34/46) mm/hugetlb.c:hugetlb_collapse
export function hugetlbCollapse(host: Host, vma: Vma, start: number, end: number): ErrnoName | null {
  if (!hugetlbHgmEligible(vma)) return 'EINVAL';
  const h = hstateOf(host, vma);
  const mm = vma.mm;
  const ft = host.ft;
  const targets: CollapseTarget[] = [];
  const sub = h.level === Level.PUD ? LEVEL_SPAN[Level.PMD]! : 0;
  for (let a = alignDown(start, h.size); a < end; a += h.size) {
    if (a >= start && a + h.size <= end) {
      targets.push({ addr: a, level: h.level });
      continue;
    }
    // A 1 GiB page the range covers only partly: its whole 2 MiB pieces.
    if (sub === 0) continue;
    for (let b = Math.max(a, Math.ceil(start / sub) * sub); b + sub <= Math.min(end, a + h.size); b += sub) targets.push({ addr: b, level: Level.PMD });
  }
  // Which regions have a table to collapse, and do they change what a secondary MMU sees?
  const writable = (vma.flags & VM.WRITE) !== 0;
  const todo: CollapseTarget[] = [];
  let inPlace = true;
  for (const tg of targets) {
    const e = collapseEntry(mm, h, tg);
    if (e === null) continue;
    const f = pagecacheFolio(vma, h, hugecacheIndex(h, vma, tg.addr));
    if (f !== 0 && ft.flags[f]! & PG.HWPOISON) continue;
    todo.push(tg);
    const pfn0 = f === 0 ? 0 : ft.pfn[f]! + (tg.addr - alignDown(tg.addr, h.size)) / PAGE_SIZE;
    if (host.hgmPostCollapse && inPlace && !collapseIsInPlace(host, e.t.kids![e.i]!, f, pfn0, writable)) inPlace = false;
  }
  if (todo.length === 0) return null;
  const post = host.hgmPostCollapse && inPlace;
  if (host.hgmPostCollapse && !inPlace) host.hgm.metrics.postCollapseFallbacks++;
  const rs = todo[0]!.addr;
  const last = todo[todo.length - 1]!;
  const re = last.addr + LEVEL_SPAN[last.level]!;
  const range = post ? null : invalidateStart(host, mm, MmuNotifyEvent.CLEAR, rs, re);
  let err: ErrnoName | null = null;
  for (const tg of todo) {
    const e = collapseRegion(host, vma, h, tg, writable);
    if (e !== null) err = e;
  }
  flushTlbRange(host, mm);
  if (post) {
    mmuNotifierPostCollapse(host, mm, rs, re);
    host.hgm.metrics.postCollapses++;
  } else {
    invalidateEnd(range);
    host.hgm.metrics.invalidateCollapses++;
  }
  return err;
}

/** The entry of a collapse target if it points to a table (else null: nothing to collapse). */
function collapseEntry(mm: MmStruct, h: Hstate, tg: CollapseTarget): { t: PageTable; i: number; hs: PageTable; hi: number } | null {
  const hs = tableLookup(mm.pgd, tg.addr, h.level);
  if (hs === null) return null;
  const hi = tableIndex(tg.addr, h.level);
  const hfl = hs.fl[hi]!;
  if (hfl === 0 || hfl & Pte.PSE) return null;
  if (tg.level === h.level) return { t: hs, i: hi, hs, hi };
  const t = hs.kids![hi]!;
  const i = tableIndex(tg.addr, tg.level);
  const fl = t.fl[i]!;
  if (fl === 0 || fl & Pte.PSE) return null;
  return { t, i, hs, hi };
}

/** Collapse one region (see hugetlbCollapse). */
function collapseRegion(host: Host, vma: Vma, h: Hstate, tg: CollapseTarget, writable: boolean): ErrnoName | null {
  const ft = host.ft;
  const mm = vma.mm;
  const e = collapseEntry(mm, h, tg)!;
  const f = pagecacheFolio(vma, h, hugecacheIndex(h, vma, tg.addr));
  zapTable(host, vma, e.hs, e.hi, e.t.kids![e.i]!, true);
  const whole = tg.level === h.level;
  let transferred = false;
  if (whole) transferred = host.hgm.tableFreed(host, e.hs, e.hi, f);
  freeSubtree(host, mm, e.t, e.i);
  if (f === 0) return null;
  const nr = LEVEL_SPAN[tg.level]! / PAGE_SIZE;
  const page = (tg.addr - alignDown(tg.addr, h.size)) / PAGE_SIZE;
  if (whole) {
    if (!transferred) {
      // hugetlb_add_file_rmap and the mapping's reference.
      ft.entire[f] = ft.entire[f]! + 1;
      ft.mapcount[f] = ft.mapcount[f]! + 1;
      host.ev[Ev.ATOMIC_MAPCOUNT]++;
      host.folioGet(f);
    }
  } else if (host.hgm.mapPiece(host, e.hs, e.hi, f, page, nr) !== 0) {
    // The counter would overflow: leave the region unmapped (faults map it again).
    return 'ENOMEM';
  }
  setEntry(host, e.t, e.i, ft.pfn[f]! + page, makePiecePte(vma, tg.level, writable));
  mm.hugetlbUsage += nr;
  return null;
}
