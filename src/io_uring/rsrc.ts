/**
 * io_uring registered (fixed) buffers (mirrors io_uring/rsrc.c and
 * io_uring/memmap.c:io_pin_pages).
 *
 * IORING_REGISTER_BUFFERS pins each buffer with pin_user_pages_fast(FOLL_WRITE
 * | FOLL_LONGTERM) in the registering task's mm. A buffer made of whole large
 * folios of one size (a THP) is coalesced as Linux does: one pin per folio is
 * kept and the others are dropped ("the entire folio will remain pinned").
 * The pinned pages are the buffer from then on: fixed reads and writes move
 * data to and from them, whatever the process's page tables map later.
 *
 * Simplifications: no RLIMIT_MEMLOCK / pinned_vm accounting (the model's
 * tasks have CAP_IPC_LOCK), no buffer tags, no sparse tables beyond
 * NULL iovecs, no IORING_REGISTER_BUFFERS2 / _UPDATE / CLONE_BUFFERS.
 */
import { type ErrnoName, errnoName } from '../uapi/errno.js';
import { IORING_MAX_REG_BUFFERS } from '../uapi/io_uring.js';
import { type KIovec, copyIovecFromUser } from '../uapi/iovec.js';
import { coalescePinsToFolio, pinUserPagesFast, unpinUserPages } from '../mm/gup.js';
import type { Host } from '../mm/host.js';
import type { MmStruct } from '../mm/mm_types.js';
import { PAGE_SIZE } from '../mm/page.js';

const FOLL_WRITE = 1 << 0;
const FOLL_LONGTERM = 1 << 8;
/** SZ_1G: the largest buffer (io_validate_user_buf_range's "arbitrary limit"). */
const SZ_1G = 2 ** 30;
const ULONG_MAX = (1n << 64n) - 1n;

/**
 * struct io_mapped_ubuf: a registered buffer. pages holds the pfn behind each
 * 4 KiB page of [ubuf, ubuf + len) as pinned at registration (the bvec table);
 * pinned lists the pages that hold the pins (one per page, or one per folio
 * once coalesced).
 */
export interface IoMappedUbuf {
  readonly ubuf: number;
  readonly len: number;
  readonly pages: Float64Array;
  readonly pinned: Float64Array;
  /** folio_shift: PAGE_SHIFT, or the folio size's shift when coalesced. */
  readonly folioShift: number;
}

/** The ring's buffer table (ctx->buf_table): nr slots, null for a sparse slot. */
export interface BufTable {
  nodes: (IoMappedUbuf | null)[];
}

/** io_validate_user_buf_range: 0 < len <= 1 GiB, and no overflow. */
// mirrors io_uring/rsrc.c:io_validate_user_buf_range
function validateUserBufRange(uaddr: bigint, ulen: bigint): ErrnoName | null {
  if (ulen > BigInt(SZ_1G) || ulen === 0n) return 'EFAULT';
  const acct = ((ulen + BigInt(PAGE_SIZE) - 1n) / BigInt(PAGE_SIZE)) * BigInt(PAGE_SIZE);
  if (uaddr + acct > ULONG_MAX) return 'EOVERFLOW';
  return null;
}

/**
 * Pin every page of [uaddr, uaddr + len) writable and long-term; all or
 * nothing (a partial pin is undone and reported as EFAULT).
 */
// mirrors io_uring/memmap.c:io_pin_pages
function ioPinPages(host: Host, mm: MmStruct, uaddr: bigint, len: bigint, pages: number[]): number | ErrnoName {
  let end = uaddr + len;
  if (end > ULONG_MAX) return 'EOVERFLOW';
  end += BigInt(PAGE_SIZE) - 1n;
  if (end > ULONG_MAX) return 'EOVERFLOW';
  const nr = Number(end / BigInt(PAGE_SIZE) - uaddr / BigInt(PAGE_SIZE));
  // Addresses beyond 2^53 are far outside user space: GUP-fast refuses them (EFAULT).
  const start = uaddr > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(uaddr);
  const ret = pinUserPagesFast(host, mm, start, nr, FOLL_WRITE | FOLL_LONGTERM, pages);
  if (ret === nr) return nr;
  if (ret >= 0) {
    // A partial pin is released; nothing pinned is a fault too.
    if (ret > 0) unpinUserPages(host, pages, ret);
    return 'EFAULT';
  }
  return errnoName(-ret) ?? 'EFAULT';
}

/** What io_check_coalesce_buffer finds: folios of one size covering the pages. */
interface FolioData {
  nrPagesHead: number;
  nrPagesMid: number;
  folioShift: number;
  firstFolioPageIdx: number;
  nrFolios: number;
}

/**
 * Are the pages whole, physically contiguous runs of folios of one size (the
 * first may start inside its folio, the last may end early)?
 */
// mirrors io_uring/rsrc.c:io_check_coalesce_buffer
function checkCoalesceBuffer(host: Host, pages: readonly number[]): FolioData | null {
  const ft = host.ft;
  let folio = host.pfnFolio(pages[0]!);
  const mid = 1 << ft.order[folio]!;
  const data: FolioData = { nrPagesHead: 0, nrPagesMid: mid, folioShift: 12 + ft.order[folio]!, firstFolioPageIdx: pages[0]! - ft.pfn[folio]!, nrFolios: 1 };
  let count = 1;
  for (let i = 1; i < pages.length; i++) {
    if (host.pfnFolio(pages[i]!) === folio && pages[i] === pages[i - 1]! + 1) {
      count++;
      continue;
    }
    if (data.nrFolios === 1) {
      if (pages[i - 1]! - ft.pfn[folio]! !== mid - 1) return null;
      data.nrPagesHead = count;
    } else if (count !== mid) {
      return null;
    }
    folio = host.pfnFolio(pages[i]!);
    if (1 << ft.order[folio]! !== mid || pages[i] !== ft.pfn[folio]) return null;
    count = 1;
    data.nrFolios++;
  }
  if (data.nrFolios === 1) data.nrPagesHead = count;
  return data;
}

/** Keep one pin per folio: drop the others. Returns the pages that keep a pin. */
// mirrors io_uring/rsrc.c:io_coalesce_buffer
function coalesceBuffer(host: Host, pages: readonly number[], data: FolioData): Float64Array {
  const kept = new Float64Array(data.nrFolios);
  let left = pages.length;
  let j = 0;
  for (let i = 0; i < data.nrFolios; i++) {
    const nr = Math.min(i === 0 ? data.nrPagesHead : data.nrPagesMid, left);
    // Drop all but one pin: the entire folio stays pinned.
    if (nr > 1) coalescePinsToFolio(host, pages.slice(j, j + nr), nr);
    kept[i] = pages[j]!;
    j += nr;
    left -= nr;
  }
  return kept;
}

/** Register one buffer: null for a NULL iovec (a sparse slot), or the errno. */
// mirrors io_uring/rsrc.c:io_sqe_buffer_register
function sqeBufferRegister(host: Host, mm: MmStruct, iov: KIovec): IoMappedUbuf | null | ErrnoName {
  if (iov.base === 0n) return iov.len !== 0n ? 'EFAULT' : null;
  // A base no C caller could pass: no page can be pinned there.
  if (iov.base === null) return 'EFAULT';
  const e = validateUserBufRange(iov.base, iov.len);
  if (e !== null) return e;
  const pages: number[] = [];
  const nr = ioPinPages(host, mm, iov.base, iov.len, pages);
  if (typeof nr === 'string') return nr;
  let pinned: Float64Array;
  let folioShift = 12;
  const data = nr > 1 ? checkCoalesceBuffer(host, pages) : null;
  if (data !== null && data.nrPagesMid !== 1) {
    pinned = coalesceBuffer(host, pages, data);
    folioShift = data.folioShift;
  } else {
    pinned = Float64Array.from(pages);
  }
  return { ubuf: Number(iov.base), len: Number(iov.len), pages: Float64Array.from(pages), pinned, folioShift };
}

/** Drop a buffer's pins (io_release_ubuf). */
// mirrors io_uring/rsrc.c:io_buffer_unmap (-> io_release_ubuf)
function bufferUnmap(host: Host, imu: IoMappedUbuf): void {
  const pins = Array.from(imu.pinned);
  unpinUserPages(host, pins, pins.length);
}

/** Unregister every buffer: ENXIO if none are registered. */
// mirrors io_uring/rsrc.c:io_sqe_buffers_unregister
export function sqeBuffersUnregister(host: Host, table: BufTable): ErrnoName | null {
  if (table.nodes.length === 0) return 'ENXIO';
  for (const imu of table.nodes) if (imu !== null) bufferUnmap(host, imu);
  table.nodes = [];
  return null;
}

/**
 * IORING_REGISTER_BUFFERS: register nrArgs iovecs from arg (a user iovec
 * array). On any failure everything registered so far is unpinned again and
 * the table stays empty.
 */
// mirrors io_uring/rsrc.c:io_sqe_buffers_register
export function sqeBuffersRegister(host: Host, mm: MmStruct, table: BufTable, arg: unknown, nrArgs: number): ErrnoName | null {
  if (table.nodes.length !== 0) return 'EBUSY';
  if (nrArgs === 0 || nrArgs > IORING_MAX_REG_BUFFERS) return 'EINVAL';
  const nodes: (IoMappedUbuf | null)[] = new Array<IoMappedUbuf | null>(nrArgs).fill(null);
  let err: ErrnoName | null = null;
  for (let i = 0; i < nrArgs; i++) {
    // iovec_from_user(uvec, 1, ...) of the i-th element.
    const iov = copyIovecFromUser(arg, 1, i);
    if (typeof iov === 'string') {
      err = iov;
      break;
    }
    const node = sqeBufferRegister(host, mm, iov[0]!);
    if (typeof node === 'string') {
      err = node;
      break;
    }
    nodes[i] = node;
  }
  table.nodes = nodes;
  if (err !== null) sqeBuffersUnregister(host, table);
  return err;
}

/** The buffer at index, or null (out of range, or a sparse slot). */
// mirrors io_uring/rsrc.h:io_rsrc_node_lookup
export function bufNodeLookup(table: BufTable, index: number): IoMappedUbuf | null {
  return index < table.nodes.length ? table.nodes[index]! : null;
}
