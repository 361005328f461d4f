/**
 * Node statistics the model keeps incrementally, exactly where Linux updates them
 * (include/linux/mmzone.h: enum node_stat_item). Values are in base pages.
 * The oracle recomputes every one of them from scratch.
 */

export const enum NodeStat {
  NR_ANON_MAPPED, // mapped anonymous pages (__folio_mod_stat)
  NR_FILE_MAPPED, // mapped page-cache pages
  NR_FILE_PAGES, // all page-cache pages (includes shmem)
  NR_SHMEM, // shmem/tmpfs page-cache pages
  NR_SHMEM_THPS, // shmem pages in PMD-sized folios
  NR_SHMEM_PMDMAPPED, // shmem pages mapped by PMDs
  NR_FILE_PMDMAPPED, // other file pages mapped by PMDs
  NR_ANON_THPS, // anon pages mapped by PMDs
  NR_FOLL_PIN_ACQUIRED,
  NR_FOLL_PIN_RELEASED,
  NR_PAGETABLE, // user page-table pages (incl. deposited THP tables)
  NR_SECONDARY_PAGETABLE, // secondary MMU tables: KVM's stage-2 (SecPageTables)
  NR_STATS,
}

/** The names of NodeStat's counters, in its order, which is 6.12's vmstat_text order (Kernel.vmstat prints them so). */
export const NODE_STAT_NAMES: readonly string[] = [
  'nr_anon_pages',
  'nr_mapped',
  'nr_file_pages',
  'nr_shmem',
  'nr_shmem_hugepages',
  'nr_shmem_pmdmapped',
  'nr_file_pmdmapped',
  'nr_anon_transparent_hugepages',
  'nr_foll_pin_acquired',
  'nr_foll_pin_released',
  'nr_page_table_pages',
  'nr_sec_page_table_pages',
];

export function newNodeStats(): Float64Array {
  return new Float64Array(NodeStat.NR_STATS);
}

/**
 * Per-order mTHP event counters (include/linux/huge_mm.h: enum
 * mthp_stat_item), shown in /sys/kernel/mm/transparent_hugepage/
 * hugepages-<size>kB/stats/. Linux sums per-CPU counters; the model keeps one.
 */
export const enum MthpStat {
  ANON_FAULT_ALLOC,
  ANON_FAULT_FALLBACK,
  ANON_FAULT_FALLBACK_CHARGE,
  SWPOUT,
  SWPOUT_FALLBACK,
  SHMEM_ALLOC,
  SHMEM_FALLBACK,
  SHMEM_FALLBACK_CHARGE,
  SPLIT,
  SPLIT_FAILED,
  SPLIT_DEFERRED,
  NR_ANON,
  NR_ANON_PARTIALLY_MAPPED,
  COUNT,
}

/** The stats/ file names, by MthpStat. */
export const MTHP_STAT_NAMES: readonly string[] = [
  'anon_fault_alloc',
  'anon_fault_fallback',
  'anon_fault_fallback_charge',
  'swpout',
  'swpout_fallback',
  'shmem_alloc',
  'shmem_fallback',
  'shmem_fallback_charge',
  'split',
  'split_failed',
  'split_deferred',
  'nr_anon',
  'nr_anon_partially_mapped',
];

/** Orders 0..PMD_ORDER (9) have a row; order 0 and orders above PMD are not counted. */
const MTHP_ORDERS = 10;

export function newMthpStats(): Float64Array {
  return new Float64Array(MTHP_ORDERS * MthpStat.COUNT);
}

/** Add delta to counter item of order (ignored for order 0 and above PMD order). */
// mirrors include/linux/huge_mm.h:mod_mthp_stat
export function modMthpStat(stats: Float64Array, order: number, item: MthpStat, delta: number): void {
  if (order <= 0 || order >= MTHP_ORDERS) return;
  stats[order * MthpStat.COUNT + item] += delta;
}

/** The value of counter item of order (sum_mthp_stat). */
export function mthpStat(stats: Float64Array, order: number, item: MthpStat): number {
  return stats[order * MthpStat.COUNT + item]!;
}

/** /proc/buddyinfo's text. */
// mirrors mm/vmstat.c:frag_show_print ("Node %d, zone %8s ", then "%6lu " per order)
export function formatBuddyinfo(zones: { zone: string; free: number[] }[]): string {
  return zones.map((z) => `Node 0, zone ${z.zone.padStart(8)} ${z.free.map((n) => `${String(n).padStart(6)} `).join('')}\n`).join('');
}
