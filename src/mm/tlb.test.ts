/** CPUs, mm_cpumask and TLB shootdowns (arch/x86/mm/tlb.c). */
import { describe, expect, it } from 'vitest';
import { Kernel, KernelConfigError, SyscallError } from '../index.js';
import * as U from '../uapi/index.js';

const RW = U.PROT_READ | U.PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;

/** The shootdown counters moved by fn. */
function shootdowns(k: Kernel, fn: () => void): { flushes: number; shootdowns: number; remote: number; ipis: number } {
  const before = k.events();
  fn();
  const after = k.events();
  const d = (n: string) => after[n]! - before[n]!;
  return { flushes: d('tlb_flush_range') + d('tlb_flush_mm'), shootdowns: d('tlb_shootdown'), remote: d('tlb_remote_cpu'), ipis: d('ipi') };
}

describe('the cpus option', () => {
  it('defaults to 8 and accepts 1..4096', () => {
    expect(new Kernel({ memory: '64MiB' }).host.cfg.cpus).toBe(8);
    expect(new Kernel({ memory: '64MiB', cpus: 1 }).host.cfg.cpus).toBe(1);
    expect(new Kernel({ memory: '64MiB', cpus: 4096 }).host.cfg.cpus).toBe(4096);
  });

  it('anything else is a KernelConfigError naming the option', () => {
    for (const cpus of [0, -1, 4097, 1.5, Number.NaN]) {
      expect(() => new Kernel({ memory: '64MiB', cpus })).toThrow(KernelConfigError);
      expect(() => new Kernel({ memory: '64MiB', cpus })).toThrow(/Kernel option cpus/);
    }
    expect(() => new Kernel({ memory: '64MiB', cpus: '8' as unknown as number })).toThrow(/Kernel option cpus/);
  });
});

describe('Process.runOn and mm_cpumask', () => {
  it('a new process runs on CPU 0; runOn moves it and sets the bit for good', () => {
    const k = new Kernel({ memory: '64MiB', cpus: 4 });
    const p = k.spawn();
    expect(p.mm!.cpu).toBe(0);
    expect(p.mm!.cpumaskWeight).toBe(1);
    p.runOn(3);
    expect(p.mm!.cpu).toBe(3);
    p.runOn(0);
    p.runOn(3);
    // Bits stay set until the mm dies: {0, 3}.
    expect(p.mm!.cpumaskWeight).toBe(2);
  });

  it('a CPU outside 0..cpus-1 is EINVAL from sched_setaffinity; an exited process is ESRCH', () => {
    const k = new Kernel({ memory: '64MiB', cpus: 2 });
    const p = k.spawn();
    for (const cpu of [2, -1, 0.5, Number.NaN]) {
      let err: unknown;
      try {
        p.runOn(cpu);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SyscallError);
      expect(err).toMatchObject({ code: 'EINVAL', syscall: 'sched_setaffinity' });
    }
    p.exit();
    expect(() => p.runOn(0)).toThrow(/ESRCH/);
  });

  it('masks grow past 32 CPUs', () => {
    const k = new Kernel({ memory: '64MiB', cpus: 4096 });
    const p = k.spawn();
    p.runOn(4095);
    p.runOn(33);
    expect(p.mm!.cpumaskWeight).toBe(3);
    const a = p.mmap(0, 4096, RW, ANON, -1, 0);
    p.fill(a, 4096, 1);
    expect(shootdowns(k, () => p.munmap(a, 4096))).toEqual({ flushes: 1, shootdowns: 1, remote: 2, ipis: 2 });
  });

  it("a fork child starts on its parent's current CPU, with that CPU alone in its mask", () => {
    const k = new Kernel({ memory: '64MiB', cpus: 8 });
    const p = k.spawn();
    p.runOn(2);
    p.runOn(5);
    const c = p.fork();
    expect(c.mm!.cpu).toBe(5);
    expect(c.mm!.cpumaskWeight).toBe(1);
  });
});

describe('TLB shootdowns', () => {
  it('a process that only ran on one CPU flushes locally: no shootdown, no IPI', () => {
    const k = new Kernel({ memory: '64MiB', thp: 'never' });
    const p = k.spawn();
    const a = p.mmap(0, 16 * 4096, RW, ANON, -1, 0);
    const r = shootdowns(k, () => {
      p.fill(a, 16 * 4096, 1);
      p.mprotect(a, 16 * 4096, U.PROT_READ);
      const c = p.fork();
      c.exit();
      p.munmap(a, 16 * 4096);
    });
    expect(r.flushes).toBeGreaterThan(0);
    expect(r).toMatchObject({ shootdowns: 0, remote: 0, ipis: 0 });
  });

  it('every flush of an mm reaches the other CPUs it ran on, one IPI each', () => {
    const k = new Kernel({ memory: '64MiB', thp: 'never' });
    const p = k.spawn();
    p.runOn(1);
    p.runOn(2);
    const a = p.mmap(0, 4 * 4096, RW, ANON, -1, 0);
    p.fill(a, 4 * 4096, 1);
    // mprotect (flush_tlb_range), fork (flush_tlb_mm of the parent), a COW break (ptep_clear_flush), munmap.
    expect(shootdowns(k, () => p.mprotect(a, 4 * 4096, U.PROT_READ))).toEqual({ flushes: 1, shootdowns: 1, remote: 2, ipis: 2 });
    p.mprotect(a, 4 * 4096, RW);
    const c = shootdowns(k, () => p.fork());
    expect(c).toEqual({ flushes: 1, shootdowns: 1, remote: 2, ipis: 2 });
    expect(shootdowns(k, () => p.fill(a, 4096, 3))).toEqual({ flushes: 1, shootdowns: 1, remote: 2, ipis: 2 });
    expect(shootdowns(k, () => p.munmap(a, 4 * 4096))).toEqual({ flushes: 1, shootdowns: 1, remote: 2, ipis: 2 });
  });

  it("the child's flushes reach only the CPUs the child ran on", () => {
    const k = new Kernel({ memory: '64MiB', thp: 'never' });
    const p = k.spawn();
    p.runOn(4);
    p.runOn(6);
    const a = p.mmap(0, 4096, RW, ANON, -1, 0);
    p.fill(a, 4096, 1);
    const c = p.fork();
    expect(shootdowns(k, () => c.fill(a, 4096, 2))).toEqual({ flushes: 1, shootdowns: 0, remote: 0, ipis: 0 });
    c.runOn(7);
    expect(shootdowns(k, () => c.munmap(a, 4096))).toEqual({ flushes: 1, shootdowns: 1, remote: 1, ipis: 1 });
  });

  it('clear_refs flushes the whole mm (flush_tlb_mm) on every CPU it ran on', () => {
    const k = new Kernel({ memory: '64MiB', thp: 'never' });
    const p = k.spawn();
    p.runOn(1);
    const a = p.mmap(0, 4096, RW, ANON, -1, 0);
    p.fill(a, 4096, 1);
    const before = k.events().tlb_flush_mm!;
    expect(shootdowns(k, () => p.clear_refs('4'))).toMatchObject({ shootdowns: 1, ipis: 1 });
    expect(k.events().tlb_flush_mm).toBe(before + 1);
  });
});
