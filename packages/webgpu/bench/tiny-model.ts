// The tiny model's training step that the compiled-step benches (compiled-step.ts,
// replay-arenas.ts) time.
import { gradients, optim, type Tensor } from '@titans/tensor';
import { createModel, type ArchitectureName } from '../../models/src/index.js';

/**
 * A tiny model of `architecture` (float32, one block of width 16, vocabulary 16), made on the
 * current backend, and its training step: loss, gradients clipped to norm 1, an AdamW update;
 * the step returns [loss, gradient norm]. `dispose` frees the optimizer and the parameters.
 */
export function tinyTrainingStep(architecture: ArchitectureName): { step: (ids: Tensor, targets: Tensor) => Tensor[]; dispose: () => void } {
  const model = createModel({
    architecture, vocabSize: 16, dim: 16, layers: 1, heads: 2, mlpHidden: 32, window: 8, segmentLength: 8,
    dtype: 'float32', seed: 5, memory: { heads: 2, chunkSize: 4 },
  });
  const params = model.parameters();
  const opt = new optim.AdamW(params, { lr: 1e-3 });
  return {
    step: (ids, targets) => {
      const loss = model.loss(ids, targets);
      const { grads, norm } = optim.clipGradNorm(gradients(loss, params), 1);
      opt.step(grads);
      return [loss, norm];
    },
    dispose: () => {
      opt.dispose();
      for (const p of params) p.dispose();
    },
  };
}
