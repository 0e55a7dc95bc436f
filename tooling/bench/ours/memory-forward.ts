// The neural memory forward pass at the peer's shapes (../peers/memory_forward.py): the
// NeuralMemory module as a whole (projections, conv, gates, scan, output) and the chunked
// scan alone, linear memory and a 2-layer MLP memory (hidden 4x, no residual, no norm),
// chunk 64, theta_max 0.1, float32, no gradients.
// usage: THREADS=1 node --import tsx memory-forward.ts [--tokens 4096] [--dim 256] [--heads 4] [--chunk 64] [--reps 5]
import { Rng, l2Normalize, noGrad, tidy, type Tensor } from '../../../packages/tensor/src/index.js';
import {
  NeuralMemory, initialState, memoryPreset, mlpArchitecture, scanParallel, weightShapes, type MemoryRule,
} from '../../../packages/memory/src/index.js';
import { arg, emit, medianSeconds, round, setThreads } from './common.js';

setThreads();
const tokens = arg('--tokens', 4096);
const dim = arg('--dim', 256);
const heads = arg('--heads', 4);
const chunk = arg('--chunk', 64);
const reps = arg('--reps', 5);
const headDim = dim / heads;
if (!Number.isInteger(headDim)) throw new Error(`--dim ${dim} is not divisible by --heads ${heads}`);

function ruleOf(kind: 'linear' | 'mlp'): MemoryRule {
  return kind === 'linear'
    ? memoryPreset('titans-linear', headDim, { chunkSize: chunk })
    : memoryPreset('titans', headDim, { chunkSize: chunk, architecture: mlpArchitecture(4 * headDim, { residual: false, norm: false }) });
}

const result: Record<string, unknown> = { setup: { tokens, dim, heads, chunk, thetaMax: 0.1, conv: 4, reps } };
for (const kind of ['linear', 'mlp'] as const) {
  const rule = ruleOf(kind);
  const memory = new NeuralMemory(dim, { heads, rule, thetaMax: 0.1, convKernel: 4, seed: 1 });
  const rng = new Rng(2);
  const x = rng.normal([1, tokens, dim]);
  const rows = [1, heads, tokens, headDim];
  const inputs = {
    k: l2Normalize(rng.normal(rows), -1), v: rng.normal(rows), q: l2Normalize(rng.normal(rows), -1),
    theta: rng.uniform([1, heads, tokens], 0.01, 0.05), eta: rng.uniform([1, heads, tokens], 0.5, 0.9), alpha: rng.uniform([1, heads, tokens], 0, 0.02),
  };
  const weights: Tensor[] = weightShapes(rule.architecture, headDim).map(([out, inp]) => rng.normal([heads, out, inp], 0, 1 / Math.sqrt(inp)));
  const moduleSeconds = await medianSeconds(() => tidy(() => noGrad(() => { memory.forward(x).output.dataSync(); })), reps);
  // y_post only, as the peer computes it (and NeuralMemory reading 'post' scans): the fused kernel leaves y_pre out.
  const scanSeconds = await medianSeconds(() => tidy(() => noGrad(() => { scanParallel(rule, inputs, initialState(weights, rule), { yPre: false }).yPost.dataSync(); })), reps);
  result[kind] = {
    moduleTokPerS: round(tokens / moduleSeconds, 1), scanTokPerS: round(tokens / scanSeconds, 1),
    moduleMs: round(moduleSeconds * 1e3, 3), scanMs: round(scanSeconds * 1e3, 3),
  };
}
emit(result);
