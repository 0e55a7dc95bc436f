// Models that need no training, to test harnesses and to bound results:
// - NeedleLookupModel: reads the prompt text and answers NIAH/passkey questions exactly
//   (an oracle upper bound for retrieval);
// - BabilongOracleModel: parses the bAbI-style facts out of the prompt and reasons over them;
// - LastWindowModel: any generative model restricted to the last W prompt tokens (what a
//   sliding-window model without memory can see; fails once the needle leaves the window);
// - AssociativeRecallModel: MQAR by table lookup, optionally remembering only the last K pairs;
// - NgramModel: unigram/bigram scoring model with add-alpha smoothing.

import type { Tokenizer } from '@titans/data';
import type { GenerateOptions, GenerativeModel, NextTokenModel, ScoringModel } from './model.ts';

function truncateAtStop(ids: number[], options: GenerateOptions): number[] {
  const out: number[] = [];
  for (const id of ids) {
    if (out.length >= options.maxNewTokens) break;
    out.push(id);
    if (options.stopIds?.includes(id)) break;
  }
  return out;
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Answers S-NIAH and passkey prompts by searching the prompt text. */
export class NeedleLookupModel implements GenerativeModel {
  readonly name = 'needle-lookup';
  constructor(private readonly tokenizer: Tokenizer) {}

  /** The answer text for a prompt, or undefined when the prompt holds none. */
  answer(prompt: string): string | undefined {
    const question = /What is the special magic (number|uuid) for (\S+) mentioned in the provided text\?/g;
    let last: RegExpExecArray | null = null;
    for (let m = question.exec(prompt); m; m = question.exec(prompt)) last = m;
    if (last) {
      const needle = new RegExp(`special magic ${last[1]}s for ${escapeRegExp(last[2]!)} is: ([0-9a-fA-F-]+)\\.`);
      return needle.exec(prompt)?.[1];
    }
    if (prompt.trimEnd().endsWith('What is the pass key? The pass key is')) return /The pass key is (\d+)\. Remember it\./.exec(prompt)?.[1];
    return undefined;
  }

  async generate(prompt: Int32Array | number[], options: GenerateOptions): Promise<number[]> {
    const value = this.answer(this.tokenizer.decode(prompt));
    return truncateAtStop(this.tokenizer.encode(value === undefined ? ' I do not know.' : ` ${value}.`), options);
  }
}

/** Wraps a generative model so it only ever sees the last `windowTokens` prompt tokens. */
export class LastWindowModel implements GenerativeModel {
  readonly name: string;
  constructor(
    private readonly inner: GenerativeModel,
    readonly windowTokens: number,
  ) {
    if (!Number.isInteger(windowTokens) || windowTokens < 1) throw new RangeError(`LastWindowModel: windowTokens must be a positive integer, got ${windowTokens}`);
    this.name = `${inner.name}@last-${windowTokens}`;
  }

  generate(prompt: Int32Array | number[], options: GenerateOptions): Promise<number[]> {
    const start = Math.max(0, prompt.length - this.windowTokens);
    return this.inner.generate(prompt.slice(start), options);
  }
}

interface Gift {
  giver: string;
  object: string;
  receiver: string;
}

const MOVE = /^(?:moved to|went to|travelled to|journeyed to|went back to)$/;
const PICK = /^(?:picked up|got|grabbed|took)$/;
const DROP = /^(?:dropped|put down|discarded|left)$/;
const GIVE = /^(?:gave|handed|passed)$/;

/** Answers BABILong-style questions by replaying the facts found in the prompt. */
export class BabilongOracleModel implements GenerativeModel {
  readonly name = 'babilong-oracle';
  constructor(private readonly tokenizer: Tokenizer) {}

  /** The one-word answer for a prompt, or undefined when the facts do not say. */
  answer(prompt: string): string | undefined {
    const questionMatch = /Question: (.+\?)\s*Answer:\s*$/.exec(prompt);
    if (!questionMatch) return undefined;
    const question = questionMatch[1]!;
    const context = prompt.slice(0, questionMatch.index);
    const personRoom = new Map<string, string>();
    const holder = new Map<string, string>();
    const objectRoom = new Map<string, string>();
    const history = new Map<string, string[]>();
    const gifts: Gift[] = [];
    const note = (object: string, room: string): void => {
      const h = history.get(object) ?? [];
      if (h.at(-1) !== room) h.push(room);
      history.set(object, h);
    };
    const event = /\b([A-Z][a-z]+) (moved to|went to|travelled to|journeyed to|went back to|picked up|got|grabbed|took|dropped|put down|discarded|left|gave|handed|passed) the ([a-z]+)(?: to ([A-Z][a-z]+))?(?: there)?\./g;
    for (const m of context.matchAll(event)) {
      const [, person, verb, thing, receiver] = m as unknown as [string, string, string, string, string | undefined];
      if (MOVE.test(verb) && receiver === undefined) {
        personRoom.set(person, thing);
        for (const [object, who] of holder) if (who === person) note(object, thing);
      } else if (PICK.test(verb) && receiver === undefined) {
        holder.set(thing, person);
        objectRoom.delete(thing);
        const room = personRoom.get(person);
        if (room) note(thing, room);
      } else if (DROP.test(verb) && receiver === undefined) {
        holder.delete(thing);
        const room = personRoom.get(person);
        if (room) objectRoom.set(thing, room);
      } else if (GIVE.test(verb) && receiver !== undefined) {
        holder.set(thing, receiver);
        gifts.push({ giver: person, object: thing, receiver });
      }
    }
    let m: RegExpExecArray | null;
    if ((m = /^Where is the ([a-z]+)\?$/.exec(question))) {
      const who = holder.get(m[1]!);
      return who ? personRoom.get(who) : objectRoom.get(m[1]!);
    }
    if ((m = /^Where is ([A-Z][a-z]+)\?$/.exec(question))) return personRoom.get(m[1]!);
    if ((m = /^Where was the ([a-z]+) before the ([a-z]+)\?$/.exec(question))) {
      const h = history.get(m[1]!) ?? [];
      const at = h.lastIndexOf(m[2]!);
      return at > 0 ? h[at - 1] : undefined;
    }
    const relations = [...context.matchAll(/\bThe ([a-z]+) is (north|south|east|west) of the ([a-z]+)\./g)].map((r) => ({ a: r[1]!, direction: r[2]!, b: r[3]! }));
    if ((m = /^What is (north|south|east|west) of the ([a-z]+)\?$/.exec(question))) {
      const [direction, b] = [m[1]!, m[2]!];
      return relations.find((r) => r.direction === direction && r.b === b)?.a;
    }
    if ((m = /^What is the ([a-z]+) (north|south|east|west) of\?$/.exec(question))) {
      const [a, direction] = [m[1]!, m[2]!];
      return relations.find((r) => r.direction === direction && r.a === a)?.b;
    }
    if ((m = /^Who gave the ([a-z]+) to ([A-Z][a-z]+)\?$/.exec(question))) {
      const [object, receiver] = [m[1]!, m[2]!];
      return gifts.filter((g) => g.object === object && g.receiver === receiver).at(-1)?.giver;
    }
    if ((m = /^What did ([A-Z][a-z]+) give to ([A-Z][a-z]+)\?$/.exec(question))) {
      const [giver, receiver] = [m[1]!, m[2]!];
      return gifts.filter((g) => g.giver === giver && g.receiver === receiver).at(-1)?.object;
    }
    if ((m = /^Who did ([A-Z][a-z]+) give the ([a-z]+) to\?$/.exec(question))) {
      const [giver, object] = [m[1]!, m[2]!];
      return gifts.filter((g) => g.giver === giver && g.object === object).at(-1)?.receiver;
    }
    if ((m = /^Who received the ([a-z]+)\?$/.exec(question))) return gifts.filter((g) => g.object === m![1]).at(-1)?.receiver;
    return undefined;
  }

  async generate(prompt: Int32Array | number[], options: GenerateOptions): Promise<number[]> {
    const answer = this.answer(this.tokenizer.decode(prompt));
    return truncateAtStop(this.tokenizer.encode(answer === undefined ? ' I do not know.' : ` ${answer}.`), options);
  }
}

/**
 * MQAR by lookup: after a key whose value has been seen, predict that value. With
 * `capacity` it keeps only the most recent `capacity` pairs (a fixed-size memory), so it
 * fails once more pairs must be held.
 */
export class AssociativeRecallModel implements NextTokenModel {
  readonly name: string;
  constructor(
    private readonly options: { vocabSize: number; capacity?: number },
  ) {
    this.name = options.capacity === undefined ? 'kv-lookup' : `kv-lookup(${options.capacity})`;
  }

  async predictNext(tokens: Int32Array): Promise<Int32Array> {
    const half = Math.floor(this.options.vocabSize / 2);
    const capacity = this.options.capacity ?? Infinity;
    const memory = new Map<number, number>(); // insertion order = recency
    const out = new Int32Array(tokens.length);
    for (let i = 0; i < tokens.length; i++) {
      const token = tokens[i]!;
      if (token >= 1 && token < half) out[i] = memory.get(token) ?? 0;
      if (i > 0 && token >= half) {
        const key = tokens[i - 1]!;
        if (key >= 1 && key < half) {
          memory.delete(key);
          memory.set(key, token);
          if (memory.size > capacity) memory.delete(memory.keys().next().value!);
        }
      }
    }
    return out;
  }
}

/** Unigram (order 1) or bigram (order 2) model with add-alpha smoothing. */
export class NgramModel implements ScoringModel {
  readonly name: string;

  private constructor(
    readonly order: 1 | 2,
    readonly vocabSize: number,
    readonly alpha: number,
    private readonly unigram: Float64Array,
    private readonly bigram: Map<number, Map<number, number>>,
    private readonly contextTotals: Map<number, number>,
    private readonly total: number,
  ) {
    this.name = `${order === 1 ? 'unigram' : 'bigram'}(alpha=${alpha})`;
  }

  static fit(tokens: ArrayLike<number>, options: { order: 1 | 2; vocabSize: number; alpha?: number }): NgramModel {
    const { order, vocabSize } = options;
    const alpha = options.alpha ?? 1;
    if (!(alpha > 0)) throw new RangeError('NgramModel: alpha must be > 0');
    const unigram = new Float64Array(vocabSize);
    const bigram = new Map<number, Map<number, number>>();
    const contextTotals = new Map<number, number>();
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i]!;
      if (t < 0 || t >= vocabSize) throw new RangeError(`NgramModel: token ${t} outside vocabulary of ${vocabSize}`);
      unigram[t]!++;
      if (i > 0) {
        const prev = tokens[i - 1]!;
        let row = bigram.get(prev);
        if (!row) bigram.set(prev, (row = new Map()));
        row.set(t, (row.get(t) ?? 0) + 1);
        contextTotals.set(prev, (contextTotals.get(prev) ?? 0) + 1);
      }
    }
    return new NgramModel(order, vocabSize, alpha, unigram, bigram, contextTotals, tokens.length);
  }

  /** log p(next | previous) in nats. */
  logProb(previous: number, next: number): number {
    const { alpha, vocabSize } = this;
    if (this.order === 1) return Math.log((this.unigram[next]! + alpha) / (this.total + alpha * vocabSize));
    const count = this.bigram.get(previous)?.get(next) ?? 0;
    return Math.log((count + alpha) / ((this.contextTotals.get(previous) ?? 0) + alpha * vocabSize));
  }

  async logProbs(tokens: Int32Array): Promise<Float32Array> {
    const out = new Float32Array(Math.max(0, tokens.length - 1));
    for (let i = 0; i + 1 < tokens.length; i++) out[i] = this.logProb(tokens[i]!, tokens[i + 1]!);
    return out;
  }
}
