import { describe, expect, it } from 'vitest';
import { sampleReport } from '../../test/support/sample_report.js';
import { formatStat } from './format.js';
import type { Report, ScenarioReport } from './model.js';
import { escapeMd, renderMarkdown } from './markdown.js';

const report = sampleReport();
const s = report.scenarios[0]!;
const md = renderMarkdown(report);

function variant(edit: (s: ScenarioReport) => void): Report {
  const r = structuredClone(report);
  edit(r.scenarios[0]!);
  return r;
}

/** Cells of the Markdown table row whose first cell starts with `label` (escaped pipes stay inside a cell). */
function row(text: string, label: string): string[] {
  const line = text.split('\n').find((l) => l.startsWith(`| ${label}`));
  if (line === undefined) throw new Error(`no row ${label}`);
  return line
    .slice(2, -2)
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());
}

describe('renderMarkdown', () => {
  it('has a heading, the question and the verdict in bold', () => {
    expect(md).toContain(`## ${s.title} (\`${s.name}\`)`);
    expect(md).toContain(`> ${s.question}`);
    expect(md).toContain(`**Verdict: ${s.verdict}**`);
  });

  it('tabulates the matrix: designs across, every value with its unit, best in bold with ✓, estimates ~ with a footnote', () => {
    expect(row(md, 'Metric')).toEqual(['Metric', ...s.designs.map((d) => d.label)]);
    for (const r of s.rows) {
      const m = s.metrics.find((x) => x.id === r.metric)!;
      const cells = row(md, escapeMd(m.label));
      expect(cells[0]!.endsWith('[^low-confidence]')).toBe(m.lowConfidence);
      const want = s.designs.map((d) => {
        const c = r.cells.find((x) => x.design === d.id)!;
        const text = (m.lowConfidence ? '\\~' : '') + escapeMd(formatStat(c.stat, m.unit));
        return c.best ? `**${text}** ✓` : text;
      });
      expect(cells.slice(1), m.id).toEqual(want);
    }
    expect(md.trimEnd().split('\n').at(-1)).toMatch(/^\[\^low-confidence\]: ~ estimated partly from low-confidence unit costs/);
  });

  it('defines the footnote only when something refers to it', () => {
    const none = renderMarkdown(variant((sc) => sc.metrics.forEach((m) => (m.lowConfidence = false))));
    expect(none).not.toContain('[^low-confidence]');
  });

  it('lists findings, expected ones as known flaws and unexpected ones loud, and failed expectations', () => {
    const r = variant((sc) => {
      sc.findings.push({ design: 'exact', violation: 'anon-exclusive-shared', runs: 2, expected: false });
      sc.expectations[0]!.passed = false;
      sc.expectations[0]!.detail = 'copied 512 pages';
    });
    const text = renderMarkdown(r);
    expect(text).toContain('- known flaw of PMD aggregate: pinned-page-lost-to-cow (in 3 of 3 runs)');
    expect(text).toContain('- ❌ **UNEXPECTED oracle violation in exact per-page: anon-exclusive-shared (in 2 of 3 runs)**');
    expect(text).toContain(`- ❌ **failed:** ${escapeMd(r.scenarios[0]!.expectations[0]!.text)}: copied 512 pages`);
  });

  it('has one sweep table per swept metric with the headline marked', () => {
    const swept = new Set(s.sweep!.series.map((e) => e.metric));
    expect(md.match(/^\| pinned 4 KiB buffers \|/gm)).toHaveLength(swept.size);
    expect(md.match(/^\| 16 ◀ \|/gm)).toHaveLength(swept.size);
  });

  it('escapes pipes and Markdown syntax in names so the table keeps its columns', () => {
    const r = variant((sc) => (sc.designs[0]!.label = 'a|b *c*'));
    const text = renderMarkdown(r);
    expect(row(text, 'Metric')).toHaveLength(s.designs.length + 1);
    expect(text).toContain('a\\|b \\*c\\*');
  });

  it('ends with the footer (version, hash, seed) and no timestamp, and is byte-identical for the same input', () => {
    expect(md).toContain(`foliosim ${report.foliosim} · scenario ${s.name} · hash ${s.hash} · seed ${s.seed}`);
    expect(md).not.toMatch(/\d{4}-\d{2}-\d{2}|\d{2}:\d{2}:\d{2}/);
    expect(renderMarkdown(sampleReport())).toBe(md);
    expect(md.endsWith('\n')).toBe(true);
  });
});
