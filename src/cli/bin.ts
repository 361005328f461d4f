#!/usr/bin/env node
/** The foliosim executable: the CLI in src/cli/main.ts, with its exit code. */
import { main } from './main.js';
import { exitCodeOf, reportError } from './errors.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    reportError(e);
    process.exitCode = exitCodeOf(e);
  },
);
