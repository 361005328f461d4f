/** get_user_pages / pin_user_pages (mm/gup.c), through the kernel-side API. */
import { describe, expect, it } from 'vitest';
import { FOLL_FORCE, FOLL_GET, FOLL_LONGTERM, FOLL_PIN, FOLL_TOUCH, FOLL_WRITE, Kernel, MmuNotifyEvent } from '../index.js';
import * as U from '../uapi/index.js';

const RW = U.PROT_READ | U.PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;
const EINVAL = -22;
const EFAULT = -14;
const ENOMEM = -12;

function setup(opts: ConstructorParameters<typeof Kernel>[0] = {}) {
  const k = new Kernel({ memory: '256MiB', thp: 'never', ...opts });
  const p = k.spawn();
  return { k, p };
}

describe('GUP flag rules', () => {
  it('invalid combinations: -EINVAL from get_user_pages*, 0 from pin_user_pages', () => {
    const { k, p } = setup();
    const a = p.mmap(0, 4096, RW, ANON, -1, 0);
    const pages: number[] = [];
    expect(k.gup.get_user_pages(p, a, 1, FOLL_TOUCH, pages)).toBe(EINVAL); // internal flag
    expect(k.gup.get_user_pages(p, a, 1, FOLL_LONGTERM, pages)).toBe(EINVAL); // LONGTERM without PIN
    expect(k.gup.get_user_pages_fast(p, a, 1, FOLL_PIN, pages)).toBe(EINVAL); // PIN is internal
    expect(k.gup.pin_user_pages(p, a, 1, FOLL_GET, pages)).toBe(0); // GET with PIN
    expect(k.gup.pin_user_pages_fast(p, a, 1, FOLL_GET, pages)).toBe(EINVAL);
    expect(k.gup.pin_user_pages(p, a, 1, 0, null as never)).toBe(0); // PIN without pages
    expect(k.check()).toEqual([]);
  });

  it('returns the pages done, and an errno only when none were', () => {
    const { k, p } = setup();
    const a = p.mmap(0, 2 * 4096, RW, ANON, -1, 0);
    const pages: number[] = [];
    expect(k.gup.pin_user_pages(p, a, 4, FOLL_WRITE, pages)).toBe(2);
    k.gup.unpin_user_pages(pages, 2);
    expect(k.gup.pin_user_pages(p, a - 4096 * 16, 1, 0, pages)).toBe(EFAULT);
    expect(k.gup.get_user_pages(p, a, 0, 0, pages)).toBe(0);
    // A write pin of a read-only mapping fails; FOLL_FORCE breaks COW instead.
    p.mprotect(a, 2 * 4096, U.PROT_READ);
    expect(k.gup.pin_user_pages(p, a, 1, FOLL_WRITE, pages)).toBe(EFAULT);
    expect(k.gup.get_user_pages(p, a, 1, FOLL_WRITE | FOLL_FORCE, pages)).toBe(1);
    k.gup.put_page(pages[0]!);
    expect(k.check()).toEqual([]);
  });
});

describe('pin accounting (upstream)', () => {
  it('small folios: +1024 per pin; large folios: +1 refcount and _pincount', () => {
    const { k, p } = setup({ thp: 'always' });
    const small = p.mmap(0, 4096, RW, ANON, -1, 0);
    const big = p.mmap(0, 2 << 20, RW, ANON, -1, 0);
    p.fill(small, 4096, 1);
    p.fill(big, 2 << 20, 1);
    const pages: number[] = [];
    expect(k.gup.pin_user_pages_fast(p, small, 1, FOLL_WRITE, pages)).toBe(1);
    expect(k.folio(pages[0]!)).toMatchObject({ refcount: 1025, maybeDmaPinned: true });
    expect(k.gup.pin_user_pages_fast(p, big + 4096, 3, 0, pages)).toBe(3);
    expect(k.folio(pages[0]!)).toMatchObject({ refcount: 4, pincount: 3, maybeDmaPinned: true });
    expect(k.vmstat().nr_foll_pin_acquired).toBe(4);
    expect(k.check()).toEqual([]);
    k.gup.unpin_user_pages(pages, 3);
    expect(k.folio(pages[0]!)).toMatchObject({ refcount: 1, pincount: 0, maybeDmaPinned: false });
    expect(k.vmstat().nr_foll_pin_released).toBe(3);
    expect(k.check()).toEqual([]);
  });

  it('pinning the zero page does nothing but succeeds; unpinning it too', () => {
    const { k, p } = setup();
    const a = p.mmap(0, 4096, RW, ANON, -1, 0);
    p.read(a, 1);
    const pages: number[] = [];
    expect(k.gup.pin_user_pages_fast(p, a, 1, 0, pages)).toBe(1);
    expect(k.kpageflags(pages[0]!) & (1 << U.KPF_ZERO_PAGE)).not.toBe(0);
    k.gup.unpin_user_page(pages[0]!);
    expect(k.vmstat().nr_foll_pin_acquired).toBe(0);
    expect(k.check()).toEqual([]);
  });

  it('a small folio takes about 2^21 pins, then -ENOMEM', () => {
    const { k, p } = setup();
    const a = p.mmap(0, 4096, RW, ANON, -1, 0);
    p.fill(a, 4096, 1);
    const pages: number[] = [];
    k.gup.pin_user_pages(p, a, 1, 0, pages);
    const pfn = pages[0]!;
    // Take pins in bulk through folio_add_pin until the refcount crosses 2^31.
    let n = 1;
    while (k.folio(pfn)!.refcount > 0) {
      k.gup.folio_add_pin(pfn);
      n++;
    }
    expect(n).toBe(2 ** 21);
    expect(k.gup.pin_user_pages(p, a, 1, 0, [])).toBe(ENOMEM);
    expect(k.folio(pfn)!.maybeDmaPinned).toBe(true);
  });
});

describe('COW with pins', () => {
  it('a R/O pin of a shared anon page unshares it first', () => {
    const { k, p } = setup();
    const a = p.mmap(0, 4096, RW, ANON, -1, 0);
    p.fill(a, 4096, 1);
    const c = p.fork();
    const shared = p.pagemap(a).pfn;
    const pages: number[] = [];
    expect(k.gup.pin_user_pages(p, a, 1, 0, pages)).toBe(1);
    expect(pages[0]).not.toBe(shared);
    expect(p.pagemap(a).pfn).toBe(pages[0]);
    expect(k.folio(pages[0]!)!.anonExclusive).toBe(true);
    // The pin sees what the parent sees after the child writes its copy.
    c.fill(a, 4096, 2);
    expect(p.read(a, 1)[0]).toBe(1);
    expect(k.check()).toEqual([]);
  });

  it('fork copies a pinned exclusive page for the child; the parent keeps the pinned page writable', () => {
    const { k, p } = setup();
    const a = p.mmap(0, 4096, RW, ANON, -1, 0);
    p.fill(a, 4096, 1);
    const pages: number[] = [];
    k.gup.pin_user_pages(p, a, 1, FOLL_WRITE, pages);
    const c = p.fork();
    expect(c.pagemap(a).pfn).not.toBe(pages[0]);
    expect(p.pagemap(a).pfn).toBe(pages[0]);
    const faults = k.events().fault;
    p.write(a, new Uint8Array([7]));
    expect(k.events().fault).toBe(faults);
    expect(c.read(a, 1)[0]).toBe(1);
    expect(k.check()).toEqual([]);
  });
});

describe('FOLL_LONGTERM', () => {
  it('migrates ZONE_MOVABLE pages out before pinning, keeping contents and mappings', () => {
    const { k, p } = setup({ movable: '64MiB' });
    const a = p.mmap(0, 4 * 4096, RW, ANON, -1, 0);
    p.fill(a, 4 * 4096, 9);
    const before = p.pagemap(a).pfn;
    expect(k.folio(before)!.zone).toBe('Movable');
    const events: MmuNotifyEvent[] = [];
    p.mmuNotifierRegister({ invalidateRangeStart: (r) => events.push(r.event) });
    const pages: number[] = [];
    expect(k.gup.pin_user_pages(p, a, 4, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(4);
    expect(k.folio(pages[0]!)!.zone).toBe('Normal');
    expect(p.pagemap(a).pfn).toBe(pages[0]);
    expect(p.read(a, 2)).toEqual(new Uint8Array([9, 9]));
    expect(events).toContain(MmuNotifyEvent.MIGRATE);
    expect(k.check()).toEqual([]);
    k.gup.unpin_user_pages(pages, 4);
    expect(k.check()).toEqual([]);
  });

  it('fails with -ENOMEM when a page cannot move (another reference holds it)', () => {
    const { k, p } = setup({ movable: '64MiB' });
    const a = p.mmap(0, 4096, RW, ANON, -1, 0);
    p.fill(a, 4096, 1);
    const held: number[] = [];
    k.gup.get_user_pages(p, a, 1, 0, held);
    expect(k.gup.pin_user_pages(p, a, 1, FOLL_LONGTERM, [])).toBe(ENOMEM);
    expect(k.vmstat().nr_foll_pin_acquired - k.vmstat().nr_foll_pin_released).toBe(0);
    k.gup.put_page(held[0]!);
    expect(k.check()).toEqual([]);
  });

  it('refuses a writable long-term pin of a shared file mapping that needs dirty tracking only (tmpfs is fine)', () => {
    const { k, p } = setup();
    const fd = p.memfd_create('f', 0);
    p.ftruncate(fd, 4096);
    const s = p.mmap(0, 4096, RW, U.MAP_SHARED, fd, 0);
    const pages: number[] = [];
    expect(k.gup.pin_user_pages(p, s, 1, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(1);
    k.gup.unpin_user_pages_dirty_lock(pages, 1, true);
    expect(k.check()).toEqual([]);
  });
});

describe('GUP-fast', () => {
  it('FAST_ONLY takes only what is mapped; fallback faults the rest', () => {
    const { k, p } = setup();
    const a = p.mmap(0, 4 * 4096, RW, ANON, -1, 0);
    p.fill(a, 4096, 1);
    const pages: number[] = [];
    expect(k.gup.get_user_pages_fast_only(p, a, 4, FOLL_WRITE, pages)).toBe(1);
    k.gup.put_page(pages[0]!);
    expect(k.gup.get_user_pages_fast(p, a, 4, FOLL_WRITE, pages)).toBe(4);
    for (const pfn of pages) k.gup.put_page(pfn);
    expect(k.check()).toEqual([]);
  });

  // gup_fast_pmd_leaf asks gup_must_unshare about the head page: a PMD-mapped
  // exclusive THP has PageAnonExclusive there only, not on its tail pages.
  it('a R/O pin at a tail page of a R/O PMD-mapped exclusive THP stays on the fast path: one refcount and one pincount update', () => {
    const { k, p } = setup({ thp: 'always' });
    const HP = 2 << 20;
    const raw = p.mmap(0, 2 * HP, RW, ANON, -1, 0);
    const thp = Math.ceil(raw / HP) * HP;
    p.fill(thp, HP, 3);
    p.mprotect(thp, HP, U.PROT_READ);
    expect(p.pagemap(thp + 5 * 4096).mappedBy).toBe(HP);
    const head = p.pagemap(thp).pfn;
    expect(k.folio(head)).toMatchObject({ order: 9, refcount: 1, anonExclusive: true });
    const before = k.events();
    const pages: number[] = [];
    expect(k.gup.pin_user_pages_fast(p, thp + 5 * 4096, 1, 0, pages)).toBe(1);
    const after = k.events();
    expect(pages[0]).toBe(head + 5);
    expect(after.atomic_refcount! - before.atomic_refcount!).toBe(1);
    expect(after.atomic_pincount! - before.atomic_pincount!).toBe(1);
    // No fault, no split: the PMD still maps the folio, now pinned once.
    expect(after.fault).toBe(before.fault);
    expect(p.pagemap(thp + 5 * 4096).mappedBy).toBe(HP);
    expect(k.folio(head)).toMatchObject({ refcount: 2, pincount: 1, maybeDmaPinned: true });
    expect(k.check()).toEqual([]);
    k.gup.unpin_user_page(pages[0]!);
    expect(k.folio(head)).toMatchObject({ refcount: 1, pincount: 0 });
    expect(k.check()).toEqual([]);
  });

  it('a R/O GUP-fast pin of a PMD-mapped THP shared with a child still falls back to the slow path, which unshares', () => {
    const { k, p } = setup({ thp: 'always' });
    const HP = 2 << 20;
    const raw = p.mmap(0, 2 * HP, RW, ANON, -1, 0);
    const thp = Math.ceil(raw / HP) * HP;
    p.fill(thp, HP, 3);
    const c = p.fork();
    const shared = p.pagemap(thp).pfn;
    expect(k.folio(shared)!.anonExclusive).toBe(false);
    const before = k.events();
    const pages: number[] = [];
    expect(k.gup.pin_user_pages_fast(p, thp + 5 * 4096, 1, 0, pages)).toBe(1);
    const after = k.events();
    // The fast path grabbed and put back (2 updates) before the slow path unshared and pinned.
    expect(after.atomic_refcount! - before.atomic_refcount!).toBeGreaterThan(1);
    expect(pages[0]).not.toBe(shared + 5);
    // The parent now maps the pinned page, exclusively; the child keeps the old one.
    expect(p.pagemap(thp + 5 * 4096)).toMatchObject({ pfn: pages[0], anonExclusive: true });
    expect(c.pagemap(thp + 5 * 4096).pfn).toBe(shared + 5);
    expect(k.check()).toEqual([]);
    k.gup.unpin_user_page(pages[0]!);
    c.exit();
    expect(k.check()).toEqual([]);
  });
});
