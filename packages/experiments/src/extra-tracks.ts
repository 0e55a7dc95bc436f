// The two small tracks for the Titans paper's other experiment families, as registered
// tracks (registry.ts): time-series forecasting on a bundled series and DNA modelling on
// the bundled E. coli excerpt. Both are token tasks for the same language models:
//   - timeseries: one channel of a vega-datasets series, z-normalised on the training part,
//     quantised into `bins` equal bins over [-range, range]; trained as next-bin prediction
//     on windows of `lookback` steps; evaluated one step ahead on the test part (the
//     predicted bin's centre), MSE and MAE in normalised units beside a least-squares
//     linear AR(`arOrder`) forecast and the last value, fitted and scored on the same windows;
//   - dna: next-base prediction (A C G T N) on random windows of the training region,
//     evaluated by perplexity and bits per base on the test region beside a bigram model.
import { DnaTokenizer, SeededRandom, deriveSeed, loadDna, loadTimeSeries, makeForecastSplits, sampleDnaBatch, type TimeSeriesName, type WindowDataset } from '@titans/data';
import { NgramModel, evaluatePerplexity } from '@titans/eval';
import { asNextTokenModel, asScoringModel, type BatchSourceFactory, type TitansLanguageModel } from '@titans/models';
import type { TrackContext, TrackDefinition, TrackEvaluation } from './registry.ts';
import type { CustomTrackSettings } from './recipes.ts';

const option = <T extends number | string>(settings: CustomTrackSettings, name: string, fallback: T): T => {
  const value = settings.options[name];
  if (value === undefined) return fallback;
  if (typeof value !== typeof fallback) throw new Error(`track option '${name}' must be a ${typeof fallback}, got ${JSON.stringify(value)}`);
  return value as T;
};

// ---------------------------------------------------------------- time series

interface SeriesSetup {
  readonly bins: number;
  readonly range: number;
  readonly lookback: number;
  readonly channel: number;
  readonly train: WindowDataset;
  readonly test: WindowDataset;
}

function seriesSetup(settings: CustomTrackSettings): SeriesSetup {
  const dataset = option(settings, 'dataset', 'seattle-weather') as TimeSeriesName;
  const lookback = option(settings, 'lookback', 64);
  const series = loadTimeSeries(dataset);
  const column = option(settings, 'column', series.columns[0]!);
  const channel = series.columns.indexOf(column);
  if (channel < 0) throw new Error(`timeseries track: '${dataset}' has no column '${column}' (columns: ${series.columns.join(', ')})`);
  const splits = makeForecastSplits(series, { lookback, horizon: 1 });
  return { bins: option(settings, 'bins', 64), range: option(settings, 'range', 4), lookback, channel, train: splits.train, test: splits.test };
}

/** Bin of a normalised value: floor((x + range) / (2 range) * bins), clamped. */
export function quantize(x: number, bins: number, range: number): number {
  return Math.min(bins - 1, Math.max(0, Math.floor(((x + range) / (2 * range)) * bins)));
}

/** Centre of a bin in normalised units. */
export function binCentre(bin: number, bins: number, range: number): number {
  return -range + ((bin + 0.5) * 2 * range) / bins;
}

/** One channel of window `index`: the lookback values and the next one. */
function windowValues(data: WindowDataset, index: number, channel: number): { input: number[]; target: number } {
  const w = data.get(index);
  const C = data.channels;
  return { input: Array.from({ length: data.lookback }, (_, t) => w.input[t * C + channel]!), target: w.target[channel]! };
}

/** Least-squares AR(p) with a bias, fitted on every training window (normal equations, float64). */
export function fitLinearForecast(rows: readonly { input: readonly number[]; target: number }[], order: number): (input: readonly number[]) => number {
  const n = order + 1;
  const a = new Float64Array(n * n);
  const b = new Float64Array(n);
  for (const { input, target } of rows) {
    const x = [...input.slice(input.length - order), 1];
    for (let i = 0; i < n; i++) {
      b[i]! += x[i]! * target;
      for (let j = 0; j < n; j++) a[i * n + j]! += x[i]! * x[j]!;
    }
  }
  for (let i = 0; i < order; i++) a[i * n + i]! += 1e-6 * rows.length; // a little ridge keeps it solvable
  // Gaussian elimination with partial pivoting.
  const w = Float64Array.from(b);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r * n + col]!) > Math.abs(a[pivot * n + col]!)) pivot = r;
    if (pivot !== col) {
      for (let j = 0; j < n; j++) [a[col * n + j], a[pivot * n + j]] = [a[pivot * n + j]!, a[col * n + j]!];
      [w[col], w[pivot]] = [w[pivot]!, w[col]!];
    }
    for (let r = col + 1; r < n; r++) {
      const f = a[r * n + col]! / a[col * n + col]!;
      for (let j = col; j < n; j++) a[r * n + j]! -= f * a[col * n + j]!;
      w[r]! -= f * w[col]!;
    }
  }
  for (let r = n - 1; r >= 0; r--) {
    let s = w[r]!;
    for (let j = r + 1; j < n; j++) s -= a[r * n + j]! * w[j]!;
    w[r] = s / a[r * n + r]!;
  }
  return (input) => {
    let y = w[order]!;
    for (let i = 0; i < order; i++) y += w[i]! * input[input.length - order + i]!;
    return y;
  };
}

/** Indices of at most `count` windows spread evenly over a dataset. */
function spread(length: number, count: number): number[] {
  const k = Math.min(length, count);
  return Array.from({ length: k }, (_, i) => Math.floor((i * length) / k));
}

export const timeSeriesTrack: TrackDefinition = {
  name: 'timeseries',
  title: 'Time-series forecasting',
  description: 'One channel of a bundled vega-datasets series (default: Seattle daily maximum temperature), z-normalised on the training part and quantised into equal bins; the models learn next-bin prediction on windows of the lookback length and forecast one step ahead on the test part (the centre of the predicted bin). MSE and MAE are in normalised units; the linear AR baseline (least squares on the training windows) and the last value are scored on the same windows. The Titans paper reports MSE/MAE on ETT, ECL, Traffic and Weather with a Titans-backbone forecaster at 96-720 steps ahead; this track is its smallest stand-in.',
  lowerIsBetter: ['mse', 'mae', 'linear mse', 'linear mae', 'last-value mse', 'last-value mae'],
  vocabSize: (settings) => option(settings, 'bins', 64),
  batches(settings, { seed, batchSize }): BatchSourceFactory<unknown> {
    const setup = seriesSetup(settings);
    const L = setup.lookback;
    return (resume) => {
      let step = (resume as { step?: number } | undefined)?.step ?? 0;
      return {
        next() {
          const random = new SeededRandom(deriveSeed(seed, 'timeseries-train', step++));
          const inputs = new Int32Array(batchSize * L);
          const targets = new Int32Array(batchSize * L);
          for (let b = 0; b < batchSize; b++) {
            const { input, target } = windowValues(setup.train, random.int(0, setup.train.length), setup.channel);
            const ids = [...input, target].map((x) => quantize(x, setup.bins, setup.range));
            for (let t = 0; t < L; t++) {
              inputs[b * L + t] = ids[t]!;
              targets[b * L + t] = ids[t + 1]!;
            }
          }
          return { inputs, targets, batchSize, sequenceLength: L };
        },
        state: () => ({ step }),
      };
    };
  },
  async evaluate(model: TitansLanguageModel, settings, context: TrackContext): Promise<TrackEvaluation> {
    const setup = seriesSetup(settings);
    const order = Math.min(setup.lookback, option(settings, 'arOrder', 16));
    const trainRows = Array.from({ length: setup.train.length }, (_, i) => windowValues(setup.train, i, setup.channel));
    const linear = fitLinearForecast(trainRows, order);
    const predictor = asNextTokenModel(model, { name: 'timeseries', chunkLength: 512 });
    const sums = { mse: 0, mae: 0, 'linear mse': 0, 'linear mae': 0, 'last-value mse': 0, 'last-value mae': 0 };
    const indices = spread(setup.test.length, option(settings, 'testWindows', 256));
    for (const index of indices) {
      const { input, target } = windowValues(setup.test, index, setup.channel);
      const next = await predictor.predictNext(Int32Array.from(input, (x) => quantize(x, setup.bins, setup.range)));
      const forecasts = { '': binCentre(next[next.length - 1]!, setup.bins, setup.range), 'linear ': linear(input), 'last-value ': input[input.length - 1]! };
      for (const [prefix, y] of Object.entries(forecasts)) {
        sums[`${prefix}mse` as keyof typeof sums] += (y - target) ** 2;
        sums[`${prefix}mae` as keyof typeof sums] += Math.abs(y - target);
      }
    }
    const metrics = Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / indices.length]));
    context.log(`timeseries: MSE ${metrics.mse!.toFixed(4)} (linear ${metrics['linear mse']!.toFixed(4)}) over ${indices.length} test windows`);
    return { metrics, details: { windows: indices.length, bins: setup.bins, range: setup.range, lookback: setup.lookback, arOrder: order } };
  },
};

// ---------------------------------------------------------------- DNA

export const dnaTrack: TrackDefinition = {
  name: 'dna',
  title: 'DNA modelling',
  description: 'Next-base prediction (A, C, G, T, N) on random windows of the training region of the bundled E. coli 536 excerpt; evaluated by perplexity and bits per base on its test region (scored in independent segments of the training length), beside a bigram model fitted on the training region. The Titans paper fine-tunes on GenomicsBenchmarks classification; next-base perplexity is the pretraining objective that precedes it.',
  lowerIsBetter: ['perplexity', 'bits per base', 'bigram perplexity'],
  vocabSize: () => new DnaTokenizer().vocabSize,
  batches(settings, { seed, batchSize }): BatchSourceFactory<unknown> {
    const region = loadDna({ source: option(settings, 'source', 'ecoli-536-excerpt') as 'ecoli-536-excerpt' }).train;
    const sequenceLength = option(settings, 'sequenceLength', 256);
    return (resume) => {
      let step = (resume as { step?: number } | undefined)?.step ?? 0;
      return {
        next() {
          const batch = sampleDnaBatch(region, { batchSize, sequenceLength, seed, step: step++ });
          return { ...batch, batchSize, sequenceLength };
        },
        state: () => ({ step }),
      };
    };
  },
  async evaluate(model: TitansLanguageModel, settings, context: TrackContext): Promise<TrackEvaluation> {
    const splits = loadDna({ source: option(settings, 'source', 'ecoli-536-excerpt') as 'ecoli-536-excerpt' });
    const bases = Math.min(splits.test.length, option(settings, 'evalBases', 8192));
    const tokens = Int32Array.from(splits.test.subarray(0, bases));
    const segmentLength = option(settings, 'sequenceLength', 256);
    const vocabSize = new DnaTokenizer().vocabSize;
    const ours = await evaluatePerplexity({ model: asScoringModel(model, { name: 'dna', chunkLength: 512 }), tokens, segmentLength, byteCount: bases - 1 });
    const bigram = await evaluatePerplexity({ model: NgramModel.fit(splits.train, { order: 2, vocabSize }), tokens, segmentLength, byteCount: bases - 1 });
    context.log(`dna: perplexity ${ours.perplexity.toFixed(3)} (bigram ${bigram.perplexity.toFixed(3)}) over ${ours.predictions} bases`);
    return {
      metrics: { perplexity: ours.perplexity, 'bits per base': ours.meanNll / Math.LN2, 'bigram perplexity': bigram.perplexity },
      details: { bases, predictions: ours.predictions, segmentLength },
    };
  },
};
