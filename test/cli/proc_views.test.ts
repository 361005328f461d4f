/**
 * The /proc views `foliosim inspect` prints, line for line against real
 * Linux: Debian's 6.12.118 under QEMU (../shared/realkernel, boot.sh,
 * `cat -A /proc/self/maps` and `/proc/self/smaps`, 2026-12-08) printed
 * `005e5000-005ec000 rw-p 00000000 00:00 0 ` for an unnamed anonymous
 * mapping (a space after the inode) and
 * `00400000-00401000 r--p 00000000 00:02 13` followed by spaces and then
 * `/bin/busybox` at column 73 for a file. Its `/proc/buddyinfo` line was
 * `Node 0, zone   Normal      1      1      2      1      3      1      3      1      2      1    186 `.
 */
import { describe, expect, it } from 'vitest';
import { formatSmaps } from '../../src/fs/proc/task_mmu.js';
import { formatBuddyinfo } from '../../src/mm/vmstat.js';
import { Kernel } from '../../src/index.js';
import * as U from '../../src/uapi/index.js';

const RW = U.PROT_READ | U.PROT_WRITE;

describe('smaps header lines', () => {
  it('end an unnamed anonymous mapping with a space, and put a file name at column 73 after its MAJOR:MINOR', () => {
    const k = new Kernel({ memory: '64MiB' });
    const p = k.spawn();
    const anon = p.mmap(0, 4096, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0);
    const fd = p.memfd_create('guest', 0);
    p.ftruncate(fd, 8192);
    const file = p.mmap(0, 8192, RW, U.MAP_SHARED, fd, 4096);
    const byStart = new Map(p.smaps().map((e) => [e.start, e]));
    const a = formatSmaps(byStart.get(anon)!).split('\n')[0]!;
    expect(a).toBe(`${anon.toString(16)}-${(anon + 4096).toString(16)} rw-p 00000000 00:00 0 `);
    const f = byStart.get(file)!;
    // memfd files live on the kernel's internal tmpfs mount, whose anonymous device is 0:1 here (as on a booted system).
    expect(f.dev).toBe('00:01');
    const line = formatSmaps(f).split('\n')[0]!;
    expect(line.indexOf('/memfd:guest (deleted)')).toBe(73);
    expect(line.slice(0, 73)).toBe(`${file.toString(16)}-${(file + 8192).toString(16)} rw-s 00001000 00:01 ${f.inode}`.padEnd(73));
  });

  it('print a mounted file system device in hex', () => {
    const k = new Kernel({ memory: '64MiB' });
    const p = k.spawn();
    const fd = p.open('/dev/shm/x', U.O_RDWR | U.O_CREAT, 0o600);
    p.ftruncate(fd, 4096);
    const a = p.mmap(0, 4096, RW, U.MAP_SHARED, fd, 0);
    const e = p.smaps().find((s) => s.start === a)!;
    expect(e.dev).toMatch(/^[0-9a-f]{2,}:[0-9a-f]{2,}$/);
    expect(e.dev).not.toBe('00:00');
    expect(formatSmaps(e).split('\n')[0]).toMatch(new RegExp(` ${e.dev} ${e.inode} +/dev/shm/x$`));
  });
});

describe('smaps of HugeTLB and shared anonymous memory', () => {
  it('names the files and lists the VmFlags as 6.12 does: no VM_ACCOUNT on HugeTLB, a space after every mnemonic', () => {
    // Real 6.12.118 (a static probe under boot.sh, 2026-12-08) printed, for MAP_PRIVATE|MAP_ANONYMOUS|MAP_HUGETLB,
    // MAP_SHARED|MAP_ANONYMOUS and MAP_SHARED|MAP_ANONYMOUS|MAP_HUGETLB, each written once:
    //   ... rw-p 00000000 00:11 1214   /anon_hugepage (deleted)   VmFlags: rd wr mr mw me de ht sd
    //   ... rw-s 00000000 00:01 1024   /dev/zero (deleted)        VmFlags: rd wr sh mr mw me ms sd
    //   ... rw-s 00000000 00:11 1215   /anon_hugepage (deleted)   VmFlags: rd wr sh mr mw me ms de ht sd
    const k = new Kernel({ memory: '256MiB', hugetlb: { '2MiB': 8 } });
    const p = k.spawn();
    const ANON = U.MAP_ANONYMOUS;
    const maps = [U.MAP_PRIVATE | ANON | U.MAP_HUGETLB, U.MAP_SHARED | ANON, U.MAP_SHARED | ANON | U.MAP_HUGETLB].map((f) => {
      const a = p.mmap(0, 2 * 1024 * 1024, RW, f, -1, 0);
      p.fill(a, 1, 1);
      return a;
    });
    const text = (a: number) => formatSmaps(p.smaps().find((e) => e.start === a)!);
    const want = [
      ['/anon_hugepage (deleted)', 'VmFlags: rd wr mr mw me de ht sd '],
      ['/dev/zero (deleted)', 'VmFlags: rd wr sh mr mw me ms sd '],
      ['/anon_hugepage (deleted)', 'VmFlags: rd wr sh mr mw me ms de ht sd '],
    ];
    maps.forEach((a, i) => {
      const lines = text(a).split('\n');
      expect(lines[0]!.slice(73)).toBe(want[i]![0]);
      expect(lines).toContain(want[i]![1]);
    });
  });
});

describe('smaps of ten kinds of mapping', () => {
  it('agrees with real 6.12 on the header, KernelPageSize, THPeligible and VmFlags of each', () => {
    // What Debian's 6.12.118 printed (THP "always", a static probe under boot.sh, 2026-12-08) for each mapping,
    // made as below, 2 MiB long and written once (the PROT_NONE and read-only ones untouched).
    // label | header after the range (dev and inode as DEV) | KernelPageSize | THPeligible | VmFlags line
    const REAL: [string, string, string, string, string][] = [
      ['anon', 'rw-p 00000000 DEV', 'KernelPageSize: 4 kB', 'THPeligible: 1', 'VmFlags: rd wr mr mw me ac sd '],
      ['anon-noreserve', 'rw-p 00000000 DEV', 'KernelPageSize: 4 kB', 'THPeligible: 1', 'VmFlags: rd wr mr mw me nr sd '],
      ['anon-madv-hugepage', 'rw-p 00000000 DEV', 'KernelPageSize: 4 kB', 'THPeligible: 1', 'VmFlags: rd wr mr mw me ac sd hg '],
      ['anon-nohuge-dontfork', 'rw-p 00000000 DEV', 'KernelPageSize: 4 kB', 'THPeligible: 0', 'VmFlags: rd wr mr mw me dc ac sd nh '],
      ['anon-protnone', '---p 00000000 DEV', 'KernelPageSize: 4 kB', 'THPeligible: 1', 'VmFlags: mr mw me sd '],
      ['anon-ro', 'r--p 00000000 DEV', 'KernelPageSize: 4 kB', 'THPeligible: 1', 'VmFlags: rd mr mw me sd '],
      ['memfd-shared', 'rw-s 00000000 DEV /memfd:mfd (deleted)', 'KernelPageSize: 4 kB', 'THPeligible: 0', 'VmFlags: rd wr sh mr mw me ms sd '],
      ['memfd-private', 'rw-p 00000000 DEV /memfd:mfd (deleted)', 'KernelPageSize: 4 kB', 'THPeligible: 0', 'VmFlags: rd wr mr mw me ac sd '],
      ['memfd-hugetlb', 'rw-s 00000000 DEV /memfd:hmfd (deleted)', 'KernelPageSize: 2048 kB', 'THPeligible: 0', 'VmFlags: rd wr sh mr mw me ms de ht sd '],
      ['shm-file', 'rw-s 00000000 DEV /dev/shm/x', 'KernelPageSize: 4 kB', 'THPeligible: 0', 'VmFlags: rd wr sh mr mw me ms sd '],
    ];
    const k = new Kernel({ memory: '512MiB', thp: 'always', hugetlb: { '2MiB': 8 } });
    const p = k.spawn();
    const M2 = 2 * 1024 * 1024;
    const PA = U.MAP_PRIVATE | U.MAP_ANONYMOUS;
    const made = new Map<string, number>();
    const map = (label: string, prot: number, flags: number, fd = -1, advice: number[] = []) => {
      const a = p.mmap(0, M2, prot, flags, fd, 0);
      for (const adv of advice) p.madvise(a, M2, adv);
      if (prot & U.PROT_WRITE) p.fill(a, 1, 1);
      made.set(label, a);
    };
    map('anon', RW, PA);
    map('anon-noreserve', RW, PA | U.MAP_NORESERVE);
    map('anon-madv-hugepage', RW, PA, -1, [U.MADV_HUGEPAGE]);
    map('anon-nohuge-dontfork', RW, PA, -1, [U.MADV_NOHUGEPAGE, U.MADV_DONTFORK]);
    map('anon-protnone', U.PROT_NONE, PA);
    map('anon-ro', U.PROT_READ, PA);
    const mfd = p.memfd_create('mfd', 0);
    p.ftruncate(mfd, M2);
    map('memfd-shared', RW, U.MAP_SHARED, mfd);
    map('memfd-private', RW, U.MAP_PRIVATE, mfd);
    const hfd = p.memfd_create('hmfd', U.MFD_HUGETLB);
    p.ftruncate(hfd, M2);
    map('memfd-hugetlb', RW, U.MAP_SHARED, hfd);
    const sfd = p.open('/dev/shm/x', U.O_RDWR | U.O_CREAT, 0o600);
    p.ftruncate(sfd, M2);
    map('shm-file', RW, U.MAP_SHARED, sfd);
    const smaps = p.smaps();
    for (const [label, head, kps, thp, vmflags] of REAL) {
      const lines = formatSmaps(smaps.find((e) => e.start === made.get(label))!).split('\n');
      const got = lines[0]!.slice(lines[0]!.indexOf(' ') + 1).replace(/ +/g, ' ').replace(/ [0-9a-f]{2}:[0-9a-f]{2} \d+/, ' DEV').trim();
      const field = (name: string) => lines.find((l) => l.startsWith(name))!.replace(/ +/g, ' ');
      expect([label, got, field('KernelPageSize'), field('THPeligible'), lines.find((l) => l.startsWith('VmFlags'))]).toEqual([label, head, kps, thp, vmflags]);
    }
  });
});

describe('/proc/buddyinfo', () => {
  it('prints each zone as frag_show_print does, a space after every count', () => {
    expect(formatBuddyinfo([{ zone: 'Normal', free: [1, 1, 2, 1, 3, 1, 3, 1, 2, 1, 186] }])).toBe(
      'Node 0, zone   Normal      1      1      2      1      3      1      3      1      2      1    186 \n',
    );
    // A kernel with a CMA area still shows one line per zone.
    const k = new Kernel({ memory: '64MiB', cma: '16MiB' });
    expect(formatBuddyinfo(k.buddyinfo()).split('\n').filter((l) => l !== '').map((l) => l.slice(0, 21))).toEqual(['Node 0, zone   Normal']);
  });
});
