import { describe, expect, it } from 'vitest';
import { expectedMarksFromData } from '../../test/support/expected_marks.js';
import { sampleReport } from '../../test/support/sample_report.js';
import { scriptSafe } from './assets.js';
import { formatStat } from './format.js';
import { renderHtml } from './html.js';
import { renderJson, ReportError } from './json.js';
import type { Report } from './model.js';

const report = sampleReport();
const s = report.scenarios[0]!;
const html = renderHtml(report);

/** The text of <script type="application/json" id="..."> in the page. */
function jsonScript(page: string, id: string): unknown {
  const m = page.match(new RegExp(`<script type="application/json" id="${id}">(.*?)</script>`, 's'));
  if (m === null) throw new Error(`no #${id}`);
  return JSON.parse(m[1]!);
}

function unescapeHtml(text: string): string {
  return text.replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)));
}

describe('renderHtml', () => {
  it('loads nothing from anywhere: no script or link source, no URL in the markup or CSS, a CSP that forbids fetches', () => {
    // The markup with every script's body emptied (the bundles' code builds tags of its own in strings).
    const markup = html.replace(/(<script[^>]*>).*?<\/script>/gs, '$1</script>');
    const tags = (name: string) => markup.match(new RegExp(`<${name}\\b[^>]*>`, 'gi')) ?? [];
    expect(tags('script').length).toBe(6);
    expect(tags('script').filter((t) => /\bsrc\s*=/i.test(t))).toEqual([]);
    expect(tags('link')).toEqual([]);
    expect(markup.match(/\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?\/\/[^"' >]*/gi) ?? []).toEqual([]);
    expect(markup.match(/https?:\/\/\S*/gi) ?? []).toEqual([]);
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src 'none';`);
  });

  it('inlines the vega, vega-lite and vega-embed bundles', () => {
    for (const pkg of ['vega', 'vega-lite', 'vega-embed']) expect(html).toContain(`<script data-bundle="${pkg}">`);
    // Each bundle's code ends before its closing tag: none contains '</script'.
    const bundles = [...html.matchAll(/<script data-bundle="[^"]+">(.*?)<\/script>/gs)].map((m) => m[1]!);
    expect(bundles).toHaveLength(3);
    expect(bundles.every((b) => b.length > 10_000)).toBe(true);
  });

  it('embeds the report JSON (the canonical form) and the chart specs', () => {
    expect(jsonScript(html, 'foliosim-report')).toEqual(JSON.parse(renderJson(report)));
    const specs = jsonScript(html, 'foliosim-charts') as { id: string }[];
    expect(specs.map((c) => c.id)).toEqual([...expectedMarksFromData(report).keys()]);
  });

  it('survives text that would end a script element or open a tag', () => {
    const r = structuredClone(report);
    const evil = '</script><script>alert(1)</script><!-- & "quotes"';
    r.scenarios[0]!.verdict = evil;
    r.scenarios[0]!.designs[0]!.label = evil;
    const page = renderHtml(r);
    expect(page).not.toContain('<script>alert(1)');
    expect((jsonScript(page, 'foliosim-report') as Report).scenarios[0]!.verdict).toBe(evil);
    expect(page).toContain('&#60;/script&#62;&#60;script&#62;alert(1)');
  });

  it('gives every chart a data-chart container with the mark counts the data implies', () => {
    const containers = [...html.matchAll(/<div class="chart" data-chart="([^"]+)" data-expected-marks="(\d+)" data-expected-by-type="([^"]+)">/g)];
    const want = expectedMarksFromData(report);
    expect(containers.map((m) => m[1])).toEqual([...want.keys()]);
    for (const [, id, total, byType] of containers) {
      const expected = want.get(id!)!;
      expect(JSON.parse(unescapeHtml(byType!)), id).toEqual(expected);
      expect(Number(total), id).toBe(Object.values(expected).reduce((a, n) => a + n, 0));
    }
    expect(html).toContain('window.foliosimCharts = Promise.all(');
    expect(html).toContain("renderer: 'svg', actions: false");
  });

  it('shows the question, the verdict and the decision matrix with units, best and low-confidence marks', () => {
    expect(html).toContain(s.question);
    expect(html).toContain(`<strong>${s.verdict}</strong>`);
    const matrix = html.match(/<table class="matrix">(.*?)<\/table>/s)![1]!;
    const cells = [...matrix.matchAll(/<td( class="([^"]*)")?>(.*?)<\/td>/g)];
    const want = s.rows.flatMap((row) => {
      const m = s.metrics.find((x) => x.id === row.metric)!;
      return s.designs.map((d) => {
        const c = row.cells.find((x) => x.design === d.id)!;
        return { text: formatStat(c.stat, m.unit), best: c.best, low: m.lowConfidence };
      });
    });
    expect(cells).toHaveLength(want.length);
    cells.forEach((c, i) => {
      const classes = (c[2] ?? '').split(' ');
      expect(unescapeHtml(c[3]!.replace(/<[^>]+>/g, ''))).toBe((want[i]!.low ? '~' : '') + want[i]!.text + (want[i]!.best ? ' ✓' : ''));
      expect(classes.includes('best')).toBe(want[i]!.best);
      expect(classes.includes('low')).toBe(want[i]!.low);
    });
  });

  it('lists findings: expected ones quietly, unexpected ones loud', () => {
    expect(html).toContain('<li class="expected">known flaw of PMD aggregate: pinned-page-lost-to-cow (in 3 of 3 runs)</li>');
    const r = structuredClone(report);
    r.scenarios[0]!.findings.push({ design: 'exact', violation: 'anon-exclusive-shared', runs: 1, expected: false });
    expect(renderHtml(r)).toContain('<li class="unexpected">✗ UNEXPECTED oracle violation in exact per-page: anon-exclusive-shared (in 1 of 3 runs)</li>');
  });

  it('has a footer with version, hash and seed and no timestamp, and is byte-identical for the same input', () => {
    const footer = html.match(/<footer>(.*?)<\/footer>/s)![1]!;
    expect(footer).toContain(`foliosim ${report.foliosim}`);
    expect(footer).toContain(`hash ${s.hash}`);
    expect(footer).toContain(`seed ${s.seed}`);
    const text = html.replace(/<script[^>]*>.*?<\/script>/gs, '');
    expect(text).not.toMatch(/\d{4}-\d{2}-\d{2}|\d{2}:\d{2}:\d{2}/);
    expect(renderHtml(sampleReport())).toBe(html);
  });

  it('refuses a report that does not match the schema', () => {
    const r = structuredClone(report);
    r.scenarios[0]!.rows[0]!.metric = 'nope';
    expect(() => renderHtml(r)).toThrow(ReportError);
  });

  it('makes a bundle safe to inline', () => {
    expect(scriptSafe('a="</script>";b="</SCRIPT"')).toBe('a="<\\/script>";b="<\\/SCRIPT"');
  });
});
