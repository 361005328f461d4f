/** Address-space layout and VMA management (mm/mmap.c, mm/vma.c). */
import { describe, expect, it } from 'vitest';
import { Kernel } from '../index.js';
import * as U from '../uapi/index.js';

const RW = U.PROT_READ | U.PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;

describe('mmap placement and VMAs', () => {
  it('places mappings top-down below mmap_base (0x7ffff7fff000 without randomization)', () => {
    const k = new Kernel({ memory: '256MiB' });
    const p = k.spawn();
    expect(p.mmap(0, 4096, RW, ANON, -1, 0)).toBe(0x7ffff7ffe000);
    expect(p.mmap(0, 8192, RW, ANON, -1, 0)).toBe(0x7ffff7ffc000);
  });

  it('aligns anonymous mappings of a multiple of 2 MiB to 2 MiB (THP friendly)', () => {
    const k = new Kernel({ memory: '256MiB' });
    const p = k.spawn();
    const a = p.mmap(0, 4 << 20, RW, ANON, -1, 0);
    expect(a % (2 << 20)).toBe(0);
    expect(a).toBe(0x7ffff7a00000);
    // Not a multiple of 2 MiB: no alignment.
    expect(p.mmap(0, (2 << 20) + 4096, RW, ANON, -1, 0) % (2 << 20)).not.toBe(0);
  });

  it('merges adjacent compatible anonymous mappings into one VMA', () => {
    const k = new Kernel({ memory: '256MiB' });
    const p = k.spawn();
    const a = p.mmap(0, 4096, RW, ANON, -1, 0);
    const b = p.mmap(0, 4096, RW, ANON, -1, 0);
    expect(b).toBe(a - 4096);
    expect(p.smaps().length).toBe(1);
    p.mprotect(a, 4096, U.PROT_READ);
    expect(p.smaps().length).toBe(2);
    p.mprotect(a, 4096, RW);
    expect(p.smaps().length).toBe(1);
  });

  it('MAP_FIXED replaces what was there; MAP_FIXED_NOREPLACE refuses', () => {
    const k = new Kernel({ memory: '256MiB' });
    const p = k.spawn();
    const a = p.mmap(0, 3 * 4096, RW, ANON, -1, 0);
    p.fill(a, 3 * 4096, 7);
    expect(p.mmap(a + 4096, 4096, RW, ANON | U.MAP_FIXED, -1, 0)).toBe(a + 4096);
    expect(p.read(a, 3)).toEqual(new Uint8Array([7, 7, 7]));
    expect(p.read(a + 4096, 1)[0]).toBe(0);
    expect(() => p.mmap(a, 4096, RW, ANON | U.MAP_FIXED_NOREPLACE, -1, 0)).toThrow(/EEXIST/);
    expect(k.check()).toEqual([]);
  });

  it('munmap in the middle splits the VMA and frees the page tables nothing needs', () => {
    const k = new Kernel({ memory: '256MiB', thp: 'never' });
    const p = k.spawn();
    const pt0 = k.meminfo().PageTables;
    const a = p.mmap(0, 8 << 20, RW, ANON, -1, 0);
    p.fill(a, 8 << 20, 1);
    expect(k.meminfo().PageTables - pt0).toBe(4 * (2 + 4)); // PUD, PMD + 4 PTE tables
    p.munmap(a + (2 << 20), 4 << 20);
    expect(p.smaps().length).toBe(2);
    expect(k.meminfo().PageTables - pt0).toBe(4 * (2 + 2));
    p.munmap(a, 8 << 20);
    expect(k.meminfo().PageTables - pt0).toBe(0);
    expect(k.check()).toEqual([]);
  });

  it('max_map_count limits splits (ENOMEM from munmap, EAGAIN from madvise)', () => {
    const k = new Kernel({ memory: '256MiB', maxMapCount: 3 });
    const p = k.spawn();
    const a = p.mmap(0, 16 * 4096, RW, ANON, -1, 0);
    const b = p.mmap(0x100000000, 4096, RW, ANON, -1, 0);
    const c = p.mmap(0x200000000, 4096, RW, ANON, -1, 0);
    expect([a, b, c].length).toBe(3);
    expect(() => p.munmap(a + 4096, 4096)).toThrow(/ENOMEM/);
    expect(() => p.madvise(a + 4096, 4096, U.MADV_DONTFORK)).toThrow(/EAGAIN/);
    expect(k.check()).toEqual([]);
  });
});
