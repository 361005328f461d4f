/**
 * KVM (src/kvm/): /dev/kvm, VMs, memslots, vCPUs running guest code,
 * guest_memfd, memory attributes and the stage-2 MMU. The Kernel registers
 * /dev/kvm at boot; guests are written with src/kvm/guest.ts.
 */
export { register, type KvmContext } from './kvm_main.js';
export { kvmVcpuSetGuest, vcpuOfFile } from './vcpu.js';
export { vmList } from './kvm_host.js';
export { kvmDebugfsRead } from './stats.js';
export type { Kvm, KvmMmuStats } from './kvm_host.js';
export { GMEM_PIN_WAIT_MAX_NS, GMEM_PIN_WAIT_STEP_NS, type GmemPinWaiter, type GmemReport, gmemReport, setGmemPinWaiter } from './guest_memfd.js';
