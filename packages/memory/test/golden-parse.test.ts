// A malformed golden file of either spec is refused with an error naming the file and the
// field at fault; the shipped files parse (golden.test.ts and omega-golden.test.ts run them).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAnyGoldenCase, parseGoldenCase, parseOmegaGoldenCase } from '../src/index.js';

type Json = Record<string, unknown>;
const load = (path: string): Json => JSON.parse(readFileSync(fileURLToPath(new URL(`../golden/${path}`, import.meta.url)), 'utf8')) as Json;
// Small cases with outer gradients: linear, MLP, and Omega with the polynomial feature map and Muon.
const titansLinear = load('neural-memory/linear-T16-b4-s1.json');
const omegaMlp = load('omega-memory/mlp2-c3-poly2-muon5-T12-b4-s2.json');
const omegaLinear = load('omega-memory/linear-c1-id-mom-T12-b4-s2.json');

/** A deep copy with `edit` applied. */
const edited = (c: Json, edit: (c: Json) => void): Json => {
  const copy = structuredClone(c);
  edit(copy);
  return copy;
};
const obj = (c: Json, key: string): Json => c[key] as Json;

describe('golden file parsing: clear errors', () => {
  it('the unedited files parse, with either parser that fits and with parseAnyGoldenCase', () => {
    expect(parseGoldenCase(titansLinear).spec).toBe('neural-memory/v1');
    expect(parseOmegaGoldenCase(omegaMlp).spec).toBe('omega-memory/v1');
    expect(parseAnyGoldenCase(omegaLinear).spec).toBe('omega-memory/v1');
    expect(parseAnyGoldenCase(titansLinear).spec).toBe('neural-memory/v1');
  });

  const titans: [string, Json | unknown, RegExp][] = [
    ['not an object', [1, 2], /f\.json: not a JSON object/],
    ['another spec', { ...titansLinear, spec: 'neural-memory/v2' }, /f\.json: unsupported spec "neural-memory\/v2" \(expected "neural-memory\/v1"\)/],
    ['an unknown memory kind', { ...titansLinear, memory: 'mlp3' }, /unknown memory kind "mlp3"/],
    ['an unknown activation', { ...titansLinear, activation: 'relu' }, /unknown activation "relu"/],
    ['a zero chunk', { ...titansLinear, chunk: 0 }, /field 'chunk' must be a positive integer/],
    ['an MLP without hidden', { ...titansLinear, memory: 'mlp2', hidden: null }, /field 'hidden' must be a positive integer for an MLP memory/],
    ['missing inputs', { ...titansLinear, inputs: undefined }, /missing inputs/],
    ['a short key row', edited(titansLinear, (c) => { (obj(c, 'inputs').k as number[][])[3]!.pop(); }), /inputs\.k must be a 16 x \d+ matrix of finite numbers/],
    ['a string in eta', edited(titansLinear, (c) => { (obj(c, 'inputs').eta as unknown[])[0] = 'x'; }), /inputs\.eta must be 16 finite numbers/],
    ['a missing initial weight', edited(titansLinear, (c) => { delete obj(c, 'init').W; }), /init\.W must be a \d+ x \d+ matrix/],
    ['missing outputs', { ...titansLinear, outputs: null }, /missing outputs/],
    ['a short loss', edited(titansLinear, (c) => { (obj(c, 'outputs').loss as number[]).pop(); }), /outputs\.loss must be 16 finite numbers/],
    ['missing final momentum', edited(titansLinear, (c) => { delete obj(c, 'outputs').final_momentum; }), /missing outputs\.final_momentum/],
    ['an unknown gradient', edited(titansLinear, (c) => { obj(obj(c, 'outer'), 'grads').gamma = [1]; }), /unknown gradient outer\.grads\.gamma/],
    ['a wrong gradient shape', edited(titansLinear, (c) => { obj(obj(c, 'outer'), 'grads').theta = [1]; }), /outer\.grads\.theta must be 16 finite numbers/],
  ];
  for (const [what, json, message] of titans) {
    it(`neural-memory/v1: ${what}`, () => {
      expect(() => parseGoldenCase(json, 'f.json')).toThrow(message);
    });
  }

  const omega: [string, Json | unknown, RegExp][] = [
    ['not an object', null, /f\.json: not a JSON object/],
    ['the Titans spec', titansLinear, /unsupported spec "neural-memory\/v1" \(expected "omega-memory\/v1"\)/],
    ['an unknown memory kind', { ...omegaMlp, memory: 'mlp2_residual' }, /unknown memory kind "mlp2_residual" \(expected "linear" or "mlp2"\)/],
    ['a zero window', { ...omegaMlp, window: 0 }, /field 'window' must be a positive integer/],
    ['an unknown feature map', { ...omegaMlp, feature: { kind: 'poly', degree: 0 } }, /field 'feature' must be/],
    ['an unknown optimizer', { ...omegaMlp, optimizer: { kind: 'adam' } }, /field 'optimizer' must be/],
    ['weights of the key width, not the feature width', edited(omegaMlp, (c) => {
      obj(c, 'init').W1 = (obj(c, 'init').W1 as number[][]).map((row) => row.slice(0, 3));
    }), /init\.W1 must be a \d+ x 13 matrix/],
    ['a missing gamma', edited(omegaMlp, (c) => { delete obj(c, 'inputs').gamma; }), /inputs\.gamma must be a 12 x \d+ matrix/],
    ['missing coefficients with the polynomial map', edited(omegaMlp, (c) => { delete obj(c, 'inputs').coef; }), /inputs\.coef must be 3 finite numbers/],
    ['missing step sizes with Muon', edited(omegaMlp, (c) => { delete obj(c, 'inputs').lr; }), /inputs\.lr must be 12 finite numbers/],
    ['a coefficient gradient without the polynomial map', edited(omegaLinear, (c) => { obj(obj(c, 'outer'), 'grads').coef = [1, 2, 3]; }), /unknown gradient outer\.grads\.coef/],
    ['a wrong gamma gradient', edited(omegaMlp, (c) => { obj(obj(c, 'outer'), 'grads').gamma = [[1]]; }), /outer\.grads\.gamma must be a 12 x \d+ matrix/],
    ['a short y_post', edited(omegaMlp, (c) => { (obj(c, 'outputs').y_post as number[][]).pop(); }), /outputs\.y_post must be a 12 x 3 matrix/],
  ];
  for (const [what, json, message] of omega) {
    it(`omega-memory/v1: ${what}`, () => {
      expect(() => parseOmegaGoldenCase(json, 'f.json')).toThrow(message);
    });
  }

  it('parseAnyGoldenCase names both specs when the spec is neither', () => {
    expect(() => parseAnyGoldenCase({ spec: 'x' }, 'f.json')).toThrow('f.json: unsupported spec "x" (expected "neural-memory/v1" or "omega-memory/v1")');
  });
});
