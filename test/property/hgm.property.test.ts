/**
 * Random HugeTLB high-granularity mapping sequences (HGM, never merged), once
 * per mapcount design: the post-copy layout (a hugetlbfs memfd of one 1 GiB
 * and one of three 2 MiB pages, each mapped MAP_SHARED twice: a primary
 * with MADV_SPLIT registered MINOR|WP, and an alias), then UFFDIO_CONTINUE of
 * 4 KiB / 2 MiB / whole pieces, POISON, CPU accesses through both views,
 * MADV_COLLAPSE of whole pages and 2 MiB parts, MADV_DONTNEED, mprotect,
 * UFFDIO_WRITEPROTECT, truncation and hole punch, fork (with EVENT_FORK, so
 * the child's tables are copied) and the child's exit.
 *
 * After every step: anything thrown is a SyscallError, SignalError or
 * UffdFault, and kernel.check() finds nothing, except, under 'pgtable', the
 * design's expected truncation finding (hgm-mapcount-after-truncate).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Kernel, type Process, SignalError, SyscallError, UffdFault } from '../../src/index.js';
import * as U from '../../src/uapi/index.js';

const PAGE = 4096;
const M2 = 2 ** 21;
const G = 2 ** 30;
const RW = U.PROT_READ | U.PROT_WRITE;

interface Area {
  fd: number;
  size: number;
  pages: number;
  prim: number;
  alias: number;
}

interface World {
  k: Kernel;
  p: Process;
  uffd: number;
  areas: Area[];
  children: Process[];
}

function boot(design: string, notifier: string): World {
  const k = new Kernel({ memory: '4GiB', hugetlb: { '1GiB': 1, '2MiB': 4 }, policy: { hgmMapcount: design, collapseNotifier: notifier } });
  const p = k.spawn();
  const uffd = p.userfaultfd(U.O_NONBLOCK);
  p.ioctl(uffd, U.UFFDIO_API, { api: U.UFFD_API, features: U.UFFD_FEATURE_MINOR_HUGETLBFS | U.UFFD_FEATURE_WP_HUGETLBFS_SHMEM | U.UFFD_FEATURE_EVENT_FORK, ioctls: 0 });
  const areas: Area[] = [];
  for (const [size, pages, flag] of [
    [G, 1, U.MFD_HUGE_1GB],
    [M2, 3, U.MFD_HUGE_2MB],
  ] as const) {
    const fd = p.memfd_create('guest', U.MFD_HUGETLB | flag);
    p.ftruncate(fd, size * pages);
    const prim = p.mmap(0, size * pages, RW, U.MAP_SHARED, fd, 0);
    const alias = p.mmap(0, size * pages, RW, U.MAP_SHARED, fd, 0);
    p.madvise(prim, size * pages, U.MADV_SPLIT);
    p.ioctl(uffd, U.UFFDIO_REGISTER, { range: { start: prim, len: size * pages }, mode: U.UFFDIO_REGISTER_MODE_MINOR | U.UFFDIO_REGISTER_MODE_WP, ioctls: 0 });
    areas.push({ fd, size, pages, prim, alias });
  }
  return { k, p, uffd, areas, children: [] };
}

type Cmd = (w: World) => void;

const area = fc.integer({ min: 0, max: 1 });
/** An offset within an area: page-aligned, biased to the start of a huge page and of 2 MiB pieces. */
const offset = fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 511 }), fc.integer({ min: 0, max: 3 })).map(([hp, m2, pg]) => ({ hp, m2, pg }));

function at(a: Area, o: { hp: number; m2: number; pg: number }): number {
  const hp = o.hp % a.pages;
  return a.size === G ? (o.m2 % 8) * M2 + o.pg * PAGE : hp * M2 + (o.m2 % 512) * PAGE;
}

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  // The alias writes the page (populating the page cache), as post-copy does.
  fc.record({ a: area, o: offset, b: fc.integer({ min: 0, max: 255 }) }).map(({ a, o, b }) => (w: World) => w.p.fill(w.areas[a]!.alias + at(w.areas[a]!, o), 1, b)),
  // CONTINUE: a few pages, a 2 MiB piece, or a whole page.
  fc.record({ a: area, o: offset, n: fc.constantFrom(1, 2, 3, 512, 0), wp: fc.boolean() }).map(({ a, o, n, wp }) => (w: World) => {
    const ar = w.areas[a]!;
    const len = n === 0 ? ar.size : n * PAGE;
    const start = n === 0 ? ar.prim + (o.hp % ar.pages) * ar.size : ar.prim + at(ar, o);
    if (start + len > ar.prim + ar.size * ar.pages) return;
    w.p.ioctl(w.uffd, U.UFFDIO_CONTINUE, { range: { start, len }, mode: wp ? U.UFFDIO_CONTINUE_MODE_WP : 0, mapped: 0 });
  }),
  fc.record({ a: area, o: offset }).map(({ a, o }) => (w: World) => w.p.ioctl(w.uffd, U.UFFDIO_POISON, { range: { start: w.areas[a]!.prim + at(w.areas[a]!, o), len: PAGE }, mode: 0, updated: 0 })),
  // CPU accesses through the primary (MINOR faults block: UffdFault) and the alias.
  fc.record({ a: area, o: offset, write: fc.boolean(), prim: fc.boolean() }).map(({ a, o, write, prim }) => (w: World) => {
    const ar = w.areas[a]!;
    const addr = (prim ? ar.prim : ar.alias) + at(ar, o);
    if (write) w.p.fill(addr, 8, 0x5a);
    else w.p.read(addr, 8);
  }),
  // MADV_COLLAPSE: whole pages, or (1 GiB) a run of 2 MiB parts.
  fc.record({ a: area, o: offset, whole: fc.boolean(), n: fc.integer({ min: 1, max: 4 }) }).map(({ a, o, whole, n }) => (w: World) => {
    const ar = w.areas[a]!;
    if (whole || ar.size === M2) w.p.madvise(ar.prim, ar.size * ar.pages, U.MADV_COLLAPSE);
    else w.p.madvise(ar.prim + (o.m2 % 8) * M2, n * M2, U.MADV_COLLAPSE);
  }),
  fc.record({ a: area }).map(({ a }) => (w: World) => w.p.madvise(w.areas[a]!.prim, w.areas[a]!.size, U.MADV_DONTNEED)),
  fc.record({ a: area, ro: fc.boolean() }).map(({ a, ro }) => (w: World) => w.p.mprotect(w.areas[a]!.prim, w.areas[a]!.size * w.areas[a]!.pages, ro ? U.PROT_READ : RW)),
  fc.record({ a: area, on: fc.boolean() }).map(({ a, on }) => (w: World) => {
    const ar = w.areas[a]!;
    w.p.ioctl(w.uffd, U.UFFDIO_WRITEPROTECT, { range: { start: ar.prim, len: ar.size * ar.pages }, mode: on ? U.UFFDIO_WRITEPROTECT_MODE_WP : 0 });
  }),
  // Truncate to nothing and grow back, or punch one huge page.
  fc.record({ a: area, punch: fc.boolean(), o: offset }).map(({ a, punch, o }) => (w: World) => {
    const ar = w.areas[a]!;
    if (punch) {
      w.p.fallocate(ar.fd, U.FALLOC_FL_PUNCH_HOLE | U.FALLOC_FL_KEEP_SIZE, (o.hp % ar.pages) * ar.size, ar.size);
      return;
    }
    w.p.ftruncate(ar.fd, 0);
    w.p.ftruncate(ar.fd, ar.size * ar.pages);
  }),
  fc.constant((w: World) => {
    if (w.children.length < 2) w.children.push(w.p.fork());
  }),
  fc.constant((w: World) => {
    const c = w.children.pop();
    if (c !== undefined) c.exit();
  }),
);

function run(w: World, c: Cmd): void {
  try {
    c(w);
  } catch (e) {
    if (!(e instanceof SyscallError || e instanceof SignalError || e instanceof UffdFault)) throw e;
  }
  // Forks post UFFD_EVENT_FORK: read it so later calls do not see mmap_changing.
  for (;;) {
    try {
      w.p.sysread(w.uffd, new Uint8Array(U.UFFD_MSG_SIZE), U.UFFD_MSG_SIZE);
    } catch {
      break;
    }
  }
}

describe('HugeTLB HGM: random post-copy sequences keep every invariant', () => {
  for (const design of ['thp-like', 'head-per-pte', 'pgtable', 'special-bit']) {
    it(design, () => {
      fc.assert(
        fc.property(fc.array(cmd, { minLength: 1, maxLength: 14 }), fc.constantFrom('invalidate', 'post-collapse'), (cmds, notifier) => {
          const w = boot(design, notifier);
          for (const c of cmds) {
            run(w, c);
            const v = w.k.check().filter((x) => !(design === 'pgtable' && x.name === 'hgm-mapcount-after-truncate'));
            expect(v).toEqual([]);
          }
          for (const c of w.children) c.exit();
          w.p.exit();
          expect(w.k.check()).toEqual([]);
        }),
        { numRuns: 25 },
      );
    });
  }
});
