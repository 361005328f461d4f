/**
 * Multi-level page tables, x86-64 4-level layout (PGD -> PUD -> PMD -> PTE), with
 * leaves at PUD (1 GiB), PMD (2 MiB) and PTE (4 KiB). The same code will serve
 * KVM's stage-2 tables.
 *
 * A table is one 4 KiB page-table page (a folio slot with PG.PGTABLE, so it is
 * charged to meminfo PageTables exactly as Linux charges it) plus its entries in
 * typed arrays:
 *
 *   pfn[i]   F64  target pfn of a leaf entry (the child table's pfn for non-leaves)
 *   fl[i]    U32  x86 entry bits below; 0 means pte_none. Bits 0-11 sit where x86
 *                 has them; NX (bit 63 there) is bit 15, and PINNED, the
 *                 pte-bit design's software bit, is bit 16 (bit 57 there)
 *   kids[i]       child table of a non-leaf entry (upper levels only)
 *   deposit[i]    PMD level: the PTE table deposited for a THP leaf
 *                 (pgtable_trans_huge_deposit), withdrawn on split
 */
import { Ev } from '../cost/counters.js';
import type { Host } from './host.js';
import { Level, PGDIR_SHIFT, PMD_SHIFT, PTRS_PER_TABLE, PUD_SHIFT, tableIndex } from './page.js';

/** x86 page-table entry bits (arch/x86/include/asm/pgtable_types.h). NX is bit 63 there. */
export const enum Pte {
  PRESENT = 1 << 0,
  RW = 1 << 1,
  USER = 1 << 2,
  ACCESSED = 1 << 5,
  DIRTY = 1 << 6,
  /** _PAGE_PSE: a huge leaf at PMD/PUD level. */
  PSE = 1 << 7,
  /** _PAGE_PROTNONE (shares bit 8 with GLOBAL): present for the kernel, inaccessible for the CPU. */
  PROTNONE = 1 << 8,
  /** _PAGE_SPECIAL: no struct page refcounting (zero page, PFN maps). */
  SPECIAL = 1 << 9,
  UFFD_WP = 1 << 10,
  SOFT_DIRTY = 1 << 11,
  NX = 1 << 15,
  /**
   * "This entry pinned a page": the pte-bit pin-accounting design's software
   * bit (seed 003, never merged), set by GUP on the PTE or huge leaf it pinned
   * through and read by fork. On x86-64 it would take _PAGE_BIT_SOFTW4 (bit
   * 57; _PAGE_BIT_DEVMAP in 6.12, free once devmap is removed), the last
   * software bit of a leaf entry: SOFTW1-3 are SPECIAL, UFFD_WP and
   * SOFT_DIRTY, SOFTW5 is SAVED_DIRTY. Other designs never set it; pte_modify
   * keeps it, fork's copies for the child drop it, a PMD split gives it to
   * all 512 PTEs.
   */
  PINNED = 1 << 16,
  /**
   * A PTE marker (include/linux/swapops.h, make_pte_marker): a non-present,
   * non-none entry that maps nothing and records why the page is missing. The
   * marker kinds are the bits beside it: UFFD_WP (PTE_MARKER_UFFD_WP: the
   * page was write-protected by userfaultfd before it went away) and
   * MARKER_POISONED (PTE_MARKER_POISONED: UFFDIO_POISON; an access gets
   * SIGBUS). Linux encodes markers as swap entries of type SWP_PTE_MARKER.
   */
  MARKER = 1 << 17,
  MARKER_POISONED = 1 << 18,
  /**
   * A swap entry (include/linux/swapops.h, swp_entry_to_pte): a non-present
   * entry naming a slot of a swap device. x86 packs the type and the offset
   * into the entry's high bits; the model keeps them in the entry's pfn
   * field (swpEntry) and tags the entry with this bit. SOFT_DIRTY and
   * UFFD_WP keep their places as _PAGE_SWP_SOFT_DIRTY and _PAGE_SWP_UFFD_WP.
   */
  SWAP = 1 << 19,
  /** _PAGE_SWP_EXCLUSIVE: the swapped-out page was PageAnonExclusive. */
  SWP_EXCLUSIVE = 1 << 20,
}

/** A swap entry naming a swap slot (is_swap_pte and not a marker: the model has no migration or device entries). */
// mirrors include/linux/swapops.h:is_swap_pte (restricted to real swap entries)
export function isSwapEntry(fl: number): boolean {
  return (fl & (Pte.PRESENT | Pte.PROTNONE | Pte.SWAP)) === Pte.SWAP;
}

/** The uffd-wp PTE marker's entry bits. */
export const MARKER_UFFD_WP = Pte.MARKER | Pte.UFFD_WP;
/** The poisoned PTE marker's entry bits. */
export const MARKER_POISONED = Pte.MARKER | Pte.MARKER_POISONED;

/** A PTE marker (is_pte_marker). */
// mirrors include/linux/swapops.h:is_pte_marker
export function isPteMarker(fl: number): boolean {
  return (fl & (Pte.PRESENT | Pte.PROTNONE | Pte.MARKER)) === Pte.MARKER;
}

/** A uffd-wp PTE marker (pte_marker_uffd_wp). */
// mirrors include/linux/swapops.h:pte_marker_uffd_wp
export function pteMarkerUffdWp(fl: number): boolean {
  return isPteMarker(fl) && (fl & Pte.UFFD_WP) !== 0;
}

/** none, or a marker: no page mapped, so userfaultfd may fill it (pte_none_mostly). */
// mirrors include/linux/swapops.h:pte_none_mostly
export function pteNoneMostly(fl: number): boolean {
  return fl === 0 || isPteMarker(fl);
}

/** What software pte_mkdirty sets on x86: the dirty bit and the soft-dirty bit (the CPU sets only DIRTY). */
export const MKDIRTY = Pte.DIRTY | Pte.SOFT_DIRTY;

/** Bits of a non-leaf entry (_PAGE_TABLE). */
export const TABLE_BITS = Pte.PRESENT | Pte.RW | Pte.USER | Pte.ACCESSED | Pte.DIRTY;

// mirrors arch/x86/include/asm/pgtable.h:pte_present (PRESENT or PROTNONE)
export function ptePresent(fl: number): boolean {
  return (fl & (Pte.PRESENT | Pte.PROTNONE)) !== 0;
}

export function pteWrite(fl: number): boolean {
  return (fl & Pte.RW) !== 0;
}

export function pteDirty(fl: number): boolean {
  return (fl & Pte.DIRTY) !== 0;
}

export function pteSpecial(fl: number): boolean {
  return (fl & Pte.SPECIAL) !== 0;
}

/** A huge leaf entry at PMD or PUD level (pmd_trans_huge / pud_leaf). */
export function entryIsLeaf(level: number, fl: number): boolean {
  return level === Level.PTE ? fl !== 0 : (fl & Pte.PSE) !== 0;
}

/**
 * Entry i of an upper table is none or a leaf yet still holds a child table:
 * broken, as code that follows `kids` would reach a table the entry no longer
 * names (the oracles' check for host and stage-2 tables).
 */
export function staleChild(t: PageTable, i: number): boolean {
  const fl = t.fl[i]!;
  return t.level > Level.PTE && (fl === 0 || (fl & Pte.PSE) !== 0) && t.kids![i] !== undefined;
}

const WRITE_EV = [0, Ev.PTE_WRITE, Ev.PMD_WRITE, Ev.PUD_WRITE, Ev.PGD_WRITE];

/**
 * The entries of every empty PTE table: one shared pair of all-zero arrays.
 * A PTE table that loses its last entry (setEntry or settleClears bringing
 * `used` to 0) gives its arrays back and reads these until an entry is set
 * again. Linux keeps such a table (6.12 frees page tables only with their
 * VMA, as a probe on real 6.12.118 showed for MADV_DONTNEED and for a punched
 * memfd: src/mm/memory.test.ts), and so does the model: the table page stays allocated and counted;
 * only its 6 KiB of JS memory goes, so a process that touched a page in each
 * of a million 2 MiB regions and unmapped them costs the model what Linux's
 * page-table pages cost, not half as much again. Nothing may write a
 * non-zero value into these arrays; kernel.check() verifies it
 * (emptyPteTablesIntact).
 */
const EMPTY_PFN = new Float64Array(PTRS_PER_TABLE);
const EMPTY_FL = new Uint32Array(PTRS_PER_TABLE);
/** Bytes of one table's entry arrays: pfn (F64) then fl (U32), in one buffer. */
const ENTRY_BYTES = PTRS_PER_TABLE * (8 + 4);
/**
 * Entry arrays given back by emptied PTE tables (pfn and fl views of one
 * buffer, kept as pairs), reused before allocating: a table emptied and
 * refilled is common, and new views cost as much as the buffer.
 */
const poolPfn: Float64Array[] = [];
const poolFl: Uint32Array[] = [];
const ENTRY_POOL_MAX = 256;

/** True while no non-zero value has been written into the shared empty-table arrays. */
export function emptyPteTablesIntact(): boolean {
  for (let i = 0; i < PTRS_PER_TABLE; i++) if (EMPTY_FL[i] !== 0 || EMPTY_PFN[i] !== 0) return false;
  return true;
}

/** Give t (an empty PTE table) its own entry arrays. */
function materialize(t: PageTable): void {
  const fl = poolFl.pop();
  if (fl !== undefined) {
    t.pfn = poolPfn.pop()!;
    t.fl = fl;
    return;
  }
  const buf = new ArrayBuffer(ENTRY_BYTES);
  t.pfn = new Float64Array(buf, 0, PTRS_PER_TABLE);
  t.fl = new Uint32Array(buf, PTRS_PER_TABLE * 8, PTRS_PER_TABLE);
}

/** t, a PTE table, has no entry left (its arrays are all zero): share the empty arrays. */
function releaseEntries(t: PageTable): void {
  if (t.fl === EMPTY_FL) return;
  // Both arrays are all zero: a none entry's pfn is 0 (setEntry writes 0 with fl 0; bulk clears zero both).
  if (poolFl.length < ENTRY_POOL_MAX && t.fl.buffer.byteLength === ENTRY_BYTES) {
    poolPfn.push(t.pfn);
    poolFl.push(t.fl);
  }
  t.pfn = EMPTY_PFN;
  t.fl = EMPTY_FL;
}

/**
 * A page-table page. Hold `pfn` and `fl` only while no setEntry or
 * settleClears runs on the table: a PTE table swaps its arrays when it
 * empties and when it fills again (EMPTY_FL above).
 */
export interface PageTable {
  readonly level: Level;
  /** Folio slot of the page backing this table. */
  folio: number;
  pfn: Float64Array;
  fl: Uint32Array;
  readonly kids: (PageTable | undefined)[] | null;
  deposit: Int32Array | null;
  /** Entries that are not none. */
  used: number;
}

/**
 * A table object for the page at folio slot `folio`, with no entries. An
 * object literal rather than a class instance: V8 tracks the survival of
 * what one literal allocates and, as most tables outlive many collections
 * (a process keeps its page tables), allocates them in the old generation
 * directly instead of copying each one there.
 */
export function newPageTable(level: Level, folio: number): PageTable {
  const pte = level === Level.PTE;
  return {
    level,
    folio,
    pfn: pte ? EMPTY_PFN : new Float64Array(PTRS_PER_TABLE),
    fl: pte ? EMPTY_FL : new Uint32Array(PTRS_PER_TABLE),
    kids: pte ? null : new Array<PageTable | undefined>(PTRS_PER_TABLE),
    deposit: null,
    used: 0,
  };
}

/** Write entry i (set_pte_at / set_pmd_at / pmd_populate ...), keeping the used count. */
export function setEntry(host: Host, t: PageTable, i: number, pfn: number, fl: number): void {
  const old = t.fl[i]!;
  if (old === 0 && fl !== 0) {
    if (t.fl === EMPTY_FL) materialize(t);
    t.used++;
  } else if (old !== 0 && fl === 0) t.used--;
  // A none entry keeps no pfn, so an emptied table's arrays are all zero and can be shared or reused as they are.
  t.pfn[i] = fl === 0 ? 0 : pfn;
  t.fl[i] = fl;
  host.ev[WRITE_EV[t.level]!]++;
  if (t.used === 0 && old !== 0 && t.level === Level.PTE) releaseEntries(t);
}

/** Clear entry i (pte_clear / pmd_clear). */
export function clearEntry(host: Host, t: PageTable, i: number): void {
  setEntry(host, t, i, 0, 0);
}

/**
 * Entry i was not none and the caller zeroed t.fl[i] and t.pfn[i] itself: a
 * hot zap loop writes the arrays directly and settles the bookkeeping of n
 * such clears at once (n pte_clear calls: used count and write counter).
 */
export function settleClears(host: Host, t: PageTable, n: number): void {
  t.used -= n;
  host.ev[WRITE_EV[t.level]!] += n;
  if (t.used === 0 && n > 0 && t.level === Level.PTE) releaseEntries(t);
}

/** Mm-side accounting that page-table allocation needs (struct mm_struct). */
export interface PgtableOwner {
  /** mm->pgtables_bytes (VmPTE). */
  pgtablesBytes: number;
}

/** Allocate a table page without linking it (pgd_alloc for the root). */
export function newTable(host: Host, owner: PgtableOwner, level: Level): PageTable | null {
  const f = host.ptAlloc();
  if (f === 0) return null;
  owner.pgtablesBytes += 4096;
  return newPageTable(level, f);
}

/** Allocate a child table under entry i of t and link it (__pud_alloc / __pmd_alloc / __pte_alloc). */
export function allocChild(host: Host, owner: PgtableOwner, t: PageTable, i: number): PageTable | null {
  const child = newTable(host, owner, (t.level - 1) as Level);
  if (child === null) return null;
  t.kids![i] = child;
  setEntry(host, t, i, host.ft.pfn[child.folio]!, TABLE_BITS);
  return child;
}

/** Install an existing (withdrawn) table page under entry i (pmd_populate). */
export function linkChild(host: Host, t: PageTable, i: number, child: PageTable): void {
  t.kids![i] = child;
  setEntry(host, t, i, host.ft.pfn[child.folio]!, TABLE_BITS);
}

/** Free a table page and unlink it from its parent entry (pmd_free_tlb / pte_free_tlb). */
export function freeChild(host: Host, owner: PgtableOwner, parent: PageTable, i: number): void {
  const child = parent.kids![i]!;
  parent.kids![i] = undefined;
  clearEntry(host, parent, i);
  owner.pgtablesBytes -= 4096;
  host.ptFree(child.folio);
}

/** Reusable walk result, so hot paths allocate nothing (see xterm.js $workCell). */
export interface Walk {
  table: PageTable;
  idx: number;
  level: Level;
  /** The table above (and its entry index), or null at the root. */
  parent: PageTable | null;
  pidx: number;
}

/**
 * Walk from the root towards addr and stop at the first entry that is a leaf or
 * none, or at the PTE level. On return w.table.fl[w.idx] is that entry.
 */
export function walk(root: PageTable, addr: number, w: Walk): void {
  let t = root;
  let parent: PageTable | null = null;
  let pidx = 0;
  // Split the address once: bits 30 and up (exact in a double) and the low 30 bits.
  const hi = Math.floor(addr / 1073741824);
  const lo = addr - hi * 1073741824;
  for (;;) {
    const level = t.level;
    const i = level === Level.PTE ? (lo >>> 12) & 511 : level === Level.PMD ? (lo >>> 21) & 511 : level === Level.PUD ? hi & 511 : (hi >>> 9) & 511;
    const fl = t.fl[i]!;
    if (level === Level.PTE || fl === 0 || (fl & Pte.PSE) !== 0) {
      w.table = t;
      w.idx = i;
      w.level = level;
      w.parent = parent;
      w.pidx = pidx;
      return;
    }
    parent = t;
    pidx = i;
    t = t.kids![i]!;
  }
}

/**
 * The table at `level` that covers addr, allocating missing upper tables.
 * Returns null on allocation failure, or if a huge leaf above `level` covers addr.
 */
export function tableAlloc(host: Host, owner: PgtableOwner, root: PageTable, addr: number, level: Level): PageTable | null {
  let t = root;
  while (t.level > level) {
    const i = tableIndex(addr, t.level);
    const fl = t.fl[i]!;
    if (fl === 0) {
      const c = allocChild(host, owner, t, i);
      if (c === null) return null;
      t = c;
    } else if (fl & Pte.PSE) {
      return null;
    } else {
      t = t.kids![i]!;
    }
  }
  return t;
}

/** The table at `level` covering addr if it exists (no allocation). */
export function tableLookup(root: PageTable, addr: number, level: Level): PageTable | null {
  let t = root;
  while (t.level > level) {
    const i = tableIndex(addr, t.level);
    const fl = t.fl[i]!;
    if (fl === 0 || fl & Pte.PSE) return null;
    t = t.kids![i]!;
  }
  return t;
}

const SPAN = [0, 2 ** 21, 2 ** 30, 2 ** 39, 2 ** 48];
const LEVEL_SPAN_SHIFT = [0, PMD_SHIFT, PUD_SHIFT, PGDIR_SHIFT, 48];

/**
 * Free the page tables of [addr, end) that are not needed by anything in
 * [floor, ceiling) (0 ceiling = top of the address space). The range must already
 * be zapped. Follows the kernel's rounding: a table is freed only when its whole
 * span lies within [floor, ceiling).
 */
// mirrors mm/memory.c:free_pgd_range (and free_pud_range / free_pmd_range / free_pte_range)
export function freePgdRange(host: Host, owner: PgtableOwner, root: PageTable, addr: number, end: number, floor: number, ceiling: number): void {
  // The PMD-granular pre-rounding of free_pgd_range.
  addr = Math.floor(addr / SPAN[1]!) * SPAN[1]!;
  if (addr < floor) addr += SPAN[1]!;
  if (ceiling !== 0) {
    ceiling = Math.floor(ceiling / SPAN[1]!) * SPAN[1]!;
    if (ceiling === 0) return;
  }
  if (ceiling !== 0 && end - 1 > ceiling - 1) end -= SPAN[1]!;
  if (addr > end - 1) return;
  freeLevel(host, owner, root, addr, end, floor, ceiling);
}

/** Free child tables of t for [addr, end); a child is freed when its span is inside [floor, ceiling). */
function freeLevel(host: Host, owner: PgtableOwner, t: PageTable, addr: number, end: number, floor: number, ceiling: number): void {
  const childSpan = 2 ** LEVEL_SPAN_SHIFT[t.level - 1]!;
  let a = addr;
  while (a < end) {
    const i = tableIndex(a, t.level);
    const childStart = Math.floor(a / childSpan) * childSpan;
    const next = Math.min(childStart + childSpan, end);
    const fl = t.fl[i]!;
    if (fl !== 0 && !(fl & Pte.PSE)) {
      const child = t.kids![i]!;
      if (child.level === Level.PTE) {
        // free_pte_range: the PTE table goes with its PMD entry.
        freeChild(host, owner, t, i);
      } else {
        freeLevel(host, owner, child, a, next, floor, ceiling);
        // free_pmd_range / free_pud_range: drop this table if its span is free.
        // (start & MASK) >= floor, and end - 1 <= (ceiling & MASK) - 1 unless ceiling is the top.
        const inFloor = childStart >= floor;
        const ceilR = Math.floor(ceiling / childSpan) * childSpan;
        const inCeil = ceiling === 0 || (ceilR !== 0 && next - 1 <= ceilR - 1);
        // Freed only if empty: by construction it is, and keeping a non-empty table is the safe side.
        if (inFloor && inCeil && child.used === 0) freeChild(host, owner, t, i);
      }
    }
    a = next;
  }
}

/** Free every table under root, and root itself (exit: free_pgtables + pgd_free). */
export function freeAllTables(host: Host, owner: PgtableOwner, root: PageTable): void {
  const rec = (t: PageTable): void => {
    if (t.kids) {
      for (let i = 0; i < PTRS_PER_TABLE; i++) {
        const c = t.kids[i];
        if (c !== undefined) {
          rec(c);
          t.kids[i] = undefined;
        }
      }
    }
    owner.pgtablesBytes -= 4096;
    host.ptFree(t.folio);
  };
  rec(root);
}
