/**
 * Multi-size THP (Linux 6.8+, as 6.12 has it): the per-size sysfs controls
 * and counters, the order alloc_anon_folio picks, and PTE-mapped large
 * anonymous folios through COW, fork, partial unmaps, splits, pins and
 * collapse, with the oracle after each step.
 */
import { describe, expect, it } from 'vitest';
import { FOLL_LONGTERM, FOLL_WRITE, Kernel, type Process } from '../index.js';
import * as U from '../uapi/index.js';
import { SyscallError } from '../uapi/errors.js';
import { splitFolio } from './huge_memory.js';

const RW = U.PROT_READ | U.PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;
const KiB = 1024;
const MiB = 2 ** 20;
const PAGE = 4096;
const DIR = '/sys/kernel/mm/transparent_hugepage';
const SIZES_KB = [16, 32, 64, 128, 256, 512, 1024, 2048];

function enabled(k: Kernel, kb: number, mode: string): void {
  k.writeSysfs(`${DIR}/hugepages-${kb}kB/enabled`, mode);
}

function stat(k: Kernel, kb: number, name: string): number {
  return Number(k.readSysfs(`${DIR}/hugepages-${kb}kB/stats/${name}`));
}

function errnoOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof SyscallError) return e.code;
    throw e;
  }
  return 'none';
}

/** A private anonymous mapping of len bytes whose start is aligned to align. */
function mmapAligned(p: Process, len: number, align: number): number {
  const raw = p.mmap(0, len + align, RW, ANON, -1, 0);
  const a = Math.ceil(raw / align) * align;
  if (a > raw) p.munmap(raw, a - raw);
  if (raw + len + align > a + len) p.munmap(a + len, raw + align - a);
  return a;
}

/** The order of the folio mapped at addr. */
function orderAt(k: Kernel, p: Process, addr: number): number {
  const e = p.pagemap(addr);
  expect(e.present).toBe(true);
  return k.folio(e.pfn)!.order;
}

function kernel(opts: { memory?: string; movable?: string } = {}): { k: Kernel; p: Process } {
  const k = new Kernel({ memory: opts.memory ?? '64MiB', thp: 'always', ...(opts.movable ? { movable: opts.movable } : {}) });
  return { k, p: k.spawn() };
}

describe('per-size sysfs controls (mm/huge_memory.c:hugepage_init_sysfs)', () => {
  it('every anonymous size from 16 kB to the PMD size has enabled; 2048 kB inherits, the others are never', () => {
    const { k } = kernel();
    for (const kb of SIZES_KB) {
      expect(k.readSysfs(`${DIR}/hugepages-${kb}kB/enabled`)).toBe(kb === 2048 ? 'always [inherit] madvise never' : 'always inherit madvise [never]');
    }
    // No anonymous 8 kB (order 1) or PUD-sized controls.
    expect(errnoOf(() => k.readSysfs(`${DIR}/hugepages-8kB/enabled`))).toBe('ENOENT');
    expect(errnoOf(() => k.readSysfs(`${DIR}/hugepages-4096kB/enabled`))).toBe('ENOENT');
    expect(k.readSysfs(`${DIR}/hpage_pmd_size`)).toBe('2097152');
  });

  it('stores the four values (one trailing newline allowed) and rejects anything else with EINVAL', () => {
    const { k } = kernel();
    enabled(k, 64, 'always');
    expect(k.readSysfs(`${DIR}/hugepages-64kB/enabled`)).toBe('[always] inherit madvise never');
    enabled(k, 64, 'madvise\n');
    expect(k.readSysfs(`${DIR}/hugepages-64kB/enabled`)).toBe('always inherit [madvise] never');
    enabled(k, 64, 'inherit');
    expect(k.readSysfs(`${DIR}/hugepages-64kB/enabled`)).toBe('always [inherit] madvise never');
    for (const bad of [' always', 'always\n\n', 'Always', 'within_size', 'never ']) expect(errnoOf(() => enabled(k, 64, bad))).toBe('EINVAL');
    expect(k.readSysfs(`${DIR}/hugepages-64kB/enabled`)).toBe('always [inherit] madvise never');
    enabled(k, 64, 'never');
    expect(k.readSysfs(`${DIR}/hugepages-64kB/enabled`)).toBe('always inherit madvise [never]');
    // The counters are read-only.
    expect(errnoOf(() => k.writeSysfs(`${DIR}/hugepages-64kB/stats/split`, '0'))).toBe('EACCES');
  });

  it('are files a process can open, read and write; a bad write fails with EINVAL', () => {
    const { p } = kernel();
    const path = `${DIR}/hugepages-32kB/enabled`;
    const fd = p.open(path, U.O_RDWR);
    expect(p.syswrite(fd, new TextEncoder().encode('always\n'), 7)).toBe(7);
    expect(errnoOf(() => p.syswrite(fd, new TextEncoder().encode('sometimes'), 9))).toBe('EINVAL');
    p.close(fd);
    const rfd = p.open(path, U.O_RDONLY);
    const buf = new Uint8Array(100);
    const n = p.sysread(rfd, buf, 100);
    expect(new TextDecoder().decode(buf.subarray(0, n))).toBe('[always] inherit madvise never\n');
    p.close(rfd);
    expect(errnoOf(() => p.open(`${DIR}/hugepages-32kB/stats/anon_fault_alloc`, U.O_WRONLY))).toBe('EACCES');
  });

  it('has the stats/ files 6.12 has for an anonymous size, and no others', () => {
    const { k } = kernel();
    const names = ['anon_fault_alloc', 'anon_fault_fallback', 'anon_fault_fallback_charge', 'swpout', 'swpout_fallback', 'split', 'split_failed', 'split_deferred', 'nr_anon', 'nr_anon_partially_mapped'];
    for (const kb of SIZES_KB) for (const n of names) expect(stat(k, kb, n)).toBe(0);
    expect(errnoOf(() => k.readSysfs(`${DIR}/hugepages-64kB/stats/thp_fault_alloc`))).toBe('ENOENT');
  });
});

describe('alloc_anon_folio: which order a write fault gets', () => {
  it('the highest enabled order whose aligned block fits the VMA and has only none PTEs, mapped by one batch', () => {
    const { k, p } = kernel();
    enabled(k, 16, 'always');
    enabled(k, 64, 'always');
    const a = mmapAligned(p, 256 * KiB, 64 * KiB);
    p.write(a + 70 * KiB, new Uint8Array([1]));
    expect(orderAt(k, p, a + 64 * KiB)).toBe(4);
    for (let i = 0; i < 64; i++) expect(p.pagemap(a + i * PAGE).present).toBe(i >= 16 && i < 32);
    expect(p.pagemap(a + 64 * KiB).anonExclusive).toBe(true);
    expect(p.pagemap(a + 127 * KiB).pfn).toBe(p.pagemap(a + 64 * KiB).pfn + 15);
    expect(stat(k, 64, 'anon_fault_alloc')).toBe(1);
    expect(stat(k, 64, 'nr_anon')).toBe(1);
    expect(stat(k, 16, 'anon_fault_alloc')).toBe(0);
    expect(k.check()).toEqual([]);
    // A populated PTE in a 64 kB block: the 16 kB blocks of it that are still empty.
    enabled(k, 64, 'never');
    p.write(a + 4 * KiB, new Uint8Array([1]));
    expect(orderAt(k, p, a)).toBe(2);
    enabled(k, 64, 'always');
    p.write(a + 20 * KiB, new Uint8Array([1]));
    expect(orderAt(k, p, a + 16 * KiB)).toBe(2);
    enabled(k, 16, 'never');
    p.write(a + 52 * KiB, new Uint8Array([1]));
    expect(orderAt(k, p, a + 52 * KiB)).toBe(0);
    expect(p.pagemap(a + 48 * KiB).present).toBe(false);
    expect(stat(k, 16, 'anon_fault_alloc')).toBe(2);
    expect(k.meminfo().AnonPages).toBe((16 + 4 + 4 + 1) * 4);
    expect(k.check()).toEqual([]);
  });

  it('only blocks inside the VMA: a 48 kB mapping gets 16 kB folios under 64 kB "always"', () => {
    const { k, p } = kernel();
    enabled(k, 16, 'always');
    enabled(k, 64, 'always');
    const a = mmapAligned(p, 48 * KiB, 64 * KiB);
    p.fill(a, 48 * KiB, 7);
    for (const off of [0, 16, 32]) expect(orderAt(k, p, a + off * KiB)).toBe(2);
    expect(stat(k, 64, 'anon_fault_alloc')).toBe(0);
    expect(stat(k, 16, 'anon_fault_alloc')).toBe(3);
    expect(k.check()).toEqual([]);
  });

  it('madvise sizes need MADV_HUGEPAGE; inherit sizes follow the top-level enabled; MADV_NOHUGEPAGE and read faults get none', () => {
    const { k, p } = kernel();
    enabled(k, 2048, 'never');
    enabled(k, 32, 'madvise');
    enabled(k, 128, 'inherit');
    k.writeSysfs(`${DIR}/enabled`, 'madvise');
    const a = mmapAligned(p, 512 * KiB, 128 * KiB);
    p.write(a, new Uint8Array([1]));
    expect(orderAt(k, p, a)).toBe(0);
    p.madvise(a, 512 * KiB, U.MADV_HUGEPAGE);
    p.write(a + 128 * KiB, new Uint8Array([1]));
    expect(orderAt(k, p, a + 128 * KiB)).toBe(5);
    k.writeSysfs(`${DIR}/enabled`, 'always');
    p.madvise(a, 512 * KiB, U.MADV_NOHUGEPAGE);
    p.write(a + 256 * KiB, new Uint8Array([1]));
    expect(orderAt(k, p, a + 256 * KiB)).toBe(0);
    // MADV_HUGEPAGE clears VM_NOHUGEPAGE again (MADV_NORMAL would not).
    p.madvise(a, 512 * KiB, U.MADV_HUGEPAGE);
    p.write(a + 384 * KiB, new Uint8Array([1]));
    expect(orderAt(k, p, a + 384 * KiB)).toBe(5);
    // Reads map the zero page, whatever the size.
    expect(p.read(a + 300 * KiB, 1)[0]).toBe(0);
    p.read(a + 304 * KiB, 1);
    expect(p.pagemap(a + 300 * KiB).pfn).toBe(p.pagemap(a + 304 * KiB).pfn);
    expect(k.check()).toEqual([]);
  });

  it('with the PMD size "never" and 2048 kB disabled, a 2 MiB-aligned region gets 1024 kB folios; the PMD size still wins when enabled', () => {
    const { k, p } = kernel();
    enabled(k, 2048, 'never');
    enabled(k, 1024, 'always');
    const a = mmapAligned(p, 4 * MiB, 2 * MiB);
    p.write(a, new Uint8Array([1]));
    expect(orderAt(k, p, a)).toBe(8);
    expect(p.pagemap(a).mappedBy).toBe(PAGE);
    enabled(k, 2048, 'inherit');
    p.write(a + 2 * MiB, new Uint8Array([1]));
    expect(orderAt(k, p, a + 2 * MiB)).toBe(9);
    expect(p.pagemap(a + 2 * MiB).mappedBy).toBe(2 * MiB);
    expect(stat(k, 2048, 'anon_fault_alloc')).toBe(1);
    expect(stat(k, 1024, 'anon_fault_alloc')).toBe(1);
    expect(k.check()).toEqual([]);
  });

  it('no free block of an order: counted in anon_fault_fallback, the next order down is tried', () => {
    const { k, p } = kernel({ memory: '16MiB' });
    enabled(k, 2048, 'never');
    enabled(k, 1024, 'always');
    enabled(k, 16, 'always');
    // Take every free 1 MiB block: fill memory with 1024 kB folios until none is left.
    const regions: number[] = [];
    for (;;) {
      const before = stat(k, 1024, 'anon_fault_fallback');
      const r = mmapAligned(p, MiB, MiB);
      p.write(r, new Uint8Array([1]));
      regions.push(r);
      if (stat(k, 1024, 'anon_fault_fallback') > before) break;
      expect(regions.length).toBeLessThan(64);
    }
    const last = regions[regions.length - 1]!;
    expect(orderAt(k, p, last)).toBe(2);
    expect(stat(k, 16, 'anon_fault_alloc')).toBe(1);
    expect(stat(k, 1024, 'anon_fault_fallback_charge')).toBe(0);
    expect(k.check()).toEqual([]);
  });

  it('a VMA registered with userfaultfd gets order 0 (per-page fault fidelity)', () => {
    const { k, p } = kernel();
    enabled(k, 64, 'always');
    const a = mmapAligned(p, 128 * KiB, 64 * KiB);
    const uffd = p.userfaultfd(U.O_CLOEXEC | U.O_NONBLOCK);
    p.ioctl(uffd, U.UFFDIO_API, { api: U.UFFD_API, features: 0, ioctls: 0 });
    p.ioctl(uffd, U.UFFDIO_REGISTER, { range: { start: a, len: 128 * KiB }, mode: U.UFFDIO_REGISTER_MODE_WP, ioctls: 0 });
    p.write(a, new Uint8Array([1]));
    expect(orderAt(k, p, a)).toBe(0);
    expect(k.check()).toEqual([]);
  });
});

describe('PTE-mapped large anonymous folios', () => {
  function setup(kb = 64): { k: Kernel; p: Process; a: number; pfn: number } {
    const { k, p } = kernel();
    enabled(k, kb, 'always');
    const a = mmapAligned(p, 4 * kb * KiB, kb * KiB);
    p.fill(a, kb * KiB, 3);
    const pfn = p.pagemap(a).pfn;
    expect(k.folio(pfn)!.order).toBe(Math.log2(kb / 4));
    return { k, p, a, pfn };
  }

  it('fork shares it read-only; a write copies one page (order 0), even once the child is gone (6.12 never reuses a page of a large folio)', () => {
    const { k, p, a, pfn } = setup();
    const c = p.fork();
    expect(k.check()).toEqual([]);
    expect(p.pagemap(a).anonExclusive).toBe(false);
    c.write(a + 8 * KiB, new Uint8Array([9]));
    expect(c.pagemap(a + 8 * KiB).pfn).not.toBe(pfn + 2);
    expect(k.folio(c.pagemap(a + 8 * KiB).pfn)!.order).toBe(0);
    expect(c.pagemap(a + 12 * KiB).pfn).toBe(pfn + 3);
    expect(p.read(a + 8 * KiB, 1)[0]).toBe(3);
    // Still mapped in the child: the parent's write copies too.
    p.write(a + 16 * KiB, new Uint8Array([5]));
    expect(p.pagemap(a + 16 * KiB).pfn).not.toBe(pfn + 4);
    expect(k.check()).toEqual([]);
    c.exit();
    expect(k.check()).toEqual([]);
    // wp_can_reuse_anon_folio refuses large folios: the page is copied, the folio now partially mapped.
    p.write(a + 20 * KiB, new Uint8Array([6]));
    expect(p.pagemap(a + 20 * KiB).pfn).not.toBe(pfn + 5);
    expect(p.pagemap(a + 20 * KiB).anonExclusive).toBe(true);
    expect(p.read(a + 24 * KiB, 1)[0]).toBe(3);
    expect(stat(k, 64, 'split_deferred')).toBe(1);
    expect(k.check()).toEqual([]);
  });

  it('a large folio mapped by only one page is not reused either: the write copies it and frees the folio', () => {
    const { k, p, a, pfn } = setup();
    const c = p.fork();
    c.exit();
    // The parent's own PTEs are read-only but the page is not exclusive; leave one PTE of the folio.
    p.madvise(a + 4 * KiB, 60 * KiB, U.MADV_DONTNEED);
    p.write(a, new Uint8Array([1]));
    expect(p.pagemap(a).pfn).not.toBe(pfn);
    expect(k.kpagecount(pfn)).toBe(0);
    expect(stat(k, 64, 'nr_anon')).toBe(0);
    expect(k.check()).toEqual([]);
  });

  it('partial munmap queues it for deferred split; unmapping the rest frees it and leaves the queue', () => {
    const { k, p, a } = setup();
    p.munmap(a + 16 * KiB, 16 * KiB);
    expect(stat(k, 64, 'split_deferred')).toBe(1);
    expect(stat(k, 64, 'nr_anon_partially_mapped')).toBe(1);
    expect(k.check()).toEqual([]);
    p.madvise(a + 32 * KiB, 8 * KiB, U.MADV_DONTNEED);
    expect(stat(k, 64, 'split_deferred')).toBe(1);
    expect(k.check()).toEqual([]);
    p.munmap(a, 256 * KiB);
    expect(stat(k, 64, 'nr_anon')).toBe(0);
    expect(stat(k, 64, 'nr_anon_partially_mapped')).toBe(0);
    expect(k.meminfo().AnonPages).toBe(0);
    expect(k.check()).toEqual([]);
  });

  it('partial mprotect and mremap keep the folio; the oracle agrees after each', () => {
    const { k, p, a, pfn } = setup();
    p.mprotect(a + 16 * KiB, 16 * KiB, U.PROT_READ);
    expect(k.check()).toEqual([]);
    expect(p.pagemap(a + 16 * KiB).pfn).toBe(pfn + 4);
    const dst = p.mremap(a + 32 * KiB, 32 * KiB, 32 * KiB, U.MREMAP_MAYMOVE | U.MREMAP_FIXED, a + 192 * KiB);
    expect(dst).toBe(a + 192 * KiB);
    expect(p.pagemap(a + 192 * KiB).pfn).toBe(pfn + 8);
    expect(p.read(a + 192 * KiB, 1)[0]).toBe(3);
    expect(k.check()).toEqual([]);
    p.write(a + 192 * KiB, new Uint8Array([4]));
    expect(p.pagemap(a + 192 * KiB).pfn).toBe(pfn + 8);
    expect(k.check()).toEqual([]);
  });

  it('debugfs split_huge_pages splits it to a lower order (split counted at the old order, nr_anon moves)', () => {
    const { k, p, a } = setup();
    k.writeSysfs('/sys/kernel/debug/split_huge_pages', `${p.pid},0x${a.toString(16)},0x${(a + 64 * KiB).toString(16)},2`);
    expect(orderAt(k, p, a)).toBe(2);
    expect(orderAt(k, p, a + 60 * KiB)).toBe(2);
    expect(stat(k, 64, 'split')).toBe(1);
    expect(stat(k, 64, 'nr_anon')).toBe(0);
    expect(stat(k, 16, 'nr_anon')).toBe(4);
    expect(p.read(a + 40 * KiB, 1)[0]).toBe(3);
    expect(k.check()).toEqual([]);
    // Order 1 is refused for anonymous folios; order 0 splits the rest.
    k.writeSysfs('/sys/kernel/debug/split_huge_pages', `${p.pid},0x${a.toString(16)},0x${(a + 64 * KiB).toString(16)},0`);
    expect(orderAt(k, p, a + 20 * KiB)).toBe(0);
    expect(stat(k, 16, 'split')).toBe(4);
    expect(stat(k, 16, 'nr_anon')).toBe(0);
    expect(k.check()).toEqual([]);
  });

  it('a partially unmapped folio split by debugfs leaves the queue; the unmapped pieces are freed', () => {
    const { k, p, a } = setup();
    p.madvise(a, 32 * KiB, U.MADV_DONTNEED);
    expect(stat(k, 64, 'nr_anon_partially_mapped')).toBe(1);
    k.writeSysfs('/sys/kernel/debug/split_huge_pages', `${p.pid},0x${a.toString(16)},0x${(a + 64 * KiB).toString(16)},0`);
    expect(stat(k, 64, 'nr_anon_partially_mapped')).toBe(0);
    expect(stat(k, 64, 'split')).toBe(1);
    expect(k.meminfo().AnonPages).toBe(32);
    expect(k.check()).toEqual([]);
  });

  it('a FOLL_PIN pin makes the split fail (split_failed; debugfs does not even try); the pinned folio is copied for a child at fork', () => {
    const { k, p, a, pfn } = setup();
    const pages: number[] = [];
    expect(k.gup.pin_user_pages(p, a, 1, FOLL_WRITE, pages)).toBe(1);
    k.writeSysfs('/sys/kernel/debug/split_huge_pages', `${p.pid},0x${a.toString(16)},0x${(a + 64 * KiB).toString(16)},0`);
    expect(stat(k, 64, 'split_failed')).toBe(0);
    const f = k.host.pfnFolio(pfn);
    k.host.folioGet(f);
    expect(splitFolio(k.host, f, 0)).toBe(-11);
    k.host.folioPut(f);
    expect(stat(k, 64, 'split_failed')).toBe(1);
    expect(orderAt(k, p, a)).toBe(4);
    const c = p.fork();
    expect(c.pagemap(a).pfn).not.toBe(pfn);
    expect(c.read(a, 1)[0]).toBe(3);
    expect(k.check()).toEqual([]);
    k.gup.unpin_user_pages(pages, 1);
    c.exit();
    expect(k.check()).toEqual([]);
  });

  it('FOLL_LONGTERM migrates a large folio out of ZONE_MOVABLE whole', () => {
    const { k, p } = kernel({ memory: '128MiB', movable: '64MiB' });
    enabled(k, 64, 'always');
    const a = mmapAligned(p, 128 * KiB, 64 * KiB);
    p.fill(a, 64 * KiB, 8);
    const before = p.pagemap(a).pfn;
    const pages: number[] = [];
    expect(k.gup.pin_user_pages(p, a, 16, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(16);
    const after = p.pagemap(a).pfn;
    // Either it was already outside ZONE_MOVABLE, or it moved as one folio.
    expect(k.folio(after)!.order).toBe(4);
    expect(p.pagemap(a + 60 * KiB).pfn).toBe(after + 15);
    if (after !== before) expect(k.kpagecount(before)).toBe(0);
    expect(p.read(a + 60 * KiB, 1)[0]).toBe(8);
    expect(k.check()).toEqual([]);
    k.gup.unpin_user_pages(pages, 16);
    expect(k.check()).toEqual([]);
  });

  it('MADV_FREE and MADV_DONTNEED of the whole folio free it; smaps counts it as Anonymous, not AnonHugePages', () => {
    const { k, p, a } = setup(128);
    const sm = p.smaps().find((e) => e.start <= a && a < e.end)!;
    expect(sm.Anonymous).toBe(128);
    expect(sm.AnonHugePages).toBe(0);
    p.madvise(a, 128 * KiB, U.MADV_FREE);
    expect(k.check()).toEqual([]);
    p.madvise(a, 128 * KiB, U.MADV_DONTNEED);
    expect(stat(k, 128, 'nr_anon')).toBe(0);
    expect(k.meminfo().AnonPages).toBe(0);
    expect(k.check()).toEqual([]);
  });

  it('MADV_FREE, MADV_COLD and MADV_PAGEOUT split a folio the range covers only in part (not a shared one, not a pinned one)', () => {
    const { k, p, a, pfn } = setup();
    p.madvise(a, 64 * KiB, U.MADV_FREE);
    expect(orderAt(k, p, a)).toBe(4);
    p.madvise(a + 16 * KiB, 16 * KiB, U.MADV_FREE);
    expect(orderAt(k, p, a)).toBe(0);
    expect(orderAt(k, p, a + 60 * KiB)).toBe(0);
    expect(p.pagemap(a + 60 * KiB).pfn).toBe(pfn + 15);
    expect(p.read(a + 60 * KiB, 1)[0]).toBe(3);
    expect(stat(k, 64, 'split')).toBe(1);
    expect(k.check()).toEqual([]);
    // A second folio. Pinned: the split fails and is counted.
    p.fill(a + 64 * KiB, 64 * KiB, 4);
    const pages: number[] = [];
    expect(k.gup.pin_user_pages(p, a + 64 * KiB, 1, FOLL_WRITE, pages)).toBe(1);
    p.madvise(a + 64 * KiB, 4 * KiB, U.MADV_PAGEOUT);
    expect(orderAt(k, p, a + 64 * KiB)).toBe(4);
    expect(stat(k, 64, 'split_failed')).toBe(1);
    k.gup.unpin_user_pages(pages, 1);
    // Shared with a child: left alone.
    const c = p.fork();
    p.madvise(a + 64 * KiB, 4 * KiB, U.MADV_COLD);
    expect(orderAt(k, p, a + 64 * KiB)).toBe(4);
    c.exit();
    p.madvise(a + 64 * KiB, 4 * KiB, U.MADV_PAGEOUT);
    expect(orderAt(k, p, a + 68 * KiB)).toBe(0);
    expect(stat(k, 64, 'split')).toBe(2);
    expect(k.check()).toEqual([]);
  });

  it('MADV_COLD over part of a PMD-mapped THP splits the folio (split counted at 2048 kB)', () => {
    const { k, p } = kernel();
    const a = mmapAligned(p, 2 * MiB, 2 * MiB);
    p.fill(a, 2 * MiB, 6);
    expect(p.pagemap(a).mappedBy).toBe(2 * MiB);
    p.madvise(a, MiB, U.MADV_COLD);
    expect(orderAt(k, p, a + MiB)).toBe(0);
    expect(stat(k, 2048, 'split')).toBe(1);
    expect(stat(k, 2048, 'nr_anon')).toBe(0);
    expect(p.read(a + MiB, 1)[0]).toBe(6);
    expect(k.check()).toEqual([]);
  });

  it('smaps THPeligible counts every allowed size: a 64 kB VMA is eligible only while 64 kB (or a smaller size) is enabled', () => {
    const { k, p } = kernel();
    const a = mmapAligned(p, 64 * KiB, 64 * KiB);
    const eligible = () => p.smaps().find((e) => e.start === a)!.THPeligible;
    expect(eligible()).toBe(0);
    enabled(k, 64, 'always');
    expect(eligible()).toBe(1);
    enabled(k, 64, 'never');
    enabled(k, 128, 'always');
    expect(eligible()).toBe(0);
    enabled(k, 16, 'madvise');
    expect(eligible()).toBe(0);
    p.madvise(a, 64 * KiB, U.MADV_HUGEPAGE);
    expect(eligible()).toBe(1);
  });

  it('MADV_COLLAPSE turns a 2 MiB range of 64 kB folios into one PMD-mapped THP', () => {
    const { k, p } = kernel();
    enabled(k, 2048, 'never');
    enabled(k, 64, 'always');
    const a = mmapAligned(p, 2 * MiB, 2 * MiB);
    p.fill(a, 2 * MiB, 2);
    expect(orderAt(k, p, a)).toBe(4);
    expect(stat(k, 64, 'nr_anon')).toBe(32);
    expect(p.madvise(a, 2 * MiB, U.MADV_COLLAPSE)).toBe(0);
    expect(p.pagemap(a).mappedBy).toBe(2 * MiB);
    expect(stat(k, 64, 'nr_anon')).toBe(0);
    expect(stat(k, 2048, 'nr_anon')).toBe(1);
    expect(p.read(a + MiB + 5, 1)[0]).toBe(2);
    expect(k.check()).toEqual([]);
  });
});
