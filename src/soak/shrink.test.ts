/**
 * Shrinking: a failing soak stream becomes a short list of operations that
 * fails the same way, written as a scenario that `foliosim run` replays.
 */
import { describe, expect, it } from 'vitest';
import { loseWrites } from '../../test/support/lost_write.js';
import { loadScenario } from '../sim/scenario/load.js';
import { runOne } from '../sim/run.js';
import { SoakCheckFailure } from './ops.js';
import { replayScenario, shrinkStream } from './shrink.js';
import { type SoakResult, failureClass, replayOps, soak } from './soak.js';

/** The first seed whose stream fails (without the known findings), with its failure. */
function firstFailing(ops: number, checkEvery: number): { seed: number; r: SoakResult } {
  for (let seed = 1; seed <= 20; seed++) {
    const r = soak({ ops, seed, checkEvery });
    if (r.failure !== null) return { seed, r };
  }
  throw new Error('no seed of 1..20 fails');
}

describe('soak shrinking', () => {
  it("shrinks Linux 6.12's HugePages_Rsvd wrap, found with no known findings, to a few operations that replay as a scenario", () => {
    // Without 'hugetlb-resv-underflow' among the known findings, the stream stops at it.
    const { seed, r } = firstFailing(4000, 500);
    expect(failureClass(r.failure!.what)).toBe('oracle hugetlb-resv-underflow');
    const s = shrinkStream({ ops: 4000, seed, checkEvery: 500 }, r.failure!.op, r.failure!.what, 20_000);
    expect(s.ops.length).toBeLessThan(s.from);
    expect(s.ops.length).toBeLessThanOrEqual(12);
    // The shrunk list alone fails the same way, and every operation in it is needed for that.
    const again = replayOps({}, s.ops);
    expect(failureClass(again.failure!.what)).toBe('oracle hugetlb-resv-underflow');
    if (!s.interrupted) {
      for (let i = 0; i < s.ops.length; i++) {
        const without = replayOps({ checkEvery: Number.MAX_SAFE_INTEGER }, [...s.ops.slice(0, i), ...s.ops.slice(i + 1)]);
        expect(without.failure === null || failureClass(without.failure.what) !== 'oracle hugetlb-resv-underflow', `operation ${i} is not needed`).toBe(true);
      }
    }
    // The scenario replays it: the oracle names the rule in the run, unexpected unless the file says it is known.
    const text = replayScenario({ seed, policy: 'upstream', kernel: {}, knownFindings: [], shrunk: s });
    expect(text).toMatch(/^# foliosim soak --seed \d+: kernel\.check\(\): hugetlb-resv-underflow/);
    const sc = loadScenario(text, 'soak.yaml');
    expect(sc.spec.findings).toBeUndefined();
    expect(runOne(sc.configs[0]!, sc.spec.seed ?? 1).violations).toContain('hugetlb-resv-underflow');
    const known = loadScenario(replayScenario({ seed, policy: 'upstream', kernel: {}, knownFindings: ['hugetlb-resv-underflow'], shrunk: s }), 'soak.yaml');
    expect(known.spec.findings).toEqual({ soak: ['hugetlb-resv-underflow'] });
  }, 60_000);

  it('shrinks a read that differs from the shadow to a write and a read, and the replayed scenario fails with SoakCheckFailure', () => {
    const restore = loseWrites();
    try {
      const opts = { ops: 5000, seed: 2, knownFindings: ['hugetlb-resv-underflow'] };
      const r = soak(opts);
      expect(failureClass(r.failure!.what)).toBe('shadow');
      const s = shrinkStream(opts, r.failure!.op, r.failure!.what, 20_000);
      expect(s.ops.length).toBeLessThanOrEqual(4);
      expect(s.ops.map((o) => o.op)).toContain('read');
      expect(s.ops.some((o) => o.op === 'write' || o.op === 'kvm-run')).toBe(true);
      const sc = loadScenario(replayScenario({ seed: 2, policy: 'upstream', kernel: {}, knownFindings: opts.knownFindings, shrunk: s }), 'soak.yaml');
      expect(() => runOne(sc.configs[0]!, 2)).toThrow(SoakCheckFailure);
    } finally {
      restore();
    }
  }, 60_000);

  it('an operation names processes and regions by index, so any subsequence runs: out-of-range indices wrap, missing state skips', () => {
    const r = replayOps({}, [
      { op: 'read', t: 5, r: 9, page: 3 },
      { op: 'mmap', t: 7, kind: 'anon', pages: 4, memfd: 0 },
      { op: 'write', t: 3, r: 8, page: 6, byte: 0x42 },
      { op: 'read', t: 1, r: 2, page: 2 },
      { op: 'kvm-run', t: 0, page: 1, write: 1, byte: 1 },
      { op: 'unpin', t: 0 },
    ]);
    expect(r.failure).toBeNull();
    expect(r.byOp).toEqual({ read: [2, 0, 0], mmap: [1, 0, 0], write: [1, 0, 0], 'kvm-run': [1, 0, 0], unpin: [1, 0, 0] });
  });
});
