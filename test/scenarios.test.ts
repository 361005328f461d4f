/**
 * The built-in scenarios, run as `foliosim compare` runs them: each loads,
 * meets its own expectations, shows only the oracle findings it declares (a
 * design's known flaw), draws a folio map where it asks for one, and gives
 * the same report twice for the same seed.
 */
import { describe, expect, it } from 'vitest';
import { compareScenarios, loadNamed } from '../src/report/compare.js';
import { renderJson } from '../src/report/json.js';
import { reportOk } from '../src/report/model.js';
import { builtins } from '../src/sim/builtin.js';
import { evaluate } from '../src/sim/scenario/expr.js';

describe('built-in scenarios', () => {
  it('are the debates of seeds 002, 003 and 004', () => {
    expect(builtins().map((b) => b.name)).toEqual(['exclusive-pin', 'fork-with-pins', 'pin-density-sweep', 'postcopy-1g', 'sticky-pages']);
  });

  for (const b of builtins()) {
    it(`${b.name}: meets its expectations, with no unexpected oracle finding`, async () => {
      const l = loadNamed(b.name);
      const r = await compareScenarios([l], { jobs: 1 });
      const s = r.scenarios[0]!;
      expect(s.expectations.filter((e) => !e.passed)).toEqual([]);
      expect(s.findings.filter((f) => !f.expected)).toEqual([]);
      expect(reportOk(r)).toBe(true);
      expect(s.verdict).not.toBe('');
      expect(s.rows.length).toBe(l.scenario.spec.metrics.length);
      for (const row of s.rows) expect(row.cells.map((c) => c.design)).toEqual(l.scenario.designs.map((d) => d.id));
      // A design the kernel refuses has no run (a 'refused' event on the timeline says why); every other one cost something.
      const refused = new Set(s.timeline.filter((e) => e.kind === 'refused').map((e) => e.design));
      expect(s.costs.filter((c) => !refused.has(c.design)).every((c) => c.totalNs > 0)).toBe(true);
      const wantsMap = l.scenario.spec.workload.actors.some((a) => a.kind === 'forker' && a.folioMap !== undefined);
      if (wantsMap) {
        expect(s.folioMaps).toHaveLength(l.scenario.designs.length);
        for (const m of s.folioMaps) expect(m.runs.reduce((a, x) => a + x.count, 0)).toBe(512);
      }
    }, 120_000);
  }

  it('postcopy-1g: a vCPU waits at least a whole 1 GiB page over the link without HGM, far less with a 2 MiB pool', async () => {
    const l = loadNamed('postcopy-1g');
    const s = (await compareScenarios([l], { jobs: 1 })).scenarios[0]!;
    const v = (design: string, metric: string) => s.rows.find((r) => r.metric === metric)!.cells.find((c) => c.design === design)!.stat.median;
    const p = l.scenario.params;
    const GiB = 2 ** 30;
    // 1 GiB over the link's bandwidth (GB/s = bytes per ns), plus the round trip.
    const wholePage = GiB / Number(p.bandwidth) + evaluate(String(p.rtt), 'duration');
    expect(v('whole-1g', 'vcpuStallMax')).toBeGreaterThan(wholePage);
    expect(v('whole-1g', 'fetchLatencyP50')).toBeGreaterThan(wholePage);
    expect(v('pool-2m', 'fetchLatencyP50')).toBeLessThan(v('whole-1g', 'fetchLatencyP50') / 50);
    expect(v('pool-2m', 'uffdFaults')).toBeGreaterThan(v('whole-1g', 'uffdFaults'));
    // Without HGM nothing is collapsed, so nothing invalidates and no vCPU stalls for a collapse.
    for (const d of ['whole-1g', 'pool-2m']) {
      expect(v(d, 'collapseTime')).toBe(0);
      expect(v(d, 'collapseStall')).toBe(0);
      expect(v(d, 'refused')).toBe(0);
    }
    // Page tables: one PUD leaf maps the 1 GiB page; the 2 MiB pool needs a PMD table for its 512 leaves.
    expect(v('pool-2m', 'pageTableBytes')).toBeGreaterThan(v('whole-1g', 'pageTableBytes'));
    // ... and over time: a step line per design, in time order, the pool's above the 1 GiB page's at the end.
    const series = (d: string) => s.series!.find((e) => e.design === d && e.metric === 'pageTableBytes')!.points;
    for (const d of ['whole-1g', 'pool-2m']) {
      const pts = series(d);
      expect(pts.length).toBeGreaterThan(1);
      for (let i = 1; i < pts.length; i++) expect(pts[i]!.t).toBeGreaterThanOrEqual(pts[i - 1]!.t);
      expect(pts[pts.length - 1]!.t).toBe(s.durationNs);
    }
    expect(series('pool-2m').at(-1)!.v).toBeGreaterThan(series('whole-1g').at(-1)!.v);
  }, 120_000);

  it('exclusive-pin: the same seed gives a byte-identical report', async () => {
    const a = renderJson(await compareScenarios([loadNamed('exclusive-pin')], { jobs: 1 }));
    const b = renderJson(await compareScenarios([loadNamed('exclusive-pin')], { jobs: 1 }));
    expect(b).toBe(a);
  }, 120_000);
});
