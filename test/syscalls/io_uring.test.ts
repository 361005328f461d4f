/**
 * io_uring_setup(2), io_uring_register(2) (buffers) and the fixed read/write
 * submission argument validation (io_uring/io_uring.c, io_uring/register.c,
 * io_uring/rsrc.c, io_uring/rw.c), in the kernel's order:
 *
 *   io_uring_setup:    EFAULT(params) -> EINVAL(resv) -> EINVAL(flags the model lacks) ->
 *                      EINVAL(entries 0 / > 32768 without CLAMP) -> EINVAL(CQSIZE: cq 0,
 *                      too many, fewer than sq) -> EFAULT(copy back) -> EMFILE
 *   io_uring_register: EINVAL(opcode >= LAST) -> EINVAL(fd -1: blind opcodes) ->
 *                      EINVAL(registered-ring index) -> EBADF -> EOPNOTSUPP(not a ring) ->
 *                      per opcode. BUFFERS: EFAULT(arg NULL) -> EBUSY -> EINVAL(nr 0 / > 16384)
 *                      -> per iovec: EFAULT/EINVAL(copy) -> EFAULT(NULL base with a length)
 *                      -> EFAULT(len 0 or > 1 GiB) -> EOVERFLOW(base + len wraps) ->
 *                      EFAULT/ENOMEM(pin). UNREGISTER_BUFFERS: EINVAL(arg or nr) -> ENXIO.
 *   fixed rw (io_uring_enter): EBADF(ring fd) -> EOPNOTSUPP(not a ring) -> EINVAL(an SQE
 *                      field with no C value); then the CQE: -EBADF(fd) -> -EFAULT(buffer)
 *                      -> -EBADF(mode) -> -EINVAL(no op / rw_verify_area).
 */
import { describe, expect, it } from 'vitest';
import type { ErrnoName } from '../../src/uapi/index.js';
import {
  IORING_REGISTER_BUFFERS,
  IORING_REGISTER_FILES,
  IORING_REGISTER_USE_REGISTERED_RING,
  IORING_SETUP_CLAMP,
  IORING_SETUP_CQSIZE,
  IORING_SETUP_SQPOLL,
  IORING_UNREGISTER_BUFFERS,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
} from '../../src/uapi/index.js';
import { type Expect, PAGE, WEIRD, attempt, boot, checkKernelsAfterEach, checkOutcome, expectErrno, expectations } from './helpers.js';

checkKernelsAfterEach();

const RW = PROT_READ | PROT_WRITE;
const GiB = 2 ** 30;

/** fd 0 a memfd, fd 1 a ring, A two mapped anonymous pages. */
function fixture() {
  const { k, p } = boot();
  const m = p.memfd_create('m', 0);
  const ring = p.io_uring_setup(4, {});
  const A = p.mmap(0, 2 * PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  p.fill(A, 2 * PAGE, 1);
  if (m !== 0 || ring !== 1) throw new Error('fixture: unexpected descriptors');
  return { k, p, m, ring, A };
}

type Fx = ReturnType<typeof fixture>;

interface Row {
  name: string;
  call: (f: Fx) => unknown;
  code: ErrnoName;
  syscall: string;
}

const REG = IORING_REGISTER_BUFFERS;
const buf = (f: Fx, len = PAGE) => [{ iov_base: f.A, iov_len: len }];

const rows: Row[] = [
  // io_uring_setup
  { name: 'setup params not a pointer', syscall: 'io_uring_setup', call: (f) => f.p.io_uring_setup(4, 7), code: 'EFAULT' },
  { name: 'ORDER setup params (EFAULT) before entries 0 (EINVAL)', syscall: 'io_uring_setup', call: (f) => f.p.io_uring_setup(0, null), code: 'EFAULT' },
  { name: 'setup params whose getter throws', syscall: 'io_uring_setup', call: (f) => f.p.io_uring_setup(4, { get flags(): number { throw new Error('x'); } }), code: 'EFAULT' },
  { name: 'setup resv nonzero', syscall: 'io_uring_setup', call: (f) => f.p.io_uring_setup(4, { resv: [0, 1, 0] }), code: 'EINVAL' },
  { name: 'setup resv not an array', syscall: 'io_uring_setup', call: (f) => f.p.io_uring_setup(4, { resv: 'x' }), code: 'EINVAL' },
  { name: 'setup unknown flag bit 31', syscall: 'io_uring_setup', call: (f) => f.p.io_uring_setup(4, { flags: 0x80000000 }), code: 'EINVAL' },
  { name: 'setup IORING_SETUP_SQPOLL (not modelled)', syscall: 'io_uring_setup', call: (f) => f.p.io_uring_setup(4, { flags: IORING_SETUP_SQPOLL }), code: 'EINVAL' },
  { name: 'setup entries 0', syscall: 'io_uring_setup', call: (f) => f.p.io_uring_setup(0, {}), code: 'EINVAL' },
  { name: 'setup entries 32769 without CLAMP', syscall: 'io_uring_setup', call: (f) => f.p.io_uring_setup(32769, {}), code: 'EINVAL' },
  { name: 'setup CQSIZE with cq_entries 0', syscall: 'io_uring_setup', call: (f) => f.p.io_uring_setup(4, { flags: IORING_SETUP_CQSIZE }), code: 'EINVAL' },
  { name: 'setup CQSIZE with cq_entries 65537 without CLAMP', syscall: 'io_uring_setup', call: (f) => f.p.io_uring_setup(4, { flags: IORING_SETUP_CQSIZE, cq_entries: 65537 }), code: 'EINVAL' },
  { name: 'setup CQSIZE with fewer CQ than SQ entries', syscall: 'io_uring_setup', call: (f) => f.p.io_uring_setup(8, { flags: IORING_SETUP_CQSIZE, cq_entries: 4 }), code: 'EINVAL' },
  { name: 'setup params that cannot be written back (frozen)', syscall: 'io_uring_setup', call: (f) => f.p.io_uring_setup(4, Object.freeze({})), code: 'EFAULT' },
  // io_uring_register
  { name: 'register opcode 35 (IORING_REGISTER_LAST)', syscall: 'io_uring_register', call: (f) => f.p.io_uring_register(f.ring, 35, buf(f), 1), code: 'EINVAL' },
  { name: 'ORDER register opcode too big (EINVAL) beats a bad fd (EBADF)', syscall: 'io_uring_register', call: (f) => f.p.io_uring_register(9, 35, buf(f), 1), code: 'EINVAL' },
  { name: 'register with fd -1 (the blind opcodes)', syscall: 'io_uring_register', call: (f) => f.p.io_uring_register(-1, REG, buf(f), 1), code: 'EINVAL' },
  { name: 'register through a registered ring index', syscall: 'io_uring_register', call: (f) => f.p.io_uring_register(0, REG | IORING_REGISTER_USE_REGISTERED_RING, buf(f), 1), code: 'EINVAL' },
  { name: 'register fd not open', syscall: 'io_uring_register', call: (f) => f.p.io_uring_register(9, REG, buf(f), 1), code: 'EBADF' },
  { name: 'register fd not a ring', syscall: 'io_uring_register', call: (f) => f.p.io_uring_register(f.m, REG, buf(f), 1), code: 'EOPNOTSUPP' },
  { name: 'ORDER register fd not a ring (EOPNOTSUPP) beats arg NULL (EFAULT)', syscall: 'io_uring_register', call: (f) => f.p.io_uring_register(f.m, REG, 0, 1), code: 'EOPNOTSUPP' },
  { name: 'register an opcode the model lacks (FILES)', syscall: 'io_uring_register', call: (f) => f.p.io_uring_register(f.ring, IORING_REGISTER_FILES, [0], 1), code: 'EINVAL' },
  { name: 'BUFFERS arg NULL', syscall: 'io_uring_register', call: (f) => f.p.io_uring_register(f.ring, REG, 0, 1), code: 'EFAULT' },
  { name: 'ORDER BUFFERS arg NULL (EFAULT) beats nr_args 0 (EINVAL)', syscall: 'io_uring_register', call: (f) => f.p.io_uring_register(f.ring, REG, null, 0), code: 'EFAULT' },
  { name: 'BUFFERS nr_args 0', syscall: 'io_uring_register', call: (f) => f.p.io_uring_register(f.ring, REG, buf(f), 0), code: 'EINVAL' },
  { name: 'BUFFERS nr_args 16385', syscall: 'io_uring_register', call: (f) => f.p.io_uring_register(f.ring, REG, buf(f), 16385), code: 'EINVAL' },
  {
    name: 'ORDER BUFFERS already registered (EBUSY) beats nr_args 0 (EINVAL)',
    syscall: 'io_uring_register',
    call: (f) => {
      f.p.io_uring_register(f.ring, REG, buf(f), 1);
      return f.p.io_uring_register(f.ring, REG, buf(f), 0);
    },
    code: 'EBUSY',
  },
  { name: 'BUFFERS arg not a pointer', syscall: 'io_uring_register', call: (f) => f.p.io_uring_register(f.ring, REG, 'x', 1), code: 'EFAULT' },
  { name: 'BUFFERS nr_args beyond the array', syscall: 'io_uring_register', call: (f) => f.p.io_uring_register(f.ring, REG, buf(f), 2), code: 'EFAULT' },
  { name: 'BUFFERS negative iov_len', syscall: 'io_uring_register', call: (f) => f.p.io_uring_register(f.ring, REG, [{ iov_base: f.A, iov_len: -1 }], 1), code: 'EINVAL' },
  { name: 'BUFFERS NULL base with a length', syscall: 'io_uring_register', call: (f) => f.p.io_uring_register(f.ring, REG, [{ iov_base: 0, iov_len: 10 }], 1), code: 'EFAULT' },
  { name: 'BUFFERS length 0', syscall: 'io_uring_register', call: (f) => f.p.io_uring_register(f.ring, REG, [{ iov_base: f.A, iov_len: 0 }], 1), code: 'EFAULT' },
  { name: 'BUFFERS length over 1 GiB', syscall: 'io_uring_register', call: (f) => f.p.io_uring_register(f.ring, REG, [{ iov_base: f.A, iov_len: GiB + 1 }], 1), code: 'EFAULT' },
  { name: 'BUFFERS base + length wraps', syscall: 'io_uring_register', call: (f) => f.p.io_uring_register(f.ring, REG, [{ iov_base: -PAGE, iov_len: PAGE }], 1), code: 'EOVERFLOW' },
  { name: 'BUFFERS base with no C value', syscall: 'io_uring_register', call: (f) => f.p.io_uring_register(f.ring, REG, [{ iov_base: NaN, iov_len: PAGE }], 1), code: 'EFAULT' },
  { name: 'BUFFERS of unmapped memory', syscall: 'io_uring_register', call: (f) => f.p.io_uring_register(f.ring, REG, [{ iov_base: 0x10000, iov_len: PAGE }], 1), code: 'EFAULT' },
  { name: 'BUFFERS partly unmapped', syscall: 'io_uring_register', call: (f) => f.p.io_uring_register(f.ring, REG, buf(f, 3 * PAGE), 1), code: 'EFAULT' },
  {
    name: 'BUFFERS of read-only memory (a writable long-term pin)',
    syscall: 'io_uring_register',
    call: (f) => {
      f.p.mprotect(f.A, 2 * PAGE, PROT_READ);
      return f.p.io_uring_register(f.ring, REG, buf(f), 1);
    },
    code: 'EFAULT',
  },
  { name: 'UNREGISTER_BUFFERS with an arg', syscall: 'io_uring_register', call: (f) => f.p.io_uring_register(f.ring, IORING_UNREGISTER_BUFFERS, buf(f), 0), code: 'EINVAL' },
  { name: 'UNREGISTER_BUFFERS with nr_args', syscall: 'io_uring_register', call: (f) => f.p.io_uring_register(f.ring, IORING_UNREGISTER_BUFFERS, 0, 1), code: 'EINVAL' },
  { name: 'UNREGISTER_BUFFERS with none registered', syscall: 'io_uring_register', call: (f) => f.p.io_uring_register(f.ring, IORING_UNREGISTER_BUFFERS, 0, 0), code: 'ENXIO' },
  // fixed read/write submissions
  { name: 'write_fixed ring fd not open', syscall: 'io_uring_enter', call: (f) => f.p.io_uring_write_fixed(9, f.m, f.A, 1, 0, 0), code: 'EBADF' },
  { name: 'write_fixed ring fd not a ring', syscall: 'io_uring_enter', call: (f) => f.p.io_uring_write_fixed(f.m, f.m, f.A, 1, 0, 0), code: 'EOPNOTSUPP' },
  { name: 'read_fixed with an SQE address that has no C value', syscall: 'io_uring_enter', call: (f) => f.p.io_uring_read_fixed(f.ring, f.m, 'A', 1, 0, 0), code: 'EINVAL' },
  { name: 'ORDER ring fd (EBADF) before the SQE fields (EINVAL)', syscall: 'io_uring_enter', call: (f) => f.p.io_uring_read_fixed(9, NaN, NaN, NaN, NaN, NaN), code: 'EBADF' },
  {
    name: 'exited process',
    syscall: 'io_uring_setup',
    call: (f) => {
      f.p.exit();
      return f.p.io_uring_setup(4, {});
    },
    code: 'ESRCH',
  },
];

describe('io_uring: errno and check order', () => {
  it.each(rows)('$name', (row) => {
    const f = fixture();
    expectErrno(() => row.call(f), row.code, row.syscall);
    // A failed registration leaves nothing pinned (the EBUSY row keeps its first registration).
    const v = f.k.vmstat();
    expect(v.nr_foll_pin_acquired! - v.nr_foll_pin_released!).toBe(row.code === 'EBUSY' ? 1 : 0);
  });
});

describe('io_uring: the CQE results of fixed read/write', () => {
  const cqe = (f: Fx, fd: unknown, addr: unknown, len: unknown, off: unknown, idx: unknown) => f.p.io_uring_write_fixed(f.ring, fd, addr, len, off, idx);
  it('-EFAULT without buffers; -EBADF for a bad fd before the buffer check', () => {
    const f = fixture();
    expect(cqe(f, f.m, f.A, 1, 0, 0)).toBe(-14);
    expect(cqe(f, 9, f.A, 1, 0, 0)).toBe(-9);
  });

  it('-EFAULT outside the buffer or at another index; -EINVAL for a negative offset; a u16 buf_index', () => {
    const f = fixture();
    f.p.io_uring_register(f.ring, REG, buf(f), 1);
    expect(cqe(f, f.m, f.A, PAGE + 1, 0, 0)).toBe(-14);
    expect(cqe(f, f.m, f.A, 1, 0, 1)).toBe(-14);
    expect(cqe(f, f.m, f.A, 1, -5, 0)).toBe(-22);
    expect(cqe(f, f.m, f.A, 1, 0, 65536)).toBe(1);
    f.p.io_uring_register(f.ring, IORING_UNREGISTER_BUFFERS, 0, 0);
  });

  it('a sparse slot (NULL iovec) registers and is -EFAULT to use', () => {
    const f = fixture();
    expect(f.p.io_uring_register(f.ring, REG, [{ iov_base: 0, iov_len: 0 }, ...buf(f)], 2)).toBe(0);
    expect(cqe(f, f.m, f.A, 1, 0, 0)).toBe(-14);
    expect(cqe(f, f.m, f.A, 1, 0, 1)).toBe(1);
  });

  it('setup with CLAMP clamps both sizes; EMFILE leaves nothing behind', () => {
    const { p } = boot();
    const q = { flags: IORING_SETUP_CLAMP | IORING_SETUP_CQSIZE, cq_entries: 1 << 20 };
    p.io_uring_setup(1 << 20, q);
    expect(q).toMatchObject({ sq_entries: 32768, cq_entries: 65536 });
    for (let i = 1; i < 1024; i++) p.memfd_create(`f${i}`, 0);
    expectErrno(() => p.io_uring_setup(4, {}), 'EMFILE', 'io_uring_setup');
  });
});

// ---------------------------------------------------------------------------
// A value of every type in every position.

interface Position {
  name: string;
  syscall: string;
  call: (f: Fx, v: unknown) => unknown;
  expect: (label: string) => Expect;
}

const OBJECT_LABELS = new Set(['{}', '[]', 'poison object', 'new Number(4096)', '() => 0']);

const positions: Position[] = [
  {
    name: 'io_uring_setup entries',
    syscall: 'io_uring_setup',
    call: (f, v) => f.p.io_uring_setup(v, {}),
    expect: expectations('EINVAL', { '-1': 'EINVAL', '-0': 'EINVAL', '2**53': 'EINVAL', '2**53+2': 'ok', '2**64': 'EINVAL', '-(2**63)': 'EINVAL', '1n<<64n': 'EINVAL', '-1n': 'EINVAL' }),
  },
  {
    name: 'io_uring_setup params',
    syscall: 'io_uring_setup',
    call: (f, v) => f.p.io_uring_setup(4, v),
    expect: (label) => (OBJECT_LABELS.has(label) ? 'ok' : 'EFAULT'),
  },
  {
    // fd 0 is a memfd, fd 1 the ring.
    name: 'io_uring_register fd',
    syscall: 'io_uring_register',
    call: (f, v) => f.p.io_uring_register(v, REG, buf(f), 1),
    expect: expectations('EBADF', { '-1': 'EINVAL', '-0': 'EOPNOTSUPP', '2**53': 'EOPNOTSUPP', '2**53+2': 'EBADF', '2**64': 'EOPNOTSUPP', '-(2**63)': 'EOPNOTSUPP', '1n<<64n': 'EOPNOTSUPP', '-1n': 'EINVAL' }),
  },
  {
    name: 'io_uring_register opcode',
    syscall: 'io_uring_register',
    call: (f, v) => f.p.io_uring_register(f.ring, v, buf(f), 1),
    expect: expectations('EINVAL', { '-1': 'EINVAL', '-0': 'ok', '2**53': 'ok', '2**53+2': 'EINVAL', '2**64': 'ok', '-(2**63)': 'ok', '1n<<64n': 'ok', '-1n': 'EINVAL' }),
  },
  {
    // An object is one struct iovec (absent fields: a NULL iovec, a sparse slot).
    name: 'io_uring_register arg',
    syscall: 'io_uring_register',
    call: (f, v) => f.p.io_uring_register(f.ring, REG, v, 1),
    expect: (label) => (label === '[]' ? 'EFAULT' : OBJECT_LABELS.has(label) ? 'ok' : 'EFAULT'),
  },
  {
    name: 'io_uring_register nr_args',
    syscall: 'io_uring_register',
    call: (f, v) => f.p.io_uring_register(f.ring, REG, buf(f), v),
    expect: expectations('EINVAL', { '-1': 'EINVAL', '-0': 'EINVAL', '2**53': 'EINVAL', '2**53+2': 'EFAULT', '2**64': 'EINVAL', '-(2**63)': 'EINVAL', '1n<<64n': 'EINVAL', '-1n': 'EINVAL' }),
  },
  {
    name: 'io_uring_register iov_len',
    syscall: 'io_uring_register',
    call: (f, v) => f.p.io_uring_register(f.ring, REG, [{ iov_base: f.A, iov_len: v }], 1),
    // Absent or 0: a zero length is a fault; huge lengths are over 1 GiB.
    expect: (label) =>
      label === 'undefined' || label === 'null'
        ? 'EFAULT'
        : expectations('EINVAL', { '-1': 'EINVAL', '-0': 'EFAULT', '2**53': 'EFAULT', '2**53+2': 'EFAULT', '2**64': 'EFAULT', '-(2**63)': 'EINVAL', '1n<<64n': 'EFAULT', '-1n': 'EINVAL' })(label),
  },
  {
    name: 'io_uring_write_fixed ring_fd',
    syscall: 'io_uring_enter',
    call: (f, v) => f.p.io_uring_write_fixed(v, f.m, f.A, 1, 0, 0),
    expect: expectations('EBADF', { '-1': 'EBADF', '-0': 'EOPNOTSUPP', '2**53': 'EOPNOTSUPP', '2**53+2': 'EBADF', '2**64': 'EOPNOTSUPP', '-(2**63)': 'EOPNOTSUPP', '1n<<64n': 'EOPNOTSUPP', '-1n': 'EBADF' }),
  },
  ...(['fd', 'addr', 'len', 'offset', 'buf_index'] as const).map(
    (field, i): Position => ({
      name: `io_uring_write_fixed ${field}`,
      syscall: 'io_uring_enter',
      call: (f, v) => {
        const args: unknown[] = [f.m, f.A, 1, 0, 0];
        args[i] = v;
        return f.p.io_uring_write_fixed(f.ring, ...(args as [unknown, unknown, unknown, unknown, unknown]));
      },
      // Integers make an SQE (its CQE carries any error); other values are no SQE at all.
      expect: (label) => (INTEGER_LABELS_LOCAL.has(label) ? 'ok' : 'EINVAL'),
    }),
  ),
];

const INTEGER_LABELS_LOCAL = new Set(['-1', '-0', '2**53', '2**53+2', '2**64', '-(2**63)', '1n<<64n', '-1n']);

describe('io_uring: a value of every type in every position', () => {
  for (const pos of positions) {
    it.each(WEIRD.map((w) => ({ ...w })))(`${pos.name} = $label`, ({ label, v }) => {
      const f = fixture();
      const r = attempt(() => pos.call(f, v));
      checkOutcome(r, pos.expect(label), pos.syscall, `${pos.name} = ${label}`);
    });
  }
});
