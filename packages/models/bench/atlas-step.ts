// One training step of the Atlas family at the full reproduce plan's recipes (passkey and MQAR
// tracks: width 32, 2 blocks, batch 16 x 64 tokens, memory chunk 8, linear memory, window 4,
// degree-2 features; passkey 2 memory heads of width 16, MQAR 1 head of width 32; as
// packages/experiments' trackConfig builds them), eager and compiled, one CPU thread.
//
//   node --conditions=source --import tsx bench/atlas-step.ts [--arch omeganet,atlas] [--track passkey,mqar]
//        [--steps N] [--warmup W] [--eager-steps N] [--profile] [--compare=N] [--switch fast|carry]
//
// Per model and track: seconds (wall and CPU) of N timed compiled steps after W untimed ones
// (the first traces), and of eager steps. --profile adds a compiled run with the plan's
// per-kind timers (CompileOptions.profile) and prints the slowest kinds. --compare=N alternates
// runs with the fast Muon path of @titans/memory off (the composite Newton-Schulz it replaced)
// and on, N times, and reports the median compiled step of each; with --switch carry it
// alternates the fast path's Gram carry off and on instead (setOmegaGramCarry).
// A JSON line with every figure ends the output.
import { configureCpu, type StepProfile } from '@titans/tensor';
import { setFastOmega, setOmegaGramCarry } from '@titans/memory';
import { createModel, defineConfig, type ArchitectureName, type ModelConfig } from '../src/index.js';
import { train, type BatchSource, type TrainingBatch } from '../src/train/index.js';

const arg = (name: string): string | undefined => {
  const hit = process.argv.find((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (!hit) return undefined;
  if (hit.includes('=')) return hit.split('=')[1];
  return process.argv[process.argv.indexOf(hit) + 1];
};
const archs = (arg('arch') ?? 'omeganet,atlas').split(',') as ArchitectureName[];
const tracks = (arg('track') ?? 'passkey,mqar').split(',') as ('passkey' | 'mqar')[];
const steps = Number(arg('steps') ?? 3);
const warmup = Number(arg('warmup') ?? 2);
const eagerSteps = Number(arg('eager-steps') ?? 1);
const profile = process.argv.includes('--profile');
const compareRounds = arg('compare') === undefined ? 0 : Number(arg('compare') ?? 3);
const compareSwitch = arg('switch') ?? 'fast';
if (compareSwitch !== 'fast' && compareSwitch !== 'carry') throw new Error(`--switch must be fast or carry, got ${compareSwitch}`);
const toggle = compareSwitch === 'fast' ? setFastOmega : setOmegaGramCarry;
const batchSize = 16;
const sequenceLength = 64;

/** The full plan's config of an Atlas-family model on a track (what trackConfig gives, 2026-12-07). */
function config(architecture: ArchitectureName, track: 'passkey' | 'mqar'): ModelConfig {
  return defineConfig({
    architecture, vocabSize: track === 'mqar' ? 66 : 259, dim: 32, layers: 2, heads: 2, mlpHidden: 8, window: 16, segmentLength: 16, persistentTokens: 4,
    memory: {
      heads: track === 'mqar' ? 1 : 2, depth: 1, expansion: 2, chunkSize: 8, convKernel: 4, outputGate: true, thetaMax: 1,
      ruleOverrides: { maxSurpriseNorm: 1, forgetting: false }, gateBias: { eta: -4, alpha: -4 },
    },
    seed: 0,
  });
}

class Tokens implements BatchSource<number> {
  private position = 0;
  constructor(private readonly vocab: number) {}
  next(): TrainingBatch {
    const n = batchSize * sequenceLength;
    const token = (i: number): number => (Math.imul(i + 1, 2654435761) >>> 24) % this.vocab;
    const inputs = Int32Array.from({ length: n }, (_, i) => token(this.position + i));
    const targets = Int32Array.from({ length: n }, (_, i) => token(this.position + i + 1));
    this.position += n;
    return { inputs, targets, batchSize, sequenceLength };
  }
  state(): number { return this.position; }
  restore(p: number): void { this.position = p; }
}

interface Run { wall: number; cpu: number; losses: number[]; profile: readonly StepProfile[] }

async function run(c: ModelConfig, compiled: boolean, timed: number, skip: number, withProfile = false): Promise<Run> {
  const model = createModel(c);
  const marks: { t: number; cpu: number }[] = [];
  const losses: number[] = [];
  const start = { t: performance.now(), cpu: cpuSeconds() };
  const result = await train({
    model, steps: skip + timed, batches: new Tokens(Math.min(c.vocabSize, 250)), optimizer: { lr: 1e-3 }, schedule: 'constant',
    compile: compiled ? (withProfile ? { profile: true } : true) : false,
    log: (e) => {
      if (e.type !== 'step') return;
      marks.push({ t: performance.now(), cpu: cpuSeconds() });
      losses.push(e.loss);
    },
  });
  const first = skip === 0 ? start : marks[skip - 1]!;
  const last = marks.at(-1)!;
  return { wall: (last.t - first.t) / 1000 / timed, cpu: (last.cpu - first.cpu) / timed, losses, profile: result.compiled?.profile ?? [] };
}

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

configureCpu({ threads: 1 });
const rows: Record<string, unknown>[] = [];
for (const track of tracks) {
  for (const arch of archs) {
    const c = config(arch, track);
    if (compareRounds > 0) {
      const old: number[] = [];
      const now: number[] = [];
      const oldCpu: number[] = [];
      const nowCpu: number[] = [];
      let lossOld: number[] = [];
      let lossNew: number[] = [];
      for (let r = 0; r < compareRounds; r++) {
        toggle(false);
        const a = await run(c, true, steps, warmup);
        toggle(true);
        const b = await run(c, true, steps, warmup);
        old.push(a.wall); now.push(b.wall); oldCpu.push(a.cpu); nowCpu.push(b.cpu);
        lossOld = a.losses; lossNew = b.losses;
        process.stderr.write(`${track} ${arch} round ${r + 1} (${compareSwitch} off/on): composite ${a.wall.toFixed(3)} s (${a.cpu.toFixed(3)} cpu), fast ${b.wall.toFixed(3)} s (${b.cpu.toFixed(3)} cpu)\n`);
      }
      const row = {
        track, arch, compare: compareRounds, switch: compareSwitch, compiledStepComposite: median(old), compiledStepFast: median(now),
        cpuStepComposite: median(oldCpu), cpuStepFast: median(nowCpu), speedupCpu: median(oldCpu) / median(nowCpu), lossesComposite: lossOld, lossesFast: lossNew,
      };
      rows.push(row);
      process.stderr.write(`${track} ${arch}: compiled step ${row.cpuStepComposite.toFixed(3)} -> ${row.cpuStepFast.toFixed(3)} CPU s (x${row.speedupCpu.toFixed(2)})\n`);
      continue;
    }
    const compiled = await run(c, true, steps, warmup);
    const eager = eagerSteps > 0 ? await run(c, false, eagerSteps, 1) : null;
    const row: Record<string, unknown> = {
      track, arch, compiledStepWall: compiled.wall, compiledStepCpu: compiled.cpu, eagerStepWall: eager?.wall, eagerStepCpu: eager?.cpu,
      tokensPerCpuSecond: (batchSize * sequenceLength) / compiled.cpu, losses: compiled.losses,
    };
    process.stderr.write(`${track} ${arch}: compiled ${compiled.wall.toFixed(3)} s/step (${compiled.cpu.toFixed(3)} CPU s), eager ${eager ? `${eager.wall.toFixed(3)} s (${eager.cpu.toFixed(3)} CPU s)` : '-'}\n`);
    if (profile) {
      const p = await run(c, true, steps, warmup, true);
      const total = p.profile.reduce((s, k) => s + k.ms, 0);
      row.profile = p.profile;
      for (const k of [...p.profile].sort((a, b) => b.ms - a.ms).slice(0, 14)) {
        process.stderr.write(`  ${k.kind.padEnd(24)} ${String(k.calls).padStart(8)} calls ${k.ms.toFixed(0).padStart(8)} ms ${(100 * k.ms / total).toFixed(1).padStart(5)}%\n`);
      }
    }
    rows.push(row);
  }
}
process.stdout.write(`${JSON.stringify({ date: new Date().toISOString(), threads: 1, batchSize, sequenceLength, steps, warmup, command: `bench/atlas-step.ts ${process.argv.slice(2).join(' ')}`.trim(), rows })}\n`);
