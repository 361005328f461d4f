/**
 * KVM's uAPI (include/uapi/linux/kvm.h, arch/x86/include/uapi/asm/kvm.h,
 * include/uapi/linux/kvm_para.h), x86-64 values as in Linux 6.12.
 *
 * Ioctl arguments are objects with the C struct's field names; a number
 * argument (KVM_CREATE_VM's type, KVM_CHECK_EXTENSION's cap, KVM_CREATE_VCPU's
 * id) is passed as the number itself, as C passes it in the unsigned long:
 *
 *   struct kvm_userspace_memory_region  { slot, flags, guest_phys_addr, memory_size, userspace_addr }
 *   struct kvm_userspace_memory_region2 { ...the same, guest_memfd_offset, guest_memfd }
 *   struct kvm_memory_attributes        { address, size, attributes, flags }
 *   struct kvm_create_guest_memfd       { size, flags, reserved }
 *   struct kvm_memory_attributes2       { offset, size, attributes, flags, error_offset, reserved } (out: error_offset)
 *   struct kvm_enable_cap               { cap, flags, args: [a0, a1, a2, a3] }
 *   struct kvm_pre_fault_memory         { gpa, size, flags }                (out: gpa, size: what is left)
 *
 * u64 fields take a number or a bigint (as a C caller's value: -1 is 2^64 - 1).
 */
import { _IO, _IOW, _IOWR } from './ioctl.js';

export const KVM_API_VERSION = 12;
/** The ioctl type of every KVM request. */
export const KVMIO = 0xae;
/** The misc device's path. */
export const KVM_DEV_PATH = '/dev/kvm';

// System ioctls (on /dev/kvm).
export const KVM_GET_API_VERSION = _IO(KVMIO, 0x00);
export const KVM_CREATE_VM = _IO(KVMIO, 0x01);
export const KVM_CHECK_EXTENSION = _IO(KVMIO, 0x03);
export const KVM_GET_VCPU_MMAP_SIZE = _IO(KVMIO, 0x04);

/** sizeof(struct kvm_userspace_memory_region): u32 slot, u32 flags, u64 x 3. */
const SIZEOF_REGION = 32;
/** sizeof(struct kvm_userspace_memory_region2): the v1 fields, u64 offset, u32 fd, u32 pad1, u64 pad2[14]. */
const SIZEOF_REGION2 = 160;
/** sizeof(struct kvm_memory_attributes): u64 x 4. */
const SIZEOF_ATTRIBUTES = 32;
/** sizeof(struct kvm_create_guest_memfd): u64 size, u64 flags, u64 reserved[6]. */
const SIZEOF_CREATE_GUEST_MEMFD = 64;
/** sizeof(struct kvm_enable_cap): u32 cap, u32 flags, u64 args[4], u8 pad[64]. */
const SIZEOF_ENABLE_CAP = 104;

// VM ioctls.
export const KVM_CREATE_VCPU = _IO(KVMIO, 0x41);
export const KVM_SET_NR_MMU_PAGES = _IO(KVMIO, 0x44);
export const KVM_SET_USER_MEMORY_REGION = _IOW(KVMIO, 0x46, SIZEOF_REGION);
export const KVM_SET_USER_MEMORY_REGION2 = _IOW(KVMIO, 0x49, SIZEOF_REGION2);
export const KVM_ENABLE_CAP = _IOW(KVMIO, 0xa3, SIZEOF_ENABLE_CAP);
export const KVM_SET_MEMORY_ATTRIBUTES = _IOW(KVMIO, 0xd2, SIZEOF_ATTRIBUTES);
export const KVM_CREATE_GUEST_MEMFD = _IOWR(KVMIO, 0xd4, SIZEOF_CREATE_GUEST_MEMFD);

/** sizeof(struct kvm_memory_attributes2) (in-place conversion v8): u64 offset, size, attributes, flags, error_offset, reserved[11]. */
const SIZEOF_ATTRIBUTES2 = 128;
/** guest_memfd ioctl (in-place conversion v8; needs the kvm option inPlaceConversion). */
export const KVM_SET_MEMORY_ATTRIBUTES2 = _IOWR(KVMIO, 0xd2, SIZEOF_ATTRIBUTES2);

/** KVM_CREATE_GUEST_MEMFD flags (mainline): host mmap, and every page shared at creation. */
export const GUEST_MEMFD_FLAG_MMAP = 1n << 0n;
export const GUEST_MEMFD_FLAG_INIT_SHARED = 1n << 1n;
/**
 * The 1 GiB series RFC v2's HugeTLB backing (its uAPI, superseded and
 * provisional): bit 2, with log2 of the page size in bits 58-63 as MAP_HUGE_*
 * encodes it (0: the default hstate).
 */
export const GUEST_MEMFD_FLAG_HUGETLB = 1n << 2n;
export const GUESTMEM_HUGETLB_FLAG_SHIFT = 58n;
export const GUESTMEM_HUGETLB_FLAG_MASK = 0x3fn;
export const GUESTMEM_HUGETLB_FLAG_2MB = 21n << GUESTMEM_HUGETLB_FLAG_SHIFT;
export const GUESTMEM_HUGETLB_FLAG_1GB = 30n << GUESTMEM_HUGETLB_FLAG_SHIFT;

/** sizeof(struct kvm_pre_fault_memory): u64 gpa, size, flags, padding[5]. */
const SIZEOF_PRE_FAULT_MEMORY = 64;

// vCPU ioctls.
export const KVM_RUN = _IO(KVMIO, 0x80);
export const KVM_PRE_FAULT_MEMORY = _IOWR(KVMIO, 0xd5, SIZEOF_PRE_FAULT_MEMORY);

/** x86 VM types (KVM_CREATE_VM's argument). */
export const KVM_X86_DEFAULT_VM = 0;
export const KVM_X86_SW_PROTECTED_VM = 1;
export const KVM_X86_SEV_VM = 2;
export const KVM_X86_SEV_ES_VM = 3;
export const KVM_X86_SNP_VM = 4;
export const KVM_X86_TDX_VM = 5;
/**
 * The model's arm64 pKVM-like protected VM type (a model-only number: arm64
 * asks for a protected VM with KVM_VM_TYPE_ARM_PROTECTED, bit 31 of the type,
 * which an x86 KVM_CAP_VM_TYPES bitmask cannot report).
 */
export const KVM_VM_TYPE_PKVM_LIKE = 8;

/** Memslot flags (kvm_userspace_memory_region.flags). */
export const KVM_MEM_LOG_DIRTY_PAGES = 1 << 0;
export const KVM_MEM_READONLY = 1 << 1;
export const KVM_MEM_GUEST_MEMFD = 1 << 2;

/** KVM_SET_MEMORY_ATTRIBUTES's one attribute. */
export const KVM_MEMORY_ATTRIBUTE_PRIVATE = 1 << 3;

/** Capabilities (KVM_CHECK_EXTENSION's argument) the model answers. */
export const KVM_CAP_USER_MEMORY = 3;
export const KVM_CAP_NR_VCPUS = 9;
export const KVM_CAP_NR_MEMSLOTS = 10;
export const KVM_CAP_SYNC_MMU = 16;
export const KVM_CAP_DESTROY_MEMORY_REGION_WORKS = 21;
export const KVM_CAP_JOIN_MEMORY_REGIONS_WORKS = 30;
export const KVM_CAP_MAX_VCPUS = 66;
export const KVM_CAP_READONLY_MEM = 81;
export const KVM_CAP_ENABLE_CAP_VM = 98;
export const KVM_CAP_CHECK_EXTENSION_VM = 105;
export const KVM_CAP_MULTI_ADDRESS_SPACE = 118;
export const KVM_CAP_MAX_VCPU_ID = 128;
export const KVM_CAP_EXIT_HYPERCALL = 201;
export const KVM_CAP_DISABLE_QUIRKS2 = 213;
export const KVM_CAP_USER_MEMORY2 = 231;
export const KVM_CAP_MEMORY_FAULT_INFO = 232;
export const KVM_CAP_MEMORY_ATTRIBUTES = 233;
export const KVM_CAP_GUEST_MEMFD = 234;
export const KVM_CAP_VM_TYPES = 235;
export const KVM_CAP_PRE_FAULT_MEMORY = 236;
/** The 1 GiB series RFC v2's cap for HugeTLB-backed guest_memfd (240-242 there; provisional). */
export const KVM_CAP_GMEM_HUGETLB = 242;
/** Mainline: the KVM_CREATE_GUEST_MEMFD flags the VM (or /dev/kvm) accepts. */
export const KVM_CAP_GUEST_MEMFD_FLAGS = 244;
/** In-place conversion v8 (its number has moved between revisions): PRIVATE if KVM_SET_MEMORY_ATTRIBUTES2 works. */
export const KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES = 250;

/** kvm_run.exit_reason values. */
export const KVM_EXIT_UNKNOWN = 0;
export const KVM_EXIT_IO = 2;
export const KVM_EXIT_HYPERCALL = 3;
export const KVM_EXIT_HLT = 5;
export const KVM_EXIT_MMIO = 6;
export const KVM_EXIT_SHUTDOWN = 8;
export const KVM_EXIT_INTERNAL_ERROR = 17;
export const KVM_EXIT_MEMORY_FAULT = 39;
/** kvm_run.internal.suberror: the instruction could not be emulated. */
export const KVM_INTERNAL_ERROR_EMULATION = 1;
/** kvm_run.io.direction. */
export const KVM_EXIT_IO_IN = 0;
export const KVM_EXIT_IO_OUT = 1;
/** kvm_run.memory_fault.flags: the faulting access was private. */
export const KVM_MEMORY_EXIT_FLAG_PRIVATE = 1 << 3;
/** kvm_run.hypercall.flags: the guest was in 64-bit mode. */
export const KVM_EXIT_HYPERCALL_LONG_MODE = 1 << 0;

/** x86 KVM hypercall numbers (include/uapi/linux/kvm_para.h) and the guest-visible errors. */
export const KVM_HC_MAP_GPA_RANGE = 12;
export const KVM_ENOSYS = 1000;
export const KVM_EINVAL = 22;
/**
 * arm64 pKVM's guest hypercalls to share and unshare one page with the host
 * (ARM_SMCCC_VENDOR_HYP_KVM_MEM_{SHARE,UNSHARE}_FUNC_ID: a fast SMC64 call
 * to the vendor hypervisor, functions 3 and 4; include/linux/arm-smccc.h),
 * and the SMCCC return values the guest gets.
 */
export const ARM_SMCCC_VENDOR_HYP_KVM_MEM_SHARE_FUNC_ID = 0xc6000003;
export const ARM_SMCCC_VENDOR_HYP_KVM_MEM_UNSHARE_FUNC_ID = 0xc6000004;
export const SMCCC_RET_SUCCESS = 0;
export const SMCCC_RET_NOT_SUPPORTED = -1;
export const SMCCC_RET_INVALID_PARAMETER = -3;
/** KVM_HC_MAP_GPA_RANGE attributes (arch/x86/include/uapi/asm/kvm_para.h). */
export const KVM_MAP_GPA_RANGE_PAGE_SZ_4K = 0;
export const KVM_MAP_GPA_RANGE_PAGE_SZ_2M = 1 << 0;
export const KVM_MAP_GPA_RANGE_PAGE_SZ_1G = 1 << 1;
export const KVM_MAP_GPA_RANGE_ENCRYPTED = 1 << 4;
export const KVM_MAP_GPA_RANGE_DECRYPTED = 0;

/** KVM_CAP_DISABLE_QUIRKS2 quirk: deleting or moving a memslot zaps every SPTE (default on). */
export const KVM_X86_QUIRK_SLOT_ZAP_ALL = 1 << 7;

/** The selftests' ucall port on x86 (tools/testing/selftests/kvm/lib/x86/ucall.c). */
export const UCALL_PIO_PORT = 0xe8;

/** struct kvm_userspace_memory_region / _region2 (the v2 fields are ignored by the v1 ioctl). */
export interface KvmUserspaceMemoryRegion2 {
  slot: number;
  flags: number;
  guest_phys_addr: number | bigint;
  memory_size: number | bigint;
  userspace_addr: number | bigint;
  guest_memfd_offset?: number | bigint;
  guest_memfd?: number;
}

/** struct kvm_memory_attributes. */
export interface KvmMemoryAttributes {
  address: number | bigint;
  size: number | bigint;
  attributes: number | bigint;
  flags?: number | bigint;
}

/** struct kvm_memory_attributes2 (v8; `address` is a union alias of `offset`; error_offset is written back). */
export interface KvmMemoryAttributes2 {
  offset?: number | bigint;
  address?: number | bigint;
  size: number | bigint;
  attributes: number | bigint;
  flags?: number | bigint;
  error_offset?: number | bigint;
  reserved?: readonly (number | bigint)[];
}

/** struct kvm_create_guest_memfd. */
export interface KvmCreateGuestMemfd {
  size: number | bigint;
  flags: number | bigint;
  reserved?: readonly (number | bigint)[];
}

/** struct kvm_pre_fault_memory (gpa and size are written back: the range not yet mapped). */
export interface KvmPreFaultMemory {
  gpa: number | bigint;
  size: number | bigint;
  flags?: number | bigint;
}

/** struct kvm_enable_cap. */
export interface KvmEnableCap {
  cap: number;
  flags?: number;
  args?: readonly (number | bigint)[];
}

/**
 * struct kvm_run, the fields the model fills (the page a vCPU fd's mmap
 * shows; Process.kvm_run returns it). `ucall` is the model's decoding of a
 * selftest ucall (what the selftests' get_ucall() reads from guest memory
 * after a KVM_EXIT_IO on UCALL_PIO_PORT).
 */
export interface KvmRun {
  exit_reason: number;
  /** KVM_EXIT_IO. */
  io: { direction: number; size: number; port: number; count: number };
  /** KVM_EXIT_MMIO: data is 8 bytes; for a read, userspace fills it before the next KVM_RUN. */
  mmio: { phys_addr: number; data: Uint8Array; len: number; is_write: number };
  /** KVM_EXIT_HYPERCALL: userspace sets ret before the next KVM_RUN. */
  hypercall: { nr: number; args: number[]; ret: number; flags: number };
  /** KVM_EXIT_MEMORY_FAULT (KVM_RUN fails with EFAULT). */
  memory_fault: { flags: number; gpa: number; size: number };
  /** KVM_EXIT_INTERNAL_ERROR. */
  internal: { suberror: number };
  /** Model: the ucall behind the last KVM_EXIT_IO on UCALL_PIO_PORT. */
  ucall: { cmd: number; args: (number | bigint)[]; message?: string } | null;
}
