/**
 * The bytes held by physical pages, stored compactly.
 *
 * Each folio is either "uniform": every byte of every page equals one fill byte
 * (a new anonymous folio is uniform 0, a memset folio uniform 0xaa); or per-page:
 * each page has its own fill byte, and a page written with non-uniform data is
 * materialized as its own 4 KiB buffer. So memsetting a TiB costs one byte per
 * folio, and only pages that really hold varied data cost 4 KiB.
 *
 *   uniform[slot]  Int16   0..255 = fill byte of the whole folio; -1 = per-page
 *   perPage(slot)  fill: Uint8Array(nr)      per-page fill byte
 *                  data: Map<page, buffer>   materialized pages (fill byte unused)
 *
 * Offsets are byte offsets within the folio.
 */
import { PAGE_SIZE } from './page.js';

interface PerPage {
  fill: Uint8Array;
  data: Map<number, Uint8Array>;
}

/** The contents of a folio taken out of the store (PageContent.detach): its uniform byte, or its per-page state. */
export interface ContentSnapshot {
  readonly uniform: number;
  readonly pp: PerPage | null;
}

export class PageContent {
  private uniform = new Int16Array(1024);
  private readonly perPage = new Map<number, PerPage>();
  /** Bytes spent on materialized pages (for PERFORMANCE.md honesty). */
  materializedBytes = 0;

  private ensure(f: number): void {
    if (f < this.uniform.length) return;
    let n = this.uniform.length;
    while (n <= f) n *= 2;
    const u = new Int16Array(n);
    u.set(this.uniform);
    this.uniform = u;
  }

  /** Make the whole folio uniform `byte` (clear_page / memset of everything). */
  setUniform(f: number, byte: number): void {
    this.ensure(f);
    this.drop(f);
    this.uniform[f] = byte;
  }

  /** Forget a folio's contents (it is being freed or reinitialized). */
  drop(f: number): void {
    // No per-page folio at all (the common case): no map lookup (a split 1 GiB page drops 262,144 pieces).
    const pp = this.perPage.size === 0 ? undefined : this.perPage.get(f);
    if (pp !== undefined) {
      this.materializedBytes -= pp.data.size * PAGE_SIZE;
      this.perPage.delete(f);
    }
    if (f < this.uniform.length) this.uniform[f] = 0;
  }

  /** The folio's uniform byte, or -1 if pages differ. */
  uniformByte(f: number): number {
    return f < this.uniform.length ? this.uniform[f]! : 0;
  }

  /** Page i's fill byte, or -1 if it is materialized. */
  pageByte(f: number, i: number): number {
    const u = this.uniformByte(f);
    if (u >= 0) return u;
    const pp = this.perPage.get(f)!;
    return pp.data.has(i) ? -1 : pp.fill[i]!;
  }

  private split(f: number, nrPages: number): PerPage {
    let pp = this.perPage.get(f);
    if (pp === undefined) {
      this.ensure(f);
      pp = { fill: new Uint8Array(nrPages).fill(this.uniform[f]!), data: new Map() };
      this.perPage.set(f, pp);
      this.uniform[f] = -1;
    }
    return pp;
  }

  private materialize(pp: PerPage, i: number): Uint8Array {
    let buf = pp.data.get(i);
    if (buf === undefined) {
      buf = new Uint8Array(PAGE_SIZE).fill(pp.fill[i]!);
      pp.data.set(i, buf);
      this.materializedBytes += PAGE_SIZE;
    }
    return buf;
  }

  /** Copy len bytes at folio offset off into out[outOff..]. */
  read(f: number, off: number, out: Uint8Array, outOff: number, len: number): void {
    const u = this.uniformByte(f);
    if (u >= 0) {
      out.fill(u, outOff, outOff + len);
      return;
    }
    const pp = this.perPage.get(f)!;
    while (len > 0) {
      const i = Math.floor(off / PAGE_SIZE);
      const po = off - i * PAGE_SIZE;
      const n = Math.min(len, PAGE_SIZE - po);
      const buf = pp.data.get(i);
      if (buf !== undefined) out.set(buf.subarray(po, po + n), outOff);
      else out.fill(pp.fill[i]!, outOff, outOff + n);
      off += n;
      outOff += n;
      len -= n;
    }
  }

  /** Set len bytes at folio offset off to byte (memset). */
  fill(f: number, nrPages: number, off: number, len: number, byte: number): void {
    if (off === 0 && len === nrPages * PAGE_SIZE) {
      this.setUniform(f, byte);
      return;
    }
    if (this.uniformByte(f) === byte) return;
    const pp = this.split(f, nrPages);
    while (len > 0) {
      const i = Math.floor(off / PAGE_SIZE);
      const po = off - i * PAGE_SIZE;
      const n = Math.min(len, PAGE_SIZE - po);
      if (n === PAGE_SIZE) {
        if (pp.data.delete(i)) this.materializedBytes -= PAGE_SIZE;
        pp.fill[i] = byte;
      } else if (pp.data.has(i) || pp.fill[i] !== byte) {
        this.materialize(pp, i).fill(byte, po, po + n);
      }
      off += n;
      len -= n;
    }
  }

  /** Copy len bytes from src[srcOff..] to folio offset off. */
  write(f: number, nrPages: number, off: number, src: Uint8Array, srcOff: number, len: number): void {
    // Writing the bytes a uniform folio already holds changes nothing (a store of 0 to a zeroed page).
    const u = this.uniformByte(f);
    if (u >= 0 && allEqual(src, srcOff, len, u)) return;
    // The whole folio written with one value is uniform again: no per-page record (write(2) of a
    // memset buffer over a file page, a 1 GiB io_uring write into 262,144 of them).
    if (off === 0 && len === nrPages * PAGE_SIZE && allEqual(src, srcOff, len, src[srcOff]!)) {
      this.setUniform(f, src[srcOff]!);
      return;
    }
    const pp = this.split(f, nrPages);
    while (len > 0) {
      const i = Math.floor(off / PAGE_SIZE);
      const po = off - i * PAGE_SIZE;
      const n = Math.min(len, PAGE_SIZE - po);
      const chunk = src.subarray(srcOff, srcOff + n);
      if (!pp.data.has(i) && allEqual(src, srcOff, n, pp.fill[i]!)) {
        // The page already holds these bytes.
      } else if (n === PAGE_SIZE && isUniform(chunk)) {
        if (pp.data.delete(i)) this.materializedBytes -= PAGE_SIZE;
        pp.fill[i] = chunk[0]!;
      } else {
        this.materialize(pp, i).set(chunk, po);
      }
      off += n;
      srcOff += n;
      len -= n;
    }
  }

  /** Copy page si of folio sf over page di of folio df (copy_user_highpage). */
  copyPage(df: number, dNrPages: number, di: number, sf: number, si: number): void {
    const b = this.pageByte(sf, si);
    if (b >= 0) {
      if (dNrPages === 1) this.setUniform(df, b);
      else this.fill(df, dNrPages, di * PAGE_SIZE, PAGE_SIZE, b);
      return;
    }
    const src = this.perPage.get(sf)!.data.get(si)!;
    this.write(df, dNrPages, di * PAGE_SIZE, src, 0, PAGE_SIZE);
  }

  /** Copy a whole folio's contents to another folio of the same size (migration, hugetlb COW). */
  copyFolio(df: number, sf: number): void {
    const u = this.uniformByte(sf);
    if (u >= 0) {
      this.setUniform(df, u);
      return;
    }
    const spp = this.perPage.get(sf)!;
    this.drop(df);
    this.ensure(df);
    const dpp: PerPage = { fill: spp.fill.slice(), data: new Map() };
    for (const [i, buf] of spp.data) dpp.data.set(i, buf.slice());
    this.materializedBytes += dpp.data.size * PAGE_SIZE;
    this.perPage.set(df, dpp);
    this.uniform[df] = -1;
  }

  /**
   * Hand the pages of folio f to new folios after a split: newSlots[k] receives
   * pages [k * perNew, (k + 1) * perNew) of f. f may itself be one of newSlots
   * (the head keeps the first part), so f's contents are detached first.
   * Materialized buffers move without copying.
   */
  splitInto(f: number, newSlots: ArrayLike<number>, perNew: number): void {
    const u = this.uniformByte(f);
    const pp = this.perPage.get(f);
    if (pp !== undefined) {
      this.perPage.delete(f);
      this.materializedBytes -= pp.data.size * PAGE_SIZE;
    }
    for (let k = 0; k < newSlots.length; k++) {
      const g = newSlots[k]!;
      if (pp === undefined) {
        this.setUniform(g, u >= 0 ? u : 0);
        continue;
      }
      const base = k * perNew;
      const fill = pp.fill.slice(base, base + perNew);
      const data = new Map<number, Uint8Array>();
      for (let j = 0; j < perNew; j++) {
        const buf = pp.data.get(base + j);
        if (buf !== undefined) data.set(j, buf);
      }
      if (data.size === 0 && fill.every((b) => b === fill[0])) {
        this.setUniform(g, fill[0]!);
        continue;
      }
      this.drop(g);
      this.ensure(g);
      this.perPage.set(g, { fill, data });
      this.materializedBytes += data.size * PAGE_SIZE;
      this.uniform[g] = -1;
    }
  }

  /**
   * Take folio f's contents out of the store (f is left empty), for a split
   * whose pieces take their pages later (takePage). Materialized buffers stay
   * counted in materializedBytes: they are still held.
   */
  detach(f: number): ContentSnapshot {
    const u = this.uniformByte(f);
    const pp = u >= 0 ? null : this.perPage.get(f)!;
    if (pp !== null) this.perPage.delete(f);
    if (f < this.uniform.length) this.uniform[f] = 0;
    return { uniform: u, pp };
  }

  /** Page i of a detached folio becomes the contents of the one-page folio g (a buffer moves, not copied). */
  takePage(snap: ContentSnapshot, i: number, g: number): void {
    if (snap.pp === null) {
      this.setUniform(g, snap.uniform);
      return;
    }
    const buf = snap.pp.data.get(i);
    if (buf === undefined) {
      this.setUniform(g, snap.pp.fill[i]!);
      return;
    }
    snap.pp.data.delete(i);
    this.drop(g);
    this.ensure(g);
    this.perPage.set(g, { fill: new Uint8Array(1), data: new Map([[0, buf]]) });
    this.uniform[g] = -1;
  }

  /**
   * Give folio f the contents of a detached folio of its size (the pages
   * takePage handed out are stale there: the caller copies them back).
   */
  attach(f: number, snap: ContentSnapshot): void {
    this.setUniform(f, snap.uniform >= 0 ? snap.uniform : 0);
    if (snap.pp === null) return;
    this.perPage.set(f, snap.pp);
    this.uniform[f] = -1;
  }

  /** True if every byte of [off, off + len) is zero. */
  isZero(f: number, off: number, len: number): boolean {
    const u = this.uniformByte(f);
    if (u >= 0) return u === 0 || len === 0;
    const pp = this.perPage.get(f)!;
    while (len > 0) {
      const i = Math.floor(off / PAGE_SIZE);
      const po = off - i * PAGE_SIZE;
      const n = Math.min(len, PAGE_SIZE - po);
      const buf = pp.data.get(i);
      if (buf !== undefined) {
        for (let k = po; k < po + n; k++) if (buf[k] !== 0) return false;
      } else if (pp.fill[i] !== 0) return false;
      off += n;
      len -= n;
    }
    return true;
  }

  /** Model memory used, in bytes. */
  approxBytes(): number {
    let b = this.uniform.byteLength + this.materializedBytes;
    for (const pp of this.perPage.values()) b += pp.fill.byteLength + 64;
    return b;
  }
}

function isUniform(a: Uint8Array): boolean {
  return a.length === 0 || allEqual(a, 0, a.length, a[0]!);
}

/** A page of one byte value, for native comparisons (made on first use). */
const constPages: (Uint8Array | undefined)[] = [];

/** Are src[off, off + n) all equal to byte? Long runs compare natively against a constant page. */
function allEqual(src: Uint8Array, off: number, n: number, byte: number): boolean {
  if (n < 64) {
    for (let k = off; k < off + n; k++) if (src[k] !== byte) return false;
    return true;
  }
  const ref = (constPages[byte] ??= new Uint8Array(PAGE_SIZE).fill(byte));
  for (let k = off; k < off + n; k += PAGE_SIZE) {
    const m = Math.min(PAGE_SIZE, off + n - k);
    if (Buffer.compare(src.subarray(k, k + m), ref.subarray(0, m)) !== 0) return false;
  }
  return true;
}
