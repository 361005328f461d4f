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
import { fput, getFile } from '../mm/fs_types.js';
import type { FsInode, Vfs } from './inode.js';

/** file_operations plus the inode operations the syscalls need, as each file system provides them. */
export interface FsFileOps extends FileOperations {
  /**
   * ->read_iter: read count bytes (count <= buf.length, <= MAX_RW_COUNT) at the
   * loff_t pos (exact) into buf from its start; bytes read, or an errno if none.
   * Absent: read fails with EINVAL.
   */
  read?(file: File, buf: Uint8Array, count: number, pos: bigint): number | ErrnoName;
  /** ->write_iter: as read, from buf; bytes written, or an errno if none. Absent: write fails with EINVAL. */
  write?(file: File, buf: Uint8Array, count: number, pos: bigint): number | ErrnoName;
  /** ->setattr(ATTR_SIZE): truncate or extend to size (a loff_t, 0 <= size <= s_maxbytes). */
  setattrSize?(file: File, size: bigint): ErrnoName | null;
}

export class OpenFile implements File {
  refs = 0;

  constructor(
    private readonly vfs: Vfs,
    readonly inode: FsInode,
    readonly fMode: number,
    readonly flags: number,
    readonly fOp: FsFileOps,
    readonly path: string,
  ) {
    inode.refs++;
  }

  release(): void {
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
