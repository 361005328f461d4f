/**
 * Running scenarios' jobs: in this thread, or on a pool of worker threads
 * (tinypool) with --jobs N, optionally only one shard of them (--shard i/N,
 * merged later by `foliosim merge`). Results are put back in job order, so the
 * report does not depend on which worker finished first.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';
import Tinypool from 'tinypool';
import { type Job, jobsOf } from './jobs.js';
import { type RunResult, runResult } from './run.js';
import type { ParamOverride, Scenario } from './scenario/load.js';
import type { WorkerTask } from './worker.js';

export interface LoadedScenario {
  readonly scenario: Scenario;
  /** The file's text (workers and shard files carry it, so they need no file system). */
  readonly text: string;
  readonly overrides: readonly ParamOverride[];
  /** --repeats, if given. */
  readonly repeats?: number;
}

export interface Shard {
  /** 0-based. */
  readonly index: number;
  readonly count: number;
}

export interface RunPlanOptions {
  readonly seed?: number;
  /** Worker threads; 1 runs everything in this thread. */
  readonly jobs?: number;
  readonly shard?: Shard;
  readonly onProgress?: (done: number, total: number) => void;
  /** Results already known (a resumed sweep), by position in the jobs: not run again. */
  readonly done?: ReadonlyMap<number, RunResult>;
  /** Called with each job's result as it finishes (a sweep directory persists it). */
  readonly onResult?: (i: number, result: RunResult) => void;
}

/** One job of one scenario, numbered across all scenarios (for sharding). */
export interface PlannedJob extends Job {
  readonly scenario: number;
  readonly index: number;
}

/** Every job of every scenario, in order; a shard keeps every count-th one starting at index. */
export function plan(list: readonly LoadedScenario[], seed?: number, shard?: Shard): PlannedJob[] {
  const all = list.flatMap((l, scenario) => jobsOf(l.scenario, seed).map((j) => ({ ...j, scenario })));
  const numbered = all.map((j, index) => ({ ...j, index }));
  return shard === undefined ? numbered : numbered.filter((j) => j.index % shard.count === shard.index);
}

/** Plans shorter than this many runs finish sooner in one thread than on cold workers (docs/PERFORMANCE.md). */
export const PARALLEL_MIN_RUNS = 200;

/** The default --jobs: one thread for a short plan, every core this process may use for a long one. */
export function defaultJobs(runs: number): number {
  return runs < PARALLEL_MIN_RUNS ? 1 : Math.max(1, availableParallelism());
}

/**
 * Run the planned jobs; results come back in plan order.
 *
 * With jobs = 1 everything runs in this thread. With jobs = N > 1, this
 * thread and N - 1 worker threads (tinypool) take jobs from one queue in plan
 * order. This thread is already warm; a worker thread starts cold (its first
 * second or so goes to loading and to V8's optimizing compiler), so it simply
 * takes fewer jobs while it warms up, and a short plan is never slower than
 * in one thread by more than the worker's start. `defaultJobs` still keeps
 * short plans in one thread (docs/PERFORMANCE.md).
 */
export async function runPlan(list: readonly LoadedScenario[], jobs: readonly PlannedJob[], opts: RunPlanOptions = {}): Promise<RunResult[]> {
  const out: RunResult[] = new Array(jobs.length);
  // The queue: positions still to run, in plan order.
  const todo: number[] = [];
  for (let i = 0; i < jobs.length; i++) {
    const r = opts.done?.get(i);
    if (r === undefined) todo.push(i);
    else out[i] = r;
  }
  const n = Math.max(1, Math.min(opts.jobs ?? 1, todo.length));
  let done = jobs.length - todo.length;
  let next = 0;
  const finish = (i: number, r: RunResult): void => {
    out[i] = r;
    opts.onResult?.(i, r);
    opts.onProgress?.(++done, jobs.length);
  };
  if (done > 0) opts.onProgress?.(done, jobs.length);
  const workerFile = fileURLToPath(new URL('./worker.js', import.meta.url));
  // Workers cannot load TypeScript sources: from src/ everything runs here.
  const workers = existsSync(workerFile) ? n - 1 : 0;
  const runHere = async (): Promise<void> => {
    while (next < todo.length) {
      const i = todo[next++]!;
      const j = jobs[i]!;
      finish(i, runResult(list[j.scenario]!.scenario.configs[j.config]!, j.seed));
      // Let workers' results, their next jobs and a progress bar through between runs.
      if (workers > 0 || opts.onProgress !== undefined) await new Promise((r) => setImmediate(r));
    }
  };
  if (workers === 0) {
    await runHere();
    return out;
  }
  const pool = new Tinypool({ filename: workerFile, minThreads: workers, maxThreads: workers, isolateWorkers: false });
  const runThere = async (): Promise<void> => {
    while (next < todo.length) {
      const i = todo[next++]!;
      const j = jobs[i]!;
      const l = list[j.scenario]!;
      const task: WorkerTask = { text: l.text, file: l.scenario.file, overrides: l.overrides, ...(l.repeats !== undefined ? { repeats: l.repeats } : {}), config: j.config, seed: j.seed };
      finish(i, (await pool.run(task)) as RunResult);
    }
  };
  try {
    await Promise.all([runHere(), ...Array.from({ length: workers }, runThere)]);
  } finally {
    await pool.destroy();
  }
  return out;
}
