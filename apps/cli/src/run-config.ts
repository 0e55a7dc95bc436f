// A training run described as data: the model (a preset and/or explicit config fields),
// the data (task, tokenizer, lengths) and the optimisation settings. It comes from a JSON
// file, a preset, `--set section.key=value` overrides and shorthand flags, is validated in
// full before anything runs (a bad value is a one-line UsageError naming the key), and is
// saved as run.json next to the checkpoint so `--resume`, `eval` and `info` know what ran.
import {
  ARCHITECTURES, PAPER_SIZES, defineConfig, isAtlasArchitecture, memoryRuleOf, paperConfig, tinyConfig,
  type ArchitectureName, type MemoryConfig, type ModelConfig, type ModelConfigInput, type PaperSize,
} from '@titans/models';
import { validateRule, type MemoryRule } from '@titans/memory';
import { UsageError } from './command.js';
import { readUserJson } from './paths.js';
import { demoModelConfig } from './demo/recipe.js';

export const DATA_TASKS = ['sotu', 'moby-dick', 'passkey', 'mqar', 'passkey+sotu', 'compact-passkey+sotu', 'text'] as const;
export type DataTask = (typeof DATA_TASKS)[number];
export const TOKENIZERS = ['byte', 'gpt2'] as const;
export type TokenizerChoice = (typeof TOKENIZERS)[number];

export interface DataConfig {
  /**
   * sotu / moby-dick: language modelling on the corpus's train split; passkey; mqar; passkey+sotu: both in every batch;
   * compact-passkey+sotu: the compact passkey of `titans reproduce` (answer-only loss) and SOTU text in every batch;
   * text: language modelling on the user's own UTF-8 files (data.textFiles; `titans train --text FILE`).
   */
  readonly task: DataTask;
  /** task 'text': the files (absolute paths); each file's last 10% is held out for validation. */
  readonly textFiles?: readonly string[];
  /** task 'text': SHA-256 of each file when the run started (`--resume` refuses files that changed since). */
  readonly textDigests?: readonly string[];
  readonly tokenizer: TokenizerChoice;
  /** Tokens per training row. */
  readonly sequenceLength: number;
  readonly batchSize: number;
  /** Passkey digits. */
  readonly digits: number;
  /** passkey+sotu, compact-passkey+sotu: rows of each batch that are passkey examples (the rest is corpus text). */
  readonly passkeyRows: number;
  /** Extra weight of the loss on the passkey answer tokens (0 = plain language-model loss). */
  readonly answerWeight: number;
  /** MQAR key-value pairs per sequence. */
  readonly numPairs: number;
  /** MQAR vocabulary (0 = the model's vocabulary). */
  readonly mqarVocab: number;
}

export interface TrainConfig {
  readonly steps: number;
  /** Peak learning rate (AdamW). */
  readonly lr: number;
  readonly warmupSteps: number;
  /** Learning rate at the last step, as a fraction of the peak. */
  readonly minLrRatio: number;
  readonly weightDecay: number;
  readonly clipNorm: number;
  readonly gradAccumulation: number;
  /** Save every this many steps (0: only at the end and on Ctrl-C). */
  readonly checkpointEvery: number;
  /** Validation loss every this many steps (0: only at the end). */
  readonly evalEvery: number;
  /** Batches of held-out data in each validation. */
  readonly evalBatches: number;
}

export interface RunConfig {
  readonly format: 'titans-run';
  readonly version: 1;
  readonly model: ModelConfig;
  readonly data: DataConfig;
  readonly train: TrainConfig;
  /** Seed of the data order and the step generator (the model's weights use model.seed). */
  readonly seed: number;
}

export const DEFAULT_DATA: DataConfig = {
  task: 'sotu', tokenizer: 'byte', sequenceLength: 256, batchSize: 4, digits: 5, passkeyRows: 2, answerWeight: 1, numPairs: 16, mqarVocab: 0,
};

export const DEFAULT_TRAIN: TrainConfig = {
  steps: 200, lr: 3e-3, warmupSteps: 20, minLrRatio: 0.1, weightDecay: 0.01, clipNorm: 1, gradAccumulation: 1, checkpointEvery: 50, evalEvery: 0, evalBatches: 2,
};

// ---------------------------------------------------------------- presets

/**
 * Architectures with paper-<arch>-<size> presets. The Atlas family has none: its degree-2
 * polynomial features widen each head's memory input to 1 + d + d^2, so the Titans paper's
 * shapes would give it 1.4-8x the label's parameters (10.9B at "1.3B"); `paperConfig` still
 * builds them from code for whoever wants that shape.
 */
const PAPER_PRESET_ARCHITECTURES = ARCHITECTURES.filter((a) => !isAtlasArchitecture(a));

/** Every preset name: tiny-<arch>, paper-<arch>-<size>, demo-mag, demo-swa. */
export function presetNames(): string[] {
  return [
    ...ARCHITECTURES.map((a) => `tiny-${a}`),
    'demo-mag', 'demo-swa',
    ...PAPER_PRESET_ARCHITECTURES.flatMap((a) => Object.keys(PAPER_SIZES).map((s) => `paper-${a}-${s}`)),
  ];
}

/** The model config a preset names. */
export function presetConfig(name: string): ModelConfig {
  if (name === 'demo-mag' || name === 'demo-swa') return demoModelConfig(name === 'demo-mag' ? 'mag' : 'swa');
  const tiny = /^tiny-(.+)$/.exec(name);
  if (tiny && (ARCHITECTURES as readonly string[]).includes(tiny[1]!)) return tinyConfig(tiny[1] as ArchitectureName);
  const paper = /^paper-(.+)-(170M|340M|760M|1\.3B)$/.exec(name);
  if (paper && (PAPER_PRESET_ARCHITECTURES as readonly string[]).includes(paper[1]!)) return paperConfig(paper[1] as ArchitectureName, paper[2] as PaperSize);
  throw new UsageError(`unknown preset '${name}' (e.g. tiny-mac, tiny-swa, demo-mag, paper-mac-170M; see titans info --presets)`);
}

// ---------------------------------------------------------------- schema

type FieldType = 'integer' | 'number' | 'boolean' | 'string' | 'strings' | 'gates' | 'rule';
interface Field {
  readonly type: FieldType;
  readonly min?: number;
  readonly max?: number;
  readonly choices?: readonly string[];
}

// Typed against ModelConfig / MemoryConfig so a field added there and written into every
// saved config.json / run.json fails to compile here until the reader knows it.
const MODEL_FIELDS: Record<Exclude<keyof ModelConfig, 'memory'> | 'preset', Field> = {
  preset: { type: 'string' },
  architecture: { type: 'string', choices: ARCHITECTURES },
  vocabSize: { type: 'integer', min: 2 },
  dim: { type: 'integer', min: 2 },
  layers: { type: 'integer', min: 1 },
  heads: { type: 'integer', min: 1 },
  mlpHidden: { type: 'integer', min: 1 },
  window: { type: 'integer', min: 0 },
  segmentLength: { type: 'integer', min: 1 },
  persistentTokens: { type: 'integer', min: 0 },
  ropeBase: { type: 'number', min: 1 },
  normEps: { type: 'number', min: 0 },
  tieEmbeddings: { type: 'boolean' },
  dtype: { type: 'string', choices: ['float32', 'float64'] },
  seed: { type: 'integer', min: 0 },
};

const MEMORY_FIELDS: Record<keyof MemoryConfig, Field> = {
  heads: { type: 'integer', min: 1 },
  depth: { type: 'integer', min: 1 },
  expansion: { type: 'number', min: 0 },
  chunkSize: { type: 'integer', min: 1 },
  convKernel: { type: 'integer', min: 0 },
  outputGate: { type: 'boolean' },
  thetaMax: { type: 'number', min: 0 },
  /** { theta?, eta?, alpha? }: initial gate logits. */
  gateBias: { type: 'gates' },
  /** Overrides of the update rule (MemoryRule fields except the architecture). */
  ruleOverrides: { type: 'rule' },
};

/** The MemoryRule fields `model.memory.ruleOverrides` may set, with their checks (bias and retention are objects checked by the rule's own validation). */
const RULE_FIELDS: Record<Exclude<keyof MemoryRule, 'architecture'>, Field | 'object'> = {
  bias: 'object',
  retention: 'object',
  chunkSize: { type: 'integer', min: 1 },
  momentum: { type: 'boolean' },
  forgetting: { type: 'boolean' },
  maxSurpriseNorm: { type: 'number', min: 0 },
  momentumOrder: { type: 'integer', min: 1 },
  layerLearningRates: { type: 'boolean' },
  orthogonalizeSurprise: { type: 'boolean' },
};

const DATA_FIELDS: Record<keyof DataConfig, Field> = {
  task: { type: 'string', choices: DATA_TASKS },
  textFiles: { type: 'strings' },
  textDigests: { type: 'strings' },
  tokenizer: { type: 'string', choices: TOKENIZERS },
  sequenceLength: { type: 'integer', min: 2 },
  batchSize: { type: 'integer', min: 1 },
  digits: { type: 'integer', min: 1, max: 15 },
  passkeyRows: { type: 'integer', min: 0 },
  answerWeight: { type: 'number', min: 0 },
  numPairs: { type: 'integer', min: 1 },
  mqarVocab: { type: 'integer', min: 0 },
};

const TRAIN_FIELDS: Record<keyof TrainConfig, Field> = {
  steps: { type: 'integer', min: 0 },
  lr: { type: 'number', min: 0 },
  warmupSteps: { type: 'integer', min: 0 },
  minLrRatio: { type: 'number', min: 0, max: 1 },
  weightDecay: { type: 'number', min: 0 },
  clipNorm: { type: 'number', min: 0 },
  gradAccumulation: { type: 'integer', min: 1 },
  checkpointEvery: { type: 'integer', min: 0 },
  evalEvery: { type: 'integer', min: 0 },
  evalBatches: { type: 'integer', min: 1 },
};

function describe(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : JSON.stringify(value) ?? String(value);
}

function checkField(key: string, value: unknown, field: Field): void {
  const fail = (expected: string): never => {
    throw new UsageError(`invalid config value ${key}=${describe(value)}: expected ${expected}`);
  };
  switch (field.type) {
    case 'strings':
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v.length === 0)) fail('a list of file names');
      return;
    case 'gates': {
      if (!isRecord(value)) fail('an object { theta?, eta?, alpha? } of finite numbers');
      for (const [gate, bias] of Object.entries(value as Record<string, unknown>)) {
        if (gate !== 'theta' && gate !== 'eta' && gate !== 'alpha') throw new UsageError(`unknown config key '${key}.${gate}' (gates: theta, eta, alpha)`);
        if (typeof bias !== 'number' || !Number.isFinite(bias)) throw new UsageError(`invalid config value ${key}.${gate}=${describe(bias)}: expected a finite number`);
      }
      return;
    }
    case 'rule': {
      if (!isRecord(value)) fail('an object of memory-rule fields');
      for (const [name, ruleValue] of Object.entries(value as Record<string, unknown>)) {
        const ruleField = Object.hasOwn(RULE_FIELDS, name) ? (RULE_FIELDS as Record<string, Field | 'object'>)[name] : undefined;
        if (!ruleField) throw new UsageError(`unknown config key '${key}.${name}' (${Object.keys(RULE_FIELDS).join(', ')})`);
        if (ruleField === 'object') {
          if (!isRecord(ruleValue) || typeof ruleValue.kind !== 'string') throw new UsageError(`invalid config value ${key}.${name}=${describe(ruleValue)}: expected an object with a 'kind'`);
        } else {
          checkField(`${key}.${name}`, ruleValue, ruleField);
        }
      }
      return;
    }
    case 'boolean':
      if (typeof value !== 'boolean') fail('true or false');
      return;
    case 'string':
      if (typeof value !== 'string') fail(field.choices ? `one of ${field.choices.join(', ')}` : 'a string');
      if (field.choices && !field.choices.includes(value as string)) fail(`one of ${field.choices.join(', ')}`);
      return;
    case 'integer':
    case 'number': {
      const kind = field.type === 'integer' ? 'an integer' : 'a number';
      const range = field.min !== undefined && field.max !== undefined ? ` in [${field.min}, ${field.max}]` : field.min !== undefined ? ` >= ${field.min}` : '';
      if (typeof value !== 'number' || !Number.isFinite(value) || (field.type === 'integer' && !Number.isSafeInteger(value))) fail(`${kind}${range}`);
      if ((field.min !== undefined && (value as number) < field.min) || (field.max !== undefined && (value as number) > field.max)) fail(`${kind}${range}`);
      return;
    }
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The config as the user wrote it: sections of loose values, checked key by key. */
export interface RunConfigInput {
  model?: Record<string, unknown>;
  data?: Record<string, unknown>;
  train?: Record<string, unknown>;
  seed?: unknown;
}

const SECTIONS = ['model', 'data', 'train', 'seed'] as const;

/** Checks every key of a (partial) config: unknown keys and wrong types are errors. */
export function checkInput(input: RunConfigInput, origin: string): void {
  for (const key of Object.keys(input)) {
    if (!(SECTIONS as readonly string[]).includes(key) && key !== 'format' && key !== 'version') {
      throw new UsageError(`${origin}: unknown config key '${key}' (sections: model, data, train, seed)`);
    }
  }
  const section = (name: 'model' | 'data' | 'train', fields: Record<string, Field>): void => {
    const values = input[name];
    if (values === undefined) return;
    if (!isRecord(values)) throw new UsageError(`${origin}: '${name}' must be an object`);
    for (const [key, value] of Object.entries(values)) {
      if (name === 'model' && key === 'memory') {
        if (!isRecord(value)) throw new UsageError(`${origin}: 'model.memory' must be an object`);
        for (const [memoryKey, memoryValue] of Object.entries(value)) {
          const field = Object.hasOwn(MEMORY_FIELDS, memoryKey) ? (MEMORY_FIELDS as Record<string, Field>)[memoryKey] : undefined;
          if (!field) throw new UsageError(`${origin}: unknown config key 'model.memory.${memoryKey}'`);
          checkField(`model.memory.${memoryKey}`, memoryValue, field);
        }
        continue;
      }
      const field = Object.hasOwn(fields, key) ? fields[key] : undefined;
      if (!field) throw new UsageError(`${origin}: unknown config key '${name}.${key}'`);
      checkField(`${name}.${key}`, value, field);
    }
  };
  section('model', MODEL_FIELDS);
  section('data', DATA_FIELDS);
  section('train', TRAIN_FIELDS);
  if (input.seed !== undefined) checkField('seed', input.seed, { type: 'integer', min: 0 });
}

/** Reads a config file: a run config ({ model, data, train, seed }) or a bare model config. */
export function readConfigFile(path: string, shown: string): RunConfigInput {
  const json = readUserJson(path, shown);
  if (!isRecord(json)) throw new UsageError(`${shown}: expected a JSON object`);
  // A bare model config (what a checkpoint's config.json holds) is accepted as { model }.
  // A checkpoint's config.json also carries its save's step and run id ('__checkpoint__'): not a config key.
  const { __checkpoint__: _mark, ...bare } = json;
  const input: RunConfigInput = 'architecture' in json || 'preset' in json ? { model: bare } : (json as RunConfigInput);
  checkInput(input, shown);
  return input;
}

/** Sets `section.key[.sub]=value` (from --set); the value is JSON when it parses, else a string. */
export function applySet(input: RunConfigInput, assignment: string): RunConfigInput {
  const eq = assignment.indexOf('=');
  if (eq <= 0) throw new UsageError(`--set expects key=value (e.g. model.dim=64), got '${assignment}'`);
  const path = assignment.slice(0, eq).trim().split('.');
  const text = assignment.slice(eq + 1).trim();
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = text;
  }
  const [section, ...rest] = path;
  const unsafe = path.find((part) => part === '__proto__' || part === 'constructor' || part === 'prototype');
  if (unsafe !== undefined) throw new UsageError(`--set ${path.join('.')}: '${unsafe}' is not a config key`);
  if (section === 'seed' && rest.length === 0) return { ...input, seed: value };
  if (section !== 'model' && section !== 'data' && section !== 'train') {
    throw new UsageError(`--set ${path.join('.')}: unknown config key (keys start with model., data., train. or are seed)`);
  }
  if (rest.length === 0 || rest.length > 2 || (rest.length === 2 && !(section === 'model' && rest[0] === 'memory'))) {
    throw new UsageError(`--set ${path.join('.')}: unknown config key`);
  }
  const current = { ...(input[section] ?? {}) };
  if (rest.length === 2) current.memory = { ...(isRecord(current.memory) ? current.memory : {}), [rest[1]!]: value };
  else current[rest[0]!] = value;
  const next = { ...input, [section]: current };
  checkInput({ [section]: { [rest[0]!]: rest.length === 2 ? { [rest[1]!]: value } : value } }, '--set');
  return next;
}

/** Merges b over a, section by section (model.memory merged too). */
export function mergeInputs(a: RunConfigInput, b: RunConfigInput): RunConfigInput {
  const model = a.model || b.model ? { ...a.model, ...b.model } : undefined;
  if (model && (isRecord(a.model?.memory) || isRecord(b.model?.memory))) {
    model.memory = { ...(isRecord(a.model?.memory) ? a.model.memory : {}), ...(isRecord(b.model?.memory) ? b.model.memory : {}) };
  }
  return {
    ...(model ? { model } : {}),
    ...(a.data || b.data ? { data: { ...a.data, ...b.data } } : {}),
    ...(a.train || b.train ? { train: { ...a.train, ...b.train } } : {}),
    ...(b.seed !== undefined ? { seed: b.seed } : a.seed !== undefined ? { seed: a.seed } : {}),
  };
}

/** Fills defaults, builds the model config (preset + fields) and checks what spans sections. */
export function resolveRunConfig(input: RunConfigInput): RunConfig {
  checkInput(input, 'config');
  const modelInput = { ...(input.model ?? {}) };
  const preset = typeof modelInput.preset === 'string' ? modelInput.preset : modelInput.architecture === undefined ? 'tiny-mac' : undefined;
  delete modelInput.preset;
  let model: ModelConfig;
  try {
    if (preset !== undefined) {
      const base = presetConfig(preset);
      const overrides = modelInput as Partial<ModelConfigInput>;
      const memory = { ...base.memory, ...overrides.memory, ruleOverrides: { ...base.memory.ruleOverrides, ...overrides.memory?.ruleOverrides } };
      model = defineConfig({ ...base, ...overrides, architecture: overrides.architecture ?? base.architecture, memory });
    } else {
      model = defineConfig(modelInput as unknown as ModelConfigInput);
    }
    const rule = memoryRuleOf(model);
    if (rule) validateRule(rule);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`invalid config: ${(error as Error).message}`);
  }
  const data: DataConfig = { ...DEFAULT_DATA, ...(input.data as Partial<DataConfig> | undefined) };
  if (data.task === 'text' && !(data.textFiles && data.textFiles.length > 0)) {
    throw new UsageError("invalid config: data.task 'text' needs data.textFiles (titans train --text FILE)");
  }
  if (data.task !== 'text' && (data.textFiles !== undefined || data.textDigests !== undefined)) {
    throw new UsageError(`invalid config: data.textFiles is only read by data.task 'text' (not '${data.task}')`);
  }
  if (data.textDigests !== undefined && data.textDigests.length !== data.textFiles?.length) {
    throw new UsageError(`invalid config: data.textDigests has ${data.textDigests.length} entries for ${data.textFiles?.length ?? 0} data.textFiles`);
  }
  const train: TrainConfig = { ...DEFAULT_TRAIN, ...(input.train as Partial<TrainConfig> | undefined) };
  const seed = (input.seed as number | undefined) ?? 0;
  const vocabNeeded = data.tokenizer === 'gpt2' ? 50257 : 259;
  if (data.task !== 'mqar' && model.vocabSize < vocabNeeded) {
    throw new UsageError(`invalid config: model.vocabSize ${model.vocabSize} is smaller than the ${data.tokenizer} tokenizer's ${vocabNeeded} ids`);
  }
  if ((data.task === 'passkey+sotu' || data.task === 'compact-passkey+sotu') && data.passkeyRows > data.batchSize) {
    throw new UsageError(`invalid config: data.passkeyRows ${data.passkeyRows} is more than data.batchSize ${data.batchSize}`);
  }
  if (data.task === 'mqar') {
    const vocab = data.mqarVocab || model.vocabSize;
    if (vocab > model.vocabSize) throw new UsageError(`invalid config: data.mqarVocab ${vocab} is larger than model.vocabSize ${model.vocabSize}`);
    if (vocab <= data.sequenceLength) throw new UsageError(`invalid config: MQAR needs a vocabulary larger than the sequence length (${vocab} <= data.sequenceLength ${data.sequenceLength})`);
    if (4 * data.numPairs > data.sequenceLength) throw new UsageError(`invalid config: MQAR needs 4 * data.numPairs <= data.sequenceLength (${data.numPairs} pairs, length ${data.sequenceLength})`);
  }
  return { format: 'titans-run', version: 1, model, data, train, seed };
}

/** Parses a saved run.json (written by `titans train`). */
export function parseRunConfig(json: unknown, shown: string): RunConfig {
  if (!isRecord(json) || json.format !== 'titans-run') throw new UsageError(`${shown}: not a titans run config (format 'titans-run')`);
  const { format: _format, version: _version, ...rest } = json;
  return resolveRunConfig(rest as RunConfigInput);
}
