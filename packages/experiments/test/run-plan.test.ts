// runPlan from code: the smoke plan's MQAR and passkey tracks in this process (the whole
// plan runs through the CLI in apps/cli/test/reproduce.test.ts), with progress events and
// typed results read back; a second call with `resume` skips them; jobs 2 runs the worker
// processes and gives the same results, and a worker never outlives the process that started it.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { processAlive, waitFor } from '@titans/test-utils';
import { PLANS, collectResults, planExperiments, runPlan, ReproduceError, type PlanProgress } from '../src/index.ts';

const scratch = mkdtempSync(join(tmpdir(), 'titans-experiments-'));

describe('runPlan', () => {
  it('runs experiments in process, reports progress and leaves typed results; resume skips them', async () => {
    const out = join(scratch, 'smoke');
    const events: PlanProgress[] = [];
    const only = ['mqar', 'passkey'];
    const summary = await runPlan('smoke', { out, only, onProgress: (e) => events.push(e) });
    const all = planExperiments(PLANS.smoke);
    const selected = all.filter((e) => e.track !== 'long');
    expect(summary.failed).toEqual([]);
    expect(summary.ran.sort()).toEqual(selected.map((e) => e.id).sort());
    expect(events[0]).toEqual({ type: 'plan', plan: 'smoke', total: all.length, done: 0, todo: selected.length });
    expect(events.filter((e) => e.type === 'start')).toHaveLength(selected.length);
    expect(events.filter((e) => e.type === 'finish' && e.ok)).toHaveLength(selected.length);
    expect(events.at(-1)?.type).toBe('report');
    const results = collectResults(PLANS.smoke, out);
    expect(results.missing.sort()).toEqual(all.filter((e) => e.track === 'long').map((e) => e.id).sort());
    expect(results.trainMqar.lmm?.steps).toBe(PLANS.smoke.mqar.train.steps);
    expect(results.mqar.lmm?.results.map((r) => r.numPairs)).toEqual([...PLANS.smoke.mqar.evalPairs]);
    expect(results.passkey.swa?.lengths).toEqual(PLANS.smoke.passkey.multiples.map((m) => m * PLANS.smoke.passkey.trainLength));
    expect(existsSync(join(out, 'report.html'))).toBe(true);

    const again = await runPlan(PLANS.smoke, { out, resume: true, only });
    expect(again.ran).toEqual([]);
    expect(again.skipped).toHaveLength(selected.length);
  }, 120_000);

  it('refuses an unknown plan name and a second run into the same directory without resume', async () => {
    await expect(runPlan('nope' as never, { out: join(scratch, 'x') })).rejects.toThrow(ReproduceError);
    await expect(runPlan('smoke', { out: join(scratch, 'smoke') })).rejects.toThrow(/pass --resume/);
  });

  it('gives the same results with jobs 2 (child processes)', async () => {
    const out = join(scratch, 'jobs');
    const only = ['train-mqar-lmm', 'mqar-lmm'];
    const summary = await runPlan('smoke', { out, jobs: 2, only });
    expect(summary.failed).toEqual([]);
    const read = (dir: string): unknown => JSON.parse(readFileSync(join(dir, 'results', 'mqar-lmm.json'), 'utf8')).result;
    const strip = (x: unknown): unknown => JSON.parse(JSON.stringify(x, (key, value: unknown) => (key === 'seconds' ? 0 : value)));
    expect(strip(read(out))).toEqual(strip(read(join(scratch, 'smoke'))));
  }, 120_000);

  it('a worker saves and stops when the process that started it is killed with SIGKILL', async () => {
    const out = join(scratch, 'orphans');
    const fixture = fileURLToPath(new URL('./fixtures/long-jobs.ts', import.meta.url));
    const parent = spawn(process.execPath, ['--conditions=source', '--import', import.meta.resolve('tsx'), fixture, out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let printed = '';
    parent.stdout.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    parent.stderr.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    const exited = new Promise<void>((resolve) => parent.on('exit', () => resolve()));
    try {
      // The worker (the process whose job names this run's directory) trains 100,000 steps.
      const workers = await waitFor('the worker to start', () => {
        const found = workersOf(out);
        return found.length > 0 ? found : undefined;
      }, { timeoutMs: 60_000, intervalMs: 100, context: () => printed });
      // Training has begun: its first checkpoint is on disk.
      const trainer = await waitFor('the first checkpoint', () => {
        const dirs = existsSync(join(out, 'checkpoints')) ? readdirSync(join(out, 'checkpoints')) : [];
        const file = dirs.map((d) => join(out, 'checkpoints', d, 'trainer.json')).find((f) => existsSync(f));
        return file;
      }, { timeoutMs: 90_000, intervalMs: 100, context: () => printed });
      expect(printed).toMatch(/started train-mqar-lmm/);
      parent.kill('SIGKILL');
      await exited;
      await waitFor('the worker to stop', () => (workers.some(processAlive) ? undefined : true), { timeoutMs: 60_000, intervalMs: 100, context: () => printed });
      // It stopped as on Ctrl-C, with its last step saved for --resume (a save after every step).
      expect((JSON.parse(readFileSync(trainer, 'utf8')) as { step: number }).step).toBeGreaterThanOrEqual(1);
    } finally {
      parent.kill('SIGKILL');
      for (const pid of workersOf(out)) process.kill(pid, 'SIGKILL');
    }
    expect(workersOf(out)).toEqual([]);
  }, 150_000);
});

/** Pids of the reproduce workers running an experiment of the run in `out` (their job is in their environment). */
function workersOf(out: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, 'utf8');
      const job = environ.split('\0').find((v) => v.startsWith('TITANS_REPRODUCE_JOB='));
      if (job && (JSON.parse(job.slice('TITANS_REPRODUCE_JOB='.length)) as { out: string }).out === out) pids.push(Number(entry));
    } catch {
      // Gone, or not ours to read.
    }
  }
  return pids;
}
