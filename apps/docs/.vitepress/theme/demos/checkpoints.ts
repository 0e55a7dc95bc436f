// The trained checkpoints that ship with the site, one folder per set: public/checkpoints/
// (the full plan's tiny models, written by scripts/checkpoints.ts) and
// public/checkpoints/scale/ (the scale plan's best models, written by exportForDocs of
// @titans/experiments). Here: the manifest's shape and its checks, loading a model from
// the site's base path, and the compact passkey evaluation the run did, so the demos run
// the same prompts through the same weights in the browser.
import { ByteTokenizer, compactPasskey, deriveSeed } from '@titans/data';
import { checkNiahAnswer } from '@titans/eval';
import { asGenerativeModel, createModel, loadModelBytes, type ModelConfigInput, type TitansLanguageModel } from '@titans/models';
import { nextFrame } from './backend';
import { checkpointsUrl, type CheckpointSet } from './sets';

export { CHECKPOINT_SETS, checkpointsUrl, isCheckpointSet, setLabel, type CheckpointSet } from './sets';

/** One shipped model: where its files are (relative to the checkpoints folder) and what the run measured. */
export interface ShippedModel {
  /** The model's name in `titans reproduce` (mag, mal, lmm, mac, swa, ...); also its folder. */
  readonly name: string;
  /** Scale-plan exports: the model family (titans, attention, recurrent, atlas, hope) it is the best of. */
  readonly family?: string;
  /**
   * Scale-plan exports: the seed it was trained and evaluated with; its evaluation prompts
   * derive from this seed. Absent in the full plan's manifest (one seed: task.seed).
   */
  readonly seed?: number;
  readonly label: string;
  readonly architecture: string;
  readonly parameters: number;
  readonly weights: string;
  readonly configFile: string;
  readonly config: ModelConfigInput & { architecture: string };
  /** Size of the weights file in bytes. */
  readonly bytes: number;
  /** The run's checkpoint directory it was copied from (relative to the repository). */
  readonly checkpoint: string;
  /** AdamW + warmup/cosine settings it was trained with. */
  readonly recipe: { steps: number; batchSize: number; lr: number; weightDecay: number; warmupSteps: number; clipNorm: number };
  readonly training: { steps: number; tokens: number; finalLoss: number; seconds: number };
  /** Scale-plan exports: mean passkey accuracy beyond the training length (how it was picked). */
  readonly score?: number;
  /** Accuracies the run measured (greedy decoding, CPU). */
  readonly measured: {
    readonly byLength: readonly { length: number; accuracy: number }[];
    readonly cells: readonly { length: number; depth: number; correct: number; total: number }[];
    /** The same prompts with filler never seen in training (runs with held-out filler only). */
    readonly heldOut?: { readonly byLength: readonly { length: number; accuracy: number }[] };
    readonly resultHash: string;
  };
}

export interface CheckpointManifest {
  readonly format: 'titans-docs-checkpoints';
  readonly version: 1;
  readonly source: { command: string; where: string; plan: string; /** git HEAD when the checkpoints were copied (the run may predate it). */ commitAtCopy: string; copiedBy: string };
  readonly task: {
    readonly name: string;
    readonly description: string;
    readonly promptBuilder: string;
    readonly seed: number;
    readonly trainLength: number;
    readonly digits: number;
    readonly lengths: readonly number[];
    readonly depths: readonly number[];
    readonly samplesPerCell: number;
    readonly model: unknown;
  };
  /** The two models of the "MAC vs sliding window" demo, and why that memory model. */
  readonly versus: { readonly memory: string; readonly window: string; readonly reason: string };
  /** Scale-plan exports: the size budget and what the weights and configs take of it. */
  readonly budget?: { readonly bytes: number; readonly weightsAndConfigs: number };
  /** Scale-plan exports: families not shipped, and why. */
  readonly dropped?: readonly { readonly family: string; readonly reason: string }[];
  readonly models: readonly ShippedModel[];
}

function fail(where: string, problem: string): never {
  throw new Error(`${where}: ${problem}`);
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isNumberList = (x: unknown): x is number[] => Array.isArray(x) && x.every((v) => typeof v === 'number' && Number.isFinite(v));

/**
 * Checks that `value` (a parsed manifest.json) is a checkpoint manifest of version 1 the
 * demos can use, and returns it typed; `where` names the file in the error.
 */
export function parseManifest(value: unknown, where: string): CheckpointManifest {
  if (!isRecord(value) || value.format !== 'titans-docs-checkpoints' || value.version !== 1) fail(where, 'not a checkpoint manifest of version 1');
  const { source, task, versus, models } = value;
  if (!isRecord(source) || typeof source.command !== 'string' || typeof source.plan !== 'string' || typeof source.commitAtCopy !== 'string') {
    fail(where, 'source must name the command, the plan and the commit');
  }
  if (!isRecord(task) || !isNumberList(task.lengths) || task.lengths.length === 0 || !isNumberList(task.depths) || task.depths.length === 0) {
    fail(where, 'task must list the evaluation lengths and depths');
  }
  for (const key of ['seed', 'trainLength', 'digits', 'samplesPerCell'] as const) {
    if (typeof task[key] !== 'number' || !Number.isInteger(task[key])) fail(where, `task.${key} must be an integer`);
  }
  if (!Array.isArray(models) || models.length === 0) fail(where, 'lists no models');
  const names = new Set<string>();
  for (const [i, m] of models.entries()) {
    if (!isRecord(m) || typeof m.name !== 'string' || typeof m.weights !== 'string' || typeof m.configFile !== 'string') {
      fail(where, `models[${i}] must have a name, a weights file and a config file`);
    }
    if (names.has(m.name)) fail(where, `model ${m.name} is listed twice`);
    names.add(m.name);
    if (m.seed !== undefined && (typeof m.seed !== 'number' || !Number.isInteger(m.seed))) fail(where, `model ${m.name}: seed must be an integer`);
    const measured = m.measured;
    if (!isRecord(measured) || !Array.isArray(measured.byLength) || !Array.isArray(measured.cells)) fail(where, `model ${m.name}: measured must have byLength and cells`);
  }
  if (!isRecord(versus) || typeof versus.memory !== 'string' || typeof versus.window !== 'string') fail(where, 'versus must name a memory model and a window model');
  for (const side of [versus.memory, versus.window]) if (!names.has(side)) fail(where, `versus names ${side}, which is not one of its models`);
  return value as unknown as CheckpointManifest;
}

/** The seed a model's evaluation prompts derive from: its own (scale exports) or the run's. */
export function promptSeed(manifest: CheckpointManifest, entry?: ShippedModel): number {
  return entry?.seed ?? manifest.task.seed;
}

async function fetchOk(url: string): Promise<Response> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`could not load ${url}: HTTP ${response.status}`);
  return response;
}

const manifests = new Map<string, Promise<CheckpointManifest>>();

/** The manifest of a checkpoint set (fetched once per page). */
export function loadManifest(base: string, set: CheckpointSet = 'full'): Promise<CheckpointManifest> {
  const url = `${checkpointsUrl(base, set)}manifest.json`;
  let manifest = manifests.get(url);
  if (!manifest) {
    manifest = fetchOk(url).then(async (r) => parseManifest(await r.json(), url));
    manifest.catch(() => manifests.delete(url));
    manifests.set(url, manifest);
  }
  return manifest;
}

export function shipped(manifest: CheckpointManifest, name: string): ShippedModel {
  const model = manifest.models.find((m) => m.name === name);
  if (!model) throw new Error(`the site ships no checkpoint named ${name} (has ${manifest.models.map((m) => m.name).join(', ')})`);
  return model;
}

const weights = new Map<string, Promise<Uint8Array>>();

/** Builds a model from its config and loads checkpoint bytes into it, in evaluation mode. */
export function modelFromCheckpoint(config: ModelConfigInput, bytes: Uint8Array, where: string): TitansLanguageModel {
  const model = createModel(config);
  loadModelBytes(model, bytes, where);
  model.eval();
  return model;
}

/**
 * Builds the model from its config and loads the shipped weights of a set into it, on the
 * backend that is active now (pickBackend first). The weights are fetched once per page.
 */
export async function loadShippedModel(base: string, entry: ShippedModel, set: CheckpointSet = 'full'): Promise<TitansLanguageModel> {
  const root = checkpointsUrl(base, set);
  const url = `${root}${entry.weights}`;
  let bytes = weights.get(url);
  if (!bytes) {
    bytes = fetchOk(url).then(async (r) => new Uint8Array(await r.arrayBuffer()));
    bytes.catch(() => weights.delete(url));
    weights.set(url, bytes);
  }
  const config = (await (await fetchOk(`${root}${entry.configFile}`)).json()) as ModelConfigInput;
  return modelFromCheckpoint(config, await bytes, url);
}

/**
 * One evaluation prompt of the run's grid (training filler): the same bytes `titans
 * reproduce` used for `entry` (each scale-plan model has its own seed; without an entry,
 * the run's seed).
 */
export function passkeyPrompt(manifest: CheckpointManifest, length: number, depth: number, index: number, entry?: ShippedModel): ReturnType<typeof compactPasskey> {
  const seed = promptSeed(manifest, entry);
  return compactPasskey({ length, depth, digits: manifest.task.digits, seed: deriveSeed(seed, 'passkey-eval', length, depth, index) });
}

export interface PasskeyAnswer {
  readonly length: number;
  readonly depth: number;
  readonly index: number;
  readonly prompt: string;
  readonly passkey: string;
  /** What the model generated (greedy), digits + 2 bytes. */
  readonly output: string;
  readonly correct: boolean;
}

/**
 * Greedy decoding after one prompt; correct when the passkey appears whole (the run's
 * check). `promptsOf` picks whose prompts (see passkeyPrompt): the model's own to
 * reproduce the run, another model's to compare two models on the same prompts.
 */
export async function answerPasskey(
  model: TitansLanguageModel, manifest: CheckpointManifest, length: number, depth: number, index: number, promptsOf?: ShippedModel,
): Promise<PasskeyAnswer> {
  const tokenizer = new ByteTokenizer();
  const sample = passkeyPrompt(manifest, length, depth, index, promptsOf);
  const generator = asGenerativeModel(model, { chunkLength: 512 });
  const output = tokenizer.decode(await generator.generate(tokenizer.encode(sample.prompt), { maxNewTokens: manifest.task.digits + 2 }));
  await nextFrame();
  return { length, depth, index, prompt: sample.prompt, passkey: sample.passkey, output, correct: checkNiahAnswer(output, sample.passkey) };
}
