/**
 * pin: a kernel user of GUP on the process's memory, as drivers call it.
 *
 *   I/O threads (O_DIRECT-like): pin_user_pages_fast(FOLL_WRITE) of a buffer,
 *   hold it while the device transfers, then unpin_user_pages_dirty_lock.
 *   vhost-like FOLL_GET users: get_user_pages_fast, then put_page.
 *   A pKVM/Gunyah-style hypervisor donating pages to a guest (seed 002):
 *   FOLL_LONGTERM | FOLL_EXCLUSIVE, held for the rest of the run; where the
 *   kernel has no FOLL_EXCLUSIVE (is_valid_gup_args refuses it) it falls back
 *   to a plain long-term pin, as such a VMM must today.
 *
 * Each pin is checked against the pages donated to the guest: a successful pin
 * or reference on one by anyone else is counted (the host reaching memory the
 * guest owns), and every refusal is counted by errno.
 */
import { FOLL_EXCLUSIVE, FOLL_LONGTERM, FOLL_WRITE } from '../../kernel_gup.js';
import { count, duration, name, oneOf } from '../scenario/types.js';
import { z } from 'zod';
import { type Program, hold, op, sleep } from '../engine.js';
import type { HeldPin } from '../world.js';
import type { ActorContext, ActorKind } from './actor.js';
import { interval } from './actor.js';
import { actorSchema, pickAddress } from './common.js';

const API = ['pin_user_pages_fast', 'pin_user_pages', 'get_user_pages_fast', 'get_user_pages'] as const;
const FLAGS = ['write', 'longterm', 'exclusive'] as const;

const schema = actorSchema('pin', 'a GUP user: I/O threads, FOLL_GET users, a hypervisor donating pages', {
  region: name('the region it pins'),
  /** Mean time between pins. */
  every: duration('the mean time between pins'),
  arrival: oneOf(['fixed', 'poisson'], 'the arrival process').optional(),
  /** Pages per pin call (the I/O buffer). */
  pages: count('pages per pin', 1).optional(),
  pattern: oneOf(['random', 'sequential'], 'where buffers are taken').optional(),
  /** How long the device holds each pin; "forever" keeps every pin to the end of the run. */
  hold: z.union([z.literal('forever'), duration('how long a pin is held')]),
  api: oneOf(API, 'the GUP function').optional(),
  flags: z.array(oneOf(FLAGS, 'a FOLL_ flag')).optional(),
  /** Stop after this many pin calls. */
  limit: count('the number of pin calls', 1).optional(),
  /** Its pins donate pages to the guest (the hypervisor's own pins). */
  donates: z.boolean().optional(),
});
type Spec = ReturnType<typeof schema.parse>;

const ERRNO: Record<number, string> = { 1: 'EPERM', 11: 'EAGAIN', 12: 'ENOMEM', 14: 'EFAULT', 16: 'EBUSY', 22: 'EINVAL' };

export const pinActor: ActorKind<Spec> = {
  kind: 'pin',
  description: 'GUP on a region: short-term I/O pins held for a while, FOLL_GET references, or long-term/exclusive pins that donate pages to a guest',
  schema,
  regions: (s) => [s.region],
  *program(ctx: ActorContext, s: Spec): Program {
    const w = ctx.world;
    const r = w.region(s.region);
    const k = w.k;
    const n = s.pages ?? 1;
    const api = s.api ?? 'pin_user_pages_fast';
    const get = api.startsWith('get_');
    const fast = api.endsWith('_fast');
    const flags = (s.flags ?? []).reduce((a, f) => a | (f === 'write' ? FOLL_WRITE : f === 'longterm' ? FOLL_LONGTERM : FOLL_EXCLUSIVE), 0);
    const seq = { next: 0 };
    for (let calls = 0; s.limit === undefined || calls < s.limit; calls++) {
      yield sleep(interval(ctx, s.every, s.arrival));
      const addr = pickAddress(ctx, r, n, s.pattern, seq);
      const pages: number[] = [];
      let got = 0;
      let fellBack = false;
      yield op({
        name: get ? 'get' : 'pin',
        proc: r.proc,
        lock: fast ? 'gup-fast' : 'read',
        syscall: false,
        run: () => {
          got = call(api, k, r.proc, addr, n, flags, pages);
          if (got <= 0 && flags & FOLL_EXCLUSIVE && !k.host.pins.exclusiveSupported) {
            // No FOLL_EXCLUSIVE in this kernel: a plain long-term pin is what the VMM can do.
            fellBack = true;
            got = call(api, k, r.proc, addr, n, flags & ~FOLL_EXCLUSIVE, pages);
          }
          if (got < n) {
            const why = got < 0 ? (ERRNO[-got] ?? `errno ${-got}`) : `short (${Math.max(got, 0)} of ${n})`;
            w.add(`refused:${ctx.name}`);
            w.add('pinsRefused');
            if (got > 0) release(k, get, flags, pages.slice(0, got));
            got = 0;
            return `refused: ${why}`;
          }
          const onGuest = pages.filter((p) => w.donated.has(p)).length;
          if (s.donates === true) for (const p of pages) w.donated.add(p);
          else if (onGuest > 0) w.add(get ? 'getsOnGuestPages' : 'pinsOnGuestPages', onGuest);
          w.add(get ? 'gets' : 'pins', n);
          return `${n} page${n > 1 ? 's' : ''} at 0x${addr.toString(16)}${fellBack ? ' (no FOLL_EXCLUSIVE: plain long-term pin)' : ''}`;
        },
      });
      if (got === 0) continue;
      const held: HeldPin[] = pages.map((pfn, i) => ({ proc: r.proc, addr: addr + i * 4096, pfn }));
      for (const h of held) w.held.add(h);
      // Held for good: keep it, and go on to the next pin.
      if (s.hold === 'forever') continue;
      yield hold(s.hold, get ? 'get held' : 'pin held', `${n} page${n > 1 ? 's' : ''}`);
      yield op({
        name: get ? 'put' : 'unpin',
        proc: r.proc,
        lock: 'none',
        syscall: false,
        run: () => {
          for (const h of held) w.held.delete(h);
          release(k, get, flags, pages);
        },
      });
    }
  },
};

function call(api: (typeof API)[number], k: ActorContext['world']['k'], p: Parameters<ActorContext['world']['k']['gup']['pin_user_pages']>[0], addr: number, n: number, flags: number, pages: number[]): number {
  pages.length = 0;
  switch (api) {
    case 'pin_user_pages_fast':
      return k.gup.pin_user_pages_fast(p, addr, n, flags, pages);
    case 'pin_user_pages':
      return k.gup.pin_user_pages(p, addr, n, flags, pages);
    case 'get_user_pages_fast':
      return k.gup.get_user_pages_fast(p, addr, n, flags, pages);
    case 'get_user_pages':
      return k.gup.get_user_pages(p, addr, n, flags, pages);
  }
}

function release(k: ActorContext['world']['k'], get: boolean, flags: number, pages: number[]): void {
  if (get) for (const p of pages) k.gup.put_page(p);
  else if (flags & FOLL_EXCLUSIVE && k.host.pins.exclusiveSupported) k.gup.unpin_exc_pages(pages, pages.length);
  else k.gup.unpin_user_pages_dirty_lock(pages, pages.length, (flags & FOLL_WRITE) !== 0);
}
