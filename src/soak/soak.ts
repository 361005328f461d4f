/**
 * The soak (`foliosim soak`): a long random mix of valid and invalid
 * operations on one kernel, as a user's sweep would throw at it, with
 * `kernel.check()` every `checkEvery` operations and a shadow of what every
 * private anonymous page must read. An operation may fail only with the
 * kernel's answer (SyscallError, SignalError); anything else, a read that
 * differs from the shadow, or an oracle finding that is not a known flaw of
 * the configured design ends the stream with the seed, the operation's index
 * and the last operations before it. The same seed replays the same stream.
 *
 * Covered: anonymous private and shared memory, memfds (shmem) through
 * mappings and read/write/fallocate/ftruncate, THP and every mTHP size (their
 * controls flipped at random), HugeTLB 2 MiB pages, fork and exit, GUP pins
 * through gup_test (long-term and not, R/O and R/W), madvise, mprotect,
 * munmap and mremap, with junk arguments now and then. Not yet: userfaultfd,
 * io_uring, VFIO, KVM, and shrinking a failing stream to its shortest form.
 */
import { Kernel, type KernelOptions } from '../kernel.js';
import type { Process } from '../process.js';
import { Rng } from '../sim/rng.js';
import { SignalError, SyscallError } from '../uapi/errors.js';
import * as U from '../uapi/index.js';

const PAGE = 4096;
const RW = U.PROT_READ | U.PROT_WRITE;
const MTHP_KB = [16, 32, 64, 128, 256, 512, 1024, 2048];
const THP_MODES = ['always', 'inherit', 'madvise', 'never'];
const ADVICE = [U.MADV_DONTNEED, U.MADV_FREE, U.MADV_COLD, U.MADV_PAGEOUT, U.MADV_HUGEPAGE, U.MADV_NOHUGEPAGE, U.MADV_COLLAPSE, U.MADV_POPULATE_READ, U.MADV_POPULATE_WRITE, U.MADV_DONTFORK, U.MADV_DOFORK, U.MADV_WIPEONFORK, U.MADV_KEEPONFORK, U.MADV_REMOVE];

type Kind = 'anon' | 'shared-anon' | 'memfd-shared' | 'memfd-private' | 'hugetlb';

interface Region {
  addr: number;
  pages: number;
  kind: Kind;
  /** Private anonymous memory only: the byte each page must read (null once unknowable). */
  shadow: Uint8Array | null;
  /** MADV_DONTFORK or MADV_WIPEONFORK was applied to part of it: a child's copy cannot be predicted. */
  forkOdd: boolean;
}

interface Task {
  p: Process;
  regions: Region[];
  gup: number;
  pinned: boolean;
}

export interface SoakOptions {
  readonly ops: number;
  readonly seed: number;
  readonly kernel?: KernelOptions;
  readonly checkEvery?: number;
  /** Oracle findings that are known flaws of the configured design (not failures). */
  readonly knownFindings?: readonly string[];
  readonly onProgress?: (done: number) => void;
  /** How many operations a failure report lists (default 20). */
  readonly keepRecent?: number;
}

export interface SoakFailure {
  readonly op: number;
  readonly what: string;
  /** The operations before it, oldest first. */
  readonly recent: readonly string[];
}

export interface SoakResult {
  readonly seed: number;
  readonly ops: number;
  readonly ms: number;
  /** Outcomes: returned, the kernel's errno, a signal. */
  readonly returned: number;
  readonly errno: number;
  readonly signal: number;
  readonly checks: number;
  readonly findings: Readonly<Record<string, number>>;
  readonly failure: SoakFailure | null;
}

class Failure extends Error {}

/** Run one stream of random operations. */
export function soak(opts: SoakOptions): SoakResult {
  const t0 = performance.now();
  const rng = Rng.seeded(opts.seed);
  const checkEvery = opts.checkEvery ?? 1000;
  const known = new Set(opts.knownFindings ?? []);
  const k = new Kernel({ memory: '256MiB', hugetlb: { '2MiB': 8 }, thp: 'always', ...opts.kernel });
  const tasks: Task[] = [];
  const findings: Record<string, number> = {};
  const recent: string[] = [];
  let memfds: number[] = [];
  let returned = 0;
  let errno = 0;
  let signal = 0;
  let checks = 0;
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(0, xs.length - 1)]!;
  const spawn = (): Task => {
    const p = k.spawn();
    const t: Task = { p, regions: [], gup: p.open(U.GUP_TEST_PATH, U.O_RDWR), pinned: false };
    tasks.push(t);
    return t;
  };
  spawn();
  const fail = (what: string): never => {
    throw new Failure(what);
  };
  const check = (): void => {
    checks++;
    for (const v of k.check()) {
      if (known.has(v.name)) findings[v.name] = (findings[v.name] ?? 0) + 1;
      else fail(`kernel.check(): ${v.name}: ${v.message}`);
    }
  };
  /** A length, or an address no call can use (so junk never changes what the shadow tracks). */
  const junkLen = (): number => pick([-1, 0, 1, PAGE - 1, 2 ** 47, 2 ** 53, NaN, -PAGE]);
  const junkAddr = (): number => pick([-1, 1, PAGE - 1, 2 ** 47, 2 ** 53, NaN, -PAGE]);

  /** What the current operation is, set before it runs (the failure report names it). */
  let desc = '';
  const say = (d: string): void => {
    desc = d;
  };
  /** One operation, described for the failure report; returns what it did. */
  const step = (): string => {
    const t = pick(tasks);
    const p = t.p;
    const r = t.regions.length > 0 ? pick(t.regions) : null;
    const page = r === null ? 0 : rng.int(0, r.pages - 1);
    const at = r === null ? 0 : r.addr + page * PAGE;
    const x = rng.int(0, 99);
    if (x < 8 || r === null) {
      const kind = pick<Kind>(['anon', 'anon', 'anon', 'shared-anon', 'memfd-shared', 'memfd-private', 'hugetlb']);
      if (t.regions.length >= 6) return 'mmap skipped (enough regions)';
      const pages = kind === 'hugetlb' ? 512 : pick([1, 4, 16, 64, 512, 600]);
      let fd = -1;
      if (kind.startsWith('memfd')) {
        if (memfds.length === 0 || rng.int(0, 3) === 0) {
          fd = p.memfd_create('soak', 0);
          memfds.push(fd);
        }
        fd = pick(memfds);
        p.ftruncate(fd, pages * PAGE);
      }
      const flags = kind === 'anon' ? U.MAP_PRIVATE | U.MAP_ANONYMOUS : kind === 'shared-anon' ? U.MAP_SHARED | U.MAP_ANONYMOUS : kind === 'hugetlb' ? U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_HUGETLB : kind === 'memfd-shared' ? U.MAP_SHARED : U.MAP_PRIVATE;
      say(`mmap ${kind} ${pages} pages (pid ${p.pid})`);
      const addr = p.mmap(0, pages * PAGE, RW, flags, fd, 0);
      t.regions.push({ addr, pages, kind, shadow: kind === 'anon' || kind === 'hugetlb' ? new Uint8Array(pages) : null, forkOdd: false });
      say(`mmap ${kind} ${pages} pages at 0x${addr.toString(16)} (pid ${p.pid})`);
      return desc;
    }
    if (x < 30) {
      const byte = rng.int(1, 255);
      say(`write 0x${byte.toString(16)} to page ${page} of ${r.kind} 0x${r.addr.toString(16)} (pid ${p.pid})`);
      // A write that faults leaves the shadow as it was.
      p.fill(at, PAGE, byte);
      if (r.shadow !== null) r.shadow[page] = byte;
      return `write 0x${byte.toString(16)} to page ${page} of ${r.kind} 0x${r.addr.toString(16)}`;
    }
    if (x < 45) {
      say(`read page ${page} of ${r.kind} 0x${r.addr.toString(16)} (pid ${p.pid})`);
      const got = p.read(at, 1)[0]!;
      if (r.shadow !== null && got !== r.shadow[page]) fail(`read 0x${got.toString(16)} from page ${page} of ${r.kind} 0x${r.addr.toString(16)}, the shadow says 0x${r.shadow[page]!.toString(16)}`);
      return `read page ${page} of ${r.kind} 0x${r.addr.toString(16)}`;
    }
    if (x < 55) {
      const advice = pick(ADVICE);
      const len = Math.min(r.pages - page, pick([1, 4, 16, 512])) * PAGE;
      say(`madvise ${advice} ${len / PAGE} pages from page ${page} of ${r.kind} 0x${r.addr.toString(16)} (pid ${p.pid})`);
      p.madvise(at, len, advice);
      // What reads back after DONTNEED, FREE, PAGEOUT, REMOVE depends on the advice and the memory: drop the shadow there.
      if (r.shadow !== null && [U.MADV_DONTNEED, U.MADV_FREE, U.MADV_REMOVE].includes(advice)) r.shadow = null;
      if (advice === U.MADV_DONTFORK || advice === U.MADV_WIPEONFORK) r.forkOdd = true;
      return `madvise ${advice} ${len / PAGE} pages from page ${page} of ${r.kind}`;
    }
    if (x < 60) {
      const prot = pick([U.PROT_READ, RW, U.PROT_NONE]);
      say(`mprotect ${prot} ${r.kind} 0x${r.addr.toString(16)} (pid ${p.pid})`);
      p.mprotect(r.addr, r.pages * PAGE, prot);
      return `mprotect ${prot} ${r.kind} 0x${r.addr.toString(16)}`;
    }
    if (x < 64) {
      t.regions.splice(t.regions.indexOf(r), 1);
      say(`munmap ${r.kind} 0x${r.addr.toString(16)} (pid ${p.pid})`);
      p.munmap(r.addr, r.pages * PAGE);
      return `munmap ${r.kind} 0x${r.addr.toString(16)}`;
    }
    if (x < 67 && r.kind !== 'hugetlb') {
      const grow = pick([r.pages, r.pages * 2, Math.max(1, r.pages >> 1)]);
      say(`mremap ${r.kind} 0x${r.addr.toString(16)} to ${grow} pages (pid ${p.pid})`);
      const to = p.mremap(r.addr, r.pages * PAGE, grow * PAGE, U.MREMAP_MAYMOVE);
      const shadow = r.shadow === null ? null : new Uint8Array(grow);
      if (shadow !== null) shadow.set(r.shadow!.subarray(0, Math.min(grow, r.pages)));
      r.addr = to;
      r.pages = grow;
      r.shadow = shadow;
      return `mremap ${r.kind} to ${grow} pages at 0x${to.toString(16)}`;
    }
    if (x < 73) {
      if (tasks.length >= 4) return 'fork skipped (enough processes)';
      say(`fork (pid ${p.pid})`);
      const c = p.fork();
      say(`fork (pid ${p.pid} -> ${c.pid})`);
      // The child reads what the parent wrote (COW). A region MADV_DONTFORK or WIPEONFORK touched is not
      // tracked in the child: part of it may be missing there, and a later mmap may take its place.
      const regions = t.regions.filter((g) => !g.forkOdd).map((g) => ({ ...g, shadow: g.shadow === null ? null : g.shadow.slice() }));
      tasks.push({ p: c, regions, gup: t.gup, pinned: false });
      return 'fork';
    }
    if (x < 76) {
      if (tasks.length === 1) return 'exit skipped (last process)';
      tasks.splice(tasks.indexOf(t), 1);
      say(`exit (pid ${p.pid})`);
      p.exit();
      return 'exit';
    }
    if (x < 84) {
      if (t.pinned) {
        t.pinned = false;
        say(`unpin (pid ${p.pid})`);
        p.ioctl(t.gup, U.PIN_LONGTERM_TEST_STOP);
        return 'unpin';
      }
      const flags = pick([0, U.PIN_LONGTERM_TEST_FLAG_USE_WRITE, U.PIN_LONGTERM_TEST_FLAG_USE_FAST, U.PIN_LONGTERM_TEST_FLAG_USE_WRITE | U.PIN_LONGTERM_TEST_FLAG_USE_FAST]);
      say(`pin ${flags} page ${page} of ${r.kind} 0x${r.addr.toString(16)} (pid ${p.pid})`);
      p.ioctl(t.gup, U.PIN_LONGTERM_TEST_START, { addr: at, size: Math.min(4, r.pages - page) * PAGE, flags });
      t.pinned = true;
      return `pin ${flags} page ${page} of ${r.kind}`;
    }
    if (x < 88) {
      const kb = pick(MTHP_KB);
      const mode = pick(THP_MODES);
      say(`hugepages-${kb}kB/enabled = ${mode}`);
      k.writeSysfs(`/sys/kernel/mm/transparent_hugepage/hugepages-${kb}kB/enabled`, mode);
      return `hugepages-${kb}kB/enabled = ${mode}`;
    }
    if (x < 93 && memfds.length > 0) {
      const fd = pick(memfds);
      const y = rng.int(0, 3);
      say(`memfd ${fd} op ${y} (pid ${p.pid})`);
      if (y === 0) p.pwrite(fd, new Uint8Array(64).fill(rng.int(0, 255)), 64, rng.int(0, 64) * PAGE);
      else if (y === 1) p.pread(fd, new Uint8Array(64), 64, rng.int(0, 64) * PAGE);
      else if (y === 2) p.fallocate(fd, U.FALLOC_FL_PUNCH_HOLE | U.FALLOC_FL_KEEP_SIZE, rng.int(0, 16) * PAGE, rng.int(1, 600) * PAGE);
      else p.fallocate(fd, 0, 0, rng.int(1, 600) * PAGE);
      return `memfd ${fd} op ${y}`;
    }
    // Junk: the kernel must answer with an errno, never crash.
    const y = rng.int(0, 4);
    say(`junk ${y} (pid ${p.pid})`);
    if (y === 0) p.madvise(junkAddr(), junkLen(), rng.int(-5, 120));
    else if (y === 1) p.mmap(junkAddr(), junkLen(), rng.int(-1, 15), rng.int(0, 0x200000) | U.MAP_FIXED, rng.int(-2, 20), junkLen());
    else if (y === 2) p.mprotect(junkAddr(), junkLen(), rng.int(-1, 64));
    else if (y === 3) p.ioctl(t.gup, rng.int(0, 2 ** 32 - 1), { addr: junkAddr(), size: junkLen(), flags: rng.int(0, 7) });
    else p.munmap(junkAddr(), junkLen());
    return `junk ${y}`;
  };

  let failure: SoakFailure | null = null;
  let i = 0;
  for (; i < opts.ops; i++) {
    let did: string;
    desc = '';
    try {
      did = step();
      if (desc !== '') did = desc;
      returned++;
    } catch (e) {
      if (e instanceof SyscallError) {
        errno++;
        did = `${desc}: ${e.code}`;
      } else if (e instanceof SignalError) {
        signal++;
        did = `${desc}: ${e.signal}`;
      } else {
        failure = { op: i, what: e instanceof Failure ? e.message : `${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, recent: [...recent] };
        break;
      }
    }
    recent.push(`${i}: ${did}`);
    if (recent.length > (opts.keepRecent ?? 20)) recent.shift();
    if ((i + 1) % checkEvery === 0) {
      try {
        check();
      } catch (e) {
        failure = { op: i, what: e instanceof Error ? e.message : String(e), recent: [...recent] };
        break;
      }
      opts.onProgress?.(i + 1);
    }
  }
  if (failure === null) {
    try {
      check();
    } catch (e) {
      failure = { op: i, what: e instanceof Error ? e.message : String(e), recent: [...recent] };
    }
  }
  memfds = [];
  return { seed: opts.seed, ops: failure === null ? opts.ops : failure.op + 1, ms: performance.now() - t0, returned, errno, signal, checks, findings, failure };
}
