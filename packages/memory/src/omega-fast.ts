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
