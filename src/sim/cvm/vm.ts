/**
 * A confidential VM for the guest_memfd compare scenarios (issue 8 sections
 * 5-7): guest memory whose 4 KiB pages flip between private and shared.
 *
 *   type sw-protected  a KVM_X86_SW_PROTECTED_VM on a guest_memfd with
 *                      in-place conversion (v8), HugeTLB-backed (RFC v2) at
 *                      hugePage; the VMM converts with
 *                      KVM_SET_MEMORY_ATTRIBUTES2 on the file, as a CoCo
 *                      VMM does on KVM_HC_MAP_GPA_RANGE / memory-fault exits.
 *   type pkvm          a pKVM-like protected VM on the same guest_memfd; the
 *                      guest shares and unshares pages by hypercall, in the
 *                      kernel, without an exit (src/kvm/pkvm.ts).
 *   type shmem         pKVM/Gunyah on shmem (seed 002): no guest_memfd; the
 *                      VMM's memfd, every page donated to the guest by an
 *                      exclusive long-term pin (policy exclusivePin); a page
 *                      is shared by unexc_user_page and made private again
 *                      by re-pinning it exclusively (EBUSY while another pin
 *                      holds it).
 *
 * The guest_memfd's layout follows the kernel's gmemHugeShared design: for
 * 'separate-shared' (the classic CoCo flow) the file has no MMAP flag and the
 * memslot's userspace_addr is a memfd of the same size (the shared side);
 * for the others the file is mapped by the VMM (MAP_SHARED) and the slot is
 * guest_memfd-only. The VMM's view (region `name`) is where host I/O goes:
 * the file's mapping, or the shared-side memfd.
 *
 * Guest accesses run on the VM's vCPU through KVM_RUN (guest code from
 * src/kvm/guest.ts), so they fault through the stage-2 MMU. Which pages are
 * shared is kept as an extent set.
 */
import type { z } from 'zod';
import { ExtentSet } from '../../lib/extent_set.js';
import type { Kernel } from '../../kernel.js';
import type { Process } from '../../process.js';
import { FOLL_EXCLUSIVE, FOLL_LONGTERM, FOLL_WRITE } from '../../kernel_gup.js';
import { SyscallError } from '../../uapi/errors.js';
import { O_RDWR } from '../../uapi/fcntl.js';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE } from '../../uapi/mman.js';
import * as K from '../../uapi/kvm.js';
import { vmList } from '../../kvm/index.js';
import { filemapGetFolio } from '../../mm/filemap.js';
import { GUEST_DONE, type GuestCode, kvmHypercall, readU8, writeU8 } from '../../kvm/guest.js';
import { flag, name, obj, oneOf, pageSize } from '../scenario/types.js';

const PAGE = 4096;
/** Where guest memory starts (4 GiB: aligned for 1 GiB leaves). */
export const CVM_GPA = 2 ** 32;
const HUGE_FLAGS: Record<string, bigint> = { '4KiB': 0n, '2MiB': K.GUEST_MEMFD_FLAG_HUGETLB | K.GUESTMEM_HUGETLB_FLAG_2MB, '1GiB': K.GUEST_MEMFD_FLAG_HUGETLB | K.GUESTMEM_HUGETLB_FLAG_1GB };
const HUGE_BYTES: Record<string, number> = { '4KiB': PAGE, '2MiB': 2 ** 21, '1GiB': 2 ** 30 };
const EXC = FOLL_WRITE | FOLL_LONGTERM | FOLL_EXCLUSIVE;

export const CvmSpec = obj(
  {
    name: name('the VM name (actors name it as their region)'),
    process: name('the VMM process'),
    type: oneOf(['sw-protected', 'pkvm', 'shmem'], 'the VM type'),
    memory: pageSize('the guest memory size'),
    /** The guest_memfd's HugeTLB page size (4KiB: order-0 folios); the kernel needs a pool of it. */
    hugePage: oneOf(['4KiB', '2MiB', '1GiB'], 'the guest_memfd page size').optional(),
    /** At setup, the guest touches one page per 2 MiB of its memory (allocating and mapping it, outside the measured workload). */
    prefault: flag('touch all memory at setup').optional(),
    /** Bytes at the start of guest memory the guest shares at setup (virtio rings, DMA buffers). */
    sharedAtBoot: pageSize('the memory shared at setup').optional(),
  },
  'a confidential VM on guest_memfd (or shmem with exclusive pins)',
);
export type CvmSpec = z.output<typeof CvmSpec>;

/** What a conversion did. */
export interface ConvertResult {
  /** Pages converted, and pages the kernel refused (EAGAIN, ENOMEM, EBUSY). */
  ok: number;
  refused: number;
  /** The errno of the first refusal, or ''. */
  err: string;
}

export class CocoVm {
  readonly proc: Process;
  readonly type: CvmSpec['type'];
  readonly size: number;
  readonly hpage: number;
  /** The VMM's view of guest memory (where its I/O goes). */
  readonly view: number;
  /** Shared pages (offsets / 4 KiB); the rest is private. */
  readonly shared = new ExtentSet();
  /** The gmemHugeShared design the kernel runs ('' for shmem). */
  readonly design: string;
  private vmFd = -1;
  private gmemFd = -1;
  private vcpuFd = -1;
  /** Short-term pins of the VMM's I/O in flight, and when each completes (ns). */
  readonly inflight = new Set<{ pfn: number; until: number }>();
  /** Simulated time at the start of the current conversion, and the ns conversions have waited for pins so far. */
  clock = 0;
  pinWaitNs = 0;
  /** Exits to the VMM that conversions took (KVM_EXIT_HYPERCALL). */
  exits = 0;
  private waitClock = -1;
  private waited = 0;
  /** shmem: the pfn of each page (donated pages keep theirs). */
  private readonly pfns: number[] = [];

  constructor(
    spec: CvmSpec,
    readonly k: Kernel,
    proc: Process,
  ) {
    this.proc = proc;
    this.type = spec.type;
    this.size = spec.memory;
    const hp = spec.hugePage ?? '4KiB';
    this.hpage = HUGE_BYTES[hp]!;
    this.design = spec.type === 'shmem' ? '' : k.policy.gmemHugeShared;
    const p = proc;
    if (spec.type === 'shmem') {
      this.view = this.mapAligned(this.size, () => {
        const fd = p.memfd_create(spec.name, 0);
        p.ftruncate(fd, this.size);
        return fd;
      });
      // The hypervisor takes every page for the guest: exclusive long-term pins.
      const got = k.gup.pin_user_pages(p, this.view, this.size / PAGE, EXC, this.pfns);
      if (got !== this.size / PAGE) throw new Error(`cvm '${spec.name}': donating the shmem pages failed (${got}); exclusivePin must be on`);
      if ((spec.sharedAtBoot ?? 0) > 0) this.convert(0, spec.sharedAtBoot! / PAGE, true);
      return;
    }
    // gmemHugeShared 'no-longterm-pin': a to-private conversion waits for the VMM's short-term pins in simulated time.
    k.setGmemPinWaiter((ns) => this.waitForPins(ns));
    const kvm = p.open('/dev/kvm', O_RDWR);
    this.vmFd = p.ioctl(kvm, K.KVM_CREATE_VM, spec.type === 'pkvm' ? K.KVM_VM_TYPE_PKVM_LIKE : K.KVM_X86_SW_PROTECTED_VM);
    p.close(kvm);
    const separate = this.design === 'separate-shared';
    this.gmemFd = p.ioctl(this.vmFd, K.KVM_CREATE_GUEST_MEMFD, { size: this.size, flags: HUGE_FLAGS[hp]! | (separate ? 0n : K.GUEST_MEMFD_FLAG_MMAP) });
    this.view = this.mapAligned(this.size, () => {
      if (!separate) return this.gmemFd;
      const fd = p.memfd_create(`${spec.name}-shared`, 0);
      p.ftruncate(fd, this.size);
      return fd;
    });
    p.ioctl(this.vmFd, K.KVM_SET_USER_MEMORY_REGION2, {
      slot: 1,
      flags: K.KVM_MEM_GUEST_MEMFD,
      guest_phys_addr: CVM_GPA,
      memory_size: this.size,
      userspace_addr: this.view,
      guest_memfd: this.gmemFd,
      guest_memfd_offset: 0,
    });
    this.vcpuFd = p.ioctl(this.vmFd, K.KVM_CREATE_VCPU, 0);
    // The CoCo flow: the guest asks for conversions with KVM_HC_MAP_GPA_RANGE, which exits to the VMM.
    if (spec.type === 'sw-protected') p.ioctl(this.vmFd, K.KVM_ENABLE_CAP, { cap: K.KVM_CAP_EXIT_HYPERCALL, flags: 0, args: [1 << K.KVM_HC_MAP_GPA_RANGE, 0, 0, 0] });
    if (spec.prefault === true) this.prefault();
    if ((spec.sharedAtBoot ?? 0) > 0) this.convert(0, spec.sharedAtBoot! / PAGE, true);
  }

  /** The guest touches one page per 2 MiB of its memory. */
  prefault(): void {
    const all: number[] = [];
    for (let pg = 0; pg < this.size / PAGE; pg += 512) all.push(pg);
    this.touch(all, false);
  }

  /** MAP_SHARED of fd (made by open) at an address aligned to the huge page, so KVM may map huge (lpage_info). */
  private mapAligned(size: number, open: () => number): number {
    const p = this.proc;
    const align = Math.max(this.hpage, 2 ** 21);
    const raw = p.mmap(0, size + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    const addr = Math.ceil(raw / align) * align;
    p.munmap(raw, size + align);
    const fd = open();
    p.mmap(addr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
    if (fd !== this.gmemFd) p.close(fd);
    return addr;
  }

  /** Run guest code on the vCPU to its end (shmem: no vCPU, the body runs on the VMM's view). */
  guest(body: () => GuestCode, onHypercall?: (run: K.KvmRun) => void): void {
    const p = this.proc;
    const code = function* () {
      yield* body();
      yield* GUEST_DONE();
    };
    p.kvm_vcpu_guest(this.vcpuFd, code());
    for (let i = 0; i < 64; i++) {
      const r = p.ioctl(this.vcpuFd, K.KVM_RUN, 0);
      const run = p.kvm_run(this.vcpuFd);
      if (r === 0 && run.exit_reason === K.KVM_EXIT_IO && run.ucall?.cmd === 4) return;
      if (run.exit_reason === K.KVM_EXIT_HLT) return;
      if (run.exit_reason === K.KVM_EXIT_HYPERCALL && onHypercall !== undefined) {
        this.exits++;
        onHypercall(run);
      }
    }
    throw new Error('cvm: the guest did not finish');
  }

  /** The guest touches one byte of each of these pages (offsets / 4 KiB): write puts tag there. */
  touch(pages: readonly number[], write: boolean, tag = 0): void {
    if (this.type === 'shmem') {
      for (const pg of pages) {
        if (write) this.proc.write(this.view + pg * PAGE, Uint8Array.of(tag));
        else this.proc.read(this.view + pg * PAGE, 1);
      }
      return;
    }
    this.guest(function* () {
      for (const pg of pages) {
        if (write) yield* writeU8(CVM_GPA + pg * PAGE, tag);
        else yield* readU8(CVM_GPA + pg * PAGE);
      }
    });
  }

  /**
   * Convert pages [pg, pg + n) to shared (toShared) or private: the VMM's
   * ioctl (sw-protected), the guest's hypercalls one page at a time (pkvm),
   * or unexc / exclusive re-pin per page (shmem).
   */
  convert(pg: number, n: number, toShared: boolean): ConvertResult {
    const res: ConvertResult = { ok: 0, refused: 0, err: '' };
    /** Pages that converted (offsets). */
    const done: number[] = [];
    const refuse = (err: string) => {
      res.refused++;
      if (res.err === '') res.err = err;
    };
    if (this.type === 'sw-protected') {
      // The guest's KVM_HC_MAP_GPA_RANGE exits; the VMM converts the file's pages and answers (QEMU's kvm_convert_memory).
      const attrs = toShared ? K.KVM_MAP_GPA_RANGE_DECRYPTED : K.KVM_MAP_GPA_RANGE_ENCRYPTED;
      let ret = 0;
      this.guest(
        function* () {
          ret = yield* kvmHypercall(K.KVM_HC_MAP_GPA_RANGE, CVM_GPA + pg * PAGE, n, attrs);
        },
        (run) => {
          try {
            this.proc.ioctl(this.gmemFd, K.KVM_SET_MEMORY_ATTRIBUTES2, { offset: pg * PAGE, size: n * PAGE, attributes: toShared ? 0 : K.KVM_MEMORY_ATTRIBUTE_PRIVATE, flags: 0 });
            run.hypercall.ret = 0;
          } catch (e) {
            if (!(e instanceof SyscallError)) throw e;
            res.err = e.code;
            run.hypercall.ret = -e.errno;
          }
        },
      );
      if (ret === 0) for (let i = pg; i < pg + n; i++) done.push(i);
      else {
        // All or nothing.
        const err = res.err;
        res.err = '';
        res.refused = n - 1;
        refuse(err === '' ? `${ret}` : err);
      }
    } else if (this.type === 'pkvm') {
      const rets: number[] = [];
      this.guest(function* () {
        for (let i = 0; i < n; i++) rets.push(yield* kvmHypercall(toShared ? K.ARM_SMCCC_VENDOR_HYP_KVM_MEM_SHARE_FUNC_ID : K.ARM_SMCCC_VENDOR_HYP_KVM_MEM_UNSHARE_FUNC_ID, CVM_GPA + (pg + i) * PAGE));
      });
      rets.forEach((r, i) => {
        if (r === K.SMCCC_RET_SUCCESS) done.push(pg + i);
        else refuse(r === -11 ? 'EAGAIN' : r === -12 ? 'ENOMEM' : `SMCCC ${r}`);
      });
    } else {
      const gup = this.k.gup;
      for (let i = pg; i < pg + n; i++) {
        const pfn = this.pfns[i]!;
        if (toShared) {
          if (gup.unexc_user_page(pfn) === 0) done.push(i);
          else refuse('EINVAL');
          continue;
        }
        // Drop the VMM's normal pin and take the exclusive one back; another pin (host I/O) makes that EBUSY.
        gup.unpin_user_page(pfn);
        if (gup.pin_user_pages(this.proc, this.view + i * PAGE, 1, EXC, []) === 1) done.push(i);
        else {
          gup.pin_user_pages(this.proc, this.view + i * PAGE, 1, FOLL_WRITE | FOLL_LONGTERM, []);
          refuse('EBUSY');
        }
      }
    }
    res.ok = done.length;
    for (const i of done) {
      if (toShared) this.shared.union(i, i + 1);
      else this.shared.subtract(i, i + 1);
    }
    return res;
  }

  isShared(pg: number): boolean {
    return this.shared.has(pg);
  }

  /** A random shared page of [a, b), or -1 if none is. */
  randomShared(rng: { int(lo: number, hi: number): number }, a: number, b: number): number {
    const runs: [number, number][] = [];
    let total = 0;
    this.shared.forEach((x, y) => {
      const s = Math.max(a, x);
      const e = Math.min(b, y);
      if (s < e) {
        runs.push([s, e]);
        total += e - s;
      }
    }, a, b);
    if (total === 0) return -1;
    let i = rng.int(0, total - 1);
    for (const [s, e] of runs) {
      if (i < e - s) return s + i;
      i -= e - s;
    }
    return -1;
  }

  /** The guest stores v at byte offset off of its memory. */
  touchAt(off: number, v: number): void {
    if (this.type === 'shmem') {
      this.proc.write(this.view + off, Uint8Array.of(v));
      return;
    }
    this.guest(function* () {
      yield* writeU8(CVM_GPA + off, v);
    });
  }

  /** The byte the guest reads at byte offset off of its memory. */
  guestReadAt(off: number): number {
    if (this.type === 'shmem') return this.proc.read(this.view + off, 1)[0]!;
    let v = -1;
    this.guest(function* () {
      v = yield* readU8(CVM_GPA + off);
    });
    return v;
  }

  /** An I/O completed: its short-term pin goes (unless a waiting conversion already let it complete). */
  completeIo(pfn: number): void {
    for (const io of this.inflight) {
      if (io.pfn !== pfn) continue;
      this.inflight.delete(io);
      this.k.gup.unpin_user_page(pfn);
      return;
    }
  }

  /**
   * A conversion waits ns for short-term pins (gmemHugeShared
   * 'no-longterm-pin'): the I/O that completes by then unpins.
   */
  waitForPins(ns: number): void {
    if (this.waitClock !== this.clock) {
      this.waitClock = this.clock;
      this.waited = 0;
    }
    this.waited += ns;
    this.pinWaitNs += ns;
    const at = this.clock + this.waited;
    for (const io of [...this.inflight]) {
      if (io.until > at) continue;
      this.inflight.delete(io);
      this.k.gup.unpin_user_page(io.pfn);
    }
  }

  /** The pfn of the first huge page of guest memory (its head; 0 before it is allocated). */
  firstPfn(): number {
    if (this.type === 'shmem') return this.pfns[0] ?? 0;
    const host = this.k.host;
    for (const kvm of vmList(host)) {
      for (const g of kvm.gmems) {
        const f = filemapGetFolio(g.inode.mapping, 0);
        if (f !== 0) return host.ft.pfn[f]! - (host.ft.pfn[f]! % Math.max(1, this.hpage / PAGE));
      }
    }
    return 0;
  }

  /** The VM's stage-2 counters (null for shmem). */
  mmu(): ReturnType<Kernel['kvmStats']>[number] | null {
    if (this.type === 'shmem') return null;
    return this.k.kvmStats().find((s) => s.memslots > 0) ?? null;
  }
}
