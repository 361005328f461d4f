/** `foliosim compare`, `run` and `merge`: run scenarios (or merge shards) and render the report. */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { sep } from 'node:path';
import { type Report, reportOk } from '../report/model.js';
import { renderHtml } from '../report/html.js';
import { renderJson } from '../report/json.js';
import { renderMarkdown } from '../report/markdown.js';
import { renderTable } from '../report/table.js';
import { defaultJobs, type LoadedScenario, type Shard, plan } from '../sim/runner.js';
import { type SweepDir, compareScenarios, loadBuiltins, loadNamed, mergeShards, runShard } from '../report/compare.js';
import { encodeExact, writeFileAtomic } from '../report/case_store.js';
import { UsageError } from './errors.js';
import type { ParamOverride } from '../sim/scenario/load.js';
import { costTable } from './costs.js';
import { type Progress, progress } from './progress.js';
import { colorEnabled, terminalWidth } from './tty.js';

type Format = 'table' | 'markdown' | 'json' | 'html';

export interface ReportOpts {
  format: Format;
  out?: string;
  seed?: number;
  set?: ParamOverride[];
  repeats?: number;
  jobs?: number;
  quiet?: boolean;
  color: boolean;
}

export interface CompareOpts extends ReportOpts {
  shard?: Shard;
  /** With --out DIR: keep the runs already in DIR and run only the rest. */
  resume?: boolean;
}

/** The report file's name in a sweep directory, by format. */
const REPORT_FILE: Record<Format, string> = { table: 'report.txt', markdown: 'report.md', json: 'report.json', html: 'report.html' };

/** Is --out a sweep directory (an existing directory, or a path ending in a separator)? */
export function isSweepDir(out: string | undefined): out is string {
  if (out === undefined) return false;
  if (out.endsWith(sep) || out.endsWith('/')) return true;
  return existsSync(out) && statSync(out).isDirectory();
}

export function render(report: Report, format: Format, opts: { color: boolean; toFile: boolean }): string {
  switch (format) {
    case 'json':
      return renderJson(report);
    case 'markdown':
      return renderMarkdown(report);
    case 'html':
      return renderHtml(report);
    case 'table':
      return renderTable(report, { color: opts.color && !opts.toFile && colorEnabled(process.stdout), width: opts.toFile ? undefined : terminalWidth() });
  }
}

export function emit(text: string, out: string | undefined): void {
  if (out === undefined) process.stdout.write(text);
  else writeFileSync(out, text);
}

async function runAndReport(list: LoadedScenario[], opts: CompareOpts, extra?: (r: Report) => string): Promise<void> {
  const jobs = opts.jobs ?? defaultJobs(plan(list, opts.seed, opts.shard).length);
  const dir = isSweepDir(opts.out) ? opts.out : undefined;
  if (opts.resume === true && dir === undefined) throw new UsageError('--resume needs --out DIR, the sweep directory to finish');
  const bar: Progress = progress(opts.quiet === true, list.map((l) => l.scenario.name).join(', '));
  const sweep: SweepDir | undefined =
    dir === undefined ? undefined : { dir, resume: opts.resume === true, onRejected: (why) => process.stderr.write(`foliosim: ${why}; running it again\n`) };
  // In a sweep directory the output is a file of its own, written atomically like the cases.
  const write = (name: string, text: string): void => (dir === undefined ? emit(text, opts.out) : writeFileAtomic(dir, name, text));
  try {
    if (opts.shard !== undefined) {
      const shard = await runShard(list, opts.shard, { seed: opts.seed, jobs, onProgress: bar.update, ...(sweep !== undefined ? { sweep } : {}) });
      bar.stop();
      write(`shard-${opts.shard.index + 1}-of-${opts.shard.count}.json`, encodeExact(shard) + '\n');
      return;
    }
    const report = await compareScenarios(list, { seed: opts.seed, jobs, onProgress: bar.update, ...(sweep !== undefined ? { sweep } : {}) });
    bar.stop();
    write(REPORT_FILE[opts.format], render(report, opts.format, { color: opts.color, toFile: opts.out !== undefined }) + (extra !== undefined && opts.format === 'table' ? extra(report) : ''));
    if (!reportOk(report)) process.exitCode = 1;
  } finally {
    bar.stop();
  }
}

export async function cmdCompare(names: string[], opts: CompareOpts): Promise<void> {
  const set = opts.set ?? [];
  const lo = opts.repeats !== undefined ? { repeats: opts.repeats } : {};
  const list = names.length === 0 ? loadBuiltins(set, lo) : names.map((n) => loadNamed(n, set, lo));
  await runAndReport(list, opts);
}

export async function cmdRun(name: string, opts: ReportOpts): Promise<void> {
  const list = [loadNamed(name, opts.set ?? [], opts.repeats !== undefined ? { repeats: opts.repeats } : {})];
  await runAndReport(list, opts, (r) => costTable(r, opts.color && opts.out === undefined && colorEnabled(process.stdout)));
}

export function cmdMerge(files: string[], opts: { format: Format; out?: string; color: boolean }): void {
  const report = mergeShards(files.map((f) => ({ name: f, text: readFileSync(f, 'utf8') })));
  emit(render(report, opts.format, { color: opts.color, toFile: opts.out !== undefined }), opts.out);
  if (!reportOk(report)) process.exitCode = 1;
}
