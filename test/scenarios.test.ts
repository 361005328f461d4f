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

describe('built-in scenarios', () => {
  it('are the four debates of seeds 002 and 003', () => {
    expect(builtins().map((b) => b.name)).toEqual(['exclusive-pin', 'fork-with-pins', 'pin-density-sweep', 'sticky-pages']);
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
      expect(s.costs.every((c) => c.totalNs > 0)).toBe(true);
      const wantsMap = l.scenario.spec.workload.actors.some((a) => a.kind === 'forker' && a.folioMap !== undefined);
      if (wantsMap) {
        expect(s.folioMaps).toHaveLength(l.scenario.designs.length);
        for (const m of s.folioMaps) expect(m.runs.reduce((a, x) => a + x.count, 0)).toBe(512);
      }
    }, 120_000);
  }

  it('exclusive-pin: the same seed gives a byte-identical report', async () => {
    const a = renderJson(await compareScenarios([loadNamed('exclusive-pin')], { jobs: 1 }));
    const b = renderJson(await compareScenarios([loadNamed('exclusive-pin')], { jobs: 1 }));
    expect(b).toBe(a);
  }, 120_000);
});
