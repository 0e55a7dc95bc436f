// Child process for the crash test: saves checkpoint generations 1, 2, 3, ... into the
// directory given as argv[2] until it is killed. Each generation fills every parameter with
// its number and records it in trainer.json, so a mixed checkpoint is easy to spot.
import { full, nn, noGrad, tidy, type Tensor } from '@titans/tensor';
import { saveCheckpoint } from '../src/checkpoint/index.ts';

export class Big extends nn.Module {
  readonly a: Tensor = nn.parameter(full([1024, 1024], 0));
  readonly b: Tensor = nn.parameter(full([7], 0));
}

const dir = process.argv[2];
if (dir !== undefined) {
  const model = new Big();
  for (let generation = 1; ; generation++) {
    tidy(() => noGrad(() => {
      for (const p of model.parameters()) p.assign(full(p.shape, generation));
    }));
    await saveCheckpoint(dir, { model, config: { generation }, trainer: { generation } });
    process.stdout.write(`${generation}\n`);
  }
}
