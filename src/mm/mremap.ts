/**
 * mremap(2) (mirrors mm/mremap.c, ~v6.16: one VMA per call; the 6.17 batched
 * move across several VMAs is not modelled, so a source range crossing a VMA
 * end is EFAULT as before).
 *
 * Moving a mapping moves its page-table entries: folios keep their refcounts,
 * mapcounts and exclusivity, and anonymous folios stay reachable through the
 * same anon_vma (the new VMA joins its chain and keeps the page offsets).
 */
import { SyscallError } from '../uapi/errors.js';
import type { ErrnoName } from '../uapi/errno.js';
import { MAP_FIXED, MAP_SHARED, MREMAP_DONTUNMAP, MREMAP_FIXED, MREMAP_MAYMOVE } from '../uapi/mman.js';
import type { Host } from './host.js';
import { splitHugePmd } from './huge_memory.js';
import { clearVmaResvHugePages, moveHugetlbPageTables } from './hugetlb.js';
import { doVmiMunmap, getUnmappedArea, securityVmEnoughMemory } from './mmap.js';
import { MmuNotifyEvent, invalidateEnd, invalidateStart } from './mmu_notifier.js';
import { type MmStruct, VM, Vma, linearPageIndex, vmaIsAnonymous } from './mm_types.js';
import { Level, PAGE_SIZE, PMD_SIZE, TASK_SIZE, alignDown, tableIndex } from './page.js';
import { type PageTable, Pte, linkChild, setEntry, tableAlloc, tableLookup } from './pgtable.js';
import { anonVmaClone } from './rmap.js';
import { vmaInsert, vmaLinkFile, vmaLookup, vmaMergeNeighbours, vmasIn } from './vma.js';
import { flushTlbRange } from './tlb.js';
import { uffdClearWpMoved } from './userfaultfd.js';
import { mremapUserfaultfdComplete, mremapUserfaultfdPrep, vmaHasUffdWithoutEventRemap } from './userfaultfd_k.js';

const PAGE = BigInt(PAGE_SIZE);
const U64 = (1n << 64n) - 1n;
const BTASK = BigInt(TASK_SIZE);

function fail(code: ErrnoName): never {
  throw new SyscallError(code, 'mremap');
}

/** mremap(2) after argument conversion; returns the new address. */
// mirrors mm/mremap.c:do_mremap (check_mremap_params, check_prep_vma, mremap_to, move_vma)
export function doMremap(host: Host, mm: MmStruct, addrB: bigint, oldLenB: bigint, newLenB: bigint, flagsB: bigint, newAddrB: bigint): number {
  const flags = Number(flagsB & 0xffffffffn);
  // check_mremap_params
  if (flagsB & ~BigInt(MREMAP_FIXED | MREMAP_MAYMOVE | MREMAP_DONTUNMAP)) fail('EINVAL');
  if (addrB % PAGE !== 0n) fail('EINVAL');
  const oldLenA = (oldLenB + PAGE - 1n) & ~(PAGE - 1n) & U64;
  const newLenA = (newLenB + PAGE - 1n) & ~(PAGE - 1n) & U64;
  if (newLenA === 0n) fail('EINVAL');
  if (newLenA > BTASK || newAddrB > BTASK - newLenA) fail('EINVAL');
  const impliesNewAddr = (flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) !== 0;
  if (impliesNewAddr) {
    if (newAddrB % PAGE !== 0n) fail('EINVAL');
    if (!(flags & MREMAP_MAYMOVE)) fail('EINVAL');
    if (flags & MREMAP_DONTUNMAP && oldLenA !== newLenA) fail('EINVAL');
    // The source and destination ranges may not overlap.
    if (addrB < newAddrB + newLenA && newAddrB < addrB + oldLenA) fail('EINVAL');
    // Both VMAs may be split in three while moving.
    if (mm.vmas.length + 2 >= host.cfg.maxMapCount - 3) fail('ENOMEM');
  }
  if (addrB >= BTASK) fail('EFAULT');
  const addr = Number(addrB);
  let newLen = Number(newLenA);
  let oldLen = oldLenA > BTASK ? TASK_SIZE : Number(oldLenA);
  // UFFD_EVENT_REMAP reports the length asked for (page-aligned), whatever part of it moved.
  const remapLen = oldLen;
  let vma = vmaLookup(mm, addr);
  if (vma === null) fail('EFAULT');
  const hsize = vma.file?.fOp.hugePageSize;
  if (vma.flags & VM.HUGETLB && hsize !== undefined) {
    // The lengths round up to the huge page size; both addresses must be aligned to it.
    oldLen = Math.ceil(oldLen / hsize) * hsize;
    newLen = Math.ceil(newLen / hsize) * hsize;
    if (addr % hsize !== 0 || newAddrB % BigInt(hsize) !== 0n) fail('EINVAL');
    // No growing: the reservation cannot be split.
    if (newLen > oldLen) fail('EINVAL');
  }

  if (impliesNewAddr) {
    // mremap_to
    let newAddr = Number(newAddrB);
    if (flags & MREMAP_FIXED) {
      const r = doVmiMunmap(host, mm, newAddr, newLen);
      if (r !== null) fail(r);
    }
    if (oldLen > newLen) {
      const r = doVmiMunmap(host, mm, addr + newLen, oldLen - newLen);
      if (r !== null) fail(r);
      oldLen = newLen;
    }
    vma = vmaLookup(mm, addr);
    if (vma === null) fail('EFAULT');
    checkPrepVma(host, vma, addr, oldLen, newLen, true, flags);
    if (!(flags & MREMAP_FIXED)) {
      const a = getUnmappedArea(host, mm, vma.file, 0, newLen, vma.flags & VM.MAYSHARE ? MAP_SHARED : 0, linearPageIndex(vma, addr));
      if (typeof a === 'string') fail(a);
      newAddr = a;
    } else {
      const a = getUnmappedArea(host, mm, vma.file, newAddr, newLen, MAP_FIXED | (vma.flags & VM.MAYSHARE ? MAP_SHARED : 0), linearPageIndex(vma, addr));
      if (typeof a === 'string') fail(a);
    }
    return moveVma(host, vma, addr, oldLen, newLen, newAddr, (flags & MREMAP_DONTUNMAP) !== 0, remapLen);
  }

  // Shrinking (or same size) happens in place.
  if (oldLen >= newLen) {
    if (oldLen > newLen) {
      const r = doVmiMunmap(host, mm, addr + newLen, oldLen - newLen);
      if (r !== null) fail(r);
    }
    return addr;
  }
  checkPrepVma(host, vma, addr, oldLen, newLen, true, flags);
  // Grow in place when the VMA ends at the old end and the space after it is free.
  const end = addr + newLen;
  if (vma.end === addr + oldLen && end <= TASK_SIZE && vmasIn(mm, addr + oldLen, end).length === 0) {
    vma.end = end;
    mm.totalVm += (newLen - oldLen) / PAGE_SIZE;
    vmaMergeNeighbours(vma);
    return addr;
  }
  if (!(flags & MREMAP_MAYMOVE)) fail('ENOMEM');
  const a = getUnmappedArea(host, mm, vma.file, 0, newLen, vma.flags & VM.MAYSHARE ? MAP_SHARED : 0, linearPageIndex(vma, addr));
  if (typeof a === 'string') fail(a);
  return moveVma(host, vma, addr, oldLen, newLen, a, false, remapLen);
}

/** Checks that apply when the mapping will grow or move. */
// mirrors mm/mremap.c:check_prep_vma
function checkPrepVma(host: Host, vma: Vma, addr: number, oldLen: number, newLen: number, mapsNew: boolean, flags: number): void {
  if (!mapsNew) return;
  if (oldLen === 0 && !(vma.flags & (VM.SHARED | VM.MAYSHARE))) fail('EINVAL');
  if (flags & MREMAP_DONTUNMAP && vma.flags & (VM.DONTEXPAND | VM.PFNMAP)) fail('EINVAL');
  // We cannot remap across VMA boundaries.
  if (oldLen > vma.end - addr) fail('EFAULT');
  if (newLen <= oldLen) return;
  if (vma.flags & (VM.DONTEXPAND | VM.PFNMAP)) fail('EFAULT');
  // vrm_calc_charge: an accounted mapping is charged for the growth.
  if (vma.flags & VM.ACCOUNT && !securityVmEnoughMemory(host, (newLen - oldLen) / PAGE_SIZE)) fail('ENOMEM');
}

/** Copy the VMA to newAddr, move its page tables, and unmap the old range. */
// mirrors mm/mremap.c:move_vma (with mm/vma.c:copy_vma)
function moveVma(host: Host, vma: Vma, oldAddr: number, oldLen: number, newLen: number, newAddr: number, dontUnmap: boolean, remapLen: number): number {
  const mm = vma.mm;
  if (mm.vmas.length >= host.cfg.maxMapCount - 3) fail('ENOMEM');
  let pgoff = vma.pgoff + (oldAddr - vma.start) / PAGE_SIZE;
  // An anonymous VMA never faulted has no pages to keep aligned to.
  if (vmaIsAnonymous(vma) && vma.anonVma === null) pgoff = newAddr / PAGE_SIZE;
  const nv = new Vma(mm, newAddr, newAddr + newLen, vma.flags, pgoff, vma.file, vma.ops);
  nv.pageProt = vma.pageProt;
  nv.anonName = vma.anonName;
  nv.uffdCtx = vma.uffdCtx;
  anonVmaClone(nv, vma);
  vmaInsert(mm, nv);
  vmaLinkFile(nv);
  // copy_vma's vm_ops->open: a HugeTLB VMA shares its reservation map.
  vma.ops?.open?.(nv, vma);
  // total_vm counts both copies until the old one is unmapped: the watermark that unmap records is put back after.
  const hiwaterVm = mm.hiwaterVm;
  mm.totalVm += newLen / PAGE_SIZE;
  // Without UFFD_EVENT_REMAP the moved range loses its registration and its uffd-wp state.
  const clearUffdWp = vmaHasUffdWithoutEventRemap(vma);
  if (vma.flags & VM.HUGETLB) {
    moveHugetlbPageTables(host, vma, nv, oldAddr, newAddr, Math.min(oldLen, newLen));
    clearVmaResvHugePages(vma);
  } else movePageTables(host, vma, oldAddr, newAddr, Math.min(oldLen, newLen));
  if (clearUffdWp) uffdClearWpMoved(host, nv, newAddr, newAddr + Math.min(oldLen, newLen));
  mremapUserfaultfdComplete(host, mremapUserfaultfdPrep(nv), oldAddr, newAddr, remapLen);
  if (!dontUnmap) {
    const r = doVmiMunmap(host, mm, oldAddr, oldLen);
    if (r !== null) fail(r);
  }
  mm.hiwaterVm = hiwaterVm;
  vmaMergeNeighbours(nv);
  return newAddr;
}

/**
 * Move the entries mapping [oldAddr, oldAddr + len) of oldVma to newAddr (the
 * new VMA is already in place): whole PMD leaves (with their deposited table) and whole PTE tables
 * when both sides are 2 MiB aligned, otherwise PTE by PTE (splitting a THP PMD
 * that only partly moves). Moved PTEs are marked soft-dirty.
 */
// mirrors mm/mremap.c:move_page_tables (move_huge_pmd, move_normal_pmd, move_ptes)
function movePageTables(host: Host, oldVma: Vma, oldAddr: number, newAddr: number, len: number): void {
  const mm = oldVma.mm;
  const range = invalidateStart(host, mm, MmuNotifyEvent.UNMAP, oldAddr, oldAddr + len);
  let moved = 0;
  for (let off = 0; off < len; ) {
    const oa = oldAddr + off;
    const na = newAddr + off;
    const extent = Math.min(len - off, alignDown(oa, PMD_SIZE) + PMD_SIZE - oa, alignDown(na, PMD_SIZE) + PMD_SIZE - na);
    const opmd = tableLookup(mm.pgd, oa, Level.PMD);
    if (opmd === null) {
      off += extent;
      continue;
    }
    const i = tableIndex(oa, Level.PMD);
    const fl = opmd.fl[i]!;
    if (fl === 0) {
      off += extent;
      continue;
    }
    const whole = extent === PMD_SIZE && oa % PMD_SIZE === 0 && na % PMD_SIZE === 0;
    const npmd = tableAlloc(host, mm, mm.pgd, na, Level.PMD);
    if (npmd === null) fail('ENOMEM');
    const j = tableIndex(na, Level.PMD);
    if (whole && npmd.fl[j] === 0) {
      // move_huge_pmd / move_normal_pmd: the entry moves as is, with its PTE table or deposit.
      const kid = opmd.kids![i];
      const dep = opmd.deposit?.[i] ?? 0;
      if (kid !== undefined) linkChild(host, npmd, j, kid);
      else setEntry(host, npmd, j, opmd.pfn[i]!, fl);
      if (dep !== 0) {
        if (npmd.deposit === null) npmd.deposit = new Int32Array(512);
        npmd.deposit[j] = dep;
        opmd.deposit![i] = 0;
      }
      opmd.kids![i] = undefined;
      setEntry(host, opmd, i, 0, 0);
      moved++;
      off += extent;
      continue;
    }
    // A THP that only partly moves (or cannot move whole) is split first.
    if (fl & Pte.PSE) splitHugePmd(host, oldVma, opmd, i, alignDown(oa, PMD_SIZE));
    moved += movePtes(host, mm, opmd.kids![i]!, oa, na, extent);
    off += extent;
  }
  if (moved > 0) flushTlbRange(host, mm);
  invalidateEnd(range);
}

// mirrors mm/mremap.c:move_ptes
function movePtes(host: Host, mm: MmStruct, opt: PageTable, oa: number, na: number, extent: number): number {
  const npt = tableAlloc(host, mm, mm.pgd, na, Level.PTE);
  if (npt === null) fail('ENOMEM');
  let moved = 0;
  for (let k = 0; k < extent; k += PAGE_SIZE) {
    const i = tableIndex(oa + k, Level.PTE);
    const fl = opt.fl[i]!;
    if (fl === 0) continue;
    const pfn = opt.pfn[i]!;
    setEntry(host, opt, i, 0, 0);
    // move_soft_dirty_pte: user space can see the entries moved.
    setEntry(host, npt, tableIndex(na + k, Level.PTE), pfn, fl | Pte.SOFT_DIRTY);
    moved++;
  }
  return moved;
}
