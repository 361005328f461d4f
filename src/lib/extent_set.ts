/**
 * A set of disjoint half-open integer ranges [start, end), kept sorted and
 * coalesced (adjacent ranges merge), with O(log n) search and aligned
 * first-fit allocation.
 *
 * Storage is a two-level "sorted list of sorted chunks": a directory of chunks,
 * each holding up to CHUNK_MAX ranges in two parallel number arrays. Inserting or
 * removing a range moves at most CHUNK_MAX elements, so a set fragmented into a
 * million ranges still updates in microseconds, and a set of one range (an
 * untouched 64 TiB host) costs two numbers.
 *
 * Each chunk keeps `maxLen`, an upper bound on its longest range: it only grows
 * on insert and is recomputed when a search finds it stale, so large aligned
 * allocations skip chunks that cannot hold them.
 */

const CHUNK_MAX = 512;

/** a.splice(i, 0, v) without splice's generic path (a chunk's arrays are short; every free and allocation moves them). */
function insertAt(a: number[], i: number, v: number): void {
  a.push(v);
  for (let k = a.length - 1; k > i; k--) a[k] = a[k - 1]!;
  a[i] = v;
}

/** a.splice(i, 1), likewise. */
function deleteAt(a: number[], i: number): void {
  const n = a.length - 1;
  for (let k = i; k < n; k++) a[k] = a[k + 1]!;
  a.pop();
}

interface Chunk {
  starts: number[];
  ends: number[];
  maxLen: number;
}

export class ExtentSet {
  private chunks: Chunk[] = [];
  private total = 0;
  private count = 0;
  /** seek's answer: the range found, its start clipped to the point sought. */
  private foundStart = 0;
  private foundEnd = 0;

  /** Sum of range lengths. */
  get length(): number {
    return this.total;
  }

  /** Number of disjoint ranges. */
  get ranges(): number {
    return this.count;
  }

  /** Index of the last chunk whose first start is <= x, or 0. */
  private chunkFor(x: number): number {
    const cs = this.chunks;
    let lo = 0;
    let hi = cs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (cs[mid]!.starts[0]! <= x) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Within a chunk, index of the last range whose start is <= x, or -1. */
  private static rangeFor(c: Chunk, x: number): number {
    const s = c.starts;
    let lo = 0;
    let hi = s.length - 1;
    if (hi < 0 || s[0]! > x) return -1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (s[mid]! <= x) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /**
   * The first range that ends after x, with its start clipped to x, into
   * foundStart and foundEnd; false if there is none. overlaps and allocOne
   * ask it once; collectGaps, union and subtract step through the set with
   * it, the last two while they change it, with no list of the ranges to
   * build first.
   */
  private seek(x: number): boolean {
    const cs = this.chunks;
    if (cs.length === 0) return false;
    let ci = this.chunkFor(x);
    let c = cs[ci]!;
    let r = ExtentSet.rangeFor(c, x);
    if (r < 0 || c.ends[r]! <= x) {
      r++;
      if (r >= c.starts.length) {
        if (++ci >= cs.length) return false;
        c = cs[ci]!;
        r = 0;
      }
    }
    this.foundStart = Math.max(c.starts[r]!, x);
    this.foundEnd = c.ends[r]!;
    return true;
  }

  /** True if x lies inside some range. */
  has(x: number): boolean {
    if (this.chunks.length === 0) return false;
    const c = this.chunks[this.chunkFor(x)]!;
    const r = ExtentSet.rangeFor(c, x);
    return r >= 0 && x < c.ends[r]!;
  }

  /** True if [start, end) intersects any range. */
  overlaps(start: number, end: number): boolean {
    return end > start && this.seek(start) && this.foundStart < end;
  }

  /** True if [start, end) lies entirely inside one range. */
  covers(start: number, end: number): boolean {
    if (this.chunks.length === 0) return false;
    const c = this.chunks[this.chunkFor(start)]!;
    const r = ExtentSet.rangeFor(c, start);
    return r >= 0 && c.ends[r]! >= end;
  }

  /**
   * Add [start, end). It must not overlap an existing range (a double free is a
   * caller bug, reported by throwing). Coalesces with neighbours.
   */
  add(start: number, end: number): void {
    if (end <= start) return;
    if (this.overlaps(start, end)) throw new RangeError(`extent [${start}, ${end}) overlaps a free range`);
    this.total += end - start;
    if (this.chunks.length === 0) {
      this.chunks.push({ starts: [start], ends: [end], maxLen: end - start });
      this.count = 1;
      return;
    }
    const ci = this.chunkFor(start);
    const c = this.chunks[ci]!;
    const r = ExtentSet.rangeFor(c, start);
    // Candidates to merge: previous range (r in c) and next range (r+1 in c, or first of next chunk).
    const prevTouches = r >= 0 && c.ends[r] === start;
    let nextChunk = c;
    let ni = r + 1;
    if (ni >= c.starts.length) {
      nextChunk = this.chunks[ci + 1] ?? c;
      ni = nextChunk === c ? c.starts.length : 0;
    }
    const nextTouches = ni < nextChunk.starts.length && nextChunk.starts[ni] === end;
    if (prevTouches && nextTouches) {
      c.ends[r] = nextChunk.ends[ni]!;
      c.maxLen = Math.max(c.maxLen, c.ends[r]! - c.starts[r]!);
      this.removeAt(nextChunk, ni);
    } else if (prevTouches) {
      c.ends[r] = end;
      c.maxLen = Math.max(c.maxLen, end - c.starts[r]!);
    } else if (nextTouches) {
      nextChunk.starts[ni] = start;
      nextChunk.maxLen = Math.max(nextChunk.maxLen, nextChunk.ends[ni]! - start);
    } else {
      // Insert after r in chunk c (r may be -1 only when ci === 0).
      insertAt(c.starts, r + 1, start);
      insertAt(c.ends, r + 1, end);
      c.maxLen = Math.max(c.maxLen, end - start);
      this.count++;
      if (c.starts.length > CHUNK_MAX) this.splitChunk(ci);
    }
  }

  private removeAt(c: Chunk, i: number): void {
    deleteAt(c.starts, i);
    deleteAt(c.ends, i);
    this.count--;
    if (c.starts.length === 0) {
      const idx = this.chunks.indexOf(c);
      this.chunks.splice(idx, 1);
    }
  }

  private splitChunk(ci: number): void {
    const c = this.chunks[ci]!;
    const half = c.starts.length >>> 1;
    const d: Chunk = { starts: c.starts.splice(half), ends: c.ends.splice(half), maxLen: c.maxLen };
    this.chunks.splice(ci + 1, 0, d);
  }

  /** Remove [start, end), which must lie inside a single range. */
  remove(start: number, end: number): void {
    if (end <= start) return;
    if (this.chunks.length === 0) throw new RangeError(`extent [${start}, ${end}) is not free`);
    const ci = this.chunkFor(start);
    const c = this.chunks[ci]!;
    const r = ExtentSet.rangeFor(c, start);
    if (r < 0 || c.ends[r]! < end) throw new RangeError(`extent [${start}, ${end}) is not free`);
    this.total -= end - start;
    const s = c.starts[r]!;
    const e = c.ends[r]!;
    if (s === start && e === end) {
      this.removeAt(c, r);
    } else if (s === start) {
      c.starts[r] = end;
    } else if (e === end) {
      c.ends[r] = start;
    } else {
      c.ends[r] = start;
      insertAt(c.starts, r + 1, end);
      insertAt(c.ends, r + 1, e);
      this.count++;
      if (c.starts.length > CHUNK_MAX) this.splitChunk(ci);
    }
  }

  /**
   * Find the lowest `size`-long block aligned to `align` (a power of two) inside
   * one range and within [lo, hi); remove and return its start, or -1.
   */
  allocAligned(size: number, align: number, lo = 0, hi = Number.MAX_SAFE_INTEGER): number {
    const cs = this.chunks;
    for (let ci = lo === 0 ? 0 : this.chunkFor(lo); ci < cs.length; ci++) {
      const c = cs[ci]!;
      if (c.maxLen < size) continue;
      if (c.starts[0]! >= hi) return -1;
      let best = 0;
      for (let r = 0; r < c.starts.length; r++) {
        const s = Math.max(c.starts[r]!, lo);
        const e = Math.min(c.ends[r]!, hi);
        const len = c.ends[r]! - c.starts[r]!;
        if (len > best) best = len;
        if (e - s < size) continue;
        const a = Math.ceil(s / align) * align;
        if (a + size <= e) {
          this.remove(a, a + size);
          return a;
        }
      }
      c.maxLen = best; // the hint was stale: tighten it
    }
    return -1;
  }

  /** Remove and return the lowest single unit within [lo, hi), or -1 (fast path for order-0). */
  allocOne(lo: number, hi: number): number {
    if (!this.seek(lo) || this.foundStart >= hi) return -1;
    const s = this.foundStart;
    this.remove(s, s + 1);
    return s;
  }

  /** Visit ranges overlapping [lo, hi) in order, clipped to it (from the chunk holding lo: O(log n + visited)). */
  forEach(visit: (start: number, end: number) => void, lo = 0, hi = Number.MAX_SAFE_INTEGER): void {
    const cs = this.chunks;
    // Ranges of earlier chunks end before the first start of chunkFor(lo), which is <= lo.
    for (let ci = cs.length === 0 ? 0 : this.chunkFor(lo); ci < cs.length; ci++) {
      const c = cs[ci]!;
      for (let r = 0; r < c.starts.length; r++) {
        if (c.starts[r]! >= hi) return;
        const s = Math.max(c.starts[r]!, lo);
        const e = Math.min(c.ends[r]!, hi);
        if (s < e) visit(s, e);
      }
    }
  }

  /**
   * Append the ranges overlapping [lo, hi), clipped to it, to out as flat
   * start, end pairs, in order, until they hold max units (the last one cut
   * to fit). Returns the units appended. forEach without a callback (no
   * closure on the allocator's paths).
   */
  collect(lo: number, hi: number, out: number[], max = Number.MAX_SAFE_INTEGER): number {
    const cs = this.chunks;
    let got = 0;
    for (let ci = cs.length === 0 ? 0 : this.chunkFor(lo); ci < cs.length && got < max; ci++) {
      const c = cs[ci]!;
      for (let r = 0; r < c.starts.length && got < max; r++) {
        if (c.starts[r]! >= hi) return got;
        const s = Math.max(c.starts[r]!, lo);
        const e = Math.min(c.ends[r]!, hi, s + (max - got));
        if (s < e) {
          out.push(s, e);
          got += e - s;
        }
      }
    }
    return got;
  }

  /** Append the gaps of the set inside [lo, hi) (what union would add) to out as start, end pairs; returns the units appended. */
  collectGaps(lo: number, hi: number, out: number[]): number {
    let got = 0;
    for (let at = lo; at < hi; at = this.foundEnd) {
      const s = this.seek(at) ? Math.min(this.foundStart, hi) : hi;
      if (s > at) {
        out.push(at, s);
        got += s - at;
      }
      if (s === hi) break;
    }
    return got;
  }

  /** Add [start, end), whatever part of it is already in the set (set union). */
  union(start: number, end: number): void {
    for (let at = start; at < end; ) {
      if (!this.seek(at) || this.foundStart >= end) {
        this.add(at, end);
        return;
      }
      // The gap before the range found, then on past that range.
      const next = this.foundEnd;
      if (this.foundStart > at) this.add(at, this.foundStart);
      at = next;
    }
  }

  /** Remove whatever of [start, end) is in the set (set difference); returns how much that was. */
  subtract(start: number, end: number): number {
    let n = 0;
    for (let at = start; at < end && this.seek(at) && this.foundStart < end; ) {
      const s = this.foundStart;
      const e = Math.min(this.foundEnd, end);
      this.remove(s, e);
      n += e - s;
      at = e;
    }
    return n;
  }

  /** Model memory used, in bytes (two doubles per range plus chunk headers). */
  approxBytes(): number {
    return this.count * 16 + this.chunks.length * 64;
  }
}
