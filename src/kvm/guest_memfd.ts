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
 */
import type { ErrnoName } from '../uapi/errno.js';
import { errno } from '../uapi/errno.js';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE } from '../uapi/falloc.js';
import { O_LARGEFILE, O_RDWR, S_IFREG } from '../uapi/fcntl.js';
import { ANON_INODE_FS_MAGIC } from '../uapi/magic.js';
import { cULong, copyStructFromUser, copyStructToUser, resultSize } from '../uapi/ctypes.js';
import * as K from '../uapi/kvm.js';
import { ExtentSet } from '../lib/extent_set.js';
import { PG, folioNrPages } from '../mm/folio.js';
import { FMode, VmFault, type File, type SuperBlock, type VmFaultArgs, type VmOperations } from '../mm/fs_types.js';
import { filemapAddFolio, filemapGetFolio, truncateInodePagesRange } from '../mm/filemap.js';
import { type Hstate, hugepagePutSubpool, hugetlbAddToPageCache, hugetlbFileAllocFolio, hugetlbFileSubpool, hugetlbMergeFolio, hugetlbSplitFolio } from '../mm/hugetlb.js';
import { warn } from '../mm/debug.js';
import { unmapMappingPages } from '../mm/memory.js';
import { VM, type Vma } from '../mm/mm_types.js';
import { PAGE_SIZE } from '../mm/page.js';
import { NodeStat } from '../mm/vmstat.js';
import { GFP_KERNEL } from '../mm/page_alloc.js';
import { folioAddLru } from '../mm/rmap.js';
import { type FsFileOps, OpenFile } from '../fs/file.js';
import type { Vfs } from '../fs/inode.js';
import { MAX_LFS_FILESIZE } from '../fs/shmem.js';
import type { Kvm, KvmConfig, KvmGmem, KvmMemorySlot } from './kvm_host.js';
import { kvmFlushRemoteTlbs, kvmMmuInvalidateBegin, kvmMmuInvalidateEnd, kvmMmuInvalidateRangeAdd, kvmUnmapGfnRange } from './mmu.js';

/** The anonymous-inode pseudo file system (pseudo_fs_fill_super gives it MAX_LFS_FILESIZE). */
const gmemSb: SuperBlock = { fsType: 'anon_inodefs', blockSize: PAGE_SIZE, maxBytes: MAX_LFS_FILESIZE, magic: ANON_INODE_FS_MAGIC, dev: 14 };
/** Unevictable, unmovable and not swap-backed (mapping_set_inaccessible). */
const gmemAops = { swapbacked: false, writeback: false };
const PAGE = BigInt(PAGE_SIZE);
const U64 = (1n << 64n) - 1n;

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
  gmemRunDeferredMerges(host);
  let spool = null;
  if (hstate !== null) {
    spool = hugetlbFileSubpool(host, hstate, size / hstate.size);
    if (spool === null) return 'ENOMEM';
  }
  const inode = vfs.newInode(gmemSb, S_IFREG | 0o600, gmemAops, (i) => kvmGmemEvictInode(i.fsInfo as KvmGmem));
  inode.size = BigInt(size);
  const privateIdx = new ExtentSet();
  // Every index starts PRIVATE unless INIT_SHARED.
  if (!(flags & Number(K.GUEST_MEMFD_FLAG_INIT_SHARED))) privateIdx.union(0, size / PAGE_SIZE);
  const gmem: KvmGmem = { kvm, inode, file: null, flags, bindings: [], privateIdx, hstate, spool };
  inode.fsInfo = gmem;
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
  if (gmem.bindings.some((b) => b.end > start && b.start < end)) kvmMmuInvalidateEnd(gmem.kvm);
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
    const base = index - (index % h.nrPages);
    hugetlbAddToPageCache(host, f, mapping, base / h.nrPages);
    // A page with a shared page in it is split at once (RFC v2: kvm_gmem_get_folio restructures after allocating).
    if (!gmem.privateIdx.covers(base, base + h.nrPages)) {
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
  const f = filemapGetFolio(gmem.inode.mapping, index);
  if (f === 0 || host.ft.flags[f]! & PG.HUGETLB) return -1;
  const nr = gmem.hstate!.nrPages;
  const head = host.ft.pfn[f]! - (host.ft.pfn[f]! % nr);
  return host.hugetlb.split.has(head) ? head : -1;
}

/** The references a folio of the file has when nothing but the file (and, for a piece of a split page, the split page) holds it. */
function gmemSafeRefcount(gmem: KvmGmem, f: number): number {
  const host = gmem.kvm.host;
  const nr = folioNrPages(host.ft, f);
  if (gmem.hstate === null || host.ft.flags[f]! & PG.HUGETLB) return nr;
  return nr + 1;
}

/** Take a HugeTLB-backed file's folio out of its page cache, keeping its data state (the caller holds a reference). */
function gmemCacheRemove(gmem: KvmGmem, f: number): void {
  const host = gmem.kvm.host;
  const ft = host.ft;
  const nr = folioNrPages(ft, f);
  const mapping = gmem.inode.mapping;
  mapping.pages.delete(ft.index[f]!, ft.order[f]!);
  mapping.nrpages -= nr;
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
  const f = filemapGetFolio(mapping, base);
  if (f === 0 || !(ft.flags[f]! & PG.HUGETLB)) return null;
  // Refcounts frozen to the filemap's: unexpected references were refused before (RFC: WARN and give up).
  if (warn(host, ft.refcount[f] !== folioNrPages(ft, f), 'guest_memfd: splitting a HugeTLB folio with extra references', 'virt/kvm/guest_memfd.c:kvm_gmem_split_folio_in_filemap')) return 'EAGAIN';
  host.folioGet(f);
  gmemCacheRemove(gmem, f);
  const pieces = hugetlbSplitFolio(host, f, 0);
  if (typeof pieces === 'number') {
    // Back as it was (the vmemmap could not be restored).
    hugetlbAddToPageCache(host, f, mapping, base / gmem.hstate!.nrPages);
    host.folioPut(f);
    return 'ENOMEM';
  }
  // Each piece keeps the split page's reference and gets the page cache's.
  for (let k = 0; k < pieces.length; k++) filemapAddFolio(host, mapping, pieces[k]!, base + k);
  gmem.inode.blocks += pieces.length * (PAGE_SIZE / 512);
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
  const pieces: number[] = [];
  for (let k = 0; k < h.nrPages; k++) {
    const g = filemapGetFolio(mapping, base + k);
    if (g === 0 || ft.refcount[g] !== 2 || ft.mapcount[g] !== -1) return false;
    pieces.push(g);
  }
  for (const g of pieces) {
    host.folioGet(g);
    gmemCacheRemove(gmem, g);
    // The split page's reference stays; the removal's extra one goes.
    host.folioPut(g);
  }
  const f = hugetlbMergeFolio(host, head);
  if (f < 0) {
    warn(host, true, 'guest_memfd: merging a split HugeTLB page failed', 'virt/kvm/guest_memfd.c:kvm_gmem_merge_folio_in_filemap');
    for (let k = 0; k < pieces.length; k++) filemapAddFolio(host, mapping, pieces[k]!, base + k);
    gmem.inode.blocks += pieces.length * (PAGE_SIZE / 512);
    return false;
  }
  hugetlbAddToPageCache(host, f, mapping, base / h.nrPages);
  host.folioPut(f);
  return true;
}

/**
 * Split pages whose file went while a piece was still pinned, by head pfn:
 * the RFC v2 merges them in a folio_put callback run from a workqueue; the
 * model runs that work at the next guest_memfd call (any file's).
 */
const deferredMerges = new WeakMap<KvmGmem['kvm']['host'], Set<number>>();

/** Take the split page at file index base out of the file and queue its merge. */
function gmemDeferMerge(gmem: KvmGmem, base: number): void {
  const host = gmem.kvm.host;
  const head = gmemSplitHead(gmem, base);
  if (head < 0) return;
  for (let k = 0; k < gmem.hstate!.nrPages; k++) {
    const g = filemapGetFolio(gmem.inode.mapping, base + k);
    host.folioGet(g);
    gmemCacheRemove(gmem, g);
    host.folioPut(g);
  }
  let q = deferredMerges.get(host);
  if (q === undefined) deferredMerges.set(host, (q = new Set()));
  q.add(head);
}

/** The workqueue: merge and free the queued split pages whose pieces are free of pins now. */
// mirrors the 1 GiB series RFC v2's guestmem_hugetlb_cleanup_folio work (the folio_put callback's deferred merge)
function gmemRunDeferredMerges(host: KvmGmem['kvm']['host']): void {
  const q = deferredMerges.get(host);
  if (q === undefined || q.size === 0) return;
  const ft = host.ft;
  for (const head of [...q]) {
    const sp = host.hugetlb.split.get(head);
    if (sp === undefined) {
      q.delete(head);
      continue;
    }
    let busy = false;
    for (let k = 0; k < sp.hstate.nrPages && !busy; k++) {
      const g = host.pfnFolio(head + k);
      busy = g === 0 || ft.refcount[g] !== 1 || ft.mapcount[g] !== -1;
    }
    if (busy) continue;
    q.delete(head);
    const f = hugetlbMergeFolio(host, head);
    // Its last reference: back to the subpool (and the pool).
    if (f > 0) host.folioPut(f);
  }
}

/** After the attributes of [start, end) changed: split the huge pages that now hold a shared page, merge those all private again. */
// mirrors the 1 GiB series RFC v2's kvm_gmem_restructure_folios_in_range
function gmemRestructure(gmem: KvmGmem, start: number, end: number): ErrnoName | null {
  const nr = gmem.hstate!.nrPages;
  for (let base = start - (start % nr); base < end; base += nr) {
    if (filemapGetFolio(gmem.inode.mapping, base) === 0) continue;
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
  mapping.pages.forEach(start, end, (index, _order, f) => {
    const base = index - (index % nr);
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
  gmemRunDeferredMerges(gmem.kvm.host);
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
  return null;
}

// ---------------------------------------------------------------------------
// In-place conversion (v8): KVM_SET_MEMORY_ATTRIBUTES2 on the file.

/** The file's ioctls: only KVM_SET_MEMORY_ATTRIBUTES2, and only in in-place mode (else ENOTTY). */
// mirrors virt/kvm/guest_memfd.c:kvm_gmem_ioctl (v8)
function kvmGmemIoctl(file: OpenFile, cmd: number, arg: unknown): number | ErrnoName {
  const gmem = file.privateData as KvmGmem;
  gmemRunDeferredMerges(gmem.kvm.host);
  if (!gmem.kvm.cfg.inPlaceConversion || cmd !== K.KVM_SET_MEMORY_ATTRIBUTES2) return 'ENOTTY';
  const a = copyStructFromUser(arg, ['offset', 'address', 'size', 'attributes', 'flags', 'reserved']);
  if (a === null) return 'EFAULT';
  // offset and address are one union field.
  const offset = cULong(a.offset !== 0 ? a.offset : a.address);
  const size = cULong(a.size);
  const attributes = cULong(a.attributes);
  const flags = cULong(a.flags);
  if (offset === null || size === null || attributes === null || flags === null) return 'EFAULT';
  let reservedSet = false;
  if (a.reserved !== 0) {
    if (!Array.isArray(a.reserved)) return 'EFAULT';
    for (const r of a.reserved as unknown[]) {
      const v = cULong(r);
      if (v === null) return 'EFAULT';
      if (v !== 0n) reservedSet = true;
    }
  }
  const r = kvmGmemSetAttributes(gmem, offset, size, attributes, flags, reservedSet);
  if (r === null) {
    gmemConvertedHook(gmem, Number(offset / PAGE), Number((offset + size) / PAGE));
    return 0;
  }
  if (typeof r === 'string') return r;
  // The first page that could not be converted goes back to userspace.
  if (!copyStructToUser(arg, { error_offset: resultSize(r.errorOffset) })) return 'EFAULT';
  return r.err;
}

/**
 * Convert file pages [offset, offset + size) to attributes (PRIVATE or 0).
 * null on success; an errno; or EAGAIN with the byte offset of the first
 * folio whose references are not only the page cache's.
 */
// mirrors virt/kvm/guest_memfd.c:kvm_gmem_set_attributes (v8; -> kvm_gmem_convert_should_proceed, kvm_gmem_is_safe_for_conversion)
export function kvmGmemSetAttributes(gmem: KvmGmem, offset: bigint, size: bigint, attributes: bigint, flags: bigint, reservedSet: boolean): ErrnoName | { err: ErrnoName; errorOffset: bigint } | null {
  // The order of the v8 checks (guest_memfd.md section 3.1).
  if (flags !== 0n || reservedSet) return 'EINVAL';
  if (!gmem.kvm.hasPrivateMem) return 'EINVAL';
  if (attributes & ~BigInt(K.KVM_MEMORY_ATTRIBUTE_PRIVATE)) return 'EINVAL';
  if (size === 0n || offset + size > U64) return 'EINVAL';
  if (offset % PAGE !== 0n || size % PAGE !== 0n) return 'EINVAL';
  if (offset >= gmem.inode.size || offset + size > gmem.inode.size) return 'EINVAL';
  const start = Number(offset / PAGE);
  const end = Number((offset + size) / PAGE);
  const toPrivate = attributes !== 0n;
  const attrs = gmem.privateIdx;
  // Already so: nothing to check or invalidate.
  if (toPrivate ? attrs.covers(start, end) : !attrs.overlaps(start, end)) return null;
  const host = gmem.kvm.host;
  const ft = host.ft;
  const mapping = gmem.inode.mapping;
  if (toPrivate) {
    // Host mappings go first (every process), so that only unexpected references remain.
    unmapMappingPages(host, mapping, start, end - 1, false);
    // Safe refcount: the page cache's references (folio_nr_pages) plus the lookup's, which the model does not take.
    let bad = -1;
    mapping.pages.forEach(start, end, (index, _order, f) => {
      if (ft.refcount[f] === gmemSafeRefcount(gmem, f)) return false;
      bad = Math.max(start, index);
      return true;
    });
    if (bad >= 0) return { err: 'EAGAIN', errorOffset: BigInt(bad) * PAGE };
  }
  // To shared: the arch hook (SNP returns the pages to the hypervisor) has nothing to do in the model.
  kvmGmemInvalidateBegin(gmem, start, end);
  const before: [number, number][] = [];
  if (gmem.hstate !== null) attrs.forEach((a, b) => void before.push([Math.max(a, start), Math.min(b, end)]), start, end);
  if (toPrivate) attrs.union(start, end);
  else attrs.subtract(start, end);
  // RFC v2: the attributes first, then the folios follow them; a failed split (ENOMEM) rolls the attributes back.
  const r = gmem.hstate === null ? null : gmemRestructure(gmem, start, end);
  if (r !== null) {
    attrs.subtract(start, end);
    for (const [a, b] of before) attrs.union(a, b);
    gmemRestructure(gmem, start, end);
  }
  kvmGmemInvalidateEnd(gmem, start, end);
  return r;
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

/**
 * The page backing gfn of a guest_memfd slot, allocated and zeroed on first
 * use, with a reference for the caller: EFAULT once the file is closed, EIO
 * if the index is not bound to this slot. max_order is the folio's order
 * (0, or a HugeTLB page's) while the file's attributes are uniform over it
 * (RFC v2: a huge mapping only while no page of it is shared).
 */
// mirrors virt/kvm/guest_memfd.c:kvm_gmem_get_pfn (-> __kvm_gmem_get_pfn, kvm_gmem_prepare_folio)
export function kvmGmemGetPfn(kvm: Kvm, slot: KvmMemorySlot, gfn: number): GmemPfn {
  const gmem = slot.gmem.file;
  if (gmem === null || gmem.file === null) return { err: errno.EFAULT, pfn: -1, maxOrder: 0, folio: 0 };
  const index = gfn - slot.baseGfn + slot.gmem.pgoff;
  if (!gmem.bindings.some((b) => b.slot === slot && index >= b.start && index < b.end)) return { err: errno.EIO, pfn: -1, maxOrder: 0, folio: 0 };
  const f = kvmGmemGetFolio(gmem, index);
  if (typeof f === 'string') return { err: errno[f], pfn: -1, maxOrder: 0, folio: 0 };
  // kvm_gmem_prepare_folio: the guest never sees old data.
  kvmGmemPrepareFolio(gmem, f);
  const ft = kvm.host.ft;
  const first = ft.index[f]!;
  const nr = folioNrPages(ft, f);
  const uniform = gmem.privateIdx.covers(first, first + nr) || !gmem.privateIdx.overlaps(first, first + nr);
  return { err: 0, pfn: ft.pfn[f]! + (index - first), maxOrder: uniform ? ft.order[f]! : 0, folio: f };
}
