/**
 * The page cache (mirrors mm/filemap.c and mm/truncate.c): adding folios to an
 * address_space, removing them, and truncating ranges.
 *
 * The page cache holds one reference per base page of each folio it holds
 * (folio_ref_add(folio, nr) in __filemap_add_folio), and counts the pages in
 * NR_FILE_PAGES (and NR_SHMEM / NR_SHMEM_THPS for swap-backed folios).
 */
import { Ev } from '../cost/counters.js';
import { PG, folioNrPages, folioTestPmdMappable } from './folio.js';
import { type AddressSpace, InodeFlag } from './fs_types.js';
import type { Host } from './host.js';
import { splitFolio } from './huge_memory.js';
import { type LazyPieces, lazyPieceAt, lazyRunsAdd, lazyRunsDelete } from './hugetlb_split.js';
import { unmapMappingPages } from './memory.js';
import { folioMkclean } from './rmap.js';
import { NodeStat } from './vmstat.js';

/** Insert folio f at index (aligned to its size) and take the cache's references. */
// mirrors mm/filemap.c:__filemap_add_folio (with shmem_add_to_page_cache's accounting)
export function filemapAddFolio(host: Host, mapping: AddressSpace, f: number, index: number): void {
  filemapAccountFolio(host, mapping, f, index);
  mapping.pages.set(index, host.ft.order[f]!, f);
}

/**
 * filemapAddFolio for order-0 folios at consecutive indices index,
 * index + 1, ...: the same references, fields and counters, the cache's
 * entries stored a leaf at a time (the pieces of a split 1 GiB page).
 */
// mirrors mm/filemap.c:__filemap_add_folio, once per folio
export function filemapAddFolios(host: Host, mapping: AddressSpace, folios: ArrayLike<number>, index: number): void {
  const ft = host.ft;
  for (let k = 0; k < folios.length; k++) {
    if (ft.order[folios[k]!] !== 0) throw new RangeError(`filemapAddFolios: folio ${folios[k]} is not order 0`);
    filemapAccountFolio(host, mapping, folios[k]!, index + k);
  }
  mapping.pages.setRun(index, folios, folios.length);
}

/**
 * filemapAddFolios for the lazy pieces of a split HugeTLB page
 * (hugetlbSplitFolioLazy), at index, index + 1, ...: the same references and
 * counters, and the pieces' entries made as they are looked up.
 */
// mirrors mm/filemap.c:__filemap_add_folio, once per piece
export function filemapAddLazyPieces(host: Host, mapping: AddressSpace, lazy: LazyPieces, index: number): void {
  if (lazy.mapping !== null || lazy.done.length !== 0) throw new RangeError('filemapAddLazyPieces: the pieces are not as the split left them');
  const n = lazy.nr;
  lazy.mapping = mapping;
  lazy.index0 = index;
  if (mapping.aops.swapbacked) lazy.flags |= PG.SWAPBACKED;
  // folio_ref_add on each piece.
  host.ev[Ev.ATOMIC_REFCOUNT] += n;
  filemapAccountPages(host, mapping, n, mapping.aops.swapbacked, false);
  lazyRunsAdd(host, mapping, lazy);
}

/**
 * filemap_remove_folio of every piece of a lazy split still in the cache
 * (the made ones are removed one by one, as any folio): the pieces keep the
 * split page's reference only.
 */
// mirrors mm/filemap.c:filemap_remove_folio, once per piece
export function filemapRemoveLazyPieces(host: Host, lazy: LazyPieces): void {
  const mapping = lazy.mapping!;
  const n = lazy.nr - lazy.done.length;
  host.ev[Ev.ATOMIC_REFCOUNT] += n;
  filemapAccountPages(host, mapping, -n, (lazy.flags & PG.SWAPBACKED) !== 0, false);
  lazyRunsDelete(mapping, lazy);
  lazy.mapping = null;
}

/** The counters of nr pages entering a page cache (nr < 0: leaving it). */
function filemapAccountPages(host: Host, mapping: AddressSpace, nr: number, swapbacked: boolean, pmdMappable: boolean): void {
  mapping.nrpages += nr;
  host.stat[NodeStat.NR_FILE_PAGES] += nr;
  if (swapbacked) {
    host.stat[NodeStat.NR_SHMEM] += nr;
    if (pmdMappable) host.stat[NodeStat.NR_SHMEM_THPS] += nr;
  }
}

/** What adding f to the cache at index does besides storing the entry: the cache's references, f's fields, the counters. */
function filemapAccountFolio(host: Host, mapping: AddressSpace, f: number, index: number): void {
  const ft = host.ft;
  const nr = folioNrPages(ft, f);
  host.folioGet(f, nr);
  ft.owner[f] = mapping;
  ft.index[f] = index;
  if (mapping.aops.swapbacked) ft.flags[f]! |= PG.SWAPBACKED;
  const swapbacked = (ft.flags[f]! & PG.SWAPBACKED) !== 0;
  filemapAccountPages(host, mapping, nr, swapbacked, swapbacked && folioTestPmdMappable(ft, f));
}

/** Take f out of the page cache and drop the cache's references (the folio may be freed). */
// mirrors mm/filemap.c:filemap_remove_folio (filemap_unaccount_folio + filemap_free_folio)
export function filemapRemoveFolio(host: Host, f: number): void {
  const ft = host.ft;
  const mapping = ft.owner[f] as AddressSpace;
  const nr = folioNrPages(ft, f);
  mapping.pages.delete(ft.index[f]!, ft.order[f]!);
  const swapbacked = (ft.flags[f]! & PG.SWAPBACKED) !== 0;
  filemapAccountPages(host, mapping, -nr, swapbacked, swapbacked && folioTestPmdMappable(ft, f));
  ft.owner[f] = null;
  host.folioPut(f, nr);
}

/**
 * A page of an fs-dax file (the model keeps DAX files' pmem pages as folios
 * of their mapping; Linux's are ZONE_DEVICE pages of a MEMORY_DEVICE_FS_DAX
 * pgmap). They may not be pinned long-term (folio_is_longterm_pinnable).
 */
// mirrors include/linux/memremap.h:folio_is_fsdax
export function folioIsFsdax(host: Host, f: number): boolean {
  const o = host.ft.owner[f];
  return o !== null && o !== undefined && o.kind === 'file' && ((o as AddressSpace).host.iFlags & InodeFlag.DAX) !== 0;
}

/** Folio at index in the page cache, or 0 (filemap_get_entry, no reference taken). A lazy piece of a split HugeTLB page is made now. */
export function filemapGetFolio(mapping: AddressSpace, index: number): number {
  const f = mapping.pages.get(index);
  if (f >= 0) return f;
  return mapping.lazy === null || mapping.lazy === undefined ? 0 : lazyPieceAt(mapping, index);
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

/**
 * Move an unmapped folio to another index of its mapping (the page-cache half
 * of shifting a file's extents: collapse and insert range). The target slot
 * must be empty.
 */
export function filemapMoveFolio(host: Host, f: number, index: number): void {
  const ft = host.ft;
  const mapping = ft.owner[f] as AddressSpace;
  if (ft.mapcount[f]! >= 0 || ft.entire[f]! >= 0) throw new Error('internal: moving a mapped page-cache folio');
  mapping.pages.delete(ft.index[f]!, ft.order[f]!);
  ft.index[f] = index;
  mapping.pages.set(index, ft.order[f]!, f);
}

/** Mark a page-cache folio dirty (its data differs from the file system's copy). */
// mirrors mm/page-writeback.c:folio_mark_dirty (filemap_dirty_folio)
export function folioMarkDirty(host: Host, f: number): void {
  host.ft.flags[f]! |= PG.DIRTY;
}

/**
 * Prepare a dirty folio for writeback: first write-protect and clean every
 * shared mapping of it (so the next write through one faults and dirties it
 * again), folding dirty PTEs into the folio; then clear its dirty flag.
 * Returns whether the folio was dirty (and must be written).
 */
// mirrors mm/page-writeback.c:folio_clear_dirty_for_io
export function folioClearDirtyForIo(host: Host, f: number): boolean {
  const ft = host.ft;
  const mapping = ft.owner[f] as AddressSpace | null;
  if (mapping !== null && mapping.aops.writeback && folioMkclean(host, f) > 0) folioMarkDirty(host, f);
  if (!(ft.flags[f]! & PG.DIRTY)) return false;
  ft.flags[f]! &= ~PG.DIRTY;
  return true;
}

/**
 * Write back the dirty folios with index in [first, last] and wait for the
 * I/O: when it returns, none of them is dirty and none is mapped writable in a
 * shared mapping. The model has no disk, so the write itself completes at
 * once and changes nothing else. Returns the folios written.
 */
// mirrors mm/filemap.c:filemap_write_and_wait_range (do_writepages -> writeback_iter -> folio_clear_dirty_for_io)
export function filemapWriteAndWaitRange(host: Host, mapping: AddressSpace, first: number, last: number): number {
  if (mapping.nrpages === 0) return 0;
  const ft = host.ft;
  const dirty: number[] = [];
  mapping.pages.forEach(first, last + 1, (_index, _order, f) => {
    // The folios tagged dirty (PAGECACHE_TAG_DIRTY). With write-notify, a clean
    // folio has no writable shared PTE: the first write faults and dirties it.
    if (ft.flags[f]! & PG.DIRTY) dirty.push(f);
  });
  let written = 0;
  for (const f of dirty) if (folioClearDirtyForIo(host, f)) written++;
  return written;
}

/**
 * Copy count bytes of a file of `size` bytes at pos into buf, page by page:
 * getFolio(index) returns the cached folio (with a reference the copy drops if
 * `put`), or 0 for a hole, which reads as zeros. Returns the bytes copied
 * (0 at or past EOF).
 */
// mirrors mm/filemap.c:filemap_read (the copy loop, without readahead)
export function filemapReadInto(host: Host, size: bigint, buf: Uint8Array, count: number, pos: bigint, getFolio: (index: number) => number, put: boolean): number {
  if (pos >= size) return 0;
  const left = size - pos;
  const n = left < BigInt(count) ? Number(left) : count;
  // Page index and offset: exact numbers whatever the position.
  let index = Number(pos >> 12n);
  let off = Number(pos & 4095n);
  let done = 0;
  while (done < n) {
    const chunk = Math.min(n - done, 4096 - off);
    const f = getFolio(index);
    if (f !== 0) {
      // A large folio: the page's offset inside it.
      host.content.read(f, (index - host.ft.index[f]!) * 4096 + off, buf, done, chunk);
      if (put) host.folioPut(f);
    } else buf.fill(0, done, done + chunk);
    done += chunk;
    index++;
    off = 0;
  }
  // copy_page_to_iter (iov_iter_zero for holes): every byte read is copied once.
  host.ev[Ev.COPY_BYTES] += n;
  return n;
}

/**
 * Remove bytes [lstart, lend] (inclusive; lend -1: to the end of the file)
 * from the page cache: whole folios leave it (with every page-cache mapping
 * of them; removed(f, nr) runs after each, with its page count), and the
 * folios at the edges are partly zeroed (where zeroable(f) allows: shmem
 * skips fallocated, not-yet-written folios, which read as zeros anyway). A
 * large folio at an edge is zeroed over the range and split, so that its
 * pages inside the range can leave; if it cannot be split (a pin), it stays,
 * zeroed, as truncate_inode_partial_folio leaves a dirty folio.
 */
// mirrors mm/truncate.c:truncate_inode_pages_range and mm/shmem.c:shmem_undo_range (with truncate_inode_partial_folio)
export function truncateInodePagesRange(
  host: Host,
  mapping: AddressSpace,
  lstart: bigint,
  lend: bigint,
  removed: ((f: number, nr: number) => void) | null = null,
  zeroable: ((f: number) => boolean) | null = null,
): void {
  const toEnd = lend === -1n;
  // Both ends as a page index and a byte in that page: exact as numbers for any loff_t.
  const t: TruncateCall = {
    host,
    mapping,
    removed,
    zeroable,
    toEnd,
    firstIdx: Number(lstart >> 12n),
    firstOff: Number(lstart & 4095n),
    lastIdx: toEnd ? -1 : Number(lend >> 12n),
    lastOff: toEnd ? 4095 : Number(lend & 4095n),
  };
  // Whole pages [start, end); to the end of the file: every index.
  const start = t.firstOff === 0 ? t.firstIdx : t.firstIdx + 1;
  const end = t.toEnd ? Number.MAX_SAFE_INTEGER : t.lastOff === 4095 ? t.lastIdx + 1 : t.lastIdx;
  const ft = host.ft;
  const f = filemapGetFolio(mapping, t.firstIdx);
  // Is lend inside the first folio (then it is the only partial one)?
  let sameFolio = t.firstIdx === t.lastIdx;
  if (f !== 0) {
    sameFolio = !t.toEnd && t.lastIdx < ft.index[f]! + folioNrPages(ft, f);
    truncatePartial(t, f);
  }
  if (!t.toEnd && !sameFolio) {
    const g = filemapGetFolio(mapping, t.lastIdx);
    if (g !== 0) truncatePartial(t, g);
  }
  // The folios entirely inside [start, end): those before, and the pieces of split ones.
  if (end <= start) return;
  const victims: number[] = [];
  mapping.pages.forEach(start, end, (index, order, v) => {
    if (index >= start && index + (1 << order) <= end) victims.push(v);
  });
  for (const v of victims) truncateRemove(t, v);
}

/** A truncateInodePagesRange call: its mapping, hooks, and both ends of the range. */
interface TruncateCall {
  readonly host: Host;
  readonly mapping: AddressSpace;
  readonly removed: ((f: number, nr: number) => void) | null;
  readonly zeroable: ((f: number) => boolean) | null;
  readonly toEnd: boolean;
  readonly firstIdx: number;
  readonly firstOff: number;
  readonly lastIdx: number;
  /** The byte of lastIdx's page that lend names (4095 to the end of the file). */
  readonly lastOff: number;
}

/** A folio inside the range leaves the page cache. */
function truncateRemove(t: TruncateCall, f: number): void {
  const nr = folioNrPages(t.host.ft, f);
  truncateInodeFolio(t.host, t.mapping, f);
  t.removed?.(f, nr);
}

/** truncate_inode_partial_folio: a folio at an edge goes whole if the range covers it, else is zeroed over the range and split. */
// mirrors mm/truncate.c:truncate_inode_partial_folio
function truncatePartial(t: TruncateCall, f: number): void {
  const host = t.host;
  const ft = host.ft;
  const fi = ft.index[f]!;
  const nr = folioNrPages(ft, f);
  const size = nr * 4096;
  // Byte offsets inside the folio (below 2^31 for any folio): where the range starts, and how much of it lies in the folio.
  const offset = t.firstIdx >= fi ? (t.firstIdx - fi) * 4096 + t.firstOff : 0;
  const length = t.toEnd || t.lastIdx >= fi + nr ? size - offset : (t.lastIdx - fi) * 4096 + t.lastOff + 1 - offset;
  if (length === size) {
    truncateRemove(t, f);
    return;
  }
  if (length > 0 && (t.zeroable === null || t.zeroable(f))) {
    host.content.fill(f, nr, offset, length, 0);
    host.ev[Ev.ZERO_BYTES] += length;
  }
  if (ft.order[f] === 0) return;
  // shmem marks a large folio dirty first, so a failed split keeps it (zeroed) rather than dropping it.
  ft.flags[f]! |= PG.DIRTY;
  host.folioGet(f);
  splitFolio(host, f, 0);
  host.folioPut(f);
}
