/**
 * Counts of the primitive operations the model performs: the raw material for
 * the cost model and for comparing designs. Incrementing is one typed-array add,
 * so hot paths count unconditionally.
 *
 * Usage on a hot path:  host.ev[Ev.PTE_WRITE] += n;
 */

export const enum Ev {
  /** Page-table entry writes (set or clear) at each level. */
  PTE_WRITE,
  PMD_WRITE,
  PUD_WRITE,
  PGD_WRITE,
  /** Page-table pages allocated / freed (4 KiB each, as Linux spends them). */
  PT_ALLOC,
  PT_FREE,
  /** TLB flushes: ranged (flush_tlb_range) and whole-mm (flush_tlb_mm), one per flush operation. */
  TLB_FLUSH_RANGE,
  TLB_FLUSH_MM,
  /** Flushes that had to reach other CPUs (mm_cpumask beyond the current CPU; src/mm/tlb.ts). */
  TLB_SHOOTDOWN,
  /** Remote CPUs flushed, summed over shootdowns. */
  TLB_REMOTE_CPU,
  /** IPIs sent: x86 sends one per remote CPU per shootdown and waits for them all. */
  IPI,
  /** mmu_notifier_invalidate_range_start calls (with at least one subscriber or not). */
  NOTIFIER_INVALIDATE,
  NOTIFIER_CLEAR_YOUNG,
  /** Atomic updates of folio counters. */
  ATOMIC_REFCOUNT,
  ATOMIC_MAPCOUNT,
  ATOMIC_PINCOUNT,
  /** Base pages allocated from / returned to the buddy allocator. */
  PAGE_ALLOC,
  PAGE_FREE,
  /** Allocator calls (a folio of any order, page-table pages included): the per-call part of the cost. */
  FOLIO_ALLOC,
  FOLIO_FREE,
  /**
   * Bytes zeroed and copied on behalf of user pages: new pages, COW, fork and
   * migration copies, and data moved by read/write, pipes and io_uring.
   */
  ZERO_BYTES,
  COPY_BYTES,
  /** Faults handled, and the COW copies they made. */
  FAULT,
  COW_COPY,
  COW_REUSE,
  THP_FAULT_ALLOC,
  THP_FAULT_FALLBACK,
  THP_SPLIT_PMD,
  THP_SPLIT_PAGE,
  /** PMD-order folios allocated for a collapse (MADV_COLLAPSE, khugepaged), and allocations that failed (vm events thp_collapse_alloc, thp_collapse_alloc_failed). */
  THP_COLLAPSE_ALLOC,
  THP_COLLAPSE_ALLOC_FAILED,
  /** Pages fork copied for the child because they may be pinned (copy_present_page). */
  FORK_COPY,
  /** Page-table entries GUP looked up (a PTE, or a PMD/PUD leaf for all its pages): GUP-fast's lockless walk, the slow path's follow_page_mask (faulting in is counted as faults). */
  GUP_FAST_ENTRY,
  GUP_SLOW_ENTRY,
  /** Folios and base pages migrated (src/mm/migrate.ts). */
  MIGRATE_FOLIO,
  MIGRATE_PAGE,
  /** Grace periods waited for (synchronize_rcu / synchronize_srcu). */
  SYNCHRONIZE_RCU,
  /** System calls issued; the simulator counts them (the model's entry points are its API calls). */
  SYSCALL,
  /** Guest exits to the host (KVM; none until KVM is modelled). */
  VM_EXIT,
  /** vmemmap pages restored / freed by HugeTLB vmemmap optimization (none until HugeTLB pools exist). */
  VMEMMAP_RESTORE,
  VMEMMAP_OPTIMIZE,
  /** Stores into a memory-attribute tree (KVM_SET_MEMORY_ATTRIBUTES: one per gfn whose attributes change, src/kvm/kvm_main.ts). */
  ATTR_STORE,
  /**
   * Secondary-MMU leaf entries (KVM sPTEs) an MMU-notifier invalidate zapped:
   * counted by the subscriber that mirrors the range (the simulator's VM,
   * src/sim/postcopy/stage2.ts), inside the operation that invalidated; the
   * KVM model (src/kvm/mmu.ts) counts every stage-2 leaf it zaps, for any cause.
   */
  SPTE_ZAP,
  /**
   * HugeTLB high-granularity mapping (never merged; src/mm/hugetlb_hgm.ts):
   * per-4 KiB-page _mapcount increments and decrements the 'thp-like' mapcount
   * design makes (a 2 MiB piece of a 1 GiB page is 512; collapsing a 1 GiB page
   * mapped at 4 KiB is 262,144).
   */
  HGM_SUBPAGE_MAPCOUNT,
  /** Post-collapse MMU notifications sent instead of an invalidate pair (policy collapseNotifier 'post-collapse'). */
  NOTIFIER_POST_COLLAPSE,
  NR_EVENTS,
}

/** Counter names in Ev order: snake_case and stable, as reports and scenario `costs:` maps spell them. */
export const EVENT_NAMES = [
  'pte_write',
  'pmd_write',
  'pud_write',
  'pgd_write',
  'pt_alloc',
  'pt_free',
  'tlb_flush_range',
  'tlb_flush_mm',
  'tlb_shootdown',
  'tlb_remote_cpu',
  'ipi',
  'notifier_invalidate',
  'notifier_clear_young',
  'atomic_refcount',
  'atomic_mapcount',
  'atomic_pincount',
  'page_alloc',
  'page_free',
  'folio_alloc',
  'folio_free',
  'zero_bytes',
  'copy_bytes',
  'fault',
  'cow_copy',
  'cow_reuse',
  'thp_fault_alloc',
  'thp_fault_fallback',
  'thp_split_pmd',
  'thp_split_page',
  'thp_collapse_alloc',
  'thp_collapse_alloc_failed',
  'fork_copy',
  'gup_fast_entry',
  'gup_slow_entry',
  'migrate_folio',
  'migrate_page',
  'synchronize_rcu',
  'syscall',
  'vm_exit',
  'vmemmap_restore',
  'vmemmap_optimize',
  'attr_store',
  'spte_zap',
  'hgm_subpage_mapcount',
  'notifier_post_collapse',
] as const;

export type EventName = (typeof EVENT_NAMES)[number];

/** A fresh counter array. */
export function newCounters(): Float64Array {
  return new Float64Array(Ev.NR_EVENTS);
}

/** The counters as a plain named record, for reports and tests. */
export function countersRecord(ev: Float64Array): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < EVENT_NAMES.length; i++) out[EVENT_NAMES[i]!] = ev[i]!;
  return out;
}
