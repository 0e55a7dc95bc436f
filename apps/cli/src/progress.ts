// Progress for loops that are not training (evaluation grids, scoring): a redrawn bar with
// ETA on a TTY, plain lines elsewhere. Always on stderr, so stdout stays clean for results
// and --json. Training uses @titans/models' progressLogger with the same conventions.
import { formatDuration, type ProgressStream } from '@titans/models';

export interface Progress {
  /** Reports `done` of `total` units, with a short note (e.g. the cell just finished). */
  update(done: number, note?: string): void;
  /** Ends the bar (prints the final line). */
  finish(note?: string): void;
}

export function progressStream(): ProgressStream {
  return process.stderr;
}

/** A progress display for `total` units of work labelled `label`. */
export function createProgress(label: string, total: number, stream: ProgressStream = progressStream()): Progress {
  const tty = stream.isTTY === true;
  const started = performance.now();
  // Without a TTY, about ten lines per loop.
  const every = Math.max(1, Math.ceil(total / 10));
  let lastDone = 0;
  let lastLine = 0;
  let drawn = false;
  const text = (done: number, note: string | undefined): string => {
    const elapsed = performance.now() - started;
    const eta = done > 0 ? (elapsed / done) * (total - done) : Number.NaN;
    return `${label} ${done}/${total}${note ? ` ${note}` : ''} elapsed ${formatDuration(elapsed)} eta ${formatDuration(eta)}`;
  };
  return {
    update(done, note) {
      lastDone = done;
      if (tty) {
        const columns = stream.columns || 100;
        const width = Math.max(10, Math.min(30, columns - 70));
        const filled = Math.round((width * done) / Math.max(1, total));
        stream.write(`\r\x1b[2K[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text(done, note)}`.slice(0, columns + 8));
        drawn = true;
      } else if (Math.floor(done / every) > Math.floor(lastLine / every) || (done === total && lastLine < total)) {
        lastLine = done;
        stream.write(`${text(done, note)}\n`);
      }
    },
    finish(note) {
      if (tty && drawn) stream.write(`\r\x1b[2K${label} ${lastDone}/${total} done in ${formatDuration(performance.now() - started)}${note ? ` ${note}` : ''}\n`);
    },
  };
}
