/**
 * A plain reference model of the Linux semantics the property tests check.
 *
 * No page tables, folios, THPs, rmap or reference counts: each process is a
 * map from virtual page number to what that page shows, and each file (memfd
 * or the object behind a MAP_SHARED|MAP_ANONYMOUS mapping) is a size plus a
 * sparse page store. If foliosim and this model disagree on any byte, signal
 * or errno, one of them is wrong about Linux.
 *
 * Page bytes are `Bytes`: a number (every byte of the page equals it) or a
 * 4 KiB Uint8Array. Bytes values are never mutated in place, so a fork may
 * share them between processes (a copy is made on every change).
 */
import type { ErrnoName } from '../../src/index.js';
import {
  FALLOC_FL_KEEP_SIZE,
  FALLOC_FL_PUNCH_HOLE,
  MADV_DODUMP,
  MADV_DOFORK,
  MADV_DONTDUMP,
  MADV_DONTFORK,
  MADV_DONTNEED,
  MADV_HUGEPAGE,
  MADV_KEEPONFORK,
  MADV_NOHUGEPAGE,
  MADV_NORMAL,
  MADV_POPULATE_READ,
  MADV_POPULATE_WRITE,
  MADV_RANDOM,
  MADV_REMOVE,
  MADV_SEQUENTIAL,
  MADV_WIPEONFORK,
  MADV_WILLNEED,
  MADV_COLD,
  MADV_PAGEOUT,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  MAP_TYPE,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
} from '../../src/uapi/index.js';

export const PAGE = 4096;
export const PMD = 2 * 1024 * 1024;

export type Bytes = number | Uint8Array;
export type Sig = 'SIGSEGV' | 'SIGBUS';

// ---------------------------------------------------------------------------
// Page bytes.

export function byteAt(b: Bytes, off: number): number {
  return typeof b === 'number' ? b : b[off]!;
}

/** Copy n bytes of page b from off into out at outOff. */
export function pageRead(b: Bytes, off: number, n: number, out: Uint8Array, outOff: number): void {
  if (typeof b === 'number') out.fill(b, outOff, outOff + n);
  else out.set(b.subarray(off, off + n), outOff);
}

/** A new Bytes: b with [off, off + n) replaced by src[srcOff..] (or the byte src). */
export function pageWrite(b: Bytes, off: number, n: number, src: Uint8Array | number, srcOff = 0): Bytes {
  if (typeof src === 'number') {
    if (off === 0 && n === PAGE) return src;
    if (typeof b === 'number' && b === src) return b;
  }
  const out = typeof b === 'number' ? new Uint8Array(PAGE).fill(b) : b.slice();
  if (typeof src === 'number') out.fill(src, off, off + n);
  else out.set(src.subarray(srcOff, srcOff + n), off);
  return out;
}

/** Zero [from, to) of a page. */
function pageZero(b: Bytes, from: number, to: number): Bytes {
  return to > from ? pageWrite(b, from, to - from, 0) : b;
}

// ---------------------------------------------------------------------------
// Files.

let fileIds = 0;

/** A tmpfs inode: i_size and the page cache (absent pages and holes read as zeros). */
export class RefFile {
  readonly id = ++fileIds;
  /**
   * Page index -> bytes. This includes the bytes past i_size in the last
   * partial page: a MAP_SHARED store there lands in the page cache, and
   * tmpfs does not zero it when the file grows again (shmem_setattr and
   * shmem_write_end just move i_size), so it becomes readable.
   */
  readonly pages = new Map<number, Bytes>();
  constructor(
    public size: number,
    readonly label: string,
  ) {}

  page(idx: number): Bytes {
    return this.pages.get(idx) ?? 0;
  }

  /** Pages at index >= this are beyond EOF: a mapping faulting there gets SIGBUS. */
  get eofPages(): number {
    return Math.ceil(this.size / PAGE);
  }

  /** Zero (or drop) the bytes [start, end) of the page cache (shmem_undo_range). */
  truncateRange(start: number, end: number): void {
    const first = Math.floor(start / PAGE);
    const last = Math.floor((end - 1) / PAGE);
    for (const idx of [...this.pages.keys()]) {
      if (idx < first || idx > last) continue;
      const from = Math.max(start, idx * PAGE) - idx * PAGE;
      const to = Math.min(end, (idx + 1) * PAGE) - idx * PAGE;
      if (from === 0 && to === PAGE) this.pages.delete(idx);
      else this.pages.set(idx, pageZero(this.page(idx), from, to));
    }
  }

  readBytes(pos: number, n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let done = 0; done < n; ) {
      const p = pos + done;
      const idx = Math.floor(p / PAGE);
      const off = p % PAGE;
      const k = Math.min(n - done, PAGE - off);
      pageRead(this.page(idx), off, k, out, done);
      done += k;
    }
    return out;
  }

  writeBytes(pos: number, src: Uint8Array): void {
    for (let done = 0; done < src.length; ) {
      const p = pos + done;
      const idx = Math.floor(p / PAGE);
      const off = p % PAGE;
      const k = Math.min(src.length - done, PAGE - off);
      this.pages.set(idx, pageWrite(this.page(idx), off, k, src, done));
      done += k;
    }
  }
}

// ---------------------------------------------------------------------------
// Address spaces.

export const enum Kind {
  /** Private anonymous: data is the page's bytes. */
  Anon,
  /** MAP_SHARED (memfd or shared anonymous): the page is file page idx. */
  Shared,
  /** MAP_PRIVATE of a file: data is the private (COW) copy, or null while it still shows file page idx. */
  Private,
}

export interface RefPage {
  kind: Kind;
  prot: number;
  /** VM_DONTCOPY (MADV_DONTFORK). */
  dontfork: boolean;
  /** VM_WIPEONFORK. */
  wipe: boolean;
  file: RefFile | null;
  idx: number;
  data: Bytes | null;
}

export class RefProc {
  /** Virtual page number -> page. */
  pages = new Map<number, RefPage>();
  fds = new Map<number, RefFile>();
  constructor(readonly pid: number) {}

  lowestFreeFd(): number {
    let fd = 0;
    while (this.fds.has(fd)) fd++;
    return fd;
  }

  isFree(addr: number, len: number): boolean {
    for (let v = addr / PAGE; v < (addr + len) / PAGE; v++) if (this.pages.has(v)) return false;
    return true;
  }
}

export type AccessResult = { signal: null; bytes: Uint8Array | null } | { signal: Sig; addr: number };

export type MmapPlan = { err: ErrnoName } | { addr: number | null; align: number };

const roundUp = (n: number, a: number): number => Math.ceil(n / a) * a;

function canRead(prot: number): boolean {
  // x86: PROT_WRITE and PROT_EXEC pages are readable too.
  return (prot & (PROT_READ | PROT_WRITE | PROT_EXEC)) !== 0;
}

/** The signal a CPU access to this page raises, or null if it completes. */
export function accessFault(p: RefPage | undefined, write: boolean): Sig | null {
  if (p === undefined) return 'SIGSEGV';
  if (write ? !(p.prot & PROT_WRITE) : !canRead(p.prot)) return 'SIGSEGV';
  // A page still served by the page cache faults through ->fault, which
  // refuses whole pages beyond EOF (a private copy is already mapped).
  if (p.kind !== Kind.Anon && p.data === null && p.idx >= p.file!.eofPages) return 'SIGBUS';
  return null;
}

/** The bytes a page shows. */
export function pageBytes(p: RefPage): Bytes {
  if (p.kind === Kind.Anon) return p.data!;
  if (p.kind === Kind.Private && p.data !== null) return p.data;
  return p.file!.page(p.idx);
}

const VALID_ADVICE = new Set([
  MADV_NORMAL,
  MADV_RANDOM,
  MADV_SEQUENTIAL,
  MADV_DONTNEED,
  MADV_REMOVE,
  MADV_DONTFORK,
  MADV_DOFORK,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MADV_DONTDUMP,
  MADV_DODUMP,
  MADV_WIPEONFORK,
  MADV_KEEPONFORK,
  MADV_POPULATE_READ,
  MADV_POPULATE_WRITE,
  // Reclaim hints: no data effect (foliosim has no reclaim; on Linux a page-out is invisible to loads).
  MADV_WILLNEED,
  MADV_COLD,
  MADV_PAGEOUT,
]);

export class RefSystem {
  readonly procs = new Map<number, RefProc>();
  private nextPid = 1;

  spawn(): RefProc {
    const p = new RefProc(this.nextPid++);
    this.procs.set(p.pid, p);
    return p;
  }

  live(): RefProc[] {
    return [...this.procs.values()];
  }

  // -------------------------------------------------------------------------
  // mmap / munmap / mprotect / madvise

  /** What mmap will do: an errno, or the address (null: any free range, aligned to align). */
  mmapPlan(p: RefProc, addr: number, len: number, _prot: number, flags: number, fd: number, off: number): MmapPlan {
    if (off % PAGE !== 0) return { err: 'EINVAL' };
    if (!(flags & MAP_ANONYMOUS) && !p.fds.has(fd)) return { err: 'EBADF' };
    if (len === 0) return { err: 'EINVAL' };
    const type = flags & MAP_TYPE;
    if (type !== MAP_SHARED && type !== MAP_PRIVATE) return { err: 'EINVAL' };
    const alen = roundUp(len, PAGE);
    if (flags & MAP_FIXED) return addr % PAGE !== 0 ? { err: 'EINVAL' } : { addr, align: PAGE };
    const hint = addr - (addr % PAGE);
    if (hint !== 0 && p.isFree(hint, alen)) return { addr: hint, align: PAGE };
    // No usable hint: anonymous private mappings of whole PMDs are THP-aligned (thp_get_unmapped_area).
    const thpAligned = hint === 0 && flags & MAP_ANONYMOUS && type === MAP_PRIVATE && alen % PMD === 0;
    return { addr: null, align: thpAligned ? PMD : PAGE };
  }

  /** Install the mapping mmap returned at addr. */
  mmapApply(p: RefProc, addr: number, len: number, prot: number, flags: number, fd: number, off: number): void {
    const alen = roundUp(len, PAGE);
    this.unmap(p, addr, alen);
    const type = flags & MAP_TYPE;
    let file: RefFile | null = null;
    let base = off / PAGE;
    if (flags & MAP_ANONYMOUS) {
      if (type === MAP_SHARED) {
        file = new RefFile(alen, 'shared-anon');
        base = 0;
      }
    } else {
      file = p.fds.get(fd)!;
    }
    const kind = file === null ? Kind.Anon : type === MAP_SHARED ? Kind.Shared : Kind.Private;
    for (let i = 0; i < alen / PAGE; i++) {
      p.pages.set(addr / PAGE + i, { kind, prot, dontfork: false, wipe: false, file, idx: base + i, data: kind === Kind.Anon ? 0 : null });
    }
  }

  private unmap(p: RefProc, addr: number, alen: number): void {
    for (let v = addr / PAGE; v < (addr + alen) / PAGE; v++) p.pages.delete(v);
  }

  munmap(p: RefProc, addr: number, len: number): ErrnoName | null {
    if (addr % PAGE !== 0) return 'EINVAL';
    const alen = roundUp(len, PAGE);
    if (alen === 0) return 'EINVAL';
    this.unmap(p, addr, alen);
    return null;
  }

  /**
   * mprotect: the range must start mapped; VMAs are changed in order until a
   * hole, which fails the call with ENOMEM (earlier VMAs keep the change).
   */
  mprotect(p: RefProc, addr: number, len: number, prot: number): ErrnoName | null {
    if (addr % PAGE !== 0) return 'EINVAL';
    if (len === 0) return null;
    const end = addr + roundUp(len, PAGE);
    for (let v = addr / PAGE; v < end / PAGE; v++) {
      const pg = p.pages.get(v);
      if (pg === undefined) return 'ENOMEM';
      pg.prot = prot;
    }
    return null;
  }

  /**
   * madvise: each mapped piece is advised in address order; a piece that
   * refuses the advice stops the walk with its errno; holes are skipped but
   * make the call fail with ENOMEM at the end. MADV_POPULATE_* instead stop
   * at the first hole (ENOMEM), unusable VMA (EINVAL) or failing fault (EFAULT).
   */
  madvise(p: RefProc, addr: number, len: number, advice: number): ErrnoName | null {
    if (!VALID_ADVICE.has(advice)) return 'EINVAL';
    if (addr % PAGE !== 0) return 'EINVAL';
    const end = addr + roundUp(len, PAGE);
    if (end === addr) return null;
    if (advice === MADV_POPULATE_READ || advice === MADV_POPULATE_WRITE) {
      const write = advice === MADV_POPULATE_WRITE;
      for (let v = addr / PAGE; v < end / PAGE; v++) {
        const pg = p.pages.get(v);
        if (pg === undefined) return 'ENOMEM';
        if (write ? !(pg.prot & PROT_WRITE) : !(pg.prot & PROT_READ)) return 'EINVAL';
        if (accessFault(pg, write) === 'SIGBUS') return 'EFAULT';
        // A write fault breaks COW: the private copy now stops following the file.
        if (write && pg.kind === Kind.Private && pg.data === null) pg.data = pg.file!.page(pg.idx);
      }
      return null;
    }
    let hole = false;
    for (let v = addr / PAGE; v < end / PAGE; v++) {
      const pg = p.pages.get(v);
      if (pg === undefined) {
        hole = true;
        continue;
      }
      switch (advice) {
        case MADV_DONTNEED:
          if (pg.kind === Kind.Anon) pg.data = 0;
          else if (pg.kind === Kind.Private) pg.data = null;
          break;
        case MADV_REMOVE:
          if (pg.kind === Kind.Anon) return 'EINVAL';
          if (pg.kind === Kind.Private) return 'EACCES';
          // Punch the hole: the file page goes (private copies elsewhere stay).
          pg.file!.pages.delete(pg.idx);
          break;
        case MADV_DONTFORK:
          pg.dontfork = true;
          break;
        case MADV_DOFORK:
          pg.dontfork = false;
          break;
        case MADV_WIPEONFORK:
          if (pg.kind !== Kind.Anon) return 'EINVAL';
          pg.wipe = true;
          break;
        case MADV_KEEPONFORK:
          pg.wipe = false;
          break;
        default:
          break; // NORMAL, RANDOM, SEQUENTIAL, HUGEPAGE, NOHUGEPAGE, DONTDUMP, DODUMP, WILLNEED, COLD, PAGEOUT
      }
    }
    return hole ? 'ENOMEM' : null;
  }

  // -------------------------------------------------------------------------
  // Processes.

  fork(p: RefProc): RefProc {
    const c = this.spawn();
    for (const [v, pg] of p.pages) {
      if (pg.dontfork) continue;
      const copy = { ...pg };
      if (pg.wipe) copy.data = 0;
      c.pages.set(v, copy);
    }
    for (const [fd, f] of p.fds) c.fds.set(fd, f);
    return c;
  }

  exit(p: RefProc): void {
    this.procs.delete(p.pid);
  }

  // -------------------------------------------------------------------------
  // CPU accesses.

  /**
   * A load (src null) or a store of src (bytes, or one byte repeated len
   * times). Pages are done in order; the first faulting page stops the
   * access with a signal at the access address (first page) or at the
   * faulting page's first byte, after the earlier pages were done.
   */
  access(p: RefProc, addr: number, len: number, src: Uint8Array | number | null): AccessResult {
    const write = src !== null;
    const out = write ? null : new Uint8Array(len);
    for (let done = 0; done < len; ) {
      const a = addr + done;
      const off = a % PAGE;
      const k = Math.min(len - done, PAGE - off);
      const pg = p.pages.get(Math.floor(a / PAGE));
      const sig = accessFault(pg, write);
      if (sig !== null) return { signal: sig, addr: a };
      if (out !== null) {
        pageRead(pageBytes(pg!), off, k, out, done);
      } else {
        const srcOff = typeof src === 'number' ? 0 : done;
        if (pg!.kind === Kind.Shared) {
          const f = pg!.file!;
          f.pages.set(pg!.idx, pageWrite(f.page(pg!.idx), off, k, src!, srcOff));
        } else {
          pg!.data = pageWrite(pageBytes(pg!), off, k, src!, srcOff);
        }
      }
      done += k;
    }
    return { signal: null, bytes: out };
  }

  // -------------------------------------------------------------------------
  // Files.

  memfdCreate(p: RefProc, name: string): number {
    const fd = p.lowestFreeFd();
    p.fds.set(fd, new RefFile(0, `memfd:${name}`));
    return fd;
  }

  close(p: RefProc, fd: number): ErrnoName | null {
    if (!p.fds.delete(fd)) return 'EBADF';
    return null;
  }

  ftruncate(p: RefProc, fd: number, size: number): ErrnoName | null {
    const f = p.fds.get(fd);
    if (f === undefined) return 'EBADF';
    const old = f.size;
    f.size = size;
    if (size <= old) {
      const holebegin = roundUp(size, PAGE);
      // The page cache beyond the new size goes; the partial page is zeroed past it.
      f.truncateRange(size, Number.MAX_SAFE_INTEGER);
      // unmap_mapping_range(even_cows=1): private copies beyond EOF are discarded too.
      if (old > holebegin) this.dropCows(f, holebegin / PAGE);
    }
    return null;
  }

  private dropCows(f: RefFile, fromIdx: number): void {
    for (const q of this.procs.values()) {
      for (const pg of q.pages.values()) if (pg.kind === Kind.Private && pg.file === f && pg.idx >= fromIdx) pg.data = null;
    }
  }

  fallocate(p: RefProc, fd: number, mode: number, off: number, len: number): ErrnoName | null {
    const f = p.fds.get(fd);
    if (f === undefined) return 'EBADF';
    if (off < 0 || len <= 0) return 'EINVAL';
    if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE)) return 'EOPNOTSUPP';
    if (mode & FALLOC_FL_PUNCH_HOLE) {
      if (!(mode & FALLOC_FL_KEEP_SIZE)) return 'EOPNOTSUPP';
      // Hole punching leaves private COW copies alone.
      f.truncateRange(off, off + len);
      return null;
    }
    // Allocation: fallocated pages read as zeros, existing data stays.
    if (!(mode & FALLOC_FL_KEEP_SIZE) && off + len > f.size) f.size = off + len;
    return null;
  }

  pread(p: RefProc, fd: number, count: number, off: number): Uint8Array | ErrnoName {
    const f = p.fds.get(fd);
    if (f === undefined) return 'EBADF';
    if (off >= f.size) return new Uint8Array(0);
    return f.readBytes(off, Math.min(count, f.size - off));
  }

  pwrite(p: RefProc, fd: number, bytes: Uint8Array, off: number): number | ErrnoName {
    const f = p.fds.get(fd);
    if (f === undefined) return 'EBADF';
    if (bytes.length === 0) return 0;
    f.writeBytes(off, bytes);
    if (off + bytes.length > f.size) f.size = off + bytes.length;
    return bytes.length;
  }
}
