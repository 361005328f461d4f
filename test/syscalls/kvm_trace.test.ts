/**
 * KVM's tracepoints as `foliosim trace` prints them, in 6.12's formats:
 * kvm_page_fault (arch/x86/kvm/trace.h, traced by svm.c:npf_interception with
 * the nested page fault's error code), kvm_mmu_spte_requested
 * (arch/x86/kvm/mmu/mmutrace.h, the level the fault maps at) and
 * kvm_userspace_exit (include/trace/events/kvm.h, each KVM_RUN's return).
 */
import { describe, expect, it } from 'vitest';
import { Kernel } from '../../src/index.js';
import * as U from '../../src/uapi/index.js';
import { GUEST_DONE, GUEST_SYNC, readU8, writeU8 } from '../../src/kvm/guest.js';
import { kvmUserspaceExitFields } from '../../src/kvm/vcpu.js';

const RW = U.PROT_READ | U.PROT_WRITE;
const MiB = 2 ** 20;
const GPA = 0x100000000;

/** A VM of type with 4 MiB of THP-less anonymous memory at GPA, and the trace lines its host prints. */
function tracedVm(type: number) {
  // SNP-like VMs come with the mainline guest_memfd uAPI.
  const k = new Kernel({ memory: '256MiB', thp: 'never', ...(type === U.KVM_X86_SNP_VM ? { kvm: { guestMemfd: 'mainline' as const } } : {}) });
  const p = k.spawn();
  const vm = p.ioctl(p.open('/dev/kvm', U.O_RDWR), U.KVM_CREATE_VM, type);
  const raw = p.mmap(0, 6 * MiB, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
  const hva = Math.ceil(raw / (2 * MiB)) * 2 * MiB;
  const lines: string[] = [];
  k.host.trace = (event, fields) => {
    if (event.startsWith('kvm_')) lines.push(`${event}: ${fields}`);
  };
  return { k, p, vm, hva, lines };
}

describe('KVM tracepoints', () => {
  it('a read and a write fault print the NPF error code, the requested leaf, and each KVM_RUN exit', () => {
    const { k, p, vm, hva, lines } = tracedVm(U.KVM_X86_DEFAULT_VM);
    p.ioctl(vm, U.KVM_SET_USER_MEMORY_REGION, { slot: 0, flags: 0, guest_phys_addr: GPA, memory_size: 4 * MiB, userspace_addr: hva });
    p.fill(hva + 4096, 4096, 7);
    const vcpu = p.ioctl(vm, U.KVM_CREATE_VCPU, 3);
    p.kvm_vcpu_guest(
      vcpu,
      (function* () {
        yield* readU8(GPA + 4096 + 5);
        yield* GUEST_SYNC(0);
        yield* writeU8(GPA + 2 * 4096, 1);
        yield* GUEST_DONE();
      })(),
    );
    p.ioctl(vcpu, U.KVM_RUN, 0);
    const pfn = p.pagemap(hva + 4096).pfn;
    expect(lines).toEqual([
      // Not present (no P), read, user, final GPA.
      `kvm_page_fault: vcpu 3 rip 0x0 address 0x${(GPA + 4096 + 5).toString(16).padStart(16, '0')} error_code 0x100000004`,
      `kvm_mmu_spte_requested: gfn ${(GPA / 4096 + 1).toString(16)} pfn ${pfn.toString(16)} level 1`,
      'kvm_userspace_exit: reason KVM_EXIT_IO (2)',
    ]);
    lines.length = 0;
    p.ioctl(vcpu, U.KVM_RUN, 0);
    p.ioctl(vcpu, U.KVM_RUN, 0);
    expect(lines[0]).toBe(`kvm_page_fault: vcpu 3 rip 0x0 address 0x${(GPA + 2 * 4096).toString(16).padStart(16, '0')} error_code 0x100000006`);
    expect(lines[1]).toMatch(/^kvm_mmu_spte_requested: gfn 100002 pfn [0-9a-f]+ level 1$/);
    expect(lines.slice(2)).toEqual(['kvm_userspace_exit: reason KVM_EXIT_IO (2)', 'kvm_userspace_exit: reason KVM_EXIT_HLT (5)']);
    expect(k.check()).toEqual([]);
  });

  it('a write to a page a read mapped read-only faults with P set; a private access of an SNP VM carries GUEST_ENC and PRIVATE_ACCESS', () => {
    const { p, vm, hva, lines } = tracedVm(U.KVM_X86_DEFAULT_VM);
    p.ioctl(vm, U.KVM_SET_USER_MEMORY_REGION, { slot: 0, flags: U.KVM_MEM_READONLY, guest_phys_addr: GPA, memory_size: 4 * MiB, userspace_addr: hva });
    p.fill(hva, 4096, 1);
    const vcpu = p.ioctl(vm, U.KVM_CREATE_VCPU, 0);
    p.kvm_vcpu_guest(
      vcpu,
      (function* () {
        yield* readU8(GPA);
        yield* writeU8(GPA, 2);
      })(),
    );
    p.ioctl(vcpu, U.KVM_RUN, 0);
    // The read maps the page; the write to the read-only slot finds the leaf present (P) and exits as MMIO.
    expect(lines.filter((l) => l.startsWith('kvm_page_fault')).map((l) => l.slice(l.lastIndexOf(' ') + 1))).toEqual(['0x100000004', '0x100000007']);
    expect(lines.at(-1)).toBe('kvm_userspace_exit: reason KVM_EXIT_MMIO (6)');

    const snp = tracedVm(U.KVM_X86_SNP_VM);
    const size = 4 * MiB;
    const gmem = snp.p.ioctl(snp.vm, U.KVM_CREATE_GUEST_MEMFD, { size, flags: 0 });
    snp.p.ioctl(snp.vm, U.KVM_SET_USER_MEMORY_REGION2, { slot: 0, flags: U.KVM_MEM_GUEST_MEMFD, guest_phys_addr: GPA, memory_size: size, userspace_addr: snp.hva, guest_memfd: gmem, guest_memfd_offset: 0 });
    snp.p.ioctl(snp.vm, U.KVM_SET_MEMORY_ATTRIBUTES, { address: GPA, size: 4096, attributes: U.KVM_MEMORY_ATTRIBUTE_PRIVATE, flags: 0 });
    const v = snp.p.ioctl(snp.vm, U.KVM_CREATE_VCPU, 0);
    snp.p.kvm_vcpu_guest(
      v,
      (function* () {
        yield* readU8(GPA);
        yield* GUEST_DONE();
      })(),
    );
    snp.p.ioctl(v, U.KVM_RUN, 0);
    expect(snp.lines[0]).toMatch(/ error_code 0x2000500000004$/);
  });

  it('a failed KVM_RUN prints "error" and the errno, EINTR "restart", and a reason the list does not name in hex', () => {
    expect(kvmUserspaceExitFields(U.KVM_EXIT_MEMORY_FAULT, 'EFAULT')).toBe('reason error (14)');
    expect(kvmUserspaceExitFields(10, 'EINTR')).toBe('reason restart (4)');
    expect(kvmUserspaceExitFields(U.KVM_EXIT_MEMORY_FAULT, 0)).toBe('reason 0x27 (39)');
    expect(kvmUserspaceExitFields(U.KVM_EXIT_HYPERCALL, 0)).toBe('reason KVM_EXIT_HYPERCALL (3)');
  });
});
