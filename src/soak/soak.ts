/**
 * The soak (`foliosim soak`): a long random mix of valid and invalid
 * operations on one kernel, as a user's sweep would throw at it, with
 * `kernel.check()` every `checkEvery` operations and a shadow of what every
 * private anonymous page must read. An operation may fail only with the
 * kernel's answer (SyscallError, SignalError); anything else, a read that
 * differs from the shadow, or an oracle finding that is not a known flaw of
 * the configured design ends the stream with the seed, the operation's index
 * and the last operations before it. The same seed replays the same stream;
 * src/soak/shrink.ts shrinks a failing one.
 *
 * Covered (src/soak/ops.ts): anonymous private and shared memory, memfds
 * (shmem) through mappings and read/write/fallocate/ftruncate, THP and every
 * mTHP size (their controls flipped at random), HugeTLB 2 MiB pages, fork and
 * exit, GUP pins through gup_test (long-term and not, R/O and R/W), madvise,
 * mprotect, munmap and mremap, userfaultfd (MISSING, with a monitor thread),
 * io_uring fixed buffers, VFIO DMA, a KVM vCPU on a SW_PROTECTED VM with a
 * guest_memfd slot and shared/private conversions, and junk arguments.
 */
import { Kernel, type KernelOptions } from '../kernel.js';
import { Rng } from '../sim/rng.js';
import { SignalError, SyscallError } from '../uapi/errors.js';
import { OP_NAMES, type SoakOp, type SoakState, SoakCheckFailure, applyOp, genOp, newState } from './ops.js';

export interface SoakOptions {
  readonly ops: number;
  readonly seed: number;
  readonly kernel?: KernelOptions;
  readonly checkEvery?: number;
  /** Oracle findings that are known flaws of the configured design (not failures). */
  readonly knownFindings?: readonly string[];
  readonly onProgress?: (done: number) => void;
  /** How many operations a failure report lists (default 20). */
  readonly keepRecent?: number;
  /** From this operation on, the oracle runs after every operation (finding the one that broke a rule). */
  readonly checkFrom?: number;
}

export interface SoakFailure {
  readonly op: number;
  readonly what: string;
  /** The operations before it, oldest first. */
  readonly recent: readonly string[];
}

export interface SoakResult {
  readonly seed: number;
  readonly ops: number;
  readonly ms: number;
  /** Outcomes: returned, the kernel's errno, a signal. */
  readonly returned: number;
  readonly errno: number;
  readonly signal: number;
  readonly checks: number;
  readonly findings: Readonly<Record<string, number>>;
  /** Per operation: [returned, errno, signal] (operations skipped for want of state count as returned). */
  readonly byOp: Readonly<Record<string, readonly [number, number, number]>>;
  readonly failure: SoakFailure | null;
}

/** The kernel a soak stream runs on: small, with a HugeTLB pool and THP on. */
export function soakKernel(kernel: KernelOptions | undefined): Kernel {
  return new Kernel({ memory: '256MiB', hugetlb: { '2MiB': 16 }, thp: 'always', ...kernel });
}

/** What ended a stream, classified for shrinking: a shrunk stream must end the same way. */
export function failureClass(what: string): string {
  const m = /^kernel\.check\(\): ([\w-]+)/.exec(what);
  if (m !== null) return `oracle ${m[1]!}`;
  if (what.startsWith('read ') || what.startsWith('guest read ')) return 'shadow';
  return `exception ${/^(\w+)/.exec(what)?.[1] ?? what}`;
}

/** Run one stream of random operations. */
export function soak(opts: SoakOptions): SoakResult {
  const t0 = performance.now();
  const rng = Rng.seeded(opts.seed);
  const gen = (st: SoakState): SoakOp => genOp(rng, st);
  const r = runOps(opts, gen, opts.ops);
  return { ...r, seed: opts.seed, ms: performance.now() - t0 };
}

/**
 * The operations of a stream up to and including operation `upTo`: the same
 * seed draws the same operations from the same states, so a failing stream's
 * operations are drawn again rather than kept for every stream.
 */
export function streamOps(opts: SoakOptions, upTo: number): SoakOp[] {
  const rng = Rng.seeded(opts.seed);
  const ops: SoakOp[] = [];
  runOps({ ...opts, checkEvery: opts.checkEvery ?? 1000 }, (st) => {
    const o = genOp(rng, st);
    ops.push(o);
    return o;
  }, upTo + 1);
  return ops;
}

/** Run a given list of operations (a shrunk or replayed stream) with the oracle after every `checkEvery`. */
export function replayOps(opts: Omit<SoakOptions, 'ops' | 'seed'>, ops: readonly SoakOp[]): SoakResult {
  const t0 = performance.now();
  let i = 0;
  const r = runOps({ ...opts, ops: ops.length, seed: 0 }, () => ops[i++]!, ops.length);
  return { ...r, seed: 0, ms: performance.now() - t0 };
}

function runOps(opts: SoakOptions, next: (st: SoakState) => SoakOp, n: number): Omit<SoakResult, 'seed' | 'ms'> {
  const checkEvery = opts.checkEvery ?? 1000;
  const known = new Set(opts.knownFindings ?? []);
  const st = newState(soakKernel(opts.kernel));
  const findings: Record<string, number> = {};
  const recent: string[] = [];
  let returned = 0;
  let errno = 0;
  let signal = 0;
  let checks = 0;
  const check = (): void => {
    checks++;
    for (const v of st.k.check()) {
      if (known.has(v.name)) findings[v.name] = (findings[v.name] ?? 0) + 1;
      else throw new SoakCheckFailure(`kernel.check(): ${v.name}: ${v.message}`);
    }
  };
  const per = new Uint32Array(OP_NAMES.length * 3);
  let failure: SoakFailure | null = null;
  let i = 0;
  // A third of the operations end in SyscallError or SignalError, and capturing their stacks was a
  // tenth of the soak's time; a failure is reported by its message (foliosim run on the replay gives the stack).
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    for (; i < n; i++) {
      let did: string;
      let at = 0;
      try {
        const o = next(st);
        at = OP_NAMES.indexOf(o.op) * 3;
        did = applyOp(st, o);
        returned++;
        per[at]++;
      } catch (e) {
        if (e instanceof SyscallError) {
          per[at + 1]++;
          errno++;
          did = `${st.desc}: ${e.code}`;
        } else if (e instanceof SignalError) {
          per[at + 2]++;
          signal++;
          did = `${st.desc}: ${e.signal}`;
        } else {
          failure = { op: i, what: e instanceof SoakCheckFailure ? e.message : `${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, recent: [...recent, `${i}: ${st.desc}`] };
          break;
        }
      }
      recent.push(`${i}: ${did}`);
      if (recent.length > (opts.keepRecent ?? 20)) recent.shift();
      if ((i + 1) % checkEvery === 0 || (opts.checkFrom !== undefined && i >= opts.checkFrom)) {
        try {
          check();
        } catch (e) {
          failure = { op: i, what: e instanceof Error ? e.message : String(e), recent: [...recent] };
          break;
        }
        opts.onProgress?.(i + 1);
      }
    }
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
  if (failure === null) {
    try {
      check();
    } catch (e) {
      failure = { op: i, what: e instanceof Error ? e.message : String(e), recent: [...recent] };
    }
  }
  const byOp: Record<string, [number, number, number]> = {};
  OP_NAMES.forEach((name, j) => {
    if (per[j * 3]! + per[j * 3 + 1]! + per[j * 3 + 2]! > 0) byOp[name] = [per[j * 3]!, per[j * 3 + 1]!, per[j * 3 + 2]!];
  });
  return { ops: failure === null ? n : failure.op + 1, returned, errno, signal, checks, findings, byOp, failure };
}
