/**
 * The Vega-Lite specs of the HTML report, with the data inlined (the page
 * loads nothing), and for each chart the number of marks it must draw,
 * computed from the same report data, so a browser test can check that every
 * bar, line, point and cell reached the SVG.
 *
 * Values are plotted in one display unit per chart (MiB, µs, pages) picked by
 * format.ts, and labelled with the same formatted text as the tables.
 */
import type { TopLevelSpec } from 'vega-lite';
import { formatStat, formatValue, pickScale, toScale, unitName } from './format.js';
import { PageState, type FolioMap, type ScenarioReport, type Unit } from './model.js';
import { designLabel, matrixView, metricLabel } from './view.js';

/** Vega mark types the charts use. */
export type MarkType = 'rect' | 'text' | 'rule' | 'line' | 'symbol' | 'area';

/** The SVG element Vega's SVG renderer draws for one item of each mark type (inside `g.mark-<type>.role-mark`). */
export const MARK_ELEMENT: Record<MarkType, string> = {
  rect: 'path',
  text: 'text',
  rule: 'line',
  line: 'path',
  symbol: 'path',
  area: 'path',
};

export interface ChartSpec {
  /** Stable id, the container's data-chart: 'bars-memory:<scenario>', 'sweep:<scenario>:<metric>', ... */
  id: string;
  heading: string;
  /** One or two sentences: how to read the chart. */
  legend: string;
  spec: TopLevelSpec;
  /** Mark items the chart must draw, by Vega mark type. */
  expectedMarks: Partial<Record<MarkType, number>>;
}

/** Colour-blind-safe, the same design → colour mapping in every chart of a scenario. */
const DESIGN_COLOURS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#b07aa1', '#edc948', '#9c755f', '#ff9da7', '#bab0ac'];

/** One fixed colour per subpage state (Okabe–Ito), so maps of different designs compare. */
const STATE_COLOURS: Record<PageState, string> = {
  unmapped: '#dddddd',
  mapped: '#56b4e9',
  pinned: '#d55e00',
  copied: '#cc79a7',
  shared: '#009e73',
  private: '#f0e442',
};

const DASHES = [[1, 0], [8, 4], [3, 3], [10, 3, 2, 3], [2, 5], [12, 6]];

const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';

const CONFIG = {
  font: FONT,
  view: { stroke: '#ccc' },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal' as const },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  title: { fontSize: 13, anchor: 'start' as const, subtitleColor: '#555' },
  header: { labelFontSize: 12, titleFontSize: 12 },
};

function designColour(s: ScenarioReport) {
  return {
    domain: s.designs.map((d) => d.label),
    range: s.designs.map((_, i) => DESIGN_COLOURS[i % DESIGN_COLOURS.length]!),
  };
}

/** Title of an axis plotting a unit in a display scale: 'MiB', 'pages', '%'. */
function axisTitle(unit: Unit, magnitude: number): string {
  const scale = pickScale(unit, magnitude);
  return scale.suffix === '' ? unitName(unit) : scale.suffix;
}

/** Log when positive values span more than two decades (symlog when zero is among them), else linear. */
export function scaleType(values: number[]): 'linear' | 'log' | 'symlog' {
  const positive = values.filter((v) => v > 0);
  if (positive.length < 2 || values.some((v) => v < 0)) return 'linear';
  if (Math.max(...positive) / Math.min(...positive) <= 100) return 'linear';
  return positive.length === values.length ? 'log' : 'symlog';
}

/** Powers of ten from the smallest positive value's decade to the largest's (0 too when present). */
function decades(values: number[]): number[] {
  const positive = values.filter((v) => v > 0);
  const out: number[] = values.some((v) => v === 0) ? [0] : [];
  if (positive.length === 0) return out;
  const lo = Math.floor(Math.log10(Math.min(...positive)));
  const hi = Math.ceil(Math.log10(Math.max(...positive)));
  for (let k = lo; k <= hi; k++) out.push(Number((10 ** k).toPrecision(12)));
  return out;
}

/** Up to `max` evenly spaced integers from 0 to n inclusive (axis ticks at cell boundaries). */
function gridTicks(n: number, max: number): number[] {
  const step = Math.max(1, Math.ceil(n / max));
  const out: number[] = [];
  for (let v = 0; v <= n; v += step) out.push(v);
  return out;
}

/** Bars of one chart group ('memory' or 'copies'): one panel per metric, one bar per design, whiskers for the seeds' range. */
function barChart(s: ScenarioReport, group: 'memory' | 'copies'): ChartSpec | undefined {
  const rows = matrixView(s).filter((r) => r.metric.chart === group);
  if (rows.length === 0) return undefined;
  const expected = { rect: 0, text: 0, rule: 0 };
  const panels = rows.map((row) => {
    const cells = row.cells.filter((c) => c.stat !== undefined);
    const max = Math.max(0, ...cells.map((c) => c.stat!.max));
    const scale = pickScale(row.metric.unit, max);
    const values = cells.map((c) => ({
      design: c.design.label,
      value: toScale(c.stat!.median, row.metric.unit, scale),
      min: toScale(c.stat!.min, row.metric.unit, scale),
      max: toScale(c.stat!.max, row.metric.unit, scale),
      label: (c.low ? '~' : '') + formatValue(c.stat!.median, row.metric.unit) + (c.best ? ' ✓' : ''),
      full: (c.low ? '~' : '') + c.text,
      spread: c.stat!.min !== c.stat!.max,
    }));
    expected.rect += values.length;
    expected.text += values.length;
    expected.rule += values.filter((v) => v.spread).length;
    // Room right of the longest bar for its label; negative values (a saving) extend the axis left of zero.
    const top = Math.max(...values.map((v) => v.max), 0) * 1.35 || 1;
    const bottom = Math.min(...values.map((v) => v.min), 0) * 1.1;
    const x = { field: 'value', type: 'quantitative' as const, title: axisTitle(row.metric.unit, max), scale: { domain: [bottom, top], nice: false } };
    return {
      title: { text: row.label, subtitle: row.metric.description },
      width: 440,
      height: { step: 24 },
      data: { values },
      encoding: { y: { field: 'design', type: 'nominal' as const, sort: s.designs.map((d) => d.label), title: null } },
      layer: [
        {
          mark: { type: 'bar' as const },
          encoding: {
            x,
            color: { field: 'design', type: 'nominal' as const, scale: designColour(s), legend: null },
            tooltip: [
              { field: 'design', type: 'nominal' as const },
              { field: 'full', type: 'nominal' as const, title: row.metric.label },
            ],
          },
        },
        {
          transform: [{ filter: 'datum.spread' }],
          mark: { type: 'rule' as const, color: '#333' },
          encoding: { x: { ...x, field: 'min' }, x2: { field: 'max' } },
        },
        {
          mark: { type: 'text' as const, align: 'left' as const, dx: 4, fontSize: 11 },
          encoding: { x: { ...x, field: 'max' }, text: { field: 'label' } },
        },
      ],
    };
  });
  return {
    id: `bars-${group}:${s.name}`,
    heading: group === 'memory' ? 'Memory overhead' : 'Copies',
    legend:
      `One bar per design, the median over ${s.repeats} seed${s.repeats === 1 ? '' : 's'}; a black whisker spans min–max when the seeds differ. ` +
      '✓ marks the best design of the metric, ~ an estimate resting on low-confidence unit costs.',
    spec: { columns: 2, concat: panels, config: CONFIG } as TopLevelSpec,
    expectedMarks: expected,
  };
}

/** One line per design over the swept parameter, the seeds' range as a band, the matrix's x as a dashed rule. */
function sweepCharts(s: ScenarioReport): ChartSpec[] {
  const sw = s.sweep;
  if (sw === undefined) return [];
  const ids = new Set(sw.series.map((e) => e.metric));
  return s.metrics
    .filter((m) => ids.has(m.id))
    .map((metric) => {
      const series = s.designs.flatMap((d) =>
        sw.series.filter((e) => e.design === d.id && e.metric === metric.id && e.points.length > 0),
      );
      const all = series.flatMap((e) => e.points.flatMap((p) => [p.stat.min, p.stat.max]));
      const top = Math.max(0, ...all);
      const scale = pickScale(metric.unit, top);
      // x in a display unit too (ms, MiB), titled with it; a count's label already says what is counted.
      const xScale = pickScale(sw.unit, Math.max(0, ...sw.values.map(Math.abs)));
      const xs = (v: number) => toScale(v, sw.unit, xScale);
      const xTitle = sw.unit === 'count' ? sw.label : `${sw.label} (${xScale.suffix === '' ? unitName(sw.unit) : xScale.suffix})`;
      const values = series.flatMap((e) =>
        e.points.map((p) => ({
          design: designLabel(s, e.design),
          x: xs(p.x),
          xText: formatValue(p.x, sw.unit),
          y: toScale(p.stat.median, metric.unit, scale),
          lo: toScale(p.stat.min, metric.unit, scale),
          hi: toScale(p.stat.max, metric.unit, scale),
          text: (metric.lowConfidence ? '~' : '') + formatStat(p.stat, metric.unit),
        })),
      );
      const spread = series.some((e) => e.points.some((p) => p.stat.min !== p.stat.max));
      const xType = scaleType(sw.values.map(xs));
      const yType = scaleType(values.flatMap((v) => [v.lo, v.hi]));
      // Ticks at the swept values themselves, and at decades on a log y axis (not at every 2..9 in between).
      const x = {
        field: 'x',
        type: 'quantitative' as const,
        title: xTitle,
        scale: { type: xType, nice: false },
        axis: { values: sw.values.map(xs), grid: false },
      };
      const yAxis = yType === 'linear' ? {} : { axis: { values: decades(values.flatMap((v) => [v.lo, v.hi])) } };
      const y = { field: 'y', type: 'quantitative' as const, title: axisTitle(metric.unit, top), scale: { type: yType }, ...yAxis };
      // The band shares the lines' legend; full opacity, or the band's faint fill would wash the symbols out.
      const color = {
        field: 'design',
        type: 'nominal' as const,
        scale: designColour(s),
        legend: { orient: 'top' as const, title: null, symbolOpacity: 1, symbolType: 'stroke', symbolStrokeWidth: 2, symbolSize: 300 },
      };
      const layer: object[] = [];
      if (spread)
        layer.push({ mark: { type: 'area', opacity: 0.18 }, encoding: { x, y: { ...y, field: 'lo' }, y2: { field: 'hi' }, color } });
      // Dash patterns tell apart designs whose lines coincide (the later one would hide the earlier).
      const dash = {
        field: 'design',
        type: 'nominal' as const,
        scale: { domain: color.scale.domain, range: color.scale.domain.map((_, i) => DASHES[i % DASHES.length]!) },
        legend: color.legend,
      };
      layer.push({
        mark: { type: 'line', point: true, strokeWidth: 2 },
        encoding: {
          x,
          y,
          color,
          strokeDash: dash,
          tooltip: [
            { field: 'design', type: 'nominal' },
            { field: 'xText', type: 'nominal', title: sw.label },
            { field: 'text', type: 'nominal', title: metric.label },
          ],
        },
      });
      layer.push({
        data: { values: [{ x: xs(sw.headline) }] },
        mark: { type: 'rule', strokeDash: [4, 4], color: '#888' },
        encoding: { x },
      });
      const points = values.length;
      return {
        id: `sweep:${s.name}:${metric.id}`,
        heading: `Sweep: ${metricLabel(metric)}`,
        legend:
          `One line per design over ${sw.label}${xType === 'linear' ? '' : ' (log scale)'}; ` +
          `${spread ? 'the band spans min–max over the seeds; ' : ''}the grey vertical line marks ${formatValue(sw.headline, sw.unit)}, where the decision matrix is taken.`,
        spec: { width: 1000, height: 260, data: { values }, layer, config: CONFIG } as TopLevelSpec,
        expectedMarks: { ...(spread ? { area: series.length } : {}), line: series.length, symbol: points, rule: 1 },
      };
    });
}

/** Gantt bars on the simulated clock: one panel per design, one lane per actor, colour by kind. */
function timelineChart(s: ScenarioReport): ChartSpec | undefined {
  if (s.timeline.length === 0) return undefined;
  const end = Math.max(1, s.durationNs, ...s.timeline.map((e) => e.end));
  const scale = pickScale('ns', end);
  // An instant (start == end) still gets a sliver of width, or it would not be seen.
  const minWidth = end / 600;
  const values = s.timeline.map((e) => ({
    design: designLabel(s, e.design),
    actor: e.actor,
    kind: e.kind,
    start: toScale(e.start, 'ns', scale),
    end: toScale(Math.max(e.end, e.start + minWidth), 'ns', scale),
    when: `${formatValue(e.start, 'ns')} – ${formatValue(e.end, 'ns')} (${formatValue(e.end - e.start, 'ns')})`,
    detail: e.detail,
  }));
  const order = s.designs.map((d) => d.label).filter((l) => values.some((v) => v.design === l));
  // Lanes in order of first appearance (the VMM that starts the run on top), not alphabetical.
  const actors = [...new Set([...s.timeline].sort((a, b) => a.start - b.start).map((e) => e.actor))];
  return {
    id: `timeline:${s.name}`,
    heading: 'Timeline',
    legend: `What each actor did on the simulated clock, in the first seed's run of each design; colour is the kind of work. Forks, script operations and waits for mmap_lock are all drawn; of the rest, each actor's first 60 operations. Hover a bar for its detail.`,
    spec: {
      data: { values },
      facet: { row: { field: 'design', type: 'nominal', sort: order, title: null, header: { labelAngle: 0, labelAlign: 'left', labelFontWeight: 'bold' } } },
      spec: {
        width: 900,
        height: { step: 20 },
        mark: { type: 'bar', cornerRadius: 2 },
        encoding: {
          x: { field: 'start', type: 'quantitative', title: `simulated time (${scale.suffix})`, scale: { domain: [0, toScale(end, 'ns', scale)], nice: false }, axis: { tickCount: 12 } },
          x2: { field: 'end' },
          y: { field: 'actor', type: 'nominal', title: null, sort: actors },
          color: { field: 'kind', type: 'nominal', scale: { scheme: 'tableau10' }, legend: { orient: 'top', title: 'kind', columns: 8 } },
          tooltip: [
            { field: 'actor', type: 'nominal' },
            { field: 'kind', type: 'nominal' },
            { field: 'when', type: 'nominal', title: 'time' },
            { field: 'detail', type: 'nominal' },
          ],
        },
      },
      resolve: { scale: { y: 'independent' } },
      config: CONFIG,
    } as TopLevelSpec,
    expectedMarks: { rect: values.length },
  };
}

/** A metric over simulated time: one step line per design (the first seed's run). */
function seriesCharts(s: ScenarioReport): ChartSpec[] {
  const all = s.series ?? [];
  return s.metrics
    .filter((m) => all.some((e) => e.metric === m.id && e.points.length > 0))
    .map((metric) => {
      const series = s.designs.flatMap((d) => all.filter((e) => e.design === d.id && e.metric === metric.id && e.points.length > 0));
      const end = Math.max(1, s.durationNs, ...series.flatMap((e) => e.points.map((p) => p.t)));
      const top = Math.max(0, ...series.flatMap((e) => e.points.map((p) => p.v)));
      const tScale = pickScale('ns', end);
      const scale = pickScale(metric.unit, top);
      const values = series.flatMap((e) =>
        e.points.map((p) => ({
          design: designLabel(s, e.design),
          t: toScale(p.t, 'ns', tScale),
          y: toScale(p.v, metric.unit, scale),
          when: formatValue(p.t, 'ns'),
          text: formatValue(p.v, metric.unit),
        })),
      );
      const color = { field: 'design', type: 'nominal' as const, scale: designColour(s), legend: { orient: 'top' as const, title: null, symbolType: 'stroke', symbolStrokeWidth: 2 } };
      const dash = {
        field: 'design',
        type: 'nominal' as const,
        scale: { domain: color.scale.domain, range: color.scale.domain.map((_, i) => DASHES[i % DASHES.length]!) },
        legend: color.legend,
      };
      return {
        id: `series:${s.name}:${metric.id}`,
        heading: `Over time: ${metricLabel(metric)}`,
        legend: `One step line per design: ${metric.label} over the simulated clock, in the first seed's run of each design.`,
        spec: {
          width: 1000,
          height: 260,
          data: { values },
          mark: { type: 'line', interpolate: 'step-after', strokeWidth: 2 },
          encoding: {
            x: { field: 't', type: 'quantitative', title: `simulated time (${tScale.suffix})`, scale: { domain: [0, toScale(end, 'ns', tScale)], nice: false } },
            y: { field: 'y', type: 'quantitative', title: axisTitle(metric.unit, top) },
            color,
            strokeDash: dash,
            tooltip: [
              { field: 'design', type: 'nominal' },
              { field: 'when', type: 'nominal', title: 'time' },
              { field: 'text', type: 'nominal', title: metric.label },
            ],
          },
          config: CONFIG,
        } as TopLevelSpec,
        expectedMarks: { line: series.length },
      };
    });
}

/** Subpages per grid row, and whether each subpage is its own cell (up to 1024) or runs are drawn as row segments. */
function folioLayout(pages: number): { perRow: number; cells: boolean } {
  const cells = pages <= 1024;
  return { perRow: cells ? Math.min(64, Math.max(1, pages)) : Math.ceil(pages / 16), cells };
}

export interface FolioCell {
  state: PageState;
  row: number;
  c0: number;
  c1: number;
  /** Subpage range as shown in the tooltip: '64–71'. */
  pages: string;
}

/** The rects of one folio map: runs split at row ends, then into single subpages in cell mode. */
export function folioCells(map: FolioMap): FolioCell[] {
  const total = map.runs.reduce((a, r) => a + r.count, 0);
  const { perRow, cells } = folioLayout(total);
  const out: FolioCell[] = [];
  let page = 0;
  for (const run of map.runs) {
    const runEnd = page + run.count;
    while (page < runEnd) {
      const row = Math.floor(page / perRow);
      const stop = cells ? page + 1 : Math.min(runEnd, (row + 1) * perRow);
      const c0 = page - row * perRow;
      out.push({ state: run.state, row, c0, c1: c0 + (stop - page), pages: stop - page === 1 ? `${page}` : `${page}–${stop - 1}` });
      page = stop;
    }
  }
  return out;
}

/** Subpages of one large folio per design, coloured by state, in a grid of rows. */
function folioChart(s: ScenarioReport): ChartSpec | undefined {
  if (s.folioMaps.length === 0) return undefined;
  let rects = 0;
  const panels = s.folioMaps.map((map) => {
    const total = map.runs.reduce((a, r) => a + r.count, 0);
    const { perRow, cells } = folioLayout(total);
    const rows = Math.max(1, Math.ceil(total / perRow));
    const values = folioCells(map).map((c) => ({ ...c, r1: c.row + 1 }));
    rects += values.length;
    // A 1 GiB folio's rows hold 16,384 subpages: fit them in 900 px (a fraction of a pixel each) rather than 32,768.
    const cellPx = cells ? 14 : perRow > 450 ? 900 / perRow : Math.floor(900 / perRow);
    return {
      title: {
        text: designLabel(s, map.design),
        subtitle: `pfn 0x${map.pfn.toString(16)}, order ${map.order} (${total} subpages${cells ? '' : `, ${perRow} per row`}): ${map.caption}`,
      },
      width: perRow * cellPx,
      height: rows * 14,
      data: { values },
      mark: { type: 'rect', stroke: 'white', strokeWidth: cells ? 1 : 0.5 },
      encoding: {
        x: { field: 'c0', type: 'quantitative', scale: { domain: [0, perRow], nice: false }, axis: { title: 'subpage within row', values: gridTicks(perRow, 16) } },
        x2: { field: 'c1' },
        y: {
          field: 'row',
          type: 'quantitative',
          scale: { domain: [0, rows], nice: false, reverse: true },
          axis: { title: 'first subpage', values: gridTicks(rows, 16), labelExpr: `datum.value * ${perRow}` },
        },
        y2: { field: 'r1' },
        color: {
          field: 'state',
          type: 'nominal',
          scale: { domain: PageState.options, range: PageState.options.map((st) => STATE_COLOURS[st]) },
          legend: { orient: 'top', title: 'subpage state', columns: 6 },
        },
        tooltip: [
          { field: 'pages', type: 'nominal', title: 'subpages' },
          { field: 'state', type: 'nominal' },
        ],
      },
    };
  });
  return {
    id: `folio:${s.name}`,
    heading: 'Folio map',
    legend: 'The subpages of one large folio per design, left to right and top to bottom, coloured by state (the legend lists every state).',
    spec: { vconcat: panels, spacing: 24, config: CONFIG } as TopLevelSpec,
    expectedMarks: { rect: rects },
  };
}

/** Every chart of a scenario, in page order. */
export function scenarioCharts(s: ScenarioReport): ChartSpec[] {
  return [barChart(s, 'memory'), barChart(s, 'copies'), ...sweepCharts(s), ...seriesCharts(s), timelineChart(s), folioChart(s)].filter(
    (c): c is ChartSpec => c !== undefined,
  );
}

/** Total mark items a chart must draw. */
export function totalMarks(c: ChartSpec): number {
  return Object.values(c.expectedMarks).reduce((a, n) => a + n, 0);
}
