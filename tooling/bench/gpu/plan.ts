// The case list of the GPU benchmark, shared by both sides: `bench.ts plan` writes it as
// plan.json, peer.py (PyTorch CUDA) and `bench.ts run` (this project on WebGPU) both read
// it, so every row is measured at the same shapes on both sides and can be a ratio.
// Budgets are seconds of wall time per section; a case that would not fit what is left of
// its section is recorded as "skipped: budget" instead of overrunning it.

export interface MatmulCase { readonly id: string; readonly m: number; readonly k: number; readonly n: number }
export interface AttentionCase {
  readonly id: string; readonly tokens: number; readonly heads: number; readonly headDim: number;
  /** 0: full causal; otherwise a causal sliding window of this many keys (the query's own included). */
  readonly window: number;
  readonly backward: boolean;
}
export interface MemoryCase {
  readonly id: string; readonly kind: 'linear' | 'mlp'; readonly dim: number; readonly heads: number;
  readonly tokens: number; readonly chunk: number; readonly backward: boolean;
}
export interface TrainCase {
  readonly id: string; readonly architecture: 'transformer' | 'mag' | 'mac'; readonly label: string;
  readonly dim: number; readonly layers: number; readonly heads: number; readonly mlpHidden: number;
  readonly window: number; readonly segmentLength: number; readonly memoryHeads: number; readonly memoryChunk: number;
  readonly persistentTokens: number; readonly batch: number; readonly seq: number; readonly steps: number;
  /** Steps before the timed ones (the compiled step traces in steps 1 and 2). */
  readonly untimedSteps: number;
}

export interface Section<C> { readonly budgetS: number; readonly cases: readonly C[] }
export interface Plan {
  readonly schema: 1;
  readonly mode: 'smoke' | 'full';
  readonly sections: {
    readonly matmul: Section<MatmulCase>;
    readonly attention: Section<AttentionCase>;
    readonly memory: Section<MemoryCase>;
    readonly train: Section<TrainCase>;
  };
}

export const SECTIONS = ['matmul', 'attention', 'memory', 'train'] as const;
export type SectionName = (typeof SECTIONS)[number];

function matmuls(square: readonly number[], skinny: readonly [number, number, number][]): MatmulCase[] {
  const all: [number, number, number][] = [...square.map((s): [number, number, number] => [s, s, s]), ...skinny];
  return all.map(([m, k, n]) => ({ id: `${m}x${k} @ ${k}x${n}`, m, k, n }));
}

function attentions(tokens: readonly number[], heads: number, headDim: number, window: number): AttentionCase[] {
  const out: AttentionCase[] = [];
  for (const w of [0, window]) {
    for (const t of tokens) {
      for (const backward of [false, true]) {
        out.push({ id: `${w === 0 ? 'causal' : `window ${w}`} T=${t} ${backward ? 'fwd+bwd' : 'fwd'}`, tokens: t, heads, headDim, window: w, backward });
      }
    }
  }
  return out;
}

function memories(dims: readonly number[], heads: number, tokens: number, chunk: number): MemoryCase[] {
  const out: MemoryCase[] = [];
  for (const kind of ['linear', 'mlp'] as const) {
    for (const dim of dims) {
      for (const backward of [false, true]) {
        out.push({ id: `${kind} d=${dim} T=${tokens} ${backward ? 'fwd+bwd' : 'fwd'}`, kind, dim, heads, tokens, chunk, backward });
      }
    }
  }
  return out;
}

type TrainShape = Omit<TrainCase, 'id' | 'architecture' | 'label'>;
function trains(sizes: readonly [string, TrainShape, Partial<Record<'transformer' | 'mag' | 'mac', Partial<TrainShape>>>][]): TrainCase[] {
  const out: TrainCase[] = [];
  for (const [label, shape, perArch] of sizes) {
    for (const architecture of ['transformer', 'mag', 'mac'] as const) {
      const s = { ...shape, ...perArch[architecture] };
      const persistentTokens = architecture === 'transformer' ? 0 : s.persistentTokens;
      out.push({ id: `${architecture} ${label}`, architecture, label, ...s, persistentTokens, window: architecture === 'transformer' ? 0 : s.window });
    }
  }
  return out;
}

/** The full run (an H100: about 5 minutes on our side, under 2 for the peer) or the smoke run (SwiftShader, about a minute). */
export function makePlan(mode: 'smoke' | 'full'): Plan {
  if (mode === 'smoke') {
    return {
      schema: 1,
      mode,
      sections: {
        matmul: { budgetS: 6, cases: matmuls([64, 128], [[256, 16, 16]]) },
        attention: { budgetS: 8, cases: attentions([64, 128], 2, 16, 16) },
        memory: { budgetS: 10, cases: memories([32], 2, 64, 16) },
        train: {
          budgetS: 36,
          cases: trains([['tiny', {
            dim: 32, layers: 1, heads: 2, mlpHidden: 96, window: 16, segmentLength: 16, memoryHeads: 2, memoryChunk: 8,
            persistentTokens: 2, batch: 2, seq: 32, steps: 4, untimedSteps: 2,
          }, {}]]),
        },
      },
    };
  }
  // Sizes: ~20M and ~100M parameters with a byte vocabulary (countParameters, recorded per row):
  // transformer 512x6 = 19.2M, MAG/MAC 512x4 = 19.3M (the memory, a 2-layer MLP of expansion 4
  // with its projections, makes a block 4.8M instead of 3.2M); transformer 1024x8 = 101.7M,
  // MAG/MAC 1024x5 = 93M.
  const small: TrainShape = {
    dim: 512, layers: 6, heads: 8, mlpHidden: 1376, window: 512, segmentLength: 512, memoryHeads: 8, memoryChunk: 64,
    persistentTokens: 16, batch: 8, seq: 1024, steps: 12, untimedSteps: 3,
  };
  const large: TrainShape = { ...small, dim: 1024, layers: 8, heads: 16, mlpHidden: 2752, memoryHeads: 16, batch: 4, steps: 8 };
  return {
    schema: 1,
    mode,
    sections: {
      matmul: { budgetS: 30, cases: matmuls([1024, 2048, 4096], [[4096, 64, 64], [4096, 512, 64], [16384, 64, 64], [64, 4096, 4096]]) },
      attention: { budgetS: 50, cases: attentions([1024, 4096, 16384], 8, 64, 512) },
      memory: { budgetS: 50, cases: memories([512, 1024], 8, 4096, 64) },
      train: {
        budgetS: 140,
        cases: trains([['20M', small, { mag: { layers: 4 }, mac: { layers: 4 } }], ['100M', large, { mag: { layers: 5 }, mac: { layers: 5 } }]]),
      },
    },
  };
}

/** A measurement, or why there is none. */
export type Measurement =
  | { readonly value: number; readonly unit: string; readonly detail?: Record<string, unknown> }
  | { readonly skipped: string };

export interface SideResult {
  readonly side: 'ours' | 'peer';
  readonly available: boolean;
  readonly reason?: string;
  readonly info: Record<string, unknown>;
  readonly sections: Partial<Record<SectionName, { readonly elapsedS: number; readonly results: Record<string, Measurement> }>>;
}
