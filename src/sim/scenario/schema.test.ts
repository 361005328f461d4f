/**
 * The exported JSON Schema is what an editor checks scenario files with: it
 * must accept every built-in scenario (parameter references included) and
 * reject the mistakes the loader rejects.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { builtinText, builtins } from '../builtin.js';
import { scenarioJsonSchema } from './schema.js';

const ajv = new Ajv2020({ strict: false, allErrors: true });
const validate = ajv.compile(scenarioJsonSchema());

describe('scenario JSON Schema', () => {
  it('is draft 2020-12 and describes the top-level keys', () => {
    const s = scenarioJsonSchema() as { $schema: string; properties: Record<string, unknown>; required: string[] };
    expect(s.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(Object.keys(s.properties)).toEqual(expect.arrayContaining(['name', 'question', 'params', 'kernel', 'costs', 'setup', 'workload', 'designs', 'sweep', 'repeats', 'metrics', 'verdict', 'expect']));
    expect(s.required).toEqual(expect.arrayContaining(['name', 'question', 'setup', 'workload', 'designs', 'metrics', 'verdict']));
  });

  for (const b of builtins()) {
    it(`accepts ${b.name}`, () => {
      const ok = validate(parse(builtinText(b)));
      expect(validate.errors ?? []).toEqual([]);
      expect(ok).toBe(true);
    });
  }

  it('rejects an unknown key, a wrong type, an unknown actor kind and an unknown metric', () => {
    const base = parse(builtinText(builtins().find((b) => b.name === 'exclusive-pin')!)) as Record<string, unknown>;
    const bad = (edit: (s: Record<string, unknown>) => void) => {
      const s = structuredClone(base);
      edit(s);
      return validate(s);
    };
    expect(bad((s) => (s.titel = 'x'))).toBe(false);
    expect(bad((s) => (s.repeats = true))).toBe(false);
    expect(bad((s) => ((s.workload as { actors: { kind: string }[] }).actors[0]!.kind = 'vcpu'))).toBe(false);
    expect(bad((s) => ((s.metrics as string[])[0] = 'forkCopy'))).toBe(false);
    expect(bad(() => {})).toBe(true);
  });
});
