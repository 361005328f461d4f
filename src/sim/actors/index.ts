/** Actor kinds by name (src/sim/actors/actor.ts). */
import type { ActorCommon, ActorKind } from './actor.js';
import { churnActor } from './churn.js';
import { forkerActor } from './forker.js';
import { guestActor } from './guest.js';
import { pinActor } from './pin.js';
import { postcopyActor, prefetchActor } from './postcopy.js';
import { collapserActor } from './collapser.js';
import { scriptActor } from './script.js';
import { soakActor } from './soak.js';
import { vfioActor } from './vfio.js';
import { convertActor, cvmVcpuActor, vmmIoActor } from './cvm.js';

export const ACTOR_KINDS: readonly ActorKind[] = [guestActor, pinActor, vfioActor, forkerActor, churnActor, scriptActor, postcopyActor, prefetchActor, collapserActor, convertActor, vmmIoActor, cvmVcpuActor, soakActor] as unknown as readonly ActorKind[];

export function actorKind(kind: string): ActorKind<ActorCommon> {
  return ACTOR_KINDS.find((a) => a.kind === kind)!;
}
