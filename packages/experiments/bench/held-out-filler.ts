// The passkey checkpoints of a run (or the ones the docs site ships) evaluated on the training
// filler and on filler never seen in training (src/filler.ts), with the full plan's passkey
// grid, as JSON on stdout.
//   node --conditions=source --import tsx bench/held-out-filler.ts [--dir apps/docs/public/checkpoints] [--models mac,mag,mal,lmm,swa]
// --dir holds one folder per model with model.safetensors and config.json (a shipped folder,
// or a run's checkpoints/passkey-<model>-<hash>/ renamed).
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ByteTokenizer } from '@titans/data';
import { evaluatePasskey } from '@titans/eval';
import { asGenerativeModel, createModel, loadModelBytes, type ModelConfigInput } from '@titans/models';
import { configureCpu } from '@titans/tensor';
import { PLANS, passkeyPrompt, type FillerKind } from '../src/index.ts';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
configureCpu({ threads: 1 });
const root = fileURLToPath(new URL('../../..', import.meta.url));
const dir = resolve(root, arg('dir') ?? 'apps/docs/public/checkpoints');
const models = (arg('models') ?? 'mac,mag,mal,lmm,swa').split(',');
const { passkey, seed } = PLANS.full;
const tokenizer = new ByteTokenizer();
const rows: { model: string; filler: FillerKind; byLength: { length: number; accuracy: number }[]; seconds: number }[] = [];
for (const name of models) {
  const config = JSON.parse(readFileSync(join(dir, name, 'config.json'), 'utf8')) as ModelConfigInput;
  const model = createModel(config);
  loadModelBytes(model, new Uint8Array(readFileSync(join(dir, name, 'model.safetensors'))));
  model.eval();
  const generative = asGenerativeModel(model, { name, chunkLength: 512, compile: true });
  for (const filler of ['seen', 'held-out'] as const) {
    const started = performance.now();
    const result = await evaluatePasskey({
      model: generative, tokenizer, lengths: passkey.multiples.map((m) => m * passkey.trainLength), depths: passkey.depths,
      samplesPerCell: passkey.samplesPerCell, digits: passkey.digits, seed, maxNewTokens: passkey.digits + 2,
      prompt: (options) => {
        const sample = passkeyPrompt({ ...options, filler });
        return { passkey: sample.passkey, answer: sample.answer, tokens: () => tokenizer.encode(sample.prompt) };
      },
    });
    rows.push({ model: name, filler, byLength: result.byLength.map(({ length, accuracy }) => ({ length, accuracy })), seconds: (performance.now() - started) / 1000 });
  }
}
console.log(JSON.stringify({ dir, grid: { lengths: passkey.multiples.map((m) => m * passkey.trainLength), depths: passkey.depths, samplesPerCell: passkey.samplesPerCell, seed }, rows }, null, 2));
