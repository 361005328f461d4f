/**
 * userfaultfd's uAPI (include/uapi/linux/userfaultfd.h), x86-64 values.
 * Argument objects carry the struct field names (a nested struct is a nested
 * object):
 *
 *   struct uffdio_api          { api, features, ioctls }                 (out: features, ioctls)
 *   struct uffdio_range        { start, len }
 *   struct uffdio_register     { range: { start, len }, mode, ioctls }   (out: ioctls)
 *   struct uffdio_copy         { dst, src, len, mode, copy }             (out: copy)
 *   struct uffdio_zeropage     { range, mode, zeropage }                 (out: zeropage)
 *   struct uffdio_writeprotect { range, mode }
 *   struct uffdio_continue     { range, mode, mapped }                   (out: mapped)
 *   struct uffdio_poison       { range, mode, updated }                  (out: updated)
 *   struct uffdio_move         { dst, src, len, mode, move }             (out: move)
 *
 * read(2) on a userfaultfd gives 32-byte struct uffd_msg records;
 * decodeUffdMsg turns one into an object with the C field names.
 */
import { _IO, _IOR, _IOWR } from './ioctl.js';

/** /dev/userfaultfd's ioctl type and its one request (its arg is the userfaultfd(2) flags). */
export const USERFAULTFD_IOC = 0xaa;
export const USERFAULTFD_IOC_NEW = _IO(USERFAULTFD_IOC, 0x00);
/** The misc device's path. */
export const USERFAULTFD_DEV_PATH = '/dev/userfaultfd';

/** userfaultfd(2) flag: handle faults from user mode only (kernel-mode faults get SIGBUS). */
export const UFFD_USER_MODE_ONLY = 1;

export const UFFD_API = 0xaa;

export const _UFFDIO_REGISTER = 0x00;
export const _UFFDIO_UNREGISTER = 0x01;
export const _UFFDIO_WAKE = 0x02;
export const _UFFDIO_COPY = 0x03;
export const _UFFDIO_ZEROPAGE = 0x04;
export const _UFFDIO_MOVE = 0x05;
export const _UFFDIO_WRITEPROTECT = 0x06;
export const _UFFDIO_CONTINUE = 0x07;
export const _UFFDIO_POISON = 0x08;
export const _UFFDIO_API = 0x3f;

/** The ioctl type of the userfaultfd requests. */
export const UFFDIO = 0xaa;
/** sizeof of each struct, for the request numbers. */
const SZ_API = 24;
const SZ_RANGE = 16;
const SZ_REGISTER = 32;
const SZ_COPY = 40;
const SZ_ZEROPAGE = 32;
const SZ_MOVE = 40;
const SZ_WRITEPROTECT = 24;
const SZ_CONTINUE = 32;
const SZ_POISON = 32;

export const UFFDIO_API = _IOWR(UFFDIO, _UFFDIO_API, SZ_API);
export const UFFDIO_REGISTER = _IOWR(UFFDIO, _UFFDIO_REGISTER, SZ_REGISTER);
export const UFFDIO_UNREGISTER = _IOR(UFFDIO, _UFFDIO_UNREGISTER, SZ_RANGE);
export const UFFDIO_WAKE = _IOR(UFFDIO, _UFFDIO_WAKE, SZ_RANGE);
export const UFFDIO_COPY = _IOWR(UFFDIO, _UFFDIO_COPY, SZ_COPY);
export const UFFDIO_ZEROPAGE = _IOWR(UFFDIO, _UFFDIO_ZEROPAGE, SZ_ZEROPAGE);
export const UFFDIO_MOVE = _IOWR(UFFDIO, _UFFDIO_MOVE, SZ_MOVE);
export const UFFDIO_WRITEPROTECT = _IOWR(UFFDIO, _UFFDIO_WRITEPROTECT, SZ_WRITEPROTECT);
export const UFFDIO_CONTINUE = _IOWR(UFFDIO, _UFFDIO_CONTINUE, SZ_CONTINUE);
export const UFFDIO_POISON = _IOWR(UFFDIO, _UFFDIO_POISON, SZ_POISON);

/** uffdio_api.features bits. */
export const UFFD_FEATURE_PAGEFAULT_FLAG_WP = 1 << 0;
export const UFFD_FEATURE_EVENT_FORK = 1 << 1;
export const UFFD_FEATURE_EVENT_REMAP = 1 << 2;
export const UFFD_FEATURE_EVENT_REMOVE = 1 << 3;
export const UFFD_FEATURE_MISSING_HUGETLBFS = 1 << 4;
export const UFFD_FEATURE_MISSING_SHMEM = 1 << 5;
export const UFFD_FEATURE_EVENT_UNMAP = 1 << 6;
export const UFFD_FEATURE_SIGBUS = 1 << 7;
export const UFFD_FEATURE_THREAD_ID = 1 << 8;
export const UFFD_FEATURE_MINOR_HUGETLBFS = 1 << 9;
export const UFFD_FEATURE_MINOR_SHMEM = 1 << 10;
export const UFFD_FEATURE_EXACT_ADDRESS = 1 << 11;
export const UFFD_FEATURE_WP_HUGETLBFS_SHMEM = 1 << 12;
export const UFFD_FEATURE_WP_UNPOPULATED = 1 << 13;
export const UFFD_FEATURE_POISON = 1 << 14;
export const UFFD_FEATURE_WP_ASYNC = 1 << 15;
export const UFFD_FEATURE_MOVE = 1 << 16;

/** Every feature Linux 6.12 defines (UFFD_API_FEATURES). */
export const UFFD_API_FEATURES =
  UFFD_FEATURE_PAGEFAULT_FLAG_WP |
  UFFD_FEATURE_EVENT_FORK |
  UFFD_FEATURE_EVENT_REMAP |
  UFFD_FEATURE_EVENT_REMOVE |
  UFFD_FEATURE_EVENT_UNMAP |
  UFFD_FEATURE_MISSING_HUGETLBFS |
  UFFD_FEATURE_MISSING_SHMEM |
  UFFD_FEATURE_SIGBUS |
  UFFD_FEATURE_THREAD_ID |
  UFFD_FEATURE_MINOR_HUGETLBFS |
  UFFD_FEATURE_MINOR_SHMEM |
  UFFD_FEATURE_EXACT_ADDRESS |
  UFFD_FEATURE_WP_HUGETLBFS_SHMEM |
  UFFD_FEATURE_WP_UNPOPULATED |
  UFFD_FEATURE_POISON |
  UFFD_FEATURE_WP_ASYNC |
  UFFD_FEATURE_MOVE;

/**
 * The ioctls a userfaultfd answers after UFFDIO_API (uffdio_api.ioctls): bit
 * 63 is UFFDIO_API itself, so the mask is a bigint (2^63 + 3 has no exact
 * JavaScript number).
 */
export const UFFD_API_IOCTLS = (1n << BigInt(_UFFDIO_REGISTER)) | (1n << BigInt(_UFFDIO_UNREGISTER)) | (1n << BigInt(_UFFDIO_API));
/** The range ioctls (uffdio_register.ioctls) of a non-hugetlb range. */
export const UFFD_API_RANGE_IOCTLS =
  (1 << _UFFDIO_WAKE) | (1 << _UFFDIO_COPY) | (1 << _UFFDIO_ZEROPAGE) | (1 << _UFFDIO_MOVE) | (1 << _UFFDIO_WRITEPROTECT) | (1 << _UFFDIO_CONTINUE) | (1 << _UFFDIO_POISON);
/** ... and of a range with hugetlb VMAs: no ZEROPAGE, no MOVE. */
export const UFFD_API_RANGE_IOCTLS_BASIC = (1 << _UFFDIO_WAKE) | (1 << _UFFDIO_COPY) | (1 << _UFFDIO_WRITEPROTECT) | (1 << _UFFDIO_CONTINUE) | (1 << _UFFDIO_POISON);

/** uffdio_register.mode. */
export const UFFDIO_REGISTER_MODE_MISSING = 1 << 0;
export const UFFDIO_REGISTER_MODE_WP = 1 << 1;
export const UFFDIO_REGISTER_MODE_MINOR = 1 << 2;

export const UFFDIO_COPY_MODE_DONTWAKE = 1 << 0;
export const UFFDIO_COPY_MODE_WP = 1 << 1;
export const UFFDIO_ZEROPAGE_MODE_DONTWAKE = 1 << 0;
export const UFFDIO_WRITEPROTECT_MODE_WP = 1 << 0;
export const UFFDIO_WRITEPROTECT_MODE_DONTWAKE = 1 << 1;
export const UFFDIO_CONTINUE_MODE_DONTWAKE = 1 << 0;
export const UFFDIO_CONTINUE_MODE_WP = 1 << 1;
export const UFFDIO_POISON_MODE_DONTWAKE = 1 << 0;
export const UFFDIO_MOVE_MODE_DONTWAKE = 1 << 0;
export const UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES = 1 << 1;

/** uffd_msg.event. */
export const UFFD_EVENT_PAGEFAULT = 0x12;
export const UFFD_EVENT_FORK = 0x13;
export const UFFD_EVENT_REMAP = 0x14;
export const UFFD_EVENT_REMOVE = 0x15;
export const UFFD_EVENT_UNMAP = 0x16;

/** uffd_msg.arg.pagefault.flags. */
export const UFFD_PAGEFAULT_FLAG_WRITE = 1 << 0;
export const UFFD_PAGEFAULT_FLAG_WP = 1 << 1;
export const UFFD_PAGEFAULT_FLAG_MINOR = 1 << 2;

/** sizeof(struct uffd_msg). */
export const UFFD_MSG_SIZE = 32;

/**
 * struct uffd_msg, decoded. arg is a C union: every view is decoded from the
 * same 24 bytes, so code reads the member its event names, as C does.
 */
export interface UffdMsg {
  event: number;
  arg: {
    /** flags: the low 32 bits of the __u64 (every defined flag is there). */
    pagefault: { flags: number; address: number | bigint; feat: { ptid: number } };
    fork: { ufd: number };
    remap: { from: number | bigint; to: number | bigint; len: number | bigint };
    remove: { start: number | bigint; end: number | bigint };
  };
}

export interface UffdioApi {
  api: number | bigint;
  features: number | bigint;
  ioctls: number | bigint;
}

export interface UffdioRange {
  start: number | bigint;
  len: number | bigint;
}

export interface UffdioRegister {
  range: UffdioRange;
  mode: number | bigint;
  ioctls: number | bigint;
}

export interface UffdioCopy {
  dst: number | bigint;
  src: number | bigint;
  len: number | bigint;
  mode: number | bigint;
  copy: number | bigint;
}

export interface UffdioZeropage {
  range: UffdioRange;
  mode: number | bigint;
  zeropage: number | bigint;
}

export interface UffdioWriteprotect {
  range: UffdioRange;
  mode: number | bigint;
}

export interface UffdioContinue {
  range: UffdioRange;
  mode: number | bigint;
  mapped: number | bigint;
}

export interface UffdioPoison {
  range: UffdioRange;
  mode: number | bigint;
  updated: number | bigint;
}

export interface UffdioMove {
  dst: number | bigint;
  src: number | bigint;
  len: number | bigint;
  mode: number | bigint;
  move: number | bigint;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A u64 as a number while exact, else the bigint. */
function u64(v: bigint): number | bigint {
  return v <= MAX_SAFE ? Number(v) : v;
}

/**
 * Decode the 32-byte struct uffd_msg at off in buf (little-endian, packed):
 * event at 0, the union at 8 (pagefault: flags 8, address 16, ptid 24; fork:
 * ufd 8; remap: from 8, to 16, len 24; remove: start 8, end 16).
 */
export function decodeUffdMsg(buf: Uint8Array, off = 0): UffdMsg {
  if (off < 0 || off + UFFD_MSG_SIZE > buf.length) throw new RangeError('a uffd_msg is 32 bytes');
  const dv = new DataView(buf.buffer, buf.byteOffset + off, UFFD_MSG_SIZE);
  const q = (at: number) => u64(dv.getBigUint64(at, true));
  return {
    event: dv.getUint8(0),
    arg: {
      pagefault: { flags: Number(dv.getBigUint64(8, true) & 0xffffffffn), address: q(16), feat: { ptid: dv.getUint32(24, true) } },
      fork: { ufd: dv.getUint32(8, true) },
      remap: { from: q(8), to: q(16), len: q(24) },
      remove: { start: q(8), end: q(16) },
    },
  };
}
