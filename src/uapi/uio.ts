/**
 * struct iovec and the splice/vmsplice flags (include/uapi/linux/uio.h,
 * include/linux/splice.h, include/linux/pipe_fs_i.h).
 *
 * An iovec array is passed as a JS array of `{ iov_base, iov_len }` objects
 * (a single object counts as a pointer to one struct, as `&iov` in C).
 */

/** struct iovec. */
export interface Iovec {
  iov_base: number | bigint;
  iov_len: number | bigint;
}

/** The most segments one call takes (UIO_MAXIOV). */
export const UIO_MAXIOV = 1024;
/** Segments kept on the stack before allocating (UIO_FASTIOV). */
export const UIO_FASTIOV = 8;

/** splice(2) / vmsplice(2) flags. */
export const SPLICE_F_MOVE = 0x01;
export const SPLICE_F_NONBLOCK = 0x02;
export const SPLICE_F_MORE = 0x04;
export const SPLICE_F_GIFT = 0x08;
/** Every flag splice/vmsplice accept (SPLICE_F_ALL). */
export const SPLICE_F_ALL = SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | SPLICE_F_GIFT;

/** Buffers in a new pipe (PIPE_DEF_BUFFERS): 16 pages, 64 KiB. */
export const PIPE_DEF_BUFFERS = 16;
