// Turns training events into a terminal display: a redrawn progress bar with ETA on a TTY,
// plain lines everywhere else (CI logs, files, pipes).
import type { TrainEvent } from './types.js';

/** Where progress is written; process.stdout fits. */
export interface ProgressStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export interface ProgressOptions {
  /** Default process.stdout. */
  stream?: ProgressStream;
  /** Force bar (true) or lines (false); default: the stream's isTTY. */
  tty?: boolean;
  /** Without a TTY, print a line every this many steps (default: 100 lines over the run). */
  every?: number;
}

/** A `log` callback for `train` that shows progress. */
export function progressLogger(options: ProgressOptions = {}): (event: TrainEvent) => void {
  const stream = options.stream ?? process.stdout;
  const tty = options.tty ?? stream.isTTY === true;
  let every = options.every ?? 1;
  let bar = '';
  const line = (text: string): void => {
    // On a TTY, clear the bar, print the line, redraw the bar below it.
    if (tty && bar) stream.write(`\r\x1b[2K${text}\n${bar}`);
    else stream.write(`${text}\n`);
  };
  return (event) => {
    switch (event.type) {
      case 'start':
        if (options.every === undefined) every = Math.max(1, Math.floor(event.totalSteps / 100));
        line(`${event.resumed ? 'resuming' : 'training'} at step ${event.step}/${event.totalSteps}, ${formatCount(event.parameters)} parameters`);
        return;
      case 'step': {
        const stats = `loss ${event.loss.toFixed(4)} lr ${event.lr.toExponential(2)} |g| ${event.gradNorm.toFixed(3)} ${formatCount(event.tokensPerSecond)} tok/s eta ${formatDuration(event.etaMs)}`;
        if (tty) {
          const columns = stream.columns ?? 100;
          const counter = `${event.step}/${event.totalSteps}`;
          const width = Math.max(10, Math.min(40, columns - counter.length - stats.length - 6));
          const filled = Math.round((width * event.step) / Math.max(1, event.totalSteps));
          bar = `${counter} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${stats}`;
          stream.write(`\r\x1b[2K${bar}`);
        } else if (event.step % every === 0 || event.step === event.totalSteps) {
          line(`step ${event.step}/${event.totalSteps} ${stats}`);
        }
        return;
      }
      case 'skip':
        line(`step ${event.step}: skipped (${event.reason}); ${event.skippedSteps} skipped so far`);
        return;
      case 'eval':
        line(`step ${event.step}: eval ${event.value.toFixed(4)}`);
        return;
      case 'checkpoint':
        line(`step ${event.step}: checkpoint saved to ${event.dir} (${formatDuration(event.ms)})`);
        return;
      case 'end':
        if (tty && bar) stream.write('\n');
        bar = '';
        line(
          `${event.interrupted ? 'interrupted' : 'finished'} at step ${event.step} after ${formatDuration(event.elapsedMs)}` +
            (event.runMs !== undefined ? ` of training, ${formatDuration(event.runMs)} in this run` : ''),
        );
        return;
    }
  };
}

/** 4m12s, 1h03m, 850ms. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '?';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

/** 1234 -> 1.2k, 2500000 -> 2.5M. */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return '?';
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return `${Math.round(n)}`;
}
