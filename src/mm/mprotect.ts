/**
 * Changing protections (mirrors mm/mprotect.c).
 *
 * Present entries keep their pfn, dirty, accessed, soft-dirty and uffd-wp bits
 * and take the VMA's new vm_page_prot (pte_modify). Making a private mapping
 * writable maps exclusive anonymous pages writable at once (no COW fault needed:
 * the "mprotect optimization" cow.c tests); shared pages become writable at once
 * only if dirty or if the mapping needs no write-notify.
 */
import { SyscallError } from '../uapi/errors.js';
import type { ErrnoName } from '../uapi/errno.js';
import { PROT_EXEC, PROT_GROWSDOWN, PROT_GROWSUP, PROT_READ, PROT_SEM, PROT_WRITE } from '../uapi/mman.js';
import { folioTestAnon, pageAnonExclusive } from './folio.js';
import type { Host } from './host.js';
import { splitHugePmd } from './huge_memory.js';
import { hugetlbChangeProtection } from './hugetlb.js';
import { folioPageIdx, vmNormalPage } from './memory.js';
import { type MmStruct, VM, type Vma, vmaIsAnonymous } from './mm_types.js';
import { MmuNotifyEvent, withInvalidate } from './mmu_notifier.js';
import { populateVmaPageRange } from './gup.js';
import { securityVmEnoughMemory } from './mmap.js';
import { Level, PAGE_SIZE, PMD_SIZE, alignDown, tableIndex } from './page.js';
import { MARKER_UFFD_WP, type PageTable, Pte, allocChild, clearEntry, isSwapEntry, pteMarkerUffdWp, setEntry, tableAlloc } from './pgtable.js';
import { userfaultfdWpUseMarkers } from './userfaultfd_k.js';
import { vmaModify, vmaWantsWritenotify, vmasIn } from './vma.js';
import { flushTlbRange } from './tlb.js';

const PAGE = BigInt(PAGE_SIZE);

/** Bits pte_modify keeps from the old entry (_PAGE_CHG_MASK, plus PSE for huge leaves; PINNED as a software bit would be). */
const CHG_MASK = Pte.SPECIAL | Pte.ACCESSED | Pte.DIRTY | Pte.SOFT_DIRTY | Pte.UFFD_WP | Pte.PINNED | Pte.PSE;

// mirrors arch/x86/include/asm/pgtable.h:pte_modify
function pteModify(old: number, prot: number): number {
  return (old & CHG_MASK) | (prot & ~CHG_MASK);
}

// mirrors mm/mprotect.c:vma_wants_manual_pte_write_upgrade
function wantsManualWriteUpgrade(vma: Vma): boolean {
  if (vma.flags & VM.SHARED) return vmaWantsWritenotify(vma);
  return (vma.flags & VM.WRITE) !== 0;
}

/** Shared preconditions for an immediate write upgrade. */
function maybeChangeWritable(vma: Vma, fl: number): boolean {
  if (!(vma.flags & VM.WRITE)) return false;
  if (fl & Pte.PROTNONE) return false;
  // Soft-dirty tracking (VM_SOFTDIRTY clear) needs the write fault for a clean entry.
  if (!(vma.flags & VM.SOFTDIRTY) && !(fl & Pte.SOFT_DIRTY)) return false;
  if (fl & Pte.UFFD_WP) return false;
  return true;
}

// mirrors mm/mprotect.c:can_change_pte_writable
function canChangePteWritable(host: Host, vma: Vma, pfn: number, fl: number): boolean {
  if (!maybeChangeWritable(vma, fl)) return false;
  if (!(vma.flags & VM.SHARED)) {
    // Private: only exclusive anon pages, as the write fault would map them writable.
    const f = vmNormalPage(host, pfn, fl);
    return f !== 0 && folioTestAnon(host.ft, f) && pageAnonExclusive(host.ft, f, folioPageIdx(host, f, pfn));
  }
  return (fl & Pte.DIRTY) !== 0;
}

// mirrors mm/huge_memory.c:can_change_pmd_writable
function canChangePmdWritable(host: Host, vma: Vma, pfn: number, fl: number): boolean {
  if (!maybeChangeWritable(vma, fl)) return false;
  if (!(vma.flags & VM.SHARED)) {
    const f = host.pfnFolio(pfn);
    if (f === 0 || f === host.hugeZeroFolio) return false;
    return folioTestAnon(host.ft, f) && pageAnonExclusive(host.ft, f, 0);
  }
  return (fl & Pte.DIRTY) !== 0;
}

/** What change_protection does with userfaultfd's write-protect bit (MM_CP_UFFD_WP, MM_CP_UFFD_WP_RESOLVE). */
export const enum UffdCp {
  NONE = 0,
  /** Set it (write-protecting); none PTEs take uffd-wp markers where the VMA uses them. */
  WP = 1 << 2,
  /** Clear it, and drop uffd-wp markers. */
  WP_RESOLVE = 1 << 3,
}

/**
 * Apply vma.pageProt to the present entries of [start, end), and set or clear
 * userfaultfd write protection (uffd). Returns the number of entries changed.
 */
// mirrors mm/mprotect.c:change_protection (change_pmd_range / change_pte_range / change_huge_pmd)
export function changeProtection(host: Host, vma: Vma, start: number, end: number, tryWritable: boolean, uffd: UffdCp = UffdCp.NONE): number {
  if (vma.flags & VM.HUGETLB) return hugetlbChangeProtection(host, vma, start, end, uffd === UffdCp.WP, uffd === UffdCp.WP_RESOLVE);
  const prot = vma.pageProt;
  let pages = 0;
  const uffdWp = uffd === UffdCp.WP;
  const uffdWpResolve = uffd === UffdCp.WP_RESOLVE;
  // Write-protecting none PTEs needs page tables to hold the markers (pgtable_populate_needed).
  if (uffdWp && userfaultfdWpUseMarkers(vma)) changePopulate(host, vma, start, end);
  const changePtes = (pt: PageTable, a: number, e: number): void => {
    for (; a < e; a += PAGE_SIZE) {
      const j = tableIndex(a, Level.PTE);
      const fl = pt.fl[j]!;
      if (!(fl & (Pte.PRESENT | Pte.PROTNONE))) {
        if (fl === 0) {
          // Only userfaultfd plays with none PTEs here.
          if (uffdWp && userfaultfdWpUseMarkers(vma)) {
            setEntry(host, pt, j, 0, MARKER_UFFD_WP);
            pages++;
          }
        } else if (pteMarkerUffdWp(fl) && uffdWpResolve) {
          clearEntry(host, pt, j);
          pages++;
        } else if (isSwapEntry(fl) && (uffdWp || uffdWpResolve)) {
          // pte_swp_mkuffd_wp / pte_swp_clear_uffd_wp: the protection outlives the swap-out.
          const nfl = uffdWp ? fl | Pte.UFFD_WP : fl & ~Pte.UFFD_WP;
          if (nfl !== fl) {
            setEntry(host, pt, j, pt.pfn[j]!, nfl);
            pages++;
          }
        }
        continue;
      }
      let nfl = pteModify(fl, prot);
      // pte_mkuffd_wp write-protects too.
      if (uffdWp) nfl = (nfl | Pte.UFFD_WP) & ~Pte.RW;
      else if (uffdWpResolve) nfl &= ~Pte.UFFD_WP;
      if (tryWritable && !(nfl & Pte.RW) && canChangePteWritable(host, vma, pt.pfn[j]!, nfl)) nfl |= Pte.RW;
      if (nfl !== fl) {
        setEntry(host, pt, j, pt.pfn[j]!, nfl);
        pages++;
      }
    }
  };
  const visit = (t: PageTable, a: number, e: number): void => {
    const span = 2 ** (t.level === Level.PGD ? 39 : t.level === Level.PUD ? 30 : 21);
    while (a < e) {
      const i = tableIndex(a, t.level);
      const next = Math.min(alignDown(a, span) + span, e);
      const fl = t.fl[i]!;
      if (fl !== 0) {
        if (t.level === Level.PMD) {
          if (fl & Pte.PSE) {
            // A file THP cannot carry uffd-wp at PMD level (pgtable_split_needed).
            if (next - a !== PMD_SIZE || (uffdWp && !vmaIsAnonymous(vma))) {
              splitHugePmd(host, vma, t, i, alignDown(a, PMD_SIZE));
              if (t.fl[i] === 0 && uffdWp && userfaultfdWpUseMarkers(vma) && allocChild(host, vma.mm, t, i) === null) return;
            } else {
              let nfl = pteModify(fl, prot);
              if (uffdWp) nfl = (nfl | Pte.UFFD_WP) & ~Pte.RW;
              else if (uffdWpResolve) nfl &= ~Pte.UFFD_WP;
              if (tryWritable && !(nfl & Pte.RW) && canChangePmdWritable(host, vma, t.pfn[i]!, nfl)) nfl |= Pte.RW;
              if (nfl !== fl) {
                setEntry(host, t, i, t.pfn[i]!, nfl);
                pages += 512;
              }
              a = next;
              continue;
            }
          }
          if (t.fl[i] !== 0) changePtes(t.kids![i]!, a, next);
        } else if (!(fl & Pte.PSE)) {
          visit(t.kids![i]!, a, next);
        }
      }
      a = next;
    }
  };
  withInvalidate(host, vma.mm, MmuNotifyEvent.PROTECTION_VMA, start, end, () => {
    visit(vma.mm.pgd, start, end);
    if (pages > 0) flushTlbRange(host, vma.mm);
  });
  return pages;
}

/**
 * Give every none PMD of [start, end) a PTE table, so uffd-wp markers have a
 * place (change_pmd_prepare and change_prepare at the upper levels). An
 * allocation failure leaves the rest unpopulated (-ENOMEM in Linux, ignored
 * by its userfaultfd callers).
 */
// mirrors mm/mprotect.c:change_pmd_prepare
function changePopulate(host: Host, vma: Vma, start: number, end: number): void {
  for (let a = start; a < end; a = alignDown(a, PMD_SIZE) + PMD_SIZE) {
    const pmdT = tableAlloc(host, vma.mm, vma.mm.pgd, a, Level.PMD);
    if (pmdT === null) return;
    const i = tableIndex(a, Level.PMD);
    if (pmdT.fl[i] === 0 && allocChild(host, vma.mm, pmdT, i) === null) return;
  }
}

/** Change one VMA's flags over [start, end) and apply them to its entries. */
// mirrors mm/mprotect.c:mprotect_fixup
function mprotectFixup(host: Host, vma: Vma, start: number, end: number, newFlags: number): ErrnoName | null {
  const oldFlags = vma.flags;
  if (newFlags === oldFlags) return null;
  const nrpages = (end - start) / PAGE_SIZE;
  // A private mapping becoming writable for the first time commits memory
  // (hugetlb was charged at mmap, read-only or not). RLIMIT_DATA
  // (may_expand_vm) is unlimited in the model.
  if (newFlags & VM.WRITE) {
    if (!(oldFlags & (VM.ACCOUNT | VM.WRITE | VM.HUGETLB | VM.SHARED | VM.NORESERVE))) {
      if (!securityVmEnoughMemory(host, nrpages)) return 'ENOMEM';
      newFlags |= VM.ACCOUNT;
    }
  } else if (oldFlags & VM.ACCOUNT && vmaIsAnonymous(vma) && vma.anonVma === null) {
    // Nothing was ever faulted in: the commit can be given back.
    newFlags &= ~VM.ACCOUNT;
  }
  // On failure vm_unacct_memory(charged) undoes the charge; the model keeps no
  // committed total (see securityVmEnoughMemory), so there is nothing to undo.
  const v = vmaModify(host, vma, start, end, newFlags);
  if (typeof v === 'string') return v;
  changeProtection(host, v, start, end, wantsManualWriteUpgrade(v));
  // (oldFlags & VM_ACCOUNT) && !(newFlags & VM_ACCOUNT): vm_unacct_memory(nrpages), likewise nothing to undo.
  // An mlocked private mapping becoming writable is pre-COWed.
  if ((oldFlags & (VM.WRITE | VM.SHARED | VM.LOCKED)) === VM.LOCKED && newFlags & VM.WRITE) populateVmaPageRange(host, v, start, end);
  return null;
}

/** mprotect(2) after argument conversion. */
// mirrors mm/mprotect.c:do_mprotect_pkey
export function doMprotect(host: Host, mm: MmStruct, startB: bigint, lenB: bigint, protB: bigint): void {
  const S = 'mprotect';
  let prot = protB;
  const grows = prot & BigInt(PROT_GROWSDOWN | PROT_GROWSUP);
  prot &= ~grows;
  if (grows === BigInt(PROT_GROWSDOWN | PROT_GROWSUP)) throw new SyscallError('EINVAL', S);
  if (startB % PAGE !== 0n) throw new SyscallError('EINVAL', S);
  if (lenB === 0n) return;
  const alen = (lenB + PAGE - 1n) & ~(PAGE - 1n) & ((1n << 64n) - 1n);
  const endB = (startB + alen) & ((1n << 64n) - 1n);
  if (endB <= startB) throw new SyscallError('ENOMEM', S);
  if (prot & ~BigInt(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM)) throw new SyscallError('EINVAL', S);
  const p = Number(prot);
  // Addresses beyond the user space find no VMA.
  if (startB >= 1n << 53n) throw new SyscallError('ENOMEM', S);
  let start = Number(startB);
  const end = endB >= 1n << 53n ? Number.MAX_SAFE_INTEGER : Number(endB);
  const first = vmasIn(mm, start, end)[0];
  if (first === undefined) throw new SyscallError('ENOMEM', S);
  if (grows & BigInt(PROT_GROWSDOWN)) {
    if (first.start >= end) throw new SyscallError('ENOMEM', S);
    start = first.start;
    if (!(first.flags & VM.GROWSDOWN)) throw new SyscallError('EINVAL', S);
  } else if (first.start > start) {
    throw new SyscallError('ENOMEM', S);
  }
  if (grows & BigInt(PROT_GROWSUP)) throw new SyscallError('EINVAL', S); // no VM_GROWSUP on x86
  const protBits = (p & PROT_READ ? VM.READ : 0) | (p & PROT_WRITE ? VM.WRITE : 0) | (p & PROT_EXEC ? VM.EXEC : 0);
  let tmp = start;
  while (tmp < end) {
    const vma = vmasIn(mm, tmp, end)[0];
    if (vma === undefined) break;
    // A hole before this VMA: stop (earlier VMAs keep their new protection).
    if (vma.start > tmp) throw new SyscallError('ENOMEM', S);
    const newFlags = protBits | (vma.flags & ~VM.ACCESS_FLAGS);
    // Each requested permission needs its VM_MAY* bit.
    if ((newFlags & ~(newFlags >> 4)) & VM.ACCESS_FLAGS) throw new SyscallError('EACCES', S);
    const e = Math.min(vma.end, end);
    const r = mprotectFixup(host, vma, tmp, e, newFlags);
    if (r !== null) throw new SyscallError(r, S);
    tmp = e;
  }
  if (tmp < end) throw new SyscallError('ENOMEM', S);
}
