import { describe, expect, it } from 'vitest';
import { SimMmapLock } from './mmap_lock.js';

describe('mmap_lock on the simulated clock', () => {
  it('a writer excludes readers, faults and GUP-fast, but not lock-free work', () => {
    const l = new SimMmapLock<string>();
    l.take('write');
    expect(l.canTake('read')).toBe(false);
    expect(l.canTake('write')).toBe(false);
    expect(l.canTake('vma')).toBe(false);
    expect(l.canTake('gup-fast')).toBe(false);
    expect(l.canTake('none')).toBe(true);
  });

  it('readers share; a writer waits for them, and later readers queue behind the writer (no writer starvation)', () => {
    const l = new SimMmapLock<string>();
    l.take('read');
    expect(l.canTake('read')).toBe(true);
    expect(l.canTake('write')).toBe(false);
    l.wait({ mode: 'write', since: 1, item: 'fork' });
    // A new reader may not overtake the waiting writer.
    expect(l.canTake('read')).toBe(false);
    // Faults under the per-VMA lock only wait for a holder, not for a queued writer.
    expect(l.canTake('vma')).toBe(true);
    l.wait({ mode: 'read', since: 2, item: 'gup' });
    expect(l.grantable()).toEqual([]);
    l.release('read');
    expect(l.grantable().map((w) => w.item)).toEqual(['fork']);
    l.take('write');
    expect(l.grantable()).toEqual([]);
    l.release('write');
    expect(l.grantable().map((w) => w.item)).toEqual(['gup']);
  });

  it('grants every reader at the head of the queue together', () => {
    const l = new SimMmapLock<string>();
    l.take('write');
    l.wait({ mode: 'read', since: 0, item: 'r1' });
    l.wait({ mode: 'gup-fast', since: 0, item: 'r2' });
    l.wait({ mode: 'write', since: 0, item: 'w' });
    l.wait({ mode: 'read', since: 0, item: 'r3' });
    l.release('write');
    expect(l.grantable().map((w) => w.item)).toEqual(['r1', 'r2']);
    expect(l.waiting).toBe(2);
  });
});
