/**
 * A standard environment for the syscall tests: one process with
 *   fd 0: a tmpfs memfd of 16 pages,
 *   fd 1: a hugetlbfs memfd (MFD_HUGETLB, 2 MiB pages, size 0),
 *   A:    an anonymous private read-write mapping of 8 pages at 0x10000000.
 */
import type { KernelOptions } from '../../src/index.js';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MFD_HUGETLB, PROT_READ, PROT_WRITE } from '../../src/uapi/index.js';
import { PAGE, boot } from './helpers.js';

export const RW = PROT_READ | PROT_WRITE;
export const PA = MAP_PRIVATE | MAP_ANONYMOUS;
export const A_ADDR = 0x10000000;
export const A_LEN = 8 * PAGE;
export const MEMFD_SIZE = 16 * PAGE;
/** A descriptor number that is never open in env(). */
export const BAD_FD = 7;

export function env(opts: KernelOptions = {}) {
  const { k, p } = boot(opts);
  const fd = p.memfd_create('m', 0);
  p.ftruncate(fd, MEMFD_SIZE);
  const hfd = p.memfd_create('h', MFD_HUGETLB);
  const A = p.mmap(A_ADDR, A_LEN, RW, PA | MAP_FIXED, -1, 0);
  if (fd !== 0 || hfd !== 1 || A !== A_ADDR) throw new Error('env: unexpected layout');
  return { k, p, fd, hfd, A };
}

export type Env = ReturnType<typeof env>;

/** The VMAs of the process as [start, end, perms, VmFlags] (from /proc/pid/smaps). */
export function vmas(e: Env): { start: number; end: number; perms: string; flags: string[] }[] {
  return e.p.smaps().map((s) => ({ start: s.start, end: s.end, perms: s.perms, flags: s.VmFlags.split(' ') }));
}

/** The single VMA containing addr. */
export function vmaAt(e: Env, addr: number): { start: number; end: number; perms: string; flags: string[] } | undefined {
  return vmas(e).find((v) => v.start <= addr && addr < v.end);
}
