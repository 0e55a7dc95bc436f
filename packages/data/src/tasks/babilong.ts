// BABILong-style reasoning: bAbI-like facts (qa1-qa5) written by a small world simulator,
// inserted in order at random sentence boundaries of a long natural-text background, with
// the question at the end. The fact generators are our own, following the bAbI task
// definitions: qa1 single supporting fact, qa2 two, qa3 three, qa4 two-argument relations,
// qa5 three-argument relations.

import { deriveSeed, SeededRandom } from '../random.ts';
import type { Tokenizer } from '../tokenizers/tokenizer.ts';
import { fitCount, LongContext, type ChunkOptions, type TextChunk } from './long-context.ts';
import { haystackSource, type HaystackName } from './sentence-source.ts';

export type BabilongTask = 'qa1' | 'qa2' | 'qa3' | 'qa4' | 'qa5';
export const babilongTasks: readonly BabilongTask[] = ['qa1', 'qa2', 'qa3', 'qa4', 'qa5'];

export const ROOMS: readonly string[] = ['bathroom', 'bedroom', 'garden', 'hallway', 'kitchen', 'office'];
const QA123_PEOPLE: readonly string[] = ['Mary', 'John', 'Sandra', 'Daniel'];
const QA5_PEOPLE: readonly string[] = ['Fred', 'Bill', 'Jeff', 'Mary'];
const OBJECTS: readonly string[] = ['football', 'apple', 'milk'];
const MOVE_VERBS: readonly string[] = ['moved to', 'went to', 'travelled to', 'journeyed to', 'went back to'];
const PICK_VERBS: readonly string[] = ['picked up', 'got', 'grabbed', 'took'];
const DROP_VERBS: readonly string[] = ['dropped', 'put down', 'discarded', 'left'];
const GIVE_VERBS: readonly string[] = ['gave', 'handed', 'passed'];
const DIRECTIONS: readonly string[] = ['north', 'south', 'east', 'west'];

/** Answer labels a model may name: rooms for qa1-qa4, people and objects for qa5. */
export function babilongLabels(task: BabilongTask): readonly string[] {
  return task === 'qa5' ? [...QA5_PEOPLE, ...OBJECTS] : ROOMS;
}

export interface BabilongFacts {
  readonly facts: readonly string[];
  readonly question: string;
  readonly target: string;
}

/** Tries a simulation until it produces an answerable question (bounded, deterministic). */
function retry(random: SeededRandom, attempt: (random: SeededRandom) => BabilongFacts | undefined): BabilongFacts {
  for (let i = 0; i < 1000; i++) {
    const result = attempt(random);
    if (result) return result;
  }
  throw new Error('babilong: could not generate an answerable question');
}

function qa1(random: SeededRandom, count: number): BabilongFacts {
  return retry(random, (r) => {
    const where = new Map<string, string>();
    const facts: string[] = [];
    for (let i = 0; i < count; i++) {
      const person = r.pick(QA123_PEOPLE);
      const room = r.pick(ROOMS);
      where.set(person, room);
      facts.push(`${person} ${r.pick(MOVE_VERBS)} the ${room}.`);
    }
    const person = r.pick([...where.keys()]);
    return { facts, question: `Where is ${person}?`, target: where.get(person)! };
  });
}

interface Qa23World {
  facts: string[];
  /** Room of each person who has moved. */
  personRoom: Map<string, string>;
  /** Holder of each held object. */
  holder: Map<string, string>;
  /** Room where each dropped object lies. */
  objectRoom: Map<string, string>;
  /** Distinct consecutive rooms each object has been in. */
  history: Map<string, string[]>;
}

/** Simulates people moving and carrying objects (qa2, qa3). */
function simulateCarrying(random: SeededRandom, count: number): Qa23World {
  const w: Qa23World = { facts: [], personRoom: new Map(), holder: new Map(), objectRoom: new Map(), history: new Map() };
  const noteObjectRoom = (object: string, room: string): void => {
    const h = w.history.get(object) ?? [];
    if (h[h.length - 1] !== room) h.push(room);
    w.history.set(object, h);
  };
  while (w.facts.length < count) {
    const person = random.pick(QA123_PEOPLE);
    const room = w.personRoom.get(person);
    const held = OBJECTS.filter((o) => w.holder.get(o) === person);
    const action = random.int(0, 10);
    if (action < 5 || room === undefined) {
      const to = random.pick(ROOMS.filter((r) => r !== room));
      w.personRoom.set(person, to);
      w.facts.push(`${person} ${random.pick(MOVE_VERBS)} the ${to}.`);
      for (const o of held) noteObjectRoom(o, to);
    } else if (action < 8) {
      const free = OBJECTS.filter((o) => !w.holder.has(o) && (w.objectRoom.get(o) ?? room) === room);
      if (free.length === 0) continue;
      const object = random.pick(free);
      w.holder.set(object, person);
      w.objectRoom.delete(object);
      noteObjectRoom(object, room);
      w.facts.push(`${person} ${random.pick(PICK_VERBS)} the ${object}${random.int(0, 2) === 0 ? ' there' : ''}.`);
    } else {
      if (held.length === 0) continue;
      const object = random.pick(held);
      w.holder.delete(object);
      w.objectRoom.set(object, room);
      w.facts.push(`${person} ${random.pick(DROP_VERBS)} the ${object}.`);
    }
  }
  return w;
}

function qa2(random: SeededRandom, count: number): BabilongFacts {
  return retry(random, (r) => {
    const w = simulateCarrying(r, count);
    // Two supporting facts: the object is carried, and its carrier moved after taking it.
    const carried = OBJECTS.filter((o) => w.holder.has(o) && (w.history.get(o)?.length ?? 0) >= 2);
    if (carried.length === 0) return undefined;
    const object = r.pick(carried);
    return { facts: w.facts, question: `Where is the ${object}?`, target: w.personRoom.get(w.holder.get(object)!)! };
  });
}

function qa3(random: SeededRandom, count: number): BabilongFacts {
  return retry(random, (r) => {
    const w = simulateCarrying(r, count);
    // Asked about the room before the last one the object reached; that room must occur
    // only once in the object's history so "before the X" is unambiguous.
    const candidates = OBJECTS.filter((o) => {
      const h = w.history.get(o) ?? [];
      return h.length >= 2 && h.indexOf(h[h.length - 1]!) === h.length - 1;
    });
    if (candidates.length === 0) return undefined;
    const object = r.pick(candidates);
    const h = w.history.get(object)!;
    return { facts: w.facts, question: `Where was the ${object} before the ${h[h.length - 1]}?`, target: h[h.length - 2]! };
  });
}

function qa4(random: SeededRandom): BabilongFacts {
  // Two stated relations around one room; ask about one of them, either way round.
  const [a, b, c] = random.sampleDistinct(0, ROOMS.length, 3).map((i) => ROOMS[i]!);
  const [d1, d2] = random.sampleDistinct(0, DIRECTIONS.length, 2).map((i) => DIRECTIONS[i]!);
  const facts = [`The ${a} is ${d1} of the ${b}.`, `The ${c} is ${d2} of the ${b}.`];
  if (random.int(0, 2) === 0) random.shuffle<string, string[]>(facts);
  const askFirst = random.int(0, 2) === 0;
  const [x, d] = askFirst ? [a, d1] : [c, d2];
  if (random.int(0, 2) === 0) return { facts, question: `What is ${d} of the ${b}?`, target: x };
  return { facts, question: `What is the ${x} ${d} of?`, target: b };
}

function qa5(random: SeededRandom, count: number): BabilongFacts {
  return retry(random, (r) => {
    const holder = new Map<string, string>();
    const facts: string[] = [];
    const gifts: { giver: string; object: string; receiver: string }[] = [];
    while (facts.length < count) {
      const action = r.int(0, 10);
      const person = r.pick(QA5_PEOPLE);
      const held = OBJECTS.filter((o) => holder.get(o) === person);
      if (action < 3) {
        const free = OBJECTS.filter((o) => !holder.has(o));
        if (free.length === 0) continue;
        const object = r.pick(free);
        holder.set(object, person);
        facts.push(`${person} ${r.pick(PICK_VERBS)} the ${object} there.`);
      } else if (action < 8) {
        if (held.length === 0) continue;
        const object = r.pick(held);
        const receiver = r.pick(QA5_PEOPLE.filter((p) => p !== person));
        holder.set(object, receiver);
        gifts.push({ giver: person, object, receiver });
        facts.push(`${person} ${r.pick(GIVE_VERBS)} the ${object} to ${receiver}.`);
      } else {
        facts.push(`${person} ${r.pick(MOVE_VERBS)} the ${r.pick(ROOMS)}.`);
      }
    }
    if (gifts.length === 0) return undefined;
    const gift = gifts[r.int(0, gifts.length)]!;
    const unique = (match: (g: (typeof gifts)[number]) => boolean): boolean => gifts.filter(match).length === 1;
    const forms: BabilongFacts[] = [];
    if (unique((g) => g.object === gift.object && g.receiver === gift.receiver)) {
      forms.push({ facts, question: `Who gave the ${gift.object} to ${gift.receiver}?`, target: gift.giver });
    }
    if (unique((g) => g.giver === gift.giver && g.receiver === gift.receiver)) {
      forms.push({ facts, question: `What did ${gift.giver} give to ${gift.receiver}?`, target: gift.object });
    }
    if (unique((g) => g.giver === gift.giver && g.object === gift.object)) {
      forms.push({ facts, question: `Who did ${gift.giver} give the ${gift.object} to?`, target: gift.receiver });
    }
    const lastOfObject = gifts.filter((g) => g.object === gift.object).pop()!;
    if (lastOfObject === gift) forms.push({ facts, question: `Who received the ${gift.object}?`, target: gift.receiver });
    return forms.length === 0 ? undefined : r.pick(forms);
  });
}

/** Default number of facts per task (qa4 always has two). */
export const babilongDefaultFacts: Readonly<Record<BabilongTask, number>> = { qa1: 6, qa2: 10, qa3: 12, qa4: 2, qa5: 8 };

/** The facts, question and answer of one bAbI-like story, without background. */
export function generateBabilongFacts(task: BabilongTask, seed: number, numFacts?: number): BabilongFacts {
  const random = new SeededRandom(deriveSeed(seed, 'babilong-facts', task));
  const count = numFacts ?? babilongDefaultFacts[task];
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`generateBabilongFacts: numFacts must be a positive integer, got ${count}`);
  switch (task) {
    case 'qa1':
      return qa1(random, count);
    case 'qa2':
      return qa2(random, Math.max(count, 3));
    case 'qa3':
      return qa3(random, Math.max(count, 3));
    case 'qa4':
      return qa4(random);
    case 'qa5':
      return qa5(random, Math.max(count, 2));
    default:
      throw new Error(`generateBabilongFacts: unknown task '${String(task)}' (known: ${babilongTasks.join(', ')})`);
  }
}

export interface BabilongOptions {
  task: BabilongTask;
  tokenizer: Tokenizer;
  /** Target prompt length in tokens; 0 (or anything below the facts' own length) = no background. */
  length: number;
  seed: number;
  numFacts?: number;
  /** Background text (default 'moby-dick'). */
  background?: Exclude<HaystackName, 'repeat'>;
}

export interface BabilongSample {
  readonly task: BabilongTask;
  readonly facts: readonly string[];
  readonly question: string;
  readonly target: string;
  readonly labels: readonly string[];
  readonly targetLength: number;
  readonly length: number;
  readonly backgroundSentences: number;
  readonly backgroundTokens: number;
  /** Token offset of each fact in the prompt. */
  readonly factTokenOffsets: readonly number[];
  chunks(options?: ChunkOptions): Generator<TextChunk>;
  text(): string;
  tokens(): Int32Array;
}

export const BABILONG_INSTRUCTION =
  'The following text hides some facts about people, objects and places. Read it, then answer the question with a single word, using only those facts.';

export function generateBabilongSample(options: BabilongOptions): BabilongSample {
  const { task, tokenizer, length: targetLength, seed } = options;
  const story = generateBabilongFacts(task, deriveSeed(seed, targetLength), options.numFacts);
  const random = new SeededRandom(deriveSeed(seed, 'babilong-layout', task, targetLength));
  const source = haystackSource(options.background ?? 'moby-dick');
  const start = random.int(0, source.size);
  // Fact positions as fractions of the background, sorted so facts keep their order.
  const fractions = story.facts.map(() => random.next()).sort((x, y) => x - y);
  const header = `${BABILONG_INSTRUCTION}\n`;
  const footer = `\nQuestion: ${story.question}\nAnswer:`;
  const build = (sentences: number): LongContext =>
    new LongContext({
      tokenizer,
      source,
      header,
      footer,
      start,
      sentences,
      insertions: story.facts.map((text, i) => ({ position: Math.floor(fractions[i]! * (sentences + 1)), text })),
    });
  const sentences = Math.max(0, fitCount(targetLength, (n) => build(n).length));
  const context = build(sentences);
  return {
    task,
    facts: story.facts,
    question: story.question,
    target: story.target,
    labels: babilongLabels(task),
    targetLength,
    length: context.length,
    backgroundSentences: sentences,
    backgroundTokens: context.backgroundTokens,
    factTokenOffsets: context.insertionOffsets,
    chunks: (o?: ChunkOptions) => context.chunks(o),
    text: () => context.text(),
    tokens: () => context.tokens(),
  };
}
