/**
 * The multi-size THP files under /sys/kernel/mm/transparent_hugepage/
 * (mirrors mm/huge_memory.c's sysfs part and mm/shmem.c's per-size
 * shmem_enabled): hpage_pmd_size, and a directory hugepages-<size>kB/ for
 * every size from 8 KiB (order 1) to the PMD size. Each has stats/swpout,
 * swpout_fallback, split and split_failed; the anonymous sizes (16 KiB up)
 * add `enabled` (always / inherit / madvise / never) and the anonymous
 * counters; the page-cache sizes (8 KiB up) add `shmem_enabled` (always /
 * inherit / within_size / advise / never) and stats/shmem_alloc,
 * shmem_fallback, shmem_fallback_charge. The top-level enabled,
 * use_zero_page and shmem_enabled are served by Kernel.readSysfs.
 */
import type { Host } from '../mm/host.js';
import { THP_ORDERS_ALL_ANON, THP_ORDERS_ALL_FILE_DEFAULT, highestOrder } from '../mm/huge_memory.js';
import { HPAGE_PMD_ORDER, PAGE_SIZE } from '../mm/page.js';
import { MTHP_STAT_NAMES, MthpStat, mthpStat } from '../mm/vmstat.js';
import type { SysAttr, SysFile } from './sysfs.js';

export const THP_SYSFS_DIR = '/sys/kernel/mm/transparent_hugepage';

/** The per-size `enabled` values, in anon_enabled_show's order. */
const ANON_ENABLED_VALUES = ['always', 'inherit', 'madvise', 'never'] as const;
export type AnonEnabled = (typeof ANON_ENABLED_VALUES)[number];

/** The per-size `shmem_enabled` values, in thpsize_shmem_enabled_show's order. */
const SHMEM_SIZE_VALUES = ['always', 'inherit', 'within_size', 'advise', 'never'] as const;
export type ShmemSizeEnabled = (typeof SHMEM_SIZE_VALUES)[number];

/** Every size's stats/ files (any_stats_attrs, CONFIG_SHMEM). */
const ANY_SIZE_STATS: readonly MthpStat[] = [MthpStat.SWPOUT, MthpStat.SWPOUT_FALLBACK, MthpStat.SPLIT, MthpStat.SPLIT_FAILED];
/** An anonymous size's (anon_stats_attrs, CONFIG_SHMEM). */
const ANON_SIZE_STATS: readonly MthpStat[] = [
  MthpStat.ANON_FAULT_ALLOC,
  MthpStat.ANON_FAULT_FALLBACK,
  MthpStat.ANON_FAULT_FALLBACK_CHARGE,
  MthpStat.SPLIT_DEFERRED,
  MthpStat.NR_ANON,
  MthpStat.NR_ANON_PARTIALLY_MAPPED,
];
/** A page-cache size's (file_stats_attrs). */
const FILE_SIZE_STATS: readonly MthpStat[] = [MthpStat.SHMEM_ALLOC, MthpStat.SHMEM_FALLBACK, MthpStat.SHMEM_FALLBACK_CHARGE];

/** The directory name of an order's size: hugepages-64kB. */
export function thpSizeDir(order: number): string {
  return `${THP_SYSFS_DIR}/hugepages-${(PAGE_SIZE * 2 ** order) / 1024}kB`;
}

/** The per-size setting of order (which of the three masks holds it; none: never). */
// mirrors mm/huge_memory.c:anon_enabled_show (the value)
export function anonEnabledOf(host: Host, order: number): AnonEnabled {
  const o = host.cfg.thp.anonOrders;
  const bit = 1 << order;
  if (o.always & bit) return 'always';
  if (o.inherit & bit) return 'inherit';
  if (o.madvise & bit) return 'madvise';
  return 'never';
}

/** Set order's per-size setting: the order moves to one mask (or to none, for never). */
// mirrors mm/huge_memory.c:anon_enabled_store (after sysfs_streq; khugepaged needs no start or stop in the model)
export function setAnonEnabled(host: Host, order: number, mode: AnonEnabled): void {
  const o = host.cfg.thp.anonOrders;
  const bit = 1 << order;
  o.always &= ~bit;
  o.inherit &= ~bit;
  o.madvise &= ~bit;
  if (mode === 'always') o.always |= bit;
  else if (mode === 'inherit') o.inherit |= bit;
  else if (mode === 'madvise') o.madvise |= bit;
}

/** The per-size shmem setting of order (which of the four masks holds it; none: never). */
// mirrors mm/shmem.c:thpsize_shmem_enabled_show (the value)
export function shmemSizeEnabledOf(host: Host, order: number): ShmemSizeEnabled {
  const o = host.cfg.thp.shmemOrders;
  const bit = 1 << order;
  if (o.always & bit) return 'always';
  if (o.inherit & bit) return 'inherit';
  if (o.withinSize & bit) return 'within_size';
  if (o.madvise & bit) return 'advise';
  return 'never';
}

/**
 * Store order's per-size shmem setting: EINVAL for an unknown value, and for
 * "inherit" on a size other than the PMD size while shmem_enabled is force
 * (the top level may not push non-PMD sizes). Returns null when stored.
 */
// mirrors mm/shmem.c:thpsize_shmem_enabled_store
export function setShmemSizeEnabled(host: Host, order: number, text: string): 'EINVAL' | null {
  const mode = SHMEM_SIZE_VALUES.find((m) => sysfsStreq(text, m));
  if (mode === undefined) return 'EINVAL';
  if (mode === 'inherit' && host.cfg.thp.shmemEnabled === 'force' && order !== HPAGE_PMD_ORDER) return 'EINVAL';
  const o = host.cfg.thp.shmemOrders;
  const bit = 1 << order;
  o.always &= ~bit;
  o.inherit &= ~bit;
  o.withinSize &= ~bit;
  o.madvise &= ~bit;
  if (mode === 'always') o.always |= bit;
  else if (mode === 'inherit') o.inherit |= bit;
  else if (mode === 'within_size') o.withinSize |= bit;
  else if (mode === 'advise') o.madvise |= bit;
  return null;
}

/** sysfs_streq: equal, allowing one trailing newline on either side. */
// mirrors lib/string_helpers.c:sysfs_streq
function sysfsStreq(text: string, word: string): boolean {
  const t = text.endsWith('\n') ? text.slice(0, -1) : text;
  return t === word;
}

/** The files, by path. */
// mirrors mm/huge_memory.c:hugepage_init_sysfs (hpage_pmd_size, thpsize_create for the anonymous and page-cache orders)
export function thpSysFiles(host: Host): Map<string, SysFile> {
  const out = new Map<string, SysFile>();
  const sys = (path: string, attr: SysAttr) => out.set(path, { attr, sysctl: false });
  const stat = (dir: string, order: number, item: MthpStat) =>
    // mirrors mm/huge_memory.c:DEFINE_MTHP_STAT_ATTR (the _show of each counter)
    sys(`${dir}/stats/${MTHP_STAT_NAMES[item]!}`, { mode: 0o444, show: () => `${mthpStat(host.mthpStats, order, item)}\n` });
  sys(`${THP_SYSFS_DIR}/hpage_pmd_size`, { mode: 0o444, show: () => `${PAGE_SIZE * 2 ** HPAGE_PMD_ORDER}\n` });
  // Largest first, as hugepage_init_sysfs creates them.
  const all = THP_ORDERS_ALL_ANON | THP_ORDERS_ALL_FILE_DEFAULT;
  for (let orders = all, order = highestOrder(orders); orders !== 0; orders &= ~(1 << order), order = highestOrder(orders)) {
    const dir = thpSizeDir(order);
    const ord = order;
    for (const item of ANY_SIZE_STATS) stat(dir, ord, item);
    if (THP_ORDERS_ALL_ANON & (1 << ord)) {
      sys(`${dir}/enabled`, {
        mode: 0o644,
        // mirrors mm/huge_memory.c:anon_enabled_show
        show: () => `${ANON_ENABLED_VALUES.map((m) => (m === anonEnabledOf(host, ord) ? `[${m}]` : m)).join(' ')}\n`,
        store: (t) => {
          const mode = ANON_ENABLED_VALUES.find((m) => sysfsStreq(t, m));
          if (mode === undefined) return 'EINVAL';
          setAnonEnabled(host, ord, mode);
          return new TextEncoder().encode(t).length;
        },
      });
      for (const item of ANON_SIZE_STATS) stat(dir, ord, item);
    }
    if (THP_ORDERS_ALL_FILE_DEFAULT & (1 << ord)) {
      sys(`${dir}/shmem_enabled`, {
        mode: 0o644,
        // mirrors mm/shmem.c:thpsize_shmem_enabled_show
        show: () => `${SHMEM_SIZE_VALUES.map((m) => (m === shmemSizeEnabledOf(host, ord) ? `[${m}]` : m)).join(' ')}\n`,
        store: (t) => setShmemSizeEnabled(host, ord, t) ?? new TextEncoder().encode(t).length,
      });
      for (const item of FILE_SIZE_STATS) stat(dir, ord, item);
    }
  }
  return out;
}
