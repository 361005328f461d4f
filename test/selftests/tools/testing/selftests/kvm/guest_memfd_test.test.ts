/**
 * Port of tools/testing/selftests/kvm/guest_memfd_test.c as in Linux 6.12:
 * guest_memfd creation (invalid sizes and flags, several files), and the
 * file's rules (read/write fail, mmap fails, fstat, fallocate, invalid punch
 * holes), on a default VM (vm_create_barebones). 6.12 accepts no creation
 * flag, so every one of the 64 flag bits is EINVAL.
 *
 * Real 6.12 (Debian, `-c kvm`, test/fixtures/linux-6.12/guest_memfd_test.tap
 * copied from the realkernel results/6.12/) exited 0: the program prints no
 * TAP, only kvm_selftest_init's "Random seed", and fails at its first broken
 * assertion, so exit 0 means every test_* function main() calls ran and
 * passed. Each of them is one case here, in main()'s order, on a fresh kernel
 * and VM as main() sets them up; "main" runs the whole program on one file as
 * the C program does. The last test compares the port's output and exit
 * status with the kernel's, and the 7 cases' verdicts they imply.
 */
import { describe, expect, it } from 'vitest';
import { Kernel, type Process } from '../../../../../../src/index.js';
import * as U from '../../../../../../src/uapi/index.js';
import { ProgramLog, expectAgreement } from '../../../../kselftest.js';
import { type KvmVm, TEST_ASSERT, __vm_create_guest_memfd, ccall, errno, getpagesize, kvm_has_cap, vm_create_barebones, vm_create_guest_memfd } from './kvm_util.js';

const EINVAL = 22;

function test_file_read_write(p: Process, fd: number): void {
  const buf = new Uint8Array(64);
  TEST_ASSERT(ccall(() => p.sysread(fd, buf, buf.length)) < 0, 'read on a guest_mem fd should fail');
  TEST_ASSERT(ccall(() => p.syswrite(fd, buf, buf.length)) < 0, 'write on a guest_mem fd should fail');
  TEST_ASSERT(ccall(() => p.pread(fd, buf, buf.length, 0)) < 0, 'pread on a guest_mem fd should fail');
  TEST_ASSERT(ccall(() => p.pwrite(fd, buf, buf.length, 0)) < 0, 'pwrite on a guest_mem fd should fail');
}

function test_mmap(p: Process, fd: number, page_size: number): void {
  const mem = ccall(() => p.mmap(0, page_size, U.PROT_READ | U.PROT_WRITE, U.MAP_SHARED, fd, 0));
  TEST_ASSERT(mem === -1, 'mmap of a guest_memfd should fail (MAP_FAILED)');
}

function test_file_size(p: Process, fd: number, page_size: number, total_size: number): void {
  const sb = p.fstat(fd);
  TEST_ASSERT(sb.st_size === total_size, 'st_size');
  TEST_ASSERT(sb.st_blksize === page_size, 'st_blksize');
}

function test_fallocate(p: Process, fd: number, page_size: number, total_size: number): void {
  const fa = (mode: number, off: number, len: number) => ccall(() => p.fallocate(fd, mode, off, len));
  const KP = U.FALLOC_FL_KEEP_SIZE | U.FALLOC_FL_PUNCH_HOLE;
  TEST_ASSERT(fa(U.FALLOC_FL_KEEP_SIZE, 0, total_size) === 0, 'fallocate with aligned offset and size should succeed');
  TEST_ASSERT(fa(KP, page_size - 1, page_size) !== 0, 'fallocate with unaligned offset should fail');
  TEST_ASSERT(fa(U.FALLOC_FL_KEEP_SIZE, total_size, page_size) !== 0, 'fallocate beginning at total_size should fail');
  TEST_ASSERT(fa(U.FALLOC_FL_KEEP_SIZE, total_size + page_size, page_size) !== 0, 'fallocate beginning after total_size should fail');
  TEST_ASSERT(fa(KP, total_size, page_size) === 0, 'fallocate(PUNCH_HOLE) at total_size should succeed');
  TEST_ASSERT(fa(KP, total_size + page_size, page_size) === 0, 'fallocate(PUNCH_HOLE) after total_size should succeed');
  TEST_ASSERT(fa(KP, page_size, page_size - 1) !== 0, 'fallocate with unaligned size should fail');
  TEST_ASSERT(fa(KP, page_size, page_size) === 0, 'fallocate(PUNCH_HOLE) with aligned offset and size should succeed');
  TEST_ASSERT(fa(U.FALLOC_FL_KEEP_SIZE, page_size, page_size) === 0, 'fallocate to restore punched hole should succeed');
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
    const ret = ccall(() => p.fallocate(fd, U.FALLOC_FL_KEEP_SIZE | U.FALLOC_FL_PUNCH_HOLE, offset, len));
    TEST_ASSERT(ret === -1 && errno === EINVAL, `PUNCH_HOLE with !PAGE_SIZE offset (${offset.toString(16)}) and/or length (${len.toString(16)}) should fail`);
  }
}

function test_create_guest_memfd_invalid(vm: KvmVm): void {
  const page_size = getpagesize();
  for (let size = 1; size < page_size; size++) {
    const fd = __vm_create_guest_memfd(vm, size, 0);
    TEST_ASSERT(fd === -1 && errno === EINVAL, `guest_memfd() with non-page-aligned page size '0x${size.toString(16)}' should fail with EINVAL`);
  }
  for (let flag = 1n; flag < 1n << 64n; flag <<= 1n) {
    const fd = __vm_create_guest_memfd(vm, page_size, flag);
    TEST_ASSERT(fd === -1 && errno === EINVAL, `guest_memfd() with flag '0x${flag.toString(16)}' should fail with EINVAL`);
  }
}

function test_create_guest_memfd_multiple(vm: KvmVm): void {
  const p = vm.p;
  const fd1 = __vm_create_guest_memfd(vm, 4096, 0);
  TEST_ASSERT(fd1 !== -1, 'memfd creation should succeed');
  let st1 = p.fstat(fd1);
  TEST_ASSERT(st1.st_size === 4096, 'memfd st_size should match requested size');
  const fd2 = __vm_create_guest_memfd(vm, 8192, 0);
  TEST_ASSERT(fd2 !== -1, 'memfd creation should succeed');
  const st2 = p.fstat(fd2);
  TEST_ASSERT(st2.st_size === 8192, 'second memfd st_size should match requested size');
  st1 = p.fstat(fd1);
  TEST_ASSERT(st1.st_size === 4096, 'first memfd st_size should still match requested size');
  TEST_ASSERT(st1.st_ino !== st2.st_ino, 'different memfd should have different inode numbers');
  p.close(fd2);
  p.close(fd1);
}

/** main()'s setup: TEST_REQUIRE(KVM_CAP_GUEST_MEMFD), a barebones VM and a 4-page guest_memfd. */
function setup() {
  const k = new Kernel({ memory: '64MiB' });
  const p = k.spawn();
  TEST_ASSERT(kvm_has_cap(p, U.KVM_CAP_GUEST_MEMFD), 'KVM_CAP_GUEST_MEMFD');
  const page_size = getpagesize();
  const total_size = page_size * 4;
  const vm = vm_create_barebones(p);
  return { k, p, vm, page_size, total_size };
}

/** main()'s cases, in its order; kvm_selftest_init prints the seed first (glibc's first random(): the same on every run). */
const log = new ProgramLog(
  'guest_memfd_test',
  ['test_create_guest_memfd_invalid', 'test_create_guest_memfd_multiple', 'test_file_read_write', 'test_mmap', 'test_file_size', 'test_fallocate', 'test_invalid_punch_hole'].map((name) => ({ name })),
  ['Random seed: 0x6b8b4567'],
);

/** Run a case's body: it prints nothing; a TEST_ASSERT failure is the program's exit 1. */
function recorded(name: string, body: () => void): () => void {
  return () => {
    try {
      body();
    } catch (e) {
      log.record(name, [], false);
      throw e;
    }
    log.record(name, [], true);
  };
}

describe('guest_memfd_test.c', () => {
  const withFd = (body: (s: ReturnType<typeof setup>, fd: number) => void) => () => {
    const s = setup();
    const fd = vm_create_guest_memfd(s.vm, s.total_size, 0);
    body(s, fd);
    s.p.close(fd);
    expect(s.k.check()).toEqual([]);
  };

  it(
    'test_create_guest_memfd_invalid',
    recorded('test_create_guest_memfd_invalid', () => {
      const s = setup();
      test_create_guest_memfd_invalid(s.vm);
      expect(s.k.check()).toEqual([]);
    }),
  );

  it(
    'test_create_guest_memfd_multiple',
    recorded('test_create_guest_memfd_multiple', () => {
      const s = setup();
      test_create_guest_memfd_multiple(s.vm);
      expect(s.k.check()).toEqual([]);
    }),
  );

  it('test_file_read_write', recorded('test_file_read_write', withFd((s, fd) => test_file_read_write(s.p, fd))));
  it('test_mmap', recorded('test_mmap', withFd((s, fd) => test_mmap(s.p, fd, s.page_size))));
  it('test_file_size', recorded('test_file_size', withFd((s, fd) => test_file_size(s.p, fd, s.page_size, s.total_size))));
  it('test_fallocate', recorded('test_fallocate', withFd((s, fd) => test_fallocate(s.p, fd, s.page_size, s.total_size))));
  it('test_invalid_punch_hole', recorded('test_invalid_punch_hole', withFd((s, fd) => test_invalid_punch_hole(s.p, fd, s.page_size))));

  it('main: the whole program on one VM and one file, in order', () => {
    const s = setup();
    test_create_guest_memfd_invalid(s.vm);
    test_create_guest_memfd_multiple(s.vm);
    const fd = vm_create_guest_memfd(s.vm, s.total_size, 0);
    test_file_read_write(s.p, fd);
    test_mmap(s.p, fd, s.page_size);
    test_file_size(s.p, fd, s.page_size, s.total_size);
    test_fallocate(s.p, fd, s.page_size, s.total_size);
    test_invalid_punch_hole(s.p, fd, s.page_size);
    // After test_fallocate, all four pages are allocated (page 1 punched and re-allocated).
    expect(s.k.meminfo().Cached).toBe(16);
    expect(s.k.check()).toEqual([]);
    s.p.close(fd);
    expect(s.k.meminfo().Cached).toBe(0);
    expect(s.k.check()).toEqual([]);
  });

  it('agrees with real Linux 6.12: the same output and exit status (no TAP), so the same 7 verdicts', (ctx) => {
    if (!log.complete()) ctx.skip('not every case ran (a filtered run)');
    log.writeIfAsked();
    const { model, kernel, agreement } = log.compare('guest_memfd_test.tap');
    expect(model).toEqual(kernel);
    expectAgreement(agreement);
    expect(agreement.agree).toBe(7);
  });
});
