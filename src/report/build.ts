/**
 * From runs to a scenario's report: the decision matrix (medians over seeds,
 * best marked), the sweep lines, the verdict, the oracle findings and the
 * expectations (src/report/model.ts).
 */
import type { Cell, Expectation, Finding, ScenarioReport, Stat } from './model.js';
import { metric } from '../sim/metrics.js';
import type { RunResult } from '../sim/run.js';
import { repeatsOf, seedOf } from '../sim/jobs.js';
import { type Check, compare } from '../sim/scenario/checks.js';
import type { Scenario } from '../sim/scenario/load.js';
import { verdictOf } from './verdict.js';

/** Median, min, max over the seeds' values (in seed order). */
export function statOf(values: number[]): Stat {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  const median = s.length === 0 ? 0 : s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  return { median, min: s[0] ?? 0, max: s[s.length - 1] ?? 0, values };
}

/** Build the scenario's report from its runs (any order; each job exactly once). */
export function reportScenario(s: Scenario, runs: readonly RunResult[], seed?: number): ScenarioReport {
  const spec = s.spec;
  const first = seedOf(s, seed);
  const headline = spec.sweep === undefined ? null : s.xs.length === 1 ? s.xs[0]! : (spec.sweep.headline ?? s.xs[s.xs.length - 1]!);
  const at = (design: string, x: number | null) => runs.filter((r) => r.design === design && r.x === x).sort((a, b) => a.seed - b.seed);
  const statAt = (design: string, x: number | null, m: string) => statOf(at(design, x).map((r) => r.values[m]!));
  const designs = s.designs.map((d) => d.id);

  const metrics = spec.metrics.map((id) => {
    const mm = metric(id)!;
    const low = mm.costBased && runs.some((r) => r.lowConfidenceShare >= 0.1);
    return { id, label: mm.label, unit: mm.unit, better: mm.better, description: mm.description, chart: mm.chart, lowConfidence: low };
  });

  // A design the kernel refused has no real values: it is never marked best.
  const refused = new Set(designs.filter((d) => runs.some((r) => r.design === d && r.values.refused === 1)));
  const rows = spec.metrics.map((id) => {
    const mm = metric(id)!;
    const stats = designs.map((d) => statAt(d, headline, id));
    const medians = stats.map((st, i) => (refused.has(designs[i]!) ? NaN : st.median));
    const ranked = medians.filter((v) => !Number.isNaN(v));
    const target = mm.better === 'lower' ? Math.min(...ranked) : mm.better === 'higher' ? Math.max(...ranked) : NaN;
    // A best mark only means something when the designs differ.
    const differ = ranked.some((v) => v !== ranked[0]);
    const cells: Cell[] = designs.map((d, i) => ({ design: d, stat: stats[i]!, best: differ && medians[i] === target }));
    return { metric: id, cells };
  });

  const sweep =
    spec.sweep === undefined || s.xs.length < 2
      ? undefined
      : {
          param: spec.sweep.param,
          label: spec.sweep.label ?? spec.sweep.param,
          unit: spec.sweep.unit ?? 'count',
          values: [...s.xs],
          headline: headline!,
          series: (spec.sweep.metrics ?? spec.metrics).flatMap((m) => designs.map((d) => ({ design: d, metric: m, points: s.xs.map((x) => ({ x, stat: statAt(d, x, m) })) }))),
        };

  const metricIds = new Set(spec.metrics);
  const firstRuns = designs.map((d) => runs.find((r) => r.design === d && r.x === headline && r.seed === first)).filter((r): r is RunResult => r !== undefined);

  const findings: Finding[] = [];
  for (const d of designs) {
    const names = new Map<string, number>();
    for (const r of runs) if (r.design === d) for (const v of r.violations) names.set(v, (names.get(v) ?? 0) + 1);
    const expected = spec.findings?.[d] ?? [];
    for (const [v, n] of [...names].sort()) findings.push({ design: d, violation: v, runs: n, expected: expected.includes(v) });
  }

  const median = (design: string, m: string) => statAt(design, headline, m).median;
  const expectations: Expectation[] = [];
  for (const c of s.checks) expectations.push(...evaluate(c, designs, median));
  // A declared finding that never showed up is a failed expectation too: the flaw the scenario exists to show did not happen.
  for (const [d, vs] of Object.entries(spec.findings ?? {})) {
    for (const v of vs) {
      const seen = findings.some((f) => f.design === d && f.violation === v);
      expectations.push({ text: `${d} shows ${v}`, passed: seen, detail: seen ? 'the oracle found it' : 'the oracle did not find it' });
    }
  }

  return {
    name: s.name,
    title: spec.title,
    question: spec.question,
    verdict: verdictOf(s, designs, median),
    seed: first,
    repeats: repeatsOf(s),
    hash: s.hash,
    durationNs: spec.workload.duration,
    params: headline === null ? { ...s.params } : { ...s.params, [spec.sweep!.param]: headline },
    designs: s.designs.map((d) => ({ id: d.id, label: d.label, policy: { ...d.policy }, params: { ...d.params } })),
    metrics,
    rows,
    ...(sweep !== undefined ? { sweep } : {}),
    timeline: firstRuns.flatMap((r) => r.timeline),
    ...(firstRuns.some((r) => (r.series ?? []).some((x) => metricIds.has(x.metric)))
      ? {
          series: firstRuns.flatMap((r) =>
            (r.series ?? []).filter((x) => metricIds.has(x.metric)).map((x) => ({ design: r.design, metric: x.metric, points: x.points.map(([t, v]) => ({ t, v })) })),
          ),
        }
      : {}),
    folioMaps: firstRuns.flatMap((r) => (r.folioMap === null ? [] : [r.folioMap])),
    costs: firstRuns.map((r) => r.costs),
    findings,
    expectations,
  };
}

function evaluate(c: Check, designs: readonly string[], median: (d: string, m: string) => number): Expectation[] {
  const lefts = c.left.design === '*' ? designs : [c.left.design!];
  return lefts.map((d) => {
    const a = median(d, c.left.metric);
    const b = typeof c.right === 'number' ? c.right : median(c.right.design!, c.right.metric);
    const passed = compare(a, c.op, b);
    const rhs = typeof c.right === 'number' ? '' : ` (${c.right.design}.${c.right.metric} = ${b})`;
    return { text: c.left.design === '*' ? c.text.replace('*', d) : c.text, passed, detail: `${d}.${c.left.metric} = ${a}${rhs}` };
  });
}
