/**
 * madvise(2) argument validation (mm/madvise.c; notes: /work/notes/syscalls_vm.md
 * section 4), in order:
 *   madvise_behavior_valid(advice) false  -> EINVAL (first: beats everything)
 *   start unaligned                       -> EINVAL
 *   len != 0 but PAGE_ALIGN(len) == 0     -> EINVAL (not ENOMEM)
 *   start + len wraps                     -> EINVAL
 *   len == 0                              -> 0
 *   walk: no VMA / holes                  -> ENOMEM after advising the mapped parts;
 *   a per-VMA error stops the walk at once; a failed split is EAGAIN
 *   POPULATE_*: no VMA -> ENOMEM, check_vma_flags -> EINVAL, SIGBUS -> EFAULT
 */
import { describe, expect, it } from 'vitest';
import type { ErrnoName } from '../../src/uapi/index.js';
import {
  MADV_COLD,
  MADV_COLLAPSE,
  MADV_DODUMP,
  MADV_DOFORK,
  MADV_DONTDUMP,
  MADV_DONTFORK,
  MADV_DONTNEED,
  MADV_DONTNEED_LOCKED,
  MADV_FREE,
  MADV_GUARD_INSTALL,
  MADV_GUARD_REMOVE,
  MADV_HUGEPAGE,
  MADV_HWPOISON,
  MADV_KEEPONFORK,
  MADV_MERGEABLE,
  MADV_NOHUGEPAGE,
  MADV_NORMAL,
  MADV_PAGEOUT,
  MADV_POPULATE_READ,
  MADV_POPULATE_WRITE,
  MADV_RANDOM,
  MADV_REMOVE,
  MADV_SEQUENTIAL,
  MADV_SOFT_OFFLINE,
  MADV_UNMERGEABLE,
  MADV_WILLNEED,
  MADV_WIPEONFORK,
  MAP_ANONYMOUS,
  MAP_DROPPABLE,
  MAP_FIXED,
  MAP_HUGETLB,
  MAP_LOCKED,
  MAP_NORESERVE,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from '../../src/uapi/index.js';
import { A_ADDR, A_LEN, type Env, PA, RW, env, vmaAt } from './env.js';
import { HPAGE, PAGE, TASK_SIZE, WEIRD, attempt, boot, checkKernelsAfterEach, checkOutcome, type Expect, expectErrno, expectations } from './helpers.js';

checkKernelsAfterEach();

const S = 'madvise';
const HOLE = 0x50000000;
const SA = MAP_SHARED | MAP_ANONYMOUS;

interface Row {
  name: string;
  call: (e: Env) => unknown;
  code: ErrnoName;
}

const rows: Row[] = [
  // --- advice validity first
  ...[5, 6, 7, 26, 99, 104, -1, 0x7fffffff].map((adv): Row => ({ name: `unknown advice ${adv}`, call: (e) => e.p.madvise(A_ADDR, PAGE, adv), code: 'EINVAL' })),
  // The modelled kernel is built without CONFIG_KSM and CONFIG_MEMORY_FAILURE and
  // predates MADV_GUARD_* (6.13): madvise_behavior_valid() rejects these (model configuration).
  ...[
    ['MADV_MERGEABLE (CONFIG_KSM=n)', MADV_MERGEABLE],
    ['MADV_UNMERGEABLE (CONFIG_KSM=n)', MADV_UNMERGEABLE],
    ['MADV_HWPOISON (CONFIG_MEMORY_FAILURE=n)', MADV_HWPOISON],
    ['MADV_SOFT_OFFLINE (CONFIG_MEMORY_FAILURE=n)', MADV_SOFT_OFFLINE],
    ['MADV_GUARD_INSTALL (pre-6.13 model)', MADV_GUARD_INSTALL],
    ['MADV_GUARD_REMOVE (pre-6.13 model)', MADV_GUARD_REMOVE],
  ].map(([n, adv]): Row => ({ name: `${n as string}`, call: (e) => e.p.madvise(A_ADDR, PAGE, adv), code: 'EINVAL' })),
  { name: 'ORDER unknown advice beats unaligned start', call: (e) => e.p.madvise(A_ADDR + 1, PAGE, 5), code: 'EINVAL' },
  { name: 'ORDER unknown advice beats len 0 (which returns 0)', call: (e) => e.p.madvise(A_ADDR, 0, 5), code: 'EINVAL' },
  { name: 'ORDER unknown advice beats an unmapped range (ENOMEM)', call: (e) => e.p.madvise(HOLE, PAGE, 6), code: 'EINVAL' },

  // --- start / len
  { name: 'unaligned start', call: (e) => e.p.madvise(A_ADDR + 1, PAGE, MADV_DONTNEED), code: 'EINVAL' },
  { name: 'ORDER unaligned start beats len 0', call: (e) => e.p.madvise(A_ADDR + 1, 0, MADV_DONTNEED), code: 'EINVAL' },
  { name: 'ORDER unaligned start beats an unmapped range', call: (e) => e.p.madvise(HOLE + 1, PAGE, MADV_DONTNEED), code: 'EINVAL' },
  { name: 'len 2^64-1: rounds up to 0 (EINVAL, not ENOMEM)', call: (e) => e.p.madvise(A_ADDR, -1, MADV_DONTNEED), code: 'EINVAL' },
  { name: 'ORDER len wrap beats an unmapped range', call: (e) => e.p.madvise(HOLE, -1n, MADV_NORMAL), code: 'EINVAL' },
  { name: 'start + len wraps past 2^64', call: (e) => e.p.madvise(-2 * PAGE, 4 * PAGE, MADV_NORMAL), code: 'EINVAL' },
  { name: 'unmapped range', call: (e) => e.p.madvise(HOLE, PAGE, MADV_DONTNEED), code: 'ENOMEM' },
  { name: 'address 0 (below every VMA)', call: (e) => e.p.madvise(0, PAGE, MADV_NORMAL), code: 'ENOMEM' },
  { name: 'beyond TASK_SIZE', call: (e) => e.p.madvise(TASK_SIZE, PAGE, MADV_NORMAL), code: 'ENOMEM' },
  { name: 'start 2^63', call: (e) => e.p.madvise(1n << 63n, PAGE, MADV_WILLNEED), code: 'ENOMEM' },

  // --- MADV_POPULATE_* (madvise_populate / check_vma_flags)
  { name: 'POPULATE_WRITE on a PROT_READ private mapping', call: (e) => e.p.madvise(e.p.mmap(0, PAGE, PROT_READ, PA, -1, 0), PAGE, MADV_POPULATE_WRITE), code: 'EINVAL' },
  { name: 'POPULATE_WRITE on a PROT_READ shared memfd mapping', call: (e) => e.p.madvise(e.p.mmap(0, PAGE, PROT_READ, MAP_SHARED, e.fd, 0), PAGE, MADV_POPULATE_WRITE), code: 'EINVAL' },
  { name: 'POPULATE_READ on a PROT_NONE mapping', call: (e) => e.p.madvise(e.p.mmap(0, PAGE, PROT_NONE, PA, -1, 0), PAGE, MADV_POPULATE_READ), code: 'EINVAL' },
  { name: 'POPULATE_READ on a write-only mapping (no VM_READ)', call: (e) => e.p.madvise(e.p.mmap(0, PAGE, PROT_WRITE, PA, -1, 0), PAGE, MADV_POPULATE_READ), code: 'EINVAL' },
  { name: 'POPULATE_READ on a hole', call: (e) => e.p.madvise(HOLE, PAGE, MADV_POPULATE_READ), code: 'ENOMEM' },
  { name: 'POPULATE_WRITE starting in a hole before a VMA', call: (e) => e.p.madvise(A_ADDR - PAGE, 2 * PAGE, MADV_POPULATE_WRITE), code: 'ENOMEM' },
  {
    name: 'POPULATE_READ of a shared memfd mapping beyond EOF (SIGBUS -> EFAULT)',
    call: (e) => e.p.madvise(e.p.mmap(0, 32 * PAGE, PROT_READ, MAP_SHARED, e.fd, 0), 32 * PAGE, MADV_POPULATE_READ),
    code: 'EFAULT',
  },
  {
    name: 'POPULATE_READ of a MAP_NORESERVE hugetlb mapping with an empty pool (SIGBUS -> EFAULT)',
    call: (e) => e.p.madvise(e.p.mmap(0, HPAGE, RW, PA | MAP_HUGETLB | MAP_NORESERVE, -1, 0), HPAGE, MADV_POPULATE_READ),
    code: 'EFAULT',
  },

  // --- per-advice VMA checks
  { name: 'DONTNEED on an mlocked (MAP_LOCKED) mapping', call: (e) => e.p.madvise(e.p.mmap(0, PAGE, RW, PA | MAP_LOCKED, -1, 0), PAGE, MADV_DONTNEED), code: 'EINVAL' },
  { name: 'FREE on an mlocked mapping', call: (e) => e.p.madvise(e.p.mmap(0, PAGE, RW, PA | MAP_LOCKED, -1, 0), PAGE, MADV_FREE), code: 'EINVAL' },
  { name: 'COLD on an mlocked mapping', call: (e) => e.p.madvise(e.p.mmap(0, PAGE, RW, PA | MAP_LOCKED, -1, 0), PAGE, MADV_COLD), code: 'EINVAL' },
  { name: 'PAGEOUT on an mlocked mapping', call: (e) => e.p.madvise(e.p.mmap(0, PAGE, RW, PA | MAP_LOCKED, -1, 0), PAGE, MADV_PAGEOUT), code: 'EINVAL' },
  { name: 'FREE on shared anonymous memory (not vma_is_anonymous)', call: (e) => e.p.madvise(e.p.mmap(0, PAGE, RW, SA, -1, 0), PAGE, MADV_FREE), code: 'EINVAL' },
  { name: 'FREE on a private memfd mapping', call: (e) => e.p.madvise(e.p.mmap(0, PAGE, RW, MAP_PRIVATE, e.fd, 0), PAGE, MADV_FREE), code: 'EINVAL' },
  { name: 'REMOVE on private anonymous memory (no file)', call: (e) => e.p.madvise(A_ADDR, PAGE, MADV_REMOVE), code: 'EINVAL' },
  { name: 'REMOVE on a private memfd mapping (not shared-maywrite)', call: (e) => e.p.madvise(e.p.mmap(0, PAGE, RW, MAP_PRIVATE, e.fd, 0), PAGE, MADV_REMOVE), code: 'EACCES' },
  { name: 'REMOVE on a read-only private memfd mapping', call: (e) => e.p.madvise(e.p.mmap(0, PAGE, PROT_READ, MAP_PRIVATE, e.fd, 0), PAGE, MADV_REMOVE), code: 'EACCES' },
  { name: 'REMOVE on an mlocked shared mapping', call: (e) => e.p.madvise(e.p.mmap(0, PAGE, RW, SA | MAP_LOCKED, -1, 0), PAGE, MADV_REMOVE), code: 'EINVAL' },
  { name: 'ORDER REMOVE: VM_LOCKED (EINVAL) beats private file (EACCES)', call: (e) => e.p.madvise(e.p.mmap(0, PAGE, RW, MAP_PRIVATE | MAP_LOCKED, e.fd, 0), PAGE, MADV_REMOVE), code: 'EINVAL' },
  { name: 'WIPEONFORK on shared anonymous memory', call: (e) => e.p.madvise(e.p.mmap(0, PAGE, RW, SA, -1, 0), PAGE, MADV_WIPEONFORK), code: 'EINVAL' },
  { name: 'WIPEONFORK on a private memfd mapping (file-backed)', call: (e) => e.p.madvise(e.p.mmap(0, PAGE, RW, MAP_PRIVATE, e.fd, 0), PAGE, MADV_WIPEONFORK), code: 'EINVAL' },
  { name: 'WIPEONFORK on a shared memfd mapping', call: (e) => e.p.madvise(e.p.mmap(0, PAGE, RW, MAP_SHARED, e.fd, 0), PAGE, MADV_WIPEONFORK), code: 'EINVAL' },

  // --- hugetlb VMAs
  { name: 'hugetlb DONTNEED at a start not aligned to 2 MiB', call: (e) => e.p.madvise(e.p.mmap(0, HPAGE, RW, PA | MAP_HUGETLB | MAP_NORESERVE, -1, 0) + PAGE, PAGE, MADV_DONTNEED), code: 'EINVAL' },
  { name: 'hugetlb FREE', call: (e) => e.p.madvise(e.p.mmap(0, HPAGE, RW, PA | MAP_HUGETLB | MAP_NORESERVE, -1, 0), HPAGE, MADV_FREE), code: 'EINVAL' },
  { name: 'hugetlb COLD (can_madv_lru_vma)', call: (e) => e.p.madvise(e.p.mmap(0, HPAGE, RW, PA | MAP_HUGETLB | MAP_NORESERVE, -1, 0), HPAGE, MADV_COLD), code: 'EINVAL' },
  { name: 'hugetlb PAGEOUT', call: (e) => e.p.madvise(e.p.mmap(0, HPAGE, RW, PA | MAP_HUGETLB | MAP_NORESERVE, -1, 0), HPAGE, MADV_PAGEOUT), code: 'EINVAL' },
  // Linux: thp_vma_allowable_order fails for hugetlb -> EINVAL. (The model fails every COLLAPSE with EINVAL.)
  { name: 'hugetlb COLLAPSE', call: (e) => e.p.madvise(e.p.mmap(0, HPAGE, RW, PA | MAP_HUGETLB | MAP_NORESERVE, -1, 0), HPAGE, MADV_COLLAPSE), code: 'EINVAL' },

  {
    name: 'exited process',
    call: (e) => {
      e.p.exit();
      return e.p.madvise(A_ADDR, PAGE, MADV_NORMAL);
    },
    code: 'ESRCH',
  },
];

describe('madvise: errno and check order', () => {
  it.each(rows)('$name', (row) => {
    const e = env();
    expectErrno(() => row.call(e), row.code, S);
    expect(e.k.check()).toEqual([]);
  });
});

describe('madvise: holes, partial application and per-VMA errors', () => {
  it('over a hole: both mapped parts are advised, then ENOMEM', () => {
    const e = env();
    e.p.munmap(A_ADDR + 3 * PAGE, PAGE);
    expectErrno(() => e.p.madvise(A_ADDR, A_LEN, MADV_DONTFORK), 'ENOMEM', S);
    expect(vmaAt(e, A_ADDR)!.flags).toContain('dc');
    expect(vmaAt(e, A_ADDR + 4 * PAGE)!.flags).toContain('dc');
    expect(e.k.check()).toEqual([]);
    // And back with MADV_DOFORK, again reporting the hole.
    expectErrno(() => e.p.madvise(A_ADDR, A_LEN, MADV_DOFORK), 'ENOMEM', S);
    expect(vmaAt(e, A_ADDR)!.flags).not.toContain('dc');
    expect(vmaAt(e, A_ADDR + 4 * PAGE)!.flags).not.toContain('dc');
  });

  it('a range running past the last VMA is advised and then reported ENOMEM', () => {
    const e = env();
    expectErrno(() => e.p.madvise(A_ADDR, A_LEN + 4 * PAGE, MADV_DONTDUMP), 'ENOMEM', S);
    expect(vmaAt(e, A_ADDR)!.flags).toContain('dd');
  });

  it('DONTNEED over a hole still zaps the mapped parts', () => {
    const e = env();
    e.p.fill(A_ADDR, A_LEN, 7);
    e.p.munmap(A_ADDR + 3 * PAGE, PAGE);
    expectErrno(() => e.p.madvise(A_ADDR, A_LEN, MADV_DONTNEED), 'ENOMEM', S);
    expect(e.p.read(A_ADDR, 1)[0]).toBe(0);
    expect(e.p.read(A_ADDR + 5 * PAGE, 1)[0]).toBe(0);
  });

  it('a per-VMA error stops the walk: earlier VMAs keep the advice, later ones are not reached', () => {
    const e = env();
    const X = 0x30000000;
    e.p.mmap(X, PAGE, RW, PA | MAP_FIXED, -1, 0);
    e.p.mmap(X + PAGE, PAGE, RW, MAP_SHARED | MAP_FIXED, e.fd, 0);
    e.p.mmap(X + 2 * PAGE, PAGE, RW, PA | MAP_FIXED, -1, 0);
    e.p.mprotect(X + 2 * PAGE, PAGE, PROT_READ); // keep it a separate VMA
    expectErrno(() => e.p.madvise(X, 3 * PAGE, MADV_WIPEONFORK), 'EINVAL', S);
    expect(vmaAt(e, X)!.flags).toContain('wf');
    expect(vmaAt(e, X + PAGE)!.flags).not.toContain('wf');
    expect(vmaAt(e, X + 2 * PAGE)!.flags).not.toContain('wf');
    expect(e.k.check()).toEqual([]);
  });

  it('POPULATE_WRITE populates up to a hole and then fails with ENOMEM', () => {
    const e = env();
    e.p.munmap(A_ADDR + 3 * PAGE, PAGE);
    expectErrno(() => e.p.madvise(A_ADDR, A_LEN, MADV_POPULATE_WRITE), 'ENOMEM', S);
    expect(e.p.pagemap(A_ADDR).present).toBe(true);
    expect(e.p.pagemap(A_ADDR + 2 * PAGE).present).toBe(true);
    expect(e.p.pagemap(A_ADDR + 4 * PAGE).present).toBe(false);
    expect(e.k.check()).toEqual([]);
  });

  it('max_map_count: a flag change that needs a split at the limit is EAGAIN', () => {
    const { k, p } = boot({ maxMapCount: 1 });
    p.mmap(0x10000000, 4 * PAGE, RW, PA | MAP_FIXED, -1, 0);
    expectErrno(() => p.madvise(0x10001000, PAGE, MADV_DONTFORK), 'EAGAIN', S);
    expect(p.smaps()).toHaveLength(1);
    expect(p.smaps()[0]!.VmFlags).not.toContain('dc');
    // A no-op flag change needs no split.
    expect(p.madvise(0x10001000, PAGE, MADV_DOFORK)).toBe(0);
    expect(k.check()).toEqual([]);
  });

  // madvise_update_vma -> vma_modify_flags -> split_vma -> __split_vma ->
  // hugetlb_vm_op_split returns -EINVAL for an address that is not huge-page
  // aligned (only ENOMEM is turned into EAGAIN).
  it('a flag change on 4 KiB inside a hugetlb VMA -> EINVAL (hugetlb_vm_op_split)', () => {
    const e = env();
    const h = e.p.mmap(0, 2 * HPAGE, RW, PA | MAP_HUGETLB | MAP_NORESERVE, -1, 0);
    expectErrno(() => e.p.madvise(h + PAGE, PAGE, MADV_DONTFORK), 'EINVAL', S);
    expect(vmaAt(e, h)!.end).toBe(h + 2 * HPAGE);
  });

  // MAP_DROPPABLE VMAs carry VM_DROPPABLE and madvise_vma_behavior refuses
  // MADV_KEEPONFORK on them (`if (new_flags & VM_DROPPABLE) return -EINVAL`).
  it('KEEPONFORK on a MAP_DROPPABLE mapping -> EINVAL', () => {
    const e = env();
    const d = e.p.mmap(0, PAGE, RW, MAP_DROPPABLE | MAP_ANONYMOUS, -1, 0);
    expect(vmaAt(e, d)!.flags).toEqual(expect.arrayContaining(['dp', 'wf', 'dd', 'nr']));
    expectErrno(() => e.p.madvise(d, PAGE, MADV_KEEPONFORK), 'EINVAL', S);
    expect(vmaAt(e, d)!.flags).toContain('wf');
  });

  // MADV_DODUMP refuses VM_DROPPABLE VMAs too (madvise_vma_behavior).
  it('DODUMP on a MAP_DROPPABLE mapping -> EINVAL', () => {
    const e = env();
    const d = e.p.mmap(0, PAGE, RW, MAP_DROPPABLE | MAP_ANONYMOUS, -1, 0);
    expectErrno(() => e.p.madvise(d, PAGE, MADV_DODUMP), 'EINVAL', S);
    expect(vmaAt(e, d)!.flags).toContain('dd');
  });
});

describe('madvise: accepted inputs', () => {
  it('len 0 returns 0 without looking at the range', () => {
    const e = env();
    expect(e.p.madvise(HOLE, 0, MADV_DONTNEED)).toBe(0);
    expect(e.p.madvise(TASK_SIZE + PAGE, 0, MADV_REMOVE)).toBe(0);
    expect(e.p.madvise(-PAGE, 0, MADV_NORMAL)).toBe(0);
  });

  it('every valid advice succeeds on a plain private anonymous mapping (except REMOVE and COLLAPSE)', () => {
    const e = env();
    for (const adv of [
      MADV_NORMAL,
      MADV_RANDOM,
      MADV_SEQUENTIAL,
      MADV_WILLNEED,
      MADV_DONTNEED,
      MADV_FREE,
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
    ]) {
      expect(e.p.madvise(A_ADDR, A_LEN, adv), `advice ${adv}`).toBe(0);
      expect(e.k.check()).toEqual([]);
    }
  });

  it('DONTNEED_LOCKED works on an mlocked mapping', () => {
    const e = env();
    const l = e.p.mmap(0, PAGE, RW, PA | MAP_LOCKED, -1, 0);
    e.p.fill(l, PAGE, 3);
    expect(e.p.madvise(l, PAGE, MADV_DONTNEED_LOCKED)).toBe(0);
    expect(e.p.read(l, 1)[0]).toBe(0);
  });

  it('REMOVE on shared anonymous memory and on a shared memfd mapping punches a hole', () => {
    const e = env();
    const s = e.p.mmap(0, 2 * PAGE, RW, SA, -1, 0);
    e.p.fill(s, 2 * PAGE, 9);
    expect(e.p.madvise(s, PAGE, MADV_REMOVE)).toBe(0);
    expect(e.p.read(s, 1)[0]).toBe(0);
    expect(e.p.read(s + PAGE, 1)[0]).toBe(9);
    const m = e.p.mmap(0, 2 * PAGE, RW, MAP_SHARED, e.fd, 0);
    e.p.fill(m, 2 * PAGE, 5);
    const blocks = e.p.fstat(e.fd).st_blocks;
    expect(e.p.madvise(m + PAGE, PAGE, MADV_REMOVE)).toBe(0);
    expect(e.p.fstat(e.fd).st_blocks).toBe(blocks - 8);
    const buf = new Uint8Array(1);
    e.p.pread(e.fd, buf, 1, PAGE);
    expect(buf[0]).toBe(0);
    expect(e.k.check()).toEqual([]);
  });

  it('DONTFORK/DOFORK toggle VM_DONTCOPY; WIPEONFORK/KEEPONFORK toggle VM_WIPEONFORK', () => {
    const e = env();
    e.p.madvise(A_ADDR, A_LEN, MADV_DONTFORK);
    expect(vmaAt(e, A_ADDR)!.flags).toContain('dc');
    e.p.madvise(A_ADDR, A_LEN, MADV_DOFORK);
    expect(vmaAt(e, A_ADDR)!.flags).not.toContain('dc');
    e.p.madvise(A_ADDR, A_LEN, MADV_WIPEONFORK);
    expect(vmaAt(e, A_ADDR)!.flags).toContain('wf');
    e.p.madvise(A_ADDR, A_LEN, MADV_KEEPONFORK);
    expect(vmaAt(e, A_ADDR)!.flags).not.toContain('wf');
  });

  it('DONTFORK and DODUMP apply to hugetlb VMAs (hugetlb is exempt from the VM_SPECIAL check)', () => {
    const e = env();
    const h = e.p.mmap(0, HPAGE, RW, PA | MAP_HUGETLB | MAP_NORESERVE, -1, 0);
    expect(e.p.madvise(h, HPAGE, MADV_DONTFORK)).toBe(0);
    expect(e.p.madvise(h, HPAGE, MADV_DONTDUMP)).toBe(0);
    expect(e.p.madvise(h, HPAGE, MADV_DODUMP)).toBe(0);
    expect(vmaAt(e, h)!.flags).not.toContain('dd');
  });

  it('hugetlb DONTNEED: a huge-aligned start with a short len rounds the end down to nothing', () => {
    const e = env();
    const h = e.p.mmap(0, HPAGE, RW, PA | MAP_HUGETLB | MAP_NORESERVE, -1, 0);
    expect(e.p.madvise(h, PAGE, MADV_DONTNEED)).toBe(0);
    expect(e.p.madvise(h, HPAGE, MADV_DONTNEED)).toBe(0);
  });

  it('HUGEPAGE / NOHUGEPAGE never fail, on any mapping type', () => {
    const e = env();
    const s = e.p.mmap(0, PAGE, RW, SA, -1, 0);
    const m = e.p.mmap(0, PAGE, RW, MAP_SHARED, e.fd, 0);
    for (const a of [A_ADDR, s, m]) {
      expect(e.p.madvise(a, PAGE, MADV_HUGEPAGE)).toBe(0);
      expect(vmaAt(e, a)!.flags).toContain('hg');
      expect(e.p.madvise(a, PAGE, MADV_NOHUGEPAGE)).toBe(0);
      expect(vmaAt(e, a)!.flags).toContain('nh');
    }
  });

  it('advice is an int: 2^32 + MADV_DONTFORK is MADV_DONTFORK', () => {
    const e = env();
    expect(e.p.madvise(A_ADDR, PAGE, 2 ** 32 + MADV_DONTFORK)).toBe(0);
    expect(vmaAt(e, A_ADDR)!.flags).toContain('dc');
  });

  it('a POPULATE_READ of the memfd range within EOF succeeds', () => {
    const e = env();
    const m = e.p.mmap(0, 16 * PAGE, PROT_READ, MAP_SHARED, e.fd, 0);
    expect(e.p.madvise(m, 16 * PAGE, MADV_POPULATE_READ)).toBe(0);
    expect(e.p.pagemap(m + 15 * PAGE).present).toBe(true);
  });
});

// ---------------------------------------------------------------------------

const positions: { name: string; call: (e: Env, v: unknown) => unknown; expect: (label: string) => Expect }[] = [
  {
    name: 'addr',
    call: (e, v) => e.p.madvise(v, 2 * PAGE, MADV_DONTNEED),
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
    call: (e, v) => e.p.madvise(A_ADDR, v, MADV_DONTNEED),
    expect: expectations('EINVAL', {
      '-1': 'EINVAL',
      '-0': 'ok',
      '2**53': 'ENOMEM',
      '2**53+2': 'ENOMEM',
      '2**64': 'ok',
      '-(2**63)': 'ENOMEM',
      '1n<<64n': 'ok',
      '-1n': 'EINVAL',
    }),
  },
  {
    name: 'advice',
    call: (e, v) => e.p.madvise(A_ADDR, 2 * PAGE, v),
    expect: expectations('EINVAL', {
      '-1': 'EINVAL',
      '-0': 'ok', // MADV_NORMAL
      '2**53': 'ok', // (int)2^53 == 0
      '2**53+2': 'ok', // (int) == 2: MADV_SEQUENTIAL
      '2**64': 'ok',
      '-(2**63)': 'ok',
      '1n<<64n': 'ok',
      '-1n': 'EINVAL',
    }),
  },
];

describe('madvise: a value of every type in every position', () => {
  for (const pos of positions) {
    it.each(WEIRD.map((w) => ({ ...w })))(`${pos.name} = $label`, ({ label, v }) => {
      const e = env();
      const r = attempt(() => pos.call(e, v));
      checkOutcome(r, pos.expect(label), S, `${pos.name} = ${label}`);
      expect(e.k.check()).toEqual([]);
    });
  }
});
