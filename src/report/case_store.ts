/**
 * A sweep directory (`foliosim compare --out DIR`): every finished run is a
 * case file written atomically, so a sweep killed at any moment loses at most
 * the runs in flight, and `--resume` runs only what is missing.
 *
 *   DIR/sweep.json          what the sweep is: foliosim version, seed, each
 *                           scenario's hash, overrides and repeats, the job
 *                           count; its sha256 is the sweep's identity
 *   DIR/cases/NNNNNN.json   one run: the sweep's identity, the job (global
 *                           index, scenario hash, design, seed), the result,
 *                           and the sha256 of the result's text
 *   DIR/report.<ext>        the report, once every case is in
 *
 * Each file is written to a temporary name, fsynced, renamed into place and
 * the directory fsynced (write, fsync, rename): a reader sees the old file or
 * the whole new one. A case file that does not parse, belongs to another
 * sweep or job, or whose result does not match its checksum is reported by
 * name and run again, never merged.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { RunResult } from '../sim/run.js';
import type { LoadedScenario, PlannedJob } from '../sim/runner.js';
import { foliosimVersion } from '../sim/version.js';

export const SWEEP_FORMAT = 'foliosim-sweep';
export const CASE_FORMAT = 'foliosim-case';

/** A sweep directory that cannot be used as asked (exit 2: the user can fix it). */
export class SweepDirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SweepDirError';
  }
}

// ---------------------------------------------------------------------------
// JSON that keeps every number: results hold NaN (a metric with no samples),
// ±Infinity and -0, which JSON.stringify would turn into null and 0. A resumed
// sweep must build the byte-identical report, so they are written tagged.

const NUM_TAG = '$num';

function encodeNumbers(_key: string, v: unknown): unknown {
  if (typeof v !== 'number') return v;
  if (Number.isNaN(v)) return { [NUM_TAG]: 'NaN' };
  if (v === Infinity) return { [NUM_TAG]: 'Infinity' };
  if (v === -Infinity) return { [NUM_TAG]: '-Infinity' };
  if (Object.is(v, -0)) return { [NUM_TAG]: '-0' };
  return v;
}

function decodeNumbers(_key: string, v: unknown): unknown {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
  const keys = Object.keys(v);
  if (keys.length !== 1 || keys[0] !== NUM_TAG) return v;
  const t = (v as Record<string, unknown>)[NUM_TAG];
  return t === 'NaN' ? NaN : t === 'Infinity' ? Infinity : t === '-Infinity' ? -Infinity : t === '-0' ? -0 : v;
}

/** JSON text of v with NaN, ±Infinity and -0 kept (see decodeExact). */
export function encodeExact(v: unknown): string {
  return JSON.stringify(v, encodeNumbers);
}

/** The value encodeExact wrote. Throws SyntaxError for text that is not JSON. */
export function decodeExact(text: string): unknown {
  return JSON.parse(text, decodeNumbers) as unknown;
}

// ---------------------------------------------------------------------------
// Atomic files.

/** The temporary files writeFileAtomic renames into place. */
const TMP_FILE = /^\..+\.\d+\.tmp$/;

/** Write text to path atomically: a temporary file, fsync, rename, then fsync the directory. */
export function writeFileAtomic(dir: string, name: string, text: string): void {
  const path = join(dir, name);
  const tmp = join(dir, `.${name}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w', 0o644);
  try {
    const buf = Buffer.from(text, 'utf8');
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  // The rename is durable once the directory is.
  const d = openSync(dir, 'r');
  try {
    fsyncSync(d);
  } finally {
    closeSync(d);
  }
}

// ---------------------------------------------------------------------------
// The sweep and its cases.

const SweepFile = z.object({
  format: z.literal(SWEEP_FORMAT),
  version: z.literal(1),
  foliosim: z.string(),
  seed: z.number().nullable(),
  scenarios: z.array(z.object({ file: z.string(), hash: z.string(), overrides: z.array(z.object({ key: z.string(), value: z.string() })), repeats: z.number().nullable() })),
  jobs: z.number().int().nonnegative(),
  shard: z.object({ index: z.number().int().nonnegative(), count: z.number().int().positive() }).nullable(),
});
type SweepFile = z.infer<typeof SweepFile>;

const CaseFile = z.object({
  format: z.literal(CASE_FORMAT),
  version: z.literal(1),
  sweep: z.string(),
  job: z.object({ index: z.number().int().nonnegative(), scenario: z.string(), design: z.string(), seed: z.number() }),
  sha256: z.string(),
  result: z.unknown(),
});

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** The case file name of a job's global index. */
export function caseName(index: number): string {
  return `${String(index).padStart(6, '0')}.json`;
}

export interface SweepOptions {
  readonly seed?: number;
  readonly shard?: { readonly index: number; readonly count: number };
  /** Keep the cases already in the directory (else a directory with a sweep in it is refused). */
  readonly resume: boolean;
}

export interface SweepStore {
  readonly dir: string;
  /** Results already on disk, by position in the jobs given to openSweep. */
  readonly done: ReadonlyMap<number, RunResult>;
  /** Case files that were not used, each with why ("cases/000012.json: truncated or not JSON"). */
  readonly rejected: readonly string[];
  /** Persist the result of the job at position i (atomically). */
  save(i: number, result: RunResult): void;
  /** Write the report (or shard) file into the directory, atomically. */
  writeOutput(name: string, text: string): void;
}

function describeJob(list: readonly LoadedScenario[], j: PlannedJob): { index: number; scenario: string; design: string; seed: number } {
  const s = list[j.scenario]!.scenario;
  return { index: j.index, scenario: s.hash, design: s.configs[j.config]!.design.id, seed: j.seed };
}

/**
 * Open (creating it if need be) the sweep directory for these jobs. With
 * resume, the cases already there for this very sweep are loaded (bad ones
 * listed in rejected, to be run again); without, a directory that already
 * holds a sweep is refused, so that nothing is overwritten by mistake.
 */
export function openSweep(dir: string, list: readonly LoadedScenario[], jobs: readonly PlannedJob[], opts: SweepOptions): SweepStore {
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new SweepDirError(`${dir}: not a directory`);
  const casesDir = join(dir, 'cases');
  mkdirSync(casesDir, { recursive: true });
  const sweep: SweepFile = {
    format: SWEEP_FORMAT,
    version: 1,
    foliosim: foliosimVersion(),
    seed: opts.seed ?? null,
    scenarios: list.map((l) => ({ file: l.scenario.file, hash: l.scenario.hash, overrides: l.overrides.map((o) => ({ key: o.key, value: o.value })), repeats: l.repeats ?? null })),
    jobs: jobs.length,
    shard: opts.shard === undefined ? null : { index: opts.shard.index, count: opts.shard.count },
  };
  const sweepText = JSON.stringify(sweep, null, 2) + '\n';
  const id = sha256(sweepText);
  const sweepPath = join(dir, 'sweep.json');
  const done = new Map<number, RunResult>();
  const rejected: string[] = [];
  if (existsSync(sweepPath)) {
    if (!opts.resume) throw new SweepDirError(`${dir} already holds a sweep: add --resume to finish it, or give an empty directory`);
    const old = readFileSync(sweepPath, 'utf8');
    if (old !== sweepText) {
      const parsed = SweepFile.safeParse(safeJson(old));
      const why = !parsed.success ? 'its sweep.json is not a foliosim sweep' : describeDifference(parsed.data, sweep);
      throw new SweepDirError(`${dir} holds a different sweep (${why}); give an empty directory`);
    }
    // A process killed mid-write leaves its temporary file: never read, removed now.
    for (const d of [dir, casesDir]) for (const name of readdirSync(d)) if (TMP_FILE.test(name)) rmSync(join(d, name), { force: true });
    const byIndex = new Map(jobs.map((j, i) => [j.index, i]));
    for (const name of readdirSync(casesDir).sort()) {
      if (!/^\d{6}\.json$/.test(name)) continue;
      const rel = `cases/${name}`;
      const why = (reason: string): void => void rejected.push(`${join(dir, rel)}: ${reason}`);
      let json: unknown;
      try {
        json = decodeExact(readFileSync(join(casesDir, name), 'utf8'));
      } catch {
        why('truncated or not JSON');
        continue;
      }
      const c = CaseFile.safeParse(json);
      if (!c.success) {
        why('not a foliosim case file');
        continue;
      }
      const i = byIndex.get(c.data.job.index);
      if (c.data.sweep !== id || i === undefined || name !== caseName(c.data.job.index)) {
        why('belongs to another sweep or job');
        continue;
      }
      const want = describeJob(list, jobs[i]!);
      if (JSON.stringify(c.data.job) !== JSON.stringify(want)) {
        why('belongs to another job');
        continue;
      }
      if (sha256(encodeExact(c.data.result)) !== c.data.sha256) {
        why('its result does not match its checksum');
        continue;
      }
      done.set(i, c.data.result as RunResult);
    }
  } else {
    writeFileAtomic(dir, 'sweep.json', sweepText);
  }
  return {
    dir,
    done,
    rejected,
    save(i, result) {
      const resultText = encodeExact(result);
      const job = describeJob(list, jobs[i]!);
      const text = `{"format":${JSON.stringify(CASE_FORMAT)},"version":1,"sweep":${JSON.stringify(id)},"job":${JSON.stringify(job)},"sha256":${JSON.stringify(sha256(resultText))},"result":${resultText}}\n`;
      writeFileAtomic(casesDir, caseName(job.index), text);
    },
    writeOutput(name, text) {
      writeFileAtomic(dir, name, text);
    },
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

/** What makes two sweeps differ, in a few words. */
function describeDifference(a: SweepFile, b: SweepFile): string {
  if (a.foliosim !== b.foliosim) return `foliosim ${a.foliosim}, not ${b.foliosim}`;
  if (a.seed !== b.seed) return `seed ${String(a.seed ?? 'default')}, not ${String(b.seed ?? 'default')}`;
  if (JSON.stringify(a.scenarios) !== JSON.stringify(b.scenarios)) return 'other scenarios, parameters or repeats';
  if (JSON.stringify(a.shard) !== JSON.stringify(b.shard)) return 'another shard';
  return 'another plan';
}
