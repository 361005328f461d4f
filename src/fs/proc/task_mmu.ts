/**
 * /proc/<pid>/smaps, /proc/<pid>/pagemap and the memory lines of
 * /proc/<pid>/status (mirrors fs/proc/task_mmu.c and fs/proc/array.c).
 */
import {
  PG,
  folioMaybeMappedShared,
  folioPrecisePageMapcount,
  folioTestAnon,
  pageAnonExclusive,
} from '../../mm/folio.js';
import type { Host } from '../../mm/host.js';
import { MMF, MmCounter, type MmStruct, VM, type Vma, isCowMapping } from '../../mm/mm_types.js';
import { HPAGE_PMD_ORDER, LEVEL_SHIFT, Level, PAGE_SIZE, TASK_SIZE, tableIndex } from '../../mm/page.js';
import { type PageTable, Pte, isPteMarker, isSwapEntry, setEntry } from '../../mm/pgtable.js';
import { swpOffset, swpType } from '../../mm/swapfile.js';
import { vmaLookup, vmaSetPageProt } from '../../mm/vma.js';
import { vmNormalPage } from '../../mm/memory.js';
import { MmuNotifyEvent, withInvalidate } from '../../mm/mmu_notifier.js';
import { NO_SITE, folioMaybeDmaPinnedP } from '../../mm/pin_policy.js';
import { THP_ORDERS_ALL_ANON, TVA_ENFORCE_SYSFS, TVA_SMAPS, thpVmaAllowableOrders, thpVmaSuitableOrder, vmaThpDisabled } from '../../mm/huge_memory.js';
import { resultSize } from '../../uapi/ctypes.js';
import { flushTlbMm } from '../../mm/tlb.js';
import { hgmPrecisePageMapcount } from '../../mm/hugetlb_hgm.js';

/**
 * MAJOR:MINOR of an s_dev as stat(2) encodes it (new_encode_dev), in the
 * two-digit hex of show_vma_header_prefix (wider numbers print in full).
 */
// mirrors include/linux/kdev_t.h:new_decode_dev (and fs/proc/task_mmu.c:show_vma_header_prefix's format)
function devName(dev: number): string {
  const major = (dev & 0xfff00) >>> 8;
  const minor = (dev & 0xff) | ((dev >>> 12) & 0xfff00);
  return `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}`;
}

/** Fixed-point shift for PSS (fs/proc/task_mmu.c: PSS_SHIFT). */
const PSS_SHIFT = 12;

/** One /proc/pid/smaps entry; sizes in kB as the file prints them. */
export interface SmapsEntry {
  start: number;
  end: number;
  /** 'rw-p' and the like. */
  perms: string;
  /** File offset in bytes: a number, or a bigint above Number.MAX_SAFE_INTEGER (a tmpfs mapping may start near 2^63). */
  offset: number | bigint;
  /** The file's device as the header prints it, MAJOR:MINOR in two hex digits each ('00:00' for anonymous memory). */
  dev: string;
  inode: number;
  pathname: string;
  Size: number;
  KernelPageSize: number;
  MMUPageSize: number;
  Rss: number;
  Pss: number;
  Pss_Dirty: number;
  Pss_Anon: number;
  Pss_File: number;
  Pss_Shmem: number;
  Shared_Clean: number;
  Shared_Dirty: number;
  Private_Clean: number;
  Private_Dirty: number;
  Referenced: number;
  Anonymous: number;
  KSM: number;
  LazyFree: number;
  AnonHugePages: number;
  ShmemPmdMapped: number;
  FilePmdMapped: number;
  Shared_Hugetlb: number;
  Private_Hugetlb: number;
  Swap: number;
  SwapPss: number;
  Locked: number;
  THPeligible: number;
  VmFlags: string;
}

/** struct mem_size_stats, in bytes (pss fields in bytes << PSS_SHIFT). */
interface Mss {
  resident: number;
  pss: number;
  pssDirty: number;
  pssAnon: number;
  pssFile: number;
  pssShmem: number;
  sharedClean: number;
  sharedDirty: number;
  privateClean: number;
  privateDirty: number;
  referenced: number;
  anonymous: number;
  lazyfree: number;
  anonymousThp: number;
  shmemThp: number;
  fileThp: number;
  pssLocked: number;
}

// mirrors fs/proc/task_mmu.c:smaps_page_accumulate
function pageAccumulate(host: Host, m: Mss, f: number, size: number, pss: number, dirty: boolean, locked: boolean, priv: boolean): void {
  const fl = host.ft.flags[f]!;
  m.pss += pss;
  if (fl & PG.ANON) m.pssAnon += pss;
  else if (fl & PG.SWAPBACKED) m.pssShmem += pss;
  else m.pssFile += pss;
  if (locked) m.pssLocked += pss;
  if (dirty || fl & PG.DIRTY) {
    m.pssDirty += pss;
    if (priv) m.privateDirty += size;
    else m.sharedDirty += size;
  } else if (priv) m.privateClean += size;
  else m.sharedClean += size;
}

// mirrors fs/proc/task_mmu.c:smaps_account (CONFIG_PAGE_MAPCOUNT)
function smapsAccount(host: Host, m: Mss, f: number, page: number, nr: number, young: boolean, dirty: boolean, locked: boolean): void {
  const ft = host.ft;
  const size = nr * PAGE_SIZE;
  if (folioTestAnon(ft, f)) {
    m.anonymous += size;
    if (!(ft.flags[f]! & PG.SWAPBACKED) && !dirty && !(ft.flags[f]! & PG.DIRTY)) m.lazyfree += size;
  }
  m.resident += size;
  if (young || ft.flags[f]! & PG.REFERENCED) m.referenced += size;
  // refcount 1 means mapped exactly once.
  if (ft.refcount[f] === 1) {
    pageAccumulate(host, m, f, size, size * 2 ** PSS_SHIFT, dirty, locked, true);
    return;
  }
  for (let i = page; i < page + nr; i++) {
    const mapcount = folioPrecisePageMapcount(ft, f, i);
    let pss = PAGE_SIZE * 2 ** PSS_SHIFT;
    if (mapcount >= 2) pss = Math.floor(pss / mapcount);
    pageAccumulate(host, m, f, PAGE_SIZE, pss, dirty, locked, mapcount < 2);
  }
}

/** Visit every leaf entry mapping [start, end): (table, index, level, addr). */
export function walkLeaves(root: PageTable, start: number, end: number, visit: (t: PageTable, i: number, level: Level, addr: number) => void): void {
  const rec = (t: PageTable, a: number, e: number): void => {
    const span = 2 ** LEVEL_SHIFT[t.level]!;
    while (a < e) {
      const i = tableIndex(a, t.level);
      const base = Math.floor(a / span) * span;
      const next = Math.min(base + span, e);
      const fl = t.fl[i]!;
      if (fl !== 0) {
        if (t.level === Level.PTE || fl & Pte.PSE) visit(t, i, t.level, base);
        else rec(t.kids![i]!, a, next);
      }
      a = next;
    }
  };
  rec(root, start, end);
}

/** The mnemonics in Linux's bit order (VM_UFFD_MINOR is bit 38 and VM_DROPPABLE bit 40 there, so last). */
const VMFLAG_NAMES: [number, string][] = [
  [VM.READ, 'rd'],
  [VM.WRITE, 'wr'],
  [VM.EXEC, 'ex'],
  [VM.SHARED, 'sh'],
  [VM.MAYREAD, 'mr'],
  [VM.MAYWRITE, 'mw'],
  [VM.MAYEXEC, 'me'],
  [VM.MAYSHARE, 'ms'],
  [VM.GROWSDOWN, 'gd'],
  [VM.UFFD_MISSING, 'um'],
  [VM.PFNMAP, 'pf'],
  [VM.UFFD_WP, 'uw'],
  [VM.LOCKED, 'lo'],
  [VM.IO, 'io'],
  [VM.SEQ_READ, 'sr'],
  [VM.RAND_READ, 'rr'],
  [VM.DONTCOPY, 'dc'],
  [VM.DONTEXPAND, 'de'],
  [VM.LOCKONFAULT, 'lf'],
  [VM.ACCOUNT, 'ac'],
  [VM.NORESERVE, 'nr'],
  [VM.HUGETLB, 'ht'],
  [VM.SYNC, 'sf'],
  [VM.WIPEONFORK, 'wf'],
  [VM.DONTDUMP, 'dd'],
  [VM.SOFTDIRTY, 'sd'],
  [VM.MIXEDMAP, 'mm'],
  [VM.HUGEPAGE, 'hg'],
  [VM.NOHUGEPAGE, 'nh'],
  [VM.UFFD_MINOR, 'ui'],
  [VM.DROPPABLE, 'dp'],
];

// mirrors fs/proc/task_mmu.c:show_smap_vma_flags
function vmFlagsString(flags: number): string {
  return VMFLAG_NAMES.filter(([b]) => flags & b)
    .map(([, n]) => n)
    .join(' ');
}

function vmaPerms(v: Vma): string {
  return `${v.flags & VM.READ ? 'r' : '-'}${v.flags & VM.WRITE ? 'w' : '-'}${v.flags & VM.EXEC ? 'x' : '-'}${v.flags & VM.MAYSHARE ? 's' : 'p'}`;
}

/** One VMA as /proc/pid/smaps prints it. */
// mirrors fs/proc/task_mmu.c:show_smap (the text: show_vma_header_prefix, SEQ_PUT_DEC, show_smap_vma_flags)
export function formatSmaps(e: SmapsEntry): string {
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  // show_vma_header_prefix ends with a space; a name is padded to column 73 (seq_setwidth 72, then seq_pad's space).
  const head = `${hex(e.start)}-${hex(e.end)} ${e.perms} ${e.offset.toString(16).padStart(8, '0')} ${e.dev} ${e.inode} `;
  const lines = [e.pathname === '' ? head : `${head.length >= 72 ? `${head} ` : head.padEnd(73)}${e.pathname}`];
  for (const [key, v] of Object.entries(e)) {
    if (['start', 'end', 'perms', 'offset', 'dev', 'inode', 'pathname', 'VmFlags', 'THPeligible'].includes(key)) continue;
    lines.push(`${`${key}:`.padEnd(16)}${String(v).padStart(8)} kB`);
  }
  // show_smap_vma_flags puts a space after every mnemonic.
  lines.push(`THPeligible:    ${String(e.THPeligible).padStart(8)}`, `VmFlags: ${e.VmFlags}${e.VmFlags === '' ? '' : ' '}`);
  return lines.join('\n') + '\n';
}

/** /proc/pid/smaps */
// mirrors fs/proc/task_mmu.c:show_smap (smap_gather_stats)
export function smapsRead(host: Host, mm: MmStruct): SmapsEntry[] {
  const out: SmapsEntry[] = [];
  for (const vma of mm.vmas) {
    const m: Mss = {
      resident: 0, pss: 0, pssDirty: 0, pssAnon: 0, pssFile: 0, pssShmem: 0, sharedClean: 0, sharedDirty: 0,
      privateClean: 0, privateDirty: 0, referenced: 0, anonymous: 0, lazyfree: 0, anonymousThp: 0, shmemThp: 0, fileThp: 0, pssLocked: 0,
    };
    const locked = (vma.flags & VM.LOCKED) !== 0;
    let sharedHugetlb = 0;
    let privateHugetlb = 0;
    walkLeaves(mm.pgd, vma.start, vma.end, (t, i, level) => {
      const fl = t.fl[i]!;
      if (!(fl & (Pte.PRESENT | Pte.PROTNONE)) || fl & Pte.SPECIAL) return;
      // smaps_hugetlb_range: HugeTLB pages count only as Shared_/Private_Hugetlb.
      if (vma.flags & VM.HUGETLB) {
        const hf = host.pfnFolio(t.pfn[i]!);
        const size = 2 ** LEVEL_SHIFT[level]!;
        if (hf !== 0 && folioMaybeMappedShared(host.ft, hf)) sharedHugetlb += size;
        else privateHugetlb += size;
        return;
      }
      const pfn = t.pfn[i]!;
      const f = host.pfnFolio(pfn);
      if (f === 0) return;
      const nr = 2 ** (LEVEL_SHIFT[level]! - 12);
      if (level === Level.PMD) {
        if (host.ft.flags[f]! & PG.ANON) m.anonymousThp += nr * PAGE_SIZE;
        else if (host.ft.flags[f]! & PG.SWAPBACKED) m.shmemThp += nr * PAGE_SIZE;
        else m.fileThp += nr * PAGE_SIZE;
      }
      smapsAccount(host, m, f, pfn - host.ft.pfn[f]!, nr, (fl & Pte.ACCESSED) !== 0, (fl & Pte.DIRTY) !== 0, locked);
    });
    const kb = (b: number) => Math.floor(b / 1024);
    const pkb = (p: number) => Math.floor(p / 2 ** PSS_SHIFT / 1024);
    out.push({
      start: vma.start,
      end: vma.end,
      perms: vmaPerms(vma),
      offset: vma.file !== null ? resultSize(BigInt(vma.pgoff) * BigInt(PAGE_SIZE)) : 0,
      dev: vma.file !== null ? devName(vma.file.inode.sb.dev) : '00:00',
      inode: vma.file?.inode.ino ?? 0,
      pathname: vma.file?.path ?? (vma.anonName !== null ? `[anon:${vma.anonName}]` : ''),
      Size: kb(vma.end - vma.start),
      KernelPageSize: kb(vma.file?.fOp.hugePageSize ?? PAGE_SIZE),
      MMUPageSize: kb(vma.file?.fOp.hugePageSize ?? PAGE_SIZE),
      Rss: kb(m.resident),
      Pss: pkb(m.pss),
      Pss_Dirty: pkb(m.pssDirty),
      Pss_Anon: pkb(m.pssAnon),
      Pss_File: pkb(m.pssFile),
      Pss_Shmem: pkb(m.pssShmem),
      Shared_Clean: kb(m.sharedClean),
      Shared_Dirty: kb(m.sharedDirty),
      Private_Clean: kb(m.privateClean),
      Private_Dirty: kb(m.privateDirty),
      Referenced: kb(m.referenced),
      Anonymous: kb(m.anonymous),
      KSM: 0,
      LazyFree: kb(m.lazyfree),
      AnonHugePages: kb(m.anonymousThp),
      ShmemPmdMapped: kb(m.shmemThp),
      FilePmdMapped: kb(m.fileThp),
      Shared_Hugetlb: kb(sharedHugetlb),
      Private_Hugetlb: kb(privateHugetlb),
      Swap: 0,
      SwapPss: 0,
      Locked: pkb(m.pssLocked),
      THPeligible: thpEligible(host, vma) ? 1 : 0,
      VmFlags: vmFlagsString(vma.flags),
    });
  }
  return out;
}

/**
 * THPeligible: some THP size could back the VMA (TVA_SMAPS |
 * TVA_ENFORCE_SYSFS over every order): for anonymous memory, a size its
 * hugepages-<size>kB/enabled allows whose aligned block fits below the VMA's
 * end; for shmem, some page-cache size (8 KiB up) whose aligned block fits
 * below the VMA's end at an aligned file offset, and then any order
 * shmem_allowable_huge_orders allows (shmem_enabled / huge=, and the
 * per-size shmem_enabled for shared anonymous memory).
 */
// mirrors mm/huge_memory.c:__thp_vma_allowable_orders (TVA_SMAPS | TVA_ENFORCE_SYSFS, THP_ORDERS_ALL)
function thpEligible(host: Host, vma: Vma): boolean {
  if (vma.ops?.shmem !== undefined && !(vma.flags & VM.HUGETLB)) {
    if (vmaThpDisabled(vma, vma.flags)) return false;
    let fits = false;
    for (let order = 1; order <= HPAGE_PMD_ORDER && !fits; order++) fits = thpVmaSuitableOrder(vma, vma.end - PAGE_SIZE * 2 ** order, order);
    return fits && vma.ops.shmem.hugeOrders(vma, vma.pgoff, false) !== 0;
  }
  return thpVmaAllowableOrders(host, vma, vma.flags, TVA_SMAPS | TVA_ENFORCE_SYSFS, THP_ORDERS_ALL_ANON) !== 0;
}

/** Bits of a pagemap entry (Documentation/admin-guide/mm/pagemap.rst). */
export const PM_SOFT_DIRTY = 1n << 55n;
export const PM_MMAP_EXCLUSIVE = 1n << 56n;
export const PM_UFFD_WP = 1n << 57n;
export const PM_FILE = 1n << 61n;
export const PM_SWAP = 1n << 62n;
/** The swap type of PTE markers (MAX_SWAPFILES + the non-swap types) and the marker bits (include/linux/swapops.h). */
const SWP_PTE_MARKER = 31;
const PTE_MARKER_UFFD_WP = 1;
const PTE_MARKER_POISONED = 2;
export const PM_PRESENT = 1n << 63n;

export interface PagemapEntry {
  /** The 64-bit entry as /proc/pid/pagemap holds it. */
  raw: bigint;
  /** Page frame number (bits 0-54), when present. */
  pfn: number;
  present: boolean;
  swapped: boolean;
  /** PM_FILE: a file page or shared anonymous page (anything not PageAnon). */
  file: boolean;
  /** PM_MMAP_EXCLUSIVE: the page is mapped exactly once. */
  exclusive: boolean;
  softDirty: boolean;
  uffdWp: boolean;
  /** Size of the mapping leaf: 4096, or 2 MiB / 1 GiB for a THP or huge mapping (not in the raw entry). */
  mappedBy: number;
  /** PageAnonExclusive of the page (kernel state, shown for convenience; not in the raw entry). */
  anonExclusive: boolean;
}

/** /proc/pid/pagemap for the page containing addr. */
// mirrors fs/proc/task_mmu.c:pagemap_pmd_range / pte_to_pagemap_entry
export function pagemapRead(host: Host, mm: MmStruct, addr: number): PagemapEntry {
  const e: PagemapEntry = { raw: 0n, pfn: 0, present: false, swapped: false, file: false, exclusive: false, softDirty: false, uffdWp: false, mappedBy: 0, anonExclusive: false };
  if (typeof addr !== 'number' || !Number.isSafeInteger(addr) || addr < 0) return e;
  const vma = vmaLookup(mm, addr);
  let flags = 0n;
  let found = false;
  walkLeaves(mm.pgd, addr, addr + 1, (t, i, level, base) => {
    const fl = t.fl[i]!;
    if (!(fl & (Pte.PRESENT | Pte.PROTNONE))) {
      if (isSwapEntry(fl)) {
        // The frame is the swap type and offset: type | offset << MAX_SWAPFILES_SHIFT.
        flags |= PM_SWAP;
        if (fl & Pte.SOFT_DIRTY) flags |= PM_SOFT_DIRTY;
        if (fl & Pte.UFFD_WP) flags |= PM_UFFD_WP;
        e.pfn = swpType(t.pfn[i]!) + swpOffset(t.pfn[i]!) * 32;
        found = true;
        return;
      }
      // A PTE marker is a swap entry of type SWP_PTE_MARKER (31) with the marker bits as its offset.
      if (!isPteMarker(fl)) return;
      flags |= PM_SWAP;
      if (fl & Pte.SOFT_DIRTY) flags |= PM_SOFT_DIRTY;
      if (fl & Pte.UFFD_WP) flags |= PM_UFFD_WP;
      e.pfn = SWP_PTE_MARKER | ((fl & Pte.UFFD_WP ? PTE_MARKER_UFFD_WP : 0) | (fl & Pte.MARKER_POISONED ? PTE_MARKER_POISONED : 0)) * 32;
      found = true;
      return;
    }
    found = true;
    const pfn = t.pfn[i]! + Math.floor((addr - base) / PAGE_SIZE);
    e.pfn = pfn;
    e.mappedBy = 2 ** LEVEL_SHIFT[level]!;
    flags |= PM_PRESENT;
    if (fl & Pte.SOFT_DIRTY) flags |= PM_SOFT_DIRTY;
    if (fl & Pte.UFFD_WP) flags |= PM_UFFD_WP;
    // PTEs use vm_normal_page (the zero page has none); PMDs use pmd_page.
    const f = level === Level.PTE && fl & Pte.SPECIAL ? 0 : host.pfnFolio(pfn);
    if (f !== 0) {
      if (!folioTestAnon(host.ft, f)) flags |= PM_FILE;
      const page = pfn - host.ft.pfn[f]!;
      if (hgmPrecisePageMapcount(host, f, page) === 1) flags |= PM_MMAP_EXCLUSIVE;
      e.anonExclusive = folioTestAnon(host.ft, f) && pageAnonExclusive(host.ft, f, level === Level.PTE ? page : 0);
    }
  });
  if (vma !== null && vma.flags & VM.SOFTDIRTY) flags |= PM_SOFT_DIRTY;
  e.raw = flags | (found ? BigInt(e.pfn) : 0n);
  e.present = (flags & PM_PRESENT) !== 0n;
  e.swapped = (flags & PM_SWAP) !== 0n;
  e.file = (flags & PM_FILE) !== 0n;
  e.exclusive = (flags & PM_MMAP_EXCLUSIVE) !== 0n;
  e.softDirty = (flags & PM_SOFT_DIRTY) !== 0n;
  e.uffdWp = (flags & PM_UFFD_WP) !== 0n;
  return e;
}

/** The memory lines of /proc/pid/status, in kB. */
export interface ProcStatus {
  /** The peak of VmSize (max(hiwater_vm, total_vm)). */
  VmPeak: number;
  VmSize: number;
  VmLck: number;
  VmHWM: number;
  VmRSS: number;
  RssAnon: number;
  RssFile: number;
  RssShmem: number;
  /** mm->data_vm: private writable mappings (is_data_mapping). */
  VmData: number;
  /** mm->stack_vm: VM_STACK (VM_GROWSDOWN on x86) mappings. */
  VmStk: number;
  /** The executable's text: 0, the model loads no executable (start_code == end_code). */
  VmExe: number;
  /** mm->exec_vm less VmExe: executable mappings that are neither writable nor stack. */
  VmLib: number;
  VmPTE: number;
  VmSwap: number;
  /** HugeTLB pages mapped (mm->hugetlb_usage). */
  HugetlbPages: number;
}

// mirrors fs/proc/task_mmu.c:task_mem
export function procStatus(mm: MmStruct): ProcStatus {
  const k = PAGE_SIZE / 1024;
  const rss = mm.rssPages();
  // data_vm, exec_vm and stack_vm as vm_stat_account keeps them: every mapping is accounted by its flags when
  // it is created, changed (mprotect, mremap) or removed, so the sums over the VMAs are the counters.
  let data = 0;
  let exec = 0;
  let stack = 0;
  for (const v of mm.vmas) {
    const pages = (v.end - v.start) / PAGE_SIZE;
    if ((v.flags & (VM.EXEC | VM.WRITE | VM.GROWSDOWN)) === VM.EXEC) exec += pages;
    else if (v.flags & VM.GROWSDOWN) stack += pages;
    else if ((v.flags & (VM.WRITE | VM.SHARED | VM.GROWSDOWN)) === VM.WRITE) data += pages;
  }
  return {
    VmPeak: Math.max(mm.hiwaterVm, mm.totalVm) * k,
    VmSize: mm.totalVm * k,
    VmLck: mm.lockedVm * k,
    VmHWM: Math.max(mm.hiwaterRss, rss) * k,
    VmRSS: rss * k,
    RssAnon: mm.rss[MmCounter.ANONPAGES]! * k,
    RssFile: mm.rss[MmCounter.FILEPAGES]! * k,
    RssShmem: mm.rss[MmCounter.SHMEMPAGES]! * k,
    VmData: data * k,
    VmStk: stack * k,
    VmExe: 0,
    VmLib: exec * k,
    VmPTE: mm.pgtablesBytes / 1024,
    VmSwap: mm.rss[MmCounter.SWAPENTS]! * k,
    HugetlbPages: mm.hugetlbUsage * k,
  };
}

/** clear_refs types (fs/proc/task_mmu.c: enum clear_refs_types). */
export const enum ClearRefs {
  ALL = 1,
  ANON = 2,
  MAPPED = 3,
  SOFT_DIRTY = 4,
  MM_HIWATER_RSS = 5,
  LAST = 6,
}

/**
 * A write to /proc/pid/clear_refs: value is the text written ("4\n", or a
 * number). 1-3 age the pages of all / anonymous / file VMAs (clear the young
 * bits and PG_referenced); 4 clears soft-dirty: VM_SOFTDIRTY off on every
 * VMA and every present entry write-protected and clean of soft-dirty, except
 * a PTE mapping a maybe-pinned page of a COW mapping (pte_is_pinned); 5 resets
 * the RSS high-water mark. Returns null or EINVAL.
 */
// mirrors fs/proc/task_mmu.c:clear_refs_write
export function clearRefsWrite(host: Host, mm: MmStruct, value: unknown): 'EINVAL' | null {
  // kstrtoint(strstrip(buffer), 10, &itype)
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : null;
  if (text === null || !/^[+-]?\d+$/.test(text)) return 'EINVAL';
  const type = Number(text);
  if (type < ClearRefs.ALL || type >= ClearRefs.LAST) return 'EINVAL';
  if (type === ClearRefs.MM_HIWATER_RSS) {
    mm.hiwaterRss = mm.rssPages();
    return null;
  }
  const run = (): void => {
    for (const vma of mm.vmas) {
      // clear_refs_test_walk
      if (type === ClearRefs.ANON && vma.file !== null) continue;
      if (type === ClearRefs.MAPPED && vma.file === null) continue;
      if (type === ClearRefs.SOFT_DIRTY && vma.flags & VM.SOFTDIRTY) {
        vma.flags &= ~VM.SOFTDIRTY;
        vmaSetPageProt(vma);
      }
      walkLeaves(mm.pgd, vma.start, vma.end, (t, i, level) => clearRefsEntry(host, mm, vma, t, i, level, type));
    }
  };
  if (type === ClearRefs.SOFT_DIRTY) withInvalidate(host, mm, MmuNotifyEvent.SOFT_DIRTY, 0, TASK_SIZE, run);
  else run();
  flushTlbMm(host, mm);
  return null;
}

/** One leaf entry of clear_refs_pte_range / clear_refs_pmd (or clear_soft_dirty / _pmd). */
function clearRefsEntry(host: Host, mm: MmStruct, vma: Vma, t: PageTable, i: number, level: Level, type: number): void {
  const fl = t.fl[i]!;
  if (!(fl & Pte.PRESENT)) return;
  const pfn = t.pfn[i]!;
  if (type === ClearRefs.SOFT_DIRTY) {
    // pte_is_pinned: keep a maybe-pinned page of a COW mapping writable (a PMD is not checked).
    if (level === Level.PTE && mm.flags & MMF.HAS_PINNED && isCowMapping(vma.flags)) {
      const f = vmNormalPage(host, pfn, fl);
      if (f !== 0 && folioMaybeDmaPinnedP(host, f, pfn - host.ft.pfn[f]!, 1, NO_SITE)) return;
    }
    const nfl = fl & ~(Pte.RW | Pte.SOFT_DIRTY);
    if (nfl !== fl) setEntry(host, t, i, pfn, nfl);
    return;
  }
  // ptep_test_and_clear_young and folio_clear_referenced.
  if (fl & Pte.ACCESSED) setEntry(host, t, i, pfn, fl & ~Pte.ACCESSED);
  const f = level === Level.PTE ? vmNormalPage(host, pfn, fl) : host.pfnFolio(pfn);
  if (f !== 0) host.ft.flags[f]! &= ~PG.REFERENCED;
}
