/**
 * guest_memfd (mirrors virt/kvm/guest_memfd.c): a file whose pages back a
 * VM's memory. The inode is the storage (its page cache holds order-0 folios,
 * or HugeTLB folios with the RFC v2 flag, allocated lazily and zeroed when
 * first given out); the file (struct kvm_gmem) is one VM's view, with the
 * bindings of file ranges to memslots.
 *
 * As in 6.12 (the Kernel option kvm.guestMemfd '6.12', the default): no
 * creation flags, no read/write (read and write fail with EINVAL, pread and
 * pwrite with ESPIPE), no mmap (ENODEV), ftruncate EINVAL; fallocate
 * allocates (KEEP_SIZE) or punches holes (KEEP_SIZE|PUNCH_HOLE), and a punch
 * zaps the VM's stage-2 mappings of the range first
 * (kvm_gmem_invalidate_begin/end, not MMU notifiers). Closing the file leaves
 * its memslots without backing (later private faults exit with
 * KVM_EXIT_MEMORY_FAULT); the pages live until the inode goes.
 *
 * Mainline (kvm.guestMemfd 'mainline'): GUEST_MEMFD_FLAG_MMAP lets the host
 * mmap the file (MAP_SHARED only); a host fault maps a 4 KiB page at a shared
 * index and is SIGBUS at a private one or beyond i_size. INIT_SHARED starts
 * every index shared. A slot bound to an MMAP file is "guest_memfd only": its
 * shared faults are served from the file too.
 *
 * In-place conversion v8 (kvm.inPlaceConversion): the shared/private
 * attributes live in the file (KvmGmem.privateIdx, extents), and the file's
 * ioctl KVM_SET_MEMORY_ATTRIBUTES2 converts ranges: to private unmaps the host
 * mappings, then refuses with EAGAIN (error_offset written back) if a folio
 * has references beyond the page cache's (a GUP pin); contents are never
 * touched; KVM's stage-2 mappings of the range are invalidated.
 *
 * HugeTLB backing (kvm.hugetlb, the 1 GiB series RFC v2 encoding): the file
 * reserves size / page size pages of the hstate in a subpool of its own at
 * creation (ENOMEM if the pool cannot); folios are whole HugeTLB pages, so
 * KVM may map them at 2 MiB or 1 GiB; a punch frees the huge pages it covers
 * whole (EAGAIN if one has an extra reference) and only zeroes the parts of
 * the others.
 *
 * Simplifications: no NUMA policy, no hwpoison, no kvm_gmem_populate
 * (SNP/TDX launch); the gmem invalidation zaps every leaf of the range
 * (Linux filters shared or private by the attributes); no per-CPU LRU-add
 * batches, so the safe-refcount check never drains.
 *
 * A HugeTLB page with a shared page in it (policy gmemHugeShared 'split',
 * the RFC v2's restructuring) is split into 4 KiB folios (its vmemmap
 * restored first: HVO undone, which can fail with ENOMEM), so that the shared
 * pages can be mapped and pinned one by one; once every page of it is private
 * again it is merged back (HVO redone). A huge folio therefore only ever backs
 * an all-private range, and KVM maps it huge; the pieces map at 4 KiB. The
 * split page keeps one reference on each piece (hugetlbSplitFolio), so a
 * piece's "safe" refcount is the page cache's plus that one.
 *
 * The other gmemHugeShared designs (seeds 000/001; docs/POLICIES.md) keep the
 * huge folio whole, and KVM maps the largest aligned block of it whose
 * attributes are uniform: 'no-longterm-pin' maps shared pages of the HugeTLB
 * folio at 4 KiB in host page tables, refuses FOLL_LONGTERM on it (its
 * mapping's gupPolicy) and makes a to-private conversion wait for short-term
 * pins (GMEM_PIN_WAIT_MAX_NS); 'pfnmap' maps them with special PTEs of a
 * VM_PFNMAP VMA; 'separate-shared' refuses host mmap of a HugeTLB file and
 * discards the side pages leave on conversion. gmemReport gives the metrics.
 */
import { modPow2, pow2 } from '../lib/pow2.js';
import type { ErrnoName } from '../uapi/errno.js';
import { errno } from '../uapi/errno.js';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE } from '../uapi/falloc.js';
import { O_LARGEFILE, O_RDWR, S_IFREG } from '../uapi/fcntl.js';
import { ANON_INODE_FS_MAGIC } from '../uapi/magic.js';
import { cU64Bounded, copyStructToUser } from '../uapi/ctypes.js';
import * as K from '../uapi/kvm.js';
import { ExtentSet } from '../lib/extent_set.js';
import { PG, folioNrPages } from '../mm/folio.js';
import { type AddressSpace, FaultFlag, FMode, VmFault, type File, type SuperBlock, type VmFaultArgs, type VmOperations } from '../mm/fs_types.js';
import { filemapAddFolio, filemapAddFolios, filemapAddLazyPieces, filemapGetFolio, filemapRemoveLazyPieces, truncateInodePagesRange } from '../mm/filemap.js';
import { type Hstate, hugepagePutSubpool, hugetlbAddToPageCache, hugetlbFileAllocFolio, hugetlbFileSubpool } from '../mm/hugetlb.js';
import { hugetlbMaterializeRange, hugetlbMaterializeSplit, hugetlbMergeFolio, hugetlbSplitFolioLazy, lazyRunAt } from '../mm/hugetlb_split.js';
import { warn } from '../mm/debug.js';
import { unmapMappingPages, vmfInsertPfn, zapPageRangeSingle } from '../mm/memory.js';
import { VM, type Vma } from '../mm/mm_types.js';
import { findVma } from '../mm/vma.js';
import { folioVmemmapOptimized, hugetlbVmemmapBytes } from '../mm/hugetlb_vmemmap.js';
import { CostModel } from '../cost/model.js';
import { Ev } from '../cost/counters.js';
import { PAGE_SIZE } from '../mm/page.js';
import { NodeStat } from '../mm/vmstat.js';
import { GFP_KERNEL } from '../mm/page_alloc.js';
import { folioAddLru } from '../mm/rmap.js';
import { type FsFileOps, OpenFile } from '../fs/file.js';
import type { Vfs } from '../fs/inode.js';
import { MAX_LFS_FILESIZE } from '../fs/shmem.js';
import { type GmemHugeShared, type Kvm, type KvmConfig, type KvmGmem, type KvmMemorySlot, kvmMemslotIsGmemOnly, newGmemDesignCounters } from './kvm_host.js';
import { kvmFlushRemoteTlbs, kvmMmuInvalidateBegin, kvmMmuInvalidateEnd, kvmMmuInvalidateRangeAdd, kvmUnmapGfnRange } from './mmu.js';

/** The anonymous-inode pseudo file system (pseudo_fs_fill_super gives it MAX_LFS_FILESIZE). */
const gmemSb: SuperBlock = { fsType: 'anon_inodefs', blockSize: PAGE_SIZE, maxBytes: MAX_LFS_FILESIZE, magic: ANON_INODE_FS_MAGIC, dev: 14 };
/** Unevictable, unmovable and not swap-backed (mapping_set_inaccessible). */
const gmemAops = { swapbacked: false, writeback: false };
const PAGE = BigInt(PAGE_SIZE);
/** 2^64 - 1 as a number (2^64 exactly): a u64 sum above it wrapped. */
const U64_NUMBER = 2 ** 64;

/** The guest_memfd behind a file, or null if it is not one (file->f_op != &kvm_gmem_fops). */
export function gmemOfFile(file: File): KvmGmem | null {
  const o = file as OpenFile;
  const g = o.privateData;
  return (o.fOp === gmemFops612 || o.fOp === gmemFops) && g !== null ? (g as KvmGmem) : null;
}

// mirrors virt/kvm/guest_memfd.c:kvm_gmem_fops (6.12: no mmap, no ioctl)
const gmemFops612: FsFileOps = {
  fallocate: (file, mode, offset, len) => kvmGmemFallocate(file as OpenFile, mode, offset, len),
  release: (file) => kvmGmemRelease(file),
};

// mirrors virt/kvm/guest_memfd.c:kvm_gmem_fops (mainline: mmap; v8: the attributes ioctl)
const gmemFops: FsFileOps = {
  ...gmemFops612,
  mmap: (file, vma) => kvmGmemMmap(file as OpenFile, vma),
  unlockedIoctl: (file, cmd, arg) => kvmGmemIoctl(file, cmd, arg),
};

/** The creation flags a VM (null: /dev/kvm) accepts: none in 6.12. */
// mirrors virt/kvm/guest_memfd.c:kvm_gmem_get_supported_flags (RFC v2 adds the HugeTLB flag and its size bits)
export function kvmGmemSupportedFlags(cfg: KvmConfig, kvm: Kvm | null): bigint {
  if (cfg.guestMemfd !== 'mainline') return 0n;
  let flags = K.GUEST_MEMFD_FLAG_MMAP;
  if (kvm === null || kvm.supportsGmemInitShared) flags |= K.GUEST_MEMFD_FLAG_INIT_SHARED;
  if (cfg.hugetlb) flags |= K.GUEST_MEMFD_FLAG_HUGETLB | (K.GUESTMEM_HUGETLB_FLAG_MASK << K.GUESTMEM_HUGETLB_FLAG_SHIFT);
  return flags;
}

/**
 * KVM_CREATE_GUEST_MEMFD after the argument checks: a new [kvm-gmem] file of
 * size bytes (the caller installs it), or ENOMEM when HugeTLB backing cannot
 * reserve its pages. It holds a reference on the VM.
 */
// mirrors virt/kvm/guest_memfd.c:__kvm_gmem_create (RFC v2: kvm_gmem_hugetlb_setup -> guestmem_hugetlb_setup)
export function kvmGmemCreateFile(vfs: Vfs, kvm: Kvm, size: number, flags: number, hstate: Hstate | null): OpenFile | ErrnoName {
  const host = kvm.host;
  let spool = null;
  if (hstate !== null) {
    spool = hugetlbFileSubpool(host, hstate, size / hstate.size);
    if (spool === null) return 'ENOMEM';
  }
  const inode = vfs.newInode(gmemSb, S_IFREG | 0o600, gmemAops, (i) => kvmGmemEvictInode(i.fsInfo as KvmGmem));
  inode.size = BigInt(size);
  // mirrors the 1 GiB series RFC v2's kvm_gmem_hugetlb_setup (inode->i_blkbits = huge_page_shift(h)): st_blksize is the huge page size
  if (hstate !== null) inode.blockSize = hstate.size;
  const privateIdx = new ExtentSet();
  // Every index starts PRIVATE unless INIT_SHARED.
  if (!(flags & Number(K.GUEST_MEMFD_FLAG_INIT_SHARED))) privateIdx.union(0, size / PAGE_SIZE);
  const gmem: KvmGmem = { kvm, inode, file: null, flags, bindings: [], privateIdx, hstate, spool, counters: newGmemDesignCounters() };
  inode.fsInfo = gmem;
  // The design's GUP rules (and its count of refused GUP calls) hang on the mapping, where mm/gup.c looks.
  if (hstate !== null) inode.mapping.gupPolicy = { noLongtermHuge: kvm.cfg.hugeShared === 'no-longterm-pin', refused: 0 };
  // O_RDWR without read/write operations: no FMODE_CAN_READ/WRITE, no PREAD/PWRITE (alloc_file).
  const fops = kvm.cfg.guestMemfd === 'mainline' ? gmemFops : gmemFops612;
  const file = new OpenFile(vfs, inode, FMode.READ | FMode.WRITE, O_RDWR | O_LARGEFILE, fops, 'anon_inode:[kvm-gmem]');
  file.privateData = gmem;
  gmem.file = file;
  kvm.refs++;
  kvm.gmems.add(gmem);
  return file;
}

/** The inode goes: its pages, then (HugeTLB) its subpool with the reservations left. */
// mirrors virt/kvm/guest_memfd.c:kvm_gmem_evict_inode (RFC v2: guestmem_hugetlb_teardown)
function kvmGmemEvictInode(gmem: KvmGmem): void {
  const host = gmem.kvm.host;
  if (gmem.hstate === null) truncateInodePagesRange(host, gmem.inode.mapping, 0n, -1n);
  else gmemHugetlbTruncate(gmem, 0, Number.MAX_SAFE_INTEGER, false);
  if (gmem.spool !== null) hugepagePutSubpool(host, gmem.spool);
  gmem.spool = null;
}

// ---------------------------------------------------------------------------
// Invalidation: zap the stage-2 mappings of bound file pages [start, end).

// mirrors virt/kvm/guest_memfd.c:kvm_gmem_invalidate_begin
function kvmGmemInvalidateBegin(gmem: KvmGmem, start: number, end: number): void {
  const kvm = gmem.kvm;
  let found = false;
  let flush = false;
  for (const b of gmem.bindings) {
    if (b.end <= start || b.start >= end) continue;
    const pgoff = b.slot.gmem.pgoff;
    const gs = b.slot.baseGfn + Math.max(pgoff, start) - pgoff;
    const ge = b.slot.baseGfn + Math.min(pgoff + b.slot.npages, end) - pgoff;
    if (!found) {
      found = true;
      kvmMmuInvalidateBegin(kvm);
    }
    kvmMmuInvalidateRangeAdd(kvm, gs, ge);
    if (b.slot.asId === 0 && kvmUnmapGfnRange(kvm, gs, ge)) flush = true;
  }
  if (flush) kvmFlushRemoteTlbs(kvm);
}

// mirrors virt/kvm/guest_memfd.c:kvm_gmem_invalidate_end
function kvmGmemInvalidateEnd(gmem: KvmGmem, start: number, end: number): void {
  for (const b of gmem.bindings) {
    if (b.end > start && b.start < end) {
      kvmMmuInvalidateEnd(gmem.kvm);
      return;
    }
  }
}

// ---------------------------------------------------------------------------
// Folios.

/**
 * The folio holding index, allocated (order 0 not yet zeroed: not yet
 * "prepared"; a HugeTLB page comes zeroed from its pool) if missing; with a
 * reference for the caller.
 */
// mirrors virt/kvm/guest_memfd.c:kvm_gmem_get_folio (filemap_grab_folio; RFC v2: kvm_gmem_hugetlb_get_folio)
function kvmGmemGetFolio(gmem: KvmGmem, index: number): number | ErrnoName {
  const host = gmem.kvm.host;
  const mapping = gmem.inode.mapping;
  let f = filemapGetFolio(mapping, index);
  if (f !== 0) {
    host.folioGet(f);
    return f;
  }
  const h = gmem.hstate;
  if (h !== null) {
    // One page of the file's subpool, at the huge index holding index (RFC v2: ENOMEM if it is used up).
    f = hugetlbFileAllocFolio(host, gmem.spool!);
    if (f < 0) return 'ENOMEM';
    const base = index - modPow2(index, h.nrPages);
    hugetlbAddToPageCache(host, f, mapping, base / h.nrPages);
    // A page with a shared page in it is split at once (RFC v2: kvm_gmem_get_folio restructures after allocating).
    if (gmemDesign(gmem) === 'split' && !gmem.privateIdx.covers(base, base + h.nrPages)) {
      host.folioPut(f);
      const r = gmemSplitHugePage(gmem, base);
      if (r !== null) return r;
      f = filemapGetFolio(mapping, index);
      host.folioGet(f);
    }
    return f;
  }
  // GFP_HIGHUSER: not movable (guest_memfd pages cannot migrate).
  f = host.folioAlloc(0, GFP_KERNEL);
  if (f === 0) return 'ENOMEM';
  // Fresh pages hold old data; the model starts them at zero, but only
  // preparation (kvm_gmem_prepare_folio) clears them and marks them up to date.
  host.content.setUniform(f, 0);
  filemapAddFolio(host, mapping, f, index);
  folioAddLru(host, f);
  return f;
}

/** Zero a folio the first time it is handed out (to the guest or to a host mapping). */
// mirrors virt/kvm/guest_memfd.c:kvm_gmem_prepare_folio (the clear_highpage under !folio_test_uptodate)
function kvmGmemPrepareFolio(gmem: KvmGmem, f: number): void {
  const host = gmem.kvm.host;
  if (host.ft.flags[f]! & PG.UPTODATE) return;
  host.zeroFolio(f);
  host.ft.flags[f]! |= PG.UPTODATE;
}

/** The head pfn of the HugeTLB page holding file page index, if that page is split; else -1. */
function gmemSplitHead(gmem: KvmGmem, index: number): number {
  const host = gmem.kvm.host;
  // A page split lazily, whose pieces may not be made yet.
  const lazy = lazyRunAt(gmem.inode.mapping, index - modPow2(index, gmem.hstate!.nrPages));
  if (lazy !== null) return lazy.head;
  const f = filemapGetFolio(gmem.inode.mapping, index);
  if (f === 0 || host.ft.flags[f]! & PG.HUGETLB) return -1;
  const nr = gmem.hstate!.nrPages;
  const head = host.ft.pfn[f]! - modPow2(host.ft.pfn[f]!, nr);
  return host.hugetlb.split.has(head) ? head : -1;
}

/** The references a folio of the file has when nothing but the file (and, for a piece of a split page, the split page) holds it. */
function gmemSafeRefcount(gmem: KvmGmem, f: number): number {
  const host = gmem.kvm.host;
  const nr = folioNrPages(host.ft, f);
  if (gmem.hstate === null) return nr;
  // A whole huge folio ('no-longterm-pin'): the host PTEs of its other, still shared pages hold a reference each.
  if (host.ft.flags[f]! & PG.HUGETLB) return nr + host.ft.mapcount[f]! + 1;
  return nr + 1;
}

/** The design of a HugeTLB-backed file; null for order-0 folios (no huge folio to keep whole or split). */
export function gmemDesign(gmem: KvmGmem): GmemHugeShared | null {
  return gmem.hstate === null ? null : gmem.kvm.cfg.hugeShared;
}

/** Take a HugeTLB-backed file's folio out of its page cache, keeping its data state (the caller holds a reference). */
function gmemCacheRemove(gmem: KvmGmem, f: number): void {
  const ft = gmem.kvm.host.ft;
  gmem.inode.mapping.pages.delete(ft.index[f]!, ft.order[f]!);
  gmemCacheUnaccount(gmem, f);
}

/** What taking f out of the file's page cache does besides removing the entry: counters, owner, the cache's references. */
function gmemCacheUnaccount(gmem: KvmGmem, f: number): void {
  const host = gmem.kvm.host;
  const ft = host.ft;
  const nr = folioNrPages(ft, f);
  gmem.inode.mapping.nrpages -= nr;
  if (!(ft.flags[f]! & PG.HUGETLB)) host.stat[NodeStat.NR_FILE_PAGES] -= nr;
  gmem.inode.blocks -= nr * (PAGE_SIZE / 512);
  ft.owner[f] = null;
  host.folioPut(f, nr);
}

/**
 * Split the HugeTLB page at file index base into 4 KiB folios, replacing
 * its page-cache entry by theirs. ENOMEM (nothing changed) if its vmemmap
 * cannot be restored; EAGAIN if something beyond the file holds it.
 */
// mirrors the 1 GiB series RFC v2's kvm_gmem_split_folio_in_filemap (-> guestmem_hugetlb_split_folio)
function gmemSplitHugePage(gmem: KvmGmem, base: number): ErrnoName | null {
  const host = gmem.kvm.host;
  const ft = host.ft;
  const mapping = gmem.inode.mapping;
  // The entry as it is (a lazily split page has none at base until its first piece is made: it is split already).
  const f = mapping.pages.get(base);
  if (f < 0 || !(ft.flags[f]! & PG.HUGETLB)) return null;
  // Refcounts frozen to the filemap's: unexpected references were refused before (RFC: WARN and give up).
  if (warn(host, ft.refcount[f] !== folioNrPages(ft, f), 'guest_memfd: splitting a HugeTLB folio with extra references', 'virt/kvm/guest_memfd.c:kvm_gmem_split_folio_in_filemap')) return 'EAGAIN';
  host.folioGet(f);
  gmemCacheRemove(gmem, f);
  // The pieces are made as they are looked up (hugetlb_split.ts): the split of a 1 GiB page costs the model O(1).
  const lazy = hugetlbSplitFolioLazy(host, f);
  if (typeof lazy === 'number') {
    // Back as it was (the vmemmap could not be restored).
    hugetlbAddToPageCache(host, f, mapping, base / gmem.hstate!.nrPages);
    host.folioPut(f);
    return 'ENOMEM';
  }
  // Each piece keeps the split page's reference and gets the page cache's.
  filemapAddLazyPieces(host, mapping, lazy, base);
  gmem.inode.blocks += lazy.nr * (PAGE_SIZE / 512);
  return null;
}

/**
 * Merge the split HugeTLB page at file index base back into one folio (its
 * pieces must hold only the page cache's and the split page's references).
 * false, nothing changed, if a piece is busy.
 */
// mirrors the 1 GiB series RFC v2's kvm_gmem_merge_folio_in_filemap (-> guestmem_hugetlb_merge_folio)
function gmemMergeHugePage(gmem: KvmGmem, base: number): boolean {
  const host = gmem.kvm.host;
  const ft = host.ft;
  const h = gmem.hstate!;
  const mapping = gmem.inode.mapping;
  const head = gmemSplitHead(gmem, base);
  if (head < 0) return true;
  // filemapGetFolio of each piece, a leaf at a time; of a lazy split, of the pieces made (the others are as the split left them: idle).
  const lazy = lazyRunAt(mapping, base);
  let pieces: number[] | Int32Array;
  if (lazy !== null) pieces = lazy.done.map((k) => mapping.pages.get(base + k));
  else {
    pieces = new Int32Array(h.nrPages);
    mapping.pages.getRun(base, h.nrPages, pieces);
  }
  for (let k = 0; k < pieces.length; k++) {
    const g = pieces[k]!;
    if (g <= 0 || ft.refcount[g] !== 2 || ft.mapcount[g] !== -1) return false;
  }
  // gmemCacheRemove of each piece, the cache's entries taken out a leaf at a time; the split page's reference stays.
  if (lazy === null) mapping.pages.deleteRun(base, pieces.length);
  else for (let i = 0; i < pieces.length; i++) mapping.pages.delete(base + lazy.done[i]!, 0);
  for (const g of pieces) {
    // The lookup's reference, held across the removal, as gmemCacheRemove's callers hold one.
    host.folioGet(g);
    gmemCacheUnaccount(gmem, g);
    host.folioPut(g);
  }
  if (lazy !== null) {
    const idle = lazy.nr - lazy.done.length;
    filemapRemoveLazyPieces(host, lazy);
    // The lookup's reference on each, taken and dropped as above.
    host.ev[Ev.ATOMIC_REFCOUNT] += 2 * idle;
    gmem.inode.blocks -= idle * (PAGE_SIZE / 512);
  }
  const f = hugetlbMergeFolio(host, head);
  if (f < 0) {
    warn(host, true, 'guest_memfd: merging a split HugeTLB page failed', 'virt/kvm/guest_memfd.c:kvm_gmem_merge_folio_in_filemap');
    // Every piece back in the file, made now.
    hugetlbMaterializeSplit(host, head);
    const all = new Int32Array(h.nrPages);
    host.memmap.getRun(head, h.nrPages, all);
    filemapAddFolios(host, mapping, all, base);
    gmem.inode.blocks += all.length * (PAGE_SIZE / 512);
    return false;
  }
  hugetlbAddToPageCache(host, f, mapping, base / h.nrPages);
  host.folioPut(f);
  return true;
}

/**
 * Split pages whose file went while a piece was still pinned, by head pfn,
 * with the count of their pieces that hold nothing but the split page's
 * reference (the RFC's stash item and its nr_pages_waiting_to_be_merged).
 * While any wait, the host's folio_put callback counts pieces as their last
 * pin goes; the last one merges the page and frees it to its subpool. The
 * RFC does that merge in a workqueue the callback schedules; the model runs
 * it at once (the selftests sleep for it before they look).
 */
const deferredMerges = new WeakMap<KvmGmem['kvm']['host'], Map<number, { nr: number; idle: number }>>();

/** The head pfns of the split pages waiting for their last pin to go (for the oracle). */
export function gmemDeferredMergeHeads(host: KvmGmem['kvm']['host']): Iterable<number> {
  return deferredMerges.get(host)?.keys() ?? [];
}

/** Take the split page at file index base out of the file and queue its merge. */
// mirrors the 1 GiB series RFC v2's guestmem_hugetlb_free_folio (register the folio_put callback on each piece)
function gmemDeferMerge(gmem: KvmGmem, base: number): void {
  const host = gmem.kvm.host;
  const ft = host.ft;
  const head = gmemSplitHead(gmem, base);
  if (head < 0) return;
  const nr = gmem.hstate!.nrPages;
  // Every piece leaves the file one by one (a rare path: the file went with a piece pinned).
  hugetlbMaterializeSplit(host, head);
  let idle = 0;
  for (let k = 0; k < nr; k++) {
    const g = filemapGetFolio(gmem.inode.mapping, base + k);
    host.folioGet(g);
    gmemCacheRemove(gmem, g);
    host.folioPut(g);
    if (ft.refcount[g] === 1) idle++;
  }
  let q = deferredMerges.get(host);
  if (q === undefined) deferredMerges.set(host, (q = new Map()));
  q.set(head, { nr, idle });
  host.folioPutCallback = (f) => gmemDeferredPut(host, f);
  if (idle === nr) gmemMergeDeferred(host, head);
}

/** The folio_put callback: a piece of a queued split page lost its last pin. */
// mirrors the 1 GiB series RFC v2's guestmem_hugetlb_handle_folio_put -> guestmem_hugetlb_maybe_merge_folio
function gmemDeferredPut(host: KvmGmem['kvm']['host'], f: number): void {
  const q = deferredMerges.get(host);
  if (q === undefined) return;
  const ft = host.ft;
  if (ft.owner[f] !== null || ft.flags[f]! & PG.HUGETLB) return;
  const pfn = ft.pfn[f]!;
  for (const h of host.hugetlb.hstates) {
    const head = pfn - modPow2(pfn, h.nrPages);
    const w = q.get(head);
    if (w === undefined || w.nr !== h.nrPages) continue;
    if (++w.idle === w.nr) gmemMergeDeferred(host, head);
    return;
  }
}

/** Every piece is idle: merge the page back and drop its last reference (to the subpool and the pool). */
// mirrors the 1 GiB series RFC v2's guestmem_hugetlb_cleanup_folio
function gmemMergeDeferred(host: KvmGmem['kvm']['host'], head: number): void {
  const q = deferredMerges.get(host)!;
  q.delete(head);
  if (q.size === 0) host.folioPutCallback = null;
  const f = hugetlbMergeFolio(host, head);
  if (!warn(host, f < 0, 'guest_memfd: merging an idle split HugeTLB page failed', 'mm/guestmem_hugetlb.c:guestmem_hugetlb_merge_folio')) host.folioPut(f);
}

/** After the attributes of [start, end) changed: split the huge pages that now hold a shared page, merge those all private again. */
// mirrors the 1 GiB series RFC v2's kvm_gmem_restructure_folios_in_range
function gmemRestructure(gmem: KvmGmem, start: number, end: number): ErrnoName | null {
  const nr = gmem.hstate!.nrPages;
  const mapping = gmem.inode.mapping;
  for (let base = start - modPow2(start, nr); base < end; base += nr) {
    // Nothing in the file there (a lazily split page has no entry at base until its first piece is made).
    if (mapping.pages.get(base) < 0 && lazyRunAt(mapping, base) === null) continue;
    if (gmem.privateIdx.covers(base, base + nr)) gmemMergeHugePage(gmem, base);
    else {
      const r = gmemSplitHugePage(gmem, base);
      if (r !== null) return r;
    }
  }
  return null;
}

/**
 * Truncate file pages [start, end) of a HugeTLB-backed file: the huge pages
 * it covers whole are merged (if split) and freed; the rest of the range is
 * only zeroed. With check, a page to free with references beyond the file's
 * makes the whole call EAGAIN first.
 */
// mirrors the 1 GiB series RFC v2's kvm_gmem_truncate_inode_range (guestmem_hugetlb: only whole huge pages are freed)
function gmemHugetlbTruncate(gmem: KvmGmem, start: number, end: number, check: boolean): ErrnoName | null {
  const host = gmem.kvm.host;
  const ft = host.ft;
  const mapping = gmem.inode.mapping;
  const nr = gmem.hstate!.nrPages;
  const whole: number[] = [];
  const partial: number[] = [];
  // The walk must see every piece of a split page in the range.
  hugetlbMaterializeRange(host, mapping, start, end);
  mapping.pages.forEach(start, end, (index, _order, f) => {
    const base = index - modPow2(index, nr);
    if (base >= start && base + nr <= end) {
      if (whole[whole.length - 1] !== base) whole.push(base);
    } else partial.push(f);
  });
  if (whole.length > 0) unmapMappingPages(host, mapping, whole[0]!, whole[whole.length - 1]! + nr - 1, false);
  if (check) {
    for (const base of whole) {
      let busy = false;
      mapping.pages.forEach(base, base + nr, (_i, _o, f) => {
        busy = ft.refcount[f] !== gmemSafeRefcount(gmem, f);
        return busy;
      });
      if (busy) return 'EAGAIN';
    }
  }
  for (const f of partial) {
    const index = ft.index[f]!;
    const n = folioNrPages(ft, f);
    const a = Math.max(start, index);
    const b = Math.min(end, index + n);
    host.content.fill(f, n, (a - index) * PAGE_SIZE, (b - a) * PAGE_SIZE, 0);
  }
  for (const base of whole) {
    if (!gmemMergeHugePage(gmem, base)) {
      // Only when the file goes (check off): a piece is still pinned. The pieces leave the file; the merge waits for the pins.
      if (!check) gmemDeferMerge(gmem, base);
      continue;
    }
    const f = filemapGetFolio(mapping, base);
    // The page cache's references go: the page returns to the file's subpool.
    host.folioGet(f);
    gmemCacheRemove(gmem, f);
    ft.flags[f]! &= ~(PG.DIRTY | PG.UPTODATE);
    host.folioPut(f);
  }
  return null;
}

// ---------------------------------------------------------------------------
// fallocate.

// mirrors virt/kvm/guest_memfd.c:kvm_gmem_punch_hole
function kvmGmemPunchHole(gmem: KvmGmem, offset: bigint, len: bigint): ErrnoName | null {
  const start = Number(offset >> 12n);
  const end = Number((offset + len) >> 12n);
  kvmGmemInvalidateBegin(gmem, start, end);
  let r: ErrnoName | null = null;
  if (gmem.hstate === null) truncateInodePagesRange(gmem.kvm.host, gmem.inode.mapping, offset, offset + len - 1n);
  else r = gmemHugetlbTruncate(gmem, start, end, true);
  kvmGmemInvalidateEnd(gmem, start, end);
  return r;
}

// mirrors virt/kvm/guest_memfd.c:kvm_gmem_allocate
function kvmGmemAllocate(gmem: KvmGmem, offset: bigint, len: bigint): ErrnoName | null {
  // The file's size is immutable.
  if (offset + len > gmem.inode.size) return 'EINVAL';
  const host = gmem.kvm.host;
  const end = Number((offset + len) >> 12n);
  for (let index = Number(offset >> 12n); index < end; ) {
    const f = kvmGmemGetFolio(gmem, index);
    if (typeof f === 'string') return f;
    // A HugeTLB folio covers the rest of its huge page.
    index = host.ft.index[f]! + folioNrPages(host.ft, f);
    host.folioPut(f);
  }
  return null;
}

/** ->fallocate, after vfs_fallocate's checks. */
// mirrors virt/kvm/guest_memfd.c:kvm_gmem_fallocate
function kvmGmemFallocate(file: OpenFile, mode: number, offset: bigint, len: bigint): ErrnoName | null {
  const gmem = file.privateData as KvmGmem;
  if (!(mode & FALLOC_FL_KEEP_SIZE)) return 'EOPNOTSUPP';
  if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE)) return 'EOPNOTSUPP';
  if (offset % PAGE !== 0n || len % PAGE !== 0n) return 'EINVAL';
  return mode & FALLOC_FL_PUNCH_HOLE ? kvmGmemPunchHole(gmem, offset, len) : kvmGmemAllocate(gmem, offset, len);
}

// ---------------------------------------------------------------------------
// Host mappings (mainline, GUEST_MEMFD_FLAG_MMAP).

/**
 * The host fault: SIGBUS beyond i_size and at a private index; otherwise the
 * page (allocated and zeroed on first use) mapped at 4 KiB.
 */
// mirrors virt/kvm/guest_memfd.c:kvm_gmem_fault_user_mapping
function kvmGmemFaultUserMapping(vmf: VmFaultArgs): number {
  const gmem = (vmf.vma.file as OpenFile).privateData as KvmGmem;
  if (vmf.pgoff >= gmem.inode.sizePages) return -VmFault.SIGBUS;
  // Mainline: a file without INIT_SHARED is all private; v8: -EACCES from the attributes, VM_FAULT_SIGBUS.
  if (gmem.privateIdx.has(vmf.pgoff)) return -VmFault.SIGBUS;
  const f = kvmGmemGetFolio(gmem, vmf.pgoff);
  if (typeof f === 'string') return -VmFault.OOM;
  kvmGmemPrepareFolio(gmem, f);
  if (vmf.vma.flags & VM.PFNMAP) {
    // 'pfnmap' (seed 000, option c): the page by its pfn, no reference or mapcount kept (vmf_insert_pfn).
    const host = gmem.kvm.host;
    const pfn = host.ft.pfn[f]! + vmf.pgoff - host.ft.index[f]!;
    host.folioPut(f);
    return -vmfInsertPfn(host, vmf.vma, vmf.address, pfn, (vmf.flags & FaultFlag.WRITE) !== 0);
  }
  // A whole HugeTLB folio ('no-longterm-pin') is mapped at 4 KiB: finish_fault maps just this page.
  return f;
}

// mirrors virt/kvm/guest_memfd.c:kvm_gmem_vm_ops (no ->map_pages: no fault-around; the mempolicy ops are not modelled)
const gmemVmOps: VmOperations = {
  name: 'kvm-gmem',
  mapPages: false,
  fault: kvmGmemFaultUserMapping,
};

/** ->mmap: ENODEV without GUEST_MEMFD_FLAG_MMAP, EINVAL unless MAP_SHARED (no COW of guest memory). */
// mirrors virt/kvm/guest_memfd.c:kvm_gmem_mmap
function kvmGmemMmap(file: OpenFile, vma: Vma): ErrnoName | null {
  const gmem = file.privateData as KvmGmem;
  if (!(gmem.flags & Number(K.GUEST_MEMFD_FLAG_MMAP))) return 'ENODEV';
  if ((vma.flags & (VM.SHARED | VM.MAYSHARE)) !== (VM.SHARED | VM.MAYSHARE)) return 'EINVAL';
  vma.ops = gmemVmOps;
  // 'pfnmap': the shared pages are mapped without their struct pages (no refcounts, no GUP).
  if (gmemDesign(gmem) === 'pfnmap') vma.flags |= VM.PFNMAP | VM.DONTEXPAND | VM.DONTDUMP;
  return null;
}

// ---------------------------------------------------------------------------
// In-place conversion (v8): KVM_SET_MEMORY_ATTRIBUTES2 on the file.

/** struct kvm_memory_attributes2 as the caller passes it (any field may hold any JS value). */
interface Attributes2Arg {
  offset?: unknown;
  address?: unknown;
  size?: unknown;
  attributes?: unknown;
  flags?: unknown;
  reserved?: unknown;
}

/**
 * copy_from_user of struct kvm_memory_attributes2: copyStructFromUser's
 * contract (each field read once, in order, an absent one 0; EFAULT, as
 * null, for a non-object or a throwing read) with the field names spelled
 * out, so that the conversion loop's reads are plain property loads.
 */
const $attrs2: Required<Attributes2Arg> = { offset: 0, address: 0, size: 0, attributes: 0, flags: 0, reserved: 0 };
function copyAttributes2FromUser(arg: unknown): Required<Attributes2Arg> | null {
  if (arg === null || (typeof arg !== 'object' && typeof arg !== 'function')) return null;
  const u = arg as Attributes2Arg;
  try {
    const offset = u.offset ?? 0;
    const address = u.address ?? 0;
    const size = u.size ?? 0;
    const attributes = u.attributes ?? 0;
    const flags = u.flags ?? 0;
    const reserved = u.reserved ?? 0;
    // The kernel's copy is on its stack; the model's is one record, read at once by the caller.
    const a = $attrs2;
    a.offset = offset;
    a.address = address;
    a.size = size;
    a.attributes = attributes;
    a.flags = flags;
    a.reserved = reserved;
    return a;
  } catch {
    return null;
  }
}

/** The file's ioctls: only KVM_SET_MEMORY_ATTRIBUTES2, and only in in-place mode (else ENOTTY). */
// mirrors virt/kvm/guest_memfd.c:kvm_gmem_ioctl (v8)
function kvmGmemIoctl(file: OpenFile, cmd: number, arg: unknown): number | ErrnoName {
  const gmem = file.privateData as KvmGmem;
  if (!gmem.kvm.cfg.inPlaceConversion || cmd !== K.KVM_SET_MEMORY_ATTRIBUTES2) return 'ENOTTY';
  const a = copyAttributes2FromUser(arg);
  if (a === null) return 'EFAULT';
  // offset and address are one union field.
  const offset = cU64Bounded(a.offset !== 0 ? a.offset : a.address);
  const size = cU64Bounded(a.size);
  const attributes = cU64Bounded(a.attributes);
  const flags = cU64Bounded(a.flags);
  if (offset === null || size === null || attributes === null || flags === null) return 'EFAULT';
  let reservedSet = false;
  if (a.reserved !== 0) {
    if (!Array.isArray(a.reserved)) return 'EFAULT';
    for (const r of a.reserved as unknown[]) {
      const v = cU64Bounded(r);
      if (v === null) return 'EFAULT';
      if (v !== 0) reservedSet = true;
    }
  }
  const r = kvmGmemSetAttributes(gmem, offset, size, attributes, flags, reservedSet);
  if (r === null) {
    gmemConvertedHook(gmem, offset / PAGE_SIZE, (offset + size) / PAGE_SIZE);
    return 0;
  }
  if (typeof r === 'string') return r;
  // The first page that could not be converted goes back to userspace.
  if (!copyStructToUser(arg, { error_offset: r.errorOffset })) return 'EFAULT';
  return r.err;
}

/**
 * Convert file pages [offset, offset + size) to attributes (PRIVATE or 0).
 * null on success; an errno; or EAGAIN with the byte offset of the first
 * folio whose references are not only the page cache's.
 */
// mirrors virt/kvm/guest_memfd.c:kvm_gmem_set_attributes (v8; -> kvm_gmem_convert_should_proceed, kvm_gmem_is_safe_for_conversion)
export function kvmGmemSetAttributes(gmem: KvmGmem, offset: number, size: number, attributes: number, flags: number, reservedSet: boolean): ErrnoName | { err: ErrnoName; errorOffset: number } | null {
  // The order of the v8 checks (guest_memfd.md section 3.1). Every one is EINVAL, so a u64 too large for a safe
  // number (Infinity, cU64Bounded) fails at whichever check sees it first, as its exact value would.
  if (flags !== 0 || reservedSet) return 'EINVAL';
  if (!gmem.kvm.hasPrivateMem) return 'EINVAL';
  // attributes & ~KVM_MEMORY_ATTRIBUTE_PRIVATE: only 0 and PRIVATE pass.
  if (attributes !== 0 && attributes !== K.KVM_MEMORY_ATTRIBUTE_PRIVATE) return 'EINVAL';
  // size == 0 or offset + size wrapping past 2^64: with both below 2^53 the sum is exact.
  if (size === 0 || offset + size > U64_NUMBER) return 'EINVAL';
  if (modPow2(offset, PAGE_SIZE) !== 0 || modPow2(size, PAGE_SIZE) !== 0) return 'EINVAL';
  // i_size is page-aligned (checked at creation), so in pages it is exact as a number.
  const iSize = gmem.inode.sizePages * PAGE_SIZE;
  if (offset >= iSize || offset + size > iSize) return 'EINVAL';
  const start = offset / PAGE_SIZE;
  const end = (offset + size) / PAGE_SIZE;
  const toPrivate = attributes !== 0;
  const attrs = gmem.privateIdx;
  // Already so: nothing to check or invalidate.
  if (toPrivate ? attrs.covers(start, end) : !attrs.overlaps(start, end)) return null;
  $evBefore.set(gmem.kvm.host.ev);
  $waitNs = 0;
  const r = gmemConvert(gmem, start, end, toPrivate);
  gmemCountConversion(gmem, r, $waitNs);
  return r;
}

/** The simulated ns the conversion in progress waited for pins (gmemConvert sets it). */
let $waitNs = 0;

/** kvmGmemSetAttributes past its checks: the conversion itself, under the invalidate lock. */
function gmemConvert(gmem: KvmGmem, start: number, end: number, toPrivate: boolean): ErrnoName | { err: ErrnoName; errorOffset: number } | null {
  const host = gmem.kvm.host;
  const attrs = gmem.privateIdx;
  if (toPrivate) {
    // Host mappings go first (every process), so that only unexpected references remain.
    unmapMappingPages(host, gmem.inode.mapping, start, end - 1, false);
    let bad = gmemFirstBusy(gmem, start, end);
    if (bad >= 0 && gmemDesign(gmem) === 'no-longterm-pin') {
      // Option (a): only short-term pins can exist; wait for them (seed 000: "with a bit of wait"), up to a bound.
      const waiter = pinWaiters.get(host);
      while (bad >= 0 && $waitNs < GMEM_PIN_WAIT_MAX_NS) {
        const step = Math.min(GMEM_PIN_WAIT_STEP_NS, GMEM_PIN_WAIT_MAX_NS - $waitNs);
        $waitNs += waiter === undefined ? GMEM_PIN_WAIT_MAX_NS - $waitNs : step;
        if (waiter === undefined) break;
        waiter(step);
        // Host faults could not map the range meanwhile (the invalidate lock is held); the model unmaps again.
        unmapMappingPages(host, gmem.inode.mapping, start, end - 1, false);
        bad = gmemFirstBusy(gmem, start, end);
      }
    }
    if (bad >= 0) return { err: 'EAGAIN', errorOffset: bad * PAGE_SIZE };
  }
  // To shared: the arch hook (SNP returns the pages to the hypervisor) has nothing to do in the model.
  const discard = gmemDesign(gmem) === 'separate-shared' ? gmemChangingRanges(gmem, start, end, toPrivate) : null;
  kvmGmemInvalidateBegin(gmem, start, end);
  // RFC v2: the attributes first, then the folios follow them; a failed split (ENOMEM) rolls the attributes back.
  const split = gmemDesign(gmem) === 'split';
  // The private ranges of [start, end) before, as start, end pairs (for the rollback).
  // (An empty array literal costs less than emptying a kept one: setting length is a runtime call.)
  const before: number[] | null = split ? [] : null;
  if (before !== null) attrs.collect(start, end, before);
  if (toPrivate) attrs.union(start, end);
  else attrs.subtract(start, end);
  const e = split ? gmemRestructure(gmem, start, end) : null;
  if (e !== null) {
    attrs.subtract(start, end);
    for (let i = 0; i < before!.length; i += 2) attrs.union(before![i]!, before![i + 1]!);
    gmemRestructure(gmem, start, end);
  }
  kvmGmemInvalidateEnd(gmem, start, end);
  if (discard !== null) for (let i = 0; i < discard.length; i += 2) gmemDiscard(gmem, discard[i]!, discard[i + 1]!, toPrivate);
  return e;
}

/**
 * gmemHugeShared 'no-longterm-pin': how long a to-private conversion waits
 * for short-term pins (O_DIRECT and the like) before it gives up with EAGAIN,
 * in simulated ns. 10 ms: a few slow block-device I/Os; a pin still held after
 * that is treated as one that will not go (the VMM must retry, as for v8's
 * EAGAIN). The model's choice; the seed only says "with a bit of wait".
 */
export const GMEM_PIN_WAIT_MAX_NS = 10_000_000;
/** How often the waiting conversion looks again (the wake-up resolution of the model's wait), ns. */
export const GMEM_PIN_WAIT_STEP_NS = 10_000;

/**
 * Who lets simulated time pass while a conversion waits for short-term pins:
 * called with the ns to wait; it releases the pins that complete in that
 * time (a test's or scenario's in-flight I/O). Without one nothing can
 * complete during the call, so a conversion that finds a pin waits the whole
 * bound and fails with EAGAIN.
 */
export type GmemPinWaiter = (ns: number) => void;
const pinWaiters = new WeakMap<KvmGmem['kvm']['host'], GmemPinWaiter>();

/** Set (or clear, with null) the host's pin waiter (Kernel.setGmemPinWaiter). */
export function setGmemPinWaiter(host: KvmGmem['kvm']['host'], w: GmemPinWaiter | null): void {
  if (w === null) pinWaiters.delete(host);
  else pinWaiters.set(host, w);
}

/** The first file page of [start, end) whose folio has references beyond the file's and the host mappings', or -1. */
// mirrors virt/kvm/guest_memfd.c:kvm_gmem_is_safe_for_conversion (v8; a whole huge folio also allows its host PTEs)
function gmemFirstBusy(gmem: KvmGmem, start: number, end: number): number {
  const ft = gmem.kvm.host.ft;
  const mapping = gmem.inode.mapping;
  if (end - start <= 16) {
    // A few pages (the common single-page conversion): look each folio up rather than walk the tree.
    for (let i = start; i < end; ) {
      const f = filemapGetFolio(mapping, i);
      if (f === 0) {
        i++;
        continue;
      }
      if (ft.refcount[f] !== gmemSafeRefcount(gmem, f)) return i;
      i = ft.index[f]! + folioNrPages(ft, f);
    }
    return -1;
  }
  let bad = -1;
  // Safe refcount: the page cache's references (folio_nr_pages) plus the lookup's, which the model does not take.
  mapping.pages.forEach(start, end, (index, _order, f) => {
    if (ft.refcount[f] === gmemSafeRefcount(gmem, f)) return false;
    bad = Math.max(start, index);
    return true;
  });
  return bad;
}

/** The sub-ranges of [start, end) a conversion to private (or to shared) changes, those now shared (or private), as start, end pairs. */
function gmemChangingRanges(gmem: KvmGmem, start: number, end: number, toPrivate: boolean): number[] {
  const out: number[] = [];
  if (toPrivate) gmem.privateIdx.collectGaps(start, end, out);
  else gmem.privateIdx.collect(start, end, out);
  return out;
}

/**
 * gmemHugeShared 'separate-shared' (the classic CoCo flow, as QEMU's
 * kvm_convert_memory does it with ram_block_discard_range): a conversion
 * discards the side the pages leave. To shared, the private side's pages
 * [a, b) are zeroed (a hole smaller than a huge page only zeroes: the huge
 * folio stays, so the memory is now allocated twice once the shared side
 * faults); to private, the shared side (the memfd behind the memslots'
 * userspace_addr) is punched, so the guest's private page reads what the
 * private side holds: zeroes. The model does the VMM's discard in the
 * conversion call so that every design converts with the same call.
 */
function gmemDiscard(gmem: KvmGmem, a: number, b: number, toPrivate: boolean): void {
  const host = gmem.kvm.host;
  const c = gmem.counters;
  if (!toPrivate) {
    gmem.inode.mapping.pages.forEach(a, b, (index, _order, f) => {
      const n = folioNrPages(host.ft, f);
      const x = Math.max(a, index);
      const y = Math.min(b, index + n);
      host.content.fill(f, n, (x - index) * PAGE_SIZE, (y - x) * PAGE_SIZE, 0);
      host.ev[Ev.ZERO_BYTES] += (y - x) * PAGE_SIZE;
      c.discardedPages += y - x;
    });
    return;
  }
  const kvm = gmem.kvm;
  for (const bnd of gmem.bindings) {
    if (bnd.end <= a || bnd.start >= b || kvmMemslotIsGmemOnly(bnd.slot)) continue;
    const slot = bnd.slot;
    const hs = slot.userspaceAddr + (Math.max(a, bnd.start) - bnd.start) * PAGE_SIZE;
    const he = slot.userspaceAddr + (Math.min(b, bnd.end) - bnd.start) * PAGE_SIZE;
    for (let addr = hs; addr < he; ) {
      const vma = findVma(kvm.mm, addr);
      if (vma === null || vma.start >= he) break;
      const s = Math.max(addr, vma.start);
      const e = Math.min(he, vma.end);
      if (s < e) {
        const file = vma.file;
        if (file !== null && vma.flags & VM.SHARED && file.fOp.fallocate !== undefined) {
          const pg = vma.pgoff + (s - vma.start) / PAGE_SIZE;
          c.discardedPages += cachedPages(host, file.inode.mapping, pg, pg + (e - s) / PAGE_SIZE);
          file.fOp.fallocate(file, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, BigInt(pg) * PAGE, BigInt(e - s));
        } else if (file === null) {
          // Private anonymous shared backing: MADV_DONTNEED.
          zapPageRangeSingle(host, vma, s, e, null);
        }
      }
      addr = e;
    }
  }
}

/** Pages of [a, b) that mapping's page cache holds. */
function cachedPages(host: KvmGmem['kvm']['host'], mapping: AddressSpace, a: number, b: number): number {
  let n = 0;
  mapping.pages.forEach(a, b, (index, _o, f) => {
    n += Math.min(b, index + folioNrPages(host.ft, f)) - Math.max(a, index);
  });
  return n;
}

/** The default cost model, for the simulated latency of conversions. */
let $cost: CostModel | null = null;
const $evBefore = new Float64Array(Ev.NR_EVENTS);

/** Count a conversion's outcome and simulated latency (the events it counted, at the default unit costs, plus its wait). */
function gmemCountConversion(gmem: KvmGmem, r: ErrnoName | { err: ErrnoName } | null, waitNs: number): void {
  const c = gmem.counters;
  const err = r === null ? null : typeof r === 'string' ? r : r.err;
  if (err === null) {
    if (waitNs > 0) c.convertWaited++;
    else c.convertOk++;
  } else if (err === 'EAGAIN') c.convertEagain++;
  else if (err === 'ENOMEM') c.convertEnomem++;
  const ns = ($cost ??= new CostModel()).ns;
  const ev = gmem.kvm.host.ev;
  let t = waitNs;
  for (let i = 0; i < Ev.NR_EVENTS; i++) {
    const d = ev[i]! - $evBefore[i]!;
    if (d !== 0) t += d * ns[i]!;
  }
  c.convertNs += t;
  if (t > c.convertMaxNs) c.convertMaxNs = t;
  c.waitNs += waitNs;
}

// ---------------------------------------------------------------------------
// Release, binding, and the guest's view.

/**
 * The last reference to the file went: its memslots lose their backing, the
 * VM's mappings of it are zapped; the pages stay with the inode (which goes
 * right after, as nothing else holds it).
 */
// mirrors virt/kvm/guest_memfd.c:kvm_gmem_release
function kvmGmemRelease(file: OpenFile): void {
  const gmem = file.privateData as KvmGmem;
  const kvm = gmem.kvm;
  for (const b of gmem.bindings) b.slot.gmem.file = null;
  kvmGmemInvalidateBegin(gmem, 0, Number.MAX_SAFE_INTEGER);
  kvmGmemInvalidateEnd(gmem, 0, Number.MAX_SAFE_INTEGER);
  gmem.bindings.length = 0;
  gmem.file = null;
  kvm.gmems.delete(gmem);
  kvmPutKvmHook(kvm);
}

/** After a successful conversion of file pages [start, end): policy s2Recoalesce's eager re-mapping (fault.ts, set by kvm_main.ts). */
let gmemConvertedHook: (gmem: KvmGmem, start: number, end: number) => void = () => {};
export function setGmemConverted(fn: (gmem: KvmGmem, start: number, end: number) => void): void {
  gmemConvertedHook = fn;
}

/** kvm_put_kvm, set by kvm_main.ts (which owns VM destruction) so this module need not import it. */
let kvmPutKvmHook: (kvm: Kvm) => void = () => {};
export function setKvmPut(fn: (kvm: Kvm) => void): void {
  kvmPutKvmHook = fn;
}

/**
 * Check guest_memfd fd for a new slot: EBADF if it is not open, EINVAL if it
 * is not this VM's guest_memfd or the range does not fit in the file. On
 * success the slot refers to the file (the binding is committed later).
 */
// mirrors virt/kvm/guest_memfd.c:kvm_gmem_prepare_memory_region (6.12's kvm_gmem_bind, first half)
export function kvmGmemPrepareMemoryRegion(kvm: Kvm, slot: KvmMemorySlot, file: File | undefined, offset: bigint): ErrnoName | null {
  if (file === undefined) return 'EBADF';
  const gmem = gmemOfFile(file);
  if (gmem === null || gmem.kvm !== kvm) return 'EINVAL';
  const size = BigInt(slot.npages) * BigInt(PAGE_SIZE);
  if (offset % BigInt(PAGE_SIZE) !== 0n || offset + size > gmem.inode.size) return 'EINVAL';
  slot.gmem = { file: gmem, pgoff: Number(offset >> 12n) };
  return null;
}

/** Bind the slot's file range: EEXIST if another slot already binds part of it. */
// mirrors virt/kvm/guest_memfd.c:kvm_gmem_commit_memory_region (6.12's kvm_gmem_bind, second half)
export function kvmGmemCommitMemoryRegion(slot: KvmMemorySlot): ErrnoName | null {
  const gmem = slot.gmem.file!;
  const start = slot.gmem.pgoff;
  const end = start + slot.npages;
  if (gmem.bindings.some((b) => b.start < end && b.end > start)) return 'EEXIST';
  gmem.bindings.push({ start, end, slot });
  return null;
}

/** A deleted slot leaves its file's bindings. */
// mirrors virt/kvm/guest_memfd.c:kvm_gmem_unbind
export function kvmGmemUnbind(slot: KvmMemorySlot): void {
  const gmem = slot.gmem.file;
  if (gmem === null) return;
  const i = gmem.bindings.findIndex((b) => b.slot === slot);
  if (i >= 0) gmem.bindings.splice(i, 1);
  slot.gmem.file = null;
}

/** kvm_gmem_get_pfn's answer: err 0 and a referenced pfn with its folio's max order, or an errno. */
export interface GmemPfn {
  err: number;
  pfn: number;
  maxOrder: number;
  /** The referenced folio (the caller puts it once the SPTE is set). */
  folio: number;
}

/** Whether file page index is bound to slot (the binding kvm_gmem_get_file finds). */
function gmemBound(gmem: KvmGmem, slot: KvmMemorySlot, index: number): boolean {
  for (const b of gmem.bindings) if (b.slot === slot && index >= b.start && index < b.end) return true;
  return false;
}

/**
 * The page backing gfn of a guest_memfd slot, allocated and zeroed on first
 * use, with a reference for the caller: EFAULT once the file is closed, EIO
 * if the index is not bound to this slot. max_order is the folio's order
 * (0, or a HugeTLB page's) while the file's attributes are uniform over it
 * (RFC v2: a huge mapping only while no page of it is shared).
 */
// mirrors virt/kvm/guest_memfd.c:kvm_gmem_get_pfn (-> __kvm_gmem_get_pfn, kvm_gmem_prepare_folio)
export function kvmGmemGetPfn(kvm: Kvm, slot: KvmMemorySlot, gfn: number): Readonly<GmemPfn> {
  const gmem = slot.gmem.file;
  if (gmem === null || gmem.file === null) return gmemPfn(errno.EFAULT, -1, 0, 0);
  const index = gfn - slot.baseGfn + slot.gmem.pgoff;
  if (!gmemBound(gmem, slot, index)) return gmemPfn(errno.EIO, -1, 0, 0);
  const f = kvmGmemGetFolio(gmem, index);
  if (typeof f === 'string') return gmemPfn(errno[f], -1, 0, 0);
  // kvm_gmem_prepare_folio: the guest never sees old data.
  kvmGmemPrepareFolio(gmem, f);
  const ft = kvm.host.ft;
  const first = ft.index[f]!;
  const nr = folioNrPages(ft, f);
  // The largest aligned block of the folio around index whose attributes are uniform (RFC v2: the whole folio or
  // nothing; a folio kept whole around a shared hole, seed 001: the private parts map at their best size around it).
  let maxOrder = ft.order[f]!;
  for (; maxOrder > 0; maxOrder = maxOrder > 9 ? 9 : 0) {
    const per = pow2(maxOrder);
    const a = first + Math.floor((index - first) / per) * per;
    if (per <= nr && (gmem.privateIdx.covers(a, a + per) || !gmem.privateIdx.overlaps(a, a + per))) break;
  }
  return gmemPfn(0, ft.pfn[f]! + (index - first), maxOrder, f);
}

/** kvmGmemGetPfn's answer: one reused record, read by the caller before anything else gets a pfn (every private fault comes here). */
const $gmemPfn: GmemPfn = { err: 0, pfn: -1, maxOrder: 0, folio: 0 };
function gmemPfn(err: number, pfn: number, maxOrder: number, folio: number): Readonly<GmemPfn> {
  $gmemPfn.err = err;
  $gmemPfn.pfn = pfn;
  $gmemPfn.maxOrder = maxOrder;
  $gmemPfn.folio = folio;
  return $gmemPfn;
}

// ---------------------------------------------------------------------------
// The designs' metrics (Kernel.gmemStats).

/** What a design allows, as a property of the design (the counters say what happened). */
const DESIGN_TRAITS: Readonly<Record<GmemHugeShared, { odirect: boolean; longtermPins: boolean; contentsPreserved: boolean }>> = {
  split: { odirect: true, longtermPins: true, contentsPreserved: true },
  'no-longterm-pin': { odirect: true, longtermPins: false, contentsPreserved: true },
  pfnmap: { odirect: false, longtermPins: false, contentsPreserved: true },
  'separate-shared': { odirect: true, longtermPins: true, contentsPreserved: false },
};

/** One guest_memfd file under its gmemHugeShared design: see docs/API.md (Kernel.gmemStats). */
export interface GmemReport {
  vm: number;
  ino: number;
  /** The design; null for an order-0 file (no huge folio: the designs do not apply). */
  design: GmemHugeShared | null;
  sizeBytes: number;
  /** The huge page size (0 for order-0 folios). */
  hugePageBytes: number;
  /** Huge pages allocated to the file, and those split into 4 KiB folios now. */
  hugePages: number;
  splitHugePages: number;
  sharedPages: number;
  privatePages: number;
  /**
   * struct page bytes describing the memory behind the guest: per huge page
   * one vmemmap page if HVO-optimized, else 64 bytes per 4 KiB (a split page
   * is never optimized); 64 bytes per 4 KiB page of the file's order-0
   * folios and of the shared side (the memslots' userspace memory) too.
   */
  vmemmapBytes: number;
  /** Bytes of the shared side (memslot userspace memory outside guest_memfd) at file pages that guest_memfd also backs. */
  doubleAllocatedBytes: number;
  /** Pages of the shared side behind the file's memslots (non-guest_memfd-only slots). */
  sharedSidePages: number;
  conversions: { ok: number; waited: number; eagain: number; enomem: number; totalNs: number; maxNs: number; meanNs: number; waitNs: number };
  /** Short-term GUP (O_DIRECT) of shared pages works; long-term pins (VFIO, RDMA) are allowed. */
  odirect: boolean;
  longtermPins: boolean;
  /** GUP calls the design refused (a long-term pin of a huge folio; any GUP of a VM_PFNMAP mapping). */
  pinsRefused: number;
  contentsPreserved: boolean;
  discardedPages: number;
  /** The VM's stage-2 leaves by level [unused, 4K, 2M, 1G] and table bytes; the VMM's host page-table bytes. */
  s2Leaves: number[];
  s2TableBytes: number;
  hostPageTableBytes: number;
}

/** The report of one file; computed on demand (walks the file's folios and the shared side's page cache). */
export function gmemReport(gmem: KvmGmem): GmemReport {
  const kvm = gmem.kvm;
  const host = kvm.host;
  const ft = host.ft;
  const h = gmem.hstate;
  const design = gmemDesign(gmem);
  let hugePages = 0;
  let split = 0;
  let vmemmap = 0;
  gmem.inode.mapping.pages.forEach(0, Number.MAX_SAFE_INTEGER, (index, _o, f) => {
    if (h === null) {
      vmemmap += 64;
      return;
    }
    if (ft.flags[f]! & PG.HUGETLB) {
      hugePages++;
      vmemmap += hugetlbVmemmapBytes(h.order, folioVmemmapOptimized(host, f));
    } else if (modPow2(index, h.nrPages) === 0 && lazyRunAt(gmem.inode.mapping, index) === null) {
      hugePages++;
      split++;
      vmemmap += hugetlbVmemmapBytes(h.order, false);
    }
  });
  // Pages split lazily: counted whether their first piece is made or not.
  const lazySplit = h === null ? 0 : (gmem.inode.mapping.lazy?.runs.size ?? 0);
  hugePages += lazySplit;
  split += lazySplit;
  if (h !== null) vmemmap += lazySplit * hugetlbVmemmapBytes(h.order, false);
  let sharedSide = 0;
  let twice = 0;
  for (const b of gmem.bindings) {
    if (kvmMemslotIsGmemOnly(b.slot)) continue;
    const hs = b.slot.userspaceAddr;
    const he = hs + b.slot.npages * PAGE_SIZE;
    for (let addr = hs; addr < he; ) {
      const vma = findVma(kvm.mm, addr);
      if (vma === null || vma.start >= he) break;
      const s = Math.max(addr, vma.start);
      const e = Math.min(he, vma.end);
      if (vma.file !== null && s < e) {
        const pg = vma.pgoff + (s - vma.start) / PAGE_SIZE;
        const idx0 = b.start + (s - hs) / PAGE_SIZE;
        vma.file.inode.mapping.pages.forEach(pg, pg + (e - s) / PAGE_SIZE, (index, _o, f) => {
          const n = folioNrPages(ft, f);
          for (let i = Math.max(pg, index); i < Math.min(pg + (e - s) / PAGE_SIZE, index + n); i++) {
            sharedSide++;
            if (filemapGetFolio(gmem.inode.mapping, idx0 + i - pg) !== 0) twice++;
          }
        });
      }
      addr = e;
    }
  }
  const c = gmem.counters;
  const n = c.convertOk + c.convertWaited + c.convertEagain + c.convertEnomem;
  const traits = design === null ? DESIGN_TRAITS.split : DESIGN_TRAITS[design];
  const priv = gmem.privateIdx.length;
  return {
    vm: kvm.id,
    ino: gmem.inode.ino,
    design,
    sizeBytes: Number(gmem.inode.size),
    hugePageBytes: h === null ? 0 : h.size,
    hugePages,
    splitHugePages: split,
    sharedPages: gmem.inode.sizePages - priv,
    privatePages: priv,
    vmemmapBytes: vmemmap + sharedSide * 64,
    doubleAllocatedBytes: twice * PAGE_SIZE,
    sharedSidePages: sharedSide,
    conversions: { ok: c.convertOk, waited: c.convertWaited, eagain: c.convertEagain, enomem: c.convertEnomem, totalNs: c.convertNs, maxNs: c.convertMaxNs, meanNs: n === 0 ? 0 : c.convertNs / n, waitNs: c.waitNs },
    odirect: traits.odirect,
    longtermPins: traits.longtermPins,
    pinsRefused: gmem.inode.mapping.gupPolicy?.refused ?? 0,
    contentsPreserved: traits.contentsPreserved,
    discardedPages: c.discardedPages,
    s2Leaves: [...kvm.mmu.stats.leaves],
    s2TableBytes: kvm.mmu.stats.tablePages * PAGE_SIZE,
    hostPageTableBytes: kvm.mm.pgtablesBytes,
  };
}
