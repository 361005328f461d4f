/**
 * The pin-accounting designs argued in seeds 002 and 003, beside upstream's
 * (src/mm/pin_policy.ts:UpstreamPins). Each answers folio_maybe_dma_pinned its
 * own way; all keep a pinned folio alive with one reference per pin, so the
 * rest of mm (migration's reference freeze, split_folio) sees pins as Linux
 * sees any extra reference.
 *
 *   exact          an exact 32-bit pin count per 4 KiB page, kept in a second
 *                  struct page beside each page (seed 003 (b), "2 adjacent
 *                  struct pages"): no false positives, no false negatives.
 *   pmd-aggregate  one counter per PMD entry, kept in the page-table page's
 *                  struct page (_pt_pad_1, seed 003 (a)): "is it pinned?" is
 *                  answered per 2 MiB of the mm that pinned, and counts move
 *                  in steps of 2 because bit 0 must stay clear.
 *   mm-sticky      nothing per page: fork treats every anonymous page of an mm
 *                  that ever pinned (MMF_HAS_PINNED) as pinned (the 2020
 *                  has_pinned design taken alone). Questions without an mm are
 *                  answered by "more references than mappings and page cache".
 *   page-sticky    a "was ever pinned" bit per struct page, set on the first
 *                  pin and never cleared (seed 003 (c), John Hubbard's "once
 *                  you mark one sticky like this, it's out of play"): the bit
 *                  outlives the pin, the process and the page's next owners.
 *   pte-bit        a software bit in the page-table entry GUP pinned through
 *                  (Linus's shadow PTE bit, seed 003), read by fork; unpin
 *                  cannot find the entry, so the bit lasts until the entry is
 *                  zapped or replaced. Questions without an mm are answered as
 *                  mm-sticky answers them.
 */
import { errno } from '../uapi/errno.js';
import { Ev } from '../cost/counters.js';
import { PG, folioExpectedRefCount } from '../mm/folio.js';
import type { Host } from '../mm/host.js';
import { MMF } from '../mm/mm_types.js';
import { LEVEL_SPAN, Level, PAGE_SIZE } from '../mm/page.js';
import { type PageTable, Pte, type Walk, setEntry, walk } from '../mm/pgtable.js';
import { rmapWalk } from '../mm/rmap.js';
import { type PinAccounting, type PinQuery, folioPinReleased, judged, newPinMetrics, pinAcquired, pinBecomesFolioPin, pinReleased } from '../mm/pin_policy.js';

/** sizeof(struct page) on x86-64: what the adjacent struct page costs per 4 KiB page. */
const STRUCT_PAGE_BYTES = 64;
/** The folio keeps one reference per pin; _refcount is a signed 32-bit atomic_t. */
const REFCOUNT_PINS = 2 ** 31 - 1;

/**
 * The parts every one-reference-per-pin design shares: grab takes a folio
 * reference (refusing on overflow, as try_grab_folio does), put drops it.
 */
abstract class RefPerPin implements PinAccounting {
  abstract readonly name: string;
  readonly exclusiveSupported: boolean = false;
  readonly metrics = newPinMetrics();
  abstract readonly maxPinsPerPage: number;
  abstract readonly mayMissPins: boolean;

  /** Count the pins in the design's own structure. */
  protected abstract count(host: Host, f: number, page: number, refs: number, at: PinQuery): void;
  protected abstract uncount(host: Host, f: number, page: number, refs: number): void;
  /** A page pin becomes a pin of the whole folio, and one is dropped: the design's own structure. */
  /** The pin on `page` now stands for the folio and reaches pages [page, page + nr). */
  protected abstract countToFolio(host: Host, f: number, page: number, nr: number): void;
  /** Undo countToFolio(f, page, nr). */
  protected abstract uncountFolio(host: Host, f: number, page: number, nr: number): void;
  abstract maybePinned(host: Host, f: number, page: number, nr: number, q: PinQuery): boolean;
  abstract metadataBytes(host: Host): number;
  abstract audit(host: Host, f: number, pins: number): string | null;

  grab(host: Host, f: number, page: number, refs: number, _flags: number, at: PinQuery): number {
    const ft = host.ft;
    const r = ft.refcount[f]!;
    if (r <= 0 || r + refs > REFCOUNT_PINS) {
      this.metrics.overflows++;
      return -errno.ENOMEM;
    }
    ft.refcount[f] = r + refs;
    host.ev[Ev.ATOMIC_REFCOUNT]++;
    this.count(host, f, page, refs, at);
    pinAcquired(host, f, page, refs);
    return 0;
  }

  put(host: Host, f: number, page: number, refs: number, _flags: number): void {
    pinReleased(host, f, page, refs);
    this.uncount(host, f, page, refs);
    host.folioPut(f, refs);
  }

  addPin(host: Host, f: number, page: number): void {
    host.ft.refcount[f] = host.ft.refcount[f]! + 1;
    this.count(host, f, page, 1, { mm: null, addr: -1 });
    pinAcquired(host, f, page, 1);
  }

  toFolioPin(host: Host, f: number, page: number, nr: number): void {
    this.countToFolio(host, f, page, nr);
    pinBecomesFolioPin(host, f, page, nr);
  }

  putFolioPin(host: Host, f: number, page: number, _flags: number): void {
    this.uncountFolio(host, f, page, folioPinReleased(host, f, page));
    host.folioPut(f, 1);
  }

  exclusivelyPinned(): boolean {
    return false;
  }

  unexc(): number {
    return -errno.EINVAL;
  }

  reexc(): number {
    return -errno.EINVAL;
  }

  heldRefs(_host: Host, _f: number, pins: number): number {
    return pins;
  }
}

// ---------------------------------------------------------------------------

/** An exact pin count per page, in an adjacent struct page. */
// mirrors seed 003 (b): page_really_is_dma_pinned() over a shadow struct page's pin count (never merged)
export class ExactPins extends RefPerPin {
  readonly name = 'exact';
  readonly maxPinsPerPage = REFCOUNT_PINS;
  readonly mayMissPins = false;
  /** pfn -> pins of that page (the adjacent struct page's atomic_t); absent means 0. */
  private readonly perPage = new Map<number, number>();

  protected count(host: Host, f: number, page: number, refs: number): void {
    const base = host.ft.pfn[f]! + page;
    for (let k = 0; k < refs; k++) this.perPage.set(base + k, (this.perPage.get(base + k) ?? 0) + 1);
  }

  protected uncount(host: Host, f: number, page: number, refs: number): void {
    const base = host.ft.pfn[f]! + page;
    for (let k = 0; k < refs; k++) {
      const v = (this.perPage.get(base + k) ?? 0) - 1;
      if (v === 0) this.perPage.delete(base + k);
      else this.perPage.set(base + k, v);
    }
  }

  /** A whole-folio pin counts on every page of the folio. */
  /** The coalesced pin counts on every page it reaches (the buffer's pages in the folio). */
  protected countToFolio(host: Host, f: number, page: number, nr: number): void {
    this.uncount(host, f, page, 1);
    this.count(host, f, page, nr);
  }

  protected uncountFolio(host: Host, f: number, page: number, nr: number): void {
    this.uncount(host, f, page, nr);
  }

  maybePinned(host: Host, f: number, page: number, nr: number): boolean {
    const base = host.ft.pfn[f]! + page;
    let answer = false;
    for (let k = 0; k < nr && !answer; k++) answer = (this.perPage.get(base + k) ?? 0) > 0;
    return judged(host, this, f, page, nr, answer);
  }

  /** A second struct page for every page of RAM. */
  metadataBytes(host: Host): number {
    return host.pa.totalPages * STRUCT_PAGE_BYTES;
  }

  audit(host: Host, f: number, _pins: number): string | null {
    const base = host.ft.pfn[f]!;
    for (let k = 0; k < 1 << host.ft.order[f]!; k++) {
      const have = this.perPage.get(base + k) ?? 0;
      if (have !== host.pinnedPages(f, k)) return `page ${k}: pin count ${have}, ${host.pinnedPages(f, k)} pins outstanding`;
    }
    return null;
  }
}

// ---------------------------------------------------------------------------

/** Where a PMD-aggregate count lives: the PMD entry (or the PUD leaf) covering an address. */
interface RangeCounter {
  readonly counts: Float64Array;
  readonly i: number;
}

const $w: Walk = { table: null as never, idx: 0, level: Level.PTE, parent: null, pidx: 0 };
/** The site of a pin taken where no page table maps the page (never counted anywhere). */
const NOWHERE: RangeCounter = { counts: new Float64Array(1), i: 0 };

/**
 * One counter per PMD entry, in the page-table page's struct page. The count
 * is bumped by 2 per pin (bit 0 of _pt_pad_1 must stay clear, or the page
 * would look compound), in a 64-bit word. unpin_user_page() is not told the
 * address, so the design needs the pin's site remembered with the page: the
 * "internal API changes for unpin_user_page() and friends" the thread
 * mentions. Simplifications: the count stays with the PMD entry when mremap
 * moves a whole PTE table, and survives a munmap of the range (a later mapping
 * there looks pinned); it dies with the page-table page.
 */
// mirrors seed 003 (a): a pin count in the PMD-page struct (never merged)
export class PmdAggregatePins extends RefPerPin {
  readonly name = 'pmd-aggregate';
  /** A 64-bit word counting in twos holds 2^63 pins; the folio reference per pin binds first. */
  readonly maxPinsPerPage = REFCOUNT_PINS;
  /** A pin recorded under one mm or range is invisible from another (mremap, remote pins seen from elsewhere). */
  readonly mayMissPins = true;
  /** Page-table page -> its per-entry counts (doubled). */
  private readonly tables = new WeakMap<PageTable, Float64Array>();
  /** pfn -> the counters credited for that page's outstanding pins, newest last. */
  private readonly sites = new Map<number, RangeCounter[]>();
  /** head pfn -> the counters credited for whole-folio pins. */
  private readonly folioSites = new Map<number, RangeCounter[]>();

  /** The counter covering addr in mm, created on first use; null where nothing maps addr. */
  private counterAt(q: PinQuery, create: boolean): RangeCounter | null {
    if (q.mm === null || q.addr < 0) return null;
    walk(q.mm.pgd, q.addr, $w);
    let t: PageTable;
    let i: number;
    if ($w.level === Level.PTE) {
      if ($w.parent === null) return null;
      t = $w.parent;
      i = $w.pidx;
    } else {
      t = $w.table;
      i = $w.idx;
    }
    let counts = this.tables.get(t);
    if (counts === undefined) {
      if (!create) return null;
      counts = new Float64Array(512);
      this.tables.set(t, counts);
    }
    return { counts, i };
  }

  protected count(host: Host, f: number, page: number, refs: number, at: PinQuery): void {
    // folio_add_pin has no site: it credits the range of the pin it duplicates.
    const base = host.ft.pfn[f]! + page;
    let c = this.counterAt(at, true);
    if (c === null) {
      const prev = this.sites.get(base);
      c = prev === undefined || prev.length === 0 ? NOWHERE : prev[prev.length - 1]!;
    }
    for (let k = 0; k < refs; k++) {
      let list = this.sites.get(base + k);
      if (list === undefined) this.sites.set(base + k, (list = []));
      if (c !== NOWHERE) c.counts[c.i] = c.counts[c.i]! + 2;
      list.push(c);
    }
  }

  protected uncount(host: Host, f: number, page: number, refs: number): void {
    const base = host.ft.pfn[f]! + page;
    for (let k = 0; k < refs; k++) {
      const list = this.sites.get(base + k);
      const c = list?.pop();
      if (c !== undefined && c !== NOWHERE) c.counts[c.i] = c.counts[c.i]! - 2;
      if (list !== undefined && list.length === 0) this.sites.delete(base + k);
    }
  }

  /** The site stays where it was credited; it now stands for the folio. */
  protected countToFolio(host: Host, f: number, page: number): void {
    const pfn = host.ft.pfn[f]! + page;
    const list = this.sites.get(pfn);
    const c = list?.pop() ?? NOWHERE;
    if (list !== undefined && list.length === 0) this.sites.delete(pfn);
    const head = host.ft.pfn[f]!;
    let fl = this.folioSites.get(head);
    if (fl === undefined) this.folioSites.set(head, (fl = []));
    fl.push(c);
  }

  protected uncountFolio(host: Host, f: number): void {
    const head = host.ft.pfn[f]!;
    const fl = this.folioSites.get(head);
    const c = fl?.pop();
    if (c !== undefined && c !== NOWHERE) c.counts[c.i] = c.counts[c.i]! - 2;
    if (fl !== undefined && fl.length === 0) this.folioSites.delete(head);
  }

  maybePinned(host: Host, f: number, page: number, nr: number, q: PinQuery): boolean {
    let answer: boolean;
    if (q.mm !== null) {
      const c = this.counterAt(q, false);
      answer = c !== null && c.counts[c.i]! > 0;
    } else {
      // No address (gup_test, migration): the recorded sites are all the design has.
      const base = host.ft.pfn[f]!;
      answer = (this.folioSites.get(base)?.length ?? 0) > 0;
      for (let k = 0; k < nr && !answer; k++) answer = (this.sites.get(base + page + k)?.length ?? 0) > 0;
    }
    return judged(host, this, f, page, nr, answer);
  }

  /** _pt_pad_1 already exists in every page-table page. */
  metadataBytes(): number {
    return 0;
  }

  audit(host: Host, f: number, pins: number): string | null {
    const base = host.ft.pfn[f]!;
    let sum = this.folioSites.get(base)?.length ?? 0;
    for (let k = 0; k < 1 << host.ft.order[f]!; k++) sum += this.sites.get(base + k)?.length ?? 0;
    return sum === pins ? null : `${sum} pin sites recorded, ${pins} pins outstanding`;
  }
}

// ---------------------------------------------------------------------------

/** Only the per-mm sticky bit. */
// mirrors the v5.10 mm->has_pinned design (commit "mm: track mm's that have ever used pin_user_pages") without folio_maybe_dma_pinned
export class MmStickyPins extends RefPerPin {
  readonly name = 'mm-sticky';
  readonly maxPinsPerPage = REFCOUNT_PINS;
  readonly mayMissPins = false;

  protected count(): void {}
  protected uncount(): void {}
  protected countToFolio(): void {}
  protected uncountFolio(): void {}

  maybePinned(host: Host, f: number, page: number, nr: number, q: PinQuery): boolean {
    const answer = q.mm !== null ? (q.mm.flags & MMF.HAS_PINNED) !== 0 : host.ft.refcount[f]! > folioExpectedRefCount(host.ft, f);
    return judged(host, this, f, page, nr, answer);
  }

  /** One bit per mm, which upstream already has. */
  metadataBytes(): number {
    return 0;
  }

  audit(): string | null {
    return null;
  }
}

// ---------------------------------------------------------------------------

/** Bits per chunk of the sparse page bitmap: 4096 pfns (16 MiB of RAM) in 512 bytes. */
const CHUNK_SHIFT = 12;
const CHUNK_PFNS = 1 << CHUNK_SHIFT;

/**
 * One bit per pfn, kept only for the 16 MiB chunks that hold a set bit: the
 * model's state grows with the marked pages, not with the host.
 */
class SparsePfnBits {
  private readonly chunks = new Map<number, Uint32Array>();
  /** Bits set. */
  size = 0;

  has(pfn: number): boolean {
    const c = this.chunks.get(Math.floor(pfn / CHUNK_PFNS));
    if (c === undefined) return false;
    const b = pfn % CHUNK_PFNS;
    return (c[b >>> 5]! & (1 << (b & 31))) !== 0;
  }

  /** Set the bit of pfn; true if it was clear. */
  set(pfn: number): boolean {
    const key = Math.floor(pfn / CHUNK_PFNS);
    let c = this.chunks.get(key);
    if (c === undefined) this.chunks.set(key, (c = new Uint32Array(CHUNK_PFNS / 32)));
    const b = pfn % CHUNK_PFNS;
    const m = 1 << (b & 31);
    if (c[b >>> 5]! & m) return false;
    c[b >>> 5] = c[b >>> 5]! | m;
    this.size++;
    return true;
  }
}

/**
 * A "was ever pinned" bit in each struct page's flags. The first pin of a page
 * sets it; nothing clears it, since without a count nothing knows when the
 * last pin went. struct pages outlive processes: a page pinned once by one
 * process and freed stays marked when the buddy allocator hands it to the
 * next, so that owner's fork copies it (if its mm has MMF_HAS_PINNED, as
 * folio_needs_cow_for_dma asks first), and migration refuses it as "maybe
 * pinned" for good (a FOLL_LONGTERM pin cannot move it out of ZONE_MOVABLE or
 * CMA). While a page is pinned it answers exactly as `exact` does, per page.
 */
// mirrors seed 003 (c): a per-struct-page sticky "was ever pinned" flag (rejected in the thread, never merged)
export class PageStickyPins extends RefPerPin {
  readonly name = 'page-sticky';
  readonly maxPinsPerPage = REFCOUNT_PINS;
  readonly mayMissPins = false;
  /** The marked pfns. */
  private readonly marked = new SparsePfnBits();

  private mark(base: number, n: number): void {
    for (let k = 0; k < n; k++) if (this.marked.set(base + k)) this.metrics.stickyPages++;
  }

  protected count(host: Host, f: number, page: number, refs: number): void {
    this.mark(host.ft.pfn[f]! + page, refs);
  }

  /** Never cleared: the bit cannot know whether other pins remain. */
  protected uncount(): void {}

  /** A whole-folio pin covers the pages it reaches (GUP marked them already). */
  protected countToFolio(host: Host, f: number, page: number, nr: number): void {
    this.mark(host.ft.pfn[f]! + page, nr);
  }

  protected uncountFolio(): void {}

  maybePinned(host: Host, f: number, page: number, nr: number): boolean {
    const base = host.ft.pfn[f]! + page;
    let answer = false;
    for (let k = 0; k < nr && !answer; k++) answer = this.marked.has(base + k);
    return judged(host, this, f, page, nr, answer);
  }

  /** A page flag: no memory beyond page->flags (though it spends one of its bits). */
  metadataBytes(): number {
    return 0;
  }

  audit(host: Host, f: number): string | null {
    const base = host.ft.pfn[f]!;
    for (let k = 0; k < 1 << host.ft.order[f]!; k++) {
      if (host.pinnedPages(f, k) > 0 && !this.marked.has(base + k)) return `page ${k} is pinned but not marked`;
    }
    return null;
  }
}

// ---------------------------------------------------------------------------

/** The leaf entry walk() stopped at, if it maps something: a present PTE, or a PMD/PUD leaf. */
function presentLeaf(w: Walk): boolean {
  const fl = w.table.fl[w.idx]!;
  return w.level === Level.PTE ? (fl & (Pte.PRESENT | Pte.PROTNONE)) !== 0 : (fl & Pte.PSE) !== 0;
}

/** Pages of the entry walk() stopped at, from addr to the entry's end. */
function pagesToEntryEnd(w: Walk, addr: number): number {
  if (w.level === Level.PTE) return 1;
  const span = LEVEL_SPAN[w.level]!;
  return (span - (addr % span)) / PAGE_SIZE;
}

/**
 * A software bit in the page-table entry GUP pinned through (Pte.PINNED): the
 * PTE, or the PMD/PUD leaf of a huge mapping, which marks all of its 2 MiB.
 * Setting it is a page-table write (GUP-fast would OR it in atomically).
 * copy_present_pte and copy_huge_pmd ask about the entry they copy
 * (folio_needs_cow_for_dma passes the mm and address). Unpin is given a page,
 * not the entry, so the bit stays until the entry is zapped or replaced: later
 * forks keep copying what the mapping once pinned. The bit belongs to the
 * mapping: mremap moves it with the entry, a PMD split gives it to all 512
 * PTEs, mprotect keeps it, the child's copies of entries at fork do not get
 * it, and unmapping drops it. A question with no mm or address (gup_test's
 * verify, migration, clear_refs) has no entry to read and is answered as
 * mm-sticky answers it: "more references than mappings and page cache".
 */
// mirrors seed 003 (Linus): a shadow software PTE bit, "this page table entry is pinned" (never merged)
export class PteBitPins extends RefPerPin {
  readonly name = 'pte-bit';
  readonly maxPinsPerPage = REFCOUNT_PINS;
  /** A pinned anonymous page is exclusive, so mapped only through the entry that pinned it, which is marked. */
  readonly mayMissPins = false;

  /** Mark the entries mapping [at.addr, at.addr + refs pages): one per PTE, one for a whole huge leaf. */
  protected count(host: Host, _f: number, _page: number, refs: number, at: PinQuery): void {
    // folio_add_pin has no site: the pin it duplicates marked its entry.
    if (at.mm === null || at.addr < 0) return;
    let addr = at.addr;
    for (let left = refs; left > 0; ) {
      walk(at.mm.pgd, addr, $w);
      if (presentLeaf($w)) {
        const t = $w.table;
        const i = $w.idx;
        if (!(t.fl[i]! & Pte.PINNED)) setEntry(host, t, i, t.pfn[i]!, t.fl[i]! | Pte.PINNED);
      }
      const n = Math.min(left, pagesToEntryEnd($w, addr));
      addr += n * PAGE_SIZE;
      left -= n;
    }
  }

  /** Unpin does not know the entry: nothing to clear. */
  protected uncount(): void {}
  protected countToFolio(): void {}
  protected uncountFolio(): void {}

  maybePinned(host: Host, f: number, page: number, nr: number, q: PinQuery): boolean {
    let answer = false;
    if (q.mm !== null && q.addr >= 0) {
      let addr = q.addr;
      for (let left = nr; left > 0 && !answer; ) {
        walk(q.mm.pgd, addr, $w);
        answer = presentLeaf($w) && ($w.table.fl[$w.idx]! & Pte.PINNED) !== 0;
        const n = Math.min(left, pagesToEntryEnd($w, addr));
        addr += n * PAGE_SIZE;
        left -= n;
      }
    } else answer = host.ft.refcount[f]! > folioExpectedRefCount(host.ft, f);
    return judged(host, this, f, page, nr, answer);
  }

  /** A bit in entries that exist anyway (but one of x86's last software PTE bits). */
  metadataBytes(): number {
    return 0;
  }

  /**
   * Every mapping of a page pinned through GUP (an anonymous pinned page is exclusive: one mapping) is
   * marked. A whole-folio pin (io_uring's coalesced buffer) is not audited page by page: it stands for
   * the folio, but io_uring only reaches its buffer's pages, whose entries GUP marked before coalescing.
   */
  audit(host: Host, f: number): string | null {
    const ft = host.ft;
    if (!(ft.flags[f]! & PG.ANON)) return null;
    const base = ft.pfn[f]!;
    let bad: string | null = null;
    for (let k = 0; k < 1 << ft.order[f]! && bad === null; k++) {
      if (host.pagePins(f, k) === 0) continue;
      rmapWalk(host, f, (vma, address) => {
        const addr = address + k * PAGE_SIZE;
        if (addr < vma.start || addr >= vma.end) return false;
        walk(vma.mm.pgd, addr, $w);
        if (!presentLeaf($w)) return false;
        const t = $w.table;
        const span = LEVEL_SPAN[$w.level]!;
        const pfn = t.pfn[$w.idx]! + ($w.level === Level.PTE ? 0 : (addr % span) / PAGE_SIZE);
        if (pfn !== base + k || t.fl[$w.idx]! & Pte.PINNED) return false;
        bad = `pinned page ${k} is mapped at 0x${addr.toString(16)} by an entry without the pinned bit`;
        return true;
      });
    }
    return bad;
  }
}
