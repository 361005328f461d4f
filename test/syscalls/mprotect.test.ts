/**
 * mprotect(2) argument validation (mm/mprotect.c:do_mprotect_pkey; notes:
 * /work/notes/syscalls_vm.md section 3), in order:
 *   PROT_GROWSDOWN and PROT_GROWSUP both          -> EINVAL (before alignment)
 *   start unaligned                               -> EINVAL
 *   len == 0                                      -> 0
 *   start + PAGE_ALIGN(len) wraps (end <= start)  -> ENOMEM
 *   prot bits beyond READ|WRITE|EXEC|SEM          -> EINVAL (arch_validate_prot)
 *   no VMA in [start, end)                        -> ENOMEM
 *   GROWSDOWN on a VMA without VM_GROWSDOWN       -> EINVAL; start in a hole -> ENOMEM
 *   GROWSUP (no VM_GROWSUP VMAs on x86)           -> EINVAL
 *   per VMA: hole -> ENOMEM (earlier VMAs keep the change); VM_MAY* missing -> EACCES;
 *   split at max_map_count -> ENOMEM; hugetlb may_split -> EINVAL
 */
import { describe, expect, it } from 'vitest';
import type { ErrnoName } from '../../src/uapi/index.js';
import {
  MAP_FIXED,
  MAP_GROWSDOWN,
  MAP_HUGETLB,
  MAP_NORESERVE,
  MAP_SHARED,
  PROT_EXEC,
  PROT_GROWSDOWN,
  PROT_GROWSUP,
  PROT_NONE,
  PROT_READ,
  PROT_SEM,
  PROT_WRITE,
} from '../../src/uapi/index.js';
import { A_ADDR, A_LEN, type Env, PA, RW, env, vmaAt, vmas } from './env.js';
import { HPAGE, PAGE, TASK_SIZE, WEIRD, attempt, boot, checkKernelsAfterEach, checkOutcome, type Expect, expectErrno, expectations } from './helpers.js';

checkKernelsAfterEach();

const S = 'mprotect';
const BOTH = PROT_GROWSDOWN | PROT_GROWSUP;
const HOLE = 0x50000000;

interface Row {
  name: string;
  call: (e: Env) => unknown;
  code: ErrnoName;
}

const rows: Row[] = [
  { name: 'PROT_GROWSDOWN|PROT_GROWSUP', call: (e) => e.p.mprotect(A_ADDR, PAGE, PROT_READ | BOTH), code: 'EINVAL' },
  { name: 'ORDER both GROWS beats an unmapped range (ENOMEM)', call: (e) => e.p.mprotect(HOLE, PAGE, PROT_READ | BOTH), code: 'EINVAL' },
  { name: 'ORDER both GROWS beats end wrap (ENOMEM)', call: (e) => e.p.mprotect(A_ADDR, -1, PROT_READ | BOTH), code: 'EINVAL' },
  { name: 'ORDER both GROWS beats len 0 (which returns 0)', call: (e) => e.p.mprotect(A_ADDR, 0, BOTH), code: 'EINVAL' },
  { name: 'unaligned start', call: (e) => e.p.mprotect(A_ADDR + 1, PAGE, PROT_READ), code: 'EINVAL' },
  { name: 'ORDER unaligned start beats len 0', call: (e) => e.p.mprotect(A_ADDR + 1, 0, PROT_READ), code: 'EINVAL' },
  { name: 'ORDER unaligned start beats an unmapped range', call: (e) => e.p.mprotect(HOLE + 1, PAGE, PROT_READ), code: 'EINVAL' },
  { name: 'len 2^64-1: PAGE_ALIGN wraps, end == start', call: (e) => e.p.mprotect(A_ADDR, -1, PROT_READ), code: 'ENOMEM' },
  { name: 'start + len wraps past 2^64', call: (e) => e.p.mprotect(A_ADDR, -A_ADDR, PROT_READ), code: 'ENOMEM' },
  { name: 'ORDER end wrap (ENOMEM) beats invalid prot (EINVAL)', call: (e) => e.p.mprotect(A_ADDR, -1, 0x10), code: 'ENOMEM' },
  { name: 'invalid prot bit 0x10', call: (e) => e.p.mprotect(A_ADDR, PAGE, PROT_READ | 0x10), code: 'EINVAL' },
  { name: 'invalid prot bit 31', call: (e) => e.p.mprotect(A_ADDR, PAGE, 0x80000000), code: 'EINVAL' },
  { name: 'invalid prot bit 40 (prot is unsigned long)', call: (e) => e.p.mprotect(A_ADDR, PAGE, 1n << 40n), code: 'EINVAL' },
  { name: 'ORDER invalid prot beats an unmapped range', call: (e) => e.p.mprotect(HOLE, PAGE, 0x20), code: 'EINVAL' },
  { name: 'unmapped range', call: (e) => e.p.mprotect(HOLE, PAGE, PROT_READ), code: 'ENOMEM' },
  { name: 'address 0', call: (e) => e.p.mprotect(0, PAGE, PROT_READ), code: 'ENOMEM' },
  { name: 'beyond TASK_SIZE', call: (e) => e.p.mprotect(TASK_SIZE, PAGE, PROT_READ), code: 'ENOMEM' },
  { name: 'start 2^63 (no VMA can be there)', call: (e) => e.p.mprotect(1n << 63n, PAGE, PROT_READ), code: 'ENOMEM' },
  { name: 'start in a hole just before a VMA', call: (e) => e.p.mprotect(A_ADDR - PAGE, 2 * PAGE, PROT_READ), code: 'ENOMEM' },
  { name: 'PROT_GROWSDOWN on a VMA without VM_GROWSDOWN', call: (e) => e.p.mprotect(A_ADDR + PAGE, PAGE, PROT_READ | PROT_GROWSDOWN), code: 'EINVAL' },
  { name: 'PROT_GROWSUP (x86 has no VM_GROWSUP)', call: (e) => e.p.mprotect(A_ADDR, PAGE, PROT_READ | PROT_GROWSUP), code: 'EINVAL' },
  { name: 'ORDER PROT_GROWSUP with start in a hole: ENOMEM first', call: (e) => e.p.mprotect(A_ADDR - PAGE, 2 * PAGE, PROT_READ | PROT_GROWSUP), code: 'ENOMEM' },
  {
    name: 'exited process',
    call: (e) => {
      e.p.exit();
      return e.p.mprotect(A_ADDR, PAGE, PROT_READ);
    },
    code: 'ESRCH',
  },
];

describe('mprotect: errno and check order', () => {
  it.each(rows)('$name', (row) => {
    const e = env();
    const before = vmas(e);
    expectErrno(() => row.call(e), row.code, S);
    // None of these got as far as changing a VMA.
    if (e.p.mm !== null) expect(vmas(e)).toEqual(before);
    expect(e.k.check()).toEqual([]);
  });
});

describe('mprotect: partial application and per-VMA errors', () => {
  it('over a hole: the part before the hole is changed, then ENOMEM', () => {
    const e = env();
    e.p.fill(A_ADDR, A_LEN, 0x5a);
    e.p.munmap(A_ADDR + 3 * PAGE, PAGE);
    expectErrno(() => e.p.mprotect(A_ADDR, A_LEN, PROT_READ), 'ENOMEM', S);
    expect(vmaAt(e, A_ADDR)!.perms).toBe('r--p');
    expect(vmaAt(e, A_ADDR)!.end).toBe(A_ADDR + 3 * PAGE);
    // The part after the hole was not reached.
    expect(vmaAt(e, A_ADDR + 4 * PAGE)!.perms).toBe('rw-p');
    expect(e.k.check()).toEqual([]);
  });

  it('range extending past the last VMA: the VMA is changed, then ENOMEM', () => {
    const e = env();
    expectErrno(() => e.p.mprotect(A_ADDR, A_LEN + PAGE, PROT_READ), 'ENOMEM', S);
    expect(vmaAt(e, A_ADDR)!.perms).toBe('r--p');
    expect(vmaAt(e, A_ADDR + A_LEN - PAGE)!.perms).toBe('r--p');
  });

  it('huge len that does not wrap: everything mapped from start on changes, then ENOMEM', () => {
    const e = env();
    expectErrno(() => e.p.mprotect(A_ADDR, 2 ** 53, PROT_NONE), 'ENOMEM', S);
    expect(vmaAt(e, A_ADDR)!.perms).toBe('---p');
  });

  it('max_map_count: a split at the limit is ENOMEM and leaves the VMA unchanged', () => {
    const { k, p } = boot({ maxMapCount: 1 });
    p.mmap(0x10000000, 4 * PAGE, RW, PA | MAP_FIXED, -1, 0);
    expectErrno(() => p.mprotect(0x10001000, PAGE, PROT_READ), 'ENOMEM', S);
    expect(p.smaps()).toHaveLength(1);
    expect(p.smaps()[0]!.perms).toBe('rw-p');
    // Changing the whole VMA needs no split.
    expect(p.mprotect(0x10000000, 4 * PAGE, PROT_READ)).toBe(0);
    expect(p.smaps()[0]!.perms).toBe('r--p');
    expect(k.check()).toEqual([]);
  });

  // mprotect_fixup charges a private mapping that becomes writable for the first
  // time (no VM_ACCOUNT|VM_WRITE|VM_HUGETLB|VM_SHARED|VM_NORESERVE) with
  // security_vm_enough_memory_mm(nrpages) and fails ENOMEM when that exceeds
  // RAM + swap (OVERCOMMIT_GUESS).
  it('making a private mapping larger than RAM writable -> ENOMEM (overcommit charge)', () => {
    const e = env();
    const big = 512 * 2 ** 20;
    const a = e.p.mmap(0, big, PROT_READ, PA, -1, 0);
    expectErrno(() => e.p.mprotect(a, big, RW), 'ENOMEM', S);
    expect(vmaAt(e, a)!.perms).toBe('r--p');
  });

  it('making a MAP_NORESERVE private mapping larger than RAM writable is not charged', () => {
    const e = env();
    const big = 512 * 2 ** 20;
    const a = e.p.mmap(0, big, PROT_READ, PA | MAP_NORESERVE, -1, 0);
    expect(e.p.mprotect(a, big, RW)).toBe(0);
  });

  // mprotect_fixup -> vma_modify -> split_vma -> __split_vma calls
  // vm_ops->may_split = hugetlb_vm_op_split, which refuses a split address that
  // is not huge-page aligned with -EINVAL.
  it('a 4 KiB mprotect inside a hugetlb VMA -> EINVAL (hugetlb_vm_op_split)', () => {
    const e = env();
    const h = e.p.mmap(0, 2 * HPAGE, RW, PA | MAP_HUGETLB | MAP_NORESERVE, -1, 0);
    expectErrno(() => e.p.mprotect(h + PAGE, PAGE, PROT_READ), 'EINVAL', S);
    expect(vmaAt(e, h)!.perms).toBe('rw-p');
    expect(vmaAt(e, h)!.end).toBe(h + 2 * HPAGE);
  });

  // vma_modify splits at the start (aligned: allowed), then at the end (refused):
  // the start split stays, the protection does not change.
  it('an mprotect from a huge boundary to an unaligned end -> EINVAL, the start split stays', () => {
    const e = env();
    const h = e.p.mmap(0, 2 * HPAGE, RW, PA | MAP_HUGETLB | MAP_NORESERVE, -1, 0);
    expectErrno(() => e.p.mprotect(h + HPAGE, PAGE, PROT_READ), 'EINVAL', S);
    expect(vmaAt(e, h)).toMatchObject({ start: h, end: h + HPAGE, perms: 'rw-p' });
    expect(vmaAt(e, h + HPAGE)).toMatchObject({ start: h + HPAGE, end: h + 2 * HPAGE, perms: 'rw-p' });
  });

  it('a huge-aligned mprotect of half a hugetlb VMA splits it', () => {
    const e = env();
    const h = e.p.mmap(0, 2 * HPAGE, RW, PA | MAP_HUGETLB | MAP_NORESERVE, -1, 0);
    expect(e.p.mprotect(h, HPAGE, PROT_READ)).toBe(0);
    expect(vmaAt(e, h)!.perms).toBe('r--p');
    expect(vmaAt(e, h + HPAGE)!.perms).toBe('rw-p');
  });
});

describe('mprotect: accepted inputs', () => {
  it('len 0 returns 0 without looking at the range or at prot', () => {
    const e = env();
    expect(e.p.mprotect(HOLE, 0, PROT_READ)).toBe(0);
    expect(e.p.mprotect(A_ADDR, 0, 0xffff0)).toBe(0);
    expect(e.p.mprotect(TASK_SIZE + PAGE, 0, PROT_READ)).toBe(0);
  });

  it('PROT_SEM is accepted and ignored', () => {
    const e = env();
    expect(e.p.mprotect(A_ADDR, PAGE, PROT_READ | PROT_SEM)).toBe(0);
    expect(vmaAt(e, A_ADDR)!.perms).toBe('r--p');
  });

  it('len is rounded up to a page', () => {
    const e = env();
    expect(e.p.mprotect(A_ADDR, 1, PROT_READ)).toBe(0);
    expect(vmaAt(e, A_ADDR)!.end).toBe(A_ADDR + PAGE);
  });

  it('PROT_GROWSDOWN on a MAP_GROWSDOWN VMA extends start down to the VMA start', () => {
    const e = env();
    const g = e.p.mmap(0x30000000, 4 * PAGE, RW, PA | MAP_FIXED | MAP_GROWSDOWN, -1, 0);
    expect(e.p.mprotect(g + 2 * PAGE, PAGE, PROT_READ | PROT_GROWSDOWN)).toBe(0);
    expect(vmaAt(e, g)!.perms).toBe('r--p');
    expect(vmaAt(e, g)!.end).toBe(g + 3 * PAGE);
    expect(vmaAt(e, g + 3 * PAGE)!.perms).toBe('rw-p');
  });

  it('PROT_WRITE|PROT_EXEC on a shared memfd mapping (VM_MAYWRITE and VM_MAYEXEC are set)', () => {
    const e = env();
    const m = e.p.mmap(0, PAGE, PROT_READ, MAP_SHARED, e.fd, 0);
    expect(e.p.mprotect(m, PAGE, PROT_READ | PROT_WRITE | PROT_EXEC)).toBe(0);
    expect(vmaAt(e, m)!.perms).toBe('rwxs');
  });

  it('start and len wrap modulo 2^64', () => {
    const e = env();
    expect(e.p.mprotect(BigInt(A_ADDR) + (1n << 64n), (1n << 64n) + BigInt(PAGE), BigInt(PROT_READ) + (1n << 64n))).toBe(0);
    expect(vmaAt(e, A_ADDR)!.perms).toBe('r--p');
  });
});

// ---------------------------------------------------------------------------

const positions: { name: string; call: (e: Env, v: unknown) => unknown; expect: (label: string) => Expect }[] = [
  {
    name: 'addr',
    call: (e, v) => e.p.mprotect(v, 2 * PAGE, PROT_READ),
    expect: expectations('EINVAL', {
      '-1': 'EINVAL',
      '-0': 'ENOMEM',
      '2**53': 'ENOMEM',
      '2**53+2': 'EINVAL',
      '2**64': 'ENOMEM',
      '-(2**63)': 'ENOMEM',
      '1n<<64n': 'ENOMEM',
      '-1n': 'EINVAL',
    }),
  },
  {
    name: 'len',
    call: (e, v) => e.p.mprotect(A_ADDR, v, PROT_READ),
    expect: expectations('EINVAL', {
      '-1': 'ENOMEM',
      '-0': 'ok',
      '2**53': 'ENOMEM',
      '2**53+2': 'ENOMEM',
      '2**64': 'ok',
      '-(2**63)': 'ENOMEM',
      '1n<<64n': 'ok',
      '-1n': 'ENOMEM',
    }),
  },
  {
    name: 'prot',
    call: (e, v) => e.p.mprotect(A_ADDR, 2 * PAGE, v),
    expect: expectations('EINVAL', {
      '-1': 'EINVAL',
      '-0': 'ok',
      '2**53': 'EINVAL',
      '2**53+2': 'EINVAL',
      '2**64': 'ok',
      '-(2**63)': 'EINVAL',
      '1n<<64n': 'ok',
      '-1n': 'EINVAL',
    }),
  },
];

describe('mprotect: a value of every type in every position', () => {
  for (const pos of positions) {
    it.each(WEIRD.map((w) => ({ ...w })))(`${pos.name} = $label`, ({ label, v }) => {
      const e = env();
      const r = attempt(() => pos.call(e, v));
      checkOutcome(r, pos.expect(label), S, `${pos.name} = ${label}`);
      expect(e.k.check()).toEqual([]);
    });
  }
});
