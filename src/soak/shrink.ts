/**
 * Shrinking a failing soak stream, and writing it as a scenario.
 *
 * The stream is drawn again from its seed up to the failing operation (an
 * oracle finding is first pinned to the operation after which it appears, by
 * running the oracle after every operation since the last clean check), then
 * fast-check shrinks it: `fc.subarray` of the operations, with the whole list
 * as the example to start from, keeps a candidate when it ends the same way
 * (the same oracle rule, a shadow mismatch, the same exception). Operations
 * name processes and regions by index, so every subsequence still runs.
 */
import fc from 'fast-check';
import { Document, isMap, isSeq } from 'yaml';
import type { KernelOptions } from '../kernel.js';
import type { SoakOp } from './ops.js';
import { type SoakOptions, failureClass, replayOps, streamOps } from './soak.js';

export interface Shrunk {
  /** The shortest failing list found. */
  readonly ops: readonly SoakOp[];
  /** How the shrunk list fails. */
  readonly what: string;
  /** The length of the stream before shrinking (up to the failing operation). */
  readonly from: number;
  /** Candidate lists tried. */
  readonly tries: number;
  /** The time limit ended the shrinking before it finished. */
  readonly interrupted: boolean;
}

/** The failure of a list of operations (oracle at the end only), or null when it runs clean. */
function failureOf(opts: Omit<SoakOptions, 'ops' | 'seed'>, ops: readonly SoakOp[]): string | null {
  const r = replayOps({ ...opts, checkEvery: Number.MAX_SAFE_INTEGER }, ops);
  return r.failure?.what ?? null;
}

/**
 * Shrink the stream of `opts.seed` that failed at operation `failedAt` with `what`.
 * `timeLimitMs` bounds the shrinking (the best list so far is kept).
 */
export function shrinkStream(opts: SoakOptions, failedAt: number, what: string, timeLimitMs = 60_000): Shrunk {
  const cls = failureClass(what);
  const base = { kernel: opts.kernel, knownFindings: opts.knownFindings };
  let upTo = failedAt;
  if (cls.startsWith('oracle ')) {
    // The rule broke somewhere since the last clean check: find the operation after which it first shows.
    const every = opts.checkEvery ?? 1000;
    const from = Math.max(0, failedAt - (failedAt % every) - 1);
    const r = replayOps({ ...base, checkEvery: Number.MAX_SAFE_INTEGER, checkFrom: from }, streamOps(opts, failedAt));
    if (r.failure !== null && failureClass(r.failure.what) === cls) upTo = r.failure.op;
  }
  const ops = streamOps(opts, upTo);
  let tries = 0;
  let best: readonly SoakOp[] = ops;
  let bestWhat = what;
  const t0 = performance.now();
  const deadline = t0 + timeLimitMs;
  /** Does the list still fail the same way? (Keeps the shortest that does.) */
  const fails = (sub: readonly SoakOp[]): boolean => {
    tries++;
    const w = failureOf(base, sub);
    if (w === null || failureClass(w) !== cls) return false;
    if (sub.length <= best.length) {
      best = sub;
      bestWhat = w;
    }
    return true;
  };
  // A long stream first loses whole chunks (halves, quarters, ... down to 8 operations): each try
  // replays the stream, and fast-check's one-by-one steps over thousands of operations would take
  // minutes. Then fast-check shrinks what is left.
  let cur = ops;
  for (let size = cur.length >> 1; size >= 8 && performance.now() < deadline; size >>= 1) {
    for (let i = 0; i < cur.length && performance.now() < deadline; ) {
      const cand = [...cur.slice(0, i), ...cur.slice(i + size)];
      if (fails(cand)) cur = cand;
      else i += size;
    }
  }
  const left = Math.max(1, deadline - performance.now());
  const out = fc.check(
    fc.property(fc.subarray(cur as SoakOp[]), (sub) => !fails(sub)),
    { examples: [[cur as SoakOp[]]], numRuns: 1, seed: opts.seed, interruptAfterTimeLimit: left },
  );
  const interrupted = out.interrupted || performance.now() >= deadline;
  return { ops: best, what: bestWhat, from: ops.length, tries, interrupted };
}

/** The scenario (YAML text) that replays a shrunk stream with `foliosim run`. */
export function replayScenario(args: { seed: number; policy: string; kernel: KernelOptions; knownFindings: readonly string[]; shrunk: Shrunk }): string {
  const { seed, policy, kernel, knownFindings, shrunk } = args;
  const { policy: pol, ...kopts } = kernel;
  const everyNs = 1000;
  const spec = {
    name: `soak-seed-${seed}`,
    title: `A soak failure: ${shrunk.what.split('\n')[0]!.slice(0, 200)}`,
    question: `Do these ${shrunk.ops.length} operations (shrunk from the first ${shrunk.from} of foliosim soak --seed ${seed}${policy === 'upstream' ? '' : `, policy ${policy}`}) still end as they did?`,
    kernel: { memory: '256MiB', hugetlb: { '2MiB': 16 }, thp: 'always', ...kopts },
    setup: { processes: [{ name: 'soak' }] },
    workload: {
      // Long enough for any operation's simulated cost: the run ends when the actor does.
      duration: `${shrunk.ops.length * 10}s`,
      checkEvery: `${everyNs}ns`,
      actors: [{ kind: 'soak', process: 'soak', every: `${everyNs}ns`, ops: shrunk.ops }],
    },
    designs: [{ name: 'soak', ...(pol !== undefined && Object.keys(pol).length > 0 ? { policy: pol } : {}) }],
    repeats: 1,
    seed,
    metrics: ['kernelTime'],
    verdict: { best: 'kernelTime' },
    ...(knownFindings.length > 0 ? { findings: { soak: [...knownFindings] } } : {}),
  };
  const head = `# foliosim soak --seed ${seed}${policy === 'upstream' ? '' : ` (${policy})`}: ${shrunk.what.split('\n')[0]}\n# Replay: foliosim run <this file>\n`;
  // One operation per line: { op: write, t: 0, r: 1, page: 5, byte: 17 }.
  const doc = new Document(spec);
  const ops = doc.getIn(['workload', 'actors', 0, 'ops'], true);
  if (isSeq(ops)) for (const item of ops.items) if (isMap(item)) item.flow = true;
  return head + doc.toString({ lineWidth: 0 });
}
