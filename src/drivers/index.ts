/**
 * The device drivers the model has, and the paths open(2) finds them at.
 * Each driver module exports a `register` that adds its paths; a Kernel calls
 * registerDrivers once at boot.
 */
import type { ErrnoName } from '../uapi/errno.js';
import type { OpenFile, Task } from '../fs/file.js';
import type { Vfs } from '../fs/inode.js';
import type { Host } from '../mm/host.js';
import { register as registerGupTest } from './gup_test.js';
import { register as registerDma } from './dma.js';
import { register as registerUserfaultfd } from './userfaultfd.js';

/** A character device: open() calls it to make the file for a new descriptor, or refuses with an errno. */
export type DeviceOpen = (current: Task, flags: number) => OpenFile | ErrnoName;

/** What drivers may use. */
export interface DriverContext {
  readonly host: Host;
  readonly vfs: Vfs;
}

/** Driver registrations, in boot order. */
const DRIVERS: ((devices: Map<string, DeviceOpen>, ctx: DriverContext) => void)[] = [registerGupTest, registerDma, registerUserfaultfd];

export function registerDrivers(devices: Map<string, DeviceOpen>, ctx: DriverContext): void {
  for (const register of DRIVERS) register(devices, ctx);
}
