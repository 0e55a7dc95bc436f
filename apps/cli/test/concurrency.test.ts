// Processes around a training run: a reader polling the run directory every few
// milliseconds while `titans train` saves every step never breaks the training or loses a
// save; a second writer on the same --out is refused; killing the launcher with SIGKILL
// takes the trainer down with it, and its lock is then stale and taken over by --resume.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { processAlive, waitFor } from '@titans/test-utils';
import { LOCK_FILE, createModel, defineConfig, inspectCheckpoint, loadCheckpoint, type ModelConfigInput } from '@titans/models';
import { launcher, scratchDirectory, titans } from './helpers.js';
import { halfWritten, titansInProcess } from './in-process.js';

const scratch = scratchDirectory('concurrency');
const TINY = ['--preset', 'tiny-swa', '--set', 'model.dim=8', '--set', 'model.heads=2', '--set', 'data.sequenceLength=16', '--set', 'data.batchSize=1', '--set', 'train.evalBatches=1'];

function start(args: readonly string[]): { child: ChildProcess; done: Promise<{ code: number | null; stderr: string }> } {
  const env = { ...process.env };
  delete env.INIT_CWD;
  const child = spawn(process.execPath, [launcher, ...args], { cwd: scratch, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout!.resume();
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stderr })));
  return { child, done };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('readers beside a trainer', () => {
  it('a reader polling every few ms while train saves every step: training finishes and every logged save is on disk', async () => {
    const dir = join(scratch, 'polled');
    const steps = 30;
    const trainer = start(['train', ...TINY, '--steps', String(steps), '--set', 'train.checkpointEvery=1', '--out', dir]);
    let finished = false;
    void trainer.done.then(() => (finished = true));
    const seen: number[] = [];
    const refusals: string[] = [];
    let reads = 0;
    while (!finished) {
      try {
        // The loader itself (headers, then a full load into a model), and the info command.
        const inspection = await inspectCheckpoint(dir);
        const model = createModel(defineConfig(inspection.config as ModelConfigInput));
        const loaded = await loadCheckpoint(dir, { model });
        seen.push(loaded.mark!.step);
        if (reads % 5 === 0) {
          const info = await titansInProcess(['info', dir, '--json'], scratch);
          if (info.code === 0) seen.push((JSON.parse(info.stdout) as { trainer: { step: number } }).trainer.step);
          else refusals.push(info.stderr);
          expect(info.thrown).toBeUndefined();
        }
      } catch (error) {
        // Before the first save there is nothing to read yet.
        if (!/not found|ENOENT|no such/.test(String(error))) refusals.push(String(error));
      }
      reads++;
      await sleep(3);
    }
    const { code, stderr } = await trainer.done;
    expect(stderr).not.toMatch(/internal error/);
    expect(code, stderr).toBe(0);
    // Every save the trainer logged happened, in order, and the last one is what is on disk.
    const logged = [...stderr.matchAll(/step (\d+): checkpoint saved/g)].map((m) => Number(m[1]));
    expect(logged.length).toBeGreaterThanOrEqual(steps - 1);
    const trainerJson = JSON.parse(readFileSync(join(dir, 'trainer.json'), 'utf8')) as { step: number; losses: number[] };
    expect(trainerJson.step).toBe(steps);
    expect(trainerJson.losses).toHaveLength(steps);
    expect(Math.max(...logged)).toBeLessThanOrEqual(steps);
    // Readers saw consistent checkpoints only, never going back in time.
    expect(refusals).toEqual([]);
    expect(reads).toBeGreaterThan(10);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThanOrEqual(seen[i - 1]! - 0);
    expect(await halfWritten(dir)).toEqual([]);
  }, 90_000);
});

describe('writers', () => {
  it('refuses a second trainer on the same --out; kill -9 of the launcher stops the trainer; its stale lock is taken over', async () => {
    const dir = join(scratch, 'contended');
    const first = start(['train', ...TINY, '--steps', '100000', '--set', 'train.checkpointEvery=1', '--out', dir]);
    try {
      // The trainer (the launcher's child) holds the lock: its pid is in the lock file.
      const lockFile = join(dir, LOCK_FILE);
      const owner = await waitFor('the lock', () => {
        if (!existsSync(lockFile) || !existsSync(join(dir, 'trainer.json'))) return undefined;
        try {
          return JSON.parse(readFileSync(lockFile, 'utf8')) as { pid: number; host: string };
        } catch {
          return undefined;
        }
      });
      expect(owner.pid).not.toBe(first.child.pid);
      const busy = new RegExp(`^titans train: .*contended: is being written by process ${owner.pid} on .*; one writer at a time`);
      // A fresh run is refused because the directory holds a run; a resume because a writer holds it.
      const fresh = titans(['train', ...TINY, '--steps', '5', '--out', dir], { cwd: scratch });
      expect(fresh.stderr.trim()).toMatch(/already holds a run/);
      expect(fresh.code).toBe(2);
      const resume = titans(['train', '--resume', '--out', dir, '--steps', '100001'], { cwd: scratch });
      expect(resume.stderr.trim()).toMatch(busy);
      expect(resume.code).toBe(2);
      first.child.kill('SIGKILL');
      await first.done;
      await waitFor('the trainer to exit with its launcher', () => (processAlive(owner.pid) ? undefined : true), { timeoutMs: 15_000 });
    } finally {
      first.child.kill('SIGKILL');
    }
    // The dead trainer's lock is stale; --resume takes it over and continues the saved run.
    // The saved step is the committed save's: a kill between a save's commit and its renames
    // leaves trainer.json one step behind on disk, and that save is rolled forward on resume.
    const saved = (await inspectCheckpoint(dir)).mark!.step;
    const resumed = titans(['train', '--resume', '--out', dir, '--steps', String(saved + 1), '--json'], { cwd: scratch });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ step: saved + 1, resumedFrom: saved });
    expect(await halfWritten(dir)).toEqual([]);
  }, 90_000);
});
