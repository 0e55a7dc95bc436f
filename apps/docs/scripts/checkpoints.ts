// Copies the trained passkey checkpoints of a `titans reproduce` run into the site
// (public/checkpoints/<model>/: model.safetensors + config.json) and writes
// public/checkpoints/manifest.json: for each model its architecture, parameter count, the
// training recipe, the command that trained it and the accuracies the run measured. The
// live demos fetch the manifest and the weights from there.
//
//   pnpm --filter docs checkpoints                         # from ../cli/runs/reproduce-full
//   pnpm --filter docs checkpoints -- --run PATH --versus mag --models mag,mal,lmm,swa
//
// --run      the run's --out directory, relative to the repository root (default
//            apps/cli/runs/reproduce-full)
// --models   which passkey models to ship (default: mag, mal, lmm, mac, swa, those finished)
// --versus   the memory model of the "MAC vs sliding window" demo: mac, mag or auto (default:
//            MAC when its checkpoint retrieves beyond the training length better than SWA,
//            else MAG, and the manifest says why)
//
// Only a checkpoint of the current plan counts: its directory is checkpointDir(run,
// PLANS.full, model, 'passkey') and its result must carry the experiment's current hash
// (other hashes in the run's checkpoints/ are stale). The script fails rather than ship a
// stale or unfinished model.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PLANS, checkpointDir, experimentHash, planExperiments, trainRecipe, type ModelName } from '@titans/experiments';
import { REVISION_KEY, decodeSafetensors, encodeSafetensors, revisionMetadata, type ArchitectureName } from '@titans/models';
import type { CheckpointManifest, ShippedModel } from '../.vitepress/theme/demos/checkpoints.ts';

const docsRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repoRoot = resolve(docsRoot, '../..');
const plan = PLANS.full;

const LABELS: Partial<Record<ModelName, string>> = {
  mac: 'Titans MAC (memory as context)',
  mag: 'Titans MAG (memory as gate)',
  mal: 'Titans MAL (memory as layer)',
  lmm: 'Titans LMM (memory only)',
  swa: `Sliding-window attention (window ${plan.passkey.model.window})`,
  transformer: 'Transformer++ (full attention)',
  'gated-deltanet': 'Gated DeltaNet',
};

function option(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

interface ResultFile<R> {
  readonly id: string;
  readonly specHash: string;
  readonly seconds: number;
  readonly result: R;
}

interface PasskeyResult {
  readonly lengths: number[];
  readonly depths: number[];
  readonly cells: { length: number; depth: number; correct: number; total: number; accuracy: number }[];
  readonly byLength: { length: number; accuracy: number }[];
}

interface TrainResult {
  readonly parameters: number;
  readonly steps: number;
  readonly tokens: number;
  readonly finalLoss: number;
  readonly trainSeconds: number;
  readonly config: { architecture: string };
}

/** The result file of an experiment when it is current (its hash matches the plan), else null. */
function currentResult<R>(run: string, id: string): ResultFile<R> | null {
  const experiment = planExperiments(plan).find((e) => e.id === id);
  if (!experiment) throw new Error(`checkpoints: the ${plan.name} plan has no experiment ${id}`);
  const file = join(run, 'results', `${id}.json`);
  if (!existsSync(file)) return null;
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as ResultFile<R>;
  return parsed.specHash === experimentHash(plan, experiment) ? parsed : null;
}

function gitCommit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'apps/cli/src', 'packages'], { cwd: repoRoot, encoding: 'utf8' }).trim();
    return dirty ? `${head} (with uncommitted changes under apps/cli/src or packages/)` : head;
  } catch {
    return 'unknown';
  }
}

/** Mean accuracy over the lengths beyond the training length. */
function beyondTraining(model: ShippedModel, trainLength: number): number {
  const beyond = model.measured.byLength.filter((b) => b.length > trainLength);
  return beyond.reduce((s, b) => s + b.accuracy, 0) / Math.max(1, beyond.length);
}

/**
 * The weights with the architecture's revision recorded, for checkpoints saved before
 * revisions were: the training result is current and its spec hash includes the revision,
 * so they were trained at the current one (the demos' loadModelBytes refuses any other).
 */
function withRevision(bytes: Uint8Array, architecture: ArchitectureName): Uint8Array {
  const { tensors, metadata } = decodeSafetensors(bytes);
  if (metadata[REVISION_KEY] !== undefined) return bytes;
  return encodeSafetensors(tensors, { ...metadata, ...revisionMetadata(architecture) });
}

function main(): void {
  const run = resolve(repoRoot, option('run') ?? 'apps/cli/runs/reproduce-full');
  const asked = option('models')?.split(',').map((m) => m.trim()) as ModelName[] | undefined;
  const wanted: ModelName[] = asked ?? ['mag', 'mal', 'lmm', 'mac', 'swa'];
  const versus = option('versus') ?? 'auto';
  if (!['auto', 'mac', 'mag'].includes(versus)) throw new Error(`checkpoints: --versus must be auto, mac or mag, got ${versus}`);
  const out = join(docsRoot, 'public/checkpoints');
  const { trainLength, digits, multiples, depths: depthCount, samplesPerCell } = plan.passkey;

  const models: ShippedModel[] = [];
  const skipped: string[] = [];
  for (const name of wanted) {
    if (!plan.passkey.models.includes(name)) throw new Error(`checkpoints: ${name} is not trained on the passkey track of the ${plan.name} plan`);
    const source = checkpointDir(run, plan, name, 'passkey');
    const evaluation = currentResult<PasskeyResult>(run, `passkey-${name}`);
    const training = currentResult<TrainResult>(run, `train-passkey-${name}`);
    const why = !existsSync(join(source, 'model.safetensors')) ? `no checkpoint at ${relative(repoRoot, source)}`
      : !training ? `no current result train-passkey-${name}.json (still training?)`
      : !evaluation ? `no current result passkey-${name}.json (not evaluated yet?)`
      : null;
    if (why) {
      if (asked) throw new Error(`checkpoints: ${name}: ${why}`);
      skipped.push(`${name}: ${why}`);
      continue;
    }
    const target = join(out, name);
    rmSync(target, { recursive: true, force: true });
    mkdirSync(target, { recursive: true });
    const config = JSON.parse(readFileSync(join(source, 'config.json'), 'utf8')) as ShippedModel['config'];
    writeFileSync(join(target, 'model.safetensors'), withRevision(readFileSync(join(source, 'model.safetensors')), config.architecture as ArchitectureName));
    copyFileSync(join(source, 'config.json'), join(target, 'config.json'));
    const { result } = evaluation!;
    models.push({
      name,
      label: LABELS[name] ?? name,
      architecture: config.architecture,
      parameters: training!.result.parameters,
      weights: `${name}/model.safetensors`,
      config: config,
      configFile: `${name}/config.json`,
      bytes: statSync(join(target, 'model.safetensors')).size,
      checkpoint: relative(repoRoot, source),
      recipe: trainRecipe(plan, name, 'passkey'),
      training: { steps: training!.result.steps, tokens: training!.result.tokens, finalLoss: training!.result.finalLoss, seconds: training!.result.trainSeconds },
      measured: {
        byLength: result.byLength,
        cells: result.cells.map(({ length, depth, correct, total }) => ({ length, depth, correct, total })),
        resultHash: evaluation!.specHash,
      },
    });
  }
  if (!models.some((m) => m.name === 'swa')) throw new Error('checkpoints: the sliding-window model (swa) is needed by the MAC vs sliding window demo');

  // The memory model of the MAC vs sliding-window demo.
  const swa = models.find((m) => m.name === 'swa')!;
  const mac = models.find((m) => m.name === 'mac');
  const mag = models.find((m) => m.name === 'mag');
  let memory: ShippedModel | undefined;
  let reason: string;
  const macRetrieves = mac ? beyondTraining(mac, trainLength) >= beyondTraining(swa, trainLength) + 0.1 : false;
  const pct = (x: number): string => `${Math.round(100 * x)}%`;
  const beyond = multiples.slice(1).map((m) => m * trainLength).join(' and ');
  const compare = (m: ShippedModel): string => `${pct(beyondTraining(m, trainLength))} of the pass keys at ${beyond} bytes, SWA ${pct(beyondTraining(swa, trainLength))}`;
  if (versus === 'mac' || (versus === 'auto' && macRetrieves)) {
    memory = mac;
    reason = mac
      ? `MAC retrieves beyond the training length better than SWA (${compare(mac)}).`
      : 'MAC was asked for.';
  } else {
    memory = mag;
    reason = versus === 'mag' ? 'MAG was asked for (--versus mag).'
      : mac ? `the MAC checkpoint does not retrieve beyond the training length better than SWA (MAC ${compare(mac)}), so the demo uses MAG (memory as gate) instead.`
      : 'the run has no current MAC passkey checkpoint, so the demo uses MAG (memory as gate) instead.';
  }
  if (!memory) throw new Error(`checkpoints: the memory model for the versus demo (${versus === 'auto' ? 'mac or mag' : versus}) is not among the shipped models`);

  const lengths = multiples.map((m) => m * trainLength);
  const manifest: CheckpointManifest = {
    format: 'titans-docs-checkpoints',
    version: 1,
    source: {
      command: 'titans reproduce --plan full --jobs 2 --out runs/reproduce-full',
      where: 'apps/cli (the passkey track of the run published under Reproduce)',
      plan: plan.name,
      commitAtCopy: gitCommit(),
      copiedBy: 'pnpm --filter docs checkpoints',
    },
    task: {
      name: 'compact byte-level passkey',
      description: 'Filler sentences with "The pass key is NNNNN." at a sentence boundary, then " The pass key is"; the model must continue with " NNNNN.". Bytes are tokens. Trained on the answer tokens only, at 64 bytes; evaluated by greedy decoding at 1x, 2x and 4x that length.',
      promptBuilder: "compactPasskey from @titans/data; evaluation prompt i of a cell: seed deriveSeed(plan seed, 'passkey-eval', length, depth, i)",
      seed: plan.seed,
      trainLength,
      digits,
      lengths,
      depths: depthCount === 1 ? [0.5] : Array.from({ length: depthCount }, (_, i) => i / (depthCount - 1)),
      samplesPerCell,
      model: plan.passkey.model,
    },
    versus: { memory: memory.name, window: swa.name, reason },
    models,
  };
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const total = models.reduce((s, m) => s + m.bytes, 0);
  for (const m of models) console.log(`${m.name.padEnd(4)} ${m.checkpoint} -> public/checkpoints/${m.name}/ (${(m.bytes / 1024).toFixed(0)} KB), ${m.measured.byLength.map((b) => `${b.length} B ${pct(b.accuracy)}`).join(', ')}`);
  for (const s of skipped) console.log(`skipped ${s}`);
  console.log(`versus demo: ${memory.name} vs ${swa.name}: ${reason}`);
  console.log(`wrote public/checkpoints/manifest.json (${models.length} models, ${(total / 1024).toFixed(0)} KB of weights)`);
}

main();
