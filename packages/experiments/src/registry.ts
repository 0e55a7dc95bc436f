// What a researcher adds from code: model variants (an architecture of @titans/models with
// some config changed, trained beside the others with its parameter count matched or not)
// and tracks (a training task with its own evaluation, e.g. the time-series and DNA tracks
// of extra-tracks.ts). A plan names them; the registry says what they are. Registrations
// live in the process that made them: with runPlan's `jobs > 1`, pass the registering
// modules as `modules` so each child process imports them too.
import type { ArchitectureName, BatchSourceFactory, ModelConfigInput, TitansLanguageModel } from '@titans/models';
import { ARCHITECTURES } from '@titans/models';
import { dnaTrack, timeSeriesTrack } from './extra-tracks.ts';
import { ABLATIONS, type CustomTrackSettings, type ModelName } from './recipes.ts';

/** A model variant: `base` built from the track's recipe, then `change` applied. */
export interface ModelVariant {
  readonly base: ArchitectureName;
  /** Row label in the report. */
  readonly label: string;
  /** Config fields to change (memory fields are merged, rule overrides too). */
  readonly change: Partial<Omit<ModelConfigInput, 'architecture'>>;
  /** Re-match the MLP width to the LMM's parameter count after the change (default true). */
  readonly matchParameters?: boolean;
}

/** What a track's evaluation returns: named numbers for the report's table, and anything else to keep. */
export interface TrackEvaluation {
  readonly metrics: Readonly<Record<string, number>>;
  readonly details?: unknown;
}

export interface TrackContext {
  readonly seed: number;
  readonly eager: boolean;
  readonly log: (line: string) => void;
}

/** A training track: its data, its vocabulary, its evaluation and how the report shows it. */
export interface TrackDefinition {
  /** File-safe name used in experiment ids (train-<name>-<model>, <name>-<model>). */
  readonly name: string;
  /** Section title in the report. */
  readonly title: string;
  /** One paragraph for the report: the task, the metric, what the paper reports. */
  readonly description: string;
  vocabSize(settings: CustomTrackSettings): number;
  /** Training batches (resumable from the state they report). */
  batches(settings: CustomTrackSettings, options: { readonly seed: number; readonly batchSize: number }): BatchSourceFactory<unknown>;
  evaluate(model: TitansLanguageModel, settings: CustomTrackSettings, context: TrackContext): Promise<TrackEvaluation>;
  /** Metrics where lower is better (the report marks the best value per column). */
  readonly lowerIsBetter?: readonly string[];
  /** Optional rows quoted from a paper: model label -> metric -> value as printed there. */
  readonly paper?: { readonly source: string; readonly rows: Readonly<Record<string, Readonly<Record<string, string>>>> };
}

const BUILTIN_TRACKS: Readonly<Record<string, TrackDefinition>> = { timeseries: timeSeriesTrack, dna: dnaTrack };
const tracks = new Map<string, TrackDefinition>();
const variants = new Map<string, ModelVariant>();
const FILE_SAFE = /^[a-z0-9][a-z0-9-]*$/;

/** Adds a model variant under `name` (lower-case letters, digits and '-'; not an architecture or ablation name). */
export function registerModel(name: string, variant: ModelVariant): void {
  if (!FILE_SAFE.test(name)) throw new Error(`registerModel: '${name}' must be lower-case letters, digits and '-'`);
  if ((ARCHITECTURES as readonly string[]).includes(name) || Object.hasOwn(ABLATIONS, name)) throw new Error(`registerModel: '${name}' is already an architecture or ablation`);
  if (!(ARCHITECTURES as readonly string[]).includes(variant.base)) throw new Error(`registerModel: unknown base architecture '${variant.base}'`);
  variants.set(name, variant);
}

/** The registered variant called `name`, if any. */
export function modelVariant(name: ModelName): ModelVariant | undefined {
  return variants.get(name);
}

/** Adds a track (its name must not be a built-in track's). */
export function registerTrack(definition: TrackDefinition): void {
  if (!FILE_SAFE.test(definition.name)) throw new Error(`registerTrack: '${definition.name}' must be lower-case letters, digits and '-'`);
  if (['long', 'mqar', 'passkey', 'bytes', ...Object.keys(BUILTIN_TRACKS)].includes(definition.name)) throw new Error(`registerTrack: '${definition.name}' is a built-in track`);
  tracks.set(definition.name, definition);
}

/** The definition of a registered or built-in track; an error naming the known ones otherwise. */
export function trackDefinition(name: string): TrackDefinition {
  const definition = tracks.get(name) ?? (Object.hasOwn(BUILTIN_TRACKS, name) ? BUILTIN_TRACKS[name] : undefined);
  if (!definition) throw new Error(`unknown track '${name}' (known: ${[...Object.keys(BUILTIN_TRACKS), ...tracks.keys()].join(', ')}; register it with registerTrack)`);
  return definition;
}
