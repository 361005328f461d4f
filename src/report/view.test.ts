import { describe, expect, it } from 'vitest';
import { sampleReport } from '../../test/support/sample_report.js';
import { bestFlags, findingViews, footerText, matrixView, metricLabel } from './view.js';

describe('bestFlags', () => {
  it('picks the lowest for lower-is-better and the highest for higher-is-better', () => {
    expect(bestFlags([3, 1, 2], 'lower')).toEqual([false, true, false]);
    expect(bestFlags([3, 1, 2], 'higher')).toEqual([true, false, false]);
  });

  it('marks every design that ties the best value', () => {
    expect(bestFlags([0, 5, 0], 'lower')).toEqual([true, false, true]);
    expect(bestFlags([1, 1, 1], 'higher')).toEqual([true, true, true]);
  });

  it('marks nothing for a descriptive metric, and never a missing value', () => {
    expect(bestFlags([1, 2], 'none')).toEqual([false, false]);
    expect(bestFlags([undefined, 2, 4], 'lower')).toEqual([false, true, false]);
    expect(bestFlags([undefined], 'lower')).toEqual([false]);
  });
});

describe('views', () => {
  const report = sampleReport();
  const s = report.scenarios[0]!;

  it('label metrics with unit and direction', () => {
    expect(metricLabel(s.metrics.find((m) => m.id === 'forkCopies')!)).toBe('fork copies (pages) ↓');
    expect(metricLabel(s.metrics.find((m) => m.id === 'dmaCoherent')!)).toBe('DMA-coherent pins (%) ↑');
  });

  it('keep the report’s best flags and row order, cells in design order', () => {
    const rows = matrixView(s);
    expect(rows.map((r) => r.metric.id)).toEqual(s.rows.map((r) => r.metric));
    rows.forEach((r, i) =>
      expect(r.cells.map((c) => [c.design.id, c.best])).toEqual(
        s.designs.map((d) => [d.id, s.rows[i]!.cells.find((c) => c.design === d.id)!.best]),
      ),
    );
  });

  it('put expected findings before unexpected ones', () => {
    const sc = structuredClone(s);
    sc.findings.unshift({ design: 'exact', violation: 'x', runs: 1, expected: false });
    expect(findingViews(sc).map((f) => f.expected)).toEqual([true, false]);
  });

  it('write a footer with a single seed when there is one repeat', () => {
    expect(footerText(report, { ...s, repeats: 1 })).toBe(`foliosim 0.1.0 · scenario ${s.name} · hash ${s.hash} · seed ${s.seed}`);
  });
});
