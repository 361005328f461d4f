/**
 * Zones and the buddy allocator (mirrors mm/page_alloc.c).
 *
 * Free memory is an ExtentSet of free pfn ranges per zone. Because Linux's buddy
 * allocator merges free buddies eagerly, its free lists always hold exactly the
 * maximal naturally-aligned blocks (up to MAX_PAGE_ORDER) of the free set; an
 * extent set is therefore an exact, compact representation of buddy state, and
 * /proc/buddyinfo is derived from it. An untouched 64 TiB host is one extent.
 *
 * Simplification: within the free set we hand out the lowest-addressed aligned
 * block (first fit) rather than the free-list head; Linux's choice depends on
 * free order history. Watermarks, migratetypes, per-cpu lists and NUMA are not
 * modelled.
 *
 * The boot memmap (struct pages, 64 bytes per 4 KiB page, allocated from
 * memblock before the buddy allocator runs) lies outside the model's RAM: it
 * is the pfn range [totalPages, totalPages + totalPages / 64), reserved and
 * unmanaged. HugeTLB vmemmap optimization frees pages of it into the buddy
 * allocator (free_bootmem_page: MemTotal and MemFree grow), which the model
 * keeps as the `memmap` zone, a part of ZONE_NORMAL allocated from last.
 */
import { pow2 } from '../lib/pow2.js';
import { ExtentSet } from '../lib/extent_set.js';
import { MAX_PAGE_ORDER } from './page.js';

export const enum ZoneType {
  NORMAL = 0,
  MOVABLE = 1,
}

export const ZONE_NAMES = ['Normal', 'Movable'] as const;

/** Allocation flags the model distinguishes (include/linux/gfp_types.h). */
export const enum Gfp {
  KERNEL = 0,
  /** __GFP_MOVABLE: may be placed in ZONE_MOVABLE. */
  MOVABLE = 1 << 0,
  /** __GFP_NOWARN: do not count a failure as a warning. */
  NOWARN = 1 << 1,
}

/** GFP_HIGHUSER_MOVABLE: user pages and page cache. */
export const GFP_HIGHUSER_MOVABLE = Gfp.MOVABLE;
/** GFP_PGTABLE_USER / GFP_KERNEL: unmovable kernel allocations. */
export const GFP_KERNEL = Gfp.KERNEL;

/** struct pages per 4 KiB vmemmap page (sizeof(struct page) is 64 bytes on x86-64). */
export const MEMMAP_PAGES_PER_PAGE = 64;

export interface Zone {
  readonly type: ZoneType;
  readonly name: string;
  /** The CMA area: MIGRATE_CMA pageblocks that only movable allocations may use. */
  readonly cma: boolean;
  /** The boot memmap's pfns: pages only HugeTLB vmemmap optimization frees (see above). */
  readonly memmap: boolean;
  /** First pfn of the zone. */
  readonly start: number;
  /** One past the last pfn. */
  readonly end: number;
  /** Pages the zone manages (present minus reserved). */
  managed: number;
  readonly free: ExtentSet;
}

export class PageAlloc {
  readonly zones: Zone[];
  readonly totalPages: number;

  /**
   * @param totalPages  pages of RAM starting at pfn 0
   * @param movablePages pages at the top of RAM given to ZONE_MOVABLE (movablecore=)
   * @param reservedPages pages at the bottom kept by "firmware" (never free)
   */
  /**
   * @param cmaPages pages at the top of ZONE_NORMAL reserved as a CMA area
   *   (cma=): movable allocations may use it, long-term pins may not stay there
   */
  constructor(totalPages: number, movablePages: number, reservedPages: number, cmaPages = 0) {
    this.totalPages = totalPages;
    const normalEnd = totalPages - movablePages;
    const cmaStart = normalEnd - cmaPages;
    const normal: Zone = { type: ZoneType.NORMAL, name: 'Normal', cma: false, memmap: false, start: 0, end: cmaStart, managed: 0, free: new ExtentSet() };
    const cma: Zone = { type: ZoneType.NORMAL, name: 'Normal (CMA)', cma: true, memmap: false, start: cmaStart, end: normalEnd, managed: 0, free: new ExtentSet() };
    const movable: Zone = { type: ZoneType.MOVABLE, name: 'Movable', cma: false, memmap: false, start: normalEnd, end: totalPages, managed: 0, free: new ExtentSet() };
    const memmap: Zone = { type: ZoneType.NORMAL, name: 'Normal (memmap)', cma: false, memmap: true, start: totalPages, end: totalPages + Math.ceil(totalPages / MEMMAP_PAGES_PER_PAGE), managed: 0, free: new ExtentSet() };
    normal.free.add(Math.min(reservedPages, cmaStart), cmaStart);
    normal.managed = normal.free.length;
    cma.free.add(cmaStart, normalEnd);
    cma.managed = cma.free.length;
    movable.free.add(normalEnd, totalPages);
    movable.managed = movable.free.length;
    this.zones = [normal, movable, cma, memmap];
    this.cmaZone = cma;
    this.memmapZone = memmap;
    this.movableZonelist = [movable, cma, normal, memmap];
    this.normalZonelist = [normal, memmap];
  }

  private readonly cmaZone: Zone;
  /** The boot memmap's pfns (see the file comment). */
  readonly memmapZone: Zone;

  /** Zonelists, highest zone first (as build_zonelists orders them). */
  private readonly movableZonelist: Zone[];
  private readonly normalZonelist: Zone[];

  /** The zone (or the CMA area) holding pfn (page_zone, with the CMA pageblocks apart). */
  zoneOf(pfn: number): Zone {
    if (pfn >= this.totalPages) return this.memmapZone;
    if (pfn >= this.zones[ZoneType.MOVABLE]!.start) return this.zones[ZoneType.MOVABLE]!;
    return pfn >= this.cmaZone.start ? this.cmaZone : this.zones[ZoneType.NORMAL]!;
  }

  /** May a page stay pinned long-term: not ZONE_MOVABLE, not CMA (folio_is_longterm_pinnable's zone part). */
  longtermPinnable(pfn: number): boolean {
    const z = this.zoneOf(pfn);
    return z.type !== ZoneType.MOVABLE && !z.cma;
  }

  /** Free base pages in all zones (NR_FREE_PAGES). */
  freePages(): number {
    return this.zones[0]!.free.length + this.zones[1]!.free.length + this.zones[2]!.free.length + this.memmapZone.free.length;
  }

  /** Managed pages in all zones (MemTotal). */
  managedPages(): number {
    return this.zones[0]!.managed + this.zones[1]!.managed + this.zones[2]!.managed + this.memmapZone.managed;
  }

  /**
   * Hand pages [start, end) of the boot memmap to the buddy allocator: they
   * become free and managed (MemTotal grows), as free_reserved_page does.
   */
  // mirrors mm/page_alloc.c:free_reserved_page (adjust_managed_page_count + __free_page)
  freeReservedPages(start: number, end: number): void {
    this.memmapZone.managed += end - start;
    this.memmapZone.free.add(start, end);
  }

  /** Free the order-0 pages [start, end), which may lie in several zones (a batch of __free_page). */
  freePagesRange(start: number, end: number): void {
    while (start < end) {
      const z = this.zoneOf(start);
      const e = Math.min(end, z.end);
      z.free.add(start, e);
      start = e;
    }
  }

  /** CMA pages in total and free (CmaTotal / CmaFree). */
  cmaPages(): { total: number; free: number } {
    return { total: this.cmaZone.managed, free: this.cmaZone.free.length };
  }

  /**
   * Allocate 2^order naturally aligned pages, trying the zonelist highest zone
   * first as Linux does (MOVABLE, then NORMAL). Returns the first pfn or -1.
   * Orders above MAX_PAGE_ORDER need allocContig (mirrors __alloc_pages: such
   * requests fail there).
   */
  // mirrors mm/page_alloc.c:__alloc_pages (get_page_from_freelist over the zonelist)
  allocPages(order: number, gfp: number): number {
    if (order > MAX_PAGE_ORDER) return -1;
    return this.allocIn(order, gfp);
  }

  /**
   * Allocate n order-0 pages, the ones n allocPages(0, gfp) calls would take
   * (the lowest free pfns, zone by zone down the zonelist), appended to out
   * as start, end pairs. All or nothing: -1, with nothing taken, when fewer than n are free;
   * else n.
   */
  // mirrors mm/page_alloc.c:alloc_pages_bulk (what alloc_vmemmap_page_list asks for a page at a time)
  allocPagesBulk(n: number, gfp: number, out: number[]): number {
    const zones = gfp & Gfp.MOVABLE ? this.movableZonelist : this.normalZonelist;
    let free = 0;
    for (const z of zones) free += z.free.length;
    if (free < n) return -1;
    let need = n;
    for (let i = 0; i < zones.length && need > 0; i++) {
      const z = zones[i]!;
      const from = out.length;
      need -= z.free.collect(z.start, z.end, out, need);
      for (let r = from; r < out.length; r += 2) z.free.remove(out[r]!, out[r + 1]!);
    }
    return n;
  }

  /**
   * Allocate a naturally aligned block of any order (gigantic pages, 1 GiB),
   * as alloc_contig_pages does by isolating and migrating a range. The model
   * takes only free ranges: it does not migrate to make room.
   */
  // mirrors mm/page_alloc.c:alloc_contig_pages (simplified: no migration to make room)
  allocContig(order: number, gfp: number): number {
    return this.allocIn(order, gfp);
  }

  private allocIn(order: number, gfp: number): number {
    const n = 1 << order;
    const zones = gfp & Gfp.MOVABLE ? this.movableZonelist : this.normalZonelist;
    for (let i = 0; i < zones.length; i++) {
      const z = zones[i]!;
      if (z.free.length < n) continue;
      const pfn = n === 1 ? z.free.allocOne(z.start, z.end) : z.free.allocAligned(n, n, z.start, z.end);
      if (pfn >= 0) return pfn;
    }
    return -1;
  }

  /** Return 2^order pages at pfn to their zone (mirrors __free_pages; merging is implicit). */
  // mirrors mm/page_alloc.c:__free_pages
  freePagesAt(pfn: number, order: number): void {
    const n = 1 << order;
    this.zoneOf(pfn).free.add(pfn, pfn + n);
  }

  /** True if pfn is free in the buddy allocator (PageBuddy). */
  isFree(pfn: number): boolean {
    return this.zoneOf(pfn).free.has(pfn);
  }

  /**
   * /proc/buddyinfo: per zone, the number of free blocks of each order 0..MAX_PAGE_ORDER,
   * derived by decomposing each free extent into maximal aligned blocks.
   */
  // mirrors mm/vmstat.c:frag_show_print (derived from the extent set)
  buddyinfo(): { zone: string; free: number[] }[] {
    // Like /proc/buddyinfo, only populated zones.
    // The memmap pages that vmemmap optimization freed and the CMA pageblocks are ZONE_NORMAL's, counted in its
    // line: a zone's free_area counts every migratetype. Each set is decomposed on its own, since the buddy
    // allocator does not merge a MIGRATE_CMA block with a block of another type (__free_one_page).
    return this.zones.filter((z) => !z.memmap && !z.cma && (z.managed > 0 || z.type === ZoneType.NORMAL)).map((z) => {
      const counts = new Array<number>(MAX_PAGE_ORDER + 1).fill(0);
      const sets = z === this.zones[ZoneType.NORMAL] ? [z.free, this.memmapZone.free, this.cmaZone.free] : [z.free];
      for (const free of sets) free.forEach((s, e) => {
        let p = s;
        while (p < e) {
          let o = MAX_PAGE_ORDER;
          while (o > 0 && (p % pow2(o) !== 0 || p + pow2(o) > e)) o--;
          // Whole runs of max-order blocks are counted in one step.
          if (o === MAX_PAGE_ORDER) {
            const k = Math.floor((e - p) / pow2(o));
            counts[o] += k;
            p += k * pow2(o);
          } else {
            counts[o]++;
            p += pow2(o);
          }
        }
      });
      return { zone: z.name, free: counts };
    });
  }
}
