/**
 * The parts of the KVM selftests' library (tools/testing/selftests/kvm/lib/
 * kvm_util.c, include/kvm_util.h) the ports use, over the model's syscalls.
 * Calls named with "__" return -1 and set `errno` as the C wrappers do; the
 * others throw (TEST_ASSERT in the C library) when the ioctl fails.
 */
import { type Process, SyscallError } from '../../../../../../src/index.js';
import * as U from '../../../../../../src/uapi/index.js';

/** The errno of the last failed "__" call. */
export let errno = 0;

/** A C call: its value, or -1 with errno set. */
export function ccall(fn: () => number): number {
  try {
    return fn();
  } catch (e) {
    if (e instanceof SyscallError) {
      errno = e.errno;
      return -1;
    }
    throw e;
  }
}

/** TEST_ASSERT. */
export function TEST_ASSERT(cond: boolean, msg: string): asserts cond {
  if (!cond) throw new Error(`==== Test Assertion Failure ====\n  ${msg} (errno ${errno})`);
}

/** struct kvm_vm: the fds the library keeps. */
export interface KvmVm {
  p: Process;
  kvm_fd: number;
  fd: number;
  type: number;
  /** Descriptors kvm_vm_free closes besides the VM's: vCPUs, the guest_memfds the library made. */
  owned: number[];
}

export const getpagesize = () => 4096;

export function kvm_check_cap(p: Process, cap: number): number {
  const kvm = p.open(U.KVM_DEV_PATH, U.O_RDWR);
  try {
    return p.ioctl(kvm, U.KVM_CHECK_EXTENSION, cap);
  } finally {
    p.close(kvm);
  }
}

export const kvm_has_cap = (p: Process, cap: number) => kvm_check_cap(p, cap) !== 0;

/** vm_create_barebones_type: a VM of type with no memory and no vCPU. */
export function vm_create_barebones_type(p: Process, type: number): KvmVm {
  const kvm_fd = p.open(U.KVM_DEV_PATH, U.O_RDWR);
  const fd = p.ioctl(kvm_fd, U.KVM_CREATE_VM, type);
  return { p, kvm_fd, fd, type, owned: [] };
}

export const vm_create_barebones = (p: Process) => vm_create_barebones_type(p, U.KVM_X86_DEFAULT_VM);

export function kvm_vm_free(vm: KvmVm): void {
  for (const fd of vm.owned) vm.p.close(fd);
  vm.p.close(vm.fd);
  vm.p.close(vm.kvm_fd);
}

export function __vm_create_guest_memfd(vm: KvmVm, size: number | bigint, flags: number | bigint): number {
  return ccall(() => vm.p.ioctl(vm.fd, U.KVM_CREATE_GUEST_MEMFD, { size, flags }));
}

export function vm_create_guest_memfd(vm: KvmVm, size: number | bigint, flags: number | bigint): number {
  const fd = __vm_create_guest_memfd(vm, size, flags);
  TEST_ASSERT(fd >= 0, 'KVM_CREATE_GUEST_MEMFD failed');
  return fd;
}

export function __vm_set_user_memory_region(vm: KvmVm, slot: number, flags: number, gpa: number, size: number, hva: number): number {
  return ccall(() => vm.p.ioctl(vm.fd, U.KVM_SET_USER_MEMORY_REGION, { slot, flags, guest_phys_addr: gpa, memory_size: size, userspace_addr: hva }));
}

export function vm_set_user_memory_region(vm: KvmVm, slot: number, flags: number, gpa: number, size: number, hva: number): void {
  TEST_ASSERT(__vm_set_user_memory_region(vm, slot, flags, gpa, size, hva) === 0, 'KVM_SET_USER_MEMORY_REGION failed');
}

export function __vm_set_user_memory_region2(vm: KvmVm, slot: number, flags: number, gpa: number, size: number, hva: number, guest_memfd: number, guest_memfd_offset: number): number {
  return ccall(() => vm.p.ioctl(vm.fd, U.KVM_SET_USER_MEMORY_REGION2, { slot, flags, guest_phys_addr: gpa, memory_size: size, userspace_addr: hva, guest_memfd, guest_memfd_offset }));
}

export function vm_set_user_memory_region2(vm: KvmVm, slot: number, flags: number, gpa: number, size: number, hva: number, guest_memfd: number, guest_memfd_offset: number): void {
  TEST_ASSERT(__vm_set_user_memory_region2(vm, slot, flags, gpa, size, hva, guest_memfd, guest_memfd_offset) === 0, 'KVM_SET_USER_MEMORY_REGION2 failed');
}

/** vm_enable_cap. */
export function vm_enable_cap(vm: KvmVm, cap: number, arg0: number): void {
  vm.p.ioctl(vm.fd, U.KVM_ENABLE_CAP, { cap, flags: 0, args: [arg0, 0, 0, 0] });
}

/** vm_set_memory_attributes. */
export function vm_set_memory_attributes(vm: KvmVm, gpa: number, size: number, attributes: number): void {
  vm.p.ioctl(vm.fd, U.KVM_SET_MEMORY_ATTRIBUTES, { address: gpa, size, attributes, flags: 0 });
}

/** vm_mem_set_private / vm_mem_set_shared (KVM_SET_MEMORY_ATTRIBUTES). */
export const vm_mem_set_private = (vm: KvmVm, gpa: number, size: number) => vm_set_memory_attributes(vm, gpa, size, U.KVM_MEMORY_ATTRIBUTE_PRIVATE);
export const vm_mem_set_shared = (vm: KvmVm, gpa: number, size: number) => vm_set_memory_attributes(vm, gpa, size, 0);

/** kvm_memfd_alloc(size, hugepages=false): a memfd of size bytes, allocated. */
export function kvm_memfd_alloc(p: Process, size: number): number {
  const fd = p.memfd_create('kvm_selftest', 0);
  p.ftruncate(fd, size);
  p.fallocate(fd, 0, 0, size);
  return fd;
}

/** A vCPU as the library keeps it. */
export interface KvmVcpu {
  vm: KvmVm;
  id: number;
  fd: number;
}

/** The library's memory regions (userspace_mem_region): slot -> where its memory is. */
const regions = new WeakMap<KvmVm, Map<number, { gpa: number; size: number; hva: number; guest_memfd?: number; guest_memfd_offset?: number }>>();

/** DEFAULT_GUEST_PHY_PAGES: the size of memslot 0, which holds guest code and page tables in the C library. */
export const DEFAULT_GUEST_PHY_PAGES = 512;

/**
 * vm_userspace_mem_region_add with VM_MEM_SRC_ANONYMOUS (thp false) or
 * VM_MEM_SRC_ANONYMOUS_THP (thp true): vm_mem_add with guest_memfd -1.
 */
export function vm_userspace_mem_region_add(vm: KvmVm, thp: boolean, gpa: number, slot: number, npages: number, flags: number): number {
  return vm_mem_add(vm, thp, gpa, slot, npages, flags, -1, 0);
}

/**
 * vm_mem_add: a slot of npages at gpa backed by anonymous memory (thp:
 * VM_MEM_SRC_ANONYMOUS_THP, 2 MiB aligned with MADV_HUGEPAGE) and, with
 * KVM_MEM_GUEST_MEMFD, by guest_memfd at guest_memfd_offset; guest_memfd -1
 * makes one of the region's size, which the VM owns (it stays open).
 */
export function vm_mem_add(vm: KvmVm, thp: boolean, gpa: number, slot: number, npages: number, flags: number, guest_memfd: number, guest_memfd_offset: number): number {
  const p = vm.p;
  const size = npages * 4096;
  const align = thp ? 2 << 20 : 4096;
  const raw = p.mmap(0, size + align, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_NORESERVE, -1, 0);
  const hva = Math.ceil(raw / align) * align;
  if (thp) p.madvise(hva, size, U.MADV_HUGEPAGE);
  if (flags & U.KVM_MEM_GUEST_MEMFD && guest_memfd < 0) {
    guest_memfd = vm_create_guest_memfd(vm, size, 0);
    guest_memfd_offset = 0;
    vm.owned.push(guest_memfd);
  }
  vm_set_user_memory_region2(vm, slot, flags, gpa, size, hva, guest_memfd, guest_memfd_offset);
  let m = regions.get(vm);
  if (m === undefined) regions.set(vm, (m = new Map()));
  m.set(slot, { gpa, size, hva, guest_memfd, guest_memfd_offset });
  return hva;
}

/** vm_guest_mem_fallocate: fallocate (or punch) the guest_memfd pages behind [gpa, gpa + size). */
export function vm_guest_mem_fallocate(vm: KvmVm, base: number, size: number, punch_hole: boolean): void {
  const mode = U.FALLOC_FL_KEEP_SIZE | (punch_hole ? U.FALLOC_FL_PUNCH_HOLE : 0);
  for (let gpa = base; gpa < base + size; ) {
    const r = [...(regions.get(vm)?.values() ?? [])].find((x) => gpa >= x.gpa && gpa < x.gpa + x.size);
    TEST_ASSERT(r !== undefined && r.guest_memfd !== undefined, `Private memory region not found for GPA 0x${gpa.toString(16)}`);
    const offset = gpa - r.gpa + r.guest_memfd_offset!;
    const len = Math.min(base + size - gpa, r.gpa + r.size - gpa);
    vm.p.fallocate(r.guest_memfd, mode, offset, len);
    gpa += len;
  }
}

/** addr_gpa2hva. */
export function addr_gpa2hva(vm: KvmVm, gpa: number): number {
  for (const r of regions.get(vm)?.values() ?? []) if (gpa >= r.gpa && gpa < r.gpa + r.size) return r.hva + (gpa - r.gpa);
  throw new Error(`No vm physical memory at 0x${gpa.toString(16)}`);
}

/** vm_mem_region_move. */
export function vm_mem_region_move(vm: KvmVm, slot: number, new_gpa: number): void {
  const r = regions.get(vm)!.get(slot)!;
  vm_set_user_memory_region(vm, slot, 0, new_gpa, r.size, r.hva);
  r.gpa = new_gpa;
}

/** vm_mem_region_delete. */
export function vm_mem_region_delete(vm: KvmVm, slot: number): void {
  const r = regions.get(vm)!.get(slot)!;
  vm_set_user_memory_region(vm, slot, 0, r.gpa, 0, 0);
  regions.get(vm)!.delete(slot);
}

/** __vm_vcpu_add: a vCPU without guest code. */
export function __vm_vcpu_add(vm: KvmVm, id: number): KvmVcpu {
  const fd = vm.p.ioctl(vm.fd, U.KVM_CREATE_VCPU, id);
  vm.owned.push(fd);
  return { vm, id, fd };
}

/** __vm_create_with_vcpus: a VM of type with slot 0 and nr vCPUs (their guest code is loaded per vCPU, as vcpu_args_set gives each its argument). */
export function vm_create_with_vcpus(p: Process, type: number, nr: number): { vm: KvmVm; vcpus: KvmVcpu[] } {
  const vm = vm_create_barebones_type(p, type);
  vm_userspace_mem_region_add(vm, false, 0, 0, DEFAULT_GUEST_PHY_PAGES, 0);
  const vcpus: KvmVcpu[] = [];
  for (let i = 0; i < nr; i++) vcpus.push(__vm_vcpu_add(vm, i));
  return { vm, vcpus };
}

/**
 * vm_create_with_one_vcpu: a default VM with memslot 0 and vCPU 0 running
 * guest_code. The model's guests are generators and do not live in guest
 * memory (nor use guest page tables: their addresses are GPAs, as the
 * selftests identity-map what they touch), so slot 0 is only created.
 */
export function vm_create_with_one_vcpu(p: Process, guest_code: () => Generator<unknown, unknown, unknown>, type = U.KVM_X86_DEFAULT_VM): { vm: KvmVm; vcpu: KvmVcpu } {
  const vm = vm_create_barebones_type(p, type);
  vm_userspace_mem_region_add(vm, false, 0, 0, DEFAULT_GUEST_PHY_PAGES, 0);
  const vcpu = __vm_vcpu_add(vm, 0);
  p.kvm_vcpu_guest(vcpu.fd, guest_code());
  return { vm, vcpu };
}

/** __vcpu_run: KVM_RUN once; -1 with errno on failure. */
export function __vcpu_run(vcpu: KvmVcpu): number {
  return ccall(() => vcpu.vm.p.ioctl(vcpu.fd, U.KVM_RUN, 0));
}

/** vcpu_run: KVM_RUN, retried on EINTR, asserting success. */
export function vcpu_run(vcpu: KvmVcpu): void {
  let rc: number;
  do rc = __vcpu_run(vcpu);
  while (rc === -1 && errno === 4);
  TEST_ASSERT(rc === 0, 'KVM_RUN failed');
}

/** vm_check_cap: KVM_CHECK_EXTENSION on the VM fd. */
export function vm_check_cap(vm: KvmVm, cap: number): number {
  return vm.p.ioctl(vm.fd, U.KVM_CHECK_EXTENSION, cap);
}

/** The bits of KVM_CAP_VM_TYPES, as the selftests iterate VM types (default only if the cap is absent). */
export function kvm_vm_types(p: Process): number[] {
  const mask = kvm_check_cap(p, U.KVM_CAP_VM_TYPES);
  const out: number[] = [];
  for (let t = 0; t < 32; t++) if (mask & (1 << t)) out.push(t);
  return out.length > 0 ? out : [U.KVM_X86_DEFAULT_VM];
}

/** A CPU access that may raise a signal: the signal's name, or null (the selftests' sigsetjmp/SIGBUS handler). */
export { signalOf as catchSignal } from '../../../../../support/errno.js';

/** __vm_set_memory_attributes2 on a guest_memfd (v8): -1 with errno on failure; error_offset is written back into args. */
export function __gmem_set_memory_attributes(p: Process, gmem_fd: number, args: { offset: number; size: number; attributes: number; flags?: number; error_offset?: number | bigint; reserved?: number[] }): number {
  return ccall(() => p.ioctl(gmem_fd, U.KVM_SET_MEMORY_ATTRIBUTES2, args));
}

/**
 * kvm_has_gmem_attributes (the in-place conversion series v8): the host
 * tracks shared/private per guest_memfd (KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES
 * reports PRIVATE), so conversions go to the guest_memfd, not the VM.
 */
export function kvm_has_gmem_attributes(p: Process): boolean {
  return (kvm_check_cap(p, U.KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES) & U.KVM_MEMORY_ATTRIBUTE_PRIVATE) !== 0;
}

/**
 * vm_mem_add with VM_MEM_SRC_SHMEM and GUEST_MEMFD_FLAG_MMAP in gmem_flags
 * (v8): the slot's host memory is the guest_memfd itself, mapped MAP_SHARED
 * at the slot's offset, so host and guest share the same pages.
 */
export function vm_mem_add_gmem_mmap(vm: KvmVm, gpa: number, slot: number, npages: number, flags: number, guest_memfd: number, guest_memfd_offset: number): number {
  const size = npages * 4096;
  const hva = vm.p.mmap(0, size, U.PROT_READ | U.PROT_WRITE, U.MAP_SHARED, guest_memfd, guest_memfd_offset);
  vm_set_user_memory_region2(vm, slot, flags, gpa, size, hva, guest_memfd, guest_memfd_offset);
  let m = regions.get(vm);
  if (m === undefined) regions.set(vm, (m = new Map()));
  m.set(slot, { gpa, size, hva, guest_memfd, guest_memfd_offset });
  return hva;
}

/**
 * vm_mem_set_memory_attributes (v8): with per-guest_memfd attributes,
 * KVM_SET_MEMORY_ATTRIBUTES2 on the guest_memfd behind each part of
 * [gpa, gpa + size); otherwise the VM's KVM_SET_MEMORY_ATTRIBUTES.
 */
export function vm_mem_set_memory_attributes(vm: KvmVm, gpa: number, size: number, attributes: number): void {
  if (!kvm_has_gmem_attributes(vm.p)) {
    vm_set_memory_attributes(vm, gpa, size, attributes);
    return;
  }
  for (let at = gpa; at < gpa + size; ) {
    const r = [...(regions.get(vm)?.values() ?? [])].find((x) => at >= x.gpa && at < x.gpa + x.size);
    TEST_ASSERT(r !== undefined && r.guest_memfd !== undefined, `guest_memfd region not found for GPA 0x${at.toString(16)}`);
    const len = Math.min(gpa + size - at, r.gpa + r.size - at);
    const ret = __gmem_set_memory_attributes(vm.p, r.guest_memfd, { offset: at - r.gpa + r.guest_memfd_offset!, size: len, attributes });
    TEST_ASSERT(ret === 0, `KVM_SET_MEMORY_ATTRIBUTES2 of GPA 0x${at.toString(16)} + 0x${len.toString(16)} failed`);
    at += len;
  }
}

/** The HugeTLB sizes and counters the 1 GiB series RFC v2's statistics script and reporting test read. */
export const HUGETLB_SIZES = ['2048kB', '1048576kB'] as const;
export const HUGETLB_STATISTICS = ['free_hugepages', 'nr_hugepages', 'nr_overcommit_hugepages', 'resv_hugepages', 'surplus_hugepages'] as const;
export type HugetlbStatistics = Record<string, number>;

/** /sys/kernel/mm/hugepages/hugepages-<size>/<statistic> of both sizes, by path. */
export function read_hugetlb_statistics(k: { readSysfs(path: string): string }): HugetlbStatistics {
  const out: HugetlbStatistics = {};
  for (const size of HUGETLB_SIZES) {
    for (const s of HUGETLB_STATISTICS) {
      const path = `/sys/kernel/mm/hugepages/hugepages-${size}/${s}`;
      out[path] = Number(k.readSysfs(path));
    }
  }
  return out;
}
