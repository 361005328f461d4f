/**
 * The VFS shapes mm needs (include/linux/fs.h, include/linux/mm.h): struct file,
 * struct inode, struct address_space and the ops tables through which mm calls
 * into filesystems. mm defines them; src/fs implements them (shmem, hugetlbfs,
 * the disk-like file system), so data flows mm -> fs without circular imports.
 */
import type { SparseRadix } from '../lib/radix.js';
import type { ErrnoName } from '../uapi/errno.js';
import type { FolioOwner } from './folio.js';
import type { LazyRuns } from './hugetlb_split.js';
import type { Vma } from './mm_types.js';

/** file->f_mode bits (include/linux/fs.h). */
export const enum FMode {
  READ = 0x1,
  WRITE = 0x2,
  LSEEK = 0x4,
  PREAD = 0x8,
  PWRITE = 0x10,
  /** Opened with O_PATH: a location only; fdget() does not see it (FMODE_PATH). */
  PATH = 0x4000,
  /** A stream (pipes, sockets): no file position (FMODE_STREAM). */
  STREAM = 0x200000,
  CAN_READ = 0x20000,
  CAN_WRITE = 0x40000,
}

/** What a file system is, for the rules that depend on it. */
export interface SuperBlock {
  /** The file system type, as /proc/mounts names it: 'tmpfs', 'hugetlbfs', 'ext4', ... */
  readonly fsType: string;
  /** s_blocksize: st_blksize (4096, or the huge page size on hugetlbfs). */
  readonly blockSize: number;
  /** s_maxbytes (MAX_LFS_FILESIZE = 2^63 - 1 for tmpfs and hugetlbfs). */
  readonly maxBytes: bigint;
  /** s_magic: statfs(2)'s f_type (include/uapi/linux/magic.h). */
  readonly magic: number;
  /** s_dev, as stat(2)'s st_dev encodes it (new_encode_dev). */
  readonly dev: number;
}

/** inode->i_flags bits (include/linux/fs.h). */
export const enum InodeFlag {
  /** S_DAX: file data is mapped directly from persistent memory (IS_DAX). */
  DAX = 1 << 13,
  /** S_SWAPFILE: an active swap file (IS_SWAPFILE): no writes, truncation, fallocate or unlink. */
  SWAPFILE = 1 << 8,
}

/** address_space_operations, reduced to the properties mm decides on. */
export interface AddressSpaceOps {
  /** Folios are swap-backed (shmem): counted as Shmem, rss MM_SHMEMPAGES. */
  readonly swapbacked: boolean;
  /**
   * Shared writable mappings need write-notify and dirty tracking
   * (mapping_can_writeback): true for disk file systems, false for tmpfs and hugetlbfs.
   */
  readonly writeback: boolean;
}

export interface AddressSpace extends FolioOwner {
  readonly kind: 'file';
  readonly host: Inode;
  /** i_pages: page index -> folio slot; large folios are multi-order entries. */
  readonly pages: SparseRadix;
  /** Base pages in the cache. */
  nrpages: number;
  /** i_mmap: every VMA mapping this file, shared or private. */
  readonly iMmap: Set<Vma>;
  readonly aops: AddressSpaceOps;
  /**
   * Model, for designs beyond Linux (guest_memfd's gmemHugeShared): its large
   * folios are not long-term pinnable (noLongtermHuge, 'no-longterm-pin'), and
   * how many GUP calls on its pages the design refused (long-term pins, or
   * any GUP of its VM_PFNMAP mappings).
   */
  gupPolicy?: { noLongtermHuge: boolean; refused: number };
  /**
   * Model: the pieces of lazily split HugeTLB pages this cache holds without
   * entries yet (hugetlb_split.ts); filemapGetFolio makes one when looked up.
   */
  lazy?: LazyRuns | null;
}

export interface Inode {
  readonly ino: number;
  readonly sb: SuperBlock;
  /**
   * i_size in bytes: a loff_t, exact up to MAX_LFS_FILESIZE (2^63 - 1), hence a
   * bigint. Hot paths use sizePages instead.
   */
  size: bigint;
  /**
   * DIV_ROUND_UP(i_size, PAGE_SIZE): the number of pages i_size reaches into,
   * exact as a number (at most 2^51). Kept in step with size by the inode.
   */
  readonly sizePages: number;
  /** st_mode. */
  mode: number;
  nlink: number;
  /** i_blocks, in 512-byte units. */
  blocks: number;
  /** F_SEAL_* bits. */
  seals: number;
  /** i_flags: InodeFlag bits (S_DAX). */
  iFlags: number;
  readonly mapping: AddressSpace;
  /** Open files plus mappings referring to the inode; evicted at zero. */
  refs: number;
}

/** FAULT_FLAG_* (include/linux/mm_types.h). */
export const enum FaultFlag {
  WRITE = 1 << 0,
  MKWRITE = 1 << 1,
  ALLOW_RETRY = 1 << 2,
  RETRY_NOWAIT = 1 << 3,
  KILLABLE = 1 << 4,
  TRIED = 1 << 5,
  USER = 1 << 6,
  REMOTE = 1 << 7,
  INSTRUCTION = 1 << 8,
  INTERRUPTIBLE = 1 << 9,
  UNSHARE = 1 << 10,
  ORIG_PTE_VALID = 1 << 11,
  VMA_LOCK = 1 << 12,
}

/** VM_FAULT_* results (include/linux/mm_types.h). 0 means success. */
export const enum VmFault {
  OK = 0,
  OOM = 0x000001,
  SIGBUS = 0x000002,
  MAJOR = 0x000004,
  HWPOISON = 0x000010,
  HWPOISON_LARGE = 0x000020,
  SIGSEGV = 0x000040,
  NOPAGE = 0x000100,
  LOCKED = 0x000200,
  RETRY = 0x000400,
  FALLBACK = 0x000800,
  DONE_COW = 0x001000,
  NEEDDSYNC = 0x002000,
  COMPLETED = 0x004000,
  /** Any of the error bits (VM_FAULT_ERROR). */
  ERROR = 0x000001 | 0x000002 | 0x000040 | 0x000010 | 0x000020 | 0x000800,
}

/** The fault being handled (struct vm_fault, the parts filesystems read). */
export interface VmFaultArgs {
  readonly vma: Vma;
  /** Faulting address, page aligned. */
  readonly address: number;
  /** File page index of the faulting address. */
  readonly pgoff: number;
  readonly flags: number;
  /** vmf->real_address: the faulting byte (address is its page); absent means address. */
  readonly realAddress?: number;
  /** vmf->orig_pte when it was a PTE marker (a uffd-wp marker makes the new PTE uffd-wp); absent or 0: none. */
  readonly origPte?: number;
}

/**
 * How userfaultfd fills a file mapping's holes (shmem; Linux 6.12 calls
 * shmem_mfill_atomic_pte and shmem_get_folio directly, later kernels through
 * vm_uffd_ops).
 */
export interface VmUffdOps {
  /**
   * UFFDIO_COPY / _ZEROPAGE on a shared mapping: a new page for pgoff, filled
   * by fill (0, or a negative errno to give up) or zeroed when fill is null,
   * added to the page cache and mapped by install (0 or a negative errno, after
   * which the page leaves the cache again). -EEXIST when the cache already
   * has a page there, -EFAULT beyond EOF, -ENOMEM (or -ENOSPC: a full tmpfs).
   */
  mfillAtomicPte(vma: Vma, pgoff: number, fill: ((f: number) => number) | null, install: (f: number) => number): number;
  /**
   * UFFDIO_CONTINUE: the page-cache folio holding pgoff, with a reference for
   * the caller (a fallocated page is cleared first), or a negative errno:
   * -ENOENT for a hole, -EINVAL beyond EOF (shmem_get_folio with SGP_NOALLOC).
   */
  getFolioNoalloc(vma: Vma, pgoff: number): number;
}

/**
 * The shmem functions mm calls directly in Linux (mm/shmem.c), for shmem THP:
 * the huge-page policy and what collapse_file needs of the file system.
 */
export interface VmShmemOps {
  /** vma_is_anon_shmem: a shared anonymous mapping (shmem_anon_vm_ops), not a memfd or tmpfs file. */
  readonly anon: boolean;
  /**
   * shmem_allowable_huge_orders: the folio orders (a bitmask) that may back
   * page index of vma's file. force: a forced collapse (MADV_COLLAPSE),
   * which only shmem_enabled=deny refuses.
   */
  hugeOrders(vma: Vma, index: number, force: boolean): number;
  /**
   * shmem_get_folio(SGP_NOALLOC) for collapse_file: the folio holding index,
   * with a reference for the caller (a fallocated one is cleared and made
   * uptodate first), or a negative errno (-ENOENT for a hole, -EINVAL beyond EOF).
   */
  getFolioNoalloc(inode: Inode, index: number): number;
  /** shmem_charge: account pages that a collapse fills into the inode's holes; false if the tmpfs is full. */
  charge(inode: Inode, pages: number): boolean;
  /** shmem_uncharge (also used when the page cache drops pages of the inode outside truncation). */
  uncharge(inode: Inode, pages: number): void;
}

/** vm_operations_struct. */
export interface VmOperations {
  readonly name: string;
  /**
   * ->fault: find or create the page-cache folio for vmf.pgoff and return its slot
   * holding one reference for the caller (which the mapping then keeps), or a
   * negative VM_FAULT code (e.g. -VmFault.SIGBUS beyond EOF).
   */
  fault(vmf: VmFaultArgs): number;
  /** ->map_pages exists (filemap_map_pages): the fault path may fault around. */
  readonly mapPages: boolean;
  /** userfaultfd's fill operations (shmem); absent: holes cannot be filled with UFFDIO_COPY/_CONTINUE. */
  readonly uffd?: VmUffdOps;
  /** shmem's THP policy and collapse hooks; absent for every other file system. */
  readonly shmem?: VmShmemOps;
  /** ->page_mkwrite: a write to a clean shared page; 0 or a VM_FAULT code. */
  pageMkwrite?(vmf: VmFaultArgs, folio: number): number;
  /**
   * ->may_split: may vma be split at addr? null, or the errno that __split_vma
   * returns (hugetlb: EINVAL unless addr is huge-page aligned). Absent: always.
   */
  maySplit?(vma: Vma, addr: number): ErrnoName | null;
  /** ->open: a new VMA copies vma_from (a split, mremap's copy): take what it shares (hugetlb: its reservation map). */
  open?(vma: Vma, from: Vma): void;
  /** ->close: the VMA is going away (remove_vma); hugetlb returns the reservations it did not use. */
  close?(vma: Vma): void;
}

/** file_operations, the parts mm's syscalls call. */
export interface FileOperations {
  /**
   * ->mmap: set up vma (vma.ops, flags) or refuse with an errno name. Absent
   * means the file cannot be mapped (ENODEV).
   */
  mmap?(file: File, vma: Vma): ErrnoName | null;
  /**
   * ->fallocate (fallocate(2), MADV_REMOVE): offset and len are loff_t values
   * (exact bigints, already checked by the VFS); an errno name or null on success.
   */
  fallocate?(file: File, mode: number, offset: bigint, len: bigint): ErrnoName | null;
  /** Huge page size the file needs for mmap alignment (hugetlbfs), else undefined. */
  readonly hugePageSize?: number;
  /**
   * shmem files only: may shmem THP back this file by its mount's huge=
   * (shmem_get_unmapped_area then places mappings 2 MiB-aligned to the file offset)?
   */
  shmemHuge?(file: File): boolean;
}

export interface File {
  readonly inode: Inode;
  /** FMode bits. */
  readonly fMode: number;
  /** f_flags (O_* bits). */
  readonly flags: number;
  readonly fOp: FileOperations;
  /** Owners: fds plus VMAs (get_file / fput). */
  refs: number;
  /** d_path for /proc/pid/maps: '/memfd:name (deleted)' and the like. */
  readonly path: string;
  /** Called when the last reference goes (the final fput). */
  release(): void;
}

// mirrors include/linux/fs.h:get_file
export function getFile<T extends File>(file: T): T {
  file.refs++;
  return file;
}

// mirrors fs/file_table.c:fput
export function fput(file: File): void {
  if (--file.refs === 0) file.release();
}
