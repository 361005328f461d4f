/**
 * The generic file syscall paths (mirrors fs/open.c, fs/read_write.c and
 * fs/stat.c): the VFS checks, in the kernel's order, before the file system's
 * own operation. Checks that come before the descriptor lookup (negative
 * lengths and positions) are the caller's, which does the lookup.
 */
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
import { S_IFMT, S_IFREG } from '../uapi/fcntl.js';
import { FMode } from '../mm/fs_types.js';
import type { OpenFile } from './file.js';

/** FALLOC_FL_MODE_MASK (include/linux/falloc.h): the mutually exclusive operations. */
const FALLOC_FL_MODE_MASK =
  FALLOC_FL_PUNCH_HOLE | FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_ZERO_RANGE | FALLOC_FL_INSERT_RANGE | FALLOC_FL_UNSHARE_RANGE | FALLOC_FL_WRITE_ZEROES;

/** INT_MAX & PAGE_MASK: the most a single read or write transfers. */
export const MAX_RW_COUNT = 0x7ffff000;

const I64_MAX = (1n << 63n) - 1n;

/** ftruncate after the length (< 0: EINVAL) and descriptor (EBADF) checks. */
// mirrors fs/open.c:do_ftruncate (-> do_truncate -> notify_change -> ->setattr)
export function doFtruncate(file: OpenFile, length: bigint): ErrnoName | null {
  const inode = file.inode;
  if ((inode.mode & S_IFMT) !== S_IFREG || !(file.fMode & FMode.WRITE)) return 'EINVAL';
  // inode_newsize_ok
  if (length > inode.sb.maxBytes) return 'EFBIG';
  if (file.fOp.setattrSize === undefined) return 'EINVAL';
  return file.fOp.setattrSize(file, Number(length));
}

/** fallocate after the descriptor lookup. */
// mirrors fs/open.c:vfs_fallocate
export function vfsFallocate(file: OpenFile, mode: number, offset: bigint, len: bigint): ErrnoName | null {
  if (offset < 0n || len <= 0n) return 'EINVAL';
  if (mode & ~(FALLOC_FL_MODE_MASK | FALLOC_FL_KEEP_SIZE)) return 'EOPNOTSUPP';
  switch (mode & FALLOC_FL_MODE_MASK) {
    case 0: // FALLOC_FL_ALLOCATE_RANGE
    case FALLOC_FL_UNSHARE_RANGE:
    case FALLOC_FL_ZERO_RANGE:
      break;
    case FALLOC_FL_PUNCH_HOLE:
      if (!(mode & FALLOC_FL_KEEP_SIZE)) return 'EOPNOTSUPP';
      break;
    case FALLOC_FL_COLLAPSE_RANGE:
    case FALLOC_FL_INSERT_RANGE:
    case FALLOC_FL_WRITE_ZEROES:
      if (mode & FALLOC_FL_KEEP_SIZE) return 'EOPNOTSUPP';
      break;
    default:
      return 'EOPNOTSUPP';
  }
  if (!(file.fMode & FMode.WRITE)) return 'EBADF';
  if ((file.inode.mode & S_IFMT) !== S_IFREG) return 'ENODEV';
  // Check for wraparound and the file system's size limit.
  if (offset + len > I64_MAX || offset + len > file.inode.sb.maxBytes) return 'EFBIG';
  if (file.fOp.fallocate === undefined) return 'EOPNOTSUPP';
  return file.fOp.fallocate(file, mode, Number(offset), Number(len));
}

/** What the user buffer can receive: at most buf.length bytes (beyond it is "unmapped"). */
function userBuffer(buf: unknown): Uint8Array | null {
  return buf instanceof Uint8Array ? buf : null;
}

/** pread after the position (< 0: EINVAL) and descriptor (EBADF) checks. */
// mirrors fs/read_write.c:ksys_pread64 (-> vfs_read -> rw_verify_area)
export function vfsPread(file: OpenFile, bufIn: unknown, count: bigint, pos: bigint): number | ErrnoName {
  if (!(file.fMode & FMode.PREAD)) return 'ESPIPE';
  if (!(file.fMode & FMode.READ)) return 'EBADF';
  if (!(file.fMode & FMode.CAN_READ) || file.fOp.read === undefined) return 'EINVAL';
  const buf = userBuffer(bufIn);
  if (buf === null) return 'EFAULT';
  if (count > I64_MAX || pos + count > I64_MAX) return 'EINVAL';
  const n = Number(count > BigInt(MAX_RW_COUNT) ? BigInt(MAX_RW_COUNT) : count);
  if (n === 0) return 0;
  // Copy through a bounce buffer so a too-short user buffer takes what fits (a short copy).
  const tmp = n <= buf.length ? buf : new Uint8Array(n);
  const r = file.fOp.read(file, tmp, n, Number(pos));
  if (typeof r === 'string') return r;
  if (tmp !== buf) {
    const fit = Math.min(r, buf.length);
    buf.set(tmp.subarray(0, fit));
    if (fit < r) return fit > 0 ? fit : 'EFAULT';
  }
  return r;
}

/** pwrite after the position (< 0: EINVAL) and descriptor (EBADF) checks. */
// mirrors fs/read_write.c:ksys_pwrite64 (-> vfs_write -> rw_verify_area)
export function vfsPwrite(file: OpenFile, bufIn: unknown, count: bigint, pos: bigint): number | ErrnoName {
  if (!(file.fMode & FMode.PWRITE)) return 'ESPIPE';
  if (!(file.fMode & FMode.WRITE)) return 'EBADF';
  if (!(file.fMode & FMode.CAN_WRITE) || file.fOp.write === undefined) return 'EINVAL';
  const buf = userBuffer(bufIn);
  if (buf === null) return 'EFAULT';
  if (count > I64_MAX || pos + count > I64_MAX) return 'EINVAL';
  let n = Number(count > BigInt(MAX_RW_COUNT) ? BigInt(MAX_RW_COUNT) : count);
  // The bytes beyond the user buffer are unreadable: a short write, or EFAULT if none.
  let fault = false;
  if (n > buf.length) {
    n = buf.length;
    fault = true;
  }
  if (n === 0) return fault ? 'EFAULT' : 0;
  return file.fOp.write(file, buf, n, Number(pos));
}

/** struct stat, the fields the model keeps. */
export interface Stat {
  st_dev: number;
  st_ino: number;
  st_mode: number;
  st_nlink: number;
  st_uid: number;
  st_gid: number;
  st_size: number;
  st_blksize: number;
  st_blocks: number;
}

// mirrors fs/stat.c:vfs_fstat (generic_fillattr)
export function vfsFstat(file: OpenFile): Stat {
  const i = file.inode;
  return {
    st_dev: i.sb.fsType === 'tmpfs' ? 1 : 2,
    st_ino: i.ino,
    st_mode: i.mode,
    st_nlink: i.nlink,
    st_uid: 0,
    st_gid: 0,
    st_size: i.size,
    st_blksize: i.sb.blockSize,
    st_blocks: i.blocks,
  };
}
