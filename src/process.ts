/**
 * One process and its syscall surface.
 *
 * Each syscall converts its arguments to the C types of the kernel's prototype
 * (uapi/ctypes), checks them in the kernel's order, and throws SyscallError
 * with Linux's errno. CPU accesses (read, write, fill) go through the MMU and
 * throw SignalError where Linux would deliver a signal.
 */
import { cInt, cLong, cUInt, cULong, cUserBuffer } from './uapi/ctypes.js';
import { SignalError, SyscallError } from './uapi/errors.js';
import type { ErrnoName } from './uapi/errno.js';
import { MFD_CLOEXEC } from './uapi/memfd.js';
import { MAP_ANONYMOUS, MAP_HUGETLB, MAP_HUGE_MASK, MAP_HUGE_SHIFT } from './uapi/mman.js';
import { O_CLOEXEC } from './uapi/fcntl.js';
import { doSwapoff, doSwapon } from './fs/swapon.js';
import { OomKill, cpuAccess } from './mm/access.js';
import { dupMm } from './mm/fork.js';
import { FMode, fput, getFile } from './mm/fs_types.js';
import { doMadvise } from './mm/madvise.js';
import { doMmap, doMunmap, exitMmap, mmapBase } from './mm/mmap.js';
import { doMprotect } from './mm/mprotect.js';
import { doMremap } from './mm/mremap.js';
import { MmStruct } from './mm/mm_types.js';
import { type MmuNotifierOps, mmuNotifierRegister, mmuNotifierUnregister } from './mm/mmu_notifier.js';
import { Level, PAGE_SIZE } from './mm/page.js';
import { newTable } from './mm/pgtable.js';
import { FdTable, type OpenFile } from './fs/file.js';
import { hstateSizelog } from './fs/hugetlbfs.js';
import { MAX_LFS_FILESIZE } from './fs/shmem.js';
import { memfdCreate } from './fs/memfd.js';
import { type PagemapEntry, type SmapsEntry, type ProcStatus, clearRefsWrite, pagemapRead, procStatus, smapsRead } from './fs/proc/task_mmu.js';
import { createPipeFiles, pipe2FlagsValid } from './fs/pipe.js';
import { doVmsplice } from './fs/splice.js';
import { isUringFile, ioUringSetup, ringCtx } from './io_uring/io_uring.js';
import { doIoUringRegister } from './io_uring/register.js';
import { ioRwFixed } from './io_uring/rw.js';
import { type Stat, doFtruncate, vfsFallocate, vfsFstat, vfsFsync, vfsPread, vfsPwrite, vfsReadPos, vfsWritePos } from './fs/vfs.js';
import { DEFAULT_CWD, buildOpenFlags, getname } from './fs/namei.js';
import { isUserfaultfdFile, newUserfaultfd, userfaultfdSetMonitor } from './fs/userfaultfd.js';
import { userfaultfdCompleteEvents, userfaultfdTaskExit } from './mm/userfaultfd_k.js';
import { UFFD_MSG_SIZE, type UffdMsg, decodeUffdMsg } from './uapi/userfaultfd.js';
import { type Statfs, vfsStatfs } from './fs/statfs.js';
import type { KernelCore } from './kernel_core.js';
import type { KvmRun } from './uapi/kvm.js';
import { kvmVcpuSetGuest, vcpuOfFile } from './kvm/index.js';
import type { GuestCode } from './kvm/guest.js';

/** The largest access a single read/write/fill may span (the model's own bound). */
const MAX_ACCESS = 2 ** 40;

/**
 * @internal A task's mm for kernel-internal callers (KernelGup): undefined for
 * anything that is not a Process (a brand check: no getter or Proxy trap
 * runs), null once the process has exited.
 */
export let taskMm: (p: unknown) => MmStruct | null | undefined;

export class Process {
  static {
    taskMm = (p) => (typeof p === 'object' && p !== null && #k in p ? p.mm : undefined);
  }

  readonly pid: number;
  /** task->comm: the name tracepoints and /proc show (TASK_COMM_LEN: at most 15 characters kept); fork copies it. */
  get comm(): string {
    return this.#name;
  }
  /** prctl(PR_SET_NAME): a string (anything else is not user memory: EFAULT); 15 characters are kept. */
  // mirrors kernel/sys.c:SYSCALL_DEFINE5(prctl) PR_SET_NAME (strncpy_from_user, then set_task_comm)
  set comm(v: string) {
    if (typeof v !== 'string') throw new SyscallError('EFAULT', 'prctl');
    this.#name = v.slice(0, 15);
  }
  #name = 'foliosim';
  /** The address space; null once the process has exited. */
  mm: MmStruct | null;
  readonly fds: FdTable;
  readonly parent: Process | null;
  exitCode: number | null = null;
  /** Set when the OOM killer chose this process. */
  killedBy: 'SIGKILL' | null = null;
  /** The working directory (fs->pwd), absolute and normalized; fork inherits it. */
  #cwd = DEFAULT_CWD;

  /** The kernel's internals this process reaches (not the Kernel object: its internals stay off the public surface). */
  readonly #k: KernelCore;

  /** @internal Processes are made by Kernel.spawn and Process.fork. */
  constructor(
    k: KernelCore,
    pid: number,
    parent: Process | null,
    mm: MmStruct,
    fds: FdTable,
  ) {
    this.#k = k;
    this.pid = pid;
    this.parent = parent;
    this.mm = mm;
    this.fds = fds;
    mm.ownerPid = pid;
  }

  /** The mm, or ESRCH once the process has exited. */
  #live(syscall: string): MmStruct {
    if (this.mm === null) throw new SyscallError('ESRCH', syscall);
    return this.mm;
  }

  /** fdget: an O_PATH descriptor counts as not open. */
  #fdget(fd: unknown, syscall: string): OpenFile {
    const n = cInt(fd);
    const f = n === null ? undefined : this.fds.get(n);
    if (f === undefined || f.fMode & FMode.PATH) throw new SyscallError('EBADF', syscall);
    return f;
  }

  // ------------------------------------------------------------------------
  // Memory mapping.

  /** mmap(2). Returns the address of the new mapping. */
  // mirrors arch/x86/kernel/sys_x86_64.c:SYSCALL_DEFINE6(mmap) and mm/mmap.c:ksys_mmap_pgoff
  mmap(addr: unknown, length: unknown, prot: unknown, flags: unknown, fd: unknown, offset: unknown): number {
    const S = 'mmap';
    const mm = this.#live(S);
    const off = cULong(offset);
    if (off === null || off % BigInt(PAGE_SIZE) !== 0n) throw new SyscallError('EINVAL', S);
    const a = cULong(addr);
    let len = cULong(length);
    const p = cULong(prot);
    const fl = cULong(flags);
    if (a === null || len === null || p === null || fl === null) throw new SyscallError('EINVAL', S);
    const f = Number(fl & 0xffffffffn);
    const highFlags = fl >> 32n !== 0n;
    let file: OpenFile | null = null;
    if (!(f & MAP_ANONYMOUS)) {
      file = this.#fdget(fd, S);
      const hsize = file.fOp.hugePageSize;
      if (hsize !== undefined) len = alignUp64(len, BigInt(hsize));
      else if (f & MAP_HUGETLB) throw new SyscallError('EINVAL', S);
    } else if (f & MAP_HUGETLB) {
      const h = hstateSizelog(this.#k.hugetlbfs.hstates, (f >>> MAP_HUGE_SHIFT) & MAP_HUGE_MASK);
      if (h === undefined) throw new SyscallError('EINVAL', S);
      len = alignUp64(len, BigInt(h.size));
      // hugetlb_file_setup: an anonymous hugetlbfs file of len bytes backs the mapping
      // (a len beyond MAX_LFS_FILESIZE fails in do_mmap with ENOMEM before the file is used).
      file = this.#k.hugetlbfs.fileSetup(h, len <= MAX_LFS_FILESIZE ? len : 0n, '/anon_hugepage (deleted)');
    }
    if (file !== null) getFile(file);
    try {
      return doMmap(this.#k.host, this.#k.mmapHooks, mm, file, a, len, Number(p & 0xffffffffn), f, highFlags, off / BigInt(PAGE_SIZE));
    } finally {
      // ksys_mmap_pgoff's fput: the mapping holds its own reference.
      if (file !== null) fput(file);
      // vm_mmap_pgoff's userfaultfd_unmap_complete: MAP_FIXED may have replaced a registered range.
      userfaultfdCompleteEvents(this.#k.host);
    }
  }

  /** munmap(2). */
  munmap(addr: unknown, length: unknown): 0 {
    const mm = this.#live('munmap');
    const a = cULong(addr);
    const l = cULong(length);
    if (a === null || l === null) throw new SyscallError('EINVAL', 'munmap');
    try {
      doMunmap(this.#k.host, mm, a, l);
    } finally {
      // __vm_munmap's userfaultfd_unmap_complete, once mmap_lock is dropped.
      userfaultfdCompleteEvents(this.#k.host);
    }
    return 0;
  }

  /** mremap(2). Returns the (possibly new) address of the mapping. */
  mremap(oldAddress: unknown, oldSize: unknown, newSize: unknown, flags: unknown, newAddress: unknown = 0): number {
    const mm = this.#live('mremap');
    const a = cULong(oldAddress);
    const o = cULong(oldSize);
    const n = cULong(newSize);
    const f = cULong(flags);
    const na = cULong(newAddress);
    if (a === null || o === null || n === null || f === null || na === null) throw new SyscallError('EINVAL', 'mremap');
    try {
      return doMremap(this.#k.host, mm, a, o, n, f, na);
    } finally {
      // The UNMAP and REMAP events, once mmap_lock is dropped.
      userfaultfdCompleteEvents(this.#k.host);
    }
  }

  /** mprotect(2). */
  mprotect(addr: unknown, length: unknown, prot: unknown): 0 {
    const mm = this.#live('mprotect');
    const a = cULong(addr);
    const l = cULong(length);
    const p = cULong(prot);
    if (a === null || l === null || p === null) throw new SyscallError('EINVAL', 'mprotect');
    doMprotect(this.#k.host, mm, a, l, p);
    return 0;
  }

  /** madvise(2). */
  madvise(addr: unknown, length: unknown, advice: unknown): 0 {
    const mm = this.#live('madvise');
    const a = cULong(addr);
    const l = cULong(length);
    const b = cInt(advice);
    if (a === null || l === null || b === null) throw new SyscallError('EINVAL', 'madvise');
    doMadvise(this.#k.host, mm, a, l, b);
    return 0;
  }

  // ------------------------------------------------------------------------
  // Files.

  /** memfd_create(2). Returns the new descriptor. */
  memfd_create(name: unknown, flags: unknown): number {
    this.#live('memfd_create');
    const { file, flags: f } = memfdCreate(this.#k.shmem, this.#k.hugetlbfs, name, flags);
    const fd = this.fds.install(file, (f & MFD_CLOEXEC) !== 0);
    if (fd < 0) {
      // Linux reserves the descriptor first; the file never becomes visible.
      file.refs++;
      fput(file);
      throw new SyscallError('EMFILE', 'memfd_create');
    }
    return fd;
  }

  /** ftruncate(2). */
  // mirrors fs/open.c:do_sys_ftruncate
  ftruncate(fd: unknown, length: unknown): 0 {
    const S = 'ftruncate';
    this.#live(S);
    const len = cLong(length);
    if (len === null || len < 0n) throw new SyscallError('EINVAL', S);
    check(doFtruncate(this.#fdgetU(fd, S), len), S);
    return 0;
  }

  /** fallocate(2). */
  // mirrors fs/open.c:ksys_fallocate
  fallocate(fd: unknown, mode: unknown, offset: unknown, len: unknown): 0 {
    const S = 'fallocate';
    this.#live(S);
    const file = this.#fdget(fd, S);
    const m = cInt(mode);
    const o = cLong(offset);
    const l = cLong(len);
    if (m === null || o === null || l === null) throw new SyscallError('EINVAL', S);
    check(vfsFallocate(file, m, o, l), S);
    return 0;
  }

  /** pread(2): read count bytes at offset into buf; returns the bytes read. */
  // mirrors fs/read_write.c:ksys_pread64
  pread(fd: unknown, buf: unknown, count: unknown, offset: unknown): number {
    const S = 'pread64';
    this.#live(S);
    const pos = cLong(offset);
    if (pos === null || pos < 0n) throw new SyscallError('EINVAL', S);
    const file = this.#fdgetU(fd, S);
    const c = cULong(count);
    if (c === null) throw new SyscallError('EINVAL', S);
    return check(vfsPread(file, buf, c, pos), S);
  }

  /** pwrite(2): write count bytes of buf at offset; returns the bytes written. */
  // mirrors fs/read_write.c:ksys_pwrite64
  pwrite(fd: unknown, buf: unknown, count: unknown, offset: unknown): number {
    const S = 'pwrite64';
    this.#live(S);
    const pos = cLong(offset);
    if (pos === null || pos < 0n) throw new SyscallError('EINVAL', S);
    const file = this.#fdgetU(fd, S);
    const c = cULong(count);
    if (c === null) throw new SyscallError('EINVAL', S);
    return check(vfsPwrite(file, buf, c, pos), S);
  }

  /**
   * read(2) on a descriptor: count bytes at the file position (none for pipes)
   * into buf. Named sysread because read() is the CPU's load from memory.
   */
  // mirrors fs/read_write.c:ksys_read
  sysread(fd: unknown, buf: unknown, count: unknown): number {
    const S = 'read';
    this.#live(S);
    const file = this.#fdgetU(fd, S);
    const c = cULong(count);
    if (c === null) throw new SyscallError('EFAULT', S);
    return check(vfsReadPos(file, buf, c, this), S);
  }

  /** write(2) on a descriptor (syswrite: write() is the CPU's store). */
  // mirrors fs/read_write.c:ksys_write
  syswrite(fd: unknown, buf: unknown, count: unknown): number {
    const S = 'write';
    this.#live(S);
    const file = this.#fdgetU(fd, S);
    const c = cULong(count);
    if (c === null) throw new SyscallError('EFAULT', S);
    return check(vfsWritePos(file, buf, c), S);
  }

  /**
   * ioctl(2). arg is what a C caller would point to: an object with the
   * struct's field names (out-fields are written back into it), a number, or
   * a buffer, as each driver documents.
   */
  // mirrors fs/ioctl.c:SYSCALL_DEFINE3(ioctl) (-> vfs_ioctl; generic FIO* requests not modelled)
  ioctl(fd: unknown, request: unknown, arg?: unknown): number {
    const S = 'ioctl';
    this.#live(S);
    const file = this.#fdgetU(fd, S);
    const cmd = cUInt(request);
    if (cmd === null) throw new SyscallError('ENOTTY', S);
    if (file.fOp.unlockedIoctl === undefined) throw new SyscallError('ENOTTY', S);
    return check(file.fOp.unlockedIoctl(file, cmd, arg, this), S);
  }

  /** fdget of an unsigned int descriptor; raw (fdget_raw) also returns O_PATH files. */
  #fdgetU(fd: unknown, syscall: string, raw = false): OpenFile {
    const n = cUInt(fd);
    const f = n === null ? undefined : this.fds.get(n);
    if (f === undefined || (!raw && f.fMode & FMode.PATH)) throw new SyscallError('EBADF', syscall);
    return f;
  }

  /** fstat(2). */
  fstat(fd: unknown): Stat {
    this.#live('fstat');
    return vfsFstat(this.#fdgetU(fd, 'fstat', true));
  }

  /**
   * open(2): a device path (src/drivers registers them), or a path in the
   * mount table, relative to the working directory unless absolute. mode is
   * used with O_CREAT and O_TMPFILE (after the umask, 022).
   */
  // mirrors fs/open.c:do_sys_openat2 (openat(AT_FDCWD, ...))
  open(path: unknown, flags: unknown = 0, mode: unknown = 0o666): number {
    const S = 'openat';
    this.#live(S);
    // build_open_flags, then getname, then get_unused_fd_flags, then the lookup.
    const f = cInt(flags);
    if (f === null) throw new SyscallError('EINVAL', S);
    const how = buildOpenFlags(f, mode);
    if (typeof how === 'string') throw new SyscallError(how, S);
    const pn = getname(path);
    if ('err' in pn) throw new SyscallError(pn.err, S);
    const name = pn.name;
    if (!this.fds.hasFree()) throw new SyscallError('EMFILE', S);
    const dev = this.#k.devices.get(name);
    const file = dev !== undefined ? dev(this, how.flags) : this.#k.ns.open(this.#cwd, name, how.flags, how.mode);
    if (typeof file === 'string') throw new SyscallError(file, S);
    const fd = this.fds.install(file, (how.flags & O_CLOEXEC) !== 0);
    if (fd < 0) {
      fput(getFile(file));
      throw new SyscallError('EMFILE', S);
    }
    return fd;
  }

  /** unlink(2): remove a name; the file lives on while descriptors or mappings hold it (/proc shows it "(deleted)"). */
  // mirrors fs/namei.c:do_unlinkat
  unlink(path: unknown): 0 {
    const S = 'unlink';
    this.#live(S);
    const pn = getname(path);
    if ('err' in pn) throw new SyscallError(pn.err, S);
    const name = pn.name;
    check(this.#k.ns.unlink(this.#cwd, name), S);
    return 0;
  }

  /**
   * swapon(2): the zram device the Kernel option swap provides (/dev/zram0,
   * after a swapoff) or a regular file on a disk file system that carries a
   * swap header (mkswap's; see src/fs/swapon.ts). flags: SWAP_FLAG_PREFER |
   * priority, and the discard flags (accepted, no effect). The processes are root.
   */
  // mirrors mm/swapfile.c:SYSCALL_DEFINE2(swapon)
  swapon(path: unknown, flags: unknown = 0): 0 {
    const S = 'swapon';
    this.#live(S);
    const f = cInt(flags);
    if (f === null) throw new SyscallError('EINVAL', S);
    check(doSwapon(this.#k, this.#cwd, path, f), S);
    return 0;
  }

  /** swapoff(2): bring every page of the area back in (try_to_unuse) and turn it off. */
  // mirrors mm/swapfile.c:SYSCALL_DEFINE1(swapoff)
  swapoff(path: unknown): 0 {
    const S = 'swapoff';
    this.#live(S);
    check(doSwapoff(this.#k, this.#cwd, path), S);
    return 0;
  }

  /** chdir(2). */
  // mirrors fs/open.c:SYSCALL_DEFINE1(chdir)
  chdir(path: unknown): 0 {
    const S = 'chdir';
    this.#live(S);
    const pn = getname(path);
    if ('err' in pn) throw new SyscallError(pn.err, S);
    const name = pn.name;
    const dir = this.#k.ns.chdir(this.#cwd, name);
    if (!dir.startsWith('/')) throw new SyscallError(dir as ErrnoName, S);
    this.#cwd = dir;
    return 0;
  }

  /** getcwd(2): the working directory. */
  // mirrors fs/d_path.c:SYSCALL_DEFINE2(getcwd)
  getcwd(): string {
    this.#live('getcwd');
    return this.#cwd;
  }

  /** fstatfs(2): the counts of the file system fd lives on (f_type is its magic number). */
  // mirrors fs/statfs.c:SYSCALL_DEFINE2(fstatfs) (fd_statfs)
  fstatfs(fd: unknown): Statfs {
    this.#live('fstatfs');
    return vfsStatfs(this.#fdgetU(fd, 'fstatfs', true));
  }

  /** fsync(2): write back the file's dirty pages; its shared mappings are write-protected again. */
  // mirrors fs/sync.c:do_fsync
  fsync(fd: unknown): 0 {
    this.#live('fsync');
    check(vfsFsync(this.#fdgetU(fd, 'fsync'), false), 'fsync');
    return 0;
  }

  /** fdatasync(2): as fsync (the model keeps no metadata to spare). */
  // mirrors fs/sync.c:do_fsync (datasync)
  fdatasync(fd: unknown): 0 {
    this.#live('fdatasync');
    check(vfsFsync(this.#fdgetU(fd, 'fdatasync'), true), 'fdatasync');
    return 0;
  }

  /** close(2). */
  close(fd: unknown): 0 {
    this.#live('close');
    const n = cUInt(fd);
    if (n === null || !this.fds.close(n)) throw new SyscallError('EBADF', 'close');
    return 0;
  }

  // ------------------------------------------------------------------------
  // Pipes, vmsplice and io_uring fixed buffers (src/fs/pipe.ts, src/fs/splice.ts, src/io_uring/).

  /** pipe(2): [read end, write end]. */
  pipe(): [number, number] {
    return this.#doPipe2(0, 'pipe');
  }

  /** pipe2(2): flags O_CLOEXEC, O_NONBLOCK, O_DIRECT (packet mode). Returns [read end, write end]. */
  pipe2(flags: unknown): [number, number] {
    return this.#doPipe2(flags, 'pipe2');
  }

  // mirrors fs/pipe.c:do_pipe2 (-> __do_pipe_flags)
  #doPipe2(flags: unknown, S: string): [number, number] {
    this.#live(S);
    const f = cInt(flags);
    if (f === null || !pipe2FlagsValid(f)) throw new SyscallError('EINVAL', S);
    const ends = createPipeFiles(this.#k.vfs, f);
    if (typeof ends === 'string') throw new SyscallError(ends, S);
    const cloexec = (f & O_CLOEXEC) !== 0;
    const rfd = this.fds.install(ends[0], cloexec);
    const wfd = rfd < 0 ? -1 : this.fds.install(ends[1], cloexec);
    if (wfd < 0) {
      // Linux reserves both descriptors first; the files never become visible.
      if (rfd >= 0) this.fds.close(rfd);
      else fput(getFile(ends[0]));
      fput(getFile(ends[1]));
      throw new SyscallError('EMFILE', S);
    }
    return [rfd, wfd];
  }

  /**
   * vmsplice(2). iov: an array of { iov_base, iov_len } (or one such object,
   * as `&iov`). To a pipe's write end the pages are queued without a copy,
   * each with a FOLL_GET reference; from a read end pipe data is copied out.
   */
  // mirrors fs/splice.c:SYSCALL_DEFINE4(vmsplice)
  vmsplice(fd: unknown, iov: unknown, nr_segs: unknown, flags: unknown): number {
    const S = 'vmsplice';
    const mm = this.#live(S);
    const n = cInt(fd);
    const nr = cULong(nr_segs);
    // import_iovec takes nr_segs as an unsigned int.
    const segs = nr === null ? null : Number(nr & 0xffffffffn);
    return check(doVmsplice(this.#k.host, mm, n === null ? undefined : this.fds.get(n), iov, segs, cUInt(flags)), S);
  }

  /** io_uring_setup(2): params is a struct io_uring_params (sq_entries, cq_entries, features are written back). Returns the ring's descriptor. */
  // mirrors io_uring/io_uring.c:SYSCALL_DEFINE2(io_uring_setup)
  io_uring_setup(entries: unknown, params: unknown): number {
    const S = 'io_uring_setup';
    this.#live(S);
    const file = ioUringSetup(this.#k.vfs, cUInt(entries), params);
    if (typeof file === 'string') throw new SyscallError(file, S);
    const fd = this.fds.install(file, true);
    if (fd < 0) {
      fput(getFile(file));
      throw new SyscallError('EMFILE', S);
    }
    return fd;
  }

  /** io_uring_register(2): IORING_REGISTER_BUFFERS (arg: an iovec array), IORING_UNREGISTER_BUFFERS. */
  // mirrors io_uring/register.c:SYSCALL_DEFINE4(io_uring_register)
  io_uring_register(fd: unknown, opcode: unknown, arg: unknown, nr_args: unknown): number {
    const S = 'io_uring_register';
    const mm = this.#live(S);
    return check(doIoUringRegister(mm, (n) => this.fds.get(n), cUInt(fd), cUInt(opcode), arg, cUInt(nr_args)), S);
  }

  /**
   * Submit one IORING_OP_WRITE_FIXED (file fd at offset, from registered
   * buffer buf_index at addr) and wait for it, as liburing's
   * io_uring_prep_write_fixed + submit + wait_cqe do. Returns the CQE's res:
   * bytes written, or -errno. Throws for what io_uring_enter itself refuses.
   */
  io_uring_write_fixed(ring_fd: unknown, fd: unknown, addr: unknown, len: unknown, offset: unknown, buf_index: unknown): number {
    return this.#ioUringRwFixed(true, ring_fd, fd, addr, len, offset, buf_index);
  }

  /** As io_uring_write_fixed, for IORING_OP_READ_FIXED: file data into the registered buffer's pinned pages. */
  io_uring_read_fixed(ring_fd: unknown, fd: unknown, addr: unknown, len: unknown, offset: unknown, buf_index: unknown): number {
    return this.#ioUringRwFixed(false, ring_fd, fd, addr, len, offset, buf_index);
  }

  // mirrors io_uring/io_uring.c:SYSCALL_DEFINE6(io_uring_enter) (one SQE, min_complete 1)
  #ioUringRwFixed(write: boolean, ringFd: unknown, fd: unknown, addr: unknown, len: unknown, offset: unknown, bufIndex: unknown): number {
    const S = 'io_uring_enter';
    this.#live(S);
    const rf = cUInt(ringFd);
    const ring = rf === null ? undefined : this.fds.get(rf);
    if (ring === undefined) throw new SyscallError('EBADF', S);
    if (!isUringFile(ring)) throw new SyscallError('EOPNOTSUPP', S);
    // The SQE's fields: fd (s32), addr and off (u64), len (u32), buf_index (u16).
    const sqFd = cInt(fd);
    const a = cULong(addr);
    const l = cUInt(len);
    const off = cULong(offset);
    const bi = cUInt(bufIndex);
    if (sqFd === null || a === null || l === null || off === null || bi === null) throw new SyscallError('EINVAL', S, 'an SQE field has no C value');
    return ioRwFixed(ringCtx(ring), { write, file: this.fds.get(sqFd), addr: a, len: l, off, bufIndex: bi & 0xffff });
  }

  // ------------------------------------------------------------------------
  // userfaultfd (src/fs/userfaultfd.ts, src/mm/userfaultfd*.ts).

  /**
   * userfaultfd(2): flags O_CLOEXEC, O_NONBLOCK, UFFD_USER_MODE_ONLY (EINVAL
   * otherwise). Linux refuses (EPERM) a descriptor that also handles
   * kernel-mode faults (no UFFD_USER_MODE_ONLY) to a caller without
   * CAP_SYS_PTRACE unless vm.unprivileged_userfaultfd is 1; the model's tasks
   * are privileged, so that check always passes.
   */
  // mirrors fs/userfaultfd.c:SYSCALL_DEFINE1(userfaultfd)
  userfaultfd(flags: unknown): number {
    const S = 'userfaultfd';
    this.#live(S);
    const f = cInt(flags);
    if (f === null) throw new SyscallError('EINVAL', S);
    return check(newUserfaultfd(this.#k.vfs, this, f), S);
  }

  /**
   * read(2) of one struct uffd_msg from a userfaultfd, decoded (the model's
   * convenience: `sysread(fd, buf, 32)` gives the same 32 bytes). Throws
   * SyscallError as read(2) would: EAGAIN when nothing is queued.
   */
  userfaultfd_read(fd: unknown): UffdMsg {
    const buf = new Uint8Array(UFFD_MSG_SIZE);
    this.sysread(fd, buf, UFFD_MSG_SIZE);
    return decodeUffdMsg(buf);
  }

  /**
   * Model only: attach a monitor to the userfaultfd fd (null detaches it). It
   * plays the fault-handling thread: whenever a task would wait on this
   * userfaultfd (a fault, or an event such as fork or MADV_DONTNEED), the
   * model calls monitor() synchronously, and it reads the messages and
   * answers them with ioctls. See docs/API.md (userfaultfd).
   */
  userfaultfd_monitor(fd: unknown, monitor: (() => void) | null): void {
    const S = 'userfaultfd_monitor';
    this.#live(S);
    const file = this.#fdgetU(fd, S);
    if (!isUserfaultfdFile(file)) throw new SyscallError('EINVAL', S, 'not a userfaultfd');
    const e = userfaultfdSetMonitor(file, monitor);
    if (e !== null) throw new SyscallError(e, S, 'monitor must be a function or null');
  }

  // ------------------------------------------------------------------------
  // KVM (src/kvm/).

  /**
   * The struct kvm_run of a vCPU fd (what mmap of the fd shows): KVM_RUN
   * fills it at every exit, and userspace answers MMIO loads and hypercalls
   * in it before the next KVM_RUN. EINVAL if fd is not a vCPU.
   */
  kvm_run(fd: unknown): KvmRun {
    const S = 'mmap';
    this.#live(S);
    const v = vcpuOfFile(this.#fdgetU(fd, S));
    if (v === null) throw new SyscallError('EINVAL', S, 'not a vCPU fd');
    return v.run;
  }

  /**
   * Model only: load guest code into a vCPU (the selftests' vm_create_with_one_vcpu
   * with guest_code): a generator of guest operations (src/kvm/guest.ts), run
   * by KVM_RUN. EINVAL if fd is not a vCPU.
   */
  kvm_vcpu_guest(fd: unknown, code: GuestCode): void {
    const S = 'kvm_vcpu_guest';
    this.#live(S);
    const v = vcpuOfFile(this.#fdgetU(fd, S));
    if (v === null || !isGuestCode(code)) throw new SyscallError('EINVAL', S);
    kvmVcpuSetGuest(v, code);
  }

  // ------------------------------------------------------------------------
  // Processes.

  /** fork(2): a child with a copy-on-write copy of the address space and the descriptors. */
  fork(): Process {
    const mm = this.#live('fork');
    const host = this.#k.host;
    const child = dupMm(host, mm);
    if (child === null) throw new SyscallError('ENOMEM', 'fork');
    const p = this.#k.adopt((pid) => {
      const c = new Process(this.#k, pid, this, child, this.fds.dup());
      c.#cwd = this.#cwd;
      c.#name = this.#name;
      return c;
    });
    if (host.trace !== null) host.trace('sched_process_fork', `comm=${this.#name} pid=${this.pid} child_comm=${p.#name} child_pid=${p.pid}`);
    // dup_userfaultfd_complete: UFFD_EVENT_FORK for each registered userfaultfd that asked for it.
    userfaultfdCompleteEvents(host);
    return p;
  }

  /**
   * Move this process to CPU cpu (sched_setaffinity to that one CPU): its mm
   * is switched in there, so cpu joins mm_cpumask and later TLB flushes of
   * the mm reach it. EINVAL unless 0 <= cpu < the Kernel option `cpus`.
   */
  // mirrors kernel/sched/syscalls.c:sched_setaffinity (one CPU; the move's context switch runs switch_mm)
  runOn(cpu: number): void {
    const mm = this.#live('sched_setaffinity');
    if (!Number.isInteger(cpu) || cpu < 0 || cpu >= this.#k.host.cfg.cpus) throw new SyscallError('EINVAL', 'sched_setaffinity');
    mm.switchTo(cpu);
  }

  /** exit(2): release the address space and the descriptors. */
  exit(status = 0): void {
    if (this.mm === null) return;
    const host = this.#k.host;
    if (host.trace !== null) host.trace('sched_process_exit', `comm=${this.#name} pid=${this.pid} prio=120`);
    const mm = this.mm;
    this.mm = null;
    // A thread blocked in a userfault leaves the wait.
    userfaultfdTaskExit(mm);
    this.fds.closeAll();
    exitMmap(this.#k.host, mm);
    this.exitCode = status;
    this.#k.reap(this);
  }

  // ------------------------------------------------------------------------
  // CPU accesses through the MMU.

  #access(op: string, addr: unknown, len: unknown, write: boolean, visit: (f: number, off: number, n: number, at: number) => void): void {
    const mm = this.#live(op);
    if (typeof len !== 'number' || !Number.isSafeInteger(len) || len < 0 || len > MAX_ACCESS) throw new SyscallError('EINVAL', op, 'length');
    if (len === 0) return;
    if (typeof addr !== 'number' || !Number.isSafeInteger(addr) || addr < 0) throw new SignalError('SIGSEGV', 0, 'not a user address');
    try {
      cpuAccess(this.#k.host, mm, addr, len, write, visit);
    } catch (e) {
      if (e instanceof OomKill) {
        // pagefault_out_of_memory: the OOM killer picks the faulting task.
        this.killedBy = 'SIGKILL';
        this.exit(137);
        throw new SignalError('SIGKILL', e.addr, 'out of memory');
      }
      throw e;
    }
  }

  /** Load len bytes from addr. */
  read(addr: unknown, len: unknown): Uint8Array {
    const n = typeof len === 'number' && Number.isSafeInteger(len) && len >= 0 && len <= 2 ** 30 ? len : -1;
    if (n < 0) throw new SyscallError('EINVAL', 'read', 'length (at most 1GiB per read)');
    const out = new Uint8Array(n);
    const c = this.#k.host.content;
    this.#access('read', addr, n, false, (f, off, k, at) => c.read(f, off, out, at, k));
    return out;
  }

  /** Store bytes at addr. */
  write(addr: unknown, bytes: unknown): void {
    // Probed without running the caller's code (a revoked Proxy is just not a Uint8Array).
    const b = cUserBuffer(bytes);
    if (b === null) throw new SyscallError('EFAULT', 'write', 'bytes must be a Uint8Array');
    const host = this.#k.host;
    this.#access('write', addr, b.length, true, (f, off, k, at) => host.content.write(f, 1 << host.ft.order[f]!, off, b, at, k));
  }

  /** memset(addr, byte, len) through the MMU. */
  fill(addr: unknown, len: unknown, byte: unknown): void {
    if (typeof byte !== 'number' || !Number.isInteger(byte)) throw new SyscallError('EINVAL', 'fill', 'byte');
    const b = byte & 0xff;
    const host = this.#k.host;
    this.#access('fill', addr, len, true, (f, off, k) => host.content.fill(f, 1 << host.ft.order[f]!, off, k, b));
  }

  /**
   * Subscribe to this process's MMU notifiers (as a secondary MMU such as KVM
   * does). Returns a handle whose unregister() stops delivery.
   */
  // mirrors mm/mmu_notifier.c:mmu_notifier_register
  mmuNotifierRegister(ops: MmuNotifierOps): { unregister(): void } {
    const mm = this.#live('mmu_notifier_register');
    const table = mmuNotifierOpsTable(ops);
    if (table === null) throw new SyscallError('EINVAL', 'mmu_notifier_register', 'ops must be an object of callbacks');
    const sub = mmuNotifierRegister(mm, table);
    return { unregister: () => mmuNotifierUnregister(sub) };
  }

  // ------------------------------------------------------------------------
  // /proc/<pid>/...

  /** /proc/pid/smaps: one entry per VMA. */
  smaps(): SmapsEntry[] {
    return smapsRead(this.#k.host, this.#live('smaps'));
  }

  /** /proc/pid/pagemap for the page containing addr. */
  pagemap(addr: number): PagemapEntry {
    return pagemapRead(this.#k.host, this.#live('pagemap'), addr);
  }

  /**
   * write(2) of value to /proc/pid/clear_refs: "1"-"3" age the pages of all /
   * anonymous / file mappings, "4" clears soft-dirty (write-protects every
   * entry so the next write faults), "5" resets VmHWM. Anything else is EINVAL.
   */
  // mirrors fs/proc/task_mmu.c:clear_refs_write
  clear_refs(value: unknown): void {
    const r = clearRefsWrite(this.#k.host, this.#live('write'), value);
    if (r !== null) throw new SyscallError(r, 'write');
  }

  /** /proc/pid/status memory lines (VmSize, VmRSS, RssAnon, ..., VmPTE). */
  status(): ProcStatus {
    return procStatus(this.#live('status'));
  }
}

/** @internal A new process with an empty address space (Kernel.spawn); not a method, so not on the public surface. */
export function createProcess(k: KernelCore, pid: number): Process {
  const pgd = newTable(k.host, { pgtablesBytes: 0 }, Level.PGD);
  if (pgd === null) throw new SyscallError('ENOMEM', 'fork');
  const mm = new MmStruct(k.host.newId(), pgd, mmapBase());
  mm.pgtablesBytes = PAGE_SIZE;
  return new Process(k, pid, null, mm, new FdTable());
}

const MMU_NOTIFIER_CALLBACKS = ['invalidateRangeStart', 'invalidateRangeEnd', 'clearYoung', 'clearFlushYoung', 'testYoung', 'release', 'postCollapse'] as const;

/**
 * The caller's mmu_notifier_ops read once, at registration, into a table of
 * its own (Linux's ops are a const struct). The property reads run the
 * caller's code (getters, Proxy traps) and may throw: here, inside try/catch,
 * that is an EINVAL for the caller instead of a TypeError in the middle of a
 * later munmap or fault, with the model half-updated. Each callback still runs
 * with the caller's object as this.
 */
function mmuNotifierOpsTable(ops: unknown): MmuNotifierOps | null {
  if ((typeof ops !== 'object' && typeof ops !== 'function') || ops === null) return null;
  const table: Record<string, (...args: unknown[]) => unknown> = {};
  try {
    for (const name of MMU_NOTIFIER_CALLBACKS) {
      const fn: unknown = (ops as Record<string, unknown>)[name];
      if (fn === undefined) continue;
      if (typeof fn !== 'function') return null;
      table[name] = (...args: unknown[]) => Reflect.apply(fn, ops, args) as unknown;
    }
  } catch {
    return null;
  }
  return table as MmuNotifierOps;
}

/** Guest code: an object with a next method. Reading it may run the caller's getter; an object that cannot be read (a revoked Proxy) is not guest code. */
function isGuestCode(code: unknown): code is GuestCode {
  if (typeof code !== 'object' || code === null) return false;
  try {
    return typeof (code as { next?: unknown }).next === 'function';
  } catch (e) {
    if (e instanceof TypeError) return false;
    throw e;
  }
}

function alignUp64(v: bigint, a: bigint): bigint {
  return ((v + a - 1n) / a) * a & ((1n << 64n) - 1n);
}

/** Throw for an errno result; pass numbers through. */
function check<T extends number | null>(r: T | ErrnoName, syscall: string): T {
  if (typeof r === 'string') throw new SyscallError(r, syscall);
  return r;
}
