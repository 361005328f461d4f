/**
 * Random sequences of syscalls and CPU accesses over a few processes, with
 * arguments mixing plausible values (addresses inside existing VMAs, small
 * lengths, open descriptors, real flag combinations) and arbitrary JS values
 * (fc.anything(), NaN, huge numbers, bigints, strings, symbols, ...).
 *
 * After every step: anything thrown must be a well-formed SyscallError or a
 * SignalError, and kernel.check() must report no violation.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Kernel, type KernelOptions, type Process, SignalError, SyscallError } from '../../src/index.js';
import {
  FALLOC_FL_COLLAPSE_RANGE,
  FALLOC_FL_KEEP_SIZE,
  FALLOC_FL_PUNCH_HOLE,
  FALLOC_FL_ZERO_RANGE,
  MADV_COLD,
  MADV_COLLAPSE,
  MADV_DODUMP,
  MADV_DOFORK,
  MADV_DONTDUMP,
  MADV_DONTFORK,
  MADV_DONTNEED,
  MADV_DONTNEED_LOCKED,
  MADV_FREE,
  MADV_HUGEPAGE,
  MADV_KEEPONFORK,
  MADV_NOHUGEPAGE,
  MADV_NORMAL,
  MADV_PAGEOUT,
  MADV_POPULATE_READ,
  MADV_POPULATE_WRITE,
  MADV_RANDOM,
  MADV_REMOVE,
  MADV_SEQUENTIAL,
  MADV_WILLNEED,
  MADV_WIPEONFORK,
  MAP_ANONYMOUS,
  MAP_DROPPABLE,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_GROWSDOWN,
  MAP_HUGETLB,
  MAP_LOCKED,
  MAP_NORESERVE,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MAP_SHARED_VALIDATE,
  MAP_STACK,
  MFD_ALLOW_SEALING,
  MFD_CLOEXEC,
  MFD_HUGETLB,
  MFD_NOEXEC_SEAL,
  PROT_EXEC,
  PROT_GROWSDOWN,
  PROT_READ,
  PROT_WRITE,
  errno,
} from '../../src/uapi/index.js';
import { HPAGE, PAGE, TASK_SIZE, WEIRD } from './helpers.js';

// ---------------------------------------------------------------------------
// Argument descriptions, resolved against the live state when the step runs.

type Arg =
  | { k: 'raw'; v: unknown }
  /** An address relative to an existing VMA of the calling process. */
  | { k: 'vma'; i: number; page: number; off: number }
  /** An open descriptor of the calling process. */
  | { k: 'fd'; i: number };

type Kind =
  | 'mmap'
  | 'munmap'
  | 'mprotect'
  | 'madvise'
  | 'memfd_create'
  | 'ftruncate'
  | 'fallocate'
  | 'pread'
  | 'pwrite'
  | 'fstat'
  | 'close'
  | 'open'
  | 'read'
  | 'write'
  | 'fill'
  | 'fork'
  | 'exit'
  | 'spawn';

interface Step {
  kind: Kind;
  proc: number;
  args: Arg[];
}

const raw = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<Arg> => a.map((v): Arg => ({ k: 'raw', v }));

const anything: fc.Arbitrary<unknown> = fc.oneof(
  fc.anything({
    withBigInt: true,
    withBoxedValues: true,
    withNullPrototype: true,
    withTypedArray: true,
    withSparseArray: true,
    withDate: true,
    withMap: true,
    withSet: true,
    withObjectString: true,
    maxDepth: 2,
  }),
  fc.constantFrom(...WEIRD.map((w) => w.v)),
  fc.double(),
  fc.bigInt({ min: -(1n << 70n), max: 1n << 70n }),
  fc.integer(),
);

const vmaAddr: fc.Arbitrary<Arg> = fc
  .record({
    i: fc.nat(),
    page: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 0, max: 8 }) }, { weight: 1, arbitrary: fc.integer({ min: -2, max: 600 }) }),
    off: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: PAGE - 1 }) }) })
  .map(({ i, page, off }): Arg => ({ k: 'vma', i, page, off }));

const addr = fc.oneof(
  { weight: 6, arbitrary: vmaAddr },
  { weight: 1, arbitrary: raw(fc.constantFrom(0, PAGE, 65536, 0x10000000, 0x10000000 + HPAGE, TASK_SIZE - PAGE, TASK_SIZE, -PAGE)) },
  { weight: 1, arbitrary: raw(anything) },
);

const len = fc.oneof(
  { weight: 5, arbitrary: raw(fc.integer({ min: 0, max: 32 }).map((n) => n * PAGE)) },
  { weight: 2, arbitrary: raw(fc.integer({ min: 0, max: 3 * PAGE })) },
  { weight: 1, arbitrary: raw(fc.constantFrom(HPAGE, 2 * HPAGE, -1, -PAGE, 2 ** 53, 2 ** 64, -1n)) },
  { weight: 1, arbitrary: raw(anything) },
);

/** Lengths for CPU accesses: small, or invalid; never a huge valid length (a full-memory memset is slow). */
const cpuLen = fc.oneof(
  { weight: 6, arbitrary: raw(fc.integer({ min: 0, max: 3 * PAGE })) },
  { weight: 1, arbitrary: raw(fc.constantFrom(NaN, -1, 0.5, 2 ** 53, 2 ** 40 + 1, 2 ** 31)) },
  { weight: 1, arbitrary: raw(anything.filter((v) => typeof v !== 'number')) },
);

const prot = fc.oneof(
  { weight: 5, arbitrary: raw(fc.constantFrom(0, PROT_READ, PROT_READ | PROT_WRITE, PROT_WRITE, PROT_READ | PROT_EXEC, 7, PROT_READ | PROT_GROWSDOWN, 0x10)) },
  { weight: 1, arbitrary: raw(anything) },
);

const MAP_EXTRA = [MAP_FIXED, MAP_POPULATE, MAP_NORESERVE, MAP_LOCKED, MAP_STACK, MAP_GROWSDOWN, 0x200];
const withExtras = (base: number[]) =>
  fc.tuple(fc.constantFrom(...base), fc.subarray(MAP_EXTRA, { maxLength: 2 })).map(([t, extra]) => extra.reduce((a, b) => a | b, t));
const mmapFlags = fc.oneof(
  { weight: 5, arbitrary: raw(withExtras([MAP_PRIVATE | MAP_ANONYMOUS])) },
  { weight: 2, arbitrary: raw(withExtras([MAP_SHARED | MAP_ANONYMOUS])) },
  { weight: 3, arbitrary: raw(withExtras([MAP_SHARED, MAP_PRIVATE])) },
  {
    weight: 2,
    arbitrary: raw(
      withExtras([
        MAP_SHARED_VALIDATE,
        MAP_DROPPABLE | MAP_ANONYMOUS,
        MAP_ANONYMOUS,
        MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB,
        MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_NORESERVE,
        MAP_SHARED | MAP_HUGETLB | MAP_NORESERVE,
        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
        0,
      ]),
    ),
  },
  { weight: 1, arbitrary: raw(anything) },
);

const fd = fc.oneof(
  { weight: 5, arbitrary: fc.nat().map((i): Arg => ({ k: 'fd', i })) },
  { weight: 1, arbitrary: raw(fc.constantFrom(-1, 7, 1023, 2 ** 32)) },
  { weight: 1, arbitrary: raw(anything) },
);

const offset = fc.oneof(
  { weight: 4, arbitrary: raw(fc.integer({ min: 0, max: 16 }).map((n) => n * PAGE)) },
  { weight: 1, arbitrary: raw(fc.constantFrom(1, -1, HPAGE, 2 ** 53, (1n << 63n) - 4096n, -(2 ** 63))) },
  { weight: 1, arbitrary: raw(anything) },
);

const ALL_MADV = [
  MADV_NORMAL,
  MADV_RANDOM,
  MADV_SEQUENTIAL,
  MADV_WILLNEED,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_REMOVE,
  MADV_DONTFORK,
  MADV_DOFORK,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MADV_DONTDUMP,
  MADV_DODUMP,
  MADV_WIPEONFORK,
  MADV_KEEPONFORK,
  MADV_COLD,
  MADV_PAGEOUT,
  MADV_POPULATE_READ,
  MADV_POPULATE_WRITE,
  MADV_DONTNEED_LOCKED,
  MADV_COLLAPSE,
  5,
  12,
  100,
  102,
];
const advice = fc.oneof({ weight: 6, arbitrary: raw(fc.constantFrom(...ALL_MADV)) }, { weight: 1, arbitrary: raw(anything) });

const fmode = fc.oneof(
  { weight: 5, arbitrary: raw(fc.constantFrom(0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE, FALLOC_FL_COLLAPSE_RANGE, 0x100)) },
  { weight: 1, arbitrary: raw(anything) },
);

const buffer = fc.oneof({ weight: 4, arbitrary: raw(fc.uint8Array({ maxLength: 2 * PAGE })) }, { weight: 1, arbitrary: raw(anything) });
const count = fc.oneof(
  { weight: 4, arbitrary: raw(fc.integer({ min: 0, max: 2 * PAGE })) },
  // Not 2^53-ish counts: the model allocates a bounce buffer of MAX_RW_COUNT (2 GiB) for them.
  { weight: 1, arbitrary: raw(fc.constantFrom(-1, -1n, 1n << 63n, NaN, '1')) },
);

const name = fc.oneof({ weight: 3, arbitrary: raw(fc.string({ maxLength: 260 })) }, { weight: 1, arbitrary: raw(anything) });
const mfdFlags = fc.oneof(
  { weight: 4, arbitrary: raw(fc.constantFrom(0, MFD_CLOEXEC, MFD_ALLOW_SEALING, MFD_NOEXEC_SEAL, MFD_HUGETLB, MFD_HUGETLB | (16 << 26), 0x20)) },
  { weight: 1, arbitrary: raw(anything) },
);
const byte = fc.oneof({ weight: 4, arbitrary: raw(fc.integer({ min: -300, max: 300 })) }, { weight: 1, arbitrary: raw(anything) });

const step = (kind: Kind, args: fc.Arbitrary<Arg>[], weight = 1): fc.WeightedArbitrary<Step> => ({
  weight,
  arbitrary: fc.tuple(fc.nat({ max: 7 }), ...args).map(([proc, ...a]): Step => ({ kind, proc, args: a as Arg[] })),
});

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  step('mmap', [addr, len, prot, mmapFlags, fd, offset], 6),
  step('munmap', [addr, len], 2),
  step('mprotect', [addr, len, prot], 3),
  step('madvise', [addr, len, advice], 4),
  step('memfd_create', [name, mfdFlags], 2),
  step('ftruncate', [fd, offset], 2),
  step('fallocate', [fd, fmode, offset, len], 2),
  step('pread', [fd, buffer, count, offset], 2),
  step('pwrite', [fd, buffer, count, offset], 2),
  step('fstat', [fd]),
  step('close', [fd]),
  step('open', [name, fd]),
  step('read', [addr, cpuLen], 3),
  step('write', [addr, buffer], 3),
  step('fill', [addr, cpuLen, byte], 3),
  step('fork', [], 1),
  step('exit', [], 1),
  step('spawn', [], 1),
);

// ---------------------------------------------------------------------------
// Execution.

interface World {
  k: Kernel;
  procs: Process[];
}

function resolve(p: Process, a: Arg): unknown {
  if (a.k === 'raw') return a.v;
  if (a.k === 'fd') {
    const fds = p.fds.entries();
    return fds.length === 0 ? -1 : fds[a.i % fds.length]![0];
  }
  const vmas = p.mm?.vmas ?? [];
  if (vmas.length === 0) return 0x10000000 + a.page * PAGE;
  const v = vmas[a.i % vmas.length]!;
  return v.start + a.page * PAGE + a.off;
}

function run(w: World, s: Step): unknown {
  if (s.kind === 'spawn') {
    if (w.procs.length < 6) w.procs.push(w.k.spawn());
    return undefined;
  }
  const p = w.procs[s.proc % w.procs.length]!;
  const a = s.args.map((x) => resolve(p, x));
  switch (s.kind) {
    case 'mmap':
      return p.mmap(a[0], a[1], a[2], a[3], a[4], a[5]);
    case 'munmap':
      return p.munmap(a[0], a[1]);
    case 'mprotect':
      return p.mprotect(a[0], a[1], a[2]);
    case 'madvise':
      return p.madvise(a[0], a[1], a[2]);
    case 'memfd_create':
      return p.memfd_create(a[0], a[1]);
    case 'ftruncate':
      return p.ftruncate(a[0], a[1]);
    case 'fallocate':
      return p.fallocate(a[0], a[1], a[2], a[3]);
    case 'pread':
      return p.pread(a[0], a[1], a[2], a[3]);
    case 'pwrite':
      return p.pwrite(a[0], a[1], a[2], a[3]);
    case 'fstat':
      return p.fstat(a[0]);
    case 'close':
      return p.close(a[0]);
    case 'open':
      return p.open(a[0], a[1]);
    case 'read':
      return p.read(a[0], a[1]);
    case 'write':
      return p.write(a[0], a[1]);
    case 'fill':
      return p.fill(a[0], a[1], a[2]);
    case 'fork':
      if (w.procs.length < 6) w.procs.push(p.fork());
      return undefined;
    case 'exit':
      // Exited processes stay in the pool: their later calls must fail with ESRCH.
      p.exit();
      return undefined;
  }
}

function show(s: Step): string {
  return `${s.kind}[p${s.proc}](${s.args.map((a) => (a.k === 'raw' ? fc.stringify(a.v) : JSON.stringify(a))).join(', ')})`;
}

function checkThrown(e: unknown, s: Step): void {
  if (e instanceof SyscallError) {
    if (errno[e.code] !== e.errno || typeof e.syscall !== 'string' || e.syscall === '') {
      throw new Error(`${show(s)}: malformed SyscallError ${e.code}/${e.errno}/${e.syscall}`);
    }
    return;
  }
  if (e instanceof SignalError) {
    if (!['SIGSEGV', 'SIGBUS', 'SIGKILL'].includes(e.signal)) throw new Error(`${show(s)}: unexpected signal ${e.signal}`);
    return;
  }
  const what = e instanceof Error ? `${e.constructor.name}: ${e.message}\n${e.stack ?? ''}` : String(e);
  throw new Error(`${show(s)} threw something other than SyscallError/SignalError: ${what}`);
}

function runScenario(steps: Step[], opts: KernelOptions = {}): void {
  const k = new Kernel({ memory: '256MiB', ...opts });
  const free0 = k.vmstat().nr_free_pages!;
  const w: World = { k, procs: [k.spawn(), k.spawn()] };
  // A plausible starting state: in each process a tmpfs memfd (fd 0, 16 pages),
  // a hugetlbfs memfd (fd 1), an anonymous and a shared mapping of the memfd.
  for (const p of w.procs) {
    const m = p.memfd_create('m', 0);
    p.ftruncate(m, 16 * PAGE);
    p.memfd_create('h', MFD_HUGETLB);
    p.mmap(0, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    p.mmap(0, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
  }
  const done: string[] = [];
  for (const s of steps) {
    try {
      run(w, s);
    } catch (e) {
      checkThrown(e, s);
    }
    done.push(show(s));
    const v = k.check();
    if (v.length > 0) throw new Error(`kernel.check() after:\n  ${done.join('\n  ')}\n=> ${JSON.stringify(v)}`);
  }
  for (const p of w.procs) p.exit();
  const v = k.check();
  if (v.length > 0) throw new Error(`kernel.check() after every process exited: ${JSON.stringify(v)}`);
  // Everything the processes held (pages, page tables, page caches of memfds) is
  // freed. The huge zero folio, once allocated, stays until a shrinker frees it
  // (as in Linux), so its 512 pages are allowed. So is the page cache of regular
  // files a step created on the disk filesystem (open with O_CREAT): the files
  // outlive their creators, and their pages stay cached until reclaim, as in Linux.
  const m = k.meminfo();
  const diskCache = (m.Cached - m.Shmem) / 4;
  const free1 = k.vmstat().nr_free_pages! + (k.host.hugeZeroFolio !== 0 ? 512 : 0) + diskCache;
  if (free1 !== free0) {
    const shmem = k.meminfo().Shmem;
    throw new Error(`after every process exited: ${free0 - free1} pages not freed (Shmem ${shmem} kB) after:\n  ${done.join('\n  ')}`);
  }
}

describe('syscall fuzz', () => {
  it('random syscall sequences over several processes: only SyscallError/SignalError, and kernel.check() stays []', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 40, size: 'max' }), (steps) => {
        runScenario(steps);
      }),
      { numRuns: 1000, interruptAfterTimeLimit: 14_000, markInterruptAsFailure: false },
    );
  });

  it('a plausible-only mix (no junk values) also stays consistent', () => {
    const plausible = fc.oneof(
      step('mmap', [vmaAddr, raw(fc.integer({ min: 1, max: 16 }).map((n) => n * PAGE)), raw(fc.constantFrom(PROT_READ, PROT_READ | PROT_WRITE)), raw(fc.constantFrom(MAP_PRIVATE | MAP_ANONYMOUS, MAP_SHARED | MAP_ANONYMOUS, MAP_SHARED, MAP_PRIVATE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)), fd, raw(fc.constant(0))], 4),
      step('munmap', [vmaAddr, raw(fc.integer({ min: 1, max: 8 }).map((n) => n * PAGE))]),
      step('mprotect', [vmaAddr, raw(fc.integer({ min: 1, max: 8 }).map((n) => n * PAGE)), raw(fc.constantFrom(0, PROT_READ, PROT_READ | PROT_WRITE))], 2),
      step('madvise', [vmaAddr, raw(fc.integer({ min: 1, max: 8 }).map((n) => n * PAGE)), raw(fc.constantFrom(...ALL_MADV))], 2),
      step('memfd_create', [raw(fc.constant('m')), raw(fc.constant(0))]),
      step('ftruncate', [fd, raw(fc.integer({ min: 0, max: 32 }).map((n) => n * PAGE))]),
      step('fallocate', [fd, raw(fc.constantFrom(0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)), raw(fc.integer({ min: 0, max: 16 * PAGE })), raw(fc.integer({ min: 1, max: 8 * PAGE }))]),
      step('pwrite', [fd, raw(fc.uint8Array({ minLength: 1, maxLength: 64 })), raw(fc.integer({ min: 1, max: 64 })), raw(fc.integer({ min: 0, max: 16 * PAGE }))]),
      step('write', [vmaAddr, raw(fc.uint8Array({ minLength: 1, maxLength: PAGE }))], 3),
      step('read', [vmaAddr, raw(fc.integer({ min: 1, max: PAGE }))], 2),
      step('close', [fd]),
      step('fork', []),
      step('exit', []),
    );
    fc.assert(
      fc.property(fc.array(plausible, { minLength: 1, maxLength: 40, size: 'max' }), (steps) => {
        runScenario(steps);
      }),
      { numRuns: 300, interruptAfterTimeLimit: 5_000, markInterruptAsFailure: false },
    );
  });

  it('with a tiny max_map_count and 32 MiB of RAM (split refusals, OOM paths) the kernel stays consistent', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 40, size: 'max' }), (steps) => {
        runScenario(steps, { memory: '32MiB', maxMapCount: 6 });
      }),
      { numRuns: 300, interruptAfterTimeLimit: 5_000, markInterruptAsFailure: false },
    );
  });

  it('exotic values in every position of every syscall (revoked proxy, throwing getters) never escape as TypeErrors', () => {
    const k = new Kernel({ memory: '256MiB' });
    const p = k.spawn();
    const fdn = p.memfd_create('m', 0);
    p.ftruncate(fdn, 4 * PAGE);
    const a = p.mmap(0, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    const { proxy: revoked, revoke } = Proxy.revocable({}, {});
    revoke();
    const getterBomb = Object.defineProperty({}, 'length', {
      get(): never {
        throw new Error('internal read .length of an argument');
      },
    });
    const hostile = new Proxy(
      {},
      {
        get(): never {
          throw new Error('internal read a property of an argument');
        },
        has(): never {
          throw new Error('internal probed a property of an argument');
        },
      },
    );
    const calls: [string, number, (v: unknown) => unknown][] = [];
    const add = (n: string, arity: number, f: (args: unknown[]) => unknown, base: unknown[]) => {
      for (let i = 0; i < arity; i++) calls.push([n, i, (v) => f(base.map((b, j) => (j === i ? v : b)))]);
    };
    add('mmap', 6, (x) => p.mmap(x[0], x[1], x[2], x[3], x[4], x[5]), [0, PAGE, PROT_READ, MAP_SHARED, fdn, 0]);
    add('munmap', 2, (x) => p.munmap(x[0], x[1]), [a + 3 * PAGE, PAGE]);
    add('mprotect', 3, (x) => p.mprotect(x[0], x[1], x[2]), [a, PAGE, PROT_READ | PROT_WRITE]);
    add('madvise', 3, (x) => p.madvise(x[0], x[1], x[2]), [a, PAGE, MADV_NORMAL]);
    add('memfd_create', 2, (x) => p.memfd_create(x[0], x[1]), ['x', 0]);
    add('ftruncate', 2, (x) => p.ftruncate(x[0], x[1]), [fdn, 4 * PAGE]);
    add('fallocate', 4, (x) => p.fallocate(x[0], x[1], x[2], x[3]), [fdn, FALLOC_FL_KEEP_SIZE, 0, PAGE]);
    add('pread', 4, (x) => p.pread(x[0], x[1], x[2], x[3]), [fdn, new Uint8Array(4), 4, 0]);
    add('pwrite', 4, (x) => p.pwrite(x[0], x[1], x[2], x[3]), [fdn, new Uint8Array(4), 4, 0]);
    add('fstat', 1, (x) => p.fstat(x[0]), [fdn]);
    add('open', 2, (x) => p.open(x[0], x[1]), ['/nope', 0]);
    add('read', 2, (x) => p.read(x[0], x[1]), [a, 4]);
    add('write', 2, (x) => p.write(x[0], x[1]), [a, new Uint8Array(4)]);
    add('fill', 3, (x) => p.fill(x[0], x[1], x[2]), [a, 4, 1]);
    for (const [n, i, f] of calls) {
      for (const v of [revoked, getterBomb, hostile]) {
        try {
          f(v);
        } catch (e) {
          if (!(e instanceof SyscallError) && !(e instanceof SignalError)) throw new Error(`${n} arg ${i}: ${String(e)}`);
        }
        expect(k.check()).toEqual([]);
      }
    }
    // close last: it would change the descriptor table for the others.
    for (const v of [revoked, getterBomb, hostile]) {
      try {
        p.close(v);
      } catch (e) {
        expect(e).toBeInstanceOf(SyscallError);
      }
    }
    expect(k.check()).toEqual([]);
  });

  // `x instanceof Uint8Array` would run a revoked proxy's getPrototypeOf trap and
  // throw a TypeError ("Cannot perform 'getPrototypeOf' on a proxy that has been
  // revoked"); buffers are probed without running the caller's code.
  it('a revoked Proxy as the pread/pwrite buffer or the write bytes -> EFAULT', () => {
    const k = new Kernel({ memory: '256MiB' });
    const p = k.spawn();
    const fdn = p.memfd_create('m', 0);
    const a = p.mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    for (const f of [() => p.pread(fdn, proxy, 4, 0), () => p.pwrite(fdn, proxy, 4, 0), () => p.write(a, proxy)]) {
      let thrown: unknown;
      try {
        f();
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(SyscallError);
      expect((thrown as SyscallError).code).toBe('EFAULT');
    }
  });
});
