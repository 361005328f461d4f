/**
 * The userfaultfd file (mirrors the file side of fs/userfaultfd.c): its
 * creation (userfaultfd(2), /dev/userfaultfd's USERFAULTFD_IOC_NEW), read(2)
 * of struct uffd_msg records, the UFFDIO_* ioctls with their argument checks
 * in the kernel's order, and release.
 *
 * Arguments are the structs of include/uapi/linux/userfaultfd.h as objects
 * (src/uapi/userfaultfd.ts). A struct is read when the kernel does its
 * copy_from_user, so its EFAULT comes at that point (for the fill ioctls,
 * after the mmap_changing check); a field no C value could hold is EINVAL
 * there too. Out-fields are written back as the kernel's put_user does.
 *
 * The model cannot block: a read(2) that would wait for a message returns
 * EAGAIN, as with O_NONBLOCK (the file's O_NONBLOCK is kept, for fstat-like
 * introspection only). See src/mm/userfaultfd_k.ts for how faulting tasks
 * wait, and for the monitor that plays the handler thread.
 */
import { type ErrnoName, errno, errnoName } from '../uapi/errno.js';
import { cULong, copyStructFromUser, copyStructToUser } from '../uapi/ctypes.js';
import { O_CLOEXEC, O_RDONLY } from '../uapi/fcntl.js';
import * as U from '../uapi/userfaultfd.js';
import type { Host } from '../mm/host.js';
import { VM, type Vma } from '../mm/mm_types.js';
import { PAGE_SIZE, TASK_SIZE } from '../mm/page.js';
import { MfillMode, mfillAtomic, movePages, mwriteprotectRange, userfaultfdClearVma, userfaultfdRegisterRange, userfaultfdReleaseAll } from '../mm/userfaultfd.js';
import {
  UFFD_MODEL_FEATURES,
  UFFD_SHARED_FCNTL_FLAGS,
  UserfaultfdCtx,
  ctxMmLive,
  userfaultfdCtxRead,
  userfaultfdFlushEvents,
  userfaultfdMissing,
  vmaCanUserfault,
  wakeUserfault,
} from '../mm/userfaultfd_k.js';
import { vmasIn } from '../mm/vma.js';
import { anonInodeGetfile } from './anon_inodes.js';
import type { FsFileOps, OpenFile, Task } from './file.js';
import type { Vfs } from './inode.js';

const PAGE = BigInt(PAGE_SIZE);
const BTASK_SIZE = BigInt(TASK_SIZE);
/** What /proc/pid/fd shows for a userfaultfd. */
const UFFD_PATH = 'anon_inode:[userfaultfd]';

const E = (n: number): ErrnoName => errnoName(-n) ?? 'EINVAL';

// ---------------------------------------------------------------------------
// Argument structs.

/** A nested struct field: absent (a zeroed struct) or an object read field by field; null: EFAULT; 'EINVAL': not a struct. */
function readNested(v: unknown, fields: readonly string[]): Record<string, unknown> | null | 'EINVAL' {
  if (v === 0) return Object.fromEntries(fields.map((f) => [f, 0]));
  if (v === null || (typeof v !== 'object' && typeof v !== 'function')) return 'EINVAL';
  return copyStructFromUser(v, fields);
}

/** A struct with a leading struct uffdio_range `range` plus flat fields: start and len as u64, the rest as u64. */
interface RangeArg {
  start: bigint;
  len: bigint;
  mode: bigint;
}

/** copy_from_user of a struct with a `range` member: EFAULT, EINVAL (no C value), or the values. */
function copyRangeStruct(arg: unknown): RangeArg | 'EFAULT' | 'EINVAL' {
  const s = copyStructFromUser(arg, ['range', 'mode']);
  if (s === null) return 'EFAULT';
  const r = readNested(s.range, ['start', 'len']);
  if (r === null) return 'EFAULT';
  if (r === 'EINVAL') return 'EINVAL';
  const start = cULong(r.start);
  const len = cULong(r.len);
  const mode = cULong(s.mode);
  if (start === null || len === null || mode === null) return 'EINVAL';
  return { start, len, mode };
}

/** copy_from_user of a struct uffdio_range (UNREGISTER, WAKE). */
function copyRange(arg: unknown): { start: bigint; len: bigint } | 'EFAULT' | 'EINVAL' {
  const r = copyStructFromUser(arg, ['start', 'len']);
  if (r === null) return 'EFAULT';
  const start = cULong(r.start);
  const len = cULong(r.len);
  if (start === null || len === null) return 'EINVAL';
  return { start, len };
}

/** A length and start inside the user address space, without wrapping; start may be unaligned. */
// mirrors fs/userfaultfd.c:validate_unaligned_range
function validateUnalignedRange(start: bigint, len: bigint): ErrnoName | null {
  if (len % PAGE !== 0n) return 'EINVAL';
  if (len === 0n) return 'EINVAL';
  if (start >= BTASK_SIZE) return 'EINVAL';
  if (len > BTASK_SIZE - start) return 'EINVAL';
  return null;
}

/** A page-aligned range inside the user address space. */
// mirrors fs/userfaultfd.c:validate_range
function validateRange(start: bigint, len: bigint): ErrnoName | null {
  if (start % PAGE !== 0n) return 'EINVAL';
  return validateUnalignedRange(start, len);
}

/** ZEROPAGE, WRITEPROTECT, CONTINUE and POISON arguments, once valid: below 2^53, as numbers. */
interface RangeModeArg {
  start: number;
  len: number;
  mode: number;
}

/** A C unsigned value that a double holds exactly. */
const isSmallUint = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * copy_from_user of a struct with a `range` member and a `mode`, then
 * validate_range and the mode bits (EINVAL outside modeMask), in the kernel's
 * order. Every fill ioctl comes through here, so plain numbers below 2^53 are
 * checked without bigints; anything else converts as a C caller's value would.
 */
function rangeModeArg(arg: unknown, modeMask: number): RangeModeArg | ErrnoName {
  if (arg === null || (typeof arg !== 'object' && typeof arg !== 'function')) return 'EFAULT';
  let range: unknown;
  let mode: unknown;
  let start: unknown = 0;
  let len: unknown = 0;
  try {
    range = (arg as Record<string, unknown>).range ?? 0;
    mode = (arg as Record<string, unknown>).mode ?? 0;
  } catch {
    return 'EFAULT';
  }
  // An absent range is a zeroed struct uffdio_range; a value that is not an object has no C layout.
  if (range !== 0) {
    if (typeof range !== 'object' && typeof range !== 'function') return 'EINVAL';
    try {
      start = (range as Record<string, unknown>).start ?? 0;
      len = (range as Record<string, unknown>).len ?? 0;
    } catch {
      return 'EFAULT';
    }
  }
  if (isSmallUint(start) && isSmallUint(len) && isSmallUint(mode)) {
    if (start % PAGE_SIZE !== 0 || len % PAGE_SIZE !== 0 || len === 0 || start >= TASK_SIZE || len > TASK_SIZE - start) return 'EINVAL';
    if (mode > 0xffffffff || (mode & ~modeMask) !== 0) return 'EINVAL';
    return { start, len, mode };
  }
  const s = cULong(start);
  const l = cULong(len);
  const m = cULong(mode);
  if (s === null || l === null || m === null) return 'EINVAL';
  const v = validateRange(s, l);
  if (v !== null) return v;
  if (m & ~BigInt(modeMask)) return 'EINVAL';
  return { start: Number(s), len: Number(l), mode: Number(m) };
}

/** put_user of an s64 result field; false: EFAULT. */
function putResult(arg: unknown, field: string, v: number): boolean {
  // copyStructToUser of one field, without building a struct for it (every fill ioctl returns through here).
  try {
    (arg as Record<string, unknown>)[field] = v;
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------
// Creating a userfaultfd.

/**
 * A new userfaultfd for current's mm, installed in current's descriptor
 * table: flags O_CLOEXEC, O_NONBLOCK and UFFD_USER_MODE_ONLY (EINVAL for any
 * other bit), EMFILE without a free descriptor.
 */
// mirrors fs/userfaultfd.c:new_userfaultfd
export function newUserfaultfd(vfs: Vfs, current: Task, flags: number): number | ErrnoName {
  if (flags & ~(UFFD_SHARED_FCNTL_FLAGS | U.UFFD_USER_MODE_ONLY)) return 'EINVAL';
  const mm = current.mm;
  const fds = current.fds;
  if (mm === null || fds === undefined) return 'ESRCH';
  if (!fds.hasFree()) return 'EMFILE';
  const ctx = new UserfaultfdCtx(vfs.host, mm, flags);
  const file = anonInodeGetfile(vfs, UFFD_PATH, fopsOf(vfs), O_RDONLY | (flags & UFFD_SHARED_FCNTL_FLAGS), ctx);
  const fd = fds.install(file, (flags & O_CLOEXEC) !== 0);
  return fd < 0 ? 'EMFILE' : fd;
}

/** Is this open file a userfaultfd? */
export function isUserfaultfdFile(file: OpenFile): boolean {
  return file.privateData instanceof UserfaultfdCtx && file.path === UFFD_PATH;
}

/** The context of a userfaultfd file. */
export function userfaultfdCtxOf(file: OpenFile): UserfaultfdCtx | null {
  return isUserfaultfdFile(file) ? (file.privateData as UserfaultfdCtx) : null;
}

// ---------------------------------------------------------------------------
// read(2).

/** The child's context of a fork event gets a descriptor in the reader's table. */
// mirrors fs/userfaultfd.c:resolve_userfault_fork
function resolveUserfaultFork(vfs: Vfs, current: Task | undefined, nctx: UserfaultfdCtx): number | ErrnoName {
  const fds = current?.fds;
  if (fds === undefined || !fds.hasFree()) return 'EMFILE';
  const file = anonInodeGetfile(vfs, UFFD_PATH, fopsOf(vfs), O_RDONLY | (nctx.flags & UFFD_SHARED_FCNTL_FLAGS), nctx);
  const fd = fds.install(file, (nctx.flags & O_CLOEXEC) !== 0);
  return fd < 0 ? 'EMFILE' : fd;
}

/**
 * Read whole 32-byte messages while the request has room for one: EINVAL
 * before UFFDIO_API or for a request under 32 bytes, EAGAIN when there is
 * nothing to read (the model cannot wait). A message that does not fit the
 * user buffer is consumed and lost (EFAULT), as in Linux.
 */
// mirrors fs/userfaultfd.c:userfaultfd_read_iter
function userfaultfdRead(vfs: Vfs, ctx: UserfaultfdCtx, buf: Uint8Array | null, requested: number, current: Task | undefined): number | ErrnoName {
  if (!ctx.initialized) return 'EINVAL';
  let ret = 0;
  for (;;) {
    if (requested - ret < U.UFFD_MSG_SIZE) return ret > 0 ? ret : 'EINVAL';
    const msg = userfaultfdCtxRead(ctx, (nctx) => resolveUserfaultFork(vfs, current, nctx));
    if (msg === null) return ret > 0 ? ret : 'EAGAIN';
    if (typeof msg === 'string') return ret > 0 ? ret : msg;
    if (buf === null || ret + U.UFFD_MSG_SIZE > buf.length) return ret > 0 ? ret : 'EFAULT';
    buf.set(msg, ret);
    ret += U.UFFD_MSG_SIZE;
  }
}

// ---------------------------------------------------------------------------
// The ioctls.

/** UFFDIO_API: negotiate the API and the features; once only. */
// mirrors fs/userfaultfd.c:userfaultfd_api
function userfaultfdApi(ctx: UserfaultfdCtx, arg: unknown): ErrnoName | null {
  const s = copyStructFromUser(arg, ['api', 'features', 'ioctls']);
  if (s === null) return 'EFAULT';
  const errOut = (e: ErrnoName): ErrnoName => (copyStructToUser(arg, { api: 0, features: 0, ioctls: 0 }) ? e : 'EFAULT');
  const api = cULong(s.api);
  let features = cULong(s.features);
  if (api === null || features === null || api !== BigInt(U.UFFD_API)) return errOut('EINVAL');
  // UFFD_FEATURE_EVENT_FORK needs CAP_SYS_PTRACE: the model's tasks have it.
  if (features & BigInt(U.UFFD_FEATURE_WP_ASYNC)) features |= BigInt(U.UFFD_FEATURE_WP_UNPOPULATED);
  if (features & ~BigInt(UFFD_MODEL_FEATURES)) return errOut('EINVAL');
  if (!copyStructToUser(arg, { api: U.UFFD_API, features: UFFD_MODEL_FEATURES, ioctls: U.UFFD_API_IOCTLS })) return 'EFAULT';
  if (ctx.initialized) return errOut('EINVAL');
  ctx.features = Number(features);
  ctx.initialized = true;
  return null;
}

/** The size of the huge pages of a hugetlb VMA (vma_kernel_pagesize). */
function vmaKernelPagesize(vma: Vma): number {
  return vma.file?.fOp.hugePageSize ?? PAGE_SIZE;
}

/** UFFDIO_REGISTER: register [start, start + len) in the modes asked; out: the ioctls the range supports. */
// mirrors fs/userfaultfd.c:userfaultfd_register
function userfaultfdRegister(host: Host, ctx: UserfaultfdCtx, arg: unknown): ErrnoName | null {
  const a = copyRangeStruct(arg);
  if (typeof a === 'string') return a;
  const { mode } = a;
  if (mode === 0n) return 'EINVAL';
  const modes = BigInt(U.UFFDIO_REGISTER_MODE_MISSING | U.UFFDIO_REGISTER_MODE_WP | U.UFFDIO_REGISTER_MODE_MINOR);
  if (mode & ~modes) return 'EINVAL';
  const m = Number(mode);
  let vmFlags = 0;
  if (m & U.UFFDIO_REGISTER_MODE_MISSING) vmFlags |= VM.UFFD_MISSING;
  if (m & U.UFFDIO_REGISTER_MODE_WP) vmFlags |= VM.UFFD_WP;
  if (m & U.UFFDIO_REGISTER_MODE_MINOR) vmFlags |= VM.UFFD_MINOR;
  const v = validateRange(a.start, a.len);
  if (v !== null) return v;
  const start = Number(a.start);
  const end = start + Number(a.len);
  if (!ctxMmLive(ctx)) return 'ENOMEM';
  const vmas = vmasIn(ctx.mm, start, end);
  if (vmas.length === 0) return 'EINVAL';
  // A hugetlb range starts on a huge page boundary.
  const first = vmas[0]!;
  if (first.flags & VM.HUGETLB && start % vmaKernelPagesize(first) !== 0) return 'EINVAL';
  let basic = false;
  for (const cur of vmas) {
    if (!vmaCanUserfault(cur, vmFlags)) return 'EINVAL';
    // UFFDIO_COPY fills holes even without PROT_WRITE: the mapping must be allowed to write.
    if (!(cur.flags & VM.MAYWRITE)) return 'EPERM';
    if (cur.flags & VM.HUGETLB && end <= cur.end && end > cur.start && end % vmaKernelPagesize(cur) !== 0) return 'EINVAL';
    // One userfaultfd per VMA.
    if (cur.uffdCtx !== null && cur.uffdCtx !== ctx) return 'EBUSY';
    if (cur.flags & VM.HUGETLB) basic = true;
  }
  if (userfaultfdRegisterRange(host, ctx, vmFlags, start, end) !== null) return 'ENOMEM';
  let ioctls = basic ? U.UFFD_API_RANGE_IOCTLS_BASIC : U.UFFD_API_RANGE_IOCTLS;
  if (!(m & U.UFFDIO_REGISTER_MODE_WP)) ioctls &= ~(1 << U._UFFDIO_WRITEPROTECT);
  if (!(m & U.UFFDIO_REGISTER_MODE_MINOR)) ioctls &= ~(1 << U._UFFDIO_CONTINUE);
  return copyStructToUser(arg, { ioctls }) ? null : 'EFAULT';
}

/** UFFDIO_UNREGISTER: unregister every registered VMA piece of the range (of any userfaultfd), waking their missing faults. */
// mirrors fs/userfaultfd.c:userfaultfd_unregister
function userfaultfdUnregister(host: Host, ctx: UserfaultfdCtx, arg: unknown): ErrnoName | null {
  const r = copyRange(arg);
  if (typeof r === 'string') return r;
  const v = validateRange(r.start, r.len);
  if (v !== null) return v;
  let start = Number(r.start);
  const end = start + Number(r.len);
  if (!ctxMmLive(ctx)) return 'ENOMEM';
  const vmas = vmasIn(ctx.mm, start, end);
  if (vmas.length === 0) return 'EINVAL';
  const first = vmas[0]!;
  if (first.flags & VM.HUGETLB && start % vmaKernelPagesize(first) !== 0) return 'EINVAL';
  // Stricter than needed: a VMA that could never register is an unregistration error.
  for (const cur of vmas) if (!vmaCanUserfault(cur, cur.flags)) return 'EINVAL';
  for (const vma of vmas) {
    if (vma.uffdCtx === null) continue;
    start = Math.max(start, vma.start);
    const vmaEnd = Math.min(end, vma.end);
    // Wake pending missing faults so they do not hang.
    if (userfaultfdMissing(vma)) wakeUserfault(vma.uffdCtx, start, vmaEnd - start);
    const nv = userfaultfdClearVma(host, vma, start, vmaEnd);
    if (typeof nv === 'string') return nv;
    start = nv.end;
  }
  return null;
}

/** UFFDIO_WAKE: wake the faults in the range (after _DONTWAKE fills). */
// mirrors fs/userfaultfd.c:userfaultfd_wake
function userfaultfdWake(ctx: UserfaultfdCtx, arg: unknown): ErrnoName | null {
  const r = copyRange(arg);
  if (typeof r === 'string') return r;
  const v = validateRange(r.start, r.len);
  if (v !== null) return v;
  wakeUserfault(ctx, Number(r.start), Number(r.len));
  return null;
}

/**
 * The common tail of the fill ioctls: put the result into its field, wake
 * the filled range unless DONTWAKE, and report a short fill as EAGAIN.
 */
function fillResult(ctx: UserfaultfdCtx, arg: unknown, field: string, ret: number, start: number, len: number, dontwake: boolean): ErrnoName | null {
  if (!putResult(arg, field, ret)) return 'EFAULT';
  if (ret < 0) return E(ret);
  if (!dontwake) wakeUserfault(ctx, start, ret);
  return ret === len ? null : 'EAGAIN';
}

/** mmap_changing: an event is in flight; the result field says -EAGAIN too. */
function mmapChanging(ctx: UserfaultfdCtx, arg: unknown, field: string): ErrnoName | null {
  if (ctx.mmapChanging === 0) return null;
  return putResult(arg, field, -errno.EAGAIN) ? 'EAGAIN' : 'EFAULT';
}

/** UFFDIO_COPY: copy len bytes of the caller's memory at src into the missing pages at dst. */
// mirrors fs/userfaultfd.c:userfaultfd_copy
function userfaultfdCopy(ctx: UserfaultfdCtx, arg: unknown, current: Task): ErrnoName | null {
  const busy = mmapChanging(ctx, arg, 'copy');
  if (busy !== null) return busy;
  const s = copyStructFromUser(arg, ['dst', 'src', 'len', 'mode']);
  if (s === null) return 'EFAULT';
  const dst = cULong(s.dst);
  const src = cULong(s.src);
  const len = cULong(s.len);
  const mode = cULong(s.mode);
  if (dst === null || src === null || len === null || mode === null) return 'EINVAL';
  const v = validateUnalignedRange(src, len) ?? validateRange(dst, len);
  if (v !== null) return v;
  if (mode & ~BigInt(U.UFFDIO_COPY_MODE_DONTWAKE | U.UFFDIO_COPY_MODE_WP)) return 'EINVAL';
  if (!ctxMmLive(ctx)) return 'ESRCH';
  const m = Number(mode);
  const ret = mfillAtomic(ctx, Number(dst), Number(src), Number(len), MfillMode.COPY, (m & U.UFFDIO_COPY_MODE_WP) !== 0, current.mm);
  return fillResult(ctx, arg, 'copy', ret, Number(dst), Number(len), (m & U.UFFDIO_COPY_MODE_DONTWAKE) !== 0);
}

/** UFFDIO_ZEROPAGE: map zeroes at the missing pages of the range. */
// mirrors fs/userfaultfd.c:userfaultfd_zeropage
function userfaultfdZeropage(ctx: UserfaultfdCtx, arg: unknown): ErrnoName | null {
  const busy = mmapChanging(ctx, arg, 'zeropage');
  if (busy !== null) return busy;
  const a = rangeModeArg(arg, U.UFFDIO_ZEROPAGE_MODE_DONTWAKE);
  if (typeof a === 'string') return a;
  if (!ctxMmLive(ctx)) return 'ESRCH';
  const ret = mfillAtomic(ctx, a.start, 0, a.len, MfillMode.ZEROPAGE, false, null);
  return fillResult(ctx, arg, 'zeropage', ret, a.start, a.len, (a.mode & U.UFFDIO_ZEROPAGE_MODE_DONTWAKE) !== 0);
}

/** UFFDIO_WRITEPROTECT: set (MODE_WP) or clear write protection; clearing wakes unless DONTWAKE. */
// mirrors fs/userfaultfd.c:userfaultfd_writeprotect
function userfaultfdWriteprotect(ctx: UserfaultfdCtx, arg: unknown): ErrnoName | null {
  if (ctx.mmapChanging > 0) return 'EAGAIN';
  const a = rangeModeArg(arg, U.UFFDIO_WRITEPROTECT_MODE_DONTWAKE | U.UFFDIO_WRITEPROTECT_MODE_WP);
  if (typeof a === 'string') return a;
  const m = a.mode;
  const wp = (m & U.UFFDIO_WRITEPROTECT_MODE_WP) !== 0;
  const dontwake = (m & U.UFFDIO_WRITEPROTECT_MODE_DONTWAKE) !== 0;
  // Write-protecting is unrelated to faults: there is nobody to not wake.
  if (wp && dontwake) return 'EINVAL';
  if (!ctxMmLive(ctx)) return 'ESRCH';
  const ret = mwriteprotectRange(ctx, a.start, a.len, wp);
  if (ret < 0) return E(ret);
  if (!wp && !dontwake) wakeUserfault(ctx, a.start, a.len);
  return null;
}

/** UFFDIO_CONTINUE: map the page-cache pages of a MINOR-registered range. */
// mirrors fs/userfaultfd.c:userfaultfd_continue
function userfaultfdContinue(ctx: UserfaultfdCtx, arg: unknown): ErrnoName | null {
  const busy = mmapChanging(ctx, arg, 'mapped');
  if (busy !== null) return busy;
  const a = rangeModeArg(arg, U.UFFDIO_CONTINUE_MODE_DONTWAKE | U.UFFDIO_CONTINUE_MODE_WP);
  if (typeof a === 'string') return a;
  if (!ctxMmLive(ctx)) return 'ESRCH';
  const ret = mfillAtomic(ctx, a.start, 0, a.len, MfillMode.CONTINUE, (a.mode & U.UFFDIO_CONTINUE_MODE_WP) !== 0, null);
  return fillResult(ctx, arg, 'mapped', ret, a.start, a.len, (a.mode & U.UFFDIO_CONTINUE_MODE_DONTWAKE) !== 0);
}

/** UFFDIO_POISON: poisoned markers at the missing pages of the range. */
// mirrors fs/userfaultfd.c:userfaultfd_poison
function userfaultfdPoison(ctx: UserfaultfdCtx, arg: unknown): ErrnoName | null {
  const busy = mmapChanging(ctx, arg, 'updated');
  if (busy !== null) return busy;
  const a = rangeModeArg(arg, U.UFFDIO_POISON_MODE_DONTWAKE);
  if (typeof a === 'string') return a;
  if (!ctxMmLive(ctx)) return 'ESRCH';
  const ret = mfillAtomic(ctx, a.start, 0, a.len, MfillMode.POISON, false, null);
  return fillResult(ctx, arg, 'updated', ret, a.start, a.len, (a.mode & U.UFFDIO_POISON_MODE_DONTWAKE) !== 0);
}

/** UFFDIO_MOVE: move anonymous pages within the caller's own mm. */
// mirrors fs/userfaultfd.c:userfaultfd_move
function userfaultfdMove(ctx: UserfaultfdCtx, arg: unknown, current: Task): ErrnoName | null {
  const busy = mmapChanging(ctx, arg, 'move');
  if (busy !== null) return busy;
  const s = copyStructFromUser(arg, ['dst', 'src', 'len', 'mode']);
  if (s === null) return 'EFAULT';
  const dst = cULong(s.dst);
  const src = cULong(s.src);
  const len = cULong(s.len);
  const mode = cULong(s.mode);
  if (dst === null || src === null || len === null || mode === null) return 'EINVAL';
  // No moves across mms.
  if (ctx.mm !== current.mm) return 'EINVAL';
  const v = validateRange(dst, len) ?? validateRange(src, len);
  if (v !== null) return v;
  if (mode & ~BigInt(U.UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES | U.UFFDIO_MOVE_MODE_DONTWAKE)) return 'EINVAL';
  if (!ctxMmLive(ctx)) return 'ESRCH';
  const m = Number(mode);
  const ret = movePages(ctx, Number(dst), Number(src), Number(len), m);
  return fillResult(ctx, arg, 'move', ret, Number(dst), Number(len), (m & U.UFFDIO_MOVE_MODE_DONTWAKE) !== 0);
}

/** Any ioctl but UFFDIO_API before UFFDIO_API is EINVAL; unknown requests are EINVAL too (not ENOTTY). */
// mirrors fs/userfaultfd.c:userfaultfd_ioctl
function userfaultfdIoctl(host: Host, ctx: UserfaultfdCtx, cmd: number, arg: unknown, current: Task): number | ErrnoName {
  if (cmd !== U.UFFDIO_API && !ctx.initialized) return 'EINVAL';
  let r: ErrnoName | null;
  switch (cmd) {
    case U.UFFDIO_API:
      r = userfaultfdApi(ctx, arg);
      break;
    case U.UFFDIO_REGISTER:
      r = userfaultfdRegister(host, ctx, arg);
      break;
    case U.UFFDIO_UNREGISTER:
      r = userfaultfdUnregister(host, ctx, arg);
      break;
    case U.UFFDIO_WAKE:
      r = userfaultfdWake(ctx, arg);
      break;
    case U.UFFDIO_COPY:
      r = userfaultfdCopy(ctx, arg, current);
      break;
    case U.UFFDIO_ZEROPAGE:
      r = userfaultfdZeropage(ctx, arg);
      break;
    case U.UFFDIO_MOVE:
      r = userfaultfdMove(ctx, arg, current);
      break;
    case U.UFFDIO_WRITEPROTECT:
      r = userfaultfdWriteprotect(ctx, arg);
      break;
    case U.UFFDIO_CONTINUE:
      r = userfaultfdContinue(ctx, arg);
      break;
    case U.UFFDIO_POISON:
      r = userfaultfdPoison(ctx, arg);
      break;
    default:
      r = 'EINVAL';
  }
  return r ?? 0;
}

/**
 * The last reference to the file went: unregister everything, wake every
 * waiting fault (they retry and find no registration) and end every event wait.
 */
// mirrors fs/userfaultfd.c:userfaultfd_release
function userfaultfdRelease(host: Host, ctx: UserfaultfdCtx): void {
  ctx.released = true;
  ctx.monitor = null;
  userfaultfdReleaseAll(host, ctx);
  wakeUserfault(ctx, 0, 0);
  userfaultfdFlushEvents(ctx);
}

/** userfaultfd_fops, one table per Vfs (the anon inode files are per kernel). */
const fopsByVfs = new WeakMap<Vfs, FsFileOps>();

function fopsOf(vfs: Vfs): FsFileOps {
  let f = fopsByVfs.get(vfs);
  if (f !== undefined) return f;
  const host = vfs.host;
  f = {
    read: (file, buf, _count, _pos, current, requested) => userfaultfdRead(vfs, (file as OpenFile).privateData as UserfaultfdCtx, buf, requested ?? buf.length, current),
    // read(2) into a buffer with no byte mapped: the message (if any) is consumed, then EFAULT.
    unmappedBuffer: (file, _write, count) => userfaultfdRead(vfs, (file as OpenFile).privateData as UserfaultfdCtx, null, count, undefined),
    unlockedIoctl: (file, cmd, arg, current) => userfaultfdIoctl(host, file.privateData as UserfaultfdCtx, cmd, arg, current),
    release: (file) => userfaultfdRelease(host, file.privateData as UserfaultfdCtx),
  };
  fopsByVfs.set(vfs, f);
  return f;
}

/**
 * Attach (or with null, detach) the monitor of a userfaultfd: a function the
 * model calls whenever a task would wait on this context (see
 * src/mm/userfaultfd_k.ts). EINVAL for a file that is not a userfaultfd or a
 * monitor that is not a function.
 */
export function userfaultfdSetMonitor(file: OpenFile, monitor: unknown): ErrnoName | null {
  const ctx = userfaultfdCtxOf(file);
  if (ctx === null) return 'EINVAL';
  if (monitor === null || monitor === undefined) {
    ctx.monitor = null;
    return null;
  }
  if (typeof monitor !== 'function') return 'EINVAL';
  ctx.monitor = () => {
    (monitor as () => void)();
  };
  return null;
}
