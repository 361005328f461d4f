/**
 * The path namespace (fs/namei.c, fs/namespace.c): mounts by longest prefix,
 * the working directory, implicit directories, open(2) flags, unlink(2),
 * O_TMPFILE, and the names /proc shows.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Kernel, KernelConfigError, type Process } from '../index.js';
import * as U from '../uapi/index.js';
import { syscallCode as errnoOf } from '../../test/support/errno.js';

const PAGE = 4096;
const CREATE = U.O_RDWR | U.O_CREAT;

const kernels: Kernel[] = [];
afterEach(() => {
  for (const k of kernels.splice(0)) expect(k.check()).toEqual([]);
});

function boot(opts: ConstructorParameters<typeof Kernel>[0] = {}): { k: Kernel; p: Process } {
  const k = new Kernel({ memory: '256MiB', ...opts });
  kernels.push(k);
  return { k, p: k.spawn() };
}


describe('mounts', () => {
  it('the default table: ext4 on /, tmpfs on /tmp and /dev/shm, fs-dax ext4 on /mnt/pmem', () => {
    const { p } = boot();
    const type = (path: string) => p.fstatfs(p.open(path, CREATE)).f_type;
    expect(type('/etc-file')).toBe(U.EXT4_SUPER_MAGIC);
    expect(type('/tmp/a')).toBe(U.TMPFS_MAGIC);
    expect(type('/dev/shm/b')).toBe(U.TMPFS_MAGIC);
    expect(type('/mnt/pmem/c')).toBe(U.EXT4_SUPER_MAGIC);
    // The longest prefix wins, and only at a component boundary.
    expect(type('/tmpx')).toBe(U.EXT4_SUPER_MAGIC);
    expect(type('/mnt/other')).toBe(U.EXT4_SUPER_MAGIC);
  });

  it('each mount is its own device; statfs reports the device, its size and ST_VALID', () => {
    const { k, p } = boot({ mounts: { '/': 'ext4', '/tmp': { type: 'tmpfs', size: '1MiB' } } });
    const a = p.open('/a', CREATE);
    const b = p.open('/tmp/b', CREATE);
    expect(p.fstat(a).st_dev).not.toBe(p.fstat(b).st_dev);
    const sb = p.fstatfs(b);
    expect(sb).toMatchObject({ f_type: U.TMPFS_MAGIC, f_bsize: PAGE, f_frsize: PAGE, f_blocks: 256, f_bfree: 256, f_namelen: 255 });
    expect(sb.f_flags & U.ST_VALID).toBe(U.ST_VALID);
    p.pwrite(b, new Uint8Array(PAGE), PAGE, 0);
    expect(p.fstatfs(b).f_bfree).toBe(255);
    expect(k.meminfo().Shmem).toBe(4);
  });

  it('a tmpfs mount has a size limit: ENOSPC from write, SIGBUS from a fault', () => {
    const { p } = boot({ mounts: { '/': 'ext4', '/tmp': { type: 'tmpfs', size: '8KiB' } } });
    const fd = p.open('/tmp/f', CREATE);
    expect(p.pwrite(fd, new Uint8Array(3 * PAGE), 3 * PAGE, 0)).toBe(2 * PAGE);
    expect(errnoOf(() => p.pwrite(fd, new Uint8Array(1), 1, 2 * PAGE))).toBe('ENOSPC');
    p.ftruncate(fd, 4 * PAGE);
    const a = p.mmap(0, 4 * PAGE, U.PROT_READ | U.PROT_WRITE, U.MAP_SHARED, fd, 0);
    expect(() => p.write(a + 3 * PAGE, new Uint8Array([1]))).toThrow(/SIGBUS/);
  });

  it('internal mounts: memfd is tmpfs with no limits, hugetlbfs reports its page size, pipes pipefs', () => {
    const { p } = boot();
    expect(p.fstatfs(p.memfd_create('m', 0))).toMatchObject({ f_type: U.TMPFS_MAGIC, f_blocks: 0, f_files: 0, f_flags: U.ST_VALID });
    expect(p.fstatfs(p.memfd_create('h', U.MFD_HUGETLB))).toMatchObject({ f_type: U.HUGETLBFS_MAGIC, f_bsize: 2 << 20 });
    const [r] = p.pipe();
    expect(p.fstatfs(r).f_type).toBe(U.PIPEFS_MAGIC);
  });

  it('a bad mount table is a KernelConfigError naming the problem (unknown types list the valid ones)', () => {
    expect(() => new Kernel({ memory: '256MiB', mounts: { '/': 'ext3' } })).toThrow(KernelConfigError);
    expect(() => new Kernel({ memory: '256MiB', mounts: { '/': 'ext3' } })).toThrow(/ext4, xfs, btrfs, tmpfs, ext4-dax, xfs-dax/);
    expect(() => new Kernel({ memory: '256MiB', mounts: { '/tmp': 'tmpfs' } })).toThrow(/'\/'/);
    for (const bad of ['tmp', '/tmp/', '/a//b', '/a/./b', '/a/../b']) {
      expect(() => new Kernel({ memory: '256MiB', mounts: { '/': 'ext4', [bad]: 'tmpfs' } })).toThrow(/normalized absolute path/);
    }
    expect(() => new Kernel({ memory: '256MiB', mounts: { '/': { type: 'ext4', size: '1000B' } } })).toThrow(/multiple of 4KiB/);
    expect(() => new Kernel({ memory: '256MiB', mounts: { '/': { type: 'ext4', dax: true } } as never })).toThrow(KernelConfigError);
  });
});

describe('path resolution', () => {
  it('relative paths resolve against the working directory; fork inherits it; chdir/getcwd', () => {
    const { p } = boot();
    expect(p.getcwd()).toBe('/root');
    const fd = p.open('rel', CREATE);
    p.pwrite(fd, new Uint8Array([7]), 1, 0);
    const buf = new Uint8Array(1);
    p.pread(p.open('/root/rel', U.O_RDONLY), buf, 1, 0);
    expect(buf[0]).toBe(7);
    expect(p.chdir('/tmp/')).toBe(0);
    expect(p.getcwd()).toBe('/tmp');
    const child = p.fork();
    expect(child.getcwd()).toBe('/tmp');
    child.chdir('..');
    expect(child.getcwd()).toBe('/');
    expect(p.getcwd()).toBe('/tmp');
    expect(p.fstatfs(p.open('x', CREATE)).f_type).toBe(U.TMPFS_MAGIC);
    // '.', '..' and repeated slashes; '..' stops at the root.
    expect(p.fstat(p.open('../../..//root/./rel', U.O_RDONLY)).st_size).toBe(1);
  });

  it('directories are implicit: creating a file creates its parents; a directory exists while something is below it', () => {
    const { p } = boot();
    expect(errnoOf(() => p.chdir('/a/b'))).toBe('ENOENT');
    p.open('/a/b/c', CREATE);
    expect(p.chdir('/a/b')).toBe(0);
    expect(errnoOf(() => p.open('/a', U.O_RDWR))).toBe('EISDIR');
    const dir = p.open('/a', U.O_RDONLY | U.O_DIRECTORY);
    expect(p.fstat(dir).st_mode & U.S_IFMT).toBe(U.S_IFDIR);
    expect(errnoOf(() => p.sysread(dir, new Uint8Array(1), 1))).toBe('EISDIR');
    expect(errnoOf(() => p.mmap(0, PAGE, U.PROT_READ, U.MAP_SHARED, dir, 0))).toBe('ENODEV');
    expect(p.fsync(dir)).toBe(0);
    p.unlink('/a/b/c');
    // The working directory keeps /a/b; /a/x has no reason to exist.
    expect(p.getcwd()).toBe('/a/b');
    expect(p.open('.', U.O_RDONLY)).toBeGreaterThan(0);
    expect(errnoOf(() => p.chdir('/a/x'))).toBe('ENOENT');
  });

  it('ENOENT, EEXIST, EISDIR and ENOTDIR where a C program sees them', () => {
    const { p } = boot();
    p.open('/f', CREATE);
    const cases: [string, number, string][] = [
      ['/missing', U.O_RDONLY, 'ENOENT'],
      ['/missing/', U.O_RDONLY, 'ENOENT'],
      ['/f', U.O_CREAT | U.O_EXCL | U.O_RDWR, 'EEXIST'],
      ['/f', U.O_CREAT | U.O_RDWR, 'ok'],
      ['/tmp', U.O_CREAT | U.O_RDWR, 'EISDIR'],
      ['/tmp', U.O_CREAT | U.O_EXCL | U.O_RDWR, 'EEXIST'],
      ['/tmp/.', U.O_CREAT | U.O_RDONLY, 'EISDIR'],
      ['/new/', U.O_CREAT | U.O_RDWR, 'EISDIR'],
      ['/tmp', U.O_WRONLY, 'EISDIR'],
      ['/tmp', U.O_RDONLY | U.O_TRUNC, 'EISDIR'],
      ['/tmp', U.O_RDONLY, 'ok'],
      ['/', U.O_RDONLY | U.O_DIRECTORY, 'ok'],
      ['/f', U.O_RDONLY | U.O_DIRECTORY, 'ENOTDIR'],
      ['/f/', U.O_RDONLY, 'ENOTDIR'],
      ['/f/x', U.O_RDONLY, 'ENOTDIR'],
      ['/f/x', U.O_CREAT | U.O_RDWR, 'ENOTDIR'],
      ['/f/..', U.O_RDONLY, 'ENOTDIR'],
      ['/' + 'n'.repeat(256), U.O_CREAT | U.O_RDWR, 'ENAMETOOLONG'],
      ['/' + 'n'.repeat(256) + '/x', U.O_RDONLY, 'ENAMETOOLONG'],
      ['/' + 'n'.repeat(255), U.O_CREAT | U.O_RDWR, 'ok'],
      ['/x'.repeat(2048), U.O_RDONLY, 'ENAMETOOLONG'],
    ];
    for (const [path, flags, want] of cases) expect(`${path.slice(0, 20)} ${flags.toString(8)}: ${errnoOf(() => p.open(path, flags))}`).toBe(`${path.slice(0, 20)} ${flags.toString(8)}: ${want}`);
  });

  it('O_TRUNC empties an existing file (even opened read-only), O_APPEND writes at the end (pwrite too)', () => {
    const { p } = boot();
    const fd = p.open('/t', CREATE);
    p.pwrite(fd, new Uint8Array(3 * PAGE).fill(1), 3 * PAGE, 0);
    p.open('/t', U.O_RDONLY | U.O_TRUNC);
    expect(p.fstat(fd)).toMatchObject({ st_size: 0, st_blocks: 0 });
    const ap = p.open('/t', U.O_WRONLY | U.O_APPEND);
    p.syswrite(ap, new Uint8Array([1, 2]), 2);
    p.pwrite(ap, new Uint8Array([3]), 1, 0);
    p.syswrite(ap, new Uint8Array([4]), 1);
    const buf = new Uint8Array(8);
    expect(p.pread(fd, buf, 8, 0)).toBe(4);
    expect([...buf.subarray(0, 4)]).toEqual([1, 2, 3, 4]);
  });

  it('O_TMPFILE makes a file without a name; it is gone when closed', () => {
    const { k, p } = boot();
    const free0 = k.meminfo().MemFree;
    const fd = p.open('/tmp', U.O_TMPFILE | U.O_RDWR, 0o600);
    expect(p.fstat(fd)).toMatchObject({ st_nlink: 0, st_mode: U.S_IFREG | 0o600 });
    p.pwrite(fd, new Uint8Array(4 * PAGE), 4 * PAGE, 0);
    const a = p.mmap(0, PAGE, U.PROT_READ, U.MAP_SHARED, fd, 0);
    expect(p.smaps()[0]!.pathname).toMatch(/^\/tmp\/#\d+ \(deleted\)$/);
    p.munmap(a, PAGE);
    p.close(fd);
    expect(k.meminfo().MemFree).toBe(free0);
    expect(errnoOf(() => p.open('/tmp/f', U.O_TMPFILE | U.O_RDWR))).toBe('ENOENT');
    p.open('/tmp/f', CREATE);
    expect(errnoOf(() => p.open('/tmp/f', U.O_TMPFILE | U.O_RDWR))).toBe('ENOTDIR');
    // Not without write access; not without O_DIRECTORY (the bare __O_TMPFILE bit).
    expect(errnoOf(() => p.open('/tmp', U.O_TMPFILE | U.O_RDONLY))).toBe('EINVAL');
    expect(errnoOf(() => p.open('/tmp', U.__O_TMPFILE | U.O_RDWR))).toBe('EINVAL');
    expect(errnoOf(() => p.open('/tmp', U.O_DIRECTORY | U.O_CREAT))).toBe('EINVAL');
  });

  it('unlink: the name goes, open descriptors and mappings keep the file, /proc shows (deleted)', () => {
    const { p } = boot();
    const fd = p.open('/u', CREATE);
    p.ftruncate(fd, PAGE);
    p.mmap(0, PAGE, U.PROT_READ, U.MAP_SHARED, fd, 0);
    expect(p.smaps()[0]!.pathname).toBe('/u');
    p.unlink('/u');
    expect(p.smaps()[0]!.pathname).toBe('/u (deleted)');
    expect(errnoOf(() => p.unlink('/u'))).toBe('ENOENT');
    // A new file may take the name; the old one keeps its "(deleted)".
    p.open('/u', CREATE | U.O_EXCL);
    expect(p.smaps()[0]!.pathname).toBe('/u (deleted)');
    expect(errnoOf(() => p.unlink('/tmp'))).toBe('EISDIR');
    expect(errnoOf(() => p.unlink('/u/'))).toBe('ENOTDIR');
    expect(errnoOf(() => p.unlink('/tmp/.'))).toBe('EISDIR');
    expect(errnoOf(() => p.unlink('/'))).toBe('EISDIR');
  });

  it('O_PATH descriptors: fstat, fstatfs and close work; other syscalls see EBADF', () => {
    const { p } = boot();
    const fd = p.open('/op', CREATE);
    p.ftruncate(fd, PAGE);
    const o = p.open('/op', U.O_PATH | U.O_RDWR | U.O_CREAT);
    expect(p.fstat(o).st_size).toBe(4096);
    expect(p.fstatfs(o).f_type).toBe(U.EXT4_SUPER_MAGIC);
    expect(errnoOf(() => p.pread(o, new Uint8Array(1), 1, 0))).toBe('EBADF');
    expect(errnoOf(() => p.mmap(0, PAGE, U.PROT_READ, U.MAP_SHARED, o, 0))).toBe('EBADF');
    expect(errnoOf(() => p.ftruncate(o, 0))).toBe('EBADF');
    expect(errnoOf(() => p.fsync(o))).toBe('EBADF');
    expect(errnoOf(() => p.open('/nope', U.O_PATH | U.O_CREAT))).toBe('ENOENT');
    expect(p.close(o)).toBe(0);
  });
});
