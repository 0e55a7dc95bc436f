import { describe, expect, it } from 'vitest';
import { checkBabilongAnswer, checkNiahAnswer, firstSentence } from '../src/index.ts';

describe('checkNiahAnswer', () => {
  const number = '4831902';
  const uuid = '3f2a9c1e-8b4d-4e6f-9a0b-1c2d3e4f5a6b';

  it('accepts the value anywhere in the continuation', () => {
    expect(checkNiahAnswer(' 4831902.', number)).toBe(true);
    expect(checkNiahAnswer(' The special magic number is 4831902, as stated.', number)).toBe(true);
    expect(checkNiahAnswer(' 4,831,902.', number)).toBe(true);
    expect(checkNiahAnswer(` ${uuid.toUpperCase()}.`, uuid)).toBe(true);
    expect(checkNiahAnswer(`"${uuid}"`, uuid)).toBe(true);
  });

  it('rejects near misses', () => {
    expect(checkNiahAnswer(' 4831912.', number)).toBe(false); // one digit changed
    expect(checkNiahAnswer(' 483190.', number)).toBe(false); // prefix
    expect(checkNiahAnswer(' 48319020.', number)).toBe(false); // value with an extra digit
    expect(checkNiahAnswer(' 14831902', number)).toBe(false);
    expect(checkNiahAnswer(` ${uuid.slice(0, -1)}c`, uuid)).toBe(false); // one char changed
    expect(checkNiahAnswer(` ${uuid.slice(0, 23)}`, uuid)).toBe(false); // prefix
    expect(checkNiahAnswer(` ${uuid}-0`, uuid)).toBe(false);
    expect(checkNiahAnswer('', number)).toBe(false);
  });
});

describe('checkBabilongAnswer', () => {
  const rooms = ['bathroom', 'bedroom', 'garden', 'hallway', 'kitchen', 'office'];

  it('takes the first sentence only', () => {
    expect(firstSentence('  kitchen. Then the garden.')).toBe('kitchen.');
    expect(firstSentence(' kitchen\nmore')).toBe('kitchen');
  });

  it('needs the target and no other label in the first sentence', () => {
    expect(checkBabilongAnswer(' kitchen.', 'kitchen', rooms)).toBe(true);
    expect(checkBabilongAnswer(' The football is in the Kitchen. The garden is nice.', 'kitchen', rooms)).toBe(true);
    expect(checkBabilongAnswer(' kitchen or garden.', 'kitchen', rooms)).toBe(false);
    expect(checkBabilongAnswer(' garden.', 'kitchen', rooms)).toBe(false);
    expect(checkBabilongAnswer(' kitchens.', 'kitchen', rooms)).toBe(false);
    expect(checkBabilongAnswer(' I do not know. kitchen', 'kitchen', rooms)).toBe(false);
  });
});
