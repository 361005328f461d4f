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
import { formatBuddyinfo, formatSmaps } from '../../src/cli/inspect.js';
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
