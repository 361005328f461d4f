/**
 * Actors on a confidential VM (setup.cvms, src/sim/cvm/vm.ts):
 *
 *   convert   the guest's conversions: ranges made shared (bounce buffers at
 *             boot, virtio buffers) and, after `back`, private again; with
 *             `check`, the guest writes a tag before sharing, the host reads
 *             it through its view and answers, and the guest reads the
 *             answer once the page is private again (contents preserved?).
 *   vmm-io    the VMM's I/O on shared pages: O_DIRECT-like short-term pins
 *             held for the transfer, or VFIO/RDMA-like long-term pins.
 *   cvm-vcpu  a vCPU touching a hot working set of guest pages; it samples
 *             the VM's stage-2 leaves by size over time.
 */
import { z } from 'zod';
import { FOLL_LONGTERM, FOLL_WRITE } from '../../kernel_gup.js';
import { count, duration, flag, name, oneOf, pageSize } from '../scenario/types.js';
import { type Program, hold, op, sleep } from '../engine.js';
import type { CocoVm } from '../cvm/vm.js';
import type { World } from '../world.js';
import { captureGmemFolioMap } from '../folio_map.js';
import type { ActorContext, ActorKind } from './actor.js';
import { actorSchema } from './common.js';

const PAGE = 4096;

function cvmOf(w: World, region: string): CocoVm {
  const vm = w.cvms.get(region);
  if (vm === undefined) throw new Error(`region '${region}' is not a confidential VM (setup.cvms)`);
  return vm;
}

/** Record the VM's stage-2 leaves by size (series s2Leaves4k/2m/1g) at now. */
export function sampleS2(w: World, vm: CocoVm, now: number): void {
  const m = vm.mmu();
  if (m === null) return;
  w.point('s2Leaves4k', now, m.mmu.leaves[1]!);
  w.point('s2Leaves2m', now, m.mmu.leaves[2]!);
  w.point('s2Leaves1g', now, m.mmu.leaves[3]!);
}

// ---------------------------------------------------------------------------

const convertSchema = actorSchema('convert', "a guest's shared/private conversions", {
  region: name('the confidential VM'),
  /** Where the first range starts, its size, and how far apart successive ranges are (default: adjacent). */
  offset: pageSize('the offset of the first range'),
  size: pageSize('bytes per conversion'),
  stride: pageSize('the distance between ranges').optional(),
  /** random: each range at a random page of [offset, offset + window). */
  pattern: oneOf(['sequential', 'random'], 'where ranges are taken').optional(),
  window: pageSize('the window random ranges fall in').optional(),
  /** Conversions to shared (default 1), and the time between them. */
  count: count('the number of conversions', 1).optional(),
  every: duration('the time between conversions').optional(),
  /** The first conversion of each range: to shared (default) or to private. */
  to: oneOf(['shared', 'private'], 'the direction of the first conversion').optional(),
  /** Convert each range back this long after the first conversion; omit to leave it. */
  back: duration('how long until a range is converted back').optional(),
  /** Check the contents survive the round trip (a tag written by the side that owns the page, an answer by the other). */
  check: flag('check contents across conversions').optional(),
  /** After each conversion, the guest touches one page per 2 MiB again (re-faulting what the conversion zapped). */
  retouch: flag('touch all memory after each conversion').optional(),
  /** Capture the folio map of the VM's first huge page after the last conversion to shared. */
  folioMap: flag('capture the folio map').optional(),
});
type ConvertSpec = ReturnType<typeof convertSchema.parse>;

export const convertActor: ActorKind<ConvertSpec> = {
  kind: 'convert',
  description: "a confidential guest's conversions: ranges made shared (swiotlb, virtio buffers) and private again after a while, optionally checking that contents survive",
  schema: convertSchema,
  regions: (s) => [s.region],
  *program(ctx: ActorContext, s: ConvertSpec): Program {
    const w = ctx.world;
    const vm = cvmOf(w, s.region);
    const p = vm.proc;
    const pages = s.size / PAGE;
    const n = s.count ?? 1;
    const stride = (s.stride ?? s.size) / PAGE;
    const window = Math.max(pages, (s.window ?? vm.size - s.offset) / PAGE);
    const sweep = () => vm.prefault();
    let now = s.start ?? 0;
    sampleS2(w, vm, now);
    /** One conversion of [pg, pg + pages); returns the time after it. */
    const convert = function* (pg: number, toShared: boolean): Generator<ReturnType<typeof op>, number, number> {
      const t0 = now;
      const waited = vm.pinWaitNs;
      vm.clock = now;
      let refused = 0;
      now = yield op({
        name: toShared ? 'to_shared' : 'to_private',
        proc: p,
        lock: 'none',
        show: true,
        run: () => {
          const exits = vm.exits;
          const r = vm.convert(pg, pages, toShared);
          w.add('conversionExits', vm.exits - exits);
          w.add('conversions', r.ok);
          w.add('conversionsRefused', r.refused);
          refused = r.refused;
          if (s.retouch === true) sweep();
          return `${pages} pages at +0x${(pg * PAGE).toString(16)} ${toShared ? 'shared' : 'private'}${r.refused > 0 ? `: ${r.refused} refused (${r.err})` : ''}`;
        },
      });
      // The conversion slept waiting for short-term pins (gmemHugeShared 'no-longterm-pin').
      const wait = vm.pinWaitNs - waited;
      if (wait > 0) now = yield hold(wait, 'waits for pins', '', true);
      if (refused === 0) w.sample('convertLatency', now - t0);
      sampleS2(w, vm, now);
      return now;
    };
    const tag = (i: number) => (0x10 + i) & 0xff;
    const toShared = s.to !== 'private';
    /** The host's or the guest's byte at offset off of page pg. */
    const host = (pg: number, off: number, v?: number): number => {
      if (v !== undefined) p.write(vm.view + pg * PAGE + off, Uint8Array.of(v));
      return p.read(vm.view + pg * PAGE + off, 1)[0]!;
    };
    const guest = (pg: number, off: number, v?: number): number => {
      if (v !== undefined) vm.touchAt(pg * PAGE + off, v);
      return vm.guestReadAt(pg * PAGE + off);
    };
    /** The side that owns the page now, and the other. */
    const owner = (shared: boolean) => (shared ? host : guest);
    const checkOp = (what: string, run: () => void) => op({ name: what, proc: p, lock: what.startsWith('host') ? 'read' : 'none', syscall: what.startsWith('host'), run });
    for (let i = 0; i < n; i++) {
      const pg = s.pattern === 'random' ? s.offset / PAGE + ctx.rng.int(0, window - pages) : s.offset / PAGE + i * stride;
      if (pg + pages > vm.size / PAGE) break;
      // Only a range wholly in the other state converts (a random one may overlap one converted before).
      if (s.check === true) now = yield checkOp(toShared ? 'guest_write' : 'host_write', () => void owner(!toShared)(pg, 0, tag(i)));
      now = yield* convert(pg, toShared);
      const moved = vm.isShared(pg) === toShared;
      if (s.check === true && moved) {
        now = yield checkOp(toShared ? 'host_io' : 'guest_read', () => {
          if (owner(toShared)(pg, 0) !== tag(i)) w.add('contentsLost');
          owner(toShared)(pg, 1, tag(i) ^ 0xff);
        });
      }
      if (s.folioMap === true && i === n - 1) w.folioMap = captureGmemFolioMap(w, vm, `after ${n} conversion${n > 1 ? 's' : ''} to ${toShared ? 'shared' : 'private'} of ${s.size / 1024} KiB`);
      if (s.back !== undefined) {
        now = yield sleep(s.back);
        now = yield* convert(pg, !toShared);
        if (s.check === true && moved && vm.isShared(pg) !== toShared) {
          now = yield checkOp(toShared ? 'guest_read' : 'host_io', () => {
            if (owner(!toShared)(pg, 1) !== (tag(i) ^ 0xff)) w.add('contentsLost');
          });
        }
      }
      if (s.every !== undefined && i < n - 1) now = yield sleep(s.every);
    }
  },
};

// ---------------------------------------------------------------------------

const ioSchema = actorSchema('vmm-io', "the VMM's I/O on shared guest pages", {
  region: name('the confidential VM'),
  every: duration('the time between I/Os'),
  /** How long the device holds each pin; "forever" keeps it (VFIO, RDMA). */
  hold: z.union([z.literal('forever'), duration('how long a pin is held')]),
  /** FOLL_LONGTERM (VFIO/RDMA); default a short-term pin (O_DIRECT). */
  longterm: flag('long-term pins').optional(),
  /** Target pages in [offset, offset + window) that are shared now (default: all of memory). */
  offset: pageSize('the start of the target window').optional(),
  window: pageSize('the target window').optional(),
  limit: count('the number of I/Os', 1).optional(),
});
type IoSpec = ReturnType<typeof ioSchema.parse>;

export const vmmIoActor: ActorKind<IoSpec> = {
  kind: 'vmm-io',
  description: "the VMM's I/O on shared pages of a confidential VM: O_DIRECT-like short-term pins held for the transfer, or VFIO/RDMA-like long-term pins",
  schema: ioSchema,
  regions: (s) => [s.region],
  *program(ctx: ActorContext, s: IoSpec): Program {
    const w = ctx.world;
    const vm = cvmOf(w, s.region);
    const p = vm.proc;
    const first = (s.offset ?? 0) / PAGE;
    const span = Math.max(1, (s.window ?? vm.size - (s.offset ?? 0)) / PAGE);
    const flags = FOLL_WRITE | (s.longterm === true ? FOLL_LONGTERM : 0);
    let now = s.start ?? 0;
    for (let i = 0; s.limit === undefined || i < s.limit; i++) {
      now = yield sleep(s.every);
      const pg = vm.randomShared(ctx.rng, first, first + span);
      if (pg < 0) continue;
      let pin = -1;
      now = yield op({
        name: s.longterm === true ? 'pin_longterm' : 'pin',
        proc: p,
        lock: 'read',
        run: () => {
          const pages: number[] = [];
          const got = w.k.gup.pin_user_pages(p, vm.view + pg * PAGE, 1, flags, pages);
          if (got !== 1) {
            w.add('pinsRefused');
            return `refused (${got})`;
          }
          pin = pages[0]!;
          w.add('ioDone');
          if (s.hold === 'forever') w.held.add({ proc: p, addr: vm.view + pg * PAGE, pfn: pin });
          else vm.inflight.add({ pfn: pin, until: now + s.hold });
          return `+0x${(pg * PAGE).toString(16)}`;
        },
      });
      if (pin < 0 || s.hold === 'forever') continue;
      now = yield hold(s.hold, 'I/O');
      yield op({ name: 'unpin', proc: p, lock: 'none', syscall: false, run: () => vm.completeIo(pin) });
    }
  },
};

// ---------------------------------------------------------------------------

const vcpuSchema = actorSchema('cvm-vcpu', "a vCPU touching a confidential VM's hot pages", {
  region: name('the confidential VM'),
  every: duration('the time between touches'),
  /** Pages of the working set, chosen at random at start. */
  hot: count('pages in the working set', 1).optional(),
});
type VcpuSpec = ReturnType<typeof vcpuSchema.parse>;

export const cvmVcpuActor: ActorKind<VcpuSpec> = {
  kind: 'cvm-vcpu',
  description: "a vCPU of a confidential VM touching a hot working set through stage 2 (faulting what conversions zapped); samples stage-2 leaves by size",
  schema: vcpuSchema,
  regions: (s) => [s.region],
  *program(ctx: ActorContext, s: VcpuSpec): Program {
    const w = ctx.world;
    const vm = cvmOf(w, s.region);
    const hot: number[] = [];
    for (let i = 0; i < (s.hot ?? 64); i++) hot.push(ctx.rng.int(0, vm.size / PAGE - 1));
    let now = s.start ?? 0;
    for (;;) {
      now = yield sleep(s.every);
      const pg = hot[ctx.rng.int(0, hot.length - 1)]!;
      // A shared page is the host's to touch in a CoCo guest's view only through its shared alias: the guest reads it either way.
      now = yield op({ name: 'touch', proc: vm.proc, lock: 'none', syscall: false, run: () => vm.touch([pg], false) });
      sampleS2(w, vm, now);
    }
  },
};
