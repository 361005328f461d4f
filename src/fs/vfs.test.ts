/**
 * vfs_fallocate's checks on the file itself, for the file types no syscall
 * here can reach with a writable descriptor (a directory only opens
 * read-only; the model has no block devices). The syscall-level rows are in
 * test/syscalls/file.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE } from '../uapi/falloc.js';
import { S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFREG, S_IFSOCK } from '../uapi/fcntl.js';
import { FMode } from '../mm/fs_types.js';
import type { OpenFile } from './file.js';
import { vfsFallocate } from './vfs.js';

const I64_MAX = (1n << 63n) - 1n;

/** A file of the given type as vfs_fallocate sees it; `called` records whether ->fallocate ran. */
function file(type: number, opts: { write?: boolean; fallocate?: boolean } = {}) {
  const state = { called: false };
  const f = {
    fMode: opts.write === false ? FMode.READ : FMode.READ | FMode.WRITE,
    inode: { mode: type | 0o644, sb: { maxBytes: 1n << 40n } },
    fOp:
      opts.fallocate === false
        ? {}
        : {
            fallocate: () => {
              state.called = true;
              return null;
            },
          },
  } as unknown as OpenFile;
  return { f, state };
}

describe('vfs_fallocate: the file-type checks and their place in the order', () => {
  it('a FIFO is ESPIPE, a directory EISDIR, a character device or socket ENODEV; regular files and block devices pass', () => {
    expect(vfsFallocate(file(S_IFIFO).f, 0, 0n, 4096n)).toBe('ESPIPE');
    expect(vfsFallocate(file(S_IFDIR).f, 0, 0n, 4096n)).toBe('EISDIR');
    expect(vfsFallocate(file(S_IFCHR).f, 0, 0n, 4096n)).toBe('ENODEV');
    expect(vfsFallocate(file(S_IFSOCK).f, 0, 0n, 4096n)).toBe('ENODEV');
    for (const type of [S_IFREG, S_IFBLK]) {
      const { f, state } = file(type);
      expect(vfsFallocate(f, 0, 0n, 4096n)).toBeNull();
      expect(state.called).toBe(true);
    }
  });

  it('the earlier checks win: EINVAL (len), EOPNOTSUPP (mode), EBADF (not open for writing)', () => {
    for (const type of [S_IFIFO, S_IFDIR, S_IFCHR]) {
      expect(vfsFallocate(file(type).f, 0, 0n, 0n)).toBe('EINVAL');
      expect(vfsFallocate(file(type).f, 0, -1n, 4096n)).toBe('EINVAL');
      expect(vfsFallocate(file(type).f, FALLOC_FL_PUNCH_HOLE, 0n, 4096n)).toBe('EOPNOTSUPP');
      expect(vfsFallocate(file(type, { write: false }).f, 0, 0n, 4096n)).toBe('EBADF');
    }
  });

  it('the type checks come before EFBIG (wrap or s_maxbytes) and before a missing ->fallocate', () => {
    expect(vfsFallocate(file(S_IFIFO).f, 0, I64_MAX, 4096n)).toBe('ESPIPE');
    expect(vfsFallocate(file(S_IFDIR).f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 1n << 40n, 1n)).toBe('EISDIR');
    expect(vfsFallocate(file(S_IFCHR, { fallocate: false }).f, 0, 0n, 4096n)).toBe('ENODEV');
    // A block device gets as far as the size checks, then the missing operation.
    expect(vfsFallocate(file(S_IFBLK).f, 0, I64_MAX, 4096n)).toBe('EFBIG');
    expect(vfsFallocate(file(S_IFBLK).f, 0, 1n << 40n, 1n)).toBe('EFBIG');
    expect(vfsFallocate(file(S_IFBLK, { fallocate: false }).f, 0, 0n, 4096n)).toBe('EOPNOTSUPP');
  });
});
