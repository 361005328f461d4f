/**
 * A worker thread of the run pool (src/sim/runner.ts): loads each scenario it
 * is sent once, then runs jobs and returns plain results.
 */
import { type ParamOverride, type Scenario, loadScenario } from './scenario/load.js';
import { type RunResult, runResult } from './run.js';

export interface WorkerTask {
  readonly text: string;
  readonly file: string;
  readonly overrides: readonly ParamOverride[];
  readonly repeats?: number;
  readonly config: number;
  readonly seed: number;
}

const cache = new Map<string, Scenario>();

export default function work(t: WorkerTask): RunResult {
  const key = `${t.file}\0${JSON.stringify(t.overrides)}\0${t.repeats}\0${t.text}`;
  let s = cache.get(key);
  if (s === undefined) cache.set(key, (s = loadScenario(t.text, t.file, t.overrides, { ...(t.repeats !== undefined ? { repeats: t.repeats } : {}) })));
  return runResult(s.configs[t.config]!, t.seed);
}
