/**
 * The discrete-event clock: a binary heap of events ordered by simulated time,
 * ties broken by insertion order, so a run is a pure function of its inputs.
 * Times are nanoseconds (doubles: exact integers up to 2^53 ns, about 104 days).
 */

export interface Scheduled<T> {
  readonly t: number;
  readonly seq: number;
  readonly item: T;
}

export class Clock<T> {
  private heap: Scheduled<T>[] = [];
  private seq = 0;
  /** The time of the event being handled. */
  now = 0;

  get size(): number {
    return this.heap.length;
  }

  /** Schedule item at time t (not before now). */
  at(t: number, item: T): void {
    const e = { t: Math.max(t, this.now), seq: this.seq++, item };
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(e, h[p]!)) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = e;
  }

  /** Remove and return the earliest event, advancing now; undefined when empty. */
  next(): Scheduled<T> | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && before(h[r]!, h[l]!) ? r : l;
        if (!before(h[c]!, last)) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    this.now = top.t;
    return top;
  }

  /** The earliest event's time, without removing it. */
  peekTime(): number {
    return this.heap.length === 0 ? Infinity : this.heap[0]!.t;
  }
}

function before<T>(a: Scheduled<T>, b: Scheduled<T>): boolean {
  return a.t < b.t || (a.t === b.t && a.seq < b.seq);
}
