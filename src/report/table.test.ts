import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import { sampleReport } from '../../test/support/sample_report.js';
import { formatStat, formatValue } from './format.js';
import type { Report, ScenarioReport } from './model.js';
import { fitColumns, renderTable, wrap } from './table.js';
import { bestFlags } from './view.js';

const report = sampleReport();
const s = report.scenarios[0]!;
const plain = renderTable(report, { color: false });

/** The cells of the table line whose first column starts with `label`. */
function rowCells(text: string, label: string): string[] {
  const line = text.split('\n').find((l) => l.startsWith(`│ ${label} `));
  if (line === undefined) throw new Error(`no row '${label}' in\n${text}`);
  return line
    .split('│')
    .slice(1, -1)
    .map((c) => c.trim());
}

function metric(sc: ScenarioReport, id: string) {
  return sc.metrics.find((m) => m.id === id)!;
}

function variant(edit: (s: ScenarioReport) => void): Report {
  const r = structuredClone(report);
  edit(r.scenarios[0]!);
  return r;
}

describe('renderTable: the decision matrix', () => {
  it('has a column per design and a row per metric, every value with its unit, best marked * and estimates ~', () => {
    const head = rowCells(plain, 'metric');
    expect(head).toEqual(['metric', ...s.designs.map((d) => d.label)]);
    for (const row of s.rows) {
      const m = metric(s, row.metric);
      const cells = rowCells(plain, m.label);
      expect(cells[0]).toContain(`(${m.unit === 'ratio' ? '%' : m.unit})`);
      const want = s.designs.map((d) => {
        const c = row.cells.find((x) => x.design === d.id)!;
        return (m.lowConfidence ? '~' : '') + formatStat(c.stat, m.unit) + (c.best ? ' *' : '');
      });
      expect(cells.slice(1), m.id).toEqual(want);
    }
  });

  it('marks exactly the best cells, for lower- and higher-is-better metrics and for ties', () => {
    const lower = s.rows.find((r) => r.metric === 'metadataBytes')!;
    const higher = s.rows.find((r) => r.metric === 'dmaCoherent')!;
    expect(metric(s, 'dmaCoherent').better).toBe('higher');
    // The sample has ties: two designs spend no metadata, three keep every pin.
    expect(lower.cells.filter((c) => c.best).length).toBeGreaterThan(1);
    for (const row of [lower, higher]) {
      const cells = rowCells(plain, metric(s, row.metric).label).slice(1);
      expect(cells.map((c) => c.endsWith(' *'))).toEqual(s.designs.map((d) => row.cells.find((c) => c.design === d.id)!.best));
    }
  });

  it('with colour: bold green and ✓ on the best cells, no * anywhere in the matrix', () => {
    const colored = renderTable(report, { color: true });
    expect(colored).toContain('\x1b[1m\x1b[32m');
    const stripped = stripVTControlCharacters(colored);
    const cells = rowCells(stripped, metric(s, 'forkCopies').label).slice(1);
    const row = s.rows.find((r) => r.metric === 'forkCopies')!;
    expect(cells.map((c) => c.endsWith(' ✓'))).toEqual(s.designs.map((d) => row.cells.find((c) => c.design === d.id)!.best));
    expect(stripped).not.toMatch(/ \*\s*│/);
  });

  it('without colour: no escape codes at all', () => {
    expect(plain).not.toContain('\x1b');
  });

  it('explains ~ in a footnote only when a low-confidence figure is shown', () => {
    expect(plain).toContain('~ estimated partly from low-confidence unit costs');
    const none = variant((sc) => sc.metrics.forEach((m) => (m.lowConfidence = false)));
    const text = renderTable(none, { color: false });
    expect(text).not.toContain('low-confidence');
    expect(text).not.toMatch(/│ ~/);
  });

  it('shows a missing cell as —', () => {
    const r = variant((sc) => sc.rows[0]!.cells.splice(1, 1));
    expect(rowCells(renderTable(r, { color: false }), s.metrics[0]!.label)[2]).toBe('—');
  });
});

describe('renderTable: text around the matrix', () => {
  it('starts with the title, the question and the verdict', () => {
    const lines = plain.split('\n');
    expect(lines[0]).toBe(`${s.title} (${s.name})`);
    expect(plain).toContain(`Question: ${s.question}`);
    expect(plain).toContain(`Verdict: ${s.verdict}`);
  });

  it('labels an expected finding as the design’s known flaw', () => {
    expect(s.findings.length).toBeGreaterThan(0);
    for (const f of s.findings) {
      const label = s.designs.find((d) => d.id === f.design)!.label;
      expect(plain).toContain(`known flaw of ${label}: ${f.violation} (in ${f.runs} of ${s.repeats} runs)`);
    }
    expect(plain).not.toContain('UNEXPECTED');
  });

  it('makes an unexpected finding and a failed expectation loud', () => {
    const r = variant((sc) => {
      sc.findings.push({ design: 'exact', violation: 'anon-exclusive-shared', runs: 1, expected: false });
      sc.expectations.push({ text: 'exact never loses a pin', passed: false, detail: 'lost 1 pin in seed 43' });
    });
    const text = renderTable(r, { color: false });
    expect(text).toContain('✗ UNEXPECTED oracle violation in exact per-page: anon-exclusive-shared (in 1 of 3 runs)');
    expect(text).toContain('✗ failed: exact never loses a pin: lost 1 pin in seed 43');
    expect(text).toContain(`Expectations: ${r.scenarios[0]!.expectations.length - 1} of ${r.scenarios[0]!.expectations.length} met`);
    const colored = renderTable(r, { color: true });
    const red = colored.split('\n').find((l) => l.includes('UNEXPECTED'))!;
    expect(red.startsWith('\x1b[1m\x1b[31m')).toBe(true);
  });

  it('tabulates the sweep: x down, designs across, the headline marked, best per x', () => {
    const sw = s.sweep!;
    const series = (design: string, id: string) => sw.series.find((e) => e.design === design && e.metric === id)!;
    const lines = plain.split('\n');
    for (const id of new Set(sw.series.map((e) => e.metric))) {
      const m = metric(s, id);
      const at = lines.findIndex((l) => l.startsWith(`${m.label} (`));
      expect(at, id).toBeGreaterThan(0);
      const table = lines.slice(at).join('\n');
      for (const x of sw.values) {
        const label = formatValue(x, sw.unit) + (x === sw.headline ? ' ◀' : '');
        const stats = s.designs.map((d) => series(d.id, id).points.find((p) => p.x === x)!.stat);
        const best = bestFlags(
          stats.map((st) => st.median),
          m.better,
        );
        const want = stats.map((st, i) => (m.lowConfidence ? '~' : '') + formatStat(st, m.unit) + (best[i] ? ' *' : ''));
        expect(rowCells(table, label).slice(1), `${id} at ${x}`).toEqual(want);
      }
    }
  });

  it('ends with a footer naming the foliosim version, the scenario hash and the seed, and no timestamp', () => {
    const last = plain.trimEnd().split('\n').at(-1)!;
    expect(last).toContain(`foliosim ${report.foliosim}`);
    expect(last).toContain(`hash ${s.hash}`);
    expect(last).toContain(`seed ${s.seed}`);
    expect(plain).not.toMatch(/\d{4}-\d{2}-\d{2}|\d{2}:\d{2}:\d{2}/);
    expect(plain.endsWith('\n')).toBe(true);
  });

  it('is byte-identical for the same input', () => {
    expect(renderTable(sampleReport(), { color: false })).toBe(plain);
    expect(renderTable(structuredClone(report), { color: true })).toBe(renderTable(report, { color: true }));
  });

  it('renders every scenario of a merged report', () => {
    const two = structuredClone(report);
    two.scenarios.push({ ...structuredClone(s), name: 'second', title: 'Second scenario' });
    const text = renderTable(two, { color: false });
    expect(text).toContain('Second scenario (second)');
    expect(text.match(/^foliosim /gm)).toHaveLength(2);
  });
});

describe('renderTable: width', () => {
  it('keeps every line within the terminal width', () => {
    for (const width of [80, 100, 120]) {
      const text = renderTable(report, { color: true, width });
      for (const line of stripVTControlCharacters(text).split('\n')) expect(line.length, `${width}: ${line}`).toBeLessThanOrEqual(width);
    }
  });

  it('wraps words and fits columns', () => {
    expect(wrap('a bb ccc dddd', 6)).toBe('a bb\nccc\ndddd');
    expect(wrap('a bb', undefined)).toBe('a bb');
    expect(fitColumns([10, 10], 30)).toBeUndefined();
    const fit = fitColumns([40, 12, 12], 50)!;
    expect(fit.reduce((a, b) => a + b, 0) + 4).toBeLessThanOrEqual(50);
    expect(fit.slice(1)).toEqual([12, 12]);
    // Never narrower than a column's longest word: the numbers wrap, they are not cut.
    const tight = fitColumns([40, 30, 30], 50, [10, 17, 17])!;
    expect(tight[1]).toBeGreaterThanOrEqual(17);
    expect(tight[2]).toBeGreaterThanOrEqual(17);
    expect(tight[0]).toBeGreaterThanOrEqual(10);
  });

  it('wraps a wide matrix between words and never cuts a number', () => {
    const narrow = renderTable(sampleReport(), { color: false, width: 70 });
    expect(narrow).not.toContain('…');
  });
});
