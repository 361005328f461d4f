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
  it('are the debates of seeds 000 to 004', () => {
    expect(builtins().map((b) => b.name)).toEqual([
      'cc-boot-swiotlb',
      'exclusive-pin',
      'fork-with-pins',
      'hgm-truncate',
      'longterm-pin-vfio',
      'odirect-during-conversion',
      'pin-density-sweep',
      'pkvm-virtio-churn',
      'postcopy-1g',
      's2-recoalesce',
      'sticky-pages',
    ]);
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

  it('postcopy-1g: whole-page faults wait for a whole page; HGM faults at 4 KiB, and its collapse stalls vCPUs only with the invalidate notifier', async () => {
    const l = loadNamed('postcopy-1g');
    const s = (await compareScenarios([l], { jobs: 1 })).scenarios[0]!;
    const v = (design: string, metric: string) => s.rows.find((r) => r.metric === metric)!.cells.find((c) => c.design === design)!.stat.median;
    const p = l.scenario.params;
    const GiB = 2 ** 30;
    const hgm = l.scenario.designs.filter((d) => d.policy.hgmMapcount !== undefined && d.params.hvo !== true).map((d) => d.id);
    expect(hgm).toHaveLength(16);
    // 1 GiB over the link's bandwidth (GB/s = bytes per ns), plus the round trip.
    const rtt = evaluate(String(p.rtt), 'duration');
    const wholePage = GiB / Number(p.bandwidth) + rtt;
    expect(v('whole-1g', 'vcpuStallMax')).toBeGreaterThan(wholePage);
    expect(v('whole-1g', 'fetchLatencyP50')).toBeGreaterThan(wholePage);
    expect(v('pool-2m', 'fetchLatencyP50')).toBeLessThan(v('whole-1g', 'fetchLatencyP50') / 50);
    expect(v('pool-2m', 'fetchLatencyP50')).toBeGreaterThan(2 ** 21 / Number(p.bandwidth) + rtt);
    for (const d of hgm) {
      // A 4 KiB fault costs about the round trip, far below a 2 MiB page's fetch.
      expect(v(d, 'fetchLatencyP50'), d).toBeGreaterThan(rtt);
      expect(v(d, 'fetchLatencyP50'), d).toBeLessThan(v('pool-2m', 'fetchLatencyP50') / 5);
      // Every design collapses the page back to one 1 GiB leaf.
      expect(v(d, 'collapses'), d).toBeGreaterThan(0);
      expect(v(d, 'refused'), d).toBe(0);
    }
    for (const d of ['whole-1g', 'pool-2m']) {
      expect(v(d, 'collapseTime')).toBe(0);
      expect(v(d, 'collapseStall')).toBe(0);
      expect(v(d, 'refused')).toBe(0);
    }
    // THP-like counts each subpage: mapping the page and collapsing it directly is 2 x 262,144 updates; the head-only designs make none.
    expect(v('thp-like-inval-direct', 'mapcountOps')).toBe(2 * (GiB / 4096));
    expect(v('thp-like-inval-2step', 'mapcountOps')).toBeGreaterThan(v('thp-like-inval-direct', 'mapcountOps'));
    for (const d of hgm.filter((x) => !x.startsWith('thp-like'))) expect(v(d, 'mapcountOps'), d).toBe(0);
    // Under 'invalidate' a direct THP-like collapse stalls the vCPUs that touch the page for all of it (~1 s); after the fact ('post-collapse'), none waits for it.
    expect(v('thp-like-inval-direct', 'collapseTime')).toBeGreaterThan(0.5e9);
    expect(v('thp-like-inval-direct', 'vcpuStallMax')).toBeGreaterThan(0.9 * v('thp-like-inval-direct', 'collapseMax'));
    for (const d of hgm.filter((x) => x.includes('-post-'))) {
      expect(v(d, 'collapseStall'), d).toBe(0);
      expect(v(d, 'collapseStall'), d).toBeLessThan(v(d.replace('-post-', '-inval-'), 'collapseStall') + 1);
    }
    for (const d of hgm.filter((x) => x.endsWith('-inval-direct'))) expect(v(d, 'collapseStall'), d).toBeGreaterThan(0);
    expect(v('thp-like-post-direct', 'vcpuStallMax')).toBeLessThan(v('thp-like-inval-direct', 'vcpuStallMax') / 100);
    // Two-step bounds the stall of an invalidating collapse to a 2 MiB's (THP-like: still ~2 x 512 updates each).
    expect(v('thp-like-inval-2step', 'collapseStall')).toBeLessThan(v('thp-like-inval-direct', 'collapseStall') / 10);
    // HVO on: the kernel refuses THP-like; the report says so instead of failing.
    expect(v('thp-like-hvo', 'refused')).toBe(1);
    expect(s.timeline.find((e) => e.design === 'thp-like-hvo')).toMatchObject({ kind: 'refused', detail: expect.stringMatching(/needs writable tail struct pages/) });
    expect(s.verdict).toMatch(/Excluded: thp-like with HVO \(refused by the kernel 1\)/);
    for (const r of s.rows) expect(r.cells.find((c) => c.design === 'thp-like-hvo')!.best, r.metric).toBe(false);
    // Page tables over time: a step line per design, in time order, held to the end of the run.
    const series = (d: string) => s.series!.find((e) => e.design === d && e.metric === 'pageTableBytes')!.points;
    for (const d of ['whole-1g', 'pool-2m', ...hgm]) {
      const pts = series(d);
      expect(pts.length, d).toBeGreaterThan(1);
      for (let i = 1; i < pts.length; i++) expect(pts[i]!.t).toBeGreaterThanOrEqual(pts[i - 1]!.t);
      expect(pts[pts.length - 1]!.t).toBe(s.durationNs);
    }
    // HGM's 4 KiB tables grow during the migration and are freed by the collapse.
    const peak = (d: string) => Math.max(...series(d).map((x) => x.v));
    expect(peak('thp-like-inval-direct')).toBeGreaterThan(peak('whole-1g') + 4096 * 100);
    expect(series('thp-like-inval-direct').at(-1)!.v).toBe(series('whole-1g').at(-1)!.v);
  }, 120_000);

  it('hgm-truncate: only the page-table-entry mapcount (pgtable) keeps the page counted after the punch, and the oracle says so', async () => {
    const s = (await compareScenarios([loadNamed('hgm-truncate')], { jobs: 1 })).scenarios[0]!;
    const v = (design: string, metric: string) => s.rows.find((r) => r.metric === metric)!.cells.find((c) => c.design === design)!.stat.median;
    expect(v('pgtable', 'mapcountAfterTruncate')).toBeGreaterThan(0);
    expect(s.findings).toEqual([{ design: 'pgtable', violation: 'hgm-mapcount-after-truncate', runs: 1, expected: true }]);
    for (const d of ['thp-like', 'head-per-pte', 'special-bit']) expect(v(d, 'mapcountAfterTruncate'), d).toBe(0);
    // THP-like paid an update per subpage mapped and unmapped (4 pieces of 4 KiB); the others none.
    expect(v('thp-like', 'mapcountOps')).toBe(8);
    expect(s.verdict).not.toMatch(/^pgtable/);
  }, 120_000);

  it('exclusive-pin: the same seed gives a byte-identical report', async () => {
    const a = renderJson(await compareScenarios([loadNamed('exclusive-pin')], { jobs: 1 }));
    const b = renderJson(await compareScenarios([loadNamed('exclusive-pin')], { jobs: 1 }));
    expect(b).toBe(a);
  }, 120_000);
});
