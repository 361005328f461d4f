/**
 * postcopy and prefetch: the destination VMM's side of a post-copy live
 * migration (QEMU's page receivers; the fault thread's requests are made by
 * the faulting vCPU, src/sim/postcopy/vm.ts request()).
 *
 * postcopy places the pages vCPUs faulted on, in the order they arrive over
 * the VM's demand link (4 KiB with HGM, else the whole huge page); prefetch
 * asks the source for the rest of guest memory, a piece at a time, on its own
 * channel (QEMU's postcopy-preempt keeps the two apart), and places each.
 * Placing writes the piece through the alias view (a user memcpy, priced at
 * the copy rate) and UFFDIO_CONTINUEs it on the primary view under mmap_lock
 * for read, which wakes the vCPUs waiting there.
 */
import { COPY_GBPS } from '../../cost/model.js';
import { type Program, type Step, block, hold, op } from '../engine.js';
import type { Piece, PostcopyVm } from '../postcopy/vm.js';
import type { World } from '../world.js';
import { name } from '../scenario/types.js';
import type { ActorContext, ActorKind } from './actor.js';
import { actorSchema } from './common.js';

const postcopySchema = actorSchema('postcopy', 'a post-copy userfaultfd monitor', {
  /** The VM (a `setup.vms` name). */
  region: name('the VM it serves'),
});
const prefetchSchema = actorSchema('prefetch', 'a post-copy background pre-fetcher', {
  region: name('the VM it serves'),
});
type PostcopySpec = ReturnType<typeof postcopySchema.parse>;
type PrefetchSpec = ReturnType<typeof prefetchSchema.parse>;

function vmOf(ctx: ActorContext, region: string, kind: string): PostcopyVm {
  const vm = ctx.world.vm(region);
  if (vm === undefined) throw new Error(`${kind}: region '${region}' is not a post-copy VM (setup.vms)`);
  return vm;
}

/** Wait for the piece to arrive, then place it; returns the time placing ended. */
function* receive(w: World, vm: PostcopyVm, piece: Piece, now: number, kind: string): Generator<Step, number, number> {
  if (piece.arrives > now) yield hold(piece.arrives - now, kind, `${piece.len} bytes asked at ${Math.round(piece.asked)} ns`);
  const end: number = yield op({ name: 'place', proc: vm.proc, lock: 'read', extraNs: piece.len / COPY_GBPS, run: () => vm.place(piece) });
  w.point('pageTableBytes', end, vm.pageTableBytes());
  return end;
}

export const postcopyActor: ActorKind<PostcopySpec> = {
  kind: 'postcopy',
  description: 'a post-copy userfaultfd monitor: places the pages vCPUs faulted on (4 KiB with HGM, else the whole huge page) as they arrive over the link: written through the alias, then UFFDIO_CONTINUE',
  schema: postcopySchema,
  regions: (s) => [s.region],
  *program(ctx: ActorContext, s: PostcopySpec): Program {
    const vm = vmOf(ctx, s.region, 'postcopy');
    if (vm.refused !== null) {
      ctx.world.add('refused');
      return;
    }
    for (;;) {
      const now: number = yield block(vm.work, () => vm.demand.length === 0, 'idle', '', false);
      const piece = vm.demand.shift()!;
      ctx.world.add('fetchedBytes', piece.len);
      yield* receive(ctx.world, vm, piece, now, 'fetch');
    }
  },
};

export const prefetchActor: ActorKind<PrefetchSpec> = {
  kind: 'prefetch',
  description: 'a post-copy background pre-fetcher: asks the source for the rest of guest memory on its own channel, a 2 MiB chunk (or its unrequested part; a whole 1 GiB page without HGM) at a time, and places it',
  schema: prefetchSchema,
  regions: (s) => [s.region],
  *program(ctx: ActorContext, s: PrefetchSpec): Program {
    const vm = vmOf(ctx, s.region, 'prefetch');
    if (vm.refused !== null) return;
    let now = 0;
    for (;;) {
      const piece = vm.nextPrefetch(now);
      if (piece === null) return;
      ctx.world.add('fetchedBytes', piece.len);
      now = yield* receive(ctx.world, vm, piece, now, 'prefetch');
    }
  },
};
