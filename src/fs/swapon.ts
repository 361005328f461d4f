/**
 * swapon(2) and swapoff(2) (mirrors mm/swapfile.c's syscalls), and the
 * text of /proc/swaps (swap_show).
 *
 * An area is the zram device of the Kernel option `swap` (/dev/zram0,
 * made with mkswap at boot, so it may be swapped on again after a swapoff)
 * or a regular file carrying a swap header as mkswap writes it: the
 * "SWAPSPACE2" signature in the last 10 bytes of its first page, version 1
 * and last_page (little-endian u32s at bytes 1024 and 1028), no bad pages.
 * The area then has last_page usable slots after the header. Only disk file
 * systems can hold one: tmpfs and fs-dax files have no ->read_folio (EINVAL,
 * as on 6.12), btrfs refuses copy-on-write files (the model has no
 * chattr +C), and ext4/xfs refuse a file with a hole (iomap_swapfile_activate).
 * An active swap file is S_SWAPFILE: writes, truncation and fallocate fail
 * with ETXTBSY, unlink with EPERM, a second swapon with EBUSY.
 */
import type { ErrnoName } from '../uapi/errno.js';
import { O_EXCL, O_LARGEFILE, O_RDWR } from '../uapi/fcntl.js';
import { SWAP_FLAGS_VALID, SWAP_FLAG_PREFER, SWAP_FLAG_PRIO_MASK } from '../uapi/swap.js';
import { InodeFlag, fput, getFile } from '../mm/fs_types.js';
import type { Host } from '../mm/host.js';
import { PAGE_SIZE } from '../mm/page.js';
import { SwapInfo, type SwapState, ZRAM_PATH, enableSwapInfo, freeSwapType, swapOnZram } from '../mm/swapfile.js';
import { swapoffArea } from '../mm/swapoff.js';
import type { OpenFile } from './file.js';
import { type Namespace, getname } from './namei.js';

/** Where the swap header's fields are (union swap_header, include/linux/swap.h). */
const SWAP_MAGIC = 'SWAPSPACE2';
const MAGIC_OFFSET = PAGE_SIZE - 10;
const VERSION_OFFSET = 1024;
const LAST_PAGE_OFFSET = 1028;
const NR_BADPAGES_OFFSET = 1032;
/** MAX_SWAP_BADPAGES: what fits in the header page after its fixed fields. */
const MAX_SWAP_BADPAGES = Math.floor((MAGIC_OFFSET - 1536) / 4);

/** SWAP_FLAG_PRIO_SHIFT */
const SWAP_FLAG_PRIO_SHIFT = 0;

/** The syscalls' view of the kernel. */
export interface SwapCtx {
  readonly host: Host;
  readonly ns: Namespace;
}

/**
 * The pages (header included) a header gives an area on a file of fileBytes,
 * or 0 when it is not a usable swap header: no signature, a version other
 * than 1 (either byte order), last_page 0, more pages than the file has,
 * or bad pages (never allowed in a regular file).
 */
// mirrors mm/swapfile.c:read_swap_header (swapfile_maximum_size is far above any model's file)
export function readSwapHeader(h: Uint8Array, fileBytes: bigint): number {
  if (new TextDecoder().decode(h.subarray(MAGIC_OFFSET, MAGIC_OFFSET + 10)) !== SWAP_MAGIC) return 0;
  const dv = new DataView(h.buffer, h.byteOffset, h.byteLength);
  // The swap partition endianness hack: a byte-swapped version 1 is read byte-swapped.
  const le = dv.getUint32(VERSION_OFFSET, false) !== 1;
  if (!le && dv.getUint32(NR_BADPAGES_OFFSET, false) > MAX_SWAP_BADPAGES) return 0;
  if (dv.getUint32(VERSION_OFFSET, le) !== 1) return 0;
  const lastPage = dv.getUint32(LAST_PAGE_OFFSET, le);
  if (lastPage === 0) return 0;
  const maxpages = lastPage + 1;
  const filePages = Number(fileBytes / BigInt(PAGE_SIZE));
  if (filePages !== 0 && maxpages > filePages) return 0;
  // A regular file may not list bad pages.
  if (dv.getUint32(NR_BADPAGES_OFFSET, le) !== 0) return 0;
  return maxpages;
}

/**
 * swapon(2): activate the zram device or a swap file, in sys_swapon's
 * order: EINVAL for unknown flags, (CAP_SYS_ADMIN: processes are root)
 * EPERM when every swap type is in use, getname's and the open's errnos,
 * EBUSY for an active area, EINVAL for what cannot be a swap area.
 */
// mirrors mm/swapfile.c:SYSCALL_DEFINE2(swapon)
export function doSwapon(k: SwapCtx, cwd: string, path: unknown, flags: number): ErrnoName | null {
  const st = k.host.swap;
  if (flags & ~SWAP_FLAGS_VALID) return 'EINVAL';
  // alloc_swap_info: every type in use.
  const type = freeSwapType(st);
  if (type < 0) return 'EPERM';
  const pn = getname(path);
  if ('err' in pn) return pn.err;
  const name = pn.name;
  const prio = flags & SWAP_FLAG_PREFER ? (flags & SWAP_FLAG_PRIO_MASK) >> SWAP_FLAG_PRIO_SHIFT : -1;
  if (name === ZRAM_PATH && st.zramPages > 0) {
    // file_open_name(O_EXCL): the block device is held exclusively by its active area.
    if (st.active().some((si) => si.path === ZRAM_PATH)) return 'EBUSY';
    swapOnZram(k.host, ZRAM_PATH, st.zramPages, prio);
    return null;
  }
  const file = k.ns.open(cwd, name, O_RDWR | O_LARGEFILE | O_EXCL, 0);
  if (typeof file === 'string') return file;
  getFile(file);
  const e = activateFile(st, file, type, prio);
  // The area keeps no file reference in the model: its inode is enough (it stays while linked; unlink is refused).
  fput(file);
  return e;
}

/** The checks after the open, in sys_swapon's order, then enable_swap_info. */
function activateFile(st: SwapState, file: OpenFile, type: number, prio: number): ErrnoName | null {
  const inode = file.inode;
  if (inode.iFlags & InodeFlag.SWAPFILE) return 'EBUSY';
  // Read the swap header: a mapping without ->read_folio (tmpfs, DAX, pipes, sysfs) cannot be read.
  if (file.fOp.readFolio !== true || file.fOp.read === undefined) return 'EINVAL';
  const h = new Uint8Array(PAGE_SIZE);
  const got = file.fOp.read(file, h, PAGE_SIZE, 0n);
  if (typeof got === 'string') return got;
  const maxpages = readSwapHeader(h, inode.size);
  if (maxpages === 0) return 'EINVAL';
  // setup_swap_extents -> ->swap_activate (generic_swapfile_activate for the rest: no bmap in the model).
  const err = file.fOp.swapActivate === undefined ? 'EINVAL' : file.fOp.swapActivate(file);
  if (err !== null) return err;
  inode.iFlags |= InodeFlag.SWAPFILE;
  enableSwapInfo(st, new SwapInfo(type, file.path, maxpages, 0, inode), prio);
  return null;
}

/** swapoff(2): bring the area's pages back and turn it off (getname's and the open's errnos, EINVAL for a file that is no active area). */
// mirrors mm/swapfile.c:SYSCALL_DEFINE1(swapoff) (vm_enough_memory is not asked)
export function doSwapoff(k: SwapCtx, cwd: string, path: unknown): ErrnoName | null {
  const st = k.host.swap;
  const pn = getname(path);
  if ('err' in pn) return pn.err;
  const name = pn.name;
  let si: SwapInfo | undefined;
  if (name === ZRAM_PATH && st.zramPages > 0) si = st.activeList.find((s) => s.path === ZRAM_PATH);
  else {
    // file_open_name, then the area whose file is the same (by its mapping, whatever the path).
    const file = k.ns.open(cwd, name, O_RDWR | O_LARGEFILE, 0);
    if (typeof file === 'string') return file;
    si = st.activeList.find((s) => s.inode === file.inode);
    fput(getFile(file));
  }
  if (si === undefined) return 'EINVAL';
  const e = swapoffArea(k.host, si.type);
  if (e !== null) return e;
  if (si.inode !== null) (si.inode as OpenFile['inode']).iFlags &= ~InodeFlag.SWAPFILE;
  return null;
}

/** The text of /proc/swaps: a header line, then one line per active area by type. */
// mirrors mm/swapfile.c:swap_show (seq_file_path escapes space, tab, newline and backslash as octal)
export function procSwapsShow(st: SwapState): string {
  let out = 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n';
  for (const si of st.active()) {
    const path = si.path.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
    const len = path.length;
    const bytes = (si.pages * PAGE_SIZE) / 1024;
    const inuse = (si.inuse * PAGE_SIZE) / 1024;
    const type = si.inode === null ? 'partition' : 'file\t';
    out += `${path}${' '.repeat(len < 40 ? 40 - len : 1)}${type}\t${bytes}\t${bytes < 10000000 ? '\t' : ''}${inuse}\t${inuse < 10000000 ? '\t' : ''}${si.prio}\n`;
  }
  return out;
}
