// What the paired training benches (compiled-train-pair.ts, transformer-train-pair.ts) share:
// loading two or more checkouts of this repository into one process, the compiled training
// step (gradient pass, clip, update: what train() runs with `compile`), and timing the
// checkouts' steps alternating (A B, B A, ...) so a shared, noisy machine loads them alike.
/* eslint-disable @typescript-eslint/no-explicit-any -- two copies of the library, typed as modules of unknown shape */

const REGISTRY = Symbol.for('@titans/tensor/instances');

/** One checkout's @titans/tensor and @titans/models, imported from its own source tree. */
export interface Checkout { readonly root: string; readonly tensor: any; readonly models: any }

export async function importCheckouts(roots: readonly string[]): Promise<Checkout[]> {
  const out: Checkout[] = [];
  for (const root of roots) {
    // Each copy registers itself and refuses a second one: here two copies are the point.
    (globalThis as Record<symbol, unknown>)[REGISTRY] = [];
    out.push({ root, tensor: await import(`${root}/packages/tensor/src/index.ts`), models: await import(`${root}/packages/models/src/index.ts`) });
  }
  return out;
}

/** The compiled step of train(): loss and gradients, clipping at 1, the optimizer's update. Returns the loss tensor. */
export function compiledStep(T: any, params: readonly unknown[], optimizer: { step(grads: unknown[]): void }, loss: (ids: any, targets: any) => any): (ids: any, targets: any) => any {
  const gradPass = T.compile((ids: any, targets: any) => {
    const value = loss(ids, targets);
    return [value, ...T.gradients(value, params)];
  });
  const clip = T.compile((...grads: any[]) => {
    const { grads: clipped, norm } = T.optim.clipGradNorm(grads, 1);
    return [norm, ...clipped];
  });
  const update = T.compile((...grads: any[]) => {
    optimizer.step(grads);
    return [];
  });
  return (ids, targets) => {
    const [value, ...grads] = gradPass(ids, targets);
    const [, ...clipped] = clip(...grads);
    update(...clipped);
    return value;
  };
}

export interface AlternatingTimes {
  /** Per checkout, CPU seconds of this process per step after the first three (steps 1 and 2 trace). */
  readonly cpuS: number[][];
  readonly wallS: number[][];
  readonly losses: number[][];
}

/** Runs `steps` steps of each stepper, alternating their order every step. */
export function timeAlternating(runs: readonly (() => number)[], steps: number): AlternatingTimes {
  const cpuS: number[][] = runs.map(() => []);
  const wallS: number[][] = runs.map(() => []);
  const losses: number[][] = runs.map(() => []);
  for (let s = 0; s < steps; s++) {
    for (let k = 0; k < runs.length; k++) {
      const j = s % 2 === 0 ? k : runs.length - 1 - k;
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const loss = runs[j]!();
      const wall = (performance.now() - t0) / 1000;
      const c = process.cpuUsage(c0);
      if (s >= 3) {
        cpuS[j]!.push((c.user + c.system) / 1e6);
        wallS[j]!.push(wall);
      }
      losses[j]!.push(loss);
    }
  }
  return { cpuS, wallS, losses };
}

export function median(xs: readonly number[]): number {
  const a = [...xs].sort((p, q) => p - q);
  const mid = a.length >> 1;
  return a.length % 2 === 1 ? a[mid]! : (a[mid - 1]! + a[mid]!) / 2;
}

/** Whether every checkout's losses were the same bits as the first's. */
export function sameBits(losses: readonly number[][]): boolean {
  return losses.every((l) => l.every((v, i) => Object.is(v, losses[0]![i])));
}
