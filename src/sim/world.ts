/**
 * The world a scenario runs in: the Kernel, the named processes and their
 * memory regions (the scenario's `setup`), and the bookkeeping actors share:
 * pins still held (to find pins whose page the process no longer maps),
 * pages donated to a guest (seed 002), and extra per-run counts that metrics
 * read.
 */
import { z } from 'zod';
import { Kernel, type KernelOptions } from '../kernel.js';
import type { Process } from '../process.js';
import { MADV_HUGEPAGE, MADV_NOHUGEPAGE, MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE } from '../uapi/mman.js';
import type { FolioMap } from '../report/model.js';
import { count, name, obj, oneOf, pageSize } from './scenario/types.js';
import { PostcopyVm, VmSpec } from './postcopy/vm.js';
import { CocoVm, CvmSpec } from './cvm/vm.js';

const MiB = 2 ** 20;

export const RegionSpec = obj(
  {
    name: name('the region name'),
    size: pageSize('the region size'),
    /** anon: MAP_PRIVATE|MAP_ANONYMOUS; memfd: a memfd mapped MAP_SHARED (guest RAM shared with a device model). */
    backing: oneOf(['anon', 'memfd'], 'the region backing').optional(),
    /** madvise: MADV_HUGEPAGE, MADV_NOHUGEPAGE, or leave it to transparent_hugepage/enabled. */
    thp: oneOf(['default', 'hugepage', 'nohugepage'], 'the THP advice').optional(),
    /** Alignment of the start address (default 2MiB, so THP can map it). */
    align: pageSize('the alignment').optional(),
    /** memset the region with this byte at setup (faults it all in); omit to leave it untouched. */
    fill: count('the fill byte').optional(),
  },
  'a memory region',
);
export type RegionSpec = z.output<typeof RegionSpec>;

export const ProcessSpec = obj(
  {
    name: name('the process name'),
    regions: z.array(RegionSpec).optional(),
  },
  'a process',
);

export const SetupSpec = obj(
  {
    processes: z.array(ProcessSpec).min(1, { error: 'expected at least one process' }),
    /** Post-copy destination VMs on HugeTLB memory (src/sim/postcopy/vm.ts); actors name them as regions. */
    vms: z.array(VmSpec).optional(),
    /** Confidential VMs on guest_memfd, or pKVM/Gunyah on shmem (src/sim/cvm/vm.ts); actors name them as regions. */
    cvms: z.array(CvmSpec).optional(),
  },
  'the setup',
);
export type SetupSpec = z.output<typeof SetupSpec>;

export interface Region {
  readonly name: string;
  readonly proc: Process;
  readonly addr: number;
  readonly size: number;
  readonly backing: 'anon' | 'memfd' | 'hugetlb' | 'gmem';
}

/** A pin an actor holds: the page it pinned, and where the pinning process maps it. */
export interface HeldPin {
  readonly proc: Process;
  addr: number;
  readonly pfn: number;
}

export class World {
  readonly procs = new Map<string, Process>();
  readonly regions = new Map<string, Region>();
  /** Pins held by actors right now (long-term pins, and short-term ones in flight). */
  readonly held = new Set<HeldPin>();
  /** pfns donated to the guest (exclusive pins, or the plain long-term pins standing in for them). */
  readonly donated = new Set<number>();
  /** Extra counts that actors keep for metrics (by metric source name). */
  readonly counts = new Map<string, number>();
  /** Processes forked during the run that are alive. */
  readonly children = new Set<Process>();
  /** The folio map an actor captured (src/sim/folio_map.ts), if any. */
  folioMap: FolioMap | null = null;
  /** Post-copy VMs by name (their primary view is also a region of that name). */
  readonly vms = new Map<string, PostcopyVm>();
  /** Confidential VMs by name (their VMM view is also a region of that name). */
  readonly cvms = new Map<string, CocoVm>();
  /** Values actors record one by one for metrics (by metric source name), in order. */
  readonly samples = new Map<string, number[]>();
  /** A metric's value over simulated time, by metric id: [ns, value] at each change. */
  readonly series = new Map<string, [number, number][]>();

  constructor(
    readonly k: Kernel,
    /** The design this world runs (for what actors capture). */
    readonly design: string,
  ) {}

  add(key: string, n = 1): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + n);
  }

  count(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  sample(key: string, v: number): void {
    let a = this.samples.get(key);
    if (a === undefined) this.samples.set(key, (a = []));
    a.push(v);
  }

  /** metric's value is v from time t on (kept only when it changes). */
  point(metric: string, t: number, v: number): void {
    let a = this.series.get(metric);
    if (a === undefined) this.series.set(metric, (a = []));
    if (a.length === 0 || a[a.length - 1]![1] !== v) a.push([t, v]);
  }

  /** The post-copy VM whose primary view is region n, if it is one. */
  vm(n: string): PostcopyVm | undefined {
    return this.vms.get(n);
  }

  proc(n: string): Process {
    return this.procs.get(n)!;
  }

  region(n: string): Region {
    return this.regions.get(n)!;
  }
}

/** Boot the kernel and build the processes and regions, in file order. */
export function buildWorld(kernel: KernelOptions, setup: SetupSpec, design: string): World {
  const w = new World(new Kernel(kernel), design);
  for (const ps of setup.processes) {
    const p = w.k.spawn();
    p.comm = ps.name;
    w.procs.set(ps.name, p);
    for (const r of ps.regions ?? []) w.regions.set(r.name, mapRegion(p, r));
  }
  for (const v of setup.vms ?? []) {
    const p = w.procs.get(v.process)!;
    const vm = new PostcopyVm(v, w.k, p);
    w.vms.set(v.name, vm);
    w.regions.set(v.name, { name: v.name, proc: p, addr: vm.primary, size: vm.size, backing: 'hugetlb' });
    w.point('pageTableBytes', 0, vm.pageTableBytes());
  }
  for (const c of setup.cvms ?? []) {
    const p = w.procs.get(c.process)!;
    const vm = new CocoVm(c, w.k, p);
    w.cvms.set(c.name, vm);
    w.regions.set(c.name, { name: c.name, proc: p, addr: vm.view, size: vm.size, backing: 'gmem' });
  }
  return w;
}

function mapRegion(p: Process, r: RegionSpec): Region {
  const RW = PROT_READ | PROT_WRITE;
  const align = r.align ?? 2 * MiB;
  const backing = r.backing ?? 'anon';
  // Reserve size + align, then place the region at an aligned address inside it (as VMMs do).
  const raw = p.mmap(0, r.size + align, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  const addr = Math.ceil(raw / align) * align;
  if (addr > raw) p.munmap(raw, addr - raw);
  if (raw + r.size + align > addr + r.size) p.munmap(addr + r.size, raw + r.size + align - (addr + r.size));
  if (backing === 'memfd') {
    const fd = p.memfd_create(r.name, 0);
    p.ftruncate(fd, r.size);
    p.mmap(addr, r.size, RW, MAP_SHARED | MAP_FIXED, fd, 0);
    p.close(fd);
  }
  if (r.thp === 'hugepage') p.madvise(addr, r.size, MADV_HUGEPAGE);
  if (r.thp === 'nohugepage') p.madvise(addr, r.size, MADV_NOHUGEPAGE);
  if (r.fill !== undefined) p.fill(addr, r.size, r.fill);
  return { name: r.name, proc: p, addr, size: r.size, backing };
}
