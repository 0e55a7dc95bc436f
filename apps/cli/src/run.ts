// Process entry of the `titans` command (bin/titans.js runs this file through tsx).
import { main } from './main.js';

/** Exit code when the launcher that started this process is gone. */
const LAUNCHER_GONE = 129;

// Started by bin/titans.js: exit when its IPC channel closes (the launcher died, even by
// kill -9). The channel is unref'd so it never keeps a finished command alive.
if (process.env.TITANS_LAUNCHER_IPC === '1' && process.channel) {
  process.on('disconnect', () => {
    process.stderr.write('titans: the launcher exited; stopping\n');
    process.exit(LAUNCHER_GONE);
  });
  process.channel.unref();
}

// `titans info ck | head -3`: a closed pipe ends the output, not with a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (error: unknown) => {
    process.stderr.write(`titans: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 70;
  },
);
