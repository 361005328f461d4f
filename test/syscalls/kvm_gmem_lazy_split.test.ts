/**
 * The pieces of a split HugeTLB guest_memfd page are made lazily (src/mm/hugetlb_split.ts):
 * nothing a user can see may depend on that. The same random conversions, guest accesses
 * and host accesses run twice: once with kernel.check() after every step (the oracle makes
 * every piece, so each merge finds them all made), once without (merges find one or two).
 * Every result, counter, event and the final state of every page must be the same.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Kernel } from '../../src/index.js';
import * as U from '../../src/uapi/index.js';
import { GUEST_SYNC, readU8, writeU8 } from '../../src/kvm/guest.js';

const PAGE = 4096;
const GPA = 0x100000000;
const RW = U.PROT_READ | U.PROT_WRITE;

type Step =
  | { op: 'convert'; page: number; pages: number; priv: boolean }
  | { op: 'guestWrite'; page: number; byte: number }
  | { op: 'guestRead'; page: number }
  | { op: 'hostWrite'; page: number; byte: number }
  | { op: 'punch'; page: number; pages: number };

interface Outcome {
  results: unknown[];
  stats: unknown;
  pages: unknown[];
}

/** Run the steps on a fresh kernel (a file of `huge` HugeTLB pages of hugeSize), with or without a check after each. */
function run(steps: readonly Step[], hugeSize: '2MiB' | '1GiB', huge: number, checkEach: boolean, probe?: (k: Kernel, i: number) => void): Outcome {
  const hp = hugeSize === '2MiB' ? 2 ** 21 : 2 ** 30;
  const k = new Kernel({ memory: hugeSize === '2MiB' ? '64MiB' : `${huge + 1}GiB`, hugetlb: { [hugeSize]: huge }, hugetlbOptimizeVmemmap: true, kvm: { guestMemfd: 'mainline', inPlaceConversion: true, hugetlb: true }, policy: { gmemHugeShared: 'split' } });
  const p = k.spawn();
  const vm = p.ioctl(p.open('/dev/kvm', U.O_RDWR), U.KVM_CREATE_VM, U.KVM_X86_SW_PROTECTED_VM);
  const size = huge * hp;
  const flag = hugeSize === '2MiB' ? U.GUESTMEM_HUGETLB_FLAG_2MB : U.GUESTMEM_HUGETLB_FLAG_1GB;
  const fd = p.ioctl(vm, U.KVM_CREATE_GUEST_MEMFD, { size, flags: U.GUEST_MEMFD_FLAG_HUGETLB | flag | U.GUEST_MEMFD_FLAG_MMAP });
  p.ioctl(vm, U.KVM_SET_USER_MEMORY_REGION2, { slot: 0, flags: U.KVM_MEM_GUEST_MEMFD, guest_phys_addr: GPA, memory_size: size, userspace_addr: 0, guest_memfd: fd, guest_memfd_offset: 0 });
  const host = p.mmap(0, size, RW, U.MAP_SHARED, fd, 0);
  const cpu = p.ioctl(vm, U.KVM_CREATE_VCPU, 0);
  // The guest does what the host names, then reports back.
  const cmd = { write: false, gpa: 0, byte: 0, seen: -1 };
  p.kvm_vcpu_guest(cpu, (function* () {
    for (;;) {
      if (cmd.write) yield* writeU8(cmd.gpa, cmd.byte);
      else cmd.seen = yield* readU8(cmd.gpa);
      yield* GUEST_SYNC(0);
    }
  })());
  const npages = size / PAGE;
  const results: unknown[] = [];
  const attempt = (f: () => unknown): unknown => {
    try {
      return f();
    } catch (e) {
      return (e as { code?: string }).code ?? String(e);
    }
  };
  for (const [i, s] of steps.entries()) {
    const page = s.page % npages;
    if (s.op === 'convert') {
      const n = Math.min(s.pages, npages - page);
      results.push(attempt(() => p.ioctl(fd, U.KVM_SET_MEMORY_ATTRIBUTES2, { offset: page * PAGE, size: n * PAGE, attributes: s.priv ? U.KVM_MEMORY_ATTRIBUTE_PRIVATE : 0, flags: 0, error_offset: 0 })));
    } else if (s.op === 'guestWrite' || s.op === 'guestRead') {
      cmd.write = s.op === 'guestWrite';
      cmd.gpa = GPA + page * PAGE + 17;
      cmd.byte = s.op === 'guestWrite' ? s.byte : 0;
      cmd.seen = -1;
      results.push(attempt(() => p.ioctl(cpu, U.KVM_RUN, 0)), cmd.seen);
    } else if (s.op === 'hostWrite') {
      results.push(attempt(() => p.write(host + page * PAGE + 17, Uint8Array.of(s.byte))));
    } else {
      const n = Math.min(s.pages, npages - page);
      results.push(attempt(() => p.fallocate(fd, U.FALLOC_FL_KEEP_SIZE | U.FALLOC_FL_PUNCH_HOLE, page * PAGE, n * PAGE)));
    }
    probe?.(k, i);
    if (checkEach) expect(k.check()).toEqual([]);
  }
  const stats = { vmstat: k.vmstat(), meminfo: k.meminfo(), gmem: k.gmemStats(), kvm: k.kvmStats(), events: k.events() };
  // Every page of the HugeTLB pool, after the oracle has made every piece (sampled at 1 GiB).
  expect(k.check()).toEqual([]);
  const pages: unknown[] = [];
  const step = hugeSize === '2MiB' ? 1 : 4099;
  for (let pfn = 0; pfn < k.host.pa.totalPages; pfn += step) {
    const info = k.folio(pfn);
    if (info === null || !(info.flags.includes('hugetlb') || info.owner?.kind === 'file')) continue;
    const f = k.host.pfnFolio(pfn);
    const bytes = [0, 5, 17].map((o) => {
      const out = new Uint8Array(1);
      k.host.content.read(f, (pfn - info.head) * PAGE + o, out, 0, 1);
      return out[0];
    });
    pages.push({ ...info, bytes });
  }
  return { results, stats, pages };
}

/** Pages: anywhere, or a few hot ones (so that conversions meet again: a split page goes back to all private and merges). */
const pageArb = (npages: number): fc.Arbitrary<number> => fc.oneof(fc.nat(npages - 1), fc.constantFrom(0, 3, 7, 512, 515, 1030));

const stepArb = (npages: number): fc.Arbitrary<Step> =>
  fc.oneof(
    { weight: 5, arbitrary: fc.record({ op: fc.constant('convert' as const), page: pageArb(npages), pages: fc.constantFrom(1, 1, 2, 3, 512, 600), priv: fc.boolean() }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('guestWrite' as const), page: pageArb(npages), byte: fc.integer({ min: 1, max: 255 }) }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('guestRead' as const), page: pageArb(npages) }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('hostWrite' as const), page: pageArb(npages), byte: fc.integer({ min: 1, max: 255 }) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('punch' as const), page: pageArb(npages), pages: fc.constantFrom(1, 512, 1024) }) },
  );

describe('lazily made pieces of a split HugeTLB guest_memfd page', () => {
  it('2 MiB pages: the same results, counters, events and pages with every piece made after each step as with pieces made on lookup', () => {
    fc.assert(
      fc.property(fc.array(stepArb(3 * 512), { minLength: 1, maxLength: 40 }), (steps) => {
        expect(run(steps, '2MiB', 3, false)).toEqual(run(steps, '2MiB', 3, true));
      }),
      { numRuns: 40, seed: 0x5eed },
    );
  });

  it('a 1 GiB page: a split makes no piece; the guest fault makes one; the merge takes it back; the same outcome as with every piece made', () => {
    const steps: Step[] = [
      { op: 'guestWrite', page: 1000, byte: 0x11 },
      { op: 'convert', page: 7, pages: 1, priv: false },
      { op: 'guestRead', page: 7 },
      { op: 'hostWrite', page: 7, byte: 0x22 },
      { op: 'guestRead', page: 1000 },
      { op: 'convert', page: 7, pages: 1, priv: true },
      { op: 'guestRead', page: 7 },
      { op: 'convert', page: 100_000, pages: 3, priv: false },
      { op: 'hostWrite', page: 100_001, byte: 0x33 },
      { op: 'convert', page: 100_000, pages: 3, priv: true },
      { op: 'guestRead', page: 100_001 },
    ];
    // Pieces made, per step, while the page is split (-1: not split).
    const made: number[] = [];
    const lazy = run(steps, '1GiB', 1, false, (k) => {
      const sp = [...k.host.hugetlb.split.values()][0];
      made.push(sp === undefined ? -1 : sp.lazy === null ? 262_144 : sp.lazy.done.length);
    });
    expect(made).toEqual([-1, 0, 1, 1, 2, -1, -1, 0, 1, -1, -1]);
    expect(lazy).toEqual(run(steps, '1GiB', 1, true));
    // The guest saw its own write, the host's write to the shared page (contents are preserved), and zeroes elsewhere.
    expect(lazy.results).toEqual([0, -1, 0, 0, 0, undefined, 0, 0x11, 0, 0, 0x22, 0, undefined, 0, 0, 0x33]);
  });

  it('a file that goes while a piece of its lazily split page is pinned: every piece leaves the file, the page waits split, and merges and frees when the pin goes', () => {
    const k = new Kernel({ memory: '64MiB', hugetlb: { '2MiB': 2 }, hugetlbOptimizeVmemmap: true, kvm: { guestMemfd: 'mainline', inPlaceConversion: true, hugetlb: true }, policy: { gmemHugeShared: 'split' } });
    const p = k.spawn();
    const vm = p.ioctl(p.open('/dev/kvm', U.O_RDWR), U.KVM_CREATE_VM, U.KVM_X86_SW_PROTECTED_VM);
    const size = 2 ** 21;
    const fd = p.ioctl(vm, U.KVM_CREATE_GUEST_MEMFD, { size, flags: U.GUEST_MEMFD_FLAG_HUGETLB | U.GUESTMEM_HUGETLB_FLAG_2MB | U.GUEST_MEMFD_FLAG_MMAP });
    p.fallocate(fd, U.FALLOC_FL_KEEP_SIZE, 0, size);
    const free = () => k.meminfo().HugePages_Free;
    expect(free()).toBe(1);
    // Page 3 shared: the 2 MiB page splits; the host maps and pins page 3 (the one piece made).
    p.ioctl(fd, U.KVM_SET_MEMORY_ATTRIBUTES2, { offset: 3 * PAGE, size: PAGE, attributes: 0, flags: 0, error_offset: 0 });
    const mem = p.mmap(0, size, RW, U.MAP_SHARED, fd, 0);
    p.write(mem + 3 * PAGE, Uint8Array.of(0x5a));
    const gup = p.open(U.GUP_TEST_PATH, U.O_RDWR);
    p.ioctl(gup, U.PIN_LONGTERM_TEST_START, { addr: mem + 3 * PAGE, size: PAGE, flags: U.PIN_LONGTERM_TEST_FLAG_USE_WRITE });
    const sp = () => [...k.host.hugetlb.split.values()][0];
    expect(sp()?.lazy?.done).toEqual([3]);
    // The file goes (its mapping first): the pinned piece keeps the page split and out of the pool.
    p.munmap(mem, size);
    p.close(fd);
    // (The pieces are made as they leave the file one by one.)
    expect(sp()?.lazy).toBeNull();
    expect(free()).toBe(1);
    // The pin goes: the folio_put callback merges the page and frees it to the pool.
    p.ioctl(gup, U.PIN_LONGTERM_TEST_STOP);
    expect(sp()).toBeUndefined();
    expect(free()).toBe(2);
    expect(k.check()).toEqual([]);
  });
});
