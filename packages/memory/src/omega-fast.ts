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
