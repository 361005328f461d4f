/**
 * Pipes (mirrors fs/pipe.c): a ring of PIPE_DEF_BUFFERS (16) pipe buffers,
 * each a page and the live bytes [offset, offset + len) in it.
 *
 *   write(2)    copies into new pages (anon_pipe_buf_ops), merging a short
 *               tail into the last page when it fits (PIPE_BUF_FLAG_CAN_MERGE);
 *   vmsplice(2) queues the caller's own pages, each with a FOLL_GET reference
 *               and no copy (user_page_pipe_buf_ops, src/fs/splice.ts), so a
 *               later change to such a page shows through the pipe;
 *   read(2)     copies out of the pages and drops each page's reference when
 *               its buffer is consumed;
 *   close       of the last end releases every buffer.
 *
 * Every pipe buffer holds one reference on its page, recorded in the host's
 * GUP ledger as a FOLL_GET reference (the oracle's channel for references held
 * outside page tables and page caches): the spliced pages' references come
 * from get_user_pages_fast, and a page write(2) allocates starts with the
 * allocation's reference, recorded the same way. Both are dropped with
 * put_page.
 *
 * Simplifications: the model is single-threaded, so a read of an empty pipe
 * that still has writers, or a write to a full pipe, cannot wait for another
 * task: it returns what it did, or EAGAIN, as with O_NONBLOCK. SIGPIPE is not
 * delivered (as if ignored): writing to a pipe without readers is EPIPE. There
 * is no spare-page cache (pipe->tmp_page), no F_SETPIPE_SZ, no notification
 * pipes (O_NOTIFICATION_PIPE is ENOPKG, as without CONFIG_WATCH_QUEUE), and
 * a write whose user buffer ends early writes up to its end (Linux drops the
 * partly copied page and returns the bytes before it).
 */
import { Ev } from '../cost/counters.js';
import type { ErrnoName } from '../uapi/errno.js';
import { O_CLOEXEC, O_DIRECT, O_EXCL, O_NONBLOCK } from '../uapi/fcntl.js';
import { PIPE_DEF_BUFFERS } from '../uapi/uio.js';
import { type File, FMode } from '../mm/fs_types.js';
import { putPage } from '../mm/gup.js';
import type { Host } from '../mm/host.js';
import { GFP_KERNEL } from '../mm/page_alloc.js';
import { PAGE_SIZE } from '../mm/page.js';
import { pipeGetfile } from './anon_inodes.js';
import type { FsFileOps, OpenFile } from './file.js';
import type { Vfs } from './inode.js';

/** pipe_buffer flags (include/linux/pipe_fs_i.h). */
export const enum PipeBufFlag {
  LRU = 0x01,
  ATOMIC = 0x02,
  GIFT = 0x04,
  /** O_DIRECT pipes: a read consumes a whole buffer. */
  PACKET = 0x08,
  /** write(2) may append to this buffer's page. */
  CAN_MERGE = 0x10,
  WHOLE = 0x20,
}

/** struct pipe_buffer: one page of a pipe (a pfn: the model's struct page pointer). */
export interface PipeBuffer {
  pfn: number;
  offset: number;
  len: number;
  flags: number;
}

/** O_NOTIFICATION_PIPE (include/uapi/linux/watch_queue.h): O_EXCL reused. */
export const O_NOTIFICATION_PIPE = O_EXCL;

/** struct pipe_inode_info. */
export class PipeInodeInfo {
  /** The ring, oldest first (tail at 0, head at the end). */
  readonly bufs: PipeBuffer[] = [];
  /** max_usage: buffers the ring may hold. */
  readonly maxUsage = PIPE_DEF_BUFFERS;
  readers = 0;
  writers = 0;

  constructor(readonly host: Host) {}

  /** pipe_full */
  full(): boolean {
    return this.bufs.length >= this.maxUsage;
  }

  /** Bytes queued (what FIONREAD reports). */
  bytes(): number {
    let n = 0;
    for (const b of this.bufs) n += b.len;
    return n;
  }

  /**
   * add_to_pipe: queue buf, or release its page and return EPIPE (no readers)
   * or EAGAIN (full). Returns the bytes added.
   */
  // mirrors fs/splice.c:add_to_pipe
  add(buf: PipeBuffer): number | ErrnoName {
    let err: ErrnoName;
    if (this.readers === 0) err = 'EPIPE';
    else if (this.full()) err = 'EAGAIN';
    else {
      this.bufs.push(buf);
      return buf.len;
    }
    pipeBufRelease(this.host, buf);
    return err;
  }

  /** Copy n bytes from the oldest buffer into out[at..] (pipe_buf_confirm + copy_page_to_iter). */
  copyOut(buf: PipeBuffer, out: Uint8Array, at: number, n: number): void {
    const host = this.host;
    const f = host.pfnFolio(buf.pfn);
    host.content.read(f, (buf.pfn - host.ft.pfn[f]!) * PAGE_SIZE + buf.offset, out, at, n);
  }

  /** Drop the oldest buffer. */
  // mirrors fs/pipe.c:pipe_buf_release (via anon_pipe_buf_release / page_cache_pipe_buf_release)
  consume(): void {
    pipeBufRelease(this.host, this.bufs.shift()!);
  }

  /** free_pipe_info: release every buffer. */
  // mirrors fs/pipe.c:free_pipe_info
  free(): void {
    while (this.bufs.length > 0) this.consume();
  }
}

/** Release a buffer's page reference (anon_pipe_buf_release / page_cache_pipe_buf_release). */
// mirrors fs/pipe.c:anon_pipe_buf_release (no tmp_page cache)
export function pipeBufRelease(host: Host, buf: PipeBuffer): void {
  putPage(host, buf.pfn);
}

/** The pipe behind a file, if it is a pipe end (get_pipe_info). */
// mirrors fs/pipe.c:get_pipe_info
export function getPipeInfo(file: File): PipeInodeInfo | null {
  const p = (file as OpenFile).privateData;
  return (file.fOp as FsFileOps) === pipefifoFops && p instanceof PipeInodeInfo ? p : null;
}

// mirrors fs/pipe.c:pipe_read
function pipeRead(file: File, out: Uint8Array, count: number): number | ErrnoName {
  const pipe = getPipeInfo(file)!;
  let total = count;
  let ret = 0;
  for (;;) {
    if (pipe.bufs.length > 0) {
      const buf = pipe.bufs[0]!;
      const chars = Math.min(buf.len, total);
      pipe.copyOut(buf, out, ret, chars);
      pipe.host.ev[Ev.COPY_BYTES] += chars; // copy_page_to_iter
      ret += chars;
      buf.offset += chars;
      buf.len -= chars;
      // A packet buffer is consumed whole, whatever was read of it.
      if (buf.flags & PipeBufFlag.PACKET) {
        total = chars;
        buf.len = 0;
      }
      if (buf.len === 0) pipe.consume();
      total -= chars;
      if (total === 0) break;
      if (pipe.bufs.length > 0) continue;
    }
    if (pipe.writers === 0) break;
    if (ret > 0) break;
    // O_NONBLOCK; a blocking read would wait for a writer no other task can be.
    return 'EAGAIN';
  }
  return ret;
}

/** Allocate a page for write(2)'s data: its reference is the pipe buffer's. */
// mirrors fs/pipe.c:anon_pipe_get_page (no spare-page cache)
function pipeAllocPage(host: Host): number {
  const f = host.folioAlloc(0, GFP_KERNEL);
  if (f === 0) return -1;
  host.gupLedgerAdd(f, 0, 1, false);
  return host.ft.pfn[f]!;
}

/** Copy n bytes of src[at..] into buf's page at page offset off. */
function copyIn(host: Host, buf: PipeBuffer, off: number, src: Uint8Array, at: number, n: number): void {
  const f = host.pfnFolio(buf.pfn);
  host.content.write(f, 1 << host.ft.order[f]!, (buf.pfn - host.ft.pfn[f]!) * PAGE_SIZE + off, src, at, n);
  host.ev[Ev.COPY_BYTES] += n; // copy_page_from_iter
}

// mirrors fs/pipe.c:pipe_write
function pipeWrite(file: File, src: Uint8Array, count: number): number | ErrnoName {
  const pipe = getPipeInfo(file)!;
  const host = pipe.host;
  if (pipe.readers === 0) return 'EPIPE';
  let ret = 0;
  // A tail shorter than a page goes into the last buffer if it fits there.
  const chars = count & (PAGE_SIZE - 1);
  if (chars !== 0 && pipe.bufs.length > 0) {
    const last = pipe.bufs[pipe.bufs.length - 1]!;
    const offset = last.offset + last.len;
    if (last.flags & PipeBufFlag.CAN_MERGE && offset + chars <= PAGE_SIZE) {
      copyIn(host, last, offset, src, 0, chars);
      last.len += chars;
      ret = chars;
      if (ret === count) return ret;
    }
  }
  const packet = (file.flags & O_DIRECT) !== 0;
  for (;;) {
    if (pipe.readers === 0) return ret > 0 ? ret : 'EPIPE';
    if (!pipe.full()) {
      const pfn = pipeAllocPage(host);
      if (pfn < 0) return ret > 0 ? ret : 'ENOMEM';
      const n = Math.min(PAGE_SIZE, count - ret);
      const buf: PipeBuffer = { pfn, offset: 0, len: n, flags: packet ? PipeBufFlag.PACKET : PipeBufFlag.CAN_MERGE };
      copyIn(host, buf, 0, src, ret, n);
      pipe.bufs.push(buf);
      ret += n;
      if (ret === count) break;
    }
    if (!pipe.full()) continue;
    // O_NONBLOCK; a blocking write would wait for a reader no other task can be.
    return ret > 0 ? ret : 'EAGAIN';
  }
  return ret;
}

/**
 * read/write(2) whose user buffer is entirely unreadable/unwritable: Linux
 * gets as far as the copy, so the pipe's own errors come first and no data
 * is consumed.
 */
// mirrors fs/pipe.c:pipe_read / pipe_write up to their first copy
function pipeUnmappedBuffer(file: File, write: boolean, count: number): number | ErrnoName {
  const pipe = getPipeInfo(file)!;
  if (write) {
    if (pipe.readers === 0) return 'EPIPE';
    // The merge into the last page faults first; else a free slot's copy does.
    const chars = count & (PAGE_SIZE - 1);
    const last = pipe.bufs[pipe.bufs.length - 1];
    if (chars !== 0 && last !== undefined && last.flags & PipeBufFlag.CAN_MERGE && last.offset + last.len + chars <= PAGE_SIZE) return 'EFAULT';
    return pipe.full() ? 'EAGAIN' : 'EFAULT';
  }
  // Zero-length buffers ahead are consumed on the way, as pipe_read does.
  while (pipe.bufs.length > 0 && pipe.bufs[0]!.len === 0) pipe.consume();
  if (pipe.bufs.length > 0) return 'EFAULT';
  return pipe.writers === 0 ? 0 : 'EAGAIN';
}

// mirrors fs/pipe.c:pipe_release
function pipeRelease(file: OpenFile): void {
  const pipe = file.privateData as PipeInodeInfo;
  if (file.fMode & FMode.READ) pipe.readers--;
  if (file.fMode & FMode.WRITE) pipe.writers--;
  if (pipe.readers === 0 && pipe.writers === 0) pipe.free();
}

/** pipefifo_fops: the operations of both pipe ends. */
const pipefifoFops: FsFileOps = {
  read: (file, buf, count) => pipeRead(file, buf, count),
  write: (file, buf, count) => pipeWrite(file, buf, count),
  unmappedBuffer: (file, write, count) => pipeUnmappedBuffer(file, write, count),
  release: pipeRelease,
};

/** pipe2 flags (__do_pipe_flags). */
const PIPE2_FLAGS = O_CLOEXEC | O_NONBLOCK | O_DIRECT | O_NOTIFICATION_PIPE;

/**
 * Make a pipe's two ends: [read end, write end], each holding no descriptor
 * yet (refs 0). flags: pipe2's, already validated.
 */
// mirrors fs/pipe.c:create_pipe_files
export function createPipeFiles(vfs: Vfs, flags: number): [OpenFile, OpenFile] | ErrnoName {
  // A notification pipe needs CONFIG_WATCH_QUEUE (watch_queue_init).
  if (flags & O_NOTIFICATION_PIPE) return 'ENOPKG';
  const pipe = new PipeInodeInfo(vfs.host);
  pipe.readers = 1;
  pipe.writers = 1;
  const w = pipeGetfile(vfs, pipefifoFops, false, 1 | (flags & (O_NONBLOCK | O_DIRECT)), pipe);
  const r = pipeGetfile(vfs, pipefifoFops, true, flags & O_NONBLOCK, pipe);
  return [r, w];
}

/** pipe2's flag check: null, or EINVAL. */
// mirrors fs/pipe.c:__do_pipe_flags (the flag check)
export function pipe2FlagsValid(flags: number): boolean {
  return (flags & ~PIPE2_FLAGS) === 0;
}
