/**
 * KVM's data structures (mirrors include/linux/kvm_host.h and the x86 parts
 * of arch/x86/include/asm/kvm_host.h the model needs): the VM, its memslots
 * with their huge-page bookkeeping (lpage_info), the per-VM memory attributes
 * and the stage-2 state. Behaviour lives in kvm_main.ts, mmu.ts,
 * guest_memfd.ts and vcpu.ts; this module only holds state, so those can
 * import it without importing each other.
 *
 * Scale: attributes are an extent set of private gfns (one record per run,
 * not per page); stage-2 tables are typed arrays (src/mm/pgtable.ts); the
 * lpage_info counters are one Uint32Array per slot and huge level, as Linux
 * allocates them (4 bytes per 2 MiB of slot at the 2 MiB level).
 */
import { ExtentSet } from '../lib/extent_set.js';
import type { Host } from '../mm/host.js';
import type { MmStruct } from '../mm/mm_types.js';
import type { MmuNotifier } from '../mm/mmu_notifier.js';
import type { PageTable } from '../mm/pgtable.js';
import type { FsInode } from '../fs/inode.js';
import type { OpenFile } from '../fs/file.js';
import type { Hstate, Subpool } from '../mm/hugetlb.js';
import { KVM_VM_TYPE_PKVM_LIKE, KVM_X86_DEFAULT_VM, KVM_X86_SNP_VM, KVM_X86_TDX_VM, type KvmRun } from '../uapi/kvm.js';

/** The guest_memfd the kernel has (Kernel option `kvm`, see src/config.ts). */
export interface KvmConfig {
  /** '6.12', or 'mainline' (creation flags, host mmap, the CoCo VM types). */
  readonly guestMemfd: '6.12' | 'mainline';
  /** kvm.gmem_in_place_conversion (in-place conversion v8): attributes live in guest_memfd. */
  readonly inPlaceConversion: boolean;
  /** The HugeTLB flag of the 1 GiB series RFC v2. */
  readonly hugetlb: boolean;
  /** Policy gmemHugeShared: what a HugeTLB-backed file does when a page of a huge folio becomes shared. */
  readonly hugeShared: GmemHugeShared;
  /** Policy s2Recoalesce: 'lazy' (Linux: a uniform range maps huge again on its next fault) or 'eager' (at the attribute change). */
  readonly s2Recoalesce: 'lazy' | 'eager';
}

/** The designs of issue 8 section 5 (seeds 000/001); src/policy/registry.ts lists them. */
export type GmemHugeShared = 'split' | 'no-longterm-pin' | 'pfnmap' | 'separate-shared';

/**
 * What a guest_memfd file's design did (Kernel.gmemStats adds the figures
 * computed on demand). Conversions are KVM_SET_MEMORY_ATTRIBUTES2 calls that
 * changed something; latency is simulated ns: the default cost model over
 * the events the call counted, plus the time it waited for short-term pins.
 */
export interface GmemDesignCounters {
  /** Conversions that succeeded at once, after waiting for short-term pins, with EAGAIN, with ENOMEM (split: no vmemmap). */
  convertOk: number;
  convertWaited: number;
  convertEagain: number;
  convertEnomem: number;
  /** Simulated ns over every conversion, the largest one, and the part spent waiting for pins. */
  convertNs: number;
  convertMaxNs: number;
  waitNs: number;
  /** 4 KiB pages whose contents a conversion discarded (separate-shared). */
  discardedPages: number;
}

export function newGmemDesignCounters(): GmemDesignCounters {
  return { convertOk: 0, convertWaited: 0, convertEagain: 0, convertEnomem: 0, convertNs: 0, convertMaxNs: 0, waitNs: 0, discardedPages: 0 };
}

export const KVM_CONFIG_6_12: KvmConfig = { guestMemfd: '6.12', inPlaceConversion: false, hugetlb: false, hugeShared: 'split', s2Recoalesce: 'lazy' };

/** KVM_USER_MEM_SLOTS on x86: KVM_MEM_SLOTS_NUM (32767) minus the 3 private slots. */
export const KVM_USER_MEM_SLOTS = 32764;
/** KVM_MAX_VCPUS and KVM_MAX_VCPU_IDS (KVM_MAX_VCPUS * KVM_VCPU_ID_RATIO, 4) on x86 in 6.12. */
export const KVM_MAX_VCPUS = 4096;
export const KVM_MAX_VCPU_IDS = 16384;
/** KVM_MEM_MAX_NR_PAGES: (1 << 31) - 1 pages per slot. */
export const KVM_MEM_MAX_NR_PAGES = 2 ** 31 - 1;
/** lpage_info bit 31: the huge page has mixed memory attributes. */
export const KVM_LPAGE_MIXED_FLAG = 0x80000000;

/** PG_LEVEL_4K / 2M / 1G (the stage-2 level of a leaf; equal to src/mm/page.ts Level values). */
export const enum PgLevel {
  L4K = 1,
  L2M = 2,
  L1G = 3,
}

/** KVM_PAGES_PER_HPAGE(level): 4 KiB pages per leaf at level. */
export const PAGES_PER_LEVEL: readonly number[] = [0, 1, 512, 262144];

/** A guest_memfd binding: file pages [start, end) back the slot. */
export interface GmemBinding {
  start: number;
  end: number;
  slot: KvmMemorySlot;
}

/**
 * One guest_memfd file (struct kvm_gmem): one VM's view of an inode's pages.
 * In 6.12 every inode has exactly one such file.
 */
export interface KvmGmem {
  readonly kvm: Kvm;
  readonly inode: FsInode;
  /** The file while it is open; null once released. */
  file: OpenFile | null;
  /** The creation flags below bit 32 (MMAP, INIT_SHARED, HUGETLB); the HugeTLB page size is hstate. */
  readonly flags: number;
  /** bindings (an xarray index -> memslot in Linux): few, non-overlapping, kept as a list. */
  readonly bindings: GmemBinding[];
  /**
   * The file's shared/private attributes (gmem_inode.attributes, a maple tree
   * in v8): the PRIVATE page indices as extents, one record per run. Every
   * index starts PRIVATE unless INIT_SHARED. Without in-place conversion it
   * never changes (it only decides what host faults may map).
   */
  readonly privateIdx: ExtentSet;
  /** HugeTLB backing (1 GiB series RFC v2): the page size's hstate and the file's subpool; null for order-0 folios. */
  readonly hstate: Hstate | null;
  spool: Subpool | null;
  /** The gmemHugeShared design's counters (meaningful for HugeTLB-backed files). */
  readonly counters: GmemDesignCounters;
}

/** struct kvm_memory_slot. */
export class KvmMemorySlot {
  /** slot->gmem: the guest_memfd backing private pages (file NULL once the fd was closed). */
  gmem: { file: KvmGmem | null; pgoff: number } = { file: null, pgoff: 0 };
  /**
   * lpage_info[level - 2][i].disallow_lpage for the 2 MiB (index 0) and 1 GiB
   * (index 1) huge pages the slot touches: a count of reasons (misalignment,
   * partial head/tail) plus KVM_LPAGE_MIXED_FLAG.
   */
  readonly lpageInfo: [Uint32Array, Uint32Array];

  constructor(
    readonly id: number,
    /** The address space: 0, or 1 for SMM (whose slots no vCPU of the model maps). */
    readonly asId: number,
    readonly baseGfn: number,
    readonly npages: number,
    readonly flags: number,
    readonly userspaceAddr: number,
  ) {
    this.lpageInfo = [new Uint32Array(lpages(baseGfn, npages, PgLevel.L2M)), new Uint32Array(lpages(baseGfn, npages, PgLevel.L1G))];
  }

  get endGfn(): number {
    return this.baseGfn + this.npages;
  }
}

/** Huge pages at level the slot touches (its first through last gfn). */
function lpages(baseGfn: number, npages: number, level: PgLevel): number {
  const per = PAGES_PER_LEVEL[level];
  return Math.floor((baseGfn + npages - 1) / per) - Math.floor(baseGfn / per) + 1;
}

/** Index into lpageInfo of the huge page holding gfn (gfn_to_index). */
export function lpageIndex(slot: KvmMemorySlot, gfn: number, level: PgLevel): number {
  const per = PAGES_PER_LEVEL[level];
  return Math.floor(gfn / per) - Math.floor(slot.baseGfn / per);
}

/** Per-VM stage-2 counters (what `Kernel.kvmStats()` reports). */
export interface KvmMmuStats {
  /** Leaves present now, by level: [unused, 4K, 2M, 1G]. */
  leaves: number[];
  /** Stage-2 table pages allocated now (root included). */
  tablePages: number;
  /** Leaves zapped (by notifiers, attribute changes, guest_memfd invalidation, memslot changes). */
  zaps: number;
  /** kvm_flush_remote_tlbs calls, and the vCPUs each reached (remote TLB flushes per vCPU). */
  tlbFlushes: number;
  vcpuTlbFlushes: number;
  /** Stage-2 faults handled, and those that had to retry (an invalidation raced the fault). */
  faults: number;
  faultRetries: number;
  /** Huge leaves installed over a table of smaller leaves (by a fault: lazy re-promotion; or eagerly). */
  promotions: number;
  /** Of those, installed by an attribute change without a fault (policy s2Recoalesce 'eager'). */
  eagerPromotions: number;
}

/** The stage-2 MMU of a VM (the TDP MMU's one root in 6.12 for these VM types). */
export interface KvmMmu {
  root: PageTable;
  /** mmu_invalidate_seq: bumped at the end of every invalidation. */
  invalidateSeq: number;
  /** mmu_invalidate_in_progress: invalidations between begin and end. */
  invalidateInProgress: number;
  /** mmu_invalidate_range_start / _end (gfns) of the invalidations in progress. */
  invalidateRangeStart: number;
  invalidateRangeEnd: number;
  readonly stats: KvmMmuStats;
}

/** The vCPU counters the model keeps (struct kvm_vcpu_stat; debugfs: stats.ts), by their Linux names. */
export interface KvmVcpuStat {
  /** Stage-2 faults taken (kvm_mmu_page_fault with no MMIO SPTE): every one the guest's accesses raise. */
  pf_taken: number;
  /** ... that installed a leaf (RET_PF_FIXED). */
  pf_fixed: number;
  /** ... that went to the emulator: MMIO (RET_PF_EMULATE). */
  pf_emulate: number;
  /** Hardware exits: stage-2 faults, port I/O, hypercalls, HLT, the interrupt that delivers a signal. */
  exits: number;
  /** Port I/O exits (io_interception): the selftest ucalls. */
  io_exits: number;
  /** MMIO exits to userspace. */
  mmio_exits: number;
  /** HLT (__kvm_emulate_halt). */
  halt_exits: number;
  /** KVM_RUN left with EINTR for a pending signal (kvm_handle_signal_exit). */
  signal_exits: number;
  /** Hypercalls completed, in the kernel or after a KVM_EXIT_HYPERCALL. */
  hypercalls: number;
}

/** Guest code: a generator of guest operations (see vcpu.ts and docs/API.md). */
export type GuestCode = Generator<unknown, unknown, unknown>;

/** struct kvm_vcpu. */
export interface KvmVcpu {
  readonly kvm: Kvm;
  readonly id: number;
  readonly run: KvmRun;
  /** The running guest code, or null before one is set. */
  guest: GuestCode | null;
  /** The operation an exit interrupted, resumed by the next KVM_RUN (complete_userspace_io). */
  pending: unknown;
  /** The value to resume the guest with. */
  resume: unknown;
  /** The guest ran to its end (GUEST_DONE or a return). */
  finished: boolean;
  /** The vCPU fd is open (it holds a reference on the VM). */
  file: OpenFile | null;
  /** Where a scalar load (readU8) lands: the vCPU's own 8 bytes, read by the guest at once (no buffer per load). */
  readonly scalarBuf: Uint8Array;
  /** The record of the guest access in progress (vcpu.ts), one per vCPU: a vCPU has one access pending at most. */
  readonly accessRec: unknown;
  /** vcpu->stat. */
  readonly stat: KvmVcpuStat;
}

/** struct kvm_memslots: one address space's memslots, by id and sorted by base gfn (the gfn tree). */
export interface KvmMemslots {
  readonly byId: Map<number, KvmMemorySlot>;
  readonly byGfn: KvmMemorySlot[];
}

/** KVM_MAX_NR_ADDRESS_SPACES on x86: normal and SMM. */
export const KVM_ADDRESS_SPACE_NUM = 2;

/** struct kvm. */
export class Kvm {
  /** users_count: the VM fd, vCPU fds and guest_memfd files. */
  refs = 1;
  /** __kvm_memslots(kvm, as_id): address space 0, and 1 (SMM). The model's vCPUs never enter SMM. */
  readonly memslots: KvmMemslots[] = [
    { byId: new Map(), byGfn: [] },
    { byId: new Map(), byGfn: [] },
  ];
  /** nr_memslot_pages. */
  nrMemslotPages = 0;
  /** mem_attr_array: gfns whose attributes are PRIVATE (the only attribute x86 supports). */
  readonly privateGfns = new ExtentSet();
  readonly vcpus: KvmVcpu[] = [];
  createdVcpus = 0;
  /** kvm->arch.hypercall_exit_enabled: hypercalls that exit to userspace (KVM_CAP_EXIT_HYPERCALL). */
  hypercallExitEnabled = 0;
  /** pKVM-like VMs: pages the guest shared and unshared by hypercall (in-kernel, no exit), and calls the conversion refused. */
  readonly pkvmStats = { shares: 0, unshares: 0, refused: 0 };
  /** kvm->arch.disabled_quirks. */
  disabledQuirks = 0;
  /** guest_memfd files of this VM that are still open. */
  readonly gmems = new Set<KvmGmem>();
  /** The MMU notifier subscription on mm (null once the VM is destroyed). */
  notifier: MmuNotifier | null = null;
  /** The mm exited (the notifier's release ran): nothing may be mapped any more. */
  mmReleased = false;
  /** The debugfs directory's name, <pid>-<fd> of the creator and the VM's descriptor ('' until the fd exists). */
  debugfsName = '';
  /** kvm->vm_dead. */
  dead = false;
  destroyed = false;

  constructor(
    readonly host: Host,
    readonly id: number,
    /** The VM type (KVM_X86_DEFAULT_VM, _SW_PROTECTED_VM, _SNP_VM, _TDX_VM, KVM_VM_TYPE_PKVM_LIKE). */
    readonly type: number,
    /** kvm->mm: the creator's address space, which vm ioctls must come from. */
    readonly mm: MmStruct,
    readonly mmu: KvmMmu,
    readonly cfg: KvmConfig = KVM_CONFIG_6_12,
  ) {}

  /** Address space 0's memslots by id (what vCPUs use). */
  get slots(): Map<number, KvmMemorySlot> {
    return this.memslots[0]!.byId;
  }

  /** Address space 0's memslots in gfn order. */
  get slotsByGfn(): KvmMemorySlot[] {
    return this.memslots[0]!.byGfn;
  }

  /** Every memslot of both address spaces. */
  allSlots(): KvmMemorySlot[] {
    return [...this.memslots[0]!.byGfn, ...this.memslots[1]!.byGfn];
  }

  /** kvm_arch_has_private_mem: every type but the default VM (SW_PROTECTED, SNP, TDX, pKVM-like). */
  get hasPrivateMem(): boolean {
    return this.type !== KVM_X86_DEFAULT_VM;
  }

  /**
   * A fault's privacy comes from the hardware (the C-bit of SNP, the shared
   * GPA bit of TDX: the guest access says), not from the attributes as for
   * SW_PROTECTED and pKVM-like VMs.
   */
  get privacyFromHardware(): boolean {
    return this.type === KVM_X86_SNP_VM || this.type === KVM_X86_TDX_VM;
  }

  /**
   * kvm_arch_supports_gmem_init_shared: x86 only for VMs without private
   * memory, unless in-place conversion lets CoCo VMs start shared (v8);
   * arm64 (the pKVM-like type) has the weak default, true.
   */
  get supportsGmemInitShared(): boolean {
    if (this.type === KVM_VM_TYPE_PKVM_LIKE) return true;
    return !this.hasPrivateMem || this.cfg.inPlaceConversion;
  }
}

/** vm_list: every live VM of a host, for the oracle and Kernel.kvmStats. */
const vmLists = new WeakMap<Host, Set<Kvm>>();

export function vmList(host: Host): Set<Kvm> {
  let s = vmLists.get(host);
  if (s === undefined) {
    s = new Set();
    vmLists.set(host, s);
  }
  return s;
}

/** The memslot holding gfn in address space 0 (__gfn_to_memslot), or null. */
// mirrors include/linux/kvm_host.h:search_memslots
export function gfnToMemslot(kvm: Kvm, gfn: number): KvmMemorySlot | null {
  const a = kvm.slotsByGfn;
  let lo = 0;
  let hi = a.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const s = a[mid]!;
    if (gfn < s.baseGfn) hi = mid - 1;
    else if (gfn >= s.endGfn) lo = mid + 1;
    else return s;
  }
  return null;
}

/** The memslots of address space asId overlapping gfns [start, end), in gfn order (kvm_for_each_memslot_in_gfn_range). */
export function memslotsInRange(kvm: Kvm, start: number, end: number, asId = 0): KvmMemorySlot[] {
  const a = kvm.memslots[asId]!.byGfn;
  let lo = 0;
  let hi = a.length;
  // The first slot ending after start.
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]!.endGfn <= start) lo = mid + 1;
    else hi = mid;
  }
  const out: KvmMemorySlot[] = [];
  for (let i = lo; i < a.length && a[i]!.baseGfn < end; i++) out.push(a[i]!);
  return out;
}

/**
 * kvm_mem_is_private: the gfn's attributes say PRIVATE. With in-place
 * conversion the attribute is the guest_memfd's (v8: a gfn without a memslot
 * or guest_memfd is shared); else the VM's.
 */
// mirrors include/linux/kvm_host.h:kvm_mem_is_private (v8: -> kvm_gmem_is_private)
export function kvmMemIsPrivate(kvm: Kvm, gfn: number): boolean {
  if (!kvm.hasPrivateMem) return false;
  if (!kvm.cfg.inPlaceConversion) return kvm.privateGfns.has(gfn);
  const slot = gfnToMemslot(kvm, gfn);
  const g = slot?.gmem.file ?? null;
  return g !== null && g.privateIdx.has(gfn - slot!.baseGfn + slot!.gmem.pgoff);
}

/**
 * Private gfns of [start, end) in slot: 'all', 'none' or 'mixed', from the
 * attributes kvmMemIsPrivate reads (for mapping levels and the oracle).
 */
export function kvmRangePrivacy(kvm: Kvm, slot: KvmMemorySlot | null, start: number, end: number): 'all' | 'none' | 'mixed' {
  if (!kvm.hasPrivateMem) return 'none';
  let set: ExtentSet = kvm.privateGfns;
  if (kvm.cfg.inPlaceConversion) {
    const g = slot?.gmem.file ?? null;
    if (g === null) return 'none';
    set = g.privateIdx;
    const d = slot!.gmem.pgoff - slot!.baseGfn;
    start += d;
    end += d;
  }
  if (set.covers(start, end)) return 'all';
  return set.overlaps(start, end) ? 'mixed' : 'none';
}

/** KVM_MEMSLOT_GMEM_ONLY: the slot's guest_memfd has MMAP, so every fault (shared too) is served from it. */
// mirrors include/linux/kvm_host.h:kvm_memslot_is_gmem_only
export function kvmMemslotIsGmemOnly(slot: KvmMemorySlot): boolean {
  const g = slot.gmem.file;
  return g !== null && (g.flags & 1) !== 0;
}

/** kvm_slot_can_be_private: the slot is bound to a guest_memfd. */
// mirrors include/linux/kvm_host.h:kvm_slot_can_be_private
export function kvmSlotCanBePrivate(slot: KvmMemorySlot): boolean {
  return (slot.flags & 4) !== 0;
}

/** The host virtual address of gfn in slot (__gfn_to_hva_memslot). */
export function gfnToHva(slot: KvmMemorySlot, gfn: number): number {
  return slot.userspaceAddr + (gfn - slot.baseGfn) * 4096;
}
