/**
 * Path names: the mount table and the lookups of open(2), unlink(2) and
 * chdir(2) (mirrors fs/namei.c, fs/namespace.c and the flag rules of
 * fs/open.c:build_open_flags).
 *
 * A path resolves against the process's working directory (relative) or
 * the root, component by component ('.' and '..' included; there are no
 * symbolic links), then to the mount with the longest prefix.
 *
 * Directories are implicit, and kept minimal but consistent: a directory
 * exists while it is a mount point or an ancestor of one, was entered with
 * chdir(2), is /root or /tmp, or has a file below it. Creating a file creates
 * its missing parent directories; walking through a regular file is ENOTDIR.
 * Consequently a lookup never fails because an intermediate directory is
 * missing: the last component decides (ENOENT for a missing file). There are
 * no mkdir(2), rmdir(2), rename(2), links or permission checks (the caller
 * is root; new files get mode & ~umask, umask 022).
 */
import type { ErrnoName } from '../uapi/errno.js';
import {
  O_ACCMODE,
  O_APPEND,
  O_CLOEXEC,
  O_CREAT,
  O_DIRECT,
  O_DIRECTORY,
  O_DSYNC,
  O_EXCL,
  O_LARGEFILE,
  O_NOATIME,
  O_NOCTTY,
  O_NOFOLLOW,
  O_NONBLOCK,
  O_PATH,
  O_TRUNC,
  S_IALLUGO,
  S_IFDIR,
  S_IFREG,
  __O_TMPFILE,
} from '../uapi/fcntl.js';
import { NAME_MAX, PATH_MAX } from '../uapi/limits.js';
import { ST_RELATIME } from '../uapi/statfs.js';
import { cUInt } from '../uapi/ctypes.js';
import { FMode, InodeFlag, type SuperBlock } from '../mm/fs_types.js';
import { PAGE_SIZE } from '../mm/page.js';
import { type DiskFsKind, diskFs } from './ext4.js';
import { Dentry, type FsFileOps, OpenFile } from './file.js';
import type { FsInode, Vfs } from './inode.js';
import type { ShmemFs, ShmemHuge } from './shmem.js';
import type { HugetlbFs, HugetlbfsMountOptions } from './hugetlbfs.js';
import { registerStatfs } from './statfs.js';

/** The file system types a mount may have. The -dax types are fs-dax mounts (dax=always). */
export const MOUNT_TYPES = ['ext4', 'xfs', 'btrfs', 'tmpfs', 'ext4-dax', 'xfs-dax', 'hugetlbfs'] as const;
export type MountType = (typeof MOUNT_TYPES)[number];

/** One mount of the Kernel option `mounts`: a normalized absolute path, a type, a size in bytes (0: the type's default). */
export interface MountSpec {
  readonly point: string;
  readonly type: MountType;
  readonly size: number;
  /** hugetlbfs: the parsed mount options (pagesize=, size=, min_size=, nr_inodes=). */
  readonly hugetlbfs?: HugetlbfsMountOptions;
  /** tmpfs: the huge= option (default never). */
  readonly tmpfsHuge?: ShmemHuge;
}

/** The default mount table: ext4 root, tmpfs /tmp and /dev/shm, an fs-dax pmem mount. */
export const DEFAULT_MOUNTS: Readonly<Record<string, MountType>> = {
  '/': 'ext4',
  '/tmp': 'tmpfs',
  '/dev/shm': 'tmpfs',
  '/mnt/pmem': 'ext4-dax',
};

/** The working directory of a new process. */
export const DEFAULT_CWD = '/root';

/** Directories every root file system has here (besides mount points). */
const SEEDED_DIRS = ['/root', '/tmp'];

/** Default sizes: a 1 TiB disk, a 16 GiB pmem device; tmpfs takes half of RAM (shmem_default_max_blocks). */
const DISK_DEFAULT = 2 ** 40;
const PMEM_DEFAULT = 16 * 2 ** 30;

/** The current umask (the model has no umask(2)). */
const UMASK = 0o022;

/** __O_SYNC | O_DSYNC */
const O_SYNC_BITS = 0o4010000;
/** FASYNC */
const FASYNC = 0o20000;
/** VALID_OPEN_FLAGS (include/linux/fcntl.h): what open(2) keeps of its flags. */
const VALID_OPEN_FLAGS =
  O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND | O_NONBLOCK | O_SYNC_BITS | O_DSYNC | FASYNC | O_DIRECT | O_LARGEFILE |
  O_DIRECTORY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC | O_PATH | __O_TMPFILE;
/** O_PATH_FLAGS: the flags O_PATH keeps. */
const O_PATH_FLAGS = O_DIRECTORY | O_NOFOLLOW | O_PATH | O_CLOEXEC;

/** MAY_WRITE in ACC_MODE(flags): O_WRONLY, O_RDWR, and 3 (both bits: permission for both, FMODE neither). */
function accMayWrite(flags: number): boolean {
  return (flags & O_ACCMODE) !== 0;
}

/**
 * The open(2) flags and mode the kernel works with, or EINVAL. Unknown flag
 * bits are dropped (only openat2(2) refuses them); the mode matters only
 * when the open may create (O_CREAT, O_TMPFILE), where a value with no C
 * value is EINVAL.
 */
// mirrors fs/open.c:build_open_how + build_open_flags
export function buildOpenFlags(flagsIn: number, modeIn: unknown): { flags: number; mode: number } | 'EINVAL' {
  let flags = flagsIn & VALID_OPEN_FLAGS;
  // O_PATH beats everything else.
  if (flags & O_PATH) flags &= O_PATH_FLAGS;
  let mode = 0;
  if (flags & (O_CREAT | __O_TMPFILE)) {
    const m = cUInt(modeIn);
    if (m === null) return 'EINVAL';
    mode = m & 0xffff & S_IALLUGO; // umode_t
  }
  // Block bugs where O_DIRECTORY | O_CREAT created regular files.
  if ((flags & (O_DIRECTORY | O_CREAT)) === (O_DIRECTORY | O_CREAT)) return 'EINVAL';
  if (flags & __O_TMPFILE) {
    // O_TMPFILE must come with O_DIRECTORY (so old kernels fail) and with write access.
    if (!(flags & O_DIRECTORY)) return 'EINVAL';
    if (!accMayWrite(flags)) return 'EINVAL';
  }
  return { flags, mode };
}

/**
 * The kernel's copy of a path argument: the C string up to its first NUL.
 * Not a string: EFAULT; PATH_MAX bytes or more: ENAMETOOLONG; empty: ENOENT.
 */
// mirrors fs/namei.c:getname_flags
export function getname(v: unknown): { name: string } | { err: ErrnoName } {
  if (typeof v !== 'string') return { err: 'EFAULT' };
  const nul = v.indexOf('\0');
  const name = nul >= 0 ? v.slice(0, nul) : v;
  if (name.length * 3 >= PATH_MAX && byteLength(name) >= PATH_MAX) return { err: 'ENAMETOOLONG' };
  if (name.length === 0) return { err: 'ENOENT' };
  return { name };
}

const encoder = new TextEncoder();

function byteLength(s: string): number {
  // Only non-ASCII text needs encoding to count its bytes.
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(s) ? s.length : encoder.encode(s).length;
}

/** The last component of a walk (struct nameidata's last and last_type). */
type Last =
  | { readonly type: 'norm'; readonly dir: string; readonly name: string; readonly path: string; readonly slash: boolean }
  | { readonly type: 'dir'; readonly path: string };

function join(stack: readonly string[]): string {
  return '/' + stack.join('/');
}

function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** A mounted file system: its super block and what the namespace asks of it. */
interface Mount {
  readonly point: string;
  readonly sb: SuperBlock;
  readonly fileOps: FsFileOps;
  /** ->create / ->tmpfile: a new regular file inode (nlink 0), or ENOSPC. */
  newInode(mode: number): FsInode | 'ENOSPC';
}

/** A name in the namespace (a positive dentry of a regular file). */
interface Entry {
  readonly inode: FsInode;
  readonly dentry: Dentry;
}

/** file_operations of directories: read(2) is EISDIR, fsync works, nothing else. */
const dirOps: FsFileOps = {
  // mirrors fs/libfs.c:generic_read_dir
  read: () => 'EISDIR',
  fsync: () => null,
};

const noAops = { swapbacked: false, writeback: false };

/** empty_fops */
const pathOps: FsFileOps = {};

/** The mount table and the names in it. */
export class Namespace {
  /** Longest mount point first, so the first prefix match is the mount. */
  private readonly mounts: Mount[] = [];
  /** Regular files by absolute path. */
  private readonly files = new Map<string, Entry>();
  /** Directories that exist on their own: mount points and their ancestors, seeded ones, chdir targets. */
  private readonly dirs = new Set<string>(['/']);
  /** Files below each directory (the directories that exist because of them). */
  private readonly dirRefs = new Map<string, number>();
  /** Directory inodes, made when a directory is first opened. */
  private readonly dirInodes = new Map<string, FsInode>();

  constructor(
    private readonly vfs: Vfs,
    shmem: ShmemFs,
    specs: readonly MountSpec[],
    hugetlbfs?: HugetlbFs,
  ) {
    const totalPages = vfs.host.pa.totalPages;
    let anonDev = 30;
    let diskMinor = 1;
    let pmemMinor = 0;
    for (const spec of specs) {
      let mount: Mount;
      if (spec.type === 'hugetlbfs') {
        if (hugetlbfs === undefined) throw new MountError(spec.point, 'ENODEV');
        const sb = hugetlbfs.mount(spec.hugetlbfs ?? {}, anonDev++);
        if (typeof sb === 'string') throw new MountError(spec.point, sb);
        mount = { point: spec.point, sb, fileOps: hugetlbfs.fileOps(sb.hstate), newInode: (mode) => hugetlbfs.newInode(sb, mode) };
        // hugetlbfs_statfs: counts only with a subpool (size= or min_size=).
        registerStatfs(
          sb,
          () => {
            const sp = sb.spool;
            if (sp === null) return { blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0 };
            const free = sp.maxHpages - sp.usedHpages;
            return { blocks: sp.maxHpages, bfree: free, bavail: free, files: sb.maxInodes, ffree: sb.freeInodes };
          },
          ST_RELATIME,
        );
      } else if (spec.type === 'tmpfs') {
        const blocks = spec.size > 0 ? Math.ceil(spec.size / PAGE_SIZE) : Math.floor(totalPages / 2);
        const sb = shmem.mount(blocks, Math.floor(totalPages / 2), anonDev++);
        sb.huge = spec.tmpfsHuge ?? 'never';
        mount = { point: spec.point, sb, fileOps: shmem.fileOps, newInode: (mode) => shmem.newInode(sb, mode) };
        registerStatfs(sb, () => ({ blocks: sb.maxBlocks, bfree: sb.maxBlocks - sb.usedBlocks, bavail: sb.maxBlocks - sb.usedBlocks, files: sb.maxInodes, ffree: sb.maxInodes - sb.usedInodes }), ST_RELATIME);
      } else {
        const dax = spec.type.endsWith('-dax');
        const kind = (dax ? spec.type.slice(0, -4) : spec.type) as DiskFsKind;
        // st_dev as new_encode_dev gives it: sda1, sdb1, ... (8:1, 8:17, ...) or pmem0, pmem1, ... (259:n).
        let dev: number;
        if (dax) dev = (259 << 8) | pmemMinor++;
        else {
          dev = (8 << 8) | diskMinor;
          diskMinor += 16;
        }
        const fs = diskFs(vfs, kind, dax, spec.size > 0 ? spec.size : dax ? PMEM_DEFAULT : DISK_DEFAULT, dev);
        const sb = fs.sb;
        mount = { point: spec.point, sb, fileOps: fs.fileOps, newInode: (mode) => fs.newInode(mode) };
        registerStatfs(
          sb,
          () => {
            const bfree = sb.totalBlocks - sb.usedBlocks;
            return { blocks: sb.totalBlocks, bfree, bavail: Math.max(0, bfree - sb.reservedBlocks), files: sb.maxInodes, ffree: sb.maxInodes - sb.usedInodes };
          },
          ST_RELATIME,
        );
      }
      this.mounts.push(mount);
      for (let p = spec.point; ; p = parentOf(p)) {
        this.dirs.add(p);
        if (p === '/') break;
      }
    }
    this.mounts.sort((a, b) => b.point.length - a.point.length);
    for (const d of SEEDED_DIRS) this.dirs.add(d);
  }

  /** The mount holding path (longest prefix). */
  private mountOf(path: string): Mount {
    for (const m of this.mounts) {
      if (m.point === '/' || path === m.point || path.startsWith(m.point + '/')) return m;
    }
    throw new Error(`internal: no mount holds ${path}`);
  }

  /** What path names: a regular file, a directory, or nothing (a negative dentry). */
  private kind(path: string): 'file' | 'dir' | 'none' {
    if (this.files.has(path)) return 'file';
    if (this.dirs.has(path) || (this.dirRefs.get(path) ?? 0) > 0) return 'dir';
    return 'none';
  }

  /**
   * Walk every component but the last (they are directories, or missing and
   * implicitly so; a regular file among them is ENOTDIR; a component longer
   * than NAME_MAX is ENAMETOOLONG) and classify the last.
   */
  // mirrors fs/namei.c:link_path_walk (with walk_component and handle_dots)
  private walk(cwd: string, path: string): Last | ErrnoName {
    const comps = path.split('/');
    const stack = path.startsWith('/') ? [] : cwd.split('/').filter((c) => c !== '');
    let lastIdx = comps.length - 1;
    while (lastIdx >= 0 && comps[lastIdx] === '') lastIdx--;
    for (let i = 0; i < lastIdx; i++) {
      const c = comps[i]!;
      if (c === '' || c === '.') continue;
      if (c === '..') {
        stack.pop();
        continue;
      }
      if (byteLength(c) > NAME_MAX) return 'ENAMETOOLONG';
      stack.push(c);
      // The next component needs this one to be a directory.
      if (this.files.has(join(stack))) return 'ENOTDIR';
    }
    const last = lastIdx >= 0 ? comps[lastIdx]! : '';
    if (lastIdx < 0 || last === '.') return { type: 'dir', path: join(stack) };
    if (last === '..') {
      stack.pop();
      return { type: 'dir', path: join(stack) };
    }
    const dir = join(stack);
    return { type: 'norm', dir, name: last, path: dir === '/' ? `/${last}` : `${dir}/${last}`, slash: lastIdx < comps.length - 1 };
  }

  /** A lookup with LOOKUP_DIRECTORY: the absolute, normalized directory path names, or an errno name. */
  private lookupDir(cwd: string, path: string): string | ErrnoName {
    const nd = this.walk(cwd, path);
    if (typeof nd === 'string') return nd;
    if (nd.type === 'norm') {
      if (byteLength(nd.name) > NAME_MAX) return 'ENAMETOOLONG';
      const k = this.kind(nd.path);
      if (k === 'none') return 'ENOENT';
      if (k === 'file') return 'ENOTDIR';
    }
    return nd.path;
  }

  /** The absolute, normalized directory path names (it starts with '/'; an errno name does not), for chdir(2). */
  // mirrors fs/open.c:SYSCALL_DEFINE1(chdir) (user_path_at with LOOKUP_DIRECTORY)
  chdir(cwd: string, path: string): string | ErrnoName {
    const dir = this.lookupDir(cwd, path);
    if (dir.startsWith('/')) this.dirs.add(dir); // the working directory keeps its directory in existence
    return dir;
  }

  /**
   * Open (or create) the file path names, after build_open_flags, getname and
   * the descriptor check. flags and mode come from buildOpenFlags.
   */
  // mirrors fs/namei.c:path_openat (open_last_lookups, lookup_open, do_open, do_tmpfile)
  open(cwd: string, path: string, flags: number, mode: number): OpenFile | ErrnoName {
    if (flags & __O_TMPFILE) return this.tmpfile(cwd, path, flags, mode);
    const nd = this.walk(cwd, path);
    if (typeof nd === 'string') return nd;
    let target: string;
    let isDir: boolean;
    let created = false;
    if (nd.type === 'dir') {
      target = nd.path;
      isDir = true;
    } else {
      // open_last_lookups: O_CREAT with a trailing slash is a directory to create: not here.
      if (flags & O_CREAT && nd.slash) return 'EISDIR';
      if (byteLength(nd.name) > NAME_MAX) return 'ENAMETOOLONG';
      target = nd.path;
      const k = this.kind(target);
      if (k === 'none') {
        if (!(flags & O_CREAT)) return 'ENOENT';
        const inode = this.mountOf(target).newInode(S_IFREG | (mode & ~UMASK));
        if (typeof inode === 'string') return inode;
        this.link(target, inode);
        created = true;
        isDir = false;
      } else {
        isDir = k === 'dir';
        // A trailing slash asks for a directory (LOOKUP_DIRECTORY).
        if (nd.slash && !isDir) return 'ENOTDIR';
      }
    }
    // do_open
    if (flags & O_CREAT) {
      if (flags & O_EXCL && !created) return 'EEXIST';
      if (isDir) return 'EISDIR';
    }
    if (flags & O_DIRECTORY && !isDir) return 'ENOTDIR';
    // may_open: no writing to a directory (O_TRUNC asks for write access too).
    if (isDir && (accMayWrite(flags) || flags & O_TRUNC)) return 'EISDIR';
    if (isDir) return this.openInode(this.dirInode(target), flags, dirOps, new Dentry(target));
    const entry = this.files.get(target)!;
    const file = this.openInode(entry.inode, flags, this.mountOf(target).fileOps, entry.dentry);
    // handle_truncate: O_TRUNC empties an existing regular file, whatever the access mode.
    if (flags & O_TRUNC && !created && entry.inode.size !== 0n) {
      const err = file.fOp.setattrSize?.(file, 0n) ?? null;
      if (err !== null) {
        file.release(); // the file was never installed: its only reference is ours
        return err;
      }
    }
    return file;
  }

  /** O_TMPFILE: an unnamed regular file in the directory path names. */
  // mirrors fs/namei.c:do_tmpfile (path_lookupat with LOOKUP_DIRECTORY, vfs_tmpfile)
  private tmpfile(cwd: string, path: string, flags: number, mode: number): OpenFile | ErrnoName {
    const dir = this.lookupDir(cwd, path);
    if (!dir.startsWith('/')) return dir as ErrnoName;
    const mount = this.mountOf(dir);
    const inode = mount.newInode(S_IFREG | (mode & ~UMASK));
    if (typeof inode === 'string') return inode;
    // d_tmpfile names it "#<ino>"; it has no link, so d_path says (deleted).
    const dentry = new Dentry(`${dir === '/' ? '' : dir}/#${inode.ino}`);
    dentry.deleted = true;
    return this.openInode(inode, flags, mount.fileOps, dentry);
  }

  /** unlink(2) of path (after getname). */
  // mirrors fs/namei.c:do_unlinkat (filename_parentat, lookup, vfs_unlink)
  unlink(cwd: string, path: string): ErrnoName | null {
    const nd = this.walk(cwd, path);
    if (typeof nd === 'string') return nd;
    // '.', '..' or '/': not a name that can be unlinked.
    if (nd.type !== 'norm') return 'EISDIR';
    if (byteLength(nd.name) > NAME_MAX) return 'ENAMETOOLONG';
    const k = this.kind(nd.path);
    if (nd.slash) return k === 'none' ? 'ENOENT' : k === 'dir' ? 'EISDIR' : 'ENOTDIR';
    if (k === 'none') return 'ENOENT';
    // may_delete: unlink(2) does not remove directories.
    if (k === 'dir') return 'EISDIR';
    const entry = this.files.get(nd.path)!;
    // may_delete: an active swap file cannot be removed.
    if (entry.inode.iFlags & InodeFlag.SWAPFILE) return 'EPERM';
    this.files.delete(nd.path);
    for (let p = parentOf(nd.path); p !== '/'; p = parentOf(p)) {
      const n = this.dirRefs.get(p)! - 1;
      if (n === 0) this.dirRefs.delete(p);
      else this.dirRefs.set(p, n);
    }
    entry.dentry.deleted = true;
    this.vfs.dropNlink(entry.inode);
    return null;
  }

  /** Give a new inode its name (d_instantiate after ->create). */
  private link(path: string, inode: FsInode): void {
    inode.nlink = 1;
    this.files.set(path, { inode, dentry: new Dentry(path) });
    for (let p = parentOf(path); p !== '/'; p = parentOf(p)) this.dirRefs.set(p, (this.dirRefs.get(p) ?? 0) + 1);
  }

  /** The inode of an existing directory (made on first use; never evicted). */
  private dirInode(path: string): FsInode {
    let inode = this.dirInodes.get(path);
    if (inode === undefined) {
      const sb = this.mountOf(path).sb;
      inode = this.vfs.newInode(sb, S_IFDIR | 0o755, noAops, () => {});
      inode.nlink = 2;
      // tmpfs: two BOGO_DIRENT_SIZE entries ('.', '..'); disk file systems: one block.
      inode.size = sb.fsType === 'tmpfs' ? 40n : BigInt(sb.blockSize);
      this.dirInodes.set(path, inode);
    }
    return inode;
  }

  /** A struct file for inode: f_mode from the access mode (OPEN_FMODE), FMODE_CAN_* from the operations. */
  // mirrors fs/open.c:do_dentry_open
  private openInode(inode: FsInode, flags: number, fOp: FsFileOps, dentry: Dentry): OpenFile {
    // O_PATH: a location only, with no operations (empty_fops).
    if (flags & O_PATH) return new OpenFile(this.vfs, inode, FMode.PATH, flags, pathOps, dentry);
    let fMode = FMode.LSEEK | FMode.PREAD | FMode.PWRITE;
    const acc = flags & O_ACCMODE;
    if (acc === 0 || acc === 2) fMode |= FMode.READ;
    if (acc === 1 || acc === 2) fMode |= FMode.WRITE;
    if (fMode & FMode.READ && fOp.read !== undefined) fMode |= FMode.CAN_READ;
    if (fMode & FMode.WRITE && fOp.write !== undefined) fMode |= FMode.CAN_WRITE;
    // do_dentry_open clears the open-time flags from f_flags.
    const fFlags = flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC);
    return new OpenFile(this.vfs, inode, fMode, fFlags, fOp, dentry);
  }
}

/** A mount of the mount table failed at boot (mount(2) would have returned errno). */
export class MountError extends Error {
  constructor(
    readonly point: string,
    readonly errno: ErrnoName,
  ) {
    super(`mounting ${point} failed: ${errno}`);
  }
}

/** Is path a normalized absolute path (a valid mount point)? */
export function isNormalizedAbsolute(path: string): boolean {
  if (path === '/') return true;
  if (!path.startsWith('/') || path.endsWith('/')) return false;
  return path
    .slice(1)
    .split('/')
    .every((c) => c !== '' && c !== '.' && c !== '..' && !c.includes('\0') && byteLength(c) <= NAME_MAX);
}
