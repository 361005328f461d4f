/**
 * guest: a vCPU thread of the VMM writing guest RAM through the VMM's mapping
 * (the guest keeps running while pins are held and helpers fork). Each write
 * is a CPU store to `pages` pages; it faults (and copies on write after a
 * fork) where Linux would, under the per-VMA lock.
 */
import { amount, count, duration, name, oneOf } from '../scenario/types.js';
import { type Program, op, sleep } from '../engine.js';
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
  description: 'a vCPU writing (or reading) random or sequential pages of a region, faulting and copying on write where Linux would',
  schema,
  regions: (s) => [s.region],
  *program(ctx: ActorContext, s: Spec): Program {
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
