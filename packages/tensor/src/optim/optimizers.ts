// Optimizers update parameters in place (Tensor.assign) outside the gradient graph.
// Their state tensors are kept out of `tidy` scopes so a training loop can wrap each step.
import { hostScalar, isTracing, onReplay } from '../compile/host.js';
import { keep, noGrad } from '../engine.js';
import { add, div, minimum, mul, scalar, sqrt, square, sub, sum, zerosLike } from '../ops/core.js';
import { formatShape } from '../shape.js';
import { Tensor, sameShape } from '../tensor.js';

export interface OptimizerState {
  step: number;
  slots: Record<string, Tensor[]>;
}

abstract class Optimizer {
  protected stepCount = 0;
  /** The learning rate of the next step (schedules set it). */
  lr: number;
  protected slots: Record<string, Tensor[]> = {};

  constructor(readonly params: readonly Tensor[], lr: number) {
    if (!(lr >= 0)) throw new Error(`optimizer: learning rate must be >= 0, got ${lr}`);
    this.lr = lr;
  }

  get steps(): number {
    return this.stepCount;
  }

  protected slot(name: string): Tensor[] {
    let s = this.slots[name];
    if (!s) {
      s = this.params.map((p) => keep(noGrad(() => zerosLike(p))));
      this.slots[name] = s;
    }
    return s;
  }

  /** Applies one update from gradients aligned with `params`. */
  step(grads: readonly Tensor[]): void {
    if (grads.length !== this.params.length) {
      throw new Error(`optimizer: got ${grads.length} gradients for ${this.params.length} parameters`);
    }
    grads.forEach((g, i) => {
      if (!sameShape(g.shape, this.params[i]!.shape)) {
        throw new Error(`optimizer: gradient ${i} has shape ${formatShape(g.shape)}, parameter has ${formatShape(this.params[i]!.shape)}`);
      }
    });
    // Under compile(), the counter keeps counting at every replay (and the learning rate and
    // bias corrections below are hostScalar()s, read again at every replay).
    onReplay(() => { this.stepCount++; });
    noGrad(() => this.update(grads));
  }

  protected abstract update(grads: readonly Tensor[]): void;

  /**
   * Gives `slot[i]` the values of `value` in place (its old storage is freed, `value` is
   * disposed) and returns the slot. In place, so a compiled step updates the same tensor.
   */
  protected setSlot(name: string, i: number, value: Tensor): Tensor {
    const slot = this.slot(name)[i]!;
    slot.assign(value);
    value.dispose();
    return slot;
  }

  state(): OptimizerState {
    return { step: this.stepCount, slots: { ...this.slots } };
  }

  loadState(state: OptimizerState): void {
    this.stepCount = state.step;
    for (const [name, values] of Object.entries(state.slots)) {
      if (values.length !== this.params.length) throw new Error(`optimizer: slot '${name}' has ${values.length} tensors for ${this.params.length} parameters`);
      values.forEach((v, i) => {
        if (!sameShape(v.shape, this.params[i]!.shape)) throw new Error(`optimizer: slot '${name}'[${i}] has shape ${formatShape(v.shape)}, parameter has ${formatShape(this.params[i]!.shape)}`);
      });
      this.slots[name] = values.map((v) => keep(v.clone()));
    }
  }

  dispose(): void {
    for (const s of Object.values(this.slots)) for (const t of s) t.dispose();
    this.slots = {};
  }
}

/**
 * A host value read once per optimizer step (`hostScalar`), as a scalar tensor of each
 * parameter's dtype and backend: made once per step for each kind of parameter, not once
 * per parameter (under compile, a replay then refills a handful of scalars, not four per
 * parameter).
 */
function perStep(get: () => number): (like: Tensor) => Tensor {
  const made: { like: Tensor; value: Tensor }[] = [];
  return (like) => {
    for (const m of made) if (m.like.dtype === like.dtype && m.like.backend === like.backend) return m.value;
    const value = hostScalar(get, like);
    made.push({ like, value });
    return value;
  };
}

export interface SGDOptions {
  lr: number;
  momentum?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

export class SGD extends Optimizer {
  readonly momentum: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  constructor(params: readonly Tensor[], options: SGDOptions) {
    super(params, options.lr);
    this.momentum = options.momentum ?? 0;
    this.weightDecay = options.weightDecay ?? 0;
    this.nesterov = options.nesterov ?? false;
  }
  protected update(grads: readonly Tensor[]): void {
    const lr = perStep(() => this.lr);
    this.params.forEach((p, i) => {
      let g = this.weightDecay > 0 ? add(grads[i]!, mul(p, this.weightDecay)) : grads[i]!;
      if (this.momentum > 0) {
        const buf = this.setSlot('momentum', i, add(mul(this.slot('momentum')[i]!, this.momentum), g));
        g = this.nesterov ? add(g, mul(buf, this.momentum)) : buf;
      }
      p.assign(sub(p, mul(g, lr(p))));
    });
  }
}

export interface AdamWOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay (Loshchilov & Hutter): p -= lr * wd * p. */
  weightDecay?: number;
}

export class AdamW extends Optimizer {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  constructor(params: readonly Tensor[], options: AdamWOptions) {
    super(params, options.lr);
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
  }
  protected update(grads: readonly Tensor[]): void {
    // Host values that change from step to step: hostScalar()s, so compiled steps read them.
    // One scalar each per step (per dtype and backend), shared by every parameter.
    const c1 = perStep(() => 1 - Math.pow(this.beta1, this.stepCount));
    const c2 = perStep(() => 1 - Math.pow(this.beta2, this.stepCount));
    const decay = perStep(() => 1 - this.lr * this.weightDecay);
    const lr = perStep(() => this.lr);
    this.params.forEach((p, i) => {
      const g = grads[i]!;
      const m = this.setSlot('m', i, add(mul(this.slot('m')[i]!, this.beta1), mul(g, 1 - this.beta1)));
      const v = this.setSlot('v', i, add(mul(this.slot('v')[i]!, this.beta2), mul(square(g), 1 - this.beta2)));
      const stepDir = div(div(m, c1(p)), add(sqrt(div(v, c2(p))), this.eps));
      const decayed = this.weightDecay > 0 ? mul(p, decay(p)) : p;
      p.assign(sub(decayed, mul(stepDir, lr(p))));
    });
  }
}

/**
 * Scales gradients so their global L2 norm is at most `maxNorm`. Returns the clipped
 * gradients and the norm before clipping (a scalar tensor).
 */
export function clipGradNorm(grads: readonly Tensor[], maxNorm: number): { grads: Tensor[]; norm: Tensor } {
  return noGrad(() => {
    if (grads.length === 0) return { grads: [], norm: scalar(0) };
    // Every gradient's sum of squares first, then their total in the same order (a compiled
    // step fuses the scalar additions into one kernel instead of one between each sum).
    const sums = grads.map((g) => sum(square(g)));
    let total = sums[0]!;
    for (let i = 1; i < sums.length; i++) total = add(total, sums[i]!);
    const norm = sqrt(total);
    const scale = div(maxNorm, add(norm, 1e-6));
    // Compiled steps take the device path too: a host read cannot be replayed (and both paths
    // give the same values: min(scale, 1) is the factor, and x * 1 is x).
    const factor = scale.backend.syncRead && !isTracing() ? Math.min(1, scale.item()) : null;
    // On asynchronous backends the factor stays on the device: no read-back stall per step.
    const shared = factor === null ? minimum(scale, 1) : null;
    const clipped = grads.map((g) => (shared !== null ? mul(g, shared) : factor !== null && factor < 1 ? mul(g, factor) : g));
    return { grads: clipped, norm };
  });
}

export interface CosineScheduleOptions {
  peak: number;
  warmupSteps: number;
  totalSteps: number;
  /** Final learning rate (default 10% of peak). */
  min?: number;
}

/** Linear warmup to `peak`, then cosine decay to `min` at `totalSteps`. */
export function warmupCosine(step: number, options: CosineScheduleOptions): number {
  const min = options.min ?? options.peak * 0.1;
  if (step < options.warmupSteps) return (options.peak * (step + 1)) / options.warmupSteps;
  const span = Math.max(1, options.totalSteps - options.warmupSteps);
  const progress = Math.min(1, (step - options.warmupSteps) / span);
  return min + 0.5 * (options.peak - min) * (1 + Math.cos(Math.PI * progress));
}
