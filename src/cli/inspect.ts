/**
 * `foliosim inspect` (/proc-style views of a scenario's final state) and
 * `foliosim trace` (the run as ftrace event lines).
 */
import { writeFileSync } from 'node:fs';
import { formatMeminfo } from '../fs/proc/meminfo.js';
import { formatBuddyinfo } from '../mm/vmstat.js';
import { formatSmaps } from '../fs/proc/task_mmu.js';
import * as KPF from '../uapi/kernel_page_flags.js';
import { dumpPage } from '../mm/debug.js';
import { kvmDebugfsFiles } from '../kvm/stats.js';
import type { Process } from '../process.js';
import { nearest } from '../lib/suggest.js';
import { evaluate } from '../sim/scenario/expr.js';
import type { ParamOverride, RunConfig, Scenario } from '../sim/scenario/load.js';
import { runOne } from '../sim/run.js';
import { seedOf } from '../sim/jobs.js';
import { loadNamed } from '../report/compare.js';
import { traceRun } from '../sim/trace.js';
import type { World } from '../sim/world.js';
import { UsageError } from './errors.js';

interface PickOpts {
  design?: string;
  seed?: number;
  set?: ParamOverride[];
}

/** The configuration to run: the named design (first by default) at the sweep's headline value. */
function pick(s: Scenario, design: string | undefined): RunConfig {
  const ids = s.designs.map((d) => d.id);
  const d = design ?? ids[0]!;
  if (!ids.includes(d)) throw new UsageError(`--design: '${d}' is not a design of ${s.name}${nearest(d, ids)}; designs: ${ids.join(', ')}`);
  const headline = s.spec.sweep === undefined ? null : s.xs.length === 1 ? s.xs[0]! : (s.spec.sweep.headline ?? s.xs[s.xs.length - 1]!);
  return s.configs.find((c) => c.design.id === d && c.x === headline)!;
}

export interface InspectOpts extends PickOpts {
  view: string;
  process?: string;
  addr?: string;
}

export function cmdInspect(name: string, opts: InspectOpts): void {
  const s = loadNamed(name, opts.set ?? []).scenario;
  const cfg = pick(s, opts.design);
  const seed = seedOf(s, opts.seed);
  const { world } = runOne(cfg, seed);
  const k = world.k;
  const procName = opts.process ?? [...world.procs.keys()][0]!;
  const proc = world.procs.get(procName);
  if (proc === undefined) throw new UsageError(`--process: no process '${procName}'${nearest(procName, [...world.procs.keys()])}; processes: ${[...world.procs.keys()].join(', ')}`);
  const header = `# ${s.name}, design ${cfg.design.id}, seed ${seed}: state at the end of the run (${procName} is pid ${proc.pid})\n`;
  let body: string;
  switch (opts.view) {
    case 'meminfo':
      body = formatMeminfo(k.meminfo()) + '\n';
      break;
    case 'vmstat':
      body = Object.entries(k.vmstat()).map(([key, v]) => `${key} ${v}`).join('\n') + '\n';
      break;
    case 'buddyinfo':
      body = formatBuddyinfo(k.buddyinfo());
      break;
    case 'smaps':
      body = live(proc).smaps().map(formatSmaps).join('');
      break;
    case 'status':
      body = Object.entries(live(proc).status()).map(([key, v]) => `${key}:\t${typeof v === 'number' ? `${String(v).padStart(8)} kB` : v}`).join('\n') + '\n';
      break;
    case 'kvm':
      // What `grep -H . /sys/kernel/debug/kvm/*/* /sys/kernel/debug/kvm/*` would show, in the files' creation order.
      body = kvmDebugfsFiles(k.host).map((f) => `${f.path}:${f.value}`).join('\n') + '\n';
      break;
    case 'pins': {
      const p = k.pinAccounting();
      body = Object.entries(p).map(([key, v]) => `${key}: ${v}`).join('\n') + '\n' + Object.entries(k.dmaStats()).map(([key, v]) => `dma.${key}: ${v}`).join('\n') + '\n';
      break;
    }
    default: {
      const addr = address(world, opts.addr, proc);
      const e = live(proc).pagemap(addr);
      if (opts.view === 'pagemap') {
        body = `0x${addr.toString(16)}: ${e.raw.toString(16).padStart(16, '0')}  present=${e.present} pfn=0x${e.pfn.toString(16)} exclusive=${e.exclusive} file=${e.file} soft-dirty=${e.softDirty} mapped-by=${e.mappedBy >> 10}K\n`;
        break;
      }
      if (!e.present) throw new UsageError(`nothing is mapped at 0x${addr.toString(16)} in ${procName}`);
      if (opts.view === 'kpageflags') {
        const bits = k.kpageflags(e.pfn);
        const names = Object.entries(KPF)
          .filter(([n, v]) => n.startsWith('KPF_') && typeof v === 'number' && (bits / 2 ** v) % 2 >= 1)
          .map(([n]) => n.slice(4));
        body = `pfn 0x${e.pfn.toString(16)}: 0x${bits.toString(16).padStart(16, '0')} ${names.join(',')}\nkpagecount: ${k.kpagecount(e.pfn)}\n`;
        break;
      }
      // folio: dump_page's lines, then the fields the model keeps.
      const before = k.dmesg().length;
      dumpPage(k.host, e.pfn, 'foliosim inspect');
      const f = k.folio(e.pfn)!;
      body =
        k.dmesg().slice(before).join('\n') +
        '\n' +
        Object.entries(f)
          .map(([key, v]) => `${key}: ${Array.isArray(v) ? v.join(',') : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`)
          .join('\n') +
        '\n';
    }
  }
  process.stdout.write(header + body);
}

function live(p: Process): Process {
  if (p.mm === null) throw new UsageError(`process ${p.pid} has exited`);
  return p;
}

/** "0x7fff...", or "region+offset" with a size expression ("ram+16MiB"). */
function address(w: World, text: string | undefined, proc: Process): number {
  if (text === undefined) {
    const r = [...w.regions.values()].find((x) => x.proc === proc);
    if (r === undefined) throw new UsageError('--addr is needed: the process has no region');
    return r.addr;
  }
  const m = /^([A-Za-z][\w-]*)(?:\s*\+\s*(.+))?$/.exec(text);
  if (m !== null && !/^0x/i.test(text)) {
    const r = w.regions.get(m[1]!);
    if (r === undefined) throw new UsageError(`--addr: no region '${m[1]}'${nearest(m[1]!, [...w.regions.keys()])}; regions: ${[...w.regions.keys()].join(', ')}`);
    let off = 0;
    try {
      off = m[2] === undefined ? 0 : evaluate(m[2], 'size');
    } catch (e) {
      throw new UsageError(`--addr: ${(e as Error).message}`);
    }
    return r.addr + Math.floor(off / 4096) * 4096;
  }
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`--addr: expected 0x<hex> or <region>+<offset>, got '${text}'`);
  return Math.floor(n / 4096) * 4096;
}

export interface TraceOpts extends PickOpts {
  events?: string;
  out?: string;
}

export function cmdTrace(name: string, opts: TraceOpts): void {
  const s = loadNamed(name, opts.set ?? []).scenario;
  const cfg = pick(s, opts.design);
  const text = traceRun(cfg, seedOf(s, opts.seed), opts.events);
  if (opts.out === undefined) process.stdout.write(text);
  else writeFileSync(opts.out, text);
}
