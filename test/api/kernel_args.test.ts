/**
 * The non-syscall entry points answer hostile arguments the way the kernel
 * would (issue 11 section 1): kernel.gup's bad task or pages pointer,
 * releases of pins the caller does not hold, sysfs paths and buffers, and
 * Process.comm.
 */
import { describe, expect, it } from 'vitest';
import { FOLL_LONGTERM, FOLL_WRITE, Kernel, SyscallError } from '../../src/index.js';
import { KVM_CREATE_VCPU, KVM_CREATE_VM, MAP_ANONYMOUS, MAP_PRIVATE, O_RDWR, PROT_READ, PROT_WRITE } from '../../src/uapi/index.js';

function setup() {
  const k = new Kernel({ memory: '32MiB' });
  const p = k.spawn();
  const addr = p.mmap(0, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  p.fill(addr, 4 * 4096, 7);
  return { k, p, addr };
}

function errnoOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof SyscallError) return `${e.code}/${e.syscall}`;
    throw e;
  }
  return 'ok';
}

describe('kernel.gup with bad pointers', () => {
  it('a task that is not a Process is -EFAULT, without running its code', () => {
    const { k } = setup();
    const trap = new Proxy({}, { get() { throw new Error('trap ran'); }, has() { throw new Error('trap ran'); } });
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    for (const p of [undefined, null, {}, trap, revoked.proxy, Symbol('p'), 3]) expect(k.gup.pin_user_pages(p as never, 0, 1, FOLL_WRITE, [])).toBe(-14);
    expect(k.check()).toEqual([]);
  });

  it('a pages array that cannot be stored into is -EFAULT, and nothing stays pinned', () => {
    const { k, p, addr } = setup();
    const pfn = p.pagemap(addr).pfn;
    const before = k.folio(pfn)!.refcount;
    const frozen = Object.freeze([] as number[]);
    const throwing = new Proxy([] as number[], { set() { throw new Error('user set trap'); } });
    const revoked = Proxy.revocable([] as number[], {});
    revoked.revoke();
    for (const pages of [frozen, throwing, revoked.proxy, 'x', 5]) {
      expect(k.gup.pin_user_pages(p, addr, 2, FOLL_WRITE | FOLL_LONGTERM, pages as number[])).toBe(-14);
      expect(k.gup.get_user_pages_fast(p, addr, 2, 0, pages as number[])).toBe(-14);
      // A small folio's pin is GUP_PIN_COUNTING_BIAS on its refcount: none stays.
      expect(k.folio(pfn)!.refcount).toBe(before);
      expect(k.gup.folio_maybe_dma_pinned(pfn)).toBe(false);
    }
    expect(k.check()).toEqual([]);
  });

  it('flags are checked before the pages pointer (is_valid_gup_args comes first)', () => {
    const { k, p, addr } = setup();
    // FOLL_PIN from a caller is -EINVAL for get_user_pages_fast even with a bad pages pointer.
    expect(k.gup.get_user_pages_fast(p, addr, 1, 1 << 19, Object.freeze([]) as unknown as number[])).toBe(-22);
  });

  it('releasing a pin or reference the caller does not hold is refused with a WARN', () => {
    const { k, p, addr } = setup();
    const pfn = p.pagemap(addr).pfn;
    const before = k.folio(pfn)!.refcount;
    k.gup.unpin_user_page(pfn);
    k.gup.put_page(pfn);
    k.gup.unpin_user_pages([pfn, pfn], 2);
    k.gup.folio_add_pin(pfn);
    expect(k.folio(pfn)!.refcount).toBe(before);
    expect(k.dmesg().filter((l) => l.startsWith('WARNING: at mm/gup.c:'))).toHaveLength(5);
    expect(k.check()).toEqual([]);
    // A held pin is released once, even when listed twice.
    const pages: number[] = [];
    expect(k.gup.pin_user_pages(p, addr, 1, FOLL_WRITE, pages)).toBe(1);
    expect(k.folio(pfn)!.refcount).toBe(before + 1024);
    k.gup.unpin_user_pages([pfn, pfn, 'x' as unknown as number], 3);
    expect(k.folio(pfn)!.refcount).toBe(before);
    expect(k.check()).toEqual([]);
  });

  it('npages beyond the array reads only the array', () => {
    const { k, p, addr } = setup();
    const pages: number[] = [];
    expect(k.gup.pin_user_pages(p, addr, 2, FOLL_WRITE, pages)).toBe(2);
    const pinned = k.folio(pages[0]!)!.refcount;
    k.gup.unpin_user_pages(pages, 2 ** 52);
    expect(k.folio(pages[0]!)!.refcount).toBe(pinned - 1024);
    expect(k.check()).toEqual([]);
  });
});

describe('sysfs paths and buffers', () => {
  const ENABLED = '/sys/kernel/mm/transparent_hugepage/enabled';
  it('a path that is not a string is EFAULT from open; an empty one ENOENT', () => {
    const { k } = setup();
    for (const path of [4096, Symbol('p'), null, {}, 1n]) {
      expect(errnoOf(() => k.readSysfs(path as string))).toBe('EFAULT/open');
      expect(errnoOf(() => k.writeSysfs(path as string, 'never'))).toBe('EFAULT/open');
    }
    expect(errnoOf(() => k.readSysfs(''))).toBe('ENOENT/open');
  });

  it("a buffer that is not a string is EFAULT from write, after open's errnos", () => {
    const { k } = setup();
    expect(errnoOf(() => k.writeSysfs('/sys/nope', Symbol('v') as unknown as string))).toBe('ENOENT/open');
    expect(errnoOf(() => k.writeSysfs('/sys/kernel/mm/transparent_hugepage/khugepaged/full_scans', {} as string))).toBe('EACCES/open');
    expect(errnoOf(() => k.writeSysfs(ENABLED, Symbol('v') as unknown as string))).toBe('EFAULT/write');
    expect(errnoOf(() => k.writeSysfs(ENABLED, { toString: () => 'never' } as unknown as string))).toBe('EFAULT/write');
    expect(k.readSysfs(ENABLED)).toBe('[always] madvise never');
    expect(errnoOf(() => k.writeSysfs('/sys/kernel/mm/transparent_hugepage/khugepaged/pages_to_scan', 4096 as unknown as string))).toBe('ok');
    expect(k.readSysfs('/sys/kernel/mm/transparent_hugepage/khugepaged/pages_to_scan')).toBe('4096');
  });
});

describe('Process.comm', () => {
  it('takes a string; anything else is EFAULT from prctl and leaves the name', () => {
    const { p } = setup();
    p.comm = 'a-very-long-task-name';
    expect(p.comm).toBe('a-very-long-tas');
    for (const v of [Symbol('x'), 5, null, { toString: () => 'x' }]) expect(errnoOf(() => (p.comm = v as string))).toBe('EFAULT/prctl');
    expect(p.comm).toBe('a-very-long-tas');
  });
});

describe('Process.kvm_vcpu_guest', () => {
  it('guest code that cannot be read (a revoked Proxy) is EINVAL; a getter that throws passes its error through', () => {
    const { p } = setup();
    const vm = p.ioctl(p.open('/dev/kvm', O_RDWR), KVM_CREATE_VM, 0);
    const vcpu = p.ioctl(vm, KVM_CREATE_VCPU, 0);
    const r = Proxy.revocable({}, {});
    r.revoke();
    expect(errnoOf(() => p.kvm_vcpu_guest(vcpu, r.proxy as never))).toBe('EINVAL/kvm_vcpu_guest');
    const mine = new Error('mine');
    const getter = Object.defineProperty({}, 'next', { get() { throw mine; } });
    expect(() => p.kvm_vcpu_guest(vcpu, getter as never)).toThrow(mine);
  });
});
