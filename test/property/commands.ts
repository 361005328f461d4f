/**
 * fast-check model-based commands for foliosim: one class per syscall.
 *
 *   check(model)      the precondition (reads the model only)
 *   run(model, real)  performs the call on foliosim, asserts the outcome the
 *                     reference predicts (errno, signal and address, bytes),
 *                     updates the reference, then asserts kernel.check() == []
 *   toString()        the foliosim call as run (replayable), with the outcome
 *
 * Commands carry selectors (which process, which known region, which fd)
 * rather than concrete values: fast-check builds a command list without a
 * model, so the concrete call is resolved against the model when it runs.
 * Every failure message carries the whole run as a replayable script.
 */
import fc from 'fast-check';
import { Kernel, type Process, SignalError, SyscallError } from '../../src/index.js';
import {
  FALLOC_FL_KEEP_SIZE,
  FALLOC_FL_PUNCH_HOLE,
  FALLOC_FL_ZERO_RANGE,
  MADV_DODUMP,
  MADV_DOFORK,
  MADV_DONTDUMP,
  MADV_DONTFORK,
  MADV_DONTNEED,
  MADV_HUGEPAGE,
  MADV_KEEPONFORK,
  MADV_NOHUGEPAGE,
  MADV_NORMAL,
  MADV_POPULATE_READ,
  MADV_POPULATE_WRITE,
  MADV_RANDOM,
  MADV_REMOVE,
  MADV_SEQUENTIAL,
  MADV_WIPEONFORK,
  MADV_WILLNEED,
  MADV_COLD,
  MADV_COLLAPSE,
  MADV_PAGEOUT,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  MFD_CLOEXEC,
  PROT_EXEC,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from '../../src/uapi/index.js';
import { PAGE, PMD, RefSystem, type AccessResult, type RefProc, accessFault, pageBytes } from './reference.js';

// ---------------------------------------------------------------------------
// Model and real system.

/** A range some mmap returned: accesses and range syscalls aim at and around these. */
export interface Region {
  start: number;
  pages: number;
}

export interface Model {
  sys: RefSystem;
  /** Every range ever mapped, in any process (they may since be gone: that tests SIGSEGV). */
  regions: Region[];
  /** Number of 4 MiB THP regions mapped so far (bounded to keep memory small). */
  thpRegions: number;
  memfds: number;
}

export interface Real {
  kernel: Kernel;
  procs: Map<number, Process>;
  log: string[];
  header: string;
  /** meminfo MemFree before p1 was spawned. */
  memFreeAtBoot: number;
}

export interface Limits {
  maxProcs: number;
  maxThpRegions: number;
  maxFds: number;
}

export const DEFAULT_LIMITS: Limits = { maxProcs: 4, maxThpRegions: 3, maxFds: 4 };

/** Small mappings go into a 64-page arena far from where the kernel places hint-less mappings. */
export const ARENA = 0x7ff000000000;
export const ARENA_SLOTS = 64;

export type ThpMode = 'always' | 'madvise' | 'never';

export interface SetupOptions {
  thp: ThpMode;
  memory?: string;
  limits?: Limits;
  /** Commands run on the fresh system before the generated ones (they are in the replay too). */
  prelude?: () => Cmd[];
  /** The Kernel option swap (a zram-like area): MADV_PAGEOUT then really swaps. */
  swap?: string;
}

/** fc.modelRun's setup: a fresh kernel with one process (p1) and the matching reference. */
export function makeSetup(o: SetupOptions): () => { model: Model; real: Real } {
  const memory = o.memory ?? '256MiB';
  return () => {
    const kernel = new Kernel({ memory, thp: o.thp, ...(o.swap === undefined ? {} : { swap: o.swap }) });
    const memFreeAtBoot = kernel.meminfo().MemFree;
    const p1 = kernel.spawn();
    const sys = new RefSystem();
    const m1 = sys.spawn();
    if (m1.pid !== p1.pid) throw new Error(`setup: pid ${p1.pid}, model expected ${m1.pid}`);
    const header = [
      `// foliosim replay (thp=${o.thp})`,
      `import { Kernel, type Process } from 'foliosim';`,
      `import { ${UAPI_NAMES.join(', ')} } from 'foliosim/uapi';`,
      `const pattern = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (seed * 131 + i * 7 + (i >> 12) * 13) & 0xff);`,
      `const t = (f: () => unknown) => { try { return f(); } catch (e) { return e; } };`,
      `const readAll = (p: Process, reads: [number, number][]) => { for (const [a, n] of reads) t(() => p.read(a, n)); };`,
      `const kernel = new Kernel({ memory: '${memory}', thp: '${o.thp}'${o.swap === undefined ? '' : `, swap: '${o.swap}'`} });`,
      `const p1 = kernel.spawn();`,
    ].join('\n');
    limitsOf.set(sys, o.limits ?? DEFAULT_LIMITS);
    stats.set('(runs)', (stats.get('(runs)') ?? 0) + 1);
    const model: Model = { sys, regions: [], thpRegions: 0, memfds: 0 };
    const real: Real = { kernel, procs: new Map([[p1.pid, p1]]), log: [], header, memFreeAtBoot };
    for (const c of o.prelude?.() ?? []) if (c.check(model)) c.run(model, real);
    return { model, real };
  };
}

const limitsOf = new WeakMap<RefSystem, Limits>();
const limits = (m: Readonly<Model>): Limits => limitsOf.get(m.sys) ?? DEFAULT_LIMITS;

// ---------------------------------------------------------------------------
// Formatting.

const UAPI_NAMES = [
  'PROT_NONE', 'PROT_READ', 'PROT_WRITE', 'PROT_EXEC', 'MAP_SHARED', 'MAP_PRIVATE', 'MAP_FIXED', 'MAP_ANONYMOUS',
  'MADV_DONTNEED', 'MADV_REMOVE', 'MADV_DONTFORK', 'MADV_DOFORK', 'MADV_WIPEONFORK', 'MADV_KEEPONFORK',
  'MADV_HUGEPAGE', 'MADV_NOHUGEPAGE', 'MADV_POPULATE_READ', 'MADV_POPULATE_WRITE', 'MADV_NORMAL', 'MADV_RANDOM',
  'MADV_SEQUENTIAL', 'MADV_DONTDUMP', 'MADV_DODUMP', 'MADV_WILLNEED', 'MADV_COLD', 'MADV_PAGEOUT', 'MADV_COLLAPSE', 'FALLOC_FL_KEEP_SIZE', 'FALLOC_FL_PUNCH_HOLE', 'FALLOC_FL_ZERO_RANGE', 'MFD_CLOEXEC',
];

export const hex = (n: number): string => (n < 0 ? `-0x${(-n).toString(16)}` : `0x${n.toString(16)}`);

function bits(v: number, names: [number, string][], zero: string): string {
  const out = names.filter(([b]) => b !== 0 && (v & b) === b).map(([, n]) => n);
  return out.length === 0 ? zero : out.join('|');
}

export const protStr = (p: number): string =>
  bits(p, [[PROT_READ, 'PROT_READ'], [PROT_WRITE, 'PROT_WRITE'], [PROT_EXEC, 'PROT_EXEC']], 'PROT_NONE');
const mapStr = (f: number): string =>
  bits(f, [[MAP_SHARED, 'MAP_SHARED'], [MAP_PRIVATE, 'MAP_PRIVATE'], [MAP_FIXED, 'MAP_FIXED'], [MAP_ANONYMOUS, 'MAP_ANONYMOUS']], '0');
const fallocStr = (m: number): string =>
  bits(m, [[FALLOC_FL_KEEP_SIZE, 'FALLOC_FL_KEEP_SIZE'], [FALLOC_FL_PUNCH_HOLE, 'FALLOC_FL_PUNCH_HOLE'], [FALLOC_FL_ZERO_RANGE, 'FALLOC_FL_ZERO_RANGE']], '0');

const ADVICE_NAMES = new Map<number, string>([
  [MADV_NORMAL, 'MADV_NORMAL'],
  [MADV_RANDOM, 'MADV_RANDOM'],
  [MADV_SEQUENTIAL, 'MADV_SEQUENTIAL'],
  [MADV_DONTNEED, 'MADV_DONTNEED'],
  [MADV_REMOVE, 'MADV_REMOVE'],
  [MADV_DONTFORK, 'MADV_DONTFORK'],
  [MADV_DOFORK, 'MADV_DOFORK'],
  [MADV_HUGEPAGE, 'MADV_HUGEPAGE'],
  [MADV_NOHUGEPAGE, 'MADV_NOHUGEPAGE'],
  [MADV_DONTDUMP, 'MADV_DONTDUMP'],
  [MADV_DODUMP, 'MADV_DODUMP'],
  [MADV_WIPEONFORK, 'MADV_WIPEONFORK'],
  [MADV_KEEPONFORK, 'MADV_KEEPONFORK'],
  [MADV_POPULATE_READ, 'MADV_POPULATE_READ'],
  [MADV_POPULATE_WRITE, 'MADV_POPULATE_WRITE'],
  [MADV_WILLNEED, 'MADV_WILLNEED'],
  [MADV_COLD, 'MADV_COLD'],
  [MADV_PAGEOUT, 'MADV_PAGEOUT'],
  /** MADV_MERGEABLE: KSM is not built in, so invalid (EINVAL). */
  [12, '12'],
]);
const adviceStr = (a: number): string => ADVICE_NAMES.get(a) ?? String(a);

/** Deterministic test bytes (also defined in the replay header). */
export function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (seed * 131 + i * 7 + (i >> 12) * 13) & 0xff;
  return out;
}

// ---------------------------------------------------------------------------
// Outcomes and assertions.

type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

function attempt<T>(f: () => T): Outcome<T> {
  try {
    return { ok: true, value: f() };
  } catch (error) {
    return { ok: false, error };
  }
}

function describeError(e: unknown): string {
  if (e instanceof SyscallError) return `SyscallError ${e.code}`;
  if (e instanceof SignalError) return `${e.signal} at ${hex(e.addr)}`;
  if (e instanceof Error) return `${e.name}: ${e.message}\n${e.stack ?? ''}`;
  return String(e);
}

class PropertyFailure extends Error {
  override name = 'PropertyFailure';
}

function fail(r: Real, msg: string): never {
  throw new PropertyFailure(`${msg}\n--- replay ---\n${r.header}\n${r.log.join('\n')}\n--- end ---`);
}

/** A syscall's outcome against the reference's errno (null: success). */
function expectErrno<T>(r: Real, what: string, out: Outcome<T>, expected: string | null): void {
  if (expected === null) {
    if (!out.ok) fail(r, `${what}: expected success, got ${describeError(out.error)}`);
    return;
  }
  if (out.ok) fail(r, `${what}: expected ${expected}, but it succeeded`);
  if (!(out.error instanceof SyscallError) || out.error.code !== expected) fail(r, `${what}: expected ${expected}, got ${describeError(out.error)}`);
}

function firstDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** A CPU access's outcome against the reference's prediction. */
function expectAccess(r: Real, what: string, addr: number, out: Outcome<Uint8Array | void>, exp: AccessResult): void {
  if (exp.signal !== null) {
    if (out.ok) fail(r, `${what}: expected ${exp.signal} at ${hex(exp.addr)}, but the access completed`);
    const e = out.error;
    if (!(e instanceof SignalError) || e.signal !== exp.signal || e.addr !== exp.addr)
      fail(r, `${what}: expected ${exp.signal} at ${hex(exp.addr)}, got ${describeError(e)}`);
    return;
  }
  if (!out.ok) fail(r, `${what}: expected to complete, got ${describeError(out.error)}`);
  if (exp.bytes !== null) {
    const got = out.value as Uint8Array;
    const i = firstDiff(got, exp.bytes);
    if (i >= 0)
      fail(r, `${what}: byte at ${hex(addr + i)} (offset ${i}) is ${got[i]}, reference says ${exp.bytes[i]} (lengths ${got.length}/${exp.bytes.length})`);
  }
}

function expectedComment(exp: AccessResult): string {
  return exp.signal === null ? '' : ` // ${exp.signal} at ${hex(exp.addr)}`;
}

function checkKernel(r: Real): void {
  const v = r.kernel.check();
  if (v.length > 0) fail(r, `kernel.check() found ${v.length} violation(s):\n${v.slice(0, 20).map((x) => JSON.stringify(x)).join('\n')}`);
  // The live processes are the reference's.
  const pids = r.kernel.processes().map((p) => p.pid).sort((a, b) => a - b);
  const want = [...r.procs.keys()].sort((a, b) => a - b);
  if (pids.join() !== want.join()) fail(r, `live processes ${pids.join()} but expected ${want.join()}`);
}

/** How often each command ran, by outcome (printed with FOLIOSIM_PROP_STATS=1). */
export const stats = new Map<string, number>();

// ---------------------------------------------------------------------------
// Selectors.

function pick<T>(arr: readonly T[], sel: number): T {
  return arr[sel % arr.length]!;
}

interface Picked {
  ref: RefProc;
  real: Process;
  name: string;
}

/** A live process; among those satisfying want if any do. */
function pickProc(m: Model, r: Real, sel: number, want?: (p: RefProc) => boolean): Picked {
  const live = m.sys.live();
  const preferred = want === undefined ? [] : live.filter(want);
  const ref = pick(preferred.length > 0 ? preferred : live, sel);
  const real = r.procs.get(ref.pid);
  if (real === undefined) fail(r, `no real process for pid ${ref.pid}`);
  return { ref, real, name: `p${ref.pid}` };
}

const hasFds = (p: RefProc): boolean => p.fds.size > 0;

/**
 * A mapped page address in a known region the process still maps some of;
 * or, if stray, at or around any known region (page (sel mod (pages + 2)) - 1).
 */
export interface At {
  region: number;
  page: number;
  stray: boolean;
}

function mapsSome(p: RefProc, reg: Region): boolean {
  for (let v = reg.start / PAGE; v < reg.start / PAGE + reg.pages; v++) if (p.pages.has(v)) return true;
  return false;
}

function regionFor(m: Model, p: RefProc, sel: number, stray: boolean): Region {
  const own = stray ? [] : m.regions.filter((reg) => mapsSome(p, reg));
  return pick(own.length > 0 ? own : m.regions, sel);
}

function pageAt(m: Model, p: RefProc, at: At): number {
  const reg = regionFor(m, p, at.region, at.stray);
  // Stray addresses may also fall on the page before or after the region.
  if (at.stray) return reg.start + ((at.page % (reg.pages + 2)) - 1) * PAGE;
  // Otherwise a page of the region the process maps (if it maps any).
  const mapped: number[] = [];
  for (let i = 0; i < reg.pages; i++) if (p.pages.has(reg.start / PAGE + i)) mapped.push(i);
  const off = mapped.length > 0 ? pick(mapped, at.page) : at.page % reg.pages;
  return reg.start + off * PAGE;
}

function addRegion(m: Model, start: number, pages: number): void {
  if (!m.regions.some((x) => x.start === start && x.pages === pages)) m.regions.push({ start, pages });
}

/** An fd of the process: an open one, or (bad, or none open) one that is not. */
function pickFd(p: RefProc, sel: number, bad: boolean): number {
  const open = [...p.fds.keys()].sort((a, b) => a - b);
  if (bad || open.length === 0) return 17 + (sel % 3);
  return pick(open, sel);
}

// ---------------------------------------------------------------------------
// The command base.

export abstract class Cmd implements fc.Command<Model, Real> {
  /** The call as run, for toString and the replay log. */
  protected line = '';

  abstract check(m: Readonly<Model>): boolean;
  protected abstract exec(m: Model, r: Real): void;
  protected abstract sketch(): string;

  run(m: Model, r: Real): void {
    this.line = '';
    this.exec(m, r);
    checkKernel(r);
  }

  /** Record the resolved call in the replay log (before asserting its outcome). */
  protected say(r: Real, line: string): void {
    this.line = line;
    r.log.push(line);
    const outcome = /\/\/ (E[A-Z]+|SIG[A-Z]+)/.exec(line)?.[1] ?? 'ok';
    const key = `${this.constructor.name.replace(/Cmd$/, '')} ${outcome}`;
    stats.set(key, (stats.get(key) ?? 0) + 1);
  }

  toString(): string {
    return this.line !== '' ? this.line : this.sketch();
  }

  [fc.cloneMethod](): Cmd {
    const c = Object.create(Object.getPrototypeOf(this) as object) as Cmd;
    Object.assign(c, this);
    c.line = '';
    return c;
  }
}

const hasProc = (m: Readonly<Model>): boolean => m.sys.procs.size > 0;
/** Some process has an open fd (fd commands without a deliberately bad fd need one). */
const anyFds = (m: Readonly<Model>): boolean => m.sys.live().some((p) => p.fds.size > 0);
const hasRegion = (m: Readonly<Model>): boolean => hasProc(m) && m.regions.length > 0;

// ---------------------------------------------------------------------------
// mmap

export type MapKind = 'anon' | 'shared-anon' | 'memfd-shared' | 'memfd-private';
export type MmapBad = 'none' | 'len0' | 'unaligned-off' | 'badfd' | 'unaligned-fixed';

export interface MmapParams {
  proc: number;
  kind: MapKind;
  slot: number;
  pages: number;
  /** Bytes short of whole pages (mmap rounds the length up). */
  trim: number;
  prot: number;
  fixed: boolean;
  fd: number;
  offPages: number;
  bad: MmapBad;
  /** MAP_FIXED over a page of a known region instead of the arena (replaces part of it). */
  over: At | null;
}

export class MmapCmd extends Cmd {
  constructor(readonly p: MmapParams) {
    super();
  }
  check(m: Readonly<Model>): boolean {
    const file = this.p.kind === 'memfd-shared' || this.p.kind === 'memfd-private';
    return hasProc(m) && (!file || this.p.bad === 'badfd' || anyFds(m));
  }
  protected sketch(): string {
    return `mmap(${JSON.stringify(this.p)})`;
  }
  protected exec(m: Model, r: Real): void {
    const P = this.p;
    const file = P.kind === 'memfd-shared' || P.kind === 'memfd-private';
    const { ref, real, name } = pickProc(m, r, P.proc, file && P.bad !== 'badfd' ? hasFds : undefined);
    let addr = ARENA + (P.slot % ARENA_SLOTS) * PAGE;
    let fixed = P.fixed;
    if (P.over !== null && m.regions.length > 0) {
      addr = pageAt(m, ref, P.over);
      fixed = true;
    }
    let len = Math.max(0, P.pages * PAGE - P.trim);
    let off = file ? P.offPages * PAGE : 0;
    let fd = file ? pickFd(ref, P.fd, P.bad === 'badfd') : -1;
    let flags = (P.kind === 'anon' || P.kind === 'memfd-private' ? MAP_PRIVATE : MAP_SHARED) | (file ? 0 : MAP_ANONYMOUS) | (fixed ? MAP_FIXED : 0);
    if (P.bad === 'len0') len = 0;
    if (P.bad === 'unaligned-off') off += 512;
    if (P.bad === 'unaligned-fixed') {
      addr += 100;
      flags |= MAP_FIXED;
    }
    if (!file && P.bad === 'badfd') fd = -1;
    const plan = m.sys.mmapPlan(ref, addr, len, P.prot, flags, fd, off);
    const call = `${name}.mmap(${hex(addr)}, ${len}, ${protStr(P.prot)}, ${mapStr(flags)}, ${fd}, ${off})`;
    const out = attempt(() => real.mmap(addr, len, P.prot, flags, fd, off));
    if ('err' in plan) {
      this.say(r, `t(() => ${call}); // ${plan.err}`);
      expectErrno(r, call, out, plan.err);
      return;
    }
    if (!out.ok) {
      this.say(r, `${call};`);
      fail(r, `${call}: expected success, got ${describeError(out.error)}`);
    }
    const a = out.value;
    this.say(r, `${call}; // -> ${hex(a)}`);
    const alen = Math.ceil(len / PAGE) * PAGE;
    if (plan.addr !== null && a !== plan.addr) fail(r, `${call}: returned ${hex(a)}, the hint range is free so expected ${hex(plan.addr)}`);
    if (plan.addr === null && (a % plan.align !== 0 || !ref.isFree(a, alen)))
      fail(r, `${call}: returned ${hex(a)}, expected a free range aligned to ${hex(plan.align)}`);
    m.sys.mmapApply(ref, a, len, P.prot, flags, fd, off);
    addRegion(m, a, alen / PAGE);
  }
}

/** mmap(0, 4 MiB, ..., MAP_PRIVATE|MAP_ANONYMOUS): the kernel aligns it to 2 MiB, so THPs can back it. */
export class MmapThpCmd extends Cmd {
  constructor(readonly p: { proc: number; prot: number }) {
    super();
  }
  check(m: Readonly<Model>): boolean {
    return hasProc(m) && m.thpRegions < limits(m).maxThpRegions;
  }
  protected sketch(): string {
    return `mmapThp(${JSON.stringify(this.p)})`;
  }
  protected exec(m: Model, r: Real): void {
    const { ref, real, name } = pickProc(m, r, this.p.proc);
    const len = 2 * PMD;
    const flags = MAP_PRIVATE | MAP_ANONYMOUS;
    const call = `${name}.mmap(0, ${len}, ${protStr(this.p.prot)}, ${mapStr(flags)}, -1, 0)`;
    const out = attempt(() => real.mmap(0, len, this.p.prot, flags, -1, 0));
    if (!out.ok) {
      this.say(r, `${call};`);
      fail(r, `${call}: expected success, got ${describeError(out.error)}`);
    }
    const a = out.value;
    this.say(r, `${call}; // -> ${hex(a)}`);
    if (a % PMD !== 0 || !ref.isFree(a, len)) fail(r, `${call}: returned ${hex(a)}, expected a free 2 MiB-aligned range`);
    m.sys.mmapApply(ref, a, len, this.p.prot, flags, -1, 0);
    m.thpRegions++;
    addRegion(m, a, len / PAGE);
  }
}

/** 2 MiB-aligned slots for shmem THP regions, away from the arena and from hint-less placements. */
export const SHMEM_ARENA = 0x7fe000000000;

export type ShmemThpKind = 'memfd-shared' | 'memfd-private' | 'shared-anon';

/**
 * A 4 MiB shmem mapping at a 2 MiB-aligned address and file offset 0, so
 * shmem THP can back it (faults under shmem_enabled / MADV_COLLAPSE): a memfd
 * (grown to 4 MiB first if smaller) or shared anonymous memory, with
 * MAP_FIXED into its own slot.
 */
export class MmapShmemThpCmd extends Cmd {
  constructor(readonly p: { proc: number; kind: ShmemThpKind; fd: number; slot: number }) {
    super();
  }
  check(m: Readonly<Model>): boolean {
    return hasProc(m) && m.thpRegions < limits(m).maxThpRegions && (this.p.kind === 'shared-anon' || anyFds(m));
  }
  protected sketch(): string {
    return `mmapShmemThp(${JSON.stringify(this.p)})`;
  }
  protected exec(m: Model, r: Real): void {
    const P = this.p;
    const file = P.kind !== 'shared-anon';
    const { ref, real, name } = pickProc(m, r, P.proc, file ? hasFds : undefined);
    const len = 2 * PMD;
    const addr = SHMEM_ARENA + (P.slot % 8) * len;
    let fd = -1;
    if (file) {
      fd = pickFd(ref, P.fd, false);
    }
    // Grow the file over the whole region (never shrink: EOF must not fall inside a THP region).
    if (file && ref.fds.get(fd)!.size < len) {
      const exp = m.sys.ftruncate(ref, fd, len);
      const tcall = `${name}.ftruncate(${fd}, ${len})`;
      this.say(r, exp === null ? `${tcall};` : `t(() => ${tcall}); // ${exp}`);
      expectErrno(r, tcall, attempt(() => real.ftruncate(fd, len)), exp);
    }
    const flags = (P.kind === 'memfd-private' ? MAP_PRIVATE : MAP_SHARED) | (file ? 0 : MAP_ANONYMOUS) | MAP_FIXED;
    const prot = PROT_READ | PROT_WRITE;
    const call = `${name}.mmap(${hex(addr)}, ${len}, ${protStr(prot)}, ${mapStr(flags)}, ${fd}, 0)`;
    const out = attempt(() => real.mmap(addr, len, prot, flags, fd, 0));
    this.say(r, `${call};`);
    if (!out.ok) fail(r, `${call}: expected success, got ${describeError(out.error)}`);
    if (out.value !== addr) fail(r, `${call}: returned ${hex(out.value)}, expected ${hex(addr)}`);
    m.sys.mmapApply(ref, addr, len, prot, flags, fd, 0);
    m.thpRegions++;
    addRegion(m, addr, len / PAGE);
  }
}

const SHMEM_ENABLED = '/sys/kernel/mm/transparent_hugepage/shmem_enabled';

/** Change /sys/kernel/mm/transparent_hugepage/shmem_enabled (no data effect: the reads check that). */
export class ShmemEnabledCmd extends Cmd {
  constructor(readonly p: { value: 'always' | 'within_size' | 'advise' | 'never' | 'deny' | 'force' }) {
    super();
  }
  check(): boolean {
    return true;
  }
  protected sketch(): string {
    return `shmemEnabled(${JSON.stringify(this.p)})`;
  }
  protected exec(_m: Model, r: Real): void {
    this.say(r, `kernel.writeSysfs('${SHMEM_ENABLED}', '${this.p.value}');`);
    const out = attempt(() => r.kernel.writeSysfs(SHMEM_ENABLED, this.p.value));
    // force is refused unless exactly the PMD size inherits (shmem_enabled_store: huge_shmem_orders_inherit != BIT(HPAGE_PMD_ORDER)).
    const inherits = (o: number) => r.kernel.readSysfs(shmemSizeEnabledPath(o)).includes('[inherit]');
    if (this.p.value === 'force' && (!inherits(9) || [1, 2, 3, 4, 5, 6, 7, 8].some(inherits))) {
      if (out.ok || !(out.error instanceof SyscallError) || out.error.code !== 'EINVAL') fail(r, `shmem_enabled=force without exactly the PMD size inheriting: ${out.ok ? 'accepted' : describeError(out.error)}, want EINVAL`);
      return;
    }
    if (!out.ok) fail(r, `writeSysfs shmem_enabled ${this.p.value}: ${describeError(out.error)}`);
    const shown = r.kernel.readSysfs(SHMEM_ENABLED);
    if (!shown.includes(`[${this.p.value}]`)) fail(r, `shmem_enabled reads ${JSON.stringify(shown)} after writing ${this.p.value}`);
  }
}

/** The per-size shmem_enabled file of a page-cache order (8 KiB up). */
export function shmemSizeEnabledPath(order: number): string {
  return `/sys/kernel/mm/transparent_hugepage/hugepages-${4 * 2 ** order}kB/shmem_enabled`;
}

/** Change one size's hugepages-<size>kB/shmem_enabled (no data effect: the reads check that). */
export class ShmemSizeEnabledCmd extends Cmd {
  constructor(readonly p: { order: number; value: 'always' | 'inherit' | 'within_size' | 'advise' | 'never' }) {
    super();
  }
  check(): boolean {
    return true;
  }
  protected sketch(): string {
    return `shmemSizeEnabled(${JSON.stringify(this.p)})`;
  }
  protected exec(_m: Model, r: Real): void {
    const path = shmemSizeEnabledPath(this.p.order);
    this.say(r, `kernel.writeSysfs('${path}', '${this.p.value}');`);
    const before = r.kernel.readSysfs(path);
    const out = attempt(() => r.kernel.writeSysfs(path, this.p.value));
    // Under shmem_enabled=force only the PMD size may inherit (thpsize_shmem_enabled_store).
    if (this.p.value === 'inherit' && this.p.order !== 9 && r.kernel.readSysfs(SHMEM_ENABLED).includes('[force]')) {
      if (out.ok || !(out.error instanceof SyscallError) || out.error.code !== 'EINVAL') fail(r, `${path} inherit under force: ${out.ok ? 'accepted' : describeError(out.error)}, want EINVAL`);
      if (r.kernel.readSysfs(path) !== before) fail(r, `${path} changed by a refused write`);
      return;
    }
    if (!out.ok) fail(r, `writeSysfs ${path} ${this.p.value}: ${describeError(out.error)}`);
    const shown = r.kernel.readSysfs(path);
    if (!shown.includes(`[${this.p.value}]`)) fail(r, `${path} reads ${JSON.stringify(shown)} after writing ${this.p.value}`);
  }
}

/** The per-size (mTHP) enabled file of an anonymous order. */
export function mthpEnabledPath(order: number): string {
  return `/sys/kernel/mm/transparent_hugepage/hugepages-${4 * 2 ** order}kB/enabled`;
}

/** Change one size's hugepages-<size>kB/enabled (no data effect: the reads check that). */
export class MthpEnabledCmd extends Cmd {
  constructor(readonly p: { order: number; value: 'always' | 'inherit' | 'madvise' | 'never' }) {
    super();
  }
  check(): boolean {
    return true;
  }
  protected sketch(): string {
    return `mthpEnabled(${JSON.stringify(this.p)})`;
  }
  protected exec(_m: Model, r: Real): void {
    const path = mthpEnabledPath(this.p.order);
    this.say(r, `kernel.writeSysfs('${path}', '${this.p.value}');`);
    const out = attempt(() => r.kernel.writeSysfs(path, this.p.value));
    if (!out.ok) fail(r, `writeSysfs ${path} ${this.p.value}: ${describeError(out.error)}`);
    const shown = r.kernel.readSysfs(path);
    if (!shown.includes(`[${this.p.value}]`)) fail(r, `${path} reads ${JSON.stringify(shown)} after writing ${this.p.value}`);
  }
}

// ---------------------------------------------------------------------------
// munmap / mprotect / madvise over [page, page + pages) near a region.

export interface RangeParams {
  proc: number;
  at: At;
  pages: number;
  /** Make the start address unaligned (EINVAL). */
  misalign: boolean;
  /** Bytes short of whole pages for the length (rounded up by the kernel). */
  trim: number;
}

function rangeOf(m: Model, p: RefProc, P: RangeParams): { addr: number; len: number } {
  const addr = pageAt(m, p, P.at) + (P.misalign ? 123 : 0);
  const len = P.pages === 0 ? 0 : Math.max(1, P.pages * PAGE - P.trim);
  return { addr, len };
}

export class MunmapCmd extends Cmd {
  constructor(readonly p: RangeParams) {
    super();
  }
  check(m: Readonly<Model>): boolean {
    return hasRegion(m);
  }
  protected sketch(): string {
    return `munmap(${JSON.stringify(this.p)})`;
  }
  protected exec(m: Model, r: Real): void {
    const { ref, real, name } = pickProc(m, r, this.p.proc);
    const { addr, len } = rangeOf(m, ref, this.p);
    const exp = m.sys.munmap(ref, addr, len);
    const call = `${name}.munmap(${hex(addr)}, ${len})`;
    this.say(r, exp === null ? `${call};` : `t(() => ${call}); // ${exp}`);
    expectErrno(r, call, attempt(() => real.munmap(addr, len)), exp);
  }
}

export class MprotectCmd extends Cmd {
  constructor(readonly p: RangeParams & { prot: number }) {
    super();
  }
  check(m: Readonly<Model>): boolean {
    return hasRegion(m);
  }
  protected sketch(): string {
    return `mprotect(${JSON.stringify(this.p)})`;
  }
  protected exec(m: Model, r: Real): void {
    const { ref, real, name } = pickProc(m, r, this.p.proc);
    const { addr, len } = rangeOf(m, ref, this.p);
    const exp = m.sys.mprotect(ref, addr, len, this.p.prot);
    const call = `${name}.mprotect(${hex(addr)}, ${len}, ${protStr(this.p.prot)})`;
    this.say(r, exp === null ? `${call};` : `t(() => ${call}); // ${exp}`);
    expectErrno(r, call, attempt(() => real.mprotect(addr, len, this.p.prot)), exp);
  }
}

export class MadviseCmd extends Cmd {
  constructor(readonly p: RangeParams & { advice: number }) {
    super();
  }
  check(m: Readonly<Model>): boolean {
    return hasRegion(m);
  }
  protected sketch(): string {
    return `madvise(${JSON.stringify(this.p)})`;
  }
  protected exec(m: Model, r: Real): void {
    const { ref, real, name } = pickProc(m, r, this.p.proc);
    const { addr, len } = rangeOf(m, ref, this.p);
    const exp = m.sys.madvise(ref, addr, len, this.p.advice);
    const call = `${name}.madvise(${hex(addr)}, ${len}, ${adviceStr(this.p.advice)})`;
    this.say(r, exp === null ? `${call};` : `t(() => ${call}); // ${exp}`);
    expectErrno(r, call, attempt(() => real.madvise(addr, len, this.p.advice)), exp);
  }
}

// ---------------------------------------------------------------------------
// debugfs split_huge_pages: no data effect; the oracle and the reads check the split.

export class SplitHugePagesCmd extends Cmd {
  constructor(readonly p: RangeParams & { order: number }) {
    super();
  }
  check(m: Readonly<Model>): boolean {
    return hasRegion(m);
  }
  protected sketch(): string {
    return `split_huge_pages(${JSON.stringify(this.p)})`;
  }
  protected exec(m: Model, r: Real): void {
    const { ref, real, name } = pickProc(m, r, this.p.proc);
    const { addr, len } = rangeOf(m, ref, this.p);
    const v = `${real.pid},0x${addr.toString(16)},0x${(addr + len).toString(16)},${this.p.order}`;
    this.say(r, `kernel.writeSysfs('/sys/kernel/debug/split_huge_pages', '${v}'); // ${name}`);
    const out = attempt(() => r.kernel.writeSysfs('/sys/kernel/debug/split_huge_pages', v));
    if (!out.ok) fail(r, `split_huge_pages ${v}: ${describeError(out.error)}`);
  }
}

// ---------------------------------------------------------------------------
// MADV_COLLAPSE and khugepaged: no data effect (the reads check that); the
// outcome depends on page-table state the reference does not keep, so only
// what must hold whatever the state is asserted.

const COLLAPSE_ERRNOS = new Set(['EINVAL', 'EAGAIN', 'EBUSY', 'ENOMEM']);

export class CollapseCmd extends Cmd {
  constructor(readonly p: RangeParams) {
    super();
  }
  check(m: Readonly<Model>): boolean {
    return hasRegion(m);
  }
  protected sketch(): string {
    return `collapse(${JSON.stringify(this.p)})`;
  }
  protected exec(m: Model, r: Real): void {
    const { ref, real, name } = pickProc(m, r, this.p.proc);
    const { addr, len } = rangeOf(m, ref, this.p);
    const call = `${name}.madvise(${hex(addr)}, ${len}, MADV_COLLAPSE)`;
    // The syscall's own checks are the reference's (MADV_NORMAL takes the same path).
    const args = m.sys.madvise(ref, addr, len, MADV_NORMAL);
    const out = attempt(() => real.madvise(addr, len, MADV_COLLAPSE));
    const got = out.ok ? 'ok' : out.error instanceof SyscallError ? out.error.code : describeError(out.error);
    this.say(r, out.ok ? `${call};` : `t(() => ${call}); // ${got}`);
    if (args === 'EINVAL' || len === 0) return expectErrno(r, call, out, args === 'EINVAL' ? 'EINVAL' : null);
    if (!out.ok && !COLLAPSE_ERRNOS.has(got)) fail(r, `${call}: expected success or EINVAL/EAGAIN/EBUSY/ENOMEM, got ${got}`);
    // A hole in the range is ENOMEM at the end, if nothing failed before.
    if (out.ok && args === 'ENOMEM') fail(r, `${call}: succeeded over an unmapped range`);
    if (!out.ok) return;
    // Success: every 2 MiB inside the range and inside one VMA is PMD-mapped now.
    const end = addr + Math.ceil(len / PAGE) * PAGE;
    for (const v of real.smaps()) {
      for (let h = Math.ceil(Math.max(addr, v.start) / PMD) * PMD; h + PMD <= Math.min(end, v.end); h += PMD) {
        if (real.pagemap(h).mappedBy !== PMD) fail(r, `${call}: succeeded but ${hex(h)} is not mapped by a PMD`);
      }
    }
  }
}

/** One khugepaged wake-up, sometimes after changing max_ptes_none. */
export class KhugepagedCmd extends Cmd {
  constructor(readonly p: { maxPtesNone: number | null }) {
    super();
  }
  check(m: Readonly<Model>): boolean {
    return hasProc(m);
  }
  protected sketch(): string {
    return `khugepaged(${JSON.stringify(this.p)})`;
  }
  protected exec(_m: Model, r: Real): void {
    const knob = '/sys/kernel/mm/transparent_hugepage/khugepaged/max_ptes_none';
    if (this.p.maxPtesNone !== null) {
      this.say(r, `kernel.writeSysfs('${knob}', '${this.p.maxPtesNone}');`);
      r.kernel.writeSysfs(knob, String(this.p.maxPtesNone));
    }
    this.say(r, 'kernel.khugepagedScan();');
    const out = attempt(() => r.kernel.khugepagedScan());
    if (!out.ok) fail(r, `khugepagedScan: ${describeError(out.error)}`);
  }
}

/**
 * swapoff or swapon of the zram area (kernels booted with the swap option):
 * swapoff brings every page back, which the reads check against the
 * reference; the errno when the area is already in the wanted state.
 */
export class SwapCmd extends Cmd {
  constructor(readonly p: { proc: number; on: boolean }) {
    super();
  }
  check(m: Readonly<Model>): boolean {
    return hasProc(m);
  }
  protected sketch(): string {
    return `${this.p.on ? 'swapon' : 'swapoff'}(${JSON.stringify(this.p)})`;
  }
  protected exec(m: Model, r: Real): void {
    const { real, name } = pickProc(m, r, this.p.proc);
    const wasOn = r.kernel.meminfo().SwapTotal > 0;
    const call = this.p.on ? `${name}.swapon('/dev/zram0', 0)` : `${name}.swapoff('/dev/zram0')`;
    this.say(r, `t(() => ${call});`);
    const out = attempt(() => (this.p.on ? real.swapon('/dev/zram0', 0) : real.swapoff('/dev/zram0')));
    // swapon of the active area is EBUSY, swapoff of an inactive one EINVAL; otherwise it works.
    const want = this.p.on ? (wasOn ? 'EBUSY' : null) : wasOn ? null : 'EINVAL';
    const got = out.ok ? null : out.error instanceof SyscallError ? out.error.code : describeError(out.error);
    if (got !== want) fail(r, `${call}: expected ${want ?? 'success'}, got ${got ?? 'success'}`);
    if (r.kernel.meminfo().SwapTotal > 0 !== this.p.on) fail(r, `${call}: SwapTotal ${r.kernel.meminfo().SwapTotal} after it`);
  }
}

// ---------------------------------------------------------------------------
// fork / exit

export class ForkCmd extends Cmd {
  constructor(readonly p: { proc: number }) {
    super();
  }
  check(m: Readonly<Model>): boolean {
    return hasProc(m) && m.sys.procs.size < limits(m).maxProcs;
  }
  protected sketch(): string {
    return `fork(${JSON.stringify(this.p)})`;
  }
  protected exec(m: Model, r: Real): void {
    const { ref, real, name } = pickProc(m, r, this.p.proc);
    const child = m.sys.fork(ref);
    this.say(r, `const p${child.pid} = ${name}.fork();`);
    const out = attempt(() => real.fork());
    if (!out.ok) fail(r, `${name}.fork(): expected success, got ${describeError(out.error)}`);
    if (out.value.pid !== child.pid) fail(r, `${name}.fork(): child pid ${out.value.pid}, expected ${child.pid}`);
    r.procs.set(child.pid, out.value);
  }
}

export class ExitCmd extends Cmd {
  constructor(readonly p: { proc: number }) {
    super();
  }
  check(m: Readonly<Model>): boolean {
    return m.sys.procs.size > 1;
  }
  protected sketch(): string {
    return `exit(${JSON.stringify(this.p)})`;
  }
  protected exec(m: Model, r: Real): void {
    const { ref, real, name } = pickProc(m, r, this.p.proc);
    this.say(r, `${name}.exit();`);
    m.sys.exit(ref);
    r.procs.delete(ref.pid);
    const out = attempt(() => real.exit());
    if (!out.ok) fail(r, `${name}.exit(): threw ${describeError(out.error)}`);
  }
}

// ---------------------------------------------------------------------------
// CPU accesses.

export interface AccessParams {
  proc: number;
  at: At;
  byte: number;
  len: number;
}

function accessAddr(m: Model, p: RefProc, P: AccessParams): number {
  return pageAt(m, p, P.at) + (P.byte % PAGE);
}

function storeAddr(m: Model, ref: RefProc, _real: Process, P: AccessParams): number {
  return accessAddr(m, ref, P);
}

export class ReadCmd extends Cmd {
  constructor(readonly p: AccessParams) {
    super();
  }
  check(m: Readonly<Model>): boolean {
    return hasRegion(m);
  }
  protected sketch(): string {
    return `read(${JSON.stringify(this.p)})`;
  }
  protected exec(m: Model, r: Real): void {
    const { ref, real, name } = pickProc(m, r, this.p.proc);
    const addr = accessAddr(m, ref, this.p);
    const len = this.p.len;
    const exp = m.sys.access(ref, addr, len, null);
    const call = `${name}.read(${hex(addr)}, ${len})`;
    this.say(r, exp.signal === null ? `${call};` : `t(() => ${call});${expectedComment(exp)}`);
    expectAccess(r, call, addr, attempt(() => real.read(addr, len)), exp);
  }
}

export class WriteCmd extends Cmd {
  constructor(readonly p: AccessParams & { seed: number }) {
    super();
  }
  check(m: Readonly<Model>): boolean {
    return hasRegion(m);
  }
  protected sketch(): string {
    return `write(${JSON.stringify(this.p)})`;
  }
  protected exec(m: Model, r: Real): void {
    const { ref, real, name } = pickProc(m, r, this.p.proc);
    const addr = storeAddr(m, ref, real, this.p);
    const bytes = pattern(this.p.len, this.p.seed);
    const exp = m.sys.access(ref, addr, bytes.length, bytes);
    const call = `${name}.write(${hex(addr)}, pattern(${this.p.len}, ${this.p.seed}))`;
    this.say(r, exp.signal === null ? `${call};` : `t(() => ${call});${expectedComment(exp)}`);
    expectAccess(r, call, addr, attempt(() => real.write(addr, bytes)), exp);
  }
}

export class FillCmd extends Cmd {
  constructor(readonly p: AccessParams & { value: number }) {
    super();
  }
  check(m: Readonly<Model>): boolean {
    return hasRegion(m);
  }
  protected sketch(): string {
    return `fill(${JSON.stringify(this.p)})`;
  }
  protected exec(m: Model, r: Real): void {
    const { ref, real, name } = pickProc(m, r, this.p.proc);
    const addr = storeAddr(m, ref, real, this.p);
    const exp = m.sys.access(ref, addr, this.p.len, this.p.value);
    const call = `${name}.fill(${hex(addr)}, ${this.p.len}, ${hex(this.p.value)})`;
    this.say(r, exp.signal === null ? `${call};` : `t(() => ${call});${expectedComment(exp)}`);
    expectAccess(r, call, addr, attempt(() => real.fill(addr, this.p.len, this.p.value)), exp);
  }
}

/** memset a whole known region (for 4 MiB regions: whole THPs). */
export class FillRegionCmd extends Cmd {
  constructor(readonly p: { proc: number; region: number; value: number }) {
    super();
  }
  check(m: Readonly<Model>): boolean {
    return hasRegion(m);
  }
  protected sketch(): string {
    return `fillRegion(${JSON.stringify(this.p)})`;
  }
  protected exec(m: Model, r: Real): void {
    const { ref, real, name } = pickProc(m, r, this.p.proc);
    const reg = regionFor(m, ref, this.p.region, false);
    const len = reg.pages * PAGE;
    const exp = m.sys.access(ref, reg.start, len, this.p.value);
    const call = `${name}.fill(${hex(reg.start)}, ${len}, ${hex(this.p.value)})`;
    this.say(r, exp.signal === null ? `${call};` : `t(() => ${call});${expectedComment(exp)}`);
    expectAccess(r, call, reg.start, attempt(() => real.fill(reg.start, len, this.p.value)), exp);
  }
}

/** Read every mapped page of a process (one load per page) and compare each with the reference. */
export class VerifyCmd extends Cmd {
  constructor(readonly p: { proc: number }) {
    super();
  }
  check(m: Readonly<Model>): boolean {
    return hasProc(m);
  }
  protected sketch(): string {
    return `verify(${JSON.stringify(this.p)})`;
  }
  protected exec(m: Model, r: Real): void {
    const { ref, real, name } = pickProc(m, r, this.p.proc);
    verifyProcess(m, r, ref, real, name, (line) => this.say(r, line));
  }
}

/**
 * Load every page the reference says the process maps and compare: each run
 * of consecutive readable pages with one read, each page that should signal
 * with a one-byte read.
 */
function verifyProcess(m: Model, r: Real, ref: RefProc, real: Process, name: string, say: (line: string) => void): void {
  const vpns = [...ref.pages.keys()].sort((a, b) => a - b);
  const reads: [number, number][] = [];
  const MAX_RUN = 1024;
  for (const v of vpns) {
    const readable = accessFault(ref.pages.get(v), false) === null;
    const last = reads[reads.length - 1];
    const lastReadable = last !== undefined && last[1] >= PAGE;
    if (readable && lastReadable && last[0] + last[1] === v * PAGE && last[1] < MAX_RUN * PAGE) last[1] += PAGE;
    else reads.push([v * PAGE, readable ? PAGE : 1]);
  }
  say(`readAll(${name}, [${reads.map(([a, n]) => `[${hex(a)}, ${n}]`).join(', ')}]);`);
  for (const [addr, len] of reads) {
    const what = `readAll: ${name}.read(${hex(addr)}, ${len})`;
    const out = attempt(() => real.read(addr, len));
    if (len === 1 || !out.ok) {
      expectAccess(r, what, addr, out, m.sys.access(ref, addr, len, null));
      continue;
    }
    // Build the expected bytes and compare natively (4 MiB regions make this the hot loop).
    const want = new Uint8Array(len);
    for (let k = 0; k < len / PAGE; k++) {
      const b = pageBytes(ref.pages.get(addr / PAGE + k)!);
      if (typeof b === 'number') {
        if (b !== 0) want.fill(b, k * PAGE, (k + 1) * PAGE);
      } else want.set(b, k * PAGE);
    }
    const got = out.value;
    if (Buffer.compare(got, want) !== 0) {
      const i = firstDiff(got, want);
      fail(r, `${what}: byte at ${hex(addr + i)} is ${got[i]}, reference says ${want[i]}`);
    }
  }
}

/** Kernel events summed over the runs since the last takeEvents() (coverage sanity checks). */
const events = new Map<string, number>();
const COVERAGE_EVENTS = ['thp_fault_alloc', 'thp_fault_fallback', 'thp_split_pmd', 'thp_split_page', 'cow_copy', 'cow_reuse', 'thp_collapse_alloc'];

export function takeEvents(): Map<string, number> {
  const out = new Map(events);
  events.clear();
  return out;
}

/**
 * One model run: the commands, then a final load of every page of every
 * live process against the reference, and kernel.check() once more.
 */
export function runModel(setup: () => { model: Model; real: Real }, cmds: Iterable<fc.Command<Model, Real>>): void {
  let last: { model: Model; real: Real } | null = null;
  fc.modelRun(() => (last = setup()), cmds);
  const { model: m, real: r } = last!;
  for (const ref of m.sys.live()) {
    const real = r.procs.get(ref.pid)!;
    verifyProcess(m, r, ref, real, `p${ref.pid}`, (line) => r.log.push(`${line} // final check`));
  }
  checkKernel(r);
  const ev = r.kernel.events();
  for (const k of COVERAGE_EVENTS) events.set(k, (events.get(k) ?? 0) + (ev[k] ?? 0));
  // shmem mTHP: large shmem folios below the PMD size (hugepages-<size>kB/stats/shmem_alloc).
  let shmemMthp = 0;
  for (let order = 1; order < 9; order++) shmemMthp += Number(r.kernel.readSysfs(`/sys/kernel/mm/transparent_hugepage/hugepages-${4 * 2 ** order}kB/stats/shmem_alloc`));
  events.set('shmem_mthp_alloc', (events.get('shmem_mthp_alloc') ?? 0) + shmemMthp);
  teardown(m, r);
}

/**
 * Exit every process: nothing may stay behind (anonymous memory, page cache
 * of the memfds and shared anonymous objects, page tables), and the free
 * page count returns to what it was after boot (the huge zero folio aside).
 */
function teardown(m: Model, r: Real): void {
  for (const ref of m.sys.live()) {
    const real = r.procs.get(ref.pid)!;
    r.log.push(`p${ref.pid}.exit(); // teardown`);
    m.sys.exit(ref);
    r.procs.delete(ref.pid);
    const out = attempt(() => real.exit());
    if (!out.ok) fail(r, `p${ref.pid}.exit(): threw ${describeError(out.error)}`);
  }
  checkKernel(r);
  const mi = r.kernel.meminfo();
  for (const k of ['AnonPages', 'AnonHugePages', 'Shmem', 'Cached', 'Mapped', 'PageTables'] as const) {
    if (mi[k] !== 0) fail(r, `after every process exited, meminfo ${k} is ${mi[k]} kB, expected 0`);
  }
  const hugeZero = r.kernel.host.hugeZeroFolio !== 0 ? (PMD / 1024) : 0;
  if (mi.MemFree + hugeZero !== r.memFreeAtBoot)
    fail(r, `after every process exited, MemFree is ${mi.MemFree} kB (+${hugeZero} kB huge zero folio), expected ${r.memFreeAtBoot} kB as at boot`);
}

// ---------------------------------------------------------------------------
// Files.

export class MemfdCreateCmd extends Cmd {
  constructor(readonly p: { proc: number; cloexec: boolean }) {
    super();
  }
  check(m: Readonly<Model>): boolean {
    if (!hasProc(m)) return false;
    return m.sys.live().some((p) => p.fds.size < limits(m).maxFds);
  }
  protected sketch(): string {
    return `memfd_create(${JSON.stringify(this.p)})`;
  }
  protected exec(m: Model, r: Real): void {
    const { ref, real, name } = pickProc(m, r, this.p.proc);
    const fname = `m${++m.memfds}`;
    const flags = this.p.cloexec ? MFD_CLOEXEC : 0;
    const fd = m.sys.memfdCreate(ref, fname);
    const call = `${name}.memfd_create('${fname}', ${flags ? 'MFD_CLOEXEC' : 0})`;
    this.say(r, `${call}; // -> ${fd}`);
    const out = attempt(() => real.memfd_create(fname, flags));
    if (!out.ok) fail(r, `${call}: expected success, got ${describeError(out.error)}`);
    if (out.value !== fd) fail(r, `${call}: returned fd ${out.value}, expected the lowest free fd ${fd}`);
  }
}

export interface FdParams {
  proc: number;
  fd: number;
  bad: boolean;
}

export class CloseCmd extends Cmd {
  constructor(readonly p: FdParams) {
    super();
  }
  check(m: Readonly<Model>): boolean {
    return hasProc(m) && (this.p.bad || anyFds(m));
  }
  protected sketch(): string {
    return `close(${JSON.stringify(this.p)})`;
  }
  protected exec(m: Model, r: Real): void {
    const { ref, real, name } = pickProc(m, r, this.p.proc, this.p.bad ? undefined : hasFds);
    const fd = pickFd(ref, this.p.fd, this.p.bad);
    const exp = m.sys.close(ref, fd);
    const call = `${name}.close(${fd})`;
    this.say(r, exp === null ? `${call};` : `t(() => ${call}); // ${exp}`);
    expectErrno(r, call, attempt(() => real.close(fd)), exp);
  }
}

export class FtruncateCmd extends Cmd {
  constructor(readonly p: FdParams & { size: number }) {
    super();
  }
  check(m: Readonly<Model>): boolean {
    return hasProc(m) && (this.p.bad || anyFds(m));
  }
  protected sketch(): string {
    return `ftruncate(${JSON.stringify(this.p)})`;
  }
  protected exec(m: Model, r: Real): void {
    const { ref, real, name } = pickProc(m, r, this.p.proc, this.p.bad ? undefined : hasFds);
    const fd = pickFd(ref, this.p.fd, this.p.bad);
    const exp = m.sys.ftruncate(ref, fd, this.p.size);
    const call = `${name}.ftruncate(${fd}, ${this.p.size})`;
    this.say(r, exp === null ? `${call};` : `t(() => ${call}); // ${exp}`);
    expectErrno(r, call, attempt(() => real.ftruncate(fd, this.p.size)), exp);
  }
}

export class FallocateCmd extends Cmd {
  constructor(readonly p: FdParams & { mode: number; off: number; len: number }) {
    super();
  }
  check(m: Readonly<Model>): boolean {
    return hasProc(m) && (this.p.bad || anyFds(m));
  }
  protected sketch(): string {
    return `fallocate(${JSON.stringify(this.p)})`;
  }
  protected exec(m: Model, r: Real): void {
    const { ref, real, name } = pickProc(m, r, this.p.proc, this.p.bad ? undefined : hasFds);
    const fd = pickFd(ref, this.p.fd, this.p.bad);
    const { mode, off, len } = this.p;
    const exp = m.sys.fallocate(ref, fd, mode, off, len);
    const call = `${name}.fallocate(${fd}, ${fallocStr(mode)}, ${off}, ${len})`;
    this.say(r, exp === null ? `${call};` : `t(() => ${call}); // ${exp}`);
    expectErrno(r, call, attempt(() => real.fallocate(fd, mode, off, len)), exp);
  }
}

export class PreadCmd extends Cmd {
  constructor(readonly p: FdParams & { off: number; count: number }) {
    super();
  }
  check(m: Readonly<Model>): boolean {
    return hasProc(m) && (this.p.bad || anyFds(m));
  }
  protected sketch(): string {
    return `pread(${JSON.stringify(this.p)})`;
  }
  protected exec(m: Model, r: Real): void {
    const { ref, real, name } = pickProc(m, r, this.p.proc, this.p.bad ? undefined : hasFds);
    const fd = pickFd(ref, this.p.fd, this.p.bad);
    const { off, count } = this.p;
    const exp = m.sys.pread(ref, fd, count, off);
    const call = `${name}.pread(${fd}, new Uint8Array(${count}), ${count}, ${off})`;
    const buf = new Uint8Array(count);
    const out = attempt(() => real.pread(fd, buf, count, off));
    if (typeof exp === 'string') {
      this.say(r, `t(() => ${call}); // ${exp}`);
      expectErrno(r, call, out, exp);
      return;
    }
    this.say(r, `${call}; // -> ${exp.length}`);
    if (!out.ok) fail(r, `${call}: expected ${exp.length} bytes, got ${describeError(out.error)}`);
    if (out.value !== exp.length) fail(r, `${call}: returned ${out.value}, expected ${exp.length}`);
    const i = firstDiff(buf.subarray(0, exp.length), exp);
    if (i >= 0) fail(r, `${call}: file byte ${off + i} is ${buf[i]}, reference says ${exp[i]}`);
  }
}

export class PwriteCmd extends Cmd {
  constructor(readonly p: FdParams & { off: number; len: number; seed: number }) {
    super();
  }
  check(m: Readonly<Model>): boolean {
    return hasProc(m) && (this.p.bad || anyFds(m));
  }
  protected sketch(): string {
    return `pwrite(${JSON.stringify(this.p)})`;
  }
  protected exec(m: Model, r: Real): void {
    const { ref, real, name } = pickProc(m, r, this.p.proc, this.p.bad ? undefined : hasFds);
    const fd = pickFd(ref, this.p.fd, this.p.bad);
    const { off, len, seed } = this.p;
    const bytes = pattern(len, seed);
    const exp = m.sys.pwrite(ref, fd, bytes, off);
    const call = `${name}.pwrite(${fd}, pattern(${len}, ${seed}), ${len}, ${off})`;
    const out = attempt(() => real.pwrite(fd, bytes, len, off));
    if (typeof exp === 'string') {
      this.say(r, `t(() => ${call}); // ${exp}`);
      expectErrno(r, call, out, exp);
      return;
    }
    this.say(r, `${call}; // -> ${exp}`);
    if (!out.ok) fail(r, `${call}: expected ${exp}, got ${describeError(out.error)}`);
    if (out.value !== exp) fail(r, `${call}: returned ${out.value}, expected ${exp}`);
  }
}

// ---------------------------------------------------------------------------
// Arbitraries.

export const PROTS = [PROT_NONE, PROT_READ, PROT_WRITE, PROT_READ | PROT_WRITE, PROT_READ | PROT_EXEC];
export const ALL_ADVICE = [...ADVICE_NAMES.keys()];

const procSel = fc.nat(7);
/** Mostly read-write mappings: those let writes happen and COW matter. */
const protArb = fc.oneof({ arbitrary: fc.constant(PROT_READ | PROT_WRITE), weight: 4 }, { arbitrary: fc.constantFrom(...PROTS), weight: 1 });
const smallPages = fc.integer({ min: 1, max: 16 });
/** Page selectors biased to region edges and to PMD boundaries inside 4 MiB regions. */
const pageSel = fc.oneof(
  { arbitrary: fc.constantFrom(0, 1, 2, 3, 511, 512, 513, 1023, 1024, 1025), weight: 2 },
  { arbitrary: fc.nat(1100), weight: 3 },
);
const atArb: fc.Arbitrary<At> = fc.record({
  region: fc.nat(31),
  page: pageSel,
  stray: fc.oneof({ arbitrary: fc.constant(false), weight: 7 }, { arbitrary: fc.constant(true), weight: 1 }),
});
const byteSel = fc.oneof(fc.constantFrom(0, 1, 2048, 4000, 4095), fc.nat(PAGE - 1));
const accessLen = fc.oneof(
  { arbitrary: fc.integer({ min: 1, max: 64 }), weight: 3 },
  { arbitrary: fc.constantFrom(PAGE, PAGE + 1, 2 * PAGE, 3 * PAGE - 7), weight: 2 },
  { arbitrary: fc.integer({ min: 1, max: 3 * PAGE }), weight: 2 },
);
const trimArb = fc.oneof({ arbitrary: fc.constant(0), weight: 4 }, { arbitrary: fc.integer({ min: 1, max: PAGE - 1 }), weight: 1 });
const fileOff = fc.oneof(
  fc.constantFrom(0, 1, PAGE - 1, PAGE, PAGE + 100, 2 * PAGE, 3 * PAGE + 17),
  fc.nat(12 * PAGE),
);
/** File sizes: edge values, and mostly sizes that cover the mappings (which start at file page 0..4). */
const fileSize = fc.oneof(
  { arbitrary: fc.constantFrom(0, 1, 100, PAGE - 1, PAGE, PAGE + 1, 2 * PAGE, 4 * PAGE, 8 * PAGE, 16 * PAGE), weight: 2 },
  { arbitrary: fc.integer({ min: 2 * PAGE, max: 20 * PAGE + 500 }), weight: 3 },
  { arbitrary: fc.nat(16 * PAGE + 500), weight: 1 },
);
const fdParams = { proc: procSel, fd: fc.nat(7), bad: fc.oneof({ arbitrary: fc.constant(false), weight: 15 }, { arbitrary: fc.constant(true), weight: 1 }) };

export interface ArbOptions {
  kinds?: MapKind[];
  advice?: number[];
  rangePages?: fc.Arbitrary<number>;
  /** Generate invalid arguments now and then (EINVAL, EBADF, ...). */
  invalid?: boolean;
}

export function mmapArb(o: ArbOptions = {}): fc.Arbitrary<Cmd> {
  const kinds = o.kinds ?? ['anon', 'shared-anon', 'memfd-shared', 'memfd-private'];
  const bad: fc.Arbitrary<MmapBad> = o.invalid === false
    ? fc.constant('none')
    : fc.oneof({ arbitrary: fc.constant('none' as const), weight: 20 }, { arbitrary: fc.constantFrom('len0', 'unaligned-off', 'badfd', 'unaligned-fixed'), weight: 1 });
  return fc
    .record({
      proc: procSel,
      kind: fc.constantFrom(...kinds),
      slot: fc.nat(ARENA_SLOTS - 1),
      pages: smallPages,
      trim: trimArb,
      prot: protArb,
      fixed: fc.boolean(),
      fd: fc.nat(7),
      offPages: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, { arbitrary: fc.nat(4), weight: 2 }, { arbitrary: fc.nat(12), weight: 1 }),
      bad,
      over: fc.oneof({ arbitrary: fc.constant(null), weight: 5 }, { arbitrary: atArb, weight: 1 }),
    })
    .map((p) => new MmapCmd(p));
}

export const mmapShmemThpArb = (): fc.Arbitrary<Cmd> =>
  fc
    .record({ proc: procSel, kind: fc.constantFrom<ShmemThpKind>('memfd-shared', 'memfd-shared', 'shared-anon', 'memfd-private'), fd: fc.nat(7), slot: fc.nat(7) })
    .map((p) => new MmapShmemThpCmd(p));
/** A random anonymous order (16 kB to 2 MiB) set to a random per-size mode. */
export const shmemSizeEnabledArb = (): fc.Arbitrary<Cmd> =>
  fc
    .record({ order: fc.integer({ min: 1, max: 9 }), value: fc.constantFrom('always' as const, 'inherit' as const, 'within_size' as const, 'advise' as const, 'never' as const) })
    .map((p) => new ShmemSizeEnabledCmd(p));

export const mthpEnabledArb = (): fc.Arbitrary<Cmd> =>
  fc.record({ order: fc.integer({ min: 2, max: 9 }), value: fc.constantFrom('always' as const, 'inherit' as const, 'madvise' as const, 'never' as const) }).map((p) => new MthpEnabledCmd(p));

export const shmemEnabledArb = (): fc.Arbitrary<Cmd> =>
  fc.record({ value: fc.constantFrom('always', 'always', 'within_size', 'advise', 'never', 'deny', 'force') }).map((p) => new ShmemEnabledCmd(p));

export function mmapThpArb(): fc.Arbitrary<Cmd> {
  return fc.record({ proc: procSel, prot: fc.oneof({ arbitrary: fc.constant(PROT_READ | PROT_WRITE), weight: 5 }, { arbitrary: fc.constantFrom(...PROTS), weight: 1 }) }).map((p) => new MmapThpCmd(p));
}

function rangeArb(o: ArbOptions): fc.Arbitrary<RangeParams> {
  const misalign = o.invalid === false ? fc.constant(false) : fc.oneof({ arbitrary: fc.constant(false), weight: 20 }, { arbitrary: fc.constant(true), weight: 1 });
  const pages =
    o.rangePages ??
    fc.oneof(
      { arbitrary: fc.integer({ min: 1, max: 4 }), weight: 10 },
      { arbitrary: smallPages, weight: 6 },
      { arbitrary: fc.constant(0), weight: o.invalid === false ? 0 : 1 },
    );
  return fc.record({ proc: procSel, at: atArb, pages, misalign, trim: trimArb });
}

export const munmapArb = (o: ArbOptions = {}): fc.Arbitrary<Cmd> => rangeArb(o).map((p) => new MunmapCmd(p));
export const mprotectArb = (o: ArbOptions = {}): fc.Arbitrary<Cmd> =>
  fc.tuple(rangeArb(o), fc.constantFrom(...PROTS)).map(([p, prot]) => new MprotectCmd({ ...p, prot }));
export const madviseArb = (o: ArbOptions = {}): fc.Arbitrary<Cmd> =>
  fc.tuple(rangeArb(o), fc.constantFrom(...(o.advice ?? ALL_ADVICE))).map(([p, advice]) => new MadviseCmd({ ...p, advice }));

export const forkArb = (): fc.Arbitrary<Cmd> => fc.record({ proc: procSel }).map((p) => new ForkCmd(p));
export const splitArb = (o: ArbOptions = {}): fc.Arbitrary<Cmd> =>
  fc.tuple(rangeArb(o), fc.constantFrom(0, 0, 2, 4, 8)).map(([p, order]) => new SplitHugePagesCmd({ ...p, order }));
export const collapseArb = (o: ArbOptions = {}): fc.Arbitrary<Cmd> => rangeArb(o).map((p) => new CollapseCmd(p));
export const swapArb = (): fc.Arbitrary<Cmd> => fc.record({ proc: procSel, on: fc.boolean() }).map((p) => new SwapCmd(p));
export const khugepagedArb = (): fc.Arbitrary<Cmd> =>
  fc.record({ maxPtesNone: fc.oneof({ arbitrary: fc.constant(null), weight: 3 }, { arbitrary: fc.constantFrom(0, 256, 511), weight: 1 }) }).map((p) => new KhugepagedCmd(p));
export const exitArb = (): fc.Arbitrary<Cmd> => fc.record({ proc: procSel }).map((p) => new ExitCmd(p));
export const verifyArb = (): fc.Arbitrary<Cmd> => fc.record({ proc: procSel }).map((p) => new VerifyCmd(p));

const accessArb = fc.record({ proc: procSel, at: atArb, byte: byteSel, len: accessLen });
export const readArb = (): fc.Arbitrary<Cmd> => accessArb.map((p) => new ReadCmd(p));
export const writeArb = (): fc.Arbitrary<Cmd> =>
  fc.tuple(accessArb, fc.nat(255)).map(([p, seed]) => new WriteCmd({ ...p, seed }));
export const fillArb = (): fc.Arbitrary<Cmd> =>
  fc.tuple(accessArb, fc.integer({ min: 1, max: 255 })).map(([p, value]) => new FillCmd({ ...p, value }));
export const fillRegionArb = (): fc.Arbitrary<Cmd> =>
  fc.record({ proc: procSel, region: fc.nat(31), value: fc.integer({ min: 1, max: 255 }) }).map((p) => new FillRegionCmd(p));

export const memfdArb = (): fc.Arbitrary<Cmd> => fc.record({ proc: procSel, cloexec: fc.boolean() }).map((p) => new MemfdCreateCmd(p));
export const closeArb = (): fc.Arbitrary<Cmd> => fc.record(fdParams).map((p) => new CloseCmd(p));
export const ftruncateArb = (): fc.Arbitrary<Cmd> => fc.record({ ...fdParams, size: fileSize }).map((p) => new FtruncateCmd(p));
export const fallocateArb = (o: ArbOptions = {}): fc.Arbitrary<Cmd> => {
  const modes = fc.oneof(
    { arbitrary: fc.constantFrom(0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE), weight: 12 },
    { arbitrary: fc.constantFrom(FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE), weight: o.invalid === false ? 0 : 1 },
  );
  const len = fc.oneof({ arbitrary: fc.integer({ min: 1, max: 6 * PAGE }), weight: 10 }, { arbitrary: fc.constant(0), weight: o.invalid === false ? 0 : 1 });
  return fc.record({ ...fdParams, mode: modes, off: fileOff, len }).map((p) => new FallocateCmd(p));
};
export const preadArb = (): fc.Arbitrary<Cmd> =>
  fc.record({ ...fdParams, off: fileOff, count: fc.integer({ min: 0, max: 3 * PAGE }) }).map((p) => new PreadCmd(p));
export const pwriteArb = (): fc.Arbitrary<Cmd> =>
  fc.record({ ...fdParams, off: fileOff, len: fc.integer({ min: 0, max: 2 * PAGE + 10 }), seed: fc.nat(255) }).map((p) => new PwriteCmd(p));

/** fc.commands over weighted command arbitraries. */
export function weighted(list: [fc.Arbitrary<Cmd>, number][], maxCommands: number): fc.Arbitrary<Iterable<fc.Command<Model, Real>>> {
  const arb = fc.oneof(...list.map(([arbitrary, weight]) => ({ arbitrary, weight })));
  return fc.commands([arb], { maxCommands, size: 'max' });
}
