/**
 * The built-in scenarios: the YAML files in the package's scenarios/
 * directory, found from this module's location (src/sim/ when run from
 * source, dist/src/sim/ when installed), listed in file-name order.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let dir: string | null = null;

/** The package's scenarios/ directory. */
export function builtinDir(): string {
  if (dir !== null) return dir;
  for (let d = dirname(fileURLToPath(import.meta.url)); ; d = dirname(d)) {
    if (existsSync(join(d, 'package.json')) && existsSync(join(d, 'scenarios'))) return (dir = join(d, 'scenarios'));
    if (dirname(d) === d) throw new Error('foliosim: the built-in scenarios/ directory is missing from the package');
  }
}

export interface Builtin {
  readonly name: string;
  readonly file: string;
}

/** Every built-in scenario, in file-name order (which is the order `compare` runs them in). */
export function builtins(): Builtin[] {
  return readdirSync(builtinDir())
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => ({ name: f.replace(/\.yaml$/, ''), file: join(builtinDir(), f) }));
}

export function builtinText(b: Builtin): string {
  return readFileSync(b.file, 'utf8');
}
