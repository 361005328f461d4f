/**
 * The oracle's KVM rules (docs/INVARIANTS.md, "KVM"): every VM's stage-2
 * tables recounted, and every stage-2 leaf checked against what it may map.
 *
 *   - A leaf lies inside one memslot and maps a live, aligned page.
 *   - A private leaf (the model's S2_PRIVATE marker) covers gfns whose
 *     attributes are all PRIVATE and maps the guest_memfd folio bound at
 *     that file index; a shared leaf covers no PRIVATE gfn and maps the pfn
 *     the host page tables hold at the slot's HVA, at least as large, and is
 *     writable only where the host entry is (unless an invalidation is in
 *     progress, which the model never leaves open between calls).
 *   - The leaf and table counters, NR_SECONDARY_PAGETABLE, the lpage_info
 *     MIXED flags of huge pages inside each slot, and guest_memfd bindings.
 */
import type { Host } from '../mm/host.js';
import { LEVEL_SPAN, Level, PAGE_SIZE } from '../mm/page.js';
import { type PageTable, Pte, type Walk, entryIsLeaf, staleChild, walk } from '../mm/pgtable.js';
import { VM, linearPageIndex } from '../mm/mm_types.js';
import { folioIsLongtermPinnable } from '../mm/gup.js';
import { gmemDeferredMergeHeads, gmemDesign } from '../kvm/guest_memfd.js';
import { KVM_LPAGE_MIXED_FLAG, type Kvm, type KvmGmem, PAGES_PER_LEVEL, gfnToHva, gfnToMemslot, kvmMemslotIsGmemOnly, kvmRangePrivacy, lpageIndex, vmList } from '../kvm/kvm_host.js';
import { PG, folioNrPages } from '../mm/folio.js';
import { ENTRY_PAGES, S2_PRIVATE } from '../kvm/mmu.js';
import { filemapGetFolio } from '../mm/filemap.js';
import type { Violation } from './oracle.js';

/** What the KVM rules report back to the oracle. */
export interface KvmCheckSink {
  /** A page the kernel holds a reference to (a stage-2 table page). */
  ref(f: number): void;
  push(v: Violation): void;
}

const $w: Walk = { table: null as never, idx: 0, level: Level.PTE, parent: null, pidx: 0 };

/** Check every VM; returns the stage-2 table pages found (NR_SECONDARY_PAGETABLE). */
export function checkKvm(host: Host, sink: KvmCheckSink): number {
  let tables = 0;
  for (const kvm of vmList(host)) tables += checkVm(host, kvm, sink);
  checkSplitOrphans(host, sink);
  return tables;
}

/**
 * A split HugeTLB page whose guest_memfd went while a piece was pinned (out
 * of every file, waiting for its merge) still has a piece with a reference
 * beyond the split page's: once the last one goes, the folio_put callback
 * merges it and frees it, so an idle one is a page lost to the pool.
 */
function checkSplitOrphans(host: Host, sink: KvmCheckSink): void {
  const ft = host.ft;
  for (const head of gmemDeferredMergeHeads(host)) {
    const sp = host.hugetlb.split.get(head);
    if (sp === undefined) {
      sink.push({ name: 'kvm-gmem-split-orphan-idle', message: `a split page waiting for its merge at pfn 0x${head.toString(16)} is not split`, pfn: head });
      continue;
    }
    const per = 2 ** sp.pieceOrder;
    let idle = true;
    for (let k = 0; k < sp.hstate.nrPages && idle; k += per) {
      const f = host.pfnFolio(head + k);
      idle = f !== 0 && ft.owner[f] === null && ft.refcount[f] === 1;
    }
    if (idle) sink.push({ name: 'kvm-gmem-split-orphan-idle', message: `the split ${sp.hstate.name} page at pfn 0x${head.toString(16)} is in no file and nothing but the split holds its pieces (it should have been merged and freed)`, pfn: head });
  }
}

function checkVm(host: Host, kvm: Kvm, sink: KvmCheckSink): number {
  const leaves = [0, 0, 0, 0];
  let tables = 0;
  const ft = host.ft;
  const visit = (t: PageTable, base: number): void => {
    tables++;
    if (!ft.isLive(t.folio)) sink.push({ name: 'kvm-s2-table-not-page', message: `VM ${kvm.id}: a stage-2 table sits on a free page` });
    else sink.ref(t.folio);
    let used = 0;
    const span = ENTRY_PAGES[t.level]!;
    for (let i = 0; i < 512; i++) {
      const fl = t.fl[i]!;
      if (staleChild(t, i)) sink.push({ name: 'kvm-s2-missing-table', message: `VM ${kvm.id}: a none or leaf entry still has a child table` });
      if (fl === 0) continue;
      used++;
      if (t.level === Level.PTE || fl & Pte.PSE) {
        leaves[t.level]!++;
        checkLeaf(host, kvm, sink, t.level, base + i * span, t.pfn[i]!, fl);
      } else {
        const c = t.kids![i];
        if (c === undefined) sink.push({ name: 'kvm-s2-missing-table', message: `VM ${kvm.id}: a non-leaf entry without its table` });
        else visit(c, base + i * span);
      }
    }
    if (used !== t.used) sink.push({ name: 'kvm-s2-used-mismatch', message: `VM ${kvm.id}: table used count ${t.used}, entries ${used}`, expected: used, actual: t.used });
  };
  visit(kvm.mmu.root, 0);
  const s = kvm.mmu.stats;
  if (tables !== s.tablePages) sink.push({ name: 'kvm-s2-tables-mismatch', message: `VM ${kvm.id}: ${s.tablePages} table pages counted, ${tables} found`, expected: tables, actual: s.tablePages });
  for (let l = 1; l <= 3; l++) {
    if (leaves[l] !== s.leaves[l]) sink.push({ name: 'kvm-s2-leaves-mismatch', message: `VM ${kvm.id}: ${s.leaves[l]} level-${l} leaves counted, ${leaves[l]} found`, expected: leaves[l], actual: s.leaves[l] });
  }
  if (kvm.mmu.invalidateInProgress !== 0) sink.push({ name: 'kvm-invalidate-unbalanced', message: `VM ${kvm.id}: mmu_invalidate_in_progress is ${kvm.mmu.invalidateInProgress} between calls`, actual: kvm.mmu.invalidateInProgress });
  checkMixed(kvm, sink);
  checkBindings(kvm, sink);
  for (const g of kvm.gmems) checkGmem(host, kvm, g, sink);
  return tables;
}

/** One stage-2 leaf at level mapping gfns [gfn, gfn + pages) to pfn. */
function checkLeaf(host: Host, kvm: Kvm, sink: KvmCheckSink, level: number, gfn: number, pfn: number, fl: number): void {
  const per = PAGES_PER_LEVEL[level]!;
  const where = `VM ${kvm.id} gpa 0x${(gfn * PAGE_SIZE).toString(16)}`;
  const slot = gfnToMemslot(kvm, gfn);
  if (slot === null || gfn + per > slot.endGfn) {
    sink.push({ name: 'kvm-s2-leaf-outside-memslot', message: `${where}: a level-${level} leaf is not inside one memslot`, pfn });
    return;
  }
  if (pfn % per !== 0) sink.push({ name: 'kvm-s2-leaf-misaligned', message: `${where}: a level-${level} leaf maps an unaligned pfn`, pfn });
  const f = host.pfnFolio(pfn);
  if (f === 0 || !host.ft.isLive(f)) {
    sink.push({ name: 'kvm-s2-leaf-free-page', message: `${where}: the leaf maps a page that is not allocated`, pfn });
    return;
  }
  const isPrivate = (fl & S2_PRIVATE) !== 0;
  const privacy = kvmRangePrivacy(kvm, slot, gfn, gfn + per);
  const attrsOk = isPrivate ? privacy === 'all' : privacy === 'none';
  if (!attrsOk) sink.push({ name: 'kvm-s2-attributes-mismatch', message: `${where}: a ${isPrivate ? 'private' : 'shared'} leaf covers gfns whose attributes ${isPrivate ? 'are not all PRIVATE' : 'include PRIVATE'}`, pfn });
  // Private leaves, and every leaf of a guest_memfd-only slot, map the file's page at the gfn's index.
  if (isPrivate || kvmMemslotIsGmemOnly(slot)) {
    const gmem = slot.gmem.file;
    const index = gfn - slot.baseGfn + slot.gmem.pgoff;
    const want = gmem === null ? 0 : filemapGetFolio(gmem.inode.mapping, index);
    const wantPfn = want === 0 ? -1 : host.ft.pfn[want]! + index - host.ft.index[want]!;
    if (want === 0 || wantPfn !== pfn) sink.push({ name: isPrivate ? 'kvm-s2-private-not-gmem' : 'kvm-s2-gmem-only-not-gmem', message: `${where}: a ${isPrivate ? 'private' : 'guest_memfd-only shared'} leaf does not map the guest_memfd folio at index ${index}`, pfn });
    else if (per > folioNrPages(host.ft, want)) sink.push({ name: 'kvm-s2-leaf-larger-than-folio', message: `${where}: a level-${level} leaf maps beyond its ${folioNrPages(host.ft, want)}-page guest_memfd folio`, pfn });
    return;
  }
  // 'separate-shared': a shared page is backed by the VMM's memory, never by guest_memfd.
  const g = slot.gmem.file;
  if (g !== null && gmemDesign(g) === 'separate-shared' && host.ft.owner[f] === g.inode.mapping) {
    sink.push({ name: 'kvm-gmem-shared-from-private-side', message: `${where}: a shared leaf maps guest_memfd memory under 'separate-shared'`, pfn });
  }
  if (kvm.mmReleased) {
    sink.push({ name: 'kvm-s2-leaf-after-release', message: `${where}: a shared leaf survived the mm's release`, pfn });
    return;
  }
  const hva = gfnToHva(slot, gfn);
  walk(kvm.mm.pgd, hva, $w);
  const hfl = $w.table.fl[$w.idx]!;
  const hostLeaf = $w.level === Level.PTE ? (hfl & Pte.PRESENT) !== 0 : (hfl & Pte.PRESENT) !== 0 && (hfl & Pte.PSE) !== 0;
  if (!hostLeaf) {
    sink.push({ name: 'kvm-s2-shared-stale', message: `${where}: a shared leaf maps HVA 0x${hva.toString(16)}, which the host does not map`, pfn });
    return;
  }
  const hostPer = PAGES_PER_LEVEL[$w.level]!;
  const hostPfn = $w.table.pfn[$w.idx]! + (Math.floor(hva / PAGE_SIZE) % hostPer);
  if (hostPfn !== pfn || hostPer < per) sink.push({ name: 'kvm-s2-shared-stale', message: `${where}: a level-${level} shared leaf maps pfn 0x${pfn.toString(16)}, the host maps pfn 0x${hostPfn.toString(16)} at level ${$w.level}`, pfn, expected: hostPfn, actual: pfn });
  if (fl & Pte.RW && !(hfl & Pte.RW)) sink.push({ name: 'kvm-s2-shared-writable', message: `${where}: a writable shared leaf over a read-only host entry`, pfn });
}

/** KVM_LPAGE_MIXED_FLAG agrees with the attributes of every huge page wholly inside a slot. */
function checkMixed(kvm: Kvm, sink: KvmCheckSink): void {
  if (!kvm.hasPrivateMem) return;
  for (const slot of kvm.allSlots()) {
    for (let level = 2; level <= 3; level++) {
      const per = PAGES_PER_LEVEL[level]!;
      let gfn = Math.ceil(slot.baseGfn / per) * per;
      for (; gfn + per <= slot.endGfn; gfn += per) {
        const mixed = kvm.privateGfns.overlaps(gfn, gfn + per) && !kvm.privateGfns.covers(gfn, gfn + per);
        const flag = (slot.lpageInfo[level - 2]![lpageIndex(slot, gfn, level)]! & KVM_LPAGE_MIXED_FLAG) !== 0;
        if (mixed !== flag) {
          sink.push({ name: 'kvm-lpage-mixed-mismatch', message: `VM ${kvm.id} slot ${slot.id}: the level-${level} huge page at gfn 0x${gfn.toString(16)} is ${mixed ? '' : 'not '}mixed, MIXED is ${flag ? 'set' : 'clear'}` });
          return;
        }
      }
    }
  }
}

/** guest_memfd bindings: each names a live slot of the VM that names the file back; no two overlap. */
function checkBindings(kvm: Kvm, sink: KvmCheckSink): void {
  for (const g of kvm.gmems) {
    const bs = [...g.bindings].sort((a, b) => a.start - b.start);
    for (let i = 0; i < bs.length; i++) {
      const b = bs[i]!;
      if (kvm.memslots[b.slot.asId]!.byId.get(b.slot.id) !== b.slot || b.slot.gmem.file !== g || b.end - b.start !== b.slot.npages || b.start !== b.slot.gmem.pgoff) {
        sink.push({ name: 'kvm-gmem-binding-stale', message: `VM ${kvm.id}: guest_memfd ino ${g.inode.ino} binds [${b.start}, ${b.end}) to a slot that does not match` });
      }
      if (i > 0 && bs[i - 1]!.end > b.start) sink.push({ name: 'kvm-gmem-binding-overlap', message: `VM ${kvm.id}: guest_memfd ino ${g.inode.ino} has overlapping bindings` });
    }
  }
  for (const s of kvm.allSlots()) {
    const g = s.gmem.file;
    if (g !== null && !g.bindings.some((b) => b.slot === s)) sink.push({ name: 'kvm-gmem-binding-stale', message: `VM ${kvm.id} slot ${s.id}: names a guest_memfd that does not bind it` });
  }
}

/**
 * One guest_memfd file: attributes inside the file; no host PTE maps a
 * private page; HugeTLB backing holds only whole pages of its hstate from its
 * own subpool (or the 4 KiB pieces of such a page, split exactly while its
 * range holds a shared page), and the subpool counts exactly those pages.
 */
function checkGmem(host: Host, kvm: Kvm, g: KvmGmem, sink: KvmCheckSink): void {
  const ft = host.ft;
  const size = g.inode.sizePages;
  const where = `VM ${kvm.id}: guest_memfd ino ${g.inode.ino}`;
  if (g.privateIdx.overlaps(size, Number.MAX_SAFE_INTEGER)) sink.push({ name: 'kvm-gmem-attributes-beyond-eof', message: `${where}: PRIVATE attributes beyond i_size (${size} pages)` });
  let huge = 0;
  const design = gmemDesign(g);
  checkGmemHostMappings(host, g, where, sink);
  if (design === 'no-longterm-pin' && g.inode.mapping.gupPolicy?.noLongtermHuge !== true) sink.push({ name: 'kvm-gmem-longterm-pinnable', message: `${where}: its mapping does not refuse long-term pins under 'no-longterm-pin'` });
  g.inode.mapping.pages.forEach(0, Number.MAX_SAFE_INTEGER, (index, _order, f) => {
    const nr = folioNrPages(ft, f);
    if (index + nr > size) sink.push({ name: 'kvm-gmem-folio-beyond-eof', message: `${where}: a folio at index ${index} beyond i_size`, pfn: ft.pfn[f] });
    if (g.hstate === null) {
      if (nr !== 1) sink.push({ name: 'kvm-gmem-folio-order', message: `${where}: a ${nr}-page folio in an order-0 guest_memfd`, pfn: ft.pfn[f] });
      return;
    }
    const h = g.hstate;
    const base = index - (index % h.nrPages);
    const shared = !g.privateIdx.covers(base, base + h.nrPages);
    if (ft.flags[f]! & PG.HUGETLB) {
      huge++;
      if (nr !== h.nrPages || host.hugetlb.folioSubpool.get(f) !== g.spool) sink.push({ name: 'kvm-gmem-hugetlb-folio', message: `${where}: the folio at index ${index} is not a ${h.name} page of the file's subpool`, pfn: ft.pfn[f] });
      // gmemHugeShared 'split': a whole huge folio only backs an all-private range.
      if (shared && design === 'split') sink.push({ name: 'kvm-gmem-split-mismatch', message: `${where}: the huge folio at index ${index} holds a shared page but is not split`, pfn: ft.pfn[f] });
      // 'no-longterm-pin': GUP must find the folio not long-term pinnable (so FOLL_LONGTERM is refused).
      if (design === 'no-longterm-pin' && folioIsLongtermPinnable(host, f)) sink.push({ name: 'kvm-gmem-longterm-pinnable', message: `${where}: the huge folio at index ${index} is long-term pinnable under 'no-longterm-pin'`, pfn: ft.pfn[f] });
      // 'pfnmap': the host mapping holds no mapcount, and so no reference either (the refcount recount checks those).
      if (design === 'pfnmap' && (ft.mapcount[f] !== -1 || ft.entire[f] !== -1)) sink.push({ name: 'kvm-gmem-pfnmap-counted', message: `${where}: the huge folio at index ${index} has a mapcount under 'pfnmap'`, pfn: ft.pfn[f] });
      // 'separate-shared': the private side of a shared page holds nothing (its contents were discarded).
      if (design === 'separate-shared' && shared) {
        forEachGap(g.privateIdx, index, index + nr, (a, b) => {
          if (!host.content.isZero(f, (a - index) * PAGE_SIZE, (b - a) * PAGE_SIZE)) sink.push({ name: 'kvm-gmem-private-side-not-discarded', message: `${where}: file pages [${a}, ${b}) are shared but guest_memfd still holds data for them`, pfn: ft.pfn[f] + a - index });
        });
      }
      return;
    }
    // The designs that keep the folio whole never split it.
    if (design !== 'split') {
      sink.push({ name: 'kvm-gmem-split-in-whole-design', message: `${where}: the folio at index ${index} is a piece of a split huge page under '${design}'`, pfn: ft.pfn[f] });
      return;
    }
    // A 4 KiB piece of a split page of this file's subpool, whose range holds a shared page.
    const headPfn = ft.pfn[f]! - (ft.pfn[f]! % h.nrPages);
    const sp = host.hugetlb.split.get(headPfn);
    if (sp === undefined || sp.hstate !== h || sp.spool !== g.spool || nr !== 1) {
      sink.push({ name: 'kvm-gmem-hugetlb-folio', message: `${where}: the folio at index ${index} is neither a ${h.name} page nor a piece of a split one of the file's subpool`, pfn: ft.pfn[f] });
      return;
    }
    if (index === base) {
      huge++;
      if (!shared) sink.push({ name: 'kvm-gmem-split-mismatch', message: `${where}: the huge page at index ${index} is split but all private (it should have merged)`, pfn: ft.pfn[f] });
      for (let k = 1; k < h.nrPages; k++) {
        const p = filemapGetFolio(g.inode.mapping, base + k);
        if (p === 0 || ft.pfn[p] !== headPfn + k) {
          sink.push({ name: 'kvm-gmem-split-mismatch', message: `${where}: piece ${k} of the split page at index ${base} is not in the file`, pfn: headPfn + k });
          break;
        }
      }
    }
  });
  if (g.hstate !== null && (g.spool === null || g.spool.usedHpages !== huge)) {
    sink.push({ name: 'kvm-gmem-subpool-mismatch', message: `${where}: its subpool counts ${g.spool?.usedHpages ?? 'no'} pages in use, the file holds ${huge}`, expected: huge, actual: g.spool?.usedHpages ?? -1 });
  }
}

/**
 * Every host entry that maps the file (through the VMAs of its i_mmap): it
 * maps a shared page only; at 4 KiB only where a HugeTLB folio stays whole;
 * under 'pfnmap' only as a special entry of a VM_PFNMAP VMA at the file's own
 * pfn (so it holds no reference), and never so under the other designs;
 * under 'separate-shared' not at all (nothing of guest_memfd is mappable).
 */
function checkGmemHostMappings(host: Host, g: KvmGmem, where: string, sink: KvmCheckSink): void {
  const ft = host.ft;
  const design = gmemDesign(g);
  for (const vma of g.inode.mapping.iMmap) {
    if (design === 'pfnmap' && !(vma.flags & VM.PFNMAP)) sink.push({ name: 'kvm-gmem-pfnmap-not-pfnmap', message: `${where}: a host mapping at 0x${vma.start.toString(16)} is not VM_PFNMAP under 'pfnmap'` });
    forEachLeaf(vma.mm.pgd, 0, vma.start, vma.end, (addr, level, fl, pfn) => {
      const index = linearPageIndex(vma, addr);
      const at = `${where}: the host entry at 0x${addr.toString(16)} (index ${index})`;
      if (design === 'separate-shared') {
        sink.push({ name: 'kvm-gmem-separate-host-mapped', message: `${at} maps guest_memfd under 'separate-shared'`, pfn });
        return;
      }
      if (g.privateIdx.overlaps(index, index + LEVEL_SPAN[level]! / PAGE_SIZE)) sink.push({ name: 'kvm-gmem-private-host-mapped', message: `${at} maps a PRIVATE page`, pfn });
      if (design !== null && design !== 'split' && level !== Level.PTE) sink.push({ name: 'kvm-gmem-huge-host-mapped', message: `${at} is a level-${level} entry; a whole huge folio maps at 4 KiB only`, pfn });
      const special = (fl & Pte.SPECIAL) !== 0;
      if (design === 'pfnmap' || special) {
        const f = filemapGetFolio(g.inode.mapping, index);
        const want = f === 0 ? -1 : ft.pfn[f]! + index - ft.index[f]!;
        if (design !== 'pfnmap' || !special || !(vma.flags & VM.PFNMAP) || pfn !== want) sink.push({ name: 'kvm-gmem-pfnmap-entry', message: `${at}: ${special ? 'a special' : 'a refcounted'} entry of pfn 0x${pfn.toString(16)} (the file's page is 0x${want.toString(16)}) under '${design}'`, pfn });
      }
    });
  }
}

/** Call fn for every present leaf of the page tables under t (whose first address is base) in [start, end). */
function forEachLeaf(t: PageTable, base: number, start: number, end: number, fn: (addr: number, level: number, fl: number, pfn: number) => void): void {
  const span = LEVEL_SPAN[t.level]!;
  const first = Math.max(0, Math.floor((start - base) / span));
  const last = Math.min(511, Math.floor((end - 1 - base) / span));
  for (let i = first; i <= last; i++) {
    const fl = t.fl[i]!;
    if (fl === 0) continue;
    if (entryIsLeaf(t.level, fl)) {
      if (fl & (Pte.PRESENT | Pte.PROTNONE)) fn(Math.max(base + i * span, start), t.level, fl, t.pfn[i]!);
    } else if (t.kids?.[i] !== undefined) forEachLeaf(t.kids[i]!, base + i * span, start, end, fn);
  }
}

/** Call fn for every maximal run of [lo, hi) outside set. */
function forEachGap(set: KvmGmem['privateIdx'], lo: number, hi: number, fn: (a: number, b: number) => void): void {
  let at = lo;
  set.forEach((a, b) => {
    if (a > at) fn(at, a);
    at = Math.max(at, b);
  }, lo, hi);
  if (at < hi) fn(at, hi);
}
