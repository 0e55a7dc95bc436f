// The compiled per-token decode step of generation. A decoding step of a model without
// attention (LMM, the DeltaNet family, Moneta/Yaad/Memora, the Atlas memories) does not
// read the position: its program depends only on the layouts of its state (the memory's
// pending chunk grows one row per token and empties at every chunk boundary), so the
// signatures cycle through at most chunkSize + a few layouts and replays take over after two
// cycles (the first traces, the second verifies). Attention layers bake the RoPE angles of
// the position into the step and grow their KV caches, so no signature ever repeats: those
// models decode eagerly.
import { compile, CompileError, noGrad, tensor, Tensor, tidy, type Compiled, type CompileStats } from '@titans/tensor';
import { architectureParts } from './config.js';
import type { LanguageModel, ModelState } from './model.js';

/** What one decode step returns: the last row of logits [1, 1, V] and the next state. */
export interface DecodeOutput {
  readonly last: Tensor;
  readonly state: ModelState;
}

/** How the models' generate decoded (see decodeStats). */
export interface DecodeStats {
  /** Steps run by the compiled plan or its traces, and steps run eagerly. */
  readonly compiledSteps: number;
  readonly eagerSteps: number;
  /** Why this model decodes eagerly (null while it compiles). */
  readonly eagerReason: string | null;
  /** The compiled step's own figures (null when it was never compiled). */
  readonly compile: CompileStats | null;
}

interface Walked {
  /** The tree's structure with numbers left out, and per tensor whether it is a parameter. */
  key: string;
  tensors: Tensor[];
  numbers: number[];
  paths: string[];
}

function walk(tree: unknown): Walked {
  const out: Walked = { key: '', tensors: [], numbers: [], paths: [] };
  const parts: string[] = [];
  const visit = (x: unknown, path: string): void => {
    if (x instanceof Tensor) {
      out.tensors.push(x);
      parts.push(x.isParameter ? 'P' : 'T');
    } else if (typeof x === 'number') {
      out.numbers.push(x);
      out.paths.push(path);
      parts.push('n');
    } else if (x === null || x === undefined) {
      parts.push(x === null ? '0' : 'u');
    } else if (Array.isArray(x)) {
      parts.push(`[${x.length}`);
      x.forEach((v, i) => visit(v, `${path}/${i}`));
      parts.push(']');
    } else if (typeof x === 'object' && Object.getPrototypeOf(x) === Object.prototype) {
      parts.push('{');
      for (const [k, v] of Object.entries(x)) {
        parts.push(k);
        visit(v, `${path}/${k}`);
      }
      parts.push('}');
    } else {
      parts.push(JSON.stringify(x) ?? typeof x);
    }
  };
  visit(tree, '');
  out.key = parts.join(' ');
  return out;
}

/** `template` with its tensors and numbers replaced, in walk order. */
function rebuild(template: unknown, tensors: readonly Tensor[], numbers: readonly number[]): unknown {
  let t = 0;
  let n = 0;
  const visit = (x: unknown): unknown => {
    if (x instanceof Tensor) return tensors[t++]!;
    if (typeof x === 'number') return numbers[n++]!;
    if (Array.isArray(x)) return x.map(visit);
    if (x !== null && typeof x === 'object' && Object.getPrototypeOf(x) === Object.prototype) {
      return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, visit(v)]));
    }
    return x;
  };
  return visit(template);
}

/** How a traced step's output state is rebuilt at a replay: its structure and each number as input number + delta (or a constant). */
interface OutputRule {
  readonly template: unknown;
  readonly numbers: readonly ({ readonly from: number; readonly delta: number } | { readonly value: number })[];
}

function ruleOf(input: Walked, output: unknown): OutputRule {
  const o = walk(output);
  return {
    template: output,
    numbers: o.numbers.map((value, i) => {
      const from = input.paths.indexOf(o.paths[i]!);
      return from >= 0 ? { from, delta: value - input.numbers[from]! } : { value };
    }),
  };
}

function sameRule(a: OutputRule, b: OutputRule): boolean {
  return walk(a.template).key === walk(b.template).key && JSON.stringify(a.numbers) === JSON.stringify(b.numbers);
}

class DecodeCompiler {
  compiledSteps = 0;
  eagerSteps = 0;
  eagerReason: string | null;
  private readonly step: Compiled<[string, Tensor, ...Tensor[]], Tensor[]> | null = null;
  private readonly rules = new Map<string, OutputRule>();
  private readonly cacheSize: number;
  /** The input state of the call being traced (fn reads it) and the rule it produced. */
  private current: { state: ModelState; walked: Walked } | null = null;
  private traced: OutputRule | null = null;
  private missesInARow = 0;

  constructor(private readonly model: LanguageModel) {
    const parts = architectureParts(model.config.architecture);
    this.cacheSize = model.config.memory.chunkSize + 8;
    this.eagerReason = parts.attention
      ? `${model.config.architecture} has attention: its decode step depends on the position (RoPE angles, a growing KV cache)`
      : null;
    if (this.eagerReason === null) {
      this.step = compile((_key: string, ids: Tensor, ...tensors: Tensor[]): Tensor[] => {
        const c = this.current!;
        const state = rebuild(c.state, tensors, c.walked.numbers) as ModelState;
        const out = this.model.forward(ids, state);
        const o = walk(out.state);
        this.traced = ruleOf(c.walked, out.state);
        return [out.logits, ...o.tensors];
      }, { cacheSize: this.cacheSize });
    }
  }

  stats(): DecodeStats {
    return { compiledSteps: this.compiledSteps, eagerSteps: this.eagerSteps, eagerReason: this.eagerReason, compile: this.step?.stats() ?? null };
  }

  run(token: number, state: ModelState, compiled: boolean): DecodeOutput {
    const backend = this.model.parameters()[0]?.backend;
    const idsOf = (): Tensor => tensor(Int32Array.of(token), [1, 1], { dtype: 'int32', ...(backend ? { backend } : {}) });
    if (!compiled || this.eagerReason !== null || this.step === null) {
      this.eagerSteps++;
      return tidy(() => noGrad(() => {
        const out = this.model.forward(idsOf(), state);
        return { last: out.logits, state: out.state };
      }));
    }
    const walked = walk(state);
    const shapes = walked.tensors.map((t) => t.shape.join('x')).join(',');
    const key = `${walked.key}|${shapes}`;
    const step = this.step;
    const before = step.stats().traces;
    this.current = { state, walked };
    this.traced = null;
    let result: Tensor[];
    try {
      result = tidy(() => noGrad(() => step(key, idsOf(), ...walked.tensors)));
    } catch (error) {
      this.current = null;
      if (!(error instanceof CompileError)) throw error;
      // The program changed between two calls of one signature: the step reads something
      // the state's layout does not show. Decode eagerly from now on (stats say why).
      this.eagerReason = `the compiled decode step was refused: ${error.message}`;
      step.dispose();
      return this.run(token, state, false);
    }
    this.current = null;
    this.compiledSteps++;
    const [last, ...tensors] = result;
    let rule = this.rules.get(key);
    if (step.stats().traces > before) {
      const traced = this.traced!;
      if (rule !== undefined && !sameRule(rule, traced)) {
        for (const t of result) t.dispose();
        this.eagerReason = 'the compiled decode step was refused: two traces of one state layout gave differently shaped states';
        step.dispose();
        return this.run(token, state, false);
      }
      this.rules.set(key, traced);
      rule = traced;
      if (++this.missesInARow > 3 * this.cacheSize) {
        // The state's layouts do not repeat: tracing every step costs more than it saves.
        this.eagerReason = `the decode step's state layouts did not repeat in ${this.missesInARow} steps`;
        step.dispose();
      }
    } else {
      this.missesInARow = 0;
    }
    if (rule === undefined) throw new Error('internal: a replayed decode step without a traced rule');
    const numbers = rule.numbers.map((n) => ('value' in n ? n.value : walked.numbers[n.from]! + n.delta));
    return { last: last!, state: rebuild(rule.template, tensors, numbers) as ModelState };
  }
}

const compilers = new WeakMap<LanguageModel, DecodeCompiler>();

function compilerOf(model: LanguageModel): DecodeCompiler {
  let c = compilers.get(model);
  if (c === undefined) {
    c = new DecodeCompiler(model);
    compilers.set(model, c);
  }
  return c;
}

/** @internal One decode step (a single token from `state`), compiled where the model allows it. */
export function decodeStep(model: LanguageModel, token: number, state: ModelState, compiled: boolean): DecodeOutput {
  return compilerOf(model).run(token, state, compiled);
}

/** How `generate` has decoded with this model so far: compiled or eager steps, and why eager. */
export function decodeStats(model: LanguageModel): DecodeStats {
  return compilerOf(model).stats();
}
