/**
 * /proc/pid/pagemap, /proc/kpageflags and /proc/kpagecount against real Linux:
 * a static probe of the same sequence under Debian's 6.12.118
 * (../shared/realkernel, boot.sh, THP "always", 2026-12-08) read these values.
 * The model matches them bit for bit, with two exceptions:
 * - KPF_LRU and KPF_ACTIVE are masked out of the comparison. Real 6.12 keeps a
 *   fresh 4 KiB page in a per-CPU batch, ACTIVE and not yet LRU, which the
 *   model does not model (src/fs/proc/page.ts).
 * - KPF_KSM is set on every anonymous page, as 6.12 sets it.
 */
import { describe, expect, it } from 'vitest';
import { Kernel } from '../../index.js';
import * as U from '../../uapi/index.js';

const REAL: [string, bigint, bigint, number][] = [
      ['thp-head', 0x8180000000000000n, 0x000000040060d828n, 1],
      ['thp-tail', 0x8180000000000000n, 0x0000000400615828n, 1],
      ['anon-4k', 0x8180000000000000n, 0x0000000400205848n, 1],
      ['zero-page-read', 0x8080000000000000n, 0x0000000101000000n, 0],
      ['memfd-shared', 0xa180000000000000n, 0x0000000000004858n, 1],
      ['memfd-private-read', 0xa080000000000000n, 0x0000000000004858n, 2],
      ['memfd-private-cow', 0x8180000000000000n, 0x0000000400205848n, 1],
      ['anon-4k-child-alive', 0x8080000000000000n, 0x0000000000205848n, 2],
      ['anon-4k-child-gone', 0x8180000000000000n, 0x0000000000205828n, 1],
];
const LRU_ACTIVE = (1n << BigInt(U.KPF_LRU)) | (1n << BigInt(U.KPF_ACTIVE));

describe('pagemap, kpageflags and kpagecount', () => {
  it('read as real 6.12 read them for THP, 4 KiB anonymous, zero-page, memfd and forked pages', () => {
    const k = new Kernel({ memory: '512MiB', thp: 'always' });
    const p = k.spawn();
    const M2 = 2 ** 21;
    const RW = U.PROT_READ | U.PROT_WRITE;
    const PA = U.MAP_PRIVATE | U.MAP_ANONYMOUS;
    const got = new Map<string, [bigint, bigint, number]>();
    const read = (label: string, addr: number) => {
      const e = p.pagemap(addr);
      const flags = BigInt(e.raw) & ~((1n << 55n) - 1n);
      got.set(label, [flags, e.present ? BigInt(k.kpageflags(e.pfn)) & ~LRU_ACTIVE : 0n, e.present ? k.kpagecount(e.pfn) : 0]);
    };
    const raw = p.mmap(0, 2 * M2, RW, PA, -1, 0);
    const thp = Math.ceil(raw / M2) * M2;
    p.madvise(thp, M2, U.MADV_HUGEPAGE);
    p.fill(thp, M2, 1);
    read('thp-head', thp);
    read('thp-tail', thp + 4096);
    const a = p.mmap(0, 4096, RW, PA, -1, 0);
    p.madvise(a, 4096, U.MADV_NOHUGEPAGE);
    p.fill(a, 1, 1);
    read('anon-4k', a);
    const z = p.mmap(0, 4096, U.PROT_READ, PA, -1, 0);
    p.read(z, 1);
    read('zero-page-read', z);
    const fd = p.memfd_create('m', 0);
    p.ftruncate(fd, 4096);
    const s = p.mmap(0, 4096, RW, U.MAP_SHARED, fd, 0);
    p.fill(s, 1, 1);
    read('memfd-shared', s);
    const pr = p.mmap(0, 4096, RW, U.MAP_PRIVATE, fd, 0);
    p.read(pr, 1);
    read('memfd-private-read', pr);
    p.fill(pr, 1, 2);
    read('memfd-private-cow', pr);
    const child = p.fork();
    read('anon-4k-child-alive', a);
    child.exit(0);
    read('anon-4k-child-gone', a);
    for (const [label, pagemap, kpf, count] of REAL) expect([label, ...got.get(label)!]).toEqual([label, pagemap, kpf & ~LRU_ACTIVE, count]);
  });
});
