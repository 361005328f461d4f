/**
 * A progress bar on stderr (cli-progress), shown only when stderr is a
 * terminal and the work has already taken about a second: short runs print
 * nothing, and piped output never gets bar characters.
 */
import { SingleBar } from 'cli-progress';

export interface Progress {
  readonly update: (done: number, total: number) => void;
  readonly stop: () => void;
}

const DELAY_MS = 1000;

export function progress(quiet: boolean, what: string): Progress {
  if (quiet || process.stderr.isTTY !== true) return { update: () => {}, stop: () => {} };
  const t0 = Date.now();
  let bar: SingleBar | null = null;
  return {
    update: (done, total) => {
      if (bar === null) {
        if (Date.now() - t0 < DELAY_MS || done >= total) return;
        bar = new SingleBar({ stream: process.stderr, format: `{bar} {value}/{total} runs | ${what} | {duration_formatted}`, hideCursor: true, clearOnComplete: true });
        bar.start(total, done);
        return;
      }
      bar.update(done);
    },
    stop: () => {
      bar?.stop();
      bar = null;
    },
  };
}
