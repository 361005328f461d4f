/**
 * The HGM mapcount designs (seed 004): what mapping pieces of a HugeTLB folio
 * does to its counters under each, what a collapse costs in per-page
 * updates, the pgtable design's truncation flaw, what the special bit
 * changes about it, and head-per-pte's overflow check.
 */
import { describe, expect, it } from 'vitest';
import { EVENT_NAMES, Kernel, type Process, SyscallError } from '../index.js';
import * as U from '../uapi/index.js';
import { HEAD_MAPCOUNT_MAX } from './hgm_mapcount.js';
import { hgmPostcopyLayout } from '../sim/postcopy/layout.js';

const PAGE = 4096;
const M2 = 2 ** 21;
const G = 2 ** 30;
const DESIGNS = ['thp-like', 'head-per-pte', 'pgtable', 'special-bit'] as const;

function setup(design: string, size = G, pages = 1) {
  const k = new Kernel({ memory: size === G ? '4GiB' : '256MiB', hugetlb: size === G ? { '1GiB': pages } : { '2MiB': pages + 2 }, policy: { hgmMapcount: design } });
  const p = k.spawn();
  const { fd, prim, alias, uffd } = hgmPostcopyLayout(p, pages * size, size);
  for (let i = 0; i < pages; i++) p.fill(alias + i * size, 1, 0);
  const pfn = p.pagemap(alias).pfn;
  const ev = (name: string): number => k.host.ev[EVENT_NAMES.indexOf(name as never)]!;
  const folio = (at = pfn) => k.folio(at)!;
  return { k, p, fd, prim, alias, uffd, pfn, ev, folio };
}

function cont(p: Process, uffd: number, start: number, len: number): void {
  p.ioctl(uffd, U.UFFDIO_CONTINUE, { range: { start, len }, mode: 0, mapped: 0 });
}

/** Map all of a 1 GiB page with 4 KiB PTEs: each 2 MiB's first page, then the rest (which no PMD leaf fits). */
function map4k(p: Process, uffd: number, prim: number): void {
  for (let b = prim; b < prim + G; b += M2) {
    cont(p, uffd, b, PAGE);
    cont(p, uffd, b + PAGE, M2 - PAGE);
  }
}

describe('counts after CONTINUE', () => {
  it('4 KiB pieces: thp-like counts each page, head-per-pte each entry, pgtable and special-bit the table once', () => {
    const want: Record<string, { mapcount: number; entire: number; page: number; refs: number }> = {
      'thp-like': { mapcount: 2, entire: 0, page: 1, refs: 2 },
      'head-per-pte': { mapcount: 2, entire: 2, page: 0, refs: 2 },
      pgtable: { mapcount: 1, entire: 1, page: 0, refs: 1 },
      'special-bit': { mapcount: 1, entire: 1, page: 0, refs: 1 },
    };
    for (const d of DESIGNS) {
      const { k, p, uffd, prim, pfn, folio } = setup(d);
      // The alias maps the page whole: one on the head, one reference.
      const f0 = folio();
      expect(f0).toMatchObject({ mapcount: 1, entireMapcount: 1 });
      cont(p, uffd, prim, PAGE);
      cont(p, uffd, prim + 5 * PAGE, PAGE);
      const fi = folio(pfn + 5);
      expect({ d, mapcount: fi.mapcount - 1, entire: fi.entireMapcount - 1, page: fi.pageMapcount, refs: fi.refcount - f0.refcount }).toEqual({ d, ...want[d] });
      expect(k.folio(pfn + 6)!.pageMapcount).toBe(0);
      // kpagecount: the page's own count plus whole mappings (v1: the head's count for every page).
      expect(k.kpagecount(pfn + 5)).toBe(want[d]!.page + want[d]!.entire + 1);
      expect(k.check()).toEqual([]);
    }
  });

  it('a 2 MiB piece of a 1 GiB page: thp-like adds 512 (one per page), head-per-pte 1, the table designs nothing more', () => {
    // Besides the alias's whole mapping (1).
    const want: Record<string, number> = { 'thp-like': 514, 'head-per-pte': 3, pgtable: 2, 'special-bit': 2 };
    for (const d of DESIGNS) {
      const { k, p, uffd, prim, pfn, ev, folio } = setup(d);
      cont(p, uffd, prim, PAGE);
      const sub = ev('hgm_subpage_mapcount');
      cont(p, uffd, prim + M2, M2);
      expect(p.pagemap(prim + M2).mappedBy).toBe(M2);
      expect([d, folio().mapcount]).toEqual([d, want[d]]);
      expect(ev('hgm_subpage_mapcount') - sub).toBe(d === 'thp-like' ? 512 : 0);
      if (d === 'thp-like') expect(folio(pfn + 512 + 7).pageMapcount).toBe(1);
      expect(k.check()).toEqual([]);
    }
  });

  it('thp-like keeps per-page counts only for folios mapped at high granularity, and drops them when the pieces go', () => {
    const { k, p, uffd, prim } = setup('thp-like', M2, 2);
    cont(p, uffd, prim, PAGE);
    const d = k.host.hgm;
    expect([...d.subpageFolios()]).toHaveLength(1);
    expect([...d.subpageFolios()][0]![1]).toBeInstanceOf(Int32Array);
    p.madvise(prim, M2, U.MADV_DONTNEED);
    expect([...d.subpageFolios()]).toHaveLength(0);
    expect(k.check()).toEqual([]);
  });
});

describe('collapse: what each design pays', () => {
  it('thp-like: a 1 GiB page fully mapped at 4 KiB collapses with exactly 262,144 page decrements', () => {
    const { k, p, uffd, prim, ev, folio } = setup('thp-like');
    map4k(p, uffd, prim);
    // 262,144 pieces and the alias's whole mapping.
    expect(folio().mapcount).toBe(262144 + 1);
    const sub = ev('hgm_subpage_mapcount');
    p.madvise(prim, G, U.MADV_COLLAPSE);
    expect(ev('hgm_subpage_mapcount') - sub).toBe(262144);
    expect(folio()).toMatchObject({ mapcount: 2, entireMapcount: 2, pageMapcount: 0 });
    expect(p.pagemap(prim + 12345 * PAGE).mappedBy).toBe(G);
    expect(k.check()).toEqual([]);
  });

  it('thp-like 4K -> 2M -> 1G: 262,144 decrements, 262,144 increments, then 262,144 decrements', () => {
    const { k, p, uffd, prim, ev, folio } = setup('thp-like');
    map4k(p, uffd, prim);
    const s0 = ev('hgm_subpage_mapcount');
    // A range short of the whole page collapses its whole 2 MiB pieces.
    p.madvise(prim, G - M2, U.MADV_COLLAPSE);
    p.madvise(prim + G - M2, M2, U.MADV_COLLAPSE);
    expect(p.pagemap(prim + G - PAGE).mappedBy).toBe(M2);
    expect(ev('hgm_subpage_mapcount') - s0).toBe(2 * 262144);
    expect(folio().mapcount).toBe(262144 + 1);
    expect(k.check()).toEqual([]);
    p.madvise(prim, G, U.MADV_COLLAPSE);
    expect(ev('hgm_subpage_mapcount') - s0).toBe(3 * 262144);
    expect(folio().mapcount).toBe(2);
    expect(k.check()).toEqual([]);
  });

  it('pgtable and special-bit: the table count becomes the leaf count (no mapcount update at all); head-per-pte drops one per entry', () => {
    for (const d of ['pgtable', 'special-bit', 'head-per-pte']) {
      const { k, p, uffd, prim, ev, folio } = setup(d, M2, 1);
      cont(p, uffd, prim, M2 - PAGE);
      cont(p, uffd, prim + M2 - PAGE, PAGE);
      const atomics = ev('atomic_mapcount');
      p.madvise(prim, M2, U.MADV_COLLAPSE);
      expect([d, ev('atomic_mapcount') - atomics]).toEqual([d, d === 'head-per-pte' ? 513 : 0]);
      expect(folio()).toMatchObject({ mapcount: 2, entireMapcount: 2 });
      expect(k.check()).toEqual([]);
    }
  });
});

describe('pgtable: the truncation flaw (Peter Xu, Y+PKwvLT8+wQ6LPA@x1n)', () => {
  it('after truncation the zap removed the leaves but the table keeps the count: hgm-mapcount-after-truncate', () => {
    const { k, p, uffd, prim, fd, pfn, folio } = setup('pgtable', M2, 2);
    cont(p, uffd, prim, PAGE);
    p.ftruncate(fd, 0);
    expect(p.pagemap(prim).present).toBe(false);
    const v = k.check();
    expect(v.map((x) => x.name)).toEqual(['hgm-mapcount-after-truncate']);
    expect(v[0]!.pfn).toBe(pfn);
    // The folio is out of the file yet mapped once, and kept alive by the table's reference.
    expect(folio()).toMatchObject({ mapcount: 1, owner: null });
    // munmap frees the table (mmap_lock for write): the count and the folio go.
    p.munmap(prim, 2 * M2);
    expect(k.check()).toEqual([]);
    expect(k.folio(pfn)!.flags).toContain('hugetlb_freed');
  });

  it('a hole punch shows it too; the designs counting leaves do not', () => {
    for (const d of DESIGNS) {
      const { k, p, uffd, prim, fd } = setup(d, M2, 2);
      cont(p, uffd, prim + M2, 3 * PAGE);
      p.fallocate(fd, U.FALLOC_FL_PUNCH_HOLE | U.FALLOC_FL_KEEP_SIZE, M2, M2);
      expect([d, k.check().map((x) => x.name)]).toEqual([d, d === 'pgtable' ? ['hgm-mapcount-after-truncate'] : []]);
    }
  });
});

describe('special-bit: does _PAGE_SPECIAL on the hstate-level entry fix truncation?', () => {
  it('yes for truncation: the zap covers the whole entry, so it clears the bit and drops the count under the page-table lock; the table stays', () => {
    const { k, p, uffd, prim, alias, fd, pfn } = setup('special-bit', M2, 2);
    cont(p, uffd, prim, PAGE);
    const pte = p.status().VmPTE;
    p.ftruncate(fd, 0);
    expect(k.check()).toEqual([]);
    expect(p.status().VmPTE).toBe(pte);
    expect(k.folio(pfn)!.flags).toContain('hugetlb_freed');
    // The file grows again: the next piece under the same table takes the count again.
    p.ftruncate(fd, 2 * M2);
    p.fill(alias, 1, 4);
    cont(p, uffd, prim + PAGE, PAGE);
    const f2 = p.pagemap(alias).pfn;
    // The alias's whole mapping and the table's count.
    expect(k.folio(f2)).toMatchObject({ mapcount: 2, entireMapcount: 2 });
    expect(k.check()).toEqual([]);
  });

  it('pgtable, the same sequence: the new page is mapped below a table whose count belongs to the old one', () => {
    const { k, p, uffd, prim, alias, fd } = setup('pgtable', M2, 2);
    cont(p, uffd, prim, PAGE);
    p.ftruncate(fd, 0);
    p.ftruncate(fd, 2 * M2);
    p.fill(alias, 1, 4);
    cont(p, uffd, prim + PAGE, PAGE);
    expect(k.folio(p.pagemap(alias).pfn)!.mapcount).toBe(1); // the alias's whole mapping only
    expect(k.check().map((x) => x.name)).toEqual(['hgm-mapcount-after-truncate']);
  });
});

describe('head-per-pte: the overflow check', () => {
  it('refuses a piece (ENOMEM; SIGBUS at a fault) before the head count would overflow, and counts the refusal', () => {
    const { k, p, uffd, prim, pfn } = setup('head-per-pte', M2, 1);
    const f = k.host.pfnFolio(pfn);
    const saved = k.host.ft.entire[f]!;
    // Stand in for ~8k other processes mapping the page at 4 KiB (2^31 / 2^18 per 1 GiB).
    k.host.ft.entire[f] = HEAD_MAPCOUNT_MAX - 2;
    cont(p, uffd, prim, PAGE);
    let err: unknown = null;
    try {
      cont(p, uffd, prim + PAGE, PAGE);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SyscallError);
    expect((err as SyscallError).code).toBe('ENOMEM');
    expect(k.hgm().overflows).toBe(1);
    p.ioctl(uffd, U.UFFDIO_UNREGISTER, { start: prim, len: M2 });
    expect(() => p.read(prim + 9 * PAGE, 1)).toThrow(/SIGBUS/);
    expect(k.hgm().overflows).toBe(2);
    k.host.ft.entire[f] = saved + 1;
    expect(k.check()).toEqual([]);
  });
});
