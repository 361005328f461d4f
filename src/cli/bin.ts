#!/usr/bin/env node
/** The foliosim executable: the CLI in src/cli/main.ts, with its exit code. */
import { main } from './main.js';
import { exitCodeOf, reportError } from './errors.js';

// A reader that went away (`foliosim trace ... | head`) is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    reportError(e);
    process.exitCode = exitCodeOf(e);
  },
);
