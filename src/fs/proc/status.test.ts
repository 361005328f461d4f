/**
 * /proc/pid/status's VmData, VmStk, VmExe and VmLib (fs/proc/task_mmu.c:task_mem)
 * follow vm_stat_account's classes: a mapping is exec if it is executable and
 * neither writable nor a stack, else stack if VM_STACK (VM_GROWSDOWN on x86),
 * else data if private and writable. mprotect and munmap move pages between
 * the classes. Real Linux gave these figures: a static probe of this exact
 * sequence under Debian's 6.12.118 (../shared/realkernel, boot.sh,
 * 2026-12-08) printed the same kB changes, 64/8/0/16, then 48/8/0/32, then
 * 0/8/0/16 with VmSize +124 and then +60.
 */
import { describe, expect, it } from 'vitest';
import { Kernel } from '../../index.js';
import * as U from '../../uapi/index.js';

const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;

describe('/proc/pid/status', () => {
  it('counts data, stack and executable mappings as vm_stat_account does, through mprotect and munmap', () => {
    const k = new Kernel({ memory: '64MiB' });
    const p = k.spawn();
    const data = p.mmap(0, 64 * 1024, U.PROT_READ | U.PROT_WRITE, ANON, -1, 0);
    p.mmap(0, 32 * 1024, U.PROT_READ | U.PROT_WRITE, U.MAP_SHARED | U.MAP_ANONYMOUS, -1, 0);
    p.mmap(0, 16 * 1024, U.PROT_READ | U.PROT_EXEC, ANON, -1, 0);
    p.mmap(0, 8 * 1024, U.PROT_READ | U.PROT_WRITE, ANON | U.MAP_GROWSDOWN, -1, 0);
    // Read-only private memory is in no class.
    p.mmap(0, 4 * 1024, U.PROT_READ, ANON, -1, 0);
    let s = p.status();
    expect([s.VmData, s.VmStk, s.VmExe, s.VmLib]).toEqual([64, 8, 0, 16]);
    expect(s.VmSize).toBe(64 + 32 + 16 + 8 + 4);
    // Writable and executable is data, not exec.
    p.mprotect(data, 16 * 1024, U.PROT_READ | U.PROT_WRITE | U.PROT_EXEC);
    p.mprotect(data + 16 * 1024, 16 * 1024, U.PROT_READ | U.PROT_EXEC);
    s = p.status();
    expect([s.VmData, s.VmLib]).toEqual([48, 32]);
    p.munmap(data, 64 * 1024);
    s = p.status();
    expect([s.VmData, s.VmStk, s.VmExe, s.VmLib]).toEqual([0, 8, 0, 16]);
    expect(s.VmSize).toBe(60);
  });

  it('VmPeak keeps the peak of VmSize, without the moment mremap counts a moved mapping twice', () => {
    // Real 6.12.118 (a static probe of this sequence, boot.sh, 2026-12-08), in kB above the start:
    // mmap 64 -> peak 64 size 64; munmap -> 64 / 0; 64 + a guard page -> 68 / 68; grow to 128 by moving -> 132 / 132.
    const k = new Kernel({ memory: '64MiB' });
    const p = k.spawn();
    const peak = () => [p.status().VmPeak, p.status().VmSize];
    const a = p.mmap(0, 64 * 1024, U.PROT_READ | U.PROT_WRITE, ANON, -1, 0);
    expect(peak()).toEqual([64, 64]);
    p.munmap(a, 64 * 1024);
    expect(peak()).toEqual([64, 0]);
    const r = p.mmap(0, 68 * 1024, U.PROT_READ | U.PROT_WRITE, ANON, -1, 0);
    p.mprotect(r + 64 * 1024, 4096, U.PROT_NONE);
    expect(peak()).toEqual([68, 68]);
    const b = p.mremap(r, 64 * 1024, 128 * 1024, U.MREMAP_MAYMOVE);
    expect(b).not.toBe(r);
    expect(peak()).toEqual([132, 132]);
  });
});
