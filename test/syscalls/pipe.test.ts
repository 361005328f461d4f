/**
 * pipe(2)/pipe2(2), read(2)/write(2) on pipes, and vmsplice(2) argument
 * validation (fs/pipe.c, fs/splice.c, lib/iov_iter.c), in the kernel's order:
 *
 *   pipe2:    EINVAL(flags) -> ENOPKG(O_NOTIFICATION_PIPE, no CONFIG_WATCH_QUEUE) -> EMFILE
 *   read:     EBADF(fd, write end) -> EFAULT(bad buffer, data kept) / EAGAIN(empty) / 0(EOF);
 *             pread: ESPIPE
 *   write:    EBADF(fd, read end) -> EPIPE(no readers) -> EFAULT(bad buffer) / EAGAIN(full)
 *   vmsplice: EINVAL(flags) -> EBADF(fd, no access mode) -> import_iovec: EINVAL(nr_segs >
 *             UIO_MAXIOV) -> EFAULT(iovec array) / EINVAL(iov_len < 0, any segment) ->
 *             EFAULT(access_ok, per segment) -> 0 if nothing to move -> EBADF(not a pipe)
 *             -> EPIPE(no readers) -> EAGAIN(full) -> EFAULT(GUP)
 */
import { describe, expect, it } from 'vitest';
import type { ErrnoName } from '../../src/uapi/index.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, O_CLOEXEC, O_DIRECT, O_EXCL, O_NONBLOCK, PROT_READ, PROT_WRITE, SPLICE_F_GIFT, SPLICE_F_MORE, SPLICE_F_MOVE, SPLICE_F_NONBLOCK } from '../../src/uapi/index.js';
import { type Expect, type Process, PAGE, TASK_SIZE, WEIRD, attempt, boot, checkKernelsAfterEach, checkOutcome, expectErrno, expectations } from './helpers.js';

checkKernelsAfterEach();

const RW = PROT_READ | PROT_WRITE;

/**
 * The fixture: fd 0 a memfd (read-write, not a pipe), fds 1 and 2 a pipe's
 * read and write ends, and A a mapped anonymous page.
 */
function fixture(): { p: Process; m: number; r: number; w: number; A: number } {
  const { p } = boot();
  const m = p.memfd_create('m', 0);
  const [r, w] = p.pipe();
  const A = p.mmap(0, 4 * PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  p.fill(A, 4 * PAGE, 1);
  if (m !== 0 || r !== 1 || w !== 2) throw new Error('fixture: unexpected descriptors');
  return { p, m, r, w, A };
}

type Fx = ReturnType<typeof fixture>;

interface Row {
  name: string;
  call: (f: Fx) => unknown;
  code: ErrnoName;
  syscall: string;
}

const iov1 = (f: Fx, len = PAGE) => [{ iov_base: f.A, iov_len: len }];

const rows: Row[] = [
  // pipe2
  { name: 'pipe2 unknown flag O_RDWR', syscall: 'pipe2', call: (f) => f.p.pipe2(2), code: 'EINVAL' },
  { name: 'pipe2 flags -1', syscall: 'pipe2', call: (f) => f.p.pipe2(-1), code: 'EINVAL' },
  { name: 'pipe2 O_NOTIFICATION_PIPE (no CONFIG_WATCH_QUEUE)', syscall: 'pipe2', call: (f) => f.p.pipe2(O_EXCL), code: 'ENOPKG' },
  { name: 'ORDER pipe2 unknown flag (EINVAL) beats O_NOTIFICATION_PIPE (ENOPKG)', syscall: 'pipe2', call: (f) => f.p.pipe2(O_EXCL | 2), code: 'EINVAL' },
  // read / write on pipe ends
  { name: 'read from the write end', syscall: 'read', call: (f) => f.p.sysread(f.w, new Uint8Array(1), 1), code: 'EBADF' },
  { name: 'write to the read end', syscall: 'write', call: (f) => f.p.syswrite(f.r, new Uint8Array(1), 1), code: 'EBADF' },
  { name: 'pread on a pipe', syscall: 'pread64', call: (f) => f.p.pread(f.r, new Uint8Array(1), 1, 0), code: 'ESPIPE' },
  { name: 'pwrite on a pipe', syscall: 'pwrite64', call: (f) => f.p.pwrite(f.w, new Uint8Array(1), 1, 0), code: 'ESPIPE' },
  { name: 'read of an empty pipe that has a writer (would block)', syscall: 'read', call: (f) => f.p.sysread(f.r, new Uint8Array(1), 1), code: 'EAGAIN' },
  { name: 'ORDER read of an empty pipe into unmapped memory: EAGAIN (nothing to copy)', syscall: 'read', call: (f) => f.p.sysread(f.r, new Uint8Array(0), 1), code: 'EAGAIN' },
  { name: 'read into a value that is no buffer at all (access_ok)', syscall: 'read', call: (f) => f.p.sysread(f.r, null, 1), code: 'EFAULT' },
  {
    name: 'read into unmapped memory with data queued',
    syscall: 'read',
    call: (f) => {
      f.p.syswrite(f.w, new Uint8Array(3), 3);
      return f.p.sysread(f.r, new Uint8Array(0), 3);
    },
    code: 'EFAULT',
  },
  {
    name: 'write without readers',
    syscall: 'write',
    call: (f) => {
      f.p.close(f.r);
      return f.p.syswrite(f.w, new Uint8Array(1), 1);
    },
    code: 'EPIPE',
  },
  {
    name: 'ORDER write without readers (EPIPE) beats unmapped memory (EFAULT)',
    syscall: 'write',
    call: (f) => {
      f.p.close(f.r);
      return f.p.syswrite(f.w, new Uint8Array(0), 1);
    },
    code: 'EPIPE',
  },
  { name: 'write of a value that is no buffer at all', syscall: 'write', call: (f) => f.p.syswrite(f.w, {}, 10), code: 'EFAULT' },
  { name: 'write of unmapped memory to a pipe with room', syscall: 'write', call: (f) => f.p.syswrite(f.w, new Uint8Array(0), 10), code: 'EFAULT' },
  {
    name: 'write to a full pipe',
    syscall: 'write',
    call: (f) => {
      f.p.syswrite(f.w, new Uint8Array(16 * PAGE), 16 * PAGE);
      return f.p.syswrite(f.w, new Uint8Array(1), 1);
    },
    code: 'EAGAIN',
  },
  {
    name: 'ORDER a full pipe with unmapped memory: EAGAIN',
    syscall: 'write',
    call: (f) => {
      f.p.syswrite(f.w, new Uint8Array(16 * PAGE), 16 * PAGE);
      return f.p.syswrite(f.w, new Uint8Array(0), PAGE);
    },
    code: 'EAGAIN',
  },
  {
    name: 'a full pipe whose last page has room: the tail merge faults first (EFAULT)',
    syscall: 'write',
    call: (f) => {
      f.p.syswrite(f.w, new Uint8Array(16 * PAGE - 10), 16 * PAGE - 10);
      return f.p.syswrite(f.w, new Uint8Array(0), 5);
    },
    code: 'EFAULT',
  },
  // vmsplice
  { name: 'vmsplice unknown flag 0x10', syscall: 'vmsplice', call: (f) => f.p.vmsplice(f.w, iov1(f), 1, 0x10), code: 'EINVAL' },
  { name: 'ORDER vmsplice bad flags (EINVAL) beat a bad fd (EBADF)', syscall: 'vmsplice', call: (f) => f.p.vmsplice(9, iov1(f), 1, -1), code: 'EINVAL' },
  { name: 'vmsplice fd not open', syscall: 'vmsplice', call: (f) => f.p.vmsplice(9, iov1(f), 1, 0), code: 'EBADF' },
  { name: 'ORDER vmsplice bad fd (EBADF) beats nr_segs 1025 (EINVAL)', syscall: 'vmsplice', call: (f) => f.p.vmsplice(9, iov1(f), 1025, 0), code: 'EBADF' },
  { name: 'vmsplice nr_segs 1025 (UIO_MAXIOV + 1)', syscall: 'vmsplice', call: (f) => f.p.vmsplice(f.w, iov1(f), 1025, 0), code: 'EINVAL' },
  { name: 'vmsplice iov not a pointer', syscall: 'vmsplice', call: (f) => f.p.vmsplice(f.w, 12345, 1, 0), code: 'EFAULT' },
  { name: 'vmsplice nr_segs beyond the array', syscall: 'vmsplice', call: (f) => f.p.vmsplice(f.w, iov1(f), 2, 0), code: 'EFAULT' },
  { name: 'vmsplice negative iov_len', syscall: 'vmsplice', call: (f) => f.p.vmsplice(f.w, [{ iov_base: f.A, iov_len: -1 }], 1, 0), code: 'EINVAL' },
  { name: 'vmsplice iov_len 2^63 (negative as ssize_t)', syscall: 'vmsplice', call: (f) => f.p.vmsplice(f.w, [{ iov_base: f.A, iov_len: 1n << 63n }], 1, 0), code: 'EINVAL' },
  {
    name: 'ORDER vmsplice negative iov_len in segment 2 (EINVAL) beats a bad base in segment 1 (EFAULT)',
    syscall: 'vmsplice',
    call: (f) => f.p.vmsplice(f.w, [{ iov_base: TASK_SIZE, iov_len: 10 }, { iov_base: f.A, iov_len: -5 }], 2, 0),
    code: 'EINVAL',
  },
  { name: 'vmsplice iov_base beyond TASK_SIZE', syscall: 'vmsplice', call: (f) => f.p.vmsplice(f.w, [{ iov_base: TASK_SIZE, iov_len: 1 }], 1, 0), code: 'EFAULT' },
  { name: 'vmsplice iov_base with no C value', syscall: 'vmsplice', call: (f) => f.p.vmsplice(f.w, [{ iov_base: 'A', iov_len: 1 }], 1, 0), code: 'EFAULT' },
  { name: 'vmsplice iov_len with no C value', syscall: 'vmsplice', call: (f) => f.p.vmsplice(f.w, [{ iov_base: f.A, iov_len: 0.5 }], 1, 0), code: 'EINVAL' },
  { name: 'vmsplice an iovec whose getter throws', syscall: 'vmsplice', call: (f) => f.p.vmsplice(f.w, [{ get iov_len(): number { throw new Error('boom'); } }], 1, 0), code: 'EFAULT' },
  { name: 'vmsplice to a file that is not a pipe', syscall: 'vmsplice', call: (f) => f.p.vmsplice(f.m, iov1(f), 1, 0), code: 'EBADF' },
  {
    name: 'vmsplice without readers',
    syscall: 'vmsplice',
    call: (f) => {
      f.p.close(f.r);
      return f.p.vmsplice(f.w, iov1(f), 1, 0);
    },
    code: 'EPIPE',
  },
  {
    name: 'vmsplice to a full pipe',
    syscall: 'vmsplice',
    call: (f) => {
      f.p.syswrite(f.w, new Uint8Array(16 * PAGE), 16 * PAGE);
      return f.p.vmsplice(f.w, iov1(f), 1, SPLICE_F_NONBLOCK);
    },
    code: 'EAGAIN',
  },
  {
    name: 'vmsplice of unmapped memory',
    syscall: 'vmsplice',
    call: (f) => {
      f.p.munmap(f.A, PAGE);
      return f.p.vmsplice(f.w, iov1(f), 1, 0);
    },
    code: 'EFAULT',
  },
  { name: 'vmsplice from an empty pipe with a writer', syscall: 'vmsplice', call: (f) => f.p.vmsplice(f.r, iov1(f), 1, 0), code: 'EAGAIN' },
  {
    name: 'vmsplice from a pipe into unmapped memory',
    syscall: 'vmsplice',
    call: (f) => {
      f.p.syswrite(f.w, new Uint8Array(8), 8);
      return f.p.vmsplice(f.r, [{ iov_base: 0x10000, iov_len: 8 }], 1, 0);
    },
    code: 'EFAULT',
  },
  {
    name: 'exited process',
    syscall: 'vmsplice',
    call: (f) => {
      f.p.exit();
      return f.p.vmsplice(2, [], 0, 0);
    },
    code: 'ESRCH',
  },
];

describe('pipes and vmsplice: errno and check order', () => {
  it.each(rows)('$name', (row) => {
    const f = fixture();
    expectErrno(() => row.call(f), row.code, row.syscall);
  });
});

describe('pipes and vmsplice: accepted inputs', () => {
  it('pipe2 with every valid flag; pipe() is pipe2(0); flags is an int (2^32 + O_CLOEXEC)', () => {
    const { p } = boot();
    expect(p.pipe()).toEqual([0, 1]);
    expect(p.pipe2(O_CLOEXEC | O_NONBLOCK | O_DIRECT)).toEqual([2, 3]);
    expect(p.pipe2(2 ** 32 + O_CLOEXEC)).toEqual([4, 5]);
    expect(p.fstat(0).st_mode & 0o170000).toBe(0o010000);
  });

  it('EMFILE with one descriptor left; nothing leaks and the slot stays free', () => {
    const { p } = boot();
    for (let i = 0; i < 1023; i++) p.memfd_create(`f${i}`, 0);
    expectErrno(() => p.pipe(), 'EMFILE', 'pipe');
    expectErrno(() => p.pipe2(0), 'EMFILE', 'pipe2');
    expect(p.memfd_create('last', 0)).toBe(1023);
  });

  it('vmsplice: nothing to move is 0, even on a file that is not a pipe; every flag is accepted', () => {
    const f = fixture();
    expect(f.p.vmsplice(f.m, [], 0, 0)).toBe(0);
    expect(f.p.vmsplice(f.m, [{ iov_base: 0, iov_len: 0 }], 1, 0)).toBe(0);
    expect(f.p.vmsplice(f.w, iov1(f, 10), 1, SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | SPLICE_F_GIFT)).toBe(10);
    // nr_segs is an unsigned int for import_iovec: 2^32 + 1 is one segment.
    expect(f.p.vmsplice(f.w, iov1(f, 10), 2 ** 32 + 1, 0)).toBe(10);
  });

  it('vmsplice caps the total at MAX_RW_COUNT and takes at most 16 pages into an empty pipe', () => {
    const f = fixture();
    expect(f.p.vmsplice(f.w, [{ iov_base: f.A, iov_len: 4 * PAGE }, { iov_base: f.A, iov_len: 4 * PAGE }], 2, 0)).toBe(8 * PAGE);
  });
});

// ---------------------------------------------------------------------------
// A value of every type in every position.

const fdInts = (zero: Expect, two: Expect) => ({ '-1': 'EBADF', '-0': zero, '2**53': zero, '2**53+2': two, '2**64': zero, '-(2**63)': zero, '1n<<64n': zero, '-1n': 'EBADF' }) as Record<string, Expect>;

interface Position {
  name: string;
  syscall: string;
  call: (f: Fx, v: unknown) => unknown;
  expect: (label: string) => Expect;
}

const OBJECT_LABELS = new Set(['{}', '[]', 'poison object', 'new Number(4096)', '() => 0']);

const positions: Position[] = [
  {
    name: 'pipe2 flags',
    syscall: 'pipe2',
    call: (f, v) => f.p.pipe2(v),
    expect: expectations('EINVAL', { '-1': 'EINVAL', '-0': 'ok', '2**53': 'ok', '2**53+2': 'EINVAL', '2**64': 'ok', '-(2**63)': 'ok', '1n<<64n': 'ok', '-1n': 'EINVAL' }),
  },
  {
    // fd 0 is the memfd (not a pipe), fd 2 the pipe's write end.
    name: 'vmsplice fd',
    syscall: 'vmsplice',
    call: (f, v) => f.p.vmsplice(v, iov1(f, 10), 1, 0),
    expect: expectations('EBADF', fdInts('EBADF', 'ok')),
  },
  {
    // An object is a struct iovec (absent fields are 0: nothing to move); anything else is a bad pointer.
    name: 'vmsplice iov',
    syscall: 'vmsplice',
    call: (f, v) => f.p.vmsplice(f.w, v, 1, 0),
    expect: (label) => (label === '[]' ? 'EFAULT' : OBJECT_LABELS.has(label) ? 'ok' : 'EFAULT'),
  },
  {
    name: 'vmsplice nr_segs',
    syscall: 'vmsplice',
    call: (f, v) => f.p.vmsplice(f.w, iov1(f, 10), v, 0),
    expect: expectations('EINVAL', { '-1': 'EINVAL', '-0': 'ok', '2**53': 'ok', '2**53+2': 'EFAULT', '2**64': 'ok', '-(2**63)': 'ok', '1n<<64n': 'ok', '-1n': 'EINVAL' }),
  },
  {
    name: 'vmsplice flags',
    syscall: 'vmsplice',
    call: (f, v) => f.p.vmsplice(f.w, iov1(f, 10), 1, v),
    expect: expectations('EINVAL', { '-1': 'EINVAL', '-0': 'ok', '2**53': 'ok', '2**53+2': 'ok', '2**64': 'ok', '-(2**63)': 'ok', '1n<<64n': 'ok', '-1n': 'EINVAL' }),
  },
  {
    name: 'vmsplice iov_base',
    syscall: 'vmsplice',
    call: (f, v) => f.p.vmsplice(f.w, [{ iov_base: v, iov_len: 10 }], 1, 0),
    // Only 0 (undefined, null) is a C value here, and nothing is mapped there.
    expect: () => 'EFAULT',
  },
  {
    name: 'vmsplice iov_len',
    syscall: 'vmsplice',
    call: (f, v) => f.p.vmsplice(f.w, [{ iov_base: f.A, iov_len: v }], 1, 0),
    // 2^53 and 2^64 - 1 ... as lengths: beyond the user address space (EFAULT) or negative (EINVAL).
    expect: (label) =>
      label === 'undefined' || label === 'null'
        ? 'ok'
        : expectations('EINVAL', { '-1': 'EINVAL', '-0': 'ok', '2**53': 'EFAULT', '2**53+2': 'EFAULT', '2**64': 'ok', '-(2**63)': 'EINVAL', '1n<<64n': 'ok', '-1n': 'EINVAL' })(label),
  },
];

describe('pipes and vmsplice: a value of every type in every position', () => {
  for (const pos of positions) {
    it.each(WEIRD.map((w) => ({ ...w })))(`${pos.name} = $label`, ({ label, v }) => {
      const f = fixture();
      const r = attempt(() => pos.call(f, v));
      checkOutcome(r, pos.expect(label), pos.syscall, `${pos.name} = ${label}`);
    });
  }
});
