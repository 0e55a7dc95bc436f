// The layers Titans models are built from.
import type { DType } from '../backend.js';
import { indexSelect, reshape } from '../ops/core.js';
import { causalConv1d, dropout, layerNorm, linear, rmsNorm, silu } from '../ops/nn.js';
import { Rng } from '../random.js';
import type { Tensor } from '../tensor.js';
import { kaimingUniform, normalInit, onesInit, zerosInit } from './init.js';
import { Module, parameter } from './module.js';

export interface LayerOptions {
  /** Seed (or generator) for the initial weights. */
  rng?: Rng;
  dtype?: DType;
}

function rngOf(options: LayerOptions): Rng {
  return options.rng ?? new Rng(0);
}

/** y = x W^T + b, W [out, in]; Kaiming-uniform init as in PyTorch. */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | undefined;
  constructor(readonly inFeatures: number, readonly outFeatures: number, options: LayerOptions & { bias?: boolean } = {}) {
    super();
    const rng = rngOf(options);
    const dtype = options.dtype ? { dtype: options.dtype } : {};
    this.weight = parameter(kaimingUniform(rng, [outFeatures, inFeatures], inFeatures, dtype));
    this.bias = options.bias === false ? undefined : parameter(kaimingUniform(rng, [outFeatures], inFeatures, dtype));
  }
  forward(x: Tensor): Tensor {
    if (x.shape[x.ndim - 1] !== this.inFeatures) {
      throw new Error(`Linear(${this.inFeatures} -> ${this.outFeatures}): input has ${x.shape[x.ndim - 1]} features (shape [${x.shape.join(', ')}])`);
    }
    return linear(x, this.weight, this.bias);
  }
}

/** Token embedding table [count, dim], N(0, std) init. */
export class Embedding extends Module {
  readonly weight: Tensor;
  constructor(readonly count: number, readonly dim: number, options: LayerOptions & { std?: number } = {}) {
    super();
    this.weight = parameter(normalInit(rngOf(options), [count, dim], options.std ?? 0.02, options.dtype ? { dtype: options.dtype } : {}));
  }
  /** ids: int32 of any shape -> [...ids.shape, dim]. */
  forward(ids: Tensor): Tensor {
    return reshape(indexSelect(this.weight, 0, reshape(ids, [ids.size])), [...ids.shape, this.dim]);
  }
}

export class RMSNorm extends Module {
  readonly weight: Tensor;
  constructor(readonly dim: number, readonly eps = 1e-6, options: LayerOptions = {}) {
    super();
    this.weight = parameter(onesInit([dim], options.dtype ? { dtype: options.dtype } : {}));
  }
  forward(x: Tensor): Tensor {
    return rmsNorm(x, { eps: this.eps, weight: this.weight });
  }
}

export class LayerNorm extends Module {
  readonly weight: Tensor | undefined;
  readonly bias: Tensor | undefined;
  constructor(readonly dim: number, options: LayerOptions & { eps?: number; affine?: boolean } = {}) {
    super();
    this.eps = options.eps ?? 1e-5;
    const dtype = options.dtype ? { dtype: options.dtype } : {};
    const affine = options.affine ?? true;
    this.weight = affine ? parameter(onesInit([dim], dtype)) : undefined;
    this.bias = affine ? parameter(zerosInit([dim], dtype)) : undefined;
  }
  readonly eps: number;
  forward(x: Tensor): Tensor {
    return layerNorm(x, { eps: this.eps, ...(this.weight ? { weight: this.weight } : {}), ...(this.bias ? { bias: this.bias } : {}) });
  }
}

/** Causal depthwise 1-D convolution over time: [..., T, C] -> [..., T, C]. */
export class CausalConv1d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | undefined;
  constructor(readonly channels: number, readonly kernelSize = 4, options: LayerOptions & { bias?: boolean } = {}) {
    super();
    const rng = rngOf(options);
    const dtype = options.dtype ? { dtype: options.dtype } : {};
    this.weight = parameter(kaimingUniform(rng, [channels, kernelSize], kernelSize, dtype));
    this.bias = options.bias === false ? undefined : parameter(zerosInit([channels], dtype));
  }
  forward(x: Tensor): Tensor {
    return causalConv1d(x, this.weight, this.bias);
  }
}

/** The Llama MLP: down(silu(gate(x)) * up(x)). */
export class SwiGLU extends Module {
  readonly gate: Linear;
  readonly up: Linear;
  readonly down: Linear;
  constructor(readonly dim: number, readonly hidden: number, options: LayerOptions = {}) {
    super();
    const o = { ...options, rng: rngOf(options), bias: false };
    this.gate = new Linear(dim, hidden, o);
    this.up = new Linear(dim, hidden, o);
    this.down = new Linear(hidden, dim, o);
  }
  forward(x: Tensor): Tensor {
    return this.down.forward(silu(this.gate.forward(x)).mul(this.up.forward(x)));
  }
}

/** Inverted dropout; identity in eval mode. Draws from its own seeded generator. */
export class Dropout extends Module {
  private readonly rng: Rng;
  constructor(readonly p: number, seed = 0) {
    super();
    if (p < 0 || p >= 1) throw new Error(`Dropout: p must be in [0, 1), got ${p}`);
    this.rng = new Rng(seed);
  }
  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    return dropout(x, this.p, this.rng.uniform(x.shape, 0, 1, { dtype: x.dtype, backend: x.backend }));
  }
}
