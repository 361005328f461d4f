/**
 * /proc/pid/clear_refs (Process.clear_refs): soft-dirty clearing
 * write-protects so the next write faults (and mprotect cannot re-enable
 * writes early), pinned pages are left alone, 1-3 age pages, 5 resets VmHWM.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Kernel, type Process, SyscallError, FOLL_LONGTERM, FOLL_WRITE } from '../../index.js';
import { MADV_NOHUGEPAGE, MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE } from '../../uapi/index.js';

const PAGE = 4096;
const RW = PROT_READ | PROT_WRITE;

let kernels: Kernel[] = [];
afterEach(() => {
  for (const k of kernels) expect(k.check()).toEqual([]);
  kernels = [];
});

function boot(): { k: Kernel; p: Process } {
  const k = new Kernel({ memory: '256MiB' });
  kernels.push(k);
  return { k, p: k.spawn() };
}

function anon(p: Process, pages: number): number {
  const a = p.mmap(0, pages * PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  p.madvise(a, pages * PAGE, MADV_NOHUGEPAGE);
  p.fill(a, pages * PAGE, 1);
  return a;
}

function sdFlag(p: Process, a: number): boolean {
  return p.smaps().find((s) => s.start <= a && a < s.end)!.VmFlags.split(' ').includes('sd');
}

describe('clear_refs', () => {
  it('"4" clears soft-dirty: the next write faults and marks the page soft-dirty again', () => {
    const { k, p } = boot();
    const a = anon(p, 2);
    expect(p.pagemap(a).softDirty).toBe(true);
    expect(sdFlag(p, a)).toBe(true);
    p.clear_refs('4\n');
    expect(sdFlag(p, a)).toBe(false);
    expect(p.pagemap(a).softDirty).toBe(false);
    const faults = k.events().fault!;
    p.write(a, new Uint8Array([2]));
    expect(k.events().fault).toBe(faults + 1);
    expect(p.pagemap(a).softDirty).toBe(true);
    expect(p.pagemap(a + PAGE).softDirty).toBe(false);
  });

  it('after "4", mprotect(PROT_READ|PROT_WRITE) leaves a clean page read-only until written', () => {
    const { k, p } = boot();
    const a = anon(p, 1);
    p.mprotect(a, PAGE, PROT_READ);
    p.clear_refs(4);
    p.mprotect(a, PAGE, RW);
    const faults = k.events().fault!;
    p.write(a, new Uint8Array([3]));
    // The write fault reuses the exclusive page.
    expect(k.events().fault).toBe(faults + 1);
    expect(k.events().cow_reuse).toBeGreaterThan(0);
  });

  it('leaves a maybe-pinned page of a COW mapping writable (pte_is_pinned), but not a shared mapping\'s', () => {
    const { k, p } = boot();
    const a = anon(p, 2);
    const pages: number[] = [];
    expect(k.gup.pin_user_pages(p, a, 1, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(1);
    const s = p.mmap(0, PAGE, RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    p.fill(s, PAGE, 1);
    const sp: number[] = [];
    expect(k.gup.pin_user_pages(p, s, 1, FOLL_WRITE | FOLL_LONGTERM, sp)).toBe(1);
    p.clear_refs('4');
    expect(p.pagemap(a).softDirty).toBe(true);
    expect(p.pagemap(a + PAGE).softDirty).toBe(false);
    expect(p.pagemap(s).softDirty).toBe(false);
    k.gup.unpin_user_pages(pages, 1);
    k.gup.unpin_user_pages(sp, 1);
  });

  it('"1" ages every page (Referenced 0); "2" only anonymous ones; "5" resets VmHWM', () => {
    const { p } = boot();
    const a = anon(p, 4);
    const fd = p.memfd_create('m', 0);
    p.ftruncate(fd, PAGE);
    const f = p.mmap(0, PAGE, RW, MAP_SHARED, fd, 0);
    p.fill(f, PAGE, 1);
    const ref = (addr: number) => p.smaps().find((e) => e.start <= addr && addr < e.end)!.Referenced;
    expect(ref(a)).toBe(16);
    p.clear_refs('2');
    expect(ref(a)).toBe(0);
    expect(ref(f)).toBe(4);
    p.clear_refs('1');
    expect(ref(f)).toBe(0);
    p.munmap(a, 4 * PAGE);
    expect(p.status().VmHWM).toBeGreaterThan(p.status().VmRSS);
    p.clear_refs('5');
    expect(p.status().VmHWM).toBe(p.status().VmRSS);
  });

  it('anything but 1-5 is EINVAL', () => {
    const { p } = boot();
    for (const v of ['0', '6', 'x', '', '4x', -1, 1.5, null, {}]) {
      let code = 'ok';
      try {
        p.clear_refs(v);
      } catch (e) {
        if (!(e instanceof SyscallError)) throw e;
        code = e.code;
      }
      expect(code, String(v)).toBe('EINVAL');
    }
    p.clear_refs(' 3 ');
  });
});
