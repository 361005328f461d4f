/** tmpfs/memfd page cache semantics (mm/shmem.c). */
import { describe, expect, it } from 'vitest';
import { Kernel } from '../index.js';
import * as U from '../uapi/index.js';

const RW = U.PROT_READ | U.PROT_WRITE;

describe('shmem', () => {
  it('fallocate allocates !uptodate pages: counted in Shmem and st_blocks, read as zero, not mapped by fault-around', () => {
    const k = new Kernel({ memory: '256MiB' });
    const p = k.spawn();
    const fd = p.memfd_create('f', 0);
    p.fallocate(fd, 0, 0, 3 * 4096 + 1);
    expect(p.fstat(fd)).toMatchObject({ st_size: 3 * 4096 + 1, st_blocks: 32, st_blksize: 4096, st_nlink: 0 });
    expect(k.meminfo().Shmem).toBe(16);
    const buf = new Uint8Array(4).fill(9);
    expect(p.pread(fd, buf, 4, 0)).toBe(4);
    expect(buf).toEqual(new Uint8Array(4));
    const a = p.mmap(0, 4 * 4096, U.PROT_READ, U.MAP_SHARED, fd, 0);
    p.read(a, 1);
    // Fault-around skipped the other !uptodate pages.
    expect(p.pagemap(a + 4096).present).toBe(false);
    expect(k.check()).toEqual([]);
  });

  it('punching a hole zeroes partial pages in place and drops whole ones, keeping private COW copies', () => {
    const k = new Kernel({ memory: '256MiB' });
    const p = k.spawn();
    const fd = p.memfd_create('f', 0);
    p.pwrite(fd, new Uint8Array(3 * 4096).fill(7), 3 * 4096, 0);
    const priv = p.mmap(0, 3 * 4096, RW, U.MAP_PRIVATE, fd, 0);
    p.write(priv + 4096, new Uint8Array([1]));
    p.fallocate(fd, U.FALLOC_FL_PUNCH_HOLE | U.FALLOC_FL_KEEP_SIZE, 100, 2 * 4096);
    const buf = new Uint8Array(3 * 4096);
    p.pread(fd, buf, buf.length, 0);
    expect(buf[99]).toBe(7);
    expect(buf[100]).toBe(0);
    expect(buf[4096 + 50]).toBe(0);
    expect(buf[2 * 4096 + 99]).toBe(0);
    expect(buf[2 * 4096 + 100]).toBe(7);
    expect(p.fstat(fd).st_blocks).toBe(16);
    // The private copy of page 1 survives the punch.
    expect(p.read(priv + 4096, 2)).toEqual(new Uint8Array([1, 7]));
    expect(k.check()).toEqual([]);
  });

  it('truncation removes private COW copies beyond EOF too (even_cows)', () => {
    const k = new Kernel({ memory: '256MiB' });
    const p = k.spawn();
    const fd = p.memfd_create('f', 0);
    p.ftruncate(fd, 2 * 4096);
    const priv = p.mmap(0, 2 * 4096, RW, U.MAP_PRIVATE, fd, 0);
    p.fill(priv, 2 * 4096, 3);
    expect(p.status().RssAnon).toBe(8);
    p.ftruncate(fd, 4096);
    expect(p.status().RssAnon).toBe(4);
    expect(() => p.read(priv + 4096, 1)).toThrow(/SIGBUS/);
    expect(p.read(priv, 1)[0]).toBe(3);
    expect(k.check()).toEqual([]);
  });

  it('the last close of an unmapped memfd frees its pages; a mapping keeps them alive', () => {
    const k = new Kernel({ memory: '256MiB' });
    const p = k.spawn();
    const fd = p.memfd_create('f', 0);
    p.pwrite(fd, new Uint8Array(8192).fill(1), 8192, 0);
    const s = p.mmap(0, 8192, U.PROT_READ, U.MAP_SHARED, fd, 0);
    p.close(fd);
    expect(k.meminfo().Shmem).toBe(8);
    expect(p.read(s, 1)[0]).toBe(1);
    p.munmap(s, 8192);
    expect(k.meminfo().Shmem).toBe(0);
    expect(k.check()).toEqual([]);
  });

  it('shared anonymous memory is shmem, shared across fork', () => {
    const k = new Kernel({ memory: '256MiB' });
    const p = k.spawn();
    const a = p.mmap(0, 4096, RW, U.MAP_SHARED | U.MAP_ANONYMOUS, -1, 0);
    const c = p.fork();
    c.write(a, new Uint8Array([5]));
    expect(p.read(a, 1)[0]).toBe(5);
    expect(k.meminfo().Shmem).toBe(4);
    expect(p.smaps()[0]!.pathname).toBe('/dev/zero (deleted)');
    c.exit();
    p.exit();
    expect(k.meminfo().Shmem).toBe(0);
    expect(k.check()).toEqual([]);
  });
});
