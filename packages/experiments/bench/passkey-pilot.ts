// Pilots of the scale plan's passkey track: one model, one seed, the scale plan's earlier
// passkey settings (EARLIER_PASSKEY: the 4-block model, 230 steps of 8) with one change (a
// variant), trained and evaluated at 1x-16x on both fillers. What the reproduce page's
// "Passkey pilots at scale" table was made with; its `tinywide` variant is what the scale
// plan's passkey track became (variant `plan`: the plan's passkey track as it is now).
//   node --conditions=source --import tsx bench/passkey-pilot.ts <variant> [model] [--out DIR]
// Variants: base, heads1, chunk8, win16, layers2, dim64, steps2x, len128, fulltrain, tinymodel,
// tiny, tinyb8, tinywide, win16c8full, plan (see VARIANTS). --out defaults to
// runs/pilot-<variant>-<model> under the repository root; an existing run there is resumed.
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SCALE_MODEL, resolvePlan, runPlan, type ModelName, type ReproducePlan } from '../src/index.ts';

type Passkey = ReproducePlan['passkey'];

const scale = resolvePlan('scale');
const full = resolvePlan('full');
/**
 * The scale plan's passkey track before it took the `tinywide` shape: SCALE_MODEL (width 128,
 * 4 blocks, 4 heads, 4 memory heads, chunks of 32) with a window and segment of 32 and a linear
 * memory that never forgets, trained 230 steps of 8 sequences (1,840). The pilots' baseline.
 */
export const EARLIER_PASSKEY: Passkey = {
  ...scale.passkey,
  model: { ...SCALE_MODEL, window: 32, segmentLength: 32, memory: { ...SCALE_MODEL.memory, depth: 1, thetaMax: 1, forgetting: false } },
  train: { ...full.passkey.train, steps: 230, batchSize: 8, warmupSteps: 23 },
};
const pk = EARLIER_PASSKEY;
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
  plan: { model: scale.passkey.model, train: scale.passkey.train },
};

/** The one-model, one-seed plan of a pilot: the scale plan with the variant's passkey track. */
export function pilotPlan(variant: string, model: ModelName): ReproducePlan {
  const change = VARIANTS[variant];
  if (!change) throw new Error(`passkey-pilot: unknown variant '${variant}' (one of ${Object.keys(VARIANTS).join(', ')})`);
  return { ...scale, seeds: [0], passkey: { ...pk, ...change, models: [model] } };
}

// Run as a script (imported, it only defines the variants).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const positional = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && all[i - 1] !== '--out');
  const [variant = 'base', model = 'mag'] = positional;
  const plan = pilotPlan(variant, model as ModelName);
  const outFlag = process.argv.indexOf('--out');
  const root = fileURLToPath(new URL('../../..', import.meta.url));
  const out = outFlag > 0 ? resolve(process.argv[outFlag + 1]!) : resolve(root, 'runs', `pilot-${variant}-${model}`);
  const started = Date.now();
  const summary = await runPlan(plan, { out, resume: true, only: [`train-passkey-${model}`, `passkey-${model}`], log: (line) => console.log(line) });
  console.log(`${variant} ${model}: ${((Date.now() - started) / 1000).toFixed(0)} s, results in ${out}/results/passkey-${model}.json${summary.failed.length ? `, failed: ${summary.failed.join(', ')}` : ''}`);
}
