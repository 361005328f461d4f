/**
 * HugeTLB pages (mirrors mm/hugetlb.c): the hstates and their pools,
 * reservations, the fault path, copy-on-write, fork, zap, mprotect, demote
 * and dissolve.
 *
 * Pools. x86-64 has two hstates: 2 MiB (order 9) and 1 GiB (order 18,
 * gigantic: allocated from contiguous memory, never as surplus). Each keeps
 * Linux's counters: nr, free, resv, surplus, max (persistent) and
 * nr_overcommit, with resv <= free, persistent = nr - surplus, surplus <= nr.
 * Every pool page is one folio slot flagged HUGETLB; a free one sits on its
 * hstate's free list (a stack: Linux adds and takes at the list head) with
 * refcount 0 and HUGETLB_FREED, as Linux's frozen free hugetlb folios do.
 *
 * Reservations. A resv_map is a set of huge-page indices (an ExtentSet):
 * per inode for shared mappings (indices reserved, whether or not a page was
 * allocated since), per VMA for private ones (indices whose reservation was
 * consumed: the opposite sense, as in Linux). MAP_NORESERVE takes none. The
 * global count is resv_huge_pages; subpools (hugetlbfs size=/min_size=) keep
 * their own.
 *
 * Mappings. A HugeTLB folio is mapped by one PMD (2 MiB) or PUD (1 GiB) leaf;
 * its rmap counts only _entire_mapcount and _large_mapcount (no per-page
 * mapcount, no MM-ID tracking, no vmstat), and its pages count in
 * mm->hugetlb_usage, not in RSS.
 *
 * Simplifications, each noted where made: one NUMA node; pool pages come
 * from ZONE_NORMAL (Linux may place 2 MiB pool pages in ZONE_MOVABLE and
 * migrate them before a long-term pin); no PMD sharing
 * (CONFIG_HUGETLB_PMD_PAGE_TABLE_SHARING), no hugetlb cgroup or memcg
 * charging, no hwpoison, no page migration of HugeTLB folios, no mempolicy.
 */
import { pow2 } from '../lib/pow2.js';
import { IntMap } from '../lib/int_map.js';
import { ExtentSet } from '../lib/extent_set.js';
import { Ev } from '../cost/counters.js';
import type { ErrnoName } from '../uapi/errno.js';
import { PG, folioMapcount } from './folio.js';
import { FaultFlag, VmFault, type AddressSpace, type File } from './fs_types.js';
import type { Host } from './host.js';
import { printk, warn } from './debug.js';
import { type MmStruct, VM, type Vma, isCowMapping } from './mm_types.js';
import { MmuNotifyEvent, invalidateEnd, invalidateStart } from './mmu_notifier.js';
import { GFP_KERNEL } from './page_alloc.js';
import { Level, PAGE_SIZE, PUD_SIZE, tableIndex } from './page.js';
import { MKDIRTY, type PageTable, Pte, clearEntry, isPteMarker, pteMarkerUffdWp, pteNoneMostly, setEntry, tableAlloc, tableLookup } from './pgtable.js';
import { anonVmaPrepare, folioMoveAnonRmap, folioNeedsCowForDma } from './rmap.js';
import { flushTlbRange } from './tlb.js';
import { handleUserfault, userfaultfdMinor, userfaultfdMissing, userfaultfdWp } from './userfaultfd_k.js';
import { VMEMMAP_SYNCHRONIZE_RCU, hugetlbVmemmapOptimizeFolios, hugetlbVmemmapRestoreFolio } from './hugetlb_vmemmap.js';
import type { SplitHugePage } from './hugetlb_split.js';
import { hgmChangeProtection, hgmCopyRegion, hgmFault, hgmFaultAddress, hgmMoveRegion, hgmZapRegion } from './hugetlb_hgm.js';

const ENOMEM = -12;
const ENOSPC = -28;
const EBUSY = -16;
const EINVAL = -22;

/** struct hstate: one huge page size and its pool. */
export class Hstate {
  /** hugepages-<size>kB, the sysfs directory name. */
  readonly name: string;
  readonly size: number;
  readonly nrPages: number;
  /** nr_huge_pages: every pool page, free or in use, persistent or surplus. */
  nr = 0;
  /** free_huge_pages. */
  free = 0;
  /** resv_huge_pages: pages promised to reservations and not yet allocated. */
  resv = 0;
  /** surplus_huge_pages: pages beyond the persistent pool, freed when they go unused. */
  surplus = 0;
  /** max_huge_pages: the persistent pool size asked for (nr - surplus). */
  max = 0;
  /** nr_overcommit_huge_pages. */
  overcommit = 0;
  /** The order free pages demote to (0: none; 1 GiB demotes to 2 MiB by default). */
  demoteOrder = 0;
  /** hugepage_freelists[0]: free folio slots, the list head last. */
  readonly freeList: number[] = [];

  constructor(readonly order: number) {
    this.nrPages = pow2(order);
    this.size = this.nrPages * PAGE_SIZE;
    this.name = `hugepages-${this.size / 1024}kB`;
  }

  /** hstate_is_gigantic: larger than the buddy allocator's largest order. */
  get gigantic(): boolean {
    return this.order > 10;
  }

  /** persistent_huge_pages */
  get persistent(): number {
    return this.nr - this.surplus;
  }

  /** The page-table level whose leaf maps one page of this size. */
  get level(): Level {
    return this.size === PUD_SIZE ? Level.PUD : Level.PMD;
  }
}

/** struct hugepage_subpool: a hugetlbfs mount's size= / min_size= limits. -1 means no limit. */
export class Subpool {
  /** References: the super block and in-use pages keep it. */
  count = 1;
  usedHpages = 0;
  /** Global reservations the subpool holds for its minimum size (rsv_hpages). */
  rsvHpages: number;

  constructor(
    readonly hstate: Hstate,
    readonly maxHpages: number,
    readonly minHpages: number,
  ) {
    this.rsvHpages = minHpages;
  }
}

/** struct resv_map: reserved (shared) or consumed (private) huge-page indices. */
export class ResvMap {
  readonly regions = new ExtentSet();
  /** kref: VMAs sharing a private map after splits. */
  refs = 1;
}

/** What hugetlbfs keeps per inode and per mount, as mm reaches it (hstate_inode, inode_resv_map, subpool_inode). */
export interface HugetlbInodeInfo {
  readonly mapping: AddressSpace;
  readonly hstate: Hstate;
  readonly resvMap: ResvMap;
  readonly spool: Subpool | null;
}

/** vm_private_data of a private hugetlb VMA: its resv_map and the HPAGE_RESV_* flags. */
interface VmaPriv {
  resv: ResvMap | null;
  /** HPAGE_RESV_OWNER: the mapper, who owns the reservation. */
  owner: boolean;
  /** HPAGE_RESV_UNMAPPED: the owner took a page back from this VMA (faults there SIGBUS). */
  unmapped: boolean;
}

/** The hstates and pools of one kernel (the model's hstates[] and hugetlb globals). */
export class HugetlbState {
  readonly hstates: readonly Hstate[];
  /** default_hstate: what MAP_HUGETLB and memfd use without a size, and meminfo shows. */
  readonly defaultHstate: Hstate;
  /** vm.hugetlb_optimize_vmemmap (hugetlb_free_vmemmap=). */
  optimizeVmemmap: boolean;
  /** hugetlb_folio_subpool of in-use folios that have one. */
  readonly folioSubpool = new IntMap<Subpool>();
  /** hugetlbfs inodes, by their address_space. */
  readonly inodes = new WeakMap<AddressSpace, HugetlbInodeInfo>();
  /** Live subpools (hugetlbfs mounts with size= or min_size=). */
  readonly subpools = new Set<Subpool>();
  /** In-use pages split into smaller folios (hugetlb_split.ts), by head pfn. */
  readonly split = new IntMap<SplitHugePage>();
  /** Of those, the ones split lazily with pieces not made yet. */
  lazySplits = 0;

  constructor(
    readonly host: Host,
    optimizeVmemmap: boolean,
  ) {
    this.hstates = [new Hstate(9), new Hstate(18)];
    this.defaultHstate = this.hstates[0]!;
    this.optimizeVmemmap = optimizeVmemmap;
    // hugetlb_init_hstates: each hstate demotes to the next smaller one.
    for (const h of this.hstates) for (const h2 of this.hstates) if (h2.order < h.order && h2.order > h.demoteOrder) h.demoteOrder = h2.order;
  }

  /** The hstate of a HugeTLB folio (folio_hstate). */
  hstateOf(f: number): Hstate {
    return this.hstates[this.host.ft.order[f] === 9 ? 0 : 1]!;
  }

  /** size_to_hstate */
  bySize(size: number): Hstate | undefined {
    return this.hstates.find((h) => h.size === size);
  }

  /** The last reference to an in-use HugeTLB folio went. */
  freeHugeFolio(f: number): void {
    freeHugeFolio(this.host, f);
  }
}

/** Set up the hstates and boot-time pools (hugepagesz=/hugepages=). Returns pages allocated per size. */
// mirrors mm/hugetlb.c:hugetlb_init (hugetlb_hstate_alloc_pages, gather_bootmem_prealloc)
export function hugetlbInit(host: Host, pools: ReadonlyMap<number, number>, optimizeVmemmap: boolean): void {
  const s = new HugetlbState(host, optimizeVmemmap);
  host.hugetlb = s;
  // Gigantic pages first: Linux takes them from memblock before the buddy allocator starts.
  for (const h of [...s.hstates].reverse()) {
    const want = pools.get(h.size) ?? 0;
    if (want === 0) continue;
    const list: number[] = [];
    for (let i = 0; i < want; i++) {
      const f = allocFreshHugetlbFolio(host, h);
      if (f === 0) break;
      list.push(f);
    }
    // hugetlb_hstate_alloc_pages_errcheck: fewer than asked is a warning.
    if (list.length < want) printk(host, `HugeTLB: allocating ${want} of page size ${sizeString(h.size)} failed.  Only allocated ${list.length} hugepages.`);
    prepAndAddAllocatedFolios(host, h, list);
    h.max = h.nr;
  }
}

/** string_get_size(size, 1, STRING_UNITS_2): "2.00 MiB", "1.00 GiB". */
function sizeString(size: number): string {
  return size >= 2 ** 30 ? `${(size / 2 ** 30).toFixed(2)} GiB` : `${(size / 2 ** 20).toFixed(2)} MiB`;
}

// ---------------------------------------------------------------------------
// The pool: adding, taking and freeing pages.

// mirrors mm/hugetlb.c:enqueue_hugetlb_folio
function enqueueHugetlbFolio(host: Host, h: Hstate, f: number): void {
  const ft = host.ft;
  warn(host, ft.refcount[f] !== 0, 'enqueue_hugetlb_folio: folio with references', 'mm/hugetlb.c:enqueue_hugetlb_folio');
  h.freeList.push(f);
  h.free++;
  ft.flags[f]! |= PG.HUGETLB_FREED;
}

/** Take the first usable free page (the list head), refcount 1. 0 if none. */
// mirrors mm/hugetlb.c:dequeue_hugetlb_folio_node_exact
function dequeueHugetlbFolio(host: Host, h: Hstate): number {
  const ft = host.ft;
  for (let k = h.freeList.length - 1; k >= 0; k--) {
    const f = h.freeList[k]!;
    if (ft.flags[f]! & PG.HWPOISON) continue;
    h.freeList.splice(k, 1);
    ft.refcount[f] = 1;
    ft.flags[f]! &= ~PG.HUGETLB_FREED;
    h.free--;
    return f;
  }
  return 0;
}

/** available_huge_pages: free pages nobody has reserved. */
function availableHugePages(h: Hstate): number {
  return h.free - h.resv;
}

/**
 * A fresh pool page from the page allocator (contiguous memory for gigantic
 * pages, which may fail), with refcount 0 and HUGETLB set, not yet counted.
 * Simplification: GFP_KERNEL's zones (htlb_alloc_mask would allow ZONE_MOVABLE
 * for 2 MiB pages).
 */
// mirrors mm/hugetlb.c:alloc_fresh_hugetlb_folio (alloc_gigantic_folio / alloc_buddy_hugetlb_folio)
function allocFreshHugetlbFolio(host: Host, h: Hstate): number {
  const f = host.folioAlloc(h.order, GFP_KERNEL);
  if (f === 0) return 0;
  // init_new_hugetlb_folio, and the frozen refcount of a free hugetlb folio.
  host.ft.flags[f] = PG.HUGETLB;
  host.ft.refcount[f] = 0;
  return f;
}

/** Optimize the new pages' vmemmap (one grace period), then count and enqueue them. */
// mirrors mm/hugetlb.c:prep_and_add_allocated_folios
function prepAndAddAllocatedFolios(host: Host, h: Hstate, folios: readonly number[]): void {
  hugetlbVmemmapOptimizeFolios(host, folios, host.hugetlb.optimizeVmemmap);
  for (const f of folios) {
    h.nr++;
    enqueueHugetlbFolio(host, h, f);
  }
}

/** Take f out of the pool's counts (and its free list if free); the caller frees it. */
// mirrors mm/hugetlb.c:remove_hugetlb_folio
function removeHugetlbFolio(host: Host, h: Hstate, f: number, adjustSurplus: boolean): void {
  const ft = host.ft;
  if (ft.flags[f]! & PG.HUGETLB_FREED) {
    const k = h.freeList.lastIndexOf(f);
    if (k >= 0) h.freeList.splice(k, 1);
    ft.flags[f]! &= ~PG.HUGETLB_FREED;
    h.free--;
  }
  if (adjustSurplus) h.surplus--;
  // The HugeTLB flag goes only once the vmemmap is back.
  if (!(ft.flags[f]! & PG.VMEMMAP_OPTIMIZED)) ft.flags[f]! &= ~PG.HUGETLB;
  h.nr--;
}

/** Put a removed page back into the pool (its vmemmap could not be restored). */
// mirrors mm/hugetlb.c:add_hugetlb_folio
function addHugetlbFolio(host: Host, h: Hstate, f: number, adjustSurplus: boolean): void {
  h.nr++;
  if (adjustSurplus) h.surplus++;
  host.ft.flags[f]! |= PG.HUGETLB;
  enqueueHugetlbFolio(host, h, f);
}

/**
 * Give a removed pool page back to the page allocator, restoring its vmemmap
 * first; if that fails (ENOMEM) the page returns to the pool as surplus.
 */
// mirrors mm/hugetlb.c:__update_and_free_hugetlb_folio
function updateAndFreeHugetlbFolio(host: Host, h: Hstate, f: number): void {
  const ft = host.ft;
  if (ft.flags[f]! & PG.VMEMMAP_OPTIMIZED && hugetlbVmemmapRestoreFolio(host, f, VMEMMAP_SYNCHRONIZE_RCU) !== 0) {
    addHugetlbFolio(host, h, f, true);
    return;
  }
  ft.flags[f]! &= ~PG.HUGETLB;
  // folio_ref_unfreeze(folio, 1); hugetlb_free_folio.
  host.folioFree(f);
}

/**
 * Free removed pool pages: restore their vmemmap as one batch; on ENOMEM free
 * what could be restored (which gives memory back) and retry, or keep the
 * page that cannot be restored in the pool as surplus.
 */
// mirrors mm/hugetlb.c:update_and_free_pages_bulk (and bulk_vmemmap_restore_error)
function updateAndFreePagesBulk(host: Host, h: Hstate, list: number[]): void {
  const ft = host.ft;
  const free = (f: number): void => {
    ft.flags[f]! &= ~PG.HUGETLB;
    host.folioFree(f);
  };
  for (;;) {
    // hugetlb_vmemmap_restore_folios: in order, one grace period, up to the first failure.
    const nonHvo: number[] = [];
    let flags = VMEMMAP_SYNCHRONIZE_RCU;
    let failed = false;
    while (list.length > 0) {
      const f = list[0]!;
      if (ft.flags[f]! & PG.VMEMMAP_OPTIMIZED) {
        const r = hugetlbVmemmapRestoreFolio(host, f, flags);
        flags = 0;
        if (r !== 0) {
          failed = true;
          break;
        }
      }
      nonHvo.push(list.shift()!);
    }
    for (const f of nonHvo) free(f);
    if (!failed) return;
    if (nonHvo.length > 0) continue;
    // Nothing could be freed: pages that cannot be restored stay as surplus, until one restores.
    while (list.length > 0) {
      const f = list.shift()!;
      if (hugetlbVmemmapRestoreFolio(host, f, VMEMMAP_SYNCHRONIZE_RCU) !== 0) addHugetlbFolio(host, h, f, true);
      else {
        free(f);
        break;
      }
    }
  }
}

/**
 * An in-use page's last reference went: give its reservation and subpool
 * page back, and return it to the free list, or to the page allocator if the
 * pool has surplus pages.
 */
// mirrors mm/hugetlb.c:free_huge_folio
export function freeHugeFolio(host: Host, f: number): void {
  const s = host.hugetlb;
  const ft = host.ft;
  const h = s.hstateOf(f);
  warn(host, folioMapcount(ft, f) !== 0, 'free_huge_folio: folio still mapped', 'mm/hugetlb.c:free_huge_folio');
  const spool = s.folioSubpool.get(f) ?? null;
  s.folioSubpool.delete(f);
  let restoreReserve = (ft.flags[f]! & PG.HUGETLB_RESTORE_RESERVE) !== 0;
  // A folio back in the pool is a bare page: no mapping, no anon state.
  ft.flags[f]! &= PG.HUGETLB | PG.VMEMMAP_OPTIMIZED | PG.HWPOISON;
  ft.owner[f] = null;
  ft.index[f] = 0;
  ft.mapcount[f] = -1;
  ft.entire[f] = -1;
  ft.pincount[f] = 0;
  ft.pages.delete(f);
  host.content.drop(f);
  if (!restoreReserve && hugepageSubpoolPutPages(host, spool, 1) === 0) restoreReserve = true;
  if (restoreReserve) h.resv++;
  if (h.surplus > 0) {
    removeHugetlbFolio(host, h, f, true);
    updateAndFreeHugetlbFolio(host, h, f);
  } else enqueueHugetlbFolio(host, h, f);
}

/** A surplus page from the page allocator, within nr_overcommit_hugepages; never gigantic. */
// mirrors mm/hugetlb.c:alloc_surplus_hugetlb_folio
function allocSurplusHugetlbFolio(host: Host, h: Hstate): number {
  if (h.gigantic) return 0;
  if (h.surplus >= h.overcommit) return 0;
  const f = allocFreshHugetlbFolio(host, h);
  if (f === 0) return 0;
  hugetlbVmemmapOptimizeFolios(host, [f], host.hugetlb.optimizeVmemmap);
  h.nr++;
  h.surplus++;
  return f;
}

/**
 * Make room for delta more reservations: allocate surplus pages into the
 * pool as needed. 0, or -ENOMEM with nothing changed.
 */
// mirrors mm/hugetlb.c:gather_surplus_pages
function gatherSurplusPages(host: Host, h: Hstate, delta: number): number {
  let needed = h.resv + delta - h.free;
  if (needed <= 0) {
    h.resv += delta;
    return 0;
  }
  const got: number[] = [];
  for (let i = 0; i < needed; i++) {
    const f = allocSurplusHugetlbFolio(host, h);
    if (f === 0) break;
    got.push(f);
  }
  needed = h.resv + delta - (h.free + got.length);
  if (needed > 0) {
    // Not enough: give back what was allocated (free_huge_folio of each).
    for (const f of got) {
      h.nr--;
      h.surplus--;
      updateAndFreeHugetlbFolio(host, h, f);
    }
    return ENOMEM;
  }
  h.resv += delta;
  needed += got.length;
  for (const f of got) {
    if (--needed < 0) {
      h.nr--;
      h.surplus--;
      updateAndFreeHugetlbFolio(host, h, f);
    } else enqueueHugetlbFolio(host, h, f);
  }
  return 0;
}

/** Drop n reservations and free up to n unused surplus pages. */
// mirrors mm/hugetlb.c:return_unused_surplus_pages
function returnUnusedSurplusPages(host: Host, h: Hstate, n: number): void {
  h.resv -= n;
  let nr = Math.min(n, h.surplus);
  const list: number[] = [];
  while (nr-- > 0) {
    const f = removePoolHugetlbFolio(host, h, true);
    if (f === 0) break;
    list.push(f);
  }
  updateAndFreePagesBulk(host, h, list);
}

/** Take the head of the free list out of the pool (the caller frees it); 0 if empty. */
// mirrors mm/hugetlb.c:remove_pool_hugetlb_folio
function removePoolHugetlbFolio(host: Host, h: Hstate, accountSurplus: boolean): number {
  if (accountSurplus && h.surplus === 0) return 0;
  const f = h.freeList[h.freeList.length - 1];
  if (f === undefined) return 0;
  removeHugetlbFolio(host, h, f, accountSurplus);
  return f;
}

/** Change the global reservation count by delta; growing may allocate surplus pages. 0 or -ENOMEM. */
// mirrors mm/hugetlb.c:hugetlb_acct_memory
function hugetlbAcctMemory(host: Host, h: Hstate, delta: number): number {
  if (delta === 0) return 0;
  if (delta > 0) {
    if (gatherSurplusPages(host, h, delta) < 0) return ENOMEM;
    // allowed_mems_nr: one node, so all free pages.
    if (delta > h.free) {
      returnUnusedSurplusPages(host, h, delta);
      return ENOMEM;
    }
    return 0;
  }
  returnUnusedSurplusPages(host, h, -delta);
  return 0;
}

/** Move one page between persistent and surplus (delta -1: surplus -> persistent). 1 if done. */
// mirrors mm/hugetlb.c:adjust_pool_surplus
function adjustPoolSurplus(h: Hstate, delta: -1 | 1): number {
  if (delta < 0 ? h.surplus === 0 : h.surplus >= h.nr) return 0;
  h.surplus += delta;
  return 1;
}

/**
 * Resize the persistent pool to count pages: growing first promotes surplus
 * pages, then allocates (gigantic pages from contiguous memory: fewer than
 * asked if it runs out); shrinking frees free pages not needed by
 * reservations, then turns in-use excess into surplus.
 */
// mirrors mm/hugetlb.c:set_max_huge_pages
export function setMaxHugePages(host: Host, h: Hstate, count: number): void {
  while (h.surplus > 0 && count > h.persistent) if (!adjustPoolSurplus(h, -1)) break;
  const list: number[] = [];
  let failed = false;
  while (count > h.persistent + list.length) {
    const f = allocFreshHugetlbFolio(host, h);
    if (f === 0) {
      failed = true;
      break;
    }
    list.push(f);
  }
  prepAndAddAllocatedFolios(host, h, list);
  if (failed) {
    // The allocator ran out: the pool is what it got.
    h.max = h.persistent;
    return;
  }
  let minCount = h.resv + h.nr - h.free;
  minCount = Math.max(count, minCount);
  const freed: number[] = [];
  while (minCount < h.persistent) {
    const f = removePoolHugetlbFolio(host, h, false);
    if (f === 0) break;
    freed.push(f);
  }
  updateAndFreePagesBulk(host, h, freed);
  while (count < h.persistent) if (!adjustPoolSurplus(h, 1)) break;
  h.max = h.persistent;
}

/**
 * Dissolve one free pool page into buddy pages. 0 (also for a page that is
 * not HugeTLB), -EBUSY if it is in use or needed by reservations, -ENOMEM if
 * its vmemmap cannot be restored.
 */
// mirrors mm/hugetlb.c:dissolve_free_hugetlb_folio
export function dissolveFreeHugetlbFolio(host: Host, f: number): number {
  const ft = host.ft;
  if (!(ft.flags[f]! & PG.HUGETLB)) return 0;
  if (ft.refcount[f] !== 0) return EBUSY;
  const h = host.hugetlb.hstateOf(f);
  if (availableHugePages(h) === 0) return EBUSY;
  const adjustSurplus = h.surplus > 0;
  removeHugetlbFolio(host, h, f, adjustSurplus);
  if (!adjustSurplus) h.max--;
  if (ft.flags[f]! & PG.HUGETLB) {
    const rc = hugetlbVmemmapRestoreFolio(host, f, VMEMMAP_SYNCHRONIZE_RCU);
    if (rc !== 0) {
      addHugetlbFolio(host, h, f, adjustSurplus);
      if (!adjustSurplus) h.max++;
      return rc;
    }
  }
  updateAndFreeHugetlbFolio(host, h, f);
  return 0;
}

/**
 * Demote free pages of src into pages of its demote size: as many as asked,
 * fewer if free pages (less reservations) run out. Returns the number
 * demoted, -ENOMEM if a vmemmap restore failed first, or -EBUSY if no free
 * page could be taken (all hwpoisoned).
 */
// mirrors mm/hugetlb.c:demote_pool_huge_page (with demote_free_hugetlb_folios)
function demotePoolHugePage(host: Host, src: Hstate, nrToDemote: number): number {
  const ft = host.ft;
  const dst = host.hugetlb.hstates.find((x) => x.order === src.demoteOrder)!;
  const list: number[] = [];
  for (let k = src.freeList.length - 1; k >= 0 && list.length < nrToDemote; k--) {
    const f = src.freeList[k]!;
    if (ft.flags[f]! & PG.HWPOISON) continue;
    list.push(f);
  }
  for (const f of list) removeHugetlbFolio(host, src, f, false);
  let nrDemoted = list.length;
  // hugetlb_vmemmap_restore_folios: one grace period for the batch.
  let flags = VMEMMAP_SYNCHRONIZE_RCU;
  let rc = 0;
  const restored: number[] = [];
  for (const f of list) {
    if (rc === 0 && ft.flags[f]! & PG.VMEMMAP_OPTIMIZED) {
      rc = hugetlbVmemmapRestoreFolio(host, f, flags);
      flags = 0;
    }
    if (!(ft.flags[f]! & PG.VMEMMAP_OPTIMIZED)) restored.push(f);
  }
  const dstList: number[] = [];
  for (const f of restored) dstList.push(...splitPoolFolio(host, f, dst.order));
  prepAndAddAllocatedFolios(host, dst, dstList);
  // Pages still optimized go back to the source pool.
  for (const f of list) {
    if (restored.includes(f)) continue;
    addHugetlbFolio(host, src, f, false);
    nrDemoted--;
  }
  src.max -= nrDemoted;
  dst.max += nrDemoted * 2 ** (src.order - dst.order);
  if (rc < 0) return rc;
  return nrDemoted > 0 ? nrDemoted : EBUSY;
}

/**
 * Split a removed (refcount 0, vmemmap restored) pool page into pages of
 * newOrder: the head slot keeps the first part. Returns the new slots.
 */
// mirrors mm/hugetlb.c:demote_free_hugetlb_folios (prep_compound_page per piece, init_new_hugetlb_folio)
function splitPoolFolio(host: Host, f: number, newOrder: number): number[] {
  const ft = host.ft;
  const pfn = ft.pfn[f]!;
  const order = ft.order[f]!;
  const per = pow2(newOrder);
  const n = pow2(order - newOrder);
  host.memmap.delete(pfn, order);
  host.content.drop(f);
  const out: number[] = [];
  for (let k = 0; k < n; k++) {
    const g = k === 0 ? f : ft.alloc(pfn + k * per, newOrder);
    if (k === 0) ft.init(f, pfn, newOrder);
    ft.flags[g] = PG.HUGETLB;
    ft.refcount[g] = 0;
    host.memmap.set(pfn + k * per, newOrder, g);
    out.push(g);
  }
  return out;
}

// ---------------------------------------------------------------------------
// sysfs and sysctl (/sys/kernel/mm/hugepages/hugepages-NkB/..., /proc/sys/vm/...).

/** Write nr_hugepages (or nr_hugepages_mempolicy: one node, the same). 0 or a negative errno. */
// mirrors mm/hugetlb.c:__nr_hugepages_store_common
export function nrHugepagesStore(host: Host, h: Hstate, count: number): number {
  setMaxHugePages(host, h, count);
  return 0;
}

/** Write nr_overcommit_hugepages: gigantic pages are never surplus (EINVAL). */
// mirrors mm/hugetlb.c:nr_overcommit_hugepages_store
export function nrOvercommitHugepagesStore(h: Hstate, n: number): number {
  if (h.gigantic) return EINVAL;
  h.overcommit = n;
  return 0;
}

/**
 * Write demote: demote up to n free pages while any free page is
 * unreserved. As in Linux 6.12, a batch is not limited to the unreserved
 * pages (demote_pool_huge_page takes up to n from the free list), so
 * reserved pages can be demoted, leaving resv_hugepages above free_hugepages
 * and the mapping that reserved them to SIGBUS (real 6.12 answered; the
 * oracle reports hugetlb-pool-invariant). Asking for more than there is ends
 * with EBUSY once the free list is empty while reservations remain.
 */
// mirrors mm/hugetlb.c:demote_store
export function demoteStore(host: Host, h: Hstate, n: number): number {
  let left = n;
  while (left > 0) {
    // nr_available = free - resv, an unsigned long: zero only when they are equal.
    if (h.free === h.resv) break;
    const rc = demotePoolHugePage(host, h, left);
    if (rc < 0) return rc;
    left -= rc;
  }
  return 0;
}

/** Write demote_size: a smaller hstate's size (memparse: "2M", "2097152", "2048k"). */
// mirrors mm/hugetlb.c:demote_size_store
export function demoteSizeStore(host: Host, h: Hstate, size: number): number {
  const d = host.hugetlb.bySize(size);
  if (d === undefined || d.order < 9 || d.order >= h.order) return EINVAL;
  h.demoteOrder = d.order;
  return 0;
}

/** HugePages_* lines of /proc/meminfo (the default hstate) and Hugetlb: (all, in kB). */
// mirrors mm/hugetlb.c:hugetlb_report_meminfo
export function hugetlbReportMeminfo(host: Host): { total: number; free: number; rsvd: number; surp: number; size: number; hugetlbKb: number } {
  const s = host.hugetlb;
  let kb = 0;
  for (const h of s.hstates) kb += (h.nr * h.size) / 1024;
  const d = s.defaultHstate;
  return { total: d.nr, free: d.free, rsvd: d.resv, surp: d.surplus, size: d.size / 1024, hugetlbKb: kb };
}

// ---------------------------------------------------------------------------
// Subpools (hugetlbfs size= and min_size=).

/** A subpool for a mount; null with -ENOMEM if min_size cannot be reserved. */
// mirrors mm/hugetlb.c:hugepage_new_subpool
export function hugepageNewSubpool(host: Host, h: Hstate, maxHpages: number, minHpages: number): Subpool | null {
  const spool = new Subpool(h, maxHpages, minHpages);
  if (minHpages !== -1 && hugetlbAcctMemory(host, h, minHpages) !== 0) return null;
  host.hugetlb.subpools.add(spool);
  return spool;
}

/** Drop a subpool reference; an idle subpool gives its min_size reservations back. */
// mirrors mm/hugetlb.c:hugepage_put_subpool (unlock_or_release_subpool)
export function hugepagePutSubpool(host: Host, spool: Subpool): void {
  spool.count--;
  unlockOrReleaseSubpool(host, spool);
}

function subpoolIsFree(spool: Subpool): boolean {
  if (spool.count > 0) return false;
  if (spool.maxHpages !== -1) return spool.usedHpages === 0;
  if (spool.minHpages !== -1) return spool.rsvHpages === spool.minHpages;
  return true;
}

function unlockOrReleaseSubpool(host: Host, spool: Subpool): void {
  if (!subpoolIsFree(spool)) return;
  if (spool.minHpages !== -1) hugetlbAcctMemory(host, spool.hstate, -spool.minHpages);
  // kfree(spool): it holds no reservations any more.
  spool.rsvHpages = 0;
  host.hugetlb.subpools.delete(spool);
}

/**
 * Take delta pages from the subpool: -ENOMEM beyond its maximum, else how
 * many global reservations the caller must add (less than delta while the
 * subpool's minimum-size reservations cover it).
 */
// mirrors mm/hugetlb.c:hugepage_subpool_get_pages
function hugepageSubpoolGetPages(spool: Subpool | null, delta: number): number {
  let ret = delta;
  if (spool === null) return ret;
  if (spool.maxHpages !== -1) {
    if (spool.usedHpages + delta <= spool.maxHpages) spool.usedHpages += delta;
    else return ENOMEM;
  }
  if (spool.minHpages !== -1 && spool.rsvHpages > 0) {
    if (delta > spool.rsvHpages) {
      ret = delta - spool.rsvHpages;
      spool.rsvHpages = 0;
    } else {
      ret = 0;
      spool.rsvHpages -= delta;
    }
  }
  return ret;
}

/** Give delta pages back to the subpool; returns the global reservations to drop. */
// mirrors mm/hugetlb.c:hugepage_subpool_put_pages
function hugepageSubpoolPutPages(host: Host, spool: Subpool | null, delta: number): number {
  let ret = delta;
  if (spool === null) return delta;
  if (spool.maxHpages !== -1) spool.usedHpages -= delta;
  if (spool.minHpages !== -1 && spool.usedHpages < spool.minHpages) {
    ret = spool.rsvHpages + delta <= spool.minHpages ? 0 : spool.rsvHpages + delta - spool.minHpages;
    spool.rsvHpages = Math.min(spool.rsvHpages + delta, spool.minHpages);
  }
  unlockOrReleaseSubpool(host, spool);
  return ret;
}

// ---------------------------------------------------------------------------
// Reservation maps.

/** region_chg: indices of [f, t) not in the map. */
function regionChg(map: ResvMap, f: number, t: number): number {
  let have = 0;
  map.regions.forEach((s, e) => (have += e - s), f, t);
  return t - f - have;
}

/** region_add: add [f, t); returns the indices added. */
function regionAdd(map: ResvMap, f: number, t: number): number {
  const n = regionChg(map, f, t);
  if (n > 0) {
    // Add only the holes (the set's ranges must not overlap what is added).
    let at = f;
    const holes: [number, number][] = [];
    map.regions.forEach((s, e) => {
      if (s > at) holes.push([at, s]);
      at = e;
    }, f, t);
    if (at < t) holes.push([at, t]);
    for (const [s, e] of holes) map.regions.add(s, e);
  }
  return n;
}

/** region_del: remove [f, t); returns the indices removed. */
function regionDel(map: ResvMap, f: number, t: number): number {
  const parts: [number, number][] = [];
  map.regions.forEach((s, e) => parts.push([s, e]), f, t);
  let n = 0;
  for (const [s, e] of parts) {
    map.regions.remove(s, e);
    n += e - s;
  }
  return n;
}

/** region_count: indices of [f, t) in the map. */
export function regionCount(map: ResvMap, f: number, t: number): number {
  let n = 0;
  map.regions.forEach((s, e) => (n += e - s), f, t);
  return n;
}

/** The hugetlbfs inode info of a hugetlb VMA's file. */
function inodeInfo(host: Host, file: File): HugetlbInodeInfo {
  return host.hugetlb.inodes.get(file.inode.mapping)!;
}

/** hstate_vma */
export function hstateVma(host: Host, vma: Vma): Hstate {
  return inodeInfo(host, vma.file!).hstate;
}

/** Huge-page index of addr in the file (vma_hugecache_offset). */
// mirrors mm/hugetlb.c:vma_hugecache_offset
export function vmaHugecacheOffset(h: Hstate, vma: Vma, addr: number): number {
  return (addr - vma.start) / h.size + Math.floor(vma.pgoff / h.nrPages);
}

function vmaPriv(vma: Vma): VmaPriv | null {
  return vma.privateData as VmaPriv | null;
}

/** vma_resv_map: the inode's map for shared mappings, the VMA's own for private ones (null in a fork child). */
function vmaResvMap(host: Host, vma: Vma): ResvMap | null {
  if (vma.flags & VM.MAYSHARE) return inodeInfo(host, vma.file!).resvMap;
  return vmaPriv(vma)?.resv ?? null;
}

function isVmaResvOwner(vma: Vma): boolean {
  return vmaPriv(vma)?.owner === true;
}

const enum Resv {
  NEEDS,
  COMMIT,
  END,
  ADD,
  DEL,
}

/** 1 if the page at addr needs a new reservation, 0 if it has one. */
// mirrors mm/hugetlb.c:__vma_reservation_common
function vmaReservationCommon(host: Host, h: Hstate, vma: Vma, addr: number, mode: Resv): number {
  const resv = vmaResvMap(host, vma);
  if (resv === null) return 1;
  const idx = vmaHugecacheOffset(h, vma, addr);
  const shared = (vma.flags & VM.MAYSHARE) !== 0;
  let ret = 0;
  switch (mode) {
    case Resv.NEEDS:
      ret = regionChg(resv, idx, idx + 1);
      break;
    case Resv.COMMIT:
      ret = regionAdd(resv, idx, idx + 1);
      break;
    case Resv.END:
      ret = 0;
      break;
    case Resv.ADD:
      ret = shared ? regionAdd(resv, idx, idx + 1) : regionDel(resv, idx, idx + 1);
      break;
    case Resv.DEL:
      ret = shared ? regionDel(resv, idx, idx + 1) : regionAdd(resv, idx, idx + 1);
      break;
  }
  if (shared || mode === Resv.DEL) return ret;
  // A private map records consumed reservations: the answer is the opposite.
  return ret > 0 ? 0 : 1;
}

/** Does the allocation at this VMA use a reservation (chg from vma_needs_reservation)? */
// mirrors mm/hugetlb.c:vma_has_reserves
function vmaHasReserves(vma: Vma, chg: number): boolean {
  if (vma.flags & VM.NORESERVE) return (vma.flags & VM.MAYSHARE) !== 0 && chg === 0;
  if (vma.flags & VM.MAYSHARE) return chg === 0;
  if (isVmaResvOwner(vma)) return chg === 0;
  return false;
}

/**
 * Allocate a HugeTLB folio for addr in vma (refcount 1, not zeroed):
 * consuming the reservation if there is one, else from the unreserved free
 * pages or as a surplus page. Returns the slot, or -ENOMEM / -ENOSPC.
 */
// mirrors mm/hugetlb.c:alloc_hugetlb_folio
export function allocHugetlbFolio(host: Host, vma: Vma, addr: number, cowFromOwner: boolean): number {
  const s = host.hugetlb;
  const ft = host.ft;
  const info = inodeInfo(host, vma.file!);
  const h = info.hstate;
  const spool = info.spool;
  const mapChg = vmaReservationCommon(host, h, vma, addr, Resv.NEEDS);
  let gblChg = mapChg;
  if (mapChg || cowFromOwner) {
    gblChg = hugepageSubpoolGetPages(spool, 1);
    if (gblChg < 0) return ENOSPC;
  }
  // dequeue_hugetlb_folio_vma: without a reservation, only unreserved pages.
  let f = 0;
  if (vmaHasReserves(vma, gblChg) || availableHugePages(h) > 0) {
    f = dequeueHugetlbFolio(host, h);
    if (f !== 0 && vmaHasReserves(vma, gblChg)) {
      ft.flags[f]! |= PG.HUGETLB_RESTORE_RESERVE;
      h.resv--;
    }
  }
  if (f === 0) {
    // alloc_buddy_hugetlb_folio_with_mpol: a surplus page.
    f = allocSurplusHugetlbFolio(host, h);
    if (f === 0) {
      if (mapChg || cowFromOwner) hugepageSubpoolPutPages(host, spool, 1);
      return ENOSPC;
    }
    if (!cowFromOwner && vmaHasReserves(vma, gblChg)) {
      ft.flags[f]! |= PG.HUGETLB_RESTORE_RESERVE;
      h.resv--;
    }
    ft.refcount[f] = 1;
  }
  if (spool !== null) s.folioSubpool.set(f, spool);
  vmaReservationCommon(host, h, vma, addr, Resv.COMMIT);
  return f;
}

/**
 * Reserve huge pages [from, to) of the file for a new mapping (or none with
 * VM_NORESERVE): against the subpool, then the pool (allocating surplus pages
 * if allowed). false means ENOMEM.
 */
// mirrors mm/hugetlb.c:hugetlb_reserve_pages
export function hugetlbReservePages(host: Host, info: HugetlbInodeInfo, from: number, to: number, vma: Vma | null, vmFlags: number): boolean {
  if (vmFlags & VM.NORESERVE) return true;
  const h = info.hstate;
  let chg: number;
  let map: ResvMap;
  const shared = vma === null || (vma.flags & VM.MAYSHARE) !== 0;
  if (shared) {
    map = info.resvMap;
    chg = regionChg(map, from, to);
  } else {
    map = new ResvMap();
    chg = to - from;
    vma.privateData = { resv: map, owner: true, unmapped: false } satisfies VmaPriv;
  }
  const gblReserve = hugepageSubpoolGetPages(info.spool, chg);
  if (gblReserve >= 0) {
    if (hugetlbAcctMemory(host, h, gblReserve) === 0) {
      if (shared) regionAdd(map, from, to);
      return true;
    }
    hugepageSubpoolPutPages(host, info.spool, chg);
  }
  if (vma !== null && !shared) vma.privateData = null;
  return false;
}

/** Drop the reservations of huge pages [start, end) of a file; freed pages were allocated ones. */
// mirrors mm/hugetlb.c:hugetlb_unreserve_pages
export function hugetlbUnreservePages(host: Host, info: HugetlbInodeInfo, start: number, end: number, freed: number): void {
  const chg = regionDel(info.resvMap, start, end);
  info.mapping.host.blocks -= (info.hstate.size / 512) * freed;
  const gblReserve = hugepageSubpoolPutPages(host, info.spool, chg - freed);
  hugetlbAcctMemory(host, info.hstate, -gblReserve);
}

/** A split or copied VMA shares its source's private reservation map. */
// mirrors mm/hugetlb.c:hugetlb_vm_op_open
export function hugetlbVmOpOpen(vma: Vma, from: Vma): void {
  const p = vmaPriv(from);
  if (vma.flags & VM.MAYSHARE || p === null) {
    vma.privateData = null;
    return;
  }
  vma.privateData = { resv: p.resv, owner: p.owner, unmapped: p.unmapped } satisfies VmaPriv;
  if (p.resv !== null && p.owner) p.resv.refs++;
}

/** The owner's VMA goes: return the reservations it never used. */
// mirrors mm/hugetlb.c:hugetlb_vm_op_close
export function hugetlbVmOpClose(host: Host, vma: Vma): void {
  const p = vmaPriv(vma);
  if (vma.flags & VM.MAYSHARE || p === null || p.resv === null || !p.owner) return;
  const info = inodeInfo(host, vma.file!);
  const h = info.hstate;
  const start = vmaHugecacheOffset(h, vma, vma.start);
  const end = vmaHugecacheOffset(h, vma, vma.end);
  const reserve = end - start - regionCount(p.resv, start, end);
  if (reserve > 0) {
    const gbl = hugepageSubpoolPutPages(host, info.spool, reserve);
    hugetlbAcctMemory(host, h, -gbl);
  }
  p.resv.refs--;
  vma.privateData = null;
}

/** The reservations a private VMA still holds (the oracle's recount). */
export function hugetlbVmaUnusedReserves(host: Host, vma: Vma): number {
  const p = vmaPriv(vma);
  if (vma.flags & VM.MAYSHARE || p === null || p.resv === null || !p.owner) return 0;
  const h = hstateVma(host, vma);
  const start = vmaHugecacheOffset(h, vma, vma.start);
  const end = vmaHugecacheOffset(h, vma, vma.end);
  return end - start - regionCount(p.resv, start, end);
}

// ---------------------------------------------------------------------------
// Page tables, rmap and the page cache for HugeTLB folios.

/** The table holding the hstate-level entry for addr, allocating the upper tables (huge_pte_alloc). null: OOM. */
// mirrors mm/hugetlb.c:huge_pte_alloc (no PMD sharing)
function hugePteAlloc(host: Host, mm: MmStruct, h: Hstate, addr: number): PageTable | null {
  return tableAlloc(host, mm, mm.pgd, addr, h.level);
}

/** The table holding the hstate-level entry for addr if it exists (hugetlb_walk). */
// mirrors mm/hugetlb.c:huge_pte_offset
function hugetlbWalk(mm: MmStruct, h: Hstate, addr: number): PageTable | null {
  return tableLookup(mm.pgd, addr, h.level);
}

/** The entry bits of a HugeTLB leaf (make_huge_pte): young, huge, and writable + dirty if asked. */
// mirrors mm/hugetlb.c:make_huge_pte
function makeHugePte(vma: Vma, writable: boolean): number {
  const fl = vma.pageProt | Pte.PSE | Pte.ACCESSED;
  return writable ? fl | Pte.RW | MKDIRTY : fl & ~Pte.RW;
}

// mirrors include/linux/rmap.h:hugetlb_add_file_rmap
function hugetlbAddFileRmap(host: Host, f: number): void {
  host.ft.entire[f] = host.ft.entire[f]! + 1;
  host.ft.mapcount[f] = host.ft.mapcount[f]! + 1;
  host.ev[Ev.ATOMIC_MAPCOUNT]++;
}

// mirrors include/linux/rmap.h:hugetlb_remove_rmap
function hugetlbRemoveRmap(host: Host, f: number): void {
  host.ft.entire[f] = host.ft.entire[f]! - 1;
  host.ft.mapcount[f] = host.ft.mapcount[f]! - 1;
  host.ev[Ev.ATOMIC_MAPCOUNT]++;
}

// mirrors mm/rmap.c:hugetlb_add_new_anon_rmap
function hugetlbAddNewAnonRmap(host: Host, f: number, vma: Vma, address: number): void {
  const ft = host.ft;
  ft.entire[f] = 0;
  ft.mapcount[f] = 0;
  ft.flags[f]! &= ~PG.HUGETLB_RESTORE_RESERVE;
  // __folio_set_anon(folio, vma, address, true)
  ft.owner[f] = vma.anonVma;
  ft.flags[f]! |= PG.ANON | PG.ANON_EXCLUSIVE;
  ft.index[f] = (address - vma.start) / PAGE_SIZE + vma.pgoff;
  host.ev[Ev.ATOMIC_MAPCOUNT]++;
}

/** May fork share this anon folio with the child? false (-EBUSY): it may be pinned, copy it. */
// mirrors include/linux/rmap.h:hugetlb_try_dup_anon_rmap
function hugetlbTryDupAnonRmap(host: Host, f: number, src: Vma, addr: number): boolean {
  const ft = host.ft;
  if (ft.flags[f]! & PG.ANON_EXCLUSIVE) {
    if (folioNeedsCowForDma(host, src, f, 0, pow2(ft.order[f]!), addr)) return false;
    ft.flags[f]! &= ~PG.ANON_EXCLUSIVE;
  }
  hugetlbAddFileRmap(host, f);
  return true;
}

/** mm->hugetlb_usage */
function hugetlbCountAdd(mm: MmStruct, n: number): void {
  mm.hugetlbUsage += n;
}

/** The page-cache folio for huge-page index idx, or 0. */
function hugetlbPagecacheFolio(mapping: AddressSpace, h: Hstate, idx: number): number {
  const f = mapping.pages.get(idx * h.nrPages);
  return f < 0 ? 0 : f;
}

/**
 * Add a new folio to the file at huge-page index idx: the cache's references,
 * dirty, i_blocks. HugeTLB folios are not counted in NR_FILE_PAGES.
 */
// mirrors mm/hugetlb.c:hugetlb_add_to_page_cache
export function hugetlbAddToPageCache(host: Host, f: number, mapping: AddressSpace, idx: number): void {
  const ft = host.ft;
  const h = host.hugetlb.hstateOf(f);
  const index = idx * h.nrPages;
  host.folioGet(f, h.nrPages);
  ft.owner[f] = mapping;
  ft.index[f] = index;
  mapping.pages.set(index, ft.order[f]!, f);
  mapping.nrpages += h.nrPages;
  ft.flags[f]! &= ~PG.HUGETLB_RESTORE_RESERVE;
  ft.flags[f]! |= PG.DIRTY;
  mapping.host.blocks += h.size / 512;
}

/** Remove a HugeTLB folio from its file (the cache's references go; the folio may be freed). */
// mirrors fs/hugetlbfs/inode.c:hugetlb_delete_from_page_cache
export function hugetlbDeleteFromPageCache(host: Host, f: number): void {
  const ft = host.ft;
  const mapping = ft.owner[f] as AddressSpace;
  const nr = pow2(ft.order[f]!);
  ft.flags[f]! &= ~(PG.DIRTY | PG.UPTODATE);
  mapping.pages.delete(ft.index[f]!, ft.order[f]!);
  mapping.nrpages -= nr;
  ft.owner[f] = null;
  host.folioPut(f, nr);
}

// ---------------------------------------------------------------------------
// Faults.

/** vmf_error: -ENOMEM is OOM, anything else SIGBUS. */
function vmfError(err: number): number {
  return err === ENOMEM ? VmFault.OOM : VmFault.SIGBUS;
}

/** A fault in a HugeTLB VMA. Returns VM_FAULT bits. */
// mirrors mm/hugetlb.c:hugetlb_fault
export function hugetlbFault(host: Host, vma: Vma, realAddress: number, flags: number): number {
  const h = hstateVma(host, vma);
  const address = Math.floor(realAddress / h.size) * h.size;
  const mm = vma.mm;
  const t = hugePteAlloc(host, mm, h, address);
  if (t === null) return VmFault.OOM;
  const i = tableIndex(address, h.level);
  let fl = t.fl[i]!;
  // A marker is a none entry that remembers something (huge_pte_none_mostly); poison first.
  if (isPteMarker(fl)) {
    if (fl & Pte.MARKER_POISONED) return VmFault.HWPOISON_LARGE;
    return hugetlbNoPage(host, vma, h, t, i, address, flags, fl, realAddress);
  }
  if (fl !== 0 && !(fl & Pte.PSE)) {
    // A table where a HugeTLB leaf belongs: high-granularity pieces (HGM), or a bug.
    if (vma.flags & VM.HUGETLB_HGM) return hgmFault(host, vma, h, realAddress, flags, (idx) => hugetlbNewFilePage(host, vma, idx, address));
    warn(host, true, 'hugetlb_fault: page table below a huge page entry', 'mm/hugetlb.c:hugetlb_fault');
    return VmFault.SIGBUS;
  }
  if (fl === 0) return hugetlbNoPage(host, vma, h, t, i, address, flags, 0, realAddress);
  // userfaultfd write protection comes first: a write to a uffd-wp page goes to the monitor.
  if (userfaultfdWp(vma) && fl & Pte.UFFD_WP && flags & FaultFlag.WRITE && !(fl & Pte.RW)) return handleUserfault(vma, hgmFaultAddress(vma, address, realAddress), realAddress, flags, VM.UFFD_WP);
  if (fl & Pte.UFFD_WP && !userfaultfdWp(vma) && flags & (FaultFlag.WRITE | FaultFlag.UNSHARE) && !(fl & Pte.RW)) {
    // A uffd-wp bit the VMA no longer asks for (registered again without WP).
    // Linux 6.12's hugetlb_wp refuses to COW a uffd-wp page and the write
    // faults for ever; the model drops the stale bit, as small pages ignore it.
    fl &= ~Pte.UFFD_WP;
    setEntry(host, t, i, t.pfn[i]!, fl);
  }
  if (flags & (FaultFlag.WRITE | FaultFlag.UNSHARE) && !(fl & Pte.RW)) {
    const f = host.pfnFolio(t.pfn[i]!);
    host.folioGet(f);
    const ret = hugetlbWp(host, vma, h, t, i, address, (flags & FaultFlag.UNSHARE) !== 0);
    host.folioPut(f);
    return ret;
  }
  // huge_ptep_set_access_flags: young, and dirty for a write.
  setEntry(host, t, i, t.pfn[i]!, fl | Pte.ACCESSED | (flags & FaultFlag.WRITE ? MKDIRTY : 0));
  return VmFault.OK;
}

/**
 * No entry: map the file's page (shared, or a private read), or a new zeroed
 * page (private, or shared when the file has none yet, added to its page
 * cache). SIGBUS beyond i_size, when no page can be had, or in a VMA whose
 * page the reservation owner took back.
 */
// mirrors mm/hugetlb.c:hugetlb_no_page
function hugetlbNoPage(host: Host, vma: Vma, h: Hstate, t: PageTable, i: number, address: number, flags: number, orig: number, realAddress: number): number {
  const ft = host.ft;
  const mapping = vma.mapping!;
  if (vmaPriv(vma)?.unmapped) {
    printk(host, 'PID killed due to inadequate hugepage pool');
    return VmFault.SIGBUS;
  }
  const idx = vmaHugecacheOffset(h, vma, address);
  let f = hugetlbPagecacheFolio(mapping, h, idx);
  let anonRmap = false;
  if (f === 0) {
    // i_size in huge pages.
    if (idx >= Number(mapping.host.size / BigInt(h.size))) return VmFault.SIGBUS;
    // A page missing from a MISSING-registered range (hugetlb_handle_userfault): the huge page's address (HGM: the 4 KiB page's).
    if (userfaultfdMissing(vma)) return handleUserfault(vma, hgmFaultAddress(vma, address, realAddress), realAddress, flags, VM.UFFD_MISSING);
    if (!(vma.flags & VM.MAYSHARE)) anonVmaPrepare(host, vma);
    f = allocHugetlbFolio(host, vma, address, false);
    if (f < 0) return vmfError(f);
    host.zeroFolio(f);
    ft.flags[f]! |= PG.UPTODATE;
    if (vma.flags & VM.MAYSHARE) hugetlbAddToPageCache(host, f, mapping, idx);
    else anonRmap = true;
  } else {
    // A page the file already has, in a MINOR-registered range.
    if (userfaultfdMinor(vma)) return handleUserfault(vma, hgmFaultAddress(vma, address, realAddress), realAddress, flags, VM.UFFD_MINOR);
    if (ft.flags[f]! & PG.HWPOISON) return VmFault.HWPOISON_LARGE;
    // filemap_lock_hugetlb_folio's reference becomes the mapping's.
    host.folioGet(f);
  }
  if (anonRmap) hugetlbAddNewAnonRmap(host, f, vma, address);
  else hugetlbAddFileRmap(host, f);
  let nfl = makeHugePte(vma, (vma.flags & VM.WRITE) !== 0 && (vma.flags & VM.SHARED) !== 0);
  // A page that was write-protected before it went stays so (huge_pte_mkuffd_wp also write-protects).
  if (pteMarkerUffdWp(orig)) nfl = (nfl | Pte.UFFD_WP) & ~Pte.RW;
  setEntry(host, t, i, ft.pfn[f]!, nfl);
  hugetlbCountAdd(vma.mm, h.nrPages);
  if (flags & FaultFlag.WRITE && !(vma.flags & VM.SHARED)) return hugetlbWp(host, vma, h, t, i, address, false);
  return VmFault.OK;
}

/**
 * A new zeroed page for a shared file at huge-page index idx, added to its
 * page cache (hugetlb_no_page's allocation, for HGM faults below a table
 * whose page was truncated). Returns the folio with the allocation's
 * reference, or negated VM_FAULT bits.
 */
// mirrors mm/hugetlb.c:hugetlb_no_page (the allocation for a shared mapping)
function hugetlbNewFilePage(host: Host, vma: Vma, idx: number, address: number): number {
  const f = allocHugetlbFolio(host, vma, address, false);
  if (f < 0) return -vmfError(f);
  host.zeroFolio(f);
  host.ft.flags[f]! |= PG.UPTODATE;
  hugetlbAddToPageCache(host, f, vma.mapping!, idx);
  return f;
}

/**
 * A write (or unshare) fault on a read-only entry: shared mappings become
 * writable; a private page mapped once is reused (by mapcount, not refcount:
 * FOLL_GET references do not stop it); otherwise the whole huge page is
 * copied. If the reservation owner cannot get a page, it takes the page back
 * from the children that share it (they SIGBUS on their next fault there).
 */
// mirrors mm/hugetlb.c:hugetlb_wp
function hugetlbWp(host: Host, vma: Vma, h: Hstate, t: PageTable, i: number, address: number, unshare: boolean): number {
  const ft = host.ft;
  const fl = t.fl[i]!;
  if (!unshare && fl & Pte.UFFD_WP) return VmFault.OK;
  if (!unshare && !(vma.flags & VM.WRITE)) {
    warn(host, true, 'hugetlb_wp: write fault in a VMA without VM_WRITE', 'mm/hugetlb.c:hugetlb_wp');
    return VmFault.SIGSEGV;
  }
  if (vma.flags & VM.MAYSHARE) {
    setEntry(host, t, i, t.pfn[i]!, fl | Pte.RW | MKDIRTY | Pte.ACCESSED);
    return VmFault.OK;
  }
  const old = host.pfnFolio(t.pfn[i]!);
  for (let attempt = 0; ; attempt++) {
    if (folioMapcount(ft, old) === 1 && ft.flags[old]! & PG.ANON) {
      if (!(ft.flags[old]! & PG.ANON_EXCLUSIVE)) {
        folioMoveAnonRmap(host, old, vma);
        ft.flags[old]! |= PG.ANON_EXCLUSIVE;
      }
      if (!unshare) setEntry(host, t, i, t.pfn[i]!, t.fl[i]! | Pte.RW | MKDIRTY | Pte.ACCESSED);
      host.ev[Ev.COW_REUSE]++;
      return VmFault.OK;
    }
    const cowFromOwner = isVmaResvOwner(vma) && (ft.flags[old]! & PG.ANON) !== 0;
    host.folioGet(old);
    const nf = allocHugetlbFolio(host, vma, address, cowFromOwner);
    if (nf < 0) {
      host.folioPut(old);
      if (cowFromOwner && attempt === 0) {
        unmapRefPrivate(host, vma, h, old, address);
        // The entry is unchanged: try again, now that the children let go.
        if (t.fl[i] !== 0 && host.pfnFolio(t.pfn[i]!) === old) continue;
        return VmFault.OK;
      }
      return vmfError(nf);
    }
    anonVmaPrepare(host, vma);
    host.content.copyFolio(nf, old);
    host.ev[Ev.COPY_BYTES] += h.size;
    ft.flags[nf]! |= PG.UPTODATE;
    const range = invalidateStart(host, vma.mm, MmuNotifyEvent.CLEAR, address, address + h.size);
    const uffd = t.fl[i]! & Pte.UFFD_WP;
    clearEntry(host, t, i);
    flushTlbRange(host, vma.mm);
    hugetlbRemoveRmap(host, old);
    hugetlbAddNewAnonRmap(host, nf, vma, address);
    setEntry(host, t, i, ft.pfn[nf]!, makeHugePte(vma, !unshare) | uffd);
    invalidateEnd(range);
    host.ev[Ev.COW_COPY]++;
    host.folioPut(old); // the old entry's reference
    host.folioPut(old); // ours
    return VmFault.OK;
  }
}

/**
 * The reservation owner could not COW: unmap the page from every other private
 * VMA of the file that has no reservation of its own (the fork children),
 * marking them so their next fault there gets SIGBUS.
 */
// mirrors mm/hugetlb.c:unmap_ref_private
function unmapRefPrivate(host: Host, vma: Vma, h: Hstate, f: number, address: number): void {
  const pgoff = (address - vma.start) / PAGE_SIZE + vma.pgoff;
  for (const iter of [...vma.mapping!.iMmap]) {
    if (iter === vma || iter.flags & VM.MAYSHARE || isVmaResvOwner(iter)) continue;
    const first = iter.pgoff;
    const last = iter.pgoff + (iter.end - iter.start) / PAGE_SIZE - 1;
    if (pgoff < first || pgoff > last) continue;
    const a = iter.start + (pgoff - first) * PAGE_SIZE;
    unmapHugepageRange(host, iter, a, a + h.size, f, false);
  }
}

// ---------------------------------------------------------------------------
// Zap, fork, mprotect.

/**
 * Unmap [start, end) (huge-page aligned) of a HugeTLB VMA, private COW pages
 * included; refFolio: only that folio, marking the VMA HPAGE_RESV_UNMAPPED.
 * The private owner gets the reservation of a page it was the last to map
 * back (HUGETLB_RESTORE_RESERVE, when the pool has no surplus). A zapped
 * entry that was userfaultfd-write-protected leaves a uffd-wp marker unless
 * dropMarkers (ZAP_FLAG_DROP_MARKER: munmap, exit, truncation); other
 * markers go. Returns the entries cleared; the caller flushes the TLB.
 */
// mirrors mm/hugetlb.c:__unmap_hugepage_range
export function unmapHugepageRangeLocked(host: Host, vma: Vma, start: number, end: number, refFolio: number, dropMarkers = true): number {
  const ft = host.ft;
  const h = hstateVma(host, vma);
  const mm = vma.mm;
  let cleared = 0;
  const tableSpan = h.size * 512;
  for (let addr = start; addr < end; addr += h.size) {
    const t = hugetlbWalk(mm, h, addr);
    if (t === null) {
      // No table: skip to the end of the range it would cover (last_addr_mask).
      addr = Math.floor(addr / tableSpan) * tableSpan + tableSpan - h.size;
      continue;
    }
    const i = tableIndex(addr, h.level);
    const fl = t.fl[i]!;
    // High-granularity pieces below a table (HGM): zap the leaves, keep the tables.
    if (fl !== 0 && !(fl & Pte.PSE)) {
      if (refFolio === 0) cleared += hgmZapRegion(host, vma, t, i, dropMarkers);
      continue;
    }
    if (fl === 0) continue;
    if (isPteMarker(fl)) {
      // Not present: keep (only) the uffd-wp state, unless markers are dropped.
      if (fl & Pte.UFFD_WP && !dropMarkers) setEntry(host, t, i, 0, HUGE_MARKER_UFFD_WP);
      else clearEntry(host, t, i);
      continue;
    }
    const f = host.pfnFolio(t.pfn[i]!);
    if (refFolio !== 0) {
      if (f !== refFolio) continue;
      const p = vmaPriv(vma);
      if (p === null) vma.privateData = { resv: null, owner: false, unmapped: true } satisfies VmaPriv;
      else p.unmapped = true;
    }
    clearEntry(host, t, i);
    cleared++;
    // Leave a uffd-wp marker if needed.
    if (fl & Pte.UFFD_WP && !dropMarkers) setEntry(host, t, i, 0, HUGE_MARKER_UFFD_WP);
    if (fl & Pte.DIRTY) ft.flags[f]! |= PG.DIRTY;
    hugetlbCountAdd(mm, -h.nrPages);
    hugetlbRemoveRmap(host, f);
    // __vma_private_lock: a private VMA that owns its reservation map.
    const p = vmaPriv(vma);
    if (h.surplus === 0 && !(vma.flags & VM.MAYSHARE) && p?.resv && p.owner && folioMapcount(ft, f) === 0 && ft.flags[f]! & PG.ANON) {
      ft.flags[f]! |= PG.HUGETLB_RESTORE_RESERVE;
      if (vmaReservationCommon(host, h, vma, addr, Resv.NEEDS)) vmaReservationCommon(host, h, vma, addr, Resv.ADD);
    }
    host.folioPut(f);
    if (refFolio !== 0) break;
  }
  return cleared;
}

/** unmap_hugepage_range: the locked walk with a notifier and a TLB flush. */
// mirrors mm/hugetlb.c:unmap_hugepage_range
export function unmapHugepageRange(host: Host, vma: Vma, start: number, end: number, refFolio: number, dropMarkers = true): void {
  const range = invalidateStart(host, vma.mm, MmuNotifyEvent.CLEAR, start, end);
  if (unmapHugepageRangeLocked(host, vma, start, end, refFolio, dropMarkers) > 0) flushTlbRange(host, vma.mm);
  invalidateEnd(range);
}

/**
 * fork: share every HugeTLB page with the child (write-protected in both for
 * private mappings), except a possibly pinned exclusive anonymous page, which
 * the child gets a copy of now. Returns 0 or a negative errno.
 */
// mirrors mm/hugetlb.c:copy_hugetlb_page_range
export function copyHugetlbPageRange(host: Host, dst: Vma, src: Vma): number {
  const ft = host.ft;
  const h = hstateVma(host, src);
  const cow = isCowMapping(src.flags);
  const srcMm = src.mm;
  const range = cow ? invalidateStart(host, srcMm, MmuNotifyEvent.CLEAR, src.start, src.end) : null;
  if (cow) srcMm.writeProtectSeq++;
  let ret = 0;
  const tableSpan = h.size * 512;
  for (let addr = src.start; addr < src.end; addr += h.size) {
    const st = hugetlbWalk(srcMm, h, addr);
    if (st === null) {
      addr = Math.floor(addr / tableSpan) * tableSpan + tableSpan - h.size;
      continue;
    }
    const i = tableIndex(addr, h.level);
    let fl = st.fl[i]!;
    // High-granularity pieces (HGM VMAs are shared: no COW): copy the table below.
    if (fl !== 0 && !(fl & Pte.PSE)) {
      ret = hgmCopyRegion(host, dst, h, st, i, addr);
      if (ret < 0) break;
      continue;
    }
    if (fl === 0) continue;
    const dt = hugePteAlloc(host, dst.mm, h, addr);
    if (dt === null) {
      ret = ENOMEM;
      break;
    }
    if (isPteMarker(fl)) {
      // copy_pte_marker: poison always goes to the child, uffd-wp only to a WP-registered one.
      const m = fl & ~(dst.flags & VM.UFFD_WP ? 0 : Pte.UFFD_WP);
      if (m & (Pte.UFFD_WP | Pte.MARKER_POISONED)) setEntry(host, dt, i, 0, m);
      continue;
    }
    const f = host.pfnFolio(st.pfn[i]!);
    host.folioGet(f);
    if (!(ft.flags[f]! & PG.ANON)) hugetlbAddFileRmap(host, f);
    else if (!hugetlbTryDupAnonRmap(host, f, src, addr)) {
      // A pinned page: the child gets its own copy (no reservation: it is the parent's).
      const nf = allocHugetlbFolio(host, dst, addr, false);
      if (nf < 0) {
        host.folioPut(f);
        ret = nf;
        break;
      }
      host.content.copyFolio(nf, f);
      host.ev[Ev.COPY_BYTES] += h.size;
      host.ev[Ev.FORK_COPY]++;
      if (host.pinnedPages(f, 0) === 0) {
        host.pins.metrics.unnecessaryForkCopies++;
        host.pins.metrics.unnecessaryForkCopyBytes += h.size;
      }
      host.folioPut(f);
      // hugetlb_install_folio. Linux makes the entry writable even in a VMA
      // without VM_WRITE; the model keeps it read-only there.
      ft.flags[nf]! |= PG.UPTODATE;
      anonVmaPrepare(host, dst);
      hugetlbAddNewAnonRmap(host, nf, dst, addr);
      let nfl = makeHugePte(dst, (dst.flags & VM.WRITE) !== 0);
      if (dst.flags & VM.UFFD_WP) nfl |= fl & Pte.UFFD_WP;
      setEntry(host, dt, i, ft.pfn[nf]!, nfl);
      hugetlbCountAdd(dst.mm, h.nrPages);
      continue;
    }
    if (cow && fl & Pte.RW) {
      setEntry(host, st, i, st.pfn[i]!, fl & ~Pte.RW);
      fl &= ~Pte.RW;
    }
    if (!(dst.flags & VM.UFFD_WP)) fl &= ~Pte.UFFD_WP;
    // The child did not pin through its copy (the pte-bit design's software bit).
    fl &= ~Pte.PINNED;
    setEntry(host, dt, i, st.pfn[i]!, fl);
    hugetlbCountAdd(dst.mm, h.nrPages);
  }
  if (cow) srcMm.writeProtectSeq++;
  invalidateEnd(range);
  return ret;
}

/**
 * Apply vma.pageProt to the present HugeTLB entries of [start, end). With
 * uffdWp, set userfaultfd write protection (none entries take uffd-wp markers,
 * page tables allocated for them); with uffdWpResolve, clear it (uffd-wp
 * markers go). No entry becomes writable here: a write fault does that.
 * Returns base pages changed.
 */
// mirrors mm/hugetlb.c:hugetlb_change_protection
export function hugetlbChangeProtection(host: Host, vma: Vma, start: number, end: number, uffdWp = false, uffdWpResolve = false): number {
  const h = hstateVma(host, vma);
  const mm = vma.mm;
  const range = invalidateStart(host, mm, MmuNotifyEvent.PROTECTION_VMA, start, end);
  let pages = 0;
  const keep = Pte.SPECIAL | Pte.ACCESSED | Pte.DIRTY | Pte.SOFT_DIRTY | Pte.UFFD_WP | Pte.PINNED | Pte.PSE;
  const tableSpan = h.size * 512;
  for (let addr = start; addr < end; addr += h.size) {
    // Userfaultfd write protection needs the tables to hold its markers.
    const t = uffdWp ? hugePteAlloc(host, mm, h, addr) : hugetlbWalk(mm, h, addr);
    if (t === null) {
      if (uffdWp) break;
      addr = Math.floor(addr / tableSpan) * tableSpan + tableSpan - h.size;
      continue;
    }
    const i = tableIndex(addr, h.level);
    const fl = t.fl[i]!;
    if (isPteMarker(fl)) {
      // A poisoned page has no permissions to change; a uffd-wp marker goes on resolve.
      if (pteMarkerUffdWp(fl) && uffdWpResolve) clearEntry(host, t, i);
      continue;
    }
    if (fl === 0) {
      if (uffdWp) setEntry(host, t, i, 0, HUGE_MARKER_UFFD_WP);
      continue;
    }
    if (!(fl & Pte.PSE)) {
      // High-granularity pieces (HGM).
      const n = hgmChangeProtection(host, vma, t.kids![i]!, uffdWp, uffdWpResolve);
      if (n > 0) pages += n / h.nrPages;
      continue;
    }
    // huge_pte_modify; huge_pte_mkuffd_wp write-protects too.
    let nfl = (fl & keep) | (vma.pageProt & ~keep);
    if (uffdWp) nfl = (nfl | Pte.UFFD_WP) & ~Pte.RW;
    else if (uffdWpResolve) nfl &= ~Pte.UFFD_WP;
    setEntry(host, t, i, t.pfn[i]!, nfl);
    pages++;
  }
  if (pages > 0) flushTlbRange(host, mm);
  invalidateEnd(range);
  return pages * h.nrPages;
}

/** A uffd-wp marker in a HugeTLB entry (PSE: a leaf for the page-table walkers). */
const HUGE_MARKER_UFFD_WP = Pte.PSE | Pte.MARKER | Pte.UFFD_WP;
const EEXIST = -17;
const EFAULT = -14;
const EIO = -5;

/**
 * One huge page of UFFDIO_COPY (data, the huge page's worth of the caller's
 * memory, already read), UFFDIO_CONTINUE (data null, continue) or
 * UFFDIO_POISON (poison) at addr. 0, or a negative errno: EEXIST (a page in
 * the file or an entry there), EFAULT (no page to continue with; beyond
 * EOF), ENOMEM (no huge page). The checks Linux makes after allocating the
 * page come before it here, so no reservation needs restoring on error.
 */
// mirrors mm/hugetlb.c:hugetlb_mfill_atomic_pte
export function hugetlbMfillAtomicPte(host: Host, vma: Vma, addr: number, data: Uint8Array | null, cont: boolean, poison: boolean, wp: boolean): number {
  const ft = host.ft;
  const h = hstateVma(host, vma);
  const mm = vma.mm;
  const t = hugePteAlloc(host, mm, h, addr);
  if (t === null) return ENOMEM;
  const i = tableIndex(addr, h.level);
  if (poison) {
    // Never over any entry, a marker included.
    if (t.fl[i] !== 0) return EEXIST;
    setEntry(host, t, i, 0, Pte.PSE | Pte.MARKER | Pte.MARKER_POISONED);
    return 0;
  }
  const mapping = vma.mapping!;
  const idx = vmaHugecacheOffset(h, vma, addr);
  const shared = (vma.flags & VM.SHARED) !== 0;
  let f = 0;
  if (cont) {
    f = hugetlbPagecacheFolio(mapping, h, idx);
    if (f === 0) return EFAULT;
  } else {
    if (shared && hugetlbPagecacheFolio(mapping, h, idx) !== 0) return EEXIST;
    if (shared && idx >= Number(mapping.host.size / BigInt(h.size))) return EFAULT;
  }
  if (cont && ft.flags[f]! & PG.HWPOISON) return EIO;
  // A marker may be filled (write-protected or poisoned before the page came).
  if (!pteNoneMostly(t.fl[i]!)) return EEXIST;
  if (!cont) {
    if (!shared) anonVmaPrepare(host, vma);
    f = allocHugetlbFolio(host, vma, addr, false);
    if (f < 0) return ENOMEM;
    host.content.write(f, h.nrPages, 0, data!, 0, h.size);
    host.ev[Ev.COPY_BYTES] += h.size;
    ft.flags[f]! |= PG.UPTODATE;
    if (shared) hugetlbAddToPageCache(host, f, mapping, idx);
  } else host.folioGet(f);
  if (cont || shared) hugetlbAddFileRmap(host, f);
  else hugetlbAddNewAnonRmap(host, f, vma, addr);
  // CONTINUE into a private mapping, or COPY with MODE_WP: not writable.
  const writable = !wp && !(cont && !shared) && (vma.flags & VM.WRITE) !== 0;
  let fl = makeHugePte(vma, writable) | MKDIRTY;
  if (wp) fl = (fl | Pte.UFFD_WP) & ~Pte.RW;
  setEntry(host, t, i, ft.pfn[f]!, fl);
  hugetlbCountAdd(mm, h.nrPages);
  return 0;
}

/** The errno a HugeTLB VMA split at addr gets (hugetlb_vm_op_split). */
// mirrors mm/hugetlb.c:hugetlb_vm_op_split
export function hugetlbVmOpSplit(host: Host, vma: Vma, addr: number): ErrnoName | null {
  return addr % hstateVma(host, vma).size !== 0 ? 'EINVAL' : null;
}

/**
 * mremap: move the HugeTLB entries of [oldAddr, oldAddr + len) to newAddr
 * (both huge-page aligned), leaf by leaf; folios and their counts do not
 * change. Returns the length moved (less if a table could not be allocated).
 */
// mirrors mm/hugetlb.c:move_hugetlb_page_tables (move_huge_pte)
export function moveHugetlbPageTables(host: Host, vma: Vma, newVma: Vma, oldAddr: number, newAddr: number, len: number): number {
  const h = hstateVma(host, vma);
  const mm = vma.mm;
  const range = invalidateStart(host, mm, MmuNotifyEvent.CLEAR, oldAddr, oldAddr + len);
  const clearUffdWp = !(newVma.flags & VM.UFFD_WP);
  const tableSpan = h.size * 512;
  let moved = 0;
  let off = 0;
  for (; off < len; off += h.size) {
    const oa = oldAddr + off;
    const st = hugetlbWalk(mm, h, oa);
    if (st === null) {
      off = Math.floor(oa / tableSpan) * tableSpan + tableSpan - h.size - oldAddr;
      continue;
    }
    const i = tableIndex(oa, h.level);
    const fl = st.fl[i]!;
    if (fl === 0) continue;
    const dt = hugePteAlloc(host, mm, h, newAddr + off);
    if (dt === null) break;
    if (!(fl & Pte.PSE)) {
      // A table of high-granularity pieces (HGM) moves whole.
      hgmMoveRegion(host, st, i, dt, tableIndex(newAddr + off, h.level), clearUffdWp);
      moved++;
      continue;
    }
    const pfn = st.pfn[i]!;
    clearEntry(host, st, i);
    const nfl = clearUffdWp ? fl & ~Pte.UFFD_WP : fl;
    // A marker that said only uffd-wp goes with the bit (move_huge_pte).
    if (!isPteMarker(nfl) || nfl & (Pte.UFFD_WP | Pte.MARKER_POISONED)) setEntry(host, dt, tableIndex(newAddr + off, h.level), pfn, nfl);
    moved++;
  }
  if (moved > 0) flushTlbRange(host, mm);
  invalidateEnd(range);
  return Math.min(off, len);
}

/** The old VMA of a move gives its reservation map to the new one (already shared through ->open). */
// mirrors mm/hugetlb.c:clear_vma_resv_huge_pages
export function clearVmaResvHugePages(vma: Vma): void {
  const p = vmaPriv(vma);
  if (p !== null && p.resv !== null && p.owner) p.resv.refs--;
  // hugetlb_dup_vma_private: a private VMA keeps no map.
  if (!(vma.flags & VM.MAYSHARE)) vma.privateData = null;
}

// ---------------------------------------------------------------------------
// File pools and split pages, for a file that manages its own HugeTLB pages
// (guest_memfd backed by HugeTLB: a subpool per file, pages split into
// smaller folios while their parts are converted between private and shared,
// merged back before they return to the pool). Not in Linux 6.12: modelled on
// the guestmem_hugetlb series (Ackerley Tng, 2025), without its uAPI.

/**
 * A file's own pool: a subpool of nrPages pages of h, all reserved now (max =
 * min = nrPages). null: the pool cannot cover it (ENOMEM). Give it back with
 * hugepagePutSubpool once the file's pages are freed.
 */
// mirrors the guestmem_hugetlb series' guestmem_hugetlb_setup (hugepage_new_subpool(h, n, n))
export function hugetlbFileSubpool(host: Host, h: Hstate, nrPages: number): Subpool | null {
  return hugepageNewSubpool(host, h, nrPages, nrPages);
}

/**
 * A page from a file's subpool (refcount 1, zeroed, no mapping, no page cache),
 * consuming one of its reservations; -ENOSPC when the subpool is used up or
 * nothing can be had. folio_put frees it back to the subpool.
 */
// mirrors the guestmem_hugetlb series' guestmem_hugetlb_alloc_folio (hugepage_subpool_get_pages, dequeue)
export function hugetlbFileAllocFolio(host: Host, spool: Subpool): number {
  const h = spool.hstate;
  const gbl = hugepageSubpoolGetPages(spool, 1);
  if (gbl < 0) return ENOSPC;
  let f = 0;
  if (gbl === 0) {
    // One of the subpool's reserved pages.
    f = dequeueHugetlbFolio(host, h);
    if (f !== 0) h.resv--;
  } else if (availableHugePages(h) > 0) f = dequeueHugetlbFolio(host, h);
  if (f === 0) {
    f = allocSurplusHugetlbFolio(host, h);
    if (f !== 0) host.ft.refcount[f] = 1;
  }
  if (f === 0) {
    const gblBack = hugepageSubpoolPutPages(host, spool, 1);
    hugetlbAcctMemory(host, h, -gblBack);
    return ENOSPC;
  }
  host.hugetlb.folioSubpool.set(f, spool);
  host.zeroFolio(f);
  host.ft.flags[f]! |= PG.UPTODATE;
  return f;
}
