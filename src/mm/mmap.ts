/**
 * Creating and destroying mappings (mirrors mm/mmap.c, mm/vma.c and the x86
 * address-space layout of arch/x86/kernel/sys_x86_64.c, arch/x86/mm/mmap.c).
 *
 * Arguments arrive as C values (bigints from uapi/ctypes) so that every check
 * is exact for any 64-bit input; once a length is known to be below TASK_SIZE
 * it becomes a JS number.
 */
import { SyscallError } from '../uapi/errors.js';
import type { ErrnoName } from '../uapi/errno.js';
import { F_SEAL_FUTURE_WRITE, F_SEAL_WRITE } from '../uapi/fcntl.js';
import {
  MAP_32BIT,
  MAP_ANONYMOUS,
  MAP_DENYWRITE,
  MAP_DROPPABLE,
  MAP_EXECUTABLE,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_GROWSDOWN,
  MAP_HUGETLB,
  MAP_HUGE_1GB,
  MAP_HUGE_2MB,
  MAP_LOCKED,
  MAP_NONBLOCK,
  MAP_NORESERVE,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MAP_SHARED_VALIDATE,
  MAP_STACK,
  MAP_SYNC,
  MAP_TYPE,
  MAP_UNINITIALIZED,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
} from '../uapi/mman.js';
import { FMode, type File } from './fs_types.js';
import type { Host } from './host.js';
import { mmPopulate } from './gup.js';
import { khugepagedExit } from './khugepaged.js';
import { unmapVmas } from './memory.js';
import { userfaultfdUnmapPrep } from './userfaultfd_k.js';
import { mmuNotifierRelease } from './mmu_notifier.js';
import { type MmStruct, VM, Vma } from './mm_types.js';
import { PAGE_SIZE, PMD_SIZE, TASK_SIZE, alignDown } from './page.js';
import { freeAllTables, freePgdRange } from './pgtable.js';
import { hgmFreeTables } from './hugetlb_hgm.js';
import { khugepagedEnterVma } from './khugepaged.js';
import {
  neighbours,
  removeVma,
  splitVmaAt,
  vmaErase,
  vmaInsert,
  vmaLinkFile,
  vmaMergeNeighbours,
  vmaSetPageProt,
  vmasIn,
} from './vma.js';

const PAGE = BigInt(PAGE_SIZE);
const U64_MAX = (1n << 64n) - 1n;
const BTASK_SIZE = BigInt(TASK_SIZE);

/** MAP_ABOVE4G (x86). */
const MAP_ABOVE4G = 0x80;

/** Flags a MAP_SHARED_VALIDATE file mapping accepts (include/linux/mman.h: LEGACY_MAP_MASK). */
const LEGACY_MAP_MASK =
  MAP_SHARED |
  MAP_PRIVATE |
  MAP_FIXED |
  MAP_ANONYMOUS |
  MAP_DENYWRITE |
  MAP_EXECUTABLE |
  MAP_UNINITIALIZED |
  MAP_GROWSDOWN |
  MAP_LOCKED |
  MAP_NORESERVE |
  MAP_POPULATE |
  MAP_NONBLOCK |
  MAP_STACK |
  MAP_HUGETLB |
  MAP_32BIT |
  MAP_ABOVE4G |
  MAP_HUGE_2MB |
  MAP_HUGE_1GB;

/** stack_guard_gap: 256 pages. */
const STACK_GUARD_GAP = 256 * PAGE_SIZE;

/**
 * mm->mmap_base without randomization: TASK_SIZE minus the stack gap (an 8 MiB
 * stack rlimit plus the guard gap, clamped to at least 128 MiB).
 */
// mirrors arch/x86/mm/mmap.c:mmap_base (no PF_RANDOMIZE)
export function mmapBase(): number {
  const gap = Math.min(Math.max(8 * 2 ** 20 + STACK_GUARD_GAP, 128 * 2 ** 20), Math.floor(TASK_SIZE / 6) * 5);
  return TASK_SIZE - gap;
}

/** mmap_legacy_base: the bottom-up area starts at a third of the address space. */
function mmapLegacyBase(): number {
  return Math.ceil(TASK_SIZE / 3 / PAGE_SIZE) * PAGE_SIZE;
}

/** The lowest address a VMA's guard gap reserves below it (vm_start_gap). */
function vmStartGap(v: Vma): number {
  return v.flags & VM.GROWSDOWN ? Math.max(0, v.start - STACK_GUARD_GAP) : v.start;
}

/**
 * The highest address a such that [a, a + len) fits a gap between VMAs within
 * [low, high) with (a - alignOffset) a multiple of align. -1 if none.
 */
// mirrors mm/vma.c:unmapped_area_topdown
function unmappedAreaTopdown(mm: MmStruct, len: number, low: number, high: number, align = PAGE_SIZE, alignOffset = 0): number {
  const v = mm.vmas;
  for (let k = v.length - 1; k >= -1; k--) {
    const gapStart = Math.max(k >= 0 ? v[k]!.end : 0, low);
    const gapEnd = Math.min(k + 1 < v.length ? vmStartGap(v[k + 1]!) : Number.MAX_SAFE_INTEGER, high);
    if (gapEnd - gapStart >= len) {
      let a = gapEnd - len;
      a -= (((a - alignOffset) % align) + align) % align;
      if (a >= gapStart) return a;
    }
    if (k >= 0 && v[k]!.end <= low) break;
  }
  return -1;
}

/** The lowest fitting address within [low, high), or -1. */
// mirrors mm/vma.c:unmapped_area
function unmappedArea(mm: MmStruct, len: number, low: number, high: number, align = PAGE_SIZE, alignOffset = 0): number {
  const v = mm.vmas;
  for (let k = -1; k < v.length; k++) {
    const gapStart = Math.max(k >= 0 ? v[k]!.end : 0, low);
    const gapEnd = Math.min(k + 1 < v.length ? vmStartGap(v[k + 1]!) : Number.MAX_SAFE_INTEGER, high);
    let a = gapStart;
    a += (((alignOffset - a) % align) + align) % align;
    if (a + len <= gapEnd) return a;
    if (gapStart >= high) break;
  }
  return -1;
}

/** Pick an address for a new mapping of len bytes (flags: MAP_*). -1 means ENOMEM. */
// mirrors arch/x86/kernel/sys_x86_64.c:arch_get_unmapped_area_topdown
function archGetUnmappedAreaTopdown(mm: MmStruct, addr: number, len: number, flags: number, align: number): number {
  if (len > TASK_SIZE) return -1;
  if (flags & MAP_FIXED) return addr;
  if (flags & MAP_32BIT) return unmappedArea(mm, len, 0x40000000, 0x80000000, align);
  if (addr !== 0) {
    addr = alignDown(addr, PAGE_SIZE);
    if (addr <= TASK_SIZE - len) {
      const next = mm.vmas.find((v) => v.end > addr);
      if (next === undefined || addr + len <= vmStartGap(next)) return addr;
    }
  }
  const low = flags & MAP_ABOVE4G ? 2 ** 32 : PAGE_SIZE;
  const a = unmappedAreaTopdown(mm, len, low, mm.mmapBase, align);
  if (a >= 0) return a;
  // Fall back to a bottom-up search of the whole space.
  return unmappedArea(mm, len, mmapLegacyBase(), TASK_SIZE, align);
}

/**
 * THP-friendly placement for anonymous private mappings that are a multiple of
 * 2 MiB and have no hint: search len + 2 MiB and align inside it.
 */
// mirrors mm/huge_memory.c:__thp_get_unmapped_area
function thpGetUnmappedArea(mm: MmStruct, len: number, flags: number): number {
  const ret = archGetUnmappedAreaTopdown(mm, 0, len + PMD_SIZE, flags, PAGE_SIZE);
  if (ret < 0) return archGetUnmappedAreaTopdown(mm, 0, len, flags, PAGE_SIZE);
  const offSub = (PMD_SIZE - (ret % PMD_SIZE)) % PMD_SIZE;
  // Top-down with an aligned result: take the upper aligned slot.
  return offSub === 0 ? ret + PMD_SIZE : ret + offSub;
}

/**
 * shmem placement: where shmem THP could back the mapping, move a hint-less
 * address so that its file offset and address agree modulo 2 MiB (search
 * len + 2 MiB - 4 KiB and align inside it), so that PMDs can map it.
 * shared is shmem (a shmem file, or MAP_SHARED anonymous: file null, pgoff 0);
 * huge: may THPs back it (the mount's huge= or shmem_enabled force; not deny).
 */
// mirrors mm/shmem.c:shmem_get_unmapped_area (PMD size; no per-size mTHP orders)
function shmemGetUnmappedArea(mm: MmStruct, uaddr: number, len: number, pgoff: number, flags: number, addr: number, huge: boolean): number {
  if (addr < 0 || addr % PAGE_SIZE !== 0 || addr > TASK_SIZE - len) return addr;
  if (len < PMD_SIZE || flags & MAP_FIXED) return addr;
  // A hint that was honoured stays.
  if (uaddr === addr) return addr;
  if (!huge) return addr;
  const offset = (pgoff % (PMD_SIZE / PAGE_SIZE)) * PAGE_SIZE;
  if (offset !== 0 && offset + len < 2 * PMD_SIZE) return addr;
  if (addr % PMD_SIZE === offset) return addr;
  const inflatedLen = len + PMD_SIZE - PAGE_SIZE;
  if (inflatedLen > TASK_SIZE) return addr;
  let inflated = archGetUnmappedAreaTopdown(mm, uaddr, inflatedLen, flags, PAGE_SIZE);
  if (inflated < 0 || inflated % PAGE_SIZE !== 0) return addr;
  const inflatedOffset = inflated % PMD_SIZE;
  inflated += offset - inflatedOffset;
  if (inflatedOffset > offset) inflated += PMD_SIZE;
  if (inflated > TASK_SIZE - len) return addr;
  return inflated;
}

/** May shmem THP back a new shmem mapping (shmem_get_unmapped_area's shmem_huge and sb->huge tests)? */
function shmemHugeMayBack(host: Host, file: File | null): boolean {
  const global = host.cfg.thp.shmemEnabled;
  if (global === 'deny') return false;
  if (global === 'force') return true;
  // Shared anonymous memory is on the internal mount, whose huge= is shmem_enabled.
  return file === null ? global !== 'never' : file.fOp.shmemHuge?.(file) === true;
}

/** Validated address for a new mapping, or an errno. pgoff: the file page offset (shmem placement). */
// mirrors mm/mmap.c:__get_unmapped_area
export function getUnmappedArea(host: Host, mm: MmStruct, file: File | null, addr: number, len: number, flags: number, pgoff = 0): number | ErrnoName {
  if (len > TASK_SIZE) return 'ENOMEM';
  const hsize = file?.fOp.hugePageSize;
  let a: number;
  if (file !== null ? file.fOp.shmemHuge !== undefined : (flags & MAP_SHARED) !== 0) {
    // shmem_get_unmapped_area (shared anonymous memory: pgoff 0).
    const off = file === null ? 0 : pgoff;
    a = shmemGetUnmappedArea(mm, addr, len, off, flags, archGetUnmappedAreaTopdown(mm, addr, len, flags, PAGE_SIZE), shmemHugeMayBack(host, file));
  } else if (hsize !== undefined) {
    // hugetlb_get_unmapped_area: huge-aligned placement.
    if (flags & MAP_FIXED) {
      if (addr % hsize !== 0) return 'EINVAL';
      a = addr;
    } else a = archGetUnmappedAreaTopdown(mm, addr % hsize === 0 ? addr : 0, len, flags, hsize);
  } else if (file === null && !(flags & MAP_SHARED) && addr === 0 && len % PMD_SIZE === 0 && !(flags & MAP_FIXED)) {
    a = thpGetUnmappedArea(mm, len, flags);
  } else {
    a = archGetUnmappedAreaTopdown(mm, addr, len, flags, PAGE_SIZE);
  }
  if (a < 0 || a > TASK_SIZE - len) return 'ENOMEM';
  if (a % PAGE_SIZE !== 0) return 'EINVAL';
  // security_mmap_addr -> cap_mmap_addr: below mmap_min_addr needs CAP_SYS_RAWIO.
  if (a < host.cfg.mmapMinAddr) return 'EPERM';
  return a;
}

/** calc_vm_prot_bits */
function calcVmProtBits(prot: number): number {
  return (prot & PROT_READ ? VM.READ : 0) | (prot & PROT_WRITE ? VM.WRITE : 0) | (prot & PROT_EXEC ? VM.EXEC : 0);
}

/** calc_vm_flag_bits */
function calcVmFlagBits(flags: number): number {
  return (
    (flags & MAP_GROWSDOWN ? VM.GROWSDOWN : 0) |
    (flags & MAP_LOCKED ? VM.LOCKED : 0) |
    (flags & MAP_SYNC ? VM.SYNC : 0) |
    (flags & MAP_STACK ? VM.NOHUGEPAGE : 0)
  );
}

function err(code: ErrnoName, syscall: string): never {
  throw new SyscallError(code, syscall);
}

/**
 * May the mm commit `pages` more pages of memory (private writable mappings,
 * shared anonymous memory)? Under the default heuristic overcommit
 * (OVERCOMMIT_GUESS) only a single request larger than all of RAM plus swap
 * (total_swap_pages: the active areas) fails. The model keeps no vm_committed_as (it only
 * feeds Committed_AS and the strict mode), so charging is this decision alone
 * and vm_unacct_memory has nothing to undo.
 */
// mirrors mm/util.c:__vm_enough_memory (via security_vm_enough_memory_mm, OVERCOMMIT_GUESS)
export function securityVmEnoughMemory(host: Host, pages: number): boolean {
  return pages <= host.pa.managedPages() + host.swap.totalPages();
}

/** Hooks that fs/ provides to mm (as Linux's mm calls into mm/shmem.c). */
export interface MmapHooks {
  /** shmem_zero_setup: back a MAP_SHARED|MAP_ANONYMOUS VMA with a new shmem file. */
  shmemZeroSetup(vma: Vma, size: number): ErrnoName | null;
}

/**
 * Map len bytes (file: null for anonymous memory). addr, len and pgoff are C
 * values; prot and flags the low 32 bits of theirs, highFlags the rest.
 * Returns the mapping's address or throws SyscallError('...', 'mmap').
 */
// mirrors mm/mmap.c:do_mmap (plus vm_mmap_pgoff's populate)
export function doMmap(
  host: Host,
  hooks: MmapHooks,
  mm: MmStruct,
  file: File | null,
  addrIn: bigint,
  lenIn: bigint,
  prot: number,
  flags: number,
  highFlags: boolean,
  pgoffIn: bigint,
): number {
  const S = 'mmap';
  if (lenIn === 0n) err('EINVAL', S);
  if (flags & MAP_FIXED_NOREPLACE) flags |= MAP_FIXED;
  let addrB = addrIn;
  if (!(flags & MAP_FIXED)) {
    // round_hint_to_min
    addrB &= ~(PAGE - 1n);
    const min = BigInt(host.cfg.mmapMinAddr);
    if (addrB !== 0n && addrB < min) addrB = ((min + PAGE - 1n) / PAGE) * PAGE;
  }
  const lenB = (lenIn + PAGE - 1n) & ~(PAGE - 1n) & U64_MAX;
  if (lenB === 0n) err('ENOMEM', S);
  const pages = lenB / PAGE;
  if (pgoffIn + pages > U64_MAX) err('EOVERFLOW', S);
  if (mm.vmas.length > host.cfg.maxMapCount) err('ENOMEM', S);
  let vmFlags = calcVmProtBits(prot) | calcVmFlagBits(flags) | mm.defFlags | VM.MAYREAD | VM.MAYWRITE | VM.MAYEXEC;

  // __get_unmapped_area: beyond TASK_SIZE it is ENOMEM, so later values are small.
  if (lenB > BTASK_SIZE) err('ENOMEM', S);
  const len = Number(lenB);
  if (flags & MAP_FIXED && addrB > BTASK_SIZE - lenB) err('ENOMEM', S);
  const hint = addrB > BTASK_SIZE ? 0 : Number(addrB);
  // Only the offset within a 2 MiB matters to shmem placement.
  const a = getUnmappedArea(host, mm, file, hint, len, flags, Number(pgoffIn % 512n));
  if (typeof a === 'string') err(a, S);
  const addr = a;
  const end = addr + len;
  if (flags & MAP_FIXED_NOREPLACE && vmasIn(mm, addr, end).length > 0) err('EEXIST', S);

  let pgoff = pgoffIn;
  const type = flags & MAP_TYPE;
  if (file !== null) {
    // file_mmap_ok: the byte range must fit in MAX_LFS_FILESIZE.
    if (pgoff * PAGE + lenB > (1n << 63n) - 1n) err('EOVERFLOW', S);
    if (type !== MAP_SHARED && type !== MAP_SHARED_VALIDATE && type !== MAP_PRIVATE) err('EINVAL', S);
    if (type !== MAP_PRIVATE) {
      // MAP_SHARED drops unknown flags; MAP_SHARED_VALIDATE refuses them.
      if (type === MAP_SHARED_VALIDATE && ((flags & ~LEGACY_MAP_MASK) !== 0 || highFlags)) err('EOPNOTSUPP', S);
      if (prot & PROT_WRITE && !(file.fMode & FMode.WRITE)) err('EACCES', S);
      vmFlags |= VM.SHARED | VM.MAYSHARE;
      if (!(file.fMode & FMode.WRITE)) vmFlags &= ~(VM.MAYWRITE | VM.SHARED);
    }
    if (!(file.fMode & FMode.READ)) err('EACCES', S);
    if (file.fOp.mmap === undefined) err('ENODEV', S);
    if (vmFlags & VM.GROWSDOWN) err('EINVAL', S);
    // memfd_check_seals_mmap: write seals forbid new shared writable mappings.
    if (file.inode.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) && vmFlags & VM.SHARED) {
      if (vmFlags & VM.WRITE) err('EPERM', S);
      vmFlags &= ~VM.MAYWRITE;
    }
  } else {
    switch (type) {
      case MAP_SHARED:
        if (vmFlags & VM.GROWSDOWN) err('EINVAL', S);
        pgoff = 0n;
        vmFlags |= VM.SHARED | VM.MAYSHARE;
        break;
      case MAP_DROPPABLE:
        // Neither locked nor stack memory can be dropped; no hugetlb for now.
        if (flags & (MAP_LOCKED | MAP_HUGETLB) || vmFlags & VM.GROWSDOWN) err('EINVAL', S);
        // Droppable pages are not reserved, and survive neither fork nor a core dump.
        vmFlags |= VM.DROPPABLE | VM.NORESERVE | VM.WIPEONFORK | VM.DONTDUMP;
        pgoff = BigInt(addr / PAGE_SIZE);
        break;
      case MAP_PRIVATE:
        pgoff = BigInt(addr / PAGE_SIZE);
        break;
      default:
        err('EINVAL', S);
    }
  }
  // MAP_NORESERVE is honoured (overcommit is not "never"); for hugetlbfs it also skips the reservation.
  if (flags & MAP_NORESERVE) vmFlags |= VM.NORESERVE;

  const res = mmapRegion(host, hooks, mm, file, addr, len, vmFlags, Number(pgoff));
  if (typeof res === 'string') err(res, S);
  if (vmFlags & VM.LOCKED || (flags & (MAP_POPULATE | MAP_NONBLOCK)) === MAP_POPULATE) mmPopulate(host, mm, addr, len);
  return addr;
}

/**
 * Install a new VMA over [addr, addr + len), unmapping whatever MAP_FIXED
 * replaces, and merge it with compatible neighbours.
 */
// mirrors mm/vma.c:mmap_region (and __mmap_region)
function mmapRegion(host: Host, hooks: MmapHooks, mm: MmStruct, file: File | null, addr: number, len: number, vmFlags: number, pgoff: number): number | ErrnoName {
  const end = addr + len;
  if (vmasIn(mm, addr, end).length > 0) {
    const r = doVmiMunmap(host, mm, addr, len);
    if (r !== null) return r;
  }
  // accountable_mapping: private writable memory is charged, except HugeTLB's, which has its own reservations.
  // It asks the file: VM_HUGETLB is set only later, by hugetlbfs's ->mmap.
  const hugetlbFile = file !== null && file.fOp.hugePageSize !== undefined;
  if ((vmFlags & (VM.NORESERVE | VM.SHARED | VM.WRITE)) === VM.WRITE && !hugetlbFile) {
    if (!securityVmEnoughMemory(host, len / PAGE_SIZE)) return 'ENOMEM';
    vmFlags |= VM.ACCOUNT;
  }
  const vma = new Vma(mm, addr, end, vmFlags, pgoff, null, null);
  if (file !== null) {
    vma.file = file;
    const e = file.fOp.mmap!(file, vma);
    if (e !== null) return e;
  } else if (vmFlags & VM.SHARED) {
    const e = hooks.shmemZeroSetup(vma, len);
    if (e !== null) return e;
  }
  vma.flags |= VM.SOFTDIRTY;
  vmaSetPageProt(vma);
  vmaInsert(mm, vma);
  vmaLinkFile(vma);
  // A shmem mapping the shmem THP policy allows registers the mm with khugepaged.
  khugepagedEnterVma(host, vma, vma.flags);
  mm.totalVm += len / PAGE_SIZE;
  vmaMergeNeighbours(vma);
  return addr;
}

/**
 * Unmap [start, start + len): split the VMAs at the edges, zap the pages, free
 * page tables no longer needed, and remove the VMAs. Returns null or an errno.
 */
// mirrors mm/vma.c:do_vmi_align_munmap (vms_gather_munmap_vmas + vms_complete_munmap_vmas)
export function doVmiMunmap(host: Host, mm: MmStruct, start: number, len: number): ErrnoName | null {
  const end = start + len;
  const vmas = vmasIn(mm, start, end);
  if (vmas.length === 0) return null;
  const first = vmas[0]!;
  if (first.start < start) {
    // A hole punched in the middle of one VMA adds a VMA.
    if (end < first.end && mm.vmas.length >= host.cfg.maxMapCount) return 'ENOMEM';
    const upper = splitVmaAt(host, first, start);
    if (typeof upper === 'string') return upper;
    vmas[0] = upper;
  }
  // A failure here leaves the start split in place, as in Linux.
  const last = vmas[vmas.length - 1]!;
  if (last.end > end) {
    const r = splitVmaAt(host, last, end);
    if (typeof r === 'string') return r;
  }
  // UFFD_EVENT_UNMAP for registered VMAs, delivered when the syscall is done.
  for (const v of vmas) userfaultfdUnmapPrep(host, v, start, end);
  const { prev, next } = neighbours(mm, start, end);
  for (const v of vmas) vmaErase(mm, v);
  unmapVmas(host, vmas, start, end);
  for (const v of vmas) if (v.flags & VM.HUGETLB_HGM) hgmFreeTables(host, v, v.start, v.end);
  freePgdRange(host, mm, mm.pgd, vmas[0]!.start, vmas[vmas.length - 1]!.end, prev?.end ?? 0, next?.start ?? 0);
  // Update the high watermark before total_vm falls (vms_complete_munmap_vmas).
  if (mm.hiwaterVm < mm.totalVm) mm.hiwaterVm = mm.totalVm;
  for (const v of vmas) {
    mm.totalVm -= (v.end - v.start) / PAGE_SIZE;
    removeVma(v);
  }
  return null;
}

/** munmap(2) after argument conversion. */
// mirrors mm/vma.c:do_vmi_munmap (the syscall checks)
export function doMunmap(host: Host, mm: MmStruct, startB: bigint, lenB: bigint): void {
  const S = 'munmap';
  if (startB % PAGE !== 0n || startB > BTASK_SIZE || lenB > BTASK_SIZE - startB) err('EINVAL', S);
  const len = Number((lenB + PAGE - 1n) & ~(PAGE - 1n));
  if (len === 0) err('EINVAL', S);
  const r = doVmiMunmap(host, mm, Number(startB), len);
  if (r !== null) err(r, S);
}

/** Tear down an address space at exit: notify, zap everything, free tables and VMAs. */
// mirrors mm/mmap.c:exit_mmap (and __mmdrop's pgd_free)
export function exitMmap(host: Host, mm: MmStruct): void {
  // __mmput: the last user is gone; khugepaged lets go of the mm before the teardown.
  mm.users = 0;
  khugepagedExit(host, mm);
  mmuNotifierRelease(mm);
  const vmas = [...mm.vmas];
  unmapVmas(host, vmas, 0, TASK_SIZE);
  for (const v of vmas) if (v.flags & VM.HUGETLB_HGM) hgmFreeTables(host, v, v.start, v.end);
  for (const v of vmas) {
    vmaErase(mm, v);
    removeVma(v);
  }
  mm.totalVm = 0;
  // mmput: off the swapoff list.
  host.swap.mmlist.delete(mm);
  freeAllTables(host, mm, mm.pgd);
}
