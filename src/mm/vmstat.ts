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
  NR_PAGETABLE, // user page-table pages (incl. deposited THP tables)
  NR_FOLL_PIN_ACQUIRED,
  NR_FOLL_PIN_RELEASED,
  NR_SECONDARY_PAGETABLE, // secondary MMU tables: KVM's stage-2 (SecPageTables)
  NR_STATS,
}

export const NODE_STAT_NAMES: readonly string[] = [
  'nr_anon_pages',
  'nr_mapped',
  'nr_file_pages',
  'nr_shmem',
  'nr_shmem_hugepages',
  'nr_shmem_pmdmapped',
  'nr_file_pmdmapped',
  'nr_anon_transparent_hugepages',
  'nr_page_table_pages',
  'nr_foll_pin_acquired',
  'nr_foll_pin_released',
  'nr_sec_page_table_pages',
];

export function newNodeStats(): Float64Array {
  return new Float64Array(NodeStat.NR_STATS);
}
