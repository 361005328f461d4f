/**
 * The built-in demo: a fork/COW scenario over anonymous memory, printed the way
 * a kernel developer would inspect it (/proc/meminfo, smaps, pagemap, folios).
 */
import { Kernel } from '../kernel.js';
import { formatMeminfo } from '../fs/proc/meminfo.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../uapi/mman.js';

const hex = (n: number) => `0x${n.toString(16)}`;

export function runDemo(): string {
  const out: string[] = [];
  const say = (s = '') => out.push(s);
  const k = new Kernel({ memory: '4GiB' });
  const p = k.spawn();
  const thp = p.mmap(0, 4 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  const small = p.mmap(0, 64 << 10, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  p.fill(thp, 4 << 20, 0xaa);
  p.fill(small, 64 << 10, 0xbb);
  say(`# foliosim demo: fork and copy-on-write`);
  say();
  say(`parent ${p.pid}: 4 MiB at ${hex(thp)} (THP), 64 KiB at ${hex(small)} (base pages), memset`);
  const child = p.fork();
  say(`fork() -> child ${child.pid}; parent writes one byte in each mapping`);
  p.write(thp + 4096, new Uint8Array([1]));
  p.write(small, new Uint8Array([2]));
  say(`child still reads ${hex(child.read(thp + 4096, 1)[0]!)} and ${hex(child.read(small, 1)[0]!)}; parent reads ${hex(p.read(thp + 4096, 1)[0]!)} and ${hex(p.read(small, 1)[0]!)}`);
  say();
  say('## /proc/meminfo (excerpt)');
  const m = k.meminfo();
  const keep = ['MemTotal', 'MemFree', 'AnonPages', 'AnonHugePages', 'PageTables'] as const;
  say(formatMeminfo(Object.fromEntries(keep.map((key) => [key, m[key]])) as never));
  say();
  for (const proc of [p, child]) {
    say(`## /proc/${proc.pid}/smaps (excerpt)`);
    for (const e of proc.smaps()) {
      say(`${hex(e.start)}-${hex(e.end)} ${e.perms}  Rss ${e.Rss} kB  Pss ${e.Pss} kB  Private_Dirty ${e.Private_Dirty} kB  Shared_Dirty ${e.Shared_Dirty} kB  AnonHugePages ${e.AnonHugePages} kB`);
    }
    say();
  }
  say('## pagemap and folios');
  for (const [name, proc, addr] of [
    ['parent thp+4K', p, thp + 4096],
    ['child  thp+4K', child, thp + 4096],
    ['parent thp+8K', p, thp + 8192],
    ['child  thp+8K', child, thp + 8192],
    ['parent small', p, small],
    ['child  small', child, small],
  ] as const) {
    const e = proc.pagemap(addr);
    const f = k.folio(e.pfn)!;
    say(
      `${name}: pfn ${e.pfn} mapped-by ${e.mappedBy >> 10}K exclusive=${e.exclusive} | folio order ${f.order} refcount ${f.refcount} mapcount ${f.mapcount} page-mapcount ${f.pageMapcount} anon-exclusive=${f.anonExclusive}`,
    );
  }
  say();
  const v = k.check();
  say(`## kernel.check(): ${v.length === 0 ? 'no violations' : v.map((x) => x.name).join(', ')}`);
  child.exit();
  p.exit();
  return out.join('\n') + '\n';
}
