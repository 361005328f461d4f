/**
 * The guest_memfd compare scenarios (issue 8 section 7), each run small: the
 * designs are every gmemHugeShared design the registry lists, the verdict
 * names the design the measured numbers rank first, and each scenario's
 * point follows from its own numbers (not from figures copied from a run).
 */
import { describe, expect, it } from 'vitest';
import { compareScenarios, loadNamed } from '../src/report/compare.js';
import type { ScenarioReport } from '../src/report/model.js';
import { GMEM_HUGE_SHARED, S2_RECOALESCE } from '../src/policy/registry.js';
import { metric } from '../src/sim/metrics.js';
import { compare } from '../src/sim/scenario/checks.js';

type Sets = Record<string, string>;

async function run(name: string, sets: Sets = {}) {
  const l = loadNamed(name, Object.entries(sets).map(([key, value]) => ({ key, value })));
  const s = (await compareScenarios([l], { jobs: 1 })).scenarios[0]!;
  const v = (design: string, m: string) => s.rows.find((r) => r.metric === m)!.cells.find((c) => c.design === design)!.stat.median;
  return { l, s, v };
}

/** The design the verdict must name: the best on its metric (then tie-breakers) among those meeting its conditions. */
function expectedWinner(s: ScenarioReport, l: ReturnType<typeof loadNamed>, v: (d: string, m: string) => number): string[] {
  const spec = l.scenario.spec.verdict;
  const ids = l.scenario.designs.map((d) => d.id);
  const ranked = ids.filter((d) => l.scenario.among.every((c) => compare(v(d, c.left.metric), c.op, typeof c.right === 'number' ? c.right : v(d, c.right.metric))));
  const keys = [spec.best, ...(spec.tiebreak ?? [])].filter((k) => metric(k)!.better !== 'none');
  const score = (d: string) => keys.map((k) => (metric(k)!.better === 'lower' ? 1 : -1) * v(d, k));
  const best = ranked.reduce((a, d) => {
    const x = score(d);
    const y = score(a);
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i]! < y[i]! ? d : a;
    return a;
  }, ranked[0]!);
  const label = (d: string) => l.scenario.designs.find((x) => x.id === d)!.label;
  expect(s.verdict).not.toBe('');
  return ranked.filter((d) => score(d).every((x, i) => x === score(best)[i])).map(label);
}

function verdictNames(s: ScenarioReport, winners: string[]): void {
  if (winners.length === 1) expect(s.verdict.startsWith(`${winners[0]} is best`)).toBe(true);
  else for (const w of winners) expect(s.verdict).toContain(w);
}

describe('guest_memfd compare scenarios', () => {
  it('s2-recoalesce: eager keeps the guest on its 1 GiB leaf, lazy stays split while the hot set never faults; eager pays in zaps and flushes', async () => {
    const { l, s, v } = await run('s2-recoalesce', { holes: '2', duration: '20ms' });
    expect(l.scenario.designs.map((d) => d.id)).toEqual(S2_RECOALESCE.flatMap((r) => GMEM_HUGE_SHARED.map((g) => `${r}/${g}`)));
    verdictNames(s, expectedWinner(s, l, v));
    for (const g of GMEM_HUGE_SHARED) {
      const [lazy, eager] = [`lazy/${g}`, `eager/${g}`];
      // The same conversions happened under both.
      expect(v(eager, 'conversions'), g).toBe(v(lazy, 'conversions'));
      // Eager re-maps the 1 GiB leaf at every closing conversion; lazy waits for a fault the hot set never takes.
      expect(v(eager, 's2Leaves1gMean'), g).toBeGreaterThan(v(lazy, 's2Leaves1gMean'));
      expect(v(eager, 's2Leaves4kMean'), g).toBeLessThanOrEqual(v(lazy, 's2Leaves4kMean'));
      expect(v(eager, 's2Promotions'), g).toBeGreaterThan(v(lazy, 's2Promotions'));
    }
    // split maps the hot set at 4 KiB around a hole (its folio is 4 KiB pieces); eager pays those faults and zaps again at every hole.
    expect(v('eager/split', 's2Leaves4kMean')).toBeLessThan(v('lazy/split', 's2Leaves4kMean'));
    expect(v('eager/split', 's2Zaps')).toBeGreaterThan(v('lazy/split', 's2Zaps'));
    // The chart: 4 KiB leaves over time for every design.
    expect(new Set((s.series ?? []).filter((x) => x.metric === 's2Leaves4k').map((x) => x.design))).toEqual(new Set(l.scenario.designs.map((d) => d.id)));
  }, 120_000);

  it('cc-boot-swiotlb: one exit converts the pool; split maps the rest of the 1 GiB page at 4 KiB; the folio map shows the shared pool', async () => {
    const { l, s, v } = await run('cc-boot-swiotlb', { swiotlb: '8MiB' });
    expect(l.scenario.designs.map((d) => d.policy.gmemHugeShared)).toEqual([...GMEM_HUGE_SHARED]);
    verdictNames(s, expectedWinner(s, l, v));
    for (const d of GMEM_HUGE_SHARED) {
      expect(v(d, 'conversionExits'), d).toBe(1);
      expect(v(d, 'conversions'), d).toBe((8 << 20) / 4096);
    }
    expect(v('split', 's2Leaves1g')).toBe(0);
    // Each of the guest's touches faulted a 4 KiB leaf in (the prefault's 1 GiB leaf went with the conversion).
    expect(v('split', 's2Leaves4k')).toBeGreaterThan(0);
    expect(v('split', 's2Leaves4k')).toBeLessThan(v('split', 's2Faults'));
    expect(v('split', 'ioDone')).toBeGreaterThan(0);
    // HVO is on: a design that keeps the 1 GiB folio whole keeps its vmemmap optimized, split gives it back (16 MiB).
    for (const d of GMEM_HUGE_SHARED.filter((x) => x !== 'split')) expect(v(d, 'vmemmapBytes'), d).toBeLessThan(v('split', 'vmemmapBytes'));
    expect(v('split', 'vmemmapBytes')).toBe(((2 ** 30 / 4096) * 64));
    // The folio map: the 1 GiB folio's 262,144 subpages, the pool shared at its start, the rest private.
    expect(s.folioMaps).toHaveLength(GMEM_HUGE_SHARED.length);
    for (const m of s.folioMaps) {
      expect(m.order).toBe(18);
      expect(m.runs.reduce((a, r) => a + r.count, 0)).toBe(262144);
      // The pool's pages are shared (some pinned by I/O in flight when the map was taken); everything after it is private.
      const pool = m.runs.slice(0, -1);
      expect(pool.every((r) => r.state === 'shared' || r.state === 'pinned'), m.design).toBe(true);
      expect(pool.reduce((a, r) => a + r.count, 0), m.design).toBe(2048);
      expect(m.runs[m.runs.length - 1]).toEqual({ state: 'private', count: 262144 - 2048 });
    }
  }, 120_000);

  it('odirect-during-conversion: split refuses a conversion of a page under O_DIRECT (EAGAIN) and keeps the contents', async () => {
    const { l, s, v } = await run('odirect-during-conversion', { conversions: '12', duration: '3ms' });
    verdictNames(s, expectedWinner(s, l, v));
    expect(v('split', 'ioDone')).toBeGreaterThan(0);
    expect(v('split', 'conversionsRefused')).toBeGreaterThan(0);
    // Every round trip the guest started either converted or was refused, page by page.
    expect(v('split', 'conversions') + v('split', 'conversionsRefused')).toBeGreaterThanOrEqual(12);
    expect(v('split', 'contentsLost')).toBe(0);
    if (GMEM_HUGE_SHARED.includes('no-longterm-pin')) {
      // It waits for the pins instead of refusing: nothing refused, and its longest conversion is the longest.
      expect(v('no-longterm-pin', 'conversionsRefused')).toBe(0);
      expect(v('no-longterm-pin', 'conversionLatencyMax')).toBeGreaterThan(v('split', 'conversionLatencyMax'));
    }
    if (GMEM_HUGE_SHARED.includes('pfnmap')) expect(v('pfnmap', 'ioDone')).toBe(0);
    if (GMEM_HUGE_SHARED.includes('separate-shared')) expect(v('separate-shared', 'contentsLost')).toBeGreaterThan(0);
    // The folio map marks the pages the I/O holds.
    const m = s.folioMaps.find((x) => x.design === 'split')!;
    expect(m.runs.some((r) => r.state === 'pinned')).toBe(true);
  }, 120_000);

  it('longterm-pin-vfio: split lets the device pin every page it maps, as 4 KiB folios', async () => {
    const { l, s, v } = await run('longterm-pin-vfio', { conversions: '4', duration: '3ms' });
    verdictNames(s, expectedWinner(s, l, v));
    expect(v('split', 'pinsRefused')).toBe(0);
    expect(v('split', 'ioDone')).toBe(32);
    expect(v('split', 'contentsLost')).toBe(0);
    // Option (a) refuses every long-term pin; a PFNMAP mapping every GUP.
    for (const d of ['no-longterm-pin', 'pfnmap'].filter((x) => GMEM_HUGE_SHARED.includes(x))) {
      expect(v(d, 'ioDone'), d).toBe(0);
      expect(v(d, 'pinsRefused'), d).toBe(32);
    }
  }, 120_000);

  it('pkvm-virtio-churn: no conversion exits to the VMM; guest_memfd and shmem with exclusive pins both keep the contents; a pinned buffer cannot be taken back', async () => {
    const { l, s, v } = await run('pkvm-virtio-churn', { rounds: '40', duration: '2ms' });
    expect(l.scenario.designs.map((d) => d.id)).toEqual([...GMEM_HUGE_SHARED.map((g) => `gmem/${g}`), 'shmem-excl']);
    verdictNames(s, expectedWinner(s, l, v));
    for (const d of l.scenario.designs.map((x) => x.id)) {
      expect(v(d, 'conversionExits'), d).toBe(0);
      expect(v(d, 'conversions'), d).toBeGreaterThan(0);
    }
    for (const d of ['gmem/split', 'shmem-excl']) {
      expect(v(d, 'contentsLost'), d).toBe(0);
      // vhost's pins meet some unshares: EAGAIN from guest_memfd, EBUSY from the exclusive re-pin.
      expect(v(d, 'conversionsRefused'), d).toBeGreaterThan(0);
    }
    // On shmem nothing is stage-2 mapped by KVM (the pages are the VMM's).
    expect(v('shmem-excl', 's2Leaves4k')).toBe(0);
  }, 120_000);
});
