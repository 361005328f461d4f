/**
 * churn: a process that keeps allocating and freeing memory, so pages are
 * reused: it maps a fresh anonymous buffer and writes it, may fork while it
 * is mapped (a shell running jobs), may then pin it for a while (a bounce
 * buffer for I/O), and unmaps it; its pages go back to the buddy allocator
 * for the next buffer. A fork therefore sees the buffer unpinned, on pages
 * that an earlier buffer had pinned. Over a long run this is what shows whether a
 * design's idea of "pinned" outlives the pin (seed 003 (c)).
 */
import { FOLL_WRITE } from '../../kernel_gup.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../uapi/mman.js';
import { duration, obj, oneOf, pageSize } from '../scenario/types.js';
import { type Program, hold, op, sleep } from '../engine.js';
import type { ActorContext, ActorKind } from './actor.js';
import { interval } from './actor.js';
import { actorSchema } from './common.js';

const schema = actorSchema('churn', 'a process allocating, using and freeing memory', {
  /** Mean time between buffers. */
  every: duration('the mean time between buffers'),
  arrival: oneOf(['fixed', 'poisson'], 'the arrival process').optional(),
  /** Bytes per buffer. */
  size: pageSize('the buffer size'),
  /** Pin the buffer (FOLL_WRITE, pin_user_pages_fast) for this long before freeing it. */
  pin: obj({ hold: duration('how long the pin is held') }, 'a pin of the buffer').optional(),
  /** Fork while the buffer is mapped; the child exits after childLife. */
  fork: obj({ childLife: duration('how long the child lives') }, 'a fork with the buffer mapped').optional(),
});
type Spec = ReturnType<typeof schema.parse>;

export const churnActor: ActorKind<Spec> = {
  kind: 'churn',
  description: 'maps, writes and unmaps fresh buffers (pages are reused across processes), optionally pinning each for a while or forking while it is mapped',
  schema,
  regions: () => [],
  *program(ctx: ActorContext, s: Spec): Program {
    const w = ctx.world;
    const p = w.proc(s.process);
    const n = s.size / 4096;
    for (let i = 0; ; i++) {
      yield sleep(interval(ctx, s.every, s.arrival));
      let addr = 0;
      yield op({
        name: 'mmap',
        proc: p,
        lock: 'write',
        run: () => {
          addr = p.mmap(0, s.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
          p.fill(addr, s.size, i & 0xff);
        },
      });
      if (s.fork !== undefined) {
        let child: ReturnType<typeof p.fork> | null = null;
        yield op({
          name: 'fork',
          proc: p,
          lock: 'write',
          run: () => {
            child = p.fork();
            w.add('forks');
          },
        });
        const c = child as ReturnType<typeof p.fork> | null;
        if (c !== null) {
          yield hold(s.fork.childLife, 'child alive', `pid ${c.pid}`);
          yield op({ name: 'child exit', proc: c, lock: 'none', run: () => c.exit() });
        }
      }
      if (s.pin !== undefined) {
        const pages: number[] = [];
        yield op({ name: 'pin', proc: p, lock: 'gup-fast', syscall: false, run: () => void w.k.gup.pin_user_pages_fast(p, addr, n, FOLL_WRITE, pages) });
        yield hold(s.pin.hold, 'pin held', `${n} pages`);
        yield op({ name: 'unpin', proc: p, lock: 'none', syscall: false, run: () => w.k.gup.unpin_user_pages_dirty_lock(pages, pages.length, true) });
      }
      yield op({ name: 'munmap', proc: p, lock: 'write', run: () => void p.munmap(addr, s.size) });
    }
  },
};
