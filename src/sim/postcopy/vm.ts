/**
 * The destination VM of a post-copy live migration on HugeTLB memory, as QEMU
 * sets it up for userfaultfd MINOR faults (and as HGM's cover letter
 * describes the flow, ../shared/reference/hugetlb_hgm.md §3 "uAPI history"):
 *
 *   - guest memory is a HugeTLB memfd (1 GiB or 2 MiB pages), its pages
 *     allocated up front (fallocate): they are in the page cache, so a guest
 *     access to a page not yet mapped is a MINOR fault;
 *   - two MAP_SHARED views: the primary (the guest's, registered MINOR with a
 *     userfaultfd; MADV_SPLIT first when HGM is on) and an alias the monitor
 *     writes received pages through before UFFDIO_CONTINUE maps them;
 *   - a secondary MMU (stage2.ts) subscribed to the VMM's mm;
 *   - the migration link (link.ts): demand fetches on one channel, the
 *     background pre-fetch on its own (QEMU's postcopy-preempt).
 *
 * The actors share this object: vCPUs (actors/guest.ts) report faults and
 * wait on `faults`; monitor threads (actors/postcopy.ts) take requests, fetch,
 * place and wake; the collapser (actors/collapser.ts) waits on `progress` for
 * complete pieces and opens the stall window an invalidating collapse makes.
 * Which pages are placed is kept as extent sets (state grows with runs of
 * pages, not with memory).
 */
import type { z } from 'zod';
import { ExtentSet } from '../../lib/extent_set.js';
import type { Kernel } from '../../kernel.js';
import type { Process } from '../../process.js';
import { SyscallError } from '../../uapi/errors.js';
import { MFD_HUGETLB, MFD_HUGE_1GB, MFD_HUGE_2MB } from '../../uapi/memfd.js';
import { MAP_SHARED, PROT_READ, PROT_WRITE } from '../../uapi/mman.js';
import { UFFDIO_API, UFFDIO_CONTINUE, UFFDIO_REGISTER, UFFDIO_REGISTER_MODE_MINOR, UFFD_API, UFFD_FEATURE_MINOR_HUGETLBFS } from '../../uapi/userfaultfd.js';
import { WaitQueue } from '../engine.js';
import { amount, duration, flag, name, obj, oneOf, pageSize } from '../scenario/types.js';
import { Link } from './link.js';
import { covered } from './ranges.js';
import { Stage2 } from './stage2.js';

const PAGE = 4096;
const MiB2 = 2 ** 21;
const GiB = 2 ** 30;
/** MADV_SPLIT (HGM v1/v2, never merged): 26 on x86-64. */
export const MADV_SPLIT = 26;
/** The byte the source's pages hold (the destination's are zero until placed). */
export const SOURCE_BYTE = 0xa5;

export const VmSpec = obj(
  {
    name: name('the VM name (actors name it as their region)'),
    process: name('the VMM process'),
    memory: pageSize('the guest memory size'),
    /** The HugeTLB page size backing guest memory (the kernel needs a pool of it). */
    hugePage: oneOf(['2MiB', '1GiB'], 'the HugeTLB page size'),
    /** MADV_SPLIT the primary view: HugeTLB high-granularity mapping, so faults and UFFDIO_CONTINUE work at 4 KiB. */
    split: flag('MADV_SPLIT (HGM) on the primary view'),
    /** The migration link: round trip, and bandwidth in GB/s, of the demand channel. */
    rtt: duration('the link round-trip time'),
    bandwidth: amount('the link bandwidth in GB/s'),
    /** Bandwidth of the background pre-fetch channel, GB/s (default: as the demand channel). */
    prefetchBandwidth: amount('the pre-fetch channel bandwidth in GB/s').optional(),
  },
  'a post-copy destination VM on HugeTLB memory',
);
export type VmSpec = z.output<typeof VmSpec>;

/** A piece of guest memory fetched from the source: [off, off + len) of the memfd. */
export interface Piece {
  readonly off: number;
  readonly len: number;
  /** When it was asked for. */
  readonly asked: number;
  /** When its last byte arrives. */
  readonly arrives: number;
}

export class PostcopyVm {
  readonly proc: Process;
  readonly size: number;
  readonly hpage: number;
  readonly primary: number;
  readonly alias: number;
  readonly uffd: number;
  /** The memfd (kept open: truncate and punch-hole work on it). */
  readonly fd: number;
  /** MADV_SPLIT succeeded: 4 KiB faults and CONTINUE. */
  readonly hgm: boolean;
  /** Why the kernel refused the design's setup (MADV_SPLIT's errno), or null. */
  readonly refused: string | null;
  readonly stage2: Stage2;
  readonly link: Link;
  readonly prefetchLink: Link;
  /** Pages (4 KiB page numbers of the memfd) mapped in the primary view. */
  readonly placed = new ExtentSet();
  /** Pages asked for or being fetched (placed ones included). */
  readonly requested = new ExtentSet();
  /** Demand fetches on their way or arrived, not yet placed by a monitor thread, in arrival order (the link is FIFO). */
  readonly demand: Piece[] = [];
  /** 2 MiB chunks that were mapped piece by piece (with HGM): candidates for a 2 MiB collapse. */
  readonly mixedChunks = new Set<number>();
  /** Pages placed per 2 MiB chunk and per huge page (by index), so completion is known without walking the extents. */
  private readonly placedPerChunk = new Map<number, number>();
  private readonly placedPerHpage = new Map<number, number>();
  /** Pieces that became complete, in order: 2 MiB chunks mapped piece by piece, and whole huge pages (memfd offset and length). */
  readonly completed: { off: number; len: number }[] = [];
  /** vCPUs waiting for a piece. */
  readonly faults = new WaitQueue();
  /** Monitor threads waiting for work. */
  readonly work = new WaitQueue();
  /** The collapser waiting for complete pieces. */
  readonly progress = new WaitQueue();
  /** vCPUs waiting for an invalidating collapse to end. */
  readonly stall = new WaitQueue();
  /** The range an invalidating collapse has taken from the secondary MMU, until the collapse ends. */
  invalidating: { start: number; end: number } | null = null;
  /** The next pre-fetch position (memfd offset). */
  private prefetchAt = 0;

  constructor(spec: VmSpec, k: Kernel, proc: Process) {
    this.proc = proc;
    this.size = spec.memory;
    this.hpage = spec.hugePage === '1GiB' ? GiB : MiB2;
    const p = proc;
    const fd = (this.fd = p.memfd_create(spec.name, MFD_HUGETLB | (this.hpage === GiB ? MFD_HUGE_1GB : MFD_HUGE_2MB)));
    p.ftruncate(fd, this.size);
    p.fallocate(fd, 0, 0, this.size);
    const RW = PROT_READ | PROT_WRITE;
    this.primary = p.mmap(0, this.size, RW, MAP_SHARED, fd, 0);
    this.alias = p.mmap(0, this.size, RW, MAP_SHARED, fd, 0);
    this.uffd = p.userfaultfd(0);
    p.ioctl(this.uffd, UFFDIO_API, { api: UFFD_API, features: BigInt(UFFD_FEATURE_MINOR_HUGETLBFS), ioctls: 0n });
    let refused: string | null = null;
    if (spec.split === true) {
      try {
        p.madvise(this.primary, this.size, MADV_SPLIT);
      } catch (e) {
        if (!(e instanceof SyscallError)) throw e;
        refused = `MADV_SPLIT: ${e.message}`;
      }
    }
    this.hgm = spec.split === true && refused === null;
    this.refused = refused;
    p.ioctl(this.uffd, UFFDIO_REGISTER, { range: { start: this.primary, len: this.size }, mode: UFFDIO_REGISTER_MODE_MINOR, ioctls: 0n });
    this.stage2 = new Stage2(k, p);
    this.stage2.onInvalidate = (start, end) => {
      if (end > this.primary && start < this.primary + this.size) this.invalidating = { start, end };
    };
    this.link = new Link(spec.rtt, spec.bandwidth);
    this.prefetchLink = new Link(spec.rtt, spec.prefetchBandwidth ?? spec.bandwidth);
  }

  /** The granule of a fault and of a demand fetch: 4 KiB with HGM, else the huge page. */
  get granule(): number {
    return this.hgm ? PAGE : this.hpage;
  }

  isPlaced(addr: number): boolean {
    return this.placed.has(Math.floor((addr - this.primary) / PAGE));
  }

  /**
   * A vCPU's fault at primary address `addr` (the uffd message's address) at
   * time t: unless its piece is on its way, the monitor's fault thread asks the
   * source for it at once (QEMU sends the request, and a receiver places the
   * page when it arrives).
   */
  request(addr: number, t: number): void {
    const g = this.granule;
    const off = Math.floor((addr - this.primary) / g) * g;
    if (this.requested.has(off / PAGE)) return;
    this.requested.union(off / PAGE, (off + g) / PAGE);
    this.demand.push({ off, len: g, asked: t, arrives: this.link.fetch(t, g) });
    this.work.wake();
  }

  /** The next background piece, asked for at t on the pre-fetch channel: the first run of unrequested pages of the next 2 MiB chunk (or huge page); null when all is asked for. */
  nextPrefetch(t: number): Piece | null {
    const chunk = Math.max(MiB2, this.hpage === GiB && !this.hgm ? GiB : MiB2);
    while (this.prefetchAt < this.size) {
      const lo = this.prefetchAt / PAGE;
      const hi = (this.prefetchAt + chunk) / PAGE;
      if (covered(this.requested, lo, hi) === hi - lo) {
        this.prefetchAt += chunk;
        continue;
      }
      // The first gap.
      let at = lo;
      let gapEnd = hi;
      let found = false;
      this.requested.forEach((x, y) => {
        if (found) return;
        if (x > at) {
          gapEnd = x;
          found = true;
          return;
        }
        at = y;
      }, lo, hi);
      if (!found) gapEnd = hi;
      this.requested.union(at, gapEnd);
      const len = (gapEnd - at) * PAGE;
      return { off: at * PAGE, len, asked: t, arrives: this.prefetchLink.fetch(t, len) };
    }
    return null;
  }

  /**
   * Place a fetched piece: write it through the alias, UFFDIO_CONTINUE it on
   * the primary view (waking the vCPUs waiting there), and let stage 2 map it
   * at the host leaf's size. Returns the ioctl's detail for the timeline.
   */
  place(piece: Piece): string {
    const p = this.proc;
    p.fill(this.alias + piece.off, piece.len, SOURCE_BYTE);
    const arg = { range: { start: this.primary + piece.off, len: piece.len }, mode: 0, mapped: 0 };
    p.ioctl(this.uffd, UFFDIO_CONTINUE, arg);
    // Count the newly placed pages per 2 MiB chunk (small ranges: cheap to measure) before adding them.
    const fresh: [number, number][] = [];
    for (let c = Math.floor(piece.off / MiB2); c * MiB2 < piece.off + piece.len; c++) {
      const lo = Math.max(piece.off, c * MiB2) / PAGE;
      const hi = Math.min(piece.off + piece.len, (c + 1) * MiB2) / PAGE;
      const n = hi - lo - covered(this.placed, lo, hi);
      if (n > 0) fresh.push([c, n]);
    }
    this.placed.union(piece.off / PAGE, (piece.off + piece.len) / PAGE);
    const leaf = p.pagemap(this.primary + piece.off).mappedBy;
    if (piece.len < MiB2 || leaf < this.hpage) {
      for (let c = Math.floor(piece.off / MiB2); c * MiB2 < piece.off + piece.len; c++) if (leaf < MiB2) this.mixedChunks.add(c);
    }
    this.stage2.map(this.primary + alignDown(piece.off, leaf), alignUp(piece.off + piece.len, leaf) - alignDown(piece.off, leaf), leaf);
    // What this piece completed: the mixed 2 MiB chunks it touched, then its huge page.
    const perChunk = MiB2 / PAGE;
    const perHpage = this.hpage / PAGE;
    const hpages: number[] = [];
    for (const [c, n] of fresh) {
      const inChunk = (this.placedPerChunk.get(c) ?? 0) + n;
      this.placedPerChunk.set(c, inChunk);
      if (inChunk === perChunk && this.hpage > MiB2 && this.mixedChunks.has(c)) this.completed.push({ off: c * MiB2, len: MiB2 });
      const h = Math.floor((c * MiB2) / this.hpage);
      const inHpage = (this.placedPerHpage.get(h) ?? 0) + n;
      this.placedPerHpage.set(h, inHpage);
      if (inHpage === perHpage) hpages.push(h);
    }
    for (const h of hpages) this.completed.push({ off: h * this.hpage, len: this.hpage });
    this.faults.wake();
    this.progress.wake();
    return `${fmtLen(piece.len)} at +0x${piece.off.toString(16)}, mapped by ${fmtLen(leaf)} leaves`;
  }

  /** The VMM's page-table bytes (mm->pgtables_bytes, its VmPTE). */
  pageTableBytes(): number {
    return this.proc.mm?.pgtablesBytes ?? 0;
  }

  /** KVM's EPT fault on a page the host maps: stage 2 maps it at the host leaf's size. */
  stage2Fault(addr: number): void {
    const leaf = this.proc.pagemap(addr).mappedBy;
    this.stage2.map(alignDown(addr - this.primary, leaf) + this.primary, leaf, leaf);
  }

  /** Is addr inside the range an invalidating collapse holds? */
  stalled(addr: number): boolean {
    const r = this.invalidating;
    return r !== null && addr >= r.start && addr < r.end;
  }
}

function alignDown(x: number, a: number): number {
  return Math.floor(x / a) * a;
}

function alignUp(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

function fmtLen(n: number): string {
  return n % GiB === 0 ? `${n / GiB} GiB` : n % 2 ** 20 === 0 ? `${n / 2 ** 20} MiB` : `${n / 1024} KiB`;
}
