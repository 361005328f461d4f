/**
 * io_uring_register(2) (mirrors io_uring/register.c): the buffer opcodes.
 * Other opcodes below IORING_REGISTER_LAST are not modelled and fail with
 * EINVAL, as __io_uring_register's default case does.
 */
import type { ErrnoName } from '../uapi/errno.js';
import { IORING_REGISTER_BUFFERS, IORING_REGISTER_LAST, IORING_REGISTER_USE_REGISTERED_RING, IORING_UNREGISTER_BUFFERS } from '../uapi/io_uring.js';
import type { MmStruct } from '../mm/mm_types.js';
import type { OpenFile } from '../fs/file.js';
import { isUringFile, ringCtx } from './io_uring.js';
import { sqeBuffersRegister, sqeBuffersUnregister } from './rsrc.js';

/** Is arg a NULL pointer (a C caller's 0)? */
function isNull(arg: unknown): boolean {
  return arg === 0 || arg === 0n || arg === null || arg === undefined;
}

// mirrors io_uring/register.c:__io_uring_register
function ioUringRegisterCtx(mm: MmStruct, file: OpenFile, opcode: number, arg: unknown, nrArgs: number | null): number | ErrnoName {
  const ctx = ringCtx(file);
  // No registration once the ring is dying.
  if (ctx.dying) return 'ENXIO';
  if (nrArgs === null) return 'EINVAL';
  switch (opcode) {
    case IORING_REGISTER_BUFFERS:
      if (isNull(arg)) return 'EFAULT';
      return sqeBuffersRegister(ctx.host, mm, ctx.bufTable, arg, nrArgs) ?? 0;
    case IORING_UNREGISTER_BUFFERS:
      if (!isNull(arg) || nrArgs !== 0) return 'EINVAL';
      return sqeBuffersUnregister(ctx.host, ctx.bufTable) ?? 0;
    default:
      return 'EINVAL';
  }
}

/**
 * io_uring_register(fd, opcode, arg, nr_args) with fd, opcode and nr_args
 * already unsigned ints (null: no C value, refused where the kernel looks at
 * it); lookup(fd) is the caller's fdget.
 */
// mirrors io_uring/register.c:SYSCALL_DEFINE4(io_uring_register)
export function doIoUringRegister(mm: MmStruct, lookup: (fd: number) => OpenFile | undefined, fd: number | null, opcode: number | null, arg: unknown, nrArgs: number | null): number | ErrnoName {
  if (opcode === null) return 'EINVAL';
  const useRegisteredRing = (opcode & IORING_REGISTER_USE_REGISTERED_RING) !== 0;
  opcode = (opcode & ~IORING_REGISTER_USE_REGISTERED_RING) >>> 0;
  if (opcode >= IORING_REGISTER_LAST) return 'EINVAL';
  // fd -1: the "blind" opcodes that need no ring; the buffer ones are not among them.
  if (fd === 0xffffffff) return 'EINVAL';
  // io_uring_register_get_file: a registered ring index needs IORING_REGISTER_RING_FDS (not modelled).
  if (useRegisteredRing) return 'EINVAL';
  const file = fd === null ? undefined : lookup(fd);
  if (file === undefined) return 'EBADF';
  if (!isUringFile(file)) return 'EOPNOTSUPP';
  return ioUringRegisterCtx(mm, file, opcode, arg, nrArgs);
}
