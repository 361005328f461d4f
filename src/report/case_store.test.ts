/**
 * Sweep directories: exact JSON, atomic case files, resume, and case files
 * that are truncated, corrupt or from another sweep (reported and run again).
 */
import { mkdtempSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runResult } from '../sim/run.js';
import { plan } from '../sim/runner.js';
import { SweepDirError, caseName, decodeExact, encodeExact, openSweep, writeFileAtomic } from './case_store.js';
import { compareScenarios, loadNamed } from './compare.js';
import { renderJson } from './json.js';

const tmp = mkdtempSync(join(tmpdir(), 'foliosim-sweep-'));
let dirs = 0;
const freshDir = (): string => join(tmp, `sweep-${dirs++}`);

const SCENARIO = join(tmp, 'small.yaml');
writeFileSync(
  SCENARIO,
  `name: small
title: Small
question: Does a fork of pinned THP memory copy less under exact counts?
params: { guest: 4MiB }
kernel: { memory: 128MiB, thp: always }
setup:
  processes:
    - name: vmm
      regions: [{ name: ram, size: "\${guest}", fill: 1 }]
workload:
  duration: 2ms
  actors:
    - { kind: vfio, process: vmm, region: ram, density: 512, offset: 20KiB }
    - { kind: forker, process: vmm, start: 500us, every: 10ms, childLife: 200us, limit: 1 }
designs:
  - { name: upstream, policy: { pinAccounting: upstream } }
  - { name: exact, policy: { pinAccounting: exact } }
repeats: 2
metrics: [forkCopies, unnecessaryForkCopies, forkLatencyMedian]
verdict: { best: unnecessaryForkCopies }
`,
);

describe('exact JSON', () => {
  it('keeps NaN, ±Infinity and -0, which JSON turns into null and 0; anything else reads as plain JSON', () => {
    const v = { a: NaN, b: [Infinity, -Infinity, -0, 0, 1.5], c: { d: 'NaN', e: { $num: 'NaN', other: 1 } }, f: null };
    const back = decodeExact(encodeExact(v)) as typeof v;
    expect(Number.isNaN(back.a)).toBe(true);
    expect(back.b).toEqual([Infinity, -Infinity, -0, 0, 1.5]);
    expect(Object.is(back.b[2], -0)).toBe(true);
    expect(back.c).toEqual(v.c);
    expect(back.f).toBeNull();
    expect(decodeExact(JSON.stringify({ x: 1, y: [2] }))).toEqual({ x: 1, y: [2] });
    expect(() => decodeExact('{"x": 1')).toThrow(SyntaxError);
  });
});

describe('sweep directories', () => {
  it('writes files atomically: no temporary file stays behind', () => {
    const d = freshDir();
    const store = openSweep(d, [loadNamed(SCENARIO)], plan([loadNamed(SCENARIO)]), { resume: false });
    store.writeOutput('report.json', '{}\n');
    writeFileAtomic(d, 'report.json', '{"a":1}\n');
    expect(readFileSync(join(d, 'report.json'), 'utf8')).toBe('{"a":1}\n');
    expect(readdirSync(d).sort()).toEqual(['cases', 'report.json', 'sweep.json']);
  });

  it('a resumed sweep runs only what is missing and builds the same report; a full sweep is refused without --resume, another sweep always', async () => {
    const list = [loadNamed(SCENARIO)];
    const whole = renderJson(await compareScenarios(list, {}));
    const d = freshDir();
    // The first two runs finish, then the sweep "dies".
    const store = openSweep(d, list, plan(list), { resume: false });
    const jobs = plan(list);
    for (const i of [0, 1]) store.save(i, runResult(list[0]!.scenario.configs[jobs[i]!.config]!, jobs[i]!.seed));
    expect(readdirSync(join(d, 'cases')).sort()).toEqual([caseName(0), caseName(1)]);
    expect(() => openSweep(d, list, jobs, { resume: false })).toThrow(SweepDirError);
    expect(() => openSweep(d, list, plan(list, 7), { resume: true, seed: 7 })).toThrow(/holds a different sweep \(seed default, not 7\)/);
    let ran = 0;
    const resumed = await compareScenarios(list, { sweep: { dir: d, resume: true }, onProgress: () => ran++ });
    // Progress starts at the two finished runs and counts the other two.
    expect(ran).toBe(3);
    expect(renderJson(resumed)).toBe(whole);
    expect(readdirSync(join(d, 'cases')).sort()).toEqual([0, 1, 2, 3].map(caseName));
    // Everything on disk: nothing runs again.
    ran = 0;
    expect(renderJson(await compareScenarios(list, { sweep: { dir: d, resume: true }, onProgress: () => ran++ }))).toBe(whole);
    expect(ran).toBe(1);
  });

  it('a truncated, corrupt, tampered, misnamed or foreign case file is reported by name and run again, never merged', async () => {
    const list = [loadNamed(SCENARIO)];
    const whole = renderJson(await compareScenarios(list, {}));
    const d = freshDir();
    await compareScenarios(list, { sweep: { dir: d, resume: false } });
    const other = freshDir();
    await compareScenarios(list, { seed: 5, sweep: { dir: other, resume: false } });
    const path = (dir: string, i: number) => join(dir, 'cases', caseName(i));
    const text0 = readFileSync(path(d, 0), 'utf8');
    writeFileSync(path(d, 0), text0.slice(0, text0.length >> 1));
    // A result changed after the checksum was taken (the same shape, a different number).
    const text1 = readFileSync(path(d, 1), 'utf8');
    writeFileSync(path(d, 1), text1.replace(/"endNs":(\d+)/, (_m, n: string) => `"endNs":${Number(n) + 1}`));
    // Case 3 swapped for case 2's file; case 2 from the other sweep.
    renameSync(path(d, 2), path(d, 3));
    writeFileSync(path(d, 2), readFileSync(path(other, 2), 'utf8'));
    // A killed writer's temporary file is never read, and goes.
    writeFileSync(join(d, 'cases', `.${caseName(1)}.4242.tmp`), '{"format":');
    const rejected: string[] = [];
    const report = await compareScenarios(list, { sweep: { dir: d, resume: true, onRejected: (w) => rejected.push(w) } });
    expect(readdirSync(join(d, 'cases')).filter((n) => n.startsWith('.'))).toEqual([]);
    expect(rejected).toEqual([
      `${path(d, 0)}: truncated or not JSON`,
      `${path(d, 1)}: its result does not match its checksum`,
      `${path(d, 2)}: belongs to another sweep or job`,
      `${path(d, 3)}: belongs to another sweep or job`,
    ]);
    expect(renderJson(report)).toBe(whole);
    // The rerun replaced them: a second resume uses every file.
    const again: string[] = [];
    await compareScenarios(list, { sweep: { dir: d, resume: true, onRejected: (w) => again.push(w) } });
    expect(again).toEqual([]);
  });
});
