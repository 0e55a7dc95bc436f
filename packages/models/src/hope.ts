// The Hope family (Behrouz et al., "Nested Learning: The Illusion of Deep Learning
// Architectures", NeurIPS 2025 / arXiv 2512.24695): blocks whose MLP is a Continuum Memory
// System (CMS, @titans/memory cms.ts), a chain of MLP levels that keep learning in context,
// level l every C_l tokens. Hope puts the self-modifying Titans (@titans/memory
// hope-titans.ts) before the CMS; Hope-Attention (the paper's control) puts causal softmax
// attention there instead. Settings and parameter counts live here; the blocks are in
// architectures/hope.ts.
import type { ArchitectureName, ModelConfig } from './config.js';

export type HopeArchitecture = 'hope' | 'hope-attention';

export function isHopeArchitecture(name: ArchitectureName): name is HopeArchitecture {
  return name === 'hope' || name === 'hope-attention';
}

/**
 * Upper bound of the self-modifying Titans' step size eta: 1/3. Every memory input is a unit
 * vector and each matrix's step is normalised by its input's energy (@titans/memory
 * hope-titans.ts), so a linear memory's step W (alpha I - 2 eta k k^T + eta v k^T), whose
 * target M(v) is its own read of a unit value, has the eigenvalue alpha + eta (v.k - 2) in
 * [alpha - 3 eta, alpha - eta]: inside [-1, 1] for every retention alpha in [0, 1] exactly
 * when eta <= 1/3. (0.5, the bound of a plain delta rule, let this reach -1.5 at alpha = 0.)
 */
export const HOPE_ETA_MAX = 1 / 3;

/** Hidden width of the self-modifying Titans' MLP memories: memory.expansion times the head width. */
export function selfModifyingHidden(c: ModelConfig): number {
  return Math.max(1, Math.round(c.memory.expansion * (c.dim / c.memory.heads)));
}

/** Parameters of one self-modifying Titans layer (input, query and output maps, initial memories, gate biases). */
export function selfModifyingParameters(c: ModelConfig): number {
  const d = c.dim;
  const hd = d / c.memory.heads;
  const h = selfModifyingHidden(c);
  return 3 * d * d + c.memory.heads * (3 * 2 * h * hd + 2 * hd + 2);
}

/**
 * Update periods of the CMS levels: C, 2C and 4C tokens with C = memory.chunkSize (our
 * choice: the paper leaves the number of levels and their frequencies to the user; three
 * levels at doubling periods give a fast, a medium and a slow level).
 */
export function hopeCmsPeriods(c: ModelConfig): number[] {
  const base = c.memory.chunkSize;
  return [base, 2 * base, 4 * base];
}

/**
 * Upper bound of level l's step size: 1 / (dim C_l). Block inputs are RMS-normalised
 * (|x|^2 = dim) and a level sums C_l tokens' gradients, so this keeps one chunk's step at
 * most about one (sigmoid(0) = 1/2 of it at initialisation) instead of growing with the
 * width and the period.
 */
export function hopeCmsLrMax(c: ModelConfig): number[] {
  return hopeCmsPeriods(c).map((p) => 1 / (c.dim * p));
}

/** Parameters of one block's CMS: per level W1, W2 (initial fast weights), Wv and the step-size gate. */
export function cmsParameters(c: ModelConfig): number {
  const d = c.dim;
  return hopeCmsPeriods(c).length * (2 * d * c.mlpHidden + d * d + d + 1);
}
