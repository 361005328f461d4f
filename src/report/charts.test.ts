/**
 * The chart specs, checked without a browser: Vega-Lite compiles each one
 * without a warning, and Vega's own headless SVG renderer (the code the page
 * runs) draws exactly the marks the report data implies. The browser test
 * repeats the count in Chromium.
 */
import { parse, View, type LoggerInterface } from 'vega';
import { compile } from 'vega-lite';
import { describe, expect, it } from 'vitest';
import { expectedMarksFromData } from '../../test/support/expected_marks.js';
import { sampleReport, sampleScenario } from '../../test/support/sample_report.js';
import { folioCells, MARK_ELEMENT, scaleType, scenarioCharts, totalMarks, type MarkType } from './charts.js';
import type { FolioMap } from './model.js';

const report = sampleReport();
const s = report.scenarios[0]!;
const charts = scenarioCharts(s);

/** A Vega/Vega-Lite logger that records warnings and errors. */
function recorder(): { logger: LoggerInterface; messages: string[] } {
  const messages: string[] = [];
  let level = 0;
  const logger: LoggerInterface = {
    level(l?: number) {
      if (l === undefined) return level as never;
      level = l;
      return logger;
    },
    error: (...a: readonly unknown[]) => (messages.push(`error: ${a.join(' ')}`), logger),
    warn: (...a: readonly unknown[]) => (messages.push(`warn: ${a.join(' ')}`), logger),
    info: () => logger,
    debug: () => logger,
  } as LoggerInterface;
  return { logger, messages };
}

/** Mark items in Vega's SVG, by mark type: the children of each `<g class="mark-<type> role-mark">` (empty ones self-close). */
function countMarks(svg: string): Partial<Record<MarkType, number>> {
  const out: Partial<Record<MarkType, number>> = {};
  for (const m of svg.matchAll(/<g class="mark-(\w+) role-mark[^"]*"[^>]*?(?:\/>|>(.*?)<\/g>)/gs)) {
    const type = m[1] as MarkType;
    const element = MARK_ELEMENT[type];
    if (element === undefined) continue;
    out[type] = (out[type] ?? 0) + (m[2]?.match(new RegExp(`<${element}[ />]`, 'g'))?.length ?? 0);
  }
  return out;
}

describe('scenarioCharts', () => {
  it('has the charts the data calls for, with unique stable ids', () => {
    const want = expectedMarksFromData(report);
    expect(charts.map((c) => c.id)).toEqual([...want.keys()]);
    for (const c of charts) expect(c.expectedMarks, c.id).toEqual(want.get(c.id));
  });

  it.each(charts.map((c) => [c.id, c] as const))('%s compiles without warnings and draws exactly its expected marks', async (_id, c) => {
    const vl = recorder();
    const vg = compile(c.spec, { logger: vl.logger }).spec;
    const run = recorder();
    const view = new View(parse(vg), { renderer: 'none', logger: run.logger });
    const svg = await view.toSVG();
    view.finalize();
    expect(vl.messages).toEqual([]);
    expect(run.messages).toEqual([]);
    const drawn = countMarks(svg);
    for (const [type, n] of Object.entries(c.expectedMarks)) expect(drawn[type as MarkType] ?? 0, `${c.id} ${type}`).toBe(n);
    expect(Object.values(drawn).reduce((a, n) => a + n, 0)).toBe(totalMarks(c));
  });

  it('keeps the network out of the specs: inline data only, no URL anywhere', () => {
    const text = JSON.stringify(charts.map((c) => c.spec));
    expect(text).not.toMatch(/https?:\/\//);
    expect(text).not.toContain('"url"');
  });

  it('draws a sweep with a log x axis when its values span more than two decades', () => {
    expect(scaleType([1, 4, 16, 64, 256])).toBe('log');
    expect(scaleType([1, 2, 4, 8, 100])).toBe('linear');
    expect(scaleType([0, 10, 1000, 100000])).toBe('symlog');
    expect(scaleType([-5, 1, 1000])).toBe('linear');
    const sweep = charts.find((c) => c.id.startsWith('sweep:'))!;
    expect(JSON.stringify(sweep.spec)).toContain('"type":"log"');
  });
});

describe('sweep axes', () => {
  it('plot a swept time in a display unit, titled with it, ticked at the swept values', () => {
    const sc = sampleScenario({ buffers: [1e6, 2e6, 4e6, 8e6], headline: 4e6 });
    sc.sweep!.unit = 'ns';
    sc.sweep!.label = 'run length';
    const spec = JSON.stringify(scenarioCharts(sc).find((c) => c.id.startsWith('sweep:'))!.spec);
    expect(spec).toContain('"title":"run length (ms)"');
    expect(spec).toContain('"values":[1,2,4,8]');
    expect(spec).toContain('"data":{"values":[{"x":4}]}');
  });

  it('title a swept count with its label alone', () => {
    const spec = JSON.stringify(charts.find((c) => c.id.startsWith('sweep:'))!.spec);
    expect(spec).toContain(`"title":"${s.sweep!.label}"`);
  });
});

describe('folioCells', () => {
  it('draws a 2 MiB folio one cell per subpage, in state order', () => {
    const map = s.folioMaps[0]!;
    const cells = folioCells(map);
    expect(cells).toHaveLength(512);
    expect(cells.map((c) => c.state)).toEqual(map.runs.flatMap((r) => Array<string>(r.count).fill(r.state)));
    expect(new Set(cells.map((c) => c.row)).size).toBe(8);
  });

  it('draws a 1 GiB folio as runs split at row ends, covering every subpage once in at most 16 rows', () => {
    const map: FolioMap = {
      design: 'exact',
      pfn: 0,
      order: 18,
      caption: 'a PUD-sized folio',
      runs: [
        { state: 'shared', count: 100_000 },
        { state: 'pinned', count: 3 },
        { state: 'copied', count: 162_141 },
      ],
    };
    const cells = folioCells(map);
    const perRow = 2 ** 18 / 16;
    expect(cells.reduce((a, c) => a + (c.c1 - c.c0), 0)).toBe(2 ** 18);
    expect(Math.max(...cells.map((c) => c.row))).toBe(15);
    expect(cells.every((c) => c.c0 >= 0 && c.c1 <= perRow && c.c1 > c.c0)).toBe(true);
    expect(cells.length).toBeLessThan(40);
  });

  it('fits a 1 GiB folio map in 900 px across', () => {
    const big: FolioMap = { design: s.designs[0]!.id, pfn: 0, order: 18, caption: 'a PUD-sized folio', runs: [{ state: 'shared', count: 2048 }, { state: 'private', count: 2 ** 18 - 2048 }] };
    const chart = scenarioCharts({ ...s, folioMaps: [big] }).find((c) => c.id.startsWith('folio:'))!;
    const panel = (chart.spec as unknown as { vconcat: { width: number; height: number }[] }).vconcat[0]!;
    expect(panel.width).toBeCloseTo(900, 6);
    expect(panel.height).toBe(16 * 14);
  });
});
