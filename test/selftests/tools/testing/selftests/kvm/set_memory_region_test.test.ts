/**
 * Port of tools/testing/selftests/kvm/set_memory_region_test.c as in Linux
 * 6.12 (x86-64), cases in main()'s order:
 *   test_zero_memory_regions, test_invalid_memory_region_flags,
 *   test_add_max_memory_regions, test_add_private_memory_region,
 *   test_add_overlapping_private_memory_regions, then MOVE and DELETE of an
 *   in-use region, 10 loops each, with the slot zap quirk enabled and disabled.
 *
 * Real 6.12 (Debian, `-c kvm`, test/fixtures/linux-6.12/set_memory_region_test.tap,
 * copied from the realkernel results/6.12/) printed no TAP and exited 0: it
 * ran every case but the two guest_memfd ones, which it skipped ("Skipping
 * tests for KVM_MEM_GUEST_MEMFD memory regions": Debian's kernel has no
 * CONFIG_KVM_SW_PROTECTED_VM). The model is built with it and runs them; they
 * are what 6.12's source expects (6.12's bind refuses a guest_memfd range
 * already bound with EEXIST, where later kernels say EINVAL). The last test
 * compares the port's output (the pr_info lines) and exit status with the
 * kernel's, and the 9 cases' verdicts they imply: the two guest_memfd cases
 * are the allowed difference (docs/FIDELITY.md).
 *
 * The vCPU thread is the C program's vcpu_worker, run by the host "thread"
 * where it waits (wait_for_vcpu runs the worker up to its next GUEST_SYNC):
 * one interleaving of the C program's, the one where the guest runs only
 * while the host waits. DELETE's last step (deleting memslot 0 so the guest's
 * code and page tables vanish, expecting KVM_EXIT_SHUTDOWN or an internal
 * error) is not run: the model's guest code does not live in guest memory.
 */
import { describe, expect, it } from 'vitest';
import { Kernel, type Process } from '../../../../../../src/index.js';
import * as U from '../../../../../../src/uapi/index.js';
import { GUEST_ASSERT, GUEST_ASSERT_EQ, GUEST_DONE, GUEST_SYNC, UCALL_ABORT, UCALL_SYNC, readU64 } from '../../../../../../src/kvm/guest.js';
import * as L from './kvm_util.js';
import { TEST_ASSERT, errno } from './kvm_util.js';
import { type Allowed, ProgramLog, expectAgreement } from '../../../../kselftest.js';

/** What the running case has printed (pr_info), in order. */
let printed: string[] = [];
const pr_info = (line: string): void => {
  printed.push(line);
};

const MEM_REGION_SIZE = 0x200000;
const MEM_REGION_GPA = 0xc0000000;
const MEM_REGION_SLOT = 10;
const MMIO_VAL = 0xbeefn;
const EINVAL = 22;
const EEXIST = 17;
const PAGE_SIZE = 4096;

const le64 = (v: bigint) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  return b;
};

function boot(memory = '512MiB'): { k: Kernel; p: Process } {
  const k = new Kernel({ memory });
  return { k, p: k.spawn() };
}

function* guest_spin_on_val(spin_val: bigint) {
  let val: bigint;
  do val = yield* readU64(MEM_REGION_GPA);
  while (val === spin_val);
  yield* GUEST_SYNC(0);
  return val;
}

/**
 * vcpu_worker: run the vCPU, answering MMIO reads of MEM_REGION_GPA with
 * MMIO_VAL; stop at a UCALL_SYNC when untilSync (the sem_post the host waits
 * for), else at the guest's end. Returns the last ucall command.
 */
function vcpu_worker(vcpu: L.KvmVcpu, untilSync: boolean): number {
  const p = vcpu.vm.p;
  const run = p.kvm_run(vcpu.fd);
  let cmd = -1;
  for (;;) {
    L.vcpu_run(vcpu);
    if (run.exit_reason === U.KVM_EXIT_IO) {
      cmd = run.ucall!.cmd;
      if (cmd !== UCALL_SYNC) break;
      if (untilSync) return cmd;
      continue;
    }
    if (run.exit_reason !== U.KVM_EXIT_MMIO) break;
    TEST_ASSERT(!run.mmio.is_write, 'Unexpected exit mmio write');
    TEST_ASSERT(run.mmio.len === 8, `Unexpected exit mmio size = ${run.mmio.len}`);
    TEST_ASSERT(run.mmio.phys_addr === MEM_REGION_GPA, `Unexpected exit mmio address = 0x${run.mmio.phys_addr.toString(16)}`);
    run.mmio.data.set(le64(MMIO_VAL));
  }
  if (run.exit_reason === U.KVM_EXIT_IO && cmd === UCALL_ABORT) throw new Error(`guest assert: ${run.ucall!.message}`);
  return cmd;
}

const wait_for_vcpu = (vcpu: L.KvmVcpu) => TEST_ASSERT(vcpu_worker(vcpu, true) === UCALL_SYNC, 'sem_timedwait() failed');

function spawn_vm(p: Process, guest_code: () => Generator<unknown, unknown, unknown>) {
  const { vm, vcpu } = L.vm_create_with_one_vcpu(p, guest_code);
  L.vm_userspace_mem_region_add(vm, true, MEM_REGION_GPA, MEM_REGION_SLOT, MEM_REGION_SIZE / PAGE_SIZE, 0);
  // Two pages at MEM_REGION_GPA, identity-mapped for the guest and zeroed by the host.
  const hva = L.addr_gpa2hva(vm, MEM_REGION_GPA);
  p.fill(hva, 2 * 4096, 0);
  wait_for_vcpu(vcpu);
  return { vm, vcpu };
}

function* guest_code_move_memory_region() {
  yield* GUEST_SYNC(0);
  let val = yield* guest_spin_on_val(0n);
  yield* GUEST_ASSERT(val === 1n || val === MMIO_VAL, `Expected '1' or MMIO ('${MMIO_VAL}'), got '${val}'`);
  val = yield* guest_spin_on_val(MMIO_VAL);
  yield* GUEST_ASSERT(val === 1n || val === 0n, `Expected '0' or '1' (no MMIO), got '${val}'`);
  val = yield* guest_spin_on_val(0n);
  yield* GUEST_ASSERT(val === 1n || val === MMIO_VAL, `Expected '1' or MMIO ('${MMIO_VAL}'), got '${val}'`);
  val = yield* guest_spin_on_val(MMIO_VAL);
  yield* GUEST_ASSERT_EQ(val, 1n);
  yield* GUEST_DONE();
}

function test_move_memory_region(k: Kernel, p: Process, disable_slot_zap_quirk: boolean): void {
  const { vm, vcpu } = spawn_vm(p, guest_code_move_memory_region);
  if (disable_slot_zap_quirk) L.vm_enable_cap(vm, U.KVM_CAP_DISABLE_QUIRKS2, U.KVM_X86_QUIRK_SLOT_ZAP_ALL);
  const hva = L.addr_gpa2hva(vm, MEM_REGION_GPA);
  // Shift the region's base GPA: the hva->gpa translation is misaligned.
  L.vm_mem_region_move(vm, MEM_REGION_SLOT, MEM_REGION_GPA - 4096);
  p.write(hva, le64(2n));
  p.write(hva, le64(1n));
  // Restore the original base: the guest should see "1".
  L.vm_mem_region_move(vm, MEM_REGION_SLOT, MEM_REGION_GPA);
  wait_for_vcpu(vcpu);
  wait_for_vcpu(vcpu);
  // pthread_join
  TEST_ASSERT(vcpu_worker(vcpu, false) === 4, 'the guest did not finish');
  expect(k.check()).toEqual([]);
  L.kvm_vm_free(vm);
}

function* guest_code_delete_memory_region() {
  // lidt of a zeroed IDT: nothing to model (the guest takes no #PF here).
  yield* GUEST_SYNC(0);
  let val = yield* guest_spin_on_val(0n);
  yield* GUEST_ASSERT_EQ(val, MMIO_VAL);
  val = yield* guest_spin_on_val(MMIO_VAL);
  yield* GUEST_ASSERT_EQ(val, 0n);
  val = yield* guest_spin_on_val(0n);
  yield* GUEST_ASSERT_EQ(val, MMIO_VAL);
  yield* guest_spin_on_val(MMIO_VAL);
  yield* GUEST_ASSERT(false);
}

function test_delete_memory_region(k: Kernel, p: Process, disable_slot_zap_quirk: boolean): void {
  const { vm, vcpu } = spawn_vm(p, guest_code_delete_memory_region);
  if (disable_slot_zap_quirk) L.vm_enable_cap(vm, U.KVM_CAP_DISABLE_QUIRKS2, U.KVM_X86_QUIRK_SLOT_ZAP_ALL);
  // Delete the memory region, the guest should not die.
  L.vm_mem_region_delete(vm, MEM_REGION_SLOT);
  wait_for_vcpu(vcpu);
  // Recreate the memory region.  The guest should see "0".
  L.vm_userspace_mem_region_add(vm, true, MEM_REGION_GPA, MEM_REGION_SLOT, MEM_REGION_SIZE / PAGE_SIZE, 0);
  wait_for_vcpu(vcpu);
  // Delete the region again so that there's only one memslot left.
  L.vm_mem_region_delete(vm, MEM_REGION_SLOT);
  wait_for_vcpu(vcpu);
  // (Deleting memslot 0 to kill the guest is not modelled; see the header.)
  expect(k.check()).toEqual([]);
  L.kvm_vm_free(vm);
}

function test_zero_memory_regions(p: Process): void {
  pr_info('Testing KVM_RUN with zero added memory regions');
  const vm = L.vm_create_barebones(p);
  const vcpu = L.__vm_vcpu_add(vm, 0);
  p.ioctl(vm.fd, U.KVM_SET_NR_MMU_PAGES, 64);
  L.vcpu_run(vcpu);
  TEST_ASSERT(p.kvm_run(vcpu.fd).exit_reason === U.KVM_EXIT_INTERNAL_ERROR, 'Unexpected exit reason');
  L.kvm_vm_free(vm);
}

function test_invalid_memory_region_flags(p: Process): void {
  let supported_flags = U.KVM_MEM_LOG_DIRTY_PAGES | U.KVM_MEM_READONLY;
  const v2_only_flags = U.KVM_MEM_GUEST_MEMFD;
  const vm = L.kvm_check_cap(p, U.KVM_CAP_VM_TYPES) & (1 << U.KVM_X86_SW_PROTECTED_VM) ? L.vm_create_barebones_type(p, U.KVM_X86_SW_PROTECTED_VM) : L.vm_create_barebones(p);
  if (L.kvm_check_cap(p, U.KVM_CAP_MEMORY_ATTRIBUTES) & U.KVM_MEMORY_ATTRIBUTE_PRIVATE) supported_flags |= U.KVM_MEM_GUEST_MEMFD;
  for (let i = 0; i < 32; i++) {
    const bit = (1 << i) >>> 0;
    if (supported_flags & bit && !(v2_only_flags & bit)) continue;
    let r = L.__vm_set_user_memory_region(vm, 0, bit, 0, MEM_REGION_SIZE, 0);
    TEST_ASSERT(r !== 0 && errno === EINVAL, `KVM_SET_USER_MEMORY_REGION should have failed on v2 only flag 0x${bit.toString(16)}`);
    if (supported_flags & bit) continue;
    r = L.__vm_set_user_memory_region2(vm, 0, bit, 0, MEM_REGION_SIZE, 0, 0, 0);
    TEST_ASSERT(r !== 0 && errno === EINVAL, `KVM_SET_USER_MEMORY_REGION2 should have failed on unsupported flag 0x${bit.toString(16)}`);
  }
  if (supported_flags & U.KVM_MEM_GUEST_MEMFD) {
    const guest_memfd = L.vm_create_guest_memfd(vm, MEM_REGION_SIZE, 0);
    let r = L.__vm_set_user_memory_region2(vm, 0, U.KVM_MEM_LOG_DIRTY_PAGES | U.KVM_MEM_GUEST_MEMFD, 0, MEM_REGION_SIZE, 0, guest_memfd, 0);
    TEST_ASSERT(r !== 0 && errno === EINVAL, 'KVM_SET_USER_MEMORY_REGION2 should have failed, dirty logging private memory is unsupported');
    r = L.__vm_set_user_memory_region2(vm, 0, U.KVM_MEM_READONLY | U.KVM_MEM_GUEST_MEMFD, 0, MEM_REGION_SIZE, 0, guest_memfd, 0);
    TEST_ASSERT(r !== 0 && errno === EINVAL, 'KVM_SET_USER_MEMORY_REGION2 should have failed, read-only GUEST_MEMFD memslots are unsupported');
    p.close(guest_memfd);
  }
  L.kvm_vm_free(vm);
}

function test_add_max_memory_regions(p: Process): void {
  const max_mem_slots = L.kvm_check_cap(p, U.KVM_CAP_NR_MEMSLOTS);
  TEST_ASSERT(max_mem_slots > 0, 'KVM_CAP_NR_MEMSLOTS should be greater than 0');
  pr_info(`Allowed number of memory slots: ${max_mem_slots}`);
  const vm = L.vm_create_barebones(p);
  pr_info(`Adding slots 0..${max_mem_slots - 1}, each memory region with ${MEM_REGION_SIZE >> 10}K size`);
  const mem = p.mmap(0, max_mem_slots * MEM_REGION_SIZE + 1, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_NORESERVE, -1, 0);
  for (let slot = 0; slot < max_mem_slots; slot++) L.vm_set_user_memory_region(vm, slot, 0, slot * MEM_REGION_SIZE, MEM_REGION_SIZE, mem + slot * MEM_REGION_SIZE);
  const mem_extra = p.mmap(0, MEM_REGION_SIZE, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
  const ret = L.__vm_set_user_memory_region(vm, max_mem_slots, 0, max_mem_slots * MEM_REGION_SIZE, MEM_REGION_SIZE, mem_extra);
  TEST_ASSERT(ret === -1 && errno === EINVAL, 'Adding one more memory slot should fail with EINVAL');
  p.munmap(mem, max_mem_slots * MEM_REGION_SIZE + 1);
  p.munmap(mem_extra, MEM_REGION_SIZE);
  L.kvm_vm_free(vm);
}

function test_invalid_guest_memfd(vm: L.KvmVm, memfd: number, offset: number, msg: string): void {
  const r = L.__vm_set_user_memory_region2(vm, MEM_REGION_SLOT, U.KVM_MEM_GUEST_MEMFD, MEM_REGION_GPA, MEM_REGION_SIZE, 0, memfd, offset);
  TEST_ASSERT(r === -1 && errno === EINVAL, msg);
}

function test_add_private_memory_region(p: Process): void {
  pr_info('Testing ADD of KVM_MEM_GUEST_MEMFD memory regions');
  const vm = L.vm_create_barebones_type(p, U.KVM_X86_SW_PROTECTED_VM);
  test_invalid_guest_memfd(vm, vm.kvm_fd, 0, 'KVM fd should fail');
  test_invalid_guest_memfd(vm, vm.fd, 0, "VM's fd should fail");
  let memfd = L.kvm_memfd_alloc(p, MEM_REGION_SIZE);
  test_invalid_guest_memfd(vm, memfd, 0, 'Regular memfd() should fail');
  p.close(memfd);
  const vm2 = L.vm_create_barebones_type(p, U.KVM_X86_SW_PROTECTED_VM);
  memfd = L.vm_create_guest_memfd(vm2, MEM_REGION_SIZE, 0);
  test_invalid_guest_memfd(vm, memfd, 0, "Other VM's guest_memfd() should fail");
  L.vm_set_user_memory_region2(vm2, MEM_REGION_SLOT, U.KVM_MEM_GUEST_MEMFD, MEM_REGION_GPA, MEM_REGION_SIZE, 0, memfd, 0);
  p.close(memfd);
  L.kvm_vm_free(vm2);
  memfd = L.vm_create_guest_memfd(vm, MEM_REGION_SIZE, 0);
  for (let i = 1; i < PAGE_SIZE; i++) test_invalid_guest_memfd(vm, memfd, i, 'Unaligned offset should fail');
  L.vm_set_user_memory_region2(vm, MEM_REGION_SLOT, U.KVM_MEM_GUEST_MEMFD, MEM_REGION_GPA, MEM_REGION_SIZE, 0, memfd, 0);
  p.close(memfd);
  L.kvm_vm_free(vm);
}

function test_add_overlapping_private_memory_regions(p: Process): void {
  pr_info('Testing ADD of overlapping KVM_MEM_GUEST_MEMFD memory regions');
  const vm = L.vm_create_barebones_type(p, U.KVM_X86_SW_PROTECTED_VM);
  const memfd = L.vm_create_guest_memfd(vm, MEM_REGION_SIZE * 4, 0);
  L.vm_set_user_memory_region2(vm, MEM_REGION_SLOT, U.KVM_MEM_GUEST_MEMFD, MEM_REGION_GPA, MEM_REGION_SIZE * 2, 0, memfd, 0);
  L.vm_set_user_memory_region2(vm, MEM_REGION_SLOT + 1, U.KVM_MEM_GUEST_MEMFD, MEM_REGION_GPA * 2, MEM_REGION_SIZE * 2, 0, memfd, MEM_REGION_SIZE * 2);
  // Delete the first memslot, and then attempt to recreate it except with a "bad" offset that results in overlap in the guest_memfd().
  L.vm_set_user_memory_region2(vm, MEM_REGION_SLOT, U.KVM_MEM_GUEST_MEMFD, MEM_REGION_GPA, 0, 0, -1, 0);
  // Overlap the front half of the other slot.
  let r = L.__vm_set_user_memory_region2(vm, MEM_REGION_SLOT, U.KVM_MEM_GUEST_MEMFD, MEM_REGION_GPA * 2 - MEM_REGION_SIZE, MEM_REGION_SIZE * 2, 0, memfd, 0);
  TEST_ASSERT(r === -1 && errno === EEXIST, 'Overlapping guest_memfd() bindings should fail with EEXIST');
  // And now the back half of the other slot.
  r = L.__vm_set_user_memory_region2(vm, MEM_REGION_SLOT, U.KVM_MEM_GUEST_MEMFD, MEM_REGION_GPA * 2 + MEM_REGION_SIZE, MEM_REGION_SIZE * 2, 0, memfd, 0);
  TEST_ASSERT(r === -1 && errno === EEXIST, 'Overlapping guest_memfd() bindings should fail with EEXIST');
  p.close(memfd);
  L.kvm_vm_free(vm);
}

const SKIP_GMEM = 'Skipping tests for KVM_MEM_GUEST_MEMFD memory regions';
const loopsLine = (op: string, quirkDisabled: boolean) => `Testing ${op} of in-use region, 10 loops, slot zap quirk ${quirkDisabled ? 'disabled' : 'enabled'}`;

/** main()'s cases, in its order (x86-64, KVM_X86_QUIRK_SLOT_ZAP_ALL supported: both quirk settings). */
const log = new ProgramLog(
  'set_memory_region_test',
  [
    { name: 'test_zero_memory_regions' },
    { name: 'test_invalid_memory_region_flags' },
    { name: 'test_add_max_memory_regions' },
    { name: 'test_add_private_memory_region', skipLine: SKIP_GMEM },
    { name: 'test_add_overlapping_private_memory_regions', skipLine: SKIP_GMEM },
    ...[false, true].flatMap((q) => [{ name: loopsLine('MOVE', q) }, { name: loopsLine('DELETE', q) }]),
  ],
  ['Random seed: 0x6b8b4567'],
);

/** The differences docs/FIDELITY.md explains. */
const ALLOWED: readonly Allowed[] = [
  {
    match: (k) => k.verdict === 'skip' && k.msg === SKIP_GMEM,
    model: 'pass',
    why: "runs here: Debian's 6.12 has no CONFIG_KVM_SW_PROTECTED_VM, the model has",
  },
];

describe('set_memory_region_test.c', () => {
  const kase = (name: string, body: (k: Kernel, p: Process) => void, memory?: string) =>
    it(name, () => {
      const { k, p } = boot(memory);
      printed = [];
      try {
        body(k, p);
      } catch (e) {
        log.record(name, printed, false);
        throw e;
      }
      log.record(name, printed, true);
      expect(k.check()).toEqual([]);
    });

  kase('test_zero_memory_regions', (_k, p) => test_zero_memory_regions(p));
  kase('test_invalid_memory_region_flags', (_k, p) => test_invalid_memory_region_flags(p));
  kase('test_add_max_memory_regions', (_k, p) => test_add_max_memory_regions(p));
  kase('test_add_private_memory_region', (_k, p) => test_add_private_memory_region(p));
  kase('test_add_overlapping_private_memory_regions', (_k, p) => test_add_overlapping_private_memory_regions(p));
  for (const quirk of [false, true]) {
    kase(loopsLine('MOVE', quirk), (k, p) => {
      pr_info(loopsLine('MOVE', quirk));
      for (let i = 0; i < 10; i++) test_move_memory_region(k, p, quirk);
    });
    kase(loopsLine('DELETE', quirk), (k, p) => {
      pr_info(loopsLine('DELETE', quirk));
      for (let i = 0; i < 10; i++) test_delete_memory_region(k, p, quirk);
    });
  }

  it('agrees with real Linux 6.12: its output and exit status but for the guest_memfd cases it skipped', (ctx) => {
    if (!log.complete()) ctx.skip('not every case ran (a filtered run)');
    log.writeIfAsked();
    const { model, kernel, agreement: a } = log.compare('set_memory_region_test.tap', ALLOWED);
    expect(model.status).toBe(kernel.status);
    // The kernel's one skip line stands where the model prints the two cases' own lines.
    const gmemLines = ['Testing ADD of KVM_MEM_GUEST_MEMFD memory regions', 'Testing ADD of overlapping KVM_MEM_GUEST_MEMFD memory regions'];
    expect(model.out).toEqual(kernel.out.flatMap((l) => (l === SKIP_GMEM ? gmemLines : [l])));
    expectAgreement(a);
    expect(a.agree).toBe(7);
    expect(a.allowed[ALLOWED[0]!.why]).toBe(2);
  });
});
