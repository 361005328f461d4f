/**
 * The VFIO type1 DMA engine: MAP_DMA pins and maps, device DMA lands in the
 * pinned pages, UNMAP_DMA unpins, closing the container unmaps everything,
 * and writes into pages the process no longer maps are counted as stale.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Kernel, type KernelOptions, type Process } from '../index.js';
import {
  MADV_DONTNEED,
  MADV_NOHUGEPAGE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  O_RDWR,
  PROT_READ,
  PROT_WRITE,
  VFIO_API_VERSION,
  VFIO_CHECK_EXTENSION,
  VFIO_CONTAINER_PATH,
  VFIO_DMA_MAP_FLAG_READ,
  VFIO_DMA_MAP_FLAG_WRITE,
  VFIO_DMA_UNMAP_FLAG_ALL,
  VFIO_GET_API_VERSION,
  VFIO_IOMMU_MAP_DMA,
  VFIO_IOMMU_UNMAP_DMA,
  VFIO_MODEL_DMA_READ,
  VFIO_MODEL_DMA_WRITE,
  VFIO_SET_IOMMU,
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1v2_IOMMU,
  VFIO_UNMAP_ALL,
} from '../uapi/index.js';
import { syscallCode as code } from '../../test/support/errno.js';

const PAGE = 4096;
const RW = PROT_READ | PROT_WRITE;
const PA = MAP_PRIVATE | MAP_ANONYMOUS;
const RDWR = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;

let kernels: Kernel[] = [];
afterEach(() => {
  for (const k of kernels) expect(k.check()).toEqual([]);
  kernels = [];
});

function boot(opts: KernelOptions = {}, checked = true): { k: Kernel; p: Process } {
  const k = new Kernel({ memory: '256MiB', ...opts });
  if (checked) kernels.push(k);
  return { k, p: k.spawn() };
}


function anon(p: Process, pages: number, b: number): number {
  const a = p.mmap(0, pages * PAGE, RW, PA, -1, 0);
  p.madvise(a, pages * PAGE, MADV_NOHUGEPAGE);
  p.fill(a, pages * PAGE, b);
  return a;
}

/** An open container with the type1v2 IOMMU set. */
function container(p: Process): number {
  const fd = p.open(VFIO_CONTAINER_PATH, O_RDWR);
  expect(p.ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)).toBe(0);
  return fd;
}

function map(p: Process, fd: number, vaddr: number, iova: number, size: number, flags = RDWR): number {
  return p.ioctl(fd, VFIO_IOMMU_MAP_DMA, { argsz: 32, flags, vaddr, iova, size });
}

function dmaWrite(p: Process, fd: number, iova: number, data: Uint8Array): number {
  return p.ioctl(fd, VFIO_MODEL_DMA_WRITE, { iova, len: data.length, buf: data });
}

function dmaRead(p: Process, fd: number, iova: number, len: number): Uint8Array {
  const buf = new Uint8Array(len);
  expect(p.ioctl(fd, VFIO_MODEL_DMA_READ, { iova, len, buf })).toBe(len);
  return buf;
}

describe('the container', () => {
  it('answers the API version and the extensions it offers; the IOMMU is set once', () => {
    const { p } = boot();
    const fd = p.open(VFIO_CONTAINER_PATH, O_RDWR);
    expect(p.ioctl(fd, VFIO_GET_API_VERSION)).toBe(VFIO_API_VERSION);
    expect(p.ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU)).toBe(1);
    expect(p.ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_UNMAP_ALL)).toBe(1);
    expect(p.ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU)).toBe(0);
    // No IOMMU driver yet: the type1 ioctls are unknown.
    expect(code(() => map(p, fd, 0x100000, 0, PAGE))).toBe('ENOTTY');
    expect(code(() => p.ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU))).toBe('ENODEV');
    expect(p.ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)).toBe(0);
    expect(code(() => p.ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))).toBe('EINVAL');
    p.close(fd);
  });
});

describe('MAP_DMA / UNMAP_DMA', () => {
  it('pins the pages long-term, and unpins them on unmap', () => {
    const { k, p } = boot();
    const a = anon(p, 4, 1);
    const fd = container(p);
    expect(map(p, fd, a, 0x10000, 4 * PAGE)).toBe(0);
    for (let i = 0; i < 4; i++) expect(k.gup.folio_maybe_dma_pinned(p.pagemap(a + i * PAGE).pfn)).toBe(true);
    expect(k.dmaStats()).toMatchObject({ mappings: 1, pinnedPages: 4 });
    expect(code(() => map(p, fd, a, 0x12000, PAGE))).toBe('EEXIST');
    const unmap = { argsz: 24, flags: 0, iova: 0x10000, size: 4 * PAGE };
    expect(p.ioctl(fd, VFIO_IOMMU_UNMAP_DMA, unmap)).toBe(0);
    expect(unmap.size).toBe(4 * PAGE);
    expect(k.gup.folio_maybe_dma_pinned(p.pagemap(a).pfn)).toBe(false);
    expect(k.dmaStats()).toMatchObject({ mappings: 0, pinnedPages: 0 });
    p.close(fd);
  });

  it('type1v2 unmaps whole mappings only; an empty range unmaps nothing; UNMAP_ALL takes everything', () => {
    const { k, p } = boot();
    const a = anon(p, 8, 1);
    const fd = container(p);
    map(p, fd, a, 0x10000, 2 * PAGE);
    map(p, fd, a + 2 * PAGE, 0x20000, 2 * PAGE);
    map(p, fd, a + 4 * PAGE, 0x30000, 4 * PAGE);
    expect(code(() => p.ioctl(fd, VFIO_IOMMU_UNMAP_DMA, { argsz: 24, flags: 0, iova: 0x11000, size: PAGE }))).toBe('EINVAL');
    expect(code(() => p.ioctl(fd, VFIO_IOMMU_UNMAP_DMA, { argsz: 24, flags: 0, iova: 0x10000, size: PAGE }))).toBe('EINVAL');
    const none = { argsz: 24, flags: 0, iova: 0x40000, size: PAGE };
    expect(p.ioctl(fd, VFIO_IOMMU_UNMAP_DMA, none)).toBe(0);
    expect(none.size).toBe(0);
    // A range covering two whole mappings.
    const two = { argsz: 24, flags: 0, iova: 0x10000, size: 0x20000 - 0x10000 + 2 * PAGE };
    expect(p.ioctl(fd, VFIO_IOMMU_UNMAP_DMA, two)).toBe(0);
    expect(two.size).toBe(4 * PAGE);
    const all = { argsz: 24, flags: VFIO_DMA_UNMAP_FLAG_ALL, iova: 0, size: 0 };
    expect(p.ioctl(fd, VFIO_IOMMU_UNMAP_DMA, all)).toBe(0);
    expect(all.size).toBe(4 * PAGE);
    expect(k.dmaStats().mappings).toBe(0);
    p.close(fd);
  });

  it('a range that cannot be pinned whole fails and leaves nothing pinned', () => {
    const { k, p } = boot();
    const a = anon(p, 3, 1);
    p.munmap(a + 2 * PAGE, PAGE);
    const fd = container(p);
    expect(code(() => map(p, fd, a, 0, 3 * PAGE))).toBe('EFAULT');
    expect(k.vmstat().nr_foll_pin_acquired).toBe(k.vmstat().nr_foll_pin_released);
    // A device-writable mapping needs a writable VMA; a device-read-only one does not.
    const ro = p.mmap(0, PAGE, PROT_READ, PA, -1, 0);
    expect(code(() => map(p, fd, ro, 0, PAGE))).toBe('EFAULT');
    expect(map(p, fd, ro, 0, PAGE, VFIO_DMA_MAP_FLAG_READ)).toBe(0);
    p.close(fd);
  });

  it('closing the container unmaps and unpins everything', () => {
    const { k, p } = boot();
    const a = anon(p, 2, 1);
    const fd = container(p);
    map(p, fd, a, 0, 2 * PAGE);
    p.close(fd);
    expect(k.dmaStats()).toMatchObject({ mappings: 0, pinnedPages: 0 });
    expect(k.gup.folio_maybe_dma_pinned(p.pagemap(a).pfn)).toBe(false);
  });
});

describe('device DMA', () => {
  it('writes land in the process\'s memory, reads see it; bytes are counted', () => {
    const { k, p } = boot();
    const a = anon(p, 2, 0);
    const fd = container(p);
    map(p, fd, a, 0x40000, 2 * PAGE);
    const data = Uint8Array.from({ length: 3000 }, (_, i) => i & 0xff);
    expect(dmaWrite(p, fd, 0x40000 + PAGE - 1000, data)).toBe(3000);
    expect(p.read(a + PAGE - 1000, 3000)).toEqual(data);
    p.write(a, new Uint8Array([9, 8, 7]));
    expect(dmaRead(p, fd, 0x40000, 3)).toEqual(new Uint8Array([9, 8, 7]));
    expect(k.dmaStats()).toMatchObject({ bytesWritten: 3000, bytesRead: 3, staleWritePages: 0, staleReadPages: 0 });
    p.close(fd);
  });

  it('an unmapped IOVA or a missing permission is an IOMMU fault: nothing moves', () => {
    const { k, p } = boot();
    const a = anon(p, 2, 5);
    const fd = container(p);
    map(p, fd, a, 0, PAGE, VFIO_DMA_MAP_FLAG_READ);
    map(p, fd, a + PAGE, PAGE, PAGE, VFIO_DMA_MAP_FLAG_WRITE);
    expect(code(() => dmaWrite(p, fd, 0, new Uint8Array(1)))).toBe('EFAULT');
    expect(code(() => dmaRead(p, fd, PAGE, 1))).toBe('EFAULT');
    // Crossing into an unmapped IOVA: the first page is not written either.
    expect(code(() => dmaWrite(p, fd, 2 * PAGE - 1, new Uint8Array(2)))).toBe('EFAULT');
    expect(p.read(a + 2 * PAGE - 1, 1)[0]).toBe(5);
    expect(k.dmaStats().iommuFaults).toBe(3);
    p.close(fd);
  });

  it('counts writes into a pinned page the process dropped (MADV_DONTNEED): the data is lost to it', () => {
    const { k, p } = boot();
    const a = anon(p, 2, 1);
    const fd = container(p);
    map(p, fd, a, 0, 2 * PAGE);
    p.madvise(a, PAGE, MADV_DONTNEED);
    expect(dmaWrite(p, fd, 0, new Uint8Array(2 * PAGE).fill(0xee))).toBe(2 * PAGE);
    // The second page is still the pinned one; the first is a fresh zero page.
    expect(p.read(a, 1)[0]).toBe(0);
    expect(p.read(a + PAGE, 1)[0]).toBe(0xee);
    expect(k.dmaStats()).toMatchObject({ staleWritePages: 1, staleWriteBytes: PAGE });
    // The device still reads what it wrote.
    expect(dmaRead(p, fd, 0, 1)[0]).toBe(0xee);
    expect(k.dmaStats().staleReadPages).toBe(1);
    p.close(fd);
  });

  it('writes after the mapping process exited are stale; the pins outlive it until the container closes', () => {
    const { k, p } = boot();
    const q = k.spawn();
    const a = anon(q, 1, 1);
    const fd = container(q);
    map(q, fd, a, 0, PAGE);
    const child = q.fork();
    q.exit(0);
    expect(k.dmaStats().pinnedPages).toBe(1);
    expect(dmaWrite(child, fd, 0, new Uint8Array(10))).toBe(10);
    expect(k.dmaStats().staleWritePages).toBe(1);
    child.exit(0);
    expect(k.dmaStats().pinnedPages).toBe(0);
    void p;
  });

  it('with a pin-accounting design that misses the pin, fork shares the page and the parent\'s COW loses the DMA', () => {
    // pmd-aggregate misses a pin recorded under another 2 MiB range (see src/policy/pin_accounting.ts).
    const { k, p } = boot({ policy: { pinAccounting: 'pmd-aggregate' } }, false);
    const a = anon(p, 1, 1);
    const fd = container(p);
    map(p, fd, a, 0, PAGE);
    const pinned = p.pagemap(a).pfn;
    const b = p.mremap(a, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, a + 64 * 1024 * 1024);
    const child = p.fork();
    p.fill(b, PAGE, 2); // COW: the parent leaves the pinned page
    expect(p.pagemap(b).pfn).not.toBe(pinned);
    expect(dmaWrite(p, fd, 0, new Uint8Array(PAGE).fill(0x77))).toBe(PAGE);
    expect(p.read(b, 1)[0]).toBe(2);
    expect(k.dmaStats()).toMatchObject({ staleWritePages: 1, staleWriteBytes: PAGE });
    expect(k.pinAccounting().pinnedPagesLostToCow).toBe(1);
    child.exit(0);
    p.close(fd);
  });
});
