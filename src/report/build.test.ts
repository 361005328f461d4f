/**
 * From runs to a scenario report: medians and spreads over seeds, the best
 * marks, the verdict computed from the data, expectations and findings.
 */
import { describe, expect, it } from 'vitest';
import { loadScenario } from '../sim/scenario/load.js';
import type { RunResult } from '../sim/run.js';
import { METRICS } from '../sim/metrics.js';
import { reportScenario, statOf } from './build.js';

const TEXT = `name: t
title: T
question: Which copies least?
setup: { processes: [{ name: vmm, regions: [{ name: ram, size: 4MiB }] }] }
workload: { duration: 1ms, actors: [{ kind: guest, process: vmm, region: ram, every: 1ms }] }
designs:
  - { name: up, policy: { pinAccounting: upstream } }
  - { name: ex, policy: { pinAccounting: exact } }
  - { name: pa, policy: { pinAccounting: pmd-aggregate } }
repeats: 3
metrics: [unnecessaryForkCopies, pinsLost, metadataBytes, pinHeadroomBits]
verdict: { best: unnecessaryForkCopies, among: ["pinsLost == 0"], mention: [metadataBytes] }
expect: ["ex.unnecessaryForkCopies == 0", "*.pinsLost == 0", "up.unnecessaryForkCopies > ex.unnecessaryForkCopies"]
findings: { pa: [pinned-anon-not-exclusive] }
`;

function run(design: string, seed: number, v: Record<string, number>, violations: string[] = []): RunResult {
  const values = Object.fromEntries(METRICS.map((m) => [m.id, v[m.id] ?? 0]));
  return {
    design,
    x: null,
    seed,
    values,
    violations,
    lowConfidenceShare: 0,
    costs: { design, totalNs: 0, lowConfidenceShare: 0, lines: [] },
    timeline: [],
    folioMap: null,
    failures: {},
    endNs: 1e6,
  };
}

describe('statOf', () => {
  it('gives the median (mean of the middle two for even counts), min and max, keeping seed order', () => {
    expect(statOf([5, 1, 3])).toEqual({ median: 3, min: 1, max: 5, values: [5, 1, 3] });
    expect(statOf([4, 1, 3, 2])).toEqual({ median: 2.5, min: 1, max: 4, values: [4, 1, 3, 2] });
  });
});

describe('reportScenario', () => {
  const s = loadScenario(TEXT, 't.yaml');
  const runs = [
    ...[1, 2, 3].map((seed) => run('up', seed, { unnecessaryForkCopies: 500 + seed, metadataBytes: 0, pinHeadroomBits: 21 })),
    ...[1, 2, 3].map((seed) => run('ex', seed, { unnecessaryForkCopies: 0, metadataBytes: 2 ** 25, pinHeadroomBits: 31 })),
    ...[1, 2, 3].map((seed) => run('pa', seed, { unnecessaryForkCopies: 400, pinsLost: seed === 2 ? 0 : 1, pinHeadroomBits: 31 }, seed === 2 ? [] : ['pinned-anon-not-exclusive'])),
  ];
  const r = reportScenario(s, runs);

  it('puts medians over the seeds in the matrix and marks the best per direction', () => {
    const row = (m: string) => r.rows.find((x) => x.metric === m)!.cells;
    expect(row('unnecessaryForkCopies').map((c) => [c.design, c.stat.median, c.best])).toEqual([
      ['up', 502, false],
      ['ex', 0, true],
      ['pa', 400, false],
    ]);
    expect(row('unnecessaryForkCopies')[0]!.stat).toMatchObject({ min: 501, max: 503, values: [501, 502, 503] });
    // Higher is better for headroom; ties are all marked.
    expect(row('pinHeadroomBits').map((c) => c.best)).toEqual([false, true, true]);
    expect(row('pinsLost').map((c) => c.best)).toEqual([true, true, false]);
    // No mark when every design has the same value.
    const same = reportScenario(s, runs.map((x) => ({ ...x, values: { ...x.values, pinsLost: 0 } })));
    expect(same.rows.find((x) => x.metric === 'pinsLost')!.cells.map((c) => c.best)).toEqual([false, false, false]);
  });

  it('computes the verdict from the data: ranking among qualifying designs, exclusions, the mention', () => {
    expect(r.verdict).toBe(
      'ex is best on unnecessary fork copies (0 pages) among designs with pins lost = 0 pages; then up (502 pages). Excluded: pa (pins lost 1 page). ex: metadata 32 MiB.',
    );
  });

  it('checks expectations on the medians, one line per design for *', () => {
    expect(r.expectations.map((e) => [e.text, e.passed])).toEqual([
      ['ex.unnecessaryForkCopies == 0', true],
      ['up.pinsLost == 0', true],
      ['ex.pinsLost == 0', true],
      ['pa.pinsLost == 0', false],
      ['up.unnecessaryForkCopies > ex.unnecessaryForkCopies', true],
      ['pa shows pinned-anon-not-exclusive', true],
    ]);
    expect(r.expectations[3]!.detail).toBe('pa.pinsLost = 1');
  });

  it('counts oracle findings per design and marks the declared ones as expected', () => {
    expect(r.findings).toEqual([{ design: 'pa', violation: 'pinned-anon-not-exclusive', runs: 2, expected: true }]);
    const unexpected = reportScenario(s, runs.map((x) => (x.design === 'ex' ? { ...x, violations: ['refcount'] } : x)));
    expect(unexpected.findings.find((f) => f.design === 'ex')).toEqual({ design: 'ex', violation: 'refcount', runs: 3, expected: false });
  });
});
