/**
 * memfd_create(2) (mirrors mm/memfd.c): an unlinked tmpfs file, or a hugetlbfs
 * file with MFD_HUGETLB. Checks run in the kernel's order.
 */
import { SyscallError } from '../uapi/errors.js';
import { cUInt } from '../uapi/ctypes.js';
import { F_SEAL_EXEC, F_SEAL_SEAL, S_IFREG } from '../uapi/fcntl.js';
import { MFD_ALLOW_SEALING, MFD_EXEC, MFD_HUGETLB, MFD_HUGE_MASK, MFD_HUGE_SHIFT, MFD_NOEXEC_SEAL } from '../uapi/memfd.js';
import type { OpenFile } from './file.js';
import { type HugetlbFs, hstateSizelog } from './hugetlbfs.js';
import type { ShmemFs } from './shmem.js';

/** MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB | MFD_NOEXEC_SEAL | MFD_EXEC */
const MFD_ALL_FLAGS = 0x1f;
/** NAME_MAX - strlen("memfd:") */
export const MFD_NAME_MAX_LEN = 249;

/**
 * Create the memfd file. The caller installs it in the descriptor table
 * (get_unused_fd_flags runs before the file exists; EMFILE is reported there).
 */
// mirrors mm/memfd.c:SYSCALL_DEFINE2(memfd_create)
export function memfdCreate(shmem: ShmemFs, hugetlbfs: HugetlbFs, uname: unknown, flagsIn: unknown): { file: OpenFile; flags: number } {
  const S = 'memfd_create';
  let flags = cUInt(flagsIn);
  if (flags === null) throw new SyscallError('EINVAL', S);
  // sanitize_flags
  const allowed = flags & MFD_HUGETLB ? MFD_ALL_FLAGS | ((MFD_HUGE_MASK << MFD_HUGE_SHIFT) >>> 0) : MFD_ALL_FLAGS;
  if ((flags & ~allowed) >>> 0 !== 0) throw new SyscallError('EINVAL', S);
  if (flags & MFD_EXEC && flags & MFD_NOEXEC_SEAL) throw new SyscallError('EINVAL', S);
  // check_sysctl_memfd_noexec with vm.memfd_noexec = 0: implied MFD_EXEC.
  if (!(flags & (MFD_EXEC | MFD_NOEXEC_SEAL))) flags |= MFD_EXEC;
  // alloc_name: a bad pointer faults; a name over MFD_NAME_MAX_LEN bytes is invalid.
  if (typeof uname !== 'string') throw new SyscallError('EFAULT', S);
  const nul = uname.indexOf('\0');
  const name = nul >= 0 ? uname.slice(0, nul) : uname;
  if (new TextEncoder().encode(name).length > MFD_NAME_MAX_LEN) throw new SyscallError('EINVAL', S);
  let file: OpenFile;
  if (flags & MFD_HUGETLB) {
    const h = hstateSizelog(hugetlbfs.hstates, (flags >>> MFD_HUGE_SHIFT) & MFD_HUGE_MASK);
    if (h === undefined) throw new SyscallError('ENODEV', S);
    file = hugetlbfs.fileSetup(h, 0n, `/memfd:${name} (deleted)`);
  } else {
    file = shmem.fileSetup(name, 0n, `/memfd:${name} (deleted)`);
  }
  const inode = file.inode;
  inode.nlink = 0;
  inode.mode = S_IFREG | (flags & MFD_NOEXEC_SEAL ? 0o666 : 0o777);
  inode.seals = F_SEAL_SEAL;
  if (flags & MFD_NOEXEC_SEAL) inode.seals = F_SEAL_EXEC;
  else if (flags & MFD_ALLOW_SEALING) inode.seals = 0;
  return { file, flags };
}
