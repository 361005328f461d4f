/**
 * io_uring's uAPI (include/uapi/linux/io_uring.h), the parts the model has:
 * io_uring_setup flags and params, io_uring_register opcodes, and the fixed
 * buffer read/write opcodes. Argument objects carry the struct field names:
 *
 *   struct io_uring_params { sq_entries, cq_entries, flags, sq_thread_cpu,
 *                            sq_thread_idle, features, wq_fd, resv[3],
 *                            sq_off, cq_off }
 */

/** io_uring_setup flags (IORING_SETUP_*). */
export const IORING_SETUP_IOPOLL = 1 << 0;
export const IORING_SETUP_SQPOLL = 1 << 1;
export const IORING_SETUP_SQ_AFF = 1 << 2;
export const IORING_SETUP_CQSIZE = 1 << 3;
export const IORING_SETUP_CLAMP = 1 << 4;
export const IORING_SETUP_ATTACH_WQ = 1 << 5;
export const IORING_SETUP_R_DISABLED = 1 << 6;
export const IORING_SETUP_SUBMIT_ALL = 1 << 7;
export const IORING_SETUP_COOP_TASKRUN = 1 << 8;
export const IORING_SETUP_TASKRUN_FLAG = 1 << 9;
export const IORING_SETUP_SQE128 = 1 << 10;
export const IORING_SETUP_CQE32 = 1 << 11;
export const IORING_SETUP_SINGLE_ISSUER = 1 << 12;
export const IORING_SETUP_DEFER_TASKRUN = 1 << 13;
export const IORING_SETUP_NO_MMAP = 1 << 14;
export const IORING_SETUP_REGISTERED_FD_ONLY = 1 << 15;
export const IORING_SETUP_NO_SQARRAY = 1 << 16;
export const IORING_SETUP_HYBRID_IOPOLL = 1 << 17;

/** Most submission queue entries (IORING_MAX_ENTRIES) and completion entries (IORING_MAX_CQ_ENTRIES). */
export const IORING_MAX_ENTRIES = 32768;
export const IORING_MAX_CQ_ENTRIES = 2 * IORING_MAX_ENTRIES;
/** Most fixed buffers one ring registers (IORING_MAX_REG_BUFFERS). */
export const IORING_MAX_REG_BUFFERS = 1 << 14;

/** io_uring_register opcodes. */
export const IORING_REGISTER_BUFFERS = 0;
export const IORING_UNREGISTER_BUFFERS = 1;
export const IORING_REGISTER_FILES = 2;
export const IORING_UNREGISTER_FILES = 3;
/** One past the last opcode the model's kernel (v6.15) knows. */
export const IORING_REGISTER_LAST = 35;
/** Flag on the opcode: fd is an index into the registered ring fds. */
export const IORING_REGISTER_USE_REGISTERED_RING = 0x80000000;

/** Submission opcodes (IORING_OP_*) the model executes. */
export const IORING_OP_READ_FIXED = 4;
export const IORING_OP_WRITE_FIXED = 5;

/** struct io_uring_params (out-fields: sq_entries, cq_entries, features, sq_off, cq_off). */
export interface IoUringParams {
  sq_entries?: number;
  cq_entries?: number;
  flags?: number;
  sq_thread_cpu?: number;
  sq_thread_idle?: number;
  features?: number;
  wq_fd?: number;
  resv?: number[];
  sq_off?: unknown;
  cq_off?: unknown;
}
