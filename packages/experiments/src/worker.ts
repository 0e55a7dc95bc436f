// Child-process entry of runPlan with jobs > 1 (`titans reproduce --jobs N`): runs one experiment (described in the
// TITANS_REPRODUCE_JOB environment variable) and stores its result. Exit code 0 = result written.
import { configureCpu } from '@titans/tensor';
import { planExperiments, runAndStore } from './experiments.ts';
import type { ReproducePlan } from './recipes.ts';

const job = JSON.parse(process.env.TITANS_REPRODUCE_JOB ?? 'null') as { plan: ReproducePlan; out: string; id: string; threads: number; eager?: boolean; modules?: string[] } | null;
if (!job) throw new Error('reproduce worker: TITANS_REPRODUCE_JOB is not set');
configureCpu({ threads: job.threads });
// The caller's registrations (model variants, tracks) before the plan is read.
for (const specifier of job.modules ?? []) await import(specifier);
const experiment = planExperiments(job.plan).find((e) => e.id === job.id);
if (!experiment) throw new Error(`reproduce worker: no experiment '${job.id}' in plan '${job.plan.name}'`);
const controller = new AbortController();
process.once('SIGINT', () => controller.abort());
process.once('SIGTERM', () => controller.abort());
// runPlan joins each worker by an IPC channel: when the parent is gone (even killed with
// SIGKILL) the channel closes, and the worker stops as on Ctrl-C: it saves its step (a later
// --resume continues from it) and exits. Unref'd, so the channel never keeps a finished worker alive.
if (process.channel) {
  process.once('disconnect', () => {
    process.stderr.write(`reproduce worker ${job.id}: the parent process is gone; saving and stopping\n`);
    controller.abort();
  });
  process.channel.unref();
  // Gone before this listener was attached (while the modules loaded): stop at once.
  if (!process.connected) controller.abort();
}
const log = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
const ok = await runAndStore(job.plan, experiment, { out: job.out, log, signal: controller.signal, eager: job.eager === true });
process.exitCode = ok ? 0 : 1;
