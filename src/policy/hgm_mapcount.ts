/**
 * The HGM mapcount designs of seed 004 (thread on HGM v1 21/46, Jan-Feb
 * 2023; James Houghton's taxonomy in CADrL8HUSx6=K0QX..., 7 Feb 2023). Each
 * says what mapping a piece of a HugeTLB folio (a 4 KiB PTE, or a 2 MiB PMD
 * inside a 1 GiB page) adds to the folio's counters; whole hstate-level
 * leaves count the upstream way (+1 on _entire_mapcount and _large_mapcount)
 * in all of them. docs/POLICIES.md has the arguments.
 *
 *   thp-like      (v2): +1 on the _mapcount of every 4 KiB page a piece
 *                 covers (a 2 MiB piece of a 1 GiB page: 512), and
 *                 _large_mapcount by as many, so folio_mapcount stays
 *                 entire + sum of the page counts (invariant 1); one reference
 *                 per piece. Needs writable tail struct pages (no HVO).
 *   head-per-pte  (RFC v2 / v1): +1 on the head (_entire_mapcount and
 *                 _large_mapcount) and one reference per piece, whatever
 *                 its size; refused with ENOMEM before the 32-bit count
 *                 would overflow.
 *   pgtable       (RFC v1): +1 and one reference while the hstate-level entry
 *                 is not none, leaf or table; pieces count nothing. A zap
 *                 clears leaves only, so the count outlives truncation
 *                 (Peter Xu, Y+PKwvLT8+wQ6LPA@x1n).
 *   special-bit   (James' reply): as pgtable, but _PAGE_SPECIAL on the
 *                 hstate-level non-leaf entry says the count was taken. A
 *                 zap that covers the entry's whole range may then drop the
 *                 count and clear the bit under the page-table lock, with no
 *                 need to free the table; the next piece takes it again.
 */
import { pow2 } from '../lib/pow2.js';
import { Ev } from '../cost/counters.js';
import { type HgmMapcount, newHgmMetrics } from '../mm/hgm_mapcount.js';
import type { Host } from '../mm/host.js';
import { type PageTable, Pte, setEntry } from '../mm/pgtable.js';

const ENOMEM = -12;
/** No folio has per-page counts (every design but thp-like). */
const NO_SUBPAGES: ReadonlyMap<number, Int32Array> = new Map();

/** _entire_mapcount + 1 and _large_mapcount + 1 of a HugeTLB folio by delta (hugetlb_add_file_rmap / hugetlb_remove_rmap). */
function headMapcount(host: Host, f: number, delta: number): void {
  const ft = host.ft;
  ft.entire[f] = ft.entire[f]! + delta;
  ft.mapcount[f] = ft.mapcount[f]! + delta;
  host.ev[Ev.ATOMIC_MAPCOUNT]++;
}

/**
 * The head-count atomic and the reference of count pieces, dropped at once
 * but counted one per piece: HGM's zap works entry by entry
 * (hugetlb_remove_rmap / page_remove_rmap and a put for each hugetlb_pte).
 */
function putPieces(host: Host, f: number, count: number): void {
  host.ev[Ev.ATOMIC_MAPCOUNT] += count;
  host.folioPut(f, count);
  host.ev[Ev.ATOMIC_REFCOUNT] += count - 1;
}

/** Per-page counts of one folio: _mapcount + 1 of each page, and how many pieces map any of them. */
interface SubpageCounts {
  readonly counts: Int32Array;
  /** Sum of counts: the array goes when it reaches 0. */
  total: number;
}

/** What the designs counting pieces (not tables) share: tables hold nothing, no per-page counts unless overridden. */
abstract class PieceCountingHgm implements HgmMapcount {
  abstract readonly name: string;
  readonly enabled = true;
  readonly needsWritableTailPages: boolean = false;
  readonly countsTables = false;
  readonly metrics = newHgmMetrics();
  abstract mapPiece(host: Host, hs: PageTable, hi: number, f: number, page: number, nr: number): number;
  abstract unmapPieces(host: Host, hs: PageTable, hi: number, f: number, page: number, nr: number, count: number): void;
  regionZapped(): void {}
  tableFreed(): boolean {
    return false;
  }
  tableFolio(): number {
    return 0;
  }
  subpageMapcount(_f: number, _i: number): number {
    return 0;
  }
  subpageFolios(): IterableIterator<[number, Int32Array]> {
    return NO_SUBPAGES.entries();
  }
}

/** v2: per-4 KiB-page _mapcount, as for a PTE-mapped THP. */
export class ThpLikeHgm extends PieceCountingHgm {
  readonly name = 'thp-like';
  override readonly needsWritableTailPages = true;
  /** Folios mapped at high granularity -> their per-page counts (allocated on first piece, freed when all are 0). */
  private readonly sub = new Map<number, SubpageCounts>();
  /** The last folio looked up: collapse and CONTINUE loops touch one folio many times. */
  private lastF = 0;
  private last: SubpageCounts | null = null;

  private counts(host: Host, f: number, create: boolean): SubpageCounts | null {
    if (f === this.lastF && this.last !== null) return this.last;
    let s = this.sub.get(f) ?? null;
    if (s === null && create) {
      s = { counts: new Int32Array(pow2(host.ft.order[f]!)), total: 0 };
      this.sub.set(f, s);
    }
    this.lastF = f;
    this.last = s;
    return s;
  }

  mapPiece(host: Host, _hs: PageTable, _hi: number, f: number, page: number, nr: number): number {
    const s = this.counts(host, f, true)!;
    const c = s.counts;
    for (let i = page; i < page + nr; i++) c[i]!++;
    s.total += nr;
    host.ev[Ev.HGM_SUBPAGE_MAPCOUNT] += nr;
    // _large_mapcount keeps folio_mapcount = entire + sum of page counts.
    host.ft.mapcount[f] = host.ft.mapcount[f]! + nr;
    host.ev[Ev.ATOMIC_MAPCOUNT]++;
    host.folioGet(f);
    return 0;
  }

  unmapPieces(host: Host, _hs: PageTable, _hi: number, f: number, page: number, nr: number, count: number): void {
    const s = this.counts(host, f, false);
    if (s === null) throw new Error('internal: thp-like HGM unmap of a folio without page counts');
    const c = s.counts;
    const pages = nr * count;
    for (let i = page; i < page + pages; i++) c[i]!--;
    s.total -= pages;
    host.ev[Ev.HGM_SUBPAGE_MAPCOUNT] += pages;
    host.ft.mapcount[f] = host.ft.mapcount[f]! - pages;
    if (s.total === 0) {
      this.sub.delete(f);
      this.last = null;
      this.lastF = 0;
    }
    putPieces(host, f, count);
  }


  override subpageMapcount(f: number, i: number): number {
    const s = this.sub.get(f);
    return s === undefined ? 0 : s.counts[i]!;
  }

  override subpageFolios(): IterableIterator<[number, Int32Array]> {
    const it = this.sub.entries();
    return (function* () {
      for (const [f, s] of it) yield [f, s.counts] as [number, Int32Array];
    })();
  }
}

/** Largest true count a 32-bit atomic_t holds: _entire_mapcount and _refcount stop before it. */
export const HEAD_MAPCOUNT_MAX = 0x7fffffff;

/** RFC v2 / v1: one count on the head per page-table entry mapping any part of the folio. */
export class HeadPerPteHgm extends PieceCountingHgm {
  readonly name = 'head-per-pte';

  mapPiece(host: Host, _hs: PageTable, _hi: number, f: number): number {
    const ft = host.ft;
    // The overflow check: 2^18 entries per 1 GiB mapping at 4 KiB leave room for about 8k such mappings.
    if (ft.entire[f]! + 1 >= HEAD_MAPCOUNT_MAX || ft.refcount[f]! >= HEAD_MAPCOUNT_MAX) {
      this.metrics.overflows++;
      return ENOMEM;
    }
    headMapcount(host, f, 1);
    host.folioGet(f);
    return 0;
  }

  unmapPieces(host: Host, _hs: PageTable, _hi: number, f: number, _page: number, _nr: number, count: number): void {
    const ft = host.ft;
    ft.entire[f] = ft.entire[f]! - count;
    ft.mapcount[f] = ft.mapcount[f]! - count;
    putPieces(host, f, count);
  }
}

/**
 * RFC v1: the count belongs to the hstate-level entry. The model remembers
 * which folio each table counted (Linux would look the page cache up again
 * when freeing the table, and after a truncation find nothing there, or a
 * new folio).
 */
export class PgtableHgm implements HgmMapcount {
  readonly name: string = 'pgtable';
  readonly enabled = true;
  readonly needsWritableTailPages = false;
  readonly countsTables = true;
  readonly metrics = newHgmMetrics();
  /** The folio each counted table (the child of an hstate-level entry) holds a count on. */
  protected readonly counted = new WeakMap<PageTable, number>();

  /** Has the table below hs[hi] taken its count? */
  protected isCounted(hs: PageTable, hi: number): boolean {
    return this.counted.has(hs.kids![hi]!);
  }

  protected take(host: Host, hs: PageTable, hi: number, f: number): void {
    this.counted.set(hs.kids![hi]!, f);
    headMapcount(host, f, 1);
    host.folioGet(f);
  }

  /** Drop the table's count; returns the folio it was on. */
  protected drop(host: Host, hs: PageTable, hi: number, put: boolean): number {
    const t = hs.kids![hi]!;
    const f = this.counted.get(t) ?? 0;
    if (f === 0) return 0;
    this.counted.delete(t);
    if (put) {
      headMapcount(host, f, -1);
      host.folioPut(f);
    }
    return f;
  }

  mapPiece(host: Host, hs: PageTable, hi: number, f: number): number {
    // "Is the hstate-level entry counted?" The entry is not none, so RFC v1
    // assumes so even when the count is a truncated folio's: f then gets none.
    if (!this.isCounted(hs, hi)) this.take(host, hs, hi, f);
    return 0;
  }

  unmapPieces(): void {}

  /** RFC v1: a zap clears leaves only; the count stays with the table. */
  regionZapped(_host: Host, _hs: PageTable, _hi: number): void {}

  tableFreed(host: Host, hs: PageTable, hi: number, collapseTo: number): boolean {
    const t = hs.kids![hi]!;
    const f = this.counted.get(t) ?? 0;
    if (f !== 0 && f === collapseTo) {
      // The cheap collapse: the table's count and reference become the leaf's.
      this.drop(host, hs, hi, false);
      return true;
    }
    this.drop(host, hs, hi, true);
    return false;
  }

  tableFolio(hs: PageTable, hi: number): number {
    const t = hs.kids?.[hi];
    return t === undefined ? 0 : (this.counted.get(t) ?? 0);
  }

  subpageMapcount(): number {
    return 0;
  }

  subpageFolios(): IterableIterator<[number, Int32Array]> {
    return NO_SUBPAGES.entries();
  }
}

/** pgtable plus _PAGE_SPECIAL on the hstate-level non-leaf entry while its count is taken. */
export class SpecialBitHgm extends PgtableHgm {
  override readonly name = 'special-bit';

  protected override take(host: Host, hs: PageTable, hi: number, f: number): void {
    super.take(host, hs, hi, f);
    setEntry(host, hs, hi, hs.pfn[hi]!, hs.fl[hi]! | Pte.SPECIAL);
  }

  protected override drop(host: Host, hs: PageTable, hi: number, put: boolean): number {
    if (hs.fl[hi]! & Pte.SPECIAL) setEntry(host, hs, hi, hs.pfn[hi]!, hs.fl[hi]! & ~Pte.SPECIAL);
    return super.drop(host, hs, hi, put);
  }

  protected override isCounted(hs: PageTable, hi: number): boolean {
    return (hs.fl[hi]! & Pte.SPECIAL) !== 0;
  }

  /**
   * The zap covered the whole entry: under the page-table lock it may clear
   * the bit and drop the count without freeing the table (which would need
   * mmap_lock for write). This is what the bit buys over pgtable.
   */
  override regionZapped(host: Host, hs: PageTable, hi: number): void {
    if (this.isCounted(hs, hi)) this.drop(host, hs, hi, true);
  }
}
