/**
 * Swap devices, swap entries and the swap cache (mirrors mm/swapfile.c and
 * mm/swap_state.c).
 *
 * A swap entry is one number, type * 2^32 + offset (swp_entry), kept in the
 * pfn field of a non-present PTE tagged Pte.SWAP (see pgtable.ts). A device
 * is a swap_info_struct whose per-slot state is typed arrays sized to the
 * device, allocated at swapon:
 *
 *   map[off]    U32  swap count: the swap PTEs naming the slot (swap_map
 *                    without the SWAP_MAP_MAX/continuation encoding: the
 *                    model counts to 2^32 directly)
 *   cache[off]  U8   SWAP_HAS_CACHE: a swap-cache folio holds the slot
 *   fill[off]   I16  the slot's contents when every byte is one value, or
 *                    -1 when the 4 KiB are kept in data (so a swapped-out
 *                    memset page costs two bytes, not 4 KiB)
 *   zeromap[off] U8  the page was all zeroes and never written (6.12's zeromap)
 *
 * Slot 0 holds the swap header and is never allocated. The swap cache (the
 * per-device address_space of swap_state.c) maps an entry to the folio
 * holding it; a folio in it has PG.SWAPCACHE, its first entry in folioSwap
 * (folio->swap) and one reference per page (the cache's).
 *
 * An area is the zram-like device of the Kernel option `swap` (SWP_BLKDEV |
 * SWP_SOLIDSTATE | SWP_SYNCHRONOUS_IO: large folios get whole clusters, and
 * a swap-in with a single reference skips the swap cache) or a swap file
 * (no flags: order-0 slots only, swap-ins go through the swap cache). Areas
 * have priorities (SWAP_FLAG_PREFER, else counting down from -2): slots come
 * from the highest-priority area that has room, round-robin among areas of
 * equal priority (all areas without a chosen priority count as equal, as on
 * a single NUMA node), and a large folio tries only the first area.
 * Simplified: every write completes at once (a swap file's writeback is
 * asynchronous in Linux); a file area's slots live here, not in the file;
 * one cluster allocator (next-fit over naturally aligned runs) instead of
 * per-CPU clusters and free/nonfull/frag lists; no readahead, no zswap; a
 * full area keeps its place in the round-robin.
 */
import type { FolioTable } from './folio.js';
import { PG, folioNrPages } from './folio.js';
import { PAGE_SIZE } from './page.js';
import type { MmStruct } from './mm_types.js';
import type { PageContent } from './page_content.js';

/** The zram device the swap option provides. */
export const ZRAM_PATH = '/dev/zram0';

/** MAX_SWAPFILES on x86-64 with the model's config (no device-private/exclusive entries, no migration entries). */
export const MAX_SWAPFILES = 29;
/** SWAPFILE_CLUSTER: a large folio's entries must fit one cluster. */
export const SWAPFILE_CLUSTER = 512;

const TYPE_SHIFT = 2 ** 32;

// mirrors include/linux/swapops.h:swp_entry
export function swpEntry(type: number, offset: number): number {
  return type * TYPE_SHIFT + offset;
}

// mirrors include/linux/swapops.h:swp_type
export function swpType(val: number): number {
  return Math.floor(val / TYPE_SHIFT);
}

// mirrors include/linux/swapops.h:swp_offset
export function swpOffset(val: number): number {
  return val % TYPE_SHIFT;
}

/** swap_info_struct flags the model distinguishes (include/linux/swap.h). */
export const enum SWP {
  /** A block device (zram), not a file. */
  BLKDEV = 1 << 6,
  /** Non-rotational: large folios get clusters. */
  SOLIDSTATE = 1 << 4,
  /** Synchronous I/O: a swap-in with one reference skips the swap cache. */
  SYNCHRONOUS_IO = 1 << 12,
}

/** One active swap area (struct swap_info_struct). */
export class SwapInfo {
  /** Priority (si->prio): SWAP_FLAG_PREFER's, or counting down from -2; set by enableSwapInfo. */
  prio = 0;
  /** Usable slots, header included (si->max); slot 0 is the header. */
  readonly max: number;
  /** Slots that can hold pages (si->pages). */
  readonly pages: number;
  /** Per-slot state, grown on demand up to max (slots at or above hw were never used). */
  map = new Uint32Array(0);
  cache = new Uint8Array(0);
  fill = new Int16Array(0);
  /** The zeromap: the slot's page was all zeroes and was not written (6.12's zeromap bitmap, a byte per slot here). */
  zeromap = new Uint8Array(0);
  /** High-water mark: slots below it have been allocated at some time. */
  hw = 1;
  /** Materialized slots: offset -> 4 KiB. */
  readonly data = new Map<number, Uint8Array>();
  /** Slots with a count or SWAP_HAS_CACHE (si->inuse_pages). */
  inuse = 0;
  /** Next-fit cursor for small allocations and for clusters. */
  private next = 1;

  constructor(
    readonly type: number,
    /** The area's path as /proc/swaps prints it (d_path of the swap file, or the device). */
    readonly path: string,
    sizePages: number,
    /** SWP bits. */
    readonly flags: number,
    /** A swap file's inode (its S_SWAPFILE owner; swapoff finds the area by it); null for the device. */
    readonly inode: object | null = null,
  ) {
    this.max = sizePages;
    this.pages = sizePages - 1;
    this.grow(Math.min(sizePages, 1024));
  }

  /** Make room for slots below n (state proportional to the swap in use, not the device size). */
  private grow(n: number): void {
    if (n <= this.map.length) return;
    const len = Math.min(this.max, Math.max(n, this.map.length * 2));
    const m = new Uint32Array(len);
    m.set(this.map);
    this.map = m;
    const c = new Uint8Array(len);
    c.set(this.cache);
    this.cache = c;
    const fi = new Int16Array(len);
    fi.set(this.fill);
    this.fill = fi;
    const z = new Uint8Array(len);
    z.set(this.zeromap);
    this.zeromap = z;
  }

  /**
   * nr free, naturally aligned slots for a folio of nr pages, marked
   * SWAP_HAS_CACHE (the swap cache is about to take them); -1 if none.
   */
  // mirrors mm/swapfile.c:scan_swap_map_slots (simplified: one next-fit cursor instead of the cluster lists)
  alloc(nr: number): number {
    if (this.pages - this.inuse < nr) return -1;
    const start = Math.ceil(this.next / nr) * nr;
    const tryFrom = (from: number, to: number): number => {
      for (let off = from; off + nr <= to; off += nr) {
        if (off === 0) continue;
        // Slots at or above the high-water mark are free.
        if (off >= this.hw) return off;
        let k = 0;
        while (k < nr && off + k < this.hw && this.map[off + k] === 0 && this.cache[off + k] === 0) k++;
        if (off + k >= this.hw) k = nr;
        if (k === nr) return off;
        // Skip past the busy slot, still aligned.
        off = Math.floor((off + k) / nr) * nr;
      }
      return -1;
    };
    let off = tryFrom(start, this.max);
    if (off < 0) off = tryFrom(0, Math.min(this.max, start + nr));
    if (off < 0) return -1;
    this.grow(off + nr);
    if (off + nr > this.hw) this.hw = off + nr;
    for (let k = 0; k < nr; k++) this.cache[off + k] = 1;
    this.inuse += nr;
    this.next = off + nr;
    return off;
  }

  /** A slot with neither count nor cache is free again (swap_entries_free). */
  maybeFree(off: number): boolean {
    if (this.map[off] !== 0 || this.cache[off] !== 0) return false;
    this.inuse--;
    if (this.fill[off]! < 0) this.data.delete(off);
    this.fill[off] = 0;
    this.zeromap[off] = 0;
    return true;
  }
}

/** The swap subsystem's state: the areas, the swap cache and the counters. */
export class SwapState {
  /** swap_info[]: by type; null where no area is active. */
  readonly info: (SwapInfo | null)[] = [];
  /** The swap cache: entry -> folio slot (one entry per page of the folio). */
  readonly cacheFolio = new Map<number, number>();
  /** folio->swap: folio slot -> its first entry. */
  readonly folioSwap = new Map<number, number>();
  /** Pages in the swap cache (NR_SWAPCACHE: meminfo SwapCached). */
  cachedPages = 0;
  /** pswpin / pswpout (/proc/vmstat). */
  pswpin = 0;
  pswpout = 0;
  /** swpin_zero / swpout_zero: pages the zeromap spared a read or a write. */
  swpinZero = 0;
  swpoutZero = 0;
  /** The mms that ever had a swap entry (init_mm.mmlist): swapoff walks them. */
  readonly mmlist = new Set<MmStruct>();
  /** /dev/zram0's size in pages (its disksize), 0 without the swap option: swapon may activate it again. */
  zramPages = 0;
  /** thp_swpout / thp_swpout_fallback (/proc/vmstat: PMD-size folios). */
  thpSwpout = 0;
  thpSwpoutFallback = 0;
  /** least_priority: the last priority given to an area swapped on without SWAP_FLAG_PREFER. */
  leastPriority = -1;
  /**
   * swap_active_head: the active areas by priority, highest first (equal
   * priorities in the order they were added).
   */
  readonly activeList: SwapInfo[] = [];
  /**
   * swap_avail_heads[node] (one node): where slots are looked for, by the
   * avail priority (a chosen priority p sorts as -p, every automatic one as 1),
   * requeued after its equals each time it is tried.
   */
  readonly avail: SwapInfo[] = [];

  /** The active areas, by type (the order /proc/swaps lists them). */
  active(): SwapInfo[] {
    return this.info.filter((s): s is SwapInfo => s !== null);
  }

  /** total_swap_pages. */
  totalPages(): number {
    let n = 0;
    for (const s of this.info) if (s !== null) n += s.pages;
    return n;
  }

  /** nr_swap_pages: slots free for allocation. */
  freePages(): number {
    let n = 0;
    for (const s of this.info) if (s !== null) n += s.pages - s.inuse;
    return n;
  }

  /** The area an entry names, or null (a stale or bad entry). */
  // mirrors mm/swapfile.c:swp_swap_info
  si(val: number): SwapInfo | null {
    return this.info[swpType(val)] ?? null;
  }

  /** The swap count of an entry (__swap_count). */
  // mirrors mm/swapfile.c:__swap_count
  count(val: number): number {
    return this.si(val)!.map[swpOffset(val)]!;
  }

  /** vm_swap_full: more than half of swap in use. */
  // mirrors include/linux/swap.h:vm_swap_full
  full(): boolean {
    return this.freePages() * 2 < this.totalPages();
  }
}

/** The lowest free swap type, or -1 when MAX_SWAPFILES areas are active (alloc_swap_info's EPERM). */
// mirrors mm/swapfile.c:alloc_swap_info (the type search)
export function freeSwapType(st: SwapState): number {
  let type = 0;
  while (type < st.info.length && st.info[type] !== null) type++;
  return type >= MAX_SWAPFILES ? -1 : type;
}

/** The plist key of an area on the avail list: lower comes first. */
function availKey(si: SwapInfo): number {
  return si.prio >= 0 ? -si.prio : 1;
}

/** Insert si after every element whose key is not greater (plist_add). */
function plistAdd(list: SwapInfo[], si: SwapInfo, key: (s: SwapInfo) => number): void {
  let i = 0;
  while (i < list.length && key(list[i]!) <= key(si)) i++;
  list.splice(i, 0, si);
}

/**
 * Make si (its type free in swap_info) active with priority prio (-1: the
 * next automatic one, counting down from -2): on the active and avail lists,
 * its pages counted in total_swap_pages.
 */
// mirrors mm/swapfile.c:enable_swap_info (setup_swap_info, _enable_swap_info)
export function enableSwapInfo(st: SwapState, si: SwapInfo, prio: number): void {
  si.prio = prio >= 0 ? prio : --st.leastPriority;
  st.info[si.type] = si;
  plistAdd(st.activeList, si, (s) => -s.prio);
  plistAdd(st.avail, si, availKey);
}

/**
 * Take si off the active and avail lists before its pages are brought back:
 * an area with an automatic priority lifts every automatic area below it by
 * one, and least_priority with them.
 */
// mirrors mm/swapfile.c:SYSCALL_DEFINE1(swapoff) (del_from_avail_list, the priority fix-up, plist_del)
export function delSwapInfo(st: SwapState, si: SwapInfo): void {
  const i = st.activeList.indexOf(si);
  if (si.prio < 0) {
    for (const lower of st.activeList.slice(i + 1)) lower.prio++;
    st.leastPriority++;
  }
  st.activeList.splice(i, 1);
  st.avail.splice(st.avail.indexOf(si), 1);
}

/** Put si back after a failed swapoff (a negative priority is taken anew, as setup_swap_info does). */
// mirrors mm/swapfile.c:reinsert_swap_info
export function reinsertSwapInfo(st: SwapState, si: SwapInfo): void {
  enableSwapInfo(st, si, si.prio);
}

/**
 * Activate a zram-like swap area of sizePages pages (header included) at the
 * lowest free type, with an automatic priority. Returns the type, or -1 when
 * MAX_SWAPFILES are active.
 */
// mirrors mm/swapfile.c:sys_swapon (alloc_swap_info, setup_swap_map_and_extents, enable_swap_info; the boot-time zram of the selftest runs)
export function swapOnZram(host: { swap: SwapState }, path: string, sizePages: number, prio = -1): number {
  const st = host.swap;
  const type = freeSwapType(st);
  if (type < 0) return -1;
  enableSwapInfo(st, new SwapInfo(type, path, sizePages, SWP.BLKDEV | SWP.SOLIDSTATE | SWP.SYNCHRONOUS_IO), prio);
  return type;
}

/**
 * Swap slots for folio f: the areas on the avail list in order, each
 * requeued behind its equals as it is tried; a large folio (one naturally
 * aligned run) tries only the first, and an area that is not a clustered
 * block device (a swap file) has no run to give. Returns the first entry, or -1.
 */
// mirrors mm/swapfile.c:folio_alloc_swap (get_swap_pages, scan_swap_map_slots' order > 0 check)
export function folioAllocSwap(st: SwapState, ft: FolioTable, f: number): number {
  const nr = folioNrPages(ft, f);
  if (nr > SWAPFILE_CLUSTER) return -1;
  for (const si of [...st.avail]) {
    // A full area is off the avail list in Linux.
    if (si.inuse >= si.pages) continue;
    // plist_requeue: behind the areas of the same key.
    const i = st.avail.indexOf(si);
    st.avail.splice(i, 1);
    plistAdd(st.avail, si, availKey);
    const large = nr > 1;
    const off = large && (si.flags & (SWP.BLKDEV | SWP.SOLIDSTATE)) !== (SWP.BLKDEV | SWP.SOLIDSTATE) ? -1 : si.alloc(nr);
    if (off >= 0) return swpEntry(si.type, off);
    if (large) return -1;
  }
  return -1;
}

/** Put f in the swap cache at entry val (its slots are already SWAP_HAS_CACHE): one reference per page. */
// mirrors mm/swap_state.c:add_to_swap_cache
export function addToSwapCache(st: SwapState, ft: FolioTable, f: number, val: number): void {
  const nr = folioNrPages(ft, f);
  for (let k = 0; k < nr; k++) st.cacheFolio.set(val + k, f);
  st.folioSwap.set(f, val);
  ft.flags[f]! |= PG.SWAPCACHE | PG.SWAPBACKED;
  ft.refcount[f] = ft.refcount[f]! + nr;
  st.cachedPages += nr;
}

/**
 * Take f out of the swap cache: its slots lose SWAP_HAS_CACHE (freed where
 * no swap PTE names them). Returns the references the caller must put.
 */
// mirrors mm/swap_state.c:delete_from_swap_cache (__delete_from_swap_cache + put_swap_folio)
export function deleteFromSwapCache(st: SwapState, ft: FolioTable, f: number): number {
  const val = st.folioSwap.get(f)!;
  const nr = folioNrPages(ft, f);
  const si = st.si(val)!;
  const off = swpOffset(val);
  for (let k = 0; k < nr; k++) {
    st.cacheFolio.delete(val + k);
    si.cache[off + k] = 0;
    si.maybeFree(off + k);
  }
  st.folioSwap.delete(f);
  ft.flags[f]! &= ~PG.SWAPCACHE;
  st.cachedPages -= nr;
  return nr;
}

/** Is any slot of swap-cache folio f still named by a swap PTE (folio_swapcount > 0)? */
// mirrors mm/swapfile.c:folio_swapped
export function folioSwapped(st: SwapState, ft: FolioTable, f: number): boolean {
  const val = st.folioSwap.get(f)!;
  const si = st.si(val)!;
  const off = swpOffset(val);
  for (let k = 0; k < folioNrPages(ft, f); k++) if (si.map[off + k]! > 0) return true;
  return false;
}

/** A swap PTE was copied (fork): one more count. */
// mirrors mm/swapfile.c:swap_duplicate (__swap_duplicate without continuation pages)
export function swapDuplicate(st: SwapState, val: number): void {
  const si = st.si(val)!;
  si.map[swpOffset(val)]!++;
}

/** nr swap PTEs from val went away; slots left with no count and no cache are freed. */
// mirrors mm/swapfile.c:swap_free_nr
export function swapFreeNr(st: SwapState, val: number, nr: number): void {
  const si = st.si(val)!;
  const off = swpOffset(val);
  for (let k = 0; k < nr; k++) {
    si.map[off + k]!--;
    si.maybeFree(off + k);
  }
}

/**
 * Write folio f's pages to its slots. A folio all of whose bytes are zero is
 * not written: its slots are marked in the zeromap (swpout_zero). Returns
 * whether it went to the device (then pswpout counts it).
 */
// mirrors mm/page_io.c:swap_writepage (the zeromap, then __swap_writepage on a synchronous device)
export function swapWriteFolio(st: SwapState, ft: FolioTable, content: PageContent, f: number): boolean {
  const val = st.folioSwap.get(f)!;
  const si = st.si(val)!;
  const off = swpOffset(val);
  const nr = folioNrPages(ft, f);
  let zero = true;
  for (let k = 0; k < nr && zero; k++) zero = content.pageByte(f, k) === 0;
  if (zero) {
    for (let k = 0; k < nr; k++) si.zeromap[off + k] = 1;
    st.swpoutZero += nr;
    return false;
  }
  for (let k = 0; k < nr; k++) {
    si.zeromap[off + k] = 0;
    const b = content.pageByte(f, k);
    if (b >= 0) {
      if (si.fill[off + k]! < 0) si.data.delete(off + k);
      si.fill[off + k] = b;
    } else {
      const buf = new Uint8Array(PAGE_SIZE);
      content.read(f, k * PAGE_SIZE, buf, 0, PAGE_SIZE);
      si.data.set(off + k, buf);
      si.fill[off + k] = -1;
    }
  }
  st.pswpout += nr;
  return true;
}

/** Read nr slots from val into folio f (of nr pages), from its page `page` on. */
// mirrors mm/page_io.c:swap_read_folio (swap_read_folio_zeromap, then swap_read_folio_bdev_sync; pswpin counted per page)
export function swapReadFolio(st: SwapState, content: PageContent, f: number, nrPages: number, val: number): void {
  const si = st.si(val)!;
  const off = swpOffset(val);
  // swap_read_folio_zeromap: a zero page is not read (callers never mix zeromap and written slots).
  if (si.zeromap[off] === 1) {
    content.setUniform(f, 0);
    st.swpinZero += nrPages;
    return;
  }
  let uniform = si.fill[off]!;
  for (let k = 1; k < nrPages && uniform >= 0; k++) if (si.fill[off + k] !== uniform) uniform = -1;
  if (uniform >= 0) content.setUniform(f, uniform);
  else {
    for (let k = 0; k < nrPages; k++) {
      const b = si.fill[off + k]!;
      if (b >= 0) content.fill(f, nrPages, k * PAGE_SIZE, PAGE_SIZE, b);
      else content.write(f, nrPages, k * PAGE_SIZE, si.data.get(off + k)!, 0, PAGE_SIZE);
    }
  }
  st.pswpin += nrPages;
}

/**
 * Drop swap-cache folio f from the swap cache if no swap PTE names any of
 * its slots any more. Returns the references the caller must put (0: kept).
 */
// mirrors mm/swapfile.c:folio_free_swap
export function folioFreeSwap(st: SwapState, ft: FolioTable, f: number): number {
  if (!(ft.flags[f]! & PG.SWAPCACHE)) return 0;
  if (folioSwapped(st, ft, f)) return 0;
  return deleteFromSwapCache(st, ft, f);
}
