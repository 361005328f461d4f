/**
 * The oracle must catch what it claims to: corrupt one piece of state at a
 * time and expect the named violation.
 */
import { describe, expect, it } from 'vitest';
import { Kernel, type Process } from '../index.js';
import * as U from '../uapi/index.js';
import { FOLL_WRITE } from '../kernel_gup.js';
import { PG } from '../mm/folio.js';
import { NodeStat } from '../mm/vmstat.js';
import { Pte, walk, type Walk } from '../mm/pgtable.js';
import { Level } from '../mm/page.js';
import type { AddressSpace } from '../mm/fs_types.js';

function setup(thp: 'always' | 'never' = 'never') {
  const k = new Kernel({ memory: '256MiB', thp });
  const p = k.spawn();
  const a = p.mmap(0, 4 << 20, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
  p.fill(a, 4 << 20, 1);
  expect(k.check()).toEqual([]);
  const pfn = p.pagemap(a).pfn;
  const f = k.host.pfnFolio(pfn);
  return { k, p, a, f };
}

function names(k: Kernel): string[] {
  return [...new Set(k.check().map((v) => v.name))];
}

function leaf(p: Process, addr: number): Walk {
  const w: Walk = { table: null as never, idx: 0, level: Level.PTE, parent: null, pidx: 0 };
  walk(p.mm!.pgd, addr, w);
  return w;
}

describe('oracle detects corruption', () => {
  it('a write into the arrays every empty PTE table shares', () => {
    const { k, p, a } = setup();
    p.madvise(a, 2 << 20, U.MADV_DONTNEED);
    const t = leaf(p, a).table;
    expect(t.used).toBe(0);
    t.fl[3] = Pte.PRESENT;
    try {
      expect(names(k)).toContain('empty-pte-table-written');
    } finally {
      t.fl[3] = 0;
    }
    expect(k.check()).toEqual([]);
  });

  it('a none entry that still names a child table', () => {
    const { k, p, a } = setup();
    const w = leaf(p, a);
    // The PMD entry above the PTE table: cleared, its child left in place.
    const pmd = w.parent!;
    const fl = pmd.fl[w.pidx]!;
    pmd.fl[w.pidx] = 0;
    try {
      expect(names(k)).toContain('pgtable-broken');
    } finally {
      pmd.fl[w.pidx] = fl;
    }
    expect(k.check()).toEqual([]);
  });

  it('refcount too high or too low', () => {
    const { k, f } = setup();
    k.host.ft.refcount[f]!++;
    expect(names(k)).toContain('refcount-above-expected');
    k.host.ft.refcount[f]! -= 2;
    expect(names(k)).toContain('refcount-zero-live');
  });

  it('mapcount drift, small and large', () => {
    const s = setup();
    s.k.host.ft.mapcount[s.f]!++;
    expect(names(s.k)).toContain('mapcount-mismatch');
    const t = setup('always');
    t.k.host.ft.entire[t.f]!++;
    expect(names(t.k)).toEqual(expect.arrayContaining(['entire-mapcount-mismatch']));
    t.k.host.ft.entire[t.f]!--;
    t.k.host.ft.nrMapped[t.f] = 3;
    expect(names(t.k)).toContain('nr-pages-mapped-mismatch');
  });

  it('a writable PTE of a non-exclusive anonymous page', () => {
    const { k, p, a, f } = setup();
    k.host.ft.flags[f]! &= ~PG.ANON_EXCLUSIVE;
    expect(names(k)).toEqual(['writable-anon-not-exclusive']);
    void p;
    void a;
  });

  it('an exclusive page mapped twice (fork that forgot to clear exclusivity)', () => {
    const { k, p, a, f } = setup();
    p.fork();
    k.host.ft.flags[f]! |= PG.ANON_EXCLUSIVE;
    expect(names(k)).toContain('exclusive-page-shared');
    void a;
  });

  it('a PTE left behind outside any VMA, and a PTE mapping a freed page', () => {
    const { k, p, a } = setup();
    const w = leaf(p, a);
    const pfn = w.table.pfn[w.idx]!;
    p.mm!.vmas[0]!.start += 4096;
    expect(names(k)).toEqual(expect.arrayContaining(['pte-outside-vma']));
    p.mm!.vmas[0]!.start -= 4096;
    w.table.pfn[w.idx] = 60000;
    expect(names(k)).toEqual(expect.arrayContaining(['pte-maps-free-page', 'leaked-page']));
    w.table.pfn[w.idx] = pfn;
    w.table.fl[w.idx]! &= ~Pte.RW;
    p.mm!.vmas[0]!.flags &= ~0x2;
    w.table.fl[w.idx]! |= Pte.RW;
    expect(names(k)).toContain('pte-writable-without-vm-write');
  });

  it('vmstat, rss, page tables and physical memory accounting', () => {
    const { k, p } = setup();
    k.host.stat[NodeStat.NR_ANON_MAPPED]!++;
    expect(names(k)).toEqual(['vmstat-mismatch']);
    k.host.stat[NodeStat.NR_ANON_MAPPED]!--;
    p.mm!.rss[1]!++;
    expect(names(k)).toEqual(['rss-mismatch']);
    p.mm!.rss[1]!--;
    p.mm!.pgtablesBytes += 4096;
    expect(names(k)).toEqual(['pgtables-bytes-mismatch']);
    p.mm!.pgtablesBytes -= 4096;
    k.host.pa.zones[0]!.free.remove(60000, 60001);
    expect(names(k)).toEqual(['physmem-accounting']);
  });

  it('the zero page written through', () => {
    const { k } = setup();
    k.host.content.fill(k.host.zeroPage, 1, 10, 1, 7);
    expect(names(k)).toEqual(['content-mismatch']);
  });

  it('a private file mapping writing into the page cache', () => {
    const k = new Kernel({ memory: '256MiB' });
    const p = k.spawn();
    const fd = p.memfd_create('f', 0);
    p.ftruncate(fd, 4096);
    const a = p.mmap(0, 4096, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE, fd, 0);
    p.read(a, 1);
    const w = leaf(p, a);
    w.table.fl[w.idx]! |= Pte.RW;
    expect(names(k)).toEqual(['writable-private-file-page']);
  });

  it('a shmem THP: its page-cache index unaligned, a table deposited under its PMD', () => {
    const k = new Kernel({ memory: '256MiB', thp: { shmemEnabled: 'always' } });
    const p = k.spawn();
    const fd = p.memfd_create('f', 0);
    p.ftruncate(fd, 4 << 20);
    const raw = p.mmap(0, 6 << 20, U.PROT_NONE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
    const a = p.mmap(Math.ceil(raw / (2 << 20)) * (2 << 20), 2 << 20, U.PROT_READ | U.PROT_WRITE, U.MAP_SHARED | U.MAP_FIXED, fd, 0);
    p.read(a, 1);
    expect(k.check()).toEqual([]);
    const w = leaf(p, a);
    expect(w.level).toBe(Level.PMD);
    w.table.deposit = new Int32Array(512);
    w.table.deposit[w.idx] = 1;
    expect(names(k)).toContain('file-pmd-deposit');
    w.table.deposit = null;
    expect(k.check()).toEqual([]);
    const f = k.host.pfnFolio(w.table.pfn[w.idx]!);
    const mapping = k.host.ft.owner[f] as AddressSpace;
    mapping.pages.delete(0, 9);
    mapping.pages.set(256, 0, f);
    k.host.ft.index[f] = 256;
    expect(names(k)).toContain('pagecache-index-unaligned');
  });

  it('swap areas: the priority lists and S_SWAPFILE', () => {
    const k = new Kernel({ memory: '64MiB', swap: '1MiB' });
    const p = k.spawn();
    const fd = p.open('/root/sw', U.O_CREAT | U.O_RDWR, 0o600);
    for (let i = 0; i < 4; i++) p.pwrite(fd, new Uint8Array(4096), 4096, i * 4096);
    const h = new Uint8Array(4096);
    new DataView(h.buffer).setUint32(1024, 1, true);
    new DataView(h.buffer).setUint32(1028, 3, true);
    h.set(new TextEncoder().encode('SWAPSPACE2'), 4086);
    p.pwrite(fd, h, 4096, 0);
    p.swapon('/root/sw', 0);
    expect(k.check()).toEqual([]);
    const st = k.host.swap;
    st.activeList.reverse();
    expect(names(k)).toContain('swap-area-lists');
    st.activeList.reverse();
    st.leastPriority--;
    expect(names(k)).toContain('swap-area-lists');
    st.leastPriority++;
    const inode = st.activeList.find((si) => si.inode !== null)!.inode as { iFlags: number };
    inode.iFlags &= ~256;
    expect(names(k)).toContain('swapfile-flag');
  });

  it('a shmem folio of an order no page-cache THP size has', () => {
    const k = new Kernel({ memory: '64MiB' });
    const p = k.spawn();
    const fd = p.memfd_create('f', 0);
    p.ftruncate(fd, 4096);
    const a = p.mmap(0, 4096, U.PROT_READ | U.PROT_WRITE, U.MAP_SHARED, fd, 0);
    p.write(a, new Uint8Array([1]));
    expect(k.check()).toEqual([]);
    const f = k.host.pfnFolio(leaf(p, a).table.pfn[leaf(p, a).idx]!);
    // A 1 GiB-order shmem folio: beyond MAX_PAGECACHE_ORDER.
    k.host.ft.order[f] = 18;
    expect(names(k)).toContain('shmem-folio-order');
  });

  it('GUP references: a lost pin, a leaked pin reference, a _pincount drift, pin stats, MMF_HAS_PINNED, a pinned page made shared', () => {
    const { k, p, a, f } = setup();
    const pages: number[] = [];
    expect(k.gup.pin_user_pages(p, a, 1, FOLL_WRITE, pages)).toBe(1);
    expect(k.check()).toEqual([]);
    // A pin dropped from the folio without the unpin (the bias is gone).
    k.host.ft.refcount[f]! -= 1024;
    expect(names(k)).toContain('refcount-below-expected');
    expect(names(k)).toContain('pinned-not-maybe-pinned');
    k.host.ft.refcount[f]! += 1024;
    k.host.stat[NodeStat.NR_FOLL_PIN_RELEASED]! += 1;
    expect(names(k)).toContain('foll-pin-stat-mismatch');
    k.host.stat[NodeStat.NR_FOLL_PIN_RELEASED]! -= 1;
    p.mm!.flags &= ~(1 << 27);
    expect(names(k)).toContain('has-pinned-cleared');
    p.mm!.flags |= 1 << 27;
    k.host.ft.flags[f]! &= ~PG.ANON_EXCLUSIVE;
    expect(names(k)).toContain('pinned-anon-not-exclusive');
    k.host.ft.flags[f]! |= PG.ANON_EXCLUSIVE;
    expect(k.check()).toEqual([]);
    k.gup.unpin_user_pages(pages, 1);
    // A large folio's _pincount out of step with the pins.
    const t = setup('always');
    expect(t.k.gup.pin_user_pages(t.p, t.a, 2, 0, pages)).toBe(2);
    t.k.host.ft.pincount[t.f]! += 1;
    expect(names(t.k)).toContain('pin-counter-mismatch');
  });
});
