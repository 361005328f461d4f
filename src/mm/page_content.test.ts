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
});
