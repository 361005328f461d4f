/**
 * Fine-grained conversion without exits (issue 8 section 6, seed 001): a
 * pKVM-like protected guest shares and unshares single pages by hypercall;
 * the kernel converts them in the guest_memfd (in place) without an exit to
 * the VMM, and the contents are preserved. Beside it, the alternative of
 * seed 002 for pKVM/Gunyah on shmem: the VMM donates pages with exclusive
 * long-term pins (policy exclusivePin), and sharing is unexc/re-pin.
 */
import { describe, expect, it } from 'vitest';
import { Kernel } from '../../src/index.js';
import * as U from '../../src/uapi/index.js';
import { FOLL_EXCLUSIVE, FOLL_LONGTERM, FOLL_WRITE } from '../../src/kernel_gup.js';
import { GUEST_DONE, GUEST_SYNC, type GuestCode, kvmHypercall, readU8, writeU8 } from '../../src/kvm/guest.js';
import { signalOf } from '../support/errno.js';

const RW = U.PROT_READ | U.PROT_WRITE;
const PAGE = 4096;
const GPA = 0x100000000;
const SIZE = 64 * PAGE;
const SHARE = U.ARM_SMCCC_VENDOR_HYP_KVM_MEM_SHARE_FUNC_ID;
const UNSHARE = U.ARM_SMCCC_VENDOR_HYP_KVM_MEM_UNSHARE_FUNC_ID;
const EAGAIN = 11;

type Opts = ConstructorParameters<typeof Kernel>[0];
const INPLACE: Opts = { memory: '128MiB', kvm: { guestMemfd: 'mainline', inPlaceConversion: true } };

/** A VM of type with a private guest_memfd-only slot of SIZE at GPA, mapped by the VMM; one vCPU running code. */
function pkvm(code: () => GuestCode, opts: Opts = INPLACE, type = U.KVM_VM_TYPE_PKVM_LIKE) {
  const k = new Kernel(opts);
  const p = k.spawn();
  const vm = p.ioctl(p.open('/dev/kvm', U.O_RDWR), U.KVM_CREATE_VM, type);
  const fd = p.ioctl(vm, U.KVM_CREATE_GUEST_MEMFD, { size: SIZE, flags: U.GUEST_MEMFD_FLAG_MMAP });
  p.ioctl(vm, U.KVM_SET_USER_MEMORY_REGION2, { slot: 1, flags: U.KVM_MEM_GUEST_MEMFD, guest_phys_addr: GPA, memory_size: SIZE, userspace_addr: 0, guest_memfd: fd, guest_memfd_offset: 0 });
  const m = p.mmap(0, SIZE, RW, U.MAP_SHARED, fd, 0);
  const cpu = p.ioctl(vm, U.KVM_CREATE_VCPU, 0);
  p.kvm_vcpu_guest(cpu, code());
  const run = () => {
    expect(p.ioctl(cpu, U.KVM_RUN, 0)).toBe(0);
    return p.kvm_run(cpu);
  };
  return { k, p, vm, fd, m, run };
}

describe('pKVM-like protected VM: MEM_SHARE / MEM_UNSHARE of single pages, in the kernel', () => {
  it('share, host reads and answers, unshare: no exit for either call, contents preserved both ways', () => {
    const rets: number[] = [];
    const seen: number[] = [];
    const { k, p, m, run } = pkvm(function* () {
      yield* writeU8(GPA + 3 * PAGE, 0x11);
      rets.push(yield* kvmHypercall(SHARE, GPA + 3 * PAGE));
      // The guest reads its own data through the shared page, then asks the host for an answer.
      seen.push(yield* readU8(GPA + 3 * PAGE));
      yield* GUEST_SYNC(1);
      seen.push(yield* readU8(GPA + 3 * PAGE + 1));
      rets.push(yield* kvmHypercall(UNSHARE, GPA + 3 * PAGE));
      // Private again: still the host's answer and the guest's byte.
      seen.push(yield* readU8(GPA + 3 * PAGE), yield* readU8(GPA + 3 * PAGE + 1));
      yield* GUEST_DONE();
    });
    const exits0 = k.events().vm_exit ?? 0;
    // A private page is not the host's.
    expect(signalOf(() => p.read(m + 3 * PAGE, 1))).toBe('SIGBUS');
    expect(run().ucall?.cmd).toBe(1);
    expect(p.read(m + 3 * PAGE, 1)[0]).toBe(0x11);
    p.write(m + 3 * PAGE + 1, Uint8Array.of(0x22));
    expect(k.check()).toEqual([]);
    expect(run().ucall?.cmd).toBe(4);
    expect(rets).toEqual([U.SMCCC_RET_SUCCESS, U.SMCCC_RET_SUCCESS]);
    expect(seen).toEqual([0x11, 0x22, 0x11, 0x22]);
    // Two exits, both ucalls: the conversions themselves never left the kernel.
    expect((k.events().vm_exit ?? 0) - exits0).toBe(2);
    expect(k.kvmStats()[0]!.pkvm).toEqual({ shares: 1, unshares: 1, refused: 0 });
    // The unshare unmapped the host's view.
    expect(signalOf(() => p.read(m + 3 * PAGE, 1))).toBe('SIGBUS');
    expect(k.check()).toEqual([]);
  });

  it('an unshare while the host holds a pin on the page is refused (-EAGAIN); after the unpin it succeeds', () => {
    const rets: number[] = [];
    const { k, p, m, run } = pkvm(function* () {
      rets.push(yield* kvmHypercall(SHARE, GPA));
      yield* GUEST_SYNC(1);
      rets.push(yield* kvmHypercall(UNSHARE, GPA));
      yield* GUEST_SYNC(2);
      rets.push(yield* kvmHypercall(UNSHARE, GPA));
      yield* GUEST_DONE();
    });
    run();
    // The VMM's I/O pins the shared page (O_DIRECT-like, short-term).
    const pages: number[] = [];
    expect(k.gup.pin_user_pages(p, m, 1, FOLL_WRITE, pages)).toBe(1);
    run();
    k.gup.unpin_user_page(pages[0]!);
    run();
    expect(rets).toEqual([U.SMCCC_RET_SUCCESS, -EAGAIN, U.SMCCC_RET_SUCCESS]);
    expect(k.kvmStats()[0]!.pkvm).toEqual({ shares: 1, unshares: 1, refused: 1 });
    expect(k.check()).toEqual([]);
  });

  it('argument and state errors: misaligned, no memslot, already in that state; NOT_SUPPORTED without in-place conversion; other VM types get -KVM_ENOSYS', () => {
    const rets: number[] = [];
    const code = function* () {
      rets.push(yield* kvmHypercall(SHARE, GPA + 1));
      rets.push(yield* kvmHypercall(SHARE, GPA + SIZE));
      rets.push(yield* kvmHypercall(UNSHARE, GPA));
      yield* GUEST_DONE();
    };
    pkvm(code).run();
    expect(rets).toEqual([U.SMCCC_RET_INVALID_PARAMETER, U.SMCCC_RET_INVALID_PARAMETER, U.SMCCC_RET_INVALID_PARAMETER]);
    rets.length = 0;
    pkvm(code, { memory: '128MiB', kvm: { guestMemfd: 'mainline' } }).run();
    expect(rets).toEqual([U.SMCCC_RET_NOT_SUPPORTED, U.SMCCC_RET_NOT_SUPPORTED, U.SMCCC_RET_NOT_SUPPORTED]);
    rets.length = 0;
    pkvm(code, INPLACE, U.KVM_X86_SW_PROTECTED_VM).run();
    expect(rets).toEqual([-U.KVM_ENOSYS, -U.KVM_ENOSYS, -U.KVM_ENOSYS]);
  });
});

describe('the pKVM/Gunyah alternative on shmem: exclusive pins (seed 002), beside guest_memfd', () => {
  it('donate with FOLL_EXCLUSIVE, share by unexc, unshare by re-pinning exclusively: refused while host I/O pins the page; contents stay', () => {
    const k = new Kernel({ memory: '128MiB', policy: { exclusivePin: 'field' } });
    const p = k.spawn();
    const fd = p.memfd_create('guest', 0);
    p.ftruncate(fd, SIZE);
    const a = p.mmap(0, SIZE, RW, U.MAP_SHARED, fd, 0);
    p.write(a, Uint8Array.of(0x11));
    const EXC = FOLL_WRITE | FOLL_LONGTERM | FOLL_EXCLUSIVE;
    const pages: number[] = [];
    // The hypervisor donates the page to the guest.
    expect(k.gup.pin_user_pages(p, a, 1, EXC, pages)).toBe(1);
    const pfn = pages[0]!;
    // Host I/O cannot pin a donated page; FOLL_GET and CPU access still work (the hypervisor's stage 2 would stop those).
    expect(k.gup.pin_user_pages(p, a, 1, FOLL_WRITE, [])).toBe(-16);
    expect(p.read(a, 1)[0]).toBe(0x11);
    // Share: the exclusive pin becomes a normal one; host I/O may pin now.
    expect(k.gup.unexc_user_page(pfn)).toBe(0);
    const io: number[] = [];
    expect(k.gup.pin_user_pages(p, a, 1, FOLL_WRITE, io)).toBe(1);
    p.write(a + 1, Uint8Array.of(0x22));
    // Unshare: drop the normal pin, pin exclusively again: -EBUSY while the I/O pin is in.
    k.gup.unpin_user_page(pfn);
    expect(k.gup.pin_user_pages(p, a, 1, EXC, [])).toBe(-16);
    k.gup.unpin_user_page(io[0]!);
    expect(k.gup.pin_user_pages(p, a, 1, EXC, [])).toBe(1);
    // The same page throughout: contents preserved, as with guest_memfd's in-place conversion.
    expect(p.pagemap(a).pfn).toBe(pfn);
    expect([...p.read(a, 2)]).toEqual([0x11, 0x22]);
    expect(k.check()).toEqual([]);
    k.gup.unpin_exc_pages([pfn], 1);
    expect(k.check()).toEqual([]);
  });
});
