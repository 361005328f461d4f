/** mremap (mm/mremap.c). */
import { describe, expect, it } from 'vitest';
import { Kernel } from '../index.js';
import * as U from '../uapi/index.js';

const RW = U.PROT_READ | U.PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;

describe('mremap', () => {
  it('moves pages with their folios: same pfns, same counts, contents kept', () => {
    const k = new Kernel({ memory: '256MiB', thp: 'never' });
    const p = k.spawn();
    const a = p.mmap(0, 4 * 4096, RW, ANON, -1, 0);
    p.fill(a, 4 * 4096, 6);
    const pfn = p.pagemap(a).pfn;
    const b = p.mremap(a, 4 * 4096, 8 * 4096, U.MREMAP_MAYMOVE, 0);
    expect(p.pagemap(b).pfn).toBe(pfn);
    expect(p.read(b, 2)).toEqual(new Uint8Array([6, 6]));
    expect(p.read(b + 5 * 4096, 1)[0]).toBe(0);
    expect(k.folio(pfn)).toMatchObject({ refcount: 1, mapcount: 1, anonExclusive: true });
    expect(k.check()).toEqual([]);
  });

  it('grows in place when the space above is free, and shrinks in place', () => {
    const k = new Kernel({ memory: '256MiB' });
    const p = k.spawn();
    const a = p.mmap(0x10000000, 4096, RW, ANON | U.MAP_FIXED, -1, 0);
    expect(p.mremap(a, 4096, 3 * 4096, 0)).toBe(a);
    p.fill(a, 3 * 4096, 1);
    expect(p.mremap(a, 3 * 4096, 4096, 0)).toBe(a);
    expect(() => p.read(a + 4096, 1)).toThrow(/SIGSEGV/);
    p.mmap(a + 4096, 4096, RW, ANON | U.MAP_FIXED, -1, 0);
    p.mprotect(a + 4096, 4096, U.PROT_READ);
    expect(() => p.mremap(a, 4096, 2 * 4096, 0)).toThrow(/ENOMEM/);
    expect(k.check()).toEqual([]);
  });

  it('moves half of a THP: the PMD is split and one folio is mapped by two VMAs', () => {
    const k = new Kernel({ memory: '256MiB' });
    const p = k.spawn();
    const a = p.mmap(0, 2 << 20, RW, ANON, -1, 0);
    p.fill(a, 2 << 20, 2);
    const pfn = p.pagemap(a).pfn;
    const dst = p.mmap(0, 1 << 20, U.PROT_NONE, ANON, -1, 0);
    expect(p.mremap(a + (1 << 20), 1 << 20, 1 << 20, U.MREMAP_MAYMOVE | U.MREMAP_FIXED, dst)).toBe(dst);
    expect(p.pagemap(dst).pfn).toBe(pfn + 256);
    expect(p.pagemap(a).mappedBy).toBe(4096);
    expect(k.folio(pfn)).toMatchObject({ refcount: 512, mapcount: 512, entireMapcount: 0 });
    expect(k.check()).toEqual([]);
    const c = p.fork();
    p.fill(a, 1 << 20, 3);
    expect(c.read(a, 1)[0]).toBe(2);
    expect(k.check()).toEqual([]);
  });

  it('validates in the kernel order', () => {
    const k = new Kernel({ memory: '256MiB' });
    const p = k.spawn();
    const a = p.mmap(0, 2 * 4096, RW, ANON, -1, 0);
    expect(() => p.mremap(a, 4096, 4096, 8)).toThrow(/EINVAL/);
    expect(() => p.mremap(a + 1, 4096, 4096, 0)).toThrow(/EINVAL/);
    expect(() => p.mremap(a, 4096, 0, 0)).toThrow(/EINVAL/);
    expect(() => p.mremap(a, 4096, 4096, U.MREMAP_FIXED, 0x20000000)).toThrow(/EINVAL/);
    expect(() => p.mremap(a, 4096, 8192, U.MREMAP_DONTUNMAP | U.MREMAP_MAYMOVE, 0x20000000)).toThrow(/EINVAL/);
    expect(() => p.mremap(a, 8192, 8192, U.MREMAP_FIXED | U.MREMAP_MAYMOVE, a + 4096)).toThrow(/EINVAL/);
    expect(() => p.mremap(0x30000000, 4096, 8192, U.MREMAP_MAYMOVE)).toThrow(/EFAULT/);
    expect(() => p.mremap(a, 3 * 4096, 4 * 4096, U.MREMAP_MAYMOVE)).toThrow(/EFAULT/);
    expect(k.check()).toEqual([]);
  });
});

describe('mremap overcommit', () => {
  it('growing an accounted mapping charges the growth: more than RAM at once is ENOMEM (OVERCOMMIT_GUESS); MAP_NORESERVE is not charged', () => {
    const k = new Kernel({ memory: '256MiB' });
    const p = k.spawn();
    const MiB = 2 ** 20;
    const a = p.mmap(0, 10 * MiB, RW, ANON, -1, 0);
    expect(p.mremap(a, 10 * MiB, 200 * MiB, U.MREMAP_MAYMOVE)).toBeGreaterThan(0);
    const c = p.mmap(0, 10 * MiB, RW, ANON, -1, 0);
    expect(() => p.mremap(c, 10 * MiB, 300 * MiB, U.MREMAP_MAYMOVE)).toThrow(expect.objectContaining({ code: 'ENOMEM' }));
    // MAP_NORESERVE mappings carry no VM_ACCOUNT.
    const b = p.mmap(0, 10 * MiB, RW, ANON | U.MAP_NORESERVE, -1, 0);
    expect(p.mremap(b, 10 * MiB, 300 * MiB, U.MREMAP_MAYMOVE)).toBeGreaterThan(0);
    expect(k.check()).toEqual([]);
  });
});

describe('droppable memory', () => {
  it('MAP_DROPPABLE folios are anonymous but not swap-backed', () => {
    const k = new Kernel({ memory: '256MiB', thp: 'never' });
    const p = k.spawn();
    const a = p.mmap(0, 4096, RW, U.MAP_DROPPABLE | U.MAP_ANONYMOUS, -1, 0);
    const b = p.mmap(0, 4096, RW, ANON, -1, 0);
    p.fill(a, 4096, 1);
    p.fill(b, 4096, 1);
    const flagsOf = (addr: number) => k.kpageflags(p.pagemap(addr).pfn);
    expect(flagsOf(a) & (1 << U.KPF_ANON)).not.toBe(0);
    expect(flagsOf(a) & (1 << U.KPF_SWAPBACKED)).toBe(0);
    expect(flagsOf(b) & (1 << U.KPF_SWAPBACKED)).not.toBe(0);
    expect(k.check()).toEqual([]);
  });
});
