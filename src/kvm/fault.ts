/**
 * The stage-2 fault path (mirrors arch/x86/kvm/mmu/mmu.c kvm_tdp_page_fault
 * and arch/x86/kvm/mmu/tdp_mmu.c kvm_tdp_mmu_map): gfn -> memslot; private
 * gfns -> the guest_memfd folio (kvm_gmem_get_pfn); shared gfns -> the host
 * page at the slot's HVA, faulted in and referenced as hva_to_pfn does with
 * GUP; the leaf level from kvm_mmu_max_mapping_level; the reference dropped
 * once the leaf is set. An invalidation that ran since the fault read the
 * sequence makes it retry.
 */
import { modPow2 } from '../lib/pow2.js';
import { Ev } from '../cost/counters.js';
import { FOLL, getUserPages, getUserPagesFastOnly, putPage } from '../mm/gup.js';
import type { MmStruct } from '../mm/mm_types.js';
import { Level, PAGE_SIZE } from '../mm/page.js';
import { type PageTable, Pte, type Walk, clearEntry, entryIsLeaf, linkChild, setEntry, walk } from '../mm/pgtable.js';
import { filemapGetFolio } from '../mm/filemap.js';
import { PG, folioNrPages } from '../mm/folio.js';
import { KVM_EXIT_MEMORY_FAULT, KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY, KVM_MEMORY_EXIT_FLAG_PRIVATE } from '../uapi/kvm.js';
import { errno } from '../uapi/errno.js';
import { type Kvm, type KvmGmem, type KvmMemorySlot, type KvmVcpu, PAGES_PER_LEVEL, PgLevel, gfnToHva, gfnToMemslot, kvmMemIsPrivate, kvmMemslotIsGmemOnly, kvmRangePrivacy, kvmSlotCanBePrivate, lpageIndex } from './kvm_host.js';
import { ENTRY_PAGES, MAX_HUGE_PAGE_LEVEL, S2_PRIVATE, freeSubtree, kvmFlushRemoteTlbs, mmuInvalidateRetryGfn, s2TableAlloc } from './mmu.js';
import { kvmGmemGetPfn } from './guest_memfd.js';

/** Results of a stage-2 fault, as the kernel's RET_PF_* (a negative value is -errno for KVM_RUN). */
export const enum RetPf {
  CONTINUE = 0,
  RETRY = 1,
  EMULATE = 2,
  FIXED = 4,
}

const $w: Walk = { table: null as never, idx: 0, level: Level.PTE, parent: null, pidx: 0 };

/** The level the host maps hva at in mm: 1 GiB for a PUD leaf, 2 MiB for a PMD leaf, else 4 KiB. */
// mirrors arch/x86/kvm/mmu/mmu.c:host_pfn_mapping_level
function hostPfnMappingLevel(mm: MmStruct, hva: number): PgLevel {
  walk(mm.pgd, hva, $w);
  const fl = $w.table.fl[$w.idx]!;
  if ($w.level === Level.PTE || !(fl & Pte.PRESENT) || !(fl & Pte.PSE)) return PgLevel.L4K;
  return $w.level === Level.PUD ? PgLevel.L1G : PgLevel.L2M;
}

// mirrors arch/x86/kvm/mmu/mmu.c:__kvm_mmu_max_mapping_level
function kvmMmuMaxMappingLevel(kvm: Kvm, slot: KvmMemorySlot, gfn: number, maxLevel: PgLevel, isPrivate: boolean): PgLevel {
  maxLevel = Math.min(maxLevel, MAX_HUGE_PAGE_LEVEL) as PgLevel;
  for (; maxLevel > PgLevel.L4K; maxLevel--) {
    // v8: MIXED is not kept per VM; the guest_memfd's attributes must be uniform over the huge page.
    // (Asked before lpage_info: both only read, and the attributes are a few extents where the
    // 2 MiB lpage_info of a large slot is a cold read, a cache miss per fault beside a shared page.)
    if (kvm.cfg.inPlaceConversion) {
      const per = PAGES_PER_LEVEL[maxLevel];
      const base = gfn - modPow2(gfn, per);
      if (kvmRangePrivacy(kvm, slot, base, base + per) === 'mixed') continue;
    }
    if (slot.lpageInfo[maxLevel - 2]![lpageIndex(slot, gfn, maxLevel)] !== 0) continue;
    break;
  }
  if (isPrivate || maxLevel === PgLevel.L4K || kvmMemslotIsGmemOnly(slot)) return maxLevel;
  return Math.min(hostPfnMappingLevel(kvm.mm, gfnToHva(slot, gfn)), maxLevel) as PgLevel;
}

/** The level the last FIXED fault mapped at (kvm_page_fault.goal_level, for KVM_PRE_FAULT_MEMORY). */
export const $lastFault = { level: PgLevel.L4K as number };

/** What a stage-2 fault resolved to: the pfn, whether it may be mapped writable, the largest level. */
interface Fault {
  gfn: number;
  write: boolean;
  isPrivate: boolean;
  slot: KvmMemorySlot | null;
  pfn: number;
  writable: boolean;
  maxLevel: PgLevel;
  /** The shared page's GUP reference, released once the leaf is set. */
  refPfn: number;
  /** The guest_memfd folio's reference (kvm_gmem_get_pfn's), released once the leaf is set. */
  gmemFolio: number;
}

/** KVM_EXIT_MEMORY_FAULT for the faulting page. */
// mirrors arch/x86/kvm/mmu/mmu.c:kvm_mmu_prepare_memory_fault_exit
function prepareMemoryFaultExit(vcpu: KvmVcpu, f: Fault): void {
  const run = vcpu.run;
  run.exit_reason = KVM_EXIT_MEMORY_FAULT;
  run.memory_fault = { flags: f.isPrivate ? KVM_MEMORY_EXIT_FLAG_PRIVATE : 0, gpa: f.gfn * PAGE_SIZE, size: PAGE_SIZE };
}

const $pages: number[] = [0];

/** hva_to_pfn: a referenced page for the slot's HVA, faulted in like GUP. */
// mirrors virt/kvm/kvm_main.c:hva_to_pfn (hva_to_pfn_fast, then hva_to_pfn_slow)
function hvaToPfn(kvm: Kvm, f: Fault): number {
  if (f.slot!.flags & KVM_MEM_READONLY && f.write) return RetPf.EMULATE;
  const hva = gfnToHva(f.slot!, f.gfn);
  // (GUP writes pages[0]; the one array serves every fault, read only when a page came back.)
  const pages = $pages;
  const ro = (f.slot!.flags & KVM_MEM_READONLY) !== 0;
  // The fast path asks for a writable page even on a read, so a writable host PTE maps writable.
  if (!ro && getUserPagesFastOnly(kvm.host, kvm.mm, hva, 1, FOLL.WRITE, pages) === 1) {
    f.writable = true;
  } else {
    const n = getUserPages(kvm.host, kvm.mm, hva, 1, (f.write ? FOLL.WRITE : 0) | FOLL.HWPOISON, pages);
    if (n !== 1) return n === -errno.EHWPOISON ? -errno.EHWPOISON : -errno.EFAULT;
    f.writable = f.write && !ro;
  }
  f.pfn = pages[0]!;
  f.refPfn = f.pfn;
  return RetPf.CONTINUE;
}

/**
 * Install a leaf for f at level, allocating tables; a huge leaf above it is
 * zapped first, a table at it (smaller leaves) is replaced (re-promotion).
 */
// mirrors arch/x86/kvm/mmu/tdp_mmu.c:kvm_tdp_mmu_map
function tdpMmuMap(kvm: Kvm, f: Fault, level: PgLevel): number {
  const { host, mmu } = kvm;
  const gpa = f.gfn * PAGE_SIZE;
  let t = mmu.root;
  while (t.level > level) {
    const i = indexAt(gpa, t.level);
    const fl = t.fl[i]!;
    if (fl !== 0 && fl & Pte.PSE) {
      // A huge leaf above the goal: zap it, then build the table below.
      clearEntry(host, t, i);
      mmu.stats.leaves[t.level]--;
      mmu.stats.zaps++;
      host.ev[Ev.SPTE_ZAP]++;
      kvmFlushRemoteTlbs(kvm);
    }
    if (t.fl[i] === 0) {
      const c = s2TableAlloc(host, mmu, (t.level - 1) as Level);
      if (c === null) return -errno.ENOMEM;
      linkChild(host, t, i, c);
    }
    t = t.kids![i]!;
  }
  const i = indexAt(gpa, level);
  const old = t.fl[i]!;
  if (old !== 0 && level > PgLevel.L4K && !(old & Pte.PSE)) {
    // A table of smaller leaves where the huge leaf goes: it is removed whole.
    freeSubtree(host, mmu, t.kids![i]!);
    t.kids![i] = undefined;
    clearEntry(host, t, i);
    mmu.stats.promotions++;
    kvmFlushRemoteTlbs(kvm);
  } else if (old !== 0) {
    mmu.stats.leaves[level]--;
  }
  const per = PAGES_PER_LEVEL[level];
  const pfn = f.pfn - modPow2(f.pfn, per);
  let bits = Pte.PRESENT | Pte.ACCESSED | Pte.USER;
  if (f.writable) bits |= Pte.RW | Pte.DIRTY;
  if (level > PgLevel.L4K) bits |= Pte.PSE;
  if (f.isPrivate) bits |= S2_PRIVATE;
  setEntry(host, t, i, pfn, bits);
  mmu.stats.leaves[level]++;
  $lastFault.level = level;
  return RetPf.FIXED;
}

function indexAt(gpa: number, level: number): number {
  const gfn = Math.floor(gpa / PAGE_SIZE);
  return modPow2(Math.floor(gfn / ENTRY_PAGES[level]!), 512);
}

/**
 * A stage-2 fault at gfn: returns RetPf.FIXED (mapped; the access retries),
 * RETRY (an invalidation raced), EMULATE (no memslot: MMIO), or -errno, with
 * vcpu.run holding KVM_EXIT_MEMORY_FAULT where Linux fills it.
 */
// mirrors arch/x86/kvm/mmu/mmu.c:kvm_tdp_page_fault (-> kvm_faultin_pfn, kvm_tdp_mmu_map)
export function kvmTdpPageFault(vcpu: KvmVcpu, gfn: number, write: boolean, accessPrivate?: boolean): number {
  // Begin and finish back to back: the fault's record is the reused one (nothing can fault in between).
  const b = faultBegin(vcpu, gfn, write, accessPrivate, $pending);
  return typeof b === 'number' ? b : kvmTdpPageFaultFinish(b);
}

/** A fault record, blank (faultBegin fills every field). */
function newPending(vcpu: KvmVcpu): { vcpu: KvmVcpu; f: Fault; seq: number } {
  return { vcpu, f: { gfn: 0, write: false, isPrivate: false, slot: null, pfn: -1, writable: false, maxLevel: MAX_HUGE_PAGE_LEVEL, refPfn: -1, gmemFolio: 0 }, seq: 0 };
}
/** The record of kvmTdpPageFault's fault (struct kvm_page_fault lives on the kernel stack; here, one reused object). */
const $pending = newPending(null as unknown as KvmVcpu);

/**
 * A stage-2 fault stopped where Linux drops mmu_lock's protection: the
 * invalidate sequence read and the pfn resolved (its reference held), the
 * leaf not yet set. `foliosim explore` runs other operations here (a collapse
 * during a vCPU fault); the finish then retries if an invalidation ran.
 */
export interface PendingTdpFault {
  readonly vcpu: KvmVcpu;
  readonly f: Fault;
  readonly seq: number;
}

/** The first half of kvmTdpPageFault: a result (no leaf to set), or the fault to finish. */
// mirrors arch/x86/kvm/mmu/mmu.c:kvm_tdp_page_fault up to kvm_faultin_pfn
export function kvmTdpPageFaultBegin(vcpu: KvmVcpu, gfn: number, write: boolean, accessPrivate?: boolean): number | PendingTdpFault {
  return faultBegin(vcpu, gfn, write, accessPrivate, newPending(vcpu));
}

/** kvmTdpPageFaultBegin, filling `into` (its fault record) rather than allocating one. */
// mirrors arch/x86/kvm/mmu/mmu.c:kvm_tdp_page_fault up to kvm_faultin_pfn (struct kvm_page_fault filled in place)
function faultBegin(vcpu: KvmVcpu, gfn: number, write: boolean, accessPrivate: boolean | undefined, into: { vcpu: KvmVcpu; f: Fault; seq: number }): number | PendingTdpFault {
  const kvm = vcpu.kvm;
  const mmu = kvm.mmu;
  mmu.stats.faults++;
  const slot = gfnToMemslot(kvm, gfn);
  const memPrivate = kvmMemIsPrivate(kvm, gfn);
  // SNP/TDX: the fault's privacy is the hardware's (the access's C-bit / shared bit); else the attribute.
  const isPrivate = kvm.privacyFromHardware && accessPrivate !== undefined ? accessPrivate : memPrivate;
  const f = into.f;
  f.gfn = gfn;
  f.write = write;
  f.isPrivate = isPrivate;
  f.slot = slot;
  f.pfn = -1;
  f.writable = false;
  f.maxLevel = MAX_HUGE_PAGE_LEVEL;
  f.refPfn = -1;
  f.gmemFolio = 0;
  const seq = mmu.invalidateSeq;
  if (slot === null) {
    // kvm_handle_noslot_fault: a private access cannot be emulated MMIO.
    if (f.isPrivate) {
      prepareMemoryFaultExit(vcpu, f);
      return -errno.EFAULT;
    }
    return RetPf.EMULATE;
  }
  if (mmuInvalidateRetryGfn(kvm, seq, gfn) && mmu.invalidateInProgress > 0) {
    mmu.stats.faultRetries++;
    return RetPf.RETRY;
  }
  // kvm_faultin_pfn: a fault whose privacy differs from the attributes exits to userspace to convert.
  if (isPrivate !== memPrivate) {
    prepareMemoryFaultExit(vcpu, f);
    return -errno.EFAULT;
  }
  let r: number;
  if (f.isPrivate || kvmMemslotIsGmemOnly(slot)) {
    // kvm_mmu_faultin_pfn_gmem: private faults, and every fault of a guest_memfd-only slot.
    if (!kvmSlotCanBePrivate(slot)) {
      prepareMemoryFaultExit(vcpu, f);
      return -errno.EFAULT;
    }
    const g = kvmGmemGetPfn(kvm, slot, gfn);
    if (g.err !== 0) {
      prepareMemoryFaultExit(vcpu, f);
      return -g.err;
    }
    f.pfn = g.pfn;
    f.writable = !(slot.flags & KVM_MEM_READONLY);
    // kvm_max_private_mapping_level: the folio's order (0 in 6.12 and mainline; a HugeTLB page's with RFC v2).
    f.maxLevel = g.maxOrder >= 18 ? PgLevel.L1G : g.maxOrder >= 9 ? PgLevel.L2M : PgLevel.L4K;
    // x86 maps huge only where the gfn and the file index agree modulo the huge page (RFC v2).
    while (f.maxLevel > PgLevel.L4K && (slot.baseGfn - slot.gmem.pgoff) % PAGES_PER_LEVEL[f.maxLevel] !== 0) f.maxLevel--;
    r = RetPf.CONTINUE;
    // kvm_gmem_get_pfn's reference is dropped once the SPTE is set.
    f.gmemFolio = g.folio;
  } else {
    r = hvaToPfn(kvm, f);
    if (r !== RetPf.CONTINUE) return r;
  }
  into.vcpu = vcpu;
  into.seq = seq;
  return into;
}

/** The second half: the staleness check, then the leaf; the references taken by the first half are dropped. */
// mirrors arch/x86/kvm/mmu/mmu.c:kvm_tdp_page_fault from is_page_fault_stale
export function kvmTdpPageFaultFinish(pending: PendingTdpFault): number {
  const { vcpu, f, seq } = pending;
  const kvm = vcpu.kvm;
  const mmu = kvm.mmu;
  const gfn = f.gfn;
  const slot = f.slot!;
  try {
    // is_page_fault_stale: an invalidation ran since the snapshot.
    if (mmuInvalidateRetryGfn(kvm, seq, gfn) || kvm.mmReleased) {
      mmu.stats.faultRetries++;
      return RetPf.RETRY;
    }
    // kvm_mmu_hugepage_adjust: dirty-logged slots map 4K only.
    let level = PgLevel.L4K;
    if (f.maxLevel > PgLevel.L4K && !(slot.flags & KVM_MEM_LOG_DIRTY_PAGES)) level = kvmMmuMaxMappingLevel(kvm, slot, gfn, f.maxLevel, f.isPrivate);
    if (kvm.host.trace !== null) {
      // The pfn is the goal level's aligned pfn with the gfn's offset in it, as the tracepoint rebuilds it.
      const per = PAGES_PER_LEVEL[level];
      const pfn = f.pfn - modPow2(f.pfn, per) + modPow2(gfn, per);
      kvm.host.trace('kvm_mmu_spte_requested', `gfn ${gfn.toString(16)} pfn ${pfn.toString(16)} level ${level}`);
    }
    return tdpMmuMap(kvm, f, level);
  } finally {
    if (f.refPfn >= 0) putPage(kvm.host, f.refPfn);
    if (f.gmemFolio !== 0) kvm.host.folioPut(f.gmemFolio);
  }
}

/**
 * The error code an AMD nested page fault reports for the access that
 * kvmS2Translate just refused (exit_info_1, as npf_interception passes it to
 * trace_kvm_page_fault):
 * - P (bit 0) if a leaf was there but refused the access;
 * - W (bit 1) for a write;
 * - U (bit 2): nested walks are user accesses;
 * - GUEST_FINAL (bit 32): the fault was on the final GPA.
 *
 * For a private access of a VM whose hardware carries privacy, it adds
 * GUEST_ENC (bit 34) and KVM's own PFERR_PRIVATE_ACCESS (bit 49), which
 * npf_interception sets before the trace. Model: the SVM form, for every VM type.
 */
// mirrors arch/x86/kvm/svm/svm.c:npf_interception (the error code it traces)
export function kvmNpfErrorCode(kvm: Kvm, write: boolean, accessPrivate: boolean | undefined): number {
  const fl = $w.table.fl[$w.idx]!;
  let code = 4 + 2 ** 32;
  if (entryIsLeaf($w.level, fl) && fl & Pte.PRESENT) code += 1;
  if (write) code += 2;
  if (accessPrivate === true && kvm.privacyFromHardware) code += 2 ** 34 + 2 ** 49;
  return code;
}

/**
 * The stage-2 translation of gfn for an access: the host pfn, or -1 if the
 * walk finds no leaf (or a read-only one for a write): a fault.
 */
export function kvmS2Translate(kvm: Kvm, gfn: number, write: boolean, accessPrivate?: boolean): number {
  walk(kvm.mmu.root, gfn * PAGE_SIZE, $w);
  const fl = $w.table.fl[$w.idx]!;
  const leaf = $w.level === Level.PTE ? fl !== 0 : (fl & Pte.PSE) !== 0;
  if (!leaf || !(fl & Pte.PRESENT) || (write && !(fl & Pte.RW))) return -1;
  // SNP/TDX: a private access through a shared mapping (or the reverse) faults (the RMP check; TDX's separate aliases).
  if (accessPrivate !== undefined && kvm.privacyFromHardware && ((fl & S2_PRIVATE) !== 0) !== accessPrivate) return -1;
  const per = PAGES_PER_LEVEL[$w.level]!;
  return $w.table.pfn[$w.idx]! + modPow2(gfn, per);
}


// ---------------------------------------------------------------------------
// Eager re-coalescing (policy s2Recoalesce 'eager'; beyond Linux, seed 001).

/** The table entry at level covering gfn, if the walk reaches it through tables only; else null. */
function tableEntryAt(kvm: Kvm, gfn: number, level: PgLevel): { t: PageTable; i: number } | null {
  const gpa = gfn * PAGE_SIZE;
  let t = kvm.mmu.root;
  while (t.level > level) {
    const fl = t.fl[indexAt(gpa, t.level)]!;
    if (fl === 0 || fl & Pte.PSE) return null;
    t = t.kids![indexAt(gpa, t.level)]!;
  }
  return { t, i: indexAt(gpa, level) };
}

/**
 * The one folio backing the whole huge page [base, base + per) of slot, as a
 * fault there would map it: the guest_memfd folio (private, or a guest_memfd-
 * only slot) of at least that size, prepared, with uniform attributes over it
 * and the file index congruent with the gfn; or the host's PMD/PUD leaf at
 * the HVA. null if there is none (the range stays as it is).
 */
function hugeBacking(kvm: Kvm, slot: KvmMemorySlot, base: number, level: PgLevel, isPrivate: boolean): Fault | null {
  const per = PAGES_PER_LEVEL[level];
  const f: Fault = { gfn: base, write: false, isPrivate, slot, pfn: -1, writable: false, maxLevel: level, refPfn: -1, gmemFolio: 0 };
  if (isPrivate || kvmMemslotIsGmemOnly(slot)) {
    const gmem = slot.gmem.file;
    if (gmem === null || gmem.file === null || (slot.baseGfn - slot.gmem.pgoff) % per !== 0) return null;
    const index = base - slot.baseGfn + slot.gmem.pgoff;
    if (!gmem.bindings.some((b) => b.slot === slot && index >= b.start && index + per <= b.end)) return null;
    const ft = kvm.host.ft;
    const folio = filemapGetFolio(gmem.inode.mapping, index);
    if (folio === 0 || !(ft.flags[folio]! & PG.UPTODATE)) return null;
    const first = ft.index[folio]!;
    const nr = folioNrPages(ft, folio);
    if (nr < per || index < first || index + per > first + nr) return null;
    // As kvm_gmem_get_pfn: a huge max order only over an aligned block of the folio whose attributes are uniform.
    if (!gmem.privateIdx.covers(index, index + per) && gmem.privateIdx.overlaps(index, index + per)) return null;
    f.pfn = ft.pfn[folio]! + (index - first);
    f.writable = !(slot.flags & KVM_MEM_READONLY);
    return f;
  }
  if (kvm.mmReleased || hostPfnMappingLevel(kvm.mm, gfnToHva(slot, base)) < level) return null;
  // $w holds the host leaf hostPfnMappingLevel found.
  const hfl = $w.table.fl[$w.idx]!;
  f.pfn = $w.table.pfn[$w.idx]!;
  f.writable = (hfl & Pte.RW) !== 0 && !(slot.flags & KVM_MEM_READONLY);
  return f;
}

/**
 * After an attribute change over gfns [start, end) of slot: every 2 MiB / 1
 * GiB page touching the range that is now uniform, allowed huge (lpage_info),
 * mapped by a table of smaller leaves and backed by one folio of its size is
 * mapped by the huge leaf at once (the table zapped, one remote TLB flush),
 * 1 GiB first. Returns the huge leaves installed.
 */
// Beyond Linux (seed 001): 6.12 only re-promotes on the next fault (kvm_mmu.md section 1.5); this installs what that fault would.
export function kvmMmuRecoalesce(kvm: Kvm, slot: KvmMemorySlot, start: number, end: number): number {
  if (kvm.cfg.s2Recoalesce !== 'eager' || end <= start || slot.asId !== 0 || slot.flags & KVM_MEM_LOG_DIRTY_PAGES) return 0;
  const mmu = kvm.mmu;
  if (mmu.invalidateInProgress > 0) return 0;
  let installed = 0;
  for (let level = MAX_HUGE_PAGE_LEVEL; level >= PgLevel.L2M; level--) {
    const per = PAGES_PER_LEVEL[level];
    for (let base = start - modPow2(start, per); base < end; base += per) {
      if (base < slot.baseGfn || base + per > slot.endGfn) continue;
      if (slot.lpageInfo[level - 2]![lpageIndex(slot, base, level)] !== 0) continue;
      const privacy = kvmRangePrivacy(kvm, slot, base, base + per);
      if (privacy === 'mixed') continue;
      const e = tableEntryAt(kvm, base, level);
      if (e === null || e.t.fl[e.i] === 0 || e.t.fl[e.i]! & Pte.PSE) continue;
      const f = hugeBacking(kvm, slot, base, level, privacy === 'all');
      if (f === null) continue;
      const before = mmu.stats.promotions;
      if (tdpMmuMap(kvm, f, level) !== RetPf.FIXED) continue;
      if (mmu.stats.promotions > before) mmu.stats.eagerPromotions++;
      installed++;
    }
  }
  return installed;
}

/** kvmMmuRecoalesce for the gfns bound to guest_memfd pages [start, end) (after a conversion on the file). */
export function kvmGmemRecoalesce(gmem: KvmGmem, start: number, end: number): number {
  let n = 0;
  // (Re-mapping changes no binding: the list is walked as it is.)
  for (const b of gmem.bindings) {
    if (b.end <= start || b.start >= end) continue;
    const pgoff = b.slot.gmem.pgoff;
    n += kvmMmuRecoalesce(gmem.kvm, b.slot, b.slot.baseGfn + Math.max(pgoff, start) - pgoff, b.slot.baseGfn + Math.min(pgoff + b.slot.npages, end) - pgoff);
  }
  return n;
}
