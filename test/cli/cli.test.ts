/**
 * The foliosim command as a user runs it (the built package, dist/): help,
 * version, exit codes, one-line errors with suggestions, byte-identical
 * reports for the same seed whatever the number of worker threads, and
 * sharded runs that merge into the same report.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const BIN = resolve(__dirname, '../../dist/src/cli/bin.js');
const tmp = mkdtempSync(join(tmpdir(), 'foliosim-cli-'));

function foliosim(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, maxBuffer: 64 << 20 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** A small scenario: quick to run, with a failing expectation when asked. */
function scenario(name: string, extra = ''): string {
  const file = join(tmp, `${name}.yaml`);
  writeFileSync(
    file,
    `name: ${name}
title: Small
question: Does a fork of pinned THP memory copy less under exact counts?
params: { guest: 8MiB }
kernel: { memory: 256MiB, thp: always }
setup:
  processes:
    - name: vmm
      regions: [{ name: ram, size: "\${guest}", fill: 1 }]
workload:
  duration: 4ms
  actors:
    - { kind: vfio, process: vmm, region: ram, density: 512, offset: 20KiB }
    - { kind: pin, name: io, process: vmm, region: ram, every: 100us, hold: 50us, flags: [write] }
    - { kind: forker, process: vmm, start: 1ms, every: 10ms, childLife: 200us, limit: 1, folioMap: { region: ram, offset: 0 } }
designs:
  - { name: upstream, policy: { pinAccounting: upstream } }
  - { name: exact, policy: { pinAccounting: exact } }
repeats: 2
metrics: [forkCopies, unnecessaryForkCopies, metadataBytes, forkLatencyMedian]
verdict: { best: unnecessaryForkCopies }
expect: ["exact.unnecessaryForkCopies == 0"${extra}]
`,
  );
  return file;
}

describe.skipIf(!existsSync(BIN))('foliosim CLI', () => {
  it('prints help and version, exit 0', () => {
    const h = foliosim('--help');
    expect(h.code).toBe(0);
    for (const c of ['compare', 'run', 'list', 'validate', 'schema', 'explain', 'inspect', 'trace', 'merge', 'explore', 'soak']) expect(h.out).toContain(c);
    const v = foliosim('--version');
    expect(v.code).toBe(0);
    expect(v.out.trim()).toBe(JSON.parse(readFileSync(resolve(__dirname, '../../package.json'), 'utf8')).version);
  });

  it('answers an unknown command, option or scenario with one line naming the nearest, exit 2', () => {
    const c = foliosim('comapre');
    expect(c.code).toBe(2);
    expect(c.err.trim().split('\n')).toHaveLength(1);
    expect(c.err).toContain("unknown command 'comapre'");
    expect(c.err).toContain('compare');
    const o = foliosim('compare', '--jbos', '2');
    expect(o.code).toBe(2);
    expect(o.err.trim().split('\n')).toHaveLength(1);
    expect(o.err).toContain('--jobs');
    const s = foliosim('compare', 'fork-with-pin');
    expect(s.code).toBe(2);
    expect(s.err.trim().split('\n')).toHaveLength(1);
    expect(s.err).toContain("unknown scenario 'fork-with-pin' (did you mean 'fork-with-pins'?)");
    const f = foliosim('compare', scenario('fmt'), '--format', 'pdf');
    expect(f.code).toBe(2);
    expect(f.err).toContain('table, markdown, json, html');
  });

  it('validates a file: errors with file:line:column, exit 2; a good file, exit 0', () => {
    const good = scenario('good');
    expect(foliosim('validate', good)).toMatchObject({ code: 0 });
    const bad = join(tmp, 'bad.yaml');
    writeFileSync(bad, readFileSync(good, 'utf8').replace('every: 100us', 'evry: 100us').replace('verdict: { best: unnecessaryForkCopies }', 'verdict: { best: unnecessaryCopies }'));
    const r = foliosim('validate', bad);
    expect(r.code).toBe(2);
    const lines = r.err.trim().split('\n');
    expect(lines.some((l) => l.startsWith(`${bad}:`) && /:\d+:\d+: unknown key 'evry' \(did you mean 'every'\?\)/.test(l))).toBe(true);
    expect(lines.some((l) => l.endsWith("missing key 'every'"))).toBe(true);
    expect(lines.some((l) => /:\d+:\d+: unknown metric 'unnecessaryCopies' \(did you mean 'unnecessaryForkCopies'\?\)/.test(l))).toBe(true);
  });

  it('gives byte-identical reports for the same seed, with one worker or two, in every format, and different ones for another seed', () => {
    const f = scenario('det');
    for (const format of ['table', 'markdown', 'html']) {
      const one = foliosim('compare', f, '-f', format, '-j', '1');
      expect(one.code, format).toBe(0);
      expect(foliosim('compare', f, '-f', format, '-j', '2').out, format).toBe(one.out);
    }
    const a = foliosim('compare', f, '-f', 'json', '-j', '1');
    const b = foliosim('compare', f, '-f', 'json', '-j', '2');
    expect(a.code).toBe(0);
    expect(b.out).toBe(a.out);
    const c = foliosim('compare', f, '-f', 'json', '-j', '2', '--seed', '9');
    expect(c.out).not.toBe(a.out);
    const report = JSON.parse(a.out);
    expect(report.format).toBe('foliosim-report');
    expect(report.scenarios[0].seed).toBe(1);
    expect(JSON.parse(c.out).scenarios[0].seed).toBe(9);
  });

  it('merges shards into the report one run would have printed', () => {
    const f = scenario('shard');
    const whole = foliosim('compare', f, '-f', 'json', '-j', '1');
    const s1 = join(tmp, 's1.json');
    const s2 = join(tmp, 's2.json');
    expect(foliosim('compare', f, '--shard', '1/2', '-o', s1, '-j', '1').code).toBe(0);
    expect(foliosim('compare', f, '--shard', '2/2', '-o', s2, '-j', '1').code).toBe(0);
    const m = foliosim('merge', s2, s1, '-f', 'json');
    expect(m.code).toBe(0);
    expect(m.out).toBe(whole.out);
    const missing = foliosim('merge', s1);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('missing shard 2/2');
    expect(foliosim('compare', f, '--shard', '3/2').code).toBe(2);
  });

  it('keeps every finished run in --out DIR: a sweep killed with SIGKILL halfway resumes to the report of an uninterrupted one', async () => {
    const f = scenario('sweep');
    const args = [f, '--repeats', '12', '-f', 'json'];
    const whole = foliosim('compare', ...args, '-j', '1');
    expect(whole.code).toBe(0);
    const dir = join(tmp, 'sweep-dir') + '/';
    const cases = join(dir, 'cases');
    const total = 2 * 12;
    const count = (): number => (existsSync(cases) ? readdirSync(cases).filter((n) => /^\d{6}\.json$/.test(n)).length : 0);
    // Two threads, killed once a third of the runs are on disk.
    const child = spawn(process.execPath, [BIN, 'compare', ...args, '-j', '2', '-q', '-o', dir], { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_code, signal) => res(signal)));
    while (count() < total / 3) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    const before = count();
    expect(before).toBeLessThan(total);
    expect(existsSync(join(dir, 'report.json'))).toBe(false);
    // Without --resume the directory is not overwritten; with it, only the rest runs.
    const refused = foliosim('compare', ...args, '-o', dir);
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/already holds a sweep: add --resume/);
    const resumed = foliosim('compare', ...args, '-j', '1', '-o', dir, '--resume');
    expect(resumed.code).toBe(0);
    expect(readFileSync(join(dir, 'report.json'), 'utf8')).toBe(whole.out);
    expect(count()).toBe(total);
    // No temporary file survives (the killed process's, if any, went at the resume).
    expect([...readdirSync(cases), ...readdirSync(dir)].filter((n) => n.startsWith('.'))).toEqual([]);
    // A case file cut short is named, run again and never merged.
    const victim = join(cases, readdirSync(cases).sort()[3]!);
    writeFileSync(victim, readFileSync(victim, 'utf8').slice(0, 100));
    const repaired = foliosim('compare', ...args, '-o', dir, '--resume');
    expect(repaired.code).toBe(0);
    expect(repaired.err).toContain(`${victim}: truncated or not JSON; running it again`);
    expect(readFileSync(join(dir, 'report.json'), 'utf8')).toBe(whole.out);
    expect(foliosim('compare', f, '--resume').err).toMatch(/--resume needs --out DIR/);
  }, 120_000);

  it('explores a tiny world exhaustively: states per depth, known findings by name, exit 0; an unknown world, exit 2', () => {
    const r = foliosim('explore', 'hgm-truncate', '--depth', '2', '-q');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/hgm-truncate \(pgtable\): \d+ distinct states, 54 transitions, depth 2\/2/);
    expect(r.out).toContain('known finding hgm-mapcount-after-truncate (a flaw of the design, not of the model), shortest: CONTINUE 4 KiB at +0 -> punch the page out (fallocate PUNCH_HOLE)');
    expect(r.out.match(/no rule broken/g)).toHaveLength(4);
    const u = foliosim('explore', 'pin-frok');
    expect(u.code).toBe(2);
    expect(u.err).toContain("unknown world 'pin-frok' (did you mean 'pin-fork'?)");
  });

  it('soaks every design with random operations on two threads (the CI soak), exit 0; a bad policy, exit 2', () => {
    // The CI soak: about half a minute on two cores (docs/PERFORMANCE.md has the 10^7 run).
    const r = foliosim('soak', '--ops', '1080000', '--all-policies', '-j', '2', '-q');
    expect(r.code, r.out + r.err).toBe(0);
    for (const d of ['pinAccounting=upstream', 'pinAccounting=exact', 'pinAccounting=pmd-aggregate', 'pinAccounting=mm-sticky', 'pinAccounting=page-sticky', 'pinAccounting=pte-bit', 'exclusivePin=bias', 'exclusivePin=field']) expect(r.out).toContain(d);
    for (const d of ['hgmMapcount=thp-like', 'hgmMapcount=pgtable', 'collapseNotifier=post-collapse', 'gmemHugeShared=split', 'gmemHugeShared=no-longterm-pin', 'gmemHugeShared=pfnmap', 'gmemHugeShared=separate-shared', 's2Recoalesce=eager']) expect(r.out).toContain(d);
    expect(r.out).toMatch(/^1080000 operations in [\d.]+ s \(\d+ ops\/s over 2 threads\); RSS \d+ MiB at start, \d+ MiB at the end$/m);
    expect(r.out).not.toContain('FAILED');
    const bad = foliosim('soak', '--ops', '10', '--policy', 'pinAccounting=nope');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('unknown pinAccounting policy');
  }, 180_000);

  it('replays a soak failure written as a scenario: the oracle names it, exit 1', () => {
    // A pinned private HugeTLB page outliving its mapping: Linux 6.12's HugePages_Rsvd wrap, a stream foliosim soak shrank.
    const file = join(tmp, 'soak-replay.yaml');
    writeFileSync(
      file,
      `name: soak-replay
title: A soak failure
question: Do these operations still end as they did?
kernel: { memory: 256MiB, hugetlb: { 2MiB: 16 }, thp: always }
setup: { processes: [{ name: soak }] }
workload:
  duration: 60s
  checkEvery: 1000ns
  actors:
    - kind: soak
      process: soak
      every: 1000ns
      ops:
        - { op: mmap, t: 0, kind: hugetlb, pages: 512, memfd: 0 }
        - { op: vfio-map, t: 0, r: 0, page: 0, pages: 16 }
        - { op: mmap, t: 0, kind: hugetlb, pages: 512, memfd: 0 }
        - { op: munmap, t: 0, r: 0 }
        - { op: read, t: 0, r: 0, page: 287 }
designs: [{ name: soak }]
repeats: 1
metrics: [kernelTime]
verdict: { best: kernelTime }
`,
    );
    const r = foliosim('run', file, '-j', '1');
    expect(r.code, r.err).toBe(1);
    expect(r.out).toMatch(/UNEXPECTED oracle violation in soak: hugetlb-resv-underflow/);
    // A misspelt operation is an error at its line and column.
    const badFile = join(tmp, 'soak-bad.yaml');
    writeFileSync(badFile, readFileSync(file, 'utf8').replace('{ op: munmap,', '{ op: munmapp,'));
    const bad = foliosim('validate', badFile);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/soak-bad\.yaml:17:\d+: .*expected op: mmap, write, read/);
  });

  it('exits 1 when an expectation fails, and says which', () => {
    const r = foliosim('compare', scenario('failing', ', "upstream.forkCopies == 0"'), '-j', '1');
    expect(r.code).toBe(1);
    expect(r.out).toContain('upstream.forkCopies == 0');
  });

  it('overrides a parameter with --set, and refuses an unknown one with a suggestion (exit 2)', () => {
    const f = scenario('set');
    const a = JSON.parse(foliosim('compare', f, '-f', 'json', '-j', '1', '--set', 'guest=16MiB').out);
    expect(a.scenarios[0].params.guest).toBe('16MiB');
    const bad = foliosim('compare', f, '--set', 'gust=16MiB');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("(did you mean 'guest'?)");
  });

  it('prints the scenario JSON Schema and the report schema', () => {
    const s = JSON.parse(foliosim('schema').out);
    expect(s.properties.workload).toBeDefined();
    expect(s.properties.designs).toBeDefined();
    const r = JSON.parse(foliosim('schema', '--report').out);
    expect(r.properties.scenarios).toBeDefined();
  });

  it('explains metrics, designs and unit costs; an unknown name gets suggestions, exit 2', () => {
    expect(foliosim('explain', 'unnecessaryForkCopies').out).toContain('metric (pages, lower is better)');
    expect(foliosim('explain', 'page-sticky').out).toContain('seed 003 (c)');
    expect(foliosim('explain', 'ipi').out).toContain('unit cost');
    const u = foliosim('explain', 'pinslost');
    expect(u.code).toBe(2);
    expect(u.err).toContain("'pinsLost'");
  });

  it('lists the built-in scenarios', () => {
    const r = foliosim('list');
    for (const s of ['fork-with-pins', 'pin-density-sweep', 'exclusive-pin', 'sticky-pages']) expect(r.out).toContain(s);
  });

  it('inspects the final state in /proc shapes', () => {
    const f = scenario('insp');
    const m = foliosim('inspect', f, '--view', 'meminfo');
    expect(m.code).toBe(0);
    expect(m.out).toMatch(/^MemTotal:\s+\d+ kB$/m);
    const s = foliosim('inspect', f, '--view', 'smaps', '-d', 'exact');
    expect(s.out).toMatch(/^AnonHugePages:\s+\d+ kB$/m);
    const k = foliosim('inspect', f, '--view', 'kpageflags', '--addr', 'ram+0');
    expect(k.out).toMatch(/THP/);
    // KVM's debugfs files of a built-in confidential-VM scenario: the VM's directory, then the sums at the top.
    const kv = foliosim('inspect', 'cc-boot-swiotlb', '--view', 'kvm');
    expect(kv.code).toBe(0);
    expect(kv.out).toMatch(/^\/sys\/kernel\/debug\/kvm\/\d+-\d+\/pages_2m:\d+$/m);
    expect(kv.out).toMatch(/^\/sys\/kernel\/debug\/kvm\/pf_taken:[1-9]\d*$/m);
    const bad = foliosim('inspect', f, '--design', 'exakt');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("(did you mean 'exact'?)");
  });

  it('traces a run as ftrace lines, filtered by event', () => {
    const f = scenario('tr');
    const t = foliosim('trace', f, '--events', 'mmap_lock_*');
    expect(t.code).toBe(0);
    expect(t.out).toContain('# tracer: nop');
    const events = t.out.split('\n').filter((l) => !l.startsWith('#') && l !== '');
    expect(events.length).toBeGreaterThan(0);
    for (const l of events) expect(l).toMatch(/^\s*\S+-\d+ +\[\d{3}\] \.\.\.\.\. +\d+\.\d{6}: mmap_lock_(start_locking|acquire_returned|released): mm=[0-9a-f]{16} memcg_path= write=(true|false)/);
    // Kernel tracepoints, in their kernel formats, and the whole trace in time order.
    const k = foliosim('trace', f, '-e', 'sched_*,page_fault_user,mm_page_alloc,tlb_flush');
    const lines = k.out.split('\n').filter((l) => !l.startsWith('#') && l !== '');
    expect(lines.some((l) => /: sched_process_fork: comm=vmm pid=\d+ child_comm=vmm child_pid=\d+$/.test(l))).toBe(true);
    expect(lines.some((l) => /: sched_process_exit: comm=vmm pid=\d+ prio=120$/.test(l))).toBe(true);
    expect(lines.some((l) => /: mm_page_alloc: page=ffffea[0-9a-f]{10} pfn=0x[0-9a-f]+ order=\d+ migratetype=[01] gfp_flags=GFP_/.test(l))).toBe(true);
    expect(lines.some((l) => /: tlb_flush: pages:-?\d+ reason:(local mm shootdown \(3\)|remote ipi send \(4\))$/.test(l))).toBe(true);
    const times = lines.map((l) => Number(/ (\d+\.\d{6}): /.exec(l)![1]));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(foliosim('trace', f, '-e', 'no_such_event').out.split('\n').filter((l) => !l.startsWith('#') && l !== '')).toEqual([]);
  });
});
