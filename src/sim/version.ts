/** foliosim's own version, from its package.json (reports name it). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { builtinDir } from './builtin.js';

let v: string | null = null;

export function foliosimVersion(): string {
  if (v === null) v = (JSON.parse(readFileSync(join(builtinDir(), '..', 'package.json'), 'utf8')) as { version: string }).version;
  return v;
}
