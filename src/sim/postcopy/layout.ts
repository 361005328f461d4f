/**
 * The memory layout of a post-copy migration target on hugetlbfs (QEMU's, in
 * the HGM thread of seed 004), for the tests, benchmarks and explore worlds
 * that start from it: a hugetlbfs memfd of `size` bytes in `hugePage` pages,
 * mapped shared twice; the primary view split for 4 KiB mapping (MADV_SPLIT,
 * HGM) and registered MINOR with a userfaultfd; the alias is how the
 * migration thread writes pages. PostcopyVm (vm.ts) builds the same layout
 * with the scenario's options (a preallocated file, a split that may be
 * refused).
 */
import type { Process } from '../../process.js';
import { O_NONBLOCK } from '../../uapi/fcntl.js';
import { MFD_HUGETLB, MFD_HUGE_1GB, MFD_HUGE_2MB } from '../../uapi/memfd.js';
import { MADV_SPLIT, MAP_SHARED, PROT_READ, PROT_WRITE } from '../../uapi/mman.js';
import { UFFDIO_API, UFFDIO_REGISTER, UFFDIO_REGISTER_MODE_MINOR, UFFD_API, UFFD_FEATURE_MINOR_HUGETLBFS } from '../../uapi/userfaultfd.js';

export interface HgmPostcopyLayout {
  fd: number;
  /** The guest's view: split, registered MINOR. */
  prim: number;
  /** The migration thread's view. */
  alias: number;
  uffd: number;
}

/** Build the layout in p: `size` bytes of `hugePage`-byte pages (2 MiB or 1 GiB); `uffdFlags` are userfaultfd(2)'s. */
export function hgmPostcopyLayout(p: Process, size: number, hugePage: number, uffdFlags: number = O_NONBLOCK): HgmPostcopyLayout {
  const fd = p.memfd_create('guest', MFD_HUGETLB | (hugePage === 2 ** 30 ? MFD_HUGE_1GB : MFD_HUGE_2MB));
  p.ftruncate(fd, size);
  const prim = p.mmap(0, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  const alias = p.mmap(0, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  p.madvise(prim, size, MADV_SPLIT);
  const uffd = p.userfaultfd(uffdFlags);
  p.ioctl(uffd, UFFDIO_API, { api: UFFD_API, features: UFFD_FEATURE_MINOR_HUGETLBFS, ioctls: 0 });
  p.ioctl(uffd, UFFDIO_REGISTER, { range: { start: prim, len: size }, mode: UFFDIO_REGISTER_MODE_MINOR, ioctls: 0 });
  return { fd, prim, alias, uffd };
}
