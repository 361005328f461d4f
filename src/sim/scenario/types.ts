/**
 * The building blocks of the scenario schema: value types that accept a
 * literal, an expression ("${guest} - 2MiB") or a parameter reference, and
 * strict objects whose unknown keys are reported with the nearest valid ones.
 *
 * Each value type validates and evaluates in one step (a zod transform), after
 * parameters were substituted; the JSON Schema export (io: 'input') shows the
 * accepted input, so an editor completes and checks a scenario file.
 */
import { z } from 'zod';
import { type Dimension, ExprError, WHOLE_PARAM_REF, evaluate, unitsOf } from './expr.js';
import { nearest } from '../../lib/suggest.js';

const PARAM_REF_PATTERN = WHOLE_PARAM_REF.source;

/** A "${name}" reference, accepted in the editor wherever a typed value is. */
export const paramRef = z.string().regex(WHOLE_PARAM_REF).describe('a parameter reference, "${name}"');

function quantity(dim: Dimension, what: string, check?: (n: number) => string | null) {
  const example = dim === 'size' ? '"2MiB", "${guest} - 2MiB"' : dim === 'duration' ? '"200us", "${hold} * 2"' : '"${pins} * 4"';
  const expected = `${what}: a number${unitsOf(dim).length > 0 ? ` (${dim === 'size' ? 'bytes' : 'ns'})` : ''} or an expression such as ${example}`;
  return z
    .union([z.number(), z.string()], { error: (iss) => (iss.input === undefined ? what : `expected ${expected}`) })
    .transform((v, ctx) => {
      let n: number;
      try {
        n = evaluate(v, dim);
      } catch (e) {
        if (!(e instanceof ExprError)) throw e;
        ctx.addIssue({ code: 'custom', message: e.message });
        return z.NEVER;
      }
      const bad = check?.(n) ?? null;
      if (bad !== null) {
        ctx.addIssue({ code: 'custom', message: `${bad} (got ${n})` });
        return z.NEVER;
      }
      return n;
    })
    .describe(expected);
}

const PAGE = 4096;

/** Bytes, a whole multiple of 4 KiB. */
export const pageSize = (what = 'a size') =>
  quantity('size', what, (n) => (Number.isSafeInteger(n) && n >= 0 && n % PAGE === 0 ? null : 'expected a non-negative multiple of 4KiB'));
/** Bytes, any whole number. */
export const byteSize = (what = 'a size') => quantity('size', what, (n) => (Number.isSafeInteger(n) && n >= 0 ? null : 'expected a whole, non-negative number of bytes'));
/** Nanoseconds of simulated time, ≥ 0. */
export const duration = (what = 'a duration') => quantity('duration', what, (n) => (n >= 0 ? null : 'expected a duration ≥ 0'));
/** A whole number ≥ min. */
export const count = (what = 'a count', min = 0) => quantity('count', what, (n) => (Number.isSafeInteger(n) && n >= min ? null : `expected a whole number ≥ ${min}`));
/** Any finite number ≥ 0. */
export const amount = (what = 'a number') => quantity('count', what, (n) => (n >= 0 ? null : 'expected a number ≥ 0'));

/** true/false or a parameter reference. */
export const flag = (what: string) => z.union([z.boolean(), paramRef], { error: (iss) => (iss.input === undefined ? what : `expected true or false (${what})`) }).describe(what);

/** One of the given names, or a parameter reference; an unknown name is reported with the nearest one. */
export function oneOf<const T extends readonly [string, ...string[]]>(values: T, what: string) {
  return z
    .string({ error: (iss) => (iss.input === undefined ? `${what}: one of ${values.join(', ')}` : `expected ${what}: one of ${values.join(', ')}`) })
    .superRefine((v, ctx) => {
      if ((values as readonly string[]).includes(v) || new RegExp(PARAM_REF_PATTERN).test(v)) return;
      ctx.addIssue({ code: 'custom', message: `unknown ${what} '${v}'${nearest(v, values)}; valid: ${values.join(', ')}` });
    })
    .transform((v) => v as T[number])
    .meta({ description: what, anyOf: [{ enum: [...values] }, { type: 'string', pattern: PARAM_REF_PATTERN }] });
}

/** A strict object: unknown keys are errors that name the nearest valid key. */
export function obj<S extends z.ZodRawShape>(shape: S, description?: string) {
  const keys = Object.keys(shape);
  const o = z.strictObject(shape, {
    error: (iss) => {
      if (iss.code === 'unrecognized_keys') {
        return `unknown key${iss.keys.length > 1 ? 's' : ''} ${iss.keys.map((k) => `'${k}'${nearest(k, keys)}`).join(', ')}; valid keys: ${keys.join(', ')}`;
      }
      if (iss.code === 'invalid_type') return `expected a mapping${description !== undefined ? ` (${description})` : ''}`;
      return undefined;
    },
  });
  return description === undefined ? o : o.describe(description);
}

/** A name: letters, digits, '-', '_' (used as identifiers in reports and expressions). */
export const name = (what: string) =>
  z
    .string({ error: (iss) => (iss.input === undefined ? what : `expected ${what}`) })
    .regex(/^[A-Za-z][A-Za-z0-9_-]*$/, { error: `${what} must start with a letter and hold only letters, digits, '-' and '_'` })
    .describe(what);
