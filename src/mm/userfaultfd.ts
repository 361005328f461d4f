/**
 * What userfaultfd's ioctls do to the address space (mirrors mm/userfaultfd.c):
 * registering and unregistering VMAs, filling missing pages (UFFDIO_COPY,
 * _ZEROPAGE, _CONTINUE, _POISON: mfill_atomic), write-protecting ranges
 * (UFFDIO_WRITEPROTECT) and moving anonymous pages (UFFDIO_MOVE).
 *
 * Results follow Linux's ssize_t convention: bytes done (> 0), or a negative
 * errno when nothing was done. The argument checks and the errnos of the
 * ioctls themselves are in src/fs/userfaultfd.ts.
 */
import { errno } from '../uapi/errno.js';
import * as U from '../uapi/userfaultfd.js';
import { PG, folioTestLarge, pageAnonExclusive } from './folio.js';
import type { Host } from './host.js';
import { addMmCounter, isHugeZeroPmd, mmCounterFile, pgtableTransHugeDeposit, splitFolio, splitHugePmd } from './huge_memory.js';
import { hstateVma, hugetlbMfillAtomicPte } from './hugetlb.js';
import { hgmMfillPiece, hugetlbHgmEnabled } from './hugetlb_hgm.js';
import { folioPageIdx, vmNormalPage } from './memory.js';
import { MmCounter, type MmStruct, VM, type Vma, isCowMapping, linearPageIndex, vmaIsAnonymous, vmaIsShmem } from './mm_types.js';
import { MmuNotifyEvent, invalidateEnd, invalidateStart } from './mmu_notifier.js';
import { UffdCp, changeProtection } from './mprotect.js';
import { GFP_HIGHUSER_MOVABLE } from './page_alloc.js';
import { HPAGE_PMD_NR, Level, PAGE_SIZE, PMD_SIZE, alignDown, tableIndex } from './page.js';
import { MARKER_POISONED, MKDIRTY, type PageTable, Pte, allocChild, clearEntry, isPteMarker, pteNoneMostly, setEntry, tableAlloc, tableLookup } from './pgtable.js';
import { NO_SITE, folioMaybeDmaPinnedP } from './pin_policy.js';
import { RMAP_EXCLUSIVE, anonVmaPrepare, folioAddFileRmap, folioAddLru, folioAddNewAnonRmap, folioMoveAnonRmap } from './rmap.js';
import { flushTlbRange } from './tlb.js';
import { copyFromUser } from './uaccess.js';
import { type UserfaultfdCtx, VM_UFFD_FLAGS, userfaultfdResetCtx, userfaultfdWp, vmaCanUserfault } from './userfaultfd_k.js';
import { vmaLookup, vmaModify, vmasIn, vmaWantsWritenotify } from './vma.js';

const neg = (e: keyof typeof errno): number => -errno[e];

// ---------------------------------------------------------------------------
// Registration.

/**
 * Register [start, end) (already checked against every VMA in it) with ctx
 * in the modes vmFlags: each VMA piece is split or merged as mprotect would,
 * and takes the context and the VM_UFFD_* flags. A piece already registered
 * with ctx in (at least) these modes is left alone. Returns an errno name
 * when a split fails (max_map_count: ENOMEM).
 */
// mirrors mm/userfaultfd.c:userfaultfd_register_range
export function userfaultfdRegisterRange(host: Host, ctx: UserfaultfdCtx, vmFlags: number, start: number, end: number): 'ENOMEM' | null {
  for (const vma of vmasIn(ctx.mm, start, end)) {
    if (vma.uffdCtx === ctx && (vma.flags & vmFlags) === vmFlags) {
      start = vma.end;
      continue;
    }
    const s = Math.max(start, vma.start);
    const e = Math.min(end, vma.end);
    const r = vmaModify(host, vma, s, e, (vma.flags & ~VM_UFFD_FLAGS) | vmFlags, vma.anonName, ctx);
    if (typeof r === 'string') return 'ENOMEM';
    start = r.end;
  }
  return null;
}

/**
 * Unregister [start, end) of vma: clear userfaultfd write protection there,
 * then drop the context and the modes (merging with neighbours if possible).
 * Returns the VMA now covering the range, or ENOMEM when a split fails.
 */
// mirrors mm/userfaultfd.c:userfaultfd_clear_vma
export function userfaultfdClearVma(host: Host, vma: Vma, start: number, end: number): Vma | 'ENOMEM' {
  if (userfaultfdWp(vma)) uffdWpRange(host, vma, start, end - start, false);
  const r = vmaModify(host, vma, start, end, vma.flags & ~VM_UFFD_FLAGS, vma.anonName, null);
  if (typeof r === 'string') return 'ENOMEM';
  userfaultfdResetCtx(r);
  return r;
}

/** The file is going: every VMA of the context's mm registered with it is unregistered. */
// mirrors mm/userfaultfd.c:userfaultfd_release_all
export function userfaultfdReleaseAll(host: Host, ctx: UserfaultfdCtx): void {
  if (ctx.mm.users === 0) return;
  for (const vma of [...ctx.mm.vmas]) {
    if (vma.uffdCtx !== ctx || !ctx.mm.vmas.includes(vma)) continue;
    userfaultfdClearVma(host, vma, vma.start, vma.end);
  }
}

/** May a VMA of these modes register (checks used by UFFDIO_REGISTER and UNREGISTER)? */
export { vmaCanUserfault };

// ---------------------------------------------------------------------------
// Filling missing pages: UFFDIO_COPY, _ZEROPAGE, _CONTINUE, _POISON.

/** The mutually exclusive operations of mfill_atomic (enum mfill_atomic_mode). */
export const enum MfillMode {
  COPY,
  ZEROPAGE,
  CONTINUE,
  POISON,
}

/** Is addr beyond the end of vma's file (a hole past i_size cannot be filled)? */
// mirrors mm/userfaultfd.c:mfill_file_over_size
function mfillFileOverSize(vma: Vma, addr: number): boolean {
  if (vma.file === null) return false;
  return linearPageIndex(vma, addr) >= vma.file.inode.sizePages;
}

/**
 * Map page `page` of folio f at addr: dirty, writable if the VMA is and the
 * page is not a page-cache page in a private mapping, uffd-wp if asked. The
 * folio reference the caller holds becomes the mapping's. EFAULT beyond EOF,
 * EEXIST unless the PTE is none or a marker. A new page-cache page joins the
 * LRU; an anonymous page gets its rmap.
 */
// mirrors mm/userfaultfd.c:mfill_atomic_install_pte
export function mfillAtomicInstallPte(host: Host, pt: PageTable, vma: Vma, addr: number, f: number, page: number, newlyAllocated: boolean, wp: boolean): number {
  // folio_mapping: a page-cache page (a new page for a private mapping has no mapping yet).
  const owner = host.ft.owner[f];
  const inCache = owner !== null && owner !== undefined && owner.kind === 'file';
  let fl = vma.pageProt | MKDIRTY;
  let writable = (vma.flags & VM.WRITE) !== 0;
  if (inCache && !(vma.flags & VM.SHARED)) writable = false;
  if (writable) fl |= Pte.RW;
  if (wp) fl = (fl | Pte.UFFD_WP) & ~Pte.RW;
  if (mfillFileOverSize(vma, addr)) return neg('EFAULT');
  const j = tableIndex(addr, Level.PTE);
  // A marker may be overwritten (a none PTE write-protected, or poisoned, before the fill).
  if (!pteNoneMostly(pt.fl[j]!)) return neg('EEXIST');
  if (inCache) {
    if (newlyAllocated) folioAddLru(host, f);
    folioAddFileRmap(host, f, page, 1, vma, Level.PTE);
  } else {
    folioAddNewAnonRmap(host, f, vma, addr, RMAP_EXCLUSIVE);
    folioAddLru(host, f);
  }
  addMmCounter(vma.mm, inCache ? mmCounterFile(host, f) : MmCounter.ANONPAGES, 1);
  setEntry(host, pt, j, host.ft.pfn[f]! + page, fl);
  return 0;
}

/** Copy a page of the caller's memory at src into folio f: 0, or -EFAULT if it is not all readable. */
function copyPageFromUser(host: Host, srcMm: MmStruct | null, f: number, src: number): number {
  if (srcMm === null) return neg('EFAULT');
  const buf = new Uint8Array(PAGE_SIZE);
  // Linux tries with page faults disabled under mmap_lock and, failing that
  // (-ENOENT), copies again outside it; a copy that still fails is EFAULT.
  if (copyFromUser(host, srcMm, buf, src, PAGE_SIZE) !== 0) return neg('EFAULT');
  host.content.write(f, 1, 0, buf, 0, PAGE_SIZE);
  return 0;
}

/** UFFDIO_COPY into a private mapping: a new anonymous page holding the caller's data. */
// mirrors mm/userfaultfd.c:mfill_atomic_pte_copy
function mfillAtomicPteCopy(host: Host, pt: PageTable, vma: Vma, dst: number, src: number, wp: boolean, srcMm: MmStruct | null): number {
  const f = host.folioAlloc(0, GFP_HIGHUSER_MOVABLE);
  if (f === 0) return neg('ENOMEM');
  const e = copyPageFromUser(host, srcMm, f, src);
  if (e !== 0) {
    host.folioPut(f);
    return e;
  }
  host.ft.flags[f]! |= PG.UPTODATE;
  const r = mfillAtomicInstallPte(host, pt, vma, dst, f, 0, true, wp);
  if (r !== 0) host.folioPut(f);
  return r;
}

/** UFFDIO_ZEROPAGE into a private mapping: the shared zero page, read-only. */
// mirrors mm/userfaultfd.c:mfill_atomic_pte_zeropage
function mfillAtomicPteZeropage(host: Host, pt: PageTable, vma: Vma, dst: number): number {
  if (mfillFileOverSize(vma, dst)) return neg('EFAULT');
  const j = tableIndex(dst, Level.PTE);
  if (pt.fl[j] !== 0) return neg('EEXIST');
  setEntry(host, pt, j, host.ft.pfn[host.zeroPage]!, (vma.pageProt & ~Pte.RW) | Pte.SPECIAL);
  return 0;
}

/** UFFDIO_CONTINUE: map the page the file already has (shmem). */
// mirrors mm/userfaultfd.c:mfill_atomic_pte_continue
function mfillAtomicPteContinue(host: Host, pt: PageTable, vma: Vma, dst: number, wp: boolean): number {
  const ops = vma.ops?.uffd;
  if (ops === undefined) return neg('EFAULT');
  const pgoff = linearPageIndex(vma, dst);
  const f = ops.getFolioNoalloc(vma, pgoff);
  // The caller expects EFAULT when there is no page to continue with.
  if (f === neg('ENOENT') || f === 0) return neg('EFAULT');
  if (f < 0) return f;
  const page = pgoff - host.ft.index[f]!;
  if (host.ft.flags[f]! & PG.HWPOISON) {
    host.folioPut(f);
    return neg('EIO');
  }
  const r = mfillAtomicInstallPte(host, pt, vma, dst, f, page, false, wp);
  if (r !== 0) host.folioPut(f);
  return r;
}

/** UFFDIO_POISON: a poisoned marker; an access gets SIGBUS. */
// mirrors mm/userfaultfd.c:mfill_atomic_pte_poison
function mfillAtomicPtePoison(host: Host, pt: PageTable, vma: Vma, dst: number): number {
  if (mfillFileOverSize(vma, dst)) return neg('EFAULT');
  const j = tableIndex(dst, Level.PTE);
  // Refuse to overwrite anything, a marker included.
  if (pt.fl[j] !== 0) return neg('EEXIST');
  setEntry(host, pt, j, 0, MARKER_POISONED);
  return 0;
}

// mirrors mm/userfaultfd.c:mfill_atomic_pte
function mfillAtomicPte(host: Host, pt: PageTable, vma: Vma, dst: number, src: number, mode: MfillMode, wp: boolean, srcMm: MmStruct | null): number {
  if (mode === MfillMode.CONTINUE) return mfillAtomicPteContinue(host, pt, vma, dst, wp);
  if (mode === MfillMode.POISON) return mfillAtomicPtePoison(host, pt, vma, dst);
  // A hole in a private file mapping is filled with anonymous memory, as the
  // fault path's COW would; only the page table is checked.
  if (!(vma.flags & VM.SHARED)) {
    return mode === MfillMode.COPY ? mfillAtomicPteCopy(host, pt, vma, dst, src, wp, srcMm) : mfillAtomicPteZeropage(host, pt, vma, dst);
  }
  const ops = vma.ops?.uffd;
  if (ops === undefined) return neg('EINVAL');
  const fill = mode === MfillMode.COPY ? (f: number) => copyPageFromUser(host, srcMm, f, src) : null;
  return ops.mfillAtomicPte(vma, linearPageIndex(vma, dst), fill, (f) => mfillAtomicInstallPte(host, pt, vma, dst, f, 0, true, wp));
}

/**
 * Fill [dst, dst + len) of ctx's mm (UFFDIO_COPY from the caller's memory at
 * src, _ZEROPAGE, _CONTINUE, _POISON). The range must lie in one registered
 * VMA (ENOENT), no non-cooperative event may be in flight (EAGAIN), MODE_WP
 * needs a WP-registered VMA (EINVAL), and only anonymous and shmem VMAs can
 * be filled (CONTINUE: shmem only). Page by page: EEXIST on a mapped page.
 * Returns the bytes filled, or a negative errno if none were.
 */
// mirrors mm/userfaultfd.c:mfill_atomic
export function mfillAtomic(ctx: UserfaultfdCtx, dstStart: number, srcStart: number, len: number, mode: MfillMode, wp: boolean, srcMm: MmStruct | null): number {
  const host = ctx.host;
  const mm = ctx.mm;
  // uffd_mfill_lock: find_vma_and_prepare_anon, validate_dst_vma.
  const vma = vmaLookup(mm, dstStart);
  if (vma === null) return neg('ENOENT');
  if (isCowMapping(vma.flags)) anonVmaPrepare(host, vma);
  if (dstStart + len > vma.end || vma.uffdCtx === null) return neg('ENOENT');
  if (ctx.mmapChanging > 0) return neg('EAGAIN');
  if (vmaIsAnonymous(vma) && vma.flags & VM.SHARED) return neg('EINVAL');
  if (wp && !(vma.flags & VM.UFFD_WP)) return neg('EINVAL');
  if (vma.flags & VM.HUGETLB) return mfillAtomicHugetlb(host, vma, dstStart, srcStart, len, mode, wp, srcMm);
  if (!vmaIsAnonymous(vma) && !vmaIsShmem(vma)) return neg('EINVAL');
  if (!vmaIsShmem(vma) && mode === MfillMode.CONTINUE) return neg('EINVAL');
  let copied = 0;
  let err = 0;
  for (let off = 0; off < len; off += PAGE_SIZE) {
    const dst = dstStart + off;
    const pmdT = tableAlloc(host, mm, mm.pgd, dst, Level.PMD);
    if (pmdT === null) {
      err = neg('ENOMEM');
      break;
    }
    const i = tableIndex(dst, Level.PMD);
    if (pmdT.fl[i] === 0 && allocChild(host, mm, pmdT, i) === null) {
      err = neg('ENOMEM');
      break;
    }
    // A THP is in the way: be strict.
    if (pmdT.fl[i]! & Pte.PSE) {
      err = neg('EEXIST');
      break;
    }
    err = mfillAtomicPte(host, pmdT.kids![i]!, vma, dst, srcStart + off, mode, wp, srcMm);
    if (err !== 0) break;
    copied += PAGE_SIZE;
  }
  return copied > 0 ? copied : err;
}

/**
 * HugeTLB VMAs: whole huge pages only (EINVAL otherwise), and no ZEROPAGE (no
 * zero page of every huge size exists). COPY reads each huge page of the
 * caller's memory first (EFAULT if it cannot), as Linux's retry outside
 * mmap_lock ends up doing.
 */
// mirrors mm/userfaultfd.c:mfill_atomic_hugetlb
function mfillAtomicHugetlb(host: Host, vma: Vma, dstStart: number, srcStart: number, len: number, mode: MfillMode, wp: boolean, srcMm: MmStruct | null): number {
  if (mode === MfillMode.ZEROPAGE) return neg('EINVAL');
  const h = vma.file?.fOp.hugePageSize ?? PMD_SIZE;
  // HGM (never merged): CONTINUE and POISON take 4 KiB pieces; COPY stays whole pages.
  if (hugetlbHgmEnabled(vma) && mode !== MfillMode.COPY) return mfillAtomicHugetlbHgm(host, vma, dstStart, len, mode, wp);
  if (dstStart % h !== 0 || len % h !== 0) return neg('EINVAL');
  let copied = 0;
  let err = 0;
  for (let off = 0; off < len; off += h) {
    let data: Uint8Array | null = null;
    if (mode === MfillMode.COPY) {
      data = new Uint8Array(h);
      if (srcMm === null || copyFromUser(host, srcMm, data, srcStart + off, h) !== 0) {
        err = neg('EFAULT');
        break;
      }
    }
    err = hugetlbMfillAtomicPte(host, vma, dstStart + off, data, mode === MfillMode.CONTINUE, mode === MfillMode.POISON, wp);
    if (err !== 0) break;
    copied += h;
  }
  return copied > 0 ? copied : err;
}

/**
 * CONTINUE / POISON in an HGM VMA: PAGE_SIZE-aligned ranges, each part
 * mapped by the largest entry that fits (a whole huge page as usual, else a
 * piece: src/mm/hugetlb_hgm.ts).
 */
// mirrors (HGM v2) mm/userfaultfd.c:mfill_atomic_hugetlb (with hugetlb_alloc_largest_pte)
function mfillAtomicHugetlbHgm(host: Host, vma: Vma, dstStart: number, len: number, mode: MfillMode, wp: boolean): number {
  const hs = hstateVma(host, vma);
  if (dstStart % PAGE_SIZE !== 0 || len % PAGE_SIZE !== 0) return neg('EINVAL');
  let copied = 0;
  let err = 0;
  while (copied < len) {
    const dst = dstStart + copied;
    const rest = len - copied;
    if (dst % hs.size === 0 && rest >= hs.size) {
      err = hugetlbMfillAtomicPte(host, vma, dst, null, mode === MfillMode.CONTINUE, mode === MfillMode.POISON, wp);
      if (err !== 0) break;
      copied += hs.size;
      continue;
    }
    const r = hgmMfillPiece(host, vma, hs, dst, rest, mode === MfillMode.POISON, wp);
    if (r < 0) {
      err = r;
      break;
    }
    copied += r;
  }
  return copied > 0 ? copied : err;
}

// ---------------------------------------------------------------------------
// Write protection.

/**
 * Set (enable) or clear userfaultfd write protection on [start, start + len)
 * of vma. Clearing makes pages writable at once where a write fault would
 * (exclusive anonymous pages, dirty shared pages). Returns the entries changed.
 */
// mirrors mm/userfaultfd.c:uffd_wp_range
export function uffdWpRange(host: Host, vma: Vma, start: number, len: number, enable: boolean): number {
  // vma_wants_manual_pte_write_upgrade
  const tryWritable = !enable && (vma.flags & VM.SHARED ? vmaWantsWritenotify(vma) : (vma.flags & VM.WRITE) !== 0);
  return changeProtection(host, vma, start, start + len, tryWritable, enable ? UffdCp.WP : UffdCp.WP_RESOLVE);
}

/**
 * UFFDIO_WRITEPROTECT: every VMA in [start, start + len) must be registered
 * WP (ENOENT); hugetlb ranges must be huge-page aligned (EINVAL); EAGAIN while
 * an event is in flight. Returns 0 or a negative errno.
 */
// mirrors mm/userfaultfd.c:mwriteprotect_range
export function mwriteprotectRange(ctx: UserfaultfdCtx, start: number, len: number, enable: boolean): number {
  const end = start + len;
  if (ctx.mmapChanging > 0) return neg('EAGAIN');
  let err = neg('ENOENT');
  for (const vma of vmasIn(ctx.mm, start, end)) {
    if (!userfaultfdWp(vma)) return neg('ENOENT');
    if (vma.flags & VM.HUGETLB) {
      const mask = (vma.file?.fOp.hugePageSize ?? PMD_SIZE) - 1;
      if (start % (mask + 1) !== 0 || len % (mask + 1) !== 0) return neg('EINVAL');
    }
    uffdWpRange(ctx.host, vma, Math.max(vma.start, start), Math.min(vma.end, end) - Math.max(vma.start, start), enable);
    err = 0;
  }
  return err;
}

// ---------------------------------------------------------------------------
// UFFDIO_MOVE.

/** Can the VMA's pages be moved (no PFN maps, I/O, HugeTLB or mixed maps)? */
// mirrors mm/userfaultfd.c:vma_move_compatible
function vmaMoveCompatible(vma: Vma): boolean {
  return !(vma.flags & (VM.PFNMAP | VM.IO | VM.HUGETLB | VM.MIXEDMAP));
}

/** Both VMAs anonymous, with the same access, protection and mlock state, writable, dst registered with ctx. */
// mirrors mm/userfaultfd.c:validate_move_areas
function validateMoveAreas(ctx: UserfaultfdCtx, src: Vma, dst: Vma): number {
  if ((src.flags & VM.ACCESS_FLAGS) !== (dst.flags & VM.ACCESS_FLAGS) || src.pageProt !== dst.pageProt) return neg('EINVAL');
  if ((src.flags & VM.LOCKED) !== (dst.flags & VM.LOCKED)) return neg('EINVAL');
  if (!(src.flags & VM.WRITE)) return neg('EINVAL');
  if (!vmaMoveCompatible(src) || !vmaMoveCompatible(dst)) return neg('EINVAL');
  if (dst.uffdCtx !== ctx) return neg('EINVAL');
  if (!vmaIsAnonymous(src) || !vmaIsAnonymous(dst)) return neg('EINVAL');
  return 0;
}

/** The destination or source PTE table of addr, allocating it (pte_alloc after mm_alloc_pmd). */
function movePteTable(host: Host, mm: MmStruct, addr: number): PageTable | null {
  const pmdT = tableAlloc(host, mm, mm.pgd, addr, Level.PMD);
  if (pmdT === null) return null;
  const i = tableIndex(addr, Level.PMD);
  if (pmdT.fl[i] === 0) return allocChild(host, mm, pmdT, i);
  if (pmdT.fl[i]! & Pte.PSE) return null;
  return pmdT.kids![i]!;
}

/**
 * Move the page mapped at src to the none PTE at dst: EEXIST if dst is
 * mapped, ENOENT for a source hole (0 with ALLOW_SRC_HOLES), EBUSY for a page
 * that is not exclusive to this mapping or may be pinned. A large folio is
 * split first (EBUSY if it cannot be). The moved PTE is writable, dirty if the
 * old one was, and soft-dirty.
 */
// mirrors mm/userfaultfd.c:move_pages_pte (with move_present_pte and move_zeropage_pte)
function movePagesPte(host: Host, mm: MmStruct, dstVma: Vma, dst: number, src: number, mode: number): number {
  const dpt = movePteTable(host, mm, dst);
  const spt = movePteTable(host, mm, src);
  if (dpt === null || spt === null) return neg('EAGAIN');
  const dj = tableIndex(dst, Level.PTE);
  const sj = tableIndex(src, Level.PTE);
  if (dpt.fl[dj] !== 0) return neg('EEXIST');
  const sfl = spt.fl[sj]!;
  if (sfl === 0) return mode & U.UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES ? 0 : neg('ENOENT');
  if (!(sfl & (Pte.PRESENT | Pte.PROTNONE))) {
    // Markers are not swap entries a move could carry.
    return neg('EFAULT');
  }
  const spfn = spt.pfn[sj]!;
  const range = invalidateStart(host, mm, MmuNotifyEvent.CLEAR, src, src + PAGE_SIZE);
  try {
    if (sfl & Pte.SPECIAL && spfn === host.ft.pfn[host.zeroPage]) {
      // move_zeropage_pte
      clearEntry(host, spt, sj);
      flushTlbRange(host, mm);
      setEntry(host, dpt, dj, spfn, (dstVma.pageProt & ~Pte.RW) | Pte.SPECIAL);
      return 0;
    }
    const f = vmNormalPage(host, spfn, sfl);
    if (f === 0 || !pageAnonExclusive(host.ft, f, folioPageIdx(host, f, spfn))) return neg('EBUSY');
    if (folioTestLarge(host.ft, f)) {
      // split_folio with a reference held; it stays with the folio of the first page.
      const head = host.ft.pfn[f]!;
      host.folioGet(f);
      const e = splitFolio(host, f, 0);
      host.folioPut(host.pfnFolio(head));
      // Do not retry: extra references may be held forever.
      if (e !== 0) return e === neg('EAGAIN') ? neg('EBUSY') : e;
    }
    const g = host.pfnFolio(spfn);
    // move_present_pte
    if (folioTestLarge(host.ft, g) || folioMaybeDmaPinnedP(host, g, 0, 1, NO_SITE) || !pageAnonExclusive(host.ft, g, 0)) return neg('EBUSY');
    clearEntry(host, spt, sj);
    flushTlbRange(host, mm);
    folioMoveAnonRmap(host, g, dstVma);
    host.ft.index[g] = linearPageIndex(dstVma, dst);
    let fl = dstVma.pageProt | Pte.SOFT_DIRTY | Pte.RW;
    if (sfl & Pte.DIRTY) fl |= Pte.DIRTY;
    setEntry(host, dpt, dj, spfn, fl);
    return 0;
  } finally {
    invalidateEnd(range);
  }
}

/**
 * Move a whole PMD-mapped THP (or huge zero page) from src to the none PMD at
 * dst, with its deposited table. EBUSY if the THP is not exclusive or may be
 * pinned; ENOENT if src is not huge any more.
 */
// mirrors mm/huge_memory.c:move_pages_huge_pmd
function movePagesHugePmd(host: Host, mm: MmStruct, dstPmd: PageTable, srcPmd: PageTable, dstVma: Vma, dst: number, src: number): number {
  const si = tableIndex(src, Level.PMD);
  const di = tableIndex(dst, Level.PMD);
  const sfl = srcPmd.fl[si]!;
  if (!(sfl & Pte.PSE)) return neg('ENOENT');
  const pfn = srcPmd.pfn[si]!;
  const zero = isHugeZeroPmd(host, srcPmd, si);
  const f = zero ? 0 : host.pfnFolio(pfn);
  if (f !== 0 && !pageAnonExclusive(host.ft, f, 0)) return neg('EBUSY');
  const range = invalidateStart(host, mm, MmuNotifyEvent.CLEAR, src, src + PMD_SIZE);
  try {
    if (f !== 0 && (folioMaybeDmaPinnedP(host, f, 0, HPAGE_PMD_NR, NO_SITE) || !pageAnonExclusive(host.ft, f, 0))) return neg('EBUSY');
    clearEntry(host, srcPmd, si);
    flushTlbRange(host, mm);
    let fl: number;
    if (f !== 0) {
      folioMoveAnonRmap(host, f, dstVma);
      host.ft.index[f] = linearPageIndex(dstVma, dst);
      // Treated as dirty after the move, as mremap does.
      fl = dstVma.pageProt | Pte.PSE | MKDIRTY | Pte.RW;
    } else {
      fl = (dstVma.pageProt & ~Pte.RW) | Pte.PSE | Pte.SPECIAL;
    }
    setEntry(host, dstPmd, di, pfn, fl);
    // pgtable_trans_huge_withdraw from src, deposit at dst.
    const pt = srcPmd.deposit![si]!;
    srcPmd.deposit![si] = 0;
    mm.pgtablesBytes -= PAGE_SIZE;
    pgtableTransHugeDeposit(dstPmd, di, pt, mm);
    return 0;
  } finally {
    invalidateEnd(range);
  }
}

/** Must the source PMD be split rather than moved whole? */
// mirrors mm/userfaultfd.c:move_splits_huge_pmd
function moveSplitsHugePmd(dst: number, src: number, srcEnd: number): boolean {
  return src % PMD_SIZE !== 0 || dst % PMD_SIZE !== 0 || srcEnd - src < PMD_SIZE;
}

/**
 * UFFDIO_MOVE: move the anonymous pages of [src, src + len) to [dst, dst +
 * len) in ctx's mm, zero-copy. Both ranges in one private anonymous VMA each
 * (EINVAL otherwise, and for mismatched protections), dst registered with
 * ctx; ENOENT for a source hole (unless ALLOW_SRC_HOLES), EEXIST for a mapped
 * destination, EBUSY for a shared or pinned page, EAGAIN while an event is
 * in flight. Returns the bytes moved, or a negative errno if none were.
 */
// mirrors mm/userfaultfd.c:move_pages
export function movePages(ctx: UserfaultfdCtx, dstStart: number, srcStart: number, len: number, mode: number): number {
  const host = ctx.host;
  const mm = ctx.mm;
  // uffd_move_lock: find_vmas_mm_locked.
  const dstVma = vmaLookup(mm, dstStart);
  if (dstVma === null) return neg('ENOENT');
  if (isCowMapping(dstVma.flags)) anonVmaPrepare(host, dstVma);
  const srcVma = srcStart >= dstVma.start && srcStart < dstVma.end ? dstVma : vmaLookup(mm, srcStart);
  if (srcVma === null) return neg('ENOENT');
  if (ctx.mmapChanging > 0) return neg('EAGAIN');
  if (srcVma.flags & VM.SHARED || srcStart + len > srcVma.end) return neg('EINVAL');
  if (dstVma.flags & VM.SHARED || dstStart + len > dstVma.end) return neg('EINVAL');
  const v = validateMoveAreas(ctx, srcVma, dstVma);
  if (v !== 0) return v;
  let moved = 0;
  let err = 0;
  let src = srcStart;
  let dst = dstStart;
  let again = 0;
  while (src < srcStart + len) {
    let srcPmd = tableLookup(mm.pgd, src, Level.PMD);
    if (srcPmd === null) {
      if (!(mode & U.UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES)) {
        err = neg('ENOENT');
        break;
      }
      srcPmd = tableAlloc(host, mm, mm.pgd, src, Level.PMD);
      if (srcPmd === null) {
        err = neg('ENOMEM');
        break;
      }
    }
    const dstPmd = tableAlloc(host, mm, mm.pgd, dst, Level.PMD);
    if (dstPmd === null) {
      err = neg('ENOMEM');
      break;
    }
    const di = tableIndex(dst, Level.PMD);
    const si = tableIndex(src, Level.PMD);
    if (dstPmd.fl[di]! & Pte.PSE) {
      err = neg('EEXIST');
      break;
    }
    let step = PAGE_SIZE;
    if (srcPmd.fl[si]! & Pte.PSE) {
      if (moveSplitsHugePmd(dst, src, srcStart + len) || dstPmd.fl[di] !== 0) {
        if (!isHugeZeroPmd(host, srcPmd, si) && !pageAnonExclusive(host.ft, host.pfnFolio(srcPmd.pfn[si]!), 0)) {
          err = neg('EBUSY');
          break;
        }
        splitHugePmd(host, srcVma, srcPmd, si, alignDown(src, PMD_SIZE));
        continue;
      }
      err = movePagesHugePmd(host, mm, dstPmd, srcPmd, dstVma, dst, src);
      step = PMD_SIZE;
    } else {
      if (srcPmd.fl[si] === 0 && !(mode & U.UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES)) {
        err = neg('ENOENT');
        break;
      }
      err = movePagesPte(host, mm, dstVma, dst, src, mode);
    }
    if (err !== 0) {
      // -EAGAIN retries (a table that changed under us); never more than a few times here.
      if (err === neg('EAGAIN') && ++again < 4) continue;
      break;
    }
    again = 0;
    dst += step;
    src += step;
    moved += step;
  }
  return moved > 0 ? moved : err;
}

/** The range [start, end) of vma can have no uffd-wp state: clear the bits, drop the markers (mremap without UFFD_EVENT_REMAP). */
// mirrors mm/mremap.c:move_ptes (need_clear_uffd_wp)
export function uffdClearWpMoved(host: Host, vma: Vma, start: number, end: number): void {
  for (let a = start; a < end; ) {
    const pmdT = tableLookup(vma.mm.pgd, a, Level.PMD);
    const next = alignDown(a, PMD_SIZE) + PMD_SIZE;
    if (pmdT !== null) {
      const i = tableIndex(a, Level.PMD);
      const fl = pmdT.fl[i]!;
      if (fl & Pte.PSE) {
        // A huge leaf, or a HugeTLB marker (cleared if it was only uffd-wp).
        if (isPteMarker(fl) && !(fl & Pte.MARKER_POISONED)) clearEntry(host, pmdT, i);
        else if (fl & Pte.UFFD_WP) setEntry(host, pmdT, i, pmdT.pfn[i]!, fl & ~Pte.UFFD_WP);
      } else if (fl !== 0) {
        const pt = pmdT.kids![i]!;
        for (let b = a; b < Math.min(next, end); b += PAGE_SIZE) {
          const j = tableIndex(b, Level.PTE);
          const pfl = pt.fl[j]!;
          if (!(pfl & Pte.UFFD_WP)) continue;
          if (isPteMarker(pfl)) {
            // A marker that was only uffd-wp goes (mremap may have made it soft-dirty).
            if ((pfl & ~Pte.SOFT_DIRTY) === (Pte.MARKER | Pte.UFFD_WP)) clearEntry(host, pt, j);
            else setEntry(host, pt, j, 0, pfl & ~Pte.UFFD_WP);
          } else setEntry(host, pt, j, pt.pfn[j]!, pfl & ~Pte.UFFD_WP);
        }
      }
    }
    a = Math.min(next, end);
  }
}
