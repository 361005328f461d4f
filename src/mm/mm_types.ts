/**
 * struct mm_struct, struct vm_area_struct and struct anon_vma
 * (include/linux/mm_types.h, include/linux/rmap.h).
 *
 * VMAs are plain objects (there are few of them); per-page state never is.
 * An mm keeps its VMAs sorted by start address in an array: lookups are binary
 * searches with a one-entry cache, which is what the fault path needs.
 */
import type { FolioOwner } from './folio.js';
import type { AddressSpace, File, VmOperations } from './fs_types.js';
import type { MmuNotifier } from './mmu_notifier.js';
import type { PageTable, PgtableOwner } from './pgtable.js';
import type { UserfaultfdCtx } from './userfaultfd_k.js';

/**
 * vm_flags bits 0..30, at Linux's positions (include/linux/mm.h), except
 * DROPPABLE: Linux keeps it at bit 40 (64-bit only), beyond the 31 bits a JS
 * bitwise operation carries, so the model stores it at bit 11, which x86-64
 * leaves unused (it was VM_DENYWRITE until v5.15); and UFFD_MINOR, bit 38 in
 * Linux (VM_UFFD_MINOR_BIT, CONFIG_HAVE_ARCH_USERFAULTFD_MINOR), stored at
 * bit 24, x86's VM_ARCH_1 (VM_PAT), which the model never sets.
 */
export const enum VM {
  NONE = 0,
  READ = 0x1,
  WRITE = 0x2,
  EXEC = 0x4,
  SHARED = 0x8,
  MAYREAD = 0x10,
  MAYWRITE = 0x20,
  MAYEXEC = 0x40,
  MAYSHARE = 0x80,
  GROWSDOWN = 0x100,
  UFFD_MISSING = 0x200,
  PFNMAP = 0x400,
  /** VM_DROPPABLE (Linux: bit 40; see above): MAP_DROPPABLE memory the kernel may free at any time. */
  DROPPABLE = 0x800,
  UFFD_WP = 0x1000,
  LOCKED = 0x2000,
  IO = 0x4000,
  SEQ_READ = 0x8000,
  RAND_READ = 0x10000,
  DONTCOPY = 0x20000,
  DONTEXPAND = 0x40000,
  LOCKONFAULT = 0x80000,
  ACCOUNT = 0x100000,
  NORESERVE = 0x200000,
  HUGETLB = 0x400000,
  SYNC = 0x800000,
  /** VM_UFFD_MINOR (Linux: bit 38; see above): userfaultfd minor-fault mode. */
  UFFD_MINOR = 0x1000000,
  WIPEONFORK = 0x2000000,
  DONTDUMP = 0x4000000,
  SOFTDIRTY = 0x8000000,
  MIXEDMAP = 0x10000000,
  HUGEPAGE = 0x20000000,
  NOHUGEPAGE = 0x40000000,
  /**
   * VM_HUGETLB_HGM (HugeTLB high-granularity mapping, never merged; set by
   * MADV_SPLIT). The last free bit here, bit 31: a flags word with it set is
   * negative as an int32, so test it with `!== 0`, never against the constant.
   */
  HUGETLB_HGM = 1 << 31,
  /** VM_READ | VM_WRITE | VM_EXEC */
  ACCESS_FLAGS = 0x7,
  /** VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP: never merged. */
  SPECIAL = 0x4000 | 0x40000 | 0x400 | 0x10000000,
}

/** mm->flags bits (include/linux/mm_types.h, MMF_*). */
export const enum MMF {
  /** The mm has used FOLL_PIN at least once; never cleared. */
  HAS_PINNED = 1 << 27,
  /** PR_SET_THP_DISABLE. */
  DISABLE_THP = 1 << 24,
  /** The mm holds a reference to the huge zero folio. */
  HUGE_ZERO_FOLIO = 1 << 23,
}

/** mm->rss_stat indices (enum mm counters). */
export const enum MmCounter {
  FILEPAGES = 0,
  ANONPAGES = 1,
  SWAPENTS = 2,
  SHMEMPAGES = 3,
}

export class AnonVma implements FolioOwner {
  readonly kind = 'anon' as const;
  /** The oldest anon_vma in the fork tree (anon_vma->root). */
  readonly root: AnonVma;
  /** VMAs linked to this anon_vma through anon_vma_chain (its interval tree). */
  readonly vmas = new Set<Vma>();
  /** anon_vma->num_children: anon_vmas whose parent this is, plus one for a root (its own parent). */
  numChildren = 0;
  /** anon_vma->num_active_vmas: VMAs whose vma->anon_vma this is. */
  numActiveVmas = 0;

  constructor(
    readonly id: number,
    readonly parent: AnonVma | null,
  ) {
    this.root = parent === null ? this : parent.root;
  }
}

export class Vma {
  /** anon_vma_chain: every anon_vma this VMA is linked into (its own first). */
  avc: AnonVma[] = [];
  anonVma: AnonVma | null = null;
  /** vm_page_prot, as the PTE permission bits of a present mapping. */
  pageProt = 0;
  /** PR_SET_VMA_ANON_NAME, shown in smaps. */
  anonName: string | null = null;
  /** vm_userfaultfd_ctx: the userfaultfd this VMA is registered with (non-null exactly when a VM_UFFD_* flag is set). */
  uffdCtx: UserfaultfdCtx | null = null;
  /** vm_private_data: what the VMA's ops keep (hugetlb: the reservation map and HPAGE_RESV_* flags). */
  privateData: unknown = null;

  constructor(
    public mm: MmStruct,
    public start: number,
    public end: number,
    public flags: number,
    /** vm_pgoff: file offset in pages (for private anon, the virtual page number). */
    public pgoff: number,
    public file: File | null,
    public ops: VmOperations | null,
  ) {}

  /** The address_space of the mapped file, if any. */
  get mapping(): AddressSpace | null {
    return this.file === null ? null : this.file.inode.mapping;
  }
}

export class MmStruct implements PgtableOwner {
  readonly vmas: Vma[] = [];
  flags = 0;
  /** def_flags: added to every new VMA (PR_SET_THP_DISABLE -> VM_NOHUGEPAGE). */
  defFlags = 0;
  readonly rss = new Float64Array(4);
  pgtablesBytes = 0;
  /** Odd while fork copies page tables (mm->write_protect_seq). */
  writeProtectSeq = 0;
  readonly notifiers: MmuNotifier[] = [];
  /** Top of the top-down mmap area (mm->mmap_base). */
  mmapBase: number;
  /** Peak RSS in pages (hiwater_rss). */
  hiwaterRss = 0;
  /** HugeTLB pages mapped, in base pages (mm->hugetlb_usage: HugetlbPages in /proc/pid/status; not RSS). */
  hugetlbUsage = 0;
  /** total_vm, locked_vm ... in pages (VmSize, VmLck in /proc/pid/status). */
  totalVm = 0;
  lockedVm = 0;
  /**
   * hiwater_vm: total_vm's peak, recorded only when total_vm is about to fall
   * (update_hiwater_vm); VmPeak is the larger of it and total_vm.
   */
  hiwaterVm = 0;
  /** One-entry VMA lookup cache (the old vmacache). */
  lastVma: Vma | null = null;
  /** mm_users: tasks using this mm (0 once it has exited: mmget_not_zero fails). */
  users = 1;
  /** The pid of the task using this mm (mm->owner; one task per mm in the model), 0 if none. */
  ownerPid = 0;
  /** FOLL_PIN requests made on this mm: the oracle's witness for I10 (not a Linux field). */
  pinRequests = 0;
  /**
   * GUP-fast's last PTE table, with the PMD entry that held it (a model-only
   * walk cache, like a TLB): valid while that entry still points to it and no
   * page-table page was freed since (Host.ptGen).
   */
  gupPte: PageTable | null = null;
  gupPteBase = -1;
  gupPmd: PageTable | null = null;
  gupPmdI = 0;
  gupGen = -1;
  /** The CPU this mm's task runs on now (one task per mm): where its flushes are issued. */
  cpu = 0;
  /**
   * mm_cpumask: the CPUs this mm has run on, 32 per word, grown on demand.
   * Model: a bit stays set until the mm dies (x86 clears bits lazily, and
   * skips lazy-TLB CPUs when flushing); see tlb.ts.
   */
  cpumask = new Uint32Array(1).fill(1);
  /** Bits set in cpumask (cpumask_weight), kept so a flush needs no scan. */
  cpumaskWeight = 1;

  constructor(
    /** mm->mm_id (CONFIG_MM_ID), > 0. */
    readonly id: number,
    public pgd: PageTable,
    mmapBase: number,
  ) {
    this.mmapBase = mmapBase;
  }

  /** The task now runs on cpu (0 <= cpu < nr_cpu_ids, checked by the caller): its bit joins mm_cpumask. */
  // mirrors arch/x86/mm/tlb.c:switch_mm_irqs_off (the mm_cpumask side: cpumask_set_cpu on the new CPU)
  switchTo(cpu: number): void {
    this.cpu = cpu;
    const w = cpu >>> 5;
    const bit = 1 << (cpu & 31);
    if (w < this.cpumask.length && this.cpumask[w]! & bit) return;
    if (w >= this.cpumask.length) {
      const grown = new Uint32Array(w + 1);
      grown.set(this.cpumask);
      this.cpumask = grown;
    }
    this.cpumask[w]! |= bit;
    this.cpumaskWeight++;
  }

  /** A new mm whose task first runs on cpu: mm_cpumask holds that CPU alone. */
  // mirrors kernel/fork.c:mm_init (mm_init_cpumask), then the task's first switch_mm
  startOn(cpu: number): void {
    this.cpumask.fill(0);
    this.cpumaskWeight = 0;
    this.switchTo(cpu);
  }

  /** get_mm_rss: resident pages. */
  rssPages(): number {
    return this.rss[MmCounter.FILEPAGES]! + this.rss[MmCounter.ANONPAGES]! + this.rss[MmCounter.SHMEMPAGES]!;
  }
}

// mirrors include/linux/mm.h:is_cow_mapping
export function isCowMapping(flags: number): boolean {
  return (flags & (VM.SHARED | VM.MAYWRITE)) === VM.MAYWRITE;
}

// mirrors include/linux/mm.h:vma_is_anonymous
export function vmaIsAnonymous(vma: Vma): boolean {
  return vma.ops === null;
}

/** Shared anonymous or memfd/tmpfs mapping (vma_is_shmem). */
export function vmaIsShmem(vma: Vma): boolean {
  return vma.file !== null && vma.file.inode.mapping.aops.swapbacked && !(vma.flags & VM.HUGETLB);
}

// mirrors include/linux/mm.h:vma_pages
export function vmaPages(vma: Vma): number {
  return (vma.end - vma.start) / 4096;
}

// mirrors include/linux/pagemap.h:linear_page_index
export function linearPageIndex(vma: Vma, addr: number): number {
  return (addr - vma.start) / 4096 + vma.pgoff;
}
