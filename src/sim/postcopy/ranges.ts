/** How much of [a, b) an ExtentSet holds. */
import type { ExtentSet } from '../../lib/extent_set.js';

export function covered(s: ExtentSet, a: number, b: number): number {
  let n = 0;
  s.forEach((x, y) => (n += y - x), a, b);
  return n;
}
