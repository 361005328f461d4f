/**
 * memfd_create(2) argument validation (mm/memfd.c; notes:
 * /work/notes/syscalls_file.md section 1), in order:
 *   sanitize_flags: unknown bits -> EINVAL (huge-size bits only with MFD_HUGETLB);
 *                   MFD_EXEC|MFD_NOEXEC_SEAL -> EINVAL
 *   (vm.memfd_noexec = 0: MFD_EXEC implied, no EACCES)
 *   alloc_name: bad pointer -> EFAULT; name > 249 bytes -> EINVAL
 *   get_unused_fd_flags -> EMFILE
 *   hugetlb_file_setup: no hstate for the size -> ENODEV
 */
import { describe, expect, it } from 'vitest';
import type { ErrnoName } from '../../src/uapi/index.js';
import {
  MFD_ALLOW_SEALING,
  MFD_CLOEXEC,
  MFD_EXEC,
  MFD_HUGETLB,
  MFD_HUGE_1GB,
  MFD_HUGE_2MB,
  MFD_HUGE_SHIFT,
  MFD_NOEXEC_SEAL,
} from '../../src/uapi/index.js';
import type { Process } from './helpers.js';
import { HPAGE, WEIRD, attempt, boot, checkKernelsAfterEach, checkOutcome, type Expect, expectErrno, expectations } from './helpers.js';

checkKernelsAfterEach();

const S = 'memfd_create';
const MFD_HUGE_64KB = 16 << MFD_HUGE_SHIFT;

interface Row {
  name: string;
  call: (p: Process) => unknown;
  code: ErrnoName;
}

const rows: Row[] = [
  { name: 'unknown flag 0x20', call: (p) => p.memfd_create('x', 0x20), code: 'EINVAL' },
  { name: 'unknown flag 0x100', call: (p) => p.memfd_create('x', 0x100), code: 'EINVAL' },
  { name: 'unknown flag bit 31', call: (p) => p.memfd_create('x', 0x80000000), code: 'EINVAL' },
  { name: 'flags -1 (all bits)', call: (p) => p.memfd_create('x', -1), code: 'EINVAL' },
  { name: 'a huge size (MFD_HUGE_2MB) without MFD_HUGETLB', call: (p) => p.memfd_create('x', MFD_HUGE_2MB), code: 'EINVAL' },
  { name: 'MFD_HUGETLB with a bit below the size field (0x20)', call: (p) => p.memfd_create('x', MFD_HUGETLB | 0x20), code: 'EINVAL' },
  { name: 'MFD_EXEC|MFD_NOEXEC_SEAL', call: (p) => p.memfd_create('x', MFD_EXEC | MFD_NOEXEC_SEAL), code: 'EINVAL' },
  { name: 'ORDER unknown flags (EINVAL) beat a non-string name (EFAULT)', call: (p) => p.memfd_create(42, 0x20), code: 'EINVAL' },
  { name: 'ORDER EXEC|NOEXEC_SEAL (EINVAL) beats a non-string name (EFAULT)', call: (p) => p.memfd_create(null, MFD_EXEC | MFD_NOEXEC_SEAL), code: 'EINVAL' },
  { name: 'name of 250 bytes', call: (p) => p.memfd_create('n'.repeat(250), 0), code: 'EINVAL' },
  { name: 'name of 4096 bytes', call: (p) => p.memfd_create('n'.repeat(4096), 0), code: 'EINVAL' },
  { name: 'name of 125 two-byte UTF-8 characters (250 bytes)', call: (p) => p.memfd_create('é'.repeat(125), 0), code: 'EINVAL' },
  { name: 'name 42 (not a pointer to a string)', call: (p) => p.memfd_create(42, 0), code: 'EFAULT' },
  { name: 'name null', call: (p) => p.memfd_create(null, 0), code: 'EFAULT' },
  { name: 'name undefined', call: (p) => p.memfd_create(undefined, 0), code: 'EFAULT' },
  { name: 'name {}', call: (p) => p.memfd_create({}, 0), code: 'EFAULT' },
  { name: 'name as bytes (Uint8Array)', call: (p) => p.memfd_create(new TextEncoder().encode('x'), 0), code: 'EFAULT' },
  { name: 'ORDER non-string name (EFAULT) beats a bad huge size (ENODEV)', call: (p) => p.memfd_create(7, MFD_HUGETLB | MFD_HUGE_64KB), code: 'EFAULT' },
  { name: 'ORDER 250-byte name (EINVAL) beats a bad huge size (ENODEV)', call: (p) => p.memfd_create('n'.repeat(250), MFD_HUGETLB | MFD_HUGE_64KB), code: 'EINVAL' },
  { name: 'MFD_HUGETLB with 64 KiB pages (no hstate)', call: (p) => p.memfd_create('x', MFD_HUGETLB | MFD_HUGE_64KB), code: 'ENODEV' },
  { name: 'MFD_HUGETLB with size log 1', call: (p) => p.memfd_create('x', MFD_HUGETLB | (1 << MFD_HUGE_SHIFT)), code: 'ENODEV' },
  { name: 'MFD_HUGETLB with size log 63', call: (p) => p.memfd_create('x', MFD_HUGETLB | (63 << MFD_HUGE_SHIFT)), code: 'ENODEV' },
  {
    name: 'exited process',
    call: (p) => {
      p.exit();
      return p.memfd_create('x', 0);
    },
    code: 'ESRCH',
  },
];

describe('memfd_create: errno and check order', () => {
  it.each(rows)('$name', (row) => {
    const { k, p } = boot();
    expectErrno(() => row.call(p), row.code, S);
    // A failed memfd_create installs no descriptor.
    if (p.mm !== null) expect(p.fds.entries()).toEqual([]);
    expect(k.check()).toEqual([]);
  });
});

describe('memfd_create: accepted inputs', () => {
  it('a name of 249 bytes (MFD_NAME_MAX_LEN) is accepted, 250 is not', () => {
    const { p } = boot();
    expect(p.memfd_create('n'.repeat(249), 0)).toBe(0);
    expect(p.memfd_create('é'.repeat(124) + 'a', 0)).toBe(1);
    expectErrno(() => p.memfd_create('n'.repeat(250), 0), 'EINVAL', S);
  });

  it('the name ends at its first NUL (strncpy_from_user)', () => {
    const { p } = boot();
    expect(p.memfd_create('short\0' + 'n'.repeat(1000), 0)).toBe(0);
    expect(p.memfd_create('', 0)).toBe(1);
    expect(p.memfd_create('\0', 0)).toBe(2);
  });

  it('every valid flag combination works; descriptors are the lowest free', () => {
    const { k, p } = boot();
    const combos = [0, MFD_CLOEXEC, MFD_ALLOW_SEALING, MFD_NOEXEC_SEAL, MFD_EXEC, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL];
    combos.forEach((f, i) => expect(p.memfd_create(`m${i}`, f)).toBe(i));
    p.close(2);
    expect(p.memfd_create('again', 0)).toBe(2);
    expect(k.check()).toEqual([]);
  });

  it('flags is an unsigned int: 2^32 + MFD_CLOEXEC is MFD_CLOEXEC', () => {
    const { p } = boot();
    expect(p.memfd_create('x', 2 ** 32 + MFD_CLOEXEC)).toBe(0);
    expect(p.memfd_create('y', (1n << 64n) + 2n)).toBe(1);
  });

  it('the new file: mode 0777 (0666 with NOEXEC_SEAL), nlink 0, size 0, tmpfs blksize 4096', () => {
    const { p } = boot();
    const a = p.fstat(p.memfd_create('a', 0));
    expect(a).toMatchObject({ st_mode: 0o100777, st_nlink: 0, st_size: 0, st_blocks: 0, st_blksize: 4096 });
    const b = p.fstat(p.memfd_create('b', MFD_NOEXEC_SEAL));
    expect(b.st_mode).toBe(0o100666);
  });

  // The 1 GiB hstate exists only on CPUs with GBPAGES; the model always has it.
  it('MFD_HUGETLB with the default, 2 MiB and 1 GiB sizes', () => {
    const { k, p } = boot();
    expect(p.fstat(p.memfd_create('h', MFD_HUGETLB)).st_blksize).toBe(HPAGE);
    expect(p.fstat(p.memfd_create('h2', MFD_HUGETLB | MFD_HUGE_2MB)).st_blksize).toBe(HPAGE);
    expect(p.fstat(p.memfd_create('h1g', MFD_HUGETLB | MFD_HUGE_1GB)).st_blksize).toBe(2 ** 30);
    expect(k.check()).toEqual([]);
  });

  it('EMFILE once RLIMIT_NOFILE (1024) descriptors are open; nothing leaks', () => {
    const { k, p } = boot();
    for (let i = 0; i < 1024; i++) expect(p.memfd_create(`f${i}`, 0)).toBe(i);
    expectErrno(() => p.memfd_create('one too many', 0), 'EMFILE', S);
    expect(k.check()).toEqual([]);
    p.close(500);
    expect(p.memfd_create('fits', 0)).toBe(500);
    p.exit();
    expect(k.check()).toEqual([]);
  });
});

// ---------------------------------------------------------------------------

const positions: { name: string; call: (p: Process, v: unknown) => unknown; expect: (label: string) => Expect }[] = [
  {
    name: 'name',
    call: (p, v) => p.memfd_create(v, 0),
    // Strings are names; every other value is a bad pointer.
    expect: (label) => (label === "'4096'" || label === "''" ? 'ok' : 'EFAULT'),
  },
  {
    name: 'flags',
    call: (p, v) => p.memfd_create('x', v),
    expect: expectations('EINVAL', {
      '-1': 'EINVAL',
      '-0': 'ok',
      '2**53': 'ok', // (unsigned int)2^53 == 0
      '2**53+2': 'ok', // MFD_ALLOW_SEALING
      '2**64': 'ok',
      '-(2**63)': 'ok',
      '1n<<64n': 'ok',
      '-1n': 'EINVAL',
    }),
  },
];

describe('memfd_create: a value of every type in every position', () => {
  for (const pos of positions) {
    it.each(WEIRD.map((w) => ({ ...w })))(`${pos.name} = $label`, ({ label, v }) => {
      const { k, p } = boot();
      const r = attempt(() => pos.call(p, v));
      checkOutcome(r, pos.expect(label), S, `${pos.name} = ${label}`);
      expect(k.check()).toEqual([]);
    });
  }
});
