/**
 * The report as JSON, the format `foliosim merge` reads back. Writing
 * validates first: a report that does not match the schema is a bug in the
 * producer, and must not reach a file someone will merge later. Keys come in
 * the schema's order (format and version first) and records' keys sorted, so
 * the same report always gives the same bytes, whatever order it was built in.
 */
import { z } from 'zod';
import { Report, REPORT_FORMAT, REPORT_VERSION } from './model.js';

/** A report that does not match the schema, with the JSON path of the first problem. */
export class ReportError extends Error {
  constructor(
    message: string,
    /** '$.scenarios[0].rows[2].cells[1].stat.median', or '$' for the whole document. */
    readonly path: string,
    readonly issues: readonly z.core.$ZodIssue[] = [],
  ) {
    super(message);
    this.name = 'ReportError';
  }
}

/** JSONPath of an issue: $.a.b[3]['odd key']. */
export function jsonPath(path: readonly PropertyKey[]): string {
  return (
    '$' +
    path
      .map((p) =>
        typeof p === 'number' ? `[${p}]` : /^[A-Za-z_$][\w$]*$/.test(String(p)) ? `.${String(p)}` : `[${JSON.stringify(String(p))}]`,
      )
      .join('')
  );
}

function issuesError(what: string, issues: readonly z.core.$ZodIssue[]): ReportError {
  const first = issues[0]!;
  const path = jsonPath(first.path);
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  return new ReportError(`${what}: ${path}: ${first.message}${more}`, path, issues);
}

/** The value rebuilt in the schema's key order, records sorted by key. */
function canonical(schema: z.ZodType, value: unknown): unknown {
  if (value === undefined || value === null) return value;
  if (schema instanceof z.ZodOptional) return canonical(schema.unwrap() as z.ZodType, value);
  if (schema instanceof z.ZodArray) return (value as unknown[]).map((v) => canonical(schema.element as z.ZodType, v));
  if (schema instanceof z.ZodObject) {
    const out: Record<string, unknown> = {};
    const obj = value as Record<string, unknown>;
    for (const [key, sub] of Object.entries(schema.shape as Record<string, z.ZodType>))
      if (obj[key] !== undefined) out[key] = canonical(sub, obj[key]);
    return out;
  }
  if (schema instanceof z.ZodRecord) {
    const obj = value as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(obj)
        .sort()
        .map((k) => [k, canonical(schema.valueType as z.ZodType, obj[k])]),
    );
  }
  return value;
}

/** The report validated and rebuilt in canonical key order. Throws ReportError on a report that does not match the schema. */
export function canonicalReport(report: Report): Report {
  const parsed = Report.safeParse(report);
  if (!parsed.success) throw issuesError('invalid report (a bug in its producer)', parsed.error.issues);
  return canonical(Report, parsed.data) as Report;
}

/** Validated, canonical JSON: 2-space indent, trailing newline. Throws ReportError on a report that does not match the schema. */
export function renderJson(report: Report): string {
  return JSON.stringify(canonicalReport(report), null, 2) + '\n';
}

/** A report read back from JSON text; a ReportError names the JSON path of what is wrong. */
export function parseReport(text: string): Report {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ReportError(`not a JSON document: ${(e as Error).message}`, '$');
  }
  // A clearer word than 'invalid literal' for the two mistakes people make: wrong file, newer foliosim.
  const head = raw as { format?: unknown; version?: unknown } | null;
  if (typeof head !== 'object' || head === null || head.format !== REPORT_FORMAT)
    throw new ReportError(`not a foliosim report: $.format is not '${REPORT_FORMAT}'`, '$.format');
  if (head.version !== REPORT_VERSION)
    throw new ReportError(
      `report version ${JSON.stringify(head.version)} is not the version this foliosim reads (${REPORT_VERSION})`,
      '$.version',
    );
  const parsed = Report.safeParse(raw);
  if (!parsed.success) throw issuesError('invalid report', parsed.error.issues);
  return parsed.data;
}
