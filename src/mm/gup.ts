/**
 * get_user_pages: walking user memory on behalf of the kernel (mirrors mm/gup.c).
 *
 * This module holds the FOLL_* flags, the VMA checks and the core loop that
 * faults pages in. MAP_POPULATE, MADV_POPULATE_* and the GUP/pin API share it.
 */
import type { ErrnoName } from '../uapi/errno.js';
import { FaultFlag, VmFault } from './fs_types.js';
import type { Host } from './host.js';
import { handleMmFault } from './memory.js';
import { type MmStruct, VM, type Vma, isCowMapping, vmaIsAnonymous } from './mm_types.js';
import { LEVEL_SHIFT, Level, PAGE_SIZE } from './page.js';
import { Pte, type Walk, walk } from './pgtable.js';
import { vmaLookup } from './vma.js';

/** FOLL_* flags: public ones (include/linux/mm_types.h) and internal ones (mm/internal.h). */
export const enum FOLL {
  WRITE = 1 << 0,
  GET = 1 << 1,
  DUMP = 1 << 2,
  FORCE = 1 << 3,
  NOWAIT = 1 << 4,
  NOFAULT = 1 << 5,
  HWPOISON = 1 << 6,
  ANON = 1 << 7,
  LONGTERM = 1 << 8,
  SPLIT_PMD = 1 << 9,
  PCI_P2PDMA = 1 << 10,
  INTERRUPTIBLE = 1 << 11,
  HONOR_NUMA_FAULT = 1 << 12,
  TOUCH = 1 << 16,
  TRIED = 1 << 17,
  REMOTE = 1 << 18,
  PIN = 1 << 19,
  FAST_ONLY = 1 << 20,
  UNLOCKABLE = 1 << 21,
  MADV_POPULATE = 1 << 22,
}

/**
 * Shared writable file mappings whose pages need write-notify for dirty
 * tracking (disk file systems; not tmpfs or hugetlbfs).
 */
// mirrors mm/mmap.c:vma_needs_dirty_tracking
export function vmaNeedsDirtyTracking(vma: Vma): boolean {
  if ((vma.flags & (VM.SHARED | VM.WRITE)) !== (VM.SHARED | VM.WRITE)) return false;
  if (vma.ops?.pageMkwrite) return true;
  return vma.file !== null && vma.file.inode.mapping.aops.writeback;
}

// mirrors mm/gup.c:writable_file_mapping_allowed
function writableFileMappingAllowed(vma: Vma, gupFlags: number): boolean {
  // Only a long-term pin is refused: it would write behind the file system's back.
  if ((gupFlags & (FOLL.PIN | FOLL.LONGTERM)) !== (FOLL.PIN | FOLL.LONGTERM)) return true;
  return !vmaNeedsDirtyTracking(vma);
}

/** May GUP access this VMA with these flags? Returns null or the errno. */
// mirrors mm/gup.c:check_vma_flags
export function checkVmaFlags(vma: Vma, gupFlags: number): ErrnoName | null {
  const vmFlags = vma.flags;
  const write = (gupFlags & FOLL.WRITE) !== 0;
  if (vmFlags & (VM.IO | VM.PFNMAP)) return 'EFAULT';
  if (gupFlags & FOLL.ANON && !vmaIsAnonymous(vma)) return 'EFAULT';
  if (gupFlags & FOLL.LONGTERM && vma.file?.inode.sb.fsType === 'dax') return 'EOPNOTSUPP';
  if (gupFlags & FOLL.SPLIT_PMD && vmFlags & VM.HUGETLB) return 'EOPNOTSUPP';
  if (write) {
    if (!vmaIsAnonymous(vma) && !writableFileMappingAllowed(vma, gupFlags)) return 'EFAULT';
    if (!(vmFlags & VM.WRITE)) {
      if (!(gupFlags & FOLL.FORCE)) return 'EFAULT';
      // A FOLL_FORCE write is only a COW into a private mapping.
      if (!isCowMapping(vmFlags)) return 'EFAULT';
    }
  } else if (!(vmFlags & VM.READ)) {
    if (!(gupFlags & FOLL.FORCE)) return 'EFAULT';
    if (!(vmFlags & VM.MAYREAD)) return 'EFAULT';
  }
  return null;
}

// mirrors mm/gup.c:vm_fault_to_errno
export function vmFaultToErrno(ret: number, gupFlags: number): ErrnoName | null {
  if (ret & VmFault.OOM) return 'ENOMEM';
  if (ret & (VmFault.HWPOISON | VmFault.HWPOISON_LARGE)) return gupFlags & FOLL.HWPOISON ? 'EHWPOISON' : 'EFAULT';
  if (ret & (VmFault.SIGBUS | VmFault.SIGSEGV)) return 'EFAULT';
  return null;
}

/** Result of a GUP walk: pages handled, or an errno if none were. */
export type GupResult = number | ErrnoName;

const $w: Walk = { table: null as never, idx: 0, level: Level.PTE, parent: null, pidx: 0 };

/**
 * Is addr mapped so that GUP with these flags can use it without a fault?
 * Returns the size of the mapping leaf (so huge mappings advance in one step), or 0.
 */
function followPage(mm: MmStruct, addr: number, gupFlags: number): number {
  walk(mm.pgd, addr, $w);
  const fl = $w.table.fl[$w.idx]!;
  const leaf = $w.level === Level.PTE ? fl !== 0 : (fl & Pte.PSE) !== 0;
  if (!leaf || !(fl & Pte.PRESENT)) return 0;
  if (gupFlags & FOLL.WRITE && !(fl & Pte.RW)) return 0;
  return 2 ** LEVEL_SHIFT[$w.level]!;
}

/**
 * Fault in nrPages user pages from start without returning them (the pages ==
 * NULL form of __get_user_pages). Returns the number of pages handled, or an
 * errno if none were.
 */
// mirrors mm/gup.c:__get_user_pages (no pages array)
export function getUserPagesNoPages(host: Host, mm: MmStruct, start: number, nrPages: number, gupFlags: number): GupResult {
  let done = 0;
  let vma: Vma | null = null;
  let addr = start;
  const end = start + nrPages * PAGE_SIZE;
  while (addr < end) {
    if (vma === null || addr >= vma.end) {
      vma = vmaLookup(mm, addr);
      if (gupFlags & FOLL.MADV_POPULATE) {
        if (vma === null) return done > 0 ? done : 'ENOMEM';
        if (checkVmaFlags(vma, gupFlags) !== null) return done > 0 ? done : 'EINVAL';
      } else {
        if (vma === null) return done > 0 ? done : 'EFAULT';
        const err = checkVmaFlags(vma, gupFlags);
        if (err !== null) return done > 0 ? done : err;
      }
    }
    let size = followPage(mm, addr, gupFlags);
    if (size === 0) {
      if (gupFlags & FOLL.NOFAULT) return done > 0 ? done : 'EFAULT';
      let fflags = FaultFlag.ALLOW_RETRY | FaultFlag.KILLABLE;
      if (gupFlags & FOLL.WRITE) fflags |= FaultFlag.WRITE;
      if (gupFlags & FOLL.REMOTE) fflags |= FaultFlag.REMOTE;
      const ret = handleMmFault(host, vma, addr, fflags);
      const err = vmFaultToErrno(ret, gupFlags);
      if (err !== null) return done > 0 ? done : err;
      size = followPage(mm, addr, gupFlags);
      // A FOLL_FORCE write to a read-only private mapping leaves the PTE read-only.
      if (size === 0) size = PAGE_SIZE;
    }
    const next = Math.min(Math.floor(addr / size) * size + size, end);
    done += (next - addr) / PAGE_SIZE;
    addr = next;
  }
  return done;
}

/** Fault in [start, end) of one VMA for MAP_POPULATE / mlock, ignoring errors. */
// mirrors mm/gup.c:populate_vma_page_range
export function populateVmaPageRange(host: Host, vma: Vma, start: number, end: number): GupResult {
  let gupFlags = FOLL.TOUCH;
  if (vma.flags & VM.LOCKONFAULT) return (end - start) / PAGE_SIZE;
  // Private writable mappings are touched with writes, to break COW now.
  if ((vma.flags & (VM.WRITE | VM.SHARED)) === VM.WRITE) gupFlags |= FOLL.WRITE;
  if (vma.flags & (VM.READ | VM.WRITE | VM.EXEC)) gupFlags |= FOLL.FORCE;
  return getUserPagesNoPages(host, vma.mm, start, (end - start) / PAGE_SIZE, gupFlags);
}

/** Populate [start, start + len) of mm, skipping VM_IO/VM_PFNMAP VMAs; errors are ignored. */
// mirrors mm/gup.c:__mm_populate (ignore_errors = 1)
export function mmPopulate(host: Host, mm: MmStruct, start: number, len: number): void {
  const end = start + len;
  let addr = start;
  while (addr < end) {
    const vma = vmaLookup(mm, addr) ?? null;
    if (vma === null) {
      // Skip to the next VMA, if any.
      const next = mm.vmas.find((v) => v.start > addr);
      if (next === undefined || next.start >= end) return;
      addr = next.start;
      continue;
    }
    const e = Math.min(end, vma.end);
    if (!(vma.flags & (VM.IO | VM.PFNMAP))) populateVmaPageRange(host, vma, addr, e);
    addr = e;
  }
}

/** Fault in [start, end) for MADV_POPULATE_READ/WRITE. Returns pages or an errno. */
// mirrors mm/gup.c:faultin_page_range
export function faultinPageRange(host: Host, mm: MmStruct, start: number, end: number, write: boolean): GupResult {
  let gupFlags = FOLL.TOUCH | FOLL.HWPOISON | FOLL.UNLOCKABLE | FOLL.MADV_POPULATE;
  if (write) gupFlags |= FOLL.WRITE;
  return getUserPagesNoPages(host, mm, start, (end - start) / PAGE_SIZE, gupFlags);
}
