/** `foliosim soak`: long random operation mixes over the policies (src/soak/). */
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Table from 'cli-table3';
import Tinypool from 'tinypool';
import type { KernelOptions } from '../kernel.js';
import { COLLAPSE_NOTIFIER, DEFAULT_POLICY, EXCLUSIVE_PIN, GMEM_HUGE_SHARED, HGM_MAPCOUNT, PIN_ACCOUNTING, S2_RECOALESCE } from '../policy/registry.js';
import { replayScenario, shrinkStream } from '../soak/shrink.js';
import { type SoakResult, soak } from '../soak/soak.js';
import type { SoakTask } from '../soak/worker.js';
import { UsageError } from './errors.js';

export interface SoakOpts {
  ops: number;
  seed: number;
  policy?: string[];
  allPolicies?: boolean;
  jobs?: number;
  checkEvery: number;
  quiet?: boolean;
  /** false: report a failure without shrinking it (--no-shrink). */
  shrink?: boolean;
  /** Seconds the shrinking of one failure may take. */
  shrinkTime?: number;
  /** Where failing streams are written as scenarios (default: the current directory). */
  out?: string;
}

type Policy = NonNullable<KernelOptions['policy']>;

/**
 * Oracle findings reported by name and not failures: Linux's own behaviour
 * (hugetlb-resv-underflow: real 6.12 shows it too; docs/INVARIANTS.md), and a
 * design's declared flaw: a pin design that may miss pins lets fork share a
 * pinned page (pinned-anon-not-exclusive, as fork-with-pins declares it); the
 * pgtable HGM mapcount outlives a truncation (hgm-mapcount-after-truncate).
 */
function knownFindings(p: Policy): string[] {
  const known = ['hugetlb-resv-underflow'];
  if (PIN_ACCOUNTING[p.pinAccounting ?? 'upstream']?.().mayMissPins === true) known.push('pinned-anon-not-exclusive');
  if (p.hgmMapcount === 'pgtable') known.push('hgm-mapcount-after-truncate');
  return known;
}

/**
 * Every design the registry has, each beside the defaults: each pin-accounting design, each
 * exclusive-pin encoding, each HGM mapcount design (with the post-collapse notifier once), each
 * guest_memfd huge-shared design and eager stage-2 re-coalescing.
 */
function allPolicies(): Policy[] {
  const out: Policy[] = Object.keys(PIN_ACCOUNTING).map((p) => ({ pinAccounting: p }));
  for (const e of EXCLUSIVE_PIN) if (e !== DEFAULT_POLICY.exclusivePin) out.push({ pinAccounting: 'upstream', exclusivePin: e });
  for (const h of Object.keys(HGM_MAPCOUNT)) if (h !== DEFAULT_POLICY.hgmMapcount) out.push({ hgmMapcount: h });
  for (const c of COLLAPSE_NOTIFIER) if (c !== DEFAULT_POLICY.collapseNotifier) out.push({ hgmMapcount: 'head-per-pte', collapseNotifier: c });
  for (const g of GMEM_HUGE_SHARED) out.push({ gmemHugeShared: g });
  for (const s of S2_RECOALESCE) if (s !== DEFAULT_POLICY.s2Recoalesce) out.push({ s2Recoalesce: s });
  return out;
}

/** The kernel a policy needs: guest_memfd's designs act on HugeTLB-backed files with in-place conversion. */
function kernelFor(p: Policy): KernelOptions {
  if (Object.keys(p).length === 0) return {};
  const gmem = p.gmemHugeShared !== undefined || p.s2Recoalesce !== undefined;
  return { policy: p, ...(gmem ? { kvm: { guestMemfd: 'mainline', inPlaceConversion: true, hugetlb: true } } : {}) };
}

function policyOf(pairs: readonly string[]): Policy {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0) throw new UsageError(`--policy expects key=value (e.g. pinAccounting=exact), got '${p}'`);
    out[p.slice(0, i)] = p.slice(i + 1);
  }
  return out as Policy;
}

const label = (p: Policy): string => (Object.keys(p).length === 0 ? 'upstream' : Object.entries(p).map(([k, v]) => `${k}=${String(v)}`).join(','));

export async function cmdSoak(opts: SoakOpts): Promise<void> {
  if (opts.allPolicies === true && (opts.policy?.length ?? 0) > 0) throw new UsageError('--all-policies and --policy exclude each other');
  const policies = opts.allPolicies === true ? allPolicies() : [policyOf(opts.policy ?? [])];
  const jobs = Math.max(1, opts.jobs ?? 1);
  // Streams: per policy, one per job, each with its own seed and an equal share of the operations.
  const tasks: (SoakTask & { policy: string })[] = [];
  const per = Math.ceil(opts.ops / (policies.length * jobs));
  policies.forEach((p, i) => {
    for (let j = 0; j < jobs; j++) tasks.push({ ops: per, seed: opts.seed + i * jobs + j, kernel: kernelFor(p), checkEvery: opts.checkEvery, knownFindings: knownFindings(p), policy: label(p) });
  });
  const rssStart = process.memoryUsage().rss / 2 ** 20;
  const t0 = performance.now();
  const workerFile = fileURLToPath(new URL('../soak/worker.js', import.meta.url));
  let results: (SoakResult & { rssMiB: number })[];
  if (jobs > 1 && existsSync(workerFile)) {
    const pool = new Tinypool({ filename: workerFile, minThreads: jobs, maxThreads: jobs, isolateWorkers: false });
    try {
      results = await Promise.all(tasks.map(({ policy: _p, ...t }) => pool.run(t) as Promise<SoakResult & { rssMiB: number }>));
    } finally {
      await pool.destroy();
    }
  } else {
    results = tasks.map((t) => ({ ...soak({ ops: t.ops, seed: t.seed, kernel: t.kernel, checkEvery: t.checkEvery, knownFindings: t.knownFindings }), rssMiB: process.memoryUsage().rss / 2 ** 20 }));
  }
  const s = (performance.now() - t0) / 1000;
  const table = new Table({ head: ['policy', 'seed', 'ops', 'returned', 'errno', 'signal', 'checks', 'ops/s', 'RSS MiB', 'result'], style: { head: [], border: [] } });
  let total = 0;
  let failed = false;
  results.forEach((r, i) => {
    total += r.ops;
    if (r.failure !== null) failed = true;
    const findings = Object.entries(r.findings).map(([n, c]) => `${n} x${c}`).join(', ');
    table.push([tasks[i]!.policy, String(r.seed), String(r.ops), String(r.returned), String(r.errno), String(r.signal), String(r.checks), String(Math.round((r.ops / r.ms) * 1000)), r.rssMiB.toFixed(0), r.failure === null ? (findings === '' ? 'ok' : `ok (known: ${findings})`) : 'FAILED']);
  });
  const out = [table.toString(), `${total} operations in ${s.toFixed(1)} s (${Math.round(total / s)} ops/s over ${jobs} thread${jobs > 1 ? 's' : ''}); RSS ${rssStart.toFixed(0)} MiB at start, ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB at the end`];
  results.forEach((r, i) => {
    if (r.failure === null) return;
    const task = tasks[i]!;
    out.push(`\nFAILED: policy ${task.policy}, seed ${r.seed}, operation ${r.failure.op}: ${r.failure.what}`);
    out.push(`replay: foliosim soak --seed ${r.seed} --ops ${r.failure.op + 1}${task.policy === 'upstream' ? '' : ` ${task.policy.split(',').map((x) => `--policy ${x}`).join(' ')}`} --check-every ${opts.checkEvery}`);
    out.push('the operations before it:', ...r.failure.recent.map((l) => `  ${l}`));
    if (opts.shrink === false) return;
    const shrunk = shrinkStream({ ops: task.ops, seed: r.seed, kernel: task.kernel, checkEvery: task.checkEvery, knownFindings: task.knownFindings }, r.failure.op, r.failure.what, (opts.shrinkTime ?? 60) * 1000);
    const file = join(opts.out ?? '.', `soak-seed-${r.seed}.yaml`);
    mkdirSync(opts.out ?? '.', { recursive: true });
    writeFileSync(`${file}.tmp`, replayScenario({ seed: r.seed, policy: task.policy, kernel: task.kernel, knownFindings: task.knownFindings, shrunk }));
    renameSync(`${file}.tmp`, file);
    out.push(
      `shrunk to ${shrunk.ops.length} of ${shrunk.from} operations (${shrunk.tries} tried${shrunk.interrupted ? ', stopped by --shrink-time' : ''}), ending: ${shrunk.what.split('\n')[0]}`,
      `written as a scenario: foliosim run ${file}`,
    );
  });
  process.stdout.write(out.join('\n') + '\n');
  if (failed) process.exitCode = 1;
}
