/**
 * vCPUs and KVM_RUN (mirrors virt/kvm/kvm_main.c kvm_vcpu_ioctl and the x86
 * run loop of arch/x86/kvm/x86.c as far as memory is concerned).
 *
 * A vCPU runs guest code (src/kvm/guest.ts): a generator of guest operations.
 * KVM_RUN resumes it and executes its operations until one exits to
 * userspace:
 *   - a load or store faults through the stage-2 MMU (fault.ts); a GPA with
 *     no memslot is emulated MMIO: KVM_EXIT_MMIO, 8 bytes at a time (a load
 *     completes with run.mmio.data on the next KVM_RUN);
 *   - a private/shared mismatch, a private GPA on a slot without guest_memfd
 *     or a closed guest_memfd: KVM_RUN fails with EFAULT and run holds
 *     KVM_EXIT_MEMORY_FAULT (the access retries on the next KVM_RUN);
 *   - pKVM-like VMs: MEM_SHARE / MEM_UNSHARE of one page is converted in
 *     the kernel (pkvm.ts) and returns to the guest without an exit;
 *   - KVM_HC_MAP_GPA_RANGE with KVM_CAP_EXIT_HYPERCALL: KVM_EXIT_HYPERCALL
 *     (the guest gets run.hypercall.ret on the next KVM_RUN); otherwise the
 *     guest gets -KVM_ENOSYS or -KVM_EINVAL without an exit;
 *   - a ucall (GUEST_SYNC, GUEST_DONE, GUEST_ASSERT): KVM_EXIT_IO on
 *     UCALL_PIO_PORT, with run.ucall decoded;
 *   - HLT or the end of the guest code: KVM_EXIT_HLT.
 * A vCPU without guest code fetches at the reset vector: with no memslot
 * there it exits KVM_EXIT_INTERNAL_ERROR (emulation failure), as 6.12 does.
 *
 * The model has no vCPU threads: a guest that spins without exiting is
 * interrupted after GUEST_OPS_PER_RUN operations with KVM_EXIT_INTR and
 * EINTR, as a signal to the vCPU thread would, so the host can act in
 * between.
 */
import { modPow2, pow2 } from '../lib/pow2.js';
import type { ErrnoName } from '../uapi/errno.js';
import { errno, errnoName } from '../uapi/errno.js';
import { _IOC_TYPEBITS } from '../uapi/ioctl.js';
import { O_CLOEXEC, O_RDWR } from '../uapi/fcntl.js';
import { cULong, copyStructFromUser, copyStructToUser, resultSize } from '../uapi/ctypes.js';
import * as K from '../uapi/kvm.js';
import { Ev } from '../cost/counters.js';
import { PAGE_SIZE } from '../mm/page.js';
import { anonInodeGetfile } from '../fs/anon_inodes.js';
import type { FsFileOps, OpenFile, Task } from '../fs/file.js';
import type { Vfs } from '../fs/inode.js';
import { type GuestCode, type Kvm, type KvmVcpu, gfnToMemslot } from './kvm_host.js';
import type { GuestOp } from './guest.js';
import { $lastFault, RetPf, kvmNpfErrorCode, kvmS2Translate, kvmTdpPageFault } from './fault.js';
import { PAGES_PER_LEVEL } from './kvm_host.js';
import { isPkvmMemCall, pkvmMemShare } from './pkvm.js';
import { newVcpuStat } from './stats.js';

/** Guest operations one KVM_RUN executes before the model interrupts it (a signal to the vCPU thread). */
export const GUEST_OPS_PER_RUN = 1 << 16;
/** KVM_EXIT_INTR (a signal interrupted KVM_RUN). */
const KVM_EXIT_INTR = 10;
/** The x86 reset vector's GPA (0xfffffff0). */
const RESET_VECTOR = 0xfffffff0;

/** A resumable memory operation: bytes done so far. */
interface PendingAccess {
  kind: 'access';
  op: Extract<GuestOp, { op: 'read' | 'write' | 'fill' }>;
  done: number;
  out: Uint8Array | null;
  /** A load's MMIO chunk waiting for run.mmio.data. */
  mmioLen: number;
}

interface PendingHypercall {
  kind: 'hypercall';
}

type Pending = PendingAccess | PendingHypercall | null;

function newRun(): K.KvmRun {
  return {
    exit_reason: K.KVM_EXIT_UNKNOWN,
    io: { direction: 0, size: 0, port: 0, count: 0 },
    mmio: { phys_addr: 0, data: new Uint8Array(8), len: 0, is_write: 0 },
    hypercall: { nr: 0, args: [0, 0, 0, 0, 0, 0], ret: 0, flags: 0 },
    memory_fault: { flags: 0, gpa: 0, size: 0 },
    internal: { suberror: 0 },
    ucall: null,
  };
}

/** A new vCPU of kvm and its file (the caller installs it); the file holds a VM reference. */
// mirrors virt/kvm/kvm_main.c:kvm_vm_ioctl_create_vcpu (-> create_vcpu_fd)
export function kvmVcpuCreate(vfs: Vfs, kvm: Kvm, id: number): OpenFile {
  const vcpu: KvmVcpu = { kvm, id, run: newRun(), guest: null, pending: null, resume: undefined, finished: false, file: null, scalarBuf: new Uint8Array(8), accessRec: { kind: 'access', op: null, done: 0, out: null, mmioLen: 0 }, stat: newVcpuStat() };
  kvm.vcpus.push(vcpu);
  kvm.refs++;
  const fOp: FsFileOps = {
    unlockedIoctl: (_f, cmd, arg, current) => kvmVcpuIoctl(vcpu, cmd, arg, current),
    release: () => {
      vcpu.file = null;
      kvmPutHook(kvm);
    },
  };
  const file = anonInodeGetfile(vfs, `anon_inode:kvm-vcpu:${id}`, fOp, O_RDWR | O_CLOEXEC, vcpu);
  vcpu.file = file;
  return file;
}

let kvmPutHook: (kvm: Kvm) => void = () => {};
/** kvm_put_kvm, given by kvm_main.ts (which imports this module). */
export function setVcpuKvmPut(fn: (kvm: Kvm) => void): void {
  kvmPutHook = fn;
}

/** The VM is going away: the vCPU's guest stops. */
export function kvmVcpuDestroy(vcpu: KvmVcpu): void {
  vcpu.guest = null;
  vcpu.pending = null;
}

/** The vCPU behind a file, or null. */
export function vcpuOfFile(file: OpenFile): KvmVcpu | null {
  const v = file.privateData as KvmVcpu | null;
  return v !== null && typeof v === 'object' && 'run' in v && 'kvm' in v ? v : null;
}

/** Model: give the vCPU its guest code (what vm_create_with_one_vcpu(&vcpu, guest_code) loads). */
export function kvmVcpuSetGuest(vcpu: KvmVcpu, code: GuestCode): void {
  vcpu.guest = code;
  vcpu.pending = null;
  vcpu.resume = undefined;
  vcpu.finished = false;
}

// mirrors virt/kvm/kvm_main.c:kvm_vcpu_ioctl
function kvmVcpuIoctl(vcpu: KvmVcpu, cmd: number, arg: unknown, current: Task): number | ErrnoName {
  const kvm = vcpu.kvm;
  if (kvm.mm !== current.mm || kvm.dead || kvm.destroyed) return 'EIO';
  if (((cmd >>> 8) & ((1 << _IOC_TYPEBITS) - 1)) !== K.KVMIO) return 'EINVAL';
  if (cmd === K.KVM_RUN) {
    // KVM_RUN takes no argument: anything but 0 is EINVAL (0 itself, the common case, needs no conversion).
    if (arg !== undefined && arg !== 0 && cULong(arg) !== 0n) return 'EINVAL';
    const r = kvmArchVcpuIoctlRun(vcpu);
    if (kvm.host.trace !== null) kvm.host.trace('kvm_userspace_exit', kvmUserspaceExitFields(vcpu.run.exit_reason, r));
    return r;
  }
  if (cmd === K.KVM_PRE_FAULT_MEMORY) {
    const r = copyStructFromUser(arg, ['gpa', 'size', 'flags']);
    if (r === null) return 'EFAULT';
    const range = { gpa: cULong(r.gpa), size: cULong(r.size), flags: cULong(r.flags) };
    if (range.gpa === null || range.size === null || range.flags === null) return 'EFAULT';
    const ret = kvmVcpuPreFaultMemory(vcpu, range as { gpa: bigint; size: bigint; flags: bigint });
    // Pass back the leftover range.
    if (!copyStructToUser(arg, { gpa: resultSize(range.gpa!), size: resultSize(range.size!) })) return 'EFAULT';
    return ret;
  }
  // kvm_arch_vcpu_ioctl: nothing else the model has.
  return 'EINVAL';
}

/** The exit reasons trace_kvm_userspace_exit names (kvm_trace_exit_reason), by value. */
const EXIT_REASON_NAMES = [
  'UNKNOWN', 'EXCEPTION', 'IO', 'HYPERCALL', 'DEBUG', 'HLT', 'MMIO', 'IRQ_WINDOW_OPEN', 'SHUTDOWN', 'FAIL_ENTRY',
  'INTR', 'SET_TPR', 'TPR_ACCESS', 'S390_SIEIC', 'S390_RESET', 'DCR', 'NMI', 'INTERNAL_ERROR', 'OSI', 'PAPR_HCALL',
  'S390_UCONTROL', 'WATCHDOG', 'S390_TSCH', 'EPR', 'SYSTEM_EVENT', 'S390_STSI', 'IOAPIC_EOI', 'HYPERV', 'ARM_NISV',
  'X86_RDMSR', 'X86_WRMSR',
];

/**
 * kvm_userspace_exit's fields for a KVM_RUN that returned r: "reason
 * KVM_EXIT_<name> (<n>)"; a reason the list does not name prints in hex, as
 * __print_symbolic does; a failed run prints "error" ("restart" for EINTR)
 * and the errno.
 */
// mirrors include/trace/events/kvm.h:kvm_userspace_exit
export function kvmUserspaceExitFields(reason: number, r: number | ErrnoName): string {
  if (typeof r === 'string') {
    const e = errno[r];
    return `reason ${r === 'EINTR' ? 'restart' : 'error'} (${e})`;
  }
  const name = EXIT_REASON_NAMES[reason];
  return `reason ${name !== undefined ? `KVM_EXIT_${name}` : `0x${reason.toString(16)}`} (${reason})`;
}

/** kvm_run.io of a ucall exit: always the same 4-byte OUT to the ucall port (one frozen object, not one per exit). */
const UCALL_IO = Object.freeze({ direction: K.KVM_EXIT_IO_OUT, size: 4, port: K.UCALL_PIO_PORT, count: 1 });

/** Exit to userspace with reason, counting the exit in vcpu->stat. */
function exit(vcpu: KvmVcpu, reason: number): number {
  vcpu.run.exit_reason = reason;
  vcpu.kvm.host.ev[Ev.VM_EXIT]++;
  const st = vcpu.stat;
  // The stage-2 fault behind an MMIO exit was counted as a hardware exit when it was taken.
  if (reason === K.KVM_EXIT_MMIO) st.mmio_exits++;
  else {
    st.exits++;
    if (reason === K.KVM_EXIT_IO) st.io_exits++;
    else if (reason === K.KVM_EXIT_HLT) st.halt_exits++;
  }
  return 0;
}

// mirrors arch/x86/kvm/x86.c:kvm_arch_vcpu_ioctl_run (-> complete_userspace_io, vcpu_run)
function kvmArchVcpuIoctlRun(vcpu: KvmVcpu): number | ErrnoName {
  const run = vcpu.run;
  if (vcpu.guest === null || vcpu.finished) {
    if (vcpu.guest === null && gfnToMemslot(vcpu.kvm, RESET_VECTOR / PAGE_SIZE) === null) {
      // The first instruction fetch hits no memslot and cannot be emulated.
      run.internal = { suberror: K.KVM_INTERNAL_ERROR_EMULATION };
      return exit(vcpu, K.KVM_EXIT_INTERNAL_ERROR);
    }
    return exit(vcpu, K.KVM_EXIT_HLT);
  }
  // complete_userspace_io: finish what the last exit left.
  const p = vcpu.pending as Pending;
  if (p !== null && p.kind === 'hypercall') {
    // complete_hypercall_exit.
    vcpu.stat.hypercalls++;
    vcpu.pending = null;
    vcpu.resume = Number(BigInt.asIntN(64, BigInt(run.hypercall.ret)));
  } else if (p !== null && p.kind === 'access' && p.mmioLen > 0) {
    if (p.out !== null) p.out.set(run.mmio.data.subarray(0, p.mmioLen), p.done);
    p.done += p.mmioLen;
    p.mmioLen = 0;
  }
  for (let ops = 0; ops < GUEST_OPS_PER_RUN; ops++) {
    let pa = vcpu.pending as Pending;
    if (pa === null) {
      const step = vcpu.guest.next(vcpu.resume);
      vcpu.resume = undefined;
      if (step.done === true) {
        vcpu.finished = true;
        return exit(vcpu, K.KVM_EXIT_HLT);
      }
      const op = step.value as GuestOp;
      switch (op.op) {
        case 'read':
        case 'write':
        case 'fill':
          // The vCPU's one access record, filled anew (it is free: nothing is pending).
          pa = vcpu.accessRec as PendingAccess;
          pa.op = op;
          pa.done = 0;
          pa.out = op.op !== 'read' ? null : op.scalar === true && op.len <= 8 ? vcpu.scalarBuf : new Uint8Array(op.len);
          pa.mmioLen = 0;
          vcpu.pending = pa;
          break;
        case 'hypercall': {
          const r = kvmEmulateHypercall(vcpu, op.nr, op.args);
          if (r === null) return exit(vcpu, K.KVM_EXIT_HYPERCALL);
          // Handled in the kernel: a VMMCALL exit and a completed hypercall.
          vcpu.stat.exits++;
          vcpu.stat.hypercalls++;
          vcpu.resume = r;
          continue;
        }
        case 'ucall':
          run.io = UCALL_IO;
          run.ucall = op.message !== undefined ? { cmd: op.cmd, args: op.args.slice(), message: op.message } : { cmd: op.cmd, args: op.args.slice() };
          return exit(vcpu, K.KVM_EXIT_IO);
        case 'hlt':
          return exit(vcpu, K.KVM_EXIT_HLT);
        default:
          throw new TypeError(`guest yielded an unknown operation ${JSON.stringify(op)}`);
      }
    }
    const r = guestAccess(vcpu, pa as PendingAccess);
    if (r !== null) return r;
    vcpu.resume = (pa as PendingAccess).out ?? undefined;
    vcpu.pending = null;
  }
  // A signal to the vCPU thread: KVM_RUN returns EINTR (kvm_handle_signal_exit), after the interrupt's exit.
  run.exit_reason = KVM_EXIT_INTR;
  vcpu.stat.exits++;
  vcpu.stat.signal_exits++;
  return 'EINTR';
}

/**
 * Run a load or store from where it stopped: page by page through the
 * stage-2 MMU. null when it completed; else the KVM_RUN result (0 after an
 * MMIO exit, an errno for a failed fault).
 */
function guestAccess(vcpu: KvmVcpu, p: PendingAccess): number | ErrnoName | null {
  const kvm = vcpu.kvm;
  const host = kvm.host;
  const op = p.op;
  const write = op.op !== 'read';
  const len = op.op === 'write' ? op.bytes.length : op.len;
  let retries = 0;
  while (p.done < len) {
    const gpa = op.gpa + p.done;
    const gfn = Math.floor(gpa / PAGE_SIZE);
    // SNP/TDX: the access carries its privacy (the C-bit / shared bit); other VMs ignore it.
    const priv = kvm.privacyFromHardware ? op.shared !== true : undefined;
    const pfn = kvmS2Translate(kvm, gfn, write, priv);
    if (pfn < 0) {
      // svm.c:npf_interception's trace (the model has no guest RIP: 0).
      if (host.trace !== null) host.trace('kvm_page_fault', `vcpu ${vcpu.id} rip 0x0 address 0x${gpa.toString(16).padStart(16, '0')} error_code 0x${kvmNpfErrorCode(kvm, write, priv).toString(16)}`);
      const r = kvmTdpPageFault(vcpu, gfn, write, priv);
      // kvm_mmu_page_fault's accounting of a nested page fault exit.
      const st = vcpu.stat;
      st.exits++;
      st.pf_taken++;
      if (r === RetPf.FIXED) st.pf_fixed++;
      else if (r === RetPf.EMULATE) st.pf_emulate++;
      if (r === RetPf.FIXED || r === RetPf.RETRY) {
        if (++retries > 64) throw new Error(`stage-2 fault at gpa 0x${gpa.toString(16)} does not resolve`);
        continue;
      }
      if (r === RetPf.EMULATE) return mmioExit(vcpu, p, gpa, len);
      return errnoName(-r) ?? 'EFAULT';
    }
    retries = 0;
    const off = modPow2(gpa, PAGE_SIZE);
    const n = Math.min(len - p.done, PAGE_SIZE - off);
    const f = host.pfnFolio(pfn);
    const fOff = (pfn - host.ft.pfn[f]!) * PAGE_SIZE + off;
    const nr = pow2(host.ft.order[f]!);
    if (op.op === 'read') host.content.read(f, fOff, p.out!, p.done, n);
    else if (op.op === 'write') host.content.write(f, nr, fOff, op.bytes, p.done, n);
    else host.content.fill(f, nr, fOff, n, op.byte);
    p.done += n;
  }
  return null;
}

/** KVM_EXIT_MMIO for the next (at most 8-byte) piece of an access to a GPA without a memslot. */
// mirrors arch/x86/kvm/x86.c:emulator_read_write (-> vcpu_mmio_read / the MMIO exit)
function mmioExit(vcpu: KvmVcpu, p: PendingAccess, gpa: number, len: number): number {
  const n = Math.min(8, len - p.done, PAGE_SIZE - modPow2(gpa, PAGE_SIZE));
  const run = vcpu.run;
  const data = new Uint8Array(8);
  const op = p.op;
  if (op.op === 'write') data.set(op.bytes.subarray(p.done, p.done + n));
  else if (op.op === 'fill') data.fill(op.byte, 0, n);
  run.mmio = { phys_addr: gpa, data, len: n, is_write: op.op === 'read' ? 0 : 1 };
  // A store is complete once it exits; a load completes with the data userspace provides.
  if (op.op === 'read') p.mmioLen = n;
  else p.done += n;
  if (p.done >= len) vcpu.pending = null;
  return exit(vcpu, K.KVM_EXIT_MMIO);
}

/**
 * A hypercall: the value the guest gets in rax, or null after preparing a
 * KVM_EXIT_HYPERCALL (the guest gets run.hypercall.ret on the next KVM_RUN).
 */
// mirrors arch/x86/kvm/x86.c:__kvm_emulate_hypercall (KVM_HC_MAP_GPA_RANGE)
function kvmEmulateHypercall(vcpu: KvmVcpu, nr: number, args: number[]): number | null {
  // pKVM-like VMs: share/unshare one page in the kernel, no exit (pkvm.ts).
  if (isPkvmMemCall(vcpu, nr)) return pkvmMemShare(vcpu, nr === K.ARM_SMCCC_VENDOR_HYP_KVM_MEM_SHARE_FUNC_ID, args[0] ?? 0);
  if (nr !== K.KVM_HC_MAP_GPA_RANGE) return -K.KVM_ENOSYS;
  const kvm = vcpu.kvm;
  if (!(kvm.hypercallExitEnabled & (1 << K.KVM_HC_MAP_GPA_RANGE))) return -K.KVM_ENOSYS;
  const gpa = args[0] ?? 0;
  const npages = args[1] ?? 0;
  const attrs = args[2] ?? 0;
  const gfn = Math.floor(gpa / PAGE_SIZE);
  if (gpa % PAGE_SIZE !== 0 || npages === 0 || gfn + npages > 2 ** 52) return -K.KVM_EINVAL;
  const run = vcpu.run;
  run.hypercall = { nr: K.KVM_HC_MAP_GPA_RANGE, args: [gpa, npages, attrs, 0, 0, 0], ret: 0, flags: K.KVM_EXIT_HYPERCALL_LONG_MODE };
  vcpu.pending = { kind: 'hypercall' } satisfies PendingHypercall;
  return null;
}

/**
 * KVM_PRE_FAULT_MEMORY: map [gpa, gpa + size) in stage 2 as read faults
 * would, advancing range past what was mapped. 0 if anything was mapped,
 * else the first error: EINVAL (flags, alignment, wrap), ENOENT (no memslot:
 * it would be MMIO), EFAULT (a memory-fault exit), ENOMEM.
 */
// mirrors virt/kvm/kvm_main.c:kvm_vcpu_pre_fault_memory (-> arch/x86/kvm/mmu/mmu.c:kvm_arch_vcpu_pre_fault_memory)
function kvmVcpuPreFaultMemory(vcpu: KvmVcpu, range: { gpa: bigint; size: bigint; flags: bigint }): number | ErrnoName {
  if (range.flags !== 0n) return 'EINVAL';
  const P = BigInt(PAGE_SIZE);
  if (range.gpa % P !== 0n || range.size % P !== 0n || range.gpa + range.size <= range.gpa || range.gpa + range.size > (1n << 64n) - 1n) return 'EINVAL';
  const full = range.size;
  let r: number | ErrnoName = 0;
  do {
    const m = kvmTdpMapPage(vcpu, Number(range.gpa / P));
    if (typeof m === 'string') {
      r = m;
      break;
    }
    // The mapping covering gpa may be huge: it maps up to its end.
    const per = BigInt(PAGES_PER_LEVEL[m]!) * P;
    const end = (range.gpa / per) * per + per;
    const done = range.size < end - range.gpa ? range.size : end - range.gpa;
    range.size -= done;
    range.gpa += done;
  } while (range.size > 0n);
  return full === range.size ? r : 0;
}

/** Fault gfn in as a read (private if its attribute says so): the level mapped, or an errno. */
// mirrors arch/x86/kvm/mmu/mmu.c:kvm_tdp_map_page
function kvmTdpMapPage(vcpu: KvmVcpu, gfn: number): number | ErrnoName {
  for (let tries = 0; tries < 64; tries++) {
    const r = kvmTdpPageFault(vcpu, gfn, false);
    if (r === RetPf.RETRY) continue;
    if (r < 0) return errnoName(-r) ?? 'EFAULT';
    if (r === RetPf.FIXED) return $lastFault.level;
    if (r === RetPf.EMULATE) return 'ENOENT';
    return 'EIO';
  }
  return 'EIO';
}
