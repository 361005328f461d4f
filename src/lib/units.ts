/** Parsing and printing sizes the way kernel people write them ("64GiB", "2M", 4096). */

const SUFFIX: Record<string, number> = {
  '': 1,
  b: 1,
  k: 2 ** 10,
  kb: 2 ** 10,
  kib: 2 ** 10,
  m: 2 ** 20,
  mb: 2 ** 20,
  mib: 2 ** 20,
  g: 2 ** 30,
  gb: 2 ** 30,
  gib: 2 ** 30,
  t: 2 ** 40,
  tb: 2 ** 40,
  tib: 2 ** 40,
  p: 2 ** 50,
  pb: 2 ** 50,
  pib: 2 ** 50,
};

/**
 * Parse a byte size: a non-negative integer number, or a string such as "64GiB",
 * "2M", "512 KiB". Binary multiples throughout (as memparse() does). Returns
 * undefined for anything that is not a whole, finite, non-negative size.
 */
export function parseSize(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : undefined;
  if (typeof v !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(v);
  if (!m) return undefined;
  const mult = SUFFIX[m[2]!.toLowerCase()];
  if (mult === undefined) return undefined;
  const bytes = Number(m[1]) * mult;
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** Format bytes with the largest binary unit that divides them exactly ("1GiB", "6KiB", "4097B"). */
export function formatSize(bytes: number): string {
  const units: [string, number][] = [
    ['PiB', 2 ** 50],
    ['TiB', 2 ** 40],
    ['GiB', 2 ** 30],
    ['MiB', 2 ** 20],
    ['KiB', 2 ** 10],
  ];
  for (const [name, n] of units) if (bytes >= n && bytes % n === 0) return `${bytes / n}${name}`;
  return `${bytes}B`;
}
