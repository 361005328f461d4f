/**
 * get_user_pages and pin_user_pages (mirrors mm/gup.c).
 *
 * GUP walks a process's page tables on behalf of the kernel and takes a
 * reference on each page (FOLL_GET) or pins it for DMA (FOLL_PIN), faulting
 * pages in as needed. "pages" arrays hold pfns, the model's struct page
 * pointers. Kernel-style functions return a page count or a negative errno.
 *
 * Accounting (try_grab_folio / gup_put_folio) goes through the pin-accounting
 * policy (src/mm/pin_policy.ts); upstream adds GUP_PIN_COUNTING_BIAS to the
 * refcount of small folios and counts _pincount on large ones. Every grab and
 * put is also recorded per page in the host's GUP ledger, the ground truth the
 * oracle and the policy metrics compare against.
 */
import { modPow2 } from '../lib/pow2.js';
import { errno, type ErrnoName } from '../uapi/errno.js';
import { cInt, cUInt, cULong } from '../uapi/ctypes.js';
import { Ev } from '../cost/counters.js';
import { PG, folioTestAnon, isZeroFolio, pageAnonExclusive } from './folio.js';
import { FaultFlag, VmFault } from './fs_types.js';
import type { Host } from './host.js';
import { handleMmFault } from './memory.js';
import { UffdWait, userfaultfdWait } from './userfaultfd_k.js';
import { splitHugePmd } from './huge_memory.js';
import { MMF, type MmStruct, VM, type Vma, isCowMapping, vmaIsAnonymous } from './mm_types.js';
import { LEVEL_SPAN, Level, PAGE_SIZE, PMD_SIZE, PUD_SIZE, TASK_SIZE, tableIndex } from './page.js';
import { MKDIRTY, type PageTable, Pte, type Walk, walk } from './pgtable.js';
import { folioRefusesLongterm, migrateLongtermUnpinnable } from './migrate.js';
import { vmaIsFsdax, vmaLookup } from './vma.js';
import { folioIsFsdax } from './filemap.js';
import type { PinQuery } from './pin_policy.js';

/** FOLL_* flags: public ones (include/linux/mm_types.h) and internal ones (mm/internal.h). */
export const enum FOLL {
  WRITE = 1 << 0,
  GET = 1 << 1,
  DUMP = 1 << 2,
  FORCE = 1 << 3,
  NOWAIT = 1 << 4,
  NOFAULT = 1 << 5,
  HWPOISON = 1 << 6,
  ANON = 1 << 7,
  LONGTERM = 1 << 8,
  SPLIT_PMD = 1 << 9,
  PCI_P2PDMA = 1 << 10,
  INTERRUPTIBLE = 1 << 11,
  HONOR_NUMA_FAULT = 1 << 12,
  /** The exclusive-pin RFC (not upstream): see pin_policy.ts. */
  EXCLUSIVE = 1 << 13,
  TOUCH = 1 << 16,
  TRIED = 1 << 17,
  REMOTE = 1 << 18,
  PIN = 1 << 19,
  FAST_ONLY = 1 << 20,
  UNLOCKABLE = 1 << 21,
  MADV_POPULATE = 1 << 22,
  /** TOUCH | TRIED | REMOTE | PIN | FAST_ONLY | UNLOCKABLE | MADV_POPULATE */
  INTERNAL = (1 << 16) | (1 << 17) | (1 << 18) | (1 << 19) | (1 << 20) | (1 << 21) | (1 << 22),
}

/** Flags the GUP-fast entry accepts (gup_fast_fallback). */
const FAST_ALLOWED = FOLL.WRITE | FOLL.LONGTERM | FOLL.FORCE | FOLL.PIN | FOLL.GET | FOLL.FAST_ONLY | FOLL.NOFAULT | FOLL.PCI_P2PDMA | FOLL.HONOR_NUMA_FAULT | FOLL.EXCLUSIVE;

/** A negative errno, as kernel functions return them. */
function neg(e: ErrnoName): number {
  return -errno[e];
}

// ---------------------------------------------------------------------------
// Refcounting: grab and put.

/** Where the current grab happens; one reused object, valid only during the call (no allocation per pin). */
const $site: { mm: MmStruct | null; addr: number } = { mm: null, addr: -1 };

function site(mm: MmStruct, addr: number): PinQuery {
  $site.mm = mm;
  $site.addr = addr;
  return $site;
}

/**
 * Add a flag-dependent reference to refs pages [page, page + refs) of folio f:
 * FOLL_GET adds refs to the refcount, FOLL_PIN pins (through the policy), and
 * neither does nothing. Returns 0 or a negative errno.
 */
// mirrors mm/gup.c:try_grab_folio
export function tryGrabFolio(host: Host, f: number, page: number, refs: number, flags: number, at: PinQuery): number {
  const ft = host.ft;
  if (ft.refcount[f]! <= 0) return neg('ENOMEM');
  if (flags & FOLL.GET) {
    ft.refcount[f] = ft.refcount[f]! + refs;
    host.ev[Ev.ATOMIC_REFCOUNT]++;
    host.gupLedgerAdd(f, page, refs, false);
  } else if (flags & FOLL.PIN) {
    // The zero page is never pinned: it is not going anywhere.
    if (isZeroFolio(ft, f)) return 0;
    const r = host.pins.grab(host, f, page, refs, flags, at);
    if (r !== 0) return r;
  }
  return 0;
}

/** Drop what tryGrabFolio took. */
// mirrors mm/gup.c:gup_put_folio
export function gupPutFolio(host: Host, f: number, page: number, refs: number, flags: number): void {
  if (flags & FOLL.PIN) {
    if (isZeroFolio(host.ft, f)) return;
    // A page without a pin of its own whose folio holds a whole-folio pin: release that.
    const head = host.ft.pfn[f]!;
    if (refs === 1 && host.folioPinLedger.size > 0 && host.pagePins(f, page) === 0 && host.folioPinLedger.get(head) > 0) host.pins.putFolioPin(host, f, page, flags);
    else host.pins.put(host, f, page, refs, flags);
    return;
  }
  host.gupLedgerAdd(f, page, -refs, false);
  host.folioPut(f, refs);
}

/** The folio of a pfn from a pages array (page_folio), or 0 for a hole or a value that is no pfn. */
function pageFolio(host: Host, pfn: unknown): number {
  return typeof pfn === 'number' ? host.pfnFolio(pfn) : 0;
}

// mirrors mm/gup.c:unpin_user_page
export function unpinUserPage(host: Host, pfn: number): void {
  const f = pageFolio(host, pfn);
  if (f !== 0) gupPutFolio(host, f, pfn - host.ft.pfn[f]!, 1, FOLL.PIN);
}

/** Unpin npages pages; NULL (undefined) entries are skipped; an npages that looks like an errno is refused. */
// mirrors mm/gup.c:unpin_user_pages (FOLL_EXCLUSIVE in pinFlags: the RFC's unpin_exc_pages)
export function unpinUserPages(host: Host, pages: readonly number[], npages: number, pinFlags: number = FOLL.PIN): void {
  if (npages < 0) return; // WARN: an -errno passed as a count
  // Linux groups runs of one folio (gup_folio_next) and puts each run once; putting
  // page by page reaches the same folio totals and keeps the per-page ledger exact.
  for (let i = 0; i < npages; i++) {
    const f = pageFolio(host, pages[i]);
    if (f !== 0) gupPutFolio(host, f, pages[i]! - host.ft.pfn[f]!, 1, pinFlags);
  }
}

/** Mark each folio dirty (if clean) and unpin. */
// mirrors mm/gup.c:unpin_user_pages_dirty_lock
export function unpinUserPagesDirtyLock(host: Host, pages: readonly number[], npages: number, makeDirty: boolean, pinFlags: number = FOLL.PIN): void {
  if (!makeDirty) {
    unpinUserPages(host, pages, npages, pinFlags);
    return;
  }
  for (let i = 0; i < npages; i++) {
    const f = pageFolio(host, pages[i]);
    if (f !== 0) host.ft.flags[f]! |= PG.DIRTY;
  }
  unpinUserPages(host, pages, npages, pinFlags);
}

/**
 * Of n pins on pages of one folio (pfns), keep the first as a pin of the
 * whole folio and drop the others: a caller that holds one pin per folio and
 * uses every page of it.
 */
// mirrors io_uring/rsrc.c:io_coalesce_buffer (unpin_user_folio(folio, nr - 1))
export function coalescePinsToFolio(host: Host, pfns: readonly number[], n: number): void {
  if (n <= 0) return;
  const f = host.pfnFolio(pfns[0]!);
  if (f === 0 || isZeroFolio(host.ft, f)) return;
  host.pins.toFolioPin(host, f, pfns[0]! - host.ft.pfn[f]!, n);
  for (let i = 1; i < n; i++) unpinUserPage(host, pfns[i]!);
}

/** Turn an exclusive pin into a normal one (the guest shares the page). 0 or -EINVAL. */
// mirrors the exclusive-pin RFC's unexc_user_page (not upstream)
export function unexcUserPage(host: Host, pfn: number): number {
  const f = pageFolio(host, pfn);
  if (f === 0 || !host.pins.exclusiveSupported) return neg('EINVAL');
  return host.pins.unexc(host, f, pfn - host.ft.pfn[f]!);
}

/** Turn the single normal pin of an exclusive anon page into an exclusive pin. 0, -EINVAL or -EBUSY. */
// mirrors the exclusive-pin RFC's reexc_user_page (not upstream)
export function reexcUserPage(host: Host, pfn: number): number {
  const f = pageFolio(host, pfn);
  if (f === 0 || !host.pins.exclusiveSupported) return neg('EINVAL');
  return host.pins.reexc(host, f, pfn - host.ft.pfn[f]!);
}

/** Add one more pin to an already pinned folio; a no-op on the zero page. */
// mirrors mm/gup.c:folio_add_pin
export function folioAddPin(host: Host, pfn: number): void {
  const f = pageFolio(host, pfn);
  if (f === 0 || isZeroFolio(host.ft, f)) return;
  host.pins.addPin(host, f, pfn - host.ft.pfn[f]!);
}

/** Release a FOLL_GET reference (put_page). */
// mirrors include/linux/mm.h:put_page
export function putPage(host: Host, pfn: number): void {
  const f = pageFolio(host, pfn);
  if (f !== 0) gupPutFolio(host, f, pfn - host.ft.pfn[f]!, 1, FOLL.GET);
}

// ---------------------------------------------------------------------------
// VMA and page checks.

/**
 * Shared writable file mappings whose pages need write-notify for dirty
 * tracking (disk file systems; not tmpfs or hugetlbfs).
 */
// mirrors mm/mmap.c:vma_needs_dirty_tracking
export function vmaNeedsDirtyTracking(vma: Vma): boolean {
  if ((vma.flags & (VM.SHARED | VM.WRITE)) !== (VM.SHARED | VM.WRITE)) return false;
  if (vma.ops?.pageMkwrite) return true;
  return vma.file !== null && vma.file.inode.mapping.aops.writeback;
}

// mirrors mm/gup.c:writable_file_mapping_allowed
function writableFileMappingAllowed(vma: Vma, gupFlags: number): boolean {
  // Only a long-term pin is refused: it would write behind the file system's back.
  if ((gupFlags & (FOLL.PIN | FOLL.LONGTERM)) !== (FOLL.PIN | FOLL.LONGTERM)) return true;
  return !vmaNeedsDirtyTracking(vma);
}

/** May GUP access this VMA with these flags? Returns null or the errno. */
// mirrors mm/gup.c:check_vma_flags
export function checkVmaFlags(vma: Vma, gupFlags: number): ErrnoName | null {
  const vmFlags = vma.flags;
  const write = (gupFlags & FOLL.WRITE) !== 0;
  // vma_can_gup: no VM_IO / VM_PFNMAP.
  if (vmFlags & (VM.IO | VM.PFNMAP)) {
    const gp = vma.file?.inode.mapping.gupPolicy;
    if (gp !== undefined) gp.refused++;
    return 'EFAULT';
  }
  if (gupFlags & FOLL.ANON && !vmaIsAnonymous(vma)) return 'EFAULT';
  if (gupFlags & FOLL.LONGTERM && vmaIsFsdax(vma)) return 'EOPNOTSUPP';
  if (gupFlags & FOLL.SPLIT_PMD && vmFlags & VM.HUGETLB) return 'EOPNOTSUPP';
  if (write) {
    if (!vmaIsAnonymous(vma) && !writableFileMappingAllowed(vma, gupFlags)) return 'EFAULT';
    if (!(vmFlags & VM.WRITE)) {
      if (!(gupFlags & FOLL.FORCE)) return 'EFAULT';
      // A FOLL_FORCE write is only a COW into a private mapping.
      if (!isCowMapping(vmFlags)) return 'EFAULT';
    }
  } else if (!(vmFlags & VM.READ)) {
    if (!(gupFlags & FOLL.FORCE)) return 'EFAULT';
    if (!(vmFlags & VM.MAYREAD)) return 'EFAULT';
  }
  return null;
}

// mirrors mm/gup.c:vm_fault_to_errno
export function vmFaultToErrno(ret: number, gupFlags: number): ErrnoName | null {
  if (ret & VmFault.OOM) return 'ENOMEM';
  if (ret & (VmFault.HWPOISON | VmFault.HWPOISON_LARGE)) return gupFlags & FOLL.HWPOISON ? 'EHWPOISON' : 'EFAULT';
  if (ret & (VmFault.SIGBUS | VmFault.SIGSEGV)) return 'EFAULT';
  return null;
}

/**
 * Must a R/O pin of this page break COW first (FAULT_FLAG_UNSHARE)? True for a
 * possibly shared anonymous page, and for any page of a private mapping under
 * a long-term R/O pin (the zero page, page cache), so the pin keeps seeing what
 * the process sees. vma may be null (GUP-fast), which counts as COW.
 */
// mirrors mm/internal.h:gup_must_unshare
export function gupMustUnshare(host: Host, vma: Vma | null, flags: number, f: number, page: number): boolean {
  if ((flags & (FOLL.WRITE | FOLL.PIN)) !== FOLL.PIN) return false;
  if (!folioTestAnon(host.ft, f)) {
    if (!(flags & FOLL.LONGTERM)) return false;
    if (vma === null) return true;
    return isCowMapping(vma.flags);
  }
  return !pageAnonExclusive(host.ft, f, page);
}

/** FOLL_FORCE may write through a read-only entry of a private mapping (can_follow_write_common). */
// mirrors mm/gup.c:can_follow_write_common (with can_follow_write_pte / _pmd)
function canFollowWrite(host: Host, fl: number, f: number, page: number, vma: Vma, flags: number): boolean {
  if (fl & Pte.RW) return true;
  if (!(flags & FOLL.FORCE)) return false;
  if (vma.flags & (VM.MAYSHARE | VM.SHARED)) return false;
  if (!(vma.flags & VM.MAYWRITE)) return false;
  if (vma.flags & VM.WRITE) return false;
  if (f === 0 || !folioTestAnon(host.ft, f) || !pageAnonExclusive(host.ft, f, page)) return false;
  // ... and no write fault is needed for soft-dirty or uffd-wp tracking.
  if (!(vma.flags & VM.SOFTDIRTY) && !(fl & Pte.SOFT_DIRTY)) return false;
  return !(fl & Pte.UFFD_WP);
}

// ---------------------------------------------------------------------------
// The slow path.

const $w: Walk = { table: null as never, idx: 0, level: Level.PTE, parent: null, pidx: 0 };

/** EMLINK: follow_page_mask's "unshare first". */
const EMLINK = -errno.EMLINK;
const EEXIST = -errno.EEXIST;

/**
 * Look up (and grab, per flags) pages from addr until end within vma. Returns
 * the number of pages handled (> 0), 0 if a fault is needed, EMLINK if an
 * unshare fault is needed, or a negative errno.
 */
// mirrors mm/gup.c:follow_page_mask (follow_huge_pud / follow_huge_pmd / follow_page_pte)
function followPageMask(host: Host, vma: Vma, addr: number, end: number, flags: number, pages: number[] | null, pi: number): number {
  const ft = host.ft;
  walk(vma.mm.pgd, addr, $w);
  const t = $w.table;
  const level = $w.level;
  const fl = t.fl[$w.idx]!;
  if (level !== Level.PTE) {
    if (!(fl & Pte.PSE)) return noPageTable(vma, flags);
    if (!(flags & FOLL.SPLIT_PMD) || level !== Level.PMD) return followHugeLeaf(host, vma, t, $w.idx, level, addr, end, flags, pages, pi);
    // FOLL_SPLIT_PMD: split the PMD and follow the PTE table that replaces it.
    splitHugePmd(host, vma, t, $w.idx, Math.floor(addr / PMD_SIZE) * PMD_SIZE);
    return followPageMask(host, vma, addr, end, flags, pages, pi);
  }
  // follow_page_pte: walk this table to its end, the VMA end or the request end.
  const tableEnd = Math.floor(addr / PMD_SIZE) * PMD_SIZE + PMD_SIZE;
  const walkEnd = Math.min(tableEnd, vma.end, end);
  let nr = 0;
  let a = addr;
  let ret = 0;
  for (; a < walkEnd; a += PAGE_SIZE) {
    const i = tableIndex(a, Level.PTE);
    const pfl = t.fl[i]!;
    if (pfl === 0) {
      ret = 0;
      break;
    }
    if (!(pfl & (Pte.PRESENT | Pte.PROTNONE)) || (pfl & Pte.PROTNONE && !gupCanFollowProtnone(vma, flags))) {
      ret = 0;
      break;
    }
    const pfn = t.pfn[i]!;
    let f = pfl & Pte.SPECIAL ? 0 : host.pfnFolio(pfn);
    let page = f === 0 ? 0 : pfn - ft.pfn[f]!;
    if (flags & FOLL.WRITE && !canFollowWrite(host, pfl, f, page, vma, flags)) {
      ret = 0;
      break;
    }
    if (f === 0) {
      if (flags & FOLL.DUMP) {
        ret = neg('EFAULT');
        break;
      }
      if (pfn !== ft.pfn[host.zeroPage]) {
        ret = EEXIST; // a PFN mapping without a struct page
        break;
      }
      f = host.zeroPage;
      page = 0;
    }
    if (!(pfl & Pte.RW) && gupMustUnshare(host, vma, flags, f, page)) {
      ret = EMLINK;
      break;
    }
    const g = tryGrabFolio(host, f, page, 1, flags, site(vma.mm, a));
    if (g !== 0) {
      ret = g;
      break;
    }
    if (flags & FOLL.TOUCH) {
      if (flags & FOLL.WRITE && !(pfl & Pte.DIRTY)) ft.flags[f]! |= PG.DIRTY;
      ft.flags[f]! |= PG.REFERENCED;
    }
    if (pages !== null) pages[pi + nr] = pfn;
    nr++;
  }
  host.ev[Ev.GUP_SLOW_ENTRY] += nr;
  if (nr > 0) return nr;
  if (ret === 0 && (a >= walkEnd || t.fl[tableIndex(a, Level.PTE)] === 0)) return noPageTable(vma, flags);
  return ret;
}

// mirrors mm/gup.c:no_page_table
function noPageTable(vma: Vma, flags: number): number {
  if (!(flags & FOLL.DUMP)) return 0;
  // Core dumps skip holes that a fault would fill with zeros.
  if (vmaIsAnonymous(vma)) return neg('EFAULT');
  return 0;
}

/**
 * May GUP take a PROT_NONE (protnone) entry? Yes, unless the caller honours
 * NUMA hinting faults in an accessible VMA, where protnone means "fault first".
 * FOLL_FORCE reads of PROT_NONE mappings rely on this.
 */
// mirrors mm/internal.h:gup_can_follow_protnone
function gupCanFollowProtnone(vma: Vma, flags: number): boolean {
  if (!(flags & FOLL.HONOR_NUMA_FAULT)) return true;
  return !(vma.flags & (VM.READ | VM.WRITE | VM.EXEC));
}

// mirrors mm/gup.c:follow_huge_pmd / follow_huge_pud
function followHugeLeaf(host: Host, vma: Vma, t: PageTable, i: number, level: Level, addr: number, end: number, flags: number, pages: number[] | null, pi: number): number {
  const ft = host.ft;
  const fl = t.fl[i]!;
  const head = t.pfn[i]!;
  const f = host.pfnFolio(head);
  if (f === 0) return 0;
  if (flags & FOLL.WRITE && !canFollowWrite(host, fl, f, 0, vma, flags)) return 0;
  if (flags & FOLL.DUMP && f === host.hugeZeroFolio) return neg('EFAULT');
  if (fl & Pte.PROTNONE && !gupCanFollowProtnone(vma, flags)) return 0;
  if (!(fl & Pte.RW) && gupMustUnshare(host, vma, flags, f, 0)) return EMLINK;
  const span = level === Level.PMD ? PMD_SIZE : PUD_SIZE;
  const base = Math.floor(addr / span) * span;
  const off = (addr - base) / PAGE_SIZE;
  const nr = Math.min(span / PAGE_SIZE - off, Math.floor((end - addr) / PAGE_SIZE));
  // The leaf may map a piece of a larger folio (a 2 MiB PMD inside a 1 GiB HugeTLB page under HGM).
  const g = tryGrabFolio(host, f, head - ft.pfn[f]! + off, nr, flags, site(vma.mm, addr));
  if (g !== 0) return g;
  if (flags & FOLL.TOUCH) {
    // touch_pmd: young, and dirty for writes (re-read: the grab may have set a software bit).
    t.fl[i] = t.fl[i]! | Pte.ACCESSED | (flags & FOLL.WRITE ? MKDIRTY : 0);
    ft.flags[f]! |= PG.REFERENCED;
  }
  if (pages !== null) for (let k = 0; k < nr; k++) pages[pi + k] = head + off + k;
  host.ev[Ev.GUP_SLOW_ENTRY]++;
  return nr;
}

/** faultin_page's answer after waiting for userfaultfd: look the VMA up again and retry (Linux: -EBUSY, then FOLL_TRIED). */
const FAULTIN_RETRY = 1;

/**
 * Fault in one page for GUP; 0, FAULTIN_RETRY, or a negative errno. A fault
 * that goes to userfaultfd waits (the monitor runs, src/mm/userfaultfd_k.ts);
 * woken, GUP retries; not woken, it ends as if a fatal signal interrupted
 * the wait (-EINTR).
 */
// mirrors mm/gup.c:faultin_page
function faultinPage(host: Host, vma: Vma, addr: number, flags: number, unshare: boolean): number {
  if (flags & FOLL.NOFAULT) return neg('EFAULT');
  let ff = 0;
  if (flags & FOLL.WRITE) ff |= FaultFlag.WRITE;
  if (flags & FOLL.REMOTE) ff |= FaultFlag.REMOTE;
  if (flags & FOLL.UNLOCKABLE) ff |= FaultFlag.ALLOW_RETRY | FaultFlag.KILLABLE;
  if (flags & FOLL.TRIED) ff |= FaultFlag.TRIED;
  if (unshare) ff |= FaultFlag.UNSHARE;
  const ret = handleMmFault(host, vma, addr, ff);
  if (ret & VmFault.RETRY) return userfaultfdWait(true).result === UffdWait.INTERRUPTED ? neg('EINTR') : FAULTIN_RETRY;
  if (ret & VmFault.ERROR) {
    const e = vmFaultToErrno(ret, flags);
    if (e !== null) return neg(e);
  }
  return 0;
}

/**
 * The core loop: walk nrPages pages from start, faulting where needed, and
 * grab each per flags into pages (or just fault them in when pages is null).
 * Returns the pages handled, or a negative errno if none were.
 */
// mirrors mm/gup.c:__get_user_pages
export function getUserPagesCore(host: Host, mm: MmStruct, start: number, nrPages: number, flags: number, pages: number[] | null): number {
  if (nrPages === 0) return 0;
  let i = 0;
  let ret = 0;
  let vma: Vma | null = null;
  let addr = start;
  let left = nrPages;
  let uffdRetries = 0;
  while (left > 0) {
    if (vma === null || addr >= vma.end) {
      vma = addr < TASK_SIZE ? vmaLookup(mm, addr) : null;
      if (flags & FOLL.MADV_POPULATE) {
        if (vma === null) {
          ret = neg('ENOMEM');
          break;
        }
        if (checkVmaFlags(vma, flags) !== null) {
          ret = neg('EINVAL');
          break;
        }
      } else {
        if (vma === null) {
          ret = neg('EFAULT');
          break;
        }
        const e = checkVmaFlags(vma, flags);
        if (e !== null) {
          ret = neg(e);
          break;
        }
      }
    }
    const end = addr + left * PAGE_SIZE;
    let nr = followPageMask(host, vma, addr, end, flags, pages, i);
    // retry: fault (or unshare) and look again, as often as it takes.
    let tries = 0;
    let failed = false;
    let relookup = false;
    while (nr === 0 || nr === EMLINK) {
      if (++tries > 4) {
        // A fault that succeeds but leaves nothing to follow is a model bug, not a user error.
        throw new Error(`internal: GUP at 0x${addr.toString(16)} made no progress`);
      }
      const r = faultinPage(host, vma, addr, flags, nr === EMLINK);
      if (r === FAULTIN_RETRY) {
        // The monitor ran while mmap_lock was dropped: the VMA may have changed.
        relookup = true;
        break;
      }
      if (r !== 0) {
        ret = r;
        failed = true;
        break;
      }
      nr = followPageMask(host, vma, addr, end, flags, pages, i);
    }
    if (failed) break;
    if (relookup) {
      // A monitor that keeps waking the fault without resolving it would hang Linux; give up as a signal would.
      if (++uffdRetries > 1000) {
        ret = neg('EINTR');
        break;
      }
      vma = null;
      continue;
    }
    if (nr === EEXIST) {
      if (pages !== null) {
        ret = nr;
        break;
      }
      nr = 1;
    } else if (nr < 0) {
      ret = nr;
      break;
    }
    i += nr;
    addr += nr * PAGE_SIZE;
    left -= nr;
  }
  return i > 0 ? i : ret;
}

/** __get_user_pages with the FOLL_PIN bookkeeping and implied FOLL_GET. */
// mirrors mm/gup.c:__get_user_pages_locked
function getUserPagesLocked(host: Host, mm: MmStruct, start: number, nrPages: number, pages: number[] | null, flags: number): number {
  if (nrPages === 0) return 0;
  if (flags & FOLL.PIN) {
    mm.flags |= MMF.HAS_PINNED;
    mm.pinRequests++;
  }
  if (pages !== null && !(flags & FOLL.PIN)) flags |= FOLL.GET;
  const r = getUserPagesCore(host, mm, start, nrPages, flags, pages);
  // Failing to pin anything implies something has gone wrong (except with FOLL_NOWAIT).
  if (r === 0 && !(flags & FOLL.NOWAIT)) return neg('EFAULT');
  return r;
}

/**
 * FOLL_LONGTERM: pin, then migrate away any folio that may not stay pinned
 * (ZONE_MOVABLE, CMA) and pin again, until everything pinned may stay.
 */
// mirrors mm/gup.c:__gup_longterm_locked (check_and_migrate_movable_pages)
function gupLongtermLocked(host: Host, mm: MmStruct, start: number, nrPages: number, pages: number[] | null, flags: number): number {
  if (!(flags & FOLL.LONGTERM)) return getUserPagesLocked(host, mm, start, nrPages, pages, flags);
  // As in Linux, no bound: each round migrates what it pinned into memory that
  // may stay pinned (GFP_KERNEL targets), so the next round finds nothing to move.
  for (;;) {
    const n = getUserPagesLocked(host, mm, start, nrPages, pages, flags);
    if (n <= 0) return n;
    const rc = migrateLongtermUnpinnable(host, pages!, n, flags & FOLL.EXCLUSIVE);
    if (rc !== -errno.EAGAIN) return rc === 0 ? n : rc;
  }
}

// ---------------------------------------------------------------------------
// The fast path.

/** Can GUP-fast take this folio? Long-term writable pins of file pages need the slow path's VMA checks. */
// mirrors mm/gup.c:gup_fast_folio_allowed
function gupFastFolioAllowed(host: Host, f: number, flags: number): boolean {
  if ((flags & (FOLL.PIN | FOLL.LONGTERM | FOLL.WRITE)) !== (FOLL.PIN | FOLL.LONGTERM | FOLL.WRITE)) return true;
  const ft = host.ft;
  if (ft.flags[f]! & PG.HUGETLB) return true;
  const o = ft.owner[f];
  if (o === null || o === undefined) return false;
  if (o.kind === 'anon') return true;
  // The only file system allowed is shmem.
  return (ft.flags[f]! & PG.SWAPBACKED) !== 0;
}

/** GUP-fast's grab: a reference first, then the pin, failing (not erroring) where the slow path must decide. */
// mirrors mm/gup.c:try_grab_folio_fast
function tryGrabFolioFast(host: Host, f: number, page: number, refs: number, flags: number, at: PinQuery): boolean {
  const ft = host.ft;
  if (flags & FOLL.PIN && isZeroFolio(ft, f)) return true;
  // try_get_folio: a negative (overflowed) or zero (frozen) refcount fails.
  if (ft.refcount[f]! <= 0) return false;
  if (flags & FOLL.GET) return tryGrabFolio(host, f, page, refs, flags, at) === 0;
  if (flags & FOLL.LONGTERM && !folioIsLongtermPinnable(host, f)) return false;
  return host.pins.grab(host, f, page, refs, flags, at) === 0;
}

/** May this folio stay pinned long-term (not ZONE_MOVABLE, not CMA)? The zero page may. */
// mirrors include/linux/mm.h:folio_is_longterm_pinnable
export function folioIsLongtermPinnable(host: Host, f: number): boolean {
  const ft = host.ft;
  if (isZeroFolio(ft, f)) return true;
  // fs-dax pages belong to the file system's storage: never long-term pinnable.
  if (folioIsFsdax(host, f)) return false;
  // gmemHugeShared 'no-longterm-pin': a huge guest_memfd folio is treated like ZONE_MOVABLE memory.
  if (folioRefusesLongterm(host, f)) return false;
  return host.pa.longtermPinnable(ft.pfn[f]!);
}

/**
 * Walk the page tables without faulting, taking what the entries permit; stop
 * at the first page that needs the slow path. Returns pages taken.
 */
// mirrors mm/gup.c:gup_fast (gup_fast_pgd_range ... gup_fast_pte_range / gup_fast_pmd_leaf / gup_fast_pud_leaf)
function gupFast(host: Host, mm: MmStruct, start: number, end: number, flags: number, pages: number[]): number {
  // A fork is write-protecting this mm: GUP-fast with FOLL_PIN must not race it.
  if (flags & FOLL.PIN && mm.writeProtectSeq & 1) return 0;
  const seq = mm.writeProtectSeq;
  const ft = host.ft;
  let nr = 0;
  let addr = start;
  while (addr < end) {
    let t: PageTable;
    let idx: number;
    let level: Level;
    const base2m = addr - modPow2(addr, PMD_SIZE);
    const pmd = mm.gupPmd;
    if (mm.gupPteBase === base2m && mm.gupGen === host.ptGen && pmd!.kids![mm.gupPmdI] === mm.gupPte && (pmd!.fl[mm.gupPmdI]! & (Pte.PRESENT | Pte.PSE)) === Pte.PRESENT) {
      t = mm.gupPte!;
      idx = (addr - base2m) / PAGE_SIZE;
      level = Level.PTE;
    } else {
      walk(mm.pgd, addr, $w);
      t = $w.table;
      idx = $w.idx;
      level = $w.level;
      if (level === Level.PTE && $w.parent !== null) {
        mm.gupPte = t;
        mm.gupPteBase = base2m;
        mm.gupPmd = $w.parent;
        mm.gupPmdI = $w.pidx;
        mm.gupGen = host.ptGen;
      }
    }
    const fl = t.fl[idx]!;
    const leaf = level === Level.PTE ? fl !== 0 : (fl & Pte.PSE) !== 0;
    // pte_protnone, !pte_access_permitted, pte_special all send us to the slow path.
    if (!leaf || !(fl & Pte.PRESENT) || fl & Pte.PROTNONE || !(fl & Pte.USER)) break;
    if (flags & FOLL.WRITE && !(fl & Pte.RW)) break;
    if (fl & Pte.SPECIAL) break;
    // One page for a PTE; the rest of the leaf (up to end) for a PMD/PUD.
    let n = 1;
    let pfn = t.pfn[idx]!;
    if (level !== Level.PTE) {
      const span = LEVEL_SPAN[level]!;
      const off = (addr - Math.floor(addr / span) * span) / PAGE_SIZE;
      n = Math.min(span / PAGE_SIZE - off, (end - addr) / PAGE_SIZE);
      pfn += off;
    }
    const f = host.pfnFolio(pfn);
    if (f === 0) break;
    const page = pfn - ft.pfn[f]!;
    if (!tryGrabFolioFast(host, f, page, n, flags, site(mm, addr))) break;
    // gup_fast_pmd_leaf / gup_fast_pud_leaf ask about the folio's head page
    // (&folio->page): a PMD-mapped THP keeps PageAnonExclusive there only.
    const unsharePage = level === Level.PTE ? page : 0;
    if (!gupFastFolioAllowed(host, f, flags) || (!(fl & Pte.RW) && gupMustUnshare(host, null, flags, f, unsharePage))) {
      gupPutFolio(host, f, page, n, flags);
      break;
    }
    ft.flags[f]! |= PG.REFERENCED;
    host.ev[Ev.GUP_FAST_ENTRY]++;
    for (let k = 0; k < n; k++) pages[nr + k] = pfn + k;
    nr += n;
    addr += n * PAGE_SIZE;
  }
  if (flags & FOLL.PIN && mm.writeProtectSeq !== seq) {
    unpinUserPages(host, pages, nr, flags & (FOLL.PIN | FOLL.EXCLUSIVE));
    return 0;
  }
  return nr;
}

/** gup_fast_fallback's range checks for what does not fit in doubles: EOVERFLOW if start + len wraps, else EFAULT. */
function fastRangeError(start: bigint, nrPages: number): number {
  const len = BigInt.asUintN(64, BigInt.asUintN(64, BigInt(nrPages)) << 12n);
  return start + len >= 1n << 64n ? neg('EOVERFLOW') : neg('EFAULT');
}

/** GUP-fast, then the slow path for whatever it could not take. */
// mirrors mm/gup.c:gup_fast_fallback
function gupFastFallback(host: Host, mm: MmStruct, start: number, nrPages: number, flags: number, pages: number[], bigStart = 0n): number {
  if (flags & ~FAST_ALLOWED) return neg('EINVAL');
  if (flags & FOLL.PIN) {
    mm.flags |= MMF.HAS_PINNED;
    mm.pinRequests++;
  }
  start = Math.floor(start / PAGE_SIZE) * PAGE_SIZE;
  // The int nr_pages widens to unsigned long: a negative count is a huge length.
  if (nrPages < 0 || start >= FAR) return fastRangeError(start >= FAR ? bigStart & ~4095n : BigInt(start), nrPages);
  const end = start + nrPages * PAGE_SIZE;
  if (end > TASK_SIZE) return neg('EFAULT');
  const pinned = gupFast(host, mm, start, end, flags, pages);
  if (pinned === nrPages || flags & FOLL.FAST_ONLY) return pinned;
  const rest = pages.slice(pinned);
  const ret = gupLongtermLocked(host, mm, start + pinned * PAGE_SIZE, nrPages - pinned, rest, flags | FOLL.TOUCH | FOLL.UNLOCKABLE);
  for (let k = 0; k < Math.max(0, ret); k++) pages[pinned + k] = rest[k]!;
  if (ret < 0) return pinned > 0 ? pinned : ret;
  return ret + pinned;
}

// ---------------------------------------------------------------------------
// The exported interface: argument rules, then the walk.

/**
 * Check caller flags and add the wrapper's. Returns the flags or null (the
 * caller returns -EINVAL, or 0 for the pin_user_pages family).
 */
// mirrors mm/gup.c:is_valid_gup_args
export function isValidGupArgs(host: Host, pages: unknown, locked: { value: number } | null, gupFlags: number, toSet: number): number | null {
  // Internal flags may not come from outside (FOLL_TOUCH, FOLL_PIN, ...).
  if (gupFlags & FOLL.INTERNAL) return null;
  let flags = gupFlags | toSet;
  if (locked !== null) {
    if (locked.value !== 1) return null;
    flags |= FOLL.UNLOCKABLE;
  }
  // FOLL_GET and FOLL_PIN are mutually exclusive.
  if ((flags & (FOLL.PIN | FOLL.GET)) === (FOLL.PIN | FOLL.GET)) return null;
  // LONGTERM only when pinning.
  if (!(flags & FOLL.PIN) && flags & FOLL.LONGTERM) return null;
  // GET and PIN need a pages array.
  if (flags & (FOLL.GET | FOLL.PIN) && !Array.isArray(pages)) return null;
  if (flags & FOLL.LONGTERM && flags & FOLL.PCI_P2PDMA) return null;
  // FOLL_EXCLUSIVE (RFC): only with the policy on, and only for long-term pins.
  if (flags & FOLL.EXCLUSIVE && (!host.pins.exclusiveSupported || (flags & (FOLL.PIN | FOLL.LONGTERM)) !== (FOLL.PIN | FOLL.LONGTERM))) return null;
  return flags;
}

/** Converted arguments (one reused object: GUP is a hot path). */
const $args = { start: 0, nr: 0, flags: 0, bigStart: 0n };
/** More pages than the user address space holds: a larger unsigned long nr_pages walks the same way. */
const NR_CAP = 2 ** 36;
/** Any start beyond 2^53 lies far outside user space; the walk treats it alike. */
const FAR = 2 ** 53;

/**
 * start (unsigned long), nr_pages (unsigned long, or int for the fast
 * variants) and gup_flags (unsigned int) as a C caller would pass them: JS
 * numbers and bigints wrap to the C type; anything else no C caller could
 * pass gives null (the wrapper's invalid-argument answer).
 */
function gupArgs(start: unknown, nrPages: unknown, gupFlags: unknown, intNr: boolean): typeof $args | null {
  // The common case without bigints.
  if (typeof start === 'number' && typeof nrPages === 'number' && typeof gupFlags === 'number' && Number.isSafeInteger(start) && start >= 0 && Number.isSafeInteger(nrPages) && nrPages >= 0 && nrPages < 2 ** 31 && Number.isInteger(gupFlags)) {
    $args.start = start;
    $args.nr = nrPages;
    $args.flags = gupFlags >>> 0;
    $args.bigStart = 0n;
    return $args;
  }
  const s = cULong(start);
  const n = intNr ? cInt(nrPages) : cULong(nrPages);
  const f = cUInt(gupFlags);
  if (s === null || n === null || f === null) return null;
  $args.start = s >= BigInt(FAR) ? FAR : Number(s);
  $args.bigStart = s;
  $args.nr = typeof n === 'number' ? n : n > BigInt(NR_CAP) ? NR_CAP : Number(n);
  $args.flags = f;
  return $args;
}

export function getUserPages(host: Host, mm: MmStruct, start: unknown, nrPages: unknown, gupFlags: unknown, pages: number[] | null): number {
  const a = gupArgs(start, nrPages, gupFlags, false);
  if (a === null) return neg('EINVAL');
  const flags = isValidGupArgs(host, pages, null, a.flags, FOLL.TOUCH);
  if (flags === null) return neg('EINVAL');
  return getUserPagesLocked(host, mm, a.start, a.nr, pages, flags);
}

export function getUserPagesRemote(host: Host, mm: MmStruct, start: unknown, nrPages: unknown, gupFlags: unknown, pages: number[] | null): number {
  const a = gupArgs(start, nrPages, gupFlags, false);
  if (a === null) return neg('EINVAL');
  const flags = isValidGupArgs(host, pages, null, a.flags, FOLL.TOUCH | FOLL.REMOTE);
  if (flags === null) return neg('EINVAL');
  return getUserPagesLocked(host, mm, a.start, a.nr, pages, flags);
}

export function getUserPagesFast(host: Host, mm: MmStruct, start: unknown, nrPages: unknown, gupFlags: unknown, pages: number[]): number {
  const a = gupArgs(start, nrPages, gupFlags, true);
  if (a === null) return neg('EINVAL');
  const flags = isValidGupArgs(host, pages, null, a.flags, FOLL.GET);
  if (flags === null) return neg('EINVAL');
  return gupFastFallback(host, mm, a.start, a.nr, flags, pages, a.bigStart);
}

export function getUserPagesFastOnly(host: Host, mm: MmStruct, start: unknown, nrPages: unknown, gupFlags: unknown, pages: number[]): number {
  const a = gupArgs(start, nrPages, gupFlags, true);
  if (a === null) return neg('EINVAL');
  const flags = isValidGupArgs(host, pages, null, a.flags, FOLL.GET | FOLL.FAST_ONLY);
  if (flags === null) return neg('EINVAL');
  return gupFastFallback(host, mm, a.start, a.nr, flags, pages, a.bigStart);
}

export function pinUserPages(host: Host, mm: MmStruct, start: unknown, nrPages: unknown, gupFlags: unknown, pages: number[]): number {
  const a = gupArgs(start, nrPages, gupFlags, false);
  if (a === null) return 0;
  const flags = isValidGupArgs(host, pages, null, a.flags, FOLL.PIN);
  if (flags === null) return 0;
  return gupLongtermLocked(host, mm, a.start, a.nr, pages, flags);
}

export function pinUserPagesRemote(host: Host, mm: MmStruct, start: unknown, nrPages: unknown, gupFlags: unknown, pages: number[]): number {
  const a = gupArgs(start, nrPages, gupFlags, false);
  if (a === null) return 0;
  const flags = isValidGupArgs(host, pages, null, a.flags, FOLL.PIN | FOLL.TOUCH | FOLL.REMOTE);
  if (flags === null) return 0;
  return gupLongtermLocked(host, mm, a.start, a.nr, pages, flags);
}

export function pinUserPagesFast(host: Host, mm: MmStruct, start: unknown, nrPages: unknown, gupFlags: unknown, pages: number[]): number {
  const a = gupArgs(start, nrPages, gupFlags, true);
  if (a === null) return neg('EINVAL');
  const flags = isValidGupArgs(host, pages, null, a.flags, FOLL.PIN);
  if (flags === null) return neg('EINVAL');
  return gupFastFallback(host, mm, a.start, a.nr, flags, pages, a.bigStart);
}

// ---------------------------------------------------------------------------
// Populating: MAP_POPULATE, mlock, MADV_POPULATE_*.

/** Result of a populate walk: pages handled, or an errno if none were. */
export type GupResult = number | ErrnoName;

function toResult(r: number): GupResult {
  return r >= 0 ? r : (Object.keys(errno).find((k) => errno[k as ErrnoName] === -r) as ErrnoName);
}

/** Fault in [start, end) of one VMA for MAP_POPULATE / mlock. */
// mirrors mm/gup.c:populate_vma_page_range
export function populateVmaPageRange(host: Host, vma: Vma, start: number, end: number): GupResult {
  if (vma.flags & VM.LOCKONFAULT) return (end - start) / PAGE_SIZE;
  // PROT_NONE pages were never faulted in.
  if (!(vma.flags & (VM.READ | VM.WRITE | VM.EXEC))) return 'EFAULT';
  if (!(vma.flags & VM.MAYREAD)) return 'EFAULT';
  // Private writable mappings are touched with writes, to break COW now;
  // others with a read, forced in case they are not readable.
  let flags = FOLL.TOUCH;
  if ((vma.flags & (VM.WRITE | VM.SHARED)) === VM.WRITE) flags |= FOLL.WRITE;
  else flags |= FOLL.FORCE;
  return toResult(getUserPagesCore(host, vma.mm, start, (end - start) / PAGE_SIZE, flags, null));
}

/** Populate [start, start + len) of mm, skipping VM_IO/VM_PFNMAP VMAs; errors are ignored. */
// mirrors mm/gup.c:__mm_populate (ignore_errors = 1)
export function mmPopulate(host: Host, mm: MmStruct, start: number, len: number): void {
  const end = start + len;
  let addr = start;
  while (addr < end) {
    const vma = mm.vmas.find((v) => v.end > addr && v.start < end);
    if (vma === undefined) return;
    const s = Math.max(addr, vma.start);
    const e = Math.min(end, vma.end);
    if (!(vma.flags & (VM.IO | VM.PFNMAP))) populateVmaPageRange(host, vma, s, e);
    addr = e;
  }
}

/** Fault in [start, end) for MADV_POPULATE_READ/WRITE. Returns pages or an errno. */
// mirrors mm/gup.c:faultin_page_range
export function faultinPageRange(host: Host, mm: MmStruct, start: number, end: number, write: boolean): GupResult {
  let flags = FOLL.TOUCH | FOLL.HWPOISON | FOLL.UNLOCKABLE | FOLL.MADV_POPULATE;
  if (write) flags |= FOLL.WRITE;
  const r = getUserPagesCore(host, mm, start, (end - start) / PAGE_SIZE, flags, null);
  return toResult(r === 0 ? -errno.EFAULT : r);
}
