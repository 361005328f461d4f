/**
 * x86-64 paging geometry (arch/x86/include/asm/page_types.h, pgtable_64_types.h)
 * with 4-level page tables. Addresses are JS numbers: exact below 2^53, and user
 * addresses stay below TASK_SIZE (2^47).
 */
import { modPow2 } from '../lib/pow2.js';

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;
export const PMD_SHIFT = 21;
export const PMD_SIZE = 2 ** PMD_SHIFT;
export const PUD_SHIFT = 30;
export const PUD_SIZE = 2 ** PUD_SHIFT;
export const PGDIR_SHIFT = 39;
export const PGDIR_SIZE = 2 ** PGDIR_SHIFT;
export const PTRS_PER_TABLE = 512;

/** Orders of the mappable huge sizes. */
export const HPAGE_PMD_ORDER = PMD_SHIFT - PAGE_SHIFT; // 9
export const HPAGE_PMD_NR = 1 << HPAGE_PMD_ORDER; // 512
export const HPAGE_PUD_ORDER = PUD_SHIFT - PAGE_SHIFT; // 18
export const HPAGE_PUD_NR = 1 << HPAGE_PUD_ORDER;

/** Largest buddy order (include/linux/mmzone.h: MAX_PAGE_ORDER on x86-64). */
export const MAX_PAGE_ORDER = 10;

/** User address space limit, 4-level paging (TASK_SIZE_MAX = 2^47 - PAGE_SIZE). */
export const TASK_SIZE = 2 ** 47 - PAGE_SIZE;

/** Page-table levels, named as the kernel's enum pgtable_level. */
export const enum Level {
  PTE = 1,
  PMD = 2,
  PUD = 3,
  PGD = 4,
}

/** Shift of the span covered by one entry at each level. */
export const LEVEL_SHIFT: readonly number[] = [0, PAGE_SHIFT, PMD_SHIFT, PUD_SHIFT, PGDIR_SHIFT];
/** Bytes covered by one entry at each level (2 ** LEVEL_SHIFT, precomputed: Math.pow is slow on hot paths). */
export const LEVEL_SPAN: readonly number[] = LEVEL_SHIFT.map((s, i) => (i === 0 ? 0 : 2 ** s));

export function pageAligned(x: number): boolean {
  return modPow2(x, PAGE_SIZE) === 0;
}

/** Round up to a page boundary (PAGE_ALIGN). */
export function pageAlign(x: number): number {
  return Math.ceil(x / PAGE_SIZE) * PAGE_SIZE;
}

export function alignDown(x: number, a: number): number {
  return Math.floor(x / a) * a;
}

export function alignUp(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

const GIB = 2 ** 30;

/**
 * Index of the entry for addr in a table at the given level. The address is
 * split once into bits 30 and up (a double, exact) and the low 30 bits (an
 * int32), so every level is a shift and a mask.
 */
export function tableIndex(addr: number, level: number): number {
  const hi = Math.floor(addr / GIB);
  switch (level) {
    case Level.PTE:
      return ((addr - hi * GIB) >>> 12) & 511;
    case Level.PMD:
      return ((addr - hi * GIB) >>> 21) & 511;
    case Level.PUD:
      return hi & 511;
    default:
      return (hi >>> 9) & 511;
  }
}
