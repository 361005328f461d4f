/**
 * Scenario files: every error names file:line:column and what was expected,
 * all of them at once; parameters, designs and sweeps resolve as documented.
 */
import { describe, expect, it } from 'vitest';
import { ParamOverrideError, ScenarioErrors, loadScenario } from './load.js';
import { DesignRefusedError, runOne, runResult } from '../run.js';
import { GMEM_HUGE_SHARED, S2_RECOALESCE } from '../../policy/registry.js';

/** A small valid scenario; tests edit lines of it. */
const BASE = `name: t
title: T
question: Does it load?
params:
  guest: 16MiB
  n: 2
setup:
  processes:
    - name: vmm
      regions:
        - { name: ram, size: "\${guest}", fill: 1 }
workload:
  duration: 1ms
  actors:
    - kind: guest
      process: vmm
      region: ram
      every: 100us
designs:
  - { name: a, policy: { pinAccounting: upstream } }
  - { name: b, policy: { pinAccounting: exact }, params: { n: 3 } }
metrics: [forkCopies, pinsLost]
verdict: { best: forkCopies }
`;

function issues(text: string, overrides: { key: string; value: string }[] = []): string[] {
  try {
    loadScenario(text, 'x.yaml', overrides);
  } catch (e) {
    if (e instanceof ScenarioErrors) return e.issues.map((i) => `${i.file}:${i.line}:${i.col}: ${i.message}`);
    throw e;
  }
  return [];
}

/** Line (1-based) of the first line containing s. */
function lineOf(text: string, s: string): number {
  return text.split('\n').findIndex((l) => l.includes(s)) + 1;
}

describe('loadScenario', () => {
  it('loads a valid scenario: designs, parameters per design, hash', () => {
    const s = loadScenario(BASE, 'x.yaml');
    expect(s.designs.map((d) => d.id)).toEqual(['a', 'b']);
    expect(s.designs[1]!.params).toEqual({ n: 3 });
    expect(s.configs).toHaveLength(2);
    expect(s.configs[0]!.spec.setup.processes[0]!.regions![0]!.size).toBe(16 * 2 ** 20);
    expect(s.configs[0]!.kernel.policy).toEqual({ pinAccounting: 'upstream' });
    expect(s.hash).toMatch(/^[0-9a-f]{16}$/);
  });

  it('a design whose policy the kernel refuses loads as a refusal, and its run says so', () => {
    // HGM's per-subpage mapcount needs writable tail struct pages: the kernel refuses it with HVO on.
    const text = BASE.replace('setup:', 'kernel: { hugetlbOptimizeVmemmap: true }\nsetup:').replace(
      '  - { name: b, policy: { pinAccounting: exact }, params: { n: 3 } }',
      '  - { name: b, policy: { hgmMapcount: thp-like } }\n  - { name: c, policy: { hgmMapcount: head-per-pte } }',
    );
    const s = loadScenario(text, 'x.yaml');
    expect(s.configs.map((c) => c.refused === undefined)).toEqual([true, false, true]);
    expect(s.configs[1]!.refused).toMatch(/^Kernel option policy: hgmMapcount 'thp-like' needs writable tail struct pages/);
    const r = runResult(s.configs[1]!, 1);
    expect(r.values.refused).toBe(1);
    expect(r.values.forkCopies).toBe(0);
    expect(r.timeline).toEqual([{ design: 'b', actor: 'kernel', kind: 'refused', start: 0, end: 0, detail: s.configs[1]!.refused }]);
    expect(runResult(s.configs[2]!, 1).values.refused).toBe(0);
    expect(() => runOne(s.configs[1]!, 1)).toThrow(DesignRefusedError);
    // An unknown name stays an error in the file, and so does a refused policy the file sets for every design.
    expect(issues(text.replace('hgmMapcount: thp-like', 'hgmMapcount: thp-lik')).join('\n')).toMatch(/unknown HugeTLB HGM mapcount design 'thp-lik' \(did you mean 'thp-like'\?\)/);
    const matrix = BASE.replace(/designs:\n( {2}- .*\n)+/, 'designs:\n  matrix:\n    policy.hgmMapcount: [thp-like, pgtabel]\n');
    expect(issues(matrix).join('\n')).toMatch(/unknown hgmMapcount 'pgtabel' \(did you mean 'pgtable'\?\)/);
    const all = text.replace('kernel: { hugetlbOptimizeVmemmap: true }', 'kernel: { hugetlbOptimizeVmemmap: true, policy: { hgmMapcount: thp-like } }').replace(/designs:\n( {2}- .*\n)+/, 'designs:\n  - { name: a }\n');
    expect(issues(all).join('\n')).toMatch(/Kernel option policy: hgmMapcount 'thp-like' needs writable/);
  });

  it('hashes the meaning, not the layout: reordered keys give the same hash, a changed value another', () => {
    const reordered = BASE.replace('title: T\nquestion: Does it load?', 'question: Does it load?\ntitle: T');
    expect(loadScenario(reordered, 'y.yaml').hash).toBe(loadScenario(BASE, 'x.yaml').hash);
    expect(loadScenario(BASE.replace('every: 100us', 'every: 200us'), 'x.yaml').hash).not.toBe(loadScenario(BASE, 'x.yaml').hash);
    expect(loadScenario(BASE, 'x.yaml', [{ key: 'guest', value: '32MiB' }]).hash).not.toBe(loadScenario(BASE, 'x.yaml').hash);
  });

  it('reports a YAML syntax error at its position', () => {
    const bad = BASE.replace('metrics: [forkCopies, pinsLost]', 'metrics: [forkCopies, pinsLost');
    const got = issues(bad);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatch(/^x\.yaml:\d+:\d+: /);
  });

  it('reports every schema error at once, each at its line and column', () => {
    const bad = BASE.replace('      every: 100us', '      evry: 100us').replace('metrics: [forkCopies, pinsLost]', 'metrics: [forkCopies, pinsLots]').replace('title: T', 'title: 3');
    const got = issues(bad);
    expect(got).toContain(`x.yaml:${lineOf(bad, 'evry')}:7: unknown key 'evry' (did you mean 'every'?); valid keys: kind, name, process, threads, start, region, every, arrival, pages, pattern, reads`);
    expect(got.some((g) => g.startsWith(`x.yaml:${lineOf(bad, 'pinsLots')}:`) && g.includes("unknown metric 'pinsLots' (did you mean 'pinsLost'?)"))).toBe(true);
    expect(got.some((g) => g.startsWith(`x.yaml:${lineOf(bad, 'title: 3')}:8:`) && g.includes('expected string'))).toBe(true);
    expect(got).toContain(`x.yaml:${lineOf(bad, 'kind: guest')}:7: missing key 'every'`);
  });

  it('reports a bad expression at the value, with units listed', () => {
    const bad = BASE.replace('duration: 1ms', 'duration: 1MiB');
    const got = issues(bad);
    expect(got).toEqual([`x.yaml:${lineOf(bad, 'duration: 1MiB')}:13: unknown unit 'MiB' in "1MiB"; duration units: ns, us, ms, s`]);
  });

  it('reports an unknown parameter reference and an unknown process or region', () => {
    const bad = BASE.replace('size: "${guest}"', 'size: "${gest}"').replace('process: vmm\n      region: ram', 'process: vm\n      region: rom');
    const got = issues(bad);
    expect(got.some((g) => g.includes('unknown parameter ${gest}; parameters: guest, n'))).toBe(true);
  });

  it('checks references once the schema holds: processes, regions, designs in expectations', () => {
    const bad = BASE.replace('process: vmm\n      region: ram', 'process: vm\n      region: rom') + 'expect: ["c.forkCopies == 0", "a.forkCopy == 1"]\n';
    const got = issues(bad);
    expect(got).toEqual([
      `x.yaml:${lineOf(bad, '      process: vm')}:16: unknown process 'vm' (did you mean 'vmm'?); processes: vmm`,
      `x.yaml:${lineOf(bad, 'region: rom')}:15: unknown region 'rom' (did you mean 'ram'?); regions: ram`,
      `x.yaml:${lineOf(bad, 'expect:')}:10: unknown design 'c' (did you mean 'a'?); designs: a, b`,
      `x.yaml:${lineOf(bad, 'expect:')}:31: unknown metric 'forkCopy' (did you mean 'forkCopies'?); see foliosim explain`,
    ]);
  });

  it('checks the kernel options with the Kernel validator, at the option', () => {
    const bad = BASE.replace('setup:', 'kernel:\n  memory: 3\nsetup:');
    const got = issues(bad);
    expect(got).toHaveLength(2);
    expect(got[0]).toMatch(new RegExp(`^x\\.yaml:${lineOf(bad, 'memory: 3')}:11: Kernel option memory: expected a multiple of 4KiB.* \\(design a\\)$`));
  });

  it('expands a design matrix in key order', () => {
    const m = BASE.replace(/designs:\n( {2}- .*\n)+/, 'designs:\n  matrix:\n    policy.pinAccounting: [upstream, exact]\n    params.n: [1, 2]\n');
    const s = loadScenario(m, 'x.yaml');
    expect(s.designs.map((d) => d.id)).toEqual(['upstream/1', 'upstream/2', 'exact/1', 'exact/2']);
    expect(s.designs[3]!.policy).toEqual({ pinAccounting: 'exact' });
    expect(s.designs[3]!.params).toEqual({ n: 2 });
  });

  it("a matrix value ['*'] is every design the policy registry lists", () => {
    const m = BASE.replace(/designs:\n( {2}- .*\n)+/, "designs:\n  matrix:\n    policy.s2Recoalesce: ['*']\n");
    expect(loadScenario(m, 'x.yaml').designs.map((d) => d.id)).toEqual([...S2_RECOALESCE]);
    const g = BASE.replace(/designs:\n( {2}- .*\n)+/, "designs:\n  matrix:\n    policy.gmemHugeShared: ['*']\n");
    expect(loadScenario(g, 'x.yaml').designs.map((d) => d.policy.gmemHugeShared)).toEqual([...GMEM_HUGE_SHARED]);
  });

  it('sweeps a parameter; --set of the swept parameter runs that one value', () => {
    const sw = BASE + 'sweep: { param: n, values: [1, 2, 4], headline: 2 }\n';
    expect(loadScenario(sw, 'x.yaml').configs.map((c) => [c.design.id, c.x])).toEqual([
      ['a', 1],
      ['a', 2],
      ['a', 4],
      ['b', 1],
      ['b', 2],
      ['b', 4],
    ]);
    expect(loadScenario(sw, 'x.yaml', [{ key: 'n', value: '4' }]).xs).toEqual([4]);
    expect(issues(BASE + 'sweep: { param: n, values: [1, 2], headline: 3 }\n')[0]).toContain('the headline 3 is not one of the sweep values (1, 2)');
  });

  it('applies --set overrides with types, and names an unknown key with suggestions', () => {
    const s = loadScenario(BASE, 'x.yaml', [{ key: 'guest', value: '32MiB' }]);
    expect(s.configs[0]!.spec.setup.processes[0]!.regions![0]!.size).toBe(32 * 2 ** 20);
    expect(() => loadScenario(BASE, 'x.yaml', [{ key: 'gest', value: '1' }])).toThrow(ParamOverrideError);
    expect(() => loadScenario(BASE, 'x.yaml', [{ key: 'gest', value: '1' }])).toThrow("--set gest: the scenario has no parameter 'gest' (did you mean 'guest'?); parameters: guest, n");
  });

  it('reports a value that breaks only under one design, naming the design', () => {
    const bad = BASE.replace('params: { n: 3 }', 'params: { guest: 5 }');
    const got = issues(bad);
    expect(got).toHaveLength(1);
    expect(got[0]).toContain('expected a non-negative multiple of 4KiB (got 5) (design b)');
  });
});
