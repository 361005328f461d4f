/**
 * HugeTLB high-granularity mapping (HGM; James Houghton's series, never
 * merged): the policy options, MADV_SPLIT, UFFDIO_CONTINUE / POISON at 4 KiB
 * and 2 MiB inside huge pages, faults and accesses through mixed-size page
 * tables, zap / munmap / truncate / fork / mprotect / uffd-wp / mremap of
 * pieces, MADV_COLLAPSE and the two collapse notifiers. The mapcount designs
 * themselves are in src/policy/hgm_mapcount.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { EVENT_NAMES, FOLL_LONGTERM, FOLL_WRITE, Kernel, KernelConfigError, type KernelOptions, type MmuNotifierRange, type Process, SyscallError, UffdFault } from '../index.js';
import * as U from '../uapi/index.js';

const PAGE = 4096;
const M2 = 2 ** 21;
const G = 2 ** 30;
const RW = U.PROT_READ | U.PROT_WRITE;

/** A hugetlbfs memfd of `pages` huge pages mapped twice (the post-copy layout): prim (split, MINOR-registered) and alias. */
function setup(opts: { design?: string; notifier?: string; size?: number; pages?: number; split?: boolean; minor?: boolean; wp?: boolean; features?: number; extra?: KernelOptions } = {}) {
  const size = opts.size ?? G;
  const pages = opts.pages ?? 1;
  const k = new Kernel({
    memory: size === G ? '4GiB' : '256MiB',
    hugetlb: size === G ? { '1GiB': pages + 1 } : { '2MiB': pages + 4 },
    policy: { hgmMapcount: opts.design ?? 'thp-like', collapseNotifier: opts.notifier ?? 'invalidate' },
    ...opts.extra,
  });
  const p = k.spawn();
  const fd = p.memfd_create('guest', U.MFD_HUGETLB | (size === G ? U.MFD_HUGE_1GB : U.MFD_HUGE_2MB));
  p.ftruncate(fd, pages * size);
  const prim = p.mmap(0, pages * size, RW, U.MAP_SHARED, fd, 0);
  const alias = p.mmap(0, pages * size, RW, U.MAP_SHARED, fd, 0);
  if (opts.split !== false) p.madvise(prim, pages * size, U.MADV_SPLIT);
  const uffd = p.userfaultfd(U.O_NONBLOCK);
  p.ioctl(uffd, U.UFFDIO_API, { api: U.UFFD_API, features: U.UFFD_FEATURE_MINOR_HUGETLBFS | U.UFFD_FEATURE_WP_HUGETLBFS_SHMEM | (opts.features ?? 0), ioctls: 0 });
  if (opts.minor !== false) {
    const mode = U.UFFDIO_REGISTER_MODE_MINOR | (opts.wp ? U.UFFDIO_REGISTER_MODE_WP : 0);
    p.ioctl(uffd, U.UFFDIO_REGISTER, { range: { start: prim, len: pages * size }, mode, ioctls: 0 });
  }
  // The alias populates the page cache (the post-copy "write through the alias").
  p.fill(alias, 1, 0);
  return { k, p, fd, prim, alias, uffd, size };
}

function cont(p: Process, uffd: number, start: number, len: number, mode = 0): number {
  const a = { range: { start, len }, mode, mapped: 0 };
  try {
    p.ioctl(uffd, U.UFFDIO_CONTINUE, a);
  } catch (e) {
    if (!(e instanceof SyscallError)) throw e;
  }
  return a.mapped;
}

function blocked(fn: () => unknown): UffdFault {
  try {
    fn();
  } catch (e) {
    if (e instanceof UffdFault) return e;
    throw e;
  }
  throw new Error('the access did not block');
}

describe('policy options', () => {
  it("'off' is Linux 6.12: MADV_SPLIT is unknown advice and MADV_COLLAPSE on HugeTLB is EINVAL", () => {
    const k = new Kernel({ memory: '256MiB', hugetlb: { '2MiB': 4 } });
    expect(k.policy.hgmMapcount).toBe('off');
    expect(k.policy.collapseNotifier).toBe('invalidate');
    const p = k.spawn();
    const fd = p.memfd_create('g', U.MFD_HUGETLB);
    p.ftruncate(fd, 2 * M2);
    const a = p.mmap(0, 2 * M2, RW, U.MAP_SHARED, fd, 0);
    expect(() => p.madvise(a, M2, U.MADV_SPLIT)).toThrow(/EINVAL/);
    expect(() => p.madvise(a, M2, U.MADV_COLLAPSE)).toThrow(/EINVAL/);
    expect(k.check()).toEqual([]);
  });

  it('unknown names are KernelConfigErrors listing the valid ones', () => {
    expect(() => new Kernel({ policy: { hgmMapcount: 'per-folio' } })).toThrow(KernelConfigError);
    expect(() => new Kernel({ policy: { hgmMapcount: 'per-folio' } })).toThrow(/hgmMapcount policy "per-folio"; valid: off, thp-like, head-per-pte, pgtable, special-bit/);
    expect(() => new Kernel({ policy: { collapseNotifier: 'lazy' } })).toThrow(/collapseNotifier policy "lazy"; valid: invalidate, post-collapse/);
  });

  it('thp-like refuses HVO: at boot, and through vm.hugetlb_optimize_vmemmap (EINVAL); the head-only designs allow it', () => {
    expect(() => new Kernel({ hugetlbOptimizeVmemmap: true, policy: { hgmMapcount: 'thp-like' } })).toThrow(/needs writable tail struct pages.*turn HVO off/);
    for (const d of ['head-per-pte', 'pgtable', 'special-bit']) expect(new Kernel({ memory: '256MiB', hugetlbOptimizeVmemmap: true, policy: { hgmMapcount: d } }).policy.hgmMapcount).toBe(d);
    const k = new Kernel({ memory: '256MiB', policy: { hgmMapcount: 'thp-like' } });
    const p = k.spawn();
    const fd = p.open('/proc/sys/vm/hugetlb_optimize_vmemmap', U.O_RDWR);
    expect(() => p.syswrite(fd, new TextEncoder().encode('1\n'), 2)).toThrow(/EINVAL/);
    expect(p.syswrite(fd, new TextEncoder().encode('0\n'), 2)).toBe(2);
  });
});

describe('MADV_SPLIT', () => {
  it('= 26; sets VM_HUGETLB_HGM on a shared HugeTLB VMA and changes no mapping', () => {
    expect(U.MADV_SPLIT).toBe(26);
    const { k, p, prim, alias } = setup({ size: M2, pages: 2, split: false, minor: false });
    p.fill(prim, 2 * M2, 5);
    p.madvise(prim, 2 * M2, U.MADV_SPLIT);
    expect(p.pagemap(prim).mappedBy).toBe(M2);
    expect(p.read(alias + M2 + 7, 1)[0]).toBe(5);
    // Again: nothing to do.
    p.madvise(prim, 2 * M2, U.MADV_SPLIT);
    expect(k.check()).toEqual([]);
  });

  it('EINVAL on private HugeTLB, on non-HugeTLB memory, and off a huge page boundary (the VMA split)', () => {
    const k = new Kernel({ memory: '256MiB', hugetlb: { '2MiB': 4 }, policy: { hgmMapcount: 'pgtable' } });
    const p = k.spawn();
    const priv = p.mmap(0, 2 * M2, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_HUGETLB, -1, 0);
    expect(() => p.madvise(priv, M2, U.MADV_SPLIT)).toThrow(/EINVAL/);
    const anon = p.mmap(0, M2, RW, U.MAP_SHARED | U.MAP_ANONYMOUS, -1, 0);
    expect(() => p.madvise(anon, PAGE, U.MADV_SPLIT)).toThrow(/EINVAL/);
    const shared = p.mmap(0, 2 * M2, RW, U.MAP_SHARED | U.MAP_ANONYMOUS | U.MAP_HUGETLB, -1, 0);
    expect(() => p.madvise(shared, PAGE, U.MADV_SPLIT)).toThrow(/EINVAL/);
    p.madvise(shared, M2, U.MADV_SPLIT);
    expect(p.smaps().filter((s) => s.start >= shared && s.end <= shared + 2 * M2)).toHaveLength(2);
    expect(k.check()).toEqual([]);
  });
});

describe('UFFDIO_CONTINUE at high granularity', () => {
  it('4 KiB pieces without MADV_SPLIT are EINVAL, as upstream', () => {
    const { p, uffd, prim } = setup({ split: false });
    expect(() => p.ioctl(uffd, U.UFFDIO_CONTINUE, { range: { start: prim, len: PAGE }, mode: 0, mapped: 0 })).toThrow(/EINVAL/);
  });

  it('maps each piece with the largest entry that fits: 4 KiB PTEs, 2 MiB PMDs inside a 1 GiB page', () => {
    const { k, p, uffd, prim, alias } = setup();
    p.fill(alias, 8 * M2, 0x42);
    // [2M - 8K, 4M + 8K): two PTEs, one PMD leaf, two PTEs.
    expect(cont(p, uffd, prim + M2 - 2 * PAGE, M2 + 4 * PAGE)).toBe(M2 + 4 * PAGE);
    expect(p.pagemap(prim + M2 - PAGE).mappedBy).toBe(PAGE);
    expect(p.pagemap(prim + M2).mappedBy).toBe(M2);
    expect(p.pagemap(prim + 2 * M2 + PAGE).mappedBy).toBe(PAGE);
    expect(p.pagemap(prim + M2 + 5 * PAGE).pfn).toBe(p.pagemap(alias + M2 + 5 * PAGE).pfn);
    expect(p.read(prim + M2 + 77, 1)[0]).toBe(0x42);
    expect(k.check()).toEqual([]);
  });

  it('errnos: EEXIST on a mapped piece (and a partly mapped larger range), EFAULT without a page, EINVAL unaligned', () => {
    const { k, p, uffd, prim, alias } = setup({ pages: 2 });
    cont(p, uffd, prim, PAGE);
    expect(() => p.ioctl(uffd, U.UFFDIO_CONTINUE, { range: { start: prim, len: PAGE }, mode: 0, mapped: 0 })).toThrow(/EEXIST/);
    expect(() => p.ioctl(uffd, U.UFFDIO_CONTINUE, { range: { start: prim, len: M2 }, mode: 0, mapped: 0 })).toThrow(/EEXIST/);
    expect(() => p.ioctl(uffd, U.UFFDIO_CONTINUE, { range: { start: prim, len: G }, mode: 0, mapped: 0 })).toThrow(/EEXIST/);
    // The second 1 GiB page is not in the file yet.
    expect(() => p.ioctl(uffd, U.UFFDIO_CONTINUE, { range: { start: prim + G, len: PAGE }, mode: 0, mapped: 0 })).toThrow(/EFAULT/);
    expect(() => p.ioctl(uffd, U.UFFDIO_CONTINUE, { range: { start: prim + 100, len: PAGE }, mode: 0, mapped: 0 })).toThrow(/EINVAL/);
    // A whole page still maps with one leaf.
    p.fill(alias + G, 1, 1);
    expect(cont(p, uffd, prim + G, G)).toBe(G);
    expect(p.pagemap(prim + G).mappedBy).toBe(G);
    expect(k.check()).toEqual([]);
  });

  it('fault messages give the 4 KiB page; never-CONTINUEd pieces of a partly mapped page still fault to the monitor', () => {
    const { k, p, uffd, prim, alias } = setup();
    p.fill(alias, 4 * PAGE, 9);
    const e = blocked(() => p.read(prim + 3 * PAGE + 5, 1));
    expect(e.msg.arg.pagefault.flags).toBe(U.UFFD_PAGEFAULT_FLAG_MINOR);
    expect(e.msg.arg.pagefault.address).toBe(prim + 3 * PAGE);
    cont(p, uffd, prim + 3 * PAGE, PAGE);
    expect(p.read(prim + 3 * PAGE + 5, 1)[0]).toBe(9);
    // The neighbour below the same table, and a 2 MiB piece elsewhere, are still the monitor's.
    expect(blocked(() => p.read(prim + 2 * PAGE, 1)).msg.arg.pagefault.address).toBe(prim + 2 * PAGE);
    expect(blocked(() => p.read(prim + 7 * M2 + 9 * PAGE, 1)).msg.arg.pagefault.address).toBe(prim + 7 * M2 + 9 * PAGE);
    expect(k.check()).toEqual([]);
  });

  it('a write through a piece lands in the shared page; an unregistered HGM VMA faults pieces in at their level', () => {
    const { k, p, uffd, prim, alias } = setup();
    cont(p, uffd, prim + PAGE, PAGE);
    p.write(prim + PAGE + 1, new Uint8Array([0xab]));
    expect(p.read(alias + PAGE + 1, 1)[0]).toBe(0xab);
    p.ioctl(uffd, U.UFFDIO_UNREGISTER, { start: prim, len: G });
    // Below the table: the none PTE maps a 4 KiB piece, a none PMD a 2 MiB one.
    p.read(prim, 1);
    expect(p.pagemap(prim).mappedBy).toBe(PAGE);
    p.read(prim + 5 * M2, 1);
    expect(p.pagemap(prim + 5 * M2).mappedBy).toBe(M2);
    expect(k.check()).toEqual([]);
  });

  it('UFFDIO_POISON takes pieces too: SIGBUS there only', () => {
    const { k, p, uffd, prim } = setup({ size: M2, pages: 1 });
    p.ioctl(uffd, U.UFFDIO_POISON, { range: { start: prim + PAGE, len: PAGE }, mode: 0, updated: 0 });
    expect(() => p.read(prim + PAGE, 1)).toThrow(/SIGBUS/);
    cont(p, uffd, prim, PAGE);
    expect(p.read(prim, 1)[0]).toBe(0);
    expect(k.check()).toEqual([]);
  });
});

describe('walks over mixed sizes', () => {
  it('MADV_DONTNEED, munmap and exit zap the pieces and free the tables', () => {
    for (const design of ['thp-like', 'head-per-pte', 'pgtable', 'special-bit']) {
      const { k, p, uffd, prim } = setup({ design });
      cont(p, uffd, prim, M2 + PAGE);
      const before = p.status().VmPTE;
      p.madvise(prim, G, U.MADV_DONTNEED);
      expect(p.pagemap(prim).present).toBe(false);
      expect(p.status().VmPTE).toBe(before); // leaves only
      expect(k.check().filter((v) => v.name !== 'hgm-mapcount-after-truncate')).toEqual([]);
      cont(p, uffd, prim + 3 * PAGE, PAGE);
      p.munmap(prim, G);
      expect(k.check()).toEqual([]);
      p.exit();
      expect(k.check()).toEqual([]);
    }
  });

  it('a full table of 4 KiB pieces zaps as one batch, with the counts of an entry-by-entry zap; a uffd-wp piece keeps its marker', () => {
    for (const design of ['thp-like', 'head-per-pte', 'pgtable', 'special-bit']) {
      const { k, p, uffd, prim, alias } = setup({ design, wp: true });
      const ev = (name: string): number => k.host.ev[EVENT_NAMES.indexOf(name as never)]!;
      const pfn = p.pagemap(alias).pfn;
      const before = k.folio(pfn)!;
      // 2 MiB chunk 0: 512 plain pieces (one batch); chunk 1: the same with one write-protected piece (entry by entry).
      cont(p, uffd, prim, PAGE);
      cont(p, uffd, prim + PAGE, M2 - PAGE);
      cont(p, uffd, prim + M2, 7 * PAGE);
      cont(p, uffd, prim + M2 + 7 * PAGE, PAGE, U.UFFDIO_CONTINUE_MODE_WP);
      cont(p, uffd, prim + M2 + 8 * PAGE, M2 - 8 * PAGE);
      expect(p.pagemap(prim + M2 + 7 * PAGE)).toMatchObject({ present: true, mappedBy: PAGE, uffdWp: true });
      const pte0 = ev('pte_write');
      const sub0 = ev('hgm_subpage_mapcount');
      // (HugeTLB MADV_DONTNEED rounds its end down to the huge page: the whole 1 GiB.)
      p.madvise(prim, G, U.MADV_DONTNEED);
      // 1,024 clears, one of them rewritten as a marker.
      expect(ev('pte_write') - pte0, design).toBe(1025);
      expect(ev('hgm_subpage_mapcount') - sub0, design).toBe(design === 'thp-like' ? 1024 : 0);
      expect(p.pagemap(prim + 3 * PAGE).present).toBe(false);
      expect(p.pagemap(prim + M2 + 7 * PAGE)).toMatchObject({ present: false, uffdWp: true });
      expect(p.pagemap(prim + M2 + 8 * PAGE)).toMatchObject({ present: false, uffdWp: false });
      const after = k.folio(pfn)!;
      if (design === 'thp-like' || design === 'head-per-pte') expect({ design, m: after.mapcount, r: after.refcount }).toEqual({ design, m: before.mapcount, r: before.refcount });
      expect(k.check().filter((v) => v.name !== 'hgm-mapcount-after-truncate')).toEqual([]);
    }
  });

  it('fork copies the pieces into a uffd-wp child (vma_needs_copy), which reads the shared page through them', () => {
    for (const design of ['thp-like', 'head-per-pte', 'pgtable', 'special-bit']) {
      const { k, p, uffd, prim, alias } = setup({ design, wp: true, features: U.UFFD_FEATURE_EVENT_FORK });
      p.fill(alias + M2, 1, 3);
      cont(p, uffd, prim + M2, M2 + PAGE);
      const c = p.fork();
      expect(c.pagemap(prim + M2).mappedBy).toBe(M2);
      expect(c.pagemap(prim + 2 * M2).mappedBy).toBe(PAGE);
      expect(c.read(prim + M2, 1)[0]).toBe(3);
      expect(k.check()).toEqual([]);
      c.exit();
      expect(k.check()).toEqual([]);
    }
  });

  it('GUP, slow and fast: a pin of a 4 KiB piece or of part of a 2 MiB piece pins the HugeTLB folio', () => {
    const { k, p, uffd, prim, alias } = setup({ design: 'thp-like' });
    cont(p, uffd, prim + PAGE, PAGE);
    cont(p, uffd, prim + M2, M2);
    const head = p.pagemap(alias).pfn;
    const pages: number[] = [];
    expect(k.gup.pin_user_pages_fast(p, prim + PAGE, 1, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(1);
    expect(pages[0]).toBe(head + 1);
    const slow: number[] = [];
    expect(k.gup.pin_user_pages(p, prim + M2 + 3 * PAGE, 2, FOLL_WRITE, slow)).toBe(2);
    expect(slow).toEqual([head + 512 + 3, head + 512 + 4]);
    expect(k.folio(head)!.pincount).toBe(3);
    expect(k.check()).toEqual([]);
    k.gup.unpin_user_pages(pages, 1);
    k.gup.unpin_user_pages(slow, 2);
    expect(k.folio(head)!.pincount).toBe(0);
    // A pin through a never-CONTINUEd piece faults to the monitor, which nobody runs: the pin fails.
    expect(k.gup.pin_user_pages(p, prim + 9 * PAGE, 1, 0, [])).toBeLessThan(0);
    expect(k.check()).toEqual([]);
  });

  it('mprotect and uffd-wp reach the pieces; a write-protected piece faults to the monitor with its 4 KiB address', () => {
    const { k, p, uffd, prim } = setup({ wp: true });
    cont(p, uffd, prim, M2 + PAGE);
    p.mprotect(prim, G, U.PROT_READ);
    expect(() => p.fill(prim + M2, 1, 1)).toThrow(/SIGSEGV/);
    p.mprotect(prim, G, RW);
    p.fill(prim + M2, 1, 1);
    p.ioctl(uffd, U.UFFDIO_WRITEPROTECT, { range: { start: prim, len: G }, mode: U.UFFDIO_WRITEPROTECT_MODE_WP });
    expect(p.pagemap(prim + M2).uffdWp).toBe(true);
    const e = blocked(() => p.fill(prim + 5 * PAGE + 9, 1, 1));
    expect(e.msg.arg.pagefault.address).toBe(prim + 5 * PAGE);
    expect(e.msg.arg.pagefault.flags).toBe(U.UFFD_PAGEFAULT_FLAG_WRITE | U.UFFD_PAGEFAULT_FLAG_WP);
    // None pieces below the tables took markers (a PTE, and a PMD inside the 1 GiB table).
    expect(p.pagemap(prim + M2 + 5 * PAGE)).toMatchObject({ present: false, uffdWp: true });
    expect(p.pagemap(prim + 4 * M2)).toMatchObject({ present: false, uffdWp: true });
    expect(k.check()).toEqual([]);
    p.ioctl(uffd, U.UFFDIO_WRITEPROTECT, { range: { start: prim, len: G }, mode: 0 });
    expect(p.pagemap(prim + 4 * M2).uffdWp).toBe(false);
    p.fill(prim + 5 * PAGE, 1, 1);
    expect(k.check()).toEqual([]);
  });

  it('mremap moves the table of pieces whole', () => {
    const { k, p, uffd, prim, alias } = setup({ size: M2, pages: 2, minor: true });
    p.fill(alias + M2, 1, 0x77);
    cont(p, uffd, prim + M2, 2 * PAGE);
    const dst = p.mremap(prim, 2 * M2, 2 * M2, U.MREMAP_MAYMOVE);
    expect(p.pagemap(dst + M2).mappedBy).toBe(PAGE);
    expect(p.read(dst + M2, 1)[0]).toBe(0x77);
    expect(k.check()).toEqual([]);
  });
});

describe('MADV_COLLAPSE', () => {
  it('EINVAL on a private HugeTLB VMA; a shared VMA never split has nothing to collapse', () => {
    const k = new Kernel({ memory: '256MiB', hugetlb: { '2MiB': 4 }, policy: { hgmMapcount: 'thp-like' } });
    const p = k.spawn();
    const priv = p.mmap(0, M2, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_HUGETLB, -1, 0);
    expect(() => p.madvise(priv, M2, U.MADV_COLLAPSE)).toThrow(/EINVAL/);
    const shared = p.mmap(0, M2, RW, U.MAP_SHARED | U.MAP_ANONYMOUS | U.MAP_HUGETLB, -1, 0);
    p.fill(shared, 1, 1);
    p.madvise(shared, M2, U.MADV_COLLAPSE);
    expect(p.pagemap(shared).mappedBy).toBe(M2);
    expect(k.hgm().invalidateCollapses).toBe(0);
  });

  it('fills holes, undoes write protection, frees the tables: one hstate-level leaf', () => {
    const { k, p, uffd, prim, alias } = setup({ size: M2, pages: 1, wp: true });
    p.fill(alias + 100 * PAGE, 1, 8);
    cont(p, uffd, prim, PAGE, U.UFFDIO_CONTINUE_MODE_WP);
    const pte = p.status().VmPTE;
    p.madvise(prim, M2, U.MADV_COLLAPSE);
    expect(p.pagemap(prim)).toMatchObject({ mappedBy: M2, uffdWp: false });
    expect(p.status().VmPTE).toBe(pte - 4);
    // The hole is mapped: no fault to the monitor, and writes go through.
    p.fill(prim + 100 * PAGE, 1, 9);
    expect(p.read(alias + 100 * PAGE, 1)[0]).toBe(9);
    expect(k.check()).toEqual([]);
  });

  it('inside a 1 GiB page a partial range collapses to 2 MiB leaves; 4K -> 2M -> 1G', () => {
    const { k, p, uffd, prim } = setup();
    cont(p, uffd, prim, 2 * PAGE);
    cont(p, uffd, prim + 3 * M2 + PAGE, PAGE);
    // Not 2 MiB aligned at either end: only the whole 2 MiB pieces inside.
    p.madvise(prim + PAGE, 4 * M2, U.MADV_COLLAPSE);
    expect(p.pagemap(prim).mappedBy).toBe(PAGE);
    expect(p.pagemap(prim + 3 * M2).mappedBy).toBe(M2);
    p.madvise(prim, 2 * M2, U.MADV_COLLAPSE);
    expect(p.pagemap(prim).mappedBy).toBe(M2);
    expect(k.check()).toEqual([]);
    p.madvise(prim, G, U.MADV_COLLAPSE);
    expect(p.pagemap(prim + 3 * M2).mappedBy).toBe(G);
    expect(k.check()).toEqual([]);
  });

  it('a page no longer in the file: the region is cleared instead', () => {
    const { k, p, uffd, prim, fd } = setup({ size: M2, pages: 2, design: 'thp-like' });
    cont(p, uffd, prim, PAGE);
    p.ftruncate(fd, 0);
    p.madvise(prim, M2, U.MADV_COLLAPSE);
    expect(p.pagemap(prim).present).toBe(false);
    expect(k.check()).toEqual([]);
  });
});

describe('collapse notifiers', () => {
  function watch(p: Process) {
    const log: string[] = [];
    const ops = {
      invalidateRangeStart: (r: MmuNotifierRange) => log.push(`start ${r.start}-${r.end}`),
      invalidateRangeEnd: (r: MmuNotifierRange) => log.push(`end ${r.start}-${r.end}`),
      postCollapse: (r: MmuNotifierRange) => log.push(`post ${r.start}-${r.end}`),
    };
    p.mmuNotifierRegister(ops);
    return log;
  }

  it("'invalidate': the collapse sits inside one invalidate_range_start/end", () => {
    const { k, p, uffd, prim } = setup({ size: M2, pages: 1 });
    cont(p, uffd, prim, M2 / 2);
    cont(p, uffd, prim + M2 / 2, M2 / 2);
    const log = watch(p);
    p.madvise(prim, M2, U.MADV_COLLAPSE);
    expect(log).toEqual([`start ${prim}-${prim + M2}`, `end ${prim}-${prim + M2}`]);
    expect(k.hgm()).toMatchObject({ invalidateCollapses: 1, postCollapses: 0 });
  });

  it("'post-collapse': no invalidate when nothing a secondary MMU sees changes, one notification after", () => {
    const { k, p, uffd, prim } = setup({ size: M2, pages: 1, notifier: 'post-collapse' });
    cont(p, uffd, prim, M2 - PAGE);
    cont(p, uffd, prim + M2 - PAGE, PAGE);
    const log = watch(p);
    const ev = (n: string) => k.host.ev[EVENT_NAMES.indexOf(n as never)]!;
    const inv = ev('notifier_invalidate');
    p.madvise(prim, M2, U.MADV_COLLAPSE);
    expect(log).toEqual([`post ${prim}-${prim + M2}`]);
    expect(k.hgm()).toMatchObject({ postCollapses: 1, invalidateCollapses: 0, postCollapseFallbacks: 0 });
    expect(ev('notifier_post_collapse')).toBe(1);
    expect(ev('notifier_invalidate')).toBe(inv);
    expect(k.check()).toEqual([]);
  });

  it("'post-collapse' falls back to the invalidate pair when the collapse fills holes or changes permissions", () => {
    const { k, p, uffd, prim, alias } = setup({ size: M2, pages: 2, notifier: 'post-collapse', wp: true });
    cont(p, uffd, prim, PAGE);
    const log = watch(p);
    // A hole.
    p.madvise(prim, M2, U.MADV_COLLAPSE);
    expect(log).toEqual([`start ${prim}-${prim + M2}`, `end ${prim}-${prim + M2}`]);
    // Every piece mapped, but write-protected: the leaf would be writable.
    p.fill(alias + M2, 1, 1);
    cont(p, uffd, prim + M2, M2 - PAGE, U.UFFDIO_CONTINUE_MODE_WP);
    cont(p, uffd, prim + 2 * M2 - PAGE, PAGE, U.UFFDIO_CONTINUE_MODE_WP);
    p.madvise(prim + M2, M2, U.MADV_COLLAPSE);
    expect(log).toHaveLength(4);
    expect(k.hgm()).toMatchObject({ postCollapseFallbacks: 2, invalidateCollapses: 2, postCollapses: 0 });
    expect(k.check()).toEqual([]);
  });
});
