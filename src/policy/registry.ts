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
 * shared (issue 8 section 5, seeds 000/001): 'split' (option b, the 1 GiB
 * series RFC v2: split to 4 KiB folios, HVO undone, merged back when all
 * private); 'no-longterm-pin' (option a: the folio stays whole, shared pages
 * map at 4 KiB, FOLL_LONGTERM is refused, to-private waits for short-term
 * pins); 'pfnmap' (option c: a VM_PFNMAP host mapping without refcounts, no
 * GUP); 'separate-shared' (the classic CoCo baseline: shared pages come from
 * the VMM's own memory, conversions discard). src/kvm/guest_memfd.ts has them.
 */
export const GMEM_HUGE_SHARED: readonly string[] = Object.freeze(['split', 'no-longterm-pin', 'pfnmap', 'separate-shared']);

/**
 * When KVM's stage 2 maps a 2 MiB / 1 GiB range huge again after it was
 * split around a shared (or private) hole (issue 8 section 3, seed 001):
 * 'lazy' (Linux: the next fault in the range installs the huge leaf over the
 * smaller ones, as kvm_mmu_max_mapping_level and KVM_LPAGE_MIXED_FLAG allow)
 * or 'eager' (the attribute change that makes the range uniform installs it
 * at once, where one huge folio backs the whole range).
 */
export const S2_RECOALESCE: readonly string[] = Object.freeze(['lazy', 'eager']);

export interface PolicyChoice {
  pinAccounting: string;
  exclusivePin: string;
  /** Optional when choosing; DEFAULT_POLICY gives 'off'. */
  hgmMapcount?: string;
  /** Optional when choosing; DEFAULT_POLICY gives 'invalidate'. */
  collapseNotifier?: string;
  /** Optional when choosing; DEFAULT_POLICY gives 'split'. */
  gmemHugeShared?: string;
  /** Optional when choosing; DEFAULT_POLICY gives 'lazy'. */
  s2Recoalesce?: string;
}

export const DEFAULT_POLICY: Readonly<Required<PolicyChoice>> = Object.freeze({ pinAccounting: 'upstream', exclusivePin: 'off', hgmMapcount: 'off', collapseNotifier: 'invalidate', gmemHugeShared: 'split', s2Recoalesce: 'lazy' });

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

/** Check the stage-2 re-coalescing policy's name; returns it. */
export function checkS2Recoalesce(choice: PolicyChoice): 'lazy' | 'eager' {
  const name = choice.s2Recoalesce ?? DEFAULT_POLICY.s2Recoalesce;
  if (!S2_RECOALESCE.includes(name)) throw new UnknownPolicyError('s2Recoalesce', name, S2_RECOALESCE);
  return name as 'lazy' | 'eager';
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
