/**
 * Duplicating an address space at fork (mirrors kernel/fork.c:dup_mmap and
 * mm/memory.c:copy_page_range).
 *
 * Private anonymous pages become shared between parent and child: exclusivity
 * is cleared and both PTEs are write-protected, so the first write in either
 * breaks COW. A page that may be DMA-pinned (in an mm that has pinned) is
 * copied for the child at once instead, so the parent keeps its pinned page.
 */
import { Ev } from '../cost/counters.js';
import { PG, folioTestAnon } from './folio.js';
import type { Host } from './host.js';
import { addMmCounter, copyHugePmd, maybeMkwrite, mmCounterFile } from './huge_memory.js';
import { khugepagedFork } from './khugepaged.js';
import { folioPageIdx, vmNormalPage } from './memory.js';
import { exitMmap, securityVmEnoughMemory } from './mmap.js';
import { copyHugetlbPageRange } from './hugetlb.js';
import { MMF, MmCounter, MmStruct, VM, Vma, isCowMapping } from './mm_types.js';
import { MmuNotifyEvent, withInvalidate } from './mmu_notifier.js';
import { GFP_HIGHUSER_MOVABLE } from './page_alloc.js';
import { HPAGE_PMD_NR, Level, PAGE_SIZE, PMD_SIZE, alignDown, tableIndex } from './page.js';
import { MKDIRTY, type PageTable, Pte, allocChild, isPteMarker, isSwapEntry, newTable, setEntry, tableAlloc } from './pgtable.js';
import { swapDuplicate } from './swapfile.js';
import { RMAP_EXCLUSIVE, anonVmaFork, folioAddLru, folioAddNewAnonRmap, folioDupFileRmap, folioNeedsCowForDma, folioTryDupAnonRmap } from './rmap.js';
import { vmaInsert, vmaLinkFile } from './vma.js';
import { flushTlbMm } from './tlb.js';
import { type UserfaultfdCtx, dupUserfaultfd, dupUserfaultfdComplete, dupUserfaultfdFail, userfaultfdPteWp, userfaultfdWp } from './userfaultfd_k.js';

class ForkOom extends Error {}

/**
 * Create the child's mm as a copy of parent's. Returns the new mm, or null if
 * memory ran out (fork fails with ENOMEM; the partial child is torn down).
 */
// mirrors kernel/fork.c:dup_mm (dup_mmap)
export function dupMm(host: Host, parent: MmStruct): MmStruct | null {
  const pgd = newTable(host, { pgtablesBytes: 0 }, Level.PGD);
  if (pgd === null) return null;
  const child = new MmStruct(host.newId(), pgd, parent.mmapBase);
  child.pgtablesBytes = PAGE_SIZE;
  // mmf_init_flags: only some mm flags are inherited; MMF_HAS_PINNED is not.
  child.flags = parent.flags & MMF.DISABLE_THP;
  child.defFlags = parent.defFlags & VM.NOHUGEPAGE;
  khugepagedFork(host, child, parent);
  const fcs = new Map<UserfaultfdCtx, UserfaultfdCtx>();
  try {
    for (const vma of parent.vmas) {
      if (vma.flags & VM.DONTCOPY) continue;
      // Accounted (private writable) memory is charged again for the child.
      if (vma.flags & VM.ACCOUNT && !securityVmEnoughMemory(host, (vma.end - vma.start) / PAGE_SIZE)) throw new ForkOom();
      const tmp = new Vma(child, vma.start, vma.end, vma.flags & ~(VM.LOCKED | VM.LOCKONFAULT), vma.pgoff, vma.file, vma.ops);
      tmp.pageProt = vma.pageProt;
      tmp.anonName = vma.anonName;
      // A userfaultfd registration survives only with UFFD_FEATURE_EVENT_FORK, on a new context.
      tmp.uffdCtx = vma.uffdCtx;
      dupUserfaultfd(host, tmp, fcs);
      if (!(vma.flags & VM.WIPEONFORK)) anonVmaFork(host, tmp, vma);
      vmaInsert(child, tmp);
      vmaLinkFile(tmp);
      child.totalVm += (tmp.end - tmp.start) / PAGE_SIZE;
      if (!(vma.flags & VM.WIPEONFORK)) copyPageRange(host, tmp, vma);
    }
  } catch (e) {
    if (!(e instanceof ForkOom)) throw e;
    dupUserfaultfdFail(fcs);
    exitMmap(host, child);
    return null;
  }
  // The UFFD_EVENT_FORKs go out once fork is done (the caller delivers them).
  dupUserfaultfdComplete(host, fcs);
  flushTlbMm(host, parent); // flush_tlb_mm(oldmm): parent PTEs were write-protected
  child.startOn(parent.cpu); // the child first runs where its parent runs
  return child;
}

/** Page tables are copied only where faults could not rebuild them. */
// mirrors mm/memory.c:vma_needs_copy
function vmaNeedsCopy(dst: Vma, src: Vma): boolean {
  if (dst.flags & VM.UFFD_WP) return true;
  if (src.flags & (VM.PFNMAP | VM.MIXEDMAP)) return true;
  return src.anonVma !== null;
}

// mirrors mm/memory.c:copy_page_range
function copyPageRange(host: Host, dst: Vma, src: Vma): void {
  if (!vmaNeedsCopy(dst, src)) return;
  if (src.flags & VM.HUGETLB) {
    if (copyHugetlbPageRange(host, dst, src) < 0) throw new ForkOom();
    return;
  }
  const srcMm = src.mm;
  const cow = isCowMapping(src.flags);
  const body = (): void => {
    if (cow) srcMm.writeProtectSeq++;
    try {
      for (let addr = src.start; addr < src.end; ) {
        const next = Math.min(alignDown(addr, PMD_SIZE) + PMD_SIZE, src.end);
        copyPmdEntry(host, dst, src, addr, next, cow);
        addr = next;
      }
    } finally {
      if (cow) srcMm.writeProtectSeq++;
    }
  };
  if (cow) withInvalidate(host, srcMm, MmuNotifyEvent.PROTECTION_PAGE, src.start, src.end, body);
  else body();
}

/** Copy what one PMD entry of src maps within [addr, end). */
// mirrors mm/memory.c:copy_pmd_range (for one PMD)
function copyPmdEntry(host: Host, dst: Vma, src: Vma, addr: number, end: number, cow: boolean): void {
  const srcPmd = lookupPmdTable(src.mm.pgd, addr);
  if (srcPmd === null) return;
  const i = tableIndex(addr, Level.PMD);
  const fl = srcPmd.fl[i]!;
  if (fl === 0) return;
  const dstPmd = tableAlloc(host, dst.mm, dst.mm.pgd, addr, Level.PMD);
  if (dstPmd === null) throw new ForkOom();
  if (fl & Pte.PSE) {
    const haddr = alignDown(addr, PMD_SIZE);
    const r = copyHugePmd(host, dst, src, dstPmd, srcPmd, i, haddr, (f) => folioNeedsCowForDma(host, src, f, 0, HPAGE_PMD_NR, haddr));
    if (r === 'oom') throw new ForkOom();
    if (r !== 'again') return;
  }
  // Split (or never huge): copy at PTE level.
  copyPteRange(host, dst, src, dstPmd, srcPmd.kids![i]!, i, addr, end, cow);
}

function lookupPmdTable(pgd: PageTable, addr: number): PageTable | null {
  let t = pgd;
  while (t.level > Level.PMD) {
    const j = tableIndex(addr, t.level);
    const fl = t.fl[j]!;
    if (fl === 0 || fl & Pte.PSE) return null;
    t = t.kids![j]!;
  }
  return t;
}

// mirrors mm/memory.c:copy_pte_range (with copy_present_ptes)
function copyPteRange(host: Host, dst: Vma, src: Vma, dstPmd: PageTable, srcPt: PageTable, i: number, addr: number, end: number, cow: boolean): void {
  let dstPt: PageTable | null = null;
  const ft = host.ft;
  for (let a = addr; a < end; a += PAGE_SIZE) {
    const j = tableIndex(a, Level.PTE);
    let fl = srcPt.fl[j]!;
    if (fl === 0) continue;
    if (dstPt === null) {
      dstPt = dstPmd.fl[i] === 0 ? allocChild(host, dst.mm, dstPmd, i) : dstPmd.kids![i]!;
      if (dstPt === null) throw new ForkOom();
    }
    if (isSwapEntry(fl)) {
      // copy_nonpresent_pte: the child names the same slot; neither copy is exclusive any more.
      swapDuplicate(host.swap, srcPt.pfn[j]!);
      host.swap.mmlist.add(dst.mm);
      if (fl & Pte.SWP_EXCLUSIVE) {
        fl &= ~Pte.SWP_EXCLUSIVE;
        setEntry(host, srcPt, j, srcPt.pfn[j]!, fl);
      }
      addMmCounter(dst.mm, MmCounter.SWAPENTS, 1);
      setEntry(host, dstPt, j, srcPt.pfn[j]!, userfaultfdWp(dst) ? fl : fl & ~Pte.UFFD_WP);
      continue;
    }
    if (isPteMarker(fl)) {
      // copy_nonpresent_pte (copy_pte_marker): poison always goes; uffd-wp only to a WP-registered child.
      const m = fl & ~(userfaultfdWp(dst) ? 0 : Pte.UFFD_WP);
      if ((m & ~Pte.SOFT_DIRTY) !== Pte.MARKER) setEntry(host, dstPt, j, 0, m);
      continue;
    }
    const pfn = srcPt.pfn[j]!;
    const f = vmNormalPage(host, pfn, fl);
    if (f !== 0 && folioTestAnon(ft, f)) {
      host.folioGet(f);
      const page = folioPageIdx(host, f, pfn);
      if (!folioTryDupAnonRmap(host, f, page, 1, dst, Level.PTE, folioNeedsCowForDma(host, src, f, page, 1, a))) {
        // The page may be pinned: the child gets its own copy now.
        host.folioPut(f);
        copyPresentPage(host, dst, dstPt, j, a, f, page, userfaultfdPteWp(dst, fl));
        if (host.pinnedPages(f, page) === 0) {
          host.pins.metrics.unnecessaryForkCopies++;
          host.pins.metrics.unnecessaryForkCopyBytes += PAGE_SIZE;
        }
        continue;
      }
      addMmCounter(dst.mm, MmCounter.ANONPAGES, 1);
    } else if (f !== 0) {
      host.folioGet(f);
      folioDupFileRmap(host, f, folioPageIdx(host, f, pfn), 1, dst, Level.PTE);
      addMmCounter(dst.mm, mmCounterFile(host, f), 1);
    }
    // A COW mapping is write-protected in both processes.
    if (cow && fl & Pte.RW) {
      setEntry(host, srcPt, j, pfn, fl & ~Pte.RW);
      fl &= ~Pte.RW;
    }
    if (src.flags & VM.SHARED) fl &= ~Pte.DIRTY;
    // The child did not pin through its copy: no PINNED (the pte-bit design).
    fl &= ~(Pte.ACCESSED | Pte.PINNED);
    if (!(dst.flags & VM.UFFD_WP)) fl &= ~Pte.UFFD_WP;
    setEntry(host, dstPt, j, pfn, fl);
  }
}

/** Give the child its own copy of a possibly pinned page; the parent's PTE is unchanged. */
// mirrors mm/memory.c:copy_present_page
function copyPresentPage(host: Host, dst: Vma, dstPt: PageTable, j: number, addr: number, f: number, page: number, uffdWp: boolean): void {
  const nf = host.folioAlloc(0, GFP_HIGHUSER_MOVABLE);
  if (nf === 0) throw new ForkOom();
  host.content.copyPage(nf, 1, 0, f, page);
  host.ev[Ev.COPY_BYTES] += PAGE_SIZE;
  host.ev[Ev.FORK_COPY]++;
  host.ft.flags[nf]! |= PG.UPTODATE;
  folioAddNewAnonRmap(host, nf, dst, addr, RMAP_EXCLUSIVE);
  folioAddLru(host, nf);
  addMmCounter(dst.mm, MmCounter.ANONPAGES, 1);
  let fl = maybeMkwrite(dst.pageProt | MKDIRTY, dst);
  // The child's copy keeps the parent's uffd-wp protection.
  if (uffdWp) fl = (fl | Pte.UFFD_WP) & ~Pte.RW;
  setEntry(host, dstPt, j, host.ft.pfn[nf]!, fl);
}

