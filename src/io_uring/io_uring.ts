/**
 * io_uring instances (mirrors io_uring/io_uring.c): io_uring_setup makes a
 * ring context behind an "[io_uring]" anonymous-inode file; closing the last
 * reference to that file frees the context and unpins its fixed buffers.
 *
 * The model keeps what fixed buffers need: the context, its buffer table and
 * the ring sizes io_uring_setup reports. Its rings are not memory (nothing to
 * mmap, no SQ/CQ pages allocated or charged); requests are submitted and
 * completed one at a time by the Process convenience calls (see rw.ts).
 * io_uring_setup accepts the flags whose effect it models (IORING_SETUP_CQSIZE,
 * IORING_SETUP_CLAMP) and refuses the others with EINVAL, as a kernel that
 * does not offer them; it reports no IORING_FEAT_* features.
 */
import type { ErrnoName } from '../uapi/errno.js';
import { cUInt, copyStructFromUser, copyStructToUser } from '../uapi/ctypes.js';
import { O_CLOEXEC, O_RDWR } from '../uapi/fcntl.js';
import { IORING_MAX_CQ_ENTRIES, IORING_MAX_ENTRIES, IORING_SETUP_CLAMP, IORING_SETUP_CQSIZE } from '../uapi/io_uring.js';
import type { Host } from '../mm/host.js';
import { anonInodeGetfile } from '../fs/anon_inodes.js';
import type { FsFileOps, OpenFile } from '../fs/file.js';
import type { Vfs } from '../fs/inode.js';
import { type BufTable, sqeBuffersUnregister } from './rsrc.js';

/** The setup flags the model implements. */
const SETUP_FLAGS_MODELLED = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;

const PARAMS_FIELDS = ['sq_entries', 'cq_entries', 'flags', 'sq_thread_cpu', 'sq_thread_idle', 'features', 'wq_fd', 'resv', 'sq_off', 'cq_off'] as const;

/** struct io_ring_ctx, the parts the model keeps. */
export class IoRingCtx {
  /** ctx->buf_table: the registered buffers. */
  readonly bufTable: BufTable = { nodes: [] };
  /** Set once the ring is being freed (percpu_ref_is_dying). */
  dying = false;

  constructor(
    readonly host: Host,
    readonly flags: number,
    readonly sqEntries: number,
    readonly cqEntries: number,
  ) {}
}

/** Free the context: unpin the fixed buffers. */
// mirrors io_uring/io_uring.c:io_ring_ctx_free (io_sqe_buffers_unregister)
function ringCtxFree(ctx: IoRingCtx): void {
  ctx.dying = true;
  if (ctx.bufTable.nodes.length > 0) sqeBuffersUnregister(ctx.host, ctx.bufTable);
}

/** io_uring_fops. */
const ioUringFops: FsFileOps = {
  // mirrors io_uring/io_uring.c:io_uring_release
  release: (file) => ringCtxFree(file.privateData as IoRingCtx),
};

/** Is this an io_uring file (io_is_uring_fops)? */
export function isUringFile(file: OpenFile): boolean {
  return file.fOp === ioUringFops;
}

/** The context behind a ring file. */
export function ringCtx(file: OpenFile): IoRingCtx {
  return file.privateData as IoRingCtx;
}

/** roundup_pow_of_two for 1 <= n <= 2^31. */
function roundupPowOfTwo(n: number): number {
  return 2 ** Math.ceil(Math.log2(n));
}

/** The resv[3] words: all zero, else EINVAL (absent counts as zero). */
function resvZero(v: unknown): boolean {
  if (v === 0) return true;
  if (!Array.isArray(v)) return false;
  for (let i = 0; i < 3; i++) {
    const w = cUInt(v[i] ?? 0);
    if (w === null || w !== 0) return false;
  }
  return true;
}

/**
 * io_uring_setup(entries, params) up to installing the descriptor: copy in
 * params, check them, make the context and its file, and copy the out-fields
 * (sq_entries, cq_entries, features) back. Returns the ring file (no
 * descriptor yet) or the errno.
 */
// mirrors io_uring/io_uring.c:io_uring_setup (-> io_uring_create, io_uring_fill_params)
export function ioUringSetup(vfs: Vfs, entries: number | null, params: unknown): OpenFile | ErrnoName {
  const p = copyStructFromUser(params, PARAMS_FIELDS);
  if (p === null) return 'EFAULT';
  let resvOk: boolean;
  try {
    resvOk = resvZero(p.resv);
  } catch {
    return 'EFAULT';
  }
  if (!resvOk) return 'EINVAL';
  const flags = cUInt(p.flags);
  if (flags === null || flags & ~SETUP_FLAGS_MODELLED) return 'EINVAL';
  // io_uring_fill_params
  if (entries === null || entries === 0) return 'EINVAL';
  if (entries > IORING_MAX_ENTRIES) {
    if (!(flags & IORING_SETUP_CLAMP)) return 'EINVAL';
    entries = IORING_MAX_ENTRIES;
  }
  const sq = roundupPowOfTwo(entries);
  let cq: number;
  if (flags & IORING_SETUP_CQSIZE) {
    let c = cUInt(p.cq_entries);
    if (c === null || c === 0) return 'EINVAL';
    if (c > IORING_MAX_CQ_ENTRIES) {
      if (!(flags & IORING_SETUP_CLAMP)) return 'EINVAL';
      c = IORING_MAX_CQ_ENTRIES;
    }
    cq = roundupPowOfTwo(c);
    if (cq < sq) return 'EINVAL';
  } else {
    cq = 2 * sq;
  }
  const ctx = new IoRingCtx(vfs.host, flags, sq, cq);
  if (!copyStructToUser(params, { sq_entries: sq, cq_entries: cq, features: 0 })) return 'EFAULT';
  // io_uring_get_file: the ring fd is always O_RDWR | O_CLOEXEC.
  return anonInodeGetfile(vfs, 'anon_inode:[io_uring]', ioUringFops, O_RDWR | O_CLOEXEC, ctx);
}
