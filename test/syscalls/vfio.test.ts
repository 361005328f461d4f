/**
 * The VFIO type1 container's ioctls (drivers/vfio/container.c,
 * drivers/vfio/vfio_iommu_type1.c) and the model's device-DMA ioctls,
 * in the kernel's order:
 *
 *   container:  VFIO_SET_IOMMU: EINVAL(already set) -> ENODEV(type not offered);
 *               any type1 ioctl before it: ENOTTY
 *   MAP_DMA:    EFAULT(copy) -> EINVAL(argsz < 32, unknown flags) -> EINVAL(neither READ nor
 *               WRITE) -> EINVAL(size 0, unaligned size/iova/vaddr) -> EINVAL(wrap) ->
 *               EEXIST(overlap) -> ENOSPC(65535 mappings) -> EINVAL(outside the IOVA
 *               aperture) -> EFAULT/ENOMEM(pin; nothing stays pinned)
 *   UNMAP_DMA:  EFAULT(copy) -> EINVAL(argsz < 24, unknown flags) -> EINVAL(unaligned iova)
 *               -> EINVAL(UNMAP_ALL with iova/size; size 0, unaligned, wrap) -> EINVAL(bisects
 *               a mapping) -> EFAULT(copy back of size, after the unmap)
 *   model DMA:  EFAULT(copy, buffer shorter than len) -> EINVAL(iova/len no C value) ->
 *               EFAULT(IOMMU fault: unmapped or without permission)
 */
import { describe, expect, it } from 'vitest';
import type { ErrnoName } from '../../src/uapi/index.js';
import {
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  O_RDWR,
  PROT_READ,
  PROT_WRITE,
  VFIO_CONTAINER_PATH,
  VFIO_DMA_MAP_FLAG_READ,
  VFIO_DMA_MAP_FLAG_VADDR,
  VFIO_DMA_MAP_FLAG_WRITE,
  VFIO_DMA_UNMAP_FLAG_ALL,
  VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
  VFIO_IOMMU_GET_INFO,
  VFIO_IOMMU_MAP_DMA,
  VFIO_IOMMU_UNMAP_DMA,
  VFIO_MODEL_DMA_READ,
  VFIO_MODEL_DMA_WRITE,
  VFIO_SET_IOMMU,
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1v2_IOMMU,
} from '../../src/uapi/index.js';
import { type Expect, PAGE, WEIRD, attempt, boot, checkKernelsAfterEach, checkOutcome, expectErrno } from './helpers.js';

checkKernelsAfterEach();

const RDWR = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
const S = 'ioctl';

/** fd 0 a container with the type1v2 IOMMU set, A four mapped anonymous pages. */
function fixture() {
  const { k, p } = boot();
  const fd = p.open(VFIO_CONTAINER_PATH, O_RDWR);
  p.ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU);
  const A = p.mmap(0, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  p.fill(A, 4 * PAGE, 1);
  return { k, p, fd, A };
}

type Fx = ReturnType<typeof fixture>;

const map = (f: Fx, m: Record<string, unknown>) => f.p.ioctl(f.fd, VFIO_IOMMU_MAP_DMA, { argsz: 32, flags: RDWR, vaddr: f.A, iova: 0, size: PAGE, ...m });
const unmap = (f: Fx, u: Record<string, unknown>) => f.p.ioctl(f.fd, VFIO_IOMMU_UNMAP_DMA, { argsz: 24, flags: 0, iova: 0, size: PAGE, ...u });

interface Row {
  name: string;
  call: (f: Fx) => unknown;
  code: ErrnoName;
}

const rows: Row[] = [
  { name: 'an unknown ioctl', call: (f) => f.p.ioctl(f.fd, 0x1234), code: 'ENOTTY' },
  { name: 'VFIO_IOMMU_GET_INFO (not modelled)', call: (f) => f.p.ioctl(f.fd, VFIO_IOMMU_GET_INFO, {}), code: 'ENOTTY' },
  { name: 'VFIO_SET_IOMMU twice', call: (f) => f.p.ioctl(f.fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), code: 'EINVAL' },
  {
    name: 'VFIO_SET_IOMMU with the legacy type1 (not offered)',
    call: (f) => f.p.ioctl(f.p.open(VFIO_CONTAINER_PATH, O_RDWR), VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU),
    code: 'ENODEV',
  },
  {
    name: 'MAP_DMA before VFIO_SET_IOMMU',
    call: (f) => f.p.ioctl(f.p.open(VFIO_CONTAINER_PATH, O_RDWR), VFIO_IOMMU_MAP_DMA, { argsz: 32, flags: RDWR, vaddr: f.A, iova: 0, size: PAGE }),
    code: 'ENOTTY',
  },
  { name: 'MAP_DMA arg not a pointer', call: (f) => f.p.ioctl(f.fd, VFIO_IOMMU_MAP_DMA, 5), code: 'EFAULT' },
  { name: 'MAP_DMA arg whose getter throws', call: (f) => f.p.ioctl(f.fd, VFIO_IOMMU_MAP_DMA, { get argsz(): number { throw new Error('x'); } }), code: 'EFAULT' },
  { name: 'MAP_DMA argsz 31', call: (f) => map(f, { argsz: 31 }), code: 'EINVAL' },
  { name: 'MAP_DMA unknown flag 8', call: (f) => map(f, { flags: RDWR | 8 }), code: 'EINVAL' },
  { name: 'MAP_DMA VADDR update (not modelled)', call: (f) => map(f, { flags: VFIO_DMA_MAP_FLAG_VADDR }), code: 'EINVAL' },
  { name: 'MAP_DMA neither READ nor WRITE', call: (f) => map(f, { flags: 0 }), code: 'EINVAL' },
  { name: 'MAP_DMA size 0', call: (f) => map(f, { size: 0 }), code: 'EINVAL' },
  { name: 'MAP_DMA unaligned size', call: (f) => map(f, { size: PAGE + 1 }), code: 'EINVAL' },
  { name: 'MAP_DMA unaligned iova', call: (f) => map(f, { iova: 0x800 }), code: 'EINVAL' },
  { name: 'MAP_DMA unaligned vaddr', call: (f) => map(f, { vaddr: f.A + 1 }), code: 'EINVAL' },
  { name: 'MAP_DMA iova wraps', call: (f) => map(f, { iova: (1n << 64n) - BigInt(PAGE), size: 2 * PAGE }), code: 'EINVAL' },
  { name: 'MAP_DMA a field with no C value', call: (f) => map(f, { size: '4096' }), code: 'EINVAL' },
  {
    name: 'MAP_DMA overlapping an existing mapping',
    call: (f) => {
      map(f, { iova: 2 * PAGE, size: 2 * PAGE });
      return map(f, { iova: 3 * PAGE, size: PAGE });
    },
    code: 'EEXIST',
  },
  {
    name: 'ORDER MAP_DMA overlap (EEXIST) beats outside the aperture (EINVAL)',
    call: (f) => {
      map(f, { iova: 2 ** 48 - PAGE });
      return map(f, { iova: 2 ** 48 - PAGE, size: 2 * PAGE });
    },
    code: 'EEXIST',
  },
  { name: 'MAP_DMA outside the 48-bit IOVA aperture', call: (f) => map(f, { iova: 2 ** 48 }), code: 'EINVAL' },
  { name: 'MAP_DMA of unmapped memory', call: (f) => map(f, { vaddr: 0x10000 }), code: 'EFAULT' },
  { name: 'MAP_DMA partly unmapped (nothing stays pinned)', call: (f) => map(f, { size: 5 * PAGE }), code: 'EFAULT' },
  {
    name: 'MAP_DMA device-writable of read-only memory',
    call: (f) => {
      f.p.mprotect(f.A, PAGE, PROT_READ);
      return map(f, {});
    },
    code: 'EFAULT',
  },
  { name: 'UNMAP_DMA arg not a pointer', call: (f) => f.p.ioctl(f.fd, VFIO_IOMMU_UNMAP_DMA, 'x'), code: 'EFAULT' },
  { name: 'UNMAP_DMA argsz 23', call: (f) => unmap(f, { argsz: 23 }), code: 'EINVAL' },
  { name: 'UNMAP_DMA dirty bitmap (not modelled)', call: (f) => unmap(f, { flags: VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP }), code: 'EINVAL' },
  { name: 'UNMAP_DMA unaligned iova', call: (f) => unmap(f, { iova: 1 }), code: 'EINVAL' },
  { name: 'UNMAP_DMA size 0', call: (f) => unmap(f, { size: 0 }), code: 'EINVAL' },
  { name: 'UNMAP_DMA unaligned size', call: (f) => unmap(f, { size: 100 }), code: 'EINVAL' },
  { name: 'UNMAP_DMA ALL with a size', call: (f) => unmap(f, { flags: VFIO_DMA_UNMAP_FLAG_ALL }), code: 'EINVAL' },
  {
    name: 'UNMAP_DMA bisecting a mapping (type1v2)',
    call: (f) => {
      map(f, { size: 2 * PAGE });
      return unmap(f, { iova: PAGE });
    },
    code: 'EINVAL',
  },
  {
    name: 'UNMAP_DMA ending inside a mapping',
    call: (f) => {
      map(f, { size: 2 * PAGE });
      return unmap(f, {});
    },
    code: 'EINVAL',
  },
  {
    name: 'UNMAP_DMA whose size cannot be written back (the unmap is done)',
    call: (f) => {
      map(f, {});
      return f.p.ioctl(f.fd, VFIO_IOMMU_UNMAP_DMA, Object.freeze({ argsz: 24, flags: 0, iova: 0, size: PAGE }));
    },
    code: 'EFAULT',
  },
  { name: 'DMA_WRITE arg not a pointer', call: (f) => f.p.ioctl(f.fd, VFIO_MODEL_DMA_WRITE, 0), code: 'EFAULT' },
  { name: 'DMA_WRITE buf not a buffer', call: (f) => f.p.ioctl(f.fd, VFIO_MODEL_DMA_WRITE, { iova: 0, len: 1, buf: [1] }), code: 'EFAULT' },
  { name: 'DMA_WRITE len beyond the buffer', call: (f) => f.p.ioctl(f.fd, VFIO_MODEL_DMA_WRITE, { iova: 0, len: 2, buf: new Uint8Array(1) }), code: 'EFAULT' },
  { name: 'DMA_WRITE iova with no C value', call: (f) => f.p.ioctl(f.fd, VFIO_MODEL_DMA_WRITE, { iova: NaN, len: 1, buf: new Uint8Array(1) }), code: 'EINVAL' },
  { name: 'DMA_WRITE to an unmapped IOVA', call: (f) => f.p.ioctl(f.fd, VFIO_MODEL_DMA_WRITE, { iova: 0, len: 1, buf: new Uint8Array(1) }), code: 'EFAULT' },
  {
    name: 'DMA_WRITE into a device-read-only mapping',
    call: (f) => {
      map(f, { flags: VFIO_DMA_MAP_FLAG_READ });
      return f.p.ioctl(f.fd, VFIO_MODEL_DMA_WRITE, { iova: 0, len: 1, buf: new Uint8Array(1) });
    },
    code: 'EFAULT',
  },
  {
    name: 'DMA_READ from a device-write-only mapping',
    call: (f) => {
      map(f, { flags: VFIO_DMA_MAP_FLAG_WRITE });
      return f.p.ioctl(f.fd, VFIO_MODEL_DMA_READ, { iova: 0, len: 1, buf: new Uint8Array(1) });
    },
    code: 'EFAULT',
  },
];

describe('vfio: errno and check order', () => {
  it.each(rows)('$name', (row) => {
    const f = fixture();
    expectErrno(() => row.call(f), row.code, S);
    // Whatever failed left no pin behind beyond the mappings that exist.
    const v = f.k.vmstat();
    expect(v.nr_foll_pin_acquired! - v.nr_foll_pin_released!).toBe(f.k.dmaStats().pinnedPages);
  });
});

describe('vfio: accepted inputs', () => {
  it('a larger argsz is fine; absent fields are zero; a mapping may reuse its vaddr at another IOVA', () => {
    const f = fixture();
    expect(map(f, { argsz: 4096 })).toBe(0);
    expect(map(f, { iova: PAGE })).toBe(0);
    expect(f.k.dmaStats()).toMatchObject({ mappings: 2, pinnedPages: 2 });
    // iova absent: 0, which is taken.
    expectErrno(() => f.p.ioctl(f.fd, VFIO_IOMMU_MAP_DMA, { argsz: 32, flags: RDWR, vaddr: f.A, size: PAGE }), 'EEXIST', S);
  });

  it('ENOSPC after dma_entry_limit (65535) mappings', () => {
    const { k, p } = boot({ memory: '512MiB' });
    const fd = p.open(VFIO_CONTAINER_PATH, O_RDWR);
    p.ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU);
    const A = p.mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (let i = 0; i < 65535; i++) p.ioctl(fd, VFIO_IOMMU_MAP_DMA, { argsz: 32, flags: RDWR, vaddr: A, iova: i * PAGE, size: PAGE });
    expectErrno(() => p.ioctl(fd, VFIO_IOMMU_MAP_DMA, { argsz: 32, flags: RDWR, vaddr: A, iova: 65535 * PAGE, size: PAGE }), 'ENOSPC', S);
    // One free slot after an unmap.
    p.ioctl(fd, VFIO_IOMMU_UNMAP_DMA, { argsz: 24, flags: 0, iova: 7 * PAGE, size: PAGE });
    expect(p.ioctl(fd, VFIO_IOMMU_MAP_DMA, { argsz: 32, flags: RDWR, vaddr: A, iova: 65535 * PAGE, size: PAGE })).toBe(0);
    p.close(fd);
    expect(k.dmaStats().pinnedPages).toBe(0);
  });
});

// ---------------------------------------------------------------------------
// A value of every type in every position.

interface Position {
  name: string;
  call: (f: Fx, v: unknown) => unknown;
  expect: (label: string) => Expect;
}

const positions: Position[] = [
  {
    name: 'VFIO_SET_IOMMU arg',
    call: (f, v) => f.p.ioctl(f.p.open(VFIO_CONTAINER_PATH, O_RDWR), VFIO_SET_IOMMU, v),
    // No value but VFIO_TYPE1v2_IOMMU (3) names a type a driver offers.
    expect: () => 'ENODEV',
  },
  {
    // Every object is a struct with argsz 0 (too small): EINVAL; anything else is a bad pointer.
    name: 'MAP_DMA arg',
    call: (f, v) => f.p.ioctl(f.fd, VFIO_IOMMU_MAP_DMA, v),
    expect: (label) => (['{}', '[]', 'poison object', 'new Number(4096)', '() => 0'].includes(label) ? 'EINVAL' : 'EFAULT'),
  },
  ...(['argsz', 'flags', 'vaddr', 'iova', 'size'] as const).map(
    (field): Position => ({
      name: `MAP_DMA ${field}`,
      call: (f, v) => map(f, { [field]: v }),
      expect: () => 'any',
    }),
  ),
  ...(['argsz', 'flags', 'iova', 'size'] as const).map(
    (field): Position => ({
      name: `UNMAP_DMA ${field}`,
      call: (f, v) => unmap(f, { [field]: v }),
      expect: () => 'any',
    }),
  ),
  ...(['iova', 'len', 'buf'] as const).map(
    (field): Position => ({
      name: `DMA_WRITE ${field}`,
      call: (f, v) => {
        map(f, { size: 4 * PAGE });
        return f.p.ioctl(f.fd, VFIO_MODEL_DMA_WRITE, { iova: 0, len: 16, buf: new Uint8Array(16), [field]: v });
      },
      expect: () => 'any',
    }),
  ),
];

describe('vfio: a value of every type in every position', () => {
  for (const pos of positions) {
    it.each(WEIRD.map((w) => ({ ...w })))(`${pos.name} = $label`, ({ label, v }) => {
      const f = fixture();
      const r = attempt(() => pos.call(f, v));
      checkOutcome(r, pos.expect(label), S, `${pos.name} = ${label}`);
    });
  }
});
