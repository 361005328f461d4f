/**
 * Folio metadata (mirrors struct folio / struct page in include/linux/mm_types.h).
 *
 * Every allocated physical block is a folio slot in a struct-of-arrays table:
 * user folios, page-table pages, the zero pages. A slot is a small integer; 0 is
 * never used, so 0 can mean "no folio". Fields are typed arrays indexed by slot:
 *
 *   slot:          1        2        3      ...
 *   pfn       F64  head pfn
 *   order     U8   log2(nr pages)
 *   flags     U32  PG bits below
 *   refcount  I32  _refcount
 *   mapcount  I32  small folio: _mapcount (-1 based); large: _large_mapcount (-1 based)
 *   entire    I32  _entire_mapcount (-1 based), large only
 *   nrMapped  I32  _nr_pages_mapped (count + ENTIRELY_MAPPED), large only
 *   pincount  I32  _pincount, large only
 *   ledgerPins/Gets I32  the model's GUP ledger for small folios (large folios: Host's per-pfn counts)
 *   mmId0/1   I32  _mm_id[2] (0 = MM_ID_DUMMY), large only (CONFIG_MM_ID)
 *   mmCnt0/1  I32  _mm_id_mapcount[2] (-1 based)
 *   index     F64  page index in the owner (file pgoff, or linear page index for anon)
 *   owner     any  AnonVma for anon folios, AddressSpace for file folios, else null
 *
 * Per-page state of large folios (each subpage's _mapcount and PageAnonExclusive)
 * lives in a side map, allocated only when it differs from the default: a
 * PMD-mapped THP that is never PTE-mapped has no side entry. PageAnonExclusive of
 * page 0 is the PG.ANON_EXCLUSIVE flag bit; tail pages use the side bitmap.
 *
 * The model runs CONFIG_PAGE_MAPCOUNT and CONFIG_MM_ID, as distro kernels do.
 */

/** Folio flag bits (our own positions; names from include/linux/page-flags.h). */
export const enum PG {
  UPTODATE = 1 << 0,
  DIRTY = 1 << 1,
  LRU = 1 << 2,
  REFERENCED = 1 << 3,
  SWAPBACKED = 1 << 4,
  /** folio->mapping has FOLIO_MAPPING_ANON: owner is an anon_vma. */
  ANON = 1 << 5,
  HUGETLB = 1 << 6,
  /** The shared zero page or the huge zero folio (is_zero_folio). */
  ZERO = 1 << 7,
  /** A page-table page (PGTY_table). */
  PGTABLE = 1 << 8,
  /** PageAnonExclusive of page 0. */
  ANON_EXCLUSIVE = 1 << 9,
  /** FOLIO_MM_IDS_SHARED_BIT. */
  MM_IDS_SHARED = 1 << 10,
  /** Queued for deferred split (partially mapped anon THP). */
  PARTIALLY_MAPPED = 1 << 11,
  /** Memory the kernel keeps (firmware, zero page). */
  RESERVED = 1 << 12,
  UNEVICTABLE = 1 << 13,
  MLOCKED = 1 << 14,
  PRIVATE = 1 << 15,
  HWPOISON = 1 << 16,
  /** Page cache folio allocated by fallocate and not yet written (shmem !uptodate). */
  FALLOC = 1 << 17,
  /** HugeTLB: on its hstate's free list (folio_test_hugetlb_freed). */
  HUGETLB_FREED = 1 << 18,
  /** HugeTLB: its allocation consumed a reservation, restored if freed unmapped (HPG_restore_reserve). */
  HUGETLB_RESTORE_RESERVE = 1 << 19,
  /** HugeTLB: tail struct pages shared read-only by HVO (HPG_vmemmap_optimized). */
  VMEMMAP_OPTIMIZED = 1 << 20,
  /** In the swap cache (PG_swapcache): the swap state knows its entry (folio->swap). */
  SWAPCACHE = 1 << 21,
}

/** _nr_pages_mapped flag while an entire (PMD/PUD) mapping exists. */
export const ENTIRELY_MAPPED = 0x800000;
/** _nr_pages_mapped mask for the PTE-mapped page count. */
export const FOLIO_PAGES_MAPPED = ENTIRELY_MAPPED - 1;

/** MM_ID_DUMMY: an unused _mm_id slot. */
export const MM_ID_DUMMY = 0;

/** Per-page state of a large folio, present only when some page deviates from the default. */
export interface PageState {
  /** Per-page _mapcount (-1 based) for PTE mappings; null while every page is -1. */
  mapcount: Int32Array | null;
  /** PageAnonExclusive for pages 1..nr-1 (index 0 unused: see PG.ANON_EXCLUSIVE); null while all clear. */
  excl: Uint8Array | null;
  /** Pages set in excl, so trimming needs no scan. */
  exclCount: number;
}

/** Anything that owns folios: an anon_vma or an address_space. */
export interface FolioOwner {
  readonly kind: 'anon' | 'file';
  readonly id: number;
}

const INITIAL_CAPACITY = 1024;

/**
 * The capacity after cap: doubling while small, then four times. Each growth
 * copies every array into new memory, and on a virtual machine the first
 * touch of a page is a fault costing microseconds (13 us a page measured on
 * the benchmark host): with doubling, a table that reaches n slots has
 * touched 2n slots' worth of new pages, with quadrupling 4n/3. Capacity never
 * touched costs neither time nor RSS.
 */
function nextCapacity(cap: number): number {
  return cap < 65536 ? cap * 2 : cap * 4;
}

export class FolioTable {
  capacity = 0;
  pfn = new Float64Array(0);
  order = new Uint8Array(0);
  flags = new Uint32Array(0);
  refcount = new Int32Array(0);
  mapcount = new Int32Array(0);
  entire = new Int32Array(0);
  nrMapped = new Int32Array(0);
  pincount = new Int32Array(0);
  /** The GUP ledger of a small folio (not Linux state; see Host): outstanding FOLL_PIN pins and FOLL_GET references. */
  ledgerPins = new Int32Array(0);
  ledgerGets = new Int32Array(0);
  mmId0 = new Int32Array(0);
  mmId1 = new Int32Array(0);
  mmCnt0 = new Int32Array(0);
  mmCnt1 = new Int32Array(0);
  index = new Float64Array(0);
  owner: (FolioOwner | null)[] = [];
  readonly pages = new Map<number, PageState>();

  /** Free slots (a stack) and the high-water mark. */
  private freeSlots = new Int32Array(0);
  private nFree = 0;
  private next = 1;
  /** Slots in use. */
  live = 0;

  constructor() {
    this.grow(INITIAL_CAPACITY);
  }

  private grow(cap: number): void {
    const copy = <T extends Float64Array | Uint8Array | Uint32Array | Int32Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a);
      return b;
    };
    this.pfn = copy(this.pfn, (n) => new Float64Array(n));
    this.order = copy(this.order, (n) => new Uint8Array(n));
    this.flags = copy(this.flags, (n) => new Uint32Array(n));
    this.refcount = copy(this.refcount, (n) => new Int32Array(n));
    this.mapcount = copy(this.mapcount, (n) => new Int32Array(n));
    this.entire = copy(this.entire, (n) => new Int32Array(n));
    this.nrMapped = copy(this.nrMapped, (n) => new Int32Array(n));
    this.pincount = copy(this.pincount, (n) => new Int32Array(n));
    this.ledgerPins = copy(this.ledgerPins, (n) => new Int32Array(n));
    this.ledgerGets = copy(this.ledgerGets, (n) => new Int32Array(n));
    this.mmId0 = copy(this.mmId0, (n) => new Int32Array(n));
    this.mmId1 = copy(this.mmId1, (n) => new Int32Array(n));
    this.mmCnt0 = copy(this.mmCnt0, (n) => new Int32Array(n));
    this.mmCnt1 = copy(this.mmCnt1, (n) => new Int32Array(n));
    this.index = copy(this.index, (n) => new Float64Array(n));
    this.freeSlots = copy(this.freeSlots, (n) => new Int32Array(n));
    // owner grows by appending in alloc (slots are handed out in order).
    this.capacity = cap;
  }

  /**
   * Take a slot and initialise it as a freshly allocated folio: refcount 1,
   * all mapcounts -1 ("unmapped"), no flags (mirrors prep_new_page + folio init).
   */
  alloc(pfn: number, order: number): number {
    let f: number;
    if (this.nFree > 0) f = this.freeSlots[--this.nFree]!;
    else {
      if (this.next >= this.capacity) this.grow(nextCapacity(this.capacity));
      f = this.next++;
    }
    this.init(f, pfn, order);
    this.live++;
    return f;
  }

  /**
   * A folio header as prep_new_page leaves it: refcount 1, unmapped, no
   * flags, no owner. Also used for the pieces of a split.
   */
  init(f: number, pfn: number, order: number): void {
    this.pfn[f] = pfn;
    this.order[f] = order;
    this.flags[f] = 0;
    this.refcount[f] = 1;
    this.mapcount[f] = -1;
    this.entire[f] = -1;
    this.nrMapped[f] = 0;
    this.pincount[f] = 0;
    this.ledgerPins[f] = 0;
    this.ledgerGets[f] = 0;
    this.mmId0[f] = MM_ID_DUMMY;
    this.mmId1[f] = MM_ID_DUMMY;
    this.mmCnt0[f] = -1;
    this.mmCnt1[f] = -1;
    this.index[f] = 0;
    this.owner[f] = null;
  }

  /**
   * Room for n more allocations without growing: a bulk allocation (the
   * pieces of a split 1 GiB page, 262,144 slots) grows every array once, to
   * the size it needs, where a slot at a time would copy them at each step
   * and quadruple past it.
   */
  reserve(n: number): void {
    const need = this.next + Math.max(0, n - this.nFree);
    if (need > this.capacity) this.grow(need);
  }

  /** Return a slot to the free stack. */
  release(f: number): void {
    this.owner[f] = null;
    if (this.pages.size !== 0) this.pages.delete(f);
    this.refcount[f] = 0;
    this.order[f] = 0;
    this.flags[f] = 0;
    this.pfn[f] = -1;
    if (this.nFree >= this.freeSlots.length) this.grow(nextCapacity(this.capacity));
    this.freeSlots[this.nFree++] = f;
    this.live--;
  }

  /** True if f is a live slot (not free, not out of range). */
  isLive(f: number): boolean {
    return f > 0 && f < this.next && this.pfn[f]! >= 0;
  }

  /** One past the largest slot ever handed out (iteration bound). */
  get highWater(): number {
    return this.next;
  }

  /** Model memory held by the table, in bytes. */
  approxBytes(): number {
    let side = 0;
    for (const s of this.pages.values()) side += (s.mapcount?.byteLength ?? 0) + (s.excl?.byteLength ?? 0) + 64;
    return this.capacity * (8 + 1 + 4 * 11 + 8 + 8) + side;
  }
}

// ---------------------------------------------------------------------------
// Accessors, named as the kernel's. They take the table and a slot.

export function folioOrder(ft: FolioTable, f: number): number {
  return ft.order[f]!;
}

export function folioNrPages(ft: FolioTable, f: number): number {
  return 1 << ft.order[f]!;
}

export function folioTestLarge(ft: FolioTable, f: number): boolean {
  return ft.order[f]! > 0;
}

export function folioTestAnon(ft: FolioTable, f: number): boolean {
  return (ft.flags[f]! & PG.ANON) !== 0;
}

export function isZeroFolio(ft: FolioTable, f: number): boolean {
  return (ft.flags[f]! & PG.ZERO) !== 0;
}

export function folioTestHugetlb(ft: FolioTable, f: number): boolean {
  return (ft.flags[f]! & PG.HUGETLB) !== 0;
}

/** A PMD-sized folio (folio_test_pmd_mappable). */
export function folioTestPmdMappable(ft: FolioTable, f: number): boolean {
  return ft.order[f]! >= 9;
}

// mirrors include/linux/mm.h:folio_mapcount
export function folioMapcount(ft: FolioTable, f: number): number {
  if (ft.order[f]! === 0) {
    // Typed pages (page tables) have no mapcount.
    if (ft.flags[f]! & PG.PGTABLE) return 0;
    return ft.mapcount[f]! + 1;
  }
  return ft.mapcount[f]! + 1;
}

// mirrors include/linux/mm.h:folio_mapped
export function folioMapped(ft: FolioTable, f: number): boolean {
  return folioMapcount(ft, f) >= 1;
}

// mirrors include/linux/mm.h:folio_entire_mapcount
export function folioEntireMapcount(ft: FolioTable, f: number): number {
  return ft.entire[f]! + 1;
}

// mirrors include/linux/mm.h:folio_large_mapcount
export function folioLargeMapcount(ft: FolioTable, f: number): number {
  return ft.mapcount[f]! + 1;
}

/** Per-page _mapcount (-1 based) of page i of a large folio. */
export function pageMapcountRaw(ft: FolioTable, f: number, i: number): number {
  const s = ft.pages.get(f);
  return s?.mapcount ? s.mapcount[i]! : -1;
}

// mirrors fs/proc/internal.h:folio_precise_page_mapcount (CONFIG_PAGE_MAPCOUNT)
export function folioPrecisePageMapcount(ft: FolioTable, f: number, i: number): number {
  if (ft.order[f]! === 0) return folioMapcount(ft, f);
  if (ft.flags[f]! & PG.HUGETLB) return folioEntireMapcount(ft, f);
  return pageMapcountRaw(ft, f, i) + 1 + folioEntireMapcount(ft, f);
}

// mirrors include/linux/mm.h:folio_maybe_mapped_shared (CONFIG_MM_ID)
export function folioMaybeMappedShared(ft: FolioTable, f: number): boolean {
  const mapcount = folioMapcount(ft, f);
  if (ft.order[f]! === 0 || ft.flags[f]! & PG.HUGETLB) return mapcount > 1;
  if (mapcount <= 1) return false;
  // Any page mapped more than once means "mapped shared".
  if (folioEntireMapcount(ft, f) > 0 || mapcount > folioNrPages(ft, f)) return true;
  return (ft.flags[f]! & PG.MM_IDS_SHARED) !== 0;
}

/**
 * Is the folio likely mapped into more than one mm? 6.12's estimate, which
 * looks only at the first page of a PTE-mapped large folio: false negatives
 * are possible (used where a wrong guess only skips an optimization).
 */
// mirrors include/linux/mm.h:folio_likely_mapped_shared (Linux 6.12)
export function folioLikelyMappedShared(ft: FolioTable, f: number): boolean {
  const mapcount = folioMapcount(ft, f);
  if (ft.order[f]! === 0 || ft.flags[f]! & PG.HUGETLB) return mapcount > 1;
  if (mapcount <= 1) return false;
  if (folioEntireMapcount(ft, f) > 0 || mapcount > folioNrPages(ft, f)) return true;
  return pageMapcountRaw(ft, f, 0) > 0;
}

/** True while the folio is in a page cache (folio->mapping set, not anon). */
export function folioInPageCache(ft: FolioTable, f: number): boolean {
  const o = ft.owner[f];
  return o !== null && o !== undefined && o.kind === 'file';
}

// mirrors include/linux/mm.h:folio_expected_ref_count (no swap cache in the model)
export function folioExpectedRefCount(ft: FolioTable, f: number): number {
  if (ft.flags[f]! & PG.PGTABLE) return 0;
  let refs = 0;
  if (!(ft.flags[f]! & PG.ANON)) {
    if (folioInPageCache(ft, f)) refs += folioNrPages(ft, f);
    if (ft.flags[f]! & PG.PRIVATE) refs += 1;
  }
  return refs + folioMapcount(ft, f);
}

/** Each FOLL_PIN on a folio without _pincount adds this to _refcount (include/linux/mm.h). */
export const GUP_PIN_COUNTING_BIAS = 1024;

/**
 * May the folio be pinned for DMA? Exact for large folios (_pincount); for
 * small folios any refcount >= 1024 looks pinned (false positives allowed, false
 * negatives not). The unsigned read keeps a wrapped refcount looking pinned.
 */
// mirrors include/linux/mm.h:folio_maybe_dma_pinned
export function folioMaybeDmaPinned(ft: FolioTable, f: number): boolean {
  if (ft.order[f]! > 0) return ft.pincount[f]! > 0;
  return ft.refcount[f]! >>> 0 >= GUP_PIN_COUNTING_BIAS;
}

// ---------------------------------------------------------------------------
// PageAnonExclusive, per page.

function pageState(ft: FolioTable, f: number): PageState {
  let s = ft.pages.get(f);
  if (s === undefined) {
    s = { mapcount: null, excl: null, exclCount: 0 };
    ft.pages.set(f, s);
  }
  return s;
}

/** The per-page mapcount array of a large folio, allocated on first use. */
export function pageMapcounts(ft: FolioTable, f: number): Int32Array {
  const s = pageState(ft, f);
  if (s.mapcount === null) s.mapcount = new Int32Array(folioNrPages(ft, f)).fill(-1);
  return s.mapcount;
}

/**
 * Drop side state that has returned to the default (all -1 / all clear).
 * Called on every PTE rmap change of a large folio, so it must not scan: the
 * page mapcounts can only all be -1 once _nr_pages_mapped counts no page
 * (the scan then confirms it), and excl keeps its own count.
 */
export function pageStateTrim(ft: FolioTable, f: number): void {
  const s = ft.pages.get(f);
  if (s === undefined) return;
  if (s.mapcount !== null && (ft.nrMapped[f]! & FOLIO_PAGES_MAPPED) === 0 && s.mapcount.every((v) => v === -1)) s.mapcount = null;
  if (s.excl !== null && s.exclCount === 0) s.excl = null;
  if (s.mapcount === null && s.excl === null) ft.pages.delete(f);
}

// mirrors include/linux/page-flags.h:PageAnonExclusive
export function pageAnonExclusive(ft: FolioTable, f: number, i: number): boolean {
  if (i === 0) return (ft.flags[f]! & PG.ANON_EXCLUSIVE) !== 0;
  const s = ft.pages.get(f);
  return s?.excl ? s.excl[i] === 1 : false;
}

// mirrors include/linux/page-flags.h:SetPageAnonExclusive
export function setPageAnonExclusive(ft: FolioTable, f: number, i: number): void {
  if (i === 0) {
    ft.flags[f]! |= PG.ANON_EXCLUSIVE;
    return;
  }
  const s = pageState(ft, f);
  if (s.excl === null) s.excl = new Uint8Array(folioNrPages(ft, f));
  if (s.excl[i] === 0) s.exclCount++;
  s.excl[i] = 1;
}

// mirrors include/linux/page-flags.h:ClearPageAnonExclusive
export function clearPageAnonExclusive(ft: FolioTable, f: number, i: number): void {
  if (i === 0) {
    ft.flags[f]! &= ~PG.ANON_EXCLUSIVE;
    return;
  }
  const s = ft.pages.get(f);
  if (s?.excl && s.excl[i] === 1) {
    s.excl[i] = 0;
    s.exclCount--;
  }
}

/** Set or clear PageAnonExclusive on pages [i, i + n). */
export function setPagesAnonExclusive(ft: FolioTable, f: number, i: number, n: number, on: boolean): void {
  for (let k = i; k < i + n; k++) {
    if (on) setPageAnonExclusive(ft, f, k);
    else clearPageAnonExclusive(ft, f, k);
  }
}

/** Names of set flags, for introspection. */
export function folioFlagNames(ft: FolioTable, f: number): string[] {
  const names: [PG, string][] = [
    [PG.UPTODATE, 'uptodate'],
    [PG.DIRTY, 'dirty'],
    [PG.LRU, 'lru'],
    [PG.REFERENCED, 'referenced'],
    [PG.SWAPBACKED, 'swapbacked'],
    [PG.ANON, 'anon'],
    [PG.HUGETLB, 'hugetlb'],
    [PG.ZERO, 'zero'],
    [PG.PGTABLE, 'pgtable'],
    [PG.ANON_EXCLUSIVE, 'anon_exclusive'],
    [PG.MM_IDS_SHARED, 'mm_ids_shared'],
    [PG.PARTIALLY_MAPPED, 'partially_mapped'],
    [PG.RESERVED, 'reserved'],
    [PG.UNEVICTABLE, 'unevictable'],
    [PG.MLOCKED, 'mlocked'],
    [PG.PRIVATE, 'private'],
    [PG.HWPOISON, 'hwpoison'],
    [PG.HUGETLB_FREED, 'hugetlb_freed'],
    [PG.HUGETLB_RESTORE_RESERVE, 'hugetlb_restore_reserve'],
    [PG.VMEMMAP_OPTIMIZED, 'vmemmap_optimized'],
    [PG.SWAPCACHE, 'swapcache'],
  ];
  const fl = ft.flags[f]!;
  const out: string[] = [];
  for (const [bit, name] of names) if (fl & bit) out.push(name);
  if (ft.order[f]! > 0) out.push('large');
  return out;
}
