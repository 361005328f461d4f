/**
 * soak: replays a list of the soak's operations (src/soak/ops.ts), one every
 * `every`, in the process it names and the processes it forks. `foliosim
 * soak` writes a failing stream, shrunk, as a scenario with this actor, so
 * `foliosim run FILE` shows the failure again: an oracle finding in the
 * report, or a read that differs from what the stream wrote (SoakCheckFailure).
 */
import { z } from 'zod';
import { OP_NAMES, type SoakOp, applyOp, newState, opProcess } from '../../soak/ops.js';
import { duration } from '../scenario/types.js';
import { type Program, op, sleep } from '../engine.js';
import type { ActorContext, ActorKind } from './actor.js';
import { actorSchema } from './common.js';

/** One operation: its name, the process index, and its own numbers (docs/SCENARIOS.md). */
const SoakOpSpec = z
  .object({ op: z.enum(OP_NAMES, { error: `expected op: ${OP_NAMES.join(', ')}` }), t: z.number().int().min(0) })
  .catchall(z.union([z.number(), z.string()]));

const schema = actorSchema('soak', 'a replay of soak operations', {
  every: duration('the time between operations').optional(),
  ops: z.array(SoakOpSpec).min(1),
});
type Spec = ReturnType<typeof schema.parse>;

export const soakActor: ActorKind<Spec> = {
  kind: 'soak',
  description: 'replays soak operations (foliosim soak writes a failing stream, shrunk, as a scenario with this actor)',
  schema,
  regions: () => [],
  *program(ctx: ActorContext, s: Spec): Program {
    const st = newState(ctx.world.k, ctx.world.proc(s.process));
    const every = s.every ?? 1000;
    for (const o of s.ops as SoakOp[]) {
      yield op({ name: o.op, proc: opProcess(st, o), lock: 'none', show: true, run: () => applyOp(st, o) });
      yield sleep(every);
    }
  },
};
