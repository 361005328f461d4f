/** The schema fields every actor kind shares, and region/address helpers. */
import { z } from 'zod';
import { count, duration, name, obj } from '../scenario/types.js';
import type { Region } from '../world.js';
import type { ActorContext } from './actor.js';

const PAGE = 4096;

/** An actor's schema: its kind, the common fields, then its own. */
export function actorSchema<const K extends string, S extends z.ZodRawShape>(kind: K, description: string, shape: S) {
  return obj(
    {
      kind: z.literal(kind),
      name: name('the actor name').optional(),
      process: name('the process it acts for'),
      threads: count('the number of threads', 1).optional(),
      start: duration('its start time').optional(),
      ...shape,
    },
    description,
  );
}

/** Where an access or pin of `pages` pages lands in the region: a random aligned slot, or the next in sequence. */
export function pickAddress(ctx: ActorContext, r: Region, pages: number, pattern: 'random' | 'sequential' | undefined, seq: { next: number }): number {
  const slots = Math.max(1, Math.floor(r.size / (pages * PAGE)));
  const i = pattern === 'sequential' ? seq.next++ % slots : ctx.rng.int(0, slots - 1);
  return r.addr + i * pages * PAGE;
}
