/**
 * collapser: the post-copy VMM's MADV_COLLAPSE of guest memory that is
 * complete, with HugeTLB high-granularity mapping (HGM v2's flow,
 * ../shared/reference/hugetlb_hgm.md §3): `two-step` collapses each 2 MiB
 * that was mapped piece by piece as soon as it is complete (4 KiB PTEs to one
 * PMD leaf inside the 1 GiB page), then the 1 GiB page once all of it is;
 * `direct` waits for the whole page. HGM v2's collapse takes mmap_lock for
 * write, so faults and UFFDIO_CONTINUE wait for it; when it invalidates the
 * range (the `invalidate` notifier policy) the vCPUs touching it wait too, as
 * KVM cannot map the range until invalidate_range_end.
 *
 * Without HGM (no MADV_SPLIT) there is nothing to collapse: CONTINUE mapped
 * whole huge pages (and MADV_COLLAPSE on HugeTLB is EINVAL upstream).
 */
import { MADV_COLLAPSE } from '../../uapi/mman.js';
import { type Program, block, op } from '../engine.js';
import type { PostcopyVm } from '../postcopy/vm.js';
import { name, oneOf } from '../scenario/types.js';
import type { ActorContext, ActorKind } from './actor.js';
import { actorSchema } from './common.js';


const schema = actorSchema('collapser', 'MADV_COLLAPSE of complete guest memory (HGM)', {
  region: name('the VM it collapses'),
  /** two-step: each 2 MiB when complete, then the 1 GiB; direct: the 1 GiB page once complete. */
  order: oneOf(['direct', 'two-step'], 'the collapse order'),
});
type Spec = ReturnType<typeof schema.parse>;

interface Target {
  readonly off: number;
  readonly len: number;
}

/** The next complete piece to collapse (two-step: 2 MiB chunks and huge pages in completion order; direct: huge pages only), or null. */
function nextTarget(vm: PostcopyVm, twoStep: boolean): Target | null {
  while (vm.completed.length > 0) {
    const t = vm.completed.shift()!;
    if (t.len < vm.hpage && !twoStep) continue;
    return t;
  }
  return null;
}

export const collapserActor: ActorKind<Spec> = {
  kind: 'collapser',
  description: "MADV_COLLAPSE of a post-copy VM's complete memory with HGM: each 2 MiB then the 1 GiB (two-step), or the 1 GiB once complete (direct); holds mmap_lock for write, and an invalidating collapse stalls the vCPUs touching its range",
  schema,
  regions: (s) => [s.region],
  *program(ctx: ActorContext, s: Spec): Program {
    const w = ctx.world;
    const vm = w.vm(s.region);
    if (vm === undefined) throw new Error(`collapser: region '${s.region}' is not a post-copy VM (setup.vms)`);
    if (!vm.hgm) return;
    const twoStep = s.order === 'two-step';
    for (;;) {
      const t0: number = yield block(vm.progress, () => vm.completed.length === 0, 'idle', '', false);
      const t = nextTarget(vm, twoStep);
      if (t === null) continue;
      const size = t.len >= 2 ** 30 ? '1G' : '2M';
      const end: number = yield op({
        name: `collapse ${size}`,
        proc: vm.proc,
        lock: 'write',
        show: true,
        run: () => {
          vm.proc.madvise(vm.primary + t.off, t.len, MADV_COLLAPSE);
          return `+0x${t.off.toString(16)}: ${vm.invalidating !== null ? 'invalidated (vCPUs touching it wait)' : 'no invalidate'}`;
        },
      });
      w.sample('collapseTime', end - t0);
      w.point('pageTableBytes', end, vm.pageTableBytes());
      w.add('collapses');
      if (vm.invalidating !== null) {
        vm.invalidating = null;
        vm.stall.wake();
      }
    }
  },
};
