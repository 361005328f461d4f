/** split_folio (mm/huge_memory.c:__folio_split): the refcount rule, mappings kept, unmapped pieces freed. */
import { describe, expect, it } from 'vitest';
import { FOLL_GET, Kernel, type Process } from '../index.js';
import * as U from '../uapi/index.js';
import { splitFolio } from './huge_memory.js';

const RW = U.PROT_READ | U.PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;
const MiB = 2 ** 20;
const SPLIT = '/sys/kernel/debug/split_huge_pages';

function thp(k: Kernel, p: Process): { a: number; f: number } {
  const raw = p.mmap(0, 4 * MiB, RW, ANON, -1, 0);
  const a = Math.ceil(raw / (2 * MiB)) * 2 * MiB;
  p.fill(a, 2 * MiB, 1);
  for (let i = 0; i < 512; i += 37) p.write(a + i * 4096 + 5, new Uint8Array([i & 0xff]));
  const f = k.host.pfnFolio(p.pagemap(a).pfn);
  expect(k.host.ft.order[f]).toBe(9);
  return { a, f };
}

/** Split with a caller reference, as split_huge_page's callers hold one. */
function split(k: Kernel, f: number, order: number): number {
  k.host.folioGet(f);
  const r = splitFolio(k.host, f, order);
  k.host.folioPut(f);
  return r;
}

describe('split_folio', () => {
  it('a PMD-mapped THP becomes 512 small folios mapped by the same PTEs; contents, exclusivity and counts follow', () => {
    const k = new Kernel({ memory: '256MiB', thp: 'always' });
    const p = k.spawn();
    const { a, f } = thp(k, p);
    const before = k.meminfo();
    const pfn0 = p.pagemap(a).pfn;
    expect(split(k, f, 0)).toBe(0);
    expect(k.check()).toEqual([]);
    for (const i of [0, 1, 37, 511]) {
      const e = p.pagemap(a + i * 4096);
      expect(e.pfn).toBe(pfn0 + i);
      expect(e.mappedBy).toBe(4096);
      expect(e.anonExclusive).toBe(true);
      expect(k.folio(e.pfn)).toMatchObject({ order: 0, refcount: 1, mapcount: 1 });
    }
    expect(p.read(a + 37 * 4096 + 5, 1)[0]).toBe(37);
    expect(p.read(a + 38 * 4096 + 5, 1)[0]).toBe(1);
    expect(k.meminfo().AnonHugePages).toBe(0);
    expect(k.meminfo().AnonPages).toBe(before.AnonPages);
    expect(k.events().thp_split_page).toBe(1);
  });

  it('a THP shared with a child after fork splits into folios mapped twice, not exclusive', () => {
    const k = new Kernel({ memory: '256MiB', thp: 'always' });
    const p = k.spawn();
    const { a, f } = thp(k, p);
    const child = p.fork();
    expect(split(k, f, 0)).toBe(0);
    expect(k.check()).toEqual([]);
    const e = p.pagemap(a + 4096);
    expect(k.folio(e.pfn)).toMatchObject({ refcount: 2, mapcount: 2, anonExclusive: false });
    // COW still works on the pieces.
    p.fill(a + 4096, 4096, 9);
    expect(child.read(a + 4096, 1)[0]).toBe(1);
    expect(k.check()).toEqual([]);
  });

  it('splits to any order but 1: order-4 pieces keep per-page mapcounts and MM-ID tracking', () => {
    const k = new Kernel({ memory: '256MiB', thp: 'always' });
    const p = k.spawn();
    const { a, f } = thp(k, p);
    p.fork();
    expect(split(k, f, 1)).toBe(-22);
    expect(split(k, f, 4)).toBe(0);
    expect(k.check()).toEqual([]);
    expect(k.folio(p.pagemap(a + 16 * 4096).pfn)).toMatchObject({ order: 4, mapcount: 32, refcount: 32, maybeMappedShared: true });
  });

  it('pieces nothing maps are freed (a partially unmapped THP)', () => {
    const k = new Kernel({ memory: '256MiB', thp: 'always' });
    const p = k.spawn();
    const { a, f } = thp(k, p);
    p.madvise(a + MiB, MiB, U.MADV_DONTNEED);
    const free = k.meminfo().MemFree;
    expect(split(k, f, 0)).toBe(0);
    expect(k.meminfo().MemFree).toBe(free + 1024);
    expect(k.check()).toEqual([]);
  });

  it('an extra reference (a GUP pin or get) makes the refcount unfreezable: -EAGAIN, nothing changes', () => {
    const k = new Kernel({ memory: '256MiB', thp: 'always' });
    const p = k.spawn();
    const { a, f } = thp(k, p);
    const pages: number[] = [];
    expect(k.gup.pin_user_pages(p, a + 8192, 1, 0, pages)).toBe(1);
    expect(split(k, f, 0)).toBe(-11);
    expect(k.folio(pages[0]!)).toMatchObject({ order: 9, pincount: 1 });
    k.gup.unpin_user_pages(pages, 1);
    expect(k.gup.get_user_pages(p, a, 1, FOLL_GET, pages)).toBe(1);
    expect(split(k, f, 0)).toBe(-11);
    k.gup.put_page(pages[0]!);
    expect(split(k, f, 0)).toBe(0);
    expect(k.check()).toEqual([]);
  });

  it('the huge zero folio is -EBUSY; small folios and bad orders are -EINVAL', () => {
    const k = new Kernel({ memory: '256MiB', thp: 'always' });
    const p = k.spawn();
    const raw = p.mmap(0, 4 * MiB, RW, ANON, -1, 0);
    const a = Math.ceil(raw / (2 * MiB)) * 2 * MiB;
    p.read(a, 1);
    const z = k.host.pfnFolio(p.pagemap(a).pfn);
    expect(z).toBe(k.host.hugeZeroFolio);
    expect(split(k, z, 0)).toBe(-16);
    const { f } = thp(k, p);
    expect(split(k, f, 9)).toBe(-22);
    expect(split(k, f, -1)).toBe(-22);
    expect(split(k, k.host.zeroPage, 0)).toBe(-22);
    expect(k.check()).toEqual([]);
  });

  it('debugfs split_huge_pages splits what a range of a process maps, and logs the count', () => {
    const k = new Kernel({ memory: '256MiB', thp: 'always' });
    const p = k.spawn();
    const { a } = thp(k, p);
    k.writeSysfs(SPLIT, `${p.pid},0x${a.toString(16)},0x${(a + 2 * MiB).toString(16)}`);
    expect(k.dmesg()).toContain('1 of 1 THP split');
    expect(p.pagemap(a).mappedBy).toBe(4096);
    expect(k.folio(p.pagemap(a).pfn)!.order).toBe(0);
    expect(() => k.writeSysfs(SPLIT, '999,0x0,0x1000')).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    expect(() => k.writeSysfs(SPLIT, 'x')).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(k.check()).toEqual([]);
  });
});
