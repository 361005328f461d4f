/**
 * Swap as 6.12 does it on a zram device: MADV_PAGEOUT reclaiming anonymous
 * folios (small, PMD THP and mTHP whole, partly covered ones split, pinned
 * ones kept), swap entries in PTEs and pagemap, do_swap_page (exclusive
 * reuse, the swap-cache path after fork), fork and munmap of swap entries,
 * the counters in meminfo, vmstat and the per-size stats; the oracle after
 * each step.
 */
import { describe, expect, it } from 'vitest';
import { FOLL_WRITE, Kernel, type Process } from '../index.js';
import * as U from '../uapi/index.js';
import { SyscallError } from '../uapi/errors.js';

const RW = U.PROT_READ | U.PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;
const KiB = 1024;
const MiB = 2 ** 20;
const PAGE = 4096;
const THP = '/sys/kernel/mm/transparent_hugepage';

function boot(opts: { swap?: string; thp?: 'always' | 'never' } = {}): { k: Kernel; p: Process } {
  const k = new Kernel({ memory: '64MiB', swap: opts.swap ?? '16MiB', thp: opts.thp ?? 'never' });
  return { k, p: k.spawn() };
}

function mapAligned(p: Process, len: number, align: number): number {
  const raw = p.mmap(0, len + align, RW, ANON, -1, 0);
  const a = Math.ceil(raw / align) * align;
  if (a > raw) p.munmap(raw, a - raw);
  p.munmap(a + len, raw + align - a);
  return a;
}

/** Distinct contents per page: a byte pattern in the first bytes over a per-page fill. */
function stamp(p: Process, a: number, pages: number): void {
  for (let i = 0; i < pages; i++) {
    p.fill(a + i * PAGE, PAGE, (i * 7 + 1) & 0xff);
    p.write(a + i * PAGE + 123, new Uint8Array([i & 0xff, 0xa5, (i >> 8) & 0xff]));
  }
}

function expectStamp(p: Process, a: number, pages: number): void {
  for (let i = 0; i < pages; i++) {
    const b = p.read(a + i * PAGE, PAGE);
    expect(b[0]).toBe((i * 7 + 1) & 0xff);
    expect([b[123], b[124], b[125]]).toEqual([i & 0xff, 0xa5, (i >> 8) & 0xff]);
    expect(b[PAGE - 1]).toBe((i * 7 + 1) & 0xff);
  }
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

function swappedPages(p: Process, a: number, pages: number): number {
  let n = 0;
  for (let i = 0; i < pages; i++) if (p.pagemap(a + i * PAGE).swapped) n++;
  return n;
}

describe('swap', () => {
  it('Kernel option swap: a zram area in meminfo; bad sizes are refused', () => {
    const { k } = boot({ swap: '1MiB' });
    // The header page is not swap space.
    expect(k.meminfo().SwapTotal).toBe(1024 - 4);
    expect(k.meminfo().SwapFree).toBe(1024 - 4);
    expect(new Kernel({ memory: '64MiB' }).meminfo().SwapTotal).toBe(0);
    expect(() => new Kernel({ memory: '64MiB', swap: '4KiB' })).toThrow(/swap/);
    expect(() => new Kernel({ memory: '64MiB', swap: 5000 })).toThrow(/swap/);
  });

  it('MADV_PAGEOUT swaps small pages out; a fault reads them back exactly and reuses the exclusive page', () => {
    const { k, p } = boot();
    const a = p.mmap(0, 16 * PAGE, RW, ANON, -1, 0);
    stamp(p, a, 16);
    const free0 = k.meminfo().SwapFree;
    p.madvise(a, 16 * PAGE, U.MADV_PAGEOUT);
    expect(swappedPages(p, a, 16)).toBe(16);
    expect(k.meminfo().SwapFree).toBe(free0 - 64);
    expect(k.meminfo().AnonPages).toBe(0);
    expect(k.vmstat().pswpout).toBe(16);
    expect(p.status().VmSwap).toBe(64);
    const e = p.pagemap(a);
    // PM_SWAP (bit 62) and the frame: swap type 0, offset << 5.
    expect(e.raw >> 62n).toBe(1n);
    expect(e.pfn % 32).toBe(0);
    expect(e.pfn / 32).toBeGreaterThan(0);
    expect(k.check()).toEqual([]);
    expectStamp(p, a, 16);
    expect(k.vmstat().pswpin).toBe(16);
    expect(k.meminfo().SwapFree).toBe(free0);
    // The swap entry was exclusive: the page came back exclusive and writable, so a write does not copy.
    const back = p.pagemap(a + PAGE);
    expect(back.anonExclusive).toBe(true);
    p.write(a + PAGE, new Uint8Array([9]));
    expect(p.pagemap(a + PAGE).pfn).toBe(back.pfn);
    expect(k.check()).toEqual([]);
  });

  it('a write fault on a swapped-out page maps it writable at once', () => {
    const { k, p } = boot();
    const a = p.mmap(0, PAGE, RW, ANON, -1, 0);
    p.fill(a, PAGE, 3);
    p.madvise(a, PAGE, U.MADV_PAGEOUT);
    p.write(a + 10, new Uint8Array([4]));
    expect(Array.from(p.read(a + 9, 3))).toEqual([3, 4, 3]);
    expect(p.pagemap(a).anonExclusive).toBe(true);
    expect(k.check()).toEqual([]);
  });

  it('a PMD-mapped THP covered whole is swapped out whole (thp_swpout), and comes back page by page', () => {
    const { k, p } = boot({ thp: 'always' });
    const a = mapAligned(p, 2 * MiB, 2 * MiB);
    stamp(p, a, 512);
    expect(p.pagemap(a).mappedBy).toBe(2 * MiB);
    p.madvise(a, 2 * MiB, U.MADV_PAGEOUT);
    expect(swappedPages(p, a, 512)).toBe(512);
    expect(k.vmstat().thp_swpout).toBe(1);
    expect(Number(k.readSysfs(`${THP}/hugepages-2048kB/stats/swpout`))).toBe(1);
    expect(k.meminfo().AnonHugePages).toBe(0);
    expect(k.check()).toEqual([]);
    expectStamp(p, a, 512);
    expect(k.check()).toEqual([]);
  });

  it('an mTHP covered whole goes whole (swpout); one covered in part is split first', () => {
    const { k, p } = boot();
    k.writeSysfs(`${THP}/hugepages-64kB/enabled`, 'always');
    const a = mapAligned(p, 128 * KiB, 64 * KiB);
    stamp(p, a, 32);
    expect(k.folio(p.pagemap(a).pfn)!.order).toBe(4);
    p.madvise(a, 64 * KiB, U.MADV_PAGEOUT);
    expect(Number(k.readSysfs(`${THP}/hugepages-64kB/stats/swpout`))).toBe(1);
    expect(swappedPages(p, a, 16)).toBe(16);
    // Half of the second folio: split, and only the covered pages go.
    p.madvise(a + 64 * KiB, 32 * KiB, U.MADV_PAGEOUT);
    expect(Number(k.readSysfs(`${THP}/hugepages-64kB/stats/split`))).toBe(1);
    expect(swappedPages(p, a + 64 * KiB, 16)).toBe(8);
    expect(k.check()).toEqual([]);
    expectStamp(p, a, 32);
    // The whole 64 KiB run of swap entries comes back as one 64 KiB folio (alloc_swap_folio), exclusive and writable.
    const back = k.folio(p.pagemap(a).pfn)!;
    expect(back.order).toBe(4);
    expect(p.pagemap(a + 60 * KiB).pfn).toBe(p.pagemap(a).pfn + 15);
    expect(p.pagemap(a + 60 * KiB).anonExclusive).toBe(true);
    // The split folio's pages come back one by one.
    expect(k.folio(p.pagemap(a + 64 * KiB).pfn)!.order).toBe(0);
    expect(k.check()).toEqual([]);
  });

  it('a pinned page is never swapped out', () => {
    const { k, p } = boot();
    const a = p.mmap(0, 2 * PAGE, RW, ANON, -1, 0);
    p.fill(a, 2 * PAGE, 1);
    const pages: number[] = [];
    expect(k.gup.pin_user_pages(p, a, 1, FOLL_WRITE, pages)).toBe(1);
    p.madvise(a, 2 * PAGE, U.MADV_PAGEOUT);
    expect(p.pagemap(a).present).toBe(true);
    expect(p.pagemap(a + PAGE).swapped).toBe(true);
    expect(k.meminfo().SwapCached).toBe(0);
    expect(k.check()).toEqual([]);
    k.gup.unpin_user_pages(pages, 1);
    p.madvise(a, PAGE, U.MADV_PAGEOUT);
    expect(p.pagemap(a).swapped).toBe(true);
    expect(k.check()).toEqual([]);
  });

  it('a page mapped by two processes is left alone; a swap entry copied by fork is shared, non-exclusive, through the swap cache', () => {
    const { k, p } = boot();
    const a = p.mmap(0, 2 * PAGE, RW, ANON, -1, 0);
    p.fill(a, 2 * PAGE, 0x42);
    const c0 = p.fork();
    p.madvise(a, PAGE, U.MADV_PAGEOUT);
    expect(p.pagemap(a).present).toBe(true);
    c0.exit();
    p.madvise(a, 2 * PAGE, U.MADV_PAGEOUT);
    expect(swappedPages(p, a, 2)).toBe(2);
    const c = p.fork();
    expect(swappedPages(c, a, 2)).toBe(2);
    expect(k.check()).toEqual([]);
    // The parent reads: the slot has two references, so the page goes through the swap cache, mapped R/O and not exclusive.
    expect(p.read(a, 1)[0]).toBe(0x42);
    expect(k.meminfo().SwapCached).toBe(4);
    expect(p.pagemap(a).anonExclusive).toBe(false);
    expect(k.check()).toEqual([]);
    // The child finds it in the swap cache: the same page, no read from the device.
    const pswpin = k.vmstat().pswpin;
    expect(c.read(a, 1)[0]).toBe(0x42);
    expect(c.pagemap(a).pfn).toBe(p.pagemap(a).pfn);
    expect(k.vmstat().pswpin).toBe(pswpin);
    // Writes copy on both sides; neither sees the other's.
    p.write(a, new Uint8Array([1]));
    c.write(a + PAGE, new Uint8Array([2]));
    expect(c.read(a, 1)[0]).toBe(0x42);
    expect(p.read(a + PAGE, 1)[0]).toBe(0x42);
    expect(k.check()).toEqual([]);
    c.exit();
    p.exit();
    expect(k.meminfo().SwapFree).toBe(k.meminfo().SwapTotal);
    expect(k.meminfo().SwapCached).toBe(0);
    expect(k.check()).toEqual([]);
  });

  it('munmap frees swap entries; exit of the last user frees the slots', () => {
    const { k, p } = boot();
    const a = p.mmap(0, 8 * PAGE, RW, ANON, -1, 0);
    p.fill(a, 8 * PAGE, 5);
    p.madvise(a, 8 * PAGE, U.MADV_PAGEOUT);
    const c = p.fork();
    p.munmap(a, 4 * PAGE);
    expect(k.meminfo().SwapFree).toBe(k.meminfo().SwapTotal - 32);
    expect(k.check()).toEqual([]);
    c.exit();
    expect(k.meminfo().SwapFree).toBe(k.meminfo().SwapTotal - 16);
    p.munmap(a + 4 * PAGE, 4 * PAGE);
    expect(k.meminfo().SwapFree).toBe(k.meminfo().SwapTotal);
    expect(k.check()).toEqual([]);
  });

  it('a page held by a FOLL_GET reference (vmsplice) stays in the swap cache, unmapped; the fault finds it there', () => {
    const { k, p } = boot();
    const a = p.mmap(0, PAGE, RW, ANON, -1, 0);
    p.fill(a, PAGE, 7);
    const pfn = p.pagemap(a).pfn;
    const [rd, wr] = p.pipe();
    expect(p.vmsplice(wr, [{ iov_base: a, iov_len: PAGE }], 1, 0)).toBe(PAGE);
    p.madvise(a, PAGE, U.MADV_PAGEOUT);
    expect(p.pagemap(a).swapped).toBe(true);
    expect(k.meminfo().SwapCached).toBe(4);
    expect(k.check()).toEqual([]);
    expect(p.read(a, 1)[0]).toBe(7);
    expect(p.pagemap(a).pfn).toBe(pfn);
    expect(k.check()).toEqual([]);
    p.close(rd);
    p.close(wr);
    expect(k.check()).toEqual([]);
  });

  it('with swap full, pageout swaps what fits; without swap it does nothing', () => {
    const { k, p } = boot({ swap: '44KiB' });
    const a = p.mmap(0, 16 * PAGE, RW, ANON, -1, 0);
    stamp(p, a, 16);
    p.madvise(a, 16 * PAGE, U.MADV_PAGEOUT);
    expect(swappedPages(p, a, 16)).toBe(10);
    expect(k.meminfo().SwapFree).toBe(0);
    expect(k.check()).toEqual([]);
    expectStamp(p, a, 16);
    const k2 = new Kernel({ memory: '64MiB' });
    const p2 = k2.spawn();
    const b = p2.mmap(0, PAGE, RW, ANON, -1, 0);
    p2.fill(b, PAGE, 1);
    p2.madvise(b, PAGE, U.MADV_PAGEOUT);
    expect(p2.pagemap(b).present).toBe(true);
    expect(k2.check()).toEqual([]);
  });

  it('swap entries move with mremap and keep uffd-wp-free mprotect; contents survive', () => {
    const { k, p } = boot();
    const a = p.mmap(0, 8 * PAGE, RW, ANON, -1, 0);
    stamp(p, a, 8);
    p.madvise(a, 8 * PAGE, U.MADV_PAGEOUT);
    p.mprotect(a, 8 * PAGE, U.PROT_READ);
    expect(swappedPages(p, a, 8)).toBe(8);
    const b = p.mremap(a, 8 * PAGE, 16 * PAGE, U.MREMAP_MAYMOVE);
    expect(k.check()).toEqual([]);
    expectStamp(p, b, 8);
    expect(k.check()).toEqual([]);
  });

  it('swapoff brings every page back (shared after fork again, exclusive where it was); swapon/swapoff errnos as 6.12', () => {
    const { k, p } = boot();
    const a = p.mmap(0, 8 * PAGE, RW, ANON, -1, 0);
    stamp(p, a, 8);
    p.madvise(a, 4 * PAGE, U.MADV_PAGEOUT);
    const c = p.fork();
    // The parent's own copies of pages 4-7 (same bytes): mapped once, so MADV_PAGEOUT takes them.
    for (let i = 4; i < 8; i++) p.write(a + i * PAGE + 123, new Uint8Array([i, 0xa5, 0]));
    p.madvise(a + 4 * PAGE, 4 * PAGE, U.MADV_PAGEOUT);
    expect(swappedPages(p, a, 8)).toBe(8);
    expect(swappedPages(c, a, 8)).toBe(4);
    // The area is active: swapon again is EBUSY; bad flags come first.
    expect(errnoOf(() => p.swapon('/dev/zram0', 0))).toBe('EBUSY');
    expect(errnoOf(() => p.swapon('/dev/zram0', 1 << 20))).toBe('EINVAL');
    expect(errnoOf(() => p.swapon('/nonexistent', 0))).toBe('ENOENT');
    const fd = p.open('/tmp/swapfile', U.O_CREAT | U.O_RDWR, 0o600);
    p.close(fd);
    // No mkswap in the model: a file has no swap signature.
    expect(errnoOf(() => p.swapon('/tmp/swapfile', 0))).toBe('EINVAL');
    expect(errnoOf(() => p.swapoff('/tmp/swapfile'))).toBe('EINVAL');
    expect(errnoOf(() => p.swapoff('/nonexistent'))).toBe('ENOENT');
    expect(p.swapoff('/dev/zram0')).toBe(0);
    expect(k.meminfo().SwapTotal).toBe(0);
    expect(swappedPages(p, a, 8) + swappedPages(c, a, 8)).toBe(0);
    expect(k.check()).toEqual([]);
    // The pages swapped out before fork are one page shared by both again; the parent's later ones are its own, exclusive.
    expect(c.pagemap(a).pfn).toBe(p.pagemap(a).pfn);
    expect(p.pagemap(a).anonExclusive).toBe(false);
    expect(p.pagemap(a + 5 * PAGE).anonExclusive).toBe(true);
    expectStamp(p, a, 8);
    expectStamp(c, a, 8);
    p.write(a, new Uint8Array([0xee]));
    expect(c.read(a, 1)[0]).toBe(1);
    expect(errnoOf(() => p.swapoff('/dev/zram0'))).toBe('EINVAL');
    expect(p.swapon('/dev/zram0', 0)).toBe(0);
    expect(k.meminfo().SwapFree).toBe(k.meminfo().SwapTotal);
    p.madvise(a + 5 * PAGE, PAGE, U.MADV_PAGEOUT);
    expect(p.pagemap(a + 5 * PAGE).swapped).toBe(true);
    expect(k.check()).toEqual([]);
    c.exit();
    p.exit();
    expect(k.check()).toEqual([]);
  });

  it('overcommit (OVERCOMMIT_GUESS) counts swap: a request beyond RAM but within RAM plus swap is allowed', () => {
    const { k, p } = boot({ swap: '64MiB' });
    const ram = k.meminfo().MemTotal * KiB;
    const a = p.mmap(0, ram + 32 * MiB, RW, ANON, -1, 0);
    expect(a).toBeGreaterThan(0);
    expect(errnoOf(() => p.mmap(0, ram + 128 * MiB, RW, ANON, -1, 0))).toBe('ENOMEM');
    p.swapoff('/dev/zram0');
    expect(errnoOf(() => p.mmap(0, ram + 32 * MiB, RW, ANON, -1, 0))).toBe('ENOMEM');
    expect(k.check()).toEqual([]);
  });

  it('zero-filled pages go to the zeromap: not written (swpout_zero), not read (swpin_zero), and come back zero', () => {
    const { k, p } = boot({ thp: 'always' });
    const a = mapAligned(p, 2 * MiB, 2 * MiB);
    p.fill(a, 2 * MiB, 0);
    p.madvise(a, 2 * MiB, U.MADV_PAGEOUT);
    expect(swappedPages(p, a, 512)).toBe(512);
    expect(k.vmstat().swpout_zero).toBe(512);
    expect(k.vmstat().pswpout).toBe(0);
    // count_swpout_vm_event is only for folios written out.
    expect(k.vmstat().thp_swpout).toBe(0);
    expect(k.check()).toEqual([]);
    expect(p.read(a + 12345, 2)).toEqual(new Uint8Array(2));
    expect(k.vmstat().swpin_zero).toBe(1);
    expect(k.vmstat().pswpin).toBe(0);
    expect(k.check()).toEqual([]);
  });
});
