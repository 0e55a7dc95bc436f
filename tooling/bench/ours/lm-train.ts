// Training throughput of the project's Transformer++ (packages/models, architecture
// 'transformer') at the peer's shapes (../peers/lm_train.py): byte vocabulary, untied output
// projection, one step = mean next-token cross-entropy, gradients, global-norm clipping at 1,
// AdamW (lr 1e-3, weight decay 0.1), float32.
// usage: THREADS=2 node --import tsx lm-train.ts [--dim 256] [--layers 4] [--heads 4] [--mlp 688] [--seq 512] [--batch 8] [--steps 3]
import { gradients, optim, tensor, tidy } from '../../../packages/tensor/src/index.js';
import { countParameters, createModel } from '../../../packages/models/src/index.js';
import { arg, emit, medianSeconds, round, setThreads } from './common.js';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

setThreads();
const dim = arg('--dim', 256);
const layers = arg('--layers', 4);
const heads = arg('--heads', 4);
const mlp = arg('--mlp', 688);
const seq = arg('--seq', 512);
const batch = arg('--batch', 8);
const steps = arg('--steps', 3);

const model = createModel({ architecture: 'transformer', vocabSize: 256, dim, layers, heads, mlpHidden: mlp, window: 0, tieEmbeddings: false, seed: 0 });
model.train();
const params = model.parameters();
const optimizer = new optim.AdamW(params, { lr: 1e-3, weightDecay: 0.1 });
// Deterministic pseudo-random bytes (Knuth's multiplicative hash), [batch, seq + 1].
const data = Int32Array.from({ length: batch * (seq + 1) }, (_, i) => (Math.imul(i + 1, 2654435761) >>> 8) % 256);
const inputs = new Int32Array(batch * seq);
const targets = new Int32Array(batch * seq);
for (let b = 0; b < batch; b++) {
  inputs.set(data.subarray(b * (seq + 1), b * (seq + 1) + seq), b * seq);
  targets.set(data.subarray(b * (seq + 1) + 1, (b + 1) * (seq + 1)), b * seq);
}
const losses: number[] = [];
const cpuSeconds: number[] = [];
const step = (): void => {
  const cpu0 = process.cpuUsage();
  tidy(() => {
    const loss = model.loss(tensor(inputs, [batch, seq], { dtype: 'int32' }), tensor(targets, [batch, seq], { dtype: 'int32' }));
    const { grads } = optim.clipGradNorm(gradients(loss, params), 1);
    optimizer.step(grads);
    losses.push(loss.item());
  });
  const cpu = process.cpuUsage(cpu0);
  cpuSeconds.push((cpu.user + cpu.system) / 1e6);
};
const seconds = await medianSeconds(step, steps, 1);
emit({
  setup: { dim, layers, heads, mlp, seq, batch, steps },
  params: countParameters(model),
  tokPerS: round((batch * seq) / seconds, 1),
  stepMs: round(seconds * 1e3, 2),
  // CPU seconds of all threads per step (median over the timed steps): steadier than wall time on a shared machine.
  tokPerCpuS: round((batch * seq) / median(cpuSeconds.slice(1)), 1),
  firstLoss: round(losses[0]!, 4),
});
