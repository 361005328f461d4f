import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { PROGRESS_DELAY_MS, progress } from './progress.js';

/** A fake terminal (or pipe) that records what is written to it. */
function stream(tty: boolean): NodeJS.WriteStream & { text: string } {
  const s = new Writable({
    write(chunk, _enc, cb) {
      s.text += String(chunk);
      cb();
    },
  }) as unknown as NodeJS.WriteStream & { text: string };
  s.text = '';
  (s as { isTTY: boolean }).isTTY = tty;
  s.columns = 100;
  s.cursorTo = (() => true) as never;
  s.clearLine = (() => true) as never;
  s.moveCursor = (() => true) as never;
  return s;
}

describe('progress bar', () => {
  it('stays silent on a pipe, and when quiet', () => {
    for (const [quiet, tty] of [
      [false, false],
      [true, true],
    ] as const) {
      const s = stream(tty);
      let t = 0;
      const p = progress(quiet, 'x', s, () => t);
      t = 10 * PROGRESS_DELAY_MS;
      p.update(1, 10);
      p.update(5, 10);
      p.stop();
      expect(s.text).toBe('');
    }
  });

  it('appears on a terminal only once the work has taken about a second', () => {
    const s = stream(true);
    let t = 0;
    const p = progress(false, 'fork-with-pins', s, () => t);
    t = PROGRESS_DELAY_MS / 2;
    p.update(1, 10);
    expect(s.text).toBe('');
    t = PROGRESS_DELAY_MS + 1;
    p.update(2, 10);
    p.update(3, 10);
    expect(s.text).toContain('fork-with-pins');
    expect(s.text).toMatch(/\d+\/10 runs/);
    p.stop();
  });
});
