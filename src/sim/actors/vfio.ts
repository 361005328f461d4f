/**
 * vfio: a passthrough device (VFIO type1) that long-term pins its DMA buffers
 * in guest RAM at start (VFIO_IOMMU_MAP_DMA: pin_user_pages_remote with
 * FOLL_LONGTERM, under mmap_lock for read) and then writes into them now and
 * then. A device write that lands in a page the VMM no longer maps at that
 * address is data the guest never sees (Kernel.dmaStats().staleWritePages).
 *
 * Buffers: `density` per GiB of the region, evenly spaced, each `size` bytes
 * at `offset` into its slot; plus any `extra` ranges.
 */
import { z } from 'zod';
import { O_RDWR } from '../../uapi/fcntl.js';
import { VFIO_CONTAINER_PATH, VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE, VFIO_IOMMU_MAP_DMA, VFIO_MODEL_DMA_WRITE, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU } from '../../uapi/vfio.js';
import { amount, count, duration, name, obj, pageSize } from '../scenario/types.js';
import { type Program, op, sleep } from '../engine.js';
import type { ActorContext, ActorKind } from './actor.js';
import { actorSchema } from './common.js';

const PAGE = 4096;
const GiB = 2 ** 30;

const schema = actorSchema('vfio', 'a passthrough device with long-term-pinned DMA buffers', {
  region: name('the region holding its buffers'),
  /** Buffers per GiB of the region, evenly spaced. */
  density: amount('buffers per GiB'),
  /** Bytes per buffer (default 4KiB). */
  size: pageSize('the buffer size').optional(),
  /** Offset of each buffer in its slot (default 0). */
  offset: pageSize('the offset in each slot').optional(),
  extra: z.array(obj({ offset: pageSize('the offset in the region'), size: pageSize('the size') }, 'an extra DMA range')).optional(),
  /** Time between device writes (round robin over the buffers); omit for no DMA. */
  dmaEvery: duration('the time between device writes').optional(),
  /** Bytes per device write (default 64). */
  dmaBytes: count('bytes per device write', 1).optional(),
});
type Spec = ReturnType<typeof schema.parse>;

export const vfioActor: ActorKind<Spec> = {
  kind: 'vfio',
  description: 'a VFIO passthrough device: long-term pins of DMA buffers at start (VFIO_IOMMU_MAP_DMA), then device writes into them',
  schema,
  regions: (s) => [s.region],
  *program(ctx: ActorContext, s: Spec): Program {
    const w = ctx.world;
    const r = w.region(s.region);
    const p = r.proc;
    const size = s.size ?? PAGE;
    const nbuf = Math.floor((s.density * r.size) / GiB);
    const slot = nbuf > 0 ? Math.floor(r.size / nbuf / PAGE) * PAGE : 0;
    const ranges: { offset: number; size: number }[] = [];
    for (let i = 0; i < nbuf; i++) ranges.push({ offset: i * slot + Math.min(s.offset ?? 0, Math.max(0, slot - size)), size });
    for (const e of s.extra ?? []) ranges.push(e);
    let fd = -1;
    yield op({
      name: 'open',
      proc: p,
      lock: 'none',
      run: () => {
        fd = p.open(VFIO_CONTAINER_PATH, O_RDWR);
        p.ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU);
      },
    });
    const mapped: { iova: number; size: number }[] = [];
    let iova = 0;
    for (const rg of ranges) {
      if (rg.offset + rg.size > r.size) continue;
      const at = iova;
      yield op({
        name: 'map_dma',
        proc: p,
        lock: 'read',
        show: mapped.length < 4,
        run: () => {
          p.ioctl(fd, VFIO_IOMMU_MAP_DMA, { argsz: 32, flags: VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE, vaddr: r.addr + rg.offset, iova: at, size: rg.size });
          for (let i = 0; i < rg.size / PAGE; i++) {
            const addr = r.addr + rg.offset + i * PAGE;
            w.held.add({ proc: p, addr, pfn: p.pagemap(addr).pfn });
          }
          w.add('vfioPinnedPages', rg.size / PAGE);
          return `${rg.size / PAGE} pages at ${s.region}+0x${rg.offset.toString(16)}`;
        },
      });
      mapped.push({ iova: at, size: rg.size });
      iova += rg.size;
    }
    if (s.dmaEvery === undefined || mapped.length === 0) return;
    const bytes = s.dmaBytes ?? 64;
    const buf = new Uint8Array(bytes);
    for (let i = 0; ; i++) {
      yield sleep(s.dmaEvery);
      const m = mapped[i % mapped.length]!;
      buf.fill(i & 0xff);
      yield op({
        name: 'dma_write',
        proc: p,
        lock: 'none',
        syscall: false,
        extraNs: bytes / BYTES_PER_NS,
        run: () => {
          p.ioctl(fd, VFIO_MODEL_DMA_WRITE, { iova: m.iova, len: Math.min(bytes, m.size), buf });
        },
      });
    }
  },
};

/** A device write's transfer time: PCIe Gen4 x16 is about 32 GB/s, 32 bytes/ns (model-only; nothing else costs it). */
const BYTES_PER_NS = 32;
