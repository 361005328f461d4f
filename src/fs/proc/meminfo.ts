/**
 * /proc/meminfo (mirrors fs/proc/meminfo.c), in kB as the file prints it.
 * Lines for features the model does not have (swap, slab, vmalloc ...) are
 * reported as 0 so that tools reading the file find every field.
 */
import type { Host } from '../../mm/host.js';
import { PAGE_SIZE } from '../../mm/page.js';
import { NodeStat } from '../../mm/vmstat.js';

export interface Meminfo {
  MemTotal: number;
  MemFree: number;
  MemAvailable: number;
  Buffers: number;
  Cached: number;
  SwapCached: number;
  AnonPages: number;
  Mapped: number;
  Shmem: number;
  PageTables: number;
  SwapTotal: number;
  SwapFree: number;
  AnonHugePages: number;
  ShmemHugePages: number;
  ShmemPmdMapped: number;
  FileHugePages: number;
  FilePmdMapped: number;
  HugePages_Total: number;
  HugePages_Free: number;
  HugePages_Rsvd: number;
  HugePages_Surp: number;
  Hugepagesize: number;
  Hugetlb: number;
  CmaTotal: number;
  CmaFree: number;
}

// mirrors fs/proc/meminfo.c:meminfo_proc_show
export function meminfoRead(host: Host): Meminfo {
  const kb = (pages: number) => (pages * PAGE_SIZE) / 1024;
  const s = host.stat;
  const free = host.pa.freePages();
  const filePages = s[NodeStat.NR_FILE_PAGES]!;
  return {
    MemTotal: kb(host.pa.managedPages()),
    MemFree: kb(free),
    // si_mem_available, without watermarks or reclaimable slab: free plus reclaimable page cache.
    MemAvailable: kb(free + (filePages - s[NodeStat.NR_SHMEM]!)),
    Buffers: 0,
    Cached: kb(filePages),
    SwapCached: 0,
    AnonPages: kb(s[NodeStat.NR_ANON_MAPPED]!),
    Mapped: kb(s[NodeStat.NR_FILE_MAPPED]!),
    Shmem: kb(s[NodeStat.NR_SHMEM]!),
    PageTables: kb(s[NodeStat.NR_PAGETABLE]!),
    SwapTotal: 0,
    SwapFree: 0,
    AnonHugePages: kb(s[NodeStat.NR_ANON_THPS]!),
    ShmemHugePages: kb(s[NodeStat.NR_SHMEM_THPS]!),
    ShmemPmdMapped: kb(s[NodeStat.NR_SHMEM_PMDMAPPED]!),
    FileHugePages: 0,
    FilePmdMapped: kb(s[NodeStat.NR_FILE_PMDMAPPED]!),
    HugePages_Total: 0,
    HugePages_Free: 0,
    HugePages_Rsvd: 0,
    HugePages_Surp: 0,
    Hugepagesize: 2048,
    Hugetlb: 0,
    CmaTotal: kb(host.pa.cmaPages().total),
    CmaFree: kb(host.pa.cmaPages().free),
  };
}

/** The /proc/meminfo text. */
export function formatMeminfo(m: Meminfo): string {
  return Object.entries(m)
    .map(([k, v]) => {
      const unit = k.startsWith('HugePages_') ? '' : ' kB';
      return `${`${k}:`.padEnd(16)}${String(v).padStart(8)}${unit}`;
    })
    .join('\n');
}
