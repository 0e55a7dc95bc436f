import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { liveTensors, optim, tensor, tidy } from '@titans/tensor';
import { formatDuration, progressLogger, train, type TrainEvent, type TrainOptions, type TrainerState } from '../src/train/index.ts';
import { Bigram, TokenStream } from './train-fixtures.ts';

const root = await mkdtemp(join(tmpdir(), 'titans-train-'));
afterAll(() => rm(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => join(root, `run${dirs++}`);

const values = (model: Bigram): number[][] => model.parameters().map((p) => Array.from(p.dataSync()));

/** Mean loss on a fixed held-out batch (what an `evaluate` callback usually does). */
function heldOutLoss(model: Bigram): number {
  const stream = new TokenStream(4, 8, 16, 1234);
  const batch = stream.next();
  return tidy(() => model.loss(tensor(batch.inputs, [4, 8], { dtype: 'int32' }), tensor(batch.targets, [4, 8], { dtype: 'int32' })).item());
}

describe('train', () => {
  it('learns, and reports loss, lr, grad norm, tokens/s and ETA', async () => {
    const model = new Bigram();
    const events: TrainEvent[] = [];
    const result = await train({
      model, steps: 60, batches: new TokenStream(4, 8), optimizer: { lr: 0.05 }, schedule: { warmupSteps: 5 },
      evalEvery: 20, evaluate: ({ model: m }) => heldOutLoss(m as Bigram), log: (e) => events.push(e),
    });
    expect(result).toMatchObject({ step: 60, interrupted: false, skippedSteps: 0, tokens: 60 * 32, resumedFrom: null });
    const first = result.losses.slice(0, 5).reduce((a, b) => a! + b!, 0)! / 5;
    const last = result.losses.slice(-5).reduce((a, b) => a! + b!, 0)! / 5;
    expect(last).toBeLessThan(first - 0.5);
    expect(result.evals.map((e) => e.step)).toEqual([20, 40, 60]);

    const steps = events.filter((e) => e.type === 'step');
    expect(steps).toHaveLength(60);
    const s = steps[10]!;
    expect(s.lr).toBeCloseTo(optim.warmupCosine(10, { peak: 0.05, warmupSteps: 5, totalSteps: 60 }), 12);
    expect(s.gradNorm).toBeGreaterThan(0);
    expect(s.tokensPerSecond).toBeGreaterThan(0);
    expect(s.etaMs).toBeGreaterThanOrEqual(0);
    expect(events[0]).toMatchObject({ type: 'start', step: 0, totalSteps: 60, resumed: false, parameters: 16 * 8 + 16 * 8 + 16 });
    expect(events.at(-1)).toMatchObject({ type: 'end', step: 60, interrupted: false });
  });

  it('resumes exactly: a run interrupted at step 5 and resumed has the same losses, bit for bit', async () => {
    // Dropout draws from the loop's RNG, so the RNG state must be restored too.
    const config = { vocabSize: 16, dim: 8, seed: 1, dropout: 0.2 };
    const common = {
      steps: 12, optimizer: { lr: 0.05, weightDecay: 0.1 }, schedule: { warmupSteps: 3 }, gradAccumulation: 2, clipNorm: 0.5, seed: 3,
      evalEvery: 4, evaluate: ({ model }: { model: unknown }) => heldOutLoss(model as Bigram),
    } satisfies Partial<TrainOptions>;

    const straight = new Bigram(config);
    const expected = await train({ ...common, model: straight, batches: new TokenStream(2, 8) });

    const dir = freshDir();
    const controller = new AbortController();
    const first = await train({
      ...common, model: new Bigram(config), batches: new TokenStream(2, 8), checkpointDir: dir, signal: controller.signal,
      log: (e) => e.type === 'step' && e.step === 5 && controller.abort(),
    });
    expect(first).toMatchObject({ interrupted: true, step: 5 });
    const saved = JSON.parse(await readFile(join(dir, 'trainer.json'), 'utf8')) as TrainerState<{ position: number }>;
    expect(saved).toMatchObject({ step: 5, optimizerStep: 5, data: { position: 5 * 2 * 2 * 8 } });
    expect(saved.rng.counter).toBeGreaterThan(0);

    // Fresh weights and a fresh stream: everything must come from the checkpoint.
    const resumedModel = new Bigram({ ...config, seed: 42 });
    const ends: TrainEvent[] = [];
    const resumed = await train({
      ...common, model: resumedModel, batches: new TokenStream(2, 8), checkpointDir: dir, resume: true, log: (e) => e.type === 'end' && ends.push(e),
    });
    expect(resumed.resumedFrom).toBe(5);
    // The end event counts the whole run's time and says how much of it was this invocation.
    const end = ends[0];
    expect(end?.type === 'end' && end.runMs !== undefined && end.runMs <= end.elapsedMs && end.elapsedMs - end.runMs >= saved.elapsedMs - 1e-6).toBe(true);
    expect(resumed.losses).toStrictEqual(expected.losses);
    expect(resumed.evals).toStrictEqual(expected.evals);
    expect(values(resumedModel)).toStrictEqual(values(straight));
  });

  it('resumes a batch source built by a factory from its saved state', async () => {
    const dir = freshDir();
    const positions: (number | undefined)[] = [];
    const batches = (resume: { position: number } | undefined): TokenStream => {
      positions.push(resume?.position);
      const stream = new TokenStream(2, 4);
      if (resume) stream.restore(resume);
      return stream;
    };
    await train({ model: new Bigram(), steps: 3, batches, checkpointDir: dir });
    const result = await train({ model: new Bigram(), steps: 5, batches, checkpointDir: dir, resume: true });
    expect(positions).toEqual([undefined, 3 * 8]);
    expect(result).toMatchObject({ step: 5, resumedFrom: 3 });
  });

  it('starts fresh when asked to resume from an empty directory, and refuses a source it cannot restore', async () => {
    const dir = freshDir();
    const fresh = await train({ model: new Bigram(), steps: 2, batches: new TokenStream(2, 4), checkpointDir: dir, resume: true });
    expect(fresh.resumedFrom).toBeNull();
    const stream = new TokenStream(2, 4);
    const unrestorable = { next: () => stream.next(), state: () => stream.state() };
    await expect(train({ model: new Bigram(), steps: 4, batches: unrestorable, checkpointDir: dir, resume: true })).rejects.toThrow(/restore\(state\)/);
  });

  it('skips a step whose loss is NaN: no update, counted and reported, training continues', async () => {
    const model = new Bigram();
    model.poison.add(3); // the 4th loss call: step index 3
    let opt: optim.AdamW | undefined;
    const snapshots = new Map<number, number[][]>();
    const events: TrainEvent[] = [];
    const result = await train({
      model, steps: 8, batches: new TokenStream(2, 8), optimizer: (params) => (opt = new optim.AdamW(params, { lr: 0.05 })),
      log: (e) => {
        events.push(e);
        if (e.type === 'step' || e.type === 'skip') snapshots.set(e.step, values(model));
      },
    });
    expect(result.skippedSteps).toBe(1);
    expect(result.losses[3]).toBeNull();
    expect(result.losses.filter((l) => l !== null).every(Number.isFinite)).toBe(true);
    expect(events.find((e) => e.type === 'skip')).toMatchObject({ step: 4, skippedSteps: 1, reason: 'loss is NaN' });
    expect(snapshots.get(4)).toStrictEqual(snapshots.get(3));
    expect(snapshots.get(5)).not.toStrictEqual(snapshots.get(4));
    expect(opt!.steps).toBe(7);
    expect(values(model).flat().every(Number.isFinite)).toBe(true);
  });

  it('stops with an error when every step is non-finite', async () => {
    const model = new Bigram();
    for (let i = 0; i < 100; i++) model.poison.add(i);
    await expect(train({ model, steps: 50, batches: new TokenStream(2, 4), maxSkippedSteps: 3 })).rejects.toThrow(/loss became non-finite at step 1 and stayed so for 4 steps .* diverged/);
  });

  it('accumulates: two micro-batches of 2 rows match one batch of 4 rows', async () => {
    const run = async (batchSize: number, gradAccumulation: number): Promise<{ losses: (number | null)[]; params: number[][]; norms: number[] }> => {
      const model = new Bigram({ vocabSize: 16, dim: 8, seed: 4 });
      const norms: number[] = [];
      const { losses } = await train({
        model, steps: 4, batches: new TokenStream(batchSize, 8), gradAccumulation, clipNorm: 0, schedule: 'constant',
        optimizer: (params) => new optim.SGD(params, { lr: 0.5 }), log: (e) => e.type === 'step' && norms.push(e.gradNorm),
      });
      return { losses, params: values(model), norms };
    };
    const full = await run(4, 1);
    const halves = await run(2, 2);
    expect(halves.losses).toHaveLength(4);
    halves.losses.forEach((l, i) => expect(l).toBeCloseTo(full.losses[i]!, 5));
    halves.norms.forEach((n, i) => expect(n).toBeCloseTo(full.norms[i]!, 5));
    halves.params.flat().forEach((p, i) => expect(p).toBeCloseTo(full.params.flat()[i]!, 5));
  });

  it('holds the number of live tensors steady over 200 steps (accumulation, clipping, eval, checkpoints)', async () => {
    const before = liveTensors();
    const model = new Bigram();
    const withModel = liveTensors();
    const live: number[] = [];
    await train({
      model, steps: 200, batches: new TokenStream(2, 8), gradAccumulation: 2, clipNorm: 0.1,
      evalEvery: 50, evaluate: ({ model: m }) => heldOutLoss(m as Bigram), checkpointDir: freshDir(), checkpointEvery: 50,
      log: (e) => e.type === 'step' && live.push(liveTensors()),
    });
    expect(live).toHaveLength(200);
    expect(Math.max(...live)).toBe(Math.min(...live));
    // Only the parameters and the AdamW slots (m and v per parameter) live during training,
    expect(live[0]).toBe(withModel + 2 * model.parameters().length);
    // and the loop frees the optimizer it built.
    expect(liveTensors()).toBe(withModel);
    expect(withModel - before).toBe(model.parameters().length);
  });

  it('on abort, saves a checkpoint and returns with interrupted: true', async () => {
    const dir = freshDir();
    const controller = new AbortController();
    const events: TrainEvent[] = [];
    const result = await train({
      model: new Bigram(), steps: 100, batches: new TokenStream(2, 4), checkpointDir: dir, checkpointEvery: 40, signal: controller.signal,
      log: (e) => {
        events.push(e);
        if (e.type === 'step' && e.step === 7) controller.abort();
      },
    });
    expect(result).toMatchObject({ interrupted: true, step: 7 });
    expect(events.filter((e) => e.type === 'checkpoint').map((e) => e.step)).toEqual([7]);
    expect(events.at(-1)).toMatchObject({ type: 'end', interrupted: true, step: 7 });
    expect((await readdir(dir)).sort()).toEqual(['model.safetensors', 'optimizer.safetensors', 'trainer.json', 'config.json'].sort());
  });

  it('treats Ctrl-C (SIGINT) like an abort when handleSigint is set', async () => {
    const dir = freshDir();
    const child = fileURLToPath(new URL('./train-sigint-child.ts', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, ['--conditions=source', '--import', 'tsx', child, dir]);
    const reported = JSON.parse(stdout.trim().split('\n').at(-1)!) as { interrupted: boolean; step: number; listeners: number };
    expect(reported.interrupted).toBe(true);
    expect(reported.step).toBeGreaterThanOrEqual(3);
    expect(reported.step).toBeLessThan(1000);
    expect(reported.listeners).toBe(0);
    const saved = JSON.parse(await readFile(join(dir, 'trainer.json'), 'utf8')) as TrainerState;
    expect(saved.step).toBe(reported.step);
  }, 30_000);
});

describe('progressLogger', () => {
  const step = (n: number, total = 100): TrainEvent => ({
    type: 'step', step: n, totalSteps: total, loss: 2.5, lr: 3e-4, gradNorm: 0.75, tokensPerSecond: 12_345, elapsedMs: 1000, etaMs: 252_000,
  });
  const capture = (tty: boolean): { text: () => string; stream: { isTTY: boolean; columns: number; write: (s: string) => boolean } } => {
    let text = '';
    return { text: () => text, stream: { isTTY: tty, columns: 120, write: (s: string) => ((text += s), true) } };
  };

  it('draws a bar with ETA on a TTY', () => {
    const out = capture(true);
    const log = progressLogger({ stream: out.stream });
    log({ type: 'start', step: 0, totalSteps: 100, resumed: false, parameters: 1_200_000 });
    log(step(50));
    log({ type: 'eval', step: 50, value: 2.25 });
    expect(out.text()).toContain('training at step 0/100, 1.2M parameters\n');
    expect(out.text()).toMatch(/\r\x1b\[2K50\/100 \[#+\.+\] loss 2\.5000 lr 3\.00e-4 \|g\| 0\.750 12\.3k tok\/s eta 4m12s/);
    expect(out.text()).toMatch(/step 50: eval 2\.2500\n50\/100 \[/); // the bar is redrawn under the line
  });

  it('prints plain lines elsewhere, every N steps', () => {
    const out = capture(false);
    const log = progressLogger({ stream: out.stream, every: 25 });
    for (let i = 1; i <= 100; i++) log(step(i));
    log({ type: 'end', step: 100, interrupted: false, elapsedMs: 3_723_000 });
    const lines = out.text().trim().split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[0]).toBe('step 25/100 loss 2.5000 lr 3.00e-4 |g| 0.750 12.3k tok/s eta 4m12s');
    expect(lines[4]).toBe('finished at step 100 after 1h02m');
    expect(out.text()).not.toContain('\r');
  });

  it('says how much of the time was this run when it resumed', () => {
    const out = capture(false);
    const log = progressLogger({ stream: out.stream, every: 25 });
    log({ type: 'end', step: 100, interrupted: false, elapsedMs: 3_723_000, runMs: 61_000 });
    expect(out.text()).toBe('finished at step 100 after 1h02m of training, 1m01s in this run\n');
  });

  it('formats durations', () => {
    expect([formatDuration(850), formatDuration(59_400), formatDuration(61_000), formatDuration(Number.NaN)]).toEqual(['850ms', '59s', '1m01s', '?']);
  });
});

