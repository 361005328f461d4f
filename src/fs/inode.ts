/**
 * Inodes and their page caches for the in-memory file systems (mirrors the
 * parts of fs/inode.c the model needs). Every inode lives in the Vfs registry
 * until evicted, so the oracle can walk every page cache.
 */
import { SparseRadix } from '../lib/radix.js';
import type { AddressSpace, AddressSpaceOps, Inode, SuperBlock } from '../mm/fs_types.js';
import type { LazyRuns } from '../mm/hugetlb_split.js';
import type { Host } from '../mm/host.js';
import type { Vma } from '../mm/mm_types.js';
import { PAGE_SHIFT, PAGE_SIZE } from '../mm/page.js';

const PAGE_SHIFT_BIG = BigInt(PAGE_SHIFT);
const PAGE_MASK_BIG = BigInt(PAGE_SIZE - 1);

export class FsMapping implements AddressSpace {
  readonly kind = 'file' as const;
  readonly pages = new SparseRadix();
  nrpages = 0;
  readonly iMmap = new Set<Vma>();
  gupPolicy?: { noLongtermHuge: boolean; refused: number };
  lazy: LazyRuns | null = null;

  constructor(
    readonly id: number,
    readonly host: FsInode,
    readonly aops: AddressSpaceOps,
  ) {}
}

export class FsInode implements Inode {
  /** i_size (loff_t), exact. */
  private iSize = 0n;
  /** DIV_ROUND_UP(i_size, PAGE_SIZE), cached for the fault paths. */
  private iSizePages = 0;
  nlink = 0;
  blocks = 0;
  /** i_blkbits as a size (i_blocksize): the superblock's unless the file system sets its own (HugeTLB guest_memfd). */
  blockSize: number;
  seals = 0;
  iFlags = 0;
  refs = 0;
  /** The file system's own per-inode state (what container_of(inode, struct ext4_inode_info, ...) reaches). */
  fsInfo: unknown = null;
  readonly mapping: FsMapping;

  constructor(
    readonly ino: number,
    readonly sb: SuperBlock,
    public mode: number,
    aops: AddressSpaceOps,
    /** What the file system does when the last reference goes (evict_inode). */
    readonly evict: (inode: FsInode) => void,
  ) {
    this.mapping = new FsMapping(ino, this, aops);
    this.blockSize = sb.blockSize;
  }

  /** i_size_read. */
  get size(): bigint {
    return this.iSize;
  }

  /** i_size_write: the callers have checked 0 <= size <= s_maxbytes. */
  set size(size: bigint) {
    this.iSize = size;
    this.iSizePages = Number((size + PAGE_MASK_BIG) >> PAGE_SHIFT_BIG);
  }

  get sizePages(): number {
    return this.iSizePages;
  }
}

/** The kernel's VFS state: inode numbers and the set of live inodes. */
export class Vfs {
  readonly inodes = new Set<FsInode>();
  private nextIno = 1;

  constructor(readonly host: Host) {}

  /** new_inode: allocate an inode number and register the inode. */
  newInode(sb: SuperBlock, mode: number, aops: AddressSpaceOps, evict: (inode: FsInode) => void): FsInode {
    const inode = new FsInode(this.nextIno++, sb, mode, aops, evict);
    this.inodes.add(inode);
    return inode;
  }

  /** iput: drop a reference; an unlinked inode with none left is evicted. */
  // mirrors fs/inode.c:iput (-> evict)
  iput(inode: FsInode): void {
    if (--inode.refs > 0 || inode.nlink > 0) return;
    this.evict(inode);
  }

  /**
   * The last link went (unlink): evict now if nothing holds the inode, else
   * the last iput will.
   */
  // mirrors fs/inode.c:drop_nlink (the iput_final that follows in do_unlinkat)
  dropNlink(inode: FsInode): void {
    if (inode.nlink > 0) inode.nlink--;
    if (inode.nlink === 0 && inode.refs === 0) this.evict(inode);
  }

  // mirrors fs/inode.c:evict
  private evict(inode: FsInode): void {
    if (!this.inodes.has(inode)) return;
    inode.evict(inode);
    this.inodes.delete(inode);
  }
}
