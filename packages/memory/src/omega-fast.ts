// The switch between the fast Muon path of omegaParallel (the fused Newton-Schulz op of
// @titans/tensor where the backend has one) and the composite form it replaced (for checking
// and benchmarking the composite one).
let enabled = true;

/** Turns the fast Omega/Muon kernels on (default) or off; returns the previous setting. */
export function setFastOmega(on: boolean): boolean {
  const previous = enabled;
  enabled = on;
  return previous;
}

/** Whether omegaParallel takes the fast kernels where the backend has them. */
export function fastOmega(): boolean {
  return enabled;
}

let carryGram = true;

/**
 * Turns on (default) or off the Gram carry of the fast Muon path: a chunk's starting Gram
 * matrix S0 S0^T is the previous chunk's last-token Gram matrix (already formed in float64)
 * instead of a product over the memory's input width. Off: every chunk forms S0 S0^T itself
 * (the form before the carry, for checking and benchmarking). Returns the previous setting.
 */
export function setOmegaGramCarry(on: boolean): boolean {
  const previous = carryGram;
  carryGram = on;
  return previous;
}

/** Whether the fast Muon path carries the Gram matrix of the momentum from chunk to chunk. */
export function omegaGramCarry(): boolean {
  return carryGram;
}

/** When omegaParallel's Muon chunks take the low-rank form: where it is estimated cheaper, or wherever it applies. */
export type OmegaLowRankMode = 'auto' | 'always';

let lowRankMode: OmegaLowRankMode = 'auto';

/**
 * 'auto' (default): the fast Muon path takes the low-rank form (Newton-Schulz on each token's
 * m x m Gram matrix in float64) only where it is estimated cheaper than the batched form
 * (Newton-Schulz on each token's m x n momentum in the working dtype): memories whose weight
 * matrices are wide, like the Atlas presets' (phi(k) 273 or 1,057 wide into 16 or 32), not
 * square ones. 'always': wherever it applies (every weight matrix wide or square), for
 * checking the low-rank form on small shapes. Returns the previous setting.
 */
export function setOmegaLowRank(mode: OmegaLowRankMode): OmegaLowRankMode {
  if (mode !== 'auto' && mode !== 'always') throw new Error(`setOmegaLowRank: mode must be 'auto' or 'always', got ${JSON.stringify(mode)}`);
  const previous = lowRankMode;
  lowRankMode = mode;
  return previous;
}

/** The low-rank Muon form's setting (see setOmegaLowRank). */
export function omegaLowRank(): OmegaLowRankMode {
  return lowRankMode;
}
