/**
 * What a Process needs from its Kernel, as an interface so that process.ts and
 * kernel.ts do not import each other.
 */
import type { Host } from './mm/host.js';
import type { MmapHooks } from './mm/mmap.js';
import type { DeviceOpen } from './drivers/index.js';
import type { HugetlbFs } from './fs/hugetlbfs.js';
import type { ShmemFs } from './fs/shmem.js';
import type { Vfs } from './fs/inode.js';
import type { Namespace } from './fs/namei.js';
import type { Process } from './process.js';

export type { DeviceOpen } from './drivers/index.js';

export interface KernelCore {
  readonly host: Host;
  /** Inodes: pipes and anonymous-inode files (io_uring rings) are made on it. */
  readonly vfs: Vfs;
  readonly shmem: ShmemFs;
  readonly hugetlbfs: HugetlbFs;
  /** The mount table and the names in it (open, unlink, chdir). */
  readonly ns: Namespace;
  readonly mmapHooks: MmapHooks;
  /** Device paths open() knows (the later devices register here). */
  readonly devices: Map<string, DeviceOpen>;
  /** Give a new process a pid and register it. */
  adopt(make: (pid: number) => Process): Process;
  /** Forget an exited process. */
  reap(p: Process): void;
}
