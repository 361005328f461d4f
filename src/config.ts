/**
 * Kernel construction options: every option has a default, and a bad option is
 * reported by name (KernelConfigError) before anything boots.
 */
import { z } from 'zod';
import { parseSize } from './lib/units.js';
import { PAGE_SIZE } from './mm/page.js';
import { type MmConfig, type ThpEnabled, defaultMmConfig } from './mm/host.js';
import { DEFAULT_POLICY, type PolicyChoice, UnknownPolicyError, checkGmemHugeShared, checkS2Recoalesce, createHgmMapcount, createPinAccounting } from './policy/registry.js';
import { DEFAULT_MOUNTS, MOUNT_TYPES, type MountSpec, type MountType, isNormalizedAbsolute } from './fs/namei.js';
import { parseHugetlbfsOptions } from './fs/hugetlbfs.js';
import type { ShmemHuge } from './fs/shmem.js';
import type { GmemHugeShared, KvmConfig } from './kvm/kvm_host.js';

export class KernelConfigError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = 'KernelConfigError';
  }
}

const size = z.union([z.string(), z.number()]);
const thpEnabled = z.enum(['always', 'madvise', 'never']);
const shmemEnabled = z.enum(['always', 'within_size', 'advise', 'never', 'deny', 'force']);

const schema = z
  .object({
    /** Host RAM, e.g. '64GiB' (default) or bytes. */
    memory: size.optional(),
    /** Size of ZONE_MOVABLE at the top of RAM (movablecore=), default 0. */
    movable: size.optional(),
    /** Size of a CMA area at the top of ZONE_NORMAL (cma=), default 0. */
    cma: size.optional(),
    /** transparent_hugepage/enabled, or an object with use_zero_page and shmem_enabled too. */
    thp: z.union([thpEnabled, z.object({ enabled: thpEnabled.optional(), useZeroPage: z.boolean().optional(), shmemEnabled: shmemEnabled.optional() }).strict()]).optional(),
    /** fault_around_bytes (a power of two, 4096..65536·16). */
    faultAroundBytes: z.number().int().optional(),
    /** vm.max_map_count. */
    maxMapCount: z.number().int().positive().optional(),
    /** vm.mmap_min_addr. */
    mmapMinAddr: z.number().int().nonnegative().optional(),
    /** nr_cpu_ids: CPUs tasks may run on (Process.runOn) and TLB shootdowns may reach; 1..4096, default 8. */
    cpus: z.number().optional(),
    /**
     * The mount table: mount point -> file system type, or { type, size }.
     * Replaces the default ({ '/': 'ext4', '/tmp': 'tmpfs', '/dev/shm': 'tmpfs', '/mnt/pmem': 'ext4-dax' }) as a whole.
     */
    mounts: z.record(z.string(), z.union([z.string(), z.object({ type: z.string(), size: size.optional(), options: z.string().optional() }).strict()])).optional(),
    /**
     * Boot-time HugeTLB pools (hugepagesz=/hugepages=): huge page size -> pages,
     * e.g. { '2MiB': 512, '1GiB': 16 }. 1 GiB pages come from contiguous memory
     * at boot; what does not fit is not allocated (a warning in dmesg), as in Linux.
     */
    hugetlb: z.record(z.string(), z.number()).optional(),
    /**
     * A zram-like swap device of this size (e.g. '1GiB'), made with mkswap and
     * swapped on at boot as /dev/zram0, as the real-kernel selftest runs had
     * (SWAP zram). Default: no swap.
     */
    swap: size.optional(),
    /** vm.hugetlb_optimize_vmemmap (hugetlb_free_vmemmap=): HugeTLB Vmemmap Optimization; default off, as Debian ships it. */
    hugetlbOptimizeVmemmap: z.boolean().optional(),
    /**
     * KVM's guest_memfd: which uAPI and which in-flight series the kernel has.
     * guestMemfd '6.12' (default) or 'mainline' (creation flags MMAP and
     * INIT_SHARED, host mmap, VM types SNP, TDX and pKVM-like); with
     * 'mainline', inPlaceConversion is kvm.gmem_in_place_conversion of the v8
     * series (per-file attributes, KVM_SET_MEMORY_ATTRIBUTES2) and hugetlb
     * the HugeTLB flag of the 1 GiB series RFC v2.
     */
    kvm: z.object({ guestMemfd: z.enum(['6.12', 'mainline']).optional(), inPlaceConversion: z.boolean().optional(), hugetlb: z.boolean().optional() }).strict().optional(),
    /** The designs under comparison, by name (src/policy/registry.ts); default upstream Linux. */
    policy: z
      .object({
        /** 'upstream' (default), 'exact', 'pmd-aggregate', 'mm-sticky', 'page-sticky', 'pte-bit'. */
        pinAccounting: z.string().optional(),
        /** FOLL_EXCLUSIVE: 'off' (default), 'bias' (the RFC), 'field'. */
        exclusivePin: z.string().optional(),
        /** HugeTLB high-granularity mapping: 'off' (default, Linux 6.12), 'thp-like', 'head-per-pte', 'pgtable', 'special-bit'. */
        hgmMapcount: z.string().optional(),
        /** How a HugeTLB HGM collapse tells secondary MMUs: 'invalidate' (default) or 'post-collapse'. */
        collapseNotifier: z.string().optional(),
        /** What a HugeTLB-backed guest_memfd does when a page of a huge folio becomes shared: 'split' (default, the RFC v2). */
        gmemHugeShared: z.string().optional(),
        /** When KVM's stage 2 maps a range huge again once it is uniform: 'lazy' (default, Linux: on the next fault) or 'eager'. */
        s2Recoalesce: z.string().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type KernelOptions = z.input<typeof schema>;

export interface BootConfig {
  totalPages: number;
  movablePages: number;
  cmaPages: number;
  mm: MmConfig;
  policy: Required<PolicyChoice>;
  mounts: MountSpec[];
  /** Boot-time HugeTLB pages by size in bytes (2 MiB, 1 GiB). */
  hugetlbPools: Map<number, number>;
  hugetlbOptimizeVmemmap: boolean;
  /** Bytes of the boot-time zram swap device; 0: none. */
  swapBytes: number;
  kvm: KvmConfig;
}

/** Smallest and largest host the model accepts (pfns stay exact in doubles). */
const MIN_MEMORY = 16 * 2 ** 20;
const MAX_MEMORY = 2 ** 52;

/** Largest nr_cpu_ids the model accepts (x86-64 distro kernels build with NR_CPUS up to 8192; 4096 keeps masks small). */
const MAX_CPUS = 4096;

/** First 1 MiB of RAM, kept by the firmware and the kernel as on x86. */
export const RESERVED_PAGES = 256;

/**
 * Validate the options object. Reading it runs the caller's getters (what they
 * throw passes through); an options object the engine cannot read at all (a
 * revoked Proxy: TypeError) is a configuration error.
 */
function safeParseOptions(opts: unknown): ReturnType<typeof schema.safeParse> {
  try {
    return schema.safeParse(opts);
  } catch (e) {
    if (e instanceof TypeError) throw new KernelConfigError('Kernel options: the object cannot be read');
    throw e;
  }
}

export function parseKernelOptions(opts: unknown): BootConfig {
  const r = safeParseOptions(opts ?? {});
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new KernelConfigError(`Kernel option ${issue.path.join('.') || '(options)'}: ${issue.message}`);
  }
  const o = r.data;
  const memory = parseSize(o.memory ?? '64GiB');
  if (memory === undefined || memory % PAGE_SIZE !== 0 || memory < MIN_MEMORY || memory > MAX_MEMORY) {
    throw new KernelConfigError(`Kernel option memory: expected a multiple of 4KiB between 16MiB and 4PiB, got ${JSON.stringify(o.memory)}`);
  }
  const movable = parseSize(o.movable ?? 0);
  if (movable === undefined || movable % PAGE_SIZE !== 0 || movable > memory / 2) {
    throw new KernelConfigError(`Kernel option movable: expected a multiple of 4KiB up to half of memory, got ${JSON.stringify(o.movable)}`);
  }
  const cma = parseSize(o.cma ?? 0);
  if (cma === undefined || cma % PAGE_SIZE !== 0 || cma > (memory - movable) / 2) {
    throw new KernelConfigError(`Kernel option cma: expected a multiple of 4KiB up to half of ZONE_NORMAL, got ${JSON.stringify(o.cma)}`);
  }
  const swapBytes = parseSize(o.swap ?? 0);
  // mkswap needs the header page and at least 10 pages of swap space.
  if (swapBytes === undefined || swapBytes % PAGE_SIZE !== 0 || (swapBytes !== 0 && swapBytes < 11 * PAGE_SIZE) || swapBytes > 2 ** 32 * PAGE_SIZE) {
    throw new KernelConfigError(`Kernel option swap: expected a multiple of 4KiB from 44KiB to 16TiB (or 0), got ${JSON.stringify(o.swap)}`);
  }
  const mm = defaultMmConfig();
  if (typeof o.thp === 'string') mm.thp.enabled = o.thp as ThpEnabled;
  else if (o.thp !== undefined) {
    if (o.thp.enabled !== undefined) mm.thp.enabled = o.thp.enabled;
    if (o.thp.useZeroPage !== undefined) mm.thp.useZeroPage = o.thp.useZeroPage;
    if (o.thp.shmemEnabled !== undefined) mm.thp.shmemEnabled = o.thp.shmemEnabled;
  }
  if (o.faultAroundBytes !== undefined) {
    const f = o.faultAroundBytes;
    if (f < PAGE_SIZE || f > 2 ** 20 || (f & (f - 1)) !== 0) throw new KernelConfigError(`Kernel option faultAroundBytes: expected a power of two from 4096 to 1MiB, got ${f}`);
    mm.faultAroundBytes = f;
  }
  if (o.maxMapCount !== undefined) mm.maxMapCount = o.maxMapCount;
  if (o.mmapMinAddr !== undefined) {
    if (o.mmapMinAddr % PAGE_SIZE !== 0) throw new KernelConfigError(`Kernel option mmapMinAddr: expected a multiple of 4096, got ${o.mmapMinAddr}`);
    mm.mmapMinAddr = o.mmapMinAddr;
  }
  if (o.cpus !== undefined) {
    if (!Number.isInteger(o.cpus) || o.cpus < 1 || o.cpus > MAX_CPUS) throw new KernelConfigError(`Kernel option cpus: expected an integer from 1 to ${MAX_CPUS}, got ${o.cpus}`);
    mm.cpus = o.cpus;
  }
  const policy: Required<PolicyChoice> = { ...DEFAULT_POLICY, ...o.policy };
  let hgm;
  try {
    createPinAccounting(policy);
    hgm = createHgmMapcount(policy);
    checkGmemHugeShared(policy);
    checkS2Recoalesce(policy);
  } catch (e) {
    if (e instanceof UnknownPolicyError) throw new KernelConfigError(`Kernel option policy: ${e.message}`);
    throw e;
  }
  // HGM v2 made CONFIG_HUGETLB_HIGH_GRANULARITY_MAPPING and HVO exclusive: per-page mapcounts need writable tail struct pages.
  if (hgm.needsWritableTailPages && o.hugetlbOptimizeVmemmap === true) {
    throw new KernelConfigError(`Kernel option policy: hgmMapcount '${policy.hgmMapcount}' needs writable tail struct pages (per-page _mapcount); turn HVO off (hugetlbOptimizeVmemmap: false)`);
  }
  const kvm: KvmConfig = { guestMemfd: o.kvm?.guestMemfd ?? '6.12', inPlaceConversion: o.kvm?.inPlaceConversion ?? false, hugetlb: o.kvm?.hugetlb ?? false, hugeShared: policy.gmemHugeShared as GmemHugeShared, s2Recoalesce: policy.s2Recoalesce as 'lazy' | 'eager' };
  if (kvm.guestMemfd !== 'mainline' && (kvm.inPlaceConversion || kvm.hugetlb)) {
    throw new KernelConfigError(`Kernel option kvm: inPlaceConversion and hugetlb build on the mainline guest_memfd; set guestMemfd: 'mainline'`);
  }
  return {
    kvm,
    totalPages: memory / PAGE_SIZE,
    movablePages: movable / PAGE_SIZE,
    cmaPages: cma / PAGE_SIZE,
    mm,
    policy,
    mounts: parseMounts(o.mounts),
    hugetlbPools: parseHugetlb(o.hugetlb),
    hugetlbOptimizeVmemmap: o.hugetlbOptimizeVmemmap ?? false,
    swapBytes,
  };
}

/** The huge page sizes x86-64 has (arch_hugetlb_valid_size). */
const HUGETLB_SIZES = [2 ** 21, 2 ** 30];

/** hugepagesz=/hugepages= pairs: each size must be one x86-64 has, each count a non-negative integer. */
function parseHugetlb(pools: Record<string, number> | undefined): Map<number, number> {
  const out = new Map<number, number>();
  for (const [key, count] of Object.entries(pools ?? {})) {
    const size = parseSize(key);
    if (size === undefined || !HUGETLB_SIZES.includes(size)) {
      throw new KernelConfigError(`Kernel option hugetlb: unsupported huge page size ${JSON.stringify(key)}; x86-64 has '2MiB' and '1GiB'`);
    }
    if (!Number.isSafeInteger(count) || count < 0) throw new KernelConfigError(`Kernel option hugetlb: the number of ${key} pages must be a non-negative integer, got ${count}`);
    if (out.has(size)) throw new KernelConfigError(`Kernel option hugetlb: ${key} is given twice`);
    out.set(size, count);
  }
  return out;
}

/** The mount table: normalized absolute mount points, known types, '/' present. */
function parseMounts(mounts: Record<string, string | { type: string; size?: string | number; options?: string }> | undefined): MountSpec[] {
  const out: MountSpec[] = [];
  for (const [point, v] of Object.entries(mounts ?? DEFAULT_MOUNTS)) {
    const type = typeof v === 'string' ? v : v.type;
    if (!isNormalizedAbsolute(point)) {
      throw new KernelConfigError(`Kernel option mounts: ${JSON.stringify(point)} is not a normalized absolute path (like '/mnt/data')`);
    }
    if (!(MOUNT_TYPES as readonly string[]).includes(type)) {
      throw new KernelConfigError(`Kernel option mounts: unknown file system type ${JSON.stringify(type)} at ${point}; valid types: ${MOUNT_TYPES.join(', ')}`);
    }
    let size = 0;
    if (typeof v !== 'string' && v.size !== undefined) {
      const b = parseSize(v.size);
      if (b === undefined || b <= 0 || b % PAGE_SIZE !== 0) {
        throw new KernelConfigError(`Kernel option mounts: size of ${point} must be a positive multiple of 4KiB, got ${JSON.stringify(v.size)}`);
      }
      size = b;
    }
    if (typeof v !== 'string' && v.options !== undefined && type !== 'hugetlbfs' && type !== 'tmpfs') {
      throw new KernelConfigError(`Kernel option mounts: options are for hugetlbfs and tmpfs mounts (${point} is ${type})`);
    }
    if (type === 'tmpfs' && typeof v !== 'string' && v.options !== undefined) {
      // mirrors mm/shmem.c:shmem_parse_one (huge= only; deny and force are shmem_enabled's alone)
      let huge: ShmemHuge = 'never';
      for (const opt of v.options.split(',').filter((o) => o !== '')) {
        const m = /^huge=(never|always|within_size|advise)$/.exec(opt);
        if (m === null) throw new KernelConfigError(`Kernel option mounts: tmpfs at ${point}: unsupported option ${JSON.stringify(opt)} (huge=never|always|within_size|advise)`);
        huge = m[1] as ShmemHuge;
      }
      out.push({ point, type: 'tmpfs', size, tmpfsHuge: huge });
      continue;
    }
    if (type === 'hugetlbfs') {
      // The option string as mount -o takes it; a size given as such is size=.
      const text = [typeof v === 'string' ? '' : (v.options ?? ''), size > 0 ? `size=${size}` : ''].filter((s) => s !== '').join(',');
      const opts = parseHugetlbfsOptions(text);
      if (typeof opts === 'string') throw new KernelConfigError(`Kernel option mounts: hugetlbfs at ${point}: ${opts}`);
      if (opts.pagesize !== undefined && opts.pagesize !== 2 ** 21 && opts.pagesize !== 2 ** 30) {
        throw new KernelConfigError(`Kernel option mounts: hugetlbfs at ${point}: unsupported page size ${opts.pagesize} (x86-64 has 2M and 1G)`);
      }
      out.push({ point, type: 'hugetlbfs', size: 0, hugetlbfs: opts });
      continue;
    }
    out.push({ point, type: type as MountType, size });
  }
  if (!out.some((m) => m.point === '/')) throw new KernelConfigError("Kernel option mounts: nothing is mounted on '/'");
  return out;
}
