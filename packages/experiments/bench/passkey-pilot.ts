// Pilots of the scale plan's passkey track: one model, one seed, the scale plan's passkey
// settings with one change (a variant), trained and evaluated at 1x-16x on both fillers.
// What the reproduce page's "Passkey pilots at scale" table was made with.
//   node --conditions=source --import tsx bench/passkey-pilot.ts <variant> [model] [--out DIR]
// Variants: base, heads1, chunk8, win16, layers2, dim64, steps2x, len128, fulltrain, tinymodel,
// tiny, tinyb8, tinywide, win16c8full (see VARIANTS). --out defaults to runs/pilot-<variant>-<model>
// under the repository root; an existing run there is resumed.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolvePlan, runPlan, type ModelName, type ReproducePlan } from '../src/index.ts';

type Passkey = ReproducePlan['passkey'];

const scale = resolvePlan('scale');
const full = resolvePlan('full');
const pk = scale.passkey;
/** The full plan's passkey training: 500 steps of 16 sequences (8,000 sequences; the scale plan trains 1,840). */
const fullTrain = full.passkey.train;
const withMemory = (memory: Partial<Passkey['model']['memory']>, model: Partial<Passkey['model']> = {}): Passkey['model'] =>
  ({ ...pk.model, ...model, memory: { ...pk.model.memory, ...memory } });

export const VARIANTS: Readonly<Record<string, Partial<Passkey>>> = {
  base: {},
  heads1: { model: withMemory({ heads: 1 }) },
  chunk8: { model: withMemory({ chunkSize: 8 }) },
  win16: { model: { ...pk.model, window: 16, segmentLength: 16 } },
  layers2: { model: { ...pk.model, layers: 2 } },
  dim64: { model: withMemory({ heads: 2 }, { dim: 64 }) },
  steps2x: { train: { ...pk.train, steps: pk.train.steps * 2, warmupSteps: pk.train.warmupSteps * 2 } },
  len128: { trainLength: 128, multiples: [1, 2, 4, 8] },
  fulltrain: { train: fullTrain },
  tinymodel: { model: full.passkey.model },
  tiny: { model: full.passkey.model, train: fullTrain },
  tinyb8: { model: full.passkey.model, train: { ...fullTrain, batchSize: 8, steps: 1000, warmupSteps: 80 } },
  tinywide: { model: { ...full.passkey.model, dim: 128 }, train: fullTrain },
  win16c8full: { model: withMemory({ chunkSize: 8 }, { window: 16, segmentLength: 16 }), train: fullTrain },
};

const positional = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && all[i - 1] !== '--out');
const [variant = 'base', model = 'mag'] = positional;
const change = VARIANTS[variant];
if (!change) throw new Error(`passkey-pilot: unknown variant '${variant}' (one of ${Object.keys(VARIANTS).join(', ')})`);
const outFlag = process.argv.indexOf('--out');
const root = fileURLToPath(new URL('../../..', import.meta.url));
const out = outFlag > 0 ? resolve(process.argv[outFlag + 1]!) : resolve(root, 'runs', `pilot-${variant}-${model}`);
const plan: ReproducePlan = { ...scale, seeds: [0], passkey: { ...pk, ...change, models: [model as ModelName] } };
const started = Date.now();
const summary = await runPlan(plan, { out, resume: true, only: [`train-passkey-${model}`, `passkey-${model}`], log: (line) => console.log(line) });
console.log(`${variant} ${model}: ${((Date.now() - started) / 1000).toFixed(0)} s, results in ${out}/results/passkey-${model}.json${summary.failed.length ? `, failed: ${summary.failed.join(', ')}` : ''}`);
