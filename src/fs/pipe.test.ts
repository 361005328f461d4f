/**
 * Pipes and vmsplice: write/read copying, the 16-buffer ring, packet mode,
 * end-of-file and EPIPE, and vmsplice's zero-copy page references (the page
 * seen through the pipe is the process's page until it is COWed away).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Kernel, type Process } from '../index.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, MADV_NOHUGEPAGE, O_CLOEXEC, O_DIRECT, O_NONBLOCK, PROT_READ, PROT_WRITE, SPLICE_F_NONBLOCK } from '../uapi/index.js';
import { syscallCode as code } from '../../test/support/errno.js';

const PAGE = 4096;
const RW = PROT_READ | PROT_WRITE;
const PA = MAP_PRIVATE | MAP_ANONYMOUS;

let kernels: Kernel[] = [];
afterEach(() => {
  for (const k of kernels) expect(k.check()).toEqual([]);
  kernels = [];
});

function boot(): { k: Kernel; p: Process } {
  const k = new Kernel({ memory: '256MiB' });
  kernels.push(k);
  return { k, p: k.spawn() };
}


function bytes(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);
}

/** An anonymous private mapping of n small pages, filled with byte b. */
function anon(p: Process, pages: number, b: number): number {
  const a = p.mmap(0, pages * PAGE, RW, PA, -1, 0);
  p.madvise(a, pages * PAGE, MADV_NOHUGEPAGE);
  p.fill(a, pages * PAGE, b);
  return a;
}

describe('pipe(2) and read/write', () => {
  it('carries bytes in order, merging short writes into one page', () => {
    const { k, p } = boot();
    const free0 = k.meminfo().MemFree;
    const [r, w] = p.pipe();
    expect(p.syswrite(w, bytes(100, 1), 100)).toBe(100);
    expect(p.syswrite(w, bytes(50, 2), 50)).toBe(50);
    // Both writes share one page (PIPE_BUF_FLAG_CAN_MERGE).
    expect(free0 - k.meminfo().MemFree).toBe(4);
    const out = new Uint8Array(200);
    expect(p.sysread(r, out, 200)).toBe(150);
    expect(out.subarray(0, 100)).toEqual(bytes(100, 1));
    expect(out.subarray(100, 150)).toEqual(bytes(50, 2));
    // Consumed: the page is freed.
    expect(k.meminfo().MemFree).toBe(free0);
    p.close(r);
    p.close(w);
  });

  it('holds 16 buffers (64 KiB): a write to a full pipe writes what fits, then EAGAIN', () => {
    const { p } = boot();
    const [r, w] = p.pipe2(O_NONBLOCK);
    const big = bytes(20 * PAGE, 3);
    expect(p.syswrite(w, big, big.length)).toBe(16 * PAGE);
    expect(code(() => p.syswrite(w, big, 1))).toBe('EAGAIN');
    const out = new Uint8Array(20 * PAGE);
    expect(p.sysread(r, out, out.length)).toBe(16 * PAGE);
    expect(out.subarray(0, 16 * PAGE)).toEqual(big.subarray(0, 16 * PAGE));
    // Empty with a writer: EAGAIN; after the writer closes: end of file.
    expect(code(() => p.sysread(r, out, 1))).toBe('EAGAIN');
    p.close(w);
    expect(p.sysread(r, out, 1)).toBe(0);
    p.close(r);
  });

  it('a partial read leaves the rest of the buffer; a packet pipe (O_DIRECT) consumes whole writes', () => {
    const { p } = boot();
    const [r, w] = p.pipe();
    p.syswrite(w, bytes(10, 4), 10);
    const out = new Uint8Array(10);
    expect(p.sysread(r, out, 4)).toBe(4);
    expect(p.sysread(r, out, 10)).toBe(6);
    expect(out.subarray(0, 6)).toEqual(bytes(10, 4).subarray(4));
    const [pr, pw] = p.pipe2(O_DIRECT);
    p.syswrite(pw, bytes(10, 5), 10);
    p.syswrite(pw, bytes(10, 6), 10);
    expect(p.sysread(pr, out, 4)).toBe(4);
    // The rest of the first packet is gone.
    expect(p.sysread(pr, out, 10)).toBe(10);
    expect(out).toEqual(bytes(10, 6));
    for (const fd of [r, w, pr, pw]) p.close(fd);
  });

  it('writing without readers is EPIPE; closing both ends frees the buffered pages', () => {
    const { k, p } = boot();
    const free0 = k.meminfo().MemFree;
    const [r, w] = p.pipe();
    p.syswrite(w, bytes(3 * PAGE, 7), 3 * PAGE);
    expect(free0 - k.meminfo().MemFree).toBe(12);
    p.close(r);
    expect(code(() => p.syswrite(w, bytes(1, 0), 1))).toBe('EPIPE');
    p.close(w);
    expect(k.meminfo().MemFree).toBe(free0);
  });

  it('the ends are inherited by fork, and the pipe lives while any end is open', () => {
    const { p } = boot();
    const [r, w] = p.pipe2(O_CLOEXEC);
    const child = p.fork();
    child.syswrite(w, bytes(5, 8), 5);
    child.exit(0);
    p.close(w);
    const out = new Uint8Array(5);
    expect(p.sysread(r, out, 5)).toBe(5);
    expect(out).toEqual(bytes(5, 8));
    expect(p.sysread(r, out, 5)).toBe(0);
    p.close(r);
  });

  it('an unreadable user buffer is EFAULT and consumes nothing', () => {
    const { p } = boot();
    const [r, w] = p.pipe();
    p.syswrite(w, bytes(8, 9), 8);
    expect(code(() => p.sysread(r, new Uint8Array(0), 8))).toBe('EFAULT');
    expect(code(() => p.sysread(r, 'not a buffer', 8))).toBe('EFAULT');
    const out = new Uint8Array(8);
    expect(p.sysread(r, out, 8)).toBe(8);
    expect(out).toEqual(bytes(8, 9));
    p.close(r);
    p.close(w);
  });
});

describe('vmsplice(2)', () => {
  it('queues the pages themselves: later writes to the page show through the pipe', () => {
    const { k, p } = boot();
    const a = anon(p, 2, 1);
    const [r, w] = p.pipe();
    const pfn = p.pagemap(a).pfn;
    const ref0 = k.folio(pfn)!.refcount;
    expect(p.vmsplice(w, [{ iov_base: a, iov_len: 2 * PAGE }], 1, 0)).toBe(2 * PAGE);
    // One FOLL_GET reference per queued page, no copy.
    expect(k.folio(pfn)!.refcount).toBe(ref0 + 1);
    p.fill(a, 2 * PAGE, 0x55);
    const out = new Uint8Array(2 * PAGE);
    expect(p.sysread(r, out, out.length)).toBe(2 * PAGE);
    expect(out.every((b) => b === 0x55)).toBe(true);
    expect(k.folio(pfn)!.refcount).toBe(ref0);
    p.close(r);
    p.close(w);
  });

  it('keeps the page after munmap; a COW in the process does not reach the pipe', () => {
    const { k, p } = boot();
    const a = anon(p, 1, 1);
    const [r, w] = p.pipe();
    const child = p.fork();
    expect(child.vmsplice(w, { iov_base: a, iov_len: PAGE }, 1, 0)).toBe(PAGE);
    child.munmap(a, PAGE);
    // The parent's write must copy: the pipe still holds a reference to the old page.
    p.fill(a, PAGE, 0xff);
    const out = new Uint8Array(PAGE);
    expect(child.sysread(r, out, PAGE)).toBe(PAGE);
    expect(out.every((b) => b === 1)).toBe(true);
    expect(k.events().cow_copy).toBeGreaterThan(0);
    child.exit(0);
    p.close(r);
    p.close(w);
  });

  it('takes 16 pages at most into an empty pipe and puts back what did not fit', () => {
    const { k, p } = boot();
    const a = anon(p, 40, 2);
    const [r, w] = p.pipe();
    const pfn20 = p.pagemap(a + 20 * PAGE).pfn;
    const ref20 = k.folio(pfn20)!.refcount;
    // Splits at a page offset: the first buffer is partial.
    expect(p.vmsplice(w, [{ iov_base: a + 100, iov_len: 40 * PAGE }], 1, 0)).toBe(16 * PAGE - 100);
    expect(k.folio(pfn20)!.refcount).toBe(ref20);
    expect(code(() => p.vmsplice(w, [{ iov_base: a, iov_len: PAGE }], 1, SPLICE_F_NONBLOCK))).toBe('EAGAIN');
    expect(code(() => p.vmsplice(w, [{ iov_base: a, iov_len: PAGE }], 1, 0))).toBe('EAGAIN');
    p.close(w);
    p.close(r);
  });

  it('walks several segments, skipping empty ones', () => {
    const { p } = boot();
    const a = anon(p, 1, 3);
    const b = anon(p, 1, 4);
    const [r, w] = p.pipe();
    const iov = [
      { iov_base: a, iov_len: 10 },
      { iov_base: 0, iov_len: 0 },
      { iov_base: b + 5, iov_len: 20 },
    ];
    expect(p.vmsplice(w, iov, 3, 0)).toBe(30);
    const out = new Uint8Array(30);
    expect(p.sysread(r, out, 30)).toBe(30);
    expect(out.subarray(0, 10).every((x) => x === 3) && out.subarray(10).every((x) => x === 4)).toBe(true);
    p.close(r);
    p.close(w);
  });

  it('from a read end copies pipe data into user memory', () => {
    const { p } = boot();
    const a = anon(p, 1, 0);
    const [r, w] = p.pipe();
    p.syswrite(w, bytes(64, 10), 64);
    expect(p.vmsplice(r, [{ iov_base: a, iov_len: 32 }, { iov_base: a + 1000, iov_len: 100 }], 2, 0)).toBe(64);
    expect(p.read(a, 32)).toEqual(bytes(64, 10).subarray(0, 32));
    expect(p.read(a + 1000, 32)).toEqual(bytes(64, 10).subarray(32));
    expect(code(() => p.vmsplice(r, [{ iov_base: a, iov_len: 1 }], 1, 0))).toBe('EAGAIN');
    p.close(w);
    expect(p.vmsplice(r, [{ iov_base: a, iov_len: 1 }], 1, 0)).toBe(0);
    p.close(r);
  });

  it('an unmapped range is EFAULT, after the pages before it went in', () => {
    const { p } = boot();
    const a = anon(p, 2, 5);
    p.munmap(a + PAGE, PAGE);
    const [r, w] = p.pipe();
    expect(p.vmsplice(w, [{ iov_base: a, iov_len: 2 * PAGE }], 1, 0)).toBe(PAGE);
    expect(code(() => p.vmsplice(w, [{ iov_base: a + PAGE, iov_len: PAGE }], 1, 0))).toBe('EFAULT');
    p.close(r);
    p.close(w);
  });

  it('references survive the process: exit, then the reader drains the pipe', () => {
    const { k, p } = boot();
    const q = k.spawn();
    const a = anon(q, 3, 6);
    const [r, w] = q.pipe();
    expect(q.vmsplice(w, [{ iov_base: a, iov_len: 3 * PAGE }], 1, 0)).toBe(3 * PAGE);
    const child = q.fork();
    q.exit(0);
    // Only the child's descriptors keep the pipe and the spliced pages alive.
    expect(k.check()).toEqual([]);
    const out = new Uint8Array(3 * PAGE);
    expect(child.sysread(r, out, out.length)).toBe(3 * PAGE);
    expect(out.every((x) => x === 6)).toBe(true);
    child.exit(0);
    void p;
  });
});
