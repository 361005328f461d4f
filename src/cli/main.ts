#!/usr/bin/env node
/**
 * The foliosim command. Until the full CLI lands it runs the built-in demo:
 * boot a kernel, fork a process over a THP and a base-page mapping, break COW,
 * and print what /proc would show.
 */
import { runDemo } from './demo.js';

const cmd = process.argv[2] ?? 'demo';
if (cmd === 'demo') {
  process.stdout.write(runDemo());
} else {
  process.stderr.write(`foliosim: unknown command '${cmd}' (available: demo)\n`);
  process.exitCode = 2;
}
