/** `foliosim explore`: bounded exhaustive exploration of the tiny worlds (src/explore/). */
import Table from 'cli-table3';
import { closest } from '../lib/suggest.js';
import { type ExploreResult, explore } from '../explore/engine.js';
import { WORLDS } from '../explore/worlds.js';
import type { KernelOptions } from '../kernel.js';
import { UsageError } from './errors.js';

export interface ExploreOpts {
  depth: number;
  policy?: string[];
  maxStates?: number;
  quiet?: boolean;
}

/** --policy key=value pairs as a policy choice (the kernel checks the names). */
function policyOf(pairs: readonly string[]): NonNullable<KernelOptions['policy']> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0) throw new UsageError(`--policy expects key=value (e.g. pinAccounting=exact), got '${p}'`);
    out[p.slice(0, i)] = p.slice(i + 1);
  }
  return out as NonNullable<KernelOptions['policy']>;
}

function render(r: ExploreResult): string {
  const t = new Table({ head: ['depth', 'new states', 'transitions'], style: { head: [], border: [] } });
  for (const l of r.levels) t.push([String(l.depth), String(l.states), String(l.transitions)]);
  const lines = [`${r.world}: ${r.states} distinct states, ${r.transitions} transitions, depth ${r.levels.length}/${r.depth}, ${(r.ms / 1000).toFixed(1)} s`, t.toString()];
  for (const f of r.findings) lines.push(`known finding ${f.name} (a flaw of the design, not of the model), shortest: ${f.ops.join(' -> ')}`);
  if (r.counterExample !== null) {
    lines.push(`COUNTER-EXAMPLE (${r.counterExample.ops.length} steps): ${r.counterExample.failures.join('; ')}`);
    r.counterExample.ops.forEach((op, i) => lines.push(`  ${i + 1}. ${op}`));
  } else lines.push('no rule broken');
  return lines.join('\n') + '\n';
}

export function cmdExplore(names: string[], opts: ExploreOpts): void {
  const all = Object.keys(WORLDS);
  for (const n of names) if (!all.includes(n)) throw new UsageError(`unknown world '${n}'${closest(n, all).length > 0 ? ` (did you mean '${closest(n, all)[0]}'?)` : ''}; worlds: ${all.join(', ')}`);
  const policy = policyOf(opts.policy ?? []);
  const options = Object.keys(policy).length > 0 ? { policy } : {};
  let failed = false;
  for (const name of names.length > 0 ? names : all) {
    for (const world of WORLDS[name]!(options)) {
      const r = explore(world, opts.depth, {
        ...(opts.maxStates !== undefined ? { maxStates: opts.maxStates } : {}),
        onLevel: (l) => {
          if (opts.quiet !== true && process.stderr.isTTY) process.stderr.write(`\r${world.name}: depth ${l.depth}, ${l.states} new states  `);
        },
      });
      if (opts.quiet !== true && process.stderr.isTTY) process.stderr.write('\r\x1b[K');
      process.stdout.write(render(r) + '\n');
      if (r.counterExample !== null) failed = true;
    }
  }
  if (failed) process.exitCode = 1;
}
