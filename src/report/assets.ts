/**
 * The browser bundles of vega, vega-lite and vega-embed, read from the
 * installed packages at run time so the HTML report can inline them: the page
 * must work with no network at all (an air-gapped lab, an archived mail).
 * They are runtime dependencies of foliosim for that reason.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** In load order: vega-lite needs vega, vega-embed needs both. */
export const BUNDLES = [
  { pkg: 'vega', file: 'build/vega.min.js' },
  { pkg: 'vega-lite', file: 'build/vega-lite.min.js' },
  { pkg: 'vega-embed', file: 'build/vega-embed.min.js' },
] as const;

/**
 * The package's root directory. The packages' `exports` hide their build/
 * files from resolve(), so resolve the main entry and walk up to the
 * package.json that names the package.
 */
function packageRoot(pkg: string): string {
  const require = createRequire(import.meta.url);
  let dir = dirname(require.resolve(pkg));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === pkg) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the root of the installed package ${pkg}`);
    dir = up;
  }
}

/** JavaScript that is safe inside <script>…</script>: '</script' would end the element early. */
export function scriptSafe(code: string): string {
  // '<\/' means '</' in strings, templates and regexes alike.
  return code.replace(/<\/(script)/gi, '<\\/$1');
}

let cache: { pkg: string; code: string }[] | undefined;

/** The three bundles' code, read once per process. */
export function vegaBundles(): { pkg: string; code: string }[] {
  cache ??= BUNDLES.map(({ pkg, file }) => ({ pkg, code: scriptSafe(readFileSync(join(packageRoot(pkg), file), 'utf8')) }));
  return cache;
}
