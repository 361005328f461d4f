/**
 * A DMA engine behind a VFIO type1 container (mirrors
 * drivers/vfio/vfio_iommu_type1.c and the container ioctls of
 * drivers/vfio/container.c), at /dev/vfio/vfio.
 *
 * VFIO_IOMMU_MAP_DMA pins the process's pages [vaddr, vaddr + size) with
 * pin_user_pages_remote(FOLL_LONGTERM, plus FOLL_WRITE when the device may
 * write) and maps them at [iova, iova + size) in the container's IOMMU;
 * VFIO_IOMMU_UNMAP_DMA unmaps and unpins (marking the pages dirty when the
 * device could write them). Closing the container unmaps everything.
 *
 * The device side is model-only: VFIO_MODEL_DMA_WRITE / _READ move bytes
 * between a buffer and an IOVA range, through the IOMMU, into and out of the
 * PINNED pages. If the process's page table has since been pointed at another
 * page (a COW after fork, say), a DMA write lands in the pinned page and the
 * process does not see it: a stale pin shows up as lost data, and the engine
 * counts it (Kernel.dmaStats()).
 *
 * Simplifications: the container comes with one device group attached and an
 * IOMMU domain (4 KiB pages, IOVA aperture [0, 2^48)), so VFIO_SET_IOMMU works
 * at once; only VFIO_TYPE1v2_IOMMU (with VFIO_UNMAP_ALL) is offered, not the
 * legacy type1 unmap semantics, VFIO_UPDATE_VADDR, dirty tracking or
 * VFIO_IOMMU_GET_INFO; no RLIMIT_MEMLOCK accounting (the tasks have
 * CAP_IPC_LOCK); no group, device or region ioctls.
 */
import { type ErrnoName, errnoName } from '../uapi/errno.js';
import { cUInt, cULong, copyStructFromUser, copyStructToUser, cUserBuffer } from '../uapi/ctypes.js';
import {
  VFIO_API_VERSION,
  VFIO_CHECK_EXTENSION,
  VFIO_CONTAINER_PATH,
  VFIO_DMA_MAP_FLAG_READ,
  VFIO_DMA_MAP_FLAG_WRITE,
  VFIO_DMA_MAP_MINSZ,
  VFIO_DMA_UNMAP_FLAG_ALL,
  VFIO_DMA_UNMAP_MINSZ,
  VFIO_GET_API_VERSION,
  VFIO_IOMMU_MAP_DMA,
  VFIO_IOMMU_UNMAP_DMA,
  VFIO_MODEL_DMA_READ,
  VFIO_MODEL_DMA_WRITE,
  VFIO_SET_IOMMU,
  VFIO_TYPE1v2_IOMMU,
  VFIO_UNMAP_ALL,
} from '../uapi/vfio.js';
import { anonInodeGetfile } from '../fs/anon_inodes.js';
import type { FsFileOps, OpenFile, Task } from '../fs/file.js';
import { pinUserPagesRemote, unpinUserPagesDirtyLock } from '../mm/gup.js';
import type { Host } from '../mm/host.js';
import type { MmStruct } from '../mm/mm_types.js';
import { Level, PAGE_SIZE } from '../mm/page.js';
import { Pte, type Walk, walk } from '../mm/pgtable.js';
import type { DeviceOpen, DriverContext } from './index.js';

const FOLL_WRITE = 1 << 0;
const FOLL_LONGTERM = 1 << 8;
const U64_MAX = (1n << 64n) - 1n;
/** The IOMMU domain's IOVA aperture: 48 bits. */
const IOVA_LIMIT = 2n ** 48n;
/** dma_entry_limit (module parameter default U16_MAX): mappings per container. */
export const DMA_ENTRY_LIMIT = 65535;
const VFIO_TYPE1v2_IOMMU_BIG = BigInt(VFIO_TYPE1v2_IOMMU);
const VFIO_UNMAP_ALL_BIG = BigInt(VFIO_UNMAP_ALL);
/** Pages pinned per pin_user_pages_remote call (vfio_batch: a page of pointers). */
const PIN_BATCH = PAGE_SIZE / 8;

/** What the DMA engines of one kernel have done (Kernel.dmaStats()). */
export interface DmaStats {
  /** Live VFIO_IOMMU_MAP_DMA mappings, and the pages they pin. */
  mappings: number;
  pinnedPages: number;
  /** Bytes the devices wrote into memory / read from memory. */
  bytesWritten: number;
  bytesRead: number;
  /**
   * Device writes that landed in a pinned page the mapping process no longer
   * maps at that address (its page table now points elsewhere, or it exited):
   * data the process will not see. Counted per page written, and in bytes.
   */
  staleWritePages: number;
  staleWriteBytes: number;
  /** Device reads from such pages: the device read stale data. */
  staleReadPages: number;
  /** DMA requests refused with an IOMMU fault (unmapped IOVA, or no permission). */
  iommuFaults: number;
}

function newDmaStats(): DmaStats {
  return { mappings: 0, pinnedPages: 0, bytesWritten: 0, bytesRead: 0, staleWritePages: 0, staleWriteBytes: 0, staleReadPages: 0, iommuFaults: 0 };
}

/** One kernel's counters, by host (one Host per Kernel). */
const statsByHost = new WeakMap<Host, DmaStats>();

/** The DMA counters of the kernel owning host. */
export function dmaStats(host: Host): DmaStats {
  let s = statsByHost.get(host);
  if (s === undefined) {
    s = newDmaStats();
    statsByHost.set(host, s);
  }
  return s;
}

/** struct vfio_dma: one mapping. */
interface VfioDma {
  iova: bigint;
  size: number;
  vaddr: number;
  /** VFIO_DMA_MAP_FLAG_READ / _WRITE: what the device may do. */
  prot: number;
  /** The pinning task and its mm at map time (dma->task, dma->mm). */
  task: Task;
  mm: MmStruct;
  /** The pinned pfn behind each page. */
  pfns: Float64Array;
}

/** struct vfio_iommu (plus the container's state). */
interface Container {
  /** VFIO_SET_IOMMU done. */
  iommuSet: boolean;
  /** Mappings sorted by iova (the model's dma_list rb-tree). */
  dmas: VfioDma[];
  dmaAvail: number;
}

/** Index of the first mapping starting at or after iova (binary search over the sorted list). */
function lowerBound(c: Container, iova: bigint): number {
  let lo = 0;
  let hi = c.dmas.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (c.dmas[mid]!.iova < iova) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * A mapping overlapping [iova, iova + size), if any: the last one starting
 * before the end is the only candidate, as mappings do not overlap.
 */
// mirrors drivers/vfio/vfio_iommu_type1.c:vfio_find_dma
function findDma(c: Container, iova: bigint, size: bigint): VfioDma | undefined {
  const d = c.dmas[lowerBound(c, iova + size) - 1];
  return d !== undefined && d.iova + BigInt(d.size) > iova ? d : undefined;
}

/** The mapping containing iova, if any. */
function findDmaAt(c: Container, iova: bigint): VfioDma | undefined {
  return findDma(c, iova, 1n);
}

/** Unpin the pages of a mapping taken off the list (dirtying them if the device could write). */
// mirrors drivers/vfio/vfio_iommu_type1.c:vfio_remove_dma (-> vfio_unmap_unpin)
function unpinDma(host: Host, c: Container, dma: VfioDma): void {
  const pages = Array.from(dma.pfns);
  unpinUserPagesDirtyLock(host, pages, pages.length, (dma.prot & VFIO_DMA_MAP_FLAG_WRITE) !== 0);
  c.dmaAvail++;
  const st = dmaStats(host);
  st.mappings--;
  st.pinnedPages -= pages.length;
}

/** Pin [vaddr, vaddr + size) of mm; all or nothing. */
// mirrors drivers/vfio/vfio_iommu_type1.c:vfio_pin_map_dma (-> vfio_pin_pages_remote, vaddr_get_pfns)
function pinMapDma(host: Host, mm: MmStruct, dma: VfioDma): ErrnoName | null {
  const n = dma.size / PAGE_SIZE;
  const flags = FOLL_LONGTERM | (dma.prot & VFIO_DMA_MAP_FLAG_WRITE ? FOLL_WRITE : 0);
  const batch: number[] = [];
  let done = 0;
  while (done < n) {
    batch.length = 0;
    const want = Math.min(PIN_BATCH, n - done);
    const r = pinUserPagesRemote(host, mm, dma.vaddr + done * PAGE_SIZE, want, flags, batch);
    if (r <= 0) {
      const pinned = Array.from(dma.pfns.subarray(0, done));
      unpinUserPagesDirtyLock(host, pinned, pinned.length, false);
      return r === 0 ? 'EFAULT' : (errnoName(-r) ?? 'EFAULT');
    }
    for (let k = 0; k < r; k++) dma.pfns[done + k] = batch[k]!;
    done += r;
  }
  return null;
}

const MAP_FIELDS = ['argsz', 'flags', 'vaddr', 'iova', 'size'] as const;
const UNMAP_FIELDS = ['argsz', 'flags', 'iova', 'size'] as const;

// mirrors drivers/vfio/vfio_iommu_type1.c:vfio_iommu_type1_map_dma (-> vfio_dma_do_map)
function mapDma(host: Host, c: Container, current: Task, arg: unknown): number | ErrnoName {
  const m = copyStructFromUser(arg, MAP_FIELDS);
  if (m === null) return 'EFAULT';
  const argsz = cUInt(m.argsz);
  const flags = cUInt(m.flags);
  const vaddr = cULong(m.vaddr);
  const iova = cULong(m.iova);
  const size = cULong(m.size);
  if (argsz === null || flags === null || vaddr === null || iova === null || size === null) return 'EINVAL';
  if (argsz < VFIO_DMA_MAP_MINSZ || flags & ~(VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE)) return 'EINVAL';
  // vfio_dma_do_map: a mapping the device can neither read nor write is meaningless.
  const prot = flags & (VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE);
  if (prot === 0) return 'EINVAL';
  if (size === 0n || (size | iova | vaddr) % BigInt(PAGE_SIZE) !== 0n) return 'EINVAL';
  // No IOVA or virtual address wrap.
  if (iova + size - 1n > U64_MAX || vaddr + size - 1n > U64_MAX) return 'EINVAL';
  if (findDma(c, iova, size) !== undefined) return 'EEXIST';
  if (c.dmaAvail === 0) return 'ENOSPC';
  // vfio_iommu_iova_dma_valid: inside the domain's aperture.
  if (iova + size > IOVA_LIMIT) return 'EINVAL';
  const mm = current.mm;
  if (mm === null) return 'ESRCH';
  // Addresses beyond 2^53 are far outside user space: pinning fails (EFAULT).
  if (vaddr + size > BigInt(Number.MAX_SAFE_INTEGER)) return 'EFAULT';
  const dma: VfioDma = { iova, size: Number(size), vaddr: Number(vaddr), prot, task: current, mm, pfns: new Float64Array(Number(size) / PAGE_SIZE) };
  const e = pinMapDma(host, mm, dma);
  if (e !== null) return e;
  c.dmas.splice(lowerBound(c, iova), 0, dma);
  c.dmaAvail--;
  const st = dmaStats(host);
  st.mappings++;
  st.pinnedPages += dma.pfns.length;
  return 0;
}

/** Unmap [iova, iova + size); returns the bytes unmapped or the errno. */
// mirrors drivers/vfio/vfio_iommu_type1.c:vfio_dma_do_unmap (type1v2)
function doUnmap(host: Host, c: Container, iova: bigint, size: bigint, all: boolean): number | ErrnoName {
  if (iova % BigInt(PAGE_SIZE) !== 0n) return 'EINVAL';
  if (all) {
    if (iova !== 0n || size !== 0n) return 'EINVAL';
    size = U64_MAX;
  } else if (size === 0n || size % BigInt(PAGE_SIZE) !== 0n || iova + size - 1n > U64_MAX) {
    return 'EINVAL';
  }
  if (!all) {
    // type1v2: an unmap may not bisect a mapping.
    const first = findDmaAt(c, iova);
    if (first !== undefined && first.iova !== iova) return 'EINVAL';
    const last = findDmaAt(c, iova + size - 1n);
    if (last !== undefined && last.iova + BigInt(last.size) !== iova + size) return 'EINVAL';
  }
  let unmapped = 0;
  const from = lowerBound(c, iova);
  const victims = c.dmas.splice(from, lowerBound(c, iova + size) - from);
  for (const dma of victims) {
    unmapped += dma.size;
    unpinDma(host, c, dma);
  }
  return unmapped;
}

// mirrors drivers/vfio/vfio_iommu_type1.c:vfio_iommu_type1_unmap_dma
function unmapDma(host: Host, c: Container, arg: unknown): number | ErrnoName {
  const u = copyStructFromUser(arg, UNMAP_FIELDS);
  if (u === null) return 'EFAULT';
  const argsz = cUInt(u.argsz);
  const flags = cUInt(u.flags);
  const iova = cULong(u.iova);
  const size = cULong(u.size);
  if (argsz === null || flags === null || iova === null || size === null) return 'EINVAL';
  if (argsz < VFIO_DMA_UNMAP_MINSZ || flags & ~VFIO_DMA_UNMAP_FLAG_ALL) return 'EINVAL';
  const r = doUnmap(host, c, iova, size, (flags & VFIO_DMA_UNMAP_FLAG_ALL) !== 0);
  if (typeof r === 'string') return r;
  // Report how much was unmapped.
  return copyStructToUser(arg, { size: r }) ? 0 : 'EFAULT';
}

const $w: Walk = { table: null as never, idx: 0, level: Level.PTE, parent: null, pidx: 0 };

/** The pfn mm maps at addr now, or -1. */
function mappedPfn(mm: MmStruct, addr: number): number {
  walk(mm.pgd, addr, $w);
  const fl = $w.table.fl[$w.idx]!;
  // A PROT_NONE entry still maps its page.
  if (!(fl & (Pte.PRESENT | Pte.PROTNONE))) return -1;
  if ($w.level === Level.PTE) return $w.table.pfn[$w.idx]!;
  if (!(fl & Pte.PSE)) return -1;
  const span = $w.level === Level.PMD ? 2 ** 21 : 2 ** 30;
  return $w.table.pfn[$w.idx]! + Math.floor((addr % span) / PAGE_SIZE);
}

/** Does the mapping's task still map the pinned page at its address? */
function stillMapped(dma: VfioDma, page: number): boolean {
  if (dma.task.mm !== dma.mm) return false;
  return mappedPfn(dma.mm, dma.vaddr + page * PAGE_SIZE) === dma.pfns[page];
}

/**
 * The device moves buf[0, len) to memory at iova (write) or memory to buf
 * (read), through the IOMMU. The whole range must be mapped with the needed
 * permission, else the request faults (EFAULT) and nothing moves.
 */
// model-only: the device side of DMA through the IOMMU; Linux has no syscall for it
function deviceDma(host: Host, c: Container, arg: unknown, write: boolean): number | ErrnoName {
  const a = copyStructFromUser(arg, ['iova', 'len', 'buf']);
  if (a === null) return 'EFAULT';
  const iova = cULong(a.iova);
  const len = cULong(a.len);
  if (iova === null || len === null) return 'EINVAL';
  const buf = cUserBuffer(a.buf);
  if (buf === null || len > BigInt(buf.length)) return 'EFAULT';
  const n = Number(len);
  if (n === 0) return 0;
  const st = dmaStats(host);
  const need = write ? VFIO_DMA_MAP_FLAG_WRITE : VFIO_DMA_MAP_FLAG_READ;
  // The IOMMU translates every page first: a fault anywhere aborts the transfer.
  for (let at = iova; at < iova + len; ) {
    const d = findDmaAt(c, at);
    if (d === undefined || !(d.prot & need)) {
      st.iommuFaults++;
      return 'EFAULT';
    }
    at = d.iova + BigInt(d.size);
  }
  let done = 0;
  while (done < n) {
    const at = iova + BigInt(done);
    const d = findDmaAt(c, at)!;
    const off = Number(at - d.iova);
    const page = Math.floor(off / PAGE_SIZE);
    const po = off - page * PAGE_SIZE;
    const chunk = Math.min(n - done, PAGE_SIZE - po);
    const pfn = d.pfns[page]!;
    const f = host.pfnFolio(pfn);
    const foff = (pfn - host.ft.pfn[f]!) * PAGE_SIZE + po;
    const stale = !stillMapped(d, page);
    if (write) {
      host.content.write(f, 1 << host.ft.order[f]!, foff, buf, done, chunk);
      if (stale) {
        st.staleWritePages++;
        st.staleWriteBytes += chunk;
      }
    } else {
      host.content.read(f, foff, buf, done, chunk);
      if (stale) st.staleReadPages++;
    }
    done += chunk;
  }
  if (write) st.bytesWritten += n;
  else st.bytesRead += n;
  return n;
}

/** The container's ioctls, then the type1 driver's once VFIO_SET_IOMMU is done. */
// mirrors drivers/vfio/container.c:vfio_fops_unl_ioctl and vfio_iommu_type1.c:vfio_iommu_type1_ioctl
function ioctl(host: Host, c: Container, cmd: number, arg: unknown, current: Task): number | ErrnoName {
  switch (cmd) {
    case VFIO_GET_API_VERSION:
      return VFIO_API_VERSION;
    case VFIO_CHECK_EXTENSION: {
      const ext = cULong(arg);
      return ext === VFIO_TYPE1v2_IOMMU_BIG || ext === VFIO_UNMAP_ALL_BIG ? 1 : 0;
    }
    case VFIO_SET_IOMMU: {
      // vfio_ioctl_set_iommu: once only; the type must be one a driver offers.
      if (c.iommuSet) return 'EINVAL';
      if (cULong(arg) !== VFIO_TYPE1v2_IOMMU_BIG) return 'ENODEV';
      c.iommuSet = true;
      return 0;
    }
  }
  // Without an IOMMU driver the container answers nothing else.
  if (!c.iommuSet) return 'ENOTTY';
  switch (cmd) {
    case VFIO_IOMMU_MAP_DMA:
      return mapDma(host, c, current, arg);
    case VFIO_IOMMU_UNMAP_DMA:
      return unmapDma(host, c, arg);
    case VFIO_MODEL_DMA_WRITE:
      return deviceDma(host, c, arg, true);
    case VFIO_MODEL_DMA_READ:
      return deviceDma(host, c, arg, false);
  }
  return 'ENOTTY';
}

/** Register /dev/vfio/vfio: each open is a new container. */
export function register(devices: Map<string, DeviceOpen>, ctx: DriverContext): void {
  const fOp: FsFileOps = {
    unlockedIoctl: (file: OpenFile, cmd: number, arg: unknown, current: Task) => ioctl(ctx.host, file.privateData as Container, cmd, arg, current),
    // mirrors drivers/vfio/container.c:vfio_fops_release (-> vfio_iommu_type1_release)
    release: (file: OpenFile) => {
      const c = file.privateData as Container;
      for (const dma of c.dmas.splice(0)) unpinDma(ctx.host, c, dma);
    },
  };
  devices.set(VFIO_CONTAINER_PATH, (_current, flags) => {
    const c: Container = { iommuSet: false, dmas: [], dmaAvail: DMA_ENTRY_LIMIT };
    return anonInodeGetfile(ctx.vfs, VFIO_CONTAINER_PATH, fOp, flags, c);
  });
}
