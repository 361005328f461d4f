/**
 * statfs(2) and fstatfs(2) (mirrors fs/statfs.c): the file system's counts
 * (its ->statfs) plus the mount's flags.
 *
 * The kernel-internal mounts (memfd's tmpfs, hugetlbfs, anon_inodefs,
 * pipefs) are unlimited, so their ->statfs reports no block or inode counts,
 * as shmem_statfs, hugetlbfs_statfs and simple_statfs do there. Mounted file
 * systems (src/fs/namei.ts) register their counts here.
 */
import { NAME_MAX } from '../uapi/limits.js';
import { ST_VALID } from '../uapi/statfs.js';
import type { SuperBlock } from '../mm/fs_types.js';
import type { OpenFile } from './file.js';

/** struct statfs (x86-64: every field a long, f_fsid two ints). */
export interface Statfs {
  /** The file system's magic number (uapi/magic: TMPFS_MAGIC, EXT4_SUPER_MAGIC, ...). */
  f_type: number;
  /** Optimal transfer block size: 4096, or the huge page size on hugetlbfs. */
  f_bsize: number;
  /** Blocks in the file system, in f_frsize units (0: no limit). */
  f_blocks: number;
  f_bfree: number;
  /** Free blocks an unprivileged user may use. */
  f_bavail: number;
  /** Inodes (0: no limit, or allocated on demand). */
  f_files: number;
  f_ffree: number;
  /** f_fsid.val[0], f_fsid.val[1]. */
  f_fsid: [number, number];
  f_namelen: number;
  f_frsize: number;
  /** ST_* mount flags, with ST_VALID. */
  f_flags: number;
}

/** What a mounted file system reports (its ->statfs). */
export interface StatfsCounts {
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
}

interface Source {
  counts(): StatfsCounts;
  /** ST_* flags of the mount (flags_by_mnt). */
  mntFlags: number;
}

const sources = new WeakMap<SuperBlock, Source>();

/** A mount's ->statfs and mount flags, for the file system on sb. */
export function registerStatfs(sb: SuperBlock, counts: () => StatfsCounts, mntFlags: number): void {
  sources.set(sb, { counts, mntFlags });
}

/** fstatfs(2) after the descriptor lookup: the counts of the file system the file lives on. */
// mirrors fs/statfs.c:vfs_statfs (statfs_by_dentry, calculate_f_flags)
export function vfsStatfs(file: OpenFile): Statfs {
  const sb = file.inode.sb;
  const src = sources.get(sb);
  const c = src?.counts() ?? { blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0 };
  return {
    f_type: sb.magic,
    f_bsize: sb.blockSize,
    f_blocks: c.blocks,
    f_bfree: c.bfree,
    f_bavail: c.bavail,
    f_files: c.files,
    f_ffree: c.ffree,
    // Mounted file systems: from the device number (Linux: the UUID, or the device for tmpfs).
    f_fsid: src === undefined ? [0, 0] : [sb.dev, 0],
    f_namelen: NAME_MAX,
    // statfs_by_dentry: an unset f_frsize is f_bsize.
    f_frsize: sb.blockSize,
    f_flags: ST_VALID | (src?.mntFlags ?? 0),
  };
}
