/**
 * Port of tools/testing/selftests/kvm/x86/guest_memfd_conversions_test.c of
 * the in-place conversion series v8 (guest_memfd.md section 4.5; the
 * kselftest harness's fixture `gmem_conversions`), on a kernel with
 * `kvm: { guestMemfd: 'mainline', inPlaceConversion: true }`.
 *
 * Fixture: a SW_PROTECTED VM with one vCPU, a guest_memfd created with
 * GUEST_MEMFD_FLAG_MMAP (plus INIT_SHARED where the case says so) bound to
 * slot 1 at GPA 4 GiB, mapped MAP_SHARED by the host; conversions are
 * KVM_SET_MEMORY_ATTRIBUTES2 on the guest_memfd. The C guest runs a loop
 * that reads an expected byte and writes a new one at the page the host
 * names (guest_do_rmw); here the host hands it the same request through
 * GUEST_SYNC. The guest's addresses are GPAs (the C test maps GVA
 * 0x90000000 onto them). Each case's name is the kernel's.
 *
 * Not run: convert_to_private_does_not_support_zero, a case of an earlier
 * revision (its content-mode flags, KVM_SET_MEMORY_ATTRIBUTES2_ZERO, were
 * dropped by v8). The 1 GiB series RFC v2's HugeTLB, truncation, subfolio
 * and accounting cases belong to the RFC's own, older version of this
 * program (tools/testing/selftests/kvm/guest_memfd_conversions_test.c):
 * ../guest_memfd_conversions_test.rfc-v2.test.ts runs them, and
 * ../guest_memfd_hugetlb_reporting_test.test.ts the accounting test.
 */
import { describe, expect, it } from 'vitest';
import { Kernel, type Process } from '../../../../../../../src/index.js';
import * as U from '../../../../../../../src/uapi/index.js';
import { GUEST_ASSERT_EQ, GUEST_SYNC, UCALL_ABORT, UCALL_SYNC, readU8, writeU8 } from '../../../../../../../src/kvm/guest.js';
import * as L from '../kvm_util.js';
import { TEST_ASSERT, errno } from '../kvm_util.js';

const PAGE = 4096;
const GMEM_GPA = 4 * 2 ** 30;
const GMEM_SLOT = 1;
const EAGAIN = 11;
const PRIVATE = U.KVM_MEMORY_ATTRIBUTE_PRIVATE;

interface Rmw {
  gpa: number;
  expected: number;
  write: number;
}

/** FIXTURE(gmem_conversions): the VM, its vCPU, the guest_memfd and the host's mapping of it. */
interface Fixture {
  k: Kernel;
  p: Process;
  vm: L.KvmVm;
  vcpu: L.KvmVcpu;
  gmem_fd: number;
  mem: number;
  nr_pages: number;
  /** The requests the guest loop takes, one per GUEST_SYNC round trip. */
  requests: Rmw[];
}

/** The guest: forever, take the host's request, check the byte, write the new one, report. */
function* guest_code(requests: Rmw[]) {
  for (;;) {
    const r = requests.shift();
    if (r === undefined) {
      yield* GUEST_SYNC(0);
      continue;
    }
    const v = yield* readU8(r.gpa);
    yield* GUEST_ASSERT_EQ(v, r.expected);
    yield* writeU8(r.gpa, r.write);
    yield* GUEST_SYNC(1);
  }
}

function setup(nr_pages: number, init_shared: boolean): Fixture {
  const k = new Kernel({ memory: '128MiB', kvm: { guestMemfd: 'mainline', inPlaceConversion: true } });
  const p = k.spawn();
  TEST_ASSERT((L.kvm_check_cap(p, U.KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES) & PRIVATE) !== 0, 'TEST_REQUIRE: KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES');
  const requests: Rmw[] = [];
  const { vm, vcpu } = L.vm_create_with_one_vcpu(p, () => guest_code(requests), U.KVM_X86_SW_PROTECTED_VM);
  const size = nr_pages * PAGE;
  const flags = U.GUEST_MEMFD_FLAG_MMAP | (init_shared ? U.GUEST_MEMFD_FLAG_INIT_SHARED : 0n);
  const gmem_fd = L.vm_create_guest_memfd(vm, size, flags);
  const mem = p.mmap(0, size, U.PROT_READ | U.PROT_WRITE, U.MAP_SHARED, gmem_fd, 0);
  L.vm_set_user_memory_region2(vm, GMEM_SLOT, U.KVM_MEM_GUEST_MEMFD, GMEM_GPA, size, mem, gmem_fd, 0);
  return { k, p, vm, vcpu, gmem_fd, mem, nr_pages, requests };
}

function teardown(t: Fixture): void {
  expect(t.k.check()).toEqual([]);
  t.p.munmap(t.mem, t.nr_pages * PAGE);
  t.p.close(t.gmem_fd);
  L.kvm_vm_free(t.vm);
  expect(t.k.check()).toEqual([]);
}

function guest_do_rmw(t: Fixture, page: number, expected: number, write: number): void {
  t.requests.push({ gpa: GMEM_GPA + page * PAGE, expected, write });
  L.vcpu_run(t.vcpu);
  const uc = t.p.kvm_run(t.vcpu.fd).ucall;
  TEST_ASSERT(uc !== null && uc.cmd !== UCALL_ABORT, `guest: ${uc?.message ?? 'no ucall'} (page ${page})`);
  TEST_ASSERT(uc.cmd === UCALL_SYNC && uc.args[0] === 1, `unexpected ucall ${JSON.stringify(uc)}`);
}

function host_do_rmw(t: Fixture, page: number, expected: number, write: number): void {
  const addr = t.mem + page * PAGE;
  TEST_ASSERT(t.p.read(addr, 1)[0] === expected, `host: page ${page} reads ${t.p.read(addr, 1)[0]}, expected ${expected}`);
  t.p.write(addr, Uint8Array.of(write));
}

/** test_private: the host cannot touch the page (SIGBUS both ways), the guest reads expected and writes. */
function test_private(t: Fixture, page: number, expected: number, write: number): void {
  const addr = t.mem + page * PAGE;
  TEST_ASSERT(L.catchSignal(() => t.p.write(addr, Uint8Array.of(write))) === 'SIGBUS', `host write to private page ${page} should SIGBUS`);
  guest_do_rmw(t, page, expected, write);
  TEST_ASSERT(L.catchSignal(() => t.p.read(addr, 1)) === 'SIGBUS', `host read of private page ${page} should SIGBUS`);
}

/** test_shared: host and guest see each other's writes. */
function test_shared(t: Fixture, page: number, expected: number, host_write: number, guest_write: number): void {
  host_do_rmw(t, page, expected, host_write);
  guest_do_rmw(t, page, host_write, guest_write);
  TEST_ASSERT(t.p.read(t.mem + page * PAGE, 1)[0] === guest_write, `host should see the guest's write to page ${page}`);
}

function __convert(t: Fixture, page: number, nr: number, to_private: boolean, args: { error_offset?: number | bigint } = {}): number {
  const a = { offset: page * PAGE, size: nr * PAGE, attributes: to_private ? PRIVATE : 0, flags: 0, error_offset: 0 as number | bigint };
  const r = L.__gmem_set_memory_attributes(t.p, t.gmem_fd, a);
  args.error_offset = a.error_offset;
  return r;
}

function convert(t: Fixture, page: number, nr: number, to_private: boolean): void {
  TEST_ASSERT(__convert(t, page, nr, to_private) === 0, `KVM_SET_MEMORY_ATTRIBUTES2 of pages [${page}, ${page + nr}) failed (errno ${errno})`);
}

const A = 0x41;
const B = 0x42;
const C = 0x43;
const D = 0x44;
const E = 0x45;

describe('guest_memfd_conversions_test.c (in-place conversion v8)', () => {
  it('init_private', () => {
    const t = setup(1, false);
    test_private(t, 0, 0, A);
    convert(t, 0, 1, false);
    test_shared(t, 0, A, B, C);
    convert(t, 0, 1, true);
    test_private(t, 0, C, D);
    teardown(t);
  });

  it('init_shared', () => {
    const t = setup(1, true);
    test_shared(t, 0, 0, A, B);
    convert(t, 0, 1, true);
    test_private(t, 0, B, C);
    convert(t, 0, 1, false);
    test_shared(t, 0, C, D, E);
    teardown(t);
  });

  it('indexing', () => {
    const nr_pages = 4;
    for (let target = 0; target < nr_pages; target++) {
      const t = setup(nr_pages, true);
      for (let i = 0; i < nr_pages; i++) test_shared(t, i, 0, A, B);
      convert(t, target, 1, true);
      for (let i = 0; i < nr_pages; i++) {
        if (i === target) test_private(t, i, B, C);
        else test_shared(t, i, B, C, D);
      }
      convert(t, target, 1, false);
      for (let i = 0; i < nr_pages; i++) test_shared(t, i, i === target ? C : D, E, A);
      teardown(t);
    }
  });

  it('before_allocation_shared', () => {
    const t = setup(1, false);
    convert(t, 0, 1, false);
    test_shared(t, 0, 0, A, B);
    teardown(t);
  });

  it('before_allocation_private', () => {
    const t = setup(1, true);
    convert(t, 0, 1, true);
    test_private(t, 0, 0, A);
    teardown(t);
  });

  it('unallocated_folios', () => {
    const nr_pages = 8;
    for (let target = 0; target < nr_pages; target++) {
      const t = setup(nr_pages, true);
      // Only the target and page 4 get folios before the conversion.
      host_do_rmw(t, target, 0, A);
      if (target !== 4) host_do_rmw(t, 4, 0, A);
      convert(t, 0, nr_pages, true);
      for (let i = 0; i < nr_pages; i++) test_private(t, i, i === target || i === 4 ? A : 0, B);
      for (let i = 0; i < nr_pages; i++) {
        convert(t, i, 1, false);
        test_shared(t, i, B, C, D);
      }
      teardown(t);
    }
  });

  it('truncate', () => {
    const t = setup(1, true);
    const punch = () => t.p.fallocate(t.gmem_fd, U.FALLOC_FL_KEEP_SIZE | U.FALLOC_FL_PUNCH_HOLE, 0, PAGE);
    test_shared(t, 0, 0, A, B);
    punch();
    test_shared(t, 0, 0, C, D);
    convert(t, 0, 1, true);
    punch();
    // The punch left the page private.
    test_private(t, 0, 0, E);
    teardown(t);
  });

  it('forked_accesses', () => {
    const t = setup(1, true);
    test_shared(t, 0, 0, A, B);
    const child = t.p.fork();
    TEST_ASSERT(child.read(t.mem, 1)[0] === B, 'the child sees the shared page');
    convert(t, 0, 1, true);
    TEST_ASSERT(L.catchSignal(() => child.read(t.mem, 1)) === 'SIGBUS', "the child's read of the now-private page should SIGBUS");
    TEST_ASSERT(L.catchSignal(() => child.write(t.mem, Uint8Array.of(C))) === 'SIGBUS', "the child's write should SIGBUS");
    test_private(t, 0, B, C);
    child.exit(0);
    teardown(t);
  });

  it('elevated_refcount (a gup_test long-term pin)', () => {
    const nr_pages = 4;
    for (let target = 0; target < nr_pages; target++) {
      const t = setup(nr_pages, true);
      const gup_fd = t.p.open(U.GUP_TEST_PATH, U.O_RDWR);
      for (let i = 0; i < nr_pages; i++) host_do_rmw(t, i, 0, A);
      t.p.ioctl(gup_fd, U.PIN_LONGTERM_TEST_START, { addr: t.mem + target * PAGE, size: PAGE, flags: 0 });
      const args: { error_offset?: number | bigint } = {};
      TEST_ASSERT(__convert(t, 0, nr_pages, true, args) === -1 && errno === EAGAIN, 'bulk conversion of a pinned range should fail with EAGAIN');
      expect(args.error_offset).toBe(target * PAGE);
      for (let i = 0; i < nr_pages; i++) {
        const r = __convert(t, i, 1, true, args);
        if (i === target) {
          TEST_ASSERT(r === -1 && errno === EAGAIN, 'converting the pinned page should fail with EAGAIN');
          expect(args.error_offset).toBe(target * PAGE);
        } else {
          TEST_ASSERT(r === 0, `converting unpinned page ${i} should succeed`);
        }
      }
      t.p.ioctl(gup_fd, U.PIN_LONGTERM_TEST_STOP);
      convert(t, 0, nr_pages, true);
      for (let i = 0; i < nr_pages; i++) test_private(t, i, A, B);
      t.p.close(gup_fd);
      teardown(t);
    }
  });
});
