/**
 * Port of tools/testing/selftests/mm/gup_longterm.c (reference gup.md §4.2):
 * long-term pins of file mappings, through the gup_test device's
 * PIN_LONGTERM_TEST_START/STOP and through io_uring fixed buffers, on every
 * backing the selftest uses: memfd (tmpfs), tmpfile (libc tmpfile(): O_TMPFILE
 * in /tmp), local tmpfile (mkstemp in the working directory, then unlink), and
 * memfd hugetlb for each huge page size.
 *
 * Test names are the selftest's "[RUN] <case> ... with <backing>" lines. The
 * outcome is computed exactly as do_test() computes it, from fstatfs()'s
 * f_type; a case the selftest skips is reported as skipped with its message.
 * The default mounts put /tmp on tmpfs and the working directory (/root) on
 * ext4, so the "local tmpfile" rows exercise the disk file system refusal.
 * A second run mounts /tmp on xfs, as many distributions do.
 */
import { describe, expect, it } from 'vitest';
import { Kernel, type KernelOptions, type Process, SyscallError } from '../../../../../../src/index.js';
import * as U from '../../../../../../src/uapi/index.js';
import { KselftestLog, compareVerdicts, expectAgreement, kernelOutput, parseKselftestTap } from '../../../../kselftest.js';

const PAGESIZE = 4096;
const KiB = 1024;

/** A verdict and the message gup_longterm.c prints with it. */
type Outcome = { result: 'pass' | 'fail' | 'skip'; msg: string };

/** ksft_test_result(cond, msg): the same message whatever the verdict. */
function result(cond: boolean, msg: string): Outcome {
  return { result: cond ? 'pass' : 'fail', msg };
}

function attempt<T>(call: () => T): T | SyscallError {
  try {
    return call();
  } catch (e) {
    if (e instanceof SyscallError) return e;
    throw e;
  }
}

/** fs_is_unknown(): the file systems whose long-term pinning support the test knows. */
function fsIsUnknown(fsType: number): boolean {
  return ![U.TMPFS_MAGIC, U.HUGETLBFS_MAGIC, U.BTRFS_SUPER_MAGIC, U.EXT4_SUPER_MAGIC, U.XFS_SUPER_MAGIC].includes(fsType);
}

/** fs_supports_writable_longterm_pinning(). */
function fsSupportsWritableLongtermPinning(fsType: number): boolean {
  return fsType === U.TMPFS_MAGIC || fsType === U.HUGETLBFS_MAGIC;
}

const enum TestType {
  RO,
  RO_FAST,
  RW,
  RW_FAST,
  IOURING,
}

interface Env {
  k: Kernel;
  p: Process;
  gupFd: number;
}

// mirrors tools/testing/selftests/mm/gup_longterm.c:do_test
function doTest(env: Env, fd: number, size: number, type: TestType, shared: boolean): Outcome {
  const { p } = env;
  const st = attempt(() => p.fstatfs(fd));
  const fsType = st instanceof SyscallError ? 0 : st.f_type;
  const tr = attempt(() => p.ftruncate(fd, size));
  if (tr instanceof SyscallError) {
    return { result: 'fail', msg: 'ftruncate() failed' };
  }
  const fa = attempt(() => p.fallocate(fd, 0, 0, size));
  if (fa instanceof SyscallError) {
    if (size === PAGESIZE) return { result: 'fail', msg: 'fallocate() failed' };
    return { result: 'skip', msg: 'need more free huge pages' };
  }
  const mem = attempt(() => p.mmap(0, size, U.PROT_READ | U.PROT_WRITE, shared ? U.MAP_SHARED : U.MAP_PRIVATE, fd, 0));
  if (mem instanceof SyscallError) {
    if (size === PAGESIZE || shared) return { result: 'fail', msg: 'mmap() failed' };
    return { result: 'skip', msg: 'need more free huge pages' };
  }
  // Fault in the page such that GUP-fast can pin it directly.
  p.fill(mem, size, 0);
  try {
    switch (type) {
      case TestType.RO:
      case TestType.RO_FAST:
      case TestType.RW:
      case TestType.RW_FAST: {
        const fast = type === TestType.RO_FAST || type === TestType.RW_FAST;
        const rw = type === TestType.RW || type === TestType.RW_FAST;
        // Cover more cases regarding unsharing decisions when long-term R/O pinning by mapping the page R/O.
        if (!rw) {
          const r = attempt(() => p.mprotect(mem, size, U.PROT_READ));
          if (r instanceof SyscallError) return { result: 'fail', msg: 'mprotect() failed' };
        }
        if (env.gupFd < 0) return { result: 'skip', msg: 'gup_test not available' };
        if (rw && shared && fsIsUnknown(fsType)) return { result: 'skip', msg: 'Unknown filesystem' };
        // R/O pinning or pinning in a private mapping is always expected to work.
        const shouldWork = !shared || !rw || fsSupportsWritableLongtermPinning(fsType);
        const args = { addr: mem, size, flags: (fast ? U.PIN_LONGTERM_TEST_FLAG_USE_FAST : 0) | (rw ? U.PIN_LONGTERM_TEST_FLAG_USE_WRITE : 0) };
        const ret = attempt(() => p.ioctl(env.gupFd, U.PIN_LONGTERM_TEST_START, args));
        if (ret instanceof SyscallError) {
          if (ret.code === 'EINVAL') return { result: 'skip', msg: 'PIN_LONGTERM_TEST_START failed' };
          if (ret.code === 'EFAULT') return result(!shouldWork, 'Should have failed');
          return { result: 'fail', msg: 'PIN_LONGTERM_TEST_START failed' };
        }
        attempt(() => p.ioctl(env.gupFd, U.PIN_LONGTERM_TEST_STOP));
        return result(shouldWork, 'Should have worked');
      }
      case TestType.IOURING: {
        // io_uring always pins pages writable.
        if (shared && fsIsUnknown(fsType)) return { result: 'skip', msg: 'Unknown filesystem' };
        const shouldWork = !shared || fsSupportsWritableLongtermPinning(fsType);
        const ring = attempt(() => p.io_uring_setup(1, {}));
        if (ring instanceof SyscallError) return { result: 'skip', msg: 'io_uring_queue_init() failed' };
        try {
          // Register the range as a fixed buffer: FOLL_WRITE | FOLL_PIN | FOLL_LONGTERM.
          const reg = attempt(() => p.io_uring_register(ring, U.IORING_REGISTER_BUFFERS, [{ iov_base: mem, iov_len: size }], 1));
          if (reg instanceof SyscallError) {
            // Only new kernels return EFAULT.
            if (reg.code === 'ENOSPC' || reg.code === 'EOPNOTSUPP' || reg.code === 'EFAULT') return result(!shouldWork, 'Should have failed');
            return { result: 'skip', msg: 'io_uring_register_buffers() failed' };
          }
          p.io_uring_register(ring, U.IORING_UNREGISTER_BUFFERS, 0, 0);
          return result(shouldWork, 'Should have worked');
        } finally {
          p.close(ring);
        }
      }
    }
  } finally {
    p.munmap(mem, size);
  }
}

type TestFn = (env: Env, fd: number, size: number) => Outcome;

const testCases: { desc: string; fn: TestFn }[] = [
  { desc: 'R/W longterm GUP pin in MAP_SHARED file mapping', fn: (e, fd, s) => doTest(e, fd, s, TestType.RW, true) },
  { desc: 'R/W longterm GUP-fast pin in MAP_SHARED file mapping', fn: (e, fd, s) => doTest(e, fd, s, TestType.RW_FAST, true) },
  { desc: 'R/O longterm GUP pin in MAP_SHARED file mapping', fn: (e, fd, s) => doTest(e, fd, s, TestType.RO, true) },
  { desc: 'R/O longterm GUP-fast pin in MAP_SHARED file mapping', fn: (e, fd, s) => doTest(e, fd, s, TestType.RO_FAST, true) },
  { desc: 'R/W longterm GUP pin in MAP_PRIVATE file mapping', fn: (e, fd, s) => doTest(e, fd, s, TestType.RW, false) },
  { desc: 'R/W longterm GUP-fast pin in MAP_PRIVATE file mapping', fn: (e, fd, s) => doTest(e, fd, s, TestType.RW_FAST, false) },
  { desc: 'R/O longterm GUP pin in MAP_PRIVATE file mapping', fn: (e, fd, s) => doTest(e, fd, s, TestType.RO, false) },
  { desc: 'R/O longterm GUP-fast pin in MAP_PRIVATE file mapping', fn: (e, fd, s) => doTest(e, fd, s, TestType.RO_FAST, false) },
  { desc: 'io_uring fixed buffer with MAP_SHARED file mapping', fn: (e, fd, s) => doTest(e, fd, s, TestType.IOURING, true) },
  { desc: 'io_uring fixed buffer with MAP_PRIVATE file mapping', fn: (e, fd, s) => doTest(e, fd, s, TestType.IOURING, false) },
];

/** A backing: how run_with_* opens the file, and the size it tests; a string outcome if opening fails. */
interface Backing {
  name: string;
  size: number;
  open(p: Process): number | Outcome;
}

/** detect_hugetlb_page_sizes(): x86-64's two hstates, as /sys/kernel/mm/hugepages lists them. */
const hugetlbSizes = [2048 * KiB, 1024 * 1024 * KiB];

const backings: Backing[] = [
  // run_with_memfd
  {
    name: 'memfd',
    size: PAGESIZE,
    open: (p) => {
      const fd = attempt(() => p.memfd_create('test', 0));
      return fd instanceof SyscallError ? { result: 'fail', msg: `memfd_create() failed (${fd.message})` } : fd;
    },
  },
  // run_with_tmpfile: glibc's tmpfile() opens an O_TMPFILE in P_tmpdir (/tmp).
  {
    name: 'tmpfile',
    size: PAGESIZE,
    open: (p) => {
      const fd = attempt(() => p.open('/tmp', U.O_TMPFILE | U.O_RDWR | U.O_EXCL, 0o600));
      return fd instanceof SyscallError ? { result: 'fail', msg: `tmpfile() failed (${fd.message})` } : fd;
    },
  },
  // run_with_local_tmpfile: mkstemp(__FILE__"_tmpfile_XXXXXX") in the working directory, then unlink.
  {
    name: 'local tmpfile',
    size: PAGESIZE,
    open: (p) => {
      const name = 'gup_longterm.c_tmpfile_Xa1b2c';
      const fd = attempt(() => p.open(name, U.O_RDWR | U.O_CREAT | U.O_EXCL, 0o600));
      if (fd instanceof SyscallError) return { result: 'fail', msg: `mkstemp() failed (${fd.message})` };
      const u = attempt(() => p.unlink(name));
      if (u instanceof SyscallError) return { result: 'fail', msg: `unlink() failed (${u.message})` };
      return fd;
    },
  },
  // run_with_memfd_hugetlb, for each size
  ...hugetlbSizes.map(
    (size): Backing => ({
      name: `memfd hugetlb (${size / KiB} kB)`,
      size,
      open: (p) => {
        const flags = U.MFD_HUGETLB | (Math.log2(size) << U.MFD_HUGE_SHIFT);
        const fd = attempt(() => p.memfd_create('test', flags));
        return fd instanceof SyscallError ? { result: 'skip', msg: 'memfd_create() failed' } : fd;
      },
    }),
  ),
];

/**
 * The HugeTLB pools the test runs with: run_vmtests.sh sets nr_hugepages to
 * 256 MiB of the default size (needmem_KB) before gup_longterm; the 1 GiB
 * pages are the realkernel harness's (HUGE1G=2), with which real 6.12 passed
 * all 50 cases (results/6.12/gup_longterm.gup.tap).
 */
const POOLS: KernelOptions = { memory: '4GiB', hugetlb: { '2MiB': 128, '1GiB': 2 } };

function runCase(opts: KernelOptions, tc: (typeof testCases)[number], b: Backing): Outcome {
  const k = new Kernel({ ...POOLS, ...opts });
  const p = k.spawn();
  const gupFd = attempt(() => p.open(U.GUP_TEST_PATH, U.O_RDWR));
  const env: Env = { k, p, gupFd: gupFd instanceof SyscallError ? -1 : gupFd };
  const fd = b.open(p);
  const outcome = typeof fd === 'number' ? tc.fn(env, fd, b.size) : fd;
  if (typeof fd === 'number') p.close(fd);
  expect(k.check()).toEqual([]);
  p.exit();
  // Everything pinned was unpinned; nothing is left mapped or cached from the test.
  expect(k.vmstat().nr_foll_pin_acquired).toBe(k.vmstat().nr_foll_pin_released);
  expect(k.check()).toEqual([]);
  return outcome;
}

function suite(title: string, opts: KernelOptions, log?: KselftestLog): void {
  describe(title, () => {
    for (const tc of testCases) {
      for (const b of backings) {
        const name = `${tc.desc} ... with ${b.name}`;
        log?.plan(name);
        it(name, (ctx) => {
          const outcome = runCase(opts, tc, b);
          log?.record(name, outcome.result, outcome.msg);
          if (outcome.result === 'skip') ctx.skip(outcome.msg);
          expect(outcome.result).toBe('pass');
        });
      }
    }
    it('plans ARRAY_SIZE(test_cases) * (3 + nr_hugetlbsizes) tests', () => {
      expect(testCases.length * backings.length).toBe(10 * (3 + hugetlbSizes.length));
    });
    if (log === undefined) return;
    it('agrees with real Linux 6.12 case by case (results/6.12/gup_longterm.gup.tap: the same mounts, gup_test loaded)', (ctx) => {
      if (!log.complete()) ctx.skip('not every case ran (a filtered run)');
      log.writeIfAsked(log.tap());
      const a = compareVerdicts(log.results, parseKselftestTap(kernelOutput('gup_longterm.gup.tap')));
      expectAgreement(a);
      expect(a.agree).toBe(50);
    });
  });
}

// The realkernel guest's layout: /tmp on tmpfs, the working directory on ext4.
suite('gup_longterm (default mounts: /tmp on tmpfs, cwd on ext4)', {}, new KselftestLog('gup_longterm'));
suite('gup_longterm (/tmp on xfs)', { mounts: { '/': 'ext4', '/tmp': 'xfs' } });

describe('gup_longterm: the net expectation', () => {
  // R/W on shared ext4, xfs or btrfs must fail; everything else must succeed (gup.md §4.2).
  it('a writable long-term pin of a shared disk-file mapping is refused; tmpfs and private mappings are fine', () => {
    for (const fs of ['ext4', 'xfs', 'btrfs'] as const) {
      const k = new Kernel({ memory: '256MiB', mounts: { '/': fs } });
      const p = k.spawn();
      const gup = p.open(U.GUP_TEST_PATH, U.O_RDWR);
      const fd = p.open('/f', U.O_RDWR | U.O_CREAT, 0o600);
      p.ftruncate(fd, PAGESIZE);
      const shared = p.mmap(0, PAGESIZE, U.PROT_READ | U.PROT_WRITE, U.MAP_SHARED, fd, 0);
      p.fill(shared, PAGESIZE, 1);
      expect(() => p.ioctl(gup, U.PIN_LONGTERM_TEST_START, { addr: shared, size: PAGESIZE, flags: U.PIN_LONGTERM_TEST_FLAG_USE_WRITE })).toThrow(expect.objectContaining({ code: 'EFAULT' }));
      expect(p.ioctl(gup, U.PIN_LONGTERM_TEST_START, { addr: shared, size: PAGESIZE, flags: 0 })).toBe(0);
      p.ioctl(gup, U.PIN_LONGTERM_TEST_STOP);
      expect(k.check()).toEqual([]);
    }
  });
});
