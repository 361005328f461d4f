/**
 * The Kernel: boots physical memory, the file systems and processes, and
 * exposes the views a kernel developer reads (/proc/meminfo, kpageflags,
 * folios) and the invariant oracle.
 */
import { countersRecord } from './cost/counters.js';
import { type CostEstimate, CostModel } from './cost/model.js';
import { KernelConfigError, type KernelOptions, parseKernelOptions, RESERVED_PAGES } from './config.js';
import { Host, type ShmemEnabled, type ThpEnabled } from './mm/host.js';
import type { MmapHooks } from './mm/mmap.js';
import { NODE_STAT_NAMES } from './mm/vmstat.js';
import { printk } from './mm/debug.js';
import { HPAGE_PMD_ORDER } from './mm/page.js';
import { splitHugePagesPid } from './mm/huge_memory.js';
import { type KhugepagedScanReport, isKhugepagedSysfs, khugepagedDoScan, khugepagedSysfsRead, khugepagedSysfsWrite } from './mm/khugepaged.js';
import type { PinMetrics } from './mm/pin_policy.js';
import type { HgmMetrics } from './mm/hgm_mapcount.js';
import { Vfs } from './fs/inode.js';
import { type HugetlbFs, hugetlbFs } from './fs/hugetlbfs.js';
import { hugetlbInit } from './mm/hugetlb.js';
import { ZRAM_PATH, swapOnZram } from './mm/swapfile.js';
import { type SysFile, hugetlbSysFiles, sysfsOpen } from './fs/sysfs.js';
import { thpSysFiles } from './fs/sysfs_thp.js';
import { procSwapsShow } from './fs/swapon.js';
import { type ShmemFs, type ShmemHuge, shmemFs } from './fs/shmem.js';
import { MountError, Namespace, getname } from './fs/namei.js';
import { type Meminfo, meminfoRead } from './fs/proc/meminfo.js';
import { type FolioInfo, folioInfo, kpagecount, kpageflags } from './fs/proc/page.js';
import { type Violation, checkKernel } from './check/oracle.js';
import type { DeviceOpen, KernelCore } from './kernel_core.js';
import { type Process, createProcess } from './process.js';
import { KernelGup } from './kernel_gup.js';
import { registerDrivers } from './drivers/index.js';
import { type GmemPinWaiter, type GmemReport, type KvmMmuStats, gmemReport, kvmDebugfsRead, register as registerKvm, setGmemPinWaiter, vmList } from './kvm/index.js';
import { type DmaStats, dmaStats } from './drivers/dma.js';
import { SyscallError } from './uapi/errors.js';
import { type PolicyChoice, createHgmMapcount, createPinAccounting } from './policy/registry.js';

export type { KernelOptions } from './config.js';
export type { PolicyChoice } from './policy/registry.js';

/** Kernel.pinAccounting(): the design's metrics (src/mm/pin_policy.ts:PinMetrics) and costs. */
export interface PinAccountingReport extends PinMetrics {
  readonly name: string;
  readonly metadataBytes: number;
  readonly maxPinsPerPage: number;
}

/** Kernel.hgm(): the HGM designs and their metrics. */
export interface HgmReport extends HgmMetrics {
  readonly mapcount: string;
  readonly collapseNotifier: string;
}

const THP_ENABLED = '/sys/kernel/mm/transparent_hugepage/enabled';
const THP_USE_ZERO_PAGE = '/sys/kernel/mm/transparent_hugepage/use_zero_page';
const THP_SHMEM_ENABLED = '/sys/kernel/mm/transparent_hugepage/shmem_enabled';
/** shmem_enabled_show's order (mm/shmem.c). */
const SHMEM_ENABLED_VALUES: readonly ShmemEnabled[] = ['always', 'within_size', 'advise', 'never', 'deny', 'force'];
const SPLIT_HUGE_PAGES = '/sys/kernel/debug/split_huge_pages';

export class Kernel {
  /** @internal The host memory-management state. */
  readonly host: Host;
  /** @internal */
  readonly vfs: Vfs;
  /** @internal */
  readonly shmem: ShmemFs;
  /** @internal */
  readonly hugetlbfs: HugetlbFs;
  /** @internal The mount table (Kernel option `mounts`). */
  readonly ns: Namespace;
  /** @internal */
  readonly mmapHooks: MmapHooks;
  /** @internal Device paths that open() knows. */
  readonly devices = new Map<string, DeviceOpen>();
  /** get_user_pages / pin_user_pages, as kernel callers use them. */
  readonly gup: KernelGup;
  /** The designs this kernel runs (Kernel option `policy`). */
  readonly policy: Readonly<Required<PolicyChoice>>;
  readonly #procs = new Map<number, Process>();
  /** sysfs and sysctl files by path (src/fs/sysfs.ts). */
  readonly #sysFiles: Map<string, SysFile>;
  #nextPid = 1;
  /** What processes reach of this kernel (process.ts cannot import kernel.ts); adopt and reap are not methods of Kernel. */
  readonly #core: KernelCore;

  constructor(options: KernelOptions = {}) {
    const cfg = parseKernelOptions(options);
    this.host = new Host(cfg.totalPages, cfg.movablePages, RESERVED_PAGES, cfg.mm, cfg.cmaPages);
    this.host.pins = createPinAccounting(cfg.policy);
    this.host.hgm = createHgmMapcount(cfg.policy);
    this.host.hgmPostCollapse = cfg.policy.collapseNotifier === 'post-collapse';
    this.policy = Object.freeze({ ...cfg.policy });
    this.vfs = new Vfs(this.host);
    this.shmem = shmemFs(this.vfs);
    // shmem_init: the internal mount takes shmem_enabled as its huge= (unless deny or force).
    const se = this.host.cfg.thp.shmemEnabled;
    if (se !== 'deny' && se !== 'force') this.shmem.sb.huge = se;
    hugetlbInit(this.host, cfg.hugetlbPools, cfg.hugetlbOptimizeVmemmap);
    if (cfg.swapBytes > 0) {
      this.host.swap.zramPages = cfg.swapBytes / 4096;
      swapOnZram(this.host, ZRAM_PATH, cfg.swapBytes / 4096);
    }
    this.hugetlbfs = hugetlbFs(this.vfs);
    try {
      this.ns = new Namespace(this.vfs, this.shmem, cfg.mounts, this.hugetlbfs);
    } catch (e) {
      // A mount that fails at boot (hugetlbfs min_size= beyond the pool: ENOMEM) is a configuration error.
      if (e instanceof MountError) throw new KernelConfigError(`Kernel option mounts: mounting hugetlbfs at ${e.point} failed with ${e.errno}${e.errno === 'ENOMEM' ? ' (min_size cannot be reserved from the pool)' : ''}`);
      throw e;
    }
    this.mmapHooks = { shmemZeroSetup: (vma, size) => this.shmem.zeroSetup(vma, size) };
    this.gup = new KernelGup(this.host);
    registerDrivers(this.devices, { host: this.host, vfs: this.vfs });
    registerKvm(this.devices, { host: this.host, vfs: this.vfs, cfg: cfg.kvm });
    // The HugeTLB pool files (sysfs and /proc/sys/vm), also reachable with open(2).
    this.#sysFiles = hugetlbSysFiles(this.host);
    // The multi-size THP controls and counters (hugepages-<size>kB/ under transparent_hugepage/).
    for (const [path, f] of thpSysFiles(this.host)) this.#sysFiles.set(path, f);
    // /proc/swaps: a seq_file of the active swap areas (size 0, as proc files are).
    this.#sysFiles.set('/proc/swaps', { attr: { mode: 0o444, show: () => procSwapsShow(this.host.swap) }, sysctl: true });
    for (const [path, f] of this.#sysFiles) this.devices.set(path, (_task, flags) => sysfsOpen(this.vfs, f.attr, path, flags, f.sysctl));
    this.#core = {
      host: this.host,
      vfs: this.vfs,
      shmem: this.shmem,
      hugetlbfs: this.hugetlbfs,
      ns: this.ns,
      mmapHooks: this.mmapHooks,
      devices: this.devices,
      adopt: (make) => this.#adopt(make),
      reap: (p) => void this.#procs.delete(p.pid),
    };
  }

  /** A new process with an empty address space. */
  spawn(): Process {
    return this.#adopt((pid) => createProcess(this.#core, pid));
  }

  /** Give a new process a pid and register it (spawn, and fork through the core). */
  #adopt(make: (pid: number) => Process): Process {
    const p = make(this.#nextPid++);
    this.#procs.set(p.pid, p);
    return p;
  }

  /** Live processes. */
  processes(): Process[] {
    return [...this.#procs.values()];
  }

  /** /proc/meminfo, in kB. */
  meminfo(): Meminfo {
    return meminfoRead(this.host);
  }

  /** /proc/vmstat: the node counters the model keeps, in pages. */
  vmstat(): Record<string, number> {
    // Filled in the order of 6.12's vmstat_text (zone counter, node counters in NodeStat's order, then events).
    const out: Record<string, number> = { nr_free_pages: this.host.pa.freePages() };
    NODE_STAT_NAMES.forEach((n, i) => (out[n] = this.host.stat[i]!));
    const sw = this.host.swap;
    // Linux counts swap-cache folios in NR_FILE_PAGES (add_to_swap_cache); the model's counter is the page cache alone.
    out.nr_file_pages! += sw.cachedPages;
    out.nr_swapcached = sw.cachedPages;
    // The memmap's pages, from the boot allocator and from the buddy allocator (HugeTLB vmemmap optimization moves them).
    out.nr_memmap_pages = this.host.vmemmap.buddyPages;
    out.nr_memmap_boot_pages = this.host.vmemmap.bootPages;
    out.pswpin = sw.pswpin;
    out.pswpout = sw.pswpout;
    out.thp_swpout = sw.thpSwpout;
    out.thp_swpout_fallback = sw.thpSwpoutFallback;
    out.swpin_zero = sw.swpinZero;
    out.swpout_zero = sw.swpoutZero;
    return out;
  }

  /** /proc/buddyinfo: free blocks per order, per zone. */
  buddyinfo(): { zone: string; free: number[] }[] {
    return this.host.pa.buddyinfo();
  }

  /** /proc/kpagecount: how many times the page at pfn is mapped. */
  kpagecount(pfn: number): number {
    return kpagecount(this.host, pfn);
  }

  /** /proc/kpageflags: KPF_* bits of the page at pfn. */
  kpageflags(pfn: number): number {
    return kpageflags(this.host, pfn);
  }

  /** The folio holding pfn (refcount, mapcounts, pincount, flags, order), or null. */
  folio(pfn: number): FolioInfo | null {
    return folioInfo(this.host, pfn);
  }

  /**
   * What the pin-accounting design has cost and got wrong so far: maybe-pinned
   * false positives and negatives (against the true pin counts), unnecessary
   * fork copies, pinned pages lost to COW, overflows, exclusive-pin conflicts,
   * and its metadata size and pin headroom.
   */
  pinAccounting(): PinAccountingReport {
    const p = this.host.pins;
    return { name: p.name, ...p.metrics, metadataBytes: p.metadataBytes(this.host), maxPinsPerPage: p.maxPinsPerPage };
  }

  /**
   * HugeTLB high-granularity mapping (policy hgmMapcount, collapseNotifier):
   * the designs in use and what they did (src/mm/hgm_mapcount.ts:HgmMetrics).
   */
  hgm(): HgmReport {
    const h = this.host.hgm;
    return { mapcount: h.name, collapseNotifier: this.policy.collapseNotifier, ...h.metrics };
  }

  /** The kernel log (dmesg): WARNs, dump_page output, driver messages; oldest first. */
  dmesg(): string[] {
    return [...this.host.log];
  }

  /**
   * What the DMA engines behind VFIO containers (src/drivers/dma.ts) have done:
   * live mappings and pinned pages, bytes moved, and device writes that landed
   * in pinned pages the mapping process no longer maps (stale pins).
   */
  dmaStats(): DmaStats {
    return { ...dmaStats(this.host) };
  }

  /**
   * KVM: every live VM's stage-2 counters (leaves by level, table pages,
   * zaps, remote TLB flushes, faults), memslots and private pages.
   */
  kvmStats(): { id: number; type: number; memslots: number; privatePages: number; mmu: KvmMmuStats; pkvm: { shares: number; unshares: number; refused: number } }[] {
    return [...vmList(this.host)].map((kvm) => ({
      id: kvm.id,
      type: kvm.type,
      memslots: kvm.allSlots().length,
      privatePages: kvm.privateGfns.length,
      mmu: { ...kvm.mmu.stats, leaves: [...kvm.mmu.stats.leaves] },
      pkvm: { ...kvm.pkvmStats },
    }));
  }

  /**
   * guest_memfd under policy gmemHugeShared: one report per open guest_memfd
   * file of every live VM (src/kvm/guest_memfd.ts:GmemReport, docs/API.md):
   * the design, vmemmap and doubly allocated bytes, conversion outcomes and
   * simulated latency, stage-2 leaves by size, whether O_DIRECT and long-term
   * pins work, GUP calls refused, contents preserved or discarded.
   */
  gmemStats(): GmemReport[] {
    const out: GmemReport[] = [];
    for (const kvm of vmList(this.host)) for (const g of kvm.gmems) out.push(gmemReport(g));
    return out;
  }

  /**
   * gmemHugeShared 'no-longterm-pin': what lets simulated time pass while a
   * to-private conversion waits for short-term pins (called with ns to wait;
   * it should release the pins whose I/O completes in that time); null: none,
   * so a conversion that finds a pin waits its whole bound and fails EAGAIN.
   */
  setGmemPinWaiter(w: GmemPinWaiter | null): void {
    setGmemPinWaiter(this.host, w);
  }

  /** Counts of the primitive operations performed so far (the cost model's input). */
  events(): Record<string, number> {
    return countersRecord(this.host.ev);
  }

  /**
   * What everything counted so far costs under the unit-cost table
   * (src/cost/model.ts, docs/COSTS.md): total simulated ns, the share resting
   * on low-confidence figures, and one line per primitive with a non-zero
   * count. overrides: ns per event (per byte for *_bytes) by counter name;
   * an unknown name throws UnknownCostError listing the valid ones.
   */
  costEstimate(overrides?: Readonly<Record<string, number>>): CostEstimate {
    return new CostModel(overrides).estimate(this.host.ev);
  }

  /**
   * Recompute every counter from scratch (page tables, page caches, folios,
   * physical memory) and compare with the incremental state. Returns the
   * violations found; an empty array means consistent.
   */
  check(): Violation[] {
    return checkKernel(this.host, this.vfs, this.processes());
  }

  /**
   * Run khugepaged once (one wake-up: khugepaged_do_scan over the registered
   * mms, up to khugepaged/pages_to_scan). The model has no kernel thread:
   * tests and simulated-time scenarios call this where khugepaged would wake
   * (every scan_sleep_millisecs).
   */
  khugepagedScan(): KhugepagedScanReport {
    return khugepagedDoScan(this.host);
  }

  /** Read a sysfs file the model implements (transparent_hugepage settings, khugepaged's). */
  // mirrors fs/open.c:do_sys_openat2 then the attribute's show (a path that is not a string: getname's EFAULT)
  readSysfs(path: string): string {
    path = sysfsName(path);
    const sf = this.#sysFiles.get(path);
    if (sf !== undefined) {
      // The file's text without its newline; a write-only file cannot be opened for reading.
      if (sf.attr.show === undefined || !(sf.attr.mode & 0o444)) throw new SyscallError('EACCES', 'open');
      return sf.attr.show().replace(/\n$/, '');
    }
    const thp = this.host.cfg.thp;
    if (isKhugepagedSysfs(path)) return khugepagedSysfsRead(this.host, path);
    if (path === THP_ENABLED) return (['always', 'madvise', 'never'] as const).map((m) => (m === thp.enabled ? `[${m}]` : m)).join(' ');
    if (path === THP_USE_ZERO_PAGE) return thp.useZeroPage ? '1' : '0';
    // mirrors mm/shmem.c:shmem_enabled_show
    if (path === THP_SHMEM_ENABLED) return SHMEM_ENABLED_VALUES.map((m) => (m === thp.shmemEnabled ? `[${m}]` : m)).join(' ');
    const kvmStat = kvmDebugfsRead(this.host, path);
    if (kvmStat !== null) return kvmStat;
    throw new SyscallError('ENOENT', 'open');
  }

  /** Write a sysfs file the model implements; invalid values fail with EINVAL as the kernel's store does. */
  // mirrors fs/open.c:do_sys_openat2 then fs/read_write.c:ksys_write (open's errnos first, then the buffer's EFAULT)
  writeSysfs(path: string, value: string): void {
    path = sysfsName(path);
    const sf = this.#sysFiles.get(path);
    if (sf !== undefined) {
      // One write(2) of value, as given: "16\n" and "16" are both 16 (kstrtoul), " 16" is not.
      if (sf.attr.store === undefined || !(sf.attr.mode & 0o222)) throw new SyscallError('EACCES', 'open');
      // A write of no bytes stores nothing (sysfs_kf_write returns 0 at once).
      const text = sysfsWriteBuffer(value);
      if (text === '') return;
      const r = sf.attr.store(text);
      if (typeof r === 'string') throw new SyscallError(r, 'write');
      return;
    }
    const known = isKhugepagedSysfs(path) || path === THP_ENABLED || path === THP_USE_ZERO_PAGE || path === THP_SHMEM_ENABLED || path === SPLIT_HUGE_PAGES;
    if (!known) throw new SyscallError('ENOENT', 'open');
    // khugepaged's counters are read-only: open(O_WRONLY) fails before the buffer is looked at.
    if (path.endsWith('/pages_collapsed') || path.endsWith('/full_scans')) throw new SyscallError('EACCES', 'open');
    const raw = sysfsWriteBuffer(value);
    const thp = this.host.cfg.thp;
    const v = raw.trim();
    if (isKhugepagedSysfs(path)) {
      const e = khugepagedSysfsWrite(this.host, path, v);
      if (e !== null) throw new SyscallError(e, e === 'EACCES' ? 'open' : 'write');
      return;
    }
    if (path === THP_ENABLED) {
      if (v !== 'always' && v !== 'madvise' && v !== 'never') throw new SyscallError('EINVAL', 'write');
      thp.enabled = v as ThpEnabled;
      return;
    }
    if (path === THP_USE_ZERO_PAGE) {
      if (v !== '0' && v !== '1') throw new SyscallError('EINVAL', 'write');
      thp.useZeroPage = v === '1';
      return;
    }
    if (path === THP_SHMEM_ENABLED) {
      // mirrors mm/shmem.c:shmem_enabled_store (one trailing newline allowed; at most 15 bytes)
      const text = raw.endsWith('\n') ? raw.slice(0, -1) : raw;
      if (raw.length + 1 > 16 || !(SHMEM_ENABLED_VALUES as readonly string[]).includes(text)) throw new SyscallError('EINVAL', 'write');
      // force needs exactly the PMD size inheriting (hugepages-<size>kB/shmem_enabled): no non-PMD size pushed, the PMD size not overridden.
      if (text === 'force' && thp.shmemOrders.inherit !== 1 << HPAGE_PMD_ORDER) throw new SyscallError('EINVAL', 'write');
      thp.shmemEnabled = text as ShmemEnabled;
      // The internal mount (memfd, shared anonymous memory) takes it as its huge= (not deny/force).
      if (text !== 'deny' && text !== 'force') this.shmem.sb.huge = text as ShmemHuge;
      return;
    }
    if (path === SPLIT_HUGE_PAGES) {
      this.#splitHugePagesWrite(v);
    }
  }

  /** debugfs split_huge_pages: "pid,vaddr_start,vaddr_end[,new_order]", or "1" for every process. */
  // mirrors mm/huge_memory.c:split_huge_pages_write (the <path> form needs large page-cache folios: EINVAL)
  #splitHugePagesWrite(v: string): void {
    const hex = '(?:0[xX])?([0-9a-fA-F]+)';
    const m = new RegExp(`^(-?\\d+)(?:,${hex},${hex}(?:,(-?\\d+))?)?$`).exec(v);
    if (m === null || v.startsWith('/')) throw new SyscallError('EINVAL', 'write');
    const pid = Number(m[1]);
    const report = (r: { split: number; total: number }) => printk(this.host, `${r.split} of ${r.total} THP split`);
    if (m[2] === undefined) {
      if (pid !== 1) throw new SyscallError('EINVAL', 'write');
      // split_huge_pages_all
      const all = { split: 0, total: 0 };
      for (const p of this.#procs.values()) {
        if (p.mm === null) continue;
        for (const vma of [...p.mm.vmas]) {
          const r = splitHugePagesPid(this.host, p.mm, vma.start, vma.end, 0);
          all.split += r.split;
          all.total += r.total;
        }
      }
      report(all);
      return;
    }
    const proc = this.#procs.get(pid);
    if (proc === undefined || proc.mm === null) throw new SyscallError('ESRCH', 'write');
    const start = Math.floor(Number.parseInt(m[2], 16) / 4096) * 4096;
    const end = Math.floor(Number.parseInt(m[3]!, 16) / 4096) * 4096;
    const order = m[4] === undefined ? 0 : Number(m[4]);
    report(splitHugePagesPid(this.host, proc.mm, start, end, order));
  }
}

/** The path of a sysfs read or write: open(2)'s getname (EFAULT for a non-string, ENOENT for ''). */
function sysfsName(path: unknown): string {
  const pn = getname(path);
  if ('err' in pn) throw new SyscallError(pn.err, 'open');
  return pn.name;
}

/** write(2)'s buffer: a string as given, a number or bigint as its decimal text (a convenience); anything else is not user memory: EFAULT. */
function sysfsWriteBuffer(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint') return `${value}`;
  throw new SyscallError('EFAULT', 'write');
}
