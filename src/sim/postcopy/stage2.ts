/**
 * A VM's secondary MMU (KVM's stage-2 / EPT tables) as an MMU-notifier
 * subscriber of the VMM's mm, for the post-copy scenarios. The kernel model
 * has no KVM, so this mirrors what matters here: which leaves stage 2 holds
 * for guest memory, at which size, and what an invalidate costs (KVM zaps
 * every sPTE in the range: counted as spte_zap in the operation that
 * invalidated, priced in docs/COSTS.md).
 *
 * Simplification: stage 2 maps a page as soon as the host maps it (the guest
 * touches everything it has; the busy-VM upper bound), at the host leaf's
 * size. Leaves are kept as extent sets of 4 KiB page numbers, one per leaf
 * size, so the state grows with the number of runs, not with memory.
 */
import { Ev } from '../../cost/counters.js';
import type { Kernel } from '../../kernel.js';
import { ExtentSet } from '../../lib/extent_set.js';
import type { MmuNotifierOps, MmuNotifierRange } from '../../mm/mmu_notifier.js';
import type { Process } from '../../process.js';
import { covered } from './ranges.js';

const PAGE = 4096;
/** The leaf sizes stage 2 uses on x86-64: 4 KiB, 2 MiB, 1 GiB. */
export const LEAF_SIZES = [PAGE, 2 ** 21, 2 ** 30] as const;

export class Stage2 {
  /** Pages mapped by a leaf of each size (LEAF_SIZES order), as 4 KiB page numbers. */
  private readonly leaves = LEAF_SIZES.map(() => new ExtentSet());
  /** Called when an invalidate starts on [start, end) (the vCPUs touching it stall until it ends). */
  onInvalidate: ((start: number, end: number) => void) | null = null;
  /** Called when the kernel reports a collapse after the fact (post-collapse notifier). */
  onPostCollapse: ((start: number, end: number) => void) | null = null;
  private readonly sub: { unregister(): void };

  constructor(
    private readonly k: Kernel,
    proc: Process,
  ) {
    const ops: MmuNotifierOps & Record<string, unknown> = {
      invalidateRangeStart: (r: MmuNotifierRange) => {
        const n = this.zap(r.start, r.end);
        this.onInvalidate?.(r.start, r.end);
        void n;
      },
      // The HGM post-collapse notifier: PFNs and permissions did not change, so
      // nothing was invalidated; KVM replaces its small sPTEs by the new leaf.
      postCollapse: (...args: unknown[]) => {
        const [start, end] = rangeOf(args);
        this.zap(start, end);
        this.map(start, end - start, end - start >= 2 ** 30 ? 2 ** 30 : 2 ** 21);
        this.onPostCollapse?.(start, end);
      },
    };
    this.sub = proc.mmuNotifierRegister(ops);
  }

  /** Stage 2 now maps [addr, addr + len) with leaves of `leaf` bytes (each aligned). */
  map(addr: number, len: number, leaf: number): void {
    const i = LEAF_SIZES.indexOf(leaf as (typeof LEAF_SIZES)[number]);
    if (i < 0) throw new RangeError(`stage 2: no ${leaf}-byte leaves`);
    this.leaves[i]!.union(addr / PAGE, (addr + len) / PAGE);
  }

  /** Is addr mapped by stage 2? */
  present(addr: number): boolean {
    const p = Math.floor(addr / PAGE);
    return this.leaves.some((s) => s.has(p));
  }

  /** Leaves of each size in [start, end). */
  count(start: number, end: number): number[] {
    return this.leaves.map((s, i) => Math.ceil(covered(s, start / PAGE, end / PAGE) / (LEAF_SIZES[i]! / PAGE)));
  }

  /** Zap every leaf in [start, end): KVM's kvm_unmap_gfn_range. Counted as spte_zap; returns how many. */
  zap(start: number, end: number): number {
    // A huge leaf that straddles the range goes whole, as KVM drops the whole sPTE.
    let n = 0;
    this.leaves.forEach((s, i) => {
      const per = LEAF_SIZES[i]! / PAGE;
      const lo = Math.floor(start / PAGE / per) * per;
      const hi = Math.ceil(end / PAGE / per) * per;
      n += Math.ceil(s.subtract(lo, hi) / per);
    });
    this.k.host.ev[Ev.SPTE_ZAP] += n;
    return n;
  }

  unregister(): void {
    this.sub.unregister();
  }
}

/** (mm, start, end) or (range) as a post-collapse callback may pass them. */
function rangeOf(args: unknown[]): [number, number] {
  const r = args.find((a) => typeof a === 'object' && a !== null && 'start' in a && 'end' in a) as { start: number; end: number } | undefined;
  if (r !== undefined) return [r.start, r.end];
  const nums = args.filter((a): a is number => typeof a === 'number');
  return [nums[0]!, nums[1]!];
}
