/**
 * File syscalls: ftruncate, fallocate, pread64, pwrite64, fstat, close, open
 * (fs/open.c, fs/read_write.c, fs/stat.c, mm/shmem.c, fs/hugetlbfs/inode.c;
 * notes: /work/notes/syscalls_file.md sections 2-6 and 10).
 *
 *   ftruncate: EINVAL(len<0) -> EBADF -> EINVAL(!reg/!write) -> EFBIG -> fs (hugetlb: EINVAL unaligned)
 *   fallocate: EBADF -> EINVAL(off<0, len<=0) -> EOPNOTSUPP(mode) -> EBADF(!write) -> ESPIPE(FIFO) -> EISDIR(dir)
 *              -> ENODEV(!reg, !blk) -> EFBIG -> EOPNOTSUPP(no ->fallocate) -> fs EOPNOTSUPP
 *   pread/pwrite: EINVAL(pos<0) -> EBADF -> ESPIPE -> EBADF(mode) -> EINVAL(!CAN_RW) -> EFAULT(access_ok)
 *                 -> EINVAL(rw_verify_area)
 *   fstat/close: EBADF.  open: EFAULT (bad path pointer), ENOENT.
 */
import { describe, expect, it } from 'vitest';
import type { ErrnoName } from '../../src/uapi/index.js';
import {
  FALLOC_FL_COLLAPSE_RANGE,
  FALLOC_FL_INSERT_RANGE,
  FALLOC_FL_KEEP_SIZE,
  FALLOC_FL_NO_HIDE_STALE,
  FALLOC_FL_PUNCH_HOLE,
  FALLOC_FL_UNSHARE_RANGE,
  FALLOC_FL_WRITE_ZEROES,
  FALLOC_FL_ZERO_RANGE,
  GUP_TEST_PATH,
  MAP_SHARED,
  O_DIRECTORY,
  O_RDONLY,
  O_RDWR,
  PROT_READ,
} from '../../src/uapi/index.js';
import { BAD_FD, type Env, MEMFD_SIZE, RW, env } from './env.js';
import { HPAGE, PAGE, WEIRD, attempt, checkKernelsAfterEach, checkOutcome, type Expect, expectErrno, expectations } from './helpers.js';

checkKernelsAfterEach();

const I64_MAX = (1n << 63n) - 1n;
const KEEP = FALLOC_FL_KEEP_SIZE;
const PUNCH = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;

interface Row {
  name: string;
  call: (e: Env) => unknown;
  code: ErrnoName;
  syscall: string;
}

const buf = (n: number) => new Uint8Array(n);

function withSyscall(syscall: string, rows: Omit<Row, 'syscall'>[]): Row[] {
  return rows.map((r) => ({ ...r, syscall }));
}

// ---------------------------------------------------------------------------
// ftruncate

const ftruncateRows: Row[] = withSyscall('ftruncate', [
  { name: 'length -1', call: (e) => e.p.ftruncate(e.fd, -1), code: 'EINVAL' },
  { name: 'length -(2^63)', call: (e) => e.p.ftruncate(e.fd, -(2 ** 63)), code: 'EINVAL' },
  { name: 'length 2^63 (as a bigint: negative off_t)', call: (e) => e.p.ftruncate(e.fd, 1n << 63n), code: 'EINVAL' },
  { name: 'ORDER ftruncate(-1, -1): the length is checked before the fd', call: (e) => e.p.ftruncate(-1, -1), code: 'EINVAL' },
  { name: 'ORDER bad fd with a NaN length: length first', call: (e) => e.p.ftruncate(BAD_FD, NaN), code: 'EINVAL' },
  { name: 'bad fd', call: (e) => e.p.ftruncate(BAD_FD, 0), code: 'EBADF' },
  { name: 'fd -1', call: (e) => e.p.ftruncate(-1, 0), code: 'EBADF' },
  {
    name: 'closed fd',
    call: (e) => {
      e.p.close(e.fd);
      return e.p.ftruncate(e.fd, 0);
    },
    code: 'EBADF',
  },
  { name: 'hugetlb memfd: size not a multiple of 2 MiB', call: (e) => e.p.ftruncate(e.hfd, PAGE), code: 'EINVAL' },
  { name: 'hugetlb memfd: size 2 MiB + 1', call: (e) => e.p.ftruncate(e.hfd, HPAGE + 1), code: 'EINVAL' },
  {
    name: 'exited process',
    call: (e) => {
      e.p.exit();
      return e.p.ftruncate(0, 0);
    },
    code: 'ESRCH',
  },
]);

// ---------------------------------------------------------------------------
// fallocate

const fallocateRows: Row[] = withSyscall('fallocate', [
  { name: 'bad fd', call: (e) => e.p.fallocate(BAD_FD, 0, 0, PAGE), code: 'EBADF' },
  { name: 'ORDER bad fd beats offset < 0 (the fd is looked up first)', call: (e) => e.p.fallocate(BAD_FD, 0, -1, PAGE), code: 'EBADF' },
  { name: 'ORDER bad fd beats len 0', call: (e) => e.p.fallocate(-1, 0, 0, 0), code: 'EBADF' },
  { name: 'ORDER bad fd beats an unknown mode', call: (e) => e.p.fallocate(BAD_FD, 0x100, 0, PAGE), code: 'EBADF' },
  { name: 'ORDER bad fd beats NaN arguments', call: (e) => e.p.fallocate(BAD_FD, NaN, NaN, NaN), code: 'EBADF' },
  { name: 'offset -1', call: (e) => e.p.fallocate(e.fd, 0, -1, PAGE), code: 'EINVAL' },
  { name: 'len 0', call: (e) => e.p.fallocate(e.fd, 0, 0, 0), code: 'EINVAL' },
  { name: 'len -4096', call: (e) => e.p.fallocate(e.fd, 0, 0, -PAGE), code: 'EINVAL' },
  { name: 'len 2^63 (negative loff_t)', call: (e) => e.p.fallocate(e.fd, 0, 0, 1n << 63n), code: 'EINVAL' },
  { name: 'ORDER offset < 0 beats an unknown mode', call: (e) => e.p.fallocate(e.fd, 0x100, -1, PAGE), code: 'EINVAL' },
  { name: 'ORDER len 0 beats PUNCH_HOLE without KEEP_SIZE', call: (e) => e.p.fallocate(e.fd, FALLOC_FL_PUNCH_HOLE, 0, 0), code: 'EINVAL' },
  { name: 'unknown mode bit 0x100', call: (e) => e.p.fallocate(e.fd, 0x100, 0, PAGE), code: 'EOPNOTSUPP' },
  { name: 'mode -1', call: (e) => e.p.fallocate(e.fd, -1, 0, PAGE), code: 'EOPNOTSUPP' },
  { name: 'FALLOC_FL_NO_HIDE_STALE', call: (e) => e.p.fallocate(e.fd, FALLOC_FL_NO_HIDE_STALE, 0, PAGE), code: 'EOPNOTSUPP' },
  { name: 'PUNCH_HOLE without KEEP_SIZE', call: (e) => e.p.fallocate(e.fd, FALLOC_FL_PUNCH_HOLE, 0, PAGE), code: 'EOPNOTSUPP' },
  { name: 'COLLAPSE_RANGE|KEEP_SIZE', call: (e) => e.p.fallocate(e.fd, FALLOC_FL_COLLAPSE_RANGE | KEEP, 0, PAGE), code: 'EOPNOTSUPP' },
  { name: 'INSERT_RANGE|KEEP_SIZE', call: (e) => e.p.fallocate(e.fd, FALLOC_FL_INSERT_RANGE | KEEP, 0, PAGE), code: 'EOPNOTSUPP' },
  { name: 'WRITE_ZEROES|KEEP_SIZE', call: (e) => e.p.fallocate(e.fd, FALLOC_FL_WRITE_ZEROES | KEEP, 0, PAGE), code: 'EOPNOTSUPP' },
  { name: 'PUNCH_HOLE|ZERO_RANGE (two operations)', call: (e) => e.p.fallocate(e.fd, PUNCH | FALLOC_FL_ZERO_RANGE, 0, PAGE), code: 'EOPNOTSUPP' },
  { name: 'ORDER bad mode (EOPNOTSUPP) beats offset + len overflow (EFBIG)', call: (e) => e.p.fallocate(e.fd, FALLOC_FL_PUNCH_HOLE, I64_MAX, PAGE), code: 'EOPNOTSUPP' },
  { name: 'offset + len overflows loff_t', call: (e) => e.p.fallocate(e.fd, 0, I64_MAX - 10n, 20), code: 'EFBIG' },
  { name: 'offset + len == 2^63', call: (e) => e.p.fallocate(e.fd, KEEP, (1n << 63n) - 4096n, PAGE), code: 'EFBIG' },
  { name: 'ORDER EFBIG (VFS) beats the fs refusing ZERO_RANGE (EOPNOTSUPP)', call: (e) => e.p.fallocate(e.fd, FALLOC_FL_ZERO_RANGE, I64_MAX, 1), code: 'EFBIG' },
  { name: 'ORDER EFBIG (VFS) beats PUNCH on hugetlbfs', call: (e) => e.p.fallocate(e.hfd, PUNCH, I64_MAX, 2), code: 'EFBIG' },
  // The file type, after the write-mode check and before EFBIG (vfs_fallocate).
  { name: 'pipe write end', call: (e) => e.p.fallocate(e.p.pipe()[1], 0, 0, PAGE), code: 'ESPIPE' },
  { name: 'ORDER pipe read end: not open for writing (EBADF) beats ESPIPE', call: (e) => e.p.fallocate(e.p.pipe()[0], 0, 0, PAGE), code: 'EBADF' },
  { name: 'ORDER pipe: a bad mode (EOPNOTSUPP) beats ESPIPE', call: (e) => e.p.fallocate(e.p.pipe()[1], FALLOC_FL_PUNCH_HOLE, 0, PAGE), code: 'EOPNOTSUPP' },
  { name: 'ORDER pipe: len 0 (EINVAL) beats ESPIPE', call: (e) => e.p.fallocate(e.p.pipe()[1], 0, 0, 0), code: 'EINVAL' },
  { name: 'ORDER pipe: ESPIPE beats offset + len overflow (EFBIG)', call: (e) => e.p.fallocate(e.p.pipe()[1], 0, I64_MAX, PAGE), code: 'ESPIPE' },
  { name: 'directory (it only opens read-only): EBADF', call: (e) => e.p.fallocate(e.p.open('/tmp', O_RDONLY | O_DIRECTORY), 0, 0, PAGE), code: 'EBADF' },
  { name: 'character device (gup_test, O_RDWR)', call: (e) => e.p.fallocate(e.p.open(GUP_TEST_PATH, O_RDWR), 0, 0, PAGE), code: 'ENODEV' },
  { name: 'ORDER character device: ENODEV beats EFBIG', call: (e) => e.p.fallocate(e.p.open(GUP_TEST_PATH, O_RDWR), 0, I64_MAX, PAGE), code: 'ENODEV' },
  // Valid for the VFS, refused by shmem_fallocate.
  { name: 'tmpfs: ZERO_RANGE', call: (e) => e.p.fallocate(e.fd, FALLOC_FL_ZERO_RANGE, 0, PAGE), code: 'EOPNOTSUPP' },
  { name: 'tmpfs: ZERO_RANGE|KEEP_SIZE', call: (e) => e.p.fallocate(e.fd, FALLOC_FL_ZERO_RANGE | KEEP, 0, PAGE), code: 'EOPNOTSUPP' },
  { name: 'tmpfs: COLLAPSE_RANGE', call: (e) => e.p.fallocate(e.fd, FALLOC_FL_COLLAPSE_RANGE, 0, PAGE), code: 'EOPNOTSUPP' },
  { name: 'tmpfs: INSERT_RANGE', call: (e) => e.p.fallocate(e.fd, FALLOC_FL_INSERT_RANGE, 0, PAGE), code: 'EOPNOTSUPP' },
  { name: 'tmpfs: UNSHARE_RANGE', call: (e) => e.p.fallocate(e.fd, FALLOC_FL_UNSHARE_RANGE, 0, PAGE), code: 'EOPNOTSUPP' },
  { name: 'tmpfs: WRITE_ZEROES', call: (e) => e.p.fallocate(e.fd, FALLOC_FL_WRITE_ZEROES, 0, PAGE), code: 'EOPNOTSUPP' },
  { name: 'hugetlbfs: ZERO_RANGE', call: (e) => e.p.fallocate(e.hfd, FALLOC_FL_ZERO_RANGE, 0, HPAGE), code: 'EOPNOTSUPP' },
  { name: 'hugetlbfs: allocate with an empty pool', call: (e) => e.p.fallocate(e.hfd, 0, 0, HPAGE), code: 'ENOSPC' },
  { name: 'hugetlbfs: allocate (KEEP_SIZE) with an empty pool', call: (e) => e.p.fallocate(e.hfd, KEEP, 0, PAGE), code: 'ENOSPC' },
  {
    name: 'exited process',
    call: (e) => {
      e.p.exit();
      return e.p.fallocate(0, 0, 0, PAGE);
    },
    code: 'ESRCH',
  },
]);

// ---------------------------------------------------------------------------
// pread64 / pwrite64

const preadRows: Row[] = withSyscall('pread64', [
  { name: 'pos -1', call: (e) => e.p.pread(e.fd, buf(4), 4, -1), code: 'EINVAL' },
  { name: 'ORDER pos < 0 is checked before the fd', call: (e) => e.p.pread(-1, buf(4), 4, -1), code: 'EINVAL' },
  { name: 'ORDER pos < 0 beats a bad buffer', call: (e) => e.p.pread(e.fd, 'x', 4, -(2 ** 63)), code: 'EINVAL' },
  { name: 'bad fd', call: (e) => e.p.pread(BAD_FD, buf(4), 4, 0), code: 'EBADF' },
  { name: 'ORDER bad fd beats a bad buffer', call: (e) => e.p.pread(BAD_FD, 'x', 4, 0), code: 'EBADF' },
  { name: "buf 'x'", call: (e) => e.p.pread(e.fd, 'x', 4, 0), code: 'EFAULT' },
  { name: 'buf 42', call: (e) => e.p.pread(e.fd, 42, 4, 0), code: 'EFAULT' },
  { name: 'buf []', call: (e) => e.p.pread(e.fd, [], 4, 0), code: 'EFAULT' },
  { name: 'buf undefined', call: (e) => e.p.pread(e.fd, undefined, 4, 0), code: 'EFAULT' },
  { name: 'buf is an ArrayBuffer, not a view', call: (e) => e.p.pread(e.fd, new ArrayBuffer(4), 4, 0), code: 'EFAULT' },
  { name: 'ORDER bad buffer (EFAULT) beats pos + count overflow (EINVAL)', call: (e) => e.p.pread(e.fd, 'x', 10, I64_MAX - 5n), code: 'EFAULT' },
  { name: 'pos + count overflows loff_t (rw_verify_area)', call: (e) => e.p.pread(e.fd, buf(16), 10, I64_MAX - 5n), code: 'EINVAL' },
  { name: 'an empty buffer with count > 0 at data (nothing can be copied)', call: (e) => e.p.pread(e.fd, buf(0), 4, 0), code: 'EFAULT' },
  {
    name: 'exited process',
    call: (e) => {
      e.p.exit();
      return e.p.pread(0, buf(1), 1, 0);
    },
    code: 'ESRCH',
  },
]);

const pwriteRows: Row[] = withSyscall('pwrite64', [
  { name: 'pos -1', call: (e) => e.p.pwrite(e.fd, buf(4), 4, -1), code: 'EINVAL' },
  { name: 'ORDER pos < 0 is checked before the fd', call: (e) => e.p.pwrite(BAD_FD, buf(4), 4, -1n), code: 'EINVAL' },
  { name: 'bad fd', call: (e) => e.p.pwrite(BAD_FD, buf(4), 4, 0), code: 'EBADF' },
  { name: 'ORDER bad fd beats a bad buffer', call: (e) => e.p.pwrite(-1, null, 4, 0), code: 'EBADF' },
  { name: "buf 'x'", call: (e) => e.p.pwrite(e.fd, 'x', 1, 0), code: 'EFAULT' },
  { name: 'buf {}', call: (e) => e.p.pwrite(e.fd, {}, 1, 0), code: 'EFAULT' },
  { name: 'pos + count overflows loff_t', call: (e) => e.p.pwrite(e.fd, buf(16), 16, I64_MAX - 5n), code: 'EINVAL' },
  { name: 'an empty buffer with count > 0 (nothing can be copied)', call: (e) => e.p.pwrite(e.fd, buf(0), 4, 0), code: 'EFAULT' },
  // hugetlbfs has no ->write_iter: FMODE_CAN_WRITE is clear, vfs_write fails EINVAL before access_ok.
  { name: 'hugetlbfs memfd', call: (e) => e.p.pwrite(e.hfd, buf(4), 4, 0), code: 'EINVAL' },
  { name: 'ORDER hugetlbfs (EINVAL) beats a bad buffer (EFAULT)', call: (e) => e.p.pwrite(e.hfd, 'x', 4, 0), code: 'EINVAL' },
  { name: 'hugetlbfs memfd with count 0', call: (e) => e.p.pwrite(e.hfd, buf(0), 0, 0), code: 'EINVAL' },
  {
    name: 'exited process',
    call: (e) => {
      e.p.exit();
      return e.p.pwrite(0, buf(1), 1, 0);
    },
    code: 'ESRCH',
  },
]);

// ---------------------------------------------------------------------------
// fstat / close / open

const miscRows: Row[] = [
  { name: 'fstat of a bad fd', call: (e) => e.p.fstat(BAD_FD), code: 'EBADF', syscall: 'fstat' },
  { name: 'fstat of fd -1', call: (e) => e.p.fstat(-1), code: 'EBADF', syscall: 'fstat' },
  {
    name: 'fstat of a closed fd',
    call: (e) => {
      e.p.close(e.fd);
      return e.p.fstat(e.fd);
    },
    code: 'EBADF',
    syscall: 'fstat',
  },
  { name: 'close of a never-opened fd', call: (e) => e.p.close(BAD_FD), code: 'EBADF', syscall: 'close' },
  { name: 'close(-1)', call: (e) => e.p.close(-1), code: 'EBADF', syscall: 'close' },
  {
    name: 'close of a closed fd',
    call: (e) => {
      e.p.close(e.fd);
      return e.p.close(e.fd);
    },
    code: 'EBADF',
    syscall: 'close',
  },
  { name: "open('/nope')", call: (e) => e.p.open('/nope', O_RDWR), code: 'ENOENT', syscall: 'openat' },
  { name: "open('')", call: (e) => e.p.open(''), code: 'ENOENT', syscall: 'openat' },
  { name: 'open(42)', call: (e) => e.p.open(42), code: 'EFAULT', syscall: 'openat' },
  { name: 'open(null)', call: (e) => e.p.open(null), code: 'EFAULT', syscall: 'openat' },
  { name: 'open(undefined)', call: (e) => e.p.open(undefined), code: 'EFAULT', syscall: 'openat' },
  { name: 'open(Symbol)', call: (e) => e.p.open(Symbol('/dev/x')), code: 'EFAULT', syscall: 'openat' },
  {
    name: 'exited process: fstat',
    call: (e) => {
      e.p.exit();
      return e.p.fstat(0);
    },
    code: 'ESRCH',
    syscall: 'fstat',
  },
  {
    name: 'exited process: close',
    call: (e) => {
      e.p.exit();
      return e.p.close(0);
    },
    code: 'ESRCH',
    syscall: 'close',
  },
  {
    name: 'exited process: open',
    call: (e) => {
      e.p.exit();
      return e.p.open('/nope');
    },
    code: 'ESRCH',
    syscall: 'openat',
  },
];

for (const [title, rows] of [
  ['ftruncate', ftruncateRows],
  ['fallocate', fallocateRows],
  ['pread64', preadRows],
  ['pwrite64', pwriteRows],
  ['fstat, close, open', miscRows],
] as const) {
  describe(`${title}: errno and check order`, () => {
    it.each(rows)('$name', (row) => {
      const e = env();
      const size = e.p.fstat(e.fd).st_size;
      expectErrno(() => row.call(e), row.code, row.syscall);
      // A failed call leaves the file as it was.
      if (e.p.mm !== null && e.p.fds.entries().some(([fd]) => fd === e.fd)) expect(e.p.fstat(e.fd).st_size).toBe(size);
      expect(e.k.check()).toEqual([]);
    });
  });
}

// ---------------------------------------------------------------------------
// Accepted inputs and semantics at the edges.

describe('file syscalls: accepted inputs', () => {
  it('ftruncate: grow, shrink, length 0, 2^64 wraps to 0; fd 2^32 + fd names fd', () => {
    const e = env();
    expect(e.p.ftruncate(e.fd, 3 * PAGE + 5)).toBe(0);
    expect(e.p.fstat(e.fd).st_size).toBe(3 * PAGE + 5);
    expect(e.p.ftruncate(2 ** 32 + e.fd, 2 ** 64)).toBe(0);
    expect(e.p.fstat(e.fd).st_size).toBe(0);
    expect(e.p.ftruncate(e.fd, 2 ** 53)).toBe(0);
    expect(e.p.fstat(e.fd).st_size).toBe(2n ** 53n);
  });

  // Sizes are numbers as in Node's fs.fstatSync while exact; a bigint only beyond 2^53 - 1.
  it('fstat: st_size is a number up to Number.MAX_SAFE_INTEGER, the exact bigint above it', () => {
    const e = env();
    expect(e.p.ftruncate(e.fd, 4096)).toBe(0);
    const st = e.p.fstat(e.fd);
    expect(st.st_size === 4096).toBe(true);
    expect(typeof st.st_size).toBe('number');
    expect(e.p.ftruncate(e.fd, Number.MAX_SAFE_INTEGER)).toBe(0);
    expect(e.p.fstat(e.fd).st_size).toBe(Number.MAX_SAFE_INTEGER);
    expect(e.p.ftruncate(e.fd, 2n ** 53n + 1n)).toBe(0);
    expect(e.p.fstat(e.fd).st_size).toBe(2n ** 53n + 1n);
    expect(e.p.ftruncate(e.fd, I64_MAX)).toBe(0);
    expect(e.p.fstat(e.fd).st_size).toBe(I64_MAX);
    // Every other Stat field is a number.
    for (const [k, v] of Object.entries(e.p.fstat(e.hfd))) expect([k, typeof v]).toEqual([k, 'number']);
  });

  it('smaps: a file offset is a number up to Number.MAX_SAFE_INTEGER, the exact bigint above it', () => {
    const e = env();
    const low = e.p.mmap(0, PAGE, PROT_READ, MAP_SHARED, e.fd, 3 * PAGE);
    const highOff = 2n ** 60n;
    const high = e.p.mmap(0, PAGE, PROT_READ, MAP_SHARED, e.fd, highOff);
    const at = (a: number) => e.p.smaps().find((v) => v.start === a)!;
    expect(at(low).offset).toBe(3 * PAGE);
    expect(at(high).offset).toBe(highOff);
    expect(at(e.A).offset).toBe(0);
  });

  it('ftruncate of a hugetlb memfd to a multiple of 2 MiB works', () => {
    const e = env();
    expect(e.p.ftruncate(e.hfd, 2 * HPAGE)).toBe(0);
    expect(e.p.fstat(e.hfd).st_size).toBe(2 * HPAGE);
    expect(e.p.ftruncate(e.hfd, 0)).toBe(0);
  });

  it('fallocate: allocate grows i_size byte-exactly; KEEP_SIZE does not; PUNCH keeps the size', () => {
    const e = env();
    expect(e.p.fallocate(e.fd, 0, MEMFD_SIZE, 100)).toBe(0);
    expect(e.p.fstat(e.fd).st_size).toBe(MEMFD_SIZE + 100);
    expect(e.p.fallocate(e.fd, KEEP, MEMFD_SIZE + 100, PAGE)).toBe(0);
    expect(e.p.fstat(e.fd).st_size).toBe(MEMFD_SIZE + 100);
    expect(e.p.fallocate(e.fd, PUNCH, 0, MEMFD_SIZE * 4)).toBe(0);
    expect(e.p.fstat(e.fd).st_size).toBe(MEMFD_SIZE + 100);
    expect(e.p.fstat(e.fd).st_blocks).toBe(0);
  });

  it('fallocate: mode is an int (2^32 + PUNCH|KEEP); punching far beyond EOF is a no-op', () => {
    const e = env();
    expect(e.p.fallocate(e.fd, 2 ** 32 + PUNCH, 0, PAGE)).toBe(0);
    expect(e.p.fallocate(e.fd, PUNCH, I64_MAX - 1n, 1)).toBe(0);
  });

  it('fallocate: offset + len == 2^63 - 1 exactly is allowed (PUNCH)', () => {
    const e = env();
    expect(e.p.fallocate(e.fd, PUNCH, I64_MAX - 4096n, 4096)).toBe(0);
  });

  // Offsets are exact loff_t values: offset + len is exactly 2^63 - 1, which
  // vfs_fallocate and inode_newsize_ok accept. The range [2^63 - 4097, 2^63 - 1)
  // is the last byte of page 2^51 - 2 and the first 4095 bytes of page 2^51 - 1
  // (shmem_fallocate: start = offset >> PAGE_SHIFT, end = DIV_ROUND_UP(offset +
  // len, PAGE_SIZE)), and shmem_get_folio accepts indices up to
  // MAX_LFS_FILESIZE >> PAGE_SHIFT = 2^51 - 1: two pages are allocated.
  it('fallocate KEEP_SIZE of the last 4096 bytes below 2^63 - 1 succeeds', () => {
    const e = env();
    expect(e.p.fallocate(e.fd, KEEP, I64_MAX - 4096n, 4096)).toBe(0);
    expect(e.p.fstat(e.fd).st_blocks).toBe(16);
    expect(e.p.fstat(e.fd).st_size).toBe(MEMFD_SIZE);
  });

  it('fallocate on hugetlbfs: PUNCH_HOLE|KEEP_SIZE is supported (nothing to free)', () => {
    const e = env();
    expect(e.p.fallocate(e.hfd, PUNCH, 0, HPAGE)).toBe(0);
    expect(e.p.fallocate(e.hfd, PUNCH, PAGE, 3)).toBe(0);
  });

  it('fallocate beyond all memory fails with an allocation errno and leaves nothing behind', () => {
    const e = env();
    const before = e.k.meminfo().Shmem;
    const r = attempt(() => e.p.fallocate(e.fd, KEEP, 0, 1n << 40n));
    expect(r.ok).toBe(false);
    // Linux: ENOSPC (accounting), ENOMEM (allocation/memcg) or EINTR (OOM-killed caller).
    expectErrnoIn(r, ['ENOMEM', 'ENOSPC', 'EINTR'], 'fallocate');
    expect(e.k.meminfo().Shmem).toBe(before);
  });

  it('pread: count 0 -> 0; at or past EOF -> 0; short read at EOF; count > buffer -> what fits', () => {
    const e = env();
    e.p.pwrite(e.fd, new Uint8Array([1, 2, 3, 4]), 4, 0);
    expect(e.p.pread(e.fd, buf(4), 0, 0)).toBe(0);
    expect(e.p.pread(e.fd, buf(4), 4, MEMFD_SIZE)).toBe(0);
    expect(e.p.pread(e.fd, buf(4), 4, 2 ** 53)).toBe(0);
    expect(e.p.pread(e.fd, buf(8), 8, MEMFD_SIZE - 3)).toBe(3);
    const b = buf(2);
    expect(e.p.pread(e.fd, b, 4, 0)).toBe(2);
    expect([...b]).toEqual([1, 2]);
    // pos + count == 2^63 - 1 exactly is fine (rw_verify_area only refuses a negative sum).
    expect(e.p.pread(e.fd, buf(16), 16, I64_MAX - 16n)).toBe(0);
  });

  it('pread: an empty buffer faults only if there is data to copy; a huge count reads what fits', () => {
    const e = env();
    e.p.pwrite(e.fd, new Uint8Array([1, 2, 3, 4]), 4, 0);
    expectErrno(() => e.p.pread(e.fd, buf(0), 4, 0), 'EFAULT', 'pread64');
    expect(e.p.pread(e.fd, buf(0), 4, MEMFD_SIZE)).toBe(0);
    // A detached buffer is an empty one.
    const gone = buf(4);
    structuredClone(gone.buffer, { transfer: [gone.buffer] });
    expectErrno(() => e.p.pread(e.fd, gone, 4, 0), 'EFAULT', 'pread64');
    expectErrno(() => e.p.pwrite(e.fd, gone, 4, 0), 'EFAULT', 'pwrite64');
    // Counts up to the top of user space pass access_ok; the copy stops at the buffer's end.
    const b = buf(3);
    expect(e.p.pread(e.fd, b, 2 ** 47 - 2 * PAGE, 1)).toBe(3);
    expect([...b]).toEqual([2, 3, 4]);
    expect(e.p.pwrite(e.fd, new Uint8Array([7]), 2 ** 40, 0)).toBe(1);
    // The buffer is read through its internal slots, not its (own, lying) properties.
    const liar = buf(2);
    Object.defineProperty(liar, 'length', { get: () => 1000 });
    expect(e.p.pread(e.fd, liar, 8, 0)).toBe(2);
    expect([...liar.subarray(0, 2)]).toEqual([7, 2]);
  });

  it('pwrite: count 0 -> 0; count > buffer -> a short write of the buffer; fd 2^32 + fd names fd', () => {
    const e = env();
    expect(e.p.pwrite(e.fd, buf(4), 0, 0)).toBe(0);
    expect(e.p.pwrite(e.fd, new Uint8Array([9, 9]), 100, 0)).toBe(2);
    expect(e.p.pwrite(2 ** 32 + e.fd, new Uint8Array([7]), 1, MEMFD_SIZE)).toBe(1);
    expect(e.p.fstat(e.fd).st_size).toBe(MEMFD_SIZE + 1);
  });

  // hugetlbfs_read_iter (older kernels) zero-fills holes without allocating; the
  // newest generic read path's hole behaviour is [unverified] in the notes.
  it('pread of a hugetlb memfd reads zeros (holes) up to EOF', () => {
    const e = env();
    e.p.ftruncate(e.hfd, HPAGE);
    const b = buf(4).fill(0xff);
    expect(e.p.pread(e.hfd, b, 4, 0)).toBe(4);
    expect([...b]).toEqual([0, 0, 0, 0]);
    expect(e.p.pread(e.hfd, b, 4, HPAGE)).toBe(0);
  });

  it('close: the lowest fd is reused; 2^32 + fd names fd; the mapping keeps the file alive', () => {
    const e = env();
    const m = e.p.mmap(0, PAGE, RW, MAP_SHARED, e.fd, 0);
    e.p.fill(m, PAGE, 4);
    expect(e.p.close(2 ** 32 + e.fd)).toBe(0);
    expect(e.p.read(m, 1)[0]).toBe(4);
    expect(e.p.memfd_create('reuse', 0)).toBe(e.fd);
  });

  // vfs_read and vfs_write call access_ok(buf, count) before rw_verify_area. A
  // count >= 2^63 can never pass access_ok on x86-64 (the sum buf + count wraps
  // or leaves user space), so Linux returns EFAULT, not rw_verify_area's EINVAL.
  it('pread/pwrite with count >= 2^63 -> EFAULT (access_ok), not EINVAL', () => {
    const e = env();
    for (const count of [-1, -(2 ** 63), -1n, 1n << 63n]) {
      expectErrno(() => e.p.pread(e.fd, buf(4), count, 0), 'EFAULT', 'pread64');
      expectErrno(() => e.p.pwrite(e.fd, buf(4), count, 0), 'EFAULT', 'pwrite64');
    }
  });

  // Version-dependent: since "x86: fix user address masking non-canonical
  // speculation issue" (v6.12) valid_user_address() compares with USER_PTR_MAX
  // (just below 2^47), so access_ok(buf, count) fails for any count >= 2^47 and
  // pread/pwrite return EFAULT. (v6.5-v6.11 only required buf + count < 2^63,
  // and the call then proceeded to a short read/write.) The model is v6.12+.
  it('pread/pwrite with 2^47 <= count < 2^63 -> EFAULT on v6.12+', () => {
    const e = env();
    for (const count of [2 ** 47, 2 ** 53, 2 ** 62]) {
      expectErrno(() => e.p.pread(e.fd, buf(4), count, 0), 'EFAULT', 'pread64');
      expectErrno(() => e.p.pwrite(e.fd, buf(4), count, 0), 'EFAULT', 'pwrite64');
    }
  });

  // Truncation and eviction remove every page to the end of the file: Linux
  // truncates to (loff_t)-1 (shmem_truncate_range(inode, newsize, (loff_t)-1),
  // shmem_evict_inode), and shmem_get_folio accepts indices up to
  // MAX_LFS_FILESIZE >> PAGE_SHIFT = 2^51 - 1, far beyond 2^53 bytes.
  it('pages written at offsets >= 2^53 - 4096 are freed by ftruncate(0) and by the last close', () => {
    const e = env();
    const fd = e.p.memfd_create('far', 0);
    expect(e.p.pwrite(fd, new Uint8Array([1]), 1, 2 ** 53)).toBe(1);
    expect(e.p.fallocate(fd, KEEP, 2 ** 53 - PAGE, PAGE)).toBe(0);
    expect(e.p.fstat(fd).st_blocks).toBe(16);
    expect(e.p.ftruncate(fd, 0)).toBe(0);
    expect(e.p.fstat(fd).st_blocks).toBe(0);
    expect(e.p.pwrite(fd, new Uint8Array([1]), 1, 2 ** 53)).toBe(1);
    e.p.close(fd);
    expect(e.k.check()).toEqual([]);
  });

  // File positions and sizes are loff_t values, exact up to 2^63 - 1 (no rounding
  // to a multiple of 1024 near 2^63 as JS numbers would).
  it('offsets near 2^63 are exact (pwrite/pread round trip; pread just below EOF)', () => {
    const e = env();
    const pos = (1n << 63n) - 4097n;
    expect(e.p.pwrite(e.fd, new Uint8Array([1, 2, 3]), 3, pos)).toBe(3);
    expect(e.p.fstat(e.fd).st_size).toBe(pos + 3n);
    const b = buf(1);
    expect(e.p.pread(e.fd, b, 1, pos + 1n)).toBe(1);
    expect(b[0]).toBe(2);
    // The byte before and after the write read as zero (a hole, and EOF).
    const two = buf(2).fill(9);
    expect(e.p.pread(e.fd, two, 2, pos - 1n)).toBe(2);
    expect([...two]).toEqual([0, 1]);
    expect(e.p.pread(e.fd, b, 1, pos + 3n)).toBe(0);
    const fd = e.p.memfd_create('big', 0);
    e.p.ftruncate(fd, I64_MAX);
    expect(e.p.fstat(fd).st_size).toBe(I64_MAX);
    expect(e.p.pread(fd, b, 1, I64_MAX - 1n)).toBe(1);
    // rw_verify_area: pos + count would pass 2^63 - 1.
    expectErrno(() => e.p.pread(fd, b, 1, I64_MAX), 'EINVAL', 'pread64');
  });
});

function expectErrnoIn(r: ReturnType<typeof attempt>, codes: ErrnoName[], syscall: string): void {
  checkOutcome(r, codes, syscall, codes.join('|'));
}

// ---------------------------------------------------------------------------
// Values of every type in every position. fd 0 is the memfd (16 pages of data).

const FD_INTS = {
  '-1': 'EBADF',
  '-0': 'ok',
  '2**53': 'ok', // (unsigned int)2^53 == 0
  '2**53+2': 'EBADF', // fd 2 is not open
  '2**64': 'ok',
  '-(2**63)': 'ok',
  '1n<<64n': 'ok',
  '-1n': 'EBADF',
} as const;

/** Counts for which access_ok fails on v6.12+ (>= 2^47; v6.5-v6.11 made a short copy). */
const HUGE_COUNT = 'EFAULT';

const openFlags = expectations('EINVAL', {
  '-1': 'ENOENT',
  '-0': 'ENOENT',
  '2**53': 'ENOENT',
  '2**53+2': 'ENOENT',
  '2**64': 'ENOENT',
  '-(2**63)': 'ENOENT',
  '1n<<64n': 'ENOENT',
  '-1n': 'ENOENT',
});

interface Position {
  name: string;
  syscall: string;
  call: (e: Env, v: unknown) => unknown;
  expect: (label: string) => Expect;
}

const positions: Position[] = [
  { name: 'ftruncate fd', syscall: 'ftruncate', call: (e, v) => e.p.ftruncate(v, PAGE), expect: expectations('EBADF', FD_INTS) },
  {
    name: 'ftruncate length',
    syscall: 'ftruncate',
    call: (e, v) => e.p.ftruncate(e.fd, v),
    expect: expectations('EINVAL', {
      '-1': 'EINVAL',
      '-0': 'ok',
      '2**53': 'ok',
      '2**53+2': 'ok',
      '2**64': 'ok',
      '-(2**63)': 'EINVAL',
      '1n<<64n': 'ok',
      '-1n': 'EINVAL',
    }),
  },
  { name: 'fallocate fd', syscall: 'fallocate', call: (e, v) => e.p.fallocate(v, 0, 0, PAGE), expect: expectations('EBADF', FD_INTS) },
  {
    name: 'fallocate mode',
    syscall: 'fallocate',
    call: (e, v) => e.p.fallocate(e.fd, v, 0, PAGE),
    expect: expectations('EINVAL', {
      '-1': 'EOPNOTSUPP',
      '-0': 'ok',
      '2**53': 'ok', // (int) == 0
      '2**53+2': 'EOPNOTSUPP', // PUNCH_HOLE without KEEP_SIZE
      '2**64': 'ok',
      '-(2**63)': 'ok',
      '1n<<64n': 'ok',
      '-1n': 'EOPNOTSUPP',
    }),
  },
  {
    name: 'fallocate offset',
    syscall: 'fallocate',
    call: (e, v) => e.p.fallocate(e.fd, 0, v, PAGE),
    expect: expectations('EINVAL', {
      '-1': 'EINVAL',
      '-0': 'ok',
      '2**53': 'ok',
      '2**53+2': 'ok',
      '2**64': 'ok',
      '-(2**63)': 'EINVAL',
      '1n<<64n': 'ok',
      '-1n': 'EINVAL',
    }),
  },
  {
    name: 'fallocate len',
    syscall: 'fallocate',
    call: (e, v) => e.p.fallocate(e.fd, KEEP, 0, v),
    expect: expectations('EINVAL', {
      '-1': 'EINVAL',
      '-0': 'EINVAL',
      // 2^53 bytes of tmpfs cannot be allocated in 256 MiB.
      '2**53': ['ENOMEM', 'ENOSPC', 'EINTR'],
      '2**53+2': ['ENOMEM', 'ENOSPC', 'EINTR'],
      '2**64': 'EINVAL',
      '-(2**63)': 'EINVAL',
      '1n<<64n': 'EINVAL',
      '-1n': 'EINVAL',
    }),
  },
  { name: 'pread fd', syscall: 'pread64', call: (e, v) => e.p.pread(v, buf(8), 8, 0), expect: expectations('EBADF', FD_INTS) },
  // A buffer that is not a Uint8Array has no C value: EFAULT (there is data to copy).
  { name: 'pread buf', syscall: 'pread64', call: (e, v) => e.p.pread(e.fd, v, 8, 0), expect: () => 'EFAULT' },
  {
    name: 'pread count',
    syscall: 'pread64',
    call: (e, v) => e.p.pread(e.fd, buf(8), v, 0),
    expect: expectations('EINVAL', {
      // count >= 2^63: EFAULT (access_ok comes before rw_verify_area's EINVAL).
      '-1': 'EFAULT',
      '-0': 'ok',
      '2**53': HUGE_COUNT,
      '2**53+2': HUGE_COUNT,
      '2**64': 'ok',
      '-(2**63)': 'EFAULT',
      '1n<<64n': 'ok',
      '-1n': 'EFAULT',
    }),
  },
  {
    name: 'pread offset',
    syscall: 'pread64',
    call: (e, v) => e.p.pread(e.fd, buf(8), 8, v),
    expect: expectations('EINVAL', {
      '-1': 'EINVAL',
      '-0': 'ok',
      '2**53': 'ok',
      '2**53+2': 'ok',
      '2**64': 'ok',
      '-(2**63)': 'EINVAL',
      '1n<<64n': 'ok',
      '-1n': 'EINVAL',
    }),
  },
  { name: 'pwrite fd', syscall: 'pwrite64', call: (e, v) => e.p.pwrite(v, buf(8), 8, 0), expect: expectations('EBADF', FD_INTS) },
  { name: 'pwrite buf', syscall: 'pwrite64', call: (e, v) => e.p.pwrite(e.fd, v, 8, 0), expect: () => 'EFAULT' },
  {
    name: 'pwrite count',
    syscall: 'pwrite64',
    call: (e, v) => e.p.pwrite(e.fd, buf(8), v, 0),
    expect: expectations('EINVAL', {
      '-1': 'EFAULT',
      '-0': 'ok',
      '2**53': HUGE_COUNT,
      '2**53+2': HUGE_COUNT,
      '2**64': 'ok',
      '-(2**63)': 'EFAULT',
      '1n<<64n': 'ok',
      '-1n': 'EFAULT',
    }),
  },
  {
    name: 'pwrite offset',
    syscall: 'pwrite64',
    call: (e, v) => e.p.pwrite(e.fd, buf(8), 8, v),
    expect: expectations('EINVAL', {
      '-1': 'EINVAL',
      '-0': 'ok',
      '2**53': 'ok',
      '2**53+2': 'ok',
      '2**64': 'ok',
      '-(2**63)': 'EINVAL',
      '1n<<64n': 'ok',
      '-1n': 'EINVAL',
    }),
  },
  { name: 'fstat fd', syscall: 'fstat', call: (e, v) => e.p.fstat(v), expect: expectations('EBADF', FD_INTS) },
  { name: 'close fd', syscall: 'close', call: (e, v) => e.p.close(v), expect: expectations('EBADF', FD_INTS) },
  {
    name: 'open path',
    syscall: 'openat',
    call: (e, v) => e.p.open(v, O_RDWR),
    // Strings are paths (none exist); any other value is a bad pointer.
    expect: (label) => (label === "'4096'" || label === "''" ? 'ENOENT' : 'EFAULT'),
  },
  {
    name: 'open flags',
    syscall: 'openat',
    call: (e, v) => e.p.open('/nope', v),
    // undefined is an omitted argument: flags default to 0.
    expect: (label) => (label === 'undefined' ? 'ENOENT' : openFlags(label)),
  },
];

describe('file syscalls: a value of every type in every position', () => {
  for (const pos of positions) {
    it.each(WEIRD.map((w) => ({ ...w })))(`${pos.name} = $label`, ({ label, v }) => {
      const e = env();
      const r = attempt(() => pos.call(e, v));
      checkOutcome(r, pos.expect(label), pos.syscall, `${pos.name} = ${label}`);
      expect(e.k.check()).toEqual([]);
    });
  }
});
