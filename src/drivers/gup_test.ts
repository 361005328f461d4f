/**
 * The gup_test debugfs device (mm/gup_test.c, CONFIG_GUP_TEST), opened at
 * /sys/kernel/debug/gup_test. Commands 1-6 run get/pin_user_pages over a
 * range, nr_pages_per_call at a time, check the pins (a failed check is a WARN
 * in the kernel log, not an errno) and release them; commands 7-9 hold a
 * long-term pin across calls, as cow.c and gup_longterm.c use it.
 *
 * The long-term test state is the module's (one per Kernel, as the static
 * variables are one per boot): a second START from any file is EINVAL, and
 * closing any gup_test file stops it.
 */
import { type ErrnoName, errnoName } from '../uapi/errno.js';
import { cUInt, cULong, copyStructFromUser, copyStructToUser } from '../uapi/ctypes.js';
import {
  DUMP_USER_PAGES_TEST,
  GUP_BASIC_TEST,
  GUP_FAST_BENCHMARK,
  GUP_TEST_FLAG_DUMP_PAGES_USE_PIN,
  GUP_TEST_MAX_PAGES_TO_DUMP,
  GUP_TEST_PATH,
  PIN_BASIC_TEST,
  PIN_FAST_BENCHMARK,
  PIN_LONGTERM_BENCHMARK,
  PIN_LONGTERM_TEST_FLAG_USE_FAST,
  PIN_LONGTERM_TEST_FLAG_USE_WRITE,
  PIN_LONGTERM_TEST_READ,
  PIN_LONGTERM_TEST_START,
  PIN_LONGTERM_TEST_STOP,
} from '../uapi/gup_test.js';
import { anonInodeGetfile } from '../fs/anon_inodes.js';
import type { FsFileOps, OpenFile, Task } from '../fs/file.js';
import { dumpPage, printk, warn } from '../mm/debug.js';
import * as G from '../mm/gup.js';
import type { Host } from '../mm/host.js';
import type { MmStruct } from '../mm/mm_types.js';
import { PAGE_SIZE } from '../mm/page.js';
import { NO_SITE, folioMaybeDmaPinnedP } from '../mm/pin_policy.js';
import { copyToUser } from '../mm/uaccess.js';
import type { DriverContext, DeviceOpen } from './index.js';

const FOLL_WRITE = 1 << 0;
const FOLL_LONGTERM = 1 << 8;
const ULONG_MAX = (1n << 64n) - 1n;
const LONG_MAX = (1n << 63n) - 1n;
/** kvmalloc refuses more than INT_MAX bytes: the most page pointers one call can hold. */
const MAX_PAGES_ARRAY = Math.floor((2 ** 31 - 1) / 8);

const GUP_TEST_FIELDS = ['get_delta_usec', 'put_delta_usec', 'addr', 'size', 'nr_pages_per_call', 'gup_flags', 'test_flags', 'which_pages'] as const;

/** The module's long-term test state (pin_longterm_test_pages / _nr_pages). */
interface LongtermState {
  pages: number[] | null;
  nr: number;
}

/** A GUP entry point of the kind the benchmark commands call. */
type GupCall = (host: Host, mm: MmStruct, start: unknown, nr: unknown, flags: unknown, pages: number[]) => number;

function gupCall(cmd: number, testFlags: number): GupCall | null {
  switch (cmd) {
    case GUP_FAST_BENCHMARK:
      return G.getUserPagesFast;
    case GUP_BASIC_TEST:
      return G.getUserPages;
    case PIN_FAST_BENCHMARK:
      return G.pinUserPagesFast;
    case PIN_BASIC_TEST:
      return G.pinUserPages;
    case PIN_LONGTERM_BENCHMARK:
      return (h, mm, s, n, f, p) => G.pinUserPages(h, mm, s, n, (f as number) | FOLL_LONGTERM, p);
    case DUMP_USER_PAGES_TEST:
      return testFlags & GUP_TEST_FLAG_DUMP_PAGES_USE_PIN ? G.pinUserPages : G.getUserPages;
  }
  return null;
}

function isPinCmd(cmd: number, testFlags: number): boolean {
  return cmd === PIN_FAST_BENCHMARK || cmd === PIN_BASIC_TEST || cmd === PIN_LONGTERM_BENCHMARK || (cmd === DUMP_USER_PAGES_TEST && (testFlags & GUP_TEST_FLAG_DUMP_PAGES_USE_PIN) !== 0);
}

// mirrors mm/gup_test.c:put_back_pages
function putBackPages(host: Host, cmd: number, pages: readonly number[], nr: number, testFlags: number): void {
  if (isPinCmd(cmd, testFlags)) G.unpinUserPages(host, pages, nr);
  else for (let i = 0; i < nr; i++) G.putPage(host, pages[i]!);
}

// mirrors mm/gup_test.c:verify_dma_pinned
function verifyDmaPinned(host: Host, cmd: number, pages: readonly number[], nr: number): void {
  if (cmd !== PIN_FAST_BENCHMARK && cmd !== PIN_BASIC_TEST && cmd !== PIN_LONGTERM_BENCHMARK) return;
  for (let i = 0; i < nr; i++) {
    const pfn = pages[i]!;
    const f = host.pfnFolio(pfn);
    const head = host.ft.pfn[f]!;
    if (warn(host, !folioMaybeDmaPinnedP(host, f, pfn - head, 1, NO_SITE), `pages[${i}] is NOT dma-pinned`, 'mm/gup_test.c:verify_dma_pinned')) {
      dumpPage(host, head, 'gup_test failure');
      break;
    }
    if (cmd === PIN_LONGTERM_BENCHMARK && warn(host, !G.folioIsLongtermPinnable(host, f), `pages[${i}] is NOT pinnable but pinned`, 'mm/gup_test.c:verify_dma_pinned')) {
      dumpPage(host, head, 'gup_test failure');
      break;
    }
  }
}

/** Commands 1-6 on a copied-in struct gup_test; out-fields are returned for copy_to_user. */
// mirrors mm/gup_test.c:__gup_test_ioctl
function gupTestIoctl(host: Host, mm: MmStruct, cmd: number, gup: Record<string, unknown>): Record<string, unknown> | ErrnoName {
  const addr = cULong(gup.addr);
  const size = cULong(gup.size);
  const perCall = cUInt(gup.nr_pages_per_call);
  const gupFlags = cUInt(gup.gup_flags);
  const testFlags = cUInt(gup.test_flags);
  const which = readWhichPages(gup.which_pages);
  if (addr === null || size === null || perCall === null || gupFlags === null || testFlags === null || which === null) return 'EINVAL';
  // check_add_overflow(addr, size, &end)
  if (addr + size > ULONG_MAX) return 'EINVAL';
  const nrPages = size / BigInt(PAGE_SIZE);
  if (nrPages > BigInt(MAX_PAGES_ARRAY)) return 'ENOMEM';
  const call = gupCall(cmd, testFlags)!;
  const pages: number[] = [];
  const scratch: number[] = [];
  // The walk in doubles: exact while end < 2^53. Addresses beyond that are far
  // outside user space, where every GUP fails, so the walk stops at once.
  const big = addr + size > BigInt(Number.MAX_SAFE_INTEGER);
  const gaddr = big ? 0 : Number(addr);
  const end = big ? 0 : Number(addr + size);
  let a = gaddr;
  let i = 0;
  let nr = perCall;
  const t0 = performance.now();
  while (!big && a < end) {
    if (nr !== perCall) break;
    let next = a + nr * PAGE_SIZE;
    if (next > end) {
      next = end;
      nr = Math.floor((next - a) / PAGE_SIZE);
    }
    scratch.length = 0;
    nr = call(host, mm, a, nr, gupFlags, scratch);
    if (nr <= 0) break;
    for (let k = 0; k < nr; k++) pages[i + k] = scratch[k]!;
    i += nr;
    a = next;
  }
  const getUsec = Math.round((performance.now() - t0) * 1000);
  verifyDmaPinned(host, cmd, pages, i);
  const out: Record<string, unknown> = { get_delta_usec: getUsec, size: a - gaddr };
  if (cmd === DUMP_USER_PAGES_TEST) out.which_pages = dumpPagesTest(host, addr, which, pages, i);
  const t1 = performance.now();
  putBackPages(host, cmd, pages, i, testFlags);
  out.put_delta_usec = Math.round((performance.now() - t1) * 1000);
  return out;
}

/** which_pages[8] as u32 values (absent entries 0), or null if an entry is not a C value. */
function readWhichPages(v: unknown): number[] | null {
  const out = new Array<number>(GUP_TEST_MAX_PAGES_TO_DUMP).fill(0);
  if (v === 0 || v === undefined) return out;
  if (!Array.isArray(v)) return null;
  for (let k = 0; k < GUP_TEST_MAX_PAGES_TO_DUMP; k++) {
    const w = cUInt(v[k] ?? 0);
    if (w === null) return null;
    out[k] = w;
  }
  return out;
}

// mirrors mm/gup_test.c:dump_pages_test
function dumpPagesTest(host: Host, addr: bigint, which: number[], pages: readonly number[], nr: number): number[] {
  // 1-based indices; out-of-range entries are zeroed (and the zeros copied back).
  for (let k = 0; k < which.length; k++) if (which[k]! > nr) which[k] = 0;
  for (const w of which) {
    if (w === 0) continue;
    const idx = w - 1;
    printk(host, `---- page #${idx}, starting from user virt addr: 0x${addr.toString(16)}`);
    dumpPage(host, pages[idx]!, 'gup_test: dump_pages() test');
  }
  return which;
}

// mirrors mm/gup_test.c:pin_longterm_test_stop
function longtermStop(host: Host, st: LongtermState): void {
  if (st.pages === null) return;
  if (st.nr > 0) G.unpinUserPages(host, st.pages, st.nr);
  st.pages = null;
  st.nr = 0;
}

// mirrors mm/gup_test.c:pin_longterm_test_start
function longtermStart(host: Host, mm: MmStruct, st: LongtermState, arg: unknown): number | ErrnoName {
  if (st.pages !== null) return 'EINVAL';
  const args = copyStructFromUser(arg, ['addr', 'size', 'flags']);
  if (args === null) return 'EFAULT';
  const addr = cULong(args.addr);
  const size = cULong(args.size);
  const flags = cUInt(args.flags);
  if (addr === null || size === null || flags === null) return 'EINVAL';
  if (flags & ~(PIN_LONGTERM_TEST_FLAG_USE_WRITE | PIN_LONGTERM_TEST_FLAG_USE_FAST)) return 'EINVAL';
  if ((addr | size) % BigInt(PAGE_SIZE) !== 0n) return 'EINVAL';
  if (size > LONG_MAX) return 'EINVAL';
  const nrPages = size / BigInt(PAGE_SIZE);
  if (nrPages === 0n) return 'EINVAL';
  if (nrPages > BigInt(MAX_PAGES_ARRAY)) return 'ENOMEM';
  const gupFlags = FOLL_LONGTERM | (flags & PIN_LONGTERM_TEST_FLAG_USE_WRITE ? FOLL_WRITE : 0);
  const fast = (flags & PIN_LONGTERM_TEST_FLAG_USE_FAST) !== 0;
  const n = Number(nrPages);
  st.pages = [];
  st.nr = 0;
  const scratch: number[] = [];
  while (n - st.nr > 0) {
    const a = addr + BigInt(st.nr * PAGE_SIZE);
    const start = a > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(a);
    scratch.length = 0;
    let cur = start < 0 ? -14 : fast ? G.pinUserPagesFast(host, mm, start, n - st.nr, gupFlags, scratch) : G.pinUserPages(host, mm, start, n - st.nr, gupFlags, scratch);
    // Linux would retry a 0 forever; the model reports it as a fault instead.
    if (cur === 0) cur = -14;
    if (cur < 0) {
      longtermStop(host, st);
      return errnoOf(cur);
    }
    for (let k = 0; k < cur; k++) st.pages[st.nr + k] = scratch[k]!;
    st.nr += cur;
  }
  return 0;
}

// mirrors mm/gup_test.c:pin_longterm_test_read
function longtermRead(host: Host, mm: MmStruct, st: LongtermState, arg: unknown): number | ErrnoName {
  if (st.pages === null) return 'EINVAL';
  const userAddr = cULong(arg);
  if (userAddr === null) return 'EFAULT';
  const buf = new Uint8Array(PAGE_SIZE);
  for (let i = 0; i < st.nr; i++) {
    const pfn = st.pages[i]!;
    const f = host.pfnFolio(pfn);
    host.content.read(f, (pfn - host.ft.pfn[f]!) * PAGE_SIZE, buf, 0, PAGE_SIZE);
    const to = userAddr + BigInt(i * PAGE_SIZE);
    if (to > BigInt(Number.MAX_SAFE_INTEGER) || copyToUser(host, mm, Number(to), buf) !== 0) return 'EFAULT';
  }
  return 0;
}

/** The errno name of a negative kernel return value. */
function errnoOf(ret: number): ErrnoName {
  return errnoName(-ret) ?? 'EINVAL';
}

// mirrors mm/gup_test.c:gup_test_ioctl
function ioctl(host: Host, st: LongtermState, cmd: number, arg: unknown, current: Task): number | ErrnoName {
  const mm = current.mm;
  if (mm === null) return 'EFAULT';
  switch (cmd) {
    case GUP_FAST_BENCHMARK:
    case PIN_FAST_BENCHMARK:
    case PIN_LONGTERM_BENCHMARK:
    case GUP_BASIC_TEST:
    case PIN_BASIC_TEST:
    case DUMP_USER_PAGES_TEST:
      break;
    case PIN_LONGTERM_TEST_START:
      return longtermStart(host, mm, st, arg);
    case PIN_LONGTERM_TEST_STOP:
      longtermStop(host, st);
      return 0;
    case PIN_LONGTERM_TEST_READ:
      return longtermRead(host, mm, st, arg);
    default:
      return 'EINVAL';
  }
  const gup = copyStructFromUser(arg, GUP_TEST_FIELDS);
  if (gup === null) return 'EFAULT';
  const out = gupTestIoctl(host, mm, cmd, gup);
  if (typeof out === 'string') return out;
  return copyStructToUser(arg, out) ? 0 : 'EFAULT';
}

/** Register /sys/kernel/debug/gup_test. */
export function register(devices: Map<string, DeviceOpen>, ctx: DriverContext): void {
  const st: LongtermState = { pages: null, nr: 0 };
  const fOp: FsFileOps = {
    unlockedIoctl: (_file: OpenFile, cmd: number, arg: unknown, current: Task) => ioctl(ctx.host, st, cmd, arg, current),
    // mirrors mm/gup_test.c:gup_test_release
    release: () => longtermStop(ctx.host, st),
  };
  // nonseekable_open; ioctls work whatever the access mode.
  devices.set(GUP_TEST_PATH, (_current, flags) => anonInodeGetfile(ctx.vfs, GUP_TEST_PATH, fOp, flags));
}
