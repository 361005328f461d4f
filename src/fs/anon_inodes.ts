/**
 * Files without a file system of their own: device nodes of the drivers the
 * model has (debugfs gup_test, io_uring rings, pipes). Linux gives them the
 * one shared anonymous inode (fs/anon_inodes.c) or a debugfs/pipefs inode;
 * here each kind shares one inode, which is never evicted and has no page
 * cache.
 */
import { S_IFCHR, S_IFIFO } from '../uapi/fcntl.js';
import { ANON_INODE_FS_MAGIC, PIPEFS_MAGIC } from '../uapi/magic.js';
import { FMode, type SuperBlock } from '../mm/fs_types.js';
import { PAGE_SIZE } from '../mm/page.js';
import { type FsFileOps, OpenFile } from './file.js';
import type { FsInode, Vfs } from './inode.js';

// Kernel-internal mounts: anonymous device numbers (0:N) of their own.
const anonSb: SuperBlock = { fsType: 'anon_inodefs', blockSize: PAGE_SIZE, maxBytes: 0n, magic: ANON_INODE_FS_MAGIC, dev: 14 };
const pipeSb: SuperBlock = { fsType: 'pipefs', blockSize: PAGE_SIZE, maxBytes: 0n, magic: PIPEFS_MAGIC, dev: 13 };
const noAops = { swapbacked: false, writeback: false };

const shared = new WeakMap<Vfs, { anon: FsInode; pipe: FsInode }>();

function inodes(vfs: Vfs): { anon: FsInode; pipe: FsInode } {
  let s = shared.get(vfs);
  if (s === undefined) {
    const make = (sb: SuperBlock, mode: number): FsInode => {
      const i = vfs.newInode(sb, mode, noAops, () => {});
      i.nlink = 1; // never evicted
      return i;
    };
    s = { anon: make(anonSb, S_IFCHR | 0o600), pipe: make(pipeSb, S_IFIFO | 0o600) };
    shared.set(vfs, s);
  }
  return s;
}

/**
 * A file on the shared anonymous inode: fMode from the O_ACCMODE bits of
 * flags, path as /proc/pid/fd shows it ("anon_inode:[io_uring]", or a device path).
 */
// mirrors fs/anon_inodes.c:anon_inode_getfile
export function anonInodeGetfile(vfs: Vfs, path: string, fOp: FsFileOps, flags: number, privateData: unknown = null): OpenFile {
  const f = new OpenFile(vfs, inodes(vfs).anon, accMode(flags), flags, fOp, path);
  f.privateData = privateData;
  return f;
}

/** A pipe end: a stream without a position. */
// mirrors fs/pipe.c:create_pipe_files (one end)
export function pipeGetfile(vfs: Vfs, fOp: FsFileOps, read: boolean, flags: number, privateData: unknown): OpenFile {
  const mode = FMode.STREAM | (read ? FMode.READ | FMode.CAN_READ : FMode.WRITE | FMode.CAN_WRITE);
  const f = new OpenFile(vfs, inodes(vfs).pipe, mode, flags, fOp, 'pipe:[' + inodes(vfs).pipe.ino + ']');
  f.privateData = privateData;
  return f;
}

/** FMODE_READ / FMODE_WRITE (and CAN_*) from O_RDONLY / O_WRONLY / O_RDWR. */
function accMode(flags: number): number {
  const acc = flags & 3;
  let m = 0;
  if (acc === 0 || acc === 2) m |= FMode.READ | FMode.CAN_READ;
  if (acc === 1 || acc === 2) m |= FMode.WRITE | FMode.CAN_WRITE;
  return m;
}
