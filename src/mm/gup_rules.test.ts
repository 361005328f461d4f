/**
 * The argument and VMA rules of mm/gup.c (gup.md §1), one table row per test:
 * which wrapper returns -EINVAL and which 0, the GUP-fast filters, the
 * check_vma_flags errnos, the fault errnos, and partial results.
 */
import { describe, expect, it } from 'vitest';
import {
  FOLL_ANON,
  FOLL_FORCE,
  FOLL_GET,
  FOLL_LONGTERM,
  FOLL_NOFAULT,
  FOLL_PCI_P2PDMA,
  FOLL_PIN,
  FOLL_SPLIT_PMD,
  FOLL_TOUCH,
  FOLL_WRITE,
  Kernel,
  type Process,
} from '../index.js';
import * as U from '../uapi/index.js';

const RW = U.PROT_READ | U.PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;
const EINVAL = -22;
const EFAULT = -14;
const EOVERFLOW = -75;
const ENOMEM = -12;
/** FOLL_TRIED, FOLL_REMOTE, FOLL_FAST_ONLY, FOLL_UNLOCKABLE, FOLL_MADV_POPULATE: internal (mm/internal.h). */
const INTERNAL = [1 << 16, 1 << 17, 1 << 18, 1 << 19, 1 << 20, 1 << 21, 1 << 22];

function boot(memory = '256MiB'): { k: Kernel; p: Process; a: number } {
  const k = new Kernel({ memory, thp: 'never' });
  const p = k.spawn();
  const a = p.mmap(0, 8 * 4096, RW, ANON, -1, 0);
  p.fill(a, 8 * 4096, 1);
  return { k, p, a };
}

type Call = (k: Kernel, p: Process, a: number, n: number, flags: number, pages: number[] | null) => number;

const WRAPPERS: [string, Call, number][] = [
  ['get_user_pages', (k, p, a, n, f, pg) => k.gup.get_user_pages(p, a, n, f, pg), EINVAL],
  ['get_user_pages_remote', (k, p, a, n, f, pg) => k.gup.get_user_pages_remote(p, a, n, f, pg), EINVAL],
  ['get_user_pages_fast', (k, p, a, n, f, pg) => k.gup.get_user_pages_fast(p, a, n, f, pg as number[]), EINVAL],
  ['get_user_pages_fast_only', (k, p, a, n, f, pg) => k.gup.get_user_pages_fast_only(p, a, n, f, pg as number[]), EINVAL],
  ['pin_user_pages', (k, p, a, n, f, pg) => k.gup.pin_user_pages(p, a, n, f, pg as number[]), 0],
  ['pin_user_pages_remote', (k, p, a, n, f, pg) => k.gup.pin_user_pages_remote(p, a, n, f, pg as number[]), 0],
  ['pin_user_pages_fast', (k, p, a, n, f, pg) => k.gup.pin_user_pages_fast(p, a, n, f, pg as number[]), EINVAL],
];

describe('is_valid_gup_args: invalid combinations', () => {
  for (const [name, call, invalid] of WRAPPERS) {
    const isPin = name.startsWith('pin');
    it(`${name} answers ${invalid === 0 ? '0' : '-EINVAL'} to each invalid combination, and nothing is taken`, () => {
      const { k, p, a } = boot();
      const pages: number[] = [];
      const bad: [string, number, number[] | null][] = [
        ...INTERNAL.map((f): [string, number, number[] | null] => [`internal 0x${f.toString(16)}`, f, pages]),
        ['FOLL_TOUCH', FOLL_TOUCH, pages],
        ['LONGTERM|PCI_P2PDMA', FOLL_LONGTERM | FOLL_PCI_P2PDMA, pages],
        ['no pages array', 0, null],
      ];
      if (isPin) bad.push(['GET with PIN', FOLL_GET, pages]);
      else bad.push(['LONGTERM without PIN', FOLL_LONGTERM, pages]);
      for (const [what, flags, pg] of bad) {
        // get_user_pages may run without a pages array (it just faults in); it is valid there.
        if (what === 'no pages array' && (name === 'get_user_pages' || name === 'get_user_pages_remote')) continue;
        expect([what, call(k, p, a, 1, flags, pg)]).toEqual([what, invalid]);
      }
      expect(k.vmstat().nr_foll_pin_acquired).toBe(0);
      expect(k.check()).toEqual([]);
    });
  }

  it('get_user_pages without a pages array only faults the range in', () => {
    const { k, p } = boot();
    const b = p.mmap(0, 4 * 4096, RW, ANON, -1, 0);
    expect(k.gup.get_user_pages(p, b, 4, FOLL_WRITE, null)).toBe(4);
    expect(p.pagemap(b + 3 * 4096).present).toBe(true);
    expect(k.check()).toEqual([]);
  });

  it('JS values no C caller could pass are invalid arguments, never a TypeError', () => {
    const { k, p, a } = boot();
    for (const v of [NaN, -1, 1.5, '1', undefined, null, {}, 2 ** 60]) {
      const pages: number[] = [];
      expect(() => k.gup.get_user_pages(p, v as number, 1, 0, pages)).not.toThrow();
      expect(() => k.gup.pin_user_pages_fast(p, a, v as number, 0, pages)).not.toThrow();
      expect(() => k.gup.pin_user_pages(p, a, 1, v as number, pages)).not.toThrow();
    }
    expect(k.check()).toEqual([]);
  });
});

describe('GUP-fast entry checks (gup_fast_fallback)', () => {
  it('flags outside the fast set are -EINVAL; a range past TASK_SIZE is -EFAULT; nr_pages 0 is 0', () => {
    const { k, p, a } = boot();
    expect(k.gup.get_user_pages_fast(p, a, 1, FOLL_ANON, [])).toBe(EINVAL);
    expect(k.gup.get_user_pages_fast(p, 0x7ffffffff000, 4, 0, [])).toBe(EFAULT);
    expect(k.gup.get_user_pages_fast(p, a, 0, 0, [])).toBe(0);
    // nr_pages is an int widened to unsigned long: -1 is a length that wraps past 2^64.
    expect(k.gup.get_user_pages_fast(p, a, -1, 0, [])).toBe(EOVERFLOW);
    expect(k.gup.get_user_pages_fast(p, 2n ** 64n - 4096n as unknown as number, 1, 0, [])).toBe(EOVERFLOW);
    expect(k.gup.get_user_pages_fast(p, 2n ** 60n as unknown as number, 1, 0, [])).toBe(EFAULT);
    // An int nr_pages of 2^32 + 1 is 1.
    const pages: number[] = [];
    expect(k.gup.get_user_pages_fast(p, a, 2 ** 32 + 1, 0, pages)).toBe(1);
    k.gup.put_page(pages[0]!);
  });

  it('FAST_ONLY stops at the first page that needs a fault and returns what it took; fallback returns the fast pages when the slow path fails', () => {
    const { k, p, a } = boot();
    p.munmap(a + 4 * 4096, 4 * 4096);
    const pages: number[] = [];
    expect(k.gup.get_user_pages_fast_only(p, a, 8, 0, pages)).toBe(4);
    for (const pfn of pages.slice(0, 4)) k.gup.put_page(pfn);
    expect(k.gup.pin_user_pages_fast(p, a, 8, 0, pages)).toBe(4);
    k.gup.unpin_user_pages(pages, 4);
    expect(k.check()).toEqual([]);
  });

  it('a FOLL_PIN GUP-fast during fork (odd write_protect_seq) takes nothing; the slow path then pins', () => {
    const { k, p, a } = boot();
    p.mm!.writeProtectSeq = 1;
    const pages: number[] = [];
    expect(k.gup.get_user_pages_fast_only(p, a, 2, 0, pages)).toBe(2); // FOLL_GET is not affected
    k.gup.put_page(pages[0]!);
    k.gup.put_page(pages[1]!);
    expect(k.gup.pin_user_pages_fast(p, a, 2, 0, pages)).toBe(2);
    p.mm!.writeProtectSeq = 2;
    k.gup.unpin_user_pages(pages, 2);
    expect(k.check()).toEqual([]);
  });
});

describe('check_vma_flags and the walk', () => {
  it('-EFAULT: no VMA, FOLL_ANON on a file mapping, a write without VM_WRITE, a read of PROT_NONE', () => {
    const { k, p, a } = boot();
    const pages: number[] = [];
    expect(k.gup.get_user_pages(p, 0x10000, 1, 0, pages)).toBe(EFAULT);
    const fd = p.memfd_create('m', 0);
    p.ftruncate(fd, 4096);
    const m = p.mmap(0, 4096, RW, U.MAP_SHARED, fd, 0);
    expect(k.gup.get_user_pages(p, m, 1, FOLL_ANON, pages)).toBe(EFAULT);
    p.mprotect(a, 4096, U.PROT_READ);
    expect(k.gup.get_user_pages(p, a, 1, FOLL_WRITE, pages)).toBe(EFAULT);
    p.mprotect(a, 4096, U.PROT_NONE);
    expect(k.gup.get_user_pages(p, a, 1, 0, pages)).toBe(EFAULT);
    expect(k.check()).toEqual([]);
  });

  it('FOLL_FORCE: reads PROT_NONE (VM_MAYREAD), writes a private R/O mapping by COW, never a shared one', () => {
    const { k, p, a } = boot();
    const pages: number[] = [];
    p.mprotect(a, 4096, U.PROT_NONE);
    expect(k.gup.get_user_pages(p, a, 1, FOLL_FORCE, pages)).toBe(1);
    k.gup.put_page(pages[0]!);
    p.mprotect(a, 4096, U.PROT_READ);
    const child = p.fork();
    // The page is shared with the child: a FORCE write breaks COW in the parent only.
    expect(k.gup.get_user_pages(p, a, 1, FOLL_WRITE | FOLL_FORCE, pages)).toBe(1);
    expect(pages[0]).not.toBe(child.pagemap(a).pfn);
    k.gup.put_page(pages[0]!);
    const fd = p.memfd_create('m', 0);
    p.ftruncate(fd, 4096);
    const m = p.mmap(0, 4096, U.PROT_READ, U.MAP_SHARED, fd, 0);
    expect(k.gup.get_user_pages(p, m, 1, FOLL_WRITE | FOLL_FORCE, pages)).toBe(EFAULT);
    expect(k.check()).toEqual([]);
  });

  it('FOLL_NOFAULT where a fault is needed is -EFAULT; a SIGBUS fault is -EFAULT', () => {
    const { k, p } = boot();
    const b = p.mmap(0, 4096, RW, ANON, -1, 0);
    expect(k.gup.get_user_pages(p, b, 1, FOLL_NOFAULT, [])).toBe(EFAULT);
    const fd = p.memfd_create('m', 0);
    const m = p.mmap(0, 4096, RW, U.MAP_SHARED, fd, 0); // beyond EOF: the fault is SIGBUS
    expect(k.gup.get_user_pages(p, m, 1, 0, [])).toBe(EFAULT);
    expect(k.check()).toEqual([]);
  });

  it('an OOM during the fault is -ENOMEM when nothing was taken', () => {
    const k = new Kernel({ memory: '16MiB', thp: 'never' });
    const p = k.spawn();
    const b = p.mmap(0, 64 << 20, RW, ANON | U.MAP_NORESERVE, -1, 0);
    const pages: number[] = [];
    const r = k.gup.pin_user_pages(p, b, 16384, FOLL_WRITE, pages);
    expect(r).toBeGreaterThan(0); // partial: what fit
    expect(r).toBeLessThan(16384);
    k.gup.unpin_user_pages(pages, r);
    p.munmap(b, 64 << 20);
    // Now fill RAM from another mapping and ask for one more page.
    const c = p.mmap(0, 64 << 20, RW, ANON | U.MAP_NORESERVE, -1, 0);
    const got = k.gup.get_user_pages(p, c, 16384, FOLL_WRITE, null);
    expect(got).toBeGreaterThan(0);
    const d = p.mmap(0, 4096, RW, ANON, -1, 0);
    expect(k.gup.get_user_pages(p, d, 1, FOLL_WRITE, null)).toBe(ENOMEM);
    expect(k.check()).toEqual([]);
  });

  it('FOLL_SPLIT_PMD splits a THP before taking its pages', () => {
    const k = new Kernel({ memory: '256MiB', thp: 'always' });
    const p = k.spawn();
    const raw = p.mmap(0, 4 << 20, RW, ANON, -1, 0);
    const b = Math.ceil(raw / (2 << 20)) * (2 << 20);
    p.fill(b, 2 << 20, 3);
    expect(p.pagemap(b).mappedBy).toBe(2 << 20);
    const pages: number[] = [];
    expect(k.gup.get_user_pages(p, b, 1, FOLL_SPLIT_PMD, pages)).toBe(1);
    expect(p.pagemap(b).mappedBy).toBe(4096);
    k.gup.put_page(pages[0]!);
    expect(k.check()).toEqual([]);
  });

  it('partial results: the pages done, an errno only when none were; MMF_HAS_PINNED stays set', () => {
    const { k, p, a } = boot();
    p.munmap(a + 2 * 4096, 4096);
    const pages: number[] = [];
    expect(k.gup.pin_user_pages(p, a, 4, 0, pages)).toBe(2);
    expect(k.gup.pin_user_pages(p, a + 2 * 4096, 4, 0, [])).toBe(EFAULT);
    k.gup.unpin_user_pages(pages, 2);
    expect(p.mm!.flags & (1 << 27)).not.toBe(0);
    expect(FOLL_PIN).toBe(1 << 19);
    expect(k.check()).toEqual([]);
  });
});
