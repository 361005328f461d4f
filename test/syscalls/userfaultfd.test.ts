/**
 * userfaultfd(2), /dev/userfaultfd and the UFFDIO_* ioctls (fs/userfaultfd.c,
 * mm/userfaultfd.c, Linux 6.12), checked in the kernel's order:
 *
 *   userfaultfd:  EINVAL(flags but O_CLOEXEC|O_NONBLOCK|UFFD_USER_MODE_ONLY) -> EMFILE
 *   /dev:         EINVAL(a request other than USERFAULTFD_IOC_NEW) -> the flags as userfaultfd's
 *   any ioctl:    EINVAL(before UFFDIO_API) ; an unknown request: EINVAL (not ENOTTY)
 *   API:          EFAULT(copy) -> EINVAL(api != UFFD_API; unknown feature) -> EFAULT(copy back)
 *                 -> EINVAL(second call); an EINVAL zeroes the struct
 *   REGISTER:     EFAULT(copy) -> EINVAL(mode 0 or unknown bits) -> EINVAL(validate_range) ->
 *                 ENOMEM(mm gone) -> EINVAL(no VMA) -> per VMA: EINVAL(cannot userfault, MINOR
 *                 on anonymous memory) -> EPERM(no VM_MAYWRITE) -> EBUSY(another userfaultfd)
 *                 -> EFAULT(ioctls write-back)
 *   UNREGISTER:   EFAULT -> EINVAL(validate_range) -> ENOMEM(mm gone) -> EINVAL(no VMA; a VMA
 *                 that could never register)
 *   WAKE:         EFAULT -> EINVAL(validate_range)
 *   COPY:         EAGAIN(mmap_changing: copy = -EAGAIN) -> EFAULT(copy) -> EINVAL(src: len
 *                 unaligned or 0, beyond TASK_SIZE) -> EINVAL(dst: unaligned, ...) ->
 *                 EINVAL(mode) -> ESRCH(mm gone) -> ENOENT(not one registered VMA) ->
 *                 EINVAL(MODE_WP on a VMA not registered WP) -> EEXIST -> EFAULT(src not
 *                 readable); the result is in .copy, a short copy is EAGAIN
 *   ZEROPAGE, POISON: as COPY without src (.zeropage, .updated)
 *   CONTINUE:     as ZEROPAGE; EINVAL on anonymous memory; EFAULT without a page-cache page
 *   WRITEPROTECT: EAGAIN(mmap_changing; nothing written) -> EFAULT -> EINVAL(validate_range,
 *                 mode, MODE_WP with DONTWAKE) -> ESRCH -> ENOENT(a VMA not registered WP)
 *   MOVE:         EAGAIN -> EFAULT -> EINVAL(another mm's userfaultfd) -> EINVAL(dst, src
 *                 ranges) -> EINVAL(mode) -> ESRCH -> ENOENT(no VMA) -> EINVAL(shared, range
 *                 beyond the VMA, different protections, dst not registered) -> EEXIST(dst
 *                 mapped) / ENOENT(src hole) / EBUSY(a page shared with another mm)
 *   read(2):      EINVAL(before UFFDIO_API; count < 32) -> EAGAIN(nothing queued)
 */
import { describe, expect, it } from 'vitest';
import type { Process } from '../../src/index.js';
import * as U from '../../src/uapi/index.js';
import type { ErrnoName } from '../../src/uapi/index.js';
import { PAGE, TASK_SIZE, WEIRD, attempt, boot, checkKernelsAfterEach, checkOutcome, expectErrno } from './helpers.js';

checkKernelsAfterEach();

const S = 'ioctl';
const RW = U.PROT_READ | U.PROT_WRITE;

/** A process with an initialized userfaultfd (features as given), A: 4 anonymous pages registered MISSING|WP, B: 4 unregistered anonymous pages holding 7s. */
function fixture(features = 0) {
  const { k, p } = boot();
  const uffd = p.userfaultfd(U.O_CLOEXEC | U.O_NONBLOCK);
  p.ioctl(uffd, U.UFFDIO_API, { api: U.UFFD_API, features, ioctls: 0 });
  const A = p.mmap(0, 4 * PAGE, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
  const B = p.mmap(0, 4 * PAGE, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
  p.fill(B, 4 * PAGE, 7);
  p.ioctl(uffd, U.UFFDIO_REGISTER, { range: { start: A, len: 4 * PAGE }, mode: U.UFFDIO_REGISTER_MODE_MISSING | U.UFFDIO_REGISTER_MODE_WP, ioctls: 0 });
  return { k, p, uffd, A, B };
}

type Fx = ReturnType<typeof fixture>;

/** A userfaultfd whose mm has exited: its fd lives on in a child that inherited it. */
function orphan(): { p: Process; uffd: number; A: number } {
  const f = fixture();
  const child = f.p.fork();
  f.p.exit();
  return { p: child, uffd: f.uffd, A: f.A };
}

/** An object whose property writes throw: a read-only struct (copy_to_user fails). */
function frozen<T extends object>(o: T): T {
  return Object.freeze(o);
}

/** A struct whose reading throws (a bad user pointer). */
const badPtr = new Proxy({}, { get: () => { throw new Error('bad pointer'); } });

/** One expected errno for one call, and optionally the result field written back. */
interface Row {
  name: string;
  call: (f: Fx) => { arg?: Record<string, unknown>; run: () => unknown };
  code: ErrnoName;
  field?: [string, number];
}

const ioc = (f: Fx, req: number, arg: Record<string, unknown>) => ({ arg, run: () => f.p.ioctl(f.uffd, req, arg) });
const copy = (f: Fx, m: Record<string, unknown>) => ioc(f, U.UFFDIO_COPY, { dst: f.A, src: f.B, len: PAGE, mode: 0, copy: 0, ...m });
const range = (f: Fx, req: number, start: unknown, len: unknown, rest: Record<string, unknown> = {}) => ioc(f, req, { range: { start, len }, mode: 0, ...rest });
/** Raise mmap_changing: an unread UFFD_EVENT_REMOVE from MADV_DONTNEED on A. */
function changing(f: Fx): Fx {
  const uffd = f.p.userfaultfd(0);
  f.p.ioctl(uffd, U.UFFDIO_API, { api: U.UFFD_API, features: U.UFFD_FEATURE_EVENT_REMOVE, ioctls: 0 });
  const C = f.p.mmap(0, PAGE, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
  f.p.ioctl(uffd, U.UFFDIO_REGISTER, { range: { start: C, len: PAGE }, mode: U.UFFDIO_REGISTER_MODE_MISSING, ioctls: 0 });
  f.p.madvise(C, PAGE, U.MADV_DONTNEED);
  return { ...f, uffd };
}

const rows: Row[] = [
  // Creation and the file.
  { name: 'userfaultfd(2) with O_RDWR', call: (f) => ({ run: () => f.p.userfaultfd(U.O_RDWR) }), code: 'EINVAL' },
  { name: 'userfaultfd(2) with 1 << 2', call: (f) => ({ run: () => f.p.userfaultfd(4) }), code: 'EINVAL' },
  { name: 'a non-integer flags value', call: (f) => ({ run: () => f.p.userfaultfd('1') }), code: 'EINVAL' },
  { name: '/dev/userfaultfd: a request other than USERFAULTFD_IOC_NEW', call: (f) => ({ run: () => f.p.ioctl(f.p.open(U.USERFAULTFD_DEV_PATH, U.O_RDWR), U.UFFDIO_API, 0) }), code: 'EINVAL' },
  { name: '/dev/userfaultfd: bad flags', call: (f) => ({ run: () => f.p.ioctl(f.p.open(U.USERFAULTFD_DEV_PATH, U.O_RDWR), U.USERFAULTFD_IOC_NEW, 2) }), code: 'EINVAL' },
  { name: 'an ioctl before UFFDIO_API', call: (f) => ({ run: () => f.p.ioctl(f.p.userfaultfd(0), U.UFFDIO_WAKE, { start: f.A, len: PAGE }) }), code: 'EINVAL' },
  { name: 'an unknown request before UFFDIO_API', call: (f) => ({ run: () => f.p.ioctl(f.p.userfaultfd(0), 0x1234, 0) }), code: 'EINVAL' },
  { name: 'an unknown request', call: (f) => ({ run: () => f.p.ioctl(f.uffd, 0x1234, 0) }), code: 'EINVAL' },
  // UFFDIO_API.
  { name: 'API: a bad pointer', call: (f) => ({ run: () => f.p.ioctl(f.p.userfaultfd(0), U.UFFDIO_API, badPtr) }), code: 'EFAULT' },
  { name: 'API: not an object', call: (f) => ({ run: () => f.p.ioctl(f.p.userfaultfd(0), U.UFFDIO_API, 5) }), code: 'EFAULT' },
  { name: 'API: api 0xab', call: (f) => ioc({ ...f, uffd: f.p.userfaultfd(0) }, U.UFFDIO_API, { api: 0xab, features: 0, ioctls: 7 }), code: 'EINVAL', field: ['ioctls', 0] },
  { name: 'API: feature bit 63', call: (f) => ioc({ ...f, uffd: f.p.userfaultfd(0) }, U.UFFDIO_API, { api: U.UFFD_API, features: 1n << 63n, ioctls: 7 }), code: 'EINVAL', field: ['features', 0] },
  { name: 'API: WP_ASYNC (not offered by the model)', call: (f) => ioc({ ...f, uffd: f.p.userfaultfd(0) }, U.UFFDIO_API, { api: U.UFFD_API, features: U.UFFD_FEATURE_WP_ASYNC, ioctls: 0 }), code: 'EINVAL' },
  { name: 'API: a read-only struct', call: (f) => ({ run: () => f.p.ioctl(f.p.userfaultfd(0), U.UFFDIO_API, frozen({ api: U.UFFD_API, features: 0, ioctls: 0 })) }), code: 'EFAULT' },
  { name: 'API: a second call', call: (f) => ioc(f, U.UFFDIO_API, { api: U.UFFD_API, features: 0, ioctls: 7 }), code: 'EINVAL', field: ['ioctls', 0] },
  // UFFDIO_REGISTER.
  { name: 'REGISTER: a bad pointer', call: (f) => ({ run: () => f.p.ioctl(f.uffd, U.UFFDIO_REGISTER, badPtr) }), code: 'EFAULT' },
  { name: 'REGISTER: range is not a struct', call: (f) => ioc(f, U.UFFDIO_REGISTER, { range: 'x', mode: 1 }), code: 'EINVAL' },
  { name: 'REGISTER: mode 0 (before the range check)', call: (f) => range(f, U.UFFDIO_REGISTER, 1, 0), code: 'EINVAL' },
  { name: 'REGISTER: unknown mode bit', call: (f) => range(f, U.UFFDIO_REGISTER, f.B, PAGE, { mode: 8 }), code: 'EINVAL' },
  { name: 'REGISTER: unaligned start', call: (f) => range(f, U.UFFDIO_REGISTER, f.B + 1, PAGE, { mode: 1 }), code: 'EINVAL' },
  { name: 'REGISTER: len 0', call: (f) => range(f, U.UFFDIO_REGISTER, f.B, 0, { mode: 1 }), code: 'EINVAL' },
  { name: 'REGISTER: unaligned len', call: (f) => range(f, U.UFFDIO_REGISTER, f.B, 1, { mode: 1 }), code: 'EINVAL' },
  { name: 'REGISTER: beyond TASK_SIZE', call: (f) => range(f, U.UFFDIO_REGISTER, TASK_SIZE - PAGE, 2 * PAGE, { mode: 1 }), code: 'EINVAL' },
  { name: 'REGISTER: the mm is gone (before the VMA lookup)', call: () => { const o = orphan(); return { run: () => o.p.ioctl(o.uffd, U.UFFDIO_REGISTER, { range: { start: 1 << 30, len: PAGE }, mode: 1 }) }; }, code: 'ENOMEM' },
  { name: 'REGISTER: no VMA in the range', call: (f) => range(f, U.UFFDIO_REGISTER, 1 << 30, PAGE, { mode: 1 }), code: 'EINVAL' },
  { name: 'REGISTER: MINOR on anonymous memory', call: (f) => range(f, U.UFFDIO_REGISTER, f.B, PAGE, { mode: U.UFFDIO_REGISTER_MODE_MINOR }), code: 'EINVAL' },
  {
    name: 'REGISTER: an ext4 file mapping (before the VM_MAYWRITE check)',
    call: (f) => {
      const fd = f.p.open('/root/f', U.O_RDWR | U.O_CREAT);
      f.p.ftruncate(fd, PAGE);
      const m = f.p.mmap(0, PAGE, U.PROT_READ, U.MAP_SHARED, f.p.open('/root/f', U.O_RDONLY), 0);
      return range(f, U.UFFDIO_REGISTER, m, PAGE, { mode: 1 });
    },
    code: 'EINVAL',
  },
  {
    name: 'REGISTER: a read-only shared tmpfs mapping (no VM_MAYWRITE)',
    call: (f) => {
      const fd = f.p.open('/tmp/f', U.O_RDWR | U.O_CREAT);
      f.p.ftruncate(fd, PAGE);
      const m = f.p.mmap(0, PAGE, U.PROT_READ, U.MAP_SHARED, f.p.open('/tmp/f', U.O_RDONLY), 0);
      return range(f, U.UFFDIO_REGISTER, m, PAGE, { mode: U.UFFDIO_REGISTER_MODE_MINOR });
    },
    code: 'EPERM',
  },
  {
    name: 'REGISTER: a range another userfaultfd owns',
    call: (f) => {
      const other = f.p.userfaultfd(0);
      f.p.ioctl(other, U.UFFDIO_API, { api: U.UFFD_API, features: 0, ioctls: 0 });
      return { run: () => f.p.ioctl(other, U.UFFDIO_REGISTER, { range: { start: f.A, len: PAGE }, mode: 1 }) };
    },
    code: 'EBUSY',
  },
  { name: 'REGISTER: ioctls cannot be written back', call: (f) => ({ run: () => f.p.ioctl(f.uffd, U.UFFDIO_REGISTER, frozen({ range: { start: f.B, len: PAGE }, mode: 1, ioctls: 0 })) }), code: 'EFAULT' },
  // UFFDIO_UNREGISTER and UFFDIO_WAKE.
  { name: 'UNREGISTER: a bad pointer', call: (f) => ({ run: () => f.p.ioctl(f.uffd, U.UFFDIO_UNREGISTER, badPtr) }), code: 'EFAULT' },
  { name: 'UNREGISTER: unaligned start', call: (f) => ioc(f, U.UFFDIO_UNREGISTER, { start: f.A + 1, len: PAGE }), code: 'EINVAL' },
  { name: 'UNREGISTER: the mm is gone', call: () => { const o = orphan(); return { run: () => o.p.ioctl(o.uffd, U.UFFDIO_UNREGISTER, { start: o.A, len: PAGE }) }; }, code: 'ENOMEM' },
  { name: 'UNREGISTER: no VMA', call: (f) => ioc(f, U.UFFDIO_UNREGISTER, { start: 1 << 30, len: PAGE }), code: 'EINVAL' },
  { name: 'WAKE: a bad pointer', call: (f) => ({ run: () => f.p.ioctl(f.uffd, U.UFFDIO_WAKE, badPtr) }), code: 'EFAULT' },
  { name: 'WAKE: len 0', call: (f) => ioc(f, U.UFFDIO_WAKE, { start: f.A, len: 0 }), code: 'EINVAL' },
  // UFFDIO_COPY.
  { name: 'COPY: mmap_changing (before reading the struct)', call: (f) => ({ arg: undefined, run: () => { const g = changing(f); const a = { copy: 1 }; const r = g.p.ioctl(g.uffd, U.UFFDIO_COPY, a); return [r, a]; } }), code: 'EAGAIN' },
  { name: 'COPY: mmap_changing, result not writable', call: (f) => ({ run: () => { const g = changing(f); return g.p.ioctl(g.uffd, U.UFFDIO_COPY, frozen({ copy: 1 })); } }), code: 'EFAULT' },
  { name: 'COPY: a bad pointer', call: (f) => ({ run: () => f.p.ioctl(f.uffd, U.UFFDIO_COPY, badPtr) }), code: 'EFAULT' },
  { name: 'COPY: a field with no C value', call: (f) => copy(f, { len: 'x' }), code: 'EINVAL' },
  { name: 'COPY: len unaligned (src checked first; copy untouched)', call: (f) => copy(f, { len: PAGE + 1, copy: 3 }), code: 'EINVAL', field: ['copy', 3] },
  { name: 'COPY: src beyond TASK_SIZE', call: (f) => copy(f, { src: TASK_SIZE }), code: 'EINVAL' },
  { name: 'COPY: dst unaligned (src may be)', call: (f) => copy(f, { dst: f.A + 1, src: f.B + 1 }), code: 'EINVAL' },
  { name: 'COPY: unknown mode bit', call: (f) => copy(f, { mode: 4 }), code: 'EINVAL' },
  { name: 'COPY: the mm is gone', call: () => { const o = orphan(); return { run: () => o.p.ioctl(o.uffd, U.UFFDIO_COPY, { dst: o.A, src: o.A, len: PAGE }) }; }, code: 'ESRCH' },
  { name: 'COPY: dst not registered', call: (f) => copy(f, { dst: f.B }), code: 'ENOENT', field: ['copy', -U.errno.ENOENT] },
  { name: 'COPY: dst beyond its VMA', call: (f) => copy(f, { len: 5 * PAGE }), code: 'ENOENT', field: ['copy', -U.errno.ENOENT] },
  { name: 'COPY: dst unmapped', call: (f) => copy(f, { dst: 1 << 30 }), code: 'ENOENT' },
  {
    name: 'COPY: MODE_WP on a range not registered WP',
    call: (f) => {
      f.p.ioctl(f.uffd, U.UFFDIO_UNREGISTER, { start: f.A, len: PAGE });
      f.p.ioctl(f.uffd, U.UFFDIO_REGISTER, { range: { start: f.A, len: PAGE }, mode: 1 });
      return copy(f, { mode: U.UFFDIO_COPY_MODE_WP });
    },
    code: 'EINVAL',
    field: ['copy', -U.errno.EINVAL],
  },
  { name: 'COPY: dst already mapped', call: (f) => { copy(f, {}).run(); return copy(f, {}); }, code: 'EEXIST', field: ['copy', -U.errno.EEXIST] },
  { name: 'COPY: src not readable', call: (f) => copy(f, { src: 1 << 30 }), code: 'EFAULT', field: ['copy', -U.errno.EFAULT] },
  { name: 'COPY: a short copy (the 2nd page exists)', call: (f) => { copy(f, { dst: f.A + PAGE }).run(); return copy(f, { len: 2 * PAGE }); }, code: 'EAGAIN', field: ['copy', PAGE] },
  // UFFDIO_ZEROPAGE, _POISON, _CONTINUE.
  { name: 'ZEROPAGE: mmap_changing', call: (f) => ({ run: () => { const g = changing(f); return g.p.ioctl(g.uffd, U.UFFDIO_ZEROPAGE, {}); } }), code: 'EAGAIN' },
  { name: 'ZEROPAGE: a bad pointer', call: (f) => ({ run: () => f.p.ioctl(f.uffd, U.UFFDIO_ZEROPAGE, badPtr) }), code: 'EFAULT' },
  { name: 'ZEROPAGE: unaligned start', call: (f) => range(f, U.UFFDIO_ZEROPAGE, f.A + 8, PAGE), code: 'EINVAL' },
  { name: 'ZEROPAGE: unknown mode bit', call: (f) => range(f, U.UFFDIO_ZEROPAGE, f.A, PAGE, { mode: 2 }), code: 'EINVAL' },
  { name: 'ZEROPAGE: not registered', call: (f) => range(f, U.UFFDIO_ZEROPAGE, f.B, PAGE, { zeropage: 0 }), code: 'ENOENT', field: ['zeropage', -U.errno.ENOENT] },
  { name: 'ZEROPAGE: already mapped', call: (f) => { range(f, U.UFFDIO_ZEROPAGE, f.A, PAGE).run(); return range(f, U.UFFDIO_ZEROPAGE, f.A, PAGE, { zeropage: 0 }); }, code: 'EEXIST', field: ['zeropage', -U.errno.EEXIST] },
  { name: 'POISON: unknown mode bit', call: (f) => range(f, U.UFFDIO_POISON, f.A, PAGE, { mode: 2 }), code: 'EINVAL' },
  { name: 'POISON: already poisoned', call: (f) => { range(f, U.UFFDIO_POISON, f.A, PAGE).run(); return range(f, U.UFFDIO_POISON, f.A, PAGE, { updated: 0 }); }, code: 'EEXIST', field: ['updated', -U.errno.EEXIST] },
  { name: 'CONTINUE: unknown mode bit', call: (f) => range(f, U.UFFDIO_CONTINUE, f.A, PAGE, { mode: 4 }), code: 'EINVAL' },
  { name: 'CONTINUE: on anonymous memory', call: (f) => range(f, U.UFFDIO_CONTINUE, f.A, PAGE, { mapped: 0 }), code: 'EINVAL', field: ['mapped', -U.errno.EINVAL] },
  {
    name: 'CONTINUE: no page in the page cache',
    call: (f) => {
      const fd = f.p.memfd_create('m', 0);
      f.p.ftruncate(fd, PAGE);
      const m = f.p.mmap(0, PAGE, RW, U.MAP_SHARED, fd, 0);
      f.p.ioctl(f.uffd, U.UFFDIO_REGISTER, { range: { start: m, len: PAGE }, mode: U.UFFDIO_REGISTER_MODE_MINOR });
      return range(f, U.UFFDIO_CONTINUE, m, PAGE, { mapped: 0 });
    },
    code: 'EFAULT',
    field: ['mapped', -U.errno.EFAULT],
  },
  // UFFDIO_WRITEPROTECT.
  { name: 'WRITEPROTECT: mmap_changing', call: (f) => ({ run: () => { const g = changing(f); return g.p.ioctl(g.uffd, U.UFFDIO_WRITEPROTECT, badPtr); } }), code: 'EAGAIN' },
  { name: 'WRITEPROTECT: a bad pointer', call: (f) => ({ run: () => f.p.ioctl(f.uffd, U.UFFDIO_WRITEPROTECT, badPtr) }), code: 'EFAULT' },
  { name: 'WRITEPROTECT: len 0', call: (f) => range(f, U.UFFDIO_WRITEPROTECT, f.A, 0), code: 'EINVAL' },
  { name: 'WRITEPROTECT: unknown mode bit', call: (f) => range(f, U.UFFDIO_WRITEPROTECT, f.A, PAGE, { mode: 4 }), code: 'EINVAL' },
  { name: 'WRITEPROTECT: MODE_WP with DONTWAKE', call: (f) => range(f, U.UFFDIO_WRITEPROTECT, f.A, PAGE, { mode: 3 }), code: 'EINVAL' },
  { name: 'WRITEPROTECT: a VMA not registered WP', call: (f) => range(f, U.UFFDIO_WRITEPROTECT, f.B, PAGE, { mode: 1 }), code: 'ENOENT' },
  { name: 'WRITEPROTECT: nothing mapped', call: (f) => range(f, U.UFFDIO_WRITEPROTECT, 1 << 30, PAGE, { mode: 1 }), code: 'ENOENT' },
  // UFFDIO_MOVE.
  { name: 'MOVE: mmap_changing', call: (f) => ({ run: () => { const g = changing(f); return g.p.ioctl(g.uffd, U.UFFDIO_MOVE, badPtr); } }), code: 'EAGAIN' },
  { name: 'MOVE: a bad pointer', call: (f) => ({ run: () => f.p.ioctl(f.uffd, U.UFFDIO_MOVE, badPtr) }), code: 'EFAULT' },
  { name: "MOVE: another mm's userfaultfd (before the range checks)", call: (f) => ({ run: () => f.p.fork().ioctl(f.uffd, U.UFFDIO_MOVE, { dst: 1, src: 1, len: 1 }) }), code: 'EINVAL' },
  { name: 'MOVE: src unaligned', call: (f) => ioc(f, U.UFFDIO_MOVE, { dst: f.A, src: f.B + 1, len: PAGE }), code: 'EINVAL' },
  { name: 'MOVE: unknown mode bit', call: (f) => ioc(f, U.UFFDIO_MOVE, { dst: f.A, src: f.B, len: PAGE, mode: 4 }), code: 'EINVAL' },
  { name: 'MOVE: no dst VMA', call: (f) => ioc(f, U.UFFDIO_MOVE, { dst: 1 << 30, src: f.B, len: PAGE, move: 0 }), code: 'ENOENT', field: ['move', -U.errno.ENOENT] },
  { name: 'MOVE: no src VMA', call: (f) => ioc(f, U.UFFDIO_MOVE, { dst: f.A, src: 1 << 30, len: PAGE }), code: 'ENOENT' },
  { name: 'MOVE: dst not registered with this userfaultfd', call: (f) => ioc(f, U.UFFDIO_MOVE, { dst: f.B, src: f.A, len: PAGE }), code: 'EINVAL' },
  { name: 'MOVE: dst beyond its VMA', call: (f) => ioc(f, U.UFFDIO_MOVE, { dst: f.A, src: f.B, len: 5 * PAGE }), code: 'EINVAL' },
  { name: 'MOVE: a source hole', call: (f) => { f.p.madvise(f.B, PAGE, U.MADV_DONTNEED); return ioc(f, U.UFFDIO_MOVE, { dst: f.A, src: f.B, len: PAGE, move: 0 }); }, code: 'ENOENT', field: ['move', -U.errno.ENOENT] },
  { name: 'MOVE: dst mapped', call: (f) => { range(f, U.UFFDIO_ZEROPAGE, f.A, PAGE).run(); return ioc(f, U.UFFDIO_MOVE, { dst: f.A, src: f.B, len: PAGE, move: 0 }); }, code: 'EEXIST', field: ['move', -U.errno.EEXIST] },
  { name: 'MOVE: a page shared with a child', call: (f) => { f.p.fork(); return ioc(f, U.UFFDIO_MOVE, { dst: f.A, src: f.B, len: PAGE, move: 0 }); }, code: 'EBUSY', field: ['move', -U.errno.EBUSY] },
  // read(2).
  { name: 'read before UFFDIO_API', call: (f) => ({ run: () => f.p.sysread(f.p.userfaultfd(0), new Uint8Array(32), 32) }), code: 'EINVAL' },
  { name: 'read of fewer than 32 bytes', call: (f) => ({ run: () => f.p.sysread(f.uffd, new Uint8Array(32), 31) }), code: 'EINVAL' },
  { name: 'read with nothing queued', call: (f) => ({ run: () => f.p.sysread(f.uffd, new Uint8Array(32), 32) }), code: 'EAGAIN' },
  { name: 'write(2)', call: (f) => ({ run: () => f.p.syswrite(f.uffd, new Uint8Array(32), 32) }), code: 'EBADF' },
];

describe('userfaultfd: errno and check order', () => {
  for (const r of rows) {
    it(r.name, () => {
      const f = fixture();
      const c = r.call(f);
      expectErrno(c.run, r.code, r.name.startsWith('read') ? 'read' : r.name.startsWith('write') ? 'write' : r.name.startsWith('userfaultfd(2)') || r.name.startsWith('a non-integer') ? 'userfaultfd' : S);
      if (r.field !== undefined) expect(c.arg?.[r.field[0]]).toBe(r.field[1]);
    });
  }

  it('mmap_changing writes -EAGAIN into the result field; reading the event clears it', () => {
    const f = changing(fixture());
    for (const [req, field] of [
      [U.UFFDIO_COPY, 'copy'],
      [U.UFFDIO_ZEROPAGE, 'zeropage'],
      [U.UFFDIO_CONTINUE, 'mapped'],
      [U.UFFDIO_POISON, 'updated'],
      [U.UFFDIO_MOVE, 'move'],
    ] as const) {
      const a: Record<string, unknown> = { [field]: 1 };
      expectErrno(() => f.p.ioctl(f.uffd, req, a), 'EAGAIN', S);
      expect(a[field]).toBe(-U.errno.EAGAIN);
    }
    expect(f.p.userfaultfd_read(f.uffd).event).toBe(U.UFFD_EVENT_REMOVE);
    expectErrno(() => f.p.ioctl(f.uffd, U.UFFDIO_COPY, {}), 'EINVAL', S);
  });

  it('a failed UFFDIO_API zeroes the struct; a good one writes the features and the ioctls (bit 63: a bigint)', () => {
    const { p } = boot();
    const uffd = p.userfaultfd(0);
    const bad = { api: 0xab, features: 5, ioctls: 9 };
    expectErrno(() => p.ioctl(uffd, U.UFFDIO_API, bad), 'EINVAL', S);
    expect(bad).toEqual({ api: 0, features: 0, ioctls: 0 });
    const good = { api: U.UFFD_API, features: U.UFFD_FEATURE_MOVE, ioctls: 0 };
    expect(p.ioctl(uffd, U.UFFDIO_API, good)).toBe(0);
    expect(good).toEqual({ api: U.UFFD_API, features: U.UFFD_API_FEATURES & ~U.UFFD_FEATURE_WP_ASYNC, ioctls: (1n << 63n) | 3n });
  });
});

describe('userfaultfd: any JS value', () => {
  const requests = [U.UFFDIO_API, U.UFFDIO_REGISTER, U.UFFDIO_UNREGISTER, U.UFFDIO_WAKE, U.UFFDIO_COPY, U.UFFDIO_ZEROPAGE, U.UFFDIO_MOVE, U.UFFDIO_WRITEPROTECT, U.UFFDIO_CONTINUE, U.UFFDIO_POISON];
  it('as the ioctl argument, or as any field of it', () => {
    const f = fixture();
    for (const w of WEIRD) {
      for (const req of requests) {
        checkOutcome(attempt(() => f.p.ioctl(f.uffd, req, w.v)), 'any', S, `request 0x${req.toString(16)}, arg ${w.label}`);
        for (const field of ['api', 'features', 'dst', 'src', 'len', 'mode', 'range', 'start']) {
          const arg: Record<string, unknown> = { api: U.UFFD_API, range: { start: f.A, len: PAGE }, dst: f.A, src: f.B, len: PAGE, start: f.A, mode: 0 };
          if (field === 'start') (arg.range as Record<string, unknown>).start = w.v;
          else arg[field] = w.v;
          checkOutcome(attempt(() => f.p.ioctl(f.uffd, req, arg)), 'any', S, `request 0x${req.toString(16)}, ${field} ${w.label}`);
        }
      }
      checkOutcome(attempt(() => f.p.userfaultfd(w.v)), 'any', 'userfaultfd', `flags ${w.label}`);
      checkOutcome(attempt(() => f.p.ioctl(f.p.open(U.USERFAULTFD_DEV_PATH, U.O_RDWR), U.USERFAULTFD_IOC_NEW, w.v)), 'any', S, `IOC_NEW ${w.label}`);
      checkOutcome(attempt(() => f.p.sysread(f.uffd, w.v, 32)), 'any', 'read', `buf ${w.label}`);
      checkOutcome(attempt(() => f.p.userfaultfd_monitor(f.uffd, w.v as never)), 'any', 'userfaultfd_monitor', `monitor ${w.label}`);
      // Close whatever descriptors the calls made.
      for (const [fd] of f.p.fds.entries()) if (fd > f.uffd) f.p.close(fd);
    }
  });
});

describe('userfaultfd: numbers and bigints', () => {
  it('ZEROPAGE, WRITEPROTECT, CONTINUE and POISON answer a range or mode the same as a number below 2^53 and as a bigint', () => {
    // Numbers below 2^53 are validated without bigints; a bigint takes the exact 64-bit path. Both must agree.
    const f = fixture(U.UFFD_FEATURE_POISON);
    const starts = [f.A, f.A + 1, 0, TASK_SIZE - PAGE, TASK_SIZE, 2 ** 53 - PAGE];
    const lens = [PAGE, 0, 1, 4 * PAGE, TASK_SIZE, 2 ** 52];
    const modes = [0, 1, 2, 4, 2 ** 31, 2 ** 32 + 1, 2 ** 40];
    const requests = [
      [U.UFFDIO_ZEROPAGE, 'zeropage'],
      [U.UFFDIO_WRITEPROTECT, ''],
      [U.UFFDIO_CONTINUE, 'mapped'],
      [U.UFFDIO_POISON, 'updated'],
    ] as const;
    let compared = 0;
    for (const [req, field] of requests) {
      for (const start of starts) {
        for (const len of lens) {
          for (const mode of modes) {
            const outcome = (big: boolean) => {
              // A fresh fixture per call would be slow: undo what a success did instead.
              const arg: Record<string, unknown> = { range: { start: big ? BigInt(start) : start, len: big ? BigInt(len) : len }, mode: big ? BigInt(mode) : mode };
              const r = attempt(() => f.p.ioctl(f.uffd, req, arg));
              if (r.ok && req !== U.UFFDIO_WRITEPROTECT) f.p.madvise(start, len, U.MADV_DONTNEED);
              return { ok: r.ok, code: r.ok ? null : (r.error as { code?: string }).code, out: field === '' ? null : arg[field] };
            };
            expect(outcome(true), `0x${req.toString(16)} start ${start} len ${len} mode ${mode}`).toEqual(outcome(false));
            compared++;
          }
        }
      }
    }
    expect(compared).toBe(4 * starts.length * lens.length * modes.length);
  });
});
