/**
 * One paragraph per policy option and design, for `foliosim explain` and the
 * reports: what the design keeps, how it answers, and which thread argued it.
 * docs/POLICIES.md has the full discussion.
 */

export interface PolicyDescription {
  readonly option: string;
  readonly name: string;
  readonly debate: string;
  readonly text: string;
}

export const POLICY_OPTION_TEXT: Readonly<Record<string, string>> = {
  pinAccounting: 'How pins are counted and how folio_maybe_dma_pinned answers (seed 003). It decides what fork copies for the child and whether a pinned page can be COW-shared.',
  exclusivePin: 'FOLL_EXCLUSIVE (seed 002, the June 2024 RFC): an exclusive long-term pin that refuses every other pin, and how it is encoded.',
  s2Recoalesce: "When KVM's stage 2 maps a 2 MiB / 1 GiB range huge again once its pages are all private (or all shared) again (seed 001, kvm_mmu.md section 1.5).",
  gmemHugeShared: 'What a HugeTLB-backed guest_memfd does when one 4 KiB page of a 2 MiB / 1 GiB folio becomes shared (seeds 000 and 001).',
};

export const POLICY_DESCRIPTIONS: readonly PolicyDescription[] = [
  { option: 'pinAccounting', name: 'upstream', debate: 'seed 003', text: 'Linux today: small folios add GUP_PIN_COUNTING_BIAS (1024) to _refcount per pin, large folios count _pincount. Answers per folio, so one pinned 4 KiB page makes fork copy its whole THP; 1024 plain references look pinned too.' },
  { option: 'pinAccounting', name: 'exact', debate: 'seed 003 (b)', text: 'An exact pin count per 4 KiB page in a second, adjacent struct page ("2 adjacent struct pages"). No wrong answers; costs 64 bytes per page of RAM (1.6%).' },
  { option: 'pinAccounting', name: 'pmd-aggregate', debate: 'seed 003 (a)', text: "One counter per PMD entry in the page-table page's struct page (_pt_pad_1), counting in twos. Answers per 2 MiB of the pinning mm, needs the address at unpin, and misses a pin whose page mremap moved or that another mm took." },
  { option: 'pinAccounting', name: 'mm-sticky', debate: 'seed 003 (2020 has_pinned)', text: 'Only MMF_HAS_PINNED: once an mm has pinned anything, fork copies every anonymous page of it. Never loses a pin; copies everything.' },
  { option: 'pinAccounting', name: 'page-sticky', debate: 'seed 003 (c)', text: 'A per-struct-page "was ever pinned" bit, set on the first pin and never cleared: the page is out of play for good, copied at every fork of any process that later gets it and has itself pinned something (MMF_HAS_PINNED gates the question), and never migrated out of ZONE_MOVABLE for a long-term pin.' },
  { option: 'pinAccounting', name: 'pte-bit', debate: 'seed 003 (Linus)', text: 'A software PTE bit set by GUP on the entry it pinned through and read by copy_present_pte at fork. Sticky per mapping (unpin does not know the PTE); moves with mremap; a PMD leaf marks its 2 MiB.' },
  { option: 'exclusivePin', name: 'off', debate: 'seed 002', text: 'Linux today: no FOLL_EXCLUSIVE (is_valid_gup_args refuses it). A hypervisor can only take plain long-term pins, which do not keep other pins away.' },
  { option: 'exclusivePin', name: 'bias', debate: 'seed 002', text: 'The RFC as posted: GUP_PIN_EXCLUSIVE_BIAS (1 << 30) added to _refcount or _pincount. Normal pins on a small folio are left 2^20 - 1 before they would read as exclusive ("one more bit than is really available").' },
  { option: 'gmemHugeShared', name: 'split', debate: 'seeds 000/001 (b), the 1 GiB series RFC v2', text: 'Split the huge folio into 4 KiB folios as soon as a page of it is shared (its vmemmap restored first: HVO undone, ENOMEM possible), so shared pages map and pin one by one; merge it back (HVO redone) when every page is private again. KVM maps it huge only while it is whole.' },
  { option: 's2Recoalesce', name: 'lazy', debate: 'seed 001; Linux 6.12', text: 'Linux: an attribute change only clears KVM_LPAGE_MIXED_FLAG; the next stage-2 fault on an unmapped gfn of the range installs the huge leaf over the table of 4 KiB leaves (kvm_tdp_mmu_map). A guest that only touches pages still mapped at 4 KiB keeps the range split for good.' },
  { option: 's2Recoalesce', name: 'eager', debate: 'seed 001 (Jason Gunthorpe: recover the huge S2 mappings around shared holes)', text: 'Beyond Linux: the attribute change that makes a 2 MiB / 1 GiB range uniform installs the huge leaf at once, if one folio of that size backs the whole range (a merged guest_memfd HugeTLB page, or a host PMD/PUD mapping); one zap of the table and one remote TLB flush, no fault.' },
  { option: 'gmemHugeShared', name: 'no-longterm-pin', debate: 'seed 000 (a), David Hildenbrand; Jason Gunthorpe: "like ZONE_MOVABLE and FOLL_LONGTERM"', text: 'The huge folio stays whole (HVO kept); shared pages are mapped at 4 KiB by the host with folio-wide mapcounts only. FOLL_LONGTERM on them is refused (ENOMEM: the folio is not long-term pinnable and cannot migrate); short-term pins (O_DIRECT) work, and a to-private conversion waits for them in simulated time, EAGAIN after 10 ms. KVM maps the private parts at their best size around the shared holes.' },
  { option: 'gmemHugeShared', name: 'pfnmap', debate: 'seed 000 (c), Jason Gunthorpe', text: 'The huge folio stays whole; the host maps shared pages through a VM_PFNMAP mapping with special PTEs: no refcounts, no mapcounts, so conversions never wait, but every GUP fails with EFAULT: no O_DIRECT, no VFIO.' },
  { option: 'gmemHugeShared', name: 'separate-shared', debate: 'seed 001, Jason Gunthorpe ("the normal CC path")', text: 'The classic confidential-computing layout: guest_memfd holds private memory only, shared pages come from the VMM memfd at the memslot userspace_addr. A conversion discards the side the pages leave (contents lost), and a shared page is allocated twice: in the memfd and in the whole huge folio behind it.' },
  { option: 'exclusivePin', name: 'field', debate: 'seed 002', text: 'What the reviewers asked for: a separate per-folio field, so normal pins keep their 2^21 headroom; costs a word per 4 KiB page while small folios have no spare field.' },
];
