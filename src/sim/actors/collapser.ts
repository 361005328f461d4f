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

const MiB2 = 2 ** 21;

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

/** The next complete piece to collapse, or null. */
function nextTarget(vm: PostcopyVm, twoStep: boolean, done: Set<string>): Target | null {
  if (twoStep && vm.hpage > MiB2) {
    for (const c of vm.mixedChunks) {
      const t = { off: c * MiB2, len: MiB2 };
      if (!done.has(`${t.off}:${t.len}`) && vm.complete(t.off, t.len)) return t;
    }
  }
  for (let off = 0; off < vm.size; off += vm.hpage) {
    const t = { off, len: vm.hpage };
    if (!done.has(`${t.off}:${t.len}`) && vm.complete(off, vm.hpage)) return t;
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
    const done = new Set<string>();
    for (;;) {
      const t0: number = yield block(vm.progress, () => nextTarget(vm, twoStep, done) === null, 'idle', '', false);
      const t = nextTarget(vm, twoStep, done)!;
      done.add(`${t.off}:${t.len}`);
      if (t.len === MiB2) vm.mixedChunks.delete(t.off / MiB2);
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
