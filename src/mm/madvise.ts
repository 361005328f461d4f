/**
 * madvise(2) (mirrors mm/madvise.c).
 *
 * Advice the model implements fully: DONTNEED, DONTNEED_LOCKED, REMOVE,
 * HUGEPAGE, NOHUGEPAGE, DONTFORK, DOFORK, WIPEONFORK, KEEPONFORK, DONTDUMP,
 * DODUMP, NORMAL, RANDOM, SEQUENTIAL, POPULATE_READ, POPULATE_WRITE.
 * PAGEOUT reclaims the anonymous folios it covers to swap (src/mm/vmscan.ts)
 * when a swap area is on. Advice that only steers reclaim (WILLNEED, COLD,
 * FREE) is validated like Linux and then, beyond the large-folio splits
 * COLD and FREE do, has no effect: pages stay resident as they would on a
 * machine without memory pressure.
 * Advice for features not built into the modelled kernel is invalid (EINVAL):
 * MERGEABLE/UNMERGEABLE (CONFIG_KSM=n), HWPOISON/SOFT_OFFLINE
 * (CONFIG_MEMORY_FAILURE=n) and GUARD_INSTALL/REMOVE (pre-6.13). COLLAPSE
 * collapses anonymous memory (src/mm/khugepaged.ts).
 */
import { SyscallError } from '../uapi/errors.js';
import type { ErrnoName } from '../uapi/errno.js';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE } from '../uapi/falloc.js';
import * as M from '../uapi/mman.js';
import { fput, getFile } from './fs_types.js';
import type { Host } from './host.js';
import { faultinPageRange } from './gup.js';
import { khugepagedEnterVma, madviseCollapse } from './khugepaged.js';
import { hugetlbCollapse, madviseSplit } from './hugetlb_hgm.js';
import { PG, folioLikelyMappedShared, folioMapcount, folioNrPages } from './folio.js';
import { isHugeZeroFolio, splitFolio } from './huge_memory.js';
import { vmNormalPage, zapPageRangeSingle } from './memory.js';
import { type MmStruct, VM, type Vma, vmaIsAnonymous } from './mm_types.js';
import { LEVEL_SPAN, Level, PAGE_SIZE, PTRS_PER_TABLE } from './page.js';
import { Pte, type Walk, ptePresent, walk } from './pgtable.js';
import { userfaultfdRemove } from './userfaultfd_k.js';
import { reclaimPages } from './vmscan.js';
import { findVma, vmaLookup, vmaModify } from './vma.js';

const PAGE = BigInt(PAGE_SIZE);

const VALID = new Set<number>([
  M.MADV_NORMAL,
  M.MADV_RANDOM,
  M.MADV_SEQUENTIAL,
  M.MADV_WILLNEED,
  M.MADV_DONTNEED,
  M.MADV_FREE,
  M.MADV_REMOVE,
  M.MADV_DONTFORK,
  M.MADV_DOFORK,
  M.MADV_HUGEPAGE,
  M.MADV_NOHUGEPAGE,
  M.MADV_DONTDUMP,
  M.MADV_DODUMP,
  M.MADV_WIPEONFORK,
  M.MADV_KEEPONFORK,
  M.MADV_COLD,
  M.MADV_PAGEOUT,
  M.MADV_POPULATE_READ,
  M.MADV_POPULATE_WRITE,
  M.MADV_DONTNEED_LOCKED,
  M.MADV_COLLAPSE,
]);

// mirrors mm/madvise.c:madvise_behavior_valid
export function madviseBehaviorValid(behavior: number): boolean {
  return VALID.has(behavior);
}

/** May DONTNEED/FREE apply to vma? The (hugetlb: rounded-down) end, or EINVAL. */
// mirrors mm/madvise.c:madvise_dontneed_free_valid_vma
function madviseDontneedFreeValidVma(vma: Vma, start: number, end: number, behavior: number): number | 'EINVAL' {
  if (vma.flags & VM.HUGETLB) {
    if (behavior !== M.MADV_DONTNEED && behavior !== M.MADV_DONTNEED_LOCKED) return 'EINVAL';
    const h = vma.file?.fOp.hugePageSize ?? PAGE_SIZE;
    if (start % h !== 0) return 'EINVAL';
    // Callers may not know the VMA uses huge pages: round the end down, never up.
    return Math.max(start, Math.floor(end / h) * h);
  }
  let forbidden = VM.PFNMAP;
  if (behavior !== M.MADV_DONTNEED_LOCKED) forbidden |= VM.LOCKED;
  return vma.flags & forbidden ? 'EINVAL' : end;
}

/** MADV_DONTNEED / MADV_FREE on one VMA piece. */
// mirrors mm/madvise.c:madvise_dontneed_free
function madviseDontneedFree(host: Host, vma: Vma, start: number, end: number, behavior: number): ErrnoName | null {
  const e = madviseDontneedFreeValidVma(vma, start, end, behavior);
  if (e === 'EINVAL') return e;
  end = e;
  if (start === end) return null;
  // UFFD_EVENT_REMOVE: the monitor ran with mmap_lock dropped; look again.
  if (!userfaultfdRemove(vma, start, end)) {
    const v = vmaLookup(vma.mm, start);
    if (v === null) return 'ENOMEM';
    const e2 = madviseDontneedFreeValidVma(v, start, end, behavior);
    if (e2 === 'EINVAL') return e2;
    // The VMA may have been split meanwhile: the next one is walked next.
    end = Math.min(e2, v.end);
    if (start === end) return null;
    vma = v;
  }
  if (vma.flags & VM.HUGETLB) {
    zapPageRangeSingle(host, vma, start, end, { evenCows: true });
    return null;
  }
  if (behavior === M.MADV_FREE) {
    // madvise_free_single_vma: anonymous memory only; lazy freeing needs reclaim, which is not modelled.
    if (!vmaIsAnonymous(vma)) return 'EINVAL';
    splitPartialFolios(host, vma, start, end, null);
    return null;
  }
  zapPageRangeSingle(host, vma, start, end, { evenCows: true });
  return null;
}

const $w: Walk = { table: null as never, idx: 0, level: Level.PTE, parent: null, pidx: 0 };

/**
 * Split the large folios that [start, end) of vma covers only in part, as
 * MADV_FREE, MADV_COLD and MADV_PAGEOUT do before their lazy-free,
 * deactivation or reclaim work: a PMD-mapped
 * THP when the range is not its whole 2 MiB, a PTE-mapped large folio when
 * the run of PTEs mapping it consecutively from an address in the range
 * ends before the folio does. Folios likely mapped by another mm too are
 * left alone, as is the huge zero folio; a split that fails (an extra
 * reference, such as a pin) leaves the folio as it was. With pageout, the
 * folios covered whole that MADV_PAGEOUT isolates are listed. Simplified:
 * MADV_PAGEOUT of a file the caller could not write is treated as allowed
 * (pageout_anon_only_filter is never set: the model's processes are root).
 */
// mirrors mm/madvise.c:madvise_free_pte_range and madvise_cold_or_pageout_pte_range (their large-folio splits), mm/huge_memory.c:madvise_free_huge_pmd
function splitPartialFolios(host: Host, vma: Vma, start: number, end: number, pageout: number[] | null): void {
  const ft = host.ft;
  let addr = start;
  while (addr < end) {
    walk(vma.mm.pgd, addr, $w);
    const t = $w.table;
    const fl = t.fl[$w.idx]!;
    const span = LEVEL_SPAN[$w.level]!;
    const entryEnd = Math.floor(addr / span) * span + span;
    if ($w.level !== Level.PTE && !(fl & Pte.PSE)) {
      addr = entryEnd;
      continue;
    }
    if (!ptePresent(fl)) {
      addr += PAGE_SIZE;
      continue;
    }
    const pfn = t.pfn[$w.idx]!;
    const f = vmNormalPage(host, pfn, fl);
    if (f === 0 || isHugeZeroFolio(host, f)) {
      addr = $w.level === Level.PTE ? addr + PAGE_SIZE : entryEnd;
      continue;
    }
    if (ft.order[f] === 0) {
      if (pageout !== null && pageoutCandidate(host, f, Level.PTE)) pageout.push(f);
      addr += PAGE_SIZE;
      continue;
    }
    let nr: number;
    if ($w.level === Level.PTE) {
      // madvise_folio_pte_batch: consecutive pages of f, in this table and the range, with the same bits but dirty, soft-dirty, young and write.
      const ignore = Pte.DIRTY | Pte.SOFT_DIRTY | Pte.ACCESSED | Pte.RW;
      const last = ft.pfn[f]! + folioNrPages(ft, f);
      nr = 1;
      for (let j = $w.idx + 1; j < PTRS_PER_TABLE && addr + nr * PAGE_SIZE < end; j++, nr++) {
        if (t.pfn[j] !== pfn + nr || pfn + nr >= last || (t.fl[j]! & ~ignore) !== (fl & ~ignore)) break;
      }
    } else {
      nr = (Math.min(entryEnd, end) - addr) / PAGE_SIZE;
    }
    if (nr < folioNrPages(ft, f)) {
      if (!folioLikelyMappedShared(ft, f)) {
        host.folioGet(f);
        const err = splitFolio(host, f, 0);
        host.folioPut(f);
        // Split: look at the same address again, now mapped by small folios.
        if (err === 0) continue;
      }
    } else if (pageout !== null && pageoutCandidate(host, f, $w.level)) {
      pageout.push(f);
    }
    addr = $w.level === Level.PTE ? addr + nr * PAGE_SIZE : entryEnd;
  }
}

/**
 * Would MADV_PAGEOUT isolate folio f, which [start, end) covers whole? Not a
 * folio mapped elsewhere too (PMD-mapped: folio_likely_mapped_shared;
 * PTE-mapped: more mappings than pages), only LRU folios, none unevictable.
 * The model's processes are root, so file folios qualify too
 * (can_do_file_pageout); reclaim then keeps them (vmscan.ts).
 */
// mirrors mm/madvise.c:madvise_cold_or_pageout_pte_range (the isolation tests)
function pageoutCandidate(host: Host, f: number, level: Level): boolean {
  const ft = host.ft;
  if (level === Level.PTE ? folioMapcount(ft, f) !== folioNrPages(ft, f) : folioLikelyMappedShared(ft, f)) return false;
  return (ft.flags[f]! & (PG.LRU | PG.UNEVICTABLE)) === PG.LRU;
}

/** MADV_REMOVE: punch a hole in the backing file (shared writable mappings only). */
// mirrors mm/madvise.c:madvise_remove
function madviseRemove(vma: Vma, start: number, end: number): ErrnoName | null {
  if (vma.flags & VM.LOCKED) return 'EINVAL';
  const f = vma.file;
  if (f === null) return 'EINVAL';
  if ((vma.flags & (VM.SHARED | VM.MAYWRITE)) !== (VM.SHARED | VM.MAYWRITE)) return 'EACCES';
  // loff_t arithmetic: vm_pgoff can put the offset beyond 2^53.
  const offset = BigInt(start - vma.start) + BigInt(vma.pgoff) * PAGE;
  // UFFD_EVENT_REMOVE before the hole is punched; the file is held, as the VMA may go meanwhile.
  getFile(f);
  try {
    userfaultfdRemove(vma, start, end);
    if (f.fOp.fallocate === undefined) return 'EOPNOTSUPP';
    return f.fOp.fallocate(f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, BigInt(end - start));
  } finally {
    fput(f);
  }
}

/** Apply flag-changing advice to [start, end) of vma. */
// mirrors mm/madvise.c:madvise_vma_behavior (the vm_flags cases)
function madviseUpdateFlags(host: Host, vma: Vma, start: number, end: number, behavior: number): ErrnoName | null {
  let f = vma.flags;
  switch (behavior) {
    case M.MADV_NORMAL:
      f &= ~(VM.RAND_READ | VM.SEQ_READ);
      break;
    case M.MADV_SEQUENTIAL:
      f = (f & ~VM.RAND_READ) | VM.SEQ_READ;
      break;
    case M.MADV_RANDOM:
      f = (f & ~VM.SEQ_READ) | VM.RAND_READ;
      break;
    case M.MADV_DONTFORK:
      f |= VM.DONTCOPY;
      break;
    case M.MADV_DOFORK:
      if (f & VM.IO) return 'EINVAL';
      f &= ~VM.DONTCOPY;
      break;
    case M.MADV_WIPEONFORK:
      if (vma.file !== null || f & VM.SHARED) return 'EINVAL';
      f |= VM.WIPEONFORK;
      break;
    case M.MADV_KEEPONFORK:
      // Droppable memory must not survive fork.
      if (f & VM.DROPPABLE) return 'EINVAL';
      f &= ~VM.WIPEONFORK;
      break;
    case M.MADV_DONTDUMP:
      f |= VM.DONTDUMP;
      break;
    case M.MADV_DODUMP:
      // Special mappings (hugetlb aside) and droppable memory are never dumped.
      if ((!(f & VM.HUGETLB) && f & VM.SPECIAL) || f & VM.DROPPABLE) return 'EINVAL';
      f &= ~VM.DONTDUMP;
      break;
    case M.MADV_HUGEPAGE:
      // mm/khugepaged.c:hugepage_madvise
      f = (f & ~VM.NOHUGEPAGE) | VM.HUGEPAGE;
      break;
    case M.MADV_NOHUGEPAGE:
      f = (f & ~VM.HUGEPAGE) | VM.NOHUGEPAGE;
      break;
  }
  // madvise_update_vma: nothing to do if nothing changes; a failed split is reported as EAGAIN.
  if (f === vma.flags) return null;
  const r = vmaModify(host, vma, start, end, f);
  if (typeof r === 'string') return r === 'ENOMEM' ? 'EAGAIN' : r;
  // A VMA now good for khugepaged to scan registers its mm without waiting for a fault.
  if (f & VM.HUGEPAGE) khugepagedEnterVma(host, r, f);
  return null;
}

// mirrors mm/madvise.c:madvise_vma_behavior
function madviseVmaBehavior(host: Host, vma: Vma, start: number, end: number, behavior: number): ErrnoName | null {
  switch (behavior) {
    case M.MADV_REMOVE:
      return madviseRemove(vma, start, end);
    case M.MADV_WILLNEED:
      return null;
    case M.MADV_COLD:
    case M.MADV_PAGEOUT:
      // can_madv_lru_vma; deactivation (COLD) is not modelled, the splits before it are.
      if (vma.flags & (VM.LOCKED | VM.PFNMAP | VM.HUGETLB)) return 'EINVAL';
      if (behavior === M.MADV_COLD) splitPartialFolios(host, vma, start, end, null);
      else {
        const list: number[] = [];
        splitPartialFolios(host, vma, start, end, list);
        // madvise_cold_or_pageout_pte_range reclaims each PMD's batch; one batch per call is equivalent here.
        if (list.length > 0) reclaimPages(host, list);
      }
      return null;
    case M.MADV_FREE:
    case M.MADV_DONTNEED:
    case M.MADV_DONTNEED_LOCKED:
      return madviseDontneedFree(host, vma, start, end, behavior);
    case M.MADV_COLLAPSE:
      // HGM (never merged, v2 34/46): HugeTLB VMAs collapse their high-granularity pieces; upstream, EINVAL in khugepaged.
      if (vma.flags & VM.HUGETLB && host.hgm.enabled) return hugetlbCollapse(host, vma, start, end);
      return madviseCollapse(host, vma, start, end);
    case M.MADV_SPLIT:
      return madviseSplit(host, vma, start, end);
    default:
      return madviseUpdateFlags(host, vma, start, end, behavior);
  }
}

/**
 * Apply advice to each VMA piece of [start, end). Holes are skipped but make
 * the call fail with ENOMEM after the mapped parts are advised; a per-VMA error
 * stops the walk at once.
 */
// mirrors mm/madvise.c:madvise_walk_vmas
function madviseWalkVmas(host: Host, mm: MmStruct, start: number, end: number, behavior: number): ErrnoName | null {
  let unmapped: ErrnoName | null = null;
  let vma = findVma(mm, start);
  for (;;) {
    if (vma === null) return 'ENOMEM';
    if (start < vma.start) {
      unmapped = 'ENOMEM';
      start = vma.start;
      if (start >= end) break;
    }
    const tmp = Math.min(vma.end, end);
    const e = madviseVmaBehavior(host, vma, start, tmp, behavior);
    if (e !== null) return e;
    start = tmp;
    if (start >= end) break;
    vma = findVma(mm, start);
  }
  return unmapped;
}

/** madvise(2) after argument conversion. */
// mirrors mm/madvise.c:do_madvise
export function doMadvise(host: Host, mm: MmStruct, startB: bigint, lenB: bigint, behavior: number): void {
  const S = 'madvise';
  // MADV_SPLIT exists only in a kernel with HugeTLB HGM (policy hgmMapcount).
  if (!madviseBehaviorValid(behavior) && !(behavior === M.MADV_SPLIT && host.hgm.enabled)) throw new SyscallError('EINVAL', S);
  if (startB % PAGE !== 0n) throw new SyscallError('EINVAL', S);
  const len = (lenB + PAGE - 1n) & ~(PAGE - 1n) & ((1n << 64n) - 1n);
  if (lenB !== 0n && len === 0n) throw new SyscallError('EINVAL', S);
  const endB = startB + len;
  if (endB > (1n << 64n) - 1n) throw new SyscallError('EINVAL', S);
  if (endB === startB) return;
  // Beyond the user address space there is no VMA.
  if (startB >= 1n << 53n) throw new SyscallError('ENOMEM', S);
  const start = Number(startB);
  const end = endB >= 1n << 53n ? Number.MAX_SAFE_INTEGER : Number(endB);
  if (behavior === M.MADV_POPULATE_READ || behavior === M.MADV_POPULATE_WRITE) {
    const e = madvisePopulate(host, mm, start, end, behavior === M.MADV_POPULATE_WRITE);
    if (e !== null) throw new SyscallError(e, S);
    return;
  }
  const e = madviseWalkVmas(host, mm, start, end, behavior);
  if (e !== null) throw new SyscallError(e, S);
}

// mirrors mm/madvise.c:madvise_populate
function madvisePopulate(host: Host, mm: MmStruct, start: number, end: number, write: boolean): ErrnoName | null {
  while (start < end) {
    const r = faultinPageRange(host, mm, start, end, write);
    if (typeof r === 'string') {
      switch (r) {
        case 'EINTR':
        case 'EINVAL':
        case 'EHWPOISON':
        case 'EFAULT':
          return r;
        default:
          return 'ENOMEM';
      }
    }
    start += r * PAGE_SIZE;
  }
  return null;
}
