/**
 * Port of the Linux selftest tools/testing/selftests/mm/cow.c (COW after fork).
 *
 * The case tables, memory types, their order and the test names follow cow.c's
 * main(): every it() is named exactly as cow.c's TAP result line prints the test
 * ("<case> ... with <memory type>"). The code is an independent rewrite for the
 * simulator (see /work/notes/cow_selftest.md for the behaviour being ported).
 *
 * Processes in the model run sequentially, so cow.c's fork + pipe handshake
 * becomes straight-line code in the same order: the child takes its snapshot
 * (child_ready), the parent modifies its memory (parent_ready), then the child
 * compares. A child's exit status carries its verdict exactly as in cow.c.
 *
 * Every case runs on a fresh Kernel and must leave kernel.check() empty.
 */
import { afterEach, describe, expect, it } from 'vitest';

// The cases are long synchronous runs; let the worker's event loop take its
// RPC replies between them (vitest times a reply out after 60 s of not polling).
afterEach(() => new Promise<void>((resolve) => setImmediate(resolve)));
import { Kernel, type Process, SyscallError } from '../../../../../../src/index.js';
import * as U from '../../../../../../src/uapi/index.js';
import { type Allowed, KselftestLog, compareVerdicts, expectAgreement, kernelOutput, parseKselftestTap, strerror } from '../../../../kselftest.js';

// ---------------------------------------------------------------------------
// Outcomes, in kselftest terms.

/** A case's verdict and the message cow.c prints with it (pass included: "ok 1 No leak from parent into child"). */
type Outcome = { result: 'pass' | 'fail' | 'skip' | 'xfail'; msg: string };

const pass = (msg: string): Outcome => ({ result: 'pass', msg });
/** ksft_test_result(cond, msg): the same message whatever the verdict. */
const resultIf = (ok: boolean, msg: string): Outcome => ({ result: ok ? 'pass' : 'fail', msg });

/** Thrown to end a case early with a verdict (cow.c's "goto close/out" paths). */
class Verdict extends Error {
  constructor(readonly outcome: Outcome) {
    super(outcome.result === 'pass' ? 'pass' : `${outcome.result}: ${outcome.msg}`);
  }
}

function fail(msg: string): never {
  throw new Verdict({ result: 'fail', msg });
}

function skip(msg: string): never {
  throw new Verdict({ result: 'skip', msg });
}

/** Run a syscall; a failing syscall fails the case with cow.c's message (plus perror-style detail). */
function sys<T>(msg: string, call: () => T): T {
  try {
    return call();
  } catch (e) {
    if (e instanceof SyscallError) fail(`${msg}: ${e.message}`);
    throw e;
  }
}

/** Like sys(), but returns the SyscallError instead of failing. */
function attempt<T>(call: () => T): T | SyscallError {
  try {
    return call();
  } catch (e) {
    if (e instanceof SyscallError) return e;
    throw e;
  }
}

// ---------------------------------------------------------------------------
// Small helpers.

const RW = U.PROT_READ | U.PROT_WRITE;
const PRIV_ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;
const KiB = 1024;

/**
 * memcmp(): 0 when equal, otherwise the sign of the first differing byte (or
 * of the length difference), as Node's native compare gives it.
 */
function memcmp(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/** Bytes read from the model per p.read() when a whole area is copied or checked. */
const READ_CHUNK = 64 * KiB;

/** A 4 KiB page of the byte v, kept for comparisons. */
const uniformPages: Buffer[] = [];
function uniformPage(v: number): Buffer {
  return (uniformPages[v] ??= Buffer.alloc(PAGESIZE, v));
}

/**
 * The bytes of an area, exactly but compactly: the byte of each 4 KiB page
 * that holds one value throughout, a copy of any other page. cow.c memcpy()s
 * and memcmp()s whole areas up to a 1 GiB HugeTLB page; a JS copy of one is
 * 1 GiB of fresh memory to fault in (seconds on a virtual machine, several
 * times per case), while nearly every page of these tests holds one value.
 */
class MemImage {
  /** Per page: its one byte, or -1 if the page is in `copies`. */
  private readonly uniform: Int16Array;
  private readonly copies = new Map<number, Uint8Array>();

  constructor(readonly length: number) {
    this.uniform = new Int16Array(Math.ceil(length / PAGESIZE));
  }

  /** Record bytes as the area's content from offset off (a multiple of the page size). */
  put(off: number, bytes: Uint8Array): void {
    for (let at = 0; at < bytes.length; at += PAGESIZE) {
      const page = bytes.subarray(at, Math.min(bytes.length, at + PAGESIZE));
      const i = (off + at) / PAGESIZE;
      if (Buffer.compare(page, uniformPage(page[0]!).subarray(0, page.length)) === 0) this.uniform[i] = page[0]!;
      else {
        this.uniform[i] = -1;
        this.copies.set(i, page.slice());
      }
    }
  }

  /** Page i's bytes (the part inside the area). */
  page(i: number): Uint8Array {
    const n = Math.min(PAGESIZE, this.length - i * PAGESIZE);
    const u = this.uniform[i]!;
    return u >= 0 ? uniformPage(u).subarray(0, n) : this.copies.get(i)!;
  }

  /** Page i's byte if it holds one value throughout, else -1. */
  byte(i: number): number {
    return this.uniform[i]!;
  }

  get pages(): number {
    return this.uniform.length;
  }
}

/** memcpy(): the image of n bytes at addr, as p reads them now. */
function readImage(p: Process, addr: number, n: number): MemImage {
  const img = new MemImage(n);
  for (let off = 0; off < n; off += READ_CHUNK) img.put(off, p.read(addr + off, Math.min(READ_CHUNK, n - off)));
  return img;
}

/** The image of a buffer. */
function imageOf(buf: Uint8Array): MemImage {
  const img = new MemImage(buf.length);
  img.put(0, buf);
  return img;
}

/** memcmp() of two images (of their first n bytes if n is given: both must hold that many). */
function memcmpImages(a: MemImage, b: MemImage, n?: number): number {
  const len = n ?? Math.min(a.length, b.length);
  for (let i = 0; i * PAGESIZE < len; i++) {
    const ua = a.byte(i);
    const ub = b.byte(i);
    // Two one-value pages: their first bytes decide (the length cut below cannot split a page with equal bytes).
    if (ua >= 0 && ub >= 0) {
      if (ua !== ub) return ua < ub ? -1 : 1;
      continue;
    }
    const k = Math.min(PAGESIZE, len - i * PAGESIZE);
    const c = Buffer.compare(a.page(i).subarray(0, k), b.page(i).subarray(0, k));
    if (c !== 0) return c;
  }
  return n !== undefined || a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** Every byte of the image is value. */
function imageAllBytes(img: MemImage, value: number): boolean {
  for (let i = 0; i < img.pages; i++) {
    if (img.byte(i) === value) continue;
    if (img.byte(i) >= 0 || Buffer.compare(img.page(i), uniformPage(value).subarray(0, img.page(i).length)) !== 0) return false;
  }
  return true;
}

/** Every byte of buf is value (compared natively, 1 MiB at a time). */
function allBytes(buf: Uint8Array, value: number): boolean {
  const chunk = 2 ** 20;
  const ref = Buffer.alloc(Math.min(chunk, buf.length), value);
  for (let off = 0; off < buf.length; off += chunk) {
    const part = buf.subarray(off, Math.min(buf.length, off + chunk));
    if (Buffer.compare(part, ref.subarray(0, part.length)) !== 0) return false;
  }
  return true;
}

/** Every byte of the n bytes at addr is value, as p reads them (a chunk at a time). */
function allBytesAt(p: Process, addr: number, n: number, value: number): boolean {
  for (let off = 0; off < n; off += READ_CHUNK) if (!allBytes(p.read(addr + off, Math.min(READ_CHUNK, n - off)), value)) return false;
  return true;
}

function alignDown(x: number, a: number): number {
  return Math.floor(x / a) * a;
}

/** Bits of a raw pagemap entry, as vm_util reads them. */
const PM_PRESENT = 1n << 63n;
const PM_SWAP = 1n << 62n;

/** vm_util's pagemap_is_swapped, cross-checked against the decoded view (like its PAGEMAP_SCAN cross-check). */
function pagemapIsSwapped(p: Process, addr: number): boolean {
  const e = p.pagemap(addr);
  const swapped = (e.raw & PM_SWAP) !== 0n;
  expect(e.swapped).toBe(swapped);
  return swapped;
}

/** vm_util's pagemap_is_populated: present or swapped. */
function pagemapIsPopulated(p: Process, addr: number): boolean {
  const e = p.pagemap(addr);
  const present = (e.raw & PM_PRESENT) !== 0n;
  expect(e.present).toBe(present);
  return present || pagemapIsSwapped(p, addr);
}

/** cow.c's range_is_swapped: every page of the range has the swap bit. */
function rangeIsSwapped(env: Env, addr: number, size: number): boolean {
  for (let a = addr; a < addr + size; a += env.pagesize) {
    if (!pagemapIsSwapped(env.p, a)) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// System properties, detected the way cow.c's main() does, on a probe kernel.

const THP_SYSFS = '/sys/kernel/mm/transparent_hugepage';

function readSysfs(k: Kernel, path: string): string | null {
  const r = attempt(() => k.readSysfs(path));
  return r instanceof SyscallError ? null : r;
}

/** getpagesize(): the model is x86-64 with 4 KiB base pages. */
const PAGESIZE = 4096;

/** read_pmd_pagesize(): transparent_hugepage/hpage_pmd_size (0 if it cannot be read). */
function readPmdPagesize(k: Kernel): number {
  const s = readSysfs(k, `${THP_SYSFS}/hpage_pmd_size`);
  return s === null ? 0 : Number.parseInt(s, 10);
}

/** Per-size (mTHP) enabled file for a THP size. */
function thpSizeEnabledPath(size: number): string {
  return `${THP_SYSFS}/hugepages-${size / KiB}kB/enabled`;
}

/** detect_thp_sizes(): the PMD size plus every size whose per-size sysfs directory exists, ascending. */
function detectThpSizes(k: Kernel, pmdsize: number): number[] {
  const pmdOrder = Math.log2(pmdsize / PAGESIZE);
  const sizes: number[] = [];
  for (let order = 0; order <= Math.max(pmdOrder, 20); order++) {
    const size = PAGESIZE * 2 ** order;
    if (order === pmdOrder || readSysfs(k, thpSizeEnabledPath(size)) !== null) sizes.push(size);
  }
  return sizes;
}

/**
 * detect_hugetlb_page_sizes(): the entries of /sys/kernel/mm/hugepages. The model
 * does not expose that directory; it registers x86-64's two hstates
 * (hugepages-2048kB and hugepages-1048576kB), so those are listed here.
 */
function detectHugetlbPageSizes(): number[] {
  return [2 * 1024 * KiB, 1024 * 1024 * KiB];
}

/** detect_huge_zeropage(): use_zero_page reads as 1. */
function detectHugeZeropage(k: Kernel): boolean {
  const s = readSysfs(k, `${THP_SYSFS}/use_zero_page`);
  return s !== null && Number.parseInt(s, 10) === 1;
}

const probe = new Kernel({ memory: '16MiB', thp: 'always' });
const pmdsize = readPmdPagesize(probe);
const thpSizes = pmdsize ? detectThpSizes(probe, pmdsize) : [];
const hugetlbSizes = detectHugetlbPageSizes();
const hugeZeropage = detectHugeZeropage(probe);

// ---------------------------------------------------------------------------
// The per-case environment: a fresh kernel and the test process.

interface Env {
  k: Kernel;
  p: Process;
  pagesize: number;
  /** main()'s gup_fd: /sys/kernel/debug/gup_test, or -1 if it did not open. */
  gupFd: number;
}

/** The swap the real run had: run-selftests.sh -c gupmod sets SWAP=1G, a zram device. */
const SWAP_SIZE = '1GiB';

function newEnv(): Env {
  // cow.c's main() pushes THP settings with the PMD order set to "inherit";
  // the global setting under test is "always". HugeTLB pools as the test runs
  // with: run_vmtests.sh sets 256 MiB of the default size (needmem_KB), the
  // realkernel harness two 1 GiB pages (HUGE1G=2).
  const k = new Kernel({ memory: '4GiB', thp: 'always', hugetlb: { '2MiB': 128, '1GiB': 2 }, swap: SWAP_SIZE });
  const p = k.spawn();
  // gup_fd = open("/sys/kernel/debug/gup_test", O_RDWR); a failure only makes the R/O pin tests skip.
  const gupFd = attempt(() => p.open(U.GUP_TEST_PATH, U.O_RDWR));
  return { k, p, pagesize: PAGESIZE, gupFd: gupFd instanceof SyscallError ? -1 : gupFd };
}

/** Every test name registered, to compare with cow.c's ksft_set_plan(). */
const registered: string[] = [];

/** The verdicts, in cow.c's order, for the comparison with real 6.12 and for `npm run selftests -- --tap cow`. */
const log = new KselftestLog('cow');

/**
 * The cases real 6.12 reports as XFAIL (results/6.12/cow.gup.tap): hugetlb
 * has no unsharing for R/O FOLL_GET references, so vmsplice leaks. Every
 * other case must pass.
 */
const XFAIL_612 = new Set(
  ['vmsplice() + unmap in child', 'vmsplice() + unmap in child with mprotect() optimization', 'vmsplice() before fork(), unmap in parent after fork()', 'vmsplice() + unmap in parent after fork()'].flatMap(
    (c) => [`${c} ... with hugetlb (2048 kB)`, `${c} ... with hugetlb (1048576 kB)`],
  ),
);

/** Where the model may not give 6.12's verdict yet (docs/FIDELITY.md). */
const COW_ALLOWED: Allowed[] = [];

/**
 * Register one cow.c test case: run it on a fresh kernel, require a consistent
 * kernel afterwards, report a skip through vitest and otherwise require a pass.
 */
function cowCase(name: string, body: (env: Env) => Outcome): void {
  registered.push(name);
  log.plan(name);
  it(name, (ctx) => {
    const env = newEnv();
    let outcome: Outcome;
    try {
      outcome = body(env);
    } catch (e) {
      if (!(e instanceof Verdict)) throw e;
      outcome = e.outcome;
    }
    expect(env.k.check()).toEqual([]);
    env.p.exit();
    expect(env.k.processes()).toEqual([]);
    expect(env.k.check()).toEqual([]);
    log.record(name, outcome.result, outcome.msg);
    if (outcome.result === 'skip') ctx.skip(outcome.msg);
    if (XFAIL_612.has(name)) expect(outcome).toEqual({ result: 'xfail', msg: expect.stringMatching(/^Leak from/) });
    else expect(outcome.result).toBe('pass');
  });
}

/**
 * A case that cannot run in this model yet: registered under its cow.c name
 * and skipped; the reason is also shown in the enclosing describe title.
 */
function cowCaseSkipped(name: string, reason: string): void {
  registered.push(name);
  log.plan(name);
  log.record(name, 'skip', reason);
  it.skip(name, () => {
    throw new Error(reason);
  });
}

// ---------------------------------------------------------------------------
// Layout checks (extra assertions, not in cow.c): the memory really has the
// shape the memory type's name claims.

function folioOf(env: Env, addr: number) {
  const e = env.p.pagemap(addr);
  expect(e.present).toBe(true);
  const f = env.k.folio(e.pfn);
  expect(f).not.toBeNull();
  return { entry: e, folio: f! };
}

/** [addr, addr+size) is backed by one folio of folioSize bytes (default: size), PTE-mapped page by page. */
function expectPteMappedThp(env: Env, addr: number, size: number, folioSize = size): void {
  const head = folioOf(env, addr).folio.head;
  for (let a = addr; a < addr + size; a += env.pagesize) {
    const { entry, folio } = folioOf(env, a);
    expect(entry.mappedBy).toBe(env.pagesize);
    expect(folio.head).toBe(head);
    expect(folio.nrPages * env.pagesize).toBe(folioSize);
  }
}

// ---------------------------------------------------------------------------
// Anonymous memory: the test functions (cow.c's anon_test_cases[].fn).

type AnonTestFn = (env: Env, mem: number, size: number, isHugetlb: boolean) => Outcome;

/**
 * A child function of do_test_cow_in_parent, split at the handshake: the part
 * before child_ready (start: it snapshots [mem, mem+size)), and the part after
 * parent_ready (finish: the child's exit status, 0 when no leak was seen).
 */
interface MemcmpChild {
  snapshot: MemImage;
  finish(): number;
}

type ChildFn = (child: Process, mem: number, size: number) => MemcmpChild;

/** child_memcmp_fn: compare the snapshot with what the child sees now. */
function childMemcmpStart(child: Process, mem: number, size: number): MemcmpChild {
  const snapshot = readImage(child, mem, size);
  return {
    snapshot,
    finish: () => memcmpImages(snapshot, readImage(child, mem, size)) & 0xff,
  };
}

/** A child that returned -errno before the handshake: its exit status. */
function childReturned(snapshot: MemImage, ret: number): MemcmpChild {
  return { snapshot, finish: () => ret & 0xff };
}

/**
 * child_vmsplice_memcmp_fn: vmsplice [mem, mem+size) into a pipe (a R/O GUP
 * reference), unmap it, and after the parent's write compare what the pipe
 * delivers with the snapshot.
 */
function childVmspliceMemcmpStart(child: Process, mem: number, size: number): MemcmpChild {
  const old = readImage(child, mem, size);
  const fds = attempt(() => child.pipe());
  if (fds instanceof SyscallError) return childReturned(old, -fds.errno);
  // Trigger a read-only pin.
  const transferred = attempt(() => child.vmsplice(fds[1], { iov_base: mem, iov_len: size }, 1, 0));
  if (transferred instanceof SyscallError) return childReturned(old, -transferred.errno);
  if (transferred === 0) return childReturned(old, -U.errno.EINVAL);
  // Extra: a pipe takes 16 pages (PIPE_DEF_BUFFERS) at most.
  expect(transferred).toBe(Math.min(size, 16 * PAGESIZE));
  // Unmap it from our page tables.
  const r = attempt(() => child.munmap(mem, size));
  if (r instanceof SyscallError) return childReturned(old, -r.errno);
  return {
    snapshot: old,
    finish: () => {
      // See if we still read the old values via the pipe (cow.c's buffer is size bytes; only these are read).
      const neu = new Uint8Array(transferred);
      for (let total = 0; total < transferred; ) {
        const cur = attempt(() => child.sysread(fds[0], neu.subarray(total), transferred - total));
        if (cur instanceof SyscallError) return -cur.errno & 0xff;
        total += cur;
      }
      return memcmpImages(old, imageOf(neu), transferred) & 0xff;
    },
  };
}

/** do_test_cow_in_parent. */
function doTestCowInParent(env: Env, mem: number, size: number, doMprotect: boolean, fn: ChildFn, xfail: boolean): Outcome {
  const { p } = env;
  const child = sys('fork() failed', () => p.fork());
  let status = 0;
  try {
    const c = fn(child, mem, size); // child_ready
    // Extra: every runner fills the memory with 1 before the test.
    expect(imageAllBytes(c.snapshot, 1)).toBe(true);
    if (doMprotect) {
      const r1 = attempt(() => p.mprotect(mem, size, U.PROT_READ));
      const r2 = r1 instanceof SyscallError ? r1 : attempt(() => p.mprotect(mem, size, RW));
      if (r2 instanceof SyscallError) {
        status = c.finish();
        fail(`mprotect() failed: ${r2.message}`);
      }
    }
    p.fill(mem, size, 0xff); // then parent_ready
    // Extra: the parent's own write landed.
    expect(allBytesAt(p, mem, size, 0xff)).toBe(true);
    status = c.finish();
  } finally {
    child.exit(status);
  }
  if (child.exitCode === 0) return pass('No leak from parent into child');
  const msg = 'Leak from parent into child';
  return xfail ? { result: 'xfail', msg } : { result: 'fail', msg };
}

const testCow: AnonTestFn = (env, mem, size) => doTestCowInParent(env, mem, size, false, childMemcmpStart, false);
const testCowMprotect: AnonTestFn = (env, mem, size) => doTestCowInParent(env, mem, size, true, childMemcmpStart, false);
const testVmspliceInChild: AnonTestFn = (env, mem, size, isHugetlb) => doTestCowInParent(env, mem, size, false, childVmspliceMemcmpStart, isHugetlb);
const testVmspliceInChildMprotect: AnonTestFn = (env, mem, size, isHugetlb) => doTestCowInParent(env, mem, size, true, childVmspliceMemcmpStart, isHugetlb);

/** Read exactly n bytes from a pipe (cow.c's read loops); null if a read failed. */
function readAll(p: Process, fd: number, n: number): Uint8Array | null {
  const out = new Uint8Array(n);
  for (let total = 0; total < n; ) {
    const cur = attempt(() => p.sysread(fd, out.subarray(total), n - total));
    if (cur instanceof SyscallError) return null;
    total += cur;
  }
  return out;
}

/** do_test_vmsplice_in_parent: vmsplice in the parent, unmap there, the child writes. */
function doTestVmspliceInParent(env: Env, mem: number, size: number, beforeFork: boolean, xfail: boolean): Outcome {
  const { p } = env;
  const iov = { iov_base: mem, iov_len: size };
  const old = readImage(p, mem, size);
  const fds = attempt(() => p.pipe());
  if (fds instanceof SyscallError) fail('pipe() failed');
  try {
    let transferred = 0;
    const splice = (): void => {
      const t = attempt(() => p.vmsplice(fds[1], iov, 1, 0));
      if (t instanceof SyscallError || t <= 0) fail('vmsplice() failed');
      transferred = t;
    };
    if (beforeFork) splice();
    const child = sys('fork() failed', () => p.fork());
    try {
      if (!beforeFork) splice();
      // child_ready: the parent unmaps, then lets the child write.
      if (attempt(() => p.munmap(mem, size)) instanceof SyscallError) fail('munmap() failed');
      // Modify page content in the child.
      child.fill(mem, size, 0xff);
      // Extra: the child's write landed.
      expect(allBytesAt(child, mem, size, 0xff)).toBe(true);
    } finally {
      child.exit(0);
    }
    // Extra: a pipe takes 16 pages (PIPE_DEF_BUFFERS) at most.
    expect(transferred).toBe(Math.min(size, 16 * PAGESIZE));
    // See if we still read the old values.
    const neu = readAll(p, fds[0], transferred);
    if (neu === null) fail('read() failed');
    if (memcmpImages(old, imageOf(neu), transferred) === 0) return pass('No leak from child into parent');
    const msg = 'Leak from child into parent';
    return xfail ? { result: 'xfail', msg } : { result: 'fail', msg };
  } finally {
    p.close(fds[0]);
    p.close(fds[1]);
  }
}

const testVmspliceBeforeFork: AnonTestFn = (env, mem, size, isHugetlb) => doTestVmspliceInParent(env, mem, size, true, isHugetlb);
const testVmspliceAfterFork: AnonTestFn = (env, mem, size, isHugetlb) => doTestVmspliceInParent(env, mem, size, false, isHugetlb);

/**
 * libc tmpfile(): open(P_tmpdir, O_RDWR | O_TMPFILE | O_EXCL, 0600), an
 * unnamed file on the file system of /tmp. Returns the descriptor or the
 * error.
 */
function tmpfile(p: Process): number | SyscallError {
  return attempt(() => p.open('/tmp', U.O_TMPFILE | U.O_RDWR | U.O_EXCL, 0o600));
}

/**
 * tmpfile() for the io_uring cases, where the file only carries the bytes
 * written from the pinned pages back to pread(): a model without a /tmp
 * (ENOENT) gets a memfd instead. -1 if neither can be made.
 */
function tmpfileOrMemfd(p: Process): number {
  const fd = tmpfile(p);
  if (!(fd instanceof SyscallError)) return fd;
  if (fd.code !== 'ENOENT') return -1;
  const m = attempt(() => p.memfd_create('tmpfile', 0));
  return m instanceof SyscallError ? -1 : m;
}

/**
 * vm_util's clear_softdirty(): write "4" to /proc/self/clear_refs, so that
 * mprotect(PROT_READ|PROT_WRITE) leaves the pages R/O and the next write
 * faults (except pinned pages, which clear_refs leaves alone).
 */
function clearSoftdirty(p: Process): void {
  p.clear_refs('4');
}

/** do_test_iouring: a R/W long-term pin through io_uring fixed buffers. */
function doTestIouring(env: Env, mem: number, size: number, useFork: boolean): Outcome {
  const { p } = env;
  const fd = tmpfileOrMemfd(p);
  if (fd < 0) fail('tmpfile() failed');
  try {
    // cow.c's tmp buffer, kept as an image (the file is read back a chunk at a time).
    const tmp = new MemImage(size);
    const buf = new Uint8Array(READ_CHUNK);
    // Skip on errors, as we might just lack kernel support.
    const ring = attempt(() => p.io_uring_setup(1, {}));
    if (ring instanceof SyscallError) skip('io_uring_queue_init() failed');
    try {
      // Register the range as a fixed buffer: FOLL_WRITE | FOLL_PIN | FOLL_LONGTERM.
      const reg = attempt(() => p.io_uring_register(ring, U.IORING_REGISTER_BUFFERS, [{ iov_base: mem, iov_len: size }], 1));
      if (reg instanceof SyscallError) skip('io_uring_register_buffers() failed');
      let child: Process | null = null;
      try {
        if (useFork) {
          // fork() and keep the child alive until we're done: the pinned pages must not be shared with it.
          child = sys('fork() failed', () => p.fork());
        } else {
          // Map the page R/O into the page table, so the next write faults.
          const r1 = attempt(() => p.mprotect(mem, size, U.PROT_READ));
          clearSoftdirty(p);
          const r2 = attempt(() => p.mprotect(mem, size, RW));
          if (r1 instanceof SyscallError || r2 instanceof SyscallError) fail('mprotect() failed');
        }
        // Modify the page and write what the fixed buffer pin observes to the file.
        p.fill(mem, size, 0xff);
        const res = attempt(() => p.io_uring_write_fixed(ring, fd, mem, size, 0, 0));
        if (res instanceof SyscallError) fail('io_uring_submit() failed');
        if (res !== size) fail('write_fixed failed');
        // Read back the file content to the temporary buffer.
        for (let total = 0; total < size; ) {
          const want = Math.min(READ_CHUNK, size - total);
          for (let got = 0; got < want; ) {
            const cur = attempt(() => p.pread(fd, buf.subarray(got), want - got, total + got));
            if (cur instanceof SyscallError) fail('pread() failed');
            // Extra: end of file before size bytes would loop forever in cow.c.
            if (cur === 0) fail('pread() failed');
            got += cur;
          }
          tmp.put(total, buf.subarray(0, want));
          total += want;
        }
        // Extra: the parent's write landed where it reads.
        expect(allBytesAt(p, mem, size, 0xff)).toBe(true);
        if (child !== null) {
          // Extra: the child got its own copy, untouched by the parent's write.
          expect(allBytesAt(child, mem, size, 1)).toBe(true);
        }
        // Finally, check if we read what we expected.
        return resultIf(memcmpImages(readImage(p, mem, size), tmp) === 0, 'Longterm R/W pin is reliable');
      } finally {
        child?.exit(0);
        attempt(() => p.io_uring_register(ring, U.IORING_UNREGISTER_BUFFERS, 0, 0));
      }
    } finally {
      p.close(ring);
    }
  } finally {
    p.close(fd);
  }
}

const testIouringRo: AnonTestFn = (env, mem, size) => doTestIouring(env, mem, size, false);
const testIouringFork: AnonTestFn = (env, mem, size) => doTestIouring(env, mem, size, true);

type RoPinTest = 'ro' | 'shared' | 'previously_shared' | 'ro_exclusive';

/** do_test_ro_pin: a R/O long-term pin through gup_test must see the process's later writes. */
function doTestRoPin(env: Env, mem: number, size: number, test: RoPinTest, fast: boolean): Outcome {
  const { p, gupFd } = env;
  if (gupFd < 0) skip('gup_test not available');
  // tmp = malloc(size): user memory PIN_LONGTERM_TEST_READ copies the pinned pages to.
  const tmp = sys('malloc() failed', () => p.mmap(0, size, RW, PRIV_ANON, -1, 0));
  let child: Process | null = null;
  try {
    switch (test) {
      case 'ro':
        break;
      case 'shared':
      case 'previously_shared':
        // Share the pages with our child. As the pages are not pinned, this should just work.
        child = sys('fork() failed', () => p.fork());
        if (test === 'previously_shared') {
          // The pages stay mapped R/O in our page tables, but are no longer shared.
          child.exit(0);
          child = null;
        }
        break;
      case 'ro_exclusive': {
        // Map the page R/O into the page table.
        const r1 = attempt(() => p.mprotect(mem, size, U.PROT_READ));
        clearSoftdirty(p);
        const r2 = attempt(() => p.mprotect(mem, size, RW));
        if (r1 instanceof SyscallError || r2 instanceof SyscallError) fail('mprotect() failed');
        break;
      }
    }
    // Take a R/O pin. This should trigger unsharing.
    const args = { addr: mem, size, flags: fast ? U.PIN_LONGTERM_TEST_FLAG_USE_FAST : 0 };
    const r = attempt(() => p.ioctl(gupFd, U.PIN_LONGTERM_TEST_START, args));
    if (r instanceof SyscallError) {
      if (r.code === 'EINVAL') skip('PIN_LONGTERM_TEST_START failed');
      fail('PIN_LONGTERM_TEST_START failed');
    }
    try {
      // Modify the page.
      p.fill(mem, size, 0xff);
      // Read back the content via the pin and test if we observed the modification.
      if (attempt(() => p.ioctl(gupFd, U.PIN_LONGTERM_TEST_READ, tmp)) instanceof SyscallError) fail('PIN_LONGTERM_TEST_READ failed');
      // Extra: the write landed, and a child that still shares the old pages does not see it.
      expect(allBytesAt(p, mem, size, 0xff)).toBe(true);
      if (child !== null) expect(allBytesAt(child, mem, size, 0xff)).toBe(false);
      return resultIf(memcmpImages(readImage(p, mem, size), readImage(p, tmp, size)) === 0, 'Longterm R/O pin is reliable');
    } finally {
      // A failing STOP is only logged.
      attempt(() => p.ioctl(gupFd, U.PIN_LONGTERM_TEST_STOP));
    }
  } finally {
    child?.exit(0);
    p.munmap(tmp, size);
  }
}

const testRoPinOnShared: AnonTestFn = (env, mem, size) => doTestRoPin(env, mem, size, 'shared', false);
const testRoFastPinOnShared: AnonTestFn = (env, mem, size) => doTestRoPin(env, mem, size, 'shared', true);
const testRoPinOnRoPreviouslyShared: AnonTestFn = (env, mem, size) => doTestRoPin(env, mem, size, 'previously_shared', false);
const testRoFastPinOnRoPreviouslyShared: AnonTestFn = (env, mem, size) => doTestRoPin(env, mem, size, 'previously_shared', true);
const testRoPinOnRoExclusive: AnonTestFn = (env, mem, size) => doTestRoPin(env, mem, size, 'ro_exclusive', false);
const testRoFastPinOnRoExclusive: AnonTestFn = (env, mem, size) => doTestRoPin(env, mem, size, 'ro_exclusive', true);

// ---------------------------------------------------------------------------
// Anonymous memory: the runners (memory types).

/** do_run_with_base_page */
function runWithBasePage(env: Env, fn: AnonTestFn, swapout: boolean): Outcome {
  const { p, pagesize } = env;
  const mem = sys('mmap() failed', () => p.mmap(0, pagesize, RW, PRIV_ANON, -1, 0));
  try {
    const r = attempt(() => p.madvise(mem, pagesize, U.MADV_NOHUGEPAGE));
    // EINVAL only means the kernel lacks the advice.
    if (r instanceof SyscallError && r.code !== 'EINVAL') fail(`MADV_NOHUGEPAGE failed: ${r.message}`);
    p.fill(mem, pagesize, 1);
    // Extra: a small folio mapped by a PTE.
    const { entry, folio } = folioOf(env, mem);
    expect(entry.mappedBy).toBe(pagesize);
    expect(folio.order).toBe(0);
    if (swapout) {
      attempt(() => p.madvise(mem, pagesize, U.MADV_PAGEOUT));
      if (!pagemapIsSwapped(p, mem)) skip('MADV_PAGEOUT did not work, is swap enabled?');
    }
    return fn(env, mem, pagesize, false);
  } finally {
    p.munmap(mem, pagesize);
  }
}

type ThpRun = 'pmd' | 'pmd_swapout' | 'pte' | 'pte_swapout' | 'single_pte' | 'single_pte_swapout' | 'partial_mremap' | 'partial_shared';

type MremapFn = (oldAddr: number, oldLen: number, newLen: number, flags: number, newAddr: number) => number;

/** Process.mremap, once the model has it. */
function mremapOf(p: Process): MremapFn | null {
  const f = (p as unknown as { mremap?: unknown }).mremap;
  return typeof f === 'function' ? (f as MremapFn).bind(p) : null;
}

/** do_run_with_thp */
function runWithThp(env: Env, fn: AnonTestFn, run: ThpRun, thpsize: number): Outcome {
  const { p, pagesize } = env;
  const mmapSize = 2 * thpsize;
  const mmapMem = sys('mmap() failed', () => p.mmap(0, mmapSize, RW, PRIV_ANON, -1, 0));
  let mremapMem = 0;
  let mremapSize = 0;
  try {
    // The first thpsize-aligned address above mmapMem: [mem, mem+thpsize) fits.
    const mem = alignDown(mmapMem + thpsize, thpsize);
    sys('MADV_HUGEPAGE failed', () => p.madvise(mem, thpsize, U.MADV_HUGEPAGE));
    // One write fault must populate the whole THP.
    p.write(mem, new Uint8Array([1]));
    if (!pagemapIsPopulated(p, mem + thpsize - pagesize)) skip('Did not get a THP populated');
    p.fill(mem, thpsize, 1);
    // Extra: one folio of thpsize backs the range.
    expect(folioOf(env, mem).folio.nrPages * pagesize).toBe(thpsize);
    let size = thpsize;

    switch (run) {
      case 'pmd':
      case 'pmd_swapout':
        expect(thpsize).toBe(pmdsize);
        // Extra: PMD-mapped.
        expect(p.pagemap(mem).mappedBy).toBe(pmdsize);
        expect(p.pagemap(mem + thpsize - pagesize).mappedBy).toBe(pmdsize);
        break;
      case 'pte':
      case 'pte_swapout':
        // Changing the protection of one subpage forces PTE mappings.
        sys('mprotect() failed', () => p.mprotect(mem + pagesize, pagesize, U.PROT_READ));
        sys('mprotect() failed', () => p.mprotect(mem + pagesize, pagesize, RW));
        expectPteMappedThp(env, mem, thpsize);
        break;
      case 'single_pte':
      case 'single_pte_swapout':
        // Zap all but the first subpage: a single PTE maps a part of the THP.
        sys('MADV_DONTNEED failed', () => p.madvise(mem + pagesize, thpsize - pagesize, U.MADV_DONTNEED));
        size = pagesize;
        {
          const { entry, folio } = folioOf(env, mem);
          expect(entry.mappedBy).toBe(pagesize);
          expect(folio.nrPages * pagesize).toBe(thpsize);
          expect(folio.mapcount).toBe(1);
          for (let a = mem + pagesize; a < mem + thpsize; a += pagesize) expect(p.pagemap(a).present).toBe(false);
        }
        break;
      case 'partial_mremap': {
        // Move the upper half of the THP onto a reserved PROT_NONE region.
        const mremap = mremapOf(p);
        if (mremap === null) skip('mremap() not modelled yet');
        mremapSize = thpsize / 2;
        mremapMem = sys('mmap() failed', () => p.mmap(0, mremapSize, U.PROT_NONE, PRIV_ANON, -1, 0));
        const moved = sys('mremap() failed', () => mremap(mem + mremapSize, mremapSize, mremapSize, U.MREMAP_MAYMOVE | U.MREMAP_FIXED, mremapMem));
        if (moved !== mremapMem) fail('mremap() failed');
        size = mremapSize;
        // The lower half stays PTE-mapped; its folio is still the whole THP.
        expectPteMappedThp(env, mem, size, thpsize);
        break;
      }
      case 'partial_shared':
        // Share only the first subpage with a short-lived child.
        sys('MADV_DONTFORK failed', () => p.madvise(mem + pagesize, thpsize - pagesize, U.MADV_DONTFORK));
        sys('fork() failed', () => p.fork()).exit(0);
        sys('MADV_DOFORK failed', () => p.madvise(mem + pagesize, thpsize - pagesize, U.MADV_DOFORK));
        // Extra: PTE-mapped; the first subpage lost its exclusivity, the others kept it.
        expectPteMappedThp(env, mem, thpsize);
        expect(p.pagemap(mem).anonExclusive).toBe(false);
        for (let a = mem + pagesize; a < mem + thpsize; a += pagesize) expect(p.pagemap(a).anonExclusive).toBe(true);
        break;
    }

    if (run === 'pmd_swapout' || run === 'pte_swapout' || run === 'single_pte_swapout') {
      attempt(() => p.madvise(mem, size, U.MADV_PAGEOUT));
      if (!rangeIsSwapped(env, mem, size)) skip('MADV_PAGEOUT did not work, is swap enabled?');
    }
    return fn(env, mem, size, false);
  } finally {
    p.munmap(mmapMem, mmapSize);
    if (mremapMem !== 0) p.munmap(mremapMem, mremapSize);
  }
}

/** run_with_hugetlb */
function runWithHugetlb(env: Env, fn: AnonTestFn, hugetlbsize: number): Outcome {
  const { k, p } = env;
  const flags = PRIV_ANON | U.MAP_HUGETLB | (Math.log2(hugetlbsize) << U.MAP_HUGE_SHIFT);
  const expectEmptyPool = (): void => {
    // Extra: the skip is justified by the (default-size) pool lacking two free pages.
    if (hugetlbsize === k.meminfo().Hugepagesize * KiB) expect(k.meminfo().HugePages_Free).toBeLessThan(2);
  };
  const mem = attempt(() => p.mmap(0, hugetlbsize, RW, flags, -1, 0));
  if (mem instanceof SyscallError) {
    expectEmptyPool();
    skip('need more free huge pages');
  }
  try {
    p.fill(mem, hugetlbsize, 1);
    // A second huge page must be available for COW/unshare, or we would get SIGBUS.
    const dummy = attempt(() => p.mmap(0, hugetlbsize, RW, flags, -1, 0));
    if (dummy instanceof SyscallError) {
      expectEmptyPool();
      skip('need more free huge pages');
    }
    p.munmap(dummy, hugetlbsize);
    return fn(env, mem, hugetlbsize, true);
  } finally {
    p.munmap(mem, hugetlbsize);
  }
}

/** Switch THP on for one size, as run_anon_test_case pushes it (PMD order "never", this size "always"). */
function pushThpSize(env: Env, size: number): void {
  const k = env.k;
  if (readSysfs(k, thpSizeEnabledPath(size)) !== null) {
    if (pmdsize !== size) k.writeSysfs(thpSizeEnabledPath(pmdsize), 'never');
    k.writeSysfs(thpSizeEnabledPath(size), 'always');
  } else {
    // Without per-size controls only the PMD size exists and the global switch governs it.
    expect(size).toBe(pmdsize);
    k.writeSysfs(`${THP_SYSFS}/enabled`, 'always');
  }
}

interface AnonRun {
  suffix: string;
  run: (env: Env, fn: AnonTestFn) => Outcome;
}

/** The memory types of run_anon_test_case, in cow.c's order. */
function anonRuns(): AnonRun[] {
  const runs: AnonRun[] = [
    { suffix: 'base page', run: (env, fn) => runWithBasePage(env, fn, false) },
    { suffix: 'swapped out base page', run: (env, fn) => runWithBasePage(env, fn, true) },
  ];
  for (const size of thpSizes) {
    const kb = size / KiB;
    const thp = (suffix: string, kind: ThpRun): AnonRun => ({
      suffix: `${suffix} (${kb} kB)`,
      run: (env, fn) => {
        pushThpSize(env, size);
        return runWithThp(env, fn, kind, size);
      },
    });
    if (size === pmdsize) runs.push(thp('THP', 'pmd'), thp('swapped-out THP', 'pmd_swapout'));
    runs.push(
      thp('PTE-mapped THP', 'pte'),
      thp('swapped-out, PTE-mapped THP', 'pte_swapout'),
      thp('single PTE of THP', 'single_pte'),
      thp('single PTE of swapped-out THP', 'single_pte_swapout'),
      thp("partially mremap()'ed THP", 'partial_mremap'),
      thp('partially shared THP', 'partial_shared'),
    );
  }
  for (const size of hugetlbSizes) {
    runs.push({ suffix: `hugetlb (${size / KiB} kB)`, run: (env, fn) => runWithHugetlb(env, fn, size) });
  }
  return runs;
}

// ---------------------------------------------------------------------------
// Anonymous THP collapse tests.

type CollapseVariant = 'unshared' | 'fully_shared' | 'lower_shared' | 'upper_shared';

/**
 * do_test_anon_thp_collapse. Real Linux 6.12 (Debian 6.12.118, cow with
 * gup_test, ../shared/realkernel/results/6.12/cow.gup.tap) passes three of
 * these and skips "fully shared": MADV_COLLAPSE fails with EINVAL there,
 * because after fork every PTE of the range is read-only in the parent
 * (SCAN_PAGE_RO; the refcounts would have allowed it). The extra checks pin
 * those verdicts: the failure must be EINVAL and happen only in that case,
 * and a successful collapse must leave a PMD-mapped THP.
 */
function doTestAnonThpCollapse(env: Env, mem: number, size: number, variant: CollapseVariant): Outcome {
  const { p, pagesize } = env;
  const collapse = (): void => {
    const r = attempt(() => p.madvise(mem, size, U.MADV_COLLAPSE));
    if (r instanceof SyscallError) {
      expect(variant).toBe('fully_shared');
      expect(r.code).toBe('EINVAL');
      skip(`MADV_COLLAPSE failed: ${strerror(r.code)}`);
    }
    expect(p.pagemap(mem).mappedBy).toBe(size);
  };
  // PTE-map the THP first.
  sys('mprotect() failed', () => p.mprotect(mem + pagesize, pagesize, U.PROT_READ));
  sys('mprotect() failed', () => p.mprotect(mem + pagesize, pagesize, RW));
  expectPteMappedThp(env, mem, size);

  const half = size / 2;
  switch (variant) {
    case 'unshared':
      collapse();
      break;
    case 'fully_shared':
      break;
    case 'lower_shared':
      sys('MADV_DONTFORK failed', () => p.madvise(mem + half, half, U.MADV_DONTFORK));
      break;
    case 'upper_shared':
      sys('MADV_DONTFORK failed', () => p.madvise(mem, half, U.MADV_DONTFORK));
      break;
  }

  const child = sys('fork() failed', () => p.fork());
  let status = 0;
  try {
    const c =
      variant === 'lower_shared'
        ? childMemcmpStart(child, mem, half)
        : variant === 'upper_shared'
          ? childMemcmpStart(child, mem + half, half)
          : childMemcmpStart(child, mem, size);
    expect(imageAllBytes(c.snapshot, 1)).toBe(true);
    try {
      if (variant === 'lower_shared' || variant === 'upper_shared') {
        // Merge the VMAs again, then collapse like the fully shared case.
        sys('MADV_DOFORK failed', () => p.madvise(mem, size, U.MADV_DOFORK));
      }
      if (variant !== 'unshared') collapse();
    } catch (e) {
      status = c.finish(); // the parent signals the child before bailing out
      throw e;
    }
    p.fill(mem, size, 0xff);
    status = c.finish();
  } finally {
    child.exit(status);
  }
  return resultIf(child.exitCode === 0, 'No leak from parent into child');
}

const anonThpTestCases: { desc: string; variant: CollapseVariant }[] = [
  { desc: 'Basic COW after fork() when collapsing before fork()', variant: 'unshared' },
  { desc: 'Basic COW after fork() when collapsing after fork() (fully shared)', variant: 'fully_shared' },
  { desc: 'Basic COW after fork() when collapsing after fork() (lower shared)', variant: 'lower_shared' },
  { desc: 'Basic COW after fork() when collapsing after fork() (upper shared)', variant: 'upper_shared' },
];

// ---------------------------------------------------------------------------
// Non-anonymous memory.

type NonAnonTestFn = (env: Env, mem: number, smem: number, size: number) => Outcome;

/** test_cow: writing the private mapping must not show through the other view. */
const testCowNonAnon: NonAnonTestFn = (env, mem, smem, size) => {
  const { p } = env;
  const old = readImage(p, smem, size);
  p.fill(mem, size, 0xff);
  return resultIf(memcmpImages(old, readImage(p, smem, size)) === 0, 'Other mapping not modified');
};

/** test_cow plus extra assertions (not in cow.c) on the content before and after. */
const testCowNonAnonChecked: NonAnonTestFn = (env, mem, smem, size) => {
  const { p } = env;
  expect(allBytesAt(p, smem, size, 0)).toBe(true);
  const out = testCowNonAnon(env, mem, smem, size);
  // The private mapping holds the new content, in its own anonymous copy.
  expect(allBytesAt(p, mem, size, 0xff)).toBe(true);
  const filePages: number[] = [];
  for (let a = mem; a < mem + size; a += env.pagesize) if (p.pagemap(a).file) filePages.push(a);
  expect(filePages).toEqual([]);
  return out;
};

/** Read-fault the first byte of both mappings (the notes' intended behaviour, §5.0). */
function readFaultBoth(p: Process, mem: number, smem: number): void {
  p.read(mem, 1);
  p.read(smem, 1);
}

/** run_with_zeropage */
function runWithZeropage(env: Env, fn: NonAnonTestFn): Outcome {
  const { k, p, pagesize } = env;
  const mem = sys('mmap() failed', () => p.mmap(0, pagesize, RW, PRIV_ANON, -1, 0));
  try {
    const smem = sys('mmap() failed', () => p.mmap(0, pagesize, U.PROT_READ, PRIV_ANON, -1, 0));
    try {
      readFaultBoth(p, mem, smem);
      // Extra: both map the shared zeropage.
      const e = p.pagemap(mem);
      expect(e.present).toBe(true);
      expect(p.pagemap(smem).pfn).toBe(e.pfn);
      expect(k.kpageflags(e.pfn) & (1 << U.KPF_ZERO_PAGE)).not.toBe(0);
      return fn(env, mem, smem, pagesize);
    } finally {
      p.munmap(smem, pagesize);
    }
  } finally {
    p.munmap(mem, pagesize);
  }
}

/** run_with_memfd */
function runWithMemfd(env: Env, fn: NonAnonTestFn): Outcome {
  const { p, pagesize } = env;
  const fd = sys('memfd_create() failed', () => p.memfd_create('test', 0));
  try {
    sys('fallocate() failed', () => p.fallocate(fd, 0, 0, pagesize));
    const mem = sys('mmap() failed', () => p.mmap(0, pagesize, RW, U.MAP_PRIVATE, fd, 0));
    try {
      const smem = sys('mmap() failed', () => p.mmap(0, pagesize, U.PROT_READ, U.MAP_SHARED, fd, 0));
      try {
        readFaultBoth(p, mem, smem);
        // Extra: both map the same page-cache page.
        const e = p.pagemap(mem);
        expect(e.present && e.file).toBe(true);
        expect(p.pagemap(smem).pfn).toBe(e.pfn);
        return fn(env, mem, smem, pagesize);
      } finally {
        p.munmap(smem, pagesize);
      }
    } finally {
      p.munmap(mem, pagesize);
    }
  } finally {
    p.close(fd);
  }
}

/** run_with_tmpfile: as run_with_memfd, on a file of the file system behind /tmp. */
function runWithTmpfile(env: Env, fn: NonAnonTestFn): Outcome {
  const { p, pagesize } = env;
  const fd = tmpfile(p);
  if (fd instanceof SyscallError) {
    // A model without /tmp in its mount table is a gap of the model, not a kernel failure.
    if (fd.code === 'ENOENT') skip('tmpfile() not modelled: no /tmp');
    fail('tmpfile() failed');
  }
  try {
    // File consists of a single page filled with zeroes.
    sys('fallocate() failed', () => p.fallocate(fd, 0, 0, pagesize));
    const mem = sys('mmap() failed', () => p.mmap(0, pagesize, RW, U.MAP_PRIVATE, fd, 0));
    try {
      const smem = sys('mmap() failed', () => p.mmap(0, pagesize, U.PROT_READ, U.MAP_SHARED, fd, 0));
      try {
        readFaultBoth(p, mem, smem);
        // Extra: both map the same page-cache page.
        const e = p.pagemap(mem);
        expect(e.present && e.file).toBe(true);
        expect(p.pagemap(smem).pfn).toBe(e.pfn);
        return fn(env, mem, smem, pagesize);
      } finally {
        p.munmap(smem, pagesize);
      }
    } finally {
      p.munmap(mem, pagesize);
    }
  } finally {
    p.close(fd);
  }
}

/** run_with_huge_zeropage */
function runWithHugeZeropage(env: Env, fn: NonAnonTestFn): Outcome {
  const { k, p, pagesize } = env;
  if (!hugeZeropage) skip('Huge zeropage not enabled');
  const mmapSize = 2 * pmdsize;
  const mmapMem = sys('mmap() failed', () => p.mmap(0, mmapSize, RW, PRIV_ANON, -1, 0));
  try {
    const mmapSmem = sys('mmap() failed', () => p.mmap(0, mmapSize, U.PROT_READ, PRIV_ANON, -1, 0));
    try {
      const mem = alignDown(mmapMem + pmdsize, pmdsize);
      const smem = alignDown(mmapSmem + pmdsize, pmdsize);
      sys('MADV_HUGEPAGE failed', () => p.madvise(mem, pmdsize, U.MADV_HUGEPAGE));
      sys('MADV_HUGEPAGE failed', () => p.madvise(smem, pmdsize, U.MADV_HUGEPAGE));
      readFaultBoth(p, mem, smem);
      if (!pagemapIsPopulated(p, mem + pagesize) || !pagemapIsPopulated(p, smem + pagesize)) skip('Did not get THPs populated');
      // The read faults must have mapped the huge zero folio with a PMD in both.
      for (const a of [mem, smem]) {
        const e = p.pagemap(a + pagesize);
        const kpf = k.kpageflags(e.pfn);
        const isHugeZero = e.mappedBy === pmdsize && (kpf & (1 << U.KPF_ZERO_PAGE)) !== 0 && (kpf & (1 << U.KPF_THP)) !== 0;
        if (!isHugeZero) skip('Did not get THPs populated');
      }
      return fn(env, mem, smem, pmdsize);
    } finally {
      p.munmap(mmapSmem, mmapSize);
    }
  } finally {
    p.munmap(mmapMem, mmapSize);
  }
}

/** run_with_memfd_hugetlb */
function runWithMemfdHugetlb(env: Env, fn: NonAnonTestFn, hugetlbsize: number): Outcome {
  const { p } = env;
  const fd = attempt(() => p.memfd_create('test', U.MFD_HUGETLB | (Math.log2(hugetlbsize) << U.MFD_HUGE_SHIFT)));
  if (fd instanceof SyscallError) skip('memfd_create() failed');
  try {
    if (attempt(() => p.fallocate(fd, 0, 0, hugetlbsize)) instanceof SyscallError) skip('need more free huge pages');
    const mem = attempt(() => p.mmap(0, hugetlbsize, RW, U.MAP_PRIVATE, fd, 0));
    if (mem instanceof SyscallError) skip('need more free huge pages');
    try {
      const smem = sys('mmap() failed', () => p.mmap(0, hugetlbsize, U.PROT_READ, U.MAP_SHARED, fd, 0));
      try {
        readFaultBoth(p, mem, smem);
        return fn(env, mem, smem, hugetlbsize);
      } finally {
        p.munmap(smem, hugetlbsize);
      }
    } finally {
      p.munmap(mem, hugetlbsize);
    }
  } finally {
    p.close(fd);
  }
}

interface NonAnonRun {
  suffix: string;
  run: (env: Env, fn: NonAnonTestFn) => Outcome;
}

/** The memory types of run_non_anon_test_case, in cow.c's order. */
function nonAnonRuns(): NonAnonRun[] {
  const runs: NonAnonRun[] = [
    { suffix: 'shared zeropage', run: runWithZeropage },
    { suffix: 'memfd', run: runWithMemfd },
    { suffix: 'tmpfile', run: runWithTmpfile },
  ];
  if (pmdsize) runs.push({ suffix: 'huge zeropage', run: runWithHugeZeropage });
  for (const size of hugetlbSizes) {
    runs.push({ suffix: `memfd hugetlb (${size / KiB} kB)`, run: (env, fn) => runWithMemfdHugetlb(env, fn, size) });
  }
  return runs;
}

// ---------------------------------------------------------------------------
// The case tables.

const anonTestCases: { desc: string; fn?: AnonTestFn; skipReason?: string }[] = [
  { desc: 'Basic COW after fork()', fn: testCow },
  { desc: 'Basic COW after fork() with mprotect() optimization', fn: testCowMprotect },
  { desc: 'vmsplice() + unmap in child', fn: testVmspliceInChild },
  { desc: 'vmsplice() + unmap in child with mprotect() optimization', fn: testVmspliceInChildMprotect },
  { desc: 'vmsplice() before fork(), unmap in parent after fork()', fn: testVmspliceBeforeFork },
  { desc: 'vmsplice() + unmap in parent after fork()', fn: testVmspliceAfterFork },
  { desc: 'R/O-mapping a page registered as iouring fixed buffer', fn: testIouringRo },
  { desc: 'fork() with an iouring fixed buffer', fn: testIouringFork },
  { desc: 'R/O GUP pin on R/O-mapped shared page', fn: testRoPinOnShared },
  { desc: 'R/O GUP-fast pin on R/O-mapped shared page', fn: testRoFastPinOnShared },
  { desc: 'R/O GUP pin on R/O-mapped previously-shared page', fn: testRoPinOnRoPreviouslyShared },
  { desc: 'R/O GUP-fast pin on R/O-mapped previously-shared page', fn: testRoFastPinOnRoPreviouslyShared },
  { desc: 'R/O GUP pin on R/O-mapped exclusive page', fn: testRoPinOnRoExclusive },
  { desc: 'R/O GUP-fast pin on R/O-mapped exclusive page', fn: testRoFastPinOnRoExclusive },
];

const nonAnonTestCases: { desc: string; fn?: NonAnonTestFn; skipReason?: string }[] = [
  { desc: 'Basic COW', fn: testCowNonAnonChecked },
  { desc: 'R/O longterm GUP pin', fn: (env, mem, _smem, size) => doTestRoPin(env, mem, size, 'ro', false) },
  { desc: 'R/O longterm GUP-fast pin', fn: (env, mem, _smem, size) => doTestRoPin(env, mem, size, 'ro', true) },
];

/** ksft_set_plan() of cow.c's main() (built with liburing, so 14 anon cases). */
function plannedTests(): number {
  const nrThp = thpSizes.length;
  const nrHugetlb = hugetlbSizes.length;
  const perAnon = 2 + nrHugetlb + 6 * nrThp + (pmdsize ? 2 : 0);
  const perNonAnon = 3 + nrHugetlb + (pmdsize ? 1 : 0);
  return anonTestCases.length * perAnon + 4 * (pmdsize ? 1 : 0) + nonAnonTestCases.length * perNonAnon;
}

// ---------------------------------------------------------------------------
// main(): the three sections, test case outermost, memory types inside.

describe('cow', () => {
  describe('[INFO] Anonymous memory tests in private mappings', () => {
    for (const tc of anonTestCases) {
      describe(tc.skipReason === undefined ? tc.desc : `${tc.desc} [SKIP: ${tc.skipReason}]`, () => {
        for (const r of anonRuns()) {
          const name = `${tc.desc} ... with ${r.suffix}`;
          const fn = tc.fn;
          if (fn === undefined) cowCaseSkipped(name, tc.skipReason!);
          else cowCase(name, (env) => r.run(env, fn));
        }
      });
    }
  });

  describe('[INFO] Anonymous THP tests', () => {
    if (!pmdsize) return;
    for (const tc of anonThpTestCases) {
      cowCase(tc.desc, (env) => runWithThp(env, (e, mem, size) => doTestAnonThpCollapse(e, mem, size, tc.variant), 'pmd', pmdsize));
    }
  });

  describe('[RUN] Non-anonymous memory tests in private mappings', () => {
    for (const tc of nonAnonTestCases) {
      describe(tc.skipReason === undefined ? tc.desc : `${tc.desc} [SKIP: ${tc.skipReason}]`, () => {
        for (const r of nonAnonRuns()) {
          const name = `${tc.desc} ... with ${r.suffix}`;
          const fn = tc.fn;
          if (fn === undefined) cowCaseSkipped(name, tc.skipReason!);
          else cowCase(name, (env) => r.run(env, fn));
        }
      });
    }
  });

  // -------------------------------------------------------------------------
  // Checks of this port itself.

  describe('port self-checks', () => {
    it('registers exactly the tests of cow.c\'s plan, each once', () => {
      expect(registered.length).toBe(plannedTests());
      expect(new Set(registered).size).toBe(registered.length);
      expect(registered).toContain('Basic COW after fork() ... with PTE-mapped THP (2048 kB)');
      expect(registered).toContain('Basic COW after fork() with mprotect() optimization ... with base page');
      expect(registered).toContain('Basic COW ... with huge zeropage');
    });

    it('agrees with real Linux 6.12 case by case (results/6.12/cow.gup.tap: gup_test loaded, swap on)', (ctx) => {
      if (!log.complete()) ctx.skip('not every case ran (a filtered run)');
      log.writeIfAsked(log.tap());
      const a = compareVerdicts(log.results, parseKselftestTap(kernelOutput('cow.gup.tap')), COW_ALLOWED);
      expectAgreement(a);
      expect(a.kernelCases).toBe(778);
    });

    it('memcmp() detects any difference', () => {
      const a = new Uint8Array(4096).fill(1);
      expect(memcmp(a, a.slice())).toBe(0);
      for (const i of [0, 1, 2048, 4095]) {
        const b = a.slice();
        b[i] = 0xff;
        expect(memcmp(a, b)).not.toBe(0);
        expect(memcmp(a, b) & 0xff).not.toBe(0);
      }
      expect(memcmp(a, a.subarray(0, 4095))).not.toBe(0);
    });

    it('images compare as memcmp() compares the bytes they hold', () => {
      // Three pages: one value, one value, varied; then every single-byte change, up and down, and cuts.
      const base = new Uint8Array(3 * PAGESIZE).fill(1, 0, 2 * PAGESIZE);
      for (let i = 2 * PAGESIZE; i < base.length; i++) base[i] = i & 0xff;
      const img = imageOf(base);
      expect(memcmpImages(img, imageOf(base.slice()))).toBe(0);
      expect(imageAllBytes(imageOf(base.subarray(0, 2 * PAGESIZE)), 1)).toBe(true);
      expect(imageAllBytes(img, 1)).toBe(false);
      for (const at of [0, 1, PAGESIZE - 1, PAGESIZE, 2 * PAGESIZE, 2 * PAGESIZE + 7, base.length - 1]) {
        for (const delta of [1, -1]) {
          const b = base.slice();
          b[at] = (b[at]! + delta) & 0xff;
          expect(memcmpImages(img, imageOf(b))).toBe(memcmp(base, b));
          expect(memcmpImages(imageOf(b), img)).toBe(memcmp(b, base));
          expect(memcmpImages(img, imageOf(b), at)).toBe(0);
          expect(memcmpImages(img, imageOf(b), at + 1)).toBe(memcmp(base.subarray(0, at + 1), b.subarray(0, at + 1)));
          expect(imageAllBytes(imageOf(b.subarray(0, PAGESIZE)), 1)).toBe(at >= PAGESIZE);
        }
      }
      // A shorter image compares below a longer one it begins.
      expect(memcmpImages(imageOf(base.subarray(0, PAGESIZE)), img)).toBe(-1);
      expect(memcmpImages(img, imageOf(base.subarray(0, 2 * PAGESIZE + 5)))).toBe(1);
    });

    it('"Basic COW after fork()" fails when the parent\'s write does leak (MAP_SHARED)', () => {
      const env = newEnv();
      const { p } = env;
      const mem = p.mmap(0, 2 * env.pagesize, RW, U.MAP_SHARED | U.MAP_ANONYMOUS, -1, 0);
      p.fill(mem, 2 * env.pagesize, 1);
      expect(testCow(env, mem, 2 * env.pagesize, false)).toEqual({ result: 'fail', msg: 'Leak from parent into child' });
      p.fill(mem, 2 * env.pagesize, 1);
      expect(doTestCowInParent(env, mem, 2 * env.pagesize, false, childMemcmpStart, true)).toEqual({ result: 'xfail', msg: 'Leak from parent into child' });
      expect(env.k.check()).toEqual([]);
      p.exit();
      expect(env.k.check()).toEqual([]);
    });

    it('non-anon "Basic COW" fails when the written mapping is not private', () => {
      const env = newEnv();
      const { p, pagesize } = env;
      const fd = p.memfd_create('test', 0);
      p.fallocate(fd, 0, 0, pagesize);
      const mem = p.mmap(0, pagesize, RW, U.MAP_SHARED, fd, 0);
      const smem = p.mmap(0, pagesize, U.PROT_READ, U.MAP_SHARED, fd, 0);
      expect(testCowNonAnon(env, mem, smem, pagesize)).toEqual({ result: 'fail', msg: 'Other mapping not modified' });
      p.munmap(mem, pagesize);
      p.munmap(smem, pagesize);
      p.close(fd);
      expect(env.k.check()).toEqual([]);
      p.exit();
      expect(env.k.check()).toEqual([]);
    });
  });
});
