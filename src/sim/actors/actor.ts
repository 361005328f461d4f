/**
 * An actor kind: a thread of activity in a scenario (a vCPU writing guest
 * memory, an I/O thread holding short-term pins, a device holding long-term
 * pins, a helper that forks). Each kind is a schema for its options and a
 * program for the engine (src/sim/engine.ts); kinds are registered by name in
 * src/sim/actors/index.ts, and an unknown kind is an error listing the valid
 * ones.
 */
import type { z } from 'zod';
import type { Program } from '../engine.js';
import type { Rng } from '../rng.js';
import type { World } from '../world.js';

export interface ActorContext {
  readonly world: World;
  /** Unique name of this actor thread ('io.1'). */
  readonly name: string;
  readonly rng: Rng;
  /** The CPU it runs on (its process's mm_cpumask gets it). */
  readonly cpu: number;
  /** Simulated end of the run, ns. */
  readonly endNs: number;
}

/** Fields every actor has. */
export interface ActorCommon {
  kind: string;
  /** Name in reports (default: the kind, numbered). */
  name?: string | undefined;
  /** The process it acts for. */
  process: string;
  /** Threads of this actor (each its own CPU and random stream). */
  threads?: number | undefined;
  /** When it starts, ns (default 0). */
  start?: number | undefined;
}

export interface ActorKind<S extends ActorCommon = ActorCommon> {
  readonly kind: string;
  /** One line for `foliosim explain`. */
  readonly description: string;
  readonly schema: z.ZodType<S, unknown>;
  /** Regions the spec names (checked against the setup). */
  regions(spec: S): string[];
  program(ctx: ActorContext, spec: S, thread: number): Program;
}

/** The next interval of an arrival process: fixed spacing or Poisson arrivals with that mean. */
export function interval(ctx: ActorContext, every: number, arrival: 'fixed' | 'poisson' | undefined): number {
  return arrival === 'fixed' ? every : ctx.rng.exp(every);
}
