/**
 * Guest code for the model's vCPUs, shaped so that KVM selftests port almost
 * line by line (tools/testing/selftests/kvm/include/ucall_common.h and
 * x86/processor.h): a guest is a generator function that yields guest
 * operations; KVM_RUN runs it until an operation exits to userspace.
 *
 *   function* guestCode(): GuestCode {
 *     const v = yield* readU64(GPA);          // a load through the stage-2 MMU
 *     yield* writeU64(GPA, v + 1n);
 *     yield* GUEST_SYNC(1);                   // KVM_EXIT_IO, run.ucall = { cmd: UCALL_SYNC, args: [1] }
 *     const ret = yield* kvmHypercall(KVM_HC_MAP_GPA_RANGE, gpa, 1, attrs);
 *     yield* GUEST_DONE();
 *   }
 *
 * Loads and stores of GPAs without a memslot exit with KVM_EXIT_MMIO (8 bytes
 * at a time); private GPAs are served by guest_memfd. Values are little-endian.
 */
import type { GuestCode } from './kvm_host.js';

export type { GuestCode } from './kvm_host.js';

/** The operations a guest yields. */
export type GuestOp =
  /** scalar: the bytes come back in a buffer the vCPU reuses (at most 8; the caller reads them before its next yield). */
  | { op: 'read'; gpa: number; len: number; shared?: boolean; scalar?: boolean }
  | { op: 'write'; gpa: number; bytes: Uint8Array; shared?: boolean }
  | { op: 'fill'; gpa: number; len: number; byte: number; shared?: boolean }
  | { op: 'hypercall'; nr: number; args: number[] }
  | { op: 'ucall'; cmd: number; args: (number | bigint)[]; message?: string }
  | { op: 'hlt' };

/** enum ucall commands (ucall_common.h). */
export const UCALL_NONE = 0;
export const UCALL_SYNC = 1;
export const UCALL_ABORT = 2;
export const UCALL_PRINTF = 3;
export const UCALL_DONE = 4;

type Sub<T> = Generator<GuestOp, T, unknown>;

/**
 * SNP/TDX guests: the access of body goes to gpa as shared (the C-bit clear /
 * TDX's shared GPA bit set); without it a CoCo guest's accesses are private.
 * SW_PROTECTED, pKVM-like and default VMs ignore it (the attribute decides).
 */
export function* sharedAccess<T>(body: Sub<T>): Sub<T> {
  let next = body.next();
  while (next.done !== true) {
    const op = next.value;
    const v: unknown = yield op.op === 'read' || op.op === 'write' || op.op === 'fill' ? { ...op, shared: true } : op;
    next = body.next(v);
  }
  return next.value;
}

/** Load len bytes at gpa. */
export function* readGpa(gpa: number, len: number): Sub<Uint8Array> {
  return (yield { op: 'read', gpa, len }) as Uint8Array;
}

/** Store bytes at gpa. */
export function* writeGpa(gpa: number, bytes: Uint8Array): Sub<void> {
  yield { op: 'write', gpa, bytes };
}

/** memset(gpa, byte, len). */
export function* memsetGpa(gpa: number, byte: number, len: number): Sub<void> {
  yield { op: 'fill', gpa, len, byte: byte & 0xff };
}

/** A 64-bit load (READ_ONCE(*(uint64_t *)gpa)). */
export function* readU64(gpa: number): Sub<bigint> {
  const b = yield* readGpa(gpa, 8);
  return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
}

/** A 64-bit store (WRITE_ONCE). */
export function* writeU64(gpa: number, v: number | bigint): Sub<void> {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, BigInt(v)), true);
  yield* writeGpa(gpa, b);
}

/** A byte load. */
export function* readU8(gpa: number): Sub<number> {
  // readGpa(gpa, 1) without the nested generator or a buffer of its own (a selftest guest reads bytes in its loops).
  return ((yield { op: 'read', gpa, len: 1, scalar: true }) as Uint8Array)[0]!;
}

/** A byte store. */
export function* writeU8(gpa: number, v: number): Sub<void> {
  yield* writeGpa(gpa, Uint8Array.of(v & 0xff));
}

/** VMCALL/VMMCALL: returns what KVM (or userspace, after KVM_EXIT_HYPERCALL) put in rax, as a signed value. */
export function* kvmHypercall(nr: number, a0 = 0, a1 = 0, a2 = 0): Sub<number> {
  return (yield { op: 'hypercall', nr, args: [a0, a1, a2] }) as number;
}

/** GUEST_SYNC(args): a KVM_EXIT_IO that userspace's get_ucall() reads as UCALL_SYNC. */
export function* GUEST_SYNC(...args: (number | bigint)[]): Sub<void> {
  yield { op: 'ucall', cmd: UCALL_SYNC, args };
}

/** GUEST_DONE(). */
export function* GUEST_DONE(): Sub<void> {
  yield { op: 'ucall', cmd: UCALL_DONE, args: [] };
}

/** GUEST_ASSERT: UCALL_ABORT with the message when cond is false. */
export function* GUEST_ASSERT(cond: boolean, message = 'guest assertion failed'): Sub<void> {
  if (!cond) yield { op: 'ucall', cmd: UCALL_ABORT, args: [], message };
}

/** GUEST_ASSERT_EQ. */
export function* GUEST_ASSERT_EQ(a: number | bigint, b: number | bigint): Sub<void> {
  yield* GUEST_ASSERT(BigInt(a) === BigInt(b), `${String(a)} != ${String(b)}`);
}

/** HLT: KVM_EXIT_HLT (no in-kernel APIC in the model). */
export function* hlt(): Sub<void> {
  yield { op: 'hlt' };
}

/** A guest as the model runs it. */
export type GuestFn = () => GuestCode;
