/** Shared by the behaviour tests: what a syscall threw, by errno name. */
import { SignalError, SyscallError } from '../../src/uapi/errors.js';

/** The SyscallError code fn threw ('EINVAL', ...), or 'ok' if it returned. Anything else is rethrown. */
export function syscallCode(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof SyscallError) return e.code;
    throw e;
  }
  return 'ok';
}

/** The signal a CPU access in fn raised ('SIGBUS', ...), or null if it completed. Anything else is rethrown. */
export function signalOf(fn: () => unknown): string | null {
  try {
    fn();
  } catch (e) {
    if (e instanceof SignalError) return e.signal;
    throw e;
  }
  return null;
}
