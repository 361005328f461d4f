/** Linux uAPI constants, with Linux's names and values (x86-64). */
export * from './mman.js';
export * from './fcntl.js';
export * from './falloc.js';
export * from './memfd.js';
export * from './kernel_page_flags.js';
export * from './limits.js';
export * from './magic.js';
export * from './statfs.js';
export { errno, errnoName, EWOULDBLOCK, EDEADLOCK, ENOTSUP, type ErrnoName } from './errno.js';
export * from './ioctl.js';
export * from './gup_test.js';
export * from './uio.js';
export * from './io_uring.js';
export * from './vfio.js';
export * from './userfaultfd.js';
export * from './kvm.js';
export * from './swap.js';
