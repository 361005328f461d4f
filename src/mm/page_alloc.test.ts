import { describe, expect, it } from 'vitest';
import { Gfp, PageAlloc } from './page_alloc.js';

describe('buddy allocator over extents', () => {
  it('reports buddyinfo as the maximal aligned blocks of the free set', () => {
    const pa = new PageAlloc(4096, 0, 0);
    // 4096 pages = 4 blocks of order 10.
    expect(pa.buddyinfo()[0]!.free[10]).toBe(4);
    const p0 = pa.allocPages(0, Gfp.KERNEL);
    expect(p0).toBe(0);
    const info = pa.buddyinfo()[0]!.free;
    // Freed buddies of orders 0..9 around page 0, plus 3 max blocks.
    expect(info.slice(0, 10)).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    expect(info[10]).toBe(3);
    pa.freePagesAt(p0, 0);
    expect(pa.buddyinfo()[0]!.free[10]).toBe(4);
  });

  it('allocates naturally aligned blocks; MOVABLE allocations try ZONE_MOVABLE first', () => {
    const pa = new PageAlloc(8192, 2048, 256);
    expect(pa.managedPages()).toBe(8192 - 256);
    expect(pa.allocPages(9, Gfp.MOVABLE)).toBe(6144);
    expect(pa.allocPages(9, Gfp.KERNEL)).toBe(512);
    expect(pa.zoneOf(6144).name).toBe('Movable');
    expect(pa.allocPages(11, Gfp.KERNEL)).toBe(-1);
    expect(pa.allocContig(11, Gfp.KERNEL)).toBe(2048);
  });
});
