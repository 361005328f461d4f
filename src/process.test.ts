/** Process: arguments that are not plain values never escape as TypeErrors. */
import { describe, expect, it } from 'vitest';
import { Kernel } from './index.js';
import type { MmuNotifierOps } from './mm/mmu_notifier.js';
import * as U from './uapi/index.js';
import { syscallCode as errnoOf } from '../test/support/errno.js';

const RW = U.PROT_READ | U.PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;


describe('mmuNotifierRegister reads the callbacks once, at registration', () => {
  it('refuses with EINVAL what cannot be a table of callbacks, and the mm keeps working', () => {
    const k = new Kernel({ memory: '256MiB' });
    const p = k.spawn();
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    const throwing = Object.defineProperty({}, 'invalidateRangeStart', {
      get: () => {
        throw new Error('caller code');
      },
    });
    for (const ops of [proxy, throwing, null, 5, 'ops', { release: 1 }]) {
      expect(errnoOf(() => p.mmuNotifierRegister(ops as MmuNotifierOps))).toBe('EINVAL');
    }
    const a = p.mmap(0, 4096, RW, ANON, -1, 0);
    p.fill(a, 4096, 1);
    p.munmap(a, 4096);
    expect(k.check()).toEqual([]);
  });

  it('calls the callbacks as methods of the caller\'s object; later changes to it are not seen', () => {
    const k = new Kernel({ memory: '256MiB' });
    const p = k.spawn();
    const ops = {
      seen: [] as string[],
      invalidateRangeStart(this: { seen: string[] }) {
        this.seen.push('start');
      },
    } as MmuNotifierOps & { seen: string[]; invalidateRangeEnd?: () => void };
    const sub = p.mmuNotifierRegister(ops);
    ops.invalidateRangeEnd = () => ops.seen.push('end');
    const a = p.mmap(0, 4096, RW, ANON, -1, 0);
    p.fill(a, 4096, 1);
    p.munmap(a, 4096);
    expect(ops.seen).toEqual(['start']);
    sub.unregister();
    expect(k.check()).toEqual([]);
  });
});
