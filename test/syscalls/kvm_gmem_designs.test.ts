/**
 * Policy gmemHugeShared (issue 8 section 5, seeds 000/001): what a
 * HugeTLB-backed guest_memfd does when a page of a huge folio becomes shared,
 * under each design, and the figures Kernel.gmemStats() reports for it.
 *   split            (option b) split to 4 KiB folios, merge back;
 *   no-longterm-pin  (option a) folio whole, shared pages at 4 KiB in user page
 *                    tables, FOLL_LONGTERM refused, to-private waits for
 *                    short-term pins (EAGAIN after GMEM_PIN_WAIT_MAX_NS);
 *   pfnmap           (option c) a VM_PFNMAP host mapping: no refcounts, no GUP;
 *   separate-shared  the classic CoCo flow: shared pages from the VMM's memfd,
 *                    conversions discard, memory allocated twice.
 */
import { describe, expect, it } from 'vitest';
import { FOLL_LONGTERM, FOLL_WRITE, GMEM_PIN_WAIT_MAX_NS, GMEM_PIN_WAIT_STEP_NS, Kernel, type Process } from '../../src/index.js';
import * as U from '../../src/uapi/index.js';
import { GUEST_DONE, type GuestCode, readU8, writeU8 } from '../../src/kvm/guest.js';
import { signalOf, syscallCode } from '../support/errno.js';

const RW = U.PROT_READ | U.PROT_WRITE;
const PAGE = 4096;
const M2 = 2 << 20;
const G1 = 2 ** 30;
const GPA = 0x100000000;
const PRIVATE = U.KVM_MEMORY_ATTRIBUTE_PRIVATE;
const DESIGNS = ['split', 'no-longterm-pin', 'pfnmap', 'separate-shared'] as const;
type Design = (typeof DESIGNS)[number];

interface World {
  k: Kernel;
  p: Process;
  vm: number;
  fd: number;
  /** The host's view of shared memory: the guest_memfd mmap, or (separate-shared) the VMM's memfd. */
  m: number;
  nextVcpu: number;
}

/** A SW_PROTECTED VM on one guest_memfd of `size` bytes of HugeTLB pages (2 MiB or 1 GiB), all shared at first, HVO on. */
function boot(design: Design, size = 2 * M2, huge: '2MiB' | '1GiB' = '2MiB', s2Recoalesce = 'lazy'): World {
  const hp: Record<string, number> = huge === '2MiB' ? { '2MiB': size / M2 + 1 } : { '1GiB': size / G1 };
  const k = new Kernel({ memory: huge === '2MiB' ? '256MiB' : '3GiB', hugetlb: hp, hugetlbOptimizeVmemmap: true, kvm: { guestMemfd: 'mainline', inPlaceConversion: true, hugetlb: true }, policy: { gmemHugeShared: design, s2Recoalesce } });
  const p = k.spawn();
  const vm = p.ioctl(p.open('/dev/kvm', U.O_RDWR), U.KVM_CREATE_VM, U.KVM_X86_SW_PROTECTED_VM);
  const hflag = U.GUEST_MEMFD_FLAG_HUGETLB | (huge === '2MiB' ? U.GUESTMEM_HUGETLB_FLAG_2MB : U.GUESTMEM_HUGETLB_FLAG_1GB);
  let fd: number;
  let m: number;
  if (design === 'separate-shared') {
    // The classic layout: a private-only guest_memfd beside the VMM's own shared memory (userspace_addr).
    fd = p.ioctl(vm, U.KVM_CREATE_GUEST_MEMFD, { size, flags: U.GUEST_MEMFD_FLAG_INIT_SHARED | hflag });
    const memfd = p.memfd_create('shared', 0);
    p.ftruncate(memfd, size);
    // Placed at a huge-page-aligned address, so the slot's userspace_addr is congruent with its GPA (lpage_info).
    const align = huge === '2MiB' ? M2 : G1;
    const r = p.mmap(0, size + align, U.PROT_NONE, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_NORESERVE, -1, 0);
    m = p.mmap(Math.ceil(r / align) * align, size, RW, U.MAP_SHARED | U.MAP_FIXED, memfd, 0);
  } else {
    fd = p.ioctl(vm, U.KVM_CREATE_GUEST_MEMFD, { size, flags: U.GUEST_MEMFD_FLAG_MMAP | U.GUEST_MEMFD_FLAG_INIT_SHARED | hflag });
    m = p.mmap(0, size, RW, U.MAP_SHARED, fd, 0);
  }
  // userspace_addr must be congruent with the GPA modulo the huge page for KVM to map huge (lpage_info).
  p.ioctl(vm, U.KVM_SET_USER_MEMORY_REGION2, { slot: 1, flags: U.KVM_MEM_GUEST_MEMFD, guest_phys_addr: GPA, memory_size: size, userspace_addr: design === 'separate-shared' ? m : 0, guest_memfd: fd, guest_memfd_offset: 0 });
  return { k, p, vm, fd, m, nextVcpu: 0 };
}

function convert(w: World, page: number, n: number, priv: boolean): string {
  const arg = { offset: page * PAGE, size: n * PAGE, attributes: priv ? PRIVATE : 0, flags: 0, error_offset: 0 };
  const r = syscallCode(() => w.p.ioctl(w.fd, U.KVM_SET_MEMORY_ATTRIBUTES2, arg));
  return r === 'EAGAIN' ? `EAGAIN@${arg.error_offset / PAGE}` : r;
}

/** Run guest code on a fresh vCPU to its end. */
function guest(w: World, code: () => GuestCode): void {
  const cpu = w.p.ioctl(w.vm, U.KVM_CREATE_VCPU, w.nextVcpu++);
  w.p.kvm_vcpu_guest(cpu, code());
  w.p.ioctl(cpu, U.KVM_RUN, 0);
  expect(w.p.kvm_run(cpu).ucall?.cmd).toBe(4);
  w.p.close(cpu);
}

function guestRead(w: World, page: number): number {
  let v = -1;
  guest(w, function* () {
    v = yield* readU8(GPA + page * PAGE);
    yield* GUEST_DONE();
  });
  return v;
}

const stats = (w: World) => w.k.gmemStats()[0]!;
const leaves = (w: World) => w.k.kvmStats()[0]!.mmu.leaves;

describe('policy gmemHugeShared: the registry', () => {
  it('lists four designs; an unknown one is an error naming them', () => {
    expect(() => new Kernel({ memory: '64MiB', policy: { gmemHugeShared: 'bogus' } })).toThrow(/gmemHugeShared.*valid: split, no-longterm-pin, pfnmap, separate-shared/);
    for (const d of DESIGNS) expect(new Kernel({ memory: '64MiB', policy: { gmemHugeShared: d } }).policy.gmemHugeShared).toBe(d);
  });
});

describe.each(DESIGNS)('gmemHugeShared %s', (design) => {
  const preserves = design !== 'separate-shared';

  it('conversions both ways: contents preserved or discarded as the design says; SIGBUS on private pages', () => {
    const w = boot(design);
    const { k, p, m } = w;
    p.fill(m + 3 * PAGE, PAGE, 0x3c);
    expect(k.check()).toEqual([]);
    expect(convert(w, 3, 1, true)).toBe('ok');
    expect(k.check()).toEqual([]);
    // The guest sees what the host wrote, or the private side's zeroed page.
    expect(guestRead(w, 3)).toBe(preserves ? 0x3c : 0);
    guest(w, function* () {
      yield* writeU8(GPA + 3 * PAGE, 0x77);
      yield* GUEST_DONE();
    });
    expect(k.check()).toEqual([]);
    if (design !== 'separate-shared') expect(signalOf(() => p.read(m + 3 * PAGE, 1))).toBe('SIGBUS');
    expect(convert(w, 3, 1, false)).toBe('ok');
    expect(p.read(m + 3 * PAGE, 1)[0]).toBe(preserves ? 0x77 : 0);
    expect(guestRead(w, 3)).toBe(preserves ? 0x77 : 0);
    expect(k.check()).toEqual([]);
    const s = stats(w);
    expect(s.design).toBe(design);
    expect(s.conversions).toMatchObject({ ok: 2, waited: 0, eagain: 0, enomem: 0 });
    expect(s.conversions.totalNs).toBeGreaterThan(0);
    expect(s.contentsPreserved).toBe(preserves);
    // separate-shared discarded the host's page going private and the guest's page going shared.
    expect(s.discardedPages).toBe(preserves ? 0 : 2);
  });

  it('GUP of a shared page: short-term and long-term, fast and slow, as the design allows', () => {
    const w = boot(design);
    const { k, p, m } = w;
    p.fill(m, M2, 1);
    const want = {
      split: { short: 1, long: 1 },
      // A huge folio that is not long-term pinnable and cannot migrate: the migrate_pages failure, -ENOMEM.
      'no-longterm-pin': { short: 1, long: -12 },
      // VM_PFNMAP: check_vma_flags refuses any GUP with -EFAULT.
      pfnmap: { short: -14, long: -14 },
      'separate-shared': { short: 1, long: 1 },
    }[design];
    const pages: number[] = [];
    const got = {
      short: k.gup.pin_user_pages(p, m + PAGE, 1, FOLL_WRITE, pages),
      shortFast: k.gup.pin_user_pages_fast(p, m + 2 * PAGE, 1, FOLL_WRITE, pages),
      long: k.gup.pin_user_pages(p, m + 5 * PAGE, 1, FOLL_WRITE | FOLL_LONGTERM, pages),
      longFast: k.gup.pin_user_pages_fast(p, m + 6 * PAGE, 1, FOLL_WRITE | FOLL_LONGTERM, pages),
    };
    expect(got).toEqual({ short: want.short, shortFast: want.short, long: want.long, longFast: want.long });
    expect(k.check()).toEqual([]);
    const s = stats(w);
    expect(s.pinsRefused).toBe((want.short < 0 ? 2 : 0) + (want.long < 0 ? 2 : 0));
    expect(s.odirect).toBe(want.short > 0);
    expect(s.longtermPins).toBe(want.long > 0);
    k.gup.unpin_user_pages(pages, pages.length);
    expect(k.check()).toEqual([]);
  });

  it('guest re-faults after conversions: stage-2 leaf sizes around a shared page', () => {
    const w = boot(design);
    const { k } = w;
    expect(convert(w, 0, 1024, true)).toBe('ok');
    expect(guestRead(w, 7)).toBe(0);
    expect(guestRead(w, 600)).toBe(0);
    expect(leaves(w)).toEqual([0, 0, 2, 0]);
    expect(k.check()).toEqual([]);
    // One page of the first huge page shared: its 2 MiB leaf goes; the guest's re-faults map 4 KiB there.
    expect(convert(w, 9, 1, false)).toBe('ok');
    expect(leaves(w)).toEqual([0, 0, 1, 0]);
    expect(guestRead(w, 7)).toBe(0);
    expect(guestRead(w, 9)).toBe(0);
    expect(leaves(w)).toEqual([0, 2, 1, 0]);
    expect(k.check()).toEqual([]);
    // All private again: the next fault maps 2 MiB again (lazy re-promotion).
    expect(convert(w, 9, 1, true)).toBe('ok');
    expect(guestRead(w, 100)).toBe(0);
    expect(leaves(w)).toEqual([0, 0, 2, 0]);
    expect(k.check()).toEqual([]);
  });

  it("with s2Recoalesce 'eager' the conversion back to private maps the whole folio again at once", () => {
    const w = boot(design, M2, '2MiB', 'eager');
    const { k } = w;
    expect(convert(w, 0, 512, true)).toBe('ok');
    expect(convert(w, 9, 1, false)).toBe('ok');
    expect(guestRead(w, 7)).toBe(0);
    expect(guestRead(w, 9)).toBe(0);
    expect(leaves(w)).toEqual([0, 2, 0, 0]);
    expect(convert(w, 9, 1, true)).toBe('ok');
    expect(leaves(w)).toEqual([0, 0, 1, 0]);
    expect(k.kvmStats()[0]!.mmu.eagerPromotions).toBe(1);
    expect(k.check()).toEqual([]);
  });

  it('vmemmap and doubly allocated bytes', () => {
    const w = boot(design, M2);
    const { k, p, m } = w;
    expect(convert(w, 0, 512, true)).toBe('ok');
    expect(guestRead(w, 0)).toBe(0);
    // HVO keeps one vmemmap page per 2 MiB page while it is whole.
    expect(stats(w)).toMatchObject({ hugePages: 1, splitHugePages: 0, vmemmapBytes: PAGE, doubleAllocatedBytes: 0 });
    expect(convert(w, 4, 1, false)).toBe('ok');
    p.fill(m + 4 * PAGE, PAGE, 9);
    expect(k.check()).toEqual([]);
    const s = stats(w);
    if (design === 'split') expect(s).toMatchObject({ splitHugePages: 1, vmemmapBytes: 512 * 64, doubleAllocatedBytes: 0 });
    else if (design === 'separate-shared') expect(s).toMatchObject({ splitHugePages: 0, vmemmapBytes: PAGE + 64, doubleAllocatedBytes: PAGE, sharedSidePages: 1 });
    else expect(s).toMatchObject({ splitHugePages: 0, vmemmapBytes: PAGE, doubleAllocatedBytes: 0 });
    // Private again: split merges (HVO redone), separate-shared discards the shared side.
    expect(convert(w, 4, 1, true)).toBe('ok');
    expect(stats(w)).toMatchObject({ hugePages: 1, splitHugePages: 0, vmemmapBytes: PAGE, doubleAllocatedBytes: 0 });
    expect(k.check()).toEqual([]);
  });
});

describe("gmemHugeShared 'no-longterm-pin': short-term pins make a to-private conversion wait", () => {
  it('with nothing to release the pin: EAGAIN after the bound, at the folio holding it; after the unpin it converts', () => {
    const w = boot('no-longterm-pin');
    const { k, p, m } = w;
    p.fill(m, 2 * M2, 5);
    const pages: number[] = [];
    // An O_DIRECT-like short-term pin on page 3; page 8 of the same huge folio is converted.
    expect(k.gup.pin_user_pages_fast(p, m + 3 * PAGE, 1, FOLL_WRITE, pages)).toBe(1);
    expect(convert(w, 8, 1, true)).toBe('EAGAIN@8');
    // A page of the other huge folio is not held up.
    expect(convert(w, 520, 1, true)).toBe('ok');
    expect(k.check()).toEqual([]);
    let s = stats(w);
    expect(s.conversions).toMatchObject({ ok: 1, eagain: 1, waited: 0, waitNs: GMEM_PIN_WAIT_MAX_NS });
    expect(s.conversions.maxNs).toBeGreaterThanOrEqual(GMEM_PIN_WAIT_MAX_NS);
    k.gup.unpin_user_pages(pages, 1);
    expect(convert(w, 8, 1, true)).toBe('ok');
    // Contents kept; the other shared pages are still mapped by the host.
    expect(guestRead(w, 8)).toBe(5);
    expect(p.read(m + 3 * PAGE, 1)[0]).toBe(5);
    expect(k.check()).toEqual([]);
    s = stats(w);
    expect(s.conversions.ok).toBe(2);
  });

  it('the pin completes while the conversion waits: it succeeds as "waited", after the simulated wait', () => {
    const w = boot('no-longterm-pin');
    const { k, p, m } = w;
    p.fill(m, M2, 5);
    const pages: number[] = [];
    expect(k.gup.pin_user_pages(p, m + 3 * PAGE, 1, FOLL_WRITE, pages)).toBe(1);
    // The I/O completes 45 us into the wait.
    let t = 0;
    k.setGmemPinWaiter((ns) => {
      t += ns;
      if (t >= 45_000 && pages.length > 0) k.gup.unpin_user_pages(pages.splice(0), 1);
    });
    expect(convert(w, 3, 1, true)).toBe('ok');
    const s = stats(w);
    expect(s.conversions).toMatchObject({ ok: 0, waited: 1, eagain: 0, waitNs: 5 * GMEM_PIN_WAIT_STEP_NS });
    expect(guestRead(w, 3)).toBe(5);
    expect(k.check()).toEqual([]);
    k.setGmemPinWaiter(null);
  });

  it('a 1 GiB folio stays whole around a shared hole: the private parts map at 2 MiB, the hole at 4 KiB', () => {
    const w = boot('no-longterm-pin', G1, '1GiB');
    const { k } = w;
    expect(convert(w, 0, G1 / PAGE, true)).toBe('ok');
    expect(guestRead(w, 1)).toBe(0);
    expect(leaves(w)).toEqual([0, 0, 0, 1]);
    expect(convert(w, 1000, 1, false)).toBe('ok');
    for (const pg of [1, 1000, 1001, 5000]) expect(guestRead(w, pg)).toBe(0);
    // 1000 and 1001 share the 2 MiB block with the hole; 1 and 5000 lie in all-private 2 MiB blocks.
    expect(leaves(w)).toEqual([0, 2, 2, 0]);
    expect(stats(w)).toMatchObject({ hugePages: 1, splitHugePages: 0, vmemmapBytes: PAGE });
    expect(k.check()).toEqual([]);
  });
});

describe("gmemHugeShared 'pfnmap': no struct page refcounts", () => {
  it('fork copies the VM_PFNMAP mapping; conversion never waits; the child loses the page too', () => {
    const w = boot('pfnmap');
    const { k, p, m } = w;
    p.fill(m, 4 * PAGE, 0x21);
    const c = p.fork();
    expect(c.read(m + PAGE, 1)[0]).toBe(0x21);
    expect(k.check()).toEqual([]);
    expect(convert(w, 0, 4, true)).toBe('ok');
    expect(signalOf(() => c.read(m + PAGE, 1))).toBe('SIGBUS');
    expect(guestRead(w, 1)).toBe(0x21);
    expect(stats(w).conversions).toMatchObject({ ok: 1, waited: 0, waitNs: 0 });
    c.exit(0);
    expect(k.check()).toEqual([]);
  });
});

describe("gmemHugeShared 'separate-shared': the classic CoCo layout", () => {
  it('guest_memfd cannot be mmapped; shared guest accesses reach the VMM memfd', () => {
    const w = boot('separate-shared');
    const { k, p, m } = w;
    expect(syscallCode(() => p.ioctl(w.vm, U.KVM_CREATE_GUEST_MEMFD, { size: M2, flags: U.GUEST_MEMFD_FLAG_MMAP | U.GUEST_MEMFD_FLAG_HUGETLB | U.GUESTMEM_HUGETLB_FLAG_2MB }))).toBe('EINVAL');
    p.fill(m + 2 * PAGE, PAGE, 0x42);
    expect(guestRead(w, 2)).toBe(0x42);
    expect(k.check()).toEqual([]);
  });
});
