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
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Kernel, type Process, SyscallError } from '../../src/index.js';
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

function boot(): World {
  const k = new Kernel({ memory: '128MiB' });
  const p = k.spawn();
  const kvm = p.open('/dev/kvm', U.O_RDWR);
  const vm = p.ioctl(kvm, U.KVM_CREATE_VM, U.KVM_X86_SW_PROTECTED_VM);
  const raw = p.mmap(0, NPAGES * PAGE + (2 << 20), RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
  const hva = Math.ceil(raw / (2 << 20)) * (2 << 20);
  const gmem = p.ioctl(vm, U.KVM_CREATE_GUEST_MEMFD, { size: NPAGES * PAGE, flags: 0 });
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
});
