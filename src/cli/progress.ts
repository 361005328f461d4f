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

/** How long the work must have run before a bar appears, ms. */
export const PROGRESS_DELAY_MS = 1000;

export function progress(quiet: boolean, what: string, stream: NodeJS.WriteStream = process.stderr, now: () => number = Date.now): Progress {
  if (quiet || stream.isTTY !== true) return { update: () => {}, stop: () => {} };
  const t0 = now();
  let bar: SingleBar | null = null;
  return {
    update: (done, total) => {
      if (bar === null) {
        if (now() - t0 < PROGRESS_DELAY_MS || done >= total) return;
        bar = new SingleBar({ stream, format: `{bar} {value}/{total} runs | ${what} | {duration_formatted}`, hideCursor: true, clearOnComplete: true });
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
