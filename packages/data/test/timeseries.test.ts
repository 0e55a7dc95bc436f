import { describe, expect, it } from 'vitest';
import { loadTimeSeries, makeForecastSplits, parseCsv, timeSeriesFromCsv } from '../src/index.ts';

describe('parseCsv', () => {
  it('handles quotes, doubled quotes, CRLF and a missing final newline', () => {
    const table = parseCsv('a,b,c\r\n1,"x, y",3\r\n4,"say ""hi""",6');
    expect(table.header).toEqual(['a', 'b', 'c']);
    expect(table.rows).toEqual([
      ['1', 'x, y', '3'],
      ['4', 'say "hi"', '6'],
    ]);
    expect(() => parseCsv('a,b\n1\n')).toThrow(/row 2 has 1 fields/);
  });

  it('keeps numeric columns and sorts by time', () => {
    const series = timeSeriesFromCsv('date,temp,kind\n2020-01-02,2.5,rain\n2020-01-01,1.5,sun\n');
    expect(series.columns).toEqual(['temp']);
    expect(series.timestamps).toEqual(['2020-01-01', '2020-01-02']);
    expect(Array.from(series.values)).toEqual([1.5, 2.5]);
  });
});

describe('vega-datasets time series', () => {
  it('loads Seattle weather: 1461 days, 4 numeric columns', () => {
    const series = loadTimeSeries('seattle-weather');
    expect(series.steps).toBe(1461);
    expect(series.columns).toEqual(['precipitation', 'temp_max', 'temp_min', 'wind']);
    expect(series.timestamps[0]).toBe('2012-01-01');
    expect(Array.from(series.values.subarray(0, 4))).toEqual([0, 12.800000190734863, 5, 4.699999809265137]);
    expect(loadTimeSeries('seattle-weather-hourly-normals').steps).toBe(8759);
    expect(loadTimeSeries('co2-concentration').columns).toEqual(['CO2', 'adjusted CO2']);
  });

  it('splits by time, normalises with training statistics only, and windows correctly', () => {
    const series = loadTimeSeries('seattle-weather');
    const splits = makeForecastSplits(series, { lookback: 30, horizon: 7 });
    const [trainFrom, trainTo] = splits.boundaries.train;
    const [valFrom, valTo] = splits.boundaries.val;
    const [testFrom, testTo] = splits.boundaries.test;
    expect([trainFrom, trainTo, valFrom, valTo, testFrom, testTo]).toEqual([0, 1022, 1022, 1168, 1168, 1461]);
    // Training targets have mean ~0 and std ~1 per channel after normalisation.
    const C = series.channels;
    const normalized = splits.normalizer.normalize(series.values.subarray(0, trainTo * C));
    for (let c = 0; c < C; c++) {
      let sum = 0;
      let sq = 0;
      for (let t = 0; t < trainTo; t++) sum += normalized[t * C + c]!;
      for (let t = 0; t < trainTo; t++) sq += (normalized[t * C + c]! - sum / trainTo) ** 2;
      expect(Math.abs(sum / trainTo)).toBeLessThan(1e-4);
      expect(Math.sqrt(sq / trainTo)).toBeCloseTo(1, 4);
    }
    expect(splits.train.length).toBe(1022 - 7 - 30 + 1);
    const window = splits.test.get(0);
    expect(window.targetStart).toBe(1168);
    const raw = splits.normalizer.denormalize(window.target);
    expect(raw[0]).toBeCloseTo(series.values[1168 * C]!, 4);
    expect(splits.normalizer.denormalize(window.input)[29 * C + 1]).toBeCloseTo(series.values[1167 * C + 1]!, 4);
    const last = splits.test.get(splits.test.length - 1);
    expect(last.targetStart + 7).toBeLessThanOrEqual(1461);
    expect(splits.val.get(splits.val.length - 1).targetStart + 7).toBeLessThanOrEqual(1168);
    const { inputs, targets } = splits.val.batch([0, 1]);
    expect(inputs.length).toBe(2 * 30 * C);
    expect(targets.length).toBe(2 * 7 * C);
  });
});
