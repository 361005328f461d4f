/**
 * forker: a helper that forks the VMM now and then (a snapshot or migration
 * helper, a device model spawning a process), and whose child lives a while
 * before it exits. fork holds mmap_lock for write while it copies the page
 * tables, and copies every page the pin-accounting design calls maybe-pinned
 * (copy_present_page); the guest's writes then break copy-on-write while the
 * child lives.
 */
import { Ev } from '../../cost/counters.js';
import type { Process } from '../../process.js';
import { count, duration, flag, obj, pageSize, name } from '../scenario/types.js';
import { type Program, hold, op, sleep } from '../engine.js';
import type { ActorContext, ActorKind } from './actor.js';
import { actorSchema } from './common.js';
import { captureFolioMap } from '../folio_map.js';

const schema = actorSchema('forker', 'a helper that forks the process now and then', {
  /** Time between forks. */
  every: duration('the time between forks'),
  /** How long each child lives before it exits. */
  childLife: duration('how long each child lives'),
  /** Stop after this many forks. */
  limit: count('the number of forks', 1).optional(),
  /** Capture a folio map of this 2 MiB range right after the first fork. */
  folioMap: obj({ region: name('the region'), offset: pageSize('the offset of a 2 MiB range') }, 'the range to draw').optional(),
  /** The child writes one byte to every page of this region (it then owns copies). */
  childWrites: name('a region the child writes').optional(),
  /** Keep the children alive to the end (ignore childLife). */
  keep: flag('keep children to the end').optional(),
});
type Spec = ReturnType<typeof schema.parse>;

export const forkerActor: ActorKind<Spec> = {
  kind: 'forker',
  description: 'forks the process every so often; each child lives for a while, then exits',
  schema,
  regions: (s) => [...(s.folioMap !== undefined ? [s.folioMap.region] : []), ...(s.childWrites !== undefined ? [s.childWrites] : [])],
  *program(ctx: ActorContext, s: Spec): Program {
    const w = ctx.world;
    const parent = w.proc(s.process);
    let now = s.start ?? 0;
    for (let n = 0; s.limit === undefined || n < s.limit; n++) {
      // Fork n is due at start + n·every, or when child n-1 has exited if that is later.
      const due = (s.start ?? 0) + n * s.every;
      if (due > now) now = yield sleep(due - now);
      let child: Process | null = null;
      now = yield op({
        name: 'fork',
        proc: parent,
        lock: 'write',
        show: true,
        run: () => {
          const copied = w.k.host.ev[Ev.FORK_COPY]!;
          child = parent.fork();
          w.children.add(child);
          w.add('forks');
          const copies = w.k.host.ev[Ev.FORK_COPY]! - copied;
          if (n === 0 && s.folioMap !== undefined) {
            const r = w.region(s.folioMap.region);
            const addr = r.addr + s.folioMap.offset;
            w.folioMap = captureFolioMap(w, w.design, parent, child, addr, `${s.folioMap.region}+${fmtOff(s.folioMap.offset)} of ${s.process} right after fork #1`);
          }
          return `child pid ${child.pid}; ${copies} pages copied for it`;
        },
      });
      const c = child as Process | null;
      if (c === null) continue;
      if (s.childWrites !== undefined) {
        const r = w.region(s.childWrites);
        now = yield op({
          name: 'child writes',
          proc: c,
          lock: 'vma',
          syscall: false,
          run: () => {
            for (let a = r.addr; a < r.addr + r.size; a += 4096) c.fill(a, 1, 0xcc);
          },
        });
      }
      if (s.keep === true) continue;
      now = yield hold(s.childLife, 'child alive', `pid ${c.pid}`);
      now = yield op({
        name: 'child exit',
        proc: c,
        lock: 'none',
        run: () => {
          w.children.delete(c);
          c.exit();
        },
      });
    }
  },
};

function fmtOff(off: number): string {
  return off % 2 ** 20 === 0 ? `${off / 2 ** 20}MiB` : `0x${off.toString(16)}`;
}
