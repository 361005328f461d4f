/** memfd_create(2) flags (include/uapi/linux/memfd.h, asm-generic/hugetlb_encode.h). */

export const MFD_CLOEXEC = 0x0001;
export const MFD_ALLOW_SEALING = 0x0002;
export const MFD_HUGETLB = 0x0004;
export const MFD_NOEXEC_SEAL = 0x0008;
export const MFD_EXEC = 0x0010;

/** Huge page size encoding: log2(size) << MFD_HUGE_SHIFT, as for MAP_HUGE_*. */
export const MFD_HUGE_SHIFT = 26;
export const MFD_HUGE_MASK = 0x3f;
export const MFD_HUGE_2MB = 21 << MFD_HUGE_SHIFT;
export const MFD_HUGE_1GB = 30 << MFD_HUGE_SHIFT;
