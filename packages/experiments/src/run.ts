// runPlan: runs a plan's experiments (skipping those whose result files already exist for
// the same spec), then writes the report. `titans reproduce` is this function plus argument
// parsing. With jobs > 1 the experiments run in
// child processes, as many at a time as their dependencies allow; every experiment is
// deterministic on its own, so the results do not depend on the number of jobs.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ByteTokenizer, compactPasskey, generateNiahSample, validateMqarOptions } from '@titans/data';
import { configureCpu } from '@titans/tensor';
import { planExperiments, planSeeds, readResult, runAndStore, trackConfig, trainRecipe, writeJsonAtomically, type Experiment } from './experiments.ts';
import { PLANS, type PlanName, type ReproducePlan } from './recipes.ts';
import { writeReproduceReport } from './report.ts';
import { checkCurriculum, curriculumLengths, niahAnswerBytes, retrievalTasksAt } from './tasks.ts';

export interface RunPlanOptions {
  /** Output directory (results/, checkpoints/, figures/, report.html, results.json, summary.md). */
  readonly out: string;
  /** Continue in a directory that already holds a run (finished experiments are skipped). */
  readonly resume?: boolean;
  /** Experiments run at once, in child processes (default 1: in this process). */
  readonly jobs?: number;
  /** Only rebuild the report from the results present. */
  readonly reportOnly?: boolean;
  /** Run only these experiments: each entry an experiment id, a model name (all of its experiments) or a track (bytes, mqar, passkey); a name that matches nothing is an error. */
  readonly only?: readonly string[];
  /** CPU threads per process for the tensor backend (default 1: tiny matmuls do not gain from more). */
  readonly threads?: number;
  /** The exact command line, recorded in the report. */
  readonly command?: string;
  /** Progress lines as the CLI prints them (default: none). */
  readonly log?: (line: string) => void;
  /** Stops the run: training saves a checkpoint, a later run with `resume` continues from it. */
  readonly signal?: AbortSignal;
  /** Train and decode eagerly instead of with compiled steps (--eager). */
  readonly eager?: boolean;
  /** Called as the run goes: the plan's counts, each experiment's start and finish, the report. */
  readonly onProgress?: (event: PlanProgress) => void;
  /**
   * Modules (file URLs or package names) that register the plan's model variants and tracks
   * (registerModel, registerTrack); each child process of `jobs > 1` imports them first.
   */
  readonly modules?: readonly string[];
}

/** Progress of runPlan, for a caller that shows it (the CLI prints the `log` lines instead). */
export type PlanProgress =
  | { readonly type: 'plan'; readonly plan: string; readonly total: number; readonly done: number; readonly todo: number }
  | { readonly type: 'start'; readonly experiment: Experiment }
  | { readonly type: 'finish'; readonly experiment: Experiment; readonly ok: boolean; readonly finished: number; readonly todo: number }
  | { readonly type: 'report'; readonly files: readonly string[]; readonly missing: readonly string[] };

export interface PlanSummary {
  readonly plan: string;
  readonly out: string;
  readonly ran: string[];
  readonly skipped: string[];
  readonly failed: string[];
  readonly missing: string[];
  readonly seconds: number;
  readonly files: string[];
}

/** Manifest of an output directory: which plan it holds (so a run never mixes two plans). */
interface Manifest {
  readonly format: 'titans-reproduce';
  readonly version: 1;
  readonly plan: string;
}

/** A plan by name (one of PLANS), or the plan itself. */
export function resolvePlan(plan: PlanName | ReproducePlan): ReproducePlan {
  if (typeof plan === 'object') return plan;
  if (!Object.hasOwn(PLANS, plan)) throw new ReproduceError(`unknown plan '${String(plan)}' (plans: ${Object.keys(PLANS).join(', ')})`);
  return PLANS[plan];
}

/**
 * Runs the experiments of `plan` into `options.out` and writes the report there. Finished
 * experiments (a result file with the same spec hash) are skipped with `resume`; training
 * continues from its last checkpoint. Returns what ran, what was skipped, failed or is missing.
 */
export async function runPlan(planOrName: PlanName | ReproducePlan, options: RunPlanOptions): Promise<PlanSummary> {
  const started = performance.now();
  const plan = resolvePlan(planOrName);
  const progress = options.onProgress ?? (() => {});
  const out = options.out;
  const log = options.log ?? (() => {});
  const jobs = Math.max(1, Math.floor(options.jobs ?? 1));
  configureCpu({ threads: options.threads ?? 1 });
  validatePlan(plan);
  const all = planExperiments(plan);
  const selected = options.only?.length ? selectExperiments(plan, all, options.only) : all;

  const manifestPath = join(out, 'manifest.json');
  if (existsSync(manifestPath)) {
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;
    if (manifest.plan !== plan.name) throw new ReproduceError(`${out} holds a run of plan '${manifest.plan}', not '${plan.name}'; choose another --out`);
    if (!options.resume && !options.reportOnly) throw new ReproduceError(`${out} already holds a run; pass --resume to continue it (finished experiments are skipped) or choose another --out`);
  } else {
    writeJsonAtomically(manifestPath, { format: 'titans-reproduce', version: 1, plan: plan.name } satisfies Manifest);
  }

  const ran: string[] = [];
  const skipped: string[] = [];
  const failed: string[] = [];
  if (!options.reportOnly) {
    const todo = selected.filter((e) => {
      if (readResult(out, plan, e)) {
        skipped.push(e.id);
        return false;
      }
      return true;
    });
    log(`reproduce: plan '${plan.name}', ${all.length} experiments, ${skipped.length} already done, ${todo.length} to run (${jobs} at a time)`);
    progress({ type: 'plan', plan: plan.name, total: all.length, done: skipped.length, todo: todo.length });
    const runOne = jobs === 1 ? inProcess(plan, out, log, options.signal, options.eager === true) : inChild(plan, out, log, options.threads ?? 1, options.signal, options.eager === true, options.modules ?? []);
    const tracked = (e: Experiment): Promise<boolean> => {
      progress({ type: 'start', experiment: e });
      return runOne(e);
    };
    await schedule(todo, new Set(skipped), jobs, tracked, (e, ok) => {
      (ok ? ran : failed).push(e.id);
      progress({ type: 'finish', experiment: e, ok, finished: ran.length + failed.length, todo: todo.length });
    }, options.signal, log);
  }
  const report = writeReproduceReport({ plan, out, jobs, ...(options.command ? { command: options.command } : {}) });
  progress({ type: 'report', files: report.files, missing: report.missing });
  const summary: PlanSummary = {
    plan: plan.name, out, ran, skipped, failed, missing: report.missing, seconds: (performance.now() - started) / 1000, files: report.files,
  };
  log(`reproduce: ${ran.length} run, ${skipped.length} skipped, ${failed.length} failed, ${report.missing.length} missing; report at ${join(out, 'report.html')}`);
  return summary;
}

/** Fails early (before any training) when a plan's training length cannot hold its S-NIAH prompts. */
export function validatePlan(plan: ReproducePlan): void {
  for (const [model, seeds] of Object.entries(plan.passkey.seedsByModel ?? {})) {
    const unknown = (seeds ?? []).filter((s) => !planSeeds(plan).includes(s));
    if (unknown.length) throw new ReproduceError(`plan '${plan.name}': passkey.seedsByModel.${model}: seed ${unknown.join(', ')} is not a seed of the plan (${planSeeds(plan).join(', ')})`);
  }
  // Every model resolves on every track it is trained on (unknown models, tracks or options fail here).
  for (const e of planExperiments(plan)) {
    try {
      trackConfig(plan, e.model, e.track);
    } catch (error) {
      throw new ReproduceError(`plan '${plan.name}': ${e.id}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  for (const e of planExperiments(plan)) {
    if (e.kind !== 'train') continue;
    const fractions = trainRecipe(plan, e.model, e.track).lengthCurriculum;
    if (!fractions) continue;
    const fail = (why: string): never => {
      throw new ReproduceError(`plan '${plan.name}': ${e.id}: lengthCurriculum [${fractions.join(', ')}]: ${why}`);
    };
    try {
      checkCurriculum(fractions);
    } catch (error) {
      fail(error instanceof Error ? error.message : String(error));
    }
    if (e.track === 'long') {
      const tasks = plan.longContext.mix?.tasks ?? plan.longContext.niah.tasks;
      for (const length of curriculumLengths(plan.longContext.trainLength, fractions)) {
        if (!retrievalTasksAt(tasks, length).length) fail(`no retrieval task of ${tasks.join(', ')} fits a stage of ${length} bytes`);
      }
    } else if (e.track === 'passkey') {
      for (const length of curriculumLengths(plan.passkey.trainLength, fractions)) {
        try {
          compactPasskey({ length: length + 1, seed: 0, digits: plan.passkey.digits });
        } catch (error) {
          fail(`a stage of ${length} bytes cannot hold a passkey prompt (${error instanceof Error ? error.message : String(error)})`);
        }
      }
    } else if (e.track === 'mqar') {
      for (const length of curriculumLengths(plan.mqar.sequenceLength, fractions)) {
        for (const numPairs of plan.mqar.trainPairs) {
          try {
            validateMqarOptions({ vocabSize: plan.mqar.vocabSize, sequenceLength: length, numPairs, batchSize: 1, seed: 0 });
          } catch (error) {
            fail(`a stage of ${length} tokens cannot hold ${numPairs} MQAR pairs (${error instanceof Error ? error.message : String(error)})`);
          }
        }
      }
    } else {
      fail(`the ${e.track} track has no curriculum over length (only the bytes, passkey and MQAR tracks)`);
    }
  }
  const tokenizer = new ByteTokenizer();
  for (const task of plan.longContext.niah.tasks) {
    try {
      generateNiahSample({ task, tokenizer, length: plan.longContext.trainLength + 1 - niahAnswerBytes(task), depth: 0.5, seed: 0 });
    } catch (error) {
      throw new ReproduceError(`plan '${plan.name}': trainLength ${plan.longContext.trainLength} cannot hold an S-NIAH-${task.toUpperCase()} prompt and its answer (${error instanceof Error ? error.message : String(error)})`);
    }
  }
}

/** Bad input or an output directory that does not fit (a usage error for the CLI). */
export class ReproduceError extends Error {
  override readonly name = 'ReproduceError';
}

type Runner = (experiment: Experiment) => Promise<boolean>;

/**
 * Runs experiments at most `jobs` at a time, each once the experiments it needs have results
 * (`finished` holds the ids that already had one). An experiment whose dependency failed or
 * was not selected is reported and not run.
 */
async function schedule(
  todo: Experiment[], finished: ReadonlySet<string>, jobs: number, run: Runner,
  done: (e: Experiment, ok: boolean) => void, signal: AbortSignal | undefined, log: (line: string) => void,
): Promise<void> {
  const succeeded = new Set(finished);
  const pending = new Set(todo.map((e) => e.id));
  const running = new Map<string, Promise<void>>();
  let queue = [...todo];
  while (queue.length > 0 || running.size > 0) {
    if (signal?.aborted) queue = [];
    const blocked = queue.filter((e) => e.after.some((a) => !pending.has(a) && !succeeded.has(a)));
    for (const e of blocked) {
      log(`${e.id}: not run (needs ${e.after.filter((a) => !succeeded.has(a)).join(', ')})`);
      pending.delete(e.id);
      done(e, false);
    }
    queue = queue.filter((e) => !blocked.includes(e));
    const ready = queue.filter((e) => e.after.every((a) => succeeded.has(a)));
    while (running.size < jobs && ready.length > 0) {
      const e = ready.shift()!;
      queue = queue.filter((x) => x !== e);
      running.set(e.id, run(e).then((ok) => {
        running.delete(e.id);
        pending.delete(e.id);
        if (ok) succeeded.add(e.id);
        done(e, ok);
      }));
    }
    if (running.size === 0) {
      // Nothing runs and nothing can start: whatever is left waits on something that never comes.
      for (const e of queue) {
        log(`${e.id}: not run (needs ${e.after.join(', ')})`);
        done(e, false);
      }
      break;
    }
    await Promise.race(running.values());
  }
}

/**
 * The experiments named by --only: experiment ids, model names or tracks ('bytes' is the
 * bytes track, whose experiment ids keep their historical 'long' prefix). A name that
 * matches nothing is an error, not an empty run.
 */
export function selectExperiments(plan: ReproducePlan, all: readonly Experiment[], only: readonly string[]): Experiment[] {
  const track = (name: string): string => (name === 'bytes' ? 'long' : name);
  const matches = (e: Experiment, name: string): boolean => e.id === name || e.model === name || e.track === track(name);
  const unknown = only.filter((name) => !all.some((e) => matches(e, name)));
  if (unknown.length) {
    throw new ReproduceError(`--only: ${unknown.map((n) => `'${n}'`).join(', ')} names no experiment, model or track of this plan (tracks: ${['bytes', 'mqar', 'passkey', ...Object.keys(plan.tracks ?? {})].join(', ')})`);
  }
  return all.filter((e) => only.some((name) => matches(e, name)));
}

function inProcess(plan: ReproducePlan, out: string, log: (line: string) => void, signal: AbortSignal | undefined, eager: boolean): Runner {
  return (experiment) => runAndStore(plan, experiment, { out, log, eager, ...(signal ? { signal } : {}) });
}

function inChild(plan: ReproducePlan, out: string, log: (line: string) => void, threads: number, signal: AbortSignal | undefined, eager: boolean, modules: readonly string[]): Runner {
  // From the sources (a checkout): src/worker.ts through tsx. From the build (an installed
  // package): dist/worker.mjs, beside the chunk that holds this code.
  const fromSource = import.meta.url.endsWith('.ts');
  const worker = fileURLToPath(new URL(fromSource ? './worker.ts' : './worker.mjs', import.meta.url));
  const args = fromSource ? ['--conditions=source', '--import', import.meta.resolve('tsx'), worker] : [worker];
  return (experiment) => new Promise((resolve) => {
    // The IPC channel is the worker's lifeline: when this process dies, even by kill -9, it closes
    // and the worker saves its step and stops (worker.ts), so no training is left orphaned.
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, TITANS_REPRODUCE_JOB: JSON.stringify({ plan, out, id: experiment.id, threads, eager, modules }) },
    });
    const forward = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) log(line);
    };
    child.stdout!.on('data', forward);
    child.stderr!.on('data', forward);
    // Ctrl-C in a terminal reaches the children directly; an abort signal is forwarded here.
    const onAbort = (): void => {
      child.kill('SIGINT');
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    child.on('exit', (code) => {
      signal?.removeEventListener('abort', onAbort);
      resolve(code === 0);
    });
  });
}
