/**
 * How the CLI reports failures: one line on stderr (a scenario file's errors,
 * one per line with file:line:column), and the exit code: 2 for anything the
 * user can fix on the command line or in the file, 1 otherwise.
 */
import { KernelConfigError } from '../config.js';
import { UnknownPolicyError } from '../policy/registry.js';
import { ParamOverrideError, ScenarioErrors } from '../sim/scenario/load.js';
import { MergeError, UnknownScenarioError } from '../report/compare.js';
import { ReportError } from '../report/json.js';
import { SweepDirError } from '../report/case_store.js';
import { SoakCheckFailure } from '../soak/ops.js';

/** A mistake in how foliosim was called. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function isUsageError(e: unknown): boolean {
  return (
    e instanceof UsageError ||
    e instanceof ScenarioErrors ||
    e instanceof ParamOverrideError ||
    e instanceof UnknownScenarioError ||
    e instanceof MergeError ||
    e instanceof ReportError ||
    e instanceof SweepDirError ||
    e instanceof KernelConfigError ||
    e instanceof UnknownPolicyError ||
    (e instanceof Error && (e as NodeJS.ErrnoException).code === 'ENOENT')
  );
}

export function exitCodeOf(e: unknown): number {
  return isUsageError(e) ? 2 : 1;
}

export function reportError(e: unknown): void {
  if (e instanceof ScenarioErrors) {
    process.stderr.write(`${e.message}\n${e.issues.length} error${e.issues.length > 1 ? 's' : ''} in the scenario\n`);
    return;
  }
  if (isUsageError(e)) {
    process.stderr.write(`foliosim: ${(e as Error).message}\n`);
    return;
  }
  if (e instanceof SoakCheckFailure) {
    // A replayed soak stream (the soak actor) read something other than what it wrote: the failure it exists to show.
    process.stderr.write(`foliosim: the soak replay failed: ${e.message}\n`);
    return;
  }
  // A bug in foliosim: say so, with the stack, so it can be reported.
  process.stderr.write(`foliosim: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
}
