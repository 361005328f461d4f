/**
 * How a HugeTLB folio mapped at high granularity is counted: the decision
 * point of the HGM mapcount thread (seed 004; James Houghton's HugeTLB
 * high-granularity mapping series, never merged).
 *
 * HugeTLB HGM (src/mm/hugetlb_hgm.ts) maps pieces of a HugeTLB folio with
 * smaller entries (4 KiB PTEs; 2 MiB PMDs inside a 1 GiB page) under an
 * hstate-level entry that points to a page table. Upstream HugeTLB counts only
 * whole mappings (_entire_mapcount and _large_mapcount together, +1 per
 * hstate-level leaf); for the pieces each design in the thread counts
 * something else. The HGM code calls this interface at every event that
 * changes a piece or the table above the pieces; the designs live in
 * src/policy/hgm_mapcount.ts. Whole hstate-level leaves are counted the
 * upstream way by every design.
 *
 * Every design keeps the folio alive while anything maps it: each count it
 * takes comes with a folio reference, as Linux pairs them.
 */
import type { Host } from './host.js';
import type { PageTable } from './pgtable.js';

/** What the designs report. */
export interface HgmMetrics {
  /** Piece mappings refused because a counter would overflow (head-per-pte). */
  overflows: number;
  /** MADV_COLLAPSE calls on HugeTLB that collapsed something, by how secondary MMUs were told. */
  invalidateCollapses: number;
  postCollapses: number;
  /** Collapses that asked for the post-collapse notifier but changed PFNs, permissions or filled holes, so took the invalidate pair. */
  postCollapseFallbacks: number;
}

export function newHgmMetrics(): HgmMetrics {
  return { overflows: 0, invalidateCollapses: 0, postCollapses: 0, postCollapseFallbacks: 0 };
}

export interface HgmMapcount {
  /** The design's name in the registry ('off', 'thp-like', ...). */
  readonly name: string;
  /** HGM exists in this kernel (false: Linux 6.12; MADV_SPLIT is unknown advice). */
  readonly enabled: boolean;
  /** The design writes tail struct pages (per-page _mapcount), which HVO maps read-only. */
  readonly needsWritableTailPages: boolean;
  /** The design counts the hstate-level entry above the pieces, not the pieces (pgtable, special-bit). */
  readonly countsTables: boolean;
  readonly metrics: HgmMetrics;
  /**
   * A high-granularity leaf is about to map pages [page, page + nr) of HugeTLB
   * folio f under the hstate-level entry hs[hi] (which points to a table).
   * Take what the design keeps (counts, references); 0, or -ENOMEM with
   * nothing taken when a counter would overflow.
   */
  mapPiece(host: Host, hs: PageTable, hi: number, f: number, page: number, nr: number): number;
  /**
   * count consecutive leaves of nr pages each, mapping pages [page, page +
   * count * nr) of f, were cleared (zap, collapse). One call for the run (the
   * model's speed), counted per leaf, as HGM zapped entry by entry.
   */
  unmapPieces(host: Host, hs: PageTable, hi: number, f: number, page: number, nr: number, count: number): void;
  /** A zap covered the whole range of hs[hi] (every leaf below it is gone; the table stays). */
  regionZapped(host: Host, hs: PageTable, hi: number): void;
  /**
   * The table below hs[hi] is about to be freed: by munmap or exit
   * (collapseTo 0), or by a collapse that maps folio collapseTo with one
   * hstate-level leaf. Drops what the table held; returns true if the
   * table's count and reference become the new leaf's (the caller takes none).
   */
  tableFreed(host: Host, hs: PageTable, hi: number, collapseTo: number): boolean;
  /** The folio whose count the table below hs[hi] holds, or 0 (the oracle's recomputation). */
  tableFolio(hs: PageTable, hi: number): number;
  /** The per-page _mapcount + 1 of page i of f (thp-like; 0 for the others). */
  subpageMapcount(f: number, i: number): number;
  /** Folios with per-page counts and those counts (the oracle). */
  subpageFolios(): IterableIterator<[number, Int32Array]>;
}

/** Linux 6.12: no HGM. Nothing reaches the piece hooks, since MADV_SPLIT is refused. */
export class NoHgm implements HgmMapcount {
  readonly name = 'off';
  readonly enabled = false;
  readonly needsWritableTailPages = false;
  readonly countsTables = false;
  readonly metrics = newHgmMetrics();
  mapPiece(): number {
    throw new Error('internal: HGM piece mapped without HGM');
  }
  unmapPieces(): void {
    throw new Error('internal: HGM piece unmapped without HGM');
  }
  regionZapped(): void {}
  tableFreed(): boolean {
    return false;
  }
  tableFolio(): number {
    return 0;
  }
  subpageMapcount(): number {
    return 0;
  }
  subpageFolios(): IterableIterator<[number, Int32Array]> {
    return new Map<number, Int32Array>().entries();
  }
}
