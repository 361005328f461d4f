/**
 * hugetlbfs (mirrors fs/hugetlbfs/inode.c): files whose pages come from the
 * HugeTLB pools (src/mm/hugetlb.ts). The kernel-internal mounts (one per
 * huge page size) back MAP_HUGETLB and memfd_create(MFD_HUGETLB); mounts in
 * the mount table add a subpool (size=, min_size=) and an inode limit
 * (nr_inodes=).
 *
 * Each inode has a reservation map; a mapping reserves its huge pages at
 * mmap (ENOMEM when short), faults allocate them (SIGBUS when none is left).
 * read(2) copies from the page cache (holes read as zeros); write(2) is not
 * supported (no ->write_iter: EINVAL). fallocate preallocates (ENOSPC when the
 * pool runs out) or punches holes: whole huge pages inside the hole are
 * removed, partial ones at the ends are zeroed, and private COW pages of
 * MAP_PRIVATE mappings of the file go too (the long-standing quirk
 * hugetlb-madvise.c documents). Truncation is to a multiple of the huge page
 * size only (EINVAL otherwise).
 */
import type { ErrnoName } from '../uapi/errno.js';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE } from '../uapi/falloc.js';
import { F_SEAL_FUTURE_WRITE, F_SEAL_GROW, F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_WRITE, S_IFREG } from '../uapi/fcntl.js';
import { HUGETLBFS_MAGIC } from '../uapi/magic.js';
import { FMode, type AddressSpace, type File, type SuperBlock, type VmOperations, VmFault } from '../mm/fs_types.js';
import type { Host } from '../mm/host.js';
import {
  type HugetlbInodeInfo,
  type Hstate,
  ResvMap,
  type Subpool,
  allocHugetlbFolio,
  hugepageNewSubpool,
  hugetlbAddToPageCache,
  hugetlbDeleteFromPageCache,
  hugetlbReservePages,
  hugetlbUnreservePages,
  hugetlbVmOpClose,
  hugetlbVmOpOpen,
  hugetlbVmOpSplit,
  unmapHugepageRange,
} from '../mm/hugetlb.js';
import { VM, Vma } from '../mm/mm_types.js';
import { PAGE_SIZE, tableIndex } from '../mm/page.js';
import { tableLookup } from '../mm/pgtable.js';
import { PG } from '../mm/folio.js';
import { Ev } from '../cost/counters.js';
import { type FsFileOps, OpenFile } from './file.js';
import type { FsInode, Vfs } from './inode.js';
import { MAX_LFS_FILESIZE } from './shmem.js';

const LLONG_MAX = (1n << 63n) - 1n;

/** The hstate for a MAP_HUGE_* / MFD_HUGE_* size field (log2 size; 0 = the default, 2 MiB). */
// mirrors include/linux/hugetlb.h:hstate_sizelog
export function hstateSizelog(hstates: readonly Hstate[], log: number): Hstate | undefined {
  if (log === 0) return hstates[0];
  return hstates.find((h) => 2 ** log === h.size);
}

/** A hugetlbfs super block: its hstate, subpool and inode limit (struct hugetlbfs_sb_info). */
export interface HugetlbfsSb extends SuperBlock {
  readonly hstate: Hstate;
  readonly spool: Subpool | null;
  /** nr_inodes= (-1: no limit) and inodes left. */
  readonly maxInodes: number;
  freeInodes: number;
}

/** Mount options of a hugetlbfs mount in the mount table (bytes, or a percentage of the pool). */
export interface HugetlbfsMountOptions {
  pagesize?: number;
  size?: { value: number; percent: boolean };
  minSize?: { value: number; percent: boolean };
  nrInodes?: number;
}

export interface HugetlbFs {
  /** The kernel's hstates (for MAP_HUGE_* / MFD_HUGE_* sizes). */
  readonly hstates: readonly Hstate[];
  /** Create an unlinked file of size bytes on the internal mount of h (hugetlb_file_setup). */
  fileSetup(h: Hstate, size: bigint, path: string): OpenFile;
  /**
   * Mount hugetlbfs with these options: the super block, or an errno (EINVAL
   * for a bad option, ENOMEM when min_size cannot be reserved).
   */
  mount(opts: HugetlbfsMountOptions, dev: number): HugetlbfsSb | ErrnoName;
  /** ->create / ->tmpfile on a mount: a new regular file (nlink 0), or ENOSPC past nr_inodes. */
  newInode(sb: HugetlbfsSb, mode: number): FsInode | 'ENOSPC';
  /** The file operations of regular files on a mount of h. */
  fileOps(h: Hstate): FsFileOps;
}

/** memparse (lib/cmdline.c): a number (base 0) and an optional K/M/G/T/P/E suffix; the rest of the text. */
function memparse(s: string): { value: number; rest: string } | null {
  const m = /^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)([kKmMgGtTpPeE]?)/.exec(s);
  if (m === null) return null;
  const d = m[1]!;
  const v = Number(/^0[xX]/.test(d) ? BigInt(d) : d.length > 1 && d.startsWith('0') ? BigInt(`0o${d.slice(1)}`) : BigInt(d));
  const shift = { '': 0, k: 10, m: 20, g: 30, t: 40, p: 50, e: 60 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't' | 'p' | 'e'];
  return { value: v * 2 ** shift, rest: s.slice(m[0].length) };
}

/**
 * Parse a hugetlbfs mount's option string ("pagesize=1G,size=50%,min_size=2G,
 * nr_inodes=10"): the options, or a message for an unknown option or a bad
 * value (mount(2) would fail with EINVAL). uid=, gid= and mode= are accepted
 * and ignored (the model has no permissions).
 */
// mirrors fs/hugetlbfs/inode.c:hugetlbfs_parse_param
export function parseHugetlbfsOptions(text: string): HugetlbfsMountOptions | string {
  const o: { -readonly [K in keyof HugetlbfsMountOptions]: HugetlbfsMountOptions[K] } = {};
  for (const part of text.split(',')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    const val = eq < 0 ? '' : part.slice(eq + 1);
    const size = (): { value: number; percent: boolean } | null => {
      // memparse() would accept a K/M/G without a digit: the value must start with one.
      const r = /^[0-9]/.test(val) ? memparse(val) : null;
      return r === null ? null : { value: r.value, percent: r.rest.startsWith('%') };
    };
    switch (key) {
      case 'size': {
        const s = size();
        if (s === null) return `bad value '${val}' for mount option 'size'`;
        o.size = s;
        break;
      }
      case 'min_size': {
        const s = size();
        if (s === null) return `bad value '${val}' for mount option 'min_size'`;
        o.minSize = s;
        break;
      }
      case 'nr_inodes': {
        const r = /^[0-9]/.test(val) ? memparse(val) : null;
        if (r === null) return `bad value '${val}' for mount option 'nr_inodes'`;
        o.nrInodes = r.value;
        break;
      }
      case 'pagesize': {
        const r = memparse(val);
        if (r === null) return `unsupported page size '${val}'`;
        o.pagesize = r.value;
        break;
      }
      case 'uid':
      case 'gid':
      case 'mode':
        if (!/^[0-9]+$/.test(val)) return `bad value '${val}' for mount option '${key}'`;
        break;
      default:
        return `unknown parameter '${key}'`;
    }
  }
  return o;
}

/** hugetlbfs_size_to_hpages: bytes (or a percentage of max_huge_pages) to huge pages; -1: not given. */
// mirrors fs/hugetlbfs/inode.c:hugetlbfs_size_to_hpages
function sizeToHpages(h: Hstate, opt: { value: number; percent: boolean } | undefined): number {
  if (opt === undefined) return -1;
  const bytes = opt.percent ? Math.floor((opt.value * h.size * h.max) / 100) : opt.value;
  return Math.floor(bytes / h.size);
}

export function hugetlbFs(vfs: Vfs): HugetlbFs {
  const host: Host = vfs.host;
  const hs = host.hugetlb;
  const info = (mapping: AddressSpace): HugetlbInodeInfo => hs.inodes.get(mapping)!;
  const hugetlbFileInfo = (file: File): HugetlbInodeInfo => info(file.inode.mapping);

  const vmOps: VmOperations = {
    name: 'hugetlb',
    mapPages: false,
    // hugetlb_vm_op_fault: handle_mm_fault sends HugeTLB VMAs to hugetlb_fault, never here.
    fault: () => -VmFault.SIGBUS,
    maySplit: (vma, addr) => hugetlbVmOpSplit(host, vma, addr),
    open: (vma, from) => hugetlbVmOpOpen(vma, from),
    close: (vma) => hugetlbVmOpClose(host, vma),
  };

  /** Start address in vma of file page index start (vma_offset_start). */
  const vmaOffsetStart = (vma: Vma, start: number): number => vma.start + (vma.pgoff < start ? (start - vma.pgoff) * PAGE_SIZE : 0);
  /** End address in vma of file page index end; 0 means the VMA's end (vma_offset_end). */
  const vmaOffsetEnd = (vma: Vma, end: number): number => (end === 0 ? vma.end : Math.min(vma.end, (end - vma.pgoff) * PAGE_SIZE + vma.start));
  const vmaOverlaps = (vma: Vma, start: number, end: number): boolean => {
    const first = vma.pgoff;
    const last = vma.pgoff + (vma.end - vma.start) / PAGE_SIZE - 1;
    return last >= start && (end === 0 || first <= end - 1);
  };

  /** Unmap [start, end) (file page indices; end 0: to EOF) from every VMA of the file, private COW pages included. */
  // mirrors fs/hugetlbfs/inode.c:hugetlb_vmdelete_list
  const hugetlbVmdeleteList = (mapping: AddressSpace, start: number, end: number): void => {
    for (const vma of [...mapping.iMmap]) {
      if (!vmaOverlaps(vma, start, end)) continue;
      const vs = vmaOffsetStart(vma, start);
      const ve = vmaOffsetEnd(vma, end);
      if (vs < ve) unmapHugepageRange(host, vma, vs, ve, 0);
    }
  };

  /** Unmap the file page f (index idx) from every VMA that maps it (not COW copies). */
  // mirrors fs/hugetlbfs/inode.c:hugetlb_unmap_file_folio
  const hugetlbUnmapFileFolio = (mapping: AddressSpace, h: Hstate, f: number, idx: number): void => {
    const start = idx * h.nrPages;
    const end = (idx + 1) * h.nrPages;
    for (const vma of [...mapping.iMmap]) {
      if (!vmaOverlaps(vma, start, end)) continue;
      const vs = vmaOffsetStart(vma, start);
      const ve = vmaOffsetEnd(vma, end);
      if (vs < ve) unmapHugepageRangeIfMaps(vma, vs, ve, f);
    }
  };
  const unmapHugepageRangeIfMaps = (vma: Vma, vs: number, ve: number, f: number): void => {
    // hugetlb_vma_maps_page
    const h = hs.hstateOf(f);
    const t = tableLookup(vma.mm.pgd, vs, h.level);
    if (t === null) return;
    const i = tableIndex(vs, h.level);
    if (t.fl[i] === 0 || t.pfn[i] !== host.ft.pfn[f]) return;
    unmapHugepageRange(host, vma, vs, ve, 0);
  };

  /**
   * Remove the pages of [lstart, lend) (bytes; lend LLONG_MAX: truncation) from
   * the page cache, unmapping any still mapped; a hole punch gives each page's
   * reservation back, truncation all of them at the end.
   */
  // mirrors fs/hugetlbfs/inode.c:remove_inode_hugepages (remove_inode_single_folio)
  const removeInodeHugepages = (mapping: AddressSpace, lstart: bigint, lend: bigint): void => {
    const inf = info(mapping);
    const h = inf.hstate;
    const truncateOp = lend === LLONG_MAX;
    const first = Number(lstart / BigInt(PAGE_SIZE));
    const end = truncateOp ? Number.MAX_SAFE_INTEGER : Number(lend / BigInt(PAGE_SIZE));
    const folios: number[] = [];
    mapping.pages.forEach(first, end, (_index, _order, f) => {
      folios.push(f);
    });
    let freed = 0;
    for (const f of folios) {
      const idx = host.ft.index[f]! / h.nrPages;
      if (host.ft.mapcount[f]! >= 0) hugetlbUnmapFileFolio(mapping, h, f, idx);
      hugetlbDeleteFromPageCache(host, f);
      freed++;
      if (!truncateOp) hugetlbUnreservePages(host, inf, idx, idx + 1, 1);
    }
    if (truncateOp) hugetlbUnreservePages(host, inf, Number(lstart / BigInt(h.size)), Number.MAX_SAFE_INTEGER, freed);
  };

  /** Truncate to offset (a multiple of the huge page size): unmap, then drop the pages beyond. */
  // mirrors fs/hugetlbfs/inode.c:hugetlb_vmtruncate
  const hugetlbVmtruncate = (inode: FsInode, offset: bigint): void => {
    inode.size = offset;
    hugetlbVmdeleteList(inode.mapping, Number(offset / BigInt(PAGE_SIZE)), 0);
    removeInodeHugepages(inode.mapping, offset, LLONG_MAX);
  };

  /** Zero [start, end) of the huge page holding start, if the file has it. */
  // mirrors fs/hugetlbfs/inode.c:hugetlbfs_zero_partial_page
  const zeroPartialPage = (mapping: AddressSpace, h: Hstate, start: bigint, end: bigint): void => {
    const size = BigInt(h.size);
    const idx = Number(start / size);
    const f = mapping.pages.get(idx * h.nrPages);
    if (f < 0) return;
    const s = Number(start % size);
    let e = Number(end % size);
    if (e === 0) e = h.size;
    host.content.fill(f, h.nrPages, s, e - s, 0);
  };

  /** Punch [offset, offset + len): whole huge pages removed, partial ends zeroed. */
  // mirrors fs/hugetlbfs/inode.c:hugetlbfs_punch_hole
  const punchHole = (file: File, offset: bigint, len: bigint): ErrnoName | null => {
    const inode = file.inode as FsInode;
    const mapping = inode.mapping;
    const h = hugetlbFileInfo(file).hstate;
    const hsize = BigInt(h.size);
    const holeStart = ((offset + hsize - 1n) / hsize) * hsize;
    const holeEnd = ((offset + len) / hsize) * hsize;
    if (inode.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) return 'EPERM';
    if (offset < holeStart) zeroPartialPage(mapping, h, offset, offset + len < holeStart ? offset + len : holeStart);
    if (holeEnd > holeStart) hugetlbVmdeleteList(mapping, Number(holeStart / BigInt(PAGE_SIZE)), Number(holeEnd / BigInt(PAGE_SIZE)));
    if (offset + len > holeEnd && offset + len > holeStart) zeroPartialPage(mapping, h, holeEnd, offset + len);
    if (holeEnd > holeStart) removeInodeHugepages(mapping, holeStart, holeEnd);
    return null;
  };

  /** Preallocate the huge pages covering [offset, offset + len), consuming the file's reservations. */
  // mirrors fs/hugetlbfs/inode.c:hugetlbfs_fallocate
  const fallocate = (file: File, mode: number, offset: bigint, len: bigint): ErrnoName | null => {
    if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE)) return 'EOPNOTSUPP';
    if (mode & FALLOC_FL_PUNCH_HOLE) return punchHole(file, offset, len);
    const inode = file.inode as FsInode;
    const mapping = inode.mapping;
    const h = hugetlbFileInfo(file).hstate;
    const hsize = BigInt(h.size);
    const start = Number(offset / hsize);
    const end = Number((offset + len + hsize - 1n) / hsize);
    // inode_newsize_ok
    if (offset + len > MAX_LFS_FILESIZE) return 'EFBIG';
    if (inode.seals & F_SEAL_GROW && offset + len > inode.size) return 'EPERM';
    // A pseudo VMA: shared, so allocations use (and consume) the file's reservations.
    const pseudo = new Vma(null as never, 0, Number.MAX_SAFE_INTEGER, VM.HUGETLB | VM.MAYSHARE | VM.SHARED, 0, file, vmOps);
    for (let index = start; index < end; index++) {
      if (mapping.pages.get(index * h.nrPages) >= 0) continue;
      const f = allocHugetlbFolio(host, pseudo, index * h.size, false);
      if (f < 0) return f === -12 ? 'ENOMEM' : 'ENOSPC';
      host.zeroFolio(f);
      host.ft.flags[f]! |= PG.UPTODATE;
      hugetlbAddToPageCache(host, f, mapping, index);
      // The allocation's reference; the page cache keeps its own.
      host.folioPut(f);
    }
    if (!(mode & FALLOC_FL_KEEP_SIZE) && offset + len > inode.size) inode.size = offset + len;
    return null;
  };

  /** read(2): page-cache data, holes as zeros, up to i_size. */
  // mirrors fs/hugetlbfs/inode.c:hugetlbfs_read_iter
  const read = (file: File, buf: Uint8Array, count: number, pos: bigint): number => {
    const mapping = file.inode.mapping;
    const h = hugetlbFileInfo(file).hstate;
    const isize = file.inode.size;
    if (pos >= isize) return 0;
    const left = isize - pos;
    const total = left < BigInt(count) ? Number(left) : count;
    const hsize = BigInt(h.size);
    let done = 0;
    while (done < total) {
      const p = pos + BigInt(done);
      const idx = Number(p / hsize);
      const off = Number(p % hsize);
      const n = Math.min(total - done, h.size - off);
      const f = mapping.pages.get(idx * h.nrPages);
      if (f < 0) buf.fill(0, done, done + n);
      else {
        host.content.read(f, off, buf, done, n);
        host.ev[Ev.COPY_BYTES] += n;
      }
      done += n;
    }
    return total;
  };

  const opsFor = new Map<Hstate, FsFileOps>();
  const fileOps = (h: Hstate): FsFileOps => {
    let ops = opsFor.get(h);
    if (ops !== undefined) return ops;
    ops = {
      hugePageSize: h.size,
      // mirrors fs/hugetlbfs/inode.c:hugetlbfs_file_mmap
      mmap: (file, vma) => {
        vma.flags |= VM.HUGETLB | VM.DONTEXPAND;
        vma.ops = vmOps;
        // PGOFF_LOFFT_MAX: the byte offset must fit a loff_t.
        if (vma.pgoff >= 2 ** 51) return 'EINVAL';
        if (vma.pgoff % h.nrPages !== 0) return 'EINVAL';
        const len = BigInt(vma.end - vma.start) + BigInt(vma.pgoff) * BigInt(PAGE_SIZE);
        const inf = hugetlbFileInfo(file);
        if (!hugetlbReservePages(host, inf, vma.pgoff / h.nrPages, Number(len / BigInt(h.size)), vma, vma.flags)) return 'ENOMEM';
        if (vma.flags & VM.WRITE && file.inode.size < len) file.inode.size = len;
        return null;
      },
      fallocate,
      read,
      // noop_fsync
      fsync: () => null,
      // mirrors fs/hugetlbfs/inode.c:hugetlbfs_setattr
      setattrSize: (file: File, size: bigint): ErrnoName | null => {
        if (size % BigInt(h.size) !== 0n) return 'EINVAL';
        const inode = file.inode as FsInode;
        if (size < inode.size && inode.seals & F_SEAL_SHRINK) return 'EPERM';
        if (size > inode.size && inode.seals & F_SEAL_GROW) return 'EPERM';
        hugetlbVmtruncate(inode, size);
        return null;
      },
    };
    opsFor.set(h, ops);
    return ops;
  };

  /** A regular-file inode with its reservation map (hugetlbfs_get_inode). */
  // mirrors fs/hugetlbfs/inode.c:hugetlbfs_get_inode (and hugetlbfs_evict_inode)
  const getInode = (sb: HugetlbfsSb, mode: number): FsInode => {
    const inode = vfs.newInode(sb, mode, { swapbacked: false, writeback: false }, (ino) => {
      removeInodeHugepages(ino.mapping, 0n, LLONG_MAX);
      if (sb.maxInodes >= 0) sb.freeInodes++;
    });
    hs.inodes.set(inode.mapping, { mapping: inode.mapping, hstate: sb.hstate, resvMap: new ResvMap(), spool: sb.spool });
    inode.seals = F_SEAL_SEAL;
    return inode;
  };

  /** The internal mount of each huge page size (hugetlbfs_vfsmount[]), anonymous device 0:2. */
  const internal = new Map<Hstate, HugetlbfsSb>();
  const internalSb = (h: Hstate): HugetlbfsSb => {
    let sb = internal.get(h);
    if (sb === undefined) {
      sb = { fsType: 'hugetlbfs', blockSize: h.size, maxBytes: MAX_LFS_FILESIZE, magic: HUGETLBFS_MAGIC, dev: 2, hstate: h, spool: null, maxInodes: -1, freeInodes: -1 };
      internal.set(h, sb);
    }
    return sb;
  };

  return {
    hstates: hs.hstates,
    fileSetup(h, size, path) {
      const inode = getInode(internalSb(h), S_IFREG | 0o777);
      inode.size = size;
      // MAP_HUGETLB and memfd files reserve nothing here (VM_NORESERVE): mmap does.
      return new OpenFile(vfs, inode, FMode.READ | FMode.WRITE | FMode.LSEEK | FMode.PREAD | FMode.PWRITE | FMode.CAN_READ, 0o2, fileOps(h), path);
    },
    mount(opts, dev) {
      // hugetlbfs_parse_param / hugetlbfs_validate / hugetlbfs_fill_super
      const h = opts.pagesize === undefined ? hs.defaultHstate : hs.bySize(opts.pagesize);
      if (h === undefined) return 'EINVAL';
      const maxHpages = sizeToHpages(h, opts.size);
      const minHpages = sizeToHpages(h, opts.minSize);
      if (opts.size !== undefined && minHpages > maxHpages) return 'EINVAL';
      let spool: Subpool | null = null;
      if (maxHpages !== -1 || minHpages !== -1) {
        spool = hugepageNewSubpool(host, h, maxHpages, minHpages);
        if (spool === null) return 'ENOMEM';
      }
      const nrInodes = opts.nrInodes ?? -1;
      return { fsType: 'hugetlbfs', blockSize: h.size, maxBytes: MAX_LFS_FILESIZE, magic: HUGETLBFS_MAGIC, dev, hstate: h, spool, maxInodes: nrInodes, freeInodes: nrInodes };
    },
    newInode(sb, mode) {
      // hugetlbfs_alloc_inode: hugetlbfs_dec_free_inodes
      if (sb.maxInodes >= 0) {
        if (sb.freeInodes === 0) return 'ENOSPC';
        sb.freeInodes--;
      }
      return getInode(sb, mode);
    },
    fileOps,
  };
}
