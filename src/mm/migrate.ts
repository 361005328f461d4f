/**
 * Page migration (mirrors mm/migrate.c) for the one reason the model needs so
 * far: moving a folio out of ZONE_MOVABLE or CMA before a long-term pin
 * (MR_LONGTERM_PIN, mm/gup.c:check_and_migrate_movable_pages).
 *
 * A folio migrates only when nothing but its mappings and the page cache
 * refer to it (folio_expected_ref_count), exactly like migrate_folio's
 * reference check; pinned or otherwise held folios stay and make the
 * migration (and so the long-term pin) fail with -ENOMEM.
 *
 * Simplification: Linux unmaps every mapping into migration entries, copies,
 * and then maps the new folio (try_to_migrate / remove_migration_ptes). The
 * model, being single-threaded, rewrites each mapping in place under one MMU
 * notifier (MIGRATE) per VMA, moving the mapcounts wholesale; the end state is
 * the same.
 */
import { errno } from '../uapi/errno.js';
import { Ev } from '../cost/counters.js';
import { PG, folioExpectedRefCount, folioNrPages, folioTestAnon, isZeroFolio } from './folio.js';
import type { AddressSpace } from './fs_types.js';
import type { Host } from './host.js';
import { invalidateEnd, invalidateStart, MmuNotifyEvent } from './mmu_notifier.js';
import { GFP_KERNEL } from './page_alloc.js';
import { LEVEL_SPAN, Level, PAGE_SIZE } from './page.js';
import { Pte, setEntry, type Walk, walk } from './pgtable.js';
import { NO_SITE, folioMaybeDmaPinnedP } from './pin_policy.js';
import { deferredSplitFolio, rmapWalk } from './rmap.js';
import { flushTlbRange } from './tlb.js';
import { MthpStat, modMthpStat } from './vmstat.js';

const $w: Walk = { table: null as never, idx: 0, level: Level.PTE, parent: null, pidx: 0 };

/**
 * For a long-term pin of n pages: if any pinned folio may not stay pinned,
 * unpin everything (with the pin's flags: an exclusive pin drops its bias), migrate those folios, and return -EAGAIN (pin again), or
 * -ENOMEM if a migration failed. 0 if every folio may stay pinned.
 */
// mirrors mm/gup.c:check_and_migrate_movable_pages (collect_longterm_unpinnable_folios + migrate_longterm_unpinnable_folios)
/**
 * A large folio whose mapping refuses long-term pins (gmemHugeShared
 * 'no-longterm-pin': "like ZONE_MOVABLE and FOLL_LONGTERM", seed 000).
 */
export function folioRefusesLongterm(host: Host, f: number): boolean {
  const ft = host.ft;
  if (ft.order[f] === 0) return false;
  const o = ft.owner[f];
  return o !== null && o !== undefined && o.kind === 'file' && (o as AddressSpace).gupPolicy?.noLongtermHuge === true;
}

export function migrateLongtermUnpinnable(host: Host, pages: readonly number[], n: number, pinFlags: number): number {
  const ft = host.ft;
  const collect = new Set<number>();
  for (let i = 0; i < n; i++) {
    const f = host.pfnFolio(pages[i]!);
    if (f === 0 || isZeroFolio(ft, f)) continue;
    if (!host.pa.longtermPinnable(ft.pfn[f]!) || folioRefusesLongterm(host, f)) collect.add(f);
  }
  if (collect.size === 0) return 0;
  // Keep the folios alive across the unpin (folio_isolate_lru takes a reference).
  for (const f of collect) host.folioGet(f);
  for (let i = 0; i < n; i++) {
    const f = host.pfnFolio(pages[i]!);
    if (f !== 0 && !isZeroFolio(ft, f)) host.pins.put(host, f, pages[i]! - ft.pfn[f]!, 1, pinFlags);
  }
  let failed = false;
  for (const f of collect) {
    if (folioRefusesLongterm(host, f)) {
      // Cannot move (guest_memfd pages are unmovable; a HugeTLB one is not on the active list for isolate_hugetlb):
      // 6.12 would retry on -EAGAIN with nothing isolated; the design ends it as a failed migrate_pages does.
      failed = true;
      (ft.owner[f] as AddressSpace).gupPolicy!.refused++;
    } else if (!migrateFolio(host, f)) failed = true;
    host.folioPut(f); // putback / the isolation reference
  }
  return failed ? -errno.ENOMEM : -errno.EAGAIN;
}

/**
 * Move folio f (held by the caller with one extra reference) to a new folio
 * in unmovable memory. Returns false if it cannot move: unexpected references,
 * a possible pin, or no memory.
 */
// mirrors mm/migrate.c:migrate_pages_batch -> migrate_folio_move (for MR_LONGTERM_PIN, GFP_USER)
export function migrateFolio(host: Host, f: number): boolean {
  const ft = host.ft;
  const nr = folioNrPages(ft, f);
  // folio_migrate_mapping: only the mappings, the page cache and our isolation reference.
  if (ft.refcount[f] !== folioExpectedRefCount(ft, f) + 1) return false;
  if (folioTestAnon(ft, f) && folioMaybeDmaPinnedP(host, f, 0, folioNrPages(ft, f), NO_SITE)) return false;
  // Nothing but our reference: nothing to move (the folio goes when we drop it).
  if (ft.refcount[f] === 1) return true;
  const nf = host.folioAlloc(ft.order[f]!, GFP_KERNEL);
  if (nf === 0) return false;
  // folio_migrate_copy: contents and flags.
  host.content.copyFolio(nf, f);
  host.ev[Ev.COPY_BYTES] += nr * PAGE_SIZE;
  const keep = PG.UPTODATE | PG.DIRTY | PG.LRU | PG.REFERENCED | PG.SWAPBACKED | PG.ANON | PG.ANON_EXCLUSIVE | PG.MM_IDS_SHARED | PG.FALLOC;
  ft.flags[nf] = ft.flags[f]! & keep;
  // __folio_migrate_mapping unqueues a partially mapped source from the deferred split queue.
  const requeue = (ft.flags[f]! & PG.PARTIALLY_MAPPED) !== 0;
  if (requeue) {
    ft.flags[f]! &= ~PG.PARTIALLY_MAPPED;
    modMthpStat(host.mthpStats, ft.order[f]!, MthpStat.NR_ANON_PARTIALLY_MAPPED, -1);
  }
  ft.index[nf] = ft.index[f]!;
  ft.owner[nf] = ft.owner[f] ?? null;
  // Mapcounts and per-page state move wholesale, as the mappings move.
  ft.mapcount[nf] = ft.mapcount[f]!;
  ft.entire[nf] = ft.entire[f]!;
  ft.nrMapped[nf] = ft.nrMapped[f]!;
  ft.mmId0[nf] = ft.mmId0[f]!;
  ft.mmId1[nf] = ft.mmId1[f]!;
  ft.mmCnt0[nf] = ft.mmCnt0[f]!;
  ft.mmCnt1[nf] = ft.mmCnt1[f]!;
  const ps = ft.pages.get(f);
  if (ps !== undefined) {
    ft.pages.set(nf, ps);
    ft.pages.delete(f);
  }
  const oldPfn = ft.pfn[f]!;
  const newPfn = ft.pfn[nf]!;
  // Every mapping now points at the new folio (remove_migration_ptes).
  rmapWalk(host, f, (vma, address) => {
    const start = Math.max(vma.start, address);
    const end = Math.min(vma.end, address + nr * PAGE_SIZE);
    if (end <= start) return;
    const range = invalidateStart(host, vma.mm, MmuNotifyEvent.MIGRATE, start, end);
    for (let a = start; a < end; ) {
      walk(vma.mm.pgd, a, $w);
      const t = $w.table;
      const fl = t.fl[$w.idx]!;
      const span = LEVEL_SPAN[$w.level]!;
      const base = Math.floor(a / span) * span;
      if (fl !== 0 && (fl & Pte.PSE || $w.level === Level.PTE)) {
        const pfn = t.pfn[$w.idx]!;
        if (pfn >= oldPfn && pfn < oldPfn + nr) {
          setEntry(host, t, $w.idx, newPfn + (pfn - oldPfn), fl);
          // try_to_migrate removes the mapping's rmap, remove_migration_ptes adds it on the new folio.
          host.ev[Ev.ATOMIC_MAPCOUNT] += 2;
        }
      }
      a = base + span;
    }
    flushTlbRange(host, vma.mm);
    invalidateEnd(range);
  });
  // The page cache slot moves too (folio_migrate_mapping).
  const owner = ft.owner[f];
  if (owner !== null && owner !== undefined && owner.kind === 'file') {
    const mapping = owner as AddressSpace;
    mapping.pages.delete(ft.index[f]!, ft.order[f]!);
    mapping.pages.set(ft.index[nf]!, ft.order[nf]!, nf);
  }
  // References: the new folio takes the old one's (mappings and cache); the old keeps our isolation reference.
  const moved = ft.refcount[f]! - 1;
  ft.refcount[nf] = moved;
  ft.refcount[f] = 1;
  // folio_ref_freeze on the old folio, folio_ref_add on the new one.
  host.ev[Ev.ATOMIC_REFCOUNT] += 2;
  host.ev[Ev.MIGRATE_FOLIO]++;
  host.ev[Ev.MIGRATE_PAGE] += nr;
  // The destination goes back on the deferred split queue (counted in split_deferred again).
  if (requeue) deferredSplitFolio(host, nf);
  // The old folio is no longer anon: nr_anon neither drops for it nor rises for the new one (Linux does both).
  ft.flags[f]! &= ~(PG.ANON | PG.ANON_EXCLUSIVE | PG.LRU);
  ft.owner[f] = null;
  ft.mapcount[f] = -1;
  ft.entire[f] = -1;
  ft.nrMapped[f] = 0;
  ft.mmId0[f] = 0;
  ft.mmId1[f] = 0;
  ft.mmCnt0[f] = -1;
  ft.mmCnt1[f] = -1;
  return true;
}
