/**
 * MMU notifiers (mirrors mm/mmu_notifier.c, include/linux/mmu_notifier.h).
 *
 * Secondary MMUs (KVM, IOMMU SVA, HMM drivers) subscribe to an mm and are told
 * before and after the primary page tables change. Every path in the model that
 * changes user PTEs brackets the change with invalidateRangeStart/End and an
 * event type, as Linux does.
 */
import { Ev } from '../cost/counters.js';
import type { Host } from './host.js';
import type { MmStruct } from './mm_types.js';

/** enum mmu_notifier_event. */
export enum MmuNotifyEvent {
  UNMAP = 0,
  CLEAR = 1,
  PROTECTION_VMA = 2,
  PROTECTION_PAGE = 3,
  SOFT_DIRTY = 4,
  RELEASE = 5,
  MIGRATE = 6,
  EXCLUSIVE = 7,
}

export const MMU_NOTIFY_EVENT_NAMES = [
  'UNMAP',
  'CLEAR',
  'PROTECTION_VMA',
  'PROTECTION_PAGE',
  'SOFT_DIRTY',
  'RELEASE',
  'MIGRATE',
  'EXCLUSIVE',
] as const;

/** struct mmu_notifier_range. */
export interface MmuNotifierRange {
  readonly mm: MmStruct;
  readonly start: number;
  readonly end: number;
  readonly event: MmuNotifyEvent;
  /** MMU_NOTIFIER_RANGE_BLOCKABLE. */
  readonly blockable: boolean;
  /** For MIGRATE: the owner that started it (migrate_vma), so it can skip itself. */
  readonly owner: unknown;
}

/** struct mmu_notifier_ops: a subscriber implements the callbacks it needs. */
export interface MmuNotifierOps {
  invalidateRangeStart?(range: MmuNotifierRange): void;
  invalidateRangeEnd?(range: MmuNotifierRange): void;
  /** Age the range without flushing; return true if any page was young. */
  clearYoung?(mm: MmStruct, start: number, end: number): boolean;
  clearFlushYoung?(mm: MmStruct, start: number, end: number): boolean;
  testYoung?(mm: MmStruct, addr: number): boolean;
  /** The mm is being torn down (exit_mmap). */
  release?(mm: MmStruct): void;
  /**
   * Page tables of [range.start, range.end) were collapsed to larger entries
   * with no PFN, permission or hole change (HugeTLB HGM MADV_COLLAPSE under
   * policy collapseNotifier 'post-collapse'; James Houghton's proposal,
   * CADrL8HUm7g4pBLv9..., never in Linux). Sent after the collapse instead of
   * the invalidate pair: the secondary MMU may keep its small mappings, which
   * stay correct, and rebuild larger ones when it likes.
   */
  postCollapse?(range: MmuNotifierRange): void;
}

/** struct mmu_notifier: one subscription. */
export interface MmuNotifier {
  readonly mm: MmStruct;
  readonly ops: MmuNotifierOps;
}

// mirrors mm/mmu_notifier.c:mmu_notifier_register
export function mmuNotifierRegister(mm: MmStruct, ops: MmuNotifierOps): MmuNotifier {
  const sub: MmuNotifier = { mm, ops };
  mm.notifiers.push(sub);
  return sub;
}

// mirrors mm/mmu_notifier.c:mmu_notifier_unregister
export function mmuNotifierUnregister(sub: MmuNotifier): void {
  const i = sub.mm.notifiers.indexOf(sub);
  if (i >= 0) sub.mm.notifiers.splice(i, 1);
}

// mirrors include/linux/mmu_notifier.h:mmu_notifier_range_init
export function mmuNotifierRange(mm: MmStruct, event: MmuNotifyEvent, start: number, end: number, owner: unknown = null): MmuNotifierRange {
  return { mm, start, end, event, blockable: true, owner };
}

// mirrors mm/mmu_notifier.c:__mmu_notifier_invalidate_range_start
export function invalidateRangeStart(host: Host, range: MmuNotifierRange): void {
  host.ev[Ev.NOTIFIER_INVALIDATE]++;
  const subs = range.mm.notifiers;
  for (let i = 0; i < subs.length; i++) subs[i]!.ops.invalidateRangeStart?.(range);
}

// mirrors mm/mmu_notifier.c:__mmu_notifier_invalidate_range_end
export function invalidateRangeEnd(range: MmuNotifierRange): void {
  const subs = range.mm.notifiers;
  for (let i = 0; i < subs.length; i++) subs[i]!.ops.invalidateRangeEnd?.(range);
}

/**
 * Begin invalidating [start, end) of mm: counted always, and delivered to the
 * subscribers if any. Returns the range to pass to invalidateEnd, or null when
 * nobody subscribes (so hot paths allocate nothing).
 */
// mirrors include/linux/mmu_notifier.h:mmu_notifier_invalidate_range_start
export function invalidateStart(host: Host, mm: MmStruct, event: MmuNotifyEvent, start: number, end: number): MmuNotifierRange | null {
  if (mm.notifiers.length === 0) {
    host.ev[Ev.NOTIFIER_INVALIDATE]++;
    return null;
  }
  const range = mmuNotifierRange(mm, event, start, end);
  invalidateRangeStart(host, range);
  return range;
}

// mirrors include/linux/mmu_notifier.h:mmu_notifier_invalidate_range_end
export function invalidateEnd(range: MmuNotifierRange | null): void {
  if (range !== null) invalidateRangeEnd(range);
}

/** Run fn between invalidate_range_start and _end for [start, end) of mm. */
export function withInvalidate<T>(host: Host, mm: MmStruct, event: MmuNotifyEvent, start: number, end: number, fn: () => T): T {
  const range = invalidateStart(host, mm, event, start, end);
  try {
    return fn();
  } finally {
    invalidateEnd(range);
  }
}

/** Tell subscribers that [start, end) of mm was collapsed in place (not in Linux: see MmuNotifierOps.postCollapse). */
export function mmuNotifierPostCollapse(host: Host, mm: MmStruct, start: number, end: number): void {
  host.ev[Ev.NOTIFIER_POST_COLLAPSE]++;
  const subs = mm.notifiers;
  if (subs.length === 0) return;
  const range = mmuNotifierRange(mm, MmuNotifyEvent.CLEAR, start, end);
  for (let i = 0; i < subs.length; i++) subs[i]!.ops.postCollapse?.(range);
}

// mirrors mm/mmu_notifier.c:__mmu_notifier_clear_young
export function mmuNotifierClearYoung(host: Host, mm: MmStruct, start: number, end: number): boolean {
  host.ev[Ev.NOTIFIER_CLEAR_YOUNG]++;
  let young = false;
  for (const s of mm.notifiers) if (s.ops.clearYoung?.(mm, start, end)) young = true;
  return young;
}

// mirrors mm/mmu_notifier.c:__mmu_notifier_clear_flush_young
export function mmuNotifierClearFlushYoung(host: Host, mm: MmStruct, start: number, end: number): boolean {
  host.ev[Ev.NOTIFIER_CLEAR_YOUNG]++;
  let young = false;
  for (const s of mm.notifiers) if (s.ops.clearFlushYoung?.(mm, start, end)) young = true;
  return young;
}

// mirrors mm/mmu_notifier.c:__mmu_notifier_test_young
export function mmuNotifierTestYoung(mm: MmStruct, addr: number): boolean {
  for (const s of mm.notifiers) if (s.ops.testYoung?.(mm, addr)) return true;
  return false;
}

// mirrors mm/mmu_notifier.c:__mmu_notifier_release
export function mmuNotifierRelease(mm: MmStruct): void {
  for (const s of [...mm.notifiers]) s.ops.release?.(mm);
}
