/**
 * The verdict line: computed from the results, never written by hand. The
 * scenario names the metric to rank by, the conditions a design must meet to
 * be ranked ('pinsLost == 0': a design that loses pins cannot win on copies),
 * and what else to say about the winner.
 *
 *   "exact is best on unnecessary fork copies (0 pages) among designs with
 *    pins lost = 0; then upstream (8,169 pages), mm-sticky (65,000 pages).
 *    Excluded: pmd-aggregate (pins lost 1 page). exact costs 32 MiB of
 *    metadata."
 */
import { formatValue } from './format.js';
import { metric } from '../sim/metrics.js';
import { compare } from '../sim/scenario/checks.js';
import type { Scenario } from '../sim/scenario/load.js';

export function verdictOf(s: Scenario, designs: readonly string[], median: (design: string, metric: string) => number): string {
  const v = s.spec.verdict;
  const best = metric(v.best)!;
  const label = (d: string) => s.designs.find((x) => x.id === d)?.label ?? d;
  const fmt = (id: string, d: string) => formatValue(median(d, id), metric(id)!.unit);
  const excluded: string[] = [];
  const ranked = designs.filter((d) => {
    const failing = s.among.filter((c) => !compare(median(d, c.left.metric), c.op, typeof c.right === 'number' ? c.right : median(d, c.right.metric)));
    if (failing.length > 0) excluded.push(`${label(d)} (${failing.map((c) => `${metric(c.left.metric)!.label} ${fmt(c.left.metric, d)}`).join(', ')})`);
    return failing.length === 0;
  });
  const cond = s.among.length > 0 ? ` among designs with ${s.among.map((c) => `${metric(c.left.metric)!.label} ${c.op === '==' ? '=' : c.op} ${typeof c.right === 'number' ? formatValue(c.right, metric(c.left.metric)!.unit) : c.right.metric}`).join(' and ')}` : '';
  if (ranked.length === 0) return `No design meets ${s.among.map((c) => c.text).join(' and ')}. Excluded: ${excluded.join('; ')}.`;
  if (best.better === 'none') return `Designs compared on ${best.label}; ${ranked.map((d) => `${label(d)} ${fmt(v.best, d)}`).join(', ')}.`;
  // Rank by best, then the tie-breakers, each in its better direction; remaining ties keep the scenario's design order.
  const keys = [v.best, ...(v.tiebreak ?? [])].filter((id) => metric(id)!.better !== 'none');
  const sign = (id: string) => (metric(id)!.better === 'lower' ? 1 : -1);
  const cmp = (a: string, b: string) => {
    for (const id of keys) {
      const d = sign(id) * (median(a, id) - median(b, id));
      if (d !== 0) return d;
    }
    return 0;
  };
  const order = ranked.map((d, i) => ({ d, i, x: median(d, v.best) })).sort((a, b) => cmp(a.d, b.d) || a.i - b.i);
  const top = order[0]!;
  const tiedOnBest = order.filter((o) => o.x === top.x);
  const tied = order.filter((o) => cmp(o.d, top.d) === 0).map((o) => label(o.d));
  const rest = order.filter((o) => o.x !== top.x);
  // When several designs tie on the main metric, say which tie-breaker decided.
  const decided = tiedOnBest.length > tied.length ? keys.slice(1).find((id) => tiedOnBest.some((o) => median(o.d, id) !== median(top.d, id))) : undefined;
  const also = tiedOnBest.filter((o) => !tied.includes(label(o.d)));
  const byTie = decided === undefined ? '' : ` and ${metric(decided)!.label} (${fmt(decided, top.d)}; ${also.map((o) => `${label(o.d)} ${fmt(decided, o.d)}`).join(', ')})`;
  let out =
    tied.length === order.length && order.length > 1
      ? `All ranked designs tie on ${best.label} (${fmt(v.best, top.d)})${cond}.`
      : `${tied.join(' and ')} ${tied.length > 1 ? 'are' : 'is'} best on ${best.label} (${fmt(v.best, top.d)})${byTie}${cond}${rest.length > 0 ? `; then ${rest.map((o) => `${label(o.d)} (${fmt(v.best, o.d)})`).join(', ')}` : ''}.`;
  if (excluded.length > 0) out += ` Excluded: ${excluded.join('; ')}.`;
  const mention = v.mention ?? [];
  if (mention.length > 0 && tied.length <= order.length) {
    out += ` ${tied.join(' and ')}: ${mention.map((id) => `${metric(id)!.label} ${fmt(id, top.d)}`).join(', ')}.`;
  }
  return out;
}
