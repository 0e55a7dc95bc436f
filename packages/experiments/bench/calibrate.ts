// Calibration of the plan time estimate (src/estimate.ts): training throughput of a plan's
// models on one track, with the track's own batch size and sequence length and compiled
// steps (as runPlan trains them), one thread, as JSON.
//   node --conditions=source --import tsx bench/calibrate.ts [--track long] [--steps N] [--arch a,b] [--plan scale]
// Each architecture: --warmup W untimed steps (default 2: the first traces and compiles, the
// second still runs slower), then N timed steps of the
// track's batch x length tokens (--batch / --length override them). The figure the estimate
// uses is tokens per second of this process's CPU time (user + system): on a loaded machine
// wall-clock throughput says more about the other jobs than about the model.
import { loadavg } from 'node:os';
import { countParameters, createModel, train } from '@titans/models';
import { configureCpu } from '@titans/tensor';
import { PLANS, type PlanName } from '../src/index.ts';
import { trackSequenceLength } from '../src/estimate.ts';
import { customTrack, trackConfig, trainRecipe } from '../src/experiments.ts';
import type { ModelName, ReproducePlan, Track } from '../src/recipes.ts';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};

/** The models a track trains. */
function trackModels(plan: ReproducePlan, track: Track): readonly ModelName[] {
  if (track === 'long') return plan.architectures;
  if (track === 'mqar') return plan.mqar.models ?? plan.architectures;
  if (track === 'passkey') return plan.passkey.models;
  return customTrack(plan, track).models;
}

configureCpu({ threads: 1 });
const planName = (arg('plan') ?? 'scale') as PlanName;
const plan = PLANS[planName];
if (!plan) throw new Error(`unknown plan '${planName}'`);
const track = arg('track') ?? 'long';
const steps = Number(arg('steps') ?? 3);
const warmup = Number(arg('warmup') ?? 2);
const length = Number(arg('length') ?? trackSequenceLength(plan, track));
const models = arg('arch')?.split(',') ?? trackModels(plan, track);
const loadBefore = loadavg()[0]!;
const rows: { model: string; architecture: string; parameters: number; tokensPerSecond: number; tokensPerCpuSecond: number; secondsPerStep: number; cpuSecondsPerStep: number; batch: number; length: number; cpuSecondsOfEachStep: number[] }[] = [];
for (const name of models) {
  const config = trackConfig(plan, name, track);
  const model = createModel(config);
  const batch = Number(arg('batch') ?? trainRecipe(plan, name, track).batchSize);
  const vocab = Math.min(config.vocabSize, 250);
  const tokens = (shift: number): Int32Array => new Int32Array(batch * length).map((_, i) => (i * 7 + shift) % vocab);
  const times: number[] = [];
  const cpuTimes: number[] = [];
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  await train({
    model, steps: steps + warmup, optimizer: { lr: 1e-3 }, schedule: 'constant', compile: true,
    batches: { next: () => ({ inputs: tokens(0), targets: tokens(1), batchSize: batch, sequenceLength: length }), state: () => null },
    log: (e) => {
      if (e.type !== 'step') return;
      const now = performance.now();
      const cpu = process.cpuUsage(lastCpu);
      times.push(now - last);
      cpuTimes.push((cpu.user + cpu.system) / 1000);
      last = now;
      lastCpu = process.cpuUsage();
    },
  });
  const timed = times.slice(warmup);
  const secondsPerStep = timed.reduce((a, b) => a + b, 0) / timed.length / 1000;
  const cpuTimed = cpuTimes.slice(warmup);
  const cpuSecondsPerStep = cpuTimed.reduce((a, b) => a + b, 0) / cpuTimed.length / 1000;
  rows.push({ model: name, architecture: config.architecture, parameters: countParameters(config), tokensPerSecond: (batch * length) / secondsPerStep, tokensPerCpuSecond: (batch * length) / cpuSecondsPerStep, secondsPerStep, cpuSecondsPerStep, batch, length, cpuSecondsOfEachStep: cpuTimes.map((t) => Math.round(t) / 1000) });
  const row = rows.at(-1)!;
  process.stderr.write(`${track} ${name}: ${row.parameters} parameters, ${batch} x ${length} tokens a step, ${Math.round(row.tokensPerSecond)} tok/s wall, ${Math.round(row.tokensPerCpuSecond)} tok/s of CPU time\n`);
}
process.stdout.write(`${JSON.stringify({ date: new Date().toISOString(), plan: plan.name, track, threads: 1, warmup, steps, loadAverage: { before: loadBefore, after: loadavg()[0] }, command: `bench/calibrate.ts ${process.argv.slice(2).join(' ')}`.trim(), rows }, null, 2)}\n`);
