#!/usr/bin/env node
// The `titans` launcher.
//
// Installed from npm (no src/ beside bin/): runs the build, dist/run.mjs, in this process.
//
// In a checkout of titans-ts (src/ beside bin/): runs the TypeScript sources through tsx, with
// workspace packages resolved to their sources (--conditions=source), so no build step is
// needed and a stale dist/ is never run. The command runs in a child process joined to this
// one by an IPC channel: when the launcher dies (even by kill -9) the channel closes and the
// child exits, so no trainer is left orphaned.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const source = fileURLToPath(new URL('../src/run.ts', import.meta.url));
const build = new URL('../dist/run.mjs', import.meta.url);

if (!existsSync(source)) {
  if (!existsSync(fileURLToPath(build))) {
    process.stderr.write(`titans: ${fileURLToPath(build)} is missing (this copy of @titans/cli was packed without its build; reinstall it)\n`);
    process.exit(70);
  }
  await import(build.href);
} else {
  // Resolved from this file, so the launcher works from any working directory.
  const tsx = import.meta.resolve('tsx');
  const child = spawn(process.execPath, ['--conditions=source', '--import', tsx, source, ...process.argv.slice(2)], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, TITANS_LAUNCHER_IPC: '1' },
  });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    }
    else process.exit(code ?? 1);
  });
}
