/**
 * Benchmark scenarios. Each runs in its own Node process (see run.ts) so its
 * peak RSS is its own. A scenario returns what it measured: the operations it
 * timed and how long they took.
 */
import { FOLL_WRITE, Kernel, kvmGuest } from '../src/index.js';
import * as U from '../src/uapi/index.js';
import { hgmPostcopyLayout } from '../src/sim/postcopy/layout.js';

export interface Measurement {
  /** What one operation is, e.g. "4 KiB write fault". */
  op: string;
  ops: number;
  seconds: number;
  /** The issue's target, for the report. */
  target: string;
  /** Figures the scenario reports besides the time (printed after the table). */
  extra?: Record<string, number | string>;
}

const RW = U.PROT_READ | U.PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;
const GiB = 2 ** 30;

function time(fn: () => void): number {
  const s = performance.now();
  fn();
  return (performance.now() - s) / 1000;
}

export const scenarios: Record<string, () => Measurement | Promise<Measurement>> = {
  /** 4 KiB anonymous write faults: memset 4 GiB of fresh memory with THP off. */
  'fault-4k': () => {
    const k = new Kernel({ memory: '64GiB', thp: 'never' });
    const p = k.spawn();
    const len = 4 * GiB;
    const a = p.mmap(0, len, RW, ANON, -1, 0);
    const seconds = time(() => p.fill(a, len, 1));
    return { op: '4 KiB anonymous write fault', ops: len / 4096, seconds, target: '>= 1,000,000 ops/s' };
  },
  /** 64 KiB mTHP anonymous write faults: memset 4 GiB with hugepages-64kB "always" and the PMD size off. */
  'fault-mthp-64k': () => {
    const k = new Kernel({ memory: '64GiB', thp: 'never' });
    k.writeSysfs('/sys/kernel/mm/transparent_hugepage/hugepages-64kB/enabled', 'always');
    const p = k.spawn();
    const len = 4 * GiB;
    const a = p.mmap(0, len, RW, ANON, -1, 0);
    const seconds = time(() => p.fill(a, len, 1));
    const faults = Number(k.readSysfs('/sys/kernel/mm/transparent_hugepage/hugepages-64kB/stats/anon_fault_alloc'));
    if (faults !== len / 65536) throw new Error(`expected ${len / 65536} 64 KiB folios, got ${faults}`);
    return { op: '64 KiB mTHP anonymous write fault', ops: faults, seconds, target: 'none (host kernel beside it)' };
  },
  /** fork, then COW-break every page of a 1 GiB region mapped at 4 KiB. */
  'fork-cow-1g': () => {
    const k = new Kernel({ memory: '64GiB', thp: 'never' });
    const p = k.spawn();
    const len = GiB;
    const a = p.mmap(0, len, RW, ANON, -1, 0);
    p.fill(a, len, 1);
    const seconds = time(() => {
      p.fork();
      p.fill(a, len, 2);
    });
    return { op: 'fork + COW break of 1 GiB at 4 KiB', ops: 1, seconds, target: '<= 0.5 s' };
  },
  /** MADV_PAGEOUT 1 GiB of anonymous memory (4 KiB pages, varied per page) to a zram-like area, then touch every page back. */
  'swapout-swapin-1g': () => {
    const k = new Kernel({ memory: '64GiB', thp: 'never', swap: '2GiB' });
    const p = k.spawn();
    const len = GiB;
    const a = p.mmap(0, len, RW, ANON, -1, 0);
    p.fill(a, len, 1);
    const seconds = time(() => {
      p.madvise(a, len, U.MADV_PAGEOUT);
      // One byte read per page brings each back (do_swap_page).
      for (let off = 0; off < len; off += 4096) p.read(a + off, 1);
    });
    const vm = k.vmstat();
    if (vm.pswpout !== len / 4096 || vm.pswpin !== len / 4096) throw new Error(`expected ${len / 4096} pages out and in, got ${vm.pswpout} / ${vm.pswpin}`);
    return { op: 'MADV_PAGEOUT + swap-in of 1 GiB at 4 KiB', ops: 1, seconds, target: 'none (host kernel beside it)' };
  },
  /** mmap, memset and munmap a 1 TiB anonymous THP region on a 2 TiB host. */
  'thp-1t': () => {
    const k = new Kernel({ memory: '2TiB', thp: 'always' });
    const p = k.spawn();
    const len = 1024 * GiB;
    const seconds = time(() => {
      const a = p.mmap(0, len, RW, ANON, -1, 0);
      p.fill(a, len, 3);
      p.munmap(a, len);
    });
    return { op: 'mmap + memset + munmap of 1 TiB THP', ops: 1, seconds, target: '<= 2 s, peak RSS <= 512 MiB' };
  },
  /** kernel.check() over a process with 1 GiB mapped at 4 KiB. */
  'check-1g': () => {
    const k = new Kernel({ memory: '64GiB', thp: 'never' });
    const p = k.spawn();
    const len = GiB;
    const a = p.mmap(0, len, RW, ANON, -1, 0);
    p.fill(a, len, 1);
    let v = 0;
    const seconds = time(() => {
      v = k.check().length;
    });
    if (v !== 0) throw new Error('check found violations');
    return { op: 'kernel.check() over 1 GiB at 4 KiB', ops: 1, seconds, target: '<= 1 s' };
  },
  /** Small mmap/munmap pairs (placement, VMA tree, merging). */
  'mmap-munmap': () => {
    const k = new Kernel({ memory: '4GiB' });
    const p = k.spawn();
    const n = 200_000;
    const seconds = time(() => {
      for (let i = 0; i < n; i++) p.munmap(p.mmap(0, 65536, RW, ANON, -1, 0), 65536);
    });
    return { op: 'mmap + munmap of 64 KiB', ops: n, seconds, target: '(no target)' };
  },
  /** pin_user_pages_fast + unpin_user_page of one 4 KiB page, repeatedly, after a warm-up. */
  'pin-unpin-4k': () => {
    const k = new Kernel({ memory: '4GiB', thp: 'never' });
    const p = k.spawn();
    const a = p.mmap(0, 4096, RW, ANON, -1, 0);
    p.fill(a, 4096, 1);
    const pages = [0];
    const n = 5_000_000;
    // Steady state: one warm-up round lets the JIT settle before timing.
    for (let i = 0; i < 1_000_000; i++) {
      k.gup.pin_user_pages_fast(p, a, 1, FOLL_WRITE, pages);
      k.gup.unpin_user_page(pages[0]!);
    }
    const seconds = time(() => {
      for (let i = 0; i < n; i++) {
        k.gup.pin_user_pages_fast(p, a, 1, FOLL_WRITE, pages);
        k.gup.unpin_user_page(pages[0]!);
      }
    });
    if (k.check().length !== 0) throw new Error('check found violations');
    return { op: 'pin_user_pages_fast + unpin_user_page (4 KiB, warm)', ops: n, seconds, target: '>= 5,000,000 pairs/s' };
  },
  /** pin_user_pages of 1 GiB mapped at 4 KiB (262,144 pages), after one warm-up pin and unpin (JIT). */
  'pin-1g': () => {
    const k = new Kernel({ memory: '64GiB', thp: 'never' });
    const p = k.spawn();
    const len = GiB;
    const a = p.mmap(0, len, RW, ANON, -1, 0);
    p.fill(a, len, 1);
    const pages: number[] = new Array<number>(len / 4096);
    const nr = len / 4096;
    k.gup.unpin_user_pages(pages, k.gup.pin_user_pages(p, a, nr, FOLL_WRITE, pages));
    let n = 0;
    const seconds = time(() => {
      n = k.gup.pin_user_pages(p, a, nr, FOLL_WRITE, pages);
    });
    if (n !== nr) throw new Error(`pinned ${n}`);
    k.gup.unpin_user_pages(pages, n);
    if (k.check().length !== 0) throw new Error('check found violations');
    return { op: 'pin_user_pages of 1 GiB at 4 KiB (warm)', ops: 1, seconds, target: '<= 100 ms' };
  },
  /**
   * Boot with 16 TiB of 1 GiB HugeTLB pages (17 TiB of RAM), map all of it
   * MAP_HUGETLB|MAP_HUGE_1GB and write-fault every page (16,384 PUD leaves).
   * Timed: boot, mmap and the faults.
   */
  'hugetlb-16t': () => {
    const pages = 16384;
    let p: ReturnType<Kernel['spawn']> | null = null;
    const seconds = time(() => {
      const k = new Kernel({ memory: '17TiB', hugetlb: { '1GiB': pages } });
      p = k.spawn();
      const len = pages * GiB;
      const a = p.mmap(0, len, RW, ANON | U.MAP_HUGETLB | U.MAP_HUGE_1GB, -1, 0);
      // A CPU access spans at most 1 TiB.
      for (let off = 0; off < len; off += 1024 * GiB) p.fill(a + off, 1024 * GiB, 1);
      const dir = '/sys/kernel/mm/hugepages/hugepages-1048576kB';
      if (Number(k.readSysfs(`${dir}/nr_hugepages`)) !== pages || Number(k.readSysfs(`${dir}/free_hugepages`)) !== 0) throw new Error('not every page was faulted');
    });
    if (p === null) throw new Error('no process');
    return { op: 'boot + mmap + fault 16 TiB of 1 GiB HugeTLB pages', ops: pages, seconds, target: '<= 1 s, <= 256 MiB RSS' };
  },
  /**
   * HugeTLB HGM under thp-like: collapse one 1 GiB page mapped entirely by
   * 4 KiB PTEs (262,144 pieces, CONTINUEd beforehand, untimed) into one PUD
   * leaf with MADV_COLLAPSE: 262,144 PTE clears, per-page mapcount
   * decrements and references dropped, 512 PTE tables and one PMD table freed.
   */
  'hgm-collapse-thp-like': () => {
    // Steady state, as in a simulation that collapses many times (postcopy-1g's two-step order does 513
    // collapses per GiB): V8 needs about three collapses to settle, so three untimed ones in other kernels first.
    for (let i = 0; i < 3; i++) hgmCollapse4k();
    return { op: 'MADV_COLLAPSE of a 1 GiB page mapped at 4 KiB (thp-like), warm', ops: 1, seconds: hgmCollapse4k(), target: '<= 10 ms' };
  },
  /** The same collapse as the process's first: V8 still compiling the zap and free paths. */
  'hgm-collapse-thp-like-cold': () => ({ op: 'MADV_COLLAPSE of a 1 GiB page mapped at 4 KiB (thp-like), cold', ops: 1, seconds: hgmCollapse4k(), target: '<= 10 ms' }),
  /** HugeTLB HGM: 262,144 UFFDIO_CONTINUE ioctls of 4 KiB each, filling one 1 GiB page (post-copy's steady state). */
  'hgm-continue-4k': () => {
    const { k, p, uffd, prim } = hgmSetup('thp-like');
    const arg = { range: { start: 0, len: 4096 }, mode: 0, mapped: 0 };
    const seconds = time(() => {
      for (let a = prim; a < prim + GiB; a += 4096) {
        arg.range.start = a;
        p.ioctl(uffd, U.UFFDIO_CONTINUE, arg);
      }
    });
    if (p.pagemap(prim + GiB - 4096).mappedBy !== 4096 || k.check().length !== 0) throw new Error('continue went wrong');
    return { op: '4 KiB UFFDIO_CONTINUE into a 1 GiB HugeTLB page (HGM)', ops: 262144, seconds, target: '<= 0.3 s for all' };
  },
  /**
   * A 16 TiB SW_PROTECTED VM on 1 GiB HugeTLB-backed guest_memfd folios
   * (in-place conversion: every page private): boot with 16,384 1 GiB pages,
   * create the VM and the file, bind it in 16 memslots of 1 TiB, and fault
   * every GiB in with KVM_PRE_FAULT_MEMORY (16,384 1 GiB stage-2 leaves).
   */
  'gmem-16t-fault-1g': () => {
    const pages = 16384;
    let leaves: number[] = [];
    const seconds = time(() => {
      const k = new Kernel({ memory: '17TiB', hugetlb: { '1GiB': pages }, kvm: { guestMemfd: 'mainline', inPlaceConversion: true, hugetlb: true } });
      const p = k.spawn();
      const vm = p.ioctl(p.open('/dev/kvm', U.O_RDWR), U.KVM_CREATE_VM, U.KVM_X86_SW_PROTECTED_VM);
      const fd = p.ioctl(vm, U.KVM_CREATE_GUEST_MEMFD, { size: pages * GiB, flags: U.GUEST_MEMFD_FLAG_HUGETLB | U.GUESTMEM_HUGETLB_FLAG_1GB });
      // A memslot holds at most 2^31 - 1 pages: 1 TiB slots.
      for (let i = 0; i < 16; i++) p.ioctl(vm, U.KVM_SET_USER_MEMORY_REGION2, { slot: i, flags: U.KVM_MEM_GUEST_MEMFD, guest_phys_addr: i * 1024 * GiB, memory_size: 1024 * GiB, userspace_addr: 0, guest_memfd: fd, guest_memfd_offset: i * 1024 * GiB });
      const cpu = p.ioctl(vm, U.KVM_CREATE_VCPU, 0);
      p.ioctl(cpu, U.KVM_PRE_FAULT_MEMORY, { gpa: 0, size: pages * GiB, flags: 0 });
      leaves = k.kvmStats()[0]!.mmu.leaves;
    });
    if (leaves[3] !== pages || leaves[1]! + leaves[2]! !== 0) throw new Error(`expected ${pages} 1 GiB leaves, got ${leaves.join(',')}`);
    return { op: 'boot + VM + guest_memfd + bind + fault 16 TiB at 1 GiB', ops: pages, seconds, target: '<= 1 s, <= 256 MiB RSS' };
  },
  ...Object.fromEntries(['split', 'no-longterm-pin', 'pfnmap', 'separate-shared'].map((d) => [`gmem-convert-1m-${d}`, () => gmemConvert(d)])),
  /** `foliosim compare` over every built-in scenario, one thread: the CLI loaded, run and rendered, from a cold process. */
  'compare-j1': () => compareAll(1),
  /** The same with --jobs 2: this thread and one worker thread. */
  'compare-j2': () => compareAll(2),
  /** A long plan: every built-in scenario with 10 seeds per point (550 runs), one thread and two workers. */
  'compare-r10-j1': () => compareAll(1, 10),
  'compare-r10-j2': () => compareAll(2, 10),
};

/** The post-copy layout of one 1 GiB hugetlbfs page: a split primary registered MINOR, and the page written through an alias. */
function hgmSetup(design: string) {
  const k = new Kernel({ memory: '4GiB', hugetlb: { '1GiB': 1 }, policy: { hgmMapcount: design } });
  const p = k.spawn();
  const { uffd, prim, alias } = hgmPostcopyLayout(p, GiB, GiB);
  p.fill(alias, 1, 1);
  return { k, p, uffd, prim };
}

/** Map a 1 GiB page entirely by 4 KiB pieces (untimed), then time its MADV_COLLAPSE: seconds. */
function hgmCollapse4k(): number {
  const { k, p, uffd, prim } = hgmSetup('thp-like');
  for (let b = prim; b < prim + GiB; b += 2 ** 21) {
    p.ioctl(uffd, U.UFFDIO_CONTINUE, { range: { start: b, len: 4096 }, mode: 0, mapped: 0 });
    p.ioctl(uffd, U.UFFDIO_CONTINUE, { range: { start: b + 4096, len: 2 ** 21 - 4096 }, mode: 0, mapped: 0 });
  }
  const before = k.events().hgm_subpage_mapcount!;
  // Collect the setup's (and an earlier kernel's) garbage outside the timed region.
  (globalThis as { gc?: () => void }).gc?.();
  const seconds = time(() => p.madvise(prim, GiB, U.MADV_COLLAPSE));
  if (k.events().hgm_subpage_mapcount! - before !== 262144) throw new Error('not 262,144 page decrements');
  if (p.pagemap(prim).mappedBy !== GiB || k.check().length !== 0) throw new Error('collapse went wrong');
  return seconds;
}

/** Run the CLI's compare in this (fresh) process, loading it inside the timed region as `npx foliosim compare` would. */
async function compareAll(jobs: number, repeats?: number): Promise<Measurement> {
  const s = performance.now();
  const { main } = await import('../src/cli/main.js');
  const extra = repeats === undefined ? [] : ['--repeats', String(repeats)];
  const code = await main(['compare', '--jobs', String(jobs), ...extra, '--quiet', '--format', 'json', '--out', '/dev/null']);
  const seconds = (performance.now() - s) / 1000;
  if (code !== 0) throw new Error(`foliosim compare exited ${code}`);
  const what = repeats === undefined ? 'every built-in scenario' : `every built-in scenario, --repeats ${repeats}`;
  return { op: `foliosim compare, ${what}, --jobs ${jobs}`, ops: 1, seconds, target: repeats === undefined ? '<= 5 s on 2 cores' : '--jobs 2 faster than --jobs 1' };
}

/** Conversions gmem-convert-1m-<design> makes (GMEM_CONVERSIONS overrides, for profiling a smaller run). */
const GMEM_CONVERSIONS = Number(process.env.GMEM_CONVERSIONS ?? 1_000_000);

/**
 * A 1 TiB SW_PROTECTED guest on 1 GiB HugeTLB-backed guest_memfd folios,
 * fully faulted private at 1 GiB (untimed), then GMEM_CONVERSIONS 4 KiB
 * conversions with KVM_SET_MEMORY_ATTRIBUTES2, alternating to shared (a
 * random page) and back to private (that page), each followed by the
 * guest's re-fault of the page: one KVM_RUN of a vCPU reading it through the
 * stage-2 MMU. Timed: the conversions and the re-faults. The figures after
 * the table are taken with one page shared (one more to-shared conversion
 * and re-fault, untimed).
 */
function gmemConvert(design: string): Measurement {
  const size = 1024 * GiB;
  const k = new Kernel({ memory: '1100GiB', hugetlb: { '1GiB': 1024 }, hugetlbOptimizeVmemmap: true, kvm: { guestMemfd: 'mainline', inPlaceConversion: true, hugetlb: true }, policy: { gmemHugeShared: design } });
  const p = k.spawn();
  const vm = p.ioctl(p.open('/dev/kvm', U.O_RDWR), U.KVM_CREATE_VM, U.KVM_X86_SW_PROTECTED_VM);
  const separate = design === 'separate-shared';
  const fd = p.ioctl(vm, U.KVM_CREATE_GUEST_MEMFD, { size, flags: U.GUEST_MEMFD_FLAG_HUGETLB | U.GUESTMEM_HUGETLB_FLAG_1GB | (separate ? 0n : U.GUEST_MEMFD_FLAG_MMAP) });
  let uaddr = 0;
  if (separate) {
    // The VMM's shared memory: a memfd placed 1 GiB-aligned, as userspace_addr must be congruent with the GPA.
    const memfd = p.memfd_create('shared', 0);
    p.ftruncate(memfd, size);
    const r = p.mmap(0, size + GiB, U.PROT_NONE, ANON | U.MAP_NORESERVE, -1, 0);
    uaddr = p.mmap(Math.ceil(r / GiB) * GiB, size, RW, U.MAP_SHARED | U.MAP_FIXED, memfd, 0);
  }
  p.ioctl(vm, U.KVM_SET_USER_MEMORY_REGION2, { slot: 0, flags: U.KVM_MEM_GUEST_MEMFD, guest_phys_addr: 0, memory_size: size, userspace_addr: uaddr, guest_memfd: fd, guest_memfd_offset: 0 });
  const cpu = p.ioctl(vm, U.KVM_CREATE_VCPU, 0);
  p.ioctl(cpu, U.KVM_PRE_FAULT_MEMORY, { gpa: 0, size, flags: 0 });
  // The guest reads the page the host names, then reports back: one KVM_RUN per re-fault.
  const cmd = { gpa: 0 };
  p.kvm_vcpu_guest(cpu, (function* () {
    for (;;) {
      yield* kvmGuest.readU8(cmd.gpa);
      yield* kvmGuest.GUEST_SYNC(0);
    }
  })());
  const arg = { offset: 0, size: 4096, attributes: 0, flags: 0, error_offset: 0 };
  let seed = 0x9e3779b9;
  const npages = size / 4096;
  let page = 0;
  const step = (priv: boolean) => {
    if (!priv) {
      // xorshift32: deterministic, cheap.
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      page = Math.floor(((seed >>> 0) / 2 ** 32) * npages);
    }
    arg.offset = page * 4096;
    arg.attributes = priv ? U.KVM_MEMORY_ATTRIBUTE_PRIVATE : 0;
    p.ioctl(fd, U.KVM_SET_MEMORY_ATTRIBUTES2, arg);
    cmd.gpa = page * 4096;
    p.ioctl(cpu, U.KVM_RUN, 0);
  };
  const n = GMEM_CONVERSIONS;
  (globalThis as { gc?: () => void }).gc?.();
  const seconds = time(() => {
    for (let i = 0; i < n; i++) step(i % 2 === 1);
  });
  const done = k.gmemStats()[0]!;
  if (done.conversions.ok + done.conversions.waited !== n) throw new Error(`conversions: ${JSON.stringify(done.conversions)}`);
  step(false);
  const st = k.gmemStats()[0]!;
  if (n <= 20_000 && k.check().length !== 0) throw new Error('check found violations');
  const vmstat = k.vmstat();
  return {
    op: `4 KiB conversion + guest re-fault, 1 TiB guest on 1 GiB folios (${design}${n < 1_000_000 ? `, ${n} conversions` : ''})`,
    ops: n,
    seconds,
    target: '>= 300,000 conversions/s, <= 2 GiB RSS',
    extra: {
      splitHugePages: st.splitHugePages,
      vmemmapBytes: st.vmemmapBytes,
      doubleAllocatedBytes: st.doubleAllocatedBytes,
      s2Leaves4k2m1g: st.s2Leaves.slice(1).join('/'),
      s2TableBytes: st.s2TableBytes,
      hostPageTableBytes: st.hostPageTableBytes,
      nrPageTablePages: vmstat.nr_page_table_pages ?? 0,
      nrSecPageTablePages: vmstat.nr_sec_page_table_pages ?? 0,
      simulatedMeanConversionNs: Math.round(done.conversions.meanNs),
    },
  };
}
