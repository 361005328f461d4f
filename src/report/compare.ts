/**
 * compare = run + report. The front door's engine room: find scenarios (a built-in name or a file),
 * run their jobs, and build the versioned report; or run one shard of the jobs
 * and merge shard files later (docs/SWEEPS.md).
 */
import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { REPORT_FORMAT, REPORT_VERSION, type Report } from './model.js';
import { closest } from '../lib/suggest.js';
import { builtinText, builtins } from '../sim/builtin.js';
import { reportScenario } from './build.js';
import type { RunResult } from '../sim/run.js';
import { type LoadedScenario, type PlannedJob, type RunPlanOptions, type Shard, plan, runPlan } from '../sim/runner.js';
import { type LoadOptions, type ParamOverride, loadScenario } from '../sim/scenario/load.js';
import { foliosimVersion } from '../sim/version.js';
import { decodeExact, openSweep } from './case_store.js';

export class UnknownScenarioError extends Error {
  constructor(readonly input: string, readonly suggestions: readonly string[]) {
    super(`unknown scenario '${input}'${suggestions.length > 0 ? ` (did you mean '${suggestions[0]}'?)` : ''}; built-in: ${builtins().map((b) => b.name).join(', ')}, or a path to a .yaml file`);
    this.name = 'UnknownScenarioError';
  }
}

/** A built-in scenario by name, or a YAML file by path (a name wins over a file of that name only if no such file exists). */
export function loadNamed(input: string, overrides: readonly ParamOverride[] = [], opts: LoadOptions = {}): LoadedScenario {
  const b = builtins().find((x) => x.name === input);
  const loaded = (text: string, file: string): LoadedScenario => ({ scenario: loadScenario(text, file, overrides, opts), text, overrides, ...(opts.repeats !== undefined ? { repeats: opts.repeats } : {}) });
  if (b !== undefined && !existsSync(input)) return loaded(builtinText(b), `${b.name}.yaml`);
  if (!existsSync(input)) throw new UnknownScenarioError(input, closest(input, builtins().map((x) => x.name)));
  return loaded(readFileSync(input, 'utf8'), input);
}

/** Every built-in scenario. */
export function loadBuiltins(overrides: readonly ParamOverride[] = [], opts: LoadOptions = {}): LoadedScenario[] {
  return builtins().map((b) => loadNamed(b.name, overrides, opts));
}

/** A sweep directory to keep each finished run in (src/report/case_store.ts). */
export interface SweepDir {
  readonly dir: string;
  /** Keep the runs already there and run only the rest. */
  readonly resume: boolean;
  /** Told about each case file that could not be used (it is run again). */
  readonly onRejected?: (why: string) => void;
}

export interface CompareOptions extends RunPlanOptions {
  readonly sweep?: SweepDir;
}

/** Run the jobs, through a sweep directory if one is given. */
async function runJobs(list: readonly LoadedScenario[], jobs: readonly PlannedJob[], opts: CompareOptions, shard?: Shard): Promise<RunResult[]> {
  if (opts.sweep === undefined) return runPlan(list, jobs, opts);
  const store = openSweep(opts.sweep.dir, list, jobs, { resume: opts.sweep.resume, ...(opts.seed !== undefined ? { seed: opts.seed } : {}), ...(shard !== undefined ? { shard } : {}) });
  for (const why of store.rejected) opts.sweep.onRejected?.(why);
  return runPlan(list, jobs, { ...opts, done: store.done, onResult: (i, r) => store.save(i, r) });
}

/** Run every job of the scenarios and build the report. */
export async function compareScenarios(list: readonly LoadedScenario[], opts: CompareOptions = {}): Promise<Report> {
  const jobs = plan(list, opts.seed);
  const runs = await runJobs(list, jobs, opts);
  return buildReport(list, jobs, runs, opts.seed);
}

/** The report from every job's result. */
export function buildReport(list: readonly LoadedScenario[], jobs: readonly PlannedJob[], runs: readonly RunResult[], seed?: number): Report {
  return {
    format: REPORT_FORMAT,
    version: REPORT_VERSION,
    foliosim: foliosimVersion(),
    scenarios: list.map((l, i) => reportScenario(l.scenario, runs.filter((_r, k) => jobs[k]!.scenario === i), seed)),
  };
}

// ---------------------------------------------------------------------------
// Shards: one machine's part of a sweep, merged by `foliosim merge`.

export const SHARD_FORMAT = 'foliosim-shard';

const ShardFile = z.object({
  format: z.literal(SHARD_FORMAT),
  version: z.literal(1),
  foliosim: z.string(),
  shard: z.object({ index: z.number().int().nonnegative(), count: z.number().int().positive() }),
  seed: z.number().nullable(),
  scenarios: z.array(z.object({ file: z.string(), text: z.string(), hash: z.string(), overrides: z.array(z.object({ key: z.string(), value: z.string() })), repeats: z.number().int().positive().optional() })),
  /** Results, each with its job's global index. */
  runs: z.array(z.object({ index: z.number().int().nonnegative(), result: z.unknown() })),
});
export type ShardFile = z.infer<typeof ShardFile>;

export async function runShard(list: readonly LoadedScenario[], shard: Shard, opts: CompareOptions = {}): Promise<ShardFile> {
  const jobs = plan(list, opts.seed, shard);
  const runs = await runJobs(list, jobs, opts, shard);
  return {
    format: SHARD_FORMAT,
    version: 1,
    foliosim: foliosimVersion(),
    shard: { index: shard.index, count: shard.count },
    seed: opts.seed ?? null,
    scenarios: list.map((l) => ({ file: l.scenario.file, text: l.text, hash: l.scenario.hash, overrides: [...l.overrides], ...(l.repeats !== undefined ? { repeats: l.repeats } : {}) })),
    runs: jobs.map((j, i) => ({ index: j.index, result: runs[i] })),
  };
}

export class MergeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MergeError';
  }
}

/** Merge shard files (any order) into the report a single `compare` would have printed. */
export function mergeShards(texts: readonly { name: string; text: string }[]): Report {
  if (texts.length === 0) throw new MergeError('no shard files given');
  const shards = texts.map(({ name, text }) => {
    let json: unknown;
    try {
      // Shard files keep NaN, ±Infinity and -0 tagged (encodeExact); plain JSON reads the same.
      json = decodeExact(text);
    } catch (e) {
      throw new MergeError(`${name}: not JSON (${(e as Error).message})`);
    }
    const r = ShardFile.safeParse(json);
    if (!r.success) {
      const i = r.error.issues[0]!;
      throw new MergeError(`${name}: not a foliosim shard file: ${i.path.join('.') || '(top)'}: ${i.message}`);
    }
    return { name, shard: r.data };
  });
  const first = shards[0]!.shard;
  for (const { name, shard } of shards) {
    if (shard.shard.count !== first.shard.count) throw new MergeError(`${name}: shard of ${shard.shard.count}, but ${shards[0]!.name} is a shard of ${first.shard.count}`);
    if (shard.seed !== first.seed || JSON.stringify(shard.scenarios.map((s) => s.hash)) !== JSON.stringify(first.scenarios.map((s) => s.hash))) {
      throw new MergeError(`${name}: ran different scenarios, parameters or seed than ${shards[0]!.name}`);
    }
  }
  const have = new Set(shards.map((s) => s.shard.shard.index));
  const missing = [...Array(first.shard.count).keys()].filter((i) => !have.has(i));
  if (missing.length > 0) throw new MergeError(`missing shard${missing.length > 1 ? 's' : ''} ${missing.map((i) => `${i + 1}/${first.shard.count}`).join(', ')}`);
  if (have.size !== shards.length) throw new MergeError('a shard was given twice');
  const list: LoadedScenario[] = first.scenarios.map((s) => {
    const opts = s.repeats !== undefined ? { repeats: s.repeats } : {};
    return { scenario: loadScenario(s.text, s.file, s.overrides, opts), text: s.text, overrides: s.overrides, ...opts };
  });
  const seed = first.seed ?? undefined;
  const jobs = plan(list, seed);
  const byIndex = new Map<number, RunResult>();
  for (const { shard } of shards) for (const r of shard.runs) byIndex.set(r.index, r.result as RunResult);
  const runs = jobs.map((j) => {
    const r = byIndex.get(j.index);
    if (r === undefined) throw new MergeError(`job ${j.index} has no result in any shard`);
    return r;
  });
  return buildReport(list, jobs, runs, seed);
}
