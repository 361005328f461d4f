/** The pin-accounting designs (seed 003) and exclusive pins (seed 002), measured against the true pin counts. */
import { describe, expect, it } from 'vitest';
import { FOLL_EXCLUSIVE, FOLL_GET, FOLL_LONGTERM, FOLL_WRITE, Kernel, KernelConfigError, type KernelOptions } from '../index.js';
import * as U from '../uapi/index.js';

const RW = U.PROT_READ | U.PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;
const EINVAL = -22;
const EBUSY = -16;
const MiB = 2 ** 20;

function boot(policy: KernelOptions['policy'], thp: 'always' | 'never' = 'never') {
  const k = new Kernel({ memory: '256MiB', thp, policy });
  return { k, p: k.spawn() };
}

/** Map and fill `len` bytes of anonymous memory, 2 MiB aligned. */
function anon(p: ReturnType<Kernel['spawn']>, len: number): number {
  const raw = p.mmap(0, len + 2 * MiB, RW, ANON, -1, 0);
  const a = Math.ceil(raw / (2 * MiB)) * 2 * MiB;
  p.fill(a, len, 0x11);
  return a;
}

describe('the policy registry', () => {
  it('an unknown name is an error listing the valid ones', () => {
    expect(() => new Kernel({ memory: '64MiB', policy: { pinAccounting: 'nope' } })).toThrow(KernelConfigError);
    expect(() => new Kernel({ memory: '64MiB', policy: { pinAccounting: 'nope' } })).toThrow(/upstream, exact, pmd-aggregate, mm-sticky/);
    expect(() => new Kernel({ memory: '64MiB', policy: { exclusivePin: 'yes' } })).toThrow(/off, bias, field/);
    expect(() => new Kernel({ memory: '64MiB', policy: { pinAccounting: 'exact', exclusivePin: 'bias' } })).toThrow(/upstream/);
    expect(new Kernel({ memory: '64MiB' }).policy).toEqual({ pinAccounting: 'upstream', exclusivePin: 'off' });
  });
});

describe('fork of a PTE-mapped region with one pinned page', () => {
  // 512 exclusive 4 KiB pages in one 2 MiB range; page 7 pinned; then fork.
  function forkWithOnePin(pinAccounting: string) {
    const { k, p } = boot({ pinAccounting });
    const a = anon(p, 2 * MiB);
    const pages: number[] = [];
    expect(k.gup.pin_user_pages(p, a + 7 * 4096, 1, FOLL_WRITE, pages)).toBe(1);
    const child = p.fork();
    expect(k.check()).toEqual([]);
    return { k, p, child, a, pages };
  }

  it('upstream: exactly the pinned page is copied (small folios answer per page)', () => {
    const { k, child, a } = forkWithOnePin('upstream');
    expect(child.pagemap(a + 7 * 4096).pfn).not.toBe(child.pagemap(a).pfn);
    expect(k.pinAccounting()).toMatchObject({ name: 'upstream', unnecessaryForkCopies: 0, falseNegatives: 0, metadataBytes: 0, maxPinsPerPage: 2 ** 21 });
  });

  it('exact: no false positives, and 64 bytes of metadata per page of RAM', () => {
    const { k } = forkWithOnePin('exact');
    expect(k.pinAccounting()).toMatchObject({ falsePositives: 0, falseNegatives: 0, unnecessaryForkCopies: 0, metadataBytes: (256 * MiB) / 4096 * 64 });
  });

  it('pmd-aggregate: the whole 2 MiB range looks pinned, so fork copies all 512 pages', () => {
    const { k, p, child, a } = forkWithOnePin('pmd-aggregate');
    const m = k.pinAccounting();
    expect(m.falsePositives).toBe(511);
    expect(m.unnecessaryForkCopies).toBe(511);
    expect(m.unnecessaryForkCopyBytes).toBe(511 * 4096);
    // Each page of the child is its own copy.
    expect(child.pagemap(a + 100 * 4096).pfn).not.toBe(p.pagemap(a + 100 * 4096).pfn);
  });

  it('mm-sticky: every anonymous page of an mm that ever pinned is copied, even after the unpin', () => {
    const { k, p, pages } = forkWithOnePin('mm-sticky');
    k.gup.unpin_user_pages(pages, 1);
    const before = k.pinAccounting().unnecessaryForkCopies;
    expect(before).toBe(511);
    p.fork();
    expect(k.pinAccounting().unnecessaryForkCopies).toBe(before + 512);
    expect(k.check()).toEqual([]);
  });
});

describe('fork of a THP with one pinned page', () => {
  it('upstream: _pincount answers for the whole folio, so all 512 pages are copied; exact copies one', () => {
    for (const [pinAccounting, unnecessary] of [['upstream', 511], ['exact', 0]] as const) {
      const { k, p } = boot({ pinAccounting }, 'always');
      const a = anon(p, 2 * MiB);
      expect(p.pagemap(a).mappedBy).toBe(2 * MiB);
      const pages: number[] = [];
      expect(k.gup.pin_user_pages(p, a + 3 * 4096, 1, FOLL_WRITE, pages)).toBe(1);
      const child = p.fork();
      expect(k.pinAccounting().unnecessaryForkCopies).toBe(unnecessary);
      expect(child.read(a + 3 * 4096, 1)[0]).toBe(0x11);
      expect(k.check()).toEqual([]);
    }
  });
});

describe('small-folio false positives', () => {
  it('1024 FOLL_GET references look like a pin upstream; exact is not fooled', () => {
    for (const [pinAccounting, fp] of [['upstream', 1], ['exact', 0]] as const) {
      const { k, p } = boot({ pinAccounting });
      const a = anon(p, 4096);
      const pages: number[] = [];
      for (let i = 0; i < 1024; i++) expect(k.gup.get_user_pages(p, a, 1, FOLL_GET, pages)).toBe(1);
      expect(k.gup.folio_maybe_dma_pinned(pages[0]!)).toBe(fp === 1);
      expect(k.pinAccounting().falsePositives).toBe(fp);
      for (let i = 0; i < 1024; i++) k.gup.put_page(pages[0]!);
      expect(k.check()).toEqual([]);
    }
  });
});

describe('pmd-aggregate false negatives', () => {
  it('a pinned page moved by mremap to another 2 MiB range is shared at fork, and the pin loses the parent\'s writes', () => {
    const { k, p } = boot({ pinAccounting: 'pmd-aggregate' });
    const a = anon(p, 4096);
    const pages: number[] = [];
    expect(k.gup.pin_user_pages(p, a, 1, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(1);
    const b = p.mremap(a, 4096, 4096, U.MREMAP_MAYMOVE | U.MREMAP_FIXED, a + 64 * MiB);
    expect(p.pagemap(b).pfn).toBe(pages[0]);
    p.fork();
    expect(k.pinAccounting().falseNegatives).toBe(1);
    // The oracle sees what the design broke: a pinned anonymous page that is not exclusive.
    expect(k.check().map((v) => v.name)).toContain('pinned-anon-not-exclusive');
    p.fill(b, 1, 0x22); // COW in the parent: the pinned page is no longer the parent's
    expect(p.pagemap(b).pfn).not.toBe(pages[0]);
    expect(k.pinAccounting().pinnedPagesLostToCow).toBe(1);
    k.gup.unpin_user_pages(pages, 1);
  });
});

describe('exclusive pins (RFC)', () => {
  const EXC = FOLL_EXCLUSIVE | FOLL_LONGTERM | FOLL_WRITE;

  it('FOLL_EXCLUSIVE is refused without the policy, and without PIN|LONGTERM', () => {
    const { k, p } = boot({});
    const a = anon(p, 4096);
    expect(k.gup.pin_user_pages(p, a, 1, EXC, [])).toBe(0);
    expect(k.gup.reexc_user_page(p.pagemap(a).pfn)).toBe(EINVAL);
    const { k: k2, p: p2 } = boot({ exclusivePin: 'bias' });
    const a2 = anon(p2, 4096);
    expect(k2.gup.pin_user_pages(p2, a2, 1, FOLL_EXCLUSIVE | FOLL_WRITE, [])).toBe(0);
    expect(k2.gup.get_user_pages(p2, a2, 1, FOLL_EXCLUSIVE | FOLL_GET, [])).toBe(EINVAL);
  });

  for (const encoding of ['bias', 'field'] as const) {
    it(`${encoding}: one pin only; other pins get -EBUSY, FOLL_GET does not; unexc keeps one normal pin; reexc needs exactly one`, () => {
      const { k, p } = boot({ exclusivePin: encoding });
      const a = anon(p, 4096);
      const pages: number[] = [];
      expect(k.gup.pin_user_pages(p, a, 1, EXC, pages)).toBe(1);
      const pfn = pages[0]!;
      expect(k.gup.folio_exclusively_pinned(pfn)).toBe(true);
      expect(k.folio(pfn)!.refcount).toBe(encoding === 'bias' ? 1 + 1024 + 2 ** 30 : 1 + 1024);
      expect(k.check()).toEqual([]);
      expect(k.gup.pin_user_pages(p, a, 1, 0, [])).toBe(EBUSY);
      expect(k.gup.pin_user_pages_fast(p, a, 1, 0, [])).toBe(EBUSY);
      expect(k.gup.pin_user_pages(p, a, 1, EXC, [])).toBe(EBUSY);
      expect(k.gup.get_user_pages(p, a, 1, 0, [])).toBe(1);
      k.gup.put_page(pfn);
      // Four grab attempts refused: pin_user_pages_fast tried GUP-fast and then the slow path.
      expect(k.pinAccounting().exclusiveConflicts).toBe(4);
      // unexc: the exclusive pin becomes a normal one.
      expect(k.gup.unexc_user_page(pfn)).toBe(0);
      expect(k.gup.folio_exclusively_pinned(pfn)).toBe(false);
      expect(k.gup.pin_user_pages(p, a, 1, 0, pages)).toBe(1);
      expect(k.gup.reexc_user_page(pfn)).toBe(EBUSY); // two normal pins
      k.gup.unpin_user_page(pfn);
      expect(k.gup.reexc_user_page(pfn)).toBe(0);
      expect(k.check()).toEqual([]);
      k.gup.unpin_exc_pages([pfn], 1);
      expect(k.folio(pfn)!.refcount).toBe(1);
      expect(k.check()).toEqual([]);
    });
  }

  it('an exclusive pin of a large folio blocks pins of its other pages', () => {
    const { k, p } = boot({ exclusivePin: 'bias' }, 'always');
    const a = anon(p, 2 * MiB);
    const pages: number[] = [];
    expect(k.gup.pin_user_pages(p, a, 1, EXC, pages)).toBe(1);
    expect(k.folio(pages[0]!)!.pincount).toBe(1 + 2 ** 30);
    expect(k.gup.pin_user_pages(p, a + 4096, 1, 0, [])).toBe(EBUSY);
    expect(k.check()).toEqual([]);
    k.gup.unpin_exc_pages(pages, 1);
    expect(k.folio(pages[0]!)!.pincount).toBe(0);
  });

  it('bias halves the normal-pin headroom of a small folio to 2^20; field keeps 2^21', () => {
    for (const encoding of ['bias', 'field'] as const) {
      const { k, p } = boot({ exclusivePin: encoding });
      const a = anon(p, 4096);
      const pages: number[] = [];
      expect(k.gup.pin_user_pages(p, a, 1, 0, pages)).toBe(1);
      for (let i = 1; i < 2 ** 20 - 1; i++) k.gup.folio_add_pin(pages[0]!);
      // 2^20 - 1 pins held: one more would read as exclusive under the bias encoding.
      expect(k.gup.pin_user_pages(p, a, 1, 0, [])).toBe(encoding === 'bias' ? EBUSY : 1);
      expect(k.pinAccounting().maxPinsPerPage).toBe(encoding === 'bias' ? 2 ** 20 - 1 : 2 ** 21);
    }
  });
});
