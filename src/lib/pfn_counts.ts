/**
 * Sparse signed counts keyed by pfn (or any integer < 2^53), for per-page
 * tallies such as outstanding GUP pins: no JS object per page, and adding to a
 * run of pages is a loop over one typed array.
 *
 *   chunks: Map<key >> 12, Int32Array(4096 + 1)>
 *             [0, 4096)  one count per key
 *             [4096]     how many of those are non-zero
 *
 * Chunks whose counts are all zero are dropped in a sweep once there are
 * more than MAX_EMPTY of them, so memory follows the pages that are counted,
 * not the key space, and pinning and unpinning one page touches no Map.
 */

const CHUNK_SHIFT = 12;
const CHUNK = 1 << CHUNK_SHIFT;
/** Empty chunks kept before a sweep (64 x 16 KiB). */
const MAX_EMPTY = 64;

export class PfnCounts {
  private readonly chunks = new Map<number, Int32Array>();
  /** Chunks in the map whose counts are all zero. */
  private empty = 0;
  /** Keys with a non-zero count. */
  private nonZero = 0;
  /** One-chunk cache for the hot path (pin and unpin of the same page). */
  private cacheId = -1;
  private cacheArr: Int32Array | null = null;

  /** Keys with a non-zero count. */
  get size(): number {
    return this.nonZero;
  }

  /** The count at key (0 if never counted). */
  get(key: number): number {
    const id = Math.floor(key / CHUNK);
    if (id === this.cacheId) return this.cacheArr![key - id * CHUNK]!;
    const arr = this.chunks.get(id);
    return arr === undefined ? 0 : arr[key - id * CHUNK]!;
  }

  /** Add d to the counts of keys [key, key + n). */
  add(key: number, n: number, d: number): void {
    // One key in the cached chunk: the hot case (pin and unpin of one page).
    if (n === 1 && this.cacheArr !== null) {
      const off = key - this.cacheId * CHUNK;
      if (off >= 0 && off < CHUNK) {
        const arr = this.cacheArr;
        const before = arr[off]!;
        const after = before + d;
        arr[off] = after;
        if (before === 0) {
          if (after !== 0) {
            if (arr[CHUNK]++ === 0) this.empty--;
            this.nonZero++;
          }
        } else if (after === 0) {
          this.nonZero--;
          if (--arr[CHUNK]! === 0 && ++this.empty > MAX_EMPTY) this.sweep();
        }
        return;
      }
    }
    this.addRange(key, n, d);
  }

  private addRange(key: number, n: number, d: number): void {
    let sweep = false;
    while (n > 0) {
      const id = Math.floor(key / CHUNK);
      const off = key - id * CHUNK;
      const m = Math.min(n, CHUNK - off);
      let arr: Int32Array | undefined = id === this.cacheId ? this.cacheArr! : this.chunks.get(id);
      if (arr === undefined) {
        arr = new Int32Array(CHUNK + 1);
        this.chunks.set(id, arr);
        this.empty++;
      }
      let delta = 0;
      for (let i = off; i < off + m; i++) {
        const before = arr[i]!;
        const after = before + d;
        arr[i] = after;
        if (before === 0) {
          if (after !== 0) delta++;
        } else if (after === 0) delta--;
      }
      if (delta !== 0) {
        const before = arr[CHUNK]!;
        const l = before + delta;
        arr[CHUNK] = l;
        this.nonZero += delta;
        if (before === 0) this.empty--;
        else if (l === 0 && ++this.empty > MAX_EMPTY) sweep = true;
      }
      this.cacheId = id;
      this.cacheArr = arr;
      key += m;
      n -= m;
    }
    if (sweep) this.sweep();
  }

  /** Visit every key with a non-zero count, in no particular order. */
  forEach(fn: (key: number, count: number) => void): void {
    for (const [id, arr] of this.chunks) {
      const base = id * CHUNK;
      for (let i = 0; i < CHUNK; i++) if (arr[i] !== 0) fn(base + i, arr[i]!);
    }
  }

  private sweep(): void {
    for (const [id, arr] of this.chunks) if (arr[CHUNK] === 0) this.chunks.delete(id);
    this.empty = 0;
    this.cacheId = -1;
    this.cacheArr = null;
  }

  clear(): void {
    this.chunks.clear();
    this.nonZero = 0;
    this.empty = 0;
    this.cacheId = -1;
    this.cacheArr = null;
  }
}
