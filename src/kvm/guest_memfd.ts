/**
 * guest_memfd (mirrors virt/kvm/guest_memfd.c as in Linux 6.12): a file
 * whose pages back a VM's private memory. The inode is the storage (its page
 * cache holds order-0 folios, allocated lazily and zeroed when first given to
 * the guest); the file (struct kvm_gmem) is one VM's view, with the bindings
 * of file ranges to memslots.
 *
 * The file has no read/write/mmap operations in 6.12 (read and write fail
 * with EINVAL, pread and pwrite with ESPIPE, mmap with ENODEV, ftruncate with
 * EINVAL); fallocate allocates (KEEP_SIZE) or punches holes
 * (KEEP_SIZE|PUNCH_HOLE), and a punch zaps the VM's stage-2 mappings of the
 * range first (kvm_gmem_invalidate_begin/end, not MMU notifiers). Closing the
 * file leaves its memslots without backing (later private faults exit with
 * KVM_EXIT_MEMORY_FAULT); the pages live until the inode goes.
 *
 * 6.12 accepts no creation flags (GUEST_MEMFD_FLAG_MMAP and _INIT_SHARED are
 * v6.18+ and not modelled); the folios are order 0, so max_order is 0.
 * Simplifications: no NUMA policy, no hwpoison, no kvm_gmem_populate (SNP/TDX).
 */
import type { ErrnoName } from '../uapi/errno.js';
import { errno } from '../uapi/errno.js';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE } from '../uapi/falloc.js';
import { O_LARGEFILE, O_RDWR, S_IFREG } from '../uapi/fcntl.js';
import { ANON_INODE_FS_MAGIC } from '../uapi/magic.js';
import { PG } from '../mm/folio.js';
import { FMode, type File, type SuperBlock } from '../mm/fs_types.js';
import { filemapAddFolio, filemapGetFolio, truncateInodePagesRange } from '../mm/filemap.js';
import { PAGE_SIZE } from '../mm/page.js';
import { GFP_KERNEL } from '../mm/page_alloc.js';
import { folioAddLru } from '../mm/rmap.js';
import { type FsFileOps, OpenFile } from '../fs/file.js';
import type { FsInode, Vfs } from '../fs/inode.js';
import { MAX_LFS_FILESIZE } from '../fs/shmem.js';
import type { Kvm, KvmGmem, KvmMemorySlot } from './kvm_host.js';
import { kvmFlushRemoteTlbs, kvmMmuInvalidateBegin, kvmMmuInvalidateEnd, kvmMmuInvalidateRangeAdd, kvmUnmapGfnRange } from './mmu.js';

/** The anonymous-inode pseudo file system (pseudo_fs_fill_super gives it MAX_LFS_FILESIZE). */
const gmemSb: SuperBlock = { fsType: 'anon_inodefs', blockSize: PAGE_SIZE, maxBytes: MAX_LFS_FILESIZE, magic: ANON_INODE_FS_MAGIC, dev: 14 };
/** Unevictable, unmovable and not swap-backed (mapping_set_inaccessible). */
const gmemAops = { swapbacked: false, writeback: false };

/** The guest_memfd behind a file, or null if it is not one (file->f_op != &kvm_gmem_fops). */
export function gmemOfFile(file: File): KvmGmem | null {
  const g = (file as OpenFile).privateData;
  return (file as OpenFile).fOp === gmemFops && g !== null ? (g as KvmGmem) : null;
}

// mirrors virt/kvm/guest_memfd.c:kvm_gmem_fops
const gmemFops: FsFileOps = {
  fallocate: (file, mode, offset, len) => kvmGmemFallocate(file as OpenFile, mode, offset, len),
  release: (file) => kvmGmemRelease(file),
};

/**
 * KVM_CREATE_GUEST_MEMFD after the argument checks: a new [kvm-gmem] file of
 * size bytes (the caller installs it). It holds a reference on the VM.
 */
// mirrors virt/kvm/guest_memfd.c:__kvm_gmem_create
export function kvmGmemCreateFile(vfs: Vfs, kvm: Kvm, size: number, flags: number): OpenFile {
  const inode = vfs.newInode(gmemSb, S_IFREG | 0o600, gmemAops, (i) => truncateInodePagesRange(vfs.host, i.mapping, 0n, -1n));
  inode.size = BigInt(size);
  const gmem: KvmGmem = { kvm, inode, file: null, flags, bindings: [] };
  inode.fsInfo = gmem;
  // O_RDWR without read/write operations: no FMODE_CAN_READ/WRITE, no PREAD/PWRITE (alloc_file).
  const file = new OpenFile(vfs, inode, FMode.READ | FMode.WRITE, O_RDWR | O_LARGEFILE, gmemFops, 'anon_inode:[kvm-gmem]');
  file.privateData = gmem;
  gmem.file = file;
  kvm.refs++;
  kvm.gmems.add(gmem);
  return file;
}

/** The KVM_CREATE_GUEST_MEMFD flags 6.12 accepts: none. */
export const GMEM_VALID_FLAGS = 0n;

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
// fallocate.

// mirrors virt/kvm/guest_memfd.c:kvm_gmem_punch_hole
function kvmGmemPunchHole(gmem: KvmGmem, offset: bigint, len: bigint): null {
  const start = Number(offset >> 12n);
  const end = Number((offset + len) >> 12n);
  kvmGmemInvalidateBegin(gmem, start, end);
  truncateInodePagesRange(gmem.kvm.host, gmem.inode.mapping, offset, offset + len - 1n);
  kvmGmemInvalidateEnd(gmem, start, end);
  return null;
}

/** The folio at index, allocated (not zeroed: not yet "prepared") if missing; with a reference for the caller. */
// mirrors virt/kvm/guest_memfd.c:kvm_gmem_get_folio (filemap_grab_folio)
function kvmGmemGetFolio(inode: FsInode, host: Kvm['host'], index: number): number | ErrnoName {
  let f = filemapGetFolio(inode.mapping, index);
  if (f !== 0) {
    host.folioGet(f);
    return f;
  }
  // GFP_HIGHUSER: not movable (guest_memfd pages cannot migrate).
  f = host.folioAlloc(0, GFP_KERNEL);
  if (f === 0) return 'ENOMEM';
  // Fresh pages hold old data; the model starts them at zero, but only
  // preparation (kvm_gmem_prepare_folio) clears them and marks them up to date.
  host.content.setUniform(f, 0);
  filemapAddFolio(host, inode.mapping, f, index);
  folioAddLru(host, f);
  return f;
}

// mirrors virt/kvm/guest_memfd.c:kvm_gmem_allocate
function kvmGmemAllocate(gmem: KvmGmem, offset: bigint, len: bigint): ErrnoName | null {
  // The file's size is immutable.
  if (offset + len > gmem.inode.size) return 'EINVAL';
  const host = gmem.kvm.host;
  const end = Number((offset + len) >> 12n);
  for (let index = Number(offset >> 12n); index < end; index++) {
    const f = kvmGmemGetFolio(gmem.inode, host, index);
    if (typeof f === 'string') return f;
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
  if (offset % BigInt(PAGE_SIZE) !== 0n || len % BigInt(PAGE_SIZE) !== 0n) return 'EINVAL';
  return mode & FALLOC_FL_PUNCH_HOLE ? kvmGmemPunchHole(gmem, offset, len) : kvmGmemAllocate(gmem, offset, len);
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
}

/**
 * The page backing gfn of a guest_memfd slot, allocated and zeroed on first
 * use, with a reference for the caller: EFAULT once the file is closed, EIO
 * if the index is not bound to this slot.
 */
// mirrors virt/kvm/guest_memfd.c:kvm_gmem_get_pfn (-> __kvm_gmem_get_pfn, kvm_gmem_prepare_folio)
export function kvmGmemGetPfn(kvm: Kvm, slot: KvmMemorySlot, gfn: number): GmemPfn {
  const gmem = slot.gmem.file;
  if (gmem === null || gmem.file === null) return { err: errno.EFAULT, pfn: -1, maxOrder: 0 };
  const index = gfn - slot.baseGfn + slot.gmem.pgoff;
  if (!gmem.bindings.some((b) => b.slot === slot && index >= b.start && index < b.end)) return { err: errno.EIO, pfn: -1, maxOrder: 0 };
  const host = kvm.host;
  const f = kvmGmemGetFolio(gmem.inode, host, index);
  if (typeof f === 'string') return { err: errno[f], pfn: -1, maxOrder: 0 };
  if (!(host.ft.flags[f]! & PG.UPTODATE)) {
    // kvm_gmem_prepare_folio: the guest never sees old data.
    host.zeroFolio(f);
    host.ft.flags[f]! |= PG.UPTODATE;
  }
  return { err: 0, pfn: host.ft.pfn[f]!, maxOrder: 0 };
}
