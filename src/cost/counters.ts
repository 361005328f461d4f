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
  /** TLB flushes: ranged (flush_tlb_range) and whole-mm (flush_tlb_mm). */
  TLB_FLUSH_RANGE,
  TLB_FLUSH_MM,
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
  /** Bytes zeroed and copied on behalf of user pages. */
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
  /** Pages fork copied for the child because they may be pinned (copy_present_page). */
  FORK_COPY,
  NR_EVENTS,
}

export const EVENT_NAMES: readonly string[] = [
  'pte_write',
  'pmd_write',
  'pud_write',
  'pgd_write',
  'pt_alloc',
  'pt_free',
  'tlb_flush_range',
  'tlb_flush_mm',
  'notifier_invalidate',
  'notifier_clear_young',
  'atomic_refcount',
  'atomic_mapcount',
  'atomic_pincount',
  'page_alloc',
  'page_free',
  'zero_bytes',
  'copy_bytes',
  'fault',
  'cow_copy',
  'cow_reuse',
  'thp_fault_alloc',
  'thp_fault_fallback',
  'thp_split_pmd',
  'thp_split_page',
  'fork_copy',
];

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
