/**
 * Policies by name. Each decision point the threads argue about is an
 * interface (src/mm/pin_policy.ts:PinAccounting, ...) with implementations
 * registered here; an unknown name is an error listing the valid ones.
 */
import { type HgmMapcount, NoHgm } from '../mm/hgm_mapcount.js';
import { type PinAccounting, UpstreamPins } from '../mm/pin_policy.js';
import { type ExclusiveEncoding, ExclusivePins } from './exclusive_pin.js';
import { HeadPerPteHgm, PgtableHgm, SpecialBitHgm, ThpLikeHgm } from './hgm_mapcount.js';
import { ExactPins, MmStickyPins, PageStickyPins, PmdAggregatePins, PteBitPins } from './pin_accounting.js';

export class UnknownPolicyError extends RangeError {
  constructor(kind: string, name: unknown, valid: readonly string[]) {
    super(`unknown ${kind} policy ${JSON.stringify(name)}; valid: ${valid.join(', ')}`);
    this.name = 'UnknownPolicyError';
  }
}

/** How pins are counted and how folio_maybe_dma_pinned answers. */
export const PIN_ACCOUNTING: Readonly<Record<string, () => PinAccounting>> = Object.freeze({
  upstream: () => new UpstreamPins(),
  exact: () => new ExactPins(),
  'pmd-aggregate': () => new PmdAggregatePins(),
  'mm-sticky': () => new MmStickyPins(),
  'page-sticky': () => new PageStickyPins(),
  'pte-bit': () => new PteBitPins(),
});

/** FOLL_EXCLUSIVE: absent (upstream), the RFC's refcount bias, or a separate field. */
export const EXCLUSIVE_PIN: readonly string[] = Object.freeze(['off', 'bias', 'field']);

/** HugeTLB high-granularity mapping (seed 004): 'off' (Linux 6.12: no HGM), or how its pieces are counted. */
export const HGM_MAPCOUNT: Readonly<Record<string, () => HgmMapcount>> = Object.freeze({
  off: () => new NoHgm(),
  'thp-like': () => new ThpLikeHgm(),
  'head-per-pte': () => new HeadPerPteHgm(),
  pgtable: () => new PgtableHgm(),
  'special-bit': () => new SpecialBitHgm(),
});

/** How secondary MMUs learn of a HugeTLB HGM collapse: the invalidate pair around it, or one notification after it. */
export const COLLAPSE_NOTIFIER: readonly string[] = Object.freeze(['invalidate', 'post-collapse']);

/**
 * What a HugeTLB-backed guest_memfd does when one of its pages becomes
 * shared (issue 8, seeds 000/001): 'split' (the 1 GiB series RFC v2: split
 * to 4 KiB folios, HVO undone, merged back when all private). The other
 * designs of the seeds (no-longterm-pin, pfnmap, separate-shared) are not
 * built yet.
 */
export const GMEM_HUGE_SHARED: readonly string[] = Object.freeze(['split']);

export interface PolicyChoice {
  pinAccounting: string;
  exclusivePin: string;
  /** Optional when choosing; DEFAULT_POLICY gives 'off'. */
  hgmMapcount?: string;
  /** Optional when choosing; DEFAULT_POLICY gives 'invalidate'. */
  collapseNotifier?: string;
  /** Optional when choosing; DEFAULT_POLICY gives 'split'. */
  gmemHugeShared?: string;
}

export const DEFAULT_POLICY: Readonly<Required<PolicyChoice>> = Object.freeze({ pinAccounting: 'upstream', exclusivePin: 'off', hgmMapcount: 'off', collapseNotifier: 'invalidate', gmemHugeShared: 'split' });

/** Build the HGM mapcount design (and check the collapse notifier's name). */
export function createHgmMapcount(choice: PolicyChoice): HgmMapcount {
  const name = choice.hgmMapcount ?? DEFAULT_POLICY.hgmMapcount;
  const make = Object.hasOwn(HGM_MAPCOUNT, name) ? HGM_MAPCOUNT[name] : undefined;
  if (make === undefined) throw new UnknownPolicyError('hgmMapcount', name, Object.keys(HGM_MAPCOUNT));
  const notifier = choice.collapseNotifier ?? DEFAULT_POLICY.collapseNotifier;
  if (!COLLAPSE_NOTIFIER.includes(notifier)) throw new UnknownPolicyError('collapseNotifier', notifier, COLLAPSE_NOTIFIER);
  return make();
}

/** Check the guest_memfd huge-shared design's name; returns it. */
export function checkGmemHugeShared(choice: PolicyChoice): string {
  const name = choice.gmemHugeShared ?? DEFAULT_POLICY.gmemHugeShared;
  if (!GMEM_HUGE_SHARED.includes(name)) throw new UnknownPolicyError('gmemHugeShared', name, GMEM_HUGE_SHARED);
  return name;
}

/** Build the pin-accounting design; the exclusive-pin RFC is built on upstream's counting only. */
export function createPinAccounting(choice: PolicyChoice): PinAccounting {
  const make = Object.hasOwn(PIN_ACCOUNTING, choice.pinAccounting) ? PIN_ACCOUNTING[choice.pinAccounting] : undefined;
  if (make === undefined) throw new UnknownPolicyError('pinAccounting', choice.pinAccounting, Object.keys(PIN_ACCOUNTING));
  if (!EXCLUSIVE_PIN.includes(choice.exclusivePin)) throw new UnknownPolicyError('exclusivePin', choice.exclusivePin, EXCLUSIVE_PIN);
  if (choice.exclusivePin === 'off') return make();
  if (choice.pinAccounting !== 'upstream') {
    throw new UnknownPolicyError(`exclusivePin '${choice.exclusivePin}' with pinAccounting`, choice.pinAccounting, ['upstream']);
  }
  return new ExclusivePins(choice.exclusivePin as ExclusiveEncoding);
}
