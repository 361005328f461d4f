/**
 * hugetlbfs (src/fs/hugetlbfs.ts): mounts and their subpools, file
 * operations over the HugeTLB pools. "Real 6.12 answered" marks expectations
 * checked on Debian's 6.12.118 under QEMU (../shared/realkernel), December 2025.
 */
import { describe, expect, it } from 'vitest';
import { Kernel, KernelConfigError, SignalError, SyscallError } from '../index.js';
import * as U from '../uapi/index.js';

const H = 2 ** 21;
const G = 2 ** 30;
const RW = U.PROT_READ | U.PROT_WRITE;

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof SyscallError) return e.code;
    if (e instanceof SignalError) return e.signal;
    throw e;
  }
  return 'ok';
}

function mountKernel(options: string, pools: Record<string, number> = { '2MiB': 16 }): Kernel {
  return new Kernel({ memory: '4GiB', hugetlb: pools, mounts: { '/': 'ext4', '/dev/hugepages': { type: 'hugetlbfs', options } } });
}

describe('mounts', () => {
  it('a file on a hugetlbfs mount: mmap, fault, fstatfs with the subpool counts', () => {
    const k = mountKernel('size=8M,nr_inodes=3');
    const p = k.spawn();
    const fd = p.open('/dev/hugepages/f', U.O_RDWR | U.O_CREAT, 0o600);
    const st = p.fstatfs(fd);
    expect(st.f_type).toBe(U.HUGETLBFS_MAGIC);
    expect(st.f_bsize).toBe(H);
    expect([st.f_blocks, st.f_bfree, st.f_files, st.f_ffree]).toEqual([4, 4, 3, 2]);
    expect(p.fstat(fd).st_blksize).toBe(H);
    p.ftruncate(fd, 2 * H);
    const a = p.mmap(0, 2 * H, RW, U.MAP_SHARED, fd, 0);
    p.fill(a, 2 * H, 9);
    expect(p.fstatfs(fd).f_bfree).toBe(2);
    expect(k.meminfo().HugePages_Free).toBe(14);
    const buf = new Uint8Array(4);
    expect(p.pread(fd, buf, 4, H + 10)).toBe(4);
    expect([...buf]).toEqual([9, 9, 9, 9]);
    expect(k.check()).toEqual([]);
  });

  it('size= limits the subpool: mmap beyond it is ENOMEM, fallocate beyond it ENOSPC', () => {
    const k = mountKernel('size=4M');
    const p = k.spawn();
    const fd = p.open('/dev/hugepages/f', U.O_RDWR | U.O_CREAT, 0o600);
    p.ftruncate(fd, 4 * H);
    expect(code(() => p.mmap(0, 4 * H, RW, U.MAP_SHARED, fd, 0))).toBe('ENOMEM');
    expect(code(() => p.fallocate(fd, 0, 0, 3 * H))).toBe('ENOSPC');
    // The two pages it did get stay (no rollback), as real 6.12 keeps them.
    expect(k.meminfo().HugePages_Free).toBe(14);
    expect(p.fstatfs(fd).f_bfree).toBe(0);
    expect(k.check()).toEqual([]);
  });

  it('min_size= reserves at mount; size=50% is half the pool; the mount fails when the pool is short', () => {
    const k = mountKernel('min_size=6M,size=50%');
    expect(k.meminfo().HugePages_Rsvd).toBe(3);
    const p = k.spawn();
    const fd = p.open('/dev/hugepages/f', U.O_RDWR | U.O_CREAT, 0o600);
    expect(p.fstatfs(fd).f_blocks).toBe(8);
    p.fallocate(fd, 0, 0, H);
    // The page used one of the subpool's reserved pages.
    expect(k.meminfo().HugePages_Rsvd).toBe(2);
    expect(k.check()).toEqual([]);
    expect(() => mountKernel('min_size=64M')).toThrow(KernelConfigError);
    expect(() => mountKernel('min_size=64M')).toThrow(/hugetlbfs at \/dev\/hugepages failed with ENOMEM/);
  });

  it('pagesize=1G mounts the 1 GiB hstate', () => {
    const k = mountKernel('pagesize=1G', { '1GiB': 1 });
    const p = k.spawn();
    const fd = p.open('/dev/hugepages/g', U.O_RDWR | U.O_CREAT, 0o600);
    expect(p.fstatfs(fd).f_bsize).toBe(G);
    expect(code(() => p.ftruncate(fd, H))).toBe('EINVAL');
    p.ftruncate(fd, G);
    const a = p.mmap(0, G, RW, U.MAP_SHARED, fd, 0);
    p.write(a + G - 1, new Uint8Array([3]));
    expect(p.pagemap(a).mappedBy).toBe(G);
    expect(k.check()).toEqual([]);
  });

  it('nr_inodes= limits the files: ENOSPC, and unlinking gives one back', () => {
    const k = mountKernel('nr_inodes=2');
    const p = k.spawn();
    const a = p.open('/dev/hugepages/a', U.O_RDWR | U.O_CREAT, 0o600);
    p.open('/dev/hugepages/b', U.O_RDWR | U.O_CREAT, 0o600);
    expect(code(() => p.open('/dev/hugepages/c', U.O_RDWR | U.O_CREAT, 0o600))).toBe('ENOSPC');
    p.close(a);
    p.unlink('/dev/hugepages/a');
    p.open('/dev/hugepages/c', U.O_RDWR | U.O_CREAT, 0o600);
    expect(k.check()).toEqual([]);
  });

  it.each([
    ['size=abc', /bad value 'abc' for mount option 'size'/],
    ['pagesize=4K', /unsupported page size/],
    ['nosuch=1', /unknown parameter 'nosuch'/],
  ])('bad options (%s) are a KernelConfigError naming the mount', (opts, msg) => {
    expect(() => mountKernel(opts)).toThrow(msg);
  });

  it('min_size greater than size is EINVAL at mount', () => {
    expect(() => mountKernel('size=2M,min_size=4M')).toThrow(/failed with EINVAL/);
  });
});

describe('files', () => {
  it('fallocate rounds the range out to huge pages; i_size grows unless KEEP_SIZE', () => {
    const k = new Kernel({ memory: '1GiB', hugetlb: { '2MiB': 8 } });
    const p = k.spawn();
    const fd = p.memfd_create('f', U.MFD_HUGETLB);
    p.fallocate(fd, 0, 4096, H);
    expect(k.meminfo().HugePages_Free).toBe(6);
    expect(p.fstat(fd).st_size).toBe(H + 4096);
    expect(p.fstat(fd).st_blocks).toBe((2 * H) / 512);
    p.fallocate(fd, U.FALLOC_FL_KEEP_SIZE, 4 * H, H);
    expect(p.fstat(fd).st_size).toBe(H + 4096);
    expect(k.check()).toEqual([]);
  });

  it('punching a hole rounds start up and end down; the partial ends are zeroed (real 6.12 answered)', () => {
    // Real 6.12: a 3-page file filled with 0xaa, punch [4K, 2M + 4K): page 0 keeps
    // its first 4K, [4K, 2M + 4K) reads 0, 2M + 4K onwards keeps 0xaa, no page is freed.
    const k = new Kernel({ memory: '1GiB', hugetlb: { '2MiB': 3 } });
    const p = k.spawn();
    const fd = p.memfd_create('f', U.MFD_HUGETLB);
    p.ftruncate(fd, 3 * H);
    const m = p.mmap(0, 3 * H, RW, U.MAP_SHARED, fd, 0);
    p.fill(m, 3 * H, 0xaa);
    p.fallocate(fd, U.FALLOC_FL_PUNCH_HOLE | U.FALLOC_FL_KEEP_SIZE, 4096, H);
    expect([m, m + 4096, m + H, m + H + 4096, m + H + 8192].map((a) => p.read(a, 1)[0])).toEqual([0xaa, 0, 0, 0xaa, 0xaa]);
    expect(k.meminfo().HugePages_Free).toBe(0);
    // A whole page inside the hole goes, mappings and all.
    p.fallocate(fd, U.FALLOC_FL_PUNCH_HOLE | U.FALLOC_FL_KEEP_SIZE, H, H);
    expect(k.meminfo().HugePages_Free).toBe(1);
    expect(p.pagemap(m + H).present).toBe(false);
    expect(p.read(m + H, 1)[0]).toBe(0);
    expect(k.check()).toEqual([]);
  });

  it('write(2) is EINVAL; read(2) returns the page cache, holes as zeros, up to i_size', () => {
    const k = new Kernel({ memory: '1GiB', hugetlb: { '2MiB': 2 } });
    const p = k.spawn();
    const fd = p.memfd_create('f', U.MFD_HUGETLB);
    p.ftruncate(fd, 2 * H);
    const m = p.mmap(0, H, RW, U.MAP_SHARED, fd, H);
    p.fill(m + 10, 2, 7);
    expect(code(() => p.syswrite(fd, new Uint8Array(1), 1))).toBe('EINVAL');
    const buf = new Uint8Array(16).fill(0xff);
    expect(p.pread(fd, buf, 16, H)).toBe(16);
    expect([...buf.subarray(8, 14)]).toEqual([0, 0, 7, 7, 0, 0]);
    expect(p.pread(fd, buf, 16, 0)).toBe(16);
    expect(buf.every((b) => b === 0)).toBe(true);
    expect(p.pread(fd, buf, 16, 2 * H - 8)).toBe(8);
    expect(k.check()).toEqual([]);
  });

  it('truncate: unaligned sizes EINVAL, seals EPERM; shrinking unmaps and frees, a later fault is SIGBUS', () => {
    const k = new Kernel({ memory: '1GiB', hugetlb: { '2MiB': 2 } });
    const p = k.spawn();
    const fd = p.memfd_create('f', U.MFD_HUGETLB | U.MFD_ALLOW_SEALING);
    expect(code(() => p.ftruncate(fd, H + 1))).toBe('EINVAL');
    p.ftruncate(fd, 2 * H);
    const m = p.mmap(0, 2 * H, RW, U.MAP_SHARED, fd, 0);
    p.fill(m, 2 * H, 1);
    p.ftruncate(fd, H);
    expect(k.meminfo().HugePages_Free).toBe(1);
    expect(code(() => p.read(m + H, 1))).toBe('SIGBUS');
    expect(p.read(m, 1)[0]).toBe(1);
    // fcntl(F_ADD_SEALS) is not modelled: the seal is set on the inode.
    p.fds.get(fd)!.inode.seals |= U.F_SEAL_SHRINK;
    expect(code(() => p.ftruncate(fd, 0))).toBe('EPERM');
    expect(k.check()).toEqual([]);
  });

  it('a private mapping of a file: reads map the file page, writes allocate private copies (hugetlb_wp)', () => {
    const k = new Kernel({ memory: '1GiB', hugetlb: { '2MiB': 4 } });
    const p = k.spawn();
    const fd = p.memfd_create('f', U.MFD_HUGETLB);
    p.fallocate(fd, 0, 0, H);
    const s = p.mmap(0, H, RW, U.MAP_SHARED, fd, 0);
    const m = p.mmap(0, H, RW, U.MAP_PRIVATE, fd, 0);
    p.fill(s, 1, 4);
    expect(p.read(m, 1)[0]).toBe(4);
    expect(p.pagemap(m).pfn).toBe(p.pagemap(s).pfn);
    expect(k.meminfo().HugePages_Free).toBe(3);
    p.fill(m, 1, 5);
    expect(k.meminfo().HugePages_Free).toBe(2);
    expect(p.read(s, 1)[0]).toBe(4);
    expect(p.pagemap(m).anonExclusive).toBe(true);
    // MADV_DONTNEED on the private mapping drops the private copy; the file page shows again.
    p.madvise(m, H, U.MADV_DONTNEED);
    expect(p.read(m, 1)[0]).toBe(4);
    expect(k.meminfo().HugePages_Free).toBe(3);
    // MADV_REMOVE punches the file (shared writable mappings only).
    expect(code(() => p.madvise(m, H, U.MADV_REMOVE))).toBe('EACCES');
    p.madvise(s, H, U.MADV_REMOVE);
    expect(k.meminfo().HugePages_Free).toBe(4);
    expect(k.check()).toEqual([]);
  });
});
