/**
 * mmap_lock on the simulated clock: who may run an operation now, and who
 * waits. The model itself is single-threaded (an operation's effects happen at
 * once when it starts); what the lock decides is *when* it may start, and an
 * operation then holds it for the time the cost model gives it.
 *
 * Modes, as the kernel paths take the lock:
 *   write     mmap_write_lock (fork's dup_mmap, munmap, mremap, mprotect):
 *             waits for every holder and for earlier waiters.
 *   read      mmap_read_lock (slow GUP, madvise, VFIO's pin loop): shares with
 *             readers, waits for a writer and, as rwsem does, queues behind a
 *             waiting writer so writers are not starved.
 *   vma       a page fault under the per-VMA lock (6.4+): waits only while a
 *             writer holds the lock (fork write-locks every VMA it copies),
 *             and does not itself hold mmap_lock.
 *   gup-fast  GUP-fast: lockless, but while fork runs write_protect_seq is
 *             odd and a FOLL_PIN falls back to the slow path, which takes the
 *             lock for read: so it waits like 'read' while a writer holds it.
 *   none      no mmap_lock at all (device I/O, another mm).
 * Simplification: a fault's per-VMA read lock does not delay a writer, which
 * in Linux waits in vma_start_write for faults already running (sub-µs).
 */

export type LockMode = 'write' | 'read' | 'vma' | 'gup-fast' | 'none';

export interface Waiter<T> {
  readonly mode: LockMode;
  readonly since: number;
  readonly item: T;
}

export class SimMmapLock<T> {
  private readers = 0;
  private writer = false;
  private readonly queue: Waiter<T>[] = [];

  /** May an operation in this mode start now? */
  canTake(mode: LockMode): boolean {
    switch (mode) {
      case 'none':
        return true;
      case 'vma':
      case 'gup-fast':
        return !this.writer;
      case 'read':
        return !this.writer && this.queue.length === 0;
      case 'write':
        return !this.writer && this.readers === 0 && this.queue.length === 0;
    }
  }

  /** Take the lock in mode (canTake must be true). */
  take(mode: LockMode): void {
    if (mode === 'write') this.writer = true;
    else if (mode === 'read') this.readers++;
  }

  release(mode: LockMode): void {
    if (mode === 'write') this.writer = false;
    else if (mode === 'read') this.readers--;
  }

  wait(w: Waiter<T>): void {
    this.queue.push(w);
  }

  /**
   * The waiters that may run now, in queue order: the head, and with a reader
   * at the head every reader before the next writer. They are removed from
   * the queue; the caller takes the lock for each.
   */
  grantable(): Waiter<T>[] {
    const out: Waiter<T>[] = [];
    while (this.queue.length > 0) {
      const w = this.queue[0]!;
      const mode = w.mode === 'gup-fast' ? 'read' : w.mode;
      const ok = mode === 'write' ? !this.writer && this.readers === 0 && out.length === 0 : !this.writer;
      if (!ok) break;
      this.queue.shift();
      out.push(w);
      if (mode === 'write') {
        this.writer = true;
        break;
      }
      if (mode === 'read') this.readers++;
    }
    // The caller takes the lock for granted waiters; undo the bookkeeping done to decide.
    for (const w of out) {
      const mode = w.mode === 'gup-fast' ? 'read' : w.mode;
      if (mode === 'write') this.writer = false;
      else if (mode === 'read') this.readers--;
    }
    return out;
  }

  get waiting(): number {
    return this.queue.length;
  }
}
