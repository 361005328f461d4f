/**
 * Swap files as 6.12 has them (mm/swapfile.c): swapon/swapoff of a regular
 * file with a mkswap header, the errnos in sys_swapon's order, S_SWAPFILE,
 * priorities (SWAP_FLAG_PREFER, the automatic ones, round-robin among
 * equals), several active areas, /proc/swaps read through open(2), and
 * meminfo's SwapTotal/SwapFree over all areas; the oracle after each test.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Kernel, type Process } from '../index.js';
import * as U from '../uapi/index.js';
import { syscallCode as errnoOf } from '../../test/support/errno.js';

const RW = U.PROT_READ | U.PROT_WRITE;
const PAGE = 4096;
const CREATE = U.O_CREAT | U.O_RDWR;

const kernels: Kernel[] = [];
afterEach(() => {
  for (const k of kernels.splice(0)) expect(k.check()).toEqual([]);
});

function boot(opts: { swap?: string; mounts?: Record<string, string> } = {}): { k: Kernel; p: Process } {
  const k = new Kernel({ memory: '64MiB', thp: 'never', ...(opts.swap ? { swap: opts.swap } : {}), ...(opts.mounts ? { mounts: opts.mounts } : {}) });
  kernels.push(k);
  return { k, p: k.spawn() };
}

/** The swap header mkswap writes (union swap_header): version 1, last_page, no bad pages, "SWAPSPACE2" at the end of the page. */
function header(lastPage: number, edit: (dv: DataView) => void = () => {}): Uint8Array {
  const h = new Uint8Array(PAGE);
  const dv = new DataView(h.buffer);
  dv.setUint32(1024, 1, true);
  dv.setUint32(1028, lastPage, true);
  h.set(new TextEncoder().encode('SWAPSPACE2'), PAGE - 10);
  edit(dv);
  return h;
}

/** dd if=/dev/zero of=path bs=4k count=pages, then mkswap: a file of `pages` pages, every block written. */
function mkswap(p: Process, path: string, pages: number, h: Uint8Array | null = header(pages - 1)): void {
  const fd = p.open(path, CREATE, 0o600);
  for (let i = 0; i < pages; i++) p.pwrite(fd, new Uint8Array(PAGE), PAGE, i * PAGE);
  if (h !== null) p.pwrite(fd, h, PAGE, 0);
  p.close(fd);
}

/** /proc/swaps as a process reads it. */
function procSwaps(p: Process): string {
  const fd = p.open('/proc/swaps', U.O_RDONLY);
  const buf = new Uint8Array(4096);
  const n = p.sysread(fd, buf, buf.length);
  p.close(fd);
  return new TextDecoder().decode(buf.subarray(0, n));
}

const HEADER = 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n';
/** One /proc/swaps line as swap_show prints it (path padded to 40 columns). */
const line = (path: string, type: string, sizeKb: number, usedKb: number, prio: number): string =>
  `${path}${' '.repeat(Math.max(40 - path.length, 1))}${type === 'file' ? 'file\t' : 'partition'}\t${sizeKb}\t\t${usedKb}\t\t${prio}\n`;

/** Swap out one private anonymous page holding byte v; returns its swap type. */
function swapOutPage(p: Process, v: number): { a: number; type: number } {
  const a = p.mmap(0, PAGE, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
  p.fill(a, PAGE, v);
  p.madvise(a, PAGE, U.MADV_PAGEOUT);
  const e = p.pagemap(a);
  expect(e.swapped).toBe(true);
  return { a, type: e.pfn % 32 };
}

describe('swapon(2) of a swap file', () => {
  it('activates a file with a swap header: /proc/swaps, meminfo, pages swap out to it and back, swapoff', () => {
    const { k, p } = boot();
    expect(procSwaps(p)).toBe(HEADER);
    mkswap(p, '/root/swapfile', 64);
    p.swapon('/root/swapfile', 0);
    // last_page = 63 usable pages after the header.
    expect(procSwaps(p)).toBe(HEADER + line('/root/swapfile', 'file', 63 * 4, 0, -2));
    expect(k.meminfo().SwapTotal).toBe(63 * 4);
    expect(k.meminfo().SwapFree).toBe(63 * 4);
    const { a, type } = swapOutPage(p, 0x5a);
    expect(type).toBe(0);
    expect(procSwaps(p)).toBe(HEADER + line('/root/swapfile', 'file', 252, 4, -2));
    expect(k.meminfo().SwapFree).toBe(62 * 4);
    expect(p.read(a, 1)[0]).toBe(0x5a);
    expect(k.check()).toEqual([]);
    // Swap it out again and let swapoff bring it back.
    p.madvise(a, PAGE, U.MADV_PAGEOUT);
    p.swapoff('/root/swapfile');
    expect(p.pagemap(a).present).toBe(true);
    expect(p.read(a, 1)[0]).toBe(0x5a);
    expect(procSwaps(p)).toBe(HEADER);
    expect(k.meminfo().SwapTotal).toBe(0);
    // swapoff by a relative path names the same file.
    p.swapon('swapfile', 0);
    p.chdir('/');
    p.swapoff('root/swapfile');
  });

  it('gives 6.12 errnos in sys_swapon order', () => {
    const { p } = boot({ mounts: { '/': 'ext4', '/tmp': 'tmpfs', '/mnt/b': 'btrfs', '/mnt/pmem': 'ext4-dax' } });
    mkswap(p, '/root/ok', 8);
    expect(errnoOf(() => p.swapon('/root/ok', 0x80000))).toBe('EINVAL');
    expect(errnoOf(() => p.swapon('/root/missing', 0))).toBe('ENOENT');
    expect(errnoOf(() => p.swapon('/root', 0))).toBe('EISDIR');
    // tmpfs and DAX files have no ->read_folio; btrfs wants a NOCOW file.
    for (const dir of ['/tmp', '/mnt/pmem', '/mnt/b']) {
      mkswap(p, `${dir}/s`, 8);
      expect(errnoOf(() => p.swapon(`${dir}/s`, 0))).toBe('EINVAL');
    }
    // Headers read_swap_header refuses.
    const bad: [string, Uint8Array | null][] = [
      ['nosig', null],
      ['v2', header(7, (dv) => dv.setUint32(1024, 2, true))],
      ['empty', header(0)],
      ['toolong', header(8)],
      ['badpages', header(7, (dv) => dv.setUint32(1032, 1, true))],
    ];
    for (const [name, h] of bad) {
      mkswap(p, `/root/${name}`, 8, h);
      expect(errnoOf(() => p.swapon(`/root/${name}`, 0)), name).toBe('EINVAL');
    }
    // A byte-swapped header (the other endianness) is read as such.
    mkswap(
      p,
      '/root/be',
      8,
      header(0, (dv) => {
        dv.setUint32(1024, 1, false);
        dv.setUint32(1028, 7, false);
      }),
    );
    p.swapon('/root/be', 0);
    // A file with a hole (ftruncate'd, header written) is refused by iomap_swapfile_activate.
    const fd = p.open('/root/sparse', CREATE, 0o600);
    p.ftruncate(fd, 8 * PAGE);
    p.pwrite(fd, header(7), PAGE, 0);
    p.close(fd);
    expect(errnoOf(() => p.swapon('/root/sparse', 0))).toBe('EINVAL');
    p.swapon('/root/ok', 0);
    expect(errnoOf(() => p.swapon('/root/ok', 0))).toBe('EBUSY');
    // swapoff: the lookup's errno, then EINVAL for a file that is no active area.
    expect(errnoOf(() => p.swapoff('/root/missing'))).toBe('ENOENT');
    expect(errnoOf(() => p.swapoff('/root/sparse'))).toBe('EINVAL');
    p.swapoff('/root/ok');
    expect(errnoOf(() => p.swapoff('/root/ok'))).toBe('EINVAL');
    p.swapoff('/root/be');
  });

  it('EPERM once MAX_SWAPFILES (29) areas are active, before the path is looked at', () => {
    const { p } = boot({ swap: '64KiB' });
    for (let i = 0; i < 28; i++) {
      mkswap(p, `/root/s${i}`, 2);
      p.swapon(`/root/s${i}`, 0);
    }
    mkswap(p, '/root/extra', 2);
    expect(errnoOf(() => p.swapon('/root/extra', 0))).toBe('EPERM');
    expect(errnoOf(() => p.swapon('/root/missing', 0))).toBe('EPERM');
    p.swapoff('/root/s3');
    p.swapon('/root/extra', 0);
    for (let i = 0; i < 28; i++) if (i !== 3) p.swapoff(`/root/s${i}`);
    p.swapoff('/root/extra');
  });

  it('an active swap file is S_SWAPFILE: write, shrinking ftruncate and fallocate are ETXTBSY, unlink EPERM', () => {
    const { p } = boot();
    mkswap(p, '/root/sw', 8);
    p.swapon('/root/sw', 0);
    const fd = p.open('/root/sw', U.O_RDWR);
    expect(errnoOf(() => p.pwrite(fd, new Uint8Array(1), 1, 0))).toBe('ETXTBSY');
    expect(errnoOf(() => p.ftruncate(fd, 4 * PAGE))).toBe('ETXTBSY');
    expect(errnoOf(() => p.fallocate(fd, 0, 0, PAGE))).toBe('ETXTBSY');
    expect(errnoOf(() => p.unlink('/root/sw'))).toBe('EPERM');
    // Reading is allowed, and growing it (inode_newsize_ok refuses only truncation).
    const sig = new Uint8Array(10);
    expect(p.pread(fd, sig, 10, PAGE - 10)).toBe(10);
    expect(new TextDecoder().decode(sig)).toBe('SWAPSPACE2');
    p.ftruncate(fd, 16 * PAGE);
    p.swapoff('/root/sw');
    p.pwrite(fd, new Uint8Array(1), 1, 0);
    p.close(fd);
    p.unlink('/root/sw');
  });
});

describe('several areas and their priorities', () => {
  it('SWAP_FLAG_PREFER: the highest priority is used first; the zram device and a file sum in meminfo', () => {
    const { k, p } = boot({ swap: '1MiB' });
    mkswap(p, '/root/lo', 16);
    mkswap(p, '/root/hi', 16);
    p.swapon('/root/lo', U.SWAP_FLAG_PREFER | 5);
    p.swapon('/root/hi', U.SWAP_FLAG_PREFER | 10);
    expect(procSwaps(p)).toBe(HEADER + line('/dev/zram0', 'partition', 1020, 0, -2) + line('/root/lo', 'file', 60, 0, 5) + line('/root/hi', 'file', 60, 0, 10));
    expect(k.meminfo().SwapTotal).toBe(1020 + 60 + 60);
    // 15 slots of the priority-10 file, then the priority-5 one.
    for (let i = 0; i < 15; i++) expect(swapOutPage(p, i + 1).type).toBe(2);
    expect(swapOutPage(p, 99).type).toBe(1);
    expect(k.meminfo().SwapFree).toBe(1020 + 60 + 60 - 16 * 4);
    expect(k.check()).toEqual([]);
    p.swapoff('/root/hi');
    expect(k.meminfo().SwapTotal).toBe(1020 + 60);
  });

  it('areas without a priority count down from -2, are used round-robin, and swapoff lifts the ones below', () => {
    const { p } = boot({ swap: '1MiB' });
    mkswap(p, '/root/a', 16);
    mkswap(p, '/root/b', 16);
    p.swapon('/root/a', 0);
    p.swapon('/root/b', 0);
    expect(procSwaps(p)).toBe(HEADER + line('/dev/zram0', 'partition', 1020, 0, -2) + line('/root/a', 'file', 60, 0, -3) + line('/root/b', 'file', 60, 0, -4));
    // All automatic priorities share one place on the (single-node) avail list: turns go round.
    const types = [0, 1, 2, 3, 4, 5].map((i) => swapOutPage(p, i + 1).type);
    expect(types).toEqual([0, 1, 2, 0, 1, 2]);
    p.swapoff('/root/a');
    expect(procSwaps(p)).toBe(HEADER + line('/dev/zram0', 'partition', 1020, 8, -2) + line('/root/b', 'file', 60, 8, -3));
    p.swapon('/root/a', 0);
    expect(procSwaps(p)).toContain(line('/root/a', 'file', 60, 0, -4));
  });

  it('a swap file takes no large folio: an mTHP is split (swpout_fallback) and its pages swapped one by one', () => {
    const { k, p } = boot();
    mkswap(p, '/root/sw', 64);
    p.swapon('/root/sw', 0);
    k.writeSysfs('/sys/kernel/mm/transparent_hugepage/hugepages-64kB/enabled', 'always');
    const raw = p.mmap(0, 128 * 1024, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
    const a = Math.ceil(raw / 65536) * 65536;
    p.fill(a, 65536, 7);
    expect(k.folio(p.pagemap(a).pfn)!.order).toBe(4);
    p.madvise(a, 65536, U.MADV_PAGEOUT);
    expect(Number(k.readSysfs('/sys/kernel/mm/transparent_hugepage/hugepages-64kB/stats/swpout_fallback'))).toBe(1);
    expect(Number(k.readSysfs('/sys/kernel/mm/transparent_hugepage/hugepages-64kB/stats/swpout'))).toBe(0);
    for (let i = 0; i < 16; i++) expect(p.pagemap(a + i * PAGE).swapped).toBe(true);
    expect(k.meminfo().SwapFree).toBe(63 * 4 - 16 * 4);
    // Without SWP_SYNCHRONOUS_IO a read fault goes through the swap cache, which keeps the page.
    expect(p.read(a, 1)[0]).toBe(7);
    expect(k.meminfo().SwapCached).toBe(4);
    expect(k.folio(p.pagemap(a).pfn)!.order).toBe(0);
    expect(k.check()).toEqual([]);
  });
});
