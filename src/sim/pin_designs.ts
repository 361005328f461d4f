/**
 * The pin-accounting designs of seed 003 side by side, on one workload: a VMM
 * whose guest RAM is THP-backed and partly pinned by a device, that forks a
 * helper and keeps running. Every design runs the same syscalls; what differs
 * is what folio_maybe_dma_pinned answers, and so what fork copies and whether
 * a pin survives.
 *
 * The workload, in order:
 *  1. guest RAM (256 MiB, 2 MiB aligned, THP) is mapped and written;
 *  2. a virtio ring of 8 pages is PTE-mapped (an mprotect split) and pinned;
 *  3. a device long-term-pins one 4 KiB buffer in each 16 MiB, and one whole
 *     2 MiB region (FOLL_WRITE | FOLL_LONGTERM, as VFIO does);
 *  4. a pipe holds 2048 FOLL_GET references on one more small page (vmsplice),
 *     and an O_DIRECT read lands in 16 pages of one THP of guest RAM: a
 *     short-term pin (pin_user_pages_fast, FOLL_WRITE), released when the I/O
 *     completes, before the fork;
 *  5. the VMM moves one pinned buffer page with mremap (memory hot-plug moving
 *     a region), to a different 2 MiB range;
 *  6. the VMM forks a helper (snapshot/migration thread) that stays alive;
 *  7. the VMM writes all of guest RAM again (the guest keeps running);
 *  8. the pins are checked: a pinned page the VMM no longer maps at the pinned
 *     address is one whose DMA the guest will never see.
 */
import { FOLL_GET, FOLL_LONGTERM, FOLL_WRITE } from '../kernel_gup.js';
import { Kernel, type PinAccountingReport } from '../kernel.js';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MREMAP_FIXED, MREMAP_MAYMOVE, PROT_READ, PROT_WRITE } from '../uapi/mman.js';

const MiB = 2 ** 20;
const PAGE = 4096;

export interface DesignRow extends PinAccountingReport {
  /** Pages pinned in the workload. */
  pinnedPages: number;
  /** Pages fork copied for the child. */
  forkCopies: number;
  /** Pinned pages the VMM no longer maps where it pinned them: the device's DMA is lost to it. */
  pinsLostAfterWrites: number;
  /** The oracle's findings at the end (a design that loses pins breaks Linux's invariants). */
  violations: string[];
}

export interface DesignOptions {
  guestMiB?: number;
}

/** Run the workload under one pin-accounting design. */
export function runPinDesign(pinAccounting: string, opts: DesignOptions = {}): DesignRow {
  const guest = (opts.guestMiB ?? 256) * MiB;
  const k = new Kernel({ memory: '2GiB', thp: 'always', policy: { pinAccounting } });
  const vmm = k.spawn();
  const RW = PROT_READ | PROT_WRITE;
  const raw = vmm.mmap(0, guest + 2 * MiB, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  const ram = Math.ceil(raw / (2 * MiB)) * 2 * MiB;
  vmm.fill(ram, guest, 0x11);

  const pinned: { addr: number; pfn: number }[] = [];
  const pin = (addr: number, n: number, flags: number): void => {
    const pages: number[] = [];
    const got = k.gup.pin_user_pages(vmm, addr, n, flags, pages);
    if (got !== n) throw new Error(`pin of ${n} pages at 0x${addr.toString(16)} gave ${got}`);
    for (let i = 0; i < n; i++) pinned.push({ addr: addr + i * PAGE, pfn: pages[i]! });
  };

  // 2. The virtio ring: PTE-mapped small pages.
  const ring = ram + 2 * MiB;
  vmm.mprotect(ring + PAGE, PAGE, PROT_READ);
  vmm.mprotect(ring + PAGE, PAGE, RW);
  pin(ring, 8, FOLL_WRITE);
  // 3. Device buffers, one per 16 MiB, and one whole 2 MiB region.
  for (let off = 16 * MiB; off < guest; off += 16 * MiB) pin(ram + off + 5 * PAGE, 1, FOLL_WRITE | FOLL_LONGTERM);
  pin(ram + 8 * MiB, 512, FOLL_WRITE | FOLL_LONGTERM);
  // 4. A pipe's references on a small page.
  const spliced = ram + 4 * MiB;
  vmm.mprotect(spliced + PAGE, PAGE, PROT_READ);
  vmm.mprotect(spliced + PAGE, PAGE, RW);
  const gets: number[] = [];
  for (let i = 0; i < 2048; i++) k.gup.get_user_pages(vmm, spliced, 1, FOLL_GET, gets);
  // ... and an O_DIRECT read into guest RAM: pinned for the I/O, unpinned when it completes.
  const dio: number[] = [];
  if (k.gup.pin_user_pages_fast(vmm, ram + 6 * MiB + 16 * PAGE, 16, FOLL_WRITE, dio) !== 16) throw new Error('O_DIRECT pin failed');
  k.gup.unpin_user_pages(dio, 16);
  // 5. Move one pinned buffer page to another 2 MiB range.
  const moved = pinned.find((p) => p.addr === ram + 16 * MiB + 5 * PAGE)!;
  const target = ram + guest - 2 * MiB + 7 * PAGE;
  vmm.munmap(target, PAGE);
  vmm.mremap(moved.addr, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, target);
  vmm.mmap(moved.addr, PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  moved.addr = target;
  // 6. Fork a helper that stays alive.
  const before = k.events();
  const helper = vmm.fork();
  const after = k.events();
  // 7. The guest keeps writing.
  vmm.fill(ram, guest, 0x22);
  // 8. Which pins still see the VMM's memory?
  const lost = pinned.filter((p) => vmm.pagemap(p.addr).pfn !== p.pfn).length;
  const violations = [...new Set(k.check().map((v) => v.name))];
  const row: DesignRow = {
    ...k.pinAccounting(),
    pinnedPages: pinned.length,
    forkCopies: after.fork_copy! - before.fork_copy!,
    pinsLostAfterWrites: lost,
    violations,
  };
  k.gup.unpin_user_pages(pinned.map((p) => p.pfn), pinned.length);
  for (const g of gets) k.gup.put_page(g);
  helper.exit();
  vmm.exit();
  return row;
}

/** The workload under every design, in the registry's order. */
export function comparePinDesigns(names: readonly string[], opts: DesignOptions = {}): DesignRow[] {
  return names.map((n) => runPinDesign(n, opts));
}
