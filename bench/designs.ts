/**
 * npm run designs: the pin-accounting designs of seed 003 on the VMM workload
 * of src/sim/pin_designs.ts, one row per design. Counts, not timings: they are
 * exact and the same on every machine.
 *
 *   npm run designs                 256 MiB of guest RAM
 *   npm run designs -- --guest 1024
 */
import { comparePinDesigns } from '../src/sim/pin_designs.js';
import { PIN_ACCOUNTING } from '../src/policy/registry.js';

const args = process.argv.slice(2);
const gi = args.indexOf('--guest');
const guestMiB = gi >= 0 ? Number(args[gi + 1]) : 256;
const rows = comparePinDesigns(Object.keys(PIN_ACCOUNTING), { guestMiB });
const cols: [string, (r: (typeof rows)[number]) => string][] = [
  ['design', (r) => r.name],
  ['pinned pages', (r) => String(r.pinnedPages)],
  ['maybe-pinned false +', (r) => String(r.falsePositives)],
  ['false −', (r) => String(r.falseNegatives)],
  ['fork copies', (r) => String(r.forkCopies)],
  ['unnecessary (MiB)', (r) => `${r.unnecessaryForkCopies} (${(r.unnecessaryForkCopyBytes / 2 ** 20).toFixed(1)})`],
  ['pins lost', (r) => String(r.pinsLostAfterWrites)],
  ['pages out of play', (r) => String(r.stickyPages)],
  ['metadata (MiB / 2 GiB host)', (r) => (r.metadataBytes / 2 ** 20).toFixed(0)],
  ['max pins / page', (r) => r.maxPinsPerPage.toLocaleString('en-US')],
  ['oracle', (r) => (r.violations.length === 0 ? 'clean' : r.violations.join(','))],
];
const table = [cols.map((c) => c[0]), ...rows.map((r) => cols.map((c) => c[1](r)))];
process.stdout.write(`guest RAM ${guestMiB} MiB\n\n`);
process.stdout.write(`| ${table[0]!.join(' | ')} |\n|${table[0]!.map(() => '---').join('|')}|\n`);
for (const r of table.slice(1)) process.stdout.write(`| ${r.join(' | ')} |\n`);
