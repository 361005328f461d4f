/**
 * Loading a scenario file: YAML -> parameters substituted -> validated with the
 * zod schema -> references checked -> one resolved configuration per design
 * and sweep value. Every problem is reported with file:line:column and what
 * was expected, all of them at once (ScenarioErrors).
 */
import { createHash } from 'node:crypto';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { KernelConfigError, parseKernelOptions } from '../../config.js';
import type { KernelOptions } from '../../kernel.js';
import { UnknownCostError, CostModel } from '../../cost/model.js';
import { nearest } from '../../lib/suggest.js';
import { actorKind } from '../actors/index.js';
import { ExprError, type ParamValue, WHOLE_PARAM_REF, substitute } from './expr.js';
import { type DesignSpec, POLICY_OPTIONS, ScenarioSpec } from './schema.js';
import { type Check, parseCheck } from './checks.js';

export interface ScenarioIssue {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly message: string;
}

export class ScenarioErrors extends Error {
  readonly issues: readonly ScenarioIssue[];
  constructor(issues: readonly ScenarioIssue[]) {
    // In file order, each once.
    const sorted = [...new Map(issues.map((i) => [formatIssue(i), i])).values()].sort((a, b) => a.line - b.line || a.col - b.col);
    super(sorted.map(formatIssue).join('\n'));
    this.issues = sorted;
    this.name = 'ScenarioErrors';
  }
}

export function formatIssue(i: ScenarioIssue): string {
  return `${i.file}:${i.line}:${i.col}: ${i.message}`;
}

/** One design as the runner needs it: Kernel policy options and the parameter values it runs with. */
export interface Design {
  readonly id: string;
  readonly label: string;
  readonly policy: Readonly<Record<string, string>>;
  readonly params: Readonly<Record<string, ParamValue>>;
}

/** A fully resolved run configuration: one design at one sweep value (seeds vary per repeat). */
export interface RunConfig {
  readonly design: Design;
  /** The sweep parameter's value, or null without a sweep. */
  readonly x: number | null;
  readonly spec: ScenarioSpec;
  readonly kernel: KernelOptions;
  /** The kernel refuses this design's policy with these kernel options (its KernelConfigError): the run reports a refusal. */
  readonly refused?: string;
}

export interface Scenario {
  readonly file: string;
  readonly name: string;
  /** The scenario at its default parameters (after --set). */
  readonly spec: ScenarioSpec;
  readonly params: Readonly<Record<string, ParamValue>>;
  readonly designs: readonly Design[];
  /** Sweep values ([] without a sweep). */
  readonly xs: readonly number[];
  /** Every (design, x) configuration, designs first. */
  readonly configs: readonly RunConfig[];
  readonly checks: readonly Check[];
  readonly among: readonly Check[];
  /** sha256 of the canonical scenario with its parameters, first 16 hex digits. */
  readonly hash: string;
}

/** A `--set key=value` override. */
export interface ParamOverride {
  readonly key: string;
  readonly value: string;
}

export class ParamOverrideError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ParamOverrideError';
  }
}

/** Parse and resolve a scenario; throws ScenarioErrors (file positions) or ParamOverrideError (a bad --set). */
/** Overrides of the scenario's own settings (the CLI's --repeats). */
export interface LoadOptions {
  readonly repeats?: number;
}

export function loadScenario(text: string, file: string, overrides: readonly ParamOverride[] = [], opts: LoadOptions = {}): Scenario {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const issues: ScenarioIssue[] = [];
  const at = (offset: number, message: string) => {
    const p = lc.linePos(offset);
    issues.push({ file, line: p.line, col: p.col, message });
  };
  for (const e of doc.errors) at(e.pos[0], e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''));
  if (issues.length > 0) throw new ScenarioErrors(issues);
  const raw = doc.toJS({ maxAliasCount: 100 }) as unknown;
  const pos = (path: readonly PropertyKey[], message: string, key = false) => at(nodeOffset(doc, path, key), message);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    pos([], 'expected a mapping (a scenario)');
    throw new ScenarioErrors(issues);
  }
  const rawObj = raw as Record<string, unknown>;

  // Parameters: their defaults, then --set.
  const params: Record<string, ParamValue> = {};
  const rawParams = rawObj.params;
  if (rawParams !== undefined && rawParams !== null && typeof rawParams === 'object' && !Array.isArray(rawParams)) {
    for (const [k, v] of Object.entries(rawParams)) if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') params[k] = v;
  }
  const sweepParam = typeof (rawObj.sweep as { param?: unknown } | undefined)?.param === 'string' ? (rawObj.sweep as { param: string }).param : null;
  let collapsedSweep: number | null = null;
  for (const o of overrides) {
    if (!Object.hasOwn(params, o.key)) {
      const known = Object.keys(params);
      throw new ParamOverrideError(`--set ${o.key}: the scenario has no parameter '${o.key}'${nearest(o.key, known)}${known.length > 0 ? `; parameters: ${known.join(', ')}` : ''}`);
    }
    const v = parseScalar(o.value);
    if (o.key === sweepParam) {
      if (typeof v !== 'number') throw new ParamOverrideError(`--set ${o.key}: the swept parameter needs a number, got ${JSON.stringify(o.value)}`);
      collapsedSweep = v;
    }
    params[o.key] = v;
  }

  // Pass 1: the whole file at the default parameters; every schema error at once.
  const spec = resolve(rawObj, params, doc, pos);
  if (spec === null) throw new ScenarioErrors(issues);
  const pre = issues.length;

  // References: processes, regions, designs, policies, kernel options, costs, checks.
  checkReferences(spec, pos);
  const designs = expandDesigns(spec, pos);
  if (spec.sweep !== undefined && !Object.hasOwn(params, spec.sweep.param)) {
    pos(['sweep', 'param'], `the swept parameter '${spec.sweep.param}' is not in params${nearest(spec.sweep.param, Object.keys(params))}`);
  }
  let xs: number[] = spec.sweep?.values ?? [];
  if (collapsedSweep !== null) xs = [collapsedSweep];
  if (spec.sweep?.headline !== undefined && collapsedSweep === null && !xs.includes(spec.sweep.headline)) {
    pos(['sweep', 'headline'], `the headline ${spec.sweep.headline} is not one of the sweep values (${xs.join(', ')})`);
  }
  const designIds = designs.map((d) => d.id);
  const checks = (spec.expect ?? []).flatMap((t, i) => parseChecked(t, ['expect', i], designIds, true, pos));
  const among = (spec.verdict.among ?? []).flatMap((t, i) => parseChecked(t, ['verdict', 'among', i], designIds, false, pos));
  for (const [d, _v] of Object.entries(spec.findings ?? {})) {
    if (!designIds.includes(d)) pos(['findings', d], `unknown design '${d}'${nearest(d, designIds)}; designs: ${designIds.join(', ')}`, true);
  }
  if (issues.length > pre) throw new ScenarioErrors(issues);

  // Pass 2: every design at every sweep value, so a value that only breaks under one design is caught now.
  const configs: RunConfig[] = [];
  for (const design of designs) {
    for (const x of xs.length > 0 ? xs : [null]) {
      const p = { ...params, ...design.params };
      if (x !== null) p[spec.sweep!.param] = x;
      for (const o of overrides) if (o.key !== sweepParam) p[o.key] = params[o.key]!;
      const ctx = `design ${design.id}${x !== null ? `, ${spec.sweep!.param}=${x}` : ''}`;
      const s = Object.keys(design.params).length === 0 && x === null ? spec : resolve(rawObj, p, doc, (path, m, key) => pos(path, `${m} (${ctx})`, key));
      if (s === null) continue;
      let refused: string | undefined;
      const kernel = kernelOptions(s, design, (path, m) => pos(path, `${m} (${ctx})`), (why) => (refused = why));
      if (kernel !== null) configs.push({ design, x, spec: s, kernel, ...(refused !== undefined ? { refused } : {}) });
    }
  }
  if (issues.length > 0) throw new ScenarioErrors(issues);
  if (opts.repeats !== undefined) {
    if (!Number.isSafeInteger(opts.repeats) || opts.repeats < 1) throw new ParamOverrideError(`--repeats: expected a whole number ≥ 1, got ${opts.repeats}`);
    spec.repeats = opts.repeats;
  }
  const hash = createHash('sha256')
    .update(canonical({ scenario: rawObj, params, sweep: xs, repeats: spec.repeats ?? null }))
    .digest('hex')
    .slice(0, 16);
  return { file, name: spec.name, spec, params, designs, xs, configs, checks, among, hash };
}

type Pos = (path: readonly PropertyKey[], message: string, key?: boolean) => void;

/** Substitute parameters and validate; null (with issues reported) if invalid. */
function resolve(raw: Record<string, unknown>, params: Readonly<Record<string, ParamValue>>, doc: Document, pos: Pos): ScenarioSpec | null {
  let ok = true;
  const sub = (v: unknown, path: PropertyKey[]): unknown => {
    if (typeof v === 'string') {
      try {
        return substitute(v, params);
      } catch (e) {
        if (!(e instanceof ExprError)) throw e;
        ok = false;
        pos(path, e.message);
        return v;
      }
    }
    if (Array.isArray(v)) return v.map((x, i) => sub(x, [...path, i]));
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, sub(x, [...path, k])]));
    return v;
  };
  // params themselves and design parameter overrides are values, not references.
  const substituted = Object.fromEntries(
    Object.entries(raw).map(([k, v]) => [k, k === 'params' ? v : k === 'designs' ? subDesigns(v, sub) : sub(v, [k])]),
  );
  if (!ok) return null;
  const r = ScenarioSpec.safeParse(substituted);
  if (r.success) return r.data;
  for (const issue of r.error.issues) reportIssue(issue, pos, doc);
  return null;
}

function subDesigns(v: unknown, sub: (v: unknown, path: PropertyKey[]) => unknown): unknown {
  if (!Array.isArray(v)) return v;
  return v.map((d, i) => {
    if (d === null || typeof d !== 'object') return d;
    return Object.fromEntries(Object.entries(d).map(([k, x]) => [k, k === 'params' ? x : sub(x, ['designs', i, k])]));
  });
}

/** One zod issue as file positions (union errors: the branch that got furthest). */
function reportIssue(issue: z.core.$ZodIssue, pos: Pos, doc: Document): void {
  if (issue.code === 'unrecognized_keys') {
    pos([...issue.path, issue.keys[0]!], issue.message, true);
    return;
  }
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    // Report the branch whose errors lie deepest: it is the one the author meant.
    const best = issue.errors.map((errs) => errs).sort((a, b) => depth(b) - depth(a))[0]!;
    if (depth(best) > 0) {
      for (const sub of best) reportIssue({ ...sub, path: [...issue.path, ...sub.path] } as z.core.$ZodIssue, pos, doc);
      return;
    }
  }
  const path = issue.path;
  const missing = (issue.code === 'invalid_type' || issue.code === 'invalid_union') && path.length > 0 && !hasPath(doc, path);
  const text = issue.message.replace(/^Invalid input: /, '');
  const message = missing ? `missing key '${String(path[path.length - 1])}'${/received undefined/.test(text) ? '' : ` (${text})`}` : text;
  pos(missing ? path.slice(0, -1) : path, message);
}

function depth(issues: readonly z.core.$ZodIssue[]): number {
  return Math.max(0, ...issues.map((i) => i.path.length + (i.code === 'invalid_union' ? 0 : 1)));
}

function hasPath(doc: Document, path: readonly PropertyKey[]): boolean {
  return doc.getIn(path as unknown[], true) !== undefined;
}

/** Offset of the node at path (or of its key), falling back to the nearest ancestor that exists. */
function nodeOffset(doc: Document, path: readonly PropertyKey[], key: boolean): number {
  for (let n = path.length; n >= 0; n--) {
    const p = path.slice(0, n);
    if (key && n === path.length && n > 0) {
      const parent = p.length === 1 ? doc.contents : doc.getIn(p.slice(0, -1) as unknown[], true);
      if (isMap(parent)) {
        const pair = parent.items.find((it) => isScalar(it.key) && it.key.value === p[p.length - 1]);
        if (pair !== undefined && isScalar(pair.key) && pair.key.range) return pair.key.range[0];
      }
    }
    const node = (p.length === 0 ? doc.contents : doc.getIn(p as unknown[], true)) as Node | undefined;
    if (node !== undefined && node !== null && (isScalar(node) || isMap(node) || isSeq(node)) && node.range) return node.range[0];
  }
  return 0;
}

/** Processes, regions, designs and cost names that the file refers to must exist. */
function checkReferences(spec: ScenarioSpec, pos: Pos): void {
  const procs = spec.setup.processes.map((p) => p.name);
  const vms = spec.setup.vms ?? [];
  const cvms = spec.setup.cvms ?? [];
  const regions = [...spec.setup.processes.flatMap((p) => (p.regions ?? []).map((r) => r.name)), ...vms.map((v) => v.name), ...cvms.map((v) => v.name)];
  for (const [key, list] of [['vms', vms], ['cvms', cvms]] as const) {
    list.forEach((v, i) => {
      if (!procs.includes(v.process)) pos(['setup', key, i, 'process'], `unknown process '${v.process}'${nearest(v.process, procs)}; processes: ${procs.join(', ')}`);
    });
  }
  dupes(procs, (n, i) => pos(['setup', 'processes', i, 'name'], `a process named '${n}' already exists`));
  dupes(regions, (n) => pos(['setup'], `two regions are named '${n}'`));
  spec.workload.actors.forEach((a, i) => {
    if (!procs.includes(a.process)) pos(['workload', 'actors', i, 'process'], `unknown process '${a.process}'${nearest(a.process, procs)}; processes: ${procs.join(', ')}`);
    const kind = actorKind(a.kind);
    for (const r of kind.regions(a as never)) {
      if (!regions.includes(r)) pos(['workload', 'actors', i, ...(pathTo(a, r) ?? [])], `unknown region '${r}'${nearest(r, regions)}; regions: ${regions.join(', ')}`);
    }
  });
  if (spec.costs !== undefined) {
    try {
      new CostModel(spec.costs);
    } catch (e) {
      if (!(e instanceof UnknownCostError)) throw e;
      pos(['costs'], e.message);
    }
  }
}

/** The path inside v to the first string property equal to value (where an actor names a region). */
function pathTo(v: unknown, value: string): PropertyKey[] | null {
  if (v === value) return [];
  if (v === null || typeof v !== 'object') return null;
  for (const [k, x] of Object.entries(v)) {
    const p = pathTo(x, value);
    if (p !== null) return [Array.isArray(v) ? Number(k) : k, ...p];
  }
  return null;
}

function dupes(names: string[], report: (n: string, i: number) => void): void {
  names.forEach((n, i) => {
    if (names.indexOf(n) !== i) report(n, i);
  });
}

/** The designs: the list as written, or the cartesian product of the matrix in key order. */
function expandDesigns(spec: ScenarioSpec, pos: Pos): Design[] {
  const out: Design[] = [];
  if (Array.isArray(spec.designs)) {
    spec.designs.forEach((d: DesignSpec, i) => {
      if (out.some((o) => o.id === d.name)) pos(['designs', i, 'name'], `a design named '${d.name}' already exists`);
      const params = Object.fromEntries(Object.entries(d.params ?? {}));
      checkParamNames(Object.keys(params), spec, (k) => pos(['designs', i, 'params', k], `unknown parameter '${k}'${nearest(k, Object.keys(spec.params ?? {}))}`, true));
      const policy = { ...(d.policy ?? {}) } as Record<string, string>;
      // A policy option '*': one design per value the registry lists (<name>/<value>).
      const star = Object.keys(policy).find((k) => policy[k] === '*');
      if (star === undefined) out.push({ id: d.name, label: d.label ?? d.name, policy, params });
      else {
        for (const v of POLICY_OPTIONS[star as keyof typeof POLICY_OPTIONS]) {
          out.push({ id: `${d.name}/${v}`, label: `${d.label ?? d.name} (${v})`, policy: { ...policy, [star]: v }, params });
        }
      }
    });
    return out;
  }
  // policy.<option>: ['*'] is every design the registry lists (so a scenario follows the registry).
  const entries = Object.entries(spec.designs.matrix).map(([key, values]): [string, ParamValue[]] => {
    const [kind, opt] = key.split('.') as [string, string];
    const all = kind === 'policy' && Object.hasOwn(POLICY_OPTIONS, opt) && values.length === 1 && values[0] === '*';
    return [key, all ? [...POLICY_OPTIONS[opt as keyof typeof POLICY_OPTIONS]] : values];
  });
  let combos: [string, ParamValue][][] = [[]];
  for (const [key, values] of entries) combos = combos.flatMap((c) => values.map((v) => [...c, [key, v] as [string, ParamValue]]));
  for (const [key] of entries) {
    const [kind, opt] = key.split('.') as [string, string];
    const options = Object.keys(POLICY_OPTIONS);
    if (kind === 'policy' && !options.includes(opt)) pos(['designs', 'matrix', key], `unknown policy option '${opt}'${nearest(opt, options)}`, true);
    if (kind === 'policy' && options.includes(opt)) {
      const valid = POLICY_OPTIONS[opt as keyof typeof POLICY_OPTIONS] as readonly string[];
      entries.find(([k]) => k === key)![1].forEach((v, i) => {
        if (!valid.includes(String(v))) pos(['designs', 'matrix', key, i], `unknown ${opt} '${String(v)}'${nearest(String(v), valid)}; valid: ${valid.join(', ')}`);
      });
    }
    if (kind === 'params') checkParamNames([opt], spec, () => pos(['designs', 'matrix', key], `unknown parameter '${opt}'${nearest(opt, Object.keys(spec.params ?? {}))}`, true));
  }
  for (const c of combos) {
    const policy: Record<string, string> = {};
    const params: Record<string, ParamValue> = {};
    for (const [key, v] of c) {
      const [kind, opt] = key.split('.') as [string, string];
      if (kind === 'policy') policy[opt] = String(v);
      else params[opt] = v;
    }
    const id = c.map(([, v]) => String(v)).join('/');
    out.push({ id, label: id, policy, params });
  }
  return out;
}

function checkParamNames(names: string[], spec: ScenarioSpec, report: (k: string) => void): void {
  for (const k of names) if (!Object.hasOwn(spec.params ?? {}, k)) report(k);
}

/**
 * Kernel options: the file's, with the design's policy; checked by the
 * Kernel's own validator. A design whose policy the kernel refuses with these
 * options (a combination it does not support) is no error in the file: it is
 * a refusal, which the run reports.
 */
function kernelOptions(spec: ScenarioSpec, design: Design, pos: Pos, refuse: (why: string) => void): KernelOptions | null {
  const opts = { ...(spec.kernel ?? {}), policy: { ...((spec.kernel?.policy as object | undefined) ?? {}), ...design.policy } } as KernelOptions;
  try {
    parseKernelOptions(opts);
    return opts;
  } catch (e) {
    if (!(e instanceof KernelConfigError)) throw e;
    const m = /^Kernel option ([\w.]+)/.exec(e.message);
    if (m !== null && m[1] === 'policy' && Object.keys(design.policy).length > 0 && !/unknown /.test(e.message)) {
      refuse(e.message);
      return opts;
    }
    const path = m !== null && m[1] !== 'policy' ? ['kernel', ...m[1]!.split('.')] : ['kernel'];
    pos(path, e.message);
    return null;
  }
}

function parseChecked(text: string, path: PropertyKey[], designs: string[], withDesign: boolean, pos: Pos): Check[] {
  try {
    return [parseCheck(text, designs, withDesign)];
  } catch (e) {
    if (!(e instanceof Error)) throw e;
    pos(path, e.message);
    return [];
  }
}

/** A --set value as YAML reads a scalar: numbers and booleans typed, anything else a string. */
function parseScalar(text: string): ParamValue {
  if (/^(true|false)$/.test(text)) return text === 'true';
  if (/^-?(\d+(\.\d+)?([eE][+-]?\d+)?|0[xX][0-9a-fA-F]+)$/.test(text)) return Number(text);
  return text;
}

/** JSON with sorted keys: the same scenario gives the same text, whatever its key order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

export { WHOLE_PARAM_REF };
