/**
 * TLB flushes and the CPUs they reach (arch/x86/mm/tlb.c).
 *
 * Every flush site in mm calls flushTlbRange or flushTlbMm with the mm whose
 * entries changed. The flush is issued on the CPU that mm runs on now
 * (mm.cpu): the model has no separate "current" task, so a flush made on
 * behalf of another mm (clear_refs, an rmap walk from another process) is
 * counted as if that mm's own CPU issued it. The other CPUs in mm_cpumask get
 * one IPI each, and the sender waits for all of them (a shootdown).
 * mm_cpumask itself lives in MmStruct (cpumask, switchTo).
 *
 * The counting is a few typed-array adds and allocates nothing: it runs once
 * per flush on the fault and zap paths.
 */
import { Ev } from '../cost/counters.js';
import type { Host } from './host.js';
import type { MmStruct } from './mm_types.js';

/** Count the remote part of a flush of mm: everything in mm_cpumask but the current CPU. */
// mirrors arch/x86/mm/tlb.c:native_flush_tlb_multi (simplified: no lazy-TLB skipping, every CPU in the mask is sent an IPI)
function shootdown(host: Host, mm: MmStruct, pages: number): void {
  // The current CPU's bit is always set (MmStruct.switchTo), so the others are weight - 1.
  const remote = mm.cpumaskWeight - 1;
  if (host.trace !== null) {
    // include/trace/events/tlb.h: pages -1 is TLB_FLUSH_ALL; reasons TLB_LOCAL_MM_SHOOTDOWN (3), TLB_REMOTE_SEND_IPI (4).
    host.trace('tlb_flush', `pages:${pages} reason:local mm shootdown (3)`);
    if (remote > 0) host.trace('tlb_flush', `pages:${pages} reason:remote ipi send (4)`);
  }
  if (remote === 0) return;
  const ev = host.ev;
  ev[Ev.TLB_SHOOTDOWN]++;
  ev[Ev.TLB_REMOTE_CPU] += remote;
  ev[Ev.IPI] += remote;
}

/** A ranged flush of mm's entries (flush_tlb_range, flush_tlb_page, the mmu_gather flush). */
// mirrors arch/x86/mm/tlb.c:flush_tlb_mm_range (simplified: the size of the range, and with it the full-flush ceiling, is not modelled)
export function flushTlbRange(host: Host, mm: MmStruct): void {
  host.ev[Ev.TLB_FLUSH_RANGE]++;
  // The range's size is not modelled; the tracepoint prints 1 page.
  shootdown(host, mm, 1);
}

/** A flush of all of mm's entries (flush_tlb_mm). */
// mirrors arch/x86/include/asm/tlbflush.h:flush_tlb_mm (flush_tlb_mm_range over the whole address space)
export function flushTlbMm(host: Host, mm: MmStruct): void {
  host.ev[Ev.TLB_FLUSH_MM]++;
  shootdown(host, mm, -1);
}
