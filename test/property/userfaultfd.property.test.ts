/**
 * Random sequences mixing userfaultfd with the memory syscalls around it:
 * registering (every mode, on anonymous, shmem and HugeTLB memory),
 * unregistering, every fill ioctl, write protection, MOVE, reading messages,
 * with and without a monitor, together with CPU accesses, MADV_DONTNEED,
 * MADV_REMOVE, mprotect, mremap, munmap, fork (the child runs too) and
 * closing and reopening the userfaultfd, with the non-cooperative events on.
 *
 * After every step: anything thrown is a SyscallError, a SignalError or a
 * UffdFault (a CPU access waiting for the monitor), and kernel.check() has
 * no violation (src/check/oracle.ts, docs/INVARIANTS.md: mapcounts,
 * refcounts, RSS, page tables and the userfaultfd rules).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Kernel, type Process, SignalError, SyscallError, UffdFault } from '../../src/index.js';
import * as U from '../../src/uapi/index.js';

const PAGE = 4096;
const HP = 2 << 20;
const RW = U.PROT_READ | U.PROT_WRITE;

interface World {
  k: Kernel;
  /** Never registered: the monitor's COPY source. */
  src: number;
  procs: Process[];
  /** Per process: its userfaultfd (-1 if closed) and its areas. */
  uffd: number[];
  areas: { start: number; len: number }[];
  monitor: boolean;
}

const FEATURES =
  U.UFFD_FEATURE_PAGEFAULT_FLAG_WP |
  U.UFFD_FEATURE_EVENT_FORK |
  U.UFFD_FEATURE_EVENT_REMAP |
  U.UFFD_FEATURE_EVENT_REMOVE |
  U.UFFD_FEATURE_EVENT_UNMAP |
  U.UFFD_FEATURE_MISSING_SHMEM |
  U.UFFD_FEATURE_MISSING_HUGETLBFS |
  U.UFFD_FEATURE_MINOR_SHMEM |
  U.UFFD_FEATURE_MINOR_HUGETLBFS |
  U.UFFD_FEATURE_WP_HUGETLBFS_SHMEM |
  U.UFFD_FEATURE_WP_UNPOPULATED |
  U.UFFD_FEATURE_POISON |
  U.UFFD_FEATURE_MOVE;

function newUffd(p: Process, features: number): number {
  const fd = p.userfaultfd(U.O_NONBLOCK);
  p.ioctl(fd, U.UFFDIO_API, { api: U.UFFD_API, features, ioctls: 0 });
  return fd;
}

function boot(): World {
  const k = new Kernel({ memory: '512MiB', hugetlb: { '2MiB': 16 } });
  const p = k.spawn();
  const fd = p.memfd_create('shm', 0);
  p.ftruncate(fd, 16 * PAGE);
  const areas = [
    { start: p.mmap(0, 16 * PAGE, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0), len: 16 * PAGE },
    { start: p.mmap(0, 16 * PAGE, RW, U.MAP_SHARED, fd, 0), len: 16 * PAGE },
    { start: p.mmap(0, 16 * PAGE, RW, U.MAP_PRIVATE, fd, 0), len: 16 * PAGE },
    { start: p.mmap(0, 2 * HP, RW, U.MAP_SHARED | U.MAP_ANONYMOUS | U.MAP_HUGETLB, -1, 0), len: 2 * HP },
    { start: p.mmap(0, 4 * HP, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0), len: 4 * HP },
  ];
  p.close(fd);
  const src = p.mmap(0, HP, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
  p.fill(src, HP, 0x77);
  return { k, src, procs: [p], uffd: [newUffd(p, FEATURES)], areas, monitor: false };
}

/** A monitor that answers every message: faults with the fill their kind needs, events by reading them. */
function monitorFor(w: World, i: number): () => void {
  const p = w.procs[i]!;
  const self = (): void => {
    for (;;) {
      const fd = w.uffd[i]!;
      if (fd < 0) return;
      let m: U.UffdMsg;
      try {
        m = p.userfaultfd_read(fd);
      } catch (e) {
        if (e instanceof SyscallError) return;
        throw e;
      }
      if (m.event === U.UFFD_EVENT_FORK) {
        // The child's userfaultfd: keep it, monitored too.
        p.userfaultfd_monitor(m.arg.fork.ufd, self);
        continue;
      }
      if (m.event !== U.UFFD_EVENT_PAGEFAULT) continue;
      const addr = Number(m.arg.pagefault.address);
      const flags = m.arg.pagefault.flags;
      const range = (len: number) => ({ start: addr - (addr % len), len });
      try {
        if (flags & U.UFFD_PAGEFAULT_FLAG_WP) p.ioctl(fd, U.UFFDIO_WRITEPROTECT, { range: range(PAGE), mode: 0 });
        else if (flags & U.UFFD_PAGEFAULT_FLAG_MINOR) p.ioctl(fd, U.UFFDIO_CONTINUE, { range: range(PAGE), mode: 0 });
        else if (flags & U.UFFD_PAGEFAULT_FLAG_WRITE) p.ioctl(fd, U.UFFDIO_ZEROPAGE, { range: range(PAGE), mode: 0 });
        else p.ioctl(fd, U.UFFDIO_COPY, { dst: addr - (addr % PAGE), src: w.src, len: PAGE, mode: 0 });
      } catch (e) {
        if (!(e instanceof SyscallError)) throw e;
        // A range the answer cannot fill (HugeTLB, a gone VMA): wake it.
        attemptIgnore(() => p.ioctl(fd, U.UFFDIO_WAKE, { start: addr - (addr % HP), len: HP }));
      }
    }
  };
  return self;
}

function attemptIgnore(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof SyscallError || e instanceof SignalError || e instanceof UffdFault)) throw e;
  }
}

type Op = { kind: string; proc: number; area: number; page: number; n: number; arg: number };

/** Each kind of step, with how often it comes (registration and accesses most). */
const KINDS: [string, number][] = [
  ['register', 6],
  ['unregister', 1],
  ['copy', 2],
  ['zeropage', 2],
  ['continue', 2],
  ['poison', 1],
  ['wp', 3],
  ['unwp', 2],
  ['move', 2],
  ['read-msg', 3],
  ['wake', 1],
  ['touch-read', 4],
  ['touch-write', 4],
  ['dontneed', 1],
  ['remove', 1],
  ['mprotect', 1],
  ['mremap', 1],
  ['munmap', 1],
  ['fork', 1],
  ['exit-child', 1],
  ['reopen', 1],
  ['monitor', 2],
  ['populate', 1],
];

const opArb: fc.Arbitrary<Op> = fc.record({
  kind: fc.oneof(...KINDS.map(([k, weight]) => ({ arbitrary: fc.constant(k), weight }))),
  proc: fc.nat(3),
  area: fc.nat(30),
  page: fc.nat(3),
  n: fc.integer({ min: 1, max: 4 }),
  arg: fc.nat(7),
});

function step(w: World, op: Op, focus: number): void {
  const pi = op.proc % w.procs.length;
  const p = w.procs[pi]!;
  if (p.mm === null) return;
  const fd = w.uffd[pi]!;
  // Most steps work on the sequence's focus area, so that they meet each other.
  const area = w.areas[(op.area < 22 ? focus : op.area) % w.areas.length]!;
  const huge = area.len === 2 * HP;
  const unit = huge ? HP : PAGE;
  const nUnits = Math.min(op.n, area.len / unit);
  const at = area.start + (op.page % (area.len / unit - nUnits + 1)) * unit;
  const len = nUnits * unit;
  const src = w.areas[0]!.start;
  switch (op.kind) {
    case 'register': {
      // Half the time the whole area (so that fills find one registered VMA), else a piece of it.
      const whole = op.n <= 2;
      // MISSING, WP, MINOR: mostly MISSING and WP.
      const mode = [1, 2, 3, 1, 2, 3, 4, 6][op.arg]!;
      if (fd >= 0) p.ioctl(fd, U.UFFDIO_REGISTER, { range: whole ? { start: area.start, len: area.len } : { start: at, len }, mode });
      break;
    }
    case 'unregister':
      if (fd >= 0) p.ioctl(fd, U.UFFDIO_UNREGISTER, { start: at, len });
      break;
    case 'copy':
      if (fd >= 0) p.ioctl(fd, U.UFFDIO_COPY, { dst: at, src, len, mode: op.arg & 3 });
      break;
    case 'zeropage':
      if (fd >= 0) p.ioctl(fd, U.UFFDIO_ZEROPAGE, { range: { start: at, len }, mode: op.arg & 1 });
      break;
    case 'continue':
      if (fd >= 0) p.ioctl(fd, U.UFFDIO_CONTINUE, { range: { start: at, len }, mode: op.arg & 3 });
      break;
    case 'poison':
      if (fd >= 0) p.ioctl(fd, U.UFFDIO_POISON, { range: { start: at, len }, mode: 0 });
      break;
    case 'wp':
    case 'unwp':
      if (fd >= 0) p.ioctl(fd, U.UFFDIO_WRITEPROTECT, { range: { start: at, len }, mode: op.kind === 'wp' ? U.UFFDIO_WRITEPROTECT_MODE_WP : 0 });
      break;
    case 'move':
      if (fd >= 0) p.ioctl(fd, U.UFFDIO_MOVE, { dst: at, src: w.areas[4]!.start + (op.arg % 512) * PAGE, len, mode: op.arg & 2 });
      break;
    case 'read-msg':
      if (fd >= 0) p.userfaultfd_read(fd);
      break;
    case 'wake':
      if (fd >= 0) p.ioctl(fd, U.UFFDIO_WAKE, { start: at, len });
      break;
    case 'touch-read':
      p.read(at + op.arg, 1);
      break;
    case 'touch-write':
      p.fill(at + op.arg * 8, 8, op.arg + 1);
      break;
    case 'dontneed':
      p.madvise(at, len, U.MADV_DONTNEED);
      break;
    case 'remove':
      p.madvise(at, len, U.MADV_REMOVE);
      break;
    case 'mprotect':
      p.mprotect(at, len, op.arg & 1 ? U.PROT_READ : RW);
      break;
    case 'mremap': {
      const to = p.mremap(at, len, len, U.MREMAP_MAYMOVE);
      w.areas.push({ start: to, len });
      break;
    }
    case 'munmap':
      p.munmap(at, len);
      break;
    case 'fork':
      if (w.procs.length < 4) {
        const c = p.fork();
        w.procs.push(c);
        // The child inherits the descriptor (shared with the parent).
        w.uffd.push(fd);
      }
      break;
    case 'exit-child':
      if (pi > 0) p.exit();
      break;
    case 'reopen':
      if (fd >= 0) {
        p.close(fd);
        for (let j = 0; j < w.procs.length; j++) if (w.procs[j] === p) w.uffd[j] = -1;
      }
      w.uffd[pi] = newUffd(p, op.arg & 1 ? FEATURES : FEATURES | U.UFFD_FEATURE_SIGBUS);
      break;
    case 'monitor':
      if (fd >= 0) {
        w.monitor = !w.monitor;
        p.userfaultfd_monitor(fd, w.monitor ? monitorFor(w, pi) : null);
      }
      break;
    case 'populate':
      p.madvise(at, len, op.arg & 1 ? U.MADV_POPULATE_WRITE : U.MADV_POPULATE_READ);
      break;
  }
}

describe('userfaultfd: random sequences', () => {
  it('only SyscallError, SignalError or UffdFault are thrown, and kernel.check() stays []', () => {
    fc.assert(
      fc.property(fc.nat(4), fc.array(opArb, { minLength: 5, maxLength: 60 }), (focus, ops) => {
        const w = boot();
        const log: string[] = [];
        for (const op of ops) {
          log.push(JSON.stringify(op));
          try {
            step(w, op, focus);
          } catch (e) {
            if (!(e instanceof SyscallError || e instanceof SignalError || e instanceof UffdFault)) {
              throw new Error(`${String(e)}\nafter:\n${log.join('\n')}`);
            }
          }
          const v = w.k.check();
          if (v.length > 0) throw new Error(`${JSON.stringify(v.slice(0, 3))}\nafter:\n${log.join('\n')}`);
        }
        for (const p of w.procs) if (p.mm !== null) p.exit();
        expect(w.k.check()).toEqual([]);
      }),
      { numRuns: 300, seed: 7 },
    );
  });
});
