/**
 * Bounded exhaustive exploration: breadth first gives the shortest
 * counter-example, states are checked once, an exception that is not the
 * kernel's answer is a failure; the built-in worlds at the depth of their
 * races.
 */
import { describe, expect, it } from 'vitest';
import { Kernel } from '../kernel.js';
import { SyscallError } from '../uapi/errors.js';
import { type ExploreWorld, explore } from './engine.js';
import { kvmS2Translate } from '../kvm/fault.js';
import { collapseFaultWorld, gmemConvertWorld, hgmTruncateWorld, pinForkWorld } from './worlds.js';

/** A counter: inc, double, a syscall that fails, and an op that crashes past 20. */
function counterWorld(failAt: number): ExploreWorld<{ x: number }> {
  const k = new Kernel({ memory: '16MiB' });
  return {
    name: 'counter',
    description: 'x: inc, double',
    ops: [
      { name: 'inc', apply: (s) => void s.x++ },
      { name: 'double', apply: (s) => void (s.x *= 2) },
      {
        name: 'fail with EINVAL',
        apply: () => {
          throw new SyscallError('EINVAL', 'test');
        },
      },
      {
        name: 'crash past 20',
        enabled: (s) => s.x > 20,
        apply: () => {
          throw new TypeError('boom');
        },
      },
    ],
    init: () => ({ x: 0 }),
    kernel: () => k,
    fingerprint: (s) => String(s.x),
    check: (s) => (s.x === failAt ? [`x reached ${failAt}`] : []),
  };
}

describe('explore', () => {
  it('checks each state once and stops at the shortest sequence that breaks a rule', () => {
    const r = explore(counterWorld(6), 10);
    // 0 -> 1 -> 2 -> 3 -> 6 (or 1 -> 2 -> 3 -> 6 with a double first): four steps, never fewer.
    expect(r.counterExample?.ops).toHaveLength(4);
    expect(r.counterExample?.failures).toEqual(['x reached 6']);
    // Depth 1 reaches 1 (0 doubled and the failing syscall stay at 0: seen); depth 2 reaches 2; depth 3 reaches 3 and 4;
    // depth 4 fails on its second transition, before any new state.
    expect(r.levels.map((l) => l.states)).toEqual([1, 1, 2, 0]);
    expect(r.states).toBe(5);
  });

  it('a kernel answer (SyscallError) is a transition; any other exception is a counter-example', () => {
    const r = explore(counterWorld(-1), 12);
    // The shortest way past 20: 1, 2, 4, 8, 16, 32 (inc then five doubles) or 5, 10, 20, 21: six steps, then the crash.
    expect(r.counterExample?.failures).toEqual(['TypeError: boom']);
    expect(r.counterExample?.ops.at(-1)).toBe('crash past 20');
    expect(r.counterExample?.ops).toHaveLength(7);
  });

  it('pin-fork at depth 4 (write, pin, fork, write: the seeds 002/003 race) breaks no rule under the upstream design', () => {
    const r = explore(pinForkWorld(), 4);
    expect(r.counterExample).toBeNull();
    expect(r.levels.map((l) => l.depth)).toEqual([1, 2, 3, 4]);
    expect(r.states).toBe(1 + r.levels.reduce((s, l) => s + l.states, 0));
    expect(r.states).toBeGreaterThan(100);
  }, 120_000);

  it("hgm-truncate finds pgtable's flaw as a known finding, with its shortest sequence, and nothing under thp-like", () => {
    const pg = explore(hgmTruncateWorld('pgtable'), 2);
    expect(pg.counterExample).toBeNull();
    expect(pg.findings).toEqual([{ name: 'hgm-mapcount-after-truncate', ops: ['CONTINUE 4 KiB at +0', 'punch the page out (fallocate PUNCH_HOLE)'] }]);
    const tl = explore(hgmTruncateWorld('thp-like'), 2);
    expect(tl.counterExample).toBeNull();
    expect(tl.findings).toEqual([]);
    expect(tl.states).toBeGreaterThan(5);
  }, 120_000);

  it('gmem-convert at depth 2 (pin, then convert: the seeds 000/001 race) breaks no rule; the conversion of a pinned page is refused with EAGAIN', () => {
    const w = gmemConvertWorld('split');
    const s = w.init();
    const op = (name: string) => w.ops.find((o) => o.name === name)!;
    op('host: write page 0').apply(s);
    op('host: pin page 0 (long-term)').apply(s);
    expect(() => op('convert page 0 to private').apply(s)).toThrow(expect.objectContaining({ code: 'EAGAIN' }));
    expect(w.check!(s)).toEqual([]);
    op('convert page 1 to private').apply(s);
    expect(s.priv).toEqual([false, true]);
    expect(w.kernel(s).check()).toEqual([]);
    const r = explore(w, 2);
    expect(r.counterExample).toBeNull();
    expect(r.states).toBeGreaterThan(20);
  }, 120_000);

  it('collapse-fault: MADV_COLLAPSE between the halves of a vCPU fault; under invalidate the fault retries; no stale stage-2 leaf and no rule broken at depth 4', () => {
    for (const notifier of ['invalidate', 'post-collapse']) {
      const w = collapseFaultWorld('head-per-pte', notifier);
      const s = w.init();
      const op = (name: string) => w.ops.find((o) => o.name === name)!;
      op('CONTINUE 4 KiB at +0').apply(s);
      op('vCPU: a fault at gfn +0 resolves its pfn').apply(s);
      expect(s.pending).not.toBeNull();
      op('MADV_COLLAPSE the view').apply(s);
      op('vCPU: the fault sets its leaf (or retries)').apply(s);
      const gfn = 2 ** 30 / 4096;
      const leaf = kvmS2Translate(s.vcpu.kvm, gfn, false);
      // Under invalidate the collapse bumped the sequence the fault read: it retries. A collapse that fills
      // holes changes what is mapped, so post-collapse falls back to the invalidation too; either way a leaf,
      // if set, maps what the host maps.
      if (notifier === 'invalidate') expect([notifier, leaf]).toEqual([notifier, -1]);
      else expect([-1, s.p.pagemap(s.prim).pfn]).toContain(leaf);
      expect(w.check!(s)).toEqual([]);
      expect(w.kernel(s).check()).toEqual([]);
      const r = explore(w, 4);
      expect(r.counterExample).toBeNull();
      expect(r.states).toBeGreaterThan(15);
    }
  }, 120_000);
});
