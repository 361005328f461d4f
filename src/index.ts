/**
 * foliosim: an executable model of Linux memory management.
 *
 *   import { Kernel, SyscallError, SignalError } from 'foliosim';
 *   const kernel = new Kernel({ memory: '64GiB' });
 *   const p = kernel.spawn();
 */
export { Kernel, type KernelOptions, type HgmReport } from './kernel.js';
export { KernelConfigError } from './config.js';
export { Process } from './process.js';
export * from './kernel_gup.js';
export { SyscallError, SignalError, type SignalName } from './uapi/errors.js';
export { UffdFault } from './mm/userfaultfd_k.js';
export type { UffdMsg } from './uapi/userfaultfd.js';
export type { ErrnoName } from './uapi/errno.js';
export type { Violation } from './check/oracle.js';
export type { Meminfo } from './fs/proc/meminfo.js';
export { formatMeminfo } from './fs/proc/meminfo.js';
export type { SmapsEntry, PagemapEntry, ProcStatus } from './fs/proc/task_mmu.js';
export type { FolioInfo } from './fs/proc/page.js';
export type { Stat } from './fs/vfs.js';
export type { DmaStats } from './drivers/dma.js';
export type { KhugepagedScanReport } from './mm/khugepaged.js';
export { CostModel, UNIT_COSTS, UnknownCostError, InvalidCostError, LOW_CONFIDENCE_SHARE, type Confidence, type CostEstimate, type CostLine, type UnitCost } from './cost/model.js';
export { EVENT_NAMES, type EventName } from './cost/counters.js';
export { MmuNotifyEvent, type MmuNotifierOps, type MmuNotifierRange } from './mm/mmu_notifier.js';
/** Guest code for KVM vCPUs (generators of guest operations; see docs/API.md, KVM). */
export * as kvmGuest from './kvm/guest.js';
export type { KvmMmuStats } from './kvm/kvm_host.js';
export type { GmemReport, GmemPinWaiter } from './kvm/guest_memfd.js';
export { GMEM_PIN_WAIT_MAX_NS, GMEM_PIN_WAIT_STEP_NS } from './kvm/guest_memfd.js';
export type { GuestCode, GuestOp } from './kvm/guest.js';
export type { HgmMetrics } from './mm/hgm_mapcount.js';
