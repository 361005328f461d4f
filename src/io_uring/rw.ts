/**
 * IORING_OP_READ_FIXED / IORING_OP_WRITE_FIXED (mirrors io_uring/rw.c with
 * io_uring/rsrc.c:io_import_fixed): a read or write between a file and a
 * registered buffer. The data moves between the file and the PINNED pages
 * recorded at registration, not through the process's current page tables:
 * if a page was replaced in the page table since (a COW), the I/O still uses
 * the pinned one.
 *
 * A request's outcome is its CQE's res: the bytes transferred, or -errno.
 */
import { type ErrnoName, errno } from '../uapi/errno.js';
import { FMode } from '../mm/fs_types.js';
import type { Host } from '../mm/host.js';
import { PAGE_SIZE } from '../mm/page.js';
import type { OpenFile } from '../fs/file.js';
import { MAX_RW_COUNT } from '../fs/vfs.js';
import type { IoRingCtx, } from './io_uring.js';
import { type IoMappedUbuf, bufNodeLookup } from './rsrc.js';

const I64_MAX = (1n << 63n) - 1n;
const U64_MAX = (1n << 64n) - 1n;

/** The fields of one fixed read/write SQE. */
export interface RwFixedSqe {
  /** IORING_OP_READ_FIXED or IORING_OP_WRITE_FIXED. */
  readonly write: boolean;
  /** sqe->fd: the target file, already looked up (undefined: no such descriptor). */
  readonly file: OpenFile | undefined;
  /** sqe->addr: the user address inside the registered buffer. */
  readonly addr: bigint;
  /** sqe->len (u32). */
  readonly len: number;
  /** sqe->off (u64): the file offset; all ones means the file position. */
  readonly off: bigint;
  /** sqe->buf_index (u16). */
  readonly bufIndex: number;
}

/** validate_fixed_range: [addr, addr + len) inside the buffer, len at most MAX_RW_COUNT. */
// mirrors io_uring/rsrc.c:validate_fixed_range
function validateFixedRange(addr: bigint, len: number, imu: IoMappedUbuf): boolean {
  const end = addr + BigInt(len);
  if (end > U64_MAX) return false;
  if (addr < BigInt(imu.ubuf) || end > BigInt(imu.ubuf + imu.len)) return false;
  return len <= MAX_RW_COUNT;
}

/** Copy between the pinned pages of imu at buffer offset `at` and data[0, n). */
// mirrors io_uring/rsrc.c:io_import_fixed (the bvec over the pinned pages) and the iov_iter copy
function copyPinned(host: Host, imu: IoMappedUbuf, at: number, data: Uint8Array, n: number, toPages: boolean): void {
  // Byte offset of the buffer start within its first page.
  let pos = (imu.ubuf % PAGE_SIZE) + at;
  let done = 0;
  while (done < n) {
    const idx = Math.floor(pos / PAGE_SIZE);
    const po = pos - idx * PAGE_SIZE;
    const chunk = Math.min(n - done, PAGE_SIZE - po);
    const pfn = imu.pages[idx]!;
    const f = host.pfnFolio(pfn);
    const off = (pfn - host.ft.pfn[f]!) * PAGE_SIZE + po;
    if (toPages) host.content.write(f, 1 << host.ft.order[f]!, off, data, done, chunk);
    else host.content.read(f, off, data, done, chunk);
    done += chunk;
    pos += chunk;
  }
}

function res(e: ErrnoName): number {
  return -errno[e];
}

/**
 * Issue one fixed read or write and return its CQE res. Checks in the order
 * the request meets them at issue: the file (EBADF), the registered buffer
 * (EFAULT: no buffer at buf_index, or the range outside it), the file's mode
 * (EBADF) and operations (EINVAL), and the position (rw_verify_area: EINVAL).
 */
// mirrors io_uring/rw.c:io_write_fixed / io_read_fixed (-> io_init_rw_fixed, io_write / io_read)
export function ioRwFixed(ctx: IoRingCtx, sqe: RwFixedSqe): number {
  const file = sqe.file;
  // io_assign_file
  if (file === undefined) return res('EBADF');
  // io_import_reg_buf
  const imu = bufNodeLookup(ctx.bufTable, sqe.bufIndex);
  if (imu === null || !validateFixedRange(sqe.addr, sqe.len, imu)) return res('EFAULT');
  // io_rw_init_file
  if (!(file.fMode & (sqe.write ? FMode.WRITE : FMode.READ))) return res('EBADF');
  const op = sqe.write ? file.fOp.write : file.fOp.read;
  if (op === undefined) return res('EINVAL');
  // io_kiocb_update_pos: -1 is the file position (none for a stream).
  const stream = (file.fMode & FMode.STREAM) !== 0;
  const curPos = sqe.off === U64_MAX;
  let pos = curPos ? (stream ? 0n : file.pos) : BigInt.asIntN(64, sqe.off);
  // rw_verify_area
  if (pos < 0n || pos + BigInt(sqe.len) > I64_MAX) return res('EINVAL');
  if (stream) pos = 0n;
  if (sqe.len === 0) return 0;
  const at = Number(sqe.addr - BigInt(imu.ubuf));
  const data = new Uint8Array(sqe.len);
  let r: number | ErrnoName;
  if (sqe.write) {
    copyPinned(ctx.host, imu, at, data, sqe.len, false);
    r = op(file, data, sqe.len, pos);
  } else {
    r = op(file, data, sqe.len, pos);
    if (typeof r === 'number' && r > 0) copyPinned(ctx.host, imu, at, data, r, true);
  }
  if (typeof r === 'string') return res(r);
  if (curPos && !stream) file.pos += BigInt(r);
  return r;
}
