// Calibration of the plan time estimate (src/estimate.ts): training throughput of the scale
// plan's model shapes with compiled steps on this machine, one thread, as JSON.
//   node --conditions=source --import tsx bench/calibrate.ts [--steps N] [--arch a,b] [--length T]
// Each architecture: one warm-up step (tracing), then N timed steps of --batch B (default 4) x T bytes.
import { countParameters, createModel, defineConfig, train, type ArchitectureName } from '@titans/models';
import { configureCpu } from '@titans/tensor';
import { PLANS } from '../src/index.ts';
import { planModelConfig } from '../src/models.ts';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
configureCpu({ threads: 1 });
const steps = Number(arg('steps') ?? 3);
const length = Number(arg('length') ?? 512);
const plan = PLANS.scale;
const architectures = (arg('arch')?.split(',') ?? plan.architectures) as ArchitectureName[];
// Wall-clock tokens/s depend on what else runs on the machine; tokens per second of this
// process's CPU time (user + system) are what one dedicated core would give, and are what the
// estimate uses.
const rows: { architecture: string; parameters: number; tokensPerSecond: number; tokensPerCpuSecond: number; secondsPerStep: number; cpuSecondsPerStep: number; batch: number; length: number }[] = [];
for (const architecture of architectures) {
  const config = defineConfig({ ...planModelConfig(plan, architecture, 'long') });
  const model = createModel(config);
  const batch = Number(arg('batch') ?? 4);
  const times: number[] = [];
  const cpuTimes: number[] = [];
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  await train({
    model, steps: steps + 1, optimizer: { lr: 1e-3 }, schedule: 'constant',
    batches: { next: () => ({ inputs: new Int32Array(batch * length).map((_, i) => (i * 7) % 250), targets: new Int32Array(batch * length).map((_, i) => (i * 7 + 1) % 250), batchSize: batch, sequenceLength: length }), state: () => null },
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
  const timed = times.slice(1);
  const secondsPerStep = timed.reduce((a, b) => a + b, 0) / timed.length / 1000;
  const cpuTimed = cpuTimes.slice(1);
  const cpuSecondsPerStep = cpuTimed.reduce((a, b) => a + b, 0) / cpuTimed.length / 1000;
  rows.push({ architecture, parameters: countParameters(config), tokensPerSecond: (batch * length) / secondsPerStep, tokensPerCpuSecond: (batch * length) / cpuSecondsPerStep, secondsPerStep, cpuSecondsPerStep, batch, length });
  process.stderr.write(`${architecture}: ${rows.at(-1)!.parameters} parameters, ${Math.round(rows.at(-1)!.tokensPerSecond)} tok/s wall, ${Math.round(rows.at(-1)!.tokensPerCpuSecond)} tok/s of CPU time\n`);
}
process.stdout.write(`${JSON.stringify({ date: new Date().toISOString(), threads: 1, steps, rows }, null, 2)}\n`);
