import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { sampleReport } from '../../test/support/sample_report.js';
import { jsonPath, parseReport, renderJson, ReportError } from './json.js';
import { Report } from './model.js';

const report = sampleReport();
const json = renderJson(report);

/** The same value with every object's keys in reverse order. */
function reversed(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(reversed);
  if (v !== null && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v)
        .reverse()
        .map(([k, x]) => [k, reversed(x)]),
    );
  return v;
}

function errorOf(fn: () => unknown): ReportError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ReportError) return e;
    throw e;
  }
  throw new Error('did not throw');
}

/** The report JSON with one edit applied, as text (edits reach anywhere, as a hand-edited file would). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Raw = Record<string, any>;
function edited(edit: (r: Raw) => void): string {
  const raw = JSON.parse(json) as Raw;
  edit(raw);
  return JSON.stringify(raw);
}

describe('renderJson', () => {
  it('round-trips through parseReport', () => {
    expect(parseReport(json)).toEqual(report);
    expect(renderJson(parseReport(json))).toBe(json);
  });

  it('uses 2-space indentation and a trailing newline', () => {
    expect(json.startsWith('{\n  "format": "foliosim-report",\n  "version": 1,\n')).toBe(true);
    expect(json.endsWith('}\n')).toBe(true);
  });

  it('has a stable key order whatever order the report was built in', () => {
    expect(renderJson(reversed(report) as Report)).toBe(json);
  });

  it('sorts the keys of records (policy, params)', () => {
    const r = structuredClone(report);
    r.scenarios[0]!.params = { zeta: 1, alpha: 'x', mid: true };
    const out = JSON.parse(renderJson(r)) as Report;
    expect(Object.keys(out.scenarios[0]!.params)).toEqual(['alpha', 'mid', 'zeta']);
  });

  it('throws on a report that does not match the schema, naming the path', () => {
    const r = structuredClone(report);
    (r.scenarios[0]!.rows[1]!.cells[2]!.stat as { median: unknown }).median = 'fast';
    const e = errorOf(() => renderJson(r));
    expect(e.path).toBe('$.scenarios[0].rows[1].cells[2].stat.median');
    expect(e.message).toMatch(/bug/);
  });
});

describe('parseReport', () => {
  it('names the JSON path of a wrong type', () => {
    const e = errorOf(() => parseReport(edited((r) => (r.scenarios[0].sweep.series[3].points[2].stat.max = null))));
    expect(e.path).toBe('$.scenarios[0].sweep.series[3].points[2].stat.max');
    expect(e.message).toContain('$.scenarios[0].sweep.series[3].points[2].stat.max');
  });

  it('names the path of a missing field', () => {
    const e = errorOf(() => parseReport(edited((r) => delete r.scenarios[0].timeline[4].actor)));
    expect(e.path).toBe('$.scenarios[0].timeline[4].actor');
  });

  it('names the path of a reference to a design or metric the scenario does not list', () => {
    expect(errorOf(() => parseReport(edited((r) => (r.scenarios[0].rows[2].cells[1].design = 'nope')))).path).toBe(
      '$.scenarios[0].rows[2].cells[1].design',
    );
    expect(errorOf(() => parseReport(edited((r) => (r.scenarios[0].rows[5].metric = 'speed')))).message).toContain("unknown metric 'speed'");
    expect(errorOf(() => parseReport(edited((r) => (r.scenarios[0].folioMaps[0].design = 'x')))).path).toBe('$.scenarios[0].folioMaps[0].design');
  });

  it('rejects an impossible statistic and an interval that ends before it starts', () => {
    expect(errorOf(() => parseReport(edited((r) => (r.scenarios[0].rows[0].cells[0].stat.min = 1e15)))).path).toBe(
      '$.scenarios[0].rows[0].cells[0].stat.median',
    );
    expect(errorOf(() => parseReport(edited((r) => (r.scenarios[0].timeline[0].end = -1)))).path).toBe('$.scenarios[0].timeline[0].end');
  });

  it('says so for text that is not JSON, another kind of file, or another report version', () => {
    expect(errorOf(() => parseReport('{"format": ')).message).toMatch(/^not a JSON document/);
    expect(errorOf(() => parseReport('[1, 2]')).path).toBe('$.format');
    expect(errorOf(() => parseReport(edited((r) => (r.format = 'other')))).message).toMatch(/not a foliosim report/);
    const v = errorOf(() => parseReport(edited((r) => (r.version = 2))));
    expect(v.path).toBe('$.version');
    expect(v.message).toContain('version 2');
  });

  it('drops unknown fields (a newer minor producer) and keeps the report valid', () => {
    const r = parseReport(edited((raw) => (raw.scenarios[0].extra = { note: 'from a newer foliosim' })));
    expect(r).toEqual(report);
  });
});

describe('schema', () => {
  it('still exports as JSON Schema', () => {
    const schema = z.toJSONSchema(Report) as { properties: Record<string, unknown> };
    expect(Object.keys(schema.properties)).toEqual(['format', 'version', 'foliosim', 'scenarios']);
  });

  it('formats JSON paths', () => {
    expect(jsonPath(['scenarios', 0, 'params', 'odd key'])).toBe('$.scenarios[0].params["odd key"]');
    expect(jsonPath([])).toBe('$');
  });
});
