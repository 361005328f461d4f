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
import { GUP_PIN_COUNTING_BIAS, isZeroFolio } from './folio.js';
import type { Host } from './host.js';
import type { MmStruct } from './mm_types.js';
import { NodeStat } from './vmstat.js';

/** Where a maybe-pinned question is asked from (fork knows the mm and address). */
export interface PinQuery {
  /** The mm whose mapping is being looked at, if any. */
  readonly mm: MmStruct | null;
  /** The user address of the page in that mm, if known. */
  readonly addr: number;
}

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
  /** Pin requests refused because a counter would overflow. */
  overflows: number;
  /** Pin requests refused because an exclusive pin is held (or would be violated). */
  exclusiveConflicts: number;
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
  };
}

export interface PinAccounting {
  readonly name: string;
  /** FOLL_EXCLUSIVE is accepted (the exclusive-pin RFC is configured). */
  readonly exclusiveSupported: boolean;
  readonly metrics: PinMetrics;
  /**
   * Pin refs pages [page, page + refs) of folio f. Returns 0 or a negative
   * errno (-ENOMEM on overflow, -EBUSY on an exclusive-pin conflict).
   */
  grab(host: Host, f: number, page: number, refs: number, flags: number): number;
  /** Undo grab for refs pages. */
  put(host: Host, f: number, page: number, refs: number, flags: number): void;
  /** folio_add_pin: one more pin on an already pinned page. */
  addPin(host: Host, f: number, page: number): void;
  /** folio_maybe_dma_pinned as this design can answer it for page `page` of f. */
  maybePinned(host: Host, f: number, page: number, q: PinQuery): boolean;
  /** Bytes of metadata the design needs on this host, beyond upstream's. */
  metadataBytes(host: Host): number;
  /** How many pins one 4 KiB page can take before the counter overflows. */
  readonly maxPinsPerPage: number;
  /** The design may answer "not pinned" for a pinned page (the oracle then skips I3). */
  readonly mayMissPins: boolean;
  /** References this design holds on folio f for `pins` outstanding page pins (oracle I1). */
  heldRefs(host: Host, f: number, pins: number): number;
  /** The design's own counters on f checked against the ledger's pin total: a message, or null (oracle I2). */
  audit(host: Host, f: number, pins: number): string | null;
}

/**
 * Account a maybe-pinned answer against the ledger (ground truth), and return it.
 */
export function judged(host: Host, p: PinAccounting, f: number, page: number, answer: boolean): boolean {
  const truth = host.pinnedPages(f, page) > 0;
  if (answer && !truth) p.metrics.falsePositives++;
  if (!answer && truth) p.metrics.falseNegatives++;
  return answer;
}

/** Upstream Linux: bias the refcount of small folios, count _pincount on large ones. */
// mirrors mm/gup.c:try_grab_folio / gup_put_folio and include/linux/mm.h:folio_maybe_dma_pinned
export class UpstreamPins implements PinAccounting {
  readonly name: string = 'upstream';
  readonly exclusiveSupported: boolean = false;
  readonly metrics = newPinMetrics();
  /** 2^31 refcount / 2^10 bias. */
  readonly maxPinsPerPage: number = 2 ** 21;
  readonly mayMissPins: boolean = false;

  grab(host: Host, f: number, page: number, refs: number, _flags: number): number {
    const ft = host.ft;
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
    host.stat[NodeStat.NR_FOLL_PIN_ACQUIRED] += refs;
    host.gupLedgerAdd(f, page, refs, true);
    return 0;
  }

  put(host: Host, f: number, page: number, refs: number, _flags: number): void {
    const ft = host.ft;
    host.stat[NodeStat.NR_FOLL_PIN_RELEASED] += refs;
    host.gupLedgerAdd(f, page, -refs, true);
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
    } else ft.refcount[f] = ft.refcount[f]! + GUP_PIN_COUNTING_BIAS;
    host.stat[NodeStat.NR_FOLL_PIN_ACQUIRED] += 1;
    host.gupLedgerAdd(f, page, 1, true);
  }

  maybePinned(host: Host, f: number, page: number, _q: PinQuery): boolean {
    const ft = host.ft;
    const answer = ft.order[f]! > 0 ? ft.pincount[f]! > 0 : ft.refcount[f]! >>> 0 >= GUP_PIN_COUNTING_BIAS;
    return judged(host, this, f, page, answer);
  }

  metadataBytes(): number {
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

/** folio_maybe_dma_pinned through the host's policy. */
export function folioMaybeDmaPinnedP(host: Host, f: number, page: number, q: PinQuery): boolean {
  if (isZeroFolio(host.ft, f)) return false;
  return host.pins.maybePinned(host, f, page, q);
}
