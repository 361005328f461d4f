/**
 * /proc/meminfo (mirrors fs/proc/meminfo.c), in kB as the file prints it,
 * in 6.12's order (checked against Debian's 6.12.118 under
 * ../shared/realkernel). The model prints only the lines it keeps a counter
 * for. It leaves out the LRU lists, Mlocked, slab, kernel stacks, commit
 * and vmalloc accounting, and DirectMap. It does not print 0 for them,
 * since a 0 there would be a claim about memory that the model does not
 * track.
 */
import { PG, folioNrPages } from '../../mm/folio.js';
import type { AddressSpace } from '../../mm/fs_types.js';
import type { Host } from '../../mm/host.js';
import { PAGE_SIZE } from '../../mm/page.js';
import { NodeStat } from '../../mm/vmstat.js';
import { hugetlbReportMeminfo } from '../../mm/hugetlb.js';

export interface Meminfo {
  MemTotal: number;
  MemFree: number;
  MemAvailable: number;
  Buffers: number;
  Cached: number;
  SwapCached: number;
  SwapTotal: number;
  SwapFree: number;
  /** Page-cache pages waiting to be written back (NR_FILE_DIRTY): only mappings that can write back (disk file systems). */
  Dirty: number;
  /** Pages under writeback: always 0 (writeback completes at once). */
  Writeback: number;
  AnonPages: number;
  Mapped: number;
  Shmem: number;
  PageTables: number;
  /** Secondary MMU page tables (NR_SECONDARY_PAGETABLE): KVM's stage-2 tables. */
  SecPageTables: number;
  AnonHugePages: number;
  ShmemHugePages: number;
  ShmemPmdMapped: number;
  FileHugePages: number;
  FilePmdMapped: number;
  CmaTotal: number;
  CmaFree: number;
  HugePages_Total: number;
  HugePages_Free: number;
  HugePages_Rsvd: number;
  HugePages_Surp: number;
  Hugepagesize: number;
  Hugetlb: number;
}

/**
 * NR_FILE_DIRTY, recounted: dirty page-cache folios of mappings that can
 * write back (folio_account_dirtied skips tmpfs, whose folios are always dirty).
 */
function fileDirtyPages(host: Host): number {
  const ft = host.ft;
  let n = 0;
  for (let f = 1; f < ft.highWater; f++) {
    if (!(ft.flags[f]! & PG.DIRTY) || ft.flags[f]! & (PG.ANON | PG.SWAPBACKED) || !ft.isLive(f)) continue;
    const o = ft.owner[f];
    if (o !== null && o !== undefined && o.kind === 'file' && (o as AddressSpace).aops.writeback) n += folioNrPages(ft, f);
  }
  return n;
}

// mirrors fs/proc/meminfo.c:meminfo_proc_show
export function meminfoRead(host: Host): Meminfo {
  const kb = (pages: number) => (pages * PAGE_SIZE) / 1024;
  const s = host.stat;
  const free = host.pa.freePages();
  const filePages = s[NodeStat.NR_FILE_PAGES]!;
  const h = hugetlbReportMeminfo(host);
  return {
    MemTotal: kb(host.pa.managedPages()),
    MemFree: kb(free),
    // si_mem_available, without watermarks or reclaimable slab: free plus reclaimable page cache.
    MemAvailable: kb(free + (filePages - s[NodeStat.NR_SHMEM]!)),
    Buffers: 0,
    Cached: kb(filePages),
    SwapCached: kb(host.swap.cachedPages),
    SwapTotal: kb(host.swap.totalPages()),
    SwapFree: kb(host.swap.freePages()),
    Dirty: kb(fileDirtyPages(host)),
    Writeback: 0,
    AnonPages: kb(s[NodeStat.NR_ANON_MAPPED]!),
    Mapped: kb(s[NodeStat.NR_FILE_MAPPED]!),
    Shmem: kb(s[NodeStat.NR_SHMEM]!),
    PageTables: kb(s[NodeStat.NR_PAGETABLE]!),
    SecPageTables: kb(s[NodeStat.NR_SECONDARY_PAGETABLE]!),
    AnonHugePages: kb(s[NodeStat.NR_ANON_THPS]!),
    ShmemHugePages: kb(s[NodeStat.NR_SHMEM_THPS]!),
    ShmemPmdMapped: kb(s[NodeStat.NR_SHMEM_PMDMAPPED]!),
    FileHugePages: 0,
    FilePmdMapped: kb(s[NodeStat.NR_FILE_PMDMAPPED]!),
    CmaTotal: kb(host.pa.cmaPages().total),
    CmaFree: kb(host.pa.cmaPages().free),
    HugePages_Total: h.total,
    HugePages_Free: h.free,
    HugePages_Rsvd: h.rsvd,
    HugePages_Surp: h.surp,
    Hugepagesize: h.size,
    Hugetlb: h.hugetlbKb,
  };
}

/**
 * The /proc/meminfo text, line for line as 6.12 prints it. A kB line is its
 * label in 16 columns and the value in 8 (show_val_kb). A HugePages_ count
 * is its label in 19 columns and the value in 5 (hugetlb_report_meminfo's
 * "%5lu"), so a value too wide for its field keeps the label's spaces.
 */
// mirrors fs/proc/meminfo.c:meminfo_proc_show (the formatting) and mm/hugetlb.c:hugetlb_report_meminfo
export function formatMeminfo(m: Meminfo): string {
  return Object.entries(m)
    .map(([k, v]) => {
      // The counters are unsigned long: a transient -1 (resv_huge_pages, see hugetlb-resv-underflow) prints as 2^64 - 1, as Linux prints it.
      const text = typeof v === 'number' && v < 0 ? (2n ** 64n + BigInt(v)).toString() : String(v);
      if (k.startsWith('HugePages_')) return `${`${k}:`.padEnd(19)}${text.padStart(5)}`;
      return `${`${k}:`.padEnd(16)}${text.padStart(8)} kB`;
    })
    .join('\n');
}
