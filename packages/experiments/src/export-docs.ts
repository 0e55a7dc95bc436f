// Ships a run's best passkey checkpoints to the docs site's demos: one model per family
// (Titans memory models, attention baselines, linear recurrences, the Atlas and Hope
// families), the best of the family's models and seeds by the passkey accuracy the run
// measured beyond the training length, within a size budget (20 MB by default). Writes the
// weights, their configs and a manifest in the shape the demos read
// (apps/docs/.vitepress/theme/demos/checkpoints.ts), into a temporary folder first and then
// renamed over the destination, so the site never sees half an export.
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative } from 'node:path';
import { checkpointDir, planExperiments, planSeeds, readResult, seededPlan, trainRecipe, type PasskeyExperimentResult, type TrainResultSummary } from './experiments.ts';
import type { ModelName, ReproducePlan } from './recipes.ts';
import { modelLabel, provenance } from './report.ts';
import { ReproduceError } from './run.ts';

/** The docs demos' size budget for shipped checkpoints (issue 25): 20 MB. */
export const DOCS_BUDGET_BYTES = 20_000_000;

/** Model families of the export, in priority order (the first ones are shipped first when the budget is tight). */
export const DOC_FAMILIES: Readonly<Record<string, readonly ModelName[]>> = {
  titans: ['mac', 'mag', 'mal', 'lmm'],
  attention: ['swa', 'transformer'],
  recurrent: ['gated-deltanet', 'deltanet', 'moneta'],
  atlas: ['atlas', 'atlas-mag', 'atlas-mal', 'omeganet'],
  hope: ['hope', 'hope-attention'],
};

export interface ExportForDocsOptions {
  /** The run's output directory (results/ and checkpoints/). */
  readonly run: string;
  /** The folder to write (e.g. apps/docs/public/checkpoints/scale); replaced as a whole. */
  readonly dest: string;
  /** Most bytes of weights, configs and manifest together (default DOCS_BUDGET_BYTES). */
  readonly budgetBytes?: number;
  /** Families and their models (default DOC_FAMILIES); a family's best model is shipped. */
  readonly families?: Readonly<Record<string, readonly ModelName[]>>;
  /** Families that must be shipped: the export fails when one has no model or does not fit (default titans and attention, the two of the versus demo). */
  readonly required?: readonly string[];
  /** The command that made the run, recorded in the manifest. */
  readonly command?: string;
}

/** The run's folder as the manifest records it: relative to the working directory when inside it (no machine paths in a shipped file). */
function runLocation(run: string): string {
  const inside = relative(process.cwd(), run);
  return inside && !inside.startsWith('..') && !isAbsolute(inside) ? inside : isAbsolute(run) ? basename(run) : run;
}

/** One shipped checkpoint, in the demos' ShippedModel shape plus where it came from in the run. */
export interface ExportedModel {
  readonly name: string;
  readonly family: string;
  readonly seed: number;
  readonly label: string;
  readonly architecture: string;
  readonly parameters: number;
  readonly weights: string;
  readonly configFile: string;
  readonly config: { readonly architecture: string } & Record<string, unknown>;
  /** Bytes of the weights file. */
  readonly bytes: number;
  /** Its checkpoint folder in the run (relative to the run's folder, the manifest's source.where). */
  readonly checkpoint: string;
  readonly recipe: ReturnType<typeof trainRecipe>;
  readonly training: { steps: number; tokens: number; finalLoss: number; seconds: number };
  /** Mean passkey accuracy beyond the training length (both fillers when the run has the held-out one): how it was picked. */
  readonly score: number;
  readonly measured: {
    readonly byLength: readonly { length: number; accuracy: number }[];
    readonly cells: readonly { length: number; depth: number; correct: number; total: number }[];
    readonly heldOut?: { readonly byLength: readonly { length: number; accuracy: number }[] };
    readonly resultHash: string;
  };
}

export interface DocsExport {
  readonly dest: string;
  readonly manifest: string;
  readonly models: readonly ExportedModel[];
  /** Families not shipped, and why (no model in the run, over the budget). */
  readonly dropped: readonly { family: string; reason: string }[];
  /** Bytes written (weights, configs, manifest). */
  readonly totalBytes: number;
  readonly budgetBytes: number;
}

interface Candidate {
  readonly model: ExportedModel;
  readonly source: string;
  readonly bytes: number;
  readonly atTraining: number;
}

const mean = (xs: readonly number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

/** The best current checkpoint of a family (every model and seed of it on the plan's passkey track), or why there is none. */
function bestOfFamily(plan: ReproducePlan, run: string, family: string, models: readonly ModelName[]): Candidate | string {
  const all = planExperiments(plan);
  const { trainLength } = plan.passkey;
  let top: Candidate | undefined;
  const reasons: string[] = [];
  for (const name of models.filter((m) => plan.passkey.models.includes(m))) {
    for (const seed of planSeeds(plan)) {
      const trainExperiment = all.find((e) => e.kind === 'train' && e.track === 'passkey' && e.model === name && e.seed === seed);
      const evalExperiment = all.find((e) => e.kind === 'passkey' && e.model === name && e.seed === seed);
      // A model trained on fewer seeds than the plan's (passkey.seedsByModel) has none at the others.
      if (!trainExperiment || !evalExperiment) continue;
      const training = readResult<TrainResultSummary>(run, plan, trainExperiment);
      const evaluation = readResult<PasskeyExperimentResult>(run, plan, evalExperiment);
      const source = checkpointDir(run, seededPlan(plan, seed), name, 'passkey');
      if (!training || !evaluation || !existsSync(join(source, 'model.safetensors'))) {
        reasons.push(`${evalExperiment.id}: ${!training ? 'not trained' : !evaluation ? 'not evaluated' : 'no checkpoint'}`);
        continue;
      }
      const result = evaluation.result;
      const beyond = (byLength: readonly { length: number; accuracy: number }[]): number[] => byLength.filter((b) => b.length > trainLength).map((b) => b.accuracy);
      const score = mean([...beyond(result.byLength), ...(result.heldOut ? beyond(result.heldOut.byLength) : [])]);
      const atTraining = result.byLength.find((b) => b.length === trainLength)?.accuracy ?? 0;
      const config = JSON.parse(readFileSync(join(source, 'config.json'), 'utf8')) as ExportedModel['config'];
      const bytes = statSync(join(source, 'model.safetensors')).size + statSync(join(source, 'config.json')).size;
      const model: ExportedModel = {
        name, family, seed, label: modelLabel(name), architecture: config.architecture, parameters: training.result.parameters,
        weights: `${name}/model.safetensors`, configFile: `${name}/config.json`, config, bytes: statSync(join(source, 'model.safetensors')).size,
        checkpoint: join('checkpoints', basename(source)), recipe: trainRecipe(plan, name, 'passkey'),
        training: { steps: training.result.steps, tokens: training.result.tokens, finalLoss: training.result.finalLoss, seconds: training.result.trainSeconds },
        score,
        measured: {
          byLength: result.byLength, cells: result.cells.map(({ length, depth, correct, total }) => ({ length, depth, correct, total })),
          ...(result.heldOut ? { heldOut: { byLength: result.heldOut.byLength } } : {}), resultHash: evaluation.specHash,
        },
      };
      // Best score; then best at the training length; then the earlier model of the family and the earlier seed (the loops' order).
      if (!top || score > top.model.score || (score === top.model.score && atTraining > top.atTraining)) top = { model, source, bytes, atTraining };
    }
  }
  return top ?? (reasons.length ? `no finished passkey checkpoint (${reasons.join(', ')})` : `no model of the family (${models.join(', ')}) on the plan's passkey track`);
}

/**
 * Copies the best passkey checkpoint of each model family of a run into `dest`, within the
 * size budget, with a manifest. Families are taken in order; an optional family that would
 * pass the budget is dropped (and named in the result and the manifest), a required one
 * that is missing or does not fit is an error. Nothing is written unless the whole export
 * succeeds, and `dest` is replaced in one rename.
 */
export function exportForDocs(plan: ReproducePlan, options: ExportForDocsOptions): DocsExport {
  const budget = options.budgetBytes ?? DOCS_BUDGET_BYTES;
  if (!(Number.isFinite(budget) && budget > 0)) throw new RangeError(`exportForDocs: budgetBytes must be a positive number, got ${budget}`);
  const families = options.families ?? DOC_FAMILIES;
  const required = options.required ?? ['titans', 'attention'];
  for (const f of required) if (!Object.hasOwn(families, f)) throw new ReproduceError(`exportForDocs: required family '${f}' is not one of ${Object.keys(families).join(', ')}`);
  // The manifest's size is not known before it is written: keep 64 KB of the budget for it.
  const manifestReserve = Math.min(65_536, Math.floor(budget / 4));
  const chosen: Candidate[] = [];
  const dropped: { family: string; reason: string }[] = [];
  let used = 0;
  const order = [...required, ...Object.keys(families).filter((f) => !required.includes(f))];
  for (const family of order) {
    const best = bestOfFamily(plan, options.run, family, families[family]!);
    if (typeof best === 'string') {
      if (required.includes(family)) throw new ReproduceError(`exportForDocs: family '${family}': ${best}`);
      dropped.push({ family, reason: best });
      continue;
    }
    if (used + best.bytes + manifestReserve > budget) {
      const reason = `${best.model.name} (${(best.bytes / 1e6).toFixed(2)} MB) would pass the ${(budget / 1e6).toFixed(2)} MB budget (${(used / 1e6).toFixed(2)} MB already chosen, ${(manifestReserve / 1e6).toFixed(2)} MB kept for the manifest)`;
      if (required.includes(family)) throw new ReproduceError(`exportForDocs: family '${family}': ${reason}`);
      dropped.push({ family, reason });
      continue;
    }
    chosen.push(best);
    used += best.bytes;
  }
  const titans = chosen.find((c) => c.model.family === 'titans')?.model;
  const window = chosen.find((c) => c.model.family === 'attention')?.model;
  const prov = provenance(options.command ?? `titans reproduce --plan ${plan.name}`);
  const { trainLength, digits, multiples, depths, samplesPerCell } = plan.passkey;
  const manifest = {
    format: 'titans-docs-checkpoints',
    version: 1,
    source: {
      command: prov.command, where: runLocation(options.run), plan: plan.name,
      commitAtCopy: `${prov.commit}${prov.dirty ? ' (with uncommitted changes)' : ''}`, copiedBy: 'exportForDocs of @titans/experiments',
    },
    task: {
      name: 'compact byte-level passkey',
      description: `Filler sentences with "The pass key is NNNNN." at a sentence boundary, then " The pass key is"; the model must continue with " NNNNN.". Bytes are tokens. Trained on the answer tokens only, at ${trainLength} bytes; evaluated by greedy decoding at ${multiples.map((m) => `${m}x`).join(', ')} that length${plan.passkey.heldOutFiller ? ', with the training filler and with filler never seen in training' : ''}.`,
      promptBuilder: "compactPasskey from @titans/data (held-out filler: passkeyPrompt of @titans/experiments); evaluation prompt i of a cell: seed deriveSeed(the model's seed, 'passkey-eval', length, depth, i)",
      seed: plan.seed, trainLength, digits, lengths: multiples.map((m) => m * trainLength),
      depths: depths === 1 ? [0.5] : Array.from({ length: depths }, (_, i) => i / (depths - 1)), samplesPerCell, model: plan.passkey.model,
    },
    versus: {
      memory: titans?.name ?? '', window: window?.name ?? '',
      reason: titans && window ? `the best Titans model (${titans.name}, seed ${titans.seed}) and the best attention baseline (${window.name}, seed ${window.seed}) by passkey accuracy beyond the training length` : 'the run lacks one of the two families',
    },
    budget: { bytes: budget, weightsAndConfigs: used },
    families: Object.fromEntries(order.map((f) => [f, families[f]!])),
    dropped,
    models: chosen.map((c) => c.model),
  };
  const text = `${JSON.stringify(manifest, null, 2)}\n`;
  const totalBytes = used + Buffer.byteLength(text);
  if (totalBytes > budget) throw new ReproduceError(`exportForDocs: ${totalBytes} bytes with the manifest pass the budget of ${budget}`);

  // Write everything beside dest, then swap it in.
  const dest = options.dest;
  mkdirSync(dirname(dest), { recursive: true });
  const temporary = `${dest}.tmp-${process.pid}`;
  rmSync(temporary, { recursive: true, force: true });
  mkdirSync(temporary, { recursive: true });
  try {
    for (const c of chosen) {
      mkdirSync(join(temporary, c.model.name), { recursive: true });
      copyFileSync(join(c.source, 'model.safetensors'), join(temporary, c.model.weights));
      copyFileSync(join(c.source, 'config.json'), join(temporary, c.model.configFile));
    }
    writeFileSync(join(temporary, 'manifest.json'), text);
    const old = `${dest}.old-${process.pid}`;
    if (existsSync(dest)) renameSync(dest, old);
    renameSync(temporary, dest);
    rmSync(old, { recursive: true, force: true });
  } catch (error) {
    rmSync(temporary, { recursive: true, force: true });
    throw error;
  }
  return { dest, manifest: join(dest, 'manifest.json'), models: manifest.models, dropped, totalBytes, budgetBytes: budget };
}
