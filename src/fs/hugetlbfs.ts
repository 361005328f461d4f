/**
 * hugetlbfs files (mirrors fs/hugetlbfs/inode.c) over HugeTLB pools that are
 * empty: the pool sizes (nr_hugepages) default to 0, as on a freshly booted
 * machine, and the model has no way to grow them yet. So the paths behave as
 * Linux's do with empty pools: a reserving mmap fails with ENOMEM, faults get
 * SIGBUS, fallocate fails with ENOSPC, while argument checks (alignment, modes,
 * seals) and the read/write rules are complete.
 */
import type { ErrnoName } from '../uapi/errno.js';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE } from '../uapi/falloc.js';
import { F_SEAL_FUTURE_WRITE, F_SEAL_GROW, F_SEAL_SHRINK, F_SEAL_WRITE, S_IFREG } from '../uapi/fcntl.js';
import { HUGETLBFS_MAGIC } from '../uapi/magic.js';
import { FMode, VmFault, type File, type SuperBlock, type VmOperations } from '../mm/fs_types.js';
import { VM, type Vma } from '../mm/mm_types.js';
import { PAGE_SIZE, PMD_SIZE, PUD_SIZE } from '../mm/page.js';
import { type FsFileOps, OpenFile } from './file.js';
import type { Vfs } from './inode.js';
import { MAX_LFS_FILESIZE } from './shmem.js';

/** A huge page size (struct hstate), e.g. hugepages-2048kB. */
export interface Hstate {
  readonly size: number;
  readonly order: number;
  readonly name: string;
}

export const HSTATE_2M: Hstate = { size: PMD_SIZE, order: 9, name: 'hugepages-2048kB' };
export const HSTATE_1G: Hstate = { size: PUD_SIZE, order: 18, name: 'hugepages-1048576kB' };
export const HSTATES: readonly Hstate[] = [HSTATE_2M, HSTATE_1G];

/** The hstate for a MAP_HUGE_* / MFD_HUGE_* size field (log2 size; 0 = default 2 MiB). */
// mirrors include/linux/hugetlb.h:hstate_sizelog
export function hstateSizelog(log: number): Hstate | undefined {
  if (log === 0) return HSTATE_2M;
  return HSTATES.find((h) => 2 ** log === h.size);
}

export interface HugetlbFs {
  /** Create an unlinked hugetlbfs file of size bytes (hugetlb_file_setup). */
  fileSetup(h: Hstate, size: bigint, path: string): OpenFile;
}

/** The huge page size of a hugetlb VMA (hstate_vma -> huge_page_size). */
function vmaHugePageSize(vma: Vma): number {
  return vma.file?.fOp.hugePageSize ?? PAGE_SIZE;
}

export function hugetlbFs(vfs: Vfs): HugetlbFs {
  const opsFor = new Map<Hstate, FsFileOps>();
  const vmOps: VmOperations = {
    name: 'hugetlb',
    mapPages: false,
    // hugetlb_no_page: beyond EOF, or no page to allocate: SIGBUS.
    fault: () => -VmFault.SIGBUS,
    // mirrors mm/hugetlb.c:hugetlb_vm_op_split: a VMA splits only at a huge page boundary.
    maySplit: (vma, addr) => (addr % vmaHugePageSize(vma) !== 0 ? 'EINVAL' : null),
  };
  const fileOps = (h: Hstate): FsFileOps => {
    let ops = opsFor.get(h);
    if (ops !== undefined) return ops;
    ops = {
      hugePageSize: h.size,
      // mirrors fs/hugetlbfs/inode.c:hugetlbfs_file_mmap
      mmap: (file, vma) => {
        vma.flags |= VM.HUGETLB | VM.DONTEXPAND;
        if (vma.pgoff % (h.size / PAGE_SIZE) !== 0) return 'EINVAL';
        // loff_t: vm_pgoff can put the end of the mapping beyond 2^53.
        const len = BigInt(vma.end - vma.start) + BigInt(vma.pgoff) * BigInt(PAGE_SIZE);
        // hugetlb_reserve_pages: the pools are empty, so any reservation fails.
        if (!(vma.flags & VM.NORESERVE)) return 'ENOMEM';
        if (vma.flags & VM.WRITE && file.inode.size < len) file.inode.size = len;
        vma.ops = vmOps;
        return null;
      },
      // mirrors fs/hugetlbfs/inode.c:hugetlbfs_fallocate
      fallocate: (file, mode, offset, len) => {
        if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE)) return 'EOPNOTSUPP';
        if (mode & FALLOC_FL_PUNCH_HOLE) return file.inode.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) ? 'EPERM' : null;
        if (offset + len > MAX_LFS_FILESIZE) return 'EFBIG';
        if (file.inode.seals & F_SEAL_GROW && offset + len > file.inode.size) return 'EPERM';
        // alloc_hugetlb_folio finds no free huge page.
        return 'ENOSPC';
      },
      // Reads see holes as zeros; there are never pages.
      read: (file, buf, count, pos) => {
        if (pos >= file.inode.size) return 0;
        const left = file.inode.size - pos;
        const n = left < BigInt(count) ? Number(left) : count;
        buf.fill(0, 0, n);
        return n;
      },
      // noop_fsync
      fsync: () => null,
      // mirrors fs/hugetlbfs/inode.c:hugetlbfs_setattr
      setattrSize: (file: File, size: bigint): ErrnoName | null => {
        if (size % BigInt(h.size) !== 0n) return 'EINVAL';
        const inode = file.inode;
        if (size < inode.size && inode.seals & F_SEAL_SHRINK) return 'EPERM';
        if (size > inode.size && inode.seals & F_SEAL_GROW) return 'EPERM';
        inode.size = size;
        return null;
      },
    };
    opsFor.set(h, ops);
    return ops;
  };
  const sbFor = new Map<Hstate, SuperBlock>();
  return {
    fileSetup(h, size, path) {
      let sb = sbFor.get(h);
      if (sb === undefined) {
        // The internal mount of each huge page size (hugetlbfs_vfsmount[]), anonymous device 0:2.
        sb = { fsType: 'hugetlbfs', blockSize: h.size, maxBytes: MAX_LFS_FILESIZE, magic: HUGETLBFS_MAGIC, dev: 2 };
        sbFor.set(h, sb);
      }
      const inode = vfs.newInode(sb, S_IFREG | 0o777, { swapbacked: false, writeback: false }, () => {});
      inode.size = size;
      return new OpenFile(vfs, inode, FMode.READ | FMode.WRITE | FMode.LSEEK | FMode.PREAD | FMode.PWRITE | FMode.CAN_READ, 0o2, fileOps(h), path);
    },
  };
}
