/**
 * The folio map: the 512 subpages of one 2 MiB range of a process, each in
 * one state, for the HTML report's strip (a PMD-sized THP, or 512 small folios
 * where THP is off). Captured right after a fork, it shows which pages fork
 * copied for the child, which it shared, and which are pinned.
 *
 * For a confidential VM (src/sim/cvm/vm.ts), the first huge page of its
 * guest memory (a 1 GiB folio has 262,144 subpages): which are private,
 * which shared, which shared and pinned by the VMM's I/O. The states come
 * from extents, not a walk per page.
 */
import type { FolioMap, PageState } from '../report/model.js';
import type { Process } from '../process.js';
import type { World } from './world.js';
import type { CocoVm } from './cvm/vm.js';

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

/** The subpages of the VM's first huge page (its guest_memfd folio, split or whole) by state: private, shared, pinned. */
export function captureGmemFolioMap(w: World, vm: CocoVm, caption: string): FolioMap {
  const nr = Math.max(1, vm.hpage / PAGE);
  const pinned = new Set<number>();
  for (const io of vm.inflight) pinned.add(io.pfn);
  for (const h of w.held) if (h.addr >= vm.view && h.addr < vm.view + vm.hpage) pinned.add(h.pfn);
  const pinnedPages: number[] = [];
  if (pinned.size > 0) {
    vm.shared.forEach((a, b) => {
      for (let i = a; i < b; i++) {
        const e = vm.proc.pagemap(vm.view + i * PAGE);
        if (e.present && pinned.has(e.pfn)) pinnedPages.push(i);
      }
    }, 0, nr);
  }
  const runs: { state: PageState; count: number }[] = [];
  const push = (state: PageState, count: number) => {
    if (count <= 0) return;
    const last = runs[runs.length - 1];
    if (last !== undefined && last.state === state) last.count += count;
    else runs.push({ state, count });
  };
  let at = 0;
  let pi = 0;
  vm.shared.forEach((a, b) => {
    push('private', a - at);
    for (let i = a; i < b; ) {
      const next = pi < pinnedPages.length ? Math.min(pinnedPages[pi]!, b) : b;
      push('shared', next - i);
      if (next < b) {
        push('pinned', 1);
        pi++;
        i = next + 1;
      } else i = b;
    }
    at = b;
  }, 0, nr);
  push('private', nr - at);
  return { design: w.design, pfn: vm.firstPfn(), order: Math.round(Math.log2(nr)), caption, runs };
}
