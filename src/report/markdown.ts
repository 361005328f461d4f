/**
 * The report as GitHub Markdown, for a mailing-list reply, an issue or a PR:
 * the same content as the terminal table (view.ts), with bold for the best
 * value and the verdict, and GitHub footnotes for the marks.
 */
import type { Report, ScenarioReport } from './model.js';
import {
  LEGEND_BETTER,
  LEGEND_LOW,
  LEGEND_RANGE,
  type CellView,
  expectationSummary,
  failedExpectations,
  findingViews,
  footerText,
  matrixView,
  metricLabel,
  sweepCaption,
  sweepViews,
} from './view.js';

/** Text inside a table cell or a line: no pipes, no newlines, no stray Markdown syntax. */
export function escapeMd(text: string): string {
  return text.replace(/[\\`*_[\]<>|#]/g, (c) => `\\${c}`).replace(/\s*\n\s*/g, ' ');
}

const FN_LOW = '[^low-confidence]';

function cellMd(c: CellView): string {
  const text = (c.low ? '\\~' : '') + escapeMd(c.text);
  return c.best ? `**${text}** ✓` : text;
}

/** The footnote goes on the metric, once, rather than on every value of the row. */
function labelMd(label: string, cells: CellView[]): string {
  return escapeMd(label) + (cells.some((c) => c.low) ? FN_LOW : '');
}

function table(head: string[], rows: string[][]): string[] {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map((_, i) => (i === 0 ? ':---' : '---:'))), ...rows.map(line)];
}

function scenario(r: Report, s: ScenarioReport): string[] {
  const designs = s.designs.map((d) => escapeMd(d.label));
  const out: string[] = [
    `## ${escapeMd(s.title)} (\`${s.name}\`)`,
    '',
    `> ${escapeMd(s.question)}`,
    '',
    `**Verdict: ${escapeMd(s.verdict)}**`,
    '',
    ...table(
      ['Metric', ...designs],
      matrixView(s).map((row) => [labelMd(row.label, row.cells), ...row.cells.map(cellMd)]),
    ),
    '',
    `✓ best; ${LEGEND_BETTER}; ${LEGEND_RANGE}.`,
  ];
  const findings = findingViews(s);
  if (findings.length > 0) {
    out.push('', '### Oracle findings', '');
    for (const f of findings) out.push(f.expected ? `- ${escapeMd(f.text)}` : `- ❌ **${escapeMd(f.text)}**`);
  }
  if (s.expectations.length > 0) {
    out.push('', `${expectationSummary(s).replace(/^e/, 'E')}.`);
    const failed = failedExpectations(s);
    if (failed.length > 0) out.push('', ...failed.map((e) => `- ❌ **failed:** ${escapeMd(e)}`));
  }
  const sweeps = sweepViews(s);
  if (sweeps.length > 0) {
    out.push('', '### Sweep', '', `${escapeMd(sweepCaption(s))} (◀).`);
    for (const v of sweeps) {
      out.push('', `**${escapeMd(metricLabel(v.metric))}**${v.rows.some((r) => r.cells.some((c) => c.low)) ? FN_LOW : ''}`, '');
      out.push(
        ...table(
          [escapeMd(s.sweep!.label), ...designs],
          v.rows.map((row) => [escapeMd(row.xText) + (row.headline ? ' ◀' : ''), ...row.cells.map(cellMd)]),
        ),
      );
    }
  }
  out.push('', `<sub>${escapeMd(footerText(r, s))}</sub>`);
  return out;
}

/** The whole report; footnote definitions once at the end (GitHub numbers them). */
export function renderMarkdown(report: Report): string {
  const body = report.scenarios.flatMap((s, i) => [...(i > 0 ? ['', '---', ''] : []), ...scenario(report, s)]);
  const text = ['# foliosim report', '', ...body];
  // A footnote defined but never referenced is shown by GitHub as stray text.
  const usesLow = report.scenarios.some((s) =>
    [...matrixView(s), ...sweepViews(s).flatMap((v) => v.rows)].some((row) => row.cells.some((c) => c.low)),
  );
  if (usesLow) text.push('', `${FN_LOW}: ~ ${LEGEND_LOW}.`);
  return text.join('\n') + '\n';
}
