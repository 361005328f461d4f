/**
 * How the simulated kernel reports failure to its callers.
 *
 * A syscall that Linux would fail with -errno throws SyscallError, shaped like
 * Node's fs errors: `code` ('EINVAL'), `errno` (22) and `syscall` ('munmap').
 * A CPU access that Linux would answer with a signal throws SignalError.
 */
import { describeValue, textOf } from '../lib/describe.js';
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

  /**
   * Never throws, whatever the arguments: they are formatted without running
   * any of their code (a Symbol, a BigInt, a revoked Proxy). A code that is
   * not an errno name keeps its text, with errno 0.
   */
  constructor(code: ErrnoName, syscall: string, detail?: string) {
    const known = typeof code === 'string' && Object.prototype.hasOwnProperty.call(errno, code);
    const name = textOf(code);
    const text = known ? (strerror[code] ?? code) : name;
    const call = textOf(syscall);
    const extra = detail === undefined || detail === '' ? '' : ` (${textOf(detail)})`;
    super(`${name}: ${text.toLowerCase()}, ${call}${extra}`);
    this.name = 'SyscallError';
    this.code = name as ErrnoName;
    this.errno = known ? errno[code] : 0;
    this.syscall = call;
  }
}

/** SIGKILL is the OOM killer's answer to a fault that cannot get memory. */
export type SignalName = 'SIGSEGV' | 'SIGBUS' | 'SIGKILL';

export class SignalError extends Error {
  /** 'SIGSEGV', 'SIGBUS', or 'SIGKILL' (OOM kill). */
  readonly signal: SignalName;
  /** The faulting user address (si_addr). */
  readonly addr: number;

  /** Never throws, whatever the arguments (see SyscallError). */
  constructor(signal: SignalName, addr: number, detail?: string) {
    super(`${textOf(signal)} at ${formatAddr(addr)}${detail === undefined || detail === '' ? '' : ` (${textOf(detail)})`}`);
    this.name = 'SignalError';
    this.signal = signal;
    this.addr = addr;
  }
}

/** An address as hex when it is a number (NaN and the like as they print); anything else described. */
export function formatAddr(addr: unknown): string {
  if (typeof addr === 'number') return Number.isFinite(addr) ? `${addr < 0 ? '-' : ''}0x${Math.abs(addr).toString(16)}` : `${addr}`;
  if (typeof addr === 'bigint') return `${addr < 0n ? '-' : ''}0x${(addr < 0n ? -addr : addr).toString(16)}`;
  return describeValue(addr);
}
