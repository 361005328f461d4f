/**
 * tmpfs / shmem: memfd files and shared anonymous memory (mirrors mm/shmem.c).
 *
 * Folios are order 0, as with the default shmem_enabled=never. A folio
 * allocated by fallocate is not uptodate: reads treat it as a hole and the
 * first fault or write clears it, as shmem does.
 */
import type { ErrnoName } from '../uapi/errno.js';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE } from '../uapi/falloc.js';
import { F_SEAL_FUTURE_WRITE, F_SEAL_GROW, F_SEAL_SHRINK, F_SEAL_WRITE, S_IFREG } from '../uapi/fcntl.js';
import { Ev } from '../cost/counters.js';
import { PG } from '../mm/folio.js';
import { filemapAddFolio, filemapGetFolio, truncateInodeFolio } from '../mm/filemap.js';
import { FMode, VmFault, type File, type SuperBlock, type VmFaultArgs, type VmOperations } from '../mm/fs_types.js';
import { unmapMappingRange } from '../mm/memory.js';
import type { Vma } from '../mm/mm_types.js';
import { GFP_HIGHUSER_MOVABLE } from '../mm/page_alloc.js';
import { PAGE_SIZE } from '../mm/page.js';
import { folioAddLru } from '../mm/rmap.js';
import { type FsFileOps, OpenFile } from './file.js';
import type { FsInode, Vfs } from './inode.js';

/** MAX_LFS_FILESIZE on 64-bit. */
export const MAX_LFS_FILESIZE = (1n << 63n) - 1n;

export const shmemSb: SuperBlock = { fsType: 'tmpfs', blockSize: PAGE_SIZE, maxBytes: MAX_LFS_FILESIZE };

const shmemAops = { swapbacked: true, writeback: false };

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

/**
 * Find or create the folio at index. The returned folio carries one reference
 * for the caller.
 */
// mirrors mm/shmem.c:shmem_get_folio_gfp
export function shmemGetFolio(vfs: Vfs, inode: FsInode, index: number, sgp: Sgp): GetFolio {
  const host = vfs.host;
  const ft = host.ft;
  if (sgp === Sgp.CACHE && index * PAGE_SIZE >= inode.size) return 'EINVAL';
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
  f = host.folioAlloc(0, GFP_HIGHUSER_MOVABLE);
  if (f === 0) return 'ENOMEM';
  if (sgp === Sgp.FALLOC) {
    host.content.setUniform(f, 0);
    ft.flags[f]! |= PG.FALLOC | PG.DIRTY;
  } else {
    host.zeroFolio(f);
    ft.flags[f]! |= PG.UPTODATE;
  }
  filemapAddFolio(host, inode.mapping, f, index);
  folioAddLru(host, f);
  inode.blocks += PAGE_SIZE / 512;
  return f;
}

/** ->fault for shmem mappings. */
// mirrors mm/shmem.c:shmem_fault
function shmemFault(vfs: Vfs, vmf: VmFaultArgs): number {
  const inode = vmf.vma.file!.inode as FsInode;
  const r = shmemGetFolio(vfs, inode, vmf.pgoff, Sgp.CACHE);
  if (r === 'EINVAL') return -VmFault.SIGBUS;
  if (r === 'ENOMEM') return -VmFault.OOM;
  if (typeof r === 'string') return -VmFault.SIGBUS;
  return r;
}

/**
 * Remove [lstart, lend] (bytes, inclusive) from the file: whole pages leave the
 * page cache (and every page-cache mapping of them); the partial pages at the
 * edges are zeroed in place.
 */
// mirrors mm/shmem.c:shmem_undo_range (shmem_truncate_range)
export function shmemTruncateRange(vfs: Vfs, inode: FsInode, lstart: number, lend: number): void {
  const host = vfs.host;
  const ft = host.ft;
  const start = Math.ceil(lstart / PAGE_SIZE);
  const end = Math.floor((lend + 1) / PAGE_SIZE); // exclusive, whole pages
  const victims: number[] = [];
  inode.mapping.pages.forEach(start, end, (_i, _o, f) => {
    victims.push(f);
  });
  for (const f of victims) {
    truncateInodeFolio(host, inode.mapping, f);
    inode.blocks -= PAGE_SIZE / 512;
  }
  const zeroPart = (index: number, from: number, to: number): void => {
    const f = filemapGetFolio(inode.mapping, index);
    if (f === 0 || !(ft.flags[f]! & PG.UPTODATE) || to <= from) return;
    host.content.fill(f, 1, from, to - from, 0);
    host.ev[Ev.ZERO_BYTES] += to - from;
  };
  const partialStart = lstart % PAGE_SIZE;
  const firstIdx = Math.floor(lstart / PAGE_SIZE);
  const lastIdx = Math.floor(lend / PAGE_SIZE);
  if (partialStart !== 0) zeroPart(firstIdx, partialStart, firstIdx === lastIdx ? (lend % PAGE_SIZE) + 1 : PAGE_SIZE);
  const partialEnd = (lend + 1) % PAGE_SIZE;
  if (partialEnd !== 0 && (partialStart === 0 || lastIdx !== firstIdx)) zeroPart(lastIdx, 0, partialEnd);
}

/** Change i_size; shrinking unmaps everything beyond, including private COW copies. */
// mirrors mm/shmem.c:shmem_setattr (ATTR_SIZE)
function shmemSetattrSize(vfs: Vfs, file: File, newsize: number): ErrnoName | null {
  const inode = file.inode as FsInode;
  const oldsize = inode.size;
  if (newsize < oldsize && inode.seals & F_SEAL_SHRINK) return 'EPERM';
  if (newsize > oldsize && inode.seals & F_SEAL_GROW) return 'EPERM';
  inode.size = newsize;
  if (newsize <= oldsize) {
    const holebegin = Math.ceil(newsize / PAGE_SIZE) * PAGE_SIZE;
    if (oldsize > holebegin) unmapMappingRange(vfs.host, inode.mapping, holebegin, 0, true);
    if (inode.mapping.nrpages > 0) shmemTruncateRange(vfs, inode, newsize, Number.MAX_SAFE_INTEGER - 1);
    // Again, for private pages COWed meanwhile.
    if (oldsize > holebegin) unmapMappingRange(vfs.host, inode.mapping, holebegin, 0, true);
  }
  return null;
}

/** The file-system part of fallocate(2) for tmpfs (the VFS checks have passed). */
// mirrors mm/shmem.c:shmem_fallocate
function shmemFallocate(vfs: Vfs, file: File, mode: number, offset: number, len: number): ErrnoName | null {
  const inode = file.inode as FsInode;
  const host = vfs.host;
  if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE)) return 'EOPNOTSUPP';
  if (mode & FALLOC_FL_PUNCH_HOLE) {
    if (inode.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) return 'EPERM';
    const unmapStart = Math.ceil(offset / PAGE_SIZE) * PAGE_SIZE;
    const unmapEnd = Math.floor((offset + len) / PAGE_SIZE) * PAGE_SIZE - 1;
    // Hole punching leaves private COW copies alone (even_cows = 0).
    if (unmapEnd > unmapStart) unmapMappingRange(host, inode.mapping, unmapStart, 1 + unmapEnd - unmapStart, false);
    shmemTruncateRange(vfs, inode, offset, offset + len - 1);
    return null;
  }
  // inode_newsize_ok is checked even with KEEP_SIZE.
  if (BigInt(offset) + BigInt(len) > shmemSb.maxBytes) return 'EFBIG';
  if (inode.seals & F_SEAL_GROW && offset + len > inode.size) return 'EPERM';
  const start = Math.floor(offset / PAGE_SIZE);
  const end = Math.ceil((offset + len) / PAGE_SIZE);
  const added: number[] = [];
  for (let index = start; index < end; index++) {
    const existed = filemapGetFolio(inode.mapping, index) !== 0;
    const r = shmemGetFolio(vfs, inode, index, Sgp.FALLOC);
    if (typeof r === 'string') {
      // Undo what this call added and is still unused.
      for (const f of added) {
        if (host.ft.owner[f] !== null && host.ft.flags[f]! & PG.FALLOC) {
          truncateInodeFolio(host, inode.mapping, f);
          inode.blocks -= PAGE_SIZE / 512;
        }
      }
      return r;
    }
    if (!existed) added.push(r);
    host.folioPut(r);
  }
  if (!(mode & FALLOC_FL_KEEP_SIZE) && offset + len > inode.size) inode.size = offset + len;
  return null;
}

/** Read count bytes at pos into buf (pos < i_size already checked by the caller). */
// mirrors mm/shmem.c:shmem_file_read_iter
function shmemRead(vfs: Vfs, file: File, buf: Uint8Array, count: number, pos: number): number {
  const inode = file.inode as FsInode;
  if (pos >= inode.size) return 0;
  const n = Math.min(count, inode.size - pos);
  const host = vfs.host;
  let done = 0;
  while (done < n) {
    const p = pos + done;
    const index = Math.floor(p / PAGE_SIZE);
    const off = p % PAGE_SIZE;
    const chunk = Math.min(n - done, PAGE_SIZE - off);
    const r = shmemGetFolio(vfs, inode, index, Sgp.READ);
    if (typeof r === 'number' && r !== 0) {
      host.content.read(r, off, buf, done, chunk);
      host.folioPut(r);
    } else {
      buf.fill(0, done, done + chunk);
    }
    done += chunk;
  }
  return n;
}

/** Write count bytes from buf at pos; returns bytes written or an errno if none. */
// mirrors mm/shmem.c:shmem_file_write_iter (generic_perform_write with shmem_write_begin/end)
function shmemWrite(vfs: Vfs, file: File, buf: Uint8Array, count: number, pos: number): number | ErrnoName {
  const inode = file.inode as FsInode;
  const host = vfs.host;
  if (count === 0) return 0;
  if (BigInt(pos) >= shmemSb.maxBytes) return 'EFBIG';
  if (inode.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) return 'EPERM';
  if (inode.seals & F_SEAL_GROW && pos + count > inode.size) return 'EPERM';
  let done = 0;
  while (done < count) {
    const p = pos + done;
    const index = Math.floor(p / PAGE_SIZE);
    const off = p % PAGE_SIZE;
    const chunk = Math.min(count - done, PAGE_SIZE - off);
    const r = shmemGetFolio(vfs, inode, index, Sgp.WRITE);
    if (typeof r === 'string') return done > 0 ? done : r;
    host.content.write(r, 1, off, buf, done, chunk);
    host.ft.flags[r]! |= PG.DIRTY | PG.UPTODATE;
    host.ft.flags[r]! &= ~PG.FALLOC;
    host.folioPut(r);
    done += chunk;
    if (p + chunk > inode.size) inode.size = p + chunk;
  }
  return done;
}

/** Drop every page when the last reference to an unlinked inode goes. */
// mirrors mm/shmem.c:shmem_evict_inode
function shmemEvict(vfs: Vfs, inode: FsInode): void {
  shmemTruncateRange(vfs, inode, 0, Number.MAX_SAFE_INTEGER - 1);
}

/** The operations tables, bound to one Vfs. */
export interface ShmemFs {
  readonly vmOps: VmOperations;
  readonly fileOps: FsFileOps;
  /** Create an unlinked tmpfs file (shmem_file_setup). */
  fileSetup(name: string, size: number, path: string, mode?: number): OpenFile;
  /** Back a shared anonymous VMA with a new shmem file (shmem_zero_setup). */
  zeroSetup(vma: Vma, size: number): ErrnoName | null;
}

export function shmemFs(vfs: Vfs): ShmemFs {
  const vmOps: VmOperations = {
    name: 'shmem',
    mapPages: true,
    fault: (vmf) => shmemFault(vfs, vmf),
  };
  const fileOps: FsFileOps = {
    // mirrors mm/shmem.c:shmem_mmap
    mmap: (_file, vma) => {
      vma.ops = vmOps;
      return null;
    },
    fallocate: (file, mode, offset, len) => shmemFallocate(vfs, file, mode, offset, len),
    read: (file, buf, count, pos) => shmemRead(vfs, file, buf, count, pos),
    write: (file, buf, count, pos) => shmemWrite(vfs, file, buf, count, pos),
    setattrSize: (file, size) => shmemSetattrSize(vfs, file, size),
  };
  // mirrors mm/shmem.c:__shmem_file_setup
  const fileSetup = (_name: string, size: number, path: string, mode = S_IFREG | 0o777): OpenFile => {
    const inode = vfs.newInode(shmemSb, mode, shmemAops, (i) => shmemEvict(vfs, i));
    inode.size = size;
    return new OpenFile(vfs, inode, FMode.READ | FMode.WRITE | FMode.LSEEK | FMode.PREAD | FMode.PWRITE | FMode.CAN_READ | FMode.CAN_WRITE, 0o2, fileOps, path);
  };
  // mirrors mm/shmem.c:shmem_zero_setup
  const zeroSetup = (vma: Vma, size: number): ErrnoName | null => {
    const file = fileSetup('dev/zero', size, '/dev/zero (deleted)');
    vma.file = file;
    vma.ops = vmOps;
    return null;
  };
  return { vmOps, fileOps, fileSetup, zeroSetup };
}
