import { describe, expect, it } from 'vitest';
import { formatRange, formatStat, formatValue, groupDigits, pickScale, unitName } from './format.js';
import { Unit, type Stat } from './model.js';

const stat = (median: number, min = median, max = median): Stat => ({ median, min, max, values: [min, median, max] });

describe('formatValue', () => {
  it.each([
    [0, '0 B'],
    [512, '512 B'],
    [1023, '1,023 B'],
    [1024, '1 KiB'],
    [1536, '1.50 KiB'],
    [98_304, '96 KiB'],
    [2 * 2 ** 20, '2 MiB'],
    [31.9 * 2 ** 20, '31.9 MiB'],
    [2 ** 30, '1 GiB'],
    [1.5 * 2 ** 40, '1.50 TiB'],
    [3 * 2 ** 50, '3,072 TiB'],
  ])('bytes %d → %s', (v, s) => expect(formatValue(v, 'bytes')).toBe(s));

  it.each([
    [0, '0 ns'],
    [850, '850 ns'],
    [999, '999 ns'],
    [1000, '1 µs'],
    [20_133, '20.1 µs'],
    [663_000, '663 µs'],
    [2_750_000, '2.75 ms'],
    [1_500_000_000, '1.50 s'],
    [12_345_000_000_000, '12,345 s'],
  ])('ns %d → %s', (v, s) => expect(formatValue(v, 'ns')).toBe(s));

  it('pages, pins and bits: grouped digits and a singular for one', () => {
    expect(formatValue(65_536, 'pages')).toBe('65,536 pages');
    expect(formatValue(1, 'pages')).toBe('1 page');
    expect(formatValue(0, 'pins')).toBe('0 pins');
    expect(formatValue(1, 'pins')).toBe('1 pin');
    expect(formatValue(48, 'bits')).toBe('48 bits');
    expect(formatValue(1, 'bits')).toBe('1 bit');
    expect(formatValue(12.5, 'pages')).toBe('12.5 pages');
  });

  it('counts: grouped digits and no noun (the metric label says what is counted)', () => {
    expect(formatValue(1_234_567, 'count')).toBe('1,234,567');
    expect(formatValue(0.5, 'count')).toBe('0.500');
  });

  it('ratios as percentages, without float noise', () => {
    expect(formatValue(1, 'ratio')).toBe('100%');
    expect(formatValue(0.07, 'ratio')).toBe('7%');
    expect(formatValue(23 / 24, 'ratio')).toBe('95.8%');
    expect(formatValue(0.000123, 'ratio')).toBe('0.0123%');
  });

  it('negative values keep their sign, and nothing prints as -0', () => {
    expect(formatValue(-2 * 2 ** 20, 'bytes')).toBe('-2 MiB');
    expect(groupDigits(-0.0001, 2)).toBe('0.00');
    expect(formatValue(-1500, 'count')).toBe('-1,500');
  });

  it('every unit but count prints its unit', () => {
    for (const u of Unit.options) {
      if (u === 'count') continue;
      expect(formatValue(1234.5, u), u).toMatch(/(B|KiB|ns|µs|pages|pins|bits|%)$/);
    }
  });

  it('does not depend on the locale', () => {
    expect(groupDigits(1234567.891, 2)).toBe('1,234,567.89');
  });
});

describe('formatStat', () => {
  it('is the median alone when the seeds agree', () => {
    expect(formatStat(stat(2 ** 21), 'bytes')).toBe('2 MiB');
  });

  it('adds the min–max range in the median’s scale when they differ', () => {
    expect(formatStat(stat(31.9 * 2 ** 20, 30.2 * 2 ** 20, 33 * 2 ** 20), 'bytes')).toBe('31.9 MiB (30.2–33.0)');
    expect(formatStat(stat(663_000, 654_000, 670_000), 'ns')).toBe('663 µs (654–670)');
    expect(formatStat(stat(1000, 990, 1010), 'pages')).toBe('1,000 pages (990–1,010)');
    expect(formatStat(stat(2 ** 21, 1.5 * 2 ** 20, 2 ** 21), 'bytes')).toBe('2 MiB (1.50–2.00)');
  });

  it('drops a range too small to show at the median’s precision', () => {
    expect(formatRange(stat(2_750_001, 2_750_000, 2_750_002), 'ns')).toBe('');
  });
});

describe('scales and names', () => {
  it('pick the largest unit not above the magnitude', () => {
    expect(pickScale('bytes', 1023).suffix).toBe('B');
    expect(pickScale('bytes', 3 * 2 ** 30).suffix).toBe('GiB');
    expect(pickScale('ns', 5e6).suffix).toBe('ms');
    expect(pickScale('pages', 1e9)).toEqual({ factor: 1, suffix: '' });
  });

  it('name units for labels', () => {
    expect(unitName('ratio')).toBe('%');
    expect(unitName('bytes')).toBe('bytes');
  });
});
