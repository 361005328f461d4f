/**
 * The jobs a scenario needs: every design at every sweep value, once per
 * seed, in a fixed order (configuration, then seed).
 */
import type { Scenario } from './scenario/load.js';

/** One run to do: configuration index into scenario.configs, and the seed. */
export interface Job {
  readonly config: number;
  readonly seed: number;
}

export function repeatsOf(s: Scenario): number {
  return s.spec.repeats ?? 3;
}

export function seedOf(s: Scenario, override?: number): number {
  return override ?? s.spec.seed ?? 1;
}

/** Every run the scenario needs, in a fixed order: configuration, then seed. */
export function jobsOf(s: Scenario, seed?: number): Job[] {
  const first = seedOf(s, seed);
  const out: Job[] = [];
  s.configs.forEach((_c, config) => {
    for (let i = 0; i < repeatsOf(s); i++) out.push({ config, seed: first + i });
  });
  return out;
}
