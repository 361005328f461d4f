/**
 * Open files (struct file) and per-process descriptor tables (mirrors
 * fs/file_table.c and fs/file.c).
 *
 * A file's references are its descriptors plus the VMAs mapping it (get_file
 * in mmap, fput in remove_vma). When the last one goes, the file releases its
 * inode reference; an unlinked inode (a memfd) is then evicted, which frees its
 * page cache.
 */
import type { ErrnoName } from '../uapi/errno.js';
import type { File, FileOperations } from '../mm/fs_types.js';
import type { MmStruct } from '../mm/mm_types.js';
import { fput, getFile } from '../mm/fs_types.js';
import type { FsInode, Vfs } from './inode.js';

/** file_operations plus the inode operations the syscalls need, as each file system provides them. */
export interface FsFileOps extends FileOperations {
  /**
   * ->read_iter: read count bytes (count <= buf.length, <= MAX_RW_COUNT) at the
   * loff_t pos (exact) into buf from its start; bytes read, or an errno if none.
   * current is the reading task (read(2) passes it); requested is the count
   * read(2) asked for, before it was cut to the buffer's end (the bytes past
   * it are unmapped user memory). Absent: read fails with EINVAL.
   */
  read?(file: File, buf: Uint8Array, count: number, pos: bigint, current?: Task, requested?: number): number | ErrnoName;
  /** ->write_iter: as read, from buf; bytes written, or an errno if none. Absent: write fails with EINVAL. */
  write?(file: File, buf: Uint8Array, count: number, pos: bigint): number | ErrnoName;
  /** a_ops->read_folio exists (swapon reads the swap header through it). */
  readonly readFolio?: boolean;
  /**
   * a_ops->swap_activate: may the file back a swap area (its blocks all
   * allocated)? null, or the errno. Absent: generic_swapfile_activate, which
   * the model does not have (EINVAL).
   */
  swapActivate?(file: OpenFile): ErrnoName | null;
  /** ->setattr(ATTR_SIZE): truncate or extend to size (a loff_t, 0 <= size <= s_maxbytes). */
  setattrSize?(file: File, size: bigint): ErrnoName | null;
  /**
   * ->unlocked_ioctl: cmd is the unsigned int request, arg the caller's value
   * as passed (a struct's fields, a number, a buffer). Drivers validate arg
   * themselves, write out-fields back into it, and return a value >= 0 or an
   * errno. Absent: ENOTTY.
   */
  unlockedIoctl?(file: OpenFile, cmd: number, arg: unknown, current: Task): number | ErrnoName;
  /**
   * What read/write(2) return when count > 0 but no byte of the user buffer
   * is accessible: the file's own errors up to its first copy, then EFAULT
   * (or 0 for a read at EOF), consuming nothing. Absent: the VFS decides
   * (a read probes one byte of data, a write is EFAULT). Streams need it
   * (a pipe read cannot probe without consuming).
   */
  unmappedBuffer?(file: File, write: boolean, count: number, pos: bigint): number | ErrnoName;
  /** ->release: the last reference to the file went (the final fput), before the inode is put. */
  release?(file: OpenFile): void;
  /**
   * ->fsync: write back the file's dirty data (and metadata unless datasync).
   * Absent: fsync(2) fails with EINVAL (pipes, most devices).
   */
  fsync?(file: OpenFile, datasync: boolean): ErrnoName | null;
}

/**
 * The name an open file was reached by (its dentry): d_path shows it, with
 * " (deleted)" once the name has been unlinked (or for an O_TMPFILE file,
 * which never had one).
 */
export class Dentry {
  deleted = false;
  constructor(readonly name: string) {}

  // mirrors fs/d_path.c:d_path (the " (deleted)" suffix of prepend_path)
  get path(): string {
    return this.deleted ? `${this.name} (deleted)` : this.name;
  }
}

/** `current`: the task making the call, as drivers see it. */
export interface Task {
  readonly pid: number;
  /** The address space; null once the task has exited. */
  readonly mm: MmStruct | null;
  /** The descriptor table (files->fdt), where a driver installs new descriptors. */
  readonly fds?: FdTable;
}

export class OpenFile implements File {
  refs = 0;
  /** f_pos, for read(2) and write(2). */
  pos = 0n;
  /** Driver state (file->private_data). */
  privateData: unknown = null;

  constructor(
    private readonly vfs: Vfs,
    readonly inode: FsInode,
    readonly fMode: number,
    readonly flags: number,
    readonly fOp: FsFileOps,
    /** A fixed name ('/memfd:x (deleted)', 'anon_inode:[io_uring]'), or the dentry of a path name. */
    private readonly name: string | Dentry,
  ) {
    inode.refs++;
  }

  /** d_path: what /proc/pid/maps and /proc/pid/fd show. */
  get path(): string {
    return typeof this.name === 'string' ? this.name : this.name.path;
  }

  /** The dentry, for files opened by path name; null for the others. */
  get dentry(): Dentry | null {
    return typeof this.name === 'string' ? null : this.name;
  }

  release(): void {
    this.fOp.release?.(this);
    this.vfs.iput(this.inode);
  }
}

/** RLIMIT_NOFILE's default soft limit. */
export const NR_OPEN_DEFAULT = 1024;

export class FdTable {
  private readonly fds: (OpenFile | undefined)[] = [];
  private readonly cloexec = new Set<number>();

  /** Install file at the lowest free descriptor (it takes a reference). -1 if EMFILE. */
  // mirrors fs/file.c:alloc_fd + fd_install
  install(file: OpenFile, cloexec: boolean): number {
    let fd = 0;
    while (fd < this.fds.length && this.fds[fd] !== undefined) fd++;
    if (fd >= NR_OPEN_DEFAULT) return -1;
    this.fds[fd] = getFile(file);
    if (cloexec) this.cloexec.add(fd);
    return fd;
  }

  /** Is there a descriptor left below RLIMIT_NOFILE (get_unused_fd_flags would succeed)? */
  hasFree(): boolean {
    for (let fd = 0; fd < NR_OPEN_DEFAULT; fd++) if (this.fds[fd] === undefined) return true;
    return false;
  }

  /** The file at fd, or undefined (fdget). fd may be any value. */
  get(fd: number): OpenFile | undefined {
    return Number.isInteger(fd) && fd >= 0 ? this.fds[fd] : undefined;
  }

  /** Close fd; false if it was not open (EBADF). */
  // mirrors fs/file.c:file_close_fd
  close(fd: number): boolean {
    const f = this.get(fd);
    if (f === undefined) return false;
    this.fds[fd] = undefined;
    this.cloexec.delete(fd);
    fput(f);
    return true;
  }

  /** A copy for a forked child: same files, one more reference each. */
  // mirrors fs/file.c:dup_fd
  dup(): FdTable {
    const t = new FdTable();
    this.fds.forEach((f, fd) => {
      if (f !== undefined) t.fds[fd] = getFile(f);
    });
    for (const fd of this.cloexec) t.cloexec.add(fd);
    return t;
  }

  closeAll(): void {
    for (let fd = 0; fd < this.fds.length; fd++) if (this.fds[fd] !== undefined) this.close(fd);
  }

  /** Open descriptors and their files. */
  entries(): [number, OpenFile][] {
    const out: [number, OpenFile][] = [];
    this.fds.forEach((f, fd) => {
      if (f !== undefined) out.push([fd, f]);
    });
    return out;
  }
}
