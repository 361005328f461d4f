/**
 * The terminal report: per scenario the question and verdict, the decision
 * matrix (designs across, metrics down), findings, expectations, the sweep,
 * and a footer. Colour is the caller's decision (a TTY, --color, NO_COLOR):
 * without it, every mark still reads in plain text ('*' best, '~' estimate).
 */
import Table from 'cli-table3';
import { styleText } from 'node:util';
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

export interface TableOptions {
  color: boolean;
  /** Terminal columns; prose wraps and tables shrink (wrapping cells) to fit. Unlimited when absent. */
  width?: number;
}

type Style = Parameters<typeof styleText>[0];

/** styleText checks process.stdout by default; the caller already decided, so skip that check. */
function painter(color: boolean): (style: Style, text: string) => string {
  return color ? (style, text) => styleText(style, text, { validateStream: false }) : (_style, text) => text;
}

/** Greedy word wrap; words longer than the width stay whole. */
export function wrap(text: string, width: number | undefined, indent = ''): string {
  if (width === undefined) return indent + text;
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (line !== '' && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  lines.push(indent + line);
  return lines.join('\n');
}

/**
 * Column widths (with padding) that fit `width`, shrinking the widest first;
 * undefined when the natural widths fit. A column never gets narrower than
 * its longest word (`minimum`), so cells wrap between words and nothing is cut
 * off: a table that cannot fit even so is left wider than the terminal.
 */
export function fitColumns(natural: number[], width: number | undefined, minimum: number[] = natural.map(() => 8)): number[] | undefined {
  const borders = natural.length + 1;
  const total = natural.reduce((a, b) => a + b, 0) + borders;
  if (width === undefined || total <= width) return undefined;
  const floor = natural.map((w, i) => Math.min(w, Math.max(minimum[i]!, 4)));
  const budget = width - borders;
  let lo = 0;
  let hi = Math.max(...natural);
  // The largest cap c with sum(max(floor, min(w, c))) <= budget.
  const used = (c: number) => natural.reduce((a, w, i) => a + Math.max(floor[i]!, Math.min(w, c)), 0);
  while (lo < hi) {
    const c = Math.ceil((lo + hi) / 2);
    if (used(c) <= budget) lo = c;
    else hi = c - 1;
  }
  return natural.map((w, i) => Math.max(floor[i]!, Math.min(w, lo)));
}

/** The longest space-free run in a cell, plus padding: the narrowest the column may be without cutting a word. */
function longestWord(text: string): number {
  return Math.max(0, ...text.split(/\s+/).map((w) => w.length)) + 2;
}

const MARK_BEST_COLOR = ' ✓';
const MARK_BEST_PLAIN = ' *';

function cellText(c: CellView, paint: ReturnType<typeof painter>, color: boolean): string {
  const text = (c.low ? '~' : '') + c.text;
  if (!c.best) return text;
  return color ? paint(['bold', 'green'], text + MARK_BEST_COLOR) : text + MARK_BEST_PLAIN;
}

/** A cli-table3 grid; widths come from the uncoloured text (ANSI codes take no columns). */
function grid(head: string[], plainHead: string[], body: string[][], plainBody: string[][], opts: TableOptions): string {
  const natural = plainHead.map((h, i) => Math.max(h.length, ...plainBody.map((r) => r[i]!.length)) + 2);
  const minimum = plainHead.map((h, i) => Math.max(longestWord(h), ...plainBody.map((r) => longestWord(r[i]!))));
  const colWidths = fitColumns(natural, opts.width, minimum);
  const table = new Table({
    head,
    colAligns: head.map((_, i) => (i === 0 ? 'left' : 'right')),
    // cli-table3 colours headers and borders itself; styling stays here.
    style: { head: [], border: [], compact: true },
    ...(colWidths === undefined ? {} : { colWidths, wordWrap: true }),
  });
  for (const r of body) table.push(r);
  return table.toString();
}

function matrixTable(s: ScenarioReport, opts: TableOptions): string {
  const paint = painter(opts.color);
  const rows = matrixView(s);
  const plainHead = ['metric', ...s.designs.map((d) => d.label)];
  const body = rows.map((r) => [r.label, ...r.cells.map((c) => cellText(c, paint, opts.color))]);
  const plain = rows.map((r) => [r.label, ...r.cells.map((c) => cellText(c, paint, false))]);
  return grid(
    plainHead.map((h) => paint('bold', h)),
    plainHead,
    body,
    plain,
    opts,
  );
}

function legend(s: ScenarioReport, opts: TableOptions): string[] {
  const best = opts.color ? '✓' : '*';
  const lines = [`${best} best; ${LEGEND_BETTER}; ${LEGEND_RANGE}`];
  if (matrixView(s).some((r) => r.cells.some((c) => c.low))) lines.push(`~ ${LEGEND_LOW}`);
  return lines.map((l) => wrap(l, opts.width));
}

function findings(s: ScenarioReport, opts: TableOptions): string[] {
  const paint = painter(opts.color);
  const out: string[] = [];
  const views = findingViews(s);
  if (views.length > 0) out.push('Oracle findings:');
  for (const f of views)
    out.push(f.expected ? wrap(f.text, opts.width, '  ') : paint(['bold', 'red'], wrap(`✗ ${f.text}`, opts.width, '  ')));
  if (s.expectations.length > 0) out.push(expectationSummary(s).replace(/^e/, 'E'));
  for (const e of failedExpectations(s)) out.push(paint(['bold', 'red'], wrap(`✗ failed: ${e}`, opts.width, '  ')));
  return out;
}

function sweepTables(s: ScenarioReport, opts: TableOptions): string[] {
  const paint = painter(opts.color);
  const views = sweepViews(s);
  if (views.length === 0) return [];
  const sw = s.sweep!;
  const out = [wrap(`${sweepCaption(s)} (◀)`, opts.width)];
  for (const v of views) {
    const plainHead = [sw.label, ...s.designs.map((d) => d.label)];
    const label = (r: (typeof v.rows)[number]) => (r.headline ? `${r.xText} ◀` : r.xText);
    const body = v.rows.map((r) => [label(r), ...r.cells.map((c) => cellText(c, paint, opts.color))]);
    const plain = v.rows.map((r) => [label(r), ...r.cells.map((c) => cellText(c, paint, false))]);
    out.push(`${metricLabel(v.metric)}:`, grid(plainHead.map((h) => paint('bold', h)), plainHead, body, plain, opts));
  }
  return out;
}

function scenario(r: Report, s: ScenarioReport, opts: TableOptions): string {
  const paint = painter(opts.color);
  const title = `${s.title} (${s.name})`;
  return [
    paint('bold', title),
    '═'.repeat(Math.min(title.length, opts.width ?? Infinity)),
    wrap(`Question: ${s.question}`, opts.width),
    paint('bold', wrap(`Verdict: ${s.verdict}`, opts.width)),
    '',
    matrixTable(s, opts),
    ...legend(s, opts),
    '',
    ...findings(s, opts),
    ...(s.findings.length + s.expectations.length > 0 ? [''] : []),
    ...sweepTables(s, opts),
    ...(s.sweep === undefined ? [] : ['']),
    paint('dim', wrap(footerText(r, s), opts.width)),
  ].join('\n');
}

/** The whole report for a terminal; ends with a newline. */
export function renderTable(report: Report, opts: TableOptions): string {
  return report.scenarios.map((s) => scenario(report, s, opts)).join('\n\n') + '\n';
}
