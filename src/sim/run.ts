/**
 * One run: a scenario's configuration (a design at a sweep value) with one
 * seed. Boots the kernel, builds the setup, runs the actors on the simulated
 * clock for the workload's duration, then measures every metric, asks the
 * oracle, and returns plain data (so runs can cross worker threads).
 */
import { CostModel } from '../cost/model.js';
import { EVENT_NAMES, countersRecord } from '../cost/counters.js';
import type { CostSummary, FolioMap, TimelineEvent } from '../report/model.js';

/** One metric over simulated time: [ns, value] at each change. */
export interface SeriesData {
  readonly metric: string;
  readonly points: readonly (readonly [number, number])[];
}
import { actorKind } from './actors/index.js';
import { type ActorRun, type EngineResult, type EngineTracer, runActors } from './engine.js';
import { METRICS, type RunOutcome } from './metrics.js';
import { Rng } from './rng.js';
import type { RunConfig } from './scenario/load.js';
import { type World, buildWorld } from './world.js';

export interface RunResult {
  readonly design: string;
  readonly x: number | null;
  readonly seed: number;
  /** Every registered metric's value (src/sim/metrics.ts), by id. */
  readonly values: Readonly<Record<string, number>>;
  /** Distinct invariants kernel.check() found broken at the end. */
  readonly violations: readonly string[];
  /** Share of the estimated kernel time resting on low-confidence unit costs. */
  readonly lowConfidenceShare: number;
  readonly costs: CostSummary;
  readonly timeline: readonly TimelineEvent[];
  /** Metrics recorded over simulated time (World.point), held to the end of the run. */
  readonly series?: readonly SeriesData[];
  readonly folioMap: FolioMap | null;
  /** Operations the kernel refused, per "actor:op". */
  readonly failures: Readonly<Record<string, number>>;
  /** The simulated time the run ended at, ns. */
  readonly endNs: number;
}

export interface RunOptions {
  /** Called with the world before the workload starts (tracing hooks in here). */
  readonly onWorld?: (w: World) => void;
  /** Trace the workload (src/sim/trace.ts). */
  readonly tracer?: (w: World) => EngineTracer;
}

export interface RunWithWorld extends RunResult {
  readonly world: World;
}

/** The kernel refuses the design's configuration (e.g. a mapcount design that cannot live with HVO): there is no run to inspect. */
export class DesignRefusedError extends Error {
  constructor(
    readonly design: string,
    readonly reason: string,
  ) {
    super(`design ${design}: the kernel refuses it: ${reason}`);
    this.name = 'DesignRefusedError';
  }
}

export function runOne(cfg: RunConfig, seed: number, opts: RunOptions = {}): RunWithWorld {
  if (cfg.refused !== undefined) throw new DesignRefusedError(cfg.design.id, cfg.refused);
  const spec = cfg.spec;
  const world = buildWorld(cfg.kernel, spec.setup, cfg.design.id);
  opts.onWorld?.(world);
  const model = new CostModel(spec.costs ?? {});
  const cpus = world.k.host.cfg.cpus;
  const root = Rng.seeded(seed);
  const actors: ActorRun[] = [];
  const counts = new Map<string, number>();
  const endNs = spec.workload.duration;
  spec.workload.actors.forEach((a) => {
    const kind = actorKind(a.kind);
    const threads = (a.threads as number | undefined) ?? 1;
    const base = (a.name as string | undefined) ?? a.kind;
    const n = (counts.get(base) ?? 0) + 1;
    counts.set(base, n);
    for (let t = 0; t < threads; t++) {
      const name = threads > 1 ? `${base}.${t}` : n > 1 ? `${base}${n}` : base;
      const i = actors.length;
      const ctx = { world, name, rng: root.stream(i), cpu: i % cpus, endNs };
      actors.push({ name, kind: a.kind, cpu: ctx.cpu, start: (a.start as number | undefined) ?? 0, program: kind.program(ctx, a, t) });
    }
  });
  const ev = world.k.host.ev;
  const start = ev.slice();
  // The oracle, now and then during the run (transient breakage, such as a pinned page mapped shared while a child lives) and at the end.
  const found = new Set<string>();
  const every = spec.workload.checkEvery;
  const probe = every === undefined ? undefined : { every, fn: () => world.k.check().forEach((v) => found.add(v.name)) };
  const engine: EngineResult = runActors(world.k, model, actors, endNs, cfg.design.id, { probe, ...(opts.tracer !== undefined ? { tracer: opts.tracer(world) } : {}) });
  const delta = new Float64Array(ev.length);
  for (let i = 0; i < ev.length; i++) delta[i] = ev[i]! - start[i]!;
  const est = model.estimate(delta);
  const outcome: RunOutcome = {
    world,
    engine,
    pins: world.k.pinAccounting(),
    dma: world.k.dmaStats(),
    events: countersRecord(delta),
    kernelNs: est.totalNs,
    meminfo: world.k.meminfo() as unknown as Record<string, number>,
  };
  const values: Record<string, number> = {};
  for (const m of METRICS) values[m.id] = m.compute(outcome);
  for (const v of world.k.check()) found.add(v.name);
  const violations = [...found].sort();
  const r: RunWithWorld = {
    design: cfg.design.id,
    x: cfg.x,
    seed,
    values,
    violations,
    lowConfidenceShare: est.lowConfidenceShare,
    costs: { design: cfg.design.id, totalNs: est.totalNs, lowConfidenceShare: est.lowConfidenceShare, lines: est.lines.map((l) => ({ ...l })) },
    timeline: engine.timeline,
    ...(world.series.size > 0
      ? { series: [...world.series].map(([metric, pts]) => ({ metric, points: downsample([...pts, [endNs, pts[pts.length - 1]![1]]], endNs) })) }
      : {}),
    folioMap: world.folioMap,
    failures: Object.fromEntries(engine.failures),
    endNs: engine.endNs,
    world,
  };
  return r;
}

/** Most points a series keeps (reports draw them as a step line). */
const SERIES_POINTS = 400;

/** At most SERIES_POINTS points: the value each time bucket ends with (a step line stays a step line), plus the first and last. */
function downsample(pts: readonly (readonly [number, number])[], endNs: number): [number, number][] {
  if (pts.length <= SERIES_POINTS) return pts.map(([t, v]) => [t, v]);
  const width = Math.max(1, endNs) / (SERIES_POINTS - 2);
  const out: [number, number][] = [[pts[0]![0], pts[0]![1]]];
  for (let i = 1; i < pts.length - 1; i++) {
    const [t, v] = pts[i]!;
    const bucket = Math.floor(t / width);
    const last = out[out.length - 1]!;
    if (out.length > 1 && Math.floor(last[0] / width) === bucket) out[out.length - 1] = [t, v];
    else out.push([t, v]);
  }
  out.push([pts[pts.length - 1]![0], pts[pts.length - 1]![1]]);
  return out;
}

/**
 * A run's plain result, or for a design the kernel refuses, a result that
 * says so: `refused` 1, every other metric 0, nothing found, and the reason on
 * the timeline (so the report shows a refusal, not a crash).
 */
export function runResult(cfg: RunConfig, seed: number): RunResult {
  if (cfg.refused === undefined) return plain(runOne(cfg, seed));
  const values: Record<string, number> = {};
  for (const m of METRICS) values[m.id] = m.id === 'refused' ? 1 : 0;
  return {
    design: cfg.design.id,
    x: cfg.x,
    seed,
    values,
    violations: [],
    lowConfidenceShare: 0,
    costs: { design: cfg.design.id, totalNs: 0, lowConfidenceShare: 0, lines: [] },
    timeline: [{ design: cfg.design.id, actor: 'kernel', kind: 'refused', start: 0, end: 0, detail: cfg.refused }],
    folioMap: null,
    failures: {},
    endNs: 0,
  };
}

/** The serializable part of a run (what crosses a worker thread or a shard file). */
export function plain(r: RunWithWorld): RunResult {
  const { world: _w, ...rest } = r;
  return rest;
}

export { EVENT_NAMES };
