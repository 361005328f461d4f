/**
 * KVM's statistics as debugfs shows them (virt/kvm/kvm_main.c,
 * kvm_create_vm_debugfs; the descriptors of arch/x86/kvm/x86.c).
 *
 * Each VM has a directory /sys/kernel/debug/kvm/<pid>-<fd>, named after the
 * creating process and the VM's file descriptor. Its files are the VM's own
 * statistics and each vCPU statistic summed over the VM's vCPUs.
 * /sys/kernel/debug/kvm/<stat> sums a statistic over every VM.
 *
 * The model shows only the statistics it keeps, with 6.12's meanings:
 * - the leaf SPTEs by size;
 * - remote TLB flushes;
 * - the shadow-MMU counters, which stay 0 under the TDP MMU these VMs use;
 * - nx_lpage_splits: no NX huge-page mitigation (AMD hosts do not need it);
 * - the vCPU stage-2 fault and exit counters below.
 *
 * Counters it does not keep, such as halt polling, interrupt injection and
 * emulation, are left out rather than shown as 0.
 *
 * Model: kvm_flush_remote_tlbs always reaches the vCPUs, so
 * remote_tlb_flush equals remote_tlb_flush_requests.
 */
import type { Host } from '../mm/host.js';
import { type Kvm, type KvmVcpu, type KvmVcpuStat, vmList } from './kvm_host.js';

export function newVcpuStat(): KvmVcpuStat {
  return { pf_taken: 0, pf_fixed: 0, pf_emulate: 0, exits: 0, io_exits: 0, mmio_exits: 0, halt_exits: 0, signal_exits: 0, hypercalls: 0 };
}

/** The VM statistics of 6.12's x86 descriptor table, in its order, with what the model knows of each. */
const VM_STATS: readonly [string, (kvm: Kvm) => number][] = [
  ['remote_tlb_flush', (kvm) => kvm.mmu.stats.tlbFlushes],
  ['remote_tlb_flush_requests', (kvm) => kvm.mmu.stats.tlbFlushes],
  ['mmu_shadow_zapped', () => 0],
  ['mmu_pte_write', () => 0],
  ['mmu_pde_zapped', () => 0],
  ['mmu_flooded', () => 0],
  ['mmu_recycled', () => 0],
  ['mmu_cache_miss', () => 0],
  ['mmu_unsync', () => 0],
  ['pages_4k', (kvm) => kvm.mmu.stats.leaves[1]!],
  ['pages_2m', (kvm) => kvm.mmu.stats.leaves[2]!],
  ['pages_1g', (kvm) => kvm.mmu.stats.leaves[3]!],
  ['nx_lpage_splits', () => 0],
  ['max_mmu_rmap_size', () => 0],
  ['max_mmu_page_hash_collisions', () => 0],
];

/** The vCPU statistics the model keeps, in the order of 6.12's descriptor table. */
const VCPU_STATS: readonly (keyof KvmVcpuStat)[] = ['pf_taken', 'pf_fixed', 'pf_emulate', 'exits', 'io_exits', 'mmio_exits', 'signal_exits', 'halt_exits', 'hypercalls'];

const DEBUGFS_KVM = '/sys/kernel/debug/kvm';

/** One VM's statistics by file name: its own, then each vCPU statistic summed over its vCPUs (vcpu_stat_get). */
// mirrors virt/kvm/kvm_main.c:kvm_stat_data_get (vm_stat_get / vcpu_stat_get)
function vmStats(kvm: Kvm): [string, number][] {
  const sum = (name: keyof KvmVcpuStat) => kvm.vcpus.reduce((n, v: KvmVcpu) => n + v.stat[name], 0);
  return [...VM_STATS.map(([name, get]): [string, number] => [name, get(kvm)]), ...VCPU_STATS.map((name): [string, number] => [name, sum(name)])];
}

/**
 * Every KVM debugfs file and its value: each live VM's directory, then the
 * sums over all VMs at the top, in the order the descriptor tables create them.
 */
// mirrors virt/kvm/kvm_main.c:kvm_create_vm_debugfs and kvm_init_debug
export function kvmDebugfsFiles(host: Host): { path: string; value: number }[] {
  const out: { path: string; value: number }[] = [];
  const totals = new Map<string, number>();
  for (const kvm of vmList(host)) {
    if (kvm.debugfsName === '') continue;
    for (const [name, value] of vmStats(kvm)) {
      out.push({ path: `${DEBUGFS_KVM}/${kvm.debugfsName}/${name}`, value });
      totals.set(name, (totals.get(name) ?? 0) + value);
    }
  }
  for (const [name] of VM_STATS) out.push({ path: `${DEBUGFS_KVM}/${name}`, value: totals.get(name) ?? 0 });
  for (const name of VCPU_STATS) out.push({ path: `${DEBUGFS_KVM}/${name}`, value: totals.get(name) ?? 0 });
  return out;
}

/** The text of a KVM debugfs file (the value in decimal), or null if there is no such file. */
export function kvmDebugfsRead(host: Host, path: string): string | null {
  if (!path.startsWith(`${DEBUGFS_KVM}/`)) return null;
  const f = kvmDebugfsFiles(host).find((e) => e.path === path);
  return f === undefined ? null : String(f.value);
}
