/**
 * The cost model: a unit cost in nanoseconds for every counter (per event, or
 * per byte for the *_bytes counters), each with its source and a confidence,
 * and the dot product that turns counter deltas into simulated time.
 *
 * Counters measure work the model did, so a counter whose work is already
 * counted by the primitives beneath it (cow_copy: an allocation, a copy, PTE
 * writes) costs 0 here; its unit cost is the part nothing else counts.
 * docs/COSTS.md has the table with its sources and the calibration against
 * the host kernel (src/cost/calibration.test.ts).
 */
import { EVENT_NAMES, Ev, type EventName } from './counters.js';
import { describeValue } from '../lib/describe.js';
import { typedArrayInfo } from '../uapi/ctypes.js';

export type Confidence = 'high' | 'medium' | 'low';

export interface UnitCost {
  /** The counter's name (EVENT_NAMES). */
  readonly event: string;
  /** Nanoseconds per event, or per byte when per is 'byte'. */
  readonly ns: number;
  readonly per: 'event' | 'byte';
  /** Where the figure comes from: a paper, manual, kernel commit or cover letter, ../shared/reference notes, or a measurement here. */
  readonly source: string;
  readonly confidence: Confidence;
  readonly note: string;
}

/** Clock used to turn cited cycle counts into ns (a 3 GHz server core). */
export const CPU_GHZ = 3.0;
/** clear_page() at 4 KiB extents, GB/s (Arora, x86/clear_page: introduce clear_pages(), AMD Milan). */
export const ZERO_GBPS = 13.7;
/** copy_page() per 4 KiB with a cache-cold source, GB/s (Garg, folio_copy batching RFC, AMD EPYC 7713 baseline). */
export const COPY_GBPS = 13.0;
/** One IPI round trip of a TLB shootdown, ns (../shared/reference/kvm_mmu.md §0: 1-3 µs, unverified). */
export const IPI_NS = 2000;
/** VM exit + entry round trip, cycles (../shared/reference/kvm_mmu.md §0: ~1,350-2,530). */
export const VM_EXIT_CYCLES = 1940;
/** A locked read-modify-write on a cache-resident line, cycles (uops.info, LOCK INC m32: 18 on Alder Lake-P, 20 on Rocket Lake). */
const ATOMIC_CYCLES = 20;

/** A figure is flagged low-confidence when low-confidence unit costs carry at least this share of it. */
export const LOW_CONFIDENCE_SHARE = 0.1;

const cycles = (n: number): number => n / CPU_GHZ;

const KVM_MMU_0 = '../shared/reference/kvm_mmu.md §0';
const ZERO_SRC = `Ankur Arora, "x86/clear_page: introduce clear_pages()" (commit cb431accb36e as quoted by lexplain.net; ${ZERO_GBPS} GB/s at 4 KiB extents, AMD Milan) and "[PATCH v4 00/13] x86/mm: Add multi-page clearing" (LKML, 2025-06-16: 11.8 GB/s demand-faulting 2 MiB pages page by page)`;
const COPY_SRC = `Shivank Garg, "[RFC PATCH 1/1] mm: batch page copies in folio_copy() and folio_mc_copy()" (linux-mm, 2026-04-27): per-page copy_page baseline ${COPY_GBPS} GB/s (12.85-13.03), 2 MiB folios, source evicted, AMD EPYC 7713`;
const LOCKED = `uops.info measurements of LOCK INC m32 (latency and throughput 18 cycles on Alder Lake-P, 20 on Rocket Lake), ${ATOMIC_CYCLES} cycles at ${CPU_GHZ} GHz`;
const ESTIMATE = 'estimate (no measurement found); checked only in aggregate by src/cost/calibration.test.ts';
const OUTCOME = 'outcome count: its work is counted by the primitives it is made of';
const HVO_SRC = '../shared/reference/hugetlb_hgm.md §2 "Cost" (Yu Zhao\'s demote batching, 20240812224823.3914837-1-yuzhao@google.com: 100 x 1 GiB -> 2 MiB in 0.90 s, 8 m 58 s unbatched with 513 synchronize_rcu per page)';
const HGM_3 = '../shared/reference/hugetlb_hgm.md §3 (HGM v1 21/46 thread, 26-27 Jan 2023)';

/** A normal synchronize_rcu as the waiting caller sees it, ns: the unbatched demote's (538 s - 0.9 s) over its 100 x 513 grace periods (10.47 ms), rounded. */
export const SYNCHRONIZE_RCU_NS = 10_500_000;
/**
 * One vmemmap page restored or optimized, all in, ns: the batched demote of
 * 100 x 1 GiB (0.90 s) less its two grace periods (one per batch: restore,
 * then optimize the new 2 MiB pages), over the 100 x (4,095 + 512 x 7)
 * vmemmap pages it restores and frees again.
 */
export const VMEMMAP_PAGE_NS = (0.9e9 - 2 * SYNCHRONIZE_RCU_NS) / (100 * (4095 + 512 * 7));
/**
 * One KVM sPTE zapped by an invalidate, ns: James Houghton measured
 * mmu_notifier_invalidate_range_start at 10-30 ms for a 1 GiB range mapped at
 * 4 KiB (262,144 sPTEs) under KVM; the midpoint, 20 ms, per sPTE.
 */
export const SPTE_ZAP_NS = 20e6 / 262_144;
/**
 * One per-subpage _mapcount update of HGM's THP-like scheme, ns: James
 * Houghton timed a collapse of a 4 KiB-mapped 1 GiB page at ~1 s, almost all
 * of it in its 262,144 atomic decrements of cache-cold tail struct pages.
 */
export const HGM_SUBPAGE_MAPCOUNT_NS = 1e9 / 262_144;

type Entry = Omit<UnitCost, 'event'>;
const ev = (ns: number, confidence: Confidence, source: string, note: string): Entry => ({ ns, per: 'event', source, confidence, note });

/** Every counter's unit cost, by name; the compiler insists on one entry per EVENT_NAMES member. */
const TABLE: Record<EventName, Entry> = {
  pte_write: ev(2, 'low', ESTIMATE, 'set_pte is one 8-byte store to a cache-resident page-table line'),
  pmd_write: ev(2, 'low', ESTIMATE, 'as pte_write'),
  pud_write: ev(2, 'low', ESTIMATE, 'as pte_write'),
  pgd_write: ev(2, 'low', ESTIMATE, 'as pte_write'),
  pt_alloc: ev(4096 / ZERO_GBPS + 50, 'medium', `zeroing: ${ZERO_SRC}; +50 ns ctor and accounting: ${ESTIMATE}`, 'page-table pages come zeroed (__GFP_ZERO) and pass pagetable_*_ctor; the allocator call is folio_alloc + page_alloc'),
  pt_free: ev(50, 'low', ESTIMATE, 'pagetable_dtor and accounting; the page itself is counted by folio_free + page_free'),
  tlb_flush_range: ev(150, 'low', ESTIMATE, 'local INVLPG of the range (or a PCID flush above the 33-page ceiling) and the TLB refills after it'),
  tlb_flush_mm: ev(200, 'low', ESTIMATE, 'local flush of the whole PCID and the TLB refills after it'),
  tlb_shootdown: ev(0, 'medium', `${KVM_MMU_0} (cost per IPI)`, 'a shootdown to N remote CPUs costs N x ipi; the fixed part (flush_tlb_info, cpumask walk) is not charged'),
  tlb_remote_cpu: ev(0, 'high', 'structural', 'the same count as ipi, which carries the cost'),
  ipi: ev(IPI_NS, 'low', `${KVM_MMU_0}: Linux TLB shootdown ~1-3 µs per IPI round trip, grows with target CPUs [unverified there]`, 'the sender waits for each remote CPU to flush; midpoint of the range'),
  notifier_invalidate: ev(5, 'low', ESTIMATE, 'mmu_notifier_invalidate_range_start/end with no subscriber: a test of mm->notifier_subscriptions (subscribers count their own work)'),
  notifier_clear_young: ev(5, 'low', ESTIMATE, 'as notifier_invalidate'),
  atomic_refcount: ev(cycles(ATOMIC_CYCLES), 'medium', LOCKED, 'uncontended, cache-resident; a cold struct page costs a cache miss more, not modelled'),
  atomic_mapcount: ev(cycles(ATOMIC_CYCLES), 'medium', LOCKED, 'as atomic_refcount'),
  atomic_pincount: ev(cycles(ATOMIC_CYCLES), 'medium', LOCKED, 'as atomic_refcount'),
  page_alloc: ev(5, 'low', ESTIMATE, 'per base page: struct page init (prep_new_page, compound tails) and vmstat; the call is folio_alloc'),
  page_free: ev(5, 'low', ESTIMATE, 'per base page: free_pages_prepare checks; the call is folio_free'),
  folio_alloc: ev(200, 'low', ESTIMATE, 'per allocator call: pcp list or buddy, memcg charge, zone and vmstat accounting'),
  folio_free: ev(100, 'low', ESTIMATE, 'per free: pcp list or buddy merge, memcg uncharge'),
  zero_bytes: { ns: 1 / ZERO_GBPS, per: 'byte', source: ZERO_SRC, confidence: 'medium', note: `${ZERO_GBPS} GB/s: ${(4096 / ZERO_GBPS).toFixed(0)} ns per 4 KiB page; large folios are cleared page by page (folio_zero_user)` },
  copy_bytes: { ns: 1 / COPY_GBPS, per: 'byte', source: COPY_SRC, confidence: 'medium', note: `${COPY_GBPS} GB/s: ${(4096 / COPY_GBPS).toFixed(0)} ns per 4 KiB page; read/write and pipe copies are charged at the same rate` },
  fault: ev(800, 'low', 'third-party rdtsc measurement of a first read of anonymous memory: min 575 ns, median 1,013 ns (Linux 6.6, Core i7 11th gen; ddumbying.vercel.app/experiments/pagefault-latency)', 'exception entry and exit, VMA lookup, walk and handle_mm_fault bookkeeping; allocation, zeroing, PTE and rmap work are counted separately'),
  cow_copy: ev(0, 'medium', 'structural', `${OUTCOME} (folio_alloc, copy_bytes, pte_write, tlb_flush_range, atomics)`),
  cow_reuse: ev(0, 'medium', 'structural', `${OUTCOME} (pte_write)`),
  thp_fault_alloc: ev(0, 'medium', 'structural', `${OUTCOME} (folio_alloc, 512 page_alloc, 2 MiB of zero_bytes, pt_alloc for the deposit)`),
  thp_fault_fallback: ev(0, 'medium', 'structural', `${OUTCOME}: the fallback's 4 KiB faults are counted as such`),
  thp_split_pmd: ev(100, 'low', ESTIMATE, 'fixed part of __split_huge_pmd (PMD lock, deposit withdrawal); its 512 PTE writes and atomics are counted'),
  thp_split_page: ev(2000, 'low', ESTIMATE, '__folio_split: refcount freeze, struct page and refcount setup of every piece, LRU and memcg moves'),
  thp_collapse_alloc: ev(2000, 'low', ESTIMATE, 'fixed part of a collapse (collapse_huge_page): mmap_lock dropped and retaken for write, VMA revalidation, anon_vma lock, LRU isolation and putback; the allocation, copies, zeroing, PTE/PMD writes, flush and atomics are counted'),
  thp_collapse_alloc_failed: ev(0, 'medium', 'structural', `${OUTCOME}: a failed allocation costs what the allocator did`),
  fork_copy: ev(0, 'medium', 'structural', `${OUTCOME} (folio_alloc, copy_bytes)`),
  gup_fast_entry: ev(15, 'low', ESTIMATE, "per entry GUP-fast reads (a PTE, or a PMD/PUD leaf for all its pages): the lockless walk, mostly cache hits for consecutive pages, and the checks; the grab's atomics are counted"),
  gup_slow_entry: ev(50, 'low', ESTIMATE, "per entry the slow path follows (a PTE, or a leaf): follow_page_mask's walk under the page-table lock and can_follow_write_pte's checks; faulting in and the grab's atomics are counted"),
  migrate_folio: ev(1500, 'low', ESTIMATE, 'per folio: isolation, try_to_migrate rmap walk and migration entries, remove_migration_ptes, putback; the copy and allocation are counted'),
  migrate_page: ev(0, 'medium', 'structural', 'per base page the work is the copy, counted by copy_bytes'),
  synchronize_rcu: ev(SYNCHRONIZE_RCU_NS, 'medium', `derived from ${HVO_SRC}: (538 s - 0.9 s) / 51,300 grace periods`, 'a normal (not expedited) grace period, as the waiting caller sees it; depends on HZ and load'),
  syscall: ev(120, 'medium', 'measured on this machine (Linux 6.18.44, 2 vCPUs, KVM guest, Intel Xeon; 2026-12-07): syscall(SYS_getppid) loop, 5 x 5M calls, 115.5-129.4 ns', 'entry and exit with this kernel\'s mitigations (retpolines); the simulator counts one per syscall it issues'),
  vm_exit: ev(cycles(VM_EXIT_CYCLES), 'medium', `${KVM_MMU_0}: ~1,350 cycles pre->post VMRUN, ~2,530 for the KVM_RUN inner path (AMD, 2020); midpoint at ${CPU_GHZ} GHz`, 'exit and re-entry only; the handler\'s work is counted by its own events'),
  vmemmap_restore: ev(VMEMMAP_PAGE_NS, 'low', `derived from ${HVO_SRC}: (0.90 s - 2 synchronize_rcu) over the 100 x (4,095 restored + 512 x 7 optimized) vmemmap pages of the batched demote`, 'per vmemmap page, all in: allocation, 4 KiB copy, PTE rewrite, amortized flush (HugeTLB code should not count those again); restoring and optimizing are priced alike, as the one measurement cannot tell them apart'),
  vmemmap_optimize: ev(VMEMMAP_PAGE_NS, 'low', `derived from ${HVO_SRC}, as vmemmap_restore`, 'per vmemmap page freed, all in: PTE rewrite to the shared page, free, amortized flush'),
  attr_store: ev(100, 'low', `${ESTIMATE}; ../shared/reference/kvm_mmu.md §1.4 gives the count (one xa_reserve and one xa_store per gfn)`, 'one xarray store of a gfn\'s attributes, node allocation amortized'),
  spte_zap: ev(SPTE_ZAP_NS, 'low', `derived from ${HGM_3}: mmu_notifier_invalidate_range_start took 10-30 ms for a 4 KiB-mapped 1 GiB range with KVM; 20 ms / 262,144 sPTEs`, 'per secondary-MMU leaf zapped (KVM: the TDP MMU walk, clearing the sPTE, its share of the remote TLB flush); the subscriber counts the leaves it mirrored in the range'),
  hgm_subpage_mapcount: ev(HGM_SUBPAGE_MAPCOUNT_NS, 'low', `derived from ${HGM_3}: James Houghton measured ~1 s (ktime) per 1 GiB collapse under the THP-like scheme, "almost all" in its 262,144 decrements; 1 s / 262,144. The same thread says a direct 4K->1G collapse is only ~30% slower than head-only counting, which this figure does not reproduce (the full comparison was in an unread pastebin)`, 'one atomic update of a tail struct page\'s _mapcount, cache-cold (one struct page per 4 KiB, 64 B apart: every update misses); increments while mapping are priced as the decrements'),
  notifier_post_collapse: ev(5, 'low', ESTIMATE, 'the post-collapse notification itself (a walk of mm->notifier_subscriptions), as notifier_invalidate; subscribers count their own work (KVM\'s sPTE zaps as spte_zap)'),
};

/** Every unit cost, in Ev order. */
export const UNIT_COSTS: readonly UnitCost[] = Object.freeze(EVENT_NAMES.map((event) => Object.freeze({ event, ...TABLE[event] })));

/** A cost override named a counter that does not exist. */
export class UnknownCostError extends RangeError {
  constructor(readonly event: string) {
    super(`unknown cost ${describeValue(event)}; valid names: ${EVENT_NAMES.join(', ')}`);
    this.name = 'UnknownCostError';
  }
}

/** A cost override that is not a non-negative finite number, overrides that cannot be read, or counts that are not a Float64Array. */
export class InvalidCostError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidCostError';
  }
}

/** One primitive's share of an estimate. */
export interface CostLine {
  readonly primitive: string;
  readonly count: number;
  readonly unitNs: number;
  readonly ns: number;
  readonly confidence: Confidence;
}

export interface CostEstimate {
  readonly totalNs: number;
  /** The part resting on low-confidence unit costs. */
  readonly lowConfidenceNs: number;
  /** lowConfidenceNs / totalNs (0 when the total is 0). */
  readonly lowConfidenceShare: number;
  /** lowConfidenceShare >= LOW_CONFIDENCE_SHARE: reports flag the figure. */
  readonly lowConfidence: boolean;
  /** Non-zero counts only, in Ev order. */
  readonly lines: readonly CostLine[];
}

export class CostModel {
  /** Unit cost per counter, indexed by Ev: ns per event, or per byte. */
  readonly ns: Float64Array;
  /** The confidence of each unit cost, indexed by Ev (an override is as confident as the figure it replaces). */
  readonly confidence: readonly Confidence[];

  /** overrides: ns per event (per byte for *_bytes) by counter name, e.g. { ipi: 1500 }. */
  constructor(overrides: Readonly<Record<string, number>> = {}) {
    this.ns = new Float64Array(Ev.NR_EVENTS);
    for (let i = 0; i < UNIT_COSTS.length; i++) this.ns[i] = UNIT_COSTS[i]!.ns;
    this.confidence = UNIT_COSTS.map((u) => u.confidence);
    for (const [name, v] of readOverrides(overrides)) {
      const i = (EVENT_NAMES as readonly string[]).indexOf(name);
      if (i < 0) throw new UnknownCostError(name);
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new InvalidCostError(`cost ${name}: expected a non-negative number of ns, got ${describeValue(v)}`);
      this.ns[i] = v;
    }
  }

  /** Simulated ns for a counter delta (indexed by Ev): the hot path, a dot product. */
  time(delta: Float64Array): number {
    counters(delta, 'delta');
    const ns = this.ns;
    let t = 0;
    for (let i = 0; i < Ev.NR_EVENTS; i++) t += delta[i]! * ns[i]!;
    return t;
  }

  /** Where the time goes: count x unit cost per primitive, and how much rests on low-confidence figures. */
  estimate(counts: Float64Array): CostEstimate {
    counters(counts, 'counts');
    const lines: CostLine[] = [];
    let totalNs = 0;
    let lowConfidenceNs = 0;
    for (let i = 0; i < Ev.NR_EVENTS; i++) {
      const count = counts[i]!;
      if (count === 0) continue;
      const unitNs = this.ns[i]!;
      const ns = count * unitNs;
      const confidence = this.confidence[i]!;
      lines.push({ primitive: EVENT_NAMES[i]!, count, unitNs, ns, confidence });
      totalNs += ns;
      if (confidence === 'low') lowConfidenceNs += ns;
    }
    const lowConfidenceShare = totalNs > 0 ? lowConfidenceNs / totalNs : 0;
    return { totalNs, lowConfidenceNs, lowConfidenceShare, lowConfidence: lowConfidenceShare >= LOW_CONFIDENCE_SHARE, lines };
  }
}

/** Counts indexed by Ev: a Float64Array of at least NR_EVENTS, checked without running the caller's code (a Proxy is not one). */
function counters(v: unknown, what: string): void {
  const t = typedArrayInfo(v);
  if (t === null || t.kind !== 'Float64Array' || t.length < Ev.NR_EVENTS) throw new InvalidCostError(`${what}: expected a Float64Array of ${Ev.NR_EVENTS} counters`);
}

/**
 * The overrides' entries (the caller's getters run; what they throw passes
 * through). undefined is none; anything that is not an object, or an engine
 * error while reading it (a revoked Proxy), is InvalidCostError.
 */
function readOverrides(o: unknown): [string, unknown][] {
  if (o === undefined) return [];
  if (o === null || (typeof o !== 'object' && typeof o !== 'function')) throw new InvalidCostError(`cost overrides: expected an object of ns by counter name, got ${describeValue(o)}`);
  try {
    return Object.entries(o);
  } catch (e) {
    if (e instanceof TypeError) throw new InvalidCostError('cost overrides: the object cannot be read');
    throw e;
  }
}
