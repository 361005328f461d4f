/**
 * guest_memfd beyond 6.12 (src/kvm/guest_memfd.ts, Kernel option `kvm`):
 * the mainline creation flags and VM types, host mmap of a guest_memfd,
 * guest_memfd-only memslots; in-place conversion (v8) through
 * KVM_SET_MEMORY_ATTRIBUTES2; HugeTLB backing (the 1 GiB series RFC v2).
 * Errnos and capability values are guest_memfd.md's (sections 1, 3.1, 3.2).
 */
import { describe, expect, it } from 'vitest';
import { Kernel, type Process } from '../../src/index.js';
import * as U from '../../src/uapi/index.js';
import { GUEST_DONE, GUEST_SYNC, type GuestCode, readU8, sharedAccess, writeU8 } from '../../src/kvm/guest.js';
import { signalOf, syscallCode } from '../support/errno.js';

const RW = U.PROT_READ | U.PROT_WRITE;
const PAGE = 4096;
const GPA = 0x100000000;
const MMAP = U.GUEST_MEMFD_FLAG_MMAP;
const INIT_SHARED = U.GUEST_MEMFD_FLAG_INIT_SHARED;
const PUNCH = U.FALLOC_FL_KEEP_SIZE | U.FALLOC_FL_PUNCH_HOLE;

type Opts = ConstructorParameters<typeof Kernel>[0];
const MAINLINE: Opts = { memory: '128MiB', kvm: { guestMemfd: 'mainline' } };
const INPLACE: Opts = { memory: '128MiB', kvm: { guestMemfd: 'mainline', inPlaceConversion: true } };

function setup(type: number, opts: Opts = MAINLINE) {
  const k = new Kernel(opts);
  const p = k.spawn();
  const kvm = p.open('/dev/kvm', U.O_RDWR);
  const vm = p.ioctl(kvm, U.KVM_CREATE_VM, type);
  return { k, p, kvm, vm };
}

function gmem(p: Process, vm: number, size: number, flags: bigint | number = 0n): number {
  return p.ioctl(vm, U.KVM_CREATE_GUEST_MEMFD, { size, flags });
}

function bind(p: Process, vm: number, fd: number, size: number, opts: { slot?: number; gpa?: number; uaddr?: number; offset?: number } = {}): void {
  p.ioctl(vm, U.KVM_SET_USER_MEMORY_REGION2, { slot: opts.slot ?? 1, flags: U.KVM_MEM_GUEST_MEMFD, guest_phys_addr: opts.gpa ?? GPA, memory_size: size, userspace_addr: opts.uaddr ?? 0, guest_memfd: fd, guest_memfd_offset: opts.offset ?? 0 });
}

function vcpuWith(p: Process, vm: number, code: () => GuestCode, id = 0): number {
  const fd = p.ioctl(vm, U.KVM_CREATE_VCPU, id);
  p.kvm_vcpu_guest(fd, code());
  return fd;
}

describe('guest_memfd flags and VM types (mainline)', () => {
  it('6.12 (the default) has neither the flags nor the CoCo VM types; mainline has both', () => {
    const k = new Kernel({ memory: '64MiB' });
    const p = k.spawn();
    const kvm = p.open('/dev/kvm', U.O_RDWR);
    expect(p.ioctl(kvm, U.KVM_CHECK_EXTENSION, U.KVM_CAP_GUEST_MEMFD_FLAGS)).toBe(0);
    for (const t of [U.KVM_X86_SNP_VM, U.KVM_X86_TDX_VM, U.KVM_VM_TYPE_PKVM_LIKE]) expect(syscallCode(() => p.ioctl(kvm, U.KVM_CREATE_VM, t))).toBe('EINVAL');
    const vm = p.ioctl(kvm, U.KVM_CREATE_VM, U.KVM_X86_SW_PROTECTED_VM);
    expect(syscallCode(() => gmem(p, vm, PAGE, MMAP))).toBe('EINVAL');
    const { p: p2, kvm: kvm2 } = setup(U.KVM_X86_DEFAULT_VM);
    // /dev/kvm reports MMAP and INIT_SHARED (no VM to refuse it).
    expect(p2.ioctl(kvm2, U.KVM_CHECK_EXTENSION, U.KVM_CAP_GUEST_MEMFD_FLAGS)).toBe(Number(MMAP | INIT_SHARED));
    expect(p2.ioctl(kvm2, U.KVM_CHECK_EXTENSION, U.KVM_CAP_VM_TYPES)).toBe(0b100110011);
  });

  it('KVM_CAP_GUEST_MEMFD and MEMORY_ATTRIBUTES per VM type; the default VM binds guest_memfd slots', () => {
    const want: [number, number, number][] = [
      [U.KVM_X86_DEFAULT_VM, 1, 0],
      [U.KVM_X86_SW_PROTECTED_VM, 1, U.KVM_MEMORY_ATTRIBUTE_PRIVATE],
      [U.KVM_X86_SNP_VM, 1, U.KVM_MEMORY_ATTRIBUTE_PRIVATE],
      [U.KVM_X86_TDX_VM, 1, U.KVM_MEMORY_ATTRIBUTE_PRIVATE],
      [U.KVM_VM_TYPE_PKVM_LIKE, 1, U.KVM_MEMORY_ATTRIBUTE_PRIVATE],
    ];
    for (const [type, gm, attrs] of want) {
      const { k, p, vm } = setup(type);
      expect([p.ioctl(vm, U.KVM_CHECK_EXTENSION, U.KVM_CAP_GUEST_MEMFD), p.ioctl(vm, U.KVM_CHECK_EXTENSION, U.KVM_CAP_MEMORY_ATTRIBUTES)]).toEqual([gm, attrs]);
      const fd = gmem(p, vm, 4 * PAGE, MMAP);
      bind(p, vm, fd, 4 * PAGE);
      expect(k.check()).toEqual([]);
    }
  });

  it('INIT_SHARED is EINVAL where the VM does not support it; size bits without the HugeTLB flag are EINVAL', () => {
    const { p, vm } = setup(U.KVM_X86_SW_PROTECTED_VM);
    expect(syscallCode(() => gmem(p, vm, PAGE, MMAP | INIT_SHARED))).toBe('EINVAL');
    expect(syscallCode(() => gmem(p, vm, PAGE, U.GUESTMEM_HUGETLB_FLAG_2MB))).toBe('EINVAL');
    // Flags are checked before the size.
    expect(syscallCode(() => gmem(p, vm, 1, 1n << 5n))).toBe('EINVAL');
    expect(syscallCode(() => gmem(p, vm, 0, MMAP))).toBe('EINVAL');
  });

  it('the kvm option refuses in-flight series without the mainline uAPI', () => {
    expect(() => new Kernel({ memory: '64MiB', kvm: { inPlaceConversion: true } })).toThrow(/guestMemfd: 'mainline'/);
    expect(() => new Kernel({ memory: '64MiB', kvm: { guestMemfd: '6.13' as never } })).toThrow(/kvm/);
  });
});

describe('host mmap of a guest_memfd (mainline)', () => {
  it('ENODEV without MMAP, EINVAL for MAP_PRIVATE; a shared page maps, a private one is SIGBUS', () => {
    const { k, p, vm } = setup(U.KVM_X86_DEFAULT_VM);
    const plain = gmem(p, vm, 4 * PAGE);
    expect(syscallCode(() => p.mmap(0, PAGE, RW, U.MAP_SHARED, plain, 0))).toBe('ENODEV');
    const shared = gmem(p, vm, 4 * PAGE, MMAP | INIT_SHARED);
    expect(syscallCode(() => p.mmap(0, PAGE, RW, U.MAP_PRIVATE, shared, 0))).toBe('EINVAL');
    const m = p.mmap(0, 4 * PAGE, RW, U.MAP_SHARED, shared, 0);
    p.write(m + PAGE, Uint8Array.of(7));
    expect(p.read(m + PAGE, 1)[0]).toBe(7);
    expect(p.read(m, 1)[0]).toBe(0);
    expect(k.meminfo().Cached).toBe(8);
    const { p: p2, vm: vm2 } = setup(U.KVM_X86_SW_PROTECTED_VM);
    const priv = gmem(p2, vm2, 4 * PAGE, MMAP);
    const m2 = p2.mmap(0, 4 * PAGE, RW, U.MAP_SHARED, priv, 0);
    expect(signalOf(() => p2.read(m2, 1))).toBe('SIGBUS');
    expect(k.check()).toEqual([]);
  });

  it('read, write, ftruncate and unknown ioctls still fail as in 6.12', () => {
    const { p, vm } = setup(U.KVM_X86_DEFAULT_VM);
    const fd = gmem(p, vm, 4 * PAGE, MMAP | INIT_SHARED);
    expect(syscallCode(() => p.sysread(fd, new Uint8Array(8), 8))).toBe('EINVAL');
    expect(syscallCode(() => p.pwrite(fd, new Uint8Array(8), 8, 0))).toBe('ESPIPE');
    expect(syscallCode(() => p.ftruncate(fd, 8 * PAGE))).toBe('EINVAL');
    expect(syscallCode(() => p.fallocate(fd, 0, 0, PAGE))).toBe('EOPNOTSUPP');
    expect(syscallCode(() => p.ioctl(fd, U.KVM_SET_MEMORY_ATTRIBUTES2, { offset: 0, size: PAGE, attributes: 0 }))).toBe('ENOTTY');
  });

  it('a punch hole zaps the host PTEs and the guest mapping of a guest_memfd-only slot; both re-fault zeros', () => {
    const { k, p, vm } = setup(U.KVM_X86_DEFAULT_VM);
    const fd = gmem(p, vm, 4 * PAGE, MMAP | INIT_SHARED);
    bind(p, vm, fd, 4 * PAGE);
    const m = p.mmap(0, 4 * PAGE, RW, U.MAP_SHARED, fd, 0);
    p.fill(m, 4 * PAGE, 0x5a);
    const seen: number[] = [];
    const cpu = vcpuWith(p, vm, function* () {
      seen.push(yield* readU8(GPA + PAGE));
      yield* GUEST_SYNC(1);
      seen.push(yield* readU8(GPA + PAGE));
      yield* writeU8(GPA + PAGE, 9);
      yield* GUEST_DONE();
    });
    p.ioctl(cpu, U.KVM_RUN, 0);
    expect(k.kvmStats()[0]!.mmu.leaves[1]).toBe(1);
    expect(k.check()).toEqual([]);
    p.fallocate(fd, PUNCH, PAGE, PAGE);
    expect(k.kvmStats()[0]!.mmu.leaves[1]).toBe(0);
    expect(p.read(m + PAGE, 1)[0]).toBe(0);
    p.ioctl(cpu, U.KVM_RUN, 0);
    expect(seen).toEqual([0x5a, 0]);
    expect(p.read(m + PAGE, 1)[0]).toBe(9);
    expect(k.check()).toEqual([]);
  });
});

describe('SNP-like and TDX-like VMs: the access carries its privacy', () => {
  for (const type of [U.KVM_X86_SNP_VM, U.KVM_X86_TDX_VM]) {
    it(`type ${type}: a private access to a shared GPA exits with KVM_EXIT_MEMORY_FAULT; a shared access maps from the HVA`, () => {
      const { k, p, vm } = setup(type);
      const fd = gmem(p, vm, 4 * PAGE);
      const hva = p.mmap(0, 4 * PAGE, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
      p.fill(hva, 4 * PAGE, 0x33);
      bind(p, vm, fd, 4 * PAGE, { uaddr: hva });
      let got = -1;
      const cpu = vcpuWith(p, vm, function* () {
        got = yield* sharedAccess(readU8(GPA));
        yield* readU8(GPA);
        yield* GUEST_DONE();
      });
      expect(syscallCode(() => p.ioctl(cpu, U.KVM_RUN, 0))).toBe('EFAULT');
      expect(got).toBe(0x33);
      const run = p.kvm_run(cpu);
      expect(run.exit_reason).toBe(U.KVM_EXIT_MEMORY_FAULT);
      expect(run.memory_fault).toEqual({ flags: U.KVM_MEMORY_EXIT_FLAG_PRIVATE, gpa: GPA, size: PAGE });
      // Userspace converts; the private access now maps the guest_memfd page (zeroed).
      p.ioctl(vm, U.KVM_SET_MEMORY_ATTRIBUTES, { address: GPA, size: PAGE, attributes: U.KVM_MEMORY_ATTRIBUTE_PRIVATE, flags: 0 });
      p.ioctl(cpu, U.KVM_RUN, 0);
      expect(p.kvm_run(cpu).ucall?.cmd).toBe(4);
      expect(k.check()).toEqual([]);
    });
  }
});

describe('in-place conversion (v8): KVM_SET_MEMORY_ATTRIBUTES2 on the guest_memfd', () => {
  const set2 = (p: Process, fd: number, a: Record<string, unknown>) => syscallCode(() => p.ioctl(fd, U.KVM_SET_MEMORY_ATTRIBUTES2, { offset: 0, size: PAGE, attributes: 0, flags: 0, ...a }));

  it('caps: attributes move from the VM to guest_memfd; CoCo VMs may start shared', () => {
    const { p, kvm, vm } = setup(U.KVM_X86_SW_PROTECTED_VM, INPLACE);
    expect(p.ioctl(vm, U.KVM_CHECK_EXTENSION, U.KVM_CAP_MEMORY_ATTRIBUTES)).toBe(0);
    expect(p.ioctl(vm, U.KVM_CHECK_EXTENSION, U.KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES)).toBe(U.KVM_MEMORY_ATTRIBUTE_PRIVATE);
    expect(p.ioctl(vm, U.KVM_CHECK_EXTENSION, U.KVM_CAP_GUEST_MEMFD_FLAGS)).toBe(Number(MMAP | INIT_SHARED));
    // The per-VM ioctl no longer takes PRIVATE.
    expect(syscallCode(() => p.ioctl(vm, U.KVM_SET_MEMORY_ATTRIBUTES, { address: GPA, size: PAGE, attributes: U.KVM_MEMORY_ATTRIBUTE_PRIVATE, flags: 0 }))).toBe('EINVAL');
    const dflt = p.ioctl(kvm, U.KVM_CREATE_VM, U.KVM_X86_DEFAULT_VM);
    expect(p.ioctl(dflt, U.KVM_CHECK_EXTENSION, U.KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES)).toBe(0);
  });

  it('checks in v8 order: flags, reserved, private memory, attributes, size, alignment, i_size; EFAULT for a bad struct', () => {
    const { p, kvm, vm } = setup(U.KVM_X86_SW_PROTECTED_VM, INPLACE);
    const fd = gmem(p, vm, 4 * PAGE, MMAP);
    expect(set2(p, fd, { flags: 1, size: 0 })).toBe('EINVAL');
    expect(set2(p, fd, { reserved: [0, 1] })).toBe('EINVAL');
    expect(set2(p, fd, { attributes: 1 })).toBe('EINVAL');
    expect(set2(p, fd, { size: 0 })).toBe('EINVAL');
    expect(set2(p, fd, { offset: -4096, size: 8192 })).toBe('EINVAL');
    expect(set2(p, fd, { offset: 1 })).toBe('EINVAL');
    expect(set2(p, fd, { size: 4097 })).toBe('EINVAL');
    expect(set2(p, fd, { offset: 4 * PAGE })).toBe('EINVAL');
    expect(set2(p, fd, { offset: 3 * PAGE, size: 2 * PAGE })).toBe('EINVAL');
    // 64-bit values: a u64 that wraps the sum, an offset past 2^53, attributes with a high bit, a bigint that wraps to 0.
    expect(set2(p, fd, { offset: 2n ** 64n - 4096n, size: 8192 })).toBe('EINVAL');
    expect(set2(p, fd, { offset: 2n ** 60n })).toBe('EINVAL');
    expect(set2(p, fd, { attributes: (1n << 40n) | BigInt(U.KVM_MEMORY_ATTRIBUTE_PRIVATE) })).toBe('EINVAL');
    expect(set2(p, fd, { offset: 2n ** 64n + 4096n })).toBe('ok');
    expect(set2(p, fd, { size: 1.5 })).toBe('EFAULT');
    expect(syscallCode(() => p.ioctl(fd, U.KVM_SET_MEMORY_ATTRIBUTES2, null))).toBe('EFAULT');
    expect(syscallCode(() => p.ioctl(fd, U.KVM_CREATE_GUEST_MEMFD, { size: PAGE }))).toBe('ENOTTY');
    expect(set2(p, fd, {})).toBe('ok');
    // A VM without private memory: EINVAL (after the flag checks).
    const dflt = p.ioctl(kvm, U.KVM_CREATE_VM, U.KVM_X86_DEFAULT_VM);
    const dfd = gmem(p, dflt, 4 * PAGE, MMAP | INIT_SHARED);
    expect(set2(p, dfd, { attributes: U.KVM_MEMORY_ATTRIBUTE_PRIVATE })).toBe('EINVAL');
    expect(set2(p, dfd, { flags: 2 })).toBe('EINVAL');
  });

  it('a conversion zaps the guest mapping of the range (stage 2 invalidated) and keeps the contents', () => {
    const { k, p, vm } = setup(U.KVM_X86_SW_PROTECTED_VM, INPLACE);
    const fd = gmem(p, vm, 4 * PAGE, MMAP | INIT_SHARED);
    const m = p.mmap(0, 4 * PAGE, RW, U.MAP_SHARED, fd, 0);
    bind(p, vm, fd, 4 * PAGE, { uaddr: m });
    p.fill(m, 4 * PAGE, 0x11);
    const seen: number[] = [];
    const cpu = vcpuWith(p, vm, function* () {
      for (let i = 0; i < 4; i++) seen.push(yield* readU8(GPA + i * PAGE));
      yield* GUEST_SYNC(1);
      seen.push(yield* readU8(GPA + PAGE));
      yield* writeU8(GPA + PAGE, 0x22);
      yield* GUEST_DONE();
    });
    p.ioctl(cpu, U.KVM_RUN, 0);
    expect(k.kvmStats()[0]!.mmu.leaves[1]).toBe(4);
    const zaps = k.kvmStats()[0]!.mmu.zaps;
    p.ioctl(fd, U.KVM_SET_MEMORY_ATTRIBUTES2, { offset: PAGE, size: PAGE, attributes: U.KVM_MEMORY_ATTRIBUTE_PRIVATE, flags: 0 });
    expect(k.kvmStats()[0]!.mmu.zaps - zaps).toBe(1);
    expect(k.kvmStats()[0]!.mmu.leaves[1]).toBe(3);
    expect(signalOf(() => p.read(m + PAGE, 1))).toBe('SIGBUS');
    expect(k.check()).toEqual([]);
    p.ioctl(cpu, U.KVM_RUN, 0);
    expect(seen).toEqual([0x11, 0x11, 0x11, 0x11, 0x11]);
    p.ioctl(fd, U.KVM_SET_MEMORY_ATTRIBUTES2, { offset: 0, size: 4 * PAGE, attributes: 0, flags: 0 });
    expect(p.read(m + PAGE, 1)[0]).toBe(0x22);
    expect(k.check()).toEqual([]);
  });

  it('without in-place conversion the file has no ioctl (ENOTTY)', () => {
    const { p, vm } = setup(U.KVM_X86_SW_PROTECTED_VM);
    const fd = gmem(p, vm, 4 * PAGE, MMAP);
    expect(set2(p, fd, {})).toBe('ENOTTY');
  });
});

describe('HugeTLB-backed guest_memfd (the 1 GiB series RFC v2)', () => {
  const HUGE: Opts = { memory: '256MiB', hugetlb: { '2MiB': 8 }, kvm: { guestMemfd: 'mainline', hugetlb: true } };
  const HUGETLB_2M = U.GUEST_MEMFD_FLAG_HUGETLB | U.GUESTMEM_HUGETLB_FLAG_2MB;
  const M2 = 2 << 20;
  const pool = (k: Kernel) => {
    const m = k.meminfo();
    return { total: m.HugePages_Total, free: m.HugePages_Free, rsvd: m.HugePages_Rsvd };
  };

  it('creation: the flag needs kvm.hugetlb; a huge-aligned size; a known page size; a pool that can reserve it (ENOMEM)', () => {
    const { p: p0, vm: vm0 } = setup(U.KVM_X86_SW_PROTECTED_VM);
    expect(p0.ioctl(vm0, U.KVM_CHECK_EXTENSION, U.KVM_CAP_GMEM_HUGETLB)).toBe(0);
    expect(syscallCode(() => gmem(p0, vm0, M2, HUGETLB_2M))).toBe('EINVAL');
    const { k, p, vm } = setup(U.KVM_X86_SW_PROTECTED_VM, HUGE);
    expect(p.ioctl(vm, U.KVM_CHECK_EXTENSION, U.KVM_CAP_GMEM_HUGETLB)).toBe(1);
    expect(syscallCode(() => gmem(p, vm, M2 + PAGE, HUGETLB_2M))).toBe('EINVAL');
    expect(syscallCode(() => gmem(p, vm, M2, U.GUEST_MEMFD_FLAG_HUGETLB | (25n << U.GUESTMEM_HUGETLB_FLAG_SHIFT)))).toBe('EINVAL');
    // The page-alignment check comes first: an unaligned size is EINVAL, not a pool question.
    expect(syscallCode(() => gmem(p, vm, 100, HUGETLB_2M))).toBe('EINVAL');
    expect(syscallCode(() => gmem(p, vm, 9 * M2, HUGETLB_2M))).toBe('ENOMEM');
    // Size 0 in the size bits: the default hstate (2 MiB).
    const fd = gmem(p, vm, 4 * M2, U.GUEST_MEMFD_FLAG_HUGETLB);
    expect(pool(k)).toEqual({ total: 8, free: 8, rsvd: 4 });
    expect(syscallCode(() => gmem(p, vm, 5 * M2, HUGETLB_2M))).toBe('ENOMEM');
    expect(k.check()).toEqual([]);
    p.close(fd);
    expect(pool(k)).toEqual({ total: 8, free: 8, rsvd: 0 });
    expect(k.check()).toEqual([]);
  });

  it('fallocate takes whole pages from the subpool; close gives them back; meminfo stays true', () => {
    const { k, p, vm } = setup(U.KVM_X86_SW_PROTECTED_VM, HUGE);
    const fd = gmem(p, vm, 4 * M2, HUGETLB_2M);
    p.fallocate(fd, U.FALLOC_FL_KEEP_SIZE, M2 + PAGE, PAGE);
    expect(pool(k)).toEqual({ total: 8, free: 7, rsvd: 3 });
    p.fallocate(fd, U.FALLOC_FL_KEEP_SIZE, 0, 4 * M2);
    expect(pool(k)).toEqual({ total: 8, free: 4, rsvd: 0 });
    expect(k.meminfo().Cached).toBe(0);
    expect(k.check()).toEqual([]);
    p.close(fd);
    expect(pool(k)).toEqual({ total: 8, free: 8, rsvd: 0 });
    expect(k.check()).toEqual([]);
  });

  it('KVM maps 2 MiB from a 2 MiB folio; 4 KiB where the file offset and the gfn disagree modulo 2 MiB', () => {
    const { k, p, vm } = setup(U.KVM_X86_SW_PROTECTED_VM, HUGE);
    const fd = gmem(p, vm, 4 * M2, HUGETLB_2M);
    bind(p, vm, fd, 2 * M2, { slot: 1, gpa: GPA, offset: 0 });
    bind(p, vm, fd, M2, { slot: 2, gpa: GPA + 8 * M2 + PAGE * 16, offset: 2 * M2 });
    p.ioctl(vm, U.KVM_SET_MEMORY_ATTRIBUTES, { address: GPA, size: 2 * M2, attributes: U.KVM_MEMORY_ATTRIBUTE_PRIVATE, flags: 0 });
    p.ioctl(vm, U.KVM_SET_MEMORY_ATTRIBUTES, { address: GPA + 8 * M2 + PAGE * 16, size: M2, attributes: U.KVM_MEMORY_ATTRIBUTE_PRIVATE, flags: 0 });
    const cpu = vcpuWith(p, vm, function* () {
      yield* writeU8(GPA + 5 * PAGE, 1);
      yield* writeU8(GPA + 8 * M2 + PAGE * 16, 2);
      yield* GUEST_DONE();
    });
    p.ioctl(cpu, U.KVM_RUN, 0);
    expect(k.kvmStats()[0]!.mmu.leaves).toEqual([0, 1, 1, 0]);
    expect(k.check()).toEqual([]);
  });

  it('a 1 GiB file maps at 1 GiB; one shared page splits the 1 GiB page (4 KiB mappings) until all are private again and it merges', () => {
    const { k, p, vm } = setup(U.KVM_X86_SW_PROTECTED_VM, { memory: '3GiB', hugetlb: { '1GiB': 1 }, kvm: { guestMemfd: 'mainline', hugetlb: true, inPlaceConversion: true } });
    const G1 = 2 ** 30;
    const fd = gmem(p, vm, G1, U.GUEST_MEMFD_FLAG_HUGETLB | U.GUESTMEM_HUGETLB_FLAG_1GB);
    bind(p, vm, fd, G1, { gpa: GPA });
    let id = 0;
    const read = (gpa: number) => {
      let v = -1;
      const cpu = vcpuWith(p, vm, function* () {
        v = yield* readU8(gpa);
        yield* GUEST_DONE();
      }, id++);
      p.ioctl(cpu, U.KVM_RUN, 0);
      p.close(cpu);
      return v;
    };
    expect(read(GPA + 12345)).toBe(0);
    expect(k.kvmStats()[0]!.mmu.leaves).toEqual([0, 0, 0, 1]);
    expect(k.check()).toEqual([]);
    p.ioctl(fd, U.KVM_SET_MEMORY_ATTRIBUTES2, { offset: 7 * PAGE, size: PAGE, attributes: 0, flags: 0 });
    expect(k.kvmStats()[0]!.mmu.leaves).toEqual([0, 0, 0, 0]);
    expect(read(GPA + 3 * M2)).toBe(0);
    expect(k.kvmStats()[0]!.mmu.leaves).toEqual([0, 1, 0, 0]);
    expect(k.check()).toEqual([]);
    // All private again: the next fault maps the whole 1 GiB page at once (lazy re-promotion).
    p.ioctl(fd, U.KVM_SET_MEMORY_ATTRIBUTES2, { offset: 7 * PAGE, size: PAGE, attributes: U.KVM_MEMORY_ATTRIBUTE_PRIVATE, flags: 0 });
    expect(read(GPA + 5 * M2)).toBe(0);
    expect(k.kvmStats()[0]!.mmu.leaves).toEqual([0, 0, 0, 1]);
    expect(k.check()).toEqual([]);
  });

  it('punch hole zeroes a partial range (the page stays) and frees whole huge pages', () => {
    const { k, p, vm } = setup(U.KVM_X86_SW_PROTECTED_VM, HUGE);
    const fd = gmem(p, vm, 2 * M2, HUGETLB_2M);
    bind(p, vm, fd, 2 * M2, { gpa: GPA });
    p.ioctl(vm, U.KVM_SET_MEMORY_ATTRIBUTES, { address: GPA, size: 2 * M2, attributes: U.KVM_MEMORY_ATTRIBUTE_PRIVATE, flags: 0 });
    const seen: number[] = [];
    const cpu = vcpuWith(p, vm, function* () {
      for (const off of [0, PAGE, M2]) yield* writeU8(GPA + off, 0x77);
      yield* GUEST_SYNC(1);
      for (const off of [0, PAGE, M2]) seen.push(yield* readU8(GPA + off));
      yield* GUEST_DONE();
    });
    p.ioctl(cpu, U.KVM_RUN, 0);
    expect(pool(k)).toEqual({ total: 8, free: 6, rsvd: 0 });
    const zaps = k.kvmStats()[0]!.mmu.zaps;
    // Page 1 of the first huge page: zeroed in place, nothing freed.
    p.fallocate(fd, PUNCH, PAGE, PAGE);
    expect(pool(k)).toEqual({ total: 8, free: 6, rsvd: 0 });
    // The whole second huge page: freed back to the file's subpool (reserved again).
    p.fallocate(fd, PUNCH, M2, M2);
    expect(pool(k)).toEqual({ total: 8, free: 7, rsvd: 1 });
    expect(k.kvmStats()[0]!.mmu.zaps - zaps).toBe(2);
    expect(k.check()).toEqual([]);
    p.ioctl(cpu, U.KVM_RUN, 0);
    expect(seen).toEqual([0x77, 0, 0]);
    expect(k.check()).toEqual([]);
  });
});

describe("policy gmemHugeShared 'split' (the 1 GiB series RFC v2's restructuring)", () => {
  const M2 = 2 << 20;
  const HUGE_INPLACE = (hvo: boolean): Opts => ({ memory: '256MiB', hugetlb: { '2MiB': 4 }, hugetlbOptimizeVmemmap: hvo, kvm: { guestMemfd: 'mainline', hugetlb: true, inPlaceConversion: true } });
  const FLAGS = MMAP | INIT_SHARED | U.GUEST_MEMFD_FLAG_HUGETLB | U.GUESTMEM_HUGETLB_FLAG_2MB;

  it('an unknown design name is a configuration error listing the valid ones', () => {
    expect(() => new Kernel({ memory: '64MiB', policy: { gmemHugeShared: 'bogus' } })).toThrow(/gmemHugeShared.*valid: split, no-longterm-pin/);
    expect(new Kernel({ memory: '64MiB' }).policy.gmemHugeShared).toBe('split');
  });

  it('a shared page splits its huge page (HVO undone: 7 vmemmap pages back); all private again merges it (HVO redone)', () => {
    const { k, p, vm } = setup(U.KVM_X86_SW_PROTECTED_VM, HUGE_INPLACE(true));
    const memmap = () => k.vmstat().nr_memmap_pages;
    const base = memmap();
    const fd = gmem(p, vm, 2 * M2, FLAGS);
    const m = p.mmap(0, 2 * M2, RW, U.MAP_SHARED, fd, 0);
    // userspace_addr 0: a guest_memfd-only slot needs none, and 0 is congruent with the GPA (lpage_info).
    bind(p, vm, fd, 2 * M2);
    // The host's write allocates the first huge page and, as it holds shared pages, splits it at once.
    p.write(m + 3 * PAGE, Uint8Array.of(0x3c));
    expect(memmap() - base).toBe(7);
    expect(k.meminfo().Cached).toBe(2048);
    expect(k.meminfo().HugePages_Free).toBe(3);
    expect(k.check()).toEqual([]);
    // Everything private: the pieces merge, the vmemmap is freed again, the contents stay.
    p.ioctl(fd, U.KVM_SET_MEMORY_ATTRIBUTES2, { offset: 0, size: 2 * M2, attributes: U.KVM_MEMORY_ATTRIBUTE_PRIVATE, flags: 0 });
    expect(memmap() - base).toBe(0);
    expect(k.meminfo().Cached).toBe(0);
    expect(k.check()).toEqual([]);
    let seen = -1;
    const cpu = vcpuWith(p, vm, function* () {
      seen = yield* readU8(GPA + 3 * PAGE);
      yield* GUEST_DONE();
    });
    p.ioctl(cpu, U.KVM_RUN, 0);
    expect(seen).toBe(0x3c);
    expect(k.kvmStats()[0]!.mmu.leaves).toEqual([0, 0, 1, 0]);
    // One page shared again: the guest's 2 MiB leaf goes, the page splits, the host maps the page.
    p.ioctl(fd, U.KVM_SET_MEMORY_ATTRIBUTES2, { offset: 3 * PAGE, size: PAGE, attributes: 0, flags: 0 });
    expect(k.kvmStats()[0]!.mmu.leaves).toEqual([0, 0, 0, 0]);
    expect(p.read(m + 3 * PAGE, 1)[0]).toBe(0x3c);
    expect(memmap() - base).toBe(7);
    expect(k.check()).toEqual([]);
    p.close(fd);
    p.munmap(m, 2 * M2);
    expect(memmap() - base).toBe(0);
    expect(k.meminfo().HugePages_Free).toBe(4);
    expect(k.check()).toEqual([]);
  });

  it('the split needs vmemmap (HVO undone): without memory the conversion is ENOMEM and the page stays private', () => {
    const { k, p, vm } = setup(U.KVM_X86_SW_PROTECTED_VM, { memory: '64MiB', hugetlb: { '2MiB': 2 }, hugetlbOptimizeVmemmap: true, kvm: { guestMemfd: 'mainline', hugetlb: true, inPlaceConversion: true } });
    const fd = gmem(p, vm, M2, MMAP | U.GUEST_MEMFD_FLAG_HUGETLB);
    p.fallocate(fd, U.FALLOC_FL_KEEP_SIZE, 0, M2);
    const m = p.mmap(0, M2, RW, U.MAP_SHARED, fd, 0);
    // Fill the rest of memory with tmpfs pages until the page allocator has nothing left.
    const fills = ['/tmp/fill', '/dev/shm/fill'].map((path) => p.open(path, U.O_RDWR | U.O_CREAT, 0o600));
    for (const f of fills) for (let off = 0, step = 1 << 20; step >= PAGE; step /= 16) while (syscallCode(() => p.fallocate(f, 0, off, step)) === 'ok') off += step;
    expect(k.meminfo().MemFree).toBe(0);
    expect(syscallCode(() => p.ioctl(fd, U.KVM_SET_MEMORY_ATTRIBUTES2, { offset: 0, size: PAGE, attributes: 0, flags: 0 }))).toBe('ENOMEM');
    expect(k.check()).toEqual([]);
    for (const [i, path] of ['/tmp/fill', '/dev/shm/fill'].entries()) {
      p.close(fills[i]!);
      p.unlink(path);
    }
    // The attributes were rolled back: the page is still private.
    expect(signalOf(() => p.read(m, 1))).toBe('SIGBUS');
    p.ioctl(fd, U.KVM_SET_MEMORY_ATTRIBUTES2, { offset: 0, size: PAGE, attributes: 0, flags: 0 });
    expect(p.read(m, 1)[0]).toBe(0);
    expect(k.check()).toEqual([]);
  });

  it('a split page still pinned when its file goes is merged and freed after the unpin (the RFC deferred merge)', () => {
    const { k, p, vm } = setup(U.KVM_X86_SW_PROTECTED_VM, HUGE_INPLACE(true));
    const fd = gmem(p, vm, M2, FLAGS);
    const m = p.mmap(0, M2, RW, U.MAP_SHARED, fd, 0);
    p.write(m, Uint8Array.of(1));
    const gup = p.open(U.GUP_TEST_PATH, U.O_RDWR);
    p.ioctl(gup, U.PIN_LONGTERM_TEST_START, { addr: m, size: PAGE, flags: 0 });
    p.munmap(m, M2);
    p.close(fd);
    // The file is gone; its huge page is not back in the pool while the piece is pinned.
    expect(k.meminfo().HugePages_Free).toBe(3);
    expect(k.check()).toEqual([]);
    p.ioctl(gup, U.PIN_LONGTERM_TEST_STOP);
    // The unpin drops the piece's last pin: the folio_put callback merges the page; it returns to the pool, its subpool goes.
    expect(k.meminfo().HugePages_Free).toBe(4);
    expect(k.meminfo().HugePages_Rsvd).toBe(0);
    expect(k.check()).toEqual([]);
  });

  it('a long-term pin on a shared piece: to-private and a punch of its whole huge page are EAGAIN until the unpin', () => {
    const { k, p, vm } = setup(U.KVM_X86_SW_PROTECTED_VM, HUGE_INPLACE(false));
    const fd = gmem(p, vm, M2, FLAGS);
    const m = p.mmap(0, M2, RW, U.MAP_SHARED, fd, 0);
    p.fill(m, M2, 0x5a);
    const gup = p.open(U.GUP_TEST_PATH, U.O_RDWR);
    p.ioctl(gup, U.PIN_LONGTERM_TEST_START, { addr: m + 9 * PAGE, size: PAGE, flags: 0 });
    const arg = { offset: 0, size: M2, attributes: U.KVM_MEMORY_ATTRIBUTE_PRIVATE, flags: 0, error_offset: 0 };
    expect(syscallCode(() => p.ioctl(fd, U.KVM_SET_MEMORY_ATTRIBUTES2, arg))).toBe('EAGAIN');
    expect(arg.error_offset).toBe(9 * PAGE);
    expect(syscallCode(() => p.fallocate(fd, PUNCH, 0, M2))).toBe('EAGAIN');
    // A partial punch only zeroes.
    p.fallocate(fd, PUNCH, 0, PAGE);
    expect(p.read(m, 1)[0]).toBe(0);
    expect(k.check()).toEqual([]);
    p.ioctl(gup, U.PIN_LONGTERM_TEST_STOP);
    p.ioctl(fd, U.KVM_SET_MEMORY_ATTRIBUTES2, arg);
    expect(k.meminfo().Cached).toBe(0);
    p.fallocate(fd, PUNCH, 0, M2);
    expect(k.meminfo().HugePages_Free).toBe(4);
    expect(k.meminfo().HugePages_Rsvd).toBe(1);
    expect(k.check()).toEqual([]);
  });
});
