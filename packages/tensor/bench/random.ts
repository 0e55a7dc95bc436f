// Deterministic uniform values in [-0.5, 0.5) for the benches' operands (a linear
// congruential generator: the same seed gives the same arrays in every bench and run).
export function random(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}
