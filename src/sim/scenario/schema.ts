/**
 * The scenario file format (YAML), as a zod schema. docs/SCENARIOS.md walks
 * through an annotated example; `foliosim schema` prints this as JSON Schema
 * for editors (the YAML language server: `# yaml-language-server: $schema=...`).
 *
 * A scenario holds: what it asks (question), parameters, the kernel config,
 * unit-cost overrides, the setup (processes and their memory), the workload
 * (actors on a simulated clock for a duration), the designs to compare (a
 * list, or a matrix of policy options and parameters), an optional sweep of
 * one parameter, repeats over seeds, the metrics to report, how to compute
 * the verdict, and expectations that make `foliosim` exit 1 when they fail.
 */
import { z } from 'zod';
import { COLLAPSE_NOTIFIER, EXCLUSIVE_PIN, GMEM_HUGE_SHARED, HGM_MAPCOUNT, PIN_ACCOUNTING, S2_RECOALESCE } from '../../policy/registry.js';
import type { ActorCommon } from '../actors/actor.js';
import { ACTOR_KINDS } from '../actors/index.js';
import { METRIC_IDS } from '../metrics.js';
import { SetupSpec } from '../world.js';
import { amount, count, duration, name, obj, oneOf } from './types.js';

const scalar = z.union([z.number(), z.string(), z.boolean()], { error: 'expected a number, a string or true/false' });

/** Policy options by name (src/policy/registry.ts), as Kernel({ policy }) takes them. */
export const POLICY_OPTIONS = {
  pinAccounting: Object.keys(PIN_ACCOUNTING) as [string, ...string[]],
  exclusivePin: [...EXCLUSIVE_PIN] as [string, ...string[]],
  hgmMapcount: Object.keys(HGM_MAPCOUNT) as [string, ...string[]],
  collapseNotifier: [...COLLAPSE_NOTIFIER] as [string, ...string[]],
  gmemHugeShared: [...GMEM_HUGE_SHARED] as [string, ...string[]],
  s2Recoalesce: [...S2_RECOALESCE] as [string, ...string[]],
} as const;

/** Policy options of a design; '*' makes one design per value the registry lists (named <design>/<value>). */
export const PolicySpec = obj(
  {
    pinAccounting: oneOf([...POLICY_OPTIONS.pinAccounting, '*'], 'pin-accounting design').optional(),
    exclusivePin: oneOf([...POLICY_OPTIONS.exclusivePin, '*'], 'exclusive-pin encoding').optional(),
    hgmMapcount: oneOf([...POLICY_OPTIONS.hgmMapcount, '*'], 'HugeTLB HGM mapcount design').optional(),
    collapseNotifier: oneOf([...POLICY_OPTIONS.collapseNotifier, '*'], 'HGM collapse notifier').optional(),
    gmemHugeShared: oneOf([...POLICY_OPTIONS.gmemHugeShared, '*'], 'guest_memfd huge-shared design').optional(),
    s2Recoalesce: oneOf([...POLICY_OPTIONS.s2Recoalesce, '*'], 'stage-2 re-coalescing').optional(),
  },
  'policy options (src/policy/registry.ts)',
);

export const DesignSpec = obj(
  {
    name: name('the design name'),
    /** Shown in reports (default: the name). */
    label: z.string().optional(),
    policy: PolicySpec.optional(),
    params: z.record(z.string(), scalar).optional(),
  },
  'a design',
);
export type DesignSpec = z.output<typeof DesignSpec>;

/** A cartesian product: each key is 'policy.<option>' or 'params.<name>', each value the list to combine. */
export const MatrixSpec = obj(
  {
    matrix: z.record(z.string().regex(/^(policy|params)\.[A-Za-z_][A-Za-z0-9_]*$/, { error: "expected 'policy.<option>' or 'params.<name>'" }), z.array(scalar).min(1)),
  },
  'a matrix of designs',
);

/** An actor: the kinds' schemas (src/sim/actors/), told apart by `kind`. Typed loosely here; each kind parses its own. */
const ActorSpec = z.discriminatedUnion('kind', ACTOR_KINDS.map((a) => a.schema) as unknown as [z.ZodObject, ...z.ZodObject[]], {
  error: (iss) => (iss.code === 'invalid_union' ? `expected an actor with kind: ${ACTOR_KINDS.map((a) => a.kind).join(', ')}` : undefined),
}) as unknown as z.ZodType<ActorCommon & Record<string, unknown>, unknown>;

const metricName = oneOf(METRIC_IDS as [string, ...string[]], 'metric');

export const ScenarioSpec = obj(
  {
    name: name('the scenario name'),
    title: z.string(),
    /** The debate it answers (a seed thread), e.g. 'seed 003'. */
    debate: z.string().optional(),
    /** The question, in one sentence. */
    question: z.string(),
    /** Named values used as ${name} anywhere below; `--set name=value` overrides them. */
    params: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), scalar).optional(),
    /** Kernel options (docs/API.md, new Kernel(options)). */
    kernel: z.record(z.string(), z.unknown()).optional(),
    /** Unit-cost overrides in ns by primitive (docs/COSTS.md). */
    costs: z.record(z.string(), amount('a unit cost in ns')).optional(),
    setup: SetupSpec,
    workload: obj(
      {
        duration: duration('the simulated duration'),
        /** Run the oracle (kernel.check()) this often during the run as well as at the end. */
        checkEvery: duration('the time between oracle checks').optional(),
        actors: z.array(ActorSpec).min(1, { error: 'expected at least one actor' }),
      },
      'the workload',
    ),
    designs: z.union([z.array(DesignSpec).min(1), MatrixSpec], { error: 'expected a list of designs or { matrix: ... }' }),
    sweep: obj(
      {
        param: z.string(),
        values: z.array(z.number()).min(2, { error: 'a sweep needs at least two values' }),
        /** The value the decision matrix is shown at (default: the last). */
        headline: z.number().optional(),
        /** Metrics drawn as lines (default: every metric of the scenario). */
        metrics: z.array(metricName).optional(),
        label: z.string().optional(),
        /** What the values are, for axes and tables: sizes in bytes, durations in ns, or plain counts (default). */
        unit: oneOf(['count', 'bytes', 'ns'], 'the unit of the swept values').optional(),
      },
      'a parameter sweep',
    ).optional(),
    /** Runs per design, with seeds seed, seed+1, ... (default 3). */
    repeats: count('the number of repeats', 1).optional(),
    seed: count('the first seed').optional(),
    metrics: z.array(metricName).min(1),
    verdict: obj(
      {
        /** Rank the designs by this metric (in its better direction). */
        best: metricName,
        /** Break ties on `best` with these metrics, in order (each in its better direction). */
        tiebreak: z.array(metricName).optional(),
        /** Conditions a design must meet to be ranked, e.g. 'pinsLost == 0'. */
        among: z.array(z.string()).optional(),
        /** Also state the winner's value of these metrics. */
        mention: z.array(metricName).optional(),
      },
      'how the verdict is computed',
    ),
    /** Checks on the results, e.g. 'exact.unnecessaryForkCopies == 0' or '*.pinsLost == 0'. */
    expect: z.array(z.string()).optional(),
    /** Oracle violations expected of a design (its known flaw), by design name. */
    findings: z.record(z.string(), z.array(z.string())).optional(),
  },
  'a scenario',
);
export type ScenarioSpec = z.output<typeof ScenarioSpec>;

/** The scenario format as JSON Schema (draft 2020-12), for editors. */
export function scenarioJsonSchema(): Record<string, unknown> {
  const s = z.toJSONSchema(ScenarioSpec, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return { ...s, title: 'foliosim scenario', $id: 'https://foliosim.dev/schema/scenario.json' };
}

export { duration, count };
