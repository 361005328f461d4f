/**
 * userfaultfd's behaviour beyond uffd-unit-tests: what a fault's message
 * says, how the model's waiting works (UffdFault, the monitor, kernel-mode
 * accesses), what registration does to VMAs, what fork, mremap, munmap and
 * close do to registrations and uffd-wp state, and the oracle's uffd rules.
 */
import { describe, expect, it } from 'vitest';
import { Kernel, type Process, SignalError, SyscallError, UffdFault } from '../index.js';
import * as U from '../uapi/index.js';
import { Level } from './page.js';
import { Pte, type Walk, walk } from './pgtable.js';

const PAGE = 4096;
const RW = U.PROT_READ | U.PROT_WRITE;

function setup(features = 0, flags = U.O_CLOEXEC | U.O_NONBLOCK) {
  const k = new Kernel({ memory: '256MiB', thp: 'never' });
  const p = k.spawn();
  const uffd = p.userfaultfd(flags);
  p.ioctl(uffd, U.UFFDIO_API, { api: U.UFFD_API, features, ioctls: 0 });
  const a = p.mmap(0, 8 * PAGE, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
  const src = p.mmap(0, 8 * PAGE, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
  p.fill(src, 8 * PAGE, 0x5a);
  return { k, p, uffd, a, src };
}

function register(p: Process, uffd: number, start: number, len: number, mode: number): number {
  const reg = { range: { start, len }, mode, ioctls: 0 };
  p.ioctl(uffd, U.UFFDIO_REGISTER, reg);
  return Number(reg.ioctls);
}

function blocked(fn: () => unknown): UffdFault {
  try {
    fn();
  } catch (e) {
    if (e instanceof UffdFault) return e;
    throw e;
  }
  throw new Error('the access did not block');
}

function vmFlags(p: Process, addr: number): string {
  return p.smaps().find((s) => s.start <= addr && addr < s.end)!.VmFlags;
}

function leaf(p: Process, addr: number): Walk {
  const w: Walk = { table: null as never, idx: 0, level: Level.PTE, parent: null, pidx: 0 };
  walk(p.mm!.pgd, addr, w);
  return w;
}

describe('userfaultfd: fault messages and waiting', () => {
  it('a blocked access throws UffdFault; its message is what read(2) gives; resolving and retrying completes it', () => {
    const { k, p, uffd, a, src } = setup();
    register(p, uffd, a, 8 * PAGE, U.UFFDIO_REGISTER_MODE_MISSING);
    const e = blocked(() => p.write(a + PAGE + 123, new Uint8Array([1, 2])));
    expect(e.addr).toBe(a + PAGE + 123);
    expect(e.msg.event).toBe(U.UFFD_EVENT_PAGEFAULT);
    expect(e.msg.arg.pagefault.address).toBe(a + PAGE);
    expect(e.msg.arg.pagefault.flags).toBe(U.UFFD_PAGEFAULT_FLAG_WRITE);
    // The same 32 bytes through read(2).
    const buf = new Uint8Array(64);
    expect(p.sysread(uffd, buf, 64)).toBe(32);
    expect(U.decodeUffdMsg(buf)).toEqual(e.msg);
    expect(() => p.sysread(uffd, buf, 64)).toThrow(SyscallError);
    const c = { dst: a + PAGE, src, len: PAGE, mode: 0, copy: 0 };
    p.ioctl(uffd, U.UFFDIO_COPY, c);
    expect(c.copy).toBe(PAGE);
    p.write(a + PAGE + 123, new Uint8Array([1, 2]));
    expect([...p.read(a + PAGE + 122, 4)]).toEqual([0x5a, 1, 2, 0x5a]);
    expect(k.check()).toEqual([]);
  });

  it('EXACT_ADDRESS reports the faulting byte, THREAD_ID the pid; a retried access replaces the blocked one', () => {
    const { p, uffd, a } = setup(U.UFFD_FEATURE_EXACT_ADDRESS | U.UFFD_FEATURE_THREAD_ID);
    register(p, uffd, a, 8 * PAGE, U.UFFDIO_REGISTER_MODE_MISSING);
    blocked(() => p.read(a + 7, 1));
    const e = blocked(() => p.read(a + 2 * PAGE + 9, 1));
    expect(e.msg.arg.pagefault.address).toBe(a + 2 * PAGE + 9);
    expect(e.msg.arg.pagefault.feat.ptid).toBe(p.pid);
    // One thread, one wait: only the second fault is queued.
    expect(p.userfaultfd_read(uffd).arg.pagefault.address).toBe(a + 2 * PAGE + 9);
    expect(() => p.userfaultfd_read(uffd)).toThrow(/EAGAIN/);
  });

  it('a monitor that resolves makes the access complete; one that only reads leaves it blocked', () => {
    const { k, p, uffd, a } = setup();
    register(p, uffd, a, 8 * PAGE, U.UFFDIO_REGISTER_MODE_MISSING);
    let faults = 0;
    p.userfaultfd_monitor(uffd, () => {
      const m = p.userfaultfd_read(uffd);
      faults++;
      p.ioctl(uffd, U.UFFDIO_ZEROPAGE, { range: { start: Number(m.arg.pagefault.address), len: PAGE }, mode: 0 });
    });
    expect([...p.read(a, 2 * PAGE)].every((b) => b === 0)).toBe(true);
    expect(faults).toBe(2);
    p.userfaultfd_monitor(uffd, () => void p.userfaultfd_read(uffd));
    blocked(() => p.read(a + 3 * PAGE, 1));
    p.userfaultfd_monitor(uffd, null);
    expect(k.check()).toEqual([]);
  });

  it('UFFD_FEATURE_SIGBUS: no message, SIGBUS', () => {
    const { p, uffd, a } = setup(U.UFFD_FEATURE_SIGBUS);
    register(p, uffd, a, 8 * PAGE, U.UFFDIO_REGISTER_MODE_MISSING);
    expect(() => p.read(a, 1)).toThrow(SignalError);
    expect(() => p.userfaultfd_read(uffd)).toThrow(/EAGAIN/);
  });

  it('kernel accesses: USER_MODE_ONLY gives EFAULT; otherwise the monitor resolves them, and without one they end interrupted', () => {
    const um = setup(0, U.UFFD_USER_MODE_ONLY);
    register(um.p, um.uffd, um.a, 8 * PAGE, U.UFFDIO_REGISTER_MODE_MISSING);
    expect(() => um.p.madvise(um.a, PAGE, U.MADV_POPULATE_READ)).toThrow(/EFAULT/);
    const { k, p, uffd, a } = setup();
    register(p, uffd, a, 8 * PAGE, U.UFFDIO_REGISTER_MODE_MISSING);
    expect(() => p.madvise(a, PAGE, U.MADV_POPULATE_READ)).toThrow(/EINTR/);
    // The withdrawn wait left no message behind.
    expect(() => p.userfaultfd_read(uffd)).toThrow(/EAGAIN/);
    p.userfaultfd_monitor(uffd, () => {
      const m = p.userfaultfd_read(uffd);
      p.ioctl(uffd, U.UFFDIO_ZEROPAGE, { range: { start: Number(m.arg.pagefault.address), len: PAGE }, mode: 0 });
    });
    p.madvise(a, 4 * PAGE, U.MADV_POPULATE_READ);
    expect(p.pagemap(a + 3 * PAGE).present).toBe(true);
    expect(k.check()).toEqual([]);
  });

  it('UNREGISTER and close wake waiting faults: the retried access maps the zero page', () => {
    const { k, p, uffd, a } = setup();
    register(p, uffd, a, 8 * PAGE, U.UFFDIO_REGISTER_MODE_MISSING);
    blocked(() => p.read(a, 1));
    p.ioctl(uffd, U.UFFDIO_UNREGISTER, { start: a, len: PAGE });
    expect(() => p.userfaultfd_read(uffd)).toThrow(/EAGAIN/);
    expect(p.read(a, 1)[0]).toBe(0);
    blocked(() => p.read(a + PAGE, 1));
    p.close(uffd);
    expect(p.read(a + PAGE, 1)[0]).toBe(0);
    expect(vmFlags(p, a)).not.toContain('um');
    expect(k.check()).toEqual([]);
  });
});

describe('userfaultfd: registration', () => {
  it('splits and flags the VMA (smaps um/uw/ui); unregistering merges it back', () => {
    const { k, p, uffd, a } = setup();
    const before = p.smaps().length;
    register(p, uffd, a + PAGE, PAGE, U.UFFDIO_REGISTER_MODE_MISSING | U.UFFDIO_REGISTER_MODE_WP);
    expect(p.smaps().length).toBe(before + 2);
    expect(vmFlags(p, a + PAGE)).toMatch(/\bum\b.*\buw\b/);
    expect(vmFlags(p, a)).not.toContain('um');
    p.ioctl(uffd, U.UFFDIO_UNREGISTER, { start: a, len: 8 * PAGE });
    expect(p.smaps().length).toBe(before);
    const fd = p.memfd_create('m', 0);
    p.ftruncate(fd, PAGE);
    const m = p.mmap(0, PAGE, RW, U.MAP_SHARED, fd, 0);
    register(p, uffd, m, PAGE, U.UFFDIO_REGISTER_MODE_MINOR);
    expect(vmFlags(p, m)).toContain('ui');
    expect(k.check()).toEqual([]);
  });

  it('the ioctls a range supports: no WRITEPROTECT without WP, no CONTINUE without MINOR', () => {
    const { p, uffd, a } = setup();
    expect(register(p, uffd, a, PAGE, U.UFFDIO_REGISTER_MODE_MISSING)).toBe(U.UFFD_API_RANGE_IOCTLS & ~(1 << U._UFFDIO_WRITEPROTECT) & ~(1 << U._UFFDIO_CONTINUE));
    expect(register(p, uffd, a + PAGE, PAGE, U.UFFDIO_REGISTER_MODE_WP)).toBe(U.UFFD_API_RANGE_IOCTLS & ~(1 << U._UFFDIO_CONTINUE));
  });

  it('fork without UFFD_FEATURE_EVENT_FORK: the child is not registered and loses the uffd-wp bits', () => {
    const { k, p, uffd, a } = setup();
    register(p, uffd, a, 8 * PAGE, U.UFFDIO_REGISTER_MODE_WP);
    p.fill(a, PAGE, 1);
    p.ioctl(uffd, U.UFFDIO_WRITEPROTECT, { range: { start: a, len: PAGE }, mode: U.UFFDIO_WRITEPROTECT_MODE_WP });
    const c = p.fork();
    expect(vmFlags(c, a)).not.toContain('uw');
    expect(c.pagemap(a).uffdWp).toBe(false);
    expect(p.pagemap(a).uffdWp).toBe(true);
    c.fill(a, PAGE, 2);
    expect(k.check()).toEqual([]);
  });

  it('mremap without UFFD_EVENT_REMAP drops the registration and the uffd-wp bits; with it, keeps them and tells the monitor', () => {
    for (const features of [0, U.UFFD_FEATURE_EVENT_REMAP]) {
      const { k, p, uffd, a } = setup(features);
      register(p, uffd, a, 8 * PAGE, U.UFFDIO_REGISTER_MODE_WP | U.UFFDIO_REGISTER_MODE_MISSING);
      p.ioctl(uffd, U.UFFDIO_ZEROPAGE, { range: { start: a, len: PAGE }, mode: 0 });
      p.ioctl(uffd, U.UFFDIO_WRITEPROTECT, { range: { start: a, len: PAGE }, mode: U.UFFDIO_WRITEPROTECT_MODE_WP });
      const to = p.mremap(a, 8 * PAGE, 8 * PAGE, U.MREMAP_MAYMOVE | U.MREMAP_FIXED, 1 << 30);
      expect(p.pagemap(to).uffdWp).toBe(features !== 0);
      expect(vmFlags(p, to).includes('uw')).toBe(features !== 0);
      if (features !== 0) {
        const m = p.userfaultfd_read(uffd);
        expect(m.event).toBe(U.UFFD_EVENT_REMAP);
        expect(m.arg.remap).toEqual({ from: a, to, len: 8 * PAGE });
      }
      expect(() => p.userfaultfd_read(uffd)).toThrow(/EAGAIN/);
      expect(k.check()).toEqual([]);
    }
  });

  it('munmap with UFFD_EVENT_UNMAP: one event per range; fills answer EAGAIN until it is read', () => {
    const { k, p, uffd, a, src } = setup(U.UFFD_FEATURE_EVENT_UNMAP);
    register(p, uffd, a, 8 * PAGE, U.UFFDIO_REGISTER_MODE_MISSING);
    register(p, uffd, src, 2 * PAGE, U.UFFDIO_REGISTER_MODE_MISSING);
    p.munmap(a + 2 * PAGE, 2 * PAGE);
    expect(() => p.ioctl(uffd, U.UFFDIO_ZEROPAGE, { range: { start: a, len: PAGE }, mode: 0 })).toThrow(/EAGAIN/);
    const m = p.userfaultfd_read(uffd);
    expect(m.event).toBe(U.UFFD_EVENT_UNMAP);
    expect(m.arg.remove).toEqual({ start: a + 2 * PAGE, end: a + 4 * PAGE });
    expect(p.ioctl(uffd, U.UFFDIO_ZEROPAGE, { range: { start: a, len: PAGE }, mode: 0 })).toBe(0);
    expect(k.check()).toEqual([]);
  });
});

describe('userfaultfd: write protection and markers', () => {
  it('a write to a write-protected page is a WP fault; unprotecting makes the exclusive page writable at once', () => {
    const { k, p, uffd, a } = setup();
    register(p, uffd, a, 8 * PAGE, U.UFFDIO_REGISTER_MODE_WP);
    p.fill(a, PAGE, 1);
    p.ioctl(uffd, U.UFFDIO_WRITEPROTECT, { range: { start: a, len: PAGE }, mode: U.UFFDIO_WRITEPROTECT_MODE_WP });
    const w = leaf(p, a);
    expect(w.table.fl[w.idx]! & (Pte.UFFD_WP | Pte.RW)).toBe(Pte.UFFD_WP);
    const e = blocked(() => p.fill(a, 8, 2));
    expect(e.msg.arg.pagefault.flags).toBe(U.UFFD_PAGEFAULT_FLAG_WRITE | U.UFFD_PAGEFAULT_FLAG_WP);
    p.ioctl(uffd, U.UFFDIO_WRITEPROTECT, { range: { start: a, len: PAGE }, mode: 0 });
    expect(w.table.fl[w.idx]! & (Pte.UFFD_WP | Pte.RW)).toBe(Pte.RW);
    p.fill(a, 8, 2);
    expect(k.check()).toEqual([]);
  });

  it('shmem: MADV_DONTNEED keeps a uffd-wp marker, a read fault maps the page write-protected, munmap drops the marker', () => {
    const { k, p, uffd } = setup(U.UFFD_FEATURE_WP_HUGETLBFS_SHMEM);
    const fd = p.memfd_create('m', 0);
    p.ftruncate(fd, 2 * PAGE);
    const m = p.mmap(0, 2 * PAGE, RW, U.MAP_SHARED, fd, 0);
    register(p, uffd, m, 2 * PAGE, U.UFFDIO_REGISTER_MODE_WP);
    p.fill(m, PAGE, 3);
    p.ioctl(uffd, U.UFFDIO_WRITEPROTECT, { range: { start: m, len: 2 * PAGE }, mode: U.UFFDIO_WRITEPROTECT_MODE_WP });
    // The none PTE of the second page got a marker at once.
    expect(p.pagemap(m + PAGE)).toMatchObject({ present: false, swapped: true, uffdWp: true });
    p.madvise(m, PAGE, U.MADV_DONTNEED);
    expect(p.pagemap(m)).toMatchObject({ present: false, uffdWp: true });
    expect(k.check()).toEqual([]);
    expect(p.read(m, 1)[0]).toBe(3);
    expect(p.pagemap(m)).toMatchObject({ present: true, uffdWp: true });
    blocked(() => p.fill(m, 1, 4));
    p.munmap(m, 2 * PAGE);
    expect(k.check()).toEqual([]);
  });

  it('a poisoned page is SIGBUS until zapped; POISON refuses any entry, COPY may replace the marker', () => {
    const { k, p, uffd, a, src } = setup(U.UFFD_FEATURE_POISON);
    register(p, uffd, a, 8 * PAGE, U.UFFDIO_REGISTER_MODE_MISSING);
    p.ioctl(uffd, U.UFFDIO_POISON, { range: { start: a, len: 2 * PAGE }, mode: 0, updated: 0 });
    expect(() => p.read(a, 1)).toThrow(SignalError);
    expect(k.check()).toEqual([]);
    const c = { dst: a, src, len: PAGE, mode: 0, copy: 0 };
    p.ioctl(uffd, U.UFFDIO_COPY, c);
    expect(p.read(a, 1)[0]).toBe(0x5a);
    p.madvise(a + PAGE, PAGE, U.MADV_DONTNEED);
    blocked(() => p.read(a + PAGE, 1));
    expect(k.check()).toEqual([]);
  });
});

describe('userfaultfd: UFFDIO_MOVE', () => {
  it('moves the exclusive page itself (same pfn), leaving a hole; a THP moves whole', () => {
    const k = new Kernel({ memory: '256MiB', thp: 'always' });
    const p = k.spawn();
    const uffd = p.userfaultfd(0);
    p.ioctl(uffd, U.UFFDIO_API, { api: U.UFFD_API, features: 0, ioctls: 0 });
    const HP = 2 << 20;
    const s = p.mmap(0, 4 * HP, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
    const d = p.mmap(0, 4 * HP, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
    const sa = Math.ceil(s / HP) * HP;
    const da = Math.ceil(d / HP) * HP;
    p.fill(sa, HP, 9);
    register(p, uffd, d, 4 * HP, U.UFFDIO_REGISTER_MODE_MISSING);
    const pfn = p.pagemap(sa).pfn;
    const mv = { dst: da, src: sa, len: HP, mode: 0, move: 0 };
    p.ioctl(uffd, U.UFFDIO_MOVE, mv);
    expect(mv.move).toBe(HP);
    expect(p.pagemap(da)).toMatchObject({ pfn, mappedBy: HP });
    expect(p.pagemap(sa).present).toBe(false);
    expect(k.check()).toEqual([]);
    // Page by page from the THP just moved: it is split first.
    const one = { dst: da + HP + PAGE, src: da + PAGE, len: PAGE, mode: 0, move: 0 };
    p.ioctl(uffd, U.UFFDIO_MOVE, one);
    expect(p.pagemap(da + HP + PAGE).pfn).toBe(pfn + 1);
    expect(p.read(da + HP + PAGE, 1)[0]).toBe(9);
    expect(k.check()).toEqual([]);
  });
});

describe('oracle: userfaultfd rules', () => {
  function names(k: Kernel): string[] {
    return [...new Set(k.check().map((v) => v.name))];
  }

  it('a registration without modes, or modes without a registration', () => {
    const { k, p, uffd, a } = setup();
    register(p, uffd, a, 8 * PAGE, U.UFFDIO_REGISTER_MODE_MISSING);
    const vma = p.mm!.vmas.find((v) => v.start === a)!;
    const ctx = vma.uffdCtx;
    vma.uffdCtx = null;
    expect(names(k)).toEqual(['uffd-ctx-flags-mismatch']);
    vma.uffdCtx = ctx;
    expect(names(k)).toEqual([]);
    ctx!.mmapChanging++;
    expect(names(k)).toEqual(['uffd-mmap-changing-mismatch']);
  });

  it('a writable uffd-wp entry; a marker that is no marker kind', () => {
    const { k, p, uffd, a } = setup();
    register(p, uffd, a, 8 * PAGE, U.UFFDIO_REGISTER_MODE_WP);
    p.fill(a, PAGE, 1);
    p.ioctl(uffd, U.UFFDIO_WRITEPROTECT, { range: { start: a, len: 2 * PAGE }, mode: U.UFFDIO_WRITEPROTECT_MODE_WP });
    const w = leaf(p, a);
    w.table.fl[w.idx]! |= Pte.RW;
    expect(names(k)).toEqual(['uffd-wp-writable']);
    w.table.fl[w.idx]! &= ~Pte.RW;
    const m = leaf(p, a + PAGE);
    expect(m.table.fl[m.idx]).toBe(0);
    m.table.fl[m.idx] = Pte.MARKER;
    m.table.used++;
    expect(names(k)).toEqual(['pte-marker-invalid']);
  });
});

describe('userfaultfd: HugeTLB', () => {
  const HP = 2 << 20;
  function hsetup(features = 0) {
    const k = new Kernel({ memory: '256MiB', hugetlb: { '2MiB': 8 } });
    const p = k.spawn();
    const uffd = p.userfaultfd(0);
    p.ioctl(uffd, U.UFFDIO_API, { api: U.UFFD_API, features, ioctls: 0 });
    const a = p.mmap(0, 2 * HP, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_HUGETLB, -1, 0);
    return { k, p, uffd, a };
  }

  it('whole huge pages only; the basic ioctls (no ZEROPAGE, no MOVE); ZEROPAGE is EINVAL', () => {
    const { k, p, uffd, a } = hsetup();
    expect(() => register(p, uffd, a + PAGE, HP, U.UFFDIO_REGISTER_MODE_MISSING)).toThrow(/EINVAL/);
    expect(() => register(p, uffd, a, HP + PAGE, U.UFFDIO_REGISTER_MODE_MISSING)).toThrow(/EINVAL/);
    expect(register(p, uffd, a, 2 * HP, U.UFFDIO_REGISTER_MODE_MISSING)).toBe(U.UFFD_API_RANGE_IOCTLS_BASIC & ~(1 << U._UFFDIO_WRITEPROTECT) & ~(1 << U._UFFDIO_CONTINUE));
    const z = { range: { start: a, len: HP }, mode: 0, zeropage: 0 };
    expect(() => p.ioctl(uffd, U.UFFDIO_ZEROPAGE, z)).toThrow(/EINVAL/);
    expect(z.zeropage).toBe(-U.errno.EINVAL);
    const c = { dst: a, src: a, len: PAGE, mode: 0, copy: 0 };
    expect(() => p.ioctl(uffd, U.UFFDIO_COPY, c)).toThrow(/EINVAL/);
    expect(k.check()).toEqual([]);
  });

  it('a fault reports the huge page (the byte with EXACT_ADDRESS); COPY fills the whole huge page', () => {
    for (const exact of [false, true]) {
      const { k, p, uffd, a } = hsetup(exact ? U.UFFD_FEATURE_EXACT_ADDRESS : 0);
      register(p, uffd, a, 2 * HP, U.UFFDIO_REGISTER_MODE_MISSING | U.UFFDIO_REGISTER_MODE_WP);
      const e = blocked(() => p.read(a + HP + 5 * PAGE + 3, 1));
      expect(e.msg.arg.pagefault.address).toBe(exact ? a + HP + 5 * PAGE + 3 : a + HP);
      const src = p.mmap(0, HP, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
      p.fill(src, HP, 0x33);
      p.ioctl(uffd, U.UFFDIO_COPY, { dst: a + HP, src, len: HP, mode: U.UFFDIO_COPY_MODE_WP, copy: 0 });
      expect(p.read(a + HP + 5 * PAGE + 3, 1)[0]).toBe(0x33);
      expect(p.pagemap(a + HP)).toMatchObject({ uffdWp: true, mappedBy: HP });
      expect(blocked(() => p.fill(a + HP, 1, 1)).msg.arg.pagefault.flags).toBe(U.UFFD_PAGEFAULT_FLAG_WRITE | U.UFFD_PAGEFAULT_FLAG_WP);
      // A none huge entry takes a marker; unprotect drops it.
      p.ioctl(uffd, U.UFFDIO_WRITEPROTECT, { range: { start: a, len: HP }, mode: U.UFFDIO_WRITEPROTECT_MODE_WP });
      expect(p.pagemap(a)).toMatchObject({ present: false, uffdWp: true });
      expect(k.check()).toEqual([]);
      p.ioctl(uffd, U.UFFDIO_WRITEPROTECT, { range: { start: a, len: 2 * HP }, mode: 0 });
      expect(p.pagemap(a).uffdWp).toBe(false);
      p.fill(a + HP, 1, 1);
      expect(k.check()).toEqual([]);
    }
  });
});
