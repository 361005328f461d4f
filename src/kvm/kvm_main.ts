/**
 * /dev/kvm and the VM file (mirrors virt/kvm/kvm_main.c with the x86 answers
 * of arch/x86/kvm/x86.c): KVM_GET_API_VERSION, KVM_CREATE_VM,
 * KVM_CHECK_EXTENSION, KVM_CREATE_VCPU, KVM_ENABLE_CAP,
 * KVM_SET_USER_MEMORY_REGION(2), KVM_SET_MEMORY_ATTRIBUTES and
 * KVM_CREATE_GUEST_MEMFD, each checking its arguments in the kernel's order.
 *
 * The modelled kernel is x86-64 6.12 built with CONFIG_KVM_SW_PROTECTED_VM
 * (Debian's is not: its set_memory_region_test skips the guest_memfd cases,
 * the model runs them). VM types: KVM_X86_DEFAULT_VM and
 * KVM_X86_SW_PROTECTED_VM; SEV, SEV-ES, SNP and TDX need hardware the model
 * does not have and are EINVAL, as on a host without them.
 */
import type { ErrnoName } from '../uapi/errno.js';
import { cUInt, cULong, copyStructFromUser } from '../uapi/ctypes.js';
import { O_RDWR } from '../uapi/fcntl.js';
import * as K from '../uapi/kvm.js';
import { mmuNotifierRegister, mmuNotifierUnregister } from '../mm/mmu_notifier.js';
import { PAGE_SIZE, TASK_SIZE } from '../mm/page.js';
import { anonInodeGetfile } from '../fs/anon_inodes.js';
import type { FsFileOps, OpenFile, Task } from '../fs/file.js';
import type { Vfs } from '../fs/inode.js';
import type { Host } from '../mm/host.js';
import {
  KVM_MAX_VCPUS,
  KVM_MAX_VCPU_IDS,
  KVM_MEM_MAX_NR_PAGES,
  KVM_ADDRESS_SPACE_NUM,
  KVM_USER_MEM_SLOTS,
  KVM_CONFIG_6_12,
  Kvm,
  type KvmConfig,
  KvmMemorySlot,
  memslotsInRange,
  vmList,
} from './kvm_host.js';
import {
  kvmAllocMemslotMetadata,
  kvmArchPostSetMemoryAttributes,
  kvmArchPreSetMemoryAttributes,
  kvmFlushRemoteTlbs,
  kvmMmuCreate,
  kvmMmuDestroy,
  kvmMmuInitMemslotMemoryAttributes,
  kvmMmuInvalidateBegin,
  kvmMmuInvalidateEnd,
  kvmMmuInvalidateRangeAdd,
  kvmMmuNotifierOps,
  kvmMmuZapAll,
  kvmRangeHasMemoryAttributes,
  kvmUnmapGfnRange,
} from './mmu.js';
import { kvmGmemCommitMemoryRegion, kvmGmemCreateFile, kvmGmemPrepareMemoryRegion, kvmGmemSupportedFlags, kvmGmemUnbind, setGmemConverted, setKvmPut } from './guest_memfd.js';
import { kvmGmemRecoalesce, kvmMmuRecoalesce } from './fault.js';
import type { Hstate } from '../mm/hugetlb.js';
import { kvmVcpuCreate, kvmVcpuDestroy, setVcpuKvmPut } from './vcpu.js';
import { Ev } from '../cost/counters.js';
import { fput, getFile } from '../mm/fs_types.js';

/** The VM types this host supports (kvm_caps.supported_vm_types): with the mainline uAPI, SNP-like, TDX-like and pKVM-like too. */
function supportedVmTypes(cfg: KvmConfig): number {
  const base = (1 << K.KVM_X86_DEFAULT_VM) | (1 << K.KVM_X86_SW_PROTECTED_VM);
  return cfg.guestMemfd === 'mainline' ? base | (1 << K.KVM_X86_SNP_VM) | (1 << K.KVM_X86_TDX_VM) | (1 << K.KVM_VM_TYPE_PKVM_LIKE) : base;
}
/** kvm_caps.supported_quirks (KVM_X86_VALID_QUIRKS; IGNORE_GUEST_PAT needs self-snoop, which the model's host has). */
const SUPPORTED_QUIRKS = 0x7ff;
/** KVM_EXIT_HYPERCALL_VALID_MASK. */
const EXIT_HYPERCALL_VALID_MASK = 1 << K.KVM_HC_MAP_GPA_RANGE;
/** The flags the v1 ioctl accepts (KVM_SET_USER_MEMORY_REGION_V1_FLAGS). */
const V1_FLAGS = K.KVM_MEM_LOG_DIRTY_PAGES | K.KVM_MEM_READONLY;
const U64 = (1n << 64n) - 1n;
const PAGE = BigInt(PAGE_SIZE);

/** What the KVM module needs from the kernel. */
export interface KvmContext {
  readonly host: Host;
  readonly vfs: Vfs;
  /** Which guest_memfd (uAPI level and in-flight series); default 6.12. */
  readonly cfg?: KvmConfig;
}

/** Register /dev/kvm (the misc device of kvm_init). */
export function register(devices: Map<string, (current: Task, flags: number) => OpenFile | ErrnoName>, ctx: KvmContext): void {
  const fOp: FsFileOps = { unlockedIoctl: (_file, cmd, arg, current) => kvmDevIoctl(ctx, cmd, arg, current) };
  devices.set(K.KVM_DEV_PATH, (_current, flags) => anonInodeGetfile(ctx.vfs, K.KVM_DEV_PATH, fOp, flags));
}

/** Install file at a new descriptor of current's; EMFILE if none is free (the file is dropped). */
function installFd(current: Task, file: OpenFile, cloexec: boolean): number | ErrnoName {
  const fds = current.fds;
  if (fds === undefined) return 'ESRCH';
  const fd = fds.install(file, cloexec);
  if (fd < 0) {
    fput(getFile(file));
    return 'EMFILE';
  }
  return fd;
}

// mirrors virt/kvm/kvm_main.c:kvm_dev_ioctl
function kvmDevIoctl(ctx: KvmContext, cmd: number, arg: unknown, current: Task): number | ErrnoName {
  switch (cmd) {
    case K.KVM_GET_API_VERSION:
      return argValue(arg) !== 0n ? 'EINVAL' : K.KVM_API_VERSION;
    case K.KVM_CREATE_VM:
      return kvmDevIoctlCreateVm(ctx, argValue(arg), current);
    case K.KVM_CHECK_EXTENSION:
      return kvmVmIoctlCheckExtensionGeneric(ctx, null, argValue(arg));
    case K.KVM_GET_VCPU_MMAP_SIZE:
      // struct kvm_run, the PIO data page and the coalesced MMIO ring.
      return argValue(arg) !== 0n ? 'EINVAL' : 3 * PAGE_SIZE;
  }
  // kvm_arch_dev_ioctl: nothing else the model has.
  return 'EINVAL';
}

/** The unsigned long an ioctl's scalar argument is (absent: 0). */
function argValue(arg: unknown): bigint | null {
  return arg === undefined ? 0n : cULong(arg);
}

// mirrors virt/kvm/kvm_main.c:kvm_dev_ioctl_create_vm (-> kvm_create_vm, kvm_arch_init_vm)
function kvmDevIoctlCreateVm(ctx: KvmContext, type: bigint | null, current: Task): number | ErrnoName {
  const fds = current.fds;
  const mm = current.mm;
  if (fds === undefined || mm === null) return 'ESRCH';
  if (!fds.hasFree()) return 'EMFILE';
  const cfg = ctx.cfg ?? KVM_CONFIG_6_12;
  if (type === null || type >= 32n || !(supportedVmTypes(cfg) & (1 << Number(type)))) return 'EINVAL';
  const mmu = kvmMmuCreate(ctx.host);
  if (mmu === null) return 'ENOMEM';
  const kvm = new Kvm(ctx.host, ctx.host.newId(), Number(type), mm, mmu, cfg);
  kvm.notifier = mmuNotifierRegister(mm, kvmMmuNotifierOps(kvm));
  vmList(ctx.host).add(kvm);
  const fOp: FsFileOps = {
    unlockedIoctl: (_f, c, a, cur) => kvmVmIoctl(ctx, kvm, c, a, cur),
    release: () => kvmPutKvm(kvm),
  };
  const file = anonInodeGetfile(ctx.vfs, 'anon_inode:kvm-vm', fOp, O_RDWR, kvm);
  const fd = installFd(current, file, true);
  // kvm_create_vm_debugfs: the directory is named after the creator's pid and the VM's descriptor.
  if (typeof fd === 'number') kvm.debugfsName = `${current.pid}-${fd}`;
  return fd;
}

/** Drop a reference to the VM; the last one destroys it. */
// mirrors virt/kvm/kvm_main.c:kvm_put_kvm (-> kvm_destroy_vm)
export function kvmPutKvm(kvm: Kvm): void {
  if (--kvm.refs > 0) return;
  kvm.destroyed = true;
  if (kvm.notifier !== null) mmuNotifierUnregister(kvm.notifier);
  kvm.notifier = null;
  for (const v of kvm.vcpus) kvmVcpuDestroy(v);
  for (const ms of kvm.memslots) {
    for (const s of ms.byGfn) kvmGmemUnbind(s);
    ms.byId.clear();
    ms.byGfn.length = 0;
  }
  kvmMmuDestroy(kvm);
  vmList(kvm.host).delete(kvm);
}
setKvmPut(kvmPutKvm);
setGmemConverted(kvmGmemRecoalesce);
setVcpuKvmPut(kvmPutKvm);

/** KVM_CHECK_EXTENSION on /dev/kvm (kvm null) or on a VM. */
// mirrors virt/kvm/kvm_main.c:kvm_vm_ioctl_check_extension_generic (-> x86's kvm_vm_ioctl_check_extension)
function kvmVmIoctlCheckExtensionGeneric(ctx: KvmContext, kvm: Kvm | null, ext: bigint | null): number {
  const cap = ext === null || ext > 0x7fffffffn ? -1 : Number(ext);
  const cfg = ctx.cfg ?? KVM_CONFIG_6_12;
  const mainline = cfg.guestMemfd === 'mainline';
  switch (cap) {
    case K.KVM_CAP_USER_MEMORY:
    case K.KVM_CAP_USER_MEMORY2:
    case K.KVM_CAP_DESTROY_MEMORY_REGION_WORKS:
    case K.KVM_CAP_JOIN_MEMORY_REGIONS_WORKS:
    case K.KVM_CAP_CHECK_EXTENSION_VM:
    case K.KVM_CAP_ENABLE_CAP_VM:
    case K.KVM_CAP_SYNC_MMU:
    case K.KVM_CAP_MEMORY_FAULT_INFO:
      return 1;
    case K.KVM_CAP_MULTI_ADDRESS_SPACE:
      // x86: the normal and the SMM address space.
      return KVM_ADDRESS_SPACE_NUM;
    case K.KVM_CAP_NR_MEMSLOTS:
      return KVM_USER_MEM_SLOTS;
    case K.KVM_CAP_MEMORY_ATTRIBUTES:
      // v8: per-VM PRIVATE tracking is off while attributes live in guest_memfd.
      if (cfg.inPlaceConversion) return 0;
      return kvm === null || kvm.hasPrivateMem ? K.KVM_MEMORY_ATTRIBUTE_PRIVATE : 0;
    case K.KVM_CAP_GUEST_MEMFD:
      // Mainline: CONFIG_KVM_GUEST_MEMFD alone (default VMs take MMAP files); 6.12: VMs with private memory.
      return mainline || kvm === null || kvm.hasPrivateMem ? 1 : 0;
    case K.KVM_CAP_GUEST_MEMFD_FLAGS:
      // A u64 returned as the ioctl's long: userspace's int ioctl() sees its low 32 bits (the RFC's HugeTLB size bits 58-63 drop out).
      return mainline ? Number(BigInt.asIntN(32, kvmGmemSupportedFlags(cfg, kvm))) : 0;
    case K.KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES:
      // v8: PRIVATE iff in-place mode and the VM has private memory (/dev/kvm answers as such a VM would; a guess: the series is silent).
      return cfg.inPlaceConversion && (kvm === null || kvm.hasPrivateMem) ? K.KVM_MEMORY_ATTRIBUTE_PRIVATE : 0;
    case K.KVM_CAP_GMEM_HUGETLB:
      return cfg.hugetlb ? 1 : 0;
    case K.KVM_CAP_VM_TYPES:
      return supportedVmTypes(cfg);
    case K.KVM_CAP_EXIT_HYPERCALL:
      return EXIT_HYPERCALL_VALID_MASK;
    case K.KVM_CAP_DISABLE_QUIRKS2:
      return SUPPORTED_QUIRKS;
    case K.KVM_CAP_READONLY_MEM:
    case K.KVM_CAP_PRE_FAULT_MEMORY:
      return 1;
    case K.KVM_CAP_NR_VCPUS:
      // min(num_online_cpus(), KVM_MAX_VCPUS): the Kernel option `cpus`.
      return Math.min(ctx.host.cfg.cpus, KVM_MAX_VCPUS);
    case K.KVM_CAP_MAX_VCPUS:
      return KVM_MAX_VCPUS;
    case K.KVM_CAP_MAX_VCPU_ID:
      return KVM_MAX_VCPU_IDS;
  }
  return 0;
}

// ---------------------------------------------------------------------------
// VM ioctls.

// mirrors virt/kvm/kvm_main.c:kvm_vm_ioctl
function kvmVmIoctl(ctx: KvmContext, kvm: Kvm, cmd: number, arg: unknown, current: Task): number | ErrnoName {
  if (kvm.mm !== current.mm || kvm.dead) return 'EIO';
  switch (cmd) {
    case K.KVM_CREATE_VCPU:
      return kvmVmIoctlCreateVcpu(ctx, kvm, argValue(arg), current);
    case K.KVM_ENABLE_CAP: {
      const c = copyStructFromUser(arg, ['cap', 'flags', 'args']);
      if (c === null) return 'EFAULT';
      return kvmVmIoctlEnableCap(kvm, cUInt(c.cap), cUInt(c.flags), c.args);
    }
    case K.KVM_SET_USER_MEMORY_REGION:
    case K.KVM_SET_USER_MEMORY_REGION2: {
      const v1 = cmd === K.KVM_SET_USER_MEMORY_REGION;
      const fields = v1 ? ['slot', 'flags', 'guest_phys_addr', 'memory_size', 'userspace_addr'] : ['slot', 'flags', 'guest_phys_addr', 'memory_size', 'userspace_addr', 'guest_memfd_offset', 'guest_memfd'];
      const m = copyStructFromUser(arg, fields);
      if (m === null) return 'EFAULT';
      const mem = region(m);
      if (mem === null) return 'EFAULT';
      if (v1 && mem.flags & ~V1_FLAGS) return 'EINVAL';
      return kvmVmIoctlSetMemoryRegion(kvm, mem, current);
    }
    case K.KVM_SET_MEMORY_ATTRIBUTES: {
      // Only with CONFIG_KVM_GENERIC_MEMORY_ATTRIBUTES (x86 with SW_PROTECTED VMs); the ioctl exists on every VM.
      const a = copyStructFromUser(arg, ['address', 'size', 'attributes', 'flags']);
      if (a === null) return 'EFAULT';
      const v = [cULong(a.address), cULong(a.size), cULong(a.attributes), cULong(a.flags)];
      if (v.some((x) => x === null)) return 'EFAULT';
      return kvmVmIoctlSetMemAttributes(kvm, v[0]!, v[1]!, v[2]!, v[3]!);
    }
    case K.KVM_CHECK_EXTENSION:
      return kvmVmIoctlCheckExtensionGeneric(ctx, kvm, argValue(arg));
    case K.KVM_CREATE_GUEST_MEMFD: {
      const g = copyStructFromUser(arg, ['size', 'flags']);
      if (g === null) return 'EFAULT';
      const size = cULong(g.size);
      const flags = cULong(g.flags);
      if (size === null || flags === null) return 'EFAULT';
      return kvmGmemCreate(ctx, kvm, size, flags, current);
    }
    case K.KVM_SET_NR_MMU_PAGES: {
      // kvm_vm_ioctl_set_nr_mmu_pages: at least KVM_MIN_ALLOC_MMU_PAGES (64); a shadow-MMU budget the TDP MMU ignores.
      const n = argValue(arg);
      return n === null || n < 64n ? 'EINVAL' : 0;
    }
  }
  // kvm_arch_vm_ioctl: nothing else the model has.
  return 'ENOTTY';
}

/** struct kvm_userspace_memory_region2 as C values, or null (a field with no C value: a bad pointer). */
interface Region {
  slot: number;
  flags: number;
  gpa: bigint;
  size: bigint;
  uaddr: bigint;
  gmemOffset: bigint;
  gmemFd: number;
}

function region(m: Record<string, unknown>): Region | null {
  const slot = cUInt(m.slot);
  const flags = cUInt(m.flags);
  const gpa = cULong(m.guest_phys_addr);
  const size = cULong(m.memory_size);
  const uaddr = cULong(m.userspace_addr);
  const gmemOffset = cULong(m.guest_memfd_offset ?? 0);
  const gmemFd = cUInt(m.guest_memfd ?? 0);
  if (slot === null || flags === null || gpa === null || size === null || uaddr === null || gmemOffset === null || gmemFd === null) return null;
  return { slot, flags, gpa, size, uaddr, gmemOffset, gmemFd };
}

// mirrors virt/kvm/kvm_main.c:kvm_vm_ioctl_set_memory_region
function kvmVmIoctlSetMemoryRegion(kvm: Kvm, mem: Region, current: Task): number | ErrnoName {
  if ((mem.slot & 0xffff) >= KVM_USER_MEM_SLOTS) return 'EINVAL';
  const r = kvmSetMemoryRegion(kvm, mem, current);
  return r === null ? 0 : r;
}

// mirrors virt/kvm/kvm_main.c:check_memory_region_flags
function checkMemoryRegionFlags(kvm: Kvm, flags: number): ErrnoName | null {
  let valid = K.KVM_MEM_LOG_DIRTY_PAGES;
  // Mainline: any VM with CONFIG_KVM_GUEST_MEMFD (a default VM binds MMAP files); 6.12: kvm_arch_has_private_mem.
  if (kvm.hasPrivateMem || kvm.cfg.guestMemfd === 'mainline') valid |= K.KVM_MEM_GUEST_MEMFD;
  // Dirty logging private memory is not supported.
  if (flags & K.KVM_MEM_GUEST_MEMFD) valid &= ~K.KVM_MEM_LOG_DIRTY_PAGES;
  // Read-only memslots have MMIO semantics on writes, which private memory cannot have.
  if (!(flags & K.KVM_MEM_GUEST_MEMFD)) valid |= K.KVM_MEM_READONLY;
  return flags & ~valid ? 'EINVAL' : null;
}

/**
 * Create, move, change the flags of, or delete (memory_size 0) a memslot,
 * with __kvm_set_memory_region's checks in order.
 */
// mirrors virt/kvm/kvm_main.c:__kvm_set_memory_region
function kvmSetMemoryRegion(kvm: Kvm, mem: Region, current: Task): ErrnoName | null {
  const e = checkMemoryRegionFlags(kvm, mem.flags);
  if (e !== null) return e;
  const asId = mem.slot >>> 16;
  const id = mem.slot & 0xffff;
  // General sanity checks.
  if (mem.size % PAGE !== 0n) return 'EINVAL';
  if (mem.gpa % PAGE !== 0n) return 'EINVAL';
  // access_ok(userspace_addr, memory_size): the end at most USER_PTR_MAX (TASK_SIZE), without wrapping.
  if (mem.uaddr % PAGE !== 0n || mem.uaddr + mem.size > BigInt(TASK_SIZE)) return 'EINVAL';
  if (mem.flags & K.KVM_MEM_GUEST_MEMFD && (mem.gmemOffset % PAGE !== 0n || mem.gmemOffset + mem.size > U64)) return 'EINVAL';
  if (asId >= KVM_ADDRESS_SPACE_NUM || id >= KVM_USER_MEM_SLOTS + 3) return 'EINVAL';
  if (mem.gpa + mem.size > U64) return 'EINVAL';
  if (mem.size / PAGE > BigInt(KVM_MEM_MAX_NR_PAGES)) return 'EINVAL';
  const slots = kvm.memslots[asId]!;
  const old = slots.byId.get(id) ?? null;
  if (mem.size === 0n) {
    if (old === null) return 'EINVAL';
    kvmDeleteMemslot(kvm, old);
    return null;
  }
  const baseGfn = Number(mem.gpa / PAGE);
  const npages = Number(mem.size / PAGE);
  let change: 'create' | 'move' | 'flags';
  if (old === null) {
    change = 'create';
  } else {
    // Private memslots are immutable, they can only be deleted.
    if (mem.flags & K.KVM_MEM_GUEST_MEMFD) return 'EINVAL';
    if (mem.uaddr !== BigInt(old.userspaceAddr) || npages !== old.npages || (mem.flags ^ old.flags) & (K.KVM_MEM_READONLY | K.KVM_MEM_GUEST_MEMFD)) return 'EINVAL';
    if (baseGfn !== old.baseGfn) change = 'move';
    else if (mem.flags !== old.flags) change = 'flags';
    else return null;
  }
  if (change !== 'flags' && memslotsInRange(kvm, baseGfn, baseGfn + npages, asId).some((s) => s.id !== id)) return 'EEXIST';
  const slot = new KvmMemorySlot(id, asId, baseGfn, npages, mem.flags, Number(mem.uaddr));
  if (change === 'create' && mem.flags & K.KVM_MEM_GUEST_MEMFD) {
    const r = kvmGmemPrepareMemoryRegion(kvm, slot, current.fds?.get(mem.gmemFd), mem.gmemOffset);
    if (r !== null) return r;
  } else if (old !== null) {
    slot.gmem = old.gmem;
  }
  return kvmSetMemslot(kvm, old, slot, change);
}

/** Install new in place of old (kvm_set_memslot), zapping old's mappings on a move. */
// mirrors virt/kvm/kvm_main.c:kvm_set_memslot (-> kvm_commit_memory_region, kvm_arch_flush_shadow_memslot)
function kvmSetMemslot(kvm: Kvm, old: KvmMemorySlot | null, slot: KvmMemorySlot, change: 'create' | 'move' | 'flags'): ErrnoName | null {
  if (change === 'create' && slot.flags & K.KVM_MEM_GUEST_MEMFD) {
    const r = kvmGmemCommitMemoryRegion(slot);
    if (r !== null) return r;
  }
  kvmAllocMemslotMetadata(slot);
  kvmMmuInitMemslotMemoryAttributes(kvm, slot);
  if (old !== null) {
    removeSlot(kvm, old);
    if (change === 'move') flushShadowMemslot(kvm, old);
    else if (slot.flags & K.KVM_MEM_LOG_DIRTY_PAGES && !(old.flags & K.KVM_MEM_LOG_DIRTY_PAGES)) {
      // Dirty logging maps 4K only: the huge leaves go (the model zaps the slot instead of splitting).
      if (old.asId === 0 && kvmUnmapGfnRange(kvm, old.baseGfn, old.endGfn)) kvmFlushRemoteTlbs(kvm);
    }
    // The binding now names the new slot object.
    const gmem = slot.gmem.file;
    if (gmem !== null) for (const b of gmem.bindings) if (b.slot === old) b.slot = slot;
  }
  insertSlot(kvm, slot);
  kvm.nrMemslotPages += slot.npages;
  return null;
}

function insertSlot(kvm: Kvm, slot: KvmMemorySlot): void {
  const ms = kvm.memslots[slot.asId]!;
  ms.byId.set(slot.id, slot);
  const a = ms.byGfn;
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]!.baseGfn < slot.baseGfn) lo = mid + 1;
    else hi = mid;
  }
  a.splice(lo, 0, slot);
}

function removeSlot(kvm: Kvm, slot: KvmMemorySlot): void {
  const ms = kvm.memslots[slot.asId]!;
  ms.byId.delete(slot.id);
  const i = ms.byGfn.indexOf(slot);
  if (i >= 0) ms.byGfn.splice(i, 1);
  kvm.nrMemslotPages -= slot.npages;
}

/** A deleted or moved slot's mappings go: all of them with the SLOT_ZAP_ALL quirk (the default), else the slot's. */
// mirrors arch/x86/kvm/mmu/mmu.c:kvm_arch_flush_shadow_memslot
function flushShadowMemslot(kvm: Kvm, slot: KvmMemorySlot): void {
  if (kvm.disabledQuirks & K.KVM_X86_QUIRK_SLOT_ZAP_ALL) {
    // Only the slot's own address space's mappings (there are none for SMM in the model).
    if (slot.asId === 0 && kvmUnmapGfnRange(kvm, slot.baseGfn, slot.endGfn)) kvmFlushRemoteTlbs(kvm);
  } else {
    kvmMmuZapAll(kvm);
  }
}

// mirrors virt/kvm/kvm_main.c:kvm_set_memslot (KVM_MR_DELETE)
function kvmDeleteMemslot(kvm: Kvm, old: KvmMemorySlot): void {
  removeSlot(kvm, old);
  flushShadowMemslot(kvm, old);
  kvmGmemUnbind(old);
}

// mirrors virt/kvm/kvm_main.c:kvm_vm_ioctl_create_vcpu
function kvmVmIoctlCreateVcpu(ctx: KvmContext, kvm: Kvm, id: bigint | null, current: Task): number | ErrnoName {
  if (id === null || id >= BigInt(KVM_MAX_VCPU_IDS)) return 'EINVAL';
  if (kvm.createdVcpus >= KVM_MAX_VCPUS) return 'EINVAL';
  if (kvm.vcpus.some((v) => v.id === Number(id))) return 'EEXIST';
  if (current.fds === undefined || !current.fds.hasFree()) return 'EMFILE';
  kvm.createdVcpus++;
  const file = kvmVcpuCreate(ctx.vfs, kvm, Number(id));
  return installFd(current, file, true);
}

// mirrors arch/x86/kvm/x86.c:kvm_vm_ioctl_enable_cap (after kvm_vm_ioctl_enable_cap_generic: no generic cap is modelled)
function kvmVmIoctlEnableCap(kvm: Kvm, cap: number | null, flags: number | null, argsIn: unknown): number | ErrnoName {
  if (flags !== 0) return 'EINVAL';
  let a0: bigint | null = 0n;
  try {
    a0 = Array.isArray(argsIn) ? cULong(argsIn[0] ?? 0) : argsIn === 0 ? 0n : null;
  } catch {
    return 'EFAULT';
  }
  if (a0 === null) return 'EFAULT';
  switch (cap) {
    case K.KVM_CAP_DISABLE_QUIRKS2:
      if (a0 & ~BigInt(SUPPORTED_QUIRKS)) return 'EINVAL';
      kvm.disabledQuirks |= Number(a0 & BigInt(SUPPORTED_QUIRKS));
      return 0;
    case K.KVM_CAP_EXIT_HYPERCALL:
      if (a0 & ~BigInt(EXIT_HYPERCALL_VALID_MASK)) return 'EINVAL';
      kvm.hypercallExitEnabled = Number(a0);
      return 0;
  }
  return 'EINVAL';
}

// ---------------------------------------------------------------------------
// Memory attributes.

/** The attributes the VM supports (kvm_supported_mem_attributes). */
function supportedMemAttributes(kvm: Kvm): bigint {
  // v8: with in-place conversion the VM tracks no attribute (guest_memfd does).
  return kvm.hasPrivateMem && !kvm.cfg.inPlaceConversion ? BigInt(K.KVM_MEMORY_ATTRIBUTE_PRIVATE) : 0n;
}

// mirrors virt/kvm/kvm_main.c:kvm_vm_ioctl_set_mem_attributes
function kvmVmIoctlSetMemAttributes(kvm: Kvm, address: bigint, size: bigint, attributes: bigint, flags: bigint): number | ErrnoName {
  if (flags !== 0n) return 'EINVAL';
  if (attributes & ~supportedMemAttributes(kvm)) return 'EINVAL';
  if (size === 0n || address + size > U64) return 'EINVAL';
  if (address % PAGE !== 0n || size % PAGE !== 0n) return 'EINVAL';
  kvmVmSetMemAttributes(kvm, Number(address / PAGE), Number((address + size) / PAGE), Number(attributes));
  return 0;
}

/**
 * Set the attributes of gfns [start, end): a no-op if they already have
 * them; else zap the old-attribute mappings of every memslot in the range
 * (with the invalidation protocol), store, and recompute MIXED.
 */
// mirrors virt/kvm/kvm_main.c:kvm_vm_set_mem_attributes
export function kvmVmSetMemAttributes(kvm: Kvm, start: number, end: number, attrs: number): void {
  if (kvmRangeHasMemoryAttributes(kvm, start, end, attrs)) return;
  const slots = [...memslotsInRange(kvm, start, end, 0), ...memslotsInRange(kvm, start, end, 1)];
  // kvm_handle_gfn_range(pre_set_range): invalidate_begin once, then per slot of each address space.
  let flush = false;
  if (slots.length > 0) kvmMmuInvalidateBegin(kvm);
  for (const s of slots) {
    const a = Math.max(start, s.baseGfn);
    const b = Math.min(end, s.endGfn);
    kvmMmuInvalidateRangeAdd(kvm, a, b);
    if (kvmArchPreSetMemoryAttributes(kvm, s, a, b)) flush = true;
  }
  if (flush) kvmFlushRemoteTlbs(kvm);
  // The store (an xarray entry per gfn in Linux; one extent here).
  if (attrs & K.KVM_MEMORY_ATTRIBUTE_PRIVATE) kvm.privateGfns.union(start, end);
  else kvm.privateGfns.subtract(start, end);
  kvm.host.ev[Ev.ATTR_STORE] += end - start;
  for (const s of slots) kvmArchPostSetMemoryAttributes(kvm, s, Math.max(start, s.baseGfn), Math.min(end, s.endGfn), attrs);
  if (slots.length > 0) kvmMmuInvalidateEnd(kvm);
  // Policy s2Recoalesce 'eager' (beyond Linux): ranges made uniform map huge now, not at their next fault.
  for (const s of slots) kvmMmuRecoalesce(kvm, s, Math.max(start, s.baseGfn), Math.min(end, s.endGfn));
}

// ---------------------------------------------------------------------------
// guest_memfd creation.

/**
 * KVM_CREATE_GUEST_MEMFD: flags first (EINVAL beyond what the VM supports),
 * then the size (positive, page-aligned); with the HugeTLB flag (RFC v2) a
 * page size only with it, an hstate of that size, a huge-aligned size, and a
 * subpool the pool can fill (ENOMEM).
 */
// mirrors virt/kvm/guest_memfd.c:kvm_gmem_create (mainline; RFC v2 kvm_gmem_create for the HugeTLB checks)
function kvmGmemCreate(ctx: KvmContext, kvm: Kvm, size: bigint, flags: bigint, current: Task): number | ErrnoName {
  if (flags & ~kvmGmemSupportedFlags(kvm.cfg, kvm)) return 'EINVAL';
  // size is a loff_t: "negative" sizes fail too.
  if (BigInt.asIntN(64, size) <= 0n || size % PAGE !== 0n) return 'EINVAL';
  let hstate: Hstate | null = null;
  const sizeLog = Number((flags >> K.GUESTMEM_HUGETLB_FLAG_SHIFT) & K.GUESTMEM_HUGETLB_FLAG_MASK);
  if (flags & K.GUEST_MEMFD_FLAG_HUGETLB) {
    // RFC v2 (kvm_gmem_hugetlb_setup): log2 of the size as MAP_HUGE_* encodes it, 0 for the default hstate. An unknown size:
    // guest_memfd.md is silent; EINVAL as mmap answers an unknown MAP_HUGE_* size (ksys_mmap_pgoff's hstate_sizelog check).
    const hs = ctx.host.hugetlb;
    hstate = sizeLog === 0 ? hs.defaultHstate : (hs.bySize(2 ** sizeLog) ?? null);
    if (hstate === null) return 'EINVAL';
    // guestmem_hugetlb requires a size aligned to the page size (reviewers asked to round up; RFC v2 refuses).
    if (size % BigInt(hstate.size) !== 0n) return 'EINVAL';
    // gmemHugeShared 'separate-shared': shared pages live outside guest_memfd, so there is nothing for the host to mmap.
    if (kvm.cfg.hugeShared === 'separate-shared' && flags & K.GUEST_MEMFD_FLAG_MMAP) return 'EINVAL';
  } else if (sizeLog !== 0) {
    // A page size without the HugeTLB flag.
    return 'EINVAL';
  }
  if (current.fds === undefined || !current.fds.hasFree()) return 'EMFILE';
  const file = kvmGmemCreateFile(ctx.vfs, kvm, Number(size), Number(flags & 0xffffffffn), hstate);
  if (typeof file === 'string') return file;
  return installFd(current, file, false);
}
