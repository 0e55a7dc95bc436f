// Demo 1: stream text through a neural memory and record, per token, the surprise (the
// associative-memory loss the memory takes a gradient step on) and the gates.
//   - traceTrainedSurprise: the memories inside a trained checkpoint shipped with the site
//     (the model reads the text 64 bytes per forward call, state carried); its projections
//     and gates are the ones training learned.
//   - traceSurprise: a bare, untrained NeuralMemory with a Miras preset: random projections,
//     gate biases from the sliders, gate weights shrunk so the gates vary a little with the
//     token around those set points. It shows the mechanism (test-time learning lowers the
//     loss on text seen before), not a trained model's gates.
import { indexSelect, keep, mean, mul, noGrad, reshape, tensor, tidyAsync, type Tensor } from '@titans/tensor';
import { NeuralMemory, type NeuralMemoryState, type PresetName, type Surprise } from '@titans/memory';
import { ByteTokenizer } from '@titans/data';
import { asGenerativeModel, releaseModelState } from '@titans/models';
import { WebGPUBackend } from '@titans/webgpu';
import { pickBackend } from './backend';
import { loadManifest, loadShippedModel, shipped, type CheckpointSet } from './checkpoints';

export interface SurpriseOptions {
  text: string;
  preset: PresetName;
  /** Set points of the gates in (0, 1): learning rate, momentum decay, forgetting. */
  theta: number;
  eta: number;
  alpha: number;
  preferWebGPU: boolean;
  /** Tokens per forward call: the text streams through in pieces with the state carried. */
  pieceTokens?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface SurpriseTrace {
  readonly tokens: string[];
  /** Per-token loss, averaged over heads. */
  readonly loss: number[];
  readonly theta: number[];
  readonly eta: number[];
  readonly alpha: number[];
  readonly backend: string;
  readonly milliseconds: number;
  readonly pieces: number;
  /** On WebGPU: kernels dispatched and pipelines compiled during the run. */
  readonly work?: string;
  /** Trained checkpoints only: the surprise of each memory layer, the model, what it generates next. */
  readonly layers?: number[][];
  readonly model?: string;
  /** False when the checkpoint's memory does not forget (α is computed but unused). */
  readonly forgetting?: boolean;
  readonly continuation?: string;
}

export interface TrainedSurpriseOptions {
  /** The site's base path (VitePress `site.base`). */
  base: string;
  /** A shipped checkpoint with a neural memory (mag, mal, lmm, mac). */
  model: string;
  /** The checkpoint set it is in (default 'full'). */
  set?: CheckpointSet;
  text: string;
  preferWebGPU: boolean;
  pieceTokens?: number;
  /** Bytes to generate after the text (greedy); 0 for none. */
  continueTokens?: number;
  onProgress?: (done: number, total: number) => void;
}

const disposeSurprise = (s: Surprise): void => {
  for (const t of [s.loss, s.theta, s.eta, s.alpha]) t.dispose();
};

/**
 * Streams text through a shipped checkpoint and records what each of its neural memories
 * saw: every block's memory.forward is wrapped for the run to keep its surprise (loss and
 * gates, [1, heads, tokens]), read back after each piece.
 */
export async function traceTrainedSurprise(options: TrainedSurpriseOptions): Promise<SurpriseTrace> {
  const manifest = await loadManifest(options.base, options.set);
  const entry = shipped(manifest, options.model);
  const active = await pickBackend(options.preferWebGPU);
  const model = await loadShippedModel(options.base, entry, options.set);
  const memories = model.blocks.map((b) => (b as { memory?: unknown }).memory).filter((m): m is NeuralMemory => m instanceof NeuralMemory);
  if (memories.length === 0) throw new Error(`${entry.label} has no neural memory to trace`);
  const tokenizer = new ByteTokenizer();
  const ids = tokenizer.encode(options.text);
  if (ids.length === 0) throw new Error('Type some text first.');
  let sink: Surprise[][] = memories.map(() => []);
  const originals = memories.map((memory, i) => {
    const forward = memory.forward.bind(memory);
    memory.forward = ((x, state) => {
      const out = forward(x, state);
      const { loss, theta, eta, alpha } = out.surprise;
      sink[i]!.push({ loss: keep(loss), theta: keep(theta), eta: keep(eta), alpha: keep(alpha) });
      return out;
    }) as NeuralMemory['forward'];
    return forward;
  });
  const restore = (): void => memories.forEach((memory, i) => (memory.forward = originals[i]!));
  const piece = options.pieceTokens ?? 64;
  const layers: number[][] = memories.map(() => []);
  const gates = { theta: memories.map((): number[] => []), eta: memories.map((): number[] => []), alpha: memories.map((): number[] => []) };
  const gpu = active.backend instanceof WebGPUBackend ? active.backend : null;
  const before = gpu?.stats();
  const started = performance.now();
  let pieces = 0;
  let continuation: string | undefined;
  let state = model.initialState(1);
  try {
    for (let start = 0; start < ids.length; start += piece) {
      const chunk = Array.from(ids.slice(start, start + piece));
      sink = memories.map(() => []);
      const next = await tidyAsync(async () => noGrad(() => model.forward(tensor(chunk, [1, chunk.length], { dtype: 'int32' }), state)).state);
      releaseModelState(state, next);
      state = next;
      for (let i = 0; i < memories.length; i++) {
        // MAC calls its memory once per segment; the others once per piece.
        for (const s of sink[i]!) {
          layers[i]!.push(...(await headMean(s.loss)));
          gates.theta[i]!.push(...(await headMean(s.theta)));
          gates.eta[i]!.push(...(await headMean(s.eta)));
          gates.alpha[i]!.push(...(await headMean(s.alpha)));
          disposeSurprise(s);
        }
        sink[i] = [];
      }
      pieces++;
      options.onProgress?.(Math.min(ids.length, start + piece), ids.length);
    }
    releaseModelState(state);
    restore();
    if (options.continueTokens) {
      const generated = await asGenerativeModel(model).generate(ids, { maxNewTokens: options.continueTokens });
      continuation = tokenizer.decode(generated);
    }
  } finally {
    restore();
    for (const list of sink) for (const s of list) disposeSurprise(s);
    if (gpu) for (const p of model.parameters()) p.dispose();
  }
  const milliseconds = performance.now() - started;
  const after = gpu?.stats();
  const work = before && after ? `${after.dispatches - before.dispatches} kernel dispatches, ${after.pipelines - before.pipelines} pipelines compiled` : undefined;
  const overLayers = (series: number[][]): number[] => series[0]!.map((_, t) => series.reduce((s, l) => s + (l[t] ?? 0), 0) / series.length);
  const rule = (entry.config.memory as { ruleOverrides?: { forgetting?: boolean } } | undefined)?.ruleOverrides;
  return {
    tokens: Array.from(ids, (id) => tokenizer.decode([id])),
    loss: overLayers(layers),
    theta: overLayers(gates.theta),
    eta: overLayers(gates.eta),
    alpha: overLayers(gates.alpha),
    backend: active.label,
    milliseconds,
    pieces,
    ...(work ? { work } : {}),
    layers,
    model: entry.label,
    forgetting: rule?.forgetting !== false,
    ...(continuation === undefined ? {} : { continuation }),
  };
}

const DIM = 32;
const HEADS = 2;

const logit = (p: number): number => Math.log(p / (1 - p));

async function headMean(t: Tensor): Promise<number[]> {
  // [1, H, T] -> [T]
  return Array.from(await mean(t, 1).data());
}

export async function traceSurprise(options: SurpriseOptions): Promise<SurpriseTrace> {
  const active = await pickBackend(options.preferWebGPU);
  const tokenizer = new ByteTokenizer();
  const ids = tokenizer.encode(options.text);
  if (ids.length === 0) throw new Error('Type some text first.');
  const memory = new NeuralMemory(DIM, { heads: HEADS, rule: options.preset, seed: 7 });
  const gateBias = [options.theta, options.eta, options.alpha].flatMap((p) => new Array<number>(HEADS).fill(logit(p)));
  memory.loadStateDict({ 'gates.bias': tensor(gateBias, [3 * HEADS]), 'gates.weight': mul(memory.gates.weight, 0.1) }, { strict: false });
  // Byte embeddings with unit variance, so values are large enough to be worth storing.
  const embeddings = tensor(Array.from({ length: 256 * DIM }, (_, i) => gaussian(i)), [256, DIM]);
  const piece = options.pieceTokens ?? 64;
  const trace = { loss: [] as number[], theta: [] as number[], eta: [] as number[], alpha: [] as number[] };
  let state: NeuralMemoryState = memory.initialState();
  const gpu = active.backend instanceof WebGPUBackend ? active.backend : null;
  const before = gpu?.stats();
  const started = performance.now();
  let pieces = 0;
  for (let start = 0; start < ids.length; start += piece) {
    const chunk = ids.slice(start, start + piece);
    const result = await tidyAsync(async () => {
      const x = reshape(embeddingRows(embeddings, chunk), [1, chunk.length, DIM]);
      const out = noGrad(() => memory.forward(x, state));
      const s = out.surprise;
      return { state: out.state, loss: await headMean(s.loss), theta: await headMean(s.theta), eta: await headMean(s.eta), alpha: await headMean(s.alpha) };
    });
    state = result.state;
    trace.loss.push(...result.loss);
    trace.theta.push(...result.theta);
    trace.eta.push(...result.eta);
    trace.alpha.push(...result.alpha);
    pieces++;
    options.onProgress?.(Math.min(ids.length, start + piece), ids.length);
  }
  const milliseconds = performance.now() - started;
  const after = gpu?.stats();
  const work = before && after ? `${after.dispatches - before.dispatches} kernel dispatches, ${after.pipelines - before.pipelines} pipelines compiled` : undefined;
  return {
    tokens: ids.map((id) => tokenizer.decode([id])),
    ...trace,
    backend: active.label,
    milliseconds,
    pieces,
    ...(work ? { work } : {}),
  };
}

function embeddingRows(table: Tensor, ids: readonly number[]): Tensor {
  return indexSelect(table, 0, tensor(ids, [ids.length], { dtype: 'int32' }));
}

/** A deterministic standard normal value for index i (Box-Muller over a hash). */
function gaussian(i: number): number {
  const u = (hash(2 * i) + 0.5) / 4294967296;
  const v = (hash(2 * i + 1) + 0.5) / 4294967296;
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

function hash(n: number): number {
  let h = (n + 0x9e3779b9) | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Mean loss over token ranges, e.g. the first and second time a passage is read. */
export function meanOver(values: readonly number[], start: number, end: number): number {
  const slice = values.slice(start, end).filter(Number.isFinite);
  return slice.reduce((a, b) => a + b, 0) / Math.max(1, slice.length);
}

/** Where the text repeats itself: [first start, second start, length] of the longest repeated prefix split. */
export function findRepeat(text: string): { first: [number, number]; second: [number, number] } | null {
  const bytes = new TextEncoder().encode(text);
  // Look for the text's opening 24 bytes again later on.
  const probe = bytes.slice(0, Math.min(24, bytes.length));
  if (probe.length < 8) return null;
  for (let i = probe.length; i + probe.length <= bytes.length; i++) {
    let same = true;
    for (let j = 0; j < probe.length && same; j++) same = bytes[i + j] === probe[j];
    if (same) return { first: [0, i], second: [i, bytes.length] };
  }
  return null;
}
