/**
 * npm run bench: run every scenario (or those named on the command line) in a
 * fresh Node process, --runs times (default 3), and print the median time,
 * ops/s and peak RSS. Results also go to bench/results.json.
 *
 *   npm run bench                     all scenarios, 3 runs each
 *   npm run bench -- fault-4k --runs 5
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { scenarios, type Measurement } from './scenarios.js';

interface Run extends Measurement {
  peakRssMiB: number;
}

const here = fileURLToPath(new URL('.', import.meta.url));

if (process.argv[2] === '--child') {
  const name = process.argv[3]!;
  const m = await scenarios[name]!();
  const peakRssMiB = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(JSON.stringify({ ...m, peakRssMiB }));
} else {
  const args = process.argv.slice(2);
  const ri = args.indexOf('--runs');
  const runs = ri >= 0 ? Number(args[ri + 1]) : 3;
  if (ri >= 0) args.splice(ri, 2);
  const unknown = args.filter((a) => !(a in scenarios));
  if (unknown.length > 0) {
    process.stderr.write(`unknown scenario(s): ${unknown.join(', ')}; valid: ${Object.keys(scenarios).join(', ')}\n`);
    process.exit(2);
  }
  const names = args.length > 0 ? args : Object.keys(scenarios);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const results: Record<string, unknown> = {};
  const rows: string[][] = [['scenario', 'operation', 'median s', 'ops/s', 'peak RSS MiB', 'target']];
  for (const name of names) {
    const rs: Run[] = [];
    for (let i = 0; i < runs; i++) {
      const out = execFileSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--child', name], { cwd: here, maxBuffer: 1 << 20 });
      rs.push(JSON.parse(out.toString()) as Run);
    }
    const sec = median(rs.map((r) => r.seconds));
    const rss = median(rs.map((r) => r.peakRssMiB));
    const opsPerSec = rs[0]!.ops / sec;
    results[name] = { op: rs[0]!.op, runs, medianSeconds: sec, opsPerSecond: opsPerSec, medianPeakRssMiB: rss, target: rs[0]!.target, seconds: rs.map((r) => r.seconds), ...(rs[rs.length - 1]!.extra !== undefined ? { extra: rs[rs.length - 1]!.extra } : {}) };
    rows.push([name, rs[0]!.op, sec.toFixed(3), Math.round(opsPerSec).toLocaleString('en-US'), rss.toFixed(0), rs[0]!.target]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) process.stdout.write(r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ') + '\n');
  // Figures besides the time, from each scenario's last run.
  for (const name of names) {
    const extra = (results[name] as { extra?: Record<string, unknown> }).extra;
    if (extra !== undefined) process.stdout.write(`${name}: ${Object.entries(extra).map(([k, v]) => `${k} ${String(v)}`).join(', ')}\n`);
  }
  const machine = { node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30) };
  process.stdout.write(`\nmachine: ${machine.cpu}, ${machine.cpus} cpus, ${machine.memoryGiB} GiB, node ${machine.node}; median of ${runs} runs\n`);
  writeFileSync(new URL('results.json', new URL('../../bench/', import.meta.url)), JSON.stringify({ machine, results }, null, 2) + '\n');
}
