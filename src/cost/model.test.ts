/** The unit-cost table and CostModel (src/cost/model.ts). */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EVENT_NAMES, Ev, newCounters } from './counters.js';
import { CostModel, LOW_CONFIDENCE_SHARE, UNIT_COSTS, UnknownCostError } from './model.js';
import { Kernel } from '../kernel.js';

describe('the unit-cost table', () => {
  it('has one entry per counter, in Ev order, with snake_case names', () => {
    expect(EVENT_NAMES.length).toBe(Ev.NR_EVENTS);
    expect(UNIT_COSTS.map((u) => u.event)).toEqual([...EVENT_NAMES]);
    for (const n of EVENT_NAMES) expect(n).toMatch(/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/);
  });

  it('docs/COSTS.md lists every unit cost with its value and confidence', () => {
    const doc = readFileSync(new URL('../../docs/COSTS.md', import.meta.url), 'utf8');
    for (const u of UNIT_COSTS) {
      const value = u.per === 'byte' ? `${u.ns.toFixed(4)} ns/B` : `${Number.isInteger(u.ns) ? u.ns.toLocaleString('en-US') : u.ns.toFixed(1)} ns`;
      expect(doc, u.event).toContain(`| \`${u.event}\` | ${value} | ${u.confidence} |`);
    }
  });

  it('every entry has a finite non-negative cost, a source, a confidence and a note', () => {
    for (const u of UNIT_COSTS) {
      expect(Number.isFinite(u.ns) && u.ns >= 0, u.event).toBe(true);
      expect(u.source.length, u.event).toBeGreaterThan(5);
      expect(u.note.length, u.event).toBeGreaterThan(5);
      expect(['high', 'medium', 'low']).toContain(u.confidence);
      expect(u.per).toBe(u.event.endsWith('_bytes') ? 'byte' : 'event');
    }
  });
});

describe('CostModel', () => {
  it('time() is the dot product of a delta with the unit costs', () => {
    const m = new CostModel();
    const d = newCounters();
    d[Ev.PTE_WRITE] = 10;
    d[Ev.ZERO_BYTES] = 4096;
    expect(m.time(d)).toBeCloseTo(10 * m.ns[Ev.PTE_WRITE]! + 4096 * m.ns[Ev.ZERO_BYTES]!, 9);
    expect(m.time(newCounters())).toBe(0);
  });

  it('estimate() lists non-zero counts in Ev order and sums the low-confidence part', () => {
    const m = new CostModel();
    const d = newCounters();
    d[Ev.IPI] = 3; // low
    d[Ev.ATOMIC_REFCOUNT] = 1000; // medium
    d[Ev.TLB_REMOTE_CPU] = 3; // costs nothing
    const e = m.estimate(d);
    expect(e.lines.map((l) => l.primitive)).toEqual(['tlb_remote_cpu', 'ipi', 'atomic_refcount']);
    expect(e.totalNs).toBeCloseTo(3 * m.ns[Ev.IPI]! + 1000 * m.ns[Ev.ATOMIC_REFCOUNT]!, 9);
    expect(e.lowConfidenceNs).toBeCloseTo(3 * m.ns[Ev.IPI]!, 9);
    expect(e.lowConfidenceShare).toBeCloseTo(e.lowConfidenceNs / e.totalNs, 12);
    expect(e.lowConfidence).toBe(e.lowConfidenceShare >= LOW_CONFIDENCE_SHARE);
    expect(m.estimate(newCounters())).toMatchObject({ totalNs: 0, lowConfidenceShare: 0, lowConfidence: false, lines: [] });
  });

  it('a figure is flagged when low-confidence costs carry at least a tenth of it', () => {
    const d = newCounters();
    d[Ev.ATOMIC_REFCOUNT] = 1;
    d[Ev.IPI] = 1;
    // ipi alone: 1/10 of the total exactly.
    const atomic = (9 * 2000) / 1;
    expect(new CostModel({ ipi: 2000, atomic_refcount: atomic }).estimate(d).lowConfidence).toBe(true);
    expect(new CostModel({ ipi: 1999, atomic_refcount: atomic }).estimate(d).lowConfidence).toBe(false);
  });

  it('overrides replace unit costs by name; bad values and unknown names throw', () => {
    const m = new CostModel({ ipi: 500, copy_bytes: 0.5 });
    expect(m.ns[Ev.IPI]).toBe(500);
    expect(m.ns[Ev.COPY_BYTES]).toBe(0.5);
    expect(new CostModel().ns[Ev.IPI]).not.toBe(500);
    expect(() => new CostModel({ ipi: -1 })).toThrow(RangeError);
    expect(() => new CostModel({ ipi: Number.POSITIVE_INFINITY })).toThrow(/non-negative/);
    expect(() => new CostModel({ ipis: 1 })).toThrow(UnknownCostError);
    expect(() => new CostModel({ ipis: 1 })).toThrow(/unknown cost "ipis"; valid names: pte_write, .*, ipi, .*attr_store/);
  });

  it('Kernel.costEstimate covers everything counted so far', () => {
    const k = new Kernel({ memory: '64MiB', thp: 'never' });
    const p = k.spawn();
    const a = p.mmap(0, 8 * 4096, 3, 0x22, -1, 0);
    p.fill(a, 8 * 4096, 1);
    const e = k.costEstimate();
    expect(e.totalNs).toBeCloseTo(new CostModel().time(k.host.ev), 6);
    expect(e.lines.find((l) => l.primitive === 'fault')?.count).toBe(8);
    expect(k.costEstimate({ fault: 0 }).totalNs).toBeLessThan(e.totalNs);
    expect(() => k.costEstimate({ faults: 1 })).toThrow(UnknownCostError);
  });
});
