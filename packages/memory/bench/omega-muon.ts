// The Muon chunk of omegaParallel, fast (low-rank: Newton-Schulz on Gram matrices) against the
// composite form it replaced (setFastOmega(false)), forward and outer-loop backward
// (valueAndGrad), eager, float32, CPU, one thread, alternating old and new in one process.
// Shapes: the full reproduce plan's Atlas memories (batch 16, 64 tokens, chunk 8, window 4,
// degree-2 features, linear memory): passkey 2 heads of width 16, MQAR 1 head of width 32.
//
//   node --conditions=source --import tsx bench/omega-muon.ts [--rounds N] [--forward]
//
// Prints seconds per call (wall and CPU) for each, their medians and the ratio; a JSON line
// ends the output.
import { Rng, configureCpu, l2Normalize, mul, noGrad, sum, tensor, tidy, valueAndGrad, type Tensor } from '@titans/tensor';
import {
  expTaylorCoefficients, omegaInitialState, omegaParallel, omegaWeightShapes, setFastOmega, type OmegaInputs, type OmegaRule,
} from '../src/index.js';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const rounds = Number(arg('rounds') ?? 3);
const forwardOnly = process.argv.includes('--forward');
configureCpu({ threads: 1 });

const rule: OmegaRule = {
  architecture: { depth: 1, hidden: 0, activation: 'silu', residual: false, norm: false },
  chunkSize: 8, window: 4, feature: { kind: 'poly', degree: 2 }, optimizer: { kind: 'muon', nsSteps: 5 }, momentum: true, forgetting: false,
};

function problem(heads: number, dim: number): { inputs: OmegaInputs; weights: Tensor[] } {
  const rng = new Rng(1);
  const lead = [16, heads];
  const t = 64;
  const opts = { dtype: 'float32' as const };
  const inputs: OmegaInputs = {
    k: l2Normalize(rng.normal([...lead, t, dim], 0, 1, opts), -1), v: rng.normal([...lead, t, dim], 0, 1, opts), q: l2Normalize(rng.normal([...lead, t, dim], 0, 1, opts), -1),
    theta: rng.uniform([...lead, t], 0, 1, opts), eta: rng.uniform([...lead, t], 0, 0.1, opts), alpha: rng.uniform([...lead, t], 0, 0.1, opts),
    gamma: rng.uniform([...lead, t, 4], 0.2, 1, opts), coef: tensor(expTaylorCoefficients(2), undefined, opts), lr: rng.uniform([...lead, t], 0, 0.1, opts),
  };
  const weights = omegaWeightShapes(rule, dim).map(([o, i]) => rng.normal([heads, o, i], 0, 1 / Math.sqrt(i), opts));
  return { inputs, weights };
}

function time(p: { inputs: OmegaInputs; weights: Tensor[] }): { wall: number; cpu: number } {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  tidy(() => {
    if (forwardOnly) {
      noGrad(() => omegaParallel(rule, p.inputs, omegaInitialState(p.weights)).yPost.dataSync());
      return;
    }
    const names = ['k', 'v', 'q', 'theta', 'gamma', 'lr'] as const;
    const [, grads] = valueAndGrad((xs: Tensor[]) => {
      const inputs = { ...p.inputs, ...Object.fromEntries(names.map((n, i) => [n, xs[i]!])) } as OmegaInputs;
      const out = omegaParallel(rule, inputs, omegaInitialState(xs.slice(names.length)));
      return sum(mul(out.yPost, out.yPost));
    })([...names.map((n) => p.inputs[n]!), ...p.weights]);
    grads.forEach((g) => g.dataSync());
  });
  const c = process.cpuUsage(c0);
  return { wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rows = [];
for (const [track, heads, dim] of [['passkey', 2, 16], ['mqar', 1, 32]] as const) {
  const p = problem(heads, dim);
  const fast: number[] = [];
  const composite: number[] = [];
  for (let r = 0; r < rounds; r++) {
    setFastOmega(false);
    const a = time(p);
    setFastOmega(true);
    const b = time(p);
    composite.push(a.cpu);
    fast.push(b.cpu);
    process.stderr.write(`${track} round ${r + 1}: composite ${a.wall.toFixed(3)} s (${a.cpu.toFixed(3)} CPU s), fast ${b.wall.toFixed(3)} s (${b.cpu.toFixed(3)} CPU s)\n`);
  }
  const row = { track, heads, dim, forwardOnly, compositeCpu: median(composite), fastCpu: median(fast), speedup: median(composite) / median(fast) };
  process.stderr.write(`${track}: ${row.compositeCpu.toFixed(3)} -> ${row.fastCpu.toFixed(3)} CPU s (x${row.speedup.toFixed(1)})\n`);
  rows.push(row);
}
process.stdout.write(`${JSON.stringify({ date: new Date().toISOString(), threads: 1, rounds, command: `bench/omega-muon.ts ${process.argv.slice(2).join(' ')}`.trim(), rows })}\n`);
