/**
 * Port of tools/testing/selftests/kvm/guest_memfd_test.c as the 1 GiB page
 * series RFC v2 leaves it (Ackerley Tng, "1G page support for guest_memfd",
 * 14 May 2025, cover.1747264138.git.ackerleytng@google.com):
 *
 * - 42/51 "KVM: selftests: Add basic selftests for hugetlb-backed
 *   guest_memfd": test_with_type runs the suite with 4 KiB pages, then with
 *   GUEST_MEMFD_FLAG_HUGETLB | GUESTMEM_HUGETLB_FLAG_2MB (2 MiB pages) and
 *   _1GB (1 GiB pages); sizes, offsets and the fault strides are in test
 *   pages (faulting touches two bytes per page, invalid sizes step by half a
 *   page); test_gmem_flag_validity accepts GUEST_MEMFD_FLAG_HUGETLB (at the
 *   default HugeTLB size) when KVM_CAP_GMEM_HUGETLB is reported;
 * - 51/51 "KVM: selftests: Test guest_memfd for accuracy of st_blocks":
 *   test_fallocate checks st_blocks after every step (HugeTLB sizes only: the
 *   patch's TODO says 4 KiB guest_memfd does not keep it), including a punch
 *   in a hole;
 * - 50/51's statistics script around the program: after it the HugeTLB
 *   counters of both sizes are back at their values before it.
 *
 * main() as the series has it: with conversions (KVM_CAP_GMEM_CONVERSION,
 * here per-file attributes: kvm_has_gmem_attributes) test_gmem_flag_validity
 * for every VM type of KVM_CAP_VM_TYPES, then test_with_type for the default
 * and the SW_PROTECTED VM, with base flags 0 and with
 * GUEST_MEMFD_FLAG_SUPPORT_SHARED. The model has the v8/mainline uAPI:
 * SUPPORT_SHARED is GUEST_MEMFD_FLAG_MMAP with INIT_SHARED (the RFC's shared
 * files start shared), SUPPORT_SHARED | INIT_PRIVATE is MMAP alone. Bit 1 is
 * therefore INIT_SHARED here, not INIT_PRIVATE: where the RFC requires
 * INIT_PRIVATE alone to be EINVAL, the port requires bit 1 to be valid exactly
 * when the VM's KVM_CAP_GUEST_MEMFD_FLAGS has it (mainline's rule). The
 * kernel: in-place conversion, HugeTLB guest_memfd, policy gmemHugeShared
 * 'split', pools of four 2 MiB and four 1 GiB pages (the suite's files are
 * four test pages; create_guest_memfd_multiple holds three at once).
 *
 * Not run: test_bind_guest_memfd_wrt_userspace_addr (once per VM type). It
 * checks a rule of the conversion series the RFC builds on: a
 * SUPPORT_SHARED guest_memfd's slot must have userspace_addr 0 or map the
 * same range of the same file, else KVM_SET_USER_MEMORY_REGION2 fails. That
 * rule did not reach v8 or mainline, which the model follows (a
 * guest_memfd-only slot's userspace_addr is not checked against the file).
 */
import { describe, expect, it } from 'vitest';
import { Kernel, type Process } from '../../../../../../src/index.js';
import * as U from '../../../../../../src/uapi/index.js';
import * as L from './kvm_util.js';
import { TEST_ASSERT, ccall, errno } from './kvm_util.js';

const EINVAL = 22;
const SZ_2M = 2 << 20;
const SZ_1G = 2 ** 30;
const RW = U.PROT_READ | U.PROT_WRITE;
const KP = U.FALLOC_FL_KEEP_SIZE | U.FALLOC_FL_PUNCH_HOLE;
/** The RFC's GUEST_MEMFD_FLAG_SUPPORT_SHARED (a file that starts shared) and SUPPORT_SHARED | INIT_PRIVATE, in the model's encoding. */
const SUPPORT_SHARED = U.GUEST_MEMFD_FLAG_MMAP | U.GUEST_MEMFD_FLAG_INIT_SHARED;
const SUPPORT_SHARED_INIT_PRIVATE = U.GUEST_MEMFD_FLAG_MMAP;
const HUGETLB_2MB = U.GUEST_MEMFD_FLAG_HUGETLB | U.GUESTMEM_HUGETLB_FLAG_2MB;
const HUGETLB_1GB = U.GUEST_MEMFD_FLAG_HUGETLB | U.GUESTMEM_HUGETLB_FLAG_1GB;

function boot(): { k: Kernel; p: Process; baseline: L.HugetlbStatistics } {
  const k = new Kernel({ memory: '6GiB', hugetlb: { '2MiB': 4, '1GiB': 4 }, kvm: { guestMemfd: 'mainline', hugetlb: true, inPlaceConversion: true } });
  return { k, p: k.spawn(), baseline: L.read_hugetlb_statistics(k) };
}

function test_file_read_write(p: Process, fd: number): void {
  const buf = new Uint8Array(64);
  TEST_ASSERT(ccall(() => p.sysread(fd, buf, buf.length)) < 0, 'read on a guest_mem fd should fail');
  TEST_ASSERT(ccall(() => p.syswrite(fd, buf, buf.length)) < 0, 'write on a guest_mem fd should fail');
  TEST_ASSERT(ccall(() => p.pread(fd, buf, buf.length, 0)) < 0, 'pread on a guest_mem fd should fail');
  TEST_ASSERT(ccall(() => p.pwrite(fd, buf, buf.length, 0)) < 0, 'pwrite on a guest_mem fd should fail');
}

/** Touch every page (two bytes per page, half a page apart), punch the first page, and check. */
function test_faulting_allowed(p: Process, fd: number, page_size: number, total_size: number): void {
  const val = 0xaa;
  const mem = ccall(() => p.mmap(0, total_size, RW, U.MAP_SHARED, fd, 0));
  TEST_ASSERT(mem !== -1, 'mmaping() guest memory should pass.');
  const increment = page_size >> 1;
  const at = (i: number) => p.read(mem + i, 1)[0]!;
  for (let i = 0; i < total_size; i += increment) p.write(mem + i, Uint8Array.of(val));
  for (let i = 0; i < total_size; i += increment) TEST_ASSERT(at(i) === val, `mem[0x${i.toString(16)}] == 0xaa`);
  TEST_ASSERT(ccall(() => p.fallocate(fd, KP, 0, page_size)) === 0, 'fallocate the first page should succeed');
  let i = 0;
  for (; i < page_size; i += increment) TEST_ASSERT(at(i) === 0, `mem[0x${i.toString(16)}] == 0 after the punch`);
  for (; i < total_size; i += increment) TEST_ASSERT(at(i) === val, `mem[0x${i.toString(16)}] == 0xaa after the punch`);
  for (i = 0; i < total_size; i += increment) p.write(mem + i, Uint8Array.of(val));
  for (i = 0; i < total_size; i += increment) TEST_ASSERT(at(i) === val, `mem[0x${i.toString(16)}] == 0xaa again`);
  TEST_ASSERT(ccall(() => p.munmap(mem, total_size)) === 0, 'munmap should succeed');
}

/** A forked child's write must end it with SIGBUS. */
function assert_not_faultable(p: Process, address: number): void {
  const child = p.fork();
  const sig = L.catchSignal(() => child.write(address, Uint8Array.of(0x41)));
  child.exit(sig === null ? 0 : 135);
  TEST_ASSERT(sig === 'SIGBUS', `Child should have exited with SIGBUS, got ${sig ?? 'no signal'}`);
}

function test_faulting_sigbus(p: Process, fd: number, total_size: number): void {
  const mem = ccall(() => p.mmap(0, total_size, RW, U.MAP_SHARED, fd, 0));
  TEST_ASSERT(mem !== -1, 'mmaping() guest memory should pass.');
  assert_not_faultable(p, mem);
  TEST_ASSERT(ccall(() => p.munmap(mem, total_size)) === 0, 'munmap should succeed');
}

function test_mmap_allowed(p: Process, fd: number, total_size: number): void {
  const mem = ccall(() => p.mmap(0, total_size, RW, U.MAP_SHARED, fd, 0));
  TEST_ASSERT(mem !== -1, 'mmaping() guest memory should pass.');
  TEST_ASSERT(ccall(() => p.munmap(mem, total_size)) === 0, 'munmap should succeed');
}

function test_mmap_denied(p: Process, fd: number, page_size: number, total_size: number): void {
  TEST_ASSERT(ccall(() => p.mmap(0, page_size, RW, U.MAP_SHARED, fd, 0)) === -1, 'mmap of one page should fail (MAP_FAILED)');
  TEST_ASSERT(ccall(() => p.mmap(0, total_size, RW, U.MAP_SHARED, fd, 0)) === -1, 'mmap of the file should fail (MAP_FAILED)');
}

function test_file_size(p: Process, fd: number, page_size: number, total_size: number): void {
  const sb = p.fstat(fd);
  TEST_ASSERT(sb.st_size === total_size, `st_size ${sb.st_size}, expected ${total_size}`);
  TEST_ASSERT(sb.st_blksize === page_size, `st_blksize ${sb.st_blksize}, expected ${page_size}`);
}

/** 51/51: st_blocks (512-byte units) matches the allocated bytes; not kept for 4 KiB guest_memfd (the patch's TODO). */
function assert_st_blocks_equals_size(p: Process, fd: number, page_size: number, expected_size: number): void {
  if (page_size === L.getpagesize()) return;
  const sb = p.fstat(fd);
  TEST_ASSERT(sb.st_blocks === expected_size / 512, `st_blocks ${sb.st_blocks}, expected ${expected_size / 512}`);
}

function test_fallocate(p: Process, fd: number, test_page_size: number, total_size: number): void {
  const fa = (mode: number, off: number, len: number) => ccall(() => p.fallocate(fd, mode, off, len));
  const blocks = (size: number) => assert_st_blocks_equals_size(p, fd, test_page_size, size);
  TEST_ASSERT(fa(U.FALLOC_FL_KEEP_SIZE, 0, total_size) === 0, 'fallocate with aligned offset and size should succeed');
  blocks(total_size);
  TEST_ASSERT(fa(KP, test_page_size - 1, test_page_size) !== 0, 'fallocate with unaligned offset should fail');
  blocks(total_size);
  TEST_ASSERT(fa(U.FALLOC_FL_KEEP_SIZE, total_size, test_page_size) !== 0, 'fallocate beginning at total_size should fail');
  blocks(total_size);
  TEST_ASSERT(fa(U.FALLOC_FL_KEEP_SIZE, total_size + test_page_size, test_page_size) !== 0, 'fallocate beginning after total_size should fail');
  blocks(total_size);
  TEST_ASSERT(fa(KP, total_size, test_page_size) === 0, 'fallocate(PUNCH_HOLE) at total_size should succeed');
  blocks(total_size);
  TEST_ASSERT(fa(KP, total_size + test_page_size, test_page_size) === 0, 'fallocate(PUNCH_HOLE) after total_size should succeed');
  blocks(total_size);
  TEST_ASSERT(fa(KP, test_page_size, test_page_size - 1) !== 0, 'fallocate with unaligned size should fail');
  blocks(total_size);
  TEST_ASSERT(fa(KP, test_page_size, test_page_size) === 0, 'fallocate(PUNCH_HOLE) with aligned offset and size should succeed');
  blocks(total_size - test_page_size);
  TEST_ASSERT(fa(KP, test_page_size, test_page_size) === 0, 'fallocate(PUNCH_HOLE) in a hole should succeed');
  blocks(total_size - test_page_size);
  TEST_ASSERT(fa(U.FALLOC_FL_KEEP_SIZE, test_page_size, test_page_size) === 0, 'fallocate to restore punched hole should succeed');
  blocks(total_size);
  // As the patch has it: the subfolio punch runs only when the test page is the base page (whose st_blocks is not checked).
  const page_size = L.getpagesize();
  if (test_page_size === page_size) {
    TEST_ASSERT(fa(KP, test_page_size + page_size, page_size) === 0, 'fallocate(PUNCH_HOLE) of a subfolio should succeed');
    blocks(total_size);
  }
}

function test_invalid_punch_hole(p: Process, fd: number, page_size: number): void {
  const testcases = [
    [0, 1],
    [0, page_size - 1],
    [0, page_size + 1],
    [1, 1],
    [1, page_size - 1],
    [1, page_size],
    [1, page_size + 1],
    [page_size, 1],
    [page_size, page_size - 1],
    [page_size, page_size + 1],
  ] as const;
  for (const [offset, len] of testcases) {
    const ret = ccall(() => p.fallocate(fd, KP, offset, len));
    TEST_ASSERT(ret === -1 && errno === EINVAL, `PUNCH_HOLE with !PAGE_SIZE offset (${offset.toString(16)}) and/or length (${len.toString(16)}) should fail`);
  }
}

function test_create_guest_memfd_invalid_sizes(vm: L.KvmVm, flags: bigint, page_size: number): void {
  for (let size = 1; size < page_size; size += page_size >> 1) {
    const fd = L.__vm_create_guest_memfd(vm, size, flags);
    TEST_ASSERT(fd === -1 && errno === EINVAL, `guest_memfd() with non-page-aligned page size '0x${size.toString(16)}' should fail with EINVAL`);
  }
}

function test_create_guest_memfd_multiple(vm: L.KvmVm, flags: bigint, page_size: number): void {
  const p = vm.p;
  const fd1 = L.__vm_create_guest_memfd(vm, page_size, flags);
  TEST_ASSERT(fd1 !== -1, 'memfd creation should succeed');
  let st1 = p.fstat(fd1);
  TEST_ASSERT(st1.st_size === page_size, 'memfd st_size should match requested size');
  const fd2 = L.__vm_create_guest_memfd(vm, page_size * 2, flags);
  TEST_ASSERT(fd2 !== -1, 'memfd creation should succeed');
  const st2 = p.fstat(fd2);
  TEST_ASSERT(st2.st_size === page_size * 2, 'second memfd st_size should match requested size');
  st1 = p.fstat(fd1);
  TEST_ASSERT(st1.st_size === page_size, 'first memfd st_size should still match requested size');
  TEST_ASSERT(st1.st_ino !== st2.st_ino, 'different memfd should have different inode numbers');
  p.close(fd2);
  p.close(fd1);
}

function test_guest_memfd_features(vm: L.KvmVm, page_size: number, flags: bigint, expect_mmap_allowed: boolean, expect_faulting_allowed: boolean): void {
  const p = vm.p;
  const total_size = page_size * 4;
  if (expect_faulting_allowed) TEST_ASSERT(expect_mmap_allowed, 'TEST_REQUIRE(expect_mmap_allowed)');
  test_create_guest_memfd_invalid_sizes(vm, flags, page_size);
  const fd = L.vm_create_guest_memfd(vm, total_size, flags);
  test_file_read_write(p, fd);
  if (expect_mmap_allowed) {
    test_mmap_allowed(p, fd, total_size);
    if (expect_faulting_allowed) test_faulting_allowed(p, fd, page_size, total_size);
    else test_faulting_sigbus(p, fd, total_size);
  } else {
    test_mmap_denied(p, fd, page_size, total_size);
  }
  test_file_size(p, fd, page_size, total_size);
  test_fallocate(p, fd, page_size, total_size);
  test_invalid_punch_hole(p, fd, page_size);
  p.close(fd);
}

function test_guest_memfd_features_for_page_size(vm: L.KvmVm, flags: bigint, page_size: number, expect_mmap_allowed: boolean): void {
  test_create_guest_memfd_multiple(vm, flags, page_size);
  if (flags & U.GUEST_MEMFD_FLAG_MMAP) {
    test_guest_memfd_features(vm, page_size, flags, expect_mmap_allowed, true);
    if (L.kvm_has_gmem_attributes(vm.p)) {
      // SUPPORT_SHARED | INIT_PRIVATE: the model's MMAP without INIT_SHARED.
      test_guest_memfd_features(vm, page_size, flags & ~U.GUEST_MEMFD_FLAG_INIT_SHARED, expect_mmap_allowed, false);
    }
  } else {
    test_guest_memfd_features(vm, page_size, flags, expect_mmap_allowed, false);
  }
}

function test_vm_with_gmem_flag(vm: L.KvmVm, flag: bigint, expect_valid: boolean): void {
  // get_def_hugetlb_pagesz() for the HugeTLB flag alone: the default hstate, 2 MiB.
  const page_size = flag === U.GUEST_MEMFD_FLAG_HUGETLB ? SZ_2M : L.getpagesize();
  const fd = L.__vm_create_guest_memfd(vm, page_size, flag);
  if (expect_valid) {
    TEST_ASSERT(fd > 0, `guest_memfd() with flag '0x${flag.toString(16)}' should be valid`);
    vm.p.close(fd);
  } else {
    TEST_ASSERT(fd === -1 && errno === EINVAL, `guest_memfd() with flag '0x${flag.toString(16)}' should fail with EINVAL`);
  }
}

function test_vm_type_gmem_flag_validity(p: Process, vm_type: number, expected_valid_flags: bigint): boolean {
  if (!(L.kvm_check_cap(p, U.KVM_CAP_VM_TYPES) & (1 << vm_type))) return false;
  const vm = L.vm_create_barebones_type(p, vm_type);
  // Bit 1 is the model's INIT_SHARED (the RFC's INIT_PRIVATE): valid where the VM reports it.
  const init_shared = BigInt(L.vm_check_cap(vm, U.KVM_CAP_GUEST_MEMFD_FLAGS)) & U.GUEST_MEMFD_FLAG_INIT_SHARED;
  for (let flag = 1n; flag < 1n << 64n; flag <<= 1n) {
    test_vm_with_gmem_flag(vm, flag, (flag & (expected_valid_flags | init_shared)) !== 0n);
    if (flag === U.GUEST_MEMFD_FLAG_MMAP && L.kvm_has_gmem_attributes(p)) test_vm_with_gmem_flag(vm, SUPPORT_SHARED_INIT_PRIVATE, true);
  }
  L.kvm_vm_free(vm);
  return true;
}

/** After conversions are supported, all VM types support shared memory. */
function test_gmem_flag_validity(p: Process): number[] {
  let valid_flags = U.GUEST_MEMFD_FLAG_MMAP;
  if (L.kvm_has_cap(p, U.KVM_CAP_GMEM_HUGETLB)) valid_flags |= U.GUEST_MEMFD_FLAG_HUGETLB;
  const types = [U.KVM_X86_DEFAULT_VM, U.KVM_X86_SW_PROTECTED_VM, U.KVM_X86_SEV_VM, U.KVM_X86_SEV_ES_VM, U.KVM_X86_SNP_VM, U.KVM_X86_TDX_VM];
  return types.filter((t) => test_vm_type_gmem_flag_validity(p, t, valid_flags));
}

/** test_with_type's body for one test page size. */
function with_page_size(p: Process, vm_type: number, base_flags: bigint, expect_mmap_allowed: boolean, sz: number): void {
  const vm = L.vm_create_barebones_type(p, vm_type);
  const flags = sz === SZ_2M ? base_flags | HUGETLB_2MB : sz === SZ_1G ? base_flags | HUGETLB_1GB : base_flags;
  test_guest_memfd_features_for_page_size(vm, flags, sz, expect_mmap_allowed);
  L.kvm_vm_free(vm);
}

const SIZES: [string, number][] = [
  ['4K', 4096],
  ['2M', SZ_2M],
  ['1G', SZ_1G],
];

/** A case on a fresh kernel: then the statistics script's check and the oracle. */
function run(body: (p: Process) => void): () => void {
  return () => {
    const { k, p, baseline } = boot();
    TEST_ASSERT(L.kvm_has_cap(p, U.KVM_CAP_GUEST_MEMFD), 'TEST_REQUIRE: KVM_CAP_GUEST_MEMFD');
    body(p);
    expect(k.check()).toEqual([]);
    p.exit(0);
    expect(L.read_hugetlb_statistics(k)).toEqual(baseline);
    expect(k.check()).toEqual([]);
  };
}

describe('guest_memfd_test.c (1 GiB series RFC v2)', () => {
  it(
    'test_gmem_flag_validity (every VM type of KVM_CAP_VM_TYPES)',
    run((p) => {
      TEST_ASSERT(L.kvm_has_gmem_attributes(p), 'KVM_CAP_GMEM_CONVERSION: conversions on the guest_memfd');
      expect(test_gmem_flag_validity(p).length).toBeGreaterThanOrEqual(2);
    }),
  );

  const runs: [string, number, bigint, boolean][] = [
    ['VM_TYPE_DEFAULT', U.KVM_X86_DEFAULT_VM, 0n, false],
    ['VM_TYPE_DEFAULT, SUPPORT_SHARED', U.KVM_X86_DEFAULT_VM, SUPPORT_SHARED, true],
    ['KVM_X86_SW_PROTECTED_VM', U.KVM_X86_SW_PROTECTED_VM, 0n, false],
    ['KVM_X86_SW_PROTECTED_VM, SUPPORT_SHARED', U.KVM_X86_SW_PROTECTED_VM, SUPPORT_SHARED, true],
  ];
  for (const [name, vm_type, base_flags, mmap] of runs) {
    describe(`test_with_type(${name})`, () => {
      it.skip('test_bind_guest_memfd_wrt_userspace_addr (the userspace_addr check of the conversion series did not reach v8 or mainline)', () => {});
      for (const [size, sz] of SIZES) {
        it(
          `Test guest_memfd with ${size} pages`,
          run((p) => {
            TEST_ASSERT((L.kvm_check_cap(p, U.KVM_CAP_VM_TYPES) & (1 << vm_type)) !== 0, `VM type ${vm_type}`);
            if (base_flags !== 0n) TEST_ASSERT(L.kvm_check_cap(p, U.KVM_CAP_GUEST_MEMFD_FLAGS) !== 0, 'KVM_CAP_GMEM_SHARED_MEM: mmap of guest_memfd');
            with_page_size(p, vm_type, base_flags, mmap, sz);
          }),
        );
      }
    });
  }
});
