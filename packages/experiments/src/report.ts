// The reproduction report: results.json (every result plus the run's provenance), report.html
// (the paper's tables quoted next to ours, NIAH heat maps, MQAR and perplexity curves,
// ablation bars), one SVG per figure under figures/, and summary.md with the same tables in
// Markdown. Built only from the result files present, so it can be rebuilt at any time and
// shows what is missing.
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { writeFileSync, mkdirSync } from 'node:fs';
import { HtmlReport, barChartSvg, heatmapSvg, lineChartSvg, niahAccuracyMatrix, niahHeatmapSvg, type TableCell } from '@titans/eval';
import {
  baseExperimentId, longContextModels, mqarTrackModels, planExperiments, planSeeds, readResult, writeJsonAtomically, type TrackExperimentResult,
  type MqarExperimentResult, type NiahExperimentResult, type PasskeyExperimentResult, type PasskeyFillerResult, type PerplexityExperimentResult, type ResultFile, type TrainResultSummary,
} from './experiments.ts';
import { isAblation, planModels } from './models.ts';
import { modelVariant, trackDefinition } from './registry.ts';
import { ABLATIONS, type ModelName, type ReproducePlan } from './recipes.ts';
import { checkTargets, formatTargets } from './targets.ts';
import { HELD_OUT_FILLER_SOURCE } from './filler.ts';
import { PAPER_ATLAS_HOPE, beyondTitansNote, beyondTitansTable, isBeyondTitans, quotedTableCaption } from './paper-atlas-hope.ts';

// ---------------------------------------------------------------- the paper's numbers
// Quoted exactly from shared/reference/paper-results.md (Titans, arXiv 2501.00663).

export const PAPER = {
  source: 'Titans (Behrouz, Zhong, Mirrokni 2025, arXiv 2501.00663): FineWeb-Edu, Llama-2 32K tokenizer, training length 4K.',
  lm: {
    header: ['model', '340M, 15B tokens', '760M, 30B tokens'],
    note: 'Wiki ppl / LAMBADA ppl / average commonsense accuracy %',
    rows: [
      ['Transformer++', '31.52 / 41.08 / 42.92', '25.21 / 27.64 / 48.69'],
      ['Mamba2', '-', '22.94 / 28.37 / 48.34'],
      ['Gated DeltaNet', '27.01 / 30.94 / 45.42', '21.18 / 22.09 / 49.69'],
      ['Titans LMM', '26.18 / 29.97 / 46.17', '20.04 / 21.96 / 51.56'],
      ['Titans MAC', '25.43 / 28.13 / 47.36', '19.93 / 20.12 / 52.51'],
      ['Titans MAG', '25.07 / 28.72 / 47.54', '18.61 / 19.86 / 52.50'],
      ['Titans MAL', '24.69 / 28.80 / 46.55', '19.07 / 20.33 / 52.29'],
    ],
  },
  niah: {
    header: ['model', 'PK (passkey)', 'N (number, essay haystack)', 'W (uuid, essay haystack)'],
    note: 'S-NIAH (RULER) accuracy % at 2K / 4K / 8K / 16K, trained at 4K',
    rows: [
      ['Mamba2', '98.6 61.4 31.0 5.4', '98.4 55.8 14.2 0.0', '42.2 4.2 0.0 0.0'],
      ['DeltaNet', '96.8 98.8 98.6 71.4', '47.2 15.4 12.8 5.4', '46.2 20.0 1.6 0.0'],
      ['TTT', '98.4 98.8 98.0 88.4', '60.2 36.6 10.2 4.4', '78.8 28.0 4.4 0.0'],
      ['Titans LMM', '99.8 98.4 98.2 96.2', '100 99.8 93.4 80.2', '90.4 89.4 85.8 80.6'],
      ['Titans MAC', '99.2 98.8 99.0 98.4', '99.6 98.2 97.6 97.4', '98.2 98.2 95.6 95.2'],
      ['Titans MAG', '99.4 98.0 97.4 97.4', '99.2 98.8 97.2 98.6', '98.0 98.0 90.2 88.2'],
      ['Titans MAL', '98.8 98.6 98.8 97.8', '99.8 98.1 96.8 96.4', '98.0 97.4 92.0 90.4'],
    ],
  },
  ablation: {
    header: ['model', 'LM ppl', 'reasoning acc', 'long-context acc'],
    rows: [
      ['LMM', '27.01', '47.83', '92.68'],
      ['linear memory', '28.49', '46.97', '85.34'],
      ['without conv', '28.73', '45.82', '90.28'],
      ['without momentum', '28.98', '45.49', '87.12'],
      ['without weight decay', '29.04', '45.11', '85.60'],
      ['without persistent memory', '27.63', '46.35', '92.49'],
    ],
  },
} as const;

// ---------------------------------------------------------------- collected results

export interface CollectedResults {
  readonly trainLong: Partial<Record<ModelName, TrainResultSummary>>;
  readonly trainMqar: Partial<Record<ModelName, TrainResultSummary>>;
  readonly niah: Partial<Record<ModelName, NiahExperimentResult>>;
  readonly perplexity: Partial<Record<ModelName, PerplexityExperimentResult>>;
  readonly mqar: Partial<Record<ModelName, MqarExperimentResult>>;
  readonly trainPasskey: Partial<Record<ModelName, TrainResultSummary>>;
  readonly passkey: Partial<Record<ModelName, PasskeyExperimentResult>>;
  /** Registered tracks: training summaries and evaluations by track, then model. */
  readonly trainTracks: Record<string, Partial<Record<ModelName, TrainResultSummary>>>;
  readonly tracks: Record<string, Partial<Record<ModelName, TrackExperimentResult>>>;
  /**
   * Every result by the id of its experiment for the plan's first seed, then by seed (the
   * maps above hold the first seed's results, as for a plan with one seed).
   */
  readonly bySeed: Record<string, Record<number, unknown>>;
  /** Seconds each experiment took (wall clock). */
  readonly seconds: Record<string, number>;
  readonly missing: string[];
}

export function collectResults(plan: ReproducePlan, out: string): CollectedResults {
  const collected = { trainLong: {}, trainMqar: {}, trainPasskey: {}, niah: {}, perplexity: {}, mqar: {}, passkey: {}, trainTracks: {}, tracks: {}, bySeed: {}, seconds: {}, missing: [] } as {
    trainLong: Record<string, TrainResultSummary>; trainMqar: Record<string, TrainResultSummary>; trainPasskey: Record<string, TrainResultSummary>;
    niah: Record<string, NiahExperimentResult>; perplexity: Record<string, PerplexityExperimentResult>; mqar: Record<string, MqarExperimentResult>;
    passkey: Record<string, PasskeyExperimentResult>; trainTracks: Record<string, Record<string, TrainResultSummary>>;
    tracks: Record<string, Record<string, TrackExperimentResult>>; bySeed: Record<string, Record<number, unknown>>; seconds: Record<string, number>; missing: string[];
  };
  for (const experiment of planExperiments(plan)) {
    const file = readResult(out, plan, experiment) as ResultFile<never> | null;
    if (!file) {
      collected.missing.push(experiment.id);
      continue;
    }
    collected.seconds[experiment.id] = file.seconds;
    (collected.bySeed[baseExperimentId(experiment.id)] ??= {})[experiment.seed] = file.result;
    if (experiment.seed !== plan.seed) continue;
    const builtin = experiment.track === 'long' || experiment.track === 'mqar' || experiment.track === 'passkey';
    let slot: Record<string, unknown>;
    if (experiment.kind === 'train') {
      slot = experiment.track === 'long' ? collected.trainLong : experiment.track === 'mqar' ? collected.trainMqar : experiment.track === 'passkey' ? collected.trainPasskey : (collected.trainTracks[experiment.track] ??= {});
    } else if (experiment.kind === 'track' || !builtin) {
      slot = collected.tracks[experiment.track] ??= {};
    } else {
      slot = collected[experiment.kind];
    }
    slot[experiment.model] = file.result;
  }
  return collected;
}

// ---------------------------------------------------------------- provenance

export interface Provenance {
  readonly command: string;
  readonly commit: string;
  /** True when the working tree had uncommitted changes. */
  readonly dirty: boolean;
  readonly node: string;
  readonly cpu: string;
  readonly cores: number;
  readonly date: string;
}

export function provenance(command: string): Provenance {
  const git = (args: string[]): string => {
    const r = spawnSync('git', args, { encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trim() : '';
  };
  const info = cpus();
  return {
    command, commit: git(['rev-parse', 'HEAD']) || 'unknown', dirty: git(['status', '--porcelain']).length > 0,
    node: process.version, cpu: info[0]?.model ?? 'unknown', cores: info.length, date: new Date().toISOString(),
  };
}

// ---------------------------------------------------------------- tables

const LABELS: Partial<Record<ModelName, string>> = {
  lmm: 'Titans LMM', mac: 'Titans MAC', mag: 'Titans MAG', mal: 'Titans MAL', transformer: 'Transformer++', swa: 'SWA',
  deltanet: 'DeltaNet', 'gated-deltanet': 'Gated DeltaNet', moneta: 'Moneta (Miras)', yaad: 'Yaad (Miras)', memora: 'Memora (Miras)',
  omeganet: 'OmegaNet (Atlas paper)', atlas: 'Atlas', 'atlas-mag': 'Atlas MAG', 'atlas-mal': 'Atlas MAL', hope: 'Hope', 'hope-attention': 'Hope-Attention',
};

// The Atlas and Hope papers' own numbers live in paper-atlas-hope.ts (quoted, with version and source).

export function modelLabel(name: ModelName): string {
  if (isAblation(name)) return `${ABLATIONS[name].base.toUpperCase()} ${ABLATIONS[name].label}`;
  return LABELS[name] ?? modelVariant(name)?.label ?? name;
}

const pct = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '–' : (100 * x).toFixed(1));
const fixed = (x: number | undefined, digits = 3): string => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits));

/**
 * ' (n of N non-finite)' when n > 0 of N prompts had non-finite model outputs (counted as
 * wrong: the model diverged there rather than answered wrong), else ''. Cells of results
 * written before the count was recorded have none.
 */
function nonFiniteNote(cells: readonly { readonly total: number; readonly nonFinite?: number | undefined }[]): string {
  const n = cells.reduce((s, c) => s + (c.nonFinite ?? 0), 0);
  return n > 0 ? ` (${n} of ${cells.reduce((s, c) => s + c.total, 0)} non-finite)` : '';
}

/** One filler's passkey accuracy % at one length, with its non-finite count when any prompt diverged. */
function passkeyAt(result: PasskeyFillerResult | undefined, length: number): string {
  const accuracy = result?.byLength.find((b) => b.length === length)?.accuracy;
  return `${pct(accuracy)}${accuracy === undefined ? '' : nonFiniteNote(result?.cells.filter((c) => c.length === length) ?? [])}`;
}

/** The non-finite note of one S-NIAH task at one length. */
function niahNonFinite(result: NiahExperimentResult | undefined, task: string, length: number): string {
  return nonFiniteNote(result?.tasks.find((t) => t.task === task)?.cells.filter((c) => c.length === length) ?? []);
}

/** The non-finite note of one length over every seed's result (`select` picks the filler). */
function passkeyNonFiniteOverSeeds(r: CollectedResults, baseId: string, length: number, select: (x: PasskeyExperimentResult) => PasskeyFillerResult | undefined): string {
  return nonFiniteNote(Object.values(r.bySeed[baseId] ?? {}).flatMap((x) => select(x as PasskeyExperimentResult)?.cells.filter((c) => c.length === length) ?? []));
}

/** Mean accuracy over depths of one task at one length. */
function niahAt(result: NiahExperimentResult | undefined, task: string, length: number): number | undefined {
  const cells = result?.tasks.find((t) => t.task === task)?.cells.filter((c) => c.length === length);
  if (!cells?.length) return undefined;
  return cells.reduce((s, c) => s + c.correct, 0) / cells.reduce((s, c) => s + c.total, 0);
}

/** Mean S-NIAH accuracy over every task, length and depth (the ablation's long-context score). */
function niahOverall(result: NiahExperimentResult | undefined): number | undefined {
  if (!result?.tasks.length) return undefined;
  const correct = result.tasks.reduce((s, t) => s + t.overall.correct, 0);
  const total = result.tasks.reduce((s, t) => s + t.overall.total, 0);
  return correct / total;
}

/** Mean MQAR accuracy over the evaluated pair counts. */
function mqarOverall(result: MqarExperimentResult | undefined): number | undefined {
  if (!result?.results.length) return undefined;
  return result.results.reduce((s, r) => s + r.accuracy, 0) / result.results.length;
}

export interface Tables {
  readonly models: { headers: string[]; rows: TableCell[][] };
  readonly niah: { headers: string[]; rows: TableCell[][] };
  readonly mqar: { headers: string[]; rows: TableCell[][] };
  readonly perplexity: { headers: string[]; rows: TableCell[][] };
  readonly ablation: { headers: string[]; rows: TableCell[][] };
  readonly passkey: { headers: string[]; rows: TableCell[][] };
  /** Registered tracks (time series, DNA, ...): one table each, mean ± spread over seeds. */
  readonly tracks: Record<string, { headers: string[]; rows: TableCell[][] }>;
  /** Retrieval results of every seed: mean ± sample standard deviation (empty with one seed). */
  readonly seeds: { headers: string[]; rows: TableCell[][] };
}

/** Mean and sample standard deviation of the finite values (undefined when there are none). */
export function meanAndSpread(values: readonly (number | undefined)[]): { mean: number; sd: number; n: number } | undefined {
  const xs = values.filter((x): x is number => x !== undefined && Number.isFinite(x));
  if (!xs.length) return undefined;
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, sd, n: xs.length };
}

/** "mean ± sd (n)" of a metric of one experiment over the seeds present. */
function overSeeds<R>(r: CollectedResults, baseId: string, metric: (result: R) => number | undefined, scale = 1, digits = 1): string {
  const stats = meanAndSpread(Object.values(r.bySeed[baseId] ?? {}).map((x) => metric(x as R)));
  if (!stats) return '–';
  return stats.n > 1 ? `${(scale * stats.mean).toFixed(digits)} ± ${(scale * stats.sd).toFixed(digits)} (${stats.n})` : (scale * stats.mean).toFixed(digits);
}

export function buildTables(plan: ReproducePlan, r: CollectedResults): Tables {
  const models = planModels(plan);
  const { trainLength, niah } = plan.longContext;
  const lengths = niah.multiples.map((m) => m * trainLength);
  const modelsTable = {
    headers: ['model', 'parameters (bytes track)', 'parameters (MQAR track)', 'MLP width', 'final loss (bytes)', 'final loss (MQAR)', 'train s (bytes)', 'train s (MQAR)'],
    rows: models.map((m): TableCell[] => [
      modelLabel(m), r.trainLong[m]?.parameters ?? null, r.trainMqar[m]?.parameters ?? null, r.trainLong[m]?.config.mlpHidden ?? r.trainMqar[m]?.config.mlpHidden ?? null,
      fixed(r.trainLong[m]?.finalLoss), fixed(r.trainMqar[m]?.finalLoss), fixed(r.trainLong[m]?.trainSeconds, 0), fixed(r.trainMqar[m]?.trainSeconds, 0),
    ]),
  };
  const paperNiah = (m: ModelName, task: string): string => {
    const row = PAPER.niah.rows.find((x) => x[0] === modelLabel(m));
    const column = { pk: 1, n: 2, w: 3 }[task as 'pk' | 'n' | 'w'];
    return row ? row[column] : '–';
  };
  const niahTable = {
    headers: ['model', ...niah.tasks.flatMap((t) => [`${t.toUpperCase()} paper (2K 4K 8K 16K)`, `${t.toUpperCase()} ours (${niah.multiples.map((m) => `${m}x`).join(' ')})`])],
    rows: longContextModels(plan).filter((m) => !isAblation(m)).map((m): TableCell[] => [
      modelLabel(m), ...niah.tasks.flatMap((t) => [paperNiah(m, t), lengths.map((l) => `${pct(niahAt(r.niah[m], t, l))}${niahNonFinite(r.niah[m], t, l)}`).join(' ')]),
    ]),
  };
  const mqarTable = {
    headers: ['model', ...plan.mqar.evalPairs.map((n) => `N=${n}`)],
    rows: mqarTrackModels(plan).map((m): TableCell[] => [modelLabel(m), ...plan.mqar.evalPairs.map((n) => pct(r.mqar[m]?.results.find((x) => x.numPairs === n)?.accuracy))]),
  };
  const perplexityTable = {
    headers: ['model', 'paper 340M (Wiki / LMB / acc)', 'paper 760M (Wiki / LMB / acc)', 'ours: byte ppl', 'bits per byte', 'first bucket ppl', 'last bucket ppl'],
    rows: longContextModels(plan).map((m): TableCell[] => {
      const p = r.perplexity[m];
      const paper = PAPER.lm.rows.find((x) => x[0] === modelLabel(m));
      return [modelLabel(m), paper?.[1] ?? '–', paper?.[2] ?? '–', fixed(p?.perplexity), fixed(p?.bitsPerByte), fixed(p?.buckets[0]?.perplexity), fixed(p?.buckets.at(-1)?.perplexity)];
    }),
  };
  const ablationModels: ModelName[] = ['lmm', ...plan.ablations.filter((a) => ABLATIONS[a].base === 'lmm'), ...(plan.ablations.some((a) => ABLATIONS[a].base === 'mac') ? ['mac' as const] : []), ...plan.ablations.filter((a) => ABLATIONS[a].base === 'mac')];
  const paperAblation: Partial<Record<ModelName, string>> = {
    lmm: 'LMM', 'lmm-linear': 'linear memory', 'lmm-no-conv': 'without conv', 'lmm-no-momentum': 'without momentum',
    'lmm-no-forgetting': 'without weight decay', 'mac-no-persistent': 'without persistent memory',
  };
  // The MQAR column only when the plan trains its ablations on MQAR too.
  const ablationRecall = plan.ablations.some((a) => mqarTrackModels(plan).includes(a));
  // With several seeds: each ablation's MQAR difference from its base model, seed by seed, as mean ± sd.
  const manySeeds = planSeeds(plan).length > 1 && ablationRecall;
  const recallDifference = (m: ModelName): string => {
    if (!isAblation(m)) return '–';
    const base = r.bySeed[`mqar-${ABLATIONS[m].base}`] ?? {};
    const ours = r.bySeed[`mqar-${m}`] ?? {};
    const at16 = (x: unknown): number | undefined => (x as MqarExperimentResult | undefined)?.results.find((y) => y.numPairs === 16)?.accuracy ?? mqarOverall(x as MqarExperimentResult | undefined);
    const stats = meanAndSpread(Object.keys(ours).map((seed) => {
      const a = at16(ours[Number(seed)]);
      const b = at16(base[Number(seed)]);
      return a === undefined || b === undefined ? undefined : 100 * (a - b);
    }));
    return stats ? `${stats.mean >= 0 ? '+' : ''}${stats.mean.toFixed(1)} ± ${stats.sd.toFixed(1)} (${stats.n})` : '–';
  };
  const ablationTable = {
    headers: ['model', 'paper: LM ppl / reasoning / long-context', 'ours: SOTU byte ppl', ...(ablationRecall ? ['MQAR acc % (recall)'] : []), ...(manySeeds ? ['MQAR N=16 minus base, points (mean ± sd over seeds)'] : []), 'S-NIAH acc % (long context)'],
    rows: ablationModels.map((m): TableCell[] => {
      const paper = PAPER.ablation.rows.find((x) => x[0] === paperAblation[m]);
      return [modelLabel(m), paper ? paper.slice(1).join(' / ') : '–', fixed(r.perplexity[m]?.perplexity), ...(ablationRecall ? [pct(mqarOverall(r.mqar[m]))] : []), ...(manySeeds ? [recallDifference(m)] : []), pct(niahOverall(r.niah[m]))];
    }),
  };
  const passkeyLengths = plan.passkey.multiples.map((m) => m * plan.passkey.trainLength);
  // With held-out filler (plan.passkey.heldOutFiller): each length's accuracy on the training filler, then on filler never seen in training.
  const heldOut = plan.passkey.heldOutFiller === true;
  const passkeyTable = {
    headers: ['model', 'parameters', 'train steps', 'final loss', ...passkeyLengths.flatMap((l, i) => (heldOut ? [`${l} bytes (${plan.passkey.multiples[i]}x), seen filler`, `${l} bytes, held-out filler`] : [`${l} bytes (${plan.passkey.multiples[i]}x)`]))],
    rows: plan.passkey.models.map((m): TableCell[] => [
      modelLabel(m), r.trainPasskey[m]?.parameters ?? null, r.trainPasskey[m]?.steps ?? null, fixed(r.trainPasskey[m]?.finalLoss),
      ...passkeyLengths.flatMap((l) => [
        passkeyAt(r.passkey[m], l),
        ...(heldOut ? [passkeyAt(r.passkey[m]?.heldOut, l)] : []),
      ]),
    ]),
  };
  const tracks: Tables['tracks'] = {};
  for (const [track, settings] of Object.entries(plan.tracks ?? {})) {
    const metrics = [...new Set(settings.models.flatMap((m) => Object.keys(r.tracks[track]?.[m]?.metrics ?? {})))];
    tracks[track] = {
      headers: ['model', 'parameters', ...metrics],
      rows: settings.models.map((m): TableCell[] => [
        modelLabel(m), r.trainTracks[track]?.[m]?.parameters ?? null,
        ...metrics.map((k) => overSeeds<TrackExperimentResult>(r, `${track}-${m}`, (x) => x.metrics[k], 1, 4)),
      ]),
    };
  }
  const seedRows: TableCell[][] = [];
  if (planSeeds(plan).length > 1) {
    for (const m of plan.passkey.models) {
      for (const mult of plan.passkey.multiples) {
        const length = mult * plan.passkey.trainLength;
        seedRows.push([modelLabel(m), `passkey ${mult}x`, overSeeds<PasskeyExperimentResult>(r, `passkey-${m}`, (x) => x.byLength.find((b) => b.length === length)?.accuracy, 100) + passkeyNonFiniteOverSeeds(r, `passkey-${m}`, length, (x) => x)]);
        if (heldOut) seedRows.push([modelLabel(m), `passkey ${mult}x, held-out filler`, overSeeds<PasskeyExperimentResult>(r, `passkey-${m}`, (x) => x.heldOut?.byLength.find((b) => b.length === length)?.accuracy, 100) + passkeyNonFiniteOverSeeds(r, `passkey-${m}`, length, (x) => x.heldOut)]);
      }
    }
    for (const m of longContextModels(plan)) {
      for (const task of niah.tasks) {
        niah.multiples.forEach((mult, i) => seedRows.push([modelLabel(m), `S-NIAH-${task.toUpperCase()} ${mult}x`, overSeeds<NiahExperimentResult>(r, `niah-${m}`, (x) => niahAt(x, task, lengths[i]!), 100)]));
      }
    }
    for (const m of mqarTrackModels(plan)) {
      for (const n of plan.mqar.evalPairs) seedRows.push([modelLabel(m), `MQAR N=${n}`, overSeeds<MqarExperimentResult>(r, `mqar-${m}`, (x) => x.results.find((y) => y.numPairs === n)?.accuracy, 100)]);
    }
  }
  const seeds = { headers: ['model', 'task', `accuracy %: mean ± sd (seeds ${planSeeds(plan).join(', ')})`], rows: seedRows };
  return { models: modelsTable, niah: niahTable, mqar: mqarTable, perplexity: perplexityTable, ablation: ablationTable, passkey: passkeyTable, tracks, seeds };
}

// ---------------------------------------------------------------- figures

export function buildFigures(plan: ReproducePlan, r: CollectedResults): Record<string, string> {
  const figures: Record<string, string> = {};
  const models = planModels(plan);
  for (const m of models) {
    for (const task of r.niah[m]?.tasks ?? []) {
      figures[`niah-${task.task}-${m}`] = niahHeatmapSvg({
        title: `${task.task.toUpperCase()}: ${modelLabel(m)}`,
        lengths: task.lengths, depths: task.depths, accuracy: niahAccuracyMatrix(task),
      });
    }
  }
  for (const m of plan.passkey.models) {
    const p = r.passkey[m];
    if (!p) continue;
    figures[`passkey-${m}`] = niahHeatmapSvg({
      title: `Passkey: ${modelLabel(m)}`, lengths: p.lengths, depths: p.depths,
      accuracy: p.depths.map((d) => p.lengths.map((l) => p.cells.find((c) => c.length === l && c.depth === d)?.accuracy ?? Number.NaN)),
    });
  }
  const { trainLength, niah } = plan.longContext;
  const summarized = models.filter((m) => !isAblation(m) && r.niah[m]);
  for (const task of niah.tasks) {
    if (!summarized.length) break;
    const lengths = niah.multiples.map((k) => k * trainLength);
    figures[`niah-summary-${task}`] = heatmapSvg({
      title: `S-NIAH-${task.toUpperCase()}: accuracy % by model and length`,
      values: summarized.map((m) => lengths.map((l) => niahAt(r.niah[m], task, l) ?? Number.NaN)),
      rowLabels: summarized.map(modelLabel), columnLabels: niah.multiples.map((k, i) => `${lengths[i]} (${k}x)`),
      columnTitle: `prompt bytes (multiple of the ${trainLength}-byte training length)`, legendTitle: 'accuracy %', width: 640,
    });
  }
  const withMqar = models.filter((m) => r.mqar[m]);
  if (withMqar.length) {
    figures['mqar-accuracy'] = lineChartSvg({
      title: `MQAR accuracy by number of key-value pairs (V=${plan.mqar.vocabSize}, L=${plan.mqar.sequenceLength})`,
      series: withMqar.map((m) => ({ name: modelLabel(m), points: r.mqar[m]!.results.map((x) => [x.numPairs, 100 * x.accuracy] as const), dashed: isAblation(m) })),
      xTitle: 'key-value pairs N', yTitle: 'accuracy %', xScale: 'log2', yDomain: [0, 100], markers: true,
    });
  }
  const withPpl = models.filter((m) => r.perplexity[m]);
  if (withPpl.length) {
    figures['perplexity-by-position'] = lineChartSvg({
      title: 'Held-out byte perplexity by position (SOTU 2010-2021)',
      series: withPpl.map((m) => ({ name: modelLabel(m), points: r.perplexity[m]!.buckets.map((b) => [(b.start + b.end) / 2, b.perplexity] as const), dashed: isAblation(m) })),
      xTitle: 'position (bytes)', yTitle: 'perplexity (log scale)', yScale: 'log10', markers: true,
    });
  }
  for (const [track, results] of [['bytes', r.trainLong], ['mqar', r.trainMqar], ['passkey', r.trainPasskey]] as const) {
    const trained = (Object.keys(results) as ModelName[]).filter((m) => results[m]);
    if (!trained.length) continue;
    figures[`loss-${track}`] = lineChartSvg({
      title: { bytes: 'Training loss, bytes track (SOTU text and S-NIAH answers, alternating steps)', mqar: 'Training loss, MQAR track (query positions)', passkey: 'Training loss, compact passkey (answer bytes)' }[track],
      series: trained.map((m) => ({ name: modelLabel(m), points: smooth(results[m]!.losses).map((l, i) => [i + 1, l] as const), dashed: isAblation(m) })),
      xTitle: 'step', yTitle: 'loss (nats, smoothed)',
    });
  }
  const ablationModels: ModelName[] = ['lmm', ...plan.ablations.filter((a) => ABLATIONS[a].base === 'lmm'), ...(plan.ablations.some((a) => ABLATIONS[a].base === 'mac') ? ['mac' as const, ...plan.ablations.filter((a) => ABLATIONS[a].base === 'mac')] : [])];
  if (plan.ablations.length) {
    const categories = ablationModels.map((m) => (isAblation(m) ? ABLATIONS[m].label : `${m.toUpperCase()} (full)`));
    figures['ablation-perplexity'] = barChartSvg({ title: 'Ablations: held-out byte perplexity (lower is better)', categories, series: [{ name: 'perplexity', values: ablationModels.map((m) => r.perplexity[m]?.perplexity ?? Number.NaN) }], yTitle: 'perplexity' });
    if (plan.ablations.some((a) => mqarTrackModels(plan).includes(a))) figures['ablation-recall'] = barChartSvg({ title: 'Ablations: MQAR accuracy % (mean over N)', categories, series: [{ name: 'MQAR', values: ablationModels.map((m) => 100 * (mqarOverall(r.mqar[m]) ?? Number.NaN)) }], yTitle: 'accuracy %', yDomain: [0, 100] });
    figures['ablation-long-context'] = barChartSvg({ title: 'Ablations: S-NIAH accuracy % (all tasks, lengths, depths)', categories, series: [{ name: 'S-NIAH', values: ablationModels.map((m) => 100 * (niahOverall(r.niah[m]) ?? Number.NaN)) }], yTitle: 'accuracy %', yDomain: [0, 100] });
  }
  return figures;
}

/** Several figures side by side in one block (the heat maps are small). */
function gallery(html: HtmlReport, figures: Record<string, string>, prefix: string, caption: string): void {
  const svgs = Object.entries(figures).filter(([stem]) => stem.startsWith(prefix)).map(([, svg]) => svg.replace(/^<\?xml[^>]*>\s*/, ''));
  if (svgs.length) html.figure(`<div style="display:flex;flex-wrap:wrap;gap:4px">${svgs.map((svg) => `<div style="flex:0 1 460px">${svg}</div>`).join('')}</div>`, caption);
}

/** Exponential moving average of the losses (skipped steps carry the previous value). */
function smooth(losses: readonly (number | null)[], keep = 0.9): number[] {
  const out: number[] = [];
  let value = Number.NaN;
  for (const l of losses) {
    if (l !== null) value = Number.isNaN(value) ? l : keep * value + (1 - keep) * l;
    out.push(value);
  }
  return out;
}

// ---------------------------------------------------------------- writing

function markdownTable(headers: readonly string[], rows: readonly (readonly TableCell[])[]): string {
  const cell = (v: TableCell): string => (v === null ? '–' : String(v)).replace(/\|/g, '\\|');
  return [`| ${headers.map(cell).join(' | ')} |`, `| ${headers.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
}

export interface ReportOutput {
  readonly files: string[];
  readonly missing: string[];
}

/** Writes results.json, report.html, summary.md and figures/*.svg into `out`. */
export function writeReproduceReport(options: { plan: ReproducePlan; out: string; command?: string; /** Processes of the run (the cost of more training is given for as many). */ jobs?: number }): ReportOutput {
  const { plan, out } = options;
  const r = collectResults(plan, out);
  const tables = buildTables(plan, r);
  const figures = buildFigures(plan, r);
  const prov = provenance(options.command ?? `titans reproduce --plan ${plan.name}`);
  const totalSeconds = Object.values(r.seconds).reduce((s, x) => s + x, 0);
  const files: string[] = [];
  const write = (name: string, text: string): void => {
    const path = join(out, name);
    writeFileSync(path, text);
    files.push(path);
  };
  mkdirSync(join(out, 'figures'), { recursive: true });
  for (const [stem, svg] of Object.entries(figures)) write(join('figures', `${stem}.svg`), svg);

  const resultsPath = join(out, 'results.json');
  writeJsonAtomically(resultsPath, { provenance: prov, plan, totalSeconds, missing: r.missing, paper: PAPER, paperAtlasHope: PAPER_ATLAS_HOPE, results: r });
  files.push(resultsPath);

  const T = plan.longContext.trainLength;
  const intro = [
    `Plan '${plan.name}': ${plan.description}`,
    `Command: ${prov.command}. Commit ${prov.commit}${prov.dirty ? ' (with uncommitted changes)' : ''}; ${prov.cpu}, ${prov.cores} cores, Node ${prov.node}; ${prov.date}. The experiments' wall-clock times add up to ${(totalSeconds / 60).toFixed(1)} minutes (with --jobs N several run at once).`,
    `Everything is byte-level (vocabulary 259). Bytes track: each model trains ${plan.longContext.train.steps} steps of ${plan.longContext.train.batchSize} x ${T} bytes, alternating SOTU speeches (1790-1999, every byte predicted) with S-NIAH prompts in the paper's templates (loss on the answer). S-NIAH is evaluated at ${plan.longContext.niah.multiples.map((m) => `${m * T}`).join(', ')} bytes (${plan.longContext.niah.multiples.map((m) => `${m}x`).join(', ')} the training length), ${plan.longContext.niah.depths} depths x ${plan.longContext.niah.samplesPerCell} samples per cell, greedy decoding. MQAR track: ${plan.mqar.train.steps} steps of ${plan.mqar.train.batchSize} sequences (V=${plan.mqar.vocabSize}, L=${plan.mqar.sequenceLength}, N cycled over ${plan.mqar.trainPairs.join('/')}).`,
    'Results are deterministic given the seed (the seconds are not). The paper\'s figures are quoted from the paper; ours are measured by this run. The scales differ by 4-5 orders of magnitude: compare orderings, not values.',
  ];
  const html = new HtmlReport(`Titans at small scale: reproduction report (plan '${plan.name}')`);
  intro.forEach((p) => html.paragraph(p));
  if (r.missing.length) html.paragraph(`Missing (not run yet, left out by --only, or failed): ${r.missing.join(', ')}.`);
  html.heading('Models').table(tables.models.headers, tables.models.rows, 'Parameter counts are matched to the LMM by the MLP width (ablations keep their base model\'s widths).');
  html.heading('Learning at all: compact passkey').table(tables.passkey.headers, tables.passkey.rows, `Accuracy % (greedy, passkey of ${plan.passkey.digits} digits must appear whole) at ${plan.passkey.multiples.map((m) => `${m}x`).join(' / ')} the training length, ${plan.passkey.depths} depths x ${plan.passkey.samplesPerCell} samples. Attention windows and MAC segments are ${plan.passkey.model.window} / ${plan.passkey.model.segmentLength} bytes. "(n of N non-finite)": n of the N prompts at that length gave NaN or infinite outputs (the model diverged; counted as wrong).${plan.passkey.heldOutFiller ? ` Seen filler: RULER's five PK sentences, as in training; held-out filler: the same passkeys and depths among ${HELD_OUT_FILLER_SOURCE}.` : ''}`);
  gallery(html, figures, 'passkey-', `Accuracy % by needle depth and prompt length in bytes (trained at ${plan.passkey.trainLength}), one map per model.`);
  html.heading('S-NIAH: the paper and ours').table(tables.niah.headers, tables.niah.rows, `Paper: ${PAPER.niah.note}. Ours: accuracy % at ${plan.longContext.niah.multiples.map((m) => `${m}x`).join(' / ')} the training length (${T} bytes), mean over depths.`);
  html.table(PAPER.niah.header, PAPER.niah.rows, `The paper's full table (${PAPER.niah.note}), including models we do not train.`);
  for (const task of plan.longContext.niah.tasks) {
    if (figures[`niah-summary-${task}`]) html.figure(figures[`niah-summary-${task}`]!);
    gallery(html, figures, `niah-${task}-`, `S-NIAH-${task.toUpperCase()} accuracy % by needle depth and prompt length in bytes (trained at ${T}), one map per model.`);
  }
  html.heading('MQAR').table(tables.mqar.headers, tables.mqar.rows, 'Accuracy % at the query positions.');
  if (figures['mqar-accuracy']) html.figure(figures['mqar-accuracy']);
  // The Atlas and Hope papers' numbers beside our MQAR and passkey results (paper-atlas-hope.ts).
  const beyondModels = [...new Set([...mqarTrackModels(plan), ...plan.passkey.models])];
  const beyond = beyondModels.some(isBeyondTitans);
  const passkeyLengths = plan.passkey.multiples.map((m) => m * plan.passkey.trainLength);
  const beyondTable = beyondTitansTable(beyondModels, {
    mqar: (m) => mqarOverall(r.mqar[m]), passkeyLengths, label: modelLabel,
    passkey: (m) => passkeyLengths.map((l) => r.passkey[m]?.byLength.find((b) => b.length === l)?.accuracy),
  });
  if (beyond) {
    html.heading('Atlas and Hope: the papers\' numbers beside ours (a different scale)').table(beyondTable.headers, beyondTable.rows, beyondTitansNote());
    for (const t of PAPER_ATLAS_HOPE.tables) html.table(t.header, t.rows, quotedTableCaption(t));
  }
  html.heading('Language modelling: the paper and ours').table(tables.perplexity.headers, tables.perplexity.rows, `Paper: ${PAPER.lm.note}. Ours: held-out SOTU speeches (2010-2021), first ${plan.longContext.perplexity.bytes} bytes of ${plan.longContext.perplexity.documents}, buckets of ${plan.longContext.perplexity.bucketSize} bytes.`);
  if (figures['perplexity-by-position']) html.figure(figures['perplexity-by-position']);
  html.heading('Ablations: the paper and ours').table(tables.ablation.headers, tables.ablation.rows, 'Paper: LMM ablations (LM ppl / reasoning acc / long-context acc). Ours: SOTU byte perplexity / MQAR accuracy (a recall stand-in for reasoning) / S-NIAH accuracy. Persistent tokens are ablated on MAC (LMM has no attention to hold them).');
  for (const stem of ['ablation-perplexity', 'ablation-recall', 'ablation-long-context']) if (figures[stem]) html.figure(figures[stem]);
  if (tables.seeds.rows.length) html.heading('Seeds: mean and spread').table(tables.seeds.headers, tables.seeds.rows, 'Each cell: the mean over the seeds that have a result, ± the sample standard deviation, (the number of seeds). The tables above show the first seed.');
  for (const [track, table] of Object.entries(tables.tracks)) {
    const definition = trackDefinition(track);
    html.heading(definition.title).table(table.headers, table.rows, definition.description);
  }
  // The issue's targets, met or missed by how much, and what the next order of magnitude would cost (targets.ts).
  const targets = formatTargets(checkTargets(plan, r, { jobs: options.jobs ?? 2 }));
  if (targets.rows.length) html.heading('Targets: met or missed, and what more training would cost').table(targets.headers, targets.rows, targets.cost);
  html.heading('Training curves');
  for (const stem of ['loss-bytes', 'loss-mqar', 'loss-passkey']) if (figures[stem]) html.figure(figures[stem]);
  html.json('Plan', plan);
  html.json('Provenance', prov);
  write('report.html', html.toString());

  const md = [
    `# Reproduction report (plan '${plan.name}')`, '', ...intro.flatMap((p) => [p, '']),
    ...(r.missing.length ? [`Missing (not run yet, left out by --only, or failed): ${r.missing.join(', ')}.`, ''] : []),
    '## Models', '', markdownTable(tables.models.headers, tables.models.rows), '',
    '## Compact passkey', '', markdownTable(tables.passkey.headers, tables.passkey.rows), '',
    '## S-NIAH', '', `Paper: ${PAPER.niah.note}. Ours: accuracy % at ${plan.longContext.niah.multiples.map((m) => `${m}x`).join(' / ')} of ${T} bytes, mean over depths.`, '', markdownTable(tables.niah.headers, tables.niah.rows), '',
    `The paper's full table:`, '', markdownTable(PAPER.niah.header, PAPER.niah.rows), '',
    '## MQAR', '', markdownTable(tables.mqar.headers, tables.mqar.rows), '',
    ...(beyond ? [
      '## Atlas and Hope: the papers\' numbers beside ours (a different scale)', '', beyondTitansNote(), '', markdownTable(beyondTable.headers, beyondTable.rows), '',
      ...PAPER_ATLAS_HOPE.tables.flatMap((t) => [quotedTableCaption(t), '', markdownTable(t.header, t.rows), '']),
    ] : []),
    '## Language modelling', '', `Paper: ${PAPER.lm.note}. Ours: held-out SOTU (2010-2021), byte level.`, '', markdownTable(tables.perplexity.headers, tables.perplexity.rows), '',
    '## Ablations', '', markdownTable(tables.ablation.headers, tables.ablation.rows), '',
    ...(tables.seeds.rows.length ? ['## Seeds: mean and spread', '', markdownTable(tables.seeds.headers, tables.seeds.rows), ''] : []),
    ...Object.entries(tables.tracks).flatMap(([track, table]) => [`## ${trackDefinition(track).title}`, '', trackDefinition(track).description, '', markdownTable(table.headers, table.rows), '']),
    ...(targets.rows.length ? ['## Targets', '', markdownTable(targets.headers, targets.rows), '', targets.cost, ''] : []),
  ].join('\n');
  write('summary.md', md);
  return { files, missing: r.missing };
}
