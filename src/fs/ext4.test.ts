/**
 * Disk file systems (fs/ext4, mm/filemap.c, mm/page-writeback.c): page cache
 * that is file data but not Shmem, write-notify and ->page_mkwrite, fsync
 * writeback that write-protects shared PTEs again, blocks and fallocate,
 * fs-dax mappings.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Kernel, type Process } from '../index.js';
import * as U from '../uapi/index.js';

const PAGE = 4096;
const RW = U.PROT_READ | U.PROT_WRITE;
const CREATE = U.O_RDWR | U.O_CREAT | U.O_EXCL;

const kernels: Kernel[] = [];
afterEach(() => {
  for (const k of kernels.splice(0)) expect(k.check()).toEqual([]);
});

function boot(opts: ConstructorParameters<typeof Kernel>[0] = {}): { k: Kernel; p: Process } {
  const k = new Kernel({ memory: '256MiB', ...opts });
  kernels.push(k);
  return { k, p: k.spawn() };
}

/** A new file of `pages` pages (sparse) at path, open O_RDWR. */
function file(p: Process, path: string, pages: number): number {
  const fd = p.open(path, CREATE, 0o600);
  p.ftruncate(fd, pages * PAGE);
  return fd;
}

const faults = (k: Kernel) => k.events().fault!;
const dirty = (k: Kernel, p: Process, addr: number) => k.folio(p.pagemap(addr).pfn)!.flags.includes('dirty');

describe('ext4 page cache', () => {
  it('is file memory: Cached and RssFile, not Shmem; data survives close and reopen', () => {
    const { k, p } = boot();
    const before = k.meminfo();
    const fd = file(p, '/data', 8);
    const a = p.mmap(0, 8 * PAGE, RW, U.MAP_SHARED, fd, 0);
    p.fill(a, 8 * PAGE, 0x5a);
    const m = k.meminfo();
    expect(m.Cached - before.Cached).toBe(32);
    expect(m.Shmem).toBe(before.Shmem);
    expect(p.status()).toMatchObject({ RssFile: 32, RssShmem: 0, RssAnon: 0 });
    expect(p.smaps()[0]).toMatchObject({ pathname: '/data', Rss: 32, Pss_File: 32, Pss_Shmem: 0 });
    p.munmap(a, 8 * PAGE);
    p.close(fd);
    // A linked file keeps its pages (no eviction of clean or dirty pages).
    expect(k.meminfo().Cached - before.Cached).toBe(32);
    const fd2 = p.open('/data', U.O_RDONLY);
    const buf = new Uint8Array(3);
    expect(p.pread(fd2, buf, 3, 5 * PAGE + 7)).toBe(3);
    expect(buf).toEqual(new Uint8Array([0x5a, 0x5a, 0x5a]));
  });

  it('reads of holes are zeros and add no pages; st_blocks counts written blocks only', () => {
    const { k, p } = boot();
    const fd = file(p, '/sparse', 0);
    const cached = k.meminfo().Cached;
    p.pwrite(fd, new Uint8Array([1, 2, 3]), 3, 3 * PAGE + 10);
    expect(p.fstat(fd)).toMatchObject({ st_size: 3 * PAGE + 13, st_blocks: 8, st_blksize: 4096 });
    const buf = new Uint8Array(PAGE + 20).fill(9);
    expect(p.pread(fd, buf, buf.length, 2 * PAGE)).toBe(PAGE + 13);
    expect(buf.subarray(0, PAGE + 10).every((b) => b === 0)).toBe(true);
    expect([...buf.subarray(PAGE + 10, PAGE + 13)]).toEqual([1, 2, 3]);
    expect(k.meminfo().Cached - cached).toBe(4);
  });

  it('unlinked files stay until the last descriptor and mapping go, then their pages are freed', () => {
    const { k, p } = boot();
    const free0 = k.meminfo().MemFree;
    const fd = file(p, '/gone', 4);
    const a = p.mmap(0, 4 * PAGE, RW, U.MAP_SHARED, fd, 0);
    p.fill(a, 4 * PAGE, 1);
    p.unlink('/gone');
    p.close(fd);
    expect(p.smaps()[0]!.pathname).toBe('/gone (deleted)');
    expect(p.read(a + 3 * PAGE, 1)[0]).toBe(1);
    p.munmap(a, 4 * PAGE);
    expect(k.meminfo().MemFree).toBeGreaterThanOrEqual(free0);
    expect(() => p.open('/gone', U.O_RDONLY)).toThrow(/ENOENT/);
  });

  it('a private mapping copies on write and never dirties the page cache', () => {
    const { k, p } = boot();
    const fd = file(p, '/priv', 2);
    p.pwrite(fd, new Uint8Array(PAGE).fill(7), PAGE, 0);
    p.fsync(fd);
    const a = p.mmap(0, 2 * PAGE, RW, U.MAP_PRIVATE, fd, 0);
    p.write(a, new Uint8Array([8]));
    expect(p.status()).toMatchObject({ RssAnon: 4 });
    expect(k.meminfo().Dirty).toBe(0);
    const buf = new Uint8Array(1);
    p.pread(fd, buf, 1, 0);
    expect(buf[0]).toBe(7);
  });
});

describe('write-notify and writeback', () => {
  it('the first write to a clean shared page faults into ->page_mkwrite, which allocates the block and dirties the folio', () => {
    const { k, p } = boot();
    const fd = file(p, '/wn', 4);
    const a = p.mmap(0, 4 * PAGE, RW, U.MAP_SHARED, fd, 0);
    p.read(a, 1); // read fault: mapped read-only, clean, no block yet
    expect(dirty(k, p, a)).toBe(false);
    expect(p.fstat(fd).st_blocks).toBe(0);
    const f0 = faults(k);
    p.write(a, new Uint8Array([1]));
    expect(faults(k) - f0).toBe(1); // the write-protect fault of write-notify
    expect(dirty(k, p, a)).toBe(true);
    expect(p.fstat(fd).st_blocks).toBe(8);
    expect(k.meminfo().Dirty).toBe(4);
    const f1 = faults(k);
    p.write(a + 1, new Uint8Array([2]));
    expect(faults(k)).toBe(f1); // now writable
  });

  it('a write fault on an absent shared page calls ->page_mkwrite too', () => {
    const { k, p } = boot();
    const fd = file(p, '/wn2', 4);
    const a = p.mmap(0, 4 * PAGE, RW, U.MAP_SHARED, fd, 0);
    p.write(a + 2 * PAGE, new Uint8Array([3]));
    expect(dirty(k, p, a + 2 * PAGE)).toBe(true);
    expect(p.fstat(fd).st_blocks).toBe(8);
  });

  it('fsync cleans dirty folios and write-protects their shared PTEs, so the next write faults again', () => {
    const { k, p } = boot();
    const fd = file(p, '/sync', 4);
    const a = p.mmap(0, 4 * PAGE, RW, U.MAP_SHARED, fd, 0);
    const q = p.fork(); // a second shared mapping of the same pages
    p.fill(a, 4 * PAGE, 0x11);
    q.write(a + PAGE, new Uint8Array([0x22]));
    expect(k.meminfo().Dirty).toBe(16);
    expect(p.fsync(fd)).toBe(0);
    expect(k.meminfo().Dirty).toBe(0);
    for (let i = 0; i < 4; i++) expect(dirty(k, p, a + i * PAGE)).toBe(false);
    // Reads do not fault; the data is unchanged.
    const f0 = faults(k);
    expect(q.read(a + PAGE, 2)).toEqual(new Uint8Array([0x22, 0x11]));
    expect(faults(k)).toBe(f0);
    // Writes through either mapping fault and dirty the folio again.
    p.write(a + 3 * PAGE, new Uint8Array([0x33]));
    q.write(a + PAGE, new Uint8Array([0x44]));
    expect(faults(k) - f0).toBe(2);
    expect(k.meminfo().Dirty).toBe(8);
    expect(p.fdatasync(fd)).toBe(0);
    expect(k.meminfo().Dirty).toBe(0);
  });

  it('write(2) dirties the page cache; munmap moves a dirty PTE into the folio; fsync cleans both', () => {
    const { k, p } = boot();
    const fd = file(p, '/w', 2);
    p.pwrite(fd, new Uint8Array([1]), 1, 0);
    expect(k.meminfo().Dirty).toBe(4);
    p.fsync(fd);
    const a = p.mmap(0, 2 * PAGE, RW, U.MAP_SHARED, fd, 0);
    p.write(a + PAGE, new Uint8Array([2]));
    p.munmap(a, 2 * PAGE);
    expect(k.meminfo().Dirty).toBe(4);
    p.fsync(fd);
    expect(k.meminfo().Dirty).toBe(0);
  });

  it('fsync needs ->fsync: pipes are EINVAL, tmpfs and hugetlbfs succeed', () => {
    const { k, p } = boot();
    const m = p.memfd_create('m', 0);
    p.pwrite(m, new Uint8Array(PAGE), PAGE, 0);
    // tmpfs folios are dirty but not accounted as such (no writeback).
    expect(k.meminfo().Dirty).toBe(0);
    expect(p.fsync(m)).toBe(0);
    const h = p.memfd_create('h', U.MFD_HUGETLB);
    expect(p.fsync(h)).toBe(0);
    const [r] = p.pipe();
    expect(() => p.fsync(r)).toThrow(/EINVAL/);
  });
});

describe('blocks and fallocate', () => {
  it('fallocate preallocates (KEEP_SIZE or not) without page cache; punching a hole frees whole blocks and zeroes the edges', () => {
    const { k, p } = boot();
    const fd = file(p, '/fa', 0);
    const cached = k.meminfo().Cached;
    p.fallocate(fd, U.FALLOC_FL_KEEP_SIZE, 0, 4 * PAGE);
    expect(p.fstat(fd)).toMatchObject({ st_size: 0, st_blocks: 32 });
    p.fallocate(fd, 0, 0, 2 * PAGE + 1);
    expect(p.fstat(fd)).toMatchObject({ st_size: 2 * PAGE + 1, st_blocks: 32 });
    expect(k.meminfo().Cached).toBe(cached);
    p.pwrite(fd, new Uint8Array(3 * PAGE).fill(5), 3 * PAGE, 0);
    p.fallocate(fd, U.FALLOC_FL_PUNCH_HOLE | U.FALLOC_FL_KEEP_SIZE, 100, 2 * PAGE);
    const buf = new Uint8Array(3 * PAGE);
    p.pread(fd, buf, buf.length, 0);
    expect([buf[99], buf[100], buf[PAGE + 5], buf[2 * PAGE + 99], buf[2 * PAGE + 100]]).toEqual([5, 0, 0, 0, 5]);
    // Block 1 is gone; blocks 0, 2 (partial) and 3 (beyond EOF, preallocated) stay.
    expect(p.fstat(fd).st_blocks).toBe(24);
  });

  it('zero range reads back zeros, keeps private COW copies, and may extend the file', () => {
    const { p } = boot();
    const fd = file(p, '/zr', 2);
    p.pwrite(fd, new Uint8Array(2 * PAGE).fill(3), 2 * PAGE, 0);
    const priv = p.mmap(0, 2 * PAGE, RW, U.MAP_PRIVATE, fd, 0);
    p.write(priv + PAGE, new Uint8Array([9]));
    p.fallocate(fd, U.FALLOC_FL_ZERO_RANGE, 10, 3 * PAGE);
    expect(p.fstat(fd).st_size).toBe(3 * PAGE + 10);
    const buf = new Uint8Array(2 * PAGE);
    p.pread(fd, buf, buf.length, 0);
    expect(buf[9]).toBe(3);
    expect(buf.subarray(10).every((b) => b === 0)).toBe(true);
    expect(p.read(priv + PAGE, 2)).toEqual(new Uint8Array([9, 3]));
  });

  it('collapse and insert range shift the data by whole blocks, with their checks', () => {
    const { p } = boot();
    const fd = file(p, '/shift', 0);
    const data = new Uint8Array(4 * PAGE);
    for (let i = 0; i < 4; i++) data.fill(i + 1, i * PAGE, (i + 1) * PAGE);
    p.pwrite(fd, data, data.length, 0);
    const a = p.mmap(0, 4 * PAGE, U.PROT_READ, U.MAP_SHARED, fd, 0);
    p.read(a, 4 * PAGE);
    expect(() => p.fallocate(fd, U.FALLOC_FL_COLLAPSE_RANGE, 1, PAGE)).toThrow(/EINVAL/);
    expect(() => p.fallocate(fd, U.FALLOC_FL_COLLAPSE_RANGE, 3 * PAGE, PAGE)).toThrow(/EINVAL/); // reaches EOF
    p.fallocate(fd, U.FALLOC_FL_COLLAPSE_RANGE, PAGE, PAGE);
    expect(p.fstat(fd)).toMatchObject({ st_size: 3 * PAGE, st_blocks: 24 });
    expect([...p.read(a, 1), ...p.read(a + PAGE, 1), ...p.read(a + 2 * PAGE, 1)]).toEqual([1, 3, 4]);
    expect(() => p.fallocate(fd, U.FALLOC_FL_INSERT_RANGE, 3 * PAGE, PAGE)).toThrow(/EINVAL/); // at EOF
    p.fallocate(fd, U.FALLOC_FL_INSERT_RANGE, 0, PAGE);
    expect(p.fstat(fd)).toMatchObject({ st_size: 4 * PAGE, st_blocks: 24 });
    expect([...p.read(a, 1), ...p.read(a + PAGE, 1), ...p.read(a + 3 * PAGE, 1)]).toEqual([0, 1, 4]);
  });

  it('each file system has its own fallocate modes and size limit', () => {
    const { p } = boot({ mounts: { '/': 'ext4', '/x': 'xfs', '/b': 'btrfs' } });
    const e = file(p, '/e', 4);
    const x = file(p, '/x/f', 4);
    const b = file(p, '/b/f', 4);
    expect(() => p.fallocate(b, U.FALLOC_FL_COLLAPSE_RANGE, 0, PAGE)).toThrow(/EOPNOTSUPP/);
    expect(() => p.fallocate(e, U.FALLOC_FL_UNSHARE_RANGE, 0, PAGE)).toThrow(/EOPNOTSUPP/);
    expect(p.fallocate(x, U.FALLOC_FL_UNSHARE_RANGE, 0, PAGE)).toBe(0);
    expect(() => p.fallocate(e, U.FALLOC_FL_WRITE_ZEROES, 0, PAGE)).toThrow(/EOPNOTSUPP/);
    // ext4 with extents: 2^32 - 1 blocks of 4 KiB.
    const ext4Max = ((1n << 32n) - 1n) * 4096n;
    expect(p.ftruncate(e, ext4Max)).toBe(0);
    expect(() => p.ftruncate(e, ext4Max + 1n)).toThrow(/EFBIG/);
    expect(() => p.pwrite(e, new Uint8Array(1), 1, ext4Max)).toThrow(/EFBIG/);
    expect(p.ftruncate(x, ext4Max + 1n)).toBe(0);
    expect(p.fstatfs(x).f_type).toBe(U.XFS_SUPER_MAGIC);
    expect(p.fstatfs(b).f_type).toBe(U.BTRFS_SUPER_MAGIC);
  });

  it('a full device: write(2) is short then ENOSPC, a write fault is SIGBUS, fallocate ENOSPC; statfs counts the blocks', () => {
    const { p } = boot({ mounts: { '/': { type: 'ext4', size: '64KiB' } } });
    const fd = file(p, '/full', 32);
    expect(p.pwrite(fd, new Uint8Array(20 * PAGE), 20 * PAGE, 0)).toBe(16 * PAGE);
    expect(() => p.pwrite(fd, new Uint8Array(1), 1, 17 * PAGE)).toThrow(/ENOSPC/);
    expect(() => p.fallocate(fd, 0, 20 * PAGE, PAGE)).toThrow(/ENOSPC/);
    const a = p.mmap(0, 32 * PAGE, RW, U.MAP_SHARED, fd, 0);
    expect(p.read(a + 20 * PAGE, 1)[0]).toBe(0); // reading a hole needs no block
    expect(() => p.write(a + 20 * PAGE, new Uint8Array([1]))).toThrow(/SIGBUS/);
    expect(p.fstatfs(fd)).toMatchObject({ f_blocks: 16, f_bfree: 0, f_bavail: 0 });
    p.ftruncate(fd, 4 * PAGE);
    expect(p.fstatfs(fd)).toMatchObject({ f_blocks: 16, f_bfree: 12 });
  });

  it('truncation drops pages, private COW copies and blocks beyond EOF', () => {
    const { p } = boot();
    const fd = file(p, '/t', 4);
    const s = p.mmap(0, 4 * PAGE, RW, U.MAP_SHARED, fd, 0);
    const priv = p.mmap(0, 4 * PAGE, RW, U.MAP_PRIVATE, fd, 0);
    p.fill(s, 4 * PAGE, 1);
    p.fill(priv, 4 * PAGE, 2);
    p.ftruncate(fd, PAGE + 100);
    expect(p.fstat(fd).st_blocks).toBe(16);
    expect(() => p.read(s + 2 * PAGE, 1)).toThrow(/SIGBUS/);
    expect(() => p.read(priv + 2 * PAGE, 1)).toThrow(/SIGBUS/);
    expect(p.read(s + PAGE + 99, 2)).toEqual(new Uint8Array([1, 0]));
    expect(p.status().RssAnon).toBe(8);
  });
});

describe('fs-dax', () => {
  it('DAX mappings are VM_HUGEPAGE, fault page by page without fault-around, and are written back by fsync', () => {
    const { k, p } = boot();
    const fd = file(p, '/mnt/pmem/f', 16);
    expect(p.fstatfs(fd).f_type).toBe(U.EXT4_SUPER_MAGIC);
    const a = p.mmap(0, 16 * PAGE, RW, U.MAP_SHARED, fd, 0);
    p.read(a, 1);
    expect(p.pagemap(a + PAGE).present).toBe(false);
    expect(p.smaps()[0]!.VmFlags.split(' ')).toContain('hg');
    p.write(a, new Uint8Array([1]));
    expect(dirty(k, p, a)).toBe(true);
    p.fsync(fd);
    expect(dirty(k, p, a)).toBe(false);
    const f0 = faults(k);
    p.write(a, new Uint8Array([2]));
    expect(faults(k) - f0).toBe(1);
  });

  it('an ext4 mapping faults around: the neighbouring cached pages come in with one fault', () => {
    const { p } = boot();
    const fd = file(p, '/fa2', 16);
    p.pwrite(fd, new Uint8Array(16 * PAGE).fill(1), 16 * PAGE, 0);
    const a = p.mmap(0, 16 * PAGE, U.PROT_READ, U.MAP_SHARED, fd, 0);
    p.read(a, 1);
    expect(p.pagemap(a + PAGE).present).toBe(true);
  });
});

/**
 * gup_longterm.c's file cases (reference gup.md §4.2): each backing, shared or
 * private, R/W or R/O, GUP or GUP-fast. The expectation comes from fstatfs,
 * as the selftest computes it: a writable long-term pin of a shared mapping
 * works only on tmpfs and hugetlbfs.
 */
describe('long-term pins of file mappings (gup_longterm)', () => {
  type Backing = { name: string; open: (p: Process) => number };
  const backings: Backing[] = [
    { name: 'memfd', open: (p) => p.memfd_create('test', 0) },
    // libc tmpfile(): O_TMPFILE in /tmp.
    { name: 'tmpfile', open: (p) => p.open('/tmp', U.O_TMPFILE | U.O_RDWR | U.O_EXCL, 0o600) },
    // mkstemp in the working directory, then unlink.
    {
      name: 'local tmpfile',
      open: (p) => {
        const fd = p.open('gup_longterm_XXXXXX', CREATE, 0o600);
        p.unlink('gup_longterm_XXXXXX');
        return fd;
      },
    },
  ];
  const FOLL_WRITE = 1 << 0;
  const FOLL_LONGTERM = 1 << 8;
  for (const b of backings) {
    for (const shared of [true, false]) {
      for (const rw of [true, false]) {
        for (const fast of [false, true]) {
          const name = `${rw ? 'R/W' : 'R/O'} longterm ${fast ? 'GUP-fast' : 'GUP'} pin in ${shared ? 'MAP_SHARED' : 'MAP_PRIVATE'} ${b.name} mapping`;
          it(name, () => {
            const { k, p } = boot();
            const fd = b.open(p);
            p.ftruncate(fd, PAGE);
            p.fallocate(fd, 0, 0, PAGE);
            const a = p.mmap(0, PAGE, RW, shared ? U.MAP_SHARED : U.MAP_PRIVATE, fd, 0);
            p.fill(a, PAGE, 0);
            if (!rw) p.mprotect(a, PAGE, U.PROT_READ);
            const fsType = p.fstatfs(fd).f_type;
            const shouldWork = !shared || !rw || fsType === U.TMPFS_MAGIC || fsType === U.HUGETLBFS_MAGIC;
            const pages: number[] = [];
            const flags = FOLL_LONGTERM | (rw ? FOLL_WRITE : 0);
            const r = fast ? k.gup.pin_user_pages_fast(p, a, 1, flags, pages) : k.gup.pin_user_pages(p, a, 1, flags, pages);
            if (shouldWork) {
              expect(r).toBe(1);
              expect(k.gup.folio_maybe_dma_pinned(pages[0]!)).toBe(true);
              k.gup.unpin_user_pages(pages, 1);
            } else {
              expect(r).toBe(-U.errno.EFAULT);
              expect(pages).toEqual([]);
            }
          });
        }
      }
    }
  }

  it('the local tmpfile is on ext4, the tmpfile on tmpfs (the default mounts)', () => {
    const { p } = boot();
    expect(p.fstatfs(backings[1]!.open(p)).f_type).toBe(U.TMPFS_MAGIC);
    expect(p.fstatfs(backings[2]!.open(p)).f_type).toBe(U.EXT4_SUPER_MAGIC);
    expect(p.fstatfs(backings[0]!.open(p)).f_type).toBe(U.TMPFS_MAGIC);
  });

  it('a short-term writable pin of a shared ext4 page is allowed: GUP faults it writable through ->page_mkwrite', () => {
    const { k, p } = boot();
    const fd = file(p, '/short', 1);
    const a = p.mmap(0, PAGE, RW, U.MAP_SHARED, fd, 0);
    p.read(a, 1);
    const pages: number[] = [];
    expect(k.gup.pin_user_pages(p, a, 1, FOLL_WRITE, pages)).toBe(1);
    expect(dirty(k, p, a)).toBe(true);
    expect(p.fstat(fd).st_blocks).toBe(8);
    k.gup.unpin_user_pages_dirty_lock(pages, 1, true);
  });

  it('FOLL_LONGTERM on an fs-dax mapping is EOPNOTSUPP, R/O or R/W, shared or private, GUP or GUP-fast', () => {
    const { k, p } = boot();
    const fd = file(p, '/mnt/pmem/pin', 1);
    for (const type of [U.MAP_SHARED, U.MAP_PRIVATE]) {
      const a = p.mmap(0, PAGE, RW, type, fd, 0);
      for (const rw of [FOLL_WRITE, 0]) {
        const pages: number[] = [];
        expect(k.gup.pin_user_pages(p, a, 1, FOLL_LONGTERM | rw, pages)).toBe(-U.errno.EOPNOTSUPP);
        // Before the first fault GUP-fast finds nothing and the slow path decides.
        expect(k.gup.pin_user_pages_fast(p, a, 1, FOLL_LONGTERM | rw, pages)).toBe(-U.errno.EOPNOTSUPP);
        expect(pages).toEqual([]);
      }
      // Without FOLL_LONGTERM a DAX page can be pinned.
      const pages: number[] = [];
      expect(k.gup.pin_user_pages(p, a, 1, FOLL_WRITE, pages)).toBe(1);
      k.gup.unpin_user_pages(pages, 1);
      // Once a shared DAX page is mapped, GUP-fast sees it but refuses it (folio_is_longterm_pinnable), and
      // the slow path says why. (In the private mapping the write pin above COWed an anonymous page, which
      // GUP-fast, knowing no VMA, pins long-term as Linux does.)
      if (type === U.MAP_SHARED) {
        p.read(a, 1);
        expect(k.gup.pin_user_pages_fast(p, a, 1, FOLL_LONGTERM, pages)).toBe(-U.errno.EOPNOTSUPP);
        expect(k.vmstat().nr_foll_pin_acquired).toBe(k.vmstat().nr_foll_pin_released);
      }
      p.munmap(a, PAGE);
    }
  });
});
