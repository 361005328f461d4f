/** Set operations on ExtentSet that tolerate overlap (ExtentSet.add and remove insist on exact free/used ranges). */
import type { ExtentSet } from '../../lib/extent_set.js';

/** Add [a, b), whatever part of it is already there. */
export function addRange(s: ExtentSet, a: number, b: number): void {
  let at = a;
  const gaps: [number, number][] = [];
  s.forEach((x, y) => {
    if (x > at) gaps.push([at, x]);
    at = y;
  }, a, b);
  if (at < b) gaps.push([at, b]);
  for (const [x, y] of gaps) s.add(x, y);
}

/** Remove whatever of [a, b) is there; returns how much that was. */
export function removeRange(s: ExtentSet, a: number, b: number): number {
  const runs: [number, number][] = [];
  s.forEach((x, y) => runs.push([x, y]), a, b);
  let n = 0;
  for (const [x, y] of runs) {
    s.remove(x, y);
    n += y - x;
  }
  return n;
}

/** How much of [a, b) is in s. */
export function covered(s: ExtentSet, a: number, b: number): number {
  let n = 0;
  s.forEach((x, y) => (n += y - x), a, b);
  return n;
}
