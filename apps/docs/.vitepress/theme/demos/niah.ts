// Demo 2: needle in a haystack with trained models. The checkpoints that ship with the site
// (public/checkpoints/ and public/checkpoints/scale/, trained by `titans reproduce` on the
// compact byte-level passkey; each model with its own evaluation seed) read
// the run's own evaluation prompts, a 5-digit pass key hidden in filler sentences at growing
// lengths and depths, and answer by greedy decoding; every cell of each heat map is the share
// of prompts whose pass key came back whole.
import { niahHeatmapSvg } from '@titans/eval';
import { WebGPUBackend } from '@titans/webgpu';
import { pickBackend } from './backend';
import { answerPasskey, loadManifest, loadShippedModel, shipped, type CheckpointManifest, type CheckpointSet, type PasskeyAnswer, type ShippedModel } from './checkpoints';

export interface NiahDemoOptions {
  /** The site's base path (VitePress `site.base`). */
  base: string;
  /** Which checkpoint set (default 'full'). */
  set?: CheckpointSet;
  /** Names of shipped models to run. */
  models: readonly string[];
  lengths: readonly number[];
  samplesPerCell: number;
  preferWebGPU: boolean;
  onProgress?: (done: number, total: number, label: string) => void;
}

export interface NiahDemoPanel {
  readonly model: ShippedModel;
  readonly svg: string;
  /** Accuracy per length in this browser. */
  readonly byLength: { length: number; accuracy: number }[];
  readonly overall: number;
  readonly answers: PasskeyAnswer[];
}

export interface NiahDemoResult {
  readonly set: CheckpointSet;
  readonly manifest: CheckpointManifest;
  readonly panels: NiahDemoPanel[];
  readonly depths: readonly number[];
  readonly lengths: readonly number[];
  readonly backend: string;
  readonly seconds: number;
}

export async function runNiahDemo(options: NiahDemoOptions): Promise<NiahDemoResult> {
  const set = options.set ?? 'full';
  const manifest = await loadManifest(options.base, set);
  const active = await pickBackend(options.preferWebGPU);
  const depths = manifest.task.depths;
  const models = options.models.map((name) => shipped(manifest, name));
  const total = models.length * options.lengths.length * depths.length * options.samplesPerCell;
  const started = performance.now();
  let done = 0;
  const panels: NiahDemoPanel[] = [];
  for (const entry of models) {
    const model = await loadShippedModel(options.base, entry, set);
    const answers: PasskeyAnswer[] = [];
    try {
      for (const length of options.lengths) {
        for (const depth of depths) {
          for (let i = 0; i < options.samplesPerCell; i++) {
            answers.push(await answerPasskey(model, manifest, length, depth, i, entry));
            done++;
            options.onProgress?.(done, total, `${entry.label}: ${length} bytes, depth ${Math.round(100 * depth)}%`);
          }
        }
      }
    } finally {
      if (active.backend instanceof WebGPUBackend) for (const p of model.parameters()) p.dispose();
    }
    const share = (list: PasskeyAnswer[]): number => list.filter((a) => a.correct).length / Math.max(1, list.length);
    const accuracy = depths.map((depth) => options.lengths.map((length) => share(answers.filter((a) => a.length === length && a.depth === depth))));
    panels.push({
      model: entry,
      svg: niahHeatmapSvg({ title: entry.label, lengths: options.lengths, depths, accuracy }),
      byLength: options.lengths.map((length) => ({ length, accuracy: share(answers.filter((a) => a.length === length)) })),
      overall: share(answers),
      answers,
    });
  }
  return { set, manifest, panels, depths, lengths: options.lengths, backend: active.label, seconds: (performance.now() - started) / 1000 };
}
