/** The gup_test device (mm/gup_test.c): argument rules, out-fields, the long-term test, release. */
import { describe, expect, it } from 'vitest';
import { Kernel } from '../index.js';
import * as U from '../uapi/index.js';
import { syscallCode as errnoOf } from '../../test/support/errno.js';

const RW = U.PROT_READ | U.PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;

function setup() {
  const k = new Kernel({ memory: '256MiB', thp: 'never' });
  const p = k.spawn();
  const fd = p.open(U.GUP_TEST_PATH, U.O_RDWR);
  const a = p.mmap(0, 16 * 4096, RW, ANON, -1, 0);
  p.fill(a, 16 * 4096, 7);
  return { k, p, fd, a };
}


describe('gup_test ioctls 1-6', () => {
  it('walks the range nr_pages_per_call at a time, releases everything, and writes size back', () => {
    const { k, p, fd, a } = setup();
    const gup = { addr: a, size: 16 * 4096, nr_pages_per_call: 3, gup_flags: 1 };
    expect(p.ioctl(fd, U.PIN_BASIC_TEST, gup)).toBe(0);
    expect(gup).toMatchObject({ size: 16 * 4096 });
    expect(typeof (gup as Record<string, unknown>).get_delta_usec).toBe('number');
    expect(k.vmstat().nr_foll_pin_acquired).toBe(16);
    expect(k.vmstat().nr_foll_pin_released).toBe(16);
    expect(k.check()).toEqual([]);
  });

  it('stops at the first failure but still returns 0, with size = the bytes done', () => {
    const { k, p, fd, a } = setup();
    p.munmap(a + 8 * 4096, 8 * 4096);
    const gup = { addr: a, size: 16 * 4096, nr_pages_per_call: 4, gup_flags: 1 };
    expect(p.ioctl(fd, U.GUP_BASIC_TEST, gup)).toBe(0);
    expect(gup.size).toBe(8 * 4096);
    // A short count ends the walk after advancing by the whole request.
    const g2 = { addr: a + 4 * 4096, size: 12 * 4096, nr_pages_per_call: 6, gup_flags: 1 };
    expect(p.ioctl(fd, U.GUP_FAST_BENCHMARK, g2)).toBe(0);
    expect(g2.size).toBe(6 * 4096);
    expect(k.check()).toEqual([]);
  });

  it('argument errors: EINVAL (unknown command, overflow, non-C values), EFAULT (no struct), ENOMEM (page array > INT_MAX bytes)', () => {
    const { p, fd, a } = setup();
    expect(errnoOf(() => p.ioctl(fd, U._IOWR('g', 42, 80), {}))).toBe('EINVAL');
    expect(errnoOf(() => p.ioctl(fd, U.GUP_BASIC_TEST, undefined))).toBe('EFAULT');
    expect(errnoOf(() => p.ioctl(fd, U.GUP_BASIC_TEST, 12345))).toBe('EFAULT');
    expect(errnoOf(() => p.ioctl(fd, U.GUP_BASIC_TEST, { addr: 2n ** 64n - 4096n, size: 8192 }))).toBe('EINVAL');
    expect(errnoOf(() => p.ioctl(fd, U.GUP_BASIC_TEST, { addr: a, size: NaN }))).toBe('EINVAL');
    expect(errnoOf(() => p.ioctl(fd, U.GUP_BASIC_TEST, { addr: 0, size: 2 ** 50 }))).toBe('ENOMEM');
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    expect(errnoOf(() => p.ioctl(fd, U.GUP_BASIC_TEST, revoked.proxy))).toBe('EFAULT');
    expect(errnoOf(() => p.ioctl(fd, U.GUP_BASIC_TEST, Object.freeze({ addr: a, size: 4096, nr_pages_per_call: 1 })))).toBe('EFAULT');
  });

  it('DUMP_USER_PAGES_TEST zeroes out-of-range 1-based indices and dumps the rest', () => {
    const { k, p, fd, a } = setup();
    const gup = { addr: a, size: 16 * 4096, nr_pages_per_call: 16, gup_flags: 0, which_pages: [1, 17, 16, 0, 0, 0, 0, 0], test_flags: U.GUP_TEST_FLAG_DUMP_PAGES_USE_PIN };
    expect(p.ioctl(fd, U.DUMP_USER_PAGES_TEST, gup)).toBe(0);
    expect(gup.which_pages).toEqual([1, 0, 16, 0, 0, 0, 0, 0]);
    const log = k.dmesg();
    expect(log.filter((l) => l.startsWith('---- page #'))).toHaveLength(2);
    expect(log.some((l) => /^page: refcount:\d+ mapcount:1 /.test(l))).toBe(true);
    expect(k.vmstat().nr_foll_pin_released).toBe(16);
  });
});

describe('gup_test long-term pin test (7-9)', () => {
  it('START pins, READ copies the pinned pages, STOP unpins; a second START is EINVAL', () => {
    const { k, p, fd, a } = setup();
    const dst = p.mmap(0, 2 * 4096, RW, ANON, -1, 0);
    expect(p.ioctl(fd, U.PIN_LONGTERM_TEST_START, { addr: a, size: 2 * 4096, flags: 0 })).toBe(0);
    expect(errnoOf(() => p.ioctl(fd, U.PIN_LONGTERM_TEST_START, { addr: a, size: 4096, flags: 0 }))).toBe('EINVAL');
    expect(k.check()).toEqual([]);
    expect(p.ioctl(fd, U.PIN_LONGTERM_TEST_READ, dst)).toBe(0);
    expect(p.read(dst, 2 * 4096).every((b) => b === 7)).toBe(true);
    expect(errnoOf(() => p.ioctl(fd, U.PIN_LONGTERM_TEST_READ, 0))).toBe('EFAULT');
    expect(p.ioctl(fd, U.PIN_LONGTERM_TEST_STOP)).toBe(0);
    expect(p.ioctl(fd, U.PIN_LONGTERM_TEST_STOP)).toBe(0);
    expect(errnoOf(() => p.ioctl(fd, U.PIN_LONGTERM_TEST_READ, dst))).toBe('EINVAL');
    expect(k.vmstat().nr_foll_pin_acquired).toBe(k.vmstat().nr_foll_pin_released);
    expect(k.check()).toEqual([]);
  });

  it('START refuses bad flags, unaligned or empty ranges, and returns the pin errno after unpinning', () => {
    const { k, p, fd, a } = setup();
    expect(errnoOf(() => p.ioctl(fd, U.PIN_LONGTERM_TEST_START, { addr: a, size: 4096, flags: 4 }))).toBe('EINVAL');
    expect(errnoOf(() => p.ioctl(fd, U.PIN_LONGTERM_TEST_START, { addr: a + 1, size: 4096 }))).toBe('EINVAL');
    expect(errnoOf(() => p.ioctl(fd, U.PIN_LONGTERM_TEST_START, { addr: a, size: 0 }))).toBe('EINVAL');
    expect(errnoOf(() => p.ioctl(fd, U.PIN_LONGTERM_TEST_START, { addr: a, size: 2n ** 63n }))).toBe('EINVAL');
    expect(errnoOf(() => p.ioctl(fd, U.PIN_LONGTERM_TEST_START, null))).toBe('EFAULT');
    // Half the range is unmapped: the pins taken are dropped and the errno returned.
    p.munmap(a + 8 * 4096, 8 * 4096);
    expect(errnoOf(() => p.ioctl(fd, U.PIN_LONGTERM_TEST_START, { addr: a, size: 16 * 4096, flags: U.PIN_LONGTERM_TEST_FLAG_USE_FAST }))).toBe('EFAULT');
    expect(k.vmstat().nr_foll_pin_acquired).toBe(k.vmstat().nr_foll_pin_released);
    expect(k.vmstat().nr_foll_pin_acquired).toBe(8);
    // And the state is free again.
    expect(p.ioctl(fd, U.PIN_LONGTERM_TEST_START, { addr: a, size: 4096 })).toBe(0);
    expect(k.check()).toEqual([]);
  });

  it('closing any gup_test file stops the test (the state is the module\'s)', () => {
    const { k, p, fd, a } = setup();
    const fd2 = p.open(U.GUP_TEST_PATH, U.O_RDONLY);
    expect(p.ioctl(fd, U.PIN_LONGTERM_TEST_START, { addr: a, size: 4 * 4096, flags: U.PIN_LONGTERM_TEST_FLAG_USE_WRITE })).toBe(0);
    expect(k.vmstat().nr_foll_pin_acquired - k.vmstat().nr_foll_pin_released).toBe(4);
    p.close(fd2);
    expect(k.vmstat().nr_foll_pin_acquired - k.vmstat().nr_foll_pin_released).toBe(0);
    expect(errnoOf(() => p.ioctl(fd, U.PIN_LONGTERM_TEST_READ, a))).toBe('EINVAL');
    expect(k.check()).toEqual([]);
  });

  it('unknown requests on the device are EINVAL; ioctl on a file without ->unlocked_ioctl is ENOTTY', () => {
    const { p, fd } = setup();
    expect(errnoOf(() => p.ioctl(fd, 0, 0))).toBe('EINVAL');
    const m = p.memfd_create('x', 0);
    expect(errnoOf(() => p.ioctl(m, U.PIN_LONGTERM_TEST_STOP))).toBe('ENOTTY');
    expect(errnoOf(() => p.ioctl(99, U.PIN_LONGTERM_TEST_STOP))).toBe('EBADF');
  });
});
