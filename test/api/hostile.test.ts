/**
 * Every public method answers any JavaScript value with the kernel's errno
 * (issue 11 section 1).
 *
 * The methods are enumerated from the prototypes of the exported classes
 * (Kernel, Process, KernelGup, CostModel), so a new method is covered without
 * touching this file. Each call puts one hostile value (drawn from one of the
 * value classes below) in one argument position, with plausible values
 * (small descriptors, the address of a mapping, a buffer, a path) elsewhere,
 * on a small kernel with a few mappings and descriptors open. An outcome is:
 *
 *   returned     the method returned (an errno-as-value for KernelGup)
 *   SyscallError the kernel's errno
 *   SignalError  a CPU access faulted (read, write, fill)
 *   documented   a named exception of the public API for that method
 *                (UffdFault for a CPU access waiting on a userfaultfd,
 *                KernelConfigError, UnknownCostError, InvalidCostError)
 *   user         the caller's own code threw (a getter, a Proxy trap, a
 *                valueOf) and the model let that exception through unchanged:
 *                allowed, but only if it is exactly the object the caller's
 *                code threw
 *   other        anything else (a TypeError from inside the model): a bug
 *
 * After each call kernel.check() must be []. The matrix of outcomes (methods x
 * value classes) is written to HOSTILE_MATRIX_OUT when that variable is set
 * (scripts/hostile-matrix.sh records it in docs/API.md, Hostile values).
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as api from '../../src/index.js';
import { describeValue } from '../../src/lib/describe.js';
import {
  IORING_REGISTER_BUFFERS,
  KVM_CREATE_VCPU,
  KVM_CREATE_VM,
  KVM_RUN,
  KVM_SET_USER_MEMORY_REGION2,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  O_CREAT,
  O_RDWR,
  PROT_READ,
  PROT_WRITE,
  UFFDIO_API,
  UFFDIO_COPY,
  UFFDIO_REGISTER,
  UFFDIO_REGISTER_MODE_MISSING,
  UFFD_API,
} from '../../src/uapi/index.js';

/** What the caller's own code throws; the only exception allowed through unchanged. */
class UserCodeError extends Error {}
const userErrors = new WeakSet<object>();
function userThrow(): never {
  const e = new UserCodeError('thrown by the caller\'s own code');
  userErrors.add(e);
  throw e;
}

function revoked(target: object): unknown {
  const r = Proxy.revocable(target, {});
  r.revoke();
  return r.proxy;
}

const throwingCoercion = (): unknown => ({ valueOf: userThrow, toString: userThrow, [Symbol.toPrimitive]: userThrow });
const throwingGetters = (): unknown =>
  new Proxy({}, { get: userThrow, has: userThrow, ownKeys: userThrow, getOwnPropertyDescriptor: userThrow, getPrototypeOf: userThrow, set: userThrow, defineProperty: userThrow });

/**
 * The value classes of the issue, each an arbitrary of fresh values. fast-check
 * inspects the values it draws (a clone method, its report), which would run
 * the traps; so each class draws a box that makes the value at call time.
 */
type Box = { make: () => unknown };
const boxed = (arb: fc.Arbitrary<unknown>): fc.Arbitrary<Box> => arb.map((v) => ({ make: () => v }));
const made = (f: () => unknown): fc.Arbitrary<Box> => fc.constant({ make: f });
const RAW_CLASSES: readonly { name: string; arb: fc.Arbitrary<unknown> | (() => unknown) }[] = [
  { name: 'undefined', arb: fc.constant(undefined) },
  { name: 'null', arb: fc.constant(null) },
  { name: 'NaN', arb: fc.constant(NaN) },
  { name: '±Infinity', arb: fc.constantFrom(Infinity, -Infinity) },
  { name: '-0', arb: fc.constant(-0) },
  { name: '≥2^53', arb: fc.oneof(fc.constantFrom(2 ** 53, 2 ** 53 + 2, 2 ** 63, 2 ** 64, Number.MAX_VALUE), fc.double({ min: 2 ** 53, noNaN: true, noDefaultInfinity: true })) },
  { name: 'negative', arb: fc.oneof(fc.constantFrom(-1, -4096, -(2 ** 31), -(2 ** 63), -0.5), fc.integer({ max: -1 })) },
  { name: 'fraction', arb: fc.double({ min: -1e6, max: 1e6, noNaN: true }).filter((v) => !Number.isInteger(v)) },
  { name: 'bigint', arb: fc.oneof(fc.constantFrom(0n, 1n, -1n, 1n << 64n, 1n << 63n, 4096n), fc.bigInt({ min: -(1n << 80n), max: 1n << 80n })) },
  { name: 'string', arb: fc.oneof(fc.constantFrom('', '0', '4096', '/tmp/x', 'EINVAL', '\0', 'a'.repeat(5000)), fc.string({ maxLength: 20 })) },
  { name: 'Symbol', arb: fc.string({ maxLength: 4 }).map((s) => Symbol(s)) },
  { name: 'function', arb: fc.constantFrom(() => 0, function named() {}, class C {}, async () => 1, function* g() {}).map((f) => f as unknown) },
  { name: 'array', arb: fc.oneof(fc.constantFrom([], [0], [1, 2, 3]), fc.array(fc.oneof(fc.integer(), fc.constant({ iov_base: 0, iov_len: 4096 })), { maxLength: 4 })) },
  { name: 'object', arb: fc.oneof(fc.constantFrom({}, Object.create(null) as unknown, { addr: 0, size: 4096, len: 4096, iov_base: 0, iov_len: 1 }, new Date(0), new Map(), new Uint8Array(8), new Uint32Array(4)), fc.object({ maxDepth: 1 })) },
  { name: 'throwing valueOf/toString', arb: throwingCoercion },
  { name: 'throwing getters', arb: throwingGetters },
  { name: 'Proxy', arb: () => new Proxy([0, 4096], {}) },
  { name: 'Proxy', arb: () => new Proxy(new Uint8Array(16), {}) },
  { name: 'Proxy', arb: () => new Proxy({ addr: 0, size: 4096 }, {}) },
  { name: 'revoked Proxy', arb: () => revoked({}) },
  { name: 'revoked Proxy', arb: () => revoked([]) },
  { name: 'revoked Proxy', arb: () => revoked(() => 0) },
];

/** One arbitrary of boxes per value class (classes listed more than once draw from each of their makers). */
const VALUE_CLASSES: readonly { name: string; arb: fc.Arbitrary<Box> }[] = [...new Set(RAW_CLASSES.map((c) => c.name))].map((name) => {
  const arbs = RAW_CLASSES.filter((c) => c.name === name).map((c) => (typeof c.arb === 'function' ? made(c.arb) : boxed(c.arb)));
  return { name, arb: arbs.length === 1 ? arbs[0]! : fc.oneof(...arbs) };
});

/** A small kernel with something in it: a mapping, a file, a memfd, a pipe. */
interface World {
  k: api.Kernel;
  p: api.Process;
  addr: number;
  plausible: unknown[];
}

function boot(): World {
  const k = new api.Kernel({ memory: '32MiB', hugetlb: { '2MiB': 2 } });
  const p = k.spawn();
  const addr = p.mmap(0, 1 << 21, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  p.fill(addr, 8192, 1);
  const fd = p.open('/tmp/f', O_CREAT | O_RDWR);
  p.pwrite(fd, new Uint8Array(8192), 8192, 0);
  p.mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  p.memfd_create('m', 0);
  p.pipe();
  // A userfaultfd past UFFDIO_API with the mapping registered, an io_uring ring, a KVM VM and vCPU.
  const uffd = p.userfaultfd(0);
  p.ioctl(uffd, UFFDIO_API, { api: UFFD_API, features: 0 });
  p.ioctl(uffd, UFFDIO_REGISTER, { range: { start: addr + (1 << 20), len: 1 << 20 }, mode: UFFDIO_REGISTER_MODE_MISSING });
  p.io_uring_setup(4, {});
  const vm = p.ioctl(p.open('/dev/kvm', O_RDWR), KVM_CREATE_VM, 0);
  p.ioctl(vm, KVM_CREATE_VCPU, 0);
  const pfn = p.pagemap(addr).pfn;
  const fds = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const requests = [UFFDIO_COPY, UFFDIO_REGISTER, KVM_CREATE_VCPU, KVM_SET_USER_MEMORY_REGION2, KVM_RUN, IORING_REGISTER_BUFFERS];
  const structs = () => [{ dst: addr, src: addr, len: 4096, mode: 0 }, { range: { start: addr, len: 4096 }, mode: 1 }, [{ iov_base: addr, iov_len: 4096 }]];
  return { k, p, addr, plausible: [...fds, 4096, 8192, addr, addr + 4096, addr + (1 << 20), pfn, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, new Uint8Array(64), [], '/tmp/f', ...requests, ...structs()] };
}

type Outcome = 'returned' | 'SyscallError' | 'SignalError' | 'documented' | 'user' | 'other';
const OUTCOMES: readonly Outcome[] = ['returned', 'SyscallError', 'SignalError', 'documented', 'user', 'other'];

/** Named exceptions each class's methods document (docs/API.md). */
const DOCUMENTED: Record<string, readonly (new (...a: never[]) => Error)[]> = {
  Process: [api.UffdFault],
  Kernel: [api.UnknownCostError, api.InvalidCostError],
  KernelGup: [],
  CostModel: [api.UnknownCostError, api.InvalidCostError],
  'new Kernel': [api.KernelConfigError],
  'new CostModel': [api.UnknownCostError, api.InvalidCostError],
};

function classify(cls: string, ok: boolean, e: unknown): Outcome {
  if (ok) return 'returned';
  // KernelGup is a kernel-internal API: it returns -errno, it never throws.
  if (e instanceof api.SyscallError && cls !== 'KernelGup') return 'SyscallError';
  if (e instanceof api.SignalError && cls === 'Process') return 'SignalError';
  if (DOCUMENTED[cls]!.some((c) => e instanceof c)) return 'documented';
  if (typeof e === 'object' && e !== null && userErrors.has(e)) return 'user';
  return 'other';
}

/** A callable member of a class: a method, a setter, or the constructor. */
interface Target {
  cls: string;
  name: string;
  arity: number;
  call: (w: World, args: unknown[]) => unknown;
}

function targets(): Target[] {
  const out: Target[] = [];
  const classes: [string, object, (w: World) => object][] = [
    ['Kernel', api.Kernel.prototype, (w) => w.k],
    ['Process', api.Process.prototype, (w) => w.p],
    ['KernelGup', api.KernelGup.prototype, (w) => w.k.gup],
    ['CostModel', api.CostModel.prototype, () => new api.CostModel()],
  ];
  for (const [cls, proto, self] of classes) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (name === 'constructor') continue;
      const d = Object.getOwnPropertyDescriptor(proto, name)!;
      if (typeof d.value === 'function') {
        const fn = d.value as (...a: unknown[]) => unknown;
        // Two more than the declared parameters: defaulted ones (mremap's newAddress) get values too.
        out.push({ cls, name, arity: fn.length + 2, call: (w, args) => Reflect.apply(fn, self(w), args) });
      }
      if (d.set !== undefined) {
        const set = d.set;
        out.push({ cls, name: `${name}=`, arity: 1, call: (w, args) => Reflect.apply(set, self(w), args.slice(0, 1)) });
      }
      if (d.get !== undefined) {
        const get = d.get;
        out.push({ cls, name: `${name} (get)`, arity: 0, call: (w) => Reflect.apply(get, self(w), []) });
      }
    }
  }
  out.push({ cls: 'new Kernel', name: 'constructor', arity: 1, call: (_w, args) => Reflect.construct(api.Kernel, args) });
  out.push({ cls: 'new CostModel', name: 'constructor', arity: 1, call: (_w, args) => Reflect.construct(api.CostModel, args) });
  return out;
}

const ONLY = process.env.HOSTILE_ONLY;
const TARGETS = targets().filter((t) => ONLY === undefined || `${t.cls}.${t.name}`.startsWith(ONLY));
/** Calls per (method, value class), on one small kernel. */
const RUNS = Number(process.env.HOSTILE_RUNS ?? 3);

type Matrix = Record<string, Record<string, Record<Outcome, number>>>;
const matrix: Matrix = {};
const failures: string[] = [];

function record(t: Target, vc: string, o: Outcome): void {
  const row = (matrix[`${t.cls}.${t.name}`] ??= {});
  const cell = (row[vc] ??= { returned: 0, SyscallError: 0, SignalError: 0, documented: 0, user: 0, other: 0 });
  cell[o]++;
}

function describeArgs(args: unknown[]): string {
  return args.map((a) => describeValue(a)).join(', ');
}

describe('hostile values on every public method', () => {
  it('enumerates the public methods from the prototypes', () => {
    const names = TARGETS.map((t) => `${t.cls}.${t.name}`);
    expect(names).toContain('Process.mmap');
    expect(names).toContain('Kernel.readSysfs');
    expect(names).toContain('KernelGup.pin_user_pages');
    expect(names).not.toContain('Process.fdget');
    expect(TARGETS.length).toBeGreaterThan(80);
  });

  for (const t of TARGETS) {
    it(`${t.cls}.${t.name}`, () => {
      const mine: string[] = [];
      for (const vc of VALUE_CLASSES) {
        const positions = Math.max(1, t.arity);
        // One kernel per (method, value class), booted again once its process has exited.
        let world: World | null = null;
        // Each value class runs to the end even when another failed, so one run lists every crash.
        const r = fc.check(
          fc.property(fc.nat({ max: positions - 1 }), vc.arb, fc.array(fc.nat(), { minLength: positions, maxLength: positions }), (pos, hostile, picks) => {
            if (world === null || world.p.exitCode !== null) world = boot();
            const w = world;
            const args = picks.map((i) => w.plausible[i % w.plausible.length]);
            args[pos] = hostile.make();
            if (process.env.HOSTILE_TRACE) appendFileSync(process.env.HOSTILE_TRACE, `${t.cls}.${t.name} ${vc.name} ${pos}\n`);
            let ok = true;
            let err: unknown;
            try {
              t.call(w, args);
            } catch (e) {
              ok = false;
              err = e;
            }
            const o = classify(t.cls, ok, err);
            record(t, vc.name, o);
            if (o === 'other') {
              failures.push(`${t.cls}.${t.name}(${describeArgs(args)}): ${err instanceof Error ? `${err.constructor.name}: ${err.message}` : String(err)}`);
              return false;
            }
            const v = w.k.check();
            if (v.length > 0) {
              failures.push(`${t.cls}.${t.name}(${describeArgs(args)}): oracle ${v[0]!.name}: ${v[0]!.message}`);
              return false;
            }
            return true;
          }),
          { numRuns: RUNS, seed: Number(process.env.HOSTILE_SEED ?? 11), endOnFailure: true },
        );
        if (r.failed) mine.push(`${vc.name}: ${failures.at(-1) ?? fc.defaultReportMessage(r)}`);
      }
      expect(mine).toEqual([]);
    });
  }

  it('matrix', () => {
    const out = process.env.HOSTILE_MATRIX_OUT;
    if (out !== undefined) writeFileSync(out, out.endsWith('.md') ? matrixMarkdown() : JSON.stringify({ classes: VALUE_CLASSES.map((v) => v.name), outcomes: OUTCOMES, matrix }, null, 1));
    // Every (method, value class) pair ran and none ended in 'other'.
    expect(Object.keys(matrix).length).toBe(TARGETS.length);
    for (const row of Object.values(matrix)) for (const cell of Object.values(row)) expect(cell.other).toBe(0);
  });
});

/** The matrix as docs/HOSTILE_VALUES.md: totals per method and per value class, then every cell. */
function matrixMarkdown(): string {
  const short: Record<Outcome, string> = { returned: 'ret', SyscallError: 'errno', SignalError: 'sig', documented: 'doc', user: 'user', other: 'other' };
  const zero = (): Record<Outcome, number> => ({ returned: 0, SyscallError: 0, SignalError: 0, documented: 0, user: 0, other: 0 });
  const add = (a: Record<Outcome, number>, b: Record<Outcome, number>) => OUTCOMES.forEach((o) => (a[o] += b[o]));
  const total = zero();
  const byClass = new Map(VALUE_CLASSES.map((v) => [v.name, zero()]));
  const lines: string[] = [];
  lines.push('# Hostile values: outcomes per public method', '');
  lines.push(`Generated by \`HOSTILE_RUNS=${RUNS} HOSTILE_MATRIX_OUT=docs/HOSTILE_VALUES.md npx vitest run test/api/hostile.test.ts\` (seed ${process.env.HOSTILE_SEED ?? 11}).`);
  lines.push(`Each method is called ${RUNS} times per value class, the hostile value in one drawn argument position and plausible values in the others, on a small kernel; kernel.check() is [] after every call. Outcomes: ${OUTCOMES.map((o) => `${short[o]} = ${o}`).join(', ')} (see test/api/hostile.test.ts).`, '');
  lines.push('## Per method', '', `| method | calls | ${OUTCOMES.map((o) => short[o]).join(' | ')} |`, `|---|---:|${OUTCOMES.map(() => '---:').join('|')}|`);
  for (const [m, row] of Object.entries(matrix)) {
    const t = zero();
    for (const [vc, cell] of Object.entries(row)) {
      add(t, cell);
      add(byClass.get(vc)!, cell);
    }
    add(total, t);
    lines.push(`| \`${m}\` | ${OUTCOMES.reduce((n, o) => n + t[o], 0)} | ${OUTCOMES.map((o) => t[o]).join(' | ')} |`);
  }
  lines.push(`| **all** | ${OUTCOMES.reduce((n, o) => n + total[o], 0)} | ${OUTCOMES.map((o) => total[o]).join(' | ')} |`, '');
  lines.push('## Per value class', '', `| value class | calls | ${OUTCOMES.map((o) => short[o]).join(' | ')} |`, `|---|---:|${OUTCOMES.map(() => '---:').join('|')}|`);
  for (const [vc, t] of byClass) lines.push(`| ${vc} | ${OUTCOMES.reduce((n, o) => n + t[o], 0)} | ${OUTCOMES.map((o) => t[o]).join(' | ')} |`);
  lines.push('', '## Every cell', '', `Each cell: ${OUTCOMES.map((o) => short[o]).join('/')}.`, '');
  lines.push(`| method | ${VALUE_CLASSES.map((v) => v.name).join(' | ')} |`, `|---|${VALUE_CLASSES.map(() => '---').join('|')}|`);
  for (const [m, row] of Object.entries(matrix)) lines.push(`| \`${m}\` | ${VALUE_CLASSES.map((v) => OUTCOMES.map((o) => row[v.name]?.[o] ?? 0).join('/')).join(' | ')} |`);
  return `${lines.join('\n')}\n`;
}
