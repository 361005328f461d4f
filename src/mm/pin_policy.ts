/**
 * How pins are counted: the decision point that seeds 002 and 003 argue about.
 *
 * The core calls this interface wherever Linux touches pin accounting:
 * try_grab_folio and gup_put_folio (FOLL_PIN), folio_add_pin, and every
 * folio_maybe_dma_pinned question (fork's folio_needs_cow_for_dma, sharing an
 * exclusive page, gup_test's verify_dma_pinned). This file holds the interface
 * and the upstream implementation; the alternatives from the threads live in
 * src/policy/pin_accounting.ts.
 *
 * Every implementation keeps a folio alive while it is pinned (at least one
 * reference per pin operation) and records each pin in the host's per-page
 * ledger, so the oracle and the metrics know the true pin counts.
 */
import { errno } from '../uapi/errno.js';
import { Ev } from '../cost/counters.js';
import { GUP_PIN_COUNTING_BIAS, folioMaybeDmaPinned, isZeroFolio } from './folio.js';
import type { Host } from './host.js';
import type { MmStruct } from './mm_types.js';
import { NodeStat } from './vmstat.js';

/** Where a pin is taken, or a maybe-pinned question asked (GUP and fork know the mm and address). */
export interface PinQuery {
  /** The mm whose mapping is being looked at, if any. */
  readonly mm: MmStruct | null;
  /** The user address of the first page in that mm, or -1 if unknown. */
  readonly addr: number;
}

/** A question asked without an address (gup_test's verify, migration). */
export const NO_SITE: PinQuery = Object.freeze({ mm: null, addr: -1 });

/** What each design reports (issue: pin accounting designs). */
export interface PinMetrics {
  /** maybe-pinned answers that said yes for a page with no pin. */
  falsePositives: number;
  /** maybe-pinned answers that said no for a pinned page. */
  falseNegatives: number;
  /** fork copies made because of a false positive. */
  unnecessaryForkCopies: number;
  unnecessaryForkCopyBytes: number;
  /** Pinned pages replaced by a COW in the pinning mm (the pin no longer sees the process's data). */
  pinnedPagesLostToCow: number;
  /** Pin attempts refused because a counter would overflow. */
  overflows: number;
  /** Pin attempts refused because an exclusive pin is held or would be violated (GUP-fast's try and the slow path's count separately). */
  exclusiveConflicts: number;
  /**
   * Pages currently marked "was ever pinned" and so out of play: they answer
   * "maybe pinned" for as long as the host runs, whoever they belong to next
   * (page-sticky; 0 for every other design).
   */
  stickyPages: number;
}

export function newPinMetrics(): PinMetrics {
  return {
    falsePositives: 0,
    falseNegatives: 0,
    unnecessaryForkCopies: 0,
    unnecessaryForkCopyBytes: 0,
    pinnedPagesLostToCow: 0,
    overflows: 0,
    exclusiveConflicts: 0,
    stickyPages: 0,
  };
}

export interface PinAccounting {
  readonly name: string;
  /** FOLL_EXCLUSIVE is accepted (an exclusivePin design is configured). */
  readonly exclusiveSupported: boolean;
  readonly metrics: PinMetrics;
  /** How many pins one 4 KiB page can take before the counter overflows. */
  readonly maxPinsPerPage: number;
  /** The design may answer "not pinned" for a pinned page (the oracle then skips I3). */
  readonly mayMissPins: boolean;
  /**
   * Pin refs pages [page, page + refs) of folio f, mapped at `at` (the first
   * page's address). Returns 0 or a negative errno (-ENOMEM on overflow,
   * -EBUSY on an exclusive-pin conflict).
   */
  grab(host: Host, f: number, page: number, refs: number, flags: number, at: PinQuery): number;
  /** Undo grab for refs pages (flags carry FOLL_EXCLUSIVE for unpin_exc_pages). */
  put(host: Host, f: number, page: number, refs: number, flags: number): void;
  /** folio_add_pin: one more pin on an already pinned page. */
  addPin(host: Host, f: number, page: number): void;
  /**
   * The caller's pin on page `page` now stands for the whole folio (it keeps
   * one pin per folio, as io_uring's coalesced buffers do), and reaches pages
   * [page, page + nr). The folio counters do not change.
   */
  toFolioPin(host: Host, f: number, page: number, nr: number): void;
  /** Drop one whole-folio pin, kept on page `page`. */
  putFolioPin(host: Host, f: number, page: number, flags: number): void;
  /** folio_maybe_dma_pinned as this design can answer it for pages [page, page + nr) of f. */
  maybePinned(host: Host, f: number, page: number, nr: number, q: PinQuery): boolean;
  /** Is f held by an exclusive pin? (false where FOLL_EXCLUSIVE does not exist) */
  exclusivelyPinned(host: Host, f: number): boolean;
  /** unexc_user_page: turn the exclusive pin on page into a normal one. 0 or -EINVAL. */
  unexc(host: Host, f: number, page: number): number;
  /** reexc_user_page: turn the one normal pin on page into an exclusive one. 0, -EINVAL or -EBUSY. */
  reexc(host: Host, f: number, page: number): number;
  /** Bytes of metadata the design needs on this host, beyond upstream's. */
  metadataBytes(host: Host): number;
  /** References this design holds on folio f for `pins` outstanding page pins (oracle I1). */
  heldRefs(host: Host, f: number, pins: number): number;
  /** The design's own counters on f checked against the ledger's pin total: a message, or null (oracle I2). */
  audit(host: Host, f: number, pins: number): string | null;
}

/**
 * Account a maybe-pinned answer against the ledger (ground truth), and return it.
 */
export function judged(host: Host, p: PinAccounting, f: number, page: number, nr: number, answer: boolean): boolean {
  let truth = false;
  for (let i = page; i < page + nr && !truth; i++) truth = host.pinnedPages(f, i) > 0;
  if (answer && !truth) p.metrics.falsePositives++;
  if (!answer && truth) p.metrics.falseNegatives++;
  return answer;
}

/**
 * Upstream Linux: bias the refcount of small folios by 1024 per pin, count
 * _pincount (and one reference per pin) on large folios.
 */
// mirrors mm/gup.c:try_grab_folio / gup_put_folio and include/linux/mm.h:folio_maybe_dma_pinned
export class UpstreamPins implements PinAccounting {
  readonly name: string = 'upstream';
  readonly exclusiveSupported: boolean = false;
  readonly metrics = newPinMetrics();
  /** 2^31 refcount / 2^10 bias ("31-10 == 21 bits"). */
  readonly maxPinsPerPage: number = 2 ** 21;
  readonly mayMissPins: boolean = false;

  grab(host: Host, f: number, page: number, refs: number, _flags: number, _at: PinQuery): number {
    const ft = host.ft;
    // The overflow check runs before the add: one last pin may cross into the sign bit.
    if (ft.refcount[f]! <= 0) {
      this.metrics.overflows++;
      return -errno.ENOMEM;
    }
    if (ft.order[f]! > 0) {
      ft.refcount[f] = ft.refcount[f]! + refs;
      ft.pincount[f] = ft.pincount[f]! + refs;
      host.ev[Ev.ATOMIC_PINCOUNT]++;
    } else {
      // Int32Array arithmetic wraps exactly as the atomic_t does.
      ft.refcount[f] = ft.refcount[f]! + refs * GUP_PIN_COUNTING_BIAS;
    }
    host.ev[Ev.ATOMIC_REFCOUNT]++;
    pinAcquired(host, f, page, refs);
    return 0;
  }

  put(host: Host, f: number, page: number, refs: number, _flags: number): void {
    pinReleased(host, f, page, refs);
    this.dropCounters(host, f, refs);
  }

  /** gup_put_folio's counter side: the folio may be freed here. */
  protected dropCounters(host: Host, f: number, refs: number): void {
    const ft = host.ft;
    if (ft.order[f]! > 0) {
      ft.pincount[f] = ft.pincount[f]! - refs;
      host.ev[Ev.ATOMIC_PINCOUNT]++;
      host.folioPut(f, refs);
    } else host.folioPut(f, refs * GUP_PIN_COUNTING_BIAS);
  }

  addPin(host: Host, f: number, page: number): void {
    const ft = host.ft;
    if (ft.order[f]! > 0) {
      ft.refcount[f] = ft.refcount[f]! + 1;
      ft.pincount[f] = ft.pincount[f]! + 1;
      host.ev[Ev.ATOMIC_PINCOUNT]++;
    } else ft.refcount[f] = ft.refcount[f]! + GUP_PIN_COUNTING_BIAS;
    host.ev[Ev.ATOMIC_REFCOUNT]++;
    pinAcquired(host, f, page, 1);
  }

  toFolioPin(host: Host, f: number, page: number, nr: number): void {
    pinBecomesFolioPin(host, f, page, nr);
  }

  putFolioPin(host: Host, f: number, page: number, _flags: number): void {
    // The folio counters do not know which page a pin was taken on.
    folioPinReleased(host, f, page);
    this.dropCounters(host, f, 1);
  }

  maybePinned(host: Host, f: number, page: number, nr: number, _q: PinQuery): boolean {
    return judged(host, this, f, page, nr, folioMaybeDmaPinned(host.ft, f));
  }

  exclusivelyPinned(_host: Host, _f: number): boolean {
    return false;
  }

  unexc(_host: Host, _f: number, _page: number): number {
    return -errno.EINVAL;
  }

  reexc(_host: Host, _f: number, _page: number): number {
    return -errno.EINVAL;
  }

  metadataBytes(_host: Host): number {
    return 0;
  }

  heldRefs(host: Host, f: number, pins: number): number {
    return host.ft.order[f]! > 0 ? pins : pins * GUP_PIN_COUNTING_BIAS;
  }

  audit(host: Host, f: number, pins: number): string | null {
    const ft = host.ft;
    if (ft.order[f]! > 0 && ft.pincount[f] !== pins) return `_pincount ${ft.pincount[f]}, ${pins} pins outstanding`;
    return null;
  }
}

/**
 * The design's answer for pages [page, page + nr) of f, for introspection and
 * the oracle: asked without counting it in the design's metrics.
 */
export function peekMaybePinned(host: Host, f: number, page: number, nr: number): boolean {
  if (isZeroFolio(host.ft, f)) return false;
  const m = host.pins.metrics;
  const fp = m.falsePositives;
  const fn = m.falseNegatives;
  const r = host.pins.maybePinned(host, f, page, nr, NO_SITE);
  m.falsePositives = fp;
  m.falseNegatives = fn;
  return r;
}

/** Record refs new pins in vmstat and the ledger (every design does this). */
export function pinAcquired(host: Host, f: number, page: number, refs: number): void {
  host.stat[NodeStat.NR_FOLL_PIN_ACQUIRED] += refs;
  // Small folios: the ledger is a field of the folio table (the hot case, inlined).
  const ft = host.ft;
  if (ft.order[f] === 0) ft.ledgerPins[f] = ft.ledgerPins[f]! + refs;
  else host.gupLedgerAdd(f, page, refs, true);
}

/** Record refs released pins in vmstat and the ledger. */
export function pinReleased(host: Host, f: number, page: number, refs: number): void {
  host.stat[NodeStat.NR_FOLL_PIN_RELEASED] += refs;
  const ft = host.ft;
  if (ft.order[f] === 0) ft.ledgerPins[f] = ft.ledgerPins[f]! - refs;
  else host.gupLedgerAdd(f, page, -refs, true);
}

/** A whole-folio pin's reach in Host.folioPinReach: its first page and its page count in one key. */
const reachKey = (page: number, nr: number): number => page * 2 ** 20 + nr;

/**
 * Move one pin of page `page` to the folio in the ledger (no vmstat change: the pin stays); it reaches
 * pages [page, page + nr) of the folio, the caller's buffer.
 */
export function pinBecomesFolioPin(host: Host, f: number, page: number, nr: number): void {
  const head = host.ft.pfn[f]!;
  host.gupLedgerAdd(f, page, -1, true);
  host.folioPinLedger.add(head, 1, 1);
  let reach = host.folioPinReach.get(head);
  if (reach === undefined) host.folioPinReach.set(head, (reach = new Map()));
  const key = reachKey(page, nr);
  reach.set(key, (reach.get(key) ?? 0) + 1);
}

/**
 * Record the release of one whole-folio pin kept on page `page` (its buffer's first page in f) in
 * vmstat and the ledger. Returns how many pages it reached.
 */
export function folioPinReleased(host: Host, f: number, page: number): number {
  const head = host.ft.pfn[f]!;
  host.stat[NodeStat.NR_FOLL_PIN_RELEASED] += 1;
  host.folioPinLedger.add(head, 1, -1);
  const reach = host.folioPinReach.get(head);
  if (reach === undefined) return 0;
  let key = -1;
  for (const k of reach.keys()) if (Math.floor(k / 2 ** 20) === page || key < 0) key = k;
  const left = reach.get(key)! - 1;
  if (left === 0) reach.delete(key);
  else reach.set(key, left);
  if (reach.size === 0) host.folioPinReach.delete(head);
  return key % 2 ** 20;
}

/** folio_maybe_dma_pinned through the host's policy. */
export function folioMaybeDmaPinnedP(host: Host, f: number, page: number, nr: number, q: PinQuery): boolean {
  if (isZeroFolio(host.ft, f)) return false;
  return host.pins.maybePinned(host, f, page, nr, q);
}
