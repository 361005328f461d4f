/**
 * Port of tools/testing/selftests/mm/gup_test.c as run_vmtests.sh runs it:
 * the default invocations (`-u -n 1`, `-u -n -1`, `-a -n 1`, `-a -n -1`, and
 * `-ct -F 0x1 0 19 0x1000`) and run_gup_matrix (RUN_ALL): THP on/off x
 * {-u, -U, -a, -b, -L} x {-w, -W} x {-S, private} x {-n 1, 512, 123, -1}.
 *
 * The program maps `size` (128 MiB) of /dev/zero, faults every page in from
 * user space, and runs one ioctl on /sys/kernel/debug/gup_test; the test
 * passes iff the ioctl returns 0 (ksft_test_result(!status)). The model has no
 * /dev/zero; its private mapping is anonymous memory and its shared mapping is
 * shared anonymous memory (mmap_zero / shmem_zero_setup), so those are mapped
 * directly. The port also checks what a kernel developer reads after the run:
 * no WARN from verify_dma_pinned in dmesg, and a clean kernel.check().
 *
 * The hugetlb row (`-H -m 256`) maps MAP_HUGETLB memory from a pool of 128
 * 2 MiB pages: run_vmtests.sh's needmem_KB (256 MiB) of the default size.
 */
import { afterEach, describe, expect, it } from 'vitest';

// The cases are long synchronous runs; let the worker's event loop take its
// RPC replies between them (vitest times a reply out after 60 s of not polling).
afterEach(() => new Promise<void>((resolve) => setImmediate(resolve)));
import { Kernel, type Process } from '../../../../../../src/index.js';
import * as U from '../../../../../../src/uapi/index.js';
import { KselftestLog, compareVerdicts, expectAgreement, kernelOutput, parseKselftestTap } from '../../../../kselftest.js';

const MB = 2 ** 20;
const PAGE = 4096;
/** The tool's own FOLL_WRITE ("copied from mm.h"). */
const FOLL_WRITE = 0x01;

interface Options {
  cmd: number;
  /** -n: pages per call; -1 means size / psize(). */
  nrPages: number;
  /** -t (true) / -T (false) / neither (null). */
  thp: boolean | null;
  /** -w (default) / -W. */
  write: boolean;
  /** -S. */
  shared: boolean;
  /** -F. */
  gupFlags: number;
  /** -H: MAP_HUGETLB | MAP_ANONYMOUS. */
  hugetlb: boolean;
  /** -c, -p and extra arguments. */
  whichPages: number[];
  testFlags: number;
  size: number;
}

function defaults(): Options {
  return { cmd: U.GUP_FAST_BENCHMARK, nrPages: 1, thp: null, write: true, shared: false, hugetlb: false, gupFlags: 0, whichPages: [], testFlags: 0, size: 128 * MB };
}

/** Parse gup_test's command line (the subset run_vmtests.sh uses). */
function parse(argv: string[]): Options {
  const o = defaults();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    switch (a) {
      case '-a': o.cmd = U.PIN_FAST_BENCHMARK; break;
      case '-b': o.cmd = U.PIN_BASIC_TEST; break;
      case '-L': o.cmd = U.PIN_LONGTERM_BENCHMARK; break;
      case '-U': o.cmd = U.GUP_BASIC_TEST; break;
      case '-u': o.cmd = U.GUP_FAST_BENCHMARK; break;
      case '-c': o.cmd = U.DUMP_USER_PAGES_TEST; o.whichPages[0] = 1; break;
      case '-ct': o.cmd = U.DUMP_USER_PAGES_TEST; o.whichPages[0] = 1; o.thp = true; break;
      case '-p': o.testFlags |= U.GUP_TEST_FLAG_DUMP_PAGES_USE_PIN; break;
      case '-t': o.thp = true; break;
      case '-T': o.thp = false; break;
      case '-w': o.write = true; break;
      case '-W': o.write = false; break;
      case '-S': o.shared = true; break;
      case '-H': o.hugetlb = true; break;
      case '-F': o.gupFlags = Number(argv[++i]); break;
      case '-m': o.size = Number(argv[++i]) * MB; break;
      case '-n': {
        o.nrPages = Number(argv[++i]);
        if (o.nrPages < 0) o.nrPages = o.size / PAGE;
        break;
      }
      default: rest.push(a);
    }
  }
  // Extra arguments: 0-based page indices to dump, stored 1-based.
  rest.slice(0, U.GUP_TEST_MAX_PAGES_TO_DUMP).forEach((s, k) => (o.whichPages[k] = Number(s) + 1));
  return o;
}

/** main() and gup_thread() for one thread and one repeat: the ioctl status and the struct after it. */
function runGupTest(p: Process, o: Options): { status: number; gup: U.GupTest } {
  const gup: U.GupTest = { addr: 0, size: 0, nr_pages_per_call: o.nrPages, gup_flags: o.gupFlags | (o.write ? FOLL_WRITE : 0), test_flags: o.testFlags, which_pages: [...o.whichPages] };
  const gupFd = p.open(U.GUP_TEST_PATH, U.O_RDWR);
  const flags = (o.shared ? U.MAP_SHARED | U.MAP_ANONYMOUS : U.MAP_PRIVATE | U.MAP_ANONYMOUS) | (o.hugetlb ? U.MAP_HUGETLB : 0);
  const addr = p.mmap(0, o.size, U.PROT_READ | U.PROT_WRITE, flags, -1, 0);
  gup.addr = addr;
  if (o.thp === true) p.madvise(addr, o.size, U.MADV_HUGEPAGE);
  else if (o.thp === false) p.madvise(addr, o.size, U.MADV_NOHUGEPAGE);
  // Fault them in here, from user space: p[0] = 0 for each page.
  const zero = new Uint8Array(1);
  for (let a = addr; a < addr + o.size; a += PAGE) p.write(a, zero);
  gup.size = o.size;
  let status = 0;
  try {
    p.ioctl(gupFd, o.cmd, gup);
  } catch (e) {
    status = -1;
    if (!(e instanceof Error)) throw e;
  }
  p.close(gupFd);
  return { status, gup };
}

function check(argv: string, kernel?: Kernel): void {
  const k = kernel ?? new Kernel({ memory: '1GiB', thp: 'madvise' });
  const p = k.spawn();
  const o = parse(argv.split(/\s+/).filter((s) => s !== ''));
  const { status, gup } = runGupTest(p, o);
  expect(status).toBe(0);
  // The whole range was handled (the tool prints "truncated" otherwise).
  expect(gup.size).toBe(o.size);
  expect(k.dmesg().filter((l) => l.startsWith('WARNING'))).toEqual([]);
  expect(k.check()).toEqual([]);
  p.exit();
  expect(k.check()).toEqual([]);
}

describe('gup_test as results/6.12/gup_test.gup.tap ran it (no arguments: GUP_FAST_BENCHMARK, 128 MiB)', () => {
  it('agrees with real Linux 6.12: ok 1 ioctl status 0', () => {
    const log = new KselftestLog('gup_test');
    const k = new Kernel({ memory: '1GiB', thp: 'madvise' });
    const p = k.spawn();
    const { status } = runGupTest(p, parse([]));
    // ksft_test_result(!status, "ioctl status %d\n", status): the message names the status.
    log.plan(`ioctl status ${status}`);
    log.record(`ioctl status ${status}`, status === 0 ? 'pass' : 'fail', `ioctl status ${status}`);
    log.writeIfAsked(log.tap());
    expect(k.check()).toEqual([]);
    p.exit();
    const a = compareVerdicts(log.results, parseKselftestTap(kernelOutput('gup_test.gup.tap')));
    expectAgreement(a);
    expect(a.agree).toBe(1);
  });
});

describe('gup_test (run_vmtests.sh)', () => {
  it('gup_test -u -n 1', () => check('-u -n 1'));
  it('gup_test -u -n -1', () => check('-u -n -1'));
  it('gup_test -a -n 1', () => check('-a -n 1'));
  it('gup_test -a -n -1', () => check('-a -n -1'));
  it('gup_test -ct -F 0x1 0 19 0x1000', () => {
    const k = new Kernel({ memory: '1GiB', thp: 'madvise' });
    check('-ct -F 0x1 0 19 0x1000', k);
    // Pages 0, 19 and 4096 were dumped, in that order.
    const dumps = k.dmesg().filter((l) => l.startsWith('---- page #'));
    expect(dumps.map((l) => l.split(',')[0])).toEqual(['---- page #0', '---- page #19', '---- page #4096']);
    expect(k.dmesg().filter((l) => l === 'page dumped because: gup_test: dump_pages() test')).toHaveLength(3);
  });
});

describe('gup_test run_gup_matrix', () => {
  for (const huge of ['-t', '-T', '-H -m 256'])
    for (const cmd of ['-u', '-U', '-a', '-b', '-L'])
      for (const write of ['-w', '-W'])
        for (const share of ['-S', ''])
          for (const num of ['-n 1', '-n 512', '-n 123', '-n -1']) {
            const argv = `${huge} ${cmd} ${write} ${share} ${num}`.replace(/\s+/g, ' ');
            // run_vmtests.sh gives the -H row 256 MiB of 2 MiB pages.
            if (huge.startsWith('-H')) it(`gup_test ${argv}`, () => check(argv, new Kernel({ memory: '1GiB', thp: 'madvise', hugetlb: { '2MiB': 128 } })));
            else it(`gup_test ${argv}`, () => check(argv));
          }
});
