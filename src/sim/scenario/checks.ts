/**
 * Expectations and verdict conditions: small comparisons over the results.
 *
 *   expect:  'exact.unnecessaryForkCopies == 0'
 *            '*.pinsLost == 0'                     (every design)
 *            'upstream.forkCopies > exact.forkCopies'
 *   among:   'pinsLost == 0'                       (per design, in the verdict)
 *
 * Values compared are medians over the repeats (at the sweep's headline value).
 */
import { nearest } from '../../lib/suggest.js';
import { METRIC_IDS } from '../metrics.js';

export type CmpOp = '==' | '!=' | '<' | '<=' | '>' | '>=';

export interface Operand {
  /** A design name, '*' (every design), or null (the design being ranked). */
  readonly design: string | null;
  readonly metric: string;
}

export interface Check {
  readonly text: string;
  readonly left: Operand;
  readonly op: CmpOp;
  readonly right: Operand | number;
}

const OPS: CmpOp[] = ['==', '!=', '<=', '>=', '<', '>'];

/** Parse one check; throws Error with a message naming what is wrong. */
export function parseCheck(text: string, designs: readonly string[], withDesign: boolean): Check {
  const m = /^\s*(\S+)\s*(==|!=|<=|>=|<|>)\s*(\S+)\s*$/.exec(text);
  if (m === null) {
    const form = withDesign ? "'<design>.<metric> <op> <number or design.metric>'" : "'<metric> <op> <number>'";
    throw new Error(`cannot read ${JSON.stringify(text)}: expected ${form} with op one of ${OPS.join(' ')}`);
  }
  const left = operand(m[1]!, designs, withDesign, true);
  const num = Number(m[3]);
  const right = Number.isFinite(num) && /^-?[\d.]+(e[+-]?\d+)?$/i.test(m[3]!) ? num : operand(m[3]!, designs, withDesign, false);
  return { text, left, op: m[2] as CmpOp, right };
}

function operand(s: string, designs: readonly string[], withDesign: boolean, left: boolean): Operand {
  let design: string | null = null;
  let metric = s;
  if (withDesign) {
    const dot = s.lastIndexOf('.');
    if (dot < 0) throw new Error(`'${s}': expected <design>.<metric> (or *.<metric> for every design)`);
    design = s.slice(0, dot);
    metric = s.slice(dot + 1);
    if (design === '*' && !left) throw new Error(`'${s}': '*' may only stand on the left`);
    if (design !== '*' && !designs.includes(design)) throw new Error(`unknown design '${design}'${nearest(design, designs)}; designs: ${designs.join(', ')}`);
  }
  if (!METRIC_IDS.includes(metric)) throw new Error(`unknown metric '${metric}'${nearest(metric, METRIC_IDS)}; see foliosim explain`);
  return { design, metric };
}

export function compare(a: number, op: CmpOp, b: number): boolean {
  switch (op) {
    case '==':
      return a === b;
    case '!=':
      return a !== b;
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
  }
}
