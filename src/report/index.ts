/**
 * foliosim/compare: run scenarios and render their reports from code, as the
 * `foliosim` command does (docs/API.md, "Scenarios and reports").
 */
export { compareScenarios, loadBuiltins, loadNamed, mergeShards, runShard, UnknownScenarioError, MergeError, type ShardFile, type CompareOptions, type SweepDir } from './compare.js';
export { SweepDirError } from './case_store.js';
export { renderTable, type TableOptions } from './table.js';
export { renderMarkdown } from './markdown.js';
export { renderJson, parseReport, ReportError } from './json.js';
export { renderHtml } from './html.js';
export { Report, ScenarioReport, REPORT_FORMAT, REPORT_VERSION, reportOk } from './model.js';
export { loadScenario, ScenarioErrors, ParamOverrideError, formatIssue, type Scenario, type ScenarioIssue, type ParamOverride, type Design, type RunConfig } from '../sim/scenario/load.js';
export { scenarioJsonSchema } from '../sim/scenario/schema.js';
export { runOne, type RunResult, type RunOptions } from '../sim/run.js';
export { builtins } from '../sim/builtin.js';
export { METRICS, type Metric } from '../sim/metrics.js';
export { ACTOR_KINDS } from '../sim/actors/index.js';
export type { LoadedScenario, RunPlanOptions, Shard } from '../sim/runner.js';
