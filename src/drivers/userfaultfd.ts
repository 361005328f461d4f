/**
 * /dev/userfaultfd (mirrors the misc device of fs/userfaultfd.c): an open
 * file whose one ioctl, USERFAULTFD_IOC_NEW, makes a userfaultfd as
 * userfaultfd(2) does, with the ioctl's argument as the flags. Access is
 * decided by the device node's permissions (root in the model), not by the
 * vm.unprivileged_userfaultfd rule of the system call.
 */
import type { ErrnoName } from '../uapi/errno.js';
import { cULong } from '../uapi/ctypes.js';
import { USERFAULTFD_DEV_PATH, USERFAULTFD_IOC_NEW } from '../uapi/userfaultfd.js';
import { anonInodeGetfile } from '../fs/anon_inodes.js';
import type { FsFileOps, OpenFile, Task } from '../fs/file.js';
import { newUserfaultfd } from '../fs/userfaultfd.js';
import type { DeviceOpen, DriverContext } from './index.js';

/** Register /dev/userfaultfd. */
export function register(devices: Map<string, DeviceOpen>, ctx: DriverContext): void {
  const fOp: FsFileOps = {
    // mirrors fs/userfaultfd.c:userfaultfd_dev_ioctl
    unlockedIoctl: (_file: OpenFile, cmd: number, arg: unknown, current: Task): number | ErrnoName => {
      if (cmd !== USERFAULTFD_IOC_NEW) return 'EINVAL';
      // The unsigned long argument, read as new_userfaultfd's int.
      const flags = cULong(arg);
      if (flags === null) return 'EINVAL';
      return newUserfaultfd(ctx.vfs, current, Number(BigInt.asIntN(32, flags)));
    },
  };
  devices.set(USERFAULTFD_DEV_PATH, (_current, flags) => anonInodeGetfile(ctx.vfs, USERFAULTFD_DEV_PATH, fOp, flags));
}
