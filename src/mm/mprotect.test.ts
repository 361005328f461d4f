/** mprotect (mm/mprotect.c), including the write upgrade cow.c calls the "mprotect optimization". */
import { describe, expect, it } from 'vitest';
import { Kernel } from '../index.js';
import * as U from '../uapi/index.js';

const RW = U.PROT_READ | U.PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;

describe('mprotect', () => {
  it('maps exclusive anon pages writable again without a fault', () => {
    const k = new Kernel({ memory: '256MiB', thp: 'never' });
    const p = k.spawn();
    const a = p.mmap(0, 4096, RW, ANON, -1, 0);
    p.fill(a, 4096, 1);
    p.mprotect(a, 4096, U.PROT_READ);
    p.mprotect(a, 4096, RW);
    const faults = k.events().fault;
    p.write(a, new Uint8Array([2]));
    expect(k.events().fault).toBe(faults);
  });

  it('keeps shared (after fork) anon pages read-only: the write faults and copies', () => {
    const k = new Kernel({ memory: '256MiB', thp: 'never' });
    const p = k.spawn();
    const a = p.mmap(0, 4096, RW, ANON, -1, 0);
    p.fill(a, 4096, 1);
    const c = p.fork();
    p.mprotect(a, 4096, U.PROT_READ);
    p.mprotect(a, 4096, RW);
    const copies = k.events().cow_copy;
    p.write(a, new Uint8Array([2]));
    expect(k.events().cow_copy).toBe(copies + 1);
    expect(c.read(a, 1)[0]).toBe(1);
    expect(k.check()).toEqual([]);
  });

  it('applies up to a hole, then fails with ENOMEM', () => {
    const k = new Kernel({ memory: '256MiB' });
    const p = k.spawn();
    const a = p.mmap(0, 3 * 4096, RW, ANON, -1, 0);
    p.munmap(a + 4096, 4096);
    expect(() => p.mprotect(a, 3 * 4096, U.PROT_READ)).toThrow(/ENOMEM/);
    expect(p.smaps()[0]!.perms).toBe('r--p');
    expect(p.smaps()[1]!.perms).toBe('rw-p');
    expect(k.check()).toEqual([]);
  });

  it('refuses PROT_WRITE where the VMA may not write (EACCES)', () => {
    const k = new Kernel({ memory: '256MiB' });
    const p = k.spawn();
    const fd = p.memfd_create('f', U.MFD_ALLOW_SEALING);
    p.ftruncate(fd, 4096);
    // A shared read-only mapping of a read-write file may become writable...
    const s = p.mmap(0, 4096, U.PROT_READ, U.MAP_SHARED, fd, 0);
    expect(p.mprotect(s, 4096, RW)).toBe(0);
    expect(k.check()).toEqual([]);
  });
});
