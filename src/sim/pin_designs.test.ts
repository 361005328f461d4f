/** The designs compared on one VMM workload: the relationships the threads argue about must hold. */
import { describe, expect, it } from 'vitest';
import { PIN_ACCOUNTING } from '../policy/registry.js';
import { comparePinDesigns } from './pin_designs.js';

describe('pin-accounting designs on the VMM workload', () => {
  const rows = Object.fromEntries(comparePinDesigns(Object.keys(PIN_ACCOUNTING), { guestMiB: 64 }).map((r) => [r.name, r]));

  it('runs every registered design', () => {
    expect(Object.keys(rows)).toEqual(['upstream', 'exact', 'pmd-aggregate', 'mm-sticky', 'page-sticky', 'pte-bit']);
  });

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

  // The O_DIRECT read pinned 16 pages of one otherwise unpinned THP and unpinned them before the fork.
  const DIO_PAGES = 16;

  it('page-sticky: exact while pins are held, but the 16 pages of the finished O_DIRECT read stay marked and are copied', () => {
    const s = rows['page-sticky']!;
    const e = rows.exact!;
    expect(s.falseNegatives).toBe(0);
    expect(s.pinsLostAfterWrites).toBe(0);
    expect(s.violations).toEqual([]);
    expect(s.metadataBytes).toBe(0);
    // Marked: every page ever pinned, the released ones included.
    expect(s.stickyPages).toBe(e.pinnedPages + DIO_PAGES);
    expect(s.unnecessaryForkCopies).toBe(DIO_PAGES);
    expect(s.forkCopies).toBe(e.forkCopies + DIO_PAGES);
    // One "yes" for the THP as a whole at copy_huge_pmd, one per marked page after the split.
    expect(s.falsePositives).toBe(1 + DIO_PAGES);
  });

  it('pte-bit: follows the moved pin, but the released O_DIRECT pin left its PMD marked, so fork copies that whole THP', () => {
    const b = rows['pte-bit']!;
    const u = rows.upstream!;
    expect(b.falseNegatives).toBe(0);
    expect(b.pinsLostAfterWrites).toBe(0);
    expect(b.violations).toEqual([]);
    expect(b.metadataBytes).toBe(0);
    expect(b.stickyPages).toBe(0);
    // Per entry: like upstream for pins through a PMD (the whole 2 MiB), but only the 8 pinned
    // PTEs of the PTE-mapped ring (upstream: its whole folio); plus the 512 pages of the THP
    // whose PMD the finished O_DIRECT read left marked.
    const RING = 8;
    expect(b.forkCopies).toBe(u.forkCopies - (512 - RING) + 512);
    expect(b.unnecessaryForkCopies).toBe(b.forkCopies - b.pinnedPages);
  });
});
