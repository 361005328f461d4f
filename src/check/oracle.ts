/**
 * The oracle: recompute every counter the model keeps incrementally, from the
 * structures alone, and name each disagreement.
 *
 * It walks every page table of every process, every page cache, the folio
 * table and the free lists. Each rule is listed with the Linux rule it mirrors
 * in docs/INVARIANTS.md. Violation names are stable identifiers for tests.
 */
import type { FolioTable} from '../mm/folio.js';
import { ENTIRELY_MAPPED, MM_ID_DUMMY, PG, folioNrPages, pageAnonExclusive, pageMapcountRaw } from '../mm/folio.js';
import type { AddressSpace } from '../mm/fs_types.js';
import type { Host } from '../mm/host.js';
import { AnonVma, MMF, MmCounter, type MmStruct, VM, type Vma, linearPageIndex, vmaIsAnonymous } from '../mm/mm_types.js';
import { HPAGE_PMD_ORDER, LEVEL_SHIFT, Level, PAGE_SIZE, PTRS_PER_TABLE, TASK_SIZE } from '../mm/page.js';
import { type PageTable, Pte, emptyPteTablesIntact, isPteMarker, isSwapEntry, staleChild } from '../mm/pgtable.js';
import { VM_UFFD_FLAGS, vmaCanUserfault } from '../mm/userfaultfd_k.js';
import { MTHP_STAT_NAMES, MthpStat, NODE_STAT_NAMES, NodeStat, mthpStat } from '../mm/vmstat.js';
import { peekMaybePinned } from '../mm/pin_policy.js';
import { hstateVma, hugetlbVmaUnusedReserves } from '../mm/hugetlb.js';
import { hugetlbMaterializeAll } from '../mm/hugetlb_split.js';
import { THP_ORDERS_ALL_FILE_DEFAULT } from '../mm/huge_memory.js';
import type { PfnCounts } from '../lib/pfn_counts.js';
import type { Vfs } from '../fs/inode.js';
import { checkKvm } from './kvm.js';
import { SwapTally, checkSwapAreas } from './swap.js';

export interface Violation {
  /** A stable identifier, e.g. 'mapcount-mismatch'. */
  name: string;
  message: string;
  /** Head pfn of the folio involved. */
  pfn?: number;
  /** User address involved. */
  addr?: number;
  /** Process involved. */
  pid?: number;
  expected?: number;
  actual?: number;
}

/** What the oracle needs to know about a process. */
export interface CheckedProcess {
  readonly pid: number;
  readonly mm: MmStruct | null;
}

interface Acc {
  ft: FolioTable;
  /** Recomputed folio_mapcount (PTE and PMD/PUD entries). */
  map: Int32Array;
  /** Recomputed entire (PMD/PUD) mappings. */
  entire: Int32Array;
  /** Recomputed references from mappings, page caches, page tables. */
  refs: Int32Array;
  /** Per-page PTE mapcounts of large folios. */
  pages: Map<number, Int32Array>;
  /** Per-folio, per-mm mapping counts (large folios, for MM_ID). */
  /** Large folio -> mm id -> entries mapping it (the MM-ID check). */
  perMm: Map<number, Map<number, { n: number }>>;
  /** Page-table pages seen. */
  tables: number;
  /** HugeTLB HGM, thp-like: per-page counts of the pieces found (folio -> pieces covering each page). */
  hgmPages: Map<number, Int32Array>;
  /** Swap PTEs per slot. */
  swap: SwapTally;
  out: Violation[];
}

const LIMIT = 200;

function push(acc: Acc, v: Violation): void {
  if (acc.out.length < LIMIT) acc.out.push(v);
}

export function checkKernel(host: Host, vfs: Vfs, procs: readonly CheckedProcess[]): Violation[] {
  // Every struct page is checked: the pieces of lazily split HugeTLB pages are made first (hugetlb_split.ts).
  hugetlbMaterializeAll(host);
  const ft = host.ft;
  const n = ft.highWater;
  const acc: Acc = {
    ft,
    map: new Int32Array(n),
    entire: new Int32Array(n),
    refs: new Int32Array(n),
    pages: new Map(),
    perMm: new Map(),
    tables: 0,
    hgmPages: new Map(),
    swap: new SwapTally(host),
    out: [],
  };
  const liveMms = new Set<MmStruct>();
  for (const p of procs) if (p.mm !== null) liveMms.add(p.mm);

  // Kernel-held folios: the zero pages.
  acc.refs[host.zeroPage]! += 1;
  if (host.hugeZeroFolio !== 0) acc.refs[host.hugeZeroFolio]! += 1;
  // A split HugeTLB page holds one reference on each of its pieces.
  for (const [pfn, sp] of host.hugetlb.split) {
    const per = 2 ** sp.pieceOrder;
    for (let k = 0; k < sp.hstate.nrPages / per; k++) {
      const f = host.pfnFolio(pfn + k * per);
      if (f !== 0) acc.refs[f]! += 1;
    }
  }

  // The swap cache holds a reference per page.
  acc.swap.cacheRefs((f, n) => (acc.refs[f]! += n));

  // Empty PTE tables share one pair of zero arrays (pgtable.ts); a write into them would be every empty table's entry.
  if (!emptyPteTablesIntact()) push(acc, { name: 'empty-pte-table-written', message: 'a non-zero entry was written into the arrays every empty PTE table shares' });
  for (const p of procs) if (p.mm !== null) checkMm(host, acc, p.pid, p.mm);
  checkAnonVmaCounts(acc, procs);
  acc.swap.check((v) => push(acc, v));
  checkSwapAreas(host, vfs, (v) => push(acc, v));
  const cacheStats = checkPageCaches(host, acc, vfs, liveMms);
  const pins = checkGupLedger(host, acc);
  // KVM's stage-2 tables hold their pages; the rules live in check/kvm.ts.
  const secTables = checkKvm(host, { ref: (f) => (acc.refs[f]! += 1), push: (v) => push(acc, v) });
  checkFolios(host, acc);
  checkHgmFolios(host, acc);
  checkPins(host, acc, pins);
  checkPhysmem(host, acc);
  checkVmstat(host, acc, cacheStats, secTables);
  checkMthpStats(host, acc);
  checkContent(host, acc);
  checkHugetlb(host, acc, vfs, procs);
  return acc.out;
}

// ---------------------------------------------------------------------------
// Address spaces.

function checkMm(host: Host, acc: Acc, pid: number, mm: MmStruct): void {
  const ft = host.ft;
  // I10: MMF_HAS_PINNED is sticky: set by the first FOLL_PIN request, never cleared.
  if (mm.pinRequests > 0 && !(mm.flags & MMF.HAS_PINNED)) push(acc, { name: 'has-pinned-cleared', message: `mm made ${mm.pinRequests} FOLL_PIN requests but MMF_HAS_PINNED is clear`, pid });
  // VMA tree shape.
  let prevEnd = 0;
  let totalVm = 0;
  for (const v of mm.vmas) {
    if (v.start % PAGE_SIZE !== 0 || v.end % PAGE_SIZE !== 0 || v.end <= v.start || v.end > TASK_SIZE) {
      push(acc, { name: 'vma-malformed', message: `VMA [0x${v.start.toString(16)}, 0x${v.end.toString(16)}) is empty, unaligned or beyond TASK_SIZE`, pid, addr: v.start });
    }
    if (v.start < prevEnd) push(acc, { name: 'vma-overlap', message: `VMA at 0x${v.start.toString(16)} overlaps or is out of order`, pid, addr: v.start });
    prevEnd = v.end;
    totalVm += (v.end - v.start) / PAGE_SIZE;
    if (v.mm !== mm) push(acc, { name: 'vma-wrong-mm', message: 'VMA points to another mm', pid, addr: v.start });
    if (v.file !== null && !v.file.inode.mapping.iMmap.has(v)) push(acc, { name: 'i-mmap-missing', message: 'file VMA not in its mapping i_mmap', pid, addr: v.start });
    if (v.anonVma !== null && (!v.anonVma.vmas.has(v) || !v.avc.includes(v.anonVma))) {
      push(acc, { name: 'anon-vma-unlinked', message: 'VMA not linked into its anon_vma', pid, addr: v.start });
    }
    for (const av of v.avc) if (!av.vmas.has(v)) push(acc, { name: 'anon-vma-unlinked', message: 'anon_vma_chain entry missing from the anon_vma', pid, addr: v.start });
    checkUffdVma(acc, pid, mm, v);
  }
  if (totalVm !== mm.totalVm) push(acc, { name: 'total-vm-mismatch', message: 'total_vm differs from the sum of VMA sizes', pid, expected: totalVm, actual: mm.totalVm });

  const rss = new Float64Array(4);
  let tableBytes = 0;
  const cache: LeafCache = { vma: null, f: 0, pm: null, mmCount: null, av: null, avVma: null, avOk: false, hugetlb: 0 };
  const visit = (t: PageTable, base: number): void => {
    tableBytes += PAGE_SIZE;
    acc.tables++;
    reachTable(acc, t.folio, pid);
    let used = 0;
    const span = 2 ** LEVEL_SHIFT[t.level]!;
    for (let i = 0; i < PTRS_PER_TABLE; i++) {
      const fl = t.fl[i]!;
      if (staleChild(t, i)) push(acc, { name: 'pgtable-broken', message: 'a none or leaf entry still has a child table', pid, addr: base + i * span });
      if (fl === 0) continue;
      used++;
      const addr = base + i * span;
      if (t.level > Level.PTE && !(fl & Pte.PSE)) {
        const kid = t.kids![i];
        if (kid === undefined || kid.level !== t.level - 1) {
          push(acc, { name: 'pgtable-broken', message: 'non-leaf entry without a child table', pid, addr });
          continue;
        }
        if (t.pfn[i] !== ft.pfn[kid.folio]) push(acc, { name: 'pgtable-broken', message: 'non-leaf entry pfn differs from its table', pid, addr });
        if (t.level <= Level.PUD && host.hgm.enabled) checkHgmTable(host, acc, pid, mm, t, i, addr);
        visit(kid, addr);
        continue;
      }
      checkLeaf(host, acc, pid, mm, t, i, addr, rss, cache);
      if (t.level === Level.PMD && t.deposit !== null && t.deposit[i] !== 0) {
        tableBytes += PAGE_SIZE;
        acc.tables++;
        reachTable(acc, t.deposit[i]!, pid);
      }
    }
    if (used !== t.used) push(acc, { name: 'pgtable-used-mismatch', message: `table used count ${t.used}, entries ${used}`, pid, addr: base, expected: used, actual: t.used });
  };
  visit(mm.pgd, 0);
  if (tableBytes !== mm.pgtablesBytes) push(acc, { name: 'pgtables-bytes-mismatch', message: 'mm pgtables_bytes differs from the tables found', pid, expected: tableBytes, actual: mm.pgtablesBytes });
  if (cache.hugetlb !== mm.hugetlbUsage) push(acc, { name: 'hugetlb-usage-mismatch', message: `hugetlb_usage is ${mm.hugetlbUsage} pages, HugeTLB leaves map ${cache.hugetlb}`, pid, expected: cache.hugetlb, actual: mm.hugetlbUsage });
  const names = ['MM_FILEPAGES', 'MM_ANONPAGES', 'MM_SWAPENTS', 'MM_SHMEMPAGES'];
  for (let c = 0; c < 4; c++) {
    if (rss[c] !== mm.rss[c]) push(acc, { name: 'rss-mismatch', message: `${names[c]} is ${mm.rss[c]}, page tables say ${rss[c]}`, pid, expected: rss[c], actual: mm.rss[c] });
  }
}

/** The bits a PTE marker may have: MARKER and its kinds. */
const MARKER_BITS = Pte.MARKER | Pte.UFFD_WP | Pte.MARKER_POISONED;

/**
 * userfaultfd registrations: a context exactly when a VM_UFFD_* mode is set,
 * the context of this mm, only on VMAs that may register those modes, and no
 * mmap_changing without an unread event (between syscalls, every event
 * posted is queued until it is read).
 */
function checkUffdVma(acc: Acc, pid: number, mm: MmStruct, v: Vma): void {
  const ctx = v.uffdCtx;
  const modes = v.flags & VM_UFFD_FLAGS;
  if ((ctx === null) !== (modes === 0)) {
    push(acc, { name: 'uffd-ctx-flags-mismatch', message: `VMA has ${ctx === null ? 'no userfaultfd but' : 'a userfaultfd but no'} VM_UFFD_* modes (0x${modes.toString(16)})`, pid, addr: v.start });
    return;
  }
  if (ctx === null) return;
  if (ctx.mm !== mm) push(acc, { name: 'uffd-ctx-wrong-mm', message: "VMA is registered with another mm's userfaultfd", pid, addr: v.start });
  if (!vmaCanUserfault(v, v.flags) || !(v.flags & VM.MAYWRITE)) push(acc, { name: 'uffd-vma-cannot-register', message: `VMA (flags 0x${v.flags.toString(16)}) could not have registered these modes`, pid, addr: v.start });
  if (ctx.released) push(acc, { name: 'uffd-ctx-released', message: 'VMA is registered with a userfaultfd that was released', pid, addr: v.start });
  if (ctx.mmapChanging !== ctx.events.length) {
    push(acc, { name: 'uffd-mmap-changing-mismatch', message: `mmap_changing is ${ctx.mmapChanging} with ${ctx.events.length} events unread`, pid, addr: v.start, expected: ctx.events.length, actual: ctx.mmapChanging });
  }
}

function reachTable(acc: Acc, f: number, pid: number): void {
  if (!acc.ft.isLive(f) || !(acc.ft.flags[f]! & PG.PGTABLE)) {
    push(acc, { name: 'pgtable-not-pgtable-page', message: 'a page table sits on a page not marked as a page table', pid, pfn: acc.ft.pfn[f] });
    return;
  }
  acc.refs[f]! += 1;
}

function findVma(mm: MmStruct, addr: number): Vma | null {
  for (const v of mm.vmas) if (v.start <= addr && addr < v.end) return v;
  return null;
}

/**
 * What consecutive leaves of one walk share: the walk goes up the address
 * space, so the VMA, the folio's per-page and per-mm tallies and the anon_vma
 * answer found for one entry usually serve the next (a PTE-mapped THP is 512
 * entries in a row). Only lookups are cached; every entry is still checked.
 */
interface LeafCache {
  vma: Vma | null;
  /** The large folio whose tallies pm and mmCount are. */
  f: number;
  pm: Int32Array | null;
  mmCount: { n: number } | null;
  av: unknown;
  avVma: Vma | null;
  avOk: boolean;
  /** HugeTLB base pages mapped (the mm's hugetlb_usage, recounted). */
  hugetlb: number;
}

/** One present (or otherwise non-none) leaf entry. */
function checkLeaf(host: Host, acc: Acc, pid: number, mm: MmStruct, t: PageTable, i: number, addr: number, rss: Float64Array, c: LeafCache): void {
  const ft = host.ft;
  const fl = t.fl[i]!;
  const pfn = t.pfn[i]!;
  const level = t.level;
  const nr = 2 ** (LEVEL_SHIFT[level]! - 12);
  const vma = c.vma !== null && c.vma.start <= addr && addr < c.vma.end ? c.vma : (c.vma = findVma(mm, addr));
  if (vma === null || addr + nr * PAGE_SIZE > vma.end) {
    push(acc, { name: 'pte-outside-vma', message: `entry at 0x${addr.toString(16)} lies outside every VMA`, pid, addr, pfn });
    return;
  }
  if (!(fl & (Pte.PRESENT | Pte.PROTNONE))) {
    if (isPteMarker(fl)) {
      // A PTE marker (a HugeTLB one: PSE too) maps nothing: uffd-wp and/or poisoned, nothing else.
      const allowed = MARKER_BITS | Pte.SOFT_DIRTY | (level === Level.PTE ? 0 : Pte.PSE);
      if (pfn !== 0 || !(fl & (Pte.UFFD_WP | Pte.MARKER_POISONED)) || fl & ~allowed || (level !== Level.PTE && !(vma.flags & VM.HUGETLB))) {
        push(acc, { name: 'pte-marker-invalid', message: `PTE marker 0x${fl.toString(16)} is neither uffd-wp nor poisoned, or carries a pfn`, pid, addr });
      }
      return;
    }
    if (isSwapEntry(fl) && level === Level.PTE) {
      // Only private anonymous memory swaps through its page tables (shmem swaps through its page cache).
      const bad = vma.file !== null || vma.flags & (VM.SHARED | VM.HUGETLB) ? 'a swap entry in a VMA that is not private anonymous memory' : acc.swap.entry(pfn, fl);
      if (bad !== null) push(acc, { name: 'swap-entry-invalid', message: bad, pid, addr });
      rss[MmCounter.SWAPENTS]++;
      return;
    }
    push(acc, { name: 'pte-invalid', message: 'a non-present entry the model does not use (migration, device)', pid, addr });
    return;
  }
  // pte_mkuffd_wp write-protects, and nothing makes a uffd-wp entry writable while the VMA is WP-registered.
  if (fl & Pte.UFFD_WP && fl & Pte.RW && vma.flags & VM.UFFD_WP) push(acc, { name: 'uffd-wp-writable', message: 'a uffd-wp entry is writable in a WP-registered VMA', pid, addr, pfn });
  if (fl & Pte.RW && !(vma.flags & VM.WRITE)) push(acc, { name: 'pte-writable-without-vm-write', message: 'writable entry in a VMA without VM_WRITE', pid, addr, pfn });
  if (fl & Pte.SPECIAL) {
    // A VM_PFNMAP mapping may map any pfn without its struct page (guest_memfd 'pfnmap': src/check/kvm.ts checks which).
    if (vma.flags & VM.PFNMAP && level === Level.PTE) return;
    const zero = level === Level.PTE ? host.zeroPage : host.hugeZeroFolio;
    if (zero === 0 || pfn !== ft.pfn[zero]) push(acc, { name: 'special-unknown', message: 'special entry that is not the zero page', pid, addr, pfn });
    else if (fl & Pte.RW) push(acc, { name: 'zero-page-writable', message: 'the zero page is mapped writable', pid, addr, pfn });
    return;
  }
  const f = host.pfnFolio(pfn);
  if (f === 0) {
    push(acc, { name: 'pte-maps-free-page', message: `entry maps pfn ${pfn}, which belongs to no folio${host.pa.isFree(pfn) ? ' (it is free)' : ''}`, pid, addr, pfn });
    return;
  }
  if (ft.flags[f]! & PG.PGTABLE) {
    push(acc, { name: 'pte-maps-pagetable', message: 'entry maps a page-table page', pid, addr, pfn });
    return;
  }
  const page = pfn - ft.pfn[f]!;
  const anon = (ft.flags[f]! & PG.ANON) !== 0;
  if (ft.order[f]! > 0 && c.f !== f) {
    // A new large folio: look up (or start) its tallies once.
    c.f = f;
    c.pm = null;
    let m = acc.perMm.get(f);
    if (m === undefined) acc.perMm.set(f, (m = new Map()));
    let n = m.get(mm.id);
    if (n === undefined) m.set(mm.id, (n = { n: 0 }));
    c.mmCount = n;
  }
  // A HugeTLB folio mapped at 4 KiB outside a HugeTLB VMA (guest_memfd 'no-longterm-pin'): folio-wide counts only.
  const gmemPiece = ft.flags[f]! & PG.HUGETLB && !(vma.flags & VM.HUGETLB);
  if (ft.flags[f]! & PG.HUGETLB && nr < folioNrPages(ft, f) && !gmemPiece) {
    // A high-granularity piece (HGM): counted per the design (invariant 7).
    checkHgmPiece(host, acc, f, page, nr);
  } else if (level === Level.PTE) {
    if (ft.order[f]! > 0 && !gmemPiece) {
      let pm = c.pm;
      if (pm === null) {
        pm = acc.pages.get(f) ?? null;
        if (pm === null) acc.pages.set(f, (pm = new Int32Array(folioNrPages(ft, f))));
        c.pm = pm;
      }
      pm[page]!++;
    }
  } else {
    if (page !== 0 || folioNrPages(ft, f) !== nr) {
      push(acc, { name: 'huge-entry-wrong-folio', message: `a ${nr * 4}kB entry maps a folio of ${folioNrPages(ft, f)} pages at page ${page}`, pid, addr, pfn });
      return;
    }
    acc.entire[f]!++;
    if (anon && !(ft.flags[f]! & PG.HUGETLB) && (t.deposit === null || t.deposit[i] === 0)) push(acc, { name: 'missing-deposit', message: 'anonymous PMD mapping without a deposited page table', pid, addr, pfn });
    // x86 deposits no table under a file (shmem) PMD: splitting one zaps it.
    if (!anon && !(ft.flags[f]! & PG.HUGETLB) && t.deposit !== null && t.deposit[i] !== 0) push(acc, { name: 'file-pmd-deposit', message: 'file PMD mapping with a deposited page table', pid, addr, pfn });
  }
  if (!(ft.flags[f]! & PG.HUGETLB && nr < folioNrPages(ft, f)) || gmemPiece) {
    acc.map[f]!++;
    acc.refs[f]!++;
  }
  if (ft.order[f]! > 0) c.mmCount!.n++;
  const fileIdx = linearPageIndex(vma, addr);
  // HugeTLB pages count in mm->hugetlb_usage, not in RSS (slot 2, MM_SWAPENTS, is never used here).
  if (gmemPiece) rss[MmCounter.FILEPAGES] += nr;
  else if (ft.flags[f]! & PG.HUGETLB) c.hugetlb += nr;
  else if (anon) rss[MmCounter.ANONPAGES] += nr;
  if (anon) {
    const av = ft.owner[f];
    if (c.av !== av || c.avVma !== vma) {
      c.av = av;
      c.avVma = vma;
      c.avOk = av instanceof AnonVma && av.vmas.has(vma);
    }
    if (!c.avOk) {
      push(acc, { name: 'rmap-unreachable', message: 'anonymous folio not reachable through its anon_vma from this VMA', pid, addr, pfn: ft.pfn[f] });
    } else if (ft.index[f]! + page !== fileIdx) {
      push(acc, { name: 'rmap-index-mismatch', message: `folio index ${ft.index[f]! + page} but the VMA puts it at ${fileIdx}`, pid, addr, pfn: ft.pfn[f] });
    }
    // I8: anon pages mapped writable are exclusive.
    if (fl & Pte.RW && !pageAnonExclusive(ft, f, level === Level.PTE ? page : 0)) {
      push(acc, { name: 'writable-anon-not-exclusive', message: 'anonymous page mapped writable without PageAnonExclusive', pid, addr, pfn: ft.pfn[f] });
    }
  } else {
    if (!(ft.flags[f]! & PG.HUGETLB)) rss[ft.flags[f]! & PG.SWAPBACKED ? MmCounter.SHMEMPAGES : MmCounter.FILEPAGES] += nr;
    const mapping = ft.owner[f] as AddressSpace | null;
    if (vmaIsAnonymous(vma)) {
      push(acc, { name: 'anon-vma-maps-file-page', message: 'a private anonymous VMA maps a page-cache page', pid, addr, pfn: ft.pfn[f] });
    } else if (mapping === null || mapping !== vma.mapping || ft.index[f]! + page !== fileIdx) {
      push(acc, { name: 'file-page-misplaced', message: 'mapped page is not the page cache page of this file offset', pid, addr, pfn: ft.pfn[f] });
    } else if (!(vma.flags & VM.SHARED) && fl & Pte.RW) {
      // A private mapping never writes to the page cache: COW first.
      push(acc, { name: 'writable-private-file-page', message: 'page-cache page mapped writable in a private mapping', pid, addr, pfn: ft.pfn[f] });
    }
  }
}

/**
 * HugeTLB HGM, invariant 7: what a piece adds to its folio under each
 * design. thp-like: one reference, nr on folio_mapcount, 1 on each covered
 * page's count; head-per-pte: one reference and one head count; pgtable and
 * special-bit: nothing (the table above counts).
 */
function checkHgmPiece(host: Host, acc: Acc, f: number, page: number, nr: number): void {
  const d = host.hgm;
  if (d.countsTables) return;
  acc.refs[f]!++;
  if (d.needsWritableTailPages) {
    acc.map[f]! += nr;
    let pm = acc.hgmPages.get(f);
    if (pm === undefined) acc.hgmPages.set(f, (pm = new Int32Array(folioNrPages(acc.ft, f))));
    for (let i = page; i < page + nr; i++) pm[i]!++;
  } else {
    acc.map[f]!++;
    acc.entire[f]!++;
  }
}

/**
 * HugeTLB HGM: a non-leaf entry at the hstate level of a HugeTLB VMA. Under
 * pgtable and special-bit it holds one count and one reference on the folio
 * it was taken for; special-bit marks exactly those entries _PAGE_SPECIAL.
 */
function checkHgmTable(host: Host, acc: Acc, pid: number, mm: MmStruct, t: PageTable, i: number, addr: number): void {
  const vma = findVma(mm, addr);
  if (vma === null || !(vma.flags & VM.HUGETLB) || hstateVma(host, vma).level !== t.level) return;
  const d = host.hgm;
  const f = d.tableFolio(t, i);
  if (d.name === 'special-bit' ? ((t.fl[i]! & Pte.SPECIAL) !== 0) !== (f !== 0) : (t.fl[i]! & Pte.SPECIAL) !== 0) {
    push(acc, { name: 'hgm-special-bit-mismatch', message: `hstate-level table entry: _PAGE_SPECIAL ${t.fl[i]! & Pte.SPECIAL ? 'set' : 'clear'} but ${f !== 0 ? 'a' : 'no'} mapcount taken (${d.name})`, pid, addr });
  }
  if (f === 0) return;
  acc.map[f]!++;
  acc.entire[f]!++;
  acc.refs[f]!++;
}

/**
 * HugeTLB HGM: per-page mapcounts (thp-like) against the pieces found, and
 * folios still counted as mapped after they left their file: the pgtable
 * design's truncation flaw (Peter Xu, Y+PKwvLT8+wQ6LPA@x1n), a finding about
 * the design that is expected under pgtable.
 */
function checkHgmFolios(host: Host, acc: Acc): void {
  const ft = host.ft;
  const d = host.hgm;
  if (!d.enabled) return;
  const seen = new Set<number>();
  for (const [f, counts] of d.subpageFolios()) {
    seen.add(f);
    const want = acc.hgmPages.get(f);
    for (let i = 0; i < counts.length; i++) {
      const w = want === undefined ? 0 : want[i]!;
      if (counts[i] !== w) {
        push(acc, { name: 'hgm-subpage-mapcount-mismatch', message: `HGM page ${i}: _mapcount+1 is ${counts[i]}, pieces cover it ${w} times`, pfn: ft.pfn[f]! + i, expected: w, actual: counts[i] });
        break;
      }
    }
  }
  for (const f of acc.hgmPages.keys()) if (!seen.has(f)) push(acc, { name: 'hgm-subpage-mapcount-mismatch', message: 'HGM pieces map the folio but it has no per-page counts', pfn: ft.pfn[f] });
  for (let f = 1; f < ft.highWater; f++) {
    if (!ft.isLive(f)) continue;
    const fl = ft.flags[f]!;
    if (!(fl & PG.HUGETLB) || fl & (PG.HUGETLB_FREED | PG.ANON) || ft.owner[f] !== null || ft.mapcount[f]! < 0) continue;
    push(acc, { name: 'hgm-mapcount-after-truncate', message: `HugeTLB folio removed from its file still has folio_mapcount ${ft.mapcount[f]! + 1} (${d.name}: the count sits on an hstate-level table the zap left)`, pfn: ft.pfn[f], actual: ft.mapcount[f]! + 1 });
  }
}

// ---------------------------------------------------------------------------
// Page caches.

interface CacheStats {
  filePages: number;
  shmem: number;
  shmemThps: number;
}

function checkPageCaches(host: Host, acc: Acc, vfs: Vfs, liveMms: Set<MmStruct>): CacheStats {
  const ft = host.ft;
  const st: CacheStats = { filePages: 0, shmem: 0, shmemThps: 0 };
  for (const inode of vfs.inodes) {
    const mapping = inode.mapping;
    let pages = 0;
    mapping.pages.forEach(0, Number.MAX_SAFE_INTEGER, (index, _order, f) => {
      if (!ft.isLive(f)) {
        push(acc, { name: 'pagecache-stale', message: `inode ${inode.ino} index ${index} holds a freed folio`, pfn: ft.pfn[f] });
        return;
      }
      const nr = folioNrPages(ft, f);
      if (ft.owner[f] !== mapping || ft.index[f] !== index || ft.flags[f]! & PG.ANON) {
        push(acc, { name: 'pagecache-owner-mismatch', message: `inode ${inode.ino} index ${index}: folio owner or index disagrees`, pfn: ft.pfn[f] });
      }
      // A multi-index entry covers a naturally aligned range (shmem THP: a PMD-aligned index).
      if (index % nr !== 0) push(acc, { name: 'pagecache-index-unaligned', message: `inode ${inode.ino}: a ${nr}-page folio at index ${index}`, pfn: ft.pfn[f] });
      acc.refs[f]! += nr;
      pages += nr;
      // HugeTLB folios are not counted in NR_FILE_PAGES (__filemap_add_folio skips them).
      if (!(ft.flags[f]! & PG.HUGETLB)) st.filePages += nr;
      if (ft.flags[f]! & PG.SWAPBACKED) {
        st.shmem += nr;
        if (ft.order[f]! >= 9) st.shmemThps += nr;
        // shmem folios: order 0 or a page-cache THP order (8 KiB to the PMD size).
        if (!(ft.flags[f]! & PG.HUGETLB) && ft.order[f]! > 0 && !(THP_ORDERS_ALL_FILE_DEFAULT & (1 << ft.order[f]!))) {
          push(acc, { name: 'shmem-folio-order', message: `inode ${inode.ino} index ${index}: a shmem folio of order ${ft.order[f]}`, pfn: ft.pfn[f] });
        }
      }
    });
    if (pages !== mapping.nrpages) push(acc, { name: 'nrpages-mismatch', message: `inode ${inode.ino}: nrpages ${mapping.nrpages}, cache holds ${pages}`, expected: pages, actual: mapping.nrpages });
    if ((mapping.aops.swapbacked || inode.sb.fsType === 'hugetlbfs') && inode.blocks !== pages * (PAGE_SIZE / 512)) {
      push(acc, { name: 'i-blocks-mismatch', message: `inode ${inode.ino}: i_blocks ${inode.blocks}, pages ${pages}`, expected: pages * 8, actual: inode.blocks });
    }
    for (const v of mapping.iMmap) {
      if (!liveMms.has(v.mm) || !v.mm.vmas.includes(v)) push(acc, { name: 'i-mmap-stale', message: `inode ${inode.ino}: i_mmap holds a VMA no live mm has`, addr: v.start });
    }
  }
  return st;
}

// ---------------------------------------------------------------------------
// GUP references (the ledger is ground truth; the folio counters are Linux's).

/**
 * Add the references GUP holds to the expected counts and return the pins per
 * folio. Ledger entries must be positive and on allocated pages.
 */
function checkGupLedger(host: Host, acc: Acc): Map<number, number> {
  const pins = new Map<number, number>();
  let pinTotal = 0;
  const visit = (ledger: PfnCounts, pin: boolean): void => {
    ledger.forEach((pfn, n) => {
      const f = host.pfnFolio(pfn);
      if (n <= 0) push(acc, { name: 'gup-ledger-negative', message: `page has ${n} ${pin ? 'pins' : 'gets'} outstanding`, pfn, actual: n });
      if (f === 0) {
        push(acc, { name: 'gup-ref-on-free-page', message: `free page has ${n} ${pin ? 'pins' : 'gets'} outstanding`, pfn, actual: n });
        return;
      }
      if (pin) {
        pins.set(f, (pins.get(f) ?? 0) + n);
        pinTotal += n;
      } else acc.refs[f]! += n;
    });
  };
  visit(host.pinLedger, true);
  visit(host.getLedger, false);
  // Small folios keep theirs in the folio table.
  const ft = host.ft;
  for (let f = 1; f < ft.highWater; f++) {
    const np = ft.ledgerPins[f]!;
    const ng = ft.ledgerGets[f]!;
    if (np === 0 && ng === 0) continue;
    const pfn = ft.pfn[f]!;
    if (!ft.isLive(f) || ft.order[f] !== 0) {
      push(acc, { name: 'gup-ref-on-free-page', message: `free or large folio slot has ${np} pins and ${ng} gets in the small-folio ledger`, pfn });
      continue;
    }
    if (np < 0 || ng < 0) push(acc, { name: 'gup-ledger-negative', message: `page has ${np} pins and ${ng} gets outstanding`, pfn });
    if (np !== 0) {
      pins.set(f, (pins.get(f) ?? 0) + np);
      pinTotal += np;
    }
    acc.refs[f]! += ng;
  }
  // Whole-folio pins, keyed by the head pfn.
  host.folioPinLedger.forEach((pfn, n) => {
    const f = host.pfnFolio(pfn);
    if (n <= 0) push(acc, { name: 'gup-ledger-negative', message: `folio has ${n} whole-folio pins outstanding`, pfn, actual: n });
    if (f === 0 || host.ft.pfn[f] !== pfn) {
      push(acc, { name: 'gup-ref-on-free-page', message: `${n} whole-folio pins on a pfn that is not a folio head`, pfn, actual: n });
      return;
    }
    pins.set(f, (pins.get(f) ?? 0) + n);
    pinTotal += n;
  });
  for (const [f, n] of pins) acc.refs[f]! += host.pins.heldRefs(host, f, n);
  // I7: every pin acquired is either released or outstanding.
  const net = host.stat[NodeStat.NR_FOLL_PIN_ACQUIRED]! - host.stat[NodeStat.NR_FOLL_PIN_RELEASED]!;
  if (net !== pinTotal) {
    push(acc, { name: 'foll-pin-stat-mismatch', message: `nr_foll_pin_acquired - nr_foll_pin_released is ${net}, ${pinTotal} pins outstanding`, expected: pinTotal, actual: net });
  }
  return pins;
}

/** I2, I3, I9: the design's counters, maybe-pinned answers and exclusivity of pinned anonymous pages. */
function checkPins(host: Host, acc: Acc, pins: ReadonlyMap<number, number>): void {
  const ft = host.ft;
  const p = host.pins;
  for (const [f, n] of pins) {
    const pfn = ft.pfn[f]!;
    const bad = p.audit(host, f, n);
    if (bad !== null) push(acc, { name: 'pin-counter-mismatch', message: `${p.name}: ${bad}`, pfn });
    const nr = folioNrPages(ft, f);
    const pm = acc.pages.get(f);
    for (let i = 0; i < nr; i++) {
      if (host.pinnedPages(f, i) === 0) continue;
      if (!p.mayMissPins && !peekMaybePinned(host, f, i, 1)) {
        push(acc, { name: 'pinned-not-maybe-pinned', message: `${p.name}: page ${i} is pinned but folio_maybe_dma_pinned() says no`, pfn: pfn + i });
      }
      // A PMD/PUD mapping keeps PageAnonExclusive on the head page only (as rmap.c does).
      const entire = acc.entire[f]! > 0;
      const mapped = ft.order[f] === 0 ? acc.map[f]! > 0 : entire || (pm !== undefined && pm[i]! > 0);
      if (ft.flags[f]! & PG.ANON && mapped && !pageAnonExclusive(ft, f, entire ? 0 : i)) {
        push(acc, { name: 'pinned-anon-not-exclusive', message: `pinned anonymous page ${i} is mapped but not PageAnonExclusive`, pfn: pfn + i });
      }
    }
  }
}


// ---------------------------------------------------------------------------
// Folios.

function checkFolios(host: Host, acc: Acc): void {
  const ft = host.ft;
  for (let f = 1; f < ft.highWater; f++) {
    if (!ft.isLive(f)) continue;
    if (acc.out.length >= LIMIT) return;
    const pfn = ft.pfn[f]!;
    const fl = ft.flags[f]!;
    const large = ft.order[f]! > 0;
    const ref = ft.refcount[f]!;
    const exp = acc.refs[f]!;
    if (fl & PG.HUGETLB_FREED) {
      checkFreeHugetlbFolio(acc, f, pfn, exp);
      continue;
    }
    if (ref <= 0) push(acc, { name: 'refcount-zero-live', message: 'allocated folio with refcount <= 0', pfn, actual: ref });
    else if (exp === 0) push(acc, { name: 'leaked-page', message: `folio of ${folioNrPages(ft, f)} pages is allocated but nothing refers to it`, pfn, actual: ref });
    else if (ref < exp) push(acc, { name: 'refcount-below-expected', message: `refcount ${ref} below the ${exp} references found`, pfn, expected: exp, actual: ref });
    else if (ref > exp) push(acc, { name: 'refcount-above-expected', message: `refcount ${ref} above the ${exp} references found (a leaked reference)`, pfn, expected: exp, actual: ref });
    if (fl & PG.PGTABLE) continue;
    // Mapcounts (folio_mapcount, _entire_mapcount, per-page, _nr_pages_mapped).
    const mapcount = ft.mapcount[f]! + 1;
    if (mapcount !== acc.map[f]) push(acc, { name: 'mapcount-mismatch', message: `folio_mapcount ${mapcount}, page tables map it ${acc.map[f]} times`, pfn, expected: acc.map[f], actual: mapcount });
    if (large) {
      const entire = ft.entire[f]! + 1;
      if (entire !== acc.entire[f]) push(acc, { name: 'entire-mapcount-mismatch', message: `_entire_mapcount ${entire}, PMD/PUD mappings ${acc.entire[f]}`, pfn, expected: acc.entire[f], actual: entire });
      const pm = acc.pages.get(f);
      let mappedPages = 0;
      // HugeTLB folios have no per-page mapcounts (and an optimized vmemmap could not hold them).
      const nr = fl & PG.HUGETLB ? 0 : folioNrPages(ft, f);
      if (fl & PG.HUGETLB && (ft.pages.has(f) || pm !== undefined)) push(acc, { name: 'hugetlb-page-state', message: 'a HugeTLB folio has per-page mapcount or exclusivity state, or is PTE-mapped', pfn });
      for (let i = 0; i < nr; i++) {
        const want = pm === undefined ? 0 : pm[i]!;
        const have = pageMapcountRaw(ft, f, i) + 1;
        if (want !== have) {
          push(acc, { name: 'page-mapcount-mismatch', message: `page ${i}: _mapcount+1 is ${have}, PTEs map it ${want} times`, pfn: pfn + i, expected: want, actual: have });
          break;
        }
        if (want > 0) mappedPages++;
      }
      const wantMapped = mappedPages + (acc.entire[f]! > 0 ? ENTIRELY_MAPPED : 0);
      if (!(fl & PG.HUGETLB) && ft.nrMapped[f] !== wantMapped) {
        push(acc, { name: 'nr-pages-mapped-mismatch', message: `_nr_pages_mapped 0x${ft.nrMapped[f]!.toString(16)}, expected 0x${wantMapped.toString(16)}`, pfn, expected: wantMapped, actual: ft.nrMapped[f] });
      }
      checkMmIds(acc, f, pfn, mapcount);
    } else if (ft.pincount[f] !== 0) {
      push(acc, { name: 'pincount-on-small-folio', message: 'small folios have no _pincount', pfn });
    }
    // Ownership and exclusivity.
    const owner = ft.owner[f];
    if (fl & PG.ANON) {
      if (!(owner instanceof AnonVma)) push(acc, { name: 'anon-without-anon-vma', message: 'anonymous folio without an anon_vma', pfn });
    } else {
      for (let i = 0; i < folioNrPages(ft, f) && i < 2; i++) {
        if (pageAnonExclusive(ft, f, i)) {
          push(acc, { name: 'exclusive-non-anon', message: 'PageAnonExclusive on a non-anonymous folio', pfn });
          break;
        }
      }
    }
    if (fl & PG.ANON) checkExclusive(acc, f, pfn);
  }
}

/** I11: an exclusive anonymous page is mapped at most once. */
function checkExclusive(acc: Acc, f: number, pfn: number): void {
  const ft = acc.ft;
  if (ft.order[f] === 0) {
    if (pageAnonExclusive(ft, f, 0) && acc.map[f]! > 1) push(acc, { name: 'exclusive-page-shared', message: `PageAnonExclusive page mapped ${acc.map[f]} times`, pfn });
    return;
  }
  const pm = acc.pages.get(f);
  const entire = acc.entire[f]!;
  // HugeTLB: PageAnonExclusive lives on the head page only.
  const n = ft.flags[f]! & PG.HUGETLB ? 1 : folioNrPages(ft, f);
  for (let i = 0; i < n; i++) {
    const maps = entire + (pm === undefined ? 0 : pm[i]!);
    if (maps > 1 && pageAnonExclusive(ft, f, i)) {
      push(acc, { name: 'exclusive-page-shared', message: `PageAnonExclusive page ${i} mapped ${maps} times`, pfn: pfn + i });
      return;
    }
  }
}

/** MM owner tracking: slot counts never exceed the mm's mappings; two mms imply the shared bit. */
function checkMmIds(acc: Acc, f: number, pfn: number, mapcount: number): void {
  const ft = acc.ft;
  if (ft.flags[f]! & PG.HUGETLB) return;
  const per = acc.perMm.get(f) ?? new Map<number, { n: number }>();
  const slots: [number, number][] = [
    [ft.mmId0[f]!, ft.mmCnt0[f]! + 1],
    [ft.mmId1[f]!, ft.mmCnt1[f]! + 1],
  ];
  let sum = 0;
  for (const [id, cnt] of slots) {
    if (id === MM_ID_DUMMY) {
      if (cnt !== 0) push(acc, { name: 'mm-id-mismatch', message: 'a free _mm_id slot has a mapcount', pfn });
      continue;
    }
    sum += cnt;
    const actual = per.get(id)?.n ?? 0;
    if (cnt > actual) push(acc, { name: 'mm-id-mismatch', message: `_mm_id slot for mm ${id} counts ${cnt}, the mm maps ${actual}`, pfn, expected: actual, actual: cnt });
  }
  if (sum > mapcount) push(acc, { name: 'mm-id-mismatch', message: `_mm_id_mapcount total ${sum} exceeds folio_mapcount ${mapcount}`, pfn });
  if (per.size >= 2 && !(ft.flags[f]! & PG.MM_IDS_SHARED)) {
    push(acc, { name: 'maybe-mapped-shared-false-negative', message: `mapped by ${per.size} mms but not marked shared`, pfn });
  }
}

// ---------------------------------------------------------------------------
// Physical memory.

function checkPhysmem(host: Host, acc: Acc): void {
  const ft = host.ft;
  let allocated = 0;
  for (let f = 1; f < ft.highWater; f++) {
    if (!ft.isLive(f)) continue;
    const pfn = ft.pfn[f]!;
    const nr = folioNrPages(ft, f);
    allocated += nr;
    if (pfn % nr !== 0) push(acc, { name: 'folio-unaligned', message: `order-${ft.order[f]} folio at unaligned pfn`, pfn });
    if (host.memmap.get(pfn) !== f) push(acc, { name: 'memmap-mismatch', message: 'pfn_folio() of the head page is another folio', pfn });
    if (host.pa.zoneOf(pfn).free.overlaps(pfn, pfn + nr)) push(acc, { name: 'folio-on-free-list', message: 'allocated folio overlaps free memory', pfn });
  }
  // RAM, plus the boot-memmap pages HugeTLB vmemmap optimization gave to the buddy allocator.
  const total = host.pa.totalPages + host.pa.memmapZone.managed;
  const free = host.pa.freePages();
  // Vmemmap pages the buddy allocator gave out are allocated, but not folios.
  allocated += host.vmemmap.buddyPages;
  if (free + allocated + host.reservedPages !== total) {
    push(acc, { name: 'physmem-accounting', message: `free ${free} + allocated ${allocated} + reserved ${host.reservedPages} != ${total} pages`, expected: total, actual: free + allocated + host.reservedPages });
  }
  if (ft.live !== countLive(ft)) push(acc, { name: 'folio-table-count', message: 'live folio count differs from the table' });
}

function countLive(ft: FolioTable): number {
  let n = 0;
  for (let f = 1; f < ft.highWater; f++) if (ft.isLive(f)) n++;
  return n;
}

// ---------------------------------------------------------------------------
// Node statistics.

function checkVmstat(host: Host, acc: Acc, cache: CacheStats, secTables: number): void {
  const ft = host.ft;
  const want = new Float64Array(NodeStat.NR_STATS);
  for (let f = 1; f < ft.highWater; f++) {
    // HugeTLB folios are not in the mapped-page statistics (hugetlb rmap skips __folio_mod_stat).
    if (!ft.isLive(f) || ft.flags[f]! & (PG.PGTABLE | PG.ZERO | PG.HUGETLB)) continue;
    const anon = (ft.flags[f]! & PG.ANON) !== 0;
    const nr = folioNrPages(ft, f);
    let mapped: number;
    if (acc.entire[f]! > 0) mapped = nr;
    else if (ft.order[f]! > 0) {
      const pm = acc.pages.get(f);
      mapped = 0;
      if (pm !== undefined) for (let i = 0; i < nr; i++) if (pm[i]! > 0) mapped++;
    } else mapped = acc.map[f]! > 0 ? 1 : 0;
    want[anon ? NodeStat.NR_ANON_MAPPED : NodeStat.NR_FILE_MAPPED] += mapped;
    if (acc.entire[f]! > 0 && ft.order[f]! === 9) {
      if (anon) want[NodeStat.NR_ANON_THPS] += nr;
      else if (ft.flags[f]! & PG.SWAPBACKED) want[NodeStat.NR_SHMEM_PMDMAPPED] += nr;
      else want[NodeStat.NR_FILE_PMDMAPPED] += nr;
    }
  }
  want[NodeStat.NR_FILE_PAGES] = cache.filePages;
  want[NodeStat.NR_SHMEM] = cache.shmem;
  want[NodeStat.NR_SHMEM_THPS] = cache.shmemThps;
  let pgtables = 0;
  for (let f = 1; f < ft.highWater; f++) if (ft.isLive(f) && ft.flags[f]! & PG.PGTABLE) pgtables++;
  want[NodeStat.NR_PAGETABLE] = pgtables;
  want[NodeStat.NR_SECONDARY_PAGETABLE] = secTables;
  if (pgtables !== acc.tables) push(acc, { name: 'pgtable-leaked', message: `${pgtables} page-table pages allocated, ${acc.tables} in use`, expected: acc.tables, actual: pgtables });
  want[NodeStat.NR_FOLL_PIN_ACQUIRED] = host.stat[NodeStat.NR_FOLL_PIN_ACQUIRED]!;
  want[NodeStat.NR_FOLL_PIN_RELEASED] = host.stat[NodeStat.NR_FOLL_PIN_RELEASED]!;
  for (let i = 0; i < NodeStat.NR_STATS; i++) {
    if (want[i] !== host.stat[i]) push(acc, { name: 'vmstat-mismatch', message: `${NODE_STAT_NAMES[i]} is ${host.stat[i]}, recomputed ${want[i]}`, expected: want[i], actual: host.stat[i] });
  }
}

/**
 * The per-size counters that are state, not events: nr_anon counts the
 * anonymous (non-HugeTLB) folios of each order from 16 KiB to PMD size,
 * nr_anon_partially_mapped those on the deferred split queue
 * (PG.PARTIALLY_MAPPED), which only anonymous folios of order 2 and up join.
 */
function checkMthpStats(host: Host, acc: Acc): void {
  const ft = host.ft;
  const nrAnon = new Float64Array(HPAGE_PMD_ORDER + 1);
  const nrPartial = new Float64Array(HPAGE_PMD_ORDER + 1);
  for (let f = 1; f < ft.highWater; f++) {
    if (!ft.isLive(f)) continue;
    const fl = ft.flags[f]!;
    const order = ft.order[f]!;
    if (fl & PG.PARTIALLY_MAPPED && ((fl & (PG.ANON | PG.HUGETLB)) !== PG.ANON || order < 2)) {
      push(acc, { name: 'deferred-split-not-anon', message: `folio of order ${order} is queued for deferred split but is not an anonymous folio of order 2 or more`, pfn: ft.pfn[f]! });
    }
    if ((fl & (PG.ANON | PG.HUGETLB)) !== PG.ANON || order < 1 || order > HPAGE_PMD_ORDER) continue;
    nrAnon[order]++;
    if (fl & PG.PARTIALLY_MAPPED) nrPartial[order]++;
  }
  for (let order = 1; order <= HPAGE_PMD_ORDER; order++) {
    for (const [item, want] of [
      [MthpStat.NR_ANON, nrAnon[order]!],
      [MthpStat.NR_ANON_PARTIALLY_MAPPED, nrPartial[order]!],
    ] as const) {
      const have = mthpStat(host.mthpStats, order, item);
      if (have !== want) push(acc, { name: 'mthp-stat-mismatch', message: `order ${order} ${MTHP_STAT_NAMES[item]} is ${have}, recomputed ${want}`, expected: want, actual: have });
    }
  }
}

// ---------------------------------------------------------------------------
// HugeTLB pools.

/** A free pool page: frozen (refcount 0), unmapped, unowned, referenced by nothing. */
function checkFreeHugetlbFolio(acc: Acc, f: number, pfn: number, refsFound: number): void {
  const ft = acc.ft;
  const fl = ft.flags[f]!;
  if (!(fl & PG.HUGETLB) || ft.refcount[f] !== 0 || ft.mapcount[f] !== -1 || ft.entire[f] !== -1 || ft.owner[f] !== null || refsFound !== 0 || ft.pincount[f] !== 0) {
    push(acc, {
      name: 'hugetlb-free-folio-busy',
      message: `free HugeTLB folio: refcount ${ft.refcount[f]}, mapcount ${ft.mapcount[f]! + 1}, ${refsFound} references found, owner ${ft.owner[f] === null ? 'none' : 'set'}`,
      pfn,
    });
  }
}

/**
 * Each hstate's counters against its folios and free list; the global
 * reservation count against the reservation maps; the vmemmap bookkeeping
 * against the optimized folios.
 */
function checkHugetlb(host: Host, acc: Acc, vfs: Vfs, procs: readonly CheckedProcess[]): void {
  const ft = host.ft;
  const hs = host.hugetlb;
  const nr = new Map<number, number>();
  const freed = new Map<number, number>();
  const restore = new Map<number, number>();
  let optimizedSaving = 0;
  for (let f = 1; f < ft.highWater; f++) {
    if (!ft.isLive(f)) continue;
    const fl = ft.flags[f]!;
    if (fl & PG.VMEMMAP_OPTIMIZED) {
      if (!(fl & PG.HUGETLB)) push(acc, { name: 'hugetlb-vmemmap', message: 'vmemmap-optimized folio that is not HugeTLB', pfn: ft.pfn[f] });
      optimizedSaving += 2 ** ft.order[f]! / 64 - 1;
    }
    if (!(fl & PG.HUGETLB)) continue;
    const o = ft.order[f]!;
    nr.set(o, (nr.get(o) ?? 0) + 1);
    if (fl & PG.HUGETLB_FREED) freed.set(o, (freed.get(o) ?? 0) + 1);
    else if (fl & PG.HUGETLB_RESTORE_RESERVE) restore.set(o, (restore.get(o) ?? 0) + 1);
  }
  // Reservations the maps promise: shared ones without a page yet, private ones unused, subpool minimums.
  const promised = new Map<number, number>();
  const add = (order: number, n: number) => promised.set(order, (promised.get(order) ?? 0) + n);
  for (const inode of vfs.inodes) {
    const info = hs.inodes.get(inode.mapping);
    if (info === undefined) continue;
    const h = info.hstate;
    let unconsumed = info.resvMap.regions.length;
    inode.mapping.pages.forEach(0, Number.MAX_SAFE_INTEGER, (index) => {
      if (info.resvMap.regions.has(index / h.nrPages)) unconsumed--;
    });
    add(h.order, unconsumed);
  }
  for (const p of procs) if (p.mm !== null) for (const v of p.mm.vmas) if (v.flags & VM.HUGETLB && v.file !== null) add(hstateVma(host, v).order, hugetlbVmaUnusedReserves(host, v));
  for (const sp of hs.subpools) if (sp.minHpages !== -1) add(sp.hstate.order, sp.rsvHpages);
  for (const h of hs.hstates) {
    const name = h.name;
    let count = nr.get(h.order) ?? 0;
    for (const sp of hs.split.values()) if (sp.hstate === h) count++;
    const nfree = freed.get(h.order) ?? 0;
    const bad = (what: string, expected: number, actual: number) =>
      push(acc, { name: 'hugetlb-pool-mismatch', message: `${name}: ${what} is ${actual}, expected ${expected}`, expected, actual });
    if (h.nr !== count) bad('nr_hugepages', count, h.nr);
    if (h.free !== nfree) bad('free_hugepages', nfree, h.free);
    if (h.freeList.length !== h.free || new Set(h.freeList).size !== h.freeList.length) bad('the free list length', h.free, h.freeList.length);
    for (const f of h.freeList) {
      if (!ft.isLive(f) || !(ft.flags[f]! & PG.HUGETLB_FREED) || ft.order[f] !== h.order) {
        push(acc, { name: 'hugetlb-pool-mismatch', message: `${name}: the free list holds a folio that is not a free page of this size`, pfn: ft.pfn[f] });
        break;
      }
    }
    const pending = restore.get(h.order) ?? 0;
    if (h.resv < 0 && h.resv + pending >= 0) {
      // Linux 6.12 does this too (real 6.12 showed HugePages_Rsvd 18446744073709551615): a private owner's
      // VMA closed while pages it had reserved live on (pinned), their reserve restored only when freed.
      push(acc, { name: 'hugetlb-resv-underflow', message: `${name}: resv_hugepages ${h.resv} (2^64 ${h.resv} in /proc/meminfo) while ${pending} freed-later page(s) will restore it`, expected: 0, actual: h.resv });
    } else if (h.resv > h.free || h.resv < 0) push(acc, { name: 'hugetlb-pool-invariant', message: `${name}: resv_hugepages ${h.resv} exceeds free_hugepages ${h.free}`, expected: h.free, actual: h.resv });
    if (h.surplus > h.nr || h.surplus < 0) push(acc, { name: 'hugetlb-pool-invariant', message: `${name}: surplus_hugepages ${h.surplus} exceeds nr_hugepages ${h.nr}`, expected: h.nr, actual: h.surplus });
    if (h.max !== h.nr - h.surplus) push(acc, { name: 'hugetlb-pool-invariant', message: `${name}: max_huge_pages ${h.max} is not nr - surplus (${h.nr - h.surplus})`, expected: h.nr - h.surplus, actual: h.max });
    const want = promised.get(h.order) ?? 0;
    const have = h.resv + (restore.get(h.order) ?? 0);
    if (have !== want) {
      push(acc, { name: 'hugetlb-resv-mismatch', message: `${name}: resv_hugepages ${h.resv} (+${restore.get(h.order) ?? 0} to be restored) but the reservation maps and subpools promise ${want}`, expected: want, actual: have });
    }
  }
  // Vmemmap: every boot page freed is backed by one buddy page, except an optimized folio's, backed by one in all.
  const v = host.vmemmap;
  const zone = host.pa.memmapZone;
  if (v.bootPages !== zone.end - zone.start - v.bootGone.length) push(acc, { name: 'hugetlb-vmemmap', message: `nr_memmap_boot_pages ${v.bootPages}, boot pages never freed ${zone.end - zone.start - v.bootGone.length}` });
  if (v.buddyPages !== v.buddy.length || v.buddyPages !== v.bootGone.length - optimizedSaving) {
    push(acc, { name: 'hugetlb-vmemmap', message: `nr_memmap_pages ${v.buddyPages}, buddy vmemmap pages ${v.buddy.length}, expected ${v.bootGone.length - optimizedSaving}`, expected: v.bootGone.length - optimizedSaving, actual: v.buddyPages });
  }
  if (zone.managed !== v.bootGone.length) push(acc, { name: 'hugetlb-vmemmap', message: `${zone.managed} memmap pages managed, ${v.bootGone.length} freed` });
}

// ---------------------------------------------------------------------------
// Contents.

function checkContent(host: Host, acc: Acc): void {
  if (!host.content.isZero(host.zeroPage, 0, PAGE_SIZE)) push(acc, { name: 'content-mismatch', message: 'the zero page is not zero', pfn: host.ft.pfn[host.zeroPage] });
  if (host.hugeZeroFolio !== 0 && !host.content.isZero(host.hugeZeroFolio, 0, 512 * PAGE_SIZE)) {
    push(acc, { name: 'content-mismatch', message: 'the huge zero page is not zero', pfn: host.ft.pfn[host.hugeZeroFolio] });
  }
}

/**
 * anon_vma reuse at fork rests on two counters: num_active_vmas (VMAs whose own anon_vma it is) and
 * num_children (anon_vmas still linked to some VMA whose parent it is, plus a root's link to itself).
 */
function checkAnonVmaCounts(acc: Acc, procs: readonly { mm: MmStruct | null }[]): void {
  const active = new Map<AnonVma, number>();
  const linked = new Set<AnonVma>();
  for (const p of procs) {
    if (p.mm === null) continue;
    for (const v of p.mm.vmas) {
      if (v.anonVma !== null) active.set(v.anonVma, (active.get(v.anonVma) ?? 0) + 1);
      for (const av of v.avc) linked.add(av);
    }
  }
  const children = new Map<AnonVma, number>();
  for (const av of linked) {
    const parent = av.parent ?? av;
    children.set(parent, (children.get(parent) ?? 0) + 1);
  }
  for (const av of linked) {
    const a = active.get(av) ?? 0;
    if (av.numActiveVmas !== a) push(acc, { name: 'anon-vma-counts', message: `anon_vma ${av.id}: num_active_vmas ${av.numActiveVmas}, ${a} VMAs have it as their own`, expected: a, actual: av.numActiveVmas });
    const c = children.get(av) ?? 0;
    if (av.numChildren !== c) push(acc, { name: 'anon-vma-counts', message: `anon_vma ${av.id}: num_children ${av.numChildren}, ${c} linked anon_vmas have it as parent`, expected: c, actual: av.numChildren });
  }
}
