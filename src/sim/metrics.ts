/**
 * Metrics by name: what a scenario can put in its report, each with its unit,
 * which direction is better and how it is computed from a finished run. An
 * unknown name in a scenario is an error listing the valid ones; `foliosim
 * explain <metric>` prints the description.
 */
import type { MetricInfo } from '../report/model.js';
import type { PinAccountingReport } from '../kernel.js';
import type { DmaStats } from '../drivers/dma.js';
import type { EngineResult } from './engine.js';
import type { World } from './world.js';

/** Everything a metric may read once a run has ended. */
export interface RunOutcome {
  readonly world: World;
  readonly engine: EngineResult;
  readonly pins: PinAccountingReport;
  readonly dma: DmaStats;
  /** Counter deltas over the workload (setup excluded), by event name. */
  readonly events: Readonly<Record<string, number>>;
  /** The cost model's estimate of the workload's kernel time, ns. */
  readonly kernelNs: number;
  readonly meminfo: Readonly<Record<string, number>>;
}

export interface Metric extends Omit<MetricInfo, 'lowConfidence'> {
  /** Its value rests on the cost model (times): flagged when low-confidence costs carry much of it. */
  readonly costBased: boolean;
  compute(o: RunOutcome): number;
}

/** Latencies of operations named `op` over every actor, in order. */
function latencies(o: RunOutcome, op: string): number[] {
  const out: number[] = [];
  for (const [key, s] of o.engine.ops) if (key.endsWith(`:${op}`)) out.push(...s.latencies);
  return out;
}

function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Pins still held whose page the pinning process no longer maps at the pinned address. */
function pinsLost(o: RunOutcome): number {
  let n = 0;
  for (const h of o.world.held) {
    if (h.proc.mm === null) continue;
    const e = h.proc.pagemap(h.addr);
    if (!e.present || e.pfn !== h.pfn) n++;
  }
  return n;
}

const m = (
  id: string,
  label: string,
  unit: Metric['unit'],
  better: Metric['better'],
  chart: Metric['chart'],
  description: string,
  compute: (o: RunOutcome) => number,
  costBased = false,
): Metric => ({ id, label, unit, better, chart, description, compute, costBased });

export const METRICS: readonly Metric[] = [
  m('forkCopies', 'fork copies', 'pages', 'lower', 'copies', 'Pages fork copied for the child because the design called them maybe-pinned (copy_present_page, copy_huge_pmd).', (o) => o.events.fork_copy ?? 0),
  m('unnecessaryForkCopies', 'unnecessary fork copies', 'pages', 'lower', 'copies', 'Fork copies of pages that had no pin: the design answered "maybe pinned" wrongly.', (o) => o.pins.unnecessaryForkCopies),
  m('unnecessaryForkCopyBytes', 'unnecessary copy bytes', 'bytes', 'lower', 'copies', 'Bytes copied at fork for pages that had no pin.', (o) => o.pins.unnecessaryForkCopyBytes),
  m('cowCopies', 'COW copies', 'pages', 'lower', 'copies', 'Pages copied by write faults (copy-on-write) during the run.', (o) => o.events.cow_copy ?? 0),
  m('pinsLost', 'pins lost', 'pages', 'lower', 'none', 'Pinned pages the pinning process no longer maps where it pinned them at the end: the device reads and writes memory the process no longer sees.', pinsLost),
  m('pinnedPagesLostToCow', 'pinned pages COWed', 'pages', 'lower', 'none', 'Pinned pages that a copy-on-write in the pinning mm replaced (the design let fork share a pinned page).', (o) => o.pins.pinnedPagesLostToCow),
  m('staleDmaWrites', 'stale DMA writes', 'pages', 'lower', 'none', 'Device writes that landed in pinned pages the process no longer maps at that address (Kernel.dmaStats().staleWritePages).', (o) => o.dma.staleWritePages),
  m('falsePositives', 'maybe-pinned false +', 'count', 'lower', 'none', 'folio_maybe_dma_pinned answers "yes" for pages with no pin.', (o) => o.pins.falsePositives),
  m('falseNegatives', 'maybe-pinned false −', 'count', 'lower', 'none', 'folio_maybe_dma_pinned answers "no" for pinned pages (the dangerous kind).', (o) => o.pins.falseNegatives),
  m('stickyPages', 'pages out of play', 'pages', 'lower', 'none', 'Pages a sticky design marks pinned for good: copied at every fork of any process that maps them and has pinned something, and never migrated for a long-term pin.', (o) => o.pins.stickyPages),
  m('metadataBytes', 'metadata', 'bytes', 'lower', 'memory', "Memory the design needs beyond upstream's on this host (struct page extensions, side tables).", (o) => o.pins.metadataBytes),
  m('pageTableBytes', 'page tables', 'bytes', 'lower', 'memory', 'Page-table memory at the end of the run (PageTables in /proc/meminfo).', (o) => (o.meminfo.PageTables ?? 0) * 1024),
  m('maxPinsPerPage', 'pins per page', 'pins', 'higher', 'none', 'How many pins one 4 KiB page can take before the counter overflows (from the encoding).', (o) => o.pins.maxPinsPerPage),
  m('pinHeadroomBits', 'pin counter bits', 'bits', 'higher', 'none', 'Bits of counter left for normal pins: log2(pins per page + 1), to two decimals (upstream: 31 - 10 = 21).', (o) => Math.round(Math.log2(o.pins.maxPinsPerPage + 1) * 100) / 100),
  m('overflows', 'pin overflows', 'count', 'lower', 'none', 'Pins refused because a counter would overflow.', (o) => o.pins.overflows),
  m('exclusiveConflicts', 'exclusive refusals', 'count', 'none', 'none', 'Pins refused because a page is (or would be) exclusively pinned.', (o) => o.pins.exclusiveConflicts),
  m('pinsRefused', 'pins refused', 'count', 'none', 'none', 'Pin and get calls by actors that failed or came back short.', (o) => o.world.count('pinsRefused')),
  m('pinsOnGuestPages', 'host pins of guest pages', 'pages', 'lower', 'none', 'Pins by host users (I/O threads, devices) that succeeded on pages donated to the guest: isolation the design did not enforce.', (o) => o.world.count('pinsOnGuestPages')),
  m('getsOnGuestPages', 'FOLL_GET on guest pages', 'pages', 'lower', 'none', 'FOLL_GET references taken on pages donated to the guest (no pin design refuses them).', (o) => o.world.count('getsOnGuestPages')),
  m('forks', 'forks', 'count', 'none', 'none', 'Forks performed.', (o) => o.world.count('forks')),
  m('forkLatencyMedian', 'fork latency (median)', 'ns', 'lower', 'none', 'Median time of a fork, waiting for mmap_lock included (cost model).', (o) => median(latencies(o, 'fork')), true),
  m('forkLatencyMax', 'fork latency (max)', 'ns', 'lower', 'none', 'Longest fork, waiting for mmap_lock included (cost model).', (o) => Math.max(0, ...latencies(o, 'fork')), true),
  m('mmapLockWait', 'mmap_lock wait', 'ns', 'lower', 'none', 'Total time all actors waited for mmap_lock.', (o) => [...o.engine.actors.values()].reduce((a, s) => a + s.waitNs, 0), true),
  m('guestStall', 'guest stall', 'ns', 'lower', 'none', 'Time vCPU actors spent in the kernel (faults, COW) or waiting for it: for mmap_lock, for the userfaultfd monitor, for an invalidating collapse.', (o) => guestTime(o), true),
  m('kernelTime', 'kernel time', 'ns', 'lower', 'none', "The cost model's estimate of all kernel work in the workload.", (o) => o.kernelNs, true),
  m('tlbShootdowns', 'TLB shootdowns', 'count', 'lower', 'none', 'TLB flushes that had to interrupt other CPUs.', (o) => o.events.tlb_shootdown ?? 0),
  m('ipis', 'IPIs', 'count', 'lower', 'none', 'Inter-processor interrupts sent (TLB shootdowns).', (o) => o.events.ipi ?? 0),
  m('pinnedPages', 'pinned pages', 'pages', 'none', 'none', 'Pages pinned by actors and still held at the end.', (o) => o.world.held.size),
  m('copyBytes', 'bytes copied', 'bytes', 'lower', 'copies', 'All bytes the kernel copied (fork, COW, migration).', (o) => o.events.copy_bytes ?? 0),
  // Post-copy live migration (src/sim/postcopy/, seed 004).
  m('refused', 'refused by the kernel', 'count', 'lower', 'none', "1 when the kernel refused the design's setup (MADV_SPLIT failed: the design cannot run on this kernel configuration), else 0.", (o) => Math.min(1, o.world.count('refused'))),
  m('uffdFaults', 'userfaultfd faults', 'count', 'none', 'none', 'Guest accesses that took a userfaultfd MINOR fault (a vCPU waited for the monitor).', (o) => o.world.count('uffdFaults')),
  m('fetchLatencyP50', 'fault wait (median)', 'ns', 'lower', 'none', 'Median time from a vCPU touching a page not yet there to its resuming: the fetch over the link, placing, and any mmap_lock wait.', (o) => percentile(samples(o, 'faultLatency'), 0.5), true),
  m('fetchLatencyP99', 'fault wait (p99)', 'ns', 'lower', 'none', '99th percentile of the fault wait.', (o) => percentile(samples(o, 'faultLatency'), 0.99), true),
  m('vcpuStallMax', 'vCPU stall (longest)', 'ns', 'lower', 'none', 'The longest single stop of a vCPU (a fault wait or a collapse stall).', (o) => Math.max(0, ...samples(o, 'faultLatency'), ...samples(o, 'collapseStall'), ...[...o.engine.actors.values()].filter((a) => a.kind === 'guest').map((a) => a.maxBlockNs)), true),
  m('collapseStall', 'collapse stall', 'ns', 'lower', 'none', 'vCPU time stopped because a collapse invalidated the range they touched (the secondary MMU cannot map it until invalidate_range_end).', (o) => samples(o, 'collapseStall').reduce((a, x) => a + x, 0), true),
  m('collapses', 'collapses', 'count', 'none', 'none', 'MADV_COLLAPSE calls on guest memory (2 MiB and 1 GiB).', (o) => o.world.count('collapses')),
  m('collapseTime', 'collapse time', 'ns', 'lower', 'none', 'Total time of the MADV_COLLAPSE calls, waiting for mmap_lock included (cost model).', (o) => samples(o, 'collapseTime').reduce((a, x) => a + x, 0), true),
  m('collapseMax', 'collapse time (longest)', 'ns', 'lower', 'none', 'The longest MADV_COLLAPSE call.', (o) => Math.max(0, ...samples(o, 'collapseTime')), true),
  m('mapcountOps', 'subpage mapcount updates', 'count', 'lower', 'none', "Atomic updates of per-subpage _mapcount the HGM mapcount design made (hgm_subpage_mapcount: THP-like's +1/-1 per subpage a mapping covers).", (o) => o.events.hgm_subpage_mapcount ?? 0),
  m('spteZaps', 'sPTEs zapped', 'count', 'lower', 'none', "Secondary-MMU (KVM) leaf entries that MMU-notifier invalidates zapped (spte_zap).", (o) => o.events.spte_zap ?? 0),
  m('fetchedBytes', 'bytes fetched', 'bytes', 'none', 'none', 'Bytes the destination fetched over the migration link (demand and pre-fetch).', (o) => o.world.count('fetchedBytes')),
  m('mapcountAfterTruncate', 'mapcount after truncate', 'count', 'lower', 'none', 'The mapcount a HugeTLB page still has after a script truncated or punched it out of the file (should be 0: every mapping of it is gone).', (o) => o.world.count('mapcountAfterTruncate')),
  m('wrongBytes', 'pages read wrong', 'pages', 'lower', 'none', "Guest pages that read back other than the source's contents after their fault was resolved.", (o) => o.world.count('wrongBytes')),
  // Confidential VMs on guest_memfd (src/sim/cvm/, issue 8 sections 5-7).
  m('conversions', 'pages converted', 'pages', 'none', 'none', 'Guest pages converted between private and shared (either way) by the workload.', (o) => o.world.count('conversions')),
  m('conversionsRefused', 'conversions refused', 'pages', 'lower', 'none', 'Pages whose conversion the kernel refused: EAGAIN (a pin or extra reference), ENOMEM (no vmemmap for a split), EBUSY (an exclusive re-pin with another pin held).', (o) => o.world.count('conversionsRefused')),
  m('conversionLatencyP50', 'conversion (median)', 'ns', 'lower', 'none', 'Median time of a successful conversion call, waiting for short-term pins included (cost model).', (o) => percentile(samples(o, 'convertLatency'), 0.5), true),
  m('conversionLatencyMax', 'conversion (longest)', 'ns', 'lower', 'none', 'The longest successful conversion call, waiting for short-term pins included (cost model).', (o) => Math.max(0, ...samples(o, 'convertLatency')), true),
  m('contentsLost', 'contents lost', 'pages', 'lower', 'none', 'Round trips private -> shared -> private where the host did not read what the guest wrote, or the guest did not read back what the host answered.', (o) => o.world.count('contentsLost')),
  m('ioDone', 'host I/O pins', 'count', 'higher', 'none', "The VMM's pins of shared guest pages that succeeded (O_DIRECT, VFIO): I/O that worked.", (o) => o.world.count('ioDone')),
  m('conversionExits', 'exits to convert', 'count', 'lower', 'none', "Exits to the VMM that conversions took (a CoCo guest's KVM_HC_MAP_GPA_RANGE: KVM_EXIT_HYPERCALL); pKVM's share/unshare hypercalls take none.", (o) => o.world.count('conversionExits')),
  m('s2Leaves4k', 'stage-2 4 KiB leaves', 'count', 'lower', 'none', "The VM's stage-2 leaves mapping 4 KiB at the end of the run (over time in the chart).", (o) => s2Leaves(o, 1)),
  m('s2Leaves2m', 'stage-2 2 MiB leaves', 'count', 'none', 'none', "The VM's stage-2 leaves mapping 2 MiB at the end of the run.", (o) => s2Leaves(o, 2)),
  m('s2Leaves1g', 'stage-2 1 GiB leaves', 'count', 'higher', 'none', "The VM's stage-2 leaves mapping 1 GiB at the end of the run.", (o) => s2Leaves(o, 3)),
  m('s2Leaves4kMean', 'stage-2 4 KiB leaves (mean)', 'count', 'lower', 'none', 'The 4 KiB stage-2 leaves over the run, time-weighted: how long the guest ran split.', (o) => seriesMean(o, 's2Leaves4k')),
  m('s2Leaves1gMean', 'stage-2 1 GiB leaves (mean)', 'count', 'higher', 'none', 'The 1 GiB stage-2 leaves over the run, time-weighted, in hundredths (for a guest on one 1 GiB page: the percentage of the run it was mapped by one leaf).', (o) => seriesMean(o, 's2Leaves1g', 100)),
  m('vmemmapBytes', 'vmemmap', 'bytes', 'lower', 'memory', 'struct page bytes behind guest memory at the end (Kernel.gmemStats: one vmemmap page per HVO-optimized huge page, 64 bytes per 4 KiB otherwise; a split page is never optimized; the shared side too).', (o) => gmemSum(o, 'vmemmapBytes')),
  m('doubleAllocatedBytes', 'allocated twice', 'bytes', 'lower', 'memory', 'Bytes of the shared side (a separate memfd) at guest pages guest_memfd also backs (Kernel.gmemStats).', (o) => gmemSum(o, 'doubleAllocatedBytes')),
  m('s2Zaps', 'stage-2 zaps', 'count', 'lower', 'none', "Stage-2 leaves the VM's MMU zapped (conversions, re-promotions, invalidations).", (o) => s2(o, 'zaps')),
  m('s2TlbFlushes', 'remote TLB flushes per vCPU', 'count', 'lower', 'none', 'kvm_flush_remote_tlbs calls times the vCPUs each reached.', (o) => s2(o, 'vcpuTlbFlushes')),
  m('s2Faults', 'stage-2 faults', 'count', 'lower', 'none', "Stage-2 faults the VM's vCPUs took.", (o) => s2(o, 'faults')),
  m('s2Promotions', 'huge leaves re-installed', 'count', 'none', 'none', 'Huge stage-2 leaves installed over a table of smaller ones (by a fault, or eagerly at an attribute change).', (o) => s2(o, 'promotions')),
];

/** The confidential VMs' stage-2 counters, summed (src/sim/cvm/vm.ts). */
function s2(o: RunOutcome, key: 'zaps' | 'vcpuTlbFlushes' | 'faults' | 'eagerPromotions' | 'promotions'): number {
  let n = 0;
  for (const vm of o.world.cvms.values()) n += vm.mmu()?.mmu[key] ?? 0;
  return n;
}

/** A Kernel.gmemStats figure summed over the guest_memfd files of the run's confidential VMs (0 without). */
function gmemSum(o: RunOutcome, key: 'vmemmapBytes' | 'doubleAllocatedBytes'): number {
  if (o.world.cvms.size === 0) return 0;
  return o.world.k.gmemStats().reduce((a, r) => a + r[key], 0);
}

function s2Leaves(o: RunOutcome, level: number): number {
  let n = 0;
  for (const vm of o.world.cvms.values()) n += vm.mmu()?.mmu.leaves[level] ?? 0;
  return n;
}

/** The time-weighted mean of a series over the run (0 if it was never sampled). */
function seriesMean(o: RunOutcome, metric: string, scale = 1): number {
  const pts = o.world.series.get(metric);
  if (pts === undefined || pts.length === 0) return 0;
  const end = Math.max(o.engine.endNs, pts[pts.length - 1]![0]);
  const t0 = pts[0]![0];
  if (end <= t0) return pts[pts.length - 1]![1] * scale;
  let sum = 0;
  for (let i = 0; i < pts.length; i++) sum += pts[i]![1] * ((i + 1 < pts.length ? pts[i + 1]![0] : end) - pts[i]![0]);
  return Math.round((sum * scale) / (end - t0));
}

function guestTime(o: RunOutcome): number {
  let t = 0;
  for (const a of o.engine.actors.values()) if (a.kind === 'guest') t += a.waitNs + a.kernelNs + a.blockNs;
  return t;
}

function samples(o: RunOutcome, key: string): number[] {
  return o.world.samples.get(key) ?? [];
}

/** The q-quantile (nearest rank) of xs; 0 when empty. */
function percentile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

export const METRIC_IDS: readonly string[] = METRICS.map((x) => x.id);

export function metric(id: string): Metric | undefined {
  return METRICS.find((x) => x.id === id);
}
