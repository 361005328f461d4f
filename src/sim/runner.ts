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
import { type RunResult, plain, runOne } from './run.js';
import type { ParamOverride, Scenario } from './scenario/load.js';
import type { WorkerTask } from './worker.js';

export interface LoadedScenario {
  readonly scenario: Scenario;
  /** The file's text (workers and shard files carry it, so they need no file system). */
  readonly text: string;
  readonly overrides: readonly ParamOverride[];
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

/** Default worker count: every core this process may use. */
export function defaultJobs(): number {
  return Math.max(1, availableParallelism());
}

/**
 * Run the planned jobs; results come back in plan order.
 *
 * With N jobs, this thread is one of the N workers and N - 1 worker threads
 * (tinypool) are the rest: this thread has its modules loaded and its code
 * already optimized, while a new worker pays both, so one fewer of them is
 * the better deal. Each worker thread keeps two runs queued so it never waits
 * for this thread, which only hands out work between its own runs.
 */
export async function runPlan(list: readonly LoadedScenario[], jobs: readonly PlannedJob[], opts: RunPlanOptions = {}): Promise<RunResult[]> {
  const n = Math.max(1, Math.min(opts.jobs ?? 1, jobs.length));
  const out: RunResult[] = new Array(jobs.length);
  let done = 0;
  const tick = () => opts.onProgress?.(++done, jobs.length);
  const workerFile = fileURLToPath(new URL('./worker.js', import.meta.url));
  // Workers cannot load TypeScript sources: from src/ everything runs here.
  const threads = existsSync(workerFile) ? n - 1 : 0;
  // This thread takes jobs from the front, the workers from the back, so each
  // isolate warms up on fewer scenarios and designs (the JIT's work is most of a
  // cold run's cost, and each isolate pays its own).
  let front = 0;
  let back = jobs.length;
  const take = () => (front < back ? front++ : -1);
  const takeBack = () => (front < back ? --back : -1);
  const here = async () => {
    for (let i = take(); i >= 0; i = take()) {
      const j = jobs[i]!;
      out[i] = plain(runOne(list[j.scenario]!.scenario.configs[j.config]!, j.seed));
      tick();
      // Let worker results and a progress bar through between runs.
      if (threads > 0 || opts.onProgress !== undefined) await new Promise((r) => setImmediate(r));
    }
  };
  if (threads === 0) {
    await here();
    return out;
  }
  const pool = new Tinypool({ filename: workerFile, minThreads: threads, maxThreads: threads, isolateWorkers: false });
  const remote = async () => {
    for (let i = takeBack(); i >= 0; i = takeBack()) {
      const j = jobs[i]!;
      const l = list[j.scenario]!;
      const task: WorkerTask = { text: l.text, file: l.scenario.file, overrides: l.overrides, config: j.config, seed: j.seed };
      out[i] = (await pool.run(task)) as RunResult;
      tick();
    }
  };
  try {
    await Promise.all([here(), ...Array.from({ length: threads * 2 }, remote)]);
  } finally {
    await pool.destroy();
  }
  return out;
}
