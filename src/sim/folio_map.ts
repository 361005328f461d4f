/**
 * The folio map: the 512 subpages of one 2 MiB range of a process, each in
 * one state, for the HTML report's strip (a PMD-sized THP, or 512 small folios
 * where THP is off). Captured right after a fork, it shows which pages fork
 * copied for the child, which it shared, and which are pinned.
 */
import type { FolioMap, PageState } from '../report/model.js';
import type { Process } from '../process.js';
import type { World } from './world.js';

const PAGE = 4096;
const PMD_PAGES = 512;

/** The states of the 512 pages at addr (2 MiB aligned) in parent, compared with child where given. */
export function captureFolioMap(w: World, design: string, parent: Process, child: Process | null, addr: number, caption: string): FolioMap {
  const host = w.k.host;
  const states: PageState[] = [];
  let head = -1;
  let order = 0;
  for (let i = 0; i < PMD_PAGES; i++) {
    const a = addr + i * PAGE;
    const e = parent.pagemap(a);
    if (!e.present) {
      states.push('unmapped');
      continue;
    }
    const f = host.pfnFolio(e.pfn);
    if (head < 0 && f !== 0) {
      head = host.ft.pfn[f]!;
      order = host.ft.order[f]!;
    }
    if (f !== 0 && host.pinnedPages(f, e.pfn - host.ft.pfn[f]!) > 0) {
      states.push('pinned');
      continue;
    }
    if (child === null || child.mm === null) {
      states.push('mapped');
      continue;
    }
    const c = child.pagemap(a);
    states.push(!c.present ? 'mapped' : c.pfn === e.pfn ? 'shared' : 'copied');
  }
  const runs: { state: PageState; count: number }[] = [];
  for (const s of states) {
    const last = runs[runs.length - 1];
    if (last !== undefined && last.state === s) last.count++;
    else runs.push({ state: s, count: 1 });
  }
  return { design, pfn: Math.max(head, 0), order, caption, runs };
}
