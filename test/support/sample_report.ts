/**
 * A small but realistic Report for the renderer tests, built from parameters
 * (not a frozen blob) so tests can derive what they expect from the same data
 * and vary it: the pin-accounting designs on a THP-backed VMM that pins device
 * buffers and forks a helper, swept over the number of pinned buffers.
 *
 * The figures follow the designs' rules (upstream copies the whole 2 MiB folio
 * of a maybe-pinned page at fork, exact copies only pinned pages, pmd-aggregate
 * loses a PTE-mapped pin, mm-sticky copies everything once the mm has pinned),
 * with seed-dependent noise on the times, which come from the cost model.
 */
import { createHash } from 'node:crypto';
import {
  REPORT_FORMAT,
  REPORT_VERSION,
  type CostSummary,
  type FolioMap,
  type MetricInfo,
  type PageState,
  type Report,
  type Row,
  type ScenarioReport,
  type Stat,
  type TimelineEvent,
} from '../../src/report/model.js';

export interface SampleOptions {
  seed?: number;
  repeats?: number;
  /** Design ids, any of upstream, exact, pmd-aggregate, mm-sticky, in column order. */
  designs?: string[];
  /** The swept numbers of pinned 4 KiB buffers (one per 2 MiB folio). */
  buffers?: number[];
  /** The sweep value the decision matrix is shown at (must be one of buffers). */
  headline?: number;
  guestMiB?: number;
  /** Without a sweep: the matrix at `headline` only. */
  sweep?: boolean;
}

const PAGE = 4096;
const FOLIO_PAGES = 512;
const RING_PAGES = 8;

/** mulberry32: tiny, seeded, the same numbers on every machine. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

interface DesignModel {
  label: string;
  /** Pages fork copies for b pinned buffers in a guest of g pages. */
  copies: (b: number, g: number) => number;
  metadataBytes: (g: number) => number;
  pinNs: number;
  lostPins: (b: number) => number;
}

const MODELS: Record<string, DesignModel> = {
  upstream: { label: 'upstream', copies: (b) => b * FOLIO_PAGES, metadataBytes: () => 0, pinNs: 850, lostPins: () => 0 },
  exact: { label: 'exact per-page', copies: (b) => b + RING_PAGES, metadataBytes: (g) => g * 8, pinNs: 910, lostPins: () => 0 },
  'pmd-aggregate': {
    label: 'PMD aggregate',
    copies: (b) => b * FOLIO_PAGES,
    metadataBytes: (g) => (g / FOLIO_PAGES) * 4,
    pinNs: 870,
    lostPins: (b) => (b > 0 ? 1 : 0),
  },
  'mm-sticky': { label: 'mm sticky', copies: (_b, g) => g, metadataBytes: () => 0, pinNs: 860, lostPins: () => 0 },
};

const METRICS: MetricInfo[] = [
  m('forkCopies', 'fork copies', 'pages', 'lower', 'copies', false, 'Pages fork copied for the child instead of sharing them.'),
  m('unneededCopies', 'unneeded copies', 'pages', 'lower', 'copies', false, 'Copied pages that no pin required.'),
  m('copiedBytes', 'memory copied at fork', 'bytes', 'lower', 'memory', false, 'Bytes the child got as private copies.'),
  m('metadataBytes', 'pin metadata', 'bytes', 'lower', 'memory', false, 'Memory the design spends to track pins.'),
  m('forkNs', 'fork time', 'ns', 'lower', 'none', true, 'Estimated time of fork() in the VMM.'),
  m('pinNs', 'pin time', 'ns', 'lower', 'none', true, 'Estimated time of every pin_user_pages call.'),
  m('pinsLost', 'pins lost to COW', 'pins', 'lower', 'none', false, 'Pinned pages the VMM no longer maps where it pinned them.'),
  m('dmaCoherent', 'DMA-coherent pins', 'ratio', 'higher', 'none', false, 'Share of pins whose DMA the VMM still sees.'),
];

function m(
  id: string,
  label: string,
  unit: MetricInfo['unit'],
  better: MetricInfo['better'],
  chart: MetricInfo['chart'],
  lowConfidence: boolean,
  description: string,
): MetricInfo {
  return { id, label, unit, better, chart, lowConfidence, description };
}

function stat(values: number[]): Stat {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, values };
}

/** Every metric of one design at b pinned buffers, one value per seed. */
function measure(design: string, b: number, guestPages: number, seed: number, repeats: number): Record<string, Stat> {
  const d = MODELS[design]!;
  const copies = d.copies(b, guestPages);
  const lost = d.lostPins(b);
  const pins = b + RING_PAGES;
  const seeds = Array.from({ length: repeats }, (_, i) => rng(seed + i));
  // Times come from the cost model: a few percent of noise per seed.
  const noisy = (base: number) => seeds.map((r) => Math.round(base * (0.97 + 0.06 * r())));
  const fixed = (v: number) => Array.from({ length: repeats }, () => v);
  return {
    forkCopies: stat(fixed(copies)),
    unneededCopies: stat(fixed(copies - Math.min(copies, pins))),
    copiedBytes: stat(fixed(copies * PAGE)),
    metadataBytes: stat(fixed(d.metadataBytes(guestPages))),
    forkNs: stat(noisy(120_000 + copies * 250 + guestPages * 8)),
    pinNs: stat(noisy(pins * d.pinNs)),
    pinsLost: stat(fixed(lost)),
    dmaCoherent: stat(fixed((pins - lost) / pins)),
  };
}

function bestOf(medians: number[], better: MetricInfo['better']): boolean[] {
  if (better === 'none') return medians.map(() => false);
  const target = better === 'lower' ? Math.min(...medians) : Math.max(...medians);
  return medians.map((v) => v === target);
}

/** Eight or nine intervals per design on the simulated clock: populate, pin, fork, the guest's writes, DMA, unpin. */
function timeline(design: string, at: Record<string, Stat>, b: number): TimelineEvent[] {
  const ev: TimelineEvent[] = [];
  const add = (actor: string, kind: string, start: number, len: number, detail: string) =>
    ev.push({ design, actor, kind, start, end: start + len, detail });
  const pinHalf = Math.round(at.pinNs!.values[0]! / 2);
  const fork = at.forkNs!.values[0]!;
  const copies = at.forkCopies!.median;
  add('vmm', 'fault', 0, 40_000, 'guest RAM populated with THPs');
  add('io0', 'pin', 40_000, pinHalf, `virtio ring: ${RING_PAGES} pages`);
  add('vfio', 'pin', 40_000 + pinHalf, pinHalf, `${b} device buffers`);
  const t = 60_000 + 2 * pinHalf;
  add('forker', 'fork', t, fork, 'snapshot helper');
  add('vmm', 'mmap_lock wait', t, fork, 'VMM blocked while fork holds mmap_lock');
  add('forker', 'copy', t + 20_000, copies * 250, `${copies} pages copied`);
  const after = t + fork;
  add('vmm', 'cow fault', after, 30_000, 'guest writes after fork');
  add('vfio', 'dma', after + 10_000, 50_000, at.pinsLost!.median > 0 ? 'one buffer no longer mapped: DMA lost' : 'DMA into pinned buffers');
  add('io0', 'unpin', after + 70_000, 2_000, 'ring released');
  return ev;
}

/** The parent's view of the THP holding the ring, after fork and the guest's writes. */
function folioMap(design: string, index: number): FolioMap {
  const off = 64;
  const runs: [PageState, number][] =
    design === 'exact'
      ? [['shared', off], ['pinned', RING_PAGES], ['copied', 120], ['shared', FOLIO_PAGES - off - RING_PAGES - 120]]
      : design === 'pmd-aggregate'
        ? [['private', off], ['pinned', RING_PAGES - 1], ['copied', 1], ['private', 200], ['mapped', FOLIO_PAGES - off - RING_PAGES - 200]]
        : design === 'mm-sticky'
          ? [['private', off], ['pinned', RING_PAGES], ['private', FOLIO_PAGES - off - RING_PAGES - 16], ['unmapped', 16]]
          : [['private', off], ['pinned', RING_PAGES], ['private', FOLIO_PAGES - off - RING_PAGES]];
  return {
    design,
    pfn: 0x40000 + index * FOLIO_PAGES,
    order: 9,
    caption: "the VMM's THP holding the virtio ring, after fork and the guest's writes",
    runs: runs.map(([state, count]) => ({ state, count })),
  };
}

function costs(design: string, at: Record<string, Stat>, guestPages: number, b: number): CostSummary {
  const line = (primitive: string, count: number, unitNs: number, confidence: 'high' | 'medium' | 'low') => ({
    primitive,
    count,
    unitNs,
    ns: count * unitNs,
    confidence,
  });
  const lines = [
    line('copy_page', at.forkCopies!.median, 250, 'high'),
    line('copy_pte_range', guestPages, 8, 'medium'),
    line('pin_user_pages', b + RING_PAGES, MODELS[design]!.pinNs, 'low'),
    line('fork fixed', 1, 120_000, 'low'),
  ];
  const totalNs = lines.reduce((a, l) => a + l.ns, 0);
  const low = lines.filter((l) => l.confidence === 'low').reduce((a, l) => a + l.ns, 0);
  return { design, totalNs, lowConfidenceShare: low / totalNs, lines };
}

export function sampleScenario(opts: SampleOptions = {}): ScenarioReport {
  const seed = opts.seed ?? 42;
  const repeats = opts.repeats ?? 3;
  const designs = opts.designs ?? ['upstream', 'exact', 'pmd-aggregate', 'mm-sticky'];
  const buffers = opts.buffers ?? [1, 4, 16, 64, 256];
  const headline = opts.headline ?? 16;
  const guestMiB = opts.guestMiB ?? 256;
  const guestPages = (guestMiB * 2 ** 20) / PAGE;
  const params = { guestMiB, pinnedBuffers: headline, thp: 'always' };
  const at = Object.fromEntries(designs.map((d) => [d, measure(d, headline, guestPages, seed, repeats)]));

  const rows: Row[] = METRICS.map((metric) => {
    const best = bestOf(
      designs.map((d) => at[d]![metric.id]!.median),
      metric.better,
    );
    return { metric: metric.id, cells: designs.map((d, i) => ({ design: d, stat: at[d]![metric.id]!, best: best[i]! })) };
  });

  const swept = ['forkCopies', 'forkNs'];
  const sweep =
    opts.sweep === false
      ? undefined
      : {
          param: 'pinnedBuffers',
          label: 'pinned 4 KiB buffers',
          unit: 'count' as const,
          values: buffers,
          headline,
          series: designs.flatMap((d) =>
            swept.map((metric) => ({
              design: d,
              metric,
              points: buffers.map((x) => ({ x, stat: measure(d, x, guestPages, seed, repeats)[metric]! })),
            })),
          ),
        };

  const events = designs.flatMap((d) => timeline(d, at[d]!, headline));
  const lossy = designs.filter((d) => MODELS[d]!.lostPins(headline) > 0);
  const least = designs.reduce((a, d) => (at[d]!.forkCopies!.median < at[a]!.forkCopies!.median ? d : a));
  const hash = createHash('sha256')
    .update(JSON.stringify({ name: 'thp-pin-fork', params, designs }))
    .digest('hex')
    .slice(0, 16);

  return {
    name: 'thp-pin-fork',
    title: 'Pinned THP guest memory across fork',
    question: 'Which pin-accounting design lets a VMM fork without copying its THP-backed guest memory, and keeps every device pin coherent?',
    verdict:
      `${MODELS[least]!.label} copies the fewest pages at fork (${at[least]!.forkCopies!.median})` +
      (lossy.length > 0 ? `; ${lossy.map((d) => MODELS[d]!.label).join(', ')} loses a pin to COW` : '; no design loses a pin'),
    seed,
    repeats,
    hash,
    durationNs: Math.max(...events.map((e) => e.end)),
    params,
    designs: designs.map((d) => ({ id: d, label: MODELS[d]!.label, policy: { pinAccounting: d }, params: {} })),
    metrics: METRICS,
    rows,
    ...(sweep === undefined ? {} : { sweep }),
    timeline: events,
    folioMaps: designs.map((d, i) => folioMap(d, i)),
    costs: designs.map((d) => costs(d, at[d]!, guestPages, headline)),
    findings: lossy.map((d) => ({ design: d, violation: 'pinned-page-lost-to-cow', runs: repeats, expected: true })),
    expectations: [
      { text: 'exact copies only pinned pages', passed: true, detail: '' },
      { text: 'pmd-aggregate loses a pin', passed: true, detail: '' },
      { text: 'upstream keeps every pin', passed: true, detail: '' },
    ].filter((e) => designs.some((d) => e.text.startsWith(d))),
  };
}

export function sampleReport(opts: SampleOptions = {}): Report {
  return { format: REPORT_FORMAT, version: REPORT_VERSION, foliosim: '0.1.0', scenarios: [sampleScenario(opts)] };
}
