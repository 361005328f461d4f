/**
 * The report: what `foliosim compare` and `foliosim run` produce, and what every
 * renderer (table, Markdown, JSON, HTML) reads. The JSON format is this schema,
 * versioned by REPORT_VERSION; `foliosim schema --report` prints it as JSON
 * Schema, and docs/CLI.md documents it.
 *
 * Everything here is deterministic: arrays, not maps, in a fixed order (the
 * scenario's designs, then its metrics), times in simulated nanoseconds, and
 * no timestamps, so the same scenario and seed give byte-identical output.
 *
 * Bump REPORT_VERSION when a field changes meaning or disappears; adding an
 * optional field does not need a bump.
 */
import { z } from 'zod';

export const REPORT_FORMAT = 'foliosim-report';
export const REPORT_VERSION = 1;

/** The unit of a metric, which the renderers use to format its numbers. */
export const Unit = z.enum(['pages', 'bytes', 'ns', 'count', 'pins', 'ratio', 'bits']);
export type Unit = z.infer<typeof Unit>;

/** Which direction is better; 'none' for a metric that only describes. */
export const Better = z.enum(['lower', 'higher', 'none']);
export type Better = z.infer<typeof Better>;

export const MetricInfo = z.object({
  /** Stable identifier, as scenario files and `--format json` name it ('forkCopies'). */
  id: z.string(),
  /** Short column/row label ('fork copies'). */
  label: z.string(),
  unit: Unit,
  better: Better,
  description: z.string(),
  /** Which chart of the HTML report shows it: memory overhead, copies, or neither. */
  chart: z.enum(['memory', 'copies', 'none']),
  /** Its value comes (partly) from the cost model, and a low-confidence unit cost carries at least a tenth of it. */
  lowConfidence: z.boolean(),
});
export type MetricInfo = z.infer<typeof MetricInfo>;

/** A metric's value over the repeats (one value per seed, in seed order). */
export const Stat = z
  .object({
    median: z.number(),
    min: z.number(),
    max: z.number(),
    values: z.array(z.number()),
  })
  .refine((s) => s.min <= s.median && s.median <= s.max, { message: 'expected min <= median <= max', path: ['median'] });
export type Stat = z.infer<typeof Stat>;

export const DesignInfo = z.object({
  /** Stable identifier ('exact', or 'pinAccounting=exact,exclusivePin=off' for a matrix). */
  id: z.string(),
  label: z.string(),
  /** The Kernel policy options this design sets. */
  policy: z.record(z.string(), z.string()),
  /** Scenario parameters this design overrides. */
  params: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])),
});
export type DesignInfo = z.infer<typeof DesignInfo>;

/** One cell of the decision matrix. */
export const Cell = z.object({
  design: z.string(),
  stat: Stat,
  /** This design has the best median of the metric (ties: every design that has it). */
  best: z.boolean(),
});
export type Cell = z.infer<typeof Cell>;

export const Row = z.object({
  metric: z.string(),
  cells: z.array(Cell),
});
export type Row = z.infer<typeof Row>;

/** A parameter swept along the x axis: one line per design for each metric. */
export const Sweep = z.object({
  param: z.string(),
  label: z.string(),
  unit: Unit,
  values: z.array(z.number()),
  /** The sweep value the decision matrix is shown at. */
  headline: z.number(),
  series: z.array(
    z.object({
      design: z.string(),
      metric: z.string(),
      points: z.array(z.object({ x: z.number(), stat: Stat })),
    }),
  ),
});
export type Sweep = z.infer<typeof Sweep>;

/** One interval on the simulated clock, from the first seed's run of a design. */
export const TimelineEvent = z.object({
  design: z.string(),
  /** The actor that performed it ('vmm', 'io0', 'vfio', 'forker'). */
  actor: z.string(),
  /** What it was ('fork', 'pin', 'mmap_lock wait', ...). */
  kind: z.string(),
  /** Simulated nanoseconds from the start of the run. */
  start: z.number(),
  end: z.number(),
  detail: z.string(),
}).refine((e) => e.start <= e.end, { message: 'expected start <= end', path: ['end'] });
export type TimelineEvent = z.infer<typeof TimelineEvent>;

/** A metric over simulated time in the first seed's run of a design: its value from each point's t on. */
export const TimeSeries = z.object({
  design: z.string(),
  metric: z.string(),
  points: z.array(z.object({ t: z.number(), v: z.number() })),
});
export type TimeSeries = z.infer<typeof TimeSeries>;

/** States a subpage of a large folio can be drawn in. */
export const PageState = z.enum(['unmapped', 'mapped', 'pinned', 'copied', 'shared', 'private']);
export type PageState = z.infer<typeof PageState>;

/** The subpages of one large folio, coloured by state, run-length encoded in page order. */
export const FolioMap = z.object({
  design: z.string(),
  pfn: z.number(),
  order: z.number(),
  /** When and what was captured ('parent's THP at 0x7f... right after fork #1'). */
  caption: z.string(),
  runs: z.array(z.object({ state: PageState, count: z.number() })),
});
export type FolioMap = z.infer<typeof FolioMap>;

/** Where a design's estimated time goes: count × unit cost per primitive (first seed). */
export const CostLine = z.object({
  primitive: z.string(),
  count: z.number(),
  unitNs: z.number(),
  ns: z.number(),
  confidence: z.enum(['high', 'medium', 'low']),
});
export const CostSummary = z.object({
  design: z.string(),
  totalNs: z.number(),
  /** Share of totalNs resting on low-confidence unit costs (0..1). */
  lowConfidenceShare: z.number(),
  lines: z.array(CostLine),
});
export type CostSummary = z.infer<typeof CostSummary>;

/** An oracle finding: an invariant kernel.check() found broken at the end of a design's run (any seed). */
export const Finding = z.object({
  design: z.string(),
  /** The invariant's name (docs/INVARIANTS.md), e.g. 'pinned-anon-not-exclusive'. */
  violation: z.string(),
  /** In how many of the repeats it was found. */
  runs: z.number(),
  /** The scenario declares it expected: a known flaw of the design, which the scenario exists to show. */
  expected: z.boolean(),
});
export type Finding = z.infer<typeof Finding>;

/** A scenario's `expect` entry, checked against the results. */
export const Expectation = z.object({
  text: z.string(),
  passed: z.boolean(),
  detail: z.string(),
});
export type Expectation = z.infer<typeof Expectation>;

export const ScenarioReport = z.object({
  name: z.string(),
  title: z.string(),
  /** The question the scenario answers, in one sentence. */
  question: z.string(),
  /** The answer, computed from the results. */
  verdict: z.string(),
  /** Seed of the first repeat; repeat i runs with seed + i. */
  seed: z.number(),
  repeats: z.number(),
  /** sha256 (hex, first 16 digits) of the scenario's canonical form with its parameters. */
  hash: z.string(),
  /** Simulated duration of each run, ns. */
  durationNs: z.number(),
  params: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])),
  designs: z.array(DesignInfo),
  metrics: z.array(MetricInfo),
  /** The decision matrix: one row per metric, one cell per design (at sweep.headline if there is a sweep). */
  rows: z.array(Row),
  sweep: Sweep.optional(),
  timeline: z.array(TimelineEvent),
  /** Metrics over simulated time (e.g. page-table bytes during a post-copy migration); absent when no actor records any. */
  series: z.array(TimeSeries).optional(),
  folioMaps: z.array(FolioMap),
  costs: z.array(CostSummary),
  findings: z.array(Finding),
  expectations: z.array(Expectation),
}).superRefine(checkReferences);
export type ScenarioReport = z.infer<typeof ScenarioReport>;

/**
 * Every design and metric a scenario's parts name is one the scenario lists:
 * a renderer looks them up, and a dangling id (a producer bug, or a hand-merged
 * file) is reported at its JSON path rather than as a crash in a renderer.
 */
function checkReferences(
  s: {
    designs: { id: string }[];
    metrics: { id: string }[];
    rows: { metric: string; cells: { design: string }[] }[];
    sweep?: { series: { design: string; metric: string }[] } | undefined;
    timeline: { design: string }[];
    series?: { design: string; metric: string }[] | undefined;
    folioMaps: { design: string }[];
    costs: { design: string }[];
    findings: { design: string }[];
  },
  ctx: z.RefinementCtx,
): void {
  const designs = new Set(s.designs.map((d) => d.id));
  const metrics = new Set(s.metrics.map((m) => m.id));
  const need = (ok: boolean, what: string, id: string, path: (string | number)[]) => {
    if (!ok) ctx.addIssue({ code: 'custom', message: `unknown ${what} '${id}'`, path });
  };
  s.rows.forEach((r, i) => {
    need(metrics.has(r.metric), 'metric', r.metric, ['rows', i, 'metric']);
    r.cells.forEach((c, j) => need(designs.has(c.design), 'design', c.design, ['rows', i, 'cells', j, 'design']));
  });
  s.sweep?.series.forEach((e, i) => {
    need(designs.has(e.design), 'design', e.design, ['sweep', 'series', i, 'design']);
    need(metrics.has(e.metric), 'metric', e.metric, ['sweep', 'series', i, 'metric']);
  });
  s.series?.forEach((e, i) => {
    need(designs.has(e.design), 'design', e.design, ['series', i, 'design']);
    need(metrics.has(e.metric), 'metric', e.metric, ['series', i, 'metric']);
  });
  for (const key of ['timeline', 'folioMaps', 'costs', 'findings'] as const)
    s[key].forEach((x, i) => need(designs.has(x.design), 'design', x.design, [key, i, 'design']));
}

export const Report = z.object({
  format: z.literal(REPORT_FORMAT),
  version: z.literal(REPORT_VERSION),
  /** foliosim's package version. */
  foliosim: z.string(),
  scenarios: z.array(ScenarioReport),
});
export type Report = z.infer<typeof Report>;

/** Did every run behave: no unexpected oracle violation and every expectation met? (exit code 0 vs 1) */
export function reportOk(r: Report): boolean {
  return r.scenarios.every((s) => s.findings.every((f) => f.expected) && s.expectations.every((e) => e.passed));
}
