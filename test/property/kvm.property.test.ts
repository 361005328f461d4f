/**
 * Random sequences on a SW_PROTECTED VM with a 4 MiB memslot (THP-backed
 * shared memory, a guest_memfd for private memory): guest stores and loads
 * through the stage-2 MMU, host stores and loads, attribute conversions,
 * guest_memfd hole punches and allocation, MADV_DONTNEED, MADV_COLLAPSE,
 * mprotect round trips, KVM_PRE_FAULT_MEMORY and fork (COW of the shared
 * memory).
 *
 * After every step, kernel.check() has no violation (the KVM rules: every
 * stage-2 leaf maps what the host or the guest_memfd holds, with attributes
 * that agree), and every load matches a plain reference model: a byte per
 * page for the shared memory, one for the private memory (0 after a punch),
 * and the attribute of each page. Conversions keep both contents (KVM never
 * touches memory on SET_MEMORY_ATTRIBUTES).
 *
 * The same sequences run on a HugeTLB-backed guest_memfd (kvm.hugetlb, 2 MiB
 * pages), where private memory maps at 2 MiB and punches zero or free.
 *
 * A further property runs the in-place conversion series v8 (Kernel option
 * kvm.inPlaceConversion): one guest_memfd-only slot over an MMAP|INIT_SHARED
 * file that the host maps, so guest and host see the same memory; host
 * accesses to private pages are SIGBUS; conversions go through
 * KVM_SET_MEMORY_ATTRIBUTES2 and are refused with EAGAIN (error_offset the
 * pinned page) while a gup_test long-term pin holds a page of the range;
 * punch holes zero without changing attributes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Kernel, type Process, SyscallError } from '../../src/index.js';
import { signalOf, syscallCode } from '../support/errno.js';
import * as U from '../../src/uapi/index.js';
import { GUEST_DONE, memsetGpa, readU8 } from '../../src/kvm/guest.js';

const PAGE = 4096;
const NPAGES = 1024;
const GPA = 2 ** 32;
const RW = U.PROT_READ | U.PROT_WRITE;

interface World {
  k: Kernel;
  p: Process;
  vm: number;
  gmem: number;
  hva: number;
  nextVcpu: number;
  prefault: number;
  /** The reference: shared bytes, private bytes, private attribute, per page. */
  shared: Uint8Array;
  priv: Uint8Array;
  attr: Uint8Array;
}

/** hugetlb: the guest_memfd is HugeTLB-backed (2 MiB pages, the 1 GiB series RFC v2) on a mainline kernel. */
function boot(hugetlb = false): World {
  const k = new Kernel(hugetlb ? { memory: '128MiB', hugetlb: { '2MiB': 3 }, kvm: { guestMemfd: 'mainline', hugetlb: true } } : { memory: '128MiB' });
  const p = k.spawn();
  const kvm = p.open('/dev/kvm', U.O_RDWR);
  const vm = p.ioctl(kvm, U.KVM_CREATE_VM, U.KVM_X86_SW_PROTECTED_VM);
  const raw = p.mmap(0, NPAGES * PAGE + (2 << 20), RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
  const hva = Math.ceil(raw / (2 << 20)) * (2 << 20);
  const gmem = p.ioctl(vm, U.KVM_CREATE_GUEST_MEMFD, { size: NPAGES * PAGE, flags: hugetlb ? U.GUEST_MEMFD_FLAG_HUGETLB | U.GUESTMEM_HUGETLB_FLAG_2MB : 0 });
  p.ioctl(vm, U.KVM_SET_USER_MEMORY_REGION2, { slot: 0, flags: U.KVM_MEM_GUEST_MEMFD, guest_phys_addr: GPA, memory_size: NPAGES * PAGE, userspace_addr: hva, guest_memfd: gmem, guest_memfd_offset: 0 });
  const prefault = p.ioctl(vm, U.KVM_CREATE_VCPU, 0);
  return { k, p, vm, gmem, hva, nextVcpu: 1, prefault, shared: new Uint8Array(NPAGES), priv: new Uint8Array(NPAGES), attr: new Uint8Array(NPAGES) };
}

/** Run guest code to its end on a fresh vCPU. */
function guest(w: World, code: () => Generator<unknown, unknown, unknown>): void {
  const vcpu = w.p.ioctl(w.vm, U.KVM_CREATE_VCPU, w.nextVcpu++);
  w.p.kvm_vcpu_guest(vcpu, code());
  w.p.ioctl(vcpu, U.KVM_RUN, 0);
  expect(w.p.kvm_run(vcpu).ucall?.cmd).toBe(4);
  w.p.close(vcpu);
}

type Op =
  | { op: 'gfill'; page: number; n: number; byte: number }
  | { op: 'gread'; page: number }
  | { op: 'hfill'; page: number; n: number; byte: number }
  | { op: 'hread'; page: number }
  | { op: 'attr'; page: number; n: number; priv: boolean }
  | { op: 'punch'; page: number; n: number }
  | { op: 'falloc'; page: number; n: number }
  | { op: 'dontneed'; page: number; n: number }
  | { op: 'collapse'; half: number }
  | { op: 'mprotect'; page: number; n: number }
  | { op: 'prefault'; page: number; n: number }
  | { op: 'fork' };

const page = fc.integer({ min: 0, max: NPAGES - 1 });
const count = fc.oneof(fc.integer({ min: 1, max: 4 }), fc.constantFrom(512, 513, NPAGES));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('gfill' as const), page, n: count, byte: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ op: fc.constant('gread' as const), page }),
  fc.record({ op: fc.constant('hfill' as const), page, n: count, byte: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ op: fc.constant('hread' as const), page }),
  fc.record({ op: fc.constant('attr' as const), page, n: count, priv: fc.boolean() }),
  fc.record({ op: fc.constant('punch' as const), page, n: count }),
  fc.record({ op: fc.constant('falloc' as const), page, n: count }),
  fc.record({ op: fc.constant('dontneed' as const), page, n: count }),
  fc.record({ op: fc.constant('collapse' as const), half: fc.integer({ min: 0, max: 1 }) }),
  fc.record({ op: fc.constant('mprotect' as const), page, n: count }),
  fc.record({ op: fc.constant('prefault' as const), page, n: count }),
  fc.constant({ op: 'fork' as const }),
);

function clip(o: { page: number; n: number }): [number, number] {
  return [o.page, Math.min(NPAGES, o.page + o.n)];
}

function step(w: World, o: Op): void {
  const { p } = w;
  switch (o.op) {
    case 'gfill': {
      const [a, b] = clip(o);
      guest(w, function* () {
        yield* memsetGpa(GPA + a * PAGE, o.byte, (b - a) * PAGE);
        yield* GUEST_DONE();
      });
      for (let i = a; i < b; i++) (w.attr[i] ? w.priv : w.shared)[i] = o.byte;
      break;
    }
    case 'gread': {
      let v = -1;
      guest(w, function* () {
        v = yield* readU8(GPA + o.page * PAGE + 123);
        yield* GUEST_DONE();
      });
      expect(v).toBe(w.attr[o.page] ? w.priv[o.page] : w.shared[o.page]);
      break;
    }
    case 'hfill': {
      const [a, b] = clip(o);
      p.fill(w.hva + a * PAGE, (b - a) * PAGE, o.byte);
      w.shared.fill(o.byte, a, b);
      break;
    }
    case 'hread':
      expect(p.read(w.hva + o.page * PAGE + 7, 1)[0]).toBe(w.shared[o.page]);
      break;
    case 'attr': {
      const [a, b] = clip(o);
      p.ioctl(w.vm, U.KVM_SET_MEMORY_ATTRIBUTES, { address: GPA + a * PAGE, size: (b - a) * PAGE, attributes: o.priv ? U.KVM_MEMORY_ATTRIBUTE_PRIVATE : 0, flags: 0 });
      w.attr.fill(o.priv ? 1 : 0, a, b);
      break;
    }
    case 'punch': {
      const [a, b] = clip(o);
      p.fallocate(w.gmem, U.FALLOC_FL_KEEP_SIZE | U.FALLOC_FL_PUNCH_HOLE, a * PAGE, (b - a) * PAGE);
      w.priv.fill(0, a, b);
      break;
    }
    case 'falloc': {
      const [a, b] = clip(o);
      p.fallocate(w.gmem, U.FALLOC_FL_KEEP_SIZE, a * PAGE, (b - a) * PAGE);
      break;
    }
    case 'dontneed': {
      const [a, b] = clip(o);
      p.madvise(w.hva + a * PAGE, (b - a) * PAGE, U.MADV_DONTNEED);
      w.shared.fill(0, a, b);
      break;
    }
    case 'collapse':
      try {
        p.madvise(w.hva + o.half * (2 << 20), 2 << 20, U.MADV_COLLAPSE);
      } catch (e) {
        if (!(e instanceof SyscallError)) throw e;
      }
      break;
    case 'mprotect': {
      const [a, b] = clip(o);
      p.mprotect(w.hva + a * PAGE, (b - a) * PAGE, U.PROT_READ);
      p.mprotect(w.hva + a * PAGE, (b - a) * PAGE, RW);
      break;
    }
    case 'prefault': {
      const [a, b] = clip(o);
      try {
        p.ioctl(w.prefault, U.KVM_PRE_FAULT_MEMORY, { gpa: GPA + a * PAGE, size: (b - a) * PAGE, flags: 0 });
      } catch (e) {
        if (!(e instanceof SyscallError)) throw e;
      }
      break;
    }
    case 'fork': {
      // The child keeps the pages COW-shared until it exits; the parent's next writes copy.
      const c = p.fork();
      c.exit(0);
      break;
    }
  }
}

describe('KVM property: random guest, host and conversion sequences', () => {
  it('keep every stage-2 leaf coherent and every load equal to the reference', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 25 }), (ops) => {
        const w = boot();
        for (const o of ops) {
          step(w, o);
          expect(w.k.check()).toEqual([]);
        }
        w.p.exit(0);
        expect(w.k.check()).toEqual([]);
      }),
      { numRuns: 40 },
    );
  });

  it('the same on a HugeTLB-backed guest_memfd: 2 MiB private leaves, partial punches zero, whole ones free, the pool stays true', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 25 }), (ops) => {
        const w = boot(true);
        for (const o of ops) {
          step(w, o);
          expect(w.k.check()).toEqual([]);
          // The file's two pages are reserved or in use; the third pool page stays free.
          const m = w.k.meminfo();
          expect(m.HugePages_Free - m.HugePages_Rsvd).toBe(1);
        }
        w.p.exit(0);
        expect(w.k.check()).toEqual([]);
        expect(w.k.meminfo().HugePages_Free).toBe(3);
      }),
      { numRuns: 60 },
    );
  });
});

// ---------------------------------------------------------------------------
// In-place conversion (v8).

const IP_PAGES = 64;

interface World2 {
  k: Kernel;
  p: Process;
  vm: number;
  gmem: number;
  hva: number;
  gup: number;
  nextVcpu: number;
  /** The reference: one byte per page (host and guest share it), the PRIVATE attribute, the pinned page or -1. */
  content: Uint8Array;
  attr: Uint8Array;
  pinned: number;
  /** File pages, and the step between the pages the ops name (a HugeTLB file spreads them over its huge pages). */
  npages: number;
  scale: number;
  hugetlb: boolean;
  /** The gmemHugeShared design (HugeTLB worlds). */
  design: string;
  /** separate-shared: the guest's private side, one byte per page (content is then the VMM memfd, the shared side). */
  priv: Uint8Array;
}

/**
 * hugetlb: a 4 MiB file of 2 MiB HugeTLB pages under gmemHugeShared design
 * (split: split while they hold a shared page; no-longterm-pin and pfnmap:
 * kept whole; separate-shared: a private-only file beside a VMM memfd, which
 * is then what the host reads and writes).
 */
function boot2(hugetlb = false, design = 'split'): World2 {
  const npages = hugetlb ? 1024 : IP_PAGES;
  const separate = hugetlb && design === 'separate-shared';
  const k = new Kernel(hugetlb ? { memory: '64MiB', hugetlb: { '2MiB': 3 }, hugetlbOptimizeVmemmap: design !== 'split', kvm: { guestMemfd: 'mainline', inPlaceConversion: true, hugetlb: true }, policy: { gmemHugeShared: design } } : { memory: '64MiB', kvm: { guestMemfd: 'mainline', inPlaceConversion: true } });
  const p = k.spawn();
  const kvm = p.open('/dev/kvm', U.O_RDWR);
  const vm = p.ioctl(kvm, U.KVM_CREATE_VM, U.KVM_X86_SW_PROTECTED_VM);
  const flags = (separate ? 0n : U.GUEST_MEMFD_FLAG_MMAP) | U.GUEST_MEMFD_FLAG_INIT_SHARED | (hugetlb ? U.GUEST_MEMFD_FLAG_HUGETLB | U.GUESTMEM_HUGETLB_FLAG_2MB : 0n);
  const gmem = p.ioctl(vm, U.KVM_CREATE_GUEST_MEMFD, { size: npages * PAGE, flags });
  let backing = gmem;
  if (separate) {
    backing = p.memfd_create('shared', 0);
    p.ftruncate(backing, npages * PAGE);
  }
  const hva = p.mmap(0, npages * PAGE, RW, U.MAP_SHARED, backing, 0);
  p.ioctl(vm, U.KVM_SET_USER_MEMORY_REGION2, { slot: 0, flags: U.KVM_MEM_GUEST_MEMFD, guest_phys_addr: GPA, memory_size: npages * PAGE, userspace_addr: hva, guest_memfd: gmem, guest_memfd_offset: 0 });
  const gup = p.open(U.GUP_TEST_PATH, U.O_RDWR);
  return { k, p, vm, gmem, hva, gup, nextVcpu: 0, content: new Uint8Array(npages), attr: new Uint8Array(npages), pinned: -1, npages, scale: npages / IP_PAGES, hugetlb, design: hugetlb ? design : 'split', priv: new Uint8Array(npages) };
}

type Op2 =
  | { op: 'gfill'; page: number; n: number; byte: number }
  | { op: 'gread'; page: number }
  | { op: 'hwrite'; page: number; byte: number }
  | { op: 'hread'; page: number }
  | { op: 'convert'; page: number; n: number; priv: boolean }
  | { op: 'punch'; page: number; n: number }
  | { op: 'pin'; page: number }
  | { op: 'unpin' }
  | { op: 'fork' };

// Half-file offsets and counts: whole huge pages of the HugeTLB world (its pages are scaled by 16).
const page2 = fc.oneof(fc.integer({ min: 0, max: IP_PAGES - 1 }), fc.constantFrom(0, IP_PAGES / 2));
const count2 = fc.oneof(fc.integer({ min: 1, max: 4 }), fc.constantFrom(IP_PAGES / 2, IP_PAGES));
const op2Arb: fc.Arbitrary<Op2> = fc.oneof(
  fc.record({ op: fc.constant('gfill' as const), page: page2, n: count2, byte: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ op: fc.constant('gread' as const), page: page2 }),
  fc.record({ op: fc.constant('hwrite' as const), page: page2, byte: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ op: fc.constant('hread' as const), page: page2 }),
  fc.record({ op: fc.constant('convert' as const), page: page2, n: count2, priv: fc.boolean() }),
  fc.record({ op: fc.constant('punch' as const), page: page2, n: count2 }),
  fc.record({ op: fc.constant('pin' as const), page: page2 }),
  fc.constant({ op: 'unpin' as const }),
  fc.constant({ op: 'fork' as const }),
);

function step2(w: World2, op: Op2): void {
  const { p } = w;
  const separate = w.design === 'separate-shared';
  // The guest's view of a page: the shared side, or (separate-shared) the private side for a private page.
  const guestView = (i: number) => (separate && w.attr[i] ? w.priv : w.content);
  // Spread the named pages over the file; a full-size count covers the rest of the file.
  const o = 'page' in op ? { ...op, page: op.page * w.scale } : op;
  const n = 'n' in o ? (o.n === IP_PAGES / 2 ? o.n * w.scale : o.n) : 0;
  const [a, b] = 'n' in o ? [o.page, o.n === IP_PAGES ? w.npages : Math.min(w.npages, o.page + n)] : [0, 0];
  switch (o.op) {
    case 'gfill': {
      const vcpu = p.ioctl(w.vm, U.KVM_CREATE_VCPU, w.nextVcpu++);
      p.kvm_vcpu_guest(vcpu, (function* () {
        yield* memsetGpa(GPA + a * PAGE, o.byte, (b - a) * PAGE);
        yield* GUEST_DONE();
      })());
      p.ioctl(vcpu, U.KVM_RUN, 0);
      expect(p.kvm_run(vcpu).ucall?.cmd).toBe(4);
      p.close(vcpu);
      for (let i = a; i < b; i++) guestView(i)[i] = o.byte;
      break;
    }
    case 'gread': {
      let v = -1;
      const vcpu = p.ioctl(w.vm, U.KVM_CREATE_VCPU, w.nextVcpu++);
      p.kvm_vcpu_guest(vcpu, (function* () {
        v = yield* readU8(GPA + o.page * PAGE + 5);
        yield* GUEST_DONE();
      })());
      p.ioctl(vcpu, U.KVM_RUN, 0);
      p.close(vcpu);
      expect(v).toBe(guestView(o.page)[o.page]);
      break;
    }
    case 'hwrite': {
      const s = signalOf(() => p.write(w.hva + o.page * PAGE + 9, Uint8Array.of(o.byte)));
      // separate-shared: the host writes its own memfd, whatever the attribute.
      expect(s).toBe(w.attr[o.page] && !separate ? 'SIGBUS' : null);
      // The byte written is page-wide in the reference only if the page was uniform: keep the reference exact by filling.
      if (s === null) {
        p.fill(w.hva + o.page * PAGE, PAGE, o.byte);
        w.content[o.page] = o.byte;
      }
      break;
    }
    case 'hread': {
      let v = -1;
      const s = signalOf(() => (v = p.read(w.hva + o.page * PAGE + 11, 1)[0]!));
      expect(s).toBe(w.attr[o.page] && !separate ? 'SIGBUS' : null);
      if (s === null) expect(v).toBe(w.content[o.page]);
      break;
    }
    case 'convert': {
      const arg = { offset: a * PAGE, size: (b - a) * PAGE, attributes: o.priv ? U.KVM_MEMORY_ATTRIBUTE_PRIVATE : 0, flags: 0, error_offset: 0 as number | bigint };
      const r = syscallCode(() => p.ioctl(w.gmem, U.KVM_SET_MEMORY_ATTRIBUTES2, arg));
      const already = w.attr.subarray(a, b).every((x) => x === (o.priv ? 1 : 0));
      // A pin blocks only where it holds guest_memfd's page (separate-shared pins the VMM's memfd).
      const blocked = !separate && o.priv && !already && w.pinned >= a && w.pinned < b;
      expect(r).toBe(blocked ? 'EAGAIN' : 'ok');
      if (blocked) expect(arg.error_offset).toBe(w.pinned * PAGE);
      else {
        // separate-shared discards the side the changing pages leave: the memfd going private, guest_memfd going shared.
        if (separate) for (let i = a; i < b; i++) if (w.attr[i] !== (o.priv ? 1 : 0)) (o.priv ? w.content : w.priv)[i] = 0;
        w.attr.fill(o.priv ? 1 : 0, a, b);
      }
      break;
    }
    case 'punch': {
      const r = syscallCode(() => p.fallocate(w.gmem, U.FALLOC_FL_KEEP_SIZE | U.FALLOC_FL_PUNCH_HOLE, a * PAGE, (b - a) * PAGE));
      // HugeTLB: only the huge pages the range covers whole are freed, and a pinned one refuses (EAGAIN, nothing done).
      const H = 512;
      const pinnedWhole = w.hugetlb && w.pinned >= 0 && Math.floor(w.pinned / H) * H >= a && Math.floor(w.pinned / H) * H + H <= b;
      expect(r).toBe(pinnedWhole && !separate ? 'EAGAIN' : 'ok');
      if (pinnedWhole && !separate) break;
      // separate-shared: the punch is of guest_memfd, the private side.
      (separate ? w.priv : w.content).fill(0, a, b);
      if (separate) break;
      // An order-0 pinned page left the file: it no longer blocks conversions (a HugeTLB piece only left if its huge page went).
      if (!w.hugetlb && w.pinned >= a && w.pinned < b) w.pinned = -2;
      break;
    }
    case 'pin': {
      if (w.pinned !== -1) break;
      const r = syscallCode(() => p.ioctl(w.gup, U.PIN_LONGTERM_TEST_START, { addr: w.hva + o.page * PAGE, size: PAGE, flags: 0 }));
      // GUP faults the page in: SIGBUS at a private index, so the pin fails; no-longterm-pin refuses a huge folio
      // (ENOMEM, the failed migration); pfnmap refuses any GUP of its VM_PFNMAP mapping (EFAULT).
      const want = { split: w.attr[o.page] ? 'EFAULT' : 'ok', 'no-longterm-pin': w.attr[o.page] ? 'EFAULT' : 'ENOMEM', pfnmap: 'EFAULT', 'separate-shared': 'ok' }[w.design];
      expect(r).toBe(want);
      if (r === 'ok') w.pinned = o.page;
      break;
    }
    case 'unpin':
      if (w.pinned === -1) break;
      p.ioctl(w.gup, U.PIN_LONGTERM_TEST_STOP);
      w.pinned = -1;
      break;
    case 'fork': {
      const c = p.fork();
      const pg = separate ? 0 : w.attr.indexOf(0);
      if (pg >= 0) expect(c.read(w.hva + pg * PAGE, 1)[0]).toBe(w.content[pg]);
      c.exit(0);
      break;
    }
  }
}

describe('KVM property: in-place conversion through the guest_memfd (v8)', () => {
  it('keeps host and guest views of one memory equal to the reference, SIGBUS on private pages, EAGAIN while pinned', () => {
    fc.assert(
      fc.property(fc.array(op2Arb, { minLength: 1, maxLength: 30 }), (ops) => {
        const w = boot2();
        for (const o of ops) {
          step2(w, o);
          expect(w.k.check()).toEqual([]);
        }
        w.p.exit(0);
        expect(w.k.check()).toEqual([]);
      }),
      { numRuns: 40 },
    );
  });

  it('the same on a HugeTLB-backed file under a gmemHugeShared design drawn at random (separate-shared: host and guest views apart)', () => {
    fc.assert(
      fc.property(fc.constantFrom('split', 'no-longterm-pin', 'pfnmap', 'separate-shared'), fc.array(op2Arb, { minLength: 1, maxLength: 30 }), (design, ops) => {
        const w = boot2(true, design);
        for (const o of ops) {
          step2(w, o);
          expect(w.k.check()).toEqual([]);
        }
        w.p.exit(0);
        expect(w.k.check()).toEqual([]);
        expect(w.k.meminfo().HugePages_Free).toBe(3);
        expect(w.k.meminfo().HugePages_Rsvd).toBe(0);
      }),
      { numRuns: 30 },
    );
  });
});
