/**
 * The layering rule (docs/ARCHITECTURE.md): data flows one way, and no module
 * imports itself back at run time. Type-only imports are erased by the
 * compiler and may point anywhere (interfaces live with the layer that calls
 * them).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(__dirname, '../../src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [p] : [];
  });
}

/** Runtime imports of a file: `import ... from` and `export ... from`, minus `import type` / `export type`. */
function runtimeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  const re = /^\s*(import|export)\s+(type\s+)?([^;]*?)\s+from\s+'(\.[^']+)'/gms;
  for (const m of text.matchAll(re)) {
    if (m[2] !== undefined) continue;
    // `import { type A, type B }` is type-only too.
    const names = m[3]!;
    if (/^\{[^}]*\}$/s.test(names) && names.slice(1, -1).split(',').every((n) => n.trim() === '' || n.trim().startsWith('type '))) continue;
    out.push(resolve(dirname(file), m[4]!.replace(/\.js$/, '.ts')));
  }
  return out;
}

const files = sources(SRC);
const graph = new Map(files.map((f) => [f, runtimeImports(f)]));
const rel = (f: string) => relative(SRC, f);

/** Layer of a module, lowest first: a module may import only its own layer or lower ones. */
const LAYERS: [RegExp, number][] = [
  [/^lib\//, 0],
  [/^uapi\//, 1],
  [/^cost\//, 2],
  [/^mm\//, 3],
  [/^policy\//, 4],
  [/^fs\//, 5],
  [/^(drivers|io_uring)\//, 6],
  [/^kvm\//, 7],
  [/^check\//, 8],
  [/^(config|kernel_core|process|kernel|kernel_gup|index)\.ts$/, 9],
  [/^(sim|explore|soak)\//, 10],
  [/^report\//, 11],
  [/^cli\//, 12],
];

function layer(f: string): number {
  const r = rel(f);
  for (const [re, n] of LAYERS) if (re.test(r)) return n;
  return -1;
}

describe('module layering', () => {
  it('every source file belongs to a layer', () => {
    expect(files.filter((f) => layer(f) < 0).map(rel)).toEqual([]);
  });

  it('runtime imports only point to the same or a lower layer', () => {
    const bad: string[] = [];
    for (const [f, deps] of graph) for (const d of deps) if (layer(d) > layer(f)) bad.push(`${rel(f)} -> ${rel(d)}`);
    expect(bad).toEqual([]);
  });

  it('there are no runtime import cycles', () => {
    const state = new Map<string, 1 | 2>();
    const cycles: string[] = [];
    const stack: string[] = [];
    const visit = (f: string): void => {
      state.set(f, 1);
      stack.push(f);
      for (const d of graph.get(f) ?? []) {
        if (state.get(d) === 1) cycles.push([...stack.slice(stack.indexOf(d)), d].map(rel).join(' -> '));
        else if (!state.has(d)) visit(d);
      }
      stack.pop();
      state.set(f, 2);
    };
    for (const f of files) if (!state.has(f)) visit(f);
    expect(cycles).toEqual([]);
  });
});
