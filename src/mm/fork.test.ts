/** fork (kernel/fork.c:dup_mmap, mm/memory.c:copy_page_range). */
import { describe, expect, it } from 'vitest';
import { Kernel } from '../index.js';
import * as U from '../uapi/index.js';

const RW = U.PROT_READ | U.PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;

describe('fork', () => {
  it('write-protects private anon pages in both processes and clears PageAnonExclusive', () => {
    const k = new Kernel({ memory: '256MiB', thp: 'never' });
    const p = k.spawn();
    const a = p.mmap(0, 4096, RW, ANON, -1, 0);
    p.fill(a, 4096, 1);
    const pfn = p.pagemap(a).pfn;
    const c = p.fork();
    expect(c.pagemap(a).pfn).toBe(pfn);
    expect(k.folio(pfn)).toMatchObject({ refcount: 2, mapcount: 2, anonExclusive: false });
    expect(p.pagemap(a).exclusive).toBe(false);
    const copies = k.events().cow_copy;
    c.write(a, new Uint8Array([2]));
    expect(k.events().cow_copy).toBe(copies + 1);
    expect(p.read(a, 1)[0]).toBe(1);
    expect(k.check()).toEqual([]);
  });

  it('MADV_DONTFORK ranges are absent in the child; MADV_WIPEONFORK ranges are zero', () => {
    const k = new Kernel({ memory: '256MiB' });
    const p = k.spawn();
    const a = p.mmap(0, 3 * 4096, RW, ANON, -1, 0);
    p.fill(a, 3 * 4096, 5);
    p.madvise(a, 4096, U.MADV_DONTFORK);
    p.madvise(a + 8192, 4096, U.MADV_WIPEONFORK);
    const c = p.fork();
    expect(() => c.read(a, 1)).toThrow(/SIGSEGV/);
    expect(c.read(a + 4096, 1)[0]).toBe(5);
    expect(c.read(a + 8192, 1)[0]).toBe(0);
    expect(p.read(a + 8192, 1)[0]).toBe(5);
    expect(k.check()).toEqual([]);
  });

  it('does not copy page tables of shared file mappings: the child refaults them', () => {
    const k = new Kernel({ memory: '256MiB' });
    const p = k.spawn();
    const fd = p.memfd_create('f', 0);
    p.ftruncate(fd, 4096);
    const s = p.mmap(0, 4096, RW, U.MAP_SHARED, fd, 0);
    p.fill(s, 4096, 3);
    const c = p.fork();
    expect(c.pagemap(s).present).toBe(false);
    expect(c.read(s, 1)[0]).toBe(3);
    c.write(s, new Uint8Array([4]));
    expect(p.read(s, 1)[0]).toBe(4);
    expect(k.check()).toEqual([]);
  });

  it('the child does not inherit MMF flags like MMF_HAS_PINNED, and exit frees everything', () => {
    const k = new Kernel({ memory: '256MiB' });
    const free0 = k.meminfo().MemFree;
    const p = k.spawn();
    const a = p.mmap(0, 4 << 20, RW, ANON, -1, 0);
    p.fill(a, 4 << 20, 1);
    const c = p.fork();
    c.fill(a, 4096, 2);
    c.exit();
    p.exit();
    expect(k.meminfo().MemFree).toBe(free0);
    expect(k.meminfo().PageTables).toBe(0);
    expect(k.check()).toEqual([]);
  });
});
