/**
 * Numbers with units, shared by every renderer so a value reads the same in
 * the terminal, in Markdown and in the HTML page.
 *
 * No Intl/toLocaleString: output must not depend on the machine's locale or
 * ICU data (reports are compared byte for byte). Binary prefixes for bytes,
 * because kernel sizes are powers of two (a THP is 2 MiB, not 2.10 MB).
 *
 * Spread over seeds is always shown as a range, `31.9 MiB (30.2–33.0)`: a ±
 * would hide that the spread around a median is rarely symmetric.
 */
import type { Stat, Unit } from './model.js';

/** A display scale for one unit and magnitude: value / factor, then suffix. */
export interface Scale {
  factor: number;
  suffix: string;
}

const BYTE_SCALES: Scale[] = [
  { factor: 1, suffix: 'B' },
  { factor: 2 ** 10, suffix: 'KiB' },
  { factor: 2 ** 20, suffix: 'MiB' },
  { factor: 2 ** 30, suffix: 'GiB' },
  { factor: 2 ** 40, suffix: 'TiB' },
];

const NS_SCALES: Scale[] = [
  { factor: 1, suffix: 'ns' },
  { factor: 1e3, suffix: 'µs' },
  { factor: 1e6, suffix: 'ms' },
  { factor: 1e9, suffix: 's' },
];

/** Units counted in whole things: grouped digits, the noun after the number. */
const NOUNS: Partial<Record<Unit, [string, string]>> = {
  pages: ['page', 'pages'],
  pins: ['pin', 'pins'],
  bits: ['bit', 'bits'],
};

/** What a row or axis label says the unit is ('fork copies (pages)'). */
export function unitName(unit: Unit): string {
  return unit === 'ratio' ? '%' : unit;
}

/** The largest scale whose factor does not exceed |magnitude| (so 1023 B stays in B). */
export function pickScale(unit: Unit, magnitude: number): Scale {
  const m = Math.abs(magnitude);
  if (unit === 'ratio') return { factor: 0.01, suffix: '%' };
  const scales = unit === 'bytes' ? BYTE_SCALES : unit === 'ns' ? NS_SCALES : undefined;
  if (scales === undefined) return { factor: 1, suffix: '' };
  let pick = scales[0]!;
  for (const s of scales) if (m >= s.factor) pick = s;
  return pick;
}

/** Decimals that give three significant digits (at least the integer part; at most 6). */
function sigDecimals(scaled: number): number {
  const m = Math.abs(scaled);
  return m >= 100 ? 0 : m >= 10 ? 1 : m >= 1 || m === 0 ? 2 : Math.min(6, 2 - Math.floor(Math.log10(m)));
}

/** Whole scaled values print without decimals ('2 MiB', '512 pages'). */
function decimalsFor(scaled: number): number {
  return Number.isInteger(scaled) ? 0 : sigDecimals(scaled);
}

/** value in the scale's units; ratios multiply so 0.07 is 7, and float noise (7.000000000000001) is dropped. */
export function toScale(value: number, unit: Unit, scale: Scale): number {
  const scaled = unit === 'ratio' ? value * 100 : value / scale.factor;
  return Number(scaled.toPrecision(12));
}

/** 1234567.5 → '1,234,567.5'; deterministic, locale-free. */
export function groupDigits(value: number, decimals: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  const fixed = Math.abs(value).toFixed(decimals);
  const [int, frac] = fixed.split('.') as [string, string | undefined];
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  // toFixed can round a tiny negative to zero: no '-0'.
  const negative = value < 0 && Number(fixed) !== 0;
  return (negative ? '-' : '') + grouped + (frac === undefined ? '' : '.' + frac);
}

function withSuffix(number: string, unit: Unit, scale: Scale, median: number): string {
  const noun = NOUNS[unit];
  if (noun !== undefined) return `${number} ${median === 1 ? noun[0] : noun[1]}`;
  if (unit === 'ratio') return `${number}%`;
  return scale.suffix === '' ? number : `${number} ${scale.suffix}`;
}

/** One value with its unit: '31.9 MiB', '850 ns', '1,024 pages', '12.5%', '3,210'. */
export function formatValue(value: number, unit: Unit): string {
  if (!Number.isFinite(value)) return 'n/a';
  const scale = pickScale(unit, value);
  const scaled = toScale(value, unit, scale);
  return withSuffix(groupDigits(scaled, decimalsFor(scaled)), unit, scale, value);
}

/**
 * A statistic over seeds: the median with its unit, then the min–max range in
 * the median's scale when the seeds disagree at display precision.
 */
export function formatStat(stat: Stat, unit: Unit): string {
  const main = formatValue(stat.median, unit);
  const range = formatRange(stat, unit);
  return range === '' ? main : `${main} ${range}`;
}

/** '(30.2–33.0)', or '' when min and max print the same (no visible spread). */
export function formatRange(stat: Stat, unit: Unit): string {
  if (stat.min === stat.max) return '';
  const scale = pickScale(unit, stat.median === 0 ? stat.max : stat.median);
  const lo = toScale(stat.min, unit, scale);
  const hi = toScale(stat.max, unit, scale);
  const mid = toScale(stat.median, unit, scale);
  const decimals = Number.isInteger(lo) && Number.isInteger(hi) ? 0 : sigDecimals(mid === 0 ? hi : mid);
  const a = groupDigits(lo, decimals);
  const b = groupDigits(hi, decimals);
  return a === b ? '' : `(${a}–${b})`;
}
