/**
 * VFIO's container uAPI (include/uapi/linux/vfio.h), the type1 IOMMU parts,
 * plus the model-only ioctls through which a test plays the device.
 * Argument objects carry the struct field names:
 *
 *   struct vfio_iommu_type1_dma_map   { argsz, flags, vaddr, iova, size }
 *   struct vfio_iommu_type1_dma_unmap { argsz, flags, iova, size }   (size: out, bytes unmapped)
 *   struct vfio_model_dma             { iova, len, buf }   (model only; buf a Uint8Array)
 */
import { _IO, _IOWR } from './ioctl.js';

export const VFIO_API_VERSION = 0;
/** VFIO_TYPE (';') and VFIO_BASE. */
export const VFIO_TYPE = 0x3b;
export const VFIO_BASE = 100;

/** IOMMU types for VFIO_CHECK_EXTENSION / VFIO_SET_IOMMU. */
export const VFIO_TYPE1_IOMMU = 1;
export const VFIO_SPAPR_TCE_IOMMU = 2;
export const VFIO_TYPE1v2_IOMMU = 3;
export const VFIO_DMA_CC_IOMMU = 4;
export const VFIO_EEH = 5;
export const VFIO_TYPE1_NESTING_IOMMU = 6;
export const VFIO_SPAPR_TCE_v2_IOMMU = 7;
export const VFIO_NOIOMMU_IOMMU = 8;
export const VFIO_UNMAP_ALL = 9;
export const VFIO_UPDATE_VADDR = 10;

export const VFIO_GET_API_VERSION = _IO(VFIO_TYPE, VFIO_BASE + 0);
export const VFIO_CHECK_EXTENSION = _IO(VFIO_TYPE, VFIO_BASE + 1);
export const VFIO_SET_IOMMU = _IO(VFIO_TYPE, VFIO_BASE + 2);
export const VFIO_IOMMU_GET_INFO = _IO(VFIO_TYPE, VFIO_BASE + 12);
export const VFIO_IOMMU_MAP_DMA = _IO(VFIO_TYPE, VFIO_BASE + 13);
export const VFIO_IOMMU_UNMAP_DMA = _IO(VFIO_TYPE, VFIO_BASE + 14);

/** vfio_iommu_type1_dma_map.flags: readable / writable from the device. */
export const VFIO_DMA_MAP_FLAG_READ = 1 << 0;
export const VFIO_DMA_MAP_FLAG_WRITE = 1 << 1;
export const VFIO_DMA_MAP_FLAG_VADDR = 1 << 2;
/** vfio_iommu_type1_dma_unmap.flags. */
export const VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP = 1 << 0;
export const VFIO_DMA_UNMAP_FLAG_ALL = 1 << 1;
export const VFIO_DMA_UNMAP_FLAG_VADDR = 1 << 2;

/** offsetofend(struct vfio_iommu_type1_dma_map, size): the smallest argsz MAP_DMA takes. */
export const VFIO_DMA_MAP_MINSZ = 32;
/** offsetofend(struct vfio_iommu_type1_dma_unmap, size). */
export const VFIO_DMA_UNMAP_MINSZ = 24;

/** The container's device path. */
export const VFIO_CONTAINER_PATH = '/dev/vfio/vfio';

/**
 * Model-only: the device behind the container does DMA. DMA_WRITE moves
 * buf[0, len) into memory at [iova, iova + len); DMA_READ moves memory into
 * buf. Returns the bytes moved. Not a Linux ioctl (type 'v', numbers 0xf0-).
 */
export const VFIO_MODEL_DMA_WRITE = _IOWR('v', 0xf0, 24);
export const VFIO_MODEL_DMA_READ = _IOWR('v', 0xf1, 24);

export interface VfioIommuType1DmaMap {
  argsz: number;
  flags: number;
  vaddr: number | bigint;
  iova: number | bigint;
  size: number | bigint;
}

export interface VfioIommuType1DmaUnmap {
  argsz: number;
  flags: number;
  iova: number | bigint;
  size: number | bigint;
}

export interface VfioModelDma {
  iova: number | bigint;
  len: number | bigint;
  buf: Uint8Array;
}
