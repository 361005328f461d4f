/**
 * KVM (src/kvm/): /dev/kvm and VM ioctls with Linux's argument checks, vCPUs
 * running guest code and their exits, the stage-2 MMU's leaf levels and its
 * coherence with host memory (MMU notifiers) and guest_memfd (invalidation),
 * and the oracle's KVM rules.
 *
 * Where these tests state an errno or a capability value that no selftest
 * checks, real Linux answered: Debian's 6.12.118 kernel under QEMU with
 * kvm_amd (shared/realkernel, boot.sh, 2026-12-07), probed with a static C
 * program on a default VM (that kernel has no SW_PROTECTED VMs): API version
 * 12 and EINVAL for a non-zero argument; EINVAL for an unknown /dev/kvm or
 * vCPU request, ENOTTY for an unknown VM request; caps NR_MEMSLOTS 32764,
 * MAX_VCPUS 4096, MAX_VCPU_ID 16384, MULTI_ADDRESS_SPACE 2, EXIT_HYPERCALL
 * 4096, DISABLE_QUIRKS2 2047, MEMORY_ATTRIBUTES 8 and GUEST_MEMFD 1 on
 * /dev/kvm but 0 on a default VM, PRE_FAULT_MEMORY 1, GUEST_MEMFD_FLAGS (244)
 * 0; on a guest_memfd: mode 0100600, blksize 4096, read/write EINVAL,
 * pread/pwrite ESPIPE, mmap ENODEV, ftruncate EINVAL, fallocate mode 0 and
 * ZERO_RANGE EOPNOTSUPP, unaligned KEEP_SIZE EINVAL, ioctl ENOTTY; on a
 * default VM SET_MEMORY_ATTRIBUTES PRIVATE is EINVAL and 0 succeeds; a slot
 * in address space 1 is accepted, 2 is EINVAL; vCPU id 4096 is accepted, a
 * duplicate EEXIST; KVM_PRE_FAULT_MEMORY without a memslot ENOENT, with
 * flags EINVAL, over a slot whose HVA is unmapped EFAULT (the range left
 * unchanged).
 */
import { describe, expect, it } from 'vitest';
import type { SyscallError } from '../../src/index.js';
import { Kernel, type Process } from '../../src/index.js';
import * as U from '../../src/uapi/index.js';
import { GUEST_DONE, GUEST_SYNC, type GuestCode, kvmHypercall, readU64, readU8, writeU64, writeU8 } from '../../src/kvm/guest.js';
import { vmList } from '../../src/kvm/kvm_host.js';
import { syscallCode } from '../support/errno.js';

const RW = U.PROT_READ | U.PROT_WRITE;
const PA = U.MAP_PRIVATE | U.MAP_ANONYMOUS;
const GPA = 0x100000000;
const MiB = 1 << 20;

function setup(type = U.KVM_X86_SW_PROTECTED_VM, opts: ConstructorParameters<typeof Kernel>[0] = { memory: '256MiB' }) {
  const k = new Kernel(opts);
  const p = k.spawn();
  const kvm = p.open('/dev/kvm', U.O_RDWR);
  const vm = p.ioctl(kvm, U.KVM_CREATE_VM, type);
  return { k, p, kvm, vm };
}

/** A vCPU running code. */
function vcpuWith(p: Process, vm: number, code: () => GuestCode, id = 0): number {
  const fd = p.ioctl(vm, U.KVM_CREATE_VCPU, id);
  p.kvm_vcpu_guest(fd, code());
  return fd;
}

const stats = (k: Kernel) => k.kvmStats()[0]!.mmu;

describe('/dev/kvm', () => {
  it('answers KVM_GET_API_VERSION, KVM_CHECK_EXTENSION and KVM_GET_VCPU_MMAP_SIZE', () => {
    const k = new Kernel({ memory: '64MiB' });
    const p = k.spawn();
    const kvm = p.open('/dev/kvm', U.O_RDWR);
    expect(p.ioctl(kvm, U.KVM_GET_API_VERSION, 0)).toBe(12);
    expect(syscallCode(() => p.ioctl(kvm, U.KVM_GET_API_VERSION, 1))).toBe('EINVAL');
    expect(p.ioctl(kvm, U.KVM_CHECK_EXTENSION, U.KVM_CAP_GUEST_MEMFD)).toBe(1);
    expect(p.ioctl(kvm, U.KVM_CHECK_EXTENSION, U.KVM_CAP_MEMORY_ATTRIBUTES)).toBe(U.KVM_MEMORY_ATTRIBUTE_PRIVATE);
    expect(p.ioctl(kvm, U.KVM_CHECK_EXTENSION, U.KVM_CAP_VM_TYPES)).toBe(0b11);
    expect(p.ioctl(kvm, U.KVM_CHECK_EXTENSION, U.KVM_CAP_EXIT_HYPERCALL)).toBe(1 << U.KVM_HC_MAP_GPA_RANGE);
    expect(p.ioctl(kvm, U.KVM_CHECK_EXTENSION, U.KVM_CAP_NR_MEMSLOTS)).toBe(32764);
    expect(p.ioctl(kvm, U.KVM_CHECK_EXTENSION, 9999)).toBe(0);
    expect(p.ioctl(kvm, U.KVM_CHECK_EXTENSION, U.KVM_CAP_MAX_VCPU_ID)).toBe(16384);
    expect(p.ioctl(kvm, U.KVM_CHECK_EXTENSION, U.KVM_CAP_NR_VCPUS)).toBe(8);
    expect(p.ioctl(kvm, U.KVM_CHECK_EXTENSION, U.KVM_CAP_DISABLE_QUIRKS2)).toBe(2047);
    expect(p.ioctl(kvm, U.KVM_CHECK_EXTENSION, U.KVM_CAP_PRE_FAULT_MEMORY)).toBe(1);
    // KVM_CAP_GUEST_MEMFD_FLAGS is v6.18.
    expect(p.ioctl(kvm, U.KVM_CHECK_EXTENSION, 244)).toBe(0);
    expect(p.ioctl(kvm, U.KVM_GET_VCPU_MMAP_SIZE, 0)).toBe(3 * 4096);
    // kvm_arch_dev_ioctl refuses what it does not know with EINVAL.
    expect(syscallCode(() => p.ioctl(kvm, U.KVM_RUN, 0))).toBe('EINVAL');
  });

  it('KVM_CREATE_VM takes the default and SW_PROTECTED types only', () => {
    const k = new Kernel({ memory: '64MiB' });
    const p = k.spawn();
    const kvm = p.open('/dev/kvm', U.O_RDWR);
    for (const t of [U.KVM_X86_SEV_VM, U.KVM_X86_SNP_VM, U.KVM_X86_TDX_VM, 32, -1]) expect(syscallCode(() => p.ioctl(kvm, U.KVM_CREATE_VM, t))).toBe('EINVAL');
    const d = p.ioctl(kvm, U.KVM_CREATE_VM, U.KVM_X86_DEFAULT_VM);
    const s = p.ioctl(kvm, U.KVM_CREATE_VM, U.KVM_X86_SW_PROTECTED_VM);
    // Per VM: only a VM with private memory has guest_memfd and PRIVATE.
    expect(p.ioctl(d, U.KVM_CHECK_EXTENSION, U.KVM_CAP_GUEST_MEMFD)).toBe(0);
    expect(p.ioctl(d, U.KVM_CHECK_EXTENSION, U.KVM_CAP_MEMORY_ATTRIBUTES)).toBe(0);
    expect(p.ioctl(s, U.KVM_CHECK_EXTENSION, U.KVM_CAP_GUEST_MEMFD)).toBe(1);
    expect(k.kvmStats().map((v) => v.type)).toEqual([0, 1]);
    p.close(d);
    p.close(s);
    expect(k.kvmStats()).toEqual([]);
    expect(k.check()).toEqual([]);
  });

  it('VM and vCPU ioctls from another mm are EIO; duplicate vCPU ids EEXIST, ids >= 16384 EINVAL', () => {
    const { p, vm } = setup();
    expect(syscallCode(() => p.ioctl(vm, U.KVM_CREATE_VCPU, 16384))).toBe('EINVAL');
    expect(syscallCode(() => p.ioctl(vm, U.KVM_CREATE_VCPU, 16383))).toBe('ok');
    expect(syscallCode(() => p.ioctl(vm, U.KVM_GET_API_VERSION, 0))).toBe('ENOTTY');
    expect(syscallCode(() => p.ioctl(vm, U.KVM_SET_NR_MMU_PAGES, 63))).toBe('EINVAL');
    expect(syscallCode(() => p.ioctl(vm, U.KVM_SET_NR_MMU_PAGES, 64))).toBe('ok');
    const vcpu = p.ioctl(vm, U.KVM_CREATE_VCPU, 3);
    expect(syscallCode(() => p.ioctl(vm, U.KVM_CREATE_VCPU, 3))).toBe('EEXIST');
    const child = p.fork();
    expect(syscallCode(() => child.ioctl(vm, U.KVM_CREATE_VCPU, 4))).toBe('EIO');
    expect(syscallCode(() => child.ioctl(vcpu, U.KVM_RUN, 0))).toBe('EIO');
    expect(syscallCode(() => p.ioctl(vcpu, U.KVM_RUN, 1))).toBe('EINVAL');
  });
});

describe('KVM_SET_USER_MEMORY_REGION(2)', () => {
  const region = (o: Partial<U.KvmUserspaceMemoryRegion2>): U.KvmUserspaceMemoryRegion2 => ({ slot: 0, flags: 0, guest_phys_addr: GPA, memory_size: 2 * MiB, userspace_addr: 0x40000000, ...o });

  it('checks flags, then alignment, offsets, slot ids, wrap, overlap, in the kernel order', () => {
    const { p, vm } = setup();
    const set2 = (o: Partial<U.KvmUserspaceMemoryRegion2>) => syscallCode(() => p.ioctl(vm, U.KVM_SET_USER_MEMORY_REGION2, region(o)));
    // check_memory_region_flags first: an unknown flag beats every other error.
    expect(set2({ flags: 1 << 3, memory_size: 1 })).toBe('EINVAL');
    expect(set2({ memory_size: 4095 })).toBe('EINVAL');
    expect(set2({ guest_phys_addr: GPA + 1 })).toBe('EINVAL');
    expect(set2({ userspace_addr: 0x40000001 })).toBe('EINVAL');
    expect(set2({ userspace_addr: 2 ** 47 })).toBe('EINVAL');
    expect(set2({ slot: 32764 })).toBe('EINVAL');
    expect(set2({ slot: 2 << 16 })).toBe('EINVAL');
    expect(set2({ guest_phys_addr: -4096n })).toBe('EINVAL');
    expect(set2({ memory_size: 2 ** 31 * 4096 })).toBe('EINVAL');
    // Deleting a slot that does not exist.
    expect(set2({ memory_size: 0 })).toBe('EINVAL');
    expect(set2({})).toBe('ok');
    expect(set2({ slot: 1, guest_phys_addr: GPA + MiB })).toBe('EEXIST');
    // Same slot: size and userspace_addr may not change; the same values are a no-op.
    expect(set2({ memory_size: 4 * MiB })).toBe('EINVAL');
    expect(set2({ userspace_addr: 0x50000000 })).toBe('EINVAL');
    expect(set2({ flags: U.KVM_MEM_READONLY })).toBe('EINVAL');
    expect(set2({})).toBe('ok');
    expect(set2({ flags: U.KVM_MEM_LOG_DIRTY_PAGES })).toBe('ok');
    // A bad struct pointer.
    expect(syscallCode(() => p.ioctl(vm, U.KVM_SET_USER_MEMORY_REGION2, null))).toBe('EFAULT');
  });

  it('address space 1 (SMM) has memslots of its own, which no vCPU of the model maps', () => {
    const { k, p, vm } = setup(U.KVM_X86_DEFAULT_VM);
    expect(p.ioctl(p.open('/dev/kvm', U.O_RDWR), U.KVM_CHECK_EXTENSION, U.KVM_CAP_MULTI_ADDRESS_SPACE)).toBe(2);
    const mem = p.mmap(0, 2 * MiB, RW, PA, -1, 0);
    const smm = p.mmap(0, 2 * MiB, RW, PA, -1, 0);
    p.fill(mem, 4096, 1);
    p.fill(smm, 4096, 2);
    p.ioctl(vm, U.KVM_SET_USER_MEMORY_REGION, region({ userspace_addr: mem }));
    // The same slot id and GPA range in the other address space do not overlap.
    p.ioctl(vm, U.KVM_SET_USER_MEMORY_REGION, region({ slot: 1 << 16, userspace_addr: smm }));
    expect(syscallCode(() => p.ioctl(vm, U.KVM_SET_USER_MEMORY_REGION, region({ slot: (1 << 16) | 1, guest_phys_addr: GPA + MiB, userspace_addr: smm })))).toBe('EEXIST');
    let seen = -1;
    const vcpu = vcpuWith(p, vm, function* () {
      seen = yield* readU8(GPA);
      yield* GUEST_DONE();
    });
    p.ioctl(vcpu, U.KVM_RUN, 0);
    expect(seen).toBe(1);
    expect(k.kvmStats()[0]!.memslots).toBe(2);
    // An invalidation of the SMM slot's memory leaves address space 0's leaves alone.
    const before = stats(k).zaps;
    p.madvise(smm, 2 * MiB, U.MADV_DONTNEED);
    expect(stats(k).zaps).toBe(before);
    expect(k.check()).toEqual([]);
  });

  it('binds guest_memfd: EBADF, EINVAL for foreign files, offsets past the file, and gmem slots are immutable', () => {
    const { k, p, vm } = setup();
    const gmem = p.ioctl(vm, U.KVM_CREATE_GUEST_MEMFD, { size: 4 * MiB, flags: 0 });
    const g = (o: Partial<U.KvmUserspaceMemoryRegion2>) => syscallCode(() => p.ioctl(vm, U.KVM_SET_USER_MEMORY_REGION2, region({ flags: U.KVM_MEM_GUEST_MEMFD, guest_memfd: gmem, guest_memfd_offset: 0, ...o })));
    expect(g({ guest_memfd: 77 })).toBe('EBADF');
    expect(g({ guest_memfd_offset: 1 })).toBe('EINVAL');
    expect(g({ guest_memfd_offset: 3 * MiB })).toBe('EINVAL');
    // The offset wraps with the size: checked before the file is looked up.
    expect(g({ guest_memfd: 77, guest_memfd_offset: -4096n })).toBe('EINVAL');
    // v1 refuses GUEST_MEMFD.
    expect(syscallCode(() => p.ioctl(vm, U.KVM_SET_USER_MEMORY_REGION, region({ flags: U.KVM_MEM_GUEST_MEMFD })))).toBe('EINVAL');
    expect(g({ guest_memfd_offset: 2 * MiB })).toBe('ok');
    // Private memslots are immutable: only deletion.
    expect(g({ guest_phys_addr: GPA + 4 * MiB })).toBe('EINVAL');
    expect(g({ slot: 1, guest_phys_addr: GPA + 4 * MiB, guest_memfd_offset: 3 * MiB, memory_size: MiB })).toBe('EEXIST');
    expect(g({ slot: 1, guest_phys_addr: GPA + 4 * MiB, guest_memfd_offset: 0 })).toBe('ok');
    expect(g({ memory_size: 0, guest_memfd: -1 })).toBe('ok');
    expect(k.check()).toEqual([]);
    // A default VM has no GUEST_MEMFD flag.
    const vm2 = p.ioctl(p.open('/dev/kvm', U.O_RDWR), U.KVM_CREATE_VM, 0);
    expect(syscallCode(() => p.ioctl(vm2, U.KVM_SET_USER_MEMORY_REGION2, region({ flags: U.KVM_MEM_GUEST_MEMFD, guest_memfd: gmem })))).toBe('EINVAL');
  });
});

describe('KVM_SET_MEMORY_ATTRIBUTES', () => {
  it('checks flags, attributes, size and alignment, on SW_PROTECTED VMs only', () => {
    const { p, vm } = setup();
    const at = (o: Partial<U.KvmMemoryAttributes>) => syscallCode(() => p.ioctl(vm, U.KVM_SET_MEMORY_ATTRIBUTES, { address: GPA, size: 4096, attributes: U.KVM_MEMORY_ATTRIBUTE_PRIVATE, flags: 0, ...o }));
    expect(at({ flags: 1, size: 0 })).toBe('EINVAL');
    expect(at({ attributes: 1 })).toBe('EINVAL');
    expect(at({ size: 0 })).toBe('EINVAL');
    expect(at({ address: -4096n, size: 8192 })).toBe('EINVAL');
    expect(at({ address: GPA + 1 })).toBe('EINVAL');
    expect(at({ size: 4097 })).toBe('EINVAL');
    // No memslot is needed.
    expect(at({})).toBe('ok');
    expect(at({ attributes: 0 })).toBe('ok');
    const { p: p2, vm: d } = setup(U.KVM_X86_DEFAULT_VM);
    expect(syscallCode(() => p2.ioctl(d, U.KVM_SET_MEMORY_ATTRIBUTES, { address: GPA, size: 4096, attributes: U.KVM_MEMORY_ATTRIBUTE_PRIVATE }))).toBe('EINVAL');
    expect(p2.ioctl(d, U.KVM_SET_MEMORY_ATTRIBUTES, { address: GPA, size: 4096, attributes: 0 })).toBe(0);
  });
});

describe('guest_memfd', () => {
  it('creation: flags first (EINVAL), then the size; fstat, read/write, mmap, ftruncate', () => {
    const { p, vm } = setup();
    expect(syscallCode(() => p.ioctl(vm, U.KVM_CREATE_GUEST_MEMFD, { size: 1, flags: 1 }))).toBe('EINVAL');
    expect(syscallCode(() => p.ioctl(vm, U.KVM_CREATE_GUEST_MEMFD, { size: -4096n, flags: 0 }))).toBe('EINVAL');
    expect(syscallCode(() => p.ioctl(vm, U.KVM_CREATE_GUEST_MEMFD, { size: 0, flags: 0 }))).toBe('EINVAL');
    const g = p.ioctl(vm, U.KVM_CREATE_GUEST_MEMFD, { size: 8192, flags: 0 });
    const st = p.fstat(g);
    expect([st.st_size, st.st_blksize, st.st_mode]).toEqual([8192, 4096, U.S_IFREG | 0o600]);
    const buf = new Uint8Array(8);
    expect(syscallCode(() => p.sysread(g, buf, 8))).toBe('EINVAL');
    expect(syscallCode(() => p.syswrite(g, buf, 8))).toBe('EINVAL');
    expect(syscallCode(() => p.pread(g, buf, 8, 0))).toBe('ESPIPE');
    expect(syscallCode(() => p.pwrite(g, buf, 8, 0))).toBe('ESPIPE');
    expect(syscallCode(() => p.mmap(0, 4096, RW, U.MAP_SHARED, g, 0))).toBe('ENODEV');
    expect(syscallCode(() => p.ftruncate(g, 4096))).toBe('EINVAL');
    expect(syscallCode(() => p.ioctl(g, U.KVM_RUN, 0))).toBe('ENOTTY');
    // fallocate: the mode before alignment.
    expect(syscallCode(() => p.fallocate(g, 0, 1, 1))).toBe('EOPNOTSUPP');
    expect(syscallCode(() => p.fallocate(g, U.FALLOC_FL_KEEP_SIZE | U.FALLOC_FL_ZERO_RANGE, 1, 1))).toBe('EOPNOTSUPP');
    expect(syscallCode(() => p.fallocate(g, U.FALLOC_FL_KEEP_SIZE, 1, 4096))).toBe('EINVAL');
  });

  it('holds the VM: the VM lives until its guest_memfd files close', () => {
    const { k, p, kvm, vm } = setup();
    const g = p.ioctl(vm, U.KVM_CREATE_GUEST_MEMFD, { size: 8192, flags: 0 });
    p.fallocate(g, U.FALLOC_FL_KEEP_SIZE, 0, 8192);
    p.close(vm);
    p.close(kvm);
    expect(k.kvmStats().length).toBe(1);
    expect(k.meminfo().Cached).toBe(8);
    expect(k.check()).toEqual([]);
    p.close(g);
    expect(k.kvmStats()).toEqual([]);
    expect(k.meminfo().Cached).toBe(0);
    expect(k.check()).toEqual([]);
  });
});

/** A SW_PROTECTED VM with one shared slot of 4 MiB anonymous memory at GPA and one guest_memfd bound to it. */
function privateVm(opts?: ConstructorParameters<typeof Kernel>[0]) {
  const s = setup(U.KVM_X86_SW_PROTECTED_VM, opts);
  const { p, vm } = s;
  const size = 4 * MiB;
  const raw = p.mmap(0, size + 2 * MiB, RW, PA, -1, 0);
  const hva = Math.ceil(raw / (2 * MiB)) * 2 * MiB;
  const gmem = p.ioctl(vm, U.KVM_CREATE_GUEST_MEMFD, { size, flags: 0 });
  p.ioctl(vm, U.KVM_SET_USER_MEMORY_REGION2, { slot: 10, flags: U.KVM_MEM_GUEST_MEMFD, guest_phys_addr: GPA, memory_size: size, userspace_addr: hva, guest_memfd: gmem, guest_memfd_offset: 0 });
  const setAttr = (gpa: number, len: number, priv: boolean) => p.ioctl(vm, U.KVM_SET_MEMORY_ATTRIBUTES, { address: gpa, size: len, attributes: priv ? U.KVM_MEMORY_ATTRIBUTE_PRIVATE : 0, flags: 0 });
  return { ...s, hva, gmem, size, setAttr };
}

describe('vCPUs and exits', () => {
  it('shared and private memory: the guest sees the host page or the guest_memfd page, zeroed at first use', () => {
    const { k, p, vm, hva, setAttr } = privateVm();
    p.fill(hva, 4096, 0xaa);
    setAttr(GPA + 4096, 4096, true);
    const seen: bigint[] = [];
    const vcpu = vcpuWith(p, vm, function* () {
      seen.push(yield* readU64(GPA));
      seen.push(yield* readU64(GPA + 4096));
      yield* writeU64(GPA + 4096, 0x1234n);
      yield* writeU8(GPA + 8192, 0x55);
      yield* GUEST_SYNC(yield* readU64(GPA + 4096));
      yield* GUEST_DONE();
    });
    p.ioctl(vcpu, U.KVM_RUN, 0);
    const run = p.kvm_run(vcpu);
    expect(run.exit_reason).toBe(U.KVM_EXIT_IO);
    expect(run.io.port).toBe(U.UCALL_PIO_PORT);
    expect(run.ucall).toEqual({ cmd: 1, args: [0x1234n] });
    expect(seen).toEqual([0xaaaaaaaaaaaaaaaan, 0n]);
    // The private write did not reach the host page; the shared one did.
    expect(p.read(hva + 4096, 8)).toEqual(new Uint8Array(8));
    expect(p.read(hva + 8192, 1)[0]).toBe(0x55);
    expect(stats(k).leaves[1]).toBeGreaterThanOrEqual(2);
    expect(k.check()).toEqual([]);
    p.ioctl(vcpu, U.KVM_RUN, 0);
    expect(run.ucall!.cmd).toBe(4);
    expect(k.check()).toEqual([]);
  });

  it('memslot_not_private and memslot_deleted: KVM_RUN fails with EFAULT and KVM_EXIT_MEMORY_FAULT (private_mem_kvm_exits_test)', () => {
    const { k, p, vm } = setup();
    const mem = p.mmap(0, 4096, RW, PA, -1, 0);
    p.ioctl(vm, U.KVM_SET_USER_MEMORY_REGION, { slot: 10, flags: 0, guest_phys_addr: 0xc0000000, memory_size: 4096, userspace_addr: mem });
    p.ioctl(vm, U.KVM_SET_MEMORY_ATTRIBUTES, { address: 0xc0000000, size: 4096, attributes: U.KVM_MEMORY_ATTRIBUTE_PRIVATE });
    const vcpu = vcpuWith(p, vm, function* () {
      for (;;) yield* readU64(0xc0000000);
    });
    const e = (() => {
      try {
        p.ioctl(vcpu, U.KVM_RUN, 0);
      } catch (x) {
        return x as SyscallError;
      }
      return null;
    })();
    expect(e?.code).toBe('EFAULT');
    const run = p.kvm_run(vcpu);
    expect(run.exit_reason).toBe(U.KVM_EXIT_MEMORY_FAULT);
    expect(run.memory_fault).toEqual({ flags: U.KVM_MEMORY_EXIT_FLAG_PRIVATE, gpa: 0xc0000000, size: 4096 });
    // memslot_deleted: no slot at all, the GPA still private.
    p.ioctl(vm, U.KVM_SET_USER_MEMORY_REGION, { slot: 10, flags: 0, guest_phys_addr: 0xc0000000, memory_size: 0, userspace_addr: 0 });
    run.exit_reason = 0;
    expect(syscallCode(() => p.ioctl(vcpu, U.KVM_RUN, 0))).toBe('EFAULT');
    expect(run.memory_fault.gpa).toBe(0xc0000000);
    // Shared again, no slot: emulated MMIO.
    p.ioctl(vm, U.KVM_SET_MEMORY_ATTRIBUTES, { address: 0xc0000000, size: 4096, attributes: 0 });
    p.ioctl(vcpu, U.KVM_RUN, 0);
    expect(run.exit_reason).toBe(U.KVM_EXIT_MMIO);
    expect(run.mmio).toMatchObject({ phys_addr: 0xc0000000, len: 8, is_write: 0 });
    expect(k.check()).toEqual([]);
  });

  it('an MMIO load completes with the data userspace puts in run.mmio', () => {
    const { p, vm } = setup(U.KVM_X86_DEFAULT_VM);
    let got = 0n;
    const vcpu = vcpuWith(p, vm, function* () {
      got = yield* readU64(0xfee00000);
      yield* writeU8(0xfee00010, 7);
      yield* GUEST_DONE();
    });
    const run = p.kvm_run(vcpu);
    p.ioctl(vcpu, U.KVM_RUN, 0);
    expect(run.exit_reason).toBe(U.KVM_EXIT_MMIO);
    run.mmio.data.set([1, 2, 3, 4, 5, 6, 7, 8]);
    p.ioctl(vcpu, U.KVM_RUN, 0);
    expect(got).toBe(0x0807060504030201n);
    expect(run.mmio).toMatchObject({ phys_addr: 0xfee00010, len: 1, is_write: 1 });
    expect(run.mmio.data[0]).toBe(7);
    p.ioctl(vcpu, U.KVM_RUN, 0);
    expect(run.ucall!.cmd).toBe(4);
  });

  it('KVM_HC_MAP_GPA_RANGE: -KVM_ENOSYS unless enabled, -KVM_EINVAL for bad ranges, else KVM_EXIT_HYPERCALL and ret back to the guest', () => {
    const { p, vm } = setup();
    const rets: number[] = [];
    const vcpu = vcpuWith(p, vm, function* () {
      rets.push(yield* kvmHypercall(U.KVM_HC_MAP_GPA_RANGE, GPA, 1, U.KVM_MAP_GPA_RANGE_ENCRYPTED));
      yield* GUEST_SYNC(0);
      rets.push(yield* kvmHypercall(U.KVM_HC_MAP_GPA_RANGE, GPA + 1, 1, 0));
      rets.push(yield* kvmHypercall(U.KVM_HC_MAP_GPA_RANGE, GPA, 0, 0));
      rets.push(yield* kvmHypercall(99, 0, 0, 0));
      rets.push(yield* kvmHypercall(U.KVM_HC_MAP_GPA_RANGE, GPA, 512, U.KVM_MAP_GPA_RANGE_ENCRYPTED));
      yield* GUEST_DONE();
    });
    const run = p.kvm_run(vcpu);
    p.ioctl(vcpu, U.KVM_RUN, 0);
    expect(rets).toEqual([-U.KVM_ENOSYS]);
    expect(syscallCode(() => p.ioctl(vm, U.KVM_ENABLE_CAP, { cap: U.KVM_CAP_EXIT_HYPERCALL, flags: 0, args: [2, 0, 0, 0] }))).toBe('EINVAL');
    expect(syscallCode(() => p.ioctl(vm, U.KVM_ENABLE_CAP, { cap: U.KVM_CAP_EXIT_HYPERCALL, flags: 1, args: [1 << 12, 0, 0, 0] }))).toBe('EINVAL');
    p.ioctl(vm, U.KVM_ENABLE_CAP, { cap: U.KVM_CAP_EXIT_HYPERCALL, flags: 0, args: [1 << U.KVM_HC_MAP_GPA_RANGE, 0, 0, 0] });
    p.ioctl(vcpu, U.KVM_RUN, 0);
    expect(rets).toEqual([-U.KVM_ENOSYS, -U.KVM_EINVAL, -U.KVM_EINVAL, -U.KVM_ENOSYS]);
    expect(run.exit_reason).toBe(U.KVM_EXIT_HYPERCALL);
    expect(run.hypercall).toMatchObject({ nr: U.KVM_HC_MAP_GPA_RANGE, args: [GPA, 512, U.KVM_MAP_GPA_RANGE_ENCRYPTED, 0, 0, 0], ret: 0 });
    run.hypercall.ret = -5;
    p.ioctl(vcpu, U.KVM_RUN, 0);
    expect(rets.at(-1)).toBe(-5);
  });

  it('a vCPU without guest code and no memory at the reset vector: KVM_EXIT_INTERNAL_ERROR', () => {
    const { p, vm } = setup(U.KVM_X86_DEFAULT_VM);
    const vcpu = p.ioctl(vm, U.KVM_CREATE_VCPU, 0);
    p.ioctl(vcpu, U.KVM_RUN, 0);
    expect(p.kvm_run(vcpu).exit_reason).toBe(U.KVM_EXIT_INTERNAL_ERROR);
    expect(p.kvm_run(vcpu).internal.suberror).toBe(U.KVM_INTERNAL_ERROR_EMULATION);
  });

  it('a guest that spins without exiting is interrupted with EINTR (a signal to the vCPU thread)', () => {
    const { p, vm } = setup(U.KVM_X86_DEFAULT_VM);
    const mem = p.mmap(0, 4096, RW, PA, -1, 0);
    p.ioctl(vm, U.KVM_SET_USER_MEMORY_REGION, { slot: 0, flags: 0, guest_phys_addr: 0, memory_size: 4096, userspace_addr: mem });
    const vcpu = vcpuWith(p, vm, function* () {
      while ((yield* readU8(0)) === 0);
      yield* GUEST_DONE();
    });
    expect(syscallCode(() => p.ioctl(vcpu, U.KVM_RUN, 0))).toBe('EINTR');
    p.fill(mem, 1, 1);
    p.ioctl(vcpu, U.KVM_RUN, 0);
    expect(p.kvm_run(vcpu).ucall!.cmd).toBe(4);
  });
});

describe('stage-2 MMU', () => {
  let nextId = 1000;
  const touch = (p: Process, vm: number, gpas: number[], write = false) => {
    const vcpu = vcpuWith(p, vm, function* () {
      for (const g of gpas) {
        if (write) yield* writeU8(g, 1);
        else yield* readU8(g);
      }
      yield* GUEST_DONE();
    }, nextId++);
    p.ioctl(vcpu, U.KVM_RUN, 0);
    return vcpu;
  };

  it('maps shared memory at the host level: a THP gives a 2 MiB leaf, private memory 4 KiB leaves from guest_memfd', () => {
    const { k, p, vm, hva, setAttr } = privateVm();
    p.fill(hva, 2 * MiB, 1);
    touch(p, vm, [GPA]);
    expect(stats(k).leaves).toEqual([0, 0, 1, 0]);
    expect(k.check()).toEqual([]);
    // Making one page private zaps the 2 MiB leaf (the old-attribute mapping) and marks the 2 MiB MIXED.
    setAttr(GPA + 5 * 4096, 4096, true);
    expect(stats(k).leaves).toEqual([0, 0, 0, 0]);
    touch(p, vm, [GPA, GPA + 5 * 4096]);
    expect(stats(k).leaves).toEqual([0, 2, 0, 0]);
    expect(k.check()).toEqual([]);
    // Uniform again: the next fault installs the 2 MiB leaf over the table (lazy re-promotion).
    setAttr(GPA + 5 * 4096, 4096, false);
    touch(p, vm, [GPA + 5 * 4096]);
    expect(stats(k).leaves).toEqual([0, 0, 1, 0]);
    expect(stats(k).promotions).toBe(1);
    expect(k.check()).toEqual([]);
  });

  it('a misaligned memslot (base_gfn and userspace_addr not congruent) maps 4 KiB only', () => {
    const { k, p, vm } = setup(U.KVM_X86_DEFAULT_VM);
    const raw = p.mmap(0, 6 * MiB, RW, PA, -1, 0);
    const hva = Math.ceil(raw / (2 * MiB)) * 2 * MiB;
    p.fill(hva, 4 * MiB, 1);
    p.ioctl(vm, U.KVM_SET_USER_MEMORY_REGION, { slot: 0, flags: 0, guest_phys_addr: GPA + 4096, memory_size: 2 * MiB, userspace_addr: hva });
    touch(p, vm, [GPA + 4096 * 100]);
    expect(stats(k).leaves).toEqual([0, 1, 0, 0]);
    expect(k.check()).toEqual([]);
  });

  it('HugeTLB 1 GiB host pages give 1 GiB leaves', () => {
    const { k, p, vm } = setup(U.KVM_X86_DEFAULT_VM, { memory: '3GiB', hugetlb: { '1GiB': 1 } });
    const hva = p.mmap(0, 1 << 30, RW, PA | U.MAP_HUGETLB | U.MAP_HUGE_1GB, -1, 0);
    p.ioctl(vm, U.KVM_SET_USER_MEMORY_REGION, { slot: 0, flags: 0, guest_phys_addr: 1 << 30, memory_size: 1 << 30, userspace_addr: hva });
    touch(p, vm, [(1 << 30) + 12345, (1 << 30) + (700 << 20)], true);
    expect(stats(k).leaves).toEqual([0, 0, 0, 1]);
    expect(p.read(hva + 12345, 1)[0]).toBe(1);
    expect(k.check()).toEqual([]);
    // Dirty logging maps 4 KiB only.
    p.ioctl(vm, U.KVM_SET_USER_MEMORY_REGION, { slot: 0, flags: U.KVM_MEM_LOG_DIRTY_PAGES, guest_phys_addr: 1 << 30, memory_size: 1 << 30, userspace_addr: hva });
    touch(p, vm, [(1 << 30) + 12345]);
    expect(stats(k).leaves).toEqual([0, 1, 0, 0]);
    expect(k.check()).toEqual([]);
  });

  it('MMU notifiers: munmap, MADV_DONTNEED and a COW break zap the shared leaves; the guest then sees the new page', () => {
    const { k, p, vm } = setup(U.KVM_X86_DEFAULT_VM);
    const hva = p.mmap(0, 16 * 4096, RW, PA, -1, 0);
    p.madvise(hva, 16 * 4096, U.MADV_NOHUGEPAGE);
    p.ioctl(vm, U.KVM_SET_USER_MEMORY_REGION, { slot: 0, flags: 0, guest_phys_addr: GPA, memory_size: 16 * 4096, userspace_addr: hva });
    p.fill(hva, 16 * 4096, 7);
    let seen = -1;
    touch(p, vm, [GPA, GPA + 4096, GPA + 8192]);
    expect(stats(k).leaves[1]).toBe(3);
    p.madvise(hva, 4096, U.MADV_DONTNEED);
    expect(stats(k).leaves[1]).toBe(2);
    expect(stats(k).tlbFlushes).toBeGreaterThan(0);
    expect(k.check()).toEqual([]);
    const v = vcpuWith(p, vm, function* () {
      seen = yield* readU8(GPA);
      yield* GUEST_DONE();
    }, 100);
    p.ioctl(v, U.KVM_RUN, 0);
    expect(seen).toBe(0);
    // fork write-protects the parent's PTEs: the writable leaves go (notifier), a guest write breaks COW.
    const child = p.fork();
    expect(k.check()).toEqual([]);
    const retries = stats(k).faultRetries;
    touch(p, vm, [GPA + 4096], true);
    expect(p.read(hva + 4096, 1)[0]).toBe(1);
    // The write fault's GUP broke COW, whose invalidation bumped the sequence: the fault retried once.
    expect(stats(k).faultRetries).toBe(retries + 1);
    expect(child.read(hva + 4096, 1)[0]).toBe(7);
    expect(k.check()).toEqual([]);
    p.munmap(hva, 16 * 4096);
    expect(stats(k).leaves[1]).toBe(0);
    expect(k.check()).toEqual([]);
    // No VMA behind the slot: the shared fault fails with EFAULT and no memory-fault exit.
    const w = p.ioctl(vm, U.KVM_CREATE_VCPU, 200);
    p.kvm_vcpu_guest(w, (function* () {
      yield* readU8(GPA);
    })());
    expect(syscallCode(() => p.ioctl(w, U.KVM_RUN, 0))).toBe('EFAULT');
    expect(p.kvm_run(w).exit_reason).not.toBe(U.KVM_EXIT_MEMORY_FAULT);
  });

  it('THP split and collapse notify: a 2 MiB leaf goes when the host splits the PMD, 4 KiB leaves when khugepaged collapses', () => {
    const { k, p, vm } = setup(U.KVM_X86_DEFAULT_VM);
    const raw = p.mmap(0, 4 * MiB, RW, PA, -1, 0);
    const hva = Math.ceil(raw / (2 * MiB)) * 2 * MiB;
    p.ioctl(vm, U.KVM_SET_USER_MEMORY_REGION, { slot: 0, flags: 0, guest_phys_addr: GPA, memory_size: 2 * MiB, userspace_addr: hva });
    p.fill(hva, 2 * MiB, 3);
    touch(p, vm, [GPA]);
    expect(stats(k).leaves).toEqual([0, 0, 1, 0]);
    // mprotect of one page splits the PMD: the leaf is zapped; the guest faults 4 KiB back in.
    p.mprotect(hva + 4096, 4096, U.PROT_READ);
    expect(stats(k).leaves).toEqual([0, 0, 0, 0]);
    expect(k.check()).toEqual([]);
    touch(p, vm, [GPA, GPA + 8192], true);
    touch(p, vm, [GPA + 4096]);
    expect(stats(k).leaves).toEqual([0, 3, 0, 0]);
    expect(p.read(hva + 8192, 1)[0]).toBe(1);
    expect(k.check()).toEqual([]);
    // A guest write to the page the host made read-only: hva_to_pfn's GUP fails, KVM_RUN with it (EFAULT).
    const w = vcpuWith(p, vm, function* () {
      yield* writeU8(GPA + 4096, 9);
    }, nextId++);
    expect(syscallCode(() => p.ioctl(w, U.KVM_RUN, 0))).toBe('EFAULT');
    expect(p.read(hva + 4096, 1)[0]).toBe(3);
    p.mprotect(hva + 4096, 4096, RW);
    p.madvise(hva, 2 * MiB, U.MADV_COLLAPSE);
    expect(stats(k).leaves).toEqual([0, 0, 0, 0]);
    touch(p, vm, [GPA + 12345]);
    expect(stats(k).leaves).toEqual([0, 0, 1, 0]);
    expect(k.check()).toEqual([]);
  });

  it('KVM_PRE_FAULT_MEMORY maps a range without running the guest; ENOENT where there is no memslot', () => {
    const { k, p, vm, hva } = privateVm();
    const vcpu = p.ioctl(vm, U.KVM_CREATE_VCPU, 0);
    p.fill(hva, 4 * MiB, 1);
    expect(syscallCode(() => p.ioctl(vcpu, U.KVM_PRE_FAULT_MEMORY, { gpa: GPA, size: 4096, flags: 1 }))).toBe('EINVAL');
    expect(syscallCode(() => p.ioctl(vcpu, U.KVM_PRE_FAULT_MEMORY, { gpa: GPA + 1, size: 4096 }))).toBe('EINVAL');
    expect(syscallCode(() => p.ioctl(vcpu, U.KVM_PRE_FAULT_MEMORY, { gpa: GPA, size: 0 }))).toBe('EINVAL');
    const range = { gpa: GPA + 4096, size: 4 * MiB, flags: 0 };
    // Past the slot's end: what was mapped counts, the rest is passed back.
    expect(p.ioctl(vcpu, U.KVM_PRE_FAULT_MEMORY, range)).toBe(0);
    expect(range).toEqual({ gpa: GPA + 4 * MiB, size: 4096, flags: 0 });
    expect(stats(k).leaves).toEqual([0, 0, 2, 0]);
    expect(syscallCode(() => p.ioctl(vcpu, U.KVM_PRE_FAULT_MEMORY, range))).toBe('ENOENT');
    expect(k.check()).toEqual([]);
  });

  it('guest_memfd invalidation: a punched hole zaps the private leaf and reads back zero; closing the file leaves memory-fault exits', () => {
    const { k, p, vm, gmem, setAttr } = privateVm();
    setAttr(GPA, 2 * MiB, true);
    touch(p, vm, [GPA, GPA + 4096], true);
    expect(stats(k).leaves[1]).toBe(2);
    expect(k.meminfo().Cached).toBe(8);
    p.fallocate(gmem, U.FALLOC_FL_KEEP_SIZE | U.FALLOC_FL_PUNCH_HOLE, 0, 4096);
    expect(stats(k).leaves[1]).toBe(1);
    expect(k.meminfo().Cached).toBe(4);
    expect(k.check()).toEqual([]);
    let vals: number[] = [];
    const v = vcpuWith(p, vm, function* () {
      vals = [yield* readU8(GPA), yield* readU8(GPA + 4096)];
      yield* GUEST_DONE();
    }, 50);
    p.ioctl(v, U.KVM_RUN, 0);
    expect(vals).toEqual([0, 1]);
    p.close(gmem);
    expect(stats(k).leaves[1]).toBe(0);
    expect(k.check()).toEqual([]);
    const w = vcpuWith(p, vm, function* () {
      yield* readU8(GPA);
    }, 51);
    expect(syscallCode(() => p.ioctl(w, U.KVM_RUN, 0))).toBe('EFAULT');
    expect(p.kvm_run(w).memory_fault).toEqual({ flags: U.KVM_MEMORY_EXIT_FLAG_PRIVATE, gpa: GPA, size: 4096 });
    expect(k.check()).toEqual([]);
  });

  it('process exit releases the VM and every stage-2 table (SecPageTables back to zero)', () => {
    const { k, p, vm, hva } = privateVm();
    p.fill(hva, 4096, 1);
    touch(p, vm, [GPA]);
    expect(k.vmstat().nr_sec_page_table_pages).toBeGreaterThan(1);
    p.exit(0);
    expect(k.vmstat().nr_sec_page_table_pages).toBe(0);
    expect(k.check()).toEqual([]);
  });
});

describe('oracle: KVM rules', () => {
  it('names a stale shared leaf, a wrong private leaf, a wrong MIXED flag and wrong counters', () => {
    const { k, p, vm, hva, setAttr } = privateVm();
    p.fill(hva, 4096, 1);
    const vcpu = vcpuWith(p, vm, function* () {
      yield* readU8(GPA);
      yield* readU8(GPA + 2 * MiB);
      yield* GUEST_DONE();
    });
    setAttr(GPA + 2 * MiB, 4096, true);
    p.ioctl(vcpu, U.KVM_RUN, 0);
    expect(k.check()).toEqual([]);
    const kvm = [...vmList(k.host)][0]!;
    // Drop the notifier: a host zap now leaves the shared leaf stale.
    const ops = kvm.notifier!.ops;
    const saved = ops.invalidateRangeStart;
    (ops as { invalidateRangeStart?: unknown }).invalidateRangeStart = undefined;
    p.madvise(hva, 4096, U.MADV_DONTNEED);
    expect(k.check().map((v) => v.name)).toContain('kvm-s2-shared-stale');
    (ops as { invalidateRangeStart?: unknown }).invalidateRangeStart = saved;
    // Attributes changed behind KVM's back: the private leaf now covers shared gfns, MIXED is stale.
    kvm.privateGfns.remove(GPA / 4096 + 512, GPA / 4096 + 513);
    const names = k.check().map((v) => v.name);
    expect(names).toContain('kvm-s2-attributes-mismatch');
    expect(names).toContain('kvm-lpage-mixed-mismatch');
    kvm.mmu.stats.leaves[1]! += 1;
    expect(k.check().map((v) => v.name)).toContain('kvm-s2-leaves-mismatch');
    kvm.mmu.stats.leaves[1]! -= 1;
    // A table entry cleared with its child table left linked (the stage-2 walk would still descend).
    const root = kvm.mmu.root;
    const i = root.kids!.findIndex((c) => c !== undefined);
    expect(i).toBeGreaterThanOrEqual(0);
    root.fl[i] = 0;
    expect(k.check().map((v) => v.name)).toContain('kvm-s2-missing-table');
  });
});

describe('docs/API.md', () => {
  it('the KVM example runs as written', async () => {
    const { kvmGuest: G } = await import('../../src/index.js');
    const k = new Kernel({ memory: '1GiB' });
    const p = k.spawn();
    const kvm = p.open('/dev/kvm', U.O_RDWR);
    const vm = p.ioctl(kvm, U.KVM_CREATE_VM, U.KVM_X86_SW_PROTECTED_VM);
    const mem = p.mmap(0, 4 << 20, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
    const gmem = p.ioctl(vm, U.KVM_CREATE_GUEST_MEMFD, { size: 4 << 20, flags: 0 });
    p.ioctl(vm, U.KVM_SET_USER_MEMORY_REGION2, { slot: 10, flags: U.KVM_MEM_GUEST_MEMFD, guest_phys_addr: 0x100000000, memory_size: 4 << 20, userspace_addr: mem, guest_memfd: gmem, guest_memfd_offset: 0 });
    p.ioctl(vm, U.KVM_SET_MEMORY_ATTRIBUTES, { address: 0x100000000, size: 4096, attributes: U.KVM_MEMORY_ATTRIBUTE_PRIVATE, flags: 0 });
    const vcpu = p.ioctl(vm, U.KVM_CREATE_VCPU, 0);
    p.kvm_vcpu_guest(vcpu, (function* () {
      yield* G.writeU64(0x100000000, 42n);
      yield* G.GUEST_SYNC(yield* G.readU64(0x100001000));
      yield* G.GUEST_DONE();
    })());
    p.ioctl(vcpu, U.KVM_RUN, 0);
    const run = p.kvm_run(vcpu);
    expect(run.exit_reason).toBe(U.KVM_EXIT_IO);
    expect(run.ucall!.args[0]).toBe(0n);
    expect(k.check()).toEqual([]);
  });
});
