/** `foliosim run`'s extra table: where each design's estimated kernel time goes, primitive by primitive. */
import Table from 'cli-table3';
import { styleText } from 'node:util';
import type { Report } from '../report/model.js';
import { formatValue } from '../report/format.js';

export function costTable(r: Report, color: boolean): string {
  const out: string[] = [];
  for (const s of r.scenarios) {
    const prims = [...new Set(s.costs.flatMap((c) => c.lines.map((l) => l.primitive)))];
    const t = new Table({ head: ['primitive', 'unit cost', ...s.costs.map((c) => c.design)], style: { head: color ? ['cyan'] : [], border: [] } });
    for (const p of prims) {
      const unit = s.costs.flatMap((c) => c.lines).find((l) => l.primitive === p)!;
      const low = unit.confidence === 'low' ? ' ~' : '';
      t.push([p, `${formatValue(unit.unitNs, 'ns')}${p.endsWith('_bytes') ? '/B' : ''}${low}`, ...s.costs.map((c) => {
        const l = c.lines.find((x) => x.primitive === p);
        return l === undefined ? '' : `${formatValue(l.count, 'count')} → ${formatValue(l.ns, 'ns')}`;
      })]);
    }
    t.push(['total', '', ...s.costs.map((c) => formatValue(c.totalNs, 'ns') + (c.lowConfidenceShare >= 0.1 ? ' ~' : ''))]);
    const title = `Where the time goes (${s.name}, seed ${s.seed}, first run of each design): count → estimated time`;
    out.push('', color ? styleText('bold', title) : title, t.toString(), '~ rests on a low-confidence unit cost (docs/COSTS.md)');
  }
  return out.join('\n') + '\n';
}
