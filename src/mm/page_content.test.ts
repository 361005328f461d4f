import { describe, expect, it } from 'vitest';
import { PageContent } from './page_content.js';

describe('page contents', () => {
  it('keeps uniform folios as one byte and materializes only partial writes', () => {
    const c = new PageContent();
    c.setUniform(1, 0xaa);
    c.fill(1, 512, 0, 512 * 4096, 0xbb);
    expect(c.materializedBytes).toBe(0);
    c.fill(1, 512, 4096, 4096, 0xcc);
    expect(c.materializedBytes).toBe(0);
    expect(c.pageByte(1, 1)).toBe(0xcc);
    c.write(1, 512, 8192 + 10, new Uint8Array([1, 2, 3]), 0, 3);
    expect(c.materializedBytes).toBe(4096);
    const out = new Uint8Array(5);
    c.read(1, 8192 + 9, out, 0, 5);
    expect(out).toEqual(new Uint8Array([0xbb, 1, 2, 3, 0xbb]));
    // A full-page write of uniform bytes does not need a buffer.
    c.write(1, 512, 8192, new Uint8Array(4096).fill(4), 0, 4096);
    expect(c.materializedBytes).toBe(0);
    expect(c.isZero(1, 0, 4096)).toBe(false);
  });

  it('a write of one value over a whole folio leaves it uniform, with no per-page record', () => {
    const c = new PageContent();
    const before = c.approxBytes();
    // 1,000 order-0 file pages written whole with 0xff (write(2) of a memset buffer).
    for (let f = 1; f <= 1000; f++) {
      c.setUniform(f, 0);
      c.write(f, 1, 0, new Uint8Array(4096).fill(0xff), 0, 4096);
      expect(c.uniformByte(f)).toBe(0xff);
    }
    // No per-page record was made for any of them (each would add its fill array and a record).
    expect(c.approxBytes()).toBe(before);
    expect(c.materializedBytes).toBe(0);
    // A split large folio made whole again by one write drops its per-page state.
    c.write(2000, 4, 4096 + 5, new Uint8Array([9]), 0, 1);
    expect(c.uniformByte(2000)).toBe(-1);
    c.write(2000, 4, 0, new Uint8Array(4 * 4096).fill(3), 0, 4 * 4096);
    expect(c.uniformByte(2000)).toBe(3);
    expect(c.materializedBytes).toBe(0);
    // Varied bytes over the whole folio still keep every byte.
    const varied = new Uint8Array(4096).map((_, i) => i & 0xff);
    c.write(1, 1, 0, varied, 0, 4096);
    expect(c.uniformByte(1)).toBe(-1);
    const out = new Uint8Array(4096);
    c.read(1, 0, out, 0, 4096);
    expect(out).toEqual(varied);
  });

  it('copies pages and splits folios without losing bytes', () => {
    const c = new PageContent();
    c.setUniform(1, 0);
    c.write(1, 4, 4096 + 1, new Uint8Array([7]), 0, 1);
    c.copyPage(2, 1, 0, 1, 1);
    const b = new Uint8Array(2);
    c.read(2, 0, b, 0, 2);
    expect(b).toEqual(new Uint8Array([0, 7]));
    c.splitInto(1, [1, 3, 4, 5], 1);
    c.read(3, 0, b, 0, 2);
    expect(b).toEqual(new Uint8Array([0, 7]));
    expect(c.uniformByte(1)).toBe(0);
    expect(c.uniformByte(4)).toBe(0);
  });

  it('detaches a folio for a lazy split: pieces take their page as they are made, and the rest comes back on attach', () => {
    const c = new PageContent();
    // Folio 1, 8 pages: fill 0x11, page 2 filled 0x22, page 5 with varied bytes.
    c.setUniform(1, 0x11);
    c.fill(1, 8, 2 * 4096, 4096, 0x22);
    c.write(1, 8, 5 * 4096 + 9, new Uint8Array([1, 2]), 0, 2);
    expect(c.materializedBytes).toBe(4096);
    const snap = c.detach(1);
    expect(c.uniformByte(1)).toBe(0);
    // The buffer is still held (by the snapshot).
    expect(c.materializedBytes).toBe(4096);
    c.takePage(snap, 2, 10);
    c.takePage(snap, 5, 11);
    expect(c.uniformByte(10)).toBe(0x22);
    const b = new Uint8Array(3);
    c.read(11, 8, b, 0, 3);
    expect(b).toEqual(new Uint8Array([0x11, 1, 2]));
    expect(c.materializedBytes).toBe(4096);
    // Piece 10 is written while split; the merge copies the made pieces back over the snapshot.
    c.fill(10, 1, 0, 4096, 0x33);
    c.attach(20, snap);
    c.copyPage(20, 8, 2, 10, 0);
    c.copyPage(20, 8, 5, 11, 0);
    c.drop(10);
    c.drop(11);
    expect([0, 1, 2, 3, 4, 6, 7].map((i) => c.pageByte(20, i))).toEqual([0x11, 0x11, 0x33, 0x11, 0x11, 0x11, 0x11]);
    c.read(20, 5 * 4096 + 8, b, 0, 3);
    expect(b).toEqual(new Uint8Array([0x11, 1, 2]));
    expect(c.materializedBytes).toBe(4096);
    // A uniform folio detaches to its byte alone.
    c.setUniform(30, 0x44);
    const u = c.detach(30);
    c.takePage(u, 3, 31);
    expect(c.uniformByte(31)).toBe(0x44);
    c.attach(32, u);
    expect(c.uniformByte(32)).toBe(0x44);
  });
});
