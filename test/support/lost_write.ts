/**
 * Tests only: a kernel that loses a write. While installed, every read of a
 * written byte comes back one off, so the soak's shadow must catch it.
 */
import { vi } from 'vitest';
import { Process } from '../../src/process.js';

/** Install the fault; call the returned function to remove it. */
export function loseWrites(): () => void {
  const real = Process.prototype.read;
  const spy = vi.spyOn(Process.prototype, 'read').mockImplementation(function (this: Process, addr: unknown, len: unknown) {
    const out = real.call(this, addr, len);
    if (out[0] !== 0) out[0] = (out[0]! + 1) & 0xff;
    return out;
  });
  return () => spy.mockRestore();
}
