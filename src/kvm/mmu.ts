/**
 * The stage-2 MMU (mirrors arch/x86/kvm/mmu/mmu.c and tdp_mmu.c, the TDP MMU
 * path a default or SW_PROTECTED VM takes in 6.12): GPA -> host pfn tables
 * built on the host's page-table code (src/mm/pgtable.ts), faults that pick a
 * leaf level as kvm_mmu_max_mapping_level does, zaps, remote TLB flushes, the
 * MMU-notifier invalidation protocol (invalidate sequence, fault retry) and
 * the huge-page bookkeeping of memslots (lpage_info, KVM_LPAGE_MIXED_FLAG).
 *
 * A stage-2 leaf holds no page reference (KVM drops the one hva_to_pfn or
 * kvm_gmem_get_pfn gave it once the SPTE is set): MMU notifiers keep shared
 * leaves coherent with the host page tables, guest_memfd invalidation keeps
 * private leaves coherent with the file. Table pages are kernel pages counted
 * in NR_SECONDARY_PAGETABLE (SecPageTables), not in the user PageTables.
 *
 * Simplifications: one root, allocated with the VM (Linux allocates it at
 * the first kvm_mmu_load, on KVM_RUN or KVM_PRE_FAULT_MEMORY, so
 * SecPageTables shows its 4 KiB a little earlier than Linux does); no
 * obsolete roots ("zap all fast" frees the tree at once); no NX huge-page workaround, no dirty logging (dirty-logged
 * slots map 4K only, as Linux), no A/D-bit aging; a leaf's access bits are
 * PRESENT, RW (writable) and the model's S2_PRIVATE marker (the oracle's
 * witness; x86 has no such bit for SW_PROTECTED VMs).
 */
import { Ev } from '../cost/counters.js';
import type { Host } from '../mm/host.js';
import { Level, PAGE_SIZE } from '../mm/page.js';
import { GFP_KERNEL } from '../mm/page_alloc.js';
import { type PageTable, Pte, clearEntry, newPageTable } from '../mm/pgtable.js';
import { NodeStat } from '../mm/vmstat.js';
import type { MmuNotifierOps, MmuNotifierRange } from '../mm/mmu_notifier.js';
import { KVM_MEMORY_ATTRIBUTE_PRIVATE } from '../uapi/kvm.js';
import { KVM_LPAGE_MIXED_FLAG, type Kvm, type KvmMemorySlot, type KvmMmu, PAGES_PER_LEVEL, PgLevel, lpageIndex } from './kvm_host.js';

/** The model's stage-2 leaf marker for a private (guest_memfd) mapping. */
export const S2_PRIVATE = 1 << 20;
/** max_huge_page_level: 1 GiB with EPT/NPT. */
export const MAX_HUGE_PAGE_LEVEL = PgLevel.L1G;
/** Pages covered by one entry of a table at each level (a PGD entry: 512 GiB). */
export const ENTRY_PAGES = [0, 1, 512, 262144, 134217728];


// ---------------------------------------------------------------------------
// Table pages.

/** A stage-2 table page: a kernel page, counted as a secondary page table. */
// mirrors arch/x86/kvm/mmu/tdp_mmu.c:tdp_mmu_alloc_sp (kvm_account_pgtable_pages)
export function s2TableAlloc(host: Host, mmu: { stats: { tablePages: number } } | null, level: Level): PageTable | null {
  const f = host.folioAlloc(0, GFP_KERNEL);
  if (f === 0) return null;
  host.stat[NodeStat.NR_SECONDARY_PAGETABLE]++;
  if (mmu !== null) mmu.stats.tablePages++;
  // The struct kvm_mmu_page comes from a cache (mmu_page_header_cache); the page itself from the page allocator.
  const t = tableCache[level]!.pop();
  if (t === undefined) return newPageTable(level, f);
  t.folio = f;
  return t;
}

/**
 * Freed stage-2 table objects by level, reused by s2TableAlloc (the model's
 * kmem cache of kvm_mmu_page headers: a table page freed and another
 * allocated is the common case of splitting and re-promoting a huge leaf,
 * and three typed arrays a time were the conversion benchmark's GC load).
 * Only the JS objects are cached: the page goes back to the allocator.
 */
const tableCache: PageTable[][] = [[], [], [], [], []];
const TABLE_CACHE_MAX = 64;

function s2TableFree(host: Host, mmu: KvmMmu, t: PageTable): void {
  host.stat[NodeStat.NR_SECONDARY_PAGETABLE]--;
  mmu.stats.tablePages--;
  host.folioPut(t.folio);
  const cache = tableCache[t.level]!;
  if (cache.length >= TABLE_CACHE_MAX) return;
  // freeSubtree empties what it frees; anything else is cleared here.
  if (t.used !== 0) {
    t.fl.fill(0);
    t.pfn.fill(0);
    t.kids?.fill(undefined);
    t.used = 0;
  }
  t.deposit = null;
  cache.push(t);
}

/** A new, empty stage-2 MMU (its root table), or null without memory. */
// mirrors arch/x86/kvm/mmu/tdp_mmu.c:kvm_tdp_mmu_alloc_root
export function kvmMmuCreate(host: Host): KvmMmu | null {
  const root = s2TableAlloc(host, null, Level.PGD);
  if (root === null) return null;
  return {
    root,
    invalidateSeq: 0,
    invalidateInProgress: 0,
    invalidateRangeStart: -1,
    invalidateRangeEnd: -1,
    stats: { leaves: [0, 0, 0, 0], tablePages: 1, zaps: 0, tlbFlushes: 0, vcpuTlbFlushes: 0, faults: 0, faultRetries: 0, promotions: 0, eagerPromotions: 0 },
  };
}

/** Free a subtree (its leaves are counted as zapped). */
export function freeSubtree(host: Host, mmu: KvmMmu, t: PageTable): void {
  // Only the used entries (the table's count says how many: stop after the last).
  const flags = t.fl;
  for (let i = 0, left = t.used; i < 512 && left > 0; i++) {
    // Skip empty runs eight entries at a time: a re-promotion frees a table holding one entry.
    while (i < 504 && (flags[i]! | flags[i + 1]! | flags[i + 2]! | flags[i + 3]! | flags[i + 4]! | flags[i + 5]! | flags[i + 6]! | flags[i + 7]!) === 0) i += 8;
    const fl = flags[i]!;
    if (fl === 0) continue;
    left--;
    if (t.level === Level.PTE || fl & Pte.PSE) {
      mmu.stats.leaves[t.level]--;
      mmu.stats.zaps++;
      host.ev[Ev.SPTE_ZAP]++;
    } else {
      freeSubtree(host, mmu, t.kids![i]!);
      t.kids![i] = undefined;
    }
    // The table goes whole (no per-entry write is counted); emptied so its object can be reused.
    t.fl[i] = 0;
    t.pfn[i] = 0;
  }
  t.used = 0;
  s2TableFree(host, mmu, t);
}

// ---------------------------------------------------------------------------
// Zapping and flushing.

/** kvm_flush_remote_tlbs: every vCPU flushes its TLB (a request and an IPI each). */
// mirrors virt/kvm/kvm_main.c:kvm_flush_remote_tlbs
export function kvmFlushRemoteTlbs(kvm: Kvm): void {
  const s = kvm.mmu.stats;
  s.tlbFlushes++;
  s.vcpuTlbFlushes += kvm.vcpus.length;
}

/** Zap the leaves of gfns [start, end) under t (whose first gfn is base); true if any was present. */
function zapLeafs(host: Host, mmu: KvmMmu, t: PageTable, base: number, start: number, end: number): boolean {
  const span = ENTRY_PAGES[t.level]!;
  const first = Math.max(0, Math.floor((start - base) / span));
  const last = Math.min(511, Math.floor((end - 1 - base) / span));
  let flush = false;
  for (let i = first; i <= last; i++) {
    const fl = t.fl[i]!;
    if (fl === 0) continue;
    if (t.level === Level.PTE || fl & Pte.PSE) {
      clearEntry(host, t, i);
      mmu.stats.leaves[t.level]--;
      mmu.stats.zaps++;
      host.ev[Ev.SPTE_ZAP]++;
      flush = true;
    } else if (zapLeafs(host, mmu, t.kids![i]!, base + i * span, start, end)) {
      flush = true;
    }
  }
  return flush;
}

/** Zap every leaf mapping gfns [start, end); the caller flushes if it returns true. */
// mirrors arch/x86/kvm/mmu/mmu.c:kvm_unmap_gfn_range (-> kvm_tdp_mmu_unmap_gfn_range: leaf SPTEs only)
export function kvmUnmapGfnRange(kvm: Kvm, start: number, end: number): boolean {
  if (end <= start) return false;
  return zapLeafs(kvm.host, kvm.mmu, kvm.mmu.root, 0, start, end);
}

/** Zap everything (slot deletion with the SLOT_ZAP_ALL quirk, the mm's release): the tree goes, the root stays. */
// mirrors arch/x86/kvm/mmu/mmu.c:kvm_mmu_zap_all_fast (the obsolete root is freed at once)
export function kvmMmuZapAll(kvm: Kvm): void {
  const { host, mmu } = kvm;
  const root = mmu.root;
  let any = false;
  for (let i = 0; i < 512; i++) {
    if (root.fl[i] === 0) continue;
    freeSubtree(host, mmu, root.kids![i]!);
    root.kids![i] = undefined;
    clearEntry(host, root, i);
    any = true;
  }
  if (any) kvmFlushRemoteTlbs(kvm);
}

/** Free every stage-2 table (VM destruction). */
// mirrors arch/x86/kvm/mmu/tdp_mmu.c:kvm_mmu_uninit_tdp_mmu (after the roots are put)
export function kvmMmuDestroy(kvm: Kvm): void {
  kvmMmuZapAll(kvm);
  s2TableFree(kvm.host, kvm.mmu, kvm.mmu.root);
}

// ---------------------------------------------------------------------------
// The invalidation protocol.

// mirrors virt/kvm/kvm_main.c:kvm_mmu_invalidate_begin
export function kvmMmuInvalidateBegin(kvm: Kvm): void {
  const m = kvm.mmu;
  m.invalidateInProgress++;
  if (m.invalidateInProgress === 1) {
    m.invalidateRangeStart = -1;
    m.invalidateRangeEnd = -1;
  }
}

// mirrors virt/kvm/kvm_main.c:kvm_mmu_invalidate_range_add
export function kvmMmuInvalidateRangeAdd(kvm: Kvm, start: number, end: number): void {
  const m = kvm.mmu;
  if (m.invalidateRangeStart < 0) {
    m.invalidateRangeStart = start;
    m.invalidateRangeEnd = end;
  } else {
    m.invalidateRangeStart = Math.min(m.invalidateRangeStart, start);
    m.invalidateRangeEnd = Math.max(m.invalidateRangeEnd, end);
  }
}

// mirrors virt/kvm/kvm_main.c:kvm_mmu_invalidate_end
export function kvmMmuInvalidateEnd(kvm: Kvm): void {
  const m = kvm.mmu;
  m.invalidateSeq++;
  m.invalidateInProgress--;
}

/** An invalidation in progress covers gfn, or one finished since seq was read: the fault must retry. */
// mirrors include/linux/kvm_host.h:mmu_invalidate_retry_gfn
export function mmuInvalidateRetryGfn(kvm: Kvm, seq: number, gfn: number): boolean {
  const m = kvm.mmu;
  if (m.invalidateInProgress > 0 && (m.invalidateRangeStart < 0 || (gfn >= m.invalidateRangeStart && gfn < m.invalidateRangeEnd))) return true;
  return m.invalidateSeq !== seq;
}

/**
 * The gfn range of slot s that HVAs [start, end) cover (hva_to_gfn_memslot,
 * the end rounded up to a whole page), in $gfns; false if they miss the slot.
 */
// mirrors virt/kvm/kvm_main.c:__kvm_handle_hva_range (the gfn range of one slot, by hva_to_gfn_memslot)
function hvaToGfnRange(s: KvmMemorySlot, start: number, end: number): boolean {
  const hs = s.userspaceAddr;
  const a = Math.max(start, hs);
  const b = Math.min(end, hs + s.npages * PAGE_SIZE);
  if (a >= b) return false;
  $gfns.start = s.baseGfn + Math.floor((a - hs) / PAGE_SIZE);
  $gfns.end = s.baseGfn + Math.ceil((b - hs) / PAGE_SIZE);
  return true;
}
/** hvaToGfnRange's answer (one reused object: every host unmap of a VMM mapping comes here). */
const $gfns = { start: 0, end: 0 };

/** Does any slot's HVA range overlap [start, end)? */
function hvaInAnySlot(kvm: Kvm, start: number, end: number): boolean {
  for (const as of kvm.memslots) for (const s of as.byGfn) if (hvaToGfnRange(s, start, end)) return true;
  return false;
}

/**
 * KVM's mmu_notifier_ops on kvm->mm: invalidations zap the shared leaves of
 * the HVA range and hold faults off until the matching end; release (the mm
 * exits) zaps everything.
 */
// mirrors virt/kvm/kvm_main.c:kvm_mmu_notifier_ops
export function kvmMmuNotifierOps(kvm: Kvm): MmuNotifierOps {
  return {
    // mirrors virt/kvm/kvm_main.c:kvm_mmu_notifier_invalidate_range_start
    invalidateRangeStart(range: MmuNotifierRange): void {
      let found = false;
      let flush = false;
      // Slots of both address spaces, address space 0 first (kvm_for_each_memslot_in_hva_range per as_id);
      // the invalidation begins at the first slot the range hits (the on_lock callback).
      for (const as of kvm.memslots) {
        for (const s of as.byGfn) {
          if (!hvaToGfnRange(s, range.start, range.end)) continue;
          if (!found) {
            found = true;
            kvmMmuInvalidateBegin(kvm);
          }
          kvmMmuInvalidateRangeAdd(kvm, $gfns.start, $gfns.end);
          // Only roots of the slot's address space (the model has no SMM root).
          if (s.asId === 0 && kvmUnmapGfnRange(kvm, $gfns.start, $gfns.end)) flush = true;
        }
      }
      if (flush) kvmFlushRemoteTlbs(kvm);
    },
    // mirrors virt/kvm/kvm_main.c:kvm_mmu_notifier_invalidate_range_end
    invalidateRangeEnd(range: MmuNotifierRange): void {
      if (!hvaInAnySlot(kvm, range.start, range.end)) return;
      kvmMmuInvalidateEnd(kvm);
    },
    // mirrors virt/kvm/kvm_main.c:kvm_mmu_notifier_release (-> kvm_flush_shadow_all)
    release(): void {
      kvm.mmReleased = true;
      kvmMmuZapAll(kvm);
    },
  };
}

// ---------------------------------------------------------------------------
// Huge-page bookkeeping of memslots.

/**
 * lpage_info at slot creation: the partial huge pages at the slot's head and
 * tail are disallowed; if base_gfn and userspace_addr are not congruent
 * modulo a huge page, that level is disallowed for the whole slot.
 */
// mirrors arch/x86/kvm/x86.c:kvm_alloc_memslot_metadata (the lpage_info part)
export function kvmAllocMemslotMetadata(slot: KvmMemorySlot): void {
  const ugfn = slot.userspaceAddr / PAGE_SIZE;
  for (let level = PgLevel.L2M; level <= PgLevel.L1G; level++) {
    const info = slot.lpageInfo[level - 2]!;
    const per = PAGES_PER_LEVEL[level];
    const n = info.length;
    if (slot.baseGfn % per !== 0) info[0]!++;
    if ((slot.baseGfn + slot.npages) % per !== 0) info[n - 1]!++;
    if (slot.baseGfn % per !== ugfn % per) for (let j = 0; j < n; j++) info[j]!++;
  }
}

export function hugepageTestMixed(slot: KvmMemorySlot, gfn: number, level: PgLevel): boolean {
  return (slot.lpageInfo[level - 2]![lpageIndex(slot, gfn, level)]! & KVM_LPAGE_MIXED_FLAG) !== 0;
}

function hugepageSetMixed(slot: KvmMemorySlot, gfn: number, level: PgLevel, on: boolean): void {
  const info = slot.lpageInfo[level - 2]!;
  const i = lpageIndex(slot, gfn, level);
  info[i] = on ? (info[i]! | KVM_LPAGE_MIXED_FLAG) >>> 0 : (info[i]! & ~KVM_LPAGE_MIXED_FLAG) >>> 0;
}

/** The attributes of gfn (PRIVATE or 0). */
function gfnAttrs(kvm: Kvm, gfn: number): number {
  return kvm.privateGfns.has(gfn) ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0;
}

/** Every gfn of [start, end) has attrs (kvm_range_has_memory_attributes with mask ~0). */
// mirrors virt/kvm/kvm_main.c:kvm_range_has_memory_attributes
export function kvmRangeHasMemoryAttributes(kvm: Kvm, start: number, end: number, attrs: number): boolean {
  return attrs === KVM_MEMORY_ATTRIBUTE_PRIVATE ? kvm.privateGfns.covers(start, end) : attrs === 0 && !kvm.privateGfns.overlaps(start, end);
}

// mirrors arch/x86/kvm/mmu/mmu.c:hugepage_has_attrs
function hugepageHasAttrs(kvm: Kvm, slot: KvmMemorySlot, gfn: number, level: PgLevel, attrs: number): boolean {
  const per = PAGES_PER_LEVEL[level];
  if (level === PgLevel.L2M) return kvmRangeHasMemoryAttributes(kvm, gfn, gfn + per, attrs);
  for (let g = gfn; g < gfn + per; g += PAGES_PER_LEVEL[level - 1]!) {
    if (hugepageTestMixed(slot, g, level - 1) || attrs !== gfnAttrs(kvm, g)) return false;
  }
  return true;
}

/** Recompute MIXED for the huge pages [start, end) touches after its attributes became attrs. */
// mirrors arch/x86/kvm/mmu/mmu.c:kvm_arch_post_set_memory_attributes
export function kvmArchPostSetMemoryAttributes(kvm: Kvm, slot: KvmMemorySlot, start: number, end: number, attrs: number): void {
  const slotEnd = slot.endGfn;
  for (let level = PgLevel.L2M; level <= MAX_HUGE_PAGE_LEVEL; level++) {
    const per = PAGES_PER_LEVEL[level];
    let gfn = Math.floor(start / per) * per;
    // The head huge page, when it straddles the range and lies inside the slot.
    if (gfn !== start || gfn + per > end) {
      if (gfn >= slot.baseGfn && gfn + per <= slotEnd) hugepageSetMixed(slot, gfn, level, !hugepageHasAttrs(kvm, slot, gfn, level, attrs));
      gfn += per;
    }
    // Huge pages inside the range hold only the new attributes.
    for (; gfn + per <= end; gfn += per) hugepageSetMixed(slot, gfn, level, false);
    // The tail huge page.
    if (gfn < end && gfn + per <= slotEnd) hugepageSetMixed(slot, gfn, level, !hugepageHasAttrs(kvm, slot, gfn, level, attrs));
  }
}

/** MIXED for every huge page wholly inside a new slot. */
// mirrors arch/x86/kvm/mmu/mmu.c:kvm_mmu_init_memslot_memory_attributes
export function kvmMmuInitMemslotMemoryAttributes(kvm: Kvm, slot: KvmMemorySlot): void {
  // v8 in-place conversion: no per-VM attributes (CONFIG_KVM_VM_MEMORY_ATTRIBUTES off), so no MIXED flags to compute.
  if (!kvm.hasPrivateMem || kvm.cfg.inPlaceConversion) return;
  for (let level = PgLevel.L2M; level <= MAX_HUGE_PAGE_LEVEL; level++) {
    const per = PAGES_PER_LEVEL[level];
    const end = Math.floor(slot.endGfn / per) * per;
    let start = Math.floor(slot.baseGfn / per) * per;
    if (start < slot.baseGfn) start += per;
    for (let gfn = start; gfn < end; gfn += per) hugepageSetMixed(slot, gfn, level, !hugepageHasAttrs(kvm, slot, gfn, level, gfnAttrs(kvm, gfn)));
  }
}

/**
 * Before attributes of [start, end) change in slot: the huge pages around the
 * range join the invalidation, and the mappings with the old attribute go.
 */
// mirrors arch/x86/kvm/mmu/mmu.c:kvm_arch_pre_set_memory_attributes
export function kvmArchPreSetMemoryAttributes(kvm: Kvm, slot: KvmMemorySlot, start: number, end: number): boolean {
  for (let level = PgLevel.L2M; level <= MAX_HUGE_PAGE_LEVEL; level++) {
    const per = PAGES_PER_LEVEL[level];
    const s = Math.floor(start / per) * per;
    const e = Math.floor((end - 1) / per) * per;
    if ((s !== start || s + per > end) && s >= slot.baseGfn && s + per <= slot.endGfn && !hugepageTestMixed(slot, s, level)) kvmMmuInvalidateRangeAdd(kvm, s, s + per);
    if (e === s) continue;
    if (e + per > end && e + per <= slot.endGfn && !hugepageTestMixed(slot, e, level)) kvmMmuInvalidateRangeAdd(kvm, e, e + per);
  }
  return slot.asId === 0 && kvmUnmapGfnRange(kvm, start, end);
}

// ---------------------------------------------------------------------------
// Faults.
