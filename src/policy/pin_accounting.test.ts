/** The pin-accounting designs (seed 003) and exclusive pins (seed 002), measured against the true pin counts. */
import { describe, expect, it } from 'vitest';
import { FOLL_EXCLUSIVE, FOLL_GET, FOLL_LONGTERM, FOLL_WRITE, Kernel, KernelConfigError, type KernelOptions, type Process } from '../index.js';
import * as U from '../uapi/index.js';
import { Level } from '../mm/page.js';
import { Pte, type Walk, walk } from '../mm/pgtable.js';

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
    expect(() => new Kernel({ memory: '64MiB', policy: { pinAccounting: 'nope' } })).toThrow(/upstream, exact, pmd-aggregate, mm-sticky, page-sticky, pte-bit/);
    expect(() => new Kernel({ memory: '64MiB', policy: { exclusivePin: 'yes' } })).toThrow(/off, bias, field/);
    expect(() => new Kernel({ memory: '64MiB', policy: { pinAccounting: 'exact', exclusivePin: 'bias' } })).toThrow(/upstream/);
    expect(new Kernel({ memory: '64MiB' }).policy).toEqual({ pinAccounting: 'upstream', exclusivePin: 'off', hgmMapcount: 'off', collapseNotifier: 'invalidate', gmemHugeShared: 'split', s2Recoalesce: 'lazy' });
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

/** Does the leaf entry mapping addr in p carry the pte-bit design's PINNED bit? */
function entryPinned(p: Process, addr: number): boolean {
  const w: Walk = { table: null as never, idx: 0, level: Level.PTE, parent: null, pidx: 0 };
  walk(p.mm!.pgd, addr, w);
  return (w.table.fl[w.idx]! & Pte.PINNED) !== 0;
}

/** Pages fork copied for the child (and the child). */
function forkCounting(k: Kernel, p: Process): { child: Process; copies: number } {
  const before = k.events().fork_copy!;
  const child = p.fork();
  return { child, copies: k.events().fork_copy! - before };
}

describe('page-sticky: a "was ever pinned" bit per struct page', () => {
  it('while pins are held it answers per page, as exact does, with no memory beyond page->flags', () => {
    // 512 exclusive 4 KiB pages in one 2 MiB range; page 7 pinned; then fork.
    const { k, p } = boot({ pinAccounting: 'page-sticky' });
    const a = anon(p, 2 * MiB);
    expect(k.gup.pin_user_pages(p, a + 7 * 4096, 1, FOLL_WRITE, [])).toBe(1);
    expect(forkCounting(k, p).copies).toBe(1);
    expect(k.pinAccounting()).toMatchObject({ falsePositives: 0, falseNegatives: 0, unnecessaryForkCopies: 0, stickyPages: 1, metadataBytes: 0 });
    expect(k.check()).toEqual([]);
  });

  it('a whole THP pinned through its PMD marks its 512 pages; one pinned page marks one, and fork copies just that page', () => {
    const { k, p } = boot({ pinAccounting: 'page-sticky' }, 'always');
    const a = anon(p, 4 * MiB);
    const pages: number[] = [];
    expect(k.gup.pin_user_pages(p, a, 512, FOLL_WRITE, pages)).toBe(512);
    expect(k.gup.pin_user_pages(p, a + 2 * MiB + 9 * 4096, 1, FOLL_WRITE, [])).toBe(1);
    expect(k.pinAccounting().stickyPages).toBe(513);
    const { copies } = forkCounting(k, p);
    expect(copies).toBe(513);
    expect(k.pinAccounting()).toMatchObject({ falseNegatives: 0, unnecessaryForkCopies: 0 });
    expect(k.check()).toEqual([]);
  });

  it('the flaw: the mark outlives the pin and the process; the next owner of the page forks a needless copy of it', () => {
    for (const pinAccounting of ['page-sticky', 'upstream']) {
      const { k, p: a } = boot({ pinAccounting });
      // Process A pins one page for DMA, unpins it and exits: the page goes back to the buddy allocator.
      const addrA = anon(a, 4096);
      const pinned: number[] = [];
      expect(k.gup.pin_user_pages(a, addrA, 1, FOLL_WRITE, pinned)).toBe(1);
      const X = pinned[0]!;
      k.gup.unpin_user_pages(pinned, 1);
      a.exit();
      expect(k.folio(X)).toBeNull();
      // Process B gets that pfn back (the allocator hands out the lowest free block first).
      const b = k.spawn();
      const N = 16;
      const addrB = anon(b, N * 4096);
      const at = Array.from({ length: N }, (_, i) => addrB + i * 4096).find((x) => b.pagemap(x).pfn === X);
      expect(at).toBeDefined();
      // B pins one other page of its own (a DMA user: MMF_HAS_PINNED), held across the fork.
      const other = Array.from({ length: N }, (_, i) => addrB + i * 4096).find((x) => x !== at)!;
      const own: number[] = [];
      expect(k.gup.pin_user_pages(b, other, 1, FOLL_WRITE, own)).toBe(1);
      const { child, copies } = forkCounting(k, b);
      const m = k.pinAccounting();
      if (pinAccounting === 'page-sticky') {
        // B's pinned page and X, which nobody pins: one needless copy, one false "maybe pinned".
        expect(copies).toBe(2);
        expect(m).toMatchObject({ unnecessaryForkCopies: 1, unnecessaryForkCopyBytes: 4096, falsePositives: 1, falseNegatives: 0, stickyPages: 2 });
        expect(child.pagemap(at!).pfn).not.toBe(X);
        // gup_test's question about X has no answer but the bit either.
        expect(k.gup.folio_maybe_dma_pinned(X)).toBe(true);
      } else {
        expect(copies).toBe(1);
        expect(m).toMatchObject({ unnecessaryForkCopies: 0, falsePositives: 0, stickyPages: 0 });
        expect(child.pagemap(at!).pfn).toBe(X);
        expect(k.gup.folio_maybe_dma_pinned(X)).toBe(false);
      }
      expect(k.check()).toEqual([]);
    }
  });

  it('out of play for migration: a page once pinned in ZONE_MOVABLE can no longer be moved out for a long-term pin', () => {
    for (const [pinAccounting, result] of [['page-sticky', -12], ['upstream', 1]] as const) {
      const { k } = { k: new Kernel({ memory: '256MiB', thp: 'never', movable: '64MiB', policy: { pinAccounting } }) };
      const a = k.spawn();
      const addrA = anon(a, 4096);
      // A short-term pin (O_DIRECT) of a movable page, released when the I/O completes.
      const pinned: number[] = [];
      expect(k.gup.pin_user_pages(a, addrA, 1, FOLL_WRITE, pinned)).toBe(1);
      expect(k.folio(pinned[0]!)!.zone).toBe('Movable');
      k.gup.unpin_user_pages(pinned, 1);
      // A long-term pin must migrate the page out of ZONE_MOVABLE; a marked page "may be pinned" and stays.
      expect([pinAccounting, k.gup.pin_user_pages(a, addrA, 1, FOLL_WRITE | FOLL_LONGTERM, [])]).toEqual([pinAccounting, result]);
      expect(k.check()).toEqual([]);
    }
  });
});

describe('pte-bit: a software bit in the entry GUP pinned through', () => {
  it('marks the PTE it pinned through (one page-table write); fork copies exactly that page; the child\'s entries are unmarked', () => {
    const writes: Record<string, number> = {};
    for (const pinAccounting of ['upstream', 'pte-bit']) {
      const { k, p } = boot({ pinAccounting });
      const a = anon(p, 2 * MiB);
      const before = k.events().pte_write!;
      expect(k.gup.pin_user_pages(p, a + 7 * 4096, 1, FOLL_WRITE, [])).toBe(1);
      writes[pinAccounting] = k.events().pte_write! - before;
      if (pinAccounting === 'upstream') continue;
      expect(entryPinned(p, a + 7 * 4096)).toBe(true);
      expect(entryPinned(p, a + 6 * 4096)).toBe(false);
      const { child, copies } = forkCounting(k, p);
      expect(copies).toBe(1);
      expect(k.pinAccounting()).toMatchObject({ falsePositives: 0, falseNegatives: 0, unnecessaryForkCopies: 0, stickyPages: 0, metadataBytes: 0 });
      expect(entryPinned(p, a + 7 * 4096)).toBe(true);
      expect(entryPinned(child, a + 7 * 4096)).toBe(false);
      expect(k.check()).toEqual([]);
    }
    expect(writes['pte-bit']).toBe(writes.upstream! + 1);
  });

  it('GUP-fast marks the entry too; a page-cache page the child maps as well is marked in the parent\'s entry only', () => {
    const { k, p } = boot({ pinAccounting: 'pte-bit' });
    const fd = p.memfd_create('f', 0);
    p.ftruncate(fd, 2 * 4096);
    p.pwrite(fd, new Uint8Array([5]), 1, 0);
    const s = p.mmap(0, 2 * 4096, RW, U.MAP_PRIVATE, fd, 0);
    expect(p.read(s, 1)[0]).toBe(5);
    p.fill(s + 4096, 4096, 1); // one private COW page, so fork copies this VMA's page tables
    // A short-term R/O pin of the page-cache page, through GUP-fast.
    const pages: number[] = [];
    expect(k.gup.pin_user_pages_fast(p, s, 1, 0, pages)).toBe(1);
    expect(entryPinned(p, s)).toBe(true);
    const child = p.fork();
    expect(child.pagemap(s).pfn).toBe(pages[0]);
    expect(entryPinned(p, s)).toBe(true);
    expect(entryPinned(child, s)).toBe(false);
    expect(k.check()).toEqual([]);
  });

  it('a pin through a PMD marks the whole 2 MiB (one PMD write): fork splits the THP and copies all 512 pages', () => {
    const { k, p } = boot({ pinAccounting: 'pte-bit' }, 'always');
    const a = anon(p, 2 * MiB);
    expect(p.pagemap(a).mappedBy).toBe(2 * MiB);
    const before = k.events().pmd_write!;
    // As VFIO pins: pin_user_pages_remote, whose FOLL_TOUCH then marks the PMD young and dirty as well.
    expect(k.gup.pin_user_pages_remote(p, a + 3 * 4096, 1, FOLL_WRITE, [])).toBe(1);
    expect(k.events().pmd_write! - before).toBe(1);
    expect(entryPinned(p, a)).toBe(true);
    const { copies } = forkCounting(k, p);
    expect(copies).toBe(512);
    expect(k.pinAccounting()).toMatchObject({ unnecessaryForkCopies: 511, falseNegatives: 0 });
    // The split handed the bit to every PTE, as it hands on soft-dirty and uffd-wp.
    for (const i of [0, 3, 511]) expect(entryPinned(p, a + i * 4096)).toBe(true);
    expect(k.check()).toEqual([]);
  });

  it('the flaw: unpin cannot find the entry, so every later fork copies the page again, until the entry is zapped', () => {
    const { k, p } = boot({ pinAccounting: 'pte-bit' });
    const a = anon(p, 4 * 4096);
    const pages: number[] = [];
    expect(k.gup.pin_user_pages(p, a + 4096, 1, FOLL_WRITE, pages)).toBe(1);
    k.gup.unpin_user_pages(pages, 1);
    for (let fork = 1; fork <= 3; fork++) {
      expect(forkCounting(k, p).copies).toBe(1);
      expect(k.pinAccounting()).toMatchObject({ unnecessaryForkCopies: fork, falsePositives: fork });
    }
    // Unpinned, the page answers no to a question without an entry (gup_test): only fork reads the bit.
    expect(k.gup.folio_maybe_dma_pinned(pages[0]!)).toBe(false);
    // munmap zaps the entry and its bit; a new mapping there is unmarked.
    p.munmap(a + 4096, 4096);
    p.mmap(a + 4096, 4096, RW, ANON | U.MAP_FIXED, -1, 0);
    p.fill(a + 4096, 4096, 2);
    expect(entryPinned(p, a + 4096)).toBe(false);
    expect(forkCounting(k, p).copies).toBe(0);
    expect(k.check()).toEqual([]);
  });

  it('mremap moves the bit with the entry: the moved pin is not missed (where pmd-aggregate misses it), mprotect keeps it', () => {
    const { k, p } = boot({ pinAccounting: 'pte-bit' });
    const a = anon(p, 4096);
    const pages: number[] = [];
    expect(k.gup.pin_user_pages(p, a, 1, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(1);
    const b = p.mremap(a, 4096, 4096, U.MREMAP_MAYMOVE | U.MREMAP_FIXED, a + 64 * MiB);
    expect(p.pagemap(b).pfn).toBe(pages[0]);
    expect(entryPinned(p, b)).toBe(true);
    p.mprotect(b, 4096, U.PROT_READ);
    p.mprotect(b, 4096, RW);
    expect(entryPinned(p, b)).toBe(true);
    const { child, copies } = forkCounting(k, p);
    expect(copies).toBe(1);
    expect(child.pagemap(b).pfn).not.toBe(pages[0]);
    expect(k.pinAccounting()).toMatchObject({ falseNegatives: 0, unnecessaryForkCopies: 0 });
    p.fill(b, 1, 0x22); // the pinned page stays the parent's: no COW
    expect(p.pagemap(b).pfn).toBe(pages[0]);
    expect(k.pinAccounting().pinnedPagesLostToCow).toBe(0);
    expect(k.check()).toEqual([]);
  });

  it('without an entry to read (gup_test, migration) it answers as mm-sticky: more references than mappings', () => {
    const { k, p } = boot({ pinAccounting: 'pte-bit' });
    const a = anon(p, 4096);
    const pages: number[] = [];
    for (let i = 0; i < 3; i++) {
      const got: number[] = [];
      expect(k.gup.get_user_pages(p, a, 1, FOLL_GET, got)).toBe(1);
      pages.push(got[0]!);
    }
    // Three FOLL_GET references and no pin: "maybe pinned" all the same.
    expect(k.gup.folio_maybe_dma_pinned(pages[0]!)).toBe(true);
    expect(k.pinAccounting().falsePositives).toBe(1);
    for (const pfn of pages) k.gup.put_page(pfn);
    expect(k.gup.folio_maybe_dma_pinned(pages[0]!)).toBe(false);
    expect(k.check()).toEqual([]);
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
