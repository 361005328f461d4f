/** `foliosim list`, `validate`, `schema` and `explain`. */
import Table from 'cli-table3';
import { z } from 'zod';
import { UNIT_COSTS } from '../cost/model.js';
import { POLICY_DESCRIPTIONS, POLICY_OPTION_TEXT } from '../policy/descriptions.js';
import { Report } from '../report/model.js';
import { formatValue } from '../report/format.js';
import { closest } from '../lib/suggest.js';
import { ACTOR_KINDS } from '../sim/actors/index.js';
import { builtins } from '../sim/builtin.js';
import { jobsOf } from '../sim/jobs.js';
import { METRICS } from '../sim/metrics.js';
import type { ParamOverride } from '../sim/scenario/load.js';
import { scenarioJsonSchema } from '../sim/scenario/schema.js';
import { loadNamed } from '../report/compare.js';
import { UsageError } from './errors.js';

export function cmdList(): void {
  const t = new Table({ head: ['scenario', 'debate', 'designs', 'runs', 'question'], wordWrap: true, colWidths: [20, 10, 9, 6, 70], style: { head: [], border: [] } });
  for (const b of builtins()) {
    const s = loadNamed(b.name).scenario;
    t.push([s.name, s.spec.debate ?? '', String(s.designs.length), String(jobsOf(s).length), s.spec.question]);
  }
  process.stdout.write(t.toString() + '\n');
}

export function cmdValidate(files: string[], opts: { set?: ParamOverride[] }): void {
  // Each file's errors are reported; the first failure's kind decides the exit code.
  let failed: unknown = null;
  for (const f of files) {
    try {
      const s = loadNamed(f, opts.set ?? []).scenario;
      process.stdout.write(`${f}: ok (${s.designs.length} designs, ${s.configs.length} configurations, ${jobsOf(s).length} runs)\n`);
    } catch (e) {
      if (files.length === 1) throw e;
      process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
      failed ??= e;
    }
  }
  if (failed !== null) throw new UsageError(`${files.length > 1 ? 'some scenario files are invalid' : 'invalid scenario'}`);
}

export function cmdSchema(opts: { report?: boolean }): void {
  const schema = opts.report === true ? { ...z.toJSONSchema(Report), title: 'foliosim report', $id: 'https://foliosim.dev/schema/report.json' } : scenarioJsonSchema();
  process.stdout.write(JSON.stringify(schema, null, 2) + '\n');
}

interface Entry {
  readonly name: string;
  readonly kind: string;
  readonly text: string;
}

function entries(): Entry[] {
  const out: Entry[] = [];
  for (const m of METRICS) out.push({ name: m.id, kind: `metric (${m.unit}, ${m.better === 'none' ? 'descriptive' : `${m.better} is better`})`, text: m.description });
  for (const [opt, text] of Object.entries(POLICY_OPTION_TEXT)) {
    const names = POLICY_DESCRIPTIONS.filter((d) => d.option === opt).map((d) => d.name);
    out.push({ name: opt, kind: 'policy option', text: `${text} Values: ${names.join(', ')}.` });
  }
  for (const d of POLICY_DESCRIPTIONS) out.push({ name: d.name, kind: `${d.option} design (${d.debate})`, text: d.text });
  for (const a of ACTOR_KINDS) out.push({ name: a.kind, kind: 'actor kind', text: a.description });
  for (const u of UNIT_COSTS) {
    out.push({ name: u.event, kind: `unit cost (${u.confidence} confidence)`, text: `${formatValue(u.ns, 'ns')} per ${u.per}. ${u.note}. Source: ${u.source}.` });
  }
  return out;
}

export function cmdExplain(name: string | undefined): void {
  const all = entries();
  if (name === undefined) {
    const t = new Table({ head: ['name', 'what'], style: { head: [], border: [] } });
    for (const e of all) t.push([e.name, e.kind]);
    process.stdout.write(t.toString() + '\n');
    return;
  }
  const hits = all.filter((e) => e.name === name);
  if (hits.length === 0) {
    const near = closest(name, all.map((e) => e.name));
    throw new UsageError(`nothing named '${name}' to explain${near.length > 0 ? ` (did you mean ${near.slice(0, 3).map((n) => `'${n}'`).join(', ')}?)` : ''}; \`foliosim explain\` lists everything`);
  }
  for (const e of hits) process.stdout.write(`${e.name}: ${e.kind}\n  ${e.text}\n`);
}
