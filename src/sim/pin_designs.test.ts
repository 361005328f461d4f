/** The designs compared on one VMM workload: the relationships the threads argue about must hold. */
import { describe, expect, it } from 'vitest';
import { comparePinDesigns } from './pin_designs.js';

describe('pin-accounting designs on the VMM workload', () => {
  const rows = Object.fromEntries(comparePinDesigns(['upstream', 'exact', 'pmd-aggregate', 'mm-sticky'], { guestMiB: 64 }).map((r) => [r.name, r]));

  it('upstream: no false negatives, no lost pins, but the pipe\'s references look like a pin and a pinned THP page copies its whole folio', () => {
    const u = rows.upstream!;
    expect(u.falseNegatives).toBe(0);
    expect(u.pinsLostAfterWrites).toBe(0);
    expect(u.violations).toEqual([]);
    expect(u.falsePositives).toBeGreaterThan(0);
    expect(u.unnecessaryForkCopies).toBeGreaterThan(0);
  });

  it('exact: copies only the pinned pages, at 64 bytes of memmap per page', () => {
    const e = rows.exact!;
    expect(e.falsePositives).toBe(0);
    expect(e.unnecessaryForkCopies).toBe(0);
    expect(e.forkCopies).toBe(e.pinnedPages);
    expect(e.pinsLostAfterWrites).toBe(0);
    expect(e.metadataBytes).toBe((2 * 2 ** 30 / 4096) * 64);
    expect(rows.upstream!.forkCopies).toBeGreaterThan(e.forkCopies);
  });

  it('pmd-aggregate: a pin moved to another 2 MiB range is missed at fork, and its DMA is lost', () => {
    const a = rows['pmd-aggregate']!;
    expect(a.falseNegatives).toBeGreaterThan(0);
    expect(a.pinsLostAfterWrites).toBeGreaterThan(0);
    expect(a.pinnedPagesLostToCow).toBeGreaterThan(0);
    expect(a.violations).toContain('pinned-anon-not-exclusive');
  });

  it('mm-sticky: never loses a pin, but copies every anonymous page of the VMM', () => {
    const s = rows['mm-sticky']!;
    expect(s.falseNegatives).toBe(0);
    expect(s.pinsLostAfterWrites).toBe(0);
    expect(s.forkCopies).toBeGreaterThan(rows.upstream!.forkCopies);
    // Every present page of guest RAM: all of it but the page re-mapped (and not yet touched) where the moved buffer was.
    expect(s.forkCopies).toBe((64 * 2 ** 20) / 4096 - 1);
  });
});
