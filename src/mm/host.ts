/**
 * The host's global memory-management state: what Linux keeps in global
 * variables and the per-node pglist_data. One Host per simulated Kernel.
 *
 *   pa       zones and the buddy allocator
 *   ft       folio metadata (struct folio), one slot per allocated block
 *   memmap   pfn -> folio slot (pfn_folio), multi-order entries
 *   content  the bytes of every page
 *   stat     node vmstat counters (NR_ANON_MAPPED, NR_SHMEM, ...)
 *   ev       event counters for the cost model
 */
import { SparseRadix } from '../lib/radix.js';
import { PfnCounts } from '../lib/pfn_counts.js';
import { Ev, newCounters } from '../cost/counters.js';
import { FolioTable, PG, folioNrPages } from './folio.js';
import { Gfp, GFP_KERNEL, PageAlloc } from './page_alloc.js';
import { PageContent } from './page_content.js';
import { HPAGE_PMD_ORDER, MAX_PAGE_ORDER } from './page.js';
import { MthpStat, NodeStat, modMthpStat, newMthpStats, newNodeStats } from './vmstat.js';
import { type PinAccounting, UpstreamPins } from './pin_policy.js';
import { type HgmMapcount, NoHgm } from './hgm_mapcount.js';
import type { HugetlbState } from './hugetlb.js';
import { VmemmapState } from './hugetlb_vmemmap.js';
import { SwapState } from './swapfile.js';
import { printkPointer } from './debug.js';

/** /sys/kernel/mm/transparent_hugepage/enabled */
export type ThpEnabled = 'always' | 'madvise' | 'never';

/** /sys/kernel/mm/transparent_hugepage/shmem_enabled (shmem_huge): a tmpfs huge= value, or deny / force. */
export type ShmemEnabled = 'always' | 'within_size' | 'advise' | 'never' | 'deny' | 'force';

export interface MmConfig {
  thp: {
    /** transparent_hugepage/enabled (default 'always', as most distros ship). */
    enabled: ThpEnabled;
    /** transparent_hugepage/use_zero_page (default true). */
    useZeroPage: boolean;
    /** transparent_hugepage/shmem_enabled (default 'never', Linux's default). */
    shmemEnabled: ShmemEnabled;
    /**
     * The per-size hugepages-<size>kB/enabled files as order bitmasks
     * (huge_anon_orders_always / _madvise / _inherit; an order in none of
     * them is "never"). 6.12's default: the PMD order inherits, every other
     * size is never.
     */
    anonOrders: { always: number; madvise: number; inherit: number };
    /**
     * The per-size hugepages-<size>kB/shmem_enabled files as order bitmasks
     * (huge_shmem_orders_always / _inherit / _within_size / _madvise; in none:
     * "never"). They govern shared anonymous memory only. 6.12's default: the
     * PMD order inherits shmem_enabled, every other size is never.
     */
    shmemOrders: { always: number; inherit: number; withinSize: number; madvise: number };
  };
  /** debugfs fault_around_bytes (default 65536). */
  faultAroundBytes: number;
  /** vm.max_map_count (default 65530). */
  maxMapCount: number;
  /** vm.mmap_min_addr (default 65536, as distros set it). */
  mmapMinAddr: number;
  /** nr_cpu_ids (Kernel option `cpus`, default 8): the CPUs a task may run on and a TLB shootdown may reach. */
  cpus: number;
}

export function defaultMmConfig(): MmConfig {
  return {
    thp: { enabled: 'always', useZeroPage: true, shmemEnabled: 'never', anonOrders: { always: 0, madvise: 0, inherit: 1 << HPAGE_PMD_ORDER },
      shmemOrders: { always: 0, inherit: 1 << HPAGE_PMD_ORDER, withinSize: 0, madvise: 0 },
    },
    faultAroundBytes: 65536,
    maxMapCount: 65530,
    mmapMinAddr: 65536,
    cpus: 8,
  };
}

export class Host {
  readonly pa: PageAlloc;
  readonly ft = new FolioTable();
  readonly memmap = new SparseRadix();
  readonly content = new PageContent();
  readonly stat = newNodeStats();
  /** The per-order mTHP counters (hugepages-<size>kB/stats/), see vmstat.ts. */
  readonly mthpStats = newMthpStats();
  readonly ev = newCounters();
  readonly cfg: MmConfig;
  /** The shared zero page's folio slot (ZERO_PAGE(0)). */
  readonly zeroPage: number;
  /** The huge zero folio, allocated on first use (mm_get_huge_zero_folio). */
  hugeZeroFolio = 0;
  /** Pages kept by "firmware" below the first usable pfn. */
  readonly reservedPages: number;

  private nextId = 1;

  /**
   * The GUP ledger: outstanding FOLL_PIN pins and FOLL_GET references per page
   * (pfn -> count). Ground truth for the oracle (I1, I2, I7) and for the pin
   * policies' metrics; the folio counters are what Linux actually keeps.
   */
  readonly pinLedger = new PfnCounts();
  readonly getLedger = new PfnCounts();
  /* Small folios keep their ledger in the folio table (ft.ledgerPins / ledgerGets): one typed-array add on the hot path. */
  /**
   * Pins that stand for a whole folio (head pfn -> count): what a caller keeps
   * when it holds one pin per folio, as io_uring's buffer coalescing does.
   */
  readonly folioPinLedger = new PfnCounts();
  /**
   * What each whole-folio pin reaches: head pfn -> (first page × 2^20 + pages) -> pins. io_uring keeps
   * one pin per folio but reaches only its buffer's pages, so only those count as pinned (pinnedPages).
   */
  readonly folioPinReach = new Map<number, Map<number, number>>();
  /** Bumped whenever a page-table page is freed: cached table pointers older than this may be detached. */
  ptGen = 0;
  /** The kernel log (printk ring), newest last; see debug.ts. */
  readonly log: string[] = [];
  /** A tracepoint sink (`foliosim trace`); null, the usual case, costs one test per tracepoint. */
  trace: ((event: string, fields: string) => void) | null = null;
  /** How pins are counted (see pin_policy.ts). */
  pins: PinAccounting = new UpstreamPins();
  /** How HugeTLB high-granularity mappings are counted (see hgm_mapcount.ts); 'off': no HGM, as in Linux 6.12. */
  hgm: HgmMapcount = new NoHgm();
  /** HGM collapse tells secondary MMUs afterwards (policy collapseNotifier 'post-collapse') instead of invalidating around it. */
  hgmPostCollapse = false;
  /** Swap areas and the swap cache (src/mm/swapfile.ts); no area until swapon. */
  readonly swap = new SwapState();
  /** The HugeTLB hstates and pools (src/mm/hugetlb.ts), set up at boot by hugetlbInit. */
  hugetlb: HugetlbState = null as never;
  /**
   * Called when a folio drops to one reference, while set (the 1 GiB series
   * RFC v2's guestmem_hugetlb folio_put callback: guest_memfd sets it while
   * pieces of a split HugeTLB page, which keep the split page's reference,
   * wait for their last pin to go). null on every other kernel.
   */
  folioPutCallback: ((f: number) => void) | null = null;
  /** Once a HugeTLB page has been split lazily (hugetlb_split.ts): pfnFolio of a pfn without a memmap entry, which makes the piece there if it is one not made yet. */
  lazyPfn: ((pfn: number) => number) | null = null;
  /** Where the vmemmap lives, for HugeTLB vmemmap optimization (src/mm/hugetlb_vmemmap.ts). */
  readonly vmemmap: VmemmapState;

  constructor(totalPages: number, movablePages: number, reservedPages: number, cfg: MmConfig, cmaPages = 0) {
    this.pa = new PageAlloc(totalPages, movablePages, reservedPages, cmaPages);
    this.vmemmap = new VmemmapState(this.pa.memmapZone.end - this.pa.memmapZone.start);
    this.reservedPages = reservedPages;
    this.cfg = cfg;
    const z = this.folioAlloc(0, GFP_KERNEL);
    if (z === 0) throw new RangeError('no memory for the zero page');
    // PG_reserved from boot and never PG_uptodate (real 6.12's kpageflags for it: ZERO_PAGE and RESERVED only).
    this.ft.flags[z]! |= PG.ZERO | PG.RESERVED;
    this.zeroPage = z;
  }

  /** A fresh id for mms, anon_vmas, inodes (never reused within a Host). */
  newId(): number {
    return this.nextId++;
  }

  /** Folio slot holding pfn, or 0 if the pfn is free or reserved (pfn_folio). */
  pfnFolio(pfn: number): number {
    const f = this.memmap.get(pfn);
    if (f >= 0) return f;
    return this.lazyPfn === null ? 0 : this.lazyPfn(pfn);
  }

  /**
   * Allocate a folio of 2^order pages: refcount 1, unmapped, contents undefined
   * (callers zero or fill them). Returns the slot, or 0 on failure.
   */
  // mirrors mm/page_alloc.c:folio_alloc (alloc_pages + page_rmappable_folio)
  folioAlloc(order: number, gfp: number): number {
    const pfn = order > MAX_PAGE_ORDER ? this.pa.allocContig(order, gfp) : this.pa.allocPages(order, gfp);
    if (pfn < 0) return 0;
    const f = this.ft.alloc(pfn, order);
    this.memmap.set(pfn, order, f);
    this.ev[Ev.PAGE_ALLOC] += 1 << order;
    this.ev[Ev.FOLIO_ALLOC]++;
    if (this.trace !== null) this.trace('mm_page_alloc', `page=${vmemmapAddr(pfn)} pfn=0x${pfn.toString(16)} order=${order} migratetype=${gfp & Gfp.MOVABLE ? 1 : 0} gfp_flags=${gfpNames(gfp)}`);
    return f;
  }

  /** Return a folio whose refcount reached zero to the buddy allocator. */
  // mirrors mm/page_alloc.c:free_frozen_pages (after free_pages_prepare)
  folioFree(f: number): void {
    const ft = this.ft;
    const pfn = ft.pfn[f]!;
    const order = ft.order[f]!;
    const fl = ft.flags[f]!;
    if (order > 0 && (fl & (PG.ANON | PG.HUGETLB)) === PG.ANON) {
      // folio_unqueue_deferred_split, then free_pages_prepare's nr_anon.
      if (fl & PG.PARTIALLY_MAPPED) modMthpStat(this.mthpStats, order, MthpStat.NR_ANON_PARTIALLY_MAPPED, -1);
      modMthpStat(this.mthpStats, order, MthpStat.NR_ANON, -1);
    }
    this.memmap.delete(pfn, order);
    this.pa.freePagesAt(pfn, order);
    this.content.drop(f);
    ft.release(f);
    this.ev[Ev.PAGE_FREE] += 1 << order;
    this.ev[Ev.FOLIO_FREE]++;
    if (this.trace !== null) this.trace('mm_page_free', `page=${vmemmapAddr(pfn)} pfn=0x${pfn.toString(16)} order=${order}`);
  }

  // mirrors include/linux/mm.h:folio_get / folio_ref_add
  folioGet(f: number, n = 1): void {
    this.ft.refcount[f] = this.ft.refcount[f]! + n;
    this.ev[Ev.ATOMIC_REFCOUNT]++;
  }

  /** Drop n references; free the folio when the count reaches zero (a HugeTLB folio goes back to its pool). */
  // mirrors mm/swap.c:folio_put_refs (-> __folio_put, free_huge_folio for HugeTLB)
  folioPut(f: number, n = 1): void {
    const ft = this.ft;
    const r = (ft.refcount[f] = ft.refcount[f]! - n);
    this.ev[Ev.ATOMIC_REFCOUNT]++;
    if (r === 0) {
      if (ft.flags[f]! & PG.HUGETLB) this.hugetlb.freeHugeFolio(f);
      else this.folioFree(f);
    } else if (r === 1 && this.folioPutCallback !== null) this.folioPutCallback(f);
  }

  /** Allocate a page-table page (pagetable_alloc + pagetable_*_ctor). Returns the slot or 0. */
  // mirrors include/linux/mm.h:pagetable_alloc and pagetable_pte_ctor (NR_PAGETABLE accounting)
  ptAlloc(): number {
    const f = this.folioAlloc(0, GFP_KERNEL);
    if (f === 0) return 0;
    this.ft.flags[f]! |= PG.PGTABLE;
    this.stat[NodeStat.NR_PAGETABLE]++;
    this.ev[Ev.PT_ALLOC]++;
    return f;
  }

  // mirrors include/linux/mm.h:pagetable_free (after pagetable_dtor)
  ptFree(f: number): void {
    this.ptGen++;
    this.stat[NodeStat.NR_PAGETABLE]--;
    this.ev[Ev.PT_FREE]++;
    this.folioPut(f);
  }

  /**
   * The huge zero folio, allocating it on first use. The model keeps it for the
   * life of the host (as CONFIG_PERSISTENT_HUGE_ZERO_FOLIO does).
   */
  // mirrors mm/huge_memory.c:mm_get_huge_zero_folio
  getHugeZeroFolio(): number {
    if (this.hugeZeroFolio === 0) {
      const f = this.folioAlloc(HPAGE_PMD_ORDER, GFP_KERNEL | Gfp.NOWARN);
      if (f === 0) return 0;
      this.ft.flags[f]! |= PG.ZERO | PG.UPTODATE;
      // Allocated with __GFP_ZERO: 2 MiB cleared once.
      this.zeroFolio(f);
      this.hugeZeroFolio = f;
    }
    return this.hugeZeroFolio;
  }

  /** Record refs pins (or gets) of one each on pages [page, page + |refs|) of f; negative refs release. */
  gupLedgerAdd(f: number, page: number, refs: number, pin: boolean): void {
    const ft = this.ft;
    if (ft.order[f] === 0) {
      // A small folio's pins (or gets) are all on its one page.
      if (pin) ft.ledgerPins[f] = ft.ledgerPins[f]! + refs;
      else ft.ledgerGets[f] = ft.ledgerGets[f]! + refs;
      return;
    }
    (pin ? this.pinLedger : this.getLedger).add(ft.pfn[f]! + page, Math.abs(refs), refs > 0 ? 1 : -1);
  }

  /** Outstanding pins covering page `page` of f, by the ledger: its own and its folio's. */
  pinnedPages(f: number, page: number): number {
    const n = this.pagePins(f, page);
    if (this.folioPinLedger.size === 0) return n;
    const reach = this.folioPinReach.get(this.ft.pfn[f]!);
    if (reach === undefined) return n;
    let m = n;
    for (const [key, pins] of reach) {
      const start = Math.floor(key / 2 ** 20);
      if (page >= start && page < start + (key % 2 ** 20)) m += pins;
    }
    return m;
  }

  /** Outstanding pins taken on page `page` of f itself (not whole-folio pins). */
  pagePins(f: number, page: number): number {
    return this.ft.order[f] === 0 ? this.ft.ledgerPins[f]! : this.pinLedger.get(this.ft.pfn[f]! + page);
  }

  /** Zero a whole new folio (clear_highpage / folio_zero_user), counting the bytes. */
  // mirrors mm/memory.c:folio_zero_user
  zeroFolio(f: number): void {
    this.content.setUniform(f, 0);
    this.ev[Ev.ZERO_BYTES] += folioNrPages(this.ft, f) * 4096;
  }
}

/** The struct page address of pfn in x86-64's vmemmap (what tracepoints print for page=). */
function vmemmapAddr(pfn: number): string {
  return printkPointer(0xffffea0000000000n + BigInt(pfn) * 64n);
}

/** gfp_flags as the tracepoint prints them (the flags the model distinguishes). */
function gfpNames(gfp: number): string {
  const base = gfp & Gfp.MOVABLE ? 'GFP_HIGHUSER_MOVABLE' : 'GFP_KERNEL';
  return gfp & Gfp.NOWARN ? `${base}|__GFP_NOWARN` : base;
}
