/**
 * How the simulated kernel reports failure to its callers.
 *
 * A syscall that Linux would fail with -errno throws SyscallError, shaped like
 * Node's fs errors: `code` ('EINVAL'), `errno` (22) and `syscall` ('munmap').
 * A CPU access that Linux would answer with a signal throws SignalError.
 */
import { errno, type ErrnoName } from './errno.js';

/** glibc's strerror() text for the errnos the model produces. */
const strerror: Partial<Record<ErrnoName, string>> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  ESRCH: 'No such process',
  EINTR: 'Interrupted system call',
  EIO: 'Input/output error',
  ENXIO: 'No such device or address',
  EBADF: 'Bad file descriptor',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EFAULT: 'Bad address',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  ENODEV: 'No such device',
  EISDIR: 'Is a directory',
  EINVAL: 'Invalid argument',
  EMFILE: 'Too many open files',
  ENOTTY: 'Inappropriate ioctl for device',
  EFBIG: 'File too large',
  ENOSPC: 'No space left on device',
  ESPIPE: 'Illegal seek',
  EPIPE: 'Broken pipe',
  ENOPKG: 'Package not installed',
  EOVERFLOW: 'Value too large for defined data type',
  EOPNOTSUPP: 'Operation not supported',
  EHWPOISON: 'Memory page has hardware error',
  EREMOTEIO: 'Remote I/O error',
};

export class SyscallError extends Error {
  /** The errno name, e.g. 'EINVAL'. */
  readonly code: ErrnoName;
  /** The errno number, e.g. 22. */
  readonly errno: number;
  /** The syscall (or ioctl command) that failed. */
  readonly syscall: string;

  constructor(code: ErrnoName, syscall: string, detail?: string) {
    const text = strerror[code] ?? code;
    super(`${code}: ${text.toLowerCase()}, ${syscall}${detail ? ` (${detail})` : ''}`);
    this.name = 'SyscallError';
    this.code = code;
    this.errno = errno[code];
    this.syscall = syscall;
  }
}

/** SIGKILL is the OOM killer's answer to a fault that cannot get memory. */
export type SignalName = 'SIGSEGV' | 'SIGBUS' | 'SIGKILL';

export class SignalError extends Error {
  /** 'SIGSEGV', 'SIGBUS', or 'SIGKILL' (OOM kill). */
  readonly signal: SignalName;
  /** The faulting user address (si_addr). */
  readonly addr: number;

  constructor(signal: SignalName, addr: number, detail?: string) {
    super(`${signal} at 0x${addr.toString(16)}${detail ? ` (${detail})` : ''}`);
    this.name = 'SignalError';
    this.signal = signal;
    this.addr = addr;
  }
}
