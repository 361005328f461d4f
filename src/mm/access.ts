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
import { FaultFlag, VmFault } from './fs_types.js';
import type { Host } from './host.js';
import { handleMmFault } from './memory.js';
import { type MmStruct, VM } from './mm_types.js';
import { LEVEL_SHIFT, Level, PAGE_SIZE, TASK_SIZE } from './page.js';
import { Pte, type Walk, walk } from './pgtable.js';
import { vmaLookup } from './vma.js';

/** Thrown when the OOM killer picks the faulting task (pagefault_out_of_memory). */
export class OomKill extends Error {
  constructor(readonly addr: number) {
    super(`out of memory at 0x${addr.toString(16)}`);
  }
}

/**
 * The x86 user page-fault handler: find the VMA, check the access against it,
 * handle the fault, and turn failures into signals.
 */
// mirrors arch/x86/mm/fault.c:do_user_addr_fault (no stack expansion, no pkeys)
export function doUserAddrFault(host: Host, mm: MmStruct, addr: number, write: boolean, present: boolean): void {
  const vma = addr < TASK_SIZE ? vmaLookup(mm, addr) : null;
  if (vma === null) throw new SignalError('SIGSEGV', addr, 'SEGV_MAPERR');
  // access_error: writes need VM_WRITE; reads of present pages are protection
  // faults; reads of absent pages need VM_READ|VM_WRITE|VM_EXEC.
  const denied = write ? !(vma.flags & VM.WRITE) : present || !(vma.flags & (VM.READ | VM.WRITE | VM.EXEC));
  if (denied) throw new SignalError('SIGSEGV', addr, 'SEGV_ACCERR');
  const ret = handleMmFault(host, vma, addr, FaultFlag.USER | (write ? FaultFlag.WRITE : 0));
  if (ret & VmFault.OOM) throw new OomKill(addr);
  if (ret & (VmFault.SIGBUS | VmFault.HWPOISON | VmFault.HWPOISON_LARGE)) throw new SignalError('SIGBUS', addr, ret & VmFault.SIGBUS ? 'BUS_ADRERR' : 'BUS_MCEERR_AR');
  if (ret & VmFault.SIGSEGV) throw new SignalError('SIGSEGV', addr, 'SEGV_ACCERR');
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
): void {
  const w: Walk = $walk;
  let done = 0;
  let retries = 0;
  while (done < len) {
    const a = addr + done;
    if (a >= TASK_SIZE) throw new SignalError('SIGSEGV', a, 'SEGV_MAPERR');
    walk(mm.pgd, a, w);
    const t = w.table;
    const fl = t.fl[w.idx]!;
    const leaf = w.level === Level.PTE ? fl !== 0 : (fl & Pte.PSE) !== 0;
    if (leaf && fl & Pte.PRESENT && (!write || fl & Pte.RW)) {
      const size = 2 ** LEVEL_SHIFT[w.level]!;
      const base = a - (a % size);
      const pfn = t.pfn[w.idx]! + Math.floor((a - base) / PAGE_SIZE);
      const f = host.pfnFolio(pfn);
      const n = Math.min(len - done, base + size - a);
      // The hardware sets the accessed and dirty bits; that is not a software PTE write.
      t.fl[w.idx] = fl | Pte.ACCESSED | (write ? Pte.DIRTY : 0);
      visit(f, (pfn - host.ft.pfn[f]!) * PAGE_SIZE + (a % PAGE_SIZE), n, done);
      done += n;
      retries = 0;
      continue;
    }
    if (++retries > 3) throw new Error(`internal: fault at 0x${a.toString(16)} did not resolve`);
    doUserAddrFault(host, mm, a, write, leaf && (fl & Pte.PRESENT) !== 0);
  }
}

/** Scratch walk result shared by accesses (see xterm.js $workCell). */
const $walk: Walk = { table: null as never, idx: 0, level: Level.PTE };
