/**
 * mm/gup_test.h: the debugfs gup_test device's ioctls, as the selftests use
 * them. Argument objects carry the struct field names:
 *
 *   struct gup_test { get_delta_usec, put_delta_usec, addr, size,
 *                     nr_pages_per_call, gup_flags, test_flags, which_pages[8] }
 *   struct pin_longterm_test { addr, size, flags }
 */
import { _IO, _IOW, _IOWR } from './ioctl.js';

/** sizeof(struct gup_test): 4 x u64 + 3 x u32 + 8 x u32, padded to 8. */
const SIZEOF_GUP_TEST = 80;
/** sizeof(struct pin_longterm_test): 2 x u64 + u32, padded to 8. */
const SIZEOF_PIN_LONGTERM_TEST = 24;

export const GUP_FAST_BENCHMARK = _IOWR('g', 1, SIZEOF_GUP_TEST);
export const PIN_FAST_BENCHMARK = _IOWR('g', 2, SIZEOF_GUP_TEST);
export const PIN_LONGTERM_BENCHMARK = _IOWR('g', 3, SIZEOF_GUP_TEST);
export const GUP_BASIC_TEST = _IOWR('g', 4, SIZEOF_GUP_TEST);
export const PIN_BASIC_TEST = _IOWR('g', 5, SIZEOF_GUP_TEST);
export const DUMP_USER_PAGES_TEST = _IOWR('g', 6, SIZEOF_GUP_TEST);
export const PIN_LONGTERM_TEST_START = _IOW('g', 7, SIZEOF_PIN_LONGTERM_TEST);
export const PIN_LONGTERM_TEST_STOP = _IO('g', 8);
/** The argument is the __u64 user address itself (C passes a pointer to it). */
export const PIN_LONGTERM_TEST_READ = _IOW('g', 9, 8);

export const GUP_TEST_MAX_PAGES_TO_DUMP = 8;
export const GUP_TEST_FLAG_DUMP_PAGES_USE_PIN = 0x1;
export const PIN_LONGTERM_TEST_FLAG_USE_WRITE = 1;
export const PIN_LONGTERM_TEST_FLAG_USE_FAST = 2;

/** The path the driver registers (debugfs, mode 0600). */
export const GUP_TEST_PATH = '/sys/kernel/debug/gup_test';

export interface GupTest {
  get_delta_usec?: number | bigint;
  put_delta_usec?: number | bigint;
  addr: number | bigint;
  size: number | bigint;
  nr_pages_per_call?: number;
  gup_flags?: number;
  test_flags?: number;
  which_pages?: number[];
}

export interface PinLongtermTest {
  addr: number | bigint;
  size: number | bigint;
  flags?: number;
}
