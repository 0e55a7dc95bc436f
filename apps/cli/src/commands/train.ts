// `titans train`: trains a model from a config file or preset plus overrides on a data task,
// checkpointing into --out; `--resume` continues a run exactly; Ctrl-C saves and exits.
import { existsSync, statSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import {
  CHECKPOINT_FILES, CheckpointError, CheckpointSaveError, TrainingDivergedError, countParameters, hasCheckpoint, lockCheckpoint, progressLogger,
  type CheckpointLock, type TrainResult,
} from '@titans/models';
import { EXIT, UsageError, resolveUserPath, type Command, type CommandContext } from '../command.js';
import { selectBackend } from '../backend.js';
import { checkpointMessage, readCheckpointSummary } from '../checkpoint.js';
import { checkModelFits, checkTrainingFits } from '../limits.js';
import { fixed, grouped } from '../format.js';
import { choiceValue, expectPositional, integerValue, parseArgs, type ParsedArgs } from '../options.js';
import { checkWritableDirectory, isNonEmptyDirectory, makeOutputDirectory, outputDirectory, readUserJson } from '../paths.js';
import { progressStream } from '../progress.js';
import {
  DATA_TASKS, TOKENIZERS, applySet, mergeInputs, parseRunConfig, readConfigFile, resolveRunConfig, type RunConfig, type RunConfigInput,
} from '../run-config.js';
import { RUN_FILE, checkData, runTraining, tokenizerFor } from '../training.js';
import { textFileDigest, userTextDocuments } from '../text-data.js';

const usage = `usage: titans train [--config FILE.json | --preset NAME] [--set KEY=VALUE]... [--text FILE]... [options]

Trains a model and checkpoints it into --out (model.safetensors, optimizer.safetensors,
config.json, trainer.json, run.json). Ctrl-C finishes the step, saves and exits (code 130);
\`titans train --resume --out DIR\` continues exactly where it stopped.

model and data:
  --config FILE.json     run config { model, data, train, seed } or a bare model config
  --preset NAME          tiny-<arch>, demo-mag, demo-swa, paper-<arch>-<size> (default tiny-mac)
  --set KEY=VALUE        override one value, e.g. --set model.dim=64 --set train.lr=1e-3
                         --set data.sequenceLength=512 --set model.memory.chunkSize=32
  --data TASK            ${DATA_TASKS.filter((t) => t !== 'text').join(' | ')} (default sotu)
  --text FILE            train on your own UTF-8 text (repeat for several files); the last
                         10% of each file (from a line start) is held out for validation and
                         for \`titans eval --text FILE\`. Empty, binary or non-UTF-8 files are
                         refused (exit 2).
  --tokenizer byte|gpt2  bytes (default, vocabulary 259) or GPT-2 BPE (sets model.vocabSize
                         to 50257 unless the config sets it)
  --steps N              total optimizer steps (default 200)

run:
  --out DIR              checkpoint directory (default runs/train-<timestamp>)
  --resume               continue the checkpoint in --out (only --steps may change)
  --allow-revision-mismatch   with --resume: continue weights saved by another revision of
                         the architecture (refused otherwise); the next checkpoint records
                         the current revision
  --eager                run the training step op by op instead of compiled (the default
                         compiles forward, backward and the optimizer update once per
                         batch shape and replays them; results agree to float32 rounding)
  --backend cpu|webgpu|auto, --seed N, --json

config keys: model.{architecture,vocabSize,dim,layers,heads,mlpHidden,window,segmentLength,
persistentTokens,ropeBase,normEps,tieEmbeddings,dtype,seed,memory.{heads,depth,expansion,
chunkSize,convKernel,outputGate,thetaMax,gateBias,ruleOverrides}},
data.{task,textFiles,tokenizer,sequenceLength,batchSize,digits,passkeyRows,answerWeight,numPairs,mqarVocab},
train.{steps,lr,warmupSteps,minLrRatio,weightDecay,clipNorm,gradAccumulation,checkpointEvery,
evalEvery,evalBatches}, seed

A second trainer on the same --out is refused (the first holds a lock file, .titans-lock).
If training diverges (the loss stays non-finite) or a save fails (disk full), it stops and
names the step of the checkpoint left on disk, which is intact. A first run that stops
before its first save can be started again with the same command (not --resume).

exit codes: 0 trained, 1 diverged or could not save, 2 bad input, 130 interrupted (checkpoint saved)`;

/** The run config from --config/--preset/--set/--data/--steps/--seed. */
export function runConfigFromArgs(parsed: ParsedArgs, context: CommandContext): RunConfig {
  let input: RunConfigInput = {};
  if (parsed.values.config !== undefined) input = readConfigFile(resolveUserPath(parsed.values.config, context), parsed.values.config);
  if (parsed.values.preset !== undefined) input = mergeInputs(input, { model: { preset: parsed.values.preset } });
  for (const assignment of parsed.repeated.set ?? []) input = applySet(input, assignment);
  if (parsed.values.data !== undefined) input = mergeInputs(input, { data: { task: choiceValue('data', parsed.values.data, DATA_TASKS) } });
  const texts = parsed.repeated.text ?? [];
  if (texts.length > 0) {
    if (parsed.values.data !== undefined && parsed.values.data !== 'text') throw new UsageError(`--text trains on your files; it cannot be combined with --data ${parsed.values.data}`);
    input = mergeInputs(input, { data: { task: 'text', textFiles: texts.map((file) => resolveUserPath(file, context)) } });
  }
  if (parsed.values.tokenizer !== undefined) {
    const tokenizer = choiceValue('tokenizer', parsed.values.tokenizer, TOKENIZERS);
    const vocab = tokenizer === 'gpt2' && input.model?.vocabSize === undefined ? { model: { vocabSize: 50257 } } : {};
    input = mergeInputs(input, { data: { tokenizer }, ...vocab });
  }
  if (parsed.values.steps !== undefined) input = mergeInputs(input, { train: { steps: integerValue('steps', parsed.values.steps, { min: 1 }) } });
  if (parsed.values.seed !== undefined) input = mergeInputs(input, { seed: parsed.global.seed });
  return resolveRunConfig(input);
}

/** Ctrl-C once: stop after this step and save. The terminal and the launcher may both deliver it, so repeats within 2 s are the same press. */
function interruptOnSigint(controller: AbortController, context: CommandContext): () => void {
  let first = 0;
  const onSigint = (): void => {
    const now = Date.now();
    if (first === 0) {
      first = now;
      context.err('titans train: interrupted; finishing the step and saving a checkpoint (Ctrl-C again to quit without saving)');
      controller.abort();
    } else if (now - first > 2000) {
      process.exit(130);
    }
  };
  process.on('SIGINT', onSigint);
  return () => process.off('SIGINT', onSigint);
}

export const trainCommand: Command = {
  name: 'train',
  summary: 'train a model (config file or preset + overrides) on sotu, passkey, mqar or your own text; resumable',
  usage,
  async run(args, context) {
    const parsed = parseArgs(args, { values: ['config', 'preset', 'data', 'steps', 'tokenizer'], repeated: ['set', 'text'], flags: ['resume', 'eager', 'allow-revision-mismatch'] });
    expectPositional(parsed.positional, 0, 0, 'no arguments');
    const resume = parsed.flags.has('resume');
    const allowRevisionMismatch = parsed.flags.has('allow-revision-mismatch');
    // A new run loads no weights: there is no revision to mismatch.
    if (allowRevisionMismatch && !resume) throw new UsageError('--allow-revision-mismatch applies to --resume (a new run loads no weights)');
    let run: RunConfig;
    let dir: string;
    if (resume) {
      if (parsed.global.out === undefined) throw new UsageError('--resume needs --out DIR (the run to continue)');
      dir = resolveUserPath(parsed.global.out, context);
      for (const option of ['config', 'preset', 'data', 'seed', 'tokenizer'] as const) {
        if (parsed.values[option] !== undefined) throw new UsageError(`--resume continues the run saved in ${parsed.global.out}; --${option} cannot change it`);
      }
      if ((parsed.repeated.set ?? []).length > 0) throw new UsageError(`--resume continues the run saved in ${parsed.global.out}; --set cannot change it`);
      if ((parsed.repeated.text ?? []).length > 0) throw new UsageError(`--resume continues the run saved in ${parsed.global.out} (its text files included); --text cannot change it`);
      if (existsSync(dir) && !statSync(dir).isDirectory()) throw new UsageError(`nothing to resume: ${parsed.global.out} is not a directory`);
      const runFile = join(dir, RUN_FILE);
      if (!existsSync(dir) || !(await hasCheckpoint(dir))) {
        if (existsSync(runFile)) {
          throw new UsageError(`nothing to resume: ${parsed.global.out} holds no checkpoint (its run stopped before the first save); start it again with the same command without --resume`);
        }
        throw new UsageError(`nothing to resume: ${parsed.global.out} holds no checkpoint`);
      }
      if (!existsSync(runFile)) throw new UsageError(`cannot resume ${parsed.global.out}: no ${RUN_FILE} (not written by titans train)`);
      run = parseRunConfig(readUserJson(runFile, `${parsed.global.out}/${RUN_FILE}`), `${parsed.global.out}/${RUN_FILE}`);
      // Validates every file's header, size and save mark (no weights read); the weights are checked as they load.
      const summary = await readCheckpointSummary(dir, context);
      const done = summary.trainer?.step ?? 0;
      if (summary.trainer === null) throw new UsageError(`cannot resume ${parsed.global.out}: it has no ${CHECKPOINT_FILES.trainer} (weights only)`);
      if (!summary.files[CHECKPOINT_FILES.optimizer]) throw new UsageError(`cannot resume ${parsed.global.out}: it has no ${CHECKPOINT_FILES.optimizer}`);
      if (parsed.values.steps !== undefined) {
        const steps = integerValue('steps', parsed.values.steps, { min: 1 });
        if (steps <= done) throw new UsageError(`--steps ${steps} is not beyond the checkpoint's step ${done}`);
        run = { ...run, train: { ...run.train, steps } };
      } else if (done >= run.train.steps) {
        throw new UsageError(`the run in ${parsed.global.out} is complete (step ${done} of ${run.train.steps}); pass a larger --steps to continue`);
      }
    } else {
      run = runConfigFromArgs(parsed, context);
      dir = outputDirectory(parsed.global.out, 'train', context);
      checkWritableDirectory(dir);
      if (isNonEmptyDirectory(dir) && (await hasCheckpoint(dir))) {
        throw new UsageError(`${parsed.global.out ?? dir} already holds a run (use --resume to continue it, or another --out)`);
      }
    }
    checkModelFits(run.model, 'invalid config', 4);
    checkTrainingFits(run.model, run.data.batchSize, run.data.sequenceLength);
    if (run.data.task === 'text') {
      // Every file read and checked (and each long enough to hold out a tail) before anything is written.
      const shown = (path: string): string => shownPath(path, context.cwd);
      const files = (run.data.textFiles ?? []).map((file) => resolveUserPath(file, context));
      userTextDocuments(files, 'train', shown);
      const digests = files.map((file) => textFileDigest(file, shown(file)));
      if (resume) {
        const saved = run.data.textDigests;
        const changed = saved ? files.findIndex((file, i) => digests[i] !== saved[i]) : -1;
        if (changed >= 0) {
          throw new UsageError(`cannot resume: ${shown(files[changed]!)} changed since the run started (--resume continues exactly, on the same text; train a new run with --text)`);
        }
      }
      run = { ...run, data: { ...run.data, textFiles: files, textDigests: digests } };
    }
    checkData(run, await tokenizerFor(run.data.tokenizer));
    if (!resume) {
      makeOutputDirectory(dir);
      // A run.json without a checkpoint is a first run that stopped before saving: it starts again.
      if (existsSync(join(dir, RUN_FILE))) context.err(`note: ${parsed.global.out ?? dir} holds a run that stopped before its first checkpoint; starting it again`);
    }
    // One writer per directory: a second trainer is refused here, before anything is printed or written.
    let lock: CheckpointLock;
    try {
      lock = await lockCheckpoint(dir);
    } catch (error) {
      if (error instanceof CheckpointError) throw new UsageError(checkpointMessage(parsed.global.out ?? dir, error));
      throw error;
    }
    const backend = await selectBackend(parsed.global.backend).catch(async (error: unknown) => {
      await lock.release();
      throw error;
    });
    if (backend.note) context.err(backend.note);
    const controller = new AbortController();
    const release = interruptOnSigint(controller, context);
    const stream = progressStream();
    try {
      const params = countParameters(run.model);
      let result: TrainResult;
      try {
        ({ result } = await runTraining({
          run, dir, resume, allowRevisionMismatch, compile: !parsed.flags.has('eager'), log: progressLogger({ stream }), signal: controller.signal, ...(context.checkpointFileSystem ? { fileSystem: context.checkpointFileSystem } : {}),
          // Printed once a resume has loaded, so a refused checkpoint is one line.
          onReady: () => context.err(`${resume ? 'resuming' : 'training'} ${run.model.architecture} (${grouped(params)} parameters) on ${run.data.task}, ${run.data.batchSize} x ${run.data.sequenceLength} tokens per step, ${run.train.steps} steps, ${backend.name}; checkpoints in ${dir}`),
        }));
      } catch (error) {
        // A checkpoint that cannot be resumed, or a directory another trainer holds: bad input.
        if (error instanceof CheckpointError) throw new UsageError(checkpointMessage(parsed.global.out ?? dir, error));
        // Divergence or a failed save: the run stops; the message names the checkpoint on disk.
        if (error instanceof TrainingDivergedError || error instanceof CheckpointSaveError) {
          context.err(`titans train: ${error.message.replace(/^train: /, '')}`);
          return EXIT.failed;
        }
        throw error;
      }
      const lastLoss = [...result.losses].reverse().find((l) => l !== null) ?? null;
      const summary = {
        dir, architecture: run.model.architecture, parameters: params, backend: backend.name,
        step: result.step, totalSteps: run.train.steps, interrupted: result.interrupted, resumedFrom: result.resumedFrom,
        loss: lastLoss, validation: result.evals.at(-1)?.value ?? null, tokens: result.tokens, skippedSteps: result.skippedSteps,
        compiled: result.compiled,
      };
      if (parsed.global.json) context.out(JSON.stringify(summary, null, 2));
      else {
        context.out(`${result.interrupted ? 'interrupted' : 'trained'} ${run.model.architecture} to step ${result.step}/${run.train.steps}: loss ${fixed(lastLoss, 4)}${summary.validation === null ? '' : `, validation loss ${fixed(summary.validation, 4)}`}, ${grouped(result.tokens)} tokens`);
        context.out(`checkpoint: ${dir}`);
        if (result.interrupted) context.out(`continue with: titans train --resume --out ${dir}`);
        else {
          // A model trained on the user's text is scored on that text's held-out tail.
          const firstText = run.data.task === 'text' ? run.data.textFiles?.[0] : undefined;
          const evalText = firstText === undefined ? '' : ` --text ${firstText}`;
          context.out(`next: titans info ${dir} | titans eval ${dir}${evalText} | titans generate ${dir} --prompt "..."`);
        }
      }
      return result.interrupted ? 130 : EXIT.ok;
    } finally {
      release();
      backend.close();
      await lock.release();
    }
  },
};

/** A path as the user would write it: relative to their directory when inside it. */
function shownPath(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}
