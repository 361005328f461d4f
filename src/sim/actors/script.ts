/**
 * script: one-off operations at given times, in order: the VMM changing its
 * own mappings (mprotect to split a huge mapping, mremap to move memory as
 * hot-plug does), a pipe or vhost holding many FOLL_GET references on a page,
 * a long-term pin of one buffer, MADV_COLLAPSE, a khugepaged wake-up; on a
 * post-copy VM (src/sim/postcopy/vm.ts), placing a piece (alias write and
 * UFFDIO_CONTINUE), and truncating or punching its memfd.
 */
import { z } from 'zod';
import { FOLL_LONGTERM, FOLL_WRITE } from '../../kernel_gup.js';
import { MADV_COLLAPSE, MADV_DONTNEED, MADV_HUGEPAGE, MADV_NOHUGEPAGE, MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MREMAP_FIXED, MREMAP_MAYMOVE, PROT_NONE, PROT_READ, PROT_WRITE } from '../../uapi/mman.js';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE } from '../../uapi/falloc.js';
import { count, duration, name, obj, oneOf, pageSize } from '../scenario/types.js';
import { type Program, op, sleep } from '../engine.js';
import type { PostcopyVm } from '../postcopy/vm.js';
import type { World } from '../world.js';
import type { ActorContext, ActorKind } from './actor.js';
import { actorSchema } from './common.js';

const at = duration('when it runs');
const where = { region: name('the region'), offset: pageSize('the offset in the region') };
const PROT = { none: PROT_NONE, r: PROT_READ, rw: PROT_READ | PROT_WRITE } as const;
const ADVICE = { dontneed: MADV_DONTNEED, hugepage: MADV_HUGEPAGE, nohugepage: MADV_NOHUGEPAGE, collapse: MADV_COLLAPSE } as const;

const Op = z.discriminatedUnion(
  'op',
  [
    obj({ at, op: z.literal('mprotect'), ...where, size: pageSize('the size'), prot: oneOf(['none', 'r', 'rw'], 'the protection') }, 'mprotect(2)'),
    obj({ at, op: z.literal('madvise'), ...where, size: pageSize('the size'), advice: oneOf(['dontneed', 'hugepage', 'nohugepage', 'collapse'], 'the advice') }, 'madvise(2)'),
    obj({ at, op: z.literal('fill'), ...where, size: pageSize('the size'), byte: count('the byte') }, 'a memset'),
    obj(
      { at, op: z.literal('move'), ...where, size: pageSize('the size'), to: pageSize('the destination offset in the region') },
      'mremap(MREMAP_FIXED) of a range to another offset, and a fresh anonymous mapping in the hole it leaves',
    ),
    obj({ at, op: z.literal('pin'), ...where, pages: count('pages', 1).optional() }, 'a long-term FOLL_WRITE pin, held to the end'),
    obj({ at, op: z.literal('get'), ...where, refs: count('references', 1) }, 'FOLL_GET references on one page (a pipe, vhost), held to the end'),
    obj({ at, op: z.literal('place'), ...where, size: pageSize('the size') }, "a post-copy VM: write the range through the alias, then UFFDIO_CONTINUE it on the guest's view"),
    obj({ at, op: z.literal('punch'), ...where, size: pageSize('the size') }, "a post-copy VM: fallocate(PUNCH_HOLE) of its memfd; records the punched page's mapcount after it (mapcountAfterTruncate)"),
    obj({ at, op: z.literal('truncate'), region: name('the post-copy VM'), size: pageSize('the new size') }, "a post-copy VM: ftruncate of its memfd; records the mapcount left on the first page cut off (mapcountAfterTruncate)"),
    obj(
      { at, op: z.literal('khugepaged'), region: name("the region whose process's mmap_lock it takes") },
      'one khugepaged wake-up (Kernel.khugepagedScan): collapses in every registered mm, holding this mm_lock for write',
    ),
  ],
  { error: 'expected an operation with op: mprotect, madvise, fill, move, pin, get, place, punch, truncate or khugepaged' },
);
type Op = z.output<typeof Op>;

const schema = actorSchema('script', 'operations at given times', { ops: z.array(Op).min(1) });
type Spec = ReturnType<typeof schema.parse>;

export const scriptActor: ActorKind<Spec> = {
  kind: 'script',
  description: 'one-off operations at given times: mprotect, madvise (collapse too), fill, move (mremap), a long-term pin, FOLL_GET references, a khugepaged wake-up; on a post-copy VM, place (alias write + UFFDIO_CONTINUE), punch and truncate',
  schema,
  regions: (s) => s.ops.map((o) => o.region),
  *program(ctx: ActorContext, s: Spec): Program {
    let now = s.start ?? 0;
    const ops = [...s.ops].sort((a, b) => a.at - b.at);
    for (const o of ops) {
      if (o.at > now) now = yield sleep(o.at - now);
      now = yield op({ name: o.op, proc: ctx.world.region(o.region).proc, lock: lockOf(o), show: true, run: () => runOp(ctx, o) });
    }
  },
};

function lockOf(o: Op) {
  switch (o.op) {
    case 'fill':
      return 'vma' as const;
    case 'madvise':
    case 'pin':
    case 'get':
    case 'place':
      return 'read' as const;
    case 'punch':
    case 'truncate':
      // hugetlbfs takes i_mmap_rwsem and the fault mutexes, not mmap_lock.
      return 'none' as const;
    default:
      return 'write' as const;
  }
}

function runOp(ctx: ActorContext, o: Op): string {
  const w = ctx.world;
  const r = w.region(o.region);
  const p = r.proc;
  const hex = (n: number) => `0x${n.toString(16)}`;
  if (o.op === 'khugepaged') {
    const s = w.k.khugepagedScan();
    return `${s.collapsed} collapsed`;
  }
  if (o.op === 'truncate') {
    const vm = vmOf(w, o.region);
    const pfn = p.pagemap(vm.alias + o.size).pfn;
    p.ftruncate(vm.fd, o.size);
    return mapcountAfter(w, pfn, `${o.region} truncated to ${hex(o.size)}`);
  }
  const addr = r.addr + o.offset;
  switch (o.op) {
    case 'mprotect':
      p.mprotect(addr, o.size, PROT[o.prot]);
      return `${o.region}+${hex(o.offset)} ${o.prot}`;
    case 'madvise':
      p.madvise(addr, o.size, ADVICE[o.advice]);
      return `${o.region}+${hex(o.offset)} ${o.advice}`;
    case 'fill':
      p.fill(addr, o.size, o.byte);
      return `${o.region}+${hex(o.offset)}`;
    case 'move': {
      const to = r.addr + o.to;
      p.munmap(to, o.size);
      p.mremap(addr, o.size, o.size, MREMAP_MAYMOVE | MREMAP_FIXED, to);
      p.mmap(addr, o.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
      // Pins follow the pages they hold to their new address.
      for (const h of w.held) if (h.proc === p && h.addr >= addr && h.addr < addr + o.size) h.addr += to - addr;
      return `${o.region}+${hex(o.offset)} -> ${o.region}+${hex(o.to)}`;
    }
    case 'pin': {
      const n = o.pages ?? 1;
      const pages: number[] = [];
      const got = w.k.gup.pin_user_pages(p, addr, n, FOLL_WRITE | FOLL_LONGTERM, pages);
      for (let i = 0; i < Math.max(got, 0); i++) w.held.add({ proc: p, addr: addr + i * 4096, pfn: pages[i]! });
      return `${Math.max(got, 0)} of ${n} pages pinned`;
    }
    case 'get': {
      const pages: number[] = [];
      for (let i = 0; i < o.refs; i++) w.k.gup.get_user_pages(p, addr, 1, 0, pages);
      return `${pages.length} references`;
    }
    case 'place':
      return vmOf(w, o.region).place({ off: o.offset, len: o.size, asked: 0, arrives: 0 });
    case 'punch': {
      const vm = vmOf(w, o.region);
      // The page through the alias (mapped whole there by the writes that filled it).
      const e = p.pagemap(vm.alias + o.offset);
      const pfn = e.present ? e.pfn : p.pagemap(vm.primary + o.offset).pfn;
      p.fallocate(vm.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, o.offset, o.size);
      return mapcountAfter(w, pfn, `${o.region}+${hex(o.offset)} punched`);
    }
  }
}

function vmOf(w: World, region: string): PostcopyVm {
  const vm = w.vm(region);
  if (vm === undefined) throw new Error(`script: region '${region}' is not a post-copy VM (setup.vms)`);
  return vm;
}

/** Record the mapcount the folio at pfn still has (0 once it is freed). */
function mapcountAfter(w: World, pfn: number, what: string): string {
  const f = w.k.folio(pfn);
  const n = f === null ? 0 : f.mapcount;
  w.add('mapcountAfterTruncate', n);
  return `${what}: the page's mapcount is now ${n}`;
}
