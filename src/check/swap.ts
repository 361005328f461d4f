/**
 * The oracle's swap rules (docs/INVARIANTS.md, "Swap"): every swap entry
 * names a slot of an active area, each slot's swap count equals the swap
 * PTEs naming it, SWAP_HAS_CACHE is set exactly where the swap cache holds
 * a page, the in-use and SwapCached counts add up, an exclusive swap entry
 * is the slot's only reference, and no swap entry names a page that is
 * pinned; the areas are on the active and avail lists in priority order
 * with the automatic priorities -2, -3, ... least_priority, and exactly the
 * active swap files are S_SWAPFILE.
 */
import { PG, folioNrPages } from '../mm/folio.js';
import type { Host } from '../mm/host.js';
import { swpEntry, swpOffset, swpType } from '../mm/swapfile.js';
import { InodeFlag } from '../mm/fs_types.js';
import { Pte } from '../mm/pgtable.js';

/** A rule broken: the oracle's Violation without its import (no cycle with oracle.ts). */
export interface SwapViolation {
  name: string;
  message: string;
  pfn?: number;
  addr?: number;
  pid?: number;
  expected?: number;
  actual?: number;
}

/** Swap PTE counts per slot, one typed array per area, filled by the page-table walk. */
export class SwapTally {
  private readonly byType: (Uint32Array | undefined)[] = [];
  /** Slots named by an exclusive swap entry (offsets, per type), checked once the counts are known. */
  readonly exclusive: number[] = [];

  constructor(private readonly host: Host) {}

  /** One swap PTE: its problem, or null. */
  entry(val: number, fl: number): string | null {
    const si = this.host.swap.si(val);
    const off = swpOffset(val);
    if (si === null || off === 0 || off >= si.hw) return `swap entry ${swpType(val)}:${off} names no slot of an active area`;
    if (fl & ~(Pte.SWAP | Pte.SWP_EXCLUSIVE | Pte.SOFT_DIRTY | Pte.UFFD_WP)) return `swap entry carries bits 0x${fl.toString(16)}`;
    let t = this.byType[si.type];
    if (t === undefined) t = this.byType[si.type] = new Uint32Array(si.hw);
    t[off]!++;
    if (fl & Pte.SWP_EXCLUSIVE) this.exclusive.push(val);
    return null;
  }

  /** References the swap cache holds on folios: one per page. */
  cacheRefs(ref: (f: number, n: number) => void): void {
    for (const f of this.host.swap.folioSwap.keys()) ref(f, folioNrPages(this.host.ft, f));
  }

  /** The per-slot rules, after every page table was walked. */
  check(push: (v: SwapViolation) => void): void {
    const host = this.host;
    const st = host.swap;
    const ft = host.ft;
    let cached = 0;
    for (const [f, val] of st.folioSwap) {
      const nr = folioNrPages(ft, f);
      cached += nr;
      if (!ft.isLive(f) || !(ft.flags[f]! & PG.SWAPCACHE) || !(ft.flags[f]! & PG.ANON || ft.mapcount[f]! < 0)) {
        push({ name: 'swap-cache-folio', message: 'a swap-cache folio is freed, lacks PG_swapcache, or is mapped without being anonymous', pfn: ft.pfn[f] });
      }
      for (let k = 0; k < nr; k++) {
        if (st.cacheFolio.get(val + k) !== f) push({ name: 'swap-cache-folio', message: `the swap cache does not map entry ${swpOffset(val + k)} to its folio`, pfn: ft.pfn[f] });
      }
    }
    if (cached !== st.cachedPages || cached !== st.cacheFolio.size) push({ name: 'swap-cached-mismatch', message: `SwapCached counts ${st.cachedPages} pages, the swap cache holds ${st.cacheFolio.size}, its folios ${cached}`, expected: cached, actual: st.cachedPages });
    for (const si of st.active()) {
      const t = this.byType[si.type];
      let inuse = 0;
      let flagged = 0;
      for (let off = 1; off < si.hw; off++) {
        const want = t === undefined ? 0 : t[off]!;
        if (si.map[off] !== want) {
          push({ name: 'swap-count-mismatch', message: `swap slot ${si.type}:${off} has count ${si.map[off]}, ${want} swap PTEs name it`, expected: want, actual: si.map[off] });
          return;
        }
        if (si.cache[off] === 1) {
          flagged++;
          if (!st.cacheFolio.has(swpEntry(si.type, off))) {
            push({ name: 'swap-has-cache-mismatch', message: `swap slot ${si.type}:${off} is SWAP_HAS_CACHE but the swap cache lacks it` });
            return;
          }
        }
        if (want > 0 || si.cache[off] === 1) inuse++;
      }
      // Entries above the high-water mark, or cached without the flag, show up as a count difference.
      let inCache = 0;
      for (const val of st.cacheFolio.keys()) if (swpType(val) === si.type) inCache++;
      if (inCache !== flagged) push({ name: 'swap-has-cache-mismatch', message: `area ${si.type}: ${flagged} slots SWAP_HAS_CACHE, the swap cache holds ${inCache}`, expected: inCache, actual: flagged });
      if (t !== undefined && t.length > si.hw && t.subarray(si.hw).some((n) => n > 0)) push({ name: 'swap-count-mismatch', message: `swap PTEs name slots of area ${si.type} never allocated` });
      if (si.map[0] !== 0 || si.cache[0] !== 0) push({ name: 'swap-header-used', message: `the swap header slot of area ${si.type} is in use` });
      if (inuse !== si.inuse) push({ name: 'swap-inuse-mismatch', message: `area ${si.type}: ${si.inuse} slots counted in use, ${inuse} are (SwapFree)`, expected: inuse, actual: si.inuse });
    }
    for (const val of this.exclusive) {
      const si = st.si(val)!;
      const f = st.cacheFolio.get(val);
      if (si.map[swpOffset(val)] !== 1 || (f !== undefined && ft.mapcount[f]! >= 0)) {
        push({ name: 'swap-exclusive-shared', message: `exclusive swap entry ${swpOffset(val)} is not the only reference to its page` });
      }
    }
    // A pinned page is never swapped out: no swap entry names a swap-cache page with a pin.
    for (const [f, val] of st.folioSwap) {
      const si = st.si(val)!;
      for (let k = 0; k < folioNrPages(ft, f); k++) {
        if (si.map[swpOffset(val) + k]! > 0 && host.pinnedPages(f, k) > 0) {
          push({ name: 'swap-pinned', message: 'a swap entry names a page that is pinned', pfn: ft.pfn[f]! + k });
          break;
        }
      }
    }
  }
}

/**
 * The areas' bookkeeping: the active list holds exactly the active areas,
 * by priority, highest first; the avail list the same areas, those with a
 * chosen priority before the automatic ones; the automatic priorities are
 * -2, -3, ... down to least_priority with none missing (swapoff lifts the
 * ones below); and an inode is S_SWAPFILE exactly while its area is active.
 */
export function checkSwapAreas(host: Host, vfs: { readonly inodes: Iterable<{ iFlags: number; ino: number }> }, push: (v: SwapViolation) => void): void {
  const st = host.swap;
  const active = st.active();
  const bad = (message: string) => push({ name: 'swap-area-lists', message });
  if (st.activeList.length !== active.length || active.some((si) => !st.activeList.includes(si))) bad('the active list does not hold exactly the active areas');
  if (st.avail.length !== active.length || active.some((si) => !st.avail.includes(si))) bad('the avail list does not hold exactly the active areas');
  for (let i = 1; i < st.activeList.length; i++) if (st.activeList[i]!.prio > st.activeList[i - 1]!.prio) bad('the active list is not in priority order');
  const key = (p: number) => (p >= 0 ? -p : 1);
  for (let i = 1; i < st.avail.length; i++) if (key(st.avail[i]!.prio) < key(st.avail[i - 1]!.prio)) bad('the avail list is not in priority order');
  const auto = active.map((si) => si.prio).filter((p) => p < 0).sort((a, b) => b - a);
  const want = auto.map((_, i) => -2 - i);
  if (auto.some((p, i) => p !== want[i]) || st.leastPriority !== -1 - auto.length) bad(`automatic priorities ${auto.join(',')} with least_priority ${st.leastPriority}`);
  const files = new Set(active.map((si) => si.inode).filter((i) => i !== null));
  for (const inode of vfs.inodes) {
    if (((inode.iFlags & InodeFlag.SWAPFILE) !== 0) !== files.has(inode)) push({ name: 'swapfile-flag', message: `inode ${inode.ino} is ${inode.iFlags & InodeFlag.SWAPFILE ? '' : 'not '}S_SWAPFILE, but ${files.has(inode) ? 'is' : 'is not'} an active swap file` });
  }
}
