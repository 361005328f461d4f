/**
 * Disk file systems: ext4, and xfs and btrfs as far as the model tells them
 * apart (magic number, file size limit, fallocate modes). Mirrors
 * fs/ext4/file.c, fs/ext4/inode.c, fs/ext4/extents.c and the generic paths
 * they use (mm/filemap.c:filemap_read and filemap_fault,
 * mm/filemap.c:generic_perform_write, mm/truncate.c).
 *
 * There is no disk: the page cache is the file's data. A file's blocks (its
 * extent tree, written or unwritten extents alike) are a set of page indices
 * (block size = page size); the data of a block is its page-cache folio's, or
 * zeros when it has none (an unwritten extent, or a hole). Clean pages are
 * never evicted (the model has no reclaim), so nothing is ever read back from
 * a disk; a read(2) of a hole returns zeros without adding pages (Linux's
 * readahead would add clean zero-filled folios).
 *
 * Folios are 4 KiB and not swap-backed: they count as Cached, not Shmem, and
 * in a process's RssFile. The mapping can write back (mapping_can_writeback),
 * so shared writable mappings get write-notify: their PTEs start read-only,
 * the first write to a clean page faults into ->page_mkwrite, which allocates
 * the block (delayed allocation's reservation: ENOSPC is SIGBUS) and dirties
 * the folio. fsync(2) writes dirty folios back, which cleans them and
 * write-protects their shared PTEs again (folio_clear_dirty_for_io ->
 * folio_mkclean), so the next write faults again.
 *
 * fs-dax (mount types 'ext4-dax', 'xfs-dax'): every regular file is S_DAX,
 * its mappings are DAX mappings (vma_is_fsdax; ext4_file_mmap sets
 * VM_HUGEPAGE and installs the DAX vm_ops: no fault-around), and GUP refuses
 * FOLL_LONGTERM on them (EOPNOTSUPP). Simplification: the persistent memory
 * is modelled as RAM: a file's pmem pages are folios in its mapping (standing
 * for the DAX entries), so they count in Cached and use MemFree, where Linux's
 * fs-dax pages are device memory outside MemTotal; a read fault of a hole maps
 * a zeroed pmem page rather than the shared zero page; write(2) on a DAX file
 * does not dirty anything (the data is persistent at once).
 */
import { Ev } from '../cost/counters.js';
import type { ErrnoName } from '../uapi/errno.js';
import {
  FALLOC_FL_COLLAPSE_RANGE,
  FALLOC_FL_INSERT_RANGE,
  FALLOC_FL_KEEP_SIZE,
  FALLOC_FL_PUNCH_HOLE,
  FALLOC_FL_UNSHARE_RANGE,
  FALLOC_FL_WRITE_ZEROES,
  FALLOC_FL_ZERO_RANGE,
} from '../uapi/falloc.js';
import { S_IFDIR, S_IFMT, S_IFREG } from '../uapi/fcntl.js';
import { BTRFS_SUPER_MAGIC, EXT4_SUPER_MAGIC, XFS_SUPER_MAGIC } from '../uapi/magic.js';
import { ExtentSet } from '../lib/extent_set.js';
import { PG } from '../mm/folio.js';
import {
  filemapAddFolio,
  filemapGetFolio,
  filemapMoveFolio,
  filemapReadInto,
  filemapWriteAndWaitRange,
  folioMarkDirty,
  truncateInodeFolio,
  truncateInodePagesRange,
} from '../mm/filemap.js';
import { InodeFlag, VmFault, type File, type SuperBlock, type VmFaultArgs, type VmOperations } from '../mm/fs_types.js';
import { unmapMappingRange } from '../mm/memory.js';
import { VM } from '../mm/mm_types.js';
import { GFP_HIGHUSER_MOVABLE } from '../mm/page_alloc.js';
import { PAGE_SHIFT, PAGE_SIZE } from '../mm/page.js';
import { folioAddLru } from '../mm/rmap.js';
import type { FsFileOps } from './file.js';
import type { FsInode, Vfs } from './inode.js';

const PAGE_SHIFT_BIG = BigInt(PAGE_SHIFT);
const PAGE_MASK_BIG = BigInt(PAGE_SIZE - 1);
const MAX_LFS_FILESIZE = (1n << 63n) - 1n;
/** Page indices are below 2^51: "to the end of the file" for index ranges. */
const INDEX_END = Number.MAX_SAFE_INTEGER;

/** The disk file systems the model has. */
export type DiskFsKind = 'ext4' | 'xfs' | 'btrfs';

/** The fallocate modes each file system implements (beyond allocation itself). */
const FALLOC_SUPPORTED: Record<DiskFsKind, number> = {
  // ext4_fallocate. FALLOC_FL_WRITE_ZEROES needs a device with unmap write-zeroes: the model's has none.
  ext4: FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE | FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE,
  // XFS_FALLOC_FL_SUPPORTED
  xfs: FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE | FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE | FALLOC_FL_UNSHARE_RANGE,
  // btrfs_fallocate
  btrfs: FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE,
};

const MAGIC: Record<DiskFsKind, number> = { ext4: EXT4_SUPER_MAGIC, xfs: XFS_SUPER_MAGIC, btrfs: BTRFS_SUPER_MAGIC };

/**
 * s_maxbytes: ext4 with extents and 4 KiB blocks stops one block short of
 * 2^32 blocks (ext4_max_size); xfs and btrfs allow MAX_LFS_FILESIZE.
 */
const MAX_BYTES: Record<DiskFsKind, bigint> = { ext4: ((1n << 32n) - 1n) << 12n, xfs: MAX_LFS_FILESIZE, btrfs: MAX_LFS_FILESIZE };

/** A mounted disk file system (super_block + the file system's sb_info). */
export interface DiskSb extends SuperBlock {
  readonly kind: DiskFsKind;
  /** Mounted with dax=always: every regular file is S_DAX. */
  readonly dax: boolean;
  /** Blocks (pages) on the device. */
  readonly totalBlocks: number;
  /** Blocks allocated to files. */
  usedBlocks: number;
  /** Blocks only root may use (ext4's 5% reservation): left out of f_bavail. */
  readonly reservedBlocks: number;
  /** Inodes the file system has room for; 0 if allocated on demand (btrfs). */
  readonly maxInodes: number;
  usedInodes: number;
}

/** Per-inode state (what EXT4_I(inode) reaches). */
interface DiskInodeInfo {
  /** Allocated blocks (page indices), written or unwritten. */
  readonly blocks: ExtentSet;
}

function info(inode: FsInode): DiskInodeInfo {
  return inode.fsInfo as DiskInodeInfo;
}

/** The file system's operations and statfs counts, bound to one mount. */
export interface DiskFs {
  readonly sb: DiskSb;
  readonly fileOps: FsFileOps;
  /** A new inode (nlink 0; the caller links it), regular file or directory; ENOSPC when the inode table is full. */
  newInode(mode: number): FsInode | 'ENOSPC';
}

const diskAops = { swapbacked: false, writeback: true };

// ---------------------------------------------------------------------------
// Blocks.

/** Add [start, end) to the block set; the caller has checked there is room. Returns blocks added. */
function addBlocks(set: ExtentSet, start: number, end: number): number {
  const gaps: number[] = [];
  let at = start;
  set.forEach(
    (s, e) => {
      if (s > at) gaps.push(at, s);
      at = e;
    },
    start,
    end,
  );
  if (at < end) gaps.push(at, end);
  let added = 0;
  for (let i = 0; i < gaps.length; i += 2) {
    set.add(gaps[i]!, gaps[i + 1]!);
    added += gaps[i + 1]! - gaps[i]!;
  }
  return added;
}

/** Remove [start, end) from the block set. Returns blocks removed. */
function removeBlocks(set: ExtentSet, start: number, end: number): number {
  const parts: number[] = [];
  set.forEach((s, e) => parts.push(s, e), start, end);
  let removed = 0;
  for (let i = 0; i < parts.length; i += 2) {
    set.remove(parts[i]!, parts[i + 1]!);
    removed += parts[i + 1]! - parts[i]!;
  }
  return removed;
}

/** Blocks in [start, end) not yet allocated. */
function missingBlocks(set: ExtentSet, start: number, end: number): number {
  let have = 0;
  set.forEach((s, e) => (have += e - s), start, end);
  return end - start - have;
}

function setBlocks(inode: FsInode): void {
  inode.blocks = info(inode).blocks.length * (PAGE_SIZE / 512);
}

/** Allocate the blocks [start, end) of inode, all or none: ENOSPC if the device is too full. */
// mirrors fs/ext4/extents.c:ext4_alloc_file_blocks (ext4_map_blocks with EXT4_GET_BLOCKS_CREATE; all-or-nothing here)
function allocBlocks(inode: FsInode, start: number, end: number): ErrnoName | null {
  const sb = inode.sb as DiskSb;
  const set = info(inode).blocks;
  const need = missingBlocks(set, start, end);
  if (need === 0) return null;
  if (sb.usedBlocks + need > sb.totalBlocks) return 'ENOSPC';
  sb.usedBlocks += addBlocks(set, start, end);
  setBlocks(inode);
  return null;
}

/** Free the blocks [start, end) of inode (holes are skipped). */
// mirrors fs/ext4/extents.c:ext4_ext_remove_space
function freeBlocks(inode: FsInode, start: number, end: number): void {
  if (end <= start) return;
  (inode.sb as DiskSb).usedBlocks -= removeBlocks(info(inode).blocks, start, end);
  setBlocks(inode);
}

/** Shift every block at or above `from` by `delta` blocks (collapse: negative; insert: positive). */
// mirrors fs/ext4/extents.c:ext4_ext_shift_extents
function shiftBlocks(inode: FsInode, from: number, delta: number): void {
  const set = info(inode).blocks;
  const parts: number[] = [];
  set.forEach((s, e) => parts.push(s, e), from, INDEX_END);
  for (let i = 0; i < parts.length; i += 2) set.remove(parts[i]!, parts[i + 1]!);
  for (let i = 0; i < parts.length; i += 2) set.add(parts[i]! + delta, parts[i + 1]! + delta);
}

// ---------------------------------------------------------------------------
// The page cache.

/**
 * The page-cache folio at index with a reference for the caller: found, or
 * (create) a new zero-filled uptodate one, which is the block's data when the
 * block is a hole or unwritten and, with no eviction, whenever no folio
 * exists. 0 when absent and !create; ENOMEM when no page is free.
 */
// mirrors mm/filemap.c:__filemap_get_folio (FGP_CREAT) with ext4_read_folio of a hole or unwritten extent
function diskGetFolio(vfs: Vfs, inode: FsInode, index: number, create: boolean): number | 'ENOMEM' {
  const host = vfs.host;
  let f = filemapGetFolio(inode.mapping, index);
  if (f !== 0) {
    host.folioGet(f);
    return f;
  }
  if (!create) return 0;
  f = host.folioAlloc(0, GFP_HIGHUSER_MOVABLE);
  if (f === 0) return 'ENOMEM';
  host.zeroFolio(f);
  host.ft.flags[f]! |= PG.UPTODATE;
  filemapAddFolio(host, inode.mapping, f, index);
  folioAddLru(host, f);
  return f;
}

/** Unmap (sparing private COW copies) and drop bytes [lstart, lend] of the page cache. */
// mirrors mm/truncate.c:truncate_pagecache_range
function truncatePagecacheRange(vfs: Vfs, inode: FsInode, lstart: bigint, lend: bigint): void {
  const unmapStart = ((lstart + PAGE_MASK_BIG) >> PAGE_SHIFT_BIG) << PAGE_SHIFT_BIG;
  const unmapEnd = (((lend + 1n) >> PAGE_SHIFT_BIG) << PAGE_SHIFT_BIG) - 1n;
  if (unmapEnd > unmapStart) unmapMappingRange(vfs.host, inode.mapping, Number(unmapStart), Number(unmapEnd + 1n - unmapStart), false);
  truncateInodePagesRange(vfs.host, inode.mapping, lstart, lend);
}

/** Unmap everything from newsize on, private COW copies included, and drop it from the page cache. */
// mirrors mm/truncate.c:truncate_pagecache
function truncatePagecache(vfs: Vfs, inode: FsInode, newsize: bigint): void {
  const holebegin = Number(((newsize + PAGE_MASK_BIG) >> PAGE_SHIFT_BIG) << PAGE_SHIFT_BIG);
  unmapMappingRange(vfs.host, inode.mapping, holebegin, 0, true);
  truncateInodePagesRange(vfs.host, inode.mapping, newsize, -1n);
  // Again, for private pages COWed meanwhile.
  unmapMappingRange(vfs.host, inode.mapping, holebegin, 0, true);
}

// ---------------------------------------------------------------------------
// Faults.

/** ->fault: the page-cache folio (created zeroed for a hole) of vmf.pgoff; SIGBUS beyond EOF. */
// mirrors mm/filemap.c:filemap_fault (and fs/dax.c:dax_iomap_pte_fault for DAX files)
function diskFault(vfs: Vfs, vmf: VmFaultArgs): number {
  const inode = vmf.vma.file!.inode as FsInode;
  // DIV_ROUND_UP(i_size, PAGE_SIZE): the page holding EOF is still inside.
  if (vmf.pgoff >= inode.sizePages) return -VmFault.SIGBUS;
  const f = diskGetFolio(vfs, inode, vmf.pgoff, true);
  if (f === 'ENOMEM') return -VmFault.OOM;
  return f;
}

/**
 * ->page_mkwrite: a write to a clean page of a shared mapping. Allocate (with
 * delayed allocation: reserve) its block, then dirty the folio. A full device
 * is SIGBUS; a page truncated away meanwhile needs no write (NOPAGE).
 */
// mirrors fs/ext4/inode.c:ext4_page_mkwrite (and ext4_dax_fault for DAX files)
function diskPageMkwrite(vfs: Vfs, vmf: VmFaultArgs, f: number): number {
  const inode = vmf.vma.file!.inode as FsInode;
  const ft = vfs.host.ft;
  if (ft.owner[f] !== inode.mapping || ft.index[f]! >= inode.sizePages) return VmFault.NOPAGE;
  const index = ft.index[f]!;
  if (allocBlocks(inode, index, index + 1) !== null) return VmFault.SIGBUS;
  folioMarkDirty(vfs.host, f);
  return VmFault.OK;
}

// ---------------------------------------------------------------------------
// read, write, truncate.

/** Read count bytes at pos into buf; holes read as zeros. */
// mirrors mm/filemap.c:filemap_read
function diskRead(vfs: Vfs, file: File, buf: Uint8Array, count: number, pos: bigint): number {
  const inode = file.inode as FsInode;
  return filemapReadInto(vfs.host, inode.size, buf, count, pos, (index) => filemapGetFolio(inode.mapping, index), false);
}

/**
 * Write count bytes from buf at pos: allocate each block (ENOSPC ends the
 * write), copy into the page cache, dirty the folio (not for DAX: the data is
 * persistent at once), and extend i_size. Bytes written, or an errno if none.
 */
// mirrors fs/ext4/file.c:ext4_buffered_write_iter (generic_write_checks, generic_perform_write with ext4_da_write_begin/end)
function diskWrite(vfs: Vfs, file: File, buf: Uint8Array, count: number, pos: bigint): number | ErrnoName {
  const inode = file.inode as FsInode;
  const sb = inode.sb as DiskSb;
  const host = vfs.host;
  // generic_write_checks_count: an active swap file is not written through the page cache.
  if (inode.iFlags & InodeFlag.SWAPFILE) return 'ETXTBSY';
  if (count === 0) return 0;
  // generic_write_check_limits: nothing at or beyond s_maxbytes; clip the rest.
  if (pos >= sb.maxBytes) return 'EFBIG';
  if (BigInt(count) > sb.maxBytes - pos) count = Number(sb.maxBytes - pos);
  let index = Number(pos >> PAGE_SHIFT_BIG);
  let off = Number(pos & PAGE_MASK_BIG);
  let done = 0;
  let err: ErrnoName | null = null;
  while (done < count) {
    const chunk = Math.min(count - done, PAGE_SIZE - off);
    err = allocBlocks(inode, index, index + 1);
    if (err !== null) break;
    const f = diskGetFolio(vfs, inode, index, true);
    if (f === 'ENOMEM') {
      err = f;
      break;
    }
    host.content.write(f, 1, off, buf, done, chunk);
    host.ev[Ev.COPY_BYTES] += chunk; // copy_folio_from_iter_atomic (dax_iomap_rw's copy for DAX)
    if (!sb.dax) folioMarkDirty(host, f);
    host.folioPut(f);
    done += chunk;
    index++;
    off = 0;
  }
  if (done === 0) return err ?? 0;
  const end = pos + BigInt(done);
  if (end > inode.size) inode.size = end;
  return done;
}

/** Change i_size; shrinking unmaps and drops everything beyond, private COW copies included, and frees the blocks. */
// mirrors fs/ext4/inode.c:ext4_setattr (ATTR_SIZE: truncate_pagecache, ext4_truncate)
function diskSetattrSize(vfs: Vfs, file: File, newsize: bigint): ErrnoName | null {
  const inode = file.inode as FsInode;
  const oldsize = inode.size;
  inode.size = newsize;
  // Growing: nothing to do with block size == page size (pagecache_isize_extended).
  if (newsize >= oldsize) return null;
  truncatePagecache(vfs, inode, newsize);
  freeBlocks(inode, inode.sizePages, INDEX_END);
  return null;
}

// ---------------------------------------------------------------------------
// fallocate.

/**
 * May the file back a swap area? btrfs refuses a copy-on-write file (the
 * model has no chattr +C); ext4 and xfs write back its dirty pages, then
 * refuse a hole anywhere in its whole pages (unwritten extents are fine).
 */
// mirrors fs/ext4/inode.c:ext4_iomap_swap_activate (-> fs/iomap/swapfile.c:iomap_swapfile_activate) and fs/btrfs/inode.c:btrfs_swap_activate (its first check)
function diskSwapActivate(vfs: Vfs, file: File): ErrnoName | null {
  const inode = file.inode as FsInode;
  if ((inode.sb as DiskSb).kind === 'btrfs') return 'EINVAL';
  filemapWriteAndWaitRange(vfs.host, inode.mapping, 0, INDEX_END);
  const pages = Number(inode.size >> PAGE_SHIFT_BIG);
  if (pages === 0) return 'EINVAL';
  return missingBlocks(info(inode).blocks, 0, pages) !== 0 ? 'EINVAL' : null;
}

/** Preallocate (unwritten extents) the blocks under [offset, offset + len); extend i_size unless KEEP_SIZE. */
// mirrors fs/ext4/extents.c:ext4_do_fallocate
function doFallocate(inode: FsInode, mode: number, offset: bigint, len: bigint): ErrnoName | null {
  const end = offset + len;
  const err = allocBlocks(inode, Number(offset >> PAGE_SHIFT_BIG), Number((end + PAGE_MASK_BIG) >> PAGE_SHIFT_BIG));
  if (err !== null) return err;
  if (!(mode & FALLOC_FL_KEEP_SIZE) && end > inode.size) inode.size = end;
  return null;
}

/** Deallocate [offset, offset + len) (clipped to the page holding EOF): the bytes read as zeros, whole blocks are freed. */
// mirrors fs/ext4/inode.c:ext4_punch_hole
function punchHole(vfs: Vfs, inode: FsInode, offset: bigint, len: bigint): ErrnoName | null {
  if (offset >= inode.size) return null;
  let end = offset + len;
  // Beyond i_size, the hole ends with the page that holds EOF.
  if (end > inode.size) end = ((inode.size + PAGE_MASK_BIG) >> PAGE_SHIFT_BIG) << PAGE_SHIFT_BIG;
  truncatePagecacheRange(vfs, inode, offset, end - 1n);
  freeBlocks(inode, Number((offset + PAGE_MASK_BIG) >> PAGE_SHIFT_BIG), Number(end >> PAGE_SHIFT_BIG));
  return null;
}

/** Zero [offset, offset + len): the range reads as zeros, its blocks allocated (unwritten); extends i_size unless KEEP_SIZE. */
// mirrors fs/ext4/extents.c:ext4_zero_range
function zeroRange(vfs: Vfs, inode: FsInode, mode: number, offset: bigint, len: bigint): ErrnoName | null {
  const end = offset + len;
  const err = allocBlocks(inode, Number(offset >> PAGE_SHIFT_BIG), Number((end + PAGE_MASK_BIG) >> PAGE_SHIFT_BIG));
  if (err !== null) return err;
  truncatePagecacheRange(vfs, inode, offset, end - 1n);
  if (!(mode & FALLOC_FL_KEEP_SIZE) && end > inode.size) inode.size = end;
  return null;
}

/** Remove [offset, offset + len) from the file, shifting what follows down; block aligned, ending before EOF. */
// mirrors fs/ext4/extents.c:ext4_collapse_range
function collapseRange(vfs: Vfs, inode: FsInode, offset: bigint, len: bigint): ErrnoName | null {
  if ((offset | len) & PAGE_MASK_BIG) return 'EINVAL';
  const end = offset + len;
  if (end >= inode.size) return 'EINVAL';
  const host = vfs.host;
  const start = Number(offset >> PAGE_SHIFT_BIG);
  const endIdx = Number(end >> PAGE_SHIFT_BIG);
  const shift = endIdx - start;
  // Write back what moves, then take everything from offset out of the page
  // tables (private COW copies too). Linux then drops the cache and re-reads
  // the shifted blocks; with no disk, the folios move with their blocks.
  filemapWriteAndWaitRange(host, inode.mapping, start, INDEX_END);
  unmapMappingRange(host, inode.mapping, Number(offset), 0, true);
  const gone: number[] = [];
  inode.mapping.pages.forEach(start, endIdx, (_i, _o, f) => {
    gone.push(f);
  });
  for (const f of gone) truncateInodeFolio(host, inode.mapping, f);
  const moving: number[] = [];
  inode.mapping.pages.forEach(endIdx, INDEX_END, (_i, _o, f) => {
    moving.push(f);
  });
  for (const f of moving) filemapMoveFolio(host, f, host.ft.index[f]! - shift);
  freeBlocks(inode, start, endIdx);
  shiftBlocks(inode, endIdx, -shift);
  inode.size = inode.size - len;
  return null;
}

/** Insert a hole of len bytes at offset, shifting what follows up; block aligned, offset inside the file. */
// mirrors fs/ext4/extents.c:ext4_insert_range
function insertRange(vfs: Vfs, inode: FsInode, offset: bigint, len: bigint): ErrnoName | null {
  if ((offset | len) & PAGE_MASK_BIG) return 'EINVAL';
  if (offset >= inode.size) return 'EINVAL';
  if (len > inode.sb.maxBytes - inode.size) return 'EFBIG';
  const host = vfs.host;
  const start = Number(offset >> PAGE_SHIFT_BIG);
  const shift = Number(len >> PAGE_SHIFT_BIG);
  filemapWriteAndWaitRange(host, inode.mapping, start, INDEX_END);
  unmapMappingRange(host, inode.mapping, Number(offset), 0, true);
  const moving: number[] = [];
  inode.mapping.pages.forEach(start, INDEX_END, (_i, _o, f) => {
    moving.push(f);
  });
  // From the top down, so that no folio lands on one not yet moved.
  for (let i = moving.length - 1; i >= 0; i--) filemapMoveFolio(host, moving[i]!, host.ft.index[moving[i]!]! + shift);
  inode.size = inode.size + len;
  shiftBlocks(inode, start, shift);
  return null;
}

/** The file-system part of fallocate(2) (the VFS checks have passed). */
// mirrors fs/ext4/extents.c:ext4_fallocate (xfs_file_fallocate, btrfs_fallocate: their supported modes)
function diskFallocate(vfs: Vfs, file: File, mode: number, offset: bigint, len: bigint): ErrnoName | null {
  const inode = file.inode as FsInode;
  const sb = inode.sb as DiskSb;
  if (mode & FALLOC_FL_WRITE_ZEROES) return 'EOPNOTSUPP';
  if (mode & ~FALLOC_SUPPORTED[sb.kind]) return 'EOPNOTSUPP';
  switch (mode & ~FALLOC_FL_KEEP_SIZE) {
    case 0:
    case FALLOC_FL_UNSHARE_RANGE:
      return doFallocate(inode, mode, offset, len);
    case FALLOC_FL_PUNCH_HOLE:
      return punchHole(vfs, inode, offset, len);
    case FALLOC_FL_ZERO_RANGE:
      return zeroRange(vfs, inode, mode, offset, len);
    case FALLOC_FL_COLLAPSE_RANGE:
      return collapseRange(vfs, inode, offset, len);
    case FALLOC_FL_INSERT_RANGE:
      return insertRange(vfs, inode, offset, len);
    default:
      return 'EOPNOTSUPP';
  }
}

/** The last reference to an unlinked inode went: drop its pages and free its blocks and inode. */
// mirrors fs/ext4/inode.c:ext4_evict_inode (truncate_inode_pages_final, ext4_truncate, ext4_free_inode)
function diskEvict(vfs: Vfs, inode: FsInode): void {
  const sb = inode.sb as DiskSb;
  truncateInodePagesRange(vfs.host, inode.mapping, 0n, -1n);
  if ((inode.mode & S_IFMT) === S_IFREG) freeBlocks(inode, 0, INDEX_END);
  sb.usedInodes--;
}

/** Blocks and inodes of a device of `bytes` bytes, per file system. */
function geometry(kind: DiskFsKind, bytes: number): { blocks: number; inodes: number; reserved: number } {
  const blocks = Math.floor(bytes / PAGE_SIZE);
  switch (kind) {
    case 'ext4':
      // mke2fs defaults: an inode per 16 KiB, 5% of the blocks reserved for root.
      return { blocks, inodes: Math.floor(bytes / 16384), reserved: Math.floor(blocks / 20) };
    case 'xfs':
      // imaxpct=25 with 256-byte inodes.
      return { blocks, inodes: Math.floor(bytes / 1024), reserved: 0 };
    case 'btrfs':
      return { blocks, inodes: 0, reserved: 0 };
  }
}

/**
 * Mount a disk file system of `bytes` bytes on a device whose st_dev is dev.
 * With dax, every regular file is S_DAX (dax=always).
 */
// mirrors fs/ext4/super.c:ext4_fill_super (the parts the model has)
export function diskFs(vfs: Vfs, kind: DiskFsKind, dax: boolean, bytes: number, dev: number): DiskFs {
  const g = geometry(kind, bytes);
  const sb: DiskSb = {
    fsType: kind,
    blockSize: PAGE_SIZE,
    maxBytes: MAX_BYTES[kind],
    magic: MAGIC[kind],
    dev,
    kind,
    dax,
    totalBlocks: g.blocks,
    usedBlocks: 0,
    reservedBlocks: g.reserved,
    maxInodes: g.inodes,
    usedInodes: 0,
  };
  const vmOps: VmOperations = {
    name: kind,
    mapPages: true,
    fault: (vmf) => diskFault(vfs, vmf),
    pageMkwrite: (vmf, f) => diskPageMkwrite(vfs, vmf, f),
  };
  // ext4_dax_vm_ops: no ->map_pages, so no fault-around.
  const daxVmOps: VmOperations = {
    name: `${kind}-dax`,
    mapPages: false,
    fault: (vmf) => diskFault(vfs, vmf),
    pageMkwrite: (vmf, f) => diskPageMkwrite(vfs, vmf, f),
  };
  const fileOps: FsFileOps = {
    // mirrors fs/ext4/file.c:ext4_file_mmap
    mmap: (file, vma) => {
      const isDax = (file.inode.iFlags & InodeFlag.DAX) !== 0;
      // daxdev_mapping_supported: MAP_SYNC needs a DAX file.
      if (vma.flags & VM.SYNC && !isDax) return 'EOPNOTSUPP';
      if (isDax) {
        vma.ops = daxVmOps;
        vma.flags |= VM.HUGEPAGE;
      } else {
        vma.ops = vmOps;
      }
      return null;
    },
    fallocate: (file, mode, offset, len) => diskFallocate(vfs, file, mode, offset, len),
    read: (file, buf, count, pos) => diskRead(vfs, file, buf, count, pos),
    write: (file, buf, count, pos) => diskWrite(vfs, file, buf, count, pos),
    setattrSize: (file, size) => diskSetattrSize(vfs, file, size),
    // ext4_dax_aops has no ->read_folio: a DAX file cannot be a swap file.
    readFolio: !dax,
    swapActivate: (file) => diskSwapActivate(vfs, file),
    // mirrors fs/ext4/fsync.c:ext4_sync_file (file_write_and_wait_range; the journal commit is not modelled)
    fsync: (file) => {
      filemapWriteAndWaitRange(vfs.host, file.inode.mapping, 0, INDEX_END);
      return null;
    },
  };
  // mirrors fs/ext4/ialloc.c:__ext4_new_inode
  const newInode = (mode: number): FsInode | 'ENOSPC' => {
    if (sb.maxInodes !== 0 && sb.usedInodes >= sb.maxInodes) return 'ENOSPC';
    sb.usedInodes++;
    const inode = vfs.newInode(sb, mode, diskAops, (i) => diskEvict(vfs, i));
    const isReg = (mode & S_IFMT) === S_IFREG;
    if (isReg) inode.fsInfo = { blocks: new ExtentSet() } satisfies DiskInodeInfo;
    if (dax && isReg) inode.iFlags |= InodeFlag.DAX;
    if ((mode & S_IFMT) === S_IFDIR) inode.size = BigInt(PAGE_SIZE);
    return inode;
  };
  return { sb, fileOps, newInode };
}
