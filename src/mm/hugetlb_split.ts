/**
 * Split and merge of in-use HugeTLB pages: the guestmem_hugetlb allocator of
 * the 1 GiB guest_memfd series (RFC v2, guestmem_hugetlb_split_folio and
 * guestmem_hugetlb_merge_folio), which guest_memfd's 'split' design uses
 * when a page of a 1 GiB folio becomes shared.
 *
 * Linux initialises all 262,144 struct pages of a 1 GiB page at the split.
 * The model can also make the pieces lazily (hugetlbSplitFolioLazy): a piece
 * gets its folio slot, memmap entry and page-cache entry only when something
 * looks it up (Host.pfnFolio, filemapGetFolio). Until then it is in the state
 * every piece has right after the split, which one record holds for all:
 *
 *   LazyPieces   head pfn, nr        the split page
 *                flags               every lazy piece's folio flags
 *                mapping, index0     the page cache holding lazy piece k at
 *                                    index0 + k with its reference (refcount 2:
 *                                    the cache's and the split page's), or
 *                                    null (refcount 1: the split page's)
 *                content             the split page's bytes (PageContent.detach)
 *                done                the pieces materialized so far
 *
 * A page-cache walk sees only materialized pieces: a walk that must see every
 * page materializes its range first (hugetlbMaterializeRange), and the oracle
 * materializes everything before it checks (hugetlbMaterializeAll). A merge
 * touches only the materialized pieces. Events are counted for every piece,
 * lazy or not, so simulated time does not depend on the representation.
 */
import { modPow2, pow2 } from '../lib/pow2.js';
import { IntMap } from '../lib/int_map.js';
import { Ev } from '../cost/counters.js';
import { PG } from './folio.js';
import type { AddressSpace } from './fs_types.js';
import type { Host } from './host.js';
import type { Hstate, Subpool } from './hugetlb.js';
import { VMEMMAP_SYNCHRONIZE_RCU, hugetlbVmemmapOptimizeFolio, hugetlbVmemmapRestoreFolio } from './hugetlb_vmemmap.js';
import type { ContentSnapshot } from './page_content.js';

const EBUSY = -16;
const EINVAL = -22;

/** A split HugeTLB page: still an in-use pool page, now pieces of pieceOrder. */
export interface SplitHugePage {
  readonly hstate: Hstate;
  readonly pieceOrder: number;
  readonly spool: Subpool | null;
  /** The pieces not made yet (a lazy split); null once every piece exists. */
  lazy: LazyPieces | null;
}

/** The 4 KiB pieces of a lazily split page that nothing has looked up yet (see the file comment). */
export interface LazyPieces {
  readonly head: number;
  readonly nr: number;
  flags: number;
  mapping: AddressSpace | null;
  index0: number;
  readonly content: ContentSnapshot;
  /** Piece numbers (pfn - head) materialized one by one so far, in the order they were (materializeAll, which retires the record, adds none). */
  readonly done: number[];
}

/** A mapping's lazily split pages of nr pages each, by the index of their first page. */
export interface LazyRuns {
  readonly host: Host;
  readonly nr: number;
  readonly runs: IntMap<LazyPieces>;
}

/** The checks and the vmemmap restore both splits start with: 0, or a negative errno with nothing changed. */
function splitPrepare(host: Host, f: number, newOrder: number): number {
  const ft = host.ft;
  const s = host.hugetlb;
  if (!(ft.flags[f]! & PG.HUGETLB) || ft.flags[f]! & PG.HUGETLB_FREED) return EINVAL;
  if (newOrder >= ft.order[f]! || (newOrder !== 0 && !s.hstates.some((x) => x.order === newOrder))) return EINVAL;
  if (ft.refcount[f] !== 1 || ft.mapcount[f] !== -1 || ft.owner[f] !== null || ft.pincount[f] !== 0) return EBUSY;
  if (ft.flags[f]! & PG.VMEMMAP_OPTIMIZED) return hugetlbVmemmapRestoreFolio(host, f, VMEMMAP_SYNCHRONIZE_RCU);
  return 0;
}

/** Record the split of f (head pfn, hstate, subpool) and count it. */
function splitRecord(host: Host, f: number, newOrder: number, lazy: LazyPieces | null): void {
  const s = host.hugetlb;
  const pfn = host.ft.pfn[f]!;
  const spool = s.folioSubpool.get(f) ?? null;
  s.folioSubpool.delete(f);
  s.split.set(pfn, { hstate: s.hstateOf(f), pieceOrder: newOrder, spool, lazy });
  host.ev[Ev.THP_SPLIT_PAGE]++;
}

/**
 * Split in-use HugeTLB folio f into folios of newOrder (0, or 9 for a 1 GiB
 * page): the head slot keeps the first piece. f must hold only the caller's
 * reference, with no mapping, page cache or pin (-EBUSY otherwise); its
 * vmemmap is restored first, since every piece needs its own struct pages
 * (-ENOMEM when that fails, nothing changed). The page stays in use in its
 * hstate (nr_hugepages unchanged); the caller's reference becomes one on each
 * piece, which stays the split page's until hugetlbMergeFolio. Returns the
 * pieces' slots, or a negative errno.
 */
// mirrors the 1 GiB series RFC v2's guestmem_hugetlb_split_folio
export function hugetlbSplitFolio(host: Host, f: number, newOrder: number): Int32Array | number {
  const rc = splitPrepare(host, f, newOrder);
  if (rc !== 0) return rc;
  const ft = host.ft;
  const order = ft.order[f]!;
  const pfn = ft.pfn[f]!;
  const per = pow2(newOrder);
  const n = pow2(order - newOrder);
  splitRecord(host, f, newOrder, null);
  // A typed array: a 1 GiB page has 262,144 pieces (a growing JS array cost more than the pieces).
  const slots = new Int32Array(n);
  slots[0] = f;
  for (let k = 1; k < n; k++) slots[k] = ft.alloc(pfn + k * per, newOrder);
  host.memmap.delete(pfn, order);
  host.content.splitInto(f, slots, per);
  const keep = ft.flags[f]! & (PG.UPTODATE | PG.DIRTY);
  ft.init(f, pfn, newOrder);
  for (let k = 0; k < n; k++) ft.flags[slots[k]!] = keep;
  // 4 KiB pieces go into the memmap a leaf at a time (a 1 GiB page has 262,144 of them).
  if (newOrder === 0) host.memmap.setRun(pfn, slots, n);
  else for (let k = 0; k < n; k++) host.memmap.set(pfn + k * per, newOrder, slots[k]!);
  return slots;
}

/**
 * hugetlbSplitFolio(host, f, 0) with the pieces made lazily: every piece is
 * as hugetlbSplitFolio leaves it (refcount 1, the page's UPTODATE and DIRTY,
 * its bytes), but none has a slot until it is looked up. Returns the record,
 * or a negative errno with nothing changed. filemapAddLazyPieces puts the
 * pieces in a page cache, as filemapAddFolios does eager ones.
 */
// mirrors the 1 GiB series RFC v2's guestmem_hugetlb_split_folio (its struct pages made on first use)
export function hugetlbSplitFolioLazy(host: Host, f: number): LazyPieces | number {
  const rc = splitPrepare(host, f, 0);
  if (rc !== 0) return rc;
  const ft = host.ft;
  const pfn = ft.pfn[f]!;
  const nr = pow2(ft.order[f]!);
  const lazy: LazyPieces = { head: pfn, nr, flags: ft.flags[f]! & (PG.UPTODATE | PG.DIRTY), mapping: null, index0: 0, content: host.content.detach(f), done: [] };
  splitRecord(host, f, 0, lazy);
  host.memmap.delete(pfn, ft.order[f]!);
  ft.release(f);
  host.hugetlb.lazySplits++;
  // Installed once: a hook made per split would be garbage per conversion.
  host.lazyPfn ??= (p) => lazyPfnFolio(host, p);
  return lazy;
}

/** Host.pfnFolio of a pfn with no memmap entry: a lazy piece, made now; else 0. */
function lazyPfnFolio(host: Host, pfn: number): number {
  if (host.hugetlb.lazySplits === 0) return 0;
  for (const h of host.hugetlb.hstates) {
    const head = pfn - modPow2(pfn, h.nrPages);
    const lazy = host.hugetlb.split.get(head)?.lazy;
    // (pfnFolio found no memmap entry at pfn: the piece is not made yet.)
    if (lazy !== undefined && lazy !== null) return materializePiece(host, lazy, pfn - head);
  }
  return 0;
}

/** filemapGetFolio of an index with no page-cache entry: a lazy piece, made now; else 0. */
export function lazyPieceAt(mapping: AddressSpace, index: number): number {
  const lr = mapping.lazy!;
  const index0 = index - modPow2(index, lr.nr);
  const lazy = lr.runs.get(index0);
  return lazy === undefined ? 0 : materializePiece(lr.host, lazy, index - index0);
}

/** The lazy split page whose pieces the mapping holds at index0 (its first index), or null. */
export function lazyRunAt(mapping: AddressSpace, index0: number): LazyPieces | null {
  return mapping.lazy?.runs.get(index0) ?? null;
}

/** Give lazy piece k its slot, memmap entry, bytes and (if cached) page-cache entry. */
function materializePiece(host: Host, lazy: LazyPieces, k: number): number {
  const ft = host.ft;
  const g = ft.alloc(lazy.head + k, 0);
  pieceInit(host, lazy, k, g);
  host.memmap.set(lazy.head + k, 0, g);
  if (lazy.mapping !== null) lazy.mapping.pages.set(lazy.index0 + k, 0, g);
  lazy.done.push(k);
  if (lazy.done.length === lazy.nr) lazyDone(host, lazy);
  return g;
}

/** A new slot g as lazy piece k is: the split page's reference, the cache's if cached, the page's flags and bytes. */
function pieceInit(host: Host, lazy: LazyPieces, k: number, g: number): void {
  const ft = host.ft;
  ft.flags[g] = lazy.flags;
  host.content.takePage(lazy.content, k, g);
  if (lazy.mapping === null) return;
  ft.refcount[g] = 2;
  ft.owner[g] = lazy.mapping;
  ft.index[g] = lazy.index0 + k;
}

/** Every piece exists now: the split is an ordinary one. */
function lazyDone(host: Host, lazy: LazyPieces): void {
  const s = host.hugetlb;
  s.split.get(lazy.head)!.lazy = null;
  if (lazy.mapping !== null) lazyRunsDelete(lazy.mapping, lazy);
  s.lazySplits--;
}

/** Register a lazy split in its mapping's runs (filemapAddLazyPieces). */
export function lazyRunsAdd(host: Host, mapping: AddressSpace, lazy: LazyPieces): void {
  mapping.lazy ??= { host, nr: lazy.nr, runs: new IntMap() };
  if (mapping.lazy.nr !== lazy.nr) throw new RangeError(`lazy pieces of ${lazy.nr} pages in a mapping of ${mapping.lazy.nr}-page runs`);
  mapping.lazy.runs.set(lazy.index0, lazy);
}

/** Take a lazy split out of its mapping's runs (the empty map stays: the next split would make it again). */
export function lazyRunsDelete(mapping: AddressSpace, lazy: LazyPieces): void {
  mapping.lazy!.runs.delete(lazy.index0);
}

/**
 * Make every piece of a lazy split not made yet, a leaf of entries at a time.
 * The record retires at the end (lazyDone), so `done` is not kept up to date
 * here: 262,144 pushes were a tenth of the oracle's first check after a split.
 */
function materializeAll(host: Host, lazy: LazyPieces): void {
  const ft = host.ft;
  const done = lazy.done.slice().sort((a, b) => a - b);
  const gaps: [number, number][] = [];
  let at = 0;
  for (const k of done) {
    if (k > at) gaps.push([at, k]);
    at = k + 1;
  }
  if (at < lazy.nr) gaps.push([at, lazy.nr]);
  ft.reserve(lazy.nr - lazy.done.length);
  for (const [a, b] of gaps) {
    const slots = new Int32Array(b - a);
    for (let k = a; k < b; k++) {
      const g = ft.alloc(lazy.head + k, 0);
      pieceInit(host, lazy, k, g);
      slots[k - a] = g;
    }
    host.memmap.setRun(lazy.head + a, slots, b - a);
    if (lazy.mapping !== null) lazy.mapping.pages.setRun(lazy.index0 + a, slots, b - a);
  }
  lazyDone(host, lazy);
}

/** Make the lazy pieces a mapping holds in [start, end), for a walk that must see every page of the range. */
export function hugetlbMaterializeRange(host: Host, mapping: AddressSpace, start: number, end: number): void {
  const lr = mapping.lazy;
  if (lr === null || lr === undefined) return;
  const hit: LazyPieces[] = [];
  for (const lazy of lr.runs.values()) if (lazy.index0 < end && lazy.index0 + lr.nr > start) hit.push(lazy);
  for (const lazy of hit) materializeAll(host, lazy);
}

/** Make every piece of the split page at headPfn that is not made yet. */
export function hugetlbMaterializeSplit(host: Host, headPfn: number): void {
  const lazy = host.hugetlb.split.get(headPfn)?.lazy;
  if (lazy !== undefined && lazy !== null) materializeAll(host, lazy);
}

/**
 * Make every lazy piece (the oracle checks each struct page, as a crash-dump
 * tool reads them; the state it checks is the one an eager split leaves).
 */
export function hugetlbMaterializeAll(host: Host): void {
  if (host.hugetlb.lazySplits === 0) return;
  const all: LazyPieces[] = [];
  let pieces = 0;
  for (const sp of host.hugetlb.split.values()) {
    if (sp.lazy === null) continue;
    all.push(sp.lazy);
    pieces += sp.lazy.nr - sp.lazy.done.length;
  }
  // One growth of the folio table for all of them.
  host.ft.reserve(pieces);
  for (const lazy of all) materializeAll(host, lazy);
}

/**
 * Merge the pieces of the split HugeTLB page at headPfn back into one folio
 * (refcount 1, HUGETLB), with their contents, and optimize its vmemmap again
 * if HVO is on. -EBUSY if a piece has a reference beyond the split page's, a
 * mapping or a page cache; -EINVAL if headPfn is no split page. Returns the
 * slot. Of a lazy split, only the pieces made are looked at: the others are
 * as the split left them.
 */
// mirrors the 1 GiB series RFC v2's guestmem_hugetlb_merge_folio
export function hugetlbMergeFolio(host: Host, headPfn: number): number {
  const ft = host.ft;
  const s = host.hugetlb;
  const rec = s.split.get(headPfn);
  if (rec === undefined) return EINVAL;
  const h = rec.hstate;
  const per = pow2(rec.pieceOrder);
  const lazy = rec.lazy;
  // The lazy pieces are in a page cache, or hold only the split page's reference.
  if (lazy !== null && lazy.mapping !== null) return EBUSY;
  const n = lazy !== null ? lazy.done.length : h.nrPages / per;
  let pieces: number[] | Int32Array;
  // Of a lazy split, the pieces made (usually one or two).
  if (lazy !== null) pieces = lazy.done.map((k) => host.memmap.get(headPfn + k));
  else {
    pieces = new Int32Array(n);
    if (per === 1) host.memmap.getRun(headPfn, n, pieces);
    else for (let k = 0; k < n; k++) pieces[k] = host.memmap.get(headPfn + k * per);
  }
  for (let k = 0; k < n; k++) {
    const g = pieces[k]!;
    if (g <= 0 || ft.order[g] !== rec.pieceOrder || ft.refcount[g] !== 1 || ft.mapcount[g] !== -1 || ft.owner[g] !== null || ft.pincount[g] !== 0) return EBUSY;
  }
  // The first piece's state, made or not.
  const first = lazy === null ? pieces[0]! : host.memmap.get(headPfn);
  const flags = (first > 0 ? ft.flags[first]! : lazy!.flags) & (PG.UPTODATE | PG.DIRTY);
  if (lazy !== null) for (const k of lazy.done) host.memmap.delete(headPfn + k, 0);
  else if (rec.pieceOrder === 0) host.memmap.deleteRun(headPfn, n);
  else for (const g of pieces) host.memmap.delete(ft.pfn[g]!, rec.pieceOrder);
  // The merged folio in a slot of its own; the pieces' contents are copied page by page.
  const f = ft.alloc(headPfn, h.order);
  host.memmap.set(headPfn, h.order, f);
  if (lazy !== null) {
    host.content.attach(f, lazy.content);
    for (let i = 0; i < n; i++) host.content.copyPage(f, h.nrPages, lazy.done[i]!, pieces[i]!, 0);
    s.lazySplits--;
  } else {
    const uniform = host.content.uniformByte(pieces[0]!);
    let allSame = uniform >= 0;
    for (let k = 1; k < n && allSame; k++) allSame = host.content.uniformByte(pieces[k]!) === uniform;
    if (allSame) host.content.setUniform(f, uniform);
    else for (let k = 0; k < n; k++) for (let i = 0; i < per; i++) host.content.copyPage(f, h.nrPages, k * per + i, pieces[k]!, i);
  }
  for (const g of pieces) {
    host.content.drop(g);
    ft.release(g);
  }
  ft.flags[f] = PG.HUGETLB | flags;
  if (rec.spool !== null) s.folioSubpool.set(f, rec.spool);
  s.split.delete(headPfn);
  // hugetlb_vmemmap_optimize_folios of this one folio.
  hugetlbVmemmapOptimizeFolio(host, f, VMEMMAP_SYNCHRONIZE_RCU, s.optimizeVmemmap);
  return f;
}
