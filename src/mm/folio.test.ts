import { describe, expect, it } from 'vitest';
import { FolioTable } from './folio.js';

describe('FolioTable.reserve', () => {
  it('makes room for n allocations at once: they neither grow the table nor reuse a slot twice', () => {
    const ft = new FolioTable();
    const first: number[] = [];
    for (let i = 0; i < 3000; i++) first.push(ft.alloc(i, 0));
    // Three slots go back to the free stack; a reservation counts them.
    for (const f of first.slice(0, 3)) ft.release(f);
    const n = 300_000;
    ft.reserve(n);
    const cap = ft.capacity;
    expect(cap).toBe(ft.highWater + n - 3);
    const seen = new Set<number>(first.slice(3));
    let reused = 0;
    for (let i = 0; i < n; i++) {
      const f = ft.alloc(1_000_000 + i, 0);
      if (seen.has(f)) reused++;
      seen.add(f);
    }
    expect(reused).toBe(0);
    expect(ft.capacity).toBe(cap);
    expect(ft.live).toBe(3000 - 3 + n);
    // The last slot handed out is an initialised folio like any other.
    const last = ft.highWater - 1;
    expect(ft.isLive(last)).toBe(true);
    expect([ft.refcount[last], ft.mapcount[last], ft.entire[last], ft.flags[last]]).toEqual([1, -1, -1, 0]);
    // One more allocation grows it again, with its contents.
    const f = ft.alloc(7, 0);
    expect(ft.capacity).toBeGreaterThan(cap);
    expect(ft.pfn[first[3]!]).toBe(3);
    expect(ft.pfn[f]).toBe(7);
  });

  it('never shrinks, and is nothing when the free stack or the capacity already covers n', () => {
    const ft = new FolioTable();
    const cap = ft.capacity;
    ft.reserve(0);
    ft.reserve(cap - ft.highWater);
    expect(ft.capacity).toBe(cap);
    const f = ft.alloc(1, 0);
    ft.release(f);
    ft.reserve(1);
    expect(ft.capacity).toBe(cap);
  });
});
