// The model interfaces the harnesses take. @titans/models implements them structurally;
// the baselines in baselines.ts implement them over plain text, so harnesses can be tested
// (and upper/lower bounds reported) without any neural network.

export interface GenerateOptions {
  /** Most tokens to generate. */
  maxNewTokens: number;
  /** Generation stops after emitting any of these ids (the id is included in the result). */
  stopIds?: number[];
}

/**
 * A model that continues a prompt. Returns only the new tokens. When its outputs are not
 * finite (NaN or infinite logits) it should throw an Error named 'NonFiniteOutputError' (as
 * @titans/models' generate does): the generation harnesses then count that prompt as a wrong
 * answer and report it in their `nonFinite` counts instead of aborting.
 */
export interface GenerativeModel {
  readonly name: string;
  generate(prompt: Int32Array | number[], options: GenerateOptions): Promise<number[]>;
}

/** A model that scores text: result[i] = log p(tokens[i+1] | tokens[0..i]), natural log, length n-1. */
export interface ScoringModel {
  readonly name: string;
  logProbs(tokens: Int32Array): Promise<Float32Array>;
}

/** A model that predicts, at every position, its most likely next token (argmax). Used by MQAR. */
export interface NextTokenModel {
  readonly name: string;
  /** result[i] = argmax_v p(v | tokens[0..i]); same length as tokens. */
  predictNext(tokens: Int32Array): Promise<Int32Array>;
}
