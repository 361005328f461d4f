/**
 * The engine on a real kernel: operations take the time the cost model gives
 * their counters, and an operation that Linux would block waits in simulated
 * time for mmap_lock, with the wait reported.
 */
import { describe, expect, it } from 'vitest';
import { CostModel } from '../cost/model.js';
import { Kernel } from '../kernel.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../uapi/mman.js';
import { type ActorRun, type Program, WaitQueue, block, op, runActors, sleep } from './engine.js';

function setup() {
  const k = new Kernel({ memory: '256MiB', thp: 'never' });
  const p = k.spawn();
  const a = p.mmap(0, 8 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  p.fill(a, 8 << 20, 1);
  return { k, p, a };
}

describe('runActors', () => {
  it('charges an operation the cost of the counters it moved', () => {
    const { k, p, a } = setup();
    const model = new CostModel();
    let t1 = 0;
    function* forker(): Program {
      yield op({ name: 'fork', proc: p, lock: 'write', show: true, run: () => void p.fork() });
      t1 = yield sleep(0);
    }
    const ev = k.host.ev;
    const before = ev.slice();
    const r = runActors(k, model, [{ name: 'f', kind: 'forker', cpu: 0, start: 0, program: forker() }], 1e9, 'd');
    const delta = new Float64Array(ev.length);
    for (let i = 0; i < ev.length; i++) delta[i] = ev[i]! - before[i]!;
    const cost = model.time(delta);
    expect(cost).toBeGreaterThan(0);
    expect(t1).toBeCloseTo(cost, 6);
    expect(r.ops.get('f:fork')!.busyNs).toBeCloseTo(cost, 6);
    expect(r.timeline.map((e) => [e.actor, e.kind, e.start])).toEqual([['f', 'fork', 0]]);
    void a;
  });

  it('makes a fault wait while fork holds mmap_lock for write, and reports the wait', () => {
    const { k, p, a } = setup();
    const model = new CostModel();
    let forkEnd = 0;
    let faultAt = -1;
    function* forker(): Program {
      yield op({ name: 'fork', proc: p, lock: 'write', run: () => void p.fork() });
      forkEnd = yield sleep(0);
    }
    function* vcpu(): Program {
      faultAt = yield op({ name: 'write', proc: p, lock: 'vma', syscall: false, run: () => p.fill(a, 1, 2) });
    }
    const actors: ActorRun[] = [
      { name: 'f', kind: 'forker', cpu: 0, start: 0, program: forker() },
      { name: 'v', kind: 'guest', cpu: 1, start: 10, program: vcpu() },
    ];
    const r = runActors(k, model, actors, 1e9, 'd');
    const w = r.ops.get('v:write')!;
    expect(forkEnd).toBeGreaterThan(10);
    expect(w.waitNs).toBeCloseTo(forkEnd - 10, 6);
    expect(r.actors.get('v')!.waitNs).toBeCloseTo(forkEnd - 10, 6);
    expect(faultAt).toBeGreaterThanOrEqual(forkEnd);
    expect(r.timeline.some((e) => e.actor === 'v' && e.kind === 'mmap_lock wait' && e.start === 10 && e.end === forkEnd)).toBe(true);
  });

  it('lets lockless work and work on another mm run during the fork', () => {
    const { k, p } = setup();
    const q = k.spawn();
    const b = q.mmap(0, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    const model = new CostModel();
    function* forker(): Program {
      yield op({ name: 'fork', proc: p, lock: 'write', run: () => void p.fork() });
    }
    function* other(): Program {
      yield op({ name: 'mmap', proc: q, lock: 'write', run: () => q.fill(b, 4096, 1) });
    }
    const r = runActors(k, model, [
      { name: 'f', kind: 'forker', cpu: 0, start: 0, program: forker() },
      { name: 'o', kind: 'script', cpu: 1, start: 1, program: other() },
    ], 1e9, 'd');
    expect(r.ops.get('o:mmap')!.waitNs).toBe(0);
  });

  it('counts an operation the kernel refuses, and carries on', () => {
    const { k, p } = setup();
    function* bad(): Program {
      yield op({ name: 'munmap', proc: p, lock: 'write', run: () => void p.munmap(1, 4096) });
      yield op({ name: 'munmap', proc: p, lock: 'write', run: () => void p.munmap(1, 4096) });
    }
    const r = runActors(k, new CostModel(), [{ name: 'b', kind: 'script', cpu: 0, start: 0, program: bad() }], 1e9, 'd');
    expect(r.failures.get('b:munmap')).toBe(2);
    expect(r.timeline.every((e) => e.detail.startsWith('failed: '))).toBe(true);
  });

  it('stops at the end of the simulated duration and runs the probe on its period', () => {
    const { k, p, a } = setup();
    let writes = 0;
    function* vcpu(): Program {
      for (;;) {
        yield sleep(1000);
        yield op({ name: 'write', proc: p, lock: 'vma', syscall: false, run: () => void (writes++, p.fill(a, 1, 3)) });
      }
    }
    const ticks: number[] = [];
    runActors(k, new CostModel(), [{ name: 'v', kind: 'guest', cpu: 0, start: 0, program: vcpu() }], 10_500, 'd', { probe: { every: 5000, fn: (t) => ticks.push(t) } });
    expect(writes).toBe(10);
    expect(ticks).toEqual([5000, 10000]);
  });

  it('blocks an actor on a wait queue until a waker clears its condition, and counts the time', () => {
    const { k, p, a } = setup();
    const q = new WaitQueue();
    let ready = false;
    let resumedAt = -1;
    let opEnd = -1;
    function* waiter(): Program {
      resumedAt = yield block(q, () => !ready, 'uffd wait', 'page 0');
    }
    function* waker(): Program {
      yield sleep(5000);
      // A wake with the condition unchanged leaves the waiter parked.
      q.wake();
      yield sleep(1000);
      opEnd = yield op({ name: 'place', proc: p, lock: 'read', run: () => void ((ready = true), p.fill(a, 4096, 9), q.wake()) });
    }
    const r = runActors(k, new CostModel(), [
      { name: 'v', kind: 'guest', cpu: 0, start: 0, program: waiter() },
      { name: 'm', kind: 'script', cpu: 1, start: 0, program: waker() },
    ], 1e9, 'd');
    // Resumed when the waker's operation ended, not when it started.
    expect(opEnd).toBeGreaterThan(6000);
    expect(resumedAt).toBe(opEnd);
    expect(r.actors.get('v')!.blockNs).toBe(opEnd);
    expect(r.actors.get('v')!.maxBlockNs).toBe(opEnd);
    expect(r.timeline.some((e) => e.actor === 'v' && e.kind === 'uffd wait' && e.start === 0 && e.end === opEnd)).toBe(true);
  });

  it('does not block when the condition is already clear, and counts a block that outlasts the run', () => {
    const { k } = setup();
    const q = new WaitQueue();
    let after = -1;
    function* free(): Program {
      after = yield block(q, () => false, 'never');
    }
    function* stuck(): Program {
      yield sleep(100);
      yield block(q, () => true, 'forever');
    }
    const r = runActors(k, new CostModel(), [
      { name: 'f', kind: 'guest', cpu: 0, start: 0, program: free() },
      { name: 's', kind: 'guest', cpu: 1, start: 0, program: stuck() },
    ], 10_000, 'd');
    expect(after).toBe(0);
    expect(r.actors.get('f')!.blockNs).toBe(0);
    expect(r.actors.get('s')!.blockNs).toBe(9900);
  });
});
