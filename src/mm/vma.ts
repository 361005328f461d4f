/**
 * VMA tree operations: lookup, insertion, splitting and merging
 * (mirrors mm/vma.c and the lookup helpers of mm/mmap.c).
 *
 * Invariants (checked by the oracle): mm.vmas is sorted by start, VMAs do not
 * overlap, are page aligned and non-empty; a file VMA holds a file reference and
 * sits in its mapping's i_mmap; a VMA with an anon_vma is linked into it.
 */
import type { ErrnoName } from '../uapi/errno.js';
import { S_IFCHR, S_IFMT } from '../uapi/fcntl.js';
import { InodeFlag, fput, getFile } from './fs_types.js';
import type { Host } from './host.js';
import { splitHugePmd } from './huge_memory.js';
import { type MmStruct, VM, Vma, vmaPages } from './mm_types.js';
import { Level, PMD_SIZE, alignDown, tableIndex } from './page.js';
import { Pte, tableLookup } from './pgtable.js';
import { anonVmaClone, unlinkAnonVmas } from './rmap.js';

// x86 protection_map (arch/x86/mm/pgprot.c): PTE bits for each VM_{READ,WRITE,EXEC,SHARED}.
const P = Pte.PRESENT | Pte.USER | Pte.ACCESSED;
const PAGE_NONE = Pte.PROTNONE | Pte.ACCESSED;
const PAGE_READONLY = P | Pte.NX; // also PAGE_COPY: private writable pages start read-only
const PAGE_READONLY_EXEC = P;
const PAGE_SHARED = P | Pte.RW | Pte.NX;
const PAGE_SHARED_EXEC = P | Pte.RW;
const PROTECTION_MAP: readonly number[] = [
  PAGE_NONE, PAGE_READONLY, PAGE_READONLY, PAGE_READONLY,
  PAGE_READONLY_EXEC, PAGE_READONLY_EXEC, PAGE_READONLY_EXEC, PAGE_READONLY_EXEC,
  PAGE_NONE, PAGE_READONLY, PAGE_SHARED, PAGE_SHARED,
  PAGE_READONLY_EXEC, PAGE_READONLY_EXEC, PAGE_SHARED_EXEC, PAGE_SHARED_EXEC,
];

// mirrors mm/mmap.c:vm_get_page_prot
export function vmGetPageProt(flags: number): number {
  return PROTECTION_MAP[flags & (VM.READ | VM.WRITE | VM.EXEC | VM.SHARED)]!;
}

/**
 * Does a shared writable VMA need write faults to learn of first writes
 * (write-notify), so its PTEs start read-only?
 */
// mirrors mm/mmap.c:vma_wants_writenotify
export function vmaWantsWritenotify(vma: Vma): boolean {
  if ((vma.flags & (VM.SHARED | VM.WRITE)) !== (VM.SHARED | VM.WRITE)) return false;
  if (vma.ops?.pageMkwrite) return true;
  // Soft-dirty tracking is on while VM_SOFTDIRTY is clear (not for hugetlb).
  if (!(vma.flags & VM.SOFTDIRTY) && !(vma.flags & VM.HUGETLB)) return true;
  if (vma.flags & VM.UFFD_WP) return true;
  if (vma.flags & VM.PFNMAP) return false;
  return vma.file !== null && vma.file.inode.mapping.aops.writeback;
}

/** A file mapping whose data is mapped directly from persistent memory (IS_DAX of the file's inode). */
// mirrors include/linux/fs.h:vma_is_dax
export function vmaIsDax(vma: Vma): boolean {
  return vma.file !== null && (vma.file.inode.iFlags & InodeFlag.DAX) !== 0;
}

/** A DAX mapping of a file-system file (fs-dax), not of a device-dax character device. */
// mirrors include/linux/fs.h:vma_is_fsdax
export function vmaIsFsdax(vma: Vma): boolean {
  if (!vmaIsDax(vma)) return false;
  return (vma.file!.inode.mode & S_IFMT) !== S_IFCHR;
}

// mirrors mm/mmap.c:vma_set_page_prot
export function vmaSetPageProt(vma: Vma): void {
  vma.pageProt = vmaWantsWritenotify(vma) ? vmGetPageProt(vma.flags & ~VM.SHARED) : vmGetPageProt(vma.flags);
}

/**
 * A VMA boundary is moving to addr: a PMD-mapped THP must not straddle it, so
 * split that PMD into PTEs first.
 */
// mirrors mm/huge_memory.c:split_huge_pmd_if_needed (vma_adjust_trans_huge)
export function splitHugePmdIfNeeded(host: Host, vma: Vma, addr: number): void {
  if (addr % PMD_SIZE === 0) return;
  const haddr = alignDown(addr, PMD_SIZE);
  if (haddr < vma.start || haddr + PMD_SIZE > vma.end) return;
  const pmdT = tableLookup(vma.mm.pgd, addr, Level.PMD);
  if (pmdT === null) return;
  const i = tableIndex(addr, Level.PMD);
  if (pmdT.fl[i]! & Pte.PSE) splitHugePmd(host, vma, pmdT, i, haddr);
}

/** Index of the first VMA with end > addr (vmas.length if none). */
function firstEndAbove(mm: MmStruct, addr: number): number {
  const v = mm.vmas;
  let lo = 0;
  let hi = v.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (v[mid]!.end > addr) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** The first VMA ending above addr, or null. */
// mirrors mm/mmap.c:find_vma
export function findVma(mm: MmStruct, addr: number): Vma | null {
  return mm.vmas[firstEndAbove(mm, addr)] ?? null;
}

/** The VMA containing addr, or null. */
// mirrors include/linux/mm.h:vma_lookup
export function vmaLookup(mm: MmStruct, addr: number): Vma | null {
  const c = mm.lastVma;
  if (c !== null && c.start <= addr && addr < c.end && c.mm === mm) return c;
  const v = findVma(mm, addr);
  if (v === null || v.start > addr) return null;
  mm.lastVma = v;
  return v;
}

/** VMAs intersecting [start, end), in address order. */
export function vmasIn(mm: MmStruct, start: number, end: number): Vma[] {
  const out: Vma[] = [];
  for (let i = firstEndAbove(mm, start); i < mm.vmas.length; i++) {
    const v = mm.vmas[i]!;
    if (v.start >= end) break;
    out.push(v);
  }
  return out;
}

/** The VMA before and after a gap or VMA (for free_pgtables floor/ceiling). */
export function neighbours(mm: MmStruct, start: number, end: number): { prev: Vma | null; next: Vma | null } {
  const i = firstEndAbove(mm, start);
  let prev: Vma | null = null;
  for (let k = i - 1; k >= 0; k--) {
    if (mm.vmas[k]!.end <= start) {
      prev = mm.vmas[k]!;
      break;
    }
  }
  let next: Vma | null = null;
  for (let k = i; k < mm.vmas.length; k++) {
    if (mm.vmas[k]!.start >= end) {
      next = mm.vmas[k]!;
      break;
    }
  }
  return { prev, next };
}

/** Attach a file VMA to its file and mapping (get_file + vma_interval_tree_insert). */
export function vmaLinkFile(vma: Vma): void {
  if (vma.file === null) return;
  getFile(vma.file);
  vma.file.inode.mapping.iMmap.add(vma);
}

/** Detach a file VMA from its mapping and drop its file reference. */
export function vmaUnlinkFile(vma: Vma): void {
  if (vma.file === null) return;
  vma.file.inode.mapping.iMmap.delete(vma);
  fput(vma.file);
}

/** Insert a VMA into the mm's sorted list (vma_link). */
// mirrors mm/vma.c:vma_link
export function vmaInsert(mm: MmStruct, vma: Vma): void {
  const i = firstEndAbove(mm, vma.start);
  mm.vmas.splice(i, 0, vma);
}

/** Remove a VMA from the mm's list (the caller tears down its links). */
export function vmaErase(mm: MmStruct, vma: Vma): void {
  const i = mm.vmas.indexOf(vma);
  if (i >= 0) mm.vmas.splice(i, 1);
  if (mm.lastVma === vma) mm.lastVma = null;
}

/** Tear down a VMA that has left the tree: anon_vma links and file reference (remove_vma). */
// mirrors mm/vma.c:remove_vma
export function removeVma(vma: Vma): void {
  vma.ops?.close?.(vma);
  unlinkAnonVmas(vma);
  vmaUnlinkFile(vma);
}

/**
 * Split vma at addr into [start, addr) and [addr, end). The original object
 * keeps the lower part; the new upper part is returned (already in the tree).
 * The VMA's ->may_split is asked first and its errno returned unchanged
 * (hugetlb refuses an address that is not huge-page aligned: EINVAL); nothing
 * has changed then.
 */
// mirrors mm/vma.c:__split_vma
export function splitVmaAt(host: Host, vma: Vma, addr: number): Vma | ErrnoName {
  if (vma.ops?.maySplit !== undefined) {
    const err = vma.ops.maySplit(vma, addr);
    if (err !== null) return err;
  }
  splitHugePmdIfNeeded(host, vma, addr);
  const upper = new Vma(vma.mm, addr, vma.end, vma.flags, vma.pgoff + (addr - vma.start) / 4096, vma.file, vma.ops);
  upper.pageProt = vma.pageProt;
  upper.anonName = vma.anonName;
  upper.uffdCtx = vma.uffdCtx;
  anonVmaClone(upper, vma);
  vmaLinkFile(upper);
  vma.ops?.open?.(upper, vma);
  vma.end = addr;
  vmaInsert(vma.mm, upper);
  return upper;
}

/**
 * split_vma: as splitVmaAt, but refused with ENOMEM when the mm already has
 * max_map_count VMAs (checked before ->may_split). Returns the upper part or
 * an errno name.
 */
// mirrors mm/vma.c:split_vma
export function splitVma(host: Host, vma: Vma, addr: number): Vma | ErrnoName {
  if (vma.mm.vmas.length >= host.cfg.maxMapCount) return 'ENOMEM';
  return splitVmaAt(host, vma, addr);
}

/** The attributes that decide mergeability, for a VMA or a proposed range. */
interface MergeShape {
  flags: number;
  file: Vma['file'];
  anonName: string | null;
  uffdCtx: Vma['uffdCtx'];
}

/** can two adjacent ranges with these shapes share one VMA? (is_mergeable_vma) */
// mirrors mm/vma.c:is_mergeable_vma
function shapesMergeable(a: MergeShape, b: MergeShape): boolean {
  if ((a.flags | b.flags) & VM.SPECIAL) return false;
  if ((a.flags ^ b.flags) & ~VM.SOFTDIRTY) return false;
  // is_mergeable_vm_userfaultfd_ctx: registered with the same userfaultfd (or none).
  return a.file === b.file && a.anonName === b.anonName && a.uffdCtx === b.uffdCtx;
}

/** anon_vma compatibility of two VMAs to be merged (is_mergeable_anon_vma). */
// mirrors mm/vma.c:is_mergeable_anon_vma
function anonMergeable(a: Vma, b: Vma): boolean {
  if (a.anonVma === null && b.anonVma === null) return true;
  if (a.anonVma === null) return b.avc.length === 1;
  if (b.anonVma === null) return a.avc.length === 1;
  return a.anonVma === b.anonVma;
}

/** Can lower and upper (adjacent) merge into one VMA? */
export function vmasMergeable(lower: Vma, upper: Vma): boolean {
  return (
    lower.end === upper.start &&
    shapesMergeable(lower, upper) &&
    anonMergeable(lower, upper) &&
    upper.pgoff === lower.pgoff + vmaPages(lower)
  );
}

/** Absorb upper into lower (both adjacent, mergeable); upper leaves the tree. */
function absorb(lower: Vma, upper: Vma): void {
  if (lower.anonVma === null && upper.anonVma !== null) anonVmaClone(lower, upper);
  lower.end = upper.end;
  vmaErase(lower.mm, upper);
  removeVma(upper);
}

/** Merge vma with its neighbours where possible; returns the VMA now covering it. */
// mirrors mm/vma.c:vma_merge_existing_range (the effect: prev and next absorb vma)
export function vmaMergeNeighbours(vma: Vma): Vma {
  const mm = vma.mm;
  const i = mm.vmas.indexOf(vma);
  const prev = mm.vmas[i - 1];
  const next = mm.vmas[i + 1];
  let cur = vma;
  if (prev !== undefined && vmasMergeable(prev, cur)) {
    absorb(prev, cur);
    cur = prev;
  }
  if (next !== undefined && vmasMergeable(cur, next)) absorb(cur, next);
  return cur;
}

/**
 * Apply new vm_flags (and optionally an anon name or a userfaultfd context:
 * vma_modify_flags_name, vma_modify_flags_uffd) to [start, end) of vma:
 * merge with a neighbour if the range touches it and the result is mergeable,
 * otherwise split off the head and/or tail (each split refused with ENOMEM at
 * max_map_count). Returns the VMA now covering [start, end), or an errno name.
 */
// mirrors mm/vma.c:vma_modify_flags (vma_modify)
export function vmaModify(
  host: Host,
  vma: Vma,
  start: number,
  end: number,
  flags: number,
  anonName: string | null = vma.anonName,
  uffdCtx: Vma['uffdCtx'] = vma.uffdCtx,
): Vma | ErrnoName {
  if (flags === vma.flags && anonName === vma.anonName && uffdCtx === vma.uffdCtx) return vma;
  const mm = vma.mm;
  const i = mm.vmas.indexOf(vma);
  const prev = mm.vmas[i - 1];
  const next = mm.vmas[i + 1];
  const shape: MergeShape = { flags, file: vma.file, anonName, uffdCtx };
  const pgoffAt = (a: number) => vma.pgoff + (a - vma.start) / 4096;
  const prevOk =
    start === vma.start && prev !== undefined && prev.end === start && shapesMergeable(prev, shape) && anonMergeable(prev, vma) && pgoffAt(start) === prev.pgoff + vmaPages(prev);
  const nextOk =
    end === vma.end && next !== undefined && next.start === end && shapesMergeable(shape, next) && anonMergeable(vma, next) && next.pgoff === pgoffAt(end);

  if (prevOk) {
    if (prev.anonVma === null && vma.anonVma !== null) anonVmaClone(prev, vma);
    if (end === vma.end) {
      // prev absorbs all of vma, and next too if it fits.
      prev.end = vma.end;
      vmaErase(mm, vma);
      removeVma(vma);
      if (nextOk && anonMergeable(prev, next)) absorb(prev, next);
    } else {
      // Move the boundary: prev grows over [start, end).
      splitHugePmdIfNeeded(host, vma, end);
      prev.end = end;
      vma.pgoff = pgoffAt(end);
      vma.start = end;
    }
    return prev;
  }
  if (nextOk) {
    if (next.anonVma === null && vma.anonVma !== null) anonVmaClone(next, vma);
    if (start === vma.start) {
      next.start = vma.start;
      next.pgoff = vma.pgoff;
      vmaErase(mm, vma);
      removeVma(vma);
    } else {
      splitHugePmdIfNeeded(host, vma, start);
      next.pgoff = pgoffAt(start);
      next.start = start;
      vma.end = start;
    }
    return next;
  }
  let cur = vma;
  if (start > cur.start) {
    const up = splitVma(host, cur, start);
    if (typeof up === 'string') return up;
    cur = up;
  }
  if (end < cur.end) {
    const up = splitVma(host, cur, end);
    if (typeof up === 'string') return up;
  }
  cur.flags = flags;
  cur.anonName = anonName;
  cur.uffdCtx = uffdCtx;
  vmaSetPageProt(cur);
  return cur;
}
