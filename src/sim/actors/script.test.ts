/** The script actor's collapse operations: MADV_COLLAPSE and a khugepaged wake-up in simulated time. */
import { describe, expect, it } from 'vitest';
import { loadScenario } from '../scenario/load.js';
import { runOne } from '../run.js';

const TEXT = `name: collapse
title: Collapse
question: Do the collapse operations run?
kernel: { memory: 256MiB, thp: madvise }
setup: { processes: [{ name: vmm, regions: [{ name: ram, size: 4MiB, thp: hugepage, fill: 0x11 }] }] }
workload:
  duration: 1ms
  actors:
    - kind: script
      process: vmm
      ops:
        # Both 2 MiB ranges PTE-mapped by an mprotect round trip.
        - { at: 0, op: mprotect, region: ram, offset: 4KiB, size: 4KiB, prot: r }
        - { at: 0, op: mprotect, region: ram, offset: 4KiB, size: 4KiB, prot: rw }
        - { at: 0, op: mprotect, region: ram, offset: 2MiB + 4KiB, size: 4KiB, prot: r }
        - { at: 0, op: mprotect, region: ram, offset: 2MiB + 4KiB, size: 4KiB, prot: rw }
        - { at: 10us, op: madvise, region: ram, offset: 0, size: 2MiB, advice: collapse }
        - { at: 20us, op: get, region: ram, offset: 2MiB, refs: 1 }
        - { at: 30us, op: madvise, region: ram, offset: 2MiB, size: 2MiB, advice: collapse }
        - { at: 40us, op: khugepaged, region: ram }
designs: [{ name: up, policy: { pinAccounting: upstream } }]
metrics: [pinsLost]
verdict: { best: pinsLost }
`;

describe('script actor: collapse and khugepaged', () => {
  it('MADV_COLLAPSE rebuilds a THP, fails with EAGAIN (counted) on a referenced page, and khugepaged does no better', () => {
    const s = loadScenario(TEXT, 'c.yaml');
    const r = runOne(s.configs[0]!, 1);
    const ram = r.world.region('ram');
    expect(ram.proc.pagemap(ram.addr).mappedBy).toBe(2 * 2 ** 20);
    expect(ram.proc.pagemap(ram.addr + 2 * 2 ** 20).mappedBy).toBe(4096);
    expect(r.failures).toEqual({ 'script:madvise': 1 });
    expect(r.timeline.filter((t) => t.kind === 'madvise').map((t) => t.detail)).toEqual(['ram+0x0 collapse', expect.stringMatching(/^failed: EAGAIN/)]);
    expect(r.timeline.find((t) => t.kind === 'khugepaged')?.detail).toBe('0 collapsed');
    expect(r.violations).toEqual([]);
    expect(r.world.k.events().thp_collapse_alloc).toBe(1);
    expect(r.world.k.readSysfs('/sys/kernel/mm/transparent_hugepage/khugepaged/full_scans')).toBe('1');
  });
});

const VM = `name: vm-ops
title: VM operations
question: Do place, punch and truncate run on a post-copy VM?
kernel: { memory: 256MiB, hugetlb: { 2MiB: 8 } }
setup:
  processes: [{ name: qemu }]
  vms: [{ name: guest, process: qemu, memory: 8MiB, hugePage: 2MiB, split: false, rtt: 40us, bandwidth: 1 }]
workload:
  duration: 1ms
  actors:
    - kind: script
      process: qemu
      ops:
        - { at: 0, op: place, region: guest, offset: 0, size: 4MiB }
        - { at: 10us, op: punch, region: guest, offset: 2MiB, size: 2MiB }
        - { at: 20us, op: truncate, region: guest, size: 0 }
designs: [{ name: up, policy: { pinAccounting: upstream } }]
metrics: [mapcountAfterTruncate]
verdict: { best: mapcountAfterTruncate }
`;

describe('script actor: a post-copy VM', () => {
  it('place maps whole huge pages with UFFDIO_CONTINUE; punch and truncate drop them, leaving no mapcount', () => {
    const s = loadScenario(VM, 'vm.yaml');
    const r = runOne(s.configs[0]!, 1);
    const vm = r.world.vm('guest')!;
    expect(r.failures).toEqual({});
    // Everything placed was punched or truncated away: nothing is mapped, no page is used.
    for (const off of [0, 2 * 2 ** 20]) expect(vm.proc.pagemap(vm.primary + off).present).toBe(false);
    expect(r.timeline.find((t) => t.kind === 'place')!.detail).toBe('4 MiB at +0x0, mapped by 2 MiB leaves');
    expect(r.timeline.filter((t) => t.kind === 'punch' || t.kind === 'truncate').map((t) => t.detail)).toEqual([
      "guest+0x200000 punched: the page's mapcount is now 0",
      "guest truncated to 0x0: the page's mapcount is now 0",
    ]);
    expect(r.values.mapcountAfterTruncate).toBe(0);
    expect(r.violations).toEqual([]);
  });
});
