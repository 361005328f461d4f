/**
 * Bounded exhaustive exploration, as TLC explores a specification: every
 * sequence of a world's operations up to a depth, breadth first, each
 * reached state checked once (states are hashed by a fingerprint of what the
 * kernel shows), `kernel.check()` and the world's own checks after every
 * operation. Breadth first, the first failure found has the shortest
 * sequence that reaches it.
 *
 * The model's kernels cannot be copied, so a state is rebuilt by replaying
 * its sequence on a fresh kernel: cost grows with states x operations x
 * depth, which tiny configurations keep small.
 */
import { SignalError, SyscallError } from '../uapi/errors.js';
import type { Kernel } from '../kernel.js';

/** One operation a world can apply to its state. */
export interface ExploreOp<S> {
  readonly name: string;
  /** Is it possible in this state (default: always)? A disabled op is not a transition. */
  readonly enabled?: (s: S) => boolean;
  /** Apply it. A SyscallError or SignalError is the kernel's answer, not a failure. */
  readonly apply: (s: S) => void;
}

/** A tiny configuration and its operations. */
export interface ExploreWorld<S> {
  readonly name: string;
  readonly description: string;
  readonly ops: readonly ExploreOp<S>[];
  /** A fresh kernel, set up. */
  init(): S;
  kernel(s: S): Kernel;
  /** What identifies the state: equal fingerprints are one state. */
  fingerprint(s: S): string;
  /** Checks beyond kernel.check() (user-visible rules): broken rules by name. */
  check?(s: S): string[];
  /** Oracle findings that are known flaws of the configured design: reported by name, not failures. */
  readonly knownFindings?: readonly string[];
}

export interface ExploreLevel {
  readonly depth: number;
  /** New distinct states first reached at this depth. */
  readonly states: number;
  /** Operations applied from the states of the previous depth. */
  readonly transitions: number;
}

export interface CounterExample {
  /** The shortest sequence of operations that fails. */
  readonly ops: readonly string[];
  /** What failed: oracle rule names, world rules, or an exception that is not the kernel's answer. */
  readonly failures: readonly string[];
}

export interface ExploreResult {
  readonly world: string;
  readonly depth: number;
  readonly levels: readonly ExploreLevel[];
  /** Distinct states, the initial one included. */
  readonly states: number;
  readonly transitions: number;
  readonly ms: number;
  readonly counterExample: CounterExample | null;
  /** Known findings (knownFindings) reached, each with the shortest sequence reaching it. */
  readonly findings: readonly { readonly name: string; readonly ops: readonly string[] }[];
}

export interface ExploreOptions {
  /** Called after each depth is done. */
  readonly onLevel?: (l: ExploreLevel) => void;
  /** Stop after this many distinct states (default: no limit). */
  readonly maxStates?: number;
}

/** Replay ops on a fresh state; returns the state and what went wrong on the last op. */
function replay<S>(world: ExploreWorld<S>, ops: readonly number[]): { s: S; error: string | null } {
  const s = world.init();
  let error: string | null = null;
  for (let i = 0; i < ops.length; i++) {
    try {
      world.ops[ops[i]!]!.apply(s);
    } catch (e) {
      if (e instanceof SyscallError || e instanceof SignalError) continue;
      // Replayed prefixes passed before: only the newest op can fail here.
      error = `${e instanceof Error ? e.name : 'thrown'}: ${e instanceof Error ? e.message : String(e)}`;
    }
  }
  return { s, error };
}

/** Explore every sequence of world's operations up to depth. */
export function explore<S>(world: ExploreWorld<S>, depth: number, opts: ExploreOptions = {}): ExploreResult {
  const t0 = performance.now();
  const known = new Set(world.knownFindings ?? []);
  const seen = new Set<string>();
  const findings = new Map<string, readonly string[]>();
  const names = (seq: readonly number[]) => seq.map((i) => world.ops[i]!.name);
  const levels: ExploreLevel[] = [];
  let transitions = 0;
  const first = world.init();
  seen.add(world.fingerprint(first));
  let frontier: number[][] = [[]];
  let counterExample: CounterExample | null = null;
  for (let d = 1; d <= depth && counterExample === null && frontier.length > 0; d++) {
    const next: number[][] = [];
    let trans = 0;
    outer: for (const seq of frontier) {
      // Which ops are enabled here: evaluated on the replayed state itself.
      const here = replay(world, seq).s;
      const enabled = world.ops.map((op) => op.enabled?.(here) ?? true);
      for (let o = 0; o < world.ops.length; o++) {
        if (!enabled[o]) continue;
        const seq2 = [...seq, o];
        const { s, error } = replay(world, seq2);
        trans++;
        const failures: string[] = [];
        if (error !== null) failures.push(error);
        for (const v of world.kernel(s).check()) {
          if (known.has(v.name)) {
            if (!findings.has(v.name)) findings.set(v.name, names(seq2));
          } else if (!failures.includes(v.name)) failures.push(v.name);
        }
        failures.push(...(world.check?.(s) ?? []));
        if (failures.length > 0) {
          counterExample = { ops: names(seq2), failures };
          break outer;
        }
        const fp = world.fingerprint(s);
        if (seen.has(fp)) continue;
        seen.add(fp);
        next.push(seq2);
        if (opts.maxStates !== undefined && seen.size >= opts.maxStates) break outer;
      }
    }
    transitions += trans;
    const level = { depth: d, states: next.length, transitions: trans };
    levels.push(level);
    opts.onLevel?.(level);
    frontier = next;
    if (opts.maxStates !== undefined && seen.size >= opts.maxStates) break;
  }
  return {
    world: world.name,
    depth,
    levels,
    states: seen.size,
    transitions,
    ms: performance.now() - t0,
    counterExample,
    findings: [...findings].map(([name, ops]) => ({ name, ops })),
  };
}
