import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
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

  it('counts the CMA area in ZONE_NORMAL\'s line, as free_area counts every migratetype, without merging across it', () => {
    // 3072 normal pages, then 1024 CMA pages at the top of ZONE_NORMAL.
    const pa = new PageAlloc(4096, 0, 0, 1024);
    const info = pa.buddyinfo();
    expect(info.map((z) => z.zone)).toEqual(['Normal']);
    expect(info[0]!.free[10]).toBe(4);
    // A normal page and a CMA page taken: the free blocks on each side are counted, none spans the boundary.
    expect(pa.allocPages(0, Gfp.KERNEL)).toBe(0);
    expect(pa.allocPages(0, Gfp.MOVABLE)).toBe(3072);
    const free = pa.buddyinfo()[0]!.free;
    expect(free.slice(0, 10)).toEqual([2, 2, 2, 2, 2, 2, 2, 2, 2, 2]);
    expect(free[10]).toBe(2);
    expect(pa.cmaPages()).toEqual({ total: 1024, free: 1023 });
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

describe('allocPagesBulk', () => {
  it('takes the pages n allocPages(0) calls would, zone by zone, or nothing when too few are free', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(8191), fc.nat(9)), { maxLength: 60 }), fc.integer({ min: 1, max: 9000 }), fc.boolean(), (holes, n, movable) => {
        // Two allocators in the same fragmented state: blocks taken at random, some given back.
        const make = () => {
          const pa = new PageAlloc(8192, 2048, 256);
          const got: [number, number][] = [];
          for (const [, order] of holes) {
            const p = pa.allocPages(order, Gfp.KERNEL);
            if (p >= 0) got.push([p, order]);
          }
          for (let i = 0; i < got.length; i += 2) pa.freePagesAt(got[i]![0], got[i]![1]);
          return pa;
        };
        const gfp = movable ? Gfp.MOVABLE : Gfp.KERNEL;
        const one = make();
        const seq: number[] = [];
        for (let i = 0; i < n; i++) {
          const p = one.allocPages(0, gfp);
          if (p < 0) break;
          seq.push(p);
        }
        const bulk = make();
        const before = bulk.freePages();
        const pairs: number[] = [];
        const r = bulk.allocPagesBulk(n, gfp, pairs);
        const runs: number[] = [];
        for (let i = 0; i < pairs.length; i += 2) for (let p = pairs[i]!; p < pairs[i + 1]!; p++) runs.push(p);
        if (seq.length < n) {
          // Not enough: all or nothing.
          expect(r).toBe(-1);
          expect(runs).toEqual([]);
          expect(bulk.freePages()).toBe(before);
        } else {
          expect(r).toBe(n);
          expect(runs).toEqual(seq);
          expect(bulk.buddyinfo()).toEqual(one.buddyinfo());
        }
      }),
      { numRuns: 200 },
    );
  });
});
