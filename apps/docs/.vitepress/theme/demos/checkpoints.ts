// The trained checkpoints that ship with the site (public/checkpoints/, written by
// scripts/checkpoints.ts from a `titans reproduce` run): the manifest's shape, loading a
// model from the site's base path, and the compact passkey evaluation the run did, so the
// demos run the same prompts through the same weights in the browser.
import { ByteTokenizer, compactPasskey, deriveSeed } from '@titans/data';
import { checkNiahAnswer } from '@titans/eval';
import { asGenerativeModel, createModel, loadModelBytes, type ModelConfigInput, type TitansLanguageModel } from '@titans/models';
import { nextFrame } from './backend';

/** One shipped model: where its files are (relative to the checkpoints folder) and what the run measured. */
export interface ShippedModel {
  /** The model's name in `titans reproduce` (mag, mal, lmm, mac, swa, ...); also its folder. */
  readonly name: string;
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
  /** Accuracies the run measured (greedy decoding, CPU). */
  readonly measured: {
    readonly byLength: readonly { length: number; accuracy: number }[];
    readonly cells: readonly { length: number; depth: number; correct: number; total: number }[];
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
  readonly models: readonly ShippedModel[];
}

/** The site's checkpoints folder URL under `base` (VitePress's site base, e.g. '/' or '/titans-ts/'). */
export function checkpointsUrl(base: string): string {
  return `${base.endsWith('/') ? base : `${base}/`}checkpoints/`;
}

async function fetchOk(url: string): Promise<Response> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`could not load ${url}: HTTP ${response.status}`);
  return response;
}

const manifests = new Map<string, Promise<CheckpointManifest>>();

export function loadManifest(base: string): Promise<CheckpointManifest> {
  const url = `${checkpointsUrl(base)}manifest.json`;
  let manifest = manifests.get(url);
  if (!manifest) {
    manifest = fetchOk(url).then(async (r) => {
      const parsed = (await r.json()) as CheckpointManifest;
      if (parsed.format !== 'titans-docs-checkpoints' || parsed.version !== 1) throw new Error(`${url}: not a checkpoint manifest of version 1`);
      return parsed;
    });
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

/**
 * Builds the model from its config and loads the shipped weights into it, on the backend
 * that is active now (pickBackend first). The weights are fetched once per page.
 */
export async function loadShippedModel(base: string, entry: ShippedModel): Promise<TitansLanguageModel> {
  const root = checkpointsUrl(base);
  const url = `${root}${entry.weights}`;
  let bytes = weights.get(url);
  if (!bytes) {
    bytes = fetchOk(url).then(async (r) => new Uint8Array(await r.arrayBuffer()));
    bytes.catch(() => weights.delete(url));
    weights.set(url, bytes);
  }
  const config = (await (await fetchOk(`${root}${entry.configFile}`)).json()) as ModelConfigInput;
  const model = createModel(config);
  loadModelBytes(model, await bytes, url);
  model.eval();
  return model;
}

/** One evaluation prompt of the run's grid: the same bytes `titans reproduce` used. */
export function passkeyPrompt(manifest: CheckpointManifest, length: number, depth: number, index: number): ReturnType<typeof compactPasskey> {
  const { seed, digits } = manifest.task;
  return compactPasskey({ length, depth, digits, seed: deriveSeed(seed, 'passkey-eval', length, depth, index) });
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

/** Greedy decoding after one prompt; correct when the passkey appears whole (the run's check). */
export async function answerPasskey(model: TitansLanguageModel, manifest: CheckpointManifest, length: number, depth: number, index: number): Promise<PasskeyAnswer> {
  const tokenizer = new ByteTokenizer();
  const sample = passkeyPrompt(manifest, length, depth, index);
  const generator = asGenerativeModel(model, { chunkLength: 512 });
  const output = tokenizer.decode(await generator.generate(tokenizer.encode(sample.prompt), { maxNewTokens: manifest.task.digits + 2 }));
  await nextFrame();
  return { length, depth, index, prompt: sample.prompt, passkey: sample.passkey, output, correct: checkNiahAnswer(output, sample.passkey) };
}
