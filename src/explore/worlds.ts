/**
 * The tiny configurations `foliosim explore` searches exhaustively, each
 * around a race the seeds argue about:
 *
 *   pin-fork      (seeds 002/003) one process with one 64 KiB mTHP folio,
 *                 a fork and an exit, and one long-term R/O pin holder
 *                 (gup_test): a pin taken before or after fork, writes by
 *                 either process, DONTNEED, mprotect. Besides the oracle, a
 *                 user-visible rule: while the pin is held and the page was
 *                 not zapped, the parent maps the very page the pin holds
 *                 (cow.c's "R/O longterm pin is reliable").
 *   hgm-truncate  (seed 004) one 2 MiB HugeTLB page mapped through HGM in a
 *                 MINOR-registered view and whole in an alias: 4 KiB and
 *                 whole CONTINUEs, writes, punch hole, truncate and regrow,
 *                 MADV_COLLAPSE, DONTNEED, fork. Run per mapcount design;
 *                 pgtable's flaw (hgm-mapcount-after-truncate) is a known
 *                 finding.
 *   gmem-convert  (seeds 000/001) a guest on one 2 MiB HugeTLB-backed
 *                 guest_memfd page with in-place conversion (v8) under
 *                 policy gmemHugeShared: host writes through its mmap, a
 *                 long-term pin, conversions of two 4 KiB pages, guest
 *                 reads and writes, punch hole; per design, all four
 *                 (separate-shared: the host's view is the VMM's memfd).
 *                 Besides the oracle: a pinned page is never private (the
 *                 conversion must refuse; not for separate-shared, whose
 *                 pins hold the memfd's page, discarded on conversion).
 *
 *   collapse-fault (seed 004) a guest on a 2 MiB HugeTLB page mapped through
 *                 HGM: a vCPU fault in two halves (pfn resolved, then the
 *                 leaf set or the fault retried) with MADV_COLLAPSE, CONTINUE
 *                 and DONTNEED between them, per mapcount design and collapse
 *                 notifier. Besides the oracle: no stale stage-2 leaf.
 *
 * The model's fork is one step, so "a pin taken between fork's check and
 * its copy" is covered as the two orders around it, not inside it.
 */
import { Kernel, type KernelOptions } from '../kernel.js';
import { Level, PAGE_SIZE, tableIndex } from '../mm/page.js';
import { Pte, tableLookup } from '../mm/pgtable.js';
import type { Process } from '../process.js';
import * as U from '../uapi/index.js';
import { GUEST_SYNC, readU8, writeU8 } from '../kvm/guest.js';
import type { ExploreOp, ExploreWorld } from './engine.js';
import { type PendingTdpFault, kvmS2Translate, kvmTdpPageFaultBegin, kvmTdpPageFaultFinish } from '../kvm/fault.js';
import type { KvmVcpu } from '../kvm/kvm_host.js';
import { vcpuOfFile } from '../kvm/vcpu.js';
import { SyscallError } from '../uapi/errors.js';
import { GMEM_HUGE_SHARED } from '../policy/registry.js';
import { hgmPostcopyLayout } from '../sim/postcopy/layout.js';

/** The gmemHugeShared designs the model has (all four of issue 8 section 5). */
const GMEM_DESIGNS = [...GMEM_HUGE_SHARED];

const PAGE = PAGE_SIZE;
const RW = U.PROT_READ | U.PROT_WRITE;

/** The leaf entry's bits that change behaviour (present, writable, uffd-wp, huge), 0 if none. */
function leafBits(p: Process, addr: number): number {
  const mm = p.mm;
  if (mm === null) return 0;
  const keep = Pte.PRESENT | Pte.RW | Pte.UFFD_WP | Pte.PSE | Pte.MARKER | Pte.MARKER_POISONED;
  for (const level of [Level.PTE, Level.PMD, Level.PUD]) {
    const t = tableLookup(mm.pgd, addr, level);
    if (t !== null) return t.fl[tableIndex(addr, level)]! & keep;
  }
  return 0;
}

/**
 * What a state shows, independent of which physical pages it got: for each
 * process and page, the entry's bits, the page's content byte and its folio
 * (numbered by first appearance), with each folio's counts.
 */
function fingerprintPages(k: Kernel, procs: readonly (Process | null)[], pages: readonly { base: number; n: number }[], extra: unknown): string {
  const ids = new Map<number, number>();
  const folios: unknown[] = [];
  const rows: unknown[] = [];
  for (const p of procs) {
    if (p === null || p.mm === null) {
      rows.push(null);
      continue;
    }
    for (const { base, n } of pages) {
      for (let i = 0; i < n; i++) {
        const a = base + i * PAGE;
        const e = p.pagemap(a);
        if (!e.present) {
          rows.push([leafBits(p, a)]);
          continue;
        }
        const f = k.folio(e.pfn)!;
        let id = ids.get(f.head);
        if (id === undefined) {
          id = ids.size;
          ids.set(f.head, id);
          folios.push([f.order, f.refcount, f.mapcount, f.entireMapcount, f.pincount, f.flags.filter((x) => x !== 'lru' && x !== 'referenced' && x !== 'active').join(',')]);
        }
        rows.push([leafBits(p, a), id, e.pfn - f.head, f.pageMapcount, e.anonExclusive, k.host.content.pageByte(k.host.pfnFolio(e.pfn), e.pfn - f.head)]);
      }
    }
  }
  return JSON.stringify([rows, folios, extra]);
}

// ---------------------------------------------------------------------------
// pin-fork

interface PinForkState {
  k: Kernel;
  parent: Process;
  child: Process | null;
  gup: number;
  /** The region: 16 pages, one 64 KiB folio once written. */
  mem: number;
  /** The pinned pfn, or -1. */
  pinned: number;
  /** Was page 0 zapped in the parent since the pin (DONTNEED)? */
  zapped: boolean;
}

const PF_PAGES = 16;

function pinForkOps(): ExploreOp<PinForkState>[] {
  const ops: ExploreOp<PinForkState>[] = [];
  const who = (s: PinForkState, c: boolean): Process | null => (c ? s.child : s.parent);
  for (const child of [false, true]) {
    const tag = child ? 'child' : 'parent';
    const live = (s: PinForkState) => who(s, child) !== null;
    for (const page of [0, 5]) {
      ops.push({ name: `${tag}: write page ${page}`, enabled: live, apply: (s) => who(s, child)!.fill(s.mem + page * PAGE, PAGE, child ? 2 : 1) });
    }
    ops.push({ name: `${tag}: read page 0`, enabled: live, apply: (s) => void who(s, child)!.read(s.mem, 1) });
    ops.push({
      name: `${tag}: MADV_DONTNEED pages 0-3`,
      enabled: live,
      apply: (s) => {
        if (!child) s.zapped = true;
        who(s, child)!.madvise(s.mem, 4 * PAGE, U.MADV_DONTNEED);
      },
    });
    ops.push({ name: `${tag}: mprotect read-only`, enabled: live, apply: (s) => who(s, child)!.mprotect(s.mem, PF_PAGES * PAGE, U.PROT_READ) });
    ops.push({ name: `${tag}: mprotect read-write`, enabled: live, apply: (s) => who(s, child)!.mprotect(s.mem, PF_PAGES * PAGE, RW) });
  }
  ops.push({ name: 'fork', enabled: (s) => s.child === null, apply: (s) => void (s.child = s.parent.fork()) });
  ops.push({
    name: 'child: exit',
    enabled: (s) => s.child !== null,
    apply: (s) => {
      s.child!.exit();
      s.child = null;
    },
  });
  ops.push({
    name: 'parent: pin page 0 (long-term, R/O)',
    enabled: (s) => s.pinned < 0,
    apply: (s) => {
      s.parent.ioctl(s.gup, U.PIN_LONGTERM_TEST_START, { addr: s.mem, size: PAGE, flags: 0 });
      s.pinned = s.parent.pagemap(s.mem).pfn;
      s.zapped = false;
    },
  });
  ops.push({
    name: 'unpin',
    enabled: (s) => s.pinned >= 0,
    apply: (s) => {
      s.pinned = -1;
      s.parent.ioctl(s.gup, U.PIN_LONGTERM_TEST_STOP);
    },
  });
  return ops;
}

/** The pin-fork world under the given kernel options (a policy, for instance). */
export function pinForkWorld(options: KernelOptions = {}): ExploreWorld<PinForkState> {
  return {
    name: 'pin-fork',
    description: 'one 64 KiB mTHP folio, fork/exit, one long-term R/O pin (seeds 002/003)',
    ops: pinForkOps(),
    init() {
      const k = new Kernel({ memory: '16MiB', thp: 'never', ...options });
      k.writeSysfs('/sys/kernel/mm/transparent_hugepage/hugepages-64kB/enabled', 'always');
      const parent = k.spawn();
      const gup = parent.open(U.GUP_TEST_PATH, U.O_RDWR);
      // 64 KiB-aligned, so a write fault maps one 64 KiB folio.
      const area = parent.mmap(0, 2 * PF_PAGES * PAGE, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
      const mem = Math.ceil(area / (PF_PAGES * PAGE)) * PF_PAGES * PAGE;
      return { k, parent, child: null, gup, mem, pinned: -1, zapped: false };
    },
    kernel: (s) => s.k,
    fingerprint: (s) => fingerprintPages(s.k, [s.parent, s.child], [{ base: s.mem, n: 6 }], [s.pinned >= 0, s.zapped]),
    check(s) {
      if (s.pinned < 0 || s.zapped) return [];
      const e = s.parent.pagemap(s.mem);
      return e.present && e.pfn !== s.pinned ? ['r/o-pin-unreliable: the parent maps another page than the one its long-term pin holds'] : [];
    },
  };
}

// ---------------------------------------------------------------------------
// hgm-truncate

interface HgmState {
  k: Kernel;
  p: Process;
  child: Process | null;
  fd: number;
  prim: number;
  alias: number;
  uffd: number;
}

const M2 = 2 ** 21;

function hgmOps(): ExploreOp<HgmState>[] {
  return [
    { name: 'CONTINUE 4 KiB at +0', apply: (s) => hgmContinue(s, 0, PAGE) },
    { name: 'CONTINUE 4 KiB at +20 KiB', apply: (s) => hgmContinue(s, 5 * PAGE, PAGE) },
    { name: 'CONTINUE the whole 2 MiB', apply: (s) => hgmContinue(s, 0, M2) },
    { name: 'write through the alias', apply: (s) => s.p.fill(s.alias + 5 * PAGE, PAGE, 7) },
    { name: 'punch the page out (fallocate PUNCH_HOLE)', apply: (s) => s.p.fallocate(s.fd, U.FALLOC_FL_PUNCH_HOLE | U.FALLOC_FL_KEEP_SIZE, 0, M2) },
    {
      name: 'truncate to 0 and back to 2 MiB',
      apply: (s) => {
        s.p.ftruncate(s.fd, 0);
        s.p.ftruncate(s.fd, M2);
      },
    },
    { name: 'MADV_COLLAPSE the view', apply: (s) => s.p.madvise(s.prim, M2, U.MADV_COLLAPSE) },
    { name: 'MADV_DONTNEED the view', apply: (s) => s.p.madvise(s.prim, M2, U.MADV_DONTNEED) },
    { name: 'fork', enabled: (s) => s.child === null, apply: (s) => void (s.child = s.p.fork()) },
    {
      name: 'child: exit',
      enabled: (s) => s.child !== null,
      apply: (s) => {
        s.child!.exit();
        s.child = null;
      },
    },
  ];
}

/**
 * The post-copy layout both HGM worlds start from: a 2 MiB hugetlbfs memfd mapped twice, the primary
 * view split (MADV_SPLIT) and registered MINOR, the alias with its first page written.
 */
function hgmLayout(k: Kernel): { p: Process; fd: number; prim: number; alias: number; uffd: number } {
  const p = k.spawn();
  const l = hgmPostcopyLayout(p, M2, M2);
  p.fill(l.alias, PAGE, 1);
  return { p, ...l };
}

/** UFFDIO_CONTINUE of [off, off + len) of an HGM world's primary view. */
const hgmContinue = (s: { p: Process; uffd: number; prim: number }, off: number, len: number) => s.p.ioctl(s.uffd, U.UFFDIO_CONTINUE, { range: { start: s.prim + off, len }, mode: 0, mapped: 0 });

/** The hgm-truncate world under one HGM mapcount design. */
export function hgmTruncateWorld(design: string, options: KernelOptions = {}): ExploreWorld<HgmState> {
  return {
    name: `hgm-truncate (${design})`,
    description: 'one 2 MiB HugeTLB page, HGM view and alias: CONTINUE, punch, truncate, collapse, fork (seed 004)',
    ops: hgmOps(),
    init() {
      const k = new Kernel({ memory: '64MiB', hugetlb: { '2MiB': 4 }, ...options, policy: { hgmMapcount: design, ...options.policy } });
      const { p, fd, prim, alias, uffd } = hgmLayout(k);
      return { k, p, child: null, fd, prim, alias, uffd };
    },
    kernel: (s) => s.k,
    fingerprint: (s) => fingerprintPages(s.k, [s.p, s.child], [{ base: s.prim, n: 6 }, { base: s.alias, n: 1 }], s.k.meminfo().HugePages_Free),
    knownFindings: design === 'pgtable' ? ['hgm-mapcount-after-truncate'] : [],
  };
}

// ---------------------------------------------------------------------------
// gmem-convert

interface GmemState {
  k: Kernel;
  p: Process;
  gup: number;
  fd: number;
  /** The host's MAP_SHARED view of the guest_memfd. */
  m: number;
  cpu: number;
  /** What the guest does on its next run: read or write page 0 or 1. */
  cmd: { write: boolean; page: number };
  /** The page the long-term pin holds (0 or 1), or -1. */
  pinned: number;
  /** Pages converted to private (as far as the conversions succeeded). */
  priv: [boolean, boolean];
}

const GPA = 1 << 30;

function gmemOps(): ExploreOp<GmemState>[] {
  const ops: ExploreOp<GmemState>[] = [];
  for (const page of [0, 1]) {
    ops.push({ name: `host: write page ${page}`, apply: (s) => s.p.fill(s.m + page * PAGE, PAGE, 0x40 + page) });
    ops.push({
      name: `host: pin page ${page} (long-term)`,
      enabled: (s) => s.pinned < 0,
      apply: (s) => {
        s.p.ioctl(s.gup, U.PIN_LONGTERM_TEST_START, { addr: s.m + page * PAGE, size: PAGE, flags: U.PIN_LONGTERM_TEST_FLAG_USE_WRITE });
        s.pinned = page;
      },
    });
    for (const priv of [true, false]) {
      ops.push({
        name: `convert page ${page} to ${priv ? 'private' : 'shared'}`,
        apply: (s) => {
          s.p.ioctl(s.fd, U.KVM_SET_MEMORY_ATTRIBUTES2, { offset: page * PAGE, size: PAGE, attributes: priv ? U.KVM_MEMORY_ATTRIBUTE_PRIVATE : 0, flags: 0 });
          s.priv[page] = priv;
        },
      });
    }
    for (const write of [false, true]) {
      ops.push({
        name: `guest: ${write ? 'write' : 'read'} page ${page}`,
        apply: (s) => {
          s.cmd = { write, page };
          s.p.ioctl(s.cpu, U.KVM_RUN, 0);
        },
      });
    }
  }
  ops.push({
    name: 'host: unpin',
    enabled: (s) => s.pinned >= 0,
    apply: (s) => {
      s.pinned = -1;
      s.p.ioctl(s.gup, U.PIN_LONGTERM_TEST_STOP);
    },
  });
  ops.push({ name: 'punch the huge page out', apply: (s) => s.p.fallocate(s.fd, U.FALLOC_FL_PUNCH_HOLE | U.FALLOC_FL_KEEP_SIZE, 0, M2) });
  return ops;
}

/** The gmem-convert world under one gmemHugeShared design. */
export function gmemConvertWorld(design: string, options: KernelOptions = {}): ExploreWorld<GmemState> {
  return {
    name: `gmem-convert (${design})`,
    description: 'one 2 MiB HugeTLB-backed guest_memfd page, in-place conversion, a long-term pin, guest accesses (seeds 000/001)',
    ops: gmemOps(),
    init() {
      const k = new Kernel({ memory: '64MiB', hugetlb: { '2MiB': 2 }, ...options, kvm: { guestMemfd: 'mainline', inPlaceConversion: true, hugetlb: true }, policy: { gmemHugeShared: design, ...options.policy } });
      const p = k.spawn();
      const gup = p.open(U.GUP_TEST_PATH, U.O_RDWR);
      const kvm = p.open('/dev/kvm', U.O_RDWR);
      const vm = p.ioctl(kvm, U.KVM_CREATE_VM, U.KVM_X86_SW_PROTECTED_VM);
      // separate-shared: a private-only guest_memfd beside the VMM's memfd, which the host's view and the slot's userspace_addr are.
      const separate = design === 'separate-shared';
      const fd = p.ioctl(vm, U.KVM_CREATE_GUEST_MEMFD, { size: M2, flags: U.GUEST_MEMFD_FLAG_HUGETLB | U.GUESTMEM_HUGETLB_FLAG_2MB | U.GUEST_MEMFD_FLAG_INIT_SHARED | (separate ? 0n : U.GUEST_MEMFD_FLAG_MMAP) });
      let backing = fd;
      if (separate) {
        backing = p.memfd_create('shared', 0);
        p.ftruncate(backing, M2);
      }
      const m = p.mmap(0, M2, RW, U.MAP_SHARED, backing, 0);
      p.ioctl(vm, U.KVM_SET_USER_MEMORY_REGION2, { slot: 1, flags: U.KVM_MEM_GUEST_MEMFD, guest_phys_addr: GPA, memory_size: M2, userspace_addr: m, guest_memfd: fd, guest_memfd_offset: 0 });
      const cpu = p.ioctl(vm, U.KVM_CREATE_VCPU, 0);
      const s: GmemState = { k, p, gup, fd, m, cpu, cmd: { write: false, page: 0 }, pinned: -1, priv: [false, false] };
      // The guest does what the last op asked, then reports back (one GUEST_SYNC per KVM_RUN).
      p.kvm_vcpu_guest(
        cpu,
        (function* () {
          for (;;) {
            const { write, page } = s.cmd;
            if (write) yield* writeU8(GPA + page * PAGE, 0x60 + page);
            else yield* readU8(GPA + page * PAGE);
            yield* GUEST_SYNC(0);
          }
        })(),
      );
      return s;
    },
    kernel: (s) => s.k,
    fingerprint: (s) => fingerprintPages(s.k, [s.p], [{ base: s.m, n: 2 }], [s.pinned, s.priv, s.cmd, s.k.meminfo().HugePages_Free]),
    // separate-shared: a pin holds the VMM's memfd page, which the conversion discards; guest_memfd's page was never pinned.
    check: (s) => (design !== 'separate-shared' && s.pinned >= 0 && s.priv[s.pinned] ? [`pinned-page-private: page ${s.pinned} became private while a long-term pin held it`] : []),
  };
}

// ---------------------------------------------------------------------------
// collapse-fault

interface CollapseFaultState {
  k: Kernel;
  p: Process;
  fd: number;
  /** The HGM view (MINOR-registered), which backs the guest's memslot; and an alias that places pages. */
  prim: number;
  alias: number;
  uffd: number;
  vcpu: KvmVcpu;
  /** A vCPU fault stopped between resolving its pfn and setting the leaf, or null. */
  pending: PendingTdpFault | null;
  /** Its gfn. */
  pendingGfn: number;
}

/** The slot's first gfn (GPA 1 GiB). */
const CF_GFN = GPA / PAGE;

function collapseFaultOps(): ExploreOp<CollapseFaultState>[] {
  const ops: ExploreOp<CollapseFaultState>[] = [
    { name: 'CONTINUE 4 KiB at +0', apply: (s) => hgmContinue(s, 0, PAGE) },
    { name: 'CONTINUE 4 KiB at +20 KiB', apply: (s) => hgmContinue(s, 5 * PAGE, PAGE) },
    { name: 'write through the alias at +20 KiB', apply: (s) => s.p.fill(s.alias + 5 * PAGE, PAGE, 9) },
    { name: 'MADV_COLLAPSE the view', apply: (s) => s.p.madvise(s.prim, M2, U.MADV_COLLAPSE) },
    { name: 'MADV_DONTNEED the view', apply: (s) => s.p.madvise(s.prim, M2, U.MADV_DONTNEED) },
  ];
  for (const page of [0, 5]) {
    ops.push({
      name: `vCPU: a fault at gfn +${page} resolves its pfn`,
      // On a page the view maps (placed by CONTINUE): KVM's GUP of an unplaced page would wait for the
      // monitor's CONTINUE, which is the operation above, not a race.
      enabled: (s) => s.pending === null && s.p.pagemap(s.prim + page * PAGE).present,
      apply: (s) => {
        const b = kvmTdpPageFaultBegin(s.vcpu, CF_GFN + page, false);
        if (typeof b !== 'number') {
          s.pending = b;
          s.pendingGfn = CF_GFN + page;
        } else if (b < 0) throw new SyscallError('EFAULT', 'KVM_RUN');
      },
    });
  }
  ops.push({
    name: 'vCPU: the fault sets its leaf (or retries)',
    enabled: (s) => s.pending !== null,
    apply: (s) => {
      const b = s.pending!;
      s.pending = null;
      kvmTdpPageFaultFinish(b);
    },
  });
  return ops;
}

/**
 * The collapse-fault world: a guest whose memslot is a 2 MiB HugeTLB page mapped through HGM, a vCPU fault
 * split where Linux drops its guard (pfn resolved, leaf not set), and MADV_COLLAPSE run in between.
 */
export function collapseFaultWorld(design: string, notifier: string, options: KernelOptions = {}): ExploreWorld<CollapseFaultState> {
  return {
    name: `collapse-fault (${design}, ${notifier})`,
    description: 'a vCPU fault on an HGM-mapped 2 MiB HugeTLB page with MADV_COLLAPSE between its halves (seed 004)',
    ops: collapseFaultOps(),
    init() {
      const k = new Kernel({ memory: '64MiB', hugetlb: { '2MiB': 2 }, ...options, policy: { hgmMapcount: design, collapseNotifier: notifier, ...options.policy } });
      const { p, fd, prim, alias, uffd } = hgmLayout(k);
      const kvm = p.open('/dev/kvm', U.O_RDWR);
      const vm = p.ioctl(kvm, U.KVM_CREATE_VM, 0);
      p.ioctl(vm, U.KVM_SET_USER_MEMORY_REGION, { slot: 0, flags: 0, guest_phys_addr: GPA, memory_size: M2, userspace_addr: prim });
      const cpu = p.ioctl(vm, U.KVM_CREATE_VCPU, 0);
      const vcpu = vcpuOfFile(p.fds.get(cpu)!)!;
      return { k, p, fd, prim, alias, uffd, vcpu, pending: null, pendingGfn: -1 };
    },
    kernel: (s) => s.k,
    fingerprint: (s) => {
      const s2 = [0, 5].map((pg) => kvmS2Translate(s.vcpu.kvm, CF_GFN + pg, false));
      const base = s2.map((pfn) => (pfn < 0 ? -1 : pfn - (s.p.pagemap(s.alias).present ? s.k.folio(s.p.pagemap(s.alias).pfn)!.head : 0)));
      return fingerprintPages(s.k, [s.p], [{ base: s.prim, n: 6 }], [base, s.pending === null ? -1 : s.pendingGfn - CF_GFN]);
    },
    // Besides the oracle: the stage-2 leaf of a gfn maps the page the host maps at its address (no stale PFN).
    check: (s) => {
      const bad: string[] = [];
      for (const pg of [0, 5]) {
        const pfn = kvmS2Translate(s.vcpu.kvm, CF_GFN + pg, false);
        if (pfn < 0) continue;
        const e = s.p.pagemap(s.prim + pg * PAGE);
        if (!e.present || e.pfn !== pfn) bad.push(`stale-stage2: gfn +${pg} maps pfn ${pfn}, the host ${e.present ? `maps ${e.pfn}` : 'maps nothing'}`);
      }
      return bad;
    },
    knownFindings: design === 'pgtable' ? ['hgm-mapcount-after-truncate'] : [],
  };
}

/** Every world by name, for the CLI. */
export const WORLDS: Readonly<Record<string, (options: KernelOptions) => ExploreWorld<unknown>[]>> = {
  'pin-fork': (o) => [pinForkWorld(o) as ExploreWorld<unknown>],
  'hgm-truncate': (o) => ['thp-like', 'head-per-pte', 'pgtable', 'special-bit'].map((d) => hgmTruncateWorld(d, o) as ExploreWorld<unknown>),
  'gmem-convert': (o) => GMEM_DESIGNS.map((d) => gmemConvertWorld(d, o) as ExploreWorld<unknown>),
  'collapse-fault': (o) => ['head-per-pte', 'special-bit'].flatMap((d) => ['invalidate', 'post-collapse'].map((n) => collapseFaultWorld(d, n, o) as ExploreWorld<unknown>)),
};
