/**
 * The engine: runs actors on the simulated clock against one Kernel.
 *
 * An actor is a generator that yields steps (op(), hold(), sleep()):
 *   op     a kernel operation: it waits for mmap_lock in its mode if needed
 *          (src/sim/mmap_lock.ts), then runs on the model at once, and takes
 *          the time the cost model gives to the counters it moved (plus any
 *          fixed time it declares); the lock is held for that time.
 *   hold   the actor is busy for a while outside the kernel (a device doing
 *          I/O, a child process running), drawn on the timeline.
 *   sleep  the actor is idle until later.
 *   block  the actor waits on a WaitQueue until a condition clears (a vCPU
 *          whose access waits for the userfaultfd monitor, or for a collapse
 *          that invalidated its secondary MMU): another actor's wake() makes
 *          the engine re-check it when that actor's step ends.
 * The generator is resumed with the current time after each step.
 *
 * Determinism: events at the same time run in the order they were scheduled,
 * and each actor draws from its own random stream (src/sim/rng.ts).
 */
import type { Kernel } from '../kernel.js';
import type { Process } from '../process.js';
import type { TimelineEvent } from '../report/model.js';
import type { CostModel } from '../cost/model.js';
import { Ev } from '../cost/counters.js';
import { SignalError, SyscallError } from '../uapi/errors.js';
import { Clock } from './clock.js';
import { type LockMode, SimMmapLock } from './mmap_lock.js';
import { printkPointer } from '../mm/debug.js';

/** What a step asks of the engine. */
export const enum StepKind {
  /** A kernel operation on the model. */
  Op,
  /** Busy outside the kernel for `ns` (device I/O, a child running). */
  Hold,
  /** Idle for `ns`. */
  Sleep,
  /** Wait on a WaitQueue while a condition holds. */
  Block,
}

/**
 * Where blocked actors wait. wake() (from an operation's run, or from an
 * actor's program between steps) has the engine re-check every actor parked
 * here once the waker's current step ends, and resume those whose condition
 * cleared.
 */
export class WaitQueue {
  /** Engine use: parked actors (index, condition, when it blocked). */
  readonly parked: { actor: number; waiting: () => boolean; since: number; kind: string; detail: string; draw: boolean }[] = [];
  /** Engine use: the queues to re-check after the current step (set when an actor parks). */
  sink: WaitQueue[] | null = null;
  private queued = false;

  wake(): void {
    if (this.parked.length === 0 || this.sink === null || this.queued) return;
    this.queued = true;
    this.sink.push(this);
  }

  /** Engine use: taken off the sink. */
  unqueue(): void {
    this.queued = false;
  }
}

/**
 * One step of an actor. A single class (not object literals of several
 * shapes) so the engine's loop sees one hidden class and stays optimized; make
 * them with op(), hold() and sleep().
 */
export class Step {
  constructor(
    readonly kind: StepKind,
    /** Hold or sleep time, ns. */
    readonly ns: number,
    /** The operation's name, or what a hold is ('pin held'). */
    readonly op: string,
    /** The process whose mm the lock belongs to, and on whose behalf it runs. */
    readonly proc: Process | null,
    readonly lock: LockMode,
    /** Run on the model; the returned string is the event's detail on the timeline. */
    readonly run: (() => string | void) | null,
    /** Time beyond what the counters give (e.g. a device's transfer), ns. */
    readonly extraNs: number,
    /** A system call (counted as one `syscall` primitive). */
    readonly syscall: boolean,
    /** Draw it on the timeline even past the per-actor limit (forks, maps); waits are always drawn. */
    readonly show: boolean,
    /** A hold's detail on the timeline. */
    readonly detail: string,
    /** A block's queue and condition (null otherwise). */
    readonly queue: WaitQueue | null = null,
    readonly waiting: (() => boolean) | null = null,
  ) {}
}

export interface OpSpec {
  readonly name: string;
  readonly proc: Process;
  readonly lock: LockMode;
  readonly run: () => string | void;
  readonly show?: boolean;
  /** Default true. */
  readonly syscall?: boolean;
  readonly extraNs?: number;
}

/** A kernel operation: waits for mmap_lock in `lock` mode, runs, and takes the time its counters cost. */
export function op(o: OpSpec): Step {
  return new Step(StepKind.Op, 0, o.name, o.proc, o.lock, o.run, o.extraNs ?? 0, o.syscall ?? true, o.show ?? false, '');
}

/** Busy for ns outside the kernel, drawn on the timeline as `kind`. */
export function hold(ns: number, kind: string, detail = '', show = false): Step {
  return new Step(StepKind.Hold, ns, kind, null, 'none', null, 0, false, show, detail);
}

/** Idle for ns. */
export function sleep(ns: number): Step {
  return new Step(StepKind.Sleep, ns, '', null, 'none', null, 0, false, false, '');
}

/**
 * Wait on q while waiting() is true (checked now, and again whenever q is
 * woken); counted in the actor's blockNs, and drawn on the timeline as `kind`
 * when it lasts (unless draw is false: an idle server waiting for work).
 */
export function block(q: WaitQueue, waiting: () => boolean, kind: string, detail = '', draw = true): Step {
  return new Step(StepKind.Block, 0, kind, null, 'none', null, 0, false, draw, detail, q, waiting);
}

export type Program = Generator<Step, void, number>;

export interface ActorRun {
  readonly name: string;
  readonly kind: string;
  readonly cpu: number;
  readonly program: Program;
  /** Start time, ns. */
  readonly start: number;
}

/** What one operation kind did over the run. */
export interface OpStats {
  count: number;
  /** Total time spent in the operation (cost model), ns. */
  busyNs: number;
  /** Total time spent waiting for mmap_lock before it, ns. */
  waitNs: number;
  maxWaitNs: number;
  /** Latency (wait + run) of each operation, in order; kept for operations drawn on the timeline. */
  latencies: number[];
}

export interface EngineResult {
  /** Per "actor:op" statistics, in first-seen order. */
  readonly ops: Map<string, OpStats>;
  /** Per actor: its kind, time waiting for mmap_lock, time in kernel operations, time holding (device I/O, child alive). */
  readonly actors: Map<string, ActorTime>;
  readonly timeline: TimelineEvent[];
  /** The simulated time the last event ran at. */
  readonly endNs: number;
  /** Operations the kernel refused with an errno or a signal, per "actor:op". */
  readonly failures: Map<string, number>;
}

export interface ActorTime {
  readonly kind: string;
  waitNs: number;
  kernelNs: number;
  holdNs: number;
  /** Time blocked on a WaitQueue (block steps). */
  blockNs: number;
  /** The longest single block. */
  maxBlockNs: number;
}

/** Most timeline intervals kept per actor (forks and waits are always kept). */
const TIMELINE_PER_ACTOR = 60;

const enum EventType {
  /** Resume an actor's program. */
  Resume,
  /** Release mmap_lock of `mm` held in `mode`. */
  Release,
  /** A waiter was granted the lock: run its step. */
  Granted,
  /** Re-check the actors parked on a WaitQueue. */
  Recheck,
}

/** A clock event; one class, every field always present (one hidden class for the loop). */
class SimEvent {
  constructor(
    readonly type: EventType,
    readonly actor: number,
    readonly mm: object | null,
    readonly mode: LockMode,
    readonly step: Step | null,
    readonly since: number,
    readonly queue: WaitQueue | null = null,
  ) {}
}

/** A callback run every `every` ns of simulated time, between events (the oracle's periodic check). */
export interface Probe {
  readonly every: number;
  readonly fn: (t: number) => void;
}

/** Called at each engine event, for `foliosim trace` (src/sim/trace.ts); nothing is traced without it. */
export interface EngineTracer {
  /** The actor about to run an operation on the model (so kernel tracepoints know the task and CPU). */
  current(actor: ActorRun, t: number): void;
  event(actor: ActorRun, t: number, event: string, fields: string): void;
}

export interface EngineOptions {
  readonly probe?: Probe;
  readonly tracer?: EngineTracer;
}

export function runActors(k: Kernel, model: CostModel, actors: readonly ActorRun[], durationNs: number, design: string, opts: EngineOptions = {}): EngineResult {
  const { probe, tracer } = opts;
  const clock = new Clock<SimEvent>();
  const locks = new WeakMap<object, SimMmapLock<{ actor: number; step: Step }>>();
  const lockOf = (p: Process) => {
    const mm = p.mm ?? p;
    let l = locks.get(mm);
    if (l === undefined) locks.set(mm, (l = new SimMmapLock()));
    return l;
  };
  const ops = new Map<string, OpStats>();
  const failures = new Map<string, number>();
  const perActor = new Map<string, ActorTime>();
  const timeline: TimelineEvent[] = [];
  const shown = new Map<string, number>();
  const ev = k.host.ev;
  const before = new Float64Array(ev.length);
  const delta = new Float64Array(ev.length);
  const done: boolean[] = actors.map(() => false);
  // Queues woken during the current step: re-checked when it ends.
  const woken: WaitQueue[] = [];
  const blockedOn = new Set<WaitQueue>();
  const flushWakes = (t: number) => {
    for (const q of woken.splice(0)) {
      q.unqueue();
      clock.at(t, new SimEvent(EventType.Recheck, -1, null, 'none', null, 0, q));
    }
  };
  const recheck = (q: WaitQueue) => {
    const still: typeof q.parked = [];
    for (const w of q.parked.splice(0)) {
      if (w.waiting()) {
        still.push(w);
        continue;
      }
      const a = actors[w.actor]!;
      const pa = perActor.get(a.name)!;
      const ns = clock.now - w.since;
      pa.blockNs += ns;
      if (ns > pa.maxBlockNs) pa.maxBlockNs = ns;
      if (ns > 0 && w.draw) record(a.name, w.kind, w.since, clock.now, w.detail, false);
      clock.at(clock.now, new SimEvent(EventType.Resume, w.actor, null, 'none', null, 0));
    }
    q.parked.push(...still);
  };

  const record = (actor: string, kind: string, start: number, end: number, detail: string, always: boolean) => {
    const n = shown.get(actor) ?? 0;
    if (!always && n >= TIMELINE_PER_ACTOR) return;
    shown.set(actor, n + 1);
    timeline.push({ design, actor, kind, start, end, detail });
  };

  const stats = (key: string): OpStats => {
    let s = ops.get(key);
    if (s === undefined) ops.set(key, (s = { count: 0, busyNs: 0, waitNs: 0, maxWaitNs: 0, latencies: [] }));
    return s;
  };

  const execute = (i: number, step: Step, since: number, mode: LockMode) => {
    const a = actors[i]!;
    const now = clock.now;
    const proc = step.proc!;
    if (proc.mm !== null) proc.runOn(a.cpu);
    if (tracer !== undefined) {
      tracer.current(a, now);
      if (mode === 'read' || mode === 'write') tracer.event(a, now, 'mmap_lock_acquire_returned', `mm=${mmTag(proc)} memcg_path= write=${mode === 'write'} success=true`);
    }
    before.set(ev);
    if (step.syscall) ev[Ev.SYSCALL]++;
    let detail: string;
    try {
      detail = step.run!() ?? '';
    } catch (e) {
      // The kernel said no (an errno or a signal): the actor carries on, the failure is counted.
      if (!(e instanceof SyscallError || e instanceof SignalError)) throw e;
      detail = `failed: ${e.message}`;
      failures.set(`${a.name}:${step.op}`, (failures.get(`${a.name}:${step.op}`) ?? 0) + 1);
    }
    for (let j = 0; j < ev.length; j++) delta[j] = ev[j]! - before[j]!;
    const d = model.time(delta) + step.extraNs;
    const s = stats(`${a.name}:${step.op}`);
    const wait = now - since;
    s.count++;
    s.busyNs += d;
    s.waitNs += wait;
    if (wait > s.maxWaitNs) s.maxWaitNs = wait;
    const pa = perActor.get(a.name)!;
    pa.waitNs += wait;
    pa.kernelNs += d;
    if (step.show) s.latencies.push(wait + d);
    if (wait > 0) record(a.name, 'mmap_lock wait', since, now, `${step.op} waited ${Math.round(wait)} ns for mmap_lock`, true);
    record(a.name, step.op, now, now + d, detail, step.show);
    if (tracer !== undefined) tracer.event(a, now + d, 'foliosim_op', `op=${step.op} dur_ns=${Math.round(d)} wait_ns=${Math.round(wait)}${detail !== '' ? ` ${JSON.stringify(detail)}` : ''}`);
    if (mode !== 'none' && mode !== 'vma' && mode !== 'gup-fast') {
      if (tracer !== undefined) tracer.event(a, now + d, 'mmap_lock_released', `mm=${mmTag(proc)} memcg_path= write=${mode === 'write'}`);
      clock.at(now + d, new SimEvent(EventType.Release, -1, proc.mm ?? proc, mode, null, 0));
    }
    clock.at(now + d, new SimEvent(EventType.Resume, i, null, 'none', null, 0));
    flushWakes(now + d);
  };

  const step = (i: number) => {
    const a = actors[i]!;
    if (done[i]) return;
    const r = a.program.next(clock.now);
    flushWakes(clock.now);
    if (r.done === true) {
      done[i] = true;
      return;
    }
    const s = r.value;
    if (s.kind === StepKind.Block) {
      const q = s.queue!;
      if (!s.waiting!()) {
        clock.at(clock.now, new SimEvent(EventType.Resume, i, null, 'none', null, 0));
        return;
      }
      q.sink = woken;
      blockedOn.add(q);
      q.parked.push({ actor: i, waiting: s.waiting!, since: clock.now, kind: s.op, detail: s.detail, draw: s.show });
      return;
    }
    if (s.kind === StepKind.Sleep) {
      clock.at(clock.now + s.ns, new SimEvent(EventType.Resume, i, null, 'none', null, 0));
      return;
    }
    if (s.kind === StepKind.Hold) {
      perActor.get(a.name)!.holdNs += s.ns;
      record(a.name, s.op, clock.now, clock.now + s.ns, s.detail, s.show);
      clock.at(clock.now + s.ns, new SimEvent(EventType.Resume, i, null, 'none', null, 0));
      return;
    }
    const proc = s.proc!;
    const lock = lockOf(proc);
    if (tracer !== undefined && (s.lock === 'read' || s.lock === 'write')) tracer.event(a, clock.now, 'mmap_lock_start_locking', `mm=${mmTag(proc)} memcg_path= write=${s.lock === 'write'}`);
    if (lock.canTake(s.lock)) {
      lock.take(s.lock);
      execute(i, s, clock.now, s.lock);
    } else lock.wait({ mode: s.lock, since: clock.now, item: { actor: i, step: s } });
  };

  for (let i = 0; i < actors.length; i++) {
    perActor.set(actors[i]!.name, { kind: actors[i]!.kind, waitNs: 0, kernelNs: 0, holdNs: 0, blockNs: 0, maxBlockNs: 0 });
    clock.at(actors[i]!.start, new SimEvent(EventType.Resume, i, null, 'none', null, 0));
  }
  let end = 0;
  let nextProbe = probe !== undefined && probe.every > 0 ? probe.every : Infinity;
  for (let e = clock.next(); e !== undefined; e = clock.next()) {
    const ev0 = e.item;
    while (e.t >= nextProbe && nextProbe <= durationNs) {
      probe!.fn(nextProbe);
      nextProbe += probe!.every;
    }
    if (ev0.type === EventType.Release) {
      const lock = locks.get(ev0.mm!)!;
      lock.release(ev0.mode);
      for (const w of lock.grantable()) {
        // GUP-fast that had to wait fell back to the slow path: it holds the lock for read.
        const mode: LockMode = w.mode === 'gup-fast' ? 'read' : w.mode;
        lock.take(mode);
        clock.at(clock.now, new SimEvent(EventType.Granted, w.item.actor, null, mode, w.item.step, w.since));
      }
      continue;
    }
    if (e.t > durationNs) break;
    end = e.t;
    if (ev0.type === EventType.Recheck) {
      recheck(ev0.queue!);
      continue;
    }
    if (ev0.type === EventType.Granted) execute(ev0.actor, ev0.step!, ev0.since, ev0.mode);
    else step(ev0.actor);
  }
  // Actors still blocked at the end were blocked until then.
  for (const q of blockedOn) {
    for (const w of q.parked.splice(0)) {
      const pa = perActor.get(actors[w.actor]!.name)!;
      const ns = Math.max(0, durationNs - w.since);
      pa.blockNs += ns;
      if (ns > pa.maxBlockNs) pa.maxBlockNs = ns;
    }
    q.sink = null;
  }
  for (let i = 0; i < actors.length; i++) if (!done[i]) actors[i]!.program.return();
  return { ops, actors: perActor, timeline, endNs: end, failures };
}

/** A stable stand-in for an mm pointer in trace lines. */
function mmTag(p: Process): string {
  return printkPointer(0xffff888000000000n + BigInt(p.pid) * 0x1000n);
}
