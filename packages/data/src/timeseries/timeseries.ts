// Multivariate time series from the CSV files of vega-datasets, cut into (lookback,
// horizon) windows with a chronological train/val/test split and z-normalisation fitted
// on the training part only (no look-ahead leakage).

import { join, readFileSync } from '../node-host.ts';
import { dependencyDir } from '../paths.ts';
import { parseCsv } from './csv.ts';

export interface TimeSeries {
  readonly name: string;
  /** One timestamp string per step, as in the file. */
  readonly timestamps: readonly string[];
  readonly columns: readonly string[];
  /** Row-major [steps * channels]. */
  readonly values: Float32Array;
  readonly steps: number;
  readonly channels: number;
}

/** Time-series files of vega-datasets this package knows, with their time column. */
export const timeSeriesDatasets = {
  'seattle-weather': { file: 'seattle-weather.csv', time: 'date' },
  'seattle-weather-hourly-normals': { file: 'seattle-weather-hourly-normals.csv', time: 'date' },
  'co2-concentration': { file: 'co2-concentration.csv', time: 'Date' },
} as const;
export type TimeSeriesName = keyof typeof timeSeriesDatasets;

export interface TimeSeriesFromCsvOptions {
  name?: string;
  /** Column holding timestamps (default: the first column). */
  timeColumn?: string;
  /** Columns to keep (default: every column whose values all parse as numbers). */
  columns?: readonly string[];
}

/** Parses CSV text into a time series of its numeric columns, sorted by time. */
export function timeSeriesFromCsv(text: string, options: TimeSeriesFromCsvOptions = {}): TimeSeries {
  const table = parseCsv(text);
  const timeColumn = options.timeColumn ?? table.header[0]!;
  const timeIndex = table.header.indexOf(timeColumn);
  if (timeIndex < 0) throw new Error(`timeSeriesFromCsv: no column '${timeColumn}' (have ${table.header.join(', ')})`);
  const isNumeric = (c: number): boolean => table.rows.every((row) => row[c]!.trim() !== '' && Number.isFinite(Number(row[c])));
  const columns = options.columns ?? table.header.filter((h, c) => c !== timeIndex && isNumeric(c));
  const indices = columns.map((name) => {
    const c = table.header.indexOf(name);
    if (c < 0) throw new Error(`timeSeriesFromCsv: no column '${name}'`);
    if (!isNumeric(c)) throw new Error(`timeSeriesFromCsv: column '${name}' is not numeric`);
    return c;
  });
  if (indices.length === 0) throw new Error('timeSeriesFromCsv: no numeric columns');
  const order = table.rows.map((_, r) => r).sort((a, b) => (table.rows[a]![timeIndex]! < table.rows[b]![timeIndex]! ? -1 : table.rows[a]![timeIndex]! > table.rows[b]![timeIndex]! ? 1 : a - b));
  const steps = order.length;
  const values = new Float32Array(steps * indices.length);
  order.forEach((r, t) => indices.forEach((c, k) => (values[t * indices.length + k] = Number(table.rows[r]![c]))));
  return { name: options.name ?? 'csv', timestamps: order.map((r) => table.rows[r]![timeIndex]!), columns, values, steps, channels: indices.length };
}

/** Loads a named vega-datasets time series. */
export function loadTimeSeries(name: TimeSeriesName, options: { columns?: readonly string[] } = {}): TimeSeries {
  const spec = timeSeriesDatasets[name];
  if (!spec) throw new Error(`loadTimeSeries: unknown dataset '${String(name)}' (known: ${Object.keys(timeSeriesDatasets).join(', ')})`);
  const text = readFileSync(join(dependencyDir('vega-datasets'), 'data', spec.file), 'utf8');
  return timeSeriesFromCsv(text, { name, timeColumn: spec.time, ...(options.columns ? { columns: options.columns } : {}) });
}

/** Per-channel mean and standard deviation, and the transforms they define. */
export class ZNormalizer {
  constructor(
    readonly mean: Float32Array,
    readonly std: Float32Array,
  ) {}

  /** Fits on steps [from, to) of a series. Constant channels get std 1. */
  static fit(series: TimeSeries, from = 0, to = series.steps): ZNormalizer {
    const C = series.channels;
    const n = to - from;
    if (n < 1) throw new RangeError('ZNormalizer.fit: empty range');
    const mean = new Float32Array(C);
    const std = new Float32Array(C);
    for (let c = 0; c < C; c++) {
      let sum = 0;
      for (let t = from; t < to; t++) sum += series.values[t * C + c]!;
      const m = sum / n;
      let sq = 0;
      for (let t = from; t < to; t++) sq += (series.values[t * C + c]! - m) ** 2;
      mean[c] = m;
      const s = Math.sqrt(sq / n);
      std[c] = s > 1e-12 ? s : 1;
    }
    return new ZNormalizer(mean, std);
  }

  /** Normalises row-major [steps * channels] values into a new array. */
  normalize(values: Float32Array): Float32Array {
    const C = this.mean.length;
    return values.map((v, i) => (v - this.mean[i % C]!) / this.std[i % C]!);
  }

  denormalize(values: Float32Array): Float32Array {
    const C = this.mean.length;
    return values.map((v, i) => v * this.std[i % C]! + this.mean[i % C]!);
  }
}

export interface ForecastWindow {
  /** [lookback * channels], normalised. */
  readonly input: Float32Array;
  /** [horizon * channels], normalised. */
  readonly target: Float32Array;
  /** Index of the first target step in the series. */
  readonly targetStart: number;
}

/** Windows whose targets lie in one time range of a normalised series. */
export class WindowDataset {
  readonly length: number;
  /** Target start of window 0 (the first step with a full lookback before it). */
  private readonly firstTarget: number;

  constructor(
    private readonly normalized: Float32Array,
    readonly channels: number,
    readonly lookback: number,
    readonly horizon: number,
    /** First and one-past-last step a target may occupy. */
    readonly targetFrom: number,
    readonly targetTo: number,
    readonly stride: number,
  ) {
    this.firstTarget = Math.max(targetFrom, lookback);
    this.length = targetTo - horizon < this.firstTarget ? 0 : Math.floor((targetTo - horizon - this.firstTarget) / stride) + 1;
  }

  get(index: number): ForecastWindow {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) throw new RangeError(`WindowDataset.get: index ${index} out of range [0, ${this.length})`);
    const C = this.channels;
    const targetStart = this.firstTarget + index * this.stride;
    return {
      input: this.normalized.slice((targetStart - this.lookback) * C, targetStart * C),
      target: this.normalized.slice(targetStart * C, (targetStart + this.horizon) * C),
      targetStart,
    };
  }

  /** Stacks windows into [batch * lookback * channels] and [batch * horizon * channels]. */
  batch(indices: readonly number[]): { inputs: Float32Array; targets: Float32Array } {
    const C = this.channels;
    const inputs = new Float32Array(indices.length * this.lookback * C);
    const targets = new Float32Array(indices.length * this.horizon * C);
    indices.forEach((index, b) => {
      const w = this.get(index);
      inputs.set(w.input, b * this.lookback * C);
      targets.set(w.target, b * this.horizon * C);
    });
    return { inputs, targets };
  }
}

export interface ForecastSplitOptions {
  lookback: number;
  horizon: number;
  /** Fractions of steps for train and val, in time order; test gets the rest (default 0.7, 0.1). */
  trainFraction?: number;
  valFraction?: number;
  /** Step between consecutive windows (default 1). */
  stride?: number;
}

export interface ForecastSplits {
  readonly series: TimeSeries;
  readonly normalizer: ZNormalizer;
  readonly train: WindowDataset;
  readonly val: WindowDataset;
  readonly test: WindowDataset;
  /** Step ranges [from, to) of each split's targets. */
  readonly boundaries: { train: [number, number]; val: [number, number]; test: [number, number] };
}

/**
 * Chronological split: targets of train windows lie in the first `trainFraction` of the
 * steps, val next, test last. Inputs of val/test windows may look back into the previous
 * split (as the usual ETT protocol does); targets never cross a boundary. The normaliser
 * sees only training steps.
 */
export function makeForecastSplits(series: TimeSeries, options: ForecastSplitOptions): ForecastSplits {
  const { lookback, horizon } = options;
  const trainFraction = options.trainFraction ?? 0.7;
  const valFraction = options.valFraction ?? 0.1;
  const stride = options.stride ?? 1;
  for (const [name, v] of [['lookback', lookback], ['horizon', horizon], ['stride', stride]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`makeForecastSplits: ${name} must be a positive integer, got ${v}`);
  }
  if (!(trainFraction > 0 && valFraction >= 0 && trainFraction + valFraction < 1)) throw new RangeError('makeForecastSplits: need 0 < train, 0 <= val, train + val < 1');
  const T = series.steps;
  const trainEnd = Math.floor(T * trainFraction);
  const valEnd = Math.floor(T * (trainFraction + valFraction));
  if (trainEnd < lookback + horizon) throw new RangeError(`makeForecastSplits: the training part (${trainEnd} steps) is shorter than lookback + horizon (${lookback + horizon})`);
  const normalizer = ZNormalizer.fit(series, 0, trainEnd);
  const normalized = normalizer.normalize(series.values);
  const make = (from: number, to: number): WindowDataset => new WindowDataset(normalized, series.channels, lookback, horizon, from, to, stride);
  return {
    series,
    normalizer,
    train: make(0, trainEnd),
    val: make(trainEnd, valEnd),
    test: make(valEnd, T),
    boundaries: { train: [0, trainEnd], val: [trainEnd, valEnd], test: [valEnd, T] },
  };
}
