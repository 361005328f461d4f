/**
 * kselftest output for the ported selftests, and the case-by-case comparison
 * with real Linux 6.12's runs (test/fixtures/linux-6.12/, copied from
 * ../shared/realkernel/results/6.12/: the kernel's own test output).
 *
 * A port records each case's verdict as it runs (`KselftestLog.record`), in
 * the kernel's order. Its last test compares them with the kernel's: every
 * case the kernel ran must exist in the port with the same verdict (pass,
 * XFAIL, or skip with the same reason), unless a short allow-list names it
 * with the reason (docs/FIDELITY.md explains each). With FOLIOSIM_TAP_DIR
 * set, the port also writes its output in the kernel's format there
 * (`npm run selftests -- --tap cow`).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { expect } from 'vitest';

export type Verdict = 'pass' | 'fail' | 'skip' | 'xfail';

export interface CaseResult {
  readonly name: string;
  readonly verdict: Verdict;
  /** The result line's message (a pass's "No leak from parent into child", a skip's reason). */
  readonly msg: string;
}

/** glibc's strerror() for the errnos the ports print ("MADV_COLLAPSE failed: %s\n", strerror(errno)). */
export function strerror(code: string): string {
  const text: Record<string, string> = {
    EINVAL: 'Invalid argument',
    ENOMEM: 'Cannot allocate memory',
    EAGAIN: 'Resource temporarily unavailable',
    EFAULT: 'Bad address',
    EPERM: 'Operation not permitted',
    EBUSY: 'Device or resource busy',
    ENOENT: 'No such file or directory',
  };
  return text[code] ?? code;
}

/** The real kernel's output file for a selftest run (test/fixtures/linux-6.12/<file>). */
export function kernelOutput(file: string): string {
  return readFileSync(resolve(__dirname, '../fixtures/linux-6.12', file), 'utf8');
}

/**
 * Parse kselftest TAP (ksft_test_result_*): "# [RUN] <name>" announces a
 * case, "ok N <msg>", "ok N # SKIP <why>", "ok N # XFAIL <msg>" or "not ok N
 * <msg>" gives its verdict. A result line without a [RUN] line before it is
 * named by its message (gup_test prints no [RUN] lines).
 */
export function parseKselftestTap(text: string): CaseResult[] {
  const out: CaseResult[] = [];
  let pending: string | null = null;
  for (const line of text.split('\n')) {
    const run = /^# \[RUN\] (.*)$/.exec(line);
    if (run !== null) {
      pending = run[1]!;
      continue;
    }
    const r = /^(ok|not ok) \d+ (.*)$/.exec(line);
    if (r === null) continue;
    const rest = r[2]!;
    const directive = /^# (SKIP|XFAIL) ?(.*)$/.exec(rest);
    const verdict: Verdict = r[1] === 'not ok' ? 'fail' : directive === null ? 'pass' : directive[1] === 'SKIP' ? 'skip' : 'xfail';
    const msg = directive === null ? rest : directive[2]!;
    out.push({ name: pending ?? msg, verdict, msg });
    pending = null;
  }
  return out;
}

/**
 * Parse uffd-unit-tests' own format: "Testing <name>... done", "...
 * skipped [reason: <why>]" or "... failed".
 */
export function parseUffdUnitTests(text: string): CaseResult[] {
  const out: CaseResult[] = [];
  for (const line of text.split('\n')) {
    const m = /^Testing (.*)\.\.\. (done|skipped \[reason: (.*)\]|failed.*)$/.exec(line);
    if (m === null) continue;
    const verdict: Verdict = m[2] === 'done' ? 'pass' : m[2]!.startsWith('skipped') ? 'skip' : 'fail';
    out.push({ name: m[1]!, verdict, msg: m[3] ?? '' });
  }
  return out;
}

/** One port's verdicts, in the order its cases were planned (the kernel's). */
export class KselftestLog {
  private readonly planned: string[] = [];
  private readonly verdicts = new Map<string, CaseResult>();

  constructor(readonly program: string) {}

  /** A case, at registration: the kernel's order. */
  plan(name: string): void {
    this.planned.push(name);
  }

  record(name: string, verdict: Verdict, msg: string): void {
    this.verdicts.set(name, { name, verdict, msg });
  }

  /** The recorded verdicts, in plan order. */
  get results(): CaseResult[] {
    return this.planned.flatMap((n) => this.verdicts.get(n) ?? []);
  }

  /** Did every planned case run (not a run filtered with -t)? */
  complete(): boolean {
    return this.planned.length > 0 && this.planned.every((n) => this.verdicts.has(n));
  }

  /** The kernel's TAP for these results (ksft_print_header, [RUN] lines, ksft_finished's totals). */
  tap(): string {
    const results = this.results;
    const count = (v: Verdict) => results.filter((r) => r.verdict === v).length;
    const lines = ['TAP version 13', `1..${results.length}`];
    results.forEach((r, i) => {
      lines.push(`# [RUN] ${r.name}`);
      const dir = r.verdict === 'skip' ? '# SKIP ' : r.verdict === 'xfail' ? '# XFAIL ' : '';
      lines.push(`${r.verdict === 'fail' ? 'not ok' : 'ok'} ${i + 1} ${dir}${r.msg}`);
    });
    lines.push(`# Totals: pass:${count('pass')} fail:${count('fail')} xfail:${count('xfail')} xpass:0 skip:${count('skip')} error:0`);
    return lines.join('\n') + '\n';
  }

  /** uffd-unit-tests' own format. */
  uffdFormat(): string {
    return this.results.map((r) => `Testing ${r.name}... ${r.verdict === 'pass' ? 'done' : r.verdict === 'skip' ? `skipped [reason: ${r.msg}]` : 'failed'}`).join('\n') + '\n';
  }

  /** With FOLIOSIM_TAP_DIR set, write the output there as <program>.tap. */
  writeIfAsked(text: string): void {
    const dir = process.env.FOLIOSIM_TAP_DIR;
    if (dir === undefined || dir === '') return;
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${this.program}.tap`), text);
  }
}

/** A difference the model is allowed to have, and why (docs/FIDELITY.md lists them). */
export interface Allowed {
  /** The cases it covers. */
  readonly match: (kernel: CaseResult) => boolean;
  /** The model's verdict there instead. */
  readonly model: Verdict;
  readonly why: string;
}

export interface Agreement {
  readonly kernelCases: number;
  readonly modelCases: number;
  readonly agree: number;
  /** Allowed differences, by reason: how many cases each covers. */
  readonly allowed: Readonly<Record<string, number>>;
  /** Cases the kernel ran that the model has not, or gives another verdict, and no allow-list entry covers. */
  readonly disagree: readonly string[];
}

/**
 * Compare verdicts case by case: a case agrees when the model has it with the
 * kernel's verdict (and, for a skip, the kernel's reason); otherwise an
 * allow-list entry must cover it with the model's verdict.
 */
export function compareVerdicts(model: readonly CaseResult[], kernel: readonly CaseResult[], allow: readonly Allowed[] = []): Agreement {
  const byName = new Map(model.map((m) => [m.name, m]));
  let agree = 0;
  const allowed: Record<string, number> = {};
  const disagree: string[] = [];
  for (const k of kernel) {
    const m = byName.get(k.name);
    if (m !== undefined && m.verdict === k.verdict && (k.verdict !== 'skip' || m.msg === k.msg)) {
      agree++;
      continue;
    }
    const a = allow.find((x) => x.match(k) && m?.verdict === x.model);
    if (a !== undefined) {
      allowed[a.why] = (allowed[a.why] ?? 0) + 1;
      continue;
    }
    const said = (v: Verdict, msg: string) => `${v}${msg !== '' ? ` (${msg})` : ''}`;
    disagree.push(`${k.name}: kernel ${said(k.verdict, k.msg)}, model ${m === undefined ? 'has no such case' : said(m.verdict, m.msg)}`);
  }
  return { kernelCases: kernel.length, modelCases: model.length, agree, allowed, disagree };
}

/** The assertion every port ends with: nothing disagrees outside the allow-list, and every kernel case is accounted for. */
export function expectAgreement(a: Agreement): void {
  expect(a.disagree).toEqual([]);
  expect(a.agree + Object.values(a.allowed).reduce((s, n) => s + n, 0)).toBe(a.kernelCases);
}

// ---------------------------------------------------------------------------
// Programs that print no TAP (hugetlb-madvise, 6.12's KVM selftests).

/** What a program without TAP gives: its output lines and its exit status. */
export interface ProgramRun {
  readonly out: readonly string[];
  readonly status: number;
}

/** The line run-selftests.sh adds for a program that printed no TAP header. */
function runnerLine(program: string, status: number): string {
  return `# [run-selftests.sh] no TAP header in the output of ${program}; exit status: ${status}`;
}

/**
 * A fixture of a program without TAP: the program's output lines, then the
 * runner's line with the exit status.
 */
export function parseProgramOutput(program: string, text: string): ProgramRun {
  const lines = text.split('\n').filter((l) => l !== '');
  const m = new RegExp(`^# \\[run-selftests\\.sh\\] no TAP header in the output of ${program}; exit status: (\\d+)$`).exec(lines[lines.length - 1] ?? '');
  if (m === null) throw new Error(`${program}: not a run-selftests.sh output without TAP`);
  return { out: lines.slice(0, -1), status: Number(m[1]) };
}

/** The same format, for the port's run (so it can be diffed against the fixture). */
export function programOutput(program: string, run: ProgramRun): string {
  return [...run.out, runnerLine(program, run.status)].join('\n') + '\n';
}

/** A case of a program without TAP: a function main() calls, and the line it prints instead when it skips. */
export interface ProgramCase {
  readonly name: string;
  readonly skipLine?: string;
}

/**
 * The verdicts a run implies for a program's cases, in main()'s order. Such
 * a program stops at its first failed assertion (exit 1 or a signal) and
 * skips as a whole with KSFT_SKIP (4); so exit 0 means every case ran and
 * passed, except one whose skip line was printed.
 */
export function programVerdicts(cases: readonly ProgramCase[], run: ProgramRun): CaseResult[] {
  return cases.map((c) => {
    if (run.status === 4) return { name: c.name, verdict: 'skip' as const, msg: run.out.join(' ') };
    if (run.status !== 0) return { name: c.name, verdict: 'fail' as const, msg: `exit status ${run.status}` };
    if (c.skipLine !== undefined && run.out.includes(c.skipLine)) return { name: c.name, verdict: 'skip' as const, msg: c.skipLine };
    return { name: c.name, verdict: 'pass' as const, msg: '' };
  });
}

/**
 * A port of a program without TAP: each case, as it runs, adds the lines it
 * prints and its outcome; the program's run is then their concatenation in
 * main()'s order (the prologue first), exit 0 if every case returned, 1 if
 * one threw (the C program's TEST_ASSERT exit).
 */
export class ProgramLog {
  private readonly outs = new Map<string, { out: string[]; ok: boolean }>();

  constructor(
    readonly program: string,
    readonly cases: readonly ProgramCase[],
    /** What main() prints before its first case (kvm_selftest_init's "Random seed: ..."). */
    readonly prologue: readonly string[] = [],
  ) {}

  record(name: string, out: readonly string[], ok: boolean): void {
    this.outs.set(name, { out: [...out], ok });
  }

  complete(): boolean {
    return this.cases.every((c) => this.outs.has(c.name));
  }

  /** The program's run as the C program would have printed it. */
  run(): ProgramRun {
    const out = [...this.prologue];
    for (const c of this.cases) {
      const r = this.outs.get(c.name)!;
      out.push(...r.out);
      if (!r.ok) return { out, status: 1 };
    }
    return { out, status: 0 };
  }

  writeIfAsked(): void {
    new KselftestLog(this.program).writeIfAsked(programOutput(this.program, this.run()));
  }

  /** The port's run beside the kernel's (fixture file), and the verdicts they imply compared case by case. */
  compare(file: string, allow: readonly Allowed[] = []): { model: ProgramRun; kernel: ProgramRun; agreement: Agreement } {
    const model = this.run();
    const kernel = parseProgramOutput(this.program, kernelOutput(file));
    return { model, kernel, agreement: compareVerdicts(programVerdicts(this.cases, model), programVerdicts(this.cases, kernel), allow) };
  }
}
