/**
 * What every renderer shows, computed once: the decision matrix and sweep
 * tables as formatted cells with their marks, findings and expectations as
 * sentences, and the footer. The terminal, Markdown and HTML renderers only
 * lay this out, so they cannot disagree about a number, a mark or a word.
 */
import { formatStat, formatValue, unitName } from './format.js';
import type { Better, DesignInfo, Finding, MetricInfo, Report, ScenarioReport, Stat } from './model.js';

export interface CellView {
  design: DesignInfo;
  /** Undefined when the report has no value for this design (drawn as '—'). */
  stat: Stat | undefined;
  /** The formatted statistic with its unit, without marks. */
  text: string;
  best: boolean;
  /** The metric rests on low-confidence unit costs. */
  low: boolean;
}

export interface RowView {
  metric: MetricInfo;
  /** 'fork copies (pages) ↓' */
  label: string;
  cells: CellView[];
}

export interface SweepRowView {
  x: number;
  xText: string;
  /** The decision matrix is shown at this x. */
  headline: boolean;
  cells: CellView[];
}

export interface SweepView {
  metric: MetricInfo;
  rows: SweepRowView[];
}

export const MISSING = '—';

export const LEGEND_BETTER = '↓ lower is better, ↑ higher is better';
export const LEGEND_RANGE = 'values are medians over the seeds, with (min–max) when the seeds differ';
export const LEGEND_LOW = 'estimated partly from low-confidence unit costs (at least a tenth of the value)';

const ARROW: Record<Better, string> = { lower: ' ↓', higher: ' ↑', none: '' };

export function metricLabel(m: MetricInfo): string {
  return `${m.label} (${unitName(m.unit)})${ARROW[m.better]}`;
}

function metricById(s: ScenarioReport, id: string): MetricInfo {
  const m = s.metrics.find((x) => x.id === id);
  // The schema's reference check makes this unreachable for a parsed report.
  if (m === undefined) throw new Error(`scenario ${s.name}: no metric '${id}'`);
  return m;
}

export function designLabel(s: ScenarioReport, id: string): string {
  return s.designs.find((d) => d.id === id)?.label ?? id;
}

function cell(design: DesignInfo, metric: MetricInfo, stat: Stat | undefined, best: boolean): CellView {
  return {
    design,
    stat,
    text: stat === undefined ? MISSING : formatStat(stat, metric.unit),
    best: stat !== undefined && best,
    low: stat !== undefined && metric.lowConfidence,
  };
}

/** The decision matrix as the report states it: rows in report order, cells in design order, `best` as computed by the run. */
export function matrixView(s: ScenarioReport): RowView[] {
  return s.rows.map((row) => {
    const metric = metricById(s, row.metric);
    return {
      metric,
      label: metricLabel(metric),
      cells: s.designs.map((d) => {
        const c = row.cells.find((x) => x.design === d.id);
        return cell(d, metric, c?.stat, c?.best ?? false);
      }),
    };
  });
}

/** Which of these medians is best; every one that ties the best value is. */
export function bestFlags(medians: (number | undefined)[], better: Better): boolean[] {
  const present = medians.filter((v): v is number => v !== undefined);
  if (better === 'none' || present.length === 0) return medians.map(() => false);
  const target = better === 'lower' ? Math.min(...present) : Math.max(...present);
  return medians.map((v) => v === target);
}

/** One table per swept metric: x values down, designs across, best per x marked. */
export function sweepViews(s: ScenarioReport): SweepView[] {
  const sweep = s.sweep;
  if (sweep === undefined) return [];
  const ids = new Set(sweep.series.map((x) => x.metric));
  return s.metrics
    .filter((m) => ids.has(m.id))
    .map((metric) => ({
      metric,
      rows: sweep.values.map((x) => {
        const stats = s.designs.map(
          (d) => sweep.series.find((e) => e.design === d.id && e.metric === metric.id)?.points.find((p) => p.x === x)?.stat,
        );
        const best = bestFlags(
          stats.map((st) => st?.median),
          metric.better,
        );
        return {
          x,
          xText: formatValue(x, sweep.unit),
          headline: x === sweep.headline,
          cells: s.designs.map((d, i) => cell(d, metric, stats[i], best[i]!)),
        };
      }),
    }));
}

export interface FindingView {
  expected: boolean;
  text: string;
}

function runsText(f: Finding, s: ScenarioReport): string {
  return `in ${f.runs} of ${s.repeats} run${s.repeats === 1 ? '' : 's'}`;
}

/** Expected findings first (they are what the scenario is about), then the unexpected ones. */
export function findingViews(s: ScenarioReport): FindingView[] {
  const sorted = [...s.findings.filter((f) => f.expected), ...s.findings.filter((f) => !f.expected)];
  return sorted.map((f) => ({
    expected: f.expected,
    text: f.expected
      ? `known flaw of ${designLabel(s, f.design)}: ${f.violation} (${runsText(f, s)})`
      : `UNEXPECTED oracle violation in ${designLabel(s, f.design)}: ${f.violation} (${runsText(f, s)})`,
  }));
}

export function expectationSummary(s: ScenarioReport): string {
  const passed = s.expectations.filter((e) => e.passed).length;
  return `expectations: ${passed} of ${s.expectations.length} met`;
}

export function failedExpectations(s: ScenarioReport): string[] {
  return s.expectations.filter((e) => !e.passed).map((e) => (e.detail === '' ? e.text : `${e.text}: ${e.detail}`));
}

export function sweepCaption(s: ScenarioReport): string {
  const sw = s.sweep;
  if (sw === undefined) return '';
  return `Sweep over ${sw.label} (${sw.param}); the decision matrix above is at ${formatValue(sw.headline, sw.unit)}`;
}

/** No timestamps: the same scenario and seed must give the same bytes. */
export function footerText(r: Report, s: ScenarioReport): string {
  const seeds = s.repeats > 1 ? `seed ${s.seed}, ${s.repeats} repeats (seeds ${s.seed}–${s.seed + s.repeats - 1})` : `seed ${s.seed}`;
  return `foliosim ${r.foliosim} · scenario ${s.name} · hash ${s.hash} · ${seeds}`;
}
