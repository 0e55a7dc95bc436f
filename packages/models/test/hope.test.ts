// The must-show properties (architecture-suite.ts) for the Hope family, plus finite
// differences on the Continuum Memory System's own parameters (the suite's list of checked
// parameters predates the CMS).
import { describe, expect, it } from 'vitest';
import { spotCheckGradients } from '@titans/test-utils';
import { Rng, gradients, narrow, noGrad, tidy } from '@titans/tensor';
import { createModel, generate, type ArchitectureName } from '../src/index.js';
import { describeArchitecture } from './architecture-suite.js';
import { randomIds, testConfig } from './helpers.js';

const HOPE: readonly ArchitectureName[] = ['hope', 'hope-attention'];

for (const architecture of HOPE) describeArchitecture(architecture);

describe.each(HOPE)('%s: the CMS inside the model', (architecture) => {
  it('autograd on the CMS parameters agrees with finite differences (float64), across level updates', () => {
    tidy(() => {
      const model = createModel(testConfig(architecture));
      const ids = randomIds(2, 18, 21);
      const targets = randomIds(2, 18, 22);
      const named = model.namedParameters().filter(([name]) => /^blocks\.0\.cms\.levels\.[012]\.(w1|w2|value\.weight|lr\.weight|lr\.bias)$/.test(name));
      expect(named.length).toBe(15);
      const picked = named.filter((_, i) => i % 2 === 0 || i === 14);
      const grads = gradients(model.loss(ids, targets), picked.map(([, p]) => p));
      spotCheckGradients(() => model.loss(ids, targets), picked, grads, { rng: new Rng(3), rtol: 1e-5, atol: 1e-8, nonZero: true });
    });
  });

  it('generate gives the same tokens compiled and eager (seeded sampling, float32)', async () => {
    const config = testConfig(architecture, { dtype: 'float32' });
    const run = (compile: boolean): Promise<number[]> => generate(createModel(config), [1, 5, 9, 2, 7], { maxNewTokens: 20, compile, sampling: { temperature: 1, seed: 4 } });
    const eager = await run(false);
    expect(eager).toHaveLength(20);
    expect(await run(true)).toEqual(eager);
  });

  it('the CMS levels update in context: the state after 16 tokens differs from the initial weights at every level', () => {
    tidy(() => noGrad(() => {
      const model = createModel(testConfig(architecture));
      const out = model.forward(narrow(randomIds(1, 16, 5), 1, 0, 16));
      const cms = out.state.layers[0]!.cms!;
      // testConfig: chunkSize 4 -> periods 4, 8, 16: all three levels completed a chunk.
      expect(cms.levels.map((l) => l.pending)).toEqual([null, null, null]);
      cms.levels.forEach((level) => expect(level.weights[0].isParameter).toBe(false));
    }));
  });
});
