/**
 * guest: a vCPU thread of the VMM writing guest RAM through the VMM's mapping
 * (the guest keeps running while pins are held and helpers fork). Each write
 * is a CPU store to `pages` pages; it faults (and copies on write after a
 * fork) where Linux would, under the per-VMA lock.
 *
 * On a post-copy VM (its region is a `setup.vms` entry, src/sim/postcopy/vm.ts)
 * the vCPU runs the guest instead: a touch of a page stage 2 maps costs the
 * host nothing; a touch of any other page exits to the host, whose access is
 * a userfaultfd MINOR fault, and the vCPU waits (in simulated time) until the
 * monitor has placed the page, then touches it again. A touch inside the
 * range an invalidating collapse has taken from stage 2 waits for the
 * collapse to end.
 */
import { amount, count, duration, name, oneOf } from '../scenario/types.js';
import { type Program, block, op, sleep } from '../engine.js';
import { UffdFault } from '../../mm/userfaultfd_k.js';
import type { PostcopyVm } from '../postcopy/vm.js';
import { SOURCE_BYTE } from '../postcopy/vm.js';
import type { ActorContext, ActorKind } from './actor.js';
import { interval } from './actor.js';
import { actorSchema, pickAddress } from './common.js';

const schema = actorSchema('guest', 'a vCPU writing guest memory', {
  region: name('the region it writes'),
  /** Mean time between writes. */
  every: duration('the mean time between writes'),
  arrival: oneOf(['fixed', 'poisson'], 'the arrival process').optional(),
  /** Pages per write (a memset of pages × 4 KiB). */
  pages: count('pages per write', 1).optional(),
  pattern: oneOf(['random', 'sequential'], 'the access pattern').optional(),
  /** Fraction of writes that are reads instead (0..1). */
  reads: amount('the fraction of reads').optional(),
});
type Spec = ReturnType<typeof schema.parse>;

export const guestActor: ActorKind<Spec> = {
  kind: 'guest',
  description: 'a vCPU writing (or reading) random or sequential pages of a region, faulting and copying on write where Linux would; on a post-copy VM, waiting for the userfaultfd monitor and for invalidating collapses',
  schema,
  regions: (s) => [s.region],
  *program(ctx: ActorContext, s: Spec): Program {
    const vm = ctx.world.vm(s.region);
    if (vm !== undefined) {
      yield* postcopyGuest(ctx, s, vm);
      return;
    }
    const r = ctx.world.region(s.region);
    const pages = s.pages ?? 1;
    const seq = { next: 0 };
    let byte = 1;
    for (;;) {
      yield sleep(interval(ctx, s.every, s.arrival));
      const addr = pickAddress(ctx, r, pages, s.pattern, seq);
      const read = s.reads !== undefined && ctx.rng.float() < s.reads;
      byte = (byte + 1) & 0xff;
      const b = byte;
      yield op({
        name: read ? 'read' : 'write',
        proc: r.proc,
        lock: 'vma',
        syscall: false,
        run: () => {
          if (read) r.proc.read(addr, pages * 4096);
          else r.proc.fill(addr, pages * 4096, b);
        },
      });
    }
  },
};

/** A vCPU of a post-copy VM: reads (the guest's own stores are not the host's business), waits for faults and collapses. */
function* postcopyGuest(ctx: ActorContext, s: Spec, vm: PostcopyVm): Program {
  const w = ctx.world;
  const r = w.region(s.region);
  const seq = { next: 0 };
  if (vm.refused !== null) return;
  for (;;) {
    let now: number = yield sleep(interval(ctx, s.every, s.arrival));
    const addr = pickAddress(ctx, r, 1, s.pattern, seq);
    if (vm.stalled(addr)) {
      const t = now;
      now = yield block(vm.stall, () => vm.stalled(addr), 'collapse stall', 'stage 2 invalidated by a collapse');
      w.sample('collapseStall', now - t);
    }
    if (vm.stage2.present(addr)) continue;
    // An exit to the host: KVM faults the page in through the VMM's mapping.
    let fault: UffdFault | null = null;
    let wrong = false;
    yield op({
      name: 'fault',
      proc: vm.proc,
      lock: 'vma',
      syscall: false,
      run: () => {
        try {
          wrong = vm.proc.read(addr, 1)[0] !== SOURCE_BYTE;
          vm.stage2Fault(addr);
        } catch (e) {
          if (!(e instanceof UffdFault)) throw e;
          fault = e;
          return 'userfaultfd MINOR fault';
        }
        return undefined;
      },
    });
    if (wrong) w.add('wrongBytes');
    if (fault === null) continue;
    w.add('uffdFaults');
    vm.request(Number((fault as UffdFault).msg.arg.pagefault.address), now);
    const t1: number = yield block(vm.faults, () => !vm.isPlaced(addr), 'uffd wait', `page +0x${(addr - vm.primary).toString(16)}`);
    w.sample('faultLatency', t1 - now);
  }
}
