/**
 * io_uring fixed buffers: registration pins (and coalesces THPs), failures
 * leave nothing pinned, fixed reads and writes go to the pinned pages, and
 * unregistering or closing the ring unpins.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Kernel, type Process } from '../index.js';
import {
  F_SEAL_GROW,
  IORING_REGISTER_BUFFERS,
  IORING_SETUP_CLAMP,
  IORING_SETUP_CQSIZE,
  IORING_UNREGISTER_BUFFERS,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
} from '../uapi/index.js';
import { syscallCode as code } from '../../test/support/errno.js';

const PAGE = 4096;
const HPAGE = 2 * 1024 * 1024;
const RW = PROT_READ | PROT_WRITE;
const PA = MAP_PRIVATE | MAP_ANONYMOUS;

let kernels: Kernel[] = [];
afterEach(() => {
  for (const k of kernels) expect(k.check()).toEqual([]);
  kernels = [];
});

function boot(opts: { movable?: string } = {}): { k: Kernel; p: Process } {
  const k = new Kernel({ memory: '256MiB', ...opts });
  kernels.push(k);
  return { k, p: k.spawn() };
}


function anon(p: Process, pages: number, b: number, thp = false): number {
  const len = pages * PAGE;
  const a = thp ? alignedThp(p) : p.mmap(0, len, RW, PA, -1, 0);
  if (!thp) p.madvise(a, len, MADV_NOHUGEPAGE);
  p.fill(a, len, b);
  return a;
}

/** A PMD-aligned, PMD-mapped THP. */
function alignedThp(p: Process): number {
  const raw = p.mmap(0, 2 * HPAGE, RW, PA, -1, 0);
  const a = Math.ceil(raw / HPAGE) * HPAGE;
  p.madvise(a, HPAGE, MADV_HUGEPAGE);
  return a;
}

function ring(p: Process, entries = 4): number {
  return p.io_uring_setup(entries, {});
}

function register(p: Process, fd: number, iov: { iov_base: number; iov_len: number }[]): number {
  return p.io_uring_register(fd, IORING_REGISTER_BUFFERS, iov, iov.length);
}

describe('io_uring_setup', () => {
  it('rounds the SQ size up to a power of two, CQ twice that, and writes them back', () => {
    const { p } = boot();
    const params: Record<string, unknown> = {};
    const fd = p.io_uring_setup(5, params);
    expect(params).toMatchObject({ sq_entries: 8, cq_entries: 16, features: 0 });
    expect(p.fstat(fd).st_mode & 0o170000).toBe(0o020000);
    const q = { flags: IORING_SETUP_CQSIZE, cq_entries: 100 };
    p.io_uring_setup(64, q);
    expect(q).toMatchObject({ sq_entries: 64, cq_entries: 128 });
    expect(code(() => p.io_uring_setup(64, { flags: IORING_SETUP_CQSIZE, cq_entries: 32 }))).toBe('EINVAL');
    const c = { flags: IORING_SETUP_CLAMP };
    p.io_uring_setup(1 << 20, c);
    expect(c).toMatchObject({ sq_entries: 32768 });
    expect(code(() => p.io_uring_setup(1 << 20, {}))).toBe('EINVAL');
  });
});

describe('IORING_REGISTER_BUFFERS', () => {
  it('pins each small page writable and long-term; unregister unpins', () => {
    const { k, p } = boot();
    const a = anon(p, 3, 7);
    const fd = ring(p);
    const pfn = p.pagemap(a + PAGE).pfn;
    const ref0 = k.folio(pfn)!.refcount;
    expect(register(p, fd, [{ iov_base: a + 100, iov_len: 3 * PAGE - 100 }])).toBe(0);
    // Upstream accounting: a small folio carries GUP_PIN_COUNTING_BIAS per pin.
    expect(k.folio(pfn)!.refcount).toBe(ref0 + 1024);
    expect(k.gup.folio_maybe_dma_pinned(pfn)).toBe(true);
    expect(k.vmstat().nr_foll_pin_acquired).toBe(3);
    expect(code(() => register(p, fd, [{ iov_base: a, iov_len: PAGE }]))).toBe('EBUSY');
    expect(p.io_uring_register(fd, IORING_UNREGISTER_BUFFERS, 0, 0)).toBe(0);
    expect(k.folio(pfn)!.refcount).toBe(ref0);
    expect(k.vmstat().nr_foll_pin_released).toBe(3);
    expect(code(() => p.io_uring_register(fd, IORING_UNREGISTER_BUFFERS, 0, 0))).toBe('ENXIO');
    p.close(fd);
  });

  it('coalesces a THP: one pin for the folio, not one per page', () => {
    const { k, p } = boot();
    const a = anon(p, 512, 3, true);
    const f0 = k.folio(p.pagemap(a).pfn)!;
    expect(f0.order).toBe(9);
    const fd = ring(p);
    register(p, fd, [{ iov_base: a, iov_len: HPAGE }]);
    const f = k.folio(p.pagemap(a).pfn)!;
    expect(f.pincount).toBe(1);
    expect(f.refcount).toBe(f0.refcount + 1);
    // A range inside the THP coalesces too.
    const fd2 = ring(p);
    register(p, fd2, [{ iov_base: a + 5 * PAGE, iov_len: 7 * PAGE }]);
    expect(k.folio(p.pagemap(a).pfn)!.pincount).toBe(2);
    p.close(fd);
    p.close(fd2);
    expect(k.folio(p.pagemap(a).pfn)!.pincount).toBe(0);
  });

  it('a coalesced pin covers every page of the folio: fork copies them all for the child, under every design, and no copy is "unnecessary"', () => {
    for (const pinAccounting of ['upstream', 'exact', 'mm-sticky', 'page-sticky', 'pte-bit']) {
      const k = new Kernel({ memory: '256MiB', policy: { pinAccounting } });
      kernels.push(k);
      const p = k.spawn();
      const a = anon(p, 512, 3, true);
      const fd = ring(p);
      register(p, fd, [{ iov_base: a, iov_len: HPAGE }]);
      const child = p.fork();
      p.fill(a, HPAGE, 9); // the parent keeps the pinned pages: no COW
      const file = p.memfd_create('out', 0);
      expect(p.io_uring_write_fixed(fd, file, a + 100 * PAGE, PAGE, 0, 0)).toBe(PAGE);
      const back = new Uint8Array(PAGE);
      p.pread(file, back, PAGE, 0);
      expect([pinAccounting, back.every((b) => b === 9)]).toEqual([pinAccounting, true]);
      expect(child.read(a + 100 * PAGE, 1)[0]).toBe(3);
      expect([pinAccounting, k.pinAccounting().unnecessaryForkCopies, k.pinAccounting().pinnedPagesLostToCow]).toEqual([pinAccounting, 0, 0]);
      p.close(fd);
    }
  });

  it('pte-bit: a buffer inside a PTE-mapped 512 KiB mTHP coalesces to a folio pin; its entries carry the bit, so fork copies its pages and the oracle is clean', () => {
    // Found by foliosim soak (seed 11, pte-bit): the audit once asked for the bit on every page of the folio.
    const k = new Kernel({ memory: '256MiB', policy: { pinAccounting: 'pte-bit' } });
    kernels.push(k);
    k.writeSysfs('/sys/kernel/mm/transparent_hugepage/hugepages-512kB/enabled', 'always');
    k.writeSysfs('/sys/kernel/mm/transparent_hugepage/enabled', 'never');
    const p = k.spawn();
    const a = p.mmap(0, 600 * PAGE, RW, PA, -1, 0);
    p.fill(a, 600 * PAGE, 3);
    const buf = Math.ceil(a / (128 * PAGE)) * 128 * PAGE + 90 * PAGE;
    expect(k.folio(p.pagemap(buf).pfn)!.order).toBe(7);
    const fd = ring(p);
    register(p, fd, [{ iov_base: buf, iov_len: 4 * PAGE }]);
    // pte-bit keeps no pin counter: one reference per pin, and one pin is left for the folio.
    const f = k.folio(p.pagemap(buf).pfn)!;
    expect(f.refcount).toBe(f.expectedRefCount + 1);
    expect(k.check()).toEqual([]);
    const child = p.fork();
    p.fill(buf, 4 * PAGE, 9); // the parent keeps the pinned pages: no COW
    const file = p.memfd_create('out', 0);
    expect(p.io_uring_write_fixed(fd, file, buf + PAGE, PAGE, 0, 0)).toBe(PAGE);
    const back = new Uint8Array(PAGE);
    p.pread(file, back, PAGE, 0);
    expect(back.every((b) => b === 9)).toBe(true);
    expect(child.read(buf + PAGE, 1)[0]).toBe(3);
    expect(k.pinAccounting().pinnedPagesLostToCow).toBe(0);
    p.close(fd);
  });

  it('a buffer that cannot be pinned whole is EFAULT and leaves nothing pinned, earlier buffers included', () => {
    const { k, p } = boot();
    const a = anon(p, 2, 1);
    const b = anon(p, 4, 1);
    p.munmap(b + 2 * PAGE, PAGE);
    const fd = ring(p);
    expect(code(() => register(p, fd, [{ iov_base: a, iov_len: 2 * PAGE }, { iov_base: b, iov_len: 4 * PAGE }]))).toBe('EFAULT');
    expect(k.vmstat().nr_foll_pin_acquired).toBe(k.vmstat().nr_foll_pin_released);
    expect(k.gup.folio_maybe_dma_pinned(p.pagemap(a).pfn)).toBe(false);
    // The table stays empty: a new registration works.
    expect(register(p, fd, [{ iov_base: a, iov_len: PAGE }])).toBe(0);
    p.close(fd);
  });

  it('refuses a writable long-term pin of a read-only mapping, and allows a shared anonymous one', () => {
    const { p } = boot();
    const ro = p.mmap(0, PAGE, PROT_READ, PA, -1, 0);
    const sh = p.mmap(0, PAGE, RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    const fd = ring(p);
    expect(code(() => register(p, fd, [{ iov_base: ro, iov_len: PAGE }]))).toBe('EFAULT');
    expect(register(p, fd, [{ iov_base: sh, iov_len: PAGE }])).toBe(0);
    p.close(fd);
  });

  it('long-term pins migrate pages out of ZONE_MOVABLE first', () => {
    const { k, p } = boot({ movable: '64MiB' });
    const a = anon(p, 1, 9);
    const before = p.pagemap(a).pfn;
    expect(k.folio(before)!.zone).toBe('Movable');
    const fd = ring(p);
    register(p, fd, [{ iov_base: a, iov_len: PAGE }]);
    const after = p.pagemap(a).pfn;
    expect(after).not.toBe(before);
    expect(k.folio(after)!.zone).toBe('Normal');
    expect(p.read(a, 1)[0]).toBe(9);
    p.close(fd);
  });
});

describe('fixed reads and writes', () => {
  it('move data between a file and the pinned pages', () => {
    const { p } = boot();
    const a = anon(p, 2, 0x11);
    const ring0 = ring(p);
    register(p, ring0, [{ iov_base: a, iov_len: 2 * PAGE }]);
    const file = p.memfd_create('f', 0);
    expect(p.io_uring_write_fixed(ring0, file, a + 10, 5000, 100, 0)).toBe(5000);
    const out = new Uint8Array(5000);
    expect(p.pread(file, out, 5000, 100)).toBe(5000);
    expect(out.every((b) => b === 0x11)).toBe(true);
    p.pwrite(file, new Uint8Array(300).fill(0x22), 300, 0);
    expect(p.io_uring_read_fixed(ring0, file, a + PAGE - 150, 300, 0, 0)).toBe(300);
    expect(p.read(a + PAGE - 150, 300).every((b) => b === 0x22)).toBe(true);
    expect(p.read(a + PAGE - 151, 1)[0]).toBe(0x11);
    // A short read at end of file.
    expect(p.io_uring_read_fixed(ring0, file, a, 2 * PAGE, 5000, 0)).toBe(100);
    p.close(ring0);
  });

  it('use the pinned pages even after the process maps other memory there', () => {
    const { p } = boot();
    const a = anon(p, 1, 0x33);
    const fd = ring(p);
    register(p, fd, [{ iov_base: a, iov_len: PAGE }]);
    // Replace the mapping: the registered buffer still holds the old page.
    p.munmap(a, PAGE);
    expect(p.mmap(a, PAGE, RW, PA | 0x10, -1, 0)).toBe(a);
    p.fill(a, PAGE, 0x44);
    const file = p.memfd_create('f', 0);
    expect(p.io_uring_write_fixed(fd, file, a, PAGE, 0, 0)).toBe(PAGE);
    const out = new Uint8Array(PAGE);
    p.pread(file, out, PAGE, 0);
    expect(out.every((b) => b === 0x33)).toBe(true);
    p.close(fd);
  });

  it('hand the file one write of the whole length: a memfd sealed against growth refuses a write past its end whole (EPERM)', () => {
    // Real 6.12 (Debian's 6.12 under QEMU, a static probe): WRITE_FIXED of 2 MiB to a 1.5 MiB memfd
    // with F_SEAL_GROW completes with -EPERM and leaves the file untouched, as pwrite(2) of the
    // same 2 MiB (and of 8 KiB across the end) fails with EPERM.
    const { p } = boot();
    const len = 2 * 1024 * 1024;
    const a = p.mmap(0, len, RW, PA, -1, 0);
    p.fill(a, len, 0x33);
    const fd = ring(p);
    register(p, fd, [{ iov_base: a, iov_len: len }]);
    const file = p.memfd_create('grow', 0);
    p.ftruncate(file, len - len / 4);
    // fcntl(F_ADD_SEALS) is not modelled: the seal is set on the inode.
    p.fds.get(file)!.inode.seals |= F_SEAL_GROW;
    expect(p.io_uring_write_fixed(fd, file, a, len, 0, 0)).toBe(-1);
    expect(code(() => p.pwrite(file, new Uint8Array(2 * PAGE), 2 * PAGE, len - len / 4 - PAGE))).toBe('EPERM');
    const out = new Uint8Array(PAGE);
    p.pread(file, out, PAGE, 0);
    expect(out.every((b) => b === 0)).toBe(true);
    // Within the size it writes.
    expect(p.io_uring_write_fixed(fd, file, a, len / 2, 0, 0)).toBe(len / 2);
    p.pread(file, out, PAGE, 0);
    expect(out.every((b) => b === 0x33)).toBe(true);
    p.close(fd);
  });

  it('report per-request errors in the CQE', () => {
    const { p } = boot();
    const a = anon(p, 1, 1);
    const fd = ring(p);
    const file = p.memfd_create('f', 0);
    // No buffers registered.
    expect(p.io_uring_write_fixed(fd, file, a, 10, 0, 0)).toBe(-14);
    register(p, fd, [{ iov_base: a, iov_len: PAGE }]);
    expect(p.io_uring_write_fixed(fd, 99, a, 10, 0, 0)).toBe(-9);
    expect(p.io_uring_write_fixed(fd, file, a, 10, 0, 1)).toBe(-14);
    expect(p.io_uring_write_fixed(fd, file, a + PAGE - 5, 10, 0, 0)).toBe(-14);
    expect(p.io_uring_write_fixed(fd, file, a - 1, 10, 0, 0)).toBe(-14);
    expect(p.io_uring_write_fixed(fd, file, a, 10, -2, 0)).toBe(-22);
    // The file position, with off = -1.
    expect(p.io_uring_write_fixed(fd, file, a, 10, -1, 0)).toBe(10);
    expect(p.io_uring_write_fixed(fd, file, a, 10, -1, 0)).toBe(10);
    expect(p.fstat(file).st_size).toBe(20);
    // A read-only descriptor cannot be written.
    const [r, w] = p.pipe();
    expect(p.io_uring_write_fixed(fd, r, a, 10, 0, 0)).toBe(-9);
    expect(p.io_uring_write_fixed(fd, w, a, 10, 0, 0)).toBe(10);
    expect(p.io_uring_read_fixed(fd, r, a, 10, 0, 0)).toBe(10);
    expect(code(() => p.io_uring_write_fixed(file, file, a, 10, 0, 0))).toBe('EOPNOTSUPP');
    expect(code(() => p.io_uring_write_fixed(77, file, a, 10, 0, 0))).toBe('EBADF');
    p.close(fd);
  });

  it('survive fork: the child gets a copy, the parent keeps the pinned page', () => {
    const { k, p } = boot();
    const a = anon(p, 1, 5);
    const fd = ring(p);
    register(p, fd, [{ iov_base: a, iov_len: PAGE }]);
    const pinned = p.pagemap(a).pfn;
    const child = p.fork();
    expect(child.pagemap(a).pfn).not.toBe(pinned);
    p.fill(a, PAGE, 6);
    expect(p.pagemap(a).pfn).toBe(pinned);
    expect(k.pinAccounting().pinnedPagesLostToCow).toBe(0);
    child.exit(0);
    p.close(fd);
  });

  it('closing the last reference to the ring unpins, wherever it was', () => {
    const { k, p } = boot();
    const a = anon(p, 4, 1);
    const fd = ring(p);
    register(p, fd, [{ iov_base: a, iov_len: 4 * PAGE }]);
    const child = p.fork();
    p.close(fd);
    expect(k.gup.folio_maybe_dma_pinned(p.pagemap(a).pfn)).toBe(true);
    child.exit(0);
    expect(k.gup.folio_maybe_dma_pinned(p.pagemap(a).pfn)).toBe(false);
  });
});
