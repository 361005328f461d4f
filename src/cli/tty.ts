/** Terminal facts the CLI adapts to: colour (NO_COLOR, FORCE_COLOR, a TTY) and width. */
import type { WriteStream } from 'node:tty';

export function colorEnabled(stream: NodeJS.WriteStream | WriteStream): boolean {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return false;
  if (process.env.FORCE_COLOR !== undefined && process.env.FORCE_COLOR !== '0') return true;
  return stream.isTTY === true;
}

/** Columns of the terminal on stdout, or undefined when it is not a terminal (tables are then not wrapped). */
export function terminalWidth(): number | undefined {
  return process.stdout.isTTY === true ? process.stdout.columns : undefined;
}
