// Demo 3: the trained memory model and the trained sliding-window model of one of the
// site's checkpoint sets, side by side on the same passkey prompts. Both were trained by
// `titans reproduce` with the same recipe on 64-byte prompts; the manifest names the two
// models (the full plan: MAC when its checkpoint retrieves, else MAG; the scale plan: the
// best Titans model and the best attention model) and why. Both read the memory model's
// evaluation prompts (in the scale plan each model has its own seed, so the window
// model's "run" accuracies are over its own prompts, with the same lengths and depths).
import { WebGPUBackend } from '@titans/webgpu';
import { pickBackend } from './backend';
import { answerPasskey, loadManifest, loadShippedModel, shipped, type CheckpointManifest, type CheckpointSet, type PasskeyAnswer, type ShippedModel } from './checkpoints';

export interface VersusOptions {
  base: string;
  /** Which checkpoint set (default 'full'). */
  set?: CheckpointSet;
  lengths: readonly number[];
  samplesPerCell: number;
  preferWebGPU: boolean;
  onProgress?: (done: number, total: number, label: string) => void;
}

export interface VersusSide {
  readonly model: ShippedModel;
  readonly answers: PasskeyAnswer[];
  readonly byLength: { length: number; accuracy: number }[];
}

export interface VersusResult {
  readonly set: CheckpointSet;
  readonly manifest: CheckpointManifest;
  /** [memory model, sliding window]. */
  readonly sides: [VersusSide, VersusSide];
  readonly lengths: readonly number[];
  readonly depths: readonly number[];
  readonly backend: string;
  readonly seconds: number;
}

export async function runVersus(options: VersusOptions): Promise<VersusResult> {
  const set = options.set ?? 'full';
  const manifest = await loadManifest(options.base, set);
  const active = await pickBackend(options.preferWebGPU);
  const depths = manifest.task.depths;
  const entries = [shipped(manifest, manifest.versus.memory), shipped(manifest, manifest.versus.window)] as const;
  const models = await Promise.all(entries.map((e) => loadShippedModel(options.base, e, set)));
  const total = 2 * options.lengths.length * depths.length * options.samplesPerCell;
  const answers: [PasskeyAnswer[], PasskeyAnswer[]] = [[], []];
  const started = performance.now();
  let done = 0;
  try {
    // Prompt by prompt, both models in turn, so the two columns fill in together.
    for (const length of options.lengths) {
      for (const depth of depths) {
        for (let i = 0; i < options.samplesPerCell; i++) {
          for (const side of [0, 1] as const) {
            answers[side].push(await answerPasskey(models[side], manifest, length, depth, i, entries[0]));
            done++;
            options.onProgress?.(done, total, `${length} bytes, depth ${Math.round(100 * depth)}%`);
          }
        }
      }
    }
  } finally {
    if (active.backend instanceof WebGPUBackend) for (const m of models) for (const p of m.parameters()) p.dispose();
  }
  const side = (s: 0 | 1): VersusSide => ({
    model: entries[s],
    answers: answers[s],
    byLength: options.lengths.map((length) => {
      const at = answers[s].filter((a) => a.length === length);
      return { length, accuracy: at.filter((a) => a.correct).length / Math.max(1, at.length) };
    }),
  });
  return { set, manifest, sides: [side(0), side(1)], lengths: options.lengths, depths, backend: active.label, seconds: (performance.now() - started) / 1000 };
}

/** How far back the needle is: bytes from the start of the pass key to the end of the prompt. */
export function needleDistance(answer: PasskeyAnswer): number {
  return answer.prompt.length - answer.prompt.indexOf(`${answer.passkey}.`);
}
