/**
 * The CPU: user loads and stores through the MMU.
 *
 * An access walks the page tables; if the leaf allows it, the bytes move and
 * the hardware sets the accessed (and dirty) bit. Otherwise the access faults
 * into the arch handler, which checks the VMA and calls handle_mm_fault, then
 * the access is retried, page by page as a CPU would. An access spanning a
 * mapped and an unmapped page performs the first part and then signals, as a
 * memset that runs off the end of a mapping does.
 */
import { SignalError } from '../uapi/errors.js';
import { decodeUffdMsg } from '../uapi/userfaultfd.js';
import { FaultFlag, VmFault } from './fs_types.js';
import type { Host } from './host.js';
import { handleMmFault } from './memory.js';
import { type MmStruct, VM } from './mm_types.js';
import { Level, PAGE_SIZE, PMD_SIZE, TASK_SIZE } from './page.js';

const GIB = 2 ** 30;
import { type PageTable, Pte, type Walk, walk } from './pgtable.js';
import { vmaLookup } from './vma.js';
import { UffdFault, UffdWait, userfaultfdWait } from './userfaultfd_k.js';

/** FAULT_FLAG_DEFAULT: what the arch handler always passes (a fault may wait and be retried). */
const FAULT_FLAG_DEFAULT = FaultFlag.ALLOW_RETRY | FaultFlag.KILLABLE | FaultFlag.INTERRUPTIBLE;
/** Wake-ups without a resolution after which an access gives up with UffdFault (Linux would retry for ever). */
const MAX_UFFD_RETRIES = 1000;
/** The message of the last userfault an access was woken from (for the give-up UffdFault). */
let $lastUffdMsg: Uint8Array | null = null;

/** Thrown when the OOM killer picks the faulting task (pagefault_out_of_memory). */
export class OomKill extends Error {
  constructor(readonly addr: number) {
    super(`out of memory at 0x${addr.toString(16)}`);
  }
}

/**
 * The x86 user page-fault handler: find the VMA, check the access against it,
 * handle the fault, and turn failures into signals. user is false for the
 * kernel's own accesses to user memory (copy_from_user): no FAULT_FLAG_USER.
 * Returns true when the fault waited for userfaultfd and was woken (retry
 * the access); throws UffdFault when it is still waiting.
 */
// mirrors arch/x86/mm/fault.c:do_user_addr_fault (no stack expansion, no pkeys)
export function doUserAddrFault(host: Host, mm: MmStruct, addr: number, write: boolean, present: boolean, user = true): boolean {
  // arch/x86/mm/fault.c:trace_page_fault_entries; error_code: X86_PF_PROT 1, X86_PF_WRITE 2, X86_PF_USER 4. The model has no ip.
  if (host.trace !== null) host.trace('page_fault_user', `address=0x${addr.toString(16)} ip=0x0 error_code=0x${((present ? 1 : 0) | (write ? 2 : 0) | 4).toString(16)}`);
  const vma = addr < TASK_SIZE ? vmaLookup(mm, addr) : null;
  if (vma === null) throw new SignalError('SIGSEGV', addr, 'SEGV_MAPERR');
  // access_error: writes need VM_WRITE; reads of present pages are protection
  // faults; reads of absent pages need VM_READ|VM_WRITE|VM_EXEC.
  const denied = write ? !(vma.flags & VM.WRITE) : present || !(vma.flags & (VM.READ | VM.WRITE | VM.EXEC));
  if (denied) throw new SignalError('SIGSEGV', addr, 'SEGV_ACCERR');
  const ret = handleMmFault(host, vma, addr, FAULT_FLAG_DEFAULT | (user ? FaultFlag.USER : 0) | (write ? FaultFlag.WRITE : 0));
  if (ret & VmFault.RETRY) return userfaultWait(addr, user);
  if (ret & VmFault.OOM) throw new OomKill(addr);
  if (ret & (VmFault.SIGBUS | VmFault.HWPOISON | VmFault.HWPOISON_LARGE)) throw new SignalError('SIGBUS', addr, ret & VmFault.SIGBUS ? 'BUS_ADRERR' : 'BUS_MCEERR_AR');
  if (ret & VmFault.SIGSEGV) throw new SignalError('SIGSEGV', addr, 'SEGV_ACCERR');
  return false;
}

/**
 * The fault went to userfaultfd (VM_FAULT_RETRY): wait, in the model's way
 * (src/mm/userfaultfd_k.ts). Woken: retry. Still waiting: a user access
 * throws UffdFault; a kernel access ends as an interrupted one would (the
 * copy stops short).
 */
function userfaultWait(addr: number, user: boolean): boolean {
  const { result, waiter } = userfaultfdWait(!user);
  if (waiter !== null) $lastUffdMsg = waiter.msg;
  if (result === UffdWait.BLOCKED) throw new UffdFault(addr, decodeUffdMsg(waiter!.msg));
  if (result === UffdWait.INTERRUPTED) throw new SignalError('SIGBUS', addr, 'userfault wait interrupted');
  return true;
}

/**
 * Visit the bytes of [addr, addr + len) as the folio chunks they live in,
 * faulting as needed. visit(folio, offsetInFolio, bytes, offsetInRange).
 */
export function cpuAccess(
  host: Host,
  mm: MmStruct,
  addr: number,
  len: number,
  write: boolean,
  visit: (f: number, folioOff: number, n: number, rangeOff: number) => void,
  user = true,
): void {
  const w: Walk = $walk;
  let done = 0;
  let retries = 0;
  let uffdRetries = 0;
  // The PTE table of the current 2 MiB: still valid while its PMD entry points
  // to it (a fault can split a PMD, nothing frees tables during an access).
  let pte: PageTable | null = null;
  let pteBase = -1;
  let pmdT: PageTable | null = null;
  let pmdI = 0;
  while (done < len) {
    const a = addr + done;
    if (a >= TASK_SIZE) throw new SignalError('SIGSEGV', a, 'SEGV_MAPERR');
    // Split once: bits 30 and up (exact double) and the low 30 bits (int32).
    const hi = Math.floor(a / GIB);
    const lo = a - hi * GIB;
    const base2m = a - (lo & (PMD_SIZE - 1));
    let t: PageTable;
    let idx: number;
    let level: Level;
    if (pte !== null && base2m === pteBase && pmdT!.kids![pmdI] === pte && pmdT!.fl[pmdI] !== 0 && !(pmdT!.fl[pmdI]! & Pte.PSE)) {
      t = pte;
      idx = (lo >>> 12) & 511;
      level = Level.PTE;
    } else {
      walk(mm.pgd, a, w);
      t = w.table;
      idx = w.idx;
      level = w.level;
      if (level === Level.PTE) {
        pte = t;
        pteBase = base2m;
        pmdT = w.parent;
        pmdI = w.pidx;
      } else pte = null;
    }
    const fl = t.fl[idx]!;
    const leaf = level === Level.PTE ? fl !== 0 : (fl & Pte.PSE) !== 0;
    if (leaf && fl & Pte.PRESENT && (!write || fl & Pte.RW)) {
      // Offset of a inside the leaf: 4 KiB, 2 MiB or 1 GiB.
      const inLeaf = level === Level.PTE ? lo & (PAGE_SIZE - 1) : level === Level.PMD ? lo & (PMD_SIZE - 1) : lo;
      const pfn = t.pfn[idx]! + (inLeaf >>> 12);
      const f = host.pfnFolio(pfn);
      const size = level === Level.PTE ? PAGE_SIZE : level === Level.PMD ? PMD_SIZE : GIB;
      const n = Math.min(len - done, size - inLeaf);
      // The hardware sets the accessed and dirty bits; that is not a software PTE write.
      t.fl[idx] = fl | Pte.ACCESSED | (write ? Pte.DIRTY : 0);
      visit(f, (pfn - host.ft.pfn[f]!) * PAGE_SIZE + (lo & (PAGE_SIZE - 1)), n, done);
      done += n;
      retries = 0;
      continue;
    }
    if (++retries > 3) throw new Error(`internal: fault at 0x${a.toString(16)} did not resolve`);
    if (doUserAddrFault(host, mm, a, write, leaf && (fl & Pte.PRESENT) !== 0, user)) {
      // Woken by the userfaultfd monitor: retry, however often it takes, up to a bound (then the task counts as stuck).
      if (++uffdRetries > MAX_UFFD_RETRIES && $lastUffdMsg !== null) throw new UffdFault(a, decodeUffdMsg($lastUffdMsg));
      retries = 0;
    }
    if (level !== Level.PTE) pte = null;
  }
}

/** Scratch walk result shared by accesses (see xterm.js $workCell). */
const $walk: Walk = { table: null as never, idx: 0, level: Level.PTE, parent: null, pidx: 0 };
