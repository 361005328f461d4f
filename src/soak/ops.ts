/**
 * The soak's operations as data. `genOp` draws one from a seeded stream and
 * the current state; `applyOp` runs it. An operation names its process and
 * region by index into the state's lists, taken modulo their lengths when it
 * runs, so any subsequence of a stream still means something: that is what
 * lets a failing stream shrink, and a shrunk one replay from a scenario file
 * (the `soak` actor, src/sim/actors/soak.ts).
 *
 * Every process keeps a shadow of what its private anonymous pages must read
 * (the first byte of each page); an operation whose effect on memory the
 * model cannot predict from user space (a DMA write, a fixed read into a
 * pinned buffer, MADV_DONTNEED) drops the affected region's shadow.
 */
import type { Kernel } from '../kernel.js';
import * as G from '../kvm/guest.js';
import { FOLL_FORCE, FOLL_LONGTERM, FOLL_NOFAULT, FOLL_TOUCH, FOLL_WRITE } from '../kernel_gup.js';
import type { Process } from '../process.js';
import type { Rng } from '../sim/rng.js';
import { SyscallError } from '../uapi/errors.js';
import * as U from '../uapi/index.js';

const PAGE = 4096;
const HPAGE = 2 << 20;
const RW = U.PROT_READ | U.PROT_WRITE;
export const MTHP_KB = [16, 32, 64, 128, 256, 512, 1024, 2048] as const;
const THP_MODES = ['always', 'inherit', 'madvise', 'never'] as const;
const ADVICE = [U.MADV_SPLIT, U.MADV_DONTNEED, U.MADV_FREE, U.MADV_COLD, U.MADV_PAGEOUT, U.MADV_HUGEPAGE, U.MADV_NOHUGEPAGE, U.MADV_COLLAPSE, U.MADV_POPULATE_READ, U.MADV_POPULATE_WRITE, U.MADV_DONTFORK, U.MADV_DOFORK, U.MADV_WIPEONFORK, U.MADV_KEEPONFORK, U.MADV_REMOVE];
export const KINDS = ['anon', 'shared-anon', 'memfd-shared', 'memfd-private', 'hugetlb', 'hugetlb-shared'] as const;
export type Kind = (typeof KINDS)[number];
const JUNK_LEN = [-1, 0, 1, PAGE - 1, 2 ** 47, 2 ** 53, NaN, -PAGE];
const JUNK_ADDR = [-1, 1, PAGE - 1, 2 ** 47, 2 ** 53, NaN, -PAGE];
/** Requests a junk ioctl sends to one of the process's descriptors. */
const JUNK_IOCTLS = [U.UFFDIO_COPY, U.UFFDIO_ZEROPAGE, U.UFFDIO_REGISTER, U.UFFDIO_UNREGISTER, U.VFIO_IOMMU_MAP_DMA, U.VFIO_IOMMU_UNMAP_DMA, U.KVM_SET_USER_MEMORY_REGION2, U.KVM_SET_MEMORY_ATTRIBUTES, U.KVM_RUN, U.PIN_LONGTERM_TEST_START];
/** The guest physical address of the soak VM's one memslot. */
const GPA = 2 ** 32;
/** The gup_test requests the 'gup' operation sends (each takes its references and drops them before returning). */
const GUP_REQUESTS = [U.GUP_FAST_BENCHMARK, U.PIN_FAST_BENCHMARK, U.PIN_LONGTERM_BENCHMARK, U.GUP_BASIC_TEST, U.PIN_BASIC_TEST, U.DUMP_USER_PAGES_TEST];
/** FOLL_ flags a 'gup' operation's five bits choose from. */
const GUP_FLAGS = [FOLL_WRITE, FOLL_LONGTERM, FOLL_FORCE, FOLL_TOUCH, FOLL_NOFAULT];
/** memfds a stream keeps open at once. */
const MAX_MEMFDS = 8;
/** Pages in the soak VM's memslot (and its guest_memfd); 512 when the guest_memfd is one 2 MiB HugeTLB page. */
const SLOT_PAGES = 16;
const HUGE_SLOT_PAGES = 512;

/**
 * One operation. `op` says what; `t` is the process (index into the live
 * ones), `r` the region (index into that process's), other fields are the
 * operation's own numbers. Plain JSON: it crosses threads and goes into YAML.
 */
export interface SoakOp {
  readonly op: OpName;
  readonly t: number;
  readonly [field: string]: number | string;
}

export const OP_NAMES = [
  'mmap', 'write', 'read', 'madvise', 'mprotect', 'munmap', 'mremap', 'fork', 'exit', 'pin', 'unpin', 'gup', 'mthp', 'memfd', 'junk',
  'uffd-register', 'uffd-unregister', 'uring-register', 'uring-io', 'uring-unregister', 'vfio-map', 'vfio-dma', 'vfio-unmap',
  'kvm-create', 'kvm-convert', 'kvm-run',
] as const;
export type OpName = (typeof OP_NAMES)[number];

export interface Region {
  addr: number;
  pages: number;
  kind: Kind;
  /** Private anonymous memory only: the byte each page must read (null once unknowable). */
  shadow: Uint8Array | null;
  /** MADV_DONTFORK or MADV_WIPEONFORK was applied to part of it: a child's copy cannot be predicted. */
  forkOdd: boolean;
}

interface Vm {
  readonly fd: number;
  readonly vcpu: number;
  readonly gmem: number;
  /** The memslot's userspace_addr, and the region that was there when it was made. */
  readonly hva: number;
  readonly region: Region;
  readonly pages: number;
  /** Per page: 1 private (guest_memfd), 0 shared (the host page at hva). */
  readonly priv: Uint8Array;
  /** What the guest_memfd page's first byte must read, or -1 when unknown. */
  readonly gshadow: Int16Array;
  /** Conversions go through the file's KVM_SET_MEMORY_ATTRIBUTES2 (in-place conversion), else the VM's ioctl. */
  readonly inPlace: boolean;
}

export interface Task {
  readonly p: Process;
  regions: Region[];
  readonly gup: number;
  /** A userfaultfd with a monitor answering missing faults with zeroes, or -1. */
  uffd: number;
  /** The monitor's 2 MiB source of zeroes, or -1. */
  zeroes: number;
  /** An io_uring with one registered buffer (over `ringRegion`), or -1. */
  ring: number;
  ringBuf: { addr: number; len: number; region: Region } | null;
  /** A VFIO container with one DMA mapping (over `dma.region`), or -1. */
  vfio: number;
  dma: { iova: number; len: number; region: Region } | null;
  vm: Vm | null;
  /** The memfd descriptors this process holds (made here, or inherited): closed when the stream drops one. */
  readonly memfds: Set<number>;
}

export interface SoakState {
  readonly k: Kernel;
  readonly tasks: Task[];
  /** memfd descriptors the stream uses (the most recent MAX_MEMFDS). */
  memfds: number[];
  /**
   * gup_test holds one long-term pin at a time for the whole system (its pages array is global), and
   * every process's gup_test descriptor is the same open file (inherited): any of them stops it.
   */
  pinned: boolean;
  /** The description of the operation running, for a failure report. */
  desc: string;
}

/** The operation found what the soak exists to catch (not an errno, not a signal). */
export class SoakCheckFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SoakCheckFailure';
  }
}

/** A fresh state: one process (`first`, or a new one) with gup_test open. */
export function newState(k: Kernel, first?: Process): SoakState {
  const st: SoakState = { k, tasks: [], memfds: [], pinned: false, desc: '' };
  st.tasks.push(newTask(first ?? k.spawn()));
  return st;
}

/** The process an operation acts in (its `t`, modulo the live ones). */
export function opProcess(st: SoakState, o: SoakOp): Process {
  return st.tasks[mod(num(o, 't'), st.tasks.length)]!.p;
}

function newTask(p: Process, gup?: number, memfds?: ReadonlySet<number>): Task {
  return { p, regions: [], gup: gup ?? p.open(U.GUP_TEST_PATH, U.O_RDWR), uffd: -1, zeroes: -1, ring: -1, ringBuf: null, vfio: -1, dma: null, vm: null, memfds: new Set(memfds) };
}

const pickOf = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(0, xs.length - 1)]!;

/** Draw the next operation: what it is depends on the draw and on what the state holds. */
export function genOp(rng: Rng, st: SoakState): SoakOp {
  const t = rng.int(0, st.tasks.length - 1);
  const task = st.tasks[t]!;
  const r = task.regions.length > 0 ? rng.int(0, task.regions.length - 1) : -1;
  const region = r < 0 ? null : task.regions[r]!;
  const page = region === null ? 0 : rng.int(0, region.pages - 1);
  const x = rng.int(0, 119);
  if (x < 8 || region === null) {
    const kind = pickOf<Kind>(rng, ['anon', 'anon', 'anon', 'shared-anon', 'memfd-shared', 'memfd-private', 'hugetlb', 'hugetlb-shared']);
    const pages = kind.startsWith('hugetlb') ? 512 : pickOf(rng, [1, 4, 16, 64, 512, 600]);
    const memfd = kind.startsWith('memfd') ? (st.memfds.length === 0 || rng.int(0, 3) === 0 ? -1 : rng.int(0, st.memfds.length - 1)) : 0;
    return { op: 'mmap', t, kind, pages, memfd };
  }
  if (x < 30) return { op: 'write', t, r, page, byte: rng.int(1, 255) };
  if (x < 45) return { op: 'read', t, r, page };
  if (x < 55) return { op: 'madvise', t, r, page, advice: pickOf(rng, ADVICE), pages: pickOf(rng, [1, 4, 16, 512]) };
  if (x < 60) return { op: 'mprotect', t, r, prot: pickOf(rng, [U.PROT_READ, RW, U.PROT_NONE]) };
  if (x < 64) return { op: 'munmap', t, r };
  if (x < 67 && region.kind !== 'hugetlb') return { op: 'mremap', t, r, pages: pickOf(rng, [region.pages, region.pages * 2, Math.max(1, region.pages >> 1)]) };
  if (x < 73) return { op: 'fork', t };
  if (x < 76) return { op: 'exit', t };
  if (x < 84) {
    if (st.pinned) return { op: 'unpin', t };
    const flags = pickOf(rng, [0, U.PIN_LONGTERM_TEST_FLAG_USE_WRITE, U.PIN_LONGTERM_TEST_FLAG_USE_FAST, U.PIN_LONGTERM_TEST_FLAG_USE_WRITE | U.PIN_LONGTERM_TEST_FLAG_USE_FAST]);
    return { op: 'pin', t, r, page, flags };
  }
  if (x < 88) return { op: 'mthp', t, kb: pickOf(rng, MTHP_KB), mode: pickOf(rng, THP_MODES) };
  if (x < 93 && st.memfds.length > 0) {
    const how = rng.int(0, 3);
    return { op: 'memfd', t, fd: rng.int(0, st.memfds.length - 1), how, byte: rng.int(0, 255), off: how < 2 ? rng.int(0, 64) : rng.int(0, 16), len: rng.int(1, 600) };
  }
  if (x < 96) {
    // gup_test's other requests: GUP or pin and release at once, with FOLL_ flags drawn from what the driver passes on.
    return { op: 'gup', t, r, page, req: rng.int(0, GUP_REQUESTS.length - 1), pages: pickOf(rng, [1, 2, 16, 512]), per: pickOf(rng, [1, 4, 512]), flags: rng.int(0, 31), dump: rng.int(0, 1) };
  }
  if (x < 100) {
    const call = rng.int(0, 5);
    return { op: 'junk', t, call, a: rng.int(0, JUNK_ADDR.length - 1), l: rng.int(0, JUNK_LEN.length - 1), n: rng.int(-5, 120), m: rng.int(0, 2 ** 31 - 1), req: rng.int(0, JUNK_IOCTLS.length - 1) };
  }
  if (x < 105) return task.uffd < 0 || rng.int(0, 2) > 0 ? { op: 'uffd-register', t, r, minor: rng.int(0, 1) } : { op: 'uffd-unregister', t };
  if (x < 110) {
    if (task.ringBuf === null) return { op: 'uring-register', t, r, page, pages: pickOf(rng, [1, 4, 16]) };
    if (rng.int(0, 1) === 0) return { op: 'uring-unregister', t };
    return { op: 'uring-io', t, write: rng.int(0, 1), fd: st.memfds.length === 0 ? 0 : rng.int(0, st.memfds.length - 1), off: rng.int(0, 64) };
  }
  if (x < 115) {
    if (task.dma === null) return { op: 'vfio-map', t, r, page, pages: pickOf(rng, [1, 4, 16]) };
    if (rng.int(0, 1) === 0) return { op: 'vfio-unmap', t };
    return { op: 'vfio-dma', t, write: rng.int(0, 1), byte: rng.int(0, 255) };
  }
  if (task.vm === null) return { op: 'kvm-create', t, r };
  // Pages are taken modulo the slot's size (16 pages, or a 2 MiB HugeTLB guest_memfd's 512): mostly the
  // first 16, so conversions and accesses meet, now and then anywhere in the huge page.
  const gpage = rng.int(0, 7) === 0 ? rng.int(0, HUGE_SLOT_PAGES - 1) : rng.int(0, SLOT_PAGES - 1);
  if (rng.int(0, 3) === 0) return { op: 'kvm-convert', t, page: gpage, priv: rng.int(0, 1) };
  return { op: 'kvm-run', t, page: gpage, write: rng.int(0, 1), byte: rng.int(1, 255) };
}

const hex = (n: number): string => `0x${n.toString(16)}`;
const num = (o: SoakOp, f: string): number => {
  const v = o[f];
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
};
const mod = (i: number, n: number): number => ((Math.trunc(i) % n) + n) % n;

/** Drop the shadow of every region of the task that overlaps [addr, addr + len). */
function dropShadowAt(task: Task, addr: number, len: number): void {
  for (const g of task.regions) if (g.addr < addr + len && addr < g.addr + g.pages * PAGE) g.shadow = null;
}

function unmapQuietly(p: Process, addr: number, len: number): void {
  try {
    p.munmap(addr, len);
  } catch (e) {
    if (!(e instanceof SyscallError)) throw e;
  }
}

/** Close a descriptor the soak made; it may already be gone with its process. */
function closeQuietly(p: Process, fd: number): void {
  try {
    p.close(fd);
  } catch (e) {
    if (!(e instanceof SyscallError)) throw e;
  }
}

/**
 * The userfaultfd's handler thread: every missing fault is answered with a
 * zero page (what the shadow expects of a page never written), an answer that
 * cannot be given with a wake-up.
 */
function monitorOf(p: Process, uffd: number, zeroes: number): () => void {
  const quiet = (f: () => unknown): boolean => {
    try {
      f();
      return true;
    } catch (e) {
      if (!(e instanceof SyscallError)) throw e;
      return false;
    }
  };
  return () => {
    for (;;) {
      let m: U.UffdMsg;
      try {
        m = p.userfaultfd_read(uffd);
      } catch (e) {
        if (e instanceof SyscallError) return;
        throw e;
      }
      if (m.event !== U.UFFD_EVENT_PAGEFAULT) continue;
      const addr = Number(m.arg.pagefault.address);
      const start = addr - (addr % PAGE);
      const huge = addr - (addr % HPAGE);
      if (m.arg.pagefault.flags & U.UFFD_PAGEFAULT_FLAG_MINOR) {
        // The page is in the page cache: map it, 4 KiB at a time where HGM split the VMA, else the huge page.
        if (quiet(() => p.ioctl(uffd, U.UFFDIO_CONTINUE, { range: { start, len: PAGE }, mode: 0, mapped: 0 }))) continue;
        if (quiet(() => p.ioctl(uffd, U.UFFDIO_CONTINUE, { range: { start: huge, len: HPAGE }, mode: 0, mapped: 0 }))) continue;
      }
      // A zero page where UFFDIO_ZEROPAGE serves (anonymous memory, shmem); a copy of zeroes (a whole
      // huge page for HugeTLB, which has no ZEROPAGE). A fault it cannot fill (an empty HugeTLB pool:
      // ENOMEM) it unregisters and wakes, so the access retries as an ordinary fault (SIGBUS there).
      if (quiet(() => p.ioctl(uffd, U.UFFDIO_ZEROPAGE, { range: { start, len: PAGE }, mode: 0, zeropage: 0 }))) continue;
      if (quiet(() => p.ioctl(uffd, U.UFFDIO_COPY, { dst: huge, src: zeroes, len: HPAGE, mode: 0, copy: 0 }))) continue;
      if (quiet(() => p.ioctl(uffd, U.UFFDIO_COPY, { dst: start, src: zeroes, len: PAGE, mode: 0, copy: 0 }))) continue;
      if (!quiet(() => p.ioctl(uffd, U.UFFDIO_UNREGISTER, { start: huge, len: HPAGE }))) quiet(() => p.ioctl(uffd, U.UFFDIO_UNREGISTER, { start, len: PAGE }));
      quiet(() => p.ioctl(uffd, U.UFFDIO_WAKE, { start: huge, len: HPAGE }));
    }
  };
}

/**
 * Run one operation. Returns what it did; a SyscallError or SignalError is
 * the kernel's answer and passes through; SoakCheckFailure is a finding.
 */
export function applyOp(st: SoakState, o: SoakOp): string {
  const say = (d: string): void => {
    st.desc = d;
  };
  st.desc = '';
  if (st.tasks.length === 0) return 'skipped (no process)';
  const t = mod(num(o, 't'), st.tasks.length);
  const task = st.tasks[t]!;
  const p = task.p;
  const region = (): Region | null => (task.regions.length === 0 ? null : task.regions[mod(num(o, 'r'), task.regions.length)]!);
  const who = `(pid ${p.pid})`;
  switch (o.op) {
    case 'mmap': {
      const kind = (KINDS as readonly string[]).includes(String(o.kind)) ? (o.kind as Kind) : 'anon';
      if (task.regions.length >= 6) return 'mmap skipped (enough regions)';
      const pages = kind.startsWith('hugetlb') ? 512 : Math.max(1, Math.min(600, num(o, 'pages')));
      let fd = -1;
      if (kind === 'hugetlb-shared') {
        // A hugetlbfs memfd of one 2 MiB page, mapped shared: MADV_SPLIT (HGM), MINOR faults and MADV_REMOVE
        // (a hole punch) reach it. The mapping keeps the file; the descriptor is closed so the pool's pages
        // go back when the mapping does.
        fd = p.memfd_create('soak-huge', U.MFD_HUGETLB);
        try {
          say(`ftruncate hugetlb memfd ${fd} to 2 MiB ${who}`);
          p.ftruncate(fd, HPAGE);
          say(`mmap ${kind} ${pages} pages ${who}`);
          const addr = p.mmap(0, HPAGE, RW, U.MAP_SHARED, fd, 0);
          task.regions.push({ addr, pages, kind, shadow: null, forkOdd: false });
          return `mmap ${kind} ${pages} pages at ${hex(addr)} ${who}`;
        } finally {
          p.close(fd);
        }
      } else if (kind.startsWith('memfd')) {
        const i = num(o, 'memfd');
        if (i < 0 || task.memfds.size === 0) {
          fd = p.memfd_create('soak', 0);
          // At most MAX_MEMFDS: the oldest is closed in every process holding it (its pages go once nothing maps it), so a
          // long soak's page cache and descriptor tables stay the size of a short one's.
          if (st.memfds.length >= MAX_MEMFDS) {
            const old = st.memfds.shift()!;
            for (const x of st.tasks) if (x.memfds.delete(old)) closeQuietly(x.p, old);
          }
          st.memfds.push(fd);
          task.memfds.add(fd);
        } else {
          // One this process holds: a number from another process could be anything here (its guest_memfd).
          const mine = [...task.memfds];
          if (mine.length === 0) return 'mmap skipped (no memfd in this process)';
          fd = mine[mod(i, mine.length)]!;
        }
        say(`ftruncate memfd ${fd} to ${pages} pages ${who}`);
        p.ftruncate(fd, pages * PAGE);
      }
      const flags = kind === 'anon' ? U.MAP_PRIVATE | U.MAP_ANONYMOUS : kind === 'shared-anon' ? U.MAP_SHARED | U.MAP_ANONYMOUS : kind === 'hugetlb' ? U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_HUGETLB : kind === 'memfd-private' ? U.MAP_PRIVATE : U.MAP_SHARED;
      say(`mmap ${kind} ${pages} pages ${who}`);
      const addr = p.mmap(0, pages * PAGE, RW, flags, fd, 0);
      task.regions.push({ addr, pages, kind, shadow: kind === 'anon' || kind === 'hugetlb' ? new Uint8Array(pages) : null, forkOdd: false });
      return `mmap ${kind} ${pages} pages at ${hex(addr)} ${who}`;
    }
    case 'write':
    case 'read':
    case 'madvise':
    case 'mprotect':
    case 'munmap':
    case 'mremap':
    case 'pin':
    case 'gup':
      return regionOp(st, task, o);
    case 'fork': {
      if (st.tasks.length >= 4) return 'fork skipped (enough processes)';
      say(`fork ${who}`);
      const c = p.fork();
      // The child reads what the parent wrote (COW). A region MADV_DONTFORK or WIPEONFORK touched is not
      // tracked in the child: part of it may be missing there, and a later mmap may take its place.
      // The child closes its copies of the parent's userfaultfd, ring, VFIO container and VM, as a careful
      // program does: while a copy is open, the parent's registrations outlive the parent's close (a fault
      // would wait with no monitor), and its pinned buffers, DMA mappings and guest memory its exit.
      for (const fd of [task.uffd, task.ring, task.vfio, task.vm?.fd ?? -1, task.vm?.vcpu ?? -1, task.vm?.gmem ?? -1]) if (fd >= 0) closeQuietly(c, fd);
      // What the child does not track it unmaps (the monitor's zeroes, regions DONTFORK/WIPEONFORK touched),
      // so untracked mappings do not pile up down a line of forks.
      if (task.zeroes >= 0) unmapQuietly(c, task.zeroes, HPAGE);
      for (const g of task.regions) if (g.forkOdd) unmapQuietly(c, g.addr, g.pages * PAGE);
      const child = newTask(c, task.gup, task.memfds);
      child.regions = task.regions.filter((g) => !g.forkOdd).map((g) => ({ ...g, shadow: g.shadow === null ? null : g.shadow.slice() }));
      st.tasks.push(child);
      return `fork (pid ${p.pid} -> ${c.pid})`;
    }
    case 'exit': {
      if (st.tasks.length === 1) return 'exit skipped (last process)';
      st.tasks.splice(t, 1);
      say(`exit ${who}`);
      p.exit();
      return desc(st);
    }
    case 'unpin': {
      if (!st.pinned) return 'unpin skipped (nothing pinned)';
      st.pinned = false;
      say(`unpin ${who}`);
      p.ioctl(task.gup, U.PIN_LONGTERM_TEST_STOP);
      return desc(st);
    }
    case 'mthp': {
      const kb = (MTHP_KB as readonly number[]).includes(num(o, 'kb')) ? num(o, 'kb') : 2048;
      const mode = String(o.mode);
      say(`hugepages-${kb}kB/enabled = ${mode}`);
      st.k.writeSysfs(`/sys/kernel/mm/transparent_hugepage/hugepages-${kb}kB/enabled`, mode);
      return desc(st);
    }
    case 'memfd': {
      const mine = [...task.memfds];
      if (mine.length === 0) return 'memfd skipped (none in this process)';
      const fd = mine[mod(num(o, 'fd'), mine.length)]!;
      const how = mod(num(o, 'how'), 4);
      const off = num(o, 'off');
      say(`memfd ${fd} op ${how} ${who}`);
      if (how === 0) p.pwrite(fd, new Uint8Array(64).fill(num(o, 'byte') & 0xff), 64, off * PAGE);
      else if (how === 1) p.pread(fd, new Uint8Array(64), 64, off * PAGE);
      else if (how === 2) p.fallocate(fd, U.FALLOC_FL_PUNCH_HOLE | U.FALLOC_FL_KEEP_SIZE, off * PAGE, num(o, 'len') * PAGE);
      else p.fallocate(fd, 0, 0, num(o, 'len') * PAGE);
      return desc(st);
    }
    case 'junk':
      return junk(st, task, o);
    case 'uffd-register':
    case 'uffd-unregister':
      return uffdOp(st, task, o, region());
    case 'uring-register':
    case 'uring-io':
    case 'uring-unregister':
      return uringOp(st, task, o, region());
    case 'vfio-map':
    case 'vfio-dma':
    case 'vfio-unmap':
      return vfioOp(st, task, o, region());
    case 'kvm-create':
    case 'kvm-convert':
    case 'kvm-run':
      return kvmOp(st, task, o, region());
    default:
      return `skipped (unknown operation ${JSON.stringify(o.op)})`;
  }
}

const desc = (st: SoakState): string => st.desc;

function regionOp(st: SoakState, task: Task, o: SoakOp): string {
  const p = task.p;
  if (task.regions.length === 0) return `${o.op} skipped (no region)`;
  const r = task.regions[mod(num(o, 'r'), task.regions.length)]!;
  const page = mod(num(o, 'page'), r.pages);
  const at = r.addr + page * PAGE;
  const where = `page ${page} of ${r.kind} ${hex(r.addr)} (pid ${p.pid})`;
  const say = (d: string): string => (st.desc = d);
  switch (o.op) {
    case 'write': {
      const byte = num(o, 'byte') & 0xff || 1;
      say(`write ${hex(byte)} to ${where}`);
      // A write that faults leaves the shadow as it was.
      p.fill(at, PAGE, byte);
      if (r.shadow !== null) r.shadow[page] = byte;
      return st.desc;
    }
    case 'read': {
      say(`read ${where}`);
      const got = p.read(at, 1)[0]!;
      if (r.shadow !== null && got !== r.shadow[page]) throw new SoakCheckFailure(`read ${hex(got)} from ${where}, the shadow says ${hex(r.shadow[page]!)}`);
      return st.desc;
    }
    case 'madvise': {
      const advice = num(o, 'advice');
      const len = Math.min(r.pages - page, Math.max(1, num(o, 'pages'))) * PAGE;
      say(`madvise ${advice} ${len / PAGE} pages from ${where}`);
      p.madvise(at, len, advice);
      // What reads back after DONTNEED, FREE, REMOVE depends on the advice and the memory: drop the shadow there.
      if (r.shadow !== null && [U.MADV_DONTNEED, U.MADV_FREE, U.MADV_REMOVE].includes(advice)) r.shadow = null;
      if (advice === U.MADV_DONTFORK || advice === U.MADV_WIPEONFORK) r.forkOdd = true;
      return st.desc;
    }
    case 'mprotect': {
      const prot = num(o, 'prot');
      say(`mprotect ${prot} ${r.kind} ${hex(r.addr)} (pid ${p.pid})`);
      p.mprotect(r.addr, r.pages * PAGE, prot);
      return st.desc;
    }
    case 'munmap':
      task.regions.splice(task.regions.indexOf(r), 1);
      say(`munmap ${r.kind} ${hex(r.addr)} (pid ${p.pid})`);
      p.munmap(r.addr, r.pages * PAGE);
      return st.desc;
    case 'mremap': {
      if (r.kind.startsWith('hugetlb')) return 'mremap skipped (hugetlb)';
      const grow = Math.max(1, Math.min(1200, num(o, 'pages')));
      say(`mremap ${r.kind} ${hex(r.addr)} to ${grow} pages (pid ${p.pid})`);
      const to = p.mremap(r.addr, r.pages * PAGE, grow * PAGE, U.MREMAP_MAYMOVE);
      const shadow = r.shadow === null ? null : new Uint8Array(grow);
      if (shadow !== null) shadow.set(r.shadow!.subarray(0, Math.min(grow, r.pages)));
      r.addr = to;
      r.pages = grow;
      r.shadow = shadow;
      return `mremap ${r.kind} to ${grow} pages at ${hex(to)} (pid ${p.pid})`;
    }
    case 'gup': {
      const req = GUP_REQUESTS[mod(num(o, 'req'), GUP_REQUESTS.length)]!;
      let gupFlags = 0;
      GUP_FLAGS.forEach((f, b) => {
        if (num(o, 'flags') & (1 << b)) gupFlags |= f;
      });
      const size = Math.min(r.pages - page, Math.max(1, num(o, 'pages'))) * PAGE;
      say(`gup_test ${hex(req)} gup_flags ${hex(gupFlags)} ${size / PAGE} pages from ${where}`);
      // References only: nothing is written, so the shadow stands (a FOLL_WRITE/FOLL_FORCE GUP breaks COW, keeping the bytes).
      p.ioctl(task.gup, req, { addr: at, size, nr_pages_per_call: Math.max(1, num(o, 'per')), gup_flags: gupFlags, test_flags: num(o, 'dump') === 1 ? U.GUP_TEST_FLAG_DUMP_PAGES_USE_PIN : 0, which_pages: [0, 1, 0, 0, 0, 0, 0, 0] });
      return st.desc;
    }
    case 'pin': {
      if (st.pinned) return 'pin skipped (one pin at a time)';
      const flags = num(o, 'flags');
      say(`pin ${flags} ${where}`);
      p.ioctl(task.gup, U.PIN_LONGTERM_TEST_START, { addr: at, size: Math.min(4, r.pages - page) * PAGE, flags });
      st.pinned = true;
      return st.desc;
    }
    default:
      return 'skipped';
  }
}

function junk(st: SoakState, task: Task, o: SoakOp): string {
  const p = task.p;
  const call = mod(num(o, 'call'), 6);
  const addr = JUNK_ADDR[mod(num(o, 'a'), JUNK_ADDR.length)]!;
  const len = JUNK_LEN[mod(num(o, 'l'), JUNK_LEN.length)]!;
  const n = num(o, 'n');
  st.desc = `junk ${call} (pid ${p.pid})`;
  // Junk addresses and lengths no call can use, so junk never changes what the shadow tracks.
  if (call === 0) p.madvise(addr, len, n);
  else if (call === 1) p.mmap(addr, len, mod(n, 16), (num(o, 'm') & 0x1fffff) | U.MAP_FIXED, n - 2, len);
  else if (call === 2) p.mprotect(addr, len, n);
  else if (call === 3) p.ioctl(task.gup, num(o, 'm'), { addr, size: len, flags: mod(n, 8) });
  else if (call === 4) p.munmap(addr, len);
  else {
    // A subsystem request with junk in its struct, to whichever of the process's descriptors.
    const fds = [task.uffd, task.ring, task.vfio, task.vm?.fd ?? -1, task.vm?.vcpu ?? -1, task.vm?.gmem ?? -1, task.gup].filter((f) => f >= 0);
    const fd = fds[mod(n, fds.length)]!;
    const req = JUNK_IOCTLS[mod(num(o, 'req'), JUNK_IOCTLS.length)]!;
    st.desc = `junk ioctl ${hex(req)} on fd ${fd} (pid ${p.pid})`;
    p.ioctl(fd, req, { range: { start: addr, len }, dst: addr, src: addr, len, mode: n, argsz: mod(n, 40), flags: n, vaddr: addr, iova: addr, size: len, slot: n, guest_phys_addr: addr, memory_size: len, userspace_addr: addr, address: addr, attributes: n });
  }
  return st.desc;
}

function uffdOp(st: SoakState, task: Task, o: SoakOp, r: Region | null): string {
  const p = task.p;
  if (o.op === 'uffd-unregister') {
    if (task.uffd < 0) return 'uffd-unregister skipped (none)';
    st.desc = `close userfaultfd ${task.uffd} (pid ${p.pid})`;
    const fd = task.uffd;
    task.uffd = -1;
    p.close(fd);
    if (task.zeroes >= 0) p.munmap(task.zeroes, HPAGE);
    task.zeroes = -1;
    return st.desc;
  }
  if (r === null) return 'uffd-register skipped (no region)';
  if (task.uffd < 0) {
    st.desc = `userfaultfd (pid ${p.pid})`;
    const fd = p.userfaultfd(U.O_CLOEXEC | U.O_NONBLOCK);
    try {
      p.ioctl(fd, U.UFFDIO_API, { api: U.UFFD_API, features: U.UFFD_FEATURE_MINOR_HUGETLBFS | U.UFFD_FEATURE_MINOR_SHMEM, ioctls: 0 });
    } catch (e) {
      closeQuietly(p, fd);
      throw e;
    }
    // The monitor's source of zeroes: never written, so every page of it reads 0 (unmapped with the userfaultfd).
    if (task.zeroes < 0) task.zeroes = p.mmap(0, HPAGE, U.PROT_READ, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
    p.userfaultfd_monitor(fd, monitorOf(p, fd, task.zeroes));
    task.uffd = fd;
  }
  // MINOR only where the page cache is the guest's memory (shmem, hugetlbfs); anonymous memory refuses it (EINVAL).
  const minor = num(o, 'minor') === 1;
  st.desc = `UFFDIO_REGISTER ${minor ? 'MINOR' : 'MISSING'} ${r.kind} ${hex(r.addr)} ${r.pages} pages (pid ${p.pid})`;
  p.ioctl(task.uffd, U.UFFDIO_REGISTER, { range: { start: r.addr, len: r.pages * PAGE }, mode: minor ? U.UFFDIO_REGISTER_MODE_MINOR : U.UFFDIO_REGISTER_MODE_MISSING, ioctls: 0 });
  return st.desc;
}

function uringOp(st: SoakState, task: Task, o: SoakOp, r: Region | null): string {
  const p = task.p;
  if (o.op === 'uring-unregister') {
    if (task.ringBuf === null) return 'uring-unregister skipped (nothing registered)';
    st.desc = `IORING_UNREGISTER_BUFFERS (pid ${p.pid})`;
    task.ringBuf = null;
    p.io_uring_register(task.ring, U.IORING_UNREGISTER_BUFFERS, null, 0);
    return st.desc;
  }
  if (o.op === 'uring-io') {
    const b = task.ringBuf;
    const mine = [...task.memfds];
    if (b === null || mine.length === 0) return 'uring-io skipped (no buffer or no memfd)';
    const fd = mine[mod(num(o, 'fd'), mine.length)]!;
    const write = num(o, 'write') === 1;
    st.desc = `${write ? 'WRITE_FIXED' : 'READ_FIXED'} memfd ${fd} <-> ${b.len / PAGE} pages at ${hex(b.addr)} (pid ${p.pid})`;
    if (write) p.io_uring_write_fixed(task.ring, fd, b.addr, b.len, num(o, 'off') * PAGE, 0);
    else {
      // The read lands in the pinned pages, whatever the process maps now.
      b.region.shadow = null;
      p.io_uring_read_fixed(task.ring, fd, b.addr, b.len, num(o, 'off') * PAGE, 0);
    }
    return st.desc;
  }
  if (r === null) return 'uring-register skipped (no region)';
  if (task.ringBuf !== null) return 'uring-register skipped (already registered)';
  if (task.ring < 0) {
    st.desc = `io_uring_setup (pid ${p.pid})`;
    task.ring = p.io_uring_setup(4, {});
  }
  const page = mod(num(o, 'page'), r.pages);
  const len = Math.min(r.pages - page, Math.max(1, num(o, 'pages'))) * PAGE;
  const addr = r.addr + page * PAGE;
  st.desc = `IORING_REGISTER_BUFFERS ${len / PAGE} pages at ${hex(addr)} of ${r.kind} (pid ${p.pid})`;
  p.io_uring_register(task.ring, U.IORING_REGISTER_BUFFERS, [{ iov_base: addr, iov_len: len }], 1);
  task.ringBuf = { addr, len, region: r };
  return st.desc;
}

function vfioOp(st: SoakState, task: Task, o: SoakOp, r: Region | null): string {
  const p = task.p;
  if (o.op === 'vfio-unmap') {
    if (task.dma === null) return 'vfio-unmap skipped (nothing mapped)';
    st.desc = `VFIO_IOMMU_UNMAP_DMA (pid ${p.pid})`;
    const d = task.dma;
    task.dma = null;
    p.ioctl(task.vfio, U.VFIO_IOMMU_UNMAP_DMA, { argsz: 24, flags: 0, iova: d.iova, size: d.len });
    return st.desc;
  }
  if (o.op === 'vfio-dma') {
    const d = task.dma;
    if (d === null) return 'vfio-dma skipped (nothing mapped)';
    const write = num(o, 'write') === 1;
    st.desc = `device DMA ${write ? 'write' : 'read'} of ${d.len / PAGE} pages (pid ${p.pid})`;
    // A device write lands in the pinned pages, whatever the process maps now.
    if (write) d.region.shadow = null;
    p.ioctl(task.vfio, write ? U.VFIO_MODEL_DMA_WRITE : U.VFIO_MODEL_DMA_READ, { iova: d.iova, len: d.len, buf: new Uint8Array(d.len).fill(num(o, 'byte') & 0xff) });
    return st.desc;
  }
  if (r === null) return 'vfio-map skipped (no region)';
  if (task.dma !== null) return 'vfio-map skipped (already mapped)';
  if (task.vfio < 0) {
    st.desc = `open ${U.VFIO_CONTAINER_PATH} (pid ${p.pid})`;
    const fd = p.open(U.VFIO_CONTAINER_PATH, U.O_RDWR);
    try {
      p.ioctl(fd, U.VFIO_SET_IOMMU, U.VFIO_TYPE1v2_IOMMU);
    } catch (e) {
      closeQuietly(p, fd);
      throw e;
    }
    task.vfio = fd;
  }
  const page = mod(num(o, 'page'), r.pages);
  const len = Math.min(r.pages - page, Math.max(1, num(o, 'pages'))) * PAGE;
  const addr = r.addr + page * PAGE;
  st.desc = `VFIO_IOMMU_MAP_DMA ${len / PAGE} pages at ${hex(addr)} of ${r.kind} (pid ${p.pid})`;
  p.ioctl(task.vfio, U.VFIO_IOMMU_MAP_DMA, { argsz: 32, flags: U.VFIO_DMA_MAP_FLAG_READ | U.VFIO_DMA_MAP_FLAG_WRITE, vaddr: addr, iova: 0, size: len });
  task.dma = { iova: 0, len, region: r };
  return st.desc;
}

function kvmOp(st: SoakState, task: Task, o: SoakOp, r: Region | null): string {
  const p = task.p;
  if (o.op === 'kvm-create') {
    if (task.vm !== null) return 'kvm-create skipped (one VM per process)';
    if (r === null || r.pages < SLOT_PAGES) return 'kvm-create skipped (no region of 16 pages)';
    st.desc = `KVM_CREATE_VM SW_PROTECTED over ${r.kind} ${hex(r.addr)} (pid ${p.pid})`;
    const made: number[] = [];
    try {
      const kvm = p.open('/dev/kvm', U.O_RDWR);
      made.push(kvm);
      const fd = p.ioctl(kvm, U.KVM_CREATE_VM, U.KVM_X86_SW_PROTECTED_VM) as number;
      made.push(fd);
      // A kernel with HugeTLB-backed guest_memfd (the 1 GiB series) gets one 2 MiB page where the region
      // can back a 2 MiB slot; any other takes 16 order-0 pages.
      let pages = SLOT_PAGES;
      let gmem = -1;
      if (r.pages >= HUGE_SLOT_PAGES) {
        try {
          gmem = p.ioctl(fd, U.KVM_CREATE_GUEST_MEMFD, { size: HPAGE, flags: U.GUEST_MEMFD_FLAG_HUGETLB | U.GUESTMEM_HUGETLB_FLAG_2MB }) as number;
          pages = HUGE_SLOT_PAGES;
        } catch (e) {
          if (!(e instanceof SyscallError)) throw e;
        }
      }
      if (gmem < 0) gmem = p.ioctl(fd, U.KVM_CREATE_GUEST_MEMFD, { size: SLOT_PAGES * PAGE, flags: 0 }) as number;
      made.push(gmem);
      st.desc = `KVM_CREATE_VM SW_PROTECTED, guest_memfd of ${pages} pages, over ${r.kind} ${hex(r.addr)} (pid ${p.pid})`;
      p.ioctl(fd, U.KVM_SET_USER_MEMORY_REGION2, { slot: 0, flags: U.KVM_MEM_GUEST_MEMFD, guest_phys_addr: GPA, memory_size: pages * PAGE, userspace_addr: r.addr, guest_memfd: gmem, guest_memfd_offset: 0 });
      const vcpu = p.ioctl(fd, U.KVM_CREATE_VCPU, 0) as number;
      p.close(kvm);
      // With in-place conversion a new file's pages start private: make them all shared, as the VM's
      // attributes start elsewhere (the file has no such request then: ENOTTY).
      let inPlace = true;
      try {
        p.ioctl(gmem, U.KVM_SET_MEMORY_ATTRIBUTES2, { offset: 0, size: pages * PAGE, attributes: 0, flags: 0, error_offset: 0 });
      } catch (e) {
        if (!(e instanceof SyscallError) || e.code !== 'ENOTTY') throw e;
        inPlace = false;
      }
      task.vm = { fd, vcpu, gmem, hva: r.addr, region: r, pages, priv: new Uint8Array(pages), gshadow: new Int16Array(pages), inPlace };
    } catch (e) {
      for (const fd of made.reverse()) closeQuietly(p, fd);
      throw e;
    }
    return st.desc;
  }
  const vm = task.vm;
  if (vm === null) return `${o.op} skipped (no VM)`;
  const page = mod(num(o, 'page'), vm.pages);
  const gpa = GPA + page * PAGE;
  if (o.op === 'kvm-convert') {
    const priv = num(o, 'priv') === 1;
    const attributes = priv ? U.KVM_MEMORY_ATTRIBUTE_PRIVATE : 0;
    if (vm.inPlace) {
      // In-place conversion (v8) keeps the attributes in the file.
      st.desc = `KVM_SET_MEMORY_ATTRIBUTES2 offset ${hex(page * PAGE)} ${priv ? 'private' : 'shared'} (pid ${p.pid})`;
      p.ioctl(vm.gmem, U.KVM_SET_MEMORY_ATTRIBUTES2, { offset: page * PAGE, size: PAGE, attributes, flags: 0, error_offset: 0 });
    } else {
      st.desc = `KVM_SET_MEMORY_ATTRIBUTES gfn ${hex(gpa / PAGE)} ${priv ? 'private' : 'shared'} (pid ${p.pid})`;
      p.ioctl(vm.fd, U.KVM_SET_MEMORY_ATTRIBUTES, { address: gpa, size: PAGE, attributes, flags: 0 });
    }
    vm.priv[page] = priv ? 1 : 0;
    // Whether a guest_memfd page keeps its bytes across a round trip is not what the soak checks.
    vm.gshadow[page] = -1;
    return st.desc;
  }
  // kvm-run: one guest access at the page, through the stage-2 MMU.
  const write = num(o, 'write') === 1;
  const byte = num(o, 'byte') & 0xff || 1;
  const priv = vm.priv[page] === 1;
  st.desc = `KVM_RUN: guest ${write ? `writes ${hex(byte)} to` : 'reads'} ${priv ? 'private' : 'shared'} gpa ${hex(gpa)} (pid ${p.pid})`;
  // The host page behind a shared gfn is the slot's hva; the shadow knows it only while the slot's region is still there.
  const r0 = vm.region;
  const exact = !priv && task.regions.includes(r0) && r0.addr === vm.hva && r0.pages >= vm.pages;
  p.kvm_vcpu_guest(
    vm.vcpu,
    (function* () {
      if (write) yield* G.writeU8(gpa, byte);
      else yield* G.GUEST_SYNC(yield* G.readU8(gpa));
      yield* G.GUEST_DONE();
    })(),
  );
  if (write && !priv && !exact) dropShadowAt(task, vm.hva, vm.pages * PAGE);
  if (write && priv) vm.gshadow[page] = -1;
  p.ioctl(vm.vcpu, U.KVM_RUN, 0);
  const run = p.kvm_run(vm.vcpu);
  if (write) {
    if (priv) vm.gshadow[page] = byte;
    else if (exact && r0.shadow !== null) r0.shadow[page] = byte;
    return st.desc;
  }
  const got = run.ucall !== null && run.ucall.cmd === G.UCALL_SYNC ? Number(run.ucall.args[0]) : null;
  if (got === null) return `${st.desc}: exit ${run.exit_reason}`;
  const want = priv ? vm.gshadow[page]! : exact && r0.shadow !== null ? r0.shadow[page]! : -1;
  if (want >= 0 && got !== want) throw new SoakCheckFailure(`guest read ${hex(got)} from ${priv ? 'private' : 'shared'} gpa ${hex(gpa)}, the shadow says ${hex(want)}`);
  return st.desc;
}
