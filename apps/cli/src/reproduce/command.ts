// The `titans reproduce` subcommand: parses options and hands them to runPlan of
// @titans/experiments, which holds the plans, the experiments and the report.
import { EXIT, UsageError, parseOptions, resolveUserPath, type Command } from '../command.js';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { checkWritableDirectory, outputDirectory } from '../paths.js';
import { PLANS, ReproduceError, estimatePlan, exportForDocs, formatCost, formatEstimate, scaleUpCost, runPlan, validatePlan, type PlanName } from '@titans/experiments';

const USAGE = `usage: titans reproduce [--quick | --smoke | --plan NAME] [--out DIR] [--resume] [--jobs N] [--only LIST] [--report-only] [--eager] [--dry-run] [--export-docs DIR]

Trains tiny LMM, MAC, MAG, MAL and baselines (Transformer++, SWA, DeltaNet, Gated DeltaNet,
Moneta) plus the memory ablations on a CPU, and OmegaNet, Atlas (and its MAG/MAL hybrids),
Hope and Hope-Attention on MQAR and the passkey; evaluates S-NIAH (PK/N/W at 1x-8x the training
length), MQAR and held-out perplexity by position, and writes results.json, report.html,
summary.md and figures/*.svg next to the paper's numbers.

options:
  --plan NAME     ${Object.values(PLANS).map((p) => p.name).join(' | ')} (default full: about 3 hours on 2 cores with --jobs 2,
                  2 of them the Atlas and Hope families; --dry-run prints the estimate)
  --quick         the same as --plan quick (a few minutes)
  --smoke         the same as --plan smoke (the pipeline in about a minute; numbers mean nothing)
  --out DIR       output directory (default runs/reproduce-<plan> under the repository root:
                  no timestamp, so a later --resume finds the run)
  --resume        continue a run in DIR: finished experiments are skipped, training resumes
                  from its last checkpoint
  --jobs N        experiments run at once in child processes (default 1)
  --only LIST     comma-separated experiment ids, model names or tracks (bytes, mqar,
                  passkey) to run, e.g. mac,swa or niah-lmm or passkey (the bytes
                  track's ids are train-long-*, niah-* and perplexity-*)
  --report-only   rebuild the report from the results in DIR
  --eager         train and decode op by op instead of with compiled steps (the default;
                  for debugging, or to compare)
  --dry-run       print the plan's experiments and its estimated time (per track, with
                  --jobs N) without running anything
  --export-docs DIR
                  after the run (or with --report-only), copy the best passkey checkpoint
                  of each model family (Titans, attention, recurrent, Atlas, Hope) into
                  DIR with a manifest, within the docs demos' 20 MB budget, e.g.
                  apps/docs/public/checkpoints/scale (DIR is replaced as a whole)`;

export const reproduceCommand: Command = {
  name: 'reproduce',
  summary: 'reproduce the paper\'s claims at small scale (train, evaluate, report)',
  usage: USAGE,
  async run(args, context) {
    const { options, positional } = parseOptions(args, { values: ['plan', 'out', 'jobs', 'only', 'export-docs'], flags: ['quick', 'resume', 'report-only', 'smoke', 'eager', 'dry-run'] });
    if (positional.length) throw new UsageError(`unexpected argument ${positional[0]}`);
    const planFlags = [options.smoke ? '--smoke' : null, options.quick ? '--quick' : null, options.plan !== undefined ? '--plan' : null].filter((f) => f !== null);
    if (planFlags.length > 1) throw new UsageError(`${planFlags.join(' and ')} each choose a plan; give one of them`);
    const plan = (options.smoke ? 'smoke' : options.quick ? 'quick' : (options.plan as string | undefined) ?? 'full') as PlanName;
    if (!Object.hasOwn(PLANS, plan)) throw new UsageError(`unknown plan '${plan}' (plans: ${Object.keys(PLANS).join(', ')})`);
    const jobs = options.jobs === undefined ? 1 : Number(options.jobs);
    if (!Number.isInteger(jobs) || jobs < 1) throw new UsageError(`--jobs must be a positive integer, got ${String(options.jobs)}`);
    if (options['dry-run'] === true) {
      const chosen = PLANS[plan];
      let estimate: ReturnType<typeof estimatePlan>;
      try {
        validatePlan(chosen);
        estimate = estimatePlan(chosen, { jobs, ...(typeof options.only === 'string' ? { only: options.only.split(',').filter(Boolean) } : {}) });
      } catch (error) {
        if (error instanceof ReproduceError) throw new UsageError(error.message);
        throw error;
      }
      context.out(`${chosen.name}: ${chosen.description}`);
      context.out(formatEstimate(estimate));
      // What more training would cost (the estimate's throughput; a run's report uses the throughput it measured).
      if (typeof options.only !== 'string') context.out(formatCost(scaleUpCost(chosen, { bySeed: {} }, { jobs })));
      return EXIT.ok;
    }
    const out = typeof options.out === 'string' ? resolveUserPath(options.out, context) : outputDirectory(undefined, `reproduce-${plan}`, context, { stamped: false });
    if (options['report-only'] === true) {
      const results = join(out, 'results');
      if (!existsSync(results) || !statSync(results).isDirectory() || !readdirSync(results).some((f) => f.endsWith('.json'))) {
        throw new UsageError(`--report-only: ${typeof options.out === 'string' ? options.out : out} holds no results to report (run the plan first)`);
      }
    } else {
      checkWritableDirectory(out);
    }
    // Ctrl-C or SIGTERM: training saves a checkpoint and stops; a later --resume continues from it.
    const controller = new AbortController();
    const onSigint = (): void => controller.abort();
    process.once('SIGINT', onSigint);
    process.once('SIGTERM', onSigint);
    try {
      const summary = await runPlan(plan, {
        out, jobs, resume: options.resume === true, reportOnly: options['report-only'] === true,
        ...(typeof options.only === 'string' ? { only: options.only.split(',').filter(Boolean) } : {}),
        command: ['titans', 'reproduce', ...args].join(' '),
        log: context.out,
        signal: controller.signal,
        eager: options.eager === true,
      });
      if (typeof options['export-docs'] === 'string') {
        const exported = exportForDocs(PLANS[plan], { run: out, dest: resolveUserPath(options['export-docs'], context), command: ['titans', 'reproduce', ...args].join(' ') });
        for (const m of exported.models) context.out(`export-docs: ${m.family}: ${m.name} seed ${m.seed} (${(m.bytes / 1e6).toFixed(2)} MB, passkey beyond the training length ${(100 * m.score).toFixed(1)}%)`);
        for (const d of exported.dropped) context.out(`export-docs: ${d.family} not shipped: ${d.reason}`);
        context.out(`export-docs: ${(exported.totalBytes / 1e6).toFixed(2)} of ${(exported.budgetBytes / 1e6).toFixed(0)} MB written to ${exported.dest}`);
      }
      return summary.failed.length ? EXIT.failed : EXIT.ok;
    } catch (error) {
      if (error instanceof ReproduceError) throw new UsageError(error.message);
      throw error;
    } finally {
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigint);
    }
  },
};
