/**
 * Mapcount, refcount and vmstat accounting as mm/rmap.c keeps it, observed
 * through the syscall surface and the folio view.
 */
import { describe, expect, it } from 'vitest';
import { Kernel } from '../index.js';
import * as U from '../uapi/index.js';

const RW = U.PROT_READ | U.PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;
const M2 = 2 << 20;

function thp(k: Kernel) {
  const p = k.spawn();
  const a = p.mmap(0, M2, RW, ANON, -1, 0);
  p.fill(a, M2, 1);
  return { p, a, pfn: p.pagemap(a).pfn };
}

describe('rmap accounting', () => {
  it('a PMD-mapped THP: one reference, one entire mapping, ENTIRELY_MAPPED', () => {
    const k = new Kernel({ memory: '256MiB' });
    const { p, a, pfn } = thp(k);
    const f = k.folio(pfn)!;
    expect(p.pagemap(a).mappedBy).toBe(M2);
    expect(f).toMatchObject({ order: 9, refcount: 1, mapcount: 1, entireMapcount: 1, nrPagesMapped: 0x800000, pageMapcount: 0, anonExclusive: true });
    expect(f.flags).toContain('anon');
    expect(k.meminfo().AnonHugePages).toBe(2048);
    expect(k.meminfo().AnonPages).toBe(2048);
    expect(k.check()).toEqual([]);
  });

  it('PTE-mapping a THP moves the count to 512 PTE mappings and keeps exclusivity per page', () => {
    const k = new Kernel({ memory: '256MiB' });
    const { p, a, pfn } = thp(k);
    p.mprotect(a + 4096, 4096, U.PROT_READ);
    const f = k.folio(pfn + 7)!;
    expect(p.pagemap(a).mappedBy).toBe(4096);
    expect(f).toMatchObject({ refcount: 512, mapcount: 512, entireMapcount: 0, nrPagesMapped: 512, pageMapcount: 1, anonExclusive: true });
    expect(k.meminfo().AnonHugePages).toBe(0);
    expect(k.meminfo().AnonPages).toBe(2048);
    // The mprotect optimization maps the exclusive pages writable again.
    p.mprotect(a + 4096, 4096, RW);
    expect(k.check()).toEqual([]);
  });

  it('fork shares a THP PMD: entire mapcount 2, exclusivity cleared, MM_IDs tracked', () => {
    const k = new Kernel({ memory: '256MiB' });
    const { p, a, pfn } = thp(k);
    const c = p.fork();
    const f = k.folio(pfn)!;
    expect(f).toMatchObject({ refcount: 2, mapcount: 2, entireMapcount: 2, anonExclusive: false, maybeMappedShared: true });
    expect(f.mmIdMapcounts).toEqual([1, 1]);
    expect(c.pagemap(a).mappedBy).toBe(M2);
    // AnonPages counts pages, not mappings: still 512.
    expect(k.meminfo().AnonPages).toBe(2048);
    expect(k.check()).toEqual([]);
  });

  it('a write after fork splits the parent PMD and copies one 4 KiB page', () => {
    const k = new Kernel({ memory: '256MiB' });
    const { p, a, pfn } = thp(k);
    const c = p.fork();
    p.write(a + 8192, new Uint8Array([5]));
    const f = k.folio(pfn)!;
    // The child's PMD (1) plus the parent's 511 remaining PTEs.
    expect(f).toMatchObject({ refcount: 512, mapcount: 512, entireMapcount: 1 });
    expect(k.folio(pfn + 2)!.pageMapcount).toBe(0);
    expect(p.pagemap(a + 8192).pfn).not.toBe(pfn + 2);
    expect(c.read(a + 8192, 1)[0]).toBe(1);
    expect(k.events().thp_split_pmd).toBe(1);
    expect(k.check()).toEqual([]);
  });

  it('after the child exits, the parent reuses shared pages instead of copying', () => {
    const k = new Kernel({ memory: '256MiB' });
    const p = k.spawn();
    const a = p.mmap(0, 4096, RW, ANON | 0, -1, 0);
    p.fill(a, 4096, 3);
    const pfn = p.pagemap(a).pfn;
    p.fork().exit();
    expect(k.folio(pfn)!.anonExclusive).toBe(false);
    const before = k.events().cow_copy;
    p.write(a, new Uint8Array([4]));
    expect(k.events().cow_copy).toBe(before);
    expect(p.pagemap(a).pfn).toBe(pfn);
    expect(k.folio(pfn)!.anonExclusive).toBe(true);
    expect(k.check()).toEqual([]);
  });

  it('shared file pages: one page-cache reference per page plus one per mapping', () => {
    const k = new Kernel({ memory: '256MiB' });
    const p = k.spawn();
    const fd = p.memfd_create('m', 0);
    p.ftruncate(fd, 4096);
    const s1 = p.mmap(0, 4096, RW, U.MAP_SHARED, fd, 0);
    const s2 = p.mmap(0, 4096, RW, U.MAP_SHARED, fd, 0);
    p.write(s1, new Uint8Array([1]));
    p.read(s2, 1);
    const f = k.folio(p.pagemap(s1).pfn)!;
    expect(f).toMatchObject({ refcount: 3, mapcount: 2, expectedRefCount: 3 });
    expect(f.flags).toContain('swapbacked');
    expect(k.meminfo()).toMatchObject({ Shmem: 4, Mapped: 4, Cached: 4 });
    expect(p.pagemap(s1).file).toBe(true);
    expect(p.pagemap(s1).exclusive).toBe(false);
    expect(k.check()).toEqual([]);
  });
});
