/** /proc/kpageflags bits (include/uapi/linux/kernel-page-flags.h). */

export const KPF_LOCKED = 0;
export const KPF_ERROR = 1;
export const KPF_REFERENCED = 2;
export const KPF_UPTODATE = 3;
export const KPF_DIRTY = 4;
export const KPF_LRU = 5;
export const KPF_ACTIVE = 6;
export const KPF_SLAB = 7;
export const KPF_WRITEBACK = 8;
export const KPF_RECLAIM = 9;
export const KPF_BUDDY = 10;
export const KPF_MMAP = 11;
export const KPF_ANON = 12;
export const KPF_SWAPCACHE = 13;
export const KPF_SWAPBACKED = 14;
export const KPF_COMPOUND_HEAD = 15;
export const KPF_COMPOUND_TAIL = 16;
export const KPF_HUGE = 17;
export const KPF_UNEVICTABLE = 18;
export const KPF_HWPOISON = 19;
export const KPF_NOPAGE = 20;
export const KPF_KSM = 21;
export const KPF_THP = 22;
export const KPF_OFFLINE = 23;
export const KPF_ZERO_PAGE = 24;
export const KPF_IDLE = 25;
export const KPF_PGTABLE = 26;

/*
 * The kernel-internal bits /proc/kpageflags also exports (include/linux/kernel-page-flags.h,
 * "kernel hacking assistances": subject to change, but tools/mm/page-types reads them).
 */
export const KPF_RESERVED = 32;
export const KPF_MLOCKED = 33;
/** PG_owner_2: PG_anon_exclusive on an anonymous folio, PG_mappedtodisk on a file one. */
export const KPF_OWNER_2 = 34;
export const KPF_PRIVATE = 35;
