/**
 * The report as one self-contained HTML file: tables and text for every
 * scenario, Vega-Lite charts rendered in the page by the inlined vega bundles,
 * and the report JSON itself (id="foliosim-report") for anyone who wants the
 * numbers. A Content-Security-Policy forbids every network fetch, so a page
 * that renders here renders offline.
 *
 * For tests, each chart container carries data-chart (a stable id) and the
 * mark count it must draw (data-expected-marks, and per Vega mark type in
 * data-expected-by-type), and window.foliosimCharts settles when every
 * chart has been embedded.
 */
import { vegaBundles } from './assets.js';
import { scenarioCharts, totalMarks, type ChartSpec } from './charts.js';
import { formatValue } from './format.js';
import { canonicalReport } from './json.js';
import type { CostSummary, Report, ScenarioReport } from './model.js';
import {
  LEGEND_BETTER,
  LEGEND_LOW,
  LEGEND_RANGE,
  type CellView,
  designLabel,
  expectationSummary,
  failedExpectations,
  findingViews,
  footerText,
  matrixView,
  metricLabel,
  sweepCaption,
  sweepViews,
} from './view.js';
import { STYLE } from './style.js';

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON that can sit inside <script type="application/json">: no '<' (so no '</script>' or '<!--'), no line separators. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** No fetch, frame, font or image from anywhere; vega compiles expressions with Function, hence 'unsafe-eval'. */
const CSP = "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data:";

function cellHtml(c: CellView): string {
  const classes = [c.best ? 'best' : '', c.low ? 'low' : ''].filter((x) => x !== '').join(' ');
  const text = (c.low ? '<span class="tilde" title="low confidence">~</span>' : '') + escapeHtml(c.text) + (c.best ? ' <span class="check">✓</span>' : '');
  return `<td${classes === '' ? '' : ` class="${classes}"`}>${text}</td>`;
}

function tableHtml(cls: string, head: string[], rows: { th: string; title?: string; cells: CellView[] }[]): string {
  const thead = `<thead><tr>${head.map((h, i) => `<th${i === 0 ? ' class="label"' : ''}>${escapeHtml(h)}</th>`).join('')}</tr></thead>`;
  const tbody = rows
    .map((r) => `<tr><th class="label"${r.title === undefined ? '' : ` title="${escapeHtml(r.title)}"`}>${r.th}</th>${r.cells.map(cellHtml).join('')}</tr>`)
    .join('\n');
  // A wide matrix (six designs with ranges) scrolls inside its box instead of widening the page.
  return `<div class="scroll"><table class="${cls}">${thead}<tbody>\n${tbody}\n</tbody></table></div>`;
}

function matrixHtml(s: ScenarioReport): string {
  const rows = matrixView(s);
  const anyLow = rows.some((r) => r.cells.some((c) => c.low));
  return [
    tableHtml(
      'matrix',
      ['Metric', ...s.designs.map((d) => d.label)],
      rows.map((r) => ({ th: escapeHtml(r.label) + (r.cells.some((c) => c.low) ? '<sup>~</sup>' : ''), title: r.metric.description, cells: r.cells })),
    ),
    `<p class="note">✓ best; ${escapeHtml(LEGEND_BETTER)}; ${escapeHtml(LEGEND_RANGE)}.${anyLow ? ` <br>~ ${escapeHtml(LEGEND_LOW)}.` : ''}</p>`,
  ].join('\n');
}

function findingsHtml(s: ScenarioReport): string {
  const out: string[] = [];
  const findings = findingViews(s);
  if (findings.length > 0) {
    out.push('<h3>Oracle findings</h3>', '<ul class="findings">');
    for (const f of findings) out.push(`<li class="${f.expected ? 'expected' : 'unexpected'}">${f.expected ? '' : '✗ '}${escapeHtml(f.text)}</li>`);
    out.push('</ul>');
  }
  if (s.expectations.length > 0) {
    const failed = failedExpectations(s);
    out.push(`<p class="expectations">${escapeHtml(expectationSummary(s).replace(/^e/, 'E'))}.</p>`);
    if (failed.length > 0) out.push('<ul class="findings">', ...failed.map((e) => `<li class="unexpected">✗ failed: ${escapeHtml(e)}</li>`), '</ul>');
  }
  return out.join('\n');
}

function chartHtml(c: ChartSpec): string {
  return [
    `<h3>${escapeHtml(c.heading)}</h3>`,
    `<p class="note">${escapeHtml(c.legend)}</p>`,
    `<div class="chart" data-chart="${escapeHtml(c.id)}" data-expected-marks="${totalMarks(c)}" data-expected-by-type="${escapeHtml(JSON.stringify(c.expectedMarks))}"></div>`,
  ].join('\n');
}

function sweepTablesHtml(s: ScenarioReport): string {
  const views = sweepViews(s);
  if (views.length === 0) return '';
  const tables = views.map(
    (v) =>
      `<h4>${escapeHtml(metricLabel(v.metric))}</h4>\n` +
      tableHtml(
        'matrix sweep',
        [s.sweep!.label, ...s.designs.map((d) => d.label)],
        v.rows.map((r) => ({ th: escapeHtml(r.xText) + (r.headline ? ' ◀' : ''), cells: r.cells })),
      ),
  );
  return `<details><summary>Sweep values as tables</summary>\n<p class="note">${escapeHtml(sweepCaption(s))} (◀).</p>\n${tables.join('\n')}\n</details>`;
}

function costsHtml(s: ScenarioReport): string {
  if (s.costs.length === 0) return '';
  const one = (c: CostSummary) =>
    `<h4>${escapeHtml(designLabel(s, c.design))}: ${escapeHtml(formatValue(c.totalNs, 'ns'))}, ${escapeHtml(formatValue(c.lowConfidenceShare, 'ratio'))} on low-confidence unit costs</h4>\n` +
    '<table class="costs"><thead><tr><th class="label">primitive</th><th>count</th><th>unit cost</th><th>time</th><th>confidence</th></tr></thead><tbody>\n' +
    c.lines
      .map(
        (l) =>
          `<tr><th class="label">${escapeHtml(l.primitive)}</th><td>${escapeHtml(formatValue(l.count, 'count'))}</td><td>${escapeHtml(formatValue(l.unitNs, 'ns'))}</td>` +
          `<td>${escapeHtml(formatValue(l.ns, 'ns'))}</td><td class="conf-${l.confidence}">${l.confidence}</td></tr>`,
      )
      .join('\n') +
    '\n</tbody></table>';
  return `<details><summary>Where the estimated time goes (first seed)</summary>\n${s.costs.map(one).join('\n')}\n</details>`;
}

function scenarioHtml(r: Report, s: ScenarioReport, charts: ChartSpec[]): string {
  return [
    `<section class="scenario" id="scenario-${escapeHtml(s.name)}">`,
    `<h2>${escapeHtml(s.title)} <code>${escapeHtml(s.name)}</code></h2>`,
    `<p class="question"><span class="tag">Question</span> ${escapeHtml(s.question)}</p>`,
    `<p class="verdict"><span class="tag">Verdict</span> <strong>${escapeHtml(s.verdict)}</strong></p>`,
    '<h3>Decision matrix</h3>',
    matrixHtml(s),
    findingsHtml(s),
    ...charts.map(chartHtml),
    sweepTablesHtml(s),
    costsHtml(s),
    `<p class="footer">${escapeHtml(footerText(r, s))}</p>`,
    '</section>',
  ]
    .filter((x) => x !== '')
    .join('\n');
}

/** Embeds every chart; a chart that fails says so in its container and rejects the promise. */
const GLUE = `(function () {
  'use strict';
  var charts = JSON.parse(document.getElementById('foliosim-charts').textContent);
  window.foliosimReport = JSON.parse(document.getElementById('foliosim-report').textContent);
  function embed(c) {
    var el = document.querySelector('[data-chart="' + CSS.escape(c.id) + '"]');
    if (typeof vegaEmbed !== 'function') return Promise.reject(new Error('vega-embed did not load'));
    return vegaEmbed(el, c.spec, { mode: 'vega-lite', renderer: 'svg', actions: false }).then(
      function () { el.setAttribute('data-rendered', 'true'); return c.id; },
      function (e) { el.setAttribute('data-error', String(e)); el.textContent = 'This chart failed to render: ' + e; throw e; });
  }
  window.foliosimCharts = Promise.all(charts.map(embed));
})();`;

/** One self-contained HTML page for the whole report; byte-identical for the same report. Throws ReportError on an invalid report. */
export function renderHtml(input: Report): string {
  // The page embeds the report: validate it, as renderJson does, and embed the same canonical form.
  const report = canonicalReport(input);
  const perScenario = report.scenarios.map((s) => ({ s, charts: scenarioCharts(s) }));
  const specs = perScenario.flatMap(({ charts }) => charts.map((c) => ({ id: c.id, spec: c.spec })));
  const title = `foliosim report: ${report.scenarios.map((s) => s.title).join(', ')}`;
  const nav =
    report.scenarios.length > 1
      ? `<nav><ul>${report.scenarios.map((s) => `<li><a href="#scenario-${escapeHtml(s.name)}">${escapeHtml(s.title)}</a></li>`).join('')}</ul></nav>`
      : '';
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${CSP}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    `<header><h1>foliosim report</h1>${nav}</header>`,
    '<main>',
    ...perScenario.map(({ s, charts }) => scenarioHtml(report, s, charts)),
    '</main>',
    `<footer>foliosim ${escapeHtml(report.foliosim)} · report format ${escapeHtml(report.format)} v${report.version} · ${report.scenarios
      .map((s) => `${escapeHtml(s.name)}: hash ${escapeHtml(s.hash)}, seed ${s.seed}`)
      .join('; ')}</footer>`,
    `<script type="application/json" id="foliosim-report">${scriptJson(report)}</script>`,
    `<script type="application/json" id="foliosim-charts">${scriptJson(specs)}</script>`,
    ...vegaBundles().map((b) => `<script data-bundle="${b.pkg}">${b.code}</script>`),
    `<script>${GLUE}</script>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
