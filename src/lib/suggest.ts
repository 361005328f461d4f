/**
 * "Did you mean ...?" for unknown names: the valid name at the smallest edit
 * distance, if it is close enough to be a plausible typo.
 */
import { distance } from 'fastest-levenshtein';

/** The closest candidates to `input` within a typo's distance, best first. */
export function closest(input: string, candidates: readonly string[]): string[] {
  const limit = Math.max(2, Math.ceil(input.length / 3));
  const scored = candidates.map((c) => ({ c, d: distance(input.toLowerCase(), c.toLowerCase()) })).filter((s) => s.d <= limit);
  scored.sort((a, b) => a.d - b.d || (a.c < b.c ? -1 : 1));
  return scored.map((s) => s.c);
}

/** " (did you mean 'x'?)" or "". */
export function nearest(input: string, candidates: readonly string[]): string {
  const c = closest(input, candidates);
  return c.length > 0 ? ` (did you mean '${c[0]}'?)` : '';
}
