/** The README's five-minute tour, executed: every commented result is asserted. */
import { expect, it } from 'vitest';
import type { SignalError, SyscallError } from '../src/index.js';
import { Kernel } from '../src/index.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE } from '../src/uapi/index.js';

it('README tour', () => {
  const kernel = new Kernel({ memory: '64GiB' });
  const p = kernel.spawn();
  const a = p.mmap(0, 4 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  p.fill(a, 4 << 20, 0xaa);
  expect(p.pagemap(a)).toMatchObject({ present: true, exclusive: true, mappedBy: 2097152 });
  expect(kernel.folio(p.pagemap(a).pfn)).toMatchObject({ order: 9, refcount: 1, mapcount: 1, entireMapcount: 1 });
  const child = p.fork();
  p.write(a + 4096, new Uint8Array([1]));
  expect(child.read(a + 4096, 1)).toEqual(new Uint8Array([0xaa]));
  expect(kernel.events().thp_split_pmd).toBe(1);
  let code = '';
  try {
    p.munmap(a + 1, 4096);
  } catch (e) {
    code = (e as SyscallError).code;
  }
  expect(code).toBe('EINVAL');
  let sig = '';
  try {
    p.read(0x1000, 1);
  } catch (e) {
    sig = (e as SignalError).signal;
  }
  expect(sig).toBe('SIGSEGV');
  const fd = p.memfd_create('guest', 0);
  p.ftruncate(fd, 1 << 20);
  const s = p.mmap(0, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  p.fill(s, 1 << 20, 7);
  expect(kernel.meminfo().Shmem).toBe(1024);
  expect(p.smaps().length).toBeGreaterThan(0);
  expect(kernel.kpageflags(p.pagemap(a).pfn)).toBeGreaterThan(0);
  expect(kernel.check()).toEqual([]);
  const pages: number[] = [];
  expect(kernel.gup.pin_user_pages(p, a + 8192, 1, 0, pages)).toBe(1);
  p.fill(a + 8192, 4096, 0x55);
  expect(kernel.folio(pages[0]!)?.maybeDmaPinned).toBe(true);
  expect(p.pagemap(a + 8192).pfn === pages[0]).toBe(true);
  kernel.gup.unpin_user_pages(pages, 1);
  expect(kernel.check()).toEqual([]);
  const exact = new Kernel({ memory: '1GiB', policy: { pinAccounting: 'exact' } });
  expect(exact.pinAccounting().metadataBytes).toBe(16777216);
});

it('README: the first screen is real `foliosim compare` output, and the code example runs', async () => {
  const { readFileSync } = await import('node:fs');
  const { compareScenarios, loadNamed, renderMarkdown, renderTable } = await import('../src/report/index.js');
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const block = /```console\n\$ npx foliosim compare exclusive-pin\n([\s\S]*?)\n```/.exec(readme);
  expect(block).not.toBeNull();
  const report = await compareScenarios([loadNamed('exclusive-pin')]);
  // What the command prints on a 124-column terminal without colour.
  expect(renderTable(report, { color: false, width: 124 }).trimEnd()).toBe(block![1]);
  expect(report.scenarios[0]!.verdict.startsWith('field (separate word) is best on host pins of guest pages')).toBe(true);
  expect(renderMarkdown(report)).toContain('| Metric | off (plain long-term pin) | bias (the RFC) | field (separate word) |');
  expect(new Kernel({ memory: '1GiB' }).costEstimate().totalNs).toBeGreaterThanOrEqual(0);
}, 60_000);

it('README: the guest_memfd tour, a 4 KiB page of a 1 GiB HugeTLB page converted in place', async () => {
  const { kvmGuest: G, SignalError } = await import('../src/index.js');
  const U = await import('../src/uapi/index.js');
  const { readFileSync } = await import('node:fs');
  // The block this test mirrors is in the README.
  expect(readFileSync(new URL('../README.md', import.meta.url), 'utf8')).toContain("k.gmemStats()[0];   // { design: 'split', splitHugePages: 1, vmemmapBytes: 16777216, sharedPages: 1, ... }");
  const k = new Kernel({ memory: '4GiB', hugetlb: { '1GiB': 1 }, kvm: { guestMemfd: 'mainline', inPlaceConversion: true, hugetlb: true } });
  const p = k.spawn();
  const vm = p.ioctl(p.open('/dev/kvm', U.O_RDWR), U.KVM_CREATE_VM, U.KVM_X86_SW_PROTECTED_VM);
  const gmem = p.ioctl(vm, U.KVM_CREATE_GUEST_MEMFD, { size: 1 << 30, flags: U.GUEST_MEMFD_FLAG_MMAP | U.GUEST_MEMFD_FLAG_HUGETLB | U.GUESTMEM_HUGETLB_FLAG_1GB });
  p.ioctl(vm, U.KVM_SET_USER_MEMORY_REGION2, { slot: 0, flags: U.KVM_MEM_GUEST_MEMFD, guest_phys_addr: 0, memory_size: 1 << 30, userspace_addr: 0, guest_memfd: gmem, guest_memfd_offset: 0 });
  const host = p.mmap(0, 1 << 30, U.PROT_READ | U.PROT_WRITE, U.MAP_SHARED, gmem, 0);
  const vcpu = p.ioctl(vm, U.KVM_CREATE_VCPU, 0);
  p.kvm_vcpu_guest(
    vcpu,
    (function* () {
      yield* G.writeU8(0x5000, 42);
      yield* G.GUEST_SYNC(0);
    })(),
  );
  p.ioctl(vcpu, U.KVM_RUN, 0);
  expect(p.kvm_run(vcpu).exit_reason).toBe(U.KVM_EXIT_IO);
  expect(() => p.read(host + 0x5000, 1)).toThrow(SignalError);
  expect(k.gmemStats()[0]).toMatchObject({ design: 'split', splitHugePages: 0 });
  p.ioctl(gmem, U.KVM_SET_MEMORY_ATTRIBUTES2, { offset: 0x5000, size: 4096, attributes: 0, flags: 0 });
  expect(p.read(host + 0x5000, 1)).toEqual(new Uint8Array([42]));
  expect(k.gmemStats()[0]).toMatchObject({ design: 'split', splitHugePages: 1, vmemmapBytes: 16777216, sharedPages: 1 });
  expect(k.check()).toEqual([]);
});
