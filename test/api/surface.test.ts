/**
 * The public surface is what docs/API.md says it is (issue 11 section 1).
 *
 * The "Public surface" table lists, per exported class, the prototype's
 * methods and accessors, the static members, and the instance fields (public
 * and internal). This test reads the table and compares it with the classes
 * that src/index.ts exports: an undocumented public member (such as the old
 * `Process.prototype.fdget`), a documented one that is gone, or an exported
 * class without a row fails it.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as api from '../../src/index.js';

type Row = { prototype: string[]; static: string[]; fields: string[]; internal: string[] };

/** The rows of the table after the `surface-table` marker, by class name. */
export function surfaceTable(md: string): Map<string, Row> {
  const at = md.indexOf('<!-- surface-table');
  if (at < 0) throw new Error('docs/API.md has no surface-table marker');
  const lines = md.slice(at).split('\n').slice(1);
  const rows = new Map<string, Row>();
  const names = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
  for (const line of lines.slice(2)) {
    if (!line.startsWith('|')) break;
    const cells = line.split('|').slice(1, -1);
    if (cells.length !== 5) throw new Error(`surface row with ${cells.length} cells: ${line}`);
    const [cls, proto, stat, fields, internal] = cells.map(names) as [string[], string[], string[], string[], string[]];
    rows.set(cls[0]!, { prototype: proto, static: stat, fields, internal });
  }
  return rows;
}

/** Exported values that are classes (functions whose source is a class). */
export function exportedClasses(mod: Record<string, unknown>): Map<string, new (...a: never[]) => unknown> {
  const out = new Map<string, new (...a: never[]) => unknown>();
  for (const [name, v] of Object.entries(mod)) {
    if (typeof v === 'function' && /^class\b/.test(Function.prototype.toString.call(v))) out.set(name, v as new (...a: never[]) => unknown);
  }
  return out;
}

const table = surfaceTable(readFileSync(resolve(__dirname, '../../docs/API.md'), 'utf8'));
const classes = exportedClasses(api);

/** One instance of each class, made the way users get one. */
function instance(name: string): object {
  const k = new api.Kernel({ memory: '32MiB' });
  switch (name) {
    case 'Kernel':
      return k;
    case 'Process':
      return k.spawn();
    case 'KernelGup':
      return k.gup;
    case 'CostModel':
      return new api.CostModel();
    case 'SyscallError':
      return new api.SyscallError('EINVAL', 'mmap');
    case 'SignalError':
      return new api.SignalError('SIGSEGV', 0);
    case 'UffdFault':
      return new api.UffdFault(0, {} as api.UffdMsg);
    case 'KernelConfigError':
      return new api.KernelConfigError('x');
    case 'InvalidCostError':
      return new api.InvalidCostError('x');
    case 'UnknownCostError':
      return new api.UnknownCostError('x');
    default:
      throw new Error(`no recipe for an instance of ${name}: add one here`);
  }
}

const sorted = (a: Iterable<string>) => [...a].sort();

describe('public surface (docs/API.md, Public surface)', () => {
  it('the table has one row per exported class, and only those', () => {
    expect(sorted(table.keys())).toEqual(sorted(classes.keys()));
    expect(classes.size).toBeGreaterThanOrEqual(9);
  });

  for (const [name, cls] of classes) {
    describe(name, () => {
      const row = table.get(name);

      it('prototype members are the documented ones', () => {
        const own = Object.getOwnPropertyNames(cls.prototype).filter((n) => n !== 'constructor');
        expect(Object.getOwnPropertySymbols(cls.prototype)).toEqual([]);
        expect(sorted(own)).toEqual(sorted(row?.prototype ?? []));
      });

      it('static members are the documented ones', () => {
        const own = Object.getOwnPropertyNames(cls).filter((n) => !['length', 'name', 'prototype'].includes(n));
        expect(sorted(own)).toEqual(sorted(row?.static ?? []));
      });

      it('instance fields are the documented ones (public and internal)', () => {
        const own = Object.keys(instance(name)).filter((n) => !['stack', 'message', 'name'].includes(n));
        expect(sorted(own)).toEqual(sorted([...(row?.fields ?? []), ...(row?.internal ?? [])]));
      });
    });
  }

  it('the internals named in issue 11 are not reachable', () => {
    const p = new api.Kernel({ memory: '32MiB' }).spawn() as unknown as Record<string, unknown>;
    for (const n of ['fdget', 'fdgetU', 'doPipe2', 'access', 'ioUringRwFixed', 'live', 'create', 'k', 'cwd', 'name']) expect(n in p, n).toBe(false);
    expect('create' in api.Process).toBe(false);
    const k = new api.Kernel({ memory: '32MiB' }) as unknown as Record<string, unknown>;
    for (const n of ['adopt', 'reap', 'splitHugePagesWrite', 'procs', 'sysFiles', 'nextPid']) expect(n in k, n).toBe(false);
    expect('host' in (k.gup as object)).toBe(false);
  });

  it('the table parser reads what it should (a row lost to a formatting slip would hide members)', () => {
    expect(table.get('Process')!.prototype).toContain('mmap');
    expect(table.get('Kernel')!.fields).toEqual(['gup', 'policy']);
    const bad = '<!-- surface-table -->\n| class | prototype | static | instance fields | internal fields |\n|---|---|---|---|---|\n| `X` | `a` |\n';
    expect(() => surfaceTable(bad)).toThrow(/cells/);
  });
});
