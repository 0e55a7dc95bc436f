// Browser side of the smoke test: runs a matmul and an attention through the backend on
// navigator.gpu. Imports the backend module directly so the bundle carries no Node code.
import { createWebGPUBackend } from '../../src/backend.js';

export interface SmokeInput {
  a: number[];
  b: number[];
  m: number;
  k: number;
  n: number;
  q: number[];
  kk: number[];
  v: number[];
  t: number;
  d: number;
}

export interface SmokeOutput {
  adapter: string;
  matmul: number[];
  attention: number[];
  lse: number[];
}

async function runSmoke(input: SmokeInput): Promise<SmokeOutput> {
  if (!('gpu' in navigator)) throw new Error('navigator.gpu is missing in this browser');
  const backend = await createWebGPUBackend();
  const a = backend.fromArray(Float32Array.from(input.a), 'float32');
  const b = backend.fromArray(Float32Array.from(input.b), 'float32');
  const c = backend.matmul(
    { storage: a, shape: [1, input.m, input.k], strides: [0, input.k, 1], offset: 0 },
    { storage: b, shape: [1, input.k, input.n], strides: [0, input.n, 1], offset: 0 },
  );
  const q = backend.fromArray(Float32Array.from(input.q), 'float32');
  const k = backend.fromArray(Float32Array.from(input.kk), 'float32');
  const v = backend.fromArray(Float32Array.from(input.v), 'float32');
  const dims = { batchHeads: 1, queryLength: input.t, keyLength: input.t, headDim: input.d, valueDim: input.d };
  const att = backend.attention(q, k, v, dims, { causal: true, window: 0, prefix: 0, scale: 1 / Math.sqrt(input.d) });
  const out = {
    adapter: backend.adapterName,
    matmul: Array.from(await backend.read(c)),
    attention: Array.from(await backend.read(att.out)),
    lse: Array.from(await backend.read(att.lse)),
  };
  backend.destroy();
  return out;
}

(globalThis as { runSmoke?: typeof runSmoke }).runSmoke = runSmoke;
