/**
 * munmap(2) argument validation (mm/vma.c:do_vmi_munmap, vms_gather_munmap_vmas;
 * notes: /work/notes/syscalls_vm.md section 2):
 *   start unaligned, start > TASK_SIZE, len > TASK_SIZE - start   -> EINVAL
 *   PAGE_ALIGN(len) == 0                                          -> EINVAL
 *   nothing mapped                                                -> 0
 *   a hole punched into one VMA at max_map_count                  -> ENOMEM
 *   a split refused by vm_ops->may_split (hugetlb, unaligned)     -> EINVAL
 */
import { describe, expect, it } from 'vitest';
import type { ErrnoName } from '../../src/uapi/index.js';
import { MAP_FIXED, MAP_HUGETLB, MAP_NORESERVE, MAP_SHARED, PROT_READ } from '../../src/uapi/index.js';
import { A_ADDR, A_LEN, type Env, PA, RW, env, vmaAt, vmas } from './env.js';
import { HPAGE, PAGE, TASK_SIZE, WEIRD, attempt, boot, checkKernelsAfterEach, checkOutcome, type Expect, expectErrno, expectations } from './helpers.js';

checkKernelsAfterEach();

const S = 'munmap';

interface Row {
  name: string;
  call: (e: Env) => unknown;
  code: ErrnoName;
}

const rows: Row[] = [
  { name: 'unaligned start', call: (e) => e.p.munmap(A_ADDR + 1, PAGE), code: 'EINVAL' },
  { name: 'ORDER unaligned start beats len 0', call: (e) => e.p.munmap(A_ADDR + 1, 0), code: 'EINVAL' },
  { name: 'start beyond TASK_SIZE', call: (e) => e.p.munmap(TASK_SIZE + PAGE, PAGE), code: 'EINVAL' },
  { name: 'start == TASK_SIZE with len 4096 (len > TASK_SIZE - start)', call: (e) => e.p.munmap(TASK_SIZE, PAGE), code: 'EINVAL' },
  { name: 'start == TASK_SIZE with len 0', call: (e) => e.p.munmap(TASK_SIZE, 0), code: 'EINVAL' },
  { name: 'len > TASK_SIZE - start', call: (e) => e.p.munmap(A_ADDR, TASK_SIZE - A_ADDR + 1), code: 'EINVAL' },
  { name: 'len 2^64-1', call: (e) => e.p.munmap(A_ADDR, -1), code: 'EINVAL' },
  { name: 'len 0', call: (e) => e.p.munmap(A_ADDR, 0), code: 'EINVAL' },
  { name: 'len 0 on an unmapped address', call: (e) => e.p.munmap(0x50000000, 0), code: 'EINVAL' },
  { name: 'start 2^64 - 4096 (beyond TASK_SIZE)', call: (e) => e.p.munmap(-PAGE, PAGE), code: 'EINVAL' },
  {
    name: 'exited process',
    call: (e) => {
      e.p.exit();
      return e.p.munmap(A_ADDR, PAGE);
    },
    code: 'ESRCH',
  },
];

describe('munmap: errno and check order', () => {
  it.each(rows)('$name', (row) => {
    const e = env();
    const before = vmas(e);
    expectErrno(() => row.call(e), row.code, S);
    if (e.p.mm !== null) expect(vmas(e)).toEqual(before);
    expect(e.k.check()).toEqual([]);
  });
});

describe('munmap: accepted inputs', () => {
  it('unmapping nothing succeeds (0), including address 0 and the last page', () => {
    const e = env();
    expect(e.p.munmap(0x50000000, PAGE)).toBe(0);
    expect(e.p.munmap(0, PAGE)).toBe(0);
    expect(e.p.munmap(TASK_SIZE - PAGE, PAGE)).toBe(0);
    expect(vmaAt(e, A_ADDR)).toBeDefined();
  });

  it('len is rounded up to a page; holes inside the range are skipped', () => {
    const e = env();
    expect(e.p.munmap(A_ADDR + PAGE, 1)).toBe(0);
    expect(vmaAt(e, A_ADDR + PAGE)).toBeUndefined();
    expect(vmaAt(e, A_ADDR)).toBeDefined();
    expect(vmaAt(e, A_ADDR + 2 * PAGE)).toBeDefined();
    // Unmap across the hole and beyond the end of A.
    expect(e.p.munmap(A_ADDR, A_LEN + 16 * PAGE)).toBe(0);
    expect(vmaAt(e, A_ADDR)).toBeUndefined();
    expect(vmaAt(e, A_ADDR + 2 * PAGE)).toBeUndefined();
  });

  it('the whole user address space can be unmapped in one call', () => {
    const e = env();
    expect(e.p.munmap(0, TASK_SIZE)).toBe(0);
    expect(vmas(e)).toEqual([]);
  });

  it('start and len wrap modulo 2^64', () => {
    const e = env();
    expect(e.p.munmap(BigInt(A_ADDR) + (1n << 64n), (1n << 64n) + BigInt(PAGE))).toBe(0);
    expect(vmaAt(e, A_ADDR)).toBeUndefined();
  });

  it('max_map_count: punching a hole at the limit is ENOMEM; trimming an end is not', () => {
    const { k, p } = boot({ maxMapCount: 1 });
    p.mmap(0x10000000, 4 * PAGE, RW, PA | MAP_FIXED, -1, 0);
    expectErrno(() => p.munmap(0x10001000, PAGE), 'ENOMEM', S);
    expect(p.smaps()).toHaveLength(1);
    expect(p.smaps()[0]!.end - p.smaps()[0]!.start).toBe(4 * PAGE);
    // Removing the head or the tail does not add a VMA.
    expect(p.munmap(0x10000000, PAGE)).toBe(0);
    expect(p.munmap(0x10003000, PAGE)).toBe(0);
    expect(p.smaps()).toHaveLength(1);
    expect(k.check()).toEqual([]);
  });

  it('max_map_count: a range covering several VMAs and splitting only the last is allowed', () => {
    const { k, p } = boot({ maxMapCount: 2 });
    p.mmap(0x10000000, 2 * PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.mmap(0x10002000, 2 * PAGE, PROT_READ, PA | MAP_FIXED, -1, 0);
    expect(p.smaps()).toHaveLength(2);
    // Starts exactly at the first VMA, ends inside the second: no net new VMA.
    expect(p.munmap(0x10000000, 3 * PAGE)).toBe(0);
    expect(p.smaps()).toHaveLength(1);
    expect(k.check()).toEqual([]);
  });
});

describe('munmap of hugetlb mappings (hugetlb_vm_op_split refuses unaligned splits)', () => {
  const hugeEnv = () => {
    const e = env();
    const h = e.p.mmap(0, 2 * HPAGE, RW, PA | MAP_HUGETLB | MAP_NORESERVE, -1, 0);
    return { ...e, h };
  };

  // __split_vma asks vm_ops->may_split; hugetlb_vm_op_split returns -EINVAL
  // when the split address is not huge-page aligned.
  it('munmap of a 4 KiB page inside a 2 MiB hugetlb VMA -> EINVAL', () => {
    const e = hugeEnv();
    expectErrno(() => e.p.munmap(e.h + PAGE, PAGE), 'EINVAL', S);
    expect(vmaAt(e, e.h)!.end - e.h).toBe(2 * HPAGE);
  });

  // Likewise for the split at h + 4096, the end of the range.
  it('munmap of the first 4 KiB of a hugetlb VMA -> EINVAL', () => {
    const e = hugeEnv();
    expectErrno(() => e.p.munmap(e.h, PAGE), 'EINVAL', S);
  });

  // vms_gather_munmap_vmas splits at the start (aligned: allowed), then at the end
  // (refused); the start split is not undone, and nothing is unmapped.
  it('munmap from a huge boundary to an unaligned end -> EINVAL, the start split stays', () => {
    const e = hugeEnv();
    expectErrno(() => e.p.munmap(e.h + HPAGE, PAGE), 'EINVAL', S);
    expect(vmaAt(e, e.h)).toMatchObject({ start: e.h, end: e.h + HPAGE });
    expect(vmaAt(e, e.h + HPAGE)).toMatchObject({ start: e.h + HPAGE, end: e.h + 2 * HPAGE });
  });

  it('munmap of a huge-aligned half of a hugetlb VMA works', () => {
    const e = hugeEnv();
    expect(e.p.munmap(e.h + HPAGE, HPAGE)).toBe(0);
    expect(vmaAt(e, e.h)!.end).toBe(e.h + HPAGE);
    expect(e.k.check()).toEqual([]);
  });

  it('MAP_SHARED hugetlb memfd mapping with MAP_NORESERVE can be unmapped whole', () => {
    const e = env();
    const a = e.p.mmap(0, HPAGE, RW, MAP_SHARED | MAP_NORESERVE, e.hfd, 0);
    expect(e.p.munmap(a, HPAGE)).toBe(0);
    expect(e.k.check()).toEqual([]);
  });
});

// ---------------------------------------------------------------------------

const positions: { name: string; call: (e: Env, v: unknown) => unknown; expect: (label: string) => Expect }[] = [
  {
    name: 'addr',
    call: (e, v) => e.p.munmap(v, 2 * PAGE),
    expect: expectations('EINVAL', {
      '-1': 'EINVAL',
      '-0': 'ok', // munmap(0, 8192): nothing mapped there
      '2**53': 'EINVAL',
      '2**53+2': 'EINVAL',
      '2**64': 'ok',
      '-(2**63)': 'EINVAL',
      '1n<<64n': 'ok',
      '-1n': 'EINVAL',
    }),
  },
  {
    name: 'len',
    call: (e, v) => e.p.munmap(A_ADDR, v),
    expect: expectations('EINVAL', {
      '-1': 'EINVAL',
      '-0': 'EINVAL',
      '2**53': 'EINVAL',
      '2**53+2': 'EINVAL',
      '2**64': 'EINVAL',
      '-(2**63)': 'EINVAL',
      '1n<<64n': 'EINVAL',
      '-1n': 'EINVAL',
    }),
  },
];

describe('munmap: a value of every type in every position', () => {
  for (const pos of positions) {
    it.each(WEIRD.map((w) => ({ ...w })))(`${pos.name} = $label`, ({ label, v }) => {
      const e = env();
      const r = attempt(() => pos.call(e, v));
      checkOutcome(r, pos.expect(label), S, `${pos.name} = ${label}`);
      expect(e.k.check()).toEqual([]);
    });
  }
});
