/**
 * /proc/kpagecount, /proc/kpageflags and a struct folio view of one pfn
 * (mirrors fs/proc/page.c).
 */
import * as KPF from '../../uapi/kernel_page_flags.js';
import {
  PG,
  folioEntireMapcount,
  folioExpectedRefCount,
  folioFlagNames,
  folioMapcount,
  folioMaybeMappedShared,
  folioNrPages,
  pageAnonExclusive,
  pageMapcountRaw,
} from '../../mm/folio.js';
import { peekMaybePinned } from '../../mm/pin_policy.js';
import { hgmPrecisePageMapcount } from '../../mm/hugetlb_hgm.js';
import type { Host } from '../../mm/host.js';
import { MAX_PAGE_ORDER } from '../../mm/page.js';

/** pfn beyond RAM or not an integer. */
function badPfn(host: Host, pfn: number): boolean {
  return !Number.isSafeInteger(pfn) || pfn < 0 || pfn >= host.pa.totalPages;
}

// mirrors fs/proc/page.c:kpagecount_read
export function kpagecount(host: Host, pfn: number): number {
  if (badPfn(host, pfn)) return 0;
  const f = host.pfnFolio(pfn);
  if (f === 0 || host.ft.flags[f]! & PG.PGTABLE) return 0;
  return hgmPrecisePageMapcount(host, f, pfn - host.ft.pfn[f]!);
}

/** Is pfn the first page of a maximal free block (PageBuddy)? */
function isBuddyHead(host: Host, pfn: number): boolean {
  const z = host.pa.zoneOf(pfn);
  let head = false;
  z.free.forEach(
    (s, e) => {
      let p = s;
      while (p < e && p <= pfn) {
        let o = MAX_PAGE_ORDER;
        while (o > 0 && (p % 2 ** o !== 0 || p + 2 ** o > e)) o--;
        if (p === pfn) head = true;
        p += 2 ** o;
      }
    },
    pfn,
    pfn + 1,
  );
  return head;
}

/**
 * /proc/kpageflags of pfn: the KPF_* bits, with the kernel-internal ones from
 * bit 32 on, as 6.12 exports them. Two things to know when reading them:
 * - 6.12 reports KPF_KSM for every anonymous page: it tests
 *   `mapping & PAGE_MAPPING_KSM`, and that mask includes PAGE_MAPPING_ANON.
 *   Upstream fixed it later ("fs/proc: fix KPF_KSM reported for all anonymous
 *   pages"); the model prints what 6.12 prints.
 * - The model has no per-CPU LRU batches. A new page is on the LRU at once,
 *   and PG_active is not modelled. Under MGLRU, real 6.12 shows a fresh 4 KiB
 *   page as ACTIVE and not yet LRU until its batch drains.
 */
// mirrors fs/proc/page.c:stable_page_flags
export function kpageflags(host: Host, pfn: number): number {
  if (badPfn(host, pfn)) return 1 << KPF.KPF_NOPAGE;
  const f = host.pfnFolio(pfn);
  if (f === 0) return host.pa.isFree(pfn) && isBuddyHead(host, pfn) ? 1 << KPF.KPF_BUDDY : 0;
  const ft = host.ft;
  const fl = ft.flags[f]!;
  let u = 0;
  if (fl & PG.PGTABLE) return 1 << KPF.KPF_PGTABLE;
  if (ft.order[f]! > 0) u |= 1 << (pfn === ft.pfn[f] ? KPF.KPF_COMPOUND_HEAD : KPF.KPF_COMPOUND_TAIL);
  if (fl & PG.HUGETLB) u |= 1 << KPF.KPF_HUGE;
  else if (fl & PG.ZERO && ft.order[f]! > 0) u |= (1 << KPF.KPF_ZERO_PAGE) | (1 << KPF.KPF_THP);
  else if (ft.order[f]! > 0) u |= 1 << KPF.KPF_THP;
  else if (fl & PG.ZERO) u |= 1 << KPF.KPF_ZERO_PAGE;
  if (folioMapcount(ft, f) > 0) u |= 1 << KPF.KPF_MMAP;
  // (The 6.12 KSM test above: PAGE_MAPPING_KSM's mask holds the ANON bit.)
  if (fl & PG.ANON) u |= (1 << KPF.KPF_ANON) | (1 << KPF.KPF_KSM);
  if (fl & PG.REFERENCED) u |= 1 << KPF.KPF_REFERENCED;
  if (fl & PG.UPTODATE) u |= 1 << KPF.KPF_UPTODATE;
  if (fl & PG.DIRTY) u |= 1 << KPF.KPF_DIRTY;
  if (fl & PG.LRU) u |= 1 << KPF.KPF_LRU;
  if ((fl & (PG.SWAPBACKED | PG.SWAPCACHE)) === (PG.SWAPBACKED | PG.SWAPCACHE)) u |= 1 << KPF.KPF_SWAPCACHE;
  if (fl & PG.SWAPBACKED) u |= 1 << KPF.KPF_SWAPBACKED;
  if (fl & PG.UNEVICTABLE) u |= 1 << KPF.KPF_UNEVICTABLE;
  if (fl & PG.HWPOISON) u |= 1 << KPF.KPF_HWPOISON;
  // The kernel-internal bits, above 32 bits: copied from the folio's flags, so a tail page shows its head's.
  let hi = 0;
  if (fl & PG.RESERVED) hi |= 1 << (KPF.KPF_RESERVED - 32);
  if (fl & PG.MLOCKED) hi |= 1 << (KPF.KPF_MLOCKED - 32);
  // PG_owner_2 is PG_anon_exclusive on an anonymous folio.
  if (fl & PG.ANON && pageAnonExclusive(ft, f, 0)) hi |= 1 << (KPF.KPF_OWNER_2 - 32);
  if (fl & PG.PRIVATE) hi |= 1 << (KPF.KPF_PRIVATE - 32);
  return u + hi * 2 ** 32;
}

/** struct folio, as a kernel developer reads it in a crash dump. */
export interface FolioInfo {
  /** The pfn asked about, and the folio's head pfn. */
  pfn: number;
  head: number;
  order: number;
  nrPages: number;
  zone: string;
  refcount: number;
  /** folio_mapcount(). */
  mapcount: number;
  /** _entire_mapcount + 1 (large folios). */
  entireMapcount: number;
  /** _nr_pages_mapped (large folios), including ENTIRELY_MAPPED (0x800000). */
  nrPagesMapped: number;
  /** _pincount (large folios). */
  pincount: number;
  /** This page's own _mapcount + 1 (PTE mappings of this page only). */
  pageMapcount: number;
  /** PageAnonExclusive of this page. */
  anonExclusive: boolean;
  flags: string[];
  /** Who owns it: an anon_vma, a file mapping (with index), or nothing. */
  owner: { kind: 'anon' | 'file'; id: number; index: number } | null;
  maybeDmaPinned: boolean;
  maybeMappedShared: boolean;
  expectedRefCount: number;
  /** _mm_id[] / _mm_id_mapcount[] (+1), large folios. */
  mmIds: [number, number];
  mmIdMapcounts: [number, number];
}

/** The folio containing pfn, or null if the pfn is free, reserved or beyond RAM. */
export function folioInfo(host: Host, pfn: number): FolioInfo | null {
  if (badPfn(host, pfn)) return null;
  const f = host.pfnFolio(pfn);
  if (f === 0) return null;
  const ft = host.ft;
  const page = pfn - ft.pfn[f]!;
  const large = ft.order[f]! > 0;
  const o = ft.owner[f];
  return {
    pfn,
    head: ft.pfn[f]!,
    order: ft.order[f]!,
    nrPages: folioNrPages(ft, f),
    zone: host.pa.zoneOf(pfn).name,
    refcount: ft.refcount[f]!,
    mapcount: folioMapcount(ft, f),
    entireMapcount: large ? folioEntireMapcount(ft, f) : 0,
    nrPagesMapped: large ? ft.nrMapped[f]! : 0,
    pincount: large ? ft.pincount[f]! : 0,
    pageMapcount: large ? (ft.flags[f]! & PG.HUGETLB ? host.hgm.subpageMapcount(f, page) : pageMapcountRaw(ft, f, page) + 1) : folioMapcount(ft, f),
    anonExclusive: pageAnonExclusive(ft, f, page),
    flags: folioFlagNames(ft, f),
    owner: o === null || o === undefined ? null : { kind: o.kind, id: o.id, index: ft.index[f]! },
    // What the configured pin-accounting design answers (upstream: folio_maybe_dma_pinned).
    maybeDmaPinned: peekMaybePinned(host, f, 0, folioNrPages(ft, f)),
    maybeMappedShared: folioMaybeMappedShared(ft, f),
    expectedRefCount: folioExpectedRefCount(ft, f),
    mmIds: [ft.mmId0[f]!, ft.mmId1[f]!],
    mmIdMapcounts: [ft.mmCnt0[f]! + 1, ft.mmCnt1[f]! + 1],
  };
}
