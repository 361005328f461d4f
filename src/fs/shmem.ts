/**
 * tmpfs / shmem: memfd files and shared anonymous memory (mirrors mm/shmem.c).
 *
 * Folios are order 0, PMD order (shmem THP) or, for shared anonymous
 * memory, any order a per-size hugepages-<size>kB/shmem_enabled allows
 * (shmem mTHP). With the defaults (shmem_enabled=never, the PMD size
 * inheriting it, the other sizes never) and no huge= mount option, only
 * MADV_COLLAPSE (and khugepaged under a shmem_enabled that allows it) makes
 * large folios.
 * A folio allocated by fallocate is not uptodate: reads treat it as a hole
 * and the first fault or write clears it, as shmem does.
 */
import { modPow2, pow2 } from '../lib/pow2.js';
import { Ev } from '../cost/counters.js';
import { type ErrnoName, errno } from '../uapi/errno.js';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE } from '../uapi/falloc.js';
import { F_SEAL_FUTURE_WRITE, F_SEAL_GROW, F_SEAL_SHRINK, F_SEAL_WRITE, S_IFMT, S_IFREG } from '../uapi/fcntl.js';
import { TMPFS_MAGIC } from '../uapi/magic.js';
import { PG, folioNrPages } from '../mm/folio.js';
import { filemapAddFolio, filemapGetFolio, filemapReadInto, filemapRemoveFolio, truncateInodeFolio, truncateInodePagesRange } from '../mm/filemap.js';
import { FMode, VmFault, type File, type SuperBlock, type VmFaultArgs, type VmOperations, type VmShmemOps, type VmUffdOps } from '../mm/fs_types.js';
import { THP_ORDERS_ALL_FILE_DEFAULT, highestOrder, thpVmaSuitableOrders, vmaThpDisabled } from '../mm/huge_memory.js';
import { unmapMappingPages, unmapMappingRange } from '../mm/memory.js';
import { securityVmEnoughMemory } from '../mm/mmap.js';
import { VM, type Vma } from '../mm/mm_types.js';
import { GFP_HIGHUSER_MOVABLE } from '../mm/page_alloc.js';
import { HPAGE_PMD_NR, HPAGE_PMD_ORDER, PAGE_SHIFT, PAGE_SIZE } from '../mm/page.js';
import { folioAddLru } from '../mm/rmap.js';
import { MthpStat, modMthpStat } from '../mm/vmstat.js';
import { handleUserfault, userfaultfdMinor, userfaultfdMissing } from '../mm/userfaultfd_k.js';
import { type FsFileOps, OpenFile } from './file.js';
import type { FsInode, Vfs } from './inode.js';

/** MAX_LFS_FILESIZE on 64-bit. */
export const MAX_LFS_FILESIZE = (1n << 63n) - 1n;

const PAGE_SHIFT_BIG = BigInt(PAGE_SHIFT);
const PAGE_MASK_BIG = BigInt(PAGE_SIZE) - 1n;

/** MAX_LFS_FILESIZE >> PAGE_SHIFT: the last page index a tmpfs file can have (2^51 - 1). */
const MAX_INDEX = Number(MAX_LFS_FILESIZE >> PAGE_SHIFT_BIG);

/**
 * A tmpfs instance (struct shmem_sb_info): the kernel's internal mount
 * (shm_mnt: memfd, shared anonymous memory, unlimited) or a mounted tmpfs
 * with size= and nr_inodes= limits.
 */
export interface ShmemSb extends SuperBlock {
  /** max_blocks, in pages; 0: unlimited. */
  readonly maxBlocks: number;
  /** max_inodes; 0: unlimited. */
  readonly maxInodes: number;
  /** used_blocks: pages charged to the instance. */
  usedBlocks: number;
  /** Inodes in use. */
  usedInodes: number;
  /** sbinfo->huge: the huge= mount option (the internal mount follows shmem_enabled). */
  huge: ShmemHuge;
}

/** tmpfs huge= values (SHMEM_HUGE_NEVER .. SHMEM_HUGE_ADVISE). */
export type ShmemHuge = 'never' | 'always' | 'within_size' | 'advise';

/**
 * May a PMD-sized folio hold page index of inode, by shmem_enabled and the
 * mount's huge= (writeEnd: the end of a write in progress, bytes; 0 if none)?
 * force: a forced collapse, refused only by shmem_enabled=deny.
 */
// mirrors mm/shmem.c:shmem_huge_global_enabled (its result is BIT(HPAGE_PMD_ORDER) or 0)
function shmemHugeGlobalEnabled(vfs: Vfs, inode: FsInode, index: number, writeEnd: bigint, force: boolean, vmFlags: number): boolean {
  if ((inode.mode & S_IFMT) !== S_IFREG) return false;
  const global = vfs.host.cfg.thp.shmemEnabled;
  if (global === 'deny') return false;
  if (force || global === 'force') return true;
  switch ((inode.sb as ShmemSb).huge) {
    case 'always':
      return true;
    case 'within_size': {
      // The PMD-aligned block holding index lies within i_size (or the write's end).
      const alignedEnd = Math.ceil((index + 1) / HPAGE_PMD_NR) * HPAGE_PMD_NR;
      const size = writeEnd > inode.size ? writeEnd : inode.size;
      if (Number((size + PAGE_MASK_BIG) >> PAGE_SHIFT_BIG) >= alignedEnd) return true;
      return (vmFlags & VM.HUGEPAGE) !== 0;
    }
    case 'advise':
      return (vmFlags & VM.HUGEPAGE) !== 0;
    default:
      return false;
  }
}

/**
 * The folio orders above 0 that may back page index of inode (mapped by vma,
 * or by none: read/write/fallocate), as a bitmask. A tmpfs or memfd file, a
 * read or write, and a forced collapse follow shmem_enabled / huge= alone
 * (the PMD order or nothing). Shared anonymous memory takes the per-size
 * hugepages-<size>kB/shmem_enabled controls: always; within_size where the
 * aligned block of the largest such order (or of a smaller one) lies within
 * i_size; advise under MADV_HUGEPAGE; inherit where shmem_enabled/huge=
 * allows the PMD size (and only inherit under shmem_enabled=force; none under
 * deny). A VMA with THP disabled gets none.
 */
// mirrors mm/shmem.c:shmem_allowable_huge_orders
export function shmemAllowableHugeOrders(vfs: Vfs, inode: FsInode, vma: Vma | null, index: number, writeEnd: bigint, force: boolean): number {
  const thp = vfs.host.cfg.thp;
  const vmFlags = vma !== null ? vma.flags : 0;
  if (vma !== null && vmaThpDisabled(vma, vmFlags)) return 0;
  const global = shmemHugeGlobalEnabled(vfs, inode, index, writeEnd, force, vmFlags) ? 1 << HPAGE_PMD_ORDER : 0;
  // tmpfs and memfd files, and forced collapse, ignore the per-size controls.
  if (vma === null || vma.ops?.shmem?.anon !== true || force) return global;
  if (thp.shmemEnabled === 'deny') return 0;
  // Under force, only the inherit sizes (the top level's store keeps them PMD-only).
  if (thp.shmemEnabled === 'force') return thp.shmemOrders.inherit;
  let mask = thp.shmemOrders.always;
  // within_size: the largest order whose aligned block around index ends within i_size admits every within_size order.
  let within = thp.shmemOrders.withinSize;
  const sizePages = inode.sizePages;
  for (let order = highestOrder(within); within !== 0; within &= ~(1 << order), order = highestOrder(within)) {
    const nr = pow2(order);
    if (sizePages >= Math.ceil((index + 1) / nr) * nr) {
      mask |= thp.shmemOrders.withinSize;
      break;
    }
  }
  if (vmFlags & VM.HUGEPAGE) mask |= thp.shmemOrders.madvise;
  if (global !== 0) mask |= thp.shmemOrders.inherit;
  return THP_ORDERS_ALL_FILE_DEFAULT & mask;
}

const shmemAops = { swapbacked: true, writeback: false };

/** Charge pages to the instance: false (ENOSPC) when a size limit would be exceeded. */
// mirrors mm/shmem.c:shmem_inode_acct_blocks
function shmemAcctBlocks(inode: FsInode, pages: number): boolean {
  const sb = inode.sb as ShmemSb;
  if (sb.maxBlocks !== 0 && sb.usedBlocks + pages > sb.maxBlocks) return false;
  sb.usedBlocks += pages;
  inode.blocks += pages * (PAGE_SIZE / 512);
  return true;
}

// mirrors mm/shmem.c:shmem_inode_unacct_blocks
function shmemUnacctBlocks(inode: FsInode, pages: number): void {
  (inode.sb as ShmemSb).usedBlocks -= pages;
  inode.blocks -= pages * (PAGE_SIZE / 512);
}

/** enum sgp_type: what shmem_get_folio may do for a missing or !uptodate folio. */
export const enum Sgp {
  /** Look up only; a hole or a fallocated folio reads as zeros. */
  READ,
  /** Allocate if missing; refuse indices beyond EOF (faults). */
  CACHE,
  /** Allocate for a write (beyond EOF allowed). */
  WRITE,
  /** Allocate for fallocate: not cleared, not uptodate. */
  FALLOC,
}

/** Result of shmemGetFolio: a folio slot holding a reference for the caller, 0 for a hole (READ), or an errno. */
export type GetFolio = number | ErrnoName;

/** Where a folio is wanted from: the faulting VMA and address, or none (read/write/fallocate) and the end of the write. */
export interface ShmemGetCtx {
  readonly vma: Vma | null;
  readonly address: number;
  /** write_end: the end (bytes) of the write or fallocate in progress; 0 if none. */
  readonly writeEnd: bigint;
}

const NO_CTX: ShmemGetCtx = { vma: null, address: 0, writeEnd: 0n };

/**
 * Of `orders`, those a new folio for index may take: for a fault, the
 * order-aligned block around the address must lie inside the VMA at a
 * suitably aligned file offset; then the largest order whose aligned range
 * of the page cache is empty, and every smaller order (the fallbacks).
 */
// mirrors mm/shmem.c:shmem_suitable_orders
function shmemSuitableOrders(inode: FsInode, index: number, ctx: ShmemGetCtx, orders: number): number {
  if (ctx.vma !== null) {
    orders = thpVmaSuitableOrders(ctx.vma, ctx.address, orders);
    if (orders === 0) return 0;
  }
  for (let order = highestOrder(orders); orders !== 0; orders &= ~(1 << order), order = highestOrder(orders)) {
    const nr = pow2(order);
    const aligned = index - modPow2(index, nr);
    if (inode.mapping.pages.nextKey(aligned, aligned + nr) === -1) break;
  }
  return orders;
}

/**
 * Allocate a large folio for index, trying the suitable orders of `orders`
 * from the largest down (counting shmem_fallback for each order that fails),
 * charge it to the file and add it to the page cache: its slot (the
 * allocation's reference is the caller's), or 0 to fall back to a small
 * folio (also when the tmpfs cannot hold its pages: ENOSPC, which falls back
 * without a counter). The model has no memory cgroup, so the charge never
 * fails and shmem_fallback_charge stays 0.
 */
// mirrors mm/shmem.c:shmem_alloc_and_add_folio (with huge orders; no memcg charge, no shrinker to retry after ENOSPC)
function shmemAllocLargeFolio(vfs: Vfs, inode: FsInode, index: number, ctx: ShmemGetCtx, orders: number): number {
  const host = vfs.host;
  let suitable = shmemSuitableOrders(inode, index, ctx, orders);
  for (let order = highestOrder(suitable); suitable !== 0; suitable &= ~(1 << order), order = highestOrder(suitable)) {
    const nr = pow2(order);
    const aligned = index - modPow2(index, nr);
    const f = aligned + nr - 1 > MAX_INDEX ? 0 : host.folioAlloc(order, GFP_HIGHUSER_MOVABLE);
    if (f === 0) {
      modMthpStat(host.mthpStats, order, MthpStat.SHMEM_FALLBACK, 1);
      continue;
    }
    if (!shmemAcctBlocks(inode, nr)) {
      host.folioPut(f);
      return 0;
    }
    filemapAddFolio(host, inode.mapping, f, aligned);
    folioAddLru(host, f);
    // shmem_get_folio_gfp counts the success.
    modMthpStat(host.mthpStats, order, MthpStat.SHMEM_ALLOC, 1);
    return f;
  }
  return 0;
}

/**
 * Find or create the folio holding index (a new one is PMD order where
 * shmem_enabled / huge= allow and the 2 MiB around it is free in the page
 * cache and, for a fault, PMD-mappable in the VMA). The returned folio
 * carries one reference for the caller.
 */
// mirrors mm/shmem.c:shmem_get_folio_gfp
export function shmemGetFolio(vfs: Vfs, inode: FsInode, index: number, sgp: Sgp, ctx: ShmemGetCtx = NO_CTX): GetFolio {
  const host = vfs.host;
  const ft = host.ft;
  if (index > MAX_INDEX) return 'EFBIG';
  // (loff_t)index << PAGE_SHIFT >= i_size, in pages.
  if (sgp === Sgp.CACHE && index >= inode.sizePages) return 'EINVAL';
  let f = filemapGetFolio(inode.mapping, index);
  if (f !== 0) {
    if (!(ft.flags[f]! & PG.UPTODATE)) {
      if (sgp === Sgp.READ) return 0;
      if (sgp !== Sgp.FALLOC) {
        // The first real use of a fallocated folio clears it.
        host.zeroFolio(f);
        ft.flags[f]! |= PG.UPTODATE;
        ft.flags[f]! &= ~PG.FALLOC;
      }
    }
    host.folioGet(f);
    return f;
  }
  if (sgp === Sgp.READ) return 0;
  // A large folio first (of the orders shmem_enabled and its per-size controls allow), else a small one.
  const orders = shmemAllowableHugeOrders(vfs, inode, ctx.vma, index, ctx.writeEnd, false);
  f = orders !== 0 ? shmemAllocLargeFolio(vfs, inode, index, ctx, orders) : 0;
  if (f === 0) {
    if (!shmemAcctBlocks(inode, 1)) return 'ENOSPC';
    f = host.folioAlloc(0, GFP_HIGHUSER_MOVABLE);
    if (f === 0) {
      shmemUnacctBlocks(inode, 1);
      return 'ENOMEM';
    }
    filemapAddFolio(host, inode.mapping, f, index);
    folioAddLru(host, f);
  }
  if (sgp === Sgp.FALLOC) {
    host.content.setUniform(f, 0);
    ft.flags[f]! |= PG.FALLOC | PG.DIRTY;
  } else {
    host.zeroFolio(f);
    ft.flags[f]! |= PG.UPTODATE;
  }
  return f;
}

/** ->fault for shmem mappings. */
// mirrors mm/shmem.c:shmem_fault
function shmemFault(vfs: Vfs, vmf: VmFaultArgs): number {
  const inode = vmf.vma.file!.inode as FsInode;
  // shmem_get_folio_gfp's userfaultfd cases, inside EOF: a page in the cache is
  // a minor fault, a hole (before anything is allocated) a missing one.
  const vma = vmf.vma;
  if (vma.flags & (VM.UFFD_MINOR | VM.UFFD_MISSING) && vmf.pgoff < inode.sizePages) {
    const cached = filemapGetFolio(inode.mapping, vmf.pgoff) !== 0;
    const reason = cached ? (userfaultfdMinor(vma) ? VM.UFFD_MINOR : 0) : userfaultfdMissing(vma) ? VM.UFFD_MISSING : 0;
    if (reason !== 0) return -handleUserfault(vma, vmf.address, vmf.realAddress ?? vmf.address, vmf.flags, reason);
  }
  const r = shmemGetFolio(vfs, inode, vmf.pgoff, Sgp.CACHE, { vma, address: vmf.address, writeEnd: 0n });
  if (r === 'EINVAL') return -VmFault.SIGBUS;
  if (r === 'ENOMEM') return -VmFault.OOM;
  if (typeof r === 'string') return -VmFault.SIGBUS;
  return r;
}

/**
 * UFFDIO_COPY / _ZEROPAGE into a shared shmem mapping: charge, allocate and
 * fill a page, add it to the page cache at pgoff and map it (see VmUffdOps).
 */
// mirrors mm/shmem.c:shmem_mfill_atomic_pte
function shmemMfillAtomicPte(vfs: Vfs, vma: Vma, pgoff: number, fill: ((f: number) => number) | null, install: (f: number) => number): number {
  const host = vfs.host;
  const inode = vma.file!.inode as FsInode;
  if (!shmemAcctBlocks(inode, 1)) return -errno.ENOMEM;
  const f = host.folioAlloc(0, GFP_HIGHUSER_MOVABLE);
  let ret = -errno.ENOMEM;
  if (f !== 0) {
    ret = 0;
    if (fill !== null) ret = fill(f);
    else host.zeroFolio(f);
    if (ret === 0) {
      host.ft.flags[f]! |= PG.UPTODATE;
      if (pgoff >= inode.sizePages) ret = -errno.EFAULT;
      else if (filemapGetFolio(inode.mapping, pgoff) !== 0) ret = -errno.EEXIST;
      else {
        filemapAddFolio(host, inode.mapping, f, pgoff);
        ret = install(f);
        // Mapped: the allocation's reference is the PTE's now.
        if (ret === 0) return 0;
        filemapRemoveFolio(host, f);
      }
    }
    host.folioPut(f);
  }
  shmemUnacctBlocks(inode, 1);
  return ret;
}

/** UFFDIO_CONTINUE's and collapse_file's lookup: shmem_get_folio with SGP_NOALLOC. */
// mirrors mm/shmem.c:shmem_get_folio (SGP_NOALLOC)
function shmemGetFolioNoalloc(vfs: Vfs, inode: FsInode, pgoff: number): number {
  if (pgoff > MAX_INDEX) return -errno.EFBIG;
  if (pgoff >= inode.sizePages) return -errno.EINVAL;
  if (filemapGetFolio(inode.mapping, pgoff) === 0) return -errno.ENOENT;
  const r = shmemGetFolio(vfs, inode, pgoff, Sgp.CACHE);
  return typeof r === 'string' ? -errno[r] : r;
}

/**
 * Remove [lstart, lend] (bytes, inclusive; lend -1 means to the end of the
 * file, as (loff_t)-1 does) from the file: whole pages leave the page cache
 * (and every page-cache mapping of them); the partial pages at the edges are
 * zeroed in place.
 */
// mirrors mm/shmem.c:shmem_undo_range (shmem_truncate_range)
export function shmemTruncateRange(vfs: Vfs, inode: FsInode, lstart: bigint, lend: bigint): void {
  const ft = vfs.host.ft;
  truncateInodePagesRange(vfs.host, inode.mapping, lstart, lend, (_f, nr) => shmemUnacctBlocks(inode, nr), (f) => (ft.flags[f]! & PG.UPTODATE) !== 0);
}

/** Change i_size; shrinking unmaps everything beyond, including private COW copies. */
// mirrors mm/shmem.c:shmem_setattr (ATTR_SIZE)
function shmemSetattrSize(vfs: Vfs, file: File, newsize: bigint): ErrnoName | null {
  const inode = file.inode as FsInode;
  const oldsize = inode.size;
  if (newsize < oldsize && inode.seals & F_SEAL_SHRINK) return 'EPERM';
  if (newsize > oldsize && inode.seals & F_SEAL_GROW) return 'EPERM';
  inode.size = newsize;
  if (newsize <= oldsize) {
    // round_up(newsize, PAGE_SIZE): a page multiple, so exact as a number.
    const holebegin = ((newsize + PAGE_MASK_BIG) >> PAGE_SHIFT_BIG) << PAGE_SHIFT_BIG;
    if (oldsize > holebegin) unmapMappingRange(vfs.host, inode.mapping, Number(holebegin), 0, true);
    if (inode.mapping.nrpages > 0) shmemTruncateRange(vfs, inode, newsize, -1n);
    // Again, for private pages COWed meanwhile.
    if (oldsize > holebegin) unmapMappingRange(vfs.host, inode.mapping, Number(holebegin), 0, true);
  }
  return null;
}

/** The file-system part of fallocate(2) for tmpfs (the VFS checks have passed). */
// mirrors mm/shmem.c:shmem_fallocate
function shmemFallocate(vfs: Vfs, file: File, mode: number, offset: bigint, len: bigint): ErrnoName | null {
  const inode = file.inode as FsInode;
  const host = vfs.host;
  if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE)) return 'EOPNOTSUPP';
  if (mode & FALLOC_FL_PUNCH_HOLE) {
    if (inode.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) return 'EPERM';
    const end = offset + len;
    // The whole pages inside: round_up(offset) to round_down(offset + len), as page indices (exact as numbers).
    const first = Number((offset + PAGE_MASK_BIG) >> PAGE_SHIFT_BIG);
    const last = Number(end >> PAGE_SHIFT_BIG);
    // Hole punching leaves private COW copies alone (even_cows = 0).
    if (last > first) unmapMappingPages(host, inode.mapping, first, last - 1, false);
    shmemTruncateRange(vfs, inode, offset, end - 1n);
    return null;
  }
  // inode_newsize_ok is checked even with KEEP_SIZE.
  if (offset + len > inode.sb.maxBytes) return 'EFBIG';
  if (inode.seals & F_SEAL_GROW && offset + len > inode.size) return 'EPERM';
  const start = Number(offset >> PAGE_SHIFT_BIG);
  const end = Number((offset + len + PAGE_MASK_BIG) >> PAGE_SHIFT_BIG);
  const added: number[] = [];
  for (let index = start; index < end; ) {
    const existed = filemapGetFolio(inode.mapping, index) !== 0;
    const r = shmemGetFolio(vfs, inode, index, Sgp.FALLOC, { vma: null, address: 0, writeEnd: offset + len });
    if (typeof r === 'string') {
      // Undo what this call added and is still unused.
      for (const f of added) {
        if (host.ft.owner[f] !== null && host.ft.flags[f]! & PG.FALLOC) {
          const nr = folioNrPages(host.ft, f);
          truncateInodeFolio(host, inode.mapping, f);
          shmemUnacctBlocks(inode, nr);
        }
      }
      return r;
    }
    if (!existed) added.push(r);
    // folio_next_index: a huge folio covers the indices after this one too.
    index = host.ft.index[r]! + folioNrPages(host.ft, r);
    host.folioPut(r);
  }
  if (!(mode & FALLOC_FL_KEEP_SIZE) && offset + len > inode.size) inode.size = offset + len;
  return null;
}

/** Read count bytes at pos into buf (pos < i_size already checked by the caller). */
// mirrors mm/shmem.c:shmem_file_read_iter
function shmemRead(vfs: Vfs, file: File, buf: Uint8Array, count: number, pos: bigint): number {
  const inode = file.inode as FsInode;
  return filemapReadInto(vfs.host, inode.size, buf, count, pos, (index) => {
    const r = shmemGetFolio(vfs, inode, index, Sgp.READ);
    return typeof r === 'number' ? r : 0;
  }, true);
}

/** Write count bytes from buf at pos; returns bytes written or an errno if none. */
// mirrors mm/shmem.c:shmem_file_write_iter (generic_perform_write with shmem_write_begin/end)
function shmemWrite(vfs: Vfs, file: File, buf: Uint8Array, count: number, pos: bigint): number | ErrnoName {
  const inode = file.inode as FsInode;
  const host = vfs.host;
  if (count === 0) return 0;
  if (pos >= inode.sb.maxBytes) return 'EFBIG';
  if (inode.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) return 'EPERM';
  if (inode.seals & F_SEAL_GROW && pos + BigInt(count) > inode.size) return 'EPERM';
  let index = Number(pos >> PAGE_SHIFT_BIG);
  let off = Number(pos & PAGE_MASK_BIG);
  let done = 0;
  let err: ErrnoName | null = null;
  while (done < count) {
    const chunk = Math.min(count - done, PAGE_SIZE - off);
    const r = shmemGetFolio(vfs, inode, index, Sgp.WRITE, { vma: null, address: 0, writeEnd: pos + BigInt(count) });
    if (typeof r === 'string') {
      err = r;
      break;
    }
    // A large folio: the page's offset inside it.
    host.content.write(r, folioNrPages(host.ft, r), (index - host.ft.index[r]!) * PAGE_SIZE + off, buf, done, chunk);
    host.ev[Ev.COPY_BYTES] += chunk; // copy_page_from_iter_atomic
    host.ft.flags[r]! |= PG.DIRTY | PG.UPTODATE;
    host.ft.flags[r]! &= ~PG.FALLOC;
    host.folioPut(r);
    done += chunk;
    index++;
    off = 0;
  }
  if (done === 0) return err ?? 0;
  // shmem_write_end extends i_size over what was copied.
  const end = pos + BigInt(done);
  if (end > inode.size) inode.size = end;
  return done;
}

/** Drop every page when the last reference to an unlinked inode goes. */
// mirrors mm/shmem.c:shmem_evict_inode (and shmem_free_inode)
function shmemEvict(vfs: Vfs, inode: FsInode): void {
  shmemTruncateRange(vfs, inode, 0n, -1n);
  (inode.sb as ShmemSb).usedInodes--;
}

/** A new inode on sb (nlink 0; the caller links it), or ENOSPC past nr_inodes. */
// mirrors mm/shmem.c:shmem_get_inode (with shmem_reserve_inode)
function shmemGetInode(vfs: Vfs, sb: ShmemSb, mode: number): FsInode | 'ENOSPC' {
  if (sb.maxInodes !== 0 && sb.usedInodes >= sb.maxInodes) return 'ENOSPC';
  sb.usedInodes++;
  return vfs.newInode(sb, mode, shmemAops, (i) => shmemEvict(vfs, i));
}

/** The operations tables, bound to one Vfs. */
export interface ShmemFs {
  readonly vmOps: VmOperations;
  readonly fileOps: FsFileOps;
  /** The internal mount (shm_mnt) that memfd and shared anonymous memory use. */
  readonly sb: ShmemSb;
  /** A new tmpfs instance (a mount): size and nr_inodes limits, 0 for none; dev is its st_dev. */
  mount(maxBlocks: number, maxInodes: number, dev: number): ShmemSb;
  /** A new inode on a tmpfs instance (regular file or directory), nlink 0; ENOSPC past nr_inodes. */
  newInode(sb: ShmemSb, mode: number): FsInode | 'ENOSPC';
  /** Create an unlinked tmpfs file of size bytes (shmem_file_setup with VM_NORESERVE: nothing is charged). */
  fileSetup(name: string, size: bigint, path: string, mode?: number): OpenFile;
  /** Back a shared anonymous VMA with a new shmem file (shmem_zero_setup); ENOMEM if it cannot be charged. */
  zeroSetup(vma: Vma, size: number): ErrnoName | null;
}

export function shmemFs(vfs: Vfs): ShmemFs {
  const uffd: VmUffdOps = {
    mfillAtomicPte: (vma, pgoff, fill, install) => shmemMfillAtomicPte(vfs, vma, pgoff, fill, install),
    getFolioNoalloc: (vma, pgoff) => shmemGetFolioNoalloc(vfs, vma.file!.inode as FsInode, pgoff),
  };
  const thpOps = (anon: boolean): VmShmemOps => ({
    anon,
    hugeOrders: (vma, index, force) => shmemAllowableHugeOrders(vfs, vma.file!.inode as FsInode, vma, index, 0n, force),
    getFolioNoalloc: (inode, index) => shmemGetFolioNoalloc(vfs, inode as FsInode, index),
    // mirrors mm/shmem.c:shmem_charge (the page cache's nrpages is the collapse's to update)
    charge: (inode, pages) => shmemAcctBlocks(inode as FsInode, pages),
    uncharge: (inode, pages) => shmemUnacctBlocks(inode as FsInode, pages),
  });
  const vmOps: VmOperations = {
    name: 'shmem',
    mapPages: true,
    fault: (vmf) => shmemFault(vfs, vmf),
    uffd,
    shmem: thpOps(false),
  };
  // shmem_anon_vm_ops: shared anonymous memory (vma_is_anon_shmem).
  const anonVmOps: VmOperations = { ...vmOps, shmem: thpOps(true) };
  const fileOps: FsFileOps = {
    // mirrors mm/shmem.c:shmem_mmap
    mmap: (_file, vma) => {
      vma.ops = vmOps;
      return null;
    },
    fallocate: (file, mode, offset, len) => shmemFallocate(vfs, file, mode, offset, len),
    shmemHuge: (file) => ((file.inode as FsInode).sb as ShmemSb).huge !== 'never',
    read: (file, buf, count, pos) => shmemRead(vfs, file, buf, count, pos),
    write: (file, buf, count, pos) => shmemWrite(vfs, file, buf, count, pos),
    setattrSize: (file, size) => shmemSetattrSize(vfs, file, size),
    // noop_fsync: there is nothing to write back.
    fsync: () => null,
  };
  const newSb = (maxBlocks: number, maxInodes: number, dev: number): ShmemSb => ({
    fsType: 'tmpfs',
    blockSize: PAGE_SIZE,
    maxBytes: MAX_LFS_FILESIZE,
    magic: TMPFS_MAGIC,
    dev,
    maxBlocks,
    maxInodes,
    usedBlocks: 0,
    usedInodes: 0,
    huge: 'never',
  });
  // The internal mount is unlimited (SB_KERNMOUNT), anonymous device 0:1.
  const sb = newSb(0, 0, 1);
  // mirrors mm/shmem.c:__shmem_file_setup (after the size and accounting checks)
  const fileSetup = (_name: string, size: bigint, path: string, mode = S_IFREG | 0o777): OpenFile => {
    const inode = shmemGetInode(vfs, sb, mode) as FsInode;
    inode.size = size;
    return new OpenFile(vfs, inode, FMode.READ | FMode.WRITE | FMode.LSEEK | FMode.PREAD | FMode.PWRITE | FMode.CAN_READ | FMode.CAN_WRITE, 0o2, fileOps, path);
  };
  // mirrors mm/shmem.c:shmem_zero_setup (-> shmem_kernel_file_setup -> __shmem_file_setup)
  const zeroSetup = (vma: Vma, size: number): ErrnoName | null => {
    // shmem_acct_size: the whole object is committed up front unless VM_NORESERVE,
    // by the same overcommit policy as private writable mappings. (The model keeps
    // no committed total, so there is no shmem_unacct_size at eviction.)
    if (!(vma.flags & VM.NORESERVE) && !securityVmEnoughMemory(vfs.host, Math.ceil(size / PAGE_SIZE))) return 'ENOMEM';
    const file = fileSetup('dev/zero', BigInt(size), '/dev/zero (deleted)');
    vma.file = file;
    vma.ops = anonVmOps;
    return null;
  };
  return { vmOps, fileOps, sb, mount: newSb, newInode: (s, mode) => shmemGetInode(vfs, s, mode), fileSetup, zeroSetup };
}
