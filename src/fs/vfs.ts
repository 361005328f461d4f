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
import { O_APPEND, S_IFBLK, S_IFDIR, S_IFIFO, S_IFMT, S_IFREG } from '../uapi/fcntl.js';
import { cUserBuffer, resultSize } from '../uapi/ctypes.js';
import { FMode, InodeFlag } from '../mm/fs_types.js';
import { TASK_SIZE } from '../mm/page.js';
import type { OpenFile, Task } from './file.js';

/** FALLOC_FL_MODE_MASK (include/linux/falloc.h): the mutually exclusive operations. */
const FALLOC_FL_MODE_MASK =
  FALLOC_FL_PUNCH_HOLE | FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_ZERO_RANGE | FALLOC_FL_INSERT_RANGE | FALLOC_FL_UNSHARE_RANGE | FALLOC_FL_WRITE_ZEROES;

/** INT_MAX & PAGE_MASK: the most a single read or write transfers. */
export const MAX_RW_COUNT = 0x7ffff000;

const I64_MAX = (1n << 63n) - 1n;

/**
 * USER_PTR_MAX on x86-64 with 4-level paging and no LAM: TASK_SIZE_MAX. Since
 * v6.12 access_ok(ptr, size) requires ptr + size <= USER_PTR_MAX (no wrap).
 */
const USER_PTR_MAX = BigInt(TASK_SIZE);

/**
 * access_ok(buf, count) for a user buffer. The model's buffers are Uint8Arrays
 * without a user address; it takes the lowest one (0), so a count fails only
 * when no buffer anywhere in user space could pass: count > USER_PTR_MAX.
 * Counts below that pass, and the copy is short where the buffer ends.
 */
// mirrors arch/x86/include/asm/uaccess_64.h:__access_ok
function accessOk(count: bigint): boolean {
  return count <= USER_PTR_MAX;
}

/** ftruncate after the length (< 0: EINVAL) and descriptor (EBADF) checks. */
// mirrors fs/open.c:do_ftruncate (-> do_truncate -> notify_change -> ->setattr)
export function doFtruncate(file: OpenFile, length: bigint): ErrnoName | null {
  const inode = file.inode;
  if ((inode.mode & S_IFMT) !== S_IFREG || !(file.fMode & FMode.WRITE)) return 'EINVAL';
  // inode_newsize_ok: growing past s_maxbytes; not growing an active swap file (its freed blocks would be written).
  if (length > inode.size) {
    if (length > inode.sb.maxBytes) return 'EFBIG';
  } else if (inode.iFlags & InodeFlag.SWAPFILE) return 'ETXTBSY';
  if (file.fOp.setattrSize === undefined) return 'EINVAL';
  return file.fOp.setattrSize(file, length);
}

/**
 * fallocate after the descriptor lookup, in vfs_fallocate's order: EINVAL
 * (offset, len), EOPNOTSUPP (mode), EBADF (not open for writing), ESPIPE (a
 * FIFO), EISDIR (a directory), ENODEV (neither a regular file nor a block
 * device), EFBIG (wrap, s_maxbytes), EOPNOTSUPP (no ->fallocate), then the
 * file system. FALLOC_FL_WRITE_ZEROES (v6.17) sits with COLLAPSE and INSERT.
 */
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
  // Not modelled, so never refused here: append-only and immutable inodes
  // (EPERM), the LSM and fanotify permission hooks.
  if (file.inode.iFlags & InodeFlag.SWAPFILE) return 'ETXTBSY';
  const type = file.inode.mode & S_IFMT;
  if (type === S_IFIFO) return 'ESPIPE';
  if (type === S_IFDIR) return 'EISDIR';
  if (type !== S_IFREG && type !== S_IFBLK) return 'ENODEV';
  // Check for wraparound and the file system's size limit.
  if (offset + len > I64_MAX || offset + len > file.inode.sb.maxBytes) return 'EFBIG';
  if (file.fOp.fallocate === undefined) return 'EOPNOTSUPP';
  return file.fOp.fallocate(file, mode, offset, len);
}

/** Scratch for probing whether a read would return data (never exposed). */
const $probe = new Uint8Array(1);

/** pread after the position (< 0: EINVAL) and descriptor (EBADF) checks. */
// mirrors fs/read_write.c:ksys_pread64
export function vfsPread(file: OpenFile, bufIn: unknown, count: bigint, pos: bigint): number | ErrnoName {
  if (!(file.fMode & FMode.PREAD)) return 'ESPIPE';
  return vfsRead(file, bufIn, count, pos);
}

/** read(2) after the descriptor lookup: at f_pos (advanced), or none for a stream. */
// mirrors fs/read_write.c:ksys_read
export function vfsReadPos(file: OpenFile, bufIn: unknown, count: bigint, current?: Task): number | ErrnoName {
  const stream = (file.fMode & FMode.STREAM) !== 0;
  const r = vfsRead(file, bufIn, count, stream ? 0n : file.pos, current);
  if (typeof r === 'number' && !stream) file.pos += BigInt(r);
  return r;
}

/** write(2) after the descriptor lookup. */
// mirrors fs/read_write.c:ksys_write
export function vfsWritePos(file: OpenFile, bufIn: unknown, count: bigint): number | ErrnoName {
  const stream = (file.fMode & FMode.STREAM) !== 0;
  const r = vfsWrite(file, bufIn, count, stream ? 0n : file.pos);
  if (typeof r === 'number' && !stream) {
    // An O_APPEND write went to the end of the file: the position follows it.
    if (appending(file) && r > 0) file.pos = file.inode.size;
    else file.pos += BigInt(r);
  }
  return r;
}

/** O_APPEND on a regular file: every write goes to i_size (IOCB_APPEND). */
function appending(file: OpenFile): boolean {
  return (file.flags & O_APPEND) !== 0 && (file.inode.mode & S_IFMT) === S_IFREG;
}

// mirrors fs/read_write.c:vfs_read (-> rw_verify_area)
function vfsRead(file: OpenFile, bufIn: unknown, count: bigint, pos: bigint, current?: Task): number | ErrnoName {
  if (!(file.fMode & FMode.READ)) return 'EBADF';
  if (!(file.fMode & FMode.CAN_READ) || file.fOp.read === undefined) return 'EINVAL';
  const buf = cUserBuffer(bufIn);
  if (buf === null || !accessOk(count)) return 'EFAULT';
  // rw_verify_area: (ssize_t)count < 0 cannot pass access_ok; pos + count must not overflow.
  if (pos + count > I64_MAX) return 'EINVAL';
  const n = Number(count > BigInt(MAX_RW_COUNT) ? BigInt(MAX_RW_COUNT) : count);
  if (n === 0) return 0;
  // The bytes beyond the user buffer are unmapped: the copy stops there. Read
  // straight into the buffer what fits; only an empty buffer needs to know
  // whether there was anything to copy (EFAULT) or not (EOF: 0).
  if (buf.length === 0) {
    if (file.fOp.unmappedBuffer !== undefined) return file.fOp.unmappedBuffer(file, false, n, pos);
    const r = file.fOp.read(file, $probe, 1, pos);
    if (typeof r === 'string') return r;
    return r > 0 ? 'EFAULT' : 0;
  }
  return file.fOp.read(file, buf, Math.min(n, buf.length), pos, current, n);
}

/** pwrite after the position (< 0: EINVAL) and descriptor (EBADF) checks. */
// mirrors fs/read_write.c:ksys_pwrite64
export function vfsPwrite(file: OpenFile, bufIn: unknown, count: bigint, pos: bigint): number | ErrnoName {
  if (!(file.fMode & FMode.PWRITE)) return 'ESPIPE';
  return vfsWrite(file, bufIn, count, pos);
}

// mirrors fs/read_write.c:vfs_write (-> rw_verify_area)
function vfsWrite(file: OpenFile, bufIn: unknown, count: bigint, pos: bigint): number | ErrnoName {
  if (!(file.fMode & FMode.WRITE)) return 'EBADF';
  if (!(file.fMode & FMode.CAN_WRITE) || file.fOp.write === undefined) return 'EINVAL';
  const buf = cUserBuffer(bufIn);
  if (buf === null || !accessOk(count)) return 'EFAULT';
  if (pos + count > I64_MAX) return 'EINVAL';
  let n = Number(count > BigInt(MAX_RW_COUNT) ? BigInt(MAX_RW_COUNT) : count);
  // The bytes beyond the user buffer are unreadable: a short write, or EFAULT if none.
  let fault = false;
  if (n > buf.length) {
    n = buf.length;
    fault = true;
  }
  if (n === 0) {
    if (fault && file.fOp.unmappedBuffer !== undefined) return file.fOp.unmappedBuffer(file, true, Number(count > BigInt(MAX_RW_COUNT) ? BigInt(MAX_RW_COUNT) : count), pos);
    return fault ? 'EFAULT' : 0;
  }
  // generic_write_checks_count: O_APPEND writes at the end whatever pos says (pwrite too).
  return file.fOp.write(file, buf, n, appending(file) ? file.inode.size : pos);
}

/** fsync(2) / fdatasync(2) after the descriptor lookup. */
// mirrors fs/sync.c:vfs_fsync_range
export function vfsFsync(file: OpenFile, datasync: boolean): ErrnoName | null {
  if (file.fOp.fsync === undefined) return 'EINVAL';
  return file.fOp.fsync(file, datasync);
}

/** struct stat, the fields the model keeps. */
export interface Stat {
  st_dev: number;
  st_ino: number;
  st_mode: number;
  st_nlink: number;
  st_uid: number;
  st_gid: number;
  /**
   * off_t, exact: a number up to Number.MAX_SAFE_INTEGER (2^53 - 1), as Node's
   * fs.fstatSync gives; a bigint only above that (a tmpfs file may be 2^63 - 1
   * bytes long), where a number would be rounded.
   */
  st_size: number | bigint;
  st_blksize: number;
  st_blocks: number;
}

// mirrors fs/stat.c:vfs_fstat (generic_fillattr)
export function vfsFstat(file: OpenFile): Stat {
  const i = file.inode;
  return {
    st_dev: i.sb.dev,
    st_ino: i.ino,
    st_mode: i.mode,
    st_nlink: i.nlink,
    st_uid: 0,
    st_gid: 0,
    st_size: resultSize(i.size),
    st_blksize: i.blockSize,
    st_blocks: i.blocks,
  };
}
