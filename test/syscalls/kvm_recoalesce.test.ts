/**
 * Policy s2Recoalesce (issue 8 section 3, seed 001): when a 2 MiB range of
 * guest memory is uniform again, 'lazy' (Linux) maps it huge at its next
 * stage-2 fault, 'eager' at once on the attribute change, where one huge
 * folio backs the range. Both through the guest_memfd's in-place conversion
 * (v8) and through the VM's KVM_SET_MEMORY_ATTRIBUTES.
 */
import { describe, expect, it } from 'vitest';
import { Kernel, type Process } from '../../src/index.js';
import * as U from '../../src/uapi/index.js';
import { GUEST_DONE, type GuestCode, readU8, writeU8 } from '../../src/kvm/guest.js';

const RW = U.PROT_READ | U.PROT_WRITE;
const PAGE = 4096;
const M2 = 2 << 20;
const GPA = 0x100000000;
const FLAGS = U.GUEST_MEMFD_FLAG_MMAP | U.GUEST_MEMFD_FLAG_HUGETLB | U.GUESTMEM_HUGETLB_FLAG_2MB;

type Opts = ConstructorParameters<typeof Kernel>[0];
const opts = (s2Recoalesce: string, inPlaceConversion = true): Opts => ({
  memory: '256MiB',
  hugetlb: { '2MiB': 4 },
  kvm: { guestMemfd: 'mainline', hugetlb: true, inPlaceConversion },
  policy: { s2Recoalesce },
});

function vm(o: Opts) {
  const k = new Kernel(o);
  const p = k.spawn();
  const kvm = p.open('/dev/kvm', U.O_RDWR);
  const fd = p.ioctl(kvm, U.KVM_CREATE_VM, U.KVM_X86_SW_PROTECTED_VM);
  return { k, p, vm: fd };
}

/** Run guest code on a fresh vCPU to its end. */
function run(p: Process, vmFd: number, code: () => GuestCode, id: number): void {
  const cpu = p.ioctl(vmFd, U.KVM_CREATE_VCPU, id);
  p.kvm_vcpu_guest(cpu, code());
  expect(p.ioctl(cpu, U.KVM_RUN, 0)).toBe(0);
}

/**
 * A 2 MiB guest_memfd page, private, mapped huge; one page shared, then the
 * guest touches 8 private pages (mapped at 4 KiB around the hole); then the
 * page is made private again. Returns the stats before and after that.
 */
function holeAndBack(design: string) {
  const { k, p, vm: v } = vm(opts(design));
  const fd = p.ioctl(v, U.KVM_CREATE_GUEST_MEMFD, { size: 2 * M2, flags: FLAGS });
  p.ioctl(v, U.KVM_SET_USER_MEMORY_REGION2, { slot: 1, flags: U.KVM_MEM_GUEST_MEMFD, guest_phys_addr: GPA, memory_size: 2 * M2, userspace_addr: 0, guest_memfd: fd, guest_memfd_offset: 0 });
  let id = 0;
  run(p, v, function* () {
    for (let i = 0; i < 8; i++) yield* writeU8(GPA + i * 64 * PAGE, 0x40 + i);
    yield* GUEST_DONE();
  }, id++);
  expect(k.kvmStats()[0]!.mmu.leaves).toEqual([0, 0, 1, 0]);
  const convert = (attributes: number) => p.ioctl(fd, U.KVM_SET_MEMORY_ATTRIBUTES2, { offset: 5 * PAGE, size: PAGE, attributes, flags: 0 });
  convert(0);
  // The host writes the shared page through its mmap.
  const m = p.mmap(0, 2 * M2, RW, U.MAP_SHARED, fd, 0);
  p.write(m + 5 * PAGE, Uint8Array.of(0x99));
  run(p, v, function* () {
    for (let i = 0; i < 8; i++) yield* readU8(GPA + i * 64 * PAGE);
    yield* GUEST_DONE();
  }, id++);
  expect(k.kvmStats()[0]!.mmu.leaves).toEqual([0, 8, 0, 0]);
  expect(k.check()).toEqual([]);
  const before = { ...k.kvmStats()[0]!.mmu };
  convert(U.KVM_MEMORY_ATTRIBUTE_PRIVATE);
  const after = { ...k.kvmStats()[0]!.mmu };
  expect(k.check()).toEqual([]);
  // The guest reads its old pages, on either design, and the page the host wrote.
  const seen: number[] = [];
  run(p, v, function* () {
    for (let i = 0; i < 8; i++) seen.push(yield* readU8(GPA + i * 64 * PAGE));
    yield* GUEST_DONE();
  }, id++);
  const touched = { ...k.kvmStats()[0]!.mmu };
  // The converted page, not mapped since: a fault.
  run(p, v, function* () {
    seen.push(yield* readU8(GPA + 5 * PAGE));
    yield* GUEST_DONE();
  }, id++);
  expect(seen).toEqual([0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x99]);
  expect(k.check()).toEqual([]);
  return { before, after, touched, last: k.kvmStats()[0]!.mmu };
}

describe("policy s2Recoalesce: 'lazy' (Linux) and 'eager' (seed 001)", () => {
  it('an unknown name is a configuration error listing the valid ones; lazy is the default', () => {
    expect(() => new Kernel({ memory: '64MiB', policy: { s2Recoalesce: 'soon' } })).toThrow(/s2Recoalesce.*valid: lazy, eager/);
    expect(new Kernel({ memory: '64MiB' }).policy.s2Recoalesce).toBe('lazy');
  });

  it('lazy: the range stays at 4 KiB while the guest touches mapped pages; the first fault on an unmapped gfn maps 2 MiB', () => {
    const { before, after, touched, last } = holeAndBack('lazy');
    // The conversion zapped the shared page's leaf only (there was none: it was not mapped) and installed nothing.
    expect(after.leaves).toEqual(before.leaves);
    expect(after.eagerPromotions).toBe(0);
    // Reading the 8 pages still mapped at 4 KiB: no fault, so no re-promotion.
    expect(touched.leaves).toEqual([0, 8, 0, 0]);
    expect(touched.faults).toBe(after.faults);
    // The first fault on an unmapped gfn of the range maps 2 MiB over the table (lazy re-promotion).
    expect(last.faults - touched.faults).toBe(1);
    expect(last.leaves).toEqual([0, 0, 1, 0]);
    expect(last.promotions - touched.promotions).toBe(1);
    expect(last.eagerPromotions).toBe(0);
  });

  it('eager: the conversion that makes the range uniform installs the 2 MiB leaf at once: one table zapped, one flush, no fault', () => {
    const { before, after, touched, last } = holeAndBack('eager');
    expect(after.leaves).toEqual([0, 0, 1, 0]);
    expect(after.eagerPromotions).toBe(1);
    expect(after.promotions - before.promotions).toBe(1);
    expect(after.faults).toBe(before.faults);
    // The 8 leaves went with the table; one remote TLB flush reached the VM's 2 vCPUs.
    expect(after.zaps - before.zaps).toBe(8);
    expect(after.tlbFlushes - before.tlbFlushes).toBe(1);
    expect(after.vcpuTlbFlushes - before.vcpuTlbFlushes).toBe(2);
    // The guest's reads need no fault at all afterwards.
    expect(touched.faults).toBe(after.faults);
    expect(last.faults).toBe(after.faults);
    expect(last.leaves).toEqual([0, 0, 1, 0]);
  });

  it('eager needs one folio of the size: order-0 guest_memfd pages stay at 4 KiB, and so does a range still mixed', () => {
    const k = new Kernel({ memory: '128MiB', kvm: { guestMemfd: 'mainline', inPlaceConversion: true }, policy: { s2Recoalesce: 'eager' } });
    const p = k.spawn();
    const v = p.ioctl(p.open('/dev/kvm', U.O_RDWR), U.KVM_CREATE_VM, U.KVM_X86_SW_PROTECTED_VM);
    const fd = p.ioctl(v, U.KVM_CREATE_GUEST_MEMFD, { size: M2, flags: U.GUEST_MEMFD_FLAG_MMAP });
    p.ioctl(v, U.KVM_SET_USER_MEMORY_REGION2, { slot: 1, flags: U.KVM_MEM_GUEST_MEMFD, guest_phys_addr: GPA, memory_size: M2, userspace_addr: 0, guest_memfd: fd, guest_memfd_offset: 0 });
    run(p, v, function* () {
      for (let i = 0; i < 4; i++) yield* writeU8(GPA + i * PAGE, i);
      yield* GUEST_DONE();
    }, 0);
    expect(k.kvmStats()[0]!.mmu.leaves).toEqual([0, 4, 0, 0]);
    p.ioctl(fd, U.KVM_SET_MEMORY_ATTRIBUTES2, { offset: 2 * PAGE, size: 2 * PAGE, attributes: 0, flags: 0 });
    p.ioctl(fd, U.KVM_SET_MEMORY_ATTRIBUTES2, { offset: 3 * PAGE, size: PAGE, attributes: U.KVM_MEMORY_ATTRIBUTE_PRIVATE, flags: 0 });
    // Still mixed (page 2 shared): nothing to install.
    expect(k.kvmStats()[0]!.mmu.eagerPromotions).toBe(0);
    p.ioctl(fd, U.KVM_SET_MEMORY_ATTRIBUTES2, { offset: 2 * PAGE, size: PAGE, attributes: U.KVM_MEMORY_ATTRIBUTE_PRIVATE, flags: 0 });
    // Uniform, but 512 order-0 folios: no huge leaf.
    expect(k.kvmStats()[0]!.mmu.eagerPromotions).toBe(0);
    expect(k.kvmStats()[0]!.mmu.leaves).toEqual([0, 2, 0, 0]);
    expect(k.check()).toEqual([]);
  });

  it("eager through the VM's KVM_SET_MEMORY_ATTRIBUTES (no in-place conversion): the 2 MiB page is MIXED, then a huge leaf again", () => {
    const { k, p, vm: v } = vm(opts('eager', false));
    const fd = p.ioctl(v, U.KVM_CREATE_GUEST_MEMFD, { size: M2, flags: U.GUEST_MEMFD_FLAG_HUGETLB | U.GUESTMEM_HUGETLB_FLAG_2MB });
    // Shared memory at a 2 MiB-aligned HVA (congruent with the GPA), 4 KiB host pages.
    const raw = p.mmap(0, 2 * M2, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
    const hva = Math.ceil(raw / M2) * M2;
    p.madvise(hva, M2, U.MADV_NOHUGEPAGE);
    p.ioctl(v, U.KVM_SET_USER_MEMORY_REGION2, { slot: 1, flags: U.KVM_MEM_GUEST_MEMFD, guest_phys_addr: GPA, memory_size: M2, userspace_addr: hva, guest_memfd: fd, guest_memfd_offset: 0 });
    const attrs = (off: number, size: number, a: number) => p.ioctl(v, U.KVM_SET_MEMORY_ATTRIBUTES, { address: GPA + off, size, attributes: a, flags: 0 });
    attrs(0, M2, U.KVM_MEMORY_ATTRIBUTE_PRIVATE);
    run(p, v, function* () {
      yield* writeU8(GPA, 7);
      yield* GUEST_DONE();
    }, 0);
    expect(k.kvmStats()[0]!.mmu.leaves).toEqual([0, 0, 1, 0]);
    attrs(9 * PAGE, PAGE, 0);
    run(p, v, function* () {
      yield* readU8(GPA);
      yield* readU8(GPA + 9 * PAGE);
      yield* GUEST_DONE();
    }, 1);
    // A private and a shared 4 KiB leaf (the shared one from the HVA).
    expect(k.kvmStats()[0]!.mmu.leaves).toEqual([0, 2, 0, 0]);
    expect(k.check()).toEqual([]);
    attrs(9 * PAGE, PAGE, U.KVM_MEMORY_ATTRIBUTE_PRIVATE);
    expect(k.kvmStats()[0]!.mmu.leaves).toEqual([0, 0, 1, 0]);
    expect(k.kvmStats()[0]!.mmu.eagerPromotions).toBe(1);
    expect(k.check()).toEqual([]);
  });
});
