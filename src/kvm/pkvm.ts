/**
 * arm64 pKVM's page sharing for protected guests (the pKVM-like VM type): the
 * guest shares or unshares one page with the host by a hypercall
 * (ARM_SMCCC_VENDOR_HYP_KVM_MEM_SHARE / _UNSHARE, once per 4 KiB granule as
 * upstream's arm-pkvm-guest.c calls them), and the kernel converts it in
 * place in the guest_memfd without an exit to the VMM (seed 001: "under pKVM
 * we might see more frequent conversion, without even going to user space").
 * The page is the same before and after, so its contents are preserved.
 *
 * Simplifications: no EL2 ownership state machine (the page's state is the
 * guest_memfd's attribute); the conversion is v8's (kvmGmemSetAttributes),
 * so it needs in-place conversion (SMCCC_RET_NOT_SUPPORTED without it); an
 * unshare of a page something still references beyond the file (a host pin)
 * is refused with -EAGAIN, which the guest retries, as the safe-refcount
 * check of a to-private conversion refuses it.
 */
import * as K from '../uapi/kvm.js';
import { errno } from '../uapi/errno.js';
import { PAGE_SIZE } from '../mm/page.js';
import { type KvmVcpu, gfnToMemslot, kvmMemIsPrivate, kvmSlotCanBePrivate } from './kvm_host.js';
import { kvmGmemSetAttributes } from './guest_memfd.js';
import { kvmGmemRecoalesce } from './fault.js';

/** Is nr one of pKVM's share/unshare calls, on a VM that takes them? */
export function isPkvmMemCall(vcpu: KvmVcpu, nr: number): boolean {
  return vcpu.kvm.type === K.KVM_VM_TYPE_PKVM_LIKE && (nr === K.ARM_SMCCC_VENDOR_HYP_KVM_MEM_SHARE_FUNC_ID || nr === K.ARM_SMCCC_VENDOR_HYP_KVM_MEM_UNSHARE_FUNC_ID);
}

/**
 * MEM_SHARE (share) or MEM_UNSHARE of the page at ipa: the value the guest
 * gets back (SMCCC_RET_SUCCESS, _NOT_SUPPORTED, _INVALID_PARAMETER, or
 * -EAGAIN / -ENOMEM from the conversion). No exit either way.
 */
// mirrors arch/arm64/kvm/hyp/nvhe/mem_protect.c:__pkvm_guest_share_host / __pkvm_guest_unshare_host (simplified: the host's guest_memfd converts the page in-kernel)
export function pkvmMemShare(vcpu: KvmVcpu, share: boolean, ipa: number): number {
  const kvm = vcpu.kvm;
  const st = kvm.pkvmStats;
  if (!kvm.cfg.inPlaceConversion) return K.SMCCC_RET_NOT_SUPPORTED;
  if (ipa % PAGE_SIZE !== 0) return K.SMCCC_RET_INVALID_PARAMETER;
  const gfn = ipa / PAGE_SIZE;
  const slot = gfnToMemslot(kvm, gfn);
  const gmem = slot?.gmem.file ?? null;
  if (slot === null || !kvmSlotCanBePrivate(slot) || gmem === null || gmem.file === null) return K.SMCCC_RET_INVALID_PARAMETER;
  // The page must be in the state the call leaves (owned by the guest to share, shared to unshare): -EPERM at EL2.
  if (kvmMemIsPrivate(kvm, gfn) !== share) return K.SMCCC_RET_INVALID_PARAMETER;
  const index = gfn - slot.baseGfn + slot.gmem.pgoff;
  const r = kvmGmemSetAttributes(gmem, index * PAGE_SIZE, PAGE_SIZE, share ? 0 : K.KVM_MEMORY_ATTRIBUTE_PRIVATE, 0, false);
  if (r !== null) {
    st.refused++;
    const e = typeof r === 'string' ? r : r.err;
    return -(errno[e] ?? errno.EINVAL);
  }
  if (share) st.shares++;
  else st.unshares++;
  kvmGmemRecoalesce(gmem, index, index + 1);
  return K.SMCCC_RET_SUCCESS;
}
