/**
 * The userfaultfd context and the fault and event side of userfaultfd
 * (include/linux/userfaultfd_k.h, and the parts of fs/userfaultfd.c that mm
 * calls: handle_userfault, the non-cooperative events, the wait queues).
 *
 * A context (struct userfaultfd_ctx) belongs to one mm. Its VMAs point to it
 * (vma.uffdCtx, vm_userfaultfd_ctx) and carry VM_UFFD_MISSING / _WP / _MINOR.
 * A fault in a registered range queues a message and the faulting task waits
 * until a resolving ioctl (or UFFDIO_WAKE) wakes it; a non-cooperative event
 * (fork, mremap, MADV_DONTNEED/REMOVE, munmap) queues a message and the task
 * waits until the monitor has read it, with mmap_changing raised meanwhile.
 *
 * The model has one thread of control, so waiting is modelled with a monitor:
 * a callback attached to the context (Process.userfaultfd_monitor) that plays
 * the handler thread. When a task would wait, the monitor (if attached and not
 * already running) is called synchronously; it reads the messages and answers
 * them. Then:
 *  - a faulting CPU access is retried if the monitor woke it; otherwise it
 *    stays blocked: the access throws UffdFault, its message stays queued, and
 *    the caller plays the monitor itself (read, resolve) and repeats the
 *    access. A process has one thread: its next fault replaces the blocked one.
 *  - a kernel access (GUP, copy_from_user) that is not woken ends as if
 *    interrupted by a fatal signal: its message is withdrawn and the access
 *    fails (GUP: -EINTR or a partial count; copy_from_user: a short copy).
 *  - an event does not block: the operation completes, and the message stays
 *    queued (mmap_changing raised) until read.
 */
import * as U from '../uapi/userfaultfd.js';
import { O_CLOEXEC, O_NONBLOCK } from '../uapi/fcntl.js';
import { formatAddr } from '../uapi/errors.js';
import { FaultFlag, VmFault } from './fs_types.js';
import type { Host } from './host.js';
import { type MmStruct, VM, type Vma, vmaIsAnonymous, vmaIsShmem } from './mm_types.js';
import { Pte } from './pgtable.js';

/** VM_UFFD_MISSING | VM_UFFD_WP | VM_UFFD_MINOR (__VM_UFFD_FLAGS). */
export const VM_UFFD_FLAGS = VM.UFFD_MISSING | VM.UFFD_WP | VM.UFFD_MINOR;

/** The userfaultfd(2) flags shared with the file: O_CLOEXEC | O_NONBLOCK (UFFD_SHARED_FCNTL_FLAGS). */
export const UFFD_SHARED_FCNTL_FLAGS = O_CLOEXEC | O_NONBLOCK;

/**
 * The features this model can provide (uffdio_api.features after UFFDIO_API):
 * Linux 6.12's UFFD_API_FEATURES without UFFD_FEATURE_WP_ASYNC, whose
 * write-protect-and-forget mode exists for PAGEMAP_SCAN, which the model does
 * not have.
 */
export const UFFD_MODEL_FEATURES = U.UFFD_API_FEATURES & ~U.UFFD_FEATURE_WP_ASYNC;

/** One queued message: a faulting task's (userfaultfd_wait_queue) or an event's. */
export interface UffdWaiter {
  /** struct uffd_msg, 32 bytes (msg_init zeroes it). */
  readonly msg: Uint8Array;
  /** msg.arg.pagefault.address: the wake range is matched against it. */
  readonly address: number;
  /** Woken by a resolving ioctl, UFFDIO_WAKE, unregister or release (uwq->waken). */
  waken: boolean;
  readonly ctx: UserfaultfdCtx;
  /** The task's mm (faults), for the one-thread-per-process rule. */
  readonly mm: MmStruct | null;
  /** UFFD_EVENT_FORK: the child's context, handed to the reader as a new descriptor. */
  readonly forkCtx: UserfaultfdCtx | null;
}

/** struct userfaultfd_ctx. */
export class UserfaultfdCtx {
  /** Requested features (UFFD_FEATURE_*), valid once initialized. */
  features = 0;
  /** UFFDIO_API done (UFFD_FEATURE_INITIALIZED). */
  initialized = false;
  /** The last reference to the file went (ctx->released). */
  released = false;
  /** Non-cooperative events in flight: fill/move/wp ioctls answer EAGAIN (ctx->mmap_changing). */
  mmapChanging = 0;
  /** Faults not yet read (fault_pending_wqh), oldest first. */
  readonly faultPending: UffdWaiter[] = [];
  /** Faults read but not yet woken (fault_wqh). */
  readonly faultWqh: UffdWaiter[] = [];
  /** Events not yet read (event_wqh), oldest first. */
  readonly events: UffdWaiter[] = [];
  /** The handler that plays the monitor thread (model only); see the module comment. */
  monitor: (() => void) | null = null;
  monitorRunning = false;

  constructor(
    readonly host: Host,
    /** The mm whose VMAs may register with this context (ctx->mm). */
    readonly mm: MmStruct,
    /** userfaultfd(2) flags: UFFD_USER_MODE_ONLY, O_CLOEXEC, O_NONBLOCK. */
    readonly flags: number,
  ) {}
}

/** Thrown by a CPU access whose userfault nobody resolved: the faulting thread is blocked. */
export class UffdFault extends Error {
  /** The faulting address (as the access saw it, not rounded). */
  readonly addr: number;
  /** The queued message, decoded: what the monitor reads. */
  readonly msg: U.UffdMsg;

  constructor(addr: number, msg: U.UffdMsg) {
    super(`userfault at ${formatAddr(addr)}: the faulting thread waits for the userfaultfd monitor (resolve, then retry the access)`);
    this.name = 'UffdFault';
    this.addr = addr;
    this.msg = msg;
  }
}

// ---------------------------------------------------------------------------
// The helpers of include/linux/userfaultfd_k.h.

// mirrors include/linux/userfaultfd_k.h:userfaultfd_missing
export function userfaultfdMissing(vma: Vma): boolean {
  return (vma.flags & VM.UFFD_MISSING) !== 0;
}

// mirrors include/linux/userfaultfd_k.h:userfaultfd_wp
export function userfaultfdWp(vma: Vma): boolean {
  return (vma.flags & VM.UFFD_WP) !== 0;
}

// mirrors include/linux/userfaultfd_k.h:userfaultfd_minor
export function userfaultfdMinor(vma: Vma): boolean {
  return (vma.flags & VM.UFFD_MINOR) !== 0;
}

/** A present PTE write-protected by userfaultfd in a WP-registered VMA. */
// mirrors include/linux/userfaultfd_k.h:userfaultfd_pte_wp
export function userfaultfdPteWp(vma: Vma, fl: number): boolean {
  return userfaultfdWp(vma) && (fl & Pte.UFFD_WP) !== 0;
}

// mirrors include/linux/userfaultfd_k.h:userfaultfd_armed
export function userfaultfdArmed(vma: Vma): boolean {
  return (vma.flags & VM_UFFD_FLAGS) !== 0;
}

/** No fault-around in WP or MINOR ranges: it would map pages without a userfault. */
// mirrors include/linux/userfaultfd_k.h:uffd_disable_fault_around
export function uffdDisableFaultAround(vma: Vma): boolean {
  return (vma.flags & (VM.UFFD_WP | VM.UFFD_MINOR)) !== 0;
}

/** WP_UNPOPULATED on the VMA's context: anonymous none PTEs take uffd-wp markers too. */
// mirrors fs/userfaultfd.c:userfaultfd_wp_unpopulated
export function userfaultfdWpUnpopulated(vma: Vma): boolean {
  const ctx = vma.uffdCtx;
  return ctx !== null && (ctx.features & U.UFFD_FEATURE_WP_UNPOPULATED) !== 0;
}

/** Does write-protecting this VMA's none PTEs need uffd-wp markers? File VMAs always; anonymous with WP_UNPOPULATED. */
// mirrors include/linux/userfaultfd_k.h:userfaultfd_wp_use_markers
export function userfaultfdWpUseMarkers(vma: Vma): boolean {
  if (!userfaultfdWp(vma)) return false;
  if (!vmaIsAnonymous(vma)) return true;
  return userfaultfdWpUnpopulated(vma);
}

/** A registered VMA whose context did not ask for UFFD_EVENT_REMAP: mremap drops the registration. */
// mirrors include/linux/userfaultfd_k.h:vma_has_uffd_without_event_remap
export function vmaHasUffdWithoutEventRemap(vma: Vma): boolean {
  const ctx = vma.uffdCtx;
  return ctx !== null && (ctx.features & U.UFFD_FEATURE_EVENT_REMAP) === 0;
}

/**
 * May this VMA register the modes in vmFlags? Anonymous, shmem and hugetlb
 * VMAs; MINOR only on shmem and hugetlb; never VM_SPECIAL (except hugetlb)
 * or droppable memory. (6.12 tests VM_DROPPABLE against the requested modes,
 * which never hold it; 6.13 fixed the check to the VMA's flags, as here.)
 */
// mirrors include/linux/userfaultfd_k.h:vma_can_userfault
export function vmaCanUserfault(vma: Vma, vmFlags: number): boolean {
  const hugetlb = (vma.flags & VM.HUGETLB) !== 0;
  if (!hugetlb && vma.flags & VM.SPECIAL) return false;
  if (vma.flags & VM.DROPPABLE) return false;
  vmFlags &= VM_UFFD_FLAGS;
  if (vmFlags & VM.UFFD_MINOR && !hugetlb && !vmaIsShmem(vma)) return false;
  return vmaIsAnonymous(vma) || hugetlb || vmaIsShmem(vma);
}

/** Drop a VMA's registration: no context, no uffd flags. */
// mirrors mm/userfaultfd.c:userfaultfd_reset_ctx
export function userfaultfdResetCtx(vma: Vma): void {
  vma.uffdCtx = null;
  vma.flags &= ~VM_UFFD_FLAGS;
}

/** Is the context's mm still in use (mmget_not_zero)? */
export function ctxMmLive(ctx: UserfaultfdCtx): boolean {
  return ctx.mm.users > 0;
}

// ---------------------------------------------------------------------------
// Messages.

/** A zeroed struct uffd_msg with its event set (msg_init). */
function msgInit(event: number): { msg: Uint8Array; dv: DataView } {
  const msg = new Uint8Array(U.UFFD_MSG_SIZE);
  msg[0] = event;
  return { msg, dv: new DataView(msg.buffer) };
}

/** The UFFD_EVENT_PAGEFAULT message of a fault. */
// mirrors fs/userfaultfd.c:userfault_msg
function userfaultMsg(address: number, realAddress: number, flags: number, reason: number, features: number, ptid: number): { msg: Uint8Array; at: number } {
  const { msg, dv } = msgInit(U.UFFD_EVENT_PAGEFAULT);
  const at = features & U.UFFD_FEATURE_EXACT_ADDRESS ? realAddress : address;
  let f = 0;
  if (flags & FaultFlag.WRITE) f |= U.UFFD_PAGEFAULT_FLAG_WRITE;
  if (reason & VM.UFFD_WP) f |= U.UFFD_PAGEFAULT_FLAG_WP;
  if (reason & VM.UFFD_MINOR) f |= U.UFFD_PAGEFAULT_FLAG_MINOR;
  dv.setBigUint64(8, BigInt(f), true);
  dv.setBigUint64(16, BigInt(at), true);
  if (features & U.UFFD_FEATURE_THREAD_ID) dv.setUint32(24, ptid, true);
  return { msg, at };
}

/** One waiter per process: a fault that replaces an earlier blocked one of the same task. */
const blocked = new WeakMap<MmStruct, UffdWaiter>();
/** The waiter handle_userfault just queued; the caller of handle_mm_fault takes it at once. */
let $queued: UffdWaiter | null = null;

function removeFrom(list: UffdWaiter[], w: UffdWaiter): boolean {
  const i = list.indexOf(w);
  if (i < 0) return false;
  list.splice(i, 1);
  return true;
}

/** Take a waiter off both fault queues (the task left the wait). */
function withdraw(w: UffdWaiter): void {
  if (!removeFrom(w.ctx.faultPending, w)) removeFrom(w.ctx.faultWqh, w);
  if (w.mm !== null && blocked.get(w.mm) === w) blocked.delete(w.mm);
}

/**
 * Deliver a fault to the userfaultfd of vma: queue its message and tell the
 * caller to wait and retry (VM_FAULT_RETRY), or VM_FAULT_SIGBUS when the
 * context wants signals (UFFD_FEATURE_SIGBUS), when a kernel-mode fault meets
 * a UFFD_USER_MODE_ONLY context, or when the fault may not be retried.
 * address is the page (hugetlb: huge page) the message reports; realAddress
 * the faulting byte (UFFD_FEATURE_EXACT_ADDRESS). reason is exactly one of
 * VM_UFFD_MISSING, _WP, _MINOR.
 */
// mirrors fs/userfaultfd.c:handle_userfault
export function handleUserfault(vma: Vma, address: number, realAddress: number, flags: number, reason: number): number {
  const ctx = vma.uffdCtx;
  if (ctx === null) return VmFault.SIGBUS;
  if (ctx.features & U.UFFD_FEATURE_SIGBUS) return VmFault.SIGBUS;
  if (!(flags & FaultFlag.USER) && ctx.flags & U.UFFD_USER_MODE_ONLY) return VmFault.SIGBUS;
  if (!(flags & FaultFlag.ALLOW_RETRY)) return VmFault.SIGBUS;
  if (flags & FaultFlag.RETRY_NOWAIT) return VmFault.RETRY;
  if (ctx.released) return VmFault.RETRY;
  const mm = vma.mm;
  const old = blocked.get(mm);
  if (old !== undefined) withdraw(old);
  const { msg, at } = userfaultMsg(address, realAddress, flags, reason, ctx.features, mm.ownerPid);
  const w: UffdWaiter = { msg, address: at, waken: false, ctx, mm, forkCtx: null };
  // userfaultfd_must_wait re-checks the page table; nothing can change it in between here.
  ctx.faultPending.push(w);
  $queued = w;
  return VmFault.RETRY;
}

/** What waiting for a userfault came to. */
export const enum UffdWait {
  /** No fault was queued (RETRY_NOWAIT, a released context): just retry. */
  RETRY,
  /** The monitor resolved (or woke) the fault: retry the access. */
  WOKEN,
  /** Nobody woke it: the task stays blocked (a CPU access throws UffdFault). */
  BLOCKED,
  /** Nobody woke it, and the waiter was withdrawn (a kernel access gives up). */
  INTERRUPTED,
}

/** Run the context's monitor, unless there is none or it is already running (it would be waiting on itself). */
function runMonitor(ctx: UserfaultfdCtx): void {
  if (ctx.monitor === null || ctx.monitorRunning) return;
  ctx.monitorRunning = true;
  try {
    ctx.monitor();
  } finally {
    ctx.monitorRunning = false;
  }
}

/**
 * Wait for the fault handle_mm_fault just queued (it returned VM_FAULT_RETRY):
 * the monitor runs, and the result says whether the faulting task was woken.
 * A kernel-mode wait that is not woken is withdrawn (see the module comment).
 */
// mirrors fs/userfaultfd.c:handle_userfault (the wait: schedule() until woken)
export function userfaultfdWait(kernel: boolean): { result: UffdWait; waiter: UffdWaiter | null } {
  const w = $queued;
  $queued = null;
  if (w === null) return { result: UffdWait.RETRY, waiter: null };
  runMonitor(w.ctx);
  if (w.waken) return { result: UffdWait.WOKEN, waiter: w };
  if (kernel || w.ctx.released) {
    withdraw(w);
    return { result: UffdWait.INTERRUPTED, waiter: w };
  }
  if (w.mm !== null) blocked.set(w.mm, w);
  return { result: UffdWait.BLOCKED, waiter: w };
}

/** The process's thread is gone (exit): its blocked fault leaves the queues. */
export function userfaultfdTaskExit(mm: MmStruct): void {
  const w = blocked.get(mm);
  if (w !== undefined) withdraw(w);
}

/**
 * Wake the faults whose address lies in [start, start + len) (len 0: all):
 * they leave the queues and their tasks retry.
 */
// mirrors fs/userfaultfd.c:__wake_userfault (userfaultfd_wake_function)
export function wakeUserfault(ctx: UserfaultfdCtx, start: number, len: number): void {
  const hit = (w: UffdWaiter) => len === 0 || (start <= w.address && w.address < start + len);
  for (const list of [ctx.faultPending, ctx.faultWqh]) {
    for (let i = 0; i < list.length; ) {
      const w = list[i]!;
      if (!hit(w)) {
        i++;
        continue;
      }
      w.waken = true;
      list.splice(i, 1);
      if (w.mm !== null && blocked.get(w.mm) === w) blocked.delete(w.mm);
    }
  }
}

/**
 * Take the next message for read(2): a pending fault (it moves to fault_wqh),
 * else an event, which completes (its mmap_changing is dropped). A fork
 * event first gets the child's context a descriptor from resolveFork (its
 * number goes into msg.arg.fork.ufd); if that fails, the event stays queued
 * and the errno is returned. null if nothing is queued.
 */
// mirrors fs/userfaultfd.c:userfaultfd_ctx_read
export function userfaultfdCtxRead<E extends string>(ctx: UserfaultfdCtx, resolveFork: (nctx: UserfaultfdCtx) => number | E): Uint8Array | E | null {
  const w = ctx.faultPending.shift();
  if (w !== undefined) {
    ctx.faultWqh.push(w);
    return w.msg;
  }
  const e = ctx.events[0];
  if (e === undefined) return null;
  let msg = e.msg;
  if (e.forkCtx !== null) {
    // resolve_userfault_fork
    const fd = resolveFork(e.forkCtx);
    if (typeof fd === 'string') return fd;
    msg = msg.slice();
    new DataView(msg.buffer).setUint32(8, fd, true);
  }
  ctx.events.shift();
  // userfaultfd_event_complete: the posting task's wait ends.
  ctx.mmapChanging--;
  return msg;
}

// ---------------------------------------------------------------------------
// Non-cooperative events.

/** Queue an event and let the monitor run; the model does not block the poster (module comment). */
// mirrors fs/userfaultfd.c:userfaultfd_event_wait_completion
function eventWaitCompletion(ctx: UserfaultfdCtx, msg: Uint8Array, forkCtx: UserfaultfdCtx | null = null): void {
  if (ctx.released) {
    ctx.mmapChanging--;
    if (forkCtx !== null) userfaultfdReleaseNew(forkCtx);
    return;
  }
  ctx.events.push({ msg, address: 0, waken: false, ctx, mm: null, forkCtx });
  runMonitor(ctx);
}

/** Events prepared under mmap_lock, delivered when the syscall ends (struct list_head *uf). */
const pendingEvents = new WeakMap<Host, (() => void)[]>();

function deferEvent(host: Host, deliver: () => void): void {
  let q = pendingEvents.get(host);
  if (q === undefined) pendingEvents.set(host, (q = []));
  q.push(deliver);
}

/**
 * Deliver the events the syscall prepared (UNMAP, REMAP, FORK), in order, as
 * Linux does once it has dropped mmap_lock (userfaultfd_unmap_complete,
 * mremap_userfaultfd_complete, dup_userfaultfd_complete).
 */
export function userfaultfdCompleteEvents(host: Host): void {
  const q = pendingEvents.get(host);
  if (q === undefined || q.length === 0) return;
  const list = q.splice(0);
  for (const deliver of list) deliver();
}

/**
 * fork: the child's copy of a registered VMA keeps a registration only when
 * the context asked for UFFD_EVENT_FORK; then it gets a new context (one per
 * parent context), announced to the parent's monitor by UFFD_EVENT_FORK.
 * fcs maps parent contexts to the child's.
 */
// mirrors fs/userfaultfd.c:dup_userfaultfd
export function dupUserfaultfd(host: Host, vma: Vma, fcs: Map<UserfaultfdCtx, UserfaultfdCtx>): void {
  const octx = vma.uffdCtx;
  if (octx === null) return;
  if (!(octx.features & U.UFFD_FEATURE_EVENT_FORK)) {
    userfaultfdResetCtx(vma);
    return;
  }
  let ctx = fcs.get(octx);
  if (ctx === undefined) {
    ctx = new UserfaultfdCtx(host, vma.mm, octx.flags);
    ctx.features = octx.features;
    ctx.initialized = true;
    octx.mmapChanging++;
    fcs.set(octx, ctx);
  }
  vma.uffdCtx = ctx;
}

/** After fork: one UFFD_EVENT_FORK per parent context (delivered when fork returns). */
// mirrors fs/userfaultfd.c:dup_userfaultfd_complete
export function dupUserfaultfdComplete(host: Host, fcs: Map<UserfaultfdCtx, UserfaultfdCtx>): void {
  for (const [octx, nctx] of fcs) deferEvent(host, () => eventWaitCompletion(octx, msgInit(U.UFFD_EVENT_FORK).msg, nctx));
}

/** fork failed: undo dup_userfaultfd's mmap_changing. */
// mirrors fs/userfaultfd.c:dup_userfaultfd_fail
export function dupUserfaultfdFail(fcs: Map<UserfaultfdCtx, UserfaultfdCtx>): void {
  for (const octx of fcs.keys()) octx.mmapChanging--;
}

/**
 * mremap is moving vma to newVma: with UFFD_EVENT_REMAP the new VMA stays
 * registered and the move is announced; without, the new VMA is not
 * registered (the caller clears the moved uffd-wp bits). Returns the context
 * to announce to, or null.
 */
// mirrors fs/userfaultfd.c:mremap_userfaultfd_prep
export function mremapUserfaultfdPrep(newVma: Vma): UserfaultfdCtx | null {
  const ctx = newVma.uffdCtx;
  if (ctx === null) return null;
  if (ctx.features & U.UFFD_FEATURE_EVENT_REMAP) {
    ctx.mmapChanging++;
    return ctx;
  }
  userfaultfdResetCtx(newVma);
  return null;
}

/** UFFD_EVENT_REMAP { from, to, len }, delivered when mremap returns. */
// mirrors fs/userfaultfd.c:mremap_userfaultfd_complete
export function mremapUserfaultfdComplete(host: Host, ctx: UserfaultfdCtx | null, from: number, to: number, len: number): void {
  if (ctx === null) return;
  const { msg, dv } = msgInit(U.UFFD_EVENT_REMAP);
  dv.setBigUint64(8, BigInt(from), true);
  dv.setBigUint64(16, BigInt(to), true);
  dv.setBigUint64(24, BigInt(len), true);
  deferEvent(host, () => eventWaitCompletion(ctx, msg));
}

/**
 * MADV_DONTNEED / MADV_REMOVE are about to drop [start, end) of vma: with
 * UFFD_EVENT_REMOVE, announce it (the monitor runs now, "with mmap_lock
 * dropped") and return false: the caller must look the VMA up again.
 */
// mirrors fs/userfaultfd.c:userfaultfd_remove
export function userfaultfdRemove(vma: Vma, start: number, end: number): boolean {
  const ctx = vma.uffdCtx;
  if (ctx === null || !(ctx.features & U.UFFD_FEATURE_EVENT_REMOVE)) return true;
  ctx.mmapChanging++;
  const { msg, dv } = msgInit(U.UFFD_EVENT_REMOVE);
  dv.setBigUint64(8, BigInt(start), true);
  dv.setBigUint64(16, BigInt(end), true);
  eventWaitCompletion(ctx, msg);
  return false;
}

/** Unmaps prepared during this syscall, not yet delivered (the uf list: one per context and range). */
const unmapsPrepared = new WeakMap<Host, { ctx: UserfaultfdCtx; start: number; end: number }[]>();

/** munmap (or an mmap/mremap replacing it) is removing [start, end) from vma: UFFD_EVENT_UNMAP, once per context and range. */
// mirrors fs/userfaultfd.c:userfaultfd_unmap_prep
export function userfaultfdUnmapPrep(host: Host, vma: Vma, start: number, end: number): void {
  const ctx = vma.uffdCtx;
  if (ctx === null || !(ctx.features & U.UFFD_FEATURE_EVENT_UNMAP)) return;
  let prepared = unmapsPrepared.get(host);
  if (prepared === undefined) unmapsPrepared.set(host, (prepared = []));
  // has_unmap_ctx
  if (prepared.some((u) => u.ctx === ctx && u.start === start && u.end === end)) return;
  const entry = { ctx, start, end };
  prepared.push(entry);
  ctx.mmapChanging++;
  const { msg, dv } = msgInit(U.UFFD_EVENT_UNMAP);
  dv.setBigUint64(8, BigInt(start), true);
  dv.setBigUint64(16, BigInt(end), true);
  deferEvent(host, () => {
    prepared.splice(prepared.indexOf(entry), 1);
    eventWaitCompletion(ctx, msg);
  });
}

/**
 * The reader never took the child's context (its UFFD_EVENT_FORK was dropped
 * with the parent's descriptor): the child's VMAs leave it.
 */
// mirrors mm/userfaultfd.c:userfaultfd_release_new
export function userfaultfdReleaseNew(ctx: UserfaultfdCtx): void {
  for (const vma of ctx.mm.vmas) if (vma.uffdCtx === ctx) userfaultfdResetCtx(vma);
}

/** Queued events when the file goes: each poster's wait ends; unread fork contexts are dropped. */
export function userfaultfdFlushEvents(ctx: UserfaultfdCtx): void {
  for (const e of ctx.events.splice(0)) {
    ctx.mmapChanging--;
    if (e.forkCtx !== null) userfaultfdReleaseNew(e.forkCtx);
  }
}
