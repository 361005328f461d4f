/**
 * sysfs attributes and sysctl files (mirrors fs/kernfs/file.c, fs/sysfs/file.c
 * and fs/proc/proc_sysctl.c, the parts a read(2) or write(2) of one value
 * needs), for the files the model implements: the HugeTLB pool controls in
 * /sys/kernel/mm/hugepages/hugepages-<size>kB/ and /proc/sys/vm/.
 *
 * A file is an attribute with a mode and show/store callbacks. open(2) of a
 * sysfs attribute for writing when it has no write permission (or for
 * reading when it has no read permission) fails with EACCES, as kernfs's
 * KERNFS_ROOT_EXTRA_OPEN_PERM_CHECK makes it; read(2) returns the show text
 * from the file position; write(2) hands the written bytes to store, which
 * parses them (kstrtoul for sysfs: "16\n" is 16, "-1" and "abc" are EINVAL;
 * proc_doulongvec_minmax for sysctl) and returns the bytes consumed or an
 * errno.
 */
import type { ErrnoName } from '../uapi/errno.js';
import { O_ACCMODE, O_RDONLY, O_WRONLY, S_IFREG } from '../uapi/fcntl.js';
import { FMode, type SuperBlock } from '../mm/fs_types.js';
import type { Host } from '../mm/host.js';
import { demoteSizeStore, demoteStore, nrHugepagesStore, nrOvercommitHugepagesStore } from '../mm/hugetlb.js';
import { type FsFileOps, OpenFile } from './file.js';
import type { Vfs } from './inode.js';

/** One file: its permission bits, what a read shows, what a write does with the text. */
export interface SysAttr {
  /** Permission bits: 0o644, 0o444 (read-only), 0o200 (write-only). */
  readonly mode: number;
  /** The file's text (with its newline). Absent: not readable. */
  show?(): string;
  /** Act on the written text: the bytes consumed, or an errno. Absent: not writable. */
  store?(text: string): number | ErrnoName;
}

const SYSFS_MAGIC = 0x62656572;
const PROC_SUPER_MAGIC = 0x9fa0;

const sysfsSb: SuperBlock = { fsType: 'sysfs', blockSize: 4096, maxBytes: (1n << 63n) - 1n, magic: SYSFS_MAGIC, dev: 21 };
const procSb: SuperBlock = { fsType: 'proc', blockSize: 1024, maxBytes: (1n << 63n) - 1n, magic: PROC_SUPER_MAGIC, dev: 22 };

/**
 * kstrtoul(s, 10): decimal digits after an optional '+', then at most one
 * newline. null for anything else (EINVAL), Infinity past ULONG_MAX (ERANGE).
 */
// mirrors lib/kstrtox.c:kstrtoull (base 10)
export function kstrtoul(s: string): number | null {
  const m = /^\+?([0-9]+)\n?$/.exec(s);
  if (m === null) return null;
  const v = BigInt(m[1]!);
  return v >= 1n << 64n ? Infinity : Number(v);
}

/**
 * proc_doulongvec_minmax's write of one value: spaces, an unsigned number
 * (base 0: 0x.. hex, 0.. octal), then whitespace or the end. Returns the
 * value and the bytes consumed, or null (EINVAL: a '-', no digits, another
 * character after the number).
 */
// mirrors kernel/sysctl.c:__do_proc_doulongvec_minmax (one value, proc_get_long)
export function procUlong(s: string): { value: number; used: number } | null {
  const m = /^([ \t\n\v\f\r]*)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)([ \t\n\v\f\r]*)/.exec(s);
  if (m === null) return null;
  const rest = s.slice(m[0].length);
  // Another value may follow a separator (only one is read); anything else is invalid.
  if (m[3] === '' && rest !== '') return null;
  const digits = m[2]!;
  const v = digits.startsWith('0x') || digits.startsWith('0X') ? BigInt(digits) : digits.length > 1 && digits.startsWith('0') ? BigInt(`0o${digits.slice(1)}`) : BigInt(digits);
  return { value: v >= 1n << 64n ? Infinity : Number(v), used: m[0].length };
}

/** The file a process gets for an attribute (kernfs_fop_open / proc_sys_open). */
// mirrors fs/kernfs/file.c:kernfs_fop_open (sysfs) and fs/proc/proc_sysctl.c:proc_sys_permission (sysctl)
export function sysfsOpen(vfs: Vfs, attr: SysAttr, path: string, flags: number, sysctl: boolean): OpenFile | ErrnoName {
  const acc = flags & O_ACCMODE;
  const wantRead = acc !== O_WRONLY;
  const wantWrite = acc !== O_RDONLY;
  // sysfs: EACCES without the permission bit or the operation. sysctl: the owner's (root's) bits.
  if (wantWrite && (!(attr.mode & 0o222) || attr.store === undefined)) return 'EACCES';
  if (wantRead && (!(attr.mode & 0o444) || attr.show === undefined)) return 'EACCES';
  const inode = vfs.newInode(sysctl ? procSb : sysfsSb, S_IFREG | attr.mode, { swapbacked: false, writeback: false }, () => {});
  // sysfs attributes report PAGE_SIZE; sysctl files 0.
  inode.size = sysctl ? 0n : 4096n;
  let fMode = FMode.LSEEK | FMode.PREAD | FMode.PWRITE;
  if (wantRead) fMode |= FMode.READ | FMode.CAN_READ;
  if (wantWrite) fMode |= FMode.WRITE | FMode.CAN_WRITE;
  const ops: FsFileOps = {
    // seq_file: the text from the position.
    read: (_file, buf, count, pos) => {
      const text = new TextEncoder().encode(attr.show!());
      if (pos >= BigInt(text.length)) return 0;
      const from = Number(pos);
      const n = Math.min(count, text.length - from);
      buf.set(text.subarray(from, from + n));
      return n;
    },
    // kernfs_fop_write_iter: one store per write, at most PAGE_SIZE bytes.
    write: (_file, buf, count) => {
      const n = Math.min(count, 4096);
      return attr.store!(new TextDecoder().decode(buf.subarray(0, n)));
    },
  };
  return new OpenFile(vfs, inode, fMode, flags, ops, path);
}

/** Where a path's attribute lives: sysfs or sysctl (/proc/sys). */
export interface SysFile {
  readonly attr: SysAttr;
  readonly sysctl: boolean;
}

/** The errno for a negative kernel return. */
function errnoOf(rc: number): ErrnoName {
  return rc === -22 ? 'EINVAL' : rc === -12 ? 'ENOMEM' : rc === -16 ? 'EBUSY' : rc === -34 ? 'ERANGE' : 'EINVAL';
}

/** A sysfs store of one unsigned long (kstrtoul), acting with the value: len, or the errno. */
function ulongStore(text: string, act: (v: number) => number): number | ErrnoName {
  const v = kstrtoul(text);
  if (v === null) return 'EINVAL';
  if (v === Infinity) return 'ERANGE';
  const rc = act(v);
  return rc < 0 ? errnoOf(rc) : new TextEncoder().encode(text).length;
}

/** A sysctl write of one unsigned long: the bytes consumed, or the errno. */
function procUlongStore(text: string, act: (v: number) => number): number | ErrnoName {
  const r = procUlong(text);
  if (r === null || r.value === Infinity) return 'EINVAL';
  const rc = act(r.value);
  return rc < 0 ? errnoOf(rc) : new TextEncoder().encode(text.slice(0, r.used)).length;
}

/**
 * The HugeTLB files: per hstate under /sys/kernel/mm/hugepages/ (demote and
 * demote_size only where there is a smaller size to demote to), and the
 * default hstate's sysctls under /proc/sys/vm/.
 */
// mirrors mm/hugetlb.c:hugetlb_sysfs_add_hstate (hstate_attrs, hstate_demote_attrs) and hugetlb_table; mm/hugetlb_vmemmap.c:hugetlb_vmemmap_sysctls
export function hugetlbSysFiles(host: Host): Map<string, SysFile> {
  const hs = host.hugetlb;
  const out = new Map<string, SysFile>();
  const sys = (path: string, attr: SysAttr) => out.set(path, { attr, sysctl: false });
  const ctl = (path: string, attr: SysAttr) => out.set(path, { attr, sysctl: true });
  for (const h of hs.hstates) {
    const dir = `/sys/kernel/mm/hugepages/${h.name}`;
    const nr: SysAttr = { mode: 0o644, show: () => `${h.nr}\n`, store: (t) => ulongStore(t, (v) => nrHugepagesStore(host, h, v)) };
    sys(`${dir}/nr_hugepages`, nr);
    sys(`${dir}/nr_hugepages_mempolicy`, nr);
    sys(`${dir}/nr_overcommit_hugepages`, { mode: 0o644, show: () => `${h.overcommit}\n`, store: (t) => ulongStore(t, (v) => nrOvercommitHugepagesStore(h, v)) });
    sys(`${dir}/free_hugepages`, { mode: 0o444, show: () => `${h.free}\n` });
    sys(`${dir}/resv_hugepages`, { mode: 0o444, show: () => `${h.resv}\n` });
    sys(`${dir}/surplus_hugepages`, { mode: 0o444, show: () => `${h.surplus}\n` });
    if (h.demoteOrder !== 0) {
      sys(`${dir}/demote_size`, {
        mode: 0o644,
        show: () => `${(4096 * 2 ** h.demoteOrder) / 1024}kB\n`,
        store: (t) => {
          const size = memparse(t);
          const rc = size === null ? -22 : demoteSizeStore(host, h, size);
          return rc < 0 ? errnoOf(rc) : new TextEncoder().encode(t).length;
        },
      });
      sys(`${dir}/demote`, { mode: 0o200, store: (t) => ulongStore(t, (v) => demoteStore(host, h, v)) });
    }
  }
  const d = hs.defaultHstate;
  // The sysctl shows max_huge_pages (the persistent pool), sysfs nr_huge_pages.
  const nrCtl: SysAttr = { mode: 0o644, show: () => `${d.max}\n`, store: (t) => procUlongStore(t, (v) => nrHugepagesStore(host, d, v)) };
  ctl('/proc/sys/vm/nr_hugepages', nrCtl);
  ctl('/proc/sys/vm/nr_hugepages_mempolicy', nrCtl);
  ctl('/proc/sys/vm/nr_overcommit_hugepages', { mode: 0o644, show: () => `${d.overcommit}\n`, store: (t) => procUlongStore(t, (v) => nrOvercommitHugepagesStore(d, v)) });
  ctl('/proc/sys/vm/hugetlb_optimize_vmemmap', {
    mode: 0o644,
    show: () => `${hs.optimizeVmemmap ? 1 : 0}\n`,
    // proc_dobool: any integer, true unless 0.
    store: (t) => {
      const m = /^\s*([+-]?[0-9]+)\s*/.exec(t);
      if (m === null || (m[0].length < t.length && !/^\s/.test(t.slice(m[0].length - 1)))) return 'EINVAL';
      // HGM's per-page mapcount (thp-like) needs writable tail struct pages: HVO cannot be turned on (v2 made them exclusive in Kconfig, where the file would not exist).
      if (Number(m[1]) !== 0 && host.hgm.needsWritableTailPages) return 'EINVAL';
      hs.optimizeVmemmap = Number(m[1]) !== 0;
      return new TextEncoder().encode(m[0]).length;
    },
  });
  return out;
}

/** memparse: a number (base 0) with an optional K/M/G/T/P/E suffix; null if it does not start with a digit. */
// mirrors lib/cmdline.c:memparse
function memparse(s: string): number | null {
  const m = /^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)([kKmMgGtTpPeE]?)/.exec(s);
  if (m === null) return null;
  const base = Number(BigInt(m[1]!.startsWith('0') && m[1]!.length > 1 && !/^0[xX]/.test(m[1]!) ? `0o${m[1]!.slice(1)}` : m[1]!));
  const shift = { '': 0, k: 10, m: 20, g: 30, t: 40, p: 50, e: 60 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't' | 'p' | 'e'];
  return base * 2 ** shift;
}
