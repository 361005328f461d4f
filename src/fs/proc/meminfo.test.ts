/**
 * /proc/meminfo and /proc/vmstat as 6.12 prints them. The line order and
 * formats were taken from real Linux: Debian's 6.12.118 under QEMU
 * (../shared/realkernel, boot.sh, `cat /proc/meminfo` and
 * `cut -d' ' -f1 /proc/vmstat`, 2026-12-08). That kernel is built without CONFIG_CMA. Its CmaTotal and
 * CmaFree lines would come between FilePmdMapped and Unaccepted
 * (fs/proc/meminfo.c).
 */
import { describe, expect, it } from 'vitest';
import { Kernel, formatMeminfo } from '../../index.js';
import { GUEST_DONE, readU8 } from '../../kvm/guest.js';
import * as U from '../../uapi/index.js';

/** Every label of real 6.12.118's /proc/meminfo, in its order, with CONFIG_CMA's two lines in their place. */
const LINUX_6_12_ORDER = [
  'MemTotal', 'MemFree', 'MemAvailable', 'Buffers', 'Cached', 'SwapCached', 'Active', 'Inactive',
  'Active(anon)', 'Inactive(anon)', 'Active(file)', 'Inactive(file)', 'Unevictable', 'Mlocked',
  'SwapTotal', 'SwapFree', 'Zswap', 'Zswapped', 'Dirty', 'Writeback', 'AnonPages', 'Mapped', 'Shmem',
  'KReclaimable', 'Slab', 'SReclaimable', 'SUnreclaim', 'KernelStack', 'PageTables', 'SecPageTables',
  'NFS_Unstable', 'Bounce', 'WritebackTmp', 'CommitLimit', 'Committed_AS', 'VmallocTotal', 'VmallocUsed',
  'VmallocChunk', 'Percpu', 'HardwareCorrupted', 'AnonHugePages', 'ShmemHugePages', 'ShmemPmdMapped',
  'FileHugePages', 'FilePmdMapped', 'CmaTotal', 'CmaFree', 'Unaccepted', 'HugePages_Total',
  'HugePages_Free', 'HugePages_Rsvd', 'HugePages_Surp', 'Hugepagesize', 'Hugetlb', 'DirectMap4k',
  'DirectMap2M', 'DirectMap1G',
];

const RW = U.PROT_READ | U.PROT_WRITE;
const ANON = U.MAP_PRIVATE | U.MAP_ANONYMOUS;
const PAGE = 4096;

describe('/proc/meminfo', () => {
  it("prints 6.12's lines in 6.12's order, each label once", () => {
    const k = new Kernel({ memory: '64MiB' });
    const labels = formatMeminfo(k.meminfo())
      .split('\n')
      .map((l) => l.slice(0, l.indexOf(':')));
    expect(new Set(labels).size).toBe(labels.length);
    const at = labels.map((l) => LINUX_6_12_ORDER.indexOf(l));
    expect(at.filter((i) => i < 0)).toEqual([]);
    expect(at).toEqual([...at].sort((a, b) => a - b));
    // The swap lines come before Dirty and the CMA lines before the HugeTLB ones, as in Linux.
    expect(labels.indexOf('SwapFree')).toBeLessThan(labels.indexOf('Dirty'));
    expect(labels.indexOf('CmaFree')).toBeLessThan(labels.indexOf('HugePages_Total'));
  });

  it('formats kB lines as show_val_kb and HugePages_ counts as "%5lu" after 19 columns', () => {
    const k = new Kernel({ memory: '256MiB', hugetlb: { '2MiB': 64 } });
    const text = formatMeminfo(k.meminfo());
    // Lines copied from real 6.12.118 with 64 2 MiB pages in the pool.
    expect(text).toContain('\nHugePages_Total:      64\n');
    expect(text).toContain('\nHugePages_Free:       64\n');
    expect(text).toContain('\nHugePages_Rsvd:        0\n');
    expect(text).toContain('\nHugepagesize:       2048 kB\n');
    expect(text).toMatch(/^Buffers: {15}0 kB$/m);
    // A value wider than its field keeps the label's padding: resv_huge_pages at -1 prints as Linux printed it.
    const wrapped = formatMeminfo({ ...k.meminfo(), HugePages_Rsvd: -1 });
    expect(wrapped).toContain('\nHugePages_Rsvd:    18446744073709551615\n');
  });

  it("SecPageTables counts KVM's stage-2 tables, and PageTables does not", () => {
    const k = new Kernel({ memory: '256MiB' });
    const p = k.spawn();
    const vm = p.ioctl(p.open('/dev/kvm', U.O_RDWR), U.KVM_CREATE_VM, 0);
    const hva = p.mmap(0, 2 * 1024 * 1024, RW, ANON, -1, 0);
    p.fill(hva, PAGE, 1);
    p.ioctl(vm, U.KVM_SET_USER_MEMORY_REGION, { slot: 0, flags: 0, guest_phys_addr: 0, memory_size: 2 * 1024 * 1024, userspace_addr: hva });
    // The model allocates the stage-2 root with the VM (Linux at the first kvm_mmu_load): one table page so far.
    const before = k.meminfo();
    expect(before.SecPageTables).toBe(4);
    const vcpu = p.ioctl(vm, U.KVM_CREATE_VCPU, 0);
    p.kvm_vcpu_guest(
      vcpu,
      (function* () {
        yield* readU8(0);
        yield* GUEST_DONE();
      })(),
    );
    p.ioctl(vcpu, U.KVM_RUN, 0);
    const after = k.meminfo();
    expect(after.SecPageTables).toBeGreaterThan(before.SecPageTables);
    expect(after.SecPageTables).toBe(k.vmstat().nr_sec_page_table_pages! * 4);
    expect(after.PageTables).toBe(before.PageTables);
    expect(formatMeminfo(after)).toMatch(new RegExp(`^SecPageTables: +${after.SecPageTables} kB$`, 'm'));
    p.exit(0);
    expect(k.meminfo().SecPageTables).toBe(0);
    expect(k.check()).toEqual([]);
  });
});

/**
 * Lines of real 6.12.118's /proc/vmstat that the model prints, each with its
 * line number in that file, to show the order.
 */
const LINUX_6_12_VMSTAT: [number, string][] = [
  [1, 'nr_free_pages'], [36, 'nr_anon_pages'], [37, 'nr_mapped'], [38, 'nr_file_pages'], [42, 'nr_shmem'],
  [43, 'nr_shmem_hugepages'], [44, 'nr_shmem_pmdmapped'], [46, 'nr_file_pmdmapped'],
  [47, 'nr_anon_transparent_hugepages'], [54, 'nr_foll_pin_acquired'], [55, 'nr_foll_pin_released'],
  [57, 'nr_page_table_pages'], [58, 'nr_sec_page_table_pages'], [60, 'nr_swapcached'], [68, 'nr_memmap_pages'],
  [69, 'nr_memmap_boot_pages'], [72, 'pswpin'], [73, 'pswpout'], [169, 'thp_swpout'], [170, 'thp_swpout_fallback'],
  [176, 'swpin_zero'], [177, 'swpout_zero'],
];

describe('/proc/vmstat', () => {
  it("prints 6.12's names in 6.12's order", () => {
    const k = new Kernel({ memory: '64MiB', swap: '16MiB' });
    expect(Object.keys(k.vmstat())).toEqual(LINUX_6_12_VMSTAT.map(([, name]) => name));
  });

  it('nr_file_pages counts swap-cache pages, as add_to_swap_cache does; meminfo Cached leaves them out', () => {
    const k = new Kernel({ memory: '64MiB', swap: '16MiB', thp: 'never' });
    const p = k.spawn();
    const a = p.mmap(0, 2 * PAGE, RW, ANON, -1, 0);
    p.fill(a, 2 * PAGE, 0x42);
    p.madvise(a, 2 * PAGE, U.MADV_PAGEOUT);
    const c = p.fork();
    const cached0 = k.meminfo().Cached;
    const file0 = k.vmstat().nr_file_pages!;
    // A read of a slot two processes share brings the page in through the swap cache.
    expect(p.read(a, 1)[0]).toBe(0x42);
    expect(k.vmstat().nr_swapcached).toBe(1);
    expect(k.vmstat().nr_file_pages).toBe(file0 + 1);
    expect(k.meminfo().SwapCached).toBe(4);
    expect(k.meminfo().Cached).toBe(cached0);
    expect(k.check()).toEqual([]);
    c.exit();
    p.exit();
    expect(k.vmstat().nr_swapcached).toBe(0);
    expect(k.vmstat().nr_file_pages).toBe(file0);
  });
});
