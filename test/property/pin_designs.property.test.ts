/**
 * Random pin, unpin, fork and mapping changes under a pin-accounting design
 * picked at random from the registry. After every step the oracle must be
 * clean (pmd-aggregate may report the pinned-but-shared pages it is known to
 * lose), and a design that claims it cannot miss a pin (mayMissPins false)
 * must have answered "not pinned" for no pinned page and lost none to COW.
 *
 * Environment: FOLIOSIM_PROP_SEED, FOLIOSIM_PROP_PATH, FOLIOSIM_PROP_RUNS as in
 * syscalls.property.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FOLL_LONGTERM, FOLL_WRITE, Kernel, type Process } from '../../src/index.js';
import { PIN_ACCOUNTING, createPinAccounting } from '../../src/policy/registry.js';
import { MADV_DONTNEED, MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MREMAP_FIXED, MREMAP_MAYMOVE, PROT_READ, PROT_WRITE } from '../../src/uapi/index.js';

const env = globalThis.process.env;
const seed = env.FOLIOSIM_PROP_SEED !== undefined ? Number(env.FOLIOSIM_PROP_SEED) : undefined;
const path = env.FOLIOSIM_PROP_PATH;
const factor = env.FOLIOSIM_PROP_RUNS !== undefined ? Number(env.FOLIOSIM_PROP_RUNS) : 1;

const PAGE = 4096;
const MiB = 2 ** 20;
/** The region under test: 4 THPs of anonymous memory. */
const PAGES = 2048;
const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;

type Op =
  | { op: 'pin'; page: number; n: number; flags: number; fast: boolean }
  | { op: 'unpin'; which: number }
  | { op: 'fork' }
  | { op: 'exitChild'; which: number }
  | { op: 'fill'; page: number; n: number; byte: number }
  | { op: 'childFill'; which: number; page: number; byte: number }
  | { op: 'mprotect'; page: number; n: number }
  | { op: 'dontneed'; page: number; n: number }
  | { op: 'remap'; page: number; n: number }
  | { op: 'move'; page: number; slot: number };

const pageArb = fc.nat({ max: PAGES - 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('pin' as const), page: pageArb, n: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.constant(512)), flags: fc.constantFrom(0, FOLL_WRITE, FOLL_WRITE | FOLL_LONGTERM), fast: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('unpin' as const), which: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('fork' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('exitChild' as const), which: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('fill' as const), page: pageArb, n: fc.integer({ min: 1, max: 600 }), byte: fc.integer({ min: 1, max: 255 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('childFill' as const), which: fc.nat(), page: pageArb, byte: fc.integer({ min: 1, max: 255 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('mprotect' as const), page: pageArb, n: fc.integer({ min: 1, max: 16 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('dontneed' as const), page: pageArb, n: fc.integer({ min: 1, max: 16 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('remap' as const), page: pageArb, n: fc.integer({ min: 1, max: 16 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('move' as const), page: pageArb, slot: fc.nat({ max: 63 }) }) },
);

/** Run ops on one kernel; returns nothing, asserts as it goes. */
function run(design: string, ops: readonly Op[]): void {
  const mayMiss = createPinAccounting({ pinAccounting: design, exclusivePin: 'off' }).mayMissPins;
  const k = new Kernel({ memory: '128MiB', thp: 'always', policy: { pinAccounting: design } });
  const p = k.spawn();
  const raw = p.mmap(0, PAGES * PAGE + 2 * MiB, RW, ANON, -1, 0);
  const base = Math.ceil(raw / (2 * MiB)) * 2 * MiB;
  p.fill(base, PAGES * PAGE, 0x11);
  // Where moved pages go: 64 page slots of their own mapping.
  const scratch = p.mmap(0, 64 * PAGE, RW, ANON, -1, 0);
  const pins: number[][] = [];
  const children: Process[] = [];
  const clamp = (page: number, n: number): number => Math.min(n, PAGES - page);
  for (const o of ops) {
    switch (o.op) {
      case 'pin': {
        const n = clamp(o.page, o.n);
        const pages: number[] = [];
        const got = o.fast ? k.gup.pin_user_pages_fast(p, base + o.page * PAGE, n, o.flags, pages) : k.gup.pin_user_pages(p, base + o.page * PAGE, n, o.flags, pages);
        if (got > 0) pins.push(pages.slice(0, got));
        break;
      }
      case 'unpin': {
        if (pins.length === 0) break;
        const [pages] = pins.splice(o.which % pins.length, 1);
        k.gup.unpin_user_pages(pages!, pages!.length);
        break;
      }
      case 'fork':
        if (children.length < 4) children.push(p.fork());
        break;
      case 'exitChild':
        if (children.length > 0) children.splice(o.which % children.length, 1)[0]!.exit();
        break;
      case 'fill':
        p.fill(base + o.page * PAGE, clamp(o.page, o.n) * PAGE, o.byte);
        break;
      case 'childFill':
        if (children.length > 0) children[o.which % children.length]!.fill(base + o.page * PAGE, PAGE, o.byte);
        break;
      case 'mprotect': {
        const len = clamp(o.page, o.n) * PAGE;
        p.mprotect(base + o.page * PAGE, len, PROT_READ);
        p.mprotect(base + o.page * PAGE, len, RW);
        break;
      }
      case 'dontneed':
        p.madvise(base + o.page * PAGE, clamp(o.page, o.n) * PAGE, MADV_DONTNEED);
        break;
      case 'remap': {
        const len = clamp(o.page, o.n) * PAGE;
        p.munmap(base + o.page * PAGE, len);
        p.mmap(base + o.page * PAGE, len, RW, ANON | MAP_FIXED, -1, 0);
        break;
      }
      case 'move': {
        // Move one page out to a scratch slot and map a fresh page where it was.
        const from = base + o.page * PAGE;
        p.mremap(from, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, scratch + o.slot * PAGE);
        p.mmap(from, PAGE, RW, ANON | MAP_FIXED, -1, 0);
        break;
      }
    }
    const violations = k.check().filter((v) => !(mayMiss && v.name === 'pinned-anon-not-exclusive'));
    expect([design, o, violations]).toEqual([design, o, []]);
    if (!mayMiss) {
      const m = k.pinAccounting();
      expect([design, o, m.falseNegatives, m.pinnedPagesLostToCow]).toEqual([design, o, 0, 0]);
    }
  }
  for (const pages of pins) k.gup.unpin_user_pages(pages, pages.length);
  for (const c of children) c.exit();
  p.exit();
  expect(k.check()).toEqual([]);
}

describe('pin-accounting designs under random pins, forks and mapping changes', () => {
  it('every design keeps the oracle clean; designs that cannot miss a pin never do', { timeout: 120_000 * Math.max(1, factor) }, () => {
    const p: fc.Parameters<[string, Op[]]> = { numRuns: Math.max(1, Math.round(60 * factor)) };
    if (seed !== undefined) p.seed = seed;
    if (seed !== undefined && path !== undefined) p.path = path;
    fc.assert(fc.property(fc.constantFrom(...Object.keys(PIN_ACCOUNTING)), fc.array(opArb, { minLength: 1, maxLength: 30 }), (design, ops) => run(design, ops)), p);
  });
});
