/**
 * shmem THP: MADV_COLLAPSE of shmem (collapse_file, collapse_pte_mapped_thp),
 * PMD-order page-cache folios through faults, fork, truncation, GUP and the
 * statistics (mm/khugepaged.c, mm/shmem.c, mm/memory.c, mm/truncate.c).
 */
import { describe, expect, it } from 'vitest';
import { FOLL_LONGTERM, FOLL_WRITE, Kernel, type Process } from '../index.js';
import { syscallCode as errnoOf } from '../../test/support/errno.js';
import * as U from '../uapi/index.js';

const RW = U.PROT_READ | U.PROT_WRITE;
const PAGE = 4096;
const PMD = 2 * 2 ** 20;
const SHMEM_ENABLED = '/sys/kernel/mm/transparent_hugepage/shmem_enabled';
const THP_ENABLED = '/sys/kernel/mm/transparent_hugepage/enabled';


function boot(): { k: Kernel; p: Process } {
  const k = new Kernel({ memory: '128MiB' });
  return { k, p: k.spawn() };
}

/** A PMD-aligned shared mapping of n PMDs of fd at offset 0. */
function smap(p: Process, fd: number, n = 1, prot = RW, flags = U.MAP_SHARED): number {
  const raw = p.mmap(0, (n + 1) * PMD, prot, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
  const a = Math.ceil(raw / PMD) * PMD;
  p.munmap(raw, (n + 1) * PMD);
  return p.mmap(a, n * PMD, prot, flags | U.MAP_FIXED, fd, 0);
}

/** A memfd of n PMDs whose pages [0, pages) hold byte (i * 7 + 1) & 0xff, written through write(2). */
function memfd(p: Process, n = 1, pages = n * 512): number {
  const fd = p.memfd_create('thp', 0);
  p.ftruncate(fd, n * PMD);
  for (let i = 0; i < pages; i++) p.pwrite(fd, new Uint8Array(PAGE).fill((i * 7 + 1) & 0xff), PAGE, i * PAGE);
  return fd;
}

const pmdMapped = (p: Process, a: number): boolean => p.pagemap(a).mappedBy === PMD;

describe('shmem_enabled (/sys/kernel/mm/transparent_hugepage/shmem_enabled)', () => {
  it('defaults to never, takes the six values, refuses others with EINVAL', () => {
    const { k } = boot();
    expect(k.readSysfs(SHMEM_ENABLED)).toBe('always within_size advise [never] deny force');
    for (const v of ['always', 'within_size', 'advise', 'deny', 'force', 'never']) {
      k.writeSysfs(SHMEM_ENABLED, `${v}\n`);
      expect(k.readSysfs(SHMEM_ENABLED)).toContain(`[${v}]`);
    }
    expect(errnoOf(() => k.writeSysfs(SHMEM_ENABLED, 'sometimes'))).toBe('EINVAL');
    expect(errnoOf(() => k.writeSysfs(SHMEM_ENABLED, ' always'))).toBe('EINVAL');
  });
});

describe('MADV_COLLAPSE of shmem', () => {
  it('collapses a range PTE-mapped in two processes: contents kept, the caller PMD-mapped, the other refaults by PMD', () => {
    const { k, p } = boot();
    const fd = memfd(p);
    const a = smap(p, fd);
    const q = p.fork();
    const b = a; // the child's copy of the mapping
    // Both map the pages by PTEs (fork does not copy shared file PTEs: the child faults).
    for (let i = 0; i < 512; i += 3) p.read(a + i * PAGE, 1);
    for (let i = 0; i < 512; i += 5) q.read(b + i * PAGE, 1);
    expect(k.meminfo().ShmemHugePages).toBe(0);
    const shmemBefore = k.meminfo().Shmem;
    expect(p.madvise(a, PMD, U.MADV_COLLAPSE)).toBe(0);
    expect(pmdMapped(p, a)).toBe(true);
    expect(k.meminfo().ShmemHugePages).toBe(2048);
    expect(k.meminfo().Shmem).toBe(shmemBefore);
    expect(k.meminfo().ShmemPmdMapped).toBe(2048);
    expect(p.smaps().find((e) => e.start === a)!.ShmemPmdMapped).toBe(2048);
    // The child's PTEs went with the old pages, and its empty table with them.
    expect(q.pagemap(b).present).toBe(false);
    expect(k.check()).toEqual([]);
    for (let i = 0; i < 512; i++) {
      expect(p.read(a + i * PAGE + 100, 1)[0]).toBe((i * 7 + 1) & 0xff);
    }
    // The child's next fault maps the same folio by a PMD (fault-around's filemap_map_pmd).
    expect(q.read(b + 77 * PAGE, 1)[0]).toBe((77 * 7 + 1) & 0xff);
    expect(pmdMapped(q, b)).toBe(true);
    expect(q.pagemap(b).pfn).toBe(p.pagemap(a).pfn);
    // One folio, KPF_THP, mapped by both PMDs.
    const pfn = p.pagemap(a).pfn;
    expect(k.kpageflags(pfn) & (1 << U.KPF_THP)).not.toBe(0);
    expect(k.kpagecount(pfn)).toBe(2);
    // Writes through either mapping are shared.
    q.write(b + 3 * PAGE, new Uint8Array([0xee]));
    expect(p.read(a + 3 * PAGE, 1)[0]).toBe(0xee);
    expect(k.check()).toEqual([]);
    q.exit();
    p.munmap(a, PMD);
    expect(k.meminfo().ShmemPmdMapped).toBe(0);
    expect(k.meminfo().ShmemHugePages).toBe(2048);
    p.close(fd);
    expect(k.meminfo().ShmemHugePages).toBe(0);
    expect(k.check()).toEqual([]);
  });

  it('fills holes with zeroes, charged to the file; read(2) and write(2) reach the large folio', () => {
    const { k, p } = boot();
    const fd = memfd(p, 1, 0);
    p.pwrite(fd, new Uint8Array(PAGE).fill(9), PAGE, 10 * PAGE);
    const a = smap(p, fd);
    // A fault gives the range a PMD table to map into (else SCAN_PMD_NULL: EINVAL).
    p.read(a + 10 * PAGE, 1);
    expect(p.fstat(fd).st_blocks).toBe(8);
    expect(p.madvise(a, PMD, U.MADV_COLLAPSE)).toBe(0);
    expect(p.fstat(fd).st_blocks).toBe(512 * 8);
    expect(k.meminfo().Shmem).toBe(2048);
    expect(p.read(a + 10 * PAGE + 5, 1)[0]).toBe(9);
    expect(p.read(a + 11 * PAGE, 1)[0]).toBe(0);
    const buf = new Uint8Array(PAGE + 2);
    p.pread(fd, buf, buf.length, 10 * PAGE + PAGE - 1);
    expect([buf[0], buf[1]]).toEqual([9, 0]);
    p.pwrite(fd, new Uint8Array([1, 2, 3]), 3, 300 * PAGE + PAGE - 1);
    expect([...p.read(a + 300 * PAGE + PAGE - 1, 3)]).toEqual([1, 2, 3]);
    expect(k.check()).toEqual([]);
  });

  it('shared anonymous memory collapses too; a second MADV_COLLAPSE finds it PMD-mapped (0)', () => {
    const { k, p } = boot();
    const raw = p.mmap(0, 4 * PMD, U.PROT_NONE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
    const base = Math.ceil(raw / PMD) * PMD;
    // An unaligned start: its file offsets cannot be PMD-mapped (thp_vma_suitable_order).
    const u = p.mmap(base + PAGE, 2 * PMD, RW, U.MAP_SHARED | U.MAP_ANONYMOUS | U.MAP_FIXED, -1, 0);
    p.fill(u + PMD, PAGE, 1);
    expect(errnoOf(() => p.madvise(u, 2 * PMD, U.MADV_COLLAPSE))).toBe('EINVAL');
    const a = p.mmap(base, PMD, RW, U.MAP_SHARED | U.MAP_ANONYMOUS | U.MAP_FIXED, -1, 0);
    p.fill(a + 5 * PAGE, PAGE, 42);
    expect(p.madvise(a, PMD, U.MADV_COLLAPSE)).toBe(0);
    expect(pmdMapped(p, a)).toBe(true);
    expect(p.read(a + 5 * PAGE, 1)[0]).toBe(42);
    expect(p.madvise(a, PMD, U.MADV_COLLAPSE)).toBe(0);
    expect(k.check()).toEqual([]);
  });

  it('errno: an empty range EINVAL, a GUP pin EAGAIN, MADV_NOHUGEPAGE and shmem_enabled=deny EINVAL', () => {
    const { k, p } = boot();
    const empty = p.memfd_create('e', 0);
    p.ftruncate(empty, PMD);
    const e = smap(p, empty);
    // SCAN_TRUNCATED: nothing at all in the page cache.
    expect(errnoOf(() => p.madvise(e, PMD, U.MADV_COLLAPSE))).toBe('EINVAL');

    const fd = memfd(p);
    const a = smap(p, fd);
    p.read(a + 100 * PAGE, 1);
    const pages: number[] = [];
    expect(k.gup.pin_user_pages(p, a + 100 * PAGE, 1, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(1);
    // SCAN_PAGE_COUNT: the pinned page has a reference beyond the cache and the mappings.
    expect(errnoOf(() => p.madvise(a, PMD, U.MADV_COLLAPSE))).toBe('EAGAIN');
    expect(k.meminfo().ShmemHugePages).toBe(0);
    expect(k.check()).toEqual([]);
    k.gup.unpin_user_pages(pages, 1);

    p.madvise(a, PMD, U.MADV_NOHUGEPAGE);
    expect(errnoOf(() => p.madvise(a, PMD, U.MADV_COLLAPSE))).toBe('EINVAL');
    p.madvise(a, PMD, U.MADV_HUGEPAGE);
    k.writeSysfs(SHMEM_ENABLED, 'deny');
    expect(errnoOf(() => p.madvise(a, PMD, U.MADV_COLLAPSE))).toBe('EINVAL');
    k.writeSysfs(SHMEM_ENABLED, 'never');
    expect(p.madvise(a, PMD, U.MADV_COLLAPSE)).toBe(0);
    expect(k.check()).toEqual([]);
  });

  it('uffd: a MISSING-registered mapping with holes is EBUSY; a uffd-wp one keeps its PTEs (EINVAL) though the cache collapsed', () => {
    const { k, p } = boot();
    const fd = memfd(p, 1, 10);
    const a = smap(p, fd);
    const uffd = p.userfaultfd(0);
    p.ioctl(uffd, U.UFFDIO_API, { api: U.UFFD_API, features: 0 });
    p.ioctl(uffd, U.UFFDIO_REGISTER, { range: { start: a, len: PMD }, mode: U.UFFDIO_REGISTER_MODE_MISSING });
    expect(errnoOf(() => p.madvise(a, PMD, U.MADV_COLLAPSE))).toBe('EBUSY');
    expect(k.meminfo().ShmemHugePages).toBe(0);
    p.ioctl(uffd, U.UFFDIO_UNREGISTER, { start: a, len: PMD });

    const fd2 = memfd(p);
    const b = smap(p, fd2);
    for (let i = 0; i < 512; i++) p.read(b + i * PAGE, 1);
    p.ioctl(uffd, U.UFFDIO_REGISTER, { range: { start: b, len: PMD }, mode: U.UFFDIO_REGISTER_MODE_WP });
    expect(errnoOf(() => p.madvise(b, PMD, U.MADV_COLLAPSE))).toBe('EINVAL');
    expect(k.meminfo().ShmemHugePages).toBe(2048);
    expect(pmdMapped(p, b)).toBe(false);
    // The pages refault by PTEs into the kept table.
    expect(p.read(b + 7 * PAGE, 1)[0]).toBe((7 * 7 + 1) & 0xff);
    expect(p.pagemap(b + 7 * PAGE).mappedBy).toBe(PAGE);
    expect(k.check()).toEqual([]);
  });
});

describe('large shmem folios after a collapse', () => {
  function collapsed(): { k: Kernel; p: Process; fd: number; a: number } {
    const { k, p } = boot();
    const fd = memfd(p);
    const a = smap(p, fd);
    p.read(a, 1);
    expect(p.madvise(a, PMD, U.MADV_COLLAPSE)).toBe(0);
    return { k, p, fd, a };
  }

  it('ftruncate into the folio splits it: the pages beyond go, the ones before keep their contents', () => {
    const { k, p, fd, a } = collapsed();
    p.ftruncate(fd, 100 * PAGE + 10);
    expect(k.meminfo().ShmemHugePages).toBe(0);
    expect(k.meminfo().Shmem).toBe(101 * 4);
    expect(p.fstat(fd).st_blocks).toBe(101 * 8);
    expect(p.read(a + 99 * PAGE, 1)[0]).toBe((99 * 7 + 1) & 0xff);
    // The tail of the last page reads as zeroes.
    expect(p.read(a + 100 * PAGE + 9, 2)[1]).toBe(0);
    expect(k.check()).toEqual([]);
  });

  it('punching a hole splits the folio; pinned, it cannot split and the hole is zeroed in place', () => {
    const { k, p, fd, a } = collapsed();
    p.fallocate(fd, U.FALLOC_FL_PUNCH_HOLE | U.FALLOC_FL_KEEP_SIZE, 10 * PAGE + 1, 3 * PAGE);
    expect(k.meminfo().ShmemHugePages).toBe(0);
    expect(k.meminfo().Shmem).toBe(2048 - 8);
    expect(p.read(a + 10 * PAGE, 2)[0]).toBe((10 * 7 + 1) & 0xff);
    expect(p.read(a + 10 * PAGE, 2)[1]).toBe(0);
    expect(p.read(a + 12 * PAGE, 1)[0]).toBe(0);
    expect(p.read(a + 13 * PAGE + 1, 1)[0]).toBe((13 * 7 + 1) & 0xff);
    expect(k.check()).toEqual([]);

    const c = collapsed();
    const pages: number[] = [];
    expect(c.k.gup.pin_user_pages(c.p, c.a, 1, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(1);
    c.p.madvise(c.a + 20 * PAGE, 2 * PAGE, U.MADV_REMOVE);
    expect(c.k.meminfo().ShmemHugePages).toBe(2048);
    expect(c.p.read(c.a + 20 * PAGE, 1)[0]).toBe(0);
    expect(c.p.read(c.a + 22 * PAGE, 1)[0]).toBe((22 * 7 + 1) & 0xff);
    expect(c.k.check()).toEqual([]);
    c.k.gup.unpin_user_pages(pages, 1);
    expect(c.k.check()).toEqual([]);
  });

  it('fork: the shared PMD is not copied, the child faults it in; a private mapping COWs one page after zapping the PMD', () => {
    const { k, p, fd, a } = collapsed();
    const q = p.fork();
    expect(q.pagemap(a).present).toBe(false);
    q.write(a + PAGE, new Uint8Array([5]));
    expect(pmdMapped(q, a)).toBe(true);
    expect(p.read(a + PAGE, 1)[0]).toBe(5);
    q.exit();

    const priv = smap(p, fd, 1, RW, U.MAP_PRIVATE);
    expect(p.read(priv + 2 * PAGE, 1)[0]).toBe((2 * 7 + 1) & 0xff);
    expect(pmdMapped(p, priv)).toBe(true);
    p.write(priv + 2 * PAGE, new Uint8Array([0x77]));
    expect(pmdMapped(p, priv)).toBe(false);
    expect(p.read(priv + 2 * PAGE, 1)[0]).toBe(0x77);
    expect(p.read(a + 2 * PAGE, 1)[0]).toBe((2 * 7 + 1) & 0xff);
    expect(k.check()).toEqual([]);
  });

  it('mprotect of part of the PMD zaps it; GUP through a file PMD pins the THP and a later split fails', () => {
    const { k, p, a } = collapsed();
    p.mprotect(a, PAGE, U.PROT_READ);
    expect(p.pagemap(a + PMD - PAGE).present).toBe(false);
    expect(p.read(a + 300 * PAGE, 1)[0]).toBe((300 * 7 + 1) & 0xff);
    expect(k.check()).toEqual([]);
    p.mprotect(a, PAGE, RW);
    p.read(a, 1);

    const { k: k2, p: p2, fd, a: b } = collapsed();
    expect(pmdMapped(p2, b)).toBe(true);
    const pages: number[] = [];
    expect(k2.gup.pin_user_pages(p2, b + 5 * PAGE, 2, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(2);
    expect(pages[1]).toBe(pages[0]! + 1);
    p2.ftruncate(fd, PAGE);
    // The split failed: the folio stays, whole, zeroed past EOF.
    expect(k2.meminfo().ShmemHugePages).toBe(2048);
    expect(k2.check()).toEqual([]);
    k2.gup.unpin_user_pages(pages, 2);
    expect(k2.check()).toEqual([]);
  });
});

describe('shmem THP at allocation (shmem_enabled, tmpfs huge=)', () => {
  it('shmem_enabled=always: a fault on an aligned memfd mapping allocates a PMD-order folio and maps it by a PMD', () => {
    const k = new Kernel({ memory: '128MiB', thp: { shmemEnabled: 'always' } });
    const p = k.spawn();
    expect(k.readSysfs(SHMEM_ENABLED)).toContain('[always]');
    const fd = p.memfd_create('m', 0);
    p.ftruncate(fd, 2 * PMD);
    const a = smap(p, fd, 2);
    expect(p.read(a + 3 * PAGE, 1)[0]).toBe(0);
    expect(pmdMapped(p, a)).toBe(true);
    expect(p.smaps().find((e) => e.start === a)!.THPeligible).toBe(1);
    expect(k.meminfo()).toMatchObject({ ShmemHugePages: 2048, ShmemPmdMapped: 2048, Shmem: 2048 });
    expect(p.fstat(fd).st_blocks).toBe(512 * 8);
    p.write(a + PMD + 5, new Uint8Array([7]));
    expect(k.meminfo().ShmemHugePages).toBe(4096);
    const buf = new Uint8Array(1);
    p.pread(fd, buf, 1, BigInt(PMD + 5));
    expect(buf[0]).toBe(7);
    // A private mapping of it maps the folio read-only by a PMD; a write COWs one page.
    const priv = smap(p, fd, 1, RW, U.MAP_PRIVATE);
    p.read(priv, 1);
    expect(pmdMapped(p, priv)).toBe(true);
    expect(p.pagemap(priv).pfn).toBe(p.pagemap(a).pfn);
    p.write(priv, new Uint8Array([1]));
    expect(p.read(a, 1)[0]).toBe(0);
    expect(k.check()).toEqual([]);
    // MADV_NOHUGEPAGE: a small folio, even where the 2 MiB is free.
    const fd2 = p.memfd_create('n', 0);
    p.ftruncate(fd2, PMD);
    const b = smap(p, fd2);
    p.madvise(b, PMD, U.MADV_NOHUGEPAGE);
    expect(p.smaps().find((e) => e.start === b)!.THPeligible).toBe(0);
    p.read(b, 1);
    expect(p.pagemap(b).mappedBy).toBe(PAGE);
    expect(k.meminfo().ShmemHugePages).toBe(4096);
    expect(k.check()).toEqual([]);
  });

  it('an unaligned mapping faults small folios; write(2) allocates huge ones where the policy allows', () => {
    const k = new Kernel({ memory: '128MiB', thp: { shmemEnabled: 'always' } });
    const p = k.spawn();
    const fd = p.memfd_create('m', 0);
    p.ftruncate(fd, 2 * PMD);
    const raw = p.mmap(0, 4 * PMD, U.PROT_NONE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
    const base = Math.ceil(raw / PMD) * PMD;
    const u = p.mmap(base + PAGE, PMD, RW, U.MAP_SHARED | U.MAP_FIXED, fd, 0);
    p.read(u, 1);
    expect(p.pagemap(u).mappedBy).toBe(PAGE);
    expect(k.meminfo().ShmemHugePages).toBe(0);
    p.pwrite(fd, new Uint8Array([3]), 1, PMD + 10);
    expect(k.meminfo().ShmemHugePages).toBe(2048);
    expect(k.check()).toEqual([]);
  });

  it('advise needs MADV_HUGEPAGE; within_size needs the 2 MiB inside i_size; deny and never allocate none', () => {
    const k = new Kernel({ memory: '128MiB' });
    const p = k.spawn();
    const fresh = (pages: number): { fd: number; a: number } => {
      const fd = p.memfd_create('m', 0);
      p.ftruncate(fd, pages * PAGE);
      return { fd, a: smap(p, fd, 2) };
    };
    k.writeSysfs(SHMEM_ENABLED, 'advise');
    let m = fresh(1024);
    p.read(m.a, 1);
    expect(pmdMapped(p, m.a)).toBe(false);
    p.madvise(m.a + PMD, PMD, U.MADV_HUGEPAGE);
    p.read(m.a + PMD, 1);
    expect(pmdMapped(p, m.a + PMD)).toBe(true);
    k.writeSysfs(SHMEM_ENABLED, 'within_size');
    m = fresh(512 + 10);
    p.read(m.a, 1);
    expect(pmdMapped(p, m.a)).toBe(true);
    p.read(m.a + PMD, 1);
    expect(p.pagemap(m.a + PMD).mappedBy).toBe(PAGE);
    const before = k.meminfo().ShmemHugePages;
    for (const v of ['deny', 'never']) {
      k.writeSysfs(SHMEM_ENABLED, v);
      m = fresh(1024);
      p.read(m.a, 1);
      expect(pmdMapped(p, m.a)).toBe(false);
    }
    expect(k.meminfo().ShmemHugePages).toBe(before);
    expect(k.check()).toEqual([]);
  });

  it('shared anonymous memory follows shmem_enabled; force overrides never, a tmpfs mount follows huge=', () => {
    const k = new Kernel({ memory: '128MiB', mounts: { '/': 'ext4', '/huge': { type: 'tmpfs', options: 'huge=always' }, '/small': { type: 'tmpfs', size: '1MiB', options: 'huge=always' }, '/tmp': 'tmpfs' } });
    const p = k.spawn();
    const raw = p.mmap(0, 3 * PMD, U.PROT_NONE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
    const base = Math.ceil(raw / PMD) * PMD;
    const a = p.mmap(base, PMD, RW, U.MAP_SHARED | U.MAP_ANONYMOUS | U.MAP_FIXED, -1, 0);
    p.read(a, 1);
    expect(p.pagemap(a).mappedBy).toBe(PAGE);
    k.writeSysfs(SHMEM_ENABLED, 'force');
    const b = p.mmap(base + PMD, PMD, RW, U.MAP_SHARED | U.MAP_ANONYMOUS | U.MAP_FIXED, -1, 0);
    p.fill(b + 9, 1, 4);
    expect(pmdMapped(p, b)).toBe(true);
    k.writeSysfs(SHMEM_ENABLED, 'never');

    const h = p.open('/huge/f', U.O_RDWR | U.O_CREAT, 0o644);
    p.pwrite(h, new Uint8Array([1]), 1, 0);
    expect(k.meminfo().ShmemHugePages).toBe(4096);
    const t = p.open('/tmp/f', U.O_RDWR | U.O_CREAT, 0o644);
    p.pwrite(t, new Uint8Array([1]), 1, 0);
    expect(k.meminfo().ShmemHugePages).toBe(4096);
    // A 1 MiB tmpfs cannot take 512 pages: the write falls back to a small folio.
    const s = p.open('/small/f', U.O_RDWR | U.O_CREAT, 0o644);
    p.pwrite(s, new Uint8Array([1]), 1, 0);
    expect(p.fstat(s).st_blocks).toBe(8);
    expect(k.meminfo().ShmemHugePages).toBe(4096);
    k.writeSysfs(SHMEM_ENABLED, 'deny');
    const h2 = p.open('/huge/g', U.O_RDWR | U.O_CREAT, 0o644);
    p.pwrite(h2, new Uint8Array([1]), 1, 0);
    expect(p.fstat(h2).st_blocks).toBe(8);
    expect(k.check()).toEqual([]);
    expect(() => new Kernel({ mounts: { '/': 'ext4', '/x': { type: 'tmpfs', options: 'huge=force' } } })).toThrow(/huge=/);
  });
});

describe('khugepaged on shmem (hpage_collapse_scan_file)', () => {
  const KH = '/sys/kernel/mm/transparent_hugepage/khugepaged/';

  it('collapses a registered shmem mapping when shmem_enabled allows it, within max_ptes_none; the next fault maps a PMD', () => {
    const k = new Kernel({ memory: '128MiB', thp: 'never' });
    const p = k.spawn();
    const fd = memfd(p, 2, 0);
    for (let i = 0; i < 20; i++) p.pwrite(fd, new Uint8Array(PAGE).fill(i + 1), PAGE, i * PAGE);
    for (let i = 512; i < 522; i++) p.pwrite(fd, new Uint8Array(PAGE).fill(3), PAGE, i * PAGE);
    const a = smap(p, fd, 2);
    p.read(a, 1);
    // Neither THP setting allows anything: khugepaged has no work.
    expect(k.khugepagedScan().collapsed).toBe(0);
    k.writeSysfs(SHMEM_ENABLED, 'advise');
    p.madvise(a, 2 * PMD, U.MADV_HUGEPAGE);
    k.writeSysfs(`${KH}max_ptes_none`, String(512 - 15));
    // 6.12 runs khugepaged only while anonymous PMD THP is enabled (hugepage_pmd_enabled has no
    // shmem term before 6.13): with enabled=never nothing collapses. Real 6.12.118 (Debian,
    // realkernel boot.sh, 2026-12-07): a memfd with 20 pages under shmem_enabled=advise and
    // MADV_HUGEPAGE kept ShmemHugePages at 0 for 3 s with enabled=never, and reached 2048 kB
    // with enabled=madvise.
    k.khugepagedScan();
    expect(k.meminfo().ShmemHugePages).toBe(0);
    k.writeSysfs(THP_ENABLED, 'madvise');
    // The mm registers when a VMA's flags become VM_HUGEPAGE while khugepaged may run
    // (madvise_update_vma -> khugepaged_enter_vma; an unchanged VMA does not call it).
    p.madvise(a, 2 * PMD, U.MADV_NOHUGEPAGE);
    p.madvise(a, 2 * PMD, U.MADV_HUGEPAGE);
    k.khugepagedScan();
    k.khugepagedScan();
    // The first 2 MiB had 20 pages (enough), the second 10 (too few).
    expect(k.meminfo().ShmemHugePages).toBe(2048);
    // (A later pass over a collapsed 2 MiB whose table is gone counts again, as in Linux.)
    expect(Number(k.readSysfs(`${KH}pages_collapsed`))).toBeGreaterThanOrEqual(1);
    expect(k.check()).toEqual([]);
    // The table was retracted: the next access maps the folio by a PMD.
    expect(p.pagemap(a).present).toBe(false);
    expect(p.read(a + 19 * PAGE, 1)[0]).toBe(20);
    expect(p.read(a + 20 * PAGE, 1)[0]).toBe(0);
    expect(pmdMapped(p, a)).toBe(true);
    expect(k.check()).toEqual([]);
  });

  it('a PMD-order folio PTE-mapped in a registered mm gets its table retracted (collapse_pte_mapped_thp without a PMD)', () => {
    // Anonymous THP on madvise: khugepaged runs (6.12's hugepage_pmd_enabled), for no anonymous VMA here.
    const k = new Kernel({ memory: '128MiB', thp: 'madvise' });
    const p = k.spawn();
    const fd = memfd(p);
    const a = smap(p, fd);
    p.read(a, 1);
    expect(p.madvise(a, PMD, U.MADV_COLLAPSE)).toBe(0);
    // A second mapping maps it by PTEs (THP disabled for it), then allows THP again.
    const b = smap(p, fd);
    p.madvise(b, PMD, U.MADV_NOHUGEPAGE);
    p.read(b + 5 * PAGE, 1);
    expect(p.pagemap(b + 5 * PAGE).mappedBy).toBe(PAGE);
    k.writeSysfs(SHMEM_ENABLED, 'always');
    p.madvise(b, PMD, U.MADV_HUGEPAGE);
    const before = Number(k.readSysfs(`${KH}pages_collapsed`));
    for (let i = 0; i < 4; i++) k.khugepagedScan();
    expect(p.pagemap(b + 5 * PAGE).present).toBe(false);
    expect(Number(k.readSysfs(`${KH}pages_collapsed`))).toBeGreaterThan(before);
    expect(p.read(b + 5 * PAGE, 1)[0]).toBe((5 * 7 + 1) & 0xff);
    expect(pmdMapped(p, b)).toBe(true);
    expect(k.check()).toEqual([]);
  });
});

describe('shmem mapping placement (shmem_get_unmapped_area)', () => {
  it('where shmem THP may back it, a hint-less mapping of 2 MiB or more is placed PMD-aligned to its file offset', () => {
    const k = new Kernel({ memory: '128MiB' });
    const p = k.spawn();
    const fd = p.memfd_create('m', 0);
    p.ftruncate(fd, 4 * PMD);
    // never: plain top-down placement, which here is not 2 MiB-aligned.
    const plain = p.mmap(0, PMD + PAGE, RW, U.MAP_SHARED, fd, 0);
    expect(plain % PMD).not.toBe(0);
    k.writeSysfs(SHMEM_ENABLED, 'always');
    const a = p.mmap(0, 2 * PMD, RW, U.MAP_SHARED, fd, 0);
    expect(a % PMD).toBe(0);
    p.read(a, 1);
    expect(pmdMapped(p, a)).toBe(true);
    // File offset 4 KiB: the address agrees with it modulo 2 MiB.
    const b = p.mmap(0, 2 * PMD, RW, U.MAP_SHARED, fd, PAGE);
    expect(b % PMD).toBe(PAGE);
    // Shared anonymous memory (file offset 0), and a small mapping (left alone).
    const c = p.mmap(0, PMD, RW, U.MAP_SHARED | U.MAP_ANONYMOUS, -1, 0);
    expect(c % PMD).toBe(0);
    p.fill(c, 1, 1);
    expect(pmdMapped(p, c)).toBe(true);
    // deny: no alignment.
    k.writeSysfs(SHMEM_ENABLED, 'deny');
    const d = p.mmap(0, PMD + PAGE, RW, U.MAP_SHARED, fd, 0);
    expect(d % PMD).not.toBe(0);
    expect(k.check()).toEqual([]);
  });
});
