import { describe, expect, it } from 'vitest';
import { babilongLabels, babilongTasks, ByteTokenizer, generateBabilongFacts, generateBabilongSample, Gpt2Tokenizer, ROOMS } from '../src/index.ts';

const gpt2 = await Gpt2Tokenizer.load();
const byte = new ByteTokenizer();

describe('BABILong-style facts', () => {
  it('answers qa1 with the last room the person moved to', () => {
    for (let seed = 0; seed < 50; seed++) {
      const story = generateBabilongFacts('qa1', seed);
      const person = /^Where is (\w+)\?$/.exec(story.question)![1]!;
      const moves = story.facts.filter((f) => f.startsWith(`${person} `));
      expect(moves.at(-1)).toMatch(new RegExp(` the ${story.target}\\.$`));
    }
  });

  it('answers qa4 from a stated relation', () => {
    for (let seed = 0; seed < 50; seed++) {
      const { facts, question, target } = generateBabilongFacts('qa4', seed);
      const toward = /^What is (\w+) of the (\w+)\?$/.exec(question);
      const from = /^What is the (\w+) (\w+) of\?$/.exec(question);
      if (toward) expect(facts).toContain(`The ${target} is ${toward[1]} of the ${toward[2]}.`);
      else expect(facts).toContain(`The ${from![1]} is ${from![2]} of the ${target}.`);
    }
  });

  it('always has a target among the task labels', () => {
    for (const task of babilongTasks) {
      for (let seed = 0; seed < 30; seed++) {
        const story = generateBabilongFacts(task, seed);
        expect(babilongLabels(task)).toContain(story.target);
        expect(story.question.endsWith('?')).toBe(true);
      }
    }
    expect(babilongLabels('qa1')).toEqual(ROOMS);
    expect(babilongLabels('qa5')).toContain('football');
    expect(babilongLabels('qa5')).toContain('Fred');
  });
});

describe('BABILong-style samples', () => {
  for (const task of babilongTasks) {
    it(`${task}: facts in order inside background, question at the end`, () => {
      const sample = generateBabilongSample({ task, tokenizer: gpt2, length: 2000, seed: 4 });
      const text = sample.text();
      expect(sample.length).toBeLessThanOrEqual(2000);
      expect(sample.length).toBeGreaterThan(1750);
      expect(sample.backgroundTokens).toBeGreaterThan(1300);
      let at = 0;
      for (const fact of sample.facts) {
        const next = text.indexOf(fact, at);
        expect(next).toBeGreaterThanOrEqual(at);
        at = next + fact.length;
      }
      expect(text.endsWith(`\nQuestion: ${sample.question}\nAnswer:`)).toBe(true);
      const tokens = sample.tokens();
      expect(gpt2.encode(text)).toEqual(Array.from(tokens));
      sample.facts.forEach((fact, i) => {
        const offset = sample.factTokenOffsets[i]!;
        expect(gpt2.decode(tokens.subarray(offset, offset + gpt2.encode(' ' + fact).length)).trim()).toBe(fact);
      });
    });
  }

  it('has no background at length 0 and is deterministic', () => {
    const bare = generateBabilongSample({ task: 'qa2', tokenizer: byte, length: 0, seed: 1 });
    expect(bare.backgroundSentences).toBe(0);
    expect(bare.text()).toContain(bare.facts.join(' '));
    const again = generateBabilongSample({ task: 'qa2', tokenizer: byte, length: 0, seed: 1 });
    expect(again.text()).toBe(bare.text());
  });

  it('reaches 128K tokens with the facts spread through the background', () => {
    const sample = generateBabilongSample({ task: 'qa1', tokenizer: byte, length: 131072, seed: 8 });
    expect(sample.length).toBeGreaterThan(131072 - 700);
    const first = sample.factTokenOffsets[0]!;
    const last = sample.factTokenOffsets.at(-1)!;
    expect(last - first).toBeGreaterThan(131072 / 4);
    let count = 0;
    for (const chunk of sample.chunks()) count += chunk.tokens.length;
    expect(count).toBe(sample.length);
  });
});
