/**
 * shmem mTHP (6.12): the per-size hugepages-<size>kB/shmem_enabled controls
 * and their stats, the order shmem_allowable_huge_orders /
 * shmem_alloc_and_add_folio give a fault on shared anonymous memory (falling
 * back order by order), and such folios through fork, partial unmap, hole
 * punching and collapse, with the oracle after each step.
 */
import { describe, expect, it } from 'vitest';
import { Kernel, type Process } from '../index.js';
import * as U from '../uapi/index.js';
import { syscallCode as errnoOf } from '../../test/support/errno.js';

const RW = U.PROT_READ | U.PROT_WRITE;
const SHARED_ANON = U.MAP_SHARED | U.MAP_ANONYMOUS;
const KiB = 1024;
const MiB = 2 ** 20;
const PAGE = 4096;
const DIR = '/sys/kernel/mm/transparent_hugepage';
const TOP = `${DIR}/shmem_enabled`;

const shmemEnabled = (k: Kernel, kb: number, mode: string): void => k.writeSysfs(`${DIR}/hugepages-${kb}kB/shmem_enabled`, mode);
const stat = (k: Kernel, kb: number, name: string): number => Number(k.readSysfs(`${DIR}/hugepages-${kb}kB/stats/${name}`));

function kernel(memory = '64MiB'): { k: Kernel; p: Process } {
  const k = new Kernel({ memory });
  return { k, p: k.spawn() };
}

/** A mapping of len bytes (flags, fd) whose start is aligned to align. */
function mapAligned(p: Process, len: number, align: number, flags = SHARED_ANON, fd = -1): number {
  const raw = p.mmap(0, len + align, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
  const a = Math.ceil(raw / align) * align;
  p.munmap(raw, len + align);
  return p.mmap(a, len, RW, flags | U.MAP_FIXED, fd, 0);
}

/** The order of the folio mapped at addr. */
function orderAt(k: Kernel, p: Process, addr: number): number {
  const e = p.pagemap(addr);
  expect(e.present).toBe(true);
  return k.folio(e.pfn)!.order;
}

describe('hugepages-<size>kB/shmem_enabled (mm/shmem.c, mm/huge_memory.c:thpsize_create)', () => {
  it('exists for 8 KiB to 2 MiB with 6.12 defaults: the PMD size inherits, the others are never', () => {
    const { k } = kernel();
    for (const kb of [8, 16, 32, 64, 128, 256, 512, 1024]) expect(k.readSysfs(`${DIR}/hugepages-${kb}kB/shmem_enabled`)).toBe('always inherit within_size advise [never]');
    expect(k.readSysfs(`${DIR}/hugepages-2048kB/shmem_enabled`)).toBe('always [inherit] within_size advise never');
    // 8 KiB is a page-cache size only: no anonymous `enabled`, no anonymous counters.
    expect(errnoOf(() => k.readSysfs(`${DIR}/hugepages-8kB/enabled`))).toBe('ENOENT');
    expect(errnoOf(() => k.readSysfs(`${DIR}/hugepages-8kB/stats/anon_fault_alloc`))).toBe('ENOENT');
    for (const n of ['swpout', 'swpout_fallback', 'split', 'split_failed', 'shmem_alloc', 'shmem_fallback', 'shmem_fallback_charge']) {
      expect(stat(k, 8, n)).toBe(0);
      expect(stat(k, 64, n)).toBe(0);
    }
  });

  it('takes the five values (with one trailing newline), EINVAL otherwise', () => {
    const { k } = kernel();
    for (const v of ['always', 'inherit', 'within_size', 'advise', 'never']) {
      shmemEnabled(k, 64, `${v}\n`);
      expect(k.readSysfs(`${DIR}/hugepages-64kB/shmem_enabled`)).toContain(`[${v}]`);
    }
    expect(errnoOf(() => shmemEnabled(k, 64, 'madvise'))).toBe('EINVAL');
    expect(errnoOf(() => shmemEnabled(k, 64, 'deny'))).toBe('EINVAL');
    expect(errnoOf(() => shmemEnabled(k, 64, 'force'))).toBe('EINVAL');
  });

  it('under shmem_enabled=force only the PMD size may inherit; force is refused unless exactly the PMD size inherits', () => {
    const { k } = kernel();
    k.writeSysfs(TOP, 'force');
    expect(errnoOf(() => shmemEnabled(k, 64, 'inherit'))).toBe('EINVAL');
    expect(k.readSysfs(`${DIR}/hugepages-64kB/shmem_enabled`)).toContain('[never]');
    shmemEnabled(k, 2048, 'inherit');
    shmemEnabled(k, 64, 'always');
    k.writeSysfs(TOP, 'never');
    shmemEnabled(k, 64, 'inherit');
    expect(errnoOf(() => k.writeSysfs(TOP, 'force'))).toBe('EINVAL');
    expect(k.readSysfs(TOP)).toContain('[never]');
    // Nor while the PMD size does not inherit; with the PMD size alone inheriting, force is accepted again.
    shmemEnabled(k, 64, 'never');
    shmemEnabled(k, 2048, 'always');
    expect(errnoOf(() => k.writeSysfs(TOP, 'force'))).toBe('EINVAL');
    shmemEnabled(k, 2048, 'inherit');
    k.writeSysfs(TOP, 'force');
    expect(k.readSysfs(TOP)).toContain('[force]');
  });
});

describe('shmem_alloc_and_add_folio: the order a fault on shared anonymous memory gets', () => {
  it('always: the largest allowed order whose aligned block fits the VMA, mapped whole; shmem_alloc counted', () => {
    const { k, p } = kernel();
    shmemEnabled(k, 64, 'always');
    shmemEnabled(k, 16, 'always');
    const a = mapAligned(p, 256 * KiB, 64 * KiB);
    p.write(a + 70 * KiB, new Uint8Array([7]));
    expect(orderAt(k, p, a + 64 * KiB)).toBe(4);
    // finish_fault maps the whole folio of anonymous shmem.
    for (let i = 0; i < 64; i++) expect(p.pagemap(a + i * PAGE).present).toBe(i >= 16 && i < 32);
    expect(stat(k, 64, 'shmem_alloc')).toBe(1);
    expect(stat(k, 16, 'shmem_alloc')).toBe(0);
    expect(p.read(a + 70 * KiB, 1)[0]).toBe(7);
    expect(k.check()).toEqual([]);
  });

  it('an order whose aligned block is not inside the VMA, or whose page-cache range is not empty, is skipped (no fallback counted)', () => {
    const { k, p } = kernel();
    // A 48 KiB mapping: no 64 KiB block fits, a 32 KiB one does at offset 0.
    shmemEnabled(k, 64, 'always');
    shmemEnabled(k, 32, 'always');
    const a = mapAligned(p, 48 * KiB, 64 * KiB);
    p.write(a, new Uint8Array([1]));
    expect(orderAt(k, p, a)).toBe(3);
    // [32K, 48K): only 16 KiB fits there, and 16 KiB is never: order 0.
    p.write(a + 40 * KiB, new Uint8Array([1]));
    expect(orderAt(k, p, a + 40 * KiB)).toBe(0);
    expect(stat(k, 64, 'shmem_fallback')).toBe(0);
    // A page already in the page cache keeps the larger orders off its block.
    const b = mapAligned(p, 128 * KiB, 64 * KiB);
    shmemEnabled(k, 64, 'never');
    shmemEnabled(k, 32, 'never');
    p.write(b + PAGE, new Uint8Array([1]));
    shmemEnabled(k, 64, 'always');
    shmemEnabled(k, 32, 'always');
    p.write(b + 40 * KiB, new Uint8Array([1]));
    expect(orderAt(k, p, b + 40 * KiB)).toBe(3);
    expect(k.check()).toEqual([]);
  });

  it('no free block of an order: counted in shmem_fallback, the next order down is tried', () => {
    const { k, p } = kernel('16MiB');
    shmemEnabled(k, 2048, 'never');
    shmemEnabled(k, 1024, 'always');
    shmemEnabled(k, 16, 'always');
    const regions: number[] = [];
    for (;;) {
      const before = stat(k, 1024, 'shmem_fallback');
      const r = mapAligned(p, MiB, MiB);
      p.write(r, new Uint8Array([1]));
      regions.push(r);
      if (stat(k, 1024, 'shmem_fallback') > before) break;
      expect(regions.length).toBeLessThan(64);
    }
    expect(orderAt(k, p, regions[regions.length - 1]!)).toBe(2);
    expect(stat(k, 16, 'shmem_alloc')).toBe(1);
    expect(stat(k, 1024, 'shmem_fallback_charge')).toBe(0);
    expect(k.check()).toEqual([]);
  });

  it('advise needs MADV_HUGEPAGE; within_size needs the aligned block inside i_size; MADV_NOHUGEPAGE and deny give order 0', () => {
    const { k, p } = kernel();
    shmemEnabled(k, 64, 'advise');
    const a = mapAligned(p, 128 * KiB, 64 * KiB);
    p.write(a, new Uint8Array([1]));
    expect(orderAt(k, p, a)).toBe(0);
    p.madvise(a + 64 * KiB, 64 * KiB, U.MADV_HUGEPAGE);
    p.write(a + 64 * KiB, new Uint8Array([1]));
    expect(orderAt(k, p, a + 64 * KiB)).toBe(4);

    // i_size of shared anonymous memory is the mapping's length: 96 KiB.
    shmemEnabled(k, 64, 'within_size');
    const b = mapAligned(p, 96 * KiB, 64 * KiB);
    p.write(b, new Uint8Array([1]));
    expect(orderAt(k, p, b)).toBe(4);
    shmemEnabled(k, 32, 'within_size');
    // Index 17: no 64 KiB block within i_size, but a 32 KiB one ([64K, 96K)) is, which admits every within_size order.
    p.write(b + 68 * KiB, new Uint8Array([1]));
    expect(orderAt(k, p, b + 68 * KiB)).toBe(3);

    shmemEnabled(k, 64, 'always');
    const c = mapAligned(p, 128 * KiB, 64 * KiB);
    p.madvise(c, 64 * KiB, U.MADV_NOHUGEPAGE);
    p.write(c, new Uint8Array([1]));
    expect(orderAt(k, p, c)).toBe(0);
    k.writeSysfs(TOP, 'deny');
    p.write(c + 64 * KiB, new Uint8Array([1]));
    expect(orderAt(k, p, c + 64 * KiB)).toBe(0);
    expect(k.check()).toEqual([]);
  });

  it('inherit follows shmem_enabled: never gives order 0, always the inheriting sizes (PMD first, where it fits)', () => {
    const { k, p } = kernel();
    shmemEnabled(k, 64, 'inherit');
    const a = mapAligned(p, 4 * MiB, 2 * MiB);
    p.write(a, new Uint8Array([1]));
    expect(orderAt(k, p, a)).toBe(0);
    k.writeSysfs(TOP, 'always');
    p.write(a + 2 * MiB, new Uint8Array([1]));
    expect(p.pagemap(a + 2 * MiB).mappedBy).toBe(2 * MiB);
    expect(stat(k, 2048, 'shmem_alloc')).toBe(1);
    // [0, 2M) already holds a page: the 64 KiB size is next.
    p.write(a + MiB, new Uint8Array([1]));
    expect(orderAt(k, p, a + MiB)).toBe(4);
    // The PMD size set to never is not inherited any more.
    shmemEnabled(k, 2048, 'never');
    shmemEnabled(k, 64, 'never');
    const b = mapAligned(p, 2 * MiB, 2 * MiB);
    p.write(b, new Uint8Array([1]));
    expect(orderAt(k, p, b)).toBe(0);
    expect(k.check()).toEqual([]);
  });

  it('a memfd ignores the per-size controls: its faults and writes follow shmem_enabled / huge= alone', () => {
    const { k, p } = kernel();
    shmemEnabled(k, 64, 'always');
    const fd = p.memfd_create('m', 0);
    p.ftruncate(fd, 4 * MiB);
    const a = mapAligned(p, 4 * MiB, 2 * MiB, U.MAP_SHARED, fd);
    p.write(a, new Uint8Array([1]));
    expect(orderAt(k, p, a)).toBe(0);
    k.writeSysfs(TOP, 'always');
    p.write(a + 2 * MiB, new Uint8Array([2]));
    expect(orderAt(k, p, a + 2 * MiB)).toBe(9);
    expect(stat(k, 64, 'shmem_alloc')).toBe(0);
    expect(k.check()).toEqual([]);
  });
});

describe('shmem mTHP folios through the rest of mm', () => {
  it('fork, partial munmap, MADV_REMOVE of part of a folio, and MADV_COLLAPSE keep contents and the oracle clean', () => {
    const { k, p } = kernel();
    shmemEnabled(k, 64, 'always');
    const a = mapAligned(p, 2 * MiB, 2 * MiB);
    for (let i = 0; i < 512; i += 16) p.write(a + i * PAGE, new Uint8Array([i & 0xff, 1]));
    expect(orderAt(k, p, a)).toBe(4);
    const q = p.fork();
    expect(q.read(a + 32 * PAGE, 2)).toEqual(new Uint8Array([32, 1]));
    q.write(a + 33 * PAGE, new Uint8Array([9]));
    expect(p.read(a + 33 * PAGE, 1)[0]).toBe(9);
    expect(k.check()).toEqual([]);
    q.munmap(a + 4 * PAGE, 4 * PAGE);
    expect(k.check()).toEqual([]);
    // Punch a hole in the middle of the second folio: it is split, the rest is kept.
    p.madvise(a + 20 * PAGE, 2 * PAGE, U.MADV_REMOVE);
    expect(p.read(a + 20 * PAGE, 1)[0]).toBe(0);
    expect(p.read(a + 16 * PAGE, 2)).toEqual(new Uint8Array([16, 1]));
    expect(stat(k, 64, 'split')).toBe(1);
    expect(k.check()).toEqual([]);
    q.exit(0);
    p.madvise(a, 2 * MiB, U.MADV_COLLAPSE);
    expect(p.pagemap(a).mappedBy).toBe(2 * MiB);
    expect(p.read(a + 48 * PAGE, 2)).toEqual(new Uint8Array([48, 1]));
    expect(p.read(a + 20 * PAGE, 1)[0]).toBe(0);
    expect(k.check()).toEqual([]);
  });

  it('smaps THPeligible: shared anonymous memory with only a small size allowed is eligible', () => {
    const { k, p } = kernel();
    const a = mapAligned(p, 128 * KiB, 64 * KiB);
    const eligible = () => p.smaps().find((e) => e.start === a)!.THPeligible;
    expect(eligible()).toBe(0);
    shmemEnabled(k, 64, 'always');
    expect(eligible()).toBe(1);
  });
});
