/**
 * Path and file-system syscalls: open (paths in the mount table), unlink,
 * chdir, getcwd, fstatfs, fsync, fdatasync (fs/open.c:build_open_flags and
 * do_sys_openat2, fs/namei.c:path_openat and do_unlinkat, fs/statfs.c,
 * fs/sync.c).
 *
 *   open:   EINVAL(flags: O_DIRECTORY|O_CREAT, __O_TMPFILE without O_DIRECTORY or
 *           write access, no C value; mode with no C value when creating)
 *           -> EFAULT/ENAMETOOLONG/ENOENT(getname) -> EMFILE -> device paths -> the walk
 *           (ENOTDIR, ENAMETOOLONG) -> last component (EISDIR with O_CREAT and '/',
 *           ENOENT, EEXIST, EISDIR, ENOTDIR, ENOSPC)
 *   unlink: getname -> walk -> EISDIR('.', '..', '/') -> ENAMETOOLONG -> ENOENT/EISDIR/ENOTDIR
 *   chdir:  getname -> walk -> ENOENT/ENOTDIR
 *   fstatfs (fdget_raw), fsync, fdatasync: EBADF; fsync without ->fsync: EINVAL.
 */
import { describe, expect, it } from 'vitest';
import type { ErrnoName } from '../../src/uapi/index.js';
import {
  O_CREAT,
  O_DIRECTORY,
  O_EXCL,
  O_PATH,
  O_RDONLY,
  O_RDWR,
  O_TMPFILE,
  O_WRONLY,
  TMPFS_MAGIC,
  __O_TMPFILE,
} from '../../src/uapi/index.js';
import { BAD_FD, type Env, env } from './env.js';
import { WEIRD, attempt, checkKernelsAfterEach, checkOutcome, expectErrno, expectations } from './helpers.js';

checkKernelsAfterEach();

interface Row {
  name: string;
  call: (e: Env) => unknown;
  code: ErrnoName;
  syscall: string;
}

/** A regular file at /root/f (in the working directory; fd 2), besides env()'s descriptors. */
function envWithFile(): Env & { file: number } {
  const e = env();
  const file = e.p.open('/root/f', O_RDWR | O_CREAT, 0o644);
  return { ...e, file };
}

const fillTable = (e: Env) => {
  while (true) {
    try {
      e.p.open('/root/f', O_RDONLY);
    } catch {
      return;
    }
  }
};

const openRows: Row[] = [
  { name: 'O_DIRECTORY | O_CREAT', call: (e) => e.p.open('/root/new', O_DIRECTORY | O_CREAT | O_RDWR), code: 'EINVAL', syscall: 'openat' },
  { name: 'O_TMPFILE read-only', call: (e) => e.p.open('/tmp', O_TMPFILE | O_RDONLY), code: 'EINVAL', syscall: 'openat' },
  { name: '__O_TMPFILE without O_DIRECTORY', call: (e) => e.p.open('/tmp', __O_TMPFILE | O_RDWR), code: 'EINVAL', syscall: 'openat' },
  { name: 'O_CREAT with a mode that has no C value', call: (e) => e.p.open('/root/new', O_CREAT | O_RDWR, '0644'), code: 'EINVAL', syscall: 'openat' },
  { name: 'O_TMPFILE with a NaN mode', call: (e) => e.p.open('/tmp', O_TMPFILE | O_RDWR, NaN), code: 'EINVAL', syscall: 'openat' },
  { name: 'ORDER bad flags before a bad path pointer', call: (e) => e.p.open(null, O_DIRECTORY | O_CREAT), code: 'EINVAL', syscall: 'openat' },
  { name: 'ORDER a bad mode only matters when creating', call: (e) => e.p.open(null, O_RDWR, NaN), code: 'EFAULT', syscall: 'openat' },
  { name: 'path of PATH_MAX bytes', call: (e) => e.p.open('/' + 'a'.repeat(4095), O_RDONLY), code: 'ENAMETOOLONG', syscall: 'openat' },
  { name: 'path of PATH_MAX bytes in UTF-8 (2-byte characters)', call: (e) => e.p.open('/' + 'é'.repeat(2048), O_RDONLY), code: 'ENAMETOOLONG', syscall: 'openat' },
  { name: 'a NUL ends the path', call: (e) => e.p.open('/nope\0/root/f', O_RDONLY), code: 'ENOENT', syscall: 'openat' },
  {
    name: 'ORDER EMFILE before ENOENT (get_unused_fd_flags before the lookup)',
    call: (e) => {
      fillTable(e);
      return e.p.open('/nope', O_RDONLY);
    },
    code: 'EMFILE',
    syscall: 'openat',
  },
  {
    name: 'ORDER ENAMETOOLONG (getname) before EMFILE',
    call: (e) => {
      fillTable(e);
      return e.p.open('/' + 'a'.repeat(5000), O_RDONLY);
    },
    code: 'ENAMETOOLONG',
    syscall: 'openat',
  },
  { name: 'component longer than NAME_MAX', call: (e) => e.p.open('/' + 'a'.repeat(256), O_RDONLY), code: 'ENAMETOOLONG', syscall: 'openat' },
  { name: 'ORDER ENOTDIR before a long last component', call: (e) => e.p.open('/root/f/' + 'a'.repeat(256), O_RDONLY), code: 'ENOTDIR', syscall: 'openat' },
  { name: 'ORDER O_CREAT with a trailing slash: EISDIR before ENAMETOOLONG', call: (e) => e.p.open('/' + 'a'.repeat(256) + '/', O_CREAT | O_RDWR), code: 'EISDIR', syscall: 'openat' },
  { name: 'ORDER EEXIST before EISDIR (O_CREAT|O_EXCL of a directory)', call: (e) => e.p.open('/tmp', O_CREAT | O_EXCL | O_RDWR), code: 'EEXIST', syscall: 'openat' },
  { name: 'O_DIRECTORY of a regular file', call: (e) => e.p.open('/root/f', O_DIRECTORY), code: 'ENOTDIR', syscall: 'openat' },
  { name: 'a directory for writing', call: (e) => e.p.open('/root', O_WRONLY), code: 'EISDIR', syscall: 'openat' },
  { name: 'a directory with access mode 3 (read and write permission)', call: (e) => e.p.open('/root', 3), code: 'EISDIR', syscall: 'openat' },
  { name: 'O_TMPFILE in a missing directory', call: (e) => e.p.open('/root/nodir', O_TMPFILE | O_RDWR), code: 'ENOENT', syscall: 'openat' },
  { name: 'O_TMPFILE at a regular file', call: (e) => e.p.open('/root/f', O_TMPFILE | O_WRONLY), code: 'ENOTDIR', syscall: 'openat' },
  {
    name: 'an inode table that is full',
    call: () => {
      // mke2fs's ratio: one inode per 16 KiB.
      const { p } = envOpts({ mounts: { '/': { type: 'ext4', size: '16KiB' } } });
      p.open('/a', O_CREAT | O_RDWR);
      return p.open('/b', O_CREAT | O_RDWR);
    },
    code: 'ENOSPC',
    syscall: 'openat',
  },
];

function envOpts(opts: Parameters<typeof env>[0]): Env {
  return env(opts);
}

const unlinkRows: Row[] = [
  { name: 'missing', call: (e) => e.p.unlink('/root/nope'), code: 'ENOENT', syscall: 'unlink' },
  { name: 'empty path', call: (e) => e.p.unlink(''), code: 'ENOENT', syscall: 'unlink' },
  { name: 'not a string', call: (e) => e.p.unlink(42), code: 'EFAULT', syscall: 'unlink' },
  { name: 'a directory', call: (e) => e.p.unlink('/tmp'), code: 'EISDIR', syscall: 'unlink' },
  { name: "'.'", call: (e) => e.p.unlink('.'), code: 'EISDIR', syscall: 'unlink' },
  { name: "'..'", call: (e) => e.p.unlink('/tmp/..'), code: 'EISDIR', syscall: 'unlink' },
  { name: 'a mount point', call: (e) => e.p.unlink('/mnt/pmem'), code: 'EISDIR', syscall: 'unlink' },
  { name: 'a file with a trailing slash', call: (e) => e.p.unlink('/root/f/'), code: 'ENOTDIR', syscall: 'unlink' },
  { name: 'a missing name with a trailing slash', call: (e) => e.p.unlink('/root/nope/'), code: 'ENOENT', syscall: 'unlink' },
  { name: 'through a regular file', call: (e) => e.p.unlink('/root/f/x'), code: 'ENOTDIR', syscall: 'unlink' },
  { name: "ORDER a long directory component (walk: ENAMETOOLONG) before EISDIR for '.'", call: (e) => e.p.unlink('/' + 'a'.repeat(256) + '/.'), code: 'ENAMETOOLONG', syscall: 'unlink' },
  { name: 'long last component', call: (e) => e.p.unlink('/' + 'a'.repeat(256)), code: 'ENAMETOOLONG', syscall: 'unlink' },
  {
    name: 'twice',
    call: (e) => {
      e.p.unlink('/root/f');
      return e.p.unlink('/root/f');
    },
    code: 'ENOENT',
    syscall: 'unlink',
  },
];

const chdirRows: Row[] = [
  { name: 'missing', call: (e) => e.p.chdir('/nope'), code: 'ENOENT', syscall: 'chdir' },
  { name: 'a regular file', call: (e) => e.p.chdir('/root/f'), code: 'ENOTDIR', syscall: 'chdir' },
  { name: 'through a regular file', call: (e) => e.p.chdir('/root/f/..'), code: 'ENOTDIR', syscall: 'chdir' },
  { name: 'empty path', call: (e) => e.p.chdir(''), code: 'ENOENT', syscall: 'chdir' },
  { name: 'not a string', call: (e) => e.p.chdir({}), code: 'EFAULT', syscall: 'chdir' },
  { name: 'too long', call: (e) => e.p.chdir('/'.repeat(4096)), code: 'ENAMETOOLONG', syscall: 'chdir' },
];

const fdRows: Row[] = [
  { name: 'fstatfs of a bad fd', call: (e) => e.p.fstatfs(BAD_FD), code: 'EBADF', syscall: 'fstatfs' },
  { name: 'fsync of a bad fd', call: (e) => e.p.fsync(BAD_FD), code: 'EBADF', syscall: 'fsync' },
  { name: 'fdatasync of a bad fd', call: (e) => e.p.fdatasync(-1), code: 'EBADF', syscall: 'fdatasync' },
  {
    name: 'fsync of a pipe (no ->fsync)',
    call: (e) => e.p.fsync(e.p.pipe()[0]),
    code: 'EINVAL',
    syscall: 'fsync',
  },
  {
    name: 'fsync of an O_PATH descriptor',
    call: (e) => e.p.fsync(e.p.open('/root/f', O_PATH)),
    code: 'EBADF',
    syscall: 'fsync',
  },
];

for (const sys of ['unlink', 'chdir', 'getcwd', 'fstatfs', 'fsync', 'fdatasync'] as const) {
  fdRows.push({
    name: `exited process: ${sys}`,
    call: (e) => {
      e.p.exit();
      const p = e.p as unknown as Record<string, (a: unknown) => unknown>;
      return p[sys]!(sys === 'unlink' || sys === 'chdir' ? '/root/f' : 0);
    },
    code: 'ESRCH',
    syscall: sys,
  });
}

for (const [title, rows] of [
  ['open', openRows],
  ['unlink', unlinkRows],
  ['chdir', chdirRows],
  ['fstatfs, fsync, fdatasync, getcwd', fdRows],
] as const) {
  describe(`${title}: errno and check order`, () => {
    it.each(rows.map((r) => ({ ...r })))('$name', (row) => {
      const e = envWithFile();
      expectErrno(() => row.call(e), row.code, row.syscall);
    });
  });
}

describe('a failed call changes nothing', () => {
  it('a refused O_CREAT|O_EXCL leaves the file; a refused unlink leaves the name', () => {
    const e = envWithFile();
    e.p.pwrite(e.file, new Uint8Array([5]), 1, 0);
    expectErrno(() => e.p.open('/root/f', O_CREAT | O_EXCL | O_RDWR), 'EEXIST', 'openat');
    expectErrno(() => e.p.unlink('/root/f/'), 'ENOTDIR', 'unlink');
    expect(e.p.fstat(e.p.open('f', O_RDONLY)).st_size).toBe(1);
    expectErrno(() => e.p.chdir('/root/f'), 'ENOTDIR', 'chdir');
    expect(e.p.getcwd()).toBe('/root');
  });
});

// ---------------------------------------------------------------------------
// Values of every type in every position.

/** Descriptors as unsigned ints: fds 0 and 1 are env()'s memfds, fd 2 is /root/f. */
const FD_INTS = {
  '-1': 'EBADF',
  '-0': 'ok',
  '2**53': 'ok',
  '2**53+2': 'ok',
  '2**64': 'ok',
  '-(2**63)': 'ok',
  '1n<<64n': 'ok',
  '-1n': 'EBADF',
} as const;

interface Position {
  name: string;
  syscall: string;
  call: (e: Env & { file: number }, v: unknown) => unknown;
  expect: (label: string) => 'ok' | ErrnoName;
}

/** Strings are paths: '4096' is a name in /root, '' is ENOENT; anything else is a bad pointer. */
const pathExpect = (ok4096: 'ok' | ErrnoName) => (label: string) => (label === "'4096'" ? ok4096 : label === "''" ? 'ENOENT' : 'EFAULT');

const positions: Position[] = [
  { name: 'open path (O_CREAT)', syscall: 'openat', call: (e, v) => e.p.open(v, O_RDWR | O_CREAT), expect: pathExpect('ok') },
  { name: 'open path', syscall: 'openat', call: (e, v) => e.p.open(v, O_RDONLY), expect: pathExpect('ENOENT') },
  {
    name: 'open flags of an existing file',
    syscall: 'openat',
    call: (e, v) => e.p.open('/root/f', v),
    // Every integer is some valid set of flags: unknown bits are dropped. -1 has O_PATH,
    // which keeps O_DIRECTORY (and drops O_CREAT): a regular file is then ENOTDIR.
    expect: (label) => (label === 'undefined' ? 'ok' : expectations('EINVAL', { '-1': 'ENOTDIR', '-0': 'ok', '2**53': 'ok', '2**53+2': 'ok', '2**64': 'ok', '-(2**63)': 'ok', '1n<<64n': 'ok', '-1n': 'ENOTDIR' })(label) as 'ok' | ErrnoName),
  },
  {
    name: 'open mode (O_CREAT)',
    syscall: 'openat',
    call: (e, v) => e.p.open('/root/m', O_RDWR | O_CREAT, v),
    // undefined is an omitted argument: the default mode.
    expect: (label) => (label === 'undefined' ? 'ok' : expectations('EINVAL', { '-1': 'ok', '-0': 'ok', '2**53': 'ok', '2**53+2': 'ok', '2**64': 'ok', '-(2**63)': 'ok', '1n<<64n': 'ok', '-1n': 'ok' })(label) as 'ok' | ErrnoName),
  },
  { name: 'open mode (no O_CREAT: unused)', syscall: 'openat', call: (e, v) => e.p.open('/root/f', O_RDONLY, v), expect: () => 'ok' },
  { name: 'unlink path', syscall: 'unlink', call: (e, v) => e.p.unlink(v), expect: pathExpect('ENOENT') },
  { name: 'chdir path', syscall: 'chdir', call: (e, v) => e.p.chdir(v), expect: pathExpect('ENOENT') },
  { name: 'fstatfs fd', syscall: 'fstatfs', call: (e, v) => e.p.fstatfs(v), expect: (l) => expectations('EBADF', FD_INTS)(l) as 'ok' | ErrnoName },
  { name: 'fsync fd', syscall: 'fsync', call: (e, v) => e.p.fsync(v), expect: (l) => expectations('EBADF', FD_INTS)(l) as 'ok' | ErrnoName },
  { name: 'fdatasync fd', syscall: 'fdatasync', call: (e, v) => e.p.fdatasync(v), expect: (l) => expectations('EBADF', FD_INTS)(l) as 'ok' | ErrnoName },
];

describe('path syscalls: a value of every type in every position', () => {
  for (const pos of positions) {
    it.each(WEIRD.map((w) => ({ ...w })))(`${pos.name} = $label`, ({ label, v }) => {
      const e = envWithFile();
      const r = attempt(() => pos.call(e, v));
      checkOutcome(r, pos.expect(label), pos.syscall, `${pos.name} = ${label}`);
      expect(e.k.check()).toEqual([]);
    });
  }

  it('fstatfs of the env memfd is tmpfs; of the file ext4', () => {
    const e = envWithFile();
    expect(e.p.fstatfs(e.fd).f_type).toBe(TMPFS_MAGIC);
    expect(e.p.fstatfs(e.file).f_type).toBe(0xef53);
  });
});
