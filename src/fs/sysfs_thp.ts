/**
 * The multi-size THP files under /sys/kernel/mm/transparent_hugepage/
 * (mirrors mm/huge_memory.c's sysfs part): hpage_pmd_size, and for every
 * anonymous THP size, 16 KiB (order 2) to the PMD size, a directory
 * hugepages-<size>kB/ with `enabled` (always / inherit / madvise / never)
 * and its stats/ counters.
 *
 * Simplified: 6.12 also gives each size (and 8 KiB, order 1) a per-size
 * shmem_enabled and the shmem_alloc / shmem_fallback / shmem_fallback_charge
 * counters; the model's shmem has only the PMD size, governed by the
 * top-level shmem_enabled, so those files are not offered. The top-level
 * enabled, use_zero_page and shmem_enabled are served by Kernel.readSysfs.
 */
import type { Host } from '../mm/host.js';
import { THP_ORDERS_ALL_ANON, highestOrder } from '../mm/huge_memory.js';
import { HPAGE_PMD_ORDER, PAGE_SIZE } from '../mm/page.js';
import { MTHP_STAT_NAMES, MthpStat, mthpStat } from '../mm/vmstat.js';
import type { SysAttr, SysFile } from './sysfs.js';

export const THP_SYSFS_DIR = '/sys/kernel/mm/transparent_hugepage';

/** The per-size `enabled` values, in anon_enabled_show's order. */
const ANON_ENABLED_VALUES = ['always', 'inherit', 'madvise', 'never'] as const;
export type AnonEnabled = (typeof ANON_ENABLED_VALUES)[number];

/** The stats/ files of an anonymous size's directory (any_stats_attrs and anon_stats_attrs, CONFIG_SHMEM). */
const ANON_SIZE_STATS: readonly MthpStat[] = [
  MthpStat.ANON_FAULT_ALLOC,
  MthpStat.ANON_FAULT_FALLBACK,
  MthpStat.ANON_FAULT_FALLBACK_CHARGE,
  MthpStat.SWPOUT,
  MthpStat.SWPOUT_FALLBACK,
  MthpStat.SPLIT,
  MthpStat.SPLIT_FAILED,
  MthpStat.SPLIT_DEFERRED,
  MthpStat.NR_ANON,
  MthpStat.NR_ANON_PARTIALLY_MAPPED,
];

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

/** sysfs_streq: equal, allowing one trailing newline on either side. */
// mirrors lib/string_helpers.c:sysfs_streq
function sysfsStreq(text: string, word: string): boolean {
  const t = text.endsWith('\n') ? text.slice(0, -1) : text;
  return t === word;
}

/** The files, by path. */
// mirrors mm/huge_memory.c:hugepage_init_sysfs (hpage_pmd_size, thpsize_create for the anonymous orders)
export function thpSysFiles(host: Host): Map<string, SysFile> {
  const out = new Map<string, SysFile>();
  const sys = (path: string, attr: SysAttr) => out.set(path, { attr, sysctl: false });
  sys(`${THP_SYSFS_DIR}/hpage_pmd_size`, { mode: 0o444, show: () => `${PAGE_SIZE * 2 ** HPAGE_PMD_ORDER}\n` });
  // Largest first, as hugepage_init_sysfs creates them.
  for (let orders = THP_ORDERS_ALL_ANON, order = highestOrder(orders); orders !== 0; orders &= ~(1 << order), order = highestOrder(orders)) {
    const dir = thpSizeDir(order);
    const ord = order;
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
    for (const item of ANON_SIZE_STATS) {
      // mirrors mm/huge_memory.c:DEFINE_MTHP_STAT_ATTR (the _show of each counter)
      sys(`${dir}/stats/${MTHP_STAT_NAMES[item]!}`, { mode: 0o444, show: () => `${mthpStat(host.mthpStats, ord, item)}\n` });
    }
  }
  return out;
}
