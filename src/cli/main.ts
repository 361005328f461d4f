/**
 * The foliosim command (docs/CLI.md). Exit codes: 0 success; 1 a run found an
 * unexpected oracle violation or failed an expectation; 2 a usage error (an
 * unknown command, option or scenario, a bad value, an invalid scenario file).
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { foliosimVersion } from '../sim/version.js';
import { exitCodeOf, reportError } from './errors.js';
import { cmdCompare, cmdMerge, cmdRun } from './compare.js';
import { cmdExplain, cmdList, cmdSchema, cmdValidate } from './info.js';
import { cmdInspect, cmdTrace } from './inspect.js';
import { runDemo } from './demo.js';
import { cmdExplore } from './explore.js';
import { cmdSoak } from './soak.js';

const FORMATS = ['table', 'markdown', 'json', 'html'] as const;

function positiveInt(what: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`expected ${what} (a whole number ≥ 1), got '${v}'`);
    return n;
  };
}

function seedArg(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n > 2 ** 31 - 1) throw new InvalidArgumentError(`expected a seed from 0 to 2147483647, got '${v}'`);
  return n;
}

function setArg(v: string, prev: { key: string; value: string }[] = []): { key: string; value: string }[] {
  const i = v.indexOf('=');
  if (i <= 0) throw new InvalidArgumentError(`expected key=value (a scenario parameter), got '${v}'`);
  return [...prev, { key: v.slice(0, i), value: v.slice(i + 1) }];
}

function shardArg(v: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(v);
  const i = m === null ? NaN : Number(m[1]);
  const n = m === null ? NaN : Number(m[2]);
  if (!(n >= 1 && i >= 1 && i <= n)) throw new InvalidArgumentError(`expected i/N with 1 ≤ i ≤ N (this machine's share of the jobs), got '${v}'`);
  return { index: i - 1, count: n };
}

/** Options every report-producing command takes. */
function reportOptions(c: Command): Command {
  return c
    .addOption(new Option('-f, --format <format>', 'output format').choices(FORMATS).default('table'))
    .option('-o, --out <path>', 'write the report to a file instead of stdout; a directory (existing, or ending in /) keeps every finished run too, so a killed sweep can --resume')
    .option('--seed <n>', 'first seed (repeat i uses seed + i)', seedArg)
    .option('--set <key=value>', 'override a scenario parameter (repeatable)', setArg)
    .option('--repeats <n>', "runs per design with seeds seed, seed+1, ... (default: the scenario's repeats)", positiveInt('a number of repeats'))
    .option('-j, --jobs <n>', 'threads: this one and n - 1 workers (default: 1 below 200 runs, else every core)', positiveInt('a number of threads'))
    .option('-q, --quiet', 'no progress bar')
    .option('--no-color', 'no colour in tables');
}

export function buildProgram(): Command {
  const program = new Command('foliosim')
    .description('An executable model of Linux memory management: compare the designs kernel developers argue about, with numbers.')
    .version(foliosimVersion(), '-V, --version')
    .showSuggestionAfterError(true)
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({
      // One line per error, suggestions included ("error: unknown command 'comapre' (Did you mean compare?)").
      outputError: (str, write) => write(str.replace(/\n\(Did you mean/g, ' (Did you mean').replace(/\n+$/, '') + '\n'),
    });

  reportOptions(
    program
      .command('compare')
      .description('run scenarios and print the decision table for each (default: every built-in scenario)')
      .argument('[scenario...]', 'built-in scenario names or .yaml files')
      .option('--shard <i/N>', "run only this machine's share of the jobs and write a shard file (see foliosim merge)", shardArg)
      .option('--resume', 'finish the sweep in --out DIR: keep the runs already there, run the rest'),
  ).action(cmdCompare);

  reportOptions(
    program
      .command('run')
      .description('run one scenario and print its report with where the time goes')
      .argument('<scenario>', 'a built-in scenario name or a .yaml file'),
  ).action(cmdRun);

  program
    .command('merge')
    .description('merge shard files from `compare --shard` into one report')
    .argument('<files...>', 'shard files (JSON)')
    .addOption(new Option('-f, --format <format>', 'output format').choices(FORMATS).default('table'))
    .option('-o, --out <file>', 'write the report to a file')
    .option('--no-color', 'no colour in tables')
    .action(cmdMerge);

  program.command('list').description('list the built-in scenarios and the questions they answer').action(cmdList);

  program
    .command('validate')
    .description('check scenario files; every error with file:line:column')
    .argument('<files...>', '.yaml files or built-in names')
    .option('--set <key=value>', 'override a parameter', setArg)
    .action(cmdValidate);

  program
    .command('schema')
    .description('print the JSON Schema of scenario files (or of JSON reports)')
    .option('--report', 'the schema of `--format json` reports instead')
    .action(cmdSchema);

  program
    .command('explain')
    .description('describe a metric, a policy option or design, an actor kind, or a unit cost')
    .argument('[name]', 'what to explain (no name: list everything)')
    .action(cmdExplain);

  program
    .command('inspect')
    .description("show /proc-style views of a scenario's final state")
    .argument('<scenario>', 'a built-in scenario name or a .yaml file')
    .option('-d, --design <name>', 'which design (default: the first)')
    .option('--seed <n>', 'seed', seedArg)
    .option('--set <key=value>', 'override a parameter', setArg)
    .addOption(new Option('--view <view>', 'what to show').choices(['meminfo', 'smaps', 'pagemap', 'folio', 'kpageflags', 'status', 'vmstat', 'buddyinfo', 'kvm', 'pins']).default('meminfo'))
    .option('-p, --process <name>', 'the process (default: the first)')
    .option('-a, --addr <addr>', 'an address: 0x..., or region+offset (e.g. ram+16MiB)')
    .action(cmdInspect);

  program
    .command('trace')
    .description('print the run as ftrace event lines')
    .argument('<scenario>', 'a built-in scenario name or a .yaml file')
    .option('-d, --design <name>', 'which design (default: the first)')
    .option('--seed <n>', 'seed', seedArg)
    .option('--set <key=value>', 'override a parameter', setArg)
    .option('-e, --events <filter>', "events to show: comma-separated names or globs (e.g. 'sched_*,mm_page_alloc')")
    .option('-o, --out <file>', 'write the trace to a file')
    .action(cmdTrace);

  program
    .command('explore')
    .description('explore every sequence of a tiny world\'s operations up to a depth (as TLC does), checking each state once')
    .argument('[world...]', 'pin-fork, hgm-truncate, gmem-convert, collapse-fault (default: all)')
    .option('-d, --depth <n>', 'longest sequence of operations', positiveInt('a depth'), 3)
    .option('--policy <key=value>', 'a policy choice for the kernel (repeatable), e.g. pinAccounting=exact', (v: string, prev: string[] = []) => [...prev, v])
    .option('--max-states <n>', 'stop after this many distinct states', positiveInt('a number of states'))
    .option('-q, --quiet', 'no progress on stderr')
    .action(cmdExplore);

  program
    .command('soak')
    .description('run long random mixes of valid and invalid operations, with kernel.check() and a shadow of memory contents; exit 1 on anything but a known finding')
    .option('-n, --ops <n>', 'operations in all', positiveInt('a number of operations'), 100_000)
    .option('--seed <n>', 'first seed (each stream takes the next)', seedArg, 1)
    .option('--policy <key=value>', 'a policy choice for the kernel (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--all-policies', 'split the operations over every design the policy registry has (pin accounting, exclusive pins, HGM mapcounts and notifiers, guest_memfd huge-shared designs, stage-2 re-coalescing)')
    .option('-j, --jobs <n>', 'worker threads, each running its own stream', positiveInt('a number of threads'))
    .option('--check-every <n>', 'kernel.check() after this many operations', positiveInt('a number of operations'), 1000)
    .option('--no-shrink', 'report a failing stream without shrinking it')
    .option('--shrink-time <s>', 'seconds the shrinking of one failure may take', positiveInt('a number of seconds'), 60)
    .option('-o, --out <dir>', 'where a failing stream is written as a scenario (soak-seed-<seed>.yaml)', '.')
    .option('-q, --quiet', 'no progress on stderr')
    .action(cmdSoak);

  program.addHelpText(
    'after',
    `
Examples:
  foliosim compare                                  every built-in debate, as tables
  foliosim compare fork-with-pins -f html -o r.html one debate, with charts
  foliosim compare my.yaml --set guest=1GiB         your scenario, a parameter changed
  foliosim explain unnecessaryForkCopies            what a metric, design or unit cost means
  foliosim trace fork-with-pins -e 'sched_*'        the run as ftrace lines
  foliosim explore pin-fork --depth 4               every sequence of 4 operations, checked
  foliosim soak --ops 1000000 --all-policies -j 2   a million random operations over every design

Exit codes: 0 success, 1 an unexpected oracle finding or a failed expectation, 2 a usage error.
Docs: docs/CLI.md, docs/SCENARIOS.md`,
  );

  program
    .command('demo')
    .description('the fork/copy-on-write walk-through with /proc views')
    .action(() => {
      process.stdout.write(runDemo());
    });

  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  if (argv.length === 0) {
    program.outputHelp();
    return 0;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version exit 0; everything else commander rejects is a usage error.
      return e.exitCode === 0 || e.code === 'commander.helpDisplayed' || e.code === 'commander.version' ? 0 : 2;
    }
    reportError(e);
    return exitCodeOf(e);
  }
}
