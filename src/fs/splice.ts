/**
 * vmsplice(2) (mirrors fs/splice.c, with lib/iov_iter.c's import_iovec and
 * iov_iter_get_pages2).
 *
 * To a pipe's write end, vmsplice queues the caller's pages themselves: each
 * page is taken with get_user_pages_fast (FOLL_GET, read access: no COW is
 * broken and nothing is unshared) and becomes a pipe buffer without a copy.
 * The page stays referenced until the buffer is read or the pipe is freed, so
 * a write to the page before then shows through the pipe, and a COW that
 * replaces the page in the process's page table does not (cow.c's vmsplice
 * cases test both sides of that).
 *
 * From a pipe's read end, vmsplice copies pipe data into the user ranges
 * (vmsplice_to_user, a splice from the pipe).
 *
 * Return values: the bytes moved, or an errno if none were.
 */
import { type ErrnoName, errnoName } from '../uapi/errno.js';
import { SPLICE_F_ALL, SPLICE_F_GIFT, UIO_MAXIOV } from '../uapi/uio.js';
import { type KIovec, copyIovecFromUser } from '../uapi/iovec.js';
import { FMode } from '../mm/fs_types.js';
import { getUserPagesFast, putPage } from '../mm/gup.js';
import type { Host } from '../mm/host.js';
import type { MmStruct } from '../mm/mm_types.js';
import { PAGE_SIZE, TASK_SIZE } from '../mm/page.js';
import { copyToUser } from '../mm/uaccess.js';
import type { OpenFile } from './file.js';
import { PipeBufFlag, getPipeInfo } from './pipe.js';
import { MAX_RW_COUNT } from './vfs.js';

/** Pages one iov_iter_get_pages2 call takes (iter_to_pipe's pages[16]). */
const PAGES_PER_CALL = 16;

/** access_ok(base, len) for a user range given as unsigned bigints. */
function accessOk(base: bigint | null, len: bigint): base is bigint {
  return base !== null && base + len <= BigInt(TASK_SIZE);
}

/**
 * import_iovec: copy nr iovecs from uvec, check each range with access_ok and
 * cap the total at MAX_RW_COUNT (later segments shrink, possibly to 0).
 * Returns the segments (lengths as numbers) or an errno.
 */
// mirrors lib/iov_iter.c:__import_iovec (and __import_iovec_ubuf for one segment)
export function importIovec(uvec: unknown, nr: number): KIovec[] | ErrnoName {
  if (nr === 0) return [];
  if (nr > UIO_MAXIOV) return 'EINVAL';
  const iov = copyIovecFromUser(uvec, nr);
  if (typeof iov === 'string') return iov;
  let total = 0n;
  for (const seg of iov) {
    // import_ubuf caps a single segment before its access_ok; the vector path checks first.
    if (nr === 1 && seg.len > BigInt(MAX_RW_COUNT)) seg.len = BigInt(MAX_RW_COUNT);
    if (!accessOk(seg.base, seg.len)) return 'EFAULT';
    if (seg.len > BigInt(MAX_RW_COUNT) - total) seg.len = BigInt(MAX_RW_COUNT) - total;
    total += seg.len;
  }
  return iov;
}

/** wait_for_space: EPIPE without readers; a full pipe is EAGAIN (the model cannot wait). */
// mirrors fs/splice.c:wait_for_space
function waitForSpace(file: OpenFile): ErrnoName | null {
  const pipe = getPipeInfo(file)!;
  if (pipe.readers === 0) return 'EPIPE';
  if (!pipe.full()) return null;
  // SPLICE_F_NONBLOCK, or a blocking call that would wait for a reader forever.
  return 'EAGAIN';
}

/**
 * Queue the pages of the user ranges into the pipe: up to 16 pages of one
 * segment per get_user_pages_fast call, one pipe buffer per page; when the
 * pipe fills, the pages already taken but not queued are put back.
 */
// mirrors fs/splice.c:iter_to_pipe (with iov_iter_get_pages2 on a user iovec)
function iterToPipe(host: Host, mm: MmStruct, file: OpenFile, iov: KIovec[], bufFlags: number): number | ErrnoName {
  const pipe = getPipeInfo(file)!;
  const pages: number[] = [];
  let total = 0;
  let seg = 0;
  let segOff = 0;
  for (;;) {
    // first_iovec_segment: skip empty segments.
    while (seg < iov.length && Number(iov[seg]!.len) - segOff === 0) {
      seg++;
      segOff = 0;
    }
    if (seg === iov.length) break;
    const addr = Number(iov[seg]!.base!) + segOff;
    const left = Number(iov[seg]!.len) - segOff;
    const start = addr % PAGE_SIZE;
    const want = Math.min(Math.ceil((left + start) / PAGE_SIZE), PAGES_PER_CALL);
    pages.length = 0;
    const res = getUserPagesFast(host, mm, addr - start, want, 0, pages);
    if (res <= 0) return total > 0 ? total : res === 0 ? 0 : errnoOf(res);
    let got = Math.min(left, res * PAGE_SIZE - start);
    segOff += got;
    let off = start;
    for (let i = 0; i < res; i++) {
      const size = Math.min(got, PAGE_SIZE - off);
      const r = pipe.add({ pfn: pages[i]!, offset: off, len: size, flags: bufFlags });
      if (typeof r === 'string') {
        // add_to_pipe dropped this page; put the rest back.
        for (let k = i + 1; k < res; k++) putPage(host, pages[k]!);
        return total > 0 ? total : r;
      }
      total += r;
      got -= size;
      off = 0;
    }
  }
  return total;
}

// mirrors fs/splice.c:vmsplice_to_pipe
function vmspliceToPipe(host: Host, mm: MmStruct, file: OpenFile, iov: KIovec[], flags: number): number | ErrnoName {
  const bufFlags = flags & SPLICE_F_GIFT ? PipeBufFlag.GIFT : 0;
  if (getPipeInfo(file) === null) return 'EBADF';
  const e = waitForSpace(file);
  if (e !== null) return e;
  return iterToPipe(host, mm, file, iov, bufFlags);
}

/** Copy pipe data into the user ranges, consuming what was copied. */
// mirrors fs/splice.c:vmsplice_to_user (__splice_from_pipe with pipe_to_user)
function vmspliceToUser(host: Host, mm: MmStruct, file: OpenFile, iov: KIovec[]): number | ErrnoName {
  const pipe = getPipeInfo(file);
  if (pipe === null) return 'EBADF';
  let want = 0;
  for (const s of iov) want += Number(s.len);
  let ret = 0;
  let seg = 0;
  let segOff = 0;
  const tmp = new Uint8Array(PAGE_SIZE);
  while (ret < want) {
    // splice_from_pipe_next: wait for data, unless there is no writer left.
    if (pipe.bufs.length === 0) {
      if (pipe.writers === 0 || ret > 0) break;
      // SPLICE_F_NONBLOCK, or a blocking call that would wait for a writer forever.
      return 'EAGAIN';
    }
    const buf = pipe.bufs[0]!;
    let n = Math.min(buf.len, want - ret);
    // pipe_to_user copies one buffer into the iterator, across segments.
    let copied = 0;
    while (copied < n) {
      while (Number(iov[seg]!.len) - segOff === 0) {
        seg++;
        segOff = 0;
      }
      const chunk = Math.min(n - copied, Number(iov[seg]!.len) - segOff);
      pipe.copyOut({ ...buf, offset: buf.offset + copied }, tmp, 0, chunk);
      const notDone = copyToUser(host, mm, Number(iov[seg]!.base!) + segOff, tmp.subarray(0, chunk));
      if (notDone !== 0) {
        // A short copy fails the whole buffer's actor: nothing of it is consumed.
        return ret > 0 ? ret : 'EFAULT';
      }
      copied += chunk;
      segOff += chunk;
    }
    n = copied;
    ret += n;
    buf.offset += n;
    buf.len -= n;
    if (buf.len === 0 || buf.flags & PipeBufFlag.PACKET) pipe.consume();
  }
  return ret;
}

/**
 * vmsplice(fd, iov, nr_segs, flags) after the descriptor lookup (file may be
 * undefined: EBADF). nr_segs is already an unsigned int (import_iovec's);
 * null stands for an argument with no C value (EINVAL where it is checked).
 */
// mirrors fs/splice.c:SYSCALL_DEFINE4(vmsplice)
export function doVmsplice(host: Host, mm: MmStruct, file: OpenFile | undefined, uiov: unknown, nrSegs: number | null, flags: number | null): number | ErrnoName {
  if (flags === null || flags & ~SPLICE_F_ALL) return 'EINVAL';
  // vmsplice_type: the direction comes from the file's mode.
  if (file === undefined) return 'EBADF';
  let toPipe: boolean;
  if (file.fMode & FMode.WRITE) toPipe = true;
  else if (file.fMode & FMode.READ) toPipe = false;
  else return 'EBADF';
  if (nrSegs === null) return 'EINVAL';
  const iov = importIovec(uiov, nrSegs);
  if (typeof iov === 'string') return iov;
  let count = 0n;
  for (const s of iov) count += s.len;
  if (count === 0n) return 0;
  return toPipe ? vmspliceToPipe(host, mm, file, iov, flags) : vmspliceToUser(host, mm, file, iov);
}

/** The errno name of a negative kernel return value. */
function errnoOf(ret: number): ErrnoName {
  return errnoName(-ret) ?? 'EFAULT';
}
