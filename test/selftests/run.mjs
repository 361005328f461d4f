#!/usr/bin/env node
/**
 * npm run selftests -- [--tap] <name...>
 *
 * Run ported selftests by the kernel's program name (cow, gup_longterm,
 * gup_test, uffd-unit-tests, ...). With --tap, print each program's output
 * in the kernel's own format (kselftest TAP; uffd-unit-tests' "Testing ...
 * done" lines) instead of vitest's, so that it can be diffed against a real
 * kernel's run (test/fixtures/linux-6.12/). Exit status: vitest's.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../..');

/** Every port, by program name: test/selftests/**\/<name>.test.ts. */
function ports() {
  const out = new Map();
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.test.ts')) out.set(e.name.slice(0, -'.test.ts'.length), p);
    }
  };
  walk(join(here, 'tools'));
  return out;
}

const args = process.argv.slice(2);
const tap = args.includes('--tap');
const names = args.filter((a) => a !== '--tap');
const all = ports();
if (names.length === 0 || names.includes('--help')) {
  process.stdout.write(`usage: npm run selftests -- [--tap] <name...>\nports: ${[...all.keys()].sort().join(', ')}\n`);
  process.exit(names.includes('--help') ? 0 : 2);
}
const unknown = names.filter((n) => !all.has(n));
if (unknown.length > 0) {
  process.stderr.write(`selftests: no port named ${unknown.join(', ')}; ports: ${[...all.keys()].sort().join(', ')}\n`);
  process.exit(2);
}
const dir = mkdtempSync(join(tmpdir(), 'foliosim-tap-'));
const files = names.map((n) => relative(root, all.get(n)));
const vitest = join(root, 'node_modules/vitest/vitest.mjs');
const r = spawnSync(process.execPath, [vitest, 'run', ...files, ...(tap ? ['--reporter=dot', '--silent'] : [])], {
  cwd: root,
  stdio: tap ? ['ignore', 'ignore', 'inherit'] : 'inherit',
  env: { ...process.env, FOLIOSIM_TAP_DIR: dir },
});
if (tap) {
  for (const n of names) {
    const f = join(dir, `${n}.tap`);
    if (existsSync(f)) process.stdout.write(readFileSync(f, 'utf8'));
    else process.stderr.write(`selftests: ${n} wrote no output (a case failed before the comparison ran?)\n`);
  }
}
process.exit(r.status ?? 1);
