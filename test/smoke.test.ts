import { describe, expect, it } from 'vitest';
import { Kernel } from '../src/index.js';
import * as U from '../src/uapi/index.js';

describe('smoke', () => {
  it('anon fault, fork, COW', () => {
    const k = new Kernel({ memory: '1GiB' });
    const p = k.spawn();
    const a = p.mmap(0, 8192, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
    p.fill(a, 8192, 0xaa);
    expect(k.check()).toEqual([]);
    const c = p.fork();
    expect(k.check()).toEqual([]);
    p.fill(a, 8192, 0xbb);
    expect(c.read(a, 4)).toEqual(new Uint8Array([0xaa, 0xaa, 0xaa, 0xaa]));
    expect(p.read(a, 4)).toEqual(new Uint8Array([0xbb, 0xbb, 0xbb, 0xbb]));
    expect(k.check()).toEqual([]);
    c.exit();
    p.exit();
    expect(k.check()).toEqual([]);
  });

  it('THP fault and fork', () => {
    const k = new Kernel({ memory: '1GiB' });
    const p = k.spawn();
    const len = 4 << 20;
    const a = p.mmap(0, len, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
    expect(a % (2 << 20)).toBe(0);
    p.fill(a, len, 1);
    expect(p.pagemap(a).mappedBy).toBe(2 << 20);
    expect(k.meminfo().AnonHugePages).toBe(4096);
    expect(k.check()).toEqual([]);
    const c = p.fork();
    p.write(a + 100, new Uint8Array([9]));
    expect(c.read(a + 100, 1)[0]).toBe(1);
    expect(p.read(a + 100, 1)[0]).toBe(9);
    expect(k.check()).toEqual([]);
    p.mprotect(a + 4096, 4096, U.PROT_READ);
    expect(k.check()).toEqual([]);
    p.munmap(a, len);
    c.exit();
    expect(k.check()).toEqual([]);
  });

  it('memfd shared and private', () => {
    const k = new Kernel({ memory: '1GiB' });
    const p = k.spawn();
    const fd = p.memfd_create('x', 0);
    p.ftruncate(fd, 16384);
    const s = p.mmap(0, 16384, U.PROT_READ | U.PROT_WRITE, U.MAP_SHARED, fd, 0);
    const q = p.mmap(0, 16384, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE, fd, 0);
    p.fill(s, 16384, 7);
    expect(p.read(q, 2)).toEqual(new Uint8Array([7, 7]));
    p.fill(q, 4096, 8);
    expect(p.read(s, 1)[0]).toBe(7);
    expect(k.check()).toEqual([]);
    p.fallocate(fd, U.FALLOC_FL_PUNCH_HOLE | U.FALLOC_FL_KEEP_SIZE, 0, 8192);
    expect(p.read(s, 1)[0]).toBe(0);
    expect(p.read(q, 1)[0]).toBe(8);
    expect(k.check()).toEqual([]);
    p.ftruncate(fd, 0);
    expect(() => p.read(q, 1)).toThrow(/SIGBUS/);
    expect(k.check()).toEqual([]);
    p.close(fd);
    p.exit();
    expect(k.check()).toEqual([]);
    expect(k.meminfo().Shmem).toBe(0);
  });
});
