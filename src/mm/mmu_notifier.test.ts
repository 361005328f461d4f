/** MMU notifiers: every path that changes user PTEs brackets it with an event. */
import { describe, expect, it } from 'vitest';
import { Kernel, MmuNotifyEvent, type MmuNotifierRange, type Process } from '../index.js';
import * as U from '../uapi/index.js';

const RW = U.PROT_READ | U.PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;

function record(p: Process) {
  const events: { ev: MmuNotifyEvent; start: number; end: number; phase: 'start' | 'end' }[] = [];
  let released = 0;
  const sub = p.mmuNotifierRegister({
    invalidateRangeStart: (r: MmuNotifierRange) => events.push({ ev: r.event, start: r.start, end: r.end, phase: 'start' }),
    invalidateRangeEnd: (r: MmuNotifierRange) => events.push({ ev: r.event, start: r.start, end: r.end, phase: 'end' }),
    release: () => released++,
  });
  return { events, sub, released: () => released };
}

describe('mmu notifiers', () => {
  it('munmap, madvise, mprotect, COW, fork and exit raise their events, balanced', () => {
    const k = new Kernel({ memory: '256MiB', thp: 'never' });
    const p = k.spawn();
    const a = p.mmap(0, 4 * 4096, RW, ANON, -1, 0);
    p.fill(a, 4 * 4096, 1);
    const r = record(p);
    p.madvise(a, 4096, U.MADV_DONTNEED);
    p.mprotect(a + 4096, 4096, U.PROT_READ);
    const c = p.fork();
    p.write(a + 8192, new Uint8Array([2]));
    p.munmap(a + 12288, 4096);
    const starts = r.events.filter((e) => e.phase === 'start').map((e) => e.ev);
    // copy_page_range runs once per COW VMA: mprotect split the range into three.
    const P = MmuNotifyEvent.PROTECTION_PAGE;
    expect(starts).toEqual([MmuNotifyEvent.CLEAR, MmuNotifyEvent.PROTECTION_VMA, P, P, P, MmuNotifyEvent.CLEAR, MmuNotifyEvent.UNMAP]);
    expect(r.events.filter((e) => e.phase === 'end').length).toBe(starts.length);
    expect(r.events[0]).toMatchObject({ start: a, end: a + 4096 });
    p.exit();
    expect(r.released()).toBe(1);
    c.exit();
  });

  it('truncation reaches the mappings of other processes; unregistering stops delivery', () => {
    const k = new Kernel({ memory: '256MiB' });
    const p = k.spawn();
    const fd = p.memfd_create('f', 0);
    p.ftruncate(fd, 8192);
    const s = p.mmap(0, 8192, RW, U.MAP_SHARED, fd, 0);
    p.fill(s, 8192, 1);
    const c = p.fork();
    c.read(s, 1);
    const r = record(c);
    p.ftruncate(fd, 4096);
    expect(r.events.some((e) => e.ev === MmuNotifyEvent.CLEAR && e.start === s + 4096)).toBe(true);
    r.sub.unregister();
    const n = r.events.length;
    p.ftruncate(fd, 0);
    expect(r.events.length).toBe(n);
    expect(k.check()).toEqual([]);
  });
});
