/**
 * MADV_COLLAPSE and khugepaged (mm/khugepaged.c) on anonymous memory (shmem:
 * shmem_thp.test.ts).
 *
 * The errno cases were checked against real Linux 6.12 (Debian 6.12.118,
 * ../shared/realkernel, 2 vCPUs, THP=always, shmem_enabled=never; a static
 * probe, 2026-12-07). Its answers, case by case:
 *   untouched mapping (no anon_vma)           EINVAL
 *   one page written, MADV_HUGEPAGE           0
 *   MADV_NOHUGEPAGE / PR_SET_THP_DISABLE      EINVAL
 *   transparent_hugepage/enabled=never        0 (MADV_COLLAPSE ignores it)
 *   khugepaged/max_ptes_none=0                0 (khugepaged's limit only)
 *   2 PMDs, only the first populated          EINVAL, the first collapsed
 *   2 PMDs, only the second populated         EINVAL, nothing collapsed
 *   [aligned, +4 KiB)                         0 (no whole PMD in range)
 *   [aligned + 4 KiB, +4 KiB or +8 KiB)       EINVAL
 *   already a THP / the huge zero page        0
 *   mprotect(PROT_READ) pages                 EINVAL
 *   a page vmspliced into a pipe              EAGAIN, 0 once the pipe is closed
 *   a hole in the range                       ENOMEM, the PMD after it collapsed
 *   a PTE-mapped THP                          0
 *   fully COW-shared after fork (read-only)   EINVAL; one page COWed: 0
 *   memfd or shared anonymous memory          0 (collapse_file)
 */
import { describe, expect, it } from 'vitest';
import { FOLL_LONGTERM, FOLL_WRITE, Kernel, MmuNotifyEvent, type Process, SyscallError } from '../index.js';
import * as U from '../uapi/index.js';
import { MMF } from './mm_types.js';
import { khugepagedRegistered } from './khugepaged.js';
import { Level } from './page.js';
import { Pte, type Walk, walk } from './pgtable.js';

const RW = U.PROT_READ | U.PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;
const PAGE = 4096;
const PMD = 2 * 2 ** 20;
const KH = '/sys/kernel/mm/transparent_hugepage/khugepaged/';

function errnoOf(f: () => unknown): string | null {
  try {
    f();
    return null;
  } catch (e) {
    if (e instanceof SyscallError) return e.code;
    throw e;
  }
}

/** A fresh kernel and process; thp as asked (faults then map small pages unless said otherwise). */
function boot(thp: 'always' | 'madvise' | 'never' = 'always'): { k: Kernel; p: Process } {
  const k = new Kernel({ memory: '256MiB', thp });
  return { k, p: k.spawn() };
}

/** n PMD-aligned 2 MiB ranges of private anonymous memory in one VMA. */
function amap(p: Process, n = 1): number {
  const raw = p.mmap(0, (n + 1) * PMD, RW, ANON, -1, 0);
  return Math.ceil(raw / PMD) * PMD;
}

/** Populate pages by PTEs only (MADV_NOHUGEPAGE around the writes), then MADV_HUGEPAGE. */
function ptePopulate(p: Process, a: number, len: number, pages: Iterable<number>, byte = (i: number) => (i * 7 + 1) & 0xff): void {
  p.madvise(a, len, U.MADV_NOHUGEPAGE);
  for (const i of pages) p.fill(a + i * PAGE, PAGE, byte(i));
  p.madvise(a, len, U.MADV_HUGEPAGE);
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

function pmdMapped(p: Process, a: number): boolean {
  return p.pagemap(a).mappedBy === PMD;
}

describe('MADV_COLLAPSE: which ranges collapse, and the errno otherwise (Linux 6.12)', () => {
  it('an untouched mapping has no anon_vma: EINVAL', () => {
    const { k, p } = boot();
    const a = amap(p);
    expect(errnoOf(() => p.madvise(a, PMD, U.MADV_COLLAPSE))).toBe('EINVAL');
    expect(k.check()).toEqual([]);
  });

  it('one written page becomes a THP; MADV_NOHUGEPAGE and PR_SET_THP_DISABLE forbid it (EINVAL)', () => {
    const { k, p } = boot();
    const a = amap(p);
    ptePopulate(p, a, PMD, [0]);
    expect(pmdMapped(p, a)).toBe(false);
    expect(p.madvise(a, PMD, U.MADV_COLLAPSE)).toBe(0);
    expect(pmdMapped(p, a)).toBe(true);

    const b = amap(p);
    p.madvise(b, PMD, U.MADV_NOHUGEPAGE);
    p.fill(b, PAGE, 1);
    expect(errnoOf(() => p.madvise(b, PMD, U.MADV_COLLAPSE))).toBe('EINVAL');

    const c = amap(p);
    ptePopulate(p, c, PMD, [0]);
    p.mm!.flags |= MMF.DISABLE_THP; // prctl(PR_SET_THP_DISABLE, 1)
    expect(errnoOf(() => p.madvise(c, PMD, U.MADV_COLLAPSE))).toBe('EINVAL');
    expect(pmdMapped(p, c)).toBe(false);
    expect(k.check()).toEqual([]);
  });

  it('ignores transparent_hugepage/enabled (even never) and khugepaged/max_ptes_none', () => {
    const { k, p } = boot('never');
    k.writeSysfs(`${KH}max_ptes_none`, '0');
    const a = amap(p);
    p.fill(a, PAGE, 3);
    expect(pmdMapped(p, a)).toBe(false);
    expect(p.madvise(a, PMD, U.MADV_COLLAPSE)).toBe(0);
    expect(pmdMapped(p, a)).toBe(true);
    expect(k.check()).toEqual([]);
  });

  it('a PMD without a page table ends the walk: EINVAL, PMDs before it collapsed, after it not', () => {
    const { k, p } = boot();
    const a = amap(p, 2);
    ptePopulate(p, a, 2 * PMD, [0]);
    expect(errnoOf(() => p.madvise(a, 2 * PMD, U.MADV_COLLAPSE))).toBe('EINVAL');
    expect(pmdMapped(p, a)).toBe(true);

    const b = amap(p, 3);
    ptePopulate(p, b, 3 * PMD, [512, 1024]);
    expect(errnoOf(() => p.madvise(b, 3 * PMD, U.MADV_COLLAPSE))).toBe('EINVAL');
    expect(pmdMapped(p, b + PMD)).toBe(false);
    expect(pmdMapped(p, b + 2 * PMD)).toBe(false);
    expect(k.check()).toEqual([]);
  });

  it('ranges holding no whole PMD: 0 if they start on a PMD boundary, else EINVAL; nothing collapses', () => {
    const { k, p } = boot();
    const a = amap(p);
    ptePopulate(p, a, PMD, [0, 1, 2]);
    expect(p.madvise(a, PAGE, U.MADV_COLLAPSE)).toBe(0);
    expect(errnoOf(() => p.madvise(a + PAGE, PAGE, U.MADV_COLLAPSE))).toBe('EINVAL');
    expect(errnoOf(() => p.madvise(a + PAGE, 2 * PAGE, U.MADV_COLLAPSE))).toBe('EINVAL');
    expect(pmdMapped(p, a)).toBe(false);
    expect(k.check()).toEqual([]);
  });

  it('a THP or the huge zero page already mapped by a PMD counts as collapsed, untouched', () => {
    const { k, p } = boot();
    const a = amap(p);
    p.fill(a, PAGE, 1);
    const b = amap(p);
    expect(p.read(b, 1)[0]).toBe(0);
    const pfnA = p.pagemap(a).pfn;
    const pfnB = p.pagemap(b).pfn;
    const before = k.events();
    expect(p.madvise(a, PMD, U.MADV_COLLAPSE)).toBe(0);
    expect(p.madvise(b, PMD, U.MADV_COLLAPSE)).toBe(0);
    expect(p.pagemap(a).pfn).toBe(pfnA);
    expect(p.pagemap(b).pfn).toBe(pfnB);
    expect(k.events().thp_collapse_alloc).toBe(before.thp_collapse_alloc);
    expect(k.check()).toEqual([]);
  });

  it('no writable PTE (mprotect PROT_READ, or only zero pages): EINVAL', () => {
    const { k, p } = boot();
    const a = amap(p);
    ptePopulate(p, a, PMD, [0, 5]);
    p.mprotect(a, PMD, U.PROT_READ);
    expect(errnoOf(() => p.madvise(a, PMD, U.MADV_COLLAPSE))).toBe('EINVAL');

    const b = amap(p, 2);
    p.madvise(b, 2 * PMD, U.MADV_NOHUGEPAGE);
    p.fill(b + PMD, PAGE, 1); // an anon_vma for the VMA
    for (let i = 0; i < 512; i += 3) p.read(b + i * PAGE, 1); // zero-page PTEs
    p.madvise(b, 2 * PMD, U.MADV_HUGEPAGE);
    expect(errnoOf(() => p.madvise(b, PMD, U.MADV_COLLAPSE))).toBe('EINVAL');
    expect(k.check()).toEqual([]);
  });

  it('an extra reference (a page in a pipe, a GUP pin) is EAGAIN until it is gone', () => {
    const { k, p } = boot();
    const a = amap(p);
    ptePopulate(p, a, PMD, range(512));
    const [rfd, wfd] = p.pipe();
    p.vmsplice(wfd, { iov_base: a + 9 * PAGE, iov_len: PAGE }, 1, 0);
    expect(errnoOf(() => p.madvise(a, PMD, U.MADV_COLLAPSE))).toBe('EAGAIN');
    expect(pmdMapped(p, a)).toBe(false);
    expect(k.check()).toEqual([]);
    p.close(rfd);
    p.close(wfd);
    expect(p.madvise(a, PMD, U.MADV_COLLAPSE)).toBe(0);
    expect(pmdMapped(p, a)).toBe(true);

    const b = amap(p);
    ptePopulate(p, b, PMD, range(512));
    const pages: number[] = [];
    expect(k.gup.pin_user_pages(p, b + 100 * PAGE, 1, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(1);
    expect(errnoOf(() => p.madvise(b, PMD, U.MADV_COLLAPSE))).toBe('EAGAIN');
    k.gup.unpin_user_pages(pages, 1);
    expect(p.madvise(b, PMD, U.MADV_COLLAPSE)).toBe(0);
    expect(k.check()).toEqual([]);
  });

  it('a hole in the range is ENOMEM after the walk; the VMAs around it are collapsed', () => {
    const { k, p } = boot();
    const a = amap(p, 3);
    ptePopulate(p, a, 3 * PMD, range(3 * 512));
    p.munmap(a + PMD, PMD);
    expect(errnoOf(() => p.madvise(a, 3 * PMD, U.MADV_COLLAPSE))).toBe('ENOMEM');
    expect(pmdMapped(p, a)).toBe(true);
    expect(pmdMapped(p, a + 2 * PMD)).toBe(true);
    expect(k.check()).toEqual([]);
  });

  it('no free 2 MiB block: ENOMEM (SCAN_ALLOC_HUGE_PAGE_FAIL), counted as thp_collapse_alloc_failed', () => {
    const k = new Kernel({ memory: '16MiB', thp: 'always' });
    const p = k.spawn();
    const a = amap(p);
    ptePopulate(p, a, PMD, [0]);
    // Fill memory with small pages, then free every other one: no 2 MiB block is left.
    const hog = p.mmap(0, 8 * PMD, RW, ANON | U.MAP_NORESERVE, -1, 0);
    p.madvise(hog, 8 * PMD, U.MADV_NOHUGEPAGE);
    expect(errnoOf(() => p.madvise(hog, 8 * PMD, U.MADV_POPULATE_WRITE))).toBe('ENOMEM');
    for (let off = 0; off < 8 * PMD; off += 2 * PAGE) p.madvise(hog + off, PAGE, U.MADV_DONTNEED);
    expect(k.buddyinfo().every((z) => z.free.slice(9).every((n) => n === 0))).toBe(true);
    expect(errnoOf(() => p.madvise(a, PMD, U.MADV_COLLAPSE))).toBe('ENOMEM');
    expect(k.events().thp_collapse_alloc_failed).toBe(1);
    expect(k.events().thp_collapse_alloc).toBe(0);
    expect(pmdMapped(p, a)).toBe(false);
    expect(k.check()).toEqual([]);
  });

  it('userfaultfd armed and a none PTE: EBUSY (SCAN_EXCEED_NONE_PTE); a uffd-wp PTE: EINVAL', () => {
    const { k, p } = boot();
    const a = amap(p);
    ptePopulate(p, a, PMD, [0, 1]);
    const uffd = p.userfaultfd(0);
    p.ioctl(uffd, U.UFFDIO_API, { api: U.UFFD_API, features: 0, ioctls: 0 });
    p.ioctl(uffd, U.UFFDIO_REGISTER, { range: { start: a, len: PMD }, mode: U.UFFDIO_REGISTER_MODE_MISSING });
    expect(errnoOf(() => p.madvise(a, PMD, U.MADV_COLLAPSE))).toBe('EBUSY');
    p.ioctl(uffd, U.UFFDIO_UNREGISTER, { start: a, len: PMD });
    // UFFDIO_WRITEPROTECT on one PTE (the VMA registered for write-protection).
    p.ioctl(uffd, U.UFFDIO_REGISTER, { range: { start: a, len: PMD }, mode: U.UFFDIO_REGISTER_MODE_WP });
    ptePopulate(p, a, PMD, range(512));
    p.ioctl(uffd, U.UFFDIO_WRITEPROTECT, { range: { start: a + 3 * PAGE, len: PAGE }, mode: U.UFFDIO_WRITEPROTECT_MODE_WP });
    const w: Walk = { table: null as never, idx: 0, level: Level.PTE, parent: null, pidx: 0 };
    walk(p.mm!.pgd, a + 3 * PAGE, w);
    expect(w.table.fl[w.idx]! & Pte.UFFD_WP).toBe(Pte.UFFD_WP);
    expect(errnoOf(() => p.madvise(a, PMD, U.MADV_COLLAPSE))).toBe('EINVAL');
    expect(k.check()).toEqual([]);
  });

  it('file memory: memfd collapses (0, PMD-mapped); a regular file is EINVAL (CONFIG_READ_ONLY_THP_FOR_FS=n)', () => {
    const { k, p } = boot();
    const fd = p.memfd_create('m', 0);
    p.ftruncate(fd, 2 * PMD);
    const raw = p.mmap(0, 3 * PMD, RW, U.MAP_SHARED, fd, 0);
    p.munmap(raw, 3 * PMD);
    const s = p.mmap(Math.ceil(raw / PMD) * PMD, 2 * PMD, RW, U.MAP_SHARED | U.MAP_FIXED, fd, 0);
    p.fill(s, PAGE, 5);
    // collapse_file, then collapse_pte_mapped_thp maps the new folio by a PMD.
    expect(errnoOf(() => p.madvise(s, PMD, U.MADV_COLLAPSE))).toBe(null);
    expect(pmdMapped(p, s)).toBe(true);
    expect(k.check()).toEqual([]);
    const f = p.open('/data', U.O_RDWR | U.O_CREAT, 0o644);
    p.ftruncate(f, 2 * PMD);
    const fraw = p.mmap(0, 3 * PMD, RW, U.MAP_SHARED, f, 0);
    p.munmap(fraw, 3 * PMD);
    const fm = p.mmap(Math.ceil(fraw / PMD) * PMD, 2 * PMD, RW, U.MAP_SHARED | U.MAP_FIXED, f, 0);
    p.fill(fm, PAGE, 5);
    expect(errnoOf(() => p.madvise(fm, PMD, U.MADV_COLLAPSE))).toBe('EINVAL');
    expect(k.check()).toEqual([]);
  });
});

describe('MADV_COLLAPSE: what a collapse does', () => {
  it('copies byte-exactly, zeroes holes and zero-page PTEs, frees the small pages, and accounts it all', () => {
    const { k, p } = boot();
    const a = amap(p);
    p.madvise(a, PMD, U.MADV_NOHUGEPAGE);
    const written = range(512).filter((i) => i % 5 !== 0);
    for (const i of written) p.fill(a + i * PAGE, PAGE, (i * 7 + 1) & 0xff);
    const varied = Uint8Array.from({ length: PAGE }, (_, j) => (j * 31) & 0xff);
    p.write(a + 3 * PAGE, varied);
    for (const i of [5, 10, 15]) p.read(a + i * PAGE, 1); // zero-page PTEs
    p.madvise(a, PMD, U.MADV_HUGEPAGE);
    const before = { mi: k.meminfo(), ev: k.events(), st: p.status() };
    const notes: { ev: MmuNotifyEvent; start: number; end: number }[] = [];
    p.mmuNotifierRegister({ invalidateRangeStart: (r) => notes.push({ ev: r.event, start: r.start, end: r.end }) });
    const oldPfn = p.pagemap(a + PAGE).pfn;

    expect(p.madvise(a, PMD, U.MADV_COLLAPSE)).toBe(0);
    expect(k.check()).toEqual([]);

    const e = p.pagemap(a);
    expect(e.mappedBy).toBe(PMD);
    expect(e.anonExclusive).toBe(true);
    expect(k.folio(e.pfn)).toMatchObject({ order: 9, refcount: 1, mapcount: 1, entireMapcount: 1, pageMapcount: 0, maybeMappedShared: false });
    expect(k.folio(oldPfn)).toBeNull();
    const want = new Uint8Array(PMD);
    for (const i of written) want.fill((i * 7 + 1) & 0xff, i * PAGE, (i + 1) * PAGE);
    want.set(varied, 3 * PAGE);
    expect(Buffer.compare(p.read(a, PMD), want)).toBe(0);
    const after = { mi: k.meminfo(), ev: k.events(), st: p.status() };
    // Every page of the range is now anonymous memory, mapped by one PMD.
    expect(after.mi.AnonPages - before.mi.AnonPages).toBe(4 * (512 - written.length));
    expect(after.mi.AnonHugePages - before.mi.AnonHugePages).toBe(2048);
    // The 410 small pages went back; a 2 MiB folio came.
    expect(before.mi.MemFree - after.mi.MemFree).toBe(2048 - 4 * written.length);
    // The PTE table is deposited under the PMD, so page-table memory does not change.
    expect(after.mi.PageTables).toBe(before.mi.PageTables);
    expect(after.st.VmRSS).toBe(before.st.VmRSS + 4 * (512 - written.length));
    const d = (n: keyof typeof after.ev) => after.ev[n]! - before.ev[n]!;
    expect(d('thp_collapse_alloc')).toBe(1);
    expect(d('copy_bytes')).toBe(written.length * PAGE);
    expect(d('zero_bytes')).toBe((512 - written.length) * PAGE);
    expect(d('pmd_write')).toBe(2); // pmdp_collapse_flush, set_pmd_at
    expect(d('pte_write')).toBe(written.length + 3); // the cleared PTEs (zero-page ones too)
    expect(d('tlb_flush_range')).toBe(1);
    expect(d('folio_free')).toBe(written.length);
    expect(notes).toEqual([{ ev: MmuNotifyEvent.CLEAR, start: a, end: a + PMD }]);
    // A write to the new THP needs no fault; a fork shares it like any THP.
    const faults = k.events().fault;
    p.write(a + 5 * PAGE, new Uint8Array([9]));
    expect(k.events().fault).toBe(faults);
    const c = p.fork();
    p.write(a + 10 * PAGE, new Uint8Array([9]));
    expect(c.read(a + 10 * PAGE, 1)[0]).toBe(0);
    expect(k.check()).toEqual([]);
  });

  it('a PTE-mapped THP is copied into a new folio (anonymous memory is never remapped in place); the old one is freed', () => {
    const { k, p } = boot();
    const a = amap(p);
    p.fill(a, PMD, 4);
    p.write(a + 77 * PAGE + 5, new Uint8Array([1, 2, 3]));
    p.mprotect(a + PAGE, PAGE, U.PROT_READ);
    p.mprotect(a + PAGE, PAGE, RW);
    const old = p.pagemap(a).pfn;
    expect(p.pagemap(a).mappedBy).toBe(PAGE);
    expect(k.folio(old)).toMatchObject({ order: 9, mapcount: 512, refcount: 512 });
    const free = k.meminfo().MemFree;
    const before = k.events();
    expect(p.madvise(a, PMD, U.MADV_COLLAPSE)).toBe(0);
    expect(k.check()).toEqual([]);
    expect(p.pagemap(a).mappedBy).toBe(PMD);
    expect(p.pagemap(a).pfn).not.toBe(old);
    expect(k.folio(old)).toBeNull();
    expect(k.meminfo().MemFree).toBe(free);
    expect(k.events().copy_bytes - before.copy_bytes).toBe(PMD);
    expect(p.read(a + 77 * PAGE + 4, 5)).toEqual(new Uint8Array([4, 1, 2, 3, 4]));
  });

  it('after fork, with half the pages still writable (lower shared): the parent gets a private THP, the child keeps the old pages', () => {
    const { k, p } = boot();
    const a = amap(p);
    p.fill(a, PMD, 1);
    p.mprotect(a + PAGE, PAGE, U.PROT_READ);
    p.mprotect(a + PAGE, PAGE, RW);
    const old = p.pagemap(a).pfn;
    p.madvise(a + PMD / 2, PMD / 2, U.MADV_DONTFORK);
    const c = p.fork();
    p.madvise(a, PMD, U.MADV_DOFORK);
    expect(k.folio(old)).toMatchObject({ mapcount: 768, refcount: 768, maybeMappedShared: true });
    expect(p.madvise(a, PMD, U.MADV_COLLAPSE)).toBe(0);
    expect(k.check()).toEqual([]);
    const e = p.pagemap(a);
    expect(e.mappedBy).toBe(PMD);
    expect(e.anonExclusive).toBe(true);
    expect(k.folio(e.pfn)).toMatchObject({ refcount: 1, mapcount: 1, maybeMappedShared: false });
    // The child's 256 mappings keep the old folio alive, partially mapped.
    expect(k.folio(old)).toMatchObject({ mapcount: 256, refcount: 256, pageMapcount: 1, anonExclusive: false });
    expect(k.folio(old)!.flags).toContain('partially_mapped');
    expect(c.pagemap(a).pfn).toBe(old);
    p.fill(a, PMD, 0xff);
    expect(c.read(a, PMD / 2).every((b) => b === 1)).toBe(true);
    expect(k.check()).toEqual([]);
  });

  it('after fork, every PTE read-only (fully shared): EINVAL (SCAN_PAGE_RO), nothing changes; one COWed page makes it collapse', () => {
    const { k, p } = boot();
    const a = amap(p);
    ptePopulate(p, a, PMD, range(512));
    const c = p.fork();
    const pfn = p.pagemap(a).pfn;
    expect(errnoOf(() => p.madvise(a, PMD, U.MADV_COLLAPSE))).toBe('EINVAL');
    expect(p.pagemap(a).pfn).toBe(pfn);
    p.write(a, new Uint8Array([7]));
    expect(p.madvise(a, PMD, U.MADV_COLLAPSE)).toBe(0);
    expect(k.check()).toEqual([]);
    // The child's pages are untouched, each still mapped by the child alone now.
    expect(k.folio(c.pagemap(a + PAGE).pfn)).toMatchObject({ mapcount: 1, refcount: 1 });
    expect(c.read(a, 1)[0]).toBe(1);
    expect(p.read(a, 1)[0]).toBe(7);
    expect(p.read(a + PAGE, 1)[0]).toBe(8);
  });
});

describe('khugepaged', () => {
  it('the sysfs knobs: defaults, validation as the _store functions do it, read-only statistics', () => {
    const { k } = boot();
    const read = (n: string) => k.readSysfs(KH + n);
    expect(['defrag', 'max_ptes_none', 'max_ptes_swap', 'max_ptes_shared', 'pages_to_scan', 'pages_collapsed', 'full_scans', 'scan_sleep_millisecs', 'alloc_sleep_millisecs'].map(read)).toEqual([
      '1', '511', '64', '256', '4096', '0', '0', '10000', '60000',
    ]);
    k.writeSysfs(`${KH}max_ptes_none`, '0\n');
    expect(read('max_ptes_none')).toBe('0');
    expect(errnoOf(() => k.writeSysfs(`${KH}max_ptes_shared`, '512'))).toBe('EINVAL');
    expect(errnoOf(() => k.writeSysfs(`${KH}max_ptes_swap`, '-1'))).toBe('EINVAL');
    expect(errnoOf(() => k.writeSysfs(`${KH}pages_to_scan`, '0'))).toBe('EINVAL');
    expect(errnoOf(() => k.writeSysfs(`${KH}defrag`, '2'))).toBe('EINVAL');
    expect(errnoOf(() => k.writeSysfs(`${KH}pages_collapsed`, '1'))).toBe('EACCES');
    expect(errnoOf(() => k.readSysfs(`${KH}nope`))).toBe('ENOENT');
  });

  it('collapses a registered mm within max_ptes_none; pages_collapsed and full_scans count', () => {
    const { k, p } = boot();
    const a = amap(p, 2);
    ptePopulate(p, a, 2 * PMD, [0, 600]);
    expect(khugepagedRegistered(k.host, p.mm!)).toBe(true); // MADV_HUGEPAGE registered it
    k.writeSysfs(`${KH}max_ptes_none`, '510');
    let r = k.khugepagedScan();
    // The first PMD has 511 none PTEs: over the limit. Its neighbour is the same.
    expect(r.collapsed).toBe(0);
    expect(pmdMapped(p, a)).toBe(false);
    k.writeSysfs(`${KH}max_ptes_none`, '511');
    r = k.khugepagedScan();
    r = k.khugepagedScan();
    expect(pmdMapped(p, a)).toBe(true);
    expect(pmdMapped(p, a + PMD)).toBe(true);
    expect(k.readSysfs(`${KH}pages_collapsed`)).toBe('2');
    expect(Number(k.readSysfs(`${KH}full_scans`))).toBeGreaterThan(0);
    expect(p.read(a + 600 * PAGE, 1)[0]).toBe((600 * 7 + 1) & 0xff);
    expect(k.check()).toEqual([]);
  });

  it('wants young pages, and at most max_ptes_shared shared ones', () => {
    const { k, p } = boot();
    const a = amap(p);
    ptePopulate(p, a, PMD, range(512));
    // clear_refs 1: the pages are old now (no accessed bit).
    p.clear_refs('1');
    k.khugepagedScan();
    expect(pmdMapped(p, a)).toBe(false);
    p.read(a, 1); // one young PTE is enough
    const c = p.fork(); // every page shared (and read-only)...
    p.fill(a, 100 * PAGE, 2); // ...except 100 COWed ones: 412 shared > 256
    k.khugepagedScan();
    expect(pmdMapped(p, a)).toBe(false);
    k.writeSysfs(`${KH}max_ptes_shared`, '412');
    k.khugepagedScan();
    k.khugepagedScan();
    expect(pmdMapped(p, a)).toBe(true);
    expect(c.read(a, 1)[0]).toBe(1);
    expect(k.check()).toEqual([]);
  });

  it('follows the sysfs setting: nothing under never, MADV_HUGEPAGE VMAs only under madvise', () => {
    const { k, p } = boot('madvise');
    const a = amap(p);
    p.fill(a, PAGE, 1); // madvise mode: a small page, and no registration
    expect(khugepagedRegistered(k.host, p.mm!)).toBe(false);
    k.khugepagedScan();
    expect(pmdMapped(p, a)).toBe(false);
    p.madvise(a, PMD, U.MADV_HUGEPAGE);
    expect(khugepagedRegistered(k.host, p.mm!)).toBe(true);
    k.writeSysfs('/sys/kernel/mm/transparent_hugepage/enabled', 'never');
    expect(k.khugepagedScan().collapsed).toBe(0);
    k.writeSysfs('/sys/kernel/mm/transparent_hugepage/enabled', 'madvise');
    k.khugepagedScan();
    k.khugepagedScan();
    expect(pmdMapped(p, a)).toBe(true);
    expect(k.check()).toEqual([]);
  });

  it('a forked child is registered with its parent; an exited mm is dropped', () => {
    const { k, p } = boot();
    const a = amap(p);
    ptePopulate(p, a, PMD, [0]);
    const c = p.fork();
    expect(khugepagedRegistered(k.host, c.mm!)).toBe(true);
    const mm = c.mm!;
    c.exit();
    expect(khugepagedRegistered(k.host, mm)).toBe(false);
    p.exit();
    expect(k.khugepagedScan().collapsed).toBe(0);
    expect(k.check()).toEqual([]);
  });

  it('scans at most pages_to_scan per wake-up and resumes where it stopped', () => {
    const { k, p } = boot();
    const a = amap(p, 4);
    ptePopulate(p, a, 4 * PMD, [0, 512, 1024, 1536]);
    // A round ends when a collapse attempt has released mmap_lock; the pass goes on while
    // progress (one per mm, 512 per PMD) is below pages_to_scan.
    k.writeSysfs(`${KH}pages_to_scan`, '512');
    expect(k.khugepagedScan()).toMatchObject({ collapsed: 1, progress: 513 });
    expect(pmdMapped(p, a)).toBe(true);
    expect(pmdMapped(p, a + PMD)).toBe(false);
    k.writeSysfs(`${KH}pages_to_scan`, '600');
    expect(k.khugepagedScan()).toMatchObject({ collapsed: 2, progress: 1026 });
    expect(k.khugepagedScan().collapsed).toBe(1);
    for (let i = 0; i < 4; i++) expect(pmdMapped(p, a + i * PMD)).toBe(true);
    expect(k.check()).toEqual([]);
  });
});
