// Demo 2: S-NIAH (the PK variant: a number hidden in repeated filler) at growing lengths,
// scored by @titans/eval's harness and drawn as its heat map. The models are the harness's
// own baselines, labelled as such: an oracle that reads the whole prompt (the upper bound)
// and the same oracle restricted to the last W tokens (what sliding-window attention alone
// can see). A trained Titans model takes the place of neither until a checkpoint ships.
import { ByteTokenizer } from '@titans/data';
import { evaluateNiah, LastWindowModel, NeedleLookupModel, niahAccuracyMatrix, niahHeatmapSvg, type GenerativeModel, type NiahResult } from '@titans/eval';
import { nextFrame } from './backend';

export interface NiahDemoOptions {
  lengths: readonly number[];
  depths: number;
  samplesPerCell: number;
  window: number;
  seed?: number;
  onProgress?: (done: number, total: number, label: string) => void;
}

export interface NiahDemoPanel {
  readonly label: string;
  readonly result: NiahResult;
  readonly svg: string;
}

export async function runNiahDemo(options: NiahDemoOptions): Promise<NiahDemoPanel[]> {
  const tokenizer = new ByteTokenizer();
  const oracle = new NeedleLookupModel(tokenizer);
  const models: { label: string; title: string; model: GenerativeModel }[] = [
    { label: 'Full-context oracle (upper bound)', title: 'Full-context oracle', model: oracle },
    { label: `Sliding window of ${options.window} tokens (attention alone)`, title: `Last ${options.window} tokens only`, model: new LastWindowModel(oracle, options.window) },
  ];
  const total = models.length * options.lengths.length * options.depths * options.samplesPerCell;
  let done = 0;
  const panels: NiahDemoPanel[] = [];
  for (const { label, title, model } of models) {
    const result = await evaluateNiah({
      model,
      tokenizer,
      task: 'pk',
      lengths: options.lengths,
      depths: options.depths,
      samplesPerCell: options.samplesPerCell,
      seed: options.seed ?? 1,
      keepRecords: false,
      onProgress: (p) => {
        done++;
        options.onProgress?.(done, total, `${label}: ${p.cell}`);
      },
    });
    panels.push({
      label,
      result,
      svg: niahHeatmapSvg({ title, lengths: result.lengths, depths: result.depths, accuracy: niahAccuracyMatrix(result) }),
    });
    await nextFrame();
  }
  return panels;
}
