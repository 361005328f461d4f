/**
 * Exclusive GUP pins (seed 002, the June 2024 RFC "mm/gup: Introduce exclusive
 * GUP pinning"; never merged), on top of upstream's pin accounting.
 *
 * FOLL_EXCLUSIVE (with FOLL_PIN | FOLL_LONGTERM) succeeds only if the folio
 * has no pin of any kind, and while it is held every other FOLL_PIN fails with
 * -EBUSY. FOLL_GET and plain references are unaffected. Two encodings:
 *
 *   bias   the RFC as posted: GUP_PIN_EXCLUSIVE_BIAS (1 << 30) added to
 *          _refcount (small folios) or _pincount (large). "Exclusive" is read
 *          as counter >= 2^30, so normal pins on a small folio now have room
 *          for only 2^20 before they would look exclusive: such a pin backs
 *          out with -EBUSY (the halved headroom reviewers objected to).
 *   field  what the reviewers asked for instead: a separate per-folio field
 *          (a memdesc-era folio word; small folios have no room for it today,
 *          so it costs a word per 4 KiB page). Normal pins keep 2^21.
 *
 * Both: the pinned anonymous page is marked PageAnonExclusive, folio_add_pin
 * on an exclusively pinned folio silently adds nothing, unexc_user_page keeps
 * one normal pin, reexc_user_page needs exactly one.
 */
import { errno } from '../uapi/errno.js';
import { Ev } from '../cost/counters.js';
import { GUP_PIN_COUNTING_BIAS, folioTestAnon, setPageAnonExclusive, pageAnonExclusive } from '../mm/folio.js';
import type { Host } from '../mm/host.js';
import { type PinQuery, UpstreamPins, pinAcquired } from '../mm/pin_policy.js';

/** FOLL_EXCLUSIVE (the RFC's value; src/kernel_gup.ts exports it). */
const FOLL_EXCLUSIVE = 1 << 13;
/** The RFC's GUP_PIN_EXCLUSIVE_BIAS. */
export const GUP_PIN_EXCLUSIVE_BIAS = 1 << 30;

export type ExclusiveEncoding = 'bias' | 'field';

// mirrors the RFC's try_grab_folio / gup_put_folio with FOLL_EXCLUSIVE, unexc_user_page and reexc_user_page
export class ExclusivePins extends UpstreamPins {
  override readonly name: string;
  override readonly exclusiveSupported = true;
  override readonly maxPinsPerPage: number;
  /** encoding 'field': folios holding an exclusive pin. */
  private readonly field = new Set<number>();

  constructor(readonly encoding: ExclusiveEncoding) {
    super();
    this.name = `upstream+exclusive-${encoding}`;
    this.maxPinsPerPage = encoding === 'bias' ? GUP_PIN_EXCLUSIVE_BIAS / GUP_PIN_COUNTING_BIAS - 1 : 2 ** 21;
  }

  override grab(host: Host, f: number, page: number, refs: number, flags: number, at: PinQuery): number {
    const ft = host.ft;
    if (this.exclusivelyPinned(host, f)) return this.conflict();
    if (!(flags & FOLL_EXCLUSIVE)) {
      const r = super.grab(host, f, page, refs, flags, at);
      if (r !== 0 || this.encoding === 'field') return r;
      // The added pins must not make the folio read as exclusive: back out.
      if (this.exclusivelyPinned(host, f)) {
        super.put(host, f, page, refs, flags);
        return this.conflict();
      }
      return 0;
    }
    // An exclusive pin needs a folio with no pin at all (small: old refcount < 1024).
    const pinned = ft.order[f]! > 0 ? ft.pincount[f] !== 0 : ft.refcount[f]! >= GUP_PIN_COUNTING_BIAS;
    if (pinned) return this.conflict();
    if (ft.refcount[f]! <= 0) {
      this.metrics.overflows++;
      return -errno.ENOMEM;
    }
    if (this.encoding === 'field') {
      const r = super.grab(host, f, page, refs, flags, at);
      if (r !== 0) return r;
      this.field.add(f);
    } else {
      if (ft.order[f]! > 0) {
        ft.refcount[f] = ft.refcount[f]! + refs;
        ft.pincount[f] = ft.pincount[f]! + refs + GUP_PIN_EXCLUSIVE_BIAS;
        host.ev[Ev.ATOMIC_PINCOUNT]++;
      } else ft.refcount[f] = ft.refcount[f]! + refs * GUP_PIN_COUNTING_BIAS + GUP_PIN_EXCLUSIVE_BIAS;
      host.ev[Ev.ATOMIC_REFCOUNT]++;
      pinAcquired(host, f, page, refs);
    }
    // Never COW-shared while exclusively pinned.
    if (folioTestAnon(ft, f)) for (let i = page; i < page + refs; i++) setPageAnonExclusive(ft, f, i);
    return 0;
  }

  override put(host: Host, f: number, page: number, refs: number, flags: number): void {
    if (!(flags & FOLL_EXCLUSIVE)) {
      super.put(host, f, page, refs, flags);
      return;
    }
    this.dropExclusive(host, f);
    super.put(host, f, page, refs, flags);
  }

  override putFolioPin(host: Host, f: number, page: number, flags: number): void {
    if (flags & FOLL_EXCLUSIVE) this.dropExclusive(host, f);
    super.putFolioPin(host, f, page, flags);
  }

  override addPin(host: Host, f: number, page: number): void {
    if (this.exclusivelyPinned(host, f)) return; // the RFC adds nothing, silently
    super.addPin(host, f, page);
  }

  override exclusivelyPinned(host: Host, f: number): boolean {
    if (this.encoding === 'field') return this.field.has(f);
    const ft = host.ft;
    return (ft.order[f]! > 0 ? ft.pincount[f]! : ft.refcount[f]!) >= GUP_PIN_EXCLUSIVE_BIAS;
  }

  override unexc(host: Host, f: number, _page: number): number {
    if (!this.exclusivelyPinned(host, f)) return -errno.EINVAL;
    this.dropExclusive(host, f);
    return 0;
  }

  override reexc(host: Host, f: number, page: number): number {
    const ft = host.ft;
    if (!pageAnonExclusive(ft, f, page)) return -errno.EINVAL;
    if (this.exclusivelyPinned(host, f)) return this.conflict();
    // Exactly one normal pin (small: refcount >> 10 == 1).
    const pins = ft.order[f]! > 0 ? ft.pincount[f]! : ft.refcount[f]! >> 10;
    if (pins !== 1) return this.conflict();
    if (this.encoding === 'field') this.field.add(f);
    else if (ft.order[f]! > 0) ft.pincount[f] = ft.pincount[f]! + GUP_PIN_EXCLUSIVE_BIAS;
    else ft.refcount[f] = ft.refcount[f]! + GUP_PIN_EXCLUSIVE_BIAS;
    return 0;
  }

  /** 'field': one word per 4 KiB page (small folios have no spare field). */
  override metadataBytes(host: Host): number {
    return this.encoding === 'field' ? host.pa.totalPages * 4 : 0;
  }

  override heldRefs(host: Host, f: number, pins: number): number {
    const bias = this.encoding === 'bias' && host.ft.order[f] === 0 && this.exclusivelyPinned(host, f) ? GUP_PIN_EXCLUSIVE_BIAS : 0;
    return super.heldRefs(host, f, pins) + bias;
  }

  override audit(host: Host, f: number, pins: number): string | null {
    const ft = host.ft;
    if (ft.order[f]! > 0) {
      const bias = this.encoding === 'bias' && this.exclusivelyPinned(host, f) ? GUP_PIN_EXCLUSIVE_BIAS : 0;
      if (ft.pincount[f]! - bias !== pins) return `_pincount ${ft.pincount[f]} (exclusive bias ${bias}), ${pins} pins outstanding`;
    }
    if (this.exclusivelyPinned(host, f) && pins === 0) return 'exclusively pinned with no pin outstanding';
    return null;
  }

  private dropExclusive(host: Host, f: number): void {
    const ft = host.ft;
    if (this.encoding === 'field') this.field.delete(f);
    else if (ft.order[f]! > 0) ft.pincount[f] = ft.pincount[f]! - GUP_PIN_EXCLUSIVE_BIAS;
    else ft.refcount[f] = ft.refcount[f]! - GUP_PIN_EXCLUSIVE_BIAS;
  }

  private conflict(): number {
    this.metrics.exclusiveConflicts++;
    return -errno.EBUSY;
  }
}
