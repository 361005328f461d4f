/**
 * What each chart of the HTML report must draw, derived from the report data
 * alone (not from src/report/charts.ts), so the browser and unit tests check
 * the charts against the data rather than against themselves.
 */
import type { MarkType } from '../../src/report/charts.js';
import type { Report } from '../../src/report/model.js';

export function expectedMarksFromData(report: Report): Map<string, Partial<Record<MarkType, number>>> {
  const out = new Map<string, Partial<Record<MarkType, number>>>();
  for (const s of report.scenarios) {
    // Bars: one bar and one value label per design per metric of the group, a whisker where the seeds differ.
    for (const group of ['memory', 'copies'] as const) {
      const ids = new Set(s.metrics.filter((m) => m.chart === group).map((m) => m.id));
      const cells = s.rows.filter((r) => ids.has(r.metric)).flatMap((r) => r.cells);
      if (cells.length > 0)
        out.set(`bars-${group}:${s.name}`, { rect: cells.length, text: cells.length, rule: cells.filter((c) => c.stat.min !== c.stat.max).length });
    }
    // Sweep: a line per design, a point per x, a band per design when any seed differs, one rule at the headline.
    for (const metric of new Set(s.sweep?.series.map((e) => e.metric))) {
      const series = s.sweep!.series.filter((e) => e.metric === metric && e.points.length > 0);
      const spread = series.some((e) => e.points.some((p) => p.stat.min !== p.stat.max));
      out.set(`sweep:${s.name}:${metric}`, {
        ...(spread ? { area: series.length } : {}),
        line: series.length,
        symbol: series.reduce((a, e) => a + e.points.length, 0),
        rule: 1,
      });
    }
    // Over time: one line per design that recorded the metric.
    for (const metric of new Set((s.series ?? []).map((e) => e.metric))) {
      out.set(`series:${s.name}:${metric}`, { line: s.series!.filter((e) => e.metric === metric && e.points.length > 0).length });
    }
    // Timeline: one bar per event.
    if (s.timeline.length > 0) out.set(`timeline:${s.name}`, { rect: s.timeline.length });
    // Folio maps of up to 1024 subpages: one cell per subpage; larger ones (a 1 GiB folio): one rect per run per row it
    // touches, in 16 rows.
    if (s.folioMaps.length > 0) out.set(`folio:${s.name}`, { rect: s.folioMaps.reduce((a, f) => a + folioRects(f.runs), 0) });
  }
  return out;
}

function folioRects(runs: readonly { count: number }[]): number {
  const total = runs.reduce((b, r) => b + r.count, 0);
  if (total <= 1024) return total;
  const perRow = Math.ceil(total / 16);
  let n = 0;
  let at = 0;
  for (const r of runs) {
    n += Math.floor((at + r.count - 1) / perRow) - Math.floor(at / perRow) + 1;
    at += r.count;
  }
  return n;
}
