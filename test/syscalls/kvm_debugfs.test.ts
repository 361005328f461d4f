/**
 * KVM's debugfs statistics (virt/kvm/kvm_main.c:kvm_create_vm_debugfs, the
 * descriptor tables of arch/x86/kvm/x86.c in 6.12). Each VM has a directory
 * /sys/kernel/debug/kvm/<pid>-<fd> holding its VM statistics and its vCPU
 * statistics summed over its vCPUs. The top of /sys/kernel/debug/kvm sums
 * every VM.
 */
import { describe, expect, it } from 'vitest';
import { Kernel, SyscallError } from '../../src/index.js';
import * as U from '../../src/uapi/index.js';
import { GUEST_DONE, GUEST_SYNC, kvmHypercall, readU8, writeU8 } from '../../src/kvm/guest.js';

const RW = U.PROT_READ | U.PROT_WRITE;
const MiB = 2 ** 20;
const GPA = 0x100000000;
const DIR = '/sys/kernel/debug/kvm';

function vmWithSlot(k: Kernel) {
  const p = k.spawn();
  const vm = p.ioctl(p.open('/dev/kvm', U.O_RDWR), U.KVM_CREATE_VM, U.KVM_X86_SW_PROTECTED_VM);
  const raw = p.mmap(0, 6 * MiB, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
  const hva = Math.ceil(raw / (2 * MiB)) * 2 * MiB;
  p.ioctl(vm, U.KVM_SET_USER_MEMORY_REGION, { slot: 0, flags: 0, guest_phys_addr: GPA, memory_size: 4 * MiB, userspace_addr: hva });
  return { p, vm, hva, dir: `${DIR}/${p.pid}-${vm}` };
}

const stat = (k: Kernel, path: string) => Number(k.readSysfs(path));

describe('/sys/kernel/debug/kvm', () => {
  it("counts a vCPU's stage-2 faults and exits by kind, and the VM's leaves by size", () => {
    const k = new Kernel({ memory: '256MiB', thp: 'never' });
    const { p, vm, hva, dir } = vmWithSlot(k);
    p.fill(hva, 4096, 1);
    p.ioctl(vm, U.KVM_ENABLE_CAP, { cap: U.KVM_CAP_EXIT_HYPERCALL, flags: 0, args: [1 << U.KVM_HC_MAP_GPA_RANGE, 0, 0, 0] });
    const vcpu = p.ioctl(vm, U.KVM_CREATE_VCPU, 0);
    p.kvm_vcpu_guest(
      vcpu,
      (function* () {
        yield* readU8(GPA);
        yield* readU8(GPA + 4096);
        yield* GUEST_SYNC(0);
        // No memslot at 0: MMIO, emulated by userspace.
        yield* writeU8(0x1000, 7);
        yield* kvmHypercall(U.KVM_HC_MAP_GPA_RANGE, GPA, 1, U.KVM_MAP_GPA_RANGE_ENCRYPTED | U.KVM_MAP_GPA_RANGE_PAGE_SZ_4K);
        yield* GUEST_DONE();
      })(),
    );
    for (let i = 0; i < 4; i++) p.ioctl(vcpu, U.KVM_RUN, 0);
    // The two reads fault and map; the MMIO store faults and goes to the emulator.
    expect(stat(k, `${dir}/pf_taken`)).toBe(3);
    expect(stat(k, `${dir}/pf_fixed`)).toBe(2);
    expect(stat(k, `${dir}/pf_emulate`)).toBe(1);
    expect(stat(k, `${dir}/io_exits`)).toBe(2);
    expect(stat(k, `${dir}/mmio_exits`)).toBe(1);
    expect(stat(k, `${dir}/hypercalls`)).toBe(1);
    // 3 nested page faults, 2 port I/O exits (the ucalls), 1 VMMCALL.
    expect(stat(k, `${dir}/exits`)).toBe(6);
    expect(stat(k, `${dir}/pages_4k`)).toBe(k.kvmStats()[0]!.mmu.leaves[1]);
    expect(stat(k, `${dir}/pages_4k`)).toBe(2);
    expect(stat(k, `${dir}/pages_2m`)).toBe(0);
    // The shadow MMU's counters stay 0 under the TDP MMU.
    expect(stat(k, `${dir}/mmu_cache_miss`)).toBe(0);
    expect(stat(k, `${dir}/remote_tlb_flush`)).toBe(stat(k, `${dir}/remote_tlb_flush_requests`));
    expect(k.check()).toEqual([]);
  });

  it('sums every VM at the top, and a destroyed VM takes its directory with it', () => {
    const k = new Kernel({ memory: '256MiB', thp: 'never' });
    const a = vmWithSlot(k);
    const b = vmWithSlot(k);
    expect(a.dir).not.toBe(b.dir);
    for (const v of [a, b]) {
      const vcpu = v.p.ioctl(v.vm, U.KVM_CREATE_VCPU, 0);
      v.p.kvm_vcpu_guest(
        vcpu,
        (function* () {
          yield* readU8(GPA);
        })(),
      );
      v.p.ioctl(vcpu, U.KVM_RUN, 0);
      expect(stat(k, `${v.dir}/halt_exits`)).toBe(1);
    }
    expect(stat(k, `${DIR}/pf_taken`)).toBe(2);
    expect(stat(k, `${DIR}/halt_exits`)).toBe(2);
    expect(stat(k, `${DIR}/pages_4k`)).toBe(2);
    b.p.exit(0);
    expect(() => k.readSysfs(`${b.dir}/pf_taken`)).toThrow(SyscallError);
    expect(stat(k, `${DIR}/pf_taken`)).toBe(1);
    expect(() => k.readSysfs(`${a.dir}/halt_poll_fail_ns`)).toThrow(/ENOENT/);
  });
});
