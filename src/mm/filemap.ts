/**
 * The page cache (mirrors mm/filemap.c and mm/truncate.c): adding folios to an
 * address_space, removing them, and truncating ranges.
 *
 * The page cache holds one reference per base page of each folio it holds
 * (folio_ref_add(folio, nr) in __filemap_add_folio), and counts the pages in
 * NR_FILE_PAGES (and NR_SHMEM / NR_SHMEM_THPS for swap-backed folios).
 */
import { PG, folioNrPages, folioTestPmdMappable } from './folio.js';
import type { AddressSpace } from './fs_types.js';
import type { Host } from './host.js';
import { unmapMappingPages } from './memory.js';
import { NodeStat } from './vmstat.js';

/** Insert folio f at index (aligned to its size) and take the cache's references. */
// mirrors mm/filemap.c:__filemap_add_folio (with shmem_add_to_page_cache's accounting)
export function filemapAddFolio(host: Host, mapping: AddressSpace, f: number, index: number): void {
  const ft = host.ft;
  const nr = folioNrPages(ft, f);
  host.folioGet(f, nr);
  ft.owner[f] = mapping;
  ft.index[f] = index;
  if (mapping.aops.swapbacked) ft.flags[f]! |= PG.SWAPBACKED;
  mapping.pages.set(index, ft.order[f]!, f);
  mapping.nrpages += nr;
  host.stat[NodeStat.NR_FILE_PAGES] += nr;
  if (ft.flags[f]! & PG.SWAPBACKED) {
    host.stat[NodeStat.NR_SHMEM] += nr;
    if (folioTestPmdMappable(ft, f)) host.stat[NodeStat.NR_SHMEM_THPS] += nr;
  }
}

/** Take f out of the page cache and drop the cache's references (the folio may be freed). */
// mirrors mm/filemap.c:filemap_remove_folio (filemap_unaccount_folio + filemap_free_folio)
export function filemapRemoveFolio(host: Host, f: number): void {
  const ft = host.ft;
  const mapping = ft.owner[f] as AddressSpace;
  const nr = folioNrPages(ft, f);
  mapping.pages.delete(ft.index[f]!, ft.order[f]!);
  mapping.nrpages -= nr;
  host.stat[NodeStat.NR_FILE_PAGES] -= nr;
  if (ft.flags[f]! & PG.SWAPBACKED) {
    host.stat[NodeStat.NR_SHMEM] -= nr;
    if (folioTestPmdMappable(ft, f)) host.stat[NodeStat.NR_SHMEM_THPS] -= nr;
  }
  ft.owner[f] = null;
  host.folioPut(f, nr);
}

/** Folio at index in the page cache, or 0 (filemap_get_entry, no reference taken). */
export function filemapGetFolio(mapping: AddressSpace, index: number): number {
  const f = mapping.pages.get(index);
  return f < 0 ? 0 : f;
}

/**
 * Remove a folio being truncated: unmap it from every VMA (page-cache PTEs
 * only; private COW copies are not its mappings), then drop it from the cache.
 */
// mirrors mm/truncate.c:truncate_inode_folio
export function truncateInodeFolio(host: Host, mapping: AddressSpace, f: number): void {
  const ft = host.ft;
  const first = ft.index[f]!;
  if (ft.mapcount[f]! >= 0 || ft.entire[f]! >= 0) unmapMappingPages(host, mapping, first, first + folioNrPages(ft, f) - 1, false);
  filemapRemoveFolio(host, f);
}

/** Remove every whole folio with index in [start, end] from the cache. */
// mirrors mm/truncate.c:truncate_inode_pages_range (whole-folio part)
export function truncateInodePagesRange(host: Host, mapping: AddressSpace, start: number, end: number): void {
  const victims: number[] = [];
  mapping.pages.forEach(start, end + 1, (_index, _order, f) => {
    victims.push(f);
  });
  for (const f of victims) truncateInodeFolio(host, mapping, f);
}
